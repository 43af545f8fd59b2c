// membership/swim.h — the SWIM/Lifeguard failure detector and gossip state
// machine of memberlist 0.2.x, without sockets or clocks.
//
// A Swim instance is one member: it owns the node table (alive / suspect /
// dead / left with incarnations), runs probe rounds (direct ping, then
// indirect pings through up to IndirectChecks peers, with Lifeguard's
// awareness score stretching the probe interval), the suspicion timers with
// Lifeguard's confirmation-shortened timeout, incarnation refutation, and the
// retransmit-limited broadcast queue that is piggy-backed on pings/acks and
// gossiped every GossipInterval. Everything on the wire goes through the
// codecs in memberlist_msgs.h, so packets are what a serf agent expects.
//
// Seams: packets leave through a Transport (an interface; tests use
// InMemoryNetwork below); time only enters through the `now` argument of
// tick()/handle_packet(); randomness comes from a seeded generator in the
// config. TCP (push/pull, TCP fallback ping) is not here: the stream layer
// calls local_state()/merge_remote_state() for push/pull.
//
// Not yet implemented: TCP fallback pings, dead-node reclaim/reaping after
// GossipToTheDeadTime, version-compatibility checks on merge, the serf layer
// (intents, Lamport clocks) which consumes on_user_message.
//
// Thread rules: not thread-safe. One thread (the gossip/control thread)
// calls every member function of a Swim; callbacks run on that thread,
// inside the call that triggered them.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "membership/keyring.h"
#include "membership/memberlist_msgs.h"

namespace herd::membership::swim {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;
using namespace std::chrono_literals;

// A UDP endpoint (IP bytes as on the wire: 4 or 16).
struct Address {
  Bytes ip;
  uint16_t port = 0;
  auto operator<=>(const Address&) const = default;
  std::string to_string() const;
};

// Where packets go. send() must not call back into the Swim synchronously.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void send(const Address& to, Bytes packet) = 0;
};

// memberlist DefaultLANConfig values that matter here.
struct Config {
  std::string name;
  Address advertise;
  Bytes meta;  // serf: encode_tags(...)
  Bytes vsn = Bytes(std::begin(memberlist::kSerfAgentVsn), std::end(memberlist::kSerfAgentVsn));
  Duration probe_interval = 1s;
  Duration probe_timeout = 500ms;
  int indirect_checks = 3;
  int suspicion_mult = 4;
  int suspicion_max_timeout_mult = 6;
  int awareness_max_multiplier = 8;
  Duration gossip_interval = 200ms;
  int gossip_nodes = 3;
  Duration gossip_to_the_dead_time = 30s;
  int retransmit_mult = 4;
  std::size_t udp_buffer_size = memberlist::kUdpBufferSize;
  uint64_t seed = 1;
  const Keyring* keyring = nullptr;  // encrypt everything sent, require it on receive
};

enum class State : uint8_t { kAlive, kSuspect, kDead, kLeft };
const char* state_name(State s);

struct Node {
  std::string name;
  Address addr;
  Bytes meta;
  Bytes vsn;
  uint32_t incarnation = 0;
  State state = State::kAlive;
  TimePoint state_change{};
  uint8_t pmax() const { return vsn.size() >= 2 ? vsn[1] : 0; }
};

// Lifeguard suspicion timeout: starts at max and shrinks towards min with
// each independent confirmation (k expected).
Duration suspicion_timeout(Duration min, Duration max, int confirmations, int expected);
// min = SuspicionMult × max(1, log10(max(1, n))) × ProbeInterval.
Duration suspicion_min(int mult, std::size_t n, Duration probe_interval);
// RetransmitMult × ceil(log10(n + 1)).
int retransmit_limit(int mult, std::size_t n);

// Broadcasts waiting to be sent, least-transmitted first, each dropped after
// its retransmit limit. A new item with the same non-empty key replaces the
// old one (memberlist: newer news about a node invalidates older).
class BroadcastQueue {
 public:
  void queue(std::string key, Bytes msg);
  // Takes messages fitting `budget` bytes in total, `overhead` extra each,
  // counting one transmission for each; limit from retransmit_limit().
  std::vector<Bytes> take(std::size_t overhead, std::size_t budget, int limit);
  std::size_t size() const { return items_.size(); }

 private:
  struct Item {
    std::string key;
    Bytes msg;
    int transmits = 0;
    uint64_t id = 0;  // newer first among equal transmits
  };
  std::vector<Item> items_;
  uint64_t next_id_ = 0;
};

class Swim {
 public:
  struct Callbacks {
    std::function<void(const Node&)> on_join;           // new node or back from dead/left
    std::function<void(const Node&)> on_update;         // meta changed (higher incarnation)
    std::function<void(const Node&)> on_leave;          // dead or left (state says which)
    std::function<void(const Bytes&)> on_user_message;  // serf payloads
  };

  Swim(Config cfg, Transport& transport, Callbacks cb, TimePoint now);

  // One datagram as received from the network (still encrypted if keyed).
  void handle_packet(const Address& from, ByteView packet, TimePoint now);
  // Runs due probe/gossip/suspicion work. Call at least every gossip_interval
  // (or at next_deadline()).
  void tick(TimePoint now);
  TimePoint next_deadline() const;

  // Push/pull support for the TCP layer.
  std::vector<memberlist::PushNodeState> local_state() const;
  void merge_remote_state(const std::vector<memberlist::PushNodeState>& remote, TimePoint now);

  // Queues a serf message (payload of a memberlist user message) for gossip.
  void broadcast_user(Bytes serf_payload);
  // New meta (tags): bumps our incarnation and gossips alive.
  void update_meta(Bytes meta, TimePoint now);
  // Graceful leave: gossips dead{Node: self, From: self}.
  void leave(TimePoint now);

  const Node* find(const std::string& name) const;
  const std::map<std::string, Node>& nodes() const { return nodes_; }
  const Node& self() const { return nodes_.at(cfg_.name); }
  int awareness() const { return awareness_; }
  std::size_t pending_broadcasts() const { return broadcasts_.size(); }

 private:
  struct Probe {
    std::string target;
    uint32_t seq = 0;
    TimePoint sent{};
    bool acked = false;
    bool indirect_sent = false;
    int expected_nacks = 0;
    int nacks = 0;
    TimePoint deadline{};  // end of the probe interval
  };
  // An indirect ping we perform on someone's behalf.
  struct Relay {
    Address requester;
    uint32_t requester_seq = 0;
    bool want_nack = false;
    TimePoint deadline{};
  };
  struct Suspicion {
    TimePoint start{};
    Duration min{};
    Duration max{};
    int expected = 0;
    std::vector<std::string> confirmers;
    TimePoint deadline() const;
  };

  void dispatch(const Address& from, const memberlist::Message& m, TimePoint now);
  void on_ping(const Address& from, const memberlist::Ping& p);
  void on_indirect_ping(const Address& from, const memberlist::IndirectPing& p, TimePoint now);
  void on_ack(uint32_t seq, TimePoint now);
  void on_nack(uint32_t seq);
  void on_alive(const memberlist::Alive& a, bool bootstrap, TimePoint now);
  void on_suspect(const memberlist::Suspect& s, TimePoint now);
  void on_dead(const memberlist::Dead& d, TimePoint now);
  void refute(uint32_t accused_incarnation, TimePoint now);

  void start_probe(TimePoint now);
  void probe_timeout_expired(TimePoint now);
  void finish_probe(TimePoint now);
  void gossip(TimePoint now);
  void check_suspicions(TimePoint now);
  void adjust_awareness(int delta);
  Duration scaled(Duration d) const { return d * (awareness_ + 1); }

  // Sends msg plus piggy-backed broadcasts to addr.
  void send_with_piggyback(const Address& to, Bytes msg, bool crc);
  void send_raw(const Address& to, Bytes packet);
  void broadcast(const std::string& node, Bytes msg) { broadcasts_.queue(node, std::move(msg)); }
  memberlist::Alive self_alive() const;
  std::vector<const Node*> live_peers() const;  // alive or suspect, not self
  int current_retransmit_limit() const;

  Config cfg_;
  Transport& transport_;
  Callbacks cb_;
  std::mt19937_64 rng_;
  std::map<std::string, Node> nodes_;
  std::map<std::string, Suspicion> suspicions_;
  BroadcastQueue broadcasts_;
  std::vector<std::string> probe_order_;
  std::size_t probe_index_ = 0;
  std::optional<Probe> probe_;
  std::map<uint32_t, Relay> relays_;  // our seq -> requester
  uint32_t seq_ = 0;
  int awareness_ = 0;
  TimePoint next_probe_{};
  TimePoint next_gossip_{};
  bool left_ = false;
};

// In-memory network for tests: every Swim gets an endpoint; packets are
// queued and delivered by deliver(). Links can be cut per direction.
class InMemoryNetwork {
 public:
  class Endpoint : public Transport {
   public:
    Endpoint(InMemoryNetwork& net, Address self) : net_(net), self_(std::move(self)) {}
    void send(const Address& to, Bytes packet) override;

   private:
    InMemoryNetwork& net_;
    Address self_;
  };

  Endpoint& endpoint(const Address& a);
  void attach(const Address& a, Swim* swim) { members_[a] = swim; }
  // Packets from `from` to `to` are dropped while cut.
  void cut(const Address& from, const Address& to, bool cut_it);
  // Drops everything to and from a.
  void isolate(const Address& a, bool isolated);
  // Delivers every queued packet (including ones queued while delivering).
  std::size_t deliver(TimePoint now);
  std::size_t sent() const { return sent_; }
  std::size_t dropped() const { return dropped_; }

 private:
  struct Packet {
    Address from;
    Address to;
    Bytes bytes;
  };
  bool blocked(const Address& from, const Address& to) const;
  std::map<Address, std::unique_ptr<Endpoint>> endpoints_;
  std::map<Address, Swim*> members_;
  std::deque<Packet> queue_;
  std::vector<std::pair<Address, Address>> cuts_;
  std::vector<Address> isolated_;
  std::size_t sent_ = 0;
  std::size_t dropped_ = 0;
};

}  // namespace herd::membership::swim
