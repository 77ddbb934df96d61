#include "aos/events/logging/log_to_mcap.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "aos/configuration.h"
#include "aos/events/logging/mcap_check.h"
#include "aos/events/logging/part_reader.h"
#include "aos/events/logging/replay_test_util.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/examples/ping_lib.h"
#include "aos/examples/pong_lib.h"
#include "aos/json_to_flatbuffer.h"
#include "aos/testing/process.h"
#include "aos/testing/tmpdir.h"
#include "flatbuffers/idl.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

struct RawMessage {
  uint32_t channel_index;
  int64_t monotonic_sent_time;
  int64_t realtime_sent_time;
  uint32_t queue_index;
  std::string data;
};

class LogToMcapTest : public ::testing::Test {
 protected:
  LogToMcapTest() : config_(configuration::ReadConfig(AOS_PINGPONG_CONFIG)) {}

  // Records 500 ms of ping/pong (plus timing reports) into rotated parts.
  void Record() {
    SimulatedEventLoopFactory factory(&config_.message());
    NodeEventLoopFactory *node = factory.GetNodeEventLoopFactory(nullptr);
    node->AlwaysStart<Ping>("ping", PingOptions{});
    node->AlwaysStart<Pong>("pong");
    std::unique_ptr<EventLoop> logger_loop = node->MakeEventLoop("logger");
    TestRecorder recorder(logger_loop.get(), dir_.path() + "/log",
                          {.rotate_every_messages = 40});
    CheckExpected(factory.RunFor(std::chrono::milliseconds(1500)));
    recorder.Stop();
    parts_ = recorder.parts();
  }

  // The log's messages, read with the part reader alone, in replay order.
  std::vector<RawMessage> ReadLog() {
    std::vector<RawMessage> messages;
    for (const std::string &path : parts_) {
      auto reader = PartReader::Open(path);
      CheckExpected(reader);
      while (const MessageHeader *m = (*reader)->ReadMessage()) {
        messages.push_back(
            {m->channel_index(), m->monotonic_sent_time(),
             m->realtime_sent_time(), m->queue_index(),
             std::string(reinterpret_cast<const char *>(m->data()->data()),
                         m->data()->size())});
      }
    }
    std::stable_sort(messages.begin(), messages.end(),
                     [](const RawMessage &a, const RawMessage &b) {
                       return std::tie(a.monotonic_sent_time, a.channel_index,
                                       a.queue_index) <
                              std::tie(b.monotonic_sent_time, b.channel_index,
                                       b.queue_index);
                     });
    return messages;
  }

  // Every name of the ping/pong config has two types (/test: Ping and Pong;
  // /aos: timing reports and log messages), so every topic names its type.
  static std::string Topic(const Channel *channel) {
    return channel->name()->str() + " " + channel->type()->str();
  }

  ExpectedMcap Expected(bool json) {
    ExpectedMcap expected;
    expected.json = json;
    const Configuration *config = &config_.message();
    std::vector<bool> added(config->channels()->size(), false);
    for (const RawMessage &m : ReadLog()) {
      const Channel *channel = config->channels()->Get(m.channel_index);
      if (!added[m.channel_index]) {
        added[m.channel_index] = true;
        std::string schema;
        if (json) {
          schema = JsonSchemaFor(channel->schema());
        } else {
          const std::vector<uint8_t> bfbs = SchemaToBfbs(channel->schema());
          schema.assign(bfbs.begin(), bfbs.end());
          // The embedded schema is a standalone .bfbs of the channel's type.
          flatbuffers::Verifier verifier(bfbs.data(), bfbs.size());
          EXPECT_TRUE(reflection::VerifySchemaBuffer(verifier));
          EXPECT_EQ(
              reflection::GetSchema(bfbs.data())->root_table()->name()->str(),
              channel->type()->str());
        }
        expected.channels.push_back({Topic(channel),
                                     json ? "json" : "flatbuffer",
                                     {{"aos_type", channel->type()->str()}},
                                     channel->type()->str(),
                                     json ? "jsonschema" : "flatbuffer",
                                     schema});
      }
      std::string data = m.data;
      if (json) {
        data = MessageToJson(channel->schema(),
                             reinterpret_cast<const uint8_t *>(m.data.data()));
        // The JSON (before nan/inf become null) says the same as the
        // message.
        const std::string full =
            FlatbufferToJson(channel->schema(),
                             reinterpret_cast<const uint8_t *>(m.data.data()));
        Result<flatbuffers::DetachedBuffer> parsed =
            JsonToFlatbuffer(channel->schema(), full);
        CheckExpected(parsed);
        EXPECT_EQ(MessageToJson(channel->schema(), parsed->data()), data);
      }
      expected.messages.push_back({Topic(channel), m.queue_index,
                                   static_cast<uint64_t>(m.realtime_sent_time),
                                   static_cast<uint64_t>(m.realtime_sent_time),
                                   data});
    }
    return expected;
  }

  void Convert(LogToMcapOptions::Mode mode, const std::string &path) {
    Result<std::vector<LogFile>> logs = SortParts(parts_);
    CheckExpected(logs);
    LogToMcapOptions options;
    options.mode = mode;
    options.mcap.chunk_size = 8 * 1024;
    Result<LogToMcapStats> stats = LogToMcap(*logs, path, options);
    CheckExpected(stats);
    EXPECT_EQ(stats->messages, ReadLog().size());
    EXPECT_EQ(stats->invalid_messages, 0u);
    EXPECT_TRUE(stats->warnings.empty());
  }

  FlatbufferDetachedBuffer<Configuration> config_;
  aos::testing::TempDir dir_;
  std::vector<std::string> parts_;
};

TEST_F(LogToMcapTest, FlatbufferModeReadByOfficialReader) {
  Record();
  ASSERT_GT(parts_.size(), 3u);
  const std::string path = dir_.path() + "/out.mcap";
  Convert(LogToMcapOptions::Mode::kFlatbuffer, path);
  if (auto reason = McapCheckerUnavailable()) GTEST_SKIP() << *reason;
  const ExpectedMcap expected = Expected(false);
  // Ping, Pong, timing reports and log messages.
  EXPECT_EQ(expected.channels.size(), 4u);
  std::string output;
  EXPECT_TRUE(RunMcapChecker(path, expected, &output)) << output;
  LOG(INFO) << output;
}

TEST_F(LogToMcapTest, JsonModeReadByOfficialReader) {
  Record();
  const std::string path = dir_.path() + "/out_json.mcap";
  Convert(LogToMcapOptions::Mode::kJson, path);
  if (auto reason = McapCheckerUnavailable()) GTEST_SKIP() << *reason;
  std::string output;
  EXPECT_TRUE(RunMcapChecker(path, Expected(true), &output)) << output;
  LOG(INFO) << output;
}

// JSON cannot spell nan or inf: they become null, strings stay as they are,
// and the JSON Schema allows it.
TEST(LogToMcapJsonTest, NonFiniteFloatsBecomeNull) {
  flatbuffers::Parser parser;
  ASSERT_TRUE(parser.Parse(
      "namespace t; table T { a:float; b:double; c:double; s:string; "
      "v:[float]; } root_type T;"));
  parser.Serialize();
  const std::vector<uint8_t> bfbs(
      parser.builder_.GetBufferPointer(),
      parser.builder_.GetBufferPointer() + parser.builder_.GetSize());
  const reflection::Schema *schema = reflection::GetSchema(bfbs.data());
  ASSERT_TRUE(parser.Parse(
      R"({"a": nan, "b": -inf, "c": 1.5, "s": "nan, -inf", "v": [inf, 2]})"));
  EXPECT_EQ(MessageToJson(schema, parser.builder_.GetBufferPointer()),
            R"({ "a": null, "b": null, "c": 1.5, "s": "nan, -inf", )"
            R"("v": [ null, 2 ] })");
  EXPECT_NE(JsonSchemaFor(schema).find(R"("a": {"type": ["number", "null"]})"),
            std::string::npos)
      << JsonSchemaFor(schema);
}

// The tool: every bad input is one clear line and a non-zero exit.
class LogToMcapToolTest : public LogToMcapTest {
 protected:
  // Runs log_to_mcap with `args` and returns its exit code, with what it
  // wrote to stdout and stderr in `output`.
  int Run(std::vector<std::string> args, std::string *output) {
    args.insert(args.begin(), AOS_LOG_TO_MCAP);
    const aos::testing::ProcessExit exit =
        aos::testing::ChildProcess(std::move(args), dir_.path()).Wait();
    *output = exit.out + exit.err;
    return exit.code;
  }
};

TEST_F(LogToMcapToolTest, ConvertsAFolder) {
  Record();
  std::string output;
  const std::string mcap = dir_.path() + "/tool.mcap";
  EXPECT_EQ(Run({dir_.path(), "--output_path=" + mcap}, &output), 0) << output;
  EXPECT_NE(
      output.find("wrote " + std::to_string(ReadLog().size()) + " messages"),
      std::string::npos)
      << output;
  EXPECT_GT(std::filesystem::file_size(mcap), 1000u);
}

TEST_F(LogToMcapToolTest, BadInput) {
  std::string output;
  EXPECT_EQ(Run({}, &output), 1);
  EXPECT_NE(output.find("--output_path=<file.mcap> is required"),
            std::string::npos)
      << output;

  EXPECT_EQ(Run({dir_.path() + "/nope", "--output_path=/dev/null"}, &output),
            1);
  EXPECT_NE(output.find("/nope' does not exist"), std::string::npos) << output;

  const std::string not_a_log = dir_.path() + "/notes.bfbs";
  std::ofstream(not_a_log) << "these are not flatbuffers";
  EXPECT_EQ(
      Run({not_a_log, "--output_path=" + dir_.path() + "/x.mcap"}, &output), 1);
  EXPECT_NE(output.find("notes.bfbs"), std::string::npos) << output;

  EXPECT_EQ(Run({not_a_log, "--output_path=x", "--mode=yaml"}, &output), 1);
  EXPECT_NE(output.find("--mode must be flatbuffer or json, not 'yaml'"),
            std::string::npos)
      << output;

  Record();
  EXPECT_EQ(Run({dir_.path() + "/log.part0.bfbs.zst",
                 "--output_path=" + dir_.path() + "/missing/x.mcap"},
                &output),
            1);
  EXPECT_NE(output.find("cannot create MCAP file"), std::string::npos)
      << output;
}

}  // namespace
}  // namespace aos::logger::testing
