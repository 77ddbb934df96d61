#include "aos/examples/latency_histogram.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace aos::examples {
namespace {

using std::chrono::nanoseconds;

TEST(LatencyHistogramTest, EmptySummary) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0u);
  EXPECT_EQ(histogram.Summary(), "no round trips");
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram histogram;
  for (int i = 1; i <= 50; ++i) histogram.Record(nanoseconds(i));
  EXPECT_EQ(histogram.min(), nanoseconds(1));
  EXPECT_EQ(histogram.max(), nanoseconds(50));
  EXPECT_EQ(histogram.Percentile(0.5), nanoseconds(25));
  EXPECT_EQ(histogram.Percentile(0.99), nanoseconds(50));
  EXPECT_EQ(histogram.Percentile(1.0), nanoseconds(50));
  EXPECT_EQ(histogram.mean(), nanoseconds(26));  // 25.5 rounds to 26.
}

TEST(LatencyHistogramTest, NegativeCountsAsZero) {
  LatencyHistogram histogram;
  histogram.Record(nanoseconds(-5));
  EXPECT_EQ(histogram.min(), nanoseconds(0));
  EXPECT_EQ(histogram.Percentile(0.5), nanoseconds(0));
}

// Percentiles of random samples over 9 decades stay within the documented
// 1/64 relative error of the exact order statistic, and inside [min, max].
TEST(LatencyHistogramTest, PercentilesWithinResolution) {
  std::mt19937_64 random(42);
  std::uniform_real_distribution<double> exponent(0, 9);
  std::vector<int64_t> samples;
  LatencyHistogram histogram;
  for (int i = 0; i < 10000; ++i) {
    const int64_t value =
        static_cast<int64_t>(std::pow(10.0, exponent(random)));
    samples.push_back(value);
    histogram.Record(nanoseconds(value));
  }
  std::sort(samples.begin(), samples.end());
  for (double fraction : {0.01, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    const size_t rank =
        static_cast<size_t>(std::ceil(fraction * samples.size())) - 1;
    const double exact = static_cast<double>(samples[rank]);
    const double got =
        static_cast<double>(histogram.Percentile(fraction).count());
    EXPECT_GE(got, exact) << fraction;
    EXPECT_LE(got, exact * (1 + 1.0 / 64) + 1) << fraction;
  }
  EXPECT_EQ(histogram.Percentile(1.0).count(), samples.back());
  EXPECT_EQ(histogram.min().count(), samples.front());
}

TEST(LatencyHistogramTest, HugeValues) {
  LatencyHistogram histogram;
  histogram.Record(nanoseconds::max());
  EXPECT_EQ(histogram.Percentile(0.5), nanoseconds::max());
}

TEST(LatencyHistogramTest, Summary) {
  LatencyHistogram histogram;
  histogram.Record(std::chrono::microseconds(20));
  histogram.Record(std::chrono::microseconds(40));
  EXPECT_EQ(histogram.Summary(),
            "2 round trips: min 20.0us, p50 20.2us, p99 40.0us, max 40.0us, "
            "mean 30.0us");
}

TEST(FormatDurationTest, Units) {
  EXPECT_EQ(FormatDuration(nanoseconds(850)), "850ns");
  EXPECT_EQ(FormatDuration(nanoseconds(12345)), "12.3us");
  EXPECT_EQ(FormatDuration(nanoseconds(4560000)), "4.56ms");
  EXPECT_EQ(FormatDuration(nanoseconds(1200000000)), "1.20s");
}

}  // namespace
}  // namespace aos::examples
