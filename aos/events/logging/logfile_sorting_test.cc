#include "aos/events/logging/logfile_sorting.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "aos/configuration.h"
#include "aos/events/logging/log_message_stream.h"
#include "aos/events/logging/part_reader.h"
#include "aos/events/logging/part_writer.h"
#include "aos/events/logging/replay_test_util.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/examples/ping_lib.h"
#include "aos/examples/pong_lib.h"
#include "aos/testing/tmpdir.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

class SortPartsTest : public ::testing::Test {
 protected:
  SortPartsTest() : config_(configuration::ReadConfig(AOS_PINGPONG_CONFIG)) {}

  // Records 300 ms of pings from `config` into parts of 20 messages.
  std::vector<std::string> Record(const std::string &base,
                                  const Configuration *config,
                                  TestRecorderOptions options = {}) {
    SimulatedEventLoopFactory factory(config);
    NodeEventLoopFactory *node = factory.GetNodeEventLoopFactory(nullptr);
    node->AlwaysStart<Ping>("ping", PingOptions{});
    node->AlwaysStart<Pong>("pong");
    std::unique_ptr<EventLoop> logger_loop = node->MakeEventLoop("logger");
    options.rotate_every_messages = 20;
    TestRecorder recorder(logger_loop.get(), dir_.path() + "/" + base, options);
    CheckExpected(factory.RunFor(std::chrono::milliseconds(300)));
    recorder.Stop();
    return recorder.parts();
  }

  void ExpectError(const std::vector<std::string> &files,
                   const std::string &message) {
    Result<std::vector<LogFile>> logs = SortParts(files);
    ASSERT_FALSE(logs.has_value());
    EXPECT_NE(logs.error().message().find(message), std::string::npos)
        << logs.error();
  }

  FlatbufferDetachedBuffer<Configuration> config_;
  aos::testing::TempDir dir_;
};

TEST_F(SortPartsTest, OrdersPartsWhateverTheArgumentOrder) {
  std::vector<std::string> parts = Record("log", &config_.message());
  ASSERT_GE(parts.size(), 3u);
  std::vector<std::string> shuffled = parts;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(1));
  Result<std::vector<LogFile>> logs = SortParts(shuffled);
  CheckExpected(logs);
  ASSERT_EQ(logs->size(), 1u);
  ASSERT_EQ((*logs)[0].parts.size(), 1u);
  EXPECT_EQ((*logs)[0].parts[0].parts, parts);
  EXPECT_EQ((*logs)[0].name, "test_log");
  EXPECT_EQ((*logs)[0].config->message().channels()->size(),
            config_.message().channels()->size());
  EXPECT_TRUE(CheckOneLog(*logs).has_value());

  // FindLogs finds the same files in the folder, sorted.
  Result<std::vector<std::string>> found = FindLogs({dir_.path()});
  CheckExpected(found);
  std::vector<std::string> sorted = parts;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(*found, sorted);
}

TEST_F(SortPartsTest, MissingPart) {
  std::vector<std::string> parts = Record("log", &config_.message());
  ASSERT_GE(parts.size(), 3u);
  ExpectError({parts[0], parts[2]}, "part 1 of parts_uuid");
  ExpectError({parts[1], parts[2]}, "part 0 of parts_uuid");
}

TEST_F(SortPartsTest, TwoFilesClaimOnePart) {
  std::vector<std::string> parts = Record("log", &config_.message());
  const std::string copy = dir_.path() + "/copy.part1.bfbs.zst";
  std::filesystem::copy_file(parts[1], copy);
  ExpectError({parts[0], parts[1], copy}, "two files claim part 1");
}

TEST_F(SortPartsTest, NotALogFile) {
  const std::string path = dir_.path() + "/junk.bfbs";
  std::ofstream(path) << "0123456789abcdef0123456789abcdef";
  Result<std::vector<LogFile>> logs = SortParts({path});
  ASSERT_FALSE(logs.has_value());
  EXPECT_NE(logs.error().message().find(path), std::string::npos)
      << logs.error();
}

TEST_F(SortPartsTest, FindLogsErrors) {
  Result<std::vector<std::string>> found = FindLogs({dir_.path() + "/nope"});
  ASSERT_FALSE(found.has_value());
  EXPECT_NE(found.error().message().find("/nope' does not exist"),
            std::string::npos);
  found = FindLogs({dir_.path()});
  ASSERT_FALSE(found.has_value());
  EXPECT_NE(found.error().message().find("no log part files"),
            std::string::npos);
}

// Two parts sequences of one logging event written with different
// configurations cannot be replayed together.
TEST_F(SortPartsTest, ConfigurationMismatch) {
  FlatbufferDetachedBuffer<Configuration> other =
      configuration::ReadConfig(AOS_PINGPONG_CONFIG);
  other.mutable_message()
      ->mutable_channels()
      ->GetMutableObject(0)
      ->mutate_frequency(other.message().channels()->Get(0)->frequency() + 1);
  const UUID event = UUID::Random();
  std::vector<std::string> a =
      Record("a", &config_.message(), {.log_event_uuid = event});
  std::vector<std::string> b =
      Record("b", &other.message(), {.log_event_uuid = event});
  ExpectError({a[0], a[1], b[0]}, "mixes configurations");
}

// Two runs are two logs; CheckOneLog says which files belong to which.
TEST_F(SortPartsTest, MixedLogs) {
  std::vector<std::string> a = Record("a", &config_.message());
  std::vector<std::string> b = Record("b", &config_.message());
  Result<std::vector<LogFile>> logs = SortParts({a[0], b[0]});
  CheckExpected(logs);
  EXPECT_EQ(logs->size(), 2u);
  Result<void> one = CheckOneLog(*logs);
  ASSERT_FALSE(one.has_value());
  EXPECT_NE(one.error().message().find("2 different logs"), std::string::npos);
  EXPECT_NE(one.error().message().find(a[0]), std::string::npos);
  EXPECT_NE(one.error().message().find(b[0]), std::string::npos);
}

// A part that names its configuration by sha256 needs the config file.
TEST_F(SortPartsTest, SeparateConfigFile) {
  flatbuffers::FlatBufferBuilder fbb;
  std::unique_ptr<ConfigurationT> object(config_.message().UnPack());
  const auto config = Configuration::Pack(fbb, object.get());
  LogFileHeader::Builder config_header(fbb);
  config_header.add_configuration(config);
  fbb.FinishSizePrefixed(config_header.Finish());
  const std::span<const uint8_t> config_bytes(fbb.GetBufferPointer(),
                                              fbb.GetSize());
  const std::string sha = Sha256Hex(config_bytes);
  const std::string config_path = dir_.path() + "/log_" + sha + ".bfbs";
  {
    auto writer =
        PartWriter::Create(config_path, {.compression = Compression::kNone});
    CheckExpected(writer);
    CheckExpected((*writer)->Write(config_bytes));
    CheckExpected((*writer)->Close());
  }

  flatbuffers::FlatBufferBuilder data_fbb;
  const auto sha_offset = data_fbb.CreateString(sha);
  const auto event = data_fbb.CreateString(UUID::Random().ToString());
  const auto parts_uuid = data_fbb.CreateString(UUID::Random().ToString());
  LogFileHeader::Builder header(data_fbb);
  header.add_configuration_sha256(sha_offset);
  header.add_log_event_uuid(event);
  header.add_parts_uuid(parts_uuid);
  header.add_parts_index(0);
  header.add_monotonic_start_time(0);
  data_fbb.FinishSizePrefixed(header.Finish());
  const std::string data_path = dir_.path() + "/log_data.part0.bfbs";
  {
    auto writer =
        PartWriter::Create(data_path, {.compression = Compression::kNone});
    CheckExpected(writer);
    CheckExpected((*writer)->Write(
        std::span(data_fbb.GetBufferPointer(), data_fbb.GetSize())));
    CheckExpected((*writer)->Close());
  }

  ExpectError({data_path}, "(*_" + sha + ".bfbs) that was not given");
  Result<std::vector<LogFile>> logs = SortParts({data_path, config_path});
  CheckExpected(logs);
  ASSERT_EQ(logs->size(), 1u);
  EXPECT_EQ((*logs)[0].config->message().channels()->size(),
            config_.message().channels()->size());
}

// The merged stream is in time order although the parts are not (the
// recorder drains channels one after the other every 100 ms).
TEST_F(SortPartsTest, StreamIsInTimeOrder) {
  std::vector<std::string> parts = Record("log", &config_.message());
  // The files are out of order (so the test means something).
  bool out_of_order = false;
  int64_t file_last = std::numeric_limits<int64_t>::min();
  for (const std::string &path : parts) {
    auto reader = PartReader::Open(path);
    CheckExpected(reader);
    while (const MessageHeader *m = (*reader)->ReadMessage()) {
      out_of_order |= m->monotonic_sent_time() < file_last;
      file_last = m->monotonic_sent_time();
    }
  }
  EXPECT_TRUE(out_of_order);
  Result<std::vector<LogFile>> logs = SortParts(parts);
  CheckExpected(logs);
  auto stream = LogMessageStream::Open((*logs)[0], "");
  CheckExpected(stream);
  size_t count = 0;
  monotonic_clock::time_point last = monotonic_clock::min_time;
  while (std::optional<LogMessage> message = (*stream)->Next()) {
    EXPECT_GE(message->monotonic_sent_time, last);
    last = message->monotonic_sent_time;
    ++count;
    (*stream)->Recycle(std::move(*message));
  }
  // 30 pings and 30 pongs.
  EXPECT_GE(count, 60u);
  EXPECT_TRUE((*stream)->warnings().empty());
}

}  // namespace
}  // namespace aos::logger::testing
