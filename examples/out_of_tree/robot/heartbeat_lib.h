#ifndef ROBOT_HEARTBEAT_LIB_H_
#define ROBOT_HEARTBEAT_LIB_H_

// HeartbeatSender: sends robot.Heartbeat on /robot every `period`, numbered
// from 1, so a supervisor can tell the robot code is alive.

#include <chrono>
#include <cstdint>

#include "aos/events/event_loop.h"
#include "robot/heartbeat_generated.h"

namespace robot {

class HeartbeatSender {
 public:
  HeartbeatSender(aos::EventLoop *event_loop, std::chrono::milliseconds period);

  int64_t sent() const { return sequence_; }

 private:
  aos::Sender<Heartbeat> sender_;
  int64_t sequence_ = 0;
  int32_t failures_ = 0;
};

}  // namespace robot

#endif  // ROBOT_HEARTBEAT_LIB_H_
