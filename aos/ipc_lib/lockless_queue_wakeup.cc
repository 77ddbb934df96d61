// Watcher slots and wakeups: LocklessQueueWatcher and LocklessQueueWakeUpper.

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <utility>

#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/lockless_queue_memory.h"
#include "glog/logging.h"

DEFINE_bool(coalesce_wakeups, true,
            "If true, new watchers ask senders to signal them only when they "
            "are about to sleep (one signal for many messages). If false, "
            "every send signals every watcher, as upstream AOS does.");
namespace aos::ipc_lib {
namespace {

bool IsDeadOrUnowned(uint32_t futex_word) {
  return (futex_word & FUTEX_OWNER_DIED) || (futex_word & FUTEX_TID_MASK) == 0;
}

int rt_tgsigqueueinfo(pid_t tgid, pid_t tid, int signal, siginfo_t *info) {
  return static_cast<int>(
      syscall(SYS_rt_tgsigqueueinfo, tgid, tid, signal, info));
}

constexpr uint32_t kArmedBit = 1;

// Its address identifies the calling thread (no syscall): a watcher records
// it when made and checks it on every protocol step.
thread_local char thread_marker;

// The highest SCHED_FIFO priority (sched_get_priority_max on Linux).
constexpr uint32_t kMaxWatcherPriority = 99;

// True if thread `tid` of process `pid` exists and started at the time
// recorded in `identity` (see RobustOwnershipTracker::identity): the live
// owner that registered the slot, not whatever a stale or forged slot names.
// Reads /proc; no allocation.
bool IsRegisteredOwner(pid_t pid, pid_t tid, uint64_t identity) {
  if (pid <= 0 || tid <= 0 ||
      static_cast<uint32_t>(identity >> 32) != static_cast<uint32_t>(tid)) {
    return false;
  }
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/task/%d", static_cast<int>(pid),
           static_cast<int>(tid));
  if (access(path, F_OK) != 0) return false;
  const uint64_t start_time = ThreadStartTime(tid);
  return start_time != 0 &&
         (start_time & 0xFFFFFFFFu) == (identity & 0xFFFFFFFFu);
}

}  // namespace

// ---------------------------------------------------------------- Watcher

std::optional<LocklessQueueWatcher> LocklessQueueWatcher::Make(
    LocklessQueue queue, int priority) {
  return Make(queue, priority,
              FLAGS_coalesce_wakeups ? WakeupPolicy::kCoalesce
                                     : WakeupPolicy::kEveryMessage);
}

std::optional<LocklessQueueWatcher> LocklessQueueWatcher::Make(
    LocklessQueue queue, int priority, WakeupPolicy policy) {
  ThreadIdentity::Current();
  CHECK_GE(priority, 0) << ": a watcher's priority is 0 (not real-time) to 99";
  CHECK_LE(priority, static_cast<int>(kMaxWatcherPriority))
      << ": a watcher's priority is 0 (not real-time) to 99";
  LocklessQueueMemory *memory = queue.memory();
  CHECK(memory->initialized.load(std::memory_order_acquire))
      << ": Initialize the queue before making watchers";
  QueueMemoryView view(memory, queue.layout());
  RobustMutexLock lock(&memory->setup_lock);
  for (size_t i = 0; i < queue.config().num_watchers; ++i) {
    WatcherSlot *watcher = view.watcher(i);
    const bool free =
        watcher->owner.state() == RobustOwnershipTracker::State::kUnowned;
    if (!free && !watcher->owner.IsDefinitelyDead()) {
      continue;
    }
    if (!free) {
      watcher->owner.ForceRelease();
    }
    watcher->priority.store(priority, std::memory_order_relaxed);
    watcher->policy.store(static_cast<uint32_t>(policy),
                          std::memory_order_relaxed);
    // Keep the arm generation: a sender still holding the previous owner's
    // generation must not be able to clear this owner's arms.
    watcher->armed.fetch_and(~kArmedBit, std::memory_order_relaxed);
    watcher->owner.Acquire();
    return LocklessQueueWatcher(queue, static_cast<int>(i), policy);
  }
  return std::nullopt;
}

LocklessQueueWatcher::LocklessQueueWatcher(LocklessQueue queue,
                                           int watcher_index,
                                           WakeupPolicy policy)
    : queue_(queue),
      watcher_index_(watcher_index),
      policy_(policy),
      thread_(&thread_marker) {}

LocklessQueueWatcher::LocklessQueueWatcher(LocklessQueueWatcher &&other)
    : queue_(other.queue_),
      watcher_index_(std::exchange(other.watcher_index_, -1)),
      policy_(other.policy_),
      thread_(other.thread_) {}

void LocklessQueueWatcher::CheckCaller(const char *step) const {
  CHECK_NE(watcher_index_, -1)
      << ": " << step << "() on a moved-from LocklessQueueWatcher";
  CHECK(thread_ == &thread_marker)
      << ": " << step
      << "() called by a thread other than the one that made the watcher; "
         "senders signal that thread, so an arm from another thread is a "
         "wakeup nobody receives. Make the watcher on the thread that reads "
         "its signalfd and sleeps.";
}

LocklessQueueWatcher::~LocklessQueueWatcher() {
  if (watcher_index_ == -1) {
    return;
  }
  LocklessQueueMemory *memory = queue_.memory();
  RobustMutexLock lock(&memory->setup_lock);
  WatcherSlot *watcher =
      QueueMemoryView(memory, queue_.layout()).watcher(watcher_index_);
  watcher->armed.fetch_and(~kArmedBit, std::memory_order_relaxed);
  watcher->owner.Release();
}

void LocklessQueueWatcher::PrepareToSleep() {
  CheckCaller("PrepareToSleep");
  WatcherSlot *watcher =
      QueueMemoryView(queue_.memory(), queue_.layout()).watcher(watcher_index_);
  // Only this thread changes the generation (senders only clear the armed
  // bit of the generation they saw), so a relaxed read of it is current.
  const uint32_t current = watcher->armed.load(std::memory_order_relaxed);
  // Release: a sender whose load reads this arm also sees that we own the
  // slot (Wakeup reads the owner after `armed`).
  watcher->armed.store(((current & ~kArmedBit) + 2) | kArmedBit,
                       std::memory_order_release);
  Fence(std::memory_order_seq_cst);
}

void LocklessQueueWatcher::DoneSleeping() {
  CheckCaller("DoneSleeping");
  WatcherSlot *watcher =
      QueueMemoryView(queue_.memory(), queue_.layout()).watcher(watcher_index_);
  watcher->armed.fetch_and(~kArmedBit, std::memory_order_relaxed);
}

// ---------------------------------------------------------------- WakeUpper

LocklessQueueWakeUpper::LocklessQueueWakeUpper(LocklessQueue queue)
    : queue_(queue),
      pid_(getpid()),
      uid_(getuid()),
      watcher_copy_(queue.config().num_watchers),
      // No identity has the all-ones value (tids stay below 2^30), so every
      // slot is verified the first time it is signalled.
      validated_identity_(queue.config().num_watchers, ~uint64_t{0}) {}

void LocklessQueueWakeUpper::SetPriority(int priority) {
  struct sched_param param;
  param.sched_priority = priority;
  if (sched_setscheduler(0, SCHED_FIFO, &param) != 0) {
    // No permission (e.g. a container without CAP_SYS_NICE or RT limits):
    // run unboosted from now on rather than fail the send.
    PCHECK(errno == EPERM) << ": sched_setscheduler(SCHED_FIFO, " << priority
                           << ")";
    boost_allowed_ = false;
  }
}

int LocklessQueueWakeUpper::Wakeup(int current_priority) {
  // No fence: the seq_cst load of `armed` below, after the seq_cst ring CAS
  // of this thread's Send, pairs with the fence in PrepareToSleep (see the
  // proof on LocklessQueueWatcher).
  // The slot range is loaded once: the acquire loads below would otherwise
  // make the compiler reload it for every slot, and every send scans them
  // all.
  WatcherSlot *const first =
      QueueMemoryView(queue_.memory(), queue_.layout()).watcher(0);
  WatcherSlot *const end = first + queue_.config().num_watchers;
  size_t count = 0;
  for (WatcherSlot *watcher = first; watcher != end; ++watcher) {
    const uint32_t word = watcher->owner.futex_word(std::memory_order_acquire);
    if (IsDeadOrUnowned(word)) {
      continue;
    }
    uint32_t armed = 0;
    if (watcher->policy.load(std::memory_order_relaxed) ==
        static_cast<uint32_t>(WakeupPolicy::kCoalesce)) {
      armed = watcher->armed.load(std::memory_order_seq_cst);
      if ((armed & kArmedBit) == 0) {
        continue;
      }
    }
    const uint64_t identity = watcher->owner.identity();
    const pid_t pid = watcher->owner.pid();
    const int priority = watcher->priority.load(std::memory_order_relaxed);
    if (watcher->owner.futex_word(std::memory_order_acquire) != word) {
      // The slot changed hands while we read it; its new owner checks the
      // queue before it first sleeps.
      continue;
    }
    // The priority is what this thread may boost itself to (SCHED_FIFO):
    // never trust one Make would not have accepted.
    if (static_cast<uint32_t>(priority) > kMaxWatcherPriority) [[unlikely]] {
      QueueCorrupted(queue_.memory(),
                     "watcher slot %zu has real-time priority %d, outside "
                     "0..%u",
                     static_cast<size_t>(watcher - first), priority,
                     kMaxWatcherPriority);
    }
    const pid_t tid = static_cast<pid_t>(word & FUTEX_TID_MASK);
    const size_t slot = static_cast<size_t>(watcher - first);
    if (identity != validated_identity_[slot]) {
      // A new owner (or garbage): signal it only if it is the live thread
      // that registered, so a damaged or forged slot cannot make us signal
      // (and so kill) an unrelated process. Reads /proc once per owner.
      if (!IsRegisteredOwner(pid, tid, identity)) {
        ++refused_signals_;
        continue;
      }
      validated_identity_[slot] = identity;
    }
    watcher_copy_[count++] = {tid, pid, priority, watcher, armed};
  }
  if (count == 0) {
    return 0;
  }
  // Highest priority first (a handful of entries: insertion sort, no
  // allocation).
  for (size_t i = 1; i < count; ++i) {
    const WatcherCopy moving = watcher_copy_[i];
    size_t j = i;
    while (j > 0 && watcher_copy_[j - 1].priority < moving.priority) {
      watcher_copy_[j] = watcher_copy_[j - 1];
      --j;
    }
    watcher_copy_[j] = moving;
  }
  const int max_priority = watcher_copy_[0].priority;
  const bool boost =
      boost_allowed_ && current_priority > 0 && max_priority > current_priority;
  if (boost) {
    SetPriority(max_priority);
  }
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  info.si_code = SI_QUEUE;
  info.si_pid = pid_;
  info.si_uid = uid_;
  info.si_value.sival_int = 0;
  int sent = 0;
  for (size_t i = 0; i < count; ++i) {
    const WatcherCopy &target = watcher_copy_[i];
    if (rt_tgsigqueueinfo(target.pid, target.tid, kWakeupSignal, &info) == 0) {
      ++sent;
      // Disarm only now that the signal is queued, and only the arm we saw:
      // had we died before the signal, the arm would still be set and the
      // next sender would signal instead of us. A failed exchange means the
      // watcher re-armed (or another sender disarmed it after signalling).
      if (target.armed != 0) {
        uint32_t expected = target.armed;
        target.slot->armed.compare_exchange_strong(
            expected, target.armed & ~kArmedBit, std::memory_order_relaxed);
      }
    } else if (errno == EAGAIN) {
      // The target's user reached RLIMIT_SIGPENDING (a stopped watcher with
      // kEveryMessage piles up signals). Leave it armed so the next send
      // retries, and go on to the others.
      ++signal_failures_;
    }
    // ESRCH: the watcher died since we looked; nothing to do.
  }
  if (boost && boost_allowed_) {
    SetPriority(current_priority);
  }
  return sent;
}

}  // namespace aos::ipc_lib
