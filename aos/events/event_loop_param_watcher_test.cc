// Conformance tests (see event_loop_param_test.h) of watchers: what they
// see, no-arg watchers, their order with timers, and the watcher limit.

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

TEST_P(AbstractEventLoopTest, WatcherSeesOnlyMessagesFromRunOnInOrder) {
  auto loop1 = Make();
  auto primary = MakePrimary();
  auto sender = loop1->MakeSender<TestMessage>("/test");
  std::vector<int> values;
  std::vector<uint32_t> queue_indices;
  primary->MakeWatcher("/test", [&](const TestMessage &message) {
    values.push_back(message.value());
    const Context &context = primary->context();
    queue_indices.push_back(context.queue_index);
    EXPECT_EQ(context.size, primary->context().size);
    EXPECT_EQ(flatbuffers::GetRoot<TestMessage>(context.data)->value(),
              message.value());
    EXPECT_EQ(context.source_boot_uuid, primary->boot_uuid());
    if (pinned()) {
      EXPECT_GE(context.buffer_index, 0);
    } else {
      EXPECT_EQ(context.buffer_index, -1);
    }
    if (message.value() == 4) Exit();
  });
  SendValue(&sender, 100);  // Before Run: never delivered.
  primary->OnRun([&]() {
    for (int i = 1; i <= 4; ++i) SendValue(&sender, i);
  });
  ASSERT_TRUE(Run().has_value());
  EXPECT_THAT(values, ::testing::ElementsAre(1, 2, 3, 4));
  for (size_t i = 1; i < queue_indices.size(); ++i) {
    EXPECT_EQ(queue_indices[i], queue_indices[i - 1] + 1);
  }
  EXPECT_EQ(primary->context().data, nullptr) << "cleared after Run";
  EXPECT_EQ(primary->context().monotonic_event_time, monotonic_clock::min_time);
}

TEST_P(AbstractEventLoopTest, NoArgWatcherGetsContextWithoutData) {
  auto loop1 = Make();
  auto primary = MakePrimary();
  auto sender = loop1->MakeSender<TestMessage>("/test");
  int calls = 0;
  primary->MakeNoArgWatcher<TestMessage>("/test", [&]() {
    ++calls;
    EXPECT_EQ(primary->context().data, nullptr);
    EXPECT_EQ(primary->context().buffer_index, -1);
    EXPECT_GT(primary->context().size, 0u);
    EXPECT_EQ(primary->context().queue_index, sender.sent_queue_index());
    Exit();
  });
  primary->OnRun([&]() { SendValue(&sender, 5); });
  ASSERT_TRUE(Run().has_value());
  EXPECT_EQ(calls, 1);
}

// Watchers and timers run in the order of their event times.
TEST_P(AbstractEventLoopTest, WatchersAndTimersInterleaveByEventTime) {
  auto loop1 = Make();
  auto primary = MakePrimary();
  auto sender = loop1->MakeSender<TestMessage>("/test");
  std::vector<monotonic_clock::time_point> event_times;
  std::vector<std::string> events;
  int messages = 0;
  primary->MakeWatcher("/test", [&](const TestMessage &message) {
    event_times.push_back(primary->context().monotonic_event_time);
    events.push_back("message " + std::to_string(message.value()));
    if (++messages == 4) Exit();
  });
  TimerHandler *sending_timer = primary->AddTimer([&]() {
    event_times.push_back(primary->context().monotonic_event_time);
    events.push_back("timer");
    SendValue(&sender, static_cast<int>(events.size()));
  });
  primary->OnRun([&]() {
    sending_timer->Schedule(primary->monotonic_now() + milliseconds(1),
                            milliseconds(2));
  });
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(events.size(), 8u);
  EXPECT_TRUE(std::is_sorted(event_times.begin(), event_times.end()));
  for (size_t i = 0; i + 1 < events.size(); i += 2) {
    EXPECT_EQ(events[i], "timer");
    EXPECT_THAT(events[i + 1], ::testing::StartsWith("message "));
  }
}

TEST_P(AbstractEventLoopTest, TooManyWatchersIsAnErrorFromRun) {
  auto primary = MakePrimary();
  primary->MakeWatcher("/no_watchers", [](const TestMessage &) {});
  Result<void> result = Run();
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message(),
              ::testing::HasSubstr("\"name\": \"/no_watchers\""));
  EXPECT_THAT(result.error().message(),
              ::testing::HasSubstr("num_watchers (0)"));
  EXPECT_FALSE(primary->is_running());
}

}  // namespace aos::testing
