// Generates foo_static.h (the static flatbuffer classes, see static_table.h)
// from foo.bfbs, the reflection schema flatc writes for foo.fbs:
//
//   aos_static_flatbuffers_generator --bfbs=build/aos/x/foo.bfbs
//       --schema=aos/x/foo.fbs --output=build/aos/x/foo_static.h
//
// --schema is the schema's path from the source root: it names the headers
// to include (aos/x/foo_generated.h, and bar_static.h for the tables of
// included schemas, which must be generated too). Only tables declared in
// foo.fbs get a class here. Exits non-zero, naming the table and field, for
// what the static API does not support (unions, recursive tables, alignment
// over 8). Invoked by aos_flatbuffer(... STATIC) in cmake/AosHelpers.cmake.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "flatbuffers/reflection.h"
#include "gflags/gflags.h"

DEFINE_string(bfbs, "", "The reflection schema (.bfbs) to read.");
DEFINE_string(schema, "",
              "The .fbs path relative to the source root, e.g. "
              "aos/examples/ping.fbs.");
DEFINE_string(output, "", "The header to write.");

namespace {

using reflection::BaseType;

// Alignment of the arena (aos::fbs::Arena::kAlignment).
constexpr size_t kMaxAlignment = 8;

[[noreturn]] void Fail(const std::string &message) {
  std::cerr << "aos_static_flatbuffers_generator: " << FLAGS_schema << ": "
            << message << "\n";
  std::exit(1);
}

// "a.b.Foo" -> "::a::b::Foo".
std::string CppName(std::string_view dotted) {
  std::string result = "::";
  for (char c : dotted) {
    if (c == '.') {
      result += "::";
    } else {
      result += c;
    }
  }
  return result;
}

std::string ShortName(std::string_view dotted) {
  const size_t dot = dotted.rfind('.');
  return std::string(dot == std::string_view::npos ? dotted
                                                   : dotted.substr(dot + 1));
}

std::vector<std::string> Namespaces(std::string_view dotted) {
  std::vector<std::string> result;
  size_t begin = 0;
  for (size_t dot = dotted.find('.'); dot != std::string_view::npos;
       dot = dotted.find('.', begin)) {
    result.emplace_back(dotted.substr(begin, dot - begin));
    begin = dot + 1;
  }
  return result;
}

// flatc appends '_' to field names that are C++ keywords.
std::string FieldName(std::string_view name) {
  static const std::set<std::string_view> kKeywords = {
      "alignas",  "alignof",  "and",       "asm",       "auto",     "bool",
      "break",    "case",     "catch",     "char",      "class",    "const",
      "continue", "default",  "delete",    "do",        "double",   "else",
      "enum",     "explicit", "export",    "extern",    "false",    "float",
      "for",      "friend",   "goto",      "if",        "inline",   "int",
      "long",     "mutable",  "namespace", "new",       "not",      "nullptr",
      "operator", "or",       "private",   "protected", "public",   "register",
      "return",   "short",    "signed",    "sizeof",    "static",   "struct",
      "switch",   "template", "this",      "throw",     "true",     "try",
      "typedef",  "typeid",   "typename",  "union",     "unsigned", "using",
      "virtual",  "void",     "volatile",  "while",     "xor"};
  std::string result(name);
  if (kKeywords.contains(name)) result += '_';
  return result;
}

std::string Upper(std::string_view name) {
  std::string result(name);
  for (char &c : result) c = static_cast<char>(std::toupper(c));
  return result;
}

bool IsScalar(BaseType type) {
  return type >= BaseType::Bool && type <= BaseType::Double;
}

std::string ScalarType(BaseType type) {
  switch (type) {
    case BaseType::Bool:
      return "bool";
    case BaseType::Byte:
      return "int8_t";
    case BaseType::UByte:
      return "uint8_t";
    case BaseType::Short:
      return "int16_t";
    case BaseType::UShort:
      return "uint16_t";
    case BaseType::Int:
      return "int32_t";
    case BaseType::UInt:
      return "uint32_t";
    case BaseType::Long:
      return "int64_t";
    case BaseType::ULong:
      return "uint64_t";
    case BaseType::Float:
      return "float";
    case BaseType::Double:
      return "double";
    default:
      Fail("not a scalar type");
  }
}

size_t ScalarSize(BaseType type) {
  switch (type) {
    case BaseType::Bool:
    case BaseType::Byte:
    case BaseType::UByte:
      return 1;
    case BaseType::Short:
    case BaseType::UShort:
      return 2;
    case BaseType::Int:
    case BaseType::UInt:
    case BaseType::Float:
      return 4;
    case BaseType::Long:
    case BaseType::ULong:
    case BaseType::Double:
      return 8;
    default:
      Fail("not a scalar type");
  }
}

std::optional<int64_t> Attribute(const reflection::Field *field,
                                 std::string_view key,
                                 const std::string &where) {
  if (field->attributes() == nullptr) return std::nullopt;
  for (const reflection::KeyValue *attribute : *field->attributes()) {
    if (attribute->key()->string_view() != key) continue;
    const std::string value =
        attribute->value() == nullptr ? "" : attribute->value()->str();
    char *end = nullptr;
    const long long parsed = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || parsed < 0) {
      Fail(where + ": attribute " + std::string(key) +
           " needs a non-negative integer, got \"" + value + "\"");
    }
    return parsed;
  }
  return std::nullopt;
}

// What kind of field, and the C++ types the generated code uses for it.
enum class Kind {
  kScalar,  // also enums and bools
  kStruct,
  kString,
  kVector,  // of scalars, enums, bools or structs
  kStringVector,
  kTableVector,
  kTable,
};

struct FieldInfo {
  const reflection::Field *field;
  std::string name;   // C++ accessor name
  std::string where;  // "Type.field" for messages
  Kind kind;
  std::string value_type;    // scalar/enum/struct type, or the handle type
  std::string element_type;  // Vector element / table static type
  size_t inline_size = 4;
  size_t inline_align = 4;
  uint16_t offset = 0;  // in the inline table
  int64_t static_length = 0;
  int64_t string_length = 0;
  std::string referenced_table;  // dotted name of a table (or element) type
};

class Generator {
 public:
  Generator(const reflection::Schema *schema, std::string schema_path)
      : schema_(schema), schema_path_(std::move(schema_path)) {
    const std::filesystem::path path(schema_path_);
    schema_dir_ = path.parent_path();
    own_file_ = "//" + path.filename().string();
  }

  std::string Generate() {
    std::vector<const reflection::Object *> tables;
    for (const reflection::Object *object : *schema_->objects()) {
      if (object->is_struct()) continue;
      if (DeclarationFile(object) != own_file_) continue;
      tables.push_back(object);
    }
    std::vector<const reflection::Object *> ordered;
    std::set<const reflection::Object *> done, visiting;
    for (const reflection::Object *table : tables) {
      Order(table, &ordered, &done, &visiting);
    }

    std::ostringstream body;
    for (const reflection::Object *table : ordered) {
      GenerateTable(table, body);
    }

    std::ostringstream out;
    const std::string guard = Guard();
    out << "// Generated by aos/flatbuffers/static_flatbuffers_generator.cc "
           "from "
        << schema_path_ << ". Do not edit.\n"
        << "// The static flatbuffer API of its tables: see "
           "aos/flatbuffers/static_table.h.\n"
        << "#ifndef " << guard << "\n#define " << guard << "\n\n"
        << "#include <cstddef>\n#include <cstdint>\n#include <optional>\n\n"
        << "#include \"aos/flatbuffers/static_table.h\"\n"
        << "#include \"aos/flatbuffers/static_vector.h\"\n";
    std::filesystem::path generated = schema_dir_ / schema_path_stem();
    out << "#include \"" << generated.string() << "_generated.h\"\n";
    for (const std::string &include : includes_) {
      out << "#include \"" << include << "\"\n";
    }
    out << body.str();
    out << "\n#endif  // " << guard << "\n";
    return out.str();
  }

 private:
  std::string schema_path_stem() const {
    return std::filesystem::path(schema_path_).stem().string();
  }

  std::string Guard() const {
    std::string guard;
    for (char c :
         schema_dir_.string() + "/" + schema_path_stem() + "_static_h_") {
      guard += std::isalnum(static_cast<unsigned char>(c))
                   ? static_cast<char>(std::toupper(c))
                   : '_';
    }
    return guard;
  }

  static std::string DeclarationFile(const reflection::Object *object) {
    return object->declaration_file() == nullptr
               ? std::string()
               : object->declaration_file()->str();
  }

  // Tables are members of the tables that use them, so they are defined
  // first. Tables of other files come from their own _static.h.
  void Order(const reflection::Object *table,
             std::vector<const reflection::Object *> *ordered,
             std::set<const reflection::Object *> *done,
             std::set<const reflection::Object *> *visiting) {
    if (done->contains(table)) return;
    if (DeclarationFile(table) != own_file_) {
      const std::string declared = DeclarationFile(table);
      if (declared.size() < 2) {
        Fail("table " + table->name()->str() +
             " has no declaration file in the .bfbs");
      }
      std::filesystem::path header =
          (schema_dir_ / declared.substr(2)).lexically_normal();
      header.replace_filename(header.stem().string() + "_static.h");
      includes_.insert(header.string());
      done->insert(table);
      return;
    }
    if (visiting->contains(table)) {
      Fail("table " + table->name()->str() +
           " contains itself; the static API needs a fixed size for every "
           "table, so it cannot handle recursive tables");
    }
    visiting->insert(table);
    for (const reflection::Field *field : *table->fields()) {
      if (field->deprecated()) continue;
      const reflection::Type *type = field->type();
      const bool is_table = type->base_type() == BaseType::Obj ||
                            (type->base_type() == BaseType::Vector &&
                             type->element() == BaseType::Obj);
      if (!is_table) continue;
      const reflection::Object *child = schema_->objects()->Get(type->index());
      if (!child->is_struct()) Order(child, ordered, done, visiting);
    }
    visiting->erase(table);
    done->insert(table);
    ordered->push_back(table);
  }

  FieldInfo Describe(const reflection::Object *table,
                     const reflection::Field *field) {
    FieldInfo info;
    info.field = field;
    info.name = FieldName(field->name()->string_view());
    info.where = table->name()->str() + "." + field->name()->str();
    const reflection::Type *type = field->type();
    info.static_length =
        Attribute(field, "static_length", info.where).value_or(0);
    info.string_length =
        Attribute(field, "static_vector_string_length", info.where).value_or(0);
    auto object = [&](int index) { return schema_->objects()->Get(index); };
    auto scalar_or_enum = [&](BaseType base, int index) {
      return index >= 0 ? CppName(schema_->enums()->Get(index)->name()->str())
                        : ScalarType(base);
    };
    switch (type->base_type()) {
      case BaseType::UType:
      case BaseType::Union:
        Fail(info.where + ": unions are not supported by the static API");
      case BaseType::String:
        info.kind = Kind::kString;
        info.value_type = "::aos::fbs::String";
        break;
      case BaseType::Obj: {
        const reflection::Object *child = object(type->index());
        if (child->is_struct()) {
          info.kind = Kind::kStruct;
          info.value_type = CppName(child->name()->str());
          info.inline_size = child->bytesize();
          info.inline_align = child->minalign();
        } else {
          info.kind = Kind::kTable;
          info.value_type = CppName(child->name()->str()) + "Static";
          info.referenced_table = child->name()->str();
        }
        break;
      }
      case BaseType::Vector: {
        const BaseType element = type->element();
        if (element == BaseType::Union || element == BaseType::UType) {
          Fail(info.where +
               ": vectors of unions are not supported by the static API");
        } else if (element == BaseType::String) {
          info.kind = Kind::kStringVector;
          info.value_type = "::aos::fbs::StringVector<" +
                            std::to_string(info.static_length) + ", " +
                            std::to_string(info.string_length) + ">";
        } else if (element == BaseType::Obj &&
                   !object(type->index())->is_struct()) {
          const reflection::Object *child = object(type->index());
          info.kind = Kind::kTableVector;
          info.element_type = CppName(child->name()->str()) + "Static";
          info.referenced_table = child->name()->str();
          info.value_type = "::aos::fbs::TableVector<" + info.element_type +
                            ", " + std::to_string(info.static_length) + ">";
        } else {
          info.kind = Kind::kVector;
          if (element == BaseType::Obj) {
            const reflection::Object *child = object(type->index());
            if (static_cast<size_t>(child->minalign()) > kMaxAlignment) {
              Fail(info.where + ": struct alignment over 8");
            }
            info.element_type = CppName(child->name()->str());
          } else {
            info.element_type = scalar_or_enum(element, type->index());
          }
          info.value_type = "::aos::fbs::Vector<" + info.element_type;
          // force_align on a vector aligns its data; above the arena's
          // alignment it cannot be honoured, so say so rather than ignore it.
          if (const std::optional<int64_t> force_align =
                  Attribute(field, "force_align", info.where)) {
            if (*force_align > static_cast<int64_t>(kMaxAlignment) ||
                (*force_align & (*force_align - 1)) != 0) {
              Fail(info.where +
                   ": force_align: " + std::to_string(*force_align) +
                   " is not supported by the static API, which aligns "
                   "vector data to at most 8 bytes (a power of two); use "
                   "force_align of 8 or less, or build this message with "
                   "FlatBufferBuilder");
            }
            info.value_type += ", " + std::to_string(*force_align);
          }
          info.value_type += ">";
        }
        break;
      }
      case BaseType::Array:
        Fail(info.where + ": arrays only exist in structs");
      default:
        if (!IsScalar(type->base_type())) {
          Fail(info.where + ": unsupported field type");
        }
        info.kind = Kind::kScalar;
        info.value_type = scalar_or_enum(type->base_type(), type->index());
        info.inline_size = ScalarSize(type->base_type());
        info.inline_align = info.inline_size;
        break;
    }
    if (info.inline_align > kMaxAlignment) {
      Fail(info.where + ": alignment over 8 is not supported");
    }
    return info;
  }

  // Lays out the inline table: the soffset to the vtable at 0, then each
  // field at the lowest aligned offset where it fits (largest alignment
  // first, so the gaps are few).
  static size_t Layout(std::vector<FieldInfo> *fields) {
    std::vector<FieldInfo *> order;
    for (FieldInfo &field : *fields) order.push_back(&field);
    std::stable_sort(order.begin(), order.end(),
                     [](const FieldInfo *a, const FieldInfo *b) {
                       if (a->inline_align != b->inline_align) {
                         return a->inline_align > b->inline_align;
                       }
                       return a->inline_size > b->inline_size;
                     });
    std::vector<std::pair<size_t, size_t>> taken = {{0, 4}};
    size_t end = 4;
    for (FieldInfo *field : order) {
      const size_t first = (4 + field->inline_align - 1) / field->inline_align *
                           field->inline_align;
      for (size_t offset = first;; offset += field->inline_align) {
        const bool overlaps = std::any_of(
            taken.begin(), taken.end(),
            [&](const std::pair<size_t, size_t> &t) {
              return offset < t.second && t.first < offset + field->inline_size;
            });
        if (overlaps) continue;
        field->offset = static_cast<uint16_t>(offset);
        taken.emplace_back(offset, offset + field->inline_size);
        end = std::max(end, offset + field->inline_size);
        break;
      }
    }
    return end;
  }

  void GenerateTable(const reflection::Object *table, std::ostream &out) {
    const std::string name = table->name()->str();
    const std::string flatbuffer = CppName(name);
    const std::string short_name = ShortName(name) + "Static";
    std::vector<FieldInfo> fields;
    int max_id = -1;
    for (const reflection::Field *field : *table->fields()) {
      max_id = std::max<int>(max_id, field->id());
      if (field->deprecated()) continue;
      fields.push_back(Describe(table, field));
    }
    std::sort(fields.begin(), fields.end(),
              [](const FieldInfo &a, const FieldInfo &b) {
                return a.field->id() < b.field->id();
              });
    const size_t inline_size = Layout(&fields);
    size_t align = 4;
    for (const FieldInfo &field : fields) {
      align = std::max(align, field.inline_align);
    }
    const size_t vtable_size = 4 + 2 * static_cast<size_t>(max_id + 1);

    std::vector<std::string> sizes = {"kVtableSize + kInlineSize + kAlign - 1"};
    std::vector<std::string> required_children;
    bool own_required = false;
    for (const FieldInfo &field : fields) {
      const std::string length = std::to_string(field.static_length);
      switch (field.kind) {
        case Kind::kString:
          sizes.push_back(field.value_type + "::Size(" + length + ")");
          break;
        case Kind::kVector:
          sizes.push_back(field.value_type + "::Size(" + length + ")");
          break;
        case Kind::kStringVector:
        case Kind::kTableVector:
          sizes.push_back(field.value_type + "::Size()");
          break;
        case Kind::kTable:
          sizes.push_back(field.value_type + "::kSize");
          break;
        default:
          break;
      }
      if (field.field->required()) own_required = true;
      if (field.kind == Kind::kTable) {
        required_children.push_back(field.value_type + "::kHasRequired");
      } else if (field.kind == Kind::kTableVector) {
        required_children.push_back(field.element_type + "::kHasRequired");
      }
    }

    out << "\n";
    for (const std::string &ns : Namespaces(name)) {
      out << "namespace " << ns << " {\n";
    }
    out << "\n// Builds " << name
        << " messages in place (see aos/flatbuffers/static_table.h).\n";
    out << "class " << short_name << " : public ::aos::fbs::Table {\n"
        << " public:\n"
        << "  using Flatbuffer = " << flatbuffer << ";\n"
        << "  static constexpr const char *GetFullyQualifiedName() {\n"
        << "    return Flatbuffer::GetFullyQualifiedName();\n  }\n"
        << "  // This table read through its ordinary flatbuffer type. Valid "
           "until the\n  // message moves (an allocation that did not fit).\n"
        << "  const Flatbuffer &AsFlatbuffer() const {\n"
        << "    return *reinterpret_cast<const Flatbuffer *>(InlineData());\n"
        << "  }\n"
        << "  static constexpr size_t kVtableSize = " << vtable_size << ";\n"
        << "  static constexpr size_t kInlineSize = " << inline_size << ";\n"
        << "  static constexpr size_t kAlign = " << align << ";\n"
        << "  // Upper bound of the bytes of this table with every field set "
           "at its\n  // static size.\n"
        << "  static constexpr size_t kSize =\n      ";
    for (size_t i = 0; i < sizes.size(); ++i) {
      out << (i == 0 ? "" : " +\n      ") << sizes[i];
    }
    out << ";\n";
    out << "  static constexpr bool kHasRequired = "
        << (own_required ? "true" : "false");
    for (const std::string &child : required_children) {
      out << " ||\n      " << child;
    }
    out << ";\n\n";

    for (const FieldInfo &field : fields) GenerateAccessors(field, out);

    // Create, FromFlatbuffer, MissingRequiredField.
    out << "  // Copies every field of `other`, clearing the ones it lacks. "
           "False if the\n  // buffer is full or a vector has more elements "
           "than its static_length.\n";
    out << "  [[nodiscard]] bool FromFlatbuffer(const Flatbuffer *other) {\n"
        << "    const auto *table = reinterpret_cast<const "
           "::flatbuffers::Table *>(other);\n"
        << "    (void)table;\n";
    for (const FieldInfo &field : fields) GenerateFromFlatbuffer(field, out);
    out << "    return true;\n  }\n";
    out << "  // The same from the object API (fields flatbuffers' Pack would "
           "omit are\n  // cleared).\n";
    out << "  [[nodiscard]] bool FromFlatbuffer(\n"
        << "      const Flatbuffer::NativeTableType &other) {\n";
    for (const FieldInfo &field : fields) GenerateFromObject(field, out);
    out << "    return true;\n  }\n\n";

    out << "  // The first required field left unset (\"Type.field\") here or "
           "in a child,\n  // or nullptr.\n"
        << "  const char *MissingRequiredField() const {\n";
    for (const FieldInfo &field : fields) {
      if (field.field->required()) {
        out << "    if (!has_" << field.name << "()) return \"" << field.where
            << "\";\n";
      }
      if (field.kind == Kind::kTable || field.kind == Kind::kTableVector) {
        const std::string type =
            field.kind == Kind::kTable ? field.value_type : field.element_type;
        out << "    if constexpr (" << type << "::kHasRequired) {\n"
            << "      if (has_" << field.name << "()) {\n"
            << "        if (const char *missing = " << field.name
            << "_.MissingRequiredField()) {\n"
            << "          return missing;\n        }\n      }\n    }\n";
      }
    }
    out << "    return nullptr;\n  }\n\n";

    out << "  // For builders and parents: makes the table (no field set) "
           "and points the\n  // uoffset at `ref_position` to it. False if "
           "the buffer is full.\n"
        << "  [[nodiscard]] bool Create(::aos::fbs::Arena *arena, uint32_t "
           "ref_position) {\n"
        << "    return CreateTable(arena, ref_position, kVtableSize, "
           "kInlineSize, kAlign);\n  }\n"
        << "  void Reset() {}\n";

    out << "\n private:\n";
    for (const FieldInfo &field : fields) {
      out << "  static constexpr size_t kId_" << field.name << " = "
          << field.field->id() << ";\n"
          << "  static constexpr uint16_t kOffset_" << field.name << " = "
          << field.offset << ";\n";
    }
    bool any_child = false;
    for (const FieldInfo &field : fields) {
      if (field.kind == Kind::kScalar || field.kind == Kind::kStruct) continue;
      if (!any_child) out << "\n";
      any_child = true;
      out << "  " << field.value_type << " " << field.name << "_;\n";
    }
    out << "};\n\n";
    const std::vector<std::string> namespaces = Namespaces(name);
    for (auto ns = namespaces.rbegin(); ns != namespaces.rend(); ++ns) {
      out << "}  // namespace " << *ns << "\n";
    }
    out << "\nnamespace aos::fbs {\ntemplate <>\nstruct StaticTypeFor<"
        << flatbuffer << "> {\n  using type = " << CppName(name)
        << "Static;\n};\n}  // namespace aos::fbs\n";
  }

  void GenerateAccessors(const FieldInfo &field, std::ostream &out) {
    const std::string &n = field.name;
    const std::string id = "kId_" + n;
    const std::string offset = "kOffset_" + n;
    out << "  // " << field.where;
    if (field.field->required()) out << " (required)";
    out << "\n";
    out << "  bool has_" << n << "() const { return FieldPresent(" << id
        << "); }\n";
    switch (field.kind) {
      case Kind::kScalar:
        out << "  void set_" << n << "(" << field.value_type
            << " value) {\n    SetScalar<" << field.value_type << ">(" << id
            << ", " << offset << ", value);\n  }\n"
            << "  // Empty when unset (readers then see the schema "
               "default).\n"
            << "  std::optional<" << field.value_type << "> " << n
            << "() const {\n    return GetScalar<" << field.value_type << ">("
            << id << ", " << offset << ");\n  }\n"
            << "  void clear_" << n << "() { MarkAbsent(" << id << "); }\n";
        break;
      case Kind::kStruct:
        out << "  void set_" << n << "(const " << field.value_type
            << " &value) {\n    SetScalar<" << field.value_type << ">(" << id
            << ", " << offset << ", value);\n  }\n"
            << "  const " << field.value_type << " *" << n
            << "() const {\n    return StructPointer<const " << field.value_type
            << ">(" << id << ", " << offset << ");\n  }\n"
            << "  " << field.value_type << " *mutable_" << n
            << "() {\n    return StructPointer<" << field.value_type << ">("
            << id << ", " << offset << ");\n  }\n"
            << "  void clear_" << n << "() { MarkAbsent(" << id << "); }\n";
        break;
      default: {
        std::string create_args =
            "ArenaOfTable(), FieldPosition(" + offset + ")";
        if (field.kind == Kind::kString || field.kind == Kind::kVector) {
          create_args += ", " + std::to_string(field.static_length);
        }
        out << "  // The field, created (empty) if unset; nullptr if the "
               "buffer is full.\n"
            << "  " << field.value_type << " *add_" << n << "() {\n"
            << "    if (!has_" << n << "()) {\n"
            << "      if (!" << n << "_.Create(" << create_args
            << ")) return nullptr;\n"
            << "      MarkPresent(" << id << ", " << offset << ");\n    }\n"
            << "    return &" << n << "_;\n  }\n"
            << "  " << field.value_type << " *mutable_" << n
            << "() { return has_" << n << "() ? &" << n << "_ : nullptr; }\n"
            << "  const " << field.value_type << " *" << n
            << "() const { return has_" << n << "() ? &" << n
            << "_ : nullptr; }\n"
            << "  // Its bytes stay allocated, unused.\n"
            << "  void clear_" << n << "() {\n    MarkAbsent(" << id
            << ");\n    " << n << "_.Reset();\n  }\n";
        break;
      }
    }
  }

  void GenerateFromFlatbuffer(const FieldInfo &field, std::ostream &out) {
    const std::string &n = field.name;
    switch (field.kind) {
      case Kind::kScalar:
        out << "    if (table->CheckField(Flatbuffer::VT_" << Upper(n)
            << ")) {\n      set_" << n << "(other->" << n
            << "());\n    } else {\n      clear_" << n << "();\n    }\n";
        break;
      case Kind::kStruct:
        out << "    if (other->" << n << "() != nullptr) {\n      set_" << n
            << "(*other->" << n << "());\n    } else {\n      clear_" << n
            << "();\n    }\n";
        break;
      default:
        out << "    if (other->" << n << "() != nullptr) {\n"
            << "      auto *field = add_" << n << "();\n"
            << "      if (field == nullptr || !field->FromFlatbuffer(other->"
            << n << "())) {\n        return false;\n      }\n"
            << "    } else {\n      clear_" << n << "();\n    }\n";
        break;
    }
  }

  void GenerateFromObject(const FieldInfo &field, std::ostream &out) {
    const std::string &n = field.name;
    std::string present;
    std::string value = "other." + n;
    switch (field.kind) {
      case Kind::kScalar:
        if (field.field->optional()) {
          out << "    if (other." << n << ".has_value()) {\n      set_" << n
              << "(*other." << n << ");\n    } else {\n      clear_" << n
              << "();\n    }\n";
        } else {
          out << "    set_" << n << "(other." << n << ");\n";
        }
        return;
      case Kind::kStruct:
        out << "    if (other." << n << " != nullptr) {\n      set_" << n
            << "(*other." << n << ");\n    } else {\n      clear_" << n
            << "();\n    }\n";
        return;
      case Kind::kTable:
        present = "other." + n + " != nullptr";
        value = "*other." + n;
        break;
      default:
        present = "!other." + n + ".empty()";
        break;
    }
    out << "    if (" << present << ") {\n"
        << "      auto *field = add_" << n << "();\n"
        << "      if (field == nullptr || !field->FromFlatbuffer(" << value
        << ")) {\n        return false;\n      }\n"
        << "    } else {\n      clear_" << n << "();\n    }\n";
  }

  const reflection::Schema *schema_;
  std::string schema_path_;
  std::filesystem::path schema_dir_;
  std::string own_file_;
  std::set<std::string> includes_;
};

}  // namespace

int main(int argc, char **argv) {
  gflags::SetUsageMessage(
      "Writes the static flatbuffer header of a schema from its .bfbs.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (FLAGS_bfbs.empty() || FLAGS_schema.empty() || FLAGS_output.empty()) {
    std::cerr << "aos_static_flatbuffers_generator: --bfbs, --schema and "
                 "--output are required\n";
    return 1;
  }
  std::ifstream in(FLAGS_bfbs, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  flatbuffers::Verifier verifier(
      reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size());
  if (!in || bytes.empty() || !reflection::VerifySchemaBuffer(verifier)) {
    Fail("cannot read a reflection schema from " + FLAGS_bfbs);
  }
  Generator generator(reflection::GetSchema(bytes.data()), FLAGS_schema);
  const std::string header = generator.Generate();
  std::ofstream out(FLAGS_output, std::ios::binary | std::ios::trunc);
  out << header;
  out.close();
  if (!out) Fail("cannot write " + FLAGS_output);
  return 0;
}
