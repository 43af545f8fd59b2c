// Pool publication, PoolReader, PoolWriter transactions (config mapping,
// edits, error texts, identity of ServerLive), lookups, Endpoint, counters.
#include <gtest/gtest.h>

#include <thread>

#include "helpers.h"

namespace herd::balancing {
namespace {

using namespace testing;
using config::BalanceAlgo;

config::Config lab_config() {
  config::Config cfg;
  config::Proxy fe;
  fe.kind = config::Proxy::Kind::Frontend;
  fe.name = "fe";
  fe.id = 2;
  cfg.proxies.push_back(fe);
  config::Proxy be;
  be.kind = config::Proxy::Kind::Backend;
  be.name = "nodes";
  be.id = 3;
  be.balance.algo = BalanceAlgo::RoundRobin;
  auto s1 = make_cfg_server("s1", 1);
  s1.id = 1;
  s1.check = true;
  s1.rise = 2;
  s1.fall = 3;
  s1.maxconn = 10;
  auto s2 = make_cfg_server("s2", 5);
  s2.id = 2;
  s2.disabled = true;
  s2.addr.ip = "::1";
  s2.addr.port = 3001;
  auto s3 = make_cfg_server("s3", 1, true);
  s3.id = 3;
  s3.cookie = "";
  be.servers = {s1, s2, s3};
  cfg.proxies.push_back(be);
  config::Proxy st;
  st.kind = config::Proxy::Kind::Listen;
  st.name = "stats";
  st.id = 4;
  cfg.proxies.push_back(st);
  return cfg;
}

TEST(PoolWriter, BuildsBackendsFromConfig) {
  auto cfg = lab_config();
  Pool pool;
  PoolWriter w(pool, cfg);
  auto snap = pool.current();
  ASSERT_EQ(snap->backends.size(), 2u);  // the backend and the listen section
  EXPECT_EQ(snap->backends[0]->name, "nodes");
  EXPECT_EQ(snap->backends[1]->name, "stats");
  EXPECT_EQ(snap->find("fe"), nullptr);
  const BackendSnapshot& b = *snap->find("nodes");
  EXPECT_EQ(b.id, 3);
  EXPECT_EQ(b.config, &cfg.proxies[1]);
  ASSERT_EQ(b.servers.size(), 3u);
  const Server& s1 = *b.servers[0];
  EXPECT_EQ(s1.id, 1);
  EXPECT_TRUE(s1.check_enabled);
  EXPECT_EQ(s1.health, 2);  // checked servers start UP with h = rise
  EXPECT_EQ(s1.maxconn, 10);
  EXPECT_EQ(s1.addr.to_string(), "127.0.0.1:8000");
  EXPECT_EQ(s1.cookie, "s1");
  EXPECT_TRUE(s1.usable());
  const Server& s2 = *b.servers[1];
  EXPECT_EQ(s2.admin, 5u);  // config maint | forced maint, as `show servers state` prints
  EXPECT_TRUE(s2.in_maint());
  EXPECT_FALSE(s2.is_up());
  EXPECT_EQ(s2.weight, 5);
  EXPECT_EQ(s2.initial_weight, 5);
  EXPECT_EQ(s2.addr.to_string(), "[::1]:3001");
  EXPECT_TRUE(b.servers[2]->backup);
  EXPECT_EQ(b.usable_weight(), 1);
  EXPECT_EQ(b.usable_active(), 1);
  EXPECT_EQ(b.usable_backup(), 1);
  EXPECT_EQ(b.find_by_cookie("s1"), &s1);
  EXPECT_EQ(b.find_by_cookie("zz"), nullptr);
  EXPECT_EQ(b.find_by_cookie(""), nullptr);
  EXPECT_EQ(b.find("s2"), &s2);
  EXPECT_EQ(b.find_id(3), b.servers[2].get());
  EXPECT_EQ(b.find_id(9), nullptr);
  EXPECT_EQ(&w.staged(), snap.get());
}

TEST(PoolReader, SeesEachPublication) {
  auto cfg = lab_config();
  Pool pool;
  PoolWriter w(pool, cfg);
  PoolReader reader(pool);
  const uint64_t v1 = reader.get().version;
  EXPECT_EQ(v1, pool.version());
  auto held = reader.snapshot();         // an in-flight request
  EXPECT_EQ(&reader.get(), held.get());  // nothing published: same snapshot
  ASSERT_FALSE(w.begin().set_weight("nodes", "s1", 7));
  EXPECT_EQ(reader.get().version, v1 + 1);
  EXPECT_EQ(reader.get().find("nodes")->find("s1")->weight, 7);
  EXPECT_EQ(held->find("nodes")->find("s1")->weight, 1);  // old snapshot intact
}

TEST(PoolWriter, TransactionIsOnePublication) {
  auto cfg = lab_config();
  Pool pool;
  int published = 0;
  pool.on_publish([&](const PoolSnapshot&) { ++published; });
  PoolWriter w(pool, cfg);
  EXPECT_EQ(published, 1);
  const uint64_t v = pool.version();
  {
    auto t = w.begin();
    ASSERT_FALSE(t.set_weight("nodes", "s1", 3));
    ASSERT_FALSE(t.set_admin("nodes", "s2", 0, kAdminMaintMask));
    ASSERT_FALSE(t.set_check_enabled("nodes", "s1", false));
  }  // destroyed uncommitted: commits
  EXPECT_EQ(published, 2);
  EXPECT_EQ(pool.version(), v + 1);
  w.begin().commit();  // nothing staged: nothing published
  EXPECT_EQ(published, 2);
  auto snap = pool.current();
  EXPECT_EQ(snap->find("nodes")->find("s1")->weight, 3);
  EXPECT_FALSE(snap->find("nodes")->find("s1")->check_enabled);
  EXPECT_TRUE(snap->find("nodes")->find("s2")->usable());
  // Untouched backends are shared between publications.
  EXPECT_EQ(snap->backends[1].get(), w.staged().backends[1].get());
}

TEST(PoolWriter, SubscribersLearnTypedChangesAfterPublication) {
  auto cfg = lab_config();
  Pool pool;
  PoolWriter w(pool, cfg);
  std::vector<std::vector<PoolChange>> rounds;
  uint64_t version_seen = 0;
  const int id = w.subscribe([&](const std::vector<PoolChange>& chs) {
    version_seen = pool.version();  // already published when told
    rounds.push_back(chs);
  });
  using K = PoolChange::Kind;
  {
    auto t = w.begin();
    Server dyn;
    dyn.name = "dyn";
    ASSERT_TRUE(Endpoint::parse("127.0.0.1", 8080, dyn.addr));
    ASSERT_FALSE(t.add_server("nodes", dyn));
    ASSERT_TRUE(t.add_server("nodes", dyn));        // duplicate: refused, not reported
    ASSERT_TRUE(t.set_weight("nodes", "nope", 1));  // no such server: not reported
    ASSERT_FALSE(t.set_admin("nodes", "s1", kAdminForcedMaint, 0));
    ASSERT_FALSE(t.set_op("nodes", "s3", OpState::Stopped, 0));
    ASSERT_FALSE(t.set_weight_text("nodes", "s3", "50%"));
    ASSERT_FALSE(t.set_addr("nodes", "dyn", dyn.addr));
    ASSERT_FALSE(t.set_check_enabled("nodes", "s1", false));
    ASSERT_FALSE(t.update("nodes", "s3", [](Server& s) { s.cookie = "c"; }));
    EXPECT_TRUE(rounds.empty());  // nothing before the commit
    t.commit();
  }
  ASSERT_EQ(rounds.size(), 1u);
  EXPECT_EQ(version_seen, pool.version());
  EXPECT_EQ(rounds[0], (std::vector<PoolChange>{{K::Added, "nodes", "dyn"},
                                                {K::Admin, "nodes", "s1"},
                                                {K::Operational, "nodes", "s3"},
                                                {K::Weight, "nodes", "s3"},
                                                {K::Address, "nodes", "dyn"},
                                                {K::CheckEnabled, "nodes", "s1"},
                                                {K::Updated, "nodes", "s3"}}));
  // A subscriber that commits while told: its change comes in a next round,
  // after the first round reached every subscriber.
  std::vector<std::string> order;
  const int id2 = w.subscribe([&](const std::vector<PoolChange>& chs) {
    order.push_back("second:" + std::string(to_string(chs[0].kind)));
    if (chs[0].kind == K::Removed) {
      ASSERT_FALSE(w.begin().set_weight("nodes", "s3", 2));
    }
  });
  rounds.clear();
  ASSERT_FALSE(w.begin().remove_server("nodes", "dyn"));
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_EQ(rounds[0], (std::vector<PoolChange>{{K::Removed, "nodes", "dyn"}}));
  EXPECT_EQ(rounds[1], (std::vector<PoolChange>{{K::Weight, "nodes", "s3"}}));
  EXPECT_EQ(order, (std::vector<std::string>{"second:removed", "second:weight"}));
  w.unsubscribe(id);
  w.unsubscribe(id2);
  rounds.clear();
  ASSERT_FALSE(w.begin().set_weight("nodes", "s3", 1));
  EXPECT_TRUE(rounds.empty());
}

TEST(PoolWriter, ErrorTexts) {
  auto cfg = lab_config();
  Pool pool;
  PoolWriter w(pool, cfg);
  auto t = w.begin();
  EXPECT_EQ(t.set_weight("nope", "s1", 1).value_or(""), "No such backend.");
  EXPECT_EQ(t.set_weight("nodes", "nope", 1).value_or(""), "No such server.");
  EXPECT_EQ(t.set_weight("nodes", "s1", 257).value_or(""),
            "Absolute weight can only be between 0 and 256 inclusive.");
  EXPECT_EQ(t.set_weight("nodes", "s1", -1).value_or(""),
            "Absolute weight can only be between 0 and 256 inclusive.");
  EXPECT_EQ(t.set_weight_text("nodes", "s1", "300").value_or(""),
            "Absolute weight can only be between 0 and 256 inclusive.");
  EXPECT_EQ(t.set_weight_text("nodes", "s1", "-5%").value_or(""),
            "Relative weight must be positive.");
  EXPECT_EQ(t.set_weight_text("nodes", "s1", "3x").value_or(""),
            "Trailing garbage in weight string");
  EXPECT_EQ(t.set_weight_text("nodes", "s1", "x").value_or(""),
            "Empty weight string empty or preceded by garbage");
  EXPECT_EQ(t.set_op("nodes", "zz", OpState::Stopped, 0).value_or(""), "No such server.");
  EXPECT_EQ(t.remove_server("x", "s1").value_or(""), "No such backend.");
  EXPECT_EQ(t.remove_server("nodes", "x").value_or(""), "No such server.");
  Server dup;
  dup.name = "s1";
  EXPECT_EQ(t.add_server("nodes", dup).value_or(""),
            "Already exists a server with the same name in backend.");
  EXPECT_EQ(t.add_server("x", dup).value_or(""), "No such backend.");
}

TEST(PoolWriter, PercentWeightsApplyToInitialWeight) {
  auto cfg = lab_config();
  Pool pool;
  PoolWriter w(pool, cfg);
  auto t = w.begin();
  ASSERT_FALSE(t.set_weight_text("nodes", "s1", "50%"));  // weight 1: 0 (initial 1)
  ASSERT_FALSE(t.set_weight_text("nodes", "s2", "50%"));  // weight 5: 2
  t.commit();
  auto snap = pool.current();
  EXPECT_EQ(snap->find("nodes")->find("s1")->weight, 0);
  EXPECT_EQ(snap->find("nodes")->find("s1")->initial_weight, 1);
  EXPECT_EQ(snap->find("nodes")->find("s2")->weight, 2);
  ASSERT_FALSE(w.begin().set_weight_text("nodes", "s2", "10000%"));
  EXPECT_EQ(pool.current()->find("nodes")->find("s2")->weight, 256);
}

TEST(PoolWriter, IdentityAndLifetimeOfServerLive) {
  auto cfg = lab_config();
  Pool pool;
  PoolWriter w(pool, cfg);
  auto before = pool.current();
  auto live = before->find("nodes")->find("s1")->live;
  ASSERT_FALSE(w.begin().set_op("nodes", "s1", OpState::Stopped, 0));
  auto after = pool.current();
  EXPECT_EQ(after->find("nodes")->find("s1")->live, live);  // carried over
  ASSERT_FALSE(w.begin().update("nodes", "s1", [](Server& s) {
    s.id = 99;  // identity is not editable
    s.live.reset();
    s.maxconn = 4;
  }));
  const Server* s1 = pool.current()->find("nodes")->find("s1");
  EXPECT_EQ(s1->id, 1);
  EXPECT_EQ(s1->live, live);
  EXPECT_EQ(s1->maxconn, 4);

  std::weak_ptr<ServerLive> weak = live;
  live.reset();
  ASSERT_FALSE(w.begin().remove_server("nodes", "s1"));
  EXPECT_EQ(pool.current()->find("nodes")->find("s1"), nullptr);
  EXPECT_FALSE(weak.expired());  // `before` and `after` still reference it
  before.reset();
  after.reset();
  EXPECT_TRUE(weak.expired());
}

TEST(PoolWriter, AddServerTakesNextFreeId) {
  auto cfg = lab_config();
  Pool pool;
  PoolWriter w(pool, cfg);
  Server s;
  s.name = "dyn";
  ASSERT_TRUE(Endpoint::parse("10.0.0.9", 80, s.addr));
  s.origin = Origin::Runtime;
  s.admin = kAdminForcedMaint;  // the runtime API adds servers in MAINT
  ASSERT_FALSE(w.begin().add_server("nodes", s));
  auto snap = pool.current();
  const Server* d = snap->find("nodes")->find("dyn");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->id, 4);
  EXPECT_NE(d->live, nullptr);
  EXPECT_EQ(snap->find("nodes")->servers.back().get(), d);
  ASSERT_FALSE(w.begin().remove_server("nodes", "s2"));
  Server s2;
  s2.name = "again";
  ASSERT_FALSE(w.begin().add_server("nodes", s2));
  snap = pool.current();
  EXPECT_EQ(snap->find("nodes")->find("again")->id, 2);       // the freed sid
  EXPECT_EQ(snap->find("nodes")->servers[1]->name, "again");  // sid order
  // Ready: it takes traffic.
  ASSERT_FALSE(w.begin().set_admin("nodes", "dyn", 0, kAdminForcedMaint));
  auto seq = picks(pool, 20, "nodes");
  EXPECT_GT(std::count(seq.begin(), seq.end(), "dyn"), 0);
}

TEST(PoolWriter, LastChangeMovesOnStateChange) {
  auto cfg = lab_config();
  Pool pool;
  PoolWriter w(pool, cfg);
  auto live = pool.current()->find("nodes")->find("s1")->live;
  const auto t0 = live->last_change;
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_FALSE(w.begin().set_weight("nodes", "s1", 2));  // not a state change
  EXPECT_EQ(live->last_change, t0);
  ASSERT_FALSE(w.begin().set_op("nodes", "s1", OpState::Stopped, 0));
  EXPECT_GT(live->last_change, t0);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_FALSE(w.begin().set_op("nodes", "s1", OpState::Running, 2));
  EXPECT_GE(live->downtime, std::chrono::milliseconds(2));
}

TEST(Endpoint, ParseAndPrint) {
  Endpoint e;
  ASSERT_TRUE(Endpoint::parse("127.0.0.1", 3000, e));
  EXPECT_EQ(e.to_string(), "127.0.0.1:3000");
  EXPECT_EQ(e.len, sizeof(sockaddr_in));
  EXPECT_EQ(e.storage.ss_family, AF_INET);
  ASSERT_TRUE(Endpoint::parse("::1", 3000, e));
  EXPECT_EQ(e.to_string(), "[::1]:3000");
  EXPECT_EQ(e.len, sizeof(sockaddr_in6));
  ASSERT_TRUE(Endpoint::parse("[2001:db8:0::1]", 80, e));
  EXPECT_EQ(e.ip, "2001:db8::1");
  EXPECT_FALSE(Endpoint::parse("example.com", 80, e));
  EXPECT_FALSE(Endpoint::parse("1.2.3", 80, e));
  EXPECT_EQ(e.ip, "2001:db8::1");  // untouched on failure
}

TEST(Counters, SlotsSumAcrossThreads) {
  set_thread_count(4);
  CounterSet c;
  std::vector<std::thread> th;
  for (unsigned i = 0; i < 4; ++i)
    th.emplace_back([&c, i] {
      set_current_thread_slot(i);
      for (int n = 0; n < 10000; ++n) c.add(Counter::Requests);
      c.add(Counter::BytesIn, 5);
    });
  for (auto& t : th) t.join();
  c.add(Counter::Requests);  // this thread: the control slot
  EXPECT_EQ(current_thread_slot(), control_slot());
  EXPECT_EQ(c.sum(Counter::Requests), 40001u);
  EXPECT_EQ(c.sum(Counter::BytesIn), 20u);
  c.clear();
  EXPECT_EQ(c.sum(Counter::Requests), 0u);
  Gauge g;
  g.inc();
  g.inc();
  g.dec();
  EXPECT_EQ(g.get(), 1);
  EXPECT_EQ(g.max.load(), 2);
  set_thread_count(0);
}

}  // namespace
}  // namespace herd::balancing
