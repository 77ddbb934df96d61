#include "aos/time/time.h"

#include <sstream>
#include <type_traits>

#include "gtest/gtest.h"

namespace aos {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

template <typename T>
std::string Print(const T &t) {
  std::stringstream s;
  s << t;
  return s.str();
}

TEST(TimeTest, ClocksAdvance) {
  const monotonic_clock::time_point a = monotonic_clock::now();
  const monotonic_clock::time_point b = monotonic_clock::now();
  EXPECT_LE(a, b);
  EXPECT_GT(a, monotonic_clock::epoch());
  EXPECT_GT(realtime_clock::now(),
            realtime_clock::time_point(seconds(1600000000)));
}

// Both clocks are chrono clocks whose time points are the plain
// std::chrono::time_point<Clock> (code spells them either way).
static_assert(std::chrono::is_clock_v<monotonic_clock>);
static_assert(std::chrono::is_clock_v<realtime_clock>);
static_assert(std::is_same_v<monotonic_clock::time_point,
                             std::chrono::time_point<monotonic_clock>>);
static_assert(std::is_same_v<realtime_clock::time_point,
                             std::chrono::time_point<realtime_clock>>);
static_assert(monotonic_clock::is_steady && !realtime_clock::is_steady);

TEST(TimeTest, Limits) {
  EXPECT_LT(monotonic_clock::min_time, monotonic_clock::epoch());
  EXPECT_GT(monotonic_clock::max_time, monotonic_clock::now());
  EXPECT_EQ(monotonic_clock::epoch().time_since_epoch().count(), 0);
}

TEST(TimeTest, PrintsMonotonicLikeUpstream) {
  EXPECT_EQ(Print(monotonic_clock::epoch() + seconds(123)), "123.000000000sec");
  EXPECT_EQ(Print(monotonic_clock::epoch() + nanoseconds(1)), "0.000000001sec");
  EXPECT_EQ(Print(monotonic_clock::epoch() - seconds(1)), "-1.000000000sec");
  EXPECT_EQ(Print(monotonic_clock::epoch() - milliseconds(1500)),
            "-1.500000000sec");
  EXPECT_EQ(Print(monotonic_clock::min_time), "-9223372036.854775808sec");
}

TEST(TimeTest, PrintsRealtimeAsLocalCalendarTime) {
  setenv("TZ", "UTC", 1);
  tzset();
  EXPECT_EQ(
      Print(realtime_clock::epoch() + seconds(1764141225) + nanoseconds(5)),
      "2025-11-26_07-13-45.000000005");
}

TEST(TimeTest, ParsesWhatItPrints) {
  setenv("TZ", "UTC", 1);
  tzset();
  const monotonic_clock::time_point m =
      monotonic_clock::epoch() + milliseconds(-1500);
  EXPECT_EQ(monotonic_clock::FromString(Print(m)), m);
  EXPECT_EQ(monotonic_clock::FromString("2.5sec"),
            monotonic_clock::epoch() + milliseconds(2500));
  const realtime_clock::time_point r =
      realtime_clock::epoch() + seconds(1764141225) + nanoseconds(123);
  EXPECT_EQ(realtime_clock::FromString(Print(r)), r);
}

// Before 1970 a realtime prints as a calendar time, as upstream, and parses
// back (it used to print "-0.000000001sec", which FromString rejected).
TEST(TimeTest, RealtimeBefore1970) {
  setenv("TZ", "UTC", 1);
  tzset();
  const realtime_clock::time_point just_before =
      realtime_clock::epoch() - nanoseconds(1);
  EXPECT_EQ(Print(just_before), "1969-12-31_23-59-59.999999999");
  EXPECT_EQ(realtime_clock::FromString(Print(just_before)), just_before);
  const realtime_clock::time_point one_second =
      realtime_clock::epoch() - seconds(1);
  EXPECT_EQ(Print(one_second), "1969-12-31_23-59-59.000000000");
  EXPECT_EQ(realtime_clock::FromString(Print(one_second)), one_second);
  const realtime_clock::time_point long_ago =
      realtime_clock::epoch() - seconds(86400 * 365) - milliseconds(1);
  EXPECT_EQ(Print(long_ago), "1968-12-31_23-59-59.999000000");
  EXPECT_EQ(realtime_clock::FromString(Print(long_ago)), long_ago);
  EXPECT_EQ(Print(realtime_clock::epoch()), "1970-01-01_00-00-00.000000000");
  EXPECT_EQ(Print(realtime_clock::min_time),
            "(unrepresentable realtime -9223372036854775808)");
  EXPECT_EQ(ToString(just_before), "1969-12-31_23-59-59.999999999");
  EXPECT_EQ(ToString(monotonic_clock::epoch() + milliseconds(1500)),
            "1.500000000sec");
}

TEST(TimeTest, FromRateAndTimeval) {
  static_assert(time::FromRate(100) == milliseconds(10));
  EXPECT_EQ(time::FromRate(200), milliseconds(5));
  EXPECT_EQ(time::FromRate(0.5), seconds(2));
  EXPECT_EQ(time::FromRate(3), nanoseconds(333333333));
  // A time point, as upstream's (its test compares with epoch() + d).
  EXPECT_EQ(
      time::from_timeval(timeval{.tv_sec = 2, .tv_usec = 5}),
      monotonic_clock::epoch() + seconds(2) + std::chrono::microseconds(5));
  EXPECT_EQ(time::from_timeval(timeval{.tv_sec = -1432423, .tv_usec = 0}),
            monotonic_clock::epoch() - seconds(1432423));
  EXPECT_EQ(time::from_timespec(timespec{.tv_sec = -1, .tv_nsec = 5}),
            seconds(-1) + nanoseconds(5));
  const struct timeval tv = time::to_timeval(milliseconds(-1500));
  EXPECT_EQ(tv.tv_sec, -2);
  EXPECT_EQ(tv.tv_usec, 500000);
}

TEST(TimeTest, RejectsMalformedTimes) {
  EXPECT_EQ(monotonic_clock::FromString(""), std::nullopt);
  EXPECT_EQ(monotonic_clock::FromString("12"), std::nullopt);
  EXPECT_EQ(monotonic_clock::FromString("abc.0sec"), std::nullopt);
  EXPECT_EQ(monotonic_clock::FromString("1.0000000001sec"), std::nullopt);
  EXPECT_EQ(realtime_clock::FromString("2025-11-26 07:13:45.000000000"),
            std::nullopt);
  EXPECT_EQ(realtime_clock::FromString("2025-11-26_07-13-45.00000000x"),
            std::nullopt);
}

TEST(TimeTest, ToTimespec) {
  const struct timespec ts = time::to_timespec(milliseconds(-1500));
  EXPECT_EQ(ts.tv_sec, -2);
  EXPECT_EQ(ts.tv_nsec, 500000000);
  const struct timespec t2 =
      time::to_timespec(monotonic_clock::epoch() + milliseconds(2500));
  EXPECT_EQ(t2.tv_sec, 2);
  EXPECT_EQ(t2.tv_nsec, 500000000);
  EXPECT_DOUBLE_EQ(time::DurationInSeconds(milliseconds(250)), 0.25);
}

}  // namespace
}  // namespace aos
