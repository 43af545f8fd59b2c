// membership/transport.cpp — see transport.h.
#include "membership/transport.h"

#include <arpa/inet.h>
#include <ifaddrs.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "membership/memberlist_msgs.h"

namespace herd::membership {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

namespace {

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

enum class Parse { NeedMore, Bad, Done };

// One inbound stream message: [0a|L|blob] or plaintext, then compress
// layers. On Done, `inner` is the message starting with its type byte.
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
    case memberlist::MessageType::kAckResp:
    case memberlist::MessageType::kErr:
      ok = memberlist::decode(inner).ok();
      break;
    case memberlist::MessageType::kUser:
      ok = memberlist::decode_stream_user(inner).ok();
      break;
    default:
      return Parse::Bad;
  }
  if (ok) return Parse::Done;
  return complete || eof || buf.size() > kMaxStream ? Parse::Bad : Parse::NeedMore;
}

}  // namespace

bool is_ack_for(const Bytes& reply, uint32_t seq) {
  if (reply.empty() || reply[0] != static_cast<uint8_t>(memberlist::MessageType::kAckResp))
    return false;
  auto m = memberlist::decode(reply);
  if (!m) return false;
  const auto* ack = std::get_if<memberlist::AckResp>(&*m);
  return ack && ack->seq_no == seq;
}

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

std::optional<swim::Address> parse_address(const std::string& ip, uint16_t port) {
  boost::system::error_code ec;
  auto a = asio::ip::make_address(ip, ec);
  if (ec) return std::nullopt;
  return to_swim(a, port);
}

struct SocketTransport::Conn {
  explicit Conn(asio::io_context& io) : sock(io), deadline(io) {}
  tcp::socket sock;
  asio::steady_timer deadline;
  Bytes buf;
  std::array<uint8_t, 16384> chunk{};
};

SocketTransport::SocketTransport(asio::io_context& io, Options opts, TransportReceiver& receiver)
    : io_(io), opts_(std::move(opts)), receiver_(receiver), udp_(io), acceptor_(io), rbuf_(65536) {}

SocketTransport::~SocketTransport() {
  *alive_ = false;
  close();
}

std::string SocketTransport::open() {
  boost::system::error_code ec;
  auto bind_ip = asio::ip::make_address(opts_.bind_ip, ec);
  if (ec) return "bind: bad address '" + opts_.bind_ip + "'";
  tcp::endpoint tep(bind_ip, opts_.bind_port);
  if (opts_.adopt_tcp_fd >= 0) {
    acceptor_.assign(tep.protocol(), std::exchange(opts_.adopt_tcp_fd, -1), ec);
  } else {
    acceptor_.open(tep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(tep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec)
    return "cannot bind gossip TCP " + opts_.bind_ip + ":" + std::to_string(opts_.bind_port) +
           ": " + ec.message();
  port_ = acceptor_.local_endpoint().port();
  udp::endpoint uep(bind_ip, port_);
  if (opts_.adopt_udp_fd >= 0) {
    udp_.assign(uep.protocol(), std::exchange(opts_.adopt_udp_fd, -1), ec);
  } else {
    udp_.open(uep.protocol(), ec);
    if (!ec) udp_.bind(uep, ec);
  }
  if (ec)
    return "cannot bind gossip UDP " + opts_.bind_ip + ":" + std::to_string(port_) + ": " +
           ec.message();
  udp_.non_blocking(true, ec);
  open_ = true;
  receive_udp();
  accept_tcp();
  return "";
}

std::vector<int> SocketTransport::fds() const {
  std::vector<int> out;
  if (udp_.is_open()) out.push_back(const_cast<udp::socket&>(udp_).native_handle());
  if (acceptor_.is_open()) out.push_back(const_cast<tcp::acceptor&>(acceptor_).native_handle());
  return out;
}

void SocketTransport::close() {
  open_ = false;
  boost::system::error_code ec;
  udp_.close(ec);
  acceptor_.close(ec);
}

// ---- UDP -----------------------------------------------------------------------

void SocketTransport::send(const swim::Address& to, Bytes packet) {
  auto ip = to_asio(to.ip);
  if (!ip || !udp_.is_open()) return;
  if (opts_.keyring) packet = opts_.keyring->encrypt_packet(packet);
  boost::system::error_code ec;
  udp_.send_to(asio::buffer(packet), udp::endpoint(*ip, to.port), 0, ec);
  if (!ec) ++counters_.udp_out;
}

void SocketTransport::receive_udp() {
  udp_.async_receive_from(asio::buffer(rbuf_), rfrom_,
                          [this, alive = alive_](boost::system::error_code ec, std::size_t n) {
                            if (!*alive || ec == asio::error::operation_aborted || !udp_.is_open())
                              return;
                            if (!ec) on_datagram(n);
                            receive_udp();
                          });
}

void SocketTransport::on_datagram(std::size_t n) {
  if (opts_.drop_udp && opts_.drop_udp(rfrom_.address().to_string(), rfrom_.port())) return;
  ++counters_.udp_in;
  ByteView pkt(rbuf_.data(), n);
  Bytes plain;
  if (opts_.keyring) {
    auto p = opts_.keyring->decrypt_packet(pkt);
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
  receiver_.on_packet(to_swim(rfrom_.address(), rfrom_.port()), pkt);
}

// ---- TCP: serving --------------------------------------------------------------

void SocketTransport::accept_tcp() {
  auto c = std::make_shared<Conn>(io_);
  acceptor_.async_accept(c->sock, [this, c, alive = alive_](boost::system::error_code ec) {
    if (!*alive || ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      ++counters_.tcp_in;
      c->deadline.expires_after(opts_.tcp_timeout);
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

void SocketTransport::serve_stream(std::shared_ptr<Conn> c) {
  c->sock.async_read_some(asio::buffer(c->chunk),
                          [this, c, alive = alive_](boost::system::error_code ec, std::size_t n) {
                            if (!*alive) return;
                            if (ec == asio::error::operation_aborted && !c->sock.is_open()) {
                              ++counters_.tcp_bad;  // timed out
                              return;
                            }
                            c->buf.insert(c->buf.end(), c->chunk.begin(), c->chunk.begin() + n);
                            const bool eof = static_cast<bool>(ec);
                            Bytes inner;
                            Parse p = parse_stream(c->buf, eof, opts_.keyring, inner);
                            if (p == Parse::NeedMore) return serve_stream(c);
                            Bytes reply;
                            if (p == Parse::Bad || !open_)
                              ++counters_.tcp_bad;
                            else
                              reply = receiver_.on_stream(inner);
                            if (reply.empty()) {
                              c->deadline.cancel();
                              boost::system::error_code ig;
                              c->sock.close(ig);
                              return;
                            }
                            if (opts_.keyring) reply = opts_.keyring->encrypt_stream(reply);
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

void SocketTransport::exchange(const swim::Address& to, Bytes msg, swim::TimePoint deadline,
                               std::function<bool(const Bytes&)> on_reply,
                               std::function<void(bool)> done) {
  auto addr = to_asio(to.ip);
  if (!addr) return asio::post(io_, [done] { done(false); });
  auto c = std::make_shared<Conn>(io_);
  ++counters_.tcp_out;
  if (opts_.keyring) msg = opts_.keyring->encrypt_stream(msg);
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
  c->sock.async_connect(
      tcp::endpoint(*addr, to.port),
      [this, c, out, finish, on_reply, alive = alive_](boost::system::error_code ec2) {
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
                      Parse p = parse_stream(c->buf, static_cast<bool>(ec4), opts_.keyring, inner);
                      if (p == Parse::NeedMore) return (*reader)();
                      *reader = nullptr;
                      if (p == Parse::Bad || !open_ || !on_reply(inner)) {
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

// memberlist's sendPingAndWaitForAck: the ping as a stream message, one ack
// with the same seq back, all before the end of the probe interval.
bool SocketTransport::tcp_ping(const swim::Address& to, const memberlist::Ping& ping,
                               swim::TimePoint deadline) {
  if (!open_ || !to_asio(to.ip)) return false;
  const uint32_t seq = ping.seq_no;
  exchange(
      to, memberlist::encode(ping), deadline,
      [seq](const Bytes& reply) { return is_ack_for(reply, seq); },
      [this, seq, alive = alive_](bool ok) {
        if (*alive && open_) receiver_.on_tcp_ping_result(seq, ok);
      });
  return true;
}

std::optional<swim::Address> SocketTransport::resolve(const std::string& host, uint16_t port) {
  if (auto a = parse_address(host, port)) return a;
  // Names are resolved synchronously (seeds are few; control thread).
  boost::system::error_code ec;
  tcp::resolver r(io_);
  auto res = r.resolve(host, std::to_string(port), ec);
  if (ec || res.empty()) return std::nullopt;
  return to_swim(res.begin()->endpoint().address(), port);
}

}  // namespace herd::membership
