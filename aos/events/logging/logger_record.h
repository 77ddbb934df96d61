#ifndef AOS_EVENTS_LOGGING_LOGGER_RECORD_H_
#define AOS_EVENTS_LOGGING_LOGGER_RECORD_H_

// Writing a size-prefixed MessageHeader (logger.fbs) straight into memory,
// without a FlatBufferBuilder.
//
// The Logger writes one record per logged message. Building each through a
// FlatBufferBuilder copied the payload into the builder, then the builder's
// bytes into the part writer's buffer, and spent more instructions on the
// builder's bookkeeping than on the copies. A MessageHeader has a fixed
// shape for each combination of fields the Logger writes, so it is laid out
// here directly in the part writer's buffer: one copy of the payload.
//
// The result is an ordinary flatbuffer that any flatbuffers reader
// (upstream's included) reads and verifies; only its byte layout differs
// from what a builder would make (fields in front-to-back order, and every
// field the Logger sets is present even when it holds the default). Layout,
// all offsets from the start of the record (which starts 8-aligned in the
// stream):
//
//   0   uint32 size prefix (record size - 4)
//   4   uint32 root offset (to the table)
//   8   vtable: uint16 vtable size, uint16 table size, uint16 per field id
//       0..last present id (0 = absent)
//   T   (8-aligned) int32 soffset to the vtable, the uint32 fields, then the
//       int64 fields 8-aligned
//   V   uint32 data length, where V + 4 is 8-aligned; the payload follows
//       (8-aligned, so it can be read in place), then zeros to a multiple
//       of 8.

#include <cstddef>
#include <cstdint>
#include <span>

namespace aos::logger {

// The fields of one MessageHeader, as the Logger fills them in.
struct MessageRecord {
  uint32_t channel_index = 0;
  int64_t monotonic_sent_time = 0;
  int64_t realtime_sent_time = 0;
  uint32_t queue_index = 0;
  // The payload, written as `data` if has_data (it may be empty).
  bool has_data = false;
  std::span<const uint8_t> data;
  // monotonic_remote_time, realtime_remote_time, remote_queue_index and
  // monotonic_remote_transmit_time: a message forwarded from another node.
  bool has_remote = false;
  int64_t monotonic_remote_time = 0;
  int64_t realtime_remote_time = 0;
  uint32_t remote_queue_index = 0;
  int64_t monotonic_remote_transmit_time = 0;
  // monotonic_timestamp_time (remote timestamp records).
  bool has_timestamp_time = false;
  int64_t monotonic_timestamp_time = 0;
};

// The size of `record` laid out (a multiple of 8, size prefix included).
size_t MessageRecordSize(const MessageRecord &record);

// Writes `record` into `out`, which must hold exactly MessageRecordSize()
// bytes (CHECKed); every byte of `out` is written (padding is zero).
void WriteMessageRecord(const MessageRecord &record, std::span<uint8_t> out);

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_LOGGER_RECORD_H_
