#include "aos/events/event_loop.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>

#include "aos/logging/log_message.h"
#include "aos/logging/logging.h"

DEFINE_bool(timing_reports, true,
            "Publish timing reports (aos.timing.Report on /aos).");
DEFINE_int32(timing_report_ms, 1000,
             "Period in milliseconds between timing reports.");

namespace aos {
namespace {

std::optional<std::string> &DefaultVersionString() {
  static std::optional<std::string> version;
  return version;
}

}  // namespace

namespace internal {

// An event loop's AOS_LOG destination (see aos/logging/logging.h). Made
// before the loop runs; logging then formats into text_ and builds the
// message in the sender's own buffer, so it never allocates.
class AosLogSender final : public logging::LogImplementation {
 public:
  AosLogSender(Sender<logging::LogMessageFbs> sender, std::string_view name,
               pid_t pid, size_t text_capacity)
      : sender_(std::move(sender)),
        name_(name),
        pid_(pid),
        text_(text_capacity) {}

  void DoLog(logging::Level level, const char *file, int line,
             const char *format, va_list args) override {
    const std::string_view text =
        logging::FormatLogText(text_, file, line, format, args);
    Sender<logging::LogMessageFbs>::Builder builder = sender_.MakeBuilder();
    const RawSender::Error error = builder.Send(logging::BuildLogMessage(
        builder.fbb(), level, pid_, name_, send_failures_, text));
    // A full channel loses the message, not the loop: the next one that
    // gets through says how many were lost.
    send_failures_ = error == RawSender::Error::kOk ? 0 : send_failures_ + 1;
  }

 private:
  Sender<logging::LogMessageFbs> sender_;
  // Fixed when the sender is made: LogTextCapacity counted this name.
  const std::string name_;
  const pid_t pid_;
  std::vector<char> text_;
  uint64_t send_failures_ = 0;
};

}  // namespace internal

namespace internal {
void DieChannelDataMisaligned(const void *data, size_t size) {
  LOG(FATAL) << "Check failed: (data + size) % " << kChannelDataAlignment
             << " == 0: the end of a message payload must be "
             << kChannelDataAlignment << "-byte aligned; data " << data
             << " size " << size;
}
}  // namespace internal

void ChannelPreallocatedAllocator::DieAllocated() const {
  LOG(FATAL) << "Check failed: !is_allocated_ : May not have multiple active "
                "allocators on a single sender"
             << (channel_ == nullptr
                     ? std::string()
                     : " (" + configuration::StrippedChannelToString(channel_) +
                           "): a Builder or detached buffer is still alive");
}

ChannelPreallocatedAllocator &ChannelPreallocatedAllocator::operator=(
    ChannelPreallocatedAllocator &&other) {
  if (is_allocated_) DieAllocated();
  CHECK(!other.is_allocated_) << ": moving an allocator in use";
  data_ = other.data_;
  size_ = other.size_;
  channel_ = other.channel_;
  static_arena_ = other.static_arena_;
  return *this;
}

ChannelPreallocatedAllocator::~ChannelPreallocatedAllocator() {
  CHECK(!is_allocated_) << ": a Builder or detached buffer outlived its "
                           "sender";
}

uint8_t *ChannelPreallocatedAllocator::allocate(size_t size) {
  CHECK(!is_allocated_)
      << ": May not have multiple active allocators on a single sender";
  // A Builder made before a static builder only allocates when it starts
  // building.
  CHECK(static_arena_ == nullptr || !static_arena_->active())
      << ": May not have multiple active allocators on a single sender ("
      << configuration::StrippedChannelToString(channel_)
      << "): a static builder is alive";
  CHECK_LE(size, size_) << ": Requested " << size << " bytes, but max size is "
                        << size_ << " for channel "
                        << configuration::StrippedChannelToString(channel_)
                        << ".  Increase max_size in the configuration.";
  is_allocated_ = true;
  return data_;
}

void ChannelPreallocatedAllocator::deallocate(uint8_t *, size_t) {
  is_allocated_ = false;
}

uint8_t *ChannelPreallocatedAllocator::reallocate_downward(uint8_t *,
                                                           size_t old_size,
                                                           size_t new_size,
                                                           size_t, size_t) {
  LOG(FATAL) << "Requested " << new_size << " bytes (had " << old_size
             << "), max size " << size_ << " for channel "
             << configuration::StrippedChannelToString(channel_)
             << ".  Increase max_size in the configuration.";
}

RawFetcher::RawFetcher(EventLoop *event_loop, const Channel *channel)
    : event_loop_(event_loop),
      channel_(channel),
      timing_(event_loop->ChannelIndex(channel)) {
  event_loop_->CheckChannel(channel_);
  event_loop_->NewFetcher(this);
}

RawFetcher::~RawFetcher() { event_loop_->DeleteFetcher(this); }

bool RawFetcher::RecordFetch(bool fetched) {
  if (fetched) RecordFetchAt(context_, event_loop_->monotonic_now());
  return fetched;
}

void RawFetcher::RecordFetchAt(const Context &context,
                               monotonic_clock::time_point now) {
  timing_.AddFetch(now - context.monotonic_event_time);
  if (context.data != nullptr) {
    CheckChannelDataAlignment(context.data, context.size);
  }
}

size_t RawFetcher::DoFetchNextUntil(monotonic_clock::time_point until,
                                    ContextPredicate visit) {
  const auto sent_by_then = [until](const Context &context) {
    return context.monotonic_event_time <= until;
  };
  size_t fetched = 0;
  while (FetchNextIf(sent_by_then)) {
    ++fetched;
    if (!visit(context_)) break;
  }
  return fetched;
}

void RawFetcher::RecordLostMessages(uint64_t count) {
  lost_messages_ += count;
  timing_.AddLost(count);
}

bool RawFetcher::FetchNext() { return RecordFetch(DoFetchNext()); }

bool RawFetcher::FetchNextIf(ContextPredicate predicate) {
  return RecordFetch(DoFetchNextIf(predicate));
}

bool RawFetcher::Fetch() { return RecordFetch(DoFetch()); }

bool RawFetcher::FetchIf(ContextPredicate predicate) {
  return RecordFetch(DoFetchIf(predicate));
}

RawSender::RawSender(EventLoop *event_loop, const Channel *channel)
    : event_loop_(event_loop),
      channel_(channel),
      timing_(event_loop->ChannelIndex(channel)) {
  event_loop_->CheckChannel(channel_);
  event_loop_->TakeSender(channel_);
  event_loop_->NewSender(this);
}

RawSender::~RawSender() { event_loop_->DeleteSender(this); }

void RawSender::CheckSize(size_t size) {
  CHECK_LE(size, this->size())
      << ": Sent too big a message on "
      << configuration::StrippedChannelToString(channel_);
}

RawSender::Error RawSender::RecordSend(Error err, size_t size) {
  switch (err) {
    case Error::kOk:
      timing_.AddSend(size);
      break;
    case Error::kMessagesSentTooFast:
      timing_.AddError(timing::SendError::MESSAGE_SENT_TOO_FAST);
      break;
    case Error::kInvalidRedzone:
      timing_.AddError(timing::SendError::INVALID_REDZONE);
      break;
  }
  return err;
}

RawSender::Error RawSender::Send(size_t size) {
  return Send(size, monotonic_clock::min_time, realtime_clock::min_time,
              monotonic_clock::min_time, Context::kInvalidQueueIndex,
              event_loop_->boot_uuid());
}

RawSender::Error RawSender::Send(
    size_t size, monotonic_clock::time_point monotonic_remote_time,
    realtime_clock::time_point realtime_remote_time,
    monotonic_clock::time_point monotonic_remote_transmit_time,
    uint32_t remote_queue_index, const UUID &source_boot_uuid) {
  CheckSize(size);
  return RecordSend(DoSend(size, monotonic_remote_time, realtime_remote_time,
                           monotonic_remote_transmit_time, remote_queue_index,
                           source_boot_uuid),
                    size);
}

RawSender::Error RawSender::Send(const void *data, size_t size) {
  return Send(data, size, monotonic_clock::min_time, realtime_clock::min_time,
              monotonic_clock::min_time, Context::kInvalidQueueIndex,
              event_loop_->boot_uuid());
}

RawSender::Error RawSender::Send(
    const void *data, size_t size,
    monotonic_clock::time_point monotonic_remote_time,
    realtime_clock::time_point realtime_remote_time,
    monotonic_clock::time_point monotonic_remote_transmit_time,
    uint32_t remote_queue_index, const UUID &source_boot_uuid) {
  CheckSize(size);
  return RecordSend(DoSend(data, size, monotonic_remote_time,
                           realtime_remote_time, monotonic_remote_transmit_time,
                           remote_queue_index, source_boot_uuid),
                    size);
}

RawSender::Error RawSender::Send(const SharedSpan data) {
  return Send(data, monotonic_clock::min_time, realtime_clock::min_time,
              monotonic_clock::min_time, Context::kInvalidQueueIndex,
              event_loop_->boot_uuid());
}

RawSender::Error RawSender::Send(
    const SharedSpan data, monotonic_clock::time_point monotonic_remote_time,
    realtime_clock::time_point realtime_remote_time,
    monotonic_clock::time_point monotonic_remote_transmit_time,
    uint32_t remote_queue_index, const UUID &source_boot_uuid) {
  const size_t size = data->size();
  CheckSize(size);
  return RecordSend(DoSend(std::move(data), monotonic_remote_time,
                           realtime_remote_time, monotonic_remote_transmit_time,
                           remote_queue_index, source_boot_uuid),
                    size);
}

RawSender::Error RawSender::DoSend(
    const SharedSpan data, monotonic_clock::time_point monotonic_remote_time,
    realtime_clock::time_point realtime_remote_time,
    monotonic_clock::time_point monotonic_remote_transmit_time,
    uint32_t remote_queue_index, const UUID &source_boot_uuid) {
  return DoSend(data->data(), data->size(), monotonic_remote_time,
                realtime_remote_time, monotonic_remote_transmit_time,
                remote_queue_index, source_boot_uuid);
}

void RawSender::CheckOk(const Error err) {
  if (err == Error::kOk) [[likely]] {
    return;
  }
  // Make the failure visible to tools before dying.
  event_loop_->SendTimingReport();
  switch (err) {
    case Error::kMessagesSentTooFast:
      LOG(FATAL) << "Messages were sent too fast on channel: "
                 << configuration::StrippedChannelToString(channel_)
                 << ".  The channel's frequency allows at most its queue "
                    "size of messages per storage duration; raise "
                    "\"frequency\" in the configuration or send less often.";
    case Error::kInvalidRedzone:
      LOG(FATAL) << "Invalid redzone on channel: "
                 << configuration::StrippedChannelToString(channel_)
                 << ".  Somebody wrote outside the buffer of their message.";
    case Error::kOk:
      break;
  }
}

ChannelPreallocatedAllocator *RawSender::fbb_allocator() {
  CHECK(!static_allocator_.active())
      << ": May not have multiple active allocators on a single sender ("
      << configuration::StrippedChannelToString(channel_)
      << "): a static builder is alive";
  fbb_allocator_.Reset(static_cast<uint8_t *>(data()), size());
  return &fbb_allocator_;
}

fbs::Arena *RawSender::static_allocator() {
  CHECK(!static_allocator_.active())
      << ": May not have multiple active allocators on a single sender ("
      << configuration::StrippedChannelToString(channel_)
      << "): a static builder is alive";
  CHECK(!fbb_allocator_.is_allocated())
      << ": May not have multiple active allocators on a single sender ("
      << configuration::StrippedChannelToString(channel_)
      << "): a Builder or detached buffer is alive";
  // data() may change with every send.
  static_allocator_.Reset(
      std::span<uint8_t>(static_cast<uint8_t *>(data()), size()));
  return &static_allocator_;
}

TimerHandler::TimerHandler(EventLoop *event_loop, std::function<void()> fn)
    : event_loop_(event_loop), fn_(std::move(fn)) {}

TimerHandler::~TimerHandler() = default;

void TimerHandler::Schedule(monotonic_clock::time_point base,
                            monotonic_clock::duration repeat_offset) {
  CHECK_GE(base, monotonic_clock::epoch())
      << ": Timer \"" << name_ << "\" scheduled at " << base
      << ", before the monotonic clock's epoch";
  CHECK_GE(repeat_offset.count(), 0)
      << ": Timer \"" << name_ << "\" needs a non-negative repeat offset";
  DoSchedule(base, repeat_offset);
}

void TimerHandler::set_name(std::string_view name) {
  name_ = std::string(name);
  event_loop_->UpdateTimingReport();
}

monotonic_clock::time_point TimerHandler::Call(
    monotonic_clock::time_point event_time) {
  const monotonic_clock::time_point start = event_loop_->monotonic_now();
  event_loop_->SetTimerContext(event_time);
  fn_();
  const monotonic_clock::time_point end = event_loop_->monotonic_now();
  timing_.AddCall(start - event_time, end - start);
  event_loop_->ClearContext();
  return end;
}

monotonic_clock::time_point TimerHandler::NextRepeat(
    monotonic_clock::time_point scheduled,
    monotonic_clock::duration repeat_offset, monotonic_clock::time_point now) {
  if (now < scheduled + repeat_offset) {
    return scheduled + repeat_offset;
  }
  // Missed repetitions are skipped, not caught up (design decision 4).
  return scheduled + ((now - scheduled) / repeat_offset + 1) * repeat_offset;
}

PhasedLoopHandler::PhasedLoopHandler(EventLoop *event_loop,
                                     std::function<void(int)> fn,
                                     monotonic_clock::duration interval,
                                     monotonic_clock::duration offset)
    : event_loop_(event_loop),
      fn_(std::move(fn)),
      phased_loop_(interval, event_loop->monotonic_now(), offset) {}

PhasedLoopHandler::~PhasedLoopHandler() = default;

void PhasedLoopHandler::set_interval_and_offset(
    monotonic_clock::duration interval, monotonic_clock::duration offset,
    std::optional<monotonic_clock::time_point> monotonic_now) {
  phased_loop_.set_interval_and_offset(interval, offset, monotonic_now);
}

void PhasedLoopHandler::Reschedule(monotonic_clock::time_point monotonic_now) {
  cycles_elapsed_ += phased_loop_.Iterate(monotonic_now);
  Schedule(phased_loop_.sleep_time());
}

void PhasedLoopHandler::set_name(std::string_view name) {
  name_ = std::string(name);
  event_loop_->UpdateTimingReport();
}

monotonic_clock::time_point PhasedLoopHandler::Call() {
  const monotonic_clock::time_point start = event_loop_->monotonic_now();
  const monotonic_clock::time_point event_time = phased_loop_.sleep_time();
  event_loop_->SetTimerContext(event_time);
  cycles_elapsed_ += phased_loop_.Iterate(start);
  // Cleared before the call so a Reschedule() from inside the callback
  // counts towards the next call.
  const int cycles = cycles_elapsed_;
  cycles_elapsed_ = 0;
  fn_(cycles);
  const monotonic_clock::time_point end = event_loop_->monotonic_now();
  timing_.AddCall(start - event_time, end - start);
  event_loop_->ClearContext();
  if (end > phased_loop_.sleep_time()) {
    // Overran the next wakeup: aim for the first phase after now instead of
    // firing late ones back to back.
    cycles_elapsed_ += phased_loop_.Iterate(end);
  }
  Schedule(phased_loop_.sleep_time());
  return end;
}

WatcherState::WatcherState(
    EventLoop *event_loop, const Channel *channel,
    std::function<void(const Context &, const void *)> fn)
    : event_loop_(event_loop),
      channel_(channel),
      fn_(std::move(fn)),
      timing_(event_loop->ChannelIndex(channel)) {
  event_loop_->CheckChannel(channel_);
  event_loop_->TakeWatcher(channel_);
}

WatcherState::~WatcherState() = default;

void WatcherState::RecordLostMessages(uint64_t count) {
  lost_messages_ += count;
  timing_.AddLost(count);
}

void EventLoop::SetWatcherFallBehindPolicy(const Channel *channel,
                                           FallBehindPolicy policy) {
  for (const std::unique_ptr<WatcherState> &watcher : watchers_) {
    if (watcher->channel() == channel) {
      watcher->fall_behind_policy_ = policy;
      return;
    }
  }
  LOG(FATAL) << ": SetWatcherFallBehindPolicy: " << name()
             << " has no watcher on "
             << configuration::StrippedChannelToString(channel);
}

uint64_t EventLoop::WatcherLostMessages(const Channel *channel) const {
  for (const std::unique_ptr<WatcherState> &watcher : watchers_) {
    if (watcher->channel() == channel) return watcher->lost_messages_;
  }
  LOG(FATAL) << ": WatcherLostMessages: " << name() << " has no watcher on "
             << configuration::StrippedChannelToString(channel);
  std::abort();
}

monotonic_clock::time_point WatcherState::CallCallback(const Context &context) {
  if (context.data != nullptr) {
    CheckChannelDataAlignment(context.data, context.size);
  }
  const monotonic_clock::time_point start = event_loop_->monotonic_now();
  event_loop_->context_ = context;
  event_loop_->SetAosLogContext();
  fn_(context, context.data);
  const monotonic_clock::time_point end = event_loop_->monotonic_now();
  timing_.AddCall(start - context.monotonic_event_time, end - start);
  event_loop_->ClearContext();
  return end;
}

EventLoop::EventLoop(const Configuration *configuration)
    : configuration_(configuration), runtime_affinity_(DefaultAffinity()) {
  CHECK(configuration_ != nullptr) << ": an EventLoop needs a configuration";
}

EventLoop::~EventLoop() {
  timing_report_sender_.reset();
  DestroyAosLogSender();
  CHECK(senders_.empty()) << ": Not all senders destroyed (" << senders_.size()
                          << " left, the first on "
                          << configuration::StrippedChannelToString(
                                 senders_.front()->channel())
                          << ")";
  CHECK(fetchers_.empty()) << ": Not all fetchers destroyed ("
                           << fetchers_.size() << " left, the first on "
                           << configuration::StrippedChannelToString(
                                  fetchers_.front()->channel())
                           << ")";
  CHECK(watchers_.empty() && timers_.empty() && phased_loops_.empty())
      << ": the EventLoop implementation must call DeleteAllEvents() in its "
         "destructor";
}

cpu_set_t EventLoop::DefaultAffinity() {
  static const cpu_set_t affinity = []() {
    cpu_set_t cpuset;
    PCHECK(sched_getaffinity(0, sizeof(cpuset), &cpuset) == 0);
    return cpuset;
  }();
  return affinity;
}

void EventLoop::SetRuntimeRealtimePriority(int priority) {
  CHECK(!is_running()) << ": Cannot set realtime priority while running.";
  CHECK_GE(priority, 0) << ": realtime priorities are 0 (not RT) to 99";
  CHECK_LE(priority, 99) << ": realtime priorities are 0 (not RT) to 99";
  runtime_realtime_priority_ = priority;
}

void EventLoop::SetRuntimeAffinity(const cpu_set_t &cpuset) {
  CHECK(!is_running()) << ": Cannot set affinity while running";
  runtime_affinity_ = cpuset;
}

pid_t EventLoop::GetTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

int EventLoop::NumberBuffers(const Channel *channel) {
  CheckChannel(channel);
  return static_cast<int>(configuration::QueueSize(configuration_, channel)) +
         configuration::QueueScratchBufferSize(channel);
}

void EventLoop::SetDefaultVersionString(std::string_view version) {
  DefaultVersionString() = std::string(version);
}

void EventLoop::SetVersionString(std::string_view version) {
  CHECK(!is_running()) << ": Can't do things that might alter the timing "
                          "report while running.";
  version_string_ = std::string(version);
  UpdateTimingReport();
}

std::optional<std::string_view> EventLoop::VersionString() const {
  if (version_string_.has_value()) return *version_string_;
  if (DefaultVersionString().has_value()) return *DefaultVersionString();
  return std::nullopt;
}

int EventLoop::ChannelIndex(const Channel *channel) const {
  const auto *channels = configuration_->channels();
  if (channels != nullptr) {
    for (flatbuffers::uoffset_t i = 0; i < channels->size(); ++i) {
      if (channels->Get(i) == channel) return static_cast<int>(i);
    }
  }
  LOG(FATAL) << "Channel pointer not found in configuration()->channels(): "
                "channels passed to the raw APIs must come from this event "
                "loop's configuration()";
}

void EventLoop::CheckChannel(const Channel *channel) const {
  ChannelIndex(channel);
  constexpr size_t kAlignment = alignof(flatbuffers::largest_scalar_t);
  CHECK_EQ(channel->max_size() % kAlignment, 0u)
      << ": max_size() (" << channel->max_size()
      << ") is not a multiple of alignment (" << kAlignment << ") for channel "
      << configuration::StrippedChannelToString(channel) << ".";
}

std::string EventLoop::NodeSuffix() const {
  if (node() == nullptr || node()->name() == nullptr) return "";
  return " on node " + node()->name()->str();
}

void EventLoop::DieChannelNotUsableHere(const Channel *channel,
                                        std::string_view verb) const {
  const std::string here = node() == nullptr || node()->name() == nullptr
                               ? std::string("this node")
                               : "\"" + node()->name()->str() + "\"";
  std::string where;
  if (channel->source_node() == nullptr) {
    where = "it has no source_node";
  } else {
    where = "its source_node is \"" + channel->source_node()->str() + "\"";
    if (verb != "sent") {
      where += ", and " + here + " is not among its destination_nodes";
    }
  }
  LOG(FATAL) << "Channel " << configuration::StrippedChannelToString(channel)
             << " is not able to be " << verb
             << " on this node.  Check your configuration: " << where << ".";
  std::abort();
}

bool EventLoop::HasWatcher(const Channel *channel) const {
  return std::find(taken_watchers_.begin(), taken_watchers_.end(), channel) !=
         taken_watchers_.end();
}

void EventLoop::TakeWatcher(const Channel *channel) {
  CHECK(!is_running()) << ": Cannot add new objects while running.  Tried to "
                          "make a watcher on "
                       << configuration::StrippedChannelToString(channel)
                       << " while running; make watchers before Run().";
  if (!configuration::ChannelIsReadableOnNode(channel, node())) {
    DieChannelNotUsableHere(channel, "watched");
  }
  CHECK(std::find(taken_senders_.begin(), taken_senders_.end(), channel) ==
        taken_senders_.end())
      << ": " << configuration::StrippedChannelToString(channel)
      << " is already being used for sending. Can't make a watcher on the "
         "same event loop.";
  CHECK(!HasWatcher(channel))
      << ": " << configuration::StrippedChannelToString(channel)
      << " is already being used: only one watcher per channel per event "
         "loop.";
  taken_watchers_.push_back(channel);
}

void EventLoop::TakeSender(const Channel *channel) {
  CHECK(!is_running()) << ": Cannot add new objects while running.  Tried to "
                          "make a sender on "
                       << configuration::StrippedChannelToString(channel)
                       << " while running; make senders before Run().";
  CHECK(!HasWatcher(channel))
      << ": " << configuration::StrippedChannelToString(channel)
      << " is already being used for watching. Can't make a sender on the "
         "same event loop.";
  if (std::find(taken_senders_.begin(), taken_senders_.end(), channel) ==
      taken_senders_.end()) {
    taken_senders_.push_back(channel);
  }
}

void EventLoop::NewSender(RawSender *sender) {
  senders_.push_back(sender);
  UpdateTimingReport();
}

void EventLoop::DeleteSender(RawSender *sender) {
  CHECK(!is_running()) << ": Cannot destroy a sender on "
                       << configuration::StrippedChannelToString(
                              sender->channel())
                       << " while running.";
  auto it = std::find(senders_.begin(), senders_.end(), sender);
  CHECK(it != senders_.end()) << ": unknown sender";
  senders_.erase(it);
  // Other senders on the channel may remain; the channel stays taken only if
  // one does.
  const Channel *channel = sender->channel();
  if (std::none_of(senders_.begin(), senders_.end(), [channel](RawSender *s) {
        return s->channel() == channel;
      })) {
    taken_senders_.erase(
        std::find(taken_senders_.begin(), taken_senders_.end(), channel));
  }
  UpdateTimingReport();
}

void EventLoop::NewFetcher(RawFetcher *fetcher) {
  fetchers_.push_back(fetcher);
  UpdateTimingReport();
}

void EventLoop::DeleteFetcher(RawFetcher *fetcher) {
  auto it = std::find(fetchers_.begin(), fetchers_.end(), fetcher);
  CHECK(it != fetchers_.end()) << ": unknown fetcher";
  fetchers_.erase(it);
  UpdateTimingReport();
}

WatcherState *EventLoop::NewWatcher(std::unique_ptr<WatcherState> watcher) {
  watchers_.emplace_back(std::move(watcher));
  UpdateTimingReport();
  return watchers_.back().get();
}

TimerHandler *EventLoop::NewTimer(std::unique_ptr<TimerHandler> timer) {
  timers_.emplace_back(std::move(timer));
  UpdateTimingReport();
  return timers_.back().get();
}

PhasedLoopHandler *EventLoop::NewPhasedLoop(
    std::unique_ptr<PhasedLoopHandler> phased_loop) {
  PhasedLoopHandler *handler = phased_loop.get();
  phased_loops_.emplace_back(std::move(phased_loop));
  UpdateTimingReport();
  // Phased loops start when the loop runs (or now, if it already is), from
  // the current time, so start-up delay is not counted as missed cycles.
  auto start = [this, handler]() {
    const monotonic_clock::time_point now = monotonic_now();
    handler->phased_loop_.Reset(now);
    handler->Reschedule(now);
    handler->cycles_elapsed_ = 0;
  };
  if (is_running()) {
    start();
  } else {
    OnRun(start);
  }
  return handler;
}

void EventLoop::DeleteAllEvents() {
  // The report sender goes first: destroying it while its timer exists
  // would rebuild the report.
  timing_report_sender_.reset();
  timing_report_timer_ = nullptr;
  DestroyAosLogSender();
  timers_.clear();
  phased_loops_.clear();
  watchers_.clear();
  taken_watchers_.clear();
}

void EventLoop::ClearContext() {
  context_ = Context();
  context_.source_boot_uuid = boot_uuid();
  // Only this loop's own sender: a loop made (and cleared) inside another
  // loop's handler must not take that handler's destination away.
  if (aos_log_sender_ != nullptr &&
      logging::GetThreadLogImplementation() == aos_log_sender_.get()) {
    logging::SetThreadLogImplementation(nullptr);
  }
}

void EventLoop::SetTimerContext(
    monotonic_clock::time_point monotonic_event_time) {
  ClearContext();
  context_.monotonic_event_time = monotonic_event_time;
  SetAosLogContext();
}

void EventLoop::SetAosLogContext() {
  logging::SetThreadLogImplementation(aos_log_sender_.get());
}

void EventLoop::SkipAosLog() {
  CHECK(!is_running()) << ": Cannot change where AOS_LOG goes while running; "
                          "call SkipAosLog() before Run().";
  skip_aos_log_ = true;
  DestroyAosLogSender();
}

void EventLoop::DestroyAosLogSender() {
  if (aos_log_sender_ == nullptr) return;
  if (logging::GetThreadLogImplementation() == aos_log_sender_.get()) {
    logging::SetThreadLogImplementation(nullptr);
  }
  aos_log_sender_.reset();
}

void EventLoop::MaybeMakeAosLogSender() {
  if (skip_aos_log_ || aos_log_sender_ != nullptr) return;
  const Channel *channel = configuration::GetChannel(
      configuration_, "/aos", logging::LogMessageFbs::GetFullyQualifiedName(),
      name(), node(), true);
  // Without a channel this loop may send on (none, another node's, or one
  // it watches), AOS_LOG goes to glog.
  if (channel == nullptr ||
      !configuration::ChannelIsSendableOnNode(channel, node()) ||
      HasWatcher(channel)) {
    return;
  }
  const size_t text_capacity =
      logging::LogTextCapacity(channel->max_size(), name());
  if (text_capacity == 0) {
    LOG(ERROR) << "max_size " << channel->max_size() << " of "
               << configuration::StrippedChannelToString(channel)
               << " leaves no room for log text from " << name()
               << "; AOS_LOG goes to glog.  Raise max_size (512 is usual).";
    return;
  }
  aos_log_sender_ = std::make_unique<internal::AosLogSender>(
      Sender<logging::LogMessageFbs>(MakeRawSender(channel)), name(), GetTid(),
      text_capacity);
}

Result<void> EventLoop::PrepareToRun() {
  MaybeMakeAosLogSender();
  return MaybeScheduleTimingReports();
}

Result<void> EventLoop::MaybeScheduleTimingReports() {
  if (!FLAGS_timing_reports || skip_timing_report_) return {};
  if (timing_report_sender_ == nullptr) {
    const Channel *channel = configuration::GetChannel(
        configuration_, "/aos", timing::Report::GetFullyQualifiedName(), name(),
        node(), true);
    const std::string wanted =
        "{ \"name\": \"/aos\", \"type\": \"aos.timing.Report\" }";
    if (channel == nullptr) {
      return MakeError(
          "Timing reports are on, but the configuration has no channel " +
          wanted + " for application " + std::string(name()) + NodeSuffix() +
          ".  Add that channel to the configuration, run with "
          "--timing_reports=false, or call SkipTimingReport() on the event "
          "loop.");
    }
    if (!configuration::ChannelIsSendableOnNode(channel, node())) {
      return MakeError("Timing report channel " + wanted + " is not sendable" +
                       NodeSuffix() +
                       ".  Make this node its source_node, or run with "
                       "--timing_reports=false.");
    }
    if (HasWatcher(channel)) {
      // A loop watching the reports (a monitoring tool) cannot also send
      // them: a loop never watches and sends on one channel.
      VLOG(1) << name() << " watches " << wanted
              << ", so it sends no timing reports of its own.";
      return {};
    }
    timing_report_sender_ = MakeRawSender(channel);
    timing_report_timer_ = AddTimer([this]() { SendTimingReport(); });
    timing_report_timer_->set_name("timing_reports");
  }
  if (timing_report_timer_ != nullptr) {
    const std::chrono::milliseconds period(FLAGS_timing_report_ms);
    timing_report_timer_->Schedule(monotonic_now() + period, period);
  }
  return {};
}

void EventLoop::UpdateTimingReport() {
  if (timing_report_sender_ == nullptr) return;

  flatbuffers::FlatBufferBuilder fbb;
  // Every field present so the report can be patched in place.
  fbb.ForceDefaults(true);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto statistic = [&]() {
    return timing::CreateStatistic(fbb, nan, nan, nan, nan);
  };

  std::vector<flatbuffers::Offset<timing::Sender>> senders;
  for (RawSender *sender : senders_) {
    std::vector<flatbuffers::Offset<timing::SendErrorCount>> errors;
    for (timing::SendError error : timing::EnumValuesSendError()) {
      errors.push_back(timing::CreateSendErrorCount(fbb, error, 0));
    }
    const auto errors_offset = fbb.CreateVector(errors);
    const auto size = statistic();
    timing::Sender::Builder builder(fbb);
    builder.add_channel_index(sender->timing_.channel_index);
    builder.add_count(0);
    builder.add_size(size);
    builder.add_error_counts(errors_offset);
    builder.add_signal_failures(0);
    senders.push_back(builder.Finish());
  }
  std::vector<flatbuffers::Offset<timing::Fetcher>> fetchers;
  for (RawFetcher *fetcher : fetchers_) {
    const auto latency = statistic();
    timing::Fetcher::Builder builder(fbb);
    builder.add_channel_index(fetcher->timing_.channel_index);
    builder.add_count(0);
    builder.add_latency(latency);
    builder.add_lost_messages(0);
    fetchers.push_back(builder.Finish());
  }
  std::vector<flatbuffers::Offset<timing::Watcher>> watchers;
  for (const std::unique_ptr<WatcherState> &watcher : watchers_) {
    const auto wakeup_latency = statistic();
    const auto handler_time = statistic();
    timing::Watcher::Builder builder(fbb);
    builder.add_channel_index(watcher->timing_.channel_index);
    builder.add_count(0);
    builder.add_wakeup_latency(wakeup_latency);
    builder.add_handler_time(handler_time);
    builder.add_lost_messages(0);
    watchers.push_back(builder.Finish());
  }
  auto make_timer = [&](const std::string &name) {
    const auto name_offset = fbb.CreateString(name);
    const auto wakeup_latency = statistic();
    const auto handler_time = statistic();
    timing::Timer::Builder builder(fbb);
    builder.add_name(name_offset);
    builder.add_count(0);
    builder.add_wakeup_latency(wakeup_latency);
    builder.add_handler_time(handler_time);
    return builder.Finish();
  };
  std::vector<flatbuffers::Offset<timing::Timer>> timers;
  for (const std::unique_ptr<TimerHandler> &timer : timers_) {
    timers.push_back(make_timer(timer->name()));
  }
  std::vector<flatbuffers::Offset<timing::Timer>> phased_loops;
  for (const std::unique_ptr<PhasedLoopHandler> &phased_loop : phased_loops_) {
    phased_loops.push_back(make_timer(phased_loop->name()));
  }

  const auto name_offset = fbb.CreateString(name());
  flatbuffers::Offset<flatbuffers::String> version_offset;
  if (VersionString().has_value()) {
    version_offset = fbb.CreateString(*VersionString());
  }
  const auto senders_offset = senders.empty() ? 0 : fbb.CreateVector(senders).o;
  const auto fetchers_offset =
      fetchers.empty() ? 0 : fbb.CreateVector(fetchers).o;
  const auto watchers_offset =
      watchers.empty() ? 0 : fbb.CreateVector(watchers).o;
  const auto timers_offset = timers.empty() ? 0 : fbb.CreateVector(timers).o;
  const auto phased_loops_offset =
      phased_loops.empty() ? 0 : fbb.CreateVector(phased_loops).o;

  timing::Report::Builder report(fbb);
  report.add_name(name_offset);
  report.add_pid(GetTid());
  if (!version_offset.IsNull()) report.add_version(version_offset);
  if (senders_offset != 0) report.add_senders(senders_offset);
  if (fetchers_offset != 0) report.add_fetchers(fetchers_offset);
  if (watchers_offset != 0) report.add_watchers(watchers_offset);
  if (timers_offset != 0) report.add_timers(timers_offset);
  if (phased_loops_offset != 0) report.add_phased_loops(phased_loops_offset);
  report.add_send_failures(timing_report_failures_);
  fbb.Finish(report.Finish());
  timing_report_ = FlatbufferDetachedBuffer<timing::Report>(fbb.Release());

  timing_report_too_big_ =
      timing_report_.span().size() > timing_report_sender_->size();
  LOG_IF(ERROR, timing_report_too_big_)
      << "The timing report of " << name() << " is "
      << timing_report_.span().size() << " bytes, more than max_size "
      << timing_report_sender_->size() << " of "
      << configuration::StrippedChannelToString(
             timing_report_sender_->channel())
      << "; not sending timing reports.  Raise max_size in the "
         "configuration.";

  // Point every object at its entry, in the order they were added above.
  timing::Report *mutable_report = timing_report_.mutable_message();
  for (size_t i = 0; i < senders_.size(); ++i) {
    senders_[i]->timing_.set_timing_report(
        mutable_report->mutable_senders()->GetMutableObject(i));
  }
  for (size_t i = 0; i < fetchers_.size(); ++i) {
    fetchers_[i]->timing_.set_timing_report(
        mutable_report->mutable_fetchers()->GetMutableObject(i));
  }
  for (size_t i = 0; i < watchers_.size(); ++i) {
    watchers_[i]->timing_.set_timing_report(
        mutable_report->mutable_watchers()->GetMutableObject(i));
  }
  for (size_t i = 0; i < timers_.size(); ++i) {
    timers_[i]->timing_.set_timing_report(
        mutable_report->mutable_timers()->GetMutableObject(i));
  }
  for (size_t i = 0; i < phased_loops_.size(); ++i) {
    phased_loops_[i]->timing_.set_timing_report(
        mutable_report->mutable_phased_loops()->GetMutableObject(i));
  }
}

void EventLoop::SendTimingReport() {
  if (timing_report_sender_ == nullptr || timing_report_too_big_) return;
  for (RawSender *sender : senders_) sender->timing_.Publish();
  for (RawFetcher *fetcher : fetchers_) fetcher->timing_.Publish();
  for (const auto &watcher : watchers_) watcher->timing_.Publish();
  for (const auto &timer : timers_) timer->timing_.Publish();
  for (const auto &phased_loop : phased_loops_) phased_loop->timing_.Publish();
  CHECK(timing_report_.mutable_message()->mutate_send_failures(
      timing_report_failures_));

  // Reset before sending, so the report's own send (and a failure of it)
  // is counted in the next report, as upstream does.
  for (RawSender *sender : senders_) sender->timing_.Reset();
  for (RawFetcher *fetcher : fetchers_) fetcher->timing_.Reset();
  for (const auto &watcher : watchers_) watcher->timing_.Reset();
  for (const auto &timer : timers_) timer->timing_.Reset();
  for (const auto &phased_loop : phased_loops_) phased_loop->timing_.Reset();

  const RawSender::Error err = timing_report_sender_->Send(
      timing_report_.span().data(), timing_report_.span().size());
  if (err != RawSender::Error::kOk) {
    ++timing_report_failures_;
  }
}

}  // namespace aos
