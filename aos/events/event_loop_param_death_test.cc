// Conformance death tests (see event_loop_param_test.h): programmer errors,
// each dying with a message naming the channel and the rule broken.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include "aos/events/event_loop_generated.h"
#include "aos/events/event_loop_param_test.h"
#include "aos/events/test_message_generated.h"
#include "aos/network/remote_message_generated.h"
#include "aos/realtime.h"
#include "glog/logging.h"
#include "gmock/gmock.h"

namespace aos::testing {

using std::chrono::milliseconds;

// --- Programmer errors: each dies naming the channel and the rule. ---

TEST_P(AbstractEventLoopDeathTest, MissingChannels) {
  auto loop = Make();
  EXPECT_DEATH(loop->MakeFetcher<TestMessage>("/missing"),
               "\\{ \"name\": \"/missing\", \"type\": \"aos.TestMessage\" "
               "\\} not found in config");
  EXPECT_DEATH(loop->MakeSender<TestMessage>("/missing"),
               "\"/missing\".*not found in config for");
  EXPECT_DEATH(loop->MakeWatcher("/missing", [](const TestMessage &) {}),
               "\"/missing\".*not found in config for application");
}

TEST_P(AbstractEventLoopDeathTest, WatcherAndSenderOnOneLoop) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/test");
  EXPECT_DEATH(loop->MakeWatcher("/test", [](const TestMessage &) {}),
               "\"/test\".*is already being used for sending");
  loop->MakeWatcher("/test1", [](const TestMessage &) {});
  EXPECT_DEATH(loop->MakeSender<TestMessage>("/test1"),
               "\"/test1\".*is already being used");
  EXPECT_DEATH(loop->MakeWatcher("/test1", [](const TestMessage &) {}),
               "\"/test1\".*only one watcher per channel");
  EXPECT_DEATH(loop->MakeNoArgWatcher<TestMessage>("/test1", []() {}),
               "\"/test1\".*only one watcher per channel");
}

TEST_P(AbstractEventLoopDeathTest, SendersAndWatchersWhileRunning) {
  EXPECT_DEATH(
      {
        auto primary = MakePrimary();
        primary->OnRun(
            [&]() { auto sender = primary->MakeSender<TestMessage>("/test"); });
        (void)Run();
      },
      "Cannot add new objects while running.*\"/test\"");
  EXPECT_DEATH(
      {
        auto primary = MakePrimary();
        primary->OnRun([&]() {
          primary->MakeWatcher("/test", [](const TestMessage &) {});
        });
        (void)Run();
      },
      "Cannot add new objects while running.*\"/test\"");
}

TEST_P(AbstractEventLoopDeathTest, TooBigMessages) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/small");
  auto raw = loop->MakeRawSender(loop->GetChannel<TestMessage>("/small"));
  std::vector<uint8_t> bytes(200, 0);
  EXPECT_DEATH((void)raw->Send(bytes.data(), bytes.size()),
               "Sent too big a message on \\{ \"name\": \"/small\"");
  EXPECT_DEATH(
      {
        Sender<TestMessage>::Builder builder = sender.MakeBuilder();
        builder.fbb()->CreateVector(bytes);
      },
      "Requested .* max size .*\"/small\"");
}

TEST_P(AbstractEventLoopDeathTest, OneBuilderAtATime) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/test");
  EXPECT_DEATH(
      {
        Sender<TestMessage>::Builder first = sender.MakeBuilder();
        first.MakeBuilder<TestMessage>().Finish();
        Sender<TestMessage>::Builder second = sender.MakeBuilder();
      },
      "May not have multiple active allocators on a single sender");
}

TEST_P(AbstractEventLoopDeathTest, InvalidJson) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/test");
  EXPECT_DEATH((void)sender.SendJson("{ \"valu\": 1 }"),
               "Invalid JSON for \\{ \"name\": \"/test\"");
}

TEST_P(AbstractEventLoopDeathTest, CheckOkOnSentTooFast) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/fast");
  const size_t queue_size =
      configuration::QueueSize(configuration(), sender.channel());
  EXPECT_DEATH(
      {
        for (size_t i = 0; i <= queue_size; ++i) {
          SendValue(&sender, static_cast<int>(i));
        }
      },
      "Messages were sent too fast on channel: \\{ \"name\": \"/fast\"");
}

TEST_P(AbstractEventLoopDeathTest, TooManySenders) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/one_sender");
  EXPECT_DEATH(loop->MakeSender<TestMessage>("/one_sender"),
               "Failed to create sender on \\{ \"name\": \"/one_sender\".*"
               "too many senders");
}

TEST_P(AbstractEventLoopDeathTest, TooManyReaders) {
  if (!pinned()) {
    GTEST_SKIP() << "only PIN channels limit readers";
  }
  auto loop = Make();
  std::vector<Fetcher<TestMessage>> fetchers;
  for (int i = 0; i < kPinReaders; ++i) {
    fetchers.push_back(loop->MakeFetcher<TestMessage>("/test"));
  }
  EXPECT_DEATH(loop->MakeFetcher<TestMessage>("/test"),
               "Failed to create reader on \\{ \"name\": \"/test\".*"
               "too many readers");
  // No-arg watchers take no pinning slot.
  loop->MakeNoArgWatcher<TestMessage>("/test", []() {});
}

// A fetcher that falls more than a queue behind must not pretend it kept up.
TEST_P(AbstractEventLoopDeathTest, FetchNextFallingBehind) {
  auto loop1 = Make();
  auto loop2 = Make();
  auto primary = MakePrimary();
  auto fetcher = loop2->MakeFetcher<TestMessage>("/fast");
  auto sender = loop1->MakeSender<TestMessage>("/fast");
  const size_t queue_size =
      configuration::QueueSize(configuration(), sender.channel());
  for (size_t i = 0; i < queue_size; ++i) {
    SendValue(&sender, static_cast<int>(i));
  }
  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_DEATH(
      {
        // Let the storage duration pass (on the loops' clock) so the queue
        // may move on, then overwrite everything the fetcher has not read.
        RunFor(configuration::ChannelStorageDuration(configuration(),
                                                     sender.channel()) +
               milliseconds(1));
        for (size_t i = 0; i < queue_size; ++i) {
          SendValue(&sender, static_cast<int>(i));
        }
        fetcher.FetchNext();
      },
      R"((behind.*"/fast"|"/fast".*behind))");
}

TEST_P(AbstractEventLoopDeathTest, ScheduleBeforeEpoch) {
  auto loop = Make();
  TimerHandler *timer = loop->AddTimer([]() {});
  timer->set_name("early");
  EXPECT_DEATH(
      timer->Schedule(monotonic_clock::epoch() - std::chrono::seconds(1)),
      "Timer \"early\" scheduled at -1.000000000sec");
}

TEST_P(AbstractEventLoopDeathTest, RawChannelFromAnotherConfig) {
  auto loop = Make();
  FlatbufferDetachedBuffer<Configuration> other =
      configuration::MergeWithConfig(configuration(), "{}");
  const Channel *foreign = configuration::GetChannel<TestMessage>(
      &other.message(), "/test", "", nullptr);
  ASSERT_NE(foreign, nullptr);
  EXPECT_DEATH(
      loop->MakeRawFetcher(foreign),
      "Channel pointer not found in configuration\\(\\)->channels\\(\\)");
}

TEST_P(AbstractEventLoopDeathTest, SettingsWhileRunning) {
  EXPECT_DEATH(
      {
        auto primary = MakePrimary();
        primary->OnRun([&]() { primary->SetRuntimeRealtimePriority(1); });
        (void)Run();
      },
      "Cannot set realtime priority while running");
  EXPECT_DEATH(
      {
        auto primary = MakePrimary();
        primary->OnRun([&]() { primary->SetVersionString("x"); });
        (void)Run();
      },
      "Can't do things that might alter the timing report while running");
}

}  // namespace aos::testing
