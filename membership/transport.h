// membership/transport.h — the gossip member's network: memberlist's packet
// and stream transport behind a narrow seam, so that the Serf layer
// (serf_layer.h) never sees a socket.
//
// `Transport` is the seam: a swim::Transport (send a memberlist packet to an
// address, TCP fallback ping) plus a stream request/response (`exchange`:
// one message out on a new connection, one message back, used for push/pull)
// and name resolution. What arrives goes to a `TransportReceiver`: decoded
// datagrams, inbound streams (whose reply the receiver returns) and the
// outcome of each TCP ping. Tests of the Serf layer drive it on
// swim::InMemoryNetwork instead (serf_layer_test.cpp).
//
// `SocketTransport` is the real one: one UDP socket bound to bind_ip:port
// (every datagram leaves from it) and a TCP listener on the same ip:port.
// With a keyring it encrypts every packet and stream it sends and requires
// encryption on what it receives (the keyring may be rotated in place by key
// queries; the transport reads it at each use). Streams are memberlist's:
// `0a|L|blob` when keyed, then optional compression (lzw, CRC and label
// framing are memberlist_msgs.h's), parsed incrementally; a stream that is
// not push/pull, ping, ack, error or stream user message, or is not
// complete by the TCP timeout, is counted bad and closed. Bad input
// (undecodable, unauthenticated, plaintext while keyed) is counted and
// dropped, never fatal.
//
// Thread rules: control thread only: construct, call and destroy a
// SocketTransport on the thread running its io_context; every receiver call
// and every `done`/`on_reply` runs there, never from inside the call that
// started it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "membership/keyring.h"
#include "membership/swim.h"

namespace herd::membership {

// What a transport delivers inward.
class TransportReceiver {
 public:
  virtual ~TransportReceiver() = default;
  // A datagram that decrypted (when keyed) and decoded: the plain memberlist
  // packet, as Swim::handle_packet takes it.
  virtual void on_packet(const swim::Address& from, ByteView packet) = 0;
  // An inbound stream message (type byte first: push/pull, ping or stream
  // user message); returns the reply to send back (empty: none).
  virtual Bytes on_stream(const Bytes& msg) = 0;
  // The outcome of a Transport::tcp_ping (ok: the ack with `seq` came back
  // before the deadline).
  virtual void on_tcp_ping_result(uint32_t seq, bool ok) = 0;
};

class Transport : public swim::Transport {
 public:
  struct Counters {
    uint64_t udp_in = 0, udp_out = 0;
    uint64_t udp_bad = 0;     // undecodable (bad CRC, bad msgpack, ...)
    uint64_t udp_unauth = 0;  // failed decryption or plaintext while keyed
    uint64_t tcp_in = 0;
    uint64_t tcp_out = 0;  // streams we opened (push/pull: join, sync, reconnect; TCP pings)
    uint64_t tcp_bad = 0;  // undecodable or unauthenticated streams
  };
  // swim::Transport::send: one memberlist packet to `to` (encrypted when
  // keyed). swim::Transport::tcp_ping: the ping as a stream message; the
  // outcome goes to TransportReceiver::on_tcp_ping_result.

  // The client side of one stream exchange: connect to `to`, write `msg`
  // (stream-encrypted when keyed), read one stream message and pass it
  // (type byte first) to `on_reply`, which says whether it was the expected
  // answer; `done(ok)` once, false on any failure or at `deadline`.
  virtual void exchange(const swim::Address& to, Bytes msg, swim::TimePoint deadline,
                        std::function<bool(const Bytes&)> on_reply,
                        std::function<void(bool)> done) = 0;
  // "ip" or a host name (resolved now) to an address; nullopt if unknown.
  virtual std::optional<swim::Address> resolve(const std::string& host, uint16_t port) = 0;
  virtual const Counters& counters() const = 0;
};

// memberlist's sendPingAndWaitForAck reply check: whether `reply` (type byte
// first) is the ack with `seq`.
bool is_ack_for(const Bytes& reply, uint32_t seq);

// The address to advertise when bound to 0.0.0.0, as Serf chooses it: the
// first private IPv4 interface address (10/8, 172.16/12, 192.168/16,
// 100.64/10), else the first non-loopback one, else 127.0.0.1.
std::string default_advertise_ip();

// An IP text ("10.0.0.1", "::1") and port as a swim::Address.
std::optional<swim::Address> parse_address(const std::string& ip, uint16_t port);

class SocketTransport final : public Transport {
 public:
  struct Options {
    std::string bind_ip;
    uint16_t bind_port = 0;  // 0: ephemeral (the same port for UDP and TCP)
    std::chrono::milliseconds tcp_timeout{10000};
    // Encrypts and authenticates everything when set; owned by the caller,
    // read at each use (key rotation changes it in place).
    const Keyring* keyring = nullptr;
    // Tests: inbound datagrams from (ip, port) for which this returns true
    // are dropped unread (a one-way UDP failure).
    std::function<bool(const std::string&, uint16_t)> drop_udp;
    // A reload (app/handover.h): the predecessor's bound UDP socket and
    // listening TCP socket, used instead of binding (-1: bind).
    int adopt_udp_fd = -1;
    int adopt_tcp_fd = -1;
  };

  SocketTransport(boost::asio::io_context& io, Options opts, TransportReceiver& receiver);
  ~SocketTransport() override;
  SocketTransport(const SocketTransport&) = delete;
  SocketTransport& operator=(const SocketTransport&) = delete;

  // Binds TCP then UDP on the TCP port and starts receiving; "" or an error.
  std::string open();
  // Closes both sockets; exchanges in flight end with done(false).
  void close();
  uint16_t port() const { return port_; }
  // The UDP socket and the TCP listener, for a successor process.
  std::vector<int> fds() const;

  void send(const swim::Address& to, Bytes packet) override;
  bool tcp_ping(const swim::Address& to, const memberlist::Ping& ping,
                swim::TimePoint deadline) override;
  void exchange(const swim::Address& to, Bytes msg, swim::TimePoint deadline,
                std::function<bool(const Bytes&)> on_reply,
                std::function<void(bool)> done) override;
  std::optional<swim::Address> resolve(const std::string& host, uint16_t port) override;
  const Counters& counters() const override { return counters_; }

 private:
  struct Conn;
  void receive_udp();
  void on_datagram(std::size_t n);
  void accept_tcp();
  void serve_stream(std::shared_ptr<Conn> c);

  boost::asio::io_context& io_;
  Options opts_;
  TransportReceiver& receiver_;
  boost::asio::ip::udp::socket udp_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<uint8_t> rbuf_;
  boost::asio::ip::udp::endpoint rfrom_;
  uint16_t port_ = 0;
  bool open_ = false;
  Counters counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace herd::membership
