#ifndef AOS_EVENTS_LOGGING_LOG_FILES_H_
#define AOS_EVENTS_LOGGING_LOG_FILES_H_

// Finding and opening the files of a log, for the log tools (log_cat,
// log_info): every tool takes any mix of part files and folders.
//
//   Result<LogFiles> log = OpenLogFiles({"/media/logs/3/"});
//   for (LogFiles::Part &part : log->parts) {
//     const Configuration *config = log->ConfigurationOf(part);
//     while (const MessageHeader *m = part.reader->ReadMessage()) { ... }
//   }

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "aos/configuration_generated.h"
#include "aos/events/logging/part_reader.h"
#include "aos/util/status.h"

namespace aos::logger {

// The part files named by `paths`: files as given, folders searched
// recursively for ".bfbs" and ".bfbs.zst" files; sorted by path. Errors:
// a path that does not exist, a folder without log files, no paths.
Result<std::vector<std::string>> FindLogFiles(
    const std::vector<std::string> &paths);

struct LogFiles {
  struct Part {
    std::string path;
    uint64_t file_size = 0;
    std::unique_ptr<PartReader> reader;
    const LogFileHeader &header() const { return reader->header(); }
  };
  // Data parts (every file but the configuration files), sorted by log
  // event, node, data kind and parts index.
  std::vector<Part> parts;
  // Configuration files by the sha256 that names them.
  std::map<std::string, Part> configs;

  // The configuration `part` was logged with (embedded, or from the config
  // file its header names), or nullptr if that file is not among the
  // files.
  const Configuration *ConfigurationOf(const Part &part) const;
};

// Opens every file FindLogFiles finds. Errors (one line each, naming the
// file): anything FindLogFiles rejects, a file that is not a log part, a
// data part whose configuration file is missing.
Result<LogFiles> OpenLogFiles(const std::vector<std::string> &paths);

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_LOG_FILES_H_
