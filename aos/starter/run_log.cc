#include "aos/starter/run_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <utility>

#include "glog/logging.h"

DEFINE_string(logs_folder, "/tmp/aos_starter_logs",
              "Folder under which starterd keeps each application's output "
              "(a file per run in <folder>/<app>/), and where aos_starter "
              "logs reads it.");
DEFINE_uint64(max_log_bytes, 1 << 20,
              "Output of one run kept before starterd starts a new file "
              "(keeping the previous one as .old): a run keeps at most twice "
              "this.");
DEFINE_int32(max_log_runs, 5,
             "Runs whose output starterd keeps per application; older runs' "
             "files are removed.");

namespace aos::starter {

namespace fs = std::filesystem;

std::string AppLogFolder(std::string_view logs_folder, std::string_view app) {
  return (fs::path(logs_folder) / app).string();
}

namespace {

std::string Stamp() {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm parts;
  localtime_r(&now.tv_sec, &parts);
  char text[64];
  const size_t length = strftime(text, sizeof(text), "%Y%m%d-%H%M%S", &parts);
  snprintf(text + length, sizeof(text) - length, ".%03ld",
           now.tv_nsec / 1000000);
  return text;
}

// Run files (*.log, not latest.log), oldest first: names start with the
// time stamp, so name order is age order.
std::vector<fs::path> RunFiles(const fs::path &folder) {
  std::vector<fs::path> files;
  std::error_code error;
  for (const fs::directory_entry &entry :
       fs::directory_iterator(folder, error)) {
    const fs::path &path = entry.path();
    if (path.extension() == ".log" && path.filename() != "latest.log" &&
        !entry.is_symlink()) {
      files.push_back(path);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

Result<RunLog> RunLog::Open(std::string_view logs_folder, std::string_view app,
                            uint64_t run_id, size_t max_bytes, int max_runs) {
  const fs::path folder = AppLogFolder(logs_folder, app);
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) {
    return MakeError("cannot create " + folder.string() + " for " +
                     std::string(app) + "'s output: " + error.message() +
                     "; fix its permissions or pass another --logs_folder");
  }
  const fs::path path =
      folder / (Stamp() + "-" + std::to_string(run_id) + ".log");
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    return MakeError("cannot create " + path.string() + ": " + strerror(errno) +
                     "; fix the permissions of --logs_folder");
  }
  const fs::path latest = folder / "latest.log";
  fs::remove(latest, error);
  fs::create_symlink(path.filename(), latest, error);
  if (error) {
    LOG(WARNING) << "cannot point " << latest << " at " << path << ": "
                 << error.message();
  }
  std::vector<fs::path> runs = RunFiles(folder);
  const int keep = std::max(max_runs, 1);
  for (size_t i = 0; i + keep < runs.size(); ++i) {
    fs::remove(runs[i], error);
    fs::remove(runs[i].string() + ".old", error);
  }
  return RunLog(path.string(), fd, max_bytes);
}

RunLog::RunLog(RunLog &&other)
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      max_bytes_(other.max_bytes_),
      written_(other.written_),
      rotate_failed_(other.rotate_failed_) {}

RunLog &RunLog::operator=(RunLog &&other) {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    max_bytes_ = other.max_bytes_;
    written_ = other.written_;
    rotate_failed_ = other.rotate_failed_;
  }
  return *this;
}

RunLog::~RunLog() {
  if (fd_ >= 0) close(fd_);
}

void RunLog::Append(std::string_view data) {
  if (fd_ < 0) return;
  if (written_ + data.size() > max_bytes_ && written_ > 0) {
    const std::string old = path_ + ".old";
    if (rename(path_.c_str(), old.c_str()) == 0) {
      close(fd_);
      fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
      written_ = 0;
      if (fd_ < 0) {
        PLOG(ERROR) << "cannot reopen " << path_ << "; dropping output";
        return;
      }
    } else if (!rotate_failed_) {
      rotate_failed_ = true;
      PLOG(ERROR) << "cannot rotate " << path_ << "; dropping further output";
    }
  }
  if (rotate_failed_) return;
  // A single write may exceed max_bytes (one huge chunk); keep its tail.
  if (data.size() > max_bytes_) data = data.substr(data.size() - max_bytes_);
  while (!data.empty()) {
    const ssize_t n = write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      PLOG(ERROR) << "write to " << path_ << " failed; output dropped";
      return;
    }
    written_ += n;
    data.remove_prefix(n);
  }
}

Result<std::vector<std::string>> LatestRunFiles(std::string_view logs_folder,
                                                std::string_view app) {
  const fs::path folder = AppLogFolder(logs_folder, app);
  std::vector<fs::path> runs = RunFiles(folder);
  if (runs.empty()) {
    return MakeError("no output kept for \"" + std::string(app) + "\" in " +
                     folder.string() +
                     " (has it run? does --logs_folder match starterd's?)");
  }
  std::vector<std::string> files;
  std::error_code error;
  const std::string old = runs.back().string() + ".old";
  if (fs::exists(old, error)) files.push_back(old);
  files.push_back(runs.back().string());
  return files;
}

}  // namespace aos::starter
