#include "aos/realtime.h"

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <initializer_list>

#include "glog/logging.h"
#include "gmock/gmock.h"
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

// A process whose first log line comes from realtime code (upstream's shm
// tests log from realtime handlers) neither dies on malloc nor hangs: glibc's
// time-zone load happens before the first realtime section. The child is a
// fresh process (threadsafe style), so nothing has logged there yet.
TEST(RealtimeDeathTest, FirstLogLineFromRealtimeCode) {
  if (!AllocationGuardAvailable()) {
    GTEST_SKIP() << "the allocation guard is off in sanitizer builds";
  }
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        alarm(10);  // A deadlock dies of SIGALRM instead of hanging the test.
        {
          ScopedRealtime realtime;
          LOG(INFO) << "first line, logged from realtime code";
        }
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  GTEST_FLAG_SET(death_test_style, "fast");
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

// Puts the calling process where a container puts root (or any user): a
// finite hard RLIMIT_MEMLOCK and RLIMIT_RTPRIO, and none of the capabilities
// in `dropped` in effect. Lowering limits and dropping capabilities is always
// allowed. For death-test children only: it cannot be undone.
void BecomeContainerLike(std::initializer_list<int> dropped) {
  const struct rlimit64 memlock = {64 * 1024, 64 * 1024};
  PCHECK(setrlimit64(RLIMIT_MEMLOCK, &memlock) == 0);
  const struct rlimit64 rtprio = {0, 0};
  PCHECK(setrlimit64(RLIMIT_RTPRIO, &rtprio) == 0);
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  PCHECK(syscall(SYS_capget, &header, data) == 0);
  for (const int capability : dropped) {
    data[capability / 32].effective &= ~(1u << (capability % 32));
  }
  PCHECK(syscall(SYS_capset, &header, data) == 0);
}

// Root without CAP_SYS_RESOURCE (every container) cannot raise a hard
// limit; upstream leaves the limits alone for root and the program runs.
// Without CAP_IPC_LOCK either, memory cannot be locked: a warning that says
// what to do, not an abort.
TEST(InitRTDeathTest, RunsInAContainerWithAWarning) {
  if (!AllocationGuardAvailable()) {
    // Under ASan the child dies silently here (without a message, so not in
    // InitRT's checks); not understood yet. The Release build runs it.
    GTEST_SKIP() << "the container-like child dies silently under sanitizers";
  }
  EXPECT_EXIT(
      {
        BecomeContainerLike({CAP_SYS_RESOURCE, CAP_IPC_LOCK});
        InitRT();
        std::exit(0);
      },
      ::testing::ExitedWithCode(0),
      "Running without locked memory: mlockall failed .* Grant CAP_IPC_LOCK "
      "\\(or raise `ulimit -l`\\) to lock it, or pass "
      "--skip_locking_memory");
}

// With CAP_IPC_LOCK (root in a privileged container) memory is locked
// whatever the limit, so there is nothing to warn about.
TEST(InitRTDeathTest, LocksMemoryWithCapIpcLockDespiteTheLimit) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root (CAP_IPC_LOCK)";
  }
  if (!AllocationGuardAvailable()) {
    // Locking a sanitizer's terabytes of shadow mappings would take forever.
    GTEST_SKIP() << "mlockall is not for sanitizer builds";
  }
  EXPECT_EXIT(
      {
        BecomeContainerLike({CAP_SYS_RESOURCE});
        InitRT();
        LOG(INFO) << "InitRT returned";
        std::exit(0);
      },
      ::testing::ExitedWithCode(0),
      ::testing::AllOf(::testing::HasSubstr("InitRT returned"),
                       ::testing::Not(::testing::HasSubstr(
                           "Running without locked memory"))));
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
