#include "aos/configuration_validation.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>
#include <string_view>

#include "aos/configuration.h"
#include "aos/ipc_lib/index.h"
#include "gflags/gflags.h"

DEFINE_uint32(max_queue_size_override, 0,
              "If nonzero, the largest number of message buffers (ring plus "
              "one scratch buffer per sender and pinning reader) a channel's "
              "queue may have. It can only lower the shared-memory queue's "
              "own limit, e.g. to validate configs for a smaller target.");
DEFINE_uint64(max_queue_memory_mib, 2048,
              "Sanity limit on one channel's shared-memory queue, in MiB "
              "(estimated from frequency, channel_storage_duration, max_size, "
              "num_senders and num_readers). Catches typos that would allocate "
              "gigabytes; raise it for a channel that really needs more. 0 "
              "disables the check.");

namespace aos::configuration::internal {
namespace {

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
  // Alignment is not checked here: upstream reads configs with any max_size
  // (its tests use 5, 7 and 100) and checks it where it matters, when
  // flattening (CheckMaxSizeAlignment) and when a sender is made.
  if (channel->max_size() < 0) {
    return MakeError(where + "max_size of " + channel_text + " is " +
                     std::to_string(channel->max_size()) +
                     "; it must not be negative");
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

}  // namespace

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

namespace {

// Where the merged channel came from, for errors.
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

// Checks that `channel`'s queue can be built by the shared-memory queue and
// is not absurdly large.
Result<void> ValidateQueue(const Configuration *config, const Channel *channel,
                           const std::string &channel_text,
                           bool check_queue_memory) {
  const int64_t storage = ChannelStorageDuration(config, channel).count();
  if (storage <= 0) {
    return MakeError("channel_storage_duration of " + channel_text + " is " +
                     std::to_string(storage) +
                     " ns; it must be positive (it is how long the queue "
                     "keeps messages)");
  }
  const uint64_t queue = QueueSize(config, channel);
  const uint64_t scratch = static_cast<uint64_t>(channel->num_senders()) +
                           static_cast<uint64_t>(channel->num_readers());
  // No valid (queue index, buffer index) pair may equal the invalid one.
  uint64_t max_messages = ipc_lib::Index::MaxMessages() - 1;
  std::string limit_reason = "the shared-memory queue's 32-bit buffer index";
  if (FLAGS_max_queue_size_override != 0 &&
      FLAGS_max_queue_size_override < max_messages) {
    max_messages = FLAGS_max_queue_size_override;
    limit_reason = "--max_queue_size_override";
  }
  const std::string sizing = std::to_string(channel->frequency()) + " Hz * " +
                             std::to_string(storage) +
                             " ns storage = " + std::to_string(queue) +
                             " messages";
  if (queue > kMaxQueueSize) {
    return MakeError(
        "More messages/second configured than the queue can hold on " +
        channel_text + ": " + sizing + ", but a queue holds at most " +
        std::to_string(kMaxQueueSize) +
        "; lower frequency or channel_storage_duration");
  }
  if (queue + scratch > max_messages) {
    return MakeError(
        "More messages/second configured than the queue can hold on " +
        channel_text + ": " + sizing + " + " + std::to_string(scratch) +
        " scratch buffers (num_senders + num_readers) exceeds " +
        std::to_string(max_messages) + " (" + limit_reason +
        "); lower frequency, channel_storage_duration, num_senders or "
        "num_readers");
  }
  const uint64_t memory = QueueMemoryLowerBound(config, channel);
  const uint64_t memory_mib = (memory + (uint64_t{1} << 20) - 1) >> 20;
  if (check_queue_memory && FLAGS_max_queue_memory_mib != 0 &&
      memory_mib > FLAGS_max_queue_memory_mib) {
    return MakeError(
        "Queue of " + channel_text + " would take at least " +
        std::to_string(memory_mib) + " MiB of shared memory (" +
        std::to_string(queue + scratch) + " messages of max_size " +
        std::to_string(channel->max_size()) + "), more than the " +
        std::to_string(FLAGS_max_queue_memory_mib) +
        " MiB sanity limit; lower frequency, channel_storage_duration or "
        "max_size, or raise --max_queue_memory_mib if it is really meant");
  }
  return {};
}

}  // namespace

Result<void> ValidateMerged(const Configuration *config, const Origins *origins,
                            bool check_queue_memory) {
  if (config->imports() != nullptr && config->imports()->size() > 0) {
    return MakeError(
        "Config still has imports; merge it (flatten it) before use");
  }
  const bool multi_node = MultiNode(config);
  if (config->nodes() != nullptr) {
    for (const Node *node : *config->nodes()) {
      if (node->hostname_regex() == nullptr) continue;
      try {
        std::regex pattern(node->hostname_regex()->str());
      } catch (const std::regex_error &e) {
        return MakeError(
            "Node \"" +
            (node->name() != nullptr ? node->name()->str() : std::string()) +
            "\" has an invalid hostname_regex \"" +
            node->hostname_regex()->str() + "\" (" + e.what() +
            "); write an ECMAScript regular expression matching whole "
            "hostnames, e.g. \"orin-[0-9]*-1\"");
      }
    }
  }
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
      if (Result<void> r =
              ValidateQueue(config, channel, channel_text, check_queue_memory);
          !r) {
        return r;
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

uint64_t QueueMemoryLowerBound(const Configuration *config,
                               const Channel *channel) {
  const uint64_t messages = QueueSize(config, channel) +
                            static_cast<uint64_t>(channel->num_senders()) +
                            static_cast<uint64_t>(channel->num_readers());
  const uint64_t per_message =
      (static_cast<uint64_t>(channel->max_size()) + kQueueMessageOverhead +
       kQueueMessageAlignment - 1) /
      kQueueMessageAlignment * kQueueMessageAlignment;
  return messages * per_message + QueueSize(config, channel) * sizeof(uint64_t);
}

Result<void> CheckMaxSizeAlignment(const Configuration *config) {
  if (config->channels() == nullptr) return {};
  for (const Channel *channel : *config->channels()) {
    if (channel->max_size() % 8 != 0) {
      return MakeError(
          "max_size of " + StrippedChannelToString(channel) + " is " +
          std::to_string(channel->max_size()) +
          "; it must be a non-negative multiple of 8 (messages are 8-byte "
          "aligned in the queue): round it up to " +
          std::to_string((channel->max_size() + 7) / 8 * 8));
    }
  }
  return {};
}

}  // namespace aos::configuration::internal
