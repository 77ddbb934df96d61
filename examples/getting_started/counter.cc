// counter: sends a count on /myapp every 100 ms, until Ctrl-C.
#include <iostream>

#include "aos/events/shm_event_loop.h"
#include "aos/tools/aos_cli_utils.h"
#include "examples/getting_started/counter_lib.h"

int main(int argc, char **argv) {
  aos::cli::InitTool(
      &argc, &argv,
      {.name = "counter",
       .usage = "counter: sends a count on /myapp every "
                "100 ms, until Ctrl-C.\n\nUsage: counter [flags]",
       .flags = {"config", "shm_base"},
       .default_config = "myapp_config.json"});
  aos::FlatbufferDetachedBuffer<aos::Configuration> config =
      aos::cli::LoadConfigOrExit("counter");

  aos::ShmEventLoop event_loop(&config.message());
  myapp::Counter counter(&event_loop);
  if (aos::Result<void> result = event_loop.Run(); !result) {
    std::cerr << "counter: " << result.error().message() << "\n";
    return 1;
  }
  return 0;
}
