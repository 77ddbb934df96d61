#include "aos/json_to_flatbuffer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <vector>

#include "aos/json_negative_nan.h"
#include "flatbuffers/idl.h"
#include "flatbuffers/util.h"
#include "glog/logging.h"

namespace aos {
namespace {

// Fields of `object` in declaration (id) order; reflection sorts them by name.
std::vector<const reflection::Field *> FieldsInIdOrder(
    const reflection::Object *object) {
  std::vector<const reflection::Field *> fields(object->fields()->begin(),
                                                object->fields()->end());
  std::sort(fields.begin(), fields.end(),
            [](const reflection::Field *a, const reflection::Field *b) {
              return a->id() < b->id();
            });
  return fields;
}

bool IsInteger(reflection::BaseType type) {
  return type >= reflection::UType && type <= reflection::ULong;
}

// Prints flatbuffers through their reflection schema. Single-line output is
// `{ "a": 1, "b": [ 1, 2 ] }`; multi-line output indents one space per level.
class JsonPrinter {
 public:
  JsonPrinter(const reflection::Schema *schema, JsonOptions options)
      : schema_(schema), options_(options) {}

  void Table(const reflection::Object *object, const flatbuffers::Table *table,
             int indent, std::string *out) {
    if (table == nullptr) {
      out->append("null");
      return;
    }
    if (object->is_struct()) {
      Struct(object, reinterpret_cast<const uint8_t *>(table), indent, out);
      return;
    }
    std::vector<std::pair<const reflection::Field *, std::string>> fields;
    fields.reserve(object->fields()->size());
    for (const reflection::Field *field : FieldsInIdOrder(object)) {
      if (field->deprecated()) continue;
      std::string value;
      if (FieldValue(object, field, table, indent + 1, &value)) {
        fields.emplace_back(field, std::move(value));
      }
    }
    Composite('{', '}', fields, indent, out);
  }

 private:
  // Joins "name": value pairs (or bare values when the field is null) into an
  // object or array, on one line or several as the options say.
  void Composite(
      char open, char close,
      const std::vector<std::pair<const reflection::Field *, std::string>>
          &items,
      int indent, std::string *out) {
    // As upstream's printer: "{ " + items + " }", so an empty table or
    // vector is "{  }" / "[  ]". On one line it is written straight into
    // `out` (log_cat and aos_dump print millions of messages this way).
    if (!options_.multi_line || items.empty()) {
      out->push_back(open);
      out->push_back(' ');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i != 0) out->append(", ");
        if (items[i].first != nullptr) {
          out->push_back('"');
          out->append(items[i].first->name()->string_view());
          out->append("\": ");
        }
        out->append(items[i].second);
      }
      out->push_back(' ');
      out->push_back(close);
      return;
    }
    auto item_text = [](const auto &item) {
      std::string text;
      if (item.first != nullptr) {
        text.push_back('"');
        text.append(item.first->name()->str());
        text.append("\": ");
      }
      text.append(item.second);
      return text;
    };
    std::string single;
    single.push_back(open);
    single.push_back(' ');
    for (size_t i = 0; i < items.size(); ++i) {
      if (i != 0) single.append(", ");
      single.append(item_text(items[i]));
    }
    single.append(" ");
    single.push_back(close);
    const bool fits = single.find('\n') == std::string::npos &&
                      single.size() <= options_.max_multi_line;
    if (fits) {
      out->append(single);
      return;
    }
    out->push_back(open);
    for (size_t i = 0; i < items.size(); ++i) {
      out->append(i == 0 ? "\n" : ",\n");
      out->append(indent + 1, ' ');
      out->append(item_text(items[i]));
    }
    out->push_back('\n');
    out->append(indent, ' ');
    out->push_back(close);
  }

  void Struct(const reflection::Object *object, const uint8_t *data, int indent,
              std::string *out) {
    std::vector<std::pair<const reflection::Field *, std::string>> fields;
    for (const reflection::Field *field : FieldsInIdOrder(object)) {
      std::string value;
      const uint8_t *field_data = data + field->offset();
      const reflection::Type *type = field->type();
      if (type->base_type() == reflection::Obj) {
        Struct(schema_->objects()->Get(type->index()), field_data, indent + 1,
               &value);
      } else if (type->base_type() == reflection::Array) {
        std::vector<std::pair<const reflection::Field *, std::string>> items;
        const size_t element_size =
            type->element() == reflection::Obj
                ? schema_->objects()->Get(type->index())->bytesize()
                : flatbuffers::GetTypeSize(type->element());
        for (size_t i = 0; i < type->fixed_length(); ++i) {
          std::string item;
          Element(type, field_data + i * element_size, indent + 2, &item);
          items.emplace_back(nullptr, std::move(item));
        }
        Composite('[', ']', items, indent + 1, &value);
      } else {
        Scalar(type->base_type(), type->index(), field_data, &value);
      }
      fields.emplace_back(field, std::move(value));
    }
    Composite('{', '}', fields, indent, out);
  }

  // Prints one element of a vector or array of `type`: a scalar, string,
  // struct or table.
  void Element(const reflection::Type *type, const uint8_t *data, int indent,
               std::string *out) {
    switch (type->element()) {
      case reflection::String:
        String(flatbuffers::ReadScalar<flatbuffers::uoffset_t>(data) + data,
               out);
        return;
      case reflection::Obj: {
        const reflection::Object *object =
            schema_->objects()->Get(type->index());
        if (object->is_struct()) {
          Struct(object, data, indent, out);
        } else {
          Table(
              object,
              reinterpret_cast<const flatbuffers::Table *>(
                  data + flatbuffers::ReadScalar<flatbuffers::uoffset_t>(data)),
              indent, out);
        }
        return;
      }
      default:
        Scalar(type->element(), type->index(), data, out);
    }
  }

  // Appends the value of `field` of `table` to `out`; returns false if the
  // field is absent (and should not be printed).
  bool FieldValue(const reflection::Object *object,
                  const reflection::Field *field,
                  const flatbuffers::Table *table, int indent,
                  std::string *out) {
    const reflection::Type *type = field->type();
    const flatbuffers::voffset_t offset = field->offset();
    if (!table->CheckField(offset)) return false;
    switch (type->base_type()) {
      case reflection::String:
        String(table->GetPointer<const uint8_t *>(offset), out);
        return true;
      case reflection::Obj: {
        const reflection::Object *child =
            schema_->objects()->Get(type->index());
        if (child->is_struct()) {
          Struct(child, table->GetStruct<const uint8_t *>(offset), indent, out);
        } else {
          Table(child, table->GetPointer<const flatbuffers::Table *>(offset),
                indent, out);
        }
        return true;
      }
      case reflection::Union: {
        const int64_t union_type =
            UnionType(object, field, table, /*element=*/-1);
        return UnionValue(type, union_type,
                          table->GetPointer<const flatbuffers::Table *>(offset),
                          indent, out);
      }
      case reflection::Vector:
        Vector(object, field, table, indent, out);
        return true;
      default:
        Scalar(type->base_type(), type->index(),
               table->GetStruct<const uint8_t *>(offset), out);
        return true;
    }
  }

  void Vector(const reflection::Object *object, const reflection::Field *field,
              const flatbuffers::Table *table, int indent, std::string *out) {
    const reflection::Type *type = field->type();
    const auto *vector =
        table->GetPointer<const flatbuffers::VectorOfAny *>(field->offset());
    if (vector->size() > options_.max_vector_size) {
      out->append("[ \"... " + std::to_string(vector->size()) +
                  " elements ...\" ]");
      return;
    }
    // Not type->element_size(): flatc writes the offset size there for
    // vectors of structs.
    const size_t element_size =
        type->element() == reflection::Obj &&
                schema_->objects()->Get(type->index())->is_struct()
            ? schema_->objects()->Get(type->index())->bytesize()
            : flatbuffers::GetTypeSize(type->element());
    std::vector<std::pair<const reflection::Field *, std::string>> items;
    items.reserve(vector->size());
    for (size_t i = 0; i < vector->size(); ++i) {
      std::string item;
      const uint8_t *data = vector->Data() + i * element_size;
      if (type->element() == reflection::Union) {
        UnionValue(
            type, UnionType(object, field, table, i),
            reinterpret_cast<const flatbuffers::Table *>(
                data + flatbuffers::ReadScalar<flatbuffers::uoffset_t>(data)),
            indent + 1, &item);
      } else {
        Element(type, data, indent + 1, &item);
      }
      items.emplace_back(nullptr, std::move(item));
    }
    Composite('[', ']', items, indent, out);
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
                  const flatbuffers::Table *value, int indent,
                  std::string *out) {
    const reflection::Enum *union_def = schema_->enums()->Get(type->index());
    const reflection::EnumVal *member =
        union_def->values()->LookupByKey(union_type);
    if (member == nullptr || member->union_type() == nullptr ||
        member->union_type()->base_type() != reflection::Obj) {
      out->append("null");
      return union_type != 0;
    }
    const reflection::Object *object =
        schema_->objects()->Get(member->union_type()->index());
    if (object->is_struct()) {
      Struct(object, reinterpret_cast<const uint8_t *>(value), indent, out);
    } else {
      Table(object, value, indent, out);
    }
    return true;
  }

  void String(const uint8_t *data, std::string *out) {
    const auto *string = reinterpret_cast<const flatbuffers::String *>(data);
    flatbuffers::EscapeString(string->c_str(), string->size(), out,
                              /*allow_non_utf8=*/true, /*natural_utf8=*/false);
  }

  // Prints `value` of `enum_def` by name, quoted, if it has one: a value's
  // name, or for a bit_flags enum the names of its bits separated by spaces
  // (`"A C"`, as flatc prints and parses them). Returns false, printing
  // nothing, for a value no name describes (including 0 of a bit_flags enum,
  // and bits no flag names).
  bool EnumName(const reflection::Enum *enum_def, int64_t value,
                std::string *out) {
    if (const reflection::EnumVal *enum_value =
            enum_def->values()->LookupByKey(value)) {
      out->push_back('"');
      out->append(enum_value->name()->string_view());
      out->push_back('"');
      return true;
    }
    if (enum_def->attributes() == nullptr ||
        enum_def->attributes()->LookupByKey("bit_flags") == nullptr ||
        value == 0) {
      return false;
    }
    std::string names;
    uint64_t left = static_cast<uint64_t>(value);
    for (const reflection::EnumVal *flag : *enum_def->values()) {
      const uint64_t bit = static_cast<uint64_t>(flag->value());
      if ((left & bit) == 0) continue;
      if (!names.empty()) names += ' ';
      names += flag->name()->str();
      left &= ~bit;
    }
    if (left != 0) return false;
    out->push_back('"');
    out->append(names);
    out->push_back('"');
    return true;
  }

  // Prints a scalar of `base_type` at `data`; `enum_index` >= 0 names the
  // enum (or union) whose value names to print.
  void Scalar(reflection::BaseType base_type, int32_t enum_index,
              const uint8_t *data, std::string *out) {
    if (base_type == reflection::Bool) {
      out->append(flatbuffers::ReadScalar<uint8_t>(data) ? "true" : "false");
      return;
    }
    if (base_type == reflection::Float || base_type == reflection::Double) {
      Float(base_type == reflection::Float
                ? flatbuffers::ReadScalar<float>(data)
                : flatbuffers::ReadScalar<double>(data),
            base_type == reflection::Float, out);
      return;
    }
    CHECK(IsInteger(base_type)) << "not a scalar: " << base_type;
    if (enum_index >= 0 &&
        EnumName(schema_->enums()->Get(enum_index),
                 flatbuffers::GetAnyValueI(base_type, data), out)) {
      return;
    }
    if (base_type == reflection::ULong) {
      Integer(false, flatbuffers::ReadScalar<uint64_t>(data), out);
      return;
    }
    const int64_t value = flatbuffers::GetAnyValueI(base_type, data);
    Integer(value < 0,
            value < 0 ? 0 - static_cast<uint64_t>(value)
                      : static_cast<uint64_t>(value),
            out);
  }

  void Integer(bool negative, uint64_t magnitude, std::string *out) {
    char buffer[32];
    char *end = std::to_chars(buffer, buffer + sizeof(buffer), magnitude,
                              options_.use_hex ? 16 : 10)
                    .ptr;
    if (negative) out->push_back('-');
    if (options_.use_hex) out->append("0x");
    out->append(buffer, end);
  }

  // Shortest text that parses back to the same value; nan and inf bare, as
  // flatbuffers' parser accepts them.
  void Float(double value, bool is_float, std::string *out) {
    if (std::isnan(value)) {
      out->append(std::signbit(value) ? "-nan" : "nan");
      return;
    }
    if (std::isinf(value)) {
      out->append(value < 0 ? "-inf" : "inf");
      return;
    }
    // Upstream prints negative zero as -0.0 (and positive zero as 0).
    if (value == 0 && std::signbit(value)) {
      out->append("-0.0");
      return;
    }
    char buffer[64];
    char *end = is_float
                    ? std::to_chars(buffer, buffer + sizeof(buffer),
                                    static_cast<float>(value))
                          .ptr
                    : std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
    out->append(buffer, end);
  }

  const reflection::Schema *schema_;
  JsonOptions options_;
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
  JsonPrinter(schema, options).Table(object, table, 0, &out);
  return out;
}

std::string FlatbufferToJson(const reflection::Schema *schema,
                             const uint8_t *data, JsonOptions options) {
  return TableFlatbufferToJson(
      schema, schema->root_table(),
      data == nullptr ? nullptr : flatbuffers::GetAnyRoot(data), options);
}

void AppendFlatbufferToJson(std::string *out, const reflection::Schema *schema,
                            const uint8_t *data, JsonOptions options) {
  out->append(FlatbufferToJson(schema, data, options));
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
