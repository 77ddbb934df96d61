#ifndef AOS_CONFIGURATION_MERGE_H_
#define AOS_CONFIGURATION_MERGE_H_

// The mutable model configurations are merged in (internal to
// aos_configuration). Flatbuffers cannot be edited, and the generated object
// API cannot tell "absent" from "equal to the default", which merging needs
// (a file that leaves out `frequency` must not reset an imported 200 to 100).
// So every field here is optional, and only present fields are written back.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "aos/configuration_generated.h"
#include "aos/flatbuffers.h"
#include "aos/util/status.h"

namespace aos::configuration::internal {

struct ConnectionModel {
  std::string name;
  std::optional<LoggerConfig> timestamp_logger;
  std::optional<std::set<std::string>> timestamp_logger_nodes;
  std::optional<uint16_t> priority;
  std::optional<uint32_t> time_to_live;
};

struct ChannelModel {
  std::optional<std::string> name;
  std::optional<std::string> type;
  std::optional<int32_t> frequency;
  std::optional<int32_t> max_size;
  std::optional<int32_t> num_senders;
  std::optional<int32_t> num_watchers;
  const reflection::Schema *schema = nullptr;
  std::optional<std::string> source_node;
  // Keyed by destination node name.
  std::optional<std::map<std::string, ConnectionModel>> destination_nodes;
  std::optional<LoggerConfig> logger;
  std::optional<std::set<std::string>> logger_nodes;
  std::optional<ReadMethod> read_method;
  std::optional<int32_t> num_readers;
  std::optional<int64_t> channel_storage_duration;
  // Files that defined this channel, for error messages.
  std::vector<std::string> files;
};

struct MapModel {
  ChannelModel match;
  ChannelModel rename;
  bool has_match = false;
  bool has_rename = false;
};

struct ApplicationModel {
  std::string name;
  std::optional<std::string> executable_name;
  std::vector<MapModel> maps;
  std::optional<std::vector<std::string>> nodes;
  std::optional<std::string> user;
  std::optional<std::vector<std::string>> args;
  std::optional<bool> autostart;
  std::optional<bool> autorestart;
  std::optional<uint64_t> memory_limit;
  std::optional<int64_t> stop_time;
};

struct NodeModel {
  std::string name;
  std::optional<std::string> hostname;
  std::optional<uint16_t> port;
  std::optional<std::set<std::string>> hostnames;
  std::optional<std::set<std::string>> tags;
  std::optional<std::string> hostname_regex;
};

// A configuration being merged. Schemas point into buffers the caller keeps
// alive until Pack().
struct ConfigurationModel {
  std::map<std::pair<std::string, std::string>, ChannelModel> channels;
  std::vector<MapModel> maps;
  std::optional<std::map<std::string, NodeModel>> nodes;
  std::map<std::string, ApplicationModel> applications;
  std::optional<int64_t> channel_storage_duration;

  // Merges `config` on top of this with the rules in configuration.h.
  // `file` names where it came from (for errors). Fails on a channel, node or
  // application without a name, or a channel without a type.
  Result<void> Merge(const Configuration *config, const std::string &file);

  // Sets the schema of every channel whose type is a schema's root table.
  void AddSchemas(
      std::span<const FlatbufferVector<reflection::Schema>> schemas);

  // Writes the model out, sorted, with one shared copy of each schema.
  FlatbufferDetachedBuffer<Configuration> Pack() const;
};

// A copy of `channel` with every field but the schema.
FlatbufferDetachedBuffer<Channel> CopyWithoutSchema(const Channel *channel);

}  // namespace aos::configuration::internal

#endif  // AOS_CONFIGURATION_MERGE_H_
