#include "aos/realtime.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "glog/logging.h"

DEFINE_bool(die_on_malloc, true,
            "If true, die when a thread marked realtime allocates memory.");
DEFINE_bool(skip_realtime_scheduler, false,
            "If true, do not switch threads to SCHED_FIFO (for machines or "
            "tests without permission to).");
DEFINE_bool(skip_locking_memory, false,
            "If true, do not mlockall() or change rlimits in InitRT().");

namespace aos {
namespace {

// Plain thread_locals with constant initializers: reading them from malloc
// needs no allocation (the executable's TLS is static).
thread_local bool is_realtime = false;
thread_local uint64_t realtime_allocations = 0;

// Raises (or lowers) the soft limit of `resource` to `soft`. Raising it past
// the hard limit needs CAP_SYS_RESOURCE, which root in a container usually
// lacks; then the soft limit goes as high as the hard one allows. Returns
// false if the limit stays below `soft`. Never fails the process: the
// callers say what the lower limit costs.
bool SetSoftRLimit(int resource, rlim64_t soft) {
  struct rlimit64 limit;
  PCHECK(getrlimit64(resource, &limit) == 0) << ": getrlimit " << resource;
  if (limit.rlim_max != RLIM64_INFINITY && soft > limit.rlim_max) {
    struct rlimit64 raised = {soft, soft};
    if (setrlimit64(resource, &raised) == 0) return true;
    PCHECK(errno == EPERM) << ": setrlimit " << resource << " to " << soft;
    VLOG(1) << "Cannot raise the hard limit of resource " << resource << " to "
            << soft << " (needs CAP_SYS_RESOURCE); using " << limit.rlim_max;
    limit.rlim_cur = limit.rlim_max;
    PCHECK(setrlimit64(resource, &limit) == 0)
        << ": setrlimit " << resource << " to " << limit.rlim_max;
    return false;
  }
  limit.rlim_cur = soft;
  PCHECK(setrlimit64(resource, &limit) == 0)
      << ": setrlimit " << resource << " to " << soft;
  return true;
}

}  // namespace

namespace internal {

// Called by the allocation wrappers below on every allocation.
inline void NoteAllocation() {
  if (!is_realtime) [[likely]] {
    return;
  }
  ++realtime_allocations;
  if (FLAGS_die_on_malloc) {
    // Logging allocates; stop being realtime first so we do not recurse.
    is_realtime = false;
    LOG(FATAL) << "Malloced in realtime code.  The real-time path (send, "
                  "fetch, watchers, timers) must not allocate; use "
                  "ScopedNotRealtime around code that has to, or "
                  "--die_on_malloc=false to only count.";
  }
}

}  // namespace internal

void InitRT() {
  if (FLAGS_skip_locking_memory) {
    LOG(WARNING) << "Not locking memory or setting rlimits: "
                    "--skip_locking_memory.";
    return;
  }
  CheckNotRealtime();
  // Root needs no memlock limit when it has CAP_IPC_LOCK; raising the hard
  // limit needs CAP_SYS_RESOURCE, which containers do not give. Neither
  // failure is worth dying for: the program runs, with page faults possible
  // where locked memory would have had none, and says so.
  SetSoftRLimit(RLIMIT_MEMLOCK, RLIM64_INFINITY);
  if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    const int error = errno;
    struct rlimit64 limit;
    PCHECK(getrlimit64(RLIMIT_MEMLOCK, &limit) == 0);
    LOG(WARNING) << "Running without locked memory: mlockall failed ("
                 << strerror(error) << ") with RLIMIT_MEMLOCK "
                 << (limit.rlim_cur == RLIM64_INFINITY
                         ? std::string("unlimited")
                         : std::to_string(limit.rlim_cur) + " bytes")
                 << ", so real-time code may page-fault.  Grant "
                    "CAP_IPC_LOCK (or raise `ulimit -l`) to lock it, or pass "
                    "--skip_locking_memory to not try.";
  }
  // Freed memory stays mapped so later allocations do not fault pages in.
  mallopt(M_TRIM_THRESHOLD, -1);
  mallopt(M_MMAP_MAX, 0);
  {
    // Touch some stack now rather than page-faulting on it later.
    constexpr size_t kStackPrefault = 128 * 1024;
    char stack[kStackPrefault];
    memset(stack, 0, sizeof(stack));
    // Keep the compiler from dropping the writes.
    asm volatile("" : : "r"(stack) : "memory");
  }
  SetSoftRLimit(RLIMIT_RTTIME, 3000000);
  SetSoftRLimit(RLIMIT_RTPRIO, 40);
}

void SetCurrentThreadRealtimePriority(int priority) {
  CHECK_GT(priority, 0) << ": realtime priorities are 1..99";
  CHECK_LE(priority, 99) << ": realtime priorities are 1..99";
  if (FLAGS_skip_realtime_scheduler) {
    LOG(WARNING) << "Not switching to SCHED_FIFO " << priority
                 << ": --skip_realtime_scheduler.";
    return;
  }
  struct sched_param param;
  param.sched_priority = priority;
  PCHECK(sched_setscheduler(0, SCHED_FIFO, &param) == 0)
      << ": changing to SCHED_FIFO with priority " << priority
      << "; to run without RT scheduling (e.g. in tests) use "
         "--skip_realtime_scheduler";
}

void UnsetCurrentThreadRealtimePriority() {
  struct sched_param param;
  param.sched_priority = 0;
  PCHECK(sched_setscheduler(0, SCHED_OTHER, &param) == 0)
      << ": sched_setscheduler(SCHED_OTHER)";
}

cpu_set_t MakeCpusetFromCpus(std::initializer_list<int> cpus) {
  cpu_set_t cpuset;
  CPU_ZERO(&cpuset);
  for (const int cpu : cpus) {
    CHECK(cpu >= 0 && cpu < CPU_SETSIZE)
        << ": CPU " << cpu << " is outside [0, " << CPU_SETSIZE << ")";
    CPU_SET(cpu, &cpuset);
  }
  return cpuset;
}

cpu_set_t GetCurrentThreadAffinity() {
  cpu_set_t cpuset;
  PCHECK(sched_getaffinity(0, sizeof(cpuset), &cpuset) == 0);
  return cpuset;
}

void SetCurrentThreadAffinity(const cpu_set_t &cpuset) {
  PCHECK(sched_setaffinity(0, sizeof(cpuset), &cpuset) == 0)
      << ": sched_setaffinity";
}

void SetCurrentThreadName(std::string_view name) {
  char truncated[16];
  const size_t length = std::min(name.size(), sizeof(truncated) - 1);
  memcpy(truncated, name.data(), length);
  truncated[length] = '\0';
  const int result = pthread_setname_np(pthread_self(), truncated);
  CHECK_EQ(result, 0) << ": pthread_setname_np(" << truncated
                      << "): " << strerror(result);
}

bool MarkRealtime(bool realtime) {
  if (realtime) {
    // glog calls mktime for every line it logs, and glibc's mktime runs
    // tzset, which with TZ unset strdups "/etc/localtime" again on every
    // call (it caches the zone only by TZ's value). So every LOG allocated:
    // a LOG from realtime code (upstream's tests log from realtime handlers)
    // died on malloc, and since that allocation happens under glibc's tzset
    // lock, the fatal message's own mktime deadlocked instead. Naming the
    // default zone explicitly (":/etc/localtime" is what an unset TZ means)
    // lets glibc cache it. Done once, before the first realtime section.
    static const bool time_zone_cached = [] {
      setenv("TZ", ":/etc/localtime", /*overwrite=*/0);
      tzset();
      return true;
    }();
    (void)time_zone_cached;
  }
  const bool previous = is_realtime;
  is_realtime = realtime;
  return previous;
}

void CheckRealtime() { CHECK(is_realtime) << ": thread is not realtime"; }

void CheckNotRealtime() {
  if (is_realtime) {
    is_realtime = false;
    LOG(FATAL) << "Thread is realtime but must not be here";
  }
}

uint64_t RealtimeAllocationCount() { return realtime_allocations; }

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
bool AllocationGuardAvailable() { return false; }
#else
bool AllocationGuardAvailable() { return true; }
#endif

}  // namespace aos

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
// The allocation guard. Defining these in the executable interposes them for
// every library in the process; each counts and forwards to glibc's own
// allocator, so free(), malloc_usable_size() and friends (not replaced) stay
// consistent with them.
extern "C" {
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *pointer, size_t size);
void *__libc_memalign(size_t alignment, size_t size);

void *malloc(size_t size) {
  aos::internal::NoteAllocation();
  return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
  aos::internal::NoteAllocation();
  return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
  aos::internal::NoteAllocation();
  return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
  aos::internal::NoteAllocation();
  return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
  aos::internal::NoteAllocation();
  return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
  if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0 ||
      alignment == 0) {
    return EINVAL;
  }
  aos::internal::NoteAllocation();
  void *pointer = __libc_memalign(alignment, size);
  if (pointer == nullptr) {
    return ENOMEM;
  }
  *result = pointer;
  return 0;
}
}  // extern "C"
#endif
