#include "aos/network/testing_time_converter.h"

#include <algorithm>

#include "glog/logging.h"

namespace aos::message_bridge {
namespace {

// a * b / c rounded down (up if `round_up`), without overflow.
int64_t MulDiv(int64_t a, int64_t b, int64_t c, bool round_up) {
  const __int128 product = static_cast<__int128>(a) * b;
  __int128 quotient = product / c;
  const __int128 remainder = product % c;
  if (remainder != 0 && ((remainder > 0) == (c > 0))) {
    // product / c is positive and truncated toward zero: floor is quotient.
    if (round_up) ++quotient;
  } else if (remainder != 0) {
    // Negative result truncated toward zero: floor is one lower.
    if (!round_up) --quotient;
  }
  return static_cast<int64_t>(quotient);
}

}  // namespace

TestingTimeConverter::TestingTimeConverter(size_t node_count)
    : nodes_(node_count, std::vector<Boot>(1)) {}

void TestingTimeConverter::StartEqual() {
  AddNextTimestamp(
      distributed_clock::epoch(),
      std::vector<BootTimestamp>(nodes_.size(),
                                 BootTimestamp{0, monotonic_clock::epoch()}));
}

void TestingTimeConverter::AddPoint(size_t node_index,
                                    distributed_clock::time_point time,
                                    BootTimestamp monotonic) {
  std::vector<Boot> &boots = nodes_[node_index];
  const size_t current = boots.size() - 1;
  if (monotonic.boot == current + 1) {
    boots.emplace_back();
  } else {
    CHECK_EQ(monotonic.boot, current)
        << ": node " << node_index << " can only stay in boot " << current
        << " or move to the next one";
    if (!boots.back().empty()) {
      CHECK_GT(monotonic.time, boots.back().back().monotonic)
          << ": node " << node_index << "'s clock must move forward";
      CHECK_GT(time, boots.back().back().distributed);
    }
  }
  boots.back().push_back(Point{time, monotonic.time});
}

void TestingTimeConverter::AddNextTimestamp(
    distributed_clock::time_point time,
    const std::vector<BootTimestamp> &times) {
  CHECK_EQ(times.size(), nodes_.size()) << ": one time per node";
  CHECK_GT(time, last_time_) << ": samples must move forward";
  for (size_t i = 0; i < nodes_.size(); ++i) AddPoint(i, time, times[i]);
  last_time_ = time;
}

void TestingTimeConverter::AddMonotonic(
    const std::vector<monotonic_clock::duration> &durations) {
  CHECK_EQ(durations.size(), nodes_.size()) << ": one duration per node";
  CHECK(last_time_ != distributed_clock::min_time)
      << ": AddMonotonic needs a previous sample (StartEqual)";
  const monotonic_clock::duration step =
      *std::max_element(durations.begin(), durations.end());
  std::vector<BootTimestamp> times;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Boot &boot = nodes_[i].back();
    CHECK(!boot.empty()) << ": node " << i << " has no sample in its boot";
    times.push_back(BootTimestamp{nodes_[i].size() - 1,
                                  boot.back().monotonic + durations[i]});
  }
  AddNextTimestamp(last_time_ + step, times);
}

void TestingTimeConverter::RebootAt(size_t node_index,
                                    distributed_clock::time_point time) {
  CHECK_LT(node_index, nodes_.size());
  const Boot &boot = nodes_[node_index].back();
  // At the last sample is fine: that sample is the old boot's last moment.
  CHECK(boot.empty() || time >= boot.back().distributed)
      << ": a reboot cannot come before the node's last sample (at "
      << boot.back().distributed << "), at " << time;
  AddPoint(node_index, time,
           BootTimestamp{nodes_[node_index].size(), monotonic_clock::epoch()});
}

const TestingTimeConverter::Boot &TestingTimeConverter::GetBoot(
    size_t node_index, size_t boot) const {
  CHECK_LT(node_index, nodes_.size());
  const std::vector<Boot> &boots = nodes_[node_index];
  CHECK_LT(boot, boots.size())
      << ": node " << node_index << " has no boot " << boot;
  if (boots[boot].empty()) {
    // No sample yet: the node reads the distributed clock.
    CHECK_EQ(boot, 0u) << ": node " << node_index << " boot " << boot
                       << " has no sample";
    static const Boot kIdentity{
        Point{distributed_clock::epoch(), monotonic_clock::epoch()}};
    return kIdentity;
  }
  return boots[boot];
}

monotonic_clock::time_point TestingTimeConverter::FromDistributedClock(
    size_t node_index, distributed_clock::time_point time, size_t boot) {
  const Boot &points = GetBoot(node_index, boot);
  // The last sample at or before `time` (or the first one).
  auto it = std::upper_bound(points.begin(), points.end(), time,
                             [](distributed_clock::time_point t,
                                const Point &p) { return t < p.distributed; });
  if (it == points.begin() || it == points.end()) {
    const Point &p = it == points.begin() ? points.front() : points.back();
    return p.monotonic + (time - p.distributed);
  }
  const Point &p1 = *it;
  const Point &p0 = *(it - 1);
  return p0.monotonic + monotonic_clock::duration(MulDiv(
                            (time - p0.distributed).count(),
                            (p1.monotonic - p0.monotonic).count(),
                            (p1.distributed - p0.distributed).count(), false));
}

distributed_clock::time_point TestingTimeConverter::ToDistributedClock(
    size_t node_index, BootTimestamp time) {
  const Boot &points = GetBoot(node_index, time.boot);
  auto it = std::upper_bound(points.begin(), points.end(), time.time,
                             [](monotonic_clock::time_point t, const Point &p) {
                               return t < p.monotonic;
                             });
  if (it == points.begin() || it == points.end()) {
    const Point &p = it == points.begin() ? points.front() : points.back();
    return p.distributed + (time.time - p.monotonic);
  }
  const Point &p1 = *it;
  const Point &p0 = *(it - 1);
  return p0.distributed + distributed_clock::duration(MulDiv(
                              (time.time - p0.monotonic).count(),
                              (p1.distributed - p0.distributed).count(),
                              (p1.monotonic - p0.monotonic).count(), true));
}

distributed_clock::time_point TestingTimeConverter::BootStartTime(
    size_t node_index, size_t boot) {
  if (boot == 0) return distributed_clock::min_time;
  CHECK_LT(node_index, nodes_.size());
  const std::vector<Boot> &boots = nodes_[node_index];
  if (boot >= boots.size() || boots[boot].empty()) {
    return distributed_clock::max_time;
  }
  return boots[boot].front().distributed;
}

}  // namespace aos::message_bridge
