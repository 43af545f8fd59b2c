// membership/swim.cpp — see swim.h. Rules follow memberlist 0.2.x as
// described in docs/serf-protocol.md §6.
#include "membership/swim.h"

#include <algorithm>
#include <cmath>

namespace herd::membership::swim {

using memberlist::Alive;
using memberlist::Dead;
using memberlist::Suspect;

std::string Address::to_string() const {
  std::string s;
  if (ip.size() == 4) {
    for (std::size_t i = 0; i < 4; ++i) {
      if (i) s += '.';
      s += std::to_string(ip[i]);
    }
  } else {
    s = "[ipv6]";
  }
  return s + ":" + std::to_string(port);
}

const char* state_name(State s) {
  switch (s) {
    case State::kAlive:
      return "alive";
    case State::kSuspect:
      return "suspect";
    case State::kDead:
      return "dead";
    case State::kLeft:
      return "left";
  }
  return "?";
}

Duration suspicion_timeout(Duration min, Duration max, int confirmations, int expected) {
  if (expected < 1) return min;
  const double frac = std::log(confirmations + 1.0) / std::log(expected + 1.0);
  const auto span = std::chrono::duration<double>(max - min);
  auto t = max - std::chrono::duration_cast<Duration>(span * frac);
  return std::max(t, min);
}

Duration suspicion_min(int mult, std::size_t n, Duration probe_interval) {
  const double node_scale = std::max(1.0, std::log10(std::max(1.0, static_cast<double>(n))));
  return std::chrono::duration_cast<Duration>(probe_interval * (mult * node_scale));
}

int retransmit_limit(int mult, std::size_t n) {
  return mult * static_cast<int>(std::ceil(std::log10(static_cast<double>(n) + 1.0)));
}

Duration push_pull_scale(Duration interval, std::size_t n) {
  if (n <= 32) return interval;
  const double mult = std::ceil(std::log2(static_cast<double>(n)) - std::log2(32.0)) + 1.0;
  return interval * static_cast<int>(mult);
}

// ---- BroadcastQueue -------------------------------------------------------------

void BroadcastQueue::queue(std::string key, Bytes msg) {
  if (!key.empty()) {
    std::erase_if(items_, [&](const Item& i) { return i.key == key; });
  }
  items_.push_back(Item{std::move(key), std::move(msg), 0, next_id_++});
}

std::vector<Bytes> BroadcastQueue::take(std::size_t overhead, std::size_t budget, int limit) {
  std::sort(items_.begin(), items_.end(), [](const Item& a, const Item& b) {
    return a.transmits != b.transmits ? a.transmits < b.transmits : a.id > b.id;
  });
  std::vector<Bytes> out;
  for (auto& item : items_) {
    const std::size_t cost = item.msg.size() + overhead;
    if (cost > budget) continue;
    budget -= cost;
    out.push_back(item.msg);
    ++item.transmits;
  }
  std::erase_if(items_, [&](const Item& i) { return i.transmits >= limit; });
  return out;
}

// ---- Swim -------------------------------------------------------------------------

TimePoint Swim::Suspicion::deadline() const {
  return start + suspicion_timeout(min, max, static_cast<int>(confirmers.size()) - 1, expected);
}

Swim::Swim(Config cfg, Transport& transport, Callbacks cb, TimePoint now)
    : cfg_(std::move(cfg)), transport_(transport), cb_(std::move(cb)), rng_(cfg_.seed) {
  Node self;
  self.name = cfg_.name;
  self.addr = cfg_.advertise;
  self.meta = cfg_.meta;
  self.vsn = cfg_.vsn;
  self.incarnation = std::max<uint32_t>(1, cfg_.incarnation);
  self.state_change = now;
  nodes_.emplace(self.name, std::move(self));
  broadcast(cfg_.name, memberlist::encode(self_alive()));
  next_probe_ = now + cfg_.probe_interval;
  next_gossip_ = now + cfg_.gossip_interval;
}

const Node* Swim::find(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

Alive Swim::self_alive() const {
  const Node& me = self();
  return Alive{me.addr.ip, me.incarnation, me.meta, me.name, me.addr.port, me.vsn};
}

std::vector<const Node*> Swim::random_nodes(std::size_t k,
                                            const std::function<bool(const Node&)>& want) {
  std::vector<const Node*> out;
  const std::size_t n = probe_order_.size();  // every member but us
  if (n <= 4 * k) {                           // few members: all candidates, shuffled
    for (const auto& name : probe_order_)
      if (const Node* node = find(name); node && want(*node)) out.push_back(node);
    std::shuffle(out.begin(), out.end(), rng_);
    if (out.size() > k) out.resize(k);
    return out;
  }
  // memberlist's kRandomNodes: up to 3n random picks, without repeats.
  std::uniform_int_distribution<std::size_t> pick(0, n - 1);
  for (std::size_t i = 0; i < 3 * n && out.size() < k; ++i) {
    const Node* node = find(probe_order_[pick(rng_)]);
    if (!node || !want(*node) || std::find(out.begin(), out.end(), node) != out.end()) continue;
    out.push_back(node);
  }
  return out;
}

int Swim::current_retransmit_limit() const {
  return retransmit_limit(cfg_.retransmit_mult, nodes_.size());
}

void Swim::adjust_awareness(int delta) {
  awareness_ = std::clamp(awareness_ + delta, 0, cfg_.awareness_max_multiplier - 1);
}

TimePoint Swim::next_deadline() const {
  TimePoint t = std::min(next_probe_, next_gossip_);
  if (probe_) {
    if (!probe_->indirect_sent) t = std::min(t, probe_->sent + scaled(cfg_.probe_timeout));
    t = std::min(t, probe_->deadline);
  }
  if (nack_tally_) t = std::min(t, nack_tally_->until);
  for (const auto& [seq, r] : relays_) t = std::min(t, r.deadline);
  for (const auto& [name, s] : suspicions_) t = std::min(t, s.deadline());
  return t;
}

// ---- sending ---------------------------------------------------------------------

void Swim::send_raw(const Address& to, Bytes packet) {
  if (cfg_.keyring) packet = cfg_.keyring->encrypt_packet(packet);
  if (!packet.empty()) transport_.send(to, std::move(packet));
}

void Swim::send_with_piggyback(const Address& to, Bytes msg, bool crc) {
  const std::size_t overhead = memberlist::kCompoundHeaderOverhead +
                               memberlist::kCompoundPartOverhead + (crc ? 5 : 0) +
                               (cfg_.keyring ? kEncryptOverhead : 0);
  const std::size_t used = msg.size() + overhead;
  std::vector<Bytes> extra;
  if (used < cfg_.udp_buffer_size) {
    extra = broadcasts_.take(memberlist::kCompoundPartOverhead, cfg_.udp_buffer_size - used,
                             current_retransmit_limit());
  }
  Bytes packet;
  if (extra.empty()) {
    packet = std::move(msg);
  } else {
    extra.insert(extra.begin(), std::move(msg));
    if (extra.size() > memberlist::kMaxCompoundParts) extra.resize(memberlist::kMaxCompoundParts);
    packet = memberlist::make_compound(extra);
  }
  if (crc) packet = memberlist::wrap_crc(packet);
  send_raw(to, std::move(packet));
}

// ---- receiving -------------------------------------------------------------------

void Swim::handle_packet(const Address& from, ByteView packet, TimePoint now) {
  Bytes plain;
  if (cfg_.keyring) {
    auto p = cfg_.keyring->decrypt_packet(packet);
    if (!p) return;  // plaintext or wrong key: dropped, as memberlist does
    plain = std::move(*p);
    packet = plain;
  }
  auto decoded = memberlist::decode_packet(packet);
  if (!decoded) return;
  for (const auto& m : decoded->messages) dispatch(from, m, now);
}

void Swim::dispatch(const Address& from, const memberlist::Message& m, TimePoint now) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, memberlist::Ping>) {
          on_ping(from, v);
        } else if constexpr (std::is_same_v<T, memberlist::IndirectPing>) {
          on_indirect_ping(from, v, now);
        } else if constexpr (std::is_same_v<T, memberlist::AckResp>) {
          on_ack(v.seq_no, v.payload, now);
        } else if constexpr (std::is_same_v<T, memberlist::NackResp>) {
          on_nack(v.seq_no);
        } else if constexpr (std::is_same_v<T, Alive>) {
          on_alive(v, false, now);
        } else if constexpr (std::is_same_v<T, Suspect>) {
          on_suspect(v, now);
        } else if constexpr (std::is_same_v<T, Dead>) {
          on_dead(v, now);
        } else if constexpr (std::is_same_v<T, memberlist::UserMsg>) {
          if (cb_.on_user_message) cb_.on_user_message(v.payload);
        }
      },
      m);
}

void Swim::on_ping(const Address& from, const memberlist::Ping& p) {
  if (!p.node.empty() && p.node != cfg_.name) return;  // meant for a previous owner of the address
  Address reply = from;
  if (!p.source_addr.empty() && p.source_port != 0) reply = {p.source_addr, p.source_port};
  std::optional<Bytes> payload;
  if (cb_.ack_payload) payload = cb_.ack_payload();
  send_with_piggyback(reply, memberlist::encode(memberlist::AckResp{payload, p.seq_no}), false);
}

void Swim::on_indirect_ping(const Address& from, const memberlist::IndirectPing& p, TimePoint now) {
  const uint32_t seq = ++seq_;
  Address requester = from;
  if (!p.source_addr.empty() && p.source_port != 0) requester = {p.source_addr, p.source_port};
  relays_[seq] = Relay{requester, p.seq_no, p.nack, now + cfg_.probe_timeout};
  memberlist::Ping ping{p.node, seq, self().addr.ip, cfg_.name, self().addr.port};
  send_with_piggyback({p.target, p.port}, memberlist::encode(ping), false);
}

void Swim::on_ack(uint32_t seq, const std::optional<Bytes>& payload, TimePoint now) {
  if (probe_ && probe_->seq == seq && !probe_->acked) {
    probe_->acked = true;
    // Relayed acks carry no payload: only the target's own ack is a sample.
    if (payload && !payload->empty() && !probe_->indirect_sent && cb_.on_ping_complete)
      if (const Node* n = find(probe_->target))
        cb_.on_ping_complete(*n, now - probe_->sent, *payload);
    adjust_awareness(-1);
    probe_.reset();
  }
  if (auto it = relays_.find(seq); it != relays_.end()) {
    send_with_piggyback(
        it->second.requester,
        memberlist::encode(memberlist::AckResp{std::nullopt, it->second.requester_seq}), false);
    relays_.erase(it);
  }
}

void Swim::on_nack(uint32_t seq) {
  if (probe_ && probe_->seq == seq) ++probe_->nacks;
  if (nack_tally_ && nack_tally_->seq == seq) ++nack_tally_->nacks;
}

void Swim::refute(uint32_t accused_incarnation, TimePoint now) {
  Node& me = nodes_.at(cfg_.name);
  me.incarnation = std::max(me.incarnation + 1, accused_incarnation + 1);
  me.state_change = now;
  broadcast(cfg_.name, memberlist::encode(self_alive()));
  ++counters_.refutations;
  adjust_awareness(1);
}

bool valid_member(const std::string& name, const Bytes& ip, uint16_t port) {
  if (name.empty() || port == 0 || (ip.size() != 4 && ip.size() != 16)) return false;
  return std::any_of(ip.begin(), ip.end(), [](uint8_t b) { return b != 0; });
}

void Swim::on_alive(const Alive& a, bool bootstrap, TimePoint now) {
  if (!valid_member(a.node, a.addr, a.port)) {
    ++counters_.invalid_members;
    return;
  }
  if (a.vsn.size() >= 2 && (a.vsn[0] == 0 || a.vsn[1] == 0 || a.vsn[0] > a.vsn[1])) return;
  if (a.node == cfg_.name) {
    const Node& me = self();
    if (Address{a.addr, a.port} != me.addr) {
      // Another member claims our name: never fight it with refutations.
      if (!bootstrap && cb_.on_conflict) cb_.on_conflict(me, Address{a.addr, a.port});
      return;
    }
    if (left_ || bootstrap || a.incarnation < me.incarnation) return;
    if (a.incarnation == me.incarnation && a.meta == me.meta && a.vsn == me.vsn) return;
    refute(a.incarnation, now);
    return;
  }
  auto it = nodes_.find(a.node);
  if (it == nodes_.end()) {
    Node n{a.node, {a.addr, a.port}, a.meta, a.vsn, a.incarnation, State::kAlive, now};
    it = nodes_.emplace(a.node, std::move(n)).first;
    // At a random place in the probe order, as memberlist does: members that
    // learnt the same table in the same order must not probe in lockstep.
    probe_order_.push_back(a.node);
    const auto off = std::uniform_int_distribution<std::size_t>(0, probe_order_.size() - 1)(rng_);
    std::swap(probe_order_[off], probe_order_.back());
    broadcast(a.node, memberlist::encode(a));
    if (cb_.on_join) cb_.on_join(it->second);
    return;
  }
  Node& n = it->second;
  const Address addr{a.addr, a.port};
  const bool moved = addr != n.addr;
  if (moved && n.state != State::kLeft) {  // name conflict: keep the current owner
    if (cb_.on_conflict) cb_.on_conflict(n, addr);
    return;
  }
  if (a.incarnation <= n.incarnation && !moved) return;
  const State old = n.state;
  const bool meta_changed = a.meta != n.meta;
  n.addr = addr;
  n.meta = a.meta;
  n.vsn = a.vsn;
  n.incarnation = a.incarnation;
  if (old != State::kAlive) n.state_change = now;
  n.state = State::kAlive;
  suspicions_.erase(a.node);
  broadcast(a.node, memberlist::encode(a));
  if (old == State::kDead || old == State::kLeft) {
    if (cb_.on_join) cb_.on_join(n);
  } else if (meta_changed && cb_.on_update) {
    cb_.on_update(n);
  }
}

void Swim::on_suspect(const Suspect& s, TimePoint now) {
  auto it = nodes_.find(s.node);
  if (it == nodes_.end()) return;
  Node& n = it->second;
  if (s.incarnation < n.incarnation) return;
  if (auto t = suspicions_.find(s.node); t != suspicions_.end()) {
    Suspicion& sus = t->second;
    const bool is_new =
        std::find(sus.confirmers.begin(), sus.confirmers.end(), s.from) == sus.confirmers.end();
    if (is_new && static_cast<int>(sus.confirmers.size()) - 1 < sus.expected) {
      sus.confirmers.push_back(s.from);
      broadcast(s.node, memberlist::encode(s));
    }
    return;
  }
  if (n.state != State::kAlive) return;
  if (s.node == cfg_.name) {
    if (!left_) refute(s.incarnation, now);
    return;
  }
  broadcast(s.node, memberlist::encode(s));
  n.incarnation = s.incarnation;
  n.state = State::kSuspect;
  n.state_change = now;
  ++counters_.suspects_seen;
  const std::size_t count = nodes_.size();
  int k = cfg_.suspicion_mult - 2;
  if (static_cast<int>(count) - 2 < k) k = 0;
  Suspicion sus;
  sus.start = now;
  sus.min = suspicion_min(cfg_.suspicion_mult, count, cfg_.probe_interval);
  sus.max = sus.min * cfg_.suspicion_max_timeout_mult;
  sus.expected = k;
  sus.confirmers.push_back(s.from);
  suspicions_[s.node] = std::move(sus);
}

void Swim::on_dead(const Dead& d, TimePoint now) {
  auto it = nodes_.find(d.node);
  if (it == nodes_.end()) return;
  Node& n = it->second;
  if (d.incarnation < n.incarnation) return;
  if (n.state == State::kDead || n.state == State::kLeft) return;
  if (d.node == cfg_.name) {
    if (!left_) refute(d.incarnation, now);
    return;
  }
  broadcast(d.node, memberlist::encode(d));
  n.incarnation = d.incarnation;
  n.state = d.from == d.node ? State::kLeft : State::kDead;
  n.state_change = now;
  suspicions_.erase(d.node);
  if (cb_.on_leave) cb_.on_leave(n);
}

// ---- timers -------------------------------------------------------------------------

void Swim::tick(TimePoint now) {
  for (auto it = relays_.begin(); it != relays_.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    if (it->second.want_nack) {
      send_with_piggyback(it->second.requester,
                          memberlist::encode(memberlist::NackResp{it->second.requester_seq}),
                          false);
    }
    it = relays_.erase(it);
  }
  if (probe_ && !probe_->indirect_sent && now >= probe_->sent + scaled(cfg_.probe_timeout)) {
    probe_timeout_expired(now);
  }
  if (probe_ && now >= probe_->deadline) finish_probe(now);
  if (nack_tally_ && now >= nack_tally_->until) settle_nacks();
  if (!left_ && now >= next_probe_) {
    next_probe_ = now + scaled(cfg_.probe_interval);
    if (!probe_) start_probe(now);
  }
  check_suspicions(now);
  if (now >= next_gossip_) {
    next_gossip_ = now + cfg_.gossip_interval;
    gossip(now);
  }
}

void Swim::start_probe(TimePoint now) {
  const Node* target = nullptr;
  for (std::size_t tries = 0; tries <= probe_order_.size() && !target; ++tries) {
    if (probe_index_ >= probe_order_.size()) {
      probe_index_ = 0;
      drop_old_dead(now);
      std::shuffle(probe_order_.begin(), probe_order_.end(), rng_);
      if (probe_order_.empty()) return;
    }
    const Node* n = find(probe_order_[probe_index_++]);
    if (n && n->name != cfg_.name && (n->state == State::kAlive || n->state == State::kSuspect)) {
      target = n;
    }
  }
  if (!target) return;
  Probe p;
  p.target = target->name;
  p.seq = ++seq_;
  p.sent = now;
  p.deadline = now + scaled(cfg_.probe_interval);
  ++counters_.probes;
  const memberlist::Ping ping{target->name, p.seq, self().addr.ip, cfg_.name, self().addr.port};
  if (target->state == State::kSuspect) {
    // Give the suspect a chance to refute: ping + suspect, raw, CRC for PMax >= 5.
    const Suspect sus{cfg_.name, target->incarnation, target->name};
    Bytes packet = memberlist::make_compound(
        std::vector<Bytes>{memberlist::encode(ping), memberlist::encode(sus)});
    if (target->pmax() >= 5) packet = memberlist::wrap_crc(packet);
    send_raw(target->addr, std::move(packet));
  } else {
    send_with_piggyback(target->addr, memberlist::encode(ping), false);
  }
  probe_ = p;
}

void Swim::probe_timeout_expired(TimePoint now) {
  (void)now;
  probe_->indirect_sent = true;
  const Node* target = find(probe_->target);
  if (!target) return;
  const auto peers =
      random_nodes(static_cast<std::size_t>(std::max(cfg_.indirect_checks, 0)),
                   [&](const Node& n) { return &n != target && n.state == State::kAlive; });
  for (const Node* peer : peers) {
    memberlist::IndirectPing ind;
    ind.nack = peer->pmax() >= 4;
    ind.node = target->name;
    ind.port = target->addr.port;
    ind.seq_no = probe_->seq;
    ind.source_addr = self().addr.ip;
    ind.source_node = cfg_.name;
    ind.source_port = self().addr.port;
    ind.target = target->addr.ip;
    if (ind.nack) ++probe_->expected_nacks;
    ++counters_.indirect_probes;
    send_with_piggyback(peer->addr, memberlist::encode(ind), false);
  }
  // memberlist: also try the target over TCP if it speaks protocol >= 3,
  // whatever version we speak (hence DisableTcpPings).
  if (!cfg_.disable_tcp_pings && target->pmax() >= 3) {
    const memberlist::Ping ping{target->name, probe_->seq, self().addr.ip, cfg_.name,
                                self().addr.port};
    if (transport_.tcp_ping(target->addr, ping, probe_->deadline)) ++counters_.tcp_fallback_pings;
  }
}

void Swim::tcp_ping_result(uint32_t seq, bool ok, TimePoint now) {
  if (!ok) return;
  ++counters_.tcp_fallback_acks;
  // As an ack: memberlist returns from probeNode with the health bonus
  // before it looks at nacks, so missed nacks are not held against us.
  if (probe_ && probe_->seq == seq) on_ack(seq, std::nullopt, now);
}

void Swim::finish_probe(TimePoint now) {
  const Probe p = *probe_;
  probe_.reset();
  if (p.acked) return;
  if (p.expected_nacks > 0) {
    settle_nacks();
    nack_tally_ = NackTally{p.seq, p.expected_nacks, p.nacks, now + cfg_.probe_timeout};
  } else {
    adjust_awareness(1);
  }
  const Node* n = find(p.target);
  if (!n) return;
  const bool was_alive = n->state == State::kAlive;
  on_suspect(Suspect{cfg_.name, n->incarnation, n->name}, now);
  if (was_alive && n->state == State::kSuspect) ++counters_.suspicions;
}

void Swim::drop_old_dead(TimePoint now) {
  std::vector<std::string> old;
  for (const auto& [name, n] : nodes_)
    if (name != cfg_.name && (n.state == State::kDead || n.state == State::kLeft) &&
        now - n.state_change > cfg_.gossip_to_the_dead_time)
      old.push_back(name);
  for (const auto& name : old) forget(name);
}

bool Swim::forget(const std::string& name) {
  auto it = nodes_.find(name);
  if (it == nodes_.end() || name == cfg_.name) return false;
  if (it->second.state != State::kDead && it->second.state != State::kLeft) return false;
  nodes_.erase(it);
  suspicions_.erase(name);
  if (auto p = std::find(probe_order_.begin(), probe_order_.end(), name); p != probe_order_.end()) {
    const auto idx = static_cast<std::size_t>(p - probe_order_.begin());
    probe_order_.erase(p);
    if (idx < probe_index_) --probe_index_;
  }
  return true;
}

void Swim::settle_nacks() {
  if (!nack_tally_) return;
  if (nack_tally_->nacks < nack_tally_->expected)
    adjust_awareness(nack_tally_->expected - nack_tally_->nacks);
  nack_tally_.reset();
}

void Swim::check_suspicions(TimePoint now) {
  std::vector<std::string> expired;
  for (const auto& [name, s] : suspicions_) {
    if (now >= s.deadline()) expired.push_back(name);
  }
  for (const auto& name : expired) {
    suspicions_.erase(name);
    const Node* n = find(name);
    if (!n || n->state != State::kSuspect) continue;
    ++counters_.deaths_declared;
    on_dead(Dead{cfg_.name, n->incarnation, name}, now);
  }
}

void Swim::gossip(TimePoint now) {
  // memberlist picks its GossipNodes targets and stops at the first with no
  // broadcast to send: with nothing queued, no need to look at the table.
  if (broadcasts_.size() == 0) return;
  const auto targets =
      random_nodes(static_cast<std::size_t>(std::max(cfg_.gossip_nodes, 0)), [&](const Node& n) {
        const bool recent_dead =
            n.state == State::kDead && now - n.state_change <= cfg_.gossip_to_the_dead_time;
        return n.state == State::kAlive || n.state == State::kSuspect || recent_dead;
      });
  for (const Node* t : targets) {
    const bool crc = t->pmax() >= 5;
    const std::size_t overhead =
        memberlist::kCompoundHeaderOverhead + (crc ? 5 : 0) + (cfg_.keyring ? kEncryptOverhead : 0);
    auto msgs = broadcasts_.take(memberlist::kCompoundPartOverhead, cfg_.udp_buffer_size - overhead,
                                 current_retransmit_limit());
    if (msgs.empty()) return;
    if (msgs.size() > memberlist::kMaxCompoundParts) msgs.resize(memberlist::kMaxCompoundParts);
    Bytes packet = msgs.size() == 1 ? std::move(msgs[0]) : memberlist::make_compound(msgs);
    if (crc) packet = memberlist::wrap_crc(packet);
    send_raw(t->addr, std::move(packet));
    ++counters_.gossip_packets;
  }
}

// ---- state exchange and local changes --------------------------------------------------

std::vector<memberlist::PushNodeState> Swim::local_state() const {
  std::vector<memberlist::PushNodeState> out;
  for (const auto& [name, n] : nodes_) {
    memberlist::PushNodeState s;
    s.addr = n.addr.ip;
    s.incarnation = n.incarnation;
    s.meta = n.meta;
    s.name = name;
    s.port = n.addr.port;
    s.state = static_cast<memberlist::NodeState>(n.state);
    s.vsn = n.vsn;
    out.push_back(std::move(s));
  }
  return out;
}

void Swim::merge_remote_state(const std::vector<memberlist::PushNodeState>& remote, TimePoint now) {
  for (const auto& r : remote) {
    switch (r.state) {
      case memberlist::NodeState::kAlive:
        on_alive(Alive{r.addr, r.incarnation, r.meta, r.name, r.port, r.vsn}, false, now);
        break;
      case memberlist::NodeState::kLeft:
        on_dead(Dead{r.name, r.incarnation, r.name}, now);
        break;
      case memberlist::NodeState::kDead:
      case memberlist::NodeState::kSuspect:
        on_suspect(Suspect{cfg_.name, r.incarnation, r.name}, now);
        break;
    }
  }
}

void Swim::broadcast_user(Bytes serf_payload) {
  broadcasts_.queue("", memberlist::encode(memberlist::UserMsg{std::move(serf_payload)}));
}

void Swim::update_meta(Bytes meta, TimePoint now) {
  Node& me = nodes_.at(cfg_.name);
  me.meta = std::move(meta);
  me.incarnation += 1;
  me.state_change = now;
  broadcast(cfg_.name, memberlist::encode(self_alive()));
}

void Swim::leave(TimePoint now) {
  Node& me = nodes_.at(cfg_.name);
  left_ = true;
  me.state = State::kLeft;
  me.state_change = now;
  probe_.reset();
  broadcast(cfg_.name, memberlist::encode(Dead{cfg_.name, me.incarnation, cfg_.name}));
}

// ---- InMemoryNetwork ------------------------------------------------------------------

void InMemoryNetwork::Endpoint::send(const Address& to, Bytes packet) {
  InMemoryNetwork& n = net_;
  ++n.sent_;
  n.sent_bytes_ += packet.size();
  if (n.link_.loss > 0 &&
      std::uniform_real_distribution<double>(0, 1)(n.link_rng_) < n.link_.loss) {
    ++n.lost_;
    return;
  }
  n.queue_.push_back(Packet{n.clock_ + n.latency(), n.order_++, self_, to, std::move(packet)});
  std::push_heap(n.queue_.begin(), n.queue_.end(), Later{});
}

bool InMemoryNetwork::Endpoint::tcp_ping(const Address& to, const memberlist::Ping& ping,
                                         TimePoint deadline) {
  if (!net_.tcp_pings_) return false;
  const TimePoint due = net_.clock_ + net_.latency() + net_.latency();
  net_.tcp_queue_.push_back(TcpPing{self_, to, ping, deadline, due});
  ++net_.tcp_pings_sent_;
  ++net_.tcp_pings_to_[to];
  return true;
}

void InMemoryNetwork::set_link_model(const LinkModel& m) {
  link_ = m;
  link_rng_.seed(m.seed);
}

Duration InMemoryNetwork::latency() {
  if (link_.max_latency <= link_.min_latency) return link_.min_latency;
  return Duration(std::uniform_int_distribution<Duration::rep>(
      link_.min_latency.count(), link_.max_latency.count())(link_rng_));
}

InMemoryNetwork::Endpoint& InMemoryNetwork::endpoint(const Address& a) {
  auto& e = endpoints_[a];
  if (!e) e = std::make_unique<Endpoint>(*this, a);
  return *e;
}

void InMemoryNetwork::cut(const Address& from, const Address& to, bool cut_it) {
  std::erase(cuts_, std::make_pair(from, to));
  if (cut_it) cuts_.emplace_back(from, to);
}

void InMemoryNetwork::cut_tcp(const Address& from, const Address& to, bool cut_it) {
  std::erase(tcp_cuts_, std::make_pair(from, to));
  if (cut_it) tcp_cuts_.emplace_back(from, to);
}

void InMemoryNetwork::isolate(const Address& a, bool isolated) {
  std::erase(isolated_, a);
  if (isolated) isolated_.push_back(a);
}

bool InMemoryNetwork::blocked(const Address& from, const Address& to) const {
  if (std::find(isolated_.begin(), isolated_.end(), from) != isolated_.end()) return true;
  if (std::find(isolated_.begin(), isolated_.end(), to) != isolated_.end()) return true;
  return std::find(cuts_.begin(), cuts_.end(), std::make_pair(from, to)) != cuts_.end();
}

std::size_t InMemoryNetwork::deliver(TimePoint now) {
  std::size_t n = 0;
  while (!queue_.empty() && queue_.front().due <= now && n < 100000) {
    std::pop_heap(queue_.begin(), queue_.end(), Later{});
    Packet p = std::move(queue_.back());
    queue_.pop_back();
    auto it = members_.find(p.to);
    if (blocked(p.from, p.to) || it == members_.end() || !it->second) {
      ++dropped_;
      continue;
    }
    it->second->handle_packet(p.from, p.bytes, now);
    if (observer_) observer_(p.to);
    ++n;
  }
  std::vector<TcpPing> due;
  for (auto it = tcp_queue_.begin(); it != tcp_queue_.end();) {
    if (it->due <= now) {
      due.push_back(std::move(*it));
      it = tcp_queue_.erase(it);
    } else {
      ++it;
    }
  }
  for (const TcpPing& t : due) {
    auto from = members_.find(t.from);
    if (from == members_.end() || !from->second) continue;
    auto to = members_.find(t.to);
    const bool cut = std::find(tcp_cuts_.begin(), tcp_cuts_.end(), std::make_pair(t.from, t.to)) !=
                     tcp_cuts_.end();
    const bool ok = !cut && now <= t.deadline && to != members_.end() && to->second &&
                    std::find(isolated_.begin(), isolated_.end(), t.from) == isolated_.end() &&
                    std::find(isolated_.begin(), isolated_.end(), t.to) == isolated_.end() &&
                    (t.ping.node.empty() || t.ping.node == to->second->self().name);
    from->second->tcp_ping_result(t.ping.seq_no, ok, now);
    if (observer_) observer_(t.from);
  }
  return n;
}

std::optional<TimePoint> InMemoryNetwork::next_due() const {
  std::optional<TimePoint> t;
  if (!queue_.empty()) t = queue_.front().due;
  for (const TcpPing& p : tcp_queue_)
    if (!t || p.due < *t) t = p.due;
  return t;
}

}  // namespace herd::membership::swim
