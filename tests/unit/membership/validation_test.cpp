// Validation of what the wire says (issue 15 item 6): an alive message or a
// push/pull entry that would create a member with an empty name, an invalid
// address or port 0 is dropped and counted; the state machine fed random
// decoded messages never holds such a member.
#include <gtest/gtest.h>

#include <random>

#include "membership/swim.h"

namespace herd::membership::swim {
namespace {

struct NullTransport : Transport {
  void send(const Address&, Bytes) override {}
};

Swim make(NullTransport& t, std::vector<std::string>& joined) {
  Config cfg;
  cfg.name = "self";
  cfg.advertise = Address{Bytes{127, 0, 0, 1}, 7946};
  Swim::Callbacks cb;
  cb.on_join = [&joined](const Node& n) { joined.push_back(n.name); };
  return Swim(cfg, t, cb, TimePoint{});
}

memberlist::Alive alive(std::string name, Bytes ip, uint16_t port) {
  return memberlist::Alive{
      std::move(ip),
      1,
      {},
      std::move(name),
      port,
      Bytes(std::begin(memberlist::kSerfAgentVsn), std::end(memberlist::kSerfAgentVsn))};
}

TEST(MemberValidation, ValidMemberRule) {
  EXPECT_TRUE(valid_member("a", Bytes{10, 0, 0, 1}, 7946));
  Bytes v6(16, 0);
  v6[15] = 1;  // ::1
  EXPECT_TRUE(valid_member("a", v6, 1));
  EXPECT_FALSE(valid_member("", Bytes{10, 0, 0, 1}, 7946));
  EXPECT_FALSE(valid_member("a", Bytes{}, 7946));
  EXPECT_FALSE(valid_member("a", Bytes{10, 0, 0}, 7946));
  EXPECT_FALSE(valid_member("a", Bytes{0, 0, 0, 0}, 7946));
  EXPECT_FALSE(valid_member("a", Bytes(16, 0), 7946));
  EXPECT_FALSE(valid_member("a", Bytes{10, 0, 0, 1}, 0));
}

TEST(MemberValidation, BadAliveAndPushPullEntriesAreDroppedAndCounted) {
  NullTransport t;
  std::vector<std::string> joined;
  Swim s = make(t, joined);
  const Address from{Bytes{10, 0, 0, 9}, 7946};
  for (const auto& a : {alive("", Bytes{10, 0, 0, 2}, 7946), alive("x", Bytes{}, 0),
                        alive("y", Bytes{0, 0, 0, 0}, 7946), alive("z", Bytes{10, 0, 0, 2}, 0)})
    s.handle_packet(from, memberlist::encode(a), TimePoint{});
  std::vector<memberlist::PushNodeState> pp{
      {Bytes{}, 1, {}, "", 0, memberlist::NodeState::kAlive, {}},
      {Bytes{10, 0, 0, 3}, 1, {}, "w", 0, memberlist::NodeState::kAlive, {}},
      {Bytes{10, 0, 0, 4},
       1,
       {},
       "ok",
       7946,
       memberlist::NodeState::kAlive,
       Bytes(std::begin(memberlist::kSerfAgentVsn), std::end(memberlist::kSerfAgentVsn))}};
  s.merge_remote_state(pp, TimePoint{});
  EXPECT_EQ(s.counters().invalid_members, 6u);
  EXPECT_EQ(joined, (std::vector<std::string>{"ok"}));
  EXPECT_EQ(s.nodes().size(), 2u);  // self and ok
  // A valid member cannot be moved to an invalid address either.
  auto moved = alive("ok", Bytes{10, 0, 0, 4}, 0);
  moved.incarnation = 5;
  s.handle_packet(from, memberlist::encode(moved), TimePoint{});
  EXPECT_EQ(s.find("ok")->addr.port, 7946);
  EXPECT_EQ(s.counters().invalid_members, 7u);
}

// Decoded garbage: random alive/suspect/dead messages and push/pull entries
// with random names (often empty), addresses and ports. Invariant: every
// node in the table is a valid member.
TEST(MemberValidation, RandomDecodedMessagesNeverCreateInvalidMembers) {
  NullTransport t;
  std::vector<std::string> joined;
  Swim s = make(t, joined);
  std::mt19937 rng(15);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto name = [&] {
    const char* names[] = {"", "a", "b", "self", "c"};
    return std::string(names[pick(5)]);
  };
  auto ip = [&] {
    switch (pick(5)) {
      case 0:
        return Bytes{};
      case 1:
        return Bytes{0, 0, 0, 0};
      case 2:
        return Bytes{10, 0, 0, static_cast<uint8_t>(pick(3))};
      case 3:
        return Bytes(static_cast<std::size_t>(pick(20)), 1);
      default:
        return Bytes(16, static_cast<uint8_t>(pick(2)));
    }
  };
  TimePoint now{};
  const Address from{Bytes{10, 0, 0, 9}, 7946};
  for (int i = 0; i < 20000; ++i) {
    now += std::chrono::milliseconds(pick(50));
    const auto inc = static_cast<uint32_t>(pick(4));
    const uint16_t port = pick(3) == 0 ? 0 : static_cast<uint16_t>(7946 + pick(2));
    switch (pick(4)) {
      case 0: {
        auto a = alive(name(), ip(), port);
        a.incarnation = inc;
        s.handle_packet(from, memberlist::encode(a), now);
        break;
      }
      case 1:
        s.handle_packet(from, memberlist::encode(memberlist::Suspect{name(), inc, name()}), now);
        break;
      case 2:
        s.handle_packet(from, memberlist::encode(memberlist::Dead{name(), inc, name()}), now);
        break;
      default:
        s.merge_remote_state(
            {memberlist::PushNodeState{
                ip(), inc, {}, name(), port, static_cast<memberlist::NodeState>(pick(4)), {}}},
            now);
    }
    s.tick(now);
    for (const auto& [n, node] : s.nodes())
      ASSERT_TRUE(valid_member(n, node.addr.ip, node.addr.port))
          << "step " << i << ": '" << n << "' at " << node.addr.to_string();
  }
  EXPECT_GT(s.counters().invalid_members, 1000u);
}

// Conflicts: an alive claiming our name or a live member's name from another
// address goes to on_conflict and changes nothing (no refutation war).
TEST(MemberValidation, NameConflictsAreReportedNotFought) {
  NullTransport t;
  Config cfg;
  cfg.name = "self";
  cfg.advertise = Address{Bytes{127, 0, 0, 1}, 7946};
  std::vector<std::string> conflicts;
  Swim::Callbacks cb;
  cb.on_conflict = [&](const Node& n, const Address& other) {
    conflicts.push_back(n.name + "@" + other.to_string());
  };
  Swim s(cfg, t, cb, TimePoint{});
  const Address from{Bytes{10, 0, 0, 9}, 7946};
  const uint32_t inc = s.self().incarnation;
  s.handle_packet(from, memberlist::encode(alive("b", Bytes{10, 0, 0, 2}, 7946)), TimePoint{});
  auto steal_b = alive("b", Bytes{10, 0, 0, 3}, 7946);
  steal_b.incarnation = 9;
  s.handle_packet(from, memberlist::encode(steal_b), TimePoint{});
  auto steal_self = alive("self", Bytes{10, 0, 0, 4}, 7946);
  steal_self.incarnation = 9;
  s.handle_packet(from, memberlist::encode(steal_self), TimePoint{});
  ASSERT_EQ(conflicts.size(), 2u);
  EXPECT_EQ(conflicts[0].rfind("b@", 0), 0u);
  EXPECT_EQ(conflicts[1].rfind("self@", 0), 0u);
  EXPECT_EQ(s.find("b")->addr.ip, (Bytes{10, 0, 0, 2}));
  EXPECT_EQ(s.counters().refutations, 0u);
  EXPECT_EQ(s.self().incarnation, inc);
}

}  // namespace
}  // namespace herd::membership::swim
