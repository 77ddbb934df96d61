#include "aos/events/shm_event_loop.h"

#include <errno.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <optional>

#include "aos/events/shm_channel_queue.h"
#include "aos/init.h"
#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/memory_mapped_queue.h"
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

// Maps `channel`'s queue, creating the file if needed. Stale or mismatched
// files are a configuration problem of the machine, not of this program; the
// error names the file and how to remove it.
ipc_lib::MemoryMappedQueue OpenQueue(const ShmEventLoop *event_loop,
                                     const Channel *channel,
                                     uint32_t permissions) {
  Result<ipc_lib::MemoryMappedQueue> queue = ipc_lib::MemoryMappedQueue::Open(
      ShmChannelQueuePath(event_loop->shm_base(), channel),
      ShmChannelQueueConfiguration(event_loop->configuration(), channel),
      permissions);
  CHECK(queue.has_value()) << ": Failed to open the queue of "
                           << configuration::StrippedChannelToString(channel)
                           << ": " << queue.error().message();
  return std::move(*queue);
}

}  // namespace

// Something that runs at a time: a watcher with a pending message, a timer
// or a phased loop. Lives in one EventQueue.
class EventLoopEvent {
 public:
  virtual ~EventLoopEvent() = default;
  // Runs the event; `now` is a recent monotonic time at or after
  // event_time(). Returns a monotonic time read after the event's callback
  // finished, which the loop compares the next event against instead of
  // reading the clock again (a third of a streaming watcher's time went to
  // clock reads).
  virtual monotonic_clock::time_point HandleEvent(
      monotonic_clock::time_point now) = 0;

  monotonic_clock::time_point event_time() const { return event_time_; }
  bool queued() const { return heap_index_ >= 0; }

 private:
  friend class EventQueue;
  monotonic_clock::time_point event_time_ = monotonic_clock::min_time;
  uint64_t generation_ = 0;
  int heap_index_ = -1;
};

// A binary min-heap of events by (event time, insertion order), with
// removal of any event in O(log n). Allocates only if more events are queued
// than reserved.
class EventQueue {
 public:
  void Reserve(size_t count) { heap_.reserve(count); }

  // Queues `event` (not already queued) at `time`.
  void Add(EventLoopEvent *event, monotonic_clock::time_point time) {
    CHECK(!event->queued());
    event->event_time_ = time;
    event->generation_ = ++generation_;
    event->heap_index_ = static_cast<int>(heap_.size());
    heap_.push_back(event);
    SiftUp(heap_.size() - 1);
  }

  // Dequeues `event` if it is queued.
  void Remove(EventLoopEvent *event) {
    if (!event->queued()) return;
    const size_t index = static_cast<size_t>(event->heap_index_);
    EventLoopEvent *last = heap_.back();
    heap_.pop_back();
    event->heap_index_ = -1;
    if (index < heap_.size()) {
      heap_[index] = last;
      last->heap_index_ = static_cast<int>(index);
      SiftDown(index);
      SiftUp(static_cast<size_t>(last->heap_index_));
    }
  }

  bool empty() const { return heap_.empty(); }
  EventLoopEvent *Top() const { return heap_.front(); }

 private:
  static bool Before(const EventLoopEvent *a, const EventLoopEvent *b) {
    if (a->event_time_ != b->event_time_) {
      return a->event_time_ < b->event_time_;
    }
    return a->generation_ < b->generation_;
  }

  void Swap(size_t a, size_t b) {
    std::swap(heap_[a], heap_[b]);
    heap_[a]->heap_index_ = static_cast<int>(a);
    heap_[b]->heap_index_ = static_cast<int>(b);
  }

  void SiftUp(size_t index) {
    while (index > 0) {
      const size_t parent = (index - 1) / 2;
      if (!Before(heap_[index], heap_[parent])) break;
      Swap(index, parent);
      index = parent;
    }
  }

  void SiftDown(size_t index) {
    while (true) {
      const size_t left = 2 * index + 1;
      const size_t right = left + 1;
      size_t smallest = index;
      if (left < heap_.size() && Before(heap_[left], heap_[smallest])) {
        smallest = left;
      }
      if (right < heap_.size() && Before(heap_[right], heap_[smallest])) {
        smallest = right;
      }
      if (smallest == index) break;
      Swap(index, smallest);
      index = smallest;
    }
  }

  std::vector<EventLoopEvent *> heap_;
  uint64_t generation_ = 0;
};

// Reads one channel for a fetcher or a watcher: keeps the index of the next
// message, and where fetched messages are (a private copy, a pinned shared
// buffer, or nowhere for no-arg watchers).
class SimpleShmFetcher {
 public:
  enum class Mode { kCopy, kPin, kNoData };

  SimpleShmFetcher(ShmEventLoop *event_loop, const Channel *channel, Mode mode,
                   uint32_t permissions)
      : event_loop_(event_loop),
        channel_(channel),
        mode_(mode),
        queue_(OpenQueue(event_loop, channel, permissions)),
        reader_(queue_.queue()) {
    if (mode_ == Mode::kCopy) {
      // The reader copies payloads to the end of a message_data_size area;
      // place that area so its end is aligned like a shared-memory buffer.
      const size_t data_size = channel_->max_size();
      copy_buffer_ =
          std::make_unique<char[]>(data_size + kChannelDataAlignment);
      const uintptr_t end =
          reinterpret_cast<uintptr_t>(copy_buffer_.get()) + data_size;
      const uintptr_t aligned_end =
          (end + kChannelDataAlignment - 1) & ~(kChannelDataAlignment - 1);
      copy_destination_ = copy_buffer_.get() + (aligned_end - end);
    } else if (mode_ == Mode::kPin) {
      std::optional<ipc_lib::LocklessQueuePinner> pinner =
          ipc_lib::LocklessQueuePinner::Make(queue_.queue());
      CHECK(pinner.has_value())
          << ": Failed to create reader on "
          << configuration::StrippedChannelToString(channel_)
          << ", too many readers.  num_readers is " << channel_->num_readers()
          << " (pinning fetchers and watchers of every process count).";
      pinner_.emplace(std::move(*pinner));
    }
    PointAtNextQueueIndex();
  }

  // Makes FetchNext() return the first message sent after now.
  void PointAtNextQueueIndex() {
    const ipc_lib::QueueIndex latest = reader_.LatestIndex();
    next_queue_index_ =
        latest.valid() ? latest.Increment()
                       : ipc_lib::QueueIndex::Zero(queue_.config().queue_size);
  }

  // Fetches the message at the next queue index. If the reader fell more
  // than a queue behind, dies under kDie, or under kSkipToOldest moves to the
  // oldest message still in the ring, adds the number skipped to `*lost` and
  // carries it in the fetched context's lost_messages.
  bool FetchNext(const ContextPredicate *predicate, FallBehindPolicy policy,
                 uint64_t *lost) {
    // A skip lands on a message that a fast sender may overwrite before we
    // read it; each retry re-reads the ring's newest index, so it only fails
    // again if the sender lapped us again in between. Past the bound the
    // sender outruns any reader: jump to the newest message instead.
    constexpr int kMaxSkips = 64;
    for (int skips = 0;; ++skips) {
      const ipc_lib::ReadResult result = Read(next_queue_index_, predicate);
      switch (result) {
        case ipc_lib::ReadResult::GOOD:
          context_.lost_messages = pending_lost_;
          pending_lost_ = 0;
          return true;
        case ipc_lib::ReadResult::NOTHING_NEW:
        case ipc_lib::ReadResult::FILTERED:
          return false;
        case ipc_lib::ReadResult::TOO_OLD:
        case ipc_lib::ReadResult::OVERWROTE:
          if (policy == FallBehindPolicy::kSkipToOldest) {
            const uint64_t skipped = SkipToOldest(skips >= kMaxSkips);
            pending_lost_ += skipped;
            *lost += skipped;
            continue;
          }
          DieFellBehind(result);
      }
    }
  }

  bool Fetch(const ContextPredicate *predicate) {
    while (true) {
      const ipc_lib::QueueIndex latest = reader_.LatestIndex();
      if (!latest.valid()) return false;
      if (fetched_any_ && latest == next_queue_index_.Decrement()) {
        return false;
      }
      const ipc_lib::ReadResult result = Read(latest, predicate);
      switch (result) {
        case ipc_lib::ReadResult::GOOD:
          // Jumping to the newest message is what Fetch is for, not a loss.
          context_.lost_messages = 0;
          pending_lost_ = 0;
          return true;
        case ipc_lib::ReadResult::FILTERED:
          return false;
        case ipc_lib::ReadResult::NOTHING_NEW:
          LOG(FATAL) << "The newest message of "
                     << configuration::StrippedChannelToString(channel_)
                     << " is not readable; queue index went backwards.";
        case ipc_lib::ReadResult::TOO_OLD:
        case ipc_lib::ReadResult::OVERWROTE:
          // Overwritten between finding and reading it: the newest one
          // moved on, go get that.
          break;
      }
    }
  }

  const Context &context() const { return context_; }
  const Channel *channel() const { return channel_; }
  const ipc_lib::MemoryMappedQueue &queue() const { return queue_; }

  [[noreturn]] void DieFellBehind(ipc_lib::ReadResult result) {
    // Make the failure visible in the timing report before dying.
    event_loop_->SendTimingReport();
    if (result == ipc_lib::ReadResult::TOO_OLD) {
      LOG(FATAL) << "The next message is no longer available.  "
                 << configuration::StrippedChannelToString(channel_)
                 << " was sent faster than this reader read it: it fell "
                    "more than a queue ("
                 << queue_.config().queue_size
                 << " messages) behind.  Read more often, or raise the "
                    "channel's frequency or channel_storage_duration.";
    }
    LOG(FATAL) << "Got behind while reading and the last message was "
                  "modified out from under us while we were reading "
                  "it.  Don't get so far behind on: "
               << configuration::StrippedChannelToString(channel_);
    std::abort();
  }

  // Where fetched messages are: the copy buffer, or the read-only mapping of
  // the queue for pinned reads. Empty for no-data watchers.
  std::span<const uint8_t> FetchedMemory() const {
    switch (mode_) {
      case Mode::kCopy:
        return {reinterpret_cast<const uint8_t *>(copy_buffer_.get()),
                channel_->max_size() + kChannelDataAlignment};
      case Mode::kPin:
        return {reinterpret_cast<const uint8_t *>(queue_.const_memory()),
                queue_.size()};
      case Mode::kNoData:
        break;
    }
    return {};
  }

 private:
  static void FillContext(const ipc_lib::MessageInfo &info,
                          uint32_t queue_index, Context *context) {
    context->monotonic_event_time = info.monotonic_sent_time;
    context->realtime_event_time = info.realtime_sent_time;
    context->monotonic_remote_time =
        info.monotonic_remote_time == monotonic_clock::min_time
            ? info.monotonic_sent_time
            : info.monotonic_remote_time;
    context->realtime_remote_time =
        info.realtime_remote_time == realtime_clock::min_time
            ? info.realtime_sent_time
            : info.realtime_remote_time;
    context->monotonic_remote_transmit_time =
        info.monotonic_remote_transmit_time;
    context->queue_index = queue_index;
    context->remote_queue_index =
        info.remote_queue_index == Context::kInvalidQueueIndex
            ? queue_index
            : info.remote_queue_index;
    context->size = info.length;
    context->source_boot_uuid = info.source_boot_uuid;
    context->data = nullptr;
    context->buffer_index = -1;
  }

  // Points next_queue_index_ at the oldest message still in the ring (the
  // newest one if `to_newest`) and returns how many messages that skips.
  uint64_t SkipToOldest(bool to_newest) {
    const ipc_lib::QueueIndex latest = reader_.LatestIndex();
    // Something was overwritten, so the ring is full.
    CHECK(latest.valid());
    const uint32_t queue_size = queue_.config().queue_size;
    const ipc_lib::QueueIndex target =
        to_newest ? latest : latest.DecrementBy(queue_size - 1);
    const uint32_t skipped = target.DistanceFrom(next_queue_index_);
    // A reader lapped between its Read and the LatestIndex above can only be
    // behind the target; anything else is a reader that moved backwards.
    CHECK_LT(skipped, ipc_lib::QueueIndex::MaxIndex(queue_size) / 2)
        << ": " << configuration::StrippedChannelToString(channel_)
        << ": reader at " << next_queue_index_.index()
        << " is ahead of the queue's newest message " << latest.index();
    next_queue_index_ = target;
    return skipped;
  }

  ipc_lib::ReadResult Read(ipc_lib::QueueIndex queue_index,
                           const ContextPredicate *predicate) {
    ipc_lib::MessageInfo info;
    auto filter_callable = [&](const ipc_lib::MessageInfo &candidate) {
      Context candidate_context;
      FillContext(candidate, queue_index.index(), &candidate_context);
      return (*predicate)(candidate_context);
    };
    ipc_lib::ReadFilter filter;
    if (predicate != nullptr) filter = ipc_lib::ReadFilter(filter_callable);

    const ipc_lib::ReadResult result = reader_.Read(
        queue_index.index(), &info,
        mode_ == Mode::kCopy ? copy_destination_ : nullptr, filter);
    if (result != ipc_lib::ReadResult::GOOD) return result;

    FillContext(info, queue_index.index(), &context_);
    switch (mode_) {
      case Mode::kCopy:
        context_.data = copy_destination_ + channel_->max_size() - info.length;
        break;
      case Mode::kPin: {
        const int buffer_index = pinner_->PinIndex(queue_index.index());
        // Overwritten between the read and the pin: as if the read had
        // overlapped the overwrite.
        if (buffer_index < 0) return ipc_lib::ReadResult::OVERWROTE;
        context_.buffer_index = buffer_index;
        context_.data = static_cast<const char *>(pinner_->Data()) +
                        pinner_->size() - info.length;
        break;
      }
      case Mode::kNoData:
        break;
    }
    next_queue_index_ = queue_index.Increment();
    fetched_any_ = true;
    return result;
  }

  ShmEventLoop *const event_loop_;
  const Channel *const channel_;
  const Mode mode_;
  ipc_lib::MemoryMappedQueue queue_;
  ipc_lib::LocklessQueueReader reader_;
  std::optional<ipc_lib::LocklessQueuePinner> pinner_;
  std::unique_ptr<char[]> copy_buffer_;
  char *copy_destination_ = nullptr;

  ipc_lib::QueueIndex next_queue_index_ = ipc_lib::QueueIndex::Invalid();
  bool fetched_any_ = false;
  // Messages skipped since the last message fetched by FetchNext.
  uint64_t pending_lost_ = 0;
  Context context_;
};

class ShmFetcher final : public RawFetcher {
 public:
  ShmFetcher(ShmEventLoop *event_loop, const Channel *channel,
             uint32_t permissions)
      : RawFetcher(event_loop, channel),
        event_loop_(event_loop),
        fetcher_(event_loop, channel,
                 channel->read_method() == ReadMethod::PIN
                     ? SimpleShmFetcher::Mode::kPin
                     : SimpleShmFetcher::Mode::kCopy,
                 permissions) {}

  std::span<const uint8_t> FetchedMemory() const {
    return fetcher_.FetchedMemory();
  }

 private:
  bool Update(bool fetched) {
    if (fetched) context_ = fetcher_.context();
    return fetched;
  }
  bool DoFetchNext() override {
    event_loop_->CheckCurrentThread("FetchNext", channel());
    return DoFetchNextWith(nullptr);
  }
  bool DoFetchNextIf(ContextPredicate predicate) override {
    event_loop_->CheckCurrentThread("FetchNextIf", channel());
    return DoFetchNextWith(&predicate);
  }
  bool DoFetchNextWith(const ContextPredicate *predicate) {
    uint64_t lost = 0;
    const bool fetched =
        fetcher_.FetchNext(predicate, fall_behind_policy(), &lost);
    if (lost != 0) RecordLostMessages(lost);
    return Update(fetched);
  }
  bool DoFetch() override {
    event_loop_->CheckCurrentThread("Fetch", channel());
    return Update(fetcher_.Fetch(nullptr));
  }
  bool DoFetchIf(ContextPredicate predicate) override {
    event_loop_->CheckCurrentThread("FetchIf", channel());
    return Update(fetcher_.Fetch(&predicate));
  }

  ShmEventLoop *const event_loop_;
  SimpleShmFetcher fetcher_;
};

class ShmSender final : public RawSender {
 public:
  ShmSender(ShmEventLoop *event_loop, const Channel *channel,
            uint32_t permissions)
      : RawSender(event_loop, channel),
        event_loop_(event_loop),
        queue_(OpenQueue(event_loop, channel, permissions)),
        sender_(MakeSender(queue_, event_loop->configuration(), channel)),
        wake_upper_(queue_.queue()) {}

  void *data() override {
    event_loop_->CheckCurrentThread("Building a message", channel());
    return sender_.Data();
  }
  size_t size() override { return sender_.size(); }
  int buffer_index() override { return sender_.buffer_index(); }

  std::span<uint8_t> SharedMemory() const {
    return {reinterpret_cast<uint8_t *>(queue_.memory()), queue_.size()};
  }

 private:
  static ipc_lib::LocklessQueueSender MakeSender(
      const ipc_lib::MemoryMappedQueue &queue,
      const Configuration *configuration, const Channel *channel) {
    std::optional<ipc_lib::LocklessQueueSender> sender =
        ipc_lib::LocklessQueueSender::Make(
            queue.queue(),
            configuration::ChannelStorageDuration(configuration, channel));
    CHECK(sender.has_value())
        << ": Failed to create sender on "
        << configuration::StrippedChannelToString(channel)
        << ", too many senders.  num_senders is " << channel->num_senders()
        << " (senders of every process count).";
    return std::move(*sender);
  }

  Error Finish(ipc_lib::LocklessQueueSender::Result result,
               monotonic_clock::time_point monotonic_sent_time,
               realtime_clock::time_point realtime_sent_time,
               uint32_t queue_index) {
    switch (result) {
      case ipc_lib::LocklessQueueSender::Result::GOOD:
        monotonic_sent_time_ = monotonic_sent_time;
        realtime_sent_time_ = realtime_sent_time;
        sent_queue_index_ = queue_index;
        // Only a published message is worth waking anyone for.
        wake_upper_.Wakeup(event_loop()->is_running()
                               ? event_loop()->runtime_realtime_priority()
                               : 0);
        return Error::kOk;
      case ipc_lib::LocklessQueueSender::Result::MESSAGES_SENT_TOO_FAST:
        return Error::kMessagesSentTooFast;
      case ipc_lib::LocklessQueueSender::Result::INVALID_REDZONE:
        LOG(FATAL) << "Somebody wrote outside the buffer of their message on "
                      "channel "
                   << configuration::StrippedChannelToString(channel());
    }
    LOG(FATAL) << "unreachable";
    std::abort();
  }

  Error DoSend(size_t length, monotonic_clock::time_point monotonic_remote_time,
               realtime_clock::time_point realtime_remote_time,
               monotonic_clock::time_point monotonic_remote_transmit_time,
               uint32_t remote_queue_index,
               const UUID &source_boot_uuid) override {
    event_loop_->CheckCurrentThread("Send", channel());
    monotonic_clock::time_point monotonic_sent_time;
    realtime_clock::time_point realtime_sent_time;
    uint32_t queue_index;
    const auto result = sender_.Send(
        length, monotonic_remote_time, realtime_remote_time,
        monotonic_remote_transmit_time, remote_queue_index, source_boot_uuid,
        &monotonic_sent_time, &realtime_sent_time, &queue_index);
    return Finish(result, monotonic_sent_time, realtime_sent_time, queue_index);
  }

  Error DoSend(const void *data, size_t length,
               monotonic_clock::time_point monotonic_remote_time,
               realtime_clock::time_point realtime_remote_time,
               monotonic_clock::time_point monotonic_remote_transmit_time,
               uint32_t remote_queue_index,
               const UUID &source_boot_uuid) override {
    event_loop_->CheckCurrentThread("Send", channel());
    monotonic_clock::time_point monotonic_sent_time;
    realtime_clock::time_point realtime_sent_time;
    uint32_t queue_index;
    const auto result = sender_.Send(
        static_cast<const char *>(data), length, monotonic_remote_time,
        realtime_remote_time, monotonic_remote_transmit_time,
        remote_queue_index, source_boot_uuid, &monotonic_sent_time,
        &realtime_sent_time, &queue_index);
    return Finish(result, monotonic_sent_time, realtime_sent_time, queue_index);
  }

  ShmEventLoop *const event_loop_;
  ipc_lib::MemoryMappedQueue queue_;
  ipc_lib::LocklessQueueSender sender_;
  ipc_lib::LocklessQueueWakeUpper wake_upper_;
};

class ShmWatcherState final : public WatcherState, public EventLoopEvent {
 public:
  ShmWatcherState(ShmEventLoop *event_loop, const Channel *channel,
                  std::function<void(const Context &, const void *)> fn,
                  SimpleShmFetcher::Mode mode, uint32_t permissions)
      : WatcherState(event_loop, channel, std::move(fn)),
        event_loop_(event_loop),
        fetcher_(event_loop, channel, mode, permissions) {}

  ~ShmWatcherState() override {
    event_loop_->events_->Remove(this);
    UnregisterWakeup();
  }

  // Claims a watcher slot for the calling thread. False if all are taken.
  bool RegisterWakeup(int priority) {
    CHECK(!watcher_.has_value());
    std::optional<ipc_lib::LocklessQueueWatcher> watcher =
        ipc_lib::LocklessQueueWatcher::Make(fetcher_.queue().queue(), priority);
    if (!watcher.has_value()) return false;
    watcher_.emplace(std::move(*watcher));
    return true;
  }
  void UnregisterWakeup() { watcher_.reset(); }

  // Step 2 of the coalescing protocol: senders signal from now on.
  void PrepareToSleep() { watcher_->PrepareToSleep(); }
  // Undoes PrepareToSleep() when the loop will not sleep after all.
  void DoneSleeping() { watcher_->DoneSleeping(); }

  // Forgets pending messages: only ones sent from now on are delivered.
  void PointAtNextQueueIndex() {
    event_loop_->events_->Remove(this);
    fetcher_.PointAtNextQueueIndex();
  }

  // Queues the next message, if there is one and none is queued yet.
  // Returns whether it queued one.
  bool CheckForNewData() {
    if (queued()) return false;
    uint64_t lost = 0;
    const bool fetched =
        fetcher_.FetchNext(nullptr, fall_behind_policy(), &lost);
    if (lost != 0) RecordLostMessages(lost);
    if (!fetched) return false;
    event_loop_->events_->Add(this, fetcher_.context().monotonic_event_time);
    return true;
  }

  monotonic_clock::time_point HandleEvent(
      monotonic_clock::time_point) override {
    const monotonic_clock::time_point end = CallCallback(fetcher_.context());
    CheckForNewData();
    return end;
  }

  const ipc_lib::MemoryMappedQueue &queue() const { return fetcher_.queue(); }

 private:
  ShmEventLoop *const event_loop_;
  SimpleShmFetcher fetcher_;
  std::optional<ipc_lib::LocklessQueueWatcher> watcher_;
};

class ShmTimerHandler final : public TimerHandler, public EventLoopEvent {
 public:
  ShmTimerHandler(ShmEventLoop *event_loop, std::function<void()> fn)
      : TimerHandler(event_loop, std::move(fn)), event_loop_(event_loop) {
    // The timerfd only wakes the loop; the event queue decides what runs.
    event_loop_->epoll_.OnReadable(timerfd_.fd(),
                                   [this]() { timerfd_.Read(); });
  }

  ~ShmTimerHandler() override {
    event_loop_->events_->Remove(this);
    event_loop_->epoll_.DeleteFd(timerfd_.fd());
  }

  monotonic_clock::time_point HandleEvent(
      monotonic_clock::time_point) override {
    const monotonic_clock::time_point scheduled = event_time();
    const uint64_t generation = ++schedule_generation_;
    if (repeat_offset_ == monotonic_clock::zero()) {
      disabled_ = true;
    }
    const monotonic_clock::time_point end = Call(scheduled);
    // A Schedule() or Disable() from the callback has the last word.
    // Otherwise a repeating timer goes on from the first period boundary
    // after the callback ended (design decision 4: an overrun skips the
    // missed expirations instead of firing them late).
    if (generation == schedule_generation_ && !disabled_) {
      const monotonic_clock::time_point next =
          NextRepeat(scheduled, repeat_offset_, end);
      event_loop_->events_->Add(this, next);
      timerfd_.SetTime(next, monotonic_clock::zero());
    }
    return end;
  }

  void Disable() override {
    event_loop_->CheckCurrentThread("TimerHandler::Disable");
    ++schedule_generation_;
    event_loop_->events_->Remove(this);
    timerfd_.Disable();
    disabled_ = true;
  }

  bool IsDisabled() override {
    event_loop_->CheckCurrentThread("TimerHandler::IsDisabled");
    return disabled_;
  }

 private:
  void DoSchedule(monotonic_clock::time_point base,
                  monotonic_clock::duration repeat_offset) override {
    event_loop_->CheckCurrentThread("TimerHandler::Schedule");
    ++schedule_generation_;
    event_loop_->events_->Remove(this);
    repeat_offset_ = repeat_offset;
    disabled_ = false;
    event_loop_->events_->Add(this, base);
    timerfd_.SetTime(base, monotonic_clock::zero());
  }

  ShmEventLoop *const event_loop_;
  internal::TimerFd timerfd_;
  monotonic_clock::duration repeat_offset_ = monotonic_clock::zero();
  bool disabled_ = true;
  // Bumped by every Schedule/Disable, to notice them from inside the
  // callback.
  uint64_t schedule_generation_ = 0;
};

class ShmPhasedLoopHandler final : public PhasedLoopHandler,
                                   public EventLoopEvent {
 public:
  ShmPhasedLoopHandler(ShmEventLoop *event_loop, std::function<void(int)> fn,
                       monotonic_clock::duration interval,
                       monotonic_clock::duration offset)
      : PhasedLoopHandler(event_loop, std::move(fn), interval, offset),
        event_loop_(event_loop) {
    event_loop_->epoll_.OnReadable(timerfd_.fd(),
                                   [this]() { timerfd_.Read(); });
  }

  ~ShmPhasedLoopHandler() override {
    event_loop_->events_->Remove(this);
    event_loop_->epoll_.DeleteFd(timerfd_.fd());
  }

  monotonic_clock::time_point HandleEvent(
      monotonic_clock::time_point) override {
    return Call();
  }

 private:
  void Schedule(monotonic_clock::time_point sleep_time) override {
    event_loop_->CheckCurrentThread("Scheduling a phased loop");
    event_loop_->events_->Remove(this);
    event_loop_->events_->Add(this, sleep_time);
    timerfd_.SetTime(sleep_time, monotonic_clock::zero());
  }

  ShmEventLoop *const event_loop_;
  internal::TimerFd timerfd_;
};

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
using shm_event_loop_internal::ShmFetcher;
using shm_event_loop_internal::ShmPhasedLoopHandler;
using shm_event_loop_internal::ShmSender;
using shm_event_loop_internal::ShmTimerHandler;
using shm_event_loop_internal::ShmWatcherState;
using shm_event_loop_internal::SimpleShmFetcher;

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

std::unique_ptr<RawSender> ShmEventLoop::MakeRawSender(const Channel *channel) {
  CheckCurrentThread("MakeRawSender", channel);
  return std::make_unique<ShmSender>(this, channel, permissions_);
}

std::unique_ptr<RawFetcher> ShmEventLoop::MakeRawFetcher(
    const Channel *channel) {
  CheckCurrentThread("MakeRawFetcher", channel);
  return std::make_unique<ShmFetcher>(this, channel, permissions_);
}

void ShmEventLoop::MakeRawWatcher(
    const Channel *channel,
    std::function<void(const Context &context, const void *message)> watcher) {
  CheckCurrentThread("MakeRawWatcher", channel);
  NewWatcher(std::make_unique<ShmWatcherState>(
      this, channel, std::move(watcher),
      channel->read_method() == ReadMethod::PIN ? SimpleShmFetcher::Mode::kPin
                                                : SimpleShmFetcher::Mode::kCopy,
      permissions_));
}

void ShmEventLoop::MakeRawNoArgWatcher(
    const Channel *channel,
    std::function<void(const Context &context)> watcher) {
  CheckCurrentThread("MakeRawNoArgWatcher", channel);
  // No data is read, so no copy buffer and no pinner slot.
  NewWatcher(std::make_unique<ShmWatcherState>(
      this, channel,
      [watcher = std::move(watcher)](const Context &context, const void *) {
        watcher(context);
      },
      SimpleShmFetcher::Mode::kNoData, permissions_));
}

TimerHandler *ShmEventLoop::AddTimer(std::function<void()> callback) {
  CheckCurrentThread("AddTimer");
  return NewTimer(std::make_unique<ShmTimerHandler>(this, std::move(callback)));
}

PhasedLoopHandler *ShmEventLoop::AddPhasedLoop(
    std::function<void(int)> callback, monotonic_clock::duration interval,
    monotonic_clock::duration offset) {
  CheckCurrentThread("AddPhasedLoop");
  return NewPhasedLoop(std::make_unique<ShmPhasedLoopHandler>(
      this, std::move(callback), interval, offset));
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

std::span<const uint8_t> ShmEventLoop::GetWatcherSharedMemory(
    const Channel *channel) {
  CheckCurrentThread("GetWatcherSharedMemory", channel);
  for (size_t i = 0; i < watchers().size(); ++i) {
    if (Watcher(i)->channel() == channel) {
      const ipc_lib::MemoryMappedQueue &queue = Watcher(i)->queue();
      return {reinterpret_cast<const uint8_t *>(queue.const_memory()),
              queue.size()};
    }
  }
  LOG(FATAL) << "No watcher found for channel "
             << configuration::StrippedChannelToString(channel);
  std::abort();
}

std::span<uint8_t> ShmEventLoop::GetSenderSharedMemory(RawSender *sender) {
  CheckCurrentThread("GetSenderSharedMemory", sender->channel());
  CHECK(sender->event_loop() == this)
      << ": GetSenderSharedMemory: the sender on "
      << configuration::StrippedChannelToString(sender->channel())
      << " was made by another event loop than " << name_;
  // Every sender of this loop (the timing report's too) is a ShmSender.
  return static_cast<ShmSender *>(sender)->SharedMemory();
}

std::span<const uint8_t> ShmEventLoop::GetFetcherPrivateMemory(
    const RawFetcher *fetcher) {
  CheckCurrentThread("GetFetcherPrivateMemory", fetcher->channel());
  CHECK(fetcher->event_loop() == this)
      << ": GetFetcherPrivateMemory: the fetcher on "
      << configuration::StrippedChannelToString(fetcher->channel())
      << " was made by another event loop than " << name_;
  return static_cast<const ShmFetcher *>(fetcher)->FetchedMemory();
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

Result<void> ShmEventLoop::RegisterWatchers() {
  for (size_t i = 0; i < watchers().size(); ++i) {
    if (!Watcher(i)->RegisterWakeup(runtime_realtime_priority())) {
      const Channel *channel = Watcher(i)->channel();
      for (size_t j = 0; j < i; ++j) Watcher(j)->UnregisterWakeup();
      return MakeError(
          "Too many watchers on " +
          configuration::StrippedChannelToString(channel) +
          ": all of its num_watchers (" +
          std::to_string(channel->num_watchers()) +
          ") slots are held by live event loops (of any process).  Raise "
          "num_watchers for the channel in the configuration, or watch it "
          "from fewer event loops.");
    }
  }
  return {};
}

void ShmEventLoop::UnregisterWatchers() {
  for (size_t i = 0; i < watchers().size(); ++i) {
    Watcher(i)->UnregisterWakeup();
  }
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
    exit_status_set_ = false;
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
  }
  Result<void> registered = RegisterWatchers();
  if (!registered.has_value()) {
    if (signalfd_ != nullptr) {
      epoll_.DeleteFd(signalfd_->fd());
      signalfd_.reset();
    }
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

    set_is_running(false);
    if (priority > 0) {
      MarkRealtime(false);
      if (!FLAGS_skip_realtime_scheduler) UnsetCurrentThreadRealtimePriority();
    }
  }

  UnregisterWatchers();
  if (signalfd_ != nullptr) {
    epoll_.DeleteFd(signalfd_->fd());
    signalfd_.reset();
  }
  ClearContext();

  std::lock_guard<std::mutex> lock(exit_mutex_);
  if (!exit_status_set_) return {};
  return std::move(exit_status_);
}

void ShmEventLoop::Exit() { epoll_.Quit(); }

void ShmEventLoop::ExitWithStatus(Result<void> status) {
  {
    std::lock_guard<std::mutex> lock(exit_mutex_);
    if (!exit_status_set_) {
      exit_status_ = std::move(status);
      exit_status_set_ = true;
    }
  }
  Exit();
}

std::unique_ptr<ExitHandle> ShmEventLoop::MakeExitHandle() {
  CheckCurrentThread("MakeExitHandle");
  return std::make_unique<ShmExitHandle>(this);
}

}  // namespace aos
