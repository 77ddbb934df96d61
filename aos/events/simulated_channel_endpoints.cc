// SimulatedEventLoop's senders, fetchers and watchers: the loop's ends of
// a SimulatedChannel (simulated_channel.h), and Prepare(), which arms the
// watchers when the loop starts.

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "aos/events/simulated_event_loop_internal.h"
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
    // Exclusive senders exist for log replay: say how to let an
    // application re-run in replay send on a replayed channel.
    CHECK(channel_->exclusive_sender == nullptr)
        << ": Attempted to create a new sender on exclusive channel "
        << configuration::StrippedChannelToString(channel) << " from "
        << loop->name() << " (loop "
        << channel_->exclusive_sender->event_loop()->name()
        << ", made with ExclusiveSenders::kYes, e.g. log replay, already "
           "sends on it).  To re-run an application that sends on "
        << channel->name()->string_view()
        << " in replay, remap the logged channel with "
           "LogReader::RemapLoggedChannel(\""
        << channel->name()->string_view() << "\", \""
        << channel->type()->string_view()
        << "\") before Register: the log's messages then replay on /original"
        << channel->name()->string_view() << " and " << loop->name()
        << " can send on " << channel->name()->string_view() << ".";
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
    // Copied to where a message built in place ends, then sent as one.
    if (length > 0) {
      const ScopedNotRealtime not_realtime;
      memcpy(Scratch()->buffer() + channel_->max_size() - length, data, length);
    }
    return DoSend(length, monotonic_remote_time, realtime_remote_time,
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
      channel_->AddPinningReader();
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
  // The FetchNextIf loop without a virtual call, a clock read or context
  // copies per message: a message is visited in place (its stored context
  // has lost_messages 0), and only the last one's context is copied into
  // context_ (or one that follows a skip, to carry lost_messages).
  size_t DoFetchNextUntil(monotonic_clock::time_point until,
                          ContextPredicate visit) override {
    size_t fetched = 0;
    const monotonic_clock::time_point now = event_loop()->monotonic_now();
    SimulatedMessage *last = nullptr;
    while (next_index_ < channel_->next_index()) {
      SimulatedMessage *message = NextMessage();
      if (message->context.monotonic_event_time > until) break;
      current_ = MessageRef(message);
      held_index_ = next_index_;
      ++next_index_;
      ++fetched;
      const Context *context = &message->context;
      if (pending_lost_ != 0) [[unlikely]] {
        context_ = message->context;
        context_.lost_messages = pending_lost_;
        pending_lost_ = 0;
        context = &context_;
        last = nullptr;
      } else {
        last = message;
      }
      RecordFetchAt(*context, now);
      if (!visit(*context)) break;
    }
    if (last != nullptr) context_ = last->context;
    return fetched;
  }

 private:
  // The message at next_index_ (< channel_->next_index()), skipping ahead
  // under kSkipToOldest if it left the ring; dies if it did otherwise.
  SimulatedMessage *NextMessage() {
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
    return message;
  }

  bool FetchNextIf(const ContextPredicate *predicate) {
    if (next_index_ >= channel_->next_index()) return false;
    SimulatedMessage *message = NextMessage();
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

}  // namespace

namespace simulated_internal {

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
      channel_->AddPinningReader();
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

}  // namespace simulated_internal

using simulated_internal::SimulatedWatcher;

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

}  // namespace aos
