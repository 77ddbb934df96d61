// Fuzz entry point: arbitrary bytes as JSON for a message type with every
// kind of field. Parsing must never crash; what parses must verify, print,
// and parse back to the same text. See docs/decisions/fuzzing.md.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "aos/json_test_generated.h"
#include "aos/json_to_flatbuffer.h"
#include "glog/logging.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using aos::testing::Everything;
  const std::string_view json(reinterpret_cast<const char *>(data), size);
  aos::Result<aos::FlatbufferDetachedBuffer<Everything>> parsed =
      aos::MaybeJsonToFlatbuffer<Everything>(json);
  if (!parsed.has_value()) return 0;
  CHECK(parsed->Verify());
  const std::string printed = aos::FlatbufferToJson(*parsed);
  aos::Result<aos::FlatbufferDetachedBuffer<Everything>> reparsed =
      aos::MaybeJsonToFlatbuffer<Everything>(printed);
  CHECK(reparsed.has_value()) << printed << ": " << reparsed.error().message();
  // NaN payloads lose their sign through the parser; compare printed forms.
  CHECK_EQ(aos::FlatbufferToJson(*reparsed), printed);
  aos::FlatbufferToJson(*parsed, {.multi_line = true,
                                  .max_vector_size = 2,
                                  .max_multi_line = 10,
                                  .use_hex = true});
  return 0;
}
