// membership/agent.cpp — see agent.h.
#include "membership/agent.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <random>

namespace herd::membership {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto kBroadcastTimeout = 5s;
constexpr auto kLeavePropagateDelay = 1s;
constexpr auto kMaxTimerStep = 200ms;

}  // namespace

Agent::Agent(asio::io_context& control, MembershipSettings settings, Hooks hooks)
    : io_(control),
      settings_(std::move(settings)),
      hooks_(std::move(hooks)),
      timer_(control),
      push_pull_timer_(control),
      join_timer_(control),
      leave_timer_(control),
      reconnect_timer_(control) {}

Agent::~Agent() {
  *alive_ = false;
  stop();
}

void Agent::log(const std::string& line) {
  if (hooks_.log) hooks_.log(line);
}

std::string Agent::start() {
  if (adopted_.state && !adopted_.state->keys.empty()) {
    // A reload: the keys in use now (key queries may have rotated them
    // since the configuration's `encrypt` / keyring file was read).
    auto kr = Keyring::from_base64(adopted_.state->keys);
    if (!kr) return "keyring from the previous process: " + kr.error().detail;
    keyring_.emplace(std::move(*kr));
    log("agent: keyring with " + std::to_string(keyring_->keys().size()) +
        " keys taken over from the previous process");
  } else if (!settings_.encrypt.empty()) {
    auto kr = Keyring::from_base64({settings_.encrypt});
    if (!kr) return "encrypt: " + kr.error().detail;
    keyring_.emplace(std::move(*kr));
  } else if (!settings_.keyring_file.empty()) {
    auto kr = load_keyring_file(settings_.keyring_file);
    if (!kr) return "keyring_file: " + kr.error().detail;
    keyring_.emplace(std::move(*kr));
    log("agent: restored keyring with " + std::to_string(keyring_->keys().size()) + " keys from " +
        settings_.keyring_file);
  }
  SocketTransport::Options to;
  to.bind_ip = settings_.bind_ip;
  to.bind_port = settings_.bind_port;
  to.tcp_timeout = settings_.timing.tcp_timeout;
  to.keyring = keyring_ ? &*keyring_ : nullptr;
  to.drop_udp = hooks_.drop_udp;
  to.adopt_udp_fd = std::exchange(adopted_.udp_fd, -1);
  to.adopt_tcp_fd = std::exchange(adopted_.tcp_fd, -1);
  transport_ =
      std::make_unique<SocketTransport>(io_, std::move(to), static_cast<TransportReceiver&>(*this));
  if (std::string e = transport_->open(); !e.empty()) return e;

  std::string adv_ip = settings_.advertise_ip;
  if (adv_ip.empty()) {
    auto b = parse_address(settings_.bind_ip, 0);
    const bool unspecified =
        b && std::all_of(b->ip.begin(), b->ip.end(), [](uint8_t x) { return x == 0; });
    adv_ip = unspecified ? default_advertise_ip() : settings_.bind_ip;
  }
  auto adv = parse_address(adv_ip, settings_.advertise_port ? settings_.advertise_port : port());
  if (!adv) return "advertise: bad address '" + adv_ip + "'";
  if (std::string e = SerfLayer::check_tags(settings_.tags); !e.empty())
    return "tags: encoded tags exceed 512 bytes";

  SerfLayer::Config cfg;
  cfg.swim.name = settings_.node;
  cfg.swim.advertise = *adv;
  cfg.swim.seed = std::random_device{}();
  cfg.swim.disable_tcp_pings = settings_.disable_tcp_pings;
  if (adopted_.state) cfg.swim.incarnation = adopted_.state->incarnation;
  const GossipTiming& tm = settings_.timing;
  cfg.swim.probe_interval = tm.probe_interval;
  cfg.swim.probe_timeout = tm.probe_timeout;
  cfg.swim.gossip_interval = tm.gossip_interval;
  cfg.swim.gossip_to_the_dead_time = tm.gossip_to_the_dead_time;
  cfg.swim.gossip_nodes = tm.gossip_nodes;
  cfg.swim.indirect_checks = tm.indirect_checks;
  cfg.swim.retransmit_mult = tm.retransmit_mult;
  cfg.swim.suspicion_mult = tm.suspicion_mult;
  cfg.swim.keyring = nullptr;  // the transport encrypts, so failures can be counted
  if (keyring_) cfg.swim.udp_buffer_size -= kEncryptOverhead;
  cfg.tags = settings_.tags;
  cfg.reconnect_timeout = settings_.reconnect_timeout;
  cfg.tombstone_timeout = settings_.tombstone_timeout;
  cfg.keyring = keyring_ ? &*keyring_ : nullptr;
  cfg.seed = std::random_device{}();
  SerfLayer::Callbacks cb;
  cb.event = [this](MemberEvent ev) { on_event(std::move(ev)); };
  cb.status = [this](const MemberInfo& m) { on_status(m); };
  cb.log = [this](const std::string& line) { log(line); };
  cb.keyring_changed = [this] { return keyring_changed(); };
  cb.shutdown = [this] { on_shutdown(); };
  serf_ = std::make_unique<SerfLayer>(std::move(cfg), *transport_, std::move(cb), now());
  if (!settings_.snapshot.empty()) {
    snap_ = std::make_unique<Snapshotter>();
    std::vector<std::string> warnings;
    if (auto e = snap_->open(settings_.snapshot, settings_.rejoin, &warnings); !e.empty())
      return "snapshot: " + e;
    for (const auto& w : warnings) log("agent: snapshot: " + w);
    const SnapshotState& st = snap_->state();
    serf_->restore_clocks(st.clock, st.event_clock, st.query_clock);
    log("agent: snapshot " + settings_.snapshot + ": " + std::to_string(st.alive.size()) +
        " member(s), clock " + std::to_string(st.clock) + ", event-clock " +
        std::to_string(st.event_clock) + ", query-clock " + std::to_string(st.query_clock));
  }
  if (const auto& st = adopted_.state) {
    // A reload: the predecessor's clocks, as a snapshot's, and its
    // network coordinate (not one that starts over at the origin).
    serf_->restore_clocks(st->clock, st->event_clock, st->query_clock);
    if (!st->coordinate_vec.empty()) {
      serf::Coordinate c;
      c.adjustment = st->coordinate_adjustment;
      c.error = st->coordinate_error;
      c.height = st->coordinate_height;
      c.vec = st->coordinate_vec;
      if (!serf_->coordinates().restore(c))
        log("agent: the previous process's coordinate is not valid here; starting afresh");
    }
    log("agent: taking over from the previous process: " + std::to_string(st->alive.size()) +
        " member(s), incarnation " + std::to_string(st->incarnation) + ", clock " +
        std::to_string(st->clock));
  }
  started_ = true;
  serf_->start();  // ourselves: alive, member-join

  arm_timer();
  schedule_push_pull();
  schedule_reconnect();
  log("agent: gossip on " + adv_ip + ":" + std::to_string(adv->port) + " as '" + settings_.node +
      "'" + (keyring_ ? " (encrypted)" : ""));
  if (!settings_.join.empty()) join_seeds_attempt();
  if (snap_) rejoin_previous(snap_->previous(settings_.node, std::random_device{}()), 0);
  if (adopted_.state) {
    // The predecessor's members, at once: a push/pull with one of them
    // brings the whole table (the balancer never left it).
    std::vector<std::pair<std::string, std::string>> prev;
    for (const auto& [name, addr] : adopted_.state->alive)
      if (name != settings_.node) prev.emplace_back(name, addr);
    std::shuffle(prev.begin(), prev.end(), std::mt19937_64(std::random_device{}()));
    rejoin_previous(std::move(prev), 0);
  }
  return "";
}

std::vector<int> Agent::socket_fds() const {
  return transport_ ? transport_->fds() : std::vector<int>{};
}

SnapshotState Agent::handover_state() const {
  SnapshotState st;
  if (!serf_) return st;
  for (const auto& m : serf_->members())
    if (m.status == MemberInfo::Status::Alive) st.alive[m.name] = snapshot_address(m.addr, m.port);
  // Values as serf's snapshot writes them (the last time used).
  st.clock = serf_->clock() - 1;
  st.event_clock = serf_->event_clock() - 1;
  st.query_clock = serf_->queries().ltime() - 1;
  st.incarnation = serf_->self_info().incarnation;
  if (keyring_)
    for (const auto& k : keyring_->keys()) st.keys.push_back(base64_encode(k));
  const serf::Coordinate& c = serf_->coordinates().self();
  st.coordinate_adjustment = c.adjustment;
  st.coordinate_error = c.error;
  st.coordinate_height = c.height;
  st.coordinate_vec = c.vec;
  return st;
}

void Agent::rejoin_previous(std::vector<std::pair<std::string, std::string>> prev, std::size_t i) {
  // Serf's handleRejoin: one previously known member after another, until a
  // push/pull join succeeds (no join intent: memberlist's join only).
  if (i >= prev.size()) {
    if (!prev.empty()) log("agent: failed to re-join any previously known node");
    return;
  }
  const auto [name, addr] = prev[i];
  std::string host;
  uint16_t port = 0;
  if (!split_host_port(addr, 7946, host, port)) return rejoin_previous(std::move(prev), i + 1);
  log("agent: attempting re-join to previously known node " + name + ": " + addr);
  push_pull(host, port, true, false,
            [this, prev = std::move(prev), i, name, addr, alive = alive_](bool ok) mutable {
              if (!*alive || !started_) return;
              if (ok) {
                log("agent: re-joined to previously known node " + name + ": " + addr);
                return;
              }
              rejoin_previous(std::move(prev), i + 1);
            });
}

void Agent::stop() {
  if (transport_) transport_->close();
  timer_.cancel();
  push_pull_timer_.cancel();
  join_timer_.cancel();
  leave_timer_.cancel();
  reconnect_timer_.cancel();
  timer_armed_ = false;
  if (serf_) serf_->shutdown();
  if (snap_ && started_) {
    snap_->clock(serf_->clock());
    snap_->close();
  }
  started_ = false;
}

void Agent::on_shutdown() {
  // Serf's Shutdown after a lost name conflict: no leave, sockets closed,
  // the snapshot flushed; then whoever runs the agent is told.
  log("agent: gossip member shut down (name conflict lost)");
  stop();
  if (hooks_.shutdown)
    asio::post(io_, [this, alive = alive_] {
      if (*alive && hooks_.shutdown) hooks_.shutdown();
    });
}

bool Agent::has_left() const {
  return serf_ &&
         (serf_->state() == SerfLayer::State::Leaving || serf_->state() == SerfLayer::State::Left);
}

// ---- transport input -----------------------------------------------------------

void Agent::on_packet(const swim::Address& from, ByteView packet) {
  if (!started_) return;
  serf_->handle_packet(from, packet, now());
  arm_timer();
}

Bytes Agent::on_stream(const Bytes& msg) {
  if (!started_) return {};
  Bytes reply = serf_->serve_stream(msg, now());
  arm_timer();
  return reply;
}

void Agent::on_tcp_ping_result(uint32_t seq, bool ok) {
  if (!started_) return;
  serf_->tcp_ping_result(seq, ok, now());
  arm_timer();
}

// ---- timers ----------------------------------------------------------------------

void Agent::arm_timer() {
  if (!started_) return;
  auto at = std::min(serf_->next_deadline(), now() + kMaxTimerStep);
  if (timer_armed_ && timer_at_ <= at) return;
  timer_at_ = at;
  timer_armed_ = true;
  timer_.expires_at(at);
  timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (!*alive || ec == asio::error::operation_aborted) return;
    timer_armed_ = false;
    on_timer();
  });
}

void Agent::on_timer() {
  if (!started_) return;
  const auto t = now();
  serf_->tick(t);
  if (!started_) return;  // shut down inside (name conflict lost)
  // Serf checks every 500 ms; the line is written only when it changed.
  if (snap_) snap_->clock(serf_->clock());
  arm_timer();
}

void Agent::push_pull(const std::string& host, uint16_t port, bool join, bool ignore_old,
                      std::function<void(bool)> done) {
  auto to = transport_->resolve(host, port);
  if (!to) {
    log("agent: cannot resolve '" + host + "'");
    return asio::post(io_, [done] { done(false); });
  }
  push_pull(*to, join, ignore_old, std::move(done));
}

void Agent::push_pull(const swim::Address& to, bool join, bool ignore_old,
                      std::function<void(bool)> done) {
  auto on_reply = [this, join, ignore_old, alive = alive_](const Bytes& reply) {
    if (!*alive || !started_) return false;
    const bool ok = serf_->merge_push_pull(reply, join, ignore_old, now());
    arm_timer();
    return ok;
  };
  transport_->exchange(to, serf_->push_pull_request(join), now() + settings_.timing.tcp_timeout,
                       on_reply, std::move(done));
}

void Agent::schedule_push_pull() {
  // memberlist's pushPullScale: the interval grows with log2 of the cluster
  // beyond 32 members, so full-state exchanges per member stay bounded
  // (docs/membership.md, "Scale by simulation").
  const std::size_t n = serf_ ? serf_->swim().nodes().size() : 1;
  push_pull_timer_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(
      swim::push_pull_scale(settings_.timing.push_pull_interval, n)));
  push_pull_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (!*alive || ec || !started_) return;
    if (auto peer = serf_->push_pull_peer()) push_pull(*peer, false, false, [](bool) {});
    schedule_push_pull();
  });
}

void Agent::schedule_reconnect() {
  reconnect_timer_.expires_after(settings_.reconnect_interval);
  reconnect_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (!*alive || ec || !started_) return;
    if (auto target = serf_->reconnect_target()) {
      const auto [name, addr] = *target;
      log("agent: reconnecting to failed member " + name + " at " + ip_text(addr.ip) + ":" +
          std::to_string(addr.port));
      push_pull(addr, true, false, [this, name, alive](bool ok) {
        if (*alive && ok) log("agent: reconnected to " + name);
      });
    }
    schedule_reconnect();
  });
}

void Agent::join_seeds_attempt() {
  auto remaining = std::make_shared<int>(static_cast<int>(settings_.join.size()));
  auto joined = std::make_shared<int>(0);
  ++join_attempts_;
  // serf agent: the start-up join is Join(addrs, !replay_on_join): user
  // events from before it are old unless -replay.
  const bool ignore_old = !settings_.replay;
  for (const auto& seed : settings_.join) {
    std::string host;
    uint16_t port = 7946;
    if (!split_host_port(seed, 7946, host, port)) {
      log("agent: bad join address '" + seed + "'");
      --*remaining;
      continue;
    }
    push_pull(
        host, port, true, ignore_old, [this, remaining, joined, seed, alive = alive_](bool ok) {
          if (!*alive) return;
          if (ok) ++*joined;
          log(std::string("agent: join ") + seed + (ok ? " ok" : " failed"));
          if (--*remaining > 0 || !started_) return;
          if (*joined > 0) {
            serf_->joined(now());
            arm_timer();
            return;
          }
          if (settings_.retry_max > 0 && join_attempts_ >= settings_.retry_max) {
            log("agent: giving up joining after " + std::to_string(join_attempts_) + " attempts");
            return;
          }
          join_timer_.expires_after(join_backoff_);
          join_backoff_ = std::min(join_backoff_ * 2, settings_.retry_interval);
          join_timer_.async_wait([this, alive](boost::system::error_code ec) {
            if (!*alive || ec || !started_ || has_left()) return;
            join_seeds_attempt();
          });
        });
  }
  if (*remaining == 0 && settings_.join.size() > 0 && *joined == 0) {
    // Every address was malformed.
    log("agent: no valid join address");
  }
}

// ---- events ------------------------------------------------------------------------

void Agent::on_event(MemberEvent ev) {
  if (snap_) record(ev);
  pending_events_.push_back(std::move(ev));
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    flush_posted_ = false;
    auto evs = std::move(pending_events_);
    pending_events_.clear();
    if (hooks_.events && !evs.empty()) hooks_.events(evs);
  });
}

void Agent::record(const MemberEvent& ev) {
  // What serf's snapshotter takes from its event stream.
  switch (ev.type) {
    case MemberEvent::Type::Join:
      for (const auto& m : ev.members) snap_->alive(m.name, snapshot_address(m.addr, m.port));
      break;
    case MemberEvent::Type::Leave:
    case MemberEvent::Type::Failed:
      for (const auto& m : ev.members) snap_->not_alive(m.name);
      break;
    case MemberEvent::Type::User:
      snap_->event_clock(ev.ltime);
      break;
    case MemberEvent::Type::Query:
      snap_->query_clock(ev.ltime);
      break;
    case MemberEvent::Type::Update:
    case MemberEvent::Type::Reap:
      break;
  }
  if (ev.is_member_event()) snap_->clock(serf_->clock());
  if (!snap_->error().empty() && snap_->error() != snap_error_logged_) {
    snap_error_logged_ = snap_->error();
    log("agent: " + snap_error_logged_);
  }
}

void Agent::on_status(const MemberInfo& m) {
  // Keep order with queued events: deliver after the same batch.
  if (!hooks_.status) return;
  asio::post(io_, [this, copy = m, alive = alive_] {
    if (*alive && hooks_.status) hooks_.status(copy);
  });
}

std::string Agent::keyring_changed() {
  if (settings_.keyring_file.empty() || !keyring_) return "";
  std::string err = save_keyring_file(settings_.keyring_file, *keyring_);
  if (!err.empty()) log("agent: " + err);
  return err;
}

// ---- graceful leave -------------------------------------------------------------

void Agent::wait_broadcasts(swim::TimePoint deadline, std::function<void()> next) {
  if (serf_->broadcasts_settled() || now() >= deadline) return next();
  leave_timer_.expires_after(50ms);
  leave_timer_.async_wait([this, deadline, next, alive = alive_](boost::system::error_code ec) {
    if (!*alive || ec) return;
    wait_broadcasts(deadline, next);
  });
}

void Agent::graceful_leave(std::function<void()> done) {
  if (!started_ || serf_->state() == SerfLayer::State::Left) {
    if (done) asio::post(io_, done);
    return;
  }
  if (done) leave_waiters_.push_back(std::move(done));
  if (serf_->state() == SerfLayer::State::Leaving) return;
  join_timer_.cancel();
  log("agent: leaving the cluster");
  if (snap_) snap_->leave();
  serf_->leave(now());
  arm_timer();
  wait_broadcasts(now() + kBroadcastTimeout, [this] {
    serf_->leave_gossip(now());
    arm_timer();
    wait_broadcasts(now() + kBroadcastTimeout, [this] {
      leave_timer_.expires_after(kLeavePropagateDelay);
      leave_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
        if (!*alive || ec) return;
        serf_->finish_leave();
        log("agent: left the cluster");
        auto w = std::move(leave_waiters_);
        leave_waiters_.clear();
        for (auto& f : w) f();
      });
    });
  });
}

// ---- RpcBackend -------------------------------------------------------------------

MemberInfo Agent::self_info() const {
  if (serf_) return serf_->self_info();
  MemberInfo m;
  m.name = settings_.node;
  m.tags = settings_.tags;
  return m;
}

std::vector<MemberInfo> Agent::members() {
  return serf_ ? serf_->members() : std::vector<MemberInfo>{};
}

void Agent::join(const std::vector<std::string>& addrs, bool replay,
                 std::function<void(int32_t, std::string)> done) {
  if (!started_) return asio::post(io_, [done] { done(0, "agent not running"); });
  if (addrs.empty()) return asio::post(io_, [done] { done(0, ""); });
  auto remaining = std::make_shared<int>(static_cast<int>(addrs.size()));
  auto joined = std::make_shared<int32_t>(0);
  auto errors = std::make_shared<std::string>();
  for (const auto& a : addrs) {
    std::string host;
    uint16_t port = 7946;
    auto one = [this, remaining, joined, errors, done, a, alive = alive_](bool ok) {
      if (ok)
        ++*joined;
      else
        *errors += (errors->empty() ? "" : "; ") + ("Failed to join " + a);
      if (--*remaining > 0) return;
      if (*joined > 0) {
        if (*alive && started_) {
          serf_->joined(now());
          arm_timer();
        }
        errors->clear();
      }
      done(*joined, *errors);
    };
    if (!split_host_port(a, 7946, host, port)) {
      asio::post(io_, [one] { one(false); });
      continue;
    }
    push_pull(host, port, true, !replay, one);
  }
}

void Agent::leave(std::function<void(std::string)> done) {
  graceful_leave([this, done, alive = alive_] {
    done("");
    if (*alive && hooks_.left) hooks_.left();
  });
}

std::string Agent::force_leave(const std::string& node, bool prune) {
  if (!started_) return "agent not running";
  std::string err = serf_->force_leave(node, prune, now());
  arm_timer();
  return err;
}

std::string Agent::user_event(const std::string& name, const std::string& payload, bool coalesce) {
  if (!started_) return "agent not running";
  std::string err = serf_->user_event(name, payload, coalesce);
  arm_timer();
  return err;
}

std::string Agent::update_tags(const std::map<std::string, std::string>& set,
                               const std::vector<std::string>& remove) {
  if (!started_) return "agent not running";
  auto tags = serf_->current_tags();
  for (const auto& [k, v] : set) tags[k] = v;
  for (const auto& k : remove) tags.erase(k);
  if (std::string e = SerfLayer::check_tags(tags); !e.empty()) return e;
  // serf agent: the tags file is written first; a failure refuses the change.
  if (!settings_.tags_file.empty())
    if (auto e = save_tags_file(settings_.tags_file, tags); !e.empty()) {
      log("agent: " + e);
      return e;
    }
  serf_->set_tags(std::move(tags), now());
  arm_timer();
  return "";
}

// ---- queries (queries.h does the work) ----------------------------------------------

std::optional<rpc::RpcCoordinate> Agent::coordinate(const std::string& node) {
  auto c = serf_ ? serf_->coordinates().cached(node) : std::nullopt;
  if (!c) return std::nullopt;
  return rpc::RpcCoordinate{c->adjustment, c->error, c->height, c->vec};
}

std::string Agent::query(const rpc::QueryRequest& req, QueryStream stream) {
  if (!started_) return "agent not running";
  Queries::Params p;
  p.filter_nodes = req.filter_nodes;
  p.filter_tags = req.filter_tags;
  p.request_ack = req.request_ack;
  p.relay_factor = req.relay_factor;
  p.timeout = std::chrono::nanoseconds(req.timeout_ns);
  Queries::Handlers h{std::move(stream.ack), std::move(stream.response), std::move(stream.done)};
  std::string err = serf_->queries().start(req.name, req.payload, p, std::move(h), now());
  arm_timer();
  return err;
}

std::string Agent::respond(uint64_t id, const Bytes& payload) {
  if (!started_) return "agent not running";
  std::string err = serf_->queries().respond(id, payload, now());
  arm_timer();
  return err;
}

std::string Agent::respond_query(uint64_t id, const std::string& output) {
  if (!started_ || output.empty()) return "";
  std::string err = respond(id, Bytes(output.begin(), output.end()));
  if (!err.empty()) log("agent: query response not sent: " + err);
  return err;
}

void Agent::keys(std::string_view command, const std::string& key,
                 std::function<void(std::string, rpc::KeyResponse)> done) {
  auto post = [this, done, alive = alive_](std::string err, rpc::KeyResponse r) {
    asio::post(io_, [done, err, r, alive] {
      if (*alive) done(err, r);
    });
  };
  if (!started_) return post("agent not running", {});
  log("agent: initiating " + std::string(command));
  serf_->queries().key_request(command, key, 0, post, now());
  arm_timer();
}

// ---- stats ---------------------------------------------------------------------------

Agent::Counters Agent::counters() const {
  Counters c;
  if (transport_) static_cast<Transport::Counters&>(c) = transport_->counters();
  if (serf_) {
    const auto& s = serf_->counters();
    c.push_pulls = s.push_pulls;
    c.serf_bad = s.serf_bad;
    c.reconnects = s.reconnects;
    c.reaped = s.reaped;
  }
  return c;
}

Agent::Snapshot Agent::snapshot() const {
  Snapshot s;
  s.node = settings_.node;
  s.encrypted = keyring_.has_value();
  if (serf_) {
    s.health_score = serf_->swim().awareness();
    s.members = serf_->member_counts();
    s.swim = serf_->swim().counters();
    s.queries = serf_->queries().counters();
  } else {
    for (const char* st : {"alive", "suspect", "leaving", "failed", "left"}) s.members[st] = 0;
  }
  s.agent = counters();
  return s;
}

rpc::StatsResponse Agent::stats() {
  rpc::StatsResponse r;
  const Snapshot snap = snapshot();
  const Counters& c = snap.agent;
  const auto members = this->members();
  r.sections.push_back({"agent", {{"name", settings_.node}}});
  r.sections.push_back({"runtime",
                        {{"os", "linux"},
                         {"arch", "amd64"},
                         {"version", "herd"},
                         {"max_procs", "1"},
                         {"goroutines", "0"},
                         {"cpu_count", "1"}}});
  r.sections.push_back({"serf",
                        {{"members", std::to_string(members.size())},
                         {"failed", std::to_string(snap.members.at("failed"))},
                         {"left", std::to_string(snap.members.at("left"))},
                         {"health_score", std::to_string(snap.health_score)},
                         {"member_time", std::to_string(serf_ ? serf_->clock() : 1)},
                         {"event_time", std::to_string(serf_ ? serf_->event_clock() : 1)},
                         {"query_time", std::to_string(serf_ ? serf_->queries().ltime() : 1)},
                         {"intent_queue", std::to_string(serf_ ? serf_->intent_queue() : 0)},
                         {"event_queue", "0"},
                         {"query_queue", "0"},
                         {"encrypted", keyring_ ? "true" : "false"},
                         {"udp_in", std::to_string(c.udp_in)},
                         {"udp_bad", std::to_string(c.udp_bad)},
                         {"udp_unauthenticated", std::to_string(c.udp_unauth)},
                         {"tcp_in", std::to_string(c.tcp_in)},
                         {"tcp_bad", std::to_string(c.tcp_bad)},
                         {"push_pulls", std::to_string(c.push_pulls)},
                         {"serf_bad", std::to_string(c.serf_bad)},
                         {"invalid_members", std::to_string(snap.swim.invalid_members)}}});
  const auto& tags = serf_ ? serf_->current_tags() : settings_.tags;
  std::vector<std::pair<std::string, std::string>> t(tags.begin(), tags.end());
  r.sections.push_back({"tags", t});
  return r;
}

}  // namespace herd::membership
