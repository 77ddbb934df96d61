#include "aos/events/simulated_event_loop.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "aos/events/event_loop_param_test.h"
#include "aos/events/test_message_generated.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

// The conformance suite's view of a simulation: every loop lives in one
// SimulatedEventLoopFactory, and running the primary loop runs the factory.
class SimulatedEventLoopTestFactory : public EventLoopTestFactory {
 public:
  ~SimulatedEventLoopTestFactory() override = default;

  // Plain loops run in simulation (every loop of the factory does), but
  // never in shared memory, so they send no timing reports there: match
  // that.
  std::unique_ptr<EventLoop> Make(std::string_view name) override {
    std::unique_ptr<EventLoop> loop = factory()->MakeEventLoop(name);
    loop->SkipTimingReport();
    return loop;
  }
  std::unique_ptr<EventLoop> MakePrimary(std::string_view name) override {
    return factory()->MakeEventLoop(name);
  }
  Result<void> Run() override { return factory()->Run(); }
  void Exit() override { factory()->Exit(); }
  void RunFor(monotonic_clock::duration duration) override {
    CheckExpected(factory()->RunFor(duration));
  }
  std::unique_ptr<ExitHandle> MakeExitHandle() override {
    return factory()->MakeExitHandle();
  }

 private:
  // Made on first use, after PinReads() changed the configuration.
  SimulatedEventLoopFactory *factory() {
    if (factory_ == nullptr) {
      factory_ = std::make_unique<SimulatedEventLoopFactory>(configuration());
      // Start like a machine that has been up for a while, as the shared
      // memory tests do: the epoch is then in the past.
      CheckExpected(factory_->RunFor(std::chrono::seconds(100)));
    }
    return factory_.get();
  }

  std::unique_ptr<SimulatedEventLoopFactory> factory_;
};

std::unique_ptr<EventLoopTestFactory> MakeSimulatedFactory() {
  return std::make_unique<SimulatedEventLoopTestFactory>();
}

INSTANTIATE_TEST_SUITE_P(SimulatedEventLoop, AbstractEventLoopTest,
                         ::testing::ValuesIn(MakeEventLoopTestParams(
                             "Simulated", MakeSimulatedFactory)),
                         EventLoopTestParamName);
INSTANTIATE_TEST_SUITE_P(SimulatedEventLoop, AbstractEventLoopDeathTest,
                         ::testing::ValuesIn(MakeEventLoopTestParams(
                             "Simulated", MakeSimulatedFactory)),
                         EventLoopTestParamName);

}  // namespace
}  // namespace aos::testing
