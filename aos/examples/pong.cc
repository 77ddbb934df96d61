// pong: answers every aos.examples.Ping on /test with an aos.examples.Pong
// carrying the same value and send time. Runs until Ctrl-C.

#include <iostream>

#include "aos/events/shm_event_loop.h"
#include "aos/examples/example_config.h"
#include "aos/examples/pong_lib.h"
#include "aos/init.h"
#include "gflags/gflags.h"

DEFINE_string(config, "pingpong_config.json",
              "The configuration (looked for beside this program too).");
DEFINE_int32(priority, 0, "SCHED_FIFO priority to run at (0: not realtime).");

int main(int argc, char **argv) {
  gflags::SetUsageMessage(
      "Answers every aos.examples.Ping on /test with an aos.examples.Pong.\n"
      "Usage: pong [--config=pingpong_config.json] [--shm_base=/dev/shm/aos]");
  aos::InitGoogle(&argc, &argv);
  if (argc > 1) {
    std::cerr << "pong: unexpected argument '" << argv[1]
              << "' (see pong --help)\n";
    return 1;
  }

  aos::FlatbufferDetachedBuffer<aos::Configuration> config =
      aos::examples::ReadExampleConfigOrExit(FLAGS_config);
  aos::ShmEventLoop event_loop(&config.message());
  event_loop.SetRuntimeRealtimePriority(FLAGS_priority);
  aos::Pong pong(&event_loop);

  const aos::Result<void> result = event_loop.Run();
  std::cout << "pong: answered " << pong.answered() << " pings ("
            << pong.send_failures() << " send failures)\n"
            << std::flush;
  if (!result) {
    std::cerr << "pong: " << result.error().message() << "\n";
    return 1;
  }
  return 0;
}
