#include "aos/time/realtime_at.h"

#include "gtest/gtest.h"

namespace aos {
namespace {

using time_internal::RealtimeOffset;

// RealtimeAt agrees with the kernel: the realtime it computes for a monotonic
// reading lies between CLOCK_REALTIME read just before and just after it. An
// offset wrong by more than a few tens of nanoseconds (the gap between the
// reads) fails this. A sample across a backwards step of the wall clock
// (after < before; e.g. NTP stepping the machine mid-test) proves nothing
// either way and is skipped.
TEST(RealtimeAtTest, MatchesKernelRealtime) {
  int outside = 0;
  for (int i = 0; i < 200000; ++i) {
    const realtime_clock::time_point before = realtime_clock::now();
    const realtime_clock::time_point at = RealtimeAt(monotonic_clock::now());
    const realtime_clock::time_point after = realtime_clock::now();
    if (after < before) continue;
    if (at < before || at > after) {
      if (++outside < 5) {
        ADD_FAILURE() << "RealtimeAt gave " << at << ", outside [" << before
                      << ", " << after << "]";
      }
    }
  }
  EXPECT_EQ(outside, 0);
}

// Coarse clocks a test can step and tick between two reads.
struct FakeCoarseClocks {
  int64_t realtime = 1'700'000'000'000'000'000;
  int64_t monotonic = 5'000'000'000;
  int reads = 0;
  // After this many reads in total, both clocks advance by `tick` (a
  // timekeeping update). 0 = never.
  int tick_after_read = 0;
  int64_t tick = 4'000'000;

  int64_t offset() const { return realtime - monotonic; }
};

FakeCoarseClocks fake;

int64_t ReadFake(clockid_t clock) {
  const int64_t value =
      clock == CLOCK_REALTIME_COARSE ? fake.realtime : fake.monotonic;
  EXPECT_TRUE(clock == CLOCK_REALTIME_COARSE || clock == CLOCK_MONOTONIC_COARSE)
      << "read clock " << clock << ", not a coarse one";
  if (++fake.reads == fake.tick_after_read) {
    fake.realtime += fake.tick;
    fake.monotonic += fake.tick;
  }
  return value;
}

class RealtimeOffsetTest : public ::testing::Test {
 protected:
  void SetUp() override { fake = FakeCoarseClocks(); }

  RealtimeOffset offset_{&ReadFake};
};

TEST_F(RealtimeOffsetTest, ReadsTheOffsetOfTheCoarseClocks) {
  EXPECT_EQ(offset_.Offset(), fake.offset());
  // Cached: a second call reads only the checking pair.
  fake.reads = 0;
  EXPECT_EQ(offset_.Offset(), fake.offset());
  EXPECT_EQ(fake.reads, 2);
}

// A step of the wall clock (clock_settime, leap second) shows at once.
TEST_F(RealtimeOffsetTest, FollowsAStepAtOnce) {
  const int64_t before = offset_.Offset();
  fake.realtime += 1'000'000'000;
  EXPECT_EQ(offset_.Offset(), before + 1'000'000'000);
  fake.realtime -= 3'000;
  EXPECT_EQ(offset_.Offset(), before + 1'000'000'000 - 3'000);
}

// A tick between the checking pair's reads makes the pair disagree with the
// cache; the offset must not be taken from that split pair.
TEST_F(RealtimeOffsetTest, IgnoresATickBetweenTheCheckingReads) {
  const int64_t offset = offset_.Offset();
  fake.reads = 0;
  fake.tick_after_read = 1;  // after the realtime read, before the monotonic
  EXPECT_EQ(offset_.Offset(), offset);
  EXPECT_EQ(fake.offset(), offset);
}

// A tick inside the refresh (after a step) makes it read again.
TEST_F(RealtimeOffsetTest, RereadsWhenATickSplitsTheRefresh) {
  offset_.Offset();
  fake.realtime += 7'000'000'000;
  fake.reads = 0;
  // Reads: checking pair (2), then refresh: monotonic (3), tick, realtime
  // (4), monotonic (5) differs, so it reads the triple again.
  fake.tick_after_read = 3;
  EXPECT_EQ(offset_.Offset(), fake.offset());
  EXPECT_EQ(fake.reads, 8);
}

}  // namespace
}  // namespace aos
