#ifndef AOS_EVENTS_SIMULATED_CHANNEL_H_
#define AOS_EVENTS_SIMULATED_CHANNEL_H_

// The storage behind a simulated channel on one node (internal to
// SimulatedEventLoopFactory): a ring of the last queue_size messages as in
// shared memory, a pool of reference-counted message buffers shared without
// copying by fetchers, watcher callbacks and the message bridge, and the
// sender/reader accounting the shared-memory queue enforces.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/event_loop.h"
#include "aos/events/simulated_event_loop.h"
#include "glog/logging.h"

namespace aos {
namespace simulated_internal {

// One message buffer of a channel. It is a sender's scratch buffer, then a
// published message in the channel's ring, and then it stays alive while any
// fetcher, watcher callback or message-bridge delivery refers to it (that is
// how messages are shared without copying). Buffers go back to the channel's
// pool when the last reference drops.
class SimulatedMessage {
 public:
  SimulatedMessage(SimulatedChannel *channel, size_t max_size)
      : channel_(channel),
        storage_(new uint8_t[max_size + kChannelDataAlignment]) {
    // The payload is built backwards from the end of the buffer, which must
    // be aligned.
    const uintptr_t end = reinterpret_cast<uintptr_t>(storage_.get()) +
                          max_size + kChannelDataAlignment;
    const uintptr_t aligned_end = end & ~(kChannelDataAlignment - 1);
    buffer_ = reinterpret_cast<uint8_t *>(aligned_end - max_size);
  }

  uint8_t *buffer() { return buffer_; }

  Context context;
  int ref_count = 0;
  // The buffer_index token this buffer holds, or -1.
  int buffer_index = -1;
  // Set when the payload was sent zero-copy from a SharedSpan.
  RawSender::SharedSpan external;

 private:
  friend class SimulatedChannel;
  friend class MessageRef;
  SimulatedChannel *const channel_;
  std::unique_ptr<uint8_t[]> storage_;
  uint8_t *buffer_;
};

// Watchers armed on a channel, told about each send.
class ChannelWatcher {
 public:
  virtual void OnSend(const SimulatedMessage &message) = 0;

 protected:
  ~ChannelWatcher() = default;
};

// One channel on one node: the ring of its last queue_size messages (as in
// shared memory), its buffer pool and the accounting of senders and readers.
class SimulatedChannel {
 public:
  SimulatedChannel(NodeEventLoopFactory *node, const Configuration *config,
                   const Channel *channel)
      : node_(node),
        channel_(channel),
        queue_size_(configuration::QueueSize(config, channel)),
        storage_duration_(
            configuration::ChannelStorageDuration(config, channel)),
        max_size_(channel->max_size()),
        pin_(channel->read_method() == ReadMethod::PIN),
        ring_(queue_size_, nullptr) {
    const int number_buffers = static_cast<int>(queue_size_) +
                               configuration::QueueScratchBufferSize(channel);
    for (int i = number_buffers - 1; i >= 0; --i) free_indices_.push_back(i);
  }

  ~SimulatedChannel() {
    Clear();
    // Everything must have come back to the pool by now.
    CHECK_EQ(free_.size(), all_.size())
        << ": messages of " << configuration::StrippedChannelToString(channel_)
        << " are still referenced when the simulation ends";
  }

  const Channel *channel() const { return channel_; }
  NodeEventLoopFactory *node() const { return node_; }
  bool pin() const { return pin_; }
  size_t max_size() const { return max_size_; }

  // The number of messages published since the last Clear(); the next
  // message gets this index.
  uint64_t next_index() const { return next_index_; }

  // The index of the oldest message still in the ring (0 before it filled).
  uint64_t OldestIndex() const {
    return next_index_ > queue_size_ ? next_index_ - queue_size_ : 0;
  }

  // The message with index `index`, or nullptr if it left the ring.
  // Requires index < next_index().
  SimulatedMessage *Get(uint64_t index) const {
    if (index + queue_size_ < next_index_) return nullptr;
    // Readers keeping up ask for the newest message: its slot is known
    // without dividing.
    if (index + 1 == next_index_) {
      return ring_[next_slot_ == 0 ? queue_size_ - 1 : next_slot_ - 1];
    }
    return ring_[index % queue_size_];
  }

  // A buffer (holding one reference and a buffer_index token) for a sender.
  SimulatedMessage *AcquireScratch() {
    SimulatedMessage *message;
    if (free_.empty()) {
      all_.push_back(std::make_unique<SimulatedMessage>(this, max_size_));
      message = all_.back().get();
    } else {
      message = free_.back();
      free_.pop_back();
    }
    CHECK(!free_indices_.empty())
        << ": out of buffer indices on "
        << configuration::StrippedChannelToString(channel_);
    message->buffer_index = free_indices_.back();
    free_indices_.pop_back();
    message->ref_count = 1;
    return message;
  }

  void Ref(SimulatedMessage *message) { ++message->ref_count; }
  void Unref(SimulatedMessage *message) {
    if (--message->ref_count > 0) return;
    ReleaseIndex(message);
    message->external.reset();
    free_.push_back(message);
  }

  // Publishes `message` (a scratch buffer whose reference passes to the
  // ring) with its context filled in, unless that would displace a message
  // sent less than the storage duration ago and `check_sent_too_fast`.
  RawSender::Error Publish(SimulatedMessage *message, bool check_sent_too_fast,
                           monotonic_clock::time_point monotonic_now,
                           realtime_clock::time_point realtime_now) {
    // The slot of next_index_, kept alongside it (no division per send).
    SimulatedMessage **slot = &ring_[next_slot_];
    if (check_sent_too_fast && *slot != nullptr &&
        monotonic_now - (*slot)->context.monotonic_event_time <
            storage_duration_) {
      return RawSender::Error::kMessagesSentTooFast;
    }
    Context &context = message->context;
    context.monotonic_event_time = monotonic_now;
    context.realtime_event_time = realtime_now;
    context.queue_index = static_cast<uint32_t>(next_index_);
    if (context.monotonic_remote_time == monotonic_clock::min_time) {
      context.monotonic_remote_time = monotonic_now;
    }
    if (context.realtime_remote_time == realtime_clock::min_time) {
      context.realtime_remote_time = realtime_now;
    }
    if (context.remote_queue_index == Context::kInvalidQueueIndex) {
      context.remote_queue_index = context.queue_index;
    }
    context.buffer_index = pin_ ? message->buffer_index : -1;

    if (*slot != nullptr) {
      SimulatedMessage *displaced = *slot;
      // A COPY reader owns its copy in shared memory: the buffer_index
      // leaves with the message. PIN readers keep theirs.
      if (!pin_) ReleaseIndex(displaced);
      Unref(displaced);
    }
    *slot = message;
    ++next_index_;
    if (++next_slot_ == queue_size_) next_slot_ = 0;

    for (ChannelWatcher *watcher : watchers_) watcher->OnSend(*message);
    if (!listeners_.empty()) {
      const MessageRef ref(message);
      for (auto &listener : listeners_) listener(ref);
    }
    return RawSender::Error::kOk;
  }

  // Drops every message (a reboot).
  void Clear() {
    for (SimulatedMessage *&message : ring_) {
      if (message != nullptr) {
        if (!pin_) ReleaseIndex(message);
        Unref(message);
        message = nullptr;
      }
    }
    next_index_ = 0;
    next_slot_ = 0;
  }

  void AddWatcher(ChannelWatcher *watcher) { watchers_.push_back(watcher); }
  void RemoveWatcher(ChannelWatcher *watcher) {
    auto it = std::find(watchers_.begin(), watchers_.end(), watcher);
    if (it != watchers_.end()) watchers_.erase(it);
  }
  size_t armed_watchers() const { return watchers_.size(); }

  void AddListener(std::function<void(const MessageRef &)> fn) {
    listeners_.push_back(std::move(fn));
  }

  // Counts a new pinning reader (fetcher or watcher), dying like the
  // shared-memory queue when the channel's num_readers are all taken.
  void AddPinningReader() {
    CHECK_LT(readers, channel_->num_readers())
        << ": Failed to create reader on "
        << configuration::StrippedChannelToString(channel_)
        << ", too many readers.  num_readers is " << channel_->num_readers()
        << " (pinning fetchers and watchers of every simulated process on "
           "the node count).";
    ++readers;
  }

  // Sender and reader accounting, as the shared-memory queue enforces it.
  int senders = 0;
  int readers = 0;
  // The live sender of a loop with ExclusiveSenders::kYes, if any.
  const RawSender *exclusive_sender = nullptr;

 private:
  void ReleaseIndex(SimulatedMessage *message) {
    if (message->buffer_index < 0) return;
    free_indices_.push_back(message->buffer_index);
    message->buffer_index = -1;
  }

  NodeEventLoopFactory *const node_;
  const Channel *const channel_;
  const size_t queue_size_;
  const std::chrono::nanoseconds storage_duration_;
  const size_t max_size_;
  const bool pin_;

  std::vector<SimulatedMessage *> ring_;
  uint64_t next_index_ = 0;
  size_t next_slot_ = 0;

  std::vector<std::unique_ptr<SimulatedMessage>> all_;
  std::vector<SimulatedMessage *> free_;
  std::vector<int> free_indices_;

  std::vector<ChannelWatcher *> watchers_;
  std::vector<std::function<void(const MessageRef &)>> listeners_;
};

}  // namespace simulated_internal
}  // namespace aos

#endif  // AOS_EVENTS_SIMULATED_CHANNEL_H_
