// ClockOffsetEstimator on synthetic forwarded messages whose true offset is
// known: the estimate is within the stated bound, the bound is what the link's
// minimum delays allow, and causality holds for every message.

#include "aos/events/logging/clock_offset_estimator.h"

#include <random>

#include "glog/logging.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// b's clock = 1 s + a's clock * (1 + 100 ppm); with `kink`, b's drift turns
// to -100 ppm at 5 s on a's clock (a concave offset, the hard case for an
// upper envelope).
nanoseconds TrueOffset(monotonic_clock::time_point a, bool kink = false) {
  const int64_t t = a.time_since_epoch().count();
  const int64_t kink_at = nanoseconds(seconds(5)).count();
  if (!kink || t < kink_at) return seconds(1) + nanoseconds(t / 10000);
  return seconds(1) + nanoseconds(kink_at / 10000) -
         nanoseconds((t - kink_at) / 10000);
}
monotonic_clock::time_point ToB(monotonic_clock::time_point a,
                                bool kink = false) {
  return a + TrueOffset(a, kink);
}
// a's time when b reads `b` (inverse of ToB, to the nanosecond).
monotonic_clock::time_point ToA(monotonic_clock::time_point b,
                                bool kink = false) {
  int64_t low = (b - seconds(2)).time_since_epoch().count();
  int64_t high = b.time_since_epoch().count();
  // The first a with ToB(a) >= b.
  while (low < high) {
    const int64_t mid = low + (high - low) / 2;
    if (ToB(monotonic_clock::time_point(nanoseconds(mid)), kink) < b) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  return monotonic_clock::time_point(nanoseconds(low));
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
    std::vector<std::pair<int64_t, int64_t>> *ba, bool kink = false) {
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
    const monotonic_clock::time_point b_receive = ToB(a_send + delay, kink);
    estimator.AddAToB(a_send, b_receive);
    ab->push_back({a_send.time_since_epoch().count(),
                   b_receive.time_since_epoch().count()});

    const monotonic_clock::time_point b_send =
        ToB(monotonic_clock::epoch() + milliseconds(10) * i + milliseconds(5),
            kink);
    delay = link.min_b_to_a +
            (i % 20 == 10 || i == 0 || i == 999
                 ? nanoseconds(0)
                 : nanoseconds(random() % (link.jitter.count() + 1)));
    const monotonic_clock::time_point a_receive = ToA(b_send, kink) + delay;
    estimator.AddBToA(b_send, a_receive);
    ba->push_back({b_send.time_since_epoch().count(),
                   a_receive.time_since_epoch().count()});
  }
  return estimator.Compute();
}

// The worst |estimate - truth| over the log, sampled every millisecond.
nanoseconds WorstError(const ClockOffset &offset, bool kink = false) {
  nanoseconds worst(0);
  for (int i = 0; i <= 10000; ++i) {
    const monotonic_clock::time_point t =
        monotonic_clock::epoch() + milliseconds(1) * i;
    const nanoseconds error = offset.Evaluate(t) - TrueOffset(t, kink);
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

// Every a->b send mapped onto b is no later than its receive, and every b->a
// receive mapped onto b is no earlier than its send.
void ExpectCausal(const ClockOffsetEstimator::Estimate &estimate,
                  const std::vector<std::pair<int64_t, int64_t>> &ab,
                  const std::vector<std::pair<int64_t, int64_t>> &ba) {
  for (const auto &[sent, received] : ab) {
    const monotonic_clock::time_point s{nanoseconds(sent)};
    EXPECT_LE(s + estimate.offset.Evaluate(s),
              monotonic_clock::time_point(nanoseconds(received)));
  }
  for (const auto &[sent, received] : ba) {
    const monotonic_clock::time_point r{nanoseconds(received)};
    EXPECT_GE(r + estimate.offset.Evaluate(r),
              monotonic_clock::time_point(nanoseconds(sent)));
  }
}

TEST(ClockOffsetEstimatorTest, EveryMessageStaysCausal) {
  std::vector<std::pair<int64_t, int64_t>> ab, ba;
  const ClockOffsetEstimator::Estimate estimate = Simulate(
      {microseconds(100), microseconds(150), microseconds(400)}, &ab, &ba);
  ExpectCausal(estimate, ab, ba);
}

// The drift changes mid-log: one pair of envelopes over the whole log would
// cross (no line fits), so the estimate splits the log where they do and
// stays causal, and close to the truth.
TEST(ClockOffsetEstimatorTest, DriftChangeSplitsTheLog) {
  std::vector<std::pair<int64_t, int64_t>> ab, ba;
  const ClockOffsetEstimator::Estimate estimate = Simulate(
      {microseconds(100), microseconds(100), microseconds(400)}, &ab, &ba,
      /*kink=*/true);
  EXPECT_EQ(estimate.crossing, nanoseconds(0));
  EXPECT_GT(estimate.windows, 1);
  ExpectCausal(estimate, ab, ba);
  const nanoseconds error = WorstError(estimate.offset, /*kink=*/true);
  LOG(INFO) << "drift change: " << estimate.windows << " windows, worst error "
            << error.count() << " ns, bound " << estimate.error_bound.count()
            << " ns";
  EXPECT_LE(error, 2 * estimate.error_bound);
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
