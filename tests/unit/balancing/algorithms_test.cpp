// static-rr, leastconn, first, source, uri, random and backup servers
// (tests/data/haproxy-captures/lb-sequences.txt).
#include <gtest/gtest.h>

#include <algorithm>

#include "balancing/lb.h"
#include "helpers.h"

namespace herd::balancing {
namespace {

using namespace testing;
using config::BalanceAlgo;

struct Fixture {
  explicit Fixture(BalanceAlgo algo, const std::vector<int>& w, int backups = 0)
      : cfg(make_config(algo, w, backups)) {}
  void start() { writer = std::make_unique<PoolWriter>(pool, cfg); }
  const BackendSnapshot& be() {
    snap = pool.current();
    return *snap->find("b");
  }
  config::Config cfg;
  Pool pool;
  std::unique_ptr<PoolWriter> writer;
  std::shared_ptr<const PoolSnapshot> snap;
};

TEST(StaticRR, RuntimeWeightsOnlyZeroOrInitial) {
  Fixture f(BalanceAlgo::StaticRR, {3, 1});
  f.start();
  auto t = f.writer->begin();
  EXPECT_EQ(t.set_weight("b", "s1", 2).value_or(""),
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.");
  EXPECT_FALSE(t.set_weight("b", "s1", 0));
  EXPECT_FALSE(t.set_weight_text("b", "s2", "0%"));
  t.commit();
  EXPECT_EQ(join(picks(f.pool, 4)), "- - - -");
  EXPECT_FALSE(f.writer->begin().set_weight_text("b", "s1", "100%"));
  EXPECT_EQ(join(picks(f.pool, 3)), "s1 s1 s1");
}

TEST(StaticRR, DownServerLeavesTheTable) {
  Fixture f(BalanceAlgo::StaticRR, {1, 1, 1});
  f.start();
  EXPECT_EQ(join(picks(f.pool, 4)), "s1 s2 s3 s1");
  ASSERT_FALSE(f.writer->begin().set_admin("b", "s3", kAdminForcedMaint, 0));
  auto seq = picks(f.pool, 10);
  EXPECT_EQ(std::count(seq.begin(), seq.end(), "s3"), 0);
  EXPECT_EQ(std::count(seq.begin(), seq.end(), "s1"), 5);
}

TEST(LeastConn, ConcurrentSlowRequestsFollowWeights) {
  // 6 concurrent 0.5 s requests, weights 1:2: s1 s2 s2 s2 s1 s2.
  Fixture f(BalanceAlgo::LeastConn, {1, 2});
  f.start();
  const auto& b = f.be();
  std::vector<std::string> got;
  for (int i = 0; i < 6; ++i) {
    const Server* s = b.pick({});
    ASSERT_NE(s, nullptr);
    s->live->inflight.inc();  // still running
    got.push_back(s->name);
  }
  EXPECT_EQ(join(got), "s1 s2 s2 s2 s1 s2");
}

TEST(LeastConn, PrefersIdleServer) {
  Fixture f(BalanceAlgo::LeastConn, {1, 1, 1});
  f.start();
  const auto& b = f.be();
  b.find("s1")->live->inflight.inc();
  b.find("s2")->live->inflight.inc();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.pick({})->name, "s3");
}

TEST(First, FillsServersInIdOrder) {
  // 7 concurrent slow requests, maxconn 2/2/none: s1 s1 s2 s2 s3 s3 s3.
  Fixture f(BalanceAlgo::First, {1, 1, 1});
  f.cfg.proxies[0].servers[0].maxconn = 2;
  f.cfg.proxies[0].servers[1].maxconn = 2;
  f.start();
  const auto& b = f.be();
  std::vector<std::string> got;
  for (int i = 0; i < 7; ++i) {
    const Server* s = b.pick({});
    ASSERT_NE(s, nullptr);
    s->live->inflight.inc();
    got.push_back(s->name);
  }
  EXPECT_EQ(join(got), "s1 s1 s2 s2 s3 s3 s3");
  Fixture g(BalanceAlgo::First, {1, 1, 1});
  g.start();
  EXPECT_EQ(join(picks(g.pool, 4)), "s1 s1 s1 s1");
}

TEST(Source, LoopbackGoesToThirdOfThree) {
  Fixture f(BalanceAlgo::Source, {1, 1, 1});
  f.start();
  PickContext ctx;
  ctx.client_ipv4 = 0x7f000001;  // 127.0.0.1 % 3 == 2
  EXPECT_EQ(join(picks(f.pool, 5, "b", ctx)), "s3 s3 s3 s3 s3");
  ctx.client_ipv4 = 0x7f000002;
  EXPECT_EQ(join(picks(f.pool, 2, "b", ctx)), "s1 s1");
}

TEST(Source, SaturatedServerQueuesInsteadOfMoving) {
  Fixture f(BalanceAlgo::Source, {1, 1, 1});
  f.cfg.proxies[0].servers[2].maxconn = 1;
  f.start();
  const auto& b = f.be();
  PickContext ctx;
  ctx.client_ipv4 = 0x7f000001;
  b.find("s3")->live->inflight.inc();
  EXPECT_EQ(b.pick(ctx), nullptr);
}

TEST(Uri, SdbmOfPathBeforeQuery) {
  EXPECT_EQ(lb_sdbm(""), 0u);
  Fixture f(BalanceAlgo::Uri, {1, 1, 1});
  f.start();
  const auto& b = f.be();
  std::vector<std::string> got, want;
  for (int i = 1; i <= 20; ++i) {
    std::string path = "/req" + std::to_string(i);
    std::string with_query = path + "?x=" + std::to_string(i * 7);
    PickContext ctx;
    ctx.uri_path = with_query;
    got.push_back(b.pick(ctx)->name);
    want.push_back("s" + std::to_string(lb_sdbm(path) % 3 + 1));
  }
  EXPECT_EQ(join(got), join(want));
  // Observed on HAProxy: /req1../req12.
  got.resize(12);
  EXPECT_EQ(join(got), "s1 s2 s3 s1 s2 s3 s1 s2 s3 s3 s1 s2");
}

TEST(Random, DistributionFollowsWeights) {
  Fixture f(BalanceAlgo::Random, {1, 1, 2});
  f.start();
  auto seq = picks(f.pool, 8000);
  const auto n1 = std::count(seq.begin(), seq.end(), "s1");
  const auto n3 = std::count(seq.begin(), seq.end(), "s3");
  EXPECT_NEAR(static_cast<double>(n1) / 8000, 0.25, 0.04);
  EXPECT_NEAR(static_cast<double>(n3) / 8000, 0.5, 0.04);
}

TEST(Random, PrefersLessLoadedAndRespectsMaxconn) {
  Fixture f(BalanceAlgo::Random, {1, 1});
  f.cfg.proxies[0].servers[0].maxconn = 1;
  f.start();
  const auto& b = f.be();
  b.find("s1")->live->inflight.inc();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(b.pick({})->name, "s2");
}

class Backup : public ::testing::TestWithParam<BalanceAlgo> {};

TEST_P(Backup, OnlyFirstBackupUnlessAllbackups) {
  // s1, s2 active; s3, s4 backup.
  Fixture f(GetParam(), {1, 1}, 2);
  f.start();
  auto seq = picks(f.pool, 8);
  EXPECT_EQ(std::count(seq.begin(), seq.end(), "s3") + std::count(seq.begin(), seq.end(), "s4"), 0);
  {
    auto t = f.writer->begin();
    ASSERT_FALSE(t.set_admin("b", "s1", kAdminForcedMaint, 0));
    ASSERT_FALSE(t.set_admin("b", "s2", kAdminForcedMaint, 0));
  }
  PickContext ctx;
  ctx.client_ipv4 = 0x7f000001;
  ctx.uri_path = "/x";
  EXPECT_EQ(join(picks(f.pool, 3, "b", ctx)), "s3 s3 s3");
  EXPECT_EQ(f.be().usable_weight(), 1);
  EXPECT_EQ(f.be().usable_active(), 0);
  EXPECT_EQ(f.be().usable_backup(), 2);
  // First backup gone: the next one takes over.
  ASSERT_FALSE(f.writer->begin().set_op("b", "s3", OpState::Stopped, 0));
  EXPECT_EQ(join(picks(f.pool, 2, "b", ctx)), "s4 s4");
  // An active server back: backups idle again.
  ASSERT_FALSE(f.writer->begin().set_admin("b", "s2", 0, kAdminForcedMaint));
  EXPECT_EQ(join(picks(f.pool, 2, "b", ctx)), "s2 s2");
}

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, Backup,
                         ::testing::Values(BalanceAlgo::RoundRobin, BalanceAlgo::StaticRR,
                                           BalanceAlgo::LeastConn, BalanceAlgo::First,
                                           BalanceAlgo::Source, BalanceAlgo::Uri,
                                           BalanceAlgo::Random));

TEST(Allbackups, BalancesBackups) {
  Fixture f(BalanceAlgo::RoundRobin, {1, 1}, 2);
  f.cfg.proxies[0].allbackups = true;
  f.start();
  {
    auto t = f.writer->begin();
    ASSERT_FALSE(t.set_admin("b", "s1", kAdminForcedMaint, 0));
    ASSERT_FALSE(t.set_admin("b", "s2", kAdminForcedMaint, 0));
  }
  EXPECT_EQ(join(picks(f.pool, 4)), "s3 s4 s3 s4");
  EXPECT_EQ(f.be().usable_weight(), 2);
}

}  // namespace
}  // namespace herd::balancing
