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

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
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

namespace record_internal {

// MessageHeader's field ids (logger.fbs).
enum FieldId : int {
  kChannelIndex = 0,
  kMonotonicSentTime = 1,
  kRealtimeSentTime = 2,
  kQueueIndex = 3,
  kData = 4,
  kMonotonicRemoteTime = 5,
  kRealtimeRemoteTime = 6,
  kRemoteQueueIndex = 7,
  kMonotonicTimestampTime = 8,
  kMonotonicRemoteTransmitTime = 9,
};

inline constexpr size_t RoundUp8(size_t n) { return (n + 7) & ~size_t{7}; }

template <typename T>
inline void Put(uint8_t *at, T value) {
  // Flatbuffers are little-endian, like every machine AOS runs on.
  static_assert(std::endian::native == std::endian::little);
  std::memcpy(at, &value, sizeof(T));
}

// Where everything goes for one combination of fields: all constants, so
// that each shape compiles to a few stores.
template <bool kHasData, bool kHasRemote, bool kHasTimestampTime>
struct Layout {
  // vtable entries: last present id + 1.
  static constexpr size_t kFields =
      kHasRemote          ? kMonotonicRemoteTransmitTime + 1
      : kHasTimestampTime ? kMonotonicTimestampTime + 1
      : kHasData          ? kData + 1
                          : kQueueIndex + 1;
  static constexpr size_t kVtable = 8;
  static constexpr size_t kTable = RoundUp8(kVtable + 4 + 2 * kFields);
  static constexpr size_t kU32Fields =
      2 + (kHasData ? 1 : 0) + (kHasRemote ? 1 : 0);
  static constexpr size_t kI64Start = RoundUp8(4 + 4 * kU32Fields);
  static constexpr size_t kI64Fields =
      2 + (kHasRemote ? 3 : 0) + (kHasTimestampTime ? 1 : 0);
  static constexpr size_t kTableEnd = kTable + kI64Start + 8 * kI64Fields;
  // The vector's length sits 4 before the (8-aligned) payload.
  static constexpr size_t kLength = kTableEnd + 4;
  static constexpr size_t kPayload = kTableEnd + 8;

  // Offsets in the table, in the order the fields are laid out.
  static constexpr size_t kChannelIndexAt = 4;
  static constexpr size_t kQueueIndexAt = 8;
  static constexpr size_t kRemoteQueueIndexAt = 12;
  static constexpr size_t kDataAt = kHasRemote ? 16 : 12;
  static constexpr size_t kMonotonicSentTimeAt = kI64Start;
  static constexpr size_t kRealtimeSentTimeAt = kI64Start + 8;
  static constexpr size_t kMonotonicRemoteTimeAt = kI64Start + 16;
  static constexpr size_t kRealtimeRemoteTimeAt = kI64Start + 24;
  static constexpr size_t kMonotonicRemoteTransmitTimeAt = kI64Start + 32;
  static constexpr size_t kMonotonicTimestampTimeAt =
      kI64Start + (kHasRemote ? 40 : 16);

  static size_t Size(size_t data_size) {
    return kHasData ? kPayload + RoundUp8(data_size) : kTableEnd;
  }

  static void Write(const MessageRecord &record, uint8_t *p, size_t total) {
    // Zero the head (vtable gaps, alignment padding).
    std::memset(p, 0, kTableEnd);
    Put<uint32_t>(p, static_cast<uint32_t>(total - 4));
    Put<uint32_t>(p + 4, static_cast<uint32_t>(kTable - 4));
    uint8_t *const vtable = p + kVtable;
    Put<uint16_t>(vtable, static_cast<uint16_t>(4 + 2 * kFields));
    Put<uint16_t>(vtable + 2, static_cast<uint16_t>(kTableEnd - kTable));
    const auto entry = [vtable](int id, size_t at) {
      Put<uint16_t>(vtable + 4 + 2 * id, static_cast<uint16_t>(at));
    };
    uint8_t *const table = p + kTable;
    Put<int32_t>(table, static_cast<int32_t>(kTable - kVtable));

    entry(kChannelIndex, kChannelIndexAt);
    Put<uint32_t>(table + kChannelIndexAt, record.channel_index);
    entry(kQueueIndex, kQueueIndexAt);
    Put<uint32_t>(table + kQueueIndexAt, record.queue_index);
    entry(kMonotonicSentTime, kMonotonicSentTimeAt);
    Put<int64_t>(table + kMonotonicSentTimeAt, record.monotonic_sent_time);
    entry(kRealtimeSentTime, kRealtimeSentTimeAt);
    Put<int64_t>(table + kRealtimeSentTimeAt, record.realtime_sent_time);
    if constexpr (kHasRemote) {
      entry(kRemoteQueueIndex, kRemoteQueueIndexAt);
      Put<uint32_t>(table + kRemoteQueueIndexAt, record.remote_queue_index);
      entry(kMonotonicRemoteTime, kMonotonicRemoteTimeAt);
      Put<int64_t>(table + kMonotonicRemoteTimeAt,
                   record.monotonic_remote_time);
      entry(kRealtimeRemoteTime, kRealtimeRemoteTimeAt);
      Put<int64_t>(table + kRealtimeRemoteTimeAt, record.realtime_remote_time);
      entry(kMonotonicRemoteTransmitTime, kMonotonicRemoteTransmitTimeAt);
      Put<int64_t>(table + kMonotonicRemoteTransmitTimeAt,
                   record.monotonic_remote_transmit_time);
    }
    if constexpr (kHasTimestampTime) {
      entry(kMonotonicTimestampTime, kMonotonicTimestampTimeAt);
      Put<int64_t>(table + kMonotonicTimestampTimeAt,
                   record.monotonic_timestamp_time);
    }
    if constexpr (kHasData) {
      entry(kData, kDataAt);
      // A uoffset counts from where it is stored.
      Put<uint32_t>(table + kDataAt,
                    static_cast<uint32_t>(kLength - (kTable + kDataAt)));
      const size_t size = record.data.size();
      Put<uint32_t>(p + kLength, static_cast<uint32_t>(size));
      uint8_t *const payload = p + kPayload;
      // Zero the last word first (the padding, if any), then copy over it:
      // one store instead of a memset call per message.
      if (size % 8 != 0) Put<uint64_t>(payload + RoundUp8(size) - 8, 0);
      if (size > 0) std::memcpy(payload, record.data.data(), size);
    }
  }
};

// Calls fn.template operator()<Layout<...>>() for `record`'s shape.
template <typename Fn>
inline auto WithLayout(const MessageRecord &record, Fn &&fn) {
  const int shape = (record.has_data ? 1 : 0) | (record.has_remote ? 2 : 0) |
                    (record.has_timestamp_time ? 4 : 0);
  switch (shape) {
    case 0:
      return fn(Layout<false, false, false>());
    case 1:
      return fn(Layout<true, false, false>());
    case 2:
      return fn(Layout<false, true, false>());
    case 3:
      return fn(Layout<true, true, false>());
    case 4:
      return fn(Layout<false, false, true>());
    case 5:
      return fn(Layout<true, false, true>());
    case 6:
      return fn(Layout<false, true, true>());
    default:
      return fn(Layout<true, true, true>());
  }
}

// CHECK-fails: `size` is not the size of `record` laid out.
[[noreturn]] void WrongSize(const MessageRecord &record, size_t size);

}  // namespace record_internal

// The size of `record` laid out (a multiple of 8, size prefix included).
// Inline, like WriteMessageRecord: the Logger calls both per message, and
// each shape then compiles to a handful of stores.
inline size_t MessageRecordSize(const MessageRecord &record) {
  return record_internal::WithLayout(record, [&](auto layout) {
    return decltype(layout)::Size(record.data.size());
  });
}

// Appends `record` through `writer` (a PartWriter: Reserve, then Commit),
// laying it out in place. Returns Commit's (or Reserve's) result.
template <typename Writer>
inline auto AppendMessageRecord(const MessageRecord &record, Writer *writer)
    -> decltype(writer->Commit(0)) {
  return record_internal::WithLayout(
      record, [&](auto layout) -> decltype(writer->Commit(0)) {
        using L = decltype(layout);
        const size_t size = L::Size(record.data.size());
        auto space = writer->Reserve(size);
        if (!space) return std::unexpected(space.error());
        L::Write(record, space->data(), size);
        return writer->Commit(size);
      });
}

// The Logger's per-message fast path, for the records most messages get: a
// node's own message with its data (has_data only, no remote or timestamp
// fields). TryAppendLocalMessageRecord lays one out through
// `writer->TryReserve()` (PartWriter's reserve-without-Result) and returns
// false, writing nothing, when the writer wants the general path
// (AppendMessageRecord) instead: the record does not fit in what is left of
// its buffer, or the writer failed or closed.
template <typename Writer>
inline bool TryAppendLocalMessageRecord(uint32_t channel_index,
                                        int64_t monotonic_sent_time,
                                        int64_t realtime_sent_time,
                                        uint32_t queue_index,
                                        std::span<const uint8_t> data,
                                        Writer *writer) {
  using L = record_internal::Layout<true, false, false>;
  const size_t size = L::Size(data.size());
  uint8_t *const space = writer->TryReserve(size);
  if (space == nullptr) [[unlikely]] {
    return false;
  }
  MessageRecord record;
  record.channel_index = channel_index;
  record.monotonic_sent_time = monotonic_sent_time;
  record.realtime_sent_time = realtime_sent_time;
  record.queue_index = queue_index;
  record.has_data = true;
  record.data = data;
  L::Write(record, space, size);
  writer->CommitReserved(size);
  return true;
}

// Writes `record` into `out`, which must hold exactly MessageRecordSize()
// bytes (CHECKed); every byte of `out` is written (padding is zero).
inline void WriteMessageRecord(const MessageRecord &record,
                               std::span<uint8_t> out) {
  record_internal::WithLayout(record, [&](auto layout) {
    using L = decltype(layout);
    if (out.size() != L::Size(record.data.size())) [[unlikely]] {
      record_internal::WrongSize(record, out.size());
    }
    L::Write(record, out.data(), out.size());
  });
}

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_LOGGER_RECORD_H_
