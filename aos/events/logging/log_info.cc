// log_info: what a log holds, like `ros2 bag info` and more: files, nodes,
// boots, start, end, duration, size on disk and compression ratio, and per
// channel its type, message count, average rate, bytes and the messages the
// logger lost (gaps in the queue indices it logged).
//
//   log_info /media/logs/3/

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "aos/events/logging/log_files.h"
#include "aos/events/logging/str_cat.h"
#include "aos/tools/aos_cli_utils.h"
#include "gflags/gflags.h"

namespace aos::logger {
namespace {

const cli::ToolHelp kHelp = {
    .name = "log_info",
    .usage =
        "log_info <log files and/or folders>...\n"
        "Summarizes a log: nodes, boots, start, end, duration, size on "
        "disk, compression, and per channel: type, messages, average "
        "rate, bytes and messages lost by the logger.",
    .flags = {},
};

struct ChannelInfo {
  std::string node;
  std::string type;
  uint64_t messages = 0;
  uint64_t bytes = 0;
  uint64_t lost = 0;
  uint64_t timestamps = 0;
  int64_t first_time = std::numeric_limits<int64_t>::max();
  int64_t last_time = std::numeric_limits<int64_t>::min();
  // Per (parts sequence, boot): the next expected queue index.
  std::map<std::string, uint32_t> next_queue_index;
};

std::string Seconds(int64_t nanoseconds) {
  char text[32];
  snprintf(text, sizeof(text), "%.3f s",
           static_cast<double>(nanoseconds) / 1e9);
  return text;
}

std::string Realtime(int64_t nanoseconds) {
  return StrCat(
      realtime_clock::time_point(std::chrono::nanoseconds(nanoseconds)));
}

int Main(int argc, char **argv) {
  cli::InitTool(&argc, &argv, kHelp);
  Result<LogFiles> log =
      OpenLogFiles(std::vector<std::string>(argv + 1, argv + argc));
  if (!log) {
    cli::PrintError("log_info", log.error().message());
    return 1;
  }

  uint64_t file_bytes = 0;
  uint64_t stream_bytes = 0;
  std::set<std::string> log_events;
  std::map<std::string, std::set<std::string>> boots;  // node -> boots
  int64_t start = std::numeric_limits<int64_t>::max();
  int64_t end = std::numeric_limits<int64_t>::min();
  int64_t realtime_start = 0;
  std::map<std::string, ChannelInfo> channels;  // "name type@node"
  std::vector<std::string> problems;

  for (auto &[sha256, config] : log->configs) {
    file_bytes += config.file_size;
    stream_bytes += config.reader->header_span().size();
  }
  for (LogFiles::Part &part : log->parts) {
    const LogFileHeader &header = part.header();
    const Configuration *config = log->ConfigurationOf(part);
    file_bytes += part.file_size;
    stream_bytes += part.reader->header_span().size();
    const std::string node =
        header.node() != nullptr && header.node()->name() != nullptr
            ? header.node()->name()->str()
            : "";
    if (header.log_event_uuid())
      log_events.insert(header.log_event_uuid()->str());
    if (header.source_node_boot_uuid() &&
        header.source_node_boot_uuid()->size() > 0) {
      boots[node].insert(header.source_node_boot_uuid()->str());
    }
    const bool logger_node_data =
        header.logger_node() == nullptr ||
        (header.node() != nullptr && header.logger_node()->name() != nullptr &&
         header.node()->name() != nullptr &&
         header.logger_node()->name()->string_view() ==
             header.node()->name()->string_view());
    if (logger_node_data && header.monotonic_start_time() < start) {
      start = header.monotonic_start_time();
      realtime_start = header.realtime_start_time();
    }
    const std::string sequence = StrCat(
        header.parts_uuid() ? header.parts_uuid()->str() : part.path,
        header.source_node_boot_uuid() ? header.source_node_boot_uuid()->str()
                                       : "");
    while (const MessageHeader *message = part.reader->ReadMessage()) {
      stream_bytes += part.reader->message_span().size();
      if (config->channels() == nullptr ||
          message->channel_index() >= config->channels()->size()) {
        problems.push_back(StrCat(part.path, ": a message names channel ",
                                  message->channel_index(),
                                  ", which the configuration does not have"));
        continue;
      }
      const Channel *channel =
          config->channels()->Get(message->channel_index());
      const std::string key =
          StrCat(channel->name()->string_view(), " ",
                 channel->type()->string_view(), node.empty() ? "" : "@", node);
      ChannelInfo &info = channels[key];
      info.type = channel->type()->str();
      info.node = node;
      if (message->data() == nullptr) {
        ++info.timestamps;
        continue;
      }
      ++info.messages;
      info.bytes += message->data()->size();
      info.first_time =
          std::min(info.first_time, message->monotonic_sent_time());
      info.last_time = std::max(info.last_time, message->monotonic_sent_time());
      if (logger_node_data) {
        end = std::max(end, message->monotonic_sent_time());
      }
      auto [it, inserted] =
          info.next_queue_index.emplace(sequence, message->queue_index() + 1);
      if (!inserted) {
        if (message->queue_index() != it->second) {
          info.lost +=
              static_cast<uint32_t>(message->queue_index() - it->second);
        }
        it->second = message->queue_index() + 1;
      }
    }
    if (!part.reader->status().ok()) {
      problems.push_back(part.reader->status().message);
    }
  }
  if (end < start) end = start;

  std::cout << "Files:        " << log->parts.size() << " parts, "
            << log->configs.size() << " configuration files\n";
  std::cout << "Size:         "
            << cli::FormatBytes(static_cast<double>(file_bytes)) << " on disk, "
            << cli::FormatBytes(static_cast<double>(stream_bytes))
            << " decoded";
  if (file_bytes > 0) {
    char ratio[32];
    snprintf(
        ratio, sizeof(ratio), "%.2f",
        static_cast<double>(stream_bytes) / static_cast<double>(file_bytes));
    std::cout << " (compression ratio " << ratio << ")";
  }
  std::cout << "\n";
  std::cout << "Log events:   " << log_events.size() << "\n";
  std::cout << "Nodes:        ";
  if (boots.empty()) std::cout << "(none)";
  bool first = true;
  for (const auto &[node, node_boots] : boots) {
    std::cout << (first ? "" : ", ") << (node.empty() ? "(single node)" : node)
              << " (" << node_boots.size()
              << (node_boots.size() == 1 ? " boot)" : " boots)");
    first = false;
  }
  std::cout << "\n";
  if (start != std::numeric_limits<int64_t>::max()) {
    std::cout << "Start:        " << Realtime(realtime_start) << " ("
              << monotonic_clock::time_point(std::chrono::nanoseconds(start))
              << ")\n";
    std::cout << "End:          " << Realtime(realtime_start + (end - start))
              << " ("
              << monotonic_clock::time_point(std::chrono::nanoseconds(end))
              << ")\n";
    std::cout << "Duration:     " << Seconds(end - start) << "\n";
  }
  uint64_t messages = 0;
  uint64_t lost = 0;
  for (const auto &[key, info] : channels) {
    messages += info.messages;
    lost += info.lost;
  }
  std::cout << "Messages:     " << messages << " (" << lost
            << " lost by the logger)\n";
  std::cout << "Channels:     " << channels.size() << "\n";
  for (const auto &[key, info] : channels) {
    const std::string name = key.substr(0, key.find(' '));
    char rate[32] = "-";
    if (info.messages > 1 && info.last_time > info.first_time) {
      snprintf(rate, sizeof(rate), "%.1f/s",
               static_cast<double>(info.messages - 1) * 1e9 /
                   static_cast<double>(info.last_time - info.first_time));
    }
    std::cout << "  " << name << " " << info.type
              << (info.node.empty() ? "" : " (" + info.node + ")")
              << "  messages " << info.messages << "  rate " << rate
              << "  bytes " << cli::FormatBytes(static_cast<double>(info.bytes))
              << "  lost " << info.lost;
    if (info.timestamps > 0) {
      std::cout << "  delivery timestamps " << info.timestamps;
    }
    std::cout << "\n";
  }
  if (!problems.empty()) {
    std::cout << "Problems:\n";
    for (const std::string &problem : problems) {
      std::cout << "  " << problem << "\n";
    }
  }
  return 0;
}

}  // namespace
}  // namespace aos::logger

int main(int argc, char **argv) { return aos::logger::Main(argc, argv); }
