#include "aos/stl_mutex/stl_mutex.h"

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "aos/stl_mutex/thread_id.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

pid_t SyscallTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

TEST(ThreadIdTest, MatchesGettidInEveryThread) {
  EXPECT_EQ(CurrentThreadId(), SyscallTid());
  // Cached: the same answer again.
  EXPECT_EQ(CurrentThreadId(), SyscallTid());
  pid_t other = 0;
  pid_t other_syscall = 0;
  std::thread thread([&]() {
    other = CurrentThreadId();
    other_syscall = SyscallTid();
  });
  thread.join();
  EXPECT_EQ(other, other_syscall);
  EXPECT_NE(other, CurrentThreadId());
}

// The child of fork() has a new tid; a cached parent tid would make every
// ownership check in the child wrong.
TEST(ThreadIdTest, ForkedChildSeesItsOwnTid) {
  const pid_t parent_tid = CurrentThreadId();
  const pid_t child = fork();
  ASSERT_NE(child, -1);
  if (child == 0) {
    _exit(CurrentThreadId() == SyscallTid() && CurrentThreadId() != parent_tid
              ? 0
              : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(StlMutexTest, IsLockedMeansHeldByTheCallingThread) {
  stl_mutex mutex;
  EXPECT_FALSE(mutex.is_locked());
  mutex.lock();
  EXPECT_TRUE(mutex.is_locked());
  bool other_sees_locked = true;
  bool other_try_lock = true;
  std::thread thread([&]() {
    other_sees_locked = mutex.is_locked();
    other_try_lock = mutex.try_lock();
  });
  thread.join();
  EXPECT_FALSE(other_sees_locked) << "held, but not by that thread";
  EXPECT_FALSE(other_try_lock);
  mutex.unlock();
  EXPECT_FALSE(mutex.is_locked());
  EXPECT_TRUE(mutex.try_lock());
  EXPECT_TRUE(mutex.is_locked());
  mutex.unlock();
}

// Contended locking (the kernel path: waiters, hand-over on unlock) keeps
// mutual exclusion.
TEST(StlMutexTest, ExcludesUnderContention) {
  stl_mutex mutex;
  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  int64_t counter = 0;
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&]() {
      for (int i = 0; i < kIterations; ++i) {
        std::lock_guard<stl_mutex> lock(mutex);
        if (inside.fetch_add(1) != 0) overlapped = true;
        if (!mutex.is_locked()) overlapped = true;
        ++counter;
        // Hold it a little, so others pile up in the kernel.
        if (i % 1000 == 0) std::this_thread::yield();
        inside.fetch_sub(1);
      }
    });
  }
  for (std::thread &thread : threads) thread.join();
  EXPECT_FALSE(overlapped);
  EXPECT_EQ(counter, int64_t{kThreads} * kIterations);
  EXPECT_FALSE(mutex.is_locked());
}

TEST(StlMutexDeathTest, MisuseDies) {
  EXPECT_DEATH(
      {
        stl_mutex mutex;
        mutex.lock();
        mutex.lock();
      },
      "stl_mutex locked twice by thread [0-9]+; it is not recursive");
  EXPECT_DEATH(
      {
        stl_mutex mutex;
        mutex.unlock();
      },
      "stl_mutex unlocked by thread [0-9]+, which does not hold it");
  EXPECT_DEATH(
      {
        stl_mutex mutex;
        std::thread([&]() { mutex.lock(); }).join();
        mutex.unlock();
      },
      "which does not hold it");
}

}  // namespace
}  // namespace aos::testing
