// SWIM/Lifeguard state machine over the in-memory network with a fake clock.
#include "membership/swim.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>

#include "membership/serf_msgs.h"

namespace herd::membership::swim {
namespace {

Address addr(uint8_t last) { return Address{Bytes{127, 0, 0, last}, 7946}; }

struct Events {
  std::vector<std::string> joins, updates, leaves;
  std::vector<Bytes> user;
};

// A cluster of Swim members on one InMemoryNetwork, driven in 10 ms steps.
class Cluster {
 public:
  explicit Cluster(int n, const Keyring* keyring = nullptr) {
    for (int i = 0; i < n; ++i) add("node" + std::to_string(i), keyring);
    // Join everyone through node0 with a push/pull exchange, like `-join`.
    for (int i = 1; i < n; ++i) push_pull(i, 0);
  }

  void add(const std::string& name, const Keyring* keyring) {
    const auto i = members.size();
    Config cfg;
    cfg.name = name;
    cfg.advertise = addr(static_cast<uint8_t>(10 + i));
    cfg.meta = serf::encode_tags({{"role", "backend"}});
    cfg.seed = 100 + i;
    cfg.keyring = keyring;
    events.push_back(std::make_unique<Events>());
    Events* ev = events.back().get();
    Swim::Callbacks cb;
    cb.on_join = [ev](const Node& nd) { ev->joins.push_back(nd.name); };
    cb.on_update = [ev](const Node& nd) { ev->updates.push_back(nd.name); };
    cb.on_leave = [ev](const Node& nd) {
      ev->leaves.push_back(nd.name + ":" + state_name(nd.state));
    };
    cb.on_user_message = [ev](const Bytes& b) { ev->user.push_back(b); };
    members.push_back(std::make_unique<Swim>(cfg, net.endpoint(cfg.advertise), cb, now));
    net.attach(cfg.advertise, members.back().get());
  }

  void push_pull(int a, int b) {
    const auto sa = members[a]->local_state();
    const auto sb = members[b]->local_state();
    members[b]->merge_remote_state(sa, now);
    members[a]->merge_remote_state(sb, now);
  }

  void run(Duration d) {
    const TimePoint end = now + d;
    while (now < end) {
      now += 10ms;
      for (auto& m : members) m->tick(now);
      net.deliver(now);
    }
  }

  // Runs until `observer` sees `subject` dead (or `limit` passes); returns
  // when it first saw it suspect and when dead (epoch if never).
  std::pair<TimePoint, TimePoint> watch_failure(int observer, int subject, Duration limit) {
    TimePoint suspected{}, dead{};
    const TimePoint start = now;
    while (now - start < limit && dead == TimePoint{}) {
      run(10ms);
      const State st = state_seen(observer, subject);
      if (suspected == TimePoint{} && st == State::kSuspect) suspected = now;
      if (st == State::kDead) dead = now;
    }
    return {suspected, dead};
  }

  State state_seen(int observer, int subject) const {
    const Node* n = members[observer]->find("node" + std::to_string(subject));
    return n ? n->state : State::kDead;
  }

  TimePoint now{};
  InMemoryNetwork net;
  std::vector<std::unique_ptr<Swim>> members;
  std::vector<std::unique_ptr<Events>> events;
};

TEST(SwimMath, SuspicionTimeoutShrinksWithConfirmations) {
  const Duration min = suspicion_min(4, 5, 1s);
  EXPECT_EQ(min, 4s);
  EXPECT_EQ(suspicion_min(4, 100, 1s), 8s);
  const Duration max = min * 6;
  EXPECT_EQ(suspicion_timeout(min, max, 0, 2), 24s);
  EXPECT_LT(suspicion_timeout(min, max, 1, 2), 24s);
  EXPECT_GT(suspicion_timeout(min, max, 1, 2), 4s);
  EXPECT_EQ(suspicion_timeout(min, max, 2, 2), 4s);
  EXPECT_EQ(suspicion_timeout(min, max, 0, 0), 4s);
}

TEST(SwimMath, RetransmitLimit) {
  EXPECT_EQ(retransmit_limit(4, 1), 4);
  EXPECT_EQ(retransmit_limit(4, 2), 4);
  EXPECT_EQ(retransmit_limit(4, 9), 4);
  EXPECT_EQ(retransmit_limit(4, 10), 8);
}

TEST(SwimMath, PushPullScaleAsMemberlist) {
  EXPECT_EQ(push_pull_scale(30s, 32), 30s);
  EXPECT_EQ(push_pull_scale(30s, 33), 60s);
  EXPECT_EQ(push_pull_scale(30s, 1000), 180s);
  EXPECT_EQ(push_pull_scale(30s, 10000), 300s);
}

TEST(BroadcastQueueTest, LeastTransmittedFirstLimitAndInvalidation) {
  BroadcastQueue q;
  q.queue("a", Bytes(10, 1));
  q.queue("b", Bytes(10, 2));
  q.queue("a", Bytes(10, 3));  // replaces the older news about a
  EXPECT_EQ(q.size(), 2u);
  auto first = q.take(2, 1000, 2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0], Bytes(10, 3));  // newest first among equals
  q.queue("c", Bytes(10, 4));
  auto second = q.take(2, 12, 2);  // room for one: the fresh item
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0], Bytes(10, 4));
  q.take(2, 1000, 2);
  EXPECT_EQ(q.size(), 0u);  // everything reached its limit
}

TEST(SwimTest, JoinedClusterStaysHealthy) {
  Cluster c(4);
  c.run(20s);
  for (int o = 0; o < 4; ++o) {
    for (int s = 0; s < 4; ++s) EXPECT_EQ(c.state_seen(o, s), State::kAlive) << o << "->" << s;
    EXPECT_EQ(c.members[o]->awareness(), 0);
    EXPECT_TRUE(c.events[o]->leaves.empty());
  }
  EXPECT_EQ(c.events[1]->joins.size(), 3u);  // node0 via push/pull, node2/3 via gossip
  // 4 members × 20 probe rounds × (ping + ack) at least, plus gossip.
  EXPECT_GT(c.net.sent(), 160u);
  EXPECT_EQ(c.net.dropped(), 0u);
}

TEST(SwimTest, FailedNodeIsSuspectedThenDeclaredDead) {
  Cluster c(3);
  c.run(3s);
  c.net.isolate(addr(12), true);  // node2 stops answering
  const TimePoint failed_at = c.now;
  const auto [suspected, dead] = c.watch_failure(0, 2, 30s);
  ASSERT_NE(suspected, TimePoint{});
  ASSERT_NE(dead, TimePoint{});
  // A probe round or two, then SuspicionMult × ProbeInterval = 4 s (k = 0 for 3 nodes).
  EXPECT_LE(suspected - failed_at, 4s);
  EXPECT_GE(dead - suspected, 3900ms);
  EXPECT_LE(dead - suspected, 4100ms);
  c.run(1s);
  EXPECT_EQ(c.state_seen(1, 2), State::kDead);
  EXPECT_EQ(c.events[1]->leaves, (std::vector<std::string>{"node2:dead"}));
}

TEST(SwimTest, LifeguardConfirmationsShortenSuspicion) {
  // 6 nodes: k = SuspicionMult - 2 = 2 confirmations expected, so the timer
  // starts at 6 × 4 s = 24 s and shrinks to 4 s as other members confirm.
  Cluster c(6);
  c.run(5s);
  c.net.isolate(addr(15), true);
  const auto [suspected, dead] = c.watch_failure(0, 5, 40s);
  ASSERT_NE(suspected, TimePoint{});
  ASSERT_NE(dead, TimePoint{});
  EXPECT_LT(dead - suspected, 12s);  // far below the unconfirmed 24 s
  EXPECT_GE(dead - suspected, 3s);
}

TEST(SwimTest, SuspectAboutSelfIsRefutedWithHigherIncarnation) {
  Cluster c(3);
  c.run(2s);
  const uint32_t inc = c.members[1]->self().incarnation;
  // node0 wrongly accuses node1 (as c03 does on the wire).
  memberlist::Suspect s{"node0", inc, "node1"};
  c.members[0]->handle_packet(addr(10), memberlist::encode(s), c.now);
  EXPECT_EQ(c.state_seen(0, 1), State::kSuspect);
  c.run(250ms);  // one gossip round carries the suspicion to node1
  EXPECT_EQ(c.members[1]->self().incarnation, inc + 1);
  EXPECT_EQ(c.members[1]->awareness(), 1);  // Lifeguard: being accused lowers our health
  c.run(2s);
  for (int o = 0; o < 3; ++o) EXPECT_EQ(c.state_seen(o, 1), State::kAlive) << o;
  c.run(10s);
  EXPECT_EQ(c.state_seen(0, 1), State::kAlive);
}

TEST(SwimTest, IndirectProbeKeepsNodeAliveWhenDirectLinkIsCut) {
  Cluster c(3);
  c.run(2s);
  c.net.cut(addr(10), addr(11), true);  // node0 cannot reach node1
  c.net.cut(addr(11), addr(10), true);
  c.net.cut_tcp(addr(10), addr(11), true);  // no TCP fallback either: relays only
  c.net.cut_tcp(addr(11), addr(10), true);
  c.run(30s);
  EXPECT_EQ(c.state_seen(0, 1), State::kAlive);  // node2 relays the acks
  EXPECT_EQ(c.state_seen(2, 1), State::kAlive);
  EXPECT_EQ(c.members[0]->counters().tcp_fallback_acks, 0u);
}

// node1's UDP is cut both ways to everyone (direct and relayed pings fail),
// TCP still works: memberlist's TCP fallback ping keeps it alive.
void cut_udp_around(Cluster& c, int victim) {
  for (int o = 0; o < static_cast<int>(c.members.size()); ++o) {
    if (o == victim) continue;
    c.net.cut(addr(static_cast<uint8_t>(10 + o)), addr(static_cast<uint8_t>(10 + victim)), true);
    c.net.cut(addr(static_cast<uint8_t>(10 + victim)), addr(static_cast<uint8_t>(10 + o)), true);
  }
}

TEST(SwimTest, TcpFallbackPingKeepsNodeAliveWhenUdpIsCutEverywhere) {
  Cluster c(3);
  c.run(2s);
  cut_udp_around(c, 1);
  for (int step = 0; step < 3000; ++step) {  // 30 s
    c.run(10ms);
    for (int o = 0; o < 3; ++o)
      for (int s = 0; s < 3; ++s)
        ASSERT_EQ(c.state_seen(o, s), State::kAlive) << o << "->" << s << " at step " << step;
  }
  for (int o = 0; o < 3; ++o) {
    const auto& k = c.members[o]->counters();
    EXPECT_EQ(k.suspicions, 0u) << o;
    EXPECT_EQ(k.suspects_seen, 0u) << o;
    // As memberlist: a probe saved by TCP improves health and missed nacks
    // (node2 relays, nacks never come back from node1's side) do not count.
    EXPECT_EQ(c.members[o]->awareness(), 0) << o;
  }
  // node0 probes node1 about every other round (3 members): each time the
  // direct ping and the indirect one through node2 fail, TCP answers.
  const auto& k0 = c.members[0]->counters();
  EXPECT_GE(k0.tcp_fallback_pings, 10u);
  EXPECT_GE(k0.tcp_fallback_acks, 10u);
  EXPECT_LE(k0.tcp_fallback_acks, k0.tcp_fallback_pings);
  EXPECT_GE(k0.indirect_probes, k0.tcp_fallback_pings);        // relays are asked too
  EXPECT_GE(c.members[1]->counters().tcp_fallback_acks, 10u);  // node1 probes over TCP too
  EXPECT_EQ(c.members[2]->counters().tcp_fallback_pings + k0.tcp_fallback_pings +
                c.members[1]->counters().tcp_fallback_pings,
            c.net.tcp_pings());
}

TEST(SwimTest, NodeUnreachableOverUdpAndTcpIsSuspectedThenDead) {
  Cluster c(3);
  c.run(2s);
  cut_udp_around(c, 1);
  c.net.cut_tcp(addr(10), addr(11), true);
  c.net.cut_tcp(addr(12), addr(11), true);
  const TimePoint failed_at = c.now;
  const auto [suspected, dead] = c.watch_failure(0, 1, 30s);
  ASSERT_NE(suspected, TimePoint{});
  ASSERT_NE(dead, TimePoint{});
  EXPECT_LE(suspected - failed_at, 4s);
  EXPECT_GE(dead - suspected, 3900ms);  // SuspicionMult × ProbeInterval, as without TCP
  EXPECT_LE(dead - suspected, 4100ms);
  // Whichever of node0 and node2 probed node1 first raised the suspicion,
  // after a TCP fallback ping that failed.
  const auto& c0 = c.members[0]->counters();
  const auto& c2 = c.members[2]->counters();
  EXPECT_GE(c0.tcp_fallback_pings + c2.tcp_fallback_pings, 1u);
  EXPECT_EQ(c0.tcp_fallback_acks + c2.tcp_fallback_acks, 0u);
  EXPECT_GE(c0.suspicions + c2.suspicions, 1u);
}

TEST(SwimTest, NoTcpPingWhenDisabledOrUnsupported) {
  InMemoryNetwork net;
  TimePoint now{};
  std::vector<std::unique_ptr<Swim>> m;
  for (int i = 0; i < 3; ++i) {
    Config cfg;
    cfg.name = "n" + std::to_string(i);
    cfg.advertise = addr(static_cast<uint8_t>(30 + i));
    cfg.disable_tcp_pings = i == 0;  // n0: DisableTcpPings
    if (i == 2) cfg.vsn[1] = 2;      // n2 speaks at most protocol 2: never TCP-pinged
    m.push_back(std::make_unique<Swim>(cfg, net.endpoint(cfg.advertise), Swim::Callbacks{}, now));
    net.attach(cfg.advertise, m.back().get());
  }
  for (int i = 1; i < 3; ++i) m[0]->merge_remote_state(m[i]->local_state(), now);
  for (int i = 1; i < 3; ++i) m[i]->merge_remote_state(m[0]->local_state(), now);
  for (int i = 0; i < 3; ++i) net.isolate(addr(static_cast<uint8_t>(30 + i)), true);
  for (int step = 0; step < 500; ++step) {
    now += 10ms;
    for (auto& s : m) s->tick(now);
    net.deliver(now);
  }
  EXPECT_GE(m[0]->counters().suspicions, 1u);
  EXPECT_EQ(m[0]->counters().tcp_fallback_pings, 0u);
  // n1 and n2 probed the others: n2 (protocol max 2) never got a TCP ping,
  // n0 and n1 (max 5) did, whatever version the prober speaks.
  EXPECT_GE(m[1]->counters().suspicions, 2u);
  EXPECT_EQ(m[1]->counters().tcp_fallback_acks, 0u);
  EXPECT_EQ(net.tcp_pings_to(addr(32)), 0u);
  EXPECT_GE(net.tcp_pings_to(addr(30)), 2u);
  EXPECT_GE(net.tcp_pings_to(addr(31)), 1u);
  EXPECT_EQ(net.tcp_pings(),
            m[1]->counters().tcp_fallback_pings + m[2]->counters().tcp_fallback_pings);
}

TEST(SwimTest, GracefulLeaveIsSeenAsLeft) {
  Cluster c(3);
  c.run(2s);
  c.members[2]->leave(c.now);
  c.run(2s);
  EXPECT_EQ(c.state_seen(0, 2), State::kLeft);
  EXPECT_EQ(c.state_seen(1, 2), State::kLeft);
  EXPECT_EQ(c.events[0]->leaves, (std::vector<std::string>{"node2:left"}));
}

TEST(SwimTest, MetaUpdateReachesEveryone) {
  Cluster c(3);
  c.run(2s);
  c.members[1]->update_meta(serf::encode_tags({{"role", "backend"}, {"weight", "10"}}), c.now);
  c.run(2s);
  for (int o : {0, 2}) {
    const Node* n = c.members[o]->find("node1");
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->incarnation, 2u);
    EXPECT_EQ(serf::decode_tags(n->meta)->at("weight"), "10");
    EXPECT_EQ(c.events[o]->updates, (std::vector<std::string>{"node1"}));
  }
}

TEST(SwimTest, UserBroadcastsAreRetransmitLimited) {
  Cluster c(3);
  c.run(2s);
  const Bytes payload = serf::encode(serf::UserEvent{true, 1, "deploy", Bytes{'v', '4', '2'}});
  c.members[0]->broadcast_user(payload);
  c.run(3s);
  // Each other member received it at least once; node0 sent it at most
  // retransmit_limit(4, 3) = 4 times.
  std::size_t total = 0;
  for (int o : {1, 2}) {
    EXPECT_GE(c.events[o]->user.size(), 1u);
    EXPECT_EQ(c.events[o]->user.front(), payload);
    total += c.events[o]->user.size();
  }
  EXPECT_LE(total, 4u);
  EXPECT_EQ(c.members[0]->pending_broadcasts(), 0u);
}

TEST(SwimTest, EncryptedClusterWorksAndDropsPlaintext) {
  auto kr = Keyring::create({Bytes(32, 7)});
  ASSERT_TRUE(kr.ok());
  Cluster c(3, &*kr);
  c.run(10s);
  for (int o = 0; o < 3; ++o) {
    for (int s = 0; s < 3; ++s) EXPECT_EQ(c.state_seen(o, s), State::kAlive);
  }
  // A plaintext suspect is ignored by a keyed member.
  memberlist::Suspect s{"x", 5, "node1"};
  c.members[0]->handle_packet(addr(99), memberlist::encode(s), c.now);
  EXPECT_EQ(c.state_seen(0, 1), State::kAlive);
}

TEST(SwimTest, PingFromSerfVectorIsAnsweredWithAck) {
  // A real agent's ping (a01 shape) to us: the ack goes to SourceAddr:SourcePort.
  InMemoryNetwork net;
  Config cfg;
  cfg.name = "lb1";
  cfg.advertise = Address{Bytes{127, 0, 0, 11}, 17946};
  cfg.meta = serf::encode_tags({});
  Swim lb(cfg, net.endpoint(cfg.advertise), {}, TimePoint{});
  struct Capture : Transport {
    std::vector<Bytes> got;
    void send(const Address&, Bytes p) override { got.push_back(std::move(p)); }
  };
  const Address backend{Bytes{127, 0, 0, 12}, 17946};
  memberlist::Ping ping{"lb1", 1, backend.ip, "backend1", backend.port};
  lb.handle_packet(Address{Bytes{127, 0, 0, 1}, 5555}, memberlist::encode(ping), TimePoint{});
  Swim* none = nullptr;
  net.attach(backend, none);
  // The ack (with our alive piggy-backed) was queued towards backend.
  EXPECT_EQ(net.sent(), 1u);
  EXPECT_EQ(net.deliver(TimePoint{}), 0u);
  EXPECT_EQ(net.dropped(), 1u);
}

TEST(SwimTest, CountersTrackProbesSuspicionsAndRefutations) {
  Cluster c(3);
  c.run(5s);
  for (const auto& m : c.members) {
    EXPECT_GE(m->counters().probes, 4u);  // one per 1 s probe interval
    EXPECT_EQ(m->counters().suspicions, 0u);
    EXPECT_GT(m->counters().gossip_packets, 0u);
  }
  // A wrong accusation: node1 refutes once.
  const uint32_t inc = c.members[1]->self().incarnation;
  c.members[0]->handle_packet(
      addr(10), memberlist::encode(memberlist::Suspect{"node0", inc, "node1"}), c.now);
  c.run(1s);
  EXPECT_EQ(c.members[1]->counters().refutations, 1u);
  EXPECT_EQ(c.members[0]->counters().suspects_seen, 1u);
  EXPECT_EQ(c.members[0]->counters().suspicions, 0u);  // not raised by its own probe
  // A real failure: probes fail, indirect probes go out, a suspicion is raised
  // and times out into a death.
  c.net.isolate(addr(12), true);
  c.watch_failure(0, 2, 30s);
  c.run(1s);
  uint64_t raised = 0, indirect = 0, deaths = 0;
  for (int i : {0, 1}) {
    raised += c.members[i]->counters().suspicions;
    indirect += c.members[i]->counters().indirect_probes;
    deaths += c.members[i]->counters().deaths_declared;
  }
  EXPECT_GE(raised, 1u);
  EXPECT_GE(indirect, 1u);
  EXPECT_GE(deaths, 1u);
}

TEST(SwimTest, DeadNodeIsForgottenAfterGossipToTheDeadAndRejoinsAsNew) {
  Cluster c(3);
  c.run(2s);
  c.net.isolate(addr(12), true);
  const auto [suspected, dead] = c.watch_failure(0, 2, 30s);
  ASSERT_NE(dead, TimePoint{});
  ASSERT_NE(c.members[0]->find("node2"), nullptr);  // still gossiped to for a while
  c.run(25s);
  ASSERT_NE(c.members[0]->find("node2"), nullptr);
  c.run(8s);  // GossipToTheDeadTime (30 s) plus a probe round
  EXPECT_EQ(c.members[0]->find("node2"), nullptr);
  EXPECT_EQ(c.members[1]->find("node2"), nullptr);
  // node2 comes back with the incarnation it had: a new join, not ignored.
  c.net.isolate(addr(12), false);
  const std::size_t joins = c.events[0]->joins.size();
  c.push_pull(2, 0);
  EXPECT_EQ(c.state_seen(0, 2), State::kAlive);
  EXPECT_EQ(c.events[0]->joins.size(), joins + 1);
  c.run(5s);
  for (int o = 0; o < 3; ++o)
    for (int s = 0; s < 3; ++s) EXPECT_EQ(c.state_seen(o, s), State::kAlive) << o << "->" << s;
  EXPECT_FALSE(c.members[0]->forget("node1"));  // only dead or left nodes
}

// ---- N = 200 -----------------------------------------------------------------------

// 200 members that all know each other, broadcast queues drained; built
// once for the suite (the tests run in order on the same cluster).
class SwimSim200 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<Cluster>(200);
    for (int i = 1; i < 200; ++i) cluster_->push_pull(i, 0);  // node0 knows everyone by now
    cluster_->run(10s);
  }
  static void TearDownTestSuite() { cluster_.reset(); }
  static std::unique_ptr<Cluster> cluster_;
};
std::unique_ptr<Cluster> SwimSim200::cluster_;

TEST_F(SwimSim200, ClusterConvergesWithoutFalseSuspicion) {
  Cluster& c = *cluster_;
  for (int o = 0; o < 200; o += 7)
    for (int s = 0; s < 200; ++s) ASSERT_EQ(c.state_seen(o, s), State::kAlive) << o << "->" << s;
  for (const auto& m : c.members) EXPECT_EQ(m->counters().suspicions, 0u);
}

// A meta update gossiped by one member reaches all 200 within the number of
// gossip rounds memberlist's retransmit limit allows for: each member
// passes a message on at most RetransmitMult × ceil(log10(n + 1)) = 12
// times, GossipNodes (3) per round, so an epidemic that still needs more
// than 12 rounds has lost the message somewhere. Afterwards every queue is
// empty (the limit is enforced).
TEST_F(SwimSim200, MetaUpdateReachesAllWithinRetransmitLimitRounds) {
  Cluster& c = *cluster_;
  const int limit = retransmit_limit(4, 200);
  ASSERT_EQ(limit, 12);
  ASSERT_EQ(c.members[0]->retransmit_limit_now(), limit);
  const int origin = 123;
  const uint32_t inc = c.members[origin]->self().incarnation + 1;
  c.members[origin]->update_meta(serf::encode_tags({{"role", "backend"}, {"v", "2"}}), c.now);
  const Duration round = 200ms;  // GossipInterval
  int rounds = 0;
  auto informed = [&] {
    int n = 0;
    for (const auto& m : c.members) {
      const Node* nd = m->find("node" + std::to_string(origin));
      n += nd && nd->incarnation >= inc;
    }
    return n;
  };
  while (informed() < 200 && rounds < 3 * limit) {
    c.run(round);
    ++rounds;
  }
  std::printf("N=200: meta update reached all members in %d gossip rounds (limit %d)\n", rounds,
              limit);
  EXPECT_EQ(informed(), 200);
  EXPECT_LE(rounds, limit);
  EXPECT_GE(rounds, 2);  // 3 targets a round: one round cannot reach 199 members
  c.run(round * limit);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(c.members[i]->pending_broadcasts(), 0u) << i;
}

// A crashed member is declared dead by all 199 others no earlier than
// Lifeguard's minimum suspicion timeout after the first suspicion
// (SuspicionMult × log10(200) × ProbeInterval = 9.2 s), and no later than
// the maximum (SuspicionMaxTimeoutMult × that = 55.2 s) plus the probe that
// raises it and the dissemination of the death.
TEST_F(SwimSim200, FailedMemberDeclaredDeadByAllWithinLifeguardBound) {
  Cluster& c = *cluster_;
  const int victim = 77;
  const std::string name = "node" + std::to_string(victim);
  const Duration min = suspicion_min(4, 200, 1s);
  const Duration max = min * 6;
  c.net.isolate(addr(static_cast<uint8_t>(10 + victim)), true);
  const TimePoint failed_at = c.now;
  TimePoint first_suspect{}, first_dead{}, all_dead{};
  while (all_dead == TimePoint{} && c.now - failed_at < max + 10s) {
    c.run(50ms);
    int dead = 0;
    for (int o = 0; o < 200; ++o) {
      if (o == victim) continue;
      const Node* n = c.members[o]->find(name);
      const State st = n ? n->state : State::kDead;
      if (st == State::kSuspect && first_suspect == TimePoint{}) first_suspect = c.now;
      if (st == State::kDead) ++dead;
    }
    if (dead > 0 && first_dead == TimePoint{}) first_dead = c.now;
    if (dead == 199) all_dead = c.now;
  }
  ASSERT_NE(first_suspect, TimePoint{});
  ASSERT_NE(all_dead, TimePoint{}) << "not every member declared " << name << " dead";
  const auto s = [](Duration d) { return std::chrono::duration<double>(d).count(); };
  std::printf("N=200: first suspicion %.2fs, first dead %.2fs, all dead %.2fs after the crash\n",
              s(first_suspect - failed_at), s(first_dead - failed_at), s(all_dead - failed_at));
  // ~1 probe of the victim per second from 199 members in independent random
  // orders (members probing in lockstep took over a minute here).
  EXPECT_LE(first_suspect - failed_at, 10s);
  EXPECT_GE(first_dead - first_suspect, min - 100ms);
  EXPECT_LE(all_dead - failed_at, 3s + max + 12 * 200ms);
  // Independent confirmations shortened the timer well below the maximum.
  EXPECT_LT(first_dead - first_suspect, max / 2);
  // Relays' nacks arrive: healthy members do not blame themselves (Lifeguard).
  for (int o = 0; o < 200; ++o) {
    if (o == victim) continue;
    EXPECT_EQ(c.members[o]->awareness(), 0) << o;
  }
}

}  // namespace
}  // namespace herd::membership::swim
