#include "aos/events/timing_statistics.h"

#include <cmath>

#include "gtest/gtest.h"

namespace aos::internal::testing {
namespace {

TEST(RunningStatisticTest, EmptyIsNaN) {
  RunningStatistic statistic;
  EXPECT_EQ(statistic.count(), 0u);
  EXPECT_TRUE(std::isnan(statistic.mean()));
  EXPECT_TRUE(std::isnan(statistic.min()));
  EXPECT_TRUE(std::isnan(statistic.max()));
  EXPECT_TRUE(std::isnan(statistic.standard_deviation()));
}

TEST(RunningStatisticTest, KnownSamples) {
  RunningStatistic statistic;
  // Mean 5, population standard deviation 2.
  for (int64_t sample : {2, 4, 4, 4, 5, 5, 7, 9}) statistic.Add(sample);
  EXPECT_EQ(statistic.count(), 8u);
  EXPECT_DOUBLE_EQ(statistic.mean(), 5.0);
  EXPECT_DOUBLE_EQ(statistic.min(), 2.0);
  EXPECT_DOUBLE_EQ(statistic.max(), 9.0);
  EXPECT_DOUBLE_EQ(statistic.standard_deviation(), 2.0);
  // Scaled to the report's unit (nanoseconds to seconds).
  EXPECT_DOUBLE_EQ(statistic.mean(kNanosecondsToSeconds), 5e-9);
  EXPECT_DOUBLE_EQ(statistic.standard_deviation(kNanosecondsToSeconds), 2e-9);
  EXPECT_DOUBLE_EQ(statistic.max(kNanosecondsToSeconds), 9e-9);
}

TEST(RunningStatisticTest, ConstantSamplesHaveNoDeviation) {
  RunningStatistic statistic;
  for (int i = 0; i < 1000; ++i) statistic.Add(50'000);
  EXPECT_EQ(statistic.mean(), 50'000.0);
  EXPECT_EQ(statistic.standard_deviation(), 0.0);
}

// Large values with a small spread (latencies of a loop that has been up for
// a while, sizes near a limit): the sums of offsets keep the precision that
// raw sums of squares would lose.
TEST(RunningStatisticTest, SmallSpreadAroundLargeValues) {
  RunningStatistic statistic;
  constexpr int64_t kBase = 1'000'000'000'000;
  for (int i = 0; i < 1000; ++i) statistic.Add(kBase + (i % 2 == 0 ? 1 : -1));
  EXPECT_DOUBLE_EQ(statistic.mean(), static_cast<double>(kBase));
  EXPECT_DOUBLE_EQ(statistic.standard_deviation(), 1.0);
}

// An outlier first (the shift) does not spoil the others.
TEST(RunningStatisticTest, OutlierFirst) {
  RunningStatistic statistic;
  statistic.Add(10'000'000);
  for (int i = 0; i < 999; ++i) statistic.Add(50'000 + (i % 2 == 0 ? 10 : -10));
  const double mean = (10'000'000.0 + 999 * 50'000.0 + 10.0) / 1000.0;
  EXPECT_NEAR(statistic.mean(), mean, 1e-6);
  double variance = (10'000'000.0 - mean) * (10'000'000.0 - mean);
  for (int i = 0; i < 999; ++i) {
    const double sample = 50'000 + (i % 2 == 0 ? 10 : -10);
    variance += (sample - mean) * (sample - mean);
  }
  EXPECT_NEAR(statistic.standard_deviation(), std::sqrt(variance / 1000.0),
              1e-6 * std::sqrt(variance / 1000.0));
}

TEST(RunningStatisticTest, ResetStartsOver) {
  RunningStatistic statistic;
  statistic.Add(100);
  statistic.Add(300);
  statistic.Reset();
  EXPECT_EQ(statistic.count(), 0u);
  EXPECT_TRUE(std::isnan(statistic.mean()));
  statistic.Add(7);
  EXPECT_EQ(statistic.mean(), 7.0);
  EXPECT_EQ(statistic.min(), 7.0);
  EXPECT_EQ(statistic.max(), 7.0);
  EXPECT_EQ(statistic.standard_deviation(), 0.0);
}

}  // namespace
}  // namespace aos::internal::testing
