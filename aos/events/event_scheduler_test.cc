#include "aos/events/event_scheduler.h"

#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"

namespace aos::testing {
namespace {

// Code spells distributed time points either way.
static_assert(std::is_same_v<distributed_clock::time_point,
                             std::chrono::time_point<distributed_clock>>);

using std::chrono::milliseconds;

// Records its name (and the node's time) into a shared trace when run.
class RecordingEvent final : public EventScheduler::Event {
 public:
  RecordingEvent(std::string name, EventScheduler *scheduler,
                 std::vector<std::string> *trace)
      : name_(std::move(name)), scheduler_(scheduler), trace_(trace) {}
  ~RecordingEvent() { scheduler_->Deschedule(this); }

  void Handle() override {
    std::ostringstream line;
    line << name_ << "@" << scheduler_->monotonic_now();
    trace_->push_back(line.str());
    if (on_handle) on_handle();
  }

  std::function<void()> on_handle;

 private:
  const std::string name_;
  EventScheduler *const scheduler_;
  std::vector<std::string> *const trace_;
};

class NoHooks final : public EventSchedulerScheduler::NodeHooks {
 public:
  void Startup() override { ++startups; }
  void Shutdown() override { ++shutdowns; }
  int startups = 0;
  int shutdowns = 0;
};

class EventSchedulerTest : public ::testing::Test {
 protected:
  EventSchedulerTest() { scheduler_scheduler_.AddNode(&scheduler_, &hooks_); }

  EventSchedulerScheduler scheduler_scheduler_;
  EventScheduler scheduler_{0, &scheduler_scheduler_};
  NoHooks hooks_;
  std::vector<std::string> trace_;
};

// Events run in time order; equal times in scheduling order.
TEST_F(EventSchedulerTest, OrdersByTimeThenSchedulingOrder) {
  const monotonic_clock::time_point e = monotonic_clock::epoch();
  RecordingEvent a("a", &scheduler_, &trace_), b("b", &scheduler_, &trace_),
      c("c", &scheduler_, &trace_), d("d", &scheduler_, &trace_);
  scheduler_.Schedule(&a, e + milliseconds(2));
  scheduler_.Schedule(&b, e + milliseconds(1));
  scheduler_.Schedule(&c, e + milliseconds(2));
  scheduler_.Schedule(&d, e + milliseconds(1));
  EXPECT_TRUE(scheduler_scheduler_.RunUntil(distributed_clock::max_time));
  EXPECT_EQ(trace_,
            (std::vector<std::string>{"b@0.001000000sec", "d@0.001000000sec",
                                      "a@0.002000000sec", "c@0.002000000sec"}));
  EXPECT_EQ(hooks_.startups, 1);
}

// Rescheduling moves an event (and puts it after others at its new time);
// descheduling removes it, even from the middle of the heap.
TEST_F(EventSchedulerTest, RescheduleAndDeschedule) {
  const monotonic_clock::time_point e = monotonic_clock::epoch();
  std::vector<std::unique_ptr<RecordingEvent>> events;
  for (int i = 0; i < 20; ++i) {
    events.push_back(std::make_unique<RecordingEvent>(std::to_string(i),
                                                      &scheduler_, &trace_));
    scheduler_.Schedule(events.back().get(), e + milliseconds(20 - i));
  }
  for (int i = 0; i < 20; i += 2) scheduler_.Deschedule(events[i].get());
  scheduler_.Schedule(events[19].get(), e + milliseconds(50));
  EXPECT_EQ(scheduler_.pending_events(), 10u);
  scheduler_scheduler_.RunUntil(distributed_clock::max_time);
  std::vector<std::string> names;
  for (const std::string &line : trace_) {
    names.push_back(line.substr(0, line.find('@')));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"17", "15", "13", "11", "9", "7",
                                             "5", "3", "1", "19"}));
}

// RunUntil runs events at the end time, not after, and leaves the clock at
// exactly the end time.
TEST_F(EventSchedulerTest, RunUntilEndsExactly) {
  const monotonic_clock::time_point e = monotonic_clock::epoch();
  RecordingEvent a("a", &scheduler_, &trace_), b("b", &scheduler_, &trace_);
  scheduler_.Schedule(&a, e + milliseconds(10));
  scheduler_.Schedule(&b, e + milliseconds(11));
  EXPECT_TRUE(scheduler_scheduler_.RunUntil(distributed_clock::epoch() +
                                            milliseconds(10)));
  EXPECT_EQ(trace_, std::vector<std::string>{"a@0.010000000sec"});
  EXPECT_EQ(scheduler_.monotonic_now(), e + milliseconds(10));
  EXPECT_TRUE(scheduler_scheduler_.RunUntil(distributed_clock::epoch() +
                                            milliseconds(15)));
  EXPECT_EQ(scheduler_.monotonic_now(), e + milliseconds(15));
  EXPECT_EQ(trace_.size(), 2u);
}

// Exit ends the run once what is due at its instant has run (an event in
// the past runs at the current time, so it is due), keeps the clock there,
// and leaves later events for the next run. ExitNow runs nothing more.
TEST_F(EventSchedulerTest, ExitAndPastEvents) {
  const monotonic_clock::time_point e = monotonic_clock::epoch();
  RecordingEvent a("a", &scheduler_, &trace_), b("b", &scheduler_, &trace_),
      c("c", &scheduler_, &trace_), d("d", &scheduler_, &trace_);
  a.on_handle = [&]() {
    scheduler_.Schedule(&b, e);
    scheduler_.Schedule(&c, e + milliseconds(6));
    scheduler_scheduler_.Exit();
  };
  scheduler_.Schedule(&a, e + milliseconds(5));
  EXPECT_FALSE(scheduler_scheduler_.RunUntil(distributed_clock::epoch() +
                                             milliseconds(100)));
  EXPECT_EQ(scheduler_.monotonic_now(), e + milliseconds(5));
  EXPECT_EQ(trace_,
            (std::vector<std::string>{"a@0.005000000sec", "b@0.005000000sec"}));

  c.on_handle = [&]() {
    scheduler_.Schedule(&d, e + milliseconds(6));
    scheduler_scheduler_.ExitNow();
  };
  EXPECT_FALSE(scheduler_scheduler_.RunUntil(distributed_clock::max_time));
  EXPECT_EQ(trace_.size(), 3u) << "d is due, but ExitNow ran nothing more";
  EXPECT_TRUE(scheduler_scheduler_.RunUntil(distributed_clock::max_time));
  EXPECT_EQ(trace_.back(), "d@0.006000000sec");
}

// Records boot transitions, and what each node sees of the others then.
class BootRecorder final : public EventSchedulerScheduler::NodeHooks {
 public:
  BootRecorder(std::string name, EventSchedulerScheduler *scheduler,
               std::vector<std::string> *trace)
      : name_(std::move(name)), scheduler_(scheduler), trace_(trace) {}
  void Startup() override { trace_->push_back(name_ + " startup"); }
  void Started() override {
    trace_->push_back(
        name_ +
        " started, node 0 up: " + (scheduler_->node_up(0) ? "yes" : "no") +
        ", node 1 up: " + (scheduler_->node_up(1) ? "yes" : "no"));
  }
  void Shutdown() override { trace_->push_back(name_ + " shutdown"); }

 private:
  const std::string name_;
  EventSchedulerScheduler *const scheduler_;
  std::vector<std::string> *const trace_;
};

// Every node whose boot starts at an instant boots (Startup) before any
// event of that instant and before any of them is Started, whatever the
// node order.
TEST(EventSchedulerSchedulerTest, EveryNodeBootsBeforeAnythingRunsAtThatTime) {
  EventSchedulerScheduler scheduler_scheduler;
  EventScheduler node0(0, &scheduler_scheduler), node1(1, &scheduler_scheduler);
  std::vector<std::string> trace;
  BootRecorder hooks0("node0", &scheduler_scheduler, &trace);
  BootRecorder hooks1("node1", &scheduler_scheduler, &trace);
  scheduler_scheduler.AddNode(&node0, &hooks0);
  scheduler_scheduler.AddNode(&node1, &hooks1);
  // An event of node 0 at the boot instant, scheduled before anything.
  RecordingEvent event("event", &node0, &trace);
  node0.Schedule(&event, monotonic_clock::epoch());
  EXPECT_TRUE(scheduler_scheduler.RunUntil(distributed_clock::epoch() +
                                           milliseconds(1)));
  EXPECT_EQ(trace, (std::vector<std::string>{
                       "node0 startup", "node1 startup",
                       "node0 started, node 0 up: yes, node 1 up: yes",
                       "node1 started, node 0 up: yes, node 1 up: yes",
                       "event@0.000000000sec"}));
}

// Upstream code writes BootTimestamp::epoch() + duration.
TEST(BootTimestampTest, EpochAndArithmetic) {
  const BootTimestamp epoch = BootTimestamp::epoch();
  EXPECT_EQ(epoch.boot, 0u);
  EXPECT_EQ(epoch.time, monotonic_clock::epoch());
  const BootTimestamp later = epoch + std::chrono::seconds(2);
  EXPECT_EQ(later.time_since_epoch(), std::chrono::seconds(2));
  EXPECT_EQ(later - std::chrono::seconds(2), epoch);
  BootTimestamp moved = later;
  moved -= std::chrono::seconds(1);
  moved += std::chrono::milliseconds(500);
  EXPECT_EQ(moved.time_since_epoch(), std::chrono::milliseconds(1500));
  EXPECT_LT(epoch, later);
  EXPECT_LT(later, (BootTimestamp{1, monotonic_clock::epoch()}));
  EXPECT_LT(BootTimestamp::min_time(), epoch);
  EXPECT_GT(BootTimestamp::max_time(), later);
}

}  // namespace
}  // namespace aos::testing
