#include "aos/tools/aos_cli_utils.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "aos/events/shm_channel_queue.h"
#include "aos/examples/latency_histogram.h"
#include "aos/init.h"
#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/json_to_flatbuffer.h"
#include "aos/tools/aos_version.h"
#include "flatbuffers/reflection.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(config, "aos_config.json",
              "The configuration (flattened, with schemas) of the channels. "
              "A relative path is also looked for beside the program.");
DECLARE_string(override_hostname);

namespace aos::cli {
namespace {

bool IsHelpArgument(std::string_view arg) {
  return arg == "--help" || arg == "-help" || arg == "-h" ||
         arg == "--helpshort" || arg == "-helpshort" || arg == "--helpfull";
}

std::string ChannelTypes(const std::vector<const Channel *> &channels) {
  std::string types;
  for (const Channel *channel : channels) {
    if (!types.empty()) types += ", ";
    types += channel->type()->str();
  }
  return types;
}

bool Usable(const Channel *channel, const Node *node, ChannelUse use) {
  return use == ChannelUse::kRead
             ? configuration::ChannelIsReadableOnNode(channel, node)
             : configuration::ChannelIsSendableOnNode(channel, node);
}

}  // namespace

std::string QuoteNonJsonNumbers(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  bool in_string = false;
  for (size_t i = 0; i < json.size();) {
    const char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size()) {
        out.push_back(json[i + 1]);
        i += 2;
        continue;
      }
      if (c == '"') in_string = false;
      ++i;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out.push_back(c);
      ++i;
      continue;
    }
    // A bare token outside strings: a number, true/false/null, or one of
    // the forms flatbuffers prints that JSON lacks.
    if (c == '-' || std::isalnum(static_cast<unsigned char>(c))) {
      size_t end = i + 1;
      while (end < json.size() &&
             (std::isalnum(static_cast<unsigned char>(json[end])) ||
              json[end] == '.' || json[end] == '+' || json[end] == '-')) {
        ++end;
      }
      const std::string_view token = json.substr(i, end - i);
      const std::string_view unsigned_token =
          token.starts_with('-') ? token.substr(1) : token;
      if (unsigned_token == "nan" || unsigned_token == "inf" ||
          unsigned_token == "infinity" || unsigned_token.starts_with("0x")) {
        out.push_back('"');
        out.append(token);
        out.push_back('"');
      } else {
        out.append(token);
      }
      i = end;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

void PrintHelp(const ToolHelp &help) {
  std::cout << help.usage << "\n";
  if (!help.flags.empty()) std::cout << "\nFlags:\n";
  for (std::string_view flag : help.flags) {
    gflags::CommandLineFlagInfo info;
    if (!gflags::GetCommandLineFlagInfo(std::string(flag).c_str(), &info)) {
      continue;
    }
    std::cout << "  --" << info.name << " (" << info.type << ", default ";
    if (info.type == "string") {
      std::cout << "\"" << info.default_value << "\"";
    } else {
      std::cout << info.default_value;
    }
    std::cout << ")\n      " << info.description << "\n";
  }
}

std::string VersionString(std::string_view program) {
  return std::string(program) + " (AOS) " AOS_VERSION " (git " AOS_GIT_REVISION
                                ")";
}

void InitTool(int *argc, char ***argv, const ToolHelp &help) {
  gflags::SetCommandLineOptionWithMode("config",
                                       std::string(help.default_config).c_str(),
                                       gflags::SET_FLAGS_DEFAULT);
  for (int i = 1; i < *argc; ++i) {
    const std::string_view arg = (*argv)[i];
    if (arg == "--") break;
    if (IsHelpArgument(arg)) {
      PrintHelp(help);
      std::exit(0);
    }
    if (arg == "--version" || arg == "-version") {
      std::cout << VersionString(help.name) << "\n";
      std::exit(0);
    }
  }
  // Tools talk to people: only warnings and errors from the libraries.
  FLAGS_minloglevel = google::GLOG_WARNING;
  aos::InitGoogle(argc, argv);
}

void PrintError(std::string_view tool, std::string_view message) {
  std::cerr << tool << ": " << message << std::endl;
}

Result<FlatbufferDetachedBuffer<Configuration>> LoadConfig(
    std::string_view path) {
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      configuration::MaybeReadConfig(path);
  if (!config) {
    return MakeError("cannot read --config=" + std::string(path) + ": " +
                     config.error().message());
  }
  return config;
}

FlatbufferDetachedBuffer<Configuration> LoadConfigOrExit(
    std::string_view program) {
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      LoadConfig(FLAGS_config);
  if (!config) {
    PrintError(program, config.error().message());
    std::exit(1);
  }
  return std::move(*config);
}

Result<ToolSetup> LoadToolSetup(std::string_view tool_name) {
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      LoadConfig(FLAGS_config);
  if (!config) return std::unexpected(config.error());
  // The node points into the buffer, which moves without moving its bytes.
  Result<const Node *> node = FindMyNode(&config->message());
  if (!node) return std::unexpected(node.error());
  return ToolSetup{.config = std::move(*config),
                   .node = *node,
                   .application_name = FLAGS_application_name.empty()
                                           ? std::string(tool_name)
                                           : FLAGS_application_name};
}

std::unique_ptr<ShmEventLoop> MakeToolEventLoop(const ToolSetup &setup) {
  auto event_loop = std::make_unique<ShmEventLoop>(setup.configuration());
  event_loop->set_name(setup.application_name);
  event_loop->SkipTimingReport();
  event_loop->SkipAosLog();
  return event_loop;
}

void ExitAfter(ShmEventLoop *event_loop, std::chrono::milliseconds timeout) {
  TimerHandler *stop =
      event_loop->AddTimer([event_loop]() { event_loop->Exit(); });
  stop->set_name("exit_after_timeout");
  event_loop->OnRun([event_loop, stop, timeout]() {
    stop->Schedule(event_loop->monotonic_now() + timeout);
  });
}

Result<const Node *> FindMyNode(const Configuration *config) {
  if (!configuration::MultiNode(config)) return nullptr;
  std::string hostname = FLAGS_override_hostname;
  if (hostname.empty()) {
    char buffer[256] = {};
    if (gethostname(buffer, sizeof(buffer) - 1) != 0) {
      return MakeError(
          "cannot read this machine's hostname; pass "
          "--override_hostname=<node's hostname>");
    }
    hostname = buffer;
  }
  const Node *node = configuration::GetNodeFromHostname(config, hostname);
  if (node == nullptr) {
    return MakeError("no node of the config has hostname '" + hostname +
                     "'; pass --override_hostname=<a node's hostname>");
  }
  return node;
}

Result<std::vector<const Channel *>> FindChannels(
    const Configuration *config, std::string_view name,
    std::string_view type_pattern, std::string_view application_name,
    const Node *node, ChannelUse use) {
  if (name.empty() || name.front() != '/') {
    return MakeError("channel name '" + std::string(name) +
                     "' must start with '/' (e.g. /test)");
  }
  // Every type the config knows, looked up under `name` through the maps:
  // this is how aliases resolve, for any type.
  std::set<std::string_view> types;
  for (const Channel *channel : *config->channels()) {
    types.insert(channel->type()->string_view());
  }
  std::vector<const Channel *> on_name;
  for (std::string_view type : types) {
    const Channel *channel = configuration::GetChannel(
        config, name, type, application_name, node, /*quiet=*/true);
    if (channel != nullptr) on_name.push_back(channel);
  }
  if (on_name.empty()) {
    return MakeError("no channel named " + std::string(name) +
                     " in the config (run aos_dump with no arguments to "
                     "list channels)");
  }
  std::vector<const Channel *> usable;
  for (const Channel *channel : on_name) {
    if (Usable(channel, node, use)) usable.push_back(channel);
  }
  if (usable.empty()) {
    return MakeError(
        std::string(name) + " (" + ChannelTypes(on_name) + ") is not " +
        (use == ChannelUse::kRead ? "readable" : "sendable") + " on this node");
  }
  if (type_pattern.empty()) return usable;

  for (const Channel *channel : usable) {
    if (channel->type()->string_view() == type_pattern) {
      return std::vector<const Channel *>{channel};
    }
  }
  std::vector<const Channel *> matches;
  for (const Channel *channel : usable) {
    if (channel->type()->string_view().find(type_pattern) !=
        std::string_view::npos) {
      matches.push_back(channel);
    }
  }
  if (matches.empty()) {
    return MakeError("no type matching '" + std::string(type_pattern) +
                     "' on " + std::string(name) +
                     " (types there: " + ChannelTypes(usable) + ")");
  }
  if (matches.size() > 1) {
    return MakeError("type '" + std::string(type_pattern) + "' on " +
                     std::string(name) + " is ambiguous: it matches " +
                     ChannelTypes(matches) + "; give the full type");
  }
  return matches;
}

std::vector<std::string> ChannelAliases(const Configuration *config,
                                        const Channel *channel,
                                        std::string_view application_name,
                                        const Node *node) {
  std::set<std::string> names;
  auto consider =
      [&](const flatbuffers::Vector<flatbuffers::Offset<Map>> *maps) {
        if (maps == nullptr) return;
        for (const Map *map : *maps) {
          if (map->match() == nullptr || map->match()->name() == nullptr)
            continue;
          const std::string_view alias = map->match()->name()->string_view();
          if (alias.empty() || alias.back() == '*') continue;
          // Whatever rename chain applies, the alias is one if looking it up
          // lands on this channel.
          if (configuration::GetChannel(config, alias,
                                        channel->type()->string_view(),
                                        application_name, node,
                                        /*quiet=*/true) == channel &&
              alias != channel->name()->string_view()) {
            names.emplace(alias);
          }
        }
      };
  consider(config->maps());
  if (config->applications() != nullptr) {
    for (const Application *application : *config->applications()) {
      if (application->name() != nullptr &&
          application->name()->string_view() == application_name) {
        consider(application->maps());
      }
    }
  }
  return std::vector<std::string>(names.begin(), names.end());
}

Result<void> CheckChannelQueue(const Configuration *config,
                               const Channel *channel,
                               std::string_view shm_base, SlotNeed need) {
  const std::string path = ShmChannelQueuePath(shm_base, channel);
  {
    Result<ipc_lib::MemoryMappedQueue> queue = ipc_lib::MemoryMappedQueue::Open(
        path, ShmChannelQueueConfiguration(config, channel), FLAGS_permissions);
    if (!queue) {
      return MakeError("cannot open the queue of " + ChannelLabel(channel) +
                       ": " + queue.error().message());
    }
  }
  if (need == SlotNeed::kNone) return {};
  Result<ipc_lib::QueueFileInfo> info = ipc_lib::InspectQueueFile(path);
  if (!info) {
    return MakeError("cannot inspect the queue of " + ChannelLabel(channel) +
                     ": " + info.error().message());
  }
  const std::vector<ipc_lib::QueueSlotInfo> &slots =
      need == SlotNeed::kWatcher ? info->watchers : info->senders;
  const size_t live = static_cast<size_t>(std::count_if(
      slots.begin(), slots.end(), [](const ipc_lib::QueueSlotInfo &slot) {
        return slot.liveness == ipc_lib::QueueSlotInfo::Liveness::kAlive;
      }));
  if (live >= slots.size()) {
    const char *kind = need == SlotNeed::kWatcher ? "watcher" : "sender";
    return MakeError("all " + std::to_string(slots.size()) + " " + kind +
                     " slots of " + ChannelLabel(channel) +
                     " are taken by running processes (see `aos_shm show " +
                     ChannelLabel(channel) + "`; raise num_" + kind +
                     "s in the config)");
  }
  return {};
}

Result<const reflection::Schema *> ChannelSchema(const Configuration *config,
                                                 const Channel *channel) {
  const reflection::Schema *schema = channel->schema();
  if (schema == nullptr) {
    schema = configuration::GetSchema(config, channel->type()->string_view());
  }
  if (schema == nullptr || schema->root_table() == nullptr) {
    return MakeError("the config has no schema for " + ChannelLabel(channel) +
                     "; use the flattened config that aos_config() builds "
                     "(e.g. build/aos/examples/pingpong_config.json)");
  }
  return schema;
}

namespace {

void AppendInteger(std::string *out, int64_t value) {
  char buffer[24];
  out->append(buffer,
              std::to_chars(buffer, buffer + sizeof(buffer), value).ptr);
}

}  // namespace

void AppendMessage(std::string *out, const Channel *channel,
                   const reflection::Schema *schema, const Context &context,
                   const PrintOptions &options) {
  using namespace std::string_view_literals;
  const uint8_t *data = static_cast<const uint8_t *>(context.data);
  const bool valid =
      data != nullptr && context.size > 0 &&
      flatbuffers::Verify(*schema, *schema->root_table(), data, context.size);
  if (!options.json) {
    std::ostringstream line;
    line << context.realtime_event_time << " (" << context.monotonic_event_time
         << ")";
    if (context.monotonic_remote_time != context.monotonic_event_time) {
      line << " sent " << context.realtime_remote_time << " ("
           << context.monotonic_remote_time << ")";
    }
    line << " " << ChannelLabel(channel) << ": ";
    if (!valid) line << "<invalid message, " << context.size << " bytes>";
    out->append(line.str());
    if (valid) {
      JsonOptions json_options;
      json_options.multi_line = options.pretty || options.pretty_max;
      json_options.max_multi_line = options.pretty_max ? 80 : 0;
      json_options.max_vector_size = options.max_vector_size;
      json_options.use_hex = options.hex;
      AppendFlatbufferToJson(out, schema, data, json_options);
    }
    return;
  }
  // JSON lines: this runs per message in log_cat and aos_dump, so it appends
  // in place.
  out->append("{\"name\": \""sv);
  out->append(channel->name()->string_view());
  out->append("\", \"type\": \""sv);
  out->append(channel->type()->string_view());
  out->append("\", \"monotonic_event_time\": "sv);
  AppendInteger(out, context.monotonic_event_time.time_since_epoch().count());
  out->append(", \"realtime_event_time\": "sv);
  AppendInteger(out, context.realtime_event_time.time_since_epoch().count());
  if (context.monotonic_remote_time != context.monotonic_event_time) {
    out->append(", \"monotonic_remote_time\": "sv);
    AppendInteger(out,
                  context.monotonic_remote_time.time_since_epoch().count());
    out->append(", \"realtime_remote_time\": "sv);
    AppendInteger(out, context.realtime_remote_time.time_since_epoch().count());
  }
  out->append(", \"queue_index\": "sv);
  AppendInteger(out, context.queue_index);
  out->append(", \"size\": "sv);
  AppendInteger(out, context.size);
  out->append(", \"data\": "sv);
  if (!valid) {
    out->append("null, \"error\": \"invalid message\"}"sv);
    return;
  }
  const size_t body_start = out->size();
  JsonOptions json_options;
  json_options.max_vector_size = options.max_vector_size;
  json_options.use_hex = options.hex;
  const bool non_finite =
      AppendFlatbufferToJson(out, schema, data, json_options);
  // JSON lines are for jq and scripts: nothing a JSON parser rejects. Only
  // hex integers and non-finite floats need quoting.
  if (options.hex || non_finite) {
    const std::string quoted =
        QuoteNonJsonNumbers(std::string_view(*out).substr(body_start));
    out->replace(body_start, std::string::npos, quoted);
  }
  out->push_back('}');
}

std::string FormatMessage(const Channel *channel,
                          const reflection::Schema *schema,
                          const Context &context, const PrintOptions &options) {
  std::string out;
  AppendMessage(&out, channel, schema, context, options);
  return out;
}

void RateCounter::Add(monotonic_clock::time_point sent_time, size_t bytes) {
  ++current_.messages;
  current_.bytes += bytes;
  if (last_sent_.has_value()) {
    const std::chrono::nanoseconds gap = sent_time - *last_sent_;
    current_.min_gap =
        current_.min_gap ? std::min(*current_.min_gap, gap) : gap;
    current_.max_gap =
        current_.max_gap ? std::max(*current_.max_gap, gap) : gap;
  }
  last_sent_ = sent_time;
}

RateCounter::Window RateCounter::TakeWindow(monotonic_clock::time_point now) {
  Window window = current_;
  window.duration = now - start_;
  current_ = Window();
  start_ = now;
  return window;
}

std::string FormatRate(std::string_view channel_label,
                       const RateCounter::Window &window) {
  std::string line = std::string(channel_label) + ": ";
  if (window.messages == 0 || window.duration.count() <= 0) {
    return line + "no messages";
  }
  const double seconds = std::chrono::duration<double>(window.duration).count();
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.1f msg/s",
                static_cast<double>(window.messages) / seconds);
  line += buffer;
  line += ", " + FormatBytes(static_cast<double>(window.bytes) / seconds) +
          "/s, avg " +
          FormatBytes(static_cast<double>(window.bytes) /
                      static_cast<double>(window.messages));
  if (window.min_gap.has_value()) {
    line += ", period min " + examples::FormatDuration(*window.min_gap) +
            " max " + examples::FormatDuration(*window.max_gap);
  }
  return line;
}

std::string FormatBytes(double bytes) {
  char buffer[32];
  if (bytes < 1e3) {
    std::snprintf(buffer, sizeof(buffer), "%.0f B", bytes);
  } else if (bytes < 1e6) {
    std::snprintf(buffer, sizeof(buffer), "%.2f KB", bytes / 1e3);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.2f MB", bytes / 1e6);
  }
  return buffer;
}

std::string ChannelLabel(const Channel *channel) {
  return channel->name()->str() + " " + channel->type()->str();
}

}  // namespace aos::cli
