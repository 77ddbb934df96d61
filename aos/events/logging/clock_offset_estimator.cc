#include "aos/events/logging/clock_offset_estimator.h"

#include <algorithm>
#include <limits>
#include <span>

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

using P = ClockOffsetEstimator::Sample;

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

namespace {

constexpr std::chrono::nanoseconds kMinEndSegment =
    std::chrono::milliseconds(1);

// The estimate over one stretch of the log, from its points (sorted by x).
ClockOffsetEstimator::Estimate Solve(std::span<const P> a_to_b,
                                     std::span<const P> b_to_a) {
  ClockOffsetEstimator::Estimate estimate;
  std::vector<P> upper;
  if (!a_to_b.empty()) {
    upper = LowerHull(std::vector<P>(a_to_b.begin(), a_to_b.end()));
    estimate.upper = ToOffset(upper);
  }
  std::vector<P> lower;
  if (!b_to_a.empty()) {
    // The upper concave hull is the lower convex hull of the mirror image.
    std::vector<P> points;
    points.reserve(b_to_a.size());
    for (const P &p : b_to_a) points.push_back({p.x, -p.y});
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
  // The two hulls often end a few hundred ns apart (the last message each
  // way), and the segment between their ends has a slope made of the
  // midpoint's rounding (1 ns in 500 ns is 2000 ppm), along which the
  // estimate is extended beyond the data (to a reboot, to the log's end):
  // drop the inner point of an end segment shorter than kMinEndSegment.
  // Within that segment the estimate then moves by at most its length
  // times the drift, far below any link delay.
  std::vector<ClockOffset::Point> &points = estimate.offset.points;
  while (points.size() > 2 &&
         points[1].a_time - points[0].a_time < kMinEndSegment) {
    points.erase(points.begin() + 1);
  }
  while (points.size() > 2 &&
         points.back().a_time - points[points.size() - 2].a_time <
             kMinEndSegment) {
    points.erase(points.end() - 2);
  }
  return estimate;
}

// How deep SolveRange splits: 2^20 windows is more than any log needs.
constexpr int kMaxDepth = 20;

// Solves the stretch; where the envelopes cross (the clocks' relation is
// not linear over it: the drift changed), splits it in two halves of time
// and solves each, so each piece's envelopes only have to hold over it.
void SolveRange(std::span<const P> a_to_b, std::span<const P> b_to_a, int depth,
                ClockOffsetEstimator::Estimate *out) {
  ClockOffsetEstimator::Estimate estimate = Solve(a_to_b, b_to_a);
  if (estimate.crossing.count() > 0 && depth < kMaxDepth &&
      a_to_b.size() + b_to_a.size() >= 4) {
    const int64_t first = std::min(a_to_b.front().x, b_to_a.front().x);
    const int64_t last = std::max(a_to_b.back().x, b_to_a.back().x);
    const int64_t middle = first + (last - first) / 2 + 1;
    const auto split = [middle](std::span<const P> points) {
      return static_cast<size_t>(
          std::lower_bound(points.begin(), points.end(), middle,
                           [](const P &p, int64_t x) { return p.x < x; }) -
          points.begin());
    };
    const size_t ab = split(a_to_b);
    const size_t ba = split(b_to_a);
    if (ab + ba > 0 && ab + ba < a_to_b.size() + b_to_a.size()) {
      SolveRange(a_to_b.subspan(0, ab), b_to_a.subspan(0, ba), depth + 1, out);
      SolveRange(a_to_b.subspan(ab), b_to_a.subspan(ba), depth + 1, out);
      return;
    }
  }
  const auto append = [](const ClockOffset &from, ClockOffset *to) {
    to->points.insert(to->points.end(), from.points.begin(), from.points.end());
  };
  append(estimate.offset, &out->offset);
  append(estimate.upper, &out->upper);
  append(estimate.lower, &out->lower);
  out->error_bound = std::max(out->error_bound, estimate.error_bound);
  out->crossing = std::max(out->crossing, estimate.crossing);
  ++out->windows;
}

std::vector<P> Sorted(const std::vector<P> &points) {
  std::vector<P> out = points;
  std::sort(out.begin(), out.end(), [](const P &a, const P &b) {
    return a.x != b.x ? a.x < b.x : a.y < b.y;
  });
  return out;
}

}  // namespace

ClockOffsetEstimator::Estimate ClockOffsetEstimator::Compute() const {
  CHECK(!a_to_b_.empty() || !b_to_a_.empty())
      << ": estimating a clock offset needs at least one forwarded message";
  const std::vector<P> a_to_b = Sorted(a_to_b_);
  const std::vector<P> b_to_a = Sorted(b_to_a_);
  Estimate estimate;
  estimate.error_bound = std::chrono::nanoseconds(0);
  SolveRange(a_to_b, b_to_a, 0, &estimate);
  return estimate;
}

}  // namespace aos::logger
