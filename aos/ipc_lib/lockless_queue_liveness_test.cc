// A sender that dies at any point of its publish and wakeup must not leave a
// live watcher asleep (issue 13 §1). The sender runs in a child process that
// the kernel kills exactly at its wakeup syscall (a seccomp filter); the
// watcher lives in the surviving test process.

#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <thread>

#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/lockless_queue_memory.h"
#include "aos/ipc_lib/lockless_queue_test_util.h"
#include "aos/ipc_lib/process_test_util.h"
#include "aos/ipc_lib/signalfd.h"
#include "gtest/gtest.h"

namespace aos::ipc_lib::testing {
namespace {

using ReadResult = LocklessQueueReader::Result;
using SendResult = LocklessQueueSender::Result;

#if defined(__x86_64__)

LocklessQueueConfiguration Config() {
  LocklessQueueConfiguration config;
  config.num_watchers = 2;
  config.num_senders = 2;
  config.num_pinners = 0;
  config.queue_size = 8;
  config.message_data_size = 32;
  return config;
}

bool SignalPending(const SignalFd &signalfd) {
  struct pollfd pfd = {signalfd.fd(), POLLIN, 0};
  return poll(&pfd, 1, 0) == 1;
}

class LivenessTest : public ::testing::TestWithParam<WakeupPolicy> {};

// The child publishes a message and dies at the signal that should wake our
// watcher. Our watcher must then be woken by the next live sender's send, and
// must find the dead sender's message when it checks the queue.
TEST_P(LivenessTest, SenderKilledAtWakeupSyscall) {
  SharedRegion region(LocklessQueueMemorySize(Config()));
  LocklessQueue queue(region.memory(), region.memory(), Config());
  ASSERT_TRUE(queue.Initialize().has_value());

  SignalFd signalfd({kWakeupSignal});
  auto watcher = LocklessQueueWatcher::Make(queue, 0, GetParam());
  ASSERT_TRUE(watcher.has_value());
  LocklessQueueReader reader(queue);

  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // The protocol: drain, arm, check, sleep.
    signalfd.Drain();
    watcher->PrepareToSleep();
    const QueueIndex before = reader.LatestIndex();

    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(0));
      if (!sender.has_value()) _exit(2);
      KillProcessAtSyscall(SYS_rt_tgsigqueueinfo);
      if (SendString(&*sender, "from the dead " + std::to_string(round)) !=
          SendResult::GOOD) {
        _exit(3);
      }
      LocklessQueueWakeUpper(queue).Wakeup(0);
      _exit(4);  // Not reached: the wakeup syscall kills us.
    }
    int status;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << status;
    ASSERT_EQ(WTERMSIG(status), SIGSYS);
    // It published, and we were not signalled.
    const QueueIndex published = reader.LatestIndex();
    ASSERT_TRUE(published.valid());
    ASSERT_NE(published, before);
    std::string data;
    ASSERT_EQ(ReadString(reader, queue, published.index(), &data),
              ReadResult::GOOD);
    EXPECT_EQ(data, "from the dead " + std::to_string(round));
    EXPECT_FALSE(SignalPending(signalfd));

    // A live sender's next send must wake the watcher.
    {
      auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(0));
      ASSERT_TRUE(sender.has_value());
      ASSERT_EQ(SendString(&*sender, "alive"), SendResult::GOOD);
      EXPECT_EQ(LocklessQueueWakeUpper(queue).Wakeup(0), 1);
    }
    EXPECT_TRUE(SignalPending(signalfd))
        << "the live sender did not wake the watcher";
  }
}

// Forks a process that dies of kWakeupSignal (its default action), as any
// process not expecting it would.
pid_t SpawnVictim() {
  const pid_t victim = fork();
  CHECK_GE(victim, 0);
  if (victim == 0) {
    signal(kWakeupSignal, SIG_DFL);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, kWakeupSignal);
    sigprocmask(SIG_UNBLOCK, &mask, nullptr);
    alarm(10);
    while (true) pause();
  }
  return victim;
}

// Writes an owner into a watcher slot the way garbage or a malicious
// writer of the queue file could: the tracker's first words are the futex
// (tid), the pid and the identity (tid << 32 | start time).
void ForgeWatcher(LocklessQueue queue, size_t slot, pid_t pid,
                  uint64_t identity) {
  WatcherSlot *watcher =
      QueueMemoryView(queue.memory(), queue.layout()).watcher(slot);
  auto *words = reinterpret_cast<std::atomic<uint32_t> *>(&watcher->owner);
  words[0].store(static_cast<uint32_t>(pid));
  words[1].store(static_cast<uint32_t>(pid));
  reinterpret_cast<std::atomic<uint64_t> *>(&words[2])->store(identity);
  watcher->policy.store(static_cast<uint32_t>(WakeupPolicy::kEveryMessage));
}

// A slot naming a live process that never registered (its start time does
// not match) must not make a sender signal it: a writable queue file must
// not be a way to kill arbitrary processes.
TEST(WakeupTargetTest, ForgedWatcherSlotIsNotSignalled) {
  SharedRegion region(LocklessQueueMemorySize(Config()));
  LocklessQueue queue(region.memory(), region.memory(), Config());
  ASSERT_TRUE(queue.Initialize().has_value());
  const pid_t victim = SpawnVictim();
  // Let it unblock the signal.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ForgeWatcher(queue, 0, victim, (static_cast<uint64_t>(victim) << 32) | 12345);

  auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(0));
  ASSERT_TRUE(sender.has_value());
  ASSERT_EQ(SendString(&*sender, "hello"), SendResult::GOOD);
  LocklessQueueWakeUpper wake_upper(queue);
  EXPECT_EQ(wake_upper.Wakeup(0), 0);
  EXPECT_EQ(wake_upper.refused_signals(), 1u);
  // Nor the tid alone without the identity.
  ForgeWatcher(queue, 0, victim, 0);
  EXPECT_EQ(wake_upper.Wakeup(0), 0);
  EXPECT_EQ(wake_upper.refused_signals(), 2u);

  int status;
  EXPECT_EQ(waitpid(victim, &status, WNOHANG), 0) << "the victim was killed";
  kill(victim, SIGKILL);
  waitpid(victim, &status, 0);
}

// A watcher whose user is at RLIMIT_SIGPENDING (a stopped every-message
// watcher piles up signals) makes the kernel refuse with EAGAIN: that is
// counted, and the other watchers are still signalled on every send.
TEST(WakeupTargetTest, SigpendingLimitDoesNotStopOthers) {
  SharedRegion region(LocklessQueueMemorySize(Config()));
  LocklessQueue queue(region.memory(), region.memory(), Config());
  ASSERT_TRUE(queue.Initialize().has_value());
  SignalFd signalfd({kWakeupSignal});
  auto watcher =
      LocklessQueueWatcher::Make(queue, 0, WakeupPolicy::kEveryMessage);
  ASSERT_TRUE(watcher.has_value());

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t stuck = fork();
  ASSERT_GE(stuck, 0);
  if (stuck == 0) {
    // Never reads its signals, and may have only a few pending.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, kWakeupSignal);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    struct rlimit limit = {2, 2};
    if (setrlimit(RLIMIT_SIGPENDING, &limit) != 0) _exit(1);
    auto stuck_watcher =
        LocklessQueueWatcher::Make(queue, 0, WakeupPolicy::kEveryMessage);
    if (!stuck_watcher.has_value()) _exit(1);
    (void)!write(fds[1], "r", 1);
    alarm(10);
    while (true) pause();
  }
  close(fds[1]);
  char ready;
  ASSERT_EQ(read(fds[0], &ready, 1), 1);
  close(fds[0]);

  auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(0));
  ASSERT_TRUE(sender.has_value());
  LocklessQueueWakeUpper wake_upper(queue);
  constexpr int kSends = 10;
  for (int i = 0; i < kSends; ++i) {
    ASSERT_EQ(SendString(&*sender, "x"), SendResult::GOOD);
    signalfd.Drain();
    wake_upper.Wakeup(0);
    EXPECT_TRUE(SignalPending(signalfd)) << "send " << i;
  }
  // The stuck watcher took at most its limit; the rest were refused.
  EXPECT_GE(wake_upper.signal_failures(), static_cast<uint64_t>(kSends - 2));
  kill(stuck, SIGKILL);
  int status;
  waitpid(stuck, &status, 0);
}

INSTANTIATE_TEST_SUITE_P(Policies, LivenessTest,
                         ::testing::Values(WakeupPolicy::kCoalesce,
                                           WakeupPolicy::kEveryMessage),
                         [](const auto &info) {
                           return info.param == WakeupPolicy::kCoalesce
                                      ? std::string("Coalesce")
                                      : std::string("EveryMessage");
                         });

#endif  // defined(__x86_64__)

}  // namespace
}  // namespace aos::ipc_lib::testing
