// membership/swim_sim.cpp — see swim_sim.h.
#include "membership/swim_sim.h"

#include <algorithm>

namespace herd::membership::swim {

namespace {

// Member i lives at 10.x.y.z:7946 with x.y.z = i + 1.
Address sim_address(std::size_t i) {
  const std::size_t v = i + 1;
  return Address{Bytes{10, static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
                       static_cast<uint8_t>(v)},
                 7946};
}

}  // namespace

std::size_t Simulation::index_of(const Address& a) const {
  return ((std::size_t{a.ip[1]} << 16) | (std::size_t{a.ip[2]} << 8) | a.ip[3]) - 1;
}

Simulation::Simulation(const SimOptions& opt) : opt_(opt), rng_(opt.seed) {
  net_.set_link_model({opt.loss, opt.min_latency, opt.max_latency, opt.seed ^ 0x9e3779b97f4a7c15});
  net_.set_tcp_pings(opt.tcp_pings);
  net_.set_observer([this](const Address& a) { schedule(index_of(a)); });
  // Each member starts at a random point of the first probe interval, so
  // that probes and gossip rounds are not in lockstep.
  auto phase = std::uniform_int_distribution<Duration::rep>(
      0, std::chrono::duration_cast<Duration>(opt_.timing.probe_interval).count() - 1);
  std::vector<TimePoint> starts;
  for (std::size_t i = 0; i < opt_.members; ++i)
    starts.push_back(TimePoint{} + Duration(phase(rng_)));
  quiet_ = true;
  for (std::size_t i = 0; i < opt_.members; ++i) create(starts[i]);
  // Tables that already agree: everyone merges everyone's alive entry, and
  // the news of it is no longer being gossiped.
  std::vector<memberlist::PushNodeState> all;
  for (const Slot& s : slots_) {
    const auto mine = s.swim->local_state();
    all.insert(all.end(), mine.begin(), mine.end());
  }
  // In slices, so that the broadcast queue (linear in its length) stays short.
  constexpr std::size_t kSlice = 64;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    for (std::size_t from = 0; from < all.size(); from += kSlice) {
      const auto first = all.begin() + static_cast<std::ptrdiff_t>(from);
      const auto last =
          all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), from + kSlice));
      slots_[i].swim->merge_remote_state(std::vector<memberlist::PushNodeState>(first, last),
                                         starts[i]);
      slots_[i].swim->clear_broadcasts();
    }
  }
  quiet_ = false;
  for (std::size_t i = 0; i < slots_.size(); ++i) schedule(i);
}

Simulation::~Simulation() = default;

std::size_t Simulation::create(TimePoint at) {
  const std::size_t i = slots_.size();
  Slot s;
  s.name = "n" + std::to_string(i);
  s.addr = sim_address(i);
  Config cfg;
  cfg.name = s.name;
  cfg.advertise = s.addr;
  cfg.probe_interval = opt_.timing.probe_interval;
  cfg.probe_timeout = opt_.timing.probe_timeout;
  cfg.gossip_interval = opt_.timing.gossip_interval;
  cfg.gossip_to_the_dead_time = opt_.timing.gossip_to_the_dead_time;
  cfg.gossip_nodes = opt_.timing.gossip_nodes;
  cfg.indirect_checks = opt_.timing.indirect_checks;
  cfg.retransmit_mult = opt_.timing.retransmit_mult;
  cfg.suspicion_mult = opt_.timing.suspicion_mult;
  cfg.disable_tcp_pings = !opt_.tcp_pings;
  cfg.seed = rng_();
  Swim::Callbacks cb;
  cb.on_join = [this, i](const Node& n) {
    if (!quiet_ && on_change_) on_change_(Change{i, n, now_});
  };
  cb.on_leave = cb.on_join;
  s.swim = std::make_unique<Swim>(cfg, net_.endpoint(s.addr), std::move(cb), at);
  net_.attach(s.addr, s.swim.get());
  slots_.push_back(std::move(s));
  const Duration pp = push_pull_interval(std::max(opt_.members, i + 1));
  push(Event{at + Duration(std::uniform_int_distribution<Duration::rep>(0, pp.count() - 1)(rng_)),
             i, true});
  return i;
}

std::size_t Simulation::add_member() {
  const std::size_t i = create(now_);
  schedule(i);
  return i;
}

Duration Simulation::push_pull_interval(std::size_t members) const {
  const Duration d = opt_.timing.push_pull_interval;
  return opt_.scale_push_pull ? push_pull_scale(d, members) : d;
}

void Simulation::push(Event e) {
  heap_.push_back(e);
  std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
}

void Simulation::schedule(std::size_t i) {
  Slot& s = slots_[i];
  if (s.killed) return;
  TimePoint t = std::max(s.swim->next_deadline(), now_);
  if (t == s.tick_at) return;
  s.tick_at = t;
  push(Event{t, i, false});
}

void Simulation::exchange(std::size_t a, std::size_t b, bool join) {
  // a sends its state, b merges it and replies with its own (taken before
  // the merge, as memberlist's stream handler does), a merges that.
  const auto sa = slots_[a].swim->local_state();
  const auto sb = slots_[b].swim->local_state();
  push_pull_bytes_ += memberlist::encode_push_pull({join, sa, {}}).size();
  push_pull_bytes_ += memberlist::encode_push_pull({join, sb, {}}).size();
  ++push_pulls_;
  slots_[b].swim->merge_remote_state(sa, now_);
  slots_[a].swim->merge_remote_state(sb, now_);
  schedule(a);
  schedule(b);
}

void Simulation::join(std::size_t who, std::size_t seed) { exchange(who, seed, true); }

void Simulation::push_pull(std::size_t i) {
  const Swim& m = *slots_[i].swim;
  std::vector<const Node*> peers;
  for (const auto& [name, n] : m.nodes())
    if (name != slots_[i].name && n.state == State::kAlive) peers.push_back(&n);
  if (!peers.empty()) {
    const Node* n = peers[std::uniform_int_distribution<std::size_t>(0, peers.size() - 1)(rng_)];
    const std::size_t peer = index_of(n->addr);
    if (peer < slots_.size() && !slots_[peer].killed) exchange(i, peer, false);
  }
  push(Event{now_ + push_pull_interval(m.nodes().size()), i, true});
}

void Simulation::kill(std::size_t who) {
  slots_[who].killed = true;
  net_.isolate(slots_[who].addr, true);
}

bool Simulation::run_until(TimePoint until, const std::function<bool()>& stop) {
  for (;;) {
    while (!heap_.empty()) {  // drop superseded ticks and events of killed members
      const Event& e = heap_.front();
      const Slot& s = slots_[e.member];
      if (!s.killed && (e.push_pull || e.t == s.tick_at)) break;
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
      heap_.pop_back();
    }
    const TimePoint te = heap_.empty() ? TimePoint::max() : heap_.front().t;
    const TimePoint tn = net_.next_due().value_or(TimePoint::max());
    const TimePoint t = std::min(te, tn);
    if (t > until) break;
    now_ = t;
    net_.set_clock(now_);
    if (tn <= te) {
      net_.deliver(now_);
    } else {
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
      const Event e = heap_.back();
      heap_.pop_back();
      if (e.push_pull) {
        push_pull(e.member);
      } else {
        Slot& s = slots_[e.member];
        s.tick_at = TimePoint::max();
        s.swim->tick(now_);
        schedule(e.member);
        // A member with nothing due now (one that left) is not ticked again
        // in the same instant.
        if (s.tick_at == now_) {
          s.tick_at = now_ + std::chrono::milliseconds(1);
          push(Event{s.tick_at, e.member, false});
        }
      }
    }
    if (stop && stop()) return true;
  }
  now_ = std::max(now_, until);
  net_.set_clock(now_);
  return false;
}

std::size_t Simulation::count_seeing(std::size_t subject, State st) const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (i == subject || slots_[i].killed) continue;
    const Node* node = slots_[i].swim->find(slots_[subject].name);
    const State seen = node ? node->state : State::kDead;
    n += seen == st;
  }
  return n;
}

Simulation::Totals Simulation::totals() const {
  Totals t;
  t.udp_packets = net_.sent();
  t.udp_bytes = net_.sent_bytes();
  t.udp_lost = net_.lost();
  t.push_pulls = push_pulls_;
  t.push_pull_bytes = push_pull_bytes_;
  for (const Slot& s : slots_) {
    const auto& c = s.swim->counters();
    t.probes += c.probes;
    t.suspicions += c.suspicions;
    t.deaths_declared += c.deaths_declared;
    t.refutations += c.refutations;
    t.tcp_fallback_pings += c.tcp_fallback_pings;
  }
  return t;
}

}  // namespace herd::membership::swim
