// Unit tests of app/handover.h: the `_getstate` answer's two parts (the
// member state and the member servers' `show servers state` lines).
#include "app/handover.h"

#include <gtest/gtest.h>

namespace herd::app {
namespace {

TEST(StateAnswer, SplitsBackIntoItsParts) {
  const std::string member = "alive: web1 127.0.0.1:7946\nclock: 4\nincarnation: 2\n";
  const std::string servers = "1\n# be_id be_name ...\n3 b 1 web1 127.0.0.1 0 0 1 1 5 ...\n";
  const std::string answer = state_answer(member, servers);
  EXPECT_EQ(answer, member + "server-state:\n" + servers);
  std::string m, s;
  split_state_answer(answer, &m, &s);
  EXPECT_EQ(m, member);
  EXPECT_EQ(s, servers);
}

TEST(StateAnswer, WithoutServersOrMembers) {
  std::string m = "x", s = "x";
  // No member server: the member state alone, as herd sent before.
  EXPECT_EQ(state_answer("clock: 4", ""), "clock: 4\n");
  split_state_answer("clock: 4\n", &m, &s);
  EXPECT_EQ(m, "clock: 4\n");
  EXPECT_EQ(s, "");
  split_state_answer(state_answer("", "1\n"), &m, &s);
  EXPECT_EQ(m, "");
  EXPECT_EQ(s, "1\n");
  // A member name that merely contains the marker is no marker.
  split_state_answer("alive: server-state: 1.2.3.4:5\n", &m, &s);
  EXPECT_EQ(m, "alive: server-state: 1.2.3.4:5\n");
  EXPECT_EQ(s, "");
}

}  // namespace
}  // namespace herd::app
