#ifndef BENCH_COMMON_BENCH_UTIL_H_
#define BENCH_COMMON_BENCH_UTIL_H_

// Small pieces every benchmark needs to measure the same way on this shared
// machine: pinning a process to a CPU, and the clocks samples are taken with.

#include <cstdint>
#include <string>
#include <vector>

namespace aos::bench {

// Pins the calling thread to `cpu`; -1 leaves it unpinned. Dies, naming the
// CPU, if it does not exist.
void PinToCpu(int cpu);

// CLOCK_MONOTONIC in nanoseconds, the clock the queue stamps messages with.
int64_t NowNs();

// Both send times of a message, read the way the queue reads them
// (CLOCK_MONOTONIC, then aos::RealtimeAt): the clock cost every floor that
// stands for "what the contract makes any transport do" must include.
struct SendTimes {
  int64_t monotonic_ns;
  int64_t realtime_ns;
};
SendTimes ReadSendTimes();

// The non-empty items of a comma-separated flag value ("64,,1024" gives
// "64" and "1024").
std::vector<std::string> SplitCommaList(const std::string &list);

// The 1, 5 and 15 minute load averages from /proc/loadavg ("0.52 1.10 1.33"),
// printed by benchmarks at start and end so a reader can tell a busy
// machine's figures from an idle one's.
std::string LoadAverage();

// This thread's CPU time in nanoseconds. On a shared machine it leaves out
// the time other processes had the core, so it compares builds more steadily
// than wall time.
int64_t ThreadCpuNs();

}  // namespace aos::bench

#endif  // BENCH_COMMON_BENCH_UTIL_H_
