// membership/metrics.cpp — see metrics.h.
#include "membership/metrics.h"

namespace herd::membership {

namespace {

struct Family {
  const char* name;
  const char* help;
  bool counter;
};

void family(std::string& out, const Family& f) {
  out += std::string("# HELP ") + f.name + " " + f.help + "\n";
  out += std::string("# TYPE ") + f.name + (f.counter ? " counter\n" : " gauge\n");
}

void sample(std::string& out, const char* name, const std::string& labels, uint64_t v) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " " + std::to_string(v) + "\n";
}

}  // namespace

std::string render_prometheus(const Agent::Snapshot& s) {
  std::string out;
  family(out, {"herd_membership_members", "Gossip members (ourselves included) by state.", false});
  for (const auto& [state, n] : s.members)
    sample(out, "herd_membership_members", "state=\"" + state + "\"", n);
  family(out, {"herd_membership_packets_total", "Gossip UDP packets received and sent.", true});
  sample(out, "herd_membership_packets_total", "direction=\"in\"", s.agent.udp_in);
  sample(out, "herd_membership_packets_total", "direction=\"out\"", s.agent.udp_out);
  family(out, {"herd_membership_packets_dropped_total",
               "Gossip UDP packets dropped: undecodable (bad) or failing decryption "
               "(unauthenticated).",
               true});
  sample(out, "herd_membership_packets_dropped_total", "reason=\"bad\"", s.agent.udp_bad);
  sample(out, "herd_membership_packets_dropped_total", "reason=\"unauthenticated\"",
         s.agent.udp_unauth);
  family(out, {"herd_membership_streams_total",
               "Gossip TCP streams accepted (in) and opened (out).", true});
  sample(out, "herd_membership_streams_total", "direction=\"in\"", s.agent.tcp_in);
  sample(out, "herd_membership_streams_total", "direction=\"out\"", s.agent.tcp_out);
  const struct {
    Family f;
    uint64_t v;
  } plain[] = {
      {{"herd_membership_streams_dropped_total",
        "Gossip TCP streams dropped: undecodable, unauthenticated or timed out.", true},
       s.agent.tcp_bad},
      {{"herd_membership_serf_messages_dropped_total", "Undecodable Serf messages dropped.", true},
       s.agent.serf_bad},
      {{"herd_membership_push_pulls_total", "Completed TCP push/pull state exchanges.", true},
       s.agent.push_pulls},
      {{"herd_membership_probes_total", "SWIM direct probes (pings) sent.", true}, s.swim.probes},
      {{"herd_membership_indirect_probes_total", "SWIM indirect ping requests sent to peers.",
        true},
       s.swim.indirect_probes},
      {{"herd_membership_suspicions_total", "Suspicions raised by this member's failed probes.",
        true},
       s.swim.suspicions},
      {{"herd_membership_suspects_total", "Members that entered the suspect state here.", true},
       s.swim.suspects_seen},
      {{"herd_membership_deaths_declared_total",
        "Suspicions that timed out here and declared a member dead.", true},
       s.swim.deaths_declared},
      {{"herd_membership_refutations_total",
        "Suspicions about this member refuted with a higher incarnation.", true},
       s.swim.refutations},
      {{"herd_membership_gossip_packets_total", "Gossip (broadcast) datagrams sent.", true},
       s.swim.gossip_packets},
      {{"herd_membership_tcp_fallback_pings_total",
        "TCP pings sent after a direct UDP probe timed out.", true},
       s.swim.tcp_fallback_pings},
      {{"herd_membership_tcp_fallback_acks_total",
        "TCP fallback pings acknowledged (the probe succeeded over TCP).", true},
       s.swim.tcp_fallback_acks},
      {{"herd_membership_invalid_members_dropped_total",
        "Alive messages and push/pull entries dropped for an empty name, an invalid address or "
        "port 0.",
        true},
       s.swim.invalid_members},
      {{"herd_membership_queries_received_total",
        "Serf queries accepted (first sight; duplicates and old ones are not counted).", true},
       s.queries.received},
      {{"herd_membership_query_acks_sent_total", "Acks sent for queries that asked for one.", true},
       s.queries.acks_sent},
      {{"herd_membership_query_responses_sent_total",
        "Query responses sent (internal queries, handlers, RPC respond).", true},
       s.queries.responses_sent},
      {{"herd_membership_query_relays_total", "Relay messages forwarded for other members.", true},
       s.queries.relayed},
      {{"herd_membership_reconnects_total", "Reconnect attempts to failed members.", true},
       s.agent.reconnects},
      {{"herd_membership_reaped_total",
        "Failed or left members forgotten after reconnect_timeout / tombstone_timeout.", true},
       s.agent.reaped},
      {{"herd_membership_health_score", "Lifeguard local health (awareness) score, 0 when healthy.",
        false},
       static_cast<uint64_t>(s.health_score)},
  };
  for (const auto& p : plain) {
    family(out, p.f);
    sample(out, p.f.name, "", p.v);
  }
  return out;
}

std::vector<std::pair<std::string, uint64_t>> snapshot_fields(const Agent::Snapshot& s) {
  std::vector<std::pair<std::string, uint64_t>> f;
  for (const char* st : {"alive", "suspect", "leaving", "failed", "left"}) {
    auto it = s.members.find(st);
    f.emplace_back(std::string("Members_") + st, it == s.members.end() ? 0 : it->second);
  }
  f.insert(f.end(), {{"Packets_in", s.agent.udp_in},
                     {"Packets_out", s.agent.udp_out},
                     {"Packets_dropped_bad", s.agent.udp_bad},
                     {"Packets_dropped_unauthenticated", s.agent.udp_unauth},
                     {"Streams_in", s.agent.tcp_in},
                     {"Streams_out", s.agent.tcp_out},
                     {"Streams_dropped", s.agent.tcp_bad},
                     {"Serf_messages_dropped", s.agent.serf_bad},
                     {"Push_pulls", s.agent.push_pulls},
                     {"Probes", s.swim.probes},
                     {"Indirect_probes", s.swim.indirect_probes},
                     {"Suspicions", s.swim.suspicions},
                     {"Suspects_seen", s.swim.suspects_seen},
                     {"Deaths_declared", s.swim.deaths_declared},
                     {"Refutations", s.swim.refutations},
                     {"Gossip_packets", s.swim.gossip_packets},
                     {"Tcp_fallback_pings", s.swim.tcp_fallback_pings},
                     {"Tcp_fallback_acks", s.swim.tcp_fallback_acks},
                     {"Invalid_members_dropped", s.swim.invalid_members},
                     {"Queries_received", s.queries.received},
                     {"Query_acks_sent", s.queries.acks_sent},
                     {"Query_responses_sent", s.queries.responses_sent},
                     {"Query_relays", s.queries.relayed},
                     {"Reconnects", s.agent.reconnects},
                     {"Reaped", s.agent.reaped},
                     {"Health_score", static_cast<uint64_t>(s.health_score)}});
  return f;
}

std::string render_show_membership(const Agent::Snapshot& s) {
  std::string out = "Node: " + s.node + "\n";
  out += std::string("Encrypted: ") + (s.encrypted ? "1" : "0") + "\n";
  for (const auto& [k, v] : snapshot_fields(s)) out += k + ": " + std::to_string(v) + "\n";
  return out;
}

}  // namespace herd::membership
