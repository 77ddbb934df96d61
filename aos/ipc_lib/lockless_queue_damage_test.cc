// Damaged queue files (issue 13, §2): garbage written into each place of a
// real queue file that holds an index (ring slots, message headers, sender,
// pinner and watcher slots, next_queue_index, the header's starting index)
// must end the process with one message naming the file, its channel and
// type, what was inconsistent, and the `aos_shm rm` command that removes it:
// never a SIGSEGV, a hang at 100% CPU or a misleading error.
//
// Also the CHECKs that make LocklessQueueWatcher's protocol hard to get
// wrong silently (the Watcher* tests).
//
// Each death statement arms a 20 s alarm, so code that would spin forever
// dies of SIGALRM (without the message, which fails the test) instead of
// hanging the test.

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/lockless_queue_memory.h"
#include "aos/ipc_lib/lockless_queue_test_util.h"
#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/ipc_lib/signalfd.h"
#include "aos/testing/tmpdir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::ipc_lib::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint32_t kQueueSize = 4;

LocklessQueueConfiguration Config() {
  LocklessQueueConfiguration config;
  config.num_watchers = 2;
  config.num_senders = 2;
  config.num_pinners = 1;
  config.queue_size = kQueueSize;
  config.message_data_size = 32;
  return config;
}

// A pid that belonged to a process that has exited (and was reaped).
pid_t DeadPid() {
  const pid_t pid = fork();
  CHECK_GE(pid, 0);
  if (pid == 0) {
    _exit(0);
  }
  CHECK_EQ(waitpid(pid, nullptr, 0), pid);
  return pid;
}

class DamagedQueueTest : public ::testing::Test {
 protected:
  DamagedQueueTest() {
    ::testing::FLAGS_gtest_death_test_style = "fast";
    previous_shm_base_ = FLAGS_shm_base;
    // The canonical directory: /proc/self/maps, where the message finds the
    // file, names it without symlinks.
    char *real = realpath(dir_.path().c_str(), nullptr);
    CHECK(real != nullptr);
    SetShmBase(std::string(real) + "/aos");
    free(real);
    channel_ = std::string("/damaged/") +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
    path_ = ShmPath(FLAGS_shm_base, channel_, "aos.Test");
    Result<MemoryMappedQueue> opened =
        MemoryMappedQueue::Open(path_, Config(), 0700);
    CHECK(opened.has_value()) << opened.error().message();
    mapped_.emplace(std::move(*opened));
  }
  ~DamagedQueueTest() override {
    mapped_.reset();
    SetShmBase(previous_shm_base_);
  }

  LocklessQueue queue() const { return mapped_->queue(); }
  QueueMemoryView view() const {
    return QueueMemoryView(mapped_->memory(), layout_);
  }
  LocklessQueueMemory *memory() const { return mapped_->memory(); }

  // Sends `n` messages through a sender made and destroyed here.
  void SendMessages(int n) {
    std::optional<LocklessQueueSender> sender =
        LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
    ASSERT_TRUE(sender.has_value());
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(SendString(&*sender, "message"),
                LocklessQueueSender::Result::GOOD);
    }
  }

  // Everything the one fatal message must say, plus `what`.
  ::testing::Matcher<const std::string &> Fatal(const std::string &what) {
    return AllOf(HasSubstr("corrupt queue file " + path_),
                 HasSubstr("of channel " + channel_ + " (type aos.Test)"),
                 HasSubstr(what),
                 HasSubstr("`aos_shm rm " + channel_ +
                           " aos.Test --shm_base=" + FLAGS_shm_base + "`"));
  }

  aos::testing::TempDir dir_;
  std::string previous_shm_base_;
  std::string channel_;
  std::string path_;
  std::optional<MemoryMappedQueue> mapped_;
  QueueLayout layout_{Config()};
};

// Code that would spin forever on the damage dies here instead of hanging.
void Alarm() { alarm(20); }

TEST_F(DamagedQueueTest, ReadOfRingSlotNamingNoBuffer) {
  SendMessages(1);
  view().ring(0)->Store(Index(0u, 1000000u));
  LocklessQueueReader reader(queue());
  std::string data;
  EXPECT_DEATH(
      {
        Alarm();
        ReadString(reader, queue(), 0, &data);
      },
      Fatal("ring slot 0 names message buffer 1000000, but the queue has 7 "
            "buffers"));
}

// ReadRun's own path (the slot holds the index asked for) checks the buffer
// too.
TEST_F(DamagedQueueTest, ReadRunOfRingSlotNamingNoBuffer) {
  SendMessages(1);
  view().ring(0)->Store(Index(0u, 1000000u));
  LocklessQueueReader reader(queue());
  std::string buffer(Config().message_data_size, '\0');
  EXPECT_DEATH(
      {
        Alarm();
        reader.ReadRun(0, buffer.data(), {},
                       [](const MessageInfo &) { return true; });
      },
      Fatal("ring slot 0 names message buffer 1000000, but the queue has 7 "
            "buffers"));
}

TEST_F(DamagedQueueTest, ReadOfMessageClaimingTooManyBytes) {
  SendMessages(1);
  const uint32_t buffer = view().ring(0)->Load().message_index();
  view().message(buffer)->length.store(0x7FFF0000u);
  LocklessQueueReader reader(queue());
  std::string data;
  EXPECT_DEATH(
      {
        Alarm();
        ReadString(reader, queue(), 0, &data);
      },
      Fatal("message 0 (buffer " + std::to_string(buffer) +
            ") claims 2147418112 payload bytes, but the channel's messages "
            "hold at most 32"));
}

TEST_F(DamagedQueueTest, ReadOfRingSlotHoldingAnotherSlotsIndex) {
  SendMessages(2);
  // Slot 1 holds index 1; make it claim index 6 (slot 2's) and read index 1.
  const Index held = view().ring(1)->Load();
  view().ring(1)->Store(Index(6u, held.message_index()));
  LocklessQueueReader reader(queue());
  std::string data;
  EXPECT_DEATH(
      {
        Alarm();
        ReadString(reader, queue(), 1, &data);
      },
      Fatal("ring slot 1 holds queue index 6, which is not an index of that "
            "slot"));
}

TEST_F(DamagedQueueTest, LatestIndexWithGarbageNextQueueIndex) {
  SendMessages(2);
  // In range, but far from anything sent: readers would chase indices nobody
  // sent and report falling behind.
  memory()->next_queue_index.Store(QueueIndex::FromRaw(0x12345678u, 4));
  LocklessQueueReader reader(queue());
  EXPECT_DEATH(
      {
        Alarm();
        reader.LatestIndex();
      },
      Fatal("next_queue_index is 305419896, but ring slot 0 holds queue index "
            "0, more than a lap before it"));
}

TEST_F(DamagedQueueTest, LatestIndexWithNextQueueIndexOutOfRange) {
  SendMessages(2);
  // MaxIndex(4) is 0xFFFFFFFC.
  memory()->next_queue_index.Store(QueueIndex::FromRaw(0xFFFFFFFDu, 1));
  LocklessQueueReader reader(queue());
  EXPECT_DEATH(
      {
        Alarm();
        reader.LatestIndex();
      },
      Fatal("next_queue_index is 4294967293, out of range"));
}

TEST_F(DamagedQueueTest, SendWithGarbageNextQueueIndex) {
  SendMessages(2);
  std::optional<LocklessQueueSender> sender =
      LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
  ASSERT_TRUE(sender.has_value());
  memory()->next_queue_index.Store(QueueIndex::FromRaw(0x12345678u, 4));
  EXPECT_DEATH(
      {
        Alarm();
        SendString(&*sender, "x");
      },
      Fatal("next_queue_index is 305419896, but ring slot 0 holds queue index "
            "0, more than a lap before it"));
}

TEST_F(DamagedQueueTest, SendWithNextQueueIndexOutOfRange) {
  SendMessages(2);
  std::optional<LocklessQueueSender> sender =
      LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
  ASSERT_TRUE(sender.has_value());
  memory()->next_queue_index.Store(QueueIndex::FromRaw(0xFFFFFFFEu, 1));
  EXPECT_DEATH(
      {
        Alarm();
        SendString(&*sender, "x");
      },
      Fatal("next_queue_index is 4294967294, out of range"));
}

TEST_F(DamagedQueueTest, SendWithGarbageStartingIndex) {
  std::optional<LocklessQueueSender> sender =
      LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
  ASSERT_TRUE(sender.has_value());
  memory()->header.starting_queue_index = 0xFFFFFFFEu;
  EXPECT_DEATH(
      {
        Alarm();
        SendString(&*sender, "x");
      },
      Fatal("the header's starting queue index 4294967294 is out of range"));
}

TEST_F(DamagedQueueTest, SendIntoRingSlotNamingNoBuffer) {
  SendMessages(1);
  std::optional<LocklessQueueSender> sender =
      LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
  ASSERT_TRUE(sender.has_value());
  // Slot 1 holds the placeholder for index 1; keep its index, break its
  // buffer.
  const Index held = view().ring(1)->Load();
  view().ring(1)->Store(Index(held.queue_index(), 999999u));
  EXPECT_DEATH(
      {
        Alarm();
        SendString(&*sender, "x");
      },
      Fatal("ring slot 1 names message buffer 999999, but the queue has 7 "
            "buffers"));
}

TEST_F(DamagedQueueTest, SendIntoRingSlotHoldingAnotherSlotsIndex) {
  SendMessages(1);
  std::optional<LocklessQueueSender> sender =
      LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
  ASSERT_TRUE(sender.has_value());
  const Index held = view().ring(1)->Load();
  view().ring(1)->Store(Index(2u, held.message_index()));
  EXPECT_DEATH(
      {
        Alarm();
        SendString(&*sender, "x");
      },
      Fatal("ring slot 1 holds queue index 2, which belongs in ring slot 2"));
}

TEST_F(DamagedQueueTest, SendIntoRingSlotHoldingAFutureIndex) {
  SendMessages(1);
  std::optional<LocklessQueueSender> sender =
      LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
  ASSERT_TRUE(sender.has_value());
  const Index held = view().ring(1)->Load();
  view().ring(1)->Store(Index(1u + 5 * kQueueSize, held.message_index()));
  EXPECT_DEATH(
      {
        Alarm();
        SendString(&*sender, "x");
      },
      Fatal("ring slot 1 holds queue index 21, ahead of next_queue_index 1: "
            "nobody can have sent it yet"));
}

TEST_F(DamagedQueueTest, SendOverBufferWhoseHeaderDisagreesWithTheRing) {
  // Index 5 goes into slot 1, displacing message 1.
  SendMessages(kQueueSize + 1);
  std::optional<LocklessQueueSender> sender =
      LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
  ASSERT_TRUE(sender.has_value());
  const Index held = view().ring(1)->Load();
  ASSERT_EQ(held.queue_index(), 1u);
  view()
      .message(held.message_index())
      ->queue_index.Store(QueueIndex::FromRaw(77, kQueueSize));
  EXPECT_DEATH(
      {
        Alarm();
        SendString(&*sender, "x");
      },
      Fatal("message buffer " + std::to_string(held.message_index()) +
            ", which ring slot 1 holds as queue index 1, says it holds queue "
            "index 77"));
}

TEST_F(DamagedQueueTest, SendFromSenderSlotNamingNoScratchBuffer) {
  std::optional<LocklessQueueSender> sender =
      LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
  ASSERT_TRUE(sender.has_value());
  view().sender(sender->slot())->scratch_index.Store(Index(0u, 5000000u));
  EXPECT_DEATH(
      {
        Alarm();
        SendString(&*sender, "x");
      },
      Fatal("sender slot 0 names message buffer 5000000 as its scratch "
            "buffer, but the queue has 7 buffers"));
}

TEST_F(DamagedQueueTest, MakeSenderOverSlotNamingNoScratchBuffer) {
  view().sender(0)->scratch_index.Store(Index(0u, 5000000u));
  EXPECT_DEATH(
      {
        Alarm();
        LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
      },
      Fatal("sender slot 0 names message buffer 5000000 as its scratch "
            "buffer"));
}

TEST_F(DamagedQueueTest, CleanupOfDeadSenderNamingNoScratchBuffer) {
  SendMessages(1);
  SenderSlot *dead = view().sender(1);
  const pid_t pid = DeadPid();
  RobustOwnershipTrackerTestPeer::SetOwner(&dead->owner, pid, pid, 1);
  dead->scratch_index.Store(Index(0u, 7777777u));
  dead->to_replace.Store(Index(0u, 2u));
  EXPECT_DEATH(
      {
        Alarm();
        LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
      },
      Fatal("dead sender slot 1 names message buffer 7777777 as its scratch "
            "buffer, but the queue has 7 buffers"));
}

TEST_F(DamagedQueueTest, CleanupOfDeadSenderTakingNoBuffer) {
  SendMessages(1);
  SenderSlot *dead = view().sender(1);
  const pid_t pid = DeadPid();
  RobustOwnershipTrackerTestPeer::SetOwner(&dead->owner, pid, pid, 1);
  dead->to_replace.Store(Index(0u, 4444444u));
  EXPECT_DEATH(
      {
        Alarm();
        LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
      },
      Fatal("dead sender slot 1 was taking message buffer 4444444, but the "
            "queue has 7 buffers"));
}

TEST_F(DamagedQueueTest, CleanupWithABufferNamedTwice) {
  SendMessages(1);
  // A dead sender mid-transfer (so cleanup must account for every buffer),
  // and two ring slots naming one buffer (so one buffer is nobody's).
  SenderSlot *dead = view().sender(1);
  const pid_t pid = DeadPid();
  RobustOwnershipTrackerTestPeer::SetOwner(&dead->owner, pid, pid, 1);
  dead->to_replace.Store(view().ring(1)->Load());
  const Index slot2 = view().ring(2)->Load();
  view().ring(3)->Store(
      Index(view().ring(3)->Load().queue_index(), slot2.message_index()));
  EXPECT_DEATH(
      {
        Alarm();
        LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
      },
      Fatal("of its 7 message buffers are owned by a ring slot, a sender or a "
            "pinner (some are named twice)"));
}

TEST_F(DamagedQueueTest, PinOfRingSlotNamingNoBuffer) {
  SendMessages(1);
  std::optional<LocklessQueuePinner> pinner =
      LocklessQueuePinner::Make(queue());
  ASSERT_TRUE(pinner.has_value());
  view().ring(0)->Store(Index(0u, 888888u));
  EXPECT_DEATH(
      {
        Alarm();
        if (pinner->PinIndex(0) >= 0) {
          // What a zero-copy reader does next.
          volatile char c = *static_cast<const char *>(pinner->Data());
          (void)c;
        }
      },
      Fatal("ring slot 0 names message buffer 888888, but the queue has 7 "
            "buffers"));
}

TEST_F(DamagedQueueTest, SenderTradingWithPinnerNamingNoSpareBuffer) {
  std::optional<LocklessQueuePinner> pinner =
      LocklessQueuePinner::Make(queue());
  ASSERT_TRUE(pinner.has_value());
  // Sender slot 0's scratch buffer claims index 3, which the pinner pins, and
  // the pinner's spare is garbage: the next sender trades for it.
  const uint32_t scratch =
      view().sender(0)->scratch_index.Load().message_index();
  view().message(scratch)->queue_index.Store(
      QueueIndex::FromRaw(3, kQueueSize));
  view().pinner(0)->pinned.Store(QueueIndex::FromRaw(3, kQueueSize));
  view().pinner(0)->scratch_index.Store(Index(0u, 654321u));
  EXPECT_DEATH(
      {
        Alarm();
        LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
      },
      Fatal("pinner slot 0 names message buffer 654321 as its spare buffer, "
            "but the queue has 7 buffers"));
}

TEST_F(DamagedQueueTest, WakeupOfWatcherWithGarbagePriority) {
  std::optional<LocklessQueueWatcher> watcher =
      LocklessQueueWatcher::Make(queue(), 0, WakeupPolicy::kEveryMessage);
  ASSERT_TRUE(watcher.has_value());
  view().watcher(watcher->slot())->priority.store(5000);
  LocklessQueueWakeUpper wake_upper(queue());
  EXPECT_DEATH(
      {
        Alarm();
        // A real-time sender would boost itself to the watcher's priority.
        wake_upper.Wakeup(1);
      },
      Fatal("watcher slot 0 has real-time priority 5000, outside 0..99"));
}

// Arming from a thread other than the watcher's: the signal would go to a
// thread that is not about to sleep, a wakeup nobody receives.
TEST_F(DamagedQueueTest, WatcherArmedFromAnotherThreadDies) {
  std::optional<LocklessQueueWatcher> watcher =
      LocklessQueueWatcher::Make(queue(), 0, WakeupPolicy::kCoalesce);
  ASSERT_TRUE(watcher.has_value());
  EXPECT_DEATH(
      {
        Alarm();
        std::thread other([&]() { watcher->PrepareToSleep(); });
        other.join();
      },
      "PrepareToSleep\\(\\) called by a thread other than the one that made "
      "the watcher");
  EXPECT_DEATH(
      {
        Alarm();
        std::thread other([&]() { watcher->DoneSleeping(); });
        other.join();
      },
      "DoneSleeping\\(\\) called by a thread other than the one that made "
      "the watcher");
  // Its own thread may.
  watcher->PrepareToSleep();
  watcher->DoneSleeping();
}

TEST_F(DamagedQueueTest, MovedFromWatcherDies) {
  std::optional<LocklessQueueWatcher> watcher =
      LocklessQueueWatcher::Make(queue(), 0, WakeupPolicy::kCoalesce);
  ASSERT_TRUE(watcher.has_value());
  LocklessQueueWatcher moved(std::move(*watcher));
  EXPECT_DEATH(
      {
        Alarm();
        watcher->PrepareToSleep();
      },
      "PrepareToSleep\\(\\) on a moved-from LocklessQueueWatcher");
  moved.PrepareToSleep();
}

// A direct user who never calls PrepareToSleep on a coalescing watcher (the
// default policy) is signalled on every message rather than never.
TEST_F(DamagedQueueTest, CoalescingWatcherThatNeverArmsIsStillSignalled) {
  std::optional<LocklessQueueWatcher> watcher =
      LocklessQueueWatcher::Make(queue(), 0, WakeupPolicy::kCoalesce);
  ASSERT_TRUE(watcher.has_value());
  SignalFd signalfd({kWakeupSignal});
  std::optional<LocklessQueueSender> sender =
      LocklessQueueSender::Make(queue(), std::chrono::seconds(0));
  ASSERT_TRUE(sender.has_value());
  LocklessQueueWakeUpper wake_upper(queue());
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(SendString(&*sender, "x"), LocklessQueueSender::Result::GOOD);
    EXPECT_EQ(wake_upper.Wakeup(0), 1) << "send " << i;
    EXPECT_EQ(signalfd.Read().ssi_signo, static_cast<uint32_t>(kWakeupSignal));
  }
}

TEST_F(DamagedQueueTest, StartCoalescingFromAnotherThreadDies) {
  std::optional<LocklessQueueWatcher> watcher =
      LocklessQueueWatcher::Make(queue(), 0, WakeupPolicy::kCoalesce);
  ASSERT_TRUE(watcher.has_value());
  EXPECT_DEATH(
      {
        Alarm();
        std::thread other([&]() { watcher->StartCoalescing(); });
        other.join();
      },
      "StartCoalescing\\(\\) called by a thread other than the one that "
      "made the watcher");
}

}  // namespace
}  // namespace aos::ipc_lib::testing
