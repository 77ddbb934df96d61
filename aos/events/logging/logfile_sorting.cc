#include "aos/events/logging/logfile_sorting.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>

#include "aos/events/logging/part_format.h"
#include "aos/events/logging/part_reader.h"
#include "glog/logging.h"

namespace aos::logger {
namespace {

std::string String(const flatbuffers::String *s) {
  return s == nullptr ? std::string() : s->str();
}

std::string NodeName(const Node *node) {
  return node == nullptr || node->name() == nullptr ? std::string()
                                                    : node->name()->str();
}

// A standalone copy of a Configuration embedded in a header.
std::shared_ptr<const FlatbufferVector<Configuration>> CopyConfiguration(
    const Configuration *config) {
  std::unique_ptr<ConfigurationT> object(config->UnPack());
  flatbuffers::FlatBufferBuilder fbb;
  fbb.ForceDefaults(true);
  fbb.Finish(Configuration::Pack(fbb, object.get()));
  return std::make_shared<const FlatbufferVector<Configuration>>(
      std::vector<uint8_t>(fbb.GetBufferPointer(),
                           fbb.GetBufferPointer() + fbb.GetSize()));
}

bool SameConfiguration(const FlatbufferVector<Configuration> &a,
                       const FlatbufferVector<Configuration> &b) {
  return std::ranges::equal(a.span(), b.span());
}

// What SortParts needs from one data part's header.
struct PartInfo {
  std::string path;
  int parts_index;
  LogParts parts;  // This part's view of its sequence (parts left empty).
  std::string log_start_uuid;
  std::string name;
  std::string configuration_sha256;
  std::shared_ptr<const FlatbufferVector<Configuration>> config;
};

std::string ListFiles(const std::vector<const PartInfo *> &parts) {
  std::string out;
  for (const PartInfo *part : parts) {
    out += (out.empty() ? "" : ", ") + part->path + " (part " +
           std::to_string(part->parts_index) + ")";
  }
  return out;
}

// The node names boot_uuids are indexed by ("" for a single-node log).
std::vector<std::string> NodeNames(const Configuration &config) {
  if (config.nodes() == nullptr || config.nodes()->size() == 0) return {""};
  std::vector<std::string> names;
  for (const Node *node : *config.nodes()) names.push_back(NodeName(node));
  return names;
}

// Orders every node's boots from `sequences` (each in parts_index order): a
// later part naming another boot of a node than an earlier one says which
// came first.
std::shared_ptr<const Boots> OrderBoots(
    const std::vector<std::vector<const PartInfo *>> &sequences) {
  auto boots = std::make_shared<Boots>();
  // node -> boot -> the boots seen after it in some sequence.
  std::map<std::string, std::map<std::string, std::set<std::string>>> after;
  for (const std::vector<const PartInfo *> &sequence : sequences) {
    const std::vector<std::string> names =
        NodeNames(sequence.front()->config->message());
    std::map<std::string, std::string> last;  // node -> boot
    const auto see = [&](const std::string &node, const std::string &boot) {
      if (boot.empty()) return;
      after[node][boot];
      auto [it, inserted] = last.try_emplace(node, boot);
      if (!inserted && it->second != boot) {
        after[node][it->second].insert(boot);
        it->second = boot;
      }
    };
    for (const PartInfo *part : sequence) {
      see(part->parts.node, part->parts.source_boot_uuid);
      see(part->parts.logger_node, part->parts.logger_boot_uuid);
      for (size_t k = 0; k < part->parts.boot_uuids.size() && k < names.size();
           ++k) {
        see(names[k], part->parts.boot_uuids[k]);
      }
    }
  }
  for (const auto &[node, edges] : after) {
    // Kahn's algorithm; exactly one candidate at each step, or the order is
    // not known.
    std::map<std::string, int> incoming;
    for (const auto &[boot, next] : edges) {
      incoming.try_emplace(boot, 0);
      for (const std::string &b : next) ++incoming[b];
    }
    std::vector<std::string> &order = boots->boots[node];
    while (!incoming.empty()) {
      std::vector<std::string> ready;
      for (const auto &[boot, count] : incoming) {
        if (count == 0) ready.push_back(boot);
      }
      if (ready.size() != 1 && boots->error.empty()) {
        std::string list;
        for (const auto &[boot, count] : incoming) list += " " + boot;
        boots->error =
            "cannot order the boots of node '" + node + "' (" + list.substr(1) +
            "): " +
            (ready.empty()
                 ? std::string("the parts contradict each other about which "
                               "came first")
                 : std::string("no part of the log saw the node change "
                               "from one to the other (give the logs of "
                               "every node, including one that logged "
                               "across the reboot)"));
      }
      if (ready.empty()) break;
      const std::string boot = ready.front();
      order.push_back(boot);
      incoming.erase(boot);
      for (const std::string &b : edges.at(boot)) --incoming[b];
    }
  }
  return boots;
}

}  // namespace

int Boots::BootIndex(const std::string &node,
                     const std::string &boot_uuid) const {
  auto it = boots.find(node);
  if (it == boots.end()) return -1;
  auto found = std::ranges::find(it->second, boot_uuid);
  return found == it->second.end()
             ? -1
             : static_cast<int>(found - it->second.begin());
}

Result<std::vector<std::string>> FindLogs(
    const std::vector<std::string> &paths) {
  std::vector<std::string> files;
  for (const std::string &path : paths) {
    std::error_code error;
    if (std::filesystem::is_directory(path, error)) {
      std::vector<std::string> found;
      for (auto it = std::filesystem::recursive_directory_iterator(
               path, std::filesystem::directory_options::skip_permission_denied,
               error);
           !error && it != std::filesystem::recursive_directory_iterator();
           it.increment(error)) {
        if (it->is_regular_file() && IsPartFileName(it->path().string())) {
          found.push_back(it->path().string());
        }
      }
      if (error) {
        return MakeError("cannot list log folder '" + path +
                         "': " + error.message());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (std::filesystem::exists(path, error)) {
      files.push_back(path);
    } else {
      return MakeError("log file or folder '" + path + "' does not exist");
    }
  }
  if (files.empty()) {
    std::string given;
    for (const std::string &path : paths) given += " " + path;
    return MakeError(
        "no log part files (*.bfbs, *.bfbs.zst) found in:" +
        (given.empty() ? std::string(" (no paths given)") : given));
  }
  return files;
}

Result<std::vector<std::string>> FindLogs(int argc, char **argv) {
  return FindLogs(std::vector<std::string>(argv + 1, argv + argc));
}

Result<std::vector<LogFile>> SortParts(
    const std::vector<std::string> &part_files) {
  // Separate config files, by the sha256 data parts name them with.
  std::map<std::string, std::shared_ptr<const FlatbufferVector<Configuration>>>
      configs;
  std::vector<PartInfo> infos;
  for (const std::string &path : part_files) {
    Result<std::unique_ptr<PartReader>> reader = PartReader::Open(path);
    if (!reader) return std::unexpected(reader.error());
    const LogFileHeader &header = (*reader)->header();
    if (header.parts_uuid() == nullptr) {
      if (header.configuration() == nullptr) {
        return MakeError("'" + path +
                         "' is a log header with neither parts_uuid nor "
                         "configuration: not a part of any log");
      }
      configs[Sha256Hex((*reader)->header_span())] =
          CopyConfiguration(header.configuration());
      continue;
    }
    PartInfo info;
    info.path = path;
    info.parts_index = header.parts_index();
    info.parts.node = NodeName(header.node());
    info.parts.logger_node = NodeName(header.logger_node());
    info.parts.log_event_uuid = String(header.log_event_uuid());
    info.parts.parts_uuid = String(header.parts_uuid());
    info.parts.source_boot_uuid = String(header.source_node_boot_uuid());
    info.parts.logger_boot_uuid = String(header.logger_node_boot_uuid());
    if (header.boot_uuids() != nullptr) {
      for (const flatbuffers::String *boot : *header.boot_uuids()) {
        info.parts.boot_uuids.push_back(String(boot));
      }
    }
    info.parts.monotonic_start_time = monotonic_clock::time_point(
        std::chrono::nanoseconds(header.monotonic_start_time()));
    info.parts.realtime_start_time = realtime_clock::time_point(
        std::chrono::nanoseconds(header.realtime_start_time()));
    info.parts.max_out_of_order_duration =
        std::chrono::nanoseconds(header.max_out_of_order_duration());
    if (header.data_stored() != nullptr) {
      for (const auto type : *header.data_stored()) {
        info.parts.data_stored.push_back(static_cast<StoredDataType>(type));
      }
    }
    info.log_start_uuid = String(header.log_start_uuid());
    info.name = String(header.name());
    info.configuration_sha256 = String(header.configuration_sha256());
    if (header.configuration() != nullptr) {
      info.config = CopyConfiguration(header.configuration());
    } else if (info.configuration_sha256.empty()) {
      return MakeError("'" + path +
                       "' has neither a configuration nor a "
                       "configuration_sha256: it cannot be replayed");
    }
    infos.push_back(std::move(info));
  }

  for (PartInfo &info : infos) {
    if (info.config != nullptr) continue;
    auto it = configs.find(info.configuration_sha256);
    if (it == configs.end()) {
      return MakeError("'" + info.path +
                       "' was written with the configuration in a separate "
                       "file (*_" +
                       info.configuration_sha256 +
                       ".bfbs) that was not given: pass the log's whole "
                       "folder");
    }
    info.config = it->second;
  }

  // log_event_uuid -> parts_uuid -> parts.
  std::map<std::string, std::map<std::string, std::vector<const PartInfo *>>>
      events;
  for (const PartInfo &info : infos) {
    events[info.parts.log_event_uuid][info.parts.parts_uuid].push_back(&info);
  }

  std::vector<LogFile> logs;
  // Per log_start_uuid (or event, without one): its sorted sequences, for
  // ordering boots, and the logs that share them.
  std::map<std::string, std::vector<std::vector<const PartInfo *>>>
      start_sequences;
  std::map<std::string, std::vector<size_t>> start_logs;
  for (auto &[log_event_uuid, sequences] : events) {
    LogFile log;
    log.log_event_uuid = log_event_uuid;
    const PartInfo *first = nullptr;
    for (auto &[parts_uuid, parts] : sequences) {
      std::sort(parts.begin(), parts.end(),
                [](const PartInfo *a, const PartInfo *b) {
                  return a->parts_index < b->parts_index;
                });
      for (size_t i = 0; i < parts.size(); ++i) {
        if (parts[i]->parts_index == static_cast<int>(i)) continue;
        if (parts[i]->parts_index < static_cast<int>(i)) {
          return MakeError("two files claim part " +
                           std::to_string(parts[i]->parts_index) +
                           " of parts_uuid " + parts_uuid + ": " +
                           parts[i - 1]->path + " and " + parts[i]->path +
                           " (copies of different runs mixed together?)");
        }
        return MakeError("part " + std::to_string(i) + " of parts_uuid " +
                         parts_uuid + " (node '" + parts[0]->parts.node +
                         "') is missing; found " + ListFiles(parts));
      }
      // One LogParts per boot of the records' source (see LogParts).
      const LogParts *current = nullptr;
      for (const PartInfo *part : parts) {
        if (first == nullptr) first = part;
        if (!SameConfiguration(*part->config, *first->config)) {
          return MakeError("log event " + log_event_uuid +
                           " mixes configurations: " + first->path + " and " +
                           part->path +
                           " were written with different configurations");
        }
        const bool timestamps = std::ranges::find(part->parts.data_stored,
                                                  StoredDataType::TIMESTAMPS) !=
                                part->parts.data_stored.end();
        if (current == nullptr ||
            current->source_boot_uuid != part->parts.source_boot_uuid ||
            (timestamps && current->boot_uuids != part->parts.boot_uuids)) {
          current = &part->parts;
          log.parts.push_back(part->parts);
        }
        log.parts.back().parts.push_back(part->path);
      }
      start_sequences[first->log_start_uuid.empty() ? log_event_uuid
                                                    : first->log_start_uuid]
          .push_back(parts);
    }
    CHECK(first != nullptr);
    start_logs[first->log_start_uuid.empty() ? log_event_uuid
                                             : first->log_start_uuid]
        .push_back(logs.size());
    log.log_start_uuid = first->log_start_uuid;
    log.logger_node = first->parts.logger_node;
    log.logger_boot_uuid = first->parts.logger_boot_uuid;
    log.name = first->name;
    log.config = first->config;
    logs.push_back(std::move(log));
  }
  for (const auto &[start, indices] : start_logs) {
    std::shared_ptr<const Boots> boots = OrderBoots(start_sequences[start]);
    for (const size_t i : indices) logs[i].boots = boots;
  }
  return logs;
}

Result<void> CheckOneLog(const std::vector<LogFile> &logs) {
  if (logs.empty()) return MakeError("no log parts given");
  const bool one = std::all_of(logs.begin(), logs.end(), [&](const LogFile &l) {
    return !l.log_start_uuid.empty() &&
           l.log_start_uuid == logs.front().log_start_uuid;
  });
  if (logs.size() == 1 || one) return {};
  std::string list;
  for (const LogFile &log : logs) {
    list += "\n  log_start_uuid " + log.log_start_uuid + ", log_event_uuid " +
            log.log_event_uuid + ": ";
    bool first = true;
    for (const LogParts &parts : log.parts) {
      for (const std::string &path : parts.parts) {
        list += (first ? "" : ", ") + path;
        first = false;
      }
    }
  }
  return MakeError("the files given hold " + std::to_string(logs.size()) +
                   " different logs; give the files of one log only:" + list);
}

}  // namespace aos::logger
