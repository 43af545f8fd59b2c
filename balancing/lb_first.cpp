// balancing/lb_first.cpp — `balance first`: the lowest-id usable server that
// still has a free connection slot (maxconn).
#include "balancing/lb.h"

namespace herd::balancing {

namespace {
class FirstIndex final : public LbIndex {
 public:
  std::vector<const Server*> servers;  // sid order

  const Server* pick(const BackendSnapshot& be, const PickContext& ctx) const override {
    const Server* s = lb_first_free(servers, ctx.avoid);
    return s ? lb_account(be, s) : nullptr;
  }
};
}  // namespace

std::unique_ptr<const LbIndex> build_first(const BackendSnapshot& be) {
  auto idx = std::make_unique<FirstIndex>();
  idx->servers = lb_candidates(be).servers;
  return idx;
}

}  // namespace herd::balancing
