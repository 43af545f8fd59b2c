// app/haproxy_engine.h — reference mode (`herd --engine haproxy`): herd runs
// its control plane (config, gossip member, pool mapping, event handlers) and
// supervises a real `haproxy` on the same configuration, which carries the
// traffic. Changes of herd's pool are pushed to haproxy through its runtime
// API, without reload. See docs/reference-mode.md.
//
// How:
//   * start() writes `<tmpdir>/herd-admin.cfg` (a second `global` section with
//     one `stats socket <tmpdir>/admin.sock level admin`) and runs haproxy in
//     master-worker mode, `<bin> -W -db -f <cfg>... -f <tmpdir>/herd-admin.cfg`.
//     The child (the master) gets PR_SET_PDEATHSIG so it never outlives herd.
//   * Every command is sent as `show info;<cmd>`: the reply names the worker
//     (`Pid:`) that ran it. A pid other than the known worker's means a new
//     worker (a reload, by herd's SIGUSR2 or anyone's): the applied state is
//     reset to the config's servers and the whole pool is applied again. A
//     reply from a retired worker (still stopping) is ignored and retried.
//     An idle engine probes `show info` once a second (every tick while a
//     reload herd asked for is pending).
//   * A 200 ms tick on the control io_context reaps the child; a haproxy that
//     exited is started again with exponential backoff (200 ms .. 10 s) and,
//     once its socket answers, re-populated from herd's current pool.
//   * Pool::on_publish marks the pool dirty; reconcile() diffs every
//     server of herd's pool (state ready/drain/maint, weight, address; servers
//     that are not in the config are added/removed) against what it last
//     applied to this haproxy, and queues runtime API commands. Commands run
//     one at a time, one per connection (`cmd\n`, reply read until EOF), with
//     Asio local stream sockets and a 2 s timeout: the control thread never
//     blocks.
//   * A server that left herd's pool is not deleted at once: it is put in
//     DRAIN (it was draining in herd: graceful leave) or MAINT (failure), then
//     `show stat` is polled until haproxy's scur and qcur for it are 0, then
//     `set server state maint` + `del server`. A member that comes back in the
//     meantime is simply set ready again.
//
// Thread rules: control thread only (construct, start, stop, destroy there).
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "balancing/pool.h"

namespace herd::app {

class ReferenceEngine {
 public:
  struct Options {
    std::string haproxy_bin = "haproxy";
    std::vector<std::string> cfg_files;  // passed as -f, in order
    // The `server` options text for a server of `backend` that herd added
    // (a membership pool rule's `server:`); "" builds them from the Server.
    std::function<std::string(const std::string& backend)> server_options;
    // After reload(): runs once a new worker answered, or 15 s passed
    // without one (the reload failed and the old worker still serves).
    std::function<void()> on_reload_done;
    // `herd -x <socket>` in reference mode: the first haproxy started gets
    // `-x <socket>` (a `stats socket ... expose-fd listeners` of the
    // configuration, which the old herd's haproxy serves), so it takes the
    // listening sockets over instead of binding beside them.
    std::string old_socket;
    bool debug = false;  // -d: haproxy runs in debug mode too
    std::chrono::milliseconds tick{200};
    std::chrono::milliseconds command_timeout{2000};
  };

  // `pool` must outlive the engine; its current snapshot at construction is
  // taken as the configuration's initial state (what a fresh haproxy has).
  ReferenceEngine(boost::asio::io_context& control, balancing::Pool& pool, Options opts);
  ~ReferenceEngine();
  ReferenceEngine(const ReferenceEngine&) = delete;
  ReferenceEngine& operator=(const ReferenceEngine&) = delete;

  // Creates the temp dir, starts haproxy. "" or an error text.
  std::string start();
  // Reloads haproxy: SIGUSR2 to its master (a new worker reads the config
  // again, the old one finishes its connections); herd re-applies its pool
  // to the new worker once it answers. herd's SIGUSR2 calls this (main()'s
  // lifecycle, app/lifecycle.h).
  void reload();
  // Stops supervising: SIGUSR1 (soft: haproxy finishes its connections) or
  // SIGTERM (hard, SIGKILL after 3 s); `done` runs on the control thread
  // once haproxy exited.
  void stop(bool soft, std::function<void()> done);

  pid_t pid() const { return pid_; }  // haproxy's master
  // haproxy's admin socket answered since the last (re)start: a worker serves.
  bool ready() const { return reachable_; }
  pid_t worker_pid() const { return worker_; }
  const std::string& admin_socket() const { return sock_path_; }
  int restarts() const { return restarts_; }

 private:
  enum class State { Ready, Drain, Maint };
  struct Want {
    std::string ip;
    uint16_t port = 0;
    State state = State::Ready;
    int weight = 1;
    int initial_weight = 1;
    bool config = false;  // from haproxy.cfg: never added or deleted
    bool check = false;
    std::string opts;
  };
  struct Have {
    std::string ip;
    uint16_t port = 0;
    State state = State::Ready;
    int weight = 1;
    bool config = false;
    bool removing = false;  // gone from herd's pool: drain, wait for scur 0, delete
    bool maint_sent = false;
  };
  using Key = std::pair<std::string, std::string>;
  struct Job {
    std::string cmd;
    std::function<void(const std::string& reply)> done;  // runs only when haproxy answered
  };

  void spawn();
  void on_tick();
  void arm_tick();
  void child_exited(int status);
  void reset_applied();
  std::map<Key, Want> desired() const;
  void reconcile();
  void enqueue(std::string cmd, std::function<void(const std::string&)> done);
  void run_next();
  void poll_removals(const std::string& csv);
  // Checks the `show info` part of a reply; false when the reply must be dropped.
  // `rest` is the command's own reply (after the `show info` part).
  bool same_worker(const std::string& reply, bool probe, std::string& rest);
  void reload_done();
  std::string options_for(const std::string& backend, const balancing::Server& s) const;

  boost::asio::io_context& control_;
  balancing::Pool& pool_;
  Options opts_;
  std::map<Key, Want> baseline_;  // config servers as a fresh haproxy has them
  std::map<Key, Have> applied_;
  std::string dir_, sock_path_, admin_cfg_;
  pid_t pid_ = -1;
  std::chrono::steady_clock::time_point started_at_{}, next_start_{};
  int failures_ = 0, restarts_ = 0;
  bool reachable_ = false;  // the socket answered since the last (re)start
  bool stopping_ = false;
  pid_t worker_ = -1;           // haproxy worker that answered last (`show info` Pid)
  std::vector<pid_t> retired_;  // workers replaced by a reload, possibly still stopping
  std::chrono::steady_clock::time_point last_cmd_{}, reload_until_{};
  std::chrono::steady_clock::time_point stop_deadline_{};
  std::function<void()> stop_done_;

  std::deque<Job> queue_;
  bool busy_ = false;
  bool dirty_ = true;
  uint64_t gen_ = 0;  // bumped on each (re)start: replies of an older haproxy are dropped
  boost::asio::steady_timer tick_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace herd::app
