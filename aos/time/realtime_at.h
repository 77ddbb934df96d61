#ifndef AOS_TIME_REALTIME_AT_H_
#define AOS_TIME_REALTIME_AT_H_

// Both send times of a message for the price of one clock read.
//
// Every message carries its monotonic and its realtime send time. Reading
// CLOCK_REALTIME right after CLOCK_MONOTONIC costs a second serializing TSC
// read: about 28 ns on this project's reference machine, a quarter of a 64 B
// send. But the kernel derives both clocks from the same TSC reading, and
// CLOCK_REALTIME - CLOCK_MONOTONIC is its `wall_to_monotonic` offset, which
// changes only when the wall clock is stepped (clock_settime, a leap second,
// resume from suspend). NTP slewing changes both clocks' rate alike. The
// coarse clocks (no TSC read, about 6 ns each from the vDSO) carry the same
// offset exactly. RealtimeAt adds the offset to a monotonic reading and checks
// it against the coarse clocks on every call, so its result is exactly what
// CLOCK_REALTIME returned at that instant, with no window of staleness after a
// step.

#include <atomic>
#include <cstdint>
#include <ctime>

#include "aos/time/time.h"

namespace aos {

// Returns CLOCK_REALTIME at the instant CLOCK_MONOTONIC read `monotonic_now`.
//
// `monotonic_now` must be a reading just taken: the offset is checked when
// this is called. If the wall clock is stepped between the reading and this
// call, the result is the realtime just after the step. Thread-safe, takes no
// lock and allocates nothing.
realtime_clock::time_point RealtimeAt(
    monotonic_clock::time_point monotonic_now);

namespace time_internal {

// RealtimeAt's logic over injected clocks (tests step the wall clock and
// move the coarse clocks between reads, which a test cannot do to the
// kernel's). `read_ns(clock)` returns a clock's reading in nanoseconds; the
// offset cache belongs to the object.
class RealtimeOffset {
 public:
  using ClockReader = int64_t (*)(clockid_t clock);

  explicit constexpr RealtimeOffset(ClockReader read_ns) : read_ns_(read_ns) {}

  // CLOCK_REALTIME - CLOCK_MONOTONIC now, read from the coarse clocks.
  int64_t Offset();

 private:
  // Reads the offset from a coarse pair that no timekeeping update split,
  // and caches it.
  int64_t Refresh();

  ClockReader read_ns_;
  // Relaxed: every thread computes the same value from the kernel's, so any
  // thread's store is as good as another's.
  std::atomic<int64_t> cached_offset_{0};
};

}  // namespace time_internal
}  // namespace aos

#endif  // AOS_TIME_REALTIME_AT_H_
