// Conformance tests (see event_loop_param_test.h) of Run() and Exit():
// OnRun, making objects while running, exit statuses, what runs at exit,
// and handlers of a realtime loop.

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

TEST_P(AbstractEventLoopTest, OnRunRunsInOrderWithTimerContext) {
  auto primary = MakePrimary();
  std::vector<int> order;
  primary->OnRun([&]() {
    order.push_back(1);
    EXPECT_TRUE(primary->is_running());
    EXPECT_NE(primary->context().monotonic_event_time,
              monotonic_clock::min_time);
    EXPECT_EQ(primary->context().queue_index, 0xffffffffu);
  });
  primary->OnRun([&]() {
    order.push_back(2);
    Exit();
  });
  EXPECT_FALSE(primary->is_running());
  ASSERT_TRUE(Run().has_value());
  EXPECT_FALSE(primary->is_running());
  EXPECT_THAT(order, ::testing::ElementsAre(1, 2));
}

// Fetchers and timers may be made while running.
TEST_P(AbstractEventLoopTest, FetchersAndTimersWhileRunning) {
  auto loop1 = Make();
  auto primary = MakePrimary();
  auto sender = loop1->MakeSender<TestMessage>("/test");
  Fetcher<TestMessage> fetcher;
  bool timer_fired = false;
  primary->OnRun([&]() {
    fetcher = primary->MakeFetcher<TestMessage>("/test");
    TimerHandler *timer = primary->AddTimer([&]() {
      timer_fired = true;
      SendValue(&sender, 9);
      ASSERT_TRUE(fetcher.FetchNext());
      EXPECT_EQ(fetcher->value(), 9);
      Exit();
    });
    timer->Schedule(primary->monotonic_now() + milliseconds(1));
  });
  ASSERT_TRUE(Run().has_value());
  EXPECT_TRUE(timer_fired);
}

TEST_P(AbstractEventLoopTest, ExitStatusFirstWins) {
  auto primary = MakePrimary();
  std::unique_ptr<ExitHandle> handle = factory_->MakeExitHandle();
  primary->OnRun([&]() {
    handle->Exit(MakeError("first"));
    handle->Exit(MakeError("second"));
  });
  Result<void> result = Run();
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().message(), "first");

  // A later Run starts over (OnRun callbacks do not run again) and
  // succeeds.
  TimerHandler *timer = primary->AddTimer([&]() { handle->Exit(); });
  timer->Schedule(primary->monotonic_now() + milliseconds(1));
  EXPECT_TRUE(Run().has_value());
  handle.reset();
}

// A plain Exit() is an exit status (success): an ExitHandle::Exit(error)
// later in the same callback does not override it.
TEST_P(AbstractEventLoopTest, PlainExitIsAStatus) {
  auto primary = MakePrimary();
  std::unique_ptr<ExitHandle> handle = factory_->MakeExitHandle();
  TimerHandler *timer = primary->AddTimer([&]() {
    Exit();
    handle->Exit(MakeError("too late"));
  });
  primary->OnRun([&]() { timer->Schedule(primary->monotonic_now()); });
  EXPECT_TRUE(Run().has_value());
  handle.reset();
}

// After Exit(), the other events due at that instant still run before Run()
// returns (as upstream's loop does); later ones do not.
TEST_P(AbstractEventLoopTest, ExitRunsWhatIsDueAtTheSameInstant) {
  auto primary = MakePrimary();
  std::vector<int> fired;
  fired.reserve(4);
  TimerHandler *first = primary->AddTimer([&]() {
    fired.push_back(1);
    Exit();
  });
  TimerHandler *second = primary->AddTimer([&]() { fired.push_back(2); });
  TimerHandler *later = primary->AddTimer([&]() { fired.push_back(3); });
  primary->OnRun([&]() {
    const monotonic_clock::time_point at =
        primary->monotonic_now() + milliseconds(1);
    first->Schedule(at);
    second->Schedule(at);
    later->Schedule(at + std::chrono::seconds(5));
  });
  ASSERT_TRUE(Run().has_value());
  EXPECT_THAT(fired, ::testing::ElementsAre(1, 2));
}

// Whether the calling thread is marked realtime, without changing it.
bool IsMarkedRealtime() {
  const bool marked = MarkRealtime(true);
  MarkRealtime(marked);
  return marked;
}

// Every handler of a loop with a realtime priority runs marked realtime (so
// --die_on_malloc catches allocations in them), in simulation as in shared
// memory; what the loop does for them (sends, scheduling) must not trip
// the guard.
TEST_P(AbstractEventLoopTest, HandlersOfARealtimeLoopAreMarkedRealtime) {
  const bool skip_realtime_scheduler = FLAGS_skip_realtime_scheduler;
  const bool skip_locking_memory = FLAGS_skip_locking_memory;
  // Marked realtime without needing CAP_SYS_NICE or locking the test's
  // memory.
  FLAGS_skip_realtime_scheduler = true;
  FLAGS_skip_locking_memory = true;
  auto loop1 = Make();
  auto other_sender = loop1->MakeSender<TestMessage>("/test");
  auto primary = MakePrimary();
  primary->SetRuntimeRealtimePriority(5);
  auto sender = primary->MakeSender<TestMessage>("/test1");
  bool on_run = false, timer = false, phased = false, watcher = false;
  TimerHandler *timer_handler =
      primary->AddTimer([&]() { timer = IsMarkedRealtime(); });
  primary->AddPhasedLoop(
      [&](int) {
        if (phased) return;
        phased = IsMarkedRealtime();
        SendValue(&sender, 1);
        SendValue(&other_sender, 2);
      },
      milliseconds(2));
  primary->MakeWatcher("/test", [&](const TestMessage &) {
    watcher = IsMarkedRealtime();
    Exit();
  });
  primary->OnRun([&]() {
    on_run = IsMarkedRealtime();
    timer_handler->Schedule(primary->monotonic_now());
  });
  const Result<void> result = Run();
  FLAGS_skip_realtime_scheduler = skip_realtime_scheduler;
  FLAGS_skip_locking_memory = skip_locking_memory;
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(on_run);
  EXPECT_TRUE(timer);
  EXPECT_TRUE(phased);
  EXPECT_TRUE(watcher);
  EXPECT_FALSE(IsMarkedRealtime()) << "not after Run()";
}

}  // namespace aos::testing
