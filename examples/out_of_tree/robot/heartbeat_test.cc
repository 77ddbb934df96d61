// HeartbeatSender in simulation, with the robot's real config.
#include <vector>

#include "aos/configuration.h"
#include "aos/events/simulated_event_loop.h"
#include "gtest/gtest.h"
#include "robot/heartbeat_lib.h"

namespace robot {
namespace {

TEST(HeartbeatTest, NumberedHeartbeatsEveryPeriod) {
  // Found beside the test binary, where aos_config() wrote it.
  aos::FlatbufferDetachedBuffer<aos::Configuration> config =
      aos::configuration::ReadConfig("robot_config.json");
  aos::SimulatedEventLoopFactory factory(&config.message());
  factory.SkipTimingReport();

  std::unique_ptr<aos::EventLoop> robot_loop = factory.MakeEventLoop("robot");
  HeartbeatSender heartbeat(robot_loop.get(), std::chrono::milliseconds(50));

  std::unique_ptr<aos::EventLoop> test_loop = factory.MakeEventLoop("test");
  std::vector<int64_t> sequences;
  test_loop->MakeWatcher("/robot", [&](const Heartbeat &beat) {
    sequences.push_back(beat.sequence());
    EXPECT_EQ(beat.failures(), 0);
  });

  const aos::Result<void> result =
      factory.RunFor(std::chrono::milliseconds(220));
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(sequences, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(heartbeat.sent(), 4);
}

}  // namespace
}  // namespace robot
