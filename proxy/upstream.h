// proxy/upstream.h — a worker's idle server connections, kept for reuse.
//
// Each worker keeps its own pool (no sharing, no locks). Connections are
// keyed by the server's live identity *and* its address, so a server whose
// address changed (`set server addr`, a member that moved) never gets an old
// connection. Connections idle longer than the purge delay are dropped.
// A connection to a `server ... ssl` is kept with its TLS engine and the SNI
// it was opened with: only a request that would send the same SNI takes it
// (as HAProxy keys its idle connections by SNI).
//
// Thread rules: one UpstreamPool per worker thread, used only there.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tls/conn.h"

namespace herd::proxy {
inline namespace HERD_IO_NS {

class UpstreamPool {
 public:
  using tcp = boost::asio::ip::tcp;
  static constexpr size_t kMaxIdlePerServer = 256;
  static constexpr std::chrono::seconds kPurgeDelay{5};

  // How much a request may trust an idle connection (the server may close
  // one at any moment; its close can be on its way as the request arrives).
  enum class Reuse {
    // The server has not closed it: a non-blocking MSG_PEEK sees neither
    // FIN, reset nor stray bytes. For a request that can be replayed on a
    // fresh connection (its body is all here).
    Probed,
    // As Probed, but a connection idle for less than kTrustRecent is taken
    // without the MSG_PEEK (one system call per reused connection). Only for
    // a request that is replayed once on a fresh connection when the server
    // closes before answering (retry.cpp, EmptyResponse of an idempotent
    // request on a reused connection): servers close idle connections after
    // their keep-alive timeout (seconds: nginx 75 s, Apache 5 s, Node 5 s),
    // not within kTrustRecent of the last response.
    TrustRecent,
    // Probed, and idle for less than kTrustRecent. For a request that
    // cannot be replayed (its body is still coming) and is not the first of
    // its client connection: HAProxy's `http-reuse safe` sends such a
    // request on any idle connection; herd narrows the window of a server's
    // keep-alive close to what kTrustRecent leaves.
    RecentProbed,
  };
  static constexpr std::chrono::milliseconds kTrustRecent{1000};
  // An idle connection: its socket, and its TLS engine for a `server ...
  // ssl` (null for a plain one).
  struct Conn {
    tcp::socket sock;
    std::unique_ptr<tls::Conn> tls;
  };
  // An idle connection to `ep` of server `key` that `mode` allows, opened
  // with SNI `sni` (TLS; "" for a plain connection or none sent), or nullopt.
  std::optional<Conn> take(const void* key, const tcp::endpoint& ep, Reuse mode = Reuse::Probed,
                           std::string_view sni = {});
  // Keeps `c` for reuse (the caller saw a complete, reusable response).
  void put(const void* key, const tcp::endpoint& ep, Conn c, std::string sni = {});
  void clear();
  size_t size() const;

 private:
  struct Idle {
    Conn conn;
    tcp::endpoint ep;
    std::string sni;
    std::chrono::steady_clock::time_point since;
  };
  std::unordered_map<const void*, std::vector<Idle>> idle_;
};

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
