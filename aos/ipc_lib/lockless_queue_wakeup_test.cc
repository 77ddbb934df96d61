// Stress test of the wakeup protocol: a watcher thread sleeps on its signalfd
// between messages, and senders only send the next burst once the watcher
// has read everything so far. If a wakeup were ever lost, the watcher would
// sleep with a message pending and the senders would wait for it forever;
// the watcher's (very long) poll timeout turns that hang into a failure.
//
// The cross-process version does the same with the senders in child
// processes and the watcher asleep in epoll, as ShmEventLoop sleeps.
//
// Run longer by hand with --wakeup_bursts=1000000.

#include <poll.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/lockless_queue_test_util.h"
#include "aos/ipc_lib/process_test_util.h"
#include "aos/ipc_lib/signalfd.h"
#include "gflags/gflags.h"
#include "gtest/gtest.h"

DEFINE_int32(wakeup_bursts, 20000, "Bursts each sender sends.");
DEFINE_int32(process_wakeup_bursts, 5000,
             "Bursts each sender process sends in the cross-process test.");

namespace aos::ipc_lib::testing {
namespace {

using ReadResult = LocklessQueueReader::Result;
using SendResult = LocklessQueueSender::Result;

void Spin(int iterations) {
  for (int i = 0; i < iterations; ++i) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
}

struct StressResult {
  uint64_t received = 0;
  uint64_t wakeups = 0;
  uint64_t signals_sent = 0;
  std::string error;
};

StressResult RunStress(WakeupPolicy policy, int num_senders) {
  LocklessQueueConfiguration config;
  config.num_watchers = 1;
  config.num_senders = static_cast<size_t>(num_senders);
  config.num_pinners = 0;
  config.queue_size = 256;
  config.message_data_size = 16;
  HeapQueue heap(config);
  const uint64_t total =
      static_cast<uint64_t>(FLAGS_wakeup_bursts) * num_senders;

  std::atomic<uint64_t> received{0};
  std::atomic<bool> watcher_ready{false};
  StressResult result;
  std::thread watcher_thread([&]() {
    SignalFd signalfd({kWakeupSignal});
    auto watcher = LocklessQueueWatcher::Make(heap.queue(), 0, policy);
    CHECK(watcher.has_value());
    watcher_ready.store(true);
    std::mt19937 random(1234);
    LocklessQueueReader reader(heap.queue());
    QueueIndex next =
        QueueIndex::Zero(static_cast<uint32_t>(config.queue_size));
    char buffer[16];
    while (received.load(std::memory_order_relaxed) < total) {
      // 1. drain, 2. arm, 3. check everything, 4. sleep.
      while (signalfd.Read().ssi_signo != 0) {
      }
      watcher->PrepareToSleep();
      while (true) {
        MessageInfo info;
        const ReadResult read = reader.Read(next.index(), &info, buffer);
        if (read == ReadResult::NOTHING_NEW) break;
        if (read != ReadResult::GOOD) {
          result.error = "unexpected read result";
          received.store(total);
          return;
        }
        next = next.Increment();
        received.fetch_add(1, std::memory_order_release);
      }
      if (received.load(std::memory_order_relaxed) >= total) break;
      // Widen the window between checking and sleeping, where a sender's
      // message finds the watcher "awake" in its eyes.
      Spin(random() % 2048);
      struct pollfd fd = {signalfd.fd(), POLLIN, 0};
      // Only a lost wakeup makes this time out.
      if (poll(&fd, 1, 20000) == 0) {
        result.error =
            "lost wakeup: slept 20 s with " +
            std::to_string(reader.LatestIndex().index() + 1 - received.load()) +
            " messages pending";
        received.store(total);
        return;
      }
      ++result.wakeups;
    }
  });
  while (!watcher_ready.load()) std::this_thread::yield();

  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> signals{0};
  std::vector<std::thread> senders;
  for (int s = 0; s < num_senders; ++s) {
    senders.emplace_back([&, s]() {
      auto sender =
          LocklessQueueSender::Make(heap.queue(), std::chrono::seconds(0));
      CHECK(sender.has_value());
      LocklessQueueWakeUpper wake_upper(heap.queue());
      std::mt19937 random(s);
      for (int burst = 0; burst < FLAGS_wakeup_bursts; ++burst) {
        // Wait until the watcher has read everything sent so far, so it is
        // about to sleep (or asleep) when we send: the racy moment.
        for (int spins = 0; received.load(std::memory_order_acquire) <
                            sent.load(std::memory_order_acquire);
             ++spins) {
          if (received.load() >= total) return;  // the watcher gave up
          if (spins > 2000) std::this_thread::yield();
        }
        Spin(random() % 1024);
        // One message per burst: a lost wakeup for it cannot be rescued by a
        // later message of the same burst.
        sent.fetch_add(1, std::memory_order_release);
        CHECK_EQ(SendString(&*sender, "burst"), SendResult::GOOD);
        signals.fetch_add(wake_upper.Wakeup(0));
      }
    });
  }
  for (std::thread &thread : senders) thread.join();
  watcher_thread.join();
  result.received = received.load();
  result.signals_sent = signals.load();
  return result;
}

TEST(LocklessQueueWakeupTest, CoalescedNeverLosesAWakeup) {
  const StressResult result = RunStress(WakeupPolicy::kCoalesce, 2);
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.received, static_cast<uint64_t>(FLAGS_wakeup_bursts) * 2);
  // Two senders often send while the watcher has not re-armed yet: fewer
  // signals than messages.
  EXPECT_LE(result.signals_sent, result.received);
  LOG(INFO) << result.received << " messages, " << result.signals_sent
            << " signals, " << result.wakeups << " wakeups";
}

TEST(LocklessQueueWakeupTest, EveryMessageNeverLosesAWakeup) {
  const StressResult result = RunStress(WakeupPolicy::kEveryMessage, 2);
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.received, static_cast<uint64_t>(FLAGS_wakeup_bursts) * 2);
  EXPECT_EQ(result.signals_sent, result.received);
  LOG(INFO) << result.received << " messages, " << result.signals_sent
            << " signals, " << result.wakeups << " wakeups";
}

// What the watcher (parent) and the sender processes share, besides the
// queue.
struct CrossProcessState {
  std::atomic<uint64_t> sent;
  std::atomic<uint64_t> received;
  // Set by the watcher when it gives up, so the senders stop waiting.
  std::atomic<bool> stop;
};

// Child process body: sends one message per burst, each when the watcher has
// read everything sent so far (so it is about to sleep, or asleep).
[[noreturn]] void SenderProcess(LocklessQueue queue, CrossProcessState *state,
                                uint64_t total, int seed) {
  auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(0));
  if (!sender) _exit(2);
  LocklessQueueWakeUpper wake_upper(queue);
  std::mt19937 random(seed);
  for (int burst = 0; burst < FLAGS_process_wakeup_bursts; ++burst) {
    for (int spins = 0; state->received.load(std::memory_order_acquire) <
                        state->sent.load(std::memory_order_acquire);
         ++spins) {
      if (state->stop.load() || state->received.load() >= total) _exit(0);
      if (spins > 2000) sched_yield();
    }
    Spin(random() % 1024);
    state->sent.fetch_add(1, std::memory_order_release);
    if (SendString(&*sender, "burst") != SendResult::GOOD) _exit(3);
    wake_upper.Wakeup(0);
  }
  _exit(0);
}

TEST(LocklessQueueWakeupTest, CrossProcessCoalescedNeverLosesAWakeup) {
  constexpr int kSenders = 2;
  LocklessQueueConfiguration config;
  config.num_watchers = 1;
  config.num_senders = kSenders;
  config.num_pinners = 0;
  config.queue_size = 256;
  config.message_data_size = 16;
  // Shared with the children: queue and counters in one anonymous mapping.
  const size_t queue_size = LocklessQueueMemorySize(config);
  SharedRegion region(queue_size + sizeof(CrossProcessState));
  LocklessQueue queue(region.memory(), region.memory(), config);
  ASSERT_TRUE(queue.Initialize().has_value());
  auto *state = new (region.data() + queue_size) CrossProcessState{};
  const uint64_t total =
      static_cast<uint64_t>(FLAGS_process_wakeup_bursts) * kSenders;

  // Watcher first, so the children find it armed or not, never missing.
  SignalFd signalfd({kWakeupSignal});
  auto watcher = LocklessQueueWatcher::Make(queue, 0, WakeupPolicy::kCoalesce);
  ASSERT_TRUE(watcher.has_value());
  std::vector<pid_t> children;
  for (int i = 0; i < kSenders; ++i) {
    const pid_t child = fork();
    if (child == 0) SenderProcess(queue, state, total, i);
    children.push_back(child);
  }

  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(epoll_fd, 0);
  struct epoll_event event = {};
  event.events = EPOLLIN;
  ASSERT_EQ(epoll_ctl(epoll_fd, EPOLL_CTL_ADD, signalfd.fd(), &event), 0);
  LocklessQueueReader reader(queue);
  QueueIndex next = QueueIndex::Zero(static_cast<uint32_t>(config.queue_size));
  char buffer[16];
  std::string error;
  uint64_t wakeups = 0;
  std::mt19937 random(99);
  while (error.empty() && state->received.load() < total) {
    // 1. drain, 2. arm, 3. check everything, 4. sleep.
    signalfd.Drain();
    watcher->PrepareToSleep();
    while (true) {
      MessageInfo info;
      const ReadResult read = reader.Read(next.index(), &info, buffer);
      if (read == ReadResult::NOTHING_NEW) break;
      if (read != ReadResult::GOOD) {
        error = "unexpected read result";
        break;
      }
      next = next.Increment();
      state->received.fetch_add(1, std::memory_order_release);
    }
    if (!error.empty() || state->received.load() >= total) break;
    Spin(random() % 2048);
    struct epoll_event ready;
    // Only a lost wakeup makes this time out.
    const int count = epoll_wait(epoll_fd, &ready, 1, 20000);
    if (count == 0) {
      error = "lost wakeup: slept 20 s with " +
              std::to_string(state->sent.load() - state->received.load()) +
              " messages pending";
    } else if (count < 0 && errno != EINTR) {
      error = std::string("epoll_wait: ") + strerror(errno);
    }
    ++wakeups;
  }
  state->stop.store(true);
  close(epoll_fd);
  for (pid_t child : children) {
    int status;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "sender process failed: " << status;
  }
  EXPECT_EQ(error, "");
  EXPECT_EQ(state->received.load(), total);
  LOG(INFO) << state->received.load() << " messages, " << wakeups << " wakeups";
}

}  // namespace
}  // namespace aos::ipc_lib::testing
