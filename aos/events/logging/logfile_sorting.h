#ifndef AOS_EVENTS_LOGGING_LOGFILE_SORTING_H_
#define AOS_EVENTS_LOGGING_LOGFILE_SORTING_H_

// Finding and sorting the part files of logs.
//
// A logging run leaves many files: on each node a sequence of rotated parts
// per kind of data (parts_uuid, parts_index 0, 1, ...), possibly a separate
// config file named by its sha256, and, when logs are copied around, files of
// other runs beside them. SortParts reads every file's header and groups the
// parts into LogFiles, one per logging event (log_event_uuid), each with its
// part sequences in order and the configuration they were written with.
//
//   Result<std::vector<std::string>> files = FindLogs(paths);  // dirs too
//   Result<std::vector<LogFile>> logs = SortParts(*files);
//   for (const LogFile &log : *logs) { ... log.parts[i].parts ... }
//
// Problems a user can fix are errors that name the files: a part missing
// from a sequence, two parts claiming the same place, a data part whose
// config file was not given, parts of one event that disagree on the
// configuration. A file that is not a log part at all is an error too;
// parts that are damaged after their header are kept (the reader reads them
// up to the damage and warns).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "aos/configuration_generated.h"
#include "aos/events/logging/logger_generated.h"
#include "aos/flatbuffers.h"
#include "aos/time/time.h"
#include "aos/util/status.h"

namespace aos::logger {

// One sequence of rotated parts: the same parts_uuid, in parts_index order.
struct LogParts {
  // The node the data is about ("" in single-node logs) and the node that
  // wrote it.
  std::string node;
  std::string logger_node;
  std::string log_event_uuid;
  std::string parts_uuid;
  // The boot of `node` the records come from, and the logger node's boot.
  // A sequence whose source node rebooted is split into one LogParts per
  // boot (same parts_uuid, consecutive parts).
  std::string source_boot_uuid;
  std::string logger_boot_uuid;
  // Every node's boot when the parts were opened ("" if unknown then), by
  // node index. In TIMESTAMPS parts it names the boot of each message's
  // source (the Logger rotates them when a source reboots), so those are
  // split where it changes.
  std::vector<std::string> boot_uuids;
  // From the first part's header (the node's clock).
  monotonic_clock::time_point monotonic_start_time = monotonic_clock::min_time;
  realtime_clock::time_point realtime_start_time = realtime_clock::min_time;
  std::chrono::nanoseconds max_out_of_order_duration{0};
  // What the parts hold (DATA, TIMESTAMPS, REMOTE_TIMESTAMPS).
  std::vector<StoredDataType> data_stored;
  // The files, parts_index 0, 1, ...
  std::vector<std::string> parts;
};

// The boots of every node over the logs of one start (one log_start_uuid),
// ordered from the evidence in the parts: a part sequence whose headers name
// boot A of a node and a later part boot B (source_node_boot_uuid or
// boot_uuids) says A came before B. Loggers rotate every sequence when a
// node they hear from reboots, so a node that rebooted while another node
// logged is ordered.
struct Boots {
  // Node name ("" in single-node logs) -> its boot UUIDs, first boot first.
  std::map<std::string, std::vector<std::string>> boots;
  // Non-empty if some node's boots cannot be ordered (no part saw both), or
  // the evidence contradicts itself: what, and which node.
  std::string error;

  // The index of `boot_uuid` among `node`'s boots, or -1.
  int BootIndex(const std::string &node, const std::string &boot_uuid) const;
};

// Everything one logging event wrote (one log_event_uuid).
struct LogFile {
  std::string log_event_uuid;
  std::string log_start_uuid;
  std::string logger_node;
  std::string logger_boot_uuid;
  // The log's name (LogFileHeader.name), if the logger set one.
  std::string name;
  // The configuration the parts were written with (shared by every part).
  std::shared_ptr<const FlatbufferVector<Configuration>> config;
  std::vector<LogParts> parts;
  // Shared by the LogFiles of one log_start_uuid (or of one event if it has
  // none).
  std::shared_ptr<const Boots> boots;
};

// The part files named by `paths`: files as given, folders searched
// recursively for ".bfbs" and ".bfbs.zst" files, sorted by name. Returns an
// error naming a path that does not exist, or if no part file was found.
Result<std::vector<std::string>> FindLogs(
    const std::vector<std::string> &paths);
// Upstream's form: the positional arguments left in argv after flag parsing
// (argv[0] is the program).
Result<std::vector<std::string>> FindLogs(int argc, char **argv);

// Groups `part_files` into logs (see above), ordered by log_event_uuid.
Result<std::vector<LogFile>> SortParts(
    const std::vector<std::string> &part_files);

// Checks that `logs` are one log: at least one logging event, and all of
// them started together (one log_start_uuid, as the loggers of the nodes of
// one robot share). Otherwise returns an error listing the logs and their
// files (files of different runs given together).
Result<void> CheckOneLog(const std::vector<LogFile> &logs);

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_LOGFILE_SORTING_H_
