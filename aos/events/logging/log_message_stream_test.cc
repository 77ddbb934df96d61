// The merged message stream on logs whose every record the test writes:
// several part sequences, channels written out of order across and within
// channels (as far as the header's max_out_of_order_duration allows), equal
// times, timestamp-only records and channel indices the configuration does
// not have. The stream must give exactly the records sorted by
// (monotonic_sent_time, channel_index, queue_index), fields and bytes intact,
// through both Peek/Pop and Next.

#include "aos/events/logging/log_message_stream.h"

#include <algorithm>
#include <random>
#include <tuple>

#include "aos/configuration.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/events/logging/part_writer.h"
#include "aos/json_to_flatbuffer.h"
#include "aos/testing/tmpdir.h"
#include "aos/uuid.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

constexpr std::string_view kConfig = R"json({
  "channels": [
    {"name": "/a", "type": "aos.examples.Ping"},
    {"name": "/b", "type": "aos.examples.Ping"},
    {"name": "/c", "type": "aos.examples.Ping"}
  ]
})json";

struct Record {
  uint32_t channel_index = 0;
  int64_t monotonic_sent_time = 0;
  int64_t realtime_sent_time = 0;
  uint32_t queue_index = 0;
  int64_t monotonic_remote_time = 0;
  uint32_t remote_queue_index = 0;
  std::vector<uint8_t> data;
  bool has_data = false;
  // Sorting key the stream promises.
  auto Key() const {
    return std::tie(monotonic_sent_time, channel_index, queue_index);
  }
};

class LogMessageStreamTest : public ::testing::Test {
 protected:
  LogMessageStreamTest()
      : config_(JsonToFlatbuffer<Configuration>(kConfig)),
        log_event_uuid_(UUID::Random()),
        log_start_uuid_(UUID::Random()) {}

  // Writes `records` in the given order as one part sequence of
  // `records_per_part`-record parts, its header claiming `max_out_of_order`.
  void WriteSequence(const std::string &base,
                     const std::vector<Record> &records,
                     std::chrono::nanoseconds max_out_of_order,
                     size_t records_per_part) {
    const UUID parts_uuid = UUID::Random();
    std::unique_ptr<PartWriter> writer;
    size_t part = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      if (i % records_per_part == 0) {
        if (writer != nullptr) CheckExpected(writer->Close());
        const std::string path = dir_.path() + "/" + base + ".part" +
                                 std::to_string(part) + ".bfbs.zst";
        Result<std::unique_ptr<PartWriter>> created =
            PartWriter::Create(path, {});
        CheckExpected(created);
        writer = std::move(*created);
        WriteHeader(writer.get(), parts_uuid, part, max_out_of_order);
        files_.push_back(path);
        ++part;
      }
      const Record &record = records[i];
      flatbuffers::FlatBufferBuilder fbb;
      flatbuffers::Offset<flatbuffers::Vector<uint8_t>> data;
      if (record.has_data) data = fbb.CreateVector(record.data);
      MessageHeader::Builder header(fbb);
      header.add_channel_index(record.channel_index);
      header.add_monotonic_sent_time(record.monotonic_sent_time);
      header.add_realtime_sent_time(record.realtime_sent_time);
      header.add_queue_index(record.queue_index);
      if (record.has_data) header.add_data(data);
      header.add_monotonic_remote_time(record.monotonic_remote_time);
      header.add_remote_queue_index(record.remote_queue_index);
      fbb.FinishSizePrefixed(header.Finish());
      CheckExpected(
          writer->Write(std::span(fbb.GetBufferPointer(), fbb.GetSize())));
    }
    CheckExpected(writer->Close());
  }

  std::unique_ptr<LogMessageStream> OpenStream() {
    Result<std::vector<LogFile>> logs = SortParts(files_);
    CheckExpected(logs);
    CHECK_EQ(logs->size(), 1u);
    Result<std::unique_ptr<LogMessageStream>> stream =
        LogMessageStream::Open((*logs)[0], "");
    CheckExpected(stream);
    return std::move(*stream);
  }

  static void ExpectSame(const LogMessage &message, const Record &record,
                         size_t index) {
    SCOPED_TRACE("message " + std::to_string(index));
    EXPECT_EQ(message.channel_index, record.channel_index);
    EXPECT_EQ(message.monotonic_sent_time.time_since_epoch().count(),
              record.monotonic_sent_time);
    EXPECT_EQ(message.realtime_sent_time.time_since_epoch().count(),
              record.realtime_sent_time);
    EXPECT_EQ(message.queue_index, record.queue_index);
    EXPECT_EQ(message.monotonic_remote_time.time_since_epoch().count(),
              record.monotonic_remote_time);
    EXPECT_EQ(message.remote_queue_index, record.remote_queue_index);
    EXPECT_EQ(message.has_data, record.has_data);
    EXPECT_EQ(message.data,
              record.has_data ? record.data : std::vector<uint8_t>());
  }

  FlatbufferDetachedBuffer<Configuration> config_;
  const UUID log_event_uuid_;
  const UUID log_start_uuid_;
  std::vector<std::string> files_;
  aos::testing::TempDir dir_;

 private:
  void WriteHeader(PartWriter *writer, const UUID &parts_uuid, size_t index,
                   std::chrono::nanoseconds max_out_of_order) {
    flatbuffers::FlatBufferBuilder fbb;
    fbb.ForceDefaults(true);
    std::unique_ptr<ConfigurationT> config(config_.message().UnPack());
    const auto config_offset = Configuration::Pack(fbb, config.get());
    const auto log_event_uuid = fbb.CreateString(log_event_uuid_.ToString());
    const auto parts_uuid_offset = fbb.CreateString(parts_uuid.ToString());
    const auto log_start_uuid = fbb.CreateString(log_start_uuid_.ToString());
    const auto logger_instance_uuid =
        fbb.CreateString(UUID::Random().ToString());
    const auto data_stored =
        fbb.CreateVector(std::vector<StoredDataType>{StoredDataType::DATA});
    LogFileHeader::Builder header(fbb);
    header.add_configuration(config_offset);
    header.add_log_event_uuid(log_event_uuid);
    header.add_parts_uuid(parts_uuid_offset);
    header.add_parts_index(index);
    header.add_log_start_uuid(log_start_uuid);
    header.add_logger_instance_uuid(logger_instance_uuid);
    header.add_monotonic_start_time(0);
    header.add_realtime_start_time(1'000'000'000);
    header.add_max_out_of_order_duration(max_out_of_order.count());
    header.add_data_stored(data_stored);
    fbb.FinishSizePrefixed(header.Finish());
    CheckExpected(
        writer->Write(std::span(fbb.GetBufferPointer(), fbb.GetSize())));
  }
};

// Three sequences of random records on four channel indices (one beyond the
// configuration), several per time, each written in an order that is
// shuffled within the sequence's out-of-order bound: within channels too.
TEST_F(LogMessageStreamTest, MergesOutOfOrderSequencesExactly) {
  std::mt19937 random(15);
  std::vector<Record> all;
  const std::chrono::nanoseconds bounds[] = {std::chrono::milliseconds(3),
                                             std::chrono::milliseconds(1),
                                             std::chrono::microseconds(10)};
  bool out_of_order_within_a_channel = false;
  for (uint32_t sequence = 0; sequence < 3; ++sequence) {
    std::vector<Record> records;
    uint32_t queue_index[4] = {};
    for (int i = 0; i < 3000; ++i) {
      Record record;
      // Times in 10 us steps, so many records share one.
      record.monotonic_sent_time =
          1000 + 10'000 * static_cast<int64_t>(random() % 1000);
      record.channel_index = std::array<uint32_t, 4>{0, 1, 2, 7}[random() % 4];
      record.realtime_sent_time = record.monotonic_sent_time + 5;
      record.has_data = random() % 8 != 0;
      record.data.resize(random() % 100);
      for (uint8_t &byte : record.data) byte = random();
      record.monotonic_remote_time =
          random() % 2 ? record.monotonic_sent_time - 100
                       : monotonic_clock::min_time.time_since_epoch().count();
      record.remote_queue_index = random();
      records.push_back(std::move(record));
    }
    // Queue indices count each channel's messages in time order; distinct
    // per sequence (mod 3) so no two records have one key.
    std::sort(records.begin(), records.end(),
              [](const Record &a, const Record &b) {
                return a.monotonic_sent_time < b.monotonic_sent_time;
              });
    for (Record &record : records) {
      record.queue_index =
          3 * queue_index[std::min<uint32_t>(record.channel_index, 3)]++ +
          sequence;
    }
    all.insert(all.end(), records.begin(), records.end());
    // Written in order of time plus a jitter below the bound: a record
    // written after another is at most the bound earlier.
    std::vector<std::pair<int64_t, Record>> jittered;
    for (Record &record : records) {
      jittered.emplace_back(
          record.monotonic_sent_time +
              static_cast<int64_t>(random() % bounds[sequence].count()),
          std::move(record));
    }
    std::stable_sort(
        jittered.begin(), jittered.end(),
        [](const auto &a, const auto &b) { return a.first < b.first; });
    records.clear();
    for (auto &[key, record] : jittered) {
      for (auto it = records.rbegin(); it != records.rend(); ++it) {
        if (it->channel_index == record.channel_index) {
          out_of_order_within_a_channel |=
              it->monotonic_sent_time > record.monotonic_sent_time;
          break;
        }
      }
      records.push_back(std::move(record));
    }
    WriteSequence("sequence" + std::to_string(sequence), records,
                  bounds[sequence], 700);
  }
  // Otherwise the test would not exercise the in-channel reordering.
  ASSERT_TRUE(out_of_order_within_a_channel);
  std::sort(all.begin(), all.end(),
            [](const Record &a, const Record &b) { return a.Key() < b.Key(); });

  // Peek/Pop, with every other message peeked twice.
  {
    std::unique_ptr<LogMessageStream> stream = OpenStream();
    size_t index = 0;
    while (const LogMessage *message = stream->Peek()) {
      ASSERT_LT(index, all.size());
      if (index % 2 == 0) {
        EXPECT_EQ(stream->Peek(), message) << ": Peek without Pop moved on";
      }
      ExpectSame(*message, all[index], index);
      stream->Pop();
      ++index;
    }
    EXPECT_EQ(index, all.size());
    EXPECT_TRUE(stream->warnings().empty());
  }
  // Next, recycling only some buffers, mixed with Peek/Pop.
  {
    std::unique_ptr<LogMessageStream> stream = OpenStream();
    size_t index = 0;
    while (true) {
      if (index % 3 == 2) {
        const LogMessage *message = stream->Peek();
        if (message == nullptr) break;
        ExpectSame(*message, all[index], index);
        stream->Pop();
      } else {
        std::optional<LogMessage> message = stream->Next();
        if (!message) break;
        ExpectSame(*message, all[index], index);
        if (index % 2 == 0) stream->Recycle(std::move(*message));
      }
      ++index;
    }
    EXPECT_EQ(index, all.size());
  }
}

TEST_F(LogMessageStreamTest, PopWithoutPeekDies) {
  WriteSequence("sequence", {Record{0, 1000, 1000, 0, -1, 0, {1, 2, 3}, true}},
                std::chrono::milliseconds(1), 10);
  std::unique_ptr<LogMessageStream> stream = OpenStream();
  EXPECT_DEATH(stream->Pop(), "Pop without a message from Peek");
  ASSERT_NE(stream->Peek(), nullptr);
  stream->Pop();
  EXPECT_EQ(stream->Peek(), nullptr);
  EXPECT_DEATH(stream->Pop(), "Pop without a message from Peek");
}

}  // namespace
}  // namespace aos::logger::testing
