#include "aos/configuration_merge.h"

#include <map>
#include <string>

#include "aos/flatbuffer_merge.h"
#include "flatbuffers/flatbuffers.h"

namespace aos::configuration::internal {
namespace {

// Whether scalar field `field` (a VT_ constant) is present in `table`.
template <typename T>
bool Has(const T *table, flatbuffers::voffset_t field) {
  return reinterpret_cast<const flatbuffers::Table *>(table)->CheckField(field);
}

// `into` = `value` if present in `table`.
template <typename Value, typename T, typename Getter>
void MergeScalar(std::optional<Value> *into, const T *table,
                 flatbuffers::voffset_t field, Getter getter) {
  if (Has(table, field)) *into = getter();
}

void MergeString(std::optional<std::string> *into,
                 const flatbuffers::String *value) {
  if (value != nullptr) *into = value->str();
}

void UnionStrings(
    std::optional<std::set<std::string>> *into,
    const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>
        *values) {
  if (values == nullptr) return;
  if (!into->has_value()) into->emplace();
  for (const flatbuffers::String *value : *values)
    (*into)->insert(value->str());
}

std::vector<std::string> Strings(
    const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>
        *values) {
  std::vector<std::string> result;
  for (const flatbuffers::String *value : *values)
    result.push_back(value->str());
  return result;
}

void MergeConnection(ConnectionModel *into, const Connection *from) {
  MergeScalar(&into->timestamp_logger, from, Connection::VT_TIMESTAMP_LOGGER,
              [&] { return from->timestamp_logger(); });
  UnionStrings(&into->timestamp_logger_nodes, from->timestamp_logger_nodes());
  MergeScalar(&into->priority, from, Connection::VT_PRIORITY,
              [&] { return from->priority(); });
  MergeScalar(&into->time_to_live, from, Connection::VT_TIME_TO_LIVE,
              [&] { return from->time_to_live(); });
}

void MergeChannel(ChannelModel *into, const Channel *from) {
  MergeString(&into->name, from->name());
  MergeString(&into->type, from->type());
  MergeScalar(&into->frequency, from, Channel::VT_FREQUENCY,
              [&] { return from->frequency(); });
  MergeScalar(&into->max_size, from, Channel::VT_MAX_SIZE,
              [&] { return from->max_size(); });
  MergeScalar(&into->num_senders, from, Channel::VT_NUM_SENDERS,
              [&] { return from->num_senders(); });
  MergeScalar(&into->num_watchers, from, Channel::VT_NUM_WATCHERS,
              [&] { return from->num_watchers(); });
  if (from->schema() != nullptr) into->schema = from->schema();
  MergeString(&into->source_node, from->source_node());
  if (from->destination_nodes() != nullptr) {
    if (!into->destination_nodes.has_value()) into->destination_nodes.emplace();
    for (const Connection *connection : *from->destination_nodes()) {
      if (connection->name() == nullptr) continue;  // Reported by validation.
      ConnectionModel &model =
          (*into->destination_nodes)[connection->name()->str()];
      model.name = connection->name()->str();
      MergeConnection(&model, connection);
    }
  }
  MergeScalar(&into->logger, from, Channel::VT_LOGGER,
              [&] { return from->logger(); });
  UnionStrings(&into->logger_nodes, from->logger_nodes());
  MergeScalar(&into->read_method, from, Channel::VT_READ_METHOD,
              [&] { return from->read_method(); });
  MergeScalar(&into->num_readers, from, Channel::VT_NUM_READERS,
              [&] { return from->num_readers(); });
  MergeScalar(&into->channel_storage_duration, from,
              Channel::VT_CHANNEL_STORAGE_DURATION,
              [&] { return from->channel_storage_duration(); });
}

MapModel ToMapModel(const Map *map) {
  MapModel model;
  if (map->match() != nullptr) {
    model.has_match = true;
    MergeChannel(&model.match, map->match());
  }
  if (map->rename() != nullptr) {
    model.has_rename = true;
    MergeChannel(&model.rename, map->rename());
  }
  return model;
}

void MergeApplication(ApplicationModel *into, const Application *from) {
  MergeString(&into->executable_name, from->executable_name());
  if (from->maps() != nullptr) {
    for (const Map *map : *from->maps()) into->maps.push_back(ToMapModel(map));
  }
  if (from->nodes() != nullptr) into->nodes = Strings(from->nodes());
  MergeString(&into->user, from->user());
  // Arguments replace, as upstream: a partial merge of a command line means
  // nothing.
  if (from->args() != nullptr) into->args = Strings(from->args());
  MergeScalar(&into->autostart, from, Application::VT_AUTOSTART,
              [&] { return from->autostart(); });
  MergeScalar(&into->autorestart, from, Application::VT_AUTORESTART,
              [&] { return from->autorestart(); });
  MergeScalar(&into->memory_limit, from, Application::VT_MEMORY_LIMIT,
              [&] { return from->memory_limit(); });
  MergeScalar(&into->stop_time, from, Application::VT_STOP_TIME,
              [&] { return from->stop_time(); });
}

void MergeNode(NodeModel *into, const Node *from) {
  MergeString(&into->hostname, from->hostname());
  MergeScalar(&into->port, from, Node::VT_PORT, [&] { return from->port(); });
  UnionStrings(&into->hostnames, from->hostnames());
  UnionStrings(&into->tags, from->tags());
  MergeString(&into->hostname_regex, from->hostname_regex());
}

// Writes models out. Present fields are written even when equal to their
// defaults (ForceDefaults), so presence survives a round trip.
class Packer {
 public:
  Packer() { fbb_.ForceDefaults(true); }

  flatbuffers::Offset<
      flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>>
  Strings(const auto &strings) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> offsets;
    for (const std::string &s : strings)
      offsets.push_back(fbb_.CreateString(s));
    return fbb_.CreateVector(offsets);
  }

  flatbuffers::Offset<reflection::Schema> Schema(
      const reflection::Schema *schema) {
    // Keyed by the schema's root type: every channel of a type shares one.
    const std::string key = schema->root_table() != nullptr
                                ? schema->root_table()->name()->str()
                                : std::string();
    auto it = schemas_.find(key);
    if (it != schemas_.end()) return it->second;
    // Copied as the block of bytes it occupies (with everything it refers
    // to), so the embedded schema is the .bfbs it came from, field for field:
    // a copy through the object API would drop empty vectors and strings,
    // and flatbuffers' own parser then cannot load the schema.
    const flatbuffers::Offset<reflection::Schema> offset =
        CopyFlatBuffer(schema, &fbb_);
    schemas_.emplace(key, offset);
    return offset;
  }

  flatbuffers::Offset<Connection> Pack(const ConnectionModel &model) {
    const auto name = fbb_.CreateString(model.name);
    const auto nodes = model.timestamp_logger_nodes
                           ? Strings(*model.timestamp_logger_nodes)
                           : 0;
    ConnectionBuilder builder(fbb_);
    builder.add_name(name);
    if (model.timestamp_logger) {
      builder.add_timestamp_logger(*model.timestamp_logger);
    }
    if (model.timestamp_logger_nodes) builder.add_timestamp_logger_nodes(nodes);
    if (model.priority) builder.add_priority(*model.priority);
    if (model.time_to_live) builder.add_time_to_live(*model.time_to_live);
    return builder.Finish();
  }

  flatbuffers::Offset<Channel> Pack(const ChannelModel &model) {
    const auto name = model.name ? fbb_.CreateString(*model.name) : 0;
    const auto type = model.type ? fbb_.CreateString(*model.type) : 0;
    const auto schema = model.schema != nullptr ? Schema(model.schema) : 0;
    const auto source_node =
        model.source_node ? fbb_.CreateString(*model.source_node) : 0;
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<Connection>>>
        destination_nodes;
    if (model.destination_nodes) {
      std::vector<flatbuffers::Offset<Connection>> connections;
      for (const auto &[node, connection] : *model.destination_nodes) {
        connections.push_back(Pack(connection));
      }
      destination_nodes = fbb_.CreateVector(connections);
    }
    const auto logger_nodes =
        model.logger_nodes ? Strings(*model.logger_nodes) : 0;

    ChannelBuilder builder(fbb_);
    if (model.name) builder.add_name(name);
    if (model.type) builder.add_type(type);
    if (model.frequency) builder.add_frequency(*model.frequency);
    if (model.max_size) builder.add_max_size(*model.max_size);
    if (model.num_senders) builder.add_num_senders(*model.num_senders);
    if (model.num_watchers) builder.add_num_watchers(*model.num_watchers);
    if (model.schema != nullptr) builder.add_schema(schema);
    if (model.source_node) builder.add_source_node(source_node);
    if (model.destination_nodes)
      builder.add_destination_nodes(destination_nodes);
    if (model.logger) builder.add_logger(*model.logger);
    if (model.logger_nodes) builder.add_logger_nodes(logger_nodes);
    if (model.read_method) builder.add_read_method(*model.read_method);
    if (model.num_readers) builder.add_num_readers(*model.num_readers);
    if (model.channel_storage_duration) {
      builder.add_channel_storage_duration(*model.channel_storage_duration);
    }
    return builder.Finish();
  }

  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<Map>>> Pack(
      const std::vector<MapModel> &maps) {
    std::vector<flatbuffers::Offset<Map>> offsets;
    for (const MapModel &map : maps) {
      const auto match = map.has_match ? Pack(map.match) : 0;
      const auto rename = map.has_rename ? Pack(map.rename) : 0;
      MapBuilder builder(fbb_);
      if (map.has_match) builder.add_match(match);
      if (map.has_rename) builder.add_rename(rename);
      offsets.push_back(builder.Finish());
    }
    return fbb_.CreateVector(offsets);
  }

  flatbuffers::Offset<Application> Pack(const ApplicationModel &model) {
    const auto name = fbb_.CreateString(model.name);
    const auto executable_name =
        model.executable_name ? fbb_.CreateString(*model.executable_name) : 0;
    const auto maps = model.maps.empty() ? 0 : Pack(model.maps);
    const auto nodes = model.nodes ? Strings(*model.nodes) : 0;
    const auto user = model.user ? fbb_.CreateString(*model.user) : 0;
    const auto args = model.args ? Strings(*model.args) : 0;
    ApplicationBuilder builder(fbb_);
    builder.add_name(name);
    if (model.executable_name) builder.add_executable_name(executable_name);
    if (!model.maps.empty()) builder.add_maps(maps);
    if (model.nodes) builder.add_nodes(nodes);
    if (model.user) builder.add_user(user);
    if (model.args) builder.add_args(args);
    if (model.autostart) builder.add_autostart(*model.autostart);
    if (model.autorestart) builder.add_autorestart(*model.autorestart);
    if (model.memory_limit) builder.add_memory_limit(*model.memory_limit);
    if (model.stop_time) builder.add_stop_time(*model.stop_time);
    return builder.Finish();
  }

  flatbuffers::Offset<Node> Pack(const NodeModel &model) {
    const auto name = fbb_.CreateString(model.name);
    const auto hostname =
        model.hostname ? fbb_.CreateString(*model.hostname) : 0;
    const auto hostnames = model.hostnames ? Strings(*model.hostnames) : 0;
    const auto tags = model.tags ? Strings(*model.tags) : 0;
    const auto hostname_regex =
        model.hostname_regex ? fbb_.CreateString(*model.hostname_regex) : 0;
    NodeBuilder builder(fbb_);
    builder.add_name(name);
    if (model.hostname) builder.add_hostname(hostname);
    if (model.port) builder.add_port(*model.port);
    if (model.hostnames) builder.add_hostnames(hostnames);
    if (model.tags) builder.add_tags(tags);
    if (model.hostname_regex) builder.add_hostname_regex(hostname_regex);
    return builder.Finish();
  }

  FlatbufferDetachedBuffer<Configuration> Pack(
      const ConfigurationModel &model) {
    std::vector<flatbuffers::Offset<Channel>> channels;
    for (const auto &[key, channel] : model.channels) {
      channels.push_back(Pack(channel));
    }
    const auto channels_offset = fbb_.CreateVector(channels);
    const auto maps = model.maps.empty() ? 0 : Pack(model.maps);
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<Node>>> nodes;
    if (model.nodes) {
      std::vector<flatbuffers::Offset<Node>> offsets;
      for (const auto &[name, node] : *model.nodes)
        offsets.push_back(Pack(node));
      nodes = fbb_.CreateVector(offsets);
    }
    std::vector<flatbuffers::Offset<Application>> applications;
    for (const auto &[name, application] : model.applications) {
      applications.push_back(Pack(application));
    }
    const auto applications_offset =
        applications.empty() ? 0 : fbb_.CreateVector(applications);

    ConfigurationBuilder builder(fbb_);
    builder.add_channels(channels_offset);
    if (!model.maps.empty()) builder.add_maps(maps);
    if (model.nodes) builder.add_nodes(nodes);
    if (!applications.empty()) builder.add_applications(applications_offset);
    if (model.channel_storage_duration) {
      builder.add_channel_storage_duration(*model.channel_storage_duration);
    }
    fbb_.Finish(builder.Finish());
    return FlatbufferDetachedBuffer<Configuration>(fbb_.Release());
  }

  template <typename T>
  FlatbufferDetachedBuffer<T> Finish(flatbuffers::Offset<T> root) {
    fbb_.Finish(root);
    return FlatbufferDetachedBuffer<T>(fbb_.Release());
  }

 private:
  flatbuffers::FlatBufferBuilder fbb_;
  std::map<std::string, flatbuffers::Offset<reflection::Schema>> schemas_;
};

}  // namespace

Result<void> ConfigurationModel::Merge(const Configuration *config,
                                       const std::string &file) {
  if (config->channels() != nullptr) {
    for (size_t i = 0; i < config->channels()->size(); ++i) {
      const Channel *channel = config->channels()->Get(i);
      if (channel->name() == nullptr || channel->type() == nullptr) {
        return MakeError(file + ": channel #" + std::to_string(i) +
                         " needs both a \"name\" and a \"type\"");
      }
      ChannelModel &model =
          channels[{channel->name()->str(), channel->type()->str()}];
      MergeChannel(&model, channel);
      model.files.push_back(file);
    }
  }
  if (config->maps() != nullptr) {
    for (const Map *map : *config->maps()) maps.push_back(ToMapModel(map));
  }
  if (config->nodes() != nullptr) {
    if (!nodes.has_value()) nodes.emplace();
    for (size_t i = 0; i < config->nodes()->size(); ++i) {
      const Node *node = config->nodes()->Get(i);
      if (node->name() == nullptr) {
        return MakeError(file + ": node #" + std::to_string(i) +
                         " needs a \"name\"");
      }
      NodeModel &model = (*nodes)[node->name()->str()];
      model.name = node->name()->str();
      MergeNode(&model, node);
    }
  }
  if (config->applications() != nullptr) {
    for (size_t i = 0; i < config->applications()->size(); ++i) {
      const Application *application = config->applications()->Get(i);
      if (application->name() == nullptr) {
        return MakeError(file + ": application #" + std::to_string(i) +
                         " needs a \"name\"");
      }
      ApplicationModel &model = applications[application->name()->str()];
      model.name = application->name()->str();
      MergeApplication(&model, application);
    }
  }
  if (Has(config, Configuration::VT_CHANNEL_STORAGE_DURATION)) {
    channel_storage_duration = config->channel_storage_duration();
  }
  return {};
}

void ConfigurationModel::AddSchemas(
    std::span<const FlatbufferVector<reflection::Schema>> schemas) {
  std::map<std::string, const reflection::Schema *> by_type;
  for (const FlatbufferVector<reflection::Schema> &schema : schemas) {
    const reflection::Schema *message = &schema.message();
    if (message->root_table() != nullptr) {
      by_type[message->root_table()->name()->str()] = message;
    }
  }
  for (auto &[key, channel] : channels) {
    auto it = by_type.find(key.second);
    if (it != by_type.end()) channel.schema = it->second;
  }
}

FlatbufferDetachedBuffer<Configuration> ConfigurationModel::Pack() const {
  return Packer().Pack(*this);
}

FlatbufferDetachedBuffer<Channel> CopyWithoutSchema(const Channel *channel) {
  ChannelModel model;
  MergeChannel(&model, channel);
  model.schema = nullptr;
  Packer packer;
  return packer.Finish(packer.Pack(model));
}

}  // namespace aos::configuration::internal
