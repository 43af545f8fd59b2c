// proxy/engine.h — herd's native data plane: nbthread workers, each with its
// own io_context and its own SO_REUSEPORT listeners, relaying HTTP/1.x
// between clients and the servers the pool offers.
//
// Thread rules: construct, start(), soft_stop(), hard_stop() and join() from
// the main/control thread. Hooks are called on worker threads unless stated.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "balancing/frontend.h"
#include "balancing/pool.h"
#include "config/model.h"

namespace herd::proxy {

// A request for the stats applet (`stats enable` on a frontend/listen).
struct StatsRequest {
  const config::Proxy* proxy = nullptr;
  std::string method;
  std::string target;         // as received, e.g. "/;csv;norefresh"
  std::string authorization;  // Authorization header value, "" if none
  std::string body;           // POST body (admin form), bounded
  bool head_only = false;
  bool admin_allowed = false;  // `stats admin if <cond>` held for this request
};

// One `option httplog` line's worth of facts, handed to the log hook at the
// end of each request (only when the frontend logs at info).
struct LogRecord {
  std::string client;                     // "127.0.0.1:54742"
  std::string accept_date;                // "22/Nov/2026:14:08:24.389"
  std::string frontend, backend, server;  // server: "<NOSRV>", "<STATS>"
  long tr = -1, tw = -1, tc = -1, tres = -1, ta = -1;
  int status = 0;
  uint64_t bytes_out = 0;
  char term[5] = "----";
  int actconn = 0, feconn = 0, beconn = 0, srvconn = 0, retries = 0;
  int srv_queue = 0, be_queue = 0;
  std::string request_line;  // without quotes; "<BADREQ>" for bad requests
  // For log-format (format_log): the handshake and idle times before the
  // request (%Th, %Ti), the request's wall-clock date (%tr; %t is this less
  // Th and Ti; unset: accept_date for both), bytes from the client (%U),
  // the accepting address (%fi:%fp), the server's (%si:%sp, port 0: none)
  // and the connection's source towards it (%bi:%bp), TLS on the listener
  // (%ft's '~'), the request counter (%rt), the unique ID (%ID), HTTP mode
  // (%tsc's cookie letters) and the values of the format's %[...] samples,
  // in order (LogSamples).
  long th = 0, ti = 0;
  std::chrono::system_clock::time_point date{};
  uint64_t bytes_in = 0;
  std::string fe_ip, srv_ip, be_ip;
  int fe_port = 0, srv_port = 0, be_port = 0;
  bool ssl = false, http = true;
  uint64_t req_id = 0;
  std::string unique_id;
  std::vector<std::string> samples;
};
// The accept date as logs show it: "22/Nov/2026:14:08:24.389" (local time),
// now or at `at`.
std::string log_accept_date();
std::string log_accept_date(std::chrono::system_clock::time_point at);
// Formats HAProxy's httplog line (without syslog framing); `fe`'s capture
// slots (`declare capture`) show as haproxy's "{...}" blocks.
std::string format_httplog(const LogRecord& r, const config::Proxy* fe = nullptr);
// Formats `f` (log-format, unique-id-format) from `r`, as haproxy's
// sess_build_logline. `mandatory`: empty values show as "-" (log-format;
// not unique-id-format, whose samples are %-encoded instead).
std::string format_log(const config::LogFormat& f, const LogRecord& r, const config::Proxy* fe,
                       bool mandatory = true);
// haproxy's request counter (%rt, the stream's uniq_id): the next value.
uint64_t next_request_id();
// Formats HAProxy's tcplog line: `%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts
// %ac/%fc/%bc/%sc/%rc %sq/%bq` (tw, tc, ta, bytes_out, the first two
// letters of term).
std::string format_tcplog(const LogRecord& r);

struct Hooks {
  // Whether `target` is for the stats applet of `fe` (which has `stats enable`).
  std::function<bool(const config::Proxy& fe, std::string_view target)> stats_matches;
  // GET/HEAD of the stats applet: returns complete response bytes. Worker thread.
  std::function<std::string(const StatsRequest&)> stats;
  // POST of the stats applet: must run on the control thread; the proxy
  // posts it there through `control_post` and awaits `done` on its worker.
  std::function<void(StatsRequest, std::function<void(std::string)> done)> stats_post;
  // End-of-request log record; return quickly (format and send). Worker thread.
  std::function<void(const config::Proxy& fe, const LogRecord&)> log;
  // Passive health: `server` of `backend` reached its `error-limit` of
  // consecutive errors. Worker thread; must hand over to the control thread.
  std::function<void(const std::string& backend, const std::string& server)> observed_errors;
  // Whether `fe` logs requests or connections (option httplog/tcplog, level
  // info reachable); avoids building records. The log hook formats the
  // record as the frontend's option says (format_httplog, format_tcplog).
  std::function<bool(const config::Proxy& fe)> logs_requests;
};

// The Linux I/O interface the workers use. Both are compiled into every
// binary; the choice is made at start-up (app/main.cpp: --io, HERD_IO).
enum class IoBackend { Epoll, IoUring };
const char* to_string(IoBackend b);
// "" when this process can set up an io_uring, else the reason it cannot
// (an old kernel, a container's seccomp profile, io_uring_disabled, memlock).
std::string io_uring_unavailable();

class Engine {
 public:
  Engine(const config::Config& cfg, balancing::Pool& pool, balancing::ProcessLive& process,
         Hooks hooks, IoBackend backend);
  ~Engine();
  Engine(const Engine&) = delete;

  // Binds every listener on every worker (SO_REUSEPORT). Throws
  // std::runtime_error naming the bind line on failure. `inherit`, when
  // given, offers a listening socket a previous process handed over for
  // ip:port (its descriptor, or -1: bind a new one); every one it offers is
  // used, by some worker (app/handover.h).
  using Inherit = std::function<int(const std::string& ip, uint16_t port)>;
  void bind(const Inherit& inherit = {});
  // The listening sockets, for a successor (`_getsocks`).
  std::vector<int> listener_fds() const;
  // They were handed over: a soft stop closes them without shutdown(2),
  // which would take them from the successor too.
  void set_handed_over();
  // Starts the worker threads.
  void start();
  // Graceful: listeners close at once, in-flight requests finish and end
  // their connection, idle connections get one more answer or close at
  // their idle deadline (close-spread-time changes both, see workers.cpp);
  // workers exit when no connection is left.
  void soft_stop();
  // After soft_stop(), when it runs too long (`hard-stop-after`): requests
  // still waiting for a server get HAProxy's 502 with `connection: close`,
  // everything else is closed, and the workers exit shortly after.
  void abort_sessions();
  // Immediate: drops everything.
  void hard_stop();
  void join();
  unsigned threads() const;
  IoBackend io_backend() const;
  // The pool writer's change events (control thread, PoolWriter::subscribe):
  // a server that gained capacity (added, UP, out of MAINT or DRAIN, more
  // weight) takes waiters of its backend's queue at once, as HAProxy
  // redistributes pending connections when a server comes up; the waiters
  // then use it from the newest snapshot.
  void on_pool_changes(const std::vector<balancing::PoolChange>& changes);
  // The process-wide connection limit: global `maxconn`, else derived from
  // the file-descriptor limit (two descriptors per proxied connection).
  static int effective_maxconn(const config::Config& cfg);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herd::proxy
