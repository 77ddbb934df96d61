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
#include <cstdint>
#include <limits>

#include "aos/events/event_loop_generated.h"

namespace aos::internal {

// Count, mean, min, max and standard deviation of a stream of samples
// (Welford's update, so it is numerically stable and needs no storage).
class RunningStatistic {
 public:
  void Add(double sample);
  void Reset() { *this = RunningStatistic(); }

  uint64_t count() const { return count_; }
  // NaN when there are no samples.
  double mean() const;
  double min() const;
  double max() const;
  // Population standard deviation; NaN when there are no samples.
  double standard_deviation() const;

  // Writes the summary into `statistic` (NaNs when empty). `statistic` must
  // have every field present (built with ForceDefaults).
  void Publish(timing::Statistic *statistic) const;

 private:
  uint64_t count_ = 0;
  double mean_ = 0.0;
  double m2_ = 0.0;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
};

struct RawSenderTiming {
  explicit RawSenderTiming(int new_channel_index)
      : channel_index(new_channel_index) {}

  void AddSend(size_t bytes) {
    ++count;
    size.Add(static_cast<double>(bytes));
  }
  void AddError(timing::SendError error) {
    ++error_counts[static_cast<size_t>(error)];
  }
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
};

struct RawFetcherTiming {
  explicit RawFetcherTiming(int new_channel_index)
      : channel_index(new_channel_index) {}

  void AddFetch(double latency_seconds) {
    ++count;
    latency.Add(latency_seconds);
  }
  void set_timing_report(timing::Fetcher *new_fetcher) {
    fetcher = new_fetcher;
  }
  void Publish() const;
  void Reset();

  const int channel_index;
  timing::Fetcher *fetcher = nullptr;
  uint32_t count = 0;
  RunningStatistic latency;
};

struct WatcherTiming {
  explicit WatcherTiming(int new_channel_index)
      : channel_index(new_channel_index) {}

  void AddCall(double wakeup_latency_seconds, double handler_time_seconds) {
    ++count;
    wakeup_latency.Add(wakeup_latency_seconds);
    handler_time.Add(handler_time_seconds);
  }
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
};

// Timers and phased loops.
struct TimerTiming {
  void AddCall(double wakeup_latency_seconds, double handler_time_seconds) {
    ++count;
    wakeup_latency.Add(wakeup_latency_seconds);
    handler_time.Add(handler_time_seconds);
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
