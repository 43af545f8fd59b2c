// membership/serf_layer.h — Serf's state machine above a swim::Swim, with no
// socket and no clock of its own (time enters as `now` arguments, as in
// swim.h; randomness from a seeded generator).
//
// A SerfLayer is one Serf member: it owns the Swim (failure detection and
// gossip), the Queries (queries.h, the query clock, key rotation, name
// conflict resolution) and the network Coordinates (coordinate.h), and adds
// Serf's own state: tags in Meta, the member and event Lamport clocks,
// per-member status LTimes, join and leave intents (intents about unknown
// members buffered for 5 min), user events (deduplicated by
// LTime+name+payload within the 512-slot window, re-broadcast once, ignored
// below the event minimum time), serf member statuses alive / leaving /
// left / failed, serf's push/pull user state and its merge, reaping failed
// members after reconnect_timeout and left ones after tombstone_timeout, the
// choice of a failed member to reconnect to, and name conflicts.
//
// Seams: packets leave through a swim::Transport (agent: SocketTransport,
// tests: swim::InMemoryNetwork, which also delivers inbound packets to
// swim()); inbound datagrams and streams are handed in decoded
// (handle_packet, serve_stream, merge_push_pull); the stream exchanges
// themselves (join, sync, reconnect) are the caller's (push_pull_request
// builds the message, merge_push_pull takes the reply). Events go out through
// Callbacks, synchronously and in order. Swim callbacks take the time of the
// layer's call in progress: whoever hands packets to swim() directly (the
// in-memory network) calls tick(now) first with the same `now`.
//
// Name conflicts, as Serf: an alive message claiming our name from another
// address is never refuted; the layer asks the cluster (`_serf_conflict`)
// and, in the minority, logs it and shuts down (state() == Shutdown, then
// Callbacks::shutdown: the caller closes the transport, as Serf's Shutdown
// without a leave).
//
// Thread rules: not thread-safe. One thread (the gossip/control thread)
// calls every member function; callbacks run on that thread, inside the
// call that triggered them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "membership/coordinate.h"
#include "membership/keyring.h"
#include "membership/member_types.h"
#include "membership/queries.h"
#include "membership/serf_msgs.h"
#include "membership/swim.h"

namespace herd::membership {

// Serf's Lamport clock: starts at 1; witness(v) moves it past v.
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

// The IP of an address as text ("" if it is not 4 or 16 bytes).
std::string ip_text(const Bytes& ip);

class SerfLayer : private QueryHost {
 public:
  struct Config {
    swim::Config swim;  // name, advertise, meta (set from tags here), timing, seed
    std::map<std::string, std::string> tags;
    swim::Duration reconnect_timeout = std::chrono::hours(24);
    swim::Duration tombstone_timeout = std::chrono::hours(24);
    Keyring* keyring = nullptr;  // rotated by key queries; nullptr: not encrypted
    uint64_t seed = 1;           // queries, coordinates, reconnect choice
  };
  struct Callbacks {
    // Serf member, user and query events, in order.
    std::function<void(MemberEvent)> event;
    // A member changed status without a serf event (alive -> leaving, or
    // leaving -> alive after a join intent).
    std::function<void(const MemberInfo&)> status;
    std::function<void(const std::string&)> log;
    // After a key query changed the keyring (persistence): "" or an error.
    std::function<std::string()> keyring_changed;
    // We lost a name conflict: the layer is shut down (Serf's Shutdown).
    std::function<void()> shutdown;
  };
  struct Counters {
    uint64_t push_pulls = 0;  // merged push/pull states (both directions)
    uint64_t serf_bad = 0;    // undecodable serf messages
    uint64_t reconnects = 0;  // reconnect targets chosen
    uint64_t reaped = 0;      // failed/left members forgotten after their timeout
  };
  // Serf's own state: Leaving/Left after leave(), Shutdown after a lost
  // name conflict (or shutdown()).
  enum class State { Alive, Leaving, Left, Shutdown };

  SerfLayer(Config cfg, swim::Transport& transport, Callbacks cb, swim::TimePoint now);
  ~SerfLayer() override;
  SerfLayer(const SerfLayer&) = delete;
  SerfLayer& operator=(const SerfLayer&) = delete;

  // -snapshot: the clocks witness the snapshot's, and events and queries up
  // to them are old (not delivered again). Before start().
  void restore_clocks(uint64_t clock, uint64_t event_clock, uint64_t query_clock);
  // Ourselves alive: member-join (serf runs handlers for its own join too).
  void start();
  // Stops answering and deciding (no leave); idempotent.
  void shutdown();
  State state() const { return state_; }

  // ---- network input (decoded by the transport) ----
  void handle_packet(const swim::Address& from, ByteView packet, swim::TimePoint now);
  void tcp_ping_result(uint32_t seq, bool ok, swim::TimePoint now);
  // An inbound stream: push/pull (merged; our state is the reply), TCP ping
  // (the ack is the reply) or stream user message (no reply).
  Bytes serve_stream(const Bytes& msg, swim::TimePoint now);
  // Our push/pull message (memberlist node states plus serf user state).
  Bytes push_pull_request(bool join) const;
  // The reply to our push/pull (type byte first); false if it is not one.
  // `ignore_old_events` (a join without replay, Serf's eventJoinIgnore):
  // user events up to the remote's event clock are not delivered.
  bool merge_push_pull(const Bytes& reply, bool join, bool ignore_old_events, swim::TimePoint now);
  // After a successful join: our join intent (serf.Join's broadcastJoin).
  void joined(swim::TimePoint now);

  // ---- time ----
  // Swim and query work, intent expiry, reaping (checked every second).
  void tick(swim::TimePoint now);
  swim::TimePoint next_deadline() const;

  // ---- decisions for the caller's stream exchanges ----
  // A random alive peer for the periodic push/pull.
  std::optional<swim::Address> push_pull_peer();
  // serf.reconnect(): a random failed member, chosen with probability
  // failed / alive; nullopt for none.
  std::optional<std::pair<std::string, swim::Address>> reconnect_target();

  // ---- graceful leave (Serf.Leave's steps) ----
  // Leave intent broadcast, our status leaving.
  void leave(swim::TimePoint now);
  // Whether the gossip queue drained (or nobody is left to tell).
  bool broadcasts_settled() const;
  // Swim's dead{self}.
  void leave_gossip(swim::TimePoint now);
  // Our status left.
  void finish_leave();

  // ---- commands ----
  // "" or an error text.
  std::string force_leave(const std::string& node, bool prune, swim::TimePoint now);
  std::string user_event(const std::string& name, const std::string& payload, bool coalesce);
  // Encoded tags over memberlist's meta limit: an error text, else "".
  static std::string check_tags(const std::map<std::string, std::string>& tags);
  void set_tags(std::map<std::string, std::string> tags, swim::TimePoint now);

  // ---- views ----
  std::vector<MemberInfo> members() const;
  std::optional<MemberInfo> member(const std::string& name) const override;
  MemberInfo self_info() const;
  // Members by state (ourselves included): alive, suspect (alive in Serf's
  // table, suspected by SWIM), leaving, failed, left.
  std::map<std::string, uint64_t> member_counts() const;
  const std::map<std::string, std::string>& current_tags() const { return tags_; }
  uint64_t clock() const { return clock_.time(); }
  uint64_t event_clock() const { return event_clock_.time(); }
  uint64_t event_min_time() const { return event_min_time_; }
  std::size_t intent_queue() const { return recent_intents_.size(); }
  const Counters& counters() const { return counters_; }

  swim::Swim& swim() { return *swim_; }
  const swim::Swim& swim() const { return *swim_; }
  Queries& queries() { return *queries_; }
  const Queries& queries() const { return *queries_; }
  Coordinates& coordinates() { return *coords_; }

 private:
  struct Member {
    MemberInfo info;
    swim::Address addr;  // last known (reconnect)
    uint64_t status_ltime = 0;
    swim::TimePoint leave_time{};
  };
  struct Intent {
    bool leave = false;
    uint64_t ltime = 0;
    swim::TimePoint when{};
  };

  void on_swim_join(const swim::Node& n);
  void on_swim_update(const swim::Node& n);
  void on_swim_leave(const swim::Node& n);
  void on_user_message(const Bytes& payload);
  // memberlist's conflict delegate: another member claims a known name
  // (logged once) or ours (Serf's resolution query; in the minority the
  // layer shuts down rather than steal a live name).
  void on_conflict(const swim::Node& existing, const swim::Address& other);
  // The known member an intent is about, after witnessing its LTime, if
  // the intent is news for it; nullptr otherwise, with `news` saying whether
  // an intent about an unknown member was buffered (newer than the last).
  Member* intent_subject(const std::string& node, bool leave, uint64_t ltime, bool& news);
  bool handle_leave_intent(const serf::LeaveIntent& m);
  bool handle_join_intent(const serf::JoinIntent& m);
  bool handle_user_event(const serf::UserEvent& m);
  void broadcast_join_intent();
  Bytes serf_push_pull_state() const;
  void merge_serf_state(ByteView user_state, bool join, bool ignore_old_events);
  void reap(swim::TimePoint now);
  MemberInfo info_from(const swim::Node& n) const;
  void emit(MemberEvent ev);
  void log(const std::string& line) override;

  // QueryHost (queries.h): the query layer's view of this member.
  void send_direct(const swim::Address& to, Bytes serf_msg) override;
  void broadcast(Bytes serf_msg) override;
  std::vector<Peer> peers() const override;
  std::size_t num_members() const override;
  std::map<std::string, std::string> tags() const override { return tags_; }
  swim::Address self_address() const override { return cfg_.swim.advertise; }
  void deliver(MemberEvent query) override { emit(std::move(query)); }
  Keyring* keyring() override { return cfg_.keyring; }
  std::string keyring_changed() override;

  Config cfg_;
  const std::string node_;
  swim::Transport& transport_;
  Callbacks cb_;
  std::mt19937_64 rng_;
  std::unique_ptr<swim::Swim> swim_;
  std::unique_ptr<Queries> queries_;
  std::unique_ptr<Coordinates> coords_;
  State state_ = State::Alive;
  swim::TimePoint now_{};  // of the call in progress
  swim::TimePoint next_reap_{};

  LamportClock clock_, event_clock_;
  uint64_t event_min_time_ = 0;
  std::map<std::string, Member> members_;
  std::map<std::string, Intent> recent_intents_;
  std::set<std::tuple<uint64_t, std::string, Bytes>> seen_events_;
  std::map<std::string, std::string> tags_;
  bool conflict_resolving_ = false;
  std::set<std::string> conflicts_logged_;
  Counters counters_;
};

}  // namespace herd::membership
