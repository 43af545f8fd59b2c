// stats/state_dump.h — the server states HAProxy writes on SIGHUP.
//
// `kill -HUP <pid>` makes HAProxy print, as WARNING lines, one line per
// server ("SIGHUP: Server b/s is UP. Conn: 0 act, 0 pend, 3 tot.") and one
// per proxy (active/backup servers, connections, queue, totals). herd prints
// the same lines from the same counters as the stats CSV (collect_rows), so
// an operator can see the live, gossip-driven pool from the process log.
//
// Thread rules: any thread that may read the Sources (the control thread).
#pragma once

#include <string>
#include <vector>

#include "stats/csv.h"

namespace herd::stats {

// The lines after "SIGHUP received, dumping servers states.", without the
// "[WARNING]  (pid) : " prefix, proxies in config (iid) order.
std::vector<std::string> sighup_state_lines(const Sources& src);

}  // namespace herd::stats
