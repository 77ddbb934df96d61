// Proves the real-time path (Send, Read, PinIndex, LatestIndex, Wakeup,
// PrepareToSleep) allocates nothing: this binary replaces malloc and friends
// with counting wrappers around glibc's allocator.

#include <stddef.h>

#include <atomic>
#include <chrono>

#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/lockless_queue_test_util.h"
#include "aos/ipc_lib/signalfd.h"
#include "gtest/gtest.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AOS_COUNT_ALLOCATIONS 0
#else
#define AOS_COUNT_ALLOCATIONS 1
#endif

#if AOS_COUNT_ALLOCATIONS
namespace {
thread_local bool counting = false;
std::atomic<int> allocations{0};
void Count() {
  if (counting) allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *pointer, size_t size);
void *__libc_memalign(size_t alignment, size_t size);
void *malloc(size_t size) {
  Count();
  return __libc_malloc(size);
}
void *calloc(size_t count, size_t size) {
  Count();
  return __libc_calloc(count, size);
}
void *realloc(void *pointer, size_t size) {
  Count();
  return __libc_realloc(pointer, size);
}
void *aligned_alloc(size_t alignment, size_t size) {
  Count();
  return __libc_memalign(alignment, size);
}
void *memalign(size_t alignment, size_t size) {
  Count();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void **result, size_t alignment, size_t size) {
  Count();
  *result = __libc_memalign(alignment, size);
  return *result == nullptr ? 12 /* ENOMEM */ : 0;
}
}
#endif

namespace aos::ipc_lib::testing {
namespace {

using ReadResult = LocklessQueueReader::Result;
using SendResult = LocklessQueueSender::Result;

TEST(LocklessQueueAllocationTest, RealTimePathDoesNotAllocate) {
#if !AOS_COUNT_ALLOCATIONS
  GTEST_SKIP() << "sanitizer runtimes own the allocator";
#else
  LocklessQueueConfiguration config;
  config.num_watchers = 2;
  config.num_senders = 1;
  config.num_pinners = 1;
  config.queue_size = 8;
  config.message_data_size = 128;
  HeapQueue heap(config);
  auto sender =
      LocklessQueueSender::Make(heap.queue(), std::chrono::seconds(0));
  auto pinner = LocklessQueuePinner::Make(heap.queue());
  auto watcher =
      LocklessQueueWatcher::Make(heap.queue(), 0, WakeupPolicy::kCoalesce);
  auto every =
      LocklessQueueWatcher::Make(heap.queue(), 0, WakeupPolicy::kEveryMessage);
  ASSERT_TRUE(sender && pinner && watcher && every);
  SignalFd signalfd({kWakeupSignal});
  LocklessQueueWakeUpper wake_upper(heap.queue());
  LocklessQueueReader reader(heap.queue());
  char buffer[128];
  const char payload[] = "payload";
  int filtered = 0;
  auto filter = [&](const MessageInfo &) { return ++filtered % 2 == 0; };

  // The check below must be able to fail: an allocation is counted.
  counting = true;
  void *probe = malloc(16);
  counting = false;
  free(probe);
  ASSERT_EQ(allocations.exchange(0), 1);

  counting = true;
  int good = 0;
  for (int i = 0; i < 100; ++i) {
    uint32_t index;
    ASSERT_EQ(sender->Send(payload, sizeof(payload), monotonic_clock::min_time,
                           realtime_clock::min_time, monotonic_clock::min_time,
                           0xFFFFFFFFu, UUID::Zero(), nullptr, nullptr, &index),
              SendResult::GOOD);
    watcher->PrepareToSleep();
    wake_upper.Wakeup(0);
    const QueueIndex latest = reader.LatestIndex();
    MessageInfo info;
    if (reader.Read(latest.index(), &info, buffer) == ReadResult::GOOD) ++good;
    reader.Read(latest.index(), &info, buffer, filter);
    reader.Read(latest.Increment().index(), &info, buffer);
    reader.Read(index >= 8 ? index - 8 : 0, &info, buffer);
    pinner->PinIndex(latest.index());
    signalfd.Read();
  }
  counting = false;
  EXPECT_EQ(allocations.load(), 0);
  EXPECT_EQ(good, 100);
  while (signalfd.Read().ssi_signo != 0) {
  }
#endif
}

}  // namespace
}  // namespace aos::ipc_lib::testing
