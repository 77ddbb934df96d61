// Rebuilds the reflection schema of a generated flatbuffer type from its
// mini-reflection table (T::MiniReflectTypeTable(), generated because
// aos_flatbuffer passes --reflect-names).
//
// Why: the typed JSON functions (JsonToFlatbuffer<T>, FlatbufferToJson<T>)
// must work for any generated type without the caller naming a .bfbs file,
// and generated C++ carries no binary schema. The type table has everything
// JSON needs (field names, ids, types, enum values, union members, struct
// layouts) except type names and default values. Neither matters here: JSON
// names no types (union members are named by their union's value names), and
// the parser stores every field the JSON gives while the printer prints every
// field present in the buffer, so defaults never decide anything. We write the
// equivalent .fbs text, let flatbuffers::Parser compile it, and keep its
// binary schema for the life of the process.

#include <bit>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "aos/json_to_flatbuffer.h"
#include "flatbuffers/idl.h"
#include "flatbuffers/minireflect.h"
#include "glog/logging.h"

namespace aos::json_internal {
namespace {

const char *ScalarTypeName(flatbuffers::ElementaryType type) {
  switch (type) {
    case flatbuffers::ET_UTYPE:
      return "ubyte";
    case flatbuffers::ET_BOOL:
      return "bool";
    case flatbuffers::ET_CHAR:
      return "byte";
    case flatbuffers::ET_UCHAR:
      return "ubyte";
    case flatbuffers::ET_SHORT:
      return "short";
    case flatbuffers::ET_USHORT:
      return "ushort";
    case flatbuffers::ET_INT:
      return "int";
    case flatbuffers::ET_UINT:
      return "uint";
    case flatbuffers::ET_LONG:
      return "long";
    case flatbuffers::ET_ULONG:
      return "ulong";
    case flatbuffers::ET_FLOAT:
      return "float";
    case flatbuffers::ET_DOUBLE:
      return "double";
    case flatbuffers::ET_STRING:
      return "string";
    case flatbuffers::ET_SEQUENCE:
      break;
  }
  LOG(FATAL) << "not a scalar type code: " << static_cast<int>(type);
}

// Whether an enum's type table is that of a `bit_flags` enum. Type tables do
// not record attributes, so this infers it: bit_flags values are single bits
// (1 << position), never 0, while any other enum whose fields use the
// default value 0 must name 0 (flatc insists). An enum of distinct powers of
// two without 0 that is not bit_flags (rare: every field of that type needs
// an explicit default) would print combinations like "A B", which parse back
// to the same value, so a wrong guess costs no data.
bool LooksLikeBitFlags(const flatbuffers::TypeTable *type_table) {
  if (type_table->values == nullptr || type_table->num_elems == 0) {
    return false;  // Values 0, 1, 2, ...: 0 is there.
  }
  for (size_t i = 0; i < type_table->num_elems; ++i) {
    const int64_t value = type_table->values[i];
    if (value <= 0 || !std::has_single_bit(static_cast<uint64_t>(value))) {
      return false;
    }
  }
  return true;
}

// Writes the schema text of a root type and everything it refers to.
class SchemaWriter {
 public:
  // Names the root after its real (unqualified) name; the others get
  // names made from the fields that refer to them, in the same namespace.
  SchemaWriter(const flatbuffers::TypeTable *root, std::string_view name) {
    const size_t dot = name.rfind('.');
    if (dot != std::string_view::npos) {
      name_space_ = std::string(name.substr(0, dot));
      names_[root] = std::string(name.substr(dot + 1));
    } else {
      names_[root] = std::string(name);
    }
    used_names_.insert(names_[root]);
    pending_.push_back(root);
  }

  std::string Write() {
    // Referenced types are discovered while writing; keep going until none
    // is left. Enums and unions go first: a field default can only name a
    // value of an enum declared above it, and flatc adds a union field's
    // `_type` field only if it already knows the type is a union.
    // Structs come next, each after the structs it contains: flatc must
    // know a struct's size before it can lay out one that embeds it.
    std::string enums_and_unions;
    std::string structs;
    std::string tables;
    for (size_t i = 0; i < pending_.size(); ++i) {
      switch (pending_[i]->st) {
        case flatbuffers::ST_ENUM:
        case flatbuffers::ST_UNION:
          WriteType(pending_[i], &enums_and_unions);
          break;
        case flatbuffers::ST_STRUCT:
          WriteStructAfterItsStructs(pending_[i], &structs);
          break;
        case flatbuffers::ST_TABLE:
          WriteType(pending_[i], &tables);
          break;
      }
    }
    std::string text;
    if (!name_space_.empty()) text += "namespace " + name_space_ + ";\n";
    text += enums_and_unions + structs + tables;
    text += "root_type " + names_[pending_.front()] + ";\n";
    return text;
  }

 private:
  // A type is named after the first field that refers to it (e.g.
  // Everything_foo_struct), which is what parse errors then mention.
  const std::string &NameOf(const flatbuffers::TypeTable *type_table,
                            const std::string &hint) {
    auto it = names_.find(type_table);
    if (it == names_.end()) {
      std::string name = hint;
      while (used_names_.contains(name)) name += "_";
      used_names_.insert(name);
      it = names_.emplace(type_table, name).first;
      pending_.push_back(type_table);
    }
    return it->second;
  }

  const flatbuffers::TypeTable *Ref(const flatbuffers::TypeTable *type_table,
                                    const flatbuffers::TypeCode &code) {
    return code.sequence_ref < 0 ? nullptr
                                 : type_table->type_refs[code.sequence_ref]();
  }

  // The schema spelling of field `i`'s element type (without brackets).
  std::string ElementType(const flatbuffers::TypeTable *type_table, size_t i) {
    const flatbuffers::TypeCode &code = type_table->type_codes[i];
    const flatbuffers::TypeTable *ref = Ref(type_table, code);
    const auto base = static_cast<flatbuffers::ElementaryType>(code.base_type);
    if (base == flatbuffers::ET_SEQUENCE || ref != nullptr) {
      CHECK(ref != nullptr) << "sequence field without a type reference";
      return NameOf(ref, names_[type_table] + "_" + type_table->names[i]);
    }
    return ScalarTypeName(base);
  }

  // Writes the struct unless already written, after every struct it
  // contains (directly or in an array), depth first.
  void WriteStructAfterItsStructs(const flatbuffers::TypeTable *type_table,
                                  std::string *text) {
    if (!written_structs_.insert(type_table).second) return;
    for (size_t i = 0; i < type_table->num_elems; ++i) {
      const flatbuffers::TypeTable *ref =
          Ref(type_table, type_table->type_codes[i]);
      if (ref != nullptr && ref->st == flatbuffers::ST_STRUCT) {
        NameOf(ref, names_[type_table] + "_" + type_table->names[i]);
        WriteStructAfterItsStructs(ref, text);
      }
    }
    WriteType(type_table, text);
  }

  void WriteType(const flatbuffers::TypeTable *type_table, std::string *text) {
    const std::string name = names_[type_table];
    switch (type_table->st) {
      case flatbuffers::ST_TABLE:
        WriteTable(type_table, name, text);
        return;
      case flatbuffers::ST_STRUCT:
        WriteStruct(type_table, name, text);
        return;
      case flatbuffers::ST_UNION:
        *text += "union " + name + " {";
        // Member 0 is NONE, which the schema language adds by itself.
        for (size_t i = 1; i < type_table->num_elems; ++i) {
          *text += std::string(i == 1 ? " " : ", ") + type_table->names[i] +
                   ": " + ElementType(type_table, i);
        }
        *text += " }\n";
        return;
      case flatbuffers::ST_ENUM: {
        const bool bit_flags = LooksLikeBitFlags(type_table);
        *text += "enum " + name + " : " +
                 ScalarTypeName(static_cast<flatbuffers::ElementaryType>(
                     type_table->type_codes[0].base_type)) +
                 (bit_flags ? " (bit_flags)" : "") + " {";
        for (size_t i = 0; i < type_table->num_elems; ++i) {
          // flatc leaves out the values of enums numbered 0, 1, 2...
          const int64_t value = type_table->values != nullptr
                                    ? type_table->values[i]
                                    : static_cast<int64_t>(i);
          // bit_flags values are written as bit positions.
          *text +=
              std::string(i == 0 ? " " : ", ") + type_table->names[i] + " = " +
              std::to_string(
                  bit_flags ? std::countr_zero(static_cast<uint64_t>(value))
                            : value);
        }
        *text += " }\n";
        return;
      }
    }
  }

  void WriteTable(const flatbuffers::TypeTable *type_table,
                  const std::string &name, std::string *text) {
    *text += "table " + name + " {\n";
    for (size_t i = 0; i < type_table->num_elems; ++i) {
      const flatbuffers::TypeCode &code = type_table->type_codes[i];
      // A union's type field is implied by the union field after it.
      if (code.base_type == flatbuffers::ET_UTYPE) continue;
      const std::string element = ElementType(type_table, i);
      *text += "  " + std::string(type_table->names[i]) + ":" +
               (code.is_repeating ? "[" + element + "]" : element);
      // Enum fields need a default that is one of their values; any will do.
      const flatbuffers::TypeTable *ref = Ref(type_table, code);
      if (!code.is_repeating && ref != nullptr &&
          ref->st == flatbuffers::ST_ENUM) {
        *text += " = " + std::string(ref->names[0]);
      }
      *text += " (id: " + std::to_string(i) + ");\n";
    }
    *text += "}\n";
  }

  void WriteStruct(const flatbuffers::TypeTable *type_table,
                   const std::string &name, std::string *text) {
    *text += "struct " + name + " {\n";
    size_t array = 0;
    for (size_t i = 0; i < type_table->num_elems; ++i) {
      const flatbuffers::TypeCode &code = type_table->type_codes[i];
      const std::string element = ElementType(type_table, i);
      *text += "  " + std::string(type_table->names[i]) + ":";
      if (code.is_repeating) {
        *text += "[" + element + ":" +
                 std::to_string(type_table->array_sizes[array++]) + "]";
      } else {
        *text += element;
      }
      *text += ";\n";
    }
    *text += "}\n";
    structs_.emplace_back(name, type_table);
  }

 public:
  // Structs whose layout the compiled schema must reproduce.
  std::vector<std::pair<std::string, const flatbuffers::TypeTable *>> structs_;
  std::string name_space_;

 private:
  std::map<const flatbuffers::TypeTable *, std::string> names_;
  std::set<std::string> used_names_;
  std::vector<const flatbuffers::TypeTable *> pending_;
  std::set<const flatbuffers::TypeTable *> written_structs_;
};

}  // namespace

const reflection::Schema *SchemaForTypeTable(
    const flatbuffers::TypeTable *type_table, std::string_view name) {
  // Schemas live as long as the process: pointers into them are handed out.
  static std::mutex mutex;
  // Keyed by name too: FlatbufferType rebuilds a type table under a
  // placeholder name, which must not become the name SchemaOf<T> reports.
  static auto *schemas =
      new std::map<std::pair<const flatbuffers::TypeTable *, std::string>,
                   std::vector<uint8_t>>();
  std::lock_guard<std::mutex> lock(mutex);
  const std::pair<const flatbuffers::TypeTable *, std::string> key(
      type_table, std::string(name));
  auto it = schemas->find(key);
  if (it != schemas->end()) {
    return reflection::GetSchema(it->second.data());
  }

  SchemaWriter writer(type_table, name);
  const std::string text = writer.Write();
  flatbuffers::IDLOptions options;
  // Keep built-in attributes such as bit_flags in the binary schema (as
  // aos_flatbuffer's flatc --bfbs-builtins does): the printer needs it.
  options.binary_schema_builtins = true;
  flatbuffers::Parser parser(options);
  CHECK(parser.Parse(text.c_str()))
      << "could not rebuild the schema of " << name << ": " << parser.error_
      << "\nfrom:\n"
      << text;
  // A struct whose generated layout we do not reproduce (e.g. force_align)
  // would silently misread data: refuse it.
  for (const auto &[struct_name, struct_table] : writer.structs_) {
    const flatbuffers::StructDef *def = parser.LookupStruct(
        writer.name_space_.empty() ? struct_name
                                   : writer.name_space_ + "." + struct_name);
    CHECK(def != nullptr) << struct_name;
    CHECK_EQ(static_cast<int64_t>(def->bytesize),
             struct_table->values[struct_table->num_elems])
        << "struct layout of a type used by " << name
        << " cannot be rebuilt from its type table";
    for (size_t i = 0; i < struct_table->num_elems; ++i) {
      CHECK_EQ(static_cast<int64_t>(def->fields.vec[i]->value.offset),
               struct_table->values[i])
          << "struct layout of a type used by " << name
          << " cannot be rebuilt from its type table";
    }
  }
  parser.Serialize();
  std::vector<uint8_t> bytes(
      parser.builder_.GetBufferPointer(),
      parser.builder_.GetBufferPointer() + parser.builder_.GetSize());
  it = schemas->emplace(key, std::move(bytes)).first;
  return reflection::GetSchema(it->second.data());
}

}  // namespace aos::json_internal
