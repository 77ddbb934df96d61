#ifndef AOS_EXAMPLES_PONG_LIB_H_
#define AOS_EXAMPLES_PONG_LIB_H_

// Pong: the answering half of the ping/pong example. It watches
// aos.examples.Ping on its channel and answers each with an
// aos.examples.Pong carrying the same value and send time, from inside the
// watcher, so a round trip measures two sends and two wakeups. The reply is
// built in place with the static flatbuffer builder, so the watcher
// allocates nothing. It says that it started, and every 100th failed reply,
// with AOS_LOG (on /aos aos.logging.LogMessageFbs where the configuration
// has that channel).
//
//   aos::ShmEventLoop event_loop(&config.message());
//   aos::Pong pong(&event_loop);
//   aos::CheckExpected(event_loop.Run());

#include <cstdint>
#include <string>
#include <string_view>

#include "aos/events/event_loop.h"
#include "aos/examples/ping_generated.h"
#include "aos/examples/pong_generated.h"

namespace aos {

class Pong {
 public:
  // Registers a watcher and a sender on `channel` of `event_loop` (before it
  // runs).
  explicit Pong(EventLoop *event_loop, std::string_view channel = "/test");

  int64_t answered() const { return answered_; }
  int64_t send_failures() const { return send_failures_; }

 private:
  void HandlePing(const examples::Ping &ping);

  Sender<examples::Pong> sender_;
  int64_t answered_ = 0;
  int64_t send_failures_ = 0;
};

}  // namespace aos

#endif  // AOS_EXAMPLES_PONG_LIB_H_
