// The simulation test of Counter: the same class as in the counter program,
// on a simulated event loop, faster than real time and deterministic.
#include <chrono>

#include "aos/configuration.h"
#include "aos/events/simulated_event_loop.h"
#include "examples/getting_started/counter_lib.h"
#include "gtest/gtest.h"

namespace myapp {
namespace {

using std::chrono::milliseconds;

class CounterTest : public ::testing::Test {
 protected:
  // A relative path is also looked for beside the test binary, where
  // aos_config() wrote the flattened config.
  CounterTest()
      : config_(aos::configuration::ReadConfig("myapp_config.json")),
        factory_(&config_.message()) {
    // No /aos timing reports: this test does not look at them.
    factory_.SkipTimingReport();
  }

  aos::FlatbufferDetachedBuffer<aos::Configuration> config_;
  aos::SimulatedEventLoopFactory factory_;
};

TEST_F(CounterTest, CountsEveryPeriod) {
  std::unique_ptr<aos::EventLoop> counter_loop =
      factory_.MakeEventLoop("counter");
  Counter counter(counter_loop.get());

  std::unique_ptr<aos::EventLoop> test_loop = factory_.MakeEventLoop("test");
  std::vector<int64_t> received;
  test_loop->MakeWatcher("/myapp", [&](const Count &count) {
    received.push_back(count.value());
    EXPECT_EQ(count.source()->string_view(), "counter");
    // context() holds the send time; the watcher runs 50 us (the simulated
    // send delay) later.
    EXPECT_EQ(
        test_loop->monotonic_now(),
        test_loop->context().monotonic_event_time + factory_.send_delay());
  });

  // The phased loop first runs one period after the start, so 350 ms hold
  // three counts (at 100, 200 and 300 ms).
  const aos::Result<void> result = factory_.RunFor(milliseconds(350));
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(received, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(counter.count(), 3);
}

}  // namespace
}  // namespace myapp
