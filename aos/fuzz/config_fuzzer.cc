// Fuzz entry point: arbitrary bytes as a JSON configuration. Reading a config
// must never crash or abort, whatever the input: it returns an error or a
// valid configuration. See docs/decisions/fuzzing.md for how this runs.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "aos/configuration.h"
#include "glog/logging.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const aos::FlatbufferDetachedBuffer<aos::Configuration> empty =
      aos::FlatbufferDetachedBuffer<aos::Configuration>::Empty();
  const std::string_view json(reinterpret_cast<const char *>(data), size);
  aos::Result<aos::FlatbufferDetachedBuffer<aos::Configuration>> config =
      aos::configuration::MaybeMergeWithConfig(&empty.message(), json);
  if (config.has_value()) {
    CHECK(config->Verify()) << "merged config does not verify";
    CHECK(aos::configuration::Validate(&config->message()).has_value());
  }
  return 0;
}
