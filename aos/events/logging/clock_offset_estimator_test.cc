// ClockOffsetEstimator on synthetic forwarded messages whose true offset is
// known: the estimate is within the stated bound, the bound is what the link's
// minimum delays allow, and causality holds for every message.

#include "aos/events/logging/clock_offset_estimator.h"

#include <random>

#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// b's clock = 1 s + a's clock * (1 + 100 ppm).
nanoseconds TrueOffset(monotonic_clock::time_point a) {
  return seconds(1) + nanoseconds(a.time_since_epoch().count() / 10000);
}
monotonic_clock::time_point ToB(monotonic_clock::time_point a) {
  return a + TrueOffset(a);
}
// a's time when b reads `b` (inverse of ToB, to the nanosecond).
monotonic_clock::time_point ToA(monotonic_clock::time_point b) {
  monotonic_clock::time_point a =
      monotonic_clock::epoch() +
      nanoseconds(static_cast<int64_t>(
          static_cast<double>((b - seconds(1)).time_since_epoch().count()) /
          1.0001));
  while (ToB(a) < b) a += nanoseconds(1);
  while (ToB(a - nanoseconds(1)) >= b) a -= nanoseconds(1);
  return a;
}

struct Link {
  nanoseconds min_a_to_b;
  nanoseconds min_b_to_a;
  nanoseconds jitter;
};

// 10 s of messages every 10 ms each way, delays min + [0, jitter) (every
// 20th message, and the first and last, at the minimum), recorded as the log
// would: send and receive times on each node's clock.
ClockOffsetEstimator::Estimate Simulate(
    const Link &link, std::vector<std::pair<int64_t, int64_t>> *ab,
    std::vector<std::pair<int64_t, int64_t>> *ba) {
  std::mt19937_64 random(971);
  ClockOffsetEstimator estimator;
  for (int i = 0; i < 1000; ++i) {
    const monotonic_clock::time_point a_send =
        monotonic_clock::epoch() + milliseconds(10) * i;
    nanoseconds delay =
        link.min_a_to_b +
        (i % 20 == 0 || i == 999
             ? nanoseconds(0)
             : nanoseconds(random() % (link.jitter.count() + 1)));
    const monotonic_clock::time_point b_receive = ToB(a_send + delay);
    estimator.AddAToB(a_send, b_receive);
    ab->push_back({a_send.time_since_epoch().count(),
                   b_receive.time_since_epoch().count()});

    const monotonic_clock::time_point b_send =
        ToB(monotonic_clock::epoch() + milliseconds(10) * i + milliseconds(5));
    delay = link.min_b_to_a +
            (i % 20 == 10 || i == 0 || i == 999
                 ? nanoseconds(0)
                 : nanoseconds(random() % (link.jitter.count() + 1)));
    const monotonic_clock::time_point a_receive = ToA(b_send) + delay;
    estimator.AddBToA(b_send, a_receive);
    ba->push_back({b_send.time_since_epoch().count(),
                   a_receive.time_since_epoch().count()});
  }
  return estimator.Compute();
}

// The worst |estimate - truth| over the log, sampled every millisecond.
nanoseconds WorstError(const ClockOffset &offset) {
  nanoseconds worst(0);
  for (int i = 0; i <= 10000; ++i) {
    const monotonic_clock::time_point t =
        monotonic_clock::epoch() + milliseconds(1) * i;
    const nanoseconds error = offset.Evaluate(t) - TrueOffset(t);
    worst = std::max(worst, error < nanoseconds(0) ? -error : error);
  }
  return worst;
}

TEST(ClockOffsetEstimatorTest, SymmetricLinkWithDrift) {
  std::vector<std::pair<int64_t, int64_t>> ab, ba;
  const ClockOffsetEstimator::Estimate estimate = Simulate(
      {microseconds(100), microseconds(100), microseconds(400)}, &ab, &ba);
  EXPECT_EQ(estimate.crossing, nanoseconds(0));
  // The bound is half the two minimum delays (plus the drift over a delay
  // and rounding).
  EXPECT_LE(estimate.error_bound, microseconds(100) + nanoseconds(100));
  EXPECT_GE(estimate.error_bound, microseconds(100) - nanoseconds(100));
  const nanoseconds error = WorstError(estimate.offset);
  EXPECT_LE(error, estimate.error_bound);
  // Symmetric minimum delays: the midpoint is exact up to drift * delay.
  EXPECT_LE(error, nanoseconds(100)) << error.count();
}

TEST(ClockOffsetEstimatorTest, AsymmetricLinkErrorIsHalfTheDifference) {
  std::vector<std::pair<int64_t, int64_t>> ab, ba;
  const ClockOffsetEstimator::Estimate estimate = Simulate(
      {microseconds(100), microseconds(300), microseconds(50)}, &ab, &ba);
  const nanoseconds error = WorstError(estimate.offset);
  EXPECT_LE(error, estimate.error_bound);
  // (300 - 100) / 2: b -> a is slower, so the estimate is 100 us early.
  EXPECT_GE(error, microseconds(100) - nanoseconds(200));
  EXPECT_LE(error, microseconds(100) + nanoseconds(200));
  EXPECT_LE(estimate.error_bound, microseconds(200) + nanoseconds(200));
}

TEST(ClockOffsetEstimatorTest, EveryMessageStaysCausal) {
  std::vector<std::pair<int64_t, int64_t>> ab, ba;
  const ClockOffsetEstimator::Estimate estimate = Simulate(
      {microseconds(100), microseconds(150), microseconds(400)}, &ab, &ba);
  for (const auto &[sent, received] : ab) {
    const monotonic_clock::time_point s{nanoseconds(sent)};
    // The send mapped onto b is no later than the receive.
    EXPECT_LE(s + estimate.offset.Evaluate(s),
              monotonic_clock::time_point(nanoseconds(received)));
  }
  for (const auto &[sent, received] : ba) {
    const monotonic_clock::time_point r{nanoseconds(received)};
    // The receive mapped onto b is no earlier than the send.
    EXPECT_GE(r + estimate.offset.Evaluate(r),
              monotonic_clock::time_point(nanoseconds(sent)));
  }
}

TEST(ClockOffsetEstimatorTest, OneDirectionHasNoBound) {
  ClockOffsetEstimator estimator;
  estimator.AddAToB(monotonic_clock::epoch() + seconds(1),
                    monotonic_clock::epoch() + seconds(2) + microseconds(150));
  estimator.AddAToB(monotonic_clock::epoch() + seconds(2),
                    monotonic_clock::epoch() + seconds(3) + microseconds(100));
  const ClockOffsetEstimator::Estimate estimate = estimator.Compute();
  EXPECT_EQ(estimate.error_bound, nanoseconds::max());
  // The upper envelope itself: the fastest messages arrive at once.
  EXPECT_EQ(estimate.offset.Evaluate(monotonic_clock::epoch() + seconds(2)),
            seconds(1) + microseconds(100));
  EXPECT_EQ(estimate.offset.Evaluate(monotonic_clock::epoch() + seconds(1)),
            seconds(1) + microseconds(150));
}

TEST(ClockOffsetEstimatorTest, CrossingEnvelopesAreReported) {
  // b -> a says b is at least 2 ms ahead, a -> b says at most 1 ms: no
  // linear relation fits.
  ClockOffsetEstimator estimator;
  estimator.AddAToB(monotonic_clock::epoch() + seconds(1),
                    monotonic_clock::epoch() + seconds(1) + milliseconds(1));
  estimator.AddBToA(monotonic_clock::epoch() + seconds(1) + milliseconds(2),
                    monotonic_clock::epoch() + seconds(1));
  const ClockOffsetEstimator::Estimate estimate = estimator.Compute();
  EXPECT_EQ(estimate.crossing, milliseconds(1));
}

}  // namespace
}  // namespace aos::logger::testing
