#ifndef AOS_IPC_LIB_ROBUST_OWNERSHIP_TRACKER_H_
#define AOS_IPC_LIB_ROBUST_OWNERSHIP_TRACKER_H_

// Ownership of shared-memory slots, and a mutex, that survive their owner's
// death.
//
// A RobustOwnershipTracker lives in shared memory and records which thread
// owns something (a sender, pinner or watcher slot of a queue). Its first word
// is a futex holding the owner's tid, and it is linked into the owner thread's
// kernel robust list: when the thread dies, however it dies, the kernel sets
// FUTEX_OWNER_DIED in that word. The list is the one glibc registers for its
// robust pthread mutexes; our entries use glibc's layout (futex 32 bytes
// before the list link, a back link just before it) so both kinds can share
// it. That is checked once per thread.
//
// The kernel only walks the list if the memory is still mapped and writable
// when the thread exits, and tids get reused. So the tracker also stores the
// owner's start time (from /proc/<tid>/stat): an owner is "definitely dead" if
// the futex says so, or its tid no longer exists, or the thread with that tid
// started at another time. That check reads /proc and is only done when
// claiming slots (under the queue's setup lock), never on the real-time path.
//
// RobustMutex is the queue's setup lock, built on the same tracker: lock,
// unlock, and take over from an owner that is definitely dead.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace aos::ipc_lib {

// Who the calling thread is, as the trackers record it.
struct ThreadIdentity {
  pid_t pid = 0;
  pid_t tid = 0;
  // Start time of the thread since boot, in clock ticks (/proc/<tid>/stat
  // field 22).
  uint64_t start_time = 0;

  // The calling thread. Reads /proc the first time in each thread (and after
  // fork); not real-time safe.
  static ThreadIdentity Current();
};

// Start time of thread `tid` (as in ThreadIdentity), or 0 if there is no such
// thread.
uint64_t ThreadStartTime(pid_t tid);

class RobustOwnershipTracker {
 public:
  // What the slot's futex word says, without asking the kernel.
  enum class State {
    kUnowned,
    // A tid is recorded and the kernel has not flagged it dead (it may still
    // be dead: see IsDefinitelyDead).
    kOwned,
    // The kernel flagged the owner as dead.
    kOwnerDied,
  };

  // Everything zero = unowned, so zero-filled memory is a valid tracker.
  RobustOwnershipTracker() = default;
  RobustOwnershipTracker(const RobustOwnershipTracker &) = delete;

  // Makes the calling thread the owner and links the tracker into its robust
  // list. Requires that nobody else can claim it concurrently (callers hold
  // the setup lock) and that it is unowned or its owner definitely dead.
  void Acquire();
  // Unlinks and clears. Must be called by the owner thread, or once the
  // owner thread has exited (then it only clears: the kernel dropped that
  // thread's list). CHECK-fails if another live thread owns it.
  void Release();
  // Clears the ownership of a definitely-dead owner (its list is gone).
  void ForceRelease();

  State state() const;
  // The owner's tid (0 if unowned or the kernel cleared it at death).
  pid_t tid() const;
  pid_t pid() const { return pid_.load(std::memory_order_relaxed); }
  // The raw futex word (tid | FUTEX_OWNER_DIED | FUTEX_WAITERS).
  uint32_t futex_word(
      std::memory_order order = std::memory_order_acquire) const {
    return futex_.load(order);
  }
  // (tid << 32) | (low 32 bits of the owner's start time), or 0 while
  // unowned. Written just after the owner takes the futex.
  uint64_t identity(std::memory_order order = std::memory_order_acquire) const {
    return identity_.load(order);
  }
  // True if the calling thread owns it.
  bool OwnedByCurrentThread() const;

  // True if owned and the owner is definitely dead (kernel flag, tid gone, or
  // tid reused by a thread with another start time). Reads /proc.
  bool IsDefinitelyDead() const;

  std::string DebugString() const;

 private:
  friend class RobustMutex;
  // Tests write owners that cannot be produced on demand (a reused tid).
  friend class RobustOwnershipTrackerTestPeer;

  // Links into / unlinks from the calling thread's robust list. The futex
  // word is set by `update` while the list's pending-operation pointer covers
  // us, so a death at any instruction leaves a state the kernel handles.
  template <typename Update>
  void LinkWhile(Update update);
  template <typename Update>
  void UnlinkWhile(Update update);

  // Offset 0: the futex word, as in glibc's pthread_mutex_t.
  std::atomic<uint32_t> futex_{0};
  std::atomic<int32_t> pid_{0};
  // (tid << 32) | (low 32 bits of the owner's start time), written just after
  // the owner takes the futex and cleared before it lets go. Pairing the
  // start time with the tid lets a checker tell "start time not written yet"
  // (tid differs) from "tid reused" (tid equal, time differs).
  std::atomic<uint64_t> identity_{0};
  uint64_t reserved_ = 0;
  // Offset 24 and 32: glibc's __pthread_list_t {prev, next}. The kernel's
  // robust list points at robust_next_.
  void *robust_prev_ = nullptr;
  void *robust_next_ = nullptr;
};

// The setup lock of a queue: mutual exclusion between processes that
// survives the holder's death.
class RobustMutex {
 public:
  RobustMutex() = default;
  RobustMutex(const RobustMutex &) = delete;

  // Blocks until the calling thread holds the lock. Returns true if the
  // previous holder died while holding it (the protected state may be half
  // updated; callers must cope). Not real-time: may sleep and read /proc.
  bool Lock();
  // Releases the lock. Must be called by the holder.
  void Unlock();

  const RobustOwnershipTracker &tracker() const { return tracker_; }

 private:
  RobustOwnershipTracker tracker_;
};

// Holds a RobustMutex for a scope.
class RobustMutexLock {
 public:
  explicit RobustMutexLock(RobustMutex *mutex)
      : mutex_(mutex), previous_owner_died_(mutex->Lock()) {}
  ~RobustMutexLock() { mutex_->Unlock(); }
  RobustMutexLock(const RobustMutexLock &) = delete;

  bool previous_owner_died() const { return previous_owner_died_; }

 private:
  RobustMutex *mutex_;
  bool previous_owner_died_;
};

}  // namespace aos::ipc_lib

#endif  // AOS_IPC_LIB_ROBUST_OWNERSHIP_TRACKER_H_
