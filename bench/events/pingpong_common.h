// What every ping-pong of bench/events shares: latency samples collected by
// forked processes into shared memory, their summary (min/p50/p99/p99.9/max)
// and waiting for the forked players (pinning and clocks: bench_util.h).
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
#include <functional>
#include <vector>

#include "bench/common/bench_util.h"

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

// Makes SIGINT, SIGTERM and SIGHUP stop the benchmark without leaving
// anything behind: the signal handler kills the running players (children
// from ForkPlayer) or asks them to finish, and at the next ForkPlayer,
// WaitFor or ExitIfStopRequested the parent reaps them, runs `cleanup`
// (remove the shared memory, stop RouDi) and dies of the signal. Without
// this the parent would die at once, and the players, killed by the
// terminal's SIGINT or left running after a SIGTERM, would leave the shared
// memory behind. Call it once, before forking anything.
void StopOnSignals(std::function<void()> cleanup);

// What the signals above do to a player.
enum class OnStop {
  // SIGKILL: for players whose resources the cleanup removes.
  kKill,
  // Nothing: the player must watch StopRequested() and exit soon after it
  // becomes true (iceoryx players, which must unregister from RouDi). The
  // parent waits up to 5 s for it, then kills it.
  kFinish,
};

// Forks a player: the child gets the default action of the signals above
// back (a ShmEventLoop installs its own while it runs) and returns 0; the
// parent returns the child's pid, which the signals above stop as `on_stop`
// says until WaitFor reaps it. Dies if fork fails.
pid_t ForkPlayer(OnStop on_stop = OnStop::kKill);

// Whether one of the signals above arrived; in any process forked after
// StopOnSignals (the flag is in shared memory).
bool StopRequested();

// Restores the default action of the signals above; for a forked child that
// is not a player (it is about to exec).
void RestoreStopSignals();

// If one of the signals above arrived, stops as described there; returns
// otherwise.
void ExitIfStopRequested();

// Waits for the child `pid`; if it failed, kills `other` (a child that would
// wait for it forever; 0 for none) and dies. Stops as StopOnSignals says
// when one of its signals arrives meanwhile.
void WaitFor(pid_t pid, pid_t other);

}  // namespace aos::bench

#endif  // BENCH_EVENTS_PINGPONG_COMMON_H_
