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
// config. TCP is not here: the stream layer calls local_state()/
// merge_remote_state() for push/pull, and performs the TCP fallback ping
// (Transport::tcp_ping, answered through tcp_ping_result()).
//
// Dead and left nodes are dropped from the table GossipToTheDeadTime after
// their state change (memberlist's resetNodes), so that a node coming back
// after a partition is a new join whatever its incarnation.
//
// TCP fallback ping (memberlist's probeNode): when the direct ping times
// out, the target (protocol max >= 3, unless disable_tcp_pings) is also
// pinged over TCP, in parallel with the indirect pings and bounded by the
// probe interval; an ack that way ends the probe as a success (health
// improves, missed nacks are not counted, no suspicion), as memberlist.
//
// Ping delegate (memberlist's): every ack we send carries
// Callbacks::ack_payload() (serf: our network coordinate); a direct probe
// acked by its target reports the RTT and the target's payload through
// Callbacks::on_ping_complete. Alive messages and push/pull entries for an
// invalid member (valid_member() below) are dropped and counted.
//
// Not yet implemented: version-compatibility checks on merge. The Serf layer
// above (serf_layer.h: intents, Lamport clocks) consumes on_user_message.
//
// Thread rules: not thread-safe. One thread (the gossip/control thread)
// calls every member function of a Swim; callbacks run on that thread,
// inside the call that triggered them.
#pragma once

#include <chrono>
#include <cstdint>
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
  // TCP fallback ping: sends `ping` over a stream to `to` and waits for an
  // ack with its seq until `deadline`, then reports through
  // Swim::tcp_ping_result() on the Swim's thread, later, never from inside
  // this call. Returns false when not started (not supported).
  virtual bool tcp_ping(const Address& to, const memberlist::Ping& ping, TimePoint deadline) {
    (void)to, (void)ping, (void)deadline;
    return false;
  }
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
  bool disable_tcp_pings = false;    // memberlist DisableTcpPings
  uint32_t incarnation = 1;          // ours at start (a reload carries it over)
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

// Whether an alive message or push/pull entry may create or move a member:
// a non-empty name, a 4- or 16-byte IP that is not all zeros, a port > 0.
bool valid_member(const std::string& name, const Bytes& ip, uint16_t port);

// Lifeguard suspicion timeout: starts at max and shrinks towards min with
// each independent confirmation (k expected).
Duration suspicion_timeout(Duration min, Duration max, int confirmations, int expected);
// min = SuspicionMult × max(1, log10(max(1, n))) × ProbeInterval.
Duration suspicion_min(int mult, std::size_t n, Duration probe_interval);
// RetransmitMult × ceil(log10(n + 1)).
int retransmit_limit(int mult, std::size_t n);
// memberlist's pushPullScale: the push/pull interval × (ceil(log2(n) −
// log2(32)) + 1) beyond 32 members, so that full state exchanges do not
// grow with the cluster (the agent's periodic push/pull uses it; swim_sim.h
// may).
Duration push_pull_scale(Duration interval, std::size_t n);

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
  void clear() { items_.clear(); }

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
  // What this member did, for the stats page and /metrics. Written by the
  // thread that drives the Swim (see thread rules); copy it there.
  struct Counters {
    uint64_t probes = 0;              // direct probes (pings) started
    uint64_t indirect_probes = 0;     // indirect ping requests sent to peers
    uint64_t suspicions = 0;          // suspicions raised by our own failed probes
    uint64_t suspects_seen = 0;       // members that entered suspect in our table
    uint64_t deaths_declared = 0;     // suspicions of ours that timed out (-> dead)
    uint64_t refutations = 0;         // alive{higher incarnation} sent about ourselves
    uint64_t gossip_packets = 0;      // gossip datagrams sent (broadcast rounds)
    uint64_t tcp_fallback_pings = 0;  // TCP fallback pings started (direct ping timed out)
    uint64_t tcp_fallback_acks = 0;   // of those, answered with an ack in time
    uint64_t invalid_members = 0;     // alive/push-pull entries dropped: empty name,
                                      // address not 4/16 bytes or unspecified, port 0
  };

  struct Callbacks {
    std::function<void(const Node&)> on_join;           // new node or back from dead/left
    std::function<void(const Node&)> on_update;         // meta changed (higher incarnation)
    std::function<void(const Node&)> on_leave;          // dead or left (state says which)
    std::function<void(const Bytes&)> on_user_message;  // serf payloads
    // memberlist's PingDelegate: the payload of every ack we send (serf: our
    // coordinate), and each direct probe's ack with its RTT and payload.
    std::function<Bytes()> ack_payload;
    std::function<void(const Node&, Duration rtt, const Bytes& payload)> on_ping_complete;
    // memberlist's conflict delegate: an alive message claims `existing`'s
    // name (ours included) from another address; the claim is ignored.
    std::function<void(const Node& existing, const Address& other)> on_conflict;
  };

  Swim(Config cfg, Transport& transport, Callbacks cb, TimePoint now);

  // One datagram as received from the network (still encrypted if keyed).
  void handle_packet(const Address& from, ByteView packet, TimePoint now);
  // Outcome of a Transport::tcp_ping (ok: the ack with that seq came back
  // before the deadline).
  void tcp_ping_result(uint32_t seq, bool ok, TimePoint now);
  // Runs due probe/gossip/suspicion work. Call at least every gossip_interval
  // (or at next_deadline()).
  void tick(TimePoint now);
  TimePoint next_deadline() const;

  // Push/pull support for the TCP layer.
  std::vector<memberlist::PushNodeState> local_state() const;
  void merge_remote_state(const std::vector<memberlist::PushNodeState>& remote, TimePoint now);

  // Drops every pending broadcast: a simulation (swim_sim.h) that starts
  // from a cluster whose tables already agree, as after the news has spread.
  void clear_broadcasts() { broadcasts_.clear(); }
  // Queues a serf message (payload of a memberlist user message) for gossip.
  void broadcast_user(Bytes serf_payload);
  // New meta (tags): bumps our incarnation and gossips alive.
  void update_meta(Bytes meta, TimePoint now);
  // Graceful leave: gossips dead{Node: self, From: self}.
  void leave(TimePoint now);
  // Drops a dead or left node from the table (serf's reap); false if it is
  // unknown, alive or suspect. A later alive about it is a new join.
  bool forget(const std::string& name);

  const Node* find(const std::string& name) const;
  const std::map<std::string, Node>& nodes() const { return nodes_; }
  const Node& self() const { return nodes_.at(cfg_.name); }
  int awareness() const { return awareness_; }
  std::size_t pending_broadcasts() const { return broadcasts_.size(); }
  const Counters& counters() const { return counters_; }
  // Current retransmit limit: RetransmitMult × ceil(log10(members + 1)).
  int retransmit_limit_now() const { return current_retransmit_limit(); }

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
  // Nacks still expected for a failed probe. Relays send them ProbeTimeout
  // after our indirect ping reached them, i.e. just after the probe's
  // deadline; memberlist counts them after its TCP fallback wait, we give
  // them until `until` (ProbeTimeout more) before Lifeguard counts the
  // missing ones against our own health.
  struct NackTally {
    uint32_t seq = 0;
    int expected = 0;
    int nacks = 0;
    TimePoint until{};
  };
  void settle_nacks();
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
  void on_ack(uint32_t seq, const std::optional<Bytes>& payload, TimePoint now);
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
  // memberlist's resetNodes: dead/left nodes are dropped once they have been
  // so for GossipToTheDeadTime (run when a probe round wraps).
  void drop_old_dead(TimePoint now);
  void adjust_awareness(int delta);
  Duration scaled(Duration d) const { return d * (awareness_ + 1); }

  // Sends msg plus piggy-backed broadcasts to addr.
  void send_with_piggyback(const Address& to, Bytes msg, bool crc);
  void send_raw(const Address& to, Bytes packet);
  void broadcast(const std::string& node, Bytes msg) { broadcasts_.queue(node, std::move(msg)); }
  memberlist::Alive self_alive() const;
  // Up to k distinct members (never us) for which `want` is true, at
  // random: all candidates when there are few, else memberlist's
  // kRandomNodes (up to 3 × members random picks), not a table scan.
  std::vector<const Node*> random_nodes(std::size_t k,
                                        const std::function<bool(const Node&)>& want);
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
  std::optional<NackTally> nack_tally_;
  std::map<uint32_t, Relay> relays_;  // our seq -> requester
  uint32_t seq_ = 0;
  int awareness_ = 0;
  TimePoint next_probe_{};
  TimePoint next_gossip_{};
  bool left_ = false;
  Counters counters_;
};

// In-memory network for tests and simulations (membership/swim_sim.h):
// every Swim gets an endpoint; packets are queued and delivered by
// deliver(). Links can be cut per direction. By default a packet is due at
// once; with a LinkModel each UDP packet is lost with a probability or due
// after a random latency from the clock (set_clock()) at which it was sent.
class InMemoryNetwork {
 public:
  class Endpoint : public Transport {
   public:
    Endpoint(InMemoryNetwork& net, Address self) : net_(net), self_(std::move(self)) {}
    void send(const Address& to, Bytes packet) override;
    bool tcp_ping(const Address& to, const memberlist::Ping& ping, TimePoint deadline) override;

   private:
    InMemoryNetwork& net_;
    Address self_;
  };

  // Loss and latency of every UDP link. TCP pings are never lost (TCP
  // retransmits) and are answered after two latencies (a round trip).
  struct LinkModel {
    double loss = 0;  // probability that a datagram is dropped
    Duration min_latency{};
    Duration max_latency{};  // uniform in [min, max]
    uint64_t seed = 1;
  };

  Endpoint& endpoint(const Address& a);
  void attach(const Address& a, Swim* swim) { members_[a] = swim; }
  void set_link_model(const LinkModel& m);
  // The time packets sent from now on count as sent at (default: epoch).
  void set_clock(TimePoint now) { clock_ = now; }
  // Packets from `from` to `to` are dropped while cut.
  void cut(const Address& from, const Address& to, bool cut_it);
  // TCP fallback pings from `from` to `to` fail while cut (cut() only cuts
  // UDP). A TCP ping succeeds when neither end is isolated, the link is not
  // TCP-cut, and the target is attached and named as the ping says.
  void cut_tcp(const Address& from, const Address& to, bool cut_it);
  // Whether endpoints start TCP pings at all (default true).
  void set_tcp_pings(bool on) { tcp_pings_ = on; }
  // Drops everything to and from a (UDP and TCP).
  void isolate(const Address& a, bool isolated);
  // Delivers every packet due by `now` (including ones queued while
  // delivering), then answers the TCP pings due by `now`.
  std::size_t deliver(TimePoint now);
  // When the earliest queued packet or TCP ping answer is due.
  std::optional<TimePoint> next_due() const;
  // Called with the member each packet was delivered to and each TCP ping
  // answer went to, after it handled it (simulations reschedule it).
  void set_observer(std::function<void(const Address&)> f) { observer_ = std::move(f); }
  std::size_t sent() const { return sent_; }
  std::size_t sent_bytes() const { return sent_bytes_; }  // UDP payloads, as encoded
  std::size_t lost() const { return lost_; }              // dropped by the LinkModel
  std::size_t dropped() const { return dropped_; }        // cut, isolated or no member
  std::size_t tcp_pings() const { return tcp_pings_sent_; }
  std::size_t tcp_pings_to(const Address& a) const {
    auto it = tcp_pings_to_.find(a);
    return it == tcp_pings_to_.end() ? 0 : it->second;
  }

 private:
  struct Packet {
    TimePoint due;
    uint64_t order = 0;  // FIFO among packets due at the same time
    Address from;
    Address to;
    Bytes bytes;
  };
  struct Later {
    bool operator()(const Packet& a, const Packet& b) const {
      return a.due != b.due ? a.due > b.due : a.order > b.order;
    }
  };
  struct TcpPing {
    Address from;
    Address to;
    memberlist::Ping ping;
    TimePoint deadline;
    TimePoint due;
  };
  bool blocked(const Address& from, const Address& to) const;
  Duration latency();
  std::map<Address, std::unique_ptr<Endpoint>> endpoints_;
  std::map<Address, Swim*> members_;
  std::vector<Packet> queue_;  // a heap ordered by Later
  std::vector<TcpPing> tcp_queue_;
  std::vector<std::pair<Address, Address>> cuts_;
  std::vector<std::pair<Address, Address>> tcp_cuts_;
  bool tcp_pings_ = true;
  std::size_t tcp_pings_sent_ = 0;
  std::map<Address, std::size_t> tcp_pings_to_;
  std::vector<Address> isolated_;
  LinkModel link_;
  std::mt19937_64 link_rng_{1};
  TimePoint clock_{};
  uint64_t order_ = 0;
  std::function<void(const Address&)> observer_;
  std::size_t sent_ = 0;
  std::size_t sent_bytes_ = 0;
  std::size_t lost_ = 0;
  std::size_t dropped_ = 0;
};

}  // namespace herd::membership::swim
