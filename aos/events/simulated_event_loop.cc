#include "aos/events/simulated_event_loop.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>

#include "aos/events/simulated_channel.h"
#include "aos/events/simulated_network_bridge.h"
#include "aos/init.h"
#include "aos/realtime.h"
#include "flatbuffers/reflection.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_bool(simulation_verify_messages, true,
            "Verify every message sent in simulation against its channel's "
            "schema (when the configuration carries one); CHECK-fail on a "
            "corrupt message.  Off saves a verifier pass per send.");

namespace aos {

using simulated_internal::ChannelWatcher;
using simulated_internal::MessageRef;
using simulated_internal::SimulatedChannel;
using simulated_internal::SimulatedMessage;

namespace {

class SimulatedSender;
class SimulatedFetcher;
class SimulatedWatcher;
class SimulatedTimerHandler;
class SimulatedPhasedLoopHandler;

}  // namespace

// final: the senders, watchers and timers below call its clocks on every
// message, and knowing the type makes those calls direct.
class SimulatedEventLoop final : public EventLoop {
 public:
  SimulatedEventLoop(NodeEventLoopFactory *node, std::string_view name,
                     EventLoopOptions options, int pid);
  ~SimulatedEventLoop() override;

  monotonic_clock::time_point monotonic_now() const override {
    return node_->monotonic_now();
  }
  realtime_clock::time_point realtime_now() const override {
    return node_->realtime_now();
  }

  std::unique_ptr<RawSender> MakeRawSender(const Channel *channel) override;
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

  std::string_view name() const override { return name_; }
  const Node *node() const override { return node_->node(); }
  const UUID &boot_uuid() const override { return node_->boot_uuid(); }
  // A simulated process's id: handed out in creation order per node, so
  // that timing reports are the same bytes in every run of a program.
  pid_t GetTid() override { return pid_; }

  NodeEventLoopFactory *node_factory() const { return node_; }
  EventScheduler *scheduler() const { return node_->scheduler(); }
  const EventLoopOptions &options() const { return options_; }
  bool started() const { return started_; }

  // Prepare() arms new watchers and makes the timing report; on failure (too
  // many watchers, no timing report channel) it stops the simulation with
  // the error, leaves the loop unstarted and returns false. RunOnRun() then
  // runs the new OnRun callbacks. Start() does both.
  bool Prepare();
  void RunOnRun();
  void Start() {
    if (Prepare()) RunOnRun();
  }
  // Asks for Start() at the current time, at the next run.
  void ScheduleStart();

  // Marks the loop running (inside the factory's runs) or not.
  void SetRunning(bool running) { set_is_running(running && started_); }

  // Whether its handlers run marked realtime (a priority > 0), as a
  // ShmEventLoop's do, so allocations in them die with --die_on_malloc.
  // The simulation's own work inside a handler (sends, scheduling) is not
  // the handler's: it is wrapped in ScopedNotRealtime.
  bool handlers_realtime() const { return runtime_realtime_priority() > 0; }

  SimulatedChannel *GetSimulatedChannel(const Channel *channel) {
    return node_->GetSimulatedChannel(channel);
  }

  ExclusiveSenders Exclusivity(const Channel *channel) const {
    for (const auto &[exception, exclusive] :
         options_.per_channel_exclusivity) {
      if (exception == channel) return exclusive;
    }
    return options_.exclusive_senders;
  }

 private:
  class StartEvent final : public EventScheduler::Event {
   public:
    explicit StartEvent(SimulatedEventLoop *loop) : loop_(loop) {}
    void Handle() override { loop_->Start(); }

   private:
    SimulatedEventLoop *const loop_;
  };

  SimulatedWatcher *Watcher(size_t index) const;

  NodeEventLoopFactory *const node_;
  const std::string name_;
  const EventLoopOptions options_;
  const int pid_;
  std::vector<std::function<void()>> on_run_;
  size_t on_run_done_ = 0;
  bool started_ = false;
  StartEvent start_event_{this};
};

namespace {

SimulatedEventLoop *SimLoop(EventLoop *loop) {
  return static_cast<SimulatedEventLoop *>(loop);
}

class SimulatedSender final : public RawSender {
 public:
  SimulatedSender(SimulatedEventLoop *loop, const Channel *channel)
      : RawSender(loop, channel),
        loop_(loop),
        channel_(loop->GetSimulatedChannel(channel)),
        check_sent_too_fast_(loop->options().check_sent_too_fast ==
                             CheckSentTooFast::kYes),
        schema_(FLAGS_simulation_verify_messages &&
                        channel->schema() != nullptr &&
                        channel->schema()->root_table() != nullptr
                    ? channel->schema()
                    : nullptr) {
    CHECK(channel_->exclusive_sender == nullptr)
        << ": Attempted to create a new sender on exclusive channel "
        << configuration::StrippedChannelToString(channel)
        << " (a loop made with ExclusiveSenders::kYes, e.g. log replay, "
           "already sends on it).";
    if (loop->Exclusivity(channel) == ExclusiveSenders::kYes) {
      CHECK_EQ(channel_->senders, 0)
          << ": Attempted to create an exclusive sender on "
          << configuration::StrippedChannelToString(channel)
          << ", which already has senders.";
      channel_->exclusive_sender = this;
    }
    CHECK_LT(channel_->senders, channel->num_senders())
        << ": Failed to create sender on "
        << configuration::StrippedChannelToString(channel)
        << ", too many senders.  num_senders is " << channel->num_senders()
        << " (senders of every simulated process on the node count).";
    ++channel_->senders;
  }

  ~SimulatedSender() override {
    if (scratch_ != nullptr) channel_->Unref(scratch_);
    --channel_->senders;
    if (channel_->exclusive_sender == this) {
      channel_->exclusive_sender = nullptr;
    }
  }

  void *data() override {
    const ScopedNotRealtime not_realtime;
    return Scratch()->buffer();
  }
  size_t size() override { return channel_->max_size(); }
  int buffer_index() override {
    const ScopedNotRealtime not_realtime;
    return Scratch()->buffer_index;
  }

 protected:
  Error DoSend(size_t length, monotonic_clock::time_point monotonic_remote_time,
               realtime_clock::time_point realtime_remote_time,
               monotonic_clock::time_point monotonic_remote_transmit_time,
               uint32_t remote_queue_index,
               const UUID &source_boot_uuid) override {
    const ScopedNotRealtime not_realtime;
    SimulatedMessage *message = Scratch();
    message->context.data = message->buffer() + channel_->max_size() - length;
    message->context.size = length;
    return Publish(monotonic_remote_time, realtime_remote_time,
                   monotonic_remote_transmit_time, remote_queue_index,
                   source_boot_uuid);
  }

  Error DoSend(const void *data, size_t length,
               monotonic_clock::time_point monotonic_remote_time,
               realtime_clock::time_point realtime_remote_time,
               monotonic_clock::time_point monotonic_remote_transmit_time,
               uint32_t remote_queue_index,
               const UUID &source_boot_uuid) override {
    const ScopedNotRealtime not_realtime;
    SimulatedMessage *message = Scratch();
    uint8_t *destination = message->buffer() + channel_->max_size() - length;
    if (length > 0) memcpy(destination, data, length);
    message->context.data = destination;
    message->context.size = length;
    return Publish(monotonic_remote_time, realtime_remote_time,
                   monotonic_remote_transmit_time, remote_queue_index,
                   source_boot_uuid);
  }

  Error DoSend(const SharedSpan data,
               monotonic_clock::time_point monotonic_remote_time,
               realtime_clock::time_point realtime_remote_time,
               monotonic_clock::time_point monotonic_remote_transmit_time,
               uint32_t remote_queue_index,
               const UUID &source_boot_uuid) override {
    const ScopedNotRealtime not_realtime;
    const uintptr_t end =
        reinterpret_cast<uintptr_t>(data->data()) + data->size();
    if (end % kChannelDataAlignment != 0) {
      // Readers rely on aligned payloads: copy this one.
      return DoSend(data->data(), data->size(), monotonic_remote_time,
                    realtime_remote_time, monotonic_remote_transmit_time,
                    remote_queue_index, source_boot_uuid);
    }
    SimulatedMessage *message = Scratch();
    message->context.data = data->data();
    message->context.size = data->size();
    message->external = std::move(data);
    const Error error = Publish(monotonic_remote_time, realtime_remote_time,
                                monotonic_remote_transmit_time,
                                remote_queue_index, source_boot_uuid);
    if (error != Error::kOk) message->external.reset();
    return error;
  }

 private:
  SimulatedMessage *Scratch() {
    if (scratch_ == nullptr) scratch_ = channel_->AcquireScratch();
    return scratch_;
  }

  Error Publish(monotonic_clock::time_point monotonic_remote_time,
                realtime_clock::time_point realtime_remote_time,
                monotonic_clock::time_point monotonic_remote_transmit_time,
                uint32_t remote_queue_index, const UUID &source_boot_uuid) {
    Context &context = scratch_->context;
    if (schema_ != nullptr) Verify(context);
    context.monotonic_remote_time = monotonic_remote_time;
    context.realtime_remote_time = realtime_remote_time;
    context.monotonic_remote_transmit_time = monotonic_remote_transmit_time;
    context.remote_queue_index = remote_queue_index;
    context.source_boot_uuid = source_boot_uuid;
    const monotonic_clock::time_point monotonic_now = loop_->monotonic_now();
    const realtime_clock::time_point realtime_now = loop_->realtime_now();
    const Error error = channel_->Publish(scratch_, check_sent_too_fast_,
                                          monotonic_now, realtime_now);
    if (error != Error::kOk) return error;
    monotonic_sent_time_ = monotonic_now;
    realtime_sent_time_ = realtime_now;
    sent_queue_index_ = context.queue_index;
    // The ring owns the buffer now; the next message gets a fresh one.
    scratch_ = nullptr;
    return Error::kOk;
  }

  // Every message sent on a channel with a schema must be a valid flatbuffer
  // of the channel's type (upstream DCHECKs it): a corrupt message is
  // caught where it is made, not in whichever reader trips over it.
  void Verify(const Context &context) {
    if (flatbuffers::Verify(*schema_, *schema_->root_table(),
                            static_cast<const uint8_t *>(context.data),
                            context.size)) {
      return;
    }
    const Node *node = loop_->node();
    loop_->SendTimingReport();
    LOG(FATAL) << "Sent a message on "
               << configuration::StrippedChannelToString(channel())
               << (node == nullptr ? std::string()
                                   : " on " + node->name()->str())
               << " from event loop " << loop_->name()
               << " that does not verify against the channel's schema ("
               << context.size << " bytes are not a valid "
               << channel()->type()->string_view()
               << ").  Build messages with the channel's type "
                  "(Sender<T>::MakeBuilder), or fix the raw bytes.";
  }

  SimulatedEventLoop *const loop_;
  SimulatedChannel *const channel_;
  const bool check_sent_too_fast_;
  // The channel's schema if it has one (with a root table) and
  // --simulation_verify_messages, else nullptr.
  const reflection::Schema *const schema_;
  SimulatedMessage *scratch_ = nullptr;
};

class SimulatedFetcher final : public RawFetcher {
 public:
  SimulatedFetcher(SimulatedEventLoop *loop, const Channel *channel)
      : RawFetcher(loop, channel),
        channel_(loop->GetSimulatedChannel(channel)),
        next_index_(channel_->next_index()) {
    if (channel_->pin()) {
      CHECK_LT(channel_->readers, channel->num_readers())
          << ": Failed to create reader on "
          << configuration::StrippedChannelToString(channel)
          << ", too many readers.  num_readers is " << channel->num_readers()
          << " (pinning fetchers and watchers of every simulated process on "
             "the node count).";
      ++channel_->readers;
    }
  }

  ~SimulatedFetcher() override {
    if (channel_->pin()) --channel_->readers;
  }

 protected:
  bool DoFetchNext() override { return FetchNextIf(nullptr); }
  bool DoFetchNextIf(ContextPredicate predicate) override {
    return FetchNextIf(&predicate);
  }
  bool DoFetch() override { return FetchIf(nullptr); }
  bool DoFetchIf(ContextPredicate predicate) override {
    return FetchIf(&predicate);
  }

 private:
  bool FetchNextIf(const ContextPredicate *predicate) {
    if (next_index_ >= channel_->next_index()) return false;
    SimulatedMessage *message = channel_->Get(next_index_);
    if (message == nullptr &&
        fall_behind_policy() == FallBehindPolicy::kSkipToOldest) {
      const uint64_t oldest = channel_->OldestIndex();
      RecordLostMessages(oldest - next_index_);
      pending_lost_ += oldest - next_index_;
      next_index_ = oldest;
      message = channel_->Get(next_index_);
    }
    if (message == nullptr) {
      event_loop()->SendTimingReport();
      LOG(FATAL) << "The next message is no longer available.  "
                 << configuration::StrippedChannelToString(channel())
                 << NodeName()
                 << " was sent faster than this reader read it: it fell more "
                    "than a queue behind.  Read more often, or raise the "
                    "channel's frequency or channel_storage_duration.";
    }
    if (!Take(message, next_index_, predicate)) return false;
    context_.lost_messages = pending_lost_;
    pending_lost_ = 0;
    return true;
  }

  bool FetchIf(const ContextPredicate *predicate) {
    if (channel_->next_index() == 0) return false;
    const uint64_t latest = channel_->next_index() - 1;
    if (current_ && held_index_ == latest) return false;
    if (!Take(channel_->Get(latest), latest, predicate)) return false;
    // Jumping to the newest message is what Fetch is for, not a loss.
    pending_lost_ = 0;
    return true;
  }

  bool Take(SimulatedMessage *message, uint64_t index,
            const ContextPredicate *predicate) {
    if (predicate != nullptr) {
      Context without_data = message->context;
      without_data.data = nullptr;
      if (!(*predicate)(without_data)) return false;
    }
    current_ = MessageRef(message);
    held_index_ = index;
    next_index_ = index + 1;
    context_ = message->context;
    return true;
  }

  std::string NodeName() const {
    const Node *node = event_loop()->node();
    if (node == nullptr) return "";
    return " on " + node->name()->str();
  }

  SimulatedChannel *const channel_;
  uint64_t next_index_;
  uint64_t held_index_ = 0;
  // Messages skipped since the last message fetched by FetchNext.
  uint64_t pending_lost_ = 0;
  MessageRef current_;
};

class SimulatedWatcher final : public WatcherState,
                               public EventScheduler::Event,
                               public ChannelWatcher {
 public:
  SimulatedWatcher(SimulatedEventLoop *loop, const Channel *channel,
                   std::function<void(const Context &, const void *)> fn,
                   bool no_arg)
      : WatcherState(loop, channel, std::move(fn)),
        loop_(loop),
        channel_(loop->GetSimulatedChannel(channel)),
        no_arg_(no_arg) {
    // No-arg watchers read nothing, so they pin nothing (design decision 2).
    if (channel_->pin() && !no_arg_) {
      CHECK_LT(channel_->readers, channel->num_readers())
          << ": Failed to create reader on "
          << configuration::StrippedChannelToString(channel)
          << ", too many readers.  num_readers is " << channel->num_readers()
          << " (pinning fetchers and watchers of every simulated process on "
             "the node count).";
      ++channel_->readers;
    }
  }

  ~SimulatedWatcher() override {
    loop_->scheduler()->Deschedule(this);
    if (armed_) channel_->RemoveWatcher(this);
    if (channel_->pin() && !no_arg_) --channel_->readers;
  }

  bool armed() const { return armed_; }
  SimulatedChannel *simulated_channel() const { return channel_; }

  // Starts delivering the messages sent from now on.
  void Arm() {
    next_index_ = channel_->next_index();
    channel_->AddWatcher(this);
    armed_ = true;
  }

  void OnSend(const SimulatedMessage &message) override {
    if (scheduled()) return;
    loop_->scheduler()->Schedule(
        this, message.context.monotonic_event_time +
                  loop_->node_factory()->factory()->send_delay());
  }

  void Handle() override {
    SimulatedMessage *message = channel_->Get(next_index_);
    uint64_t lost = 0;
    if (message == nullptr &&
        fall_behind_policy() == FallBehindPolicy::kSkipToOldest) {
      lost = channel_->OldestIndex() - next_index_;
      RecordLostMessages(lost);
      next_index_ += lost;
      message = channel_->Get(next_index_);
    }
    if (message == nullptr) {
      loop_->SendTimingReport();
      LOG(FATAL) << "Got behind on "
                 << configuration::StrippedChannelToString(channel())
                 << (loop_->node() == nullptr
                         ? std::string()
                         : " on " + loop_->node()->name()->str())
                 << ": the watcher of " << loop_->name()
                 << " fell more than a queue behind.";
    }
    // Holds the message through the callback, even if it is overwritten.
    const MessageRef hold(message);
    ++next_index_;
    if (next_index_ < channel_->next_index()) {
      SimulatedMessage *next = channel_->Get(next_index_);
      loop_->scheduler()->Schedule(
          this, next == nullptr
                    ? loop_->monotonic_now()
                    : next->context.monotonic_event_time +
                          loop_->node_factory()->factory()->send_delay());
    }
    const ScopedMarkRealtimeRestorer realtime(loop_->handlers_realtime());
    Context context = message->context;
    context.lost_messages = lost;
    if (no_arg_) {
      context.data = nullptr;
      context.buffer_index = -1;
    }
    CallCallback(context);
  }

 private:
  SimulatedEventLoop *const loop_;
  SimulatedChannel *const channel_;
  const bool no_arg_;
  bool armed_ = false;
  uint64_t next_index_ = 0;
};

class SimulatedTimerHandler final : public TimerHandler,
                                    public EventScheduler::Event {
 public:
  SimulatedTimerHandler(SimulatedEventLoop *loop, std::function<void()> fn)
      : TimerHandler(loop, std::move(fn)), loop_(loop) {}
  ~SimulatedTimerHandler() override { loop_->scheduler()->Deschedule(this); }

  void Disable() override {
    loop_->scheduler()->Deschedule(this);
    disabled_ = true;
  }
  bool IsDisabled() override { return disabled_; }

  void Handle() override {
    const monotonic_clock::time_point event_time = time();
    if (repeat_offset_ > monotonic_clock::zero()) {
      // Rescheduled before the callback, so the callback may change it.
      loop_->scheduler()->Schedule(
          this, NextRepeat(event_time, repeat_offset_, loop_->monotonic_now()));
    } else {
      disabled_ = true;
    }
    const ScopedMarkRealtimeRestorer realtime(loop_->handlers_realtime());
    Call(event_time);
  }

 protected:
  void DoSchedule(monotonic_clock::time_point base,
                  monotonic_clock::duration repeat_offset) override {
    const ScopedNotRealtime not_realtime;
    repeat_offset_ = repeat_offset;
    disabled_ = false;
    loop_->scheduler()->Schedule(this, base);
  }

 private:
  SimulatedEventLoop *const loop_;
  monotonic_clock::duration repeat_offset_ = monotonic_clock::zero();
  bool disabled_ = true;
};

class SimulatedPhasedLoopHandler final : public PhasedLoopHandler,
                                         public EventScheduler::Event {
 public:
  SimulatedPhasedLoopHandler(SimulatedEventLoop *loop,
                             std::function<void(int)> fn,
                             monotonic_clock::duration interval,
                             monotonic_clock::duration offset)
      : PhasedLoopHandler(loop, std::move(fn), interval, offset), loop_(loop) {}
  ~SimulatedPhasedLoopHandler() override {
    loop_->scheduler()->Deschedule(this);
  }

  void Handle() override {
    const ScopedMarkRealtimeRestorer realtime(loop_->handlers_realtime());
    Call();
  }

 private:
  void Schedule(monotonic_clock::time_point sleep_time) override {
    const ScopedNotRealtime not_realtime;
    loop_->scheduler()->Schedule(this, sleep_time);
  }

  SimulatedEventLoop *const loop_;
};

}  // namespace

SimulatedEventLoop::SimulatedEventLoop(NodeEventLoopFactory *node,
                                       std::string_view name,
                                       EventLoopOptions options, int pid)
    : EventLoop(node->factory()->configuration()),
      node_(node),
      name_(name),
      options_(std::move(options)),
      pid_(pid) {
  ClearContext();
  if (node_->skip_timing_report_) SkipTimingReport();
  node_->event_loops_.push_back(this);
  // A loop made on a running node starts at the next run; the others start
  // with their node's boot.
  if (node_->is_up()) ScheduleStart();
}

SimulatedEventLoop::~SimulatedEventLoop() {
  set_is_running(false);
  scheduler()->Deschedule(&start_event_);
  DeleteAllEvents();
  auto it =
      std::find(node_->event_loops_.begin(), node_->event_loops_.end(), this);
  CHECK(it != node_->event_loops_.end());
  node_->event_loops_.erase(it);
  // Destroyed between its boot's two steps (by another node's startup):
  // nothing is left to start.
  std::erase(node_->starting_loops_, this);
}

void SimulatedEventLoop::ScheduleStart() {
  if (!start_event_.scheduled()) {
    scheduler()->Schedule(&start_event_, monotonic_now());
  }
}

SimulatedWatcher *SimulatedEventLoop::Watcher(size_t index) const {
  return static_cast<SimulatedWatcher *>(watchers()[index].get());
}

bool SimulatedEventLoop::Prepare() {
  scheduler()->Deschedule(&start_event_);
  // Too many watchers is an error at start, as in shared memory (design
  // decision 1). Count before arming, so a failure changes nothing.
  for (size_t i = 0; i < watchers().size(); ++i) {
    SimulatedWatcher *watcher = Watcher(i);
    if (watcher->armed()) continue;
    size_t wanted = watcher->simulated_channel()->armed_watchers() + 1;
    for (size_t j = 0; j < i; ++j) {
      if (!Watcher(j)->armed() &&
          Watcher(j)->simulated_channel() == watcher->simulated_channel()) {
        ++wanted;
      }
    }
    const Channel *channel = watcher->channel();
    if (wanted > static_cast<size_t>(channel->num_watchers())) {
      node_->factory()->Fail(MakeError(
          "Too many watchers on " +
          configuration::StrippedChannelToString(channel) +
          ": all of its num_watchers (" +
          std::to_string(channel->num_watchers()) +
          ") slots are held by event loops of the simulated node.  Raise "
          "num_watchers for the channel in the configuration, or watch it "
          "from fewer event loops."));
      return false;
    }
  }
  Result<void> prepared = PrepareToRun();
  if (!prepared.has_value()) {
    node_->factory()->Fail(std::move(prepared));
    return false;
  }
  for (size_t i = 0; i < watchers().size(); ++i) {
    if (!Watcher(i)->armed()) Watcher(i)->Arm();
  }
  started_ = true;
  set_is_running(node_->factory()->scheduler_scheduler_.is_running());
  return true;
}

void SimulatedEventLoop::RunOnRun() {
  const monotonic_clock::time_point now = monotonic_now();
  SimulatedEventLoopFactory *factory = node_->factory();
  const SimulatedEventLoop *outer = factory->in_on_run_;
  factory->in_on_run_ = this;
  // OnRun callbacks may register more; run those too.
  while (on_run_done_ < on_run_.size()) {
    SetTimerContext(now);
    const ScopedMarkRealtimeRestorer realtime(handlers_realtime());
    on_run_[on_run_done_++]();
  }
  factory->in_on_run_ = outer;
  ClearContext();
}

std::unique_ptr<RawSender> SimulatedEventLoop::MakeRawSender(
    const Channel *channel) {
  return std::make_unique<SimulatedSender>(this, channel);
}

std::unique_ptr<RawFetcher> SimulatedEventLoop::MakeRawFetcher(
    const Channel *channel) {
  CheckReadableHere(channel);
  return std::make_unique<SimulatedFetcher>(this, channel);
}

void SimulatedEventLoop::MakeRawWatcher(
    const Channel *channel,
    std::function<void(const Context &context, const void *message)> watcher) {
  NewWatcher(std::make_unique<SimulatedWatcher>(this, channel,
                                                std::move(watcher), false));
  // Made between runs on a started loop: armed at the next run, like a
  // shared-memory watcher made between two Run() calls.
  if (started_) ScheduleStart();
}

void SimulatedEventLoop::MakeRawNoArgWatcher(
    const Channel *channel,
    std::function<void(const Context &context)> watcher) {
  NewWatcher(std::make_unique<SimulatedWatcher>(
      this, channel,
      [watcher = std::move(watcher)](const Context &context, const void *) {
        watcher(context);
      },
      true));
  if (started_) ScheduleStart();
}

TimerHandler *SimulatedEventLoop::AddTimer(std::function<void()> callback) {
  return NewTimer(
      std::make_unique<SimulatedTimerHandler>(this, std::move(callback)));
}

PhasedLoopHandler *SimulatedEventLoop::AddPhasedLoop(
    std::function<void(int)> callback, monotonic_clock::duration interval,
    monotonic_clock::duration offset) {
  return NewPhasedLoop(std::make_unique<SimulatedPhasedLoopHandler>(
      this, std::move(callback), interval, offset));
}

void SimulatedEventLoop::OnRun(std::function<void()> on_run) {
  CHECK(!is_running()) << ": Cannot register OnRun callback while running.";
  on_run_.push_back(std::move(on_run));
  // Registered between runs on a started loop: it runs at the next run, as
  // with ShmEventLoop's next Run().
  if (started_) ScheduleStart();
}

// The scheduler's view of a node's boots.
class NodeEventLoopFactory::Hooks final
    : public EventSchedulerScheduler::NodeHooks {
 public:
  explicit Hooks(NodeEventLoopFactory *node) : node_(node) {}
  void Startup() override { node_->Startup(); }
  void Started() override { node_->Started(); }
  void Shutdown() override { node_->Shutdown(); }

 private:
  NodeEventLoopFactory *const node_;
};

// Runs the OnStartup handlers added while the node was up, at the next run.
class NodeEventLoopFactory::LateStartupEvent final
    : public EventScheduler::Event {
 public:
  explicit LateStartupEvent(NodeEventLoopFactory *node) : node_(node) {}
  void Handle() override {
    const bool creating = node_->creating_applications_;
    node_->creating_applications_ = true;
    node_->RunStartupHandlers();
    node_->creating_applications_ = creating;
  }

 private:
  NodeEventLoopFactory *const node_;
};

NodeEventLoopFactory::NodeEventLoopFactory(SimulatedEventLoopFactory *factory,
                                           const Node *node, size_t node_index)
    : factory_(factory),
      node_(node),
      scheduler_(node_index, &factory->scheduler_scheduler_),
      hooks_(std::make_unique<Hooks>(this)),
      boot_uuid_(factory->NextBootUUID()),
      late_startup_event_(std::make_unique<LateStartupEvent>(this)) {
  const size_t channels = factory->configuration()->channels() == nullptr
                              ? 0
                              : factory->configuration()->channels()->size();
  channels_.resize(channels);
}

NodeEventLoopFactory::~NodeEventLoopFactory() {
  scheduler_.Deschedule(late_startup_event_.get());
  // Applications go first: they own event loops.
  for (auto &application : applications_) {
    application->main.reset();
    application->event_loop.reset();
  }
  applications_.clear();
  CHECK(event_loops_.empty())
      << ": event loop " << event_loops_.front()->name()
      << " outlived its SimulatedEventLoopFactory; destroy event loops "
         "before the factory.";
}

bool NodeEventLoopFactory::is_up() const {
  return factory_->scheduler_scheduler_.node_up(scheduler_.node_index());
}

std::unique_ptr<EventLoop> NodeEventLoopFactory::MakeEventLoop(
    std::string_view name, EventLoopOptions options) {
  CHECK(!factory_->scheduler_scheduler_.is_running() ||
        creating_applications_ || factory_->world_stopped_)
      << ": Can't create an event loop while running (" << name
      << "); make it before running, start it as an application "
         "(AlwaysStart, OnStartup), or make it inside "
         "AllowApplicationCreationDuring.";
  return std::make_unique<SimulatedEventLoop>(this, name, std::move(options),
                                              next_pid_++);
}

void NodeEventLoopFactory::OnStartup(std::function<void()> fn) {
  CHECK(!factory_->scheduler_scheduler_.is_running())
      << ": Can only register OnStartup handlers when not running.";
  on_startup_.push_back(std::move(fn));
  // This boot ran its handlers already: run the new one at the next run,
  // for this boot too (as upstream), not only from the next boot on.
  if (is_up() && !late_startup_event_->scheduled()) {
    scheduler_.Schedule(late_startup_event_.get(), monotonic_now());
  }
}

void NodeEventLoopFactory::RunStartupHandlers() {
  const bool outer = in_startup_handlers_;
  in_startup_handlers_ = true;
  // Indexed: a handler may add applications (not handlers: not while
  // running).
  while (startup_handlers_run_ < on_startup_.size()) {
    on_startup_[startup_handlers_run_++]();
  }
  in_startup_handlers_ = outer;
}

void NodeEventLoopFactory::OnShutdown(std::function<void()> fn) {
  on_shutdown_.push_back(std::move(fn));
}

void *NodeEventLoopFactory::AddApplication(
    std::string name, std::function<std::shared_ptr<void>(EventLoop *)> make) {
  // From an OnStartup handler, which runs again at every boot: for this
  // boot only, or the next boot would have two instances.
  applications_.push_back(std::make_unique<Application>(
      Application{std::move(name), std::move(make), nullptr, nullptr,
                  in_startup_handlers_}));
  Application *application = applications_.back().get();
  // Between a shutdown and the next startup the node is down; the
  // application starts with the next boot.
  if (!shut_down_) StartApplication(application);
  return application->main.get();
}

void NodeEventLoopFactory::StartApplication(Application *application) {
  const bool creating = creating_applications_;
  creating_applications_ = true;
  application->event_loop = MakeEventLoop(application->name);
  application->main = application->make(application->event_loop.get());
  creating_applications_ = creating;
}

void NodeEventLoopFactory::Stop(void *main) {
  // May be called from a handler marked realtime; this is bookkeeping.
  const ScopedNotRealtime not_realtime;
  auto it =
      std::find_if(applications_.begin(), applications_.end(),
                   [main](const std::unique_ptr<Application> &application) {
                     return application->main.get() == main;
                   });
  CHECK(it != applications_.end())
      << ": Stop() of an application that is not running on this node";
  std::shared_ptr<Application> application(std::move(*it));
  applications_.erase(it);
  // It may be stopping itself from one of its callbacks: finish that first.
  factory_->scheduler_scheduler_.RunAfterEvent([application]() {
    SimLoop(application->event_loop.get())->SetRunning(false);
    application->main.reset();
    application->event_loop.reset();
  });
}

void NodeEventLoopFactory::AddSendListener(
    const Channel *channel,
    std::function<void(const simulated_internal::MessageRef &)> fn) {
  GetSimulatedChannel(channel)->AddListener(std::move(fn));
}

SimulatedChannel *NodeEventLoopFactory::GetSimulatedChannel(
    const Channel *channel) {
  const size_t index =
      configuration::ChannelIndex(factory_->configuration(), channel);
  std::unique_ptr<SimulatedChannel> &result = channels_[index];
  if (result == nullptr) {
    result = std::make_unique<SimulatedChannel>(this, factory_->configuration(),
                                                channel);
  }
  return result.get();
}

void NodeEventLoopFactory::Startup() {
  shut_down_ = false;
  creating_applications_ = true;
  // Every handler runs now, the late ones too.
  scheduler_.Deschedule(late_startup_event_.get());
  startup_handlers_run_ = 0;
  RunStartupHandlers();
  for (size_t i = 0; i < applications_.size(); ++i) {
    if (applications_[i]->main == nullptr) {
      StartApplication(applications_[i].get());
    }
  }
  creating_applications_ = false;
  // Every loop of the boot arms its watchers before any OnRun callback
  // runs, so a message sent from one loop's OnRun reaches the others (of
  // every node booting at this instant: Started() runs the callbacks once
  // they all did this).
  starting_loops_.clear();
  for (SimulatedEventLoop *loop : event_loops_) {
    if (!loop->started() && loop->Prepare()) starting_loops_.push_back(loop);
  }
}

void NodeEventLoopFactory::Started() {
  // In construction order. Moved out: an OnRun callback may make loops.
  std::vector<SimulatedEventLoop *> loops = std::move(starting_loops_);
  starting_loops_.clear();
  for (SimulatedEventLoop *loop : loops) loop->RunOnRun();
}

void NodeEventLoopFactory::Shutdown() {
  // Loops stop running first, so their senders may be destroyed.
  for (SimulatedEventLoop *loop : event_loops_) loop->SetRunning(false);
  for (size_t i = 0; i < on_shutdown_.size(); ++i) on_shutdown_[i]();
  for (auto &application : applications_) {
    application->main.reset();
    application->event_loop.reset();
  }
  // Those an OnStartup handler made: it makes them again at the next boot.
  std::erase_if(applications_,
                [](const std::unique_ptr<Application> &application) {
                  return application->this_boot_only;
                });
  starting_loops_.clear();
  startup_handlers_run_ = 0;
  CHECK(event_loops_.empty())
      << ": Event loop " << event_loops_.front()->name() << " on node "
      << (node_ == nullptr ? std::string("(singlenode)") : node_->name()->str())
      << " still exists when its boot " << boot_count()
      << " ends; destroy it in an OnShutdown handler, or make it an "
         "application (AlwaysStart).";
  // Messages do not survive a reboot.
  for (auto &channel : channels_) {
    if (channel != nullptr) channel->Clear();
  }
  boot_uuid_ = factory_->NextBootUUID();
  shut_down_ = true;
}

class SimulatedEventLoopFactory::SimulatedExitHandle final : public ExitHandle {
 public:
  explicit SimulatedExitHandle(SimulatedEventLoopFactory *factory)
      : factory_(factory) {
    ++factory_->exit_handle_count_;
  }
  ~SimulatedExitHandle() override { --factory_->exit_handle_count_; }
  void Exit(Result<void> status) override { factory_->Exit(std::move(status)); }

 private:
  SimulatedEventLoopFactory *const factory_;
};

SimulatedEventLoopFactory::SimulatedEventLoopFactory(
    const Configuration *configuration)
    : configuration_(configuration) {
  CHECK(IsInitialized()) << ": Need to initialize AOS first.";
  const std::vector<const Node *> nodes =
      configuration::GetNodes(configuration_);
  for (size_t i = 0; i < nodes.size(); ++i) {
    node_factories_.push_back(std::unique_ptr<NodeEventLoopFactory>(
        new NodeEventLoopFactory(this, nodes[i], i)));
    node_factory_pointers_.push_back(node_factories_.back().get());
    scheduler_scheduler_.AddNode(node_factories_.back()->scheduler(),
                                 node_factories_.back()->hooks_.get());
  }
  if (configuration::MultiNode(configuration_)) {
    bridge_ = std::make_unique<message_bridge::SimulatedMessageBridge>(this);
  }
}

SimulatedEventLoopFactory::~SimulatedEventLoopFactory() {
  CHECK_EQ(exit_handle_count_, 0)
      << ": All ExitHandles must be destroyed before the factory";
  bridge_.reset();
  node_factories_.clear();
}

std::unique_ptr<EventLoop> SimulatedEventLoopFactory::MakeEventLoop(
    std::string_view name, const Node *node) {
  if (node == nullptr) {
    CHECK(!configuration::MultiNode(configuration_))
        << ": Can't make a single node event loop in a multi-node world.";
  } else {
    CHECK(configuration::MultiNode(configuration_))
        << ": Can't make a multi-node event loop in a single-node world.";
  }
  return GetNodeEventLoopFactory(node)->MakeEventLoop(name);
}

NodeEventLoopFactory *SimulatedEventLoopFactory::GetNodeEventLoopFactory(
    const Node *node) {
  const int index = configuration::GetNodeIndex(configuration_, node);
  return node_factory_pointers_[index];
}

NodeEventLoopFactory *SimulatedEventLoopFactory::GetNodeEventLoopFactory(
    std::string_view node_name) {
  const Node *node = configuration::GetNode(configuration_, node_name);
  CHECK(node != nullptr) << ": no node named \"" << node_name
                         << "\" in the configuration";
  return GetNodeEventLoopFactory(node);
}

void SimulatedEventLoopFactory::SetTimeConverter(TimeConverter *converter) {
  scheduler_scheduler_.SetTimeConverter(converter);
}

UUID SimulatedEventLoopFactory::NextBootUUID() {
  uint8_t bytes[UUID::kDataSize];
  for (size_t i = 0; i < UUID::kDataSize; i += 8) {
    const uint64_t value = uuid_generator_();
    memcpy(bytes + i, &value, 8);
  }
  // A version 4 (random) UUID, like UUID::Random().
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  return UUID::FromSpan(std::span<const uint8_t>(bytes, UUID::kDataSize));
}

Result<void> SimulatedEventLoopFactory::RunInternal(
    distributed_clock::time_point end) {
  if (failure_.has_value()) {
    return MakeError(
        "the simulation failed in an earlier run, so nothing ran: " +
        failure_->message());
  }
  exit_status_set_ = false;
  exit_status_ = {};
  for (NodeEventLoopFactory *node : node_factory_pointers_) {
    for (SimulatedEventLoop *loop : node->event_loops_) loop->SetRunning(true);
  }
  scheduler_scheduler_.RunUntil(end);
  for (NodeEventLoopFactory *node : node_factory_pointers_) {
    for (SimulatedEventLoop *loop : node->event_loops_) {
      loop->SetRunning(false);
    }
  }
  if (!exit_status_set_) return {};
  return std::move(exit_status_);
}

Result<void> SimulatedEventLoopFactory::Run() {
  return RunInternal(distributed_clock::max_time);
}

Result<void> SimulatedEventLoopFactory::RunFor(
    distributed_clock::duration duration) {
  CHECK_GE(duration.count(), 0) << ": RunFor needs a non-negative duration";
  return RunInternal(distributed_now() + duration);
}

Result<SimulatedEventLoopFactory::RunEndState>
SimulatedEventLoopFactory::RunUntil(realtime_clock::time_point time,
                                    const Node *node) {
  NodeEventLoopFactory *node_factory = GetNodeEventLoopFactory(node);
  if (time < node_factory->realtime_now()) {
    std::ostringstream message;
    message << "RunUntil(" << time << ") is in the past: the realtime clock "
            << "already reads " << node_factory->realtime_now();
    return MakeError(message.str());
  }
  const monotonic_clock::time_point monotonic =
      monotonic_clock::epoch() +
      (time.time_since_epoch() - node_factory->scheduler()->realtime_offset());
  Result<void> result =
      RunInternal(node_factory->ToDistributedClock(monotonic));
  if (!result.has_value()) return std::unexpected(std::move(result.error()));
  return scheduler_scheduler_.HasPendingEvents()
             ? RunEndState::kEventsRemaining
             : RunEndState::kFinishedEventProcessing;
}

void SimulatedEventLoopFactory::Exit(Result<void> status) {
  if (!exit_status_set_) {
    exit_status_set_ = true;
    exit_status_ = std::move(status);
  }
  scheduler_scheduler_.Exit();
}

void SimulatedEventLoopFactory::Fail(Result<void> status) {
  // The failure sticks: later runs return it and simulate nothing.
  if (!failure_.has_value() && !status.has_value()) failure_ = status.error();
  if (!exit_status_set_) {
    exit_status_set_ = true;
    exit_status_ = std::move(status);
  }
  // Unlike Exit(), nothing more runs, not even what is due now.
  scheduler_scheduler_.ExitNow();
}

std::unique_ptr<ExitHandle> SimulatedEventLoopFactory::MakeExitHandle() {
  return std::make_unique<SimulatedExitHandle>(this);
}

void SimulatedEventLoopFactory::set_send_delay(
    std::chrono::nanoseconds send_delay) {
  CHECK_GE(send_delay.count(), 0) << ": the send delay cannot be negative";
  send_delay_ = send_delay;
}

void SimulatedEventLoopFactory::set_network_delay(
    std::chrono::nanoseconds network_delay) {
  CHECK_GE(network_delay.count(), 0)
      << ": the network delay cannot be negative";
  network_delay_ = network_delay;
}

void SimulatedEventLoopFactory::SkipTimingReport() {
  for (NodeEventLoopFactory *node : node_factory_pointers_) {
    node->SkipTimingReport();
  }
}

void SimulatedEventLoopFactory::PermanentlyDisableStatistics() {
  CHECK(bridge_ != nullptr)
      << ": PermanentlyDisableStatistics needs a multi-node configuration";
  CHECK(!scheduler_scheduler_.is_running())
      << ": PermanentlyDisableStatistics destroys the message bridge's "
         "statistics senders; call it between runs, not from a callback.";
  bridge_->PermanentlyDisableStatistics();
}

void SimulatedEventLoopFactory::AllowApplicationCreationDuring(
    std::function<void()> fn) {
  CHECK(in_on_run_ == nullptr)
      << ": AllowApplicationCreationDuring called from an OnRun callback of "
      << in_on_run_->name()
      << ": the world cannot be stopped while loops are starting.  Call it "
         "from a timer or watcher callback, or before running.";
  CHECK(!world_stopped_) << ": AllowApplicationCreationDuring cannot nest";
  if (!scheduler_scheduler_.is_running()) {
    // Between runs, making loops is allowed anyway.
    fn();
    return;
  }
  std::vector<std::vector<SimulatedEventLoop *>> before;
  for (NodeEventLoopFactory *node : node_factory_pointers_) {
    before.push_back(node->event_loops_);
    for (SimulatedEventLoop *loop : node->event_loops_) loop->SetRunning(false);
  }
  world_stopped_ = true;
  fn();
  world_stopped_ = false;
  // The new loops start now, together, like the loops of a boot: first all
  // arm their watchers, then the OnRun callbacks run.
  std::vector<SimulatedEventLoop *> prepared;
  for (size_t i = 0; i < node_factory_pointers_.size(); ++i) {
    NodeEventLoopFactory *node = node_factory_pointers_[i];
    for (SimulatedEventLoop *loop : node->event_loops_) {
      const bool is_new = std::find(before[i].begin(), before[i].end(), loop) ==
                          before[i].end();
      if (is_new && node->is_up() && !loop->started() && loop->Prepare()) {
        prepared.push_back(loop);
      }
    }
  }
  for (NodeEventLoopFactory *node : node_factory_pointers_) {
    for (SimulatedEventLoop *loop : node->event_loops_) loop->SetRunning(true);
  }
  for (SimulatedEventLoop *loop : prepared) loop->RunOnRun();
}

void SimulatedEventLoopFactory::DisableForwarding(const Channel *channel) {
  CHECK(bridge_ != nullptr)
      << ": DisableForwarding needs a multi-node configuration";
  bridge_->DisableForwarding(channel);
}

void SimulatedEventLoopFactory::DisableStatistics() {
  CHECK(bridge_ != nullptr)
      << ": DisableStatistics needs a multi-node configuration";
  bridge_->DisableStatistics();
}

void SimulatedEventLoopFactory::EnableStatistics() {
  CHECK(bridge_ != nullptr)
      << ": EnableStatistics needs a multi-node configuration";
  bridge_->EnableStatistics();
}

void NodeEventLoopFactory::DisableStatistics() {
  CHECK(factory_->bridge_ != nullptr)
      << ": DisableStatistics needs a multi-node configuration";
  factory_->bridge_->DisableStatistics(node_index());
}

void NodeEventLoopFactory::EnableStatistics() {
  CHECK(factory_->bridge_ != nullptr)
      << ": EnableStatistics needs a multi-node configuration";
  factory_->bridge_->EnableStatistics(node_index());
}

void NodeEventLoopFactory::Disconnect(const Node *other) {
  CHECK(factory_->bridge_ != nullptr)
      << ": Disconnect needs a multi-node configuration";
  factory_->bridge_->SetConnected(node_, other, false);
}

void NodeEventLoopFactory::Connect(const Node *other) {
  CHECK(factory_->bridge_ != nullptr)
      << ": Connect needs a multi-node configuration";
  factory_->bridge_->SetConnected(node_, other, true);
}

}  // namespace aos
