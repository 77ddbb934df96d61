#include "aos/events/logging/clock_offset_estimator.h"

#include <algorithm>
#include <limits>

#include "glog/logging.h"

namespace aos::logger {
namespace {

using Int = __int128;

int64_t FloorDiv(Int a, Int b) {
  Int q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return static_cast<int64_t>(q);
}

// The y of the line through (x0, y0) and (x1, y1) at x, rounded down.
int64_t Interpolate(int64_t x0, int64_t y0, int64_t x1, int64_t y1, int64_t x) {
  return y0 + FloorDiv(static_cast<Int>(x - x0) * (y1 - y0), x1 - x0);
}

struct P {
  int64_t x;
  int64_t y;
};

// Lower convex hull of `points` (any order). Of points with equal x only the
// lowest counts.
std::vector<P> LowerHull(std::vector<P> points) {
  std::sort(points.begin(), points.end(), [](const P &a, const P &b) {
    return a.x != b.x ? a.x < b.x : a.y < b.y;
  });
  std::vector<P> hull;
  for (const P &p : points) {
    if (!hull.empty() && hull.back().x == p.x) continue;  // a lower y won
    while (hull.size() >= 2) {
      const P &o = hull[hull.size() - 2];
      const P &a = hull.back();
      // Drop `a` unless o -> a -> p turns left (strictly convex).
      const Int cross = static_cast<Int>(a.x - o.x) * (p.y - o.y) -
                        static_cast<Int>(a.y - o.y) * (p.x - o.x);
      if (cross > 0) break;
      hull.pop_back();
    }
    hull.push_back(p);
  }
  return hull;
}

ClockOffset ToOffset(const std::vector<P> &hull) {
  ClockOffset offset;
  for (const P &p : hull) {
    offset.points.push_back(
        {monotonic_clock::time_point(std::chrono::nanoseconds(p.x)),
         std::chrono::nanoseconds(p.y)});
  }
  return offset;
}

}  // namespace

std::chrono::nanoseconds ClockOffset::Evaluate(
    monotonic_clock::time_point t) const {
  CHECK(!points.empty()) << ": an empty ClockOffset has no value";
  if (points.size() == 1) return points.front().offset;
  const int64_t x = t.time_since_epoch().count();
  // The segment holding x, or the end segment beyond it.
  auto it = std::upper_bound(points.begin(), points.end(), t,
                             [](monotonic_clock::time_point t, const Point &p) {
                               return t < p.a_time;
                             });
  if (it == points.begin()) ++it;
  if (it == points.end()) --it;
  const Point &p0 = *(it - 1);
  const Point &p1 = *it;
  return std::chrono::nanoseconds(
      Interpolate(p0.a_time.time_since_epoch().count(), p0.offset.count(),
                  p1.a_time.time_since_epoch().count(), p1.offset.count(), x));
}

void ClockOffsetEstimator::AddAToB(monotonic_clock::time_point sent,
                                   monotonic_clock::time_point received) {
  a_to_b_.push_back(
      {sent.time_since_epoch().count(), (received - sent).count()});
}

void ClockOffsetEstimator::AddBToA(monotonic_clock::time_point sent,
                                   monotonic_clock::time_point received) {
  b_to_a_.push_back(
      {received.time_since_epoch().count(), (sent - received).count()});
}

ClockOffsetEstimator::Estimate ClockOffsetEstimator::Compute() const {
  CHECK(!a_to_b_.empty() || !b_to_a_.empty())
      << ": estimating a clock offset needs at least one forwarded message";
  Estimate estimate;
  std::vector<P> upper;
  if (!a_to_b_.empty()) {
    std::vector<P> points;
    points.reserve(a_to_b_.size());
    for (const Sample &s : a_to_b_) points.push_back({s.x, s.y});
    upper = LowerHull(std::move(points));
    estimate.upper = ToOffset(upper);
  }
  std::vector<P> lower;
  if (!b_to_a_.empty()) {
    // The upper concave hull is the lower convex hull of the mirror image.
    std::vector<P> points;
    points.reserve(b_to_a_.size());
    for (const Sample &s : b_to_a_) points.push_back({s.x, -s.y});
    lower = LowerHull(std::move(points));
    for (P &p : lower) p.y = -p.y;
    estimate.lower = ToOffset(lower);
  }
  if (lower.empty() || upper.empty()) {
    estimate.offset = lower.empty() ? estimate.upper : estimate.lower;
    estimate.error_bound = std::chrono::nanoseconds::max();
    return estimate;
  }
  std::vector<int64_t> xs;
  for (const P &p : upper) xs.push_back(p.x);
  for (const P &p : lower) xs.push_back(p.x);
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  estimate.error_bound = std::chrono::nanoseconds(0);
  for (const int64_t x : xs) {
    const monotonic_clock::time_point t{std::chrono::nanoseconds(x)};
    const std::chrono::nanoseconds u = estimate.upper.Evaluate(t);
    const std::chrono::nanoseconds l = estimate.lower.Evaluate(t);
    estimate.offset.points.push_back(
        {t, std::chrono::nanoseconds(
                FloorDiv(static_cast<Int>(u.count()) + l.count(), 2))});
    if (l > u) {
      estimate.crossing = std::max(estimate.crossing, l - u);
    } else {
      estimate.error_bound = std::max(
          estimate.error_bound, (u - l + std::chrono::nanoseconds(1)) / 2);
    }
  }
  return estimate;
}

}  // namespace aos::logger
