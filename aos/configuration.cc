#include "aos/configuration.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

#include "aos/configuration_merge.h"
#include "aos/configuration_validation.h"
#include "aos/json_to_flatbuffer.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(override_hostname, "",
              "If set, this forces the hostname of this node to be the "
              "provided hostname.");

namespace aos::configuration {
namespace {

using internal::ConfigurationModel;
using internal::Origins;
using internal::ValidateFile;
using internal::ValidateMerged;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
}

// The binary config read instead of a `.json` path: the `.bfbs` of the same
// stem. Other paths are their own.
std::string BinaryBeside(const std::string &path) {
  if (!EndsWith(path, ".json")) return path;
  return path.substr(0, path.size() - 5) + ".bfbs";
}

Result<std::string> ReadFile(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError("Failed to read config file " + path.string() + ": " +
                     std::strerror(errno));
  }
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Reads `path` and its imports depth first into `model`.
class ConfigReader {
 public:
  explicit ConfigReader(std::span<const std::string> extra_import_paths)
      : extra_import_paths_(extra_import_paths) {}

  Result<void> Read(const std::filesystem::path &path,
                    const std::string &imported_as,
                    const std::string &importer) {
    std::error_code error;
    const std::filesystem::path absolute =
        std::filesystem::weakly_canonical(path, error);
    if (!imported_.insert(absolute.string()).second) {
      return MakeError("Already imported " + imported_as + " (i.e. " +
                       absolute.string() + "); " + importer +
                       " imports it again: remove the duplicate import");
    }
    Result<std::string> contents = ReadFile(path);
    if (!contents) return std::unexpected(contents.error());
    Result<flatbuffers::DetachedBuffer> parsed =
        JsonToFlatbuffer(SchemaOf<Configuration>(), *contents);
    if (!parsed) {
      return MakeError(path.string() + ": " + parsed.error().message());
    }
    buffers_.emplace_back(std::move(*parsed));
    const Configuration *config = &buffers_.back().message();
    if (Result<void> r = ValidateFile(config, path.string()); !r) return r;
    if (config->imports() != nullptr) {
      for (const flatbuffers::String *import : *config->imports()) {
        Result<std::filesystem::path> resolved = Resolve(path, import->str());
        if (!resolved) return std::unexpected(resolved.error());
        if (Result<void> r = Read(*resolved, import->str(), path.string());
            !r) {
          return r;
        }
      }
    }
    return model_.Merge(config, path.string());
  }

  ConfigurationModel &model() { return model_; }

 private:
  Result<std::filesystem::path> Resolve(const std::filesystem::path &importer,
                                        const std::string &import) {
    std::vector<std::filesystem::path> candidates = {importer.parent_path() /
                                                     import};
    for (const std::string &extra : extra_import_paths_) {
      candidates.push_back(std::filesystem::path(extra) / import);
    }
    std::string tried;
    for (const std::filesystem::path &candidate : candidates) {
      if (std::filesystem::exists(candidate)) return candidate;
      tried += (tried.empty() ? "" : ", ") + candidate.string();
    }
    return MakeError(importer.string() + ": import \"" + import +
                     "\" not found (tried " + tried +
                     "); fix the path, relative to the importing file");
  }

  std::span<const std::string> extra_import_paths_;
  std::set<std::string> imported_;
  std::vector<FlatbufferDetachedBuffer<Configuration>> buffers_;
  ConfigurationModel model_;
};

Origins OriginsOf(const ConfigurationModel &model) {
  Origins origins;
  for (const auto &[key, channel] : model.channels) {
    origins[key] = channel.files;
  }
  return origins;
}

Result<FlatbufferDetachedBuffer<Configuration>> ReadBinary(
    const std::string &path) {
  Result<std::string> contents = ReadFile(path);
  if (!contents) return std::unexpected(contents.error());
  FlatbufferVector<Configuration> config(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t *>(contents->data()), contents->size()));
  if (!config.Verify()) {
    return MakeError(path +
                     " is not a valid binary Configuration flatbuffer; "
                     "regenerate it with config_flattener");
  }
  ConfigurationModel model;
  if (Result<void> r = model.Merge(&config.message(), path); !r) {
    return std::unexpected(r.error());
  }
  // Re-packing a flattened config reproduces it; it also yields the detached
  // buffer type callers expect.
  FlatbufferDetachedBuffer<Configuration> result = model.Pack();
  if (Result<void> r = ValidateMerged(&result.message(), nullptr,
                                      /*check_queue_memory=*/false);
      !r) {
    return MakeError(path + ": " + r.error().message());
  }
  return result;
}

// Applies `maps` (last to first) to `name`.
void ApplyMaps(const flatbuffers::Vector<flatbuffers::Offset<Map>> *maps,
               std::string *name, std::string_view type, const Node *node) {
  if (maps == nullptr) return;
  for (int i = static_cast<int>(maps->size()) - 1; i >= 0; --i) {
    const Map *map = maps->Get(i);
    if (map->match() == nullptr || map->match()->name() == nullptr ||
        map->rename() == nullptr || map->rename()->name() == nullptr) {
      continue;
    }
    const Channel *match = map->match();
    if (match->type() != nullptr && match->type()->string_view() != type) {
      continue;
    }
    if (match->source_node() != nullptr &&
        (node == nullptr || node->name() == nullptr ||
         node->name()->string_view() != match->source_node()->string_view())) {
      continue;
    }
    const std::string_view pattern = match->name()->string_view();
    if (!pattern.empty() && pattern.back() == '*') {
      const std::string_view prefix = pattern.substr(0, pattern.size() - 1);
      if (std::string_view(*name).starts_with(prefix)) {
        *name = map->rename()->name()->str() + name->substr(prefix.size());
      }
    } else if (*name == pattern) {
      *name = map->rename()->name()->str();
    }
  }
}

// The channel named exactly `name` with type `type` (no maps), by binary
// search in the sorted channel list; null if there is none.
const Channel *FindChannel(const Configuration *config, std::string_view name,
                           std::string_view type) {
  if (config->channels() == nullptr) return nullptr;
  const auto *channels = config->channels();
  auto it = std::lower_bound(
      channels->begin(), channels->end(), std::make_pair(name, type),
      [](const Channel *channel,
         const std::pair<std::string_view, std::string_view> &key) {
        const int order = channel->name()->string_view().compare(key.first);
        return order < 0 ||
               (order == 0 && channel->type()->string_view() < key.second);
      });
  if (it != channels->end() && it->name()->string_view() == name &&
      it->type()->string_view() == type) {
    return *it;
  }
  return nullptr;
}

}  // namespace

Result<std::string> FindConfigFile(
    std::string_view path, std::span<const std::string> extra_import_paths) {
  std::vector<std::filesystem::path> candidates = {std::filesystem::path(path)};
  if (candidates.front().is_relative()) {
    for (const std::string &extra : extra_import_paths) {
      candidates.push_back(std::filesystem::path(extra) / path);
    }
    std::error_code error;
    const std::filesystem::path program =
        std::filesystem::read_symlink("/proc/self/exe", error);
    if (!error) candidates.push_back(program.parent_path() / path);
  }
  std::string tried;
  for (const std::filesystem::path &candidate : candidates) {
    std::error_code error;
    if (std::filesystem::exists(candidate, error) ||
        std::filesystem::exists(BinaryBeside(candidate.string()), error)) {
      return candidate.string();
    }
    tried += (tried.empty() ? "" : ", ") + candidate.string();
  }
  return MakeError("Config file " + std::string(path) + " not found (tried " +
                   tried + ")");
}

Result<FlatbufferDetachedBuffer<Configuration>> MaybeReadConfig(
    std::string_view path_view,
    std::span<const std::string> extra_import_paths) {
  Result<std::string> found = FindConfigFile(path_view, extra_import_paths);
  if (!found) return std::unexpected(found.error());
  std::string path = std::move(*found);
  if (const std::string binary = BinaryBeside(path);
      binary != path && std::filesystem::exists(binary)) {
    path = binary;
  }
  if (EndsWith(path, ".bfbs")) return ReadBinary(path);
  ConfigReader reader(extra_import_paths);
  if (Result<void> r = reader.Read(path, path, "the command line"); !r) {
    return std::unexpected(r.error());
  }
  FlatbufferDetachedBuffer<Configuration> result = reader.model().Pack();
  const Origins origins = OriginsOf(reader.model());
  if (Result<void> r = ValidateMerged(&result.message(), &origins); !r) {
    return MakeError(path + ": " + r.error().message());
  }
  return result;
}

FlatbufferDetachedBuffer<Configuration> ReadConfig(
    std::string_view path, std::span<const std::string> extra_import_paths) {
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      MaybeReadConfig(path, extra_import_paths);
  if (!config) {
    LOG(FATAL) << "Could not read config: " << config.error().message();
  }
  return std::move(*config);
}

Result<void> Validate(const Configuration *config) {
  return ValidateMerged(config, nullptr);
}

Result<FlatbufferDetachedBuffer<Configuration>> MaybeMergeWithConfig(
    const Configuration *config, std::string_view json) {
  Result<flatbuffers::DetachedBuffer> parsed =
      JsonToFlatbuffer(SchemaOf<Configuration>(), json);
  if (!parsed) return std::unexpected(parsed.error());
  FlatbufferDetachedBuffer<Configuration> addition(std::move(*parsed));
  if (Result<void> r = ValidateFile(&addition.message(), "merged JSON"); !r) {
    return std::unexpected(r.error());
  }
  ConfigurationModel model;
  if (Result<void> r = model.Merge(config, "base config"); !r) {
    return std::unexpected(r.error());
  }
  if (Result<void> r = model.Merge(&addition.message(), "merged JSON"); !r) {
    return std::unexpected(r.error());
  }
  FlatbufferDetachedBuffer<Configuration> result = model.Pack();
  const Origins origins = OriginsOf(model);
  if (Result<void> r = ValidateMerged(&result.message(), &origins); !r) {
    return std::unexpected(r.error());
  }
  return result;
}

FlatbufferDetachedBuffer<Configuration> MergeWithConfig(
    const Configuration *config, std::string_view json) {
  Result<FlatbufferDetachedBuffer<Configuration>> result =
      MaybeMergeWithConfig(config, json);
  CHECK(result.has_value()) << result.error().message();
  return std::move(*result);
}

FlatbufferDetachedBuffer<Configuration> MergeWithConfig(
    const Configuration *config, const Flatbuffer<Configuration> &addition) {
  ConfigurationModel model;
  CheckExpected(model.Merge(config, "base config"));
  CheckExpected(model.Merge(&addition.message(), "addition"));
  FlatbufferDetachedBuffer<Configuration> result = model.Pack();
  CheckExpected(ValidateMerged(&result.message(), nullptr));
  return result;
}

Result<FlatbufferDetachedBuffer<Configuration>> MaybeMergeConfiguration(
    const Flatbuffer<Configuration> &config,
    std::span<const FlatbufferVector<reflection::Schema>> schemas) {
  if (Result<void> r = ValidateFile(&config.message(), "config"); !r) {
    return std::unexpected(r.error());
  }
  ConfigurationModel model;
  if (Result<void> r = model.Merge(&config.message(), "config"); !r) {
    return std::unexpected(r.error());
  }
  model.AddSchemas(schemas);
  FlatbufferDetachedBuffer<Configuration> result = model.Pack();
  if (Result<void> r = ValidateMerged(&result.message(), nullptr); !r) {
    return std::unexpected(r.error());
  }
  return result;
}

FlatbufferDetachedBuffer<Configuration> MergeConfiguration(
    const Flatbuffer<Configuration> &config,
    std::span<const FlatbufferVector<reflection::Schema>> schemas) {
  Result<FlatbufferDetachedBuffer<Configuration>> result =
      MaybeMergeConfiguration(config, schemas);
  CHECK(result.has_value()) << result.error().message();
  return std::move(*result);
}

Result<FlatbufferDetachedBuffer<Configuration>> MaybeAddChannelToConfiguration(
    const Configuration *config, std::string_view name,
    const Flatbuffer<reflection::Schema> &schema, const Node *node,
    const ChannelT &overrides) {
  const reflection::Object *root = schema.message().root_table();
  if (root == nullptr || root->name() == nullptr) {
    return MakeError("The schema for new channel " + std::string(name) +
                     " has no root table; pass the .bfbs of the message type");
  }
  ChannelT channel = overrides;
  channel.name = name;
  channel.type = root->name()->str();
  channel.schema.reset();
  channel.source_node = node != nullptr ? node->name()->str() : "";
  flatbuffers::FlatBufferBuilder fbb;
  // Fields left at their defaults stay absent, so they do not override an
  // existing channel's values when merged.
  fbb.ForceDefaults(false);
  const flatbuffers::Offset<Channel> channel_offset =
      Channel::Pack(fbb, &channel);
  const auto channels = fbb.CreateVector(&channel_offset, 1);
  ConfigurationBuilder builder(fbb);
  builder.add_channels(channels);
  fbb.Finish(builder.Finish());
  FlatbufferDetachedBuffer<Configuration> addition(fbb.Release());
  const std::string origin = "added channel";
  if (Result<void> r = ValidateFile(&addition.message(), origin); !r) {
    return std::unexpected(r.error());
  }
  ConfigurationModel model;
  if (Result<void> r = model.Merge(config, "base config"); !r) {
    return std::unexpected(r.error());
  }
  if (Result<void> r = model.Merge(&addition.message(), origin); !r) {
    return std::unexpected(r.error());
  }
  model.channels[{channel.name, channel.type}].schema = &schema.message();
  FlatbufferDetachedBuffer<Configuration> result = model.Pack();
  const Origins origins = OriginsOf(model);
  if (Result<void> r = ValidateMerged(&result.message(), &origins); !r) {
    return std::unexpected(r.error());
  }
  return result;
}

FlatbufferDetachedBuffer<Configuration> AddChannelToConfiguration(
    const Configuration *config, std::string_view name,
    const Flatbuffer<reflection::Schema> &schema, const Node *node,
    const ChannelT &overrides) {
  Result<FlatbufferDetachedBuffer<Configuration>> result =
      MaybeAddChannelToConfiguration(config, name, schema, node, overrides);
  CHECK(result.has_value()) << result.error().message();
  return std::move(*result);
}

FlatbufferDetachedBuffer<Configuration> GetPartialConfiguration(
    const Configuration &config,
    const std::function<bool(const Channel &)> &should_include_channel) {
  ConfigurationModel model;
  CheckExpected(model.Merge(&config, "config"));
  if (config.channels() != nullptr) {
    for (const Channel *channel : *config.channels()) {
      if (!should_include_channel(*channel)) {
        model.channels.erase({channel->name()->str(), channel->type()->str()});
      }
    }
  }
  return model.Pack();
}

FlatbufferDetachedBuffer<Configuration> AddSchema(
    std::string_view json,
    std::span<const FlatbufferVector<reflection::Schema>> schemas) {
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      MaybeJsonToFlatbuffer<Configuration>(json);
  CHECK(config.has_value()) << config.error().message();
  return MergeConfiguration(*config, schemas);
}

std::string MappedChannelName(const Configuration *config,
                              std::string_view name, std::string_view type,
                              std::string_view application_name,
                              const Node *node) {
  std::string mapped(name);
  const Application *application =
      GetApplication(config, node, application_name);
  if (application != nullptr) {
    ApplyMaps(application->maps(), &mapped, type, node);
  }
  ApplyMaps(config->maps(), &mapped, type, node);
  return mapped;
}

const Channel *GetChannel(const Configuration *config, std::string_view name,
                          std::string_view type,
                          std::string_view application_name, const Node *node,
                          bool quiet) {
  const std::string mapped =
      MappedChannelName(config, name, type, application_name, node);
  if (const Channel *channel = FindChannel(config, mapped, type)) {
    return channel;
  }
  if (!quiet) {
    VLOG(1) << "No channel { \"name\": \"" << mapped << "\", \"type\": \""
            << type << "\" } (looked up as " << name << " by \""
            << application_name << "\")";
  }
  return nullptr;
}

namespace {

// Reverse-applying maps can multiply names (each map may or may not have
// fired); past this many candidates an alias list helps nobody, so stop
// expanding rather than go exponential on a pathological config.
constexpr size_t kMaxAliasCandidates = 4096;

// Adds to `names` every name that `map` could have turned into one of them.
void AddPreimages(const Map *map, std::set<std::string> *names) {
  const std::string_view pattern = map->match()->name()->string_view();
  const std::string_view rename = map->rename()->name()->string_view();
  std::vector<std::string> added;
  for (const std::string &name : *names) {
    if (!pattern.empty() && pattern.back() == '*') {
      // Forward: prefix + suffix -> rename + suffix.
      if (std::string_view(name).starts_with(rename)) {
        added.push_back(std::string(pattern.substr(0, pattern.size() - 1)) +
                        name.substr(rename.size()));
      }
    } else if (name == rename) {
      added.emplace_back(pattern);
    }
  }
  for (std::string &name : added) {
    if (names->size() >= kMaxAliasCandidates) return;
    names->insert(std::move(name));
  }
}

bool MapApplies(const Map *map, std::string_view type, const Node *node) {
  if (map->match() == nullptr || map->match()->name() == nullptr ||
      map->rename() == nullptr || map->rename()->name() == nullptr) {
    return false;
  }
  const Channel *match = map->match();
  if (match->type() != nullptr && match->type()->string_view() != type) {
    return false;
  }
  return match->source_node() == nullptr ||
         (node != nullptr && node->name() != nullptr &&
          node->name()->string_view() == match->source_node()->string_view());
}

}  // namespace

std::set<std::string> GetChannelAliases(const Configuration *config,
                                        const Channel *channel,
                                        std::string_view application_name,
                                        const Node *node) {
  CHECK(channel->name() != nullptr && channel->type() != nullptr)
      << "GetChannelAliases needs a channel with a name and a type";
  const std::string_view target = channel->name()->string_view();
  const std::string_view type = channel->type()->string_view();
  // GetChannel applies the application's maps last to first, then the global
  // maps last to first, each at most once. Undo that sequence from its end:
  // every name that could lead to the target is a candidate...
  std::vector<const Map *> forward;
  auto add_reversed =
      [&](const flatbuffers::Vector<flatbuffers::Offset<Map>> *maps) {
        if (maps == nullptr) return;
        for (int i = static_cast<int>(maps->size()) - 1; i >= 0; --i) {
          if (MapApplies(maps->Get(i), type, node)) {
            forward.push_back(maps->Get(i));
          }
        }
      };
  const Application *application =
      GetApplication(config, node, application_name);
  if (application != nullptr) add_reversed(application->maps());
  add_reversed(config->maps());
  std::set<std::string> candidates = {std::string(target)};
  for (auto it = forward.rbegin(); it != forward.rend(); ++it) {
    AddPreimages(*it, &candidates);
  }
  // ... and an alias only if the forward lookup really ends there (a map
  // that fires first may send it elsewhere).
  std::set<std::string> aliases;
  for (const std::string &candidate : candidates) {
    if (MappedChannelName(config, candidate, type, application_name, node) ==
        target) {
      aliases.insert(candidate);
    }
  }
  return aliases;
}

std::set<std::string> GetChannelAliases(const Configuration *config,
                                        std::string_view name,
                                        std::string_view type,
                                        std::string_view application_name,
                                        const Node *node) {
  const Channel *channel = FindChannel(config, name, type);
  if (channel == nullptr) return {};
  return GetChannelAliases(config, channel, application_name, node);
}

size_t ChannelIndex(const Configuration *config, const Channel *channel) {
  CHECK(config->channels() != nullptr)
      << "Config has no channels, so it cannot contain "
      << StrippedChannelToString(channel);
  const auto *channels = config->channels();
  for (size_t i = 0; i < channels->size(); ++i) {
    if (channels->Get(i) == channel) return i;
  }
  LOG(FATAL) << "Channel " << StrippedChannelToString(channel)
             << " is not a pointer into this configuration; look it up in the "
                "same config you index";
}

const Channel *GetChannel(const Configuration *config, size_t index) {
  CHECK(config->channels() != nullptr && index < config->channels()->size())
      << "Channel index " << index << " is out of range";
  return config->channels()->Get(index);
}

bool MultiNode(const Configuration *config) {
  return config->nodes() != nullptr;
}

const Node *GetNode(const Configuration *config, std::string_view name) {
  if (config->nodes() == nullptr) return nullptr;
  for (const Node *node : *config->nodes()) {
    if (node->name() != nullptr && node->name()->string_view() == name) {
      return node;
    }
  }
  return nullptr;
}

const Node *GetNode(const Configuration *config, const Node *node) {
  if (node == nullptr || node->name() == nullptr) return nullptr;
  return GetNode(config, node->name()->string_view());
}

const Node *GetNode(const Configuration *config, size_t index) {
  if (!MultiNode(config)) return nullptr;
  CHECK_LT(index, config->nodes()->size()) << "Node index out of range";
  return config->nodes()->Get(index);
}

const Node *GetNodeFromHostname(const Configuration *config,
                                std::string_view hostname) {
  if (config->nodes() == nullptr) return nullptr;
  for (const Node *node : *config->nodes()) {
    if (node->hostname() != nullptr &&
        node->hostname()->string_view() == hostname) {
      return node;
    }
    if (node->hostnames() != nullptr) {
      for (const flatbuffers::String *name : *node->hostnames()) {
        if (name->string_view() == hostname) return node;
      }
    }
  }
  // Exact names win over patterns, whatever the order of the nodes.
  for (const Node *node : *config->nodes()) {
    if (node->hostname_regex() == nullptr) continue;
    std::regex pattern;
    try {
      pattern = std::regex(node->hostname_regex()->str());
    } catch (const std::regex_error &e) {
      // Validation rejects these; only a config built in code gets here.
      LOG(FATAL) << "Node \"" << node->name()->string_view()
                 << "\" has an invalid hostname_regex \""
                 << node->hostname_regex()->string_view() << "\": " << e.what()
                 << "; fix the pattern";
    }
    if (std::regex_match(hostname.begin(), hostname.end(), pattern)) {
      return node;
    }
  }
  return nullptr;
}

const Node *GetMyNode(const Configuration *config) {
  if (!MultiNode(config)) return nullptr;
  std::string hostname = FLAGS_override_hostname;
  if (hostname.empty()) {
    char buffer[256] = {};
    PCHECK(gethostname(buffer, sizeof(buffer) - 1) == 0);
    hostname = buffer;
  }
  const Node *node = GetNodeFromHostname(config, hostname);
  if (node == nullptr) {
    LOG(FATAL) << "Unknown node for host: " << hostname
               << ".  Consider using --override_hostname if hostname "
                  "detection is wrong.";
  }
  return node;
}

int GetNodeIndex(const Configuration *config, std::string_view name) {
  if (config->nodes() != nullptr) {
    for (size_t i = 0; i < config->nodes()->size(); ++i) {
      if (config->nodes()->Get(i)->name()->string_view() == name) return i;
    }
  }
  LOG(FATAL) << "Unknown node \"" << name << "\"";
}

int GetNodeIndex(const Configuration *config, const Node *node) {
  if (!MultiNode(config)) {
    CHECK(node == nullptr) << "Single-node configs have no nodes";
    return 0;
  }
  CHECK(node != nullptr && node->name() != nullptr)
      << "A multi-node config needs a node";
  return GetNodeIndex(config, node->name()->string_view());
}

std::vector<const Node *> GetNodes(const Configuration *config) {
  if (!MultiNode(config)) return {nullptr};
  return std::vector<const Node *>(config->nodes()->begin(),
                                   config->nodes()->end());
}

size_t NodesCount(const Configuration *config) {
  return MultiNode(config) ? config->nodes()->size() : 1;
}

std::string_view NodeName(const Configuration *config, size_t index) {
  if (!MultiNode(config)) return "(singlenode)";
  return GetNode(config, index)->name()->string_view();
}

bool NodeHasTag(const Node *node, std::string_view tag) {
  if (node == nullptr) return true;
  if (node->tags() == nullptr) return false;
  return std::any_of(
      node->tags()->begin(), node->tags()->end(),
      [&](const flatbuffers::String *t) { return t->string_view() == tag; });
}

std::vector<const Node *> GetNodesWithTag(const Configuration *config,
                                          std::string_view tag) {
  std::vector<const Node *> nodes;
  for (const Node *node : GetNodes(config)) {
    if (NodeHasTag(node, tag)) nodes.push_back(node);
  }
  return nodes;
}

const Node *GetNodeOrDie(const Configuration *config, std::string_view name) {
  const Node *node = GetNode(config, name);
  CHECK(node != nullptr) << "No node named \"" << name
                         << "\" in the configuration";
  return node;
}

const Node *GetNodeOrDie(const Configuration *config, const Node *node) {
  if (!MultiNode(config)) {
    CHECK(node == nullptr) << ": node "
                           << (node->name() ? node->name()->string_view()
                                            : std::string_view("(unnamed)"))
                           << " given for a single-node configuration";
    return nullptr;
  }
  CHECK(node != nullptr && node->name() != nullptr)
      << ": a multi-node configuration needs a named node";
  return GetNodeOrDie(config, node->name()->string_view());
}

bool IsNodeFromConfiguration(const Configuration *config, const Node *node) {
  if (config == nullptr) return false;
  if (!MultiNode(config)) return node == nullptr;
  return std::find(config->nodes()->begin(), config->nodes()->end(), node) !=
         config->nodes()->end();
}

bool ChannelIsSendableOnNode(const Channel *channel, const Node *node) {
  if (node == nullptr) return true;
  CHECK(channel->source_node() != nullptr)
      << "Channel " << StrippedChannelToString(channel)
      << " has no source_node in a multi-node config";
  return node->name()->string_view() == channel->source_node()->string_view();
}

const Connection *ConnectionToNode(const Channel *channel, const Node *node) {
  if (node == nullptr || channel->destination_nodes() == nullptr) {
    return nullptr;
  }
  for (const Connection *connection : *channel->destination_nodes()) {
    if (connection->name()->string_view() == node->name()->string_view()) {
      return connection;
    }
  }
  return nullptr;
}

bool ChannelIsReadableOnNode(const Channel *channel, const Node *node) {
  if (node == nullptr) return true;
  return ChannelIsSendableOnNode(channel, node) ||
         ConnectionToNode(channel, node) != nullptr;
}

size_t ConnectionCount(const Channel *channel) {
  return channel->destination_nodes() != nullptr
             ? channel->destination_nodes()->size()
             : 0;
}

bool ChannelIsForwardedFromNode(const Channel *channel, const Node *node) {
  return node != nullptr && ChannelIsSendableOnNode(channel, node) &&
         ConnectionCount(channel) > 0;
}

const Node *SourceNode(const Configuration *config, const Channel *channel) {
  if (!MultiNode(config)) return nullptr;
  CHECK(channel->source_node() != nullptr)
      << "Channel " << StrippedChannelToString(channel)
      << " has no source_node in a multi-node config";
  return GetNodeOrDie(config, channel->source_node()->string_view());
}

int SourceNodeIndex(const Configuration *config, const Channel *channel) {
  return GetNodeIndex(config, SourceNode(config, channel));
}

std::vector<size_t> SourceNodeIndex(const Configuration *config) {
  std::vector<size_t> result;
  if (config->channels() == nullptr) return result;
  result.reserve(config->channels()->size());
  for (const Channel *channel : *config->channels()) {
    result.push_back(static_cast<size_t>(SourceNodeIndex(config, channel)));
  }
  return result;
}

bool ConnectionDeliveryTimeIsLoggedOnNode(const Connection *connection,
                                          const Node *logger_node) {
  if (connection == nullptr) return false;
  CHECK(logger_node != nullptr)
      << "Delivery timestamps of the connection to "
      << connection->name()->string_view()
      << " exist only between nodes; ask about a node, not null";
  const std::string_view logger = logger_node->name()->string_view();
  auto in_timestamp_logger_nodes = [&] {
    return connection->timestamp_logger_nodes() != nullptr &&
           std::any_of(connection->timestamp_logger_nodes()->begin(),
                       connection->timestamp_logger_nodes()->end(),
                       [&](const flatbuffers::String *name) {
                         return name->string_view() == logger;
                       });
  };
  switch (connection->timestamp_logger()) {
    case LoggerConfig::LOCAL_LOGGER:
      return connection->name()->string_view() == logger;
    case LoggerConfig::REMOTE_LOGGER:
      return in_timestamp_logger_nodes();
    case LoggerConfig::LOCAL_AND_REMOTE_LOGGER:
      return connection->name()->string_view() == logger ||
             in_timestamp_logger_nodes();
    case LoggerConfig::NOT_LOGGED:
      return false;
  }
  return false;
}

bool ConnectionDeliveryTimeIsLoggedOnNode(const Channel *channel,
                                          const Node *node,
                                          const Node *logger_node) {
  return ConnectionDeliveryTimeIsLoggedOnNode(ConnectionToNode(channel, node),
                                              logger_node);
}

std::vector<std::string_view> SourceNodeNames(const Configuration *config,
                                              const Node *my_node) {
  std::set<std::string_view> names;
  if (!MultiNode(config) || config->channels() == nullptr) return {};
  for (const Channel *channel : *config->channels()) {
    if (ConnectionToNode(channel, my_node) != nullptr) {
      names.insert(channel->source_node()->string_view());
    }
  }
  return std::vector<std::string_view>(names.begin(), names.end());
}

std::vector<std::string_view> DestinationNodeNames(const Configuration *config,
                                                   const Node *my_node) {
  std::set<std::string_view> names;
  if (!MultiNode(config) || config->channels() == nullptr) return {};
  for (const Channel *channel : *config->channels()) {
    if (!ChannelIsForwardedFromNode(channel, my_node)) continue;
    for (const Connection *connection : *channel->destination_nodes()) {
      names.insert(connection->name()->string_view());
    }
  }
  return std::vector<std::string_view>(names.begin(), names.end());
}

std::vector<const Node *> TimestampNodes(const Configuration *config,
                                         const Node *my_node) {
  if (!MultiNode(config) || config->channels() == nullptr) return {};
  std::set<int> indices;
  for (const Channel *channel : *config->channels()) {
    if (!ChannelIsForwardedFromNode(channel, my_node)) continue;
    for (const Connection *connection : *channel->destination_nodes()) {
      if (ConnectionDeliveryTimeIsLoggedOnNode(connection, my_node)) {
        indices.insert(GetNodeIndex(config, connection->name()->string_view()));
      }
    }
  }
  std::vector<const Node *> nodes;
  for (int index : indices) nodes.push_back(GetNode(config, size_t(index)));
  return nodes;
}

bool ChannelMessageIsLoggedOnNode(const Channel *channel, const Node *node) {
  switch (channel->logger()) {
    case LoggerConfig::LOCAL_LOGGER:
      return node == nullptr || ChannelIsSendableOnNode(channel, node);
    case LoggerConfig::NOT_LOGGED:
      return false;
    case LoggerConfig::REMOTE_LOGGER:
    case LoggerConfig::LOCAL_AND_REMOTE_LOGGER:
      CHECK(node != nullptr)
          << "Unsupported logging configuration in a single node world: "
          << StrippedChannelToString(channel);
      if (channel->logger() == LoggerConfig::LOCAL_AND_REMOTE_LOGGER &&
          ChannelIsSendableOnNode(channel, node)) {
        return true;
      }
      if (channel->logger_nodes() == nullptr) return false;
      return std::any_of(
          channel->logger_nodes()->begin(), channel->logger_nodes()->end(),
          [&](const flatbuffers::String *name) {
            return name->string_view() == node->name()->string_view();
          });
  }
  return false;
}

size_t QueueSize(size_t frequency, std::chrono::nanoseconds storage_duration) {
  // ceil(frequency * duration) in integers, exact. Saturates rather than
  // wrapping, so that validation rejects absurd values instead of seeing a
  // small queue; a non-positive duration holds nothing.
  if (storage_duration.count() <= 0) return 0;
  const unsigned __int128 product =
      static_cast<unsigned __int128>(frequency) * storage_duration.count();
  const unsigned __int128 size = (product + 999'999'999) / 1'000'000'000;
  return size > std::numeric_limits<size_t>::max()
             ? std::numeric_limits<size_t>::max()
             : static_cast<size_t>(size);
}

size_t QueueSize(const Configuration *config, const Channel *channel) {
  return QueueSize(static_cast<size_t>(std::max(channel->frequency(), 0)),
                   ChannelStorageDuration(config, channel));
}

int QueueScratchBufferSize(const Channel *channel) {
  return channel->num_readers() + channel->num_senders();
}

std::chrono::nanoseconds ChannelStorageDuration(const Configuration *config,
                                                const Channel *channel) {
  if (reinterpret_cast<const flatbuffers::Table *>(channel)->CheckField(
          Channel::VT_CHANNEL_STORAGE_DURATION)) {
    return std::chrono::nanoseconds(channel->channel_storage_duration());
  }
  return std::chrono::nanoseconds(config->channel_storage_duration());
}

std::string StrippedChannelToString(const Channel *channel) {
  return "{ \"name\": \"" +
         (channel->name() != nullptr ? channel->name()->str() : "") +
         "\", \"type\": \"" +
         (channel->type() != nullptr ? channel->type()->str() : "") + "\" }";
}

std::string CleanedChannelToString(const Channel *channel) {
  // The schema is large and says nothing a reader of an error needs.
  return FlatbufferToJson(internal::CopyWithoutSchema(channel));
}

const reflection::Schema *GetSchema(const Configuration *config,
                                    std::string_view type) {
  if (config->channels() == nullptr) return nullptr;
  for (const Channel *channel : *config->channels()) {
    if (channel->type()->string_view() == type &&
        channel->schema() != nullptr) {
      return channel->schema();
    }
  }
  return nullptr;
}

std::optional<FlatbufferDetachedBuffer<reflection::Schema>>
GetSchemaDetachedBuffer(const Configuration *config, std::string_view type) {
  const reflection::Schema *schema = GetSchema(config, type);
  if (schema == nullptr) return std::nullopt;
  std::unique_ptr<reflection::SchemaT> unpacked(schema->UnPack());
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(reflection::CreateSchema(fbb, unpacked.get()));
  return FlatbufferDetachedBuffer<reflection::Schema>(fbb.Release());
}

bool ApplicationShouldStart(const Configuration * /*config*/, const Node *node,
                            const Application *application) {
  if (node == nullptr || application->nodes() == nullptr) return true;
  return std::any_of(application->nodes()->begin(), application->nodes()->end(),
                     [&](const flatbuffers::String *name) {
                       return name->string_view() ==
                              node->name()->string_view();
                     });
}

const Application *GetApplication(const Configuration *config, const Node *node,
                                  std::string_view name) {
  if (config->applications() == nullptr) return nullptr;
  for (const Application *application : *config->applications()) {
    if (application->name()->string_view() != name) continue;
    if (node == nullptr || application->nodes() == nullptr) return application;
    for (const flatbuffers::String *n : *application->nodes()) {
      if (n->string_view() == node->name()->string_view()) return application;
    }
    return nullptr;
  }
  return nullptr;
}

}  // namespace aos::configuration
