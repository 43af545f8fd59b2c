// balancing/counters.cpp — thread slots and CounterSet (see counters.h).
#include "balancing/counters.h"

namespace herd::balancing {

namespace {
std::atomic<unsigned> g_thread_count{0};
constexpr unsigned kNoSlot = ~0u;
thread_local unsigned tl_slot = kNoSlot;
}  // namespace

void set_current_thread_slot(unsigned slot) { tl_slot = slot; }

unsigned current_thread_slot() {
  unsigned n = g_thread_count.load(std::memory_order_relaxed);
  unsigned s = tl_slot;
  return s < n ? s : n;
}

void set_thread_count(unsigned n) { g_thread_count.store(n, std::memory_order_relaxed); }

unsigned thread_count() { return g_thread_count.load(std::memory_order_relaxed); }

CounterSet::CounterSet() : slots_(new Slot[thread_count() + 1]), nslots_(thread_count() + 1) {}

uint64_t CounterSet::sum(Counter c) const {
  uint64_t total = 0;
  for (unsigned i = 0; i < nslots_; ++i)
    total += slots_[i].v[static_cast<unsigned>(c)].load(std::memory_order_relaxed);
  return total;
}

void CounterSet::clear() {
  for (unsigned i = 0; i < nslots_; ++i)
    for (auto& cell : slots_[i].v) cell.store(0, std::memory_order_relaxed);
}

}  // namespace herd::balancing
