// SimulatedEventLoop itself: construction and destruction, its start on
// its node's boot (OnRun callbacks), its timers and phased loops. Its
// senders, fetchers and watchers are in simulated_channel_endpoints.cc, the
// factories that make and run it in simulated_event_loop_factory.cc.

#include "aos/events/simulated_event_loop.h"

#include <algorithm>
#include <utility>

#include "aos/events/simulated_event_loop_internal.h"
#include "aos/realtime.h"
#include "glog/logging.h"

namespace aos {

namespace {

class SimulatedTimerHandler final : public TimerHandler,
                                    public EventScheduler::Event {
 public:
  SimulatedTimerHandler(SimulatedEventLoop *loop, std::function<void()> fn)
      : TimerHandler(loop, std::move(fn)), loop_(loop) {}
  ~SimulatedTimerHandler() override { loop_->scheduler()->Deschedule(this); }

  void Disable() override {
    loop_->scheduler()->Deschedule(this);
    disabled_ = true;
  }
  bool IsDisabled() override { return disabled_; }

  void Handle() override {
    const monotonic_clock::time_point event_time = time();
    if (repeat_offset_ > monotonic_clock::zero()) {
      // Rescheduled before the callback, so the callback may change it.
      loop_->scheduler()->Schedule(
          this, NextRepeat(event_time, repeat_offset_, loop_->monotonic_now()));
    } else {
      disabled_ = true;
    }
    const ScopedMarkRealtimeRestorer realtime(loop_->handlers_realtime());
    Call(event_time);
  }

 protected:
  void DoSchedule(monotonic_clock::time_point base,
                  monotonic_clock::duration repeat_offset) override {
    const ScopedNotRealtime not_realtime;
    repeat_offset_ = repeat_offset;
    disabled_ = false;
    loop_->scheduler()->Schedule(this, base);
  }

 private:
  SimulatedEventLoop *const loop_;
  monotonic_clock::duration repeat_offset_ = monotonic_clock::zero();
  bool disabled_ = true;
};

class SimulatedPhasedLoopHandler final : public PhasedLoopHandler,
                                         public EventScheduler::Event {
 public:
  SimulatedPhasedLoopHandler(SimulatedEventLoop *loop,
                             std::function<void(int)> fn,
                             monotonic_clock::duration interval,
                             monotonic_clock::duration offset)
      : PhasedLoopHandler(loop, std::move(fn), interval, offset), loop_(loop) {}
  ~SimulatedPhasedLoopHandler() override {
    loop_->scheduler()->Deschedule(this);
  }

  void Handle() override {
    const ScopedMarkRealtimeRestorer realtime(loop_->handlers_realtime());
    Call();
  }

 private:
  void Schedule(monotonic_clock::time_point sleep_time) override {
    const ScopedNotRealtime not_realtime;
    loop_->scheduler()->Schedule(this, sleep_time);
  }

  SimulatedEventLoop *const loop_;
};

}  // namespace

SimulatedEventLoop::SimulatedEventLoop(NodeEventLoopFactory *node,
                                       std::string_view name,
                                       EventLoopOptions options, int pid)
    : EventLoop(node->factory()->configuration()),
      node_(node),
      name_(name),
      options_(std::move(options)),
      pid_(pid) {
  ClearContext();
  if (node_->skip_timing_report_) SkipTimingReport();
  node_->event_loops_.push_back(this);
  // A loop made on a running node starts at the next run; the others start
  // with their node's boot.
  if (node_->is_up()) ScheduleStart();
}

SimulatedEventLoop::~SimulatedEventLoop() {
  set_is_running(false);
  scheduler()->Deschedule(&start_event_);
  DeleteAllEvents();
  auto it =
      std::find(node_->event_loops_.begin(), node_->event_loops_.end(), this);
  CHECK(it != node_->event_loops_.end());
  node_->event_loops_.erase(it);
  // Destroyed between its boot's two steps (by another node's startup):
  // nothing is left to start.
  std::erase(node_->starting_loops_, this);
}

void SimulatedEventLoop::ScheduleStart() {
  if (!start_event_.scheduled()) {
    scheduler()->Schedule(&start_event_, monotonic_now());
  }
}

void SimulatedEventLoop::RunOnRun() {
  const monotonic_clock::time_point now = monotonic_now();
  SimulatedEventLoopFactory *factory = node_->factory();
  const SimulatedEventLoop *outer = factory->in_on_run_;
  factory->in_on_run_ = this;
  // OnRun callbacks may register more; run those too.
  while (on_run_done_ < on_run_.size()) {
    SetTimerContext(now);
    const ScopedMarkRealtimeRestorer realtime(handlers_realtime());
    on_run_[on_run_done_++]();
  }
  factory->in_on_run_ = outer;
  ClearContext();
}

TimerHandler *SimulatedEventLoop::AddTimer(std::function<void()> callback) {
  return NewTimer(
      std::make_unique<SimulatedTimerHandler>(this, std::move(callback)));
}

PhasedLoopHandler *SimulatedEventLoop::AddPhasedLoop(
    std::function<void(int)> callback, monotonic_clock::duration interval,
    monotonic_clock::duration offset) {
  return NewPhasedLoop(std::make_unique<SimulatedPhasedLoopHandler>(
      this, std::move(callback), interval, offset));
}

void SimulatedEventLoop::OnRun(std::function<void()> on_run) {
  CHECK(!is_running()) << ": Cannot register OnRun callback while running.";
  on_run_.push_back(std::move(on_run));
  // Registered between runs on a started loop: it runs at the next run, as
  // with ShmEventLoop's next Run().
  if (started_) ScheduleStart();
}

}  // namespace aos
