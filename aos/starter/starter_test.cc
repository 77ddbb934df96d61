// End-to-end tests of starterd and aos_starter: the real programs as
// separate processes supervising a small test program (starter_test_app),
// each test with its own --shm_base, --logs_folder and configuration.

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/shm_event_loop.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/starter/starter_generated.h"
#include "aos/testing/process.h"
#include "aos/testing/tmpdir.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::starter {
namespace {

using ::testing::HasSubstr;

// A safety net against hangs only; no test depends on how fast things are.
constexpr std::chrono::seconds kHangLimit(30);

std::string ReadFile(const std::string &path) {
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// Whether `pid` is gone (or a zombie nobody reaped yet: it runs no code).
bool Dead(pid_t pid) {
  if (kill(pid, 0) != 0) return true;
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');
  return close == std::string::npos || stat.substr(close + 2, 1) == "Z";
}

bool WaitUntilDead(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + kHangLimit;
  while (!Dead(pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

using Exit = ::aos::testing::ProcessExit;

// A child process; Wait() gives up after kHangLimit.
class Process : public ::aos::testing::ChildProcess {
 public:
  Process(std::vector<std::string> argv, const std::string &dir)
      : ChildProcess(std::move(argv), dir, "", kHangLimit) {}
};

class StarterTest : public ::testing::Test {
 protected:
  StarterTest()
      : shm_base_(work_.path() + "/shm"),
        logs_(work_.path() + "/logs"),
        config_path_(work_.path() + "/config.json") {
    std::filesystem::create_directories(shm_base_);
  }

  ~StarterTest() override {
    fetcher_ = Fetcher<Status>();
    event_loop_.reset();
  }

  // An application entry running the test app with `args` (plus what every
  // run needs).
  std::string App(const std::string &name, const std::string &mode,
                  const std::string &extra_fields = "",
                  const std::vector<std::string> &args = {}) {
    std::string json = "{\"name\": \"" + name +
                       "\", \"executable_name\": \"" STARTER_TEST_APP
                       "\", \"args\": [\"--mode=" +
                       mode + "\", \"--config=" + config_path_ +
                       "\", \"--shm_base=" + shm_base_ +
                       "\", \"--timing_report_ms=100\"";
    for (const std::string &arg : args) json += ", \"" + arg + "\"";
    json += "]";
    if (!extra_fields.empty()) json += ", " + extra_fields;
    return json + "}";
  }

  void WriteConfig(const std::vector<std::string> &apps) {
    std::string json =
        "{\"imports\": [\"" STARTER_AOS_CONFIG "\"], \"applications\": [";
    for (size_t i = 0; i < apps.size(); ++i) {
      json += (i > 0 ? ", " : "") + apps[i];
    }
    std::ofstream(config_path_) << json << "]}";
  }

  std::unique_ptr<Process> StartStarterd(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {STARTERD,
                                     "--config=" + config_path_,
                                     "--shm_base=" + shm_base_,
                                     "--logs_folder=" + logs_,
                                     "--restart_delay_min_ms=50",
                                     "--restart_delay_max_ms=400"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(argv, work_.path());
  }

  Exit AosStarter(std::vector<std::string> args) {
    std::vector<std::string> argv = {AOS_STARTER, "--config=" + config_path_,
                                     "--shm_base=" + shm_base_,
                                     "--logs_folder=" + logs_};
    argv.insert(argv.end(), args.begin(), args.end());
    return Process(argv, work_.path()).Wait();
  }

  // The test's own view of /aos aos.starter.Status.
  Fetcher<Status> *StatusFetcher() {
    if (event_loop_ == nullptr) {
      config_.emplace(configuration::ReadConfig(config_path_));
      FLAGS_shm_base = shm_base_;
      event_loop_ = std::make_unique<ShmEventLoop>(&config_->message());
      event_loop_->SkipTimingReport();
      event_loop_->SkipAosLog();
      fetcher_ = event_loop_->MakeFetcher<Status>("/aos");
    }
    return &fetcher_;
  }

  // Waits for a status (any message from now on, in order) for which
  // `done` holds, and returns it. Fails the test after kHangLimit.
  FlatbufferDetachedBuffer<Status> WaitForStatus(
      const std::function<bool(const Status &)> &done,
      Process *starterd = nullptr) {
    Fetcher<Status> *fetcher = StatusFetcher();
    const auto deadline = std::chrono::steady_clock::now() + kHangLimit;
    bool first = true;
    while (std::chrono::steady_clock::now() < deadline) {
      const bool got = first ? fetcher->Fetch() : fetcher->FetchNext();
      first = false;
      if (fetcher->get() != nullptr && done(*fetcher->get())) {
        return CopyFlatBuffer(fetcher->get());
      }
      if (!got) {
        if (starterd != nullptr) {
          EXPECT_TRUE(starterd->running()) << starterd->err();
          if (!starterd->running()) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    ADD_FAILURE() << "no status like that; last: "
                  << (fetcher->get() != nullptr
                          ? FlatbufferToJson(fetcher->get())
                          : std::string("none"));
    return FlatbufferDetachedBuffer<Status>::Empty();
  }

  template <typename T>
  static FlatbufferDetachedBuffer<T> CopyFlatBuffer(const T *table) {
    flatbuffers::FlatBufferBuilder fbb;
    fbb.ForceDefaults(true);
    auto offset = T::Pack(
        fbb,
        std::unique_ptr<typename T::NativeTableType>(table->UnPack()).get());
    fbb.Finish(offset);
    return FlatbufferDetachedBuffer<T>(fbb.Release());
  }

  // Waits until `app`'s latest run printed `text`.
  void WaitForOutput(const std::string &app, const std::string &text) {
    const auto deadline = std::chrono::steady_clock::now() + kHangLimit;
    while (ReadFile(logs_ + "/" + app + "/latest.log").find(text) ==
           std::string::npos) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << app << " never printed " << text;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  static const ApplicationStatus *Find(const Status &status,
                                       std::string_view name) {
    if (status.statuses() == nullptr) return nullptr;
    for (const ApplicationStatus *app : *status.statuses()) {
      if (app->name()->string_view() == name) return app;
    }
    return nullptr;
  }

  static std::function<bool(const Status &)> StateIs(std::string name,
                                                     State state) {
    return [name, state](const Status &status) {
      const ApplicationStatus *app = Find(status, name);
      return app != nullptr && app->state() == state;
    };
  }

  aos::testing::TempDir work_;
  const std::string shm_base_;
  const std::string logs_;
  const std::string config_path_;
  std::optional<FlatbufferDetachedBuffer<Configuration>> config_;
  std::unique_ptr<ShmEventLoop> event_loop_;
  Fetcher<Status> fetcher_;
};

TEST_F(StarterTest, AutostartsApplicationsAndKeepsTheirOutput) {
  WriteConfig({App("alpha", "run", "", {"--print=hello"}), App("beta", "run"),
               App("manual", "run", "\"autostart\": false")});
  std::unique_ptr<Process> starterd = StartStarterd();
  FlatbufferDetachedBuffer<Status> status = WaitForStatus(
      [](const Status &status) {
        for (std::string_view name : {"alpha", "beta"}) {
          const ApplicationStatus *app = Find(status, name);
          if (app == nullptr || app->state() != State::RUNNING ||
              !app->has_active_timing_report()) {
            return false;
          }
        }
        return true;
      },
      starterd.get());
  const ApplicationStatus *alpha = Find(status.message(), "alpha");
  ASSERT_NE(alpha, nullptr);
  EXPECT_FALSE(Dead(alpha->pid()));
  EXPECT_EQ(alpha->file_state(), FileState::NO_CHANGE);
  ASSERT_NE(alpha->process_info(), nullptr);
  EXPECT_EQ(alpha->process_info()->pid(), alpha->pid());
  EXPECT_GT(alpha->process_info()->physical_memory(), 0u);
  const ApplicationStatus *manual = Find(status.message(), "manual");
  ASSERT_NE(manual, nullptr);
  EXPECT_EQ(manual->state(), State::STOPPED);

  Exit table = AosStarter({"status"});
  EXPECT_EQ(table.code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("NAME"));
  EXPECT_THAT(table.out,
              ::testing::ContainsRegex("alpha +RUNNING +" +
                                       std::to_string(alpha->pid())));
  EXPECT_THAT(table.out, ::testing::ContainsRegex("manual +STOPPED"));
  Exit detail = AosStarter({"status", "alpha"});
  EXPECT_EQ(detail.code, 0) << detail.err;
  EXPECT_THAT(detail.out, HasSubstr("alpha - RUNNING"));
  EXPECT_THAT(detail.out, HasSubstr("timing report: active"));

  // Output reaches the file as it is written (starterd reads the socket as
  // data comes).
  Exit logs;
  const auto deadline = std::chrono::steady_clock::now() + kHangLimit;
  do {
    logs = AosStarter({"logs", "alpha"});
  } while (logs.out.find("err:hello") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(logs.code, 0) << logs.err;
  EXPECT_THAT(logs.out, HasSubstr("hello\n"));
  EXPECT_THAT(logs.out, HasSubstr("err:hello"));

  starterd->Signal(SIGTERM);
  Exit done = starterd->Wait();
  EXPECT_EQ(done.code, 0) << done.err;
  EXPECT_TRUE(Dead(alpha->pid()));
}

TEST_F(StarterTest, StopStartRestartThroughAosStarter) {
  WriteConfig({App("alpha", "run")});
  std::unique_ptr<Process> starterd = StartStarterd();
  FlatbufferDetachedBuffer<Status> running =
      WaitForStatus(StateIs("alpha", State::RUNNING), starterd.get());
  const pid_t first_pid = Find(running.message(), "alpha")->pid();

  Exit stop = AosStarter({"stop", "alpha"});
  EXPECT_EQ(stop.code, 0) << stop.err;
  EXPECT_THAT(stop.out, HasSubstr("alpha: STOPPED"));
  EXPECT_TRUE(WaitUntilDead(first_pid));
  FlatbufferDetachedBuffer<Status> stopped =
      WaitForStatus(StateIs("alpha", State::STOPPED));
  EXPECT_EQ(Find(stopped.message(), "alpha")->last_stop_reason(),
            LastStopReason::STOP_REQUESTED);

  Exit start = AosStarter({"start", "alpha"});
  EXPECT_EQ(start.code, 0) << start.err;
  EXPECT_THAT(start.out, HasSubstr("alpha: RUNNING"));
  FlatbufferDetachedBuffer<Status> started =
      WaitForStatus(StateIs("alpha", State::RUNNING));
  const pid_t second_pid = Find(started.message(), "alpha")->pid();
  EXPECT_NE(second_pid, first_pid);
  EXPECT_FALSE(Dead(second_pid));

  Exit restart = AosStarter({"restart", "alpha"});
  EXPECT_EQ(restart.code, 0) << restart.err;
  EXPECT_TRUE(WaitUntilDead(second_pid));
  FlatbufferDetachedBuffer<Status> restarted =
      WaitForStatus([&](const Status &status) {
        const ApplicationStatus *app = Find(status, "alpha");
        return app != nullptr && app->state() == State::RUNNING &&
               static_cast<pid_t>(app->pid()) != second_pid;
      });
  const ApplicationStatus *alpha = Find(restarted.message(), "alpha");
  EXPECT_EQ(alpha->last_stop_reason(), LastStopReason::RESTART_REQUESTED);
  // Commands are not crashes.
  EXPECT_EQ(alpha->restarts(), 0u);
  EXPECT_THAT(restart.out,
              HasSubstr("alpha: RUNNING (pid " + std::to_string(alpha->pid())));
}

TEST_F(StarterTest, CrashLoopBacksOffAndCountsRestarts) {
  WriteConfig({App("crash", "exit", "", {"--exit_code=3"})});
  std::unique_ptr<Process> starterd = StartStarterd();
  // Every run's start time, by run id, from every status in order.
  std::map<uint64_t, int64_t> starts;
  bool saw_waiting_with_next_start = false;
  FlatbufferDetachedBuffer<Status> status = WaitForStatus(
      [&](const Status &status) {
        const ApplicationStatus *app = Find(status, "crash");
        if (app == nullptr) return false;
        if (flatbuffers::IsFieldPresent(app, ApplicationStatus::VT_PID)) {
          starts[app->id()] = app->last_start_time();
        }
        if (app->state() == State::WAITING &&
            app->next_start_time() > app->last_start_time()) {
          saw_waiting_with_next_start = true;
        }
        return starts.size() >= 6 && app->state() == State::WAITING;
      },
      starterd.get());
  const ApplicationStatus *crash = Find(status.message(), "crash");
  ASSERT_NE(crash, nullptr);
  EXPECT_EQ(crash->last_exit_code(), 3);
  EXPECT_GE(crash->restarts(), 5u);
  EXPECT_TRUE(saw_waiting_with_next_start);
  // --restart_delay_min_ms=50 doubling to --restart_delay_max_ms=400: each
  // start comes at least that long after the previous one.
  const std::vector<int> min_gaps_ms = {50, 100, 200, 400, 400};
  std::vector<int64_t> times;
  for (const auto &[id, time] : starts) times.push_back(time);
  std::string measured;
  for (size_t i = 0; i + 1 < times.size() && i < min_gaps_ms.size(); ++i) {
    const double gap_ms = (times[i + 1] - times[i]) / 1e6;
    measured += std::to_string(gap_ms) + " ";
    EXPECT_GE(gap_ms, min_gaps_ms[i])
        << "between start " << i << " and " << i + 1;
  }
  std::cout << "restart gaps (ms): " << measured << std::endl;

  Exit detail = AosStarter({"status", "crash"});
  EXPECT_EQ(detail.code, 0) << detail.err;
  EXPECT_THAT(detail.out, ::testing::ContainsRegex("restarts: +[5-9]"));
  EXPECT_THAT(detail.out, ::testing::ContainsRegex("last exit: +3"));
}

TEST_F(StarterTest, StopKillsAnApplicationIgnoringSigintAfterStopTime) {
  WriteConfig({App("stubborn", "ignore_sigint", "\"stop_time\": 200000000")});
  std::unique_ptr<Process> starterd = StartStarterd();
  FlatbufferDetachedBuffer<Status> running =
      WaitForStatus(StateIs("stubborn", State::RUNNING), starterd.get());
  const pid_t pid = Find(running.message(), "stubborn")->pid();
  WaitForOutput("stubborn", "ignoring SIGINT");
  const auto before = std::chrono::steady_clock::now();
  Exit stop = AosStarter({"stop", "stubborn"});
  const auto elapsed = std::chrono::steady_clock::now() - before;
  EXPECT_EQ(stop.code, 0) << stop.err;
  EXPECT_GE(elapsed, std::chrono::milliseconds(200));
  EXPECT_TRUE(Dead(pid));
  FlatbufferDetachedBuffer<Status> stopped =
      WaitForStatus(StateIs("stubborn", State::STOPPED));
  EXPECT_EQ(Find(stopped.message(), "stubborn")->last_exit_code(),
            128 + SIGKILL);
  starterd->Signal(SIGTERM);
  EXPECT_EQ(starterd->Wait().code, 0);
}

TEST_F(StarterTest, MissingOrUnrunnableExecutableIsAStatus) {
  const std::string not_executable = work_.path() + "/not_executable";
  std::ofstream(not_executable) << "#!/bin/sh\n";
  WriteConfig({"{\"name\": \"missing\", \"executable_name\": \"" +
                   work_.path() + "/no/such/program\"}",
               "{\"name\": \"noexec\", \"executable_name\": \"" +
                   not_executable + "\"}",
               App("alpha", "run")});
  std::unique_ptr<Process> starterd = StartStarterd();
  FlatbufferDetachedBuffer<Status> status = WaitForStatus(
      [](const Status &status) {
        const ApplicationStatus *alpha = Find(status, "alpha");
        const ApplicationStatus *missing = Find(status, "missing");
        const ApplicationStatus *noexec = Find(status, "noexec");
        return alpha != nullptr && alpha->state() == State::RUNNING &&
               missing != nullptr && missing->state() == State::STOPPED &&
               noexec != nullptr && noexec->state() == State::STOPPED;
      },
      starterd.get());
  EXPECT_EQ(Find(status.message(), "missing")->last_stop_reason(),
            LastStopReason::EXECV_ERR);
  EXPECT_EQ(Find(status.message(), "noexec")->last_stop_reason(),
            LastStopReason::EXECV_ERR);
  EXPECT_TRUE(starterd->running());

  Exit start = AosStarter({"start", "missing"});
  EXPECT_EQ(start.code, 1);
  EXPECT_THAT(start.err, HasSubstr("missing: failed to start: EXECV_ERR"));
  EXPECT_TRUE(starterd->running());
  starterd->Signal(SIGINT);
  EXPECT_EQ(starterd->Wait().code, 0);
}

TEST_F(StarterTest, SigkillOfStarterdLeavesNothingRunningAndRestartIsClean) {
  const std::string pid_file = work_.path() + "/grandchild.pid";
  WriteConfig({App("alpha", "run"),
               App("spawner", "spawn_child", "", {"--pid_file=" + pid_file})});
  std::unique_ptr<Process> starterd = StartStarterd();
  FlatbufferDetachedBuffer<Status> status = WaitForStatus(
      [](const Status &status) {
        return StateIs("alpha", State::RUNNING)(status) &&
               StateIs("spawner", State::RUNNING)(status);
      },
      starterd.get());
  const pid_t alpha = Find(status.message(), "alpha")->pid();
  const pid_t spawner = Find(status.message(), "spawner")->pid();
  const auto deadline = std::chrono::steady_clock::now() + kHangLimit;
  while (!std::filesystem::exists(pid_file) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pid_t grandchild = 0;
  std::ifstream(pid_file) >> grandchild;
  ASSERT_GT(grandchild, 0);

  starterd->Signal(SIGKILL);
  EXPECT_EQ(starterd->Wait().code, 128 + SIGKILL);
  // The applications die with starterd (parent-death signal).
  EXPECT_TRUE(WaitUntilDead(alpha));
  EXPECT_TRUE(WaitUntilDead(spawner));

  // The next starterd kills what escaped (the grandchild, which has no
  // parent-death signal), then runs everything again.
  std::unique_ptr<Process> second = StartStarterd();
  EXPECT_TRUE(WaitUntilDead(grandchild));
  FlatbufferDetachedBuffer<Status> again = WaitForStatus(
      [&](const Status &status) {
        const ApplicationStatus *app = Find(status, "alpha");
        return app != nullptr && app->state() == State::RUNNING &&
               static_cast<pid_t>(app->pid()) != alpha;
      },
      second.get());
  EXPECT_THAT(second->err(), HasSubstr("stray"));
  second->Signal(SIGTERM);
  EXPECT_EQ(second->Wait().code, 0);
}

TEST_F(StarterTest, WhatAnApplicationLeavesInItsGroupDiesWithIt) {
  const std::string pid_file = work_.path() + "/grandchild.pid";
  WriteConfig({App("spawner", "spawn_child", "\"autorestart\": false",
                   {"--pid_file=" + pid_file, "--exit_after_spawn"})});
  std::unique_ptr<Process> starterd = StartStarterd();
  FlatbufferDetachedBuffer<Status> status =
      WaitForStatus(StateIs("spawner", State::STOPPED), starterd.get());
  EXPECT_EQ(Find(status.message(), "spawner")->last_exit_code(), 0);
  pid_t grandchild = 0;
  std::ifstream(pid_file) >> grandchild;
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(WaitUntilDead(grandchild));
  starterd->Signal(SIGTERM);
  EXPECT_EQ(starterd->Wait().code, 0);
}

TEST_F(StarterTest, SigtermStopsEveryApplicationAndExitsZero) {
  WriteConfig({App("alpha", "run"),
               App("stubborn", "ignore_sigint", "\"stop_time\": 300000000")});
  std::unique_ptr<Process> starterd = StartStarterd();
  FlatbufferDetachedBuffer<Status> status = WaitForStatus(
      [](const Status &status) {
        return StateIs("alpha", State::RUNNING)(status) &&
               StateIs("stubborn", State::RUNNING)(status);
      },
      starterd.get());
  WaitForOutput("stubborn", "ignoring SIGINT");
  const auto before = std::chrono::steady_clock::now();
  starterd->Signal(SIGTERM);
  Exit done = starterd->Wait();
  EXPECT_EQ(done.code, 0) << done.err;
  EXPECT_GE(std::chrono::steady_clock::now() - before,
            std::chrono::milliseconds(300));
  EXPECT_TRUE(Dead(Find(status.message(), "alpha")->pid()));
  EXPECT_TRUE(Dead(Find(status.message(), "stubborn")->pid()));
  EXPECT_THAT(done.err, HasSubstr("SIGKILL"));
}

TEST_F(StarterTest, CreatesEveryQueueAndPurgesOnRequest) {
  WriteConfig({});
  const std::string stale = shm_base_ + "/stale/queue.v1";
  std::filesystem::create_directories(shm_base_ + "/stale");
  std::ofstream(stale) << "left by a previous boot";
  std::unique_ptr<Process> starterd = StartStarterd({"--purge_shm_base"});
  // Nobody uses the log channel here: its queue appears because starterd
  // makes every queue up front (after purging, so the test's own queues
  // are made after this).
  auto log_queue_exists = [&] {
    std::error_code error;
    for (const auto &entry :
         std::filesystem::recursive_directory_iterator(shm_base_, error)) {
      if (entry.path().filename().string().starts_with(
              "aos.logging.LogMessageFbs")) {
        return true;
      }
    }
    return false;
  };
  const auto deadline = std::chrono::steady_clock::now() + kHangLimit;
  while (!log_queue_exists()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    ASSERT_TRUE(starterd->running()) << starterd->err();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(std::filesystem::exists(stale));
  WaitForStatus([](const Status &) { return true; }, starterd.get());
  starterd->Signal(SIGTERM);
  EXPECT_EQ(starterd->Wait().code, 0);
}

TEST_F(StarterTest, BadConfigurationsAreClearErrors) {
  auto starterd_error = [&](const std::vector<std::string> &apps) {
    WriteConfig(apps);
    Exit exit = StartStarterd()->Wait();
    EXPECT_EQ(exit.code, 1);
    return exit.err;
  };
  EXPECT_THAT(starterd_error({App("twin", "run"), App("twin", "exit")}),
              HasSubstr("application \"twin\" is listed twice"));
  EXPECT_THAT(starterd_error({"{\"executable_name\": \"/bin/true\"}"}),
              HasSubstr("name"));
  EXPECT_THAT(starterd_error({App("alpha", "run", "\"stop_time\": -1")}),
              HasSubstr("application \"alpha\": \"stop_time\" is -1"));
  EXPECT_THAT(starterd_error({"{\"name\": \"alpha\", \"autostart\": maybe}"}),
              HasSubstr("config.json"));

  Exit no_config = Process({STARTERD, "--config=" + work_.path() + "/none.json",
                            "--shm_base=" + shm_base_},
                           work_.path())
                       .Wait();
  EXPECT_EQ(no_config.code, 1);
  EXPECT_THAT(no_config.err, HasSubstr("none.json"));

  // An unknown user stops that application only.
  WriteConfig(
      {"{\"name\": \"ghost\", \"executable_name\": \"/bin/true\", "
       "\"user\": \"no_such_user_aos\"}",
       App("alpha", "run")});
  std::unique_ptr<Process> starterd = StartStarterd();
  FlatbufferDetachedBuffer<Status> status = WaitForStatus(
      [](const Status &status) {
        return StateIs("alpha", State::RUNNING)(status) &&
               StateIs("ghost", State::STOPPED)(status);
      },
      starterd.get());
  EXPECT_EQ(Find(status.message(), "ghost")->last_stop_reason(),
            LastStopReason::SET_USR_ERR);
  EXPECT_THAT(starterd->err(), HasSubstr("application \"ghost\": unknown user "
                                         "\"no_such_user_aos\""));
}

TEST_F(StarterTest, AosStarterErrors) {
  WriteConfig({App("alpha", "run")});
  Exit none = AosStarter({"--timeout_ms=200", "status"});
  EXPECT_EQ(none.code, 1);
  EXPECT_THAT(none.err, HasSubstr("no starterd is running"));
  Exit stop_none = AosStarter({"--timeout_ms=200", "stop", "alpha"});
  EXPECT_EQ(stop_none.code, 1);
  EXPECT_THAT(stop_none.err, HasSubstr("no starterd is running"));

  Exit bad_command = AosStarter({"frobnicate"});
  EXPECT_EQ(bad_command.code, 1);
  EXPECT_THAT(bad_command.err, HasSubstr("unknown command \"frobnicate\""));
  Exit no_name = AosStarter({"stop"});
  EXPECT_EQ(no_name.code, 1);
  EXPECT_THAT(no_name.err, HasSubstr("needs the name"));
  Exit no_logs = AosStarter({"logs", "alpha"});
  EXPECT_EQ(no_logs.code, 1);
  EXPECT_THAT(no_logs.err, HasSubstr("no output kept for \"alpha\""));

  std::unique_ptr<Process> starterd = StartStarterd();
  WaitForStatus(StateIs("alpha", State::RUNNING), starterd.get());
  Exit unknown = AosStarter({"stop", "alpha", "omega"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("unknown application \"omega\"; "
                                     "starterd supervises: alpha"));
  // Nothing was sent: alpha still runs.
  EXPECT_THAT(AosStarter({"status", "alpha"}).out, HasSubstr("RUNNING"));
  Exit unknown_status = AosStarter({"status", "omega"});
  EXPECT_EQ(unknown_status.code, 1);
  EXPECT_THAT(unknown_status.err, HasSubstr("unknown application \"omega\""));
  Exit unknown_logs = AosStarter({"logs", "omega"});
  EXPECT_EQ(unknown_logs.code, 1);
  EXPECT_THAT(unknown_logs.err, HasSubstr("unknown application \"omega\""));
}

TEST_F(StarterTest, RunsAsTheConfiguredUserWithTheMemoryLimit) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "switching users needs root (CI runs as root)";
  }
  struct passwd *nobody = getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no user \"nobody\" on this system";
  // /bin/sleep, not the test app: an ASan build cannot start under an
  // address-space limit.
  WriteConfig(
      {"{\"name\": \"sleeper\", \"executable_name\": \"sleep\", "
       "\"args\": [\"60\"], \"user\": \"nobody\", \"memory_limit\": "
       "1073741824}"});
  std::unique_ptr<Process> starterd = StartStarterd();
  FlatbufferDetachedBuffer<Status> status =
      WaitForStatus(StateIs("sleeper", State::RUNNING), starterd.get());
  const std::string proc =
      "/proc/" + std::to_string(Find(status.message(), "sleeper")->pid());
  EXPECT_THAT(ReadFile(proc + "/status"),
              ::testing::ContainsRegex("Uid:\t" +
                                       std::to_string(nobody->pw_uid) + "\t"));
  EXPECT_THAT(ReadFile(proc + "/limits"),
              ::testing::ContainsRegex("Max address space +1073741824"));
  starterd->Signal(SIGTERM);
  EXPECT_EQ(starterd->Wait().code, 0);
}

TEST_F(StarterTest, ReportsAnExecutableChangedOnDisk) {
  const std::string binary = work_.path() + "/sleeper";
  std::filesystem::copy_file("/bin/sleep", binary);
  WriteConfig({"{\"name\": \"sleeper\", \"executable_name\": \"" + binary +
               "\", \"args\": [\"60\"]}"});
  std::unique_ptr<Process> starterd = StartStarterd();
  WaitForStatus(
      [](const Status &status) {
        const ApplicationStatus *app = Find(status, "sleeper");
        return app != nullptr && app->state() == State::RUNNING &&
               app->file_state() == FileState::NO_CHANGE;
      },
      starterd.get());
  // A deployment replaces the file (a new inode under the same name).
  std::filesystem::copy_file("/bin/sleep", binary + ".new");
  std::filesystem::rename(binary + ".new", binary);
  WaitForStatus(
      [](const Status &status) {
        const ApplicationStatus *app = Find(status, "sleeper");
        return app != nullptr && app->file_state() == FileState::CHANGED;
      },
      starterd.get());
  Exit table = AosStarter({"status"});
  EXPECT_THAT(table.out, ::testing::ContainsRegex("sleeper .*CHANGED"));
  starterd->Signal(SIGTERM);
  EXPECT_EQ(starterd->Wait().code, 0);
}

}  // namespace
}  // namespace aos::starter
