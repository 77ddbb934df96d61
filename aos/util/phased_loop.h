#ifndef AOS_UTIL_PHASED_LOOP_H_
#define AOS_UTIL_PHASED_LOOP_H_

// PhasedLoop: the arithmetic of "run every `interval`, at `offset` past each
// multiple of it", independent of any event loop.
//
// Control loops want to run at fixed phases of the monotonic clock (e.g. at
// 0.1 s, 1.1 s, 2.1 s, ... for interval 1 s and offset 0.1 s) and to know how
// many cycles went by since they last ran, so a stall shows up as a count > 1
// instead of being silently caught up. PhasedLoop keeps the time of the next
// wakeup (sleep_time()); Iterate(now) moves it to the first phase strictly
// after `now` and returns how many intervals it moved.
//
//   PhasedLoop loop(std::chrono::milliseconds(10), monotonic_clock::now());
//   while (true) {
//     const int cycles = loop.SleepUntilNext();
//     RunControl(cycles);
//   }
//
// EventLoop::AddPhasedLoop wraps this for event-driven code.

#include <optional>

#include "aos/time/time.h"

namespace aos::time {

class PhasedLoop {
 public:
  // Fires at offset + k * interval for integer k. Requires interval > 0 and
  // 0 <= offset < interval (CHECK-fails otherwise). The first Iterate() after
  // construction with `monotonic_now` returns 1.
  PhasedLoop(monotonic_clock::duration interval,
             monotonic_clock::time_point monotonic_now,
             monotonic_clock::duration offset = monotonic_clock::zero());

  // Changes the interval and offset (same requirements as the constructor).
  // Without `monotonic_now`, the next wakeup moves to the new phase without
  // ever moving later than the old one, so a change never skips a cycle.
  // With `monotonic_now`, the next wakeup becomes the first phase of the new
  // schedule strictly after monotonic_now, so Iterate(monotonic_now) returns
  // 0 (nothing elapsed yet) and the Iterate at that wakeup counts 1
  // (upstream's contract: PhasedLoopHandler's set_interval_and_offset(i, o,
  // now) + Reschedule(now) give the next callback a count of 1).
  void set_interval_and_offset(
      monotonic_clock::duration interval, monotonic_clock::duration offset,
      std::optional<monotonic_clock::time_point> monotonic_now = std::nullopt);

  // The offset in [0, interval) that makes a loop of `interval` wake up at
  // `monotonic_trigger` (and every interval from it, before and after).
  // Requires interval > 0 (CHECK-fails otherwise).
  static monotonic_clock::duration OffsetFromIntervalAndTime(
      monotonic_clock::duration interval,
      monotonic_clock::time_point monotonic_trigger);

  monotonic_clock::duration interval() const { return interval_; }
  monotonic_clock::duration offset() const { return offset_; }

  // Forgets skipped cycles: makes the last wakeup the latest phase at or
  // before `monotonic_now`, so Iterate(monotonic_now) returns 1.
  void Reset(monotonic_clock::time_point monotonic_now);

  // Moves sleep_time() to the first phase strictly after `monotonic_now` and
  // returns the number of intervals it moved: 1 when called once per cycle,
  // more after a stall, 0 or negative if `monotonic_now` is earlier than the
  // previous wakeup.
  int Iterate(monotonic_clock::time_point monotonic_now);

  // Sleeps until the next phase (clock_nanosleep, absolute) and returns the
  // number of cycles that elapsed, as Iterate.
  int SleepUntilNext();

  // The next wakeup time (after Iterate) or the last one (before it).
  monotonic_clock::time_point sleep_time() const { return last_time_; }

 private:
  void CheckIntervalAndOffset() const;

  monotonic_clock::duration interval_;
  monotonic_clock::duration offset_;
  monotonic_clock::time_point last_time_ = monotonic_clock::epoch();
};

}  // namespace aos::time

#endif  // AOS_UTIL_PHASED_LOOP_H_
