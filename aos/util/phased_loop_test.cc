#include "aos/util/phased_loop.h"

#include <chrono>

#include "gtest/gtest.h"

namespace aos::time::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

monotonic_clock::time_point At(monotonic_clock::duration d) {
  return monotonic_clock::epoch() + d;
}

TEST(PhasedLoopTest, CountsOneCyclePerInterval) {
  PhasedLoop loop(seconds(1), At(milliseconds(500)));
  EXPECT_EQ(At(seconds(0)), loop.sleep_time());
  EXPECT_EQ(1, loop.Iterate(At(milliseconds(500))));
  EXPECT_EQ(At(seconds(1)), loop.sleep_time());
  EXPECT_EQ(1, loop.Iterate(At(seconds(1))));
  EXPECT_EQ(At(seconds(2)), loop.sleep_time());
  EXPECT_EQ(1, loop.Iterate(At(milliseconds(2001))));
  EXPECT_EQ(At(seconds(3)), loop.sleep_time());
}

TEST(PhasedLoopTest, OffsetShiftsThePhase) {
  PhasedLoop loop(seconds(1), At(seconds(0)), milliseconds(100));
  EXPECT_EQ(At(milliseconds(-900)), loop.sleep_time());
  EXPECT_EQ(1, loop.Iterate(At(seconds(0))));
  EXPECT_EQ(At(milliseconds(100)), loop.sleep_time());
  EXPECT_EQ(1, loop.Iterate(At(milliseconds(100))));
  EXPECT_EQ(At(milliseconds(1100)), loop.sleep_time());
}

TEST(PhasedLoopTest, StallCountsSkippedCycles) {
  PhasedLoop loop(seconds(1), At(seconds(0)));
  EXPECT_EQ(1, loop.Iterate(At(seconds(0))));
  EXPECT_EQ(3, loop.Iterate(At(milliseconds(3500))));
  EXPECT_EQ(At(seconds(4)), loop.sleep_time());
}

TEST(PhasedLoopTest, EarlierTimeGivesZeroOrNegative) {
  PhasedLoop loop(seconds(1), At(seconds(10)));
  EXPECT_EQ(1, loop.Iterate(At(seconds(10))));
  EXPECT_EQ(0, loop.Iterate(At(milliseconds(10500))));
  EXPECT_EQ(-2, loop.Iterate(At(milliseconds(8500))));
  EXPECT_EQ(At(seconds(9)), loop.sleep_time());
}

TEST(PhasedLoopTest, NegativeTimesRoundDown) {
  PhasedLoop loop(seconds(1), At(seconds(-5)), milliseconds(250));
  EXPECT_EQ(1, loop.Iterate(At(milliseconds(-4800))));
  EXPECT_EQ(At(milliseconds(-4750)), loop.sleep_time());
}

TEST(PhasedLoopTest, ChangingOffsetNeverSkipsACycle) {
  PhasedLoop loop(seconds(1), At(seconds(0)));
  EXPECT_EQ(1, loop.Iterate(At(seconds(0))));
  ASSERT_EQ(At(seconds(1)), loop.sleep_time());
  // A larger offset moves the next wakeup earlier, not later.
  loop.set_interval_and_offset(seconds(1), milliseconds(500));
  EXPECT_EQ(At(milliseconds(500)), loop.sleep_time());
  EXPECT_EQ(1, loop.Iterate(At(milliseconds(600))));
  EXPECT_EQ(At(milliseconds(1500)), loop.sleep_time());
  // A smaller offset moves it earlier too.
  loop.set_interval_and_offset(seconds(1), milliseconds(200));
  EXPECT_EQ(At(milliseconds(1200)), loop.sleep_time());
}

// Upstream's contract: after set_interval_and_offset(i, o, now) the next
// wakeup is the first phase after now, and Iterate(now) counts nothing (0),
// so the wakeup after it counts exactly 1.
TEST(PhasedLoopTest, SetWithNowCountsZeroUntilTheNextPhase) {
  PhasedLoop loop(seconds(1), At(seconds(0)));
  EXPECT_EQ(1, loop.Iterate(At(seconds(0))));
  loop.set_interval_and_offset(milliseconds(100), milliseconds(0),
                               At(milliseconds(5050)));
  EXPECT_EQ(At(milliseconds(5100)), loop.sleep_time());
  EXPECT_EQ(0, loop.Iterate(At(milliseconds(5050))));
  EXPECT_EQ(At(milliseconds(5100)), loop.sleep_time());
  EXPECT_EQ(1, loop.Iterate(At(milliseconds(5100))));
  EXPECT_EQ(At(milliseconds(5200)), loop.sleep_time());

  // Exactly on a phase of the new schedule: the wakeup is the next one.
  loop.set_interval_and_offset(milliseconds(100), milliseconds(30),
                               At(milliseconds(5230)));
  EXPECT_EQ(At(milliseconds(5330)), loop.sleep_time());
  EXPECT_EQ(0, loop.Iterate(At(milliseconds(5230))));
}

TEST(PhasedLoopTest, OffsetFromIntervalAndTime) {
  EXPECT_EQ(milliseconds(300), PhasedLoop::OffsetFromIntervalAndTime(
                                   seconds(1), At(milliseconds(7300))));
  EXPECT_EQ(milliseconds(0),
            PhasedLoop::OffsetFromIntervalAndTime(seconds(1), At(seconds(7))));
  EXPECT_EQ(milliseconds(0),
            PhasedLoop::OffsetFromIntervalAndTime(seconds(1), At(seconds(0))));
  // Before the epoch the offset is still in [0, interval).
  EXPECT_EQ(milliseconds(700), PhasedLoop::OffsetFromIntervalAndTime(
                                   seconds(1), At(milliseconds(-2300))));
  EXPECT_EQ(milliseconds(0),
            PhasedLoop::OffsetFromIntervalAndTime(seconds(1), At(seconds(-2))));
  // A loop with that offset wakes up at the trigger.
  const monotonic_clock::time_point trigger = At(milliseconds(12345));
  PhasedLoop loop(
      milliseconds(100), At(seconds(12)),
      PhasedLoop::OffsetFromIntervalAndTime(milliseconds(100), trigger));
  loop.Iterate(trigger - milliseconds(1));
  EXPECT_EQ(trigger, loop.sleep_time());
}

TEST(PhasedLoopTest, SleepUntilNextWaitsForThePhase) {
  PhasedLoop loop(milliseconds(2), monotonic_clock::now());
  const int cycles = loop.SleepUntilNext();
  EXPECT_GE(cycles, 1);
  EXPECT_GE(monotonic_clock::now(), loop.sleep_time());
}

TEST(PhasedLoopDeathTest, OffsetFromIntervalAndTimeNeedsAnInterval) {
  EXPECT_DEATH(
      PhasedLoop::OffsetFromIntervalAndTime(seconds(0), At(seconds(1))),
      "positive interval");
}

TEST(PhasedLoopDeathTest, RejectsBadIntervalOrOffset) {
  EXPECT_DEATH(PhasedLoop(seconds(0), At(seconds(0))), "positive interval");
  EXPECT_DEATH(PhasedLoop(seconds(1), At(seconds(0)), seconds(1)),
               "smaller than its interval");
  EXPECT_DEATH(PhasedLoop(seconds(1), At(seconds(0)), milliseconds(-1)),
               "offset must be >= 0");
}

}  // namespace
}  // namespace aos::time::testing
