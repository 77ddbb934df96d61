// log_cat: prints the messages of a log as JSON lines, in time order.
//
//   log_cat /media/logs/3/                      every message
//   log_cat --name=/test --fetch /media/logs/3/ one channel, with its state
//                                               from before the start
//   log_cat --print_parts_only logs/            the files and their headers

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "aos/events/logging/log_files.h"
#include "aos/events/logging/str_cat.h"
#include "aos/tools/aos_cli_utils.h"
#include "gflags/gflags.h"

DEFINE_string(name, "", "Print only the channel with this name.");
DEFINE_string(type, "",
              "Print only channels whose type contains this (an exact type "
              "also works).");
DEFINE_string(start_time, "",
              "Print only messages sent at or after this realtime, as AOS "
              "prints times: 2026-11-26_07-13-45.000000000");
DEFINE_string(end_time, "",
              "Print only messages sent at or before this realtime.");
DEFINE_bool(fetch, false,
            "Also print the messages logged from before the log started (the "
            "state the logger fetched at its start).");
DEFINE_bool(print_parts_only, false,
            "Print the files of the log and what their headers say, not the "
            "messages.");
DEFINE_bool(raw, false,
            "Print each message's payload as hex instead of JSON (for "
            "channels without a schema, or damaged messages).");
DEFINE_bool(json, true,
            "One JSON object per line; false prints like aos_dump: "
            "realtime (monotonic) /name type: {json}.");
DEFINE_int64(count, -1, "Stop after this many messages (-1: no limit).");

namespace aos::logger {
namespace {

// Output is written in blocks of about this many bytes.
constexpr size_t kOutputBlock = 1 << 20;

const cli::ToolHelp kHelp = {
    .name = "log_cat",
    .usage =
        "log_cat [flags] <log files and/or folders>...\n"
        "Prints the messages of a log as JSON lines, in time order "
        "(realtime send time). Damaged or truncated files are read up "
        "to the damage, with a warning on stderr.",
    .flags = {"name", "type", "start_time", "end_time", "fetch",
              "print_parts_only", "raw", "json", "count"},
};

std::string_view NodeName(const LogFileHeader &header) {
  return header.node() == nullptr || header.node()->name() == nullptr
             ? "(single node)"
             : header.node()->name()->string_view();
}

std::string Kind(const LogFileHeader &header) {
  if (header.data_stored() == nullptr || header.data_stored()->size() == 0) {
    return "DATA";
  }
  std::string kinds;
  for (StoredDataType kind : *header.data_stored()) {
    if (!kinds.empty()) kinds += ",";
    kinds += EnumNameStoredDataType(kind);
  }
  return kinds;
}

void AppendInteger(std::string *out, int64_t value) {
  char buffer[24];
  out->append(buffer,
              std::to_chars(buffer, buffer + sizeof(buffer), value).ptr);
}

// The --raw line of a message: its header fields and payload in hex, written
// in place (this runs per message).
void AppendRaw(std::string *out, const Channel *channel,
               const MessageHeader &message) {
  using namespace std::string_view_literals;
  static constexpr char kHex[] = "0123456789abcdef";
  out->append("{\"name\": \""sv);
  out->append(channel->name()->string_view());
  out->append("\", \"type\": \""sv);
  out->append(channel->type()->string_view());
  out->append("\", \"monotonic_event_time\": "sv);
  AppendInteger(out, message.monotonic_sent_time());
  out->append(", \"realtime_event_time\": "sv);
  AppendInteger(out, message.realtime_sent_time());
  out->append(", \"queue_index\": "sv);
  AppendInteger(out, message.queue_index());
  out->append(", \"size\": "sv);
  const size_t size = message.data()->size();
  AppendInteger(out, size);
  out->append(", \"hex\": \""sv);
  const uint8_t *data = message.data()->data();
  out->resize_and_overwrite(out->size() + 2 * size,
                            [&](char *buffer, size_t length) {
                              char *p = buffer + length - 2 * size;
                              for (size_t i = 0; i < size; ++i) {
                                *p++ = kHex[data[i] >> 4];
                                *p++ = kHex[data[i] & 0xf];
                              }
                              return length;
                            });
  out->append("\"}\n"sv);
}

Result<std::optional<realtime_clock::time_point>> ParseTime(
    std::string_view flag, std::string_view value) {
  if (value.empty()) return std::nullopt;
  std::optional<realtime_clock::time_point> time =
      realtime_clock::FromString(value);
  if (!time) {
    return MakeError(StrCat("--", flag, "=", value,
                            " is not a time; write it as AOS prints realtime "
                            "(2026-11-26_07-13-45.000000000)"));
  }
  return time;
}

int Main(int argc, char **argv) {
  cli::InitTool(&argc, &argv, kHelp);
  const std::vector<std::string> paths(argv + 1, argv + argc);
  Result<std::optional<realtime_clock::time_point>> start =
      ParseTime("start_time", FLAGS_start_time);
  Result<std::optional<realtime_clock::time_point>> end =
      ParseTime("end_time", FLAGS_end_time);
  if (!start || !end) {
    cli::PrintError("log_cat", (!start ? start : end).error().message());
    return 1;
  }
  Result<LogFiles> log = OpenLogFiles(paths);
  if (!log) {
    cli::PrintError("log_cat", log.error().message());
    return 1;
  }

  if (FLAGS_print_parts_only) {
    for (const auto &[sha256, config] : log->configs) {
      std::cout << config.path << ": configuration " << sha256 << "\n";
    }
    for (const LogFiles::Part &part : log->parts) {
      const LogFileHeader &header = part.header();
      std::cout << part.path << ": node " << NodeName(header) << ", "
                << Kind(header) << ", log event "
                << (header.log_event_uuid() ? header.log_event_uuid()->str()
                                            : "?")
                << ", parts "
                << (header.parts_uuid() ? header.parts_uuid()->str() : "?")
                << " #" << header.parts_index() << ", boot "
                << (header.source_node_boot_uuid()
                        ? header.source_node_boot_uuid()->str()
                        : "?")
                << ", start "
                << realtime_clock::time_point(
                       std::chrono::nanoseconds(header.realtime_start_time()))
                << "\n";
    }
    return 0;
  }

  // The next message of each part, merged by realtime send time.
  struct Cursor {
    LogFiles::Part *part;
    const Configuration *config;
    const MessageHeader *message = nullptr;
  };
  std::vector<Cursor> cursors;
  for (LogFiles::Part &part : log->parts) {
    cursors.push_back(Cursor{&part, log->ConfigurationOf(part)});
  }
  const auto later = [](const Cursor *a, const Cursor *b) {
    return std::make_pair(a->message->realtime_sent_time(),
                          a->message->monotonic_sent_time()) >
           std::make_pair(b->message->realtime_sent_time(),
                          b->message->monotonic_sent_time());
  };
  std::priority_queue<Cursor *, std::vector<Cursor *>, decltype(later)> heap(
      later);
  // Reads the cursor's next message that passes the filters.
  const auto advance = [&](Cursor *cursor) {
    while ((cursor->message = cursor->part->reader->ReadMessage()) != nullptr) {
      const MessageHeader &message = *cursor->message;
      if (message.data() == nullptr) continue;  // A delivery timestamp.
      if (cursor->config->channels() == nullptr ||
          message.channel_index() >= cursor->config->channels()->size()) {
        std::cerr << "log_cat: " << cursor->part->path
                  << ": a message names channel " << message.channel_index()
                  << ", which the log's configuration does not have; "
                     "skipped\n";
        continue;
      }
      const Channel *channel =
          cursor->config->channels()->Get(message.channel_index());
      if (!FLAGS_name.empty() && channel->name()->string_view() != FLAGS_name) {
        continue;
      }
      if (!FLAGS_type.empty() && channel->type()->string_view().find(
                                     FLAGS_type) == std::string_view::npos) {
        continue;
      }
      if (!FLAGS_fetch && message.monotonic_sent_time() <
                              cursor->part->header().monotonic_start_time()) {
        continue;
      }
      const realtime_clock::time_point sent(
          std::chrono::nanoseconds(message.realtime_sent_time()));
      if (*start && sent < **start) continue;
      if (*end && sent > **end) continue;
      heap.push(cursor);
      return;
    }
  };
  for (Cursor &cursor : cursors) advance(&cursor);

  cli::PrintOptions options;
  options.json = FLAGS_json;
  options.max_vector_size = std::numeric_limits<size_t>::max();
  // Lines are collected and written in large blocks: a log has millions of
  // small messages, and iostream (synced with stdio) costs more per line
  // than formatting one.
  std::string out;
  out.reserve(2 * kOutputBlock);
  const auto write_out = [&out]() {
    if (!out.empty() &&
        fwrite(out.data(), 1, out.size(), stdout) != out.size()) {
      std::cerr << "log_cat: writing the output failed\n";
      exit(1);
    }
    out.clear();
  };
  // Each channel's schema, looked up once.
  std::map<const Channel *, Result<const reflection::Schema *>> schemas;
  int64_t printed = 0;
  while (!heap.empty() && (FLAGS_count < 0 || printed < FLAGS_count)) {
    Cursor *cursor = heap.top();
    heap.pop();
    const MessageHeader &message = *cursor->message;
    const Channel *channel =
        cursor->config->channels()->Get(message.channel_index());
    Context context;
    context.monotonic_event_time = monotonic_clock::time_point(
        std::chrono::nanoseconds(message.monotonic_sent_time()));
    context.realtime_event_time = realtime_clock::time_point(
        std::chrono::nanoseconds(message.realtime_sent_time()));
    context.monotonic_remote_time =
        message.monotonic_remote_time() ==
                monotonic_clock::min_time.time_since_epoch().count()
            ? context.monotonic_event_time
            : monotonic_clock::time_point(
                  std::chrono::nanoseconds(message.monotonic_remote_time()));
    context.realtime_remote_time = realtime_clock::time_point(
        std::chrono::nanoseconds(message.realtime_remote_time()));
    context.queue_index = message.queue_index();
    context.data = message.data()->data();
    context.size = message.data()->size();
    const reflection::Schema *schema = nullptr;
    if (!FLAGS_raw) {
      auto found = schemas.find(channel);
      if (found == schemas.end()) {
        found =
            schemas
                .emplace(channel, cli::ChannelSchema(cursor->config, channel))
                .first;
      }
      if (found->second) schema = *found->second;
    }
    if (schema == nullptr) {
      AppendRaw(&out, channel, message);
    } else {
      cli::AppendMessage(&out, channel, schema, context, options);
      out.push_back('\n');
    }
    if (out.size() >= kOutputBlock) write_out();
    ++printed;
    advance(cursor);
  }
  write_out();
  if (fflush(stdout) != 0) {
    std::cerr << "log_cat: writing the output failed\n";
    return 1;
  }
  for (const LogFiles::Part &part : log->parts) {
    if (!part.reader->status().ok()) {
      std::cerr << "log_cat: warning: " << part.reader->status().message
                << "\n";
    }
  }
  return 0;
}

}  // namespace
}  // namespace aos::logger

int main(int argc, char **argv) { return aos::logger::Main(argc, argv); }
