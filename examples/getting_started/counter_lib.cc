#include "examples/getting_started/counter_lib.h"

#include <cinttypes>

#include "aos/logging/logging.h"
#include "examples/getting_started/counter_static.h"
#include "glog/logging.h"

namespace myapp {

Counter::Counter(aos::EventLoop *event_loop, std::chrono::milliseconds period)
    : sender_(event_loop->MakeSender<Count>("/myapp")) {
  // A phased loop runs at every multiple of `period` after the loop starts:
  // the first count goes out one period after Run().
  event_loop->AddPhasedLoop(
      [this](int) {
        auto builder = sender_.MakeStaticBuilder();
        builder->set_value(++count_);
        // Within its static_length, so it cannot run out of space.
        CHECK(builder->add_source()->SetString("counter"));
        if (builder.Send() != aos::RawSender::Error::kOk) {
          AOS_LOG(WARNING, "count %" PRId64 " not sent", count_);
        }
      },
      period);
}

}  // namespace myapp
