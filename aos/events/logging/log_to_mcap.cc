#include "aos/events/logging/log_to_mcap.h"

#include <map>
#include <set>

#include "aos/configuration.h"
#include "aos/events/logging/log_message_stream.h"
#include "aos/json_to_flatbuffer.h"
#include "glog/logging.h"

namespace aos::logger {
namespace {

// JSON Schema of a value of base type `type` (element type for vectors).
std::string ScalarSchema(const reflection::Schema *schema,
                         reflection::BaseType type, int index) {
  using reflection::BaseType;
  switch (type) {
    case BaseType::Bool:
      return R"({"type": "boolean"})";
    case BaseType::UType:
    case BaseType::Byte:
    case BaseType::UByte:
    case BaseType::Short:
    case BaseType::UShort:
    case BaseType::Int:
    case BaseType::UInt:
    case BaseType::Long:
    case BaseType::ULong:
      // Enum values print by name ("A C" for bit flags), or as a number
      // when no name fits.
      return index >= 0 ? R"({"type": ["string", "integer"]})"
                        : R"({"type": "integer"})";
    case BaseType::Float:
    case BaseType::Double:
      // Non-finite values are written as null (see MessageToJson).
      return R"({"type": ["number", "null"]})";
    case BaseType::String:
      return R"({"type": "string"})";
    case BaseType::Obj:
      return R"({"$ref": "#/$defs/)" +
             schema->objects()->Get(index)->name()->str() + "\"}";
    case BaseType::Union:
      // One of the union's tables, named by the `<field>_type` field.
      return R"({"type": "object"})";
    default:
      return "{}";
  }
}

std::string ObjectSchema(const reflection::Schema *schema,
                         const reflection::Object *object) {
  std::string out = R"({"type": "object", "properties": {)";
  bool first = true;
  for (const reflection::Field *field : *object->fields()) {
    if (field->deprecated()) continue;
    const reflection::Type *type = field->type();
    std::string value;
    if (type->base_type() == reflection::BaseType::Vector) {
      value = R"({"type": "array", "items": )" +
              ScalarSchema(schema, type->element(), type->index()) + "}";
    } else if (type->base_type() == reflection::BaseType::Array) {
      value = R"({"type": "array", "items": )" +
              ScalarSchema(schema, type->element(), type->index()) + "}";
    } else {
      value = ScalarSchema(schema, type->base_type(), type->index());
    }
    out += (first ? "" : ", ") + JsonQuote(field->name()->str()) + ": " + value;
    first = false;
  }
  return out + "}}";
}

// Replaces the bare nan/inf tokens FlatbufferToJson prints with null.
std::string NonFiniteToNull(std::string json) {
  std::string out;
  out.reserve(json.size());
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size()) {
        out.push_back(json[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    size_t token = i + (c == '-' ? 1 : 0);
    if (json.compare(token, 3, "nan") == 0 ||
        json.compare(token, 3, "inf") == 0) {
      out += "null";
      i = token + 2;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

uint64_t Nanoseconds(int64_t value) { return value < 0 ? 0 : value; }

}  // namespace

std::vector<uint8_t> SchemaToBfbs(const reflection::Schema *schema) {
  std::unique_ptr<reflection::SchemaT> object(schema->UnPack());
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(reflection::Schema::Pack(fbb, object.get()), "BFBS");
  return std::vector<uint8_t>(fbb.GetBufferPointer(),
                              fbb.GetBufferPointer() + fbb.GetSize());
}

std::string JsonSchemaFor(const reflection::Schema *schema) {
  const reflection::Object *root = schema->root_table();
  CHECK(root != nullptr) << ": a channel's schema has no root table";
  // Every object reachable from the root goes in $defs (tables may refer to
  // themselves, directly or not).
  std::set<int> reachable;
  std::vector<int> pending;
  // By name: a schema that went through the object API (the config
  // flattener's) holds the root table as a copy, not as a pointer into
  // objects.
  for (size_t i = 0; i < schema->objects()->size(); ++i) {
    if (schema->objects()->Get(i)->name()->string_view() ==
        root->name()->string_view()) {
      pending.push_back(i);
    }
  }
  CHECK(!pending.empty()) << ": the root table " << root->name()->string_view()
                          << " is not among the schema's objects";
  while (!pending.empty()) {
    const int index = pending.back();
    pending.pop_back();
    if (!reachable.insert(index).second) continue;
    for (const reflection::Field *field :
         *schema->objects()->Get(index)->fields()) {
      const reflection::Type *type = field->type();
      const bool object_type =
          type->base_type() == reflection::BaseType::Obj ||
          ((type->base_type() == reflection::BaseType::Vector ||
            type->base_type() == reflection::BaseType::Array) &&
           type->element() == reflection::BaseType::Obj);
      if (object_type) pending.push_back(type->index());
    }
  }
  std::string defs;
  for (int index : reachable) {
    const reflection::Object *object = schema->objects()->Get(index);
    defs += (defs.empty() ? "" : ", ") + JsonQuote(object->name()->str()) +
            ": " + ObjectSchema(schema, object);
  }
  return R"({"$schema": "https://json-schema.org/draft/2020-12/schema", )"
         R"("title": )" +
         JsonQuote(root->name()->str()) + R"(, "$ref": "#/$defs/)" +
         root->name()->str() + R"(", "$defs": {)" + defs + "}}";
}

std::string MessageToJson(const reflection::Schema *schema,
                          const uint8_t *data) {
  return NonFiniteToNull(FlatbufferToJson(schema, data));
}

Result<LogToMcapStats> LogToMcap(const std::vector<LogFile> &logs,
                                 const std::string &output_path,
                                 const LogToMcapOptions &options) {
  if (Result<void> one = CheckOneLog(logs); !one) {
    return std::unexpected(one.error());
  }
  Result<std::unique_ptr<McapWriter>> writer =
      McapWriter::Create(output_path, options.mcap);
  if (!writer) return std::unexpected(writer.error());
  const bool json = options.mode == LogToMcapOptions::Mode::kJson;

  LogToMcapStats stats;
  std::map<std::string, uint16_t> schema_ids;
  for (const LogFile &log : logs) {
    const Configuration *config = &log.config->message();
    const bool multi_node = configuration::MultiNode(config);
    // MCAP channel id per AOS channel index, made at the first message.
    std::vector<int> channel_ids(config->channels()->size(), -1);
    std::map<std::string_view, int> types_per_name;
    for (const Channel *channel : *config->channels()) {
      ++types_per_name[channel->name()->string_view()];
    }
    Result<std::unique_ptr<LogMessageStream>> stream =
        LogMessageStream::Open(log, "");
    if (!stream) return std::unexpected(stream.error());
    // Peek/Pop: each message is written from the stream's queue, uncopied.
    while (const LogMessage *message = (*stream)->Peek()) {
      if (!message->has_data) {
        (*stream)->Pop();
        continue;
      }
      if (message->channel_index >= config->channels()->size()) {
        return MakeError("log event " + log.log_event_uuid +
                         " has a message on channel index " +
                         std::to_string(message->channel_index) +
                         ", but its configuration has only " +
                         std::to_string(config->channels()->size()) +
                         " channels: the log is damaged");
      }
      const Channel *channel = config->channels()->Get(message->channel_index);
      const reflection::Schema *schema = channel->schema();
      if (schema == nullptr || schema->root_table() == nullptr) {
        return MakeError("channel " + channel->name()->str() + " (" +
                         channel->type()->str() +
                         ") has no schema in the log's configuration, so "
                         "its messages cannot be exported");
      }
      int &channel_id = channel_ids[message->channel_index];
      if (channel_id < 0) {
        const std::string type = channel->type()->str();
        auto [it, inserted] = schema_ids.emplace(type, 0);
        if (inserted) {
          if (json) {
            const std::string text = JsonSchemaFor(schema);
            it->second = (*writer)->AddSchema(
                type, "jsonschema",
                std::span(reinterpret_cast<const uint8_t *>(text.data()),
                          text.size()));
          } else {
            it->second =
                (*writer)->AddSchema(type, "flatbuffer", SchemaToBfbs(schema));
          }
        }
        std::vector<std::pair<std::string, std::string>> metadata = {
            {"aos_type", type}};
        std::string topic = channel->name()->str();
        if (types_per_name[channel->name()->string_view()] > 1) {
          topic += " " + type;
        }
        if (multi_node) {
          metadata.emplace_back("node", log.logger_node);
          topic = "/" + log.logger_node + topic;
        }
        channel_id = (*writer)->AddChannel(
            it->second, topic, json ? "json" : "flatbuffer", metadata);
      }
      const int64_t realtime =
          message->realtime_sent_time.time_since_epoch().count();
      const uint64_t log_time =
          realtime >= 0
              ? realtime
              : Nanoseconds(
                    message->monotonic_sent_time.time_since_epoch().count());
      const uint64_t publish_time =
          message->realtime_remote_time != realtime_clock::min_time
              ? Nanoseconds(
                    message->realtime_remote_time.time_since_epoch().count())
              : log_time;
      Result<void> written;
      if (json) {
        if (!flatbuffers::Verify(*schema, *schema->root_table(),
                                 message->data.data(), message->data.size())) {
          ++stats.invalid_messages;
          LOG(WARNING) << "skipping a message on " << channel->name()->str()
                       << " sent at " << message->monotonic_sent_time
                       << ": it does not verify as " << channel->type()->str();
          (*stream)->Pop();
          continue;
        }
        const std::string text = MessageToJson(schema, message->data.data());
        written = (*writer)->WriteMessage(
            channel_id, message->queue_index, log_time, publish_time,
            std::span(reinterpret_cast<const uint8_t *>(text.data()),
                      text.size()));
      } else {
        written =
            (*writer)->WriteMessage(channel_id, message->queue_index, log_time,
                                    publish_time, message->data);
      }
      if (!written) return std::unexpected(written.error());
      ++stats.messages;
      stats.message_bytes += message->data.size();
      (*stream)->Pop();
    }
    stats.warnings.insert(stats.warnings.end(), (*stream)->warnings().begin(),
                          (*stream)->warnings().end());
  }
  if (Result<void> closed = (*writer)->Close(); !closed) {
    return std::unexpected(closed.error());
  }
  stats.mcap_bytes = (*writer)->bytes_written();
  return stats;
}

}  // namespace aos::logger
