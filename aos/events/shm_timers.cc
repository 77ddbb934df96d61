// ShmEventLoop's timers and phased loops: events of the loop's EventQueue,
// each with a timerfd that wakes the loop at its time.

#include "aos/events/shm_event_loop.h"
#include "aos/events/shm_event_loop_internal.h"

namespace aos {
namespace shm_event_loop_internal {

class ShmTimerHandler final : public TimerHandler, public EventLoopEvent {
 public:
  ShmTimerHandler(ShmEventLoop *event_loop, std::function<void()> fn)
      : TimerHandler(event_loop, std::move(fn)), event_loop_(event_loop) {
    // The timerfd only wakes the loop; the event queue decides what runs.
    event_loop_->epoll_.OnReadable(timerfd_.fd(),
                                   [this]() { timerfd_.Read(); });
  }

  ~ShmTimerHandler() override {
    event_loop_->events_->Remove(this);
    event_loop_->epoll_.DeleteFd(timerfd_.fd());
  }

  monotonic_clock::time_point HandleEvent(
      monotonic_clock::time_point) override {
    const monotonic_clock::time_point scheduled = event_time();
    const uint64_t generation = ++schedule_generation_;
    if (repeat_offset_ == monotonic_clock::zero()) {
      disabled_ = true;
    }
    const monotonic_clock::time_point end = Call(scheduled);
    // A Schedule() or Disable() from the callback has the last word.
    // Otherwise a repeating timer goes on from the first period boundary
    // after the callback ended (design decision 4: an overrun skips the
    // missed expirations instead of firing them late).
    if (generation == schedule_generation_ && !disabled_) {
      const monotonic_clock::time_point next =
          NextRepeat(scheduled, repeat_offset_, end);
      event_loop_->events_->Add(this, next);
      timerfd_.SetTime(next, monotonic_clock::zero());
    }
    return end;
  }

  void Disable() override {
    event_loop_->CheckCurrentThread("TimerHandler::Disable");
    ++schedule_generation_;
    event_loop_->events_->Remove(this);
    timerfd_.Disable();
    disabled_ = true;
  }

  bool IsDisabled() override {
    event_loop_->CheckCurrentThread("TimerHandler::IsDisabled");
    return disabled_;
  }

 private:
  void DoSchedule(monotonic_clock::time_point base,
                  monotonic_clock::duration repeat_offset) override {
    event_loop_->CheckCurrentThread("TimerHandler::Schedule");
    ++schedule_generation_;
    event_loop_->events_->Remove(this);
    repeat_offset_ = repeat_offset;
    disabled_ = false;
    event_loop_->events_->Add(this, base);
    timerfd_.SetTime(base, monotonic_clock::zero());
  }

  ShmEventLoop *const event_loop_;
  internal::TimerFd timerfd_;
  monotonic_clock::duration repeat_offset_ = monotonic_clock::zero();
  bool disabled_ = true;
  // Bumped by every Schedule/Disable, to notice them from inside the
  // callback.
  uint64_t schedule_generation_ = 0;
};

class ShmPhasedLoopHandler final : public PhasedLoopHandler,
                                   public EventLoopEvent {
 public:
  ShmPhasedLoopHandler(ShmEventLoop *event_loop, std::function<void(int)> fn,
                       monotonic_clock::duration interval,
                       monotonic_clock::duration offset)
      : PhasedLoopHandler(event_loop, std::move(fn), interval, offset),
        event_loop_(event_loop) {
    event_loop_->epoll_.OnReadable(timerfd_.fd(),
                                   [this]() { timerfd_.Read(); });
  }

  ~ShmPhasedLoopHandler() override {
    event_loop_->events_->Remove(this);
    event_loop_->epoll_.DeleteFd(timerfd_.fd());
  }

  monotonic_clock::time_point HandleEvent(
      monotonic_clock::time_point) override {
    return Call();
  }

 private:
  void Schedule(monotonic_clock::time_point sleep_time) override {
    event_loop_->CheckCurrentThread("Scheduling a phased loop");
    event_loop_->events_->Remove(this);
    event_loop_->events_->Add(this, sleep_time);
    timerfd_.SetTime(sleep_time, monotonic_clock::zero());
  }

  ShmEventLoop *const event_loop_;
  internal::TimerFd timerfd_;
};

}  // namespace shm_event_loop_internal

using shm_event_loop_internal::ShmPhasedLoopHandler;
using shm_event_loop_internal::ShmTimerHandler;

TimerHandler *ShmEventLoop::AddTimer(std::function<void()> callback) {
  CheckCurrentThread("AddTimer");
  return NewTimer(std::make_unique<ShmTimerHandler>(this, std::move(callback)));
}

PhasedLoopHandler *ShmEventLoop::AddPhasedLoop(
    std::function<void(int)> callback, monotonic_clock::duration interval,
    monotonic_clock::duration offset) {
  CheckCurrentThread("AddPhasedLoop");
  return NewPhasedLoop(std::make_unique<ShmPhasedLoopHandler>(
      this, std::move(callback), interval, offset));
}

}  // namespace aos
