#ifndef AOS_JSON_NEGATIVE_NAN_H_
#define AOS_JSON_NEGATIVE_NAN_H_

// Keeps the sign of `-nan` through flatbuffers' JSON parser (internal to
// aos/json_to_flatbuffer.cc).
//
// Upstream AOS parses `-nan` into a NaN with the sign bit set and prints it
// back as `-nan`; flatbuffers' parser normalizes every NaN to +NaN. So before
// parsing, each `-nan` token (outside strings and comments) is replaced by a
// sentinel number that no other number in the text equals, as a double or as
// a float: -k * 2^-149 for the smallest such k, exact in both types. After
// parsing, every float or double in the buffer equal to the sentinel becomes
// -NaN. Text without `-nan` is parsed as it is.

#include <optional>
#include <string>
#include <string_view>

#include "flatbuffers/reflection.h"

namespace aos::json_internal {

struct NegativeNanRewrite {
  // The JSON to parse.
  std::string text;
  // The sentinel each `-nan` became, and its spelling in `text`; nullopt if
  // the input had no `-nan`.
  std::optional<double> sentinel;
  std::string sentinel_text;
};

// Replaces each `-nan` token of `json` with the sentinel.
NegativeNanRewrite RewriteNegativeNans(std::string_view json);

// Turns every float and double equal to `sentinel` in the table `root` (of
// `schema`'s root type, in a buffer the caller may write) and everything it
// refers to into -NaN.
void RestoreNegativeNans(const reflection::Schema &schema, uint8_t *root,
                         double sentinel);

}  // namespace aos::json_internal

#endif  // AOS_JSON_NEGATIVE_NAN_H_
