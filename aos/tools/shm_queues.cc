#include "aos/tools/shm_queues.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
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
  if (partial.size() > 1) {
    // As aos_dump: a substring must pick one type.
    std::string types;
    for (const QueueFile &file : partial) {
      if (!types.empty()) types += ", ";
      types += file.type;
    }
    return MakeError("type '" + std::string(type_pattern) + "' on " +
                     std::string(channel_name) + " is ambiguous: it matches " +
                     types + "; give the full type");
  }
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

std::string ApplicationName(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline",
                   std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
  if (cmdline.empty()) return "";
  std::vector<std::string> args;
  for (size_t start = 0; start < cmdline.size();) {
    size_t end = cmdline.find('\0', start);
    if (end == std::string::npos) end = cmdline.size();
    args.push_back(cmdline.substr(start, end - start));
    start = end + 1;
  }
  // --application_name overrides the program's name, as in the event loop.
  for (size_t i = 1; i < args.size(); ++i) {
    for (std::string_view prefix :
         {"--application_name=", "-application_name="}) {
      if (args[i].starts_with(prefix)) return args[i].substr(prefix.size());
    }
  }
  return fs::path(args[0]).filename().string();
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
  // The applications behind the pids above, so people need not look them
  // up: every live slot owner and every process mapping the file.
  std::set<pid_t> owners(pids.begin(), pids.end());
  for (const std::vector<ipc_lib::QueueSlotInfo> *slots :
       {&info->senders, &info->watchers, &info->pinners}) {
    for (const ipc_lib::QueueSlotInfo &slot : *slots) {
      if (slot.liveness == ipc_lib::QueueSlotInfo::Liveness::kAlive) {
        owners.insert(slot.pid);
      }
    }
  }
  if (!owners.empty()) {
    out << "  applications:";
    for (pid_t pid : owners) {
      const std::string name = ApplicationName(pid);
      out << " " << pid << " " << (name.empty() ? "(unknown)" : name);
      if (pid != *owners.rbegin()) out << ",";
    }
    out << "\n";
  }
  return out.str();
}

std::string DescribeApplications(const std::vector<QueueFile> &files) {
  struct Application {
    std::set<std::string> sends, watches, pins, maps;
  };
  std::map<pid_t, Application> applications;
  for (const QueueFile &file : files) {
    const std::string label = file.channel_name + " " + file.type;
    Result<ipc_lib::QueueFileInfo> info = ipc_lib::InspectQueueFile(file.path);
    if (info) {
      auto add = [&](const std::vector<ipc_lib::QueueSlotInfo> &slots,
                     std::set<std::string> Application::*role) {
        for (const ipc_lib::QueueSlotInfo &slot : slots) {
          if (slot.liveness == ipc_lib::QueueSlotInfo::Liveness::kAlive) {
            (applications[slot.pid].*role).insert(label);
          }
        }
      };
      add(info->senders, &Application::sends);
      add(info->watchers, &Application::watches);
      add(info->pinners, &Application::pins);
    }
    // Fetchers of COPY channels hold no slot; the mapping shows them.
    for (pid_t pid : ProcessesMapping(file.path)) {
      applications[pid].maps.insert(label);
    }
  }
  std::ostringstream out;
  for (auto &[pid, application] : applications) {
    const std::string name = ApplicationName(pid);
    out << pid << " " << (name.empty() ? "(unknown)" : name) << "\n";
    for (const auto &[what, channels] :
         {std::pair<const char *, const std::set<std::string> *>{
              "sends", &application.sends},
          {"watches", &application.watches},
          {"pins", &application.pins}}) {
      for (const std::string &channel : *channels) {
        out << "  " << what << " " << channel << "\n";
        application.maps.erase(channel);
      }
    }
    for (const std::string &channel : application.maps) {
      out << "  maps " << channel << "\n";
    }
  }
  return out.str();
}

}  // namespace aos::cli
