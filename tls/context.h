// tls/context.h — TLS contexts built from the configuration: the
// certificates of a `bind ... ssl` line (crt files and directories,
// crt-list files with SNI filters; the first certificate is the default
// one), SNI selection, ALPN, protocol versions, ciphers, curves, session
// tickets, client-certificate verification; and the client side of
// `server ... ssl`. All OpenSSL code of herd is in tls/, compiled once,
// independent of the I/O backend (the transports in proxy/ only move
// ciphertext; see tls/conn.h).
//
// One SSL_CTX per distinct certificate set, all configured alike; a
// connection starts on the default one and the SNI callback switches it.
// Session tickets are encrypted with the keys of the first (session) context,
// which all threads share: a ticket issued on one worker thread resumes on
// any other.
//
// Thread rules: prepare() runs on the main thread after parsing, before
// any worker starts; the contexts are then immutable (OpenSSL locks its
// session cache) and used by every worker thread, except that the runtime
// API's `commit ssl cert` (cert_store.h, control thread) swaps whole
// contexts in a bind's slots.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/model.h"
#include "config/parser.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_session_st SSL_SESSION;
typedef struct x509_store_st X509_STORE;

namespace herd::tls {

struct Cert;  // a loaded certificate with its key and chain (context.cpp)

// The contexts of one `bind ... ssl` line.
class ServerContext {
 public:
  ServerContext() = default;
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;
  ~ServerContext();
  // The context a new connection starts on (the default certificate).
  SSL_CTX* initial() const { return default_->ctx.load(std::memory_order_acquire); }

  // Internals for context.cpp's callbacks and for runtime certificate
  // updates (cert_store.h). One slot per distinct certificate set; the
  // control thread swaps a slot's context when `commit ssl cert` replaces
  // one of its certificates, workers load it.
  struct Slot {
    std::atomic<SSL_CTX*> ctx{nullptr};
    std::vector<std::shared_ptr<const Cert>> certs;  // control thread only
  };
  Slot* default_ = nullptr;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::pair<std::string, Slot*>> exact_;  // SNI -> slot
  std::vector<std::pair<std::string, Slot*>> wild_;   // "*.example.com" minus "*" -> slot
  bool strict_sni = false;
  std::string alpn_wire;  // the protocols offered, in ALPN wire format
  // Builds a context with this bind's settings for a certificate set.
  std::function<SSL_CTX*(const std::vector<std::shared_ptr<const Cert>>&)> make;
  X509_STORE* ca_store = nullptr;  // the bind's ca-file (kept for `make`)
  // Contexts replaced at runtime, freed a grace period later (a worker may
  // have loaded the pointer just before the swap; each SSL holds its own
  // reference once made).
  std::vector<std::pair<int64_t, SSL_CTX*>> retired_;
  SSL_CTX* find(const std::string& sni) const;
};

// The context of a `server ... ssl` line (TLS to that server).
class ClientContext {
 public:
  ClientContext() = default;
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;
  ~ClientContext();
  SSL_CTX* ctx = nullptr;
  bool verify = false;    // the server's certificate is verified (and its name against the SNI)
  std::string check_sni;  // `check-sni`: the SNI of health checks ("" none)

  // TLS session resumption towards the server, as haproxy resumes: the last
  // session (ticket) the server gave for an SNI is offered by the next new
  // connection with that SNI. Any worker thread (a mutex; taken once per
  // new connection and per ticket received).
  // A new reference to the session kept for `sni`, or null.
  SSL_SESSION* session_for(const std::string& sni) const;
  // Keeps `s` (its reference is taken over) for `sni`, replacing the last.
  void keep_session(const std::string& sni, SSL_SESSION* s) const;

 private:
  mutable std::mutex sessions_mu_;
  mutable std::map<std::string, SSL_SESSION*> sessions_;  // at most kMaxSessions names
  static constexpr size_t kMaxSessions = 64;
};

// Loads the certificates and builds the contexts of every `bind ... ssl`
// and `server ... ssl` of `pr.config` (Bind::tls_ctx, Server::tls_ctx).
// Problems become haproxy's alerts in pr.diags (with [file:line]) and set
// pr.fatal. Call once after config::parse_paths().
void prepare(config::ParseResult& pr);

// The server context of a bind (null: plain TCP).
const ServerContext* server_context(const config::Bind& b);
// The client context of a server line (null: plain TCP).
const ClientContext* client_context(const std::shared_ptr<const void>& tls_ctx);

// How records are encrypted, for `-vv` and `show info`: "userspace", with
// why kTLS is not used ("the kernel offers no tls ULP" where
// /proc/sys/net/ipv4/tcp_available_ulp lacks it). Any thread.
std::string offload_mode();
// "OpenSSL 3.0.x ..." (the library in use). Any thread.
const char* library_version();

}  // namespace herd::tls
