// Vivaldi coordinates (membership/coordinate.h): Serf's defaults, the ack
// payload, convergence on a simulated network with known RTTs, rejected
// samples, and the ping delegate hooks of Swim on the in-memory network.
#include "membership/coordinate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "membership/swim.h"

namespace herd::membership {
namespace {

using namespace std::chrono_literals;

TEST(Coordinates, FreshCoordinateAndAckPayloadAreSerfs) {
  Coordinates c("a", 1);
  EXPECT_EQ(c.self().vec, std::vector<double>(8, 0.0));
  EXPECT_DOUBLE_EQ(c.self().error, 1.5);
  EXPECT_DOUBLE_EQ(c.self().height, 10.0e-6);
  EXPECT_DOUBLE_EQ(c.self().adjustment, 0.0);
  const Bytes p = c.ack_payload();
  ASSERT_FALSE(p.empty());
  EXPECT_EQ(p[0], serf::kPingVersion);
  auto back = serf::decode_ping_payload(p);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, c.self());
  EXPECT_FALSE(c.cached("a"));  // only after a first sample
}

TEST(Coordinates, RestoreTakesAValidCoordinateOnly) {
  Coordinates c("a", 1);
  serf::Coordinate prev = c.self();
  prev.vec[0] = 0.002;
  prev.error = 0.3;
  prev.adjustment = -0.0001;
  prev.height = 2e-5;
  EXPECT_TRUE(c.restore(prev));
  EXPECT_EQ(c.self(), prev);
  ASSERT_TRUE(c.cached("a"));
  EXPECT_EQ(*c.cached("a"), prev);
  serf::Coordinate bad = prev;
  bad.vec.resize(3);  // another dimensionality
  EXPECT_FALSE(c.restore(bad));
  bad = prev;
  bad.vec[1] = std::nan("");
  EXPECT_FALSE(c.restore(bad));
  bad = prev;
  bad.error = 0;
  EXPECT_FALSE(c.restore(bad));
  EXPECT_EQ(c.self(), prev);
}

TEST(Coordinates, RejectedSamplesLeaveEverythingAsItWas) {
  Coordinates c("a", 1);
  Coordinates other("b", 2);
  EXPECT_NE(c.ping_complete("b", 1ms, Bytes{}), "");
  Bytes wrong_version = other.ack_payload();
  wrong_version[0] = 2;
  EXPECT_NE(c.ping_complete("b", 1ms, wrong_version), "");
  EXPECT_NE(c.ping_complete("b", 1ms, Bytes{serf::kPingVersion, 0xc1}), "");
  serf::Coordinate short_vec = other.self();
  short_vec.vec.resize(3);
  EXPECT_NE(c.ping_complete("b", 1ms, serf::encode_ping_payload(short_vec)), "");
  serf::Coordinate nan = other.self();
  nan.height = std::nan("");
  EXPECT_NE(c.ping_complete("b", 1ms, serf::encode_ping_payload(nan)), "");
  EXPECT_NE(c.ping_complete("b", 11s, other.ack_payload()), "");
  EXPECT_NE(c.ping_complete("b", -1ms, other.ack_payload()), "");
  EXPECT_EQ(c.updates(), 0u);
  EXPECT_FALSE(c.cached("b"));
  EXPECT_EQ(c.ping_complete("b", 1ms, other.ack_payload()), "");
  EXPECT_TRUE(c.cached("b"));
  EXPECT_TRUE(c.cached("a"));
  c.forget("b");
  EXPECT_FALSE(c.cached("b"));
}

// Nodes on a plane, RTT = Euclidean distance (ms). After rounds of samples
// every pair's estimate is close to the truth.
TEST(Coordinates, ConvergesToTheTrueRtts) {
  const double pos[][2] = {{0, 0}, {10, 0}, {0, 20}, {30, 30}, {5, 40}};
  const int n = 5;
  std::vector<std::unique_ptr<Coordinates>> cs;
  for (int i = 0; i < n; ++i)
    cs.push_back(std::make_unique<Coordinates>("n" + std::to_string(i), 100 + i));
  auto truth = [&](int i, int j) {
    return std::hypot(pos[i][0] - pos[j][0], pos[i][1] - pos[j][1]) / 1000.0 + 0.0005;
  };
  for (int round = 0; round < 400; ++round)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        if (i == j) continue;
        const auto rtt = std::chrono::nanoseconds(static_cast<int64_t>(truth(i, j) * 1e9));
        ASSERT_EQ(cs[i]->ping_complete("n" + std::to_string(j), rtt, cs[j]->ack_payload()), "");
      }
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      const double est = coordinate_distance(cs[i]->self(), cs[j]->self());
      EXPECT_NEAR(est, truth(i, j), 0.25 * truth(i, j) + 0.002) << i << "-" << j;
    }
  for (const auto& c : cs) EXPECT_LT(c->self().error, 0.5);
}

struct Pinger : ::testing::Test {
  swim::InMemoryNetwork net;
  std::vector<std::unique_ptr<swim::Swim>> members;
  std::vector<std::unique_ptr<Coordinates>> coords;
  swim::TimePoint now{};
  void add(int i) {
    swim::Config cfg;
    cfg.name = "n" + std::to_string(i);
    cfg.advertise = swim::Address{Bytes{127, 0, 0, static_cast<uint8_t>(10 + i)}, 7946};
    cfg.seed = 5 + static_cast<uint64_t>(i);
    coords.push_back(std::make_unique<Coordinates>(cfg.name, 9 + static_cast<uint64_t>(i)));
    Coordinates* c = coords.back().get();
    swim::Swim::Callbacks cb;
    cb.ack_payload = [c] { return c->ack_payload(); };
    cb.on_ping_complete = [c](const swim::Node& n, swim::Duration rtt, const Bytes& p) {
      EXPECT_EQ(c->ping_complete(n.name, rtt, p), "");
    };
    members.push_back(std::make_unique<swim::Swim>(cfg, net.endpoint(cfg.advertise), cb, now));
    net.attach(cfg.advertise, members.back().get());
  }
};

TEST_F(Pinger, DirectProbeAcksCarryAndUpdateCoordinates) {
  for (int i = 0; i < 3; ++i) add(i);
  for (int i = 1; i < 3; ++i) {
    members[i]->merge_remote_state(members[0]->local_state(), now);
    members[0]->merge_remote_state(members[i]->local_state(), now);
  }
  for (int step = 0; step < 1000; ++step) {  // 10 s of 10 ms steps
    now += 10ms;
    for (auto& m : members) m->tick(now);
    net.deliver(now);
  }
  for (int i = 0; i < 3; ++i) {
    EXPECT_GE(coords[i]->updates(), 3u) << i;
    EXPECT_TRUE(coords[i]->cached("n" + std::to_string(i)));
    for (int j = 0; j < 3; ++j) EXPECT_TRUE(coords[i]->cached("n" + std::to_string(j))) << i << j;
  }
}

}  // namespace
}  // namespace herd::membership
