// Unit tests of app/lifecycle.h: every transition of the process lifecycle
// and the action the caller is told to perform.
#include "app/lifecycle.h"

#include <gtest/gtest.h>

#include <csignal>

namespace herd::app {
namespace {

using A = Lifecycle::Action;
using S = Lifecycle::State;
using Sig = Lifecycle::Signal;

Lifecycle serving() {
  Lifecycle l;
  l.started();
  return l;
}

TEST(Lifecycle, StartsThenServes) {
  Lifecycle l;
  EXPECT_EQ(l.state(), S::Starting);
  EXPECT_FALSE(l.stopping());
  l.started();
  EXPECT_EQ(l.state(), S::Serving);
  l.started();  // once only
  EXPECT_EQ(l.state(), S::Serving);
}

TEST(Lifecycle, SoftStopDrainsAndLeavesThenStopsWhenBothEnded) {
  Lifecycle l = serving();
  EXPECT_EQ(l.signal(Sig::SoftStop), A::DrainAndLeave);
  EXPECT_EQ(l.state(), S::Draining);
  EXPECT_TRUE(l.stopping());
  EXPECT_EQ(l.drained(), A::None);  // the leave is still under way
  EXPECT_EQ(l.state(), S::Draining);
  EXPECT_EQ(l.left(), A::StopNow);
  EXPECT_EQ(l.state(), S::Stopped);
}

TEST(Lifecycle, SoftStopLeaveEndingFirstWaitsForTheDrain) {
  Lifecycle l = serving();
  l.signal(Sig::SoftStop);
  EXPECT_EQ(l.left(), A::None);
  EXPECT_EQ(l.state(), S::Draining);
  EXPECT_EQ(l.drained(), A::StopNow);
  EXPECT_EQ(l.state(), S::Stopped);
}

TEST(Lifecycle, SecondSoftStopIsIgnored) {
  Lifecycle l = serving();
  l.signal(Sig::SoftStop);
  EXPECT_EQ(l.signal(Sig::SoftStop), A::None);
  EXPECT_EQ(l.signal(Sig::Reload), A::None);
  EXPECT_EQ(l.state(), S::Draining);
}

TEST(Lifecycle, TerminateLeavesWhileServingThenStops) {
  Lifecycle l = serving();
  EXPECT_EQ(l.signal(Sig::Terminate), A::Leave);
  EXPECT_EQ(l.state(), S::Leaving);
  EXPECT_TRUE(l.stopping());
  EXPECT_EQ(l.signal(Sig::Reload), A::None);
  EXPECT_EQ(l.left(), A::StopNow);
  EXPECT_EQ(l.state(), S::Stopped);
}

TEST(Lifecycle, SecondTerminateStopsAtOnce) {
  Lifecycle l = serving();
  l.signal(Sig::Terminate);
  EXPECT_EQ(l.signal(Sig::Terminate), A::StopNow);
  EXPECT_EQ(l.state(), S::Stopped);
  EXPECT_EQ(l.left(), A::None);  // the leave ending later changes nothing
  EXPECT_EQ(l.signal(Sig::Interrupt), A::None);
}

TEST(Lifecycle, TerminateWhileDrainingIsAHardStop) {
  Lifecycle l = serving();
  l.signal(Sig::SoftStop);
  EXPECT_EQ(l.signal(Sig::Terminate), A::StopNow);
  EXPECT_EQ(l.state(), S::Stopped);
  EXPECT_EQ(l.drained(), A::None);
}

TEST(Lifecycle, SoftStopDuringTerminateLeaveDrainsWithoutASecondLeave) {
  Lifecycle l = serving();
  l.signal(Sig::Terminate);
  EXPECT_EQ(l.signal(Sig::SoftStop), A::Drain);
  EXPECT_EQ(l.state(), S::Draining);
  // The drain ending stops the process: the leave is not waited for.
  EXPECT_EQ(l.drained(), A::StopNow);
}

TEST(Lifecycle, SoftStopDuringTerminateLeaveEndsWhenTheLeaveDoes) {
  Lifecycle l = serving();
  l.signal(Sig::Terminate);
  l.signal(Sig::SoftStop);
  EXPECT_EQ(l.left(), A::StopNow);  // SIGTERM's leave ends the process
  EXPECT_EQ(l.state(), S::Stopped);
}

TEST(Lifecycle, InterruptStopsFromAnyState) {
  for (int n = 0; n < 4; ++n) {
    Lifecycle l = serving();
    if (n == 1) l.signal(Sig::SoftStop);
    if (n == 2) l.signal(Sig::Terminate);
    if (n == 3) l.signal(Sig::Reload);
    EXPECT_EQ(l.signal(Sig::Interrupt), A::StopNow) << n;
    EXPECT_EQ(l.state(), S::Stopped) << n;
  }
  Lifecycle starting;
  EXPECT_EQ(starting.signal(Sig::Interrupt), A::StopNow);
}

TEST(Lifecycle, HardStopAfterCutsTheDrain) {
  Lifecycle l = serving();
  l.signal(Sig::SoftStop);
  EXPECT_EQ(l.hard_stop_expired(), A::AbortSessions);
  EXPECT_EQ(l.state(), S::Draining);
  EXPECT_EQ(l.drained(), A::StopNow);  // the leave is no longer waited for
  EXPECT_EQ(l.state(), S::Stopped);
}

TEST(Lifecycle, HardStopAfterOnceDrainedStopsAtOnce) {
  Lifecycle l = serving();
  l.signal(Sig::SoftStop);
  EXPECT_EQ(l.drained(), A::None);
  EXPECT_EQ(l.hard_stop_expired(), A::StopNow);
  EXPECT_EQ(l.state(), S::Stopped);
}

TEST(Lifecycle, HardStopAfterOutsideDrainingIsIgnored) {
  Lifecycle l = serving();
  EXPECT_EQ(l.hard_stop_expired(), A::None);
  l.signal(Sig::Terminate);
  EXPECT_EQ(l.hard_stop_expired(), A::None);
  EXPECT_EQ(l.state(), S::Leaving);
}

TEST(Lifecycle, ReloadCountsAndReturnsToServing) {
  Lifecycle l = serving();
  EXPECT_EQ(l.reloads(), 0u);
  EXPECT_EQ(l.signal(Sig::Reload), A::Reload);
  EXPECT_EQ(l.state(), S::Reloading);
  EXPECT_FALSE(l.stopping());
  EXPECT_EQ(l.signal(Sig::Reload), A::Reload);  // again while one is under way
  EXPECT_EQ(l.reloads(), 2u);
  l.reloaded();
  EXPECT_EQ(l.state(), S::Serving);
  l.reloaded();
  EXPECT_EQ(l.state(), S::Serving);
}

TEST(Lifecycle, StopSignalsDuringAReload) {
  Lifecycle l = serving();
  l.signal(Sig::Reload);
  EXPECT_EQ(l.signal(Sig::SoftStop), A::DrainAndLeave);
  l.reloaded();  // a reload ending after the stop began changes nothing
  EXPECT_EQ(l.state(), S::Draining);
  Lifecycle t = serving();
  t.signal(Sig::Reload);
  EXPECT_EQ(t.signal(Sig::Terminate), A::Leave);
}

TEST(Lifecycle, SignalsBeforeServing) {
  Lifecycle l;
  EXPECT_EQ(l.signal(Sig::Reload), A::None);
  EXPECT_EQ(l.state(), S::Starting);
  EXPECT_EQ(l.signal(Sig::SoftStop), A::StopNow);
  Lifecycle t;
  EXPECT_EQ(t.signal(Sig::Terminate), A::StopNow);
}

TEST(Lifecycle, SignalNumbers) {
  EXPECT_EQ(lifecycle_signal(SIGUSR1), Sig::SoftStop);
  EXPECT_EQ(lifecycle_signal(SIGTERM), Sig::Terminate);
  EXPECT_EQ(lifecycle_signal(SIGINT), Sig::Interrupt);
  EXPECT_EQ(lifecycle_signal(SIGUSR2), Sig::Reload);
  EXPECT_STREQ(Lifecycle::name(S::Draining), "draining");
}

}  // namespace
}  // namespace herd::app
