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
// --import_path names where imports not found beside their importer live.

#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "aos/configuration.h"
#include "aos/configuration_merge.h"
#include "aos/configuration_validation.h"
#include "aos/json_to_flatbuffer.h"
#include "flatbuffers/reflection.h"
#include "gflags/gflags.h"

DEFINE_string(import_path, "",
              "Colon-separated directories where imports that are not found "
              "beside the importing file are looked for (aos_config passes "
              "AOS's root, so \"aos/events/aos.json\" resolves in the AOS "
              "tree and in an installed AOS).");

DEFINE_string(static_headers, "",
              "Comma-separated <schema.bfbs>=<include path of its _static.h> "
              "pairs: the schemas compiled with aos_flatbuffer(... STATIC).");
DEFINE_string(max_size_check, "",
              "With --static_headers: write here a C++ file whose "
              "compilation fails, naming the smallest legal max_size, for "
              "each channel whose max_size is below its static message's "
              "size (aos_config compiles it).");

namespace aos {
namespace {

std::vector<std::string> SplitImportPath(std::string_view paths) {
  std::vector<std::string> result;
  while (!paths.empty()) {
    const size_t colon = paths.find(':');
    const std::string_view path = paths.substr(0, colon);
    if (!path.empty()) result.emplace_back(path);
    if (colon == std::string_view::npos) break;
    paths.remove_prefix(colon + 1);
  }
  return result;
}

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

std::vector<std::string> Split(std::string_view text, char separator) {
  std::vector<std::string> result;
  while (!text.empty()) {
    const size_t at = text.find(separator);
    if (at != 0) result.emplace_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return result;
}

// "myapp.Count" -> "myapp::CountStatic".
std::string StaticClassName(std::string_view type) {
  std::string name;
  for (char c : type) {
    if (c == '.') {
      name += "::";
    } else {
      name += c;
    }
  }
  return name + "Static";
}

// A C++ string literal holding `text`.
std::string Quoted(std::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

// The build-time size check of aos_config (--max_size_check): for every
// channel whose type has a static API (a table declared in the main file of
// one of --static_headers' schemas), a static_assert that max_size holds
// the static message. The sizes are only known to the compiler (kSize is a
// constant expression over the generated classes), hence C++ rather than a
// check here. The template arguments in the compiler's error name the
// channel and the smallest legal max_size.
Result<void> WriteMaxSizeCheck(const Configuration *config,
                               const std::string &path) {
  std::set<std::string> includes;
  std::vector<std::string> checks;
  for (const std::string &pair : Split(FLAGS_static_headers, ',')) {
    const size_t equals = pair.find('=');
    if (equals == std::string::npos) {
      return MakeError("--static_headers: expected <bfbs>=<header>, got " +
                       pair);
    }
    const std::string bfbs_path = pair.substr(0, equals);
    Result<std::string> bytes = ReadFile(bfbs_path);
    if (!bytes) return std::unexpected(bytes.error());
    flatbuffers::Verifier verifier(
        reinterpret_cast<const uint8_t *>(bytes->data()), bytes->size());
    if (!reflection::VerifySchemaBuffer(verifier)) {
      return MakeError(bfbs_path + " is not a binary flatbuffer schema");
    }
    const reflection::Schema *schema = reflection::GetSchema(bytes->data());
    if (schema->root_table() == nullptr ||
        schema->root_table()->declaration_file() == nullptr) {
      continue;
    }
    const std::string own_file =
        schema->root_table()->declaration_file()->str();
    bool used = false;
    for (const reflection::Object *object : *schema->objects()) {
      if (object->is_struct() || object->declaration_file() == nullptr ||
          object->declaration_file()->str() != own_file) {
        continue;
      }
      for (const Channel *channel : *config->channels()) {
        if (channel->type()->string_view() != object->name()->string_view()) {
          continue;
        }
        used = true;
        checks.push_back(
            "static_assert(CheckMaxSize<" +
            Quoted(channel->name()->str() + " " + channel->type()->str()) +
            ", (aos::fbs::Builder<" +
            StaticClassName(channel->type()->string_view()) +
            ">::kSize + 7) / 8 * 8, " + std::to_string(channel->max_size()) +
            ">());");
      }
    }
    if (used) includes.insert(pair.substr(equals + 1));
  }
  std::string text =
      "// Generated by config_flattener --max_size_check (aos_config):\n"
      "// compiling it checks every channel's max_size against the size of\n"
      "// its static message.\n"
      "#include <cstddef>\n\n#include \"aos/flatbuffers/builder.h\"\n";
  for (const std::string &include : includes) {
    text += "#include \"" + include + "\"\n";
  }
  text +=
      "\nnamespace {\n\n"
      "template <std::size_t N>\n"
      "struct ChannelName {\n"
      "  constexpr ChannelName(const char (&text)[N]) {\n"
      "    for (std::size_t i = 0; i < N; ++i) value[i] = text[i];\n"
      "  }\n"
      "  char value[N];\n"
      "};\n\n"
      "template <ChannelName kChannel, std::size_t kSmallestLegalMaxSize,\n"
      "          std::size_t kMaxSize>\n"
      "constexpr bool CheckMaxSize() {\n"
      "  static_assert(kMaxSize >= kSmallestLegalMaxSize,\n"
      "                \"a channel's max_size is below the size of its static "
      "message: set max_size to kSmallestLegalMaxSize or more for the "
      "channel kChannel (both in 'In instantiation of ... CheckMaxSize' "
      "above)\");\n"
      "  return true;\n"
      "}\n\n";
  for (const std::string &check : checks) text += check + "\n";
  text += "\n}  // namespace\n";
  return WriteFile(path, text);
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
      configuration::MaybeReadConfig(argv[1],
                                     SplitImportPath(FLAGS_import_path));
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
  if (!FLAGS_max_size_check.empty()) {
    if (Result<void> r =
            WriteMaxSizeCheck(&merged->message(), FLAGS_max_size_check);
        !r) {
      return r;
    }
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
