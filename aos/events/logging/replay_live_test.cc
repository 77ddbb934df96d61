// Live replay (LogReader::Register(EventLoop *)) into shared memory: a log
// recorded in simulation replays through a ShmEventLoop on a private
// --shm_base while a separate process (replay_live_watcher) fetches and
// watches the replayed channels. Checked: the state before the log start
// reaches that process's fetchers, every later message reaches its watchers
// with the logged bytes in the logged order, and no message is sent before
// its logged time divided by the replay rate (a bound no load can break;
// nothing asserts how late a message may be). Also: the replay's senders
// are exclusive, with an error that says to remap.

#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <thread>

#include "aos/configuration.h"
#include "aos/events/logging/log_namer.h"
#include "aos/events/logging/log_reader.h"
#include "aos/events/logging/log_replayer_stats_generated.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/events/logging/logger.h"
#include "aos/events/logging/replay_test_util.h"
#include "aos/events/logging/replay_timing_generated.h"
#include "aos/events/shm_channel_queue.h"
#include "aos/events/shm_event_loop.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/events/test_message_generated.h"
#include "aos/examples/ping_generated.h"
#include "aos/examples/ping_lib.h"
#include "aos/examples/pong_generated.h"
#include "aos/examples/pong_lib.h"
#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/json_to_flatbuffer.h"
#include "aos/testing/process.h"
#include "aos/testing/tmpdir.h"
#include "aos/util/file.h"
#include "gflags/gflags.h"
#include "gtest/gtest.h"

DECLARE_bool(drop_realtime_messages_before_start);

namespace aos::logger::testing {
namespace {

using std::chrono::milliseconds;

// A logged message on /test.
struct Expected {
  std::string channel;  // "name type"
  monotonic_clock::time_point logged;
  std::string hex;
};

std::string Hex(const std::vector<uint8_t> &data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t byte : data) {
    out += kDigits[byte >> 4];
    out += kDigits[byte & 15];
  }
  return out;
}

// Writes `config` as a binary configuration file (what ReadConfig reads).
void WriteConfig(const Configuration *config, const std::string &path) {
  std::unique_ptr<ConfigurationT> unpacked(config->UnPack());
  flatbuffers::FlatBufferBuilder fbb;
  fbb.ForceDefaults(true);
  fbb.Finish(Configuration::Pack(fbb, unpacked.get()));
  util::WriteStringToFileOrDie(
      path,
      std::string_view(reinterpret_cast<const char *>(fbb.GetBufferPointer()),
                       fbb.GetSize()));
}

class ReplayLiveTest : public ::testing::Test {
 protected:
  ReplayLiveTest() : config_(configuration::ReadConfig(AOS_PINGPONG_CONFIG)) {
    std::filesystem::create_directories(dir_.path() + "/shm");
    ipc_lib::SetShmBase(dir_.path() + "/shm/");
  }

  // Records ping/pong in simulation: 55 ms before the recorder starts (its
  // state: the latest Ping and Pong), then `duration` more.
  std::vector<LogFile> Record(std::chrono::nanoseconds duration) {
    SimulatedEventLoopFactory factory(&config_.message());
    NodeEventLoopFactory *node = factory.GetNodeEventLoopFactory(nullptr);
    node->AlwaysStart<Ping>("ping", PingOptions{});
    node->AlwaysStart<Pong>("pong");
    CheckExpected(factory.RunFor(milliseconds(55)));
    std::unique_ptr<EventLoop> logger_loop = node->MakeEventLoop("logger");
    TestRecorder recorder(logger_loop.get(), dir_.path() + "/log");
    CheckExpected(factory.RunFor(duration));
    recorder.Stop();
    Result<std::vector<LogFile>> logs = SortParts(recorder.parts());
    CheckExpected(logs);
    return std::move(*logs);
  }

  // The /test messages of `log`: those before `start` (the last of each
  // channel: what a fetcher sees) and those after.
  void ReadExpected(const LogFile &log, monotonic_clock::time_point start) {
    Result<std::unique_ptr<LogMessageStream>> stream =
        LogMessageStream::Open(log, "");
    CheckExpected(stream);
    const Configuration *config = &log.config->message();
    while (std::optional<LogMessage> message = (*stream)->Next()) {
      const Channel *channel = config->channels()->Get(message->channel_index);
      if (channel->name()->string_view() != "/test") continue;
      const std::string name =
          channel->name()->str() + " " + channel->type()->str();
      if (message->monotonic_sent_time < start) {
        state_[name] = Hex(message->data);
      } else {
        after_start_.push_back(
            {name, message->monotonic_sent_time, Hex(message->data)});
      }
      (*stream)->Recycle(std::move(*message));
    }
  }

  FlatbufferDetachedBuffer<Configuration> config_;
  aos::testing::TempDir dir_;
  std::map<std::string, std::string> state_;
  std::vector<Expected> after_start_;
};

TEST_F(ReplayLiveTest, AnotherProcessSeesTheLogPacedByTheRate) {
  constexpr double kRate = 2.0;
  std::vector<LogFile> logs = Record(milliseconds(505));
  LogReader reader(logs);
  reader.SetRealtimeReplayRate(kRate);
  ReadExpected(logs.front(), reader.monotonic_start_time());
  ASSERT_EQ(state_.size(), 2u);
  ASSERT_GT(after_start_.size(), 90u);

  const std::string config_path = dir_.path() + "/replay_config.bfbs";
  WriteConfig(reader.configuration(), config_path);
  const std::string output = dir_.path() + "/watched.txt";
  const std::string ready = dir_.path() + "/ready";

  ShmEventLoop loop(reader.configuration());
  loop.SkipTimingReport();
  loop.SkipAosLog();
  reader.Register(&loop);
  std::unique_ptr<aos::testing::ChildProcess> watcher;
  monotonic_clock::time_point ready_time;
  bool ended = false;
  reader.OnStart([&]() {
    // The state is out; the watcher's fetchers must find it. Replay waits
    // for the watcher (its pace starts after OnStart).
    watcher = std::make_unique<aos::testing::ChildProcess>(
        std::vector<std::string>{
            AOS_REPLAY_LIVE_WATCHER, "--config=" + config_path,
            "--shm_base=" + dir_.path() + "/shm/",
            "--channels=/test:aos.examples.Ping,/test:aos.examples.Pong",
            "--ready_file=" + ready, "--output=" + output,
            "--count=" + std::to_string(after_start_.size())},
        dir_.path());
    while (!std::filesystem::exists(ready)) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    ready_time = monotonic_clock::now();
  });
  reader.OnEnd([&]() { ended = true; });
  CheckExpected(loop.Run());
  EXPECT_TRUE(ended);
  ASSERT_NE(watcher, nullptr);
  EXPECT_EQ(watcher->Wait().code, 0);
  reader.Deregister();

  std::ifstream in(output);
  std::string kind, name, type;
  std::map<std::string, std::string> fetched;
  std::vector<std::pair<std::string, std::string>> watched;
  std::vector<monotonic_clock::time_point> watched_times;
  while (in >> kind >> name >> type) {
    if (kind == "fetch") {
      in >> fetched[name + " " + type];
    } else {
      ASSERT_EQ(kind, "watch");
      int64_t ns;
      std::string hex;
      in >> ns >> hex;
      watched.emplace_back(name + " " + type, hex);
      watched_times.push_back(
          monotonic_clock::time_point(std::chrono::nanoseconds(ns)));
    }
  }
  // Fetchers found the state before the start.
  EXPECT_EQ(fetched, state_);
  // Watchers saw every later message with its bytes, in the logged order
  // (per channel; across channels no message was sent before an earlier
  // one).
  ASSERT_EQ(watched.size(), after_start_.size());
  std::map<std::string, std::vector<std::string>> watched_by_channel,
      expected_by_channel;
  for (const auto &[channel, hex] : watched) {
    watched_by_channel[channel].push_back(hex);
  }
  for (const Expected &expected : after_start_) {
    expected_by_channel[expected.channel].push_back(expected.hex);
  }
  EXPECT_EQ(watched_by_channel, expected_by_channel);
  // Pacing: each message was sent no earlier than its logged offset from
  // the start divided by the rate, counted from when the watcher was ready
  // (the pace starts later still). An as-fast-as-possible replay would
  // break this.
  std::map<std::string, size_t> next_index;
  std::map<std::string, std::vector<const Expected *>> expected_messages;
  for (const Expected &expected : after_start_) {
    expected_messages[expected.channel].push_back(&expected);
  }
  std::chrono::nanoseconds worst_lateness{0};
  for (size_t i = 0; i < watched.size(); ++i) {
    const Expected *expected =
        expected_messages[watched[i].first][next_index[watched[i].first]++];
    const auto earliest =
        ready_time +
        std::chrono::nanoseconds(static_cast<int64_t>(
            (expected->logged - reader.monotonic_start_time()).count() /
            kRate));
    EXPECT_GE(watched_times[i], earliest) << "message " << i;
    worst_lateness = std::max(worst_lateness, watched_times[i] - earliest);
    if (i > 0) {
      EXPECT_GE(watched_times[i], watched_times[i - 1]);
    }
  }
  LOG(INFO) << "worst lateness of a replayed message: "
            << std::chrono::duration<double>(worst_lateness).count() << " s";
}

// SetStartTime/SetEndTime bound a live replay as they do a simulated one
// (earlier messages become the state sent at the start, later ones are not
// sent), set_exit_on_finish(false) leaves the loop running (OnEnd exits it
// here), and an infinite rate sends without pacing.
TEST_F(ReplayLiveTest, StartEndAndExitOnFinish) {
  std::vector<LogFile> logs = Record(milliseconds(505));
  LogReader reader(logs);
  const realtime_clock::time_point start =
      reader.realtime_start_time() + milliseconds(100);
  const realtime_clock::time_point end =
      reader.realtime_start_time() + milliseconds(300);
  reader.SetStartTime(start);
  reader.SetEndTime(end);
  reader.SetRealtimeReplayRate(std::numeric_limits<double>::infinity());
  reader.set_exit_on_finish(false);
  // The pings the window replays: the last before it, then those in it.
  std::vector<std::string> expected;
  {
    const monotonic_clock::time_point first =
        reader.monotonic_start_time() + milliseconds(100);
    const monotonic_clock::time_point last =
        reader.monotonic_start_time() + milliseconds(300);
    ReadExpected(logs.front(), first);
    expected.push_back(state_.at("/test aos.examples.Ping"));
    for (const Expected &message : after_start_) {
      if (message.channel == "/test aos.examples.Ping" &&
          message.logged <= last) {
        expected.push_back(message.hex);
      }
    }
  }
  ASSERT_GT(expected.size(), 15u);

  ShmEventLoop checker(reader.configuration());
  std::unique_ptr<RawFetcher> pings =
      checker.MakeRawFetcher(configuration::GetChannel(
          reader.configuration(), "/test", "aos.examples.Ping", "", nullptr));
  ShmEventLoop loop(reader.configuration());
  loop.SkipTimingReport();
  loop.SkipAosLog();
  reader.Register(&loop);
  bool ended = false;
  reader.OnEnd([&]() {
    ended = true;
    loop.Exit();
  });
  CheckExpected(loop.Run());
  EXPECT_TRUE(ended);
  reader.Deregister();
  std::vector<std::string> sent;
  while (pings->FetchNext()) {
    const uint8_t *data = static_cast<const uint8_t *>(pings->context().data);
    sent.push_back(
        Hex(std::vector<uint8_t>(data, data + pings->context().size)));
  }
  EXPECT_EQ(sent, expected);
}

// Another sender on a replayed channel (here another loop of this process)
// makes Register die naming the channel and the fix.
TEST_F(ReplayLiveTest, AnotherSenderOnAReplayedChannelIsRefused) {
  LogReader reader(Record(milliseconds(105)));
  EXPECT_DEATH(
      {
        ShmEventLoop other(reader.configuration());
        auto sender = other.MakeSender<examples::Ping>("/test");
        ShmEventLoop loop(reader.configuration());
        reader.Register(&loop);
      },
      "Failed to create an exclusive sender on \\{ \"name\": \"/test\", "
      "\"type\": \"aos.examples.Ping\" \\}: process [0-9]+ .* already sends "
      "on it.*remap the logged channel in the replay config.*/original/test");
}

// Once registered, the replay's senders are exclusive: an application that
// would send on a replayed channel dies saying which process replays there
// and to remap the channel in the replay config.
TEST_F(ReplayLiveTest, ReplayedChannelsHaveExclusiveSenders) {
  LogReader reader(Record(milliseconds(105)));
  ShmEventLoop loop(reader.configuration());
  loop.SkipTimingReport();
  loop.SkipAosLog();
  reader.Register(&loop);
  EXPECT_DEATH(
      {
        ShmEventLoop other(reader.configuration());
        other.MakeSender<examples::Pong>("/test");
      },
      "Failed to create sender on \\{ \"name\": \"/test\", \"type\": "
      "\"aos.examples.Pong\" \\}: it has an exclusive sender, held by "
      "process " +
          std::to_string(getpid()) +
          " .*remap the logged channel in the replay config.*/original/test");
  // Channels it does not replay stay free.
  ShmEventLoop other(reader.configuration());
  auto sender = other.MakeRawSender(configuration::GetChannel(
      reader.configuration(), "/aos", "aos.timing.Report", "", nullptr));
  EXPECT_NE(sender, nullptr);
  reader.Deregister();
}

// Restores --drop_realtime_messages_before_start.
class DropFlagSaver {
 public:
  DropFlagSaver() : saved_(FLAGS_drop_realtime_messages_before_start) {}
  ~DropFlagSaver() { FLAGS_drop_realtime_messages_before_start = saved_; }

 private:
  bool saved_;
};

// --drop_realtime_messages_before_start (upstream's flag): nothing from
// before the start is sent, so a fetcher in another loop, made before the
// replay, finds the first ping after the start first. Without the flag it
// finds the logged state (the last ping before the start).
TEST_F(ReplayLiveTest, DropRealtimeMessagesBeforeStart) {
  DropFlagSaver saver;
  std::vector<LogFile> logs = Record(milliseconds(105));
  LogReader reader(logs);
  reader.SetRealtimeReplayRate(std::numeric_limits<double>::infinity());
  ReadExpected(logs.front(), reader.monotonic_start_time());
  const std::string ping = "/test aos.examples.Ping";
  ASSERT_TRUE(state_.contains(ping));
  auto first_ping = std::find_if(
      after_start_.begin(), after_start_.end(),
      [&](const Expected &expected) { return expected.channel == ping; });
  ASSERT_NE(first_ping, after_start_.end());

  ShmEventLoop loop(reader.configuration());
  loop.SkipTimingReport();
  loop.SkipAosLog();
  ShmEventLoop other(reader.configuration());
  Fetcher<examples::Ping> fetcher = other.MakeFetcher<examples::Ping>("/test");
  FLAGS_drop_realtime_messages_before_start = true;
  reader.Register(&loop);
  CheckExpected(loop.Run());
  reader.Deregister();
  ASSERT_TRUE(fetcher.FetchNext());
  const uint8_t *data = static_cast<const uint8_t *>(fetcher.context().data);
  EXPECT_EQ(Hex(std::vector<uint8_t>(data, data + fetcher.context().size)),
            first_ping->hex);
}

// set_timing_accuracy_sender (upstream's ReplayTiming report): every message
// replayed after the start is reported once, in batches that fit the
// report's channel, on the channel it was sent on, never sent before it was
// due, with send_time_error = expected - actual.
TEST_F(ReplayLiveTest, TimingAccuracyReport) {
  std::vector<LogFile> logs = Record(milliseconds(105));
  LogReader reader(logs);
  ReadExpected(logs.front(), reader.monotonic_start_time());
  size_t replayed = 0;
  {
    Result<std::unique_ptr<LogMessageStream>> stream =
        LogMessageStream::Open(logs.front(), "");
    CheckExpected(stream);
    while (std::optional<LogMessage> message = (*stream)->Next()) {
      if (message->has_data &&
          message->monotonic_sent_time >= reader.monotonic_start_time()) {
        ++replayed;
      }
    }
  }
  const FlatbufferVector<reflection::Schema> schema =
      FileToFlatbuffer<reflection::Schema>(AOS_REPLAY_TIMING_BFBS);
  const FlatbufferDetachedBuffer<Configuration> config =
      configuration::AddChannelToConfiguration(reader.configuration(),
                                               "/replay_timing", schema);
  ShmEventLoop loop(&config.message());
  loop.SkipTimingReport();
  loop.SkipAosLog();
  ShmEventLoop other(&config.message());
  Fetcher<timing::ReplayTiming> fetcher =
      other.MakeFetcher<timing::ReplayTiming>("/replay_timing");
  reader.set_timing_accuracy_sender(
      nullptr, loop.MakeSender<timing::ReplayTiming>("/replay_timing"));
  reader.Register(&loop);
  CheckExpected(loop.Run());
  reader.Deregister();

  size_t reported = 0, reports = 0;
  std::vector<std::string> test_channels;
  while (fetcher.FetchNext()) {
    ++reports;
    ASSERT_NE(fetcher->messages(), nullptr);
    for (const timing::MessageTiming *timing : *fetcher->messages()) {
      ++reported;
      EXPECT_LE(timing->expected_send_time(), timing->actual_send_time());
      EXPECT_DOUBLE_EQ(
          timing->send_time_error(),
          std::chrono::duration<double>(
              std::chrono::nanoseconds(timing->expected_send_time() -
                                       timing->actual_send_time()))
              .count());
      ASSERT_LT(timing->channel(), config.message().channels()->size());
      const Channel *channel =
          config.message().channels()->Get(timing->channel());
      if (channel->name()->string_view() == "/test") {
        test_channels.push_back("/test " + channel->type()->str());
      }
    }
  }
  EXPECT_EQ(reported, replayed);
  EXPECT_GT(reports, 1u);
  std::vector<std::string> expected_channels;
  for (const Expected &expected : after_start_) {
    expected_channels.push_back(expected.channel);
  }
  EXPECT_EQ(test_channels, expected_channels);
}

// What a (new) log holds: channel "name type" -> its messages with data.
std::map<std::string, std::vector<LogMessage>> ReadLog(
    const std::string &folder) {
  Result<std::vector<std::string>> files = FindLogs({folder});
  CheckExpected(files);
  Result<std::vector<LogFile>> logs = SortParts(*files);
  CheckExpected(logs);
  std::map<std::string, std::vector<LogMessage>> out;
  for (const LogFile &log : *logs) {
    Result<std::unique_ptr<LogMessageStream>> stream =
        LogMessageStream::Open(log, "");
    CheckExpected(stream);
    const Configuration *config = &log.config->message();
    while (std::optional<LogMessage> message = (*stream)->Next()) {
      const Channel *channel = config->channels()->Get(message->channel_index);
      if (message->has_data) {
        out[channel->name()->str() + " " + channel->type()->str()].push_back(
            std::move(*message));
      }
    }
  }
  return out;
}

// Runs a tool (`argv[0]`, a path) with its files in `dir` and returns its
// exit code, with what it wrote to stdout and stderr in `output`.
int RunCommand(std::vector<std::string> argv, const std::string &dir,
               std::string *output) {
  const aos::testing::ProcessExit exit =
      aos::testing::ChildProcess(std::move(argv), dir).Wait();
  *output = exit.out + exit.err;
  return exit.code;
}

// `base` followed by `more`.
std::vector<std::string> Args(std::vector<std::string> base,
                              const std::vector<std::string> &more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

// Waits until a live process holds a slot of `name` `type`'s queue in
// `slots` (QueueFileInfo::watchers: its loop watches and runs;
// QueueFileInfo::senders: it made a sender).
void WaitForSlot(
    const Configuration *config, const std::string &shm_base,
    std::string_view name, std::string_view type,
    std::vector<ipc_lib::QueueSlotInfo> ipc_lib::QueueFileInfo::*slots) {
  const Channel *channel =
      configuration::GetChannel(config, name, type, "", nullptr);
  CHECK(channel != nullptr);
  const std::string path = ShmChannelQueuePath(shm_base, channel);
  while (true) {
    if (std::filesystem::exists(path)) {
      Result<ipc_lib::QueueFileInfo> info = ipc_lib::InspectQueueFile(path);
      if (info) {
        for (const ipc_lib::QueueSlotInfo &slot : (*info).*slots) {
          if (slot.liveness == ipc_lib::QueueSlotInfo::Liveness::kAlive) {
            return;
          }
        }
      }
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
}

template <typename T>
std::vector<int64_t> Values(const std::vector<LogMessage> &messages) {
  std::vector<int64_t> values;
  for (const LogMessage &message : messages) {
    values.push_back(flatbuffers::GetRoot<T>(message.data.data())->value());
  }
  return values;
}

std::vector<std::vector<uint8_t>> Bytes(
    const std::vector<LogMessage> &messages) {
  std::vector<std::vector<uint8_t>> bytes;
  for (const LogMessage &message : messages) bytes.push_back(message.data);
  return bytes;
}

// log_replayer --mode=shm: pong runs as its own process (the real pong
// binary) with the configuration log_replayer wrote, answers the pings the
// log replays into shared memory, and the new log log_replayer records has
// pong's answers on /test and the logged pongs on /original/test. A replay
// config that leaves /test Pong to the log while pong sends on it is a clear
// error.
TEST_F(ReplayLiveTest, LogReplayerShmWithAnApplicationProcess) {
  const std::vector<LogFile> logs = Record(milliseconds(505));
  const std::string shm_base = dir_.path() + "/shm/";
  std::vector<std::string> replayer = {AOS_LOG_REPLAYER};
  for (const LogParts &p : logs.front().parts) {
    for (const std::string &part : p.parts) replayer.push_back(part);
  }
  replayer.push_back("--mode=shm");
  replayer.push_back("--shm_base=" + shm_base);
  const std::string remap = dir_.path() + "/remap.json";
  util::WriteStringToFileOrDie(
      remap,
      R"({"applications": [{"name": "pong"}], "remap_channels": )"
      R"([{"channel": {"name": "/test", "type": "aos.examples.Pong"}}]})");
  const std::string no_remap = dir_.path() + "/no_remap.json";
  util::WriteStringToFileOrDie(no_remap,
                               R"({"applications": [{"name": "pong"}]})");
  const std::string config_path = dir_.path() + "/replay_config.bfbs";
  std::string output;
  ASSERT_EQ(RunCommand(Args(replayer, {"--replay_config=" + remap,
                                       "--config_output=" + config_path,
                                       "--skip_replay"}),
                       dir_.path(), &output),
            0)
      << output;

  FlatbufferDetachedBuffer<Configuration> config =
      configuration::ReadConfig(config_path);
  ASSERT_NE(configuration::GetChannel(&config.message(), "/original/test",
                                      "aos.examples.Pong", "", nullptr),
            nullptr);
  aos::testing::ChildProcess pong(
      {AOS_PONG, "--config=" + config_path, "--shm_base=" + shm_base},
      dir_.path());
  WaitForSlot(&config.message(), shm_base, "/test", "aos.examples.Ping",
              &ipc_lib::QueueFileInfo::watchers);

  // Without the remap, the log's pongs and pong's would mix on /test.
  EXPECT_NE(RunCommand(Args(replayer, {"--replay_config=" + no_remap}),
                       dir_.path(), &output),
            0);
  EXPECT_NE(output.find("Failed to create an exclusive sender on { \"name\": "
                        "\"/test\", \"type\": \"aos.examples.Pong\" }: "
                        "process " +
                        std::to_string(pong.pid()) + " (\"pong\""),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("remap the logged channel in the replay config"),
            std::string::npos)
      << output;

  ASSERT_EQ(
      RunCommand(Args(replayer, {"--replay_config=" + remap,
                                 "--output_folder=" + dir_.path() + "/new",
                                 "--timing_accuracy_channel=/replay_timing"}),
                 dir_.path(), &output),
      0)
      << output;
  pong.Signal(SIGINT);
  EXPECT_EQ(pong.Wait().code, 0);

  const auto original = ReadLog(dir_.path() + "/log.part0.bfbs.zst");
  const auto replayed = ReadLog(dir_.path() + "/new");
  const std::vector<int64_t> pings =
      Values<examples::Ping>(original.at("/test aos.examples.Ping"));
  ASSERT_GT(pings.size(), 40u);
  // Every logged ping (the one before the start included) replayed, and the
  // logged pongs on /original/test.
  EXPECT_EQ(Values<examples::Ping>(replayed.at("/test aos.examples.Ping")),
            pings);
  EXPECT_EQ(Bytes(replayed.at("/original/test aos.examples.Pong")),
            Bytes(original.at("/test aos.examples.Pong")));
  // pong's answers, in order: every ping's value, the last one's too (the
  // replay runs --end_grace_period, 1 s by default, after the last message;
  // without it the loop exits right after sending the last ping).
  ASSERT_TRUE(replayed.contains("/test aos.examples.Pong"));
  const std::vector<int64_t> answers =
      Values<examples::Pong>(replayed.at("/test aos.examples.Pong"));
  EXPECT_EQ(answers, pings);
  LOG(INFO) << answers.size() << " of " << pings.size() << " pings answered";

  // The new log has the replay timing report: every message replayed after
  // the start once (each ping after the start among them), none sent early.
  ASSERT_TRUE(replayed.contains("/replay_timing aos.timing.ReplayTiming"));
  size_t reported = 0;
  for (const LogMessage &message :
       replayed.at("/replay_timing aos.timing.ReplayTiming")) {
    const auto *report =
        flatbuffers::GetRoot<timing::ReplayTiming>(message.data.data());
    ASSERT_NE(report->messages(), nullptr);
    for (const timing::MessageTiming *timing : *report->messages()) {
      EXPECT_LE(timing->expected_send_time(), timing->actual_send_time());
      ++reported;
    }
  }
  EXPECT_GE(reported, pings.size() - 1);

  // The stats hold the log's start and the last replayed message's time.
  monotonic_clock::time_point last = monotonic_clock::min_time;
  for (const auto &[channel, messages] : original) {
    for (const LogMessage &message : messages) {
      last = std::max(last, message.monotonic_sent_time);
    }
  }
  LogReader original_reader(logs);
  const FlatbufferDetachedBuffer<LogReplayerStats> stats =
      JsonFileToFlatbuffer<LogReplayerStats>(dir_.path() +
                                             "/new/log_replayer_stats.json");
  EXPECT_EQ(stats.message().monotonic_start_time(),
            original_reader.monotonic_start_time().time_since_epoch().count());
  EXPECT_EQ(stats.message().monotonic_end_time(),
            last.time_since_epoch().count());
  EXPECT_EQ(stats.message().realtime_end_time(),
            (original_reader.realtime_start_time() +
             (last - original_reader.monotonic_start_time()))
                .time_since_epoch()
                .count());
  ASSERT_NE(stats.message().end_time(), nullptr);
  EXPECT_FALSE(stats.message().end_time()->string_view().empty());
}

// log_replayer killed with SIGKILL mid-replay (no destructor runs): its
// exclusive senders' claims end with its process, so an application can
// then send on a channel it replayed. While it ran, the same sender died
// naming log_replayer's process and the remap.
TEST_F(ReplayLiveTest, KilledReplayReleasesItsExclusiveSenders) {
  const std::vector<LogFile> logs = Record(milliseconds(105));
  const std::string shm_base = dir_.path() + "/shm/";
  std::vector<std::string> replayer = {AOS_LOG_REPLAYER};
  for (const LogParts &p : logs.front().parts) {
    for (const std::string &part : p.parts) replayer.push_back(part);
  }
  // Slow enough that it is still replaying when killed (10 s of replay).
  replayer.push_back("--mode=shm");
  replayer.push_back("--shm_base=" + shm_base);
  replayer.push_back("--replay_rate=0.01");
  LogReader reader(logs);
  const Configuration *config = reader.configuration();
  aos::testing::ChildProcess replay(replayer, dir_.path());
  WaitForSlot(config, shm_base, "/test", "aos.examples.Ping",
              &ipc_lib::QueueFileInfo::senders);
  EXPECT_DEATH(
      {
        ShmEventLoop app(config);
        app.MakeSender<examples::Ping>("/test");
      },
      "Failed to create sender on \\{ \"name\": \"/test\", \"type\": "
      "\"aos.examples.Ping\" \\}: it has an exclusive sender, held by "
      "process " +
          std::to_string(replay.pid()) +
          " \\(\"log_replayer\".*remap the logged channel in the replay "
          "config");
  replay.Signal(SIGKILL);
  EXPECT_EQ(replay.Wait().code, 128 + SIGKILL);
  ShmEventLoop app(config);
  app.SkipTimingReport();
  app.SkipAosLog();
  Sender<examples::Ping> sender = app.MakeSender<examples::Ping>("/test");
  Sender<examples::Ping>::Builder builder = sender.MakeBuilder();
  examples::Ping::Builder ping = builder.MakeBuilder<examples::Ping>();
  ping.add_value(7);
  EXPECT_EQ(builder.Send(ping.Finish()), RawSender::Error::kOk);
}

// log_replayer on a multi-node log replays the node --node names into shared
// memory: its own messages and those forwarded to it, which the new log
// (recorded on that node) holds; a node the log lacks is a clear error.
TEST_F(ReplayLiveTest, LogReplayerShmOneNodeOfAMultiNodeLog) {
  FlatbufferDetachedBuffer<Configuration> config =
      configuration::ReadConfig(AOS_LOGGING_TESTDATA_DIR "/multinode.json");
  const Node *pi1 = configuration::GetNode(&config.message(), "pi1");
  const Node *pi2 = configuration::GetNode(&config.message(), "pi2");
  {
    SimulatedEventLoopFactory factory(&config.message());
    factory.SkipTimingReport();
    auto pi1_loop = factory.MakeEventLoop("sender", pi1);
    auto pi2_loop = factory.MakeEventLoop("sender", pi2);
    Sender<TestMessage> test = pi1_loop->MakeSender<TestMessage>("/test");
    Sender<TestMessage> reply = pi2_loop->MakeSender<TestMessage>("/reply");
    int value = 0;
    auto send = [](Sender<TestMessage> *sender, int v) {
      auto builder = sender->MakeBuilder();
      TestMessage::Builder message = builder.MakeBuilder<TestMessage>();
      message.add_value(v);
      builder.CheckOk(builder.Send(message.Finish()));
    };
    pi1_loop->AddTimer([&]() { send(&test, value); })
        ->Schedule(monotonic_clock::epoch() + milliseconds(10),
                   milliseconds(10));
    pi2_loop->AddTimer([&]() { send(&reply, 1000 + value++); })
        ->Schedule(monotonic_clock::epoch() + milliseconds(15),
                   milliseconds(10));
    CheckExpected(factory.RunFor(milliseconds(100)));
    auto pi1_logger_loop = factory.MakeEventLoop("logger", pi1);
    auto pi2_logger_loop = factory.MakeEventLoop("logger", pi2);
    Logger pi1_logger(pi1_logger_loop.get());
    Logger pi2_logger(pi2_logger_loop.get());
    const UUID log_start = UUID::Random();
    pi1_logger.StartLogging(std::make_unique<LogNamer>(dir_.path() + "/mn/pi1/",
                                                       &config.message(), pi1),
                            log_start);
    pi2_logger.StartLogging(std::make_unique<LogNamer>(dir_.path() + "/mn/pi2/",
                                                       &config.message(), pi2),
                            log_start);
    CheckExpected(factory.RunFor(milliseconds(500)));
    pi1_logger.StopLogging();
    pi2_logger.StopLogging();
  }
  const std::vector<std::string> replayer = {
      AOS_LOG_REPLAYER, dir_.path() + "/mn", "--mode=shm",
      "--shm_base=" + dir_.path() + "/shm/"};
  std::string output;
  EXPECT_EQ(RunCommand(Args(replayer, {"--node=pi3"}), dir_.path(), &output),
            1);
  EXPECT_NE(output.find("--node=pi3: the log has no data for that node; it "
                        "has: pi1, pi2"),
            std::string::npos)
      << output;
  EXPECT_EQ(RunCommand(replayer, dir_.path(), &output), 1);
  EXPECT_NE(output.find("choose the node to replay with --node=<name>"),
            std::string::npos)
      << output;
  const std::string bad_nodes = dir_.path() + "/bad_nodes.json";
  util::WriteStringToFileOrDie(bad_nodes,
                               R"({"active_nodes": [{"name": "pi9"}]})");
  EXPECT_EQ(RunCommand(Args(replayer, {"--replay_config=" + bad_nodes}),
                       dir_.path(), &output),
            1);
  EXPECT_NE(output.find("bad_nodes.json: active_nodes names 'pi9', which the "
                        "log has no data for; it has: pi1, pi2"),
            std::string::npos)
      << output;

  ASSERT_EQ(
      RunCommand(Args(replayer, {"--node=pi2", "--replay_rate=inf",
                                 "--output_folder=" + dir_.path() + "/new"}),
                 dir_.path(), &output),
      0)
      << output;
  // pi2's log: the /test messages forwarded to it and its own /reply.
  const auto original = ReadLog(dir_.path() + "/mn/pi2");
  const auto replayed = ReadLog(dir_.path() + "/new");
  for (const char *channel :
       {"/test aos.TestMessage", "/reply aos.TestMessage"}) {
    ASSERT_TRUE(original.contains(channel)) << channel;
    ASSERT_TRUE(replayed.contains(channel)) << channel;
    EXPECT_GT(original.at(channel).size(), 40u) << channel;
    EXPECT_EQ(Values<TestMessage>(replayed.at(channel)),
              Values<TestMessage>(original.at(channel)))
        << channel;
  }
  // Forwarded messages keep their logged remote (pi1) times.
  const std::vector<LogMessage> &forwarded =
      replayed.at("/test aos.TestMessage");
  ASSERT_EQ(forwarded.size(), original.at("/test aos.TestMessage").size());
  for (size_t i = 0; i < forwarded.size(); ++i) {
    const LogMessage &logged = original.at("/test aos.TestMessage")[i];
    EXPECT_NE(logged.monotonic_remote_time, monotonic_clock::min_time);
    EXPECT_EQ(forwarded[i].monotonic_remote_time, logged.monotonic_remote_time)
        << i;
    EXPECT_EQ(forwarded[i].remote_queue_index, logged.remote_queue_index) << i;
  }
  // pi1's own channel is not replayed on pi2.
  EXPECT_FALSE(replayed.contains("/local aos.TestMessage"));

  // Simulation mode: every node replays; the logger (and applications) run
  // on --node, so the new log has the same messages.
  const std::string empty = dir_.path() + "/empty.json";
  util::WriteStringToFileOrDie(empty, "{}");
  ASSERT_EQ(RunCommand({AOS_LOG_REPLAYER, dir_.path() + "/mn", "--node=pi2",
                        "--replay_config=" + empty,
                        "--output_folder=" + dir_.path() + "/sim"},
                       dir_.path(), &output),
            0)
      << output;
  const auto simulated = ReadLog(dir_.path() + "/sim");
  for (const char *channel :
       {"/test aos.TestMessage", "/reply aos.TestMessage"}) {
    ASSERT_TRUE(simulated.contains(channel)) << channel;
    EXPECT_EQ(Values<TestMessage>(simulated.at(channel)),
              Values<TestMessage>(original.at(channel)))
        << channel;
  }
}

}  // namespace
}  // namespace aos::logger::testing
