// balancing/time_stats.h — the time statistics HAProxy keeps per server and
// per backend: qtime, ctime, rtime and ttime (the averages of the queue,
// connect, response-head and total times of the exchanges that got their
// response head) and the largest of each (`*_max`).
//
// The sums live in the object's CounterSet (QueueTimeMsSum ...), written by
// each worker into its own slot, so recording costs no locked instruction;
// the maxima are shared atomics that take a compare-exchange only when a new
// largest value comes (rare once traffic has run a while).
//
// HAProxy averages over its last 1,024 samples (a sliding sum) and divides by
// the proxy's request count (HTTP) or balanced-connection count (TCP),
// rounding up. herd divides the same way; past 1,024 requests its average is
// over all of them, not the last 1,024 (docs/runtime-api.md).
//
// Thread rules: record_times() on a worker thread (its counter slot);
// reads from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "balancing/counters.h"

namespace herd::balancing {

struct TimeMaxes {
  std::atomic<uint32_t> queue{0}, connect{0}, response{0}, total{0};
};

inline void raise_max(std::atomic<uint32_t>& m, long v) {
  if (v <= 0) return;
  auto nv = static_cast<uint32_t>(v);
  uint32_t cur = m.load(std::memory_order_relaxed);
  while (nv > cur && !m.compare_exchange_weak(cur, nv, std::memory_order_relaxed)) {
  }
}

// One exchange's times in ms (the log's Tw, Tc, Tr, Tt; -1 counts as 0).
inline void record_times(CounterSet& cs, TimeMaxes& mx, long tw, long tc, long tr, long tt) {
  auto pos = [](long v) { return static_cast<uint64_t>(v > 0 ? v : 0); };
  cs.add(Counter::QueueTimeMsSum, pos(tw));
  cs.add(Counter::ConnectTimeMsSum, pos(tc));
  cs.add(Counter::ResponseTimeMsSum, pos(tr));
  cs.add(Counter::TotalTimeMsSum, pos(tt));
  raise_max(mx.queue, tw);
  raise_max(mx.connect, tc);
  raise_max(mx.response, tr);
  raise_max(mx.total, tt);
}

// HAProxy's swrate_avg() over `samples` (at most 1,024 count): rounded up.
inline uint64_t time_average(uint64_t sum, uint64_t samples) {
  return samples > 0 ? (sum + samples - 1) / samples : 0;
}

}  // namespace herd::balancing
