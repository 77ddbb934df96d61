// Live replay (LogReader::Register(EventLoop *)) into shared memory: a log
// recorded in simulation replays through a ShmEventLoop on a private
// --shm_base while a separate process (replay_live_watcher) fetches and
// watches the replayed channels. Checked: the state before the log start
// reaches that process's fetchers, every later message reaches its watchers
// with the logged bytes in the logged order, and no message is sent before
// its logged time divided by the replay rate (a bound no load can break;
// nothing asserts how late a message may be). Also: the replay holds every
// sender slot of what it replays.

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "aos/configuration.h"
#include "aos/events/logging/log_reader.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/events/logging/replay_test_util.h"
#include "aos/events/shm_event_loop.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/examples/ping_generated.h"
#include "aos/examples/ping_lib.h"
#include "aos/examples/pong_generated.h"
#include "aos/examples/pong_lib.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/testing/tmpdir.h"
#include "aos/util/file.h"
#include "gtest/gtest.h"

extern char **environ;

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

// A child process started with a clean signal mask (the caller may run a
// ShmEventLoop, which blocks signals), killed if still running when
// destroyed.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    std::vector<char *> args;
    for (std::string &arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    CHECK_EQ(posix_spawn(&pid_, args[0], nullptr, &attr, args.data(), environ),
             0)
        << ": cannot start " << argv[0];
    posix_spawnattr_destroy(&attr);
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Waits for the exit status (-1: killed by a signal).
  int Wait() {
    int status = 0;
    PCHECK(waitpid(pid_, &status, 0) == pid_);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
};

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
  std::unique_ptr<Child> watcher;
  monotonic_clock::time_point ready_time;
  bool ended = false;
  reader.OnStart([&]() {
    // The state is out; the watcher's fetchers must find it. Replay waits
    // for the watcher (its pace starts after OnStart).
    watcher = std::make_unique<Child>(std::vector<std::string>{
        AOS_REPLAY_LIVE_WATCHER, "--config=" + config_path,
        "--shm_base=" + dir_.path() + "/shm/",
        "--channels=/test:aos.examples.Ping,/test:aos.examples.Pong",
        "--ready_file=" + ready, "--output=" + output,
        "--count=" + std::to_string(after_start_.size())});
    while (!std::filesystem::exists(ready)) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    ready_time = monotonic_clock::now();
  });
  reader.OnEnd([&]() { ended = true; });
  CheckExpected(loop.Run());
  EXPECT_TRUE(ended);
  ASSERT_NE(watcher, nullptr);
  EXPECT_EQ(watcher->Wait(), 0);
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
      "another sender \\(another process, or another loop\\) already sends on "
      "\\{ \"name\": \"/test\", \"type\": "
      "\"aos.examples.Ping\" \\}, which the log replays.*remap the logged "
      "channel");
}

// Once registered, the replay holds every sender slot of what it replays:
// an application that would send on a replayed channel cannot.
TEST_F(ReplayLiveTest, ReplayHoldsEverySenderSlot) {
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
      "too many senders");
  // Channels it does not replay stay free.
  ShmEventLoop other(reader.configuration());
  auto sender = other.MakeRawSender(configuration::GetChannel(
      reader.configuration(), "/aos", "aos.timing.Report", "", nullptr));
  EXPECT_NE(sender, nullptr);
  reader.Deregister();
}

}  // namespace
}  // namespace aos::logger::testing
