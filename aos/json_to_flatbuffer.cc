#include "aos/json_to_flatbuffer.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "aos/json_negative_nan.h"
#include "flatbuffers/idl.h"
#include "flatbuffers/util.h"
#include "glog/logging.h"

namespace aos {
namespace {

using namespace std::string_view_literals;

// Calls `f` on each field of `object` in declaration (id) order (reflection
// sorts them by name). Table and struct ids are dense (0..n-1), so the order
// is found by placing each field at its id, on the stack for the usual field
// counts: this runs for every table of every message log_cat prints.
template <typename F>
void ForEachFieldInIdOrder(const reflection::Object *object, F &&f) {
  const auto *fields = object->fields();
  const size_t count = fields->size();
  constexpr size_t kOnStack = 64;
  const reflection::Field *on_stack[kOnStack];
  std::vector<const reflection::Field *> on_heap;
  const reflection::Field **order = on_stack;
  if (count > kOnStack) {
    on_heap.resize(count);
    order = on_heap.data();
  }
  std::fill(order, order + count, nullptr);
  bool dense = true;
  for (const reflection::Field *field : *fields) {
    if (field->id() >= count || order[field->id()] != nullptr) {
      dense = false;
      break;
    }
    order[field->id()] = field;
  }
  if (!dense) {
    std::copy(fields->begin(), fields->end(), order);
    std::sort(order, order + count,
              [](const reflection::Field *a, const reflection::Field *b) {
                return a->id() < b->id();
              });
  }
  for (size_t i = 0; i < count; ++i) f(order[i]);
}

bool IsInteger(reflection::BaseType type) {
  return type >= reflection::UType && type <= reflection::ULong;
}

// Prints flatbuffers through their reflection schema. Single-line output is
// `{ "a": 1, "b": [ 1, 2 ] }`; multi-line output indents one space per level.
//
// Everything is written straight into the output string: an object or array
// is opened, its items appended in place, and closed. In multi-line mode,
// closing decides whether the items written on one line fit
// (max_multi_line) and otherwise re-lays them out one per line, so the
// single-line path, which log_cat and aos_dump run per message, makes no
// temporary strings.
class JsonPrinter {
 public:
  JsonPrinter(const reflection::Schema *schema, JsonOptions options,
              std::string *out)
      : schema_(schema), options_(options), out_(out) {}

  // Whether a nan or inf was printed.
  bool non_finite() const { return non_finite_; }

  void Table(const reflection::Object *object, const flatbuffers::Table *table,
             int indent) {
    if (table == nullptr) {
      out_->append("null"sv);
      return;
    }
    if (object->is_struct()) {
      Struct(object, reinterpret_cast<const uint8_t *>(table), indent);
      return;
    }
    Composite composite = Open('{');
    ForEachFieldInIdOrder(object, [&](const reflection::Field *field) {
      if (field->deprecated()) return;
      const size_t mark = out_->size();
      Item(&composite, field);
      if (!FieldValue(object, field, table, indent + 1)) {
        // Absent: take back the separator and name.
        out_->resize(mark);
        DropItem(&composite);
      }
    });
    Close(composite, '}', indent);
  }

 private:
  // An object or array being written: where it starts in the output, and
  // (multi-line only) where its items' texts start and end.
  struct Composite {
    size_t start;
    size_t items = 0;
    size_t spans_start;
  };

  // As upstream's printer: "{ " + items + " }", so an empty table or vector
  // is "{  }" / "[  ]".
  Composite Open(char open) {
    Composite composite{out_->size(), 0, spans_.size()};
    out_->push_back(open);
    out_->push_back(' ');
    return composite;
  }

  // Starts the next item: the separator and, for an object, `"name": `.
  void Item(Composite *composite, const reflection::Field *field) {
    if (options_.multi_line && composite->items != 0) {
      spans_.push_back(out_->size());  // The previous item's end.
    }
    if (composite->items != 0) out_->append(", "sv);
    if (options_.multi_line) spans_.push_back(out_->size());
    ++composite->items;
    if (field != nullptr) {
      out_->push_back('"');
      out_->append(field->name()->string_view());
      out_->append("\": "sv);
    }
  }

  // Forgets the item just started (the caller truncated the output).
  void DropItem(Composite *composite) {
    --composite->items;
    if (options_.multi_line) {
      spans_.pop_back();
      if (composite->items != 0) spans_.pop_back();
    }
  }

  void Close(const Composite &composite, char close, int indent) {
    if (!options_.multi_line || composite.items == 0) {
      out_->push_back(' ');
      out_->push_back(close);
      spans_.resize(composite.spans_start);
      return;
    }
    spans_.push_back(out_->size());  // The last item's end.
    out_->push_back(' ');
    out_->push_back(close);
    const std::string_view single =
        std::string_view(*out_).substr(composite.start);
    if (single.find('\n') == std::string_view::npos &&
        single.size() <= options_.max_multi_line) {
      spans_.resize(composite.spans_start);
      return;
    }
    // One item per line. Multi-line printing is for people (aos_dump
    // --pretty), so copying the items out once is fine.
    const std::string items(single);
    out_->resize(composite.start);
    out_->push_back(items[0]);
    for (size_t i = composite.spans_start; i < spans_.size(); i += 2) {
      out_->append(i == composite.spans_start ? "\n"sv : ",\n"sv);
      out_->append(indent + 1, ' ');
      out_->append(items, spans_[i] - composite.start,
                   spans_[i + 1] - spans_[i]);
    }
    out_->push_back('\n');
    out_->append(indent, ' ');
    out_->push_back(close);
    spans_.resize(composite.spans_start);
  }

  void Struct(const reflection::Object *object, const uint8_t *data,
              int indent) {
    Composite composite = Open('{');
    ForEachFieldInIdOrder(object, [&](const reflection::Field *field) {
      Item(&composite, field);
      const uint8_t *field_data = data + field->offset();
      const reflection::Type *type = field->type();
      if (type->base_type() == reflection::Obj) {
        Struct(schema_->objects()->Get(type->index()), field_data, indent + 1);
      } else if (type->base_type() == reflection::Array) {
        const size_t element_size =
            type->element() == reflection::Obj
                ? schema_->objects()->Get(type->index())->bytesize()
                : flatbuffers::GetTypeSize(type->element());
        Composite array = Open('[');
        for (size_t i = 0; i < type->fixed_length(); ++i) {
          Item(&array, nullptr);
          Element(type, field_data + i * element_size, indent + 2);
        }
        Close(array, ']', indent + 1);
      } else {
        Scalar(type->base_type(), type->index(), field_data);
      }
    });
    Close(composite, '}', indent);
  }

  // Prints one element of a vector or array of `type`: a scalar, string,
  // struct or table.
  void Element(const reflection::Type *type, const uint8_t *data, int indent) {
    switch (type->element()) {
      case reflection::String:
        String(flatbuffers::ReadScalar<flatbuffers::uoffset_t>(data) + data);
        return;
      case reflection::Obj: {
        const reflection::Object *object =
            schema_->objects()->Get(type->index());
        if (object->is_struct()) {
          Struct(object, data, indent);
        } else {
          Table(
              object,
              reinterpret_cast<const flatbuffers::Table *>(
                  data + flatbuffers::ReadScalar<flatbuffers::uoffset_t>(data)),
              indent);
        }
        return;
      }
      default:
        Scalar(type->element(), type->index(), data);
    }
  }

  // Appends the value of `field` of `table`; returns false if the field is
  // absent (and should not be printed).
  bool FieldValue(const reflection::Object *object,
                  const reflection::Field *field,
                  const flatbuffers::Table *table, int indent) {
    const reflection::Type *type = field->type();
    const flatbuffers::voffset_t offset = field->offset();
    if (!table->CheckField(offset)) return false;
    switch (type->base_type()) {
      case reflection::String:
        String(table->GetPointer<const uint8_t *>(offset));
        return true;
      case reflection::Obj: {
        const reflection::Object *child =
            schema_->objects()->Get(type->index());
        if (child->is_struct()) {
          Struct(child, table->GetStruct<const uint8_t *>(offset), indent);
        } else {
          Table(child, table->GetPointer<const flatbuffers::Table *>(offset),
                indent);
        }
        return true;
      }
      case reflection::Union: {
        const int64_t union_type =
            UnionType(object, field, table, /*element=*/-1);
        return UnionValue(type, union_type,
                          table->GetPointer<const flatbuffers::Table *>(offset),
                          indent);
      }
      case reflection::Vector:
        Vector(object, field, table, indent);
        return true;
      default:
        Scalar(type->base_type(), type->index(),
               table->GetStruct<const uint8_t *>(offset));
        return true;
    }
  }

  void Vector(const reflection::Object *object, const reflection::Field *field,
              const flatbuffers::Table *table, int indent) {
    const reflection::Type *type = field->type();
    const auto *vector =
        table->GetPointer<const flatbuffers::VectorOfAny *>(field->offset());
    if (vector->size() > options_.max_vector_size) {
      out_->append("[ \"... "sv);
      Integer(false, vector->size(), /*hex=*/false);
      out_->append(" elements ...\" ]"sv);
      return;
    }
    if (!options_.multi_line && type->index() < 0 &&
        IsInteger(type->element()) && type->element() != reflection::Bool &&
        !options_.use_hex) {
      IntegerVector(type->element(), vector);
      return;
    }
    // Not type->element_size(): flatc writes the offset size there for
    // vectors of structs.
    const size_t element_size =
        type->element() == reflection::Obj &&
                schema_->objects()->Get(type->index())->is_struct()
            ? schema_->objects()->Get(type->index())->bytesize()
            : flatbuffers::GetTypeSize(type->element());
    Composite composite = Open('[');
    for (size_t i = 0; i < vector->size(); ++i) {
      Item(&composite, nullptr);
      const uint8_t *data = vector->Data() + i * element_size;
      if (type->element() == reflection::Union) {
        UnionValue(
            type, UnionType(object, field, table, i),
            reinterpret_cast<const flatbuffers::Table *>(
                data + flatbuffers::ReadScalar<flatbuffers::uoffset_t>(data)),
            indent + 1);
      } else {
        Element(type, data, indent + 1);
      }
    }
    Close(composite, ']', indent);
  }

  // A single-line vector of plain (not enum) decimal integers, the bulk of
  // many messages (byte payloads): written through a pointer into room made
  // once, as `[ 1, 2 ]`, or `[  ]` when empty.
  void IntegerVector(reflection::BaseType element,
                     const flatbuffers::VectorOfAny *vector) {
    const size_t count = vector->size();
    // Up to 20 digits, a sign and ", " per element, plus "[ " and " ]".
    const size_t most = 4 + count * 23;
    const size_t start = out_->size();
    out_->resize_and_overwrite(start + most, [&](char *buffer, size_t) {
      char *p = buffer + start;
      *p++ = '[';
      *p++ = ' ';
      const uint8_t *data = vector->Data();
      switch (element) {
        case reflection::Byte:
          p = Integers<int8_t>(p, data, count);
          break;
        case reflection::UType:
        case reflection::UByte:
          p = Integers<uint8_t>(p, data, count);
          break;
        case reflection::Short:
          p = Integers<int16_t>(p, data, count);
          break;
        case reflection::UShort:
          p = Integers<uint16_t>(p, data, count);
          break;
        case reflection::Int:
          p = Integers<int32_t>(p, data, count);
          break;
        case reflection::UInt:
          p = Integers<uint32_t>(p, data, count);
          break;
        case reflection::Long:
          p = Integers<int64_t>(p, data, count);
          break;
        case reflection::ULong:
          p = Integers<uint64_t>(p, data, count);
          break;
        default:
          LOG(FATAL) << "not an integer type: " << element;
      }
      *p++ = ' ';
      *p++ = ']';
      return p - buffer;
    });
  }

  // The decimal text of every 1-byte integer, -128..255, so byte vectors
  // print by table lookup.
  struct SmallInteger {
    char text[4];
    uint8_t size;
  };
  static constexpr std::array<SmallInteger, 384> kSmallIntegers = [] {
    std::array<SmallInteger, 384> table{};
    for (int value = -128; value < 256; ++value) {
      SmallInteger &entry = table[value + 128];
      int magnitude = value < 0 ? -value : value;
      char digits[3];
      int count = 0;
      do {
        digits[count++] = '0' + magnitude % 10;
        magnitude /= 10;
      } while (magnitude != 0);
      if (value < 0) entry.text[entry.size++] = '-';
      while (count > 0) entry.text[entry.size++] = digits[--count];
    }
    return table;
  }();

  // Writes `count` integers of type T from `data` as "a, b, c" at `p`;
  // returns the end.
  template <typename T>
  static char *Integers(char *p, const uint8_t *data, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      if (i != 0) {
        *p++ = ',';
        *p++ = ' ';
      }
      const T value = flatbuffers::ReadScalar<T>(data + i * sizeof(T));
      if constexpr (sizeof(T) == 1) {
        const SmallInteger &small = kSmallIntegers[value + 128];
        std::memcpy(p, small.text, sizeof(small.text));
        p += small.size;
      } else {
        p = std::to_chars(p, p + 20, value).ptr;
      }
    }
    return p;
  }

  // The union type (enum value) stored in the `<name>_type` field that goes
  // with union (or vector of unions) `field`; `element` is the vector index,
  // or -1 for a single union. Returns 0 (NONE) if the type field is absent.
  int64_t UnionType(const reflection::Object *object,
                    const reflection::Field *field,
                    const flatbuffers::Table *table, int64_t element) {
    const std::string type_name = field->name()->str() + "_type";
    const reflection::Field *type_field =
        object->fields()->LookupByKey(type_name.c_str());
    if (type_field == nullptr || !table->CheckField(type_field->offset())) {
      return 0;
    }
    if (element < 0) {
      return flatbuffers::GetFieldI<uint8_t>(*table, *type_field);
    }
    const auto *types = table->GetPointer<const flatbuffers::Vector<uint8_t> *>(
        type_field->offset());
    return static_cast<size_t>(element) < types->size() ? types->Get(element)
                                                        : 0;
  }

  bool UnionValue(const reflection::Type *type, int64_t union_type,
                  const flatbuffers::Table *value, int indent) {
    const reflection::Enum *union_def = schema_->enums()->Get(type->index());
    const reflection::EnumVal *member =
        union_def->values()->LookupByKey(union_type);
    if (member == nullptr || member->union_type() == nullptr ||
        member->union_type()->base_type() != reflection::Obj) {
      out_->append("null"sv);
      return union_type != 0;
    }
    const reflection::Object *object =
        schema_->objects()->Get(member->union_type()->index());
    if (object->is_struct()) {
      Struct(object, reinterpret_cast<const uint8_t *>(value), indent);
    } else {
      Table(object, value, indent);
    }
    return true;
  }

  void String(const uint8_t *data) {
    const auto *string = reinterpret_cast<const flatbuffers::String *>(data);
    flatbuffers::EscapeString(string->c_str(), string->size(), out_,
                              /*allow_non_utf8=*/true, /*natural_utf8=*/false);
  }

  // Prints `value` of `enum_def` by name, quoted, if it has one: a value's
  // name, or for a bit_flags enum the names of its bits separated by spaces
  // (`"A C"`, as flatc prints and parses them). Returns false, printing
  // nothing, for a value no name describes (including 0 of a bit_flags enum,
  // and bits no flag names).
  bool EnumName(const reflection::Enum *enum_def, int64_t value) {
    if (const reflection::EnumVal *enum_value =
            enum_def->values()->LookupByKey(value)) {
      out_->push_back('"');
      out_->append(enum_value->name()->string_view());
      out_->push_back('"');
      return true;
    }
    if (enum_def->attributes() == nullptr ||
        enum_def->attributes()->LookupByKey("bit_flags") == nullptr ||
        value == 0) {
      return false;
    }
    const size_t mark = out_->size();
    out_->push_back('"');
    uint64_t left = static_cast<uint64_t>(value);
    for (const reflection::EnumVal *flag : *enum_def->values()) {
      const uint64_t bit = static_cast<uint64_t>(flag->value());
      if ((left & bit) == 0) continue;
      if (out_->size() != mark + 1) out_->push_back(' ');
      out_->append(flag->name()->string_view());
      left &= ~bit;
    }
    if (left != 0) {
      out_->resize(mark);
      return false;
    }
    out_->push_back('"');
    return true;
  }

  // Prints a scalar of `base_type` at `data`; `enum_index` >= 0 names the
  // enum (or union) whose value names to print.
  void Scalar(reflection::BaseType base_type, int32_t enum_index,
              const uint8_t *data) {
    if (base_type == reflection::Bool) {
      out_->append(flatbuffers::ReadScalar<uint8_t>(data) ? "true"sv
                                                          : "false"sv);
      return;
    }
    if (base_type == reflection::Float || base_type == reflection::Double) {
      Float(base_type == reflection::Float
                ? flatbuffers::ReadScalar<float>(data)
                : flatbuffers::ReadScalar<double>(data),
            base_type == reflection::Float);
      return;
    }
    CHECK(IsInteger(base_type)) << "not a scalar: " << base_type;
    if (enum_index >= 0 &&
        EnumName(schema_->enums()->Get(enum_index),
                 flatbuffers::GetAnyValueI(base_type, data))) {
      return;
    }
    if (base_type == reflection::ULong) {
      Integer(false, flatbuffers::ReadScalar<uint64_t>(data), options_.use_hex);
      return;
    }
    const int64_t value = flatbuffers::GetAnyValueI(base_type, data);
    Integer(value < 0,
            value < 0 ? 0 - static_cast<uint64_t>(value)
                      : static_cast<uint64_t>(value),
            options_.use_hex);
  }

  void Integer(bool negative, uint64_t magnitude, bool hex) {
    char buffer[32];
    char *p = buffer;
    if (negative) *p++ = '-';
    if (hex) {
      *p++ = '0';
      *p++ = 'x';
    }
    p = std::to_chars(p, buffer + sizeof(buffer), magnitude, hex ? 16 : 10).ptr;
    out_->append(buffer, p);
  }

  // Shortest text that parses back to the same value; nan and inf bare, as
  // flatbuffers' parser accepts them.
  void Float(double value, bool is_float) {
    if (std::isnan(value)) {
      non_finite_ = true;
      out_->append(std::signbit(value) ? "-nan"sv : "nan"sv);
      return;
    }
    if (std::isinf(value)) {
      non_finite_ = true;
      out_->append(value < 0 ? "-inf"sv : "inf"sv);
      return;
    }
    // Upstream prints negative zero as -0.0 (and positive zero as 0).
    if (value == 0 && std::signbit(value)) {
      out_->append("-0.0"sv);
      return;
    }
    char buffer[64];
    char *end = is_float
                    ? std::to_chars(buffer, buffer + sizeof(buffer),
                                    static_cast<float>(value))
                          .ptr
                    : std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
    out_->append(buffer, end);
  }

  const reflection::Schema *schema_;
  const JsonOptions options_;
  std::string *const out_;
  // Item start and end offsets of the open composites (multi-line only).
  std::vector<size_t> spans_;
  bool non_finite_ = false;
};

// Whether flatbuffers' Parser::Deserialize can load `schema` as it is. The
// parser dereferences `services` and each file's `included_filenames` without
// checking them, and finds the root type by pointer identity with an entry of
// `objects`. Schemas that went through the object API (as the ones embedded in
// a merged configuration do) have empty vectors dropped and a separate copy of
// the root table.
bool ParserCanLoad(const reflection::Schema *schema) {
  if (schema->services() == nullptr || schema->objects() == nullptr ||
      std::find(schema->objects()->begin(), schema->objects()->end(),
                schema->root_table()) == schema->objects()->end()) {
    return false;
  }
  if (schema->fbs_files() != nullptr) {
    for (const reflection::SchemaFile *file : *schema->fbs_files()) {
      if (file->included_filenames() == nullptr) return false;
    }
  }
  return true;
}

// Rebuilds `schema` into the shape ParserCanLoad accepts: every vector
// present, and root_table pointing at its entry in `objects`.
flatbuffers::DetachedBuffer RebuildForParser(const reflection::Schema *schema) {
  reflection::SchemaT unpacked;
  schema->UnPackTo(&unpacked);
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<reflection::Object>> objects;
  flatbuffers::Offset<reflection::Object> root;
  for (const auto &object : unpacked.objects) {
    objects.push_back(reflection::CreateObject(fbb, object.get()));
    if (object->name == unpacked.root_table->name) root = objects.back();
  }
  std::vector<flatbuffers::Offset<reflection::Enum>> enums;
  for (const auto &enum_value : unpacked.enums) {
    enums.push_back(reflection::CreateEnum(fbb, enum_value.get()));
  }
  std::vector<flatbuffers::Offset<reflection::Service>> services;
  for (const auto &service : unpacked.services) {
    services.push_back(reflection::CreateService(fbb, service.get()));
  }
  fbb.Finish(reflection::CreateSchema(
      fbb, fbb.CreateVector(objects), fbb.CreateVector(enums),
      fbb.CreateString(unpacked.file_ident),
      fbb.CreateString(unpacked.file_ext), root, fbb.CreateVector(services),
      unpacked.advanced_features));
  return fbb.Release();
}

// Loads `schema` into a parser that stores every field the JSON gives. The
// parser copies what it needs, so a rebuilt schema may go away afterwards.
Result<void> LoadSchema(const reflection::Schema *schema,
                        flatbuffers::Parser *parser) {
  if (schema == nullptr || schema->root_table() == nullptr) {
    return MakeError("schema has no root table");
  }
  flatbuffers::DetachedBuffer rebuilt;
  if (!ParserCanLoad(schema)) {
    rebuilt = RebuildForParser(schema);
    schema = flatbuffers::GetRoot<reflection::Schema>(rebuilt.data());
  }
  if (!parser->Deserialize(schema)) {
    return MakeError("invalid reflection schema for " +
                     schema->root_table()->name()->str() + ": " +
                     parser->error_);
  }
  return {};
}

flatbuffers::IDLOptions JsonParserOptions() {
  flatbuffers::IDLOptions options;
  // Presence means "the user wrote it" (configuration merging relies on it).
  options.force_defaults = true;
  // Real JSON, as upstream: quoted field names, no trailing commas. (Comments,
  // nan/inf and hex numbers stay accepted.) Configs then open in any JSON
  // tool and stay readable by upstream.
  options.strict_json = true;
  return options;
}

Result<void> Parse(const reflection::Schema *schema, std::string_view json,
                   flatbuffers::Parser *parser) {
  if (Result<void> loaded = LoadSchema(schema, parser); !loaded) {
    return loaded;
  }
  if (json.find('\0') != std::string::npos) {
    return MakeError("JSON for " + schema->root_table()->name()->str() +
                     " contains a NUL byte at offset " +
                     std::to_string(json.find('\0')));
  }
  const json_internal::NegativeNanRewrite rewrite =
      json_internal::RewriteNegativeNans(json);
  if (!parser->ParseJson(rewrite.text.c_str())) {
    std::string error = parser->error_;
    // The error (its column, the token it quotes) is about the text the
    // parser saw; the user's own text fails too, and says it their way.
    if (rewrite.sentinel.has_value()) {
      flatbuffers::Parser original(JsonParserOptions());
      if (LoadSchema(schema, &original).has_value() &&
          !original.ParseJson(std::string(json).c_str())) {
        error = original.error_;
      }
    }
    return MakeError("Invalid JSON for " + schema->root_table()->name()->str() +
                     ": " + error);
  }
  if (rewrite.sentinel.has_value()) {
    uint8_t *buffer = parser->builder_.GetBufferPointer();
    json_internal::RestoreNegativeNans(
        *schema,
        buffer + flatbuffers::ReadScalar<flatbuffers::uoffset_t>(buffer),
        *rewrite.sentinel);
  }
  return {};
}

}  // namespace

std::string TableFlatbufferToJson(const reflection::Schema *schema,
                                  const reflection::Object *object,
                                  const flatbuffers::Table *table,
                                  JsonOptions options) {
  std::string out;
  JsonPrinter(schema, options, &out).Table(object, table, 0);
  return out;
}

std::string FlatbufferToJson(const reflection::Schema *schema,
                             const uint8_t *data, JsonOptions options) {
  std::string out;
  AppendFlatbufferToJson(&out, schema, data, options);
  return out;
}

bool AppendFlatbufferToJson(std::string *out, const reflection::Schema *schema,
                            const uint8_t *data, JsonOptions options) {
  JsonPrinter printer(schema, options, out);
  printer.Table(schema->root_table(),
                data == nullptr ? nullptr : flatbuffers::GetAnyRoot(data), 0);
  return printer.non_finite();
}

Result<flatbuffers::DetachedBuffer> JsonToFlatbuffer(
    const reflection::Schema *schema, std::string_view json) {
  flatbuffers::Parser parser(JsonParserOptions());
  if (Result<void> parsed = Parse(schema, json, &parser); !parsed) {
    return std::unexpected(parsed.error());
  }
  return parser.builder_.Release();
}

flatbuffers::DetachedBuffer JsonToFlatbuffer(std::string_view json,
                                             FlatbufferType type) {
  Result<flatbuffers::DetachedBuffer> result =
      JsonToFlatbuffer(type.schema(), json);
  if (!result) {
    LOG(ERROR) << result.error().message();
    return flatbuffers::DetachedBuffer();
  }
  return std::move(*result);
}

std::string TableFlatbufferToJson(const flatbuffers::Table *table,
                                  FlatbufferType type, JsonOptions options) {
  return TableFlatbufferToJson(type.schema(), type.schema()->root_table(),
                               table, options);
}

Result<flatbuffers::Offset<flatbuffers::Table>> JsonToFlatbuffer(
    const reflection::Schema *schema, std::string_view json,
    flatbuffers::FlatBufferBuilder *fbb) {
  flatbuffers::Parser parser(JsonParserOptions());
  if (Result<void> parsed = Parse(schema, json, &parser); !parsed) {
    return std::unexpected(parsed.error());
  }
  // The parser owns its builder, so copy the table into the caller's.
  // CopyTable copies every present field, including those equal to their
  // default, as the parser stored them.
  const flatbuffers::Offset<const flatbuffers::Table *> copy =
      flatbuffers::CopyTable(
          *fbb, *schema, *schema->root_table(),
          *flatbuffers::GetAnyRoot(parser.builder_.GetBufferPointer()));
  return flatbuffers::Offset<flatbuffers::Table>(copy.o);
}

}  // namespace aos
