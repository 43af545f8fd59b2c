// SWIM/Lifeguard state machine over the in-memory network with a fake clock.
#include "membership/swim.h"

#include <gtest/gtest.h>

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
  c.run(30s);
  EXPECT_EQ(c.state_seen(0, 1), State::kAlive);  // node2 relays the acks
  EXPECT_EQ(c.state_seen(2, 1), State::kAlive);
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

}  // namespace
}  // namespace herd::membership::swim
