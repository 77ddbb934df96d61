// Conformance tests (see event_loop_param_test.h) of timers and phased
// loops: contexts, repeats, one-shots, disabling and rescheduling, and phased
// loop cycle counts.

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

TEST_P(AbstractEventLoopTest, TimerContextAndRepeats) {
  auto primary = MakePrimary();
  std::vector<monotonic_clock::time_point> fire_times;
  monotonic_clock::time_point base;
  TimerHandler *timer = primary->AddTimer([&]() {
    const Context &context = primary->context();
    fire_times.push_back(context.monotonic_event_time);
    EXPECT_EQ(context.realtime_event_time, realtime_clock::min_time);
    EXPECT_EQ(context.queue_index, 0xffffffffu);
    EXPECT_EQ(context.data, nullptr);
    EXPECT_EQ(context.size, 0u);
    EXPECT_EQ(context.buffer_index, -1);
    if (fire_times.size() == 4) Exit();
  });
  timer->set_name("repeating");
  EXPECT_EQ(timer->name(), "repeating");
  EXPECT_TRUE(timer->IsDisabled());
  primary->OnRun([&]() {
    base = primary->monotonic_now() + milliseconds(1);
    timer->Schedule(base, milliseconds(2));
    EXPECT_FALSE(timer->IsDisabled());
  });
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(fire_times.size(), 4u);
  EXPECT_EQ(fire_times[0], base);
  for (size_t i = 1; i < fire_times.size(); ++i) {
    // Skipped repetitions are allowed on a loaded machine; off-phase ones
    // are not.
    EXPECT_GT(fire_times[i], fire_times[i - 1]);
    EXPECT_EQ((fire_times[i] - base) % milliseconds(2), milliseconds(0));
  }
  EXPECT_FALSE(timer->IsDisabled()) << "a repeating timer stays enabled";
}

TEST_P(AbstractEventLoopTest, OneShotTimerInThePastFiresOnceAndDisables) {
  auto primary = MakePrimary();
  int fired = 0;
  TimerHandler *timer = primary->AddTimer([&]() {
    ++fired;
    EXPECT_EQ(primary->context().monotonic_event_time,
              monotonic_clock::epoch() + std::chrono::seconds(1));
  });
  TimerHandler *exit_timer = primary->AddTimer([&]() { Exit(); });
  primary->OnRun([&]() {
    timer->Schedule(monotonic_clock::epoch() + std::chrono::seconds(1));
    exit_timer->Schedule(primary->monotonic_now() + milliseconds(5));
  });
  ASSERT_TRUE(Run().has_value());
  EXPECT_EQ(fired, 1);
  EXPECT_TRUE(timer->IsDisabled());
}

TEST_P(AbstractEventLoopTest, ScheduleBeforeRunWorks) {
  auto primary = MakePrimary();
  int fired = 0;
  TimerHandler *timer = primary->AddTimer([&]() {
    ++fired;
    Exit();
  });
  timer->Schedule(primary->monotonic_now() + milliseconds(1));
  ASSERT_TRUE(Run().has_value());
  EXPECT_EQ(fired, 1);
}

// Disabling works from the timer's own callback and from another timer due
// at the same time.
TEST_P(AbstractEventLoopTest, DisableFromCallbacks) {
  auto primary = MakePrimary();
  int self_disabled_calls = 0;
  int victim_calls = 0;
  TimerHandler *self_disabling = nullptr;
  self_disabling = primary->AddTimer([&]() {
    ++self_disabled_calls;
    self_disabling->Disable();
  });
  TimerHandler *victim = primary->AddTimer([&]() { ++victim_calls; });
  TimerHandler *killer = primary->AddTimer([&]() { victim->Disable(); });
  TimerHandler *exit_timer = primary->AddTimer([&]() { Exit(); });
  primary->OnRun([&]() {
    const monotonic_clock::time_point now = primary->monotonic_now();
    self_disabling->Schedule(now + milliseconds(1), milliseconds(1));
    // Same time: the killer was scheduled first, so it runs first.
    killer->Schedule(now + milliseconds(2));
    victim->Schedule(now + milliseconds(2), milliseconds(1));
    exit_timer->Schedule(now + milliseconds(10));
  });
  ASSERT_TRUE(Run().has_value());
  EXPECT_EQ(self_disabled_calls, 1);
  EXPECT_EQ(victim_calls, 0);
  EXPECT_TRUE(self_disabling->IsDisabled());
  EXPECT_TRUE(victim->IsDisabled());
}

TEST_P(AbstractEventLoopTest, RescheduleFromOwnCallbackIsRespected) {
  auto primary = MakePrimary();
  std::vector<monotonic_clock::time_point> fire_times;
  TimerHandler *timer = nullptr;
  timer = primary->AddTimer([&]() {
    fire_times.push_back(primary->context().monotonic_event_time);
    if (fire_times.size() == 1) {
      // Replace the 1 s repeat by a one-shot 3 ms later.
      timer->Schedule(fire_times.back() + milliseconds(3));
    } else {
      Exit();
    }
  });
  primary->OnRun([&]() {
    timer->Schedule(primary->monotonic_now(), std::chrono::seconds(1));
  });
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(fire_times.size(), 2u);
  EXPECT_EQ(fire_times[1] - fire_times[0], milliseconds(3));
}

TEST_P(AbstractEventLoopTest, PhasedLoopCountsOneCyclePerInterval) {
  auto primary = MakePrimary();
  std::vector<int> counts;
  std::vector<monotonic_clock::time_point> times;
  PhasedLoopHandler *phased = primary->AddPhasedLoop(
      [&](int cycles) {
        counts.push_back(cycles);
        times.push_back(primary->context().monotonic_event_time);
        if (counts.size() == 4) Exit();
      },
      milliseconds(2), milliseconds(1));
  phased->set_name("phased");
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(counts.size(), 4u);
  for (size_t i = 0; i < counts.size(); ++i) {
    // More than 1 only if the loop woke up late, which a loaded machine may
    // do; never less.
    EXPECT_GE(counts[i], 1);
    EXPECT_EQ(times[i].time_since_epoch() % milliseconds(2), milliseconds(1))
        << "runs at offset + k * interval";
    if (i > 0) {
      EXPECT_GT(times[i], times[i - 1]);
    }
  }
}

// Rescheduling a phased loop far ahead is counted as the cycles it skips.
TEST_P(AbstractEventLoopTest, PhasedLoopRescheduleCountsSkippedCycles) {
  auto primary = MakePrimary();
  std::vector<int> counts;
  std::vector<monotonic_clock::time_point> times;
  monotonic_clock::time_point first_start;
  PhasedLoopHandler *phased = nullptr;
  phased = primary->AddPhasedLoop(
      [&](int cycles) {
        counts.push_back(cycles);
        times.push_back(primary->context().monotonic_event_time);
        if (counts.size() == 1) {
          first_start = primary->monotonic_now();
          phased->Reschedule(times.back() + milliseconds(10));
        } else {
          Exit();
        }
      },
      milliseconds(2));
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(counts.size(), 2u);
  // The next wakeup is the first phase strictly after the given time (or
  // later, if the callback itself overran it on a loaded machine).
  EXPECT_GE(times[1] - times[0], milliseconds(12));
  EXPECT_EQ((times[1] - times[0]) % milliseconds(2), milliseconds(0));
  if (first_start < times[0] + milliseconds(2)) {
    // Woken on time: the 5 intervals skipped count, plus the one it waited.
    EXPECT_GE(counts[1], 6);
  }
}

// set_interval_and_offset(interval, offset, now) then Reschedule(now)
// moves the loop to the new schedule's first phase after now, and that call
// counts 1 cycle (not 2: control loops integrate over the count).
TEST_P(AbstractEventLoopTest, PhasedLoopNewScheduleCountsOneCycle) {
  auto primary = MakePrimary();
  constexpr milliseconds kInterval(20);
  constexpr milliseconds kOffset(7);
  std::vector<int> counts;
  std::vector<monotonic_clock::time_point> times;
  std::vector<monotonic_clock::time_point> starts;
  counts.reserve(8);
  times.reserve(8);
  starts.reserve(8);
  monotonic_clock::time_point changed_at = monotonic_clock::max_time;
  PhasedLoopHandler *phased = nullptr;
  phased = primary->AddPhasedLoop(
      [&](int cycles) {
        if (primary->context().monotonic_event_time < changed_at) return;
        counts.push_back(cycles);
        times.push_back(primary->context().monotonic_event_time);
        starts.push_back(primary->monotonic_now());
        Exit();
      },
      milliseconds(50));
  TimerHandler *change = primary->AddTimer([&]() {
    const monotonic_clock::time_point now = primary->monotonic_now();
    changed_at = now;
    phased->set_interval_and_offset(kInterval, kOffset, now);
    phased->Reschedule(now);
  });
  primary->OnRun(
      [&]() { change->Schedule(primary->monotonic_now() + milliseconds(3)); });
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(counts.size(), 1u);
  // The first phase of the new schedule strictly after the change.
  EXPECT_GT(times[0], changed_at);
  EXPECT_LE(times[0], changed_at + kInterval);
  EXPECT_EQ(times[0].time_since_epoch() % kInterval, kOffset);
  if (starts[0] < times[0] + kInterval) {
    // Woken on time (always in simulation): exactly one cycle.
    EXPECT_EQ(counts[0], 1);
  }
}

}  // namespace aos::testing
