// balancing/lb_leastconn.cpp — `balance leastconn`.
//
// Key per server: 0 when nothing is in flight, else
// (inflight + queued + 1) * 4096 / (16 * weight); the lowest key wins.
// Workers compute keys from the live gauges; equal keys are broken by a
// rotation (BackendLive::tiebreak), so idle servers take turns and
// sequential traffic is plain round robin, as in HAProxy.
#include "balancing/lb.h"

namespace herd::balancing {

namespace {
class LeastConnIndex final : public LbIndex {
 public:
  std::vector<const Server*> servers;

  const Server* pick(const BackendSnapshot& be, const PickContext& ctx) const override {
    const size_t n = servers.size();
    if (n == 0 || !be.live) return nullptr;
    const size_t start = be.live->tiebreak.fetch_add(1, std::memory_order_relaxed) % n;
    const Server* best = nullptr;
    const Server* avoided = nullptr;
    int64_t best_key = INT64_MAX;
    for (size_t j = 0; j < n; ++j) {
      const Server* s = servers[(start + j) % n];
      if (!s->has_free_slot()) continue;
      if (s == ctx.avoid && n > 1) {
        avoided = s;
        continue;
      }
      const int64_t load = s->live->inflight.get() + s->live->queued.get();
      const int64_t key = load <= 0 ? 0 : (load + 1) * 4096 / int64_t{s->scaled_weight()};
      if (key < best_key) {
        best_key = key;
        best = s;
      }
    }
    if (!best) best = avoided;
    return best ? lb_account(be, best) : nullptr;
  }
};
}  // namespace

std::unique_ptr<const LbIndex> build_leastconn(const BackendSnapshot& be) {
  auto idx = std::make_unique<LeastConnIndex>();
  idx->servers = lb_candidates(be).servers;
  return idx;
}

}  // namespace herd::balancing
