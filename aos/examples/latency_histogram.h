#ifndef AOS_EXAMPLES_LATENCY_HISTOGRAM_H_
#define AOS_EXAMPLES_LATENCY_HISTOGRAM_H_

// LatencyHistogram: min/percentiles/max of durations, recorded without
// allocating, so it can sit on a real-time path (ping records every
// round trip in its watcher).
//
// Values are counted in log-linear buckets: each power of two is split into
// kSubBuckets equal parts, so a reported percentile is within 1/kSubBuckets
// (1.6 %) of the true sample, and never outside [min, max], which are exact.
//
//   LatencyHistogram histogram;
//   histogram.Record(std::chrono::microseconds(42));
//   std::cout << histogram.Summary();  // "1 round trips: min 42.0us ..."

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

namespace aos::examples {

class LatencyHistogram {
 public:
  // Counts `value`. Negative values count as 0.
  void Record(std::chrono::nanoseconds value);

  uint64_t count() const { return count_; }
  // Exact extremes and mean. Require count() > 0.
  std::chrono::nanoseconds min() const { return min_; }
  std::chrono::nanoseconds max() const { return max_; }
  std::chrono::nanoseconds mean() const;

  // The smallest recorded value v such that at least `fraction` of the
  // samples are <= v, to the bucket resolution (clamped to [min, max]).
  // Requires count() > 0 and 0 < fraction <= 1.
  std::chrono::nanoseconds Percentile(double fraction) const;

  // "N round trips: min X, p50 X, p99 X, max X, mean X" with human units, or
  // "no round trips" when empty.
  std::string Summary(std::string_view what = "round trips") const;

 private:
  static constexpr int kSubBucketBits = 6;
  static constexpr int kSubBuckets = 1 << kSubBucketBits;
  // Values below kSubBuckets ns get one bucket each; above, each power of
  // two (up to 2^63) gets kSubBuckets.
  static constexpr int kBuckets = kSubBuckets * (64 - kSubBucketBits + 1);

  static int BucketOf(uint64_t value);
  // The largest value that falls in `bucket`.
  static uint64_t BucketUpperBound(int bucket);

  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  std::chrono::nanoseconds min_ = std::chrono::nanoseconds::max();
  std::chrono::nanoseconds max_ = std::chrono::nanoseconds::min();
  // Sum in double: 2^63 ns overflows no sooner than int64, and 53 bits of
  // mantissa are plenty for a mean.
  double sum_ns_ = 0;
};

// "12.3us", "4.56ms", "1.20s", "850ns".
std::string FormatDuration(std::chrono::nanoseconds duration);

}  // namespace aos::examples

#endif  // AOS_EXAMPLES_LATENCY_HISTOGRAM_H_
