// AOS_LOG through real event loops: shared memory (including the real-time
// allocation guard) and simulation.

#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/shm_event_loop.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/events/test_message_generated.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/logging/glog_capture.h"
#include "aos/logging/log_message.h"
#include "aos/logging/log_message_generated.h"
#include "aos/logging/logging.h"
#include "aos/realtime.h"
#include "aos/testing/tmpdir.h"
#include "gflags/gflags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::logging::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The shared /aos channels (with the log channel as shipped) plus a test
// channel.
FlatbufferDetachedBuffer<Configuration> AosConfig() {
  FlatbufferDetachedBuffer<Configuration> aos =
      configuration::ReadConfig(AOS_EVENTS_AOS_JSON);
  return configuration::MergeWithConfig(
      &aos.message(),
      R"({"channels": [{"name": "/test", "type": "aos.TestMessage"}]})");
}

FlatbufferDetachedBuffer<Configuration> ConfigFromJson(std::string_view json) {
  return configuration::MergeWithConfig(
      &FlatbufferDetachedBuffer<Configuration>::Empty().message(), json);
}

// A message as received, with its text as a string.
struct Received {
  std::string message;
  Level level;
  int source_pid;
  std::string name;
  uint64_t send_failures;
};

Received ToReceived(const LogMessageFbs &message) {
  return {message.message()->str(), message.level(), message.source_pid(),
          message.name()->str(), message.send_failures()};
}

std::vector<Received> FetchAll(Fetcher<LogMessageFbs> *fetcher) {
  std::vector<Received> received;
  while (fetcher->FetchNext()) received.push_back(ToReceived(**fetcher));
  return received;
}

std::vector<std::string> Texts(const std::vector<Received> &received) {
  std::vector<std::string> texts;
  for (const Received &r : received) {
    // Without the "file:line] " prefix.
    texts.push_back(r.message.substr(r.message.find("] ") + 2));
  }
  return texts;
}

void SendValue(Sender<TestMessage> *sender, int value) {
  Sender<TestMessage>::Builder builder = sender->MakeBuilder();
  TestMessage::Builder message = builder.MakeBuilder<TestMessage>();
  message.add_value(value);
  builder.CheckOk(builder.Send(message.Finish()));
}

// Each test on its own --shm_base, so no queue carries messages between
// tests.
class ShmLoggingTest : public ::testing::Test {
 protected:
  ShmLoggingTest() : previous_shm_base_(FLAGS_shm_base) {
    ipc_lib::SetShmBase(shm_dir_.path() + "/aos");
  }
  ~ShmLoggingTest() override { ipc_lib::SetShmBase(previous_shm_base_); }

 private:
  aos::testing::TempDir shm_dir_;
  const std::string previous_shm_base_;
};

TEST_F(ShmLoggingTest, EveryKindOfHandlerLogsOnTheChannel) {
  const FlatbufferDetachedBuffer<Configuration> config = AosConfig();
  ShmEventLoop other(&config.message());
  Fetcher<LogMessageFbs> fetcher = other.MakeFetcher<LogMessageFbs>("/aos");
  Sender<TestMessage> test_sender = other.MakeSender<TestMessage>("/test");

  ShmEventLoop logger(&config.message());
  logger.set_name("logger");
  bool phased_logged = false;
  bool watcher_logged = false;
  auto exit_when_done = [&]() {
    if (phased_logged && watcher_logged) logger.Exit();
  };
  logger.OnRun([&]() { AOS_LOG(ERROR, "on run"); });
  TimerHandler *timer = logger.AddTimer([&]() {
    AOS_LOG(WARNING, "timer %s", "fired");
    SendValue(&test_sender, 7);
  });
  logger.OnRun([&]() { timer->Schedule(logger.monotonic_now()); });
  logger.AddPhasedLoop(
      [&](int) {
        if (!phased_logged) AOS_LOG(DEBUG, "phased loop");
        phased_logged = true;
        exit_when_done();
      },
      std::chrono::milliseconds(1));
  logger.MakeWatcher("/test", [&](const TestMessage &message) {
    AOS_LOG(INFO, "watcher got %d", message.value());
    watcher_logged = true;
    exit_when_done();
  });

  GlogCapture glog;
  AOS_LOG(INFO, "before running");
  ASSERT_TRUE(logger.Run().has_value());
  AOS_LOG(INFO, "after running");

  const std::vector<Received> received = FetchAll(&fetcher);
  std::vector<std::string> texts = Texts(received);
  std::sort(texts.begin(), texts.end());
  EXPECT_THAT(texts, ElementsAre("on run", "phased loop", "timer fired",
                                 "watcher got 7"));
  for (const Received &r : received) {
    EXPECT_THAT(r.message, StartsWith("event_loop_logging_test.cc:"));
    EXPECT_EQ(r.name, "logger");
    // The main thread's id is the process id.
    EXPECT_EQ(r.source_pid, getpid());
    EXPECT_EQ(r.send_failures, 0u);
    const std::string text = r.message.substr(r.message.find("] ") + 2);
    const Level expected = text == "on run"        ? Level::ERROR
                           : text == "timer fired" ? Level::WARNING
                           : text == "phased loop" ? Level::DEBUG
                                                   : Level::INFO;
    EXPECT_EQ(r.level, expected) << text;
  }
  // Outside the handlers: glog.
  EXPECT_EQ(glog.Find("before running").size(), 1u);
  EXPECT_EQ(glog.Find("after running").size(), 1u);
  EXPECT_TRUE(glog.Find("watcher got").empty());
}

TEST_F(ShmLoggingTest, TheLogSenderIsInTheTimingReport) {
  const FlatbufferDetachedBuffer<Configuration> config = AosConfig();
  ShmEventLoop other(&config.message());
  Fetcher<timing::Report> reports = other.MakeFetcher<timing::Report>("/aos");
  ShmEventLoop logger(&config.message());
  TimerHandler *exit = logger.AddTimer([&]() {
    logger.SendTimingReport();
    logger.Exit();
  });
  logger.OnRun([&]() { exit->Schedule(logger.monotonic_now()); });
  ASSERT_TRUE(logger.Run().has_value());

  ASSERT_TRUE(reports.Fetch());
  const int log_channel = static_cast<int>(configuration::ChannelIndex(
      &config.message(), logger.GetChannel<LogMessageFbs>("/aos")));
  std::vector<int> sender_channels;
  for (const timing::Sender *sender : *reports->senders()) {
    sender_channels.push_back(sender->channel_index());
  }
  EXPECT_THAT(sender_channels, ::testing::Contains(log_channel));
}

TEST_F(ShmLoggingTest, SkipAosLogSendsToGlog) {
  const FlatbufferDetachedBuffer<Configuration> config = AosConfig();
  ShmEventLoop other(&config.message());
  Fetcher<LogMessageFbs> fetcher = other.MakeFetcher<LogMessageFbs>("/aos");
  ShmEventLoop logger(&config.message());
  logger.SkipAosLog();
  TimerHandler *timer = logger.AddTimer([&]() {
    AOS_LOG(WARNING, "skipped %d", 1);
    logger.Exit();
  });
  logger.OnRun([&]() { timer->Schedule(logger.monotonic_now()); });

  GlogCapture glog;
  ASSERT_TRUE(logger.Run().has_value());
  EXPECT_FALSE(fetcher.Fetch());
  const std::vector<GlogCapture::Entry> entries = glog.Find("skipped 1");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].severity, google::GLOG_WARNING);
  EXPECT_EQ(entries[0].base_filename, "event_loop_logging_test.cc");
}

TEST_F(ShmLoggingTest, WithoutTheChannelGoesToGlog) {
  const FlatbufferDetachedBuffer<Configuration> config = ConfigFromJson(
      R"({"channels": [{"name": "/test", "type": "aos.TestMessage"}]})");
  ShmEventLoop logger(&config.message());
  logger.SkipTimingReport();
  TimerHandler *timer = logger.AddTimer([&]() {
    AOS_LOG(ERROR, "no channel for %s", "me");
    logger.Exit();
  });
  logger.OnRun([&]() { timer->Schedule(logger.monotonic_now()); });

  GlogCapture glog;
  ASSERT_TRUE(logger.Run().has_value());
  const std::vector<GlogCapture::Entry> entries =
      glog.Find("no channel for me");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].severity, google::GLOG_ERROR);
}

// A loop watching the log channel (a tool that forgot SkipAosLog) cannot
// also send on it; its own messages go to glog instead of failing.
TEST_F(ShmLoggingTest, ALoopWatchingTheChannelLogsToGlog) {
  const FlatbufferDetachedBuffer<Configuration> config = AosConfig();
  ShmEventLoop watcher(&config.message());
  int watched = 0;
  watcher.MakeWatcher("/aos", [&](const LogMessageFbs &) { ++watched; });
  TimerHandler *timer = watcher.AddTimer([&]() {
    AOS_LOG(INFO, "watching myself");
    watcher.Exit();
  });
  watcher.OnRun([&]() { timer->Schedule(watcher.monotonic_now()); });

  GlogCapture glog;
  ASSERT_TRUE(watcher.Run().has_value());
  EXPECT_EQ(glog.Find("watching myself").size(), 1u);
  EXPECT_EQ(watched, 0);
}

TEST_F(ShmLoggingTest, LongMessagesAreTruncatedToTheChannel) {
  const FlatbufferDetachedBuffer<Configuration> config = AosConfig();
  const Channel *channel = configuration::GetChannel<LogMessageFbs>(
      &config.message(), "/aos", "", nullptr);
  ASSERT_NE(channel, nullptr);
  ShmEventLoop other(&config.message());
  Fetcher<LogMessageFbs> fetcher = other.MakeFetcher<LogMessageFbs>("/aos");
  ShmEventLoop logger(&config.message());
  const std::string long_text(3000, 'z');
  TimerHandler *timer = logger.AddTimer([&]() {
    AOS_LOG(INFO, "%s", long_text.c_str());
    logger.Exit();
  });
  logger.OnRun([&]() { timer->Schedule(logger.monotonic_now()); });
  ASSERT_TRUE(logger.Run().has_value());

  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_LE(fetcher.context().size, static_cast<size_t>(channel->max_size()));
  const std::string message = fetcher->message()->str();
  EXPECT_THAT(message, StartsWith("event_loop_logging_test.cc:"));
  const size_t prefix = message.find("] zzzz") + 2;
  ASSERT_NE(prefix, std::string::npos + 2);
  EXPECT_THAT(message,
              EndsWith("zz...[truncated, " +
                       std::to_string(prefix + long_text.size()) + " bytes]"));
  // As much text as the channel can carry.
  EXPECT_EQ(message.size(),
            LogTextCapacity(channel->max_size(), logger.name()));
}

// Restores the flags a test changes.
class RealtimeFlagSaver {
 public:
  ~RealtimeFlagSaver() {
    FLAGS_die_on_malloc = die_on_malloc_;
    FLAGS_skip_realtime_scheduler = skip_realtime_scheduler_;
    FLAGS_skip_locking_memory = skip_locking_memory_;
  }

 private:
  const bool die_on_malloc_ = FLAGS_die_on_malloc;
  const bool skip_realtime_scheduler_ = FLAGS_skip_realtime_scheduler;
  const bool skip_locking_memory_ = FLAGS_skip_locking_memory;
};

TEST_F(ShmLoggingTest, LoggingFromARealtimeWatcherAllocatesNothing) {
  if (!AllocationGuardAvailable()) {
    GTEST_SKIP() << "the allocation guard is off in sanitizer builds";
  }
  RealtimeFlagSaver flag_saver;
  // Count instead of dying, so a failure says how many allocations there
  // were; run "RT" without needing CAP_SYS_NICE.
  FLAGS_die_on_malloc = false;
  FLAGS_skip_realtime_scheduler = true;
  FLAGS_skip_locking_memory = true;

  const FlatbufferDetachedBuffer<Configuration> config = AosConfig();
  ShmEventLoop other(&config.message());
  Fetcher<LogMessageFbs> fetcher = other.MakeFetcher<LogMessageFbs>("/aos");
  Sender<TestMessage> test_sender = other.MakeSender<TestMessage>("/test");
  ShmEventLoop logger(&config.message());
  logger.SetRuntimeRealtimePriority(1);
  constexpr int kMessages = 100;
  uint64_t allocations_before = 0;
  uint64_t allocations_after = 0;
  int value = 0;
  TimerHandler *timer = logger.AddTimer([&]() {
    // The timer may fire again before the watcher saw the last message.
    if (value == kMessages) return;
    AOS_LOG(DEBUG, "sending %d", value);
    SendValue(&test_sender, value++);
  });
  logger.MakeWatcher("/test", [&](const TestMessage &message) {
    AOS_LOG(INFO, "watcher got %d of %s", message.value(), "many");
    if (message.value() == kMessages - 1) {
      allocations_after = RealtimeAllocationCount();
      timer->Disable();
      logger.Exit();
    }
  });
  logger.OnRun([&]() {
    allocations_before = RealtimeAllocationCount();
    timer->Schedule(logger.monotonic_now(), std::chrono::microseconds(200));
  });
  ASSERT_TRUE(logger.Run().has_value());

  EXPECT_EQ(allocations_after - allocations_before, 0u)
      << "heap allocations while logging from realtime handlers";
  const std::vector<Received> received = FetchAll(&fetcher);
  EXPECT_EQ(received.size(), 2u * kMessages);
  EXPECT_THAT(received.back().message, EndsWith("watcher got 99 of many"));
}

TEST(SimulatedLoggingTest, LoopsLogWithTheirNameAndSyntheticPid) {
  const FlatbufferDetachedBuffer<Configuration> config = AosConfig();
  SimulatedEventLoopFactory factory(&config.message());
  std::unique_ptr<EventLoop> reader = factory.MakeEventLoop("reader");
  Fetcher<LogMessageFbs> fetcher = reader->MakeFetcher<LogMessageFbs>("/aos");
  std::unique_ptr<EventLoop> ping = factory.MakeEventLoop("ping");
  std::unique_ptr<EventLoop> pong = factory.MakeEventLoop("pong");
  for (EventLoop *loop : {ping.get(), pong.get()}) {
    TimerHandler *timer = loop->AddTimer([loop]() {
      AOS_LOG(
          INFO, "%s at %.3f s", std::string(loop->name()).c_str(),
          time::DurationInSeconds(loop->monotonic_now().time_since_epoch()));
    });
    loop->OnRun([loop, timer]() {
      timer->Schedule(loop->monotonic_now(), std::chrono::milliseconds(500));
    });
  }
  GlogCapture glog;
  ASSERT_TRUE(factory.RunFor(std::chrono::milliseconds(1200)).has_value());

  const std::vector<Received> received = FetchAll(&fetcher);
  EXPECT_THAT(
      Texts(received),
      ElementsAre("ping at 0.000 s", "pong at 0.000 s", "ping at 0.500 s",
                  "pong at 0.500 s", "ping at 1.000 s", "pong at 1.000 s"));
  for (const Received &r : received) {
    EventLoop *loop = r.name == "ping" ? ping.get() : pong.get();
    EXPECT_EQ(r.source_pid, loop->GetTid()) << r.name;
  }
  EXPECT_NE(ping->GetTid(), pong->GetTid());
  // Between handlers, the simulation's thread logs to glog again.
  AOS_LOG(INFO, "from the test body");
  EXPECT_EQ(glog.Find("from the test body").size(), 1u);
  EXPECT_TRUE(glog.Find(" at 0.500 s").empty());
}

// Messages lost to a full channel are counted in the next one that gets
// through. Simulated, so "too fast" does not depend on the machine's speed.
TEST(SimulatedLoggingTest, SendFailuresAreCountedInTheNextMessage) {
  // One message per 100 ms.
  const FlatbufferDetachedBuffer<Configuration> config = ConfigFromJson(R"({
    "channels": [{"name": "/aos", "type": "aos.logging.LogMessageFbs",
                  "frequency": 10, "max_size": 512,
                  "channel_storage_duration": 100000000}]})");
  SimulatedEventLoopFactory factory(&config.message());
  factory.SkipTimingReport();
  // A watcher: a fetcher would fall behind this one-message queue.
  std::unique_ptr<EventLoop> reader = factory.MakeEventLoop("reader");
  std::vector<Received> received;
  reader->MakeWatcher("/aos", [&](const LogMessageFbs &message) {
    received.push_back(ToReceived(message));
  });
  std::unique_ptr<EventLoop> logger = factory.MakeEventLoop("logger");
  int calls = 0;
  TimerHandler *timer = logger->AddTimer([&]() {
    if (calls++ == 0) {
      AOS_LOG(INFO, "first");
      AOS_LOG(INFO, "lost");
      AOS_LOG(INFO, "lost too");
    } else {
      AOS_LOG(INFO, "later");
    }
  });
  logger->OnRun([&]() {
    timer->Schedule(logger->monotonic_now(), std::chrono::seconds(1));
  });
  ASSERT_TRUE(factory.RunFor(std::chrono::milliseconds(1500)).has_value());

  ASSERT_THAT(Texts(received), ElementsAre("first", "later"));
  EXPECT_EQ(received[0].send_failures, 0u);
  EXPECT_EQ(received[1].send_failures, 2u);
}

}  // namespace
}  // namespace aos::logging::testing
