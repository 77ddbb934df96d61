// Flattens a JSON config at build time (see cmake/AosConfig.cmake):
//
//   config_flattener [--flags] <config.json> <out.json> <out.bfbs>
//                    [<schema.bfbs>...]
//
// Reads the config with its imports, merges and validates it, embeds the
// schema of every channel's type from the given binary schemas, and writes
// the result as multi-line JSON (<out.json>) and as a binary flatbuffer
// (<out.bfbs>). Beside <out.json> it also writes <out>.stripped.json, the
// same merged config without the schemas: small enough for people to read
// and diff, as upstream's aos_config rule provides. Fails (one line on
// stderr, non-zero exit) on any error, including a channel whose type has no
// schema: tools such as aos_dump must always be able to print a channel.
// Validation flags apply, e.g. --max_queue_memory_mib for a config that
// really needs a bigger queue (aos_config's FLATTENER_FLAGS passes them).

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "aos/configuration.h"
#include "aos/configuration_merge.h"
#include "aos/configuration_validation.h"
#include "aos/json_to_flatbuffer.h"
#include "flatbuffers/reflection.h"
#include "gflags/gflags.h"

namespace aos {
namespace {

Result<std::string> ReadFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("Failed to read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Result<void> WriteFile(const std::string &path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), contents.size());
  if (!out) return MakeError("Failed to write " + path);
  return {};
}

// "dir/name.json" -> "dir/name.stripped.json" (any other name gets the suffix
// appended).
std::string StrippedPath(std::string_view json_path) {
  constexpr std::string_view kJson = ".json";
  if (json_path.ends_with(kJson)) json_path.remove_suffix(kJson.size());
  return std::string(json_path) + ".stripped.json";
}

// `config` without the channels' schemas.
FlatbufferDetachedBuffer<Configuration> StripSchemas(
    const Configuration *config) {
  configuration::internal::ConfigurationModel model;
  CheckExpected(model.Merge(config, "flattened config"));
  for (auto &[key, channel] : model.channels) channel.schema = nullptr;
  return model.Pack();
}

Result<void> Flatten(int argc, char **argv) {
  if (argc < 4) {
    return MakeError(
        "usage: config_flattener <config.json> <out.json> <out.bfbs> "
        "[<schema.bfbs>...]");
  }
  std::vector<FlatbufferVector<reflection::Schema>> schemas;
  for (int i = 4; i < argc; ++i) {
    Result<std::string> bytes = ReadFile(argv[i]);
    if (!bytes) return std::unexpected(bytes.error());
    FlatbufferVector<reflection::Schema> schema(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t *>(bytes->data()), bytes->size()));
    flatbuffers::Verifier verifier(schema.span().data(), schema.span().size());
    if (!reflection::VerifySchemaBuffer(verifier)) {
      return MakeError(std::string(argv[i]) +
                       " is not a binary flatbuffer schema (.bfbs)");
    }
    schemas.push_back(std::move(schema));
  }

  Result<FlatbufferDetachedBuffer<Configuration>> config =
      configuration::MaybeReadConfig(argv[1]);
  if (!config) return std::unexpected(config.error());
  Result<FlatbufferDetachedBuffer<Configuration>> merged =
      configuration::MaybeMergeConfiguration(*config, schemas);
  if (!merged) return std::unexpected(merged.error());
  if (Result<void> aligned =
          configuration::internal::CheckMaxSizeAlignment(&merged->message());
      !aligned) {
    return MakeError(std::string(argv[1]) + ": " + aligned.error().message());
  }
  if (!merged->Verify()) {
    return MakeError("Flattened config of " + std::string(argv[1]) +
                     " does not verify");
  }
  for (const Channel *channel : *merged->message().channels()) {
    if (channel->schema() == nullptr) {
      return MakeError(std::string(argv[1]) + ": no schema for channel " +
                       configuration::StrippedChannelToString(channel) +
                       "; add the aos_flatbuffer target defining " +
                       channel->type()->str() + " to FLATBUFFERS");
    }
  }
  const JsonOptions json_options = {.multi_line = true, .max_multi_line = 80};
  if (Result<void> r =
          WriteFile(argv[2], FlatbufferToJson(*merged, json_options) + "\n");
      !r) {
    return r;
  }
  if (Result<void> r = WriteFile(
          StrippedPath(argv[2]),
          FlatbufferToJson(StripSchemas(&merged->message()), json_options) +
              "\n");
      !r) {
    return r;
  }
  return WriteFile(
      argv[3],
      std::string_view(reinterpret_cast<const char *>(merged->span().data()),
                       merged->span().size()));
}

}  // namespace
}  // namespace aos

int main(int argc, char **argv) {
  gflags::SetUsageMessage(
      "config_flattener [--flags] <config.json> <out.json> <out.bfbs> "
      "[<schema.bfbs>...]");
  gflags::ParseCommandLineFlags(&argc, &argv, /*remove_flags=*/true);
  aos::Result<void> result = aos::Flatten(argc, argv);
  if (!result) {
    std::cerr << "config_flattener: " << result.error().message() << "\n";
    return 1;
  }
  return 0;
}
