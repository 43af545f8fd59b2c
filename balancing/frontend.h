// balancing/frontend.h — live state of frontends and of the process.
//
// The proxy counts what happens on each frontend (sessions, bytes, errors,
// response classes) and process-wide (current/cumulated connections and
// requests); stats/ reads it for the FRONTEND rows of the CSV, `show info`
// and the stats page. Created once at start-up by app/ (one FrontendLive per
// proxy with binds) and never destroyed before the workers stop, so workers
// may keep raw pointers.
//
// Thread rules: same as counters.h — add() from the calling thread's own
// slot, gauges and rates from any thread, reads from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "balancing/counters.h"

namespace herd::balancing {

// Events per second over the last complete second, as HAProxy's rate
// columns show them (approximated: current second blended with the last).
class RateCounter {
 public:
  void hit() {
    uint64_t now = now_sec();
    uint64_t s = sec_.load(std::memory_order_relaxed);
    if (s != now && sec_.compare_exchange_strong(s, now, std::memory_order_relaxed)) {
      prev_.store(now == s + 1 ? cur_.exchange(0, std::memory_order_relaxed) : 0,
                  std::memory_order_relaxed);
      if (now != s + 1) cur_.store(0, std::memory_order_relaxed);
    }
    uint32_t v = cur_.fetch_add(1, std::memory_order_relaxed) + 1;
    uint32_t m = max_.load(std::memory_order_relaxed);
    if (v > m) max_.store(v, std::memory_order_relaxed);
  }
  // Events in the last second.
  uint32_t rate() const {
    uint64_t now = now_sec();
    uint64_t s = sec_.load(std::memory_order_relaxed);
    if (s == now)
      return std::max(cur_.load(std::memory_order_relaxed), prev_.load(std::memory_order_relaxed));
    if (s + 1 == now) return cur_.load(std::memory_order_relaxed);
    return 0;
  }
  uint32_t max() const { return max_.load(std::memory_order_relaxed); }

 private:
  static uint64_t now_sec() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  }
  std::atomic<uint64_t> sec_{0};
  std::atomic<uint32_t> cur_{0}, prev_{0}, max_{0};
};

struct FrontendLive {
  std::string name;
  int id = 0;  // iid
  int maxconn = 0;
  Gauge sessions;       // scur/smax: open client connections
  CounterSet counters;  // Sessions(stot), BytesIn/Out, ErrReq, DeniedReq, Http*xx, Requests,
                        // Connections, Intercepted
  RateCounter session_rate, request_rate, conn_rate;
  std::atomic<bool> stopped{false};  // `STOP` after a soft stop
};

struct ProcessLive {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::system_clock::time_point started_wall = std::chrono::system_clock::now();
  Gauge conns;          // CurrConns / MaxConnRate-ish
  CounterSet counters;  // Connections (CumConns), Requests (CumReq)
  RateCounter conn_rate, sess_rate, req_rate;
  std::atomic<bool> stopping{false};
  // The proxy's I/O backend ("epoll", "io_uring"; "haproxy" in reference
  // mode): set once by main before the workers start, then read-only.
  const char* poller = "epoll";
  std::vector<std::unique_ptr<FrontendLive>> frontends;  // fixed after start-up
  FrontendLive* frontend(const std::string& name) const {
    for (auto& f : frontends)
      if (f->name == name) return f.get();
    return nullptr;
  }
};

}  // namespace herd::balancing
