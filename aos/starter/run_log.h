#ifndef AOS_STARTER_RUN_LOG_H_
#define AOS_STARTER_RUN_LOG_H_

// Where starterd keeps what applications print: one file per application
// per run, under --logs_folder/<application>/, size-bounded, like a small
// journal that survives starterd and needs no daemon to read.
//
// Layout of --logs_folder/<app>/:
//   <YYYYmmdd-HHMMSS.mmm>-<run id>.log   one run's stdout and stderr,
//                                        interleaved as written
//   <same>.log.old                       the run's earlier output, once the
//                                        file passed --max_log_bytes (so a
//                                        run keeps at most twice that)
//   latest.log                           symlink to the newest run's file
//   pgid                                 the running process group (see
//                                        starterd's stray clean-up)
// Only the --max_log_runs newest runs are kept.
//
// Writes are plain write(2) calls, so `aos_starter logs` sees output as soon
// as starterd reads it from the application's pipe.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "aos/util/status.h"
#include "gflags/gflags.h"

DECLARE_string(logs_folder);
DECLARE_uint64(max_log_bytes);
DECLARE_int32(max_log_runs);

namespace aos::starter {

// The folder of `app`'s run files under `logs_folder`.
std::string AppLogFolder(std::string_view logs_folder, std::string_view app);

// One run's output file.
class RunLog {
 public:
  // Creates the folder if needed, makes `<stamp>-<run_id>.log`, points
  // latest.log at it and removes runs beyond `max_runs`. Errors name the
  // path and the reason (e.g. permissions on --logs_folder).
  static Result<RunLog> Open(std::string_view logs_folder, std::string_view app,
                             uint64_t run_id, size_t max_bytes, int max_runs);

  RunLog(RunLog &&other);
  RunLog &operator=(RunLog &&other);
  RunLog(const RunLog &) = delete;
  ~RunLog();

  // Appends `data`. When the file would pass max_bytes, it becomes
  // `.log.old` (replacing an older one) and a new file starts.
  void Append(std::string_view data);

  const std::string &path() const { return path_; }

 private:
  RunLog(std::string path, int fd, size_t max_bytes)
      : path_(std::move(path)), fd_(fd), max_bytes_(max_bytes) {}

  std::string path_;
  int fd_ = -1;
  size_t max_bytes_ = 0;
  size_t written_ = 0;
  bool rotate_failed_ = false;
};

// The files of `app`'s newest run, oldest part first (`.log.old`, then
// `.log`); the error says no output was kept for `app` in `logs_folder`.
Result<std::vector<std::string>> LatestRunFiles(std::string_view logs_folder,
                                                std::string_view app);

}  // namespace aos::starter

#endif  // AOS_STARTER_RUN_LOG_H_
