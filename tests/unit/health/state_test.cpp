// The rise/fall state machine against the sequences observed on haproxy
// 2.6.12 (docs/health.md).
#include "health/state.h"

#include <gtest/gtest.h>

namespace herd::health {
namespace {

using balancing::OpState;
using O = CheckResult::Outcome;
using E = Step::Event;

struct Seq {
  int rise, fall;
  HealthState s;
  int chkfail = 0, chkdown = 0;
  std::vector<E> events;
  std::string apply(O o) {
    Step st = step(s, rise, fall, o);
    s = st.next;
    chkfail += st.count_failed;
    chkdown += st.count_down;
    if (st.event != E::None) events.push_back(st.event);
    return status_text(s, rise, fall);
  }
};

Seq at_start(int rise = 2, int fall = 3) {
  Seq r{rise, fall, {OpState::Running, rise}, 0, 0, {}};
  return r;
}

TEST(HealthState, StartsUpOneOfFallWithHealthRise) {
  EXPECT_EQ(status_text({OpState::Running, 2}, 2, 3), "UP 1/3");
  // default-server inter 3s rise 3 fall 2 gave "UP 1/2".
  EXPECT_EQ(status_text({OpState::Running, 3}, 3, 2), "UP 1/2");
}

TEST(HealthState, SingleFailureAtStartMarksDown) {
  Seq r = at_start();
  EXPECT_EQ(r.apply(O::Fail), "DOWN");
  EXPECT_EQ(r.s.op, OpState::Stopped);
  EXPECT_EQ(r.s.health, 0);
  EXPECT_EQ(r.chkfail, 1);
  EXPECT_EQ(r.chkdown, 1);
  EXPECT_EQ(r.events, std::vector<E>{E::WentDown});
}

TEST(HealthState, FirstSuccessAtStartReachesFullHealth) {
  Seq r = at_start();
  EXPECT_EQ(r.apply(O::Pass), "UP");
  EXPECT_EQ(r.s.health, 4);
  EXPECT_TRUE(r.events.empty());  // already UP: no message
}

TEST(HealthState, UpThenFallFailuresToDown) {
  Seq r = at_start();
  r.apply(O::Pass);
  EXPECT_EQ(r.apply(O::Fail), "UP 2/3");
  EXPECT_EQ(r.apply(O::Fail), "UP 1/3");
  EXPECT_EQ(r.apply(O::Fail), "DOWN");
  EXPECT_EQ(r.chkfail, 3);
  EXPECT_EQ(r.chkdown, 1);
  // Failures while DOWN count neither chkfail nor chkdown.
  EXPECT_EQ(r.apply(O::Fail), "DOWN");
  EXPECT_EQ(r.chkfail, 3);
  EXPECT_EQ(r.chkdown, 1);
}

TEST(HealthState, AnySuccessResetsToFull) {
  Seq r = at_start();
  r.apply(O::Pass);
  r.apply(O::Fail);
  EXPECT_EQ(r.apply(O::Fail), "UP 1/3");
  EXPECT_EQ(r.apply(O::Pass), "UP");
  EXPECT_EQ(r.s.health, 4);
}

TEST(HealthState, DownNeedsRiseSuccesses) {
  Seq r = at_start();
  r.apply(O::Fail);
  EXPECT_EQ(r.apply(O::Pass), "DOWN 1/2");
  EXPECT_EQ(r.apply(O::Pass), "UP");
  EXPECT_EQ(r.s.health, 4);
  EXPECT_EQ(r.events, (std::vector<E>{E::WentDown, E::WentUp}));
}

TEST(HealthState, FailureWhileRisingStartsOver) {
  Seq r = at_start(3, 3);
  r.apply(O::Fail);
  EXPECT_EQ(r.apply(O::Pass), "DOWN 1/3");
  EXPECT_EQ(r.apply(O::Pass), "DOWN 2/3");
  EXPECT_EQ(r.apply(O::Fail), "DOWN");
  EXPECT_EQ(r.apply(O::Pass), "DOWN 1/3");
}

TEST(HealthState, RiseOneFallOne) {
  Seq r = at_start(1, 1);
  EXPECT_EQ(status_text(r.s, 1, 1), "UP");
  EXPECT_EQ(r.apply(O::Fail), "DOWN");
  EXPECT_EQ(r.apply(O::Pass), "UP");
}

TEST(HealthState, DisableOn404MakesNolbThenBack) {
  // Observed: start + 404 -> "NOLB"; 503 -> "NOLB 2/3", "NOLB 1/3", DOWN;
  // 200 -> UP; 404 -> NOLB; 200 -> UP.
  Seq r = at_start();
  EXPECT_EQ(r.apply(O::CondPass), "NOLB");
  EXPECT_EQ(r.s.op, OpState::Stopping);
  EXPECT_EQ(r.apply(O::Fail), "NOLB 2/3");
  EXPECT_EQ(r.apply(O::Fail), "NOLB 1/3");
  Step last = step(r.s, 2, 3, O::Fail);
  EXPECT_TRUE(last.was_stopping);  // logged at notice, not alert
  EXPECT_EQ(last.event, E::WentDown);
  r.apply(O::Fail);
  EXPECT_EQ(r.chkfail, 3);
  EXPECT_EQ(r.chkdown, 1);
  // A 404 does not bring a DOWN server back.
  EXPECT_EQ(r.apply(O::CondPass), "DOWN");
  r.apply(O::Pass);
  EXPECT_EQ(r.apply(O::Pass), "UP");
  EXPECT_EQ(r.apply(O::CondPass), "NOLB");
  EXPECT_EQ(r.apply(O::Pass), "UP");
  EXPECT_EQ(r.events,
            (std::vector<E>{E::WentStopping, E::WentDown, E::WentUp, E::WentStopping, E::WentUp}));
}

TEST(HealthState, Intervals) {
  CheckTiming t{2000, 500, 10000};
  EXPECT_EQ(next_interval({OpState::Running, 4}, 2, 3, t), 2000);   // fully up
  EXPECT_EQ(next_interval({OpState::Running, 2}, 2, 3, t), 500);    // UP 1/3 (start)
  EXPECT_EQ(next_interval({OpState::Stopped, 0}, 2, 3, t), 10000);  // DOWN
  EXPECT_EQ(next_interval({OpState::Stopped, 1}, 2, 3, t), 500);    // DOWN 1/2
  CheckTiming only_inter{1000, 0, 0};
  EXPECT_EQ(next_interval({OpState::Stopped, 0}, 2, 3, only_inter), 1000);
  EXPECT_EQ(next_interval({OpState::Running, 3}, 2, 3, only_inter), 1000);
}

}  // namespace
}  // namespace herd::health
