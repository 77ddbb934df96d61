#include "aos/events/timing_statistics.h"

#include <algorithm>
#include <cmath>

#include "glog/logging.h"

namespace aos::internal {
namespace {

// Report counts are 32-bit (upstream's type); a count that does not fit says
// "at least this many".
uint32_t SaturatedCount(uint64_t count) {
  return static_cast<uint32_t>(
      std::min<uint64_t>(count, std::numeric_limits<uint32_t>::max()));
}

}  // namespace

double RunningStatistic::mean(double scale) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  return (static_cast<double>(shift_) +
          static_cast<double>(sum_) / static_cast<double>(count_)) *
         scale;
}
double RunningStatistic::min(double scale) const {
  return count_ == 0 ? std::numeric_limits<double>::quiet_NaN()
                     : static_cast<double>(min_) * scale;
}
double RunningStatistic::max(double scale) const {
  return count_ == 0 ? std::numeric_limits<double>::quiet_NaN()
                     : static_cast<double>(max_) * scale;
}
double RunningStatistic::standard_deviation(double scale) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  const double n = static_cast<double>(count_);
  const double mean_offset = static_cast<double>(sum_) / n;
  // Rounding may take a zero variance a hair below zero.
  const double variance =
      std::max(0.0, sum_squares_ / n - mean_offset * mean_offset);
  return std::sqrt(variance) * scale;
}

void RunningStatistic::Publish(timing::Statistic *statistic,
                               double scale) const {
  // mutate_* fails silently on absent fields; the report is built with every
  // field present, so a failure here is a bug in the report builder.
  CHECK(statistic->mutate_average(static_cast<float>(mean(scale))));
  CHECK(statistic->mutate_min(static_cast<float>(min(scale))));
  CHECK(statistic->mutate_max(static_cast<float>(max(scale))));
  CHECK(statistic->mutate_standard_deviation(
      static_cast<float>(standard_deviation(scale))));
}

void RawSenderTiming::Publish() const {
  if (sender == nullptr) return;
  CHECK(sender->mutate_count(count));
  size.Publish(sender->mutable_size(), 1.0);
  auto *errors = sender->mutable_error_counts();
  for (size_t i = 0; i < error_counts.size(); ++i) {
    CHECK(errors->GetMutableObject(i)->mutate_count(error_counts[i]));
  }
  CHECK(sender->mutate_signal_failures(SaturatedCount(signal_failures)));
}

void RawSenderTiming::Reset() {
  count = 0;
  size.Reset();
  error_counts.fill(0);
  signal_failures = 0;
}

void RawFetcherTiming::Publish() const {
  if (fetcher == nullptr) return;
  CHECK(fetcher->mutate_count(count));
  latency.Publish(fetcher->mutable_latency(), kNanosecondsToSeconds);
  CHECK(fetcher->mutate_lost_messages(SaturatedCount(lost_messages)));
}

void RawFetcherTiming::Reset() {
  count = 0;
  latency.Reset();
  lost_messages = 0;
}

void WatcherTiming::Publish() const {
  if (watcher == nullptr) return;
  CHECK(watcher->mutate_count(count));
  wakeup_latency.Publish(watcher->mutable_wakeup_latency(),
                         kNanosecondsToSeconds);
  handler_time.Publish(watcher->mutable_handler_time(), kNanosecondsToSeconds);
  CHECK(watcher->mutate_lost_messages(SaturatedCount(lost_messages)));
}

void WatcherTiming::Reset() {
  count = 0;
  wakeup_latency.Reset();
  handler_time.Reset();
  lost_messages = 0;
}

void TimerTiming::Publish() const {
  if (timer == nullptr) return;
  CHECK(timer->mutate_count(count));
  wakeup_latency.Publish(timer->mutable_wakeup_latency(),
                         kNanosecondsToSeconds);
  handler_time.Publish(timer->mutable_handler_time(), kNanosecondsToSeconds);
}

void TimerTiming::Reset() {
  count = 0;
  wakeup_latency.Reset();
  handler_time.Reset();
}

}  // namespace aos::internal
