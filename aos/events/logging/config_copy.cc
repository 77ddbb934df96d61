#include "aos/events/logging/config_copy.h"

#include <map>
#include <memory>
#include <vector>

namespace aos::logger {
namespace {

// Whether `table` has the field at `offset` (flatbuffers::Table's CheckField
// is not public on generated tables).
template <typename T>
bool HasField(const T *table, flatbuffers::voffset_t offset) {
  return reinterpret_cast<const flatbuffers::Table *>(table)->CheckField(
      offset);
}

flatbuffers::Offset<flatbuffers::String> CopyString(
    const flatbuffers::String *string, flatbuffers::FlatBufferBuilder *fbb) {
  return string == nullptr ? 0 : fbb->CreateString(string->string_view());
}

flatbuffers::Offset<Channel> CopyChannel(
    const Channel *channel, flatbuffers::Offset<reflection::Schema> schema,
    flatbuffers::FlatBufferBuilder *fbb) {
  const auto name = CopyString(channel->name(), fbb);
  const auto type = CopyString(channel->type(), fbb);
  const auto source_node = CopyString(channel->source_node(), fbb);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<Connection>>>
      destination_nodes;
  if (channel->destination_nodes() != nullptr) {
    std::vector<flatbuffers::Offset<Connection>> connections;
    for (const Connection *connection : *channel->destination_nodes()) {
      std::unique_ptr<ConnectionT> unpacked(connection->UnPack());
      connections.push_back(Connection::Pack(*fbb, unpacked.get()));
    }
    destination_nodes = fbb->CreateVector(connections);
  }
  flatbuffers::Offset<
      flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>>
      logger_nodes;
  if (channel->logger_nodes() != nullptr) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> names;
    for (const flatbuffers::String *node : *channel->logger_nodes()) {
      names.push_back(CopyString(node, fbb));
    }
    logger_nodes = fbb->CreateVector(names);
  }

  // Only the fields the original has, with their values even if default.
  fbb->ForceDefaults(true);
  Channel::Builder builder(*fbb);
  if (!name.IsNull()) builder.add_name(name);
  if (!type.IsNull()) builder.add_type(type);
  if (HasField(channel, Channel::VT_FREQUENCY)) {
    builder.add_frequency(channel->frequency());
  }
  if (HasField(channel, Channel::VT_MAX_SIZE)) {
    builder.add_max_size(channel->max_size());
  }
  if (HasField(channel, Channel::VT_NUM_SENDERS)) {
    builder.add_num_senders(channel->num_senders());
  }
  if (HasField(channel, Channel::VT_NUM_WATCHERS)) {
    builder.add_num_watchers(channel->num_watchers());
  }
  if (!schema.IsNull()) builder.add_schema(schema);
  if (!source_node.IsNull()) builder.add_source_node(source_node);
  if (!destination_nodes.IsNull()) {
    builder.add_destination_nodes(destination_nodes);
  }
  if (HasField(channel, Channel::VT_LOGGER)) {
    builder.add_logger(channel->logger());
  }
  if (!logger_nodes.IsNull()) builder.add_logger_nodes(logger_nodes);
  if (HasField(channel, Channel::VT_READ_METHOD)) {
    builder.add_read_method(channel->read_method());
  }
  if (HasField(channel, Channel::VT_NUM_READERS)) {
    builder.add_num_readers(channel->num_readers());
  }
  if (HasField(channel, Channel::VT_CHANNEL_STORAGE_DURATION)) {
    builder.add_channel_storage_duration(channel->channel_storage_duration());
  }
  const flatbuffers::Offset<Channel> result = builder.Finish();
  fbb->ForceDefaults(false);
  return result;
}

template <typename T>
flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<T>>> CopyVector(
    const flatbuffers::Vector<flatbuffers::Offset<T>> *vector,
    flatbuffers::FlatBufferBuilder *fbb) {
  if (vector == nullptr) return 0;
  std::vector<flatbuffers::Offset<T>> offsets;
  for (const T *element : *vector) {
    std::unique_ptr<typename T::NativeTableType> unpacked(element->UnPack());
    offsets.push_back(T::Pack(*fbb, unpacked.get()));
  }
  return fbb->CreateVector(offsets);
}

}  // namespace

flatbuffers::Offset<Configuration> CopyConfiguration(
    const Configuration *configuration, flatbuffers::FlatBufferBuilder *fbb) {
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<Channel>>>
      channels;
  if (configuration->channels() != nullptr) {
    std::map<const reflection::Schema *,
             flatbuffers::Offset<reflection::Schema>>
        schemas;
    std::vector<flatbuffers::Offset<Channel>> offsets;
    for (const Channel *channel : *configuration->channels()) {
      flatbuffers::Offset<reflection::Schema> schema;
      if (channel->schema() != nullptr) {
        auto it = schemas.find(channel->schema());
        if (it == schemas.end()) {
          std::unique_ptr<reflection::SchemaT> unpacked(
              channel->schema()->UnPack());
          it = schemas
                   .emplace(channel->schema(),
                            reflection::Schema::Pack(*fbb, unpacked.get()))
                   .first;
        }
        schema = it->second;
      }
      offsets.push_back(CopyChannel(channel, schema, fbb));
    }
    channels = fbb->CreateVector(offsets);
  }
  const auto maps = CopyVector(configuration->maps(), fbb);
  const auto applications = CopyVector(configuration->applications(), fbb);
  const auto nodes = CopyVector(configuration->nodes(), fbb);
  flatbuffers::Offset<
      flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>>
      imports;
  if (configuration->imports() != nullptr) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> names;
    for (const flatbuffers::String *name : *configuration->imports()) {
      names.push_back(CopyString(name, fbb));
    }
    imports = fbb->CreateVector(names);
  }
  Configuration::Builder builder(*fbb);
  if (!channels.IsNull()) builder.add_channels(channels);
  if (!maps.IsNull()) builder.add_maps(maps);
  if (!applications.IsNull()) builder.add_applications(applications);
  if (!imports.IsNull()) builder.add_imports(imports);
  if (!nodes.IsNull()) builder.add_nodes(nodes);
  if (HasField(configuration, Configuration::VT_CHANNEL_STORAGE_DURATION)) {
    fbb->ForceDefaults(true);
    builder.add_channel_storage_duration(
        configuration->channel_storage_duration());
    fbb->ForceDefaults(false);
  }
  return builder.Finish();
}

}  // namespace aos::logger
