// heartbeat: sends robot.Heartbeat on /robot every 50 ms, until Ctrl-C.
#include <iostream>

#include "aos/events/shm_event_loop.h"
#include "aos/tools/aos_cli_utils.h"
#include "robot/heartbeat_lib.h"

int main(int argc, char **argv) {
  aos::cli::InitTool(&argc, &argv,
                     {.name = "heartbeat",
                      .usage = "heartbeat: sends robot.Heartbeat on /robot "
                               "every 50 ms.\n\nUsage: heartbeat [flags]",
                      .flags = {"config", "shm_base"},
                      .default_config = "robot_config.json"});
  aos::FlatbufferDetachedBuffer<aos::Configuration> config =
      aos::cli::LoadConfigOrExit("heartbeat");
  aos::ShmEventLoop event_loop(&config.message());
  robot::HeartbeatSender heartbeat(&event_loop, std::chrono::milliseconds(50));
  if (aos::Result<void> result = event_loop.Run(); !result) {
    std::cerr << "heartbeat: " << result.error().message() << "\n";
    return 1;
  }
  return 0;
}
