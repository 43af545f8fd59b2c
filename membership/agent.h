// membership/agent.h — the live gossip member: a Swim (swim.h) on real
// sockets plus the Serf layer on top, on the control io_context.
//
// Network: one UDP socket bound to settings.bind (all datagrams leave from
// it; encrypted with the keyring when settings.encrypt is set) and one TCP
// listener on the same ip:port for push/pull, stream user messages and TCP
// fallback pings (the stream format of memberlist, encrypted when keyed).
// Seeds (settings.join) are contacted with a TCP push/pull, retried with
// exponential backoff up to settings.retry_interval; a periodic push/pull
// (30 s) syncs with a random live member. When a direct probe times out,
// Swim asks for a TCP fallback ping (Transport::tcp_ping, unless
// settings.disable_tcp_pings): the ping as a stream message on a new
// connection, one ack back before the end of the probe interval, with the
// same client code as push/pull (stream_exchange).
//
// Reconnect and reap, as Serf: every settings.reconnect_interval a random
// failed member is tried again with a push/pull join to its last address
// (with probability failed / alive, as serf), so that after a partition
// heals the two sides find each other even if the other side does not
// retry. Failed members are reaped (member-reap, forgotten) after
// settings.reconnect_timeout, left ones after settings.tombstone_timeout.
//
// Serf layer: tags in Meta, the member and event Lamport clocks, join
// intent after joining, leave intent then Swim::leave on graceful leave,
// other members' intents (per-member status LTime, intents about unknown
// members buffered), user events (deduplicated by LTime+name+payload),
// serf push/pull user state, and serf member statuses alive / leaving /
// left / failed. Member events go out through Hooks::events (batched per
// io_context turn); a member entering `leaving` (which serf does not turn
// into an event) goes out through Hooks::status so the pool mapper can
// drain it at once.
//
// Name conflicts, as Serf: an alive message claiming our name from another
// address is never refuted; herd asks the cluster (`_serf_conflict`) and,
// when the majority does not answer with herd's address, logs why and stops
// its gossip member (the proxy keeps its current pool).
//
// Bad input (undecodable, unauthenticated, plaintext while keyed) is
// counted and dropped, never fatal.
//
// Thread rules: control thread only: construct, call and destroy on the
// thread running `control`; every hook runs there.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "membership/coordinate.h"
#include "membership/keyring.h"
#include "membership/member_types.h"
#include "membership/queries.h"
#include "membership/rpc_server.h"
#include "membership/serf_msgs.h"
#include "membership/settings.h"
#include "membership/snapshot.h"
#include "membership/swim.h"

namespace herd::membership {

class Agent : public RpcBackend, public swim::Transport, public QueryHost {
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
    // Tests: inbound datagrams from (ip, port) for which this returns true
    // are dropped unread (simulates a one-way UDP failure).
    std::function<bool(const std::string&, uint16_t)> drop_udp;
  };

  struct Counters {
    uint64_t udp_in = 0, udp_out = 0;
    uint64_t udp_bad = 0;     // undecodable (bad CRC, bad msgpack, ...)
    uint64_t udp_unauth = 0;  // failed decryption or plaintext while keyed
    uint64_t tcp_in = 0;
    uint64_t tcp_out = 0;     // streams we opened (push/pull: join, sync, reconnect; TCP pings)
    uint64_t tcp_bad = 0;     // undecodable or unauthenticated streams
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

  MemberInfo self_info() const;
  const Counters& counters() const { return counters_; }
  uint16_t port() const { return port_; }  // bound port (settings 0 = ephemeral)
  bool has_left() const { return leave_state_ != LeaveState::None; }

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
    return queries_ ? &queries_->counters() : nullptr;
  }

 private:
  struct Member {
    MemberInfo info;
    uint64_t status_ltime = 0;
    swim::TimePoint leave_time{};
  };
  struct Intent {
    bool leave = false;
    uint64_t ltime = 0;
    swim::TimePoint when{};
  };
  class LamportClock {
   public:
    uint64_t time() const { return t_; }
    uint64_t increment() { return ++t_; }
    void witness(uint64_t v) {
      if (v >= t_) t_ = v + 1;
    }

   private:
    uint64_t t_ = 1;
  };
  enum class LeaveState { None, Leaving, Left };
  struct Conn;

  // Transport.
  void send(const swim::Address& to, Bytes packet) override;
  bool tcp_ping(const swim::Address& to, const memberlist::Ping& ping,
                swim::TimePoint deadline) override;

  void receive_udp();
  void on_datagram(std::size_t n);
  void accept_tcp();
  void serve_stream(std::shared_ptr<Conn> c);
  void arm_timer();
  void on_timer();
  void schedule_push_pull();
  void push_pull(const std::string& host, uint16_t port, bool join, std::function<void(bool)> done);
  // The client side of one stream exchange (push/pull, TCP ping): connect,
  // write `msg` (stream-encrypted when keyed), read one stream message and
  // pass it (type byte first) to `on_reply`, which says whether it was the
  // expected answer. `done(false)` on any failure or at `deadline`.
  void stream_exchange(const boost::asio::ip::address& addr, uint16_t port, Bytes msg,
                       swim::TimePoint deadline, std::function<bool(const Bytes&)> on_reply,
                       std::function<void(bool)> done);
  void join_seeds_attempt();
  // -snapshot: push/pull join to prev[i], then the next until one answers.
  void rejoin_previous(std::vector<std::pair<std::string, std::string>> prev, std::size_t i);
  // -snapshot: what an event changes in the snapshot file.
  void record(const MemberEvent& ev);
  void schedule_reconnect();
  void reconnect();
  void reap(swim::TimePoint now);

  // Serf layer.
  Bytes serf_push_pull_state() const;
  void merge_serf_state(ByteView user_state, bool join);
  void on_swim_join(const swim::Node& n);
  void on_swim_update(const swim::Node& n);
  void on_swim_leave(const swim::Node& n);
  void on_user_message(const Bytes& payload);
  // memberlist's conflict delegate: another member claims a known name
  // (logged once) or ours (Serf's resolution query; in the minority herd
  // leaves the gossip rather than steal a live name).
  void on_conflict(const swim::Node& existing, const swim::Address& other);
  bool handle_leave_intent(const serf::LeaveIntent& m);
  bool handle_join_intent(const serf::JoinIntent& m);
  bool handle_user_event(const serf::UserEvent& m);
  void broadcast_join_intent();
  MemberInfo info_from(const swim::Node& n) const;
  void emit(MemberEvent ev);
  void emit_status(const MemberInfo& m);
  void log(const std::string& line) override;
  swim::TimePoint now() const { return swim::Clock::now(); }
  bool wait_broadcasts(swim::TimePoint deadline, std::function<void()> next);

  // QueryHost (queries.h): the query layer's view of this member.
  void send_direct(const swim::Address& to, Bytes serf_msg) override;
  void broadcast(Bytes serf_msg) override;
  std::vector<Peer> peers() const override;
  std::size_t num_members() const override;
  std::map<std::string, std::string> tags() const override { return tags_; }
  swim::Address self_address() const override { return self_addr_; }
  void deliver(MemberEvent query) override { emit(std::move(query)); }
  std::optional<MemberInfo> member(const std::string& name) const override;
  Keyring* keyring() override { return keyring_ ? &*keyring_ : nullptr; }
  std::string keyring_changed() override;

  boost::asio::io_context& io_;
  MembershipSettings settings_;
  Hooks hooks_;
  std::optional<Keyring> keyring_;
  boost::asio::ip::udp::socket udp_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer push_pull_timer_;
  boost::asio::steady_timer join_timer_;
  boost::asio::steady_timer leave_timer_;
  boost::asio::steady_timer reconnect_timer_;
  swim::TimePoint next_reap_{};
  std::unique_ptr<swim::Swim> swim_;
  std::unique_ptr<Queries> queries_;
  std::unique_ptr<Coordinates> coords_;
  std::unique_ptr<Snapshotter> snap_;  // -snapshot
  std::string snap_error_logged_;
  swim::Address self_addr_;
  uint16_t port_ = 0;
  Counters counters_;
  std::vector<uint8_t> rbuf_;
  boost::asio::ip::udp::endpoint rfrom_;
  swim::TimePoint timer_at_{};
  bool timer_armed_ = false;
  bool started_ = false;

  LamportClock clock_, event_clock_;
  uint64_t event_min_time_ = 0;
  bool event_join_ignore_ = false;
  std::map<std::string, Member> members_;
  std::map<std::string, Intent> recent_intents_;
  std::set<std::tuple<uint64_t, std::string, Bytes>> seen_events_;
  std::map<std::string, std::string> tags_;
  std::vector<MemberEvent> pending_events_;
  bool flush_posted_ = false;
  int join_attempts_ = 0;
  std::chrono::milliseconds join_backoff_{1000};
  bool joined_ = false;
  bool conflict_resolving_ = false;
  std::set<std::string> conflicts_logged_;
  LeaveState leave_state_ = LeaveState::None;
  std::vector<std::function<void()>> leave_waiters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace herd::membership
