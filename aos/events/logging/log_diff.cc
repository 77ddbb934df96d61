#include "aos/events/logging/log_diff.h"

#include <algorithm>
#include <map>

#include "aos/events/logging/log_message_stream.h"
#include "aos/json_to_flatbuffer.h"
#include "flatbuffers/reflection.h"

namespace aos::logger {
namespace {

struct Message {
  monotonic_clock::time_point monotonic_sent_time;
  realtime_clock::time_point realtime_sent_time;
  std::vector<uint8_t> data;
};

struct ChannelMessages {
  // The channel in its log's configuration, for printing messages.
  const Channel *channel = nullptr;
  std::vector<Message> messages;
};

using Key = std::pair<std::string, std::string>;  // name, type

Result<std::map<Key, ChannelMessages>> ReadLog(const std::vector<LogFile> &logs,
                                               const LogDiffOptions &options) {
  if (Result<void> one = CheckOneLog(logs); !one) {
    return std::unexpected(one.error());
  }
  std::map<Key, ChannelMessages> channels;
  for (const LogFile &log : logs) {
    const Configuration *config = &log.config->message();
    Result<std::unique_ptr<LogMessageStream>> stream =
        LogMessageStream::Open(log, "");
    if (!stream) return std::unexpected(stream.error());
    while (std::optional<LogMessage> message = (*stream)->Next()) {
      if (!message->has_data ||
          message->channel_index >= config->channels()->size()) {
        continue;
      }
      const Channel *channel = config->channels()->Get(message->channel_index);
      const std::string name = channel->name()->str();
      const std::string type = channel->type()->str();
      if (std::ranges::any_of(options.ignore, [&](const std::string &i) {
            return i == name || i == name + " " + type;
          })) {
        continue;
      }
      ChannelMessages &messages = channels[{name, type}];
      messages.channel = channel;
      messages.messages.push_back({message->monotonic_sent_time,
                                   message->realtime_sent_time,
                                   std::move(message->data)});
    }
  }
  return channels;
}

LogDiff::Side Describe(const Channel *channel, const Message &message) {
  LogDiff::Side side{message.monotonic_sent_time, message.realtime_sent_time,
                     ""};
  const reflection::Schema *schema = channel->schema();
  if (schema == nullptr || schema->root_table() == nullptr) {
    side.json =
        "\"(no schema: " + std::to_string(message.data.size()) + " bytes)\"";
  } else if (!flatbuffers::Verify(*schema, *schema->root_table(),
                                  message.data.data(), message.data.size())) {
    side.json = "\"(does not verify: " + std::to_string(message.data.size()) +
                " bytes)\"";
  } else {
    side.json = FlatbufferToJson(schema, message.data.data());
  }
  return side;
}

std::string SideJson(const std::optional<LogDiff::Side> &side) {
  if (!side.has_value()) return "null";
  return "{\"monotonic_sent_time\": " +
         std::to_string(side->monotonic_sent_time.time_since_epoch().count()) +
         ", \"realtime_sent_time\": " +
         std::to_string(side->realtime_sent_time.time_since_epoch().count()) +
         ", \"message\": " + side->json + "}";
}

}  // namespace

std::string LogDiff::ToJson() const {
  std::string out = std::string("{\"equal\": ") + (equal ? "true" : "false") +
                    ", \"channels\": [";
  for (size_t i = 0; i < channels.size(); ++i) {
    const Channel &c = channels[i];
    out += (i == 0 ? "\n  " : ",\n  ");
    out += "{\"name\": \"" + c.name + "\", \"type\": \"" + c.type +
           "\", \"count_a\": " + std::to_string(c.count_a) +
           ", \"count_b\": " + std::to_string(c.count_b) +
           ", \"equal\": " + (c.equal ? "true" : "false");
    if (!c.equal) {
      out += ", \"first_difference\": {\"index\": " +
             std::to_string(c.first_difference_index) +
             ", \"a\": " + SideJson(c.a) + ", \"b\": " + SideJson(c.b) + "}";
    }
    out += "}";
  }
  return out + "\n]}\n";
}

Result<LogDiff> DiffLogs(const std::vector<LogFile> &a,
                         const std::vector<LogFile> &b,
                         const LogDiffOptions &options) {
  Result<std::map<Key, ChannelMessages>> log_a = ReadLog(a, options);
  if (!log_a) return std::unexpected(log_a.error());
  Result<std::map<Key, ChannelMessages>> log_b = ReadLog(b, options);
  if (!log_b) return std::unexpected(log_b.error());

  std::map<Key, std::pair<const ChannelMessages *, const ChannelMessages *>>
      both;
  for (const auto &[key, messages] : *log_a) both[key].first = &messages;
  for (const auto &[key, messages] : *log_b) both[key].second = &messages;

  static const ChannelMessages kNone;
  LogDiff diff;
  for (const auto &[key, sides] : both) {
    const ChannelMessages &ma = sides.first ? *sides.first : kNone;
    const ChannelMessages &mb = sides.second ? *sides.second : kNone;
    LogDiff::Channel channel;
    channel.name = key.first;
    channel.type = key.second;
    channel.count_a = ma.messages.size();
    channel.count_b = mb.messages.size();
    const size_t common = std::min(ma.messages.size(), mb.messages.size());
    size_t i = 0;
    for (; i < common; ++i) {
      const Message &x = ma.messages[i];
      const Message &y = mb.messages[i];
      if (x.monotonic_sent_time != y.monotonic_sent_time ||
          x.realtime_sent_time != y.realtime_sent_time || x.data != y.data) {
        break;
      }
    }
    if (i < ma.messages.size() || i < mb.messages.size()) {
      channel.equal = false;
      channel.first_difference_index = i;
      if (i < ma.messages.size()) {
        channel.a = Describe(ma.channel, ma.messages[i]);
      }
      if (i < mb.messages.size()) {
        channel.b = Describe(mb.channel, mb.messages[i]);
      }
      diff.equal = false;
    }
    diff.channels.push_back(std::move(channel));
  }
  return diff;
}

}  // namespace aos::logger
