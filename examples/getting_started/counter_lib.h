#ifndef EXAMPLES_GETTING_STARTED_COUNTER_LIB_H_
#define EXAMPLES_GETTING_STARTED_COUNTER_LIB_H_

// Counter: sends myapp.Count on /myapp every `period`, counting up from 1.
// It only needs an EventLoop, so the same class runs in the counter program
// (ShmEventLoop) and in its simulation test (SimulatedEventLoopFactory).

#include <chrono>
#include <cstdint>

#include "aos/events/event_loop.h"
#include "examples/getting_started/counter_generated.h"

namespace myapp {

class Counter {
 public:
  explicit Counter(
      aos::EventLoop *event_loop,
      std::chrono::milliseconds period = std::chrono::milliseconds(100));

  // The last value sent.
  int64_t count() const { return count_; }

 private:
  aos::Sender<Count> sender_;
  int64_t count_ = 0;
};

}  // namespace myapp

#endif  // EXAMPLES_GETTING_STARTED_COUNTER_LIB_H_
