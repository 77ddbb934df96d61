#ifndef AOS_EVENTS_SHM_EVENT_LOOP_H_
#define AOS_EVENTS_SHM_EVENT_LOOP_H_

// ShmEventLoop: the EventLoop of real processes, over shared memory.
//
// Each channel is a lockless queue in a file under --shm_base (see
// aos/ipc_lib/memory_mapped_queue.h), shared by every process that uses the
// channel. Senders build messages in place in their shared-memory buffer and
// publish with one CAS; fetchers copy (COPY channels) or pin the buffer in
// place (PIN channels); watchers are woken by a real-time signal read from
// one signalfd per loop. Senders only signal a watcher that announced it may
// sleep, so a burst of messages costs the reader one wakeup (the coalescing
// protocol of ipc_lib's LocklessQueueWatcher).
//
// Run() is an epoll loop over that signalfd, one timerfd per timer and phased
// loop, and any fds the application adds through epoll(). Watchers with a
// pending message, timers and phased loops sit in one queue ordered by event
// time (send time or scheduled time; ties in the order they were queued), so
// callbacks run in event-time order.
//
// SIGINT, SIGHUP and SIGTERM make every running ShmEventLoop of the process
// return from Run() (a second one kills the process). The wakeup signal is
// ignored by default and stays blocked after Run(), so a late wakeup cannot
// kill a process that is shutting down.
//
// A loop is not thread-safe: one thread makes its objects, runs it, and
// uses its senders, fetchers and timers (Exit() and ExitWithStatus() are the
// exceptions). LockToThread() and CheckForMutex() turn that contract into
// checks on every call.
//
// Flags: --shm_base and --permissions (read at construction),
// --application_name (default: the program's name), --timing_reports,
// --timing_report_ms, and the RT flags of aos/realtime.h.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "aos/events/epoll.h"
#include "aos/events/event_loop.h"
#include "aos/ipc_lib/signalfd.h"
#include "aos/stl_mutex/stl_mutex.h"
#include "gflags/gflags.h"

DECLARE_string(application_name);

namespace aos {
namespace shm_event_loop_internal {
class EventQueue;
class ShmFetcher;
class ShmSender;
class ShmWatcherState;
class ShmTimerHandler;
class ShmPhasedLoopHandler;
class ShmExitHandle;
}  // namespace shm_event_loop_internal

class ShmEventLoop : public EventLoop {
 public:
  // `configuration` must outlive the loop. CHECK-fails unless
  // aos::InitGoogle ran ("Need to initialize AOS first."), and (through
  // configuration::GetMyNode) if a multi-node configuration has no node for
  // this host.
  explicit ShmEventLoop(const Flatbuffer<Configuration> &configuration)
      : ShmEventLoop(&configuration.message()) {}
  explicit ShmEventLoop(const Configuration *configuration);
  // CHECK-fails while running or while ExitHandles remain.
  ~ShmEventLoop() override;

  // Runs until Exit(), an ExitHandle, or SIGINT/SIGHUP/SIGTERM. Returns the
  // status given to ExitWithStatus/ExitHandle::Exit (success otherwise), or,
  // without running, an error if the loop cannot start: the configuration
  // lacks the timing report channel, or a watched channel has all its
  // num_watchers slots taken (the message names the channel and the limit).
  // May be called again after it returns. [[nodiscard]]: a program that
  // ignores a failed start exits 0 having done nothing.
  [[nodiscard]] Result<void> Run();

  // Makes Run() return success once the current callback and the events
  // due at that instant (timers due then, messages already sent to this
  // loop's watchers, e.g. from the same callback) have run. An exit status:
  // a later ExitWithStatus() before Run() returns does not change it.
  // Async-signal-safe (SIGINT/SIGHUP/SIGTERM end Run() this way).
  void Exit();

  // As Exit(), making Run() return `status`. The first Exit() or
  // ExitWithStatus() since Run() started wins. Thread-safe, not
  // async-signal-safe.
  void ExitWithStatus(Result<void> status = {});

  // A handle for ending this loop from elsewhere (another thread, a helper
  // object). Every handle must be destroyed before the loop.
  std::unique_ptr<ExitHandle> MakeExitHandle();

  monotonic_clock::time_point monotonic_now() const override {
    return monotonic_clock::now();
  }
  realtime_clock::time_point realtime_now() const override {
    return realtime_clock::now();
  }

  std::unique_ptr<RawSender> MakeRawSender(const Channel *channel) override;
  // A sender that must be `channel`'s only one, in every process, while it
  // lives (live log replay uses it, so an application's messages cannot mix
  // with the log's). CHECK-fails, naming the channel and the process that
  // sends there, if another sender exists; while it lives, every other
  // MakeRawSender on the channel CHECK-fails naming the holder and saying to
  // remap the channel in the replay config. The claim is kept in the queue's
  // shared memory with the sender slot, so it ends with the sender or with
  // its process, however that dies.
  std::unique_ptr<RawSender> MakeExclusiveRawSender(const Channel *channel);
  std::unique_ptr<RawFetcher> MakeRawFetcher(const Channel *channel) override;
  void MakeRawWatcher(
      const Channel *channel,
      std::function<void(const Context &context, const void *message)> watcher)
      override;
  void MakeRawNoArgWatcher(
      const Channel *channel,
      std::function<void(const Context &context)> watcher) override;

  TimerHandler *AddTimer(std::function<void()> callback) override;
  PhasedLoopHandler *AddPhasedLoop(
      std::function<void(int)> callback, monotonic_clock::duration interval,
      monotonic_clock::duration offset = monotonic_clock::zero()) override;

  void OnRun(std::function<void()> on_run) override;

  // Changes the application name (timing reports, thread name, maps).
  // CHECK-fails while running.
  void set_name(std::string_view name);
  std::string_view name() const override { return name_; }
  const Node *node() const override { return node_; }

  const UUID &boot_uuid() const override { return boot_uuid_; }

  // Opt-in for high-rate streams: before its watchers arm for sleep, the
  // loop keeps polling their queues for up to `duration` (never past the
  // next timer), so messages that arrive back to back are handled without a
  // wakeup signal each. The price is a CPU spinning for up to `duration`
  // after every burst, and the application's own epoll fds waiting that
  // long; so leave it 0 (the default) unless a stream's rate matters more.
  // It pays only when the watcher handles a message much faster than the
  // sender sends one: then the loop runs dry between messages and would
  // sleep (and take a signal) once per few messages. Through two
  // ShmEventLoops doing similar work per message, coalescing alone left
  // about 4 signals per 1000 messages and 1 us of polling changed the rate
  // by less than the noise (docs/decisions/event_loop.md).
  void SetPollBeforeSleep(std::chrono::nanoseconds duration);

  // The fd loop, for adding the application's own fds.
  internal::EPoll *epoll() {
    CheckCurrentThread("epoll");
    return &epoll_;
  }

  // The shared-memory region of the queue behind this loop's watcher on
  // `channel` (for tools). CHECK-fails if there is none.
  std::span<const uint8_t> GetWatcherSharedMemory(const Channel *channel);

  // This process's writable mapping of the whole queue `sender` builds and
  // publishes in (its data() lies inside), e.g. to register it for DMA.
  // Valid while the sender lives. CHECK-fails unless `sender` was made by
  // this loop.
  std::span<uint8_t> GetSenderSharedMemory(RawSender *sender);

  // The memory `fetcher`'s messages are read into, i.e. where its
  // context().data points after a fetch: its private copy buffer on COPY
  // channels; on PIN channels, where messages are read in place, the whole
  // read-only mapping of the queue. Valid while the fetcher lives.
  // CHECK-fails unless `fetcher` was made by this loop.
  std::span<const uint8_t> GetFetcherPrivateMemory(const RawFetcher *fetcher);

  // The same for typed senders and fetchers. CHECK-fails on an invalid one.
  template <typename T>
  std::span<uint8_t> GetSenderSharedMemory(Sender<T> *sender) {
    RawSender *raw = GetRawSender(sender);
    CHECK(raw != nullptr) << ": GetSenderSharedMemory of an invalid Sender of "
                          << T::GetFullyQualifiedName();
    return GetSenderSharedMemory(raw);
  }
  template <typename T>
  std::span<const uint8_t> GetFetcherPrivateMemory(const Fetcher<T> *fetcher) {
    const RawFetcher *raw = GetRawFetcher(fetcher);
    CHECK(raw != nullptr)
        << ": GetFetcherPrivateMemory of an invalid Fetcher of "
        << T::GetFullyQualifiedName();
    return GetFetcherPrivateMemory(raw);
  }

  // From now on, every call into this loop or its senders, fetchers, timers
  // and phased loops (making objects, Run, sending, fetching, scheduling)
  // CHECK-fails, naming the call and both threads, unless it comes from the
  // calling thread. Exit(), ExitWithStatus() and is_running() stay callable
  // from any thread. The check costs a thread-local load (no syscall, no
  // lock). A child of fork() has another thread id, so its calls fail.
  void LockToThread();

  // From now on, every call listed at LockToThread() CHECK-fails unless the
  // calling thread holds `mutex`, for a loop shared by threads that
  // serialize their use of it with `mutex`. Callbacks run by Run() need it
  // held too, so a thread calling Run() holds it while running. `mutex`
  // must outlive the loop; nullptr stops the checks.
  void CheckForMutex(stl_mutex *mutex);

  // The --shm_base this loop uses.
  const std::string &shm_base() const { return shm_base_; }

 private:
  friend class shm_event_loop_internal::ShmFetcher;
  friend class shm_event_loop_internal::ShmSender;
  friend class shm_event_loop_internal::ShmWatcherState;
  friend class shm_event_loop_internal::ShmTimerHandler;
  friend class shm_event_loop_internal::ShmPhasedLoopHandler;
  friend class shm_event_loop_internal::ShmExitHandle;

  // Checks watchers for new messages and runs every event that is due.
  void HandleEvents();
  // After Exit(): runs what is due at the instant the loop saw it.
  void HandleEventsDueAtExit();
  // Queues the next message of every watcher that has one; returns whether
  // any had.
  bool CheckWatchersForNewData();
  // Runs before each wait: HandleEvents(), then the coalescing protocol's
  // drain, arm and check, repeated until a check finds nothing new.
  void BeforeWait();
  // Closes the signalfd and the watcher recheck timer, if open.
  void StopWatcherWakeups();

  Result<void> RegisterWatchers();
  void UnregisterWatchers();

  shm_event_loop_internal::ShmWatcherState *Watcher(size_t index) const;

  // SetPollBeforeSleep's polling: true if a watcher found a message.
  bool PollWatchersBeforeSleep();

  // Enforces LockToThread() and CheckForMutex() for the call `what` (on
  // `channel`, if not null).
  void CheckCurrentThread(const char *what,
                          const Channel *channel = nullptr) const {
    if (check_thread_id_ != 0 || check_mutex_ != nullptr) [[unlikely]] {
      CheckCurrentThreadSlow(what, channel);
    }
  }
  void CheckCurrentThreadSlow(const char *what, const Channel *channel) const;

  const UUID boot_uuid_;
  const std::string shm_base_;
  const uint32_t permissions_;
  std::string name_;
  const Node *const node_;

  internal::EPoll epoll_;
  std::unique_ptr<shm_event_loop_internal::EventQueue> events_;
  std::unique_ptr<ipc_lib::SignalFd> signalfd_;
  // While watchers run: expires every ipc_lib::kMaxWatcherSleep so the loop
  // rechecks its queues even if a sender died before signalling it
  // (lockless_queue.h).
  std::unique_ptr<internal::TimerFd> watcher_recheck_timer_;
  // epoll saw the signalfd readable since the last drain.
  bool signal_pending_ = false;
  std::vector<std::function<void()>> on_run_;
  bool before_wait_registered_ = false;
  std::chrono::nanoseconds poll_before_sleep_{0};

  // Set by LockToThread() and CheckForMutex(); 0 and null: no checks.
  pid_t check_thread_id_ = 0;
  const stl_mutex *check_mutex_ = nullptr;

  // Set by the first Exit() or ExitWithStatus() of a Run(): later ones do
  // not change its result. Atomic, so that Exit() stays async-signal-safe.
  std::atomic<bool> exit_decided_{false};
  // Guards exit_status_, written only by the ExitWithStatus() that decided.
  std::mutex exit_mutex_;
  Result<void> exit_status_;
  std::atomic<int> exit_handle_count_{0};
};

}  // namespace aos

#endif  // AOS_EVENTS_SHM_EVENT_LOOP_H_
