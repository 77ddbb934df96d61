#include "aos/events/logging/logger_record.h"

#include <bit>
#include <cstring>

#include "glog/logging.h"

namespace aos::logger {
namespace {

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

constexpr size_t RoundUp8(size_t n) { return (n + 7) & ~size_t{7}; }

// Where everything goes for one combination of fields.
struct Layout {
  size_t fields = 0;  // vtable entries: last present id + 1
  size_t table = 0;   // T: the table's start
  size_t table_end = 0;
  size_t total = 0;
};

Layout MakeLayout(const MessageRecord &record) {
  Layout layout;
  layout.fields = record.has_remote           ? kMonotonicRemoteTransmitTime + 1
                  : record.has_timestamp_time ? kMonotonicTimestampTime + 1
                  : record.has_data           ? kData + 1
                                              : kQueueIndex + 1;
  layout.table = RoundUp8(8 + 4 + 2 * layout.fields);
  const size_t u32_fields =
      2 + (record.has_data ? 1 : 0) + (record.has_remote ? 1 : 0);
  const size_t i64_fields =
      2 + (record.has_remote ? 3 : 0) + (record.has_timestamp_time ? 1 : 0);
  layout.table_end =
      layout.table + RoundUp8(4 + 4 * u32_fields) + 8 * i64_fields;
  layout.total = layout.table_end;
  // The vector's length sits 4 before the (8-aligned) payload.
  if (record.has_data) layout.total += 8 + RoundUp8(record.data.size());
  return layout;
}

template <typename T>
void Put(uint8_t *at, T value) {
  // Flatbuffers are little-endian, like every machine AOS runs on.
  static_assert(std::endian::native == std::endian::little);
  std::memcpy(at, &value, sizeof(T));
}

}  // namespace

size_t MessageRecordSize(const MessageRecord &record) {
  return MakeLayout(record).total;
}

void WriteMessageRecord(const MessageRecord &record, std::span<uint8_t> out) {
  const Layout layout = MakeLayout(record);
  CHECK_EQ(out.size(), layout.total)
      << ": WriteMessageRecord needs exactly MessageRecordSize() bytes";
  uint8_t *const p = out.data();
  // Zero the head (vtable gaps, alignment padding, absent fields).
  std::memset(p, 0, layout.table_end);
  Put<uint32_t>(p, static_cast<uint32_t>(layout.total - 4));
  Put<uint32_t>(p + 4, static_cast<uint32_t>(layout.table - 4));
  uint8_t *const vtable = p + 8;
  Put<uint16_t>(vtable, static_cast<uint16_t>(4 + 2 * layout.fields));
  Put<uint16_t>(vtable + 2,
                static_cast<uint16_t>(layout.table_end - layout.table));
  uint8_t *const table = p + layout.table;
  Put<int32_t>(table, static_cast<int32_t>(layout.table - 8));

  size_t at = 4;
  const auto field = [&](int id, size_t size) {
    Put<uint16_t>(vtable + 4 + 2 * id, static_cast<uint16_t>(at));
    uint8_t *const where = table + at;
    at += size;
    return where;
  };
  Put<uint32_t>(field(kChannelIndex, 4), record.channel_index);
  Put<uint32_t>(field(kQueueIndex, 4), record.queue_index);
  if (record.has_remote) {
    Put<uint32_t>(field(kRemoteQueueIndex, 4), record.remote_queue_index);
  }
  if (record.has_data) {
    uint8_t *const offset = field(kData, 4);
    // The length goes just before the payload, at table_end + 4.
    const size_t length_at = layout.table_end + 4;
    Put<uint32_t>(offset, static_cast<uint32_t>(length_at - (offset - p)));
    Put<uint32_t>(p + length_at, static_cast<uint32_t>(record.data.size()));
    uint8_t *const payload = p + length_at + 4;
    if (!record.data.empty()) {
      std::memcpy(payload, record.data.data(), record.data.size());
    }
    std::memset(payload + record.data.size(), 0,
                RoundUp8(record.data.size()) - record.data.size());
  }
  at = RoundUp8(at);
  Put<int64_t>(field(kMonotonicSentTime, 8), record.monotonic_sent_time);
  Put<int64_t>(field(kRealtimeSentTime, 8), record.realtime_sent_time);
  if (record.has_remote) {
    Put<int64_t>(field(kMonotonicRemoteTime, 8), record.monotonic_remote_time);
    Put<int64_t>(field(kRealtimeRemoteTime, 8), record.realtime_remote_time);
    Put<int64_t>(field(kMonotonicRemoteTransmitTime, 8),
                 record.monotonic_remote_transmit_time);
  }
  if (record.has_timestamp_time) {
    Put<int64_t>(field(kMonotonicTimestampTime, 8),
                 record.monotonic_timestamp_time);
  }
  DCHECK_EQ(layout.table + at, layout.table_end);
}

}  // namespace aos::logger
