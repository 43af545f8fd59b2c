// membership/metrics.h — the gossip member's counters as text: Prometheus
// families (herd_membership_*, appended to /metrics) and the `show
// membership` reply of the runtime API. Both render an Agent::Snapshot.
//
// Thread rules: pure functions on values; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "membership/agent.h"

namespace herd::membership {

// Prometheus text exposition (HELP and TYPE for each family):
//   herd_membership_members{state="alive|suspect|leaving|failed|left"} gauge
//   herd_membership_packets_total{direction="in|out"} counter (UDP)
//   herd_membership_packets_dropped_total{reason="bad|unauthenticated"} counter
//   herd_membership_streams_total{direction="in|out"} counter (TCP)
//   herd_membership_streams_dropped_total counter
//   herd_membership_serf_messages_dropped_total counter
//   herd_membership_probes_total, _indirect_probes_total, _suspicions_total,
//   _suspects_total, _deaths_declared_total, _refutations_total,
//   _gossip_packets_total, _push_pulls_total, _reconnects_total,
//   _reaped_total counters; herd_membership_health_score gauge.
std::string render_prometheus(const Agent::Snapshot& s);

// `show membership`: one "Name: value" line per counter, like `show info`.
std::string render_show_membership(const Agent::Snapshot& s);

// (name, value) pairs in the order `show membership` and the stats page
// print them.
std::vector<std::pair<std::string, uint64_t>> snapshot_fields(const Agent::Snapshot& s);

}  // namespace herd::membership
