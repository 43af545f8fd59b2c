// membership/agent.cpp — see agent.h.
#include "membership/agent.h"

#include <arpa/inet.h>
#include <ifaddrs.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <random>
#include <tuple>

#include "membership/memberlist_msgs.h"

namespace herd::membership {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using namespace std::chrono_literals;

namespace {

// The address to advertise when bound to 0.0.0.0, as Serf chooses it: the
// first private IPv4 interface address (10/8, 172.16/12, 192.168/16,
// 100.64/10), else the first non-loopback one, else 127.0.0.1. Inside a
// container this is the container's address on its network.
std::string default_advertise_ip() {
  ifaddrs* ifs = nullptr;
  std::string any;
  std::string priv;
  if (getifaddrs(&ifs) == 0) {
    for (ifaddrs* i = ifs; i && priv.empty(); i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
      const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      uint32_t a = ntohl(sin->sin_addr.s_addr);
      if ((a >> 24) == 127) continue;
      char b[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &sin->sin_addr, b, sizeof b);
      bool is_private =
          (a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8 || (a >> 22) == 0x191;
      if (is_private)
        priv = b;
      else if (any.empty())
        any = b;
    }
    freeifaddrs(ifs);
  }
  if (!priv.empty()) return priv;
  return any.empty() ? "127.0.0.1" : any;
}

constexpr auto kBroadcastTimeout = 5s;
constexpr auto kLeavePropagateDelay = 1s;
constexpr auto kRecentIntentTimeout = 5min;
constexpr auto kReapCheck = 1s;  // serf reaps every 15 s; timeouts are checked each second
constexpr std::size_t kUserEventSizeLimit = 512;
constexpr std::size_t kMaxStream = kMaxEncryptedStream + kStreamHeaderSize;

swim::Address to_swim(const asio::ip::address& a, uint16_t port) {
  swim::Address out;
  out.port = port;
  if (a.is_v4() || (a.is_v6() && a.to_v6().is_v4_mapped())) {
    auto b = a.is_v4() ? a.to_v4().to_bytes()
                       : asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_bytes();
    out.ip.assign(b.begin(), b.end());
  } else {
    auto b = a.to_v6().to_bytes();
    out.ip.assign(b.begin(), b.end());
  }
  return out;
}

std::optional<asio::ip::address> to_asio(const Bytes& ip) {
  if (ip.size() == 4) {
    asio::ip::address_v4::bytes_type b;
    std::copy(ip.begin(), ip.end(), b.begin());
    return asio::ip::address(asio::ip::address_v4(b));
  }
  if (ip.size() == 16) {
    asio::ip::address_v6::bytes_type b;
    std::copy(ip.begin(), ip.end(), b.begin());
    return asio::ip::address(asio::ip::address_v6(b));
  }
  return std::nullopt;
}

std::string ip_text(const Bytes& ip) {
  auto a = to_asio(ip);
  return a ? a->to_string() : std::string();
}

enum class Parse { NeedMore, Bad, Done };

// One inbound stream message: [0a|L|blob] or plaintext, then compress
// layers. On Done, `inner` is the message starting with its type byte and
// `wrapped` says whether it came encrypted or compressed (complete then).
Parse parse_stream(const Bytes& buf, bool eof, const Keyring* kr, Bytes& inner) {
  if (buf.empty()) return eof ? Parse::Bad : Parse::NeedMore;
  Bytes plain;
  bool complete = false;
  if (buf[0] == static_cast<uint8_t>(memberlist::MessageType::kEncrypt)) {
    if (!kr) return Parse::Bad;
    if (buf.size() < kStreamHeaderSize) return eof ? Parse::Bad : Parse::NeedMore;
    auto len = Keyring::stream_length(ByteView(buf.data(), kStreamHeaderSize));
    if (!len) return Parse::Bad;
    const std::size_t total = kStreamHeaderSize + *len;
    if (buf.size() < total) return eof ? Parse::Bad : Parse::NeedMore;
    auto p = kr->decrypt_stream(ByteView(buf.data(), total));
    if (!p) return Parse::Bad;
    plain = std::move(*p);
    complete = true;
  } else {
    if (kr) return Parse::Bad;  // plaintext refused while keyed
    plain = buf;
  }
  auto un = memberlist::unwrap_stream(plain);
  if (!un) return complete || eof || buf.size() > kMaxStream ? Parse::Bad : Parse::NeedMore;
  inner = std::move(*un);
  if (inner.empty()) return Parse::Bad;
  complete = complete || plain[0] == static_cast<uint8_t>(memberlist::MessageType::kCompress);
  bool ok = false;
  switch (static_cast<memberlist::MessageType>(inner[0])) {
    case memberlist::MessageType::kPushPull:
      ok = memberlist::decode_push_pull(inner).ok();
      break;
    case memberlist::MessageType::kPing:
      ok = memberlist::decode(inner).ok();
      break;
    case memberlist::MessageType::kUser:
      ok = memberlist::decode_stream_user(inner).ok();
      break;
    case memberlist::MessageType::kAckResp:
      ok = memberlist::decode(inner).ok();
      break;
    case memberlist::MessageType::kErr:
      ok = memberlist::decode(inner).ok();
      break;
    default:
      return Parse::Bad;
  }
  if (ok) return Parse::Done;
  return complete || eof || buf.size() > kMaxStream ? Parse::Bad : Parse::NeedMore;
}

}  // namespace

struct Agent::Conn {
  explicit Conn(asio::io_context& io) : sock(io), deadline(io) {}
  tcp::socket sock;
  asio::steady_timer deadline;
  Bytes buf;
  std::array<uint8_t, 16384> chunk{};
};

Agent::Agent(asio::io_context& control, MembershipSettings settings, Hooks hooks)
    : io_(control),
      settings_(std::move(settings)),
      hooks_(std::move(hooks)),
      udp_(control),
      acceptor_(control),
      timer_(control),
      push_pull_timer_(control),
      join_timer_(control),
      leave_timer_(control),
      reconnect_timer_(control),
      rbuf_(65536) {
  tags_ = settings_.tags;
}

Agent::~Agent() {
  *alive_ = false;
  stop();
}

void Agent::log(const std::string& line) {
  if (hooks_.log) hooks_.log(line);
}

std::string Agent::start() {
  if (!settings_.encrypt.empty()) {
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
  boost::system::error_code ec;
  auto bind_ip = asio::ip::make_address(settings_.bind_ip, ec);
  if (ec) return "bind: bad address '" + settings_.bind_ip + "'";
  tcp::endpoint tep(bind_ip, settings_.bind_port);
  acceptor_.open(tep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(tep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return "cannot bind gossip TCP " + settings_.bind_ip + ":" +
           std::to_string(settings_.bind_port) + ": " + ec.message();
  port_ = acceptor_.local_endpoint().port();
  udp::endpoint uep(bind_ip, port_);
  udp_.open(uep.protocol(), ec);
  if (!ec) udp_.bind(uep, ec);
  if (ec)
    return "cannot bind gossip UDP " + settings_.bind_ip + ":" + std::to_string(port_) + ": " +
           ec.message();
  udp_.non_blocking(true, ec);

  std::string adv_ip = settings_.advertise_ip;
  if (adv_ip.empty())
    adv_ip = bind_ip.is_unspecified() ? default_advertise_ip() : settings_.bind_ip;
  auto adv = asio::ip::make_address(adv_ip, ec);
  if (ec) return "advertise: bad address '" + adv_ip + "'";
  self_addr_ = to_swim(adv, settings_.advertise_port ? settings_.advertise_port : port_);

  Bytes meta = serf::encode_tags(tags_);
  if (meta.size() > memberlist::kMetaMaxSize) return "tags: encoded tags exceed 512 bytes";
  swim::Config cfg;
  cfg.name = settings_.node;
  cfg.advertise = self_addr_;
  cfg.meta = meta;
  cfg.seed = std::random_device{}();
  cfg.disable_tcp_pings = settings_.disable_tcp_pings;
  const GossipTiming& tm = settings_.timing;
  cfg.probe_interval = tm.probe_interval;
  cfg.probe_timeout = tm.probe_timeout;
  cfg.gossip_interval = tm.gossip_interval;
  cfg.gossip_to_the_dead_time = tm.gossip_to_the_dead_time;
  cfg.gossip_nodes = tm.gossip_nodes;
  cfg.indirect_checks = tm.indirect_checks;
  cfg.retransmit_mult = tm.retransmit_mult;
  cfg.suspicion_mult = tm.suspicion_mult;
  cfg.keyring = nullptr;  // encryption is done here, so failures can be counted
  if (keyring_) cfg.udp_buffer_size -= kEncryptOverhead;
  swim::Swim::Callbacks cb;
  cb.on_join = [this](const swim::Node& n) { on_swim_join(n); };
  cb.on_update = [this](const swim::Node& n) { on_swim_update(n); };
  cb.on_leave = [this](const swim::Node& n) { on_swim_leave(n); };
  cb.on_user_message = [this](const Bytes& p) { on_user_message(p); };
  cb.on_conflict = [this](const swim::Node& n, const swim::Address& a) { on_conflict(n, a); };
  coords_ = std::make_unique<Coordinates>(settings_.node, std::random_device{}());
  cb.ack_payload = [this] { return coords_->ack_payload(); };
  cb.on_ping_complete = [this](const swim::Node& n, swim::Duration rtt, const Bytes& payload) {
    coords_->ping_complete(n.name, rtt, payload);
  };
  swim_ = std::make_unique<swim::Swim>(std::move(cfg), *this, std::move(cb), now());
  queries_ = std::make_unique<Queries>(settings_.node, *this, std::random_device{}());
  if (!settings_.snapshot.empty()) {
    // Serf: the clocks witness the snapshot's, and events and queries up to
    // them are old (not delivered again).
    snap_ = std::make_unique<Snapshotter>();
    std::vector<std::string> warnings;
    if (auto e = snap_->open(settings_.snapshot, settings_.rejoin, &warnings); !e.empty())
      return "snapshot: " + e;
    for (const auto& w : warnings) log("agent: snapshot: " + w);
    const SnapshotState& st = snap_->state();
    clock_.witness(st.clock);
    event_clock_.witness(st.event_clock);
    queries_->witness(st.query_clock);
    event_min_time_ = st.event_clock + 1;
    queries_->set_min_time(st.query_clock + 1);
    log("agent: snapshot " + settings_.snapshot + ": " + std::to_string(st.alive.size()) +
        " member(s), clock " + std::to_string(st.clock) + ", event-clock " +
        std::to_string(st.event_clock) + ", query-clock " + std::to_string(st.query_clock));
  }
  started_ = true;

  // Ourselves: alive, member-join (serf runs handlers for its own join too).
  Member me;
  me.info = info_from(swim_->self());
  me.info.status = MemberInfo::Status::Alive;
  members_[settings_.node] = me;
  emit(MemberEvent{MemberEvent::Type::Join, {me.info}});

  receive_udp();
  accept_tcp();
  arm_timer();
  schedule_push_pull();
  schedule_reconnect();
  log("agent: gossip on " + adv_ip + ":" + std::to_string(self_addr_.port) + " as '" +
      settings_.node + "'" + (keyring_ ? " (encrypted)" : ""));
  if (!settings_.join.empty()) join_seeds_attempt();
  if (snap_) rejoin_previous(snap_->previous(settings_.node, std::random_device{}()), 0);
  return "";
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
  push_pull(host, port, true,
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
  boost::system::error_code ec;
  udp_.close(ec);
  acceptor_.close(ec);
  timer_.cancel();
  push_pull_timer_.cancel();
  join_timer_.cancel();
  leave_timer_.cancel();
  reconnect_timer_.cancel();
  timer_armed_ = false;
  started_ = false;
  if (snap_) {
    snap_->clock(clock_.time());
    snap_->close();
  }
}

// ---- UDP -----------------------------------------------------------------------

void Agent::send(const swim::Address& to, Bytes packet) {
  auto ip = to_asio(to.ip);
  if (!ip || !udp_.is_open()) return;
  if (keyring_) packet = keyring_->encrypt_packet(packet);
  boost::system::error_code ec;
  udp_.send_to(asio::buffer(packet), udp::endpoint(*ip, to.port), 0, ec);
  if (!ec) ++counters_.udp_out;
}

void Agent::receive_udp() {
  udp_.async_receive_from(asio::buffer(rbuf_), rfrom_,
                          [this, alive = alive_](boost::system::error_code ec, std::size_t n) {
                            if (!*alive || ec == asio::error::operation_aborted || !udp_.is_open())
                              return;
                            if (!ec) on_datagram(n);
                            receive_udp();
                          });
}

void Agent::on_datagram(std::size_t n) {
  if (hooks_.drop_udp && hooks_.drop_udp(rfrom_.address().to_string(), rfrom_.port())) return;
  ++counters_.udp_in;
  ByteView pkt(rbuf_.data(), n);
  Bytes plain;
  if (keyring_) {
    auto p = keyring_->decrypt_packet(pkt);
    if (!p) {
      ++counters_.udp_unauth;
      return;
    }
    plain = std::move(*p);
    pkt = plain;
  }
  auto d = memberlist::decode_packet(pkt);
  if (!d) {
    ++counters_.udp_bad;
    return;
  }
  if (!d->dropped.empty()) counters_.udp_bad += d->dropped.size();
  swim_->handle_packet(to_swim(rfrom_.address(), rfrom_.port()), pkt, now());
  arm_timer();
}

// ---- timer -------------------------------------------------------------------

void Agent::arm_timer() {
  if (!started_) return;
  auto at = std::min({swim_->next_deadline(), queries_->next_deadline(), now() + 200ms});
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
  swim_->tick(now());
  queries_->tick(now());
  // Expire buffered intents.
  const auto t = now();
  std::erase_if(recent_intents_,
                [&](const auto& kv) { return t - kv.second.when > kRecentIntentTimeout; });
  if (t >= next_reap_) {
    next_reap_ = t + kReapCheck;
    reap(t);
    if (snap_) snap_->clock(clock_.time());  // serf: every 500 ms
  }
  arm_timer();
}

// ---- TCP: serving --------------------------------------------------------------

void Agent::accept_tcp() {
  auto c = std::make_shared<Conn>(io_);
  acceptor_.async_accept(c->sock, [this, c, alive = alive_](boost::system::error_code ec) {
    if (!*alive || ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      ++counters_.tcp_in;
      c->deadline.expires_after(settings_.timing.tcp_timeout);
      c->deadline.async_wait([c](boost::system::error_code e) {
        if (!e) {
          boost::system::error_code ig;
          c->sock.close(ig);
        }
      });
      serve_stream(c);
    }
    accept_tcp();
  });
}

void Agent::serve_stream(std::shared_ptr<Conn> c) {
  c->sock.async_read_some(asio::buffer(c->chunk), [this, c, alive = alive_](
                                                      boost::system::error_code ec, std::size_t n) {
    if (!*alive) return;
    if (ec == asio::error::operation_aborted && !c->sock.is_open()) {
      ++counters_.tcp_bad;  // timed out
      return;
    }
    c->buf.insert(c->buf.end(), c->chunk.begin(), c->chunk.begin() + n);
    const bool eof = static_cast<bool>(ec);
    Bytes inner;
    Parse p = parse_stream(c->buf, eof, keyring_ ? &*keyring_ : nullptr, inner);
    if (p == Parse::NeedMore) return serve_stream(c);
    if (p == Parse::Bad || !started_) {
      ++counters_.tcp_bad;
      c->deadline.cancel();
      boost::system::error_code ig;
      c->sock.close(ig);
      return;
    }
    Bytes reply;
    const auto type = static_cast<memberlist::MessageType>(inner[0]);
    if (type == memberlist::MessageType::kPushPull) {
      auto pp = memberlist::decode_push_pull(inner);
      memberlist::PushPull mine{pp->join, swim_->local_state(), serf_push_pull_state()};
      reply = memberlist::encode_push_pull(mine);
      swim_->merge_remote_state(pp->nodes, now());
      if (!pp->user_state.empty()) merge_serf_state(pp->user_state, pp->join);
      ++counters_.push_pulls;
      arm_timer();
    } else if (type == memberlist::MessageType::kPing) {
      auto m = memberlist::decode(inner);
      const auto& ping = std::get<memberlist::Ping>(*m);
      if (ping.node.empty() || ping.node == settings_.node)
        reply = memberlist::encode(memberlist::AckResp{coords_->ack_payload(), ping.seq_no});
    } else if (type == memberlist::MessageType::kUser) {
      auto u = memberlist::decode_stream_user(inner);
      on_user_message(*u);
    }
    if (reply.empty()) {
      c->deadline.cancel();
      boost::system::error_code ig;
      c->sock.close(ig);
      return;
    }
    if (keyring_) reply = keyring_->encrypt_stream(reply);
    auto out = std::make_shared<Bytes>(std::move(reply));
    asio::async_write(c->sock, asio::buffer(*out),
                      [c, out](boost::system::error_code, std::size_t) {
                        c->deadline.cancel();
                        boost::system::error_code ig;
                        c->sock.shutdown(tcp::socket::shutdown_both, ig);
                        c->sock.close(ig);
                      });
  });
}

// ---- TCP: initiating streams (push/pull, fallback ping) ----------------------------

void Agent::stream_exchange(const asio::ip::address& addr, uint16_t port, Bytes msg,
                            swim::TimePoint deadline, std::function<bool(const Bytes&)> on_reply,
                            std::function<void(bool)> done) {
  auto c = std::make_shared<Conn>(io_);
  ++counters_.tcp_out;
  if (keyring_) msg = keyring_->encrypt_stream(msg);
  auto out = std::make_shared<Bytes>(std::move(msg));
  auto finished = std::make_shared<bool>(false);
  auto finish = [c, done, finished](bool ok) {
    if (*finished) return;
    *finished = true;
    c->deadline.cancel();
    boost::system::error_code ig;
    c->sock.close(ig);
    done(ok);
  };
  c->deadline.expires_at(deadline);
  c->deadline.async_wait([finish](boost::system::error_code e) {
    if (!e) finish(false);
  });
  c->sock.async_connect(tcp::endpoint(addr, port), [this, c, out, finish, on_reply,
                                                    alive = alive_](boost::system::error_code ec2) {
    if (!*alive) return;
    if (ec2) return finish(false);
    asio::async_write(
        c->sock, asio::buffer(*out),
        [this, c, out, finish, on_reply, alive](boost::system::error_code ec3, std::size_t) {
          if (!*alive) return;
          if (ec3) return finish(false);
          auto reader = std::make_shared<std::function<void()>>();
          *reader = [this, c, finish, on_reply, alive, reader] {
            c->sock.async_read_some(
                asio::buffer(c->chunk), [this, c, finish, on_reply, alive, reader](
                                            boost::system::error_code ec4, std::size_t n) {
                  if (!*alive) return;
                  if (ec4 == asio::error::operation_aborted) return finish(false);
                  c->buf.insert(c->buf.end(), c->chunk.begin(), c->chunk.begin() + n);
                  Bytes inner;
                  Parse p = parse_stream(c->buf, static_cast<bool>(ec4),
                                         keyring_ ? &*keyring_ : nullptr, inner);
                  if (p == Parse::NeedMore) return (*reader)();
                  *reader = nullptr;
                  if (p == Parse::Bad || !started_ || !on_reply(inner)) {
                    ++counters_.tcp_bad;
                    return finish(false);
                  }
                  finish(true);
                });
          };
          (*reader)();
        });
  });
}

void Agent::push_pull(const std::string& host, uint16_t port, bool join,
                      std::function<void(bool)> done) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) {
    // Resolve names synchronously (seeds are few; control thread start-up).
    tcp::resolver r(io_);
    auto res = r.resolve(host, std::to_string(port), ec);
    if (ec || res.empty()) {
      log("agent: cannot resolve '" + host + "'");
      return asio::post(io_, [done] { done(false); });
    }
    addr = res.begin()->endpoint().address();
  }
  Bytes msg = memberlist::encode_push_pull(
      memberlist::PushPull{join, swim_->local_state(), serf_push_pull_state()});
  auto on_reply = [this, join](const Bytes& inner) {
    if (inner[0] != static_cast<uint8_t>(memberlist::MessageType::kPushPull)) return false;
    auto pp = memberlist::decode_push_pull(inner);
    swim_->merge_remote_state(pp->nodes, now());
    if (!pp->user_state.empty()) merge_serf_state(pp->user_state, join);
    ++counters_.push_pulls;
    arm_timer();
    return true;
  };
  stream_exchange(addr, port, std::move(msg), now() + settings_.timing.tcp_timeout, on_reply,
                  std::move(done));
}

// memberlist's sendPingAndWaitForAck: the ping as a stream message, one ack
// with the same seq back, all before the end of the probe interval.
bool Agent::tcp_ping(const swim::Address& to, const memberlist::Ping& ping,
                     swim::TimePoint deadline) {
  auto ip = to_asio(to.ip);
  if (!ip || !started_) return false;
  const uint32_t seq = ping.seq_no;
  auto on_reply = [seq](const Bytes& inner) {
    if (inner[0] != static_cast<uint8_t>(memberlist::MessageType::kAckResp)) return false;
    auto m = memberlist::decode(inner);
    const auto* ack = std::get_if<memberlist::AckResp>(&*m);
    return ack && ack->seq_no == seq;
  };
  auto done = [this, seq, alive = alive_](bool ok) {
    if (!*alive || !started_) return;
    swim_->tcp_ping_result(seq, ok, now());
    arm_timer();
  };
  stream_exchange(*ip, to.port, memberlist::encode(ping), deadline, on_reply, done);
  return true;
}

void Agent::schedule_push_pull() {
  push_pull_timer_.expires_after(settings_.timing.push_pull_interval);
  push_pull_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (!*alive || ec || !started_) return;
    std::vector<const swim::Node*> peers;
    for (const auto& [name, n] : swim_->nodes())
      if (name != settings_.node && n.state == swim::State::kAlive) peers.push_back(&n);
    if (!peers.empty()) {
      static thread_local std::mt19937 rng{std::random_device{}()};
      const swim::Node* n = peers[rng() % peers.size()];
      push_pull(ip_text(n->addr.ip), n->addr.port, false, [](bool) {});
    }
    schedule_push_pull();
  });
}

void Agent::schedule_reconnect() {
  reconnect_timer_.expires_after(settings_.reconnect_interval);
  reconnect_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (!*alive || ec || !started_) return;
    if (leave_state_ == LeaveState::None) reconnect();
    schedule_reconnect();
  });
}

// serf.reconnect(): one random failed member, tried with probability
// failed / alive so that a large healthy cluster does not hammer the dead.
void Agent::reconnect() {
  std::vector<const Member*> failed;
  std::size_t left = 0;
  for (const auto& [name, m] : members_) {
    if (m.info.status == MemberInfo::Status::Failed) failed.push_back(&m);
    if (m.info.status == MemberInfo::Status::Left) ++left;
  }
  if (failed.empty()) return;
  static thread_local std::mt19937 rng{std::random_device{}()};
  const std::size_t alive = std::max<std::size_t>(1, members_.size() - failed.size() - left);
  const double prob = static_cast<double>(failed.size()) / static_cast<double>(alive);
  if (std::uniform_real_distribution<double>(0.0, 1.0)(rng) > prob) return;
  const Member* m = failed[rng() % failed.size()];
  ++counters_.reconnects;
  const std::string name = m->info.name;
  log("agent: reconnecting to failed member " + name + " at " + m->info.addr + ":" +
      std::to_string(m->info.port));
  push_pull(m->info.addr, m->info.port, true, [this, name, alive = alive_](bool ok) {
    if (*alive && ok) log("agent: reconnected to " + name);
  });
}

// serf.handleReap(): failed members after reconnect_timeout, left ones after
// tombstone_timeout are forgotten (member-reap).
void Agent::reap(swim::TimePoint t) {
  std::vector<MemberInfo> reaped;
  for (auto it = members_.begin(); it != members_.end();) {
    const Member& m = it->second;
    const bool failed = m.info.status == MemberInfo::Status::Failed;
    const bool left = m.info.status == MemberInfo::Status::Left;
    const auto timeout = failed ? settings_.reconnect_timeout : settings_.tombstone_timeout;
    if (it->first == settings_.node || (!failed && !left) || t - m.leave_time <= timeout) {
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

void Agent::join_seeds_attempt() {
  auto remaining = std::make_shared<int>(static_cast<int>(settings_.join.size()));
  auto joined = std::make_shared<int>(0);
  ++join_attempts_;
  for (const auto& seed : settings_.join) {
    std::string host;
    uint16_t port = 7946;
    if (!split_host_port(seed, 7946, host, port)) {
      log("agent: bad join address '" + seed + "'");
      --*remaining;
      continue;
    }
    push_pull(host, port, true, [this, remaining, joined, seed, alive = alive_](bool ok) {
      if (!*alive) return;
      if (ok) ++*joined;
      log(std::string("agent: join ") + seed + (ok ? " ok" : " failed"));
      if (--*remaining > 0) return;
      if (*joined > 0) {
        joined_ = true;
        broadcast_join_intent();
        return;
      }
      if (settings_.retry_max > 0 && join_attempts_ >= settings_.retry_max) {
        log("agent: giving up joining after " + std::to_string(join_attempts_) + " attempts");
        return;
      }
      join_timer_.expires_after(join_backoff_);
      join_backoff_ = std::min(join_backoff_ * 2, settings_.retry_interval);
      join_timer_.async_wait([this, alive](boost::system::error_code ec) {
        if (!*alive || ec || !started_ || leave_state_ != LeaveState::None) return;
        join_seeds_attempt();
      });
    });
  }
  if (*remaining == 0 && settings_.join.size() > 0 && *joined == 0) {
    // Every address was malformed.
    log("agent: no valid join address");
  }
}

// ---- Serf layer -------------------------------------------------------------------

MemberInfo Agent::info_from(const swim::Node& n) const {
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

MemberInfo Agent::self_info() const {
  auto it = members_.find(settings_.node);
  if (it != members_.end()) return it->second.info;
  MemberInfo m;
  m.name = settings_.node;
  m.tags = tags_;
  return m;
}

void Agent::emit(MemberEvent ev) {
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
  if (ev.is_member_event()) snap_->clock(clock_.time());
  if (!snap_->error().empty() && snap_->error() != snap_error_logged_) {
    snap_error_logged_ = snap_->error();
    log("agent: " + snap_error_logged_);
  }
}

void Agent::emit_status(const MemberInfo& m) {
  // Keep order with queued events: deliver through the same batch.
  if (!hooks_.status) return;
  auto copy = m;
  asio::post(io_, [this, copy, alive = alive_] {
    if (*alive && hooks_.status) hooks_.status(copy);
  });
}

void Agent::on_swim_join(const swim::Node& n) {
  Member& m = members_[n.name];
  m.info = info_from(n);
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

void Agent::on_swim_update(const swim::Node& n) {
  auto it = members_.find(n.name);
  if (it == members_.end()) return on_swim_join(n);
  auto status = it->second.info.status;
  it->second.info = info_from(n);
  it->second.info.status = status;
  emit(MemberEvent{MemberEvent::Type::Update, {it->second.info}});
}

void Agent::on_swim_leave(const swim::Node& n) {
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
  m.leave_time = now();
  log(std::string("agent: ") + to_string(t) + " " + n.name);
  emit(MemberEvent{t, {m.info}});
}

bool Agent::handle_leave_intent(const serf::LeaveIntent& msg) {
  if (msg.node.empty()) return false;  // about no member: dropped (on_user_message counts it)
  clock_.witness(msg.ltime);
  auto it = members_.find(msg.node);
  if (it == members_.end()) {
    auto& ri = recent_intents_[msg.node];
    if (ri.ltime >= msg.ltime && ri.when != swim::TimePoint{}) return false;
    ri = Intent{true, msg.ltime, now()};
    return true;
  }
  Member& m = it->second;
  if (msg.ltime <= m.status_ltime) return false;
  // Refute a leave about ourselves while we are not leaving.
  if (msg.node == settings_.node && leave_state_ == LeaveState::None) {
    broadcast_join_intent();
    return false;
  }
  m.status_ltime = msg.ltime;
  switch (m.info.status) {
    case MemberInfo::Status::Alive:
      m.info.status = MemberInfo::Status::Leaving;
      log("agent: " + msg.node + " is leaving");
      emit_status(m.info);
      return true;
    case MemberInfo::Status::Failed:
      m.info.status = MemberInfo::Status::Left;
      m.leave_time = now();
      emit(MemberEvent{MemberEvent::Type::Leave, {m.info}});
      return true;
    default:
      return true;
  }
}

bool Agent::handle_join_intent(const serf::JoinIntent& msg) {
  if (msg.node.empty()) return false;
  clock_.witness(msg.ltime);
  auto it = members_.find(msg.node);
  if (it == members_.end()) {
    auto& ri = recent_intents_[msg.node];
    if (ri.ltime >= msg.ltime && ri.when != swim::TimePoint{}) return false;
    ri = Intent{false, msg.ltime, now()};
    return true;
  }
  Member& m = it->second;
  if (msg.ltime <= m.status_ltime) return false;
  m.status_ltime = msg.ltime;
  if (m.info.status == MemberInfo::Status::Leaving) {
    m.info.status = MemberInfo::Status::Alive;
    emit_status(m.info);
  }
  return true;
}

bool Agent::handle_user_event(const serf::UserEvent& msg) {
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

void Agent::on_user_message(const Bytes& payload) {
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
          rebroadcast = queries_->handle_query(v, now());
        else if constexpr (std::is_same_v<T, serf::QueryResponse>)
          queries_->handle_response(v);
        else if constexpr (std::is_same_v<T, serf::Relay>)
          queries_->handle_relay(v);
      },
      *m);
  if (rebroadcast) swim_->broadcast_user(payload);
}

void Agent::on_conflict(const swim::Node& existing, const swim::Address& other) {
  const std::string where = ip_text(other.ip) + ":" + std::to_string(other.port);
  const std::string mine = ip_text(existing.addr.ip) + ":" + std::to_string(existing.addr.port);
  if (existing.name != settings_.node) {
    if (conflicts_logged_.insert(existing.name + "@" + where).second)
      log("agent: name conflict for '" + existing.name + "': both " + mine + " and " + where +
          " claim it; keeping " + mine);
    return;
  }
  if (conflict_resolving_ || !started_) return;
  conflict_resolving_ = true;
  log("agent: node name '" + settings_.node + "' conflicts with another node at " + where +
      "; names must be unique: asking the cluster who holds it (_serf_conflict)");
  queries_->resolve_conflict(
      [this, where, alive = alive_](bool keep, int matching, int responses) {
        if (!*alive) return;
        conflict_resolving_ = false;
        const std::string tally =
            "[" + std::to_string(matching) + " / " + std::to_string(responses) + "]";
        if (keep) {
          log("agent: majority in name conflict resolution " + tally + ": keeping the name");
          return;
        }
        log("agent: minority in name conflict resolution " + tally + ": the name '" +
            settings_.node + "' belongs to the member at " + where +
            "; herd will not steal a live name and leaves the gossip cluster (the pool keeps "
            "its current servers); restart it with another node name");
        stop();
      },
      now());
  arm_timer();
}

void Agent::broadcast_join_intent() {
  serf::JoinIntent msg{clock_.time(), settings_.node};
  clock_.witness(msg.ltime);
  handle_join_intent(msg);
  swim_->broadcast_user(serf::encode(msg));
  arm_timer();
}

Bytes Agent::serf_push_pull_state() const {
  serf::PushPull pp;
  pp.ltime = clock_.time();
  pp.event_ltime = event_clock_.time();
  pp.query_ltime = queries_ ? queries_->ltime() : 1;
  std::vector<std::string> left;
  for (const auto& [name, m] : members_) {
    pp.status_ltimes.emplace_back(name, m.status_ltime);
    if (m.info.status == MemberInfo::Status::Left) left.push_back(name);
  }
  pp.left_members = std::move(left);
  return serf::encode(pp);
}

void Agent::merge_serf_state(ByteView user_state, bool join) {
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
  if (join && event_join_ignore_) event_min_time_ = pp.event_ltime + 1;
  if (pp.events) {
    for (const auto& slot : *pp.events) {
      if (!slot) continue;
      for (const auto& e : slot->events)
        handle_user_event(serf::UserEvent{false, slot->ltime, e.name, e.payload});
    }
  }
}

// ---- graceful leave -------------------------------------------------------------

bool Agent::wait_broadcasts(swim::TimePoint deadline, std::function<void()> next) {
  bool peers = false;
  for (const auto& [name, n] : swim_->nodes())
    if (name != settings_.node &&
        (n.state == swim::State::kAlive || n.state == swim::State::kSuspect))
      peers = true;
  if (!peers || swim_->pending_broadcasts() == 0 || now() >= deadline) {
    next();
    return true;
  }
  leave_timer_.expires_after(50ms);
  leave_timer_.async_wait([this, deadline, next, alive = alive_](boost::system::error_code ec) {
    if (!*alive || ec) return;
    wait_broadcasts(deadline, next);
  });
  return false;
}

void Agent::graceful_leave(std::function<void()> done) {
  if (!started_ || leave_state_ == LeaveState::Left) {
    if (done) asio::post(io_, done);
    return;
  }
  if (done) leave_waiters_.push_back(std::move(done));
  if (leave_state_ == LeaveState::Leaving) return;
  leave_state_ = LeaveState::Leaving;
  join_timer_.cancel();
  log("agent: leaving the cluster");
  if (snap_) snap_->leave();
  serf::LeaveIntent msg{clock_.time(), settings_.node, false};
  clock_.increment();
  if (auto it = members_.find(settings_.node); it != members_.end()) {
    it->second.status_ltime = std::max(it->second.status_ltime, msg.ltime);
    it->second.info.status = MemberInfo::Status::Leaving;
  }
  swim_->broadcast_user(serf::encode(msg));
  arm_timer();
  wait_broadcasts(now() + kBroadcastTimeout, [this] {
    swim_->leave(now());
    arm_timer();
    wait_broadcasts(now() + kBroadcastTimeout, [this] {
      leave_timer_.expires_after(kLeavePropagateDelay);
      leave_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
        if (!*alive || ec) return;
        leave_state_ = LeaveState::Left;
        if (auto it = members_.find(settings_.node); it != members_.end())
          it->second.info.status = MemberInfo::Status::Left;
        log("agent: left the cluster");
        auto w = std::move(leave_waiters_);
        leave_waiters_.clear();
        for (auto& f : w) f();
      });
    });
  });
}

// ---- RpcBackend -------------------------------------------------------------------

std::vector<MemberInfo> Agent::members() {
  std::vector<MemberInfo> out;
  for (const auto& [name, m] : members_) {
    MemberInfo i = m.info;
    if (const swim::Node* n = swim_ ? swim_->find(name) : nullptr) i.incarnation = n->incarnation;
    out.push_back(std::move(i));
  }
  return out;
}

void Agent::join(const std::vector<std::string>& addrs, bool replay,
                 std::function<void(int32_t, std::string)> done) {
  if (!started_) return asio::post(io_, [done] { done(0, "agent not running"); });
  if (addrs.empty()) return asio::post(io_, [done] { done(0, ""); });
  event_join_ignore_ = !replay;
  auto remaining = std::make_shared<int>(static_cast<int>(addrs.size()));
  auto joined = std::make_shared<int32_t>(0);
  auto errors = std::make_shared<std::string>();
  for (const auto& a : addrs) {
    std::string host;
    uint16_t port = 7946;
    auto one = [this, remaining, joined, errors, done, a](bool ok) {
      if (ok)
        ++*joined;
      else
        *errors += (errors->empty() ? "" : "; ") + ("Failed to join " + a);
      if (--*remaining > 0) return;
      event_join_ignore_ = false;
      if (*joined > 0) {
        joined_ = true;
        broadcast_join_intent();
        errors->clear();
      }
      done(*joined, *errors);
    };
    if (!split_host_port(a, 7946, host, port)) {
      asio::post(io_, [one] { one(false); });
      continue;
    }
    push_pull(host, port, true, one);
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
  serf::LeaveIntent msg{clock_.time(), node, prune};
  clock_.increment();
  if (!handle_leave_intent(msg)) return "";
  swim_->broadcast_user(serf::encode(msg));
  arm_timer();
  return "";
}

std::string Agent::user_event(const std::string& name, const std::string& payload, bool coalesce) {
  if (!started_) return "agent not running";
  if (name.size() + payload.size() > kUserEventSizeLimit)
    return "user event exceeds limit of " + std::to_string(kUserEventSizeLimit) + " bytes";
  serf::UserEvent msg{coalesce, event_clock_.time(), name, Bytes(payload.begin(), payload.end())};
  event_clock_.increment();
  handle_user_event(msg);
  swim_->broadcast_user(serf::encode(msg));
  arm_timer();
  return "";
}

std::string Agent::update_tags(const std::map<std::string, std::string>& set,
                               const std::vector<std::string>& remove) {
  if (!started_) return "agent not running";
  auto tags = tags_;
  for (const auto& [k, v] : set) tags[k] = v;
  for (const auto& k : remove) tags.erase(k);
  Bytes meta = serf::encode_tags(tags);
  if (meta.size() > memberlist::kMetaMaxSize)
    return "Encoded length of tags exceeds limit of " + std::to_string(memberlist::kMetaMaxSize) +
           " bytes";
  // serf agent: the tags file is written first; a failure refuses the change.
  if (!settings_.tags_file.empty())
    if (auto e = save_tags_file(settings_.tags_file, tags); !e.empty()) {
      log("agent: " + e);
      return e;
    }
  tags_ = std::move(tags);
  swim_->update_meta(meta, now());
  if (auto it = members_.find(settings_.node); it != members_.end()) {
    it->second.info.tags = tags_;
    it->second.info.incarnation = swim_->self().incarnation;
    emit(MemberEvent{MemberEvent::Type::Update, {it->second.info}});
  }
  arm_timer();
  return "";
}

// ---- queries (queries.h does the work) ----------------------------------------------

void Agent::send_direct(const swim::Address& to, Bytes serf_msg) {
  send(to, memberlist::encode(memberlist::UserMsg{std::move(serf_msg)}));
}

void Agent::broadcast(Bytes serf_msg) {
  swim_->broadcast_user(std::move(serf_msg));
  arm_timer();
}

std::vector<QueryHost::Peer> Agent::peers() const {
  std::vector<Peer> out;
  for (const auto& [name, m] : members_) {
    const swim::Node* n = swim_->find(name);
    if (!n) continue;
    out.push_back(Peer{name, n->addr, m.info.status == MemberInfo::Status::Alive, n->pmax()});
  }
  return out;
}

std::size_t Agent::num_members() const {
  std::size_t n = 0;
  for (const auto& [name, node] : swim_->nodes())
    if (node.state == swim::State::kAlive || node.state == swim::State::kSuspect) ++n;
  return n;
}

std::optional<MemberInfo> Agent::member(const std::string& name) const {
  auto it = members_.find(name);
  if (it == members_.end()) return std::nullopt;
  return it->second.info;
}

std::string Agent::keyring_changed() {
  if (settings_.keyring_file.empty() || !keyring_) return "";
  std::string err = save_keyring_file(settings_.keyring_file, *keyring_);
  if (!err.empty()) log("agent: " + err);
  return err;
}

std::optional<rpc::RpcCoordinate> Agent::coordinate(const std::string& node) {
  auto c = coords_ ? coords_->cached(node) : std::nullopt;
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
  std::string err = queries_->start(req.name, req.payload, p, std::move(h), now());
  arm_timer();
  return err;
}

std::string Agent::respond(uint64_t id, const Bytes& payload) {
  if (!started_) return "agent not running";
  return queries_->respond(id, payload, now());
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
  queries_->key_request(command, key, 0, post, now());
  arm_timer();
}

Agent::Snapshot Agent::snapshot() const {
  Snapshot s;
  s.node = settings_.node;
  s.encrypted = keyring_.has_value();
  s.health_score = swim_ ? swim_->awareness() : 0;
  for (const char* st : {"alive", "suspect", "leaving", "failed", "left"}) s.members[st] = 0;
  for (const auto& [name, m] : members_) {
    std::string st = to_string(m.info.status);
    const swim::Node* n = swim_ ? swim_->find(name) : nullptr;
    if (m.info.status == MemberInfo::Status::Alive && n && n->state == swim::State::kSuspect)
      st = "suspect";
    if (m.info.status != MemberInfo::Status::None) ++s.members[st];
  }
  s.agent = counters_;
  if (swim_) s.swim = swim_->counters();
  if (queries_) s.queries = queries_->counters();
  return s;
}

rpc::StatsResponse Agent::stats() {
  rpc::StatsResponse r;
  int failed = 0, left = 0;
  for (const auto& [n, m] : members_) {
    if (m.info.status == MemberInfo::Status::Failed) ++failed;
    if (m.info.status == MemberInfo::Status::Left) ++left;
  }
  r.sections.push_back({"agent", {{"name", settings_.node}}});
  r.sections.push_back({"runtime",
                        {{"os", "linux"},
                         {"arch", "amd64"},
                         {"version", "herd"},
                         {"max_procs", "1"},
                         {"goroutines", "0"},
                         {"cpu_count", "1"}}});
  const uint64_t invalid = swim_ ? swim_->counters().invalid_members : 0;
  r.sections.push_back({"serf",
                        {{"members", std::to_string(members_.size())},
                         {"failed", std::to_string(failed)},
                         {"left", std::to_string(left)},
                         {"health_score", std::to_string(swim_ ? swim_->awareness() : 0)},
                         {"member_time", std::to_string(clock_.time())},
                         {"event_time", std::to_string(event_clock_.time())},
                         {"query_time", std::to_string(queries_ ? queries_->ltime() : 1)},
                         {"intent_queue", std::to_string(recent_intents_.size())},
                         {"event_queue", "0"},
                         {"query_queue", "0"},
                         {"encrypted", keyring_ ? "true" : "false"},
                         {"udp_in", std::to_string(counters_.udp_in)},
                         {"udp_bad", std::to_string(counters_.udp_bad)},
                         {"udp_unauthenticated", std::to_string(counters_.udp_unauth)},
                         {"tcp_in", std::to_string(counters_.tcp_in)},
                         {"tcp_bad", std::to_string(counters_.tcp_bad)},
                         {"push_pulls", std::to_string(counters_.push_pulls)},
                         {"serf_bad", std::to_string(counters_.serf_bad)},
                         {"invalid_members", std::to_string(invalid)}}});
  std::vector<std::pair<std::string, std::string>> t(tags_.begin(), tags_.end());
  r.sections.push_back({"tags", t});
  return r;
}

}  // namespace herd::membership
