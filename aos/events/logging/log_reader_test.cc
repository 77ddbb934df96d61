#include "aos/events/logging/log_reader.h"

#include <filesystem>
#include <fstream>

#include "aos/configuration.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/events/logging/logger.h"
#include "aos/events/logging/replay_test_util.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/examples/ping_generated.h"
#include "aos/examples/ping_lib.h"
#include "aos/examples/pong_generated.h"
#include "aos/examples/pong_lib.h"
#include "aos/testing/tmpdir.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

using std::chrono::milliseconds;

// One message as a watcher saw it.
struct Seen {
  std::string channel;
  monotonic_clock::time_point monotonic_sent_time;
  realtime_clock::time_point realtime_sent_time;
  std::string data;

  bool operator==(const Seen &) const = default;
};

std::ostream &operator<<(std::ostream &os, const Seen &seen) {
  return os << seen.channel << " @" << seen.monotonic_sent_time << " ("
            << seen.data.size() << " bytes)";
}

// Watches Ping and Pong on `channel` (and Pong on `pong_channel`), appending
// what it sees to `seen`.
std::unique_ptr<EventLoop> MakeObserver(NodeEventLoopFactory *node,
                                        std::vector<Seen> *seen,
                                        std::string_view pong_channel = "") {
  std::unique_ptr<EventLoop> loop = node->MakeEventLoop("observer");
  loop->SkipTimingReport();
  auto record = [loop = loop.get(), seen](std::string name) {
    return [loop, seen, name](const Context &context, const void *data) {
      seen->push_back(
          {name, context.monotonic_event_time, context.realtime_event_time,
           std::string(static_cast<const char *>(data), context.size)});
    };
  };
  const Configuration *config = loop->configuration();
  loop->MakeRawWatcher(configuration::GetChannel(
                           config, "/test", "aos.examples.Ping", "", nullptr),
                       record("/test Ping"));
  loop->MakeRawWatcher(configuration::GetChannel(
                           config, "/test", "aos.examples.Pong", "", nullptr),
                       record("/test Pong"));
  if (!pong_channel.empty()) {
    loop->MakeRawWatcher(
        configuration::GetChannel(config, pong_channel, "aos.examples.Pong", "",
                                  nullptr),
        record(std::string(pong_channel) + " Pong"));
  }
  return loop;
}

class LogReaderTest : public ::testing::Test {
 protected:
  LogReaderTest() : config_(configuration::ReadConfig(AOS_PINGPONG_CONFIG)) {}

  // Ping and pong in a simulation that ran 55 ms (the state a recorder
  // started now fetches: the latest Ping and Pong), observed into recorded_
  // from now on, with a loop for the recorder.
  struct PingPongRun {
    explicit PingPongRun(LogReaderTest *test)
        : factory(&test->config_.message()),
          node(factory.GetNodeEventLoopFactory(nullptr)) {
      node->AlwaysStart<Ping>("ping", PingOptions{});
      node->AlwaysStart<Pong>("pong");
      observer = MakeObserver(node, &test->recorded_);
      CheckExpected(factory.RunFor(milliseconds(55)));
      test->recorded_.clear();
      logger_loop = node->MakeEventLoop("logger");
    }

    SimulatedEventLoopFactory factory;
    NodeEventLoopFactory *node;
    std::unique_ptr<EventLoop> observer;
    std::unique_ptr<EventLoop> logger_loop;
  };

  // Records ping/pong: 55 ms of traffic before the recorder starts (its
  // state is the latest Ping and Pong), then `duration` more.
  std::vector<std::string> Record(std::chrono::nanoseconds duration,
                                  TestRecorderOptions options = {}) {
    PingPongRun run(this);
    TestRecorder recorder(run.logger_loop.get(), dir_.path() + "/log", options);
    CheckExpected(run.factory.RunFor(duration));
    // Every duration used ends 5 ms after a ping, so every message sent was
    // seen by the observer as well as recorded.
    recorder.Stop();
    log_start_ = recorded_.front().monotonic_sent_time;
    return recorder.parts();
  }

  std::vector<LogFile> Sorted(const std::vector<std::string> &parts) {
    Result<std::vector<LogFile>> logs = SortParts(parts);
    CheckExpected(logs);
    return std::move(*logs);
  }

  FlatbufferDetachedBuffer<Configuration> config_;
  aos::testing::TempDir dir_;
  std::vector<Seen> recorded_;
  monotonic_clock::time_point log_start_;
};

// Every message recorded replays on its channel at its logged monotonic and
// realtime time, with its bytes; the replay ends with the log.
TEST_F(LogReaderTest, ReplaysEveryMessageAtItsTime) {
  const std::vector<std::string> parts = Record(std::chrono::seconds(1));
  LogReader reader(Sorted(parts));
  EXPECT_EQ(reader.LoggedNodes(), std::vector<const Node *>{nullptr});
  reader.Register();
  SimulatedEventLoopFactory *factory = reader.event_loop_factory();
  NodeEventLoopFactory *node = factory->GetNodeEventLoopFactory(nullptr);
  std::vector<Seen> replayed;
  auto observer = MakeObserver(node, &replayed);
  bool ended = false;
  reader.OnEnd([&]() { ended = true; });
  CheckExpected(factory->Run());
  EXPECT_TRUE(ended);
  EXPECT_TRUE(reader.warnings().empty());
  ASSERT_GT(recorded_.size(), 150u);
  EXPECT_EQ(replayed, recorded_);
  // The replay ends once the last message of the log (the recorder's own
  // timing report, a second after it started) reached its watchers.
  EXPECT_EQ(node->monotonic_now(), reader.monotonic_start_time() +
                                       std::chrono::seconds(1) +
                                       factory->send_delay());
}

// The same with the real Logger (separate config file, zstd parts): what it
// records replays message for message, time for time.
TEST_F(LogReaderTest, ReplaysWhatTheLoggerRecorded) {
  {
    PingPongRun run(this);
    Logger logger(run.logger_loop.get());
    logger.StartLoggingOnRun(dir_.path() + "/logger/");
    CheckExpected(run.factory.RunFor(std::chrono::seconds(1)));
  }
  Result<std::vector<std::string>> files = FindLogs({dir_.path() + "/logger"});
  CheckExpected(files);
  LogReader reader(Sorted(*files));
  reader.Register();
  std::vector<Seen> replayed;
  auto observer = MakeObserver(
      reader.event_loop_factory()->GetNodeEventLoopFactory(nullptr), &replayed);
  CheckExpected(reader.event_loop_factory()->Run());
  EXPECT_TRUE(reader.warnings().empty());
  ASSERT_GT(recorded_.size(), 150u);
  EXPECT_EQ(replayed, recorded_);
}

// The logger's fetch of each channel's latest message reaches fetchers made
// before the run, but no watcher.
TEST_F(LogReaderTest, StateBeforeStartIsForFetchersOnly) {
  const std::vector<std::string> parts = Record(milliseconds(300));
  LogReader reader(Sorted(parts));
  reader.Register();
  SimulatedEventLoopFactory *factory = reader.event_loop_factory();
  NodeEventLoopFactory *node = factory->GetNodeEventLoopFactory(nullptr);
  std::vector<Seen> replayed;
  auto observer = MakeObserver(node, &replayed);
  Fetcher<examples::Ping> ping_fetcher =
      observer->MakeFetcher<examples::Ping>("/test");
  std::optional<int> value_at_start;
  reader.OnStart([&]() {
    ASSERT_TRUE(ping_fetcher.Fetch());
    value_at_start = ping_fetcher->value();
    // Sent in the 55 ms before the recorder started; replayed at the start.
    EXPECT_EQ(ping_fetcher.context().monotonic_event_time,
              reader.monotonic_start_time());
  });
  CheckExpected(factory->Run());
  ASSERT_TRUE(value_at_start.has_value());
  EXPECT_EQ(*value_at_start, 6);  // pings at 0, 10, ..., 50 ms
  EXPECT_EQ(replayed, recorded_);
  EXPECT_GE(replayed.front().monotonic_sent_time, log_start_);
}

// A remapped channel's logged data appears on /original/..., and the app
// re-run in replay publishes the real name: pong answering the logged pings
// reproduces the logged pongs byte for byte, at the same times.
TEST_F(LogReaderTest, RemappedChannelLetsAppRerun) {
  const std::vector<std::string> parts = Record(milliseconds(500));
  LogReader reader(Sorted(parts));
  EXPECT_TRUE(reader.HasChannel<examples::Pong>("/test"));
  reader.RemapLoggedChannel<examples::Pong>("/test");
  EXPECT_EQ(reader.RemappedChannels().back(),
            "/test aos.examples.Pong -> /original/test");
  EXPECT_NE(configuration::GetChannel(reader.configuration(), "/original/test",
                                      "aos.examples.Pong", "", nullptr),
            nullptr);
  EXPECT_EQ(
      configuration::GetChannel(reader.logged_configuration(), "/original/test",
                                "aos.examples.Pong", "", nullptr),
      nullptr);
  reader.Register();
  SimulatedEventLoopFactory *factory = reader.event_loop_factory();
  NodeEventLoopFactory *node = factory->GetNodeEventLoopFactory(nullptr);
  node->AlwaysStart<Pong>("pong");
  std::vector<Seen> replayed;
  auto observer = MakeObserver(node, &replayed, "/original/test");
  CheckExpected(factory->Run());

  std::vector<Seen> logged_pongs, original_pongs, new_pongs;
  for (const Seen &seen : recorded_) {
    if (seen.channel == "/test Pong") logged_pongs.push_back(seen);
  }
  for (const Seen &seen : replayed) {
    if (seen.channel == "/original/test Pong") {
      original_pongs.push_back(seen);
      original_pongs.back().channel = "/test Pong";
    } else if (seen.channel == "/test Pong") {
      new_pongs.push_back(seen);
    }
  }
  ASSERT_GT(logged_pongs.size(), 40u);
  EXPECT_EQ(original_pongs, logged_pongs);
  // The replay ends with the last logged message, a pong: the re-run pong
  // answers every ping before it.
  EXPECT_EQ(new_pongs, logged_pongs);
}

// A renamed channel replays under its new name only.
TEST_F(LogReaderTest, RenamedChannel) {
  const std::vector<std::string> parts = Record(milliseconds(200));
  LogReader reader(Sorted(parts));
  reader.RenameLoggedChannel<examples::Ping>("/test", "/renamed");
  EXPECT_EQ(configuration::GetChannel(reader.configuration(), "/test",
                                      "aos.examples.Ping", "", nullptr),
            nullptr);
  reader.Register();
  SimulatedEventLoopFactory *factory = reader.event_loop_factory();
  std::unique_ptr<EventLoop> observer =
      factory->GetNodeEventLoopFactory(nullptr)->MakeEventLoop("observer");
  std::vector<Seen> renamed;
  observer->MakeWatcher("/renamed", [&](const examples::Ping &) {
    const Context &context = observer->context();
    renamed.push_back(
        {"/test Ping", context.monotonic_event_time,
         context.realtime_event_time,
         std::string(static_cast<const char *>(context.data), context.size)});
  });
  CheckExpected(factory->Run());
  std::vector<Seen> pings;
  for (const Seen &seen : recorded_) {
    if (seen.channel == "/test Ping") pings.push_back(seen);
  }
  ASSERT_GT(pings.size(), 15u);
  EXPECT_EQ(renamed, pings);
}

// A remap with a new type (upstream's new_type): the logged pongs replay on
// /original/test as aos.examples.Ping (the same layout: an int and a long),
// with the new type's schema, so a Ping watcher there sees every logged pong,
// bytes and times, while a re-run pong owns /test.
TEST_F(LogReaderTest, RemapToNewType) {
  const std::vector<std::string> parts = Record(milliseconds(300));
  LogReader reader(Sorted(parts));
  reader.RemapLoggedChannel<examples::Pong>("/test", nullptr, "/original",
                                            "aos.examples.Ping");
  EXPECT_EQ(reader.RemappedChannels().back(),
            "/test aos.examples.Pong -> /original/test aos.examples.Ping");
  const Channel *remapped =
      configuration::GetChannel(reader.configuration(), "/original/test",
                                "aos.examples.Ping", "", nullptr);
  ASSERT_NE(remapped, nullptr);
  EXPECT_EQ(configuration::GetChannel(reader.configuration(), "/original/test",
                                      "aos.examples.Pong", "", nullptr),
            nullptr);
  ASSERT_NE(remapped->schema(), nullptr);
  EXPECT_EQ(remapped->schema()->root_table()->name()->string_view(),
            "aos.examples.Ping");
  // Remapping again onto the same channel is refused.
  EXPECT_DEATH(reader.RemapLoggedChannel<examples::Pong>(
                   "/test", nullptr, "/original", "aos.examples.Ping"),
               "to /original/test aos.examples.Ping: that channel exists "
               "already");

  reader.Register();
  SimulatedEventLoopFactory *factory = reader.event_loop_factory();
  NodeEventLoopFactory *node = factory->GetNodeEventLoopFactory(nullptr);
  node->AlwaysStart<Pong>("pong");
  std::unique_ptr<EventLoop> observer = node->MakeEventLoop("observer");
  std::vector<Seen> as_pings;
  observer->MakeWatcher("/original/test", [&](const examples::Ping &ping) {
    const Context &context = observer->context();
    EXPECT_GE(ping.value(), 0);
    as_pings.push_back(
        {"/test Pong", context.monotonic_event_time,
         context.realtime_event_time,
         std::string(static_cast<const char *>(context.data), context.size)});
  });
  int new_pongs = 0;
  observer->MakeWatcher("/test", [&](const examples::Pong &) { ++new_pongs; });
  CheckExpected(factory->Run());
  std::vector<Seen> logged_pongs;
  for (const Seen &seen : recorded_) {
    if (seen.channel == "/test Pong" &&
        seen.monotonic_sent_time >= reader.monotonic_start_time()) {
      logged_pongs.push_back(seen);
    }
  }
  ASSERT_GT(logged_pongs.size(), 20u);
  EXPECT_EQ(as_pings, logged_pongs);
  EXPECT_EQ(new_pongs, static_cast<int>(logged_pongs.size()));
}

// An application that sends on a replayed channel dies naming the channel,
// and saying how to remap it so the application can send on it.
TEST_F(LogReaderTest, SendingOnReplayedChannelDies) {
  const std::vector<std::string> parts = Record(milliseconds(100));
  EXPECT_DEATH(
      {
        LogReader reader(Sorted(parts));
        reader.Register();
        reader.event_loop_factory()
            ->GetNodeEventLoopFactory(nullptr)
            ->AlwaysStart<Pong>("pong");
      },
      "Attempted to create a new sender on exclusive channel "
      "\\{ \"name\": \"/test\", \"type\": \"aos.examples.Pong\" \\} from "
      "pong \\(loop log_reader, .*remap the logged channel with "
      "LogReader::RemapLoggedChannel\\(\"/test\", \"aos.examples.Pong\"\\) "
      "before Register: the log's messages then replay on /original/test and "
      "pong can send on /test");
}

// SetStartTime/SetEndTime cut a window out of the log (realtime clock);
// messages before the window become the state at its start.
TEST_F(LogReaderTest, StartAndEndTime) {
  const std::vector<std::string> parts = Record(std::chrono::seconds(1));
  LogReader reader(Sorted(parts));
  const realtime_clock::time_point realtime_start =
      reader.realtime_start_time();
  EXPECT_EQ(reader.monotonic_start_time(), log_start_ - milliseconds(5));
  reader.SetStartTime(realtime_start + milliseconds(200));
  reader.SetEndTime(realtime_start + milliseconds(400));
  reader.Register();
  SimulatedEventLoopFactory *factory = reader.event_loop_factory();
  NodeEventLoopFactory *node = factory->GetNodeEventLoopFactory(nullptr);
  std::vector<Seen> replayed;
  auto observer = MakeObserver(node, &replayed);
  CheckExpected(factory->Run());
  std::vector<Seen> window;
  for (const Seen &seen : recorded_) {
    if (seen.realtime_sent_time >= realtime_start + milliseconds(200) &&
        seen.realtime_sent_time <= realtime_start + milliseconds(400)) {
      window.push_back(seen);
    }
  }
  ASSERT_GT(window.size(), 30u);
  EXPECT_EQ(replayed, window);
}

// Rotated parts and uncompressed parts replay the same.
TEST_F(LogReaderTest, RotatedUncompressedParts) {
  const std::vector<std::string> parts =
      Record(milliseconds(500),
             {.compression = Compression::kNone, .rotate_every_messages = 17});
  ASSERT_GT(parts.size(), 3u);
  LogReader reader(dir_.path());
  reader.Register();
  std::vector<Seen> replayed;
  auto observer = MakeObserver(
      reader.event_loop_factory()->GetNodeEventLoopFactory(nullptr), &replayed);
  CheckExpected(reader.event_loop_factory()->Run());
  EXPECT_EQ(replayed, recorded_);
}

// A truncated log replays up to the cut, with a warning naming the file.
TEST_F(LogReaderTest, TruncatedLogReplaysUpToTheCut) {
  const std::vector<std::string> parts =
      Record(std::chrono::seconds(2), {.compression = Compression::kNone});
  ASSERT_EQ(parts.size(), 1u);
  const uintmax_t size = std::filesystem::file_size(parts[0]);
  std::filesystem::resize_file(parts[0], size * 2 / 3 + 3);
  LogReader reader(Sorted(parts));
  reader.Register();
  std::vector<Seen> replayed;
  auto observer = MakeObserver(
      reader.event_loop_factory()->GetNodeEventLoopFactory(nullptr), &replayed);
  CheckExpected(reader.event_loop_factory()->Run());
  ASSERT_EQ(reader.warnings().size(), 1u);
  EXPECT_NE(reader.warnings()[0].find(parts[0]), std::string::npos)
      << reader.warnings()[0];
  ASSERT_GT(replayed.size(), recorded_.size() / 3);
  ASSERT_LT(replayed.size(), recorded_.size());
  // What was replayed is exactly the beginning of the log, in order, except
  // that the cut may fall inside one polling period's out-of-order batch.
  const monotonic_clock::time_point cut =
      replayed.back().monotonic_sent_time - milliseconds(200);
  size_t i = 0;
  for (; i < replayed.size() && replayed[i].monotonic_sent_time < cut; ++i) {
    EXPECT_EQ(replayed[i], recorded_[i]);
  }
  EXPECT_GT(i, recorded_.size() / 3);
}

TEST_F(LogReaderTest, MixedLogsAreAnError) {
  std::vector<std::string> parts = Record(milliseconds(100));
  TestRecorderOptions other;
  const std::string first = parts[0];
  const std::string moved = dir_.path() + "/first.part0.bfbs.zst";
  std::filesystem::rename(first, moved);
  Record(milliseconds(100), other);
  Result<std::vector<LogFile>> logs =
      SortParts({moved, dir_.path() + "/log.part0.bfbs.zst"});
  CheckExpected(logs);
  Result<std::unique_ptr<LogReader>> reader = LogReader::Make(*logs);
  ASSERT_FALSE(reader.has_value());
  EXPECT_NE(reader.error().message().find("2 different logs"),
            std::string::npos)
      << reader.error();
  EXPECT_NE(reader.error().message().find(moved), std::string::npos)
      << reader.error();
}

TEST_F(LogReaderTest, ReplayConfigurationMissingAChannel) {
  const std::vector<std::string> parts = Record(milliseconds(100));
  FlatbufferDetachedBuffer<Configuration> small =
      JsonToFlatbuffer<Configuration>(R"({"channels": [
        {"name": "/test", "type": "aos.examples.Ping"}]})");
  Result<std::unique_ptr<LogReader>> reader =
      LogReader::Make(Sorted(parts), &small.message());
  ASSERT_FALSE(reader.has_value());
  EXPECT_NE(reader.error().message().find("has no channel"), std::string::npos)
      << reader.error();
}

TEST_F(LogReaderTest, RemapUnknownChannelDies) {
  const std::vector<std::string> parts = Record(milliseconds(100));
  LogReader reader(Sorted(parts));
  EXPECT_FALSE(reader.HasChannel<examples::Pong>("/nope"));
  EXPECT_DEATH(reader.RemapLoggedChannel<examples::Pong>("/nope"),
               "cannot remap /nope aos.examples.Pong: the log's "
               "configuration has no such channel");
}

}  // namespace
}  // namespace aos::logger::testing
