#include "aos/json_negative_nan.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "glog/logging.h"

namespace aos::json_internal {
namespace {

bool IsIdentifierChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.';
}

// Calls `on_code(begin, end)` for each stretch of `json` outside strings and
// comments, and copies everything to the returned text via the callback's
// return value (the stretch's replacement).
template <typename OnCode>
std::string ForEachCodeStretch(std::string_view json, OnCode on_code) {
  std::string result;
  size_t i = 0;
  size_t code_start = 0;
  auto flush_code = [&](size_t end) {
    result.append(on_code(json.substr(code_start, end - code_start)));
  };
  while (i < json.size()) {
    const char c = json[i];
    if (c == '"') {
      flush_code(i);
      const size_t start = i++;
      while (i < json.size() && json[i] != '"') {
        i += json[i] == '\\' ? 2 : 1;
      }
      i = std::min(i + 1, json.size());
      result.append(json.substr(start, i - start));
      code_start = i;
    } else if (c == '/' && i + 1 < json.size() &&
               (json[i + 1] == '/' || json[i + 1] == '*')) {
      flush_code(i);
      const size_t start = i;
      const std::string_view end_marker = json[i + 1] == '/' ? "\n" : "*/";
      const size_t end = json.find(end_marker, i + 2);
      i = end == std::string_view::npos ? json.size() : end + end_marker.size();
      result.append(json.substr(start, i - start));
      code_start = i;
    } else {
      ++i;
    }
  }
  flush_code(json.size());
  return result;
}

// Whether `token` starting at `at` in `code` stands alone (not part of a
// longer identifier or number).
bool IsToken(std::string_view code, size_t at, size_t length) {
  return (at == 0 || !IsIdentifierChar(code[at - 1])) &&
         (at + length == code.size() || !IsIdentifierChar(code[at + length]));
}

}  // namespace

NegativeNanRewrite RewriteNegativeNans(std::string_view json) {
  NegativeNanRewrite rewrite;
  // First pass: find whether there is any -nan, and every number's value.
  bool any = false;
  std::vector<double> numbers;
  ForEachCodeStretch(json, [&](std::string_view code) {
    for (size_t i = 0; i < code.size(); ++i) {
      if (code.substr(i, 4) == "-nan" && IsToken(code, i, 4)) any = true;
      const bool starts_number =
          (code[i] >= '0' && code[i] <= '9') ||
          ((code[i] == '-' || code[i] == '+' || code[i] == '.') &&
           i + 1 < code.size() && code[i + 1] >= '0' && code[i + 1] <= '9');
      if (starts_number && (i == 0 || !IsIdentifierChar(code[i - 1]))) {
        const std::string number(code.substr(i, 64));
        char *end = nullptr;
        numbers.push_back(std::strtod(number.c_str(), &end));
        i += std::max<ptrdiff_t>(end - number.c_str(), 1) - 1;
      }
    }
    return std::string();
  });
  if (!any) {
    rewrite.text = std::string(json);
    return rewrite;
  }
  // -k * 2^-149 is exact as a float and a double; pick the first k no number
  // of the text equals in either type.
  double sentinel = 0;
  for (int k = 1;; ++k) {
    sentinel = std::ldexp(-static_cast<double>(k), -149);
    bool taken = false;
    for (const double number : numbers) {
      if (number == sentinel ||
          static_cast<float>(number) == static_cast<float>(sentinel)) {
        taken = true;
        break;
      }
    }
    if (!taken) break;
  }
  char buffer[64];
  const auto printed = std::to_chars(buffer, buffer + sizeof(buffer), sentinel);
  rewrite.sentinel = sentinel;
  rewrite.sentinel_text = std::string(buffer, printed.ptr);
  rewrite.text = ForEachCodeStretch(json, [&](std::string_view code) {
    std::string replaced;
    for (size_t i = 0; i < code.size(); ++i) {
      if (code.substr(i, 4) == "-nan" && IsToken(code, i, 4)) {
        replaced.append(rewrite.sentinel_text);
        i += 3;
      } else {
        replaced.push_back(code[i]);
      }
    }
    return replaced;
  });
  return rewrite;
}

namespace {

// Walks every float and double reachable from a table.
class NanRestorer {
 public:
  NanRestorer(const reflection::Schema &schema, double sentinel)
      : schema_(schema), sentinel_(sentinel) {}

  void Table(const reflection::Object &object, uint8_t *table) {
    const auto *view = reinterpret_cast<const flatbuffers::Table *>(table);
    for (const reflection::Field *field : *object.fields()) {
      const flatbuffers::voffset_t offset = field->offset();
      if (!view->CheckField(offset)) continue;
      uint8_t *data = table + view->GetOptionalFieldOffset(offset);
      const reflection::Type &type = *field->type();
      switch (type.base_type()) {
        case reflection::Float:
        case reflection::Double:
          Scalar(type.base_type(), data);
          break;
        case reflection::Obj: {
          const reflection::Object &child =
              *schema_.objects()->Get(type.index());
          if (child.is_struct()) {
            Struct(child, data);
          } else {
            Table(child, Follow(data));
          }
          break;
        }
        case reflection::Union: {
          const int64_t member = UnionType(object, *field, view);
          if (const reflection::Object *child = UnionObject(type, member)) {
            Table(*child, Follow(data));
          }
          break;
        }
        case reflection::Vector:
          if (type.element() == reflection::Union) {
            UnionVector(object, *field, view, type, Follow(data));
          } else {
            Vector(type, Follow(data));
          }
          break;
        default:
          break;
      }
    }
  }

 private:
  static uint8_t *Follow(uint8_t *offset) {
    return offset + flatbuffers::ReadScalar<flatbuffers::uoffset_t>(offset);
  }

  void Scalar(reflection::BaseType type, uint8_t *data) {
    if (type == reflection::Float) {
      if (flatbuffers::ReadScalar<float>(data) ==
          static_cast<float>(sentinel_)) {
        flatbuffers::WriteScalar(data,
                                 -std::numeric_limits<float>::quiet_NaN());
      }
    } else if (type == reflection::Double) {
      if (flatbuffers::ReadScalar<double>(data) == sentinel_) {
        flatbuffers::WriteScalar(data,
                                 -std::numeric_limits<double>::quiet_NaN());
      }
    }
  }

  void Struct(const reflection::Object &object, uint8_t *data) {
    for (const reflection::Field *field : *object.fields()) {
      uint8_t *field_data = data + field->offset();
      const reflection::Type &type = *field->type();
      if (type.base_type() == reflection::Obj) {
        Struct(*schema_.objects()->Get(type.index()), field_data);
      } else if (type.base_type() == reflection::Array) {
        const bool structs = type.element() == reflection::Obj;
        const size_t size =
            structs ? schema_.objects()->Get(type.index())->bytesize()
                    : flatbuffers::GetTypeSize(type.element());
        for (size_t i = 0; i < type.fixed_length(); ++i) {
          if (structs) {
            Struct(*schema_.objects()->Get(type.index()),
                   field_data + i * size);
          } else {
            Scalar(type.element(), field_data + i * size);
          }
        }
      } else {
        Scalar(type.base_type(), field_data);
      }
    }
  }

  void Vector(const reflection::Type &type, uint8_t *vector) {
    const uint32_t size = flatbuffers::ReadScalar<uint32_t>(vector);
    uint8_t *elements = vector + sizeof(uint32_t);
    switch (type.element()) {
      case reflection::Float:
      case reflection::Double: {
        const size_t element_size = flatbuffers::GetTypeSize(type.element());
        for (uint32_t i = 0; i < size; ++i) {
          Scalar(type.element(), elements + i * element_size);
        }
        return;
      }
      case reflection::Obj: {
        const reflection::Object &child = *schema_.objects()->Get(type.index());
        for (uint32_t i = 0; i < size; ++i) {
          if (child.is_struct()) {
            Struct(child, elements + i * child.bytesize());
          } else {
            Table(child, Follow(elements + i * sizeof(flatbuffers::uoffset_t)));
          }
        }
        return;
      }
      default:
        return;
    }
  }

  // A vector of unions: the members' types are in the `<name>_type` vector.
  void UnionVector(const reflection::Object &object,
                   const reflection::Field &field,
                   const flatbuffers::Table *table,
                   const reflection::Type &type, uint8_t *vector) {
    const std::string type_name = field.name()->str() + "_type";
    const reflection::Field *type_field =
        object.fields()->LookupByKey(type_name.c_str());
    if (type_field == nullptr) return;
    const auto *types = table->GetPointer<const flatbuffers::Vector<uint8_t> *>(
        type_field->offset());
    if (types == nullptr) return;
    const uint32_t size = flatbuffers::ReadScalar<uint32_t>(vector);
    uint8_t *elements = vector + sizeof(uint32_t);
    for (uint32_t i = 0; i < size && i < types->size(); ++i) {
      if (const reflection::Object *child = UnionObject(type, types->Get(i))) {
        Table(*child, Follow(elements + i * sizeof(flatbuffers::uoffset_t)));
      }
    }
  }

  int64_t UnionType(const reflection::Object &object,
                    const reflection::Field &field,
                    const flatbuffers::Table *table) {
    const std::string type_name = field.name()->str() + "_type";
    const reflection::Field *type_field =
        object.fields()->LookupByKey(type_name.c_str());
    if (type_field == nullptr) return 0;
    return flatbuffers::GetFieldI<uint8_t>(*table, *type_field);
  }

  const reflection::Object *UnionObject(const reflection::Type &type,
                                        int64_t member) {
    const reflection::EnumVal *value =
        schema_.enums()->Get(type.index())->values()->LookupByKey(member);
    if (value == nullptr || value->union_type() == nullptr ||
        value->union_type()->base_type() != reflection::Obj) {
      return nullptr;
    }
    const reflection::Object *object =
        schema_.objects()->Get(value->union_type()->index());
    return object->is_struct() ? nullptr : object;
  }

  const reflection::Schema &schema_;
  const double sentinel_;
};

}  // namespace

void RestoreNegativeNans(const reflection::Schema &schema, uint8_t *root,
                         double sentinel) {
  NanRestorer(schema, sentinel).Table(*schema.root_table(), root);
}

}  // namespace aos::json_internal
