// proxy/upstream.cpp — see upstream.h.
#include "proxy/upstream.h"

#include <sys/socket.h>

#include <cerrno>

namespace herd::proxy {
inline namespace HERD_IO_NS {

std::optional<UpstreamPool::Conn> UpstreamPool::take(const void* key, const tcp::endpoint& ep,
                                                     Reuse mode, std::string_view sni) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return std::nullopt;
  auto& v = it->second;
  auto now = std::chrono::steady_clock::now();
  // Connections passed over (another SNI) go back in their order.
  std::vector<Idle> skipped;
  auto restore = [&] {
    for (auto r = skipped.rbegin(); r != skipped.rend(); ++r) v.push_back(std::move(*r));
  };
  auto found = [&](Idle c) {
    restore();
    return std::optional<Conn>(std::move(c.conn));
  };
  while (!v.empty()) {
    // (Kept in the order they were put, so by idle time: when the last one
    // is not recent, none is, and they stay for the next request.)
    const bool recent = now - v.back().since < kTrustRecent;
    if (mode == Reuse::RecentProbed && !recent) {
      restore();
      return std::nullopt;
    }
    Idle c = std::move(v.back());  // most recently used first: warmest connection
    v.pop_back();
    if (c.ep != ep || now - c.since > kPurgeDelay) continue;  // destructor closes
    if (c.sni != sni) {  // opened for another name: kept for its requests
      skipped.push_back(std::move(c));
      continue;
    }
    if (mode == Reuse::TrustRecent && recent) return found(std::move(c));
    // The server closed it (FIN or reset) or sent bytes nobody asked for:
    // not usable. Checked before any byte of a request is written, so a
    // request never goes on a connection already known to be closed.
    char b;
    ssize_t n = ::recv(c.conn.sock.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) continue;
    return found(std::move(c));
  }
  restore();
  return std::nullopt;
}

void UpstreamPool::put(const void* key, const tcp::endpoint& ep, Conn c, std::string sni) {
  auto& v = idle_[key];
  if (v.size() >= kMaxIdlePerServer) v.erase(v.begin());
  v.push_back(Idle{std::move(c), ep, std::move(sni), std::chrono::steady_clock::now()});
}

void UpstreamPool::clear() { idle_.clear(); }

size_t UpstreamPool::size() const {
  size_t n = 0;
  for (const auto& [k, v] : idle_) n += v.size();
  return n;
}

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
