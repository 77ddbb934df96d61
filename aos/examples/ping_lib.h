#ifndef AOS_EXAMPLES_PING_LIB_H_
#define AOS_EXAMPLES_PING_LIB_H_

// Ping: the sending half of the ping/pong example, and a round-trip latency
// probe.
//
// Every `interval` it sends an aos.examples.Ping {value, send_time} on
// `channel`; for each aos.examples.Pong that comes back it records the round
// trip (now - initial_send_time) in a LatencyHistogram. Replies that are
// missing, duplicated or out of order are counted (and logged with AOS_LOG),
// so a lossy transport shows up in the summary rather than in skewed
// statistics. Like pong, it builds its messages in place with the static
// flatbuffer builder, so its timer and watcher allocate nothing.
//
//   aos::ShmEventLoop event_loop(&config.message());
//   aos::Ping ping(&event_loop, {.interval = 10ms});
//   aos::CheckExpected(event_loop.Run());
//   std::cout << ping.Summary() << "\n";

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "aos/events/event_loop.h"
#include "aos/examples/latency_histogram.h"
#include "aos/examples/ping_generated.h"
#include "aos/examples/pong_generated.h"

namespace aos {

struct PingOptions {
  std::string channel = "/test";
  std::chrono::nanoseconds interval = std::chrono::milliseconds(10);
  // Stop (exit the loop) after this many replies; 0 runs until told to stop.
  int64_t count = 0;
  // Called instead of exiting the loop when `count` replies arrived; default
  // (empty) does nothing, so the owner decides. See ping.cc.
  std::function<void()> on_done;
};

class Ping {
 public:
  // Registers a sender, a watcher and a timer on `event_loop` (before it
  // runs). The timer starts when the loop runs.
  Ping(EventLoop *event_loop, PingOptions options);

  const examples::LatencyHistogram &round_trips() const { return round_trips_; }
  int64_t sent() const { return sent_; }
  int64_t send_failures() const { return send_failures_; }
  int64_t missing() const { return missing_; }
  int64_t unexpected() const { return unexpected_; }

  // Several lines: pings sent, replies, losses, and the round-trip
  // statistics (min/p50/p99/max).
  std::string Summary() const;

 private:
  void SendPing();
  void HandlePong(const examples::Pong &pong);

  EventLoop *const event_loop_;
  const PingOptions options_;
  Sender<examples::Ping> sender_;
  TimerHandler *timer_ = nullptr;

  int32_t next_value_ = 1;
  // The value of the newest reply received; replies must increase.
  int32_t last_reply_ = 0;
  int64_t sent_ = 0;
  int64_t send_failures_ = 0;
  // Pings whose reply never came (skipped over by a later reply).
  int64_t missing_ = 0;
  // Replies that were duplicated, out of order or for pings never sent.
  int64_t unexpected_ = 0;
  examples::LatencyHistogram round_trips_;
};

}  // namespace aos

#endif  // AOS_EXAMPLES_PING_LIB_H_
