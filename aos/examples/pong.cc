// pong: answers every aos.examples.Ping on /test with an aos.examples.Pong
// carrying the same value and send time. Runs until Ctrl-C.

#include <iostream>

#include "aos/events/shm_event_loop.h"
#include "aos/examples/pong_lib.h"
#include "aos/tools/aos_cli_utils.h"
#include "gflags/gflags.h"

DEFINE_int32(priority, 0, "SCHED_FIFO priority to run at (0: not realtime).");

int main(int argc, char **argv) {
  aos::cli::InitTool(
      &argc, &argv,
      {.name = "pong",
       .usage = "pong: answers every aos.examples.Ping on /test with an\n"
                "aos.examples.Pong, until Ctrl-C.\n"
                "\n"
                "Usage: pong [flags]",
       .flags = {"config", "shm_base", "priority", "timing_report_ms"},
       .default_config = "pingpong_config.json"});
  if (argc > 1) {
    std::cerr << "pong: unexpected argument '" << argv[1]
              << "' (see pong --help)\n";
    return 1;
  }

  aos::Result<aos::FlatbufferDetachedBuffer<aos::Configuration>> config =
      aos::cli::LoadConfig(FLAGS_config);
  if (!config) {
    aos::cli::PrintError("pong", config.error().message());
    return 1;
  }
  aos::ShmEventLoop event_loop(&config->message());
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
