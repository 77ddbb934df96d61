#include "aos/network/testing_time_converter.h"

#include "gtest/gtest.h"

namespace aos::message_bridge::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr distributed_clock::time_point kD = distributed_clock::epoch();
constexpr monotonic_clock::time_point kM = monotonic_clock::epoch();

// Without samples the nodes read the distributed clock.
TEST(TestingTimeConverterTest, NoSamplesIsIdentity) {
  TestingTimeConverter time(2);
  EXPECT_EQ(time.FromDistributedClock(1, kD + seconds(3), 0), kM + seconds(3));
  EXPECT_EQ(time.ToDistributedClock(1, {0, kM + seconds(3)}), kD + seconds(3));
  EXPECT_EQ(time.BootStartTime(1, 0), distributed_clock::min_time);
  EXPECT_EQ(time.BootStartTime(1, 1), distributed_clock::max_time);
}

// Offsets and drift: linear between samples, rate 1 outside them, and
// ToDistributedClock rounds up so a round trip never goes back.
TEST(TestingTimeConverterTest, OffsetAndDrift) {
  TestingTimeConverter time(2);
  time.AddNextTimestamp(kD, {{0, kM}, {0, kM + seconds(1)}});
  // Node 1 runs 7 ns fast per 10 s, to exercise rounding.
  time.AddNextTimestamp(kD + seconds(10),
                        {{0, kM + seconds(10)},
                         {0, kM + seconds(11) + std::chrono::nanoseconds(7)}});
  EXPECT_EQ(time.FromDistributedClock(1, kD + seconds(5), 0),
            kM + seconds(6) + std::chrono::nanoseconds(3));
  EXPECT_EQ(time.FromDistributedClock(1, kD + seconds(20), 0),
            kM + seconds(21) + std::chrono::nanoseconds(7));
  EXPECT_EQ(time.FromDistributedClock(1, kD - seconds(1), 0), kM);
  for (int64_t ns = 0; ns < 1000; ns += 37) {
    const monotonic_clock::time_point t =
        kM + seconds(3) + std::chrono::nanoseconds(ns);
    const distributed_clock::time_point d = time.ToDistributedClock(1, {0, t});
    EXPECT_GE(time.FromDistributedClock(1, d, 0), t);
    EXPECT_LT(time.FromDistributedClock(1, d - std::chrono::nanoseconds(1), 0),
              t);
  }
}

// AddMonotonic advances the distributed clock by the largest step.
TEST(TestingTimeConverterTest, AddMonotonic) {
  TestingTimeConverter time(2);
  time.StartEqual();
  time.AddMonotonic({seconds(1), seconds(2)});
  EXPECT_EQ(time.FromDistributedClock(0, kD + seconds(2), 0), kM + seconds(1));
  EXPECT_EQ(time.FromDistributedClock(0, kD + seconds(1), 0),
            kM + milliseconds(500));
  EXPECT_EQ(time.FromDistributedClock(1, kD + seconds(2), 0), kM + seconds(2));
}

// A reboot starts a new boot reading the epoch.
TEST(TestingTimeConverterTest, Reboot) {
  TestingTimeConverter time(2);
  time.StartEqual();
  time.RebootAt(0, kD + seconds(5));
  EXPECT_EQ(time.BootStartTime(0, 1), kD + seconds(5));
  EXPECT_EQ(time.BootStartTime(1, 1), distributed_clock::max_time);
  EXPECT_EQ(time.FromDistributedClock(0, kD + seconds(7), 1), kM + seconds(2));
  EXPECT_EQ(time.ToDistributedClock(0, {1, kM + seconds(2)}), kD + seconds(7));
  EXPECT_EQ(time.FromDistributedClock(0, kD + seconds(7), 0), kM + seconds(7));
}

// A reboot may come at the time of the node's last sample (upstream test
// set-ups write AddMonotonic then RebootAt at that instant): the old boot
// ends there and the new one reads the epoch.
TEST(TestingTimeConverterTest, RebootAtTheLastSample) {
  TestingTimeConverter time(2);
  time.StartEqual();
  time.AddMonotonic({seconds(3), seconds(3)});
  time.RebootAt(1, kD + seconds(3));
  EXPECT_EQ(time.BootStartTime(1, 1), kD + seconds(3));
  EXPECT_EQ(time.FromDistributedClock(1, kD + seconds(3), 0), kM + seconds(3));
  EXPECT_EQ(time.FromDistributedClock(1, kD + seconds(3), 1), kM);
  EXPECT_EQ(time.FromDistributedClock(1, kD + seconds(4), 1), kM + seconds(1));
  EXPECT_EQ(time.ToDistributedClock(1, {1, kM + seconds(1)}), kD + seconds(4));
  // The node that did not reboot keeps its boot.
  EXPECT_EQ(time.BootStartTime(0, 1), distributed_clock::max_time);
  // Later samples go on in the new boot.
  time.AddNextTimestamp(kD + seconds(5),
                        {{0, kM + seconds(5)}, {1, kM + seconds(2)}});
  EXPECT_EQ(time.FromDistributedClock(1, kD + seconds(5), 1), kM + seconds(2));
}

TEST(TestingTimeConverterDeathTest, RebootBeforeTheLastSample) {
  TestingTimeConverter time(1);
  time.StartEqual();
  time.AddMonotonic({seconds(3)});
  EXPECT_DEATH(time.RebootAt(0, kD + seconds(2)),
               "a reboot cannot come before the node's last sample");
}

TEST(TestingTimeConverterDeathTest, ClockMustMoveForward) {
  TestingTimeConverter time(1);
  time.StartEqual();
  EXPECT_DEATH(time.AddNextTimestamp(kD + seconds(1), {{0, kM}}),
               "clock must move forward");
  EXPECT_DEATH(time.AddNextTimestamp(kD, {{0, kM + seconds(1)}}),
               "samples must move forward");
}

}  // namespace
}  // namespace aos::message_bridge::testing
