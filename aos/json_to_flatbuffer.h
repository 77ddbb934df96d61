#ifndef AOS_JSON_TO_FLATBUFFER_H_
#define AOS_JSON_TO_FLATBUFFER_H_

// Conversion between JSON text and flatbuffers of any type whose schema is
// known, for configs, command-line tools (aos_send, aos_dump), logs and tests.
//
// Parsing is done by FlatBuffers' own parser (flatbuffers::Parser loaded with
// the type's reflection schema) in its strict JSON mode: field names must be
// quoted and trailing commas are errors, as upstream. It also accepts `//` and
// `/* */` comments, nan/inf, hex integers, enum values by name (for bit_flags
// enums, several names separated by spaces: "A C"), and unions as a
// `foo_type` field plus `foo`. Every field given in the JSON is stored, even
// when it equals the default, so "present" means "written by the user"
// (configuration merging relies on this).
//
// Printing walks the flatbuffer with the reflection schema. Fields print in
// schema order; absent fields are omitted; enum values print by name (a
// bit_flags combination as "A C"), or as a number if no name describes them:
//
//   FlatbufferToJson(&message)  ->  { "name": "/foo", "frequency": 10 }
//
// Typed variants find T's schema from the generated code (see
// json_to_flatbuffer_schema.cc), so no registration is needed.
//
// Nothing here aborts on bad input: parsing returns an Error whose message
// carries the line and column the parser stopped at and what it expected.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "aos/flatbuffers.h"
#include "aos/flatbuffers/base.h"
#include "aos/flatbuffers/builder.h"
#include "aos/util/file.h"
#include "aos/util/status.h"
#include "flatbuffers/flatbuffers.h"
#include "flatbuffers/reflection.h"

namespace aos {

struct JsonOptions {
  // One field per line, indented by one space per level. Otherwise everything
  // is on one line, like `{ "a": 1, "b": [ 1, 2 ] }`.
  bool multi_line = false;
  // Vectors longer than this print as `[ "... N elements ..." ]`.
  size_t max_vector_size = std::numeric_limits<size_t>::max();
  // In multi_line mode, tables and vectors whose single-line form is at most
  // this many characters stay on one line. 0 puts every field on its own line.
  size_t max_multi_line = 0;
  // Integers print in hex (`0x1f`, `-0x3`); floats, enums and bools do not.
  bool use_hex = false;
};

// Prints the flatbuffer whose root table (of `schema`'s root_table type)
// starts at `data` (a finished, non-size-prefixed buffer). A null `data`
// prints "null". The buffer must be valid (verify untrusted bytes first).
std::string FlatbufferToJson(const reflection::Schema *schema,
                             const uint8_t *data, JsonOptions options = {});

// As FlatbufferToJson, but appends to `out` (keeping what is there): tools
// that print many messages (log_cat, aos_dump) reuse one buffer, so printing
// a message allocates nothing once the buffer has grown. Returns whether it
// printed a nan or inf (which JSON parsers other than flatbuffers' reject),
// so callers that need strict JSON rewrite only when there is something to
// rewrite.
bool AppendFlatbufferToJson(std::string *out, const reflection::Schema *schema,
                            const uint8_t *data, JsonOptions options = {});

// Prints the table `table` of type `object` (one of `schema`'s objects).
std::string TableFlatbufferToJson(const reflection::Schema *schema,
                                  const reflection::Object *object,
                                  const flatbuffers::Table *table,
                                  JsonOptions options = {});

// Parses `json` as `schema`'s root table into a finished flatbuffer. On error
// returns a message with the line and column ("2:7: error: unknown field:
// frequncy"), prefixed with the root type's name.
Result<flatbuffers::DetachedBuffer> JsonToFlatbuffer(
    const reflection::Schema *schema, std::string_view json);

// Parses `json` as `schema`'s root table and builds it into `fbb`, returning
// the table's offset; the caller finishes the buffer (or nests the table).
// This is how EventLoop senders build JSON straight into their message buffer.
Result<flatbuffers::Offset<flatbuffers::Table>> JsonToFlatbuffer(
    const reflection::Schema *schema, std::string_view json,
    flatbuffers::FlatBufferBuilder *fbb);

namespace json_internal {
// The reflection schema of the generated type whose mini-reflection table is
// `type_table` (with fully qualified name `name`), rebuilt once per type and
// process and cached. See json_to_flatbuffer_schema.cc.
const reflection::Schema *SchemaForTypeTable(
    const flatbuffers::TypeTable *type_table, std::string_view name);
}  // namespace json_internal

// The reflection schema of generated type T: root_table is T, and every type
// it refers to is in it. Valid for the life of the process.
template <typename T>
const reflection::Schema *SchemaOf() {
  static const reflection::Schema *const schema =
      json_internal::SchemaForTypeTable(T::MiniReflectTypeTable(),
                                        T::GetFullyQualifiedName());
  return schema;
}

// Upstream's handle on a flatbuffer type for the untyped calls below: made
// (implicitly, as upstream) from a generated type's mini-reflection table
// (`FooTypeTable()`) or from a reflection schema (its root table). Cheap to
// copy; the schema it refers to lives as long as the process (type tables)
// or as the caller keeps it (schemas).
class FlatbufferType {
 public:
  FlatbufferType(const flatbuffers::TypeTable *type_table)
      : schema_(json_internal::SchemaForTypeTable(
            type_table, "aos.json_internal.TypeTableRoot")) {}
  FlatbufferType(const reflection::Schema *schema) : schema_(schema) {}

  const reflection::Schema *schema() const { return schema_; }

 private:
  const reflection::Schema *schema_;
};

// Upstream's untyped parse: on error logs the error and returns an empty
// buffer (size() == 0), like JsonToFlatbuffer<T>. For user input prefer the
// Result form above, JsonToFlatbuffer(schema, json).
flatbuffers::DetachedBuffer JsonToFlatbuffer(std::string_view json,
                                             FlatbufferType type);

// Upstream's untyped print of a table of `type` (null prints "null").
std::string TableFlatbufferToJson(const flatbuffers::Table *table,
                                  FlatbufferType type,
                                  JsonOptions options = {});

// Typed printing. A null `table` prints "null".
template <typename T>
std::string FlatbufferToJson(const T *table, JsonOptions options = {}) {
  return TableFlatbufferToJson(
      SchemaOf<T>(), SchemaOf<T>()->root_table(),
      reinterpret_cast<const flatbuffers::Table *>(table), options);
}

template <typename T>
std::string FlatbufferToJson(const Flatbuffer<T> &flatbuffer,
                             JsonOptions options = {}) {
  return FlatbufferToJson<T>(&flatbuffer.message(), options);
}

// Typed parsing that returns the error.
template <typename T>
Result<FlatbufferDetachedBuffer<T>> MaybeJsonToFlatbuffer(
    std::string_view json) {
  Result<flatbuffers::DetachedBuffer> buffer =
      JsonToFlatbuffer(SchemaOf<T>(), json);
  if (!buffer) return std::unexpected(buffer.error());
  return FlatbufferDetachedBuffer<T>(std::move(*buffer));
}

// Typed parsing, upstream's contract: on error logs the error and returns an
// empty buffer (span().size() == 0). Prefer MaybeJsonToFlatbuffer for user
// input.
template <typename T>
FlatbufferDetachedBuffer<T> JsonToFlatbuffer(std::string_view json) {
  Result<FlatbufferDetachedBuffer<T>> result = MaybeJsonToFlatbuffer<T>(json);
  if (!result) {
    LOG(ERROR) << result.error().message();
    return FlatbufferDetachedBuffer<T>();
  }
  return std::move(*result);
}

// Typed parsing into `fbb`; returns a null offset (o == 0) on error, after
// logging it.
template <typename T>
flatbuffers::Offset<T> JsonToFlatbuffer(std::string_view json,
                                        flatbuffers::FlatBufferBuilder *fbb) {
  Result<flatbuffers::Offset<flatbuffers::Table>> result =
      JsonToFlatbuffer(SchemaOf<T>(), json, fbb);
  if (!result) {
    LOG(ERROR) << result.error().message();
    return flatbuffers::Offset<T>();
  }
  return flatbuffers::Offset<T>(result->o);
}

// Parses `json` into a static flatbuffer builder (aos/flatbuffers/builder.h)
// of T (a FooStatic), on the heap (AlignedVectorAllocator), as upstream's
// helper. CHECK-fails on invalid JSON (for tests and constants); parse user
// input with MaybeJsonToFlatbuffer and FromFlatbuffer.
template <typename T>
fbs::Builder<T> JsonToStaticFlatbuffer(std::string_view json) {
  Result<FlatbufferDetachedBuffer<typename T::Flatbuffer>> parsed =
      MaybeJsonToFlatbuffer<typename T::Flatbuffer>(json);
  CHECK(parsed.has_value()) << ": " << parsed.error().message();
  fbs::Builder<T> builder(std::make_unique<fbs::AlignedVectorAllocator>());
  CHECK(builder->FromFlatbuffer(&parsed->message()))
      << ": the message does not fit " << T::GetFullyQualifiedName()
      << "'s static sizes (a vector of tables or strings longer than its "
         "static_length)";
  return builder;
}

// Files. Upstream's helpers CHECK-fail on a file they cannot read or write
// (they are for files that are part of the program, like a .bfbs next to
// it); the Maybe form returns the error, naming the file, for user input.

// The flatbuffer stored in `path` (e.g. a .bfbs or WriteFlatbufferToFile's
// output). CHECK-fails if the file cannot be read.
template <typename T>
FlatbufferVector<T> FileToFlatbuffer(std::string_view path) {
  return FlatbufferVector<T>(util::ReadFileToVecOrDie(path));
}

// Writes the flatbuffer's bytes to `filename`; CHECK-fails on error.
template <typename T>
void WriteFlatbufferToFile(std::string_view filename,
                           const Flatbuffer<T> &message) {
  util::WriteStringToFileOrDie(
      filename,
      std::string_view(reinterpret_cast<const char *>(message.span().data()),
                       message.span().size()));
}

// Parses the JSON file `path` as a T, or returns an error naming the file and
// the line and column.
template <typename T>
Result<FlatbufferDetachedBuffer<T>> MaybeJsonFileToFlatbuffer(
    std::string_view path) {
  Result<std::string> json = util::ReadFileToString(path);
  if (!json) return std::unexpected(json.error());
  Result<FlatbufferDetachedBuffer<T>> parsed = MaybeJsonToFlatbuffer<T>(*json);
  if (!parsed) {
    return MakeError(std::string(path) + ": " + parsed.error().message());
  }
  return parsed;
}

// Upstream's form: CHECK-fails if the file cannot be read; on a parse error
// logs it (with the file name) and returns an empty buffer.
template <typename T>
FlatbufferDetachedBuffer<T> JsonFileToFlatbuffer(std::string_view path) {
  Result<FlatbufferDetachedBuffer<T>> result =
      MaybeJsonToFlatbuffer<T>(util::ReadFileToStringOrDie(path));
  if (!result) {
    LOG(ERROR) << path << ": " << result.error().message();
    return FlatbufferDetachedBuffer<T>();
  }
  return std::move(*result);
}

// Writes the message as multi-line JSON to `filename`; CHECK-fails on error.
template <typename T>
void WriteFlatbufferToJson(std::string_view filename,
                           const Flatbuffer<T> &message) {
  util::WriteStringToFileOrDie(filename,
                               FlatbufferToJson(message, {.multi_line = true}));
}

}  // namespace aos

#endif  // AOS_JSON_TO_FLATBUFFER_H_
