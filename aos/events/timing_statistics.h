#ifndef AOS_EVENTS_TIMING_STATISTICS_H_
#define AOS_EVENTS_TIMING_STATISTICS_H_

// The per-object bookkeeping behind timing reports.
//
// Every sender, fetcher, watcher, timer and phased loop of an EventLoop owns
// one of the *Timing structs below. The real-time path only adds samples to
// them (a few arithmetic operations, no allocation). When the loop sends its
// report it asks each to Publish() into its entry of the prebuilt
// aos.timing.Report (a flatbuffer built once with every field present, then
// patched in place), sends the buffer and Reset()s them for the next period.

#include <array>
#include <chrono>
#include <cstdint>
#include <limits>

#include "aos/events/event_loop_generated.h"

namespace aos::internal {

// Count, mean, min, max and standard deviation of a stream of integer
// samples (nanoseconds or bytes), in O(1) space.
//
// Add() is on every send, fetch and callback, so it does no division and no
// conversion: it sums the samples' offsets from the first sample (the
// "shifted data" variance algorithm: exact for constant samples; its
// cancellation costs float precision only if the first sample is over ~2e4
// standard deviations from the mean, which that sample's own share of the
// variance rules out below ~5e8 samples per report). Means and deviations are
// only computed when a report is published, scaled there to the report's unit.
class RunningStatistic {
 public:
  void Add(int64_t sample) {
    if (count_ == 0) {
      shift_ = sample;
      min_ = sample;
      max_ = sample;
    } else {
      if (sample < min_) min_ = sample;
      if (sample > max_) max_ = sample;
    }
    ++count_;
    const int64_t offset = sample - shift_;
    sum_ += offset;
    const double offset_double = static_cast<double>(offset);
    sum_squares_ += offset_double * offset_double;
  }
  void Reset() { *this = RunningStatistic(); }

  uint64_t count() const { return count_; }
  // In sample units times `scale`; NaN when there are no samples.
  double mean(double scale = 1.0) const;
  double min(double scale = 1.0) const;
  double max(double scale = 1.0) const;
  // Population standard deviation; NaN when there are no samples.
  double standard_deviation(double scale = 1.0) const;

  // Writes the summary, in sample units times `scale`, into `statistic`
  // (NaNs when empty). `statistic` must have every field present (built
  // with ForceDefaults).
  void Publish(timing::Statistic *statistic, double scale) const;

 private:
  uint64_t count_ = 0;
  // The first sample; the sums are of offsets from it.
  int64_t shift_ = 0;
  int64_t sum_ = 0;
  double sum_squares_ = 0.0;
  int64_t min_ = 0;
  int64_t max_ = 0;
};

// Durations are counted in nanoseconds and reported in seconds.
inline constexpr double kNanosecondsToSeconds = 1e-9;

struct RawSenderTiming {
  explicit RawSenderTiming(int new_channel_index)
      : channel_index(new_channel_index) {}

  void AddSend(size_t bytes) {
    ++count;
    size.Add(static_cast<int64_t>(bytes));
  }
  void AddError(timing::SendError error) {
    ++error_counts[static_cast<size_t>(error)];
  }
  // Wakeup signals the kernel refused (EAGAIN) after a successful send.
  void AddSignalFailures(uint64_t failures) { signal_failures += failures; }
  // Points at this sender's entry of the report, or nullptr.
  void set_timing_report(timing::Sender *new_sender) { sender = new_sender; }
  void Publish() const;
  void Reset();

  const int channel_index;
  timing::Sender *sender = nullptr;
  uint32_t count = 0;
  RunningStatistic size;
  std::array<uint32_t, static_cast<size_t>(timing::SendError::MAX) + 1>
      error_counts{};
  uint64_t signal_failures = 0;
};

struct RawFetcherTiming {
  explicit RawFetcherTiming(int new_channel_index)
      : channel_index(new_channel_index) {}

  void AddFetch(std::chrono::nanoseconds latency_time) {
    ++count;
    latency.Add(latency_time.count());
  }
  void AddLost(uint64_t lost) { lost_messages += lost; }
  void set_timing_report(timing::Fetcher *new_fetcher) {
    fetcher = new_fetcher;
  }
  void Publish() const;
  void Reset();

  const int channel_index;
  timing::Fetcher *fetcher = nullptr;
  uint32_t count = 0;
  RunningStatistic latency;
  uint64_t lost_messages = 0;
};

struct WatcherTiming {
  explicit WatcherTiming(int new_channel_index)
      : channel_index(new_channel_index) {}

  void AddCall(std::chrono::nanoseconds wakeup_latency_time,
               std::chrono::nanoseconds handler_time_taken) {
    ++count;
    wakeup_latency.Add(wakeup_latency_time.count());
    handler_time.Add(handler_time_taken.count());
  }
  void AddLost(uint64_t lost) { lost_messages += lost; }
  void set_timing_report(timing::Watcher *new_watcher) {
    watcher = new_watcher;
  }
  void Publish() const;
  void Reset();

  const int channel_index;
  timing::Watcher *watcher = nullptr;
  uint32_t count = 0;
  RunningStatistic wakeup_latency;
  RunningStatistic handler_time;
  uint64_t lost_messages = 0;
};

// Timers and phased loops.
struct TimerTiming {
  void AddCall(std::chrono::nanoseconds wakeup_latency_time,
               std::chrono::nanoseconds handler_time_taken) {
    ++count;
    wakeup_latency.Add(wakeup_latency_time.count());
    handler_time.Add(handler_time_taken.count());
  }
  void set_timing_report(timing::Timer *new_timer) { timer = new_timer; }
  void Publish() const;
  void Reset();

  timing::Timer *timer = nullptr;
  uint32_t count = 0;
  RunningStatistic wakeup_latency;
  RunningStatistic handler_time;
};

}  // namespace aos::internal

#endif  // AOS_EVENTS_TIMING_STATISTICS_H_
