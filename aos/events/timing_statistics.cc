#include "aos/events/timing_statistics.h"

#include <cmath>

#include "glog/logging.h"

namespace aos::internal {

void RunningStatistic::Add(double sample) {
  ++count_;
  const double delta = sample - mean_;
  mean_ += delta / static_cast<double>(count_);
  m2_ += delta * (sample - mean_);
  if (sample < min_) min_ = sample;
  if (sample > max_) max_ = sample;
}

double RunningStatistic::mean() const {
  return count_ == 0 ? std::numeric_limits<double>::quiet_NaN() : mean_;
}
double RunningStatistic::min() const {
  return count_ == 0 ? std::numeric_limits<double>::quiet_NaN() : min_;
}
double RunningStatistic::max() const {
  return count_ == 0 ? std::numeric_limits<double>::quiet_NaN() : max_;
}
double RunningStatistic::standard_deviation() const {
  return count_ == 0 ? std::numeric_limits<double>::quiet_NaN()
                     : std::sqrt(m2_ / static_cast<double>(count_));
}

void RunningStatistic::Publish(timing::Statistic *statistic) const {
  // mutate_* fails silently on absent fields; the report is built with every
  // field present, so a failure here is a bug in the report builder.
  CHECK(statistic->mutate_average(static_cast<float>(mean())));
  CHECK(statistic->mutate_min(static_cast<float>(min())));
  CHECK(statistic->mutate_max(static_cast<float>(max())));
  CHECK(statistic->mutate_standard_deviation(
      static_cast<float>(standard_deviation())));
}

void RawSenderTiming::Publish() const {
  if (sender == nullptr) return;
  CHECK(sender->mutate_count(count));
  size.Publish(sender->mutable_size());
  auto *errors = sender->mutable_error_counts();
  for (size_t i = 0; i < error_counts.size(); ++i) {
    CHECK(errors->GetMutableObject(i)->mutate_count(error_counts[i]));
  }
}

void RawSenderTiming::Reset() {
  count = 0;
  size.Reset();
  error_counts.fill(0);
}

void RawFetcherTiming::Publish() const {
  if (fetcher == nullptr) return;
  CHECK(fetcher->mutate_count(count));
  latency.Publish(fetcher->mutable_latency());
}

void RawFetcherTiming::Reset() {
  count = 0;
  latency.Reset();
}

void WatcherTiming::Publish() const {
  if (watcher == nullptr) return;
  CHECK(watcher->mutate_count(count));
  wakeup_latency.Publish(watcher->mutable_wakeup_latency());
  handler_time.Publish(watcher->mutable_handler_time());
}

void WatcherTiming::Reset() {
  count = 0;
  wakeup_latency.Reset();
  handler_time.Reset();
}

void TimerTiming::Publish() const {
  if (timer == nullptr) return;
  CHECK(timer->mutate_count(count));
  wakeup_latency.Publish(timer->mutable_wakeup_latency());
  handler_time.Publish(timer->mutable_handler_time());
}

void TimerTiming::Reset() {
  count = 0;
  wakeup_latency.Reset();
  handler_time.Reset();
}

}  // namespace aos::internal
