// Serf-style coalescing of member events for handler scripts.
#include "membership/coalescer.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "membership/handlers.h"

namespace herd::membership {
namespace {

using namespace std::chrono_literals;

MemberEvent member_event(MemberEvent::Type t, const std::string& name) {
  MemberInfo m;
  m.name = name;
  m.addr = "10.0.0.1";
  m.tags = {{"role", "backend"}};
  m.status = MemberInfo::Status::Alive;
  return MemberEvent{t, {m}};
}

std::vector<std::string> names(const MemberEvent& ev) {
  std::vector<std::string> out;
  for (const auto& m : ev.members) out.push_back(m.name);
  return out;
}

class CoalescerTest : public ::testing::Test {
 protected:
  void run_for(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }
  boost::asio::io_context io;
  std::vector<MemberEvent> got;
  EventCoalescer co{io, 300ms, 100ms, [this](const MemberEvent& ev) { got.push_back(ev); }};
};

TEST_F(CoalescerTest, BurstBecomesOneEventPerTypeAfterQuiescence) {
  for (int i = 0; i < 20; ++i)
    co.add(member_event(MemberEvent::Type::Join, "web" + std::to_string(10 + i)));
  co.add(member_event(MemberEvent::Type::Failed, "old"));
  EXPECT_TRUE(got.empty());  // held
  run_for(60ms);
  EXPECT_TRUE(got.empty());  // still within the quiescent period
  run_for(100ms);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, MemberEvent::Type::Join);
  EXPECT_EQ(got[0].members.size(), 20u);
  EXPECT_EQ(got[0].members.front().name, "web10");
  EXPECT_EQ(got[1].type, MemberEvent::Type::Failed);
  EXPECT_EQ(names(got[1]), std::vector<std::string>{"old"});
}

TEST_F(CoalescerTest, LatestEventPerMemberWinsAndRepeatsAreDropped) {
  co.add(member_event(MemberEvent::Type::Join, "a"));
  co.add(member_event(MemberEvent::Type::Failed, "a"));  // join then crash: only the crash
  co.add(member_event(MemberEvent::Type::Join, "b"));
  run_for(200ms);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, MemberEvent::Type::Join);
  EXPECT_EQ(names(got[0]), std::vector<std::string>{"b"});
  EXPECT_EQ(got[1].type, MemberEvent::Type::Failed);
  got.clear();
  // b joins "again" (same type as last delivered): dropped, as serf does;
  // updates are always delivered.
  co.add(member_event(MemberEvent::Type::Join, "b"));
  co.add(member_event(MemberEvent::Type::Update, "a"));
  run_for(200ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, MemberEvent::Type::Update);
}

TEST_F(CoalescerTest, ContinuousTrickleIsCappedByCoalescePeriod) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 12 && got.empty(); ++i) {
    co.add(member_event(MemberEvent::Type::Join, "n" + std::to_string(i)));
    run_for(50ms);  // always within the 100 ms quiescent period
  }
  ASSERT_EQ(got.size(), 1u);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 300ms);
  EXPECT_LT(waited, 450ms);
  EXPECT_GE(got[0].members.size(), 6u);
}

TEST_F(CoalescerTest, UserEventsPassThrough) {
  MemberEvent u;
  u.type = MemberEvent::Type::User;
  u.user_name = "deploy";
  co.add(u);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].user_name, "deploy");
}

// 20 members joining at once run a member-join script once, 20 stdin lines.
TEST_F(CoalescerTest, TwentyJoinsRunTheHandlerOnceWithTwentyLines) {
  char dir[] = "/tmp/herd-coalesce-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string out = std::string(dir) + "/runs";
  auto spec = parse_handler("member-join=cat >> " + out + "; echo END >> " + out);
  ASSERT_TRUE(spec);
  Handlers handlers({*spec});
  MemberInfo self;
  self.name = "lb";
  EventCoalescer c(io, 300ms, 100ms, [&](const MemberEvent& ev) { handlers.dispatch(ev, self); });
  for (int i = 0; i < 20; ++i)
    c.add(member_event(MemberEvent::Type::Join, "web" + std::to_string(10 + i)));
  run_for(250ms);
  handlers.wait_idle();
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  int lines = 0, ends = 0;
  std::string line;
  std::istringstream is(text);
  while (std::getline(is, line)) (line == "END" ? ends : lines)++;
  EXPECT_EQ(ends, 1) << text;
  EXPECT_EQ(lines, 20) << text;
  EXPECT_EQ(text.rfind("web10\t10.0.0.1\t", 0), 0u) << text;
  std::remove(out.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace herd::membership
