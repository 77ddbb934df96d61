#ifndef AOS_REALTIME_H_
#define AOS_REALTIME_H_

// Helpers for running a thread at real-time priority, and the guard that keeps
// real-time code from touching the heap.
//
// An event loop with a non-zero runtime priority calls InitRT() (lock memory,
// rlimits), switches its thread to SCHED_FIFO and then marks the thread
// realtime (MarkRealtime). While a thread is marked realtime, every heap
// allocation it makes is counted, and with --die_on_malloc (the default) it is
// fatal: an allocation can take a lock or page-fault, which real-time code
// must not do. Code that legitimately allocates on an RT thread (start-up,
// error reporting) wraps itself in ScopedNotRealtime.
//
// The allocation guard replaces malloc, calloc, realloc and the aligned
// allocators of this process with thin wrappers around glibc's. It is not
// available in sanitizer builds, whose runtimes own the allocator;
// AllocationGuardAvailable() says whether it is active.
//
// Flags: --die_on_malloc, --skip_realtime_scheduler (do not switch to
// SCHED_FIFO, e.g. in tests without CAP_SYS_NICE) and --skip_locking_memory.

#include <sched.h>

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "gflags/gflags.h"

DECLARE_bool(die_on_malloc);
DECLARE_bool(skip_realtime_scheduler);
DECLARE_bool(skip_locking_memory);

namespace aos {

// Prepares the process for real-time work: locks all current and future
// memory, stops malloc from returning memory to the kernel, prefaults some
// stack, limits RT threads to 3 s of CPU without blocking (RLIMIT_RTTIME) and
// raises RLIMIT_RTPRIO where allowed. Limits are raised as far as the process
// may (a hard limit only with CAP_SYS_RESOURCE); if memory cannot be locked
// (no CAP_IPC_LOCK and a low RLIMIT_MEMLOCK, as in most containers) it logs a
// warning saying how to fix it and goes on. Does nothing with
// --skip_locking_memory. CHECK-fails if called from a thread marked realtime.
void InitRT();

// Switches the calling thread to SCHED_FIFO at `priority` (1..99).
// CHECK-fails if the kernel refuses (the message suggests
// --skip_realtime_scheduler). With that flag it only logs.
void SetCurrentThreadRealtimePriority(int priority);

// Returns the calling thread to SCHED_OTHER.
void UnsetCurrentThreadRealtimePriority();

// The set holding exactly `cpus` (upstream's helper), e.g. for
// SetRuntimeAffinity(MakeCpusetFromCpus({2, 3})). CHECK-fails on a CPU
// number outside [0, CPU_SETSIZE).
cpu_set_t MakeCpusetFromCpus(std::initializer_list<int> cpus);

// Affinity of the calling thread. Setting CHECK-fails on an invalid set.
cpu_set_t GetCurrentThreadAffinity();
void SetCurrentThreadAffinity(const cpu_set_t &cpuset);

// Sets the calling thread's name (the kernel keeps the first 15 characters).
void SetCurrentThreadName(std::string_view name);

// Marks the calling thread realtime (allocations are counted and, with
// --die_on_malloc, fatal) or not. Returns the previous state.
bool MarkRealtime(bool realtime);

// CHECK-fail unless the calling thread is (not) marked realtime.
void CheckRealtime();
void CheckNotRealtime();

// Whether the allocation guard is compiled in (false in sanitizer builds).
bool AllocationGuardAvailable();

// Number of heap allocations the calling thread made while marked realtime
// since it started. Always 0 when the guard is unavailable.
uint64_t RealtimeAllocationCount();

// Marks the thread realtime for its lifetime, restoring the previous state.
class ScopedRealtime {
 public:
  ScopedRealtime() : previous_(MarkRealtime(true)) {}
  ~ScopedRealtime() { MarkRealtime(previous_); }
  ScopedRealtime(const ScopedRealtime &) = delete;
  ScopedRealtime &operator=(const ScopedRealtime &) = delete;

 private:
  const bool previous_;
};

// Marks the thread not realtime for its lifetime, restoring the previous
// state: for code on an RT thread that must allocate (e.g. error paths).
class ScopedNotRealtime {
 public:
  ScopedNotRealtime() : previous_(MarkRealtime(false)) {}
  ~ScopedNotRealtime() { MarkRealtime(previous_); }
  ScopedNotRealtime(const ScopedNotRealtime &) = delete;
  ScopedNotRealtime &operator=(const ScopedNotRealtime &) = delete;

 private:
  const bool previous_;
};

// Marks the thread realtime if `realtime`, not realtime otherwise, for its
// lifetime, restoring the previous state. The simulation wraps the handlers
// of a loop with a realtime priority in it, as a ShmEventLoop's whole run is
// marked, so --die_on_malloc catches allocations in simulated tests too.
class ScopedMarkRealtimeRestorer {
 public:
  explicit ScopedMarkRealtimeRestorer(bool realtime)
      : previous_(MarkRealtime(realtime)) {}
  ~ScopedMarkRealtimeRestorer() { MarkRealtime(previous_); }
  ScopedMarkRealtimeRestorer(const ScopedMarkRealtimeRestorer &) = delete;
  ScopedMarkRealtimeRestorer &operator=(const ScopedMarkRealtimeRestorer &) =
      delete;

 private:
  const bool previous_;
};

}  // namespace aos

#endif  // AOS_REALTIME_H_
