// Kills a process using the queue after each of its stores to the queue
// memory, for every store it makes, and checks the queue survives.
//
// The child write-protects the queue memory. Every store into it faults; the
// SIGSEGV handler counts it, makes the memory writable and sets the trap flag,
// so the store executes and the CPU traps right after it (SIGTRAP), where the
// memory is protected again. At the k-th store the handler kills the process
// instead (after making the memory writable again, so the kernel can mark the
// robust futexes the child held, as it would after a real crash). The parent
// then checks that cleanup finds every message buffer owned exactly once, that
// the dead slots are reusable, that every message is whole, and that sending
// and reading still work; then it restores the starting state and tries
// k + 1, until the child finishes without being killed.

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

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

constexpr size_t kPayload = 16;
constexpr greg_t kTrapFlag = 0x100;

char *trap_region = nullptr;
size_t trap_size = 0;
volatile long stores_seen = 0;
long kill_at_store = 0;

void OnSegv(int, siginfo_t *info, void *context) {
  char *address = static_cast<char *>(info->si_addr);
  if (address < trap_region || address >= trap_region + trap_size) {
    // A real crash: let it happen.
    signal(SIGSEGV, SIG_DFL);
    return;
  }
  mprotect(trap_region, trap_size, PROT_READ | PROT_WRITE);
  stores_seen = stores_seen + 1;
  if (stores_seen == kill_at_store) {
    syscall(SYS_kill, getpid(), SIGKILL);
  }
  static_cast<ucontext_t *>(context)->uc_mcontext.gregs[REG_EFL] |= kTrapFlag;
}

void OnTrap(int, siginfo_t *, void *context) {
  static_cast<ucontext_t *>(context)->uc_mcontext.gregs[REG_EFL] &= ~kTrapFlag;
  mprotect(trap_region, trap_size, PROT_READ);
}

void StartTrapping(void *region, size_t size, long kill_at) {
  trap_region = static_cast<char *>(region);
  trap_size = size;
  kill_at_store = kill_at;
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_flags = SA_SIGINFO | SA_NODEFER;
  action.sa_sigaction = OnSegv;
  sigaction(SIGSEGV, &action, nullptr);
  action.sa_sigaction = OnTrap;
  sigaction(SIGTRAP, &action, nullptr);
  mprotect(trap_region, trap_size, PROT_READ);
}

void StopTrapping() {
  mprotect(trap_region, trap_size, PROT_READ | PROT_WRITE);
}

// Every message this test sends is kPayload copies of one byte: a torn one is
// easy to spot.
std::string Payload(int seq) {
  return std::string(kPayload, static_cast<char>('A' + seq % 50));
}

LocklessQueueConfiguration Config() {
  LocklessQueueConfiguration config;
  // One watcher slot is held by the surviving watcher of the test process.
  config.num_watchers = 3;
  config.num_senders = 2;
  config.num_pinners = 1;
  config.queue_size = 3;
  config.message_data_size = kPayload;
  return config;
}

// Runs `body` in a child that dies at its `kill_at`-th store to `region`.
// Returns true if the child was killed, false if it finished first.
template <typename Body>
bool RunChildKilledAt(const SharedRegion &region, long kill_at, Body body) {
  const pid_t child = fork();
  if (child == 0) {
    // Wakeups aimed at ourselves must not kill us.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, kWakeupSignal);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    StartTrapping(region.memory(), region.size(), kill_at);
    const bool ok = body();
    StopTrapping();
    _exit(ok ? 0 : 1);
  }
  int status;
  CHECK_EQ(waitpid(child, &status, 0), child);
  if (WIFSIGNALED(status)) {
    CHECK_EQ(WTERMSIG(status), SIGKILL) << "child crashed at store " << kill_at;
    return true;
  }
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0)
      << "child failed an operation (no kill) at store " << kill_at;
  return false;
}

bool SignalPending(const SignalFd &signalfd) {
  struct pollfd pfd = {signalfd.fd(), POLLIN, 0};
  return poll(&pfd, 1, 0) == 1;
}

// The liveness half of surviving a crash at `store`: a watcher in this
// (surviving) process, armed before the child ran, is woken: by the child's
// own signal if it got that far, else by the next send of a live sender.
void CheckWatcherWakes(LocklessQueue queue, const SignalFd &signalfd,
                       long store) {
  SCOPED_TRACE("killed before store " + std::to_string(store));
  auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(0));
  ASSERT_TRUE(sender.has_value());
  ASSERT_EQ(SendString(&*sender, Payload(30)), SendResult::GOOD);
  LocklessQueueWakeUpper(queue).Wakeup(0);
  EXPECT_TRUE(SignalPending(signalfd))
      << "the surviving watcher was left asleep";
}

// Everything a healthy queue must do after a crash at `store`, with
// `held_watchers` watcher slots held by live watchers of this process.
void CheckQueueRecovered(LocklessQueue queue, long store,
                         size_t held_watchers = 0) {
  SCOPED_TRACE("killed before store " + std::to_string(store));
  {
    // Making senders runs the cleanup and needs every dead slot back.
    std::vector<LocklessQueueSender> senders;
    for (size_t i = 0; i < queue.config().num_senders; ++i) {
      auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(0));
      ASSERT_TRUE(sender.has_value()) << "sender slot " << i << " not reusable";
      senders.push_back(std::move(*sender));
    }
    Result<void> consistent = CheckQueueConsistency(queue);
    ASSERT_TRUE(consistent.has_value()) << consistent.error();

    // Every message in the ring is whole; the in-flight one is either whole
    // and in order, or absent.
    LocklessQueueReader reader(queue);
    const QueueIndex latest = reader.LatestIndex();
    ASSERT_TRUE(latest.valid());
    int previous_seq = -1;
    QueueIndex index = latest.DecrementBy(queue.config().queue_size - 1);
    for (size_t i = 0; i < queue.config().queue_size; ++i) {
      std::string data;
      ASSERT_EQ(ReadString(reader, queue, index.index(), &data),
                ReadResult::GOOD)
          << index.DebugString();
      ASSERT_EQ(data.size(), kPayload);
      ASSERT_EQ(data, std::string(kPayload, data[0])) << "torn message";
      const int seq = data[0] - 'A';
      EXPECT_GT(seq, previous_seq) << "messages out of order";
      previous_seq = seq;
      index = index.Increment();
    }

    std::vector<LocklessQueuePinner> pinners;
    for (size_t i = 0; i < queue.config().num_pinners; ++i) {
      auto pinner = LocklessQueuePinner::Make(queue);
      ASSERT_TRUE(pinner.has_value()) << "pinner slot " << i << " not reusable";
      pinners.push_back(std::move(*pinner));
    }
    std::vector<LocklessQueueWatcher> watchers;
    for (size_t i = held_watchers; i < queue.config().num_watchers; ++i) {
      auto watcher = LocklessQueueWatcher::Make(queue, 0);
      ASSERT_TRUE(watcher.has_value())
          << "watcher slot " << i << " not reusable";
      watchers.push_back(std::move(*watcher));
    }

    // Sending and reading still work, including past a pinned buffer.
    ASSERT_GE(pinners[0].PinIndex(latest.index()), 0);
    for (int i = 0; i < 7; ++i) {
      uint32_t sent;
      ASSERT_EQ(SendString(&senders[i % 2], Payload(40 + i), &sent),
                SendResult::GOOD);
      std::string data;
      ASSERT_EQ(ReadString(reader, queue, sent, &data), ReadResult::GOOD);
      EXPECT_EQ(data, Payload(40 + i));
    }
    consistent = CheckQueueConsistency(queue);
    ASSERT_TRUE(consistent.has_value()) << consistent.error();
  }
}

class LocklessQueueDeathTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "ThreadSanitizer intercepts the SIGSEGV/SIGTRAP stepping";
#endif
  }
};

// Sender creation, sends that displace messages, pinning (so a send trades a
// pinned buffer), a watcher, a wakeup, and the destruction of all of them.
// For every kill point, a watcher of this surviving process that was armed
// and asleep must be woken (issue 13 §1), and the queue must be whole.
TEST_F(LocklessQueueDeathTest, KilledAtEveryStoreOfEveryOperation) {
  SharedRegion region(LocklessQueueMemorySize(Config()));
  LocklessQueue queue(region.memory(), region.memory(), Config());
  ASSERT_TRUE(queue.Initialize().has_value());
  {
    // Fill the ring so the child displaces messages.
    auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(0));
    for (int i = 0; i < 4; ++i) {
      ASSERT_EQ(SendString(&*sender, Payload(i)), SendResult::GOOD);
    }
  }
  const std::vector<char> pristine(
      reinterpret_cast<char *>(region.memory()),
      reinterpret_cast<char *>(region.memory()) + region.size());

  SignalFd signalfd({kWakeupSignal});
  long kill_at = 1;
  for (; kill_at < 100000; ++kill_at) {
    memcpy(static_cast<void *>(region.memory()), pristine.data(),
           pristine.size());
    // The surviving watcher: armed, about to sleep (made after the restore
    // and destroyed before the next one, so its slot is never overwritten
    // while linked into our robust list).
    std::optional<LocklessQueueWatcher> survivor =
        LocklessQueueWatcher::Make(queue, 0, WakeupPolicy::kCoalesce);
    ASSERT_TRUE(survivor.has_value());
    signalfd.Drain();
    survivor->PrepareToSleep();
    const bool killed = RunChildKilledAt(region, kill_at, [&]() {
      auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(0));
      if (!sender) return false;
      for (int i = 10; i < 12; ++i) {
        if (SendString(&*sender, Payload(i)) != SendResult::GOOD) return false;
      }
      auto pinner = LocklessQueuePinner::Make(queue);
      if (!pinner) return false;
      const QueueIndex latest = LocklessQueueReader(queue).LatestIndex();
      if (pinner->PinIndex(latest.DecrementBy(2).index()) < 0) return false;
      auto watcher = LocklessQueueWatcher::Make(queue, 0);
      if (!watcher) return false;
      watcher->PrepareToSleep();
      for (int i = 12; i < 15; ++i) {
        if (SendString(&*sender, Payload(i)) != SendResult::GOOD) return false;
      }
      LocklessQueueWakeUpper(queue).Wakeup(0);
      return true;
    });
    if (!killed) {
      // The child's own wakeup reached us.
      EXPECT_TRUE(SignalPending(signalfd));
      break;
    }
    CheckWatcherWakes(queue, signalfd, kill_at);
    CheckQueueRecovered(queue, kill_at, /*held_watchers=*/1);
    if (::testing::Test::HasFailure()) {
      return;
    }
  }
  // The child stores a few hundred times; make sure we really stepped.
  EXPECT_GT(kill_at, 50);
  LOG(INFO) << "The child finished after " << kill_at - 1 << " stores";
}

// Initialization killed at every store: the next process redoes it.
TEST_F(LocklessQueueDeathTest, KilledAtEveryStoreOfInitialization) {
  SharedRegion region(LocklessQueueMemorySize(Config()));
  LocklessQueue queue(region.memory(), region.memory(), Config());
  long kill_at = 1;
  for (; kill_at < 100000; ++kill_at) {
    memset(static_cast<void *>(region.memory()), 0, region.size());
    const bool killed = RunChildKilledAt(region, kill_at, [&]() {
      if (!queue.Initialize().has_value()) return false;
      auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(0));
      return sender && SendString(&*sender, Payload(0)) == SendResult::GOOD;
    });
    if (!killed) {
      break;
    }
    SCOPED_TRACE("killed before store " + std::to_string(kill_at));
    ASSERT_TRUE(queue.Initialize().has_value());
    auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(0));
    ASSERT_TRUE(sender.has_value());
    for (int i = 1; i < 5; ++i) {
      uint32_t sent;
      ASSERT_EQ(SendString(&*sender, Payload(i), &sent), SendResult::GOOD);
      std::string data;
      ASSERT_EQ(ReadString(LocklessQueueReader(queue), queue, sent, &data),
                ReadResult::GOOD);
      ASSERT_EQ(data, Payload(i));
    }
    Result<void> consistent = CheckQueueConsistency(queue);
    ASSERT_TRUE(consistent.has_value()) << consistent.error();
  }
  EXPECT_GT(kill_at, 50);
  LOG(INFO) << "Initialization finished after " << kill_at - 1 << " stores";
}

#endif  // defined(__x86_64__)

}  // namespace
}  // namespace aos::ipc_lib::testing
