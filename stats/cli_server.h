// stats/cli_server.h — listeners for `stats socket` lines: Unix sockets
// (bound under a temporary name then renamed over the path, so a reload's
// successor never finds the path missing; on stop the file is removed only
// while it is still this process's; `mode` applied) and TCP (`ipv4@addr:port`,
// `ipv6@`, `addr:port`). Every accepted connection runs one CliSession; a
// connection idle for the session's timeout (`stats timeout`, or `set
// timeout cli`) is closed.
//
// Thread rules: construct, start() and stop() on the control thread; every
// handler runs on the io_context given to the constructor, which must be the
// control thread's (sessions mutate the pool through its PoolWriter).
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "stats/cli.h"

namespace herd::stats {

class CliServer {
 public:
  CliServer(boost::asio::io_context& io, const CliEnv& env, int64_t timeout_ms);
  ~CliServer();
  CliServer(const CliServer&) = delete;
  CliServer& operator=(const CliServer&) = delete;

  // Opens one listener per `stats socket`. Returns "" or an error text
  // naming the socket ("cannot bind UNIX socket [/path]: ...").
  std::string start(const std::vector<config::StatsSocket>& sockets);
  // Closes the listeners (open connections finish their current reply) and
  // removes the Unix socket files it created; but the Unix socket `keep`
  // (non-empty), which stays open until a later stop() without it.
  void stop(const std::string& keep = "");
  // Bound TCP ports, in `sockets` order (for tests using port 0).
  std::vector<uint16_t> tcp_ports() const;

  // Reloads (app/handover.h): on a Unix socket with `expose-fd listeners`,
  // a first line `_getsocks` is answered by `send` (given the connection's
  // descriptor, blocking), `_getstate` with the text `state` returns; both
  // then close. Elsewhere both close at once, unanswered.
  struct Handover {
    std::function<void(int conn)> send;
    std::function<std::string()> state;
  };
  void set_handover(Handover h);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herd::stats
