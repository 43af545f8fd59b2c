// membership/swim_sim.h — a discrete-event simulation of a cluster of
// swim::Swim members on the InMemoryNetwork, for bench/swim_sim.cpp (joins,
// failures, false positives and bytes at N = 1,000 and more) and for the
// unit tests that check the same properties at small N.
//
// The virtual clock jumps from one event to the next: a member's
// next_deadline(), a packet's arrival (each datagram lost with a probability
// or delayed by a uniform latency, InMemoryNetwork::LinkModel) or a member's
// push/pull. Push/pull is the agent's (every PushPullInterval with a random
// alive member: both merge the other's local_state(), the bytes are those
// of memberlist::encode_push_pull without serf's user state), or
// memberlist's interval scaled with the cluster size (pushPullScale).
// Members start from tables that already agree (every member alive,
// broadcast queues empty) at random phases within the first probe
// interval. Same options, same seed: same run, event for event.
//
// Thread rules: not thread-safe; the thread that owns a Simulation runs
// every Swim in it and its callbacks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "membership/settings.h"
#include "membership/swim.h"

namespace herd::membership::swim {

struct SimOptions {
  std::size_t members = 100;
  double loss = 0;  // per datagram, every link
  Duration min_latency = std::chrono::microseconds(500);
  Duration max_latency = std::chrono::milliseconds(2);
  uint64_t seed = 1;
  bool tcp_pings = true;         // memberlist's TCP fallback ping (DisableTcpPings = false)
  bool scale_push_pull = false;  // memberlist's pushPullScale instead of the agent's interval
  GossipTiming timing;           // memberlist's LAN profile by default
};

class Simulation {
 public:
  // A member's table changed about another member: it became alive (a join
  // or back from dead) or dead/left. `subject` is valid during the call.
  struct Change {
    std::size_t observer;
    const Node& subject;
    TimePoint at;
  };
  struct Totals {
    uint64_t udp_packets = 0;
    uint64_t udp_bytes = 0;  // payloads as encoded, without IP/UDP headers
    uint64_t udp_lost = 0;
    uint64_t push_pulls = 0;
    uint64_t push_pull_bytes = 0;  // both directions
    uint64_t probes = 0;
    uint64_t suspicions = 0;       // raised by members' own failed probes
    uint64_t deaths_declared = 0;  // suspicion timeouts (member declared dead)
    uint64_t refutations = 0;
    uint64_t tcp_fallback_pings = 0;
  };

  explicit Simulation(const SimOptions& opt);
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  // A new member known to nobody, not yet joined; returns its index.
  std::size_t add_member();
  // `who` joins through `seed`: one push/pull exchange, as `-join`.
  void join(std::size_t who, std::size_t seed);
  // A crash: the member stops, every packet to or from it is dropped.
  void kill(std::size_t who);
  // Runs events until `until`, or until `stop` returns true after an event
  // (then true).
  bool run_until(TimePoint until, const std::function<bool()>& stop = {});
  void run_for(Duration d) { run_until(now_ + d); }

  void on_change(std::function<void(const Change&)> f) { on_change_ = std::move(f); }
  TimePoint now() const { return now_; }
  std::size_t size() const { return slots_.size(); }
  const Swim& member(std::size_t i) const { return *slots_[i].swim; }
  const std::string& name(std::size_t i) const { return slots_[i].name; }
  bool killed(std::size_t i) const { return slots_[i].killed; }
  // Members (not killed, other than `subject`) whose table has `subject` in
  // state `s` (kDead also counts members that already forgot it).
  std::size_t count_seeing(std::size_t subject, State s) const;
  Totals totals() const;
  const SimOptions& options() const { return opt_; }

 private:
  struct Slot {
    std::string name;
    Address addr;
    std::unique_ptr<Swim> swim;
    bool killed = false;
    TimePoint tick_at = TimePoint::max();  // the tick event in the heap that counts
  };
  struct Event {
    TimePoint t;
    std::size_t member;
    bool push_pull;
    bool operator>(const Event& o) const {
      if (t != o.t) return t > o.t;
      if (member != o.member) return member > o.member;
      return push_pull > o.push_pull;
    }
  };
  std::size_t create(TimePoint at);
  void schedule(std::size_t i);
  void push(Event e);
  void push_pull(std::size_t i);
  void exchange(std::size_t a, std::size_t b, bool join);
  Duration push_pull_interval(std::size_t members) const;
  std::size_t index_of(const Address& a) const;

  SimOptions opt_;
  InMemoryNetwork net_;
  std::mt19937_64 rng_;
  std::vector<Slot> slots_;
  std::vector<Event> heap_;  // min-heap (std::greater)
  TimePoint now_{};
  bool quiet_ = false;  // no Change reports while the tables are built
  uint64_t push_pulls_ = 0;
  uint64_t push_pull_bytes_ = 0;
  std::function<void(const Change&)> on_change_;
};

}  // namespace herd::membership::swim
