#include "aos/time/realtime_at.h"

#include "glog/logging.h"

namespace aos {
namespace time_internal {

int64_t RealtimeOffset::Offset() {
  const int64_t realtime = read_ns_(CLOCK_REALTIME_COARSE);
  const int64_t monotonic = read_ns_(CLOCK_MONOTONIC_COARSE);
  const int64_t cached = cached_offset_.load(std::memory_order_relaxed);
  // Equal unless the wall clock was stepped since the cache was filled, or a
  // timekeeping update (each tick) fell between the two reads.
  if (realtime - monotonic == cached) [[likely]] {
    return cached;
  }
  return Refresh();
}

int64_t RealtimeOffset::Refresh() {
  while (true) {
    // A tick moves the coarse monotonic clock, so equal readings on both
    // sides mean the realtime reading between them came from the same
    // timekeeping update. (A step moves only the realtime clock; reading
    // after it gives the new offset, which is what we want.)
    const int64_t monotonic_before = read_ns_(CLOCK_MONOTONIC_COARSE);
    const int64_t realtime = read_ns_(CLOCK_REALTIME_COARSE);
    const int64_t monotonic_after = read_ns_(CLOCK_MONOTONIC_COARSE);
    if (monotonic_before == monotonic_after) {
      const int64_t offset = realtime - monotonic_before;
      cached_offset_.store(offset, std::memory_order_relaxed);
      return offset;
    }
  }
}

}  // namespace time_internal

namespace {

int64_t ReadClockNs(clockid_t clock) {
  struct timespec ts;
  PCHECK(clock_gettime(clock, &ts) == 0) << "clock_gettime(" << clock << ")";
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

constinit time_internal::RealtimeOffset kernel_offset(&ReadClockNs);

}  // namespace

realtime_clock::time_point RealtimeAt(
    monotonic_clock::time_point monotonic_now) {
  return realtime_clock::time_point(
      monotonic_now.time_since_epoch() +
      realtime_clock::duration(kernel_offset.Offset()));
}

}  // namespace aos
