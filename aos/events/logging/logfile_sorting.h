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
  std::string source_boot_uuid;
  std::string logger_boot_uuid;
  // From the first part's header (the node's clock).
  monotonic_clock::time_point monotonic_start_time = monotonic_clock::min_time;
  realtime_clock::time_point realtime_start_time = realtime_clock::min_time;
  std::chrono::nanoseconds max_out_of_order_duration{0};
  // What the parts hold (DATA, TIMESTAMPS, REMOTE_TIMESTAMPS).
  std::vector<StoredDataType> data_stored;
  // The files, parts_index 0, 1, ...
  std::vector<std::string> parts;
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
