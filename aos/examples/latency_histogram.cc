#include "aos/examples/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>

#include "glog/logging.h"

namespace aos::examples {

int LatencyHistogram::BucketOf(uint64_t value) {
  if (value < kSubBuckets) return static_cast<int>(value);
  // value has its top bit at position `top` >= kSubBucketBits; keep the
  // kSubBucketBits bits below it as the sub-bucket.
  const int top = 63 - std::countl_zero(value);
  const int shift = top - kSubBucketBits;
  const int sub = static_cast<int>((value >> shift) & (kSubBuckets - 1));
  return (shift + 1) * kSubBuckets + sub;
}

uint64_t LatencyHistogram::BucketUpperBound(int bucket) {
  if (bucket < kSubBuckets) return static_cast<uint64_t>(bucket);
  const int shift = bucket / kSubBuckets - 1;
  const uint64_t sub = static_cast<uint64_t>(bucket % kSubBuckets);
  const uint64_t lower = ((uint64_t{1} << kSubBucketBits) | sub) << shift;
  return lower + ((uint64_t{1} << shift) - 1);
}

void LatencyHistogram::Record(std::chrono::nanoseconds value) {
  value = std::max(value, std::chrono::nanoseconds(0));
  ++buckets_[BucketOf(static_cast<uint64_t>(value.count()))];
  ++count_;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ns_ += static_cast<double>(value.count());
}

std::chrono::nanoseconds LatencyHistogram::mean() const {
  CHECK_GT(count_, 0u) << ": mean of an empty histogram";
  return std::chrono::nanoseconds(static_cast<int64_t>(
      std::llround(sum_ns_ / static_cast<double>(count_))));
}

std::chrono::nanoseconds LatencyHistogram::Percentile(double fraction) const {
  CHECK_GT(count_, 0u) << ": percentile of an empty histogram";
  CHECK(fraction > 0 && fraction <= 1) << ": fraction " << fraction;
  const uint64_t rank = std::max<uint64_t>(
      1,
      static_cast<uint64_t>(std::ceil(fraction * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (int bucket = 0; bucket < kBuckets; ++bucket) {
    seen += buckets_[bucket];
    if (seen >= rank) {
      const auto bound =
          std::chrono::nanoseconds(static_cast<int64_t>(std::min<uint64_t>(
              BucketUpperBound(bucket), static_cast<uint64_t>(max_.count()))));
      return std::max(bound, min_);
    }
  }
  return max_;
}

std::string LatencyHistogram::Summary(std::string_view what) const {
  if (count_ == 0) return "no " + std::string(what);
  return std::to_string(count_) + " " + std::string(what) + ": min " +
         FormatDuration(min_) + ", p50 " + FormatDuration(Percentile(0.5)) +
         ", p99 " + FormatDuration(Percentile(0.99)) + ", max " +
         FormatDuration(max_) + ", mean " + FormatDuration(mean());
}

std::string FormatDuration(std::chrono::nanoseconds duration) {
  const double ns = static_cast<double>(duration.count());
  char buffer[32];
  if (std::abs(ns) < 1e3) {
    std::snprintf(buffer, sizeof(buffer), "%.0fns", ns);
  } else if (std::abs(ns) < 1e6) {
    std::snprintf(buffer, sizeof(buffer), "%.1fus", ns / 1e3);
  } else if (std::abs(ns) < 1e9) {
    std::snprintf(buffer, sizeof(buffer), "%.2fms", ns / 1e6);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.2fs", ns / 1e9);
  }
  return buffer;
}

}  // namespace aos::examples
