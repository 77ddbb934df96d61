#ifndef AOS_EVENTS_LOGGING_CLOCK_OFFSET_ESTIMATOR_H_
#define AOS_EVENTS_LOGGING_CLOCK_OFFSET_ESTIMATOR_H_

// ClockOffsetEstimator: how far apart two nodes' monotonic clocks were, from
// the messages forwarded between them.
//
// A multi-node log has no common clock: each node logged its own monotonic
// time. What ties two nodes a and b together is every forwarded message,
// logged with its send time on one node and its receive time on the other.
// Write o(t) = b's clock - a's clock at the instant a's clock reads t. A
// message a -> b sent at a-time s and received at b-time r took a delay
// d >= 0, so r - s = o(s) + d >= o(s): every a -> b message bounds o from
// above. A message b -> a sent at b-time s' and received at a-time r' gives
// s' - r' = o(r') - d' <= o(r'): a bound from below (to within drift times
// the delay, nanoseconds). The estimate is taken between the two envelopes:
//
//   U(t) = lower convex hull of the (s, r - s) points    (o <= U)
//   L(t) = upper concave hull of the (r', s' - r') points (o >= L)
//   o_hat(t) = (U(t) + L(t)) / 2,  |o_hat - o| <= (U - L) / 2
//
// The hulls are the tightest bounds a linear o (constant drift) can have:
// where both directions reach their minimum delays dmin_ab and dmin_ba, U - L
// is dmin_ab + dmin_ba and the error is (dmin_ab - dmin_ba) / 2, zero for a
// symmetric link. Beyond the data the end segments are extended, so drift
// keeps being followed. Because o_hat <= U and o_hat >= L, every message's
// receive time stays at or after its send time mapped to the receiver
// (causality), as long as the envelopes do not cross; they can only cross if
// the clocks' relation is not linear over the log (a drift that changed),
// which would break causality. So where they cross, the log is split in two
// halves of time, recursively, and each piece gets its own envelopes: a
// piecewise-linear o, one piece per stretch of (nearly) constant drift.
// Messages in one direction only give one bound;
// the estimate is then that bound (receive times equal to mapped send times
// at the fastest message), and the error bound is unknown (infinite); the
// same holds for a split piece with messages in one direction only.
//
// Upstream estimates with a noncausal filter over the one-way delays, per
// window; the hull is the windowless form of that lower envelope.

#include <chrono>
#include <string>
#include <vector>

#include "aos/time/time.h"

namespace aos::logger {

// A piecewise-linear function of node a's monotonic time: o(t) at the
// sample points, extended beyond them along the end segments (or constant
// for a single point).
struct ClockOffset {
  struct Point {
    monotonic_clock::time_point a_time;
    std::chrono::nanoseconds offset;
  };
  std::vector<Point> points;

  // o(t), rounded toward negative infinity.
  std::chrono::nanoseconds Evaluate(monotonic_clock::time_point t) const;
};

class ClockOffsetEstimator {
 public:
  // A message sent on a at a-time `sent` and received on b at b-time
  // `received`.
  void AddAToB(monotonic_clock::time_point sent,
               monotonic_clock::time_point received);
  // A message sent on b at b-time `sent` and received on a at a-time
  // `received`.
  void AddBToA(monotonic_clock::time_point sent,
               monotonic_clock::time_point received);

  size_t a_to_b_count() const { return a_to_b_.size(); }
  size_t b_to_a_count() const { return b_to_a_.size(); }

  struct Estimate {
    // b's clock minus a's clock, as a function of a's clock.
    ClockOffset offset;
    // The envelopes (empty without data in that direction).
    ClockOffset upper;
    ClockOffset lower;
    // max over the sample points of (U - L) / 2: the estimate is within
    // this of the true offset wherever the clocks are linear. max() when
    // only one direction has messages.
    std::chrono::nanoseconds error_bound;
    // How far the envelopes cross (L - U > 0) at worst after splitting;
    // 0 when consistent.
    std::chrono::nanoseconds crossing{0};
    // How many stretches of time the estimate was made over (1 unless the
    // drift changed).
    int windows = 0;
  };
  // Requires at least one message (CHECK-fails otherwise).
  Estimate Compute() const;

  // One message: x is the abscissa (a's clock), y the one-way bound.
  struct Sample {
    int64_t x;
    int64_t y;
  };

 private:
  std::vector<Sample> a_to_b_;
  std::vector<Sample> b_to_a_;
};

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_CLOCK_OFFSET_ESTIMATOR_H_
