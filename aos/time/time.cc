#include "aos/time/time.h"

#include <time.h>

#include <charconv>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "glog/logging.h"

namespace aos {
namespace {

// Reads a clock; a failure means the kernel lacks the clock, which no caller
// can handle.
std::chrono::nanoseconds ReadClock(clockid_t clock) {
  struct timespec ts;
  PCHECK(clock_gettime(clock, &ts) == 0) << "clock_gettime(" << clock << ")";
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// Splits a non-negative duration into whole seconds and nanoseconds, and
// returns whether it was negative (printed with a leading '-').
struct SplitTime {
  bool negative;
  int64_t seconds;
  int64_t nanoseconds;
};

SplitTime Split(std::chrono::nanoseconds d) {
  const bool negative = d.count() < 0;
  // Work in unsigned to handle min() without overflow.
  const uint64_t magnitude =
      negative ? -static_cast<uint64_t>(d.count()) : d.count();
  return SplitTime{negative, static_cast<int64_t>(magnitude / 1000000000u),
                   static_cast<int64_t>(magnitude % 1000000000u)};
}

// Parses "[-]S[.F]" followed by `suffix` into nanoseconds.
std::optional<std::chrono::nanoseconds> ParseSeconds(std::string_view s,
                                                     std::string_view suffix) {
  if (s.size() < suffix.size() ||
      s.substr(s.size() - suffix.size()) != suffix) {
    return std::nullopt;
  }
  s.remove_suffix(suffix.size());
  bool negative = false;
  if (!s.empty() && s.front() == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  const size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view fraction =
      dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty() || fraction.size() > 9) return std::nullopt;
  int64_t seconds = 0;
  auto [end, ec] =
      std::from_chars(whole.data(), whole.data() + whole.size(), seconds);
  if (ec != std::errc() || end != whole.data() + whole.size()) {
    return std::nullopt;
  }
  int64_t nanos = 0;
  for (size_t i = 0; i < 9; ++i) {
    nanos *= 10;
    if (i < fraction.size()) {
      if (fraction[i] < '0' || fraction[i] > '9') return std::nullopt;
      nanos += fraction[i] - '0';
    }
  }
  const std::chrono::nanoseconds magnitude =
      std::chrono::seconds(seconds) + std::chrono::nanoseconds(nanos);
  return negative ? -magnitude : magnitude;
}

}  // namespace

monotonic_clock::time_point monotonic_clock::now() noexcept {
  return time_point(ReadClock(CLOCK_MONOTONIC));
}

realtime_clock::time_point realtime_clock::now() noexcept {
  return time_point(ReadClock(CLOCK_REALTIME));
}

std::optional<monotonic_clock::time_point> monotonic_clock::FromString(
    std::string_view s) {
  const std::optional<std::chrono::nanoseconds> d = ParseSeconds(s, "sec");
  if (!d) return std::nullopt;
  return time_point(*d);
}

std::optional<realtime_clock::time_point> realtime_clock::FromString(
    std::string_view s) {
  // YYYY-MM-DD_HH-MM-SS.nnnnnnnnn
  if (s.size() != 29 || s[19] != '.') return std::nullopt;
  struct tm tm = {};
  int year, month, day, hour, minute, second;
  char tail;
  const std::string date(s.substr(0, 19));
  if (std::sscanf(date.c_str(), "%4d-%2d-%2d_%2d-%2d-%2d%c", &year, &month,
                  &day, &hour, &minute, &second, &tail) != 6) {
    return std::nullopt;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  tm.tm_isdst = -1;
  const struct tm wanted = tm;
  const time_t seconds = mktime(&tm);
  // -1 is both mktime's error and one second before 1970 (UTC): tell them
  // apart by whether the result is the calendar time asked for.
  if (seconds == -1 &&
      (tm.tm_year != wanted.tm_year || tm.tm_mon != wanted.tm_mon ||
       tm.tm_mday != wanted.tm_mday || tm.tm_hour != wanted.tm_hour ||
       tm.tm_min != wanted.tm_min || tm.tm_sec != wanted.tm_sec)) {
    return std::nullopt;
  }
  int64_t nanos = 0;
  for (char c : s.substr(20)) {
    if (c < '0' || c > '9') return std::nullopt;
    nanos = nanos * 10 + (c - '0');
  }
  return time_point(std::chrono::seconds(seconds) +
                    std::chrono::nanoseconds(nanos));
}

std::ostream &operator<<(std::ostream &stream,
                         const monotonic_clock::time_point &now) {
  const SplitTime split = Split(now.time_since_epoch());
  return stream << (split.negative ? "-" : "") << split.seconds << '.'
                << std::setfill('0') << std::setw(9) << split.nanoseconds
                << "sec" << std::setfill(' ');
}

std::ostream &operator<<(std::ostream &stream,
                         const realtime_clock::time_point &now) {
  // Whole seconds rounded down (toward the past, also before 1970), so the
  // nanoseconds are always in [0, 1e9) and the text parses back.
  const int64_t count = now.time_since_epoch().count();
  int64_t seconds = count / 1000000000;
  int64_t nanoseconds = count % 1000000000;
  if (nanoseconds < 0) {
    --seconds;
    nanoseconds += 1000000000;
  }
  const time_t seconds_t = seconds;
  struct tm tm;
  char buffer[64];
  // As upstream: whole seconds whose nanoseconds do not fit in the clock
  // (min_time rounds down past it) cannot be parsed back.
  int64_t whole_nanoseconds;
  if (__builtin_mul_overflow(seconds, int64_t{1000000000},
                             &whole_nanoseconds) ||
      localtime_r(&seconds_t, &tm) == nullptr || tm.tm_year + 1900 > 9999 ||
      tm.tm_year + 1900 < 0 ||
      strftime(buffer, sizeof(buffer), "%Y-%m-%d_%H-%M-%S", &tm) == 0) {
    return stream << "(unrepresentable realtime " << count << ")";
  }
  return stream << buffer << '.' << std::setfill('0') << std::setw(9)
                << nanoseconds << std::setfill(' ');
}

std::string ToString(const monotonic_clock::time_point &now) {
  std::ostringstream stream;
  stream << now;
  return stream.str();
}

std::string ToString(const realtime_clock::time_point &now) {
  std::ostringstream stream;
  stream << now;
  return stream.str();
}

namespace time {

struct timespec to_timespec(std::chrono::nanoseconds duration) {
  struct timespec ts;
  ts.tv_sec =
      std::chrono::duration_cast<std::chrono::seconds>(duration).count();
  ts.tv_nsec = (duration - std::chrono::seconds(ts.tv_sec)).count();
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    --ts.tv_sec;
  }
  return ts;
}

struct timeval to_timeval(std::chrono::nanoseconds duration) {
  const struct timespec ts = to_timespec(duration);
  struct timeval tv;
  tv.tv_sec = ts.tv_sec;
  tv.tv_usec = ts.tv_nsec / 1000;
  return tv;
}

struct timespec to_timespec(monotonic_clock::time_point time) {
  return to_timespec(time.time_since_epoch());
}

}  // namespace time
}  // namespace aos
