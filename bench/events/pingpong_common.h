// What every ping-pong of bench/events shares: latency samples collected by
// forked processes into shared memory, their summary (min/p50/p99/p99.9/max),
// CPU pinning and waiting for the forked players.
//
// Each ping-pong (ShmEventLoop, raw rt signal, iceoryx) forks a ping and a
// pong process pinned to the placement's CPUs; both add their one-way
// latencies to one Samples and the parent summarizes them, so every
// mechanism is measured and reported the same way.

#ifndef BENCH_EVENTS_PINGPONG_COMMON_H_
#define BENCH_EVENTS_PINGPONG_COMMON_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace aos::bench {

// Latency samples in nanoseconds, in anonymous shared memory so that forked
// children can add to it. Construct it before forking.
class Samples {
 public:
  // Maps room for `capacity` samples; samples past it are counted and dropped.
  explicit Samples(size_t capacity);
  Samples(const Samples &) = delete;
  Samples &operator=(const Samples &) = delete;
  ~Samples();

  // Adds one sample; safe from any number of processes at once.
  void Add(int64_t sample);
  // Returns the samples added since the last Take and empties the set. Call
  // it only while no child is adding.
  std::vector<int64_t> Take();

 private:
  size_t capacity_;
  size_t mapped_bytes_;
  size_t *count_;
  int64_t *data_;
};

// One run's distribution, in microseconds.
struct Stats {
  double min, p50, p99, p999, max;
};

// Summarizes `samples` (nanoseconds; must not be empty) in microseconds.
Stats Summarize(std::vector<int64_t> samples);

// Pins the calling process to `cpu`; dies if the CPU does not exist.
void PinToCpu(int cpu);

// Waits for the child `pid`; if it failed, kills `other` (a child that would
// wait for it forever; 0 for none) and dies.
void WaitFor(pid_t pid, pid_t other);

// CLOCK_MONOTONIC in nanoseconds, the clock every sample is taken with.
int64_t NowNs();

}  // namespace aos::bench

#endif  // BENCH_EVENTS_PINGPONG_COMMON_H_
