// Tests of replaying through applications and comparing the results:
// determinism (log_replayer twice gives equal logs), a deliberately changed
// application (log_diff finds exactly the expected first difference), and
// the log_replayer and log_diff command lines.

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "aos/configuration.h"
#include "aos/events/logging/log_diff.h"
#include "aos/events/logging/log_reader.h"
#include "aos/events/logging/log_replayer_stats_generated.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/events/logging/logger.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/examples/ping_lib.h"
#include "aos/examples/pong_generated.h"
#include "aos/examples/pong_lib.h"
#include "aos/examples/pong_static.h"
#include "aos/json_to_flatbuffer.h"
#include "aos/testing/process.h"
#include "aos/testing/tmpdir.h"
#include "aos/util/file.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

std::vector<LogFile> Load(const std::string &folder) {
  Result<std::vector<std::string>> files = FindLogs({folder});
  CheckExpected(files);
  Result<std::vector<LogFile>> logs = SortParts(*files);
  CheckExpected(logs);
  return std::move(*logs);
}

// Pong, except that from ping 20 on it answers value + 1000: the
// "deliberately changed application".
class ChangedPong {
 public:
  explicit ChangedPong(EventLoop *event_loop)
      : sender_(event_loop->MakeSender<examples::Pong>("/test")) {
    // Built as Pong builds it, so unchanged answers are the same bytes.
    event_loop->MakeWatcher("/test", [this](const examples::Ping &ping) {
      auto builder = sender_.MakeStaticBuilder();
      builder->set_value(ping.value() >= 20 ? ping.value() + 1000
                                            : ping.value());
      builder->set_initial_send_time(ping.send_time());
      CHECK(builder.Send() == RawSender::Error::kOk);
    });
  }

 private:
  Sender<examples::Pong> sender_;
};

class ReplayToolsTest : public ::testing::Test {
 protected:
  ReplayToolsTest() : config_(configuration::ReadConfig(AOS_PINGPONG_CONFIG)) {
    // The original run: ping and pong for a second, logged (until 5 ms after
    // the last ping, so its pong is in the log too).
    SimulatedEventLoopFactory factory(&config_.message());
    NodeEventLoopFactory *node = factory.GetNodeEventLoopFactory(nullptr);
    node->AlwaysStart<Ping>("ping", PingOptions{});
    node->AlwaysStart<Pong>("pong");
    std::unique_ptr<EventLoop> logger_loop = node->MakeEventLoop("logger");
    Logger logger(logger_loop.get());
    logger.StartLoggingOnRun(original_ + "/");
    CheckExpected(factory.RunFor(std::chrono::milliseconds(1005)));
  }

  // Replays the original with pong (or the changed pong) re-run, recording
  // into `folder`, in this process.
  template <typename PongApp>
  void ReplayInProcess(const std::string &folder) {
    LogReader reader(Load(original_));
    reader.RemapLoggedChannel<examples::Pong>("/test");
    SimulatedEventLoopFactory factory(reader.configuration());
    reader.Register(&factory);
    NodeEventLoopFactory *node = factory.GetNodeEventLoopFactory(nullptr);
    node->AlwaysStart<PongApp>("pong");
    std::unique_ptr<EventLoop> logger_loop = node->MakeEventLoop("logger");
    logger_loop->SkipTimingReport();
    Logger logger(logger_loop.get());
    logger.StartLoggingOnRun(folder + "/");
    CheckExpected(factory.Run());
    logger.StopLogging();
    // The reader's loop must go before the factory does.
    reader.Deregister();
  }

  // Runs a tool (`argv[0]`, a path) and returns its exit code, with what it
  // wrote to stdout and stderr in `output`.
  int RunCommand(std::vector<std::string> argv, std::string *output) {
    const aos::testing::ProcessExit exit =
        aos::testing::ChildProcess(std::move(argv), dir_.path()).Wait();
    *output = exit.out + exit.err;
    return exit.code;
  }

  std::string WriteReplayConfig(const std::string &json) {
    const std::string path = dir_.path() + "/replay_config.json";
    std::ofstream(path) << json;
    return path;
  }

  FlatbufferDetachedBuffer<Configuration> config_;
  aos::testing::TempDir dir_;
  const std::string original_ = dir_.path() + "/original";
};

constexpr std::string_view kPongReplay = R"({
  "applications": [{"name": "pong"}],
  "remap_channels": [{"channel": {"name": "/test", "type": "aos.examples.Pong"}}]
})";

// log_replayer twice over the same log: log_diff finds the two new logs
// equal, channel for channel, message for message, including timing reports.
// And the re-run pong reproduced the logged pongs exactly.
TEST_F(ReplayToolsTest, ReplayIsDeterministic) {
  const std::string config = WriteReplayConfig(std::string(kPongReplay));
  std::string output;
  for (const char *out : {"/replay1", "/replay2"}) {
    ASSERT_EQ(
        RunCommand({AOS_LOG_REPLAYER, original_, "--replay_config=" + config,
                    "--output_folder=" + dir_.path() + out},
                   &output),
        0)
        << output;
  }
  ASSERT_EQ(RunCommand({AOS_LOG_DIFF, dir_.path() + "/replay1",
                        dir_.path() + "/replay2"},
                       &output),
            0)
      << output;
  EXPECT_NE(output.find("\"equal\": true"), std::string::npos) << output;
  EXPECT_NE(output.find("\"name\": \"/test\", \"type\": \"aos.examples.Pong\""),
            std::string::npos)
      << output;

  // The stats: the replay config, and replay from the log's start to its
  // end (the last message plus the send delay).
  Result<std::string> stats_json =
      util::ReadFileToString(dir_.path() + "/replay1/log_replayer_stats.json");
  CheckExpected(stats_json);
  Result<FlatbufferDetachedBuffer<LogReplayerStats>> stats =
      MaybeJsonToFlatbuffer<LogReplayerStats>(*stats_json);
  CheckExpected(stats);
  const LogReplayerStats &s = stats->message();
  ASSERT_NE(s.replay_config(), nullptr);
  ASSERT_EQ(s.replay_config()->applications()->size(), 1u);
  EXPECT_EQ(s.replay_config()->applications()->Get(0)->name()->string_view(),
            "pong");
  EXPECT_EQ(s.replay_config()
                ->remap_channels()
                ->Get(0)
                ->channel()
                ->name()
                ->string_view(),
            "/test");
  LogReader reader(Load(original_));
  EXPECT_EQ(s.monotonic_start_time(),
            reader.monotonic_start_time().time_since_epoch().count());
  EXPECT_EQ(s.realtime_start_time(),
            reader.realtime_start_time().time_since_epoch().count());
  // The original ran for 1005 ms from the log's start.
  EXPECT_GT(s.monotonic_end_time() - s.monotonic_start_time(), 900'000'000);
  EXPECT_LT(s.monotonic_end_time() - s.monotonic_start_time(), 1'010'000'000);
  EXPECT_EQ(s.realtime_end_time() - s.realtime_start_time(),
            s.monotonic_end_time() - s.monotonic_start_time());
  ASSERT_NE(s.start_time(), nullptr);
  EXPECT_EQ(realtime_clock::FromString(s.start_time()->string_view()),
            reader.realtime_start_time());
  ASSERT_NE(s.end_time(), nullptr);
  EXPECT_EQ(realtime_clock::FromString(s.end_time()->string_view()),
            realtime_clock::time_point(
                std::chrono::nanoseconds(s.realtime_end_time())));

  // Against the original: pings replayed, pongs re-made, all identical. The
  // timing reports of the replay's own loops differ, as expected.
  Result<LogDiff> diff =
      DiffLogs(Load(original_), Load(dir_.path() + "/replay1"),
               {.ignore = {"/aos", "/original/aos", "/original/test"}});
  CheckExpected(diff);
  EXPECT_TRUE(diff->equal) << diff->ToJson();
  ASSERT_EQ(diff->channels.size(), 2u) << diff->ToJson();
  EXPECT_GE(diff->channels[0].count_a, 100u);
}

// A changed application gives exactly the expected first difference: the
// pong answering ping 20, with both messages and their (equal) times.
TEST_F(ReplayToolsTest, ChangedAppFirstDifference) {
  ReplayInProcess<Pong>(dir_.path() + "/same");
  ReplayInProcess<ChangedPong>(dir_.path() + "/changed");
  // Pong AOS_LOGs at its start and ChangedPong does not: /aos differs, as
  // timing reports and logs usually do.
  Result<LogDiff> diff =
      DiffLogs(Load(dir_.path() + "/same"), Load(dir_.path() + "/changed"),
               {.ignore = {"/aos"}});
  CheckExpected(diff);
  EXPECT_FALSE(diff->equal);
  int differing = 0;
  for (const LogDiff::Channel &channel : diff->channels) {
    if (channel.equal) continue;
    ++differing;
    EXPECT_EQ(channel.name, "/test");
    EXPECT_EQ(channel.type, "aos.examples.Pong");
    EXPECT_EQ(channel.count_a, channel.count_b);
    ASSERT_TRUE(channel.a.has_value());
    ASSERT_TRUE(channel.b.has_value());
    EXPECT_NE(channel.a->json.find("\"value\": 20,"), std::string::npos)
        << channel.a->json;
    EXPECT_NE(channel.b->json.find("\"value\": 1020,"), std::string::npos)
        << channel.b->json;
    EXPECT_EQ(channel.a->monotonic_sent_time, channel.b->monotonic_sent_time);
    // Pings 1..19 answered the same way before it.
    EXPECT_EQ(channel.first_difference_index, 19u);
  }
  EXPECT_EQ(differing, 1) << diff->ToJson();

  std::string output;
  EXPECT_EQ(RunCommand({AOS_LOG_DIFF, dir_.path() + "/same",
                        dir_.path() + "/changed", "--ignore=/aos"},
                       &output),
            1);
  EXPECT_NE(output.find("\"first_difference\": {\"index\": 19"),
            std::string::npos)
      << output;
  // Ignoring the channel, they are equal.
  EXPECT_EQ(RunCommand({AOS_LOG_DIFF, dir_.path() + "/same",
                        dir_.path() + "/changed", "--ignore=/test,/aos"},
                       &output),
            0)
      << output;
}

TEST_F(ReplayToolsTest, LogReplayerBadInput) {
  const std::string out = "--output_folder=" + dir_.path() + "/out";
  const auto replayer = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {AOS_LOG_REPLAYER, original_});
    return args;
  };
  std::string output;

  std::string config =
      WriteReplayConfig(R"({"applications": [{"name": "x"}]})");
  EXPECT_EQ(RunCommand(replayer({"--replay_config=" + config, out}), &output),
            1);
  EXPECT_NE(output.find("unknown application 'x'; log_replayer can run: "
                        "ping, pong"),
            std::string::npos)
      << output;

  config = WriteReplayConfig(
      R"({"remap_channels": [{"channel": {"name": "/x", "type": "T"}}]})");
  EXPECT_EQ(RunCommand(replayer({"--replay_config=" + config, out}), &output),
            1);
  EXPECT_NE(output.find("remap_channels names /x T, which the log's "
                        "configuration does not have"),
            std::string::npos)
      << output;

  config = WriteReplayConfig(R"({"applications": [{"nam": "pong"}]})");
  EXPECT_EQ(RunCommand(replayer({"--replay_config=" + config, out}), &output),
            1);
  EXPECT_NE(output.find("replay_config.json: "), std::string::npos) << output;
  EXPECT_NE(output.find("nam"), std::string::npos) << output;

  EXPECT_EQ(RunCommand(replayer({out}), &output), 1);
  EXPECT_NE(output.find("--replay_config and --output_folder are required"),
            std::string::npos)
      << output;

  config = WriteReplayConfig(std::string(kPongReplay));
  EXPECT_EQ(RunCommand(replayer({"--replay_config=" + config,
                                 "--output_folder=" + original_}),
                       &output),
            1);
  EXPECT_NE(output.find("is not empty"), std::string::npos) << output;
}

TEST_F(ReplayToolsTest, LogDiffBadInput) {
  std::string output;
  EXPECT_EQ(RunCommand({AOS_LOG_DIFF, original_}, &output), 2);
  EXPECT_NE(output.find("expected two logs"), std::string::npos) << output;
  EXPECT_EQ(
      RunCommand({AOS_LOG_DIFF, original_, dir_.path() + "/nope"}, &output), 2);
  EXPECT_NE(output.find("/nope' does not exist"), std::string::npos) << output;
}

}  // namespace
}  // namespace aos::logger::testing
