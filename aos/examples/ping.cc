// ping: sends aos.examples.Ping on /test every --sleep_us and measures the
// round trip to pong. Prints min/p50/p99/max round-trip times when it stops
// (Ctrl-C, or after --count replies).
//
//   build/aos/examples/pong &
//   build/aos/examples/ping --sleep_us=1000 --count=1000

#include <iostream>

#include "aos/events/shm_event_loop.h"
#include "aos/examples/ping_lib.h"
#include "aos/tools/aos_cli_utils.h"
#include "gflags/gflags.h"

DEFINE_int32(sleep_us, 10000, "Time between pings, in microseconds.");
DEFINE_int64(count, 0, "Stop after this many replies (0: run until Ctrl-C).");
DEFINE_int32(priority, 0, "SCHED_FIFO priority to run at (0: not realtime).");

int main(int argc, char **argv) {
  aos::cli::InitTool(
      &argc, &argv,
      {.name = "ping",
       .usage = "ping: sends aos.examples.Ping on /test every --sleep_us,\n"
                "measures round trips to pong, and prints their statistics\n"
                "(min/p50/p99/max) when stopped (Ctrl-C or --count).\n"
                "\n"
                "Usage: ping [flags]",
       .flags = {"config", "shm_base", "sleep_us", "count", "priority",
                 "timing_report_ms"},
       .default_config = "pingpong_config.json"});
  if (argc > 1) {
    std::cerr << "ping: unexpected argument '" << argv[1]
              << "' (see ping --help)\n";
    return 1;
  }
  if (FLAGS_sleep_us <= 0) {
    std::cerr << "ping: --sleep_us=" << FLAGS_sleep_us
              << " is out of range: it must be > 0\n";
    return 1;
  }
  if (FLAGS_count < 0) {
    std::cerr << "ping: --count=" << FLAGS_count
              << " is out of range: it must be >= 0\n";
    return 1;
  }

  aos::Result<aos::FlatbufferDetachedBuffer<aos::Configuration>> config =
      aos::cli::LoadConfig(FLAGS_config);
  if (!config) {
    aos::cli::PrintError("ping", config.error().message());
    return 1;
  }
  aos::ShmEventLoop event_loop(&config->message());
  event_loop.SetRuntimeRealtimePriority(FLAGS_priority);
  aos::Ping ping(&event_loop,
                 {.interval = std::chrono::microseconds(FLAGS_sleep_us),
                  .count = FLAGS_count,
                  .on_done = [&event_loop]() { event_loop.Exit(); }});

  const aos::Result<void> result = event_loop.Run();
  std::cout << ping.Summary() << std::flush;
  if (!result) {
    std::cerr << "ping: " << result.error().message() << "\n";
    return 1;
  }
  return 0;
}
