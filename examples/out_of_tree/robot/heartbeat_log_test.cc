// Logging the heartbeat in simulation and replaying the log: a robot
// project's use of AOS's logging and replay libraries (aos::logger_lib,
// aos::log_reader), which bring zstd, OpenSSL and zlib with them.
#include <memory>
#include <string>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/logging/log_reader.h"
#include "aos/events/logging/logger.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/testing/tmpdir.h"
#include "gtest/gtest.h"
#include "robot/heartbeat_lib.h"

namespace robot {
namespace {

TEST(HeartbeatLogTest, ReplaySendsTheLoggedHeartbeats) {
  aos::testing::TempDir logs;
  const std::string log_dir = logs.path() + "/heartbeat/";
  {
    aos::FlatbufferDetachedBuffer<aos::Configuration> config =
        aos::configuration::ReadConfig("robot_config.json");
    aos::SimulatedEventLoopFactory factory(&config.message());
    factory.SkipTimingReport();
    std::unique_ptr<aos::EventLoop> robot_loop = factory.MakeEventLoop("robot");
    HeartbeatSender heartbeat(robot_loop.get(), std::chrono::milliseconds(50));
    std::unique_ptr<aos::EventLoop> logger_loop =
        factory.MakeEventLoop("logger");
    aos::logger::Logger logger(logger_loop.get());
    logger.StartLoggingOnRun(log_dir);
    const aos::Result<void> result =
        factory.RunFor(std::chrono::milliseconds(220));
    ASSERT_TRUE(result.has_value()) << result.error().message();
  }

  aos::logger::LogReader reader(log_dir);
  aos::SimulatedEventLoopFactory factory(reader.configuration());
  reader.Register(&factory);
  std::unique_ptr<aos::EventLoop> test_loop = factory.MakeEventLoop("test");
  std::vector<int64_t> sequences;
  test_loop->MakeWatcher("/robot", [&](const Heartbeat &beat) {
    sequences.push_back(beat.sequence());
  });
  const aos::Result<void> result = factory.Run();
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(sequences, (std::vector<int64_t>{1, 2, 3, 4}));
  // The factory dies before the reader: the reader's loops go first.
  reader.Deregister();
}

}  // namespace
}  // namespace robot
