// The Logger in simulation and over shared memory: headers, the state fetched
// at the start, rotation, the multi-node layout, and its errors.

#include "aos/events/logging/logger.h"

#include <sys/mount.h>
#include <unistd.h>

#include <cinttypes>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "aos/configuration.h"
#include "aos/events/logging/part_reader.h"
#include "aos/events/shm_event_loop.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/events/test_message_generated.h"
#include "aos/testing/tmpdir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace chrono = std::chrono;

constexpr std::string_view kSingleNodeConfig = R"json({
  "channels": [
    {"name": "/test", "type": "aos.TestMessage", "frequency": 1000},
    {"name": "/state", "type": "aos.TestMessage", "frequency": 10},
    {"name": "/quiet", "type": "aos.TestMessage"},
    {"name": "/unlogged", "type": "aos.TestMessage", "logger": "NOT_LOGGED"},
    {"name": "/big", "type": "aos.TestMessage", "frequency": 1000,
     "max_size": 4096}
  ]
})json";

FlatbufferDetachedBuffer<Configuration> SingleNodeConfig() {
  return configuration::MergeWithConfig(
      &FlatbufferDetachedBuffer<Configuration>::Empty().message(),
      kSingleNodeConfig);
}

// One record as read back.
struct Record {
  std::string channel;
  int64_t monotonic_sent_time;
  uint32_t queue_index;
  std::optional<int> value;
  int64_t monotonic_remote_time;
  int64_t monotonic_timestamp_time;
};

struct Part {
  std::vector<uint8_t> header;
  std::vector<Record> records;
  const LogFileHeader &message() const {
    return *flatbuffers::GetSizePrefixedRoot<LogFileHeader>(header.data());
  }
};

Part ReadPart(const std::string &path, const Configuration *config) {
  Result<std::unique_ptr<PartReader>> reader = PartReader::Open(path);
  CHECK(reader) << reader.error();
  Part part;
  part.header.assign((*reader)->header_span().begin(),
                     (*reader)->header_span().end());
  while (const MessageHeader *message = (*reader)->ReadMessage()) {
    Record record;
    record.channel =
        config->channels()->Get(message->channel_index())->name()->str();
    record.monotonic_sent_time = message->monotonic_sent_time();
    record.queue_index = message->queue_index();
    if (message->data() != nullptr) {
      record.value =
          flatbuffers::GetRoot<TestMessage>(message->data()->data())->value();
    }
    record.monotonic_remote_time = message->monotonic_remote_time();
    record.monotonic_timestamp_time = message->monotonic_timestamp_time();
    part.records.push_back(record);
  }
  EXPECT_TRUE((*reader)->status().ok()) << (*reader)->status().message;
  return part;
}

void Send(Sender<TestMessage> *sender, int value) {
  auto builder = sender->MakeBuilder();
  TestMessage::Builder message = builder.MakeBuilder<TestMessage>();
  message.add_value(value);
  builder.CheckOk(builder.Send(message.Finish()));
}

std::set<std::string> FilesUnder(const std::string &dir) {
  std::set<std::string> files;
  for (const auto &entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      files.insert(std::filesystem::relative(entry.path(), dir).string());
    }
  }
  return files;
}

class LoggerSimulationTest : public ::testing::Test {
 protected:
  LoggerSimulationTest()
      : config_(SingleNodeConfig()), factory_(&config_.message()) {
    factory_.SkipTimingReport();
  }

  const Configuration *config() { return &config_.message(); }

  aos::testing::TempDir dir_;
  FlatbufferDetachedBuffer<Configuration> config_;
  SimulatedEventLoopFactory factory_;
};

// Every header field a reader relies on, the configuration file, and the
// state sent before the start.
TEST_F(LoggerSimulationTest, HeaderAndStartState) {
  auto sender_loop = factory_.MakeEventLoop("sender");
  Sender<TestMessage> state = sender_loop->MakeSender<TestMessage>("/state");
  Sender<TestMessage> test = sender_loop->MakeSender<TestMessage>("/test");
  Sender<TestMessage> unlogged =
      sender_loop->MakeSender<TestMessage>("/unlogged");
  Send(&state, 1);
  Send(&state, 2);  // The latest before the start: logged.
  ASSERT_TRUE(factory_.RunFor(chrono::seconds(1)));

  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get());
  logger.set_name("robot");
  logger.set_logger_version("v1.2");
  logger.set_logger_sha1("abc123");
  const UUID log_start_uuid = UUID::Random();
  logger.StartLogging(
      std::make_unique<LogNamer>(dir_.path() + "/log", config(), nullptr),
      log_start_uuid);
  const monotonic_clock::time_point start = logger_loop->monotonic_now();
  EXPECT_EQ(logger.monotonic_start_time(), start);

  sender_loop
      ->AddTimer([&]() {
        static int value = 100;
        Send(&test, value++);
        Send(&unlogged, 0);
      })
      ->Schedule(start + chrono::milliseconds(10), chrono::milliseconds(10));
  ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(1005)));
  std::unique_ptr<LogNamer> namer = logger.StopLogging();
  ASSERT_FALSE(logger.error().has_value());

  const std::set<std::string> files = FilesUnder(dir_.path());
  ASSERT_EQ(files.size(), 2u) << ::testing::PrintToString(files);
  EXPECT_TRUE(files.contains("log_data.part0.bfbs.zst"));
  std::string config_file;
  for (const std::string &file : files) {
    if (file != "log_data.part0.bfbs.zst") config_file = file;
  }

  const Part part =
      ReadPart(dir_.path() + "/log_data.part0.bfbs.zst", config());
  const LogFileHeader &header = part.message();
  EXPECT_EQ(header.name()->string_view(), "robot");
  EXPECT_EQ(header.logger_version()->string_view(), "v1.2");
  EXPECT_EQ(header.logger_sha1()->string_view(), "abc123");
  EXPECT_EQ(header.monotonic_start_time(), start.time_since_epoch().count());
  EXPECT_EQ(header.realtime_start_time(),
            logger.realtime_start_time().time_since_epoch().count());
  EXPECT_EQ(header.logger_monotonic_start_time(),
            start.time_since_epoch().count());
  EXPECT_EQ(header.logger_part_monotonic_start_time(),
            start.time_since_epoch().count());
  EXPECT_EQ(header.max_out_of_order_duration(),
            chrono::nanoseconds(logger.polling_period()).count());
  EXPECT_EQ(header.log_event_uuid()->string_view(),
            logger.log_event_uuid().ToString());
  EXPECT_EQ(header.logger_instance_uuid()->string_view(),
            logger.logger_instance_uuid().ToString());
  EXPECT_EQ(header.log_start_uuid()->string_view(), log_start_uuid.ToString());
  EXPECT_EQ(header.logger_node_boot_uuid()->string_view(),
            logger_loop->boot_uuid().ToString());
  EXPECT_EQ(header.source_node_boot_uuid()->string_view(),
            logger_loop->boot_uuid().ToString());
  EXPECT_EQ(header.parts_index(), 0);
  EXPECT_EQ(UUID::FromString(header.parts_uuid()->string_view()).has_value(),
            true);
  EXPECT_EQ(header.node(), nullptr);
  EXPECT_EQ(header.configuration(), nullptr);
  ASSERT_NE(header.data_stored(), nullptr);
  EXPECT_THAT(std::vector<StoredDataType>(header.data_stored()->begin(),
                                          header.data_stored()->end()),
              ElementsAre(StoredDataType::DATA));
  ASSERT_EQ(header.boot_uuids()->size(), 1u);
  EXPECT_EQ(header.boot_uuids()->Get(0)->string_view(),
            logger_loop->boot_uuid().ToString());

  // The configuration file is named by the sha256 of its header, which the
  // part names, and holds the logged configuration.
  ASSERT_TRUE(header.configuration_sha256() != nullptr);
  EXPECT_EQ(config_file,
            "log_" + header.configuration_sha256()->str() + ".bfbs.zst");
  Result<std::unique_ptr<PartReader>> config_reader =
      PartReader::Open(dir_.path() + "/" + config_file);
  ASSERT_TRUE(config_reader) << config_reader.error();
  EXPECT_EQ(Sha256Hex((*config_reader)->header_span()),
            header.configuration_sha256()->str());
  const Configuration *logged_config =
      (*config_reader)->header().configuration();
  ASSERT_NE(logged_config, nullptr);
  ASSERT_EQ(logged_config->channels()->size(), config()->channels()->size());
  const Channel *logged_state = configuration::GetChannel(
      logged_config, "/state", "aos.TestMessage", "", nullptr);
  ASSERT_NE(logged_state, nullptr);
  EXPECT_EQ(logged_state->frequency(), 10);
  EXPECT_EQ((*config_reader)->ReadMessage(), nullptr);

  // The state from before the start comes first, then /test in order.
  ASSERT_EQ(part.records.size(), 101u);
  EXPECT_EQ(part.records[0].channel, "/state");
  EXPECT_EQ(part.records[0].value, 2);
  EXPECT_LT(part.records[0].monotonic_sent_time,
            start.time_since_epoch().count());
  for (size_t i = 1; i < part.records.size(); ++i) {
    EXPECT_EQ(part.records[i].channel, "/test");
    EXPECT_EQ(part.records[i].value, 99 + static_cast<int>(i));
    EXPECT_GT(part.records[i].monotonic_sent_time,
              part.records[i - 1].monotonic_sent_time);
  }
  for (const Logger::ChannelStatistics &statistics :
       logger.channel_statistics()) {
    EXPECT_NE(statistics.channel->name()->string_view(), "/unlogged");
    if (statistics.channel->name()->string_view() == "/test") {
      EXPECT_EQ(statistics.messages, 100u);
      EXPECT_EQ(statistics.lost, 0u);
    }
  }
}

TEST_F(LoggerSimulationTest, EmbeddedConfig) {
  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get());
  logger.set_separate_config(false);
  LogNamerOptions options;
  options.compression = Compression::kNone;
  logger.StartLogging(std::make_unique<LogNamer>(dir_.path() + "/", config(),
                                                 nullptr, options));
  ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(300)));
  logger.StopLogging();
  EXPECT_EQ(FilesUnder(dir_.path()),
            std::set<std::string>({"data.part0.bfbs"}));
  const Part part = ReadPart(dir_.path() + "/data.part0.bfbs", config());
  ASSERT_NE(part.message().configuration(), nullptr);
  EXPECT_EQ(part.message().configuration_sha256(), nullptr);
  EXPECT_EQ(part.message().configuration()->channels()->size(), 5u);
}

// Rotation starts part 1 of the same sequence; no message is lost or
// written twice across it.
TEST_F(LoggerSimulationTest, Rotation) {
  auto sender_loop = factory_.MakeEventLoop("sender");
  Sender<TestMessage> test = sender_loop->MakeSender<TestMessage>("/test");
  int value = 0;
  sender_loop->AddTimer([&]() { Send(&test, value++); })
      ->Schedule(monotonic_clock::epoch() + chrono::milliseconds(1),
                 chrono::milliseconds(1));
  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get());
  logger.StartLogging(
      std::make_unique<LogNamer>(dir_.path() + "/log", config(), nullptr));
  ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(500)));
  logger.Rotate();
  ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(500)));
  logger.StopLogging();

  const Part part0 =
      ReadPart(dir_.path() + "/log_data.part0.bfbs.zst", config());
  const Part part1 =
      ReadPart(dir_.path() + "/log_data.part1.bfbs.zst", config());
  EXPECT_EQ(part0.message().parts_index(), 0);
  EXPECT_EQ(part1.message().parts_index(), 1);
  EXPECT_EQ(part0.message().parts_uuid()->str(),
            part1.message().parts_uuid()->str());
  EXPECT_EQ(part0.message().log_event_uuid()->str(),
            part1.message().log_event_uuid()->str());
  EXPECT_GT(part1.message().logger_part_monotonic_start_time(),
            part0.message().logger_part_monotonic_start_time());
  std::vector<int> values;
  for (const Part *part : {&part0, &part1}) {
    EXPECT_FALSE(part->records.empty());
    for (const Record &record : part->records) values.push_back(*record.value);
  }
  ASSERT_EQ(values.size(), static_cast<size_t>(value));
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(values[i], static_cast<int>(i));
}

// Expects `part`'s records sorted to within the max_out_of_order_duration
// its header states (what readers rely on to merge parts).
void ExpectWithinMaxOutOfOrder(const Part &part, const std::string &name) {
  const int64_t bound = part.message().max_out_of_order_duration();
  int64_t newest = std::numeric_limits<int64_t>::min();
  for (size_t i = 0; i < part.records.size(); ++i) {
    const Record &record = part.records[i];
    if (newest != std::numeric_limits<int64_t>::min()) {
      EXPECT_GE(record.monotonic_sent_time, newest - bound)
          << name << " record " << i << " on " << record.channel << " is "
          << (newest - record.monotonic_sent_time)
          << " ns older than one before it; the header allows " << bound;
    }
    newest = std::max(newest, record.monotonic_sent_time);
  }
}

// The Logger writes each channel's messages in runs rather than merging
// every message, so a part is sorted only to within its header's
// max_out_of_order_duration; it must stay within it. The state from before
// the start is written oldest first whatever the channel order, and a poll
// covering more than a polling period (here: the timer polls every 100 ms,
// the period was set to 10 ms, as when a starved logger polls late) is
// written in polling-period steps.
TEST_F(LoggerSimulationTest, PartsStayWithinMaxOutOfOrderDuration) {
  auto sender_loop = factory_.MakeEventLoop("sender");
  Sender<TestMessage> test = sender_loop->MakeSender<TestMessage>("/test");
  Sender<TestMessage> state = sender_loop->MakeSender<TestMessage>("/state");
  Sender<TestMessage> big = sender_loop->MakeSender<TestMessage>("/big");
  // /state comes after /test in the configuration but was sent 2 s before.
  Send(&state, 1);
  ASSERT_TRUE(factory_.RunFor(chrono::seconds(2)));
  Send(&test, 2);
  ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(500)));

  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get());
  logger.StartLogging(
      std::make_unique<LogNamer>(dir_.path() + "/log", config(), nullptr));
  logger.set_polling_period(chrono::milliseconds(10));
  logger.Rotate();
  int value = 0;
  sender_loop
      ->AddTimer([&]() {
        Send(&test, value);
        Send(&big, value);
        ++value;
      })
      ->Schedule(sender_loop->monotonic_now() + chrono::milliseconds(1),
                 chrono::milliseconds(1));
  ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(300)));
  logger.StopLogging();

  const Part part0 =
      ReadPart(dir_.path() + "/log_data.part0.bfbs.zst", config());
  const Part part1 =
      ReadPart(dir_.path() + "/log_data.part1.bfbs.zst", config());
  ASSERT_EQ(part0.records.size(), 2u);
  EXPECT_EQ(part0.records[0].channel, "/state");
  EXPECT_EQ(part0.records[1].channel, "/test");
  EXPECT_EQ(part1.message().max_out_of_order_duration(),
            chrono::nanoseconds(chrono::milliseconds(10)).count());
  EXPECT_EQ(part1.records.size(), 2u * static_cast<size_t>(value));
  ExpectWithinMaxOutOfOrder(part0, "part0");
  ExpectWithinMaxOutOfOrder(part1, "part1");
}

// Upstream's fetch and copy statistics: counts and bytes exactly, times
// per run (a channel's messages in one polling step) or start fetch, and
// ResetStatisics.
TEST_F(LoggerSimulationTest, FetchAndCopyStatistics) {
  auto sender_loop = factory_.MakeEventLoop("sender");
  Sender<TestMessage> state = sender_loop->MakeSender<TestMessage>("/state");
  Sender<TestMessage> test = sender_loop->MakeSender<TestMessage>("/test");
  auto reader_loop = factory_.MakeEventLoop("reader");
  std::unique_ptr<RawFetcher> state_sizes =
      reader_loop->MakeRawFetcher(state.channel());
  std::unique_ptr<RawFetcher> test_sizes =
      reader_loop->MakeRawFetcher(test.channel());
  Send(&state, 1);
  ASSERT_TRUE(factory_.RunFor(chrono::seconds(1)));

  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get());
  EXPECT_EQ(logger.total_message_fetch_count(), 0);
  EXPECT_EQ(logger.max_message_fetch_time_channel(), -1);
  EXPECT_EQ(logger.max_copy_time_channel(), -1);
  logger.StartLogging(
      std::make_unique<LogNamer>(dir_.path() + "/log", config(), nullptr));
  // Logged channels: /test, /state, /quiet, /big. The start: /state's
  // message fetched and written, three nop fetches, then a step of four
  // nop runs. A poll 100 ms later: /test's run of 10, three nop runs.
  // StopLogging: four nop runs.
  for (int i = 0; i < 10; ++i) Send(&test, 100 + i);
  ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(150)));
  logger.StopLogging();

  int64_t bytes = 0;
  ASSERT_TRUE(state_sizes->FetchNext());
  bytes += static_cast<int64_t>(state_sizes->context().size);
  while (test_sizes->FetchNext()) {
    bytes += static_cast<int64_t>(test_sizes->context().size);
  }
  EXPECT_EQ(logger.total_message_fetch_count(), 11);
  EXPECT_EQ(logger.total_message_fetch_bytes(), bytes);
  EXPECT_EQ(logger.total_nop_fetch_count(), 14);
  EXPECT_EQ(logger.total_copy_count(), 11);
  EXPECT_EQ(logger.total_copy_bytes(), bytes);
  uint64_t logged_bytes = 0;
  for (const Logger::ChannelStatistics &statistics :
       logger.channel_statistics()) {
    logged_bytes += statistics.bytes;
  }
  EXPECT_EQ(static_cast<int64_t>(logged_bytes), bytes);
  const int test_index =
      static_cast<int>(configuration::ChannelIndex(config(), test.channel()));
  const int state_index =
      static_cast<int>(configuration::ChannelIndex(config(), state.channel()));
  EXPECT_THAT(logger.max_message_fetch_time_channel(),
              ::testing::AnyOf(test_index, state_index));
  EXPECT_THAT(logger.max_copy_time_channel(),
              ::testing::AnyOf(test_index, state_index));
  EXPECT_GT(logger.max_message_fetch_time_size(), 0);
  EXPECT_GT(logger.max_copy_time_size(), 0);
  EXPECT_GT(logger.max_message_fetch_time(), chrono::nanoseconds(0));
  EXPECT_GE(logger.total_message_fetch_time(), logger.max_message_fetch_time());
  EXPECT_GE(logger.total_copy_time(), logger.max_copy_time());
  EXPECT_GT(logger.total_nop_fetch_time(), chrono::nanoseconds(0));

  logger.ResetStatisics();
  EXPECT_EQ(logger.max_message_fetch_time(), chrono::nanoseconds(0));
  EXPECT_EQ(logger.max_message_fetch_time_channel(), -1);
  EXPECT_EQ(logger.max_message_fetch_time_size(), -1);
  EXPECT_EQ(logger.total_message_fetch_time(), chrono::nanoseconds(0));
  EXPECT_EQ(logger.total_message_fetch_count(), 0);
  EXPECT_EQ(logger.total_message_fetch_bytes(), 0);
  EXPECT_EQ(logger.total_nop_fetch_time(), chrono::nanoseconds(0));
  EXPECT_EQ(logger.total_nop_fetch_count(), 0);
  EXPECT_EQ(logger.max_copy_time(), chrono::nanoseconds(0));
  EXPECT_EQ(logger.max_copy_time_channel(), -1);
  EXPECT_EQ(logger.max_copy_time_size(), -1);
  EXPECT_EQ(logger.total_copy_time(), chrono::nanoseconds(0));
  EXPECT_EQ(logger.total_copy_count(), 0);
  EXPECT_EQ(logger.total_copy_bytes(), 0);
}

TEST_F(LoggerSimulationTest, RotateEveryBytes) {
  auto sender_loop = factory_.MakeEventLoop("sender");
  Sender<TestMessage> test = sender_loop->MakeSender<TestMessage>("/test");
  sender_loop->AddTimer([&]() { Send(&test, 1); })
      ->Schedule(monotonic_clock::epoch(), chrono::milliseconds(1));
  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get());
  logger.set_rotate_every_bytes(4096);
  LogNamerOptions options;
  options.compression = Compression::kNone;
  logger.StartLogging(std::make_unique<LogNamer>(dir_.path() + "/log", config(),
                                                 nullptr, options));
  ASSERT_TRUE(factory_.RunFor(chrono::seconds(2)));
  logger.StopLogging();
  size_t parts = 0;
  for (const std::string &file : FilesUnder(dir_.path())) {
    if (file.starts_with("log_data.part")) {
      ++parts;
      EXPECT_LT(std::filesystem::file_size(dir_.path() + "/" + file),
                4096u + 8192u);
    }
  }
  EXPECT_GT(parts, 3u);
}

// Restarting writes a new log event (new UUIDs) that again starts with the
// current state.
TEST_F(LoggerSimulationTest, RestartLogging) {
  auto sender_loop = factory_.MakeEventLoop("sender");
  Sender<TestMessage> state = sender_loop->MakeSender<TestMessage>("/state");
  Send(&state, 7);
  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get());
  logger.StartLogging(
      std::make_unique<LogNamer>(dir_.path() + "/a", config(), nullptr));
  ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(200)));
  const UUID first_event = logger.log_event_uuid();
  logger.RestartLogging(
      std::make_unique<LogNamer>(dir_.path() + "/b", config(), nullptr));
  EXPECT_NE(logger.log_event_uuid(), first_event);
  ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(200)));
  logger.StopLogging();
  const Part a = ReadPart(dir_.path() + "/a_data.part0.bfbs.zst", config());
  const Part b = ReadPart(dir_.path() + "/b_data.part0.bfbs.zst", config());
  ASSERT_EQ(a.records.size(), 1u);
  ASSERT_EQ(b.records.size(), 1u);
  EXPECT_EQ(b.records[0].value, 7);
  EXPECT_EQ(a.message().logger_instance_uuid()->str(),
            b.message().logger_instance_uuid()->str());
}

// SetProfilingPath: one CSV line per message written, in the order written,
// after a '#' line naming upstream's columns; a bad path is a clear error.
TEST_F(LoggerSimulationTest, ProfilingPath) {
  auto sender_loop = factory_.MakeEventLoop("sender");
  Sender<TestMessage> state = sender_loop->MakeSender<TestMessage>("/state");
  Sender<TestMessage> test = sender_loop->MakeSender<TestMessage>("/test");
  Send(&state, 7);
  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get());

  const Result<void> bad = logger.SetProfilingPath(
      std::filesystem::path(dir_.path()) / "missing" / "profile.csv");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(),
              HasSubstr(dir_.path() + "/missing/profile.csv"));

  const std::string csv = dir_.path() + "/profile.csv";
  ASSERT_TRUE(logger.SetProfilingPath(csv));
  logger.StartLogging(
      std::make_unique<LogNamer>(dir_.path() + "/log", config(), nullptr));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(70)));
    Send(&test, i);
  }
  ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(200)));
  logger.StopLogging();
  // Stopped profiling: nothing more is written.
  ASSERT_TRUE(logger.SetProfilingPath(std::nullopt));

  const Part part =
      ReadPart(dir_.path() + "/log_data.part0.bfbs.zst", config());
  ASSERT_EQ(part.records.size(), 6u);
  std::ifstream in(csv);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line,
            "# channel_name,channel_type,encode_duration_ns,"
            "encoding_start_time_ns,message_time_s");
  size_t rows = 0;
  int64_t last_start = 0;
  while (std::getline(in, line)) {
    ASSERT_LT(rows, part.records.size()) << line;
    const Record &record = part.records[rows];
    std::vector<std::string> fields;
    std::stringstream stream(line);
    for (std::string field; std::getline(stream, field, ',');) {
      fields.push_back(field);
    }
    ASSERT_EQ(fields.size(), 5u) << line;
    EXPECT_EQ(fields[0], record.channel);
    EXPECT_EQ(fields[1], "aos.TestMessage");
    EXPECT_GE(std::stoll(fields[2]), 0) << line;
    const int64_t start = std::stoll(fields[3]);
    EXPECT_GE(start, last_start) << line;
    last_start = start;
    char expected_time[32];
    snprintf(expected_time, sizeof(expected_time), "%" PRId64 ".%09" PRId64,
             record.monotonic_sent_time / 1000000000,
             record.monotonic_sent_time % 1000000000);
    EXPECT_EQ(fields[4], expected_time);
    ++rows;
  }
  EXPECT_EQ(rows, part.records.size());
}

TEST_F(LoggerSimulationTest, StartLoggingOnRun) {
  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get());
  logger.StartLoggingOnRun(dir_.path() + "/run/");
  EXPECT_FALSE(logger.is_logging());
  ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(100)));
  EXPECT_TRUE(logger.is_logging());
  logger.StopLogging();
  EXPECT_TRUE(
      std::filesystem::exists(dir_.path() + "/run/data.part0.bfbs.zst"));
}

// The log records the configuration it is given; channels the loop's
// configuration lacks are skipped.
TEST_F(LoggerSimulationTest, AnotherConfiguration) {
  const FlatbufferDetachedBuffer<Configuration> logged =
      configuration::MergeWithConfig(config(), R"json({"channels": [
        {"name": "/extra", "type": "aos.TestMessage"}]})json");
  auto sender_loop = factory_.MakeEventLoop("sender");
  Sender<TestMessage> state = sender_loop->MakeSender<TestMessage>("/state");
  Send(&state, 3);
  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get(), &logged.message());
  logger.StartLogging(std::make_unique<LogNamer>(dir_.path() + "/log",
                                                 &logged.message(), nullptr));
  ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(200)));
  logger.StopLogging();
  const Part part =
      ReadPart(dir_.path() + "/log_data.part0.bfbs.zst", &logged.message());
  ASSERT_EQ(part.records.size(), 1u);
  EXPECT_EQ(part.records[0].channel, "/state");
  EXPECT_EQ(part.records[0].value, 3);
}

// A folder that cannot be written stops logging with an error naming it; the
// process (and the loop) carry on.
TEST_F(LoggerSimulationTest, UnwritableFolder) {
  const std::string file = dir_.path() + "/not_a_folder";
  { std::ofstream(file) << "x"; }
  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get());
  logger.StartLogging(
      std::make_unique<LogNamer>(file + "/log/", config(), nullptr));
  ASSERT_TRUE(logger.error().has_value());
  EXPECT_THAT(logger.error()->message(), HasSubstr(file + "/log"));
  EXPECT_TRUE(factory_.RunFor(chrono::milliseconds(300)));
  logger.StopLogging();
}

// The crash bound: whatever the files hold at any instant (what a kill -9 or
// power cut would leave, flushes being synced) includes every message sent
// more than a flush period plus a polling period earlier.
TEST_F(LoggerSimulationTest, CrashBound) {
  for (const Compression compression :
       {Compression::kZstd, Compression::kNone}) {
    SCOPED_TRACE(static_cast<int>(compression));
    auto sender_loop = factory_.MakeEventLoop("sender");
    Sender<TestMessage> test = sender_loop->MakeSender<TestMessage>("/test");
    std::vector<monotonic_clock::time_point> sent;
    TimerHandler *timer = sender_loop->AddTimer([&]() {
      Send(&test, static_cast<int>(sent.size()));
      sent.push_back(sender_loop->monotonic_now());
    });
    timer->Schedule(sender_loop->monotonic_now(), chrono::milliseconds(1));
    auto logger_loop = factory_.MakeEventLoop("logger");
    Logger logger(logger_loop.get());
    LogNamerOptions options;
    options.compression = compression;
    const std::string base =
        dir_.path() + (compression == Compression::kZstd ? "/z" : "/r");
    logger.StartLogging(
        std::make_unique<LogNamer>(base, config(), nullptr, options));
    const chrono::nanoseconds bound =
        chrono::seconds(1) + logger.polling_period();
    const std::string path =
        base + "_data.part0" + std::string(PartExtension(compression));
    std::mt19937 rng(3);
    for (int snapshot = 0; snapshot < 25; ++snapshot) {
      ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(50 + rng() % 300)));
      const std::string copy =
          dir_.path() + "/snapshot" + std::string(PartExtension(compression));
      std::filesystem::copy_file(
          path, copy, std::filesystem::copy_options::overwrite_existing);
      const monotonic_clock::time_point now = logger_loop->monotonic_now();
      size_t required = 0;
      while (required < sent.size() && sent[required] < now - bound) {
        ++required;
      }
      Result<std::unique_ptr<PartReader>> reader = PartReader::Open(copy);
      ASSERT_TRUE(reader) << reader.error();
      size_t read = 0;
      while (const MessageHeader *message = (*reader)->ReadMessage()) {
        // The state fetched at the start (the previous round's last).
        if (message->monotonic_sent_time() <
            logger.monotonic_start_time().time_since_epoch().count()) {
          continue;
        }
        const TestMessage *value =
            flatbuffers::GetRoot<TestMessage>(message->data()->data());
        ASSERT_EQ(value->value(), static_cast<int>(read));
        ++read;
      }
      EXPECT_GE(read, required) << "at " << now;
    }
    logger.StopLogging();
    timer->Disable();
    // Let the channel's storage duration pass before the next sender.
    ASSERT_TRUE(factory_.RunFor(chrono::seconds(3)));
  }
}

// A full disk (a small tmpfs) stops logging with an error naming the file
// and the space left; the simulation carries on and the part written so far
// reads back.
TEST_F(LoggerSimulationTest, DiskFull) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to mount a small tmpfs (CI runs as root)";
  }
  const std::string mount_point = dir_.path() + "/small";
  std::filesystem::create_directories(mount_point);
  if (mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=256k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << strerror(errno);
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};

  auto sender_loop = factory_.MakeEventLoop("sender");
  const Channel *big = configuration::GetChannel(
      config(), "/big", "aos.TestMessage", "", nullptr);
  std::unique_ptr<RawSender> sender = sender_loop->MakeRawSender(big);
  std::mt19937 rng(5);
  std::vector<uint8_t> payload(4096);
  sender_loop
      ->AddTimer([&]() {
        for (uint8_t &byte : payload) byte = static_cast<uint8_t>(rng());
        CHECK(sender->Send(payload.data(), payload.size()) ==
              RawSender::Error::kOk);
      })
      ->Schedule(sender_loop->monotonic_now(), chrono::milliseconds(1));
  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get());
  // Flush often: the disk fills in a fraction of the default flush period.
  logger.set_polling_period(chrono::milliseconds(10));
  logger.set_flush_period(chrono::milliseconds(10));
  logger.StartLogging(
      std::make_unique<LogNamer>(mount_point + "/log", config(), nullptr));
  ASSERT_TRUE(factory_.RunFor(chrono::seconds(2)));
  ASSERT_TRUE(logger.error().has_value());
  EXPECT_THAT(logger.error()->message(),
              HasSubstr(mount_point + "/log_data.part0.bfbs.zst"));
  EXPECT_THAT(logger.error()->message(), HasSubstr("No space left on device"));
  EXPECT_THAT(logger.error()->message(), HasSubstr("free of 256.0 KiB"));
  // Still alive and running.
  ASSERT_TRUE(factory_.RunFor(chrono::seconds(1)));
  logger.StopLogging();

  Result<std::unique_ptr<PartReader>> reader =
      PartReader::Open(mount_point + "/log_data.part0.bfbs.zst");
  ASSERT_TRUE(reader) << reader.error();
  size_t read = 0;
  while ((*reader)->ReadMessage() != nullptr) ++read;
  EXPECT_GT(read, 10u);
  EXPECT_NE((*reader)->status().kind, ReadStatus::Kind::kCorrupt);
}

// A logger that falls more than a queue behind (here: polling every 5 s a
// channel whose queue holds 2 s) keeps going and counts what it lost; the
// log shows the loss as a gap in queue indices.
TEST_F(LoggerSimulationTest, FallsBehindWithoutDying) {
  auto sender_loop = factory_.MakeEventLoop("sender");
  Sender<TestMessage> test = sender_loop->MakeSender<TestMessage>("/test");
  int sent = 0;
  sender_loop->AddTimer([&]() { Send(&test, sent++); })
      ->Schedule(sender_loop->monotonic_now() + chrono::milliseconds(1),
                 chrono::milliseconds(1));
  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get());
  logger.set_polling_period(chrono::seconds(5));
  logger.StartLogging(
      std::make_unique<LogNamer>(dir_.path() + "/log", config(), nullptr));
  ASSERT_TRUE(factory_.RunFor(chrono::milliseconds(5500)));
  logger.StopLogging();
  uint64_t logged = 0;
  uint64_t lost = 0;
  for (const Logger::ChannelStatistics &statistics :
       logger.channel_statistics()) {
    if (statistics.channel->name()->string_view() != "/test") continue;
    logged = statistics.messages;
    lost = statistics.lost;
  }
  EXPECT_GT(lost, 2000u);
  EXPECT_EQ(logged + lost, static_cast<uint64_t>(sent));
  const Part part =
      ReadPart(dir_.path() + "/log_data.part0.bfbs.zst", config());
  ASSERT_EQ(part.records.size(), logged);
  uint64_t gaps = 0;
  for (size_t i = 1; i < part.records.size(); ++i) {
    gaps += part.records[i].queue_index - part.records[i - 1].queue_index - 1;
  }
  EXPECT_EQ(gaps + part.records.front().queue_index, lost);
}

using LoggerDeathTest = LoggerSimulationTest;

TEST_F(LoggerDeathTest, MisuseDies) {
  auto logger_loop = factory_.MakeEventLoop("logger");
  Logger logger(logger_loop.get());
  EXPECT_DEATH(logger.StopLogging(), "Not logging right now");
  EXPECT_DEATH(logger.Rotate(), "Not logging right now");
  logger.StartLogging(
      std::make_unique<LogNamer>(dir_.path() + "/log", config(), nullptr));
  EXPECT_DEATH(logger.StartLogging(std::make_unique<LogNamer>(
                   dir_.path() + "/other", config(), nullptr)),
               "Already logging");
  logger.StopLogging();
}

// Two simulated nodes: each node's own data, forwarded data logged remotely,
// delivery timestamps on the receiving node and remote timestamps back on
// the sender, in the reference's layout.
TEST(MultiNodeLoggerTest, Layout) {
  const FlatbufferDetachedBuffer<Configuration> config =
      configuration::ReadConfig(AOS_LOGGING_TESTDATA_DIR "/multinode.json");
  SimulatedEventLoopFactory factory(&config.message());
  factory.SkipTimingReport();
  const Node *pi1 = configuration::GetNode(&config.message(), "pi1");
  const Node *pi2 = configuration::GetNode(&config.message(), "pi2");
  aos::testing::TempDir dir;

  auto pi1_sender = factory.MakeEventLoop("sender", pi1);
  Sender<TestMessage> test = pi1_sender->MakeSender<TestMessage>("/test");
  Sender<TestMessage> local = pi1_sender->MakeSender<TestMessage>("/local");
  auto pi2_sender = factory.MakeEventLoop("sender", pi2);
  Sender<TestMessage> reply = pi2_sender->MakeSender<TestMessage>("/reply");
  int value = 0;
  pi1_sender
      ->AddTimer([&]() {
        Send(&test, value);
        Send(&local, value);
      })
      ->Schedule(monotonic_clock::epoch() + chrono::milliseconds(100),
                 chrono::milliseconds(100));
  pi2_sender->AddTimer([&]() { Send(&reply, value++); })
      ->Schedule(monotonic_clock::epoch() + chrono::milliseconds(150),
                 chrono::milliseconds(100));

  auto pi1_logger_loop = factory.MakeEventLoop("logger", pi1);
  auto pi2_logger_loop = factory.MakeEventLoop("logger", pi2);
  Logger pi1_logger(pi1_logger_loop.get());
  Logger pi2_logger(pi2_logger_loop.get());
  const UUID log_start = UUID::Random();
  pi1_logger.StartLogging(
      std::make_unique<LogNamer>(dir.path() + "/pi1/", &config.message(), pi1),
      log_start);
  pi2_logger.StartLogging(
      std::make_unique<LogNamer>(dir.path() + "/pi2/", &config.message(), pi2),
      log_start);
  ASSERT_TRUE(factory.RunFor(chrono::milliseconds(1020)));
  pi1_logger.StopLogging();
  pi2_logger.StopLogging();

  std::set<std::string> pi1_files = FilesUnder(dir.path() + "/pi1");
  std::set<std::string> pi2_files = FilesUnder(dir.path() + "/pi2");
  const auto drop_config = [](std::set<std::string> *files) {
    std::erase_if(*files, [](const std::string &file) {
      return file.size() == 64 + std::string_view(".bfbs.zst").size();
    });
  };
  drop_config(&pi1_files);
  drop_config(&pi2_files);
  EXPECT_EQ(pi1_files,
            std::set<std::string>({"pi1_data.part0.bfbs.zst",
                                   "pi1_timestamps.part0.bfbs.zst",
                                   "timestamps/remote_pi2.part0.bfbs.zst"}));
  EXPECT_EQ(pi2_files, std::set<std::string>({"pi2_data.part0.bfbs.zst",
                                              "data/pi1_data.part0.bfbs.zst"}));

  const Configuration *c = &config.message();
  // pi1's own data: /test and /local, not /notlogged nor the RemoteMessages.
  const Part pi1_data =
      ReadPart(dir.path() + "/pi1/pi1_data.part0.bfbs.zst", c);
  EXPECT_EQ(pi1_data.message().node()->name()->string_view(), "pi1");
  EXPECT_EQ(pi1_data.message().logger_node()->name()->string_view(), "pi1");
  EXPECT_EQ(pi1_data.message().log_start_uuid()->str(), log_start.ToString());
  std::map<std::string, int> counts;
  for (const Record &record : pi1_data.records) ++counts[record.channel];
  EXPECT_EQ(counts["/test"], 10);
  EXPECT_EQ(counts["/local"], 10);
  // The bridge's statistics on /pi1/aos are logged too; nothing else.
  EXPECT_GT(counts["/pi1/aos"], 0);
  EXPECT_EQ(counts.size(), 3u) << ::testing::PrintToString(counts);

  // /reply's delivery times on pi1 (LOCAL_LOGGER timestamps): no data, with
  // pi2's send times.
  const Part pi1_timestamps =
      ReadPart(dir.path() + "/pi1/pi1_timestamps.part0.bfbs.zst", c);
  EXPECT_THAT(std::vector<StoredDataType>(
                  pi1_timestamps.message().data_stored()->begin(),
                  pi1_timestamps.message().data_stored()->end()),
              ElementsAre(StoredDataType::TIMESTAMPS));
  ASSERT_EQ(pi1_timestamps.records.size(), 9u);
  for (const Record &record : pi1_timestamps.records) {
    EXPECT_EQ(record.channel, "/reply");
    EXPECT_FALSE(record.value.has_value());
    EXPECT_LT(record.monotonic_remote_time, record.monotonic_sent_time);
  }

  // /test's delivery times on pi2, back on pi1 (REMOTE_LOGGER on pi1).
  const Part remote =
      ReadPart(dir.path() + "/pi1/timestamps/remote_pi2.part0.bfbs.zst", c);
  EXPECT_EQ(remote.message().node()->name()->string_view(), "pi2");
  EXPECT_EQ(remote.message().logger_node()->name()->string_view(), "pi1");
  EXPECT_EQ(remote.message().source_node_boot_uuid()->string_view(),
            factory.GetNodeEventLoopFactory(pi2)->boot_uuid().ToString());
  ASSERT_EQ(remote.records.size(), 10u);
  for (const Record &record : remote.records) {
    EXPECT_EQ(record.channel, "/test");
    EXPECT_LT(record.monotonic_remote_time, record.monotonic_sent_time);
    EXPECT_GT(record.monotonic_timestamp_time, record.monotonic_remote_time);
  }

  // /test forwarded to pi2 and logged there (LOCAL_AND_REMOTE_LOGGER).
  const Part forwarded =
      ReadPart(dir.path() + "/pi2/data/pi1_data.part0.bfbs.zst", c);
  EXPECT_EQ(forwarded.message().node()->name()->string_view(), "pi1");
  EXPECT_EQ(forwarded.message().logger_node()->name()->string_view(), "pi2");
  EXPECT_EQ(forwarded.message().source_node_boot_uuid()->string_view(),
            factory.GetNodeEventLoopFactory(pi1)->boot_uuid().ToString());
  ASSERT_EQ(forwarded.records.size(), 10u);
  for (size_t i = 0; i < forwarded.records.size(); ++i) {
    EXPECT_EQ(forwarded.records[i].channel, "/test");
    EXPECT_EQ(forwarded.records[i].value, static_cast<int>(i));
    EXPECT_LT(forwarded.records[i].monotonic_remote_time,
              forwarded.records[i].monotonic_sent_time);
  }
  EXPECT_EQ(forwarded.message().monotonic_start_time(),
            forwarded.records[0].monotonic_remote_time);
  EXPECT_NE(forwarded.message().oldest_remote_monotonic_timestamps()->Get(0),
            std::numeric_limits<int64_t>::max());
}

// The same Logger over shared memory.
TEST(ShmLoggerTest, LogsWhatWasSent) {
  const FlatbufferDetachedBuffer<Configuration> config = SingleNodeConfig();
  aos::testing::TempDir dir;
  ShmEventLoop loop(&config.message());
  loop.SkipTimingReport();
  loop.SkipAosLog();
  Sender<TestMessage> state = loop.MakeSender<TestMessage>("/state");
  Sender<TestMessage> test = loop.MakeSender<TestMessage>("/test");
  Send(&state, 5);
  Logger logger(&loop);
  logger.set_polling_period(chrono::milliseconds(10));
  logger.StartLoggingOnRun(dir.path() + "/shm");
  int value = 0;
  TimerHandler *timer = loop.AddTimer([&]() {
    Send(&test, value++);
    if (value == 50) loop.Exit();
  });
  loop.OnRun([&]() {
    timer->Schedule(loop.monotonic_now(), chrono::milliseconds(1));
  });
  ASSERT_TRUE(loop.Run());
  logger.StopLogging();
  const Part part =
      ReadPart(dir.path() + "/shm_data.part0.bfbs.zst", &config.message());
  ASSERT_EQ(part.records.size(), 51u);
  EXPECT_EQ(part.records[0].channel, "/state");
  EXPECT_EQ(part.records[0].value, 5);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(part.records[i + 1].value, i);
  }
  EXPECT_EQ(part.message().logger_node_boot_uuid()->string_view(),
            loop.boot_uuid().ToString());
}

}  // namespace
}  // namespace aos::logger::testing
