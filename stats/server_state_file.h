// stats/server_state_file.h — HAProxy 2.6's `server-state-file` semantics:
// at start-up, the backends with `load-server-state-from-file global|local`
// take back the server states that `show servers state` wrote (format 1,
// stats/csv.h render_servers_state()) before a reload or a restart.
//
// Files: `global` reads the global `server-state-file`, `local` the
// backend's `server-state-file-name` (its name when unset); a relative path
// is taken under `server-state-base` when set. A file whose first line is
// not the version `1`, or with a line of fewer than 20 fields, is ignored
// whole, with HAProxy's warning; so is a file that cannot be opened.
//
// Per server (backend and server matched by name), as haproxy 2.6's
// srv_state_srv_update() with what herd models:
//   * admin state: forced MAINT comes back unless the configuration changed
//     the server's `disabled`; forced DRAIN comes back unless the server is
//     in MAINT, or its configured weight went from 0 to more;
//   * operational state: DOWN comes back on a server with health checks
//     (it stays down until a check succeeds), UP/STARTING/STOPPING too;
//   * weight: the runtime weight comes back when the configured weight
//     did not change;
//   * health checks disabled at runtime stay disabled; the check port and
//     address come back on a server whose checks are enabled (else
//     "server-state partially applied ..." is warned);
//   * the port comes back; the address only for a server configured by
//     host name (haproxy's `init-addr last`: an IP literal in the
//     configuration wins).
// Not applied: the time since the last change, check status and result,
// agent fields, forced ids (herd matches by name only).
//
// Reloads with membership use the same rules for the servers a member added
// (app/wiring.cpp): the old process's `_getstate` answer carries their
// `show servers state` lines, applied by apply_server_state() when the new
// process's mapper adds those servers again.
//
// Thread rules: control thread (app/main.cpp calls load_server_states()
// before the pool is served), as the PoolWriter's other callers.
#pragma once

#include <string>
#include <vector>

#include "balancing/pool.h"
#include "config/model.h"

namespace herd::stats {

// One line of a server state file (format 1).
struct ServerStateLine {
  std::string backend, server, addr;
  int op = 2, admin = 0, uweight = 1, iweight = 1, check_state = 0;
  int port = 0, check_port = 0;
  std::string check_addr;
};

// Parses a state file's text. "" and the lines on success; otherwise
// "version" (no version 1 on the first line) or "line N" (a corrupted
// line N), and no lines.
std::string parse_server_state_file(const std::string& text, std::vector<ServerStateLine>* out);

// Reads the files that `cfg` names and applies them through `writer`.
// Returns the warnings, HAProxy's texts ("config : ..." lines).
std::vector<std::string> load_server_states(const config::Config& cfg,
                                            balancing::PoolWriter& writer);

// Applies one line to the server it names (nothing when the pool has no
// such server), as load_server_states() applies a file's line; HAProxy's
// warnings go to `warnings`.
void apply_server_state(balancing::PoolWriter& writer, const ServerStateLine& line,
                        std::vector<std::string>* warnings);

}  // namespace herd::stats
