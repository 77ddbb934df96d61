#include "robot/heartbeat_lib.h"

#include "robot/heartbeat_static.h"

namespace robot {

HeartbeatSender::HeartbeatSender(aos::EventLoop *event_loop,
                                 std::chrono::milliseconds period)
    : sender_(event_loop->MakeSender<Heartbeat>("/robot")) {
  event_loop->AddPhasedLoop(
      [this](int) {
        auto builder = sender_.MakeStaticBuilder();
        builder->set_sequence(sequence_ + 1);
        builder->set_failures(failures_);
        if (builder.Send() == aos::RawSender::Error::kOk) {
          ++sequence_;
        } else {
          ++failures_;
        }
      },
      period);
}

}  // namespace robot
