// app/wiring.h — connects the modules around the pool: the proxy's hooks
// (stats applet, request logs), health checks, the runtime API listeners and
// the gossip member, all running on the control io_context.
//
// Thread rules: construct, start(), soft_stop() and stop() on the control
// thread. The proxy hooks it hands out are called on worker threads and only
// touch thread-safe state (LogSink, snapshot rendering).
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/handover.h"
#include "app/logsink.h"
#include "balancing/frontend.h"
#include "balancing/pool.h"
#include "config/model.h"
#include "proxy/engine.h"

namespace herd::app {

class Wiring {
 public:
  Wiring(boost::asio::io_context& control, const config::Config& cfg, balancing::Pool& pool,
         balancing::PoolWriter& writer, balancing::ProcessLive& process, const LogSink& sink,
         const std::string& membership_file, std::vector<std::string> membership_flags = {});
  ~Wiring();
  proxy::Hooks proxy_hooks();
  // Starts health checks, runtime API listeners and membership. Prints an
  // ALERT and returns false when one cannot start.
  bool start();
  void soft_stop();
  void stop();
  // soft_stop() leaves this runtime API socket open (a worker's own socket
  // in master-worker mode: the master CLI's `@!<pid>` reaches an old worker
  // there while it finishes its connections); stop() closes it.
  void keep_cli_socket(std::string path);
  // Graceful leave of the gossip cluster (if a member runs), then `done`
  // on the control thread; at once without membership. Once the sockets
  // went to a successor (expose()), the member stops without leaving: the
  // successor is the same member to the cluster.
  void leave_cluster(std::function<void()> done);

  // Reloads (app/handover.h), before start(). inherit(): what the previous
  // process handed over; the gossip and RPC sockets are taken from `socks`,
  // the member carries on from `state` (its `_getstate` answer:
  // handover_text()), and each server a member added there gets its state
  // back (the answer's `show servers state` lines: health, admin state,
  // weight; stats/server_state_file.h) when the mapper adds it here, its
  // first check one `inter` later.
  void inherit(InheritedSockets* socks, std::string state);
  // expose(): a `_getsocks` on an `expose-fd listeners` socket sends
  // `proxy_fds()` and the gossip and RPC sockets; `sent` runs once they went.
  void expose(std::function<std::vector<int>()> proxy_fds, std::function<void()> sent);
  // After start(), with an inherited member state: true until every member
  // the predecessor knew alive joined again (their servers are back in the
  // pool). main() runs the control loop meanwhile, for a bounded time,
  // before it serves and stops the predecessor.
  bool catching_up() const;

  // Reference mode (`--engine haproxy`, app/haproxy_engine.h), before
  // start(): no health checks in herd (haproxy checks), and herd's runtime
  // API listens on `cli` instead of the config's `stats socket` lines (which
  // are haproxy's); none when `cli` is empty.
  void set_reference_mode(std::vector<config::StatsSocket> cli);
  // The `server:` options of the first membership pool rule for `backend`
  // ("" when none); valid after start().
  std::string pool_server_options(const std::string& backend) const;
  // SIGHUP: HAProxy's "dumping servers states" lines (stats/state_dump.h).
  std::vector<std::string> state_dump_lines() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace herd::app
