#include "aos/realtime.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace aos::testing {
namespace {

// Stored in a volatile global so the compiler cannot elide the allocation.
void *volatile allocation_sink = nullptr;

void Allocate() {
  allocation_sink = malloc(64);
  free(allocation_sink);
}

class RealtimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!AllocationGuardAvailable()) {
      GTEST_SKIP() << "the allocation guard is off in sanitizer builds";
    }
  }
};

TEST_F(RealtimeTest, CountsOnlyWhileMarkedRealtime) {
  const bool die_on_malloc = FLAGS_die_on_malloc;
  FLAGS_die_on_malloc = false;
  const uint64_t before = RealtimeAllocationCount();
  Allocate();
  EXPECT_EQ(RealtimeAllocationCount(), before);
  {
    ScopedRealtime realtime;
    Allocate();
    {
      ScopedNotRealtime not_realtime;
      Allocate();
    }
  }
  EXPECT_EQ(RealtimeAllocationCount(), before + 1);
  FLAGS_die_on_malloc = die_on_malloc;
}

TEST_F(RealtimeTest, MarkRealtimeReturnsThePreviousState) {
  EXPECT_FALSE(MarkRealtime(true));
  EXPECT_TRUE(MarkRealtime(false));
  EXPECT_FALSE(MarkRealtime(false));
}

TEST(RealtimeDeathTest, DiesOnMallocWhenRealtime) {
  if (!AllocationGuardAvailable()) {
    GTEST_SKIP() << "the allocation guard is off in sanitizer builds";
  }
  EXPECT_DEATH(
      {
        ScopedRealtime realtime;
        Allocate();
      },
      "Malloced in realtime code");
}

TEST(RealtimeDeathTest, CheckRealtimeAndNotRealtime) {
  EXPECT_DEATH(CheckRealtime(), "thread is not realtime");
  EXPECT_DEATH(
      {
        ScopedRealtime realtime;
        CheckNotRealtime();
      },
      "Thread is realtime");
}

TEST(RealtimeThreadTest, ThreadNameAndAffinity) {
  SetCurrentThreadName("a_rather_long_thread_name");
  char name[32];
  ASSERT_EQ(pthread_getname_np(pthread_self(), name, sizeof(name)), 0);
  EXPECT_STREQ(name, "a_rather_long_t");
  const cpu_set_t affinity = GetCurrentThreadAffinity();
  SetCurrentThreadAffinity(affinity);
  const cpu_set_t again = GetCurrentThreadAffinity();
  EXPECT_TRUE(CPU_EQUAL(&affinity, &again));
}

TEST(RealtimeCpusetTest, MakeCpusetFromCpus) {
  const cpu_set_t cpuset = MakeCpusetFromCpus({0, 2, 5});
  EXPECT_EQ(CPU_COUNT(&cpuset), 3);
  EXPECT_TRUE(CPU_ISSET(0, &cpuset));
  EXPECT_FALSE(CPU_ISSET(1, &cpuset));
  EXPECT_TRUE(CPU_ISSET(2, &cpuset));
  EXPECT_TRUE(CPU_ISSET(5, &cpuset));
  const cpu_set_t none = MakeCpusetFromCpus({});
  EXPECT_EQ(CPU_COUNT(&none), 0);
  EXPECT_DEATH(MakeCpusetFromCpus({-1}), "CPU -1 is outside");
}

}  // namespace
}  // namespace aos::testing
