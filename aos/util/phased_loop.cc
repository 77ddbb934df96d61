#include "aos/util/phased_loop.h"

#include <time.h>

#include <cerrno>

#include "glog/logging.h"

namespace aos::time {

PhasedLoop::PhasedLoop(monotonic_clock::duration interval,
                       monotonic_clock::time_point monotonic_now,
                       monotonic_clock::duration offset)
    : interval_(interval), offset_(offset) {
  CheckIntervalAndOffset();
  Reset(monotonic_now);
}

void PhasedLoop::CheckIntervalAndOffset() const {
  CHECK_GT(interval_.count(), 0) << ": a phased loop needs a positive interval";
  CHECK_GE(offset_.count(), 0) << ": phased loop offset must be >= 0";
  CHECK_LT(offset_, interval_)
      << ": phased loop offset must be smaller than its interval";
}

void PhasedLoop::set_interval_and_offset(
    monotonic_clock::duration interval, monotonic_clock::duration offset,
    std::optional<monotonic_clock::time_point> monotonic_now) {
  // Shift the last wakeup into the new phase. Moving it later could make the
  // next Iterate() skip a cycle the caller expects, so when the offset grows
  // we step back a whole (old) interval instead.
  last_time_ += offset - offset_;
  if (offset > offset_) {
    last_time_ -= interval_;
  }
  interval_ = interval;
  offset_ = offset;
  CheckIntervalAndOffset();
  if (monotonic_now.has_value()) {
    // Not Reset(): the wakeup goes strictly after now, so a Reschedule(now)
    // right after this counts no cycle and the next call counts exactly 1.
    Iterate(*monotonic_now);
  }
}

monotonic_clock::duration PhasedLoop::OffsetFromIntervalAndTime(
    monotonic_clock::duration interval,
    monotonic_clock::time_point monotonic_trigger) {
  CHECK_GT(interval.count(), 0) << ": a phased loop needs a positive interval";
  // Floor modulo, so a trigger before the epoch gives an offset in
  // [0, interval) too (upstream returned `interval` itself for a negative
  // multiple of it, which its own set_interval_and_offset rejects).
  monotonic_clock::duration offset =
      monotonic_trigger.time_since_epoch() % interval;
  if (offset < monotonic_clock::zero()) offset += interval;
  return offset;
}

void PhasedLoop::Reset(monotonic_clock::time_point monotonic_now) {
  // The first phase strictly after (now - interval) is the latest one at or
  // before now.
  Iterate(monotonic_now - interval_);
}

int PhasedLoop::Iterate(monotonic_clock::time_point monotonic_now) {
  // Floor (now - offset) to a multiple of interval, rounding towards negative
  // infinity so times before the epoch behave like any other.
  const monotonic_clock::duration shifted =
      monotonic_now.time_since_epoch() - offset_;
  monotonic_clock::duration remainder = shifted % interval_;
  if (remainder < monotonic_clock::zero()) {
    remainder += interval_;
  }
  monotonic_clock::time_point next =
      monotonic_clock::epoch() + (shifted - remainder) + offset_;
  // `next` is at or before now; the wakeup must be strictly after it.
  if (next <= monotonic_now) {
    next += interval_;
  }
  const int cycles = static_cast<int>((next - last_time_) / interval_);
  last_time_ = next;
  return cycles;
}

int PhasedLoop::SleepUntilNext() {
  const int cycles = Iterate(monotonic_clock::now());
  const struct timespec wakeup = to_timespec(last_time_);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wakeup, nullptr) ==
         EINTR) {
  }
  return cycles;
}

}  // namespace aos::time
