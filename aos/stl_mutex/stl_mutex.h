#ifndef AOS_STL_MUTEX_STL_MUTEX_H_
#define AOS_STL_MUTEX_STL_MUTEX_H_

// aos::stl_mutex: a priority-inheriting mutex that knows its owner.
//
// std::mutex cannot answer "does the calling thread hold this?", which
// ShmEventLoop::CheckForMutex asks on every call into the loop. stl_mutex
// keeps its owner's tid in its futex word (the kernel's FUTEX_LOCK_PI
// protocol), so that question is one atomic load and a compare. It is a
// standard Lockable (lock, try_lock, unlock): use it with std::lock_guard,
// std::unique_lock and std::scoped_lock.
//
// Uncontended lock and unlock are one compare-and-swap each; contended ones
// sleep in the kernel, which boosts the owner to the highest waiting
// real-time priority (so a low-priority holder cannot stall a real-time
// waiter indefinitely). Nothing allocates.
//
// Not recursive. Not robust: a thread that exits while holding it leaves it
// held. Intra-process only (FUTEX_PRIVATE).

#include <sys/types.h>

#include <atomic>
#include <cstdint>

namespace aos {

class stl_mutex {
 public:
  stl_mutex() = default;
  stl_mutex(const stl_mutex &) = delete;
  stl_mutex &operator=(const stl_mutex &) = delete;

  // Blocks until the calling thread holds the mutex. CHECK-fails if it
  // already does (not recursive).
  void lock();

  // Takes the mutex if it is free; returns whether it did. Never blocks.
  bool try_lock();

  // Releases the mutex. CHECK-fails unless the calling thread holds it.
  void unlock();

  // Whether the calling thread holds the mutex (not merely whether anyone
  // does). Lock-free, allocation-free, no syscall.
  bool is_locked() const;

 private:
  // 0 when free; else the owner's tid, plus FUTEX_WAITERS when threads sleep
  // on it (set by the kernel).
  std::atomic<uint32_t> futex_{0};
};

}  // namespace aos

#endif  // AOS_STL_MUTEX_STL_MUTEX_H_
