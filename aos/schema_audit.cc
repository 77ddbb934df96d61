#include "aos/schema_audit.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <sstream>

namespace aos {
namespace {

std::string_view BaseTypeName(reflection::BaseType type) {
  switch (type) {
    case reflection::None:
      return "none";
    case reflection::UType:
      return "utype";
    case reflection::Bool:
      return "bool";
    case reflection::Byte:
      return "byte";
    case reflection::UByte:
      return "ubyte";
    case reflection::Short:
      return "short";
    case reflection::UShort:
      return "ushort";
    case reflection::Int:
      return "int";
    case reflection::UInt:
      return "uint";
    case reflection::Long:
      return "long";
    case reflection::ULong:
      return "ulong";
    case reflection::Float:
      return "float";
    case reflection::Double:
      return "double";
    case reflection::String:
      return "string";
    case reflection::Vector:
      return "vector";
    case reflection::Obj:
      return "obj";
    case reflection::Union:
      return "union";
    case reflection::Array:
      return "array";
    default:
      return "unknown";
  }
}

bool IsInteger(reflection::BaseType type) {
  return type >= reflection::UType && type <= reflection::ULong;
}

// The type as a schema spells it: an enum's or table's full name, or
// `[element]` for a vector.
std::string ElementName(const reflection::Schema &schema,
                        reflection::BaseType type, int32_t index) {
  if (type == reflection::Obj)
    return schema.objects()->Get(index)->name()->str();
  if (type == reflection::Union ||
      (type != reflection::Bool && IsInteger(type) && index >= 0)) {
    return schema.enums()->Get(index)->name()->str();
  }
  return std::string(BaseTypeName(type));
}

std::string TypeName(const reflection::Schema &schema,
                     const reflection::Type &type) {
  switch (type.base_type()) {
    case reflection::Vector: {
      std::string name = "[";
      name.append(ElementName(schema, type.element(), type.index()));
      name.append("]");
      return name;
    }
    case reflection::Array: {
      std::string name = "[";
      name.append(ElementName(schema, type.element(), type.index()));
      name.append(":").append(std::to_string(type.fixed_length())).append("]");
      return name;
    }
    default:
      return ElementName(schema, type.base_type(), type.index());
  }
}

std::string FormatReal(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string DescribeField(const reflection::Schema &schema,
                          const reflection::Field &field, bool in_struct) {
  std::string line = field.name()->str() + " " + std::to_string(field.id()) +
                     " " + TypeName(schema, *field.type());
  const reflection::BaseType base = field.type()->base_type();
  if (!in_struct && (IsInteger(base) || base == reflection::Bool)) {
    line += " = " + std::to_string(field.default_integer());
  } else if (!in_struct &&
             (base == reflection::Float || base == reflection::Double)) {
    line += " = " + FormatReal(field.default_real());
  }
  if (field.required()) line += " required";
  return line;
}

// Header line, then one line per field in id order.
std::vector<std::string> DescribeObject(const reflection::Schema &schema,
                                        const reflection::Object &object) {
  std::vector<std::string> lines;
  lines.push_back(std::string(object.is_struct() ? "struct " : "table ") +
                  object.name()->str());
  std::vector<const reflection::Field *> fields(object.fields()->begin(),
                                                object.fields()->end());
  std::sort(fields.begin(), fields.end(),
            [](const reflection::Field *a, const reflection::Field *b) {
              return a->id() < b->id();
            });
  for (const reflection::Field *field : fields) {
    lines.push_back(DescribeField(schema, *field, object.is_struct()));
  }
  return lines;
}

std::string DescribeEnum(const reflection::Enum &e) {
  std::string line = e.is_union() ? "union " : "enum ";
  line.append(e.name()->str()).append(" ");
  line.append(BaseTypeName(e.underlying_type()->base_type()));
  for (const reflection::EnumVal *value : *e.values()) {
    line.append(" ").append(value->name()->string_view()).append("=");
    line.append(std::to_string(value->value()));
  }
  return line;
}

const reflection::Object *FindObject(const reflection::Schema &schema,
                                     std::string_view name) {
  for (const reflection::Object *object : *schema.objects()) {
    if (object->name()->string_view() == name) return object;
  }
  return nullptr;
}

const reflection::Enum *FindEnum(const reflection::Schema &schema,
                                 std::string_view name) {
  for (const reflection::Enum *e : *schema.enums()) {
    if (e->name()->string_view() == name) return e;
  }
  return nullptr;
}

// Collapses runs of whitespace, so tables may be aligned by hand.
std::string Normalize(std::string_view line) {
  std::istringstream in{std::string(line)};
  std::string word, result;
  while (in >> word) {
    if (!result.empty()) result += ' ';
    result += word;
  }
  return result;
}

std::string FirstWord(std::string_view line) {
  return std::string(line.substr(0, line.find(' ')));
}

std::string SecondWord(std::string_view line) {
  const size_t start = line.find(' ') + 1;
  const size_t end = line.find(' ', start);
  return std::string(line.substr(start, end - start));
}

// One declaration of the audit table.
struct Declaration {
  size_t line_number;
  std::string header;               // "table X", or the whole enum line
  std::vector<std::string> fields;  // normalized field lines
};

void AuditObject(const reflection::Schema &schema, const Declaration &expected,
                 std::vector<std::string> *differences) {
  const std::string name = SecondWord(expected.header);
  const reflection::Object *object = FindObject(schema, name);
  if (object == nullptr) {
    differences->push_back(expected.header + ": not in the schema");
    return;
  }
  const std::vector<std::string> actual = DescribeObject(schema, *object);
  if (actual[0] != expected.header) {
    differences->push_back(name + ": is `" + actual[0] + "`, upstream has `" +
                           expected.header + "`");
  }
  std::map<std::string, std::string> actual_fields;
  for (size_t i = 1; i < actual.size(); ++i) {
    actual_fields.emplace(FirstWord(actual[i]), actual[i]);
  }
  for (const std::string &field : expected.fields) {
    const std::string field_name = FirstWord(field);
    auto it = actual_fields.find(field_name);
    if (it == actual_fields.end()) {
      differences->push_back(name + "." + field_name +
                             ": missing; upstream has `" + field + "`");
      continue;
    }
    if (it->second != field) {
      differences->push_back(name + "." + field_name + ": is `" + it->second +
                             "`, upstream has `" + field + "`");
    }
    actual_fields.erase(it);
  }
  for (const auto &[field_name, line] : actual_fields) {
    differences->push_back(name + "." + field_name + ": `" + line +
                           "` is not in upstream's schema");
  }
}

void AuditEnum(const reflection::Schema &schema, const Declaration &expected,
               std::vector<std::string> *differences) {
  const std::string name = SecondWord(expected.header);
  const reflection::Enum *e = FindEnum(schema, name);
  if (e == nullptr) {
    differences->push_back(FirstWord(expected.header) + " " + name +
                           ": not in the schema");
    return;
  }
  const std::string actual = DescribeEnum(*e);
  if (actual != expected.header) {
    differences->push_back(name + ": is `" + actual + "`, upstream has `" +
                           expected.header + "`");
  }
}

}  // namespace

Result<std::string> DescribeSchemaDeclaration(const reflection::Schema &schema,
                                              std::string_view name) {
  if (const reflection::Object *object = FindObject(schema, name)) {
    std::string result;
    bool first = true;
    for (const std::string &line : DescribeObject(schema, *object)) {
      result += (first ? "" : "  ") + line + "\n";
      first = false;
    }
    return result;
  }
  if (const reflection::Enum *e = FindEnum(schema, name)) {
    return DescribeEnum(*e) + "\n";
  }
  return MakeError(
      "the schema declares no table, struct, enum or union named " +
      std::string(name));
}

Result<std::vector<std::string>> AuditSchema(const reflection::Schema &schema,
                                             std::string_view expected) {
  std::vector<Declaration> declarations;
  std::istringstream in{std::string(expected)};
  std::string raw;
  size_t line_number = 0;
  while (std::getline(in, raw)) {
    ++line_number;
    const std::string line = Normalize(raw.substr(0, raw.find('#')));
    if (line.empty()) continue;
    const bool indented = raw[0] == ' ' || raw[0] == '\t';
    const std::string keyword = FirstWord(line);
    if (!indented && (keyword == "table" || keyword == "struct" ||
                      keyword == "enum" || keyword == "union")) {
      if (line.find(' ') == std::string::npos) {
        return MakeError("line " + std::to_string(line_number) + ": `" + line +
                         "` names no declaration");
      }
      declarations.push_back(Declaration{line_number, line, {}});
      continue;
    }
    if (indented && !declarations.empty() &&
        (FirstWord(declarations.back().header) == "table" ||
         FirstWord(declarations.back().header) == "struct")) {
      // "+ field" is one of our additions, at an id upstream never used: it
      // is checked like upstream's fields, so it cannot drift either.
      declarations.back().fields.push_back(
          line[0] == '+' ? Normalize(line.substr(1)) : line);
      continue;
    }
    return MakeError("line " + std::to_string(line_number) + ": `" + line +
                     "` is neither a declaration (table, struct, enum, union "
                     "at the start of a line) nor an indented field of a "
                     "table or struct");
  }
  if (declarations.empty()) {
    return MakeError("the audit table declares nothing");
  }
  std::vector<std::string> differences;
  for (const Declaration &declaration : declarations) {
    const std::string keyword = FirstWord(declaration.header);
    if (keyword == "table" || keyword == "struct") {
      AuditObject(schema, declaration, &differences);
    } else {
      AuditEnum(schema, declaration, &differences);
    }
  }
  return differences;
}

}  // namespace aos
