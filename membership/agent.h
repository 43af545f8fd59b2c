// membership/agent.h — the live gossip member: a SocketTransport
// (transport.h: sockets, encryption, stream framing) under a SerfLayer
// (serf_layer.h: Serf's state above a swim::Swim, no socket and no clock),
// wired on the control io_context with the timers, the seed joins, the
// snapshot file and the hooks. The agent holds no Serf state of its own.
//
// What the agent adds around the layers: the keyring (from `encrypt` or
// `keyring_file`, lent to both layers; key queries rotate it in place and
// the agent writes it back to keyring_file); one timer at the layer's next
// deadline (at least every 200 ms) that passes the time in; seeds
// (settings.join) contacted with a TCP push/pull, retried with exponential
// backoff up to settings.retry_interval, ignoring older user events unless
// settings.replay (Serf's -replay); a periodic push/pull (30 s) with a
// random live member; every settings.reconnect_interval the layer's choice
// of a failed member tried again with a push/pull join to its last address;
// -snapshot (restored clocks, rejoin of previous members, what events
// change in the file); graceful leave (the layer's steps with Serf's waits:
// leave intent, the broadcast queue drained or 5 s, dead{self}, again, then
// 1 s LeavePropagateDelay). Member events go out through Hooks::events
// (batched per io_context turn); a member entering `leaving` (which serf
// does not turn into an event) goes out through Hooks::status so the pool
// mapper can drain it at once.
//
// Name conflicts, as Serf: the layer asks the cluster (`_serf_conflict`)
// and, in the minority, shuts down; the agent then closes its sockets and
// timers (no leave, as Serf's Shutdown) and calls Hooks::shutdown (`herd
// agent` exits as a serf agent does; herd's proxy keeps its current pool).
//
// Thread rules: control thread only: construct, call and destroy on the
// thread running `control`; every hook runs there.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "membership/keyring.h"
#include "membership/member_types.h"
#include "membership/queries.h"
#include "membership/rpc_server.h"
#include "membership/serf_layer.h"
#include "membership/settings.h"
#include "membership/snapshot.h"
#include "membership/swim.h"
#include "membership/transport.h"

namespace herd::membership {

class Agent : public RpcBackend, private TransportReceiver {
 public:
  struct Hooks {
    // Serf member and user events, in order (handlers, RPC stream, mapper).
    std::function<void(const std::vector<MemberEvent>&)> events;
    // A member changed status without a serf event (alive -> leaving, or
    // leaving -> alive after a join intent): mapper only.
    std::function<void(const MemberInfo&)> status;
    // Log lines (also for RPC monitor).
    std::function<void(const std::string&)> log;
    // The RPC `leave` finished (a stand-alone agent exits then).
    std::function<void()> left;
    // The agent shut itself down: it lost a name conflict (Serf's Shutdown,
    // after which a serf agent quits). Sockets and timers are closed.
    std::function<void()> shutdown;
    // Tests: inbound datagrams from (ip, port) for which this returns true
    // are dropped unread (simulates a one-way UDP failure).
    std::function<bool(const std::string&, uint16_t)> drop_udp;
  };

  // Transport::Counters (udp_in, udp_out, udp_bad, udp_unauth, tcp_in,
  // tcp_out, tcp_bad) plus the layer's.
  struct Counters : Transport::Counters {
    uint64_t push_pulls = 0;  // completed exchanges (both directions)
    uint64_t serf_bad = 0;    // undecodable serf messages
    uint64_t reconnects = 0;  // reconnect attempts to failed members
    uint64_t reaped = 0;      // failed/left members forgotten after their timeout
  };

  // Everything the stats page, /metrics and `show membership` print, copied
  // on the control thread (plain values: publish it to other threads).
  struct Snapshot {
    std::string node;
    bool encrypted = false;
    int health_score = 0;  // Lifeguard awareness (0 = healthy)
    // Members (ourselves included) by state: alive, suspect (alive in Serf's
    // table but suspected by SWIM), leaving, failed, left.
    std::map<std::string, uint64_t> members;
    Counters agent;
    swim::Swim::Counters swim;
    Queries::Counters queries;
  };
  Snapshot snapshot() const;

  Agent(boost::asio::io_context& control, MembershipSettings settings, Hooks hooks);
  ~Agent() override;
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Binds UDP and TCP, announces ourselves, starts timers and joins seeds.
  // Returns "" or an error text.
  std::string start();
  // Graceful leave (leave intent, dead{self}, propagate delay); `done` runs
  // on the control thread once finished (at once if not started).
  void graceful_leave(std::function<void()> done);
  // Closes sockets and timers now (no leave).
  void stop();

  // Reloads (app/handover.h). Before start(): the gossip sockets a previous
  // process handed over, used instead of binding (-1: bind), and its member
  // state (snapshot.h handover_text()): the incarnation, the three clocks,
  // the keyring in use (it replaces `encrypt` / the keyring file's: key
  // queries may have rotated it), the network coordinate and the members
  // to rejoin, so that the cluster sees no leave nor join.
  struct Adopted {
    int udp_fd = -1, tcp_fd = -1;
    std::optional<SnapshotState> state;
  };
  void adopt(Adopted a) { adopted_ = std::move(a); }
  // For a successor: the gossip sockets, and the member state.
  std::vector<int> socket_fds() const;
  SnapshotState handover_state() const;

  MemberInfo self_info() const;
  Counters counters() const;
  uint16_t port() const { return transport_ ? transport_->port() : 0; }  // bound port
  bool has_left() const;

  // RpcBackend.
  std::vector<MemberInfo> members() override;
  void join(const std::vector<std::string>& addrs, bool replay,
            std::function<void(int32_t, std::string)> done) override;
  void leave(std::function<void(std::string)> done) override;
  std::string force_leave(const std::string& node, bool prune) override;
  std::string user_event(const std::string& name, const std::string& payload,
                         bool coalesce) override;
  std::string update_tags(const std::map<std::string, std::string>& set,
                          const std::vector<std::string>& remove) override;
  rpc::StatsResponse stats() override;
  std::optional<rpc::RpcCoordinate> coordinate(const std::string& node) override;
  std::string query(const rpc::QueryRequest& req, QueryStream stream) override;
  std::string respond(uint64_t id, const Bytes& payload) override;
  void keys(std::string_view command, const std::string& key,
            std::function<void(std::string, rpc::KeyResponse)> done) override;

  // Answers a user query delivered as MemberEvent{Query} (handler output).
  std::string respond_query(uint64_t id, const std::string& output);
  const Queries::Counters* query_counters() const {
    return serf_ ? &serf_->queries().counters() : nullptr;
  }

 private:
  // TransportReceiver.
  void on_packet(const swim::Address& from, ByteView packet) override;
  Bytes on_stream(const Bytes& msg) override;
  void on_tcp_ping_result(uint32_t seq, bool ok) override;

  // The layer's next deadline, at least every 200 ms.
  void arm_timer();
  void on_timer();
  void schedule_push_pull();
  // A push/pull with `host:port` (join: Join flag set; ignore_old: Serf's
  // eventJoinIgnore); `done(ok)` later on the control thread.
  void push_pull(const std::string& host, uint16_t port, bool join, bool ignore_old,
                 std::function<void(bool)> done);
  void push_pull(const swim::Address& to, bool join, bool ignore_old,
                 std::function<void(bool)> done);
  void join_seeds_attempt();
  // -snapshot: push/pull join to prev[i], then the next until one answers.
  void rejoin_previous(std::vector<std::pair<std::string, std::string>> prev, std::size_t i);
  // -snapshot: what an event changes in the snapshot file.
  void record(const MemberEvent& ev);
  void schedule_reconnect();
  void on_event(MemberEvent ev);
  void on_status(const MemberInfo& m);
  void on_shutdown();
  void log(const std::string& line);
  swim::TimePoint now() const { return swim::Clock::now(); }
  // Runs `next` once the layer's broadcasts settled or at `deadline`.
  void wait_broadcasts(swim::TimePoint deadline, std::function<void()> next);
  std::string keyring_changed();

  boost::asio::io_context& io_;
  MembershipSettings settings_;
  Hooks hooks_;
  std::optional<Keyring> keyring_;
  std::unique_ptr<SocketTransport> transport_;
  std::unique_ptr<SerfLayer> serf_;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer push_pull_timer_;
  boost::asio::steady_timer join_timer_;
  boost::asio::steady_timer leave_timer_;
  boost::asio::steady_timer reconnect_timer_;
  std::unique_ptr<Snapshotter> snap_;  // -snapshot
  Adopted adopted_;                    // adopt()
  std::string snap_error_logged_;
  swim::TimePoint timer_at_{};
  bool timer_armed_ = false;
  bool started_ = false;
  std::vector<MemberEvent> pending_events_;
  bool flush_posted_ = false;
  int join_attempts_ = 0;
  std::chrono::milliseconds join_backoff_{1000};
  std::vector<std::function<void()>> leave_waiters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace herd::membership
