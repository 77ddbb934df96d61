#ifndef AOS_NETWORK_TESTING_TIME_CONVERTER_H_
#define AOS_NETWORK_TESTING_TIME_CONVERTER_H_

// TestingTimeConverter: node clocks for simulations, given as samples.
//
// Tests describe how each node's monotonic clock relates to the
// distributed clock by listing samples "at distributed time d, node i reads
// t_i (in boot b_i)"; between samples the clocks are linear (so a node can
// drift), before the first and after the last sample of a boot they run at
// the distributed clock's rate. A sample with a higher boot, or RebootAt,
// reboots a node:
//
//   message_bridge::TestingTimeConverter time(2);
//   time.AddNextTimestamp(distributed_clock::epoch(),
//                         {{0, monotonic_clock::epoch()},
//                          {0, monotonic_clock::epoch() - 1s}});  // pi2
//                                                   // boots 1 s later
//   time.AddMonotonic({10s, 10s + 1ms});  // pi2 drifts 100 ppm fast
//   time.RebootAt(0, distributed_clock::epoch() + 5s);
//   factory.SetTimeConverter(&time);

#include <cstddef>
#include <vector>

#include "aos/events/event_scheduler.h"
#include "aos/time/time.h"

namespace aos::message_bridge {

class TestingTimeConverter final : public TimeConverter {
 public:
  explicit TestingTimeConverter(size_t node_count);

  // Every node reads the epoch (boot 0) at the distributed epoch.
  void StartEqual();

  // Adds a sample. `time` must be after the previous sample's, `times` has
  // one entry per node, each in the node's current boot (moving forward in
  // it) or the next boot (a reboot at `time`). CHECK-fails otherwise.
  void AddNextTimestamp(distributed_clock::time_point time,
                        const std::vector<BootTimestamp> &times);

  // Adds a sample max(durations) after the previous one, where node i's
  // clock moved durations[i] forward in the same boot. Requires a previous
  // sample.
  void AddMonotonic(const std::vector<monotonic_clock::duration> &durations);

  // Reboots node `node_index` at distributed time `time`: its next boot
  // reads the epoch then. `time` must not be before its last sample.
  void RebootAt(size_t node_index, distributed_clock::time_point time);

  monotonic_clock::time_point FromDistributedClock(
      size_t node_index, distributed_clock::time_point time,
      size_t boot) override;
  distributed_clock::time_point ToDistributedClock(size_t node_index,
                                                   BootTimestamp time) override;
  distributed_clock::time_point BootStartTime(size_t node_index,
                                              size_t boot) override;

 private:
  struct Point {
    distributed_clock::time_point distributed;
    monotonic_clock::time_point monotonic;
  };
  // nodes_[node][boot] = the boot's samples, in order.
  using Boot = std::vector<Point>;

  const Boot &GetBoot(size_t node_index, size_t boot) const;
  void AddPoint(size_t node_index, distributed_clock::time_point time,
                BootTimestamp monotonic);

  std::vector<std::vector<Boot>> nodes_;
  distributed_clock::time_point last_time_ = distributed_clock::min_time;
};

}  // namespace aos::message_bridge

#endif  // AOS_NETWORK_TESTING_TIME_CONVERTER_H_
