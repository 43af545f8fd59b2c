// tls/conn.h — the per-connection TLS engine: an OpenSSL SSL object driven
// through memory BIOs. Ciphertext from the peer goes in with feed(),
// plaintext comes out of read(); plaintext goes in with write(), ciphertext
// for the peer comes out of out_data()/out_consume(). It never touches a
// socket, so the record path is testable and fuzzable on its own
// (tests/unit/tls, tests/fuzz/fuzz_tls_server.cpp); proxy/stream.h moves
// the ciphertext between a socket and this engine.
//
// Thread rules: one Conn is used by one thread at a time (its worker).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

typedef struct ssl_st SSL;

namespace herd::tls {

class ServerContext;
class ClientContext;

class Conn {
 public:
  // The server end of a client connection accepted on a `bind ... ssl`.
  explicit Conn(const ServerContext& ctx);
  // The client end of a connection to a `server ... ssl`; `sni` empty: none
  // sent (and no name check).
  Conn(const ClientContext& ctx, std::string_view sni);
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn();

  enum class Result {
    Ok,        // bytes moved (read: n > 0)
    WantRead,  // more ciphertext from the peer is needed
    Closed,    // the peer sent close_notify (read: end of stream)
    Failed,    // a fatal protocol error (handshake failure, bad record)
  };

  // Runs the handshake (client side: call until Ok, feeding what comes).
  Result handshake();

  // Ciphertext received from the peer.
  void feed(const char* p, size_t n);
  // Plaintext out (runs the handshake first).
  Result read(char* out, size_t cap, size_t* n);
  // Plaintext in; `used` bytes were taken (all of them unless Failed).
  Result write(const char* p, size_t n, size_t* used);
  // Queues a close_notify (after a completed handshake).
  void close_notify();
  // The peer closed the TCP connection (without close_notify): during the
  // handshake, a failed one (as haproxy counts it).
  void peer_closed() {
    if (!done_) failed_ = true;
  }

  // Ciphertext for the peer (handshake messages, records, alerts).
  size_t out_size() const { return out_.size() - out_pos_; }
  const char* out_data() const { return out_.data() + out_pos_; }
  void out_consume(size_t n);
  // Moves all of it into `dst` (replaced; its capacity is reused).
  void take_out(std::string& dst);
  // Plaintext or ciphertext already here: a read may make progress without I/O.
  bool has_buffered() const;
  // An idle connection gives back what its buffers grew to: the memory BIOs
  // holding nothing are replaced by new ones, the outgoing buffer is freed
  // when empty (OpenSSL frees its record buffers itself:
  // SSL_MODE_RELEASE_BUFFERS).
  void trim();

  bool handshake_done() const { return done_; }
  // Failed before the handshake completed (counted as ssl_failed_handshake).
  bool failed_handshake() const { return failed_ && !done_; }
  bool resumed() const;

  // What the sample fetches read (ssl_fc_*, ssl_c_*).
  std::string_view sni() const;
  std::string_view alpn() const;
  std::string_view protocol() const;  // "TLSv1.3"
  bool client_cert_used() const;
  long client_verify() const;             // X509 verify result, 0 = ok
  std::string client_subject_dn() const;  // "/C=FR/O=x/CN=y"

 private:
  void drain_out();
  Result fail();
  SSL* ssl_ = nullptr;
  std::string out_;
  size_t out_pos_ = 0;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace herd::tls
