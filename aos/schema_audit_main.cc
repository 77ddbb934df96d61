// aos_schema_audit: checks a compiled schema against an upstream audit table
// (aos/schema_audit.h), or prints a declaration in the table's syntax.
//
//   aos_schema_audit foo.bfbs aos/upstream_schemas/foo.txt
//       exit 0 if foo.bfbs matches the table, else one line per difference
//       and exit 1.
//   aos_schema_audit --print foo.bfbs aos.foo.Table [aos.foo.Enum ...]
//       prints each declaration, to write or review a table.

#include <cstring>
#include <iostream>

#include "aos/schema_audit.h"
#include "aos/util/file.h"
#include "flatbuffers/reflection.h"

namespace {

int Usage() {
  std::cerr << "usage: aos_schema_audit SCHEMA.bfbs TABLE.txt\n"
               "       aos_schema_audit --print SCHEMA.bfbs NAME...\n";
  return 2;
}

}  // namespace

int main(int argc, char **argv) {
  const bool print = argc >= 2 && std::strcmp(argv[1], "--print") == 0;
  if (print ? argc < 4 : argc != 3) return Usage();
  const char *bfbs_path = argv[print ? 2 : 1];
  const aos::Result<std::string> bfbs = aos::util::ReadFileToString(bfbs_path);
  if (!bfbs.has_value()) {
    std::cerr << "aos_schema_audit: " << bfbs.error().message() << "\n";
    return 1;
  }
  flatbuffers::Verifier verifier(
      reinterpret_cast<const uint8_t *>(bfbs->data()), bfbs->size());
  if (!reflection::VerifySchemaBuffer(verifier)) {
    std::cerr << "aos_schema_audit: " << bfbs_path
              << " is not a binary schema (.bfbs written by flatc --schema)\n";
    return 1;
  }
  const reflection::Schema &schema = *reflection::GetSchema(bfbs->data());
  if (print) {
    int status = 0;
    for (int i = 3; i < argc; ++i) {
      const aos::Result<std::string> block =
          aos::DescribeSchemaDeclaration(schema, argv[i]);
      if (block.has_value()) {
        std::cout << *block;
      } else {
        std::cerr << "aos_schema_audit: " << bfbs_path << ": "
                  << block.error().message() << "\n";
        status = 1;
      }
    }
    return status;
  }
  const aos::Result<std::string> table = aos::util::ReadFileToString(argv[2]);
  if (!table.has_value()) {
    std::cerr << "aos_schema_audit: " << table.error().message() << "\n";
    return 1;
  }
  const aos::Result<std::vector<std::string>> differences =
      aos::AuditSchema(schema, *table);
  if (!differences.has_value()) {
    std::cerr << "aos_schema_audit: " << argv[2] << ": "
              << differences.error().message() << "\n";
    return 1;
  }
  for (const std::string &difference : *differences) {
    std::cout << bfbs_path << ": " << difference << "\n";
  }
  if (!differences->empty()) {
    std::cout << "The schema no longer has upstream AOS's wire format ("
              << argv[2]
              << "): restore upstream's ids, types, defaults and enum "
                 "values as listed there.\n";
    return 1;
  }
  return 0;
}
