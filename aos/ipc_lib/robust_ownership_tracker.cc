#include "aos/ipc_lib/robust_ownership_tracker.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "glog/logging.h"

namespace aos::ipc_lib {
namespace {

// The kernel's struct robust_list_head.
struct RobustListHead {
  void *list_next;
  long futex_offset;
  void *list_op_pending;
};

// A head for threads glibc did not register one for. glibc keeps a pointer
// right before its head (robust_prev) so that "the previous node's back link"
// exists even for the head; we mirror that.
struct FallbackRobustHead {
  void *prev_pad;
  RobustListHead head;
};
thread_local FallbackRobustHead fallback_head;

constexpr long kFutexOffset = -32;

// The calling thread's robust list head, registering one if needed. Checks
// that its layout matches our trackers'.
RobustListHead *CurrentRobustListHead() {
  RobustListHead *head = nullptr;
  size_t length = 0;
  PCHECK(syscall(SYS_get_robust_list, 0, &head, &length) == 0);
  if (head == nullptr) {
    fallback_head.head.list_next = &fallback_head.head;
    fallback_head.head.futex_offset = kFutexOffset;
    fallback_head.head.list_op_pending = nullptr;
    PCHECK(syscall(SYS_set_robust_list, &fallback_head.head,
                   sizeof(RobustListHead)) == 0);
    head = &fallback_head.head;
  }
  CHECK_EQ(head->futex_offset, kFutexOffset)
      << ": the robust list of this thread uses another layout than glibc "
         "2.3x on x86-64; robust ownership cannot share it.";
  return head;
}

void **BackLinkOf(void *link) {
  return reinterpret_cast<void **>(
      (reinterpret_cast<uintptr_t>(link) & ~uintptr_t{1}) - sizeof(void *));
}
void **ForwardLinkAt(void *link) {
  return reinterpret_cast<void **>(reinterpret_cast<uintptr_t>(link) &
                                   ~uintptr_t{1});
}

// Whether /proc gives thread start times; without it, nobody is judged dead
// by tid (judging everyone dead would steal live slots).
bool ProcAvailable() {
  static const bool available = ThreadStartTime(getpid()) != 0;
  return available;
}

uint64_t PackIdentity(pid_t tid, uint64_t start_time) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(tid)) << 32) |
         (start_time & 0xFFFFFFFFu);
}

long Futex(std::atomic<uint32_t> *word, int op, uint32_t value,
           const struct timespec *timeout) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), op, value,
                 timeout, nullptr, 0);
}

}  // namespace

uint64_t ThreadStartTime(pid_t tid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(tid));
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  char buffer[1024];
  const ssize_t size = read(fd, buffer, sizeof(buffer) - 1);
  close(fd);
  if (size <= 0) {
    return 0;
  }
  buffer[size] = '\0';
  // Field 2 (the name, in parentheses) may contain spaces: count fields from
  // the last ')'. The start time is field 22.
  const char *cursor = strrchr(buffer, ')');
  if (cursor == nullptr) {
    return 0;
  }
  ++cursor;
  for (int field = 2; field < 21; ++field) {
    cursor = strchr(cursor + 1, ' ');
    if (cursor == nullptr) {
      return 0;
    }
  }
  return strtoull(cursor + 1, nullptr, 10);
}

ThreadIdentity ThreadIdentity::Current() {
  thread_local ThreadIdentity cached;
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (cached.tid != tid) {
    cached.pid = getpid();
    cached.tid = tid;
    cached.start_time = ThreadStartTime(tid);
  }
  return cached;
}

template <typename Update>
void RobustOwnershipTracker::LinkWhile(Update update) {
  RobustListHead *head = CurrentRobustListHead();
  // The kernel looks at list_op_pending on death too, so the futex word is
  // covered from the moment it holds our tid. The signal fences keep the
  // compiler from reordering these plain stores, which the kernel reads after
  // an asynchronous death.
  head->list_op_pending = &robust_next_;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  update();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  void *first = head->list_next;
  robust_next_ = first;
  robust_prev_ = head;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  *BackLinkOf(first) = &robust_next_;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  head->list_next = &robust_next_;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  head->list_op_pending = nullptr;
}

template <typename Update>
void RobustOwnershipTracker::UnlinkWhile(Update update) {
  RobustListHead *head = CurrentRobustListHead();
  head->list_op_pending = &robust_next_;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  void *next = robust_next_;
  void *prev = robust_prev_;
  *BackLinkOf(next) = prev;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  *ForwardLinkAt(prev) = next;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  update();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  head->list_op_pending = nullptr;
}

void RobustOwnershipTracker::Acquire() {
  const ThreadIdentity me = ThreadIdentity::Current();
  LinkWhile([&]() {
    pid_.store(me.pid, std::memory_order_relaxed);
    identity_.store(PackIdentity(me.tid, me.start_time),
                    std::memory_order_relaxed);
    futex_.store(static_cast<uint32_t>(me.tid), std::memory_order_release);
  });
}

void RobustOwnershipTracker::Release() {
  if (!OwnedByCurrentThread()) {
    // The thread that claimed it has exited (e.g. it ran an event loop that
    // another thread destroys after joining it): the kernel walked that
    // thread's robust list when it died, flagged this tracker and dropped
    // the list, so there is nothing to unlink. A live owner's list is only
    // safe to edit from that thread.
    CHECK(IsDefinitelyDead())
        << ": a slot must be released by the thread that claimed it, or "
           "after that thread exited ("
        << DebugString() << ", released by thread "
        << ThreadIdentity::Current().tid
        << "): destroy the event loop, its senders and fetchers on the thread "
           "that ran it, or join that thread first.";
    ForceRelease();
    return;
  }
  UnlinkWhile([&]() {
    identity_.store(0, std::memory_order_relaxed);
    futex_.store(0, std::memory_order_release);
  });
}

void RobustOwnershipTracker::ForceRelease() {
  identity_.store(0, std::memory_order_relaxed);
  robust_prev_ = nullptr;
  robust_next_ = nullptr;
  futex_.store(0, std::memory_order_release);
}

RobustOwnershipTracker::State RobustOwnershipTracker::state() const {
  const uint32_t word = futex_.load(std::memory_order_acquire);
  if (word & FUTEX_OWNER_DIED) {
    return State::kOwnerDied;
  }
  return (word & FUTEX_TID_MASK) == 0 ? State::kUnowned : State::kOwned;
}

pid_t RobustOwnershipTracker::tid() const {
  return static_cast<pid_t>(futex_.load(std::memory_order_acquire) &
                            FUTEX_TID_MASK);
}

bool RobustOwnershipTracker::OwnedByCurrentThread() const {
  return tid() == ThreadIdentity::Current().tid;
}

bool RobustOwnershipTracker::IsDefinitelyDead() const {
  const uint32_t word = futex_.load(std::memory_order_acquire);
  if (word & FUTEX_OWNER_DIED) {
    return true;
  }
  const pid_t owner = static_cast<pid_t>(word & FUTEX_TID_MASK);
  if (owner == 0 || !ProcAvailable()) {
    return false;
  }
  const uint64_t identity = identity_.load(std::memory_order_acquire);
  const uint64_t start_time = ThreadStartTime(owner);
  if (start_time == 0) {
    return true;
  }
  // If the identity is for another tid, the owner has not written it yet (or
  // it is being cleared): the tid exists, so assume alive.
  return (identity >> 32) == static_cast<uint32_t>(owner) &&
         identity != PackIdentity(owner, start_time);
}

std::string RobustOwnershipTracker::DebugString() const {
  const uint32_t word = futex_.load(std::memory_order_acquire);
  std::ostringstream out;
  out << "owner{tid=" << (word & FUTEX_TID_MASK) << " pid=" << pid();
  if (word & FUTEX_OWNER_DIED) {
    out << " OWNER_DIED";
  }
  if (word & FUTEX_WAITERS) {
    out << " WAITERS";
  }
  out << "}";
  return out.str();
}

bool RobustMutex::Lock() {
  const ThreadIdentity me = ThreadIdentity::Current();
  CHECK(!tracker_.OwnedByCurrentThread())
      << ": the queue setup lock is not recursive";
  std::atomic<uint32_t> &futex = tracker_.futex_;
  bool previous_owner_died = false;
  tracker_.LinkWhile([&]() {
    while (true) {
      uint32_t word = futex.load(std::memory_order_acquire);
      if ((word & FUTEX_TID_MASK) == 0) {
        // Free, or the kernel cleared a dead owner's tid. Keep the waiters
        // bit so our unlock wakes the others.
        const uint32_t mine =
            static_cast<uint32_t>(me.tid) | (word & FUTEX_WAITERS);
        if (futex.compare_exchange_strong(word, mine,
                                          std::memory_order_acquire)) {
          previous_owner_died = (word & FUTEX_OWNER_DIED) != 0;
          return;
        }
        continue;
      }
      if ((word & FUTEX_WAITERS) == 0) {
        const uint32_t waiting = word | FUTEX_WAITERS;
        if (!futex.compare_exchange_strong(word, waiting,
                                           std::memory_order_relaxed)) {
          continue;
        }
        word = waiting;
      }
      // Wake up now and then to check whether the owner died without the
      // kernel noticing (memory unmapped, robust list corrupted).
      const struct timespec timeout = {0, 10'000'000};
      const long result = Futex(&futex, FUTEX_WAIT, word, &timeout);
      if (result != 0 && errno == ETIMEDOUT &&
          futex.load(std::memory_order_acquire) == word &&
          tracker_.IsDefinitelyDead()) {
        const uint32_t mine = static_cast<uint32_t>(me.tid) | FUTEX_WAITERS;
        if (futex.compare_exchange_strong(word, mine,
                                          std::memory_order_acquire)) {
          previous_owner_died = true;
          return;
        }
      }
    }
  });
  tracker_.pid_.store(me.pid, std::memory_order_relaxed);
  tracker_.identity_.store(PackIdentity(me.tid, me.start_time),
                           std::memory_order_release);
  return previous_owner_died;
}

void RobustMutex::Unlock() {
  CHECK(tracker_.OwnedByCurrentThread())
      << ": the queue setup lock was unlocked by a thread that does not hold "
         "it ("
      << tracker_.DebugString() << ")";
  std::atomic<uint32_t> &futex = tracker_.futex_;
  tracker_.UnlinkWhile([&]() {
    tracker_.identity_.store(0, std::memory_order_relaxed);
    const uint32_t word = futex.exchange(0, std::memory_order_release);
    if (word & FUTEX_WAITERS) {
      Futex(&futex, FUTEX_WAKE, INT_MAX, nullptr);
    }
  });
}

}  // namespace aos::ipc_lib
