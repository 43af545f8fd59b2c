// health/checker.h — active health checks (HAProxy 2.6 `check`, `option
// httpchk`, `http-check send|expect|disable-on-404`, `option tcp-check` with
// `tcp-check connect|send|send-binary|expect|comment`, inter/fastinter/
// downinter/rise/fall, port/addr), running on the control thread.
//
// Results reach workers only through pool snapshots: the checker changes a
// server's OpState/health through the control thread's PoolWriter (one
// transaction for all results that complete together), updates the
// server's HealthView under its mutex, counts chkfail/chkdown in its
// ServerLive counters, and logs HAProxy's messages through the callback
// (DOWN: alert, or notice when the server was NOLB; UP and "is stopping":
// notice; "backend X has no server available!": emerg).
//
// The checker reads the pool's current snapshot every time a check starts
// and every time a result is applied, so a new address (`set server addr`),
// check port/address, MAINT (not checked) and leaving MAINT (the server is
// UP at once, h = rise, until a check fails) and `set server health` are
// followed without being told. It learns the rest from the writer's typed
// change events (PoolWriter::subscribe), whoever made the change (runtime
// API, stats page, membership): a server added with check_enabled is checked
// at once (one whose state a reload carried over: after `inter`), a removed
// one stops, `enable/disable health` starts and stops checking, entering
// MAINT drops the check in flight. Nothing polls the pool.
// How a server is checked (inter, port, addr) is on the Server itself.
//
// Thread rules: construct, call every method and destroy on the control
// thread (the thread running `control`, which owns the PoolWriter). No check
// ever runs on a worker thread. stop() (or the destructor) must run before
// the io_context and the PoolWriter are destroyed.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "balancing/pool.h"
#include "config/model.h"
#include "health/state.h"

namespace herd::health {

// How one server is checked, beyond what the pool snapshot says.
struct CheckParams {
  CheckTiming timing;
  uint16_t port = 0;  // `port`: 0 means the server's port
  std::string addr;   // `addr`: "" means the server's address
  static CheckParams from_server(const balancing::Server& s);
};

class HealthChecker {
 public:
  // backend: the backend's config section (nullptr never happens here);
  // severity: syslog severity (0 emerg, 1 alert, 5 notice).
  using LogFn = std::function<void(const config::Proxy* backend, int syslog_severity,
                                   const std::string& msg)>;

  HealthChecker(boost::asio::io_context& control, const config::Config& cfg,
                balancing::PoolWriter& writer, LogFn log);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Sets check_status INI on every checked server and schedules the first
  // checks spread evenly over one interval across all of them.
  void start();
  // Cancels every timer and check in flight; no callback runs afterwards.
  void stop();

  // Passive health: the proxy saw `error-limit` consecutive errors on the
  // server's traffic (`observe layer4|layer7`). Applies its `on-error`
  // action: fastinter (next check soon), fail-check (one failed check),
  // sudden-death (down to the last UP step), mark-down (DOWN at once); every
  // action also brings the next check forward to fastinter.
  void observed_failure(std::string_view backend, std::string_view server);
  // Reloads with membership (app/wiring.cpp): the servers ("backend",
  // "server") about to be added again with the state the previous process
  // handed over. Such a server's first check comes one `inter` after it is
  // added instead of at once: the state it carries is its checks' verdict
  // already. Each counts for its next addition only; a call replaces the
  // list.
  void carried_over(std::vector<std::pair<std::string, std::string>> servers);

  // For tests: number of servers being tracked; whether a check is in flight.
  size_t tracked() const;
  bool in_flight(std::string_view backend, std::string_view server) const;

  // HAProxy's stderr form of a message this checker logs: {"WARNING",
  // "Server b/s is DOWN, ..."} or {"ALERT", "backend 'b' has no server
  // available!"}.
  static std::pair<std::string, std::string> stderr_form(int syslog_severity,
                                                         const std::string& msg);

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace herd::health
