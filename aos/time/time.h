#ifndef AOS_TIME_TIME_H_
#define AOS_TIME_TIME_H_

// The two clocks every AOS message and event is stamped with.
//
// monotonic_clock is CLOCK_MONOTONIC: it never jumps, and is what timers,
// phased loops and message send times use. realtime_clock is CLOCK_REALTIME:
// wall time, recorded next to the monotonic time so logs can be matched to the
// calendar. Both count int64 nanoseconds; both have `min_time` (meaning "no
// time", e.g. a timer's realtime event time), `max_time` and `epoch()`.
//
// Message send times need both clocks at one instant; aos/time/realtime_at.h
// gets the realtime one from a monotonic reading at a fraction of the cost.
//
// In simulation the event loop supplies its own notion of "now"; these types
// are still the time points used everywhere.
//
// Printing follows upstream AOS so tools and logs read the same:
//   monotonic: "123.000000000sec"         (negative: "-1.500000000sec")
//   realtime:  "2026-11-26_07-13-45.000000000" (local time; before 1970
//              too: "1969-12-31_23-59-59.999999999")

#include <sys/time.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>

namespace aos {

namespace time_internal {

// What every AOS clock shares (monotonic, realtime and the simulation's
// distributed clock): int64 nanosecond ticks, a zero epoch, and `min_time` /
// `max_time` at the ends of the representable range. `Clock` is the clock
// deriving from this (its time points are std::chrono::time_point<Clock>);
// each clock adds its own now().
template <typename Clock, bool kSteady>
class NanosecondClock {
 public:
  using rep = std::chrono::nanoseconds::rep;
  using period = std::chrono::nanoseconds::period;
  using duration = std::chrono::nanoseconds;
  // Spelled with the duration because Clock is incomplete here; the same
  // type as std::chrono::time_point<Clock>.
  using time_point = std::chrono::time_point<Clock, duration>;
  static constexpr bool is_steady = kSteady;

  static constexpr duration zero() { return duration(0); }
  static constexpr time_point epoch() { return time_point(zero()); }

  // The earliest time: "no time" (e.g. a timer's realtime event time).
  static constexpr time_point min_time{
      duration(std::numeric_limits<rep>::min())};
  // The latest time: "never".
  static constexpr time_point max_time{
      duration(std::numeric_limits<rep>::max())};
};

}  // namespace time_internal

class monotonic_clock
    : public time_internal::NanosecondClock<monotonic_clock, true> {
 public:
  // Reads CLOCK_MONOTONIC (a vDSO call, no syscall on x86-64).
  static time_point now() noexcept;

  // Parses what operator<< prints ("123.000000000sec", "-1.5sec").
  // Returns nullopt if `s` is not in that format.
  static std::optional<time_point> FromString(std::string_view s);
};

class realtime_clock
    : public time_internal::NanosecondClock<realtime_clock, false> {
 public:
  // Reads CLOCK_REALTIME.
  static time_point now() noexcept;

  // Parses what operator<< prints ("2026-11-26_07-13-45.000000000", local
  // time). Returns nullopt if `s` is not in that format.
  static std::optional<time_point> FromString(std::string_view s);
};

std::ostream &operator<<(std::ostream &stream,
                         const monotonic_clock::time_point &now);
// Local calendar time, also before 1970 (the seconds round down, so -1 ns is
// "1969-12-31_23-59-59.999999999" in UTC), as upstream; FromString parses
// every such string back. A time too far out for the calendar prints as
// "(unrepresentable realtime <ns>)".
std::ostream &operator<<(std::ostream &stream,
                         const realtime_clock::time_point &now);

// What operator<< prints, as a string (upstream's helpers).
std::string ToString(const monotonic_clock::time_point &now);
std::string ToString(const realtime_clock::time_point &now);

namespace time {

// Converts a duration to a timespec (for timerfd, clock_nanosleep, ...).
struct timespec to_timespec(std::chrono::nanoseconds duration);
// Converts a time point to a timespec of its time since epoch.
struct timespec to_timespec(monotonic_clock::time_point time);

// Converts a timeval (e.g. a socket timestamp) to the monotonic time that far
// past the epoch, as upstream's from_timeval (its tests compare the result
// with monotonic_clock::epoch() + d).
constexpr monotonic_clock::time_point from_timeval(struct timeval t) {
  return monotonic_clock::epoch() + std::chrono::seconds(t.tv_sec) +
         std::chrono::microseconds(t.tv_usec);
}
// Converts a timespec (e.g. a file's stat) to a duration.
constexpr std::chrono::nanoseconds from_timespec(struct timespec t) {
  return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}
// Converts a duration to a timeval (microseconds, rounded toward negative
// infinity so tv_usec stays in [0, 1000000)).
struct timeval to_timeval(std::chrono::nanoseconds duration);

// The period of a rate in Hz (upstream's helper): FromRate(100) is 10 ms.
// Integer rates that do not divide a second round down to the nanosecond.
template <typename Scalar>
constexpr std::chrono::nanoseconds FromRate(Scalar hertz) {
  if constexpr (std::is_integral_v<Scalar>) {
    return std::chrono::nanoseconds(std::chrono::seconds(1)) / hertz;
  } else {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(1.0 / static_cast<double>(hertz)));
  }
}

// Converts a duration to seconds as a double (for statistics and printing).
constexpr double DurationInSeconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

}  // namespace time
}  // namespace aos

#endif  // AOS_TIME_TIME_H_
