#include "aos/stl_mutex/stl_mutex.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "aos/stl_mutex/thread_id.h"
#include "glog/logging.h"

namespace aos {
namespace {

long Futex(std::atomic<uint32_t> *word, int op) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  return syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), op, 0, nullptr,
                 nullptr, 0);
}

uint32_t Owner(uint32_t word) { return word & FUTEX_TID_MASK; }

}  // namespace

void stl_mutex::lock() {
  const uint32_t tid = static_cast<uint32_t>(CurrentThreadId());
  uint32_t expected = 0;
  if (futex_.compare_exchange_strong(expected, tid, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
    return;
  }
  CHECK_NE(Owner(expected), tid) << ": stl_mutex locked twice by thread " << tid
                                 << "; it is not recursive";
  // The kernel queues us by priority, boosts the owner, and on success
  // stores our tid in the word.
  while (Futex(&futex_, FUTEX_LOCK_PI_PRIVATE) != 0) {
    PCHECK(errno == EINTR || errno == EAGAIN)
        << ": FUTEX_LOCK_PI on stl_mutex " << this;
  }
}

bool stl_mutex::try_lock() {
  uint32_t expected = 0;
  return futex_.compare_exchange_strong(
      expected, static_cast<uint32_t>(CurrentThreadId()),
      std::memory_order_acquire, std::memory_order_relaxed);
}

void stl_mutex::unlock() {
  const uint32_t tid = static_cast<uint32_t>(CurrentThreadId());
  uint32_t expected = tid;
  if (futex_.compare_exchange_strong(expected, 0, std::memory_order_release,
                                     std::memory_order_relaxed)) {
    return;
  }
  CHECK_EQ(Owner(expected), tid)
      << ": stl_mutex unlocked by thread " << tid << ", which does not hold it";
  // Waiters: the kernel hands the mutex to the highest-priority one.
  PCHECK(Futex(&futex_, FUTEX_UNLOCK_PI_PRIVATE) == 0)
      << ": FUTEX_UNLOCK_PI on stl_mutex " << this;
}

bool stl_mutex::is_locked() const {
  // Relaxed: this thread's tid gets here only by this thread's own lock()
  // (its CAS, or the kernel before FUTEX_LOCK_PI returns) and leaves only by
  // its unlock(), so the load sees it if and only if this thread holds the
  // mutex.
  return Owner(futex_.load(std::memory_order_relaxed)) ==
         static_cast<uint32_t>(CurrentThreadId());
}

}  // namespace aos
