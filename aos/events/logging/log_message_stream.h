#ifndef AOS_EVENTS_LOGGING_LOG_MESSAGE_STREAM_H_
#define AOS_EVENTS_LOGGING_LOG_MESSAGE_STREAM_H_

// LogMessageStream: the messages a log holds for one node, in time order.
//
// The logger writes each channel's messages in order, but drains channels one
// after the other, so a part file is only sorted to within the header's
// max_out_of_order_duration; a log also has several part sequences (rotation
// restarts, data received from other nodes). This merges every sequence of a
// node into one stream sorted by (monotonic_sent_time, channel_index,
// queue_index), holding back only what the out-of-order bound requires.
// LogReader, log_to_mcap and log_diff all read logs through it.
//
//   LogMessageStream stream(log, "");      // single-node log
//   while (std::optional<LogMessage> m = stream.Next()) { ... }
//   for (const std::string &w : stream.warnings()) ...   // truncated parts
//
// A damaged or truncated part is read up to the damage; the stream goes on
// with the other parts and records a warning naming the file and where it was
// cut (also logged).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aos/events/logging/logfile_sorting.h"
#include "aos/events/logging/part_reader.h"
#include "aos/time/time.h"
#include "aos/util/status.h"

namespace aos::logger {

// One logged message (a MessageHeader, owned).
struct LogMessage {
  uint32_t channel_index = 0;
  monotonic_clock::time_point monotonic_sent_time = monotonic_clock::min_time;
  realtime_clock::time_point realtime_sent_time = realtime_clock::min_time;
  uint32_t queue_index = 0;
  // For messages forwarded from another node: the times on the source node
  // (min_time otherwise).
  monotonic_clock::time_point monotonic_remote_time = monotonic_clock::min_time;
  realtime_clock::time_point realtime_remote_time = realtime_clock::min_time;
  uint32_t remote_queue_index = 0xffffffff;
  monotonic_clock::time_point monotonic_remote_transmit_time =
      monotonic_clock::min_time;
  // The message's flatbuffer; empty for timestamp-only records.
  std::vector<uint8_t> data;
  // Whether the record had a data vector at all.
  bool has_data = false;
};

class LogMessageStream {
 public:
  // Reads the parts of `log` about `node` (its name; "" for single-node
  // logs, or to take every part) that hold data. Opening errors (a file gone
  // since sorting) come back from Open.
  static Result<std::unique_ptr<LogMessageStream>> Open(const LogFile &log,
                                                        std::string_view node);

  // The next message in time order, without taking it: valid (and
  // unchanged) until the next Pop() or Next(); nullptr once every part is
  // read. This is the fast way to read a stream: nothing is copied.
  const LogMessage *Peek();
  // Drops the message Peek() returned. Call only after Peek() returned one.
  void Pop();

  // The next message in time order, or nullopt once every part is read: a
  // copy-free move of Peek()'s message, whose buffer is replaced by one
  // handed back by Recycle.
  std::optional<LogMessage> Next();
  // Hands a message's buffer back for reuse, so a steady stream of Next()
  // does not allocate per message.
  void Recycle(LogMessage message);

  // One line per part that could not be read to its end.
  const std::vector<std::string> &warnings() const { return warnings_; }

 private:
  // The messages of one channel read from one part sequence and not yet
  // released, in order. The logger writes each channel in order, so a
  // message is almost always appended; one that is not is moved back to its
  // place. Slots live in a ring and keep their buffers when popped, so a
  // steady stream copies each message once (out of the part reader's
  // buffer) and allocates nothing.
  struct Queue {
    std::vector<LogMessage> ring;  // A power of two slots.
    size_t head = 0;               // Index of the first message (mod size).
    size_t size = 0;
    uint32_t sequence_index = 0;
    // Where the queue is in heap_ (kNotInHeap while empty).
    size_t heap_index = kNotInHeap;

    LogMessage &at(size_t i) { return ring[(head + i) & (ring.size() - 1)]; }
    LogMessage &front() { return ring[head]; }
    const LogMessage &front() const { return ring[head]; }
  };
  static constexpr size_t kNotInHeap = ~size_t{0};
  // One part sequence, read part after part.
  struct Sequence {
    std::vector<std::string> paths;
    size_t next_path = 0;
    std::unique_ptr<PartReader> reader;
    // Time of the last message read from this sequence; messages still to
    // come are no earlier than this minus the out-of-order bound.
    monotonic_clock::time_point last_time = monotonic_clock::min_time;
    std::chrono::nanoseconds max_out_of_order{0};
    bool done = false;
    // The queue of each channel index (null until the channel is seen;
    // pointers stay valid as the vector grows).
    std::vector<std::unique_ptr<Queue>> queues;
  };

  LogMessageStream() = default;
  // Reads one message of `sequence` into its channel's queue; false at its
  // end.
  bool ReadOne(Sequence *sequence);
  // Recomputes lagging_ and lagging_bound_.
  void FindLagging();
  // Whether queue a's first message comes after b's: by (monotonic sent
  // time, channel index, queue index, sequence).
  static bool Later(const Queue *a, const Queue *b);
  static bool Later(const LogMessage &a, uint32_t sequence_a,
                    const LogMessage &b, uint32_t sequence_b);
  void SiftUp(size_t index);
  void SiftDown(size_t index);
  void HeapPush(Queue *queue);
  void HeapPopFront();

  std::vector<Sequence> sequences_;
  // The non-empty queues, a binary min-heap by their first messages, so
  // merging costs log(channels), not log(messages held back).
  std::vector<Queue *> heap_;
  // The sequence that may still hold the earliest unread message, and the
  // time its unread messages are no earlier than (min_time before it was
  // read at all). Everything in the queues earlier than that is final.
  Sequence *lagging_ = nullptr;
  monotonic_clock::time_point lagging_bound_ = monotonic_clock::min_time;
  // Messages on channel indices at or past this (the configuration's
  // channel count) share the queue of this index.
  size_t max_channel_queue_ = 0;
  // Whether Peek() returned a message Pop() has not dropped yet.
  bool peeked_ = false;
  std::vector<std::vector<uint8_t>> free_buffers_;
  std::vector<std::string> warnings_;
};

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_LOG_MESSAGE_STREAM_H_
