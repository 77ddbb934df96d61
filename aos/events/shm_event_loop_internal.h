#ifndef AOS_EVENTS_SHM_EVENT_LOOP_INTERNAL_H_
#define AOS_EVENTS_SHM_EVENT_LOOP_INTERNAL_H_

// Internals of ShmEventLoop shared by its source files (shm_event_loop.cc,
// shm_sender.cc, shm_fetcher.cc, shm_watcher.cc, shm_timers.cc); not part of
// the API. The loop keeps watchers with a pending message, timers and phased
// loops in one EventQueue ordered by event time; SimpleShmFetcher reads one
// channel for a fetcher or a watcher. These stay defined here, inline, because
// the loop's dispatch path (HandleEvents, BeforeWait) calls into watchers and
// their fetchers on every wakeup.

#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "aos/events/shm_channel_queue.h"
#include "aos/events/shm_event_loop.h"
#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/memory_mapped_queue.h"

namespace aos {
namespace shm_event_loop_internal {

// Maps `channel`'s queue, creating the file if needed. Stale or mismatched
// files are a configuration problem of the machine, not of this program; the
// error names the file and how to remove it.
inline ipc_lib::MemoryMappedQueue OpenQueue(const ShmEventLoop *event_loop,
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
        reader_(queue_.queue()),
        data_size_(channel->max_size()),
        max_queue_index_(queue_.queue().layout().max_queue_index) {
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

  // A ReadFilter that asks `predicate` with the candidate's Context (data
  // nullptr). Must not outlive `predicate`.
  static auto ContextFilter(const ContextPredicate &predicate) {
    return [&predicate](const ipc_lib::MessageInfo &candidate) {
      Context candidate_context;
      FillContext(candidate, candidate.queue_index, &candidate_context);
      return predicate(candidate_context);
    };
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
    if (predicate == nullptr)
      return FetchNext(ipc_lib::ReadFilter(), policy, lost);
    const auto filter = ContextFilter(*predicate);
    return FetchNext(ipc_lib::ReadFilter(filter), policy, lost);
  }
  // As above, with a filter on the queue's metadata (RawFetcher's
  // FetchNextUntil filters on the send time without building a Context for
  // every candidate).
  bool FetchNext(ipc_lib::ReadFilter filter, FallBehindPolicy policy,
                 uint64_t *lost) {
    for (int skips = 0;; ++skips) {
      const ipc_lib::ReadResult result = Read(next_queue_index_, filter);
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
          FellBehind(result, policy, skips, lost);
          continue;
      }
    }
  }

  // Fetches messages one after the other, exactly as calling
  // FetchNext(filter, policy, lost) until it returns false would (the same
  // skips and lost counts), calling `each` with context() after each one and
  // stopping after an `each` that returns false. One LocklessQueueReader::
  // ReadRun per run of messages instead of a Read per message.
  void FetchRun(ipc_lib::ReadFilter filter, FallBehindPolicy policy,
                uint64_t *lost, ContextPredicate each) {
    int skips = 0;
    bool stopped = false;
    bool pin_failed = false;
    const auto deliver = [&](const ipc_lib::MessageInfo &info) {
      if (!Deliver(info)) {
        pin_failed = true;
        return false;
      }
      context_.lost_messages = pending_lost_;
      pending_lost_ = 0;
      skips = 0;
      if (!each(context_)) {
        stopped = true;
        return false;
      }
      return true;
    };
    while (true) {
      const ipc_lib::LocklessQueueReader::RunResult run = reader_.ReadRun(
          next_queue_index_.index(),
          mode_ == Mode::kCopy ? copy_destination_ : nullptr, filter, deliver);
      if (stopped) return;
      // A pin that failed is a read that overlapped an overwrite (as in Read).
      const ipc_lib::ReadResult result =
          pin_failed ? ipc_lib::ReadResult::OVERWROTE : run.stop;
      pin_failed = false;
      switch (result) {
        case ipc_lib::ReadResult::GOOD:
        case ipc_lib::ReadResult::NOTHING_NEW:
        case ipc_lib::ReadResult::FILTERED:
          return;
        case ipc_lib::ReadResult::TOO_OLD:
        case ipc_lib::ReadResult::OVERWROTE:
          FellBehind(result, policy, skips++, lost);
          continue;
      }
    }
  }

  bool Fetch(const ContextPredicate *predicate) {
    if (predicate == nullptr) return Fetch(ipc_lib::ReadFilter());
    const auto filter = ContextFilter(*predicate);
    return Fetch(ipc_lib::ReadFilter(filter));
  }
  bool Fetch(ipc_lib::ReadFilter filter) {
    while (true) {
      const ipc_lib::QueueIndex latest = reader_.LatestIndex();
      if (!latest.valid()) return false;
      if (fetched_any_ && latest == next_queue_index_.Decrement()) {
        return false;
      }
      const ipc_lib::ReadResult result = Read(latest, filter);
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

  // A read found the reader more than a queue behind (`result`: TOO_OLD or
  // OVERWROTE), `skips` times in a row: dies under kDie; under kSkipToOldest
  // moves to the oldest message still in the ring, adds the number skipped
  // to `*lost` and to the next fetched context's lost_messages. A skip lands
  // on a message that a fast sender may overwrite before we read it; each
  // retry re-reads the ring's newest index, so it only fails again if the
  // sender lapped us again in between. Past kMaxSkips the sender outruns any
  // reader: jump to the newest message instead.
  void FellBehind(ipc_lib::ReadResult result, FallBehindPolicy policy,
                  int skips, uint64_t *lost) {
    constexpr int kMaxSkips = 64;
    if (policy != FallBehindPolicy::kSkipToOldest) DieFellBehind(result);
    const uint64_t skipped = SkipToOldest(skips >= kMaxSkips);
    pending_lost_ += skipped;
    *lost += skipped;
  }

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
                           ipc_lib::ReadFilter filter) {
    ipc_lib::MessageInfo info;
    const ipc_lib::ReadResult result = reader_.Read(
        queue_index.index(), &info,
        mode_ == Mode::kCopy ? copy_destination_ : nullptr, filter);
    if (result != ipc_lib::ReadResult::GOOD) return result;
    return Deliver(info) ? result : ipc_lib::ReadResult::OVERWROTE;
  }

  // Makes the message `info` (read GOOD) the fetched one: context_ (but
  // its lost_messages), the pin, and the index to read next. False if it
  // was overwritten between the read and the pin (a pinning fetcher), as if
  // the read had overlapped the overwrite; nothing changes then.
  bool Deliver(const ipc_lib::MessageInfo &info) {
    int buffer_index = -1;
    if (mode_ == Mode::kPin) {
      buffer_index = pinner_->PinIndex(info.queue_index);
      if (buffer_index < 0) return false;
    }
    FillContext(info, info.queue_index, &context_);
    switch (mode_) {
      case Mode::kCopy:
        context_.data = copy_destination_ + data_size_ - info.length;
        break;
      case Mode::kPin:
        context_.buffer_index = buffer_index;
        context_.data = static_cast<const char *>(pinner_->Data()) +
                        pinner_->size() - info.length;
        break;
      case Mode::kNoData:
        break;
    }
    // Increment() without QueueIndex's division.
    next_queue_index_ = ipc_lib::QueueIndex::FromRaw(
        info.queue_index + 1 == max_queue_index_ ? 0 : info.queue_index + 1,
        queue_.config().queue_size);
    fetched_any_ = true;
    return true;
  }

  ShmEventLoop *const event_loop_;
  const Channel *const channel_;
  const Mode mode_;
  ipc_lib::MemoryMappedQueue queue_;
  ipc_lib::LocklessQueueReader reader_;
  std::optional<ipc_lib::LocklessQueuePinner> pinner_;
  std::unique_ptr<char[]> copy_buffer_;
  char *copy_destination_ = nullptr;
  // channel_->max_size() and the queue's layout's max_queue_index, kept:
  // both are needed for every message read.
  const size_t data_size_;
  const uint32_t max_queue_index_;

  ipc_lib::QueueIndex next_queue_index_ = ipc_lib::QueueIndex::Invalid();
  bool fetched_any_ = false;
  // Messages skipped since the last message fetched by FetchNext.
  uint64_t pending_lost_ = 0;
  Context context_;
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
    // This loop follows the coalescing protocol (BeforeWait) but arms only
    // when idle: coalesce from the start, not from the first arm.
    watcher_->StartCoalescing();
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

}  // namespace shm_event_loop_internal
}  // namespace aos

#endif  // AOS_EVENTS_SHM_EVENT_LOOP_INTERNAL_H_
