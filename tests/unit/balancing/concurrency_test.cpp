// PoolConcurrency.*: reader threads pick at full speed, holding snapshots
// and inflight slots like in-flight requests, while the writer adds, drains,
// sets maint, reweights and removes servers at random. Meant to run under
// ThreadSanitizer too (ctest label `tsan`).
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <random>
#include <set>
#include <thread>

#include "helpers.h"

namespace herd::balancing {
namespace {

using namespace testing;
using config::BalanceAlgo;

struct Violations {
  std::atomic<uint64_t> picks{0}, nulls{0};
  std::atomic<uint64_t> not_in_snapshot{0}, not_usable{0}, wrong_group{0}, null_but_usable{0};
};

// Checks one pick against the snapshot it was made on.
void check_pick(const BackendSnapshot& be, const Server* s, Violations& v) {
  bool any_active = false, any_backup = false;
  for (const auto& x : be.servers) {
    if (!x->usable()) continue;
    (x->backup ? any_backup : any_active) = true;
  }
  if (!s) {
    v.nulls.fetch_add(1, std::memory_order_relaxed);
    // No maxconn in this test: null only when nothing is usable.
    if (any_active || any_backup) v.null_but_usable.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  v.picks.fetch_add(1, std::memory_order_relaxed);
  bool found = false;
  for (const auto& x : be.servers) found = found || x.get() == s;
  if (!found) v.not_in_snapshot.fetch_add(1, std::memory_order_relaxed);
  if (!s->usable()) v.not_usable.fetch_add(1, std::memory_order_relaxed);
  if (s->backup && any_active) v.wrong_group.fetch_add(1, std::memory_order_relaxed);
}

void churn(BalanceAlgo algo, std::chrono::milliseconds duration, unsigned readers) {
  set_thread_count(readers);
  auto cfg = make_config(algo, {1, 2, 3, 1, 5}, 2);
  Pool pool;
  PoolWriter writer(pool, cfg);
  Violations v;
  std::atomic<bool> stop{false};

  std::vector<std::thread> threads;
  for (unsigned t = 0; t < readers; ++t) {
    threads.emplace_back([&, t] {
      set_current_thread_slot(t);
      PoolReader reader(pool);
      std::mt19937 rng(t + 1);
      struct InFlight {
        std::shared_ptr<const PoolSnapshot> snap;
        const Server* server;
      };
      std::deque<InFlight> inflight;
      std::string path = "/p";
      while (!stop.load(std::memory_order_relaxed)) {
        const auto& snap = reader.snapshot();
        const BackendSnapshot* be = snap->find("b");
        if (!be) continue;
        PickContext ctx;
        ctx.client_ipv4 = rng();
        path.resize(2);
        path += std::to_string(rng() % 1000);
        ctx.uri_path = path;
        const Server* s = be->pick(ctx);
        check_pick(*be, s, v);
        if (!s) continue;
        s->live->inflight.inc();
        inflight.push_back({snap, s});  // keeps the snapshot alive
        while (inflight.size() > rng() % 64) {
          inflight.front().server->live->inflight.dec();
          inflight.pop_front();
        }
      }
      for (auto& f : inflight) f.server->live->inflight.dec();
    });
  }

  std::mt19937 rng(42);
  std::vector<std::string> names;
  for (const auto& s : cfg.proxies[0].servers) names.push_back(s.name);
  std::set<std::shared_ptr<ServerLive>> every_live;  // to check the gauges at the end
  for (const auto& s : pool.current()->find("b")->servers) every_live.insert(s->live);
  int added = 0;
  uint64_t commits = 0;
  const auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until) {
    auto t = writer.begin();
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const std::string name = names.empty() ? "" : names[rng() % names.size()];
      switch (rng() % 9) {
        case 0: {
          Server s;
          s.name = "n" + std::to_string(++added);
          s.weight = s.initial_weight = 1 + static_cast<int>(rng() % 4);
          s.backup = rng() % 4 == 0;
          Endpoint::parse("10.0.0.1", 80, s.addr);
          if (!t.add_server("b", s)) names.push_back(s.name);
          break;
        }
        case 1:
          if (names.size() > 1 && !t.remove_server("b", name))
            names.erase(std::find(names.begin(), names.end(), name));
          break;
        case 2:
          t.set_admin("b", name, kAdminForcedMaint, 0);
          break;
        case 3:
          t.set_admin("b", name, 0, kAdminForcedMaint);
          break;
        case 4:
          t.set_admin("b", name, kAdminForcedDrain, 0);
          break;
        case 5:
          t.set_admin("b", name, 0, kAdminForcedDrain);
          break;
        case 6:
          if (is_static_algo(algo))
            t.set_weight_text("b", name, rng() % 2 ? "0%" : "100%");
          else
            t.set_weight("b", name, static_cast<int>(rng() % 6));
          break;
        case 7:
          t.set_op("b", name, OpState::Stopped, 0);
          break;
        default:
          t.set_op("b", name, OpState::Running, 2);
          break;
      }
    }
    t.commit();
    ++commits;
    if (commits % 64 == 0) {
      // Everything usable again now and then, so picks are exercised.
      auto r = writer.begin();
      for (const auto& n : names) {
        r.set_admin("b", n, 0, kAdminMaintMask | kAdminDrainMask);
        r.set_op("b", n, OpState::Running, 2);
      }
    }
    for (const auto& s : pool.current()->find("b")->servers) every_live.insert(s->live);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
  }
  stop = true;
  for (auto& th : threads) th.join();

  EXPECT_GT(commits, 50u);
  EXPECT_GT(v.picks.load(), 1000u);
  EXPECT_EQ(v.not_in_snapshot.load(), 0u);
  EXPECT_EQ(v.not_usable.load(), 0u);
  EXPECT_EQ(v.wrong_group.load(), 0u);
  EXPECT_EQ(v.null_but_usable.load(), 0u);
  for (const auto& l : every_live) EXPECT_EQ(l->inflight.get(), 0);
  set_thread_count(0);
}

TEST(PoolConcurrency, RoundRobinChurn) {
  churn(BalanceAlgo::RoundRobin, std::chrono::milliseconds(1200), 4);
}

TEST(PoolConcurrency, OtherAlgorithmsChurn) {
  for (auto algo : {BalanceAlgo::StaticRR, BalanceAlgo::LeastConn, BalanceAlgo::First,
                    BalanceAlgo::Source, BalanceAlgo::Uri, BalanceAlgo::Random})
    churn(algo, std::chrono::milliseconds(150), 3);
}

// Sequential picks from several threads share one global order: the union
// of all picks has exactly the model's proportions per full cycle.
TEST(PoolConcurrency, RoundRobinGlobalOrder) {
  set_thread_count(4);
  auto cfg = make_config(BalanceAlgo::RoundRobin, {5, 3, 1});
  Pool pool;
  PoolWriter writer(pool, cfg);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      set_current_thread_slot(t);
      PoolReader reader(pool);
      for (int i = 0; i < 9 * 1000; ++i) reader.get().find("b")->pick({});
    });
  for (auto& th : threads) th.join();
  auto snap = pool.current();
  const auto& b = *snap->find("b");
  EXPECT_EQ(b.find("s1")->live->counters.sum(Counter::LbTotal), 20000u);
  EXPECT_EQ(b.find("s2")->live->counters.sum(Counter::LbTotal), 12000u);
  EXPECT_EQ(b.find("s3")->live->counters.sum(Counter::LbTotal), 4000u);
  set_thread_count(0);
}

}  // namespace
}  // namespace herd::balancing
