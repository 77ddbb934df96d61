// ShmEventLoop itself: construction, the thread checks, Run() (the epoll
// loop, event dispatch and the wakeup-coalescing sleep), Exit() and exit
// handles, and the signals that end running loops. Senders, fetchers,
// watchers and timers are in shm_sender.cc, shm_fetcher.cc, shm_watcher.cc and
// shm_timers.cc.

#include "aos/events/shm_event_loop.h"

#include <errno.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <optional>

#include "aos/events/shm_event_loop_internal.h"
#include "aos/init.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/realtime.h"
#include "aos/stl_mutex/thread_id.h"

DEFINE_string(application_name, "",
              "The application name, used for timing reports, the thread "
              "name and application-specific maps.  Defaults to the "
              "program's name.");

namespace aos {
namespace shm_event_loop_internal {
namespace {

std::string DefaultApplicationName() {
  if (!FLAGS_application_name.empty()) return FLAGS_application_name;
  return program_invocation_short_name;
}

}  // namespace

class ShmExitHandle final : public ExitHandle {
 public:
  explicit ShmExitHandle(ShmEventLoop *event_loop) : event_loop_(event_loop) {
    ++event_loop_->exit_handle_count_;
  }
  ~ShmExitHandle() override { --event_loop_->exit_handle_count_; }

  void Exit(Result<void> status) override {
    event_loop_->ExitWithStatus(std::move(status));
  }

 private:
  ShmEventLoop *const event_loop_;
};

namespace {

// SIGINT, SIGHUP and SIGTERM end every running ShmEventLoop of the process.
// The handler only reads this table of atomics and calls the
// async-signal-safe Exit().
constexpr int kExitSignals[] = {SIGINT, SIGHUP, SIGTERM};
constexpr size_t kMaxRunningLoops = 64;
std::array<std::atomic<ShmEventLoop *>, kMaxRunningLoops> running_loops;
std::mutex exit_signal_mutex;
int exit_signal_users = 0;
struct sigaction previous_actions[std::size(kExitSignals)];

void HandleExitSignal(int) {
  for (std::atomic<ShmEventLoop *> &slot : running_loops) {
    ShmEventLoop *event_loop = slot.load(std::memory_order_acquire);
    if (event_loop != nullptr) event_loop->Exit();
  }
}

class ScopedExitSignalHandler {
 public:
  explicit ScopedExitSignalHandler(ShmEventLoop *event_loop) {
    std::lock_guard<std::mutex> lock(exit_signal_mutex);
    for (std::atomic<ShmEventLoop *> &slot : running_loops) {
      ShmEventLoop *expected = nullptr;
      if (slot.compare_exchange_strong(expected, event_loop)) {
        slot_ = &slot;
        break;
      }
    }
    CHECK(slot_ != nullptr) << ": more than " << kMaxRunningLoops
                            << " ShmEventLoops running in one process";
    if (exit_signal_users++ == 0) {
      struct sigaction action = {};
      action.sa_handler = HandleExitSignal;
      // A second signal kills: a stuck loop can still be stopped.
      action.sa_flags = SA_RESETHAND | SA_RESTART;
      sigemptyset(&action.sa_mask);
      for (size_t i = 0; i < std::size(kExitSignals); ++i) {
        PCHECK(sigaction(kExitSignals[i], &action, &previous_actions[i]) == 0);
      }
    }
  }

  ~ScopedExitSignalHandler() {
    std::lock_guard<std::mutex> lock(exit_signal_mutex);
    slot_->store(nullptr, std::memory_order_release);
    if (--exit_signal_users == 0) {
      for (size_t i = 0; i < std::size(kExitSignals); ++i) {
        PCHECK(sigaction(kExitSignals[i], &previous_actions[i], nullptr) == 0);
      }
    }
  }

 private:
  std::atomic<ShmEventLoop *> *slot_ = nullptr;
};

}  // namespace
}  // namespace shm_event_loop_internal

using shm_event_loop_internal::EventQueue;
using shm_event_loop_internal::ShmExitHandle;
using shm_event_loop_internal::ShmWatcherState;

ShmEventLoop::ShmEventLoop(const Configuration *configuration)
    : EventLoop(configuration),
      boot_uuid_(UUID::BootUUID()),
      shm_base_(FLAGS_shm_base),
      permissions_(FLAGS_permissions),
      name_(shm_event_loop_internal::DefaultApplicationName()),
      node_(configuration::GetMyNode(configuration)),
      events_(std::make_unique<EventQueue>()) {
  CHECK(IsInitialized()) << ": Need to initialize AOS first.";
  // A wakeup that arrives while the signal is unblocked (before the first
  // Run, or after the signalfd closed) must not kill the process.
  ipc_lib::IgnoreWakeupSignal();
  ClearContext();
}

ShmEventLoop::~ShmEventLoop() {
  CHECK(!is_running()) << ": ShmEventLoop destroyed while running";
  CHECK_EQ(exit_handle_count_.load(), 0)
      << ": All ExitHandles must be destroyed before the ShmEventLoop";
  DeleteAllEvents();
}

void ShmEventLoop::OnRun(std::function<void()> on_run) {
  CheckCurrentThread("OnRun");
  CHECK(!is_running()) << ": Cannot register OnRun callback while running.";
  on_run_.push_back(std::move(on_run));
}

void ShmEventLoop::set_name(std::string_view name) {
  CheckCurrentThread("set_name");
  CHECK(!is_running()) << ": Cannot set the name of " << name_
                       << " while running.";
  name_ = std::string(name);
}

ShmWatcherState *ShmEventLoop::Watcher(size_t index) const {
  return static_cast<ShmWatcherState *>(watchers()[index].get());
}

void ShmEventLoop::LockToThread() {
  CheckCurrentThread("LockToThread");
  check_thread_id_ = CurrentThreadId();
}

void ShmEventLoop::CheckForMutex(stl_mutex *mutex) {
  CheckCurrentThread("CheckForMutex");
  check_mutex_ = mutex;
}

void ShmEventLoop::CheckCurrentThreadSlow(const char *what,
                                          const Channel *channel) const {
  const bool wrong_thread =
      check_thread_id_ != 0 && CurrentThreadId() != check_thread_id_;
  const bool mutex_not_held =
      check_mutex_ != nullptr && !check_mutex_->is_locked();
  if (!wrong_thread && !mutex_not_held) [[likely]] {
    return;
  }
  // Only now, on the way to dying, is it fine to allocate.
  const std::string call =
      std::string(what) +
      (channel == nullptr
           ? std::string()
           : " on " + configuration::StrippedChannelToString(channel)) +
      " of ShmEventLoop \"" + name_ + "\" called from thread " +
      std::to_string(CurrentThreadId());
  CHECK(!wrong_thread) << ": " << call
                       << ", but LockToThread() locked the loop to thread "
                       << check_thread_id_;
  LOG(FATAL) << call << " without holding the mutex given to CheckForMutex()";
}

void ShmEventLoop::HandleEvents() {
  CheckWatchersForNewData();
  monotonic_clock::time_point now = monotonic_clock::now();
  while (!events_->empty() && !epoll_.quit_requested()) {
    shm_event_loop_internal::EventLoopEvent *event = events_->Top();
    if (event->event_time() > now) {
      // A watcher's next message may have been sent after `now` was read;
      // look at the clock again before leaving it for the next wakeup.
      now = monotonic_clock::now();
      if (event->event_time() > now) break;
    }
    events_->Remove(event);
    now = event->HandleEvent(now);
  }
}

void ShmEventLoop::HandleEventsDueAtExit() {
  // As upstream's loop, Exit() does not drop what is already due: the other
  // timers of that instant, and messages already sent to this loop's
  // watchers (from the callback that called Exit(), say) still run. Later
  // events wait for the next Run(). Bounded: everything run here was due at
  // `exit_time`, and what it schedules or sends is due later.
  CheckWatchersForNewData();
  const monotonic_clock::time_point exit_time = monotonic_clock::now();
  monotonic_clock::time_point now = exit_time;
  while (!events_->empty() && events_->Top()->event_time() <= exit_time) {
    shm_event_loop_internal::EventLoopEvent *event = events_->Top();
    events_->Remove(event);
    now = event->HandleEvent(now);
  }
}

void ShmEventLoop::SetPollBeforeSleep(std::chrono::nanoseconds duration) {
  CheckCurrentThread("SetPollBeforeSleep");
  CHECK_GE(duration.count(), 0)
      << ": SetPollBeforeSleep needs a duration >= 0 on event loop " << name();
  poll_before_sleep_ = duration;
}

bool ShmEventLoop::PollWatchersBeforeSleep() {
  if (poll_before_sleep_.count() == 0 || watchers().empty()) return false;
  monotonic_clock::time_point deadline =
      monotonic_clock::now() + poll_before_sleep_;
  // HandleEvents left only future events: the next timer ends the polling.
  if (!events_->empty()) {
    deadline = std::min(deadline, events_->Top()->event_time());
  }
  while (!epoll_.quit_requested()) {
    if (CheckWatchersForNewData()) return true;
    if (monotonic_clock::now() >= deadline) return false;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();  // Lets the sibling hyperthread run.
#endif
  }
  return false;
}

bool ShmEventLoop::CheckWatchersForNewData() {
  bool found = false;
  for (size_t i = 0; i < watchers().size(); ++i) {
    found |= Watcher(i)->CheckForNewData();
  }
  return found;
}

void ShmEventLoop::BeforeWait() {
  // The wakeup-coalescing protocol of ipc_lib (lockless_queue.h), arming
  // late: handle everything pending, then drain, arm and check once more.
  // Senders see this loop armed only once it is really about to sleep, so a
  // busy loop takes fewer signals. A message published after the arm finds
  // a watcher armed and signals (the signal stays pending, so the wait
  // returns at once); one published before is found by the check.
  //
  // Handling comes before draining, so the time from a wakeup to its
  // callback has no signalfd read in it; and the signalfd is read only when
  // epoll said it had something, in one read (SignalFd::Drain).
  while (true) {
    HandleEvents();
    if (signalfd_ == nullptr || epoll_.quit_requested()) return;
    if (PollWatchersBeforeSleep()) continue;
    if (signal_pending_) {
      signalfd_->Drain();
      signal_pending_ = false;
    }
    for (size_t i = 0; i < watchers().size(); ++i) {
      Watcher(i)->PrepareToSleep();
    }
    if (!CheckWatchersForNewData()) return;
    // More came in while we were busy: no signal needed, go round.
    for (size_t i = 0; i < watchers().size(); ++i) {
      Watcher(i)->DoneSleeping();
    }
  }
}

Result<void> ShmEventLoop::Run() {
  CheckCurrentThread("Run");
  CHECK(!is_running()) << ": ShmEventLoop::Run() called while running";
  {
    std::lock_guard<std::mutex> lock(exit_mutex_);
    exit_decided_.store(false);
    exit_status_ = {};
  }
  // Exits requested before now belonged to the previous Run(); ones from
  // OnRun callbacks below count.
  epoll_.ClearQuit();

  Result<void> prepared = PrepareToRun();
  if (!prepared.has_value()) return prepared;

  if (!watchers().empty()) {
    signalfd_ = std::make_unique<ipc_lib::SignalFd>(
        std::initializer_list<int>{ipc_lib::kWakeupSignal});
    signal_pending_ = false;
    epoll_.OnReadable(signalfd_->fd(), [this]() {
      // Drained in BeforeWait(), which runs right after this.
      signal_pending_ = true;
    });
    // BeforeWait(), which runs after every wakeup, does the recheck.
    watcher_recheck_timer_ = std::make_unique<internal::TimerFd>();
    epoll_.OnReadable(watcher_recheck_timer_->fd(),
                      [this]() { watcher_recheck_timer_->Read(); });
    watcher_recheck_timer_->SetTime(
        monotonic_clock::now() + ipc_lib::kMaxWatcherSleep,
        ipc_lib::kMaxWatcherSleep);
  }
  Result<void> registered = RegisterWatchers();
  if (!registered.has_value()) {
    StopWatcherWakeups();
    return registered;
  }
  if (!before_wait_registered_) {
    epoll_.BeforeWait([this]() { BeforeWait(); });
    before_wait_registered_ = true;
  }
  // Room for every event, so queueing them never allocates.
  events_->Reserve(watchers().size() + timers().size() + phased_loops().size() +
                   16);

  SetCurrentThreadName(name_);
  const cpu_set_t default_affinity = DefaultAffinity();
  if (!CPU_EQUAL(&runtime_affinity(), &default_affinity)) {
    SetCurrentThreadAffinity(runtime_affinity());
  }

  {
    shm_event_loop_internal::ScopedExitSignalHandler exit_signals(this);
    const int priority = runtime_realtime_priority();
    if (priority > 0) {
      InitRT();
      SetCurrentThreadRealtimePriority(priority);
      // Marked even with --skip_realtime_scheduler, so --die_on_malloc
      // catches allocations in tests too.
      MarkRealtime(true);
    }
    set_is_running(true);
    for (size_t i = 0; i < watchers().size(); ++i) {
      Watcher(i)->PointAtNextQueueIndex();
    }
    // OnRun callbacks run once, at the first Run() after they were added
    // (as in simulation).
    const monotonic_clock::time_point start = monotonic_clock::now();
    for (const std::function<void()> &on_run : on_run_) {
      SetTimerContext(start);
      on_run();
    }
    on_run_.clear();
    ClearContext();

    epoll_.Run();
    HandleEventsDueAtExit();

    set_is_running(false);
    if (priority > 0) {
      MarkRealtime(false);
      if (!FLAGS_skip_realtime_scheduler) UnsetCurrentThreadRealtimePriority();
    }
  }

  UnregisterWatchers();
  StopWatcherWakeups();
  ClearContext();

  std::lock_guard<std::mutex> lock(exit_mutex_);
  return std::move(exit_status_);
}

void ShmEventLoop::StopWatcherWakeups() {
  if (signalfd_ != nullptr) {
    epoll_.DeleteFd(signalfd_->fd());
    signalfd_.reset();
  }
  if (watcher_recheck_timer_ != nullptr) {
    epoll_.DeleteFd(watcher_recheck_timer_->fd());
    watcher_recheck_timer_.reset();
  }
}

void ShmEventLoop::Exit() {
  // A plain exit is a status too (success): it wins over a later
  // ExitWithStatus(error), as in simulation and upstream.
  exit_decided_.store(true);
  epoll_.Quit();
}

void ShmEventLoop::ExitWithStatus(Result<void> status) {
  {
    std::lock_guard<std::mutex> lock(exit_mutex_);
    if (!exit_decided_.exchange(true)) exit_status_ = std::move(status);
  }
  epoll_.Quit();
}

std::unique_ptr<ExitHandle> ShmEventLoop::MakeExitHandle() {
  CheckCurrentThread("MakeExitHandle");
  return std::make_unique<ShmExitHandle>(this);
}

}  // namespace aos
