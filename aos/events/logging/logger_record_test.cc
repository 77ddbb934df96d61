// MessageRecord: the MessageHeaders the Logger lays out without a builder
// must be flatbuffers every reader verifies and reads back field for field.

#include "aos/events/logging/logger_record.h"

#include <limits>
#include <numeric>
#include <vector>

#include "aos/events/logging/logger_generated.h"
#include "aos/events/logging/part_format.h"
#include "flatbuffers/flatbuffers.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

// Every combination of fields the Logger writes, every payload size around
// the alignment boundaries: verified (alignment checked) and read back.
TEST(MessageRecordTest, EveryShapeVerifiesAndReadsBack) {
  for (int shape = 0; shape < 8; ++shape) {
    for (size_t size : {0, 1, 7, 8, 9, 63, 64, 65, 1000}) {
      SCOPED_TRACE(::testing::Message()
                   << "shape " << shape << " size " << size);
      std::vector<uint8_t> payload(size);
      std::iota(payload.begin(), payload.end(), uint8_t{1});
      MessageRecord record;
      record.channel_index = 0;  // a default value: still read back
      record.monotonic_sent_time = 123456789012345;
      record.realtime_sent_time = -5;
      record.queue_index = std::numeric_limits<uint32_t>::max() - 1;
      record.has_data = (shape & 1) != 0;
      record.data = payload;
      record.has_remote = (shape & 2) != 0;
      record.monotonic_remote_time = 42;
      record.realtime_remote_time = 43;
      record.remote_queue_index = 44;
      record.monotonic_remote_transmit_time = 45;
      record.has_timestamp_time = (shape & 4) != 0;
      record.monotonic_timestamp_time = 46;

      const size_t record_size = MessageRecordSize(record);
      EXPECT_EQ(record_size % kPartAlignment, 0u);
      // 8-aligned memory, dirty, like a reused writer buffer.
      std::vector<uint64_t> memory(record_size / 8 + 1, ~uint64_t{0});
      uint8_t *const start = reinterpret_cast<uint8_t *>(memory.data());
      WriteMessageRecord(record, {start, record_size});
      EXPECT_EQ(start[record_size], 0xff) << "wrote past the record";

      EXPECT_EQ(flatbuffers::GetPrefixedSize(start) + 4, record_size);
      flatbuffers::Verifier verifier(start, record_size);
      ASSERT_TRUE(verifier.VerifySizePrefixedBuffer<MessageHeader>(nullptr));
      const MessageHeader *message =
          flatbuffers::GetSizePrefixedRoot<MessageHeader>(start);
      EXPECT_EQ(message->channel_index(), 0u);
      EXPECT_EQ(message->monotonic_sent_time(), 123456789012345);
      EXPECT_EQ(message->realtime_sent_time(), -5);
      EXPECT_EQ(message->queue_index(),
                std::numeric_limits<uint32_t>::max() - 1);
      if (record.has_data) {
        ASSERT_NE(message->data(), nullptr);
        EXPECT_EQ(std::vector<uint8_t>(message->data()->begin(),
                                       message->data()->end()),
                  payload);
        EXPECT_EQ((message->data()->data() - start) % kPartAlignment, 0u)
            << "payloads are read in place, so they must be 8-aligned";
        // The padding after the payload is zero (files are deterministic).
        for (size_t i = message->data()->data() - start + size; i < record_size;
             ++i) {
          EXPECT_EQ(start[i], 0) << i;
        }
      } else {
        EXPECT_EQ(message->data(), nullptr);
      }
      const int64_t min = std::numeric_limits<int64_t>::min();
      EXPECT_EQ(message->monotonic_remote_time(), record.has_remote ? 42 : min);
      EXPECT_EQ(message->realtime_remote_time(), record.has_remote ? 43 : min);
      EXPECT_EQ(message->remote_queue_index(),
                record.has_remote ? 44u : std::numeric_limits<uint32_t>::max());
      EXPECT_EQ(message->monotonic_remote_transmit_time(),
                record.has_remote ? 45 : min);
      EXPECT_EQ(message->monotonic_timestamp_time(),
                record.has_timestamp_time ? 46 : min);
    }
  }
}

// The common record (a local message's data) is no larger than what a
// FlatBufferBuilder made of it before.
TEST(MessageRecordTest, DataRecordSizeMatchesTheBuilder) {
  for (size_t size : {0, 8, 64, 100}) {
    std::vector<uint8_t> payload(size, 7);
    flatbuffers::FlatBufferBuilder builder;
    builder.ForceVectorAlignment(size, 1, kPartAlignment);
    const auto data = builder.CreateVector(payload);
    MessageHeader::Builder header(builder);
    header.add_channel_index(3);
    header.add_monotonic_sent_time(1);
    header.add_realtime_sent_time(2);
    header.add_queue_index(4);
    header.add_data(data);
    builder.FinishSizePrefixed(header.Finish());
    MessageRecord record;
    record.channel_index = 3;
    record.has_data = true;
    record.data = payload;
    EXPECT_LE(MessageRecordSize(record), builder.GetSize()) << size;
  }
}

}  // namespace
}  // namespace aos::logger::testing
