// app/master.h — master-worker mode (`-W`, `-Ws`, `master-worker` in
// global), as HAProxy 2.6's: a master process that serves no traffic and
// runs one worker (herd itself, started again with -db) at a time, plus the
// old ones still finishing their connections after a reload.
//
// SIGUSR2 (systemctl reload): the master checks the configuration again
// (`herd -c` with the same files); if it fails the current worker keeps
// serving and the master logs why; otherwise it starts a new worker with
// `-sf <current> -x <socket>`, which takes the current one's listening
// sockets (and gossip member) over the workers' private stats socket
// (app/handover.h) and soft-stops it. A new worker that fails leaves the
// current one in place. SIGUSR1 and SIGTERM/SIGINT go to every worker and the
// master exits once they did; SIGHUP goes to the current worker. The
// current worker ending by itself ends the master with its exit code, as
// HAProxy's (unless `master-worker no-exit-on-failure`). `-Ws`: systemd's
// sd_notify protocol (READY=1 once a worker serves, RELOADING=1 during a
// reload, STOPPING=1).
//
// The master's signals go through app/lifecycle.h as a process's do.
//
// Master CLI (`-S <path>[,mode,<octal>]`, HAProxy's): a Unix socket served
// by the master between signals, one connection at a time, one line of
// `;`-separated commands each: `show proc` (HAProxy 2.6's format),
// `show version`, `reload` (as SIGUSR2, once the connection closed),
// `help`, and `@1 <cmd>` / `@!<pid> <cmd>` for a worker's own runtime API
// socket (`<socket>.<pid>`, app/master_cli.h worker_cli_path(), which an
// old worker keeps open while it finishes); `@master <cmd>` for the master.
//
// Thread rules: run_master() runs on the main thread of a process that has
// started no other thread; it forks and execs the workers.
#pragma once

#include <string>
#include <vector>

namespace herd::app {

struct MasterOptions {
  std::string self;                      // this binary
  std::vector<std::string> worker_args;  // a worker's arguments (no -W/-Ws/-D/-p/-sf/-st/-x)
  std::vector<std::string> check_args;   // a configuration check's (`-c -q` added)
  std::string socket;                    // the workers' private stats socket (expose-fd)
  std::string pidfile;                   // the master's pid goes there
  bool systemd = false;                  // -Ws
  bool daemon = false;                   // -D
  bool exit_on_failure = true;           // not `master-worker no-exit-on-failure`
  bool quiet = false;
  std::string cli;      // -S <path>[,mode,<octal>]: the master CLI (app/master_cli.h)
  std::string version;  // `show proc`, `show version`
};

// Runs the master until its workers are gone; returns its exit code.
int run_master(const MasterOptions& o);

}  // namespace herd::app
