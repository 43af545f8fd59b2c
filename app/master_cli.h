// app/master_cli.h — the text side of the master CLI (`-S <socket>` in
// master-worker mode, app/master.h), as HAProxy 2.6's: `show proc` in its
// format, `@<relative pid>` / `@!<pid>` / `@master` prefixes that route a
// command to a worker's CLI or the master, `;`-separated commands, `help`.
//
// `show proc` (HAProxy 2.6, captured from the real binary):
//   #<PID>          <type>          <reloads>       <uptime>        <version>
//   1234            master          2 [failed: 0]   0d00h00m06s     <version>
//   # workers
//   1301            worker          0               0d00h00m01s     <version>
//   # old workers                                   (only when there are some)
//   1290            worker          1               0d00h00m05s     <version>
//   # programs
//   <empty line>
// A worker's <reloads> counts the master's reloads since it started; the
// master's `failed` counts the reloads that failed since the last good one.
//
// Thread rules: pure functions, any thread (the master calls them on its
// main thread).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace herd::app {

struct ProcRow {
  pid_t pid = 0;
  uint32_t reloads = 0;
  int64_t uptime_s = 0;
};

struct ProcTable {
  ProcRow master;
  uint32_t failed_reloads = 0;
  std::vector<ProcRow> workers, old_workers;
  std::string version;
};

// "%dd%02dh%02dm%02ds", HAProxy's uptime.
std::string uptime_text(int64_t seconds);
std::string show_proc(const ProcTable& t);
// The master CLI's `help` text.
std::string master_help();

// A line of commands split on `;` (`\;` is a literal `;`), each trimmed;
// empty ones dropped.
std::vector<std::string> split_commands(const std::string& line);

// Where one command goes once its prefix is read.
struct CliTarget {
  enum class Kind { Master, Worker, Error } kind = Kind::Master;
  pid_t pid = 0;        // Worker: the worker's pid
  std::string command;  // the command without its prefix
  std::string error;    // Error: the answer (newline-terminated)
};
// `current`: the current worker (relative pid 1), or <= 0; `olds`: the
// workers that a reload replaced, still finishing (reachable by `@!<pid>`).
CliTarget route_command(const std::string& command, pid_t current, const std::set<pid_t>& olds);

// A worker's own runtime API socket, `<master's private socket>.<pid>`.
std::string worker_cli_path(const std::string& master_socket, pid_t pid);

}  // namespace herd::app
