// aos_logger, log_cat and log_info as a user runs them: separate processes
// over a private --shm_base, with ping and pong as the robot.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "aos/events/logging/part_reader.h"
#include "aos/testing/process.h"
#include "aos/testing/tmpdir.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A safety net against hangs only; no test depends on timing.
constexpr std::chrono::seconds kHangLimit(60);

using Exit = ::aos::testing::ProcessExit;
using Process = ::aos::testing::ChildProcess;

class LogToolsTest : public ::testing::Test {
 protected:
  LogToolsTest()
      : shm_base_(work_.path() + "/shm"), logs_(work_.path() + "/logs") {
    std::filesystem::create_directories(shm_base_);
  }

  std::unique_ptr<Process> Start(const char *program,
                                 std::vector<std::string> args) {
    std::vector<std::string> argv = {program, "--shm_base=" + shm_base_};
    if (std::string_view(program) != AOS_LOG_CAT &&
        std::string_view(program) != AOS_LOG_INFO) {
      argv.push_back(std::string("--config=") + AOS_PINGPONG_CONFIG);
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<Process>(argv, work_.path());
  }
  Exit Run(const char *program, std::vector<std::string> args) {
    return Start(program, std::move(args))->Wait();
  }

  std::unique_ptr<Process> StartLogger() {
    return Start(AOS_LOGGER,
                 {"--logging_folder=" + logs_, "--polling_period_ms=10",
                  "--flush_period_ms=50"});
  }

  // Waits until the data part under `folder` has at least `bytes`, i.e. the
  // logger flushed at least once with pings in it.
  void WaitForLogged(const std::string &folder, uint64_t bytes,
                     Process *logger) {
    const std::string path = folder + "/data.part0.bfbs.zst";
    const auto deadline = std::chrono::steady_clock::now() + kHangLimit;
    while (std::chrono::steady_clock::now() < deadline) {
      std::error_code ignored;
      if (std::filesystem::file_size(path, ignored) >= bytes && !ignored) {
        return;
      }
      ASSERT_TRUE(logger->running()) << logger->err();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    FAIL() << "nothing logged in " << path;
  }

  aos::testing::TempDir work_;
  const std::string shm_base_;
  const std::string logs_;
};

// Records ping/pong, stops on SIGINT, and the tools read the log back.
TEST_F(LogToolsTest, RecordPingPongAndReadIt) {
  std::unique_ptr<Process> ping = Start(AOS_PING, {});
  std::unique_ptr<Process> pong = Start(AOS_PONG, {});
  std::unique_ptr<Process> logger = StartLogger();
  WaitForLogged(logs_ + "/0", 2000, logger.get());
  logger->Signal(SIGINT);
  const Exit logged = logger->Wait();
  EXPECT_EQ(logged.code, 0) << logged.err;
  EXPECT_THAT(logged.err, HasSubstr("no message lost"));

  // A second run never reuses the folder.
  std::unique_ptr<Process> second = StartLogger();
  WaitForLogged(logs_ + "/1", 1, second.get());
  second->Signal(SIGTERM);
  EXPECT_EQ(second->Wait().code, 0);

  const Exit info = Run(AOS_LOG_INFO, {logs_ + "/0"});
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr("1 parts, 1 configuration files"));
  EXPECT_THAT(info.out, HasSubstr("compression ratio"));
  EXPECT_THAT(info.out, HasSubstr("(single node) (1 boot)"));
  EXPECT_THAT(info.out, HasSubstr("Duration:"));
  EXPECT_THAT(info.out, HasSubstr("/test aos.examples.Ping  messages "));
  EXPECT_THAT(info.out, HasSubstr("/test aos.examples.Pong  messages "));
  EXPECT_THAT(info.out, HasSubstr("(0 lost by the logger)"));
  EXPECT_THAT(info.out, Not(HasSubstr("Problems")));

  const Exit pongs =
      Run(AOS_LOG_CAT, {"--type=Pong", "--count=5", logs_ + "/0"});
  ASSERT_EQ(pongs.code, 0) << pongs.err;
  std::istringstream lines(pongs.out);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    EXPECT_THAT(line, HasSubstr("\"type\": \"aos.examples.Pong\""));
    EXPECT_THAT(line, HasSubstr("\"initial_send_time\""));
  }
  EXPECT_EQ(count, 5);

  // Both runs at once, from the folder above them.
  const Exit both = Run(AOS_LOG_CAT, {"--print_parts_only", logs_});
  ASSERT_EQ(both.code, 0) << both.err;
  EXPECT_THAT(both.out,
              HasSubstr("/0/data.part0.bfbs.zst: node (single node), DATA"));
  EXPECT_THAT(both.out,
              HasSubstr("/1/data.part0.bfbs.zst: node (single node), DATA"));

  const Exit raw =
      Run(AOS_LOG_CAT, {"--raw", "--name=/test", "--count=1", logs_ + "/0"});
  ASSERT_EQ(raw.code, 0) << raw.err;
  EXPECT_THAT(raw.out, HasSubstr("\"hex\": \""));
}

TEST_F(LogToolsTest, BadInput) {
  Exit exit = Run(AOS_LOG_CAT, {work_.path() + "/missing"});
  EXPECT_EQ(exit.code, 1);
  EXPECT_THAT(exit.err, HasSubstr("missing: no such file or folder"));

  exit = Run(AOS_LOG_INFO, {});
  EXPECT_EQ(exit.code, 1);
  EXPECT_THAT(exit.err, HasSubstr("no log given"));

  const std::string empty_folder = work_.path() + "/empty";
  std::filesystem::create_directories(empty_folder);
  exit = Run(AOS_LOG_INFO, {empty_folder});
  EXPECT_EQ(exit.code, 1);
  EXPECT_THAT(exit.err, HasSubstr("no log files"));

  const std::string json = work_.path() + "/config.json";
  { std::ofstream(json) << "{\"channels\": []}\n"; }
  exit = Run(AOS_LOG_CAT, {json});
  EXPECT_EQ(exit.code, 1);
  EXPECT_THAT(exit.err, HasSubstr("not an AOS log part"));

  exit = Run(AOS_LOG_CAT, {"--start_time=yesterday", json});
  EXPECT_EQ(exit.code, 1);
  EXPECT_THAT(exit.err, HasSubstr("--start_time=yesterday is not a time"));

  exit = Run(AOS_LOGGER, {"--logging_folder=" + logs_, "--compression=lz4"});
  EXPECT_EQ(exit.code, 1);
  EXPECT_THAT(exit.err, HasSubstr("--compression=lz4"));

  exit = Run(AOS_LOGGER, {"--logging_folder=" + json + "/logs"});
  EXPECT_EQ(exit.code, 1);
  EXPECT_THAT(exit.err, HasSubstr(json));
}

// A data part without its configuration file cannot be printed; a truncated
// part prints what it has and warns.
TEST_F(LogToolsTest, MissingConfigAndTruncatedPart) {
  std::unique_ptr<Process> ping = Start(AOS_PING, {});
  std::unique_ptr<Process> logger = StartLogger();
  WaitForLogged(logs_ + "/0", 1000, logger.get());
  logger->Signal(SIGINT);
  ASSERT_EQ(logger->Wait().code, 0);
  const std::string part = logs_ + "/0/data.part0.bfbs.zst";

  Exit exit = Run(AOS_LOG_CAT, {part});
  EXPECT_EQ(exit.code, 1);
  EXPECT_THAT(exit.err, HasSubstr("configuration file"));

  // Cut the part in the middle of its last frame.
  const uint64_t size = std::filesystem::file_size(part);
  std::filesystem::resize_file(part, size - 3);
  exit = Run(AOS_LOG_CAT, {logs_ + "/0"});
  EXPECT_EQ(exit.code, 0) << exit.err;
  EXPECT_THAT(exit.err, HasSubstr("warning"));
  EXPECT_THAT(exit.err, HasSubstr("cut off"));
  const Exit info = Run(AOS_LOG_INFO, {logs_ + "/0"});
  EXPECT_EQ(info.code, 0);
  EXPECT_THAT(info.out, HasSubstr("Problems"));
}

// kill -9 of the logger at random points: every file still opens and reads
// to a clean end or a reported cut, never a damaged frame, and the pings read
// are consecutive.
TEST_F(LogToolsTest, SurvivesSigkill) {
  std::unique_ptr<Process> ping = Start(AOS_PING, {});
  std::mt19937 rng(14);
  for (int run = 0; run < 10; ++run) {
    SCOPED_TRACE(run);
    std::unique_ptr<Process> logger = StartLogger();
    const std::string folder = logs_ + "/" + std::to_string(run);
    WaitForLogged(folder, 1, logger.get());
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 150));
    logger->Signal(SIGKILL);
    EXPECT_EQ(logger->Wait().code, 128 + SIGKILL);
    for (const auto &entry : std::filesystem::directory_iterator(folder)) {
      Result<std::unique_ptr<PartReader>> reader =
          PartReader::Open(entry.path().string());
      ASSERT_TRUE(reader) << reader.error();
      uint32_t messages = 0;
      while ((*reader)->ReadMessage() != nullptr) ++messages;
      EXPECT_NE((*reader)->status().kind, ReadStatus::Kind::kCorrupt)
          << (*reader)->status().message;
    }
    const Exit info = Run(AOS_LOG_INFO, {folder});
    EXPECT_EQ(info.code, 0) << info.err;
    EXPECT_THAT(info.out, HasSubstr("(0 lost by the logger)"));
  }
}

}  // namespace
}  // namespace aos::logger::testing
