// balancing/lb_random.cpp — `balance random(<draws>)` (default 2): draw
// servers by weight and keep the least loaded (inflight + queued) of those
// with a free slot. Each worker has its own generator (thread_local).
#include <algorithm>
#include <random>

#include "balancing/lb.h"

namespace herd::balancing {

namespace {

uint64_t next_random() {
  thread_local uint64_t state = [] {
    std::random_device rd;
    uint64_t seed = (uint64_t{rd()} << 32) ^ rd();
    return seed ? seed : 0x9e3779b97f4a7c15ULL;
  }();
  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1DULL;
}

class RandomIndex final : public LbIndex {
 public:
  std::vector<const Server*> servers;
  std::vector<uint64_t> cumulative;  // running sum of weights
  int draws = 2;

  const Server* pick(const BackendSnapshot& be, const PickContext& ctx) const override {
    if (servers.empty()) return nullptr;
    const uint64_t total = cumulative.back();
    const Server* best = nullptr;
    int64_t best_load = INT64_MAX;
    for (int d = 0; d < draws; ++d) {
      const uint64_t r = next_random() % total;
      const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), r);
      const Server* s = servers[static_cast<size_t>(it - cumulative.begin())];
      if (!s->has_free_slot() || (s == ctx.avoid && servers.size() > 1)) continue;
      const int64_t load = s->live->inflight.get() + s->live->queued.get();
      if (load < best_load) {
        best_load = load;
        best = s;
      }
    }
    if (!best) best = lb_first_free(servers, ctx.avoid);
    return best ? lb_account(be, best) : nullptr;
  }
};
}  // namespace

std::unique_ptr<const LbIndex> build_random(const BackendSnapshot& be) {
  auto idx = std::make_unique<RandomIndex>();
  idx->servers = lb_candidates(be).servers;
  uint64_t sum = 0;
  for (const Server* s : idx->servers) idx->cumulative.push_back(sum += s->scaled_weight());
  if (be.config) idx->draws = std::max(1, be.config->balance.random_draws);
  return idx;
}

}  // namespace herd::balancing
