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

  // The next message in time order, or nullopt once every part is read.
  std::optional<LogMessage> Next();
  // Hands a message's buffer back for reuse, so a steady stream does not
  // allocate per message.
  void Recycle(LogMessage message);

  // One line per part that could not be read to its end.
  const std::vector<std::string> &warnings() const { return warnings_; }

 private:
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
  };
  // The heap orders small keys; the messages stay put in slots_, so
  // sifting moves 24 bytes instead of a whole message.
  struct Key {
    monotonic_clock::time_point monotonic_sent_time;
    uint32_t channel_index;
    uint32_t queue_index;
    uint32_t slot;
  };
  struct Later {
    bool operator()(const Key &a, const Key &b) const {
      if (a.monotonic_sent_time != b.monotonic_sent_time) {
        return a.monotonic_sent_time > b.monotonic_sent_time;
      }
      if (a.channel_index != b.channel_index) {
        return a.channel_index > b.channel_index;
      }
      return a.queue_index > b.queue_index;
    }
  };

  LogMessageStream() = default;
  // Reads one message of `sequence` into the heap; false at its end.
  bool ReadOne(Sequence *sequence);

  std::vector<Sequence> sequences_;
  std::vector<Key> heap_;
  std::vector<LogMessage> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<std::vector<uint8_t>> free_buffers_;
  std::vector<std::string> warnings_;
};

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_LOG_MESSAGE_STREAM_H_
