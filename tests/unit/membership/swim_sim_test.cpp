// The discrete-event simulation of membership/swim_sim.h at small N (the
// CI-sized run of bench/swim_sim): a join and a crash spread within the
// bounds memberlist's rules give, no false death at 1 % loss, the same
// seed gives the same run; and the lossy, delaying InMemoryNetwork under it.
#include "membership/swim_sim.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace herd::membership::swim {
namespace {

double secs(Duration d) { return std::chrono::duration<double>(d).count(); }

TEST(SwimSimNetwork, LinkModelLosesAndDelaysDatagrams) {
  InMemoryNetwork net;
  net.set_link_model({0.05, 500us, 2ms, 7});
  const Address a{Bytes{10, 0, 0, 1}, 7946}, b{Bytes{10, 0, 0, 2}, 7946};
  Config cfg;
  cfg.name = "b";
  cfg.advertise = b;
  Swim sb(cfg, net.endpoint(b), {}, TimePoint{});
  net.attach(b, &sb);
  const TimePoint sent_at = TimePoint{} + 1s;
  net.set_clock(sent_at);
  for (int i = 0; i < 10000; ++i) net.endpoint(a).send(b, Bytes{1, 2, 3});
  EXPECT_EQ(net.sent(), 10000u);
  EXPECT_EQ(net.sent_bytes(), 30000u);
  EXPECT_GT(net.lost(), 400u);  // 5 % of 10,000 = 500
  EXPECT_LT(net.lost(), 600u);
  ASSERT_TRUE(net.next_due());
  EXPECT_GE(*net.next_due(), sent_at + 500us);
  EXPECT_EQ(net.deliver(sent_at + 499us), 0u);  // nothing arrives before the minimum latency
  EXPECT_EQ(net.deliver(sent_at + 2ms), 10000u - net.lost());
  EXPECT_FALSE(net.next_due());
}

// Which members (other than the subject) have seen `subject` reach `state`.
struct Watch {
  Watch(Simulation& sim, State st) : state(st) {
    sim.on_change([this](const Simulation::Change& c) {
      if (c.subject.name != subject || c.subject.state != state) return;
      if (c.observer >= seen.size()) seen.resize(c.observer + 1);
      if (!seen[c.observer]) {
        seen[c.observer] = true;
        ++count;
      }
    });
  }
  std::string subject;
  State state;
  std::size_t count = 0;
  std::vector<bool> seen;
};

constexpr std::size_t kN = 100;

SimOptions options(double loss = 0, uint64_t seed = 1) {
  SimOptions o;
  o.members = kN;
  o.loss = loss;
  o.seed = seed;
  return o;
}

// A member joining through one seed is known alive by all 100 others within
// memberlist's retransmit limit of gossip rounds, RetransmitMult ×
// ceil(log10(101)) = 12 (each member passes the news on at most that many
// times, GossipNodes a round); right after the push/pull only the seed
// knows.
TEST(SwimSim, JoinReachesEveryMemberWithinRetransmitLimitRounds) {
  Simulation sim(options());
  Watch w(sim, State::kAlive);
  sim.run_for(5s);
  const std::size_t joiner = sim.add_member();
  w.subject = sim.name(joiner);
  const TimePoint at = sim.now();
  sim.join(joiner, 0);
  EXPECT_EQ(w.count, 1u);  // the seed, through push/pull
  ASSERT_TRUE(sim.run_until(at + 30s, [&] { return w.count == kN; }));
  const Duration took = sim.now() - at;
  std::printf("N=%zu: join known by all in %.3f s\n", kN, secs(took));
  EXPECT_LE(took, retransmit_limit(4, kN + 1) * 200ms);
  for (std::size_t i = 0; i < sim.size(); ++i) EXPECT_EQ(sim.member(i).nodes().size(), kN + 1) << i;
}

// A crash is declared dead by all 99 others no earlier than Lifeguard's
// minimum suspicion timeout (SuspicionMult × log10(100) × ProbeInterval =
// 8 s) and no later than the probe rounds needed to suspect it, the maximum
// (6 × 8 s) and the gossip of the death; confirmations bring it well below
// the maximum.
TEST(SwimSim, CrashIsDeclaredDeadByAllWithinLifeguardBounds) {
  Simulation sim(options());
  Watch w(sim, State::kDead);
  sim.run_for(5s);
  const std::size_t victim = 42;
  w.subject = sim.name(victim);
  sim.kill(victim);
  const TimePoint at = sim.now();
  ASSERT_TRUE(sim.run_until(at + 120s, [&] { return w.count == kN - 1; }));
  const Duration took = sim.now() - at;
  std::printf("N=%zu: crash declared dead by all in %.3f s\n", kN, secs(took));
  const Duration min = suspicion_min(4, kN, 1s);
  EXPECT_EQ(min, 8s);
  EXPECT_GE(took, min);
  EXPECT_LE(took, 10s + 6 * min + 12 * 200ms);
  EXPECT_LT(took, 10s + 3 * min);
  EXPECT_EQ(sim.count_seeing(victim, State::kDead), kN - 1);
  EXPECT_EQ(sim.totals().deaths_declared >= 1, true);
}

// 1 % of datagrams lost on every link, TCP fallback pings off (UDP only,
// the harder case), two simulated minutes: a few probes fail, nobody is
// declared dead, and every table still has every member alive.
TEST(SwimSim, NoFalseDeathAtOnePercentLoss) {
  SimOptions o = options(0.01);
  o.tcp_pings = false;
  Simulation sim(o);
  std::size_t dead_seen = 0;
  sim.on_change([&](const Simulation::Change& c) {
    dead_seen += c.subject.state == State::kDead || c.subject.state == State::kLeft;
  });
  sim.run_for(120s);
  const auto t = sim.totals();
  std::printf(
      "N=%zu, 1%% loss, 120 s: %llu of %llu datagrams lost, %llu suspicions, %llu refuted\n", kN,
      static_cast<unsigned long long>(t.udp_lost), static_cast<unsigned long long>(t.udp_packets),
      static_cast<unsigned long long>(t.suspicions),
      static_cast<unsigned long long>(t.refutations));
  EXPECT_GT(t.udp_lost, t.udp_packets / 200);  // the loss happened: ~1 %
  EXPECT_LT(t.udp_lost, t.udp_packets / 50);
  EXPECT_GE(t.probes, kN * 100);  // ~one probe a second each
  EXPECT_EQ(t.deaths_declared, 0u);
  EXPECT_EQ(dead_seen, 0u);
  for (std::size_t s = 0; s < kN; s += 9)
    EXPECT_EQ(sim.count_seeing(s, State::kAlive), kN - 1) << s;
}

// The same options and seed give the same run (byte for byte on the
// network); another seed another one.
TEST(SwimSim, SameSeedSameRun) {
  auto run = [](uint64_t seed) {
    SimOptions o = options(0.05, seed);
    o.members = 50;
    Simulation sim(o);
    sim.run_for(5s);
    const std::size_t j = sim.add_member();
    sim.join(j, 3);
    sim.kill(7);
    sim.run_for(30s);
    const auto t = sim.totals();
    return std::vector<uint64_t>{t.udp_packets, t.udp_bytes,  t.udp_lost,    t.push_pulls,
                                 t.probes,      t.suspicions, t.refutations, t.deaths_declared};
  };
  const auto a = run(11);
  EXPECT_EQ(a, run(11));
  EXPECT_NE(a, run(12));
  EXPECT_GT(a[0], 0u);
}

}  // namespace
}  // namespace herd::membership::swim
