#include "aos/tools/shm_queues.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace aos::cli {
namespace {

namespace fs = std::filesystem;

using ipc_lib::QueueSlotInfo;

// Splits "aos.examples.Ping.v12" into type and version; false if the name
// is not a queue file's.
bool ParseQueueFileName(std::string_view name, std::string *type,
                        std::string *version) {
  const size_t dot = name.rfind(".v");
  if (dot == std::string_view::npos || dot == 0 || dot + 2 >= name.size()) {
    return false;
  }
  const std::string_view digits = name.substr(dot + 2);
  if (!std::all_of(digits.begin(), digits.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  *type = std::string(name.substr(0, dot));
  *version = std::string(digits);
  return true;
}

size_t CountAlive(const std::vector<QueueSlotInfo> &slots) {
  return static_cast<size_t>(
      std::count_if(slots.begin(), slots.end(), [](const QueueSlotInfo &slot) {
        return slot.liveness == QueueSlotInfo::Liveness::kAlive;
      }));
}

size_t CountUsed(const std::vector<QueueSlotInfo> &slots) {
  return static_cast<size_t>(
      std::count_if(slots.begin(), slots.end(), [](const QueueSlotInfo &slot) {
        return slot.liveness != QueueSlotInfo::Liveness::kUnowned;
      }));
}

std::string SlotColumn(const std::vector<QueueSlotInfo> &slots) {
  return std::to_string(CountAlive(slots)) + "/" + std::to_string(slots.size());
}

std::string PidList(const std::vector<pid_t> &pids) {
  std::string list;
  for (pid_t pid : pids) {
    if (!list.empty()) list += ", ";
    list += std::to_string(pid);
  }
  return list;
}

}  // namespace

Result<std::vector<QueueFile>> ListQueueFiles(std::string_view shm_base) {
  std::error_code error;
  const fs::path base(shm_base);
  if (!fs::is_directory(base, error)) {
    return MakeError("shm base '" + std::string(shm_base) +
                     "' is not a directory (pass --shm_base=<dir>)");
  }
  std::vector<QueueFile> files;
  fs::recursive_directory_iterator it(base, error), end;
  if (error) {
    return MakeError("cannot read shm base '" + std::string(shm_base) +
                     "': " + error.message());
  }
  for (; it != end; it.increment(error)) {
    if (error) {
      return MakeError("cannot read under '" + std::string(shm_base) +
                       "': " + error.message());
    }
    if (!it->is_regular_file(error)) continue;
    QueueFile file;
    if (!ParseQueueFileName(it->path().filename().string(), &file.type,
                            &file.version)) {
      continue;
    }
    file.path = it->path().string();
    file.channel_name =
        "/" + it->path().parent_path().lexically_relative(base).string();
    if (file.channel_name == "/.") file.channel_name = "/";
    files.push_back(std::move(file));
  }
  std::sort(files.begin(), files.end(),
            [](const QueueFile &a, const QueueFile &b) {
              return std::tie(a.channel_name, a.type, a.version) <
                     std::tie(b.channel_name, b.type, b.version);
            });
  return files;
}

Result<std::vector<QueueFile>> FindQueueFiles(std::string_view shm_base,
                                              std::string_view channel_name,
                                              std::string_view type_pattern) {
  Result<std::vector<QueueFile>> all = ListQueueFiles(shm_base);
  if (!all) return all;
  std::vector<QueueFile> on_name;
  for (QueueFile &file : *all) {
    if (file.channel_name == channel_name) on_name.push_back(std::move(file));
  }
  if (on_name.empty()) {
    return MakeError("no queue file for channel " + std::string(channel_name) +
                     " under " + std::string(shm_base) +
                     " (run `aos_shm list`)");
  }
  if (type_pattern.empty()) return on_name;
  std::vector<QueueFile> exact, partial;
  for (const QueueFile &file : on_name) {
    if (file.type == type_pattern) exact.push_back(file);
    if (file.type.find(type_pattern) != std::string::npos) {
      partial.push_back(file);
    }
  }
  if (!exact.empty()) return exact;
  if (partial.empty()) {
    std::string types;
    for (const QueueFile &file : on_name) {
      if (!types.empty()) types += ", ";
      types += file.type;
    }
    return MakeError("no queue of type matching '" + std::string(type_pattern) +
                     "' on " + std::string(channel_name) +
                     " (types there: " + types + ")");
  }
  return partial;
}

std::vector<pid_t> ProcessesMapping(std::string_view path) {
  std::error_code error;
  fs::path target = fs::canonical(fs::path(path), error);
  if (error) target = fs::path(path);
  const std::string target_string = target.string();
  std::vector<pid_t> pids;
  const pid_t self = getpid();
  for (fs::directory_iterator it("/proc", error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
          return c >= '0' && c <= '9';
        })) {
      continue;
    }
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == self) continue;
    std::ifstream maps(it->path() / "maps");
    std::string line;
    while (std::getline(maps, line)) {
      // The path is the last field; it may contain spaces, so match the end.
      if (line.size() >= target_string.size() &&
          line.compare(line.size() - target_string.size(), target_string.size(),
                       target_string) == 0 &&
          line[line.size() - target_string.size() - 1] == ' ') {
        pids.push_back(pid);
        break;
      }
    }
  }
  return pids;
}

std::string InUseReason(const QueueFile &file) {
  Result<ipc_lib::QueueFileInfo> info = ipc_lib::InspectQueueFile(file.path);
  if (info) {
    if (info->setup_lock_held) {
      return "its setup lock is held by a live process";
    }
    const struct {
      const char *kind;
      const std::vector<QueueSlotInfo> *slots;
    } kinds[] = {{"sender", &info->senders},
                 {"watcher", &info->watchers},
                 {"pinner", &info->pinners}};
    for (const auto &kind : kinds) {
      for (const QueueSlotInfo &slot : *kind.slots) {
        if (slot.liveness == QueueSlotInfo::Liveness::kAlive) {
          return std::string(kind.kind) + " " + std::to_string(slot.index) +
                 " is owned by live process " + std::to_string(slot.pid);
        }
      }
    }
  }
  const std::vector<pid_t> pids = ProcessesMapping(file.path);
  if (!pids.empty()) {
    return "it is mapped by running process " + PidList(pids);
  }
  return "";
}

Result<void> RemoveStaleQueue(std::string_view shm_base,
                              const QueueFile &file) {
  const std::string reason = InUseReason(file);
  if (!reason.empty()) {
    return MakeError("refusing to remove " + file.channel_name + " " +
                     file.type + " (" + file.path + "): " + reason);
  }
  std::error_code error;
  if (!fs::remove(file.path, error) || error) {
    return MakeError("cannot remove " + file.path + ": " +
                     (error ? error.message() : "it is gone"));
  }
  // Directories made for this channel, if now empty; never the base.
  const fs::path base = fs::path(shm_base).lexically_normal();
  for (fs::path dir = fs::path(file.path).parent_path();
       dir.lexically_normal() != base && dir.has_relative_path();
       dir = dir.parent_path()) {
    if (!fs::is_empty(dir, error) || error) break;
    fs::remove(dir, error);
    if (error) break;
  }
  return {};
}

std::string QueueSummaryHeader() {
  char buffer[256];
  std::snprintf(buffer, sizeof(buffer),
                "%-24s %-28s %10s %6s %6s %8s %8s %8s  %s", "CHANNEL", "TYPE",
                "BYTES", "QUEUE", "MAXMSG", "SENDERS", "WATCHERS", "PINNERS",
                "STATE");
  return buffer;
}

std::string FormatQueueSummary(const QueueFile &file) {
  Result<ipc_lib::QueueFileInfo> info = ipc_lib::InspectQueueFile(file.path);
  char buffer[512];
  if (!info) {
    std::snprintf(buffer, sizeof(buffer), "%-24s %-28s  invalid: %s",
                  file.channel_name.c_str(), file.type.c_str(),
                  info.error().message().c_str());
    return buffer;
  }
  const std::string reason = InUseReason(file);
  std::string state = reason.empty() ? "stale" : "in use";
  const size_t dead = (CountUsed(info->senders) - CountAlive(info->senders)) +
                      (CountUsed(info->watchers) - CountAlive(info->watchers)) +
                      (CountUsed(info->pinners) - CountAlive(info->pinners));
  if (dead > 0) state += " (" + std::to_string(dead) + " dead owners)";
  if (!info->initialized) state += " (not initialized)";
  std::snprintf(
      buffer, sizeof(buffer), "%-24s %-28s %10zu %6zu %6zu %8s %8s %8s  %s",
      file.channel_name.c_str(), file.type.c_str(), info->file_size,
      info->config.queue_size, info->config.message_data_size,
      SlotColumn(info->senders).c_str(), SlotColumn(info->watchers).c_str(),
      SlotColumn(info->pinners).c_str(), state.c_str());
  return buffer;
}

Result<std::string> DescribeQueue(const QueueFile &file) {
  Result<ipc_lib::QueueFileInfo> info = ipc_lib::InspectQueueFile(file.path);
  if (!info) {
    return MakeError("cannot read " + file.path + ": " +
                     info.error().message());
  }
  std::ostringstream out;
  out << file.channel_name << " " << file.type << "\n" << *info;
  const std::vector<pid_t> pids = ProcessesMapping(file.path);
  out << "  mapped by: " << (pids.empty() ? "no process" : PidList(pids))
      << "\n";
  return out.str();
}

}  // namespace aos::cli
