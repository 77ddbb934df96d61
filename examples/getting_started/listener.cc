// listener: prints every count sent on /myapp, until Ctrl-C.
#include <iostream>

#include "aos/events/shm_event_loop.h"
#include "aos/tools/aos_cli_utils.h"
#include "examples/getting_started/counter_generated.h"

int main(int argc, char **argv) {
  aos::cli::InitTool(&argc, &argv,
                     {.name = "listener",
                      .usage = "listener: prints every count sent on /myapp, "
                               "until Ctrl-C.\n\nUsage: listener [flags]",
                      .flags = {"config", "shm_base"},
                      .default_config = "myapp_config.json"});
  aos::FlatbufferDetachedBuffer<aos::Configuration> config =
      aos::cli::LoadConfigOrExit("listener");

  aos::ShmEventLoop event_loop(&config.message());
  event_loop.MakeWatcher("/myapp", [&](const myapp::Count &count) {
    // std::cout allocates: fine for a tool people read, not for a realtime
    // process (use AOS_LOG there).
    std::cout << "count " << count.value() << " from "
              << count.source()->string_view() << " sent at "
              << event_loop.context().monotonic_event_time << std::endl;
  });
  if (aos::Result<void> result = event_loop.Run(); !result) {
    std::cerr << "listener: " << result.error().message() << "\n";
    return 1;
  }
  return 0;
}
