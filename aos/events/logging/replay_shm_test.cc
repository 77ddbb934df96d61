// Record over shared memory with real processes (ping, pong, aos_logger on a
// private --shm_base), then replay the log in simulation: every logged
// message comes back at its logged time with its bytes, and pong re-run in
// replay answers every replayed ping as the real pong did.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <thread>

#include "aos/configuration.h"
#include "aos/events/logging/log_reader.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/events/logging/part_reader.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/examples/ping_generated.h"
#include "aos/examples/pong_generated.h"
#include "aos/examples/pong_lib.h"
#include "aos/testing/tmpdir.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

// A child process, killed if still running when destroyed.
class Process {
 public:
  explicit Process(std::vector<std::string> argv) {
    pid_ = fork();
    PCHECK(pid_ >= 0);
    if (pid_ == 0) {
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      std::vector<char *> args;
      for (std::string &arg : argv) args.push_back(arg.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Sends `signal` and waits (at most 20 s) for the exit code.
  int Stop(int signal) {
    PCHECK(kill(pid_, signal) == 0);
    int status = 0;
    for (int i = 0; i < 4000; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

struct Logged {
  std::string channel;
  monotonic_clock::time_point time;
  std::string data;
  bool operator==(const Logged &) const = default;
};

TEST(ReplayShmTest, RecordRealProcessesReplayInSimulation) {
  aos::testing::TempDir dir;
  const std::string shm = "--shm_base=" + dir.path() + "/shm";
  std::filesystem::create_directories(dir.path() + "/shm");
  const std::string config = std::string("--config=") + AOS_PINGPONG_CONFIG;
  {
    Process ping({AOS_PING, shm, config});
    Process pong({AOS_PONG, shm, config});
    Process logger({AOS_LOGGER, shm, config,
                    "--logging_folder=" + dir.path() + "/logs",
                    "--polling_period_ms=10", "--flush_period_ms=50"});
    // Until the logger has flushed some pings (bounded: 20 s).
    const std::string part = dir.path() + "/logs/0/data.part0.bfbs.zst";
    for (int i = 0; i < 4000; ++i) {
      std::error_code ignored;
      if (std::filesystem::file_size(part, ignored) > 3000 && !ignored) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(logger.Stop(SIGINT), 0);
  }

  Result<std::vector<std::string>> files = FindLogs({dir.path() + "/logs/0"});
  CheckExpected(files);
  Result<std::vector<LogFile>> logs = SortParts(*files);
  CheckExpected(logs);

  // What the log holds on /test, read with the part reader alone.
  std::vector<Logged> logged;
  const Configuration *logged_config = &(*logs)[0].config->message();
  monotonic_clock::time_point start = monotonic_clock::min_time;
  for (const LogParts &parts : (*logs)[0].parts) {
    start = parts.monotonic_start_time;
    for (const std::string &path : parts.parts) {
      auto reader = PartReader::Open(path);
      CheckExpected(reader);
      while (const MessageHeader *m = (*reader)->ReadMessage()) {
        const Channel *channel =
            logged_config->channels()->Get(m->channel_index());
        const monotonic_clock::time_point time{
            std::chrono::nanoseconds(m->monotonic_sent_time())};
        if (channel->name()->string_view() != "/test" || time < start) {
          continue;
        }
        logged.push_back(
            {channel->type()->str(), time,
             std::string(reinterpret_cast<const char *>(m->data()->data()),
                         m->data()->size())});
      }
    }
  }
  std::stable_sort(
      logged.begin(), logged.end(),
      [](const Logged &a, const Logged &b) { return a.time < b.time; });
  ASSERT_GT(logged.size(), 10u);

  LogReader reader(std::move(*logs));
  reader.RemapLoggedChannel<examples::Pong>("/test");
  reader.Register();
  SimulatedEventLoopFactory *factory = reader.event_loop_factory();
  NodeEventLoopFactory *node = factory->GetNodeEventLoopFactory(nullptr);
  node->AlwaysStart<Pong>("pong");
  std::unique_ptr<EventLoop> observer = node->MakeEventLoop("observer");
  std::vector<Logged> replayed;
  std::vector<std::pair<int, int64_t>> new_pongs, logged_pongs;
  observer->MakeWatcher("/test", [&](const examples::Ping &) {
    replayed.push_back(
        {"aos.examples.Ping", observer->context().monotonic_event_time,
         std::string(static_cast<const char *>(observer->context().data),
                     observer->context().size)});
  });
  observer->MakeWatcher("/original/test", [&](const examples::Pong &pong) {
    replayed.push_back(
        {"aos.examples.Pong", observer->context().monotonic_event_time,
         std::string(static_cast<const char *>(observer->context().data),
                     observer->context().size)});
    logged_pongs.emplace_back(pong.value(), pong.initial_send_time());
  });
  observer->MakeWatcher("/test", [&](const examples::Pong &pong) {
    new_pongs.emplace_back(pong.value(), pong.initial_send_time());
  });
  CheckExpected(factory->Run());
  EXPECT_TRUE(reader.warnings().empty());
  std::stable_sort(
      replayed.begin(), replayed.end(),
      [](const Logged &a, const Logged &b) { return a.time < b.time; });
  EXPECT_EQ(replayed, logged);
  // Pong re-run answers the replayed pings as the real pong did. The first
  // logged pong may answer a ping from before the log's start (which replay
  // gives fetchers only), so it may have no counterpart.
  ASSERT_GT(logged_pongs.size(), 5u);
  const std::map<int, int64_t> answers(new_pongs.begin(), new_pongs.end());
  size_t matched = 0;
  for (const auto &[value, initial_send_time] : logged_pongs) {
    auto it = answers.find(value);
    if (it == answers.end()) continue;
    EXPECT_EQ(it->second, initial_send_time) << value;
    ++matched;
  }
  EXPECT_GE(matched + 1, logged_pongs.size());
}

}  // namespace
}  // namespace aos::logger::testing
