// balancing/counters.h — statistics counters that never slow the request path.
//
// Each counter set holds one cache-line-aligned slot per worker thread plus
// one for the control thread. A thread only ever writes its own slot, with a
// relaxed load+store (no locked instruction, no shared cache line); readers
// (stats page, runtime API) sum the slots with relaxed loads. Totals are
// therefore exact once writers are quiet and monotonic while they run.
//
// Thread rules: add() from the thread whose index is passed (worker i uses
// slot i, the control thread uses slot `control_slot()`); sum() from any
// thread. Slot counts are fixed at start-up by set_thread_count().
//
// Contract details:
//   * set_thread_count(n) gives every CounterSet created afterwards n+1
//     slots. A thread that never called set_current_thread_slot() (or whose
//     slot is >= thread_count()) uses control_slot(). A set created before a
//     later set_thread_count() folds unknown slots into its last slot
//     (counts stay correct single-threaded; concurrent writers to that slot
//     may lose increments — call set_thread_count() first).
//   * sum() is a relaxed sum over the slots; clear() stores 0 everywhere.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace herd::balancing {

// The thread slot of the calling thread: workers set it once when they
// start; every other thread (control, tests) uses control_slot().
void set_current_thread_slot(unsigned slot);
unsigned current_thread_slot();
// Number of worker threads; must be called once before any counter exists.
void set_thread_count(unsigned n);
unsigned thread_count();
inline unsigned control_slot() { return thread_count(); }

// The counters HAProxy's CSV shows for a server, a backend or a frontend.
// Append only: stats/ indexes them by name.
enum class Counter : unsigned {
  Sessions,      // stot: requests/sessions handled
  BytesIn,       // bin
  BytesOut,      // bout
  DeniedReq,     // dreq
  ErrReq,        // ereq (frontend)
  ErrConn,       // econ
  ErrResp,       // eresp
  Retries,       // wretr
  Redispatches,  // wredis
  LbTotal,       // lbtot: times picked by the balancer
  Http1xx,
  Http2xx,
  Http3xx,
  Http4xx,
  Http5xx,
  HttpOther,
  Requests,            // req_tot
  CliAborts,           // cli_abrt
  SrvAborts,           // srv_abrt
  FailedChecks,        // chkfail
  Downs,               // chkdown
  QueueTimeMsSum,      // for qtime averages
  ConnectTimeMsSum,    // ctime
  ResponseTimeMsSum,   // rtime
  TotalTimeMsSum,      // ttime
  Connections,         // conn_tot (frontend)
  Intercepted,         // stats applet hits
  SslSessions,         // ssl_sess: TLS handshakes completed (frontend)
  SslReused,           // ssl_reused_sess: of which resumed
  SslFailedHandshake,  // ssl_failed_handshake
  kCount
};

class CounterSet {
 public:
  CounterSet();
  CounterSet(const CounterSet&) = delete;
  CounterSet& operator=(const CounterSet&) = delete;

  // REQUIRES: called from the thread owning current_thread_slot().
  void add(Counter c, uint64_t n = 1) {
    unsigned slot = current_thread_slot();
    if (slot >= nslots_) slot = nslots_ - 1;  // a set made before set_thread_count() grew
    auto& cell = slots_[slot].v[static_cast<unsigned>(c)];
    cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t sum(Counter c) const;
  void clear();  // `clear counters`: racy by nature, as in HAProxy

 private:
  struct alignas(64) Slot {
    std::array<std::atomic<uint64_t>, static_cast<size_t>(Counter::kCount)> v{};
  };
  std::unique_ptr<Slot[]> slots_;
  unsigned nslots_ = 1;
};

// A gauge with a high-water mark (scur/smax, qcur/qmax). Shared between
// threads because balancing decisions (leastconn, maxconn) need the exact
// current value.
struct Gauge {
  std::atomic<int32_t> cur{0};
  std::atomic<int32_t> max{0};
  int32_t inc() {
    int32_t v = cur.fetch_add(1, std::memory_order_acq_rel) + 1;
    int32_t m = max.load(std::memory_order_relaxed);
    while (v > m && !max.compare_exchange_weak(m, v, std::memory_order_relaxed)) {
    }
    return v;
  }
  void dec() { cur.fetch_sub(1, std::memory_order_acq_rel); }
  int32_t get() const { return cur.load(std::memory_order_acquire); }
};

}  // namespace herd::balancing
