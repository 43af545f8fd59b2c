// proxy/upstream.cpp — see upstream.h.
#include "proxy/upstream.h"

#include <sys/socket.h>

#include <cerrno>

namespace herd::proxy {
inline namespace HERD_IO_NS {

std::optional<UpstreamPool::tcp::socket> UpstreamPool::take(const void* key,
                                                            const tcp::endpoint& ep, Reuse mode) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return std::nullopt;
  auto& v = it->second;
  auto now = std::chrono::steady_clock::now();
  while (!v.empty()) {
    // (Kept in the order they were put, so by idle time: when the last one
    // is not recent, none is, and they stay for the next request.)
    const bool recent = now - v.back().since < kTrustRecent;
    if (mode == Reuse::RecentProbed && !recent) return std::nullopt;
    Idle c = std::move(v.back());  // most recently used first: warmest connection
    v.pop_back();
    if (c.ep != ep || now - c.since > kPurgeDelay) continue;  // destructor closes
    if (mode == Reuse::TrustRecent && recent) return std::move(c.sock);
    // The server closed it (FIN or reset) or sent bytes nobody asked for:
    // not usable. Checked before any byte of a request is written, so a
    // request never goes on a connection already known to be closed.
    char b;
    ssize_t n = ::recv(c.sock.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) continue;
    return std::move(c.sock);
  }
  return std::nullopt;
}

void UpstreamPool::put(const void* key, const tcp::endpoint& ep, tcp::socket s) {
  auto& v = idle_[key];
  if (v.size() >= kMaxIdlePerServer) v.erase(v.begin());
  v.push_back(Idle{std::move(s), ep, std::chrono::steady_clock::now()});
}

void UpstreamPool::clear() { idle_.clear(); }

size_t UpstreamPool::size() const {
  size_t n = 0;
  for (const auto& [k, v] : idle_) n += v.size();
  return n;
}

}  // namespace HERD_IO_NS
}  // namespace herd::proxy
