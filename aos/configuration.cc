#include "aos/configuration.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "aos/configuration_merge.h"
#include "aos/json_to_flatbuffer.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(override_hostname, "",
              "If set, this forces the hostname of this node to be the "
              "provided hostname.");

namespace aos::configuration {
namespace {

using internal::ConfigurationModel;

// Upstream's queue packs message indices in 16 bits; a queue (plus its
// scratch messages) must fit.
constexpr size_t kMaxQueueMessages = 0xffff;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
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

// Checks what can be checked on one channel alone.
Result<void> ValidateChannelAlone(const Channel *channel,
                                  const std::string &where) {
  const std::string_view name = channel->name()->string_view();
  if (name.empty() || name.front() != '/') {
    return MakeError(where + "Channel names must start with '/': \"" +
                     std::string(name) + "\"");
  }
  if (name.size() > 1 && name.back() == '/') {
    return MakeError(where + "Channel names can't end with '/': \"" +
                     std::string(name) + "\"");
  }
  if (name.find("//") != std::string_view::npos) {
    return MakeError(where + "Invalid channel name " + std::string(name) +
                     ", can't use //.");
  }
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
          c == '/')) {
      return MakeError(where + "Invalid channel name " + std::string(name) +
                       ", can only use [-a-zA-Z0-9_/]");
    }
  }
  const std::string channel_text = StrippedChannelToString(channel);
  if (channel->type()->size() == 0) {
    return MakeError(where + "Channel " + channel_text + " has an empty type");
  }
  if (channel->max_size() % 8 != 0 || channel->max_size() < 0) {
    return MakeError(where + "max_size of " + channel_text + " is " +
                     std::to_string(channel->max_size()) +
                     "; it must be a non-negative multiple of 8");
  }
  if (channel->frequency() <= 0) {
    return MakeError(where + "frequency of " + channel_text + " is " +
                     std::to_string(channel->frequency()) +
                     "; it must be positive");
  }
  if (channel->num_senders() < 0 || channel->num_watchers() < 0 ||
      channel->num_readers() < 0) {
    return MakeError(where + "num_senders, num_watchers and num_readers of " +
                     channel_text + " must not be negative");
  }
  auto check_duplicates =
      [&](const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>
              *nodes,
          std::string_view what) -> Result<void> {
    if (nodes == nullptr) return {};
    std::set<std::string_view> seen;
    for (const flatbuffers::String *node : *nodes) {
      if (!seen.insert(node->string_view()).second) {
        return MakeError(where + "Found duplicate " + std::string(what) +
                         " in " + channel_text + ": \"" + node->str() +
                         "\"; list each node once");
      }
    }
    return {};
  };
  if (Result<void> r =
          check_duplicates(channel->logger_nodes(), "logger_nodes");
      !r) {
    return r;
  }
  if (channel->destination_nodes() != nullptr) {
    for (const Connection *connection : *channel->destination_nodes()) {
      if (connection->name() == nullptr) {
        return MakeError(where + "A destination_nodes entry of " +
                         channel_text + " has no \"name\"");
      }
      if (Result<void> r = check_duplicates(
              connection->timestamp_logger_nodes(), "timestamp_logger_nodes");
          !r) {
        return r;
      }
    }
  }
  return {};
}

// Checks the rules that a single file can break on its own, before merging
// hides them (duplicates collapse, bad names get keyed).
Result<void> ValidateFile(const Configuration *config,
                          const std::string &file) {
  if (config->channels() == nullptr) return {};
  for (size_t i = 0; i < config->channels()->size(); ++i) {
    const Channel *channel = config->channels()->Get(i);
    if (channel->name() == nullptr || channel->type() == nullptr) {
      return MakeError(file + ": channel #" + std::to_string(i) +
                       " needs both a \"name\" and a \"type\"");
    }
    if (Result<void> r = ValidateChannelAlone(channel, file + ": "); !r) {
      return r;
    }
  }
  return {};
}

// Where the merged channel came from, for errors.
using Origins =
    std::map<std::pair<std::string, std::string>, std::vector<std::string>>;

std::string Where(const Channel *channel, const Origins *origins) {
  if (origins == nullptr) return "";
  auto it = origins->find({channel->name()->str(), channel->type()->str()});
  if (it == origins->end()) return "";
  std::string files;
  for (const std::string &file : it->second) {
    if (!files.empty()) files += ", ";
    files += file;
  }
  return " (defined in " + files + ")";
}

Result<void> ValidateLoggerNodes(
    const Configuration *config, LoggerConfig logger,
    const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>> *nodes,
    std::string_view field, const std::string &channel_text) {
  const bool remote = logger == LoggerConfig::REMOTE_LOGGER ||
                      logger == LoggerConfig::LOCAL_AND_REMOTE_LOGGER;
  if (!remote) {
    if (nodes != nullptr && nodes->size() > 0) {
      return MakeError(channel_text + " lists " + std::string(field) +
                       " but logs " + EnumNameLoggerConfig(logger) +
                       "; remove them or log REMOTE_LOGGER");
    }
    return {};
  }
  if (nodes == nullptr || nodes->size() == 0) {
    return MakeError(channel_text + " logs " + EnumNameLoggerConfig(logger) +
                     " but lists no " + std::string(field) +
                     "; name the nodes that log it");
  }
  for (const flatbuffers::String *node : *nodes) {
    if (GetNode(config, node->string_view()) == nullptr) {
      return MakeError(channel_text + " has an unknown \"" +
                       std::string(field) + "\" node \"" + node->str() +
                       "\"; add it to \"nodes\" or fix the name");
    }
  }
  return {};
}

Result<void> ValidateMerged(const Configuration *config,
                            const Origins *origins) {
  if (config->imports() != nullptr && config->imports()->size() > 0) {
    return MakeError(
        "Config still has imports; merge it (flatten it) before use");
  }
  const bool multi_node = MultiNode(config);
  if (config->channels() != nullptr) {
    const Channel *previous = nullptr;
    for (const Channel *channel : *config->channels()) {
      if (channel->name() == nullptr || channel->type() == nullptr) {
        return MakeError("A channel needs both a \"name\" and a \"type\"");
      }
      const std::string channel_text = "Channel " +
                                       StrippedChannelToString(channel) +
                                       Where(channel, origins);
      if (Result<void> r = ValidateChannelAlone(channel, ""); !r) return r;
      if (previous != nullptr) {
        const int order =
            previous->name()->str().compare(channel->name()->str());
        if (order > 0 ||
            (order == 0 && previous->type()->str() >= channel->type()->str())) {
          return MakeError("Channels not sorted! " +
                           StrippedChannelToString(previous) +
                           " comes before " + StrippedChannelToString(channel) +
                           "; re-merge the config");
        }
      }
      previous = channel;
      const size_t queue = QueueSize(config, channel);
      if (queue + QueueScratchBufferSize(channel) >= kMaxQueueMessages) {
        return MakeError(
            "More messages/second configured than the queue can hold on " +
            channel_text + ": " + std::to_string(channel->frequency()) +
            " Hz * " +
            std::to_string(ChannelStorageDuration(config, channel).count()) +
            " ns storage = " + std::to_string(queue) + " messages, limit " +
            std::to_string(kMaxQueueMessages) +
            "; lower frequency or channel_storage_duration");
      }
      const bool pin = channel->read_method() == ReadMethod::PIN;
      if (pin != (channel->num_readers() > 0)) {
        return MakeError(
            "num_readers may be set if and only if read_method is PIN on " +
            channel_text + "; set both or neither");
      }
      if (channel->logger() == LoggerConfig::NOT_LOGGED &&
          channel->destination_nodes() != nullptr) {
        for (const Connection *connection : *channel->destination_nodes()) {
          if (connection->timestamp_logger() != LoggerConfig::NOT_LOGGED) {
            return MakeError(
                "Logging timestamps without data is not supported. " +
                channel_text + " is NOT_LOGGED but its connection to " +
                connection->name()->str() +
                " logs timestamps; set its timestamp_logger to NOT_LOGGED");
          }
        }
      }
      if (!multi_node) {
        if (channel->source_node() != nullptr ||
            channel->destination_nodes() != nullptr) {
          return MakeError(channel_text +
                           " has \"source_node\" or \"destination_nodes\" but "
                           "the config has no \"nodes\"; add them or remove "
                           "these fields");
        }
        continue;
      }
      if (channel->source_node() == nullptr) {
        return MakeError(channel_text +
                         " is missing \"source_node\"; every channel of a "
                         "multi-node config needs one");
      }
      if (GetNode(config, channel->source_node()->string_view()) == nullptr) {
        return MakeError(channel_text + " has an unknown \"source_node\" \"" +
                         channel->source_node()->str() +
                         "\"; add it to \"nodes\" or fix the name");
      }
      if (Result<void> r = ValidateLoggerNodes(config, channel->logger(),
                                               channel->logger_nodes(),
                                               "logger_nodes", channel_text);
          !r) {
        return r;
      }
      if (channel->destination_nodes() == nullptr) continue;
      for (const Connection *connection : *channel->destination_nodes()) {
        if (GetNode(config, connection->name()->string_view()) == nullptr) {
          return MakeError(channel_text +
                           " has an unknown \"destination_nodes\" node \"" +
                           connection->name()->str() +
                           "\"; add it to \"nodes\" or fix the name");
        }
        if (connection->name()->string_view() ==
            channel->source_node()->string_view()) {
          return MakeError(channel_text + " is forwarding data to itself (" +
                           connection->name()->str() +
                           "); remove it from destination_nodes");
        }
        if (Result<void> r = ValidateLoggerNodes(
                config, connection->timestamp_logger(),
                connection->timestamp_logger_nodes(), "timestamp_logger_nodes",
                channel_text + "'s connection to " + connection->name()->str());
            !r) {
          return r;
        }
      }
    }
  }
  auto validate_maps =
      [&](const flatbuffers::Vector<flatbuffers::Offset<Map>> *maps,
          const std::string &where) -> Result<void> {
    if (maps == nullptr) return {};
    for (size_t i = 0; i < maps->size(); ++i) {
      const Map *map = maps->Get(i);
      const std::string map_text = where + "map #" + std::to_string(i);
      if (map->match() == nullptr || map->match()->name() == nullptr) {
        return MakeError(map_text + " has no \"match\" \"name\"");
      }
      if (map->rename() == nullptr || map->rename()->name() == nullptr) {
        return MakeError(map_text + " has no \"rename\" \"name\"");
      }
      if (map->rename()->name()->string_view().empty() ||
          map->rename()->name()->string_view().front() != '/') {
        return MakeError(map_text + " renames to \"" +
                         map->rename()->name()->str() +
                         "\"; channel names must start with '/'");
      }
      if (map->match()->source_node() != nullptr &&
          GetNode(config, map->match()->source_node()->string_view()) ==
              nullptr) {
        return MakeError(map_text + " matches unknown \"source_node\" \"" +
                         map->match()->source_node()->str() +
                         "\"; add it to \"nodes\" or fix the name");
      }
    }
    return {};
  };
  if (Result<void> r = validate_maps(config->maps(), ""); !r) return r;
  if (config->applications() != nullptr) {
    for (const Application *application : *config->applications()) {
      const std::string where =
          "application \"" + application->name()->str() + "\" ";
      if (Result<void> r = validate_maps(application->maps(), where); !r) {
        return r;
      }
      if (application->nodes() == nullptr) continue;
      for (const flatbuffers::String *node : *application->nodes()) {
        if (!multi_node || GetNode(config, node->string_view()) == nullptr) {
          return MakeError(where + "runs on unknown node \"" + node->str() +
                           "\"; add it to \"nodes\" or fix the name");
        }
      }
    }
  }
  return {};
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
  if (Result<void> r = ValidateMerged(&result.message(), nullptr); !r) {
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

}  // namespace

Result<FlatbufferDetachedBuffer<Configuration>> MaybeReadConfig(
    std::string_view path_view,
    std::span<const std::string> extra_import_paths) {
  std::string path(path_view);
  if (EndsWith(path, ".json")) {
    const std::string binary = path.substr(0, path.size() - 5) + ".bfbs";
    if (std::filesystem::exists(binary)) path = binary;
  }
  if (EndsWith(path, ".bfbs")) return ReadBinary(path);
  if (!std::filesystem::exists(path)) {
    for (const std::string &extra : extra_import_paths) {
      const std::filesystem::path candidate =
          std::filesystem::path(extra) / path;
      if (std::filesystem::exists(candidate)) {
        path = candidate.string();
        break;
      }
    }
  }
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
  if (config->channels() != nullptr) {
    const auto *channels = config->channels();
    auto it = std::lower_bound(
        channels->begin(), channels->end(), std::make_pair(mapped, type),
        [](const Channel *channel,
           const std::pair<const std::string &, std::string_view> &key) {
          const int order = channel->name()->string_view().compare(key.first);
          return order < 0 ||
                 (order == 0 && channel->type()->string_view() < key.second);
        });
    if (it != channels->end() && it->name()->string_view() == mapped &&
        it->type()->string_view() == type) {
      return *it;
    }
  }
  if (!quiet) {
    VLOG(1) << "No channel { \"name\": \"" << mapped << "\", \"type\": \""
            << type << "\" } (looked up as " << name << " by \""
            << application_name << "\")";
  }
  return nullptr;
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
  // ceil(frequency * duration) in integers: exact for any realistic value.
  const __int128 product =
      static_cast<__int128>(frequency) * storage_duration.count();
  return static_cast<size_t>((product + 999'999'999) / 1'000'000'000);
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
