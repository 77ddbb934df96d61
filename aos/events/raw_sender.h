#ifndef AOS_EVENTS_RAW_SENDER_H_
#define AOS_EVENTS_RAW_SENDER_H_

// RawSender: publishing on one channel without knowing its message type
// (bytes built in the sender's buffer, or copied in). The typed Sender<T>
// (typed_sender.h) wraps it; the message bridge and log replay use it
// directly. Each EventLoop implementation derives its sender from it (the
// protected section). Also here: the buffer's alignment rule and the
// flatbuffers allocator that builds messages in place. Made by
// EventLoop::MakeRawSender; include aos/events/event_loop.h to use it.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "aos/channel_data_alignment.h"
#include "aos/configuration_generated.h"
#include "aos/events/context.h"
#include "aos/events/timing_statistics.h"
#include "aos/flatbuffers/arena.h"
#include "aos/time/time.h"
#include "aos/uuid.h"
#include "flatbuffers/flatbuffers.h"

namespace aos {

class EventLoop;

namespace internal {
[[noreturn]] void DieChannelDataMisaligned(const void *data, size_t size);
}  // namespace internal

// CHECK-fails unless the payload [data, data + size) ends at a multiple of
// kChannelDataAlignment. Inline: every send, fetch and callback checks.
inline void CheckChannelDataAlignment(const void *data, size_t size) {
  if ((reinterpret_cast<uintptr_t>(data) + size) % kChannelDataAlignment != 0)
      [[unlikely]] {
    internal::DieChannelDataMisaligned(data, size);
  }
}

// A flatbuffers allocator over a sender's message buffer, so messages are
// built in place (in shared memory for ShmEventLoop). It hands out its one
// block at most once at a time; asking for more than the channel's max_size
// is fatal, naming the channel. With `static_arena`, handing out the block
// while that arena builds a static flatbuffer in the same buffer is fatal
// too.
class ChannelPreallocatedAllocator : public flatbuffers::Allocator {
 public:
  ChannelPreallocatedAllocator(uint8_t *data, size_t size,
                               const Channel *channel,
                               const fbs::Arena *static_arena = nullptr)
      : data_(data),
        size_(size),
        channel_(channel),
        static_arena_(static_arena) {}
  ChannelPreallocatedAllocator(const ChannelPreallocatedAllocator &) = delete;
  // Rebinds to another buffer. CHECK-fails while a block is handed out.
  ChannelPreallocatedAllocator &operator=(ChannelPreallocatedAllocator &&);
  // Rebinds to another buffer of the same channel and arena (what a sender
  // does before each message). CHECK-fails while a block is handed out.
  void Reset(uint8_t *data, size_t size) {
    if (is_allocated_) [[unlikely]] {
      DieAllocated();
    }
    data_ = data;
    size_ = size;
  }
  ~ChannelPreallocatedAllocator() override;

  uint8_t *allocate(size_t size) override;
  void deallocate(uint8_t *pointer, size_t size) override;
  uint8_t *reallocate_downward(uint8_t *old_p, size_t old_size, size_t new_size,
                               size_t in_use_back,
                               size_t in_use_front) override;

  bool is_allocated() const { return is_allocated_; }
  uint8_t *data() { return data_; }
  size_t size() const { return size_; }

 private:
  [[noreturn]] void DieAllocated() const;

  bool is_allocated_ = false;
  uint8_t *data_;
  size_t size_;
  const Channel *channel_;
  const fbs::Arena *static_arena_;
};

// Sends messages on one channel. Made by EventLoop::MakeRawSender; the typed
// Sender<T> wraps it.
//
// The zero-copy way is to write up to size() bytes ending at the end of the
// buffer at data(), then Send(length). The copying overloads memcpy the
// message into that buffer first. Each successful send may move data() to
// another buffer.
class RawSender {
 public:
  // A reference-counted message payload (zero-copy in simulation).
  using SharedSpan = std::shared_ptr<const std::span<const uint8_t>>;

  enum class [[nodiscard]] Error : int{
      kOk = 0,
      // Sending would overwrite a message sent less than the channel's storage
      // duration ago, i.e. the channel's frequency is exceeded. Nothing was
      // published and nobody was woken; the sender can try again later.
      kMessagesSentTooFast = 1,
      // Someone wrote outside their message buffer. Implementations CHECK-fail
      // before returning this; it exists for the timing report.
      kInvalidRedzone = 2,
  };

  RawSender(EventLoop *event_loop, const Channel *channel);
  RawSender(const RawSender &) = delete;
  RawSender &operator=(const RawSender &) = delete;
  virtual ~RawSender();

  // The buffer to build the next message in, and its size (the channel's
  // max_size).
  virtual void *data() = 0;
  virtual size_t size() = 0;

  // Publishes the last `size` bytes of data(). CHECK-fails if size > size()
  // ("Sent too big a message on <channel>"). Readers see this node's send
  // times as the remote times, and this boot's UUID.
  Error Send(size_t size);

  // As above, for a message that came from another node (message bridge,
  // log replay): readers see these remote times, index and boot UUID.
  Error Send(size_t size, monotonic_clock::time_point monotonic_remote_time,
             realtime_clock::time_point realtime_remote_time,
             monotonic_clock::time_point monotonic_remote_transmit_time,
             uint32_t remote_queue_index, const UUID &source_boot_uuid);

  // Copies `size` bytes from `data` and publishes them.
  Error Send(const void *data, size_t size);
  Error Send(const void *data, size_t size,
             monotonic_clock::time_point monotonic_remote_time,
             realtime_clock::time_point realtime_remote_time,
             monotonic_clock::time_point monotonic_remote_transmit_time,
             uint32_t remote_queue_index, const UUID &source_boot_uuid);

  // Publishes a reference-counted payload: copied in shared memory, shared
  // without copying in simulation.
  Error Send(const SharedSpan data);
  Error Send(const SharedSpan data,
             monotonic_clock::time_point monotonic_remote_time,
             realtime_clock::time_point realtime_remote_time,
             monotonic_clock::time_point monotonic_remote_transmit_time,
             uint32_t remote_queue_index, const UUID &source_boot_uuid);

  // Does nothing for kOk. Otherwise sends a timing report (so the failure is
  // visible to tools) and dies naming the channel and the error.
  void CheckOk(const Error err);

  // Times and queue index of the last successful send (min_time and
  // 0xffffffff before the first).
  monotonic_clock::time_point monotonic_sent_time() const {
    return monotonic_sent_time_;
  }
  realtime_clock::time_point realtime_sent_time() const {
    return realtime_sent_time_;
  }
  uint32_t sent_queue_index() const { return sent_queue_index_; }

  const Channel *channel() const { return channel_; }
  EventLoop *event_loop() const { return event_loop_; }

  // Index of the data() buffer in [0, EventLoop::NumberBuffers(channel)).
  virtual int buffer_index() = 0;

  // The allocator for building a flatbuffer in data(). CHECK-fails ("May not
  // have multiple active allocators on a single sender") if the previous
  // builder or detached buffer, or a static builder, is still alive.
  ChannelPreallocatedAllocator *fbb_allocator();

  // The arena for building a static flatbuffer (aos/flatbuffers/) in data(),
  // for Sender<T>::MakeStaticBuilder. CHECK-fails like fbb_allocator() if
  // any builder (static or not) or detached buffer is still alive.
  fbs::Arena *static_allocator();

 protected:
  // Implementations publish and, on success, set the *_sent_time_ and
  // sent_queue_index_ members. They wake watchers only on success.
  virtual Error DoSend(
      size_t length, monotonic_clock::time_point monotonic_remote_time,
      realtime_clock::time_point realtime_remote_time,
      monotonic_clock::time_point monotonic_remote_transmit_time,
      uint32_t remote_queue_index, const UUID &source_boot_uuid) = 0;
  virtual Error DoSend(
      const void *data, size_t length,
      monotonic_clock::time_point monotonic_remote_time,
      realtime_clock::time_point realtime_remote_time,
      monotonic_clock::time_point monotonic_remote_transmit_time,
      uint32_t remote_queue_index, const UUID &source_boot_uuid) = 0;
  // Default: copies, as DoSend(data, length, ...).
  virtual Error DoSend(
      const SharedSpan data, monotonic_clock::time_point monotonic_remote_time,
      realtime_clock::time_point realtime_remote_time,
      monotonic_clock::time_point monotonic_remote_transmit_time,
      uint32_t remote_queue_index, const UUID &source_boot_uuid);

  // For implementations: `failures` wakeup signals to watchers were refused
  // by the kernel (EAGAIN) after a successful send; reported in the timing
  // report's Sender.signal_failures.
  void RecordSignalFailures(uint64_t failures) {
    timing_.AddSignalFailures(failures);
  }

  monotonic_clock::time_point monotonic_sent_time_ = monotonic_clock::min_time;
  realtime_clock::time_point realtime_sent_time_ = realtime_clock::min_time;
  uint32_t sent_queue_index_ = Context::kInvalidQueueIndex;

 private:
  friend class EventLoop;
  Error RecordSend(Error err, size_t size);
  void CheckSize(size_t size);

  EventLoop *const event_loop_;
  const Channel *const channel_;
  internal::RawSenderTiming timing_;
  // Bound to data() before each message (fbb_allocator()).
  ChannelPreallocatedAllocator fbb_allocator_{nullptr, 0, channel_,
                                              &static_allocator_};
  fbs::Arena static_allocator_;
};

// Counts send failures for callers that tolerate some (e.g. best-effort
// status messages).
class SendFailureCounter {
 public:
  void Count(RawSender::Error error) {
    just_failed_ = error != RawSender::Error::kOk;
    if (just_failed_) ++failures_;
  }
  int failures() const { return failures_; }
  bool just_failed() const { return just_failed_; }

 private:
  int failures_ = 0;
  bool just_failed_ = false;
};

}  // namespace aos

#endif  // AOS_EVENTS_RAW_SENDER_H_
