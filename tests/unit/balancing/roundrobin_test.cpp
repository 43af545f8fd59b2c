// Roundrobin (FWRR) order: the captured HAProxy vectors and the runtime
// down/up/drain/weight sequences of docs/haproxy-compat.md §2.4.
#include <gtest/gtest.h>

#include "helpers.h"

namespace herd::balancing {
namespace {

using namespace testing;
using config::BalanceAlgo;

std::string rr(const std::vector<int>& w, int n) {
  auto cfg = make_config(BalanceAlgo::RoundRobin, w);
  Pool pool;
  PoolWriter writer(pool, cfg);
  return join(picks(pool, n));
}

TEST(RoundRobin, Equal) {
  EXPECT_EQ(rr({1, 1, 1}, 20), "s1 s2 s3 s1 s2 s3 s1 s2 s3 s1 s2 s3 s1 s2 s3 s1 s2 s3 s1 s2");
}

TEST(RoundRobin, Runtime) {
  auto cfg = make_config(BalanceAlgo::RoundRobin, {1, 1, 1});
  Pool pool;
  PoolWriter w(pool, cfg);
  EXPECT_EQ(join(picks(pool, 5)), "s1 s2 s3 s1 s2");
  ASSERT_FALSE(w.begin().set_admin("b", "s2", kAdminForcedMaint, 0));
  EXPECT_EQ(join(picks(pool, 6)), "s3 s1 s3 s1 s3 s1");
  ASSERT_FALSE(w.begin().set_admin("b", "s2", 0, kAdminForcedMaint));
  EXPECT_EQ(join(picks(pool, 6)), "s3 s1 s2 s3 s1 s2");
}

}  // namespace
}  // namespace herd::balancing
