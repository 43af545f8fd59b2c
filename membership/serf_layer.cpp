// membership/serf_layer.cpp — see serf_layer.h.
#include "membership/serf_layer.h"

#include <arpa/inet.h>

#include <algorithm>

#include "membership/memberlist_msgs.h"

namespace herd::membership {

using namespace std::chrono_literals;

namespace {

constexpr auto kRecentIntentTimeout = 5min;
constexpr auto kReapCheck = 1s;  // serf reaps every 15 s; timeouts are checked each second
constexpr std::size_t kUserEventSizeLimit = 512;

}  // namespace

std::string ip_text(const Bytes& ip) {
  char b[INET6_ADDRSTRLEN] = {};
  if (ip.size() == 4) return inet_ntop(AF_INET, ip.data(), b, sizeof b) ? b : "";
  if (ip.size() == 16) return inet_ntop(AF_INET6, ip.data(), b, sizeof b) ? b : "";
  return "";
}

SerfLayer::SerfLayer(Config cfg, swim::Transport& transport, Callbacks cb, swim::TimePoint now)
    : cfg_(std::move(cfg)),
      node_(cfg_.swim.name),
      transport_(transport),
      cb_(std::move(cb)),
      rng_(cfg_.seed),
      now_(now),
      tags_(cfg_.tags) {
  swim::Config sc = cfg_.swim;
  sc.meta = serf::encode_tags(tags_);
  swim::Swim::Callbacks scb;
  scb.on_join = [this](const swim::Node& n) { on_swim_join(n); };
  scb.on_update = [this](const swim::Node& n) { on_swim_update(n); };
  scb.on_leave = [this](const swim::Node& n) { on_swim_leave(n); };
  scb.on_user_message = [this](const Bytes& p) { on_user_message(p); };
  scb.on_conflict = [this](const swim::Node& n, const swim::Address& a) { on_conflict(n, a); };
  coords_ = std::make_unique<Coordinates>(node_, rng_());
  scb.ack_payload = [this] { return coords_->ack_payload(); };
  scb.on_ping_complete = [this](const swim::Node& n, swim::Duration rtt, const Bytes& payload) {
    coords_->ping_complete(n.name, rtt, payload);
  };
  swim_ = std::make_unique<swim::Swim>(std::move(sc), transport_, std::move(scb), now);
  queries_ = std::make_unique<Queries>(node_, static_cast<QueryHost&>(*this), rng_());
}

SerfLayer::~SerfLayer() = default;

void SerfLayer::log(const std::string& line) {
  if (cb_.log) cb_.log(line);
}

void SerfLayer::emit(MemberEvent ev) {
  if (cb_.event) cb_.event(std::move(ev));
}

void SerfLayer::restore_clocks(uint64_t clock, uint64_t event_clock, uint64_t query_clock) {
  clock_.witness(clock);
  event_clock_.witness(event_clock);
  queries_->witness(query_clock);
  event_min_time_ = event_clock + 1;
  queries_->set_min_time(query_clock + 1);
}

void SerfLayer::start() {
  Member me;
  me.info = info_from(swim_->self());
  me.addr = swim_->self().addr;
  me.info.status = MemberInfo::Status::Alive;
  members_[node_] = me;
  emit(MemberEvent{MemberEvent::Type::Join, {me.info}});
}

void SerfLayer::shutdown() { state_ = State::Shutdown; }

// ---- network input ---------------------------------------------------------------

void SerfLayer::handle_packet(const swim::Address& from, ByteView packet, swim::TimePoint now) {
  if (state_ == State::Shutdown) return;
  now_ = now;
  swim_->handle_packet(from, packet, now);
}

void SerfLayer::tcp_ping_result(uint32_t seq, bool ok, swim::TimePoint now) {
  if (state_ == State::Shutdown) return;
  now_ = now;
  swim_->tcp_ping_result(seq, ok, now);
}

Bytes SerfLayer::serve_stream(const Bytes& msg, swim::TimePoint now) {
  if (state_ == State::Shutdown || msg.empty()) return {};
  now_ = now;
  switch (static_cast<memberlist::MessageType>(msg[0])) {
    case memberlist::MessageType::kPushPull: {
      auto pp = memberlist::decode_push_pull(msg);
      if (!pp) return {};
      Bytes reply = push_pull_request(pp->join);
      swim_->merge_remote_state(pp->nodes, now);
      if (!pp->user_state.empty()) merge_serf_state(pp->user_state, pp->join, false);
      ++counters_.push_pulls;
      return reply;
    }
    case memberlist::MessageType::kPing: {
      auto m = memberlist::decode(msg);
      const auto* ping = m ? std::get_if<memberlist::Ping>(&*m) : nullptr;
      if (ping && (ping->node.empty() || ping->node == node_))
        return memberlist::encode(memberlist::AckResp{coords_->ack_payload(), ping->seq_no});
      return {};
    }
    case memberlist::MessageType::kUser: {
      auto u = memberlist::decode_stream_user(msg);
      if (u) on_user_message(*u);
      return {};
    }
    default:
      return {};
  }
}

Bytes SerfLayer::push_pull_request(bool join) const {
  return memberlist::encode_push_pull(
      memberlist::PushPull{join, swim_->local_state(), serf_push_pull_state()});
}

bool SerfLayer::merge_push_pull(const Bytes& reply, bool join, bool ignore_old_events,
                                swim::TimePoint now) {
  if (reply.empty() || reply[0] != static_cast<uint8_t>(memberlist::MessageType::kPushPull))
    return false;
  auto pp = memberlist::decode_push_pull(reply);
  if (!pp) return false;
  if (state_ == State::Shutdown) return true;
  now_ = now;
  swim_->merge_remote_state(pp->nodes, now);
  if (!pp->user_state.empty()) merge_serf_state(pp->user_state, join, ignore_old_events);
  ++counters_.push_pulls;
  return true;
}

void SerfLayer::joined(swim::TimePoint now) {
  if (state_ != State::Alive) return;
  now_ = now;
  broadcast_join_intent();
}

// ---- time ------------------------------------------------------------------------

void SerfLayer::tick(swim::TimePoint now) {
  if (state_ == State::Shutdown) return;
  now_ = now;
  swim_->tick(now);
  queries_->tick(now);
  if (state_ == State::Shutdown) return;  // a lost name conflict
  std::erase_if(recent_intents_,
                [&](const auto& kv) { return now - kv.second.when > kRecentIntentTimeout; });
  if (now >= next_reap_) {
    next_reap_ = now + kReapCheck;
    reap(now);
  }
}

swim::TimePoint SerfLayer::next_deadline() const {
  return std::min({swim_->next_deadline(), queries_->next_deadline(), next_reap_});
}

// ---- decisions -------------------------------------------------------------------

std::optional<swim::Address> SerfLayer::push_pull_peer() {
  std::vector<const swim::Node*> peers;
  for (const auto& [name, n] : swim_->nodes())
    if (name != node_ && n.state == swim::State::kAlive) peers.push_back(&n);
  if (peers.empty()) return std::nullopt;
  return peers[rng_() % peers.size()]->addr;
}

std::optional<std::pair<std::string, swim::Address>> SerfLayer::reconnect_target() {
  if (state_ != State::Alive) return std::nullopt;
  std::vector<const Member*> failed;
  std::size_t left = 0;
  for (const auto& [name, m] : members_) {
    if (m.info.status == MemberInfo::Status::Failed) failed.push_back(&m);
    if (m.info.status == MemberInfo::Status::Left) ++left;
  }
  if (failed.empty()) return std::nullopt;
  const std::size_t alive = std::max<std::size_t>(1, members_.size() - failed.size() - left);
  const double prob = static_cast<double>(failed.size()) / static_cast<double>(alive);
  if (std::uniform_real_distribution<double>(0.0, 1.0)(rng_) > prob) return std::nullopt;
  const Member* m = failed[rng_() % failed.size()];
  ++counters_.reconnects;
  return std::make_pair(m->info.name, m->addr);
}

// serf.handleReap(): failed members after reconnect_timeout, left ones after
// tombstone_timeout are forgotten (member-reap).
void SerfLayer::reap(swim::TimePoint t) {
  std::vector<MemberInfo> reaped;
  for (auto it = members_.begin(); it != members_.end();) {
    const Member& m = it->second;
    const bool failed = m.info.status == MemberInfo::Status::Failed;
    const bool left = m.info.status == MemberInfo::Status::Left;
    const auto timeout = failed ? cfg_.reconnect_timeout : cfg_.tombstone_timeout;
    if (it->first == node_ || (!failed && !left) || t - m.leave_time <= timeout) {
      ++it;
      continue;
    }
    reaped.push_back(m.info);
    swim_->forget(it->first);
    coords_->forget(it->first);
    it = members_.erase(it);
  }
  if (reaped.empty()) return;
  counters_.reaped += reaped.size();
  for (const auto& r : reaped) log("agent: member-reap " + r.name);
  emit(MemberEvent{MemberEvent::Type::Reap, std::move(reaped)});
}

// ---- graceful leave --------------------------------------------------------------

void SerfLayer::leave(swim::TimePoint now) {
  if (state_ != State::Alive) return;
  now_ = now;
  state_ = State::Leaving;
  serf::LeaveIntent msg{clock_.time(), node_, false};
  clock_.increment();
  if (auto it = members_.find(node_); it != members_.end()) {
    it->second.status_ltime = std::max(it->second.status_ltime, msg.ltime);
    it->second.info.status = MemberInfo::Status::Leaving;
  }
  swim_->broadcast_user(serf::encode(msg));
}

bool SerfLayer::broadcasts_settled() const {
  bool peers = false;
  for (const auto& [name, n] : swim_->nodes())
    if (name != node_ && (n.state == swim::State::kAlive || n.state == swim::State::kSuspect))
      peers = true;
  return !peers || swim_->pending_broadcasts() == 0;
}

void SerfLayer::leave_gossip(swim::TimePoint now) {
  now_ = now;
  swim_->leave(now);
}

void SerfLayer::finish_leave() {
  if (state_ == State::Leaving) state_ = State::Left;
  if (auto it = members_.find(node_); it != members_.end())
    it->second.info.status = MemberInfo::Status::Left;
}

// ---- commands --------------------------------------------------------------------

std::string SerfLayer::force_leave(const std::string& node, bool prune, swim::TimePoint now) {
  now_ = now;
  serf::LeaveIntent msg{clock_.time(), node, prune};
  clock_.increment();
  if (!handle_leave_intent(msg)) return "";
  swim_->broadcast_user(serf::encode(msg));
  return "";
}

std::string SerfLayer::user_event(const std::string& name, const std::string& payload,
                                  bool coalesce) {
  if (name.size() + payload.size() > kUserEventSizeLimit)
    return "user event exceeds limit of " + std::to_string(kUserEventSizeLimit) + " bytes";
  serf::UserEvent msg{coalesce, event_clock_.time(), name, Bytes(payload.begin(), payload.end())};
  event_clock_.increment();
  handle_user_event(msg);
  swim_->broadcast_user(serf::encode(msg));
  return "";
}

std::string SerfLayer::check_tags(const std::map<std::string, std::string>& tags) {
  if (serf::encode_tags(tags).size() > memberlist::kMetaMaxSize)
    return "Encoded length of tags exceeds limit of " + std::to_string(memberlist::kMetaMaxSize) +
           " bytes";
  return "";
}

void SerfLayer::set_tags(std::map<std::string, std::string> tags, swim::TimePoint now) {
  now_ = now;
  tags_ = std::move(tags);
  swim_->update_meta(serf::encode_tags(tags_), now);
  if (auto it = members_.find(node_); it != members_.end()) {
    it->second.info.tags = tags_;
    it->second.info.incarnation = swim_->self().incarnation;
    emit(MemberEvent{MemberEvent::Type::Update, {it->second.info}});
  }
}

// ---- views -----------------------------------------------------------------------

MemberInfo SerfLayer::info_from(const swim::Node& n) const {
  MemberInfo m;
  m.name = n.name;
  m.addr = ip_text(n.addr.ip);
  m.port = n.addr.port;
  auto t = serf::decode_tags(n.meta);
  if (t) m.tags = *t;
  m.incarnation = n.incarnation;
  if (n.vsn.size() >= 6) {
    m.protocol_min = n.vsn[0];
    m.protocol_max = n.vsn[1];
    m.protocol_cur = n.vsn[2];
    m.delegate_min = n.vsn[3];
    m.delegate_max = n.vsn[4];
    m.delegate_cur = n.vsn[5];
  }
  return m;
}

std::vector<MemberInfo> SerfLayer::members() const {
  std::vector<MemberInfo> out;
  for (const auto& [name, m] : members_) {
    MemberInfo i = m.info;
    if (const swim::Node* n = swim_->find(name)) i.incarnation = n->incarnation;
    out.push_back(std::move(i));
  }
  return out;
}

std::optional<MemberInfo> SerfLayer::member(const std::string& name) const {
  auto it = members_.find(name);
  if (it == members_.end()) return std::nullopt;
  return it->second.info;
}

MemberInfo SerfLayer::self_info() const {
  if (auto m = member(node_)) return *m;
  MemberInfo m;
  m.name = node_;
  m.tags = tags_;
  return m;
}

std::map<std::string, uint64_t> SerfLayer::member_counts() const {
  std::map<std::string, uint64_t> out;
  for (const char* st : {"alive", "suspect", "leaving", "failed", "left"}) out[st] = 0;
  for (const auto& [name, m] : members_) {
    std::string st = to_string(m.info.status);
    const swim::Node* n = swim_->find(name);
    if (m.info.status == MemberInfo::Status::Alive && n && n->state == swim::State::kSuspect)
      st = "suspect";
    if (m.info.status != MemberInfo::Status::None) ++out[st];
  }
  return out;
}

// ---- memberlist events -----------------------------------------------------------

void SerfLayer::on_swim_join(const swim::Node& n) {
  Member& m = members_[n.name];
  m.info = info_from(n);
  m.addr = n.addr;
  m.info.status = MemberInfo::Status::Alive;
  if (auto it = recent_intents_.find(n.name); it != recent_intents_.end()) {
    if (it->second.ltime > m.status_ltime) {
      m.status_ltime = it->second.ltime;
      if (it->second.leave) m.info.status = MemberInfo::Status::Leaving;
    }
    recent_intents_.erase(it);
  }
  log("agent: member-join " + n.name + " " + m.info.addr + ":" + std::to_string(m.info.port));
  emit(MemberEvent{MemberEvent::Type::Join, {m.info}});
}

void SerfLayer::on_swim_update(const swim::Node& n) {
  auto it = members_.find(n.name);
  if (it == members_.end()) return on_swim_join(n);
  auto status = it->second.info.status;
  it->second.info = info_from(n);
  it->second.addr = n.addr;
  it->second.info.status = status;
  emit(MemberEvent{MemberEvent::Type::Update, {it->second.info}});
}

void SerfLayer::on_swim_leave(const swim::Node& n) {
  auto it = members_.find(n.name);
  if (it == members_.end()) return;
  Member& m = it->second;
  m.info.incarnation = n.incarnation;
  MemberEvent::Type t;
  if (m.info.status == MemberInfo::Status::Leaving) {
    m.info.status = MemberInfo::Status::Left;
    t = MemberEvent::Type::Leave;
  } else {
    m.info.status = MemberInfo::Status::Failed;
    t = MemberEvent::Type::Failed;
  }
  m.leave_time = now_;
  log(std::string("agent: ") + to_string(t) + " " + n.name);
  emit(MemberEvent{t, {m.info}});
}

// ---- intents and user events (serf-protocol.md §9.3, §9.7) -------------------------

SerfLayer::Member* SerfLayer::intent_subject(const std::string& node, bool leave, uint64_t ltime,
                                             bool& news) {
  clock_.witness(ltime);
  auto it = members_.find(node);
  if (it == members_.end()) {
    auto& ri = recent_intents_[node];
    news = ri.ltime < ltime || ri.when == swim::TimePoint{};
    if (news) ri = Intent{leave, ltime, now_};
    return nullptr;
  }
  news = ltime > it->second.status_ltime;
  return news ? &it->second : nullptr;
}

bool SerfLayer::handle_leave_intent(const serf::LeaveIntent& msg) {
  if (msg.node.empty()) return false;  // about no member: dropped (on_user_message counts it)
  bool news = false;
  Member* subject = intent_subject(msg.node, true, msg.ltime, news);
  if (!subject) return news;
  Member& m = *subject;
  // Refute a leave about ourselves while we are not leaving.
  if (msg.node == node_ && state_ == State::Alive) {
    broadcast_join_intent();
    return false;
  }
  m.status_ltime = msg.ltime;
  switch (m.info.status) {
    case MemberInfo::Status::Alive:
      m.info.status = MemberInfo::Status::Leaving;
      log("agent: " + msg.node + " is leaving");
      if (cb_.status) cb_.status(m.info);
      return true;
    case MemberInfo::Status::Failed:
      m.info.status = MemberInfo::Status::Left;
      m.leave_time = now_;
      emit(MemberEvent{MemberEvent::Type::Leave, {m.info}});
      return true;
    default:
      return true;
  }
}

bool SerfLayer::handle_join_intent(const serf::JoinIntent& msg) {
  if (msg.node.empty()) return false;
  bool news = false;
  Member* subject = intent_subject(msg.node, false, msg.ltime, news);
  if (!subject) return news;
  Member& m = *subject;
  m.status_ltime = msg.ltime;
  if (m.info.status == MemberInfo::Status::Leaving) {
    m.info.status = MemberInfo::Status::Alive;
    if (cb_.status) cb_.status(m.info);
  }
  return true;
}

bool SerfLayer::handle_user_event(const serf::UserEvent& msg) {
  event_clock_.witness(msg.ltime);
  if (msg.ltime < event_min_time_) return false;
  const uint64_t cur = event_clock_.time();
  if (cur > serf::kEventRingSlots && msg.ltime < cur - serf::kEventRingSlots) return false;
  Bytes payload = msg.payload.value_or(Bytes{});
  auto key = std::make_tuple(msg.ltime, msg.name, payload);
  if (!seen_events_.insert(key).second) return false;
  while (!seen_events_.empty() && cur > serf::kEventRingSlots &&
         std::get<0>(*seen_events_.begin()) < cur - serf::kEventRingSlots)
    seen_events_.erase(seen_events_.begin());
  MemberEvent ev;
  ev.type = MemberEvent::Type::User;
  ev.user_name = msg.name;
  ev.payload.assign(payload.begin(), payload.end());
  ev.ltime = msg.ltime;
  ev.coalesce = msg.cc;
  emit(std::move(ev));
  return true;
}

void SerfLayer::on_user_message(const Bytes& payload) {
  if (state_ == State::Shutdown) return;
  auto m = serf::decode(payload);
  if (!m) {
    ++counters_.serf_bad;
    return;
  }
  bool rebroadcast = false;
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, serf::LeaveIntent> || std::is_same_v<T, serf::JoinIntent>)
          if (v.node.empty()) ++counters_.serf_bad;  // an intent about no member
        if constexpr (std::is_same_v<T, serf::LeaveIntent>)
          rebroadcast = handle_leave_intent(v);
        else if constexpr (std::is_same_v<T, serf::JoinIntent>)
          rebroadcast = handle_join_intent(v);
        else if constexpr (std::is_same_v<T, serf::UserEvent>)
          rebroadcast = handle_user_event(v);
        else if constexpr (std::is_same_v<T, serf::Query>)
          rebroadcast = queries_->handle_query(v, now_);
        else if constexpr (std::is_same_v<T, serf::QueryResponse>)
          queries_->handle_response(v);
        else if constexpr (std::is_same_v<T, serf::Relay>)
          queries_->handle_relay(v);
      },
      *m);
  if (rebroadcast) swim_->broadcast_user(payload);
}

void SerfLayer::on_conflict(const swim::Node& existing, const swim::Address& other) {
  const std::string where = ip_text(other.ip) + ":" + std::to_string(other.port);
  const std::string mine = ip_text(existing.addr.ip) + ":" + std::to_string(existing.addr.port);
  if (existing.name != node_) {
    if (conflicts_logged_.insert(existing.name + "@" + where).second)
      log("agent: name conflict for '" + existing.name + "': both " + mine + " and " + where +
          " claim it; keeping " + mine);
    return;
  }
  if (conflict_resolving_ || state_ == State::Shutdown) return;
  conflict_resolving_ = true;
  log("agent: node name '" + node_ + "' conflicts with another node at " + where +
      "; names must be unique: asking the cluster who holds it (_serf_conflict)");
  queries_->resolve_conflict(
      [this, where](bool keep, int matching, int responses) {
        conflict_resolving_ = false;
        const std::string tally =
            "[" + std::to_string(matching) + " / " + std::to_string(responses) + "]";
        if (keep) {
          log("agent: majority in name conflict resolution " + tally + ": keeping the name");
          return;
        }
        // Serf: "minority in name conflict resolution, quiting", then
        // Shutdown() without a leave.
        log("agent: minority in name conflict resolution " + tally + ": the name '" + node_ +
            "' belongs to the member at " + where +
            "; herd will not steal a live name and shuts its gossip member down (no leave), as "
            "serf does; restart it with another node name");
        state_ = State::Shutdown;
        if (cb_.shutdown) cb_.shutdown();
      },
      now_);
}

void SerfLayer::broadcast_join_intent() {
  serf::JoinIntent msg{clock_.time(), node_};
  clock_.witness(msg.ltime);
  handle_join_intent(msg);
  swim_->broadcast_user(serf::encode(msg));
}

// ---- serf push/pull user state -------------------------------------------------------

Bytes SerfLayer::serf_push_pull_state() const {
  serf::PushPull pp;
  pp.ltime = clock_.time();
  pp.event_ltime = event_clock_.time();
  pp.query_ltime = queries_->ltime();
  std::vector<std::string> left;
  for (const auto& [name, m] : members_) {
    pp.status_ltimes.emplace_back(name, m.status_ltime);
    if (m.info.status == MemberInfo::Status::Left) left.push_back(name);
  }
  pp.left_members = std::move(left);
  return serf::encode(pp);
}

void SerfLayer::merge_serf_state(ByteView user_state, bool join, bool ignore_old_events) {
  auto m = serf::decode(user_state);
  if (!m || !std::holds_alternative<serf::PushPull>(*m)) {
    ++counters_.serf_bad;
    return;
  }
  const auto& pp = std::get<serf::PushPull>(*m);
  if (pp.ltime > 0) clock_.witness(pp.ltime - 1);
  if (pp.event_ltime > 0) event_clock_.witness(pp.event_ltime - 1);
  if (pp.query_ltime > 0) queries_->witness(pp.query_ltime - 1);
  std::set<std::string> left;
  if (pp.left_members) left.insert(pp.left_members->begin(), pp.left_members->end());
  for (const auto& [name, lt] : pp.status_ltimes) {
    if (left.count(name))
      handle_leave_intent(serf::LeaveIntent{lt + 1, name, false});
    else
      handle_join_intent(serf::JoinIntent{lt, name});
  }
  // Serf's eventJoinIgnore: events before the remote's event clock are old.
  // (Its clock value itself is the LTime of its next event, not an old one.)
  if (join && ignore_old_events && pp.event_ltime > event_min_time_)
    event_min_time_ = pp.event_ltime;
  if (pp.events) {
    for (const auto& slot : *pp.events) {
      if (!slot) continue;
      for (const auto& e : slot->events)
        handle_user_event(serf::UserEvent{false, slot->ltime, e.name, e.payload});
    }
  }
}

// ---- QueryHost -----------------------------------------------------------------------

void SerfLayer::send_direct(const swim::Address& to, Bytes serf_msg) {
  transport_.send(to, memberlist::encode(memberlist::UserMsg{std::move(serf_msg)}));
}

void SerfLayer::broadcast(Bytes serf_msg) { swim_->broadcast_user(std::move(serf_msg)); }

std::vector<QueryHost::Peer> SerfLayer::peers() const {
  std::vector<Peer> out;
  for (const auto& [name, m] : members_) {
    const swim::Node* n = swim_->find(name);
    if (!n) continue;
    out.push_back(Peer{name, n->addr, m.info.status == MemberInfo::Status::Alive, n->pmax()});
  }
  return out;
}

std::size_t SerfLayer::num_members() const {
  std::size_t n = 0;
  for (const auto& [name, node] : swim_->nodes())
    if (node.state == swim::State::kAlive || node.state == swim::State::kSuspect) ++n;
  return n;
}

std::string SerfLayer::keyring_changed() {
  return cb_.keyring_changed ? cb_.keyring_changed() : "";
}

}  // namespace herd::membership
