#ifndef AOS_EVENTS_EVENT_LOOP_H_
#define AOS_EVENTS_EVENT_LOOP_H_

// EventLoop: the API all AOS application code is written against.
//
// An application makes one EventLoop per thread (a ShmEventLoop on the robot,
// a simulated one in tests and replay), asks it for typed senders, fetchers
// and watchers on channels named in the configuration, adds timers and phased
// loops, and runs it:
//
//   aos::ShmEventLoop event_loop(&config.message());
//   aos::Sender<examples::Ping> sender =
//       event_loop.MakeSender<examples::Ping>("/test");
//   event_loop.MakeWatcher("/test", [&](const examples::Pong &pong) {
//     ...  // event_loop.context() describes the message being handled.
//   });
//   aos::TimerHandler *timer = event_loop.AddTimer([&]() {
//     auto builder = sender.MakeBuilder();
//     examples::Ping::Builder ping = builder.MakeBuilder<examples::Ping>();
//     ping.add_value(1);
//     builder.CheckOk(builder.Send(ping.Finish()));
//   });
//   event_loop.OnRun([&]() {
//     timer->Schedule(event_loop.monotonic_now(), std::chrono::seconds(1));
//   });
//   aos::CheckExpected(event_loop.Run());
//
// Everything runs on the loop's one thread: callbacks never overlap, and
// watcher callbacks and timers run in the order of their event times (send
// time or scheduled time). The data path (sending, fetching, dispatching
// watchers, firing timers) allocates nothing and takes no locks, so it can run
// at real-time priority.
//
// Registration rules (API misuse CHECK-fails with a message naming the
// channel): senders and watchers are made before Run() (timers and fetchers
// may be added while running); one loop may have any number of fetchers and
// senders on a channel but at most one watcher, and not both a watcher and a
// sender; channels must come from this loop's configuration and have a
// max_size that is a multiple of 8.
//
// Implementations derive from EventLoop, RawSender, RawFetcher, WatcherState,
// TimerHandler and PhasedLoopHandler; the protected sections below are their
// interface, and the shared conformance suite (event_loop_param_test.h) is
// their specification.

#include <sched.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "aos/configuration.h"
#include "aos/configuration_generated.h"
#include "aos/events/context.h"
#include "aos/events/event_loop_generated.h"
#include "aos/events/raw_fetcher.h"
#include "aos/events/raw_sender.h"
#include "aos/events/timing_statistics.h"
#include "aos/events/typed_fetcher.h"
#include "aos/events/typed_sender.h"
#include "aos/flatbuffers.h"
#include "aos/flatbuffers/builder.h"
#include "aos/json_to_flatbuffer.h"
#include "aos/time/time.h"
#include "aos/util/phased_loop.h"
#include "aos/util/status.h"
#include "aos/uuid.h"
#include "flatbuffers/flatbuffers.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DECLARE_bool(timing_reports);
DECLARE_int32(timing_report_ms);

namespace aos {

class EventLoop;
class WatcherState;
namespace internal {
class AosLogSender;
}  // namespace internal

// A callback run at a time. Made (and owned) by EventLoop::AddTimer.
class TimerHandler {
 public:
  virtual ~TimerHandler();

  // Fires the callback at `base`, then every `repeat_offset` after it if that
  // is non-zero, replacing any previous schedule. A base in the past fires as
  // soon as possible. If the loop falls behind, missed repetitions are
  // skipped, not caught up: the next one is the first base + k *
  // repeat_offset strictly after now. May be called before Run, from any
  // callback of this loop, and from the timer's own callback.
  // CHECK-fails if `base` is before monotonic_clock::epoch().
  void Schedule(
      monotonic_clock::time_point base,
      monotonic_clock::duration repeat_offset = monotonic_clock::zero());

  // Stops future calls, including ones due at the current time that have not
  // run yet. Callable from any callback of this loop.
  virtual void Disable() = 0;

  // True before the first Schedule, after Disable, and after a one-shot timer
  // fired.
  virtual bool IsDisabled() = 0;

  // The name shown in timing reports.
  void set_name(std::string_view name);
  const std::string &name() const { return name_; }

 protected:
  TimerHandler(EventLoop *event_loop, std::function<void()> fn);

  // Implementations: (re)arm the timer. `base` is at or after the epoch.
  virtual void DoSchedule(monotonic_clock::time_point base,
                          monotonic_clock::duration repeat_offset) = 0;

  // Runs the callback for the expiration scheduled at `event_time`, with
  // context() set for it, and records timing. Returns the time it finished.
  monotonic_clock::time_point Call(monotonic_clock::time_point event_time);

  // The first `scheduled + k * repeat_offset` (k >= 1) strictly after `now`.
  static monotonic_clock::time_point NextRepeat(
      monotonic_clock::time_point scheduled,
      monotonic_clock::duration repeat_offset, monotonic_clock::time_point now);

  EventLoop *event_loop() const { return event_loop_; }

 private:
  friend class EventLoop;

  EventLoop *const event_loop_;
  std::function<void()> fn_;
  std::string name_;
  internal::TimerTiming timing_;
};

// A callback run at offset + k * interval, told how many intervals went by
// since its last call (1 normally, more after an overrun). Made (and owned)
// by EventLoop::AddPhasedLoop; it starts when the loop runs.
class PhasedLoopHandler {
 public:
  virtual ~PhasedLoopHandler();

  // Changes the interval and offset (0 <= offset < interval). Takes effect
  // after the current callback or at the next Reschedule(). With
  // `monotonic_now`, the phase is reset so that a Reschedule(monotonic_now)
  // counts exactly 1 cycle at the next call. See aos/util/phased_loop.h.
  void set_interval_and_offset(
      monotonic_clock::duration interval, monotonic_clock::duration offset,
      std::optional<monotonic_clock::time_point> monotonic_now = std::nullopt);

  // Re-arms for the first phase after `monotonic_now`, adding the cycles
  // between the last wakeup and then to the next call's count (0 or negative
  // if `monotonic_now` is earlier than the last wakeup).
  void Reschedule(monotonic_clock::time_point monotonic_now);

  // The name shown in timing reports.
  void set_name(std::string_view name);
  const std::string &name() const { return name_; }

 protected:
  PhasedLoopHandler(EventLoop *event_loop, std::function<void(int)> fn,
                    monotonic_clock::duration interval,
                    monotonic_clock::duration offset);

  // Runs the callback for the wakeup at sleep_time(), with context() set for
  // it, re-arming for the next phase after it finishes. Returns the time it
  // finished.
  monotonic_clock::time_point Call();

  // The wakeup time the handler is armed for.
  monotonic_clock::time_point sleep_time() const {
    return phased_loop_.sleep_time();
  }

  EventLoop *event_loop() const { return event_loop_; }

 private:
  friend class EventLoop;
  // Implementations: arm the wakeup at `sleep_time`, replacing any other.
  virtual void Schedule(monotonic_clock::time_point sleep_time) = 0;

  EventLoop *const event_loop_;
  std::function<void(int)> fn_;
  time::PhasedLoop phased_loop_;
  int cycles_elapsed_ = 0;
  std::string name_;
  internal::TimerTiming timing_;
};

// The part of a watcher common to every implementation: the callback, its
// channel and its timing statistics. Implementations derive from it and keep
// the delivery state.
class WatcherState {
 public:
  WatcherState(EventLoop *event_loop, const Channel *channel,
               std::function<void(const Context &, const void *)> fn);
  WatcherState(const WatcherState &) = delete;
  WatcherState &operator=(const WatcherState &) = delete;
  virtual ~WatcherState();

  const Channel *channel() const { return channel_; }

  // See EventLoop::SetWatcherFallBehindPolicy.
  FallBehindPolicy fall_behind_policy() const { return fall_behind_policy_; }
  uint64_t lost_messages() const { return lost_messages_; }

 protected:
  // Implementations: `count` messages were skipped under kSkipToOldest (see
  // RawFetcher::RecordLostMessages); the next callback's context carries
  // them in lost_messages.
  void RecordLostMessages(uint64_t count);

  // Runs the callback for the message described by `context` (data may be
  // nullptr for no-arg watchers), with EventLoop::context() set to it, and
  // records the wakeup latency and handler time. Returns the time it
  // finished (the clock reading taken for the handler time), so a loop
  // running several events in a row need not read the clock again.
  monotonic_clock::time_point CallCallback(const Context &context);

  EventLoop *event_loop() const { return event_loop_; }

 private:
  friend class EventLoop;

  EventLoop *const event_loop_;
  const Channel *const channel_;
  std::function<void(const Context &, const void *)> fn_;
  internal::WatcherTiming timing_;
  FallBehindPolicy fall_behind_policy_ = FallBehindPolicy::kDie;
  uint64_t lost_messages_ = 0;
};

// Ends a running loop (or a simulation) from any thread, with a status that
// becomes Run()'s result. The first status wins, and a plain Exit() of the
// loop (or SIGINT) is a status too: success. Run() returns once the events
// due at that instant have run. Made by the implementation
// (ShmEventLoop::MakeExitHandle); must be destroyed before it.
class ExitHandle {
 public:
  virtual ~ExitHandle() = default;
  virtual void Exit(Result<void> status = {}) = 0;
};

class EventLoop {
 public:
  // `configuration` must outlive the loop.
  explicit EventLoop(const Configuration *configuration);
  EventLoop(const EventLoop &) = delete;
  EventLoop &operator=(const EventLoop &) = delete;
  // CHECK-fails if senders made by this loop are still alive.
  virtual ~EventLoop();

  // The current time on this loop's clocks (simulated in simulation).
  virtual monotonic_clock::time_point monotonic_now() const = 0;
  virtual realtime_clock::time_point realtime_now() const = 0;

  // The channel `channel_name` of type T as this application on this node
  // sees it (maps applied), or nullptr.
  template <typename T>
  const Channel *GetChannel(std::string_view channel_name) const {
    return configuration::GetChannel(configuration(), channel_name,
                                     T::GetFullyQualifiedName(), name(), node(),
                                     true);
  }
  template <typename T>
  bool HasChannel(std::string_view channel_name) const {
    return GetChannel<T>(channel_name) != nullptr;
  }

  // A fetcher on `channel_name`, or an invalid one if the channel does not
  // exist or is not readable on this node.
  template <typename T>
  Fetcher<T> TryMakeFetcher(std::string_view channel_name) {
    const Channel *channel = GetChannel<T>(channel_name);
    if (channel == nullptr ||
        !configuration::ChannelIsReadableOnNode(channel, node())) {
      return Fetcher<T>();
    }
    return Fetcher<T>(MakeRawFetcher(channel));
  }

  // A fetcher on `channel_name`. CHECK-fails if the channel does not exist
  // or is not readable on this node. Allowed while running.
  template <typename T>
  Fetcher<T> MakeFetcher(std::string_view channel_name) {
    const Channel *channel = GetChannel<T>(channel_name);
    CHECK(channel != nullptr)
        << ": Channel { \"name\": \"" << channel_name << "\", \"type\": \""
        << T::GetFullyQualifiedName() << "\" } not found in config.";
    if (!configuration::ChannelIsReadableOnNode(channel, node())) {
      DieChannelNotUsableHere(channel, "fetched");
    }
    return Fetcher<T>(MakeRawFetcher(channel));
  }

  // A sender on `channel_name`, or an invalid one if the channel does not
  // exist or is not sendable on this node.
  template <typename T>
  Sender<T> TryMakeSender(std::string_view channel_name) {
    const Channel *channel = GetChannel<T>(channel_name);
    if (channel == nullptr ||
        !configuration::ChannelIsSendableOnNode(channel, node())) {
      return Sender<T>();
    }
    return Sender<T>(MakeRawSender(channel));
  }

  // A sender on `channel_name`. CHECK-fails if the channel does not exist or
  // is not sendable on this node, if the loop is running, or if this loop
  // watches the channel.
  template <typename T>
  Sender<T> MakeSender(std::string_view channel_name) {
    const Channel *channel = GetChannel<T>(channel_name);
    CHECK(channel != nullptr)
        << ": Channel { \"name\": \"" << channel_name << "\", \"type\": \""
        << T::GetFullyQualifiedName() << "\" } not found in config for "
        << name() << NodeSuffix() << ".";
    if (!configuration::ChannelIsSendableOnNode(channel, node())) {
      DieChannelNotUsableHere(channel, "sent");
    }
    return Sender<T>(MakeRawSender(channel));
  }

  // Calls `watcher` with every message sent on `channel_name` after the loop
  // starts running, in order. The message type is deduced from the
  // callable's one argument, `const T &`. CHECK-fails if the channel does not
  // exist or is not readable here, if the loop is running, or if this loop
  // already watches or sends on the channel.
  template <typename Watch>
  void MakeWatcher(std::string_view channel_name, Watch &&watcher);

  // As MakeWatcher, without the message: for reacting to "something was
  // sent" without reading it (no copy, no pinning slot). context().size is
  // set; context().data is nullptr.
  template <typename T>
  void MakeNoArgWatcher(std::string_view channel_name,
                        std::function<void()> watcher) {
    const Channel *channel = GetWatchableChannel<T>(channel_name);
    MakeRawNoArgWatcher(channel, [watcher = std::move(watcher)](
                                     const Context &) { watcher(); });
  }

  // Whether a watcher on the channel exists in this loop.
  bool HasWatcher(const Channel *channel) const;

  // Calls `on_run` once, when the loop next starts running: after watchers
  // are armed and the thread went realtime, in registration order, with
  // context() set like a timer's at the start time. CHECK-fails while
  // running.
  virtual void OnRun(std::function<void()> on_run) = 0;

  // The application name, and this loop's node (nullptr in single-node
  // configs).
  virtual std::string_view name() const = 0;
  virtual const Node *node() const = 0;

  // Adds a timer (disabled until scheduled), owned by the loop. Allowed
  // while running (it allocates; not on a realtime thread).
  virtual TimerHandler *AddTimer(std::function<void()> callback) = 0;

  // Adds a phased loop calling `callback(cycles)` at offset + k * interval,
  // owned by the loop. It starts when the loop runs. CHECK-fails unless
  // 0 <= offset < interval.
  virtual PhasedLoopHandler *AddPhasedLoop(
      std::function<void(int)> callback, monotonic_clock::duration interval,
      monotonic_clock::duration offset = monotonic_clock::zero()) = 0;

  // Thread-safe. True from just before OnRun callbacks until Run returns.
  bool is_running() const {
    return is_running_.load(std::memory_order_acquire);
  }

  // The SCHED_FIFO priority to run at (0: not realtime). CHECK-fails while
  // running ("Cannot set realtime priority while running.").
  void SetRuntimeRealtimePriority(int priority);
  int runtime_realtime_priority() const { return runtime_realtime_priority_; }

  // The CPUs to run on. CHECK-fails while running ("Cannot set affinity
  // while running").
  void SetRuntimeAffinity(const cpu_set_t &cpuset);
  const cpu_set_t &runtime_affinity() const { return runtime_affinity_; }
  // Every CPU the process may run on when it started.
  static cpu_set_t DefaultAffinity();

  // Untyped variants. `channel` must point into configuration()
  // (CHECK-fails "Channel pointer not found in configuration()->channels()").
  // MakeRawSender does not check that the channel is sendable on this node
  // (the message bridge relies on it).
  virtual std::unique_ptr<RawFetcher> MakeRawFetcher(
      const Channel *channel) = 0;
  virtual void MakeRawWatcher(
      const Channel *channel,
      std::function<void(const Context &context, const void *message)>
          watcher) = 0;
  virtual void MakeRawNoArgWatcher(
      const Channel *channel,
      std::function<void(const Context &context)> watcher) = 0;
  virtual std::unique_ptr<RawSender> MakeRawSender(const Channel *channel) = 0;

  // What this loop's watcher on `channel` does when it falls more than a
  // queue behind (see FallBehindPolicy; kDie until set), and how many
  // messages it skipped so far under kSkipToOldest (also in each callback's
  // context().lost_messages and the timing report). CHECK-fail if this loop
  // has no watcher on `channel`. Callable before Run and from this loop's
  // callbacks.
  void SetWatcherFallBehindPolicy(const Channel *channel,
                                  FallBehindPolicy policy);
  uint64_t WatcherLostMessages(const Channel *channel) const;

  // The event being handled (see Context). Outside callbacks: min times,
  // invalid indices, nullptr data, this boot's UUID.
  const Context &context() const { return context_; }

  const Configuration *configuration() const { return configuration_; }

  // Do not send timing reports from this loop.
  void SkipTimingReport() { skip_timing_report_ = true; }

  // Send AOS_LOG messages from this loop's handlers to glog instead of the
  // /aos aos.logging.LogMessageFbs channel (for tools that watch that
  // channel). Without this call, a loop that can send on that channel makes
  // its log sender when it starts running. CHECK-fails while running.
  void SkipAosLog();

  // Range of Context::buffer_index on `channel`: queue size + senders +
  // readers.
  int NumberBuffers(const Channel *channel);

  // This node's boot UUID.
  virtual const UUID &boot_uuid() const = 0;

  // The thread id stamped into timing reports. The real tid of the thread
  // running the loop by default; simulated loops return a synthetic id so
  // that reports are identical from run to run.
  virtual pid_t GetTid();

  // The version stamped into timing reports: this loop's if set, else the
  // process default. Setting either while running CHECK-fails.
  static void SetDefaultVersionString(std::string_view version);
  void SetVersionString(std::string_view version);
  std::optional<std::string_view> VersionString() const;

  // Index of `channel` in configuration()->channels(). CHECK-fails if it does
  // not point there.
  int ChannelIndex(const Channel *channel) const;

  // Sends the timing report now (if reports are on) and resets statistics.
  // Used before dying on an error, so tools see the failure.
  void SendTimingReport();

 protected:
  friend class RawSender;
  friend class RawFetcher;
  friend class TimerHandler;
  friend class PhasedLoopHandler;
  friend class WatcherState;

  void set_is_running(bool is_running) {
    is_running_.store(is_running, std::memory_order_release);
  }

  // The raw object behind a typed sender or fetcher (nullptr when invalid),
  // for implementations' typed overloads of their raw-object APIs (e.g.
  // ShmEventLoop::GetSenderSharedMemory). Sender<T> and Fetcher<T> befriend
  // EventLoop only, so derived loops reach them through these.
  template <typename T>
  static RawSender *GetRawSender(Sender<T> *sender) {
    return sender->sender_.get();
  }
  template <typename T>
  static const RawFetcher *GetRawFetcher(const Fetcher<T> *fetcher) {
    return fetcher->fetcher_.get();
  }

  // Enforces the watcher registration rules for `channel` and records it.
  void TakeWatcher(const Channel *channel);
  // Enforces the sender registration rules for `channel` and records it.
  void TakeSender(const Channel *channel);

  // Adopt new objects (and keep the timing report in sync).
  WatcherState *NewWatcher(std::unique_ptr<WatcherState> watcher);
  TimerHandler *NewTimer(std::unique_ptr<TimerHandler> timer);
  PhasedLoopHandler *NewPhasedLoop(
      std::unique_ptr<PhasedLoopHandler> phased_loop);

  // Destroys the timing report sender and all timers, phased loops and
  // watchers. Implementations call it from their destructor, while their own
  // state (and virtual methods) still exist.
  void DeleteAllEvents();

  const std::vector<std::unique_ptr<WatcherState>> &watchers() const {
    return watchers_;
  }
  const std::vector<std::unique_ptr<TimerHandler>> &timers() const {
    return timers_;
  }
  const std::vector<std::unique_ptr<PhasedLoopHandler>> &phased_loops() const {
    return phased_loops_;
  }

  // What every implementation does when a loop starts running (each Run(),
  // or the simulation starting the loop), before its OnRun callbacks:
  //  - makes the AOS_LOG sender (first call, unless SkipAosLog()): AOS_LOG
  //    from this loop's handlers then goes to /aos aos.logging.LogMessageFbs
  //    if the configuration has that channel, else to glog;
  //  - with --timing_reports and unless SkipTimingReport(), makes the timing
  //    report's sender and timer (first call) and schedules reports every
  //    --timing_report_ms from now.
  // Returns an error naming the fix if timing reports are on and the
  // configuration has no sendable /aos aos.timing.Report channel; the loop
  // must not run then.
  Result<void> PrepareToRun();

  // Resets context() to the "no event" state.
  void ClearContext();

  // Sets context() for a timer-like event (timers, phased loops, OnRun).
  void SetTimerContext(monotonic_clock::time_point monotonic_event_time);

  // Dies because `channel` cannot be `verb` ("sent", "fetched", "watched")
  // on this loop's node, in upstream's words ("Channel { ... } is not able
  // to be fetched on this node.  Check your configuration") followed by the
  // channel's source node, so the reader knows where it lives.
  [[noreturn]] void DieChannelNotUsableHere(const Channel *channel,
                                            std::string_view verb) const;
  // Implementations' MakeRawFetcher: dies as above unless `channel` is
  // readable on this node.
  void CheckReadableHere(const Channel *channel) const {
    if (!configuration::ChannelIsReadableOnNode(channel, node())) [[unlikely]] {
      DieChannelNotUsableHere(channel, "fetched");
    }
  }

  Context context_;

 private:
  template <typename T>
  const Channel *GetWatchableChannel(std::string_view channel_name) {
    const Channel *channel = GetChannel<T>(channel_name);
    CHECK(channel != nullptr)
        << ": Channel { \"name\": \"" << channel_name << "\", \"type\": \""
        << T::GetFullyQualifiedName() << "\" } not found in config for "
        << "application " << name() << ".";
    return channel;
  }

  std::string NodeSuffix() const;

  // Checks what every sender, fetcher and watcher requires of its channel.
  void CheckChannel(const Channel *channel) const;

  // Sender/fetcher lifetime bookkeeping (from their constructors and
  // destructors).
  void NewSender(RawSender *sender);
  void DeleteSender(RawSender *sender);
  void NewFetcher(RawFetcher *fetcher);
  void DeleteFetcher(RawFetcher *fetcher);

  // Rebuilds the prebuilt report after objects were added or renamed.
  void UpdateTimingReport();

  // Makes aos_log_sender_ if this loop can send on /aos
  // aos.logging.LogMessageFbs and did not SkipAosLog().
  void MaybeMakeAosLogSender();
  // The timing report half of PrepareToRun().
  Result<void> MaybeScheduleTimingReports();
  // Makes this loop's log sender (or glog, without one) the AOS_LOG
  // destination of the calling thread, for the handler about to run.
  // ClearContext() undoes it.
  void SetAosLogContext();
  void DestroyAosLogSender();

  const Configuration *const configuration_;
  std::atomic<bool> is_running_{false};
  int runtime_realtime_priority_ = 0;
  cpu_set_t runtime_affinity_;
  bool skip_timing_report_ = false;
  std::optional<std::string> version_string_;

  std::vector<const Channel *> taken_watchers_;
  std::vector<const Channel *> taken_senders_;

  std::vector<RawSender *> senders_;
  std::vector<RawFetcher *> fetchers_;
  std::vector<std::unique_ptr<WatcherState>> watchers_;
  std::vector<std::unique_ptr<TimerHandler>> timers_;
  std::vector<std::unique_ptr<PhasedLoopHandler>> phased_loops_;

  // The prebuilt report, patched in place and copied out by the report
  // sender. Empty while reports are off.
  std::unique_ptr<RawSender> timing_report_sender_;
  TimerHandler *timing_report_timer_ = nullptr;
  FlatbufferDetachedBuffer<timing::Report> timing_report_;
  uint64_t timing_report_failures_ = 0;
  bool timing_report_too_big_ = false;

  bool skip_aos_log_ = false;
  std::unique_ptr<internal::AosLogSender> aos_log_sender_;
};

// Implementation details below.

namespace internal {

// Deduces the message type of a watcher from its call operator's argument.
// `valid` is false for anything but one `const T &` argument (T a generated
// table), so MakeWatcher can say so in one static_assert instead of pages of
// substitution errors; message_type is then a harmless placeholder.
template <typename T>
struct watch_message_type_trait {
  static constexpr bool valid = false;
  using message_type = flatbuffers::Table;
};

template <typename A1>
struct watch_argument_trait {
  static constexpr bool valid = std::is_lvalue_reference_v<A1> &&
                                std::is_const_v<std::remove_reference_t<A1>> &&
                                std::is_class_v<std::decay_t<A1>>;
  using message_type =
      std::conditional_t<valid, std::decay_t<A1>, flatbuffers::Table>;
};

template <typename ClassType, typename ReturnType, typename A1>
struct watch_message_type_trait<ReturnType (ClassType::*)(A1) const>
    : watch_argument_trait<A1> {};

template <typename ClassType, typename ReturnType, typename A1>
struct watch_message_type_trait<ReturnType (ClassType::*)(A1)>
    : watch_argument_trait<A1> {};

// The trait of Watch's call operator; a generic lambda (a template call
// operator) or a non-callable has none and is not valid.
template <typename Watch>
struct watcher_trait : watch_message_type_trait<void> {};
template <typename Watch>
requires requires { &Watch::operator(); }
struct watcher_trait<Watch>
    : watch_message_type_trait<decltype(&Watch::operator())> {};

}  // namespace internal

template <typename Watch>
void EventLoop::MakeWatcher(std::string_view channel_name, Watch &&watcher) {
  using Trait = internal::watcher_trait<std::decay_t<Watch>>;
  static_assert(Trait::valid,
                "MakeWatcher needs a callable taking exactly one argument, "
                "`const Foo &` with Foo a generated flatbuffer table (not "
                "auto, not by value), e.g. [&](const Foo &foo) { ... }");
  using MessageType = typename Trait::message_type;
  static_assert(!fbs::StaticTable<MessageType>,
                "Watchers read ordinary flatbuffers: use Foo, not FooStatic");
  // Only after a failed static_assert is this false; skipping the body
  // then keeps the static_assert the only error.
  if constexpr (Trait::valid && !fbs::StaticTable<MessageType>) {
    const Channel *channel = GetWatchableChannel<MessageType>(channel_name);
    MakeRawWatcher(channel, [watcher = std::forward<Watch>(watcher)](
                                const Context &, const void *message) mutable {
      watcher(*flatbuffers::GetRoot<MessageType>(message));
    });
  }
}

}  // namespace aos

#endif  // AOS_EVENTS_EVENT_LOOP_H_
