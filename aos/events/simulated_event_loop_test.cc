#include "aos/events/simulated_event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/epoll.h"
#include "aos/events/event_loop_param_test.h"
#include "aos/events/test_message_generated.h"
#include "aos/network/testing_time_converter.h"
#include "flatbuffers/reflection.h"
#include "gflags/gflags.h"
#include "gtest/gtest.h"

DECLARE_bool(simulation_verify_messages);

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
    std::unique_ptr<EventLoop> loop = factory()->MakeEventLoop(name, my_node());
    loop->SkipTimingReport();
    return loop;
  }
  std::unique_ptr<EventLoop> MakePrimary(std::string_view name) override {
    return factory()->MakeEventLoop(name, my_node());
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
INSTANTIATE_TEST_SUITE_P(SimulatedEventLoop, AbstractEventLoopMultiNodeTest,
                         ::testing::ValuesIn(MakeEventLoopTestParams(
                             "Simulated", MakeSimulatedFactory)),
                         EventLoopTestParamName);
INSTANTIATE_TEST_SUITE_P(SimulatedEventLoop,
                         AbstractEventLoopMultiNodeDeathTest,
                         ::testing::ValuesIn(MakeEventLoopTestParams(
                             "Simulated", MakeSimulatedFactory)),
                         EventLoopTestParamName);
INSTANTIATE_TEST_SUITE_P(SimulatedEventLoop, AbstractEventLoopDeathTest,
                         ::testing::ValuesIn(MakeEventLoopTestParams(
                             "Simulated", MakeSimulatedFactory)),
                         EventLoopTestParamName);

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr monotonic_clock::time_point kEpoch = monotonic_clock::epoch();

constexpr std::string_view kSingleNodeConfig = R"json({
  "channels": [
    {"name": "/aos", "type": "aos.timing.Report", "frequency": 50,
     "num_senders": 20, "max_size": 4096},
    {"name": "/test", "type": "aos.TestMessage", "frequency": 1000},
    {"name": "/slow", "type": "aos.TestMessage", "frequency": 2,
     "channel_storage_duration": 1000000000},
    {"name": "/pinned", "type": "aos.TestMessage", "frequency": 4,
     "channel_storage_duration": 1000000000, "read_method": "PIN",
     "num_readers": 2, "num_senders": 2}
  ]
})json";

FlatbufferDetachedBuffer<Configuration> SingleNodeConfig() {
  return configuration::MergeWithConfig(
      &FlatbufferDetachedBuffer<Configuration>::Empty().message(),
      kSingleNodeConfig);
}

class SimulatedEventLoopTest : public ::testing::Test {
 protected:
  SimulatedEventLoopTest() : config_(SingleNodeConfig()) {}

  FlatbufferDetachedBuffer<Configuration> config_;
  SimulatedEventLoopFactory factory_{&config_.message()};
};

using SimulatedEventLoopDeathTest = SimulatedEventLoopTest;

// RunFor ends at exactly now + duration, with or without events; Run ends
// when nothing is left to do.
TEST_F(SimulatedEventLoopTest, TimeControl) {
  factory_.SkipTimingReport();
  auto loop = factory_.MakeEventLoop("loop");
  EXPECT_EQ(loop->monotonic_now(), kEpoch);
  EXPECT_EQ(loop->realtime_now(), realtime_clock::epoch());
  std::vector<monotonic_clock::time_point> fired;
  TimerHandler *timer = loop->AddTimer([&]() {
    fired.push_back(loop->monotonic_now());
    EXPECT_EQ(loop->context().monotonic_event_time, loop->monotonic_now());
  });
  timer->Schedule(kEpoch + milliseconds(300));
  CheckExpected(factory_.RunFor(seconds(1)));
  EXPECT_EQ(loop->monotonic_now(), kEpoch + seconds(1));
  EXPECT_EQ(factory_.distributed_now(),
            distributed_clock::epoch() + seconds(1));
  CheckExpected(factory_.RunFor(milliseconds(1)));
  EXPECT_EQ(loop->monotonic_now(), kEpoch + milliseconds(1001));
  EXPECT_EQ(fired, std::vector<monotonic_clock::time_point>{kEpoch +
                                                            milliseconds(300)});

  timer->Schedule(kEpoch + seconds(5));
  CheckExpected(factory_.Run());
  EXPECT_EQ(loop->monotonic_now(), kEpoch + seconds(5));
  EXPECT_EQ(fired.size(), 2u);

  factory_.GetNodeEventLoopFactory(nullptr)->SetRealtimeOffset(
      kEpoch + seconds(5), realtime_clock::epoch() + seconds(1000));
  EXPECT_EQ(loop->realtime_now(), realtime_clock::epoch() + seconds(1000));
}

// RunUntil stops at a realtime and says whether events remain.
TEST_F(SimulatedEventLoopTest, RunUntil) {
  factory_.SkipTimingReport();
  auto loop = factory_.MakeEventLoop("loop");
  TimerHandler *timer = loop->AddTimer([]() {});
  timer->Schedule(kEpoch + seconds(2));
  Result<SimulatedEventLoopFactory::RunEndState> end =
      factory_.RunUntil(realtime_clock::epoch() + seconds(1));
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(*end, SimulatedEventLoopFactory::RunEndState::kEventsRemaining);
  EXPECT_EQ(loop->monotonic_now(), kEpoch + seconds(1));
  end = factory_.RunUntil(realtime_clock::epoch() + seconds(3));
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(*end,
            SimulatedEventLoopFactory::RunEndState::kFinishedEventProcessing);
  end = factory_.RunUntil(realtime_clock::epoch() + seconds(1));
  ASSERT_FALSE(end.has_value());
  EXPECT_NE(end.error().message().find("is in the past"), std::string::npos);
}

// Watchers are called send_delay() after the send; the context keeps the
// send time, so the timing report shows that delay as wakeup latency.
TEST_F(SimulatedEventLoopTest, SendDelay) {
  factory_.SkipTimingReport();
  auto sender_loop = factory_.MakeEventLoop("sender");
  auto watcher_loop = factory_.MakeEventLoop("watcher");
  auto sender = sender_loop->MakeSender<TestMessage>("/test");
  std::vector<
      std::pair<monotonic_clock::time_point, monotonic_clock::time_point>>
      seen;
  watcher_loop->MakeWatcher("/test", [&](const TestMessage &) {
    seen.emplace_back(watcher_loop->monotonic_now(),
                      watcher_loop->context().monotonic_event_time);
  });
  TimerHandler *timer = sender_loop->AddTimer([&]() { SendValue(&sender, 1); });
  timer->Schedule(kEpoch + milliseconds(10));
  CheckExpected(factory_.RunFor(milliseconds(20)));
  factory_.set_send_delay(microseconds(7));
  timer->Schedule(kEpoch + milliseconds(30));
  CheckExpected(factory_.RunFor(milliseconds(20)));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first, kEpoch + milliseconds(10) + microseconds(50));
  EXPECT_EQ(seen[0].second, kEpoch + milliseconds(10));
  EXPECT_EQ(seen[1].first, kEpoch + milliseconds(30) + microseconds(7));
}

// Once a loop ran, its watchers stay armed between runs: messages sent
// between two RunFor calls are delivered at the next one. Messages sent
// before the first run are not.
TEST_F(SimulatedEventLoopTest, MessagesBetweenRunsReachStartedWatchers) {
  factory_.SkipTimingReport();
  auto sender_loop = factory_.MakeEventLoop("sender");
  auto watcher_loop = factory_.MakeEventLoop("watcher");
  auto sender = sender_loop->MakeSender<TestMessage>("/test");
  std::vector<int> values;
  watcher_loop->MakeWatcher(
      "/test", [&](const TestMessage &m) { values.push_back(m.value()); });
  SendValue(&sender, 1);
  CheckExpected(factory_.RunFor(milliseconds(1)));
  SendValue(&sender, 2);
  SendValue(&sender, 3);
  EXPECT_TRUE(values.empty());
  CheckExpected(factory_.RunFor(milliseconds(1)));
  EXPECT_EQ(values, (std::vector<int>{2, 3}));
}

// Loops that start together arm their watchers before any OnRun runs, so
// a message sent from one loop's OnRun reaches the others.
TEST_F(SimulatedEventLoopTest, OnRunSendsReachLoopsStartingTogether) {
  factory_.SkipTimingReport();
  auto sender_loop = factory_.MakeEventLoop("sender");
  auto watcher_loop = factory_.MakeEventLoop("watcher");
  auto sender = sender_loop->MakeSender<TestMessage>("/test");
  sender_loop->OnRun([&]() { SendValue(&sender, 5); });
  int seen = 0;
  watcher_loop->MakeWatcher("/test", [&](const TestMessage &) { ++seen; });
  CheckExpected(factory_.RunFor(milliseconds(1)));
  EXPECT_EQ(seen, 1);
}

// On PIN channels buffer indices stay in [0, NumberBuffers) and a buffer a
// reader holds is never handed to a sender, however far the ring moves on.
TEST_F(SimulatedEventLoopTest, PinnedBufferIndices) {
  factory_.SkipTimingReport();
  auto loop = factory_.MakeEventLoop("loop");
  auto sender = loop->MakeSender<TestMessage>("/pinned");
  auto held = loop->MakeFetcher<TestMessage>("/pinned");
  auto moving = loop->MakeFetcher<TestMessage>("/pinned");
  const int buffers = loop->NumberBuffers(sender.channel());
  for (int i = 0; i < 40; ++i) {
    const int index = sender.buffer_index();
    ASSERT_GE(index, 0);
    ASSERT_LT(index, buffers);
    if (held.get() != nullptr) {
      EXPECT_NE(index, held.context().buffer_index) << i;
    }
    ASSERT_NE(index, moving.context().buffer_index) << i;
    SendValue(&sender, i);
    ASSERT_TRUE(moving.FetchNext());
    EXPECT_EQ(moving.context().buffer_index, index);
    EXPECT_EQ(moving->value(), i);
    if (i == 2) {
      ASSERT_TRUE(held.Fetch());
    }
    // /pinned takes 4 messages per second.
    CheckExpected(factory_.RunFor(milliseconds(250)));
  }
  EXPECT_EQ(held->value(), 2) << "the held message is still intact";
}

// An application may stop itself from one of its own callbacks.
TEST_F(SimulatedEventLoopTest, ApplicationStopsItself) {
  factory_.SkipTimingReport();
  NodeEventLoopFactory *node = factory_.GetNodeEventLoopFactory(nullptr);
  struct SelfStopping {
    SelfStopping(EventLoop *loop, NodeEventLoopFactory *node, int *calls) {
      TimerHandler *timer = loop->AddTimer([this, node, calls]() {
        ++*calls;
        node->Stop(this);
      });
      loop->OnRun([loop, timer]() {
        timer->Schedule(loop->monotonic_now() + milliseconds(1),
                        milliseconds(1));
      });
    }
  };
  int calls = 0;
  node->AlwaysStart<SelfStopping>("self", node, &calls);
  CheckExpected(factory_.RunFor(milliseconds(10)));
  EXPECT_EQ(calls, 1);
}

// Exit and exit handles end the run with their status; the first wins.
TEST_F(SimulatedEventLoopTest, ExitStatus) {
  factory_.SkipTimingReport();
  auto loop = factory_.MakeEventLoop("loop");
  std::unique_ptr<ExitHandle> handle = factory_.MakeExitHandle();
  TimerHandler *timer = loop->AddTimer([&]() {
    handle->Exit(MakeError("first"));
    factory_.Exit(MakeError("second"));
  });
  timer->Schedule(kEpoch + seconds(1), seconds(1));
  Result<void> result = factory_.Run();
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().message(), "first");
  EXPECT_EQ(loop->monotonic_now(), kEpoch + seconds(1));
  // The next run starts with a clean status.
  TimerHandler *ok_exit = loop->AddTimer([&]() { factory_.Exit(); });
  timer->Disable();
  ok_exit->Schedule(kEpoch + seconds(3));
  EXPECT_TRUE(factory_.Run().has_value());
}

// Timing reports are on by default and SkipTimingReport() on the factory
// turns them off in a single-node configuration too (design decision 7).
TEST_F(SimulatedEventLoopTest, TimingReportsAndFactorySkip) {
  auto reporter = factory_.MakeEventLoop("reporter");
  factory_.SkipTimingReport();
  auto quiet = factory_.MakeEventLoop("quiet");
  auto reader = factory_.MakeEventLoop("reader");
  std::vector<std::string> names;
  reader->MakeWatcher("/aos", [&](const timing::Report &report) {
    names.push_back(report.name()->str());
  });
  CheckExpected(factory_.RunFor(milliseconds(2500)));
  EXPECT_EQ(names, (std::vector<std::string>{"reporter", "reporter"}));
}

// Each node hands its loops synthetic pids in creation order, so reports are
// the same in every process.
TEST_F(SimulatedEventLoopTest, TimingReportPids) {
  auto reader = factory_.MakeEventLoop("reader");
  auto first = factory_.MakeEventLoop("first");
  auto second = factory_.MakeEventLoop("second");
  std::vector<std::pair<std::string, int>> reports;
  reader->MakeWatcher("/aos", [&](const timing::Report &report) {
    reports.emplace_back(report.name()->str(), report.pid());
  });
  CheckExpected(factory_.RunFor(milliseconds(1500)));
  EXPECT_EQ(reports, (std::vector<std::pair<std::string, int>>{{"first", 2},
                                                               {"second", 3}}));
}

// Messages are verified against the channel's schema when it has one: a
// corrupt message dies at the sender, naming the channel and the loop.
TEST_F(SimulatedEventLoopDeathTest, SentMessagesVerifyAgainstTheSchema) {
  std::ifstream file(AOS_TEST_MESSAGE_BFBS, std::ios::binary);
  ASSERT_TRUE(file.good()) << AOS_TEST_MESSAGE_BFBS;
  const std::vector<FlatbufferVector<reflection::Schema>> schemas = {
      FlatbufferVector<reflection::Schema>(
          std::vector<uint8_t>(std::istreambuf_iterator<char>(file), {}))};
  const FlatbufferDetachedBuffer<Configuration> config =
      configuration::AddSchema(kSingleNodeConfig, schemas);
  SimulatedEventLoopFactory factory(&config.message());
  factory.SkipTimingReport();
  auto loop = factory.MakeEventLoop("corrupter");
  auto sender = loop->MakeSender<TestMessage>("/test");
  auto raw_sender = loop->MakeRawSender(sender.channel());
  SendValue(&sender, 1);
  // A table whose root offset points past the end.
  const uint8_t corrupt[8] = {0xff, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_DEATH((void)raw_sender->Send(corrupt, sizeof(corrupt)),
               "Sent a message on \\{ \"name\": \"/test\", \"type\": "
               "\"aos.TestMessage\".* from event loop corrupter that does not "
               "verify against the channel's schema \\(8 bytes are not a "
               "valid aos.TestMessage\\)");
  // Without a schema nothing is checked (most test configurations).
  auto unchecked_loop = factory_.MakeEventLoop("unchecked");
  auto unchecked = unchecked_loop->MakeRawSender(configuration::GetChannel(
      &config_.message(), "/test", "aos.TestMessage", "", nullptr));
  EXPECT_EQ(unchecked->Send(corrupt, sizeof(corrupt)), RawSender::Error::kOk);
  // Nor with --nosimulation_verify_messages (for senders made after it).
  FLAGS_simulation_verify_messages = false;
  auto unverified = loop->MakeRawSender(sender.channel());
  FLAGS_simulation_verify_messages = true;
  EXPECT_EQ(unverified->Send(corrupt, sizeof(corrupt)), RawSender::Error::kOk);
}

// Loops made inside AllowApplicationCreationDuring while running start at
// once and together; the others are stopped meanwhile.
TEST_F(SimulatedEventLoopTest, AllowApplicationCreationDuring) {
  factory_.SkipTimingReport();
  auto driver = factory_.MakeEventLoop("driver");
  std::unique_ptr<EventLoop> talker, listener;
  std::optional<Sender<TestMessage>> talker_sender;
  std::vector<monotonic_clock::time_point> on_run, heard;
  bool driver_running_inside = true;
  TimerHandler *timer = driver->AddTimer([&]() {
    factory_.AllowApplicationCreationDuring([&]() {
      driver_running_inside = driver->is_running();
      talker = factory_.MakeEventLoop("talker");
      talker_sender = talker->MakeSender<TestMessage>("/test");
      // Sends from its OnRun, which the loop made after it still hears.
      talker->OnRun([&]() {
        on_run.push_back(talker->monotonic_now());
        SendValue(&*talker_sender, 5);
      });
      listener = factory_.MakeEventLoop("listener");
      listener->MakeWatcher("/test", [&](const TestMessage &message) {
        EXPECT_EQ(message.value(), 5);
        heard.push_back(listener->monotonic_now());
      });
    });
    EXPECT_TRUE(driver->is_running());
  });
  timer->Schedule(kEpoch + seconds(1));
  CheckExpected(factory_.RunFor(seconds(2)));
  EXPECT_FALSE(driver_running_inside) << "the world stops inside";
  EXPECT_EQ(on_run,
            std::vector<monotonic_clock::time_point>{kEpoch + seconds(1)});
  EXPECT_EQ(heard, std::vector<monotonic_clock::time_point>{
                       kEpoch + seconds(1) + microseconds(50)});
  // Between runs it just calls the function.
  int calls = 0;
  factory_.AllowApplicationCreationDuring([&]() { ++calls; });
  EXPECT_EQ(calls, 1);
}

TEST_F(SimulatedEventLoopDeathTest, AllowApplicationCreationDuringFromOnRun) {
  factory_.SkipTimingReport();
  auto loop = factory_.MakeEventLoop("starter");
  loop->OnRun([&]() { factory_.AllowApplicationCreationDuring([]() {}); });
  EXPECT_DEATH((void)factory_.Run(),
               "AllowApplicationCreationDuring called from an OnRun callback "
               "of starter");
}

// A wall clock the test moves: waits return at once, at their target.
class FakeWallClock final : public EventSchedulerScheduler::WallClock {
 public:
  monotonic_clock::time_point Now() override { return now; }
  void WaitUntil(monotonic_clock::time_point time, internal::EPoll *) override {
    waits.push_back(time);
    now = time;
  }

  monotonic_clock::time_point now = kEpoch + seconds(1000);
  std::vector<monotonic_clock::time_point> waits;
};

// With a replay rate, an event at distributed time T of a run that started
// at (D0, W0) runs no earlier than wall time W0 + (T - D0) / rate, and a
// RunFor ends no earlier than its end's wall time.
TEST_F(SimulatedEventLoopTest, RealtimeReplayRate) {
  factory_.SkipTimingReport();
  FakeWallClock wall;
  factory_.scheduler_scheduler()->SetWallClock(&wall);
  auto loop = factory_.MakeEventLoop("loop");
  std::vector<monotonic_clock::time_point> fired_at;
  TimerHandler *timer = loop->AddTimer([&]() { fired_at.push_back(wall.now); });
  timer->Schedule(kEpoch + seconds(1), seconds(2));
  // As fast as possible by default: no waiting.
  CheckExpected(factory_.RunFor(milliseconds(500)));
  EXPECT_TRUE(wall.waits.empty());

  factory_.SetRealtimeReplayRate(2.0);
  const monotonic_clock::time_point start = wall.now;
  CheckExpected(factory_.RunFor(milliseconds(3500)));
  // Timers at 1 s and 3 s: 0.25 s and 1.25 s of wall time into the run
  // (which started at 0.5 s); the run ends at 4 s, 1.75 s in.
  EXPECT_EQ(wall.waits,
            (std::vector<monotonic_clock::time_point>{
                start + milliseconds(250), start + milliseconds(1250),
                start + milliseconds(1750)}));
  EXPECT_EQ(fired_at,
            (std::vector<monotonic_clock::time_point>{
                start + milliseconds(250), start + milliseconds(1250)}));
  // Each run starts its own reference: a wall clock that ran ahead (a slow
  // handler) is not caught up with by rushing.
  wall.now += seconds(10);
  wall.waits.clear();
  const monotonic_clock::time_point third_start = wall.now;
  CheckExpected(factory_.RunFor(milliseconds(500)));
  EXPECT_EQ(wall.waits, (std::vector<monotonic_clock::time_point>{
                            third_start + milliseconds(250)}));
  factory_.scheduler_scheduler()->SetWallClock(nullptr);
}

TEST_F(SimulatedEventLoopDeathTest, RealtimeReplayRateMustBePositive) {
  EXPECT_DEATH(factory_.SetRealtimeReplayRate(0.0),
               "the replay rate must be positive");
  EXPECT_DEATH(factory_.SetRealtimeReplayRate(-1.0),
               "the replay rate must be positive");
}

// While a paced run waits for the wall clock it serves scheduler_epoll()'s
// descriptors, which may end the run.
TEST_F(SimulatedEventLoopTest, SchedulerEpollDuringPacedRuns) {
  factory_.SkipTimingReport();
  auto loop = factory_.MakeEventLoop("loop");
  bool timer_fired = false;
  TimerHandler *timer = loop->AddTimer([&]() { timer_fired = true; });
  timer->Schedule(kEpoch + seconds(100));
  const int fd = eventfd(1, EFD_NONBLOCK);
  ASSERT_GE(fd, 0);
  bool served = false;
  factory_.scheduler_epoll()->OnReadable(fd, [&]() {
    uint64_t value;
    ASSERT_EQ(read(fd, &value, sizeof(value)),
              static_cast<ssize_t>(sizeof(value)));
    served = true;
    factory_.Exit();
  });
  factory_.SetRealtimeReplayRate(1.0);
  CheckExpected(factory_.RunFor(seconds(200)));
  EXPECT_TRUE(served);
  EXPECT_FALSE(timer_fired) << "the run ended while waiting for the timer";
  EXPECT_LT(factory_.distributed_now(),
            distributed_clock::epoch() + seconds(100));
  factory_.scheduler_epoll()->DeleteFd(fd);
  close(fd);
}

// CheckSentTooFast::kNo loops may exceed the rate; their messages still
// count against everyone else's.
TEST_F(SimulatedEventLoopTest, CheckSentTooFastOption) {
  factory_.SkipTimingReport();
  NodeEventLoopFactory *node = factory_.GetNodeEventLoopFactory(nullptr);
  auto strict = node->MakeEventLoop("strict");
  auto lax = node->MakeEventLoop(
      "lax",
      EventLoopOptions{CheckSentTooFast::kNo, ExclusiveSenders::kNo, {}});
  auto strict_sender = strict->MakeSender<TestMessage>("/slow");
  auto lax_sender = lax->MakeSender<TestMessage>("/slow");
  // /slow holds 2 messages per second.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(TrySendValue(&lax_sender, i), RawSender::Error::kOk);
  }
  EXPECT_EQ(TrySendValue(&strict_sender, 9),
            RawSender::Error::kMessagesSentTooFast);
  CheckExpected(factory_.RunFor(seconds(1)));
  EXPECT_EQ(TrySendValue(&strict_sender, 9), RawSender::Error::kOk);
}

// A fetcher more than a queue behind dies in FetchNext, naming the channel.
TEST_F(SimulatedEventLoopDeathTest, FetchNextFallingBehind) {
  factory_.SkipTimingReport();
  auto loop = factory_.MakeEventLoop("loop");
  auto sender = loop->MakeSender<TestMessage>("/slow");
  auto fetcher = loop->MakeFetcher<TestMessage>("/slow");
  SendValue(&sender, 1);
  SendValue(&sender, 2);
  CheckExpected(factory_.RunFor(seconds(1)));
  SendValue(&sender, 3);
  SendValue(&sender, 4);
  EXPECT_DEATH(fetcher.FetchNext(),
               "The next message is no longer available.*\"/slow\"");
  // Fetch() recovers by jumping to the newest.
  ASSERT_TRUE(fetcher.Fetch());
  EXPECT_EQ(fetcher->value(), 4);
}

TEST_F(SimulatedEventLoopDeathTest, ExclusiveSenders) {
  factory_.SkipTimingReport();
  NodeEventLoopFactory *node = factory_.GetNodeEventLoopFactory(nullptr);
  auto replay = node->MakeEventLoop(
      "replay",
      EventLoopOptions{CheckSentTooFast::kYes, ExclusiveSenders::kYes, {}});
  auto other = node->MakeEventLoop("other");
  {
    auto exclusive = replay->MakeSender<TestMessage>("/test");
    EXPECT_DEATH(other->MakeSender<TestMessage>("/test"),
                 "Attempted to create a new sender on exclusive channel "
                 "\\{ \"name\": \"/test\"");
  }
  // Exclusivity ends with the exclusive sender.
  auto sender = other->MakeSender<TestMessage>("/test");
  EXPECT_DEATH(replay->MakeSender<TestMessage>("/test"),
               "exclusive sender on \\{ \"name\": \"/test\".*already has "
               "senders");
}

TEST_F(SimulatedEventLoopDeathTest, MakingLoops) {
  FlatbufferDetachedBuffer<Configuration> multi_node =
      configuration::ReadConfig(AOS_SIM_TESTDATA_DIR "/sim_multinode.json");
  EXPECT_DEATH(factory_.MakeEventLoop(
                   "x", configuration::GetNode(&multi_node.message(), "pi1")),
               "multi-node event loop in a single-node world");
  auto loop = factory_.MakeEventLoop("loop");
  loop->SkipTimingReport();
  loop->OnRun([&]() { factory_.MakeEventLoop("late"); });
  EXPECT_DEATH((void)factory_.Run(),
               "Can't create an event loop while running");
}

FlatbufferDetachedBuffer<Configuration> MultiNodeConfig() {
  return configuration::ReadConfig(AOS_SIM_TESTDATA_DIR "/sim_multinode.json");
}

class SimulatedMultiNodeTest : public ::testing::Test {
 protected:
  SimulatedMultiNodeTest()
      : config_(MultiNodeConfig()),
        pi1_(configuration::GetNode(&config_.message(), "pi1")),
        pi2_(configuration::GetNode(&config_.message(), "pi2")) {}

  // A factory on config_ whose clocks follow time_ (which the test sets up
  // first), sending no timing reports.
  std::unique_ptr<SimulatedEventLoopFactory> MakeFactory() {
    auto factory =
        std::make_unique<SimulatedEventLoopFactory>(&config_.message());
    factory->SetTimeConverter(&time_);
    factory->SkipTimingReport();
    return factory;
  }

  FlatbufferDetachedBuffer<Configuration> config_;
  const Node *const pi1_;
  const Node *const pi2_;
  message_bridge::TestingTimeConverter time_{2};
};

using SimulatedMultiNodeDeathTest = SimulatedMultiNodeTest;

// Nodes are sorted by name, each has its own clock (offset and drift from
// the time converter) and boot UUID, and a node whose clock starts before
// the epoch boots when it reaches it.
TEST_F(SimulatedMultiNodeTest, ClocksOffsetsAndStaggeredBoot) {
  // pi2 reads -1 s at the start and runs 1 ms per second fast.
  time_.AddNextTimestamp(distributed_clock::epoch(),
                         {{0, kEpoch}, {0, kEpoch - seconds(1)}});
  time_.AddNextTimestamp(
      distributed_clock::epoch() + seconds(10),
      {{0, kEpoch + seconds(10)}, {0, kEpoch + seconds(9) + milliseconds(10)}});
  std::unique_ptr<SimulatedEventLoopFactory> factory = MakeFactory();
  ASSERT_EQ(factory->node_factories().size(), 2u);
  EXPECT_EQ(factory->node_factories()[0]->node()->name()->string_view(), "pi1");
  NodeEventLoopFactory *pi1 = factory->GetNodeEventLoopFactory(pi1_);
  NodeEventLoopFactory *pi2 = factory->GetNodeEventLoopFactory("pi2");
  EXPECT_NE(pi1->boot_uuid(), pi2->boot_uuid());

  auto loop1 = pi1->MakeEventLoop("a");
  auto loop2 = pi2->MakeEventLoop("b");
  distributed_clock::time_point started1 = distributed_clock::min_time;
  distributed_clock::time_point started2 = distributed_clock::min_time;
  loop1->OnRun([&]() { started1 = factory->distributed_now(); });
  loop2->OnRun([&]() {
    started2 = factory->distributed_now();
    EXPECT_EQ(loop2->monotonic_now(), kEpoch);
  });
  CheckExpected(factory->RunFor(milliseconds(500)));
  EXPECT_EQ(started1, distributed_clock::epoch());
  EXPECT_EQ(started2, distributed_clock::min_time) << "pi2 is not up yet";
  EXPECT_FALSE(pi2->is_up());
  CheckExpected(factory->RunFor(seconds(2)));
  EXPECT_TRUE(pi2->is_up());
  // pi2 reached its epoch a little before 1 s: it runs fast.
  EXPECT_GT(started2, distributed_clock::epoch() + milliseconds(998));
  EXPECT_LT(started2, distributed_clock::epoch() + seconds(1));
  CheckExpected(factory->RunFor(milliseconds(7500)));
  EXPECT_EQ(pi1->monotonic_now(), kEpoch + seconds(10));
  EXPECT_EQ(pi2->monotonic_now(), kEpoch + seconds(9) + milliseconds(10));
  EXPECT_EQ(pi2->ToDistributedClock(kEpoch + seconds(9) + milliseconds(10)),
            distributed_clock::epoch() + seconds(10));
}

// An application that keeps its loop and counts its runs.
struct CountingApp {
  CountingApp(EventLoop *event_loop, int *starts) : event_loop(event_loop) {
    event_loop->OnRun([starts]() { ++*starts; });
  }
  EventLoop *event_loop;
};

// AlwaysStart runs everywhere, MaybeStart only where the configuration
// lists the application, Stop ends one for good.
TEST_F(SimulatedMultiNodeTest, Applications) {
  SimulatedEventLoopFactory factory(&config_.message());
  factory.SkipTimingReport();
  NodeEventLoopFactory *pi1 = factory.GetNodeEventLoopFactory(pi1_);
  NodeEventLoopFactory *pi2 = factory.GetNodeEventLoopFactory(pi2_);
  int starts = 0;
  CountingApp *always = pi1->AlwaysStart<CountingApp>("always", &starts);
  ASSERT_NE(always, nullptr);
  EXPECT_EQ(always->event_loop->name(), "always");
  EXPECT_EQ(pi1->MaybeStart<CountingApp>("pong", &starts), nullptr);
  CountingApp *pong = pi2->MaybeStart<CountingApp>("pong", &starts);
  ASSERT_NE(pong, nullptr);
  EXPECT_EQ(pong->event_loop->node(), pi2_);
  CheckExpected(factory.RunFor(seconds(1)));
  EXPECT_EQ(starts, 2);
  pi2->Stop(pong);
  CheckExpected(factory.RunFor(seconds(1)));
  EXPECT_EQ(starts, 2);
}

// A reboot runs OnShutdown, restarts the applications, clears the node's
// channels and draws a new boot UUID; OnStartup runs at every boot.
TEST_F(SimulatedMultiNodeTest, Reboot) {
  time_.StartEqual();
  time_.RebootAt(1, distributed_clock::epoch() + seconds(2));
  std::unique_ptr<SimulatedEventLoopFactory> factory = MakeFactory();
  NodeEventLoopFactory *pi2 = factory->GetNodeEventLoopFactory(pi2_);
  int startups = 0;
  int shutdowns = 0;
  pi2->OnStartup([&]() { ++startups; });
  pi2->OnShutdown([&]() { ++shutdowns; });
  int starts = 0;
  pi2->AlwaysStart<CountingApp>("app", &starts);
  const UUID first_boot = pi2->boot_uuid();
  {
    auto loop = pi2->MakeEventLoop("before");
    auto sender = loop->MakeSender<TestMessage>("/reply");
    SendValue(&sender, 1);
  }
  CheckExpected(factory->RunFor(seconds(1)));
  EXPECT_EQ(startups, 1);
  EXPECT_EQ(starts, 1);
  EXPECT_EQ(pi2->boot_count(), 0u);
  CheckExpected(factory->RunFor(seconds(2)));
  EXPECT_EQ(shutdowns, 1);
  EXPECT_EQ(startups, 2);
  EXPECT_EQ(starts, 2);
  EXPECT_EQ(pi2->boot_count(), 1u);
  EXPECT_NE(pi2->boot_uuid(), first_boot);
  EXPECT_EQ(pi2->monotonic_now(), kEpoch + seconds(1));
  auto after = pi2->MakeEventLoop("after");
  EXPECT_EQ(after->boot_uuid(), pi2->boot_uuid());
  auto fetcher = after->MakeFetcher<TestMessage>("/reply");
  EXPECT_FALSE(fetcher.Fetch()) << "messages do not survive a reboot";
}

// Counts live instances and how many were made.
struct InstanceCountingApp {
  InstanceCountingApp(EventLoop *event_loop, int *live, int *made)
      : live(live) {
    ++*live;
    ++*made;
    max_live = std::max(max_live, *live);
    // Upstream-style code sends at startup; two instances in one boot
    // would send twice as fast.
    sender = event_loop->MakeSender<TestMessage>("/reply");
    event_loop->OnRun([this]() { SendValue(&sender, 1); });
  }
  ~InstanceCountingApp() { --*live; }
  int *const live;
  Sender<TestMessage> sender;
  static int max_live;
};
int InstanceCountingApp::max_live = 0;

// Upstream starts an application at every boot by calling AlwaysStart from
// an OnStartup handler: that makes exactly one instance per boot, across
// reboots too (not one more at every boot).
TEST_F(SimulatedMultiNodeTest, AlwaysStartFromOnStartupOncePerBoot) {
  time_.StartEqual();
  time_.RebootAt(1, distributed_clock::epoch() + seconds(1));
  time_.RebootAt(1, distributed_clock::epoch() + seconds(2));
  std::unique_ptr<SimulatedEventLoopFactory> factory = MakeFactory();
  NodeEventLoopFactory *pi2 = factory->GetNodeEventLoopFactory(pi2_);
  InstanceCountingApp::max_live = 0;
  int live = 0, made = 0;
  pi2->OnStartup([&]() {
    ASSERT_NE(pi2->AlwaysStart<InstanceCountingApp>("app", &live, &made),
              nullptr);
  });
  // The usual way, for comparison: one instance per boot too.
  int plain_live = 0, plain_made = 0;
  pi2->AlwaysStart<InstanceCountingApp>("plain", &plain_live, &plain_made);
  CheckExpected(factory->RunFor(milliseconds(500)));
  EXPECT_EQ(made, 1);
  EXPECT_EQ(live, 1);
  CheckExpected(factory->RunFor(seconds(2)));
  EXPECT_EQ(pi2->boot_count(), 2u);
  EXPECT_EQ(made, 3) << "one per boot";
  EXPECT_EQ(live, 1);
  EXPECT_EQ(plain_made, 3);
  EXPECT_EQ(plain_live, 1);
  EXPECT_EQ(InstanceCountingApp::max_live, 1);
}

// An OnStartup handler added while the node is up runs at the next run
// (for this boot), and again at every later boot.
TEST_F(SimulatedMultiNodeTest, OnStartupAddedWhileUpRunsAtTheNextRun) {
  time_.StartEqual();
  time_.RebootAt(1, distributed_clock::epoch() + seconds(2));
  std::unique_ptr<SimulatedEventLoopFactory> factory = MakeFactory();
  NodeEventLoopFactory *pi2 = factory->GetNodeEventLoopFactory(pi2_);
  CheckExpected(factory->RunFor(seconds(1)));
  ASSERT_TRUE(pi2->is_up());
  int startups = 0;
  int live = 0, made = 0;
  pi2->OnStartup([&]() {
    ++startups;
    pi2->AlwaysStart<InstanceCountingApp>("late", &live, &made);
  });
  EXPECT_EQ(startups, 0) << "not while registering";
  CheckExpected(factory->RunFor(milliseconds(100)));
  EXPECT_EQ(startups, 1);
  EXPECT_EQ(made, 1);
  EXPECT_EQ(live, 1);
  CheckExpected(factory->RunFor(milliseconds(100)));
  EXPECT_EQ(startups, 1) << "once per boot";
  CheckExpected(factory->RunFor(seconds(1)));
  EXPECT_EQ(pi2->boot_count(), 1u);
  EXPECT_EQ(startups, 2);
  EXPECT_EQ(made, 2);
  EXPECT_EQ(live, 1);
}

// An event loop that is not an application must be gone at a reboot.
TEST_F(SimulatedMultiNodeDeathTest, LoopSurvivingReboot) {
  time_.StartEqual();
  time_.RebootAt(1, distributed_clock::epoch() + seconds(1));
  std::unique_ptr<SimulatedEventLoopFactory> factory = MakeFactory();
  auto loop = factory->MakeEventLoop("stubborn", pi2_);
  EXPECT_DEATH((void)factory->RunFor(seconds(2)),
               "Event loop stubborn on node pi2 still exists");
}

TEST_F(SimulatedMultiNodeDeathTest, NodeRules) {
  SimulatedEventLoopFactory factory(&config_.message());
  EXPECT_DEATH(factory.MakeEventLoop("x"),
               "Can't make a single node event loop in a multi-node world");
  EXPECT_DEATH(factory.GetNodeEventLoopFactory("pi9"), "no node named");
}

}  // namespace
}  // namespace aos::testing
