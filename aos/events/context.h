#ifndef AOS_EVENTS_CONTEXT_H_
#define AOS_EVENTS_CONTEXT_H_

// Context: what an event loop knows about the event being handled.
//
// EventLoop::context() is set before every watcher callback, timer and phased
// loop callback, and by every successful fetch on the fetcher's own
// context(). It says when the event happened (the message's send time, or the
// time a timer was scheduled for), where the message sits in its queue, and
// where its bytes are.

#include <cstddef>
#include <cstdint>

#include "aos/flatbuffers.h"
#include "aos/time/time.h"
#include "aos/uuid.h"

namespace aos {

struct Context {
  // Queue index meaning "no message" (timers, or nothing fetched yet).
  static constexpr uint32_t kInvalidQueueIndex = 0xffffffffu;

  // Send time on this node (watchers and fetchers) or the scheduled time
  // (timers and phased loops).
  monotonic_clock::time_point monotonic_event_time = monotonic_clock::min_time;
  // Realtime send time; min_time for timers.
  realtime_clock::time_point realtime_event_time = realtime_clock::min_time;

  // Send times on the node the message came from; the event times for local
  // messages.
  monotonic_clock::time_point monotonic_remote_time = monotonic_clock::min_time;
  realtime_clock::time_point realtime_remote_time = realtime_clock::min_time;
  // When the source node handed the message to the network; min_time for
  // local messages.
  monotonic_clock::time_point monotonic_remote_transmit_time =
      monotonic_clock::min_time;

  // Index of the message in this node's queue; kInvalidQueueIndex for timers.
  uint32_t queue_index = kInvalidQueueIndex;
  // Index in the source node's queue; queue_index for local messages.
  uint32_t remote_queue_index = kInvalidQueueIndex;

  // Payload length and location. The payload ends at a 128-byte aligned
  // address. data is nullptr for timers and no-arg watchers.
  size_t size = 0;
  const void *data = nullptr;

  // In [0, EventLoop::NumberBuffers(channel)) when the payload lives in a
  // shared-memory buffer the reader may identify it by (PIN channels), -1
  // otherwise.
  int buffer_index = -1;

  // Boot of the node that sent the message (this node's boot for local
  // events).
  UUID source_boot_uuid = UUID::Zero();

  // Messages of this channel the reader skipped just before this one because
  // it fell more than a queue behind (FallBehindPolicy::kSkipToOldest). 0
  // otherwise, and always for timers and Fetch().
  uint64_t lost_messages = 0;

  // Copies the payload. Requires data != nullptr.
  template <typename T>
  FlatbufferVector<T> CopyFlatBuffer() const {
    CHECK(data != nullptr) << ": no message in this context to copy";
    const uint8_t *begin = static_cast<const uint8_t *>(data);
    return FlatbufferVector<T>(std::span<const uint8_t>(begin, size));
  }
};

}  // namespace aos

#endif  // AOS_EVENTS_CONTEXT_H_
