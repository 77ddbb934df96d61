#ifndef AOS_EXAMPLES_EXAMPLE_CONFIG_H_
#define AOS_EXAMPLES_EXAMPLE_CONFIG_H_

// How the example programs load their configuration: the --config path as
// given, else beside the program itself (so `build/aos/examples/ping` finds
// the pingpong_config.json built next to it from any working directory).

#include <string_view>

#include "aos/configuration.h"

namespace aos::examples {

// Reads and validates the configuration at `path`. On error prints one line
// naming the file and the problem to stderr and exits with status 1.
FlatbufferDetachedBuffer<Configuration> ReadExampleConfigOrExit(
    std::string_view path);

}  // namespace aos::examples

#endif  // AOS_EXAMPLES_EXAMPLE_CONFIG_H_
