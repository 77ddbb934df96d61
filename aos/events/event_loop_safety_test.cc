// The safety rails of the EventLoop API that run-time tests can show (the
// compile-time ones are in event_loop_compile_errors.cc): a static builder on
// a channel too small for the message names the smallest legal max_size, and
// a simulation whose run failed stays failed.

#include <chrono>
#include <memory>
#include <string>

#include "aos/configuration.h"
#include "aos/events/event_loop.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/events/test_message_generated.h"
#include "aos/events/test_message_static.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

using std::chrono::milliseconds;

FlatbufferDetachedBuffer<Configuration> TestConfig(int max_size,
                                                   int num_watchers) {
  return configuration::AddSchema(
      R"({"channels": [{"name": "/test", "type": "aos.TestMessage", )"
      R"("max_size": )" +
          std::to_string(max_size) + R"(, "num_watchers": )" +
          std::to_string(num_watchers) + "}]}",
      {});
}

// The getting-started bug: a channel whose max_size is below the static
// message's size. The error says which max_size to write.
TEST(EventLoopSafetyDeathTest, StaticBuilderNamesSmallestLegalMaxSize) {
  constexpr size_t kSize = fbs::Builder<TestMessageStatic>::kSize;
  constexpr size_t kLegal = (kSize + 7) / 8 * 8;
  static_assert(kLegal > 8, "the test needs a message larger than 8 bytes");
  FlatbufferDetachedBuffer<Configuration> config = TestConfig(8, 10);
  SimulatedEventLoopFactory factory(&config.message());
  factory.SkipTimingReport();
  std::unique_ptr<EventLoop> loop = factory.MakeEventLoop("sender");
  Sender<TestMessage> sender = loop->MakeSender<TestMessage>("/test");
  EXPECT_DEATH(sender.MakeStaticBuilder(),
               "/test.*aos.TestMessage.*max_size 8.*needs up to " +
                   std::to_string(kSize) +
                   " bytes: set \"max_size\": " + std::to_string(kLegal) +
                   " \\(the smallest legal max_size\\)");
}

// At exactly the smallest legal max_size, the static builder works.
TEST(EventLoopSafetyTest, StaticBuilderFitsSmallestLegalMaxSize) {
  constexpr size_t kLegal =
      (fbs::Builder<TestMessageStatic>::kSize + 7) / 8 * 8;
  FlatbufferDetachedBuffer<Configuration> config = TestConfig(kLegal, 10);
  SimulatedEventLoopFactory factory(&config.message());
  factory.SkipTimingReport();
  std::unique_ptr<EventLoop> loop = factory.MakeEventLoop("sender");
  Sender<TestMessage> sender = loop->MakeSender<TestMessage>("/test");
  auto builder = sender.MakeStaticBuilder();
  builder->set_value(3);
  EXPECT_EQ(builder.Send(), RawSender::Error::kOk);
}

// A run that failed (here: more watchers than the channel's num_watchers)
// fails every later run too, without simulating anything: a test that
// ignored the first result cannot pass by testing nothing.
TEST(EventLoopSafetyTest, FailedSimulationStaysFailed) {
  FlatbufferDetachedBuffer<Configuration> config = TestConfig(64, 1);
  SimulatedEventLoopFactory factory(&config.message());
  factory.SkipTimingReport();
  std::unique_ptr<EventLoop> first = factory.MakeEventLoop("first");
  std::unique_ptr<EventLoop> second = factory.MakeEventLoop("second");
  first->MakeWatcher("/test", [](const TestMessage &) {});
  second->MakeWatcher("/test", [](const TestMessage &) {});
  int timer_calls = 0;
  TimerHandler *timer = first->AddTimer([&]() { ++timer_calls; });
  first->OnRun(
      [&]() { timer->Schedule(first->monotonic_now(), milliseconds(10)); });

  const Result<void> failed = factory.RunFor(milliseconds(100));
  ASSERT_FALSE(failed.has_value());
  EXPECT_NE(failed.error().message().find("Too many watchers"),
            std::string::npos)
      << failed.error().message();

  const distributed_clock::time_point before = factory.distributed_now();
  const Result<void> again = factory.RunFor(milliseconds(100));
  ASSERT_FALSE(again.has_value());
  EXPECT_NE(again.error().message().find("failed in an earlier run"),
            std::string::npos)
      << again.error().message();
  EXPECT_NE(again.error().message().find("Too many watchers"),
            std::string::npos)
      << again.error().message();
  EXPECT_EQ(factory.distributed_now(), before);
  EXPECT_EQ(timer_calls, 0);
  EXPECT_FALSE(factory.Run().has_value());
  EXPECT_FALSE(
      factory.RunUntil(realtime_clock::epoch() + std::chrono::seconds(5))
          .has_value());
}

// An error given to Exit() by the test itself is that run's result only:
// the next run simulates again.
TEST(EventLoopSafetyTest, ExitWithErrorIsNotSticky) {
  FlatbufferDetachedBuffer<Configuration> config = TestConfig(64, 10);
  SimulatedEventLoopFactory factory(&config.message());
  factory.SkipTimingReport();
  std::unique_ptr<EventLoop> loop = factory.MakeEventLoop("loop");
  int timer_calls = 0;
  TimerHandler *timer = loop->AddTimer([&]() {
    if (++timer_calls == 1) factory.Exit(MakeError("stop"));
  });
  loop->OnRun(
      [&]() { timer->Schedule(loop->monotonic_now(), milliseconds(10)); });
  EXPECT_FALSE(factory.RunFor(milliseconds(100)).has_value());
  const Result<void> next = factory.RunFor(milliseconds(100));
  EXPECT_TRUE(next.has_value()) << next.error().message();
  EXPECT_GT(timer_calls, 5);
}

}  // namespace
}  // namespace aos::testing
