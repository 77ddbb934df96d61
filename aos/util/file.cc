#include "aos/util/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "glog/logging.h"

namespace aos::util {
namespace {

std::string ErrnoText(int error) { return std::strerror(error); }

// Closes the descriptor when it goes out of scope.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd &) = delete;
  ScopedFd &operator=(const ScopedFd &) = delete;

  int get() const { return fd_; }
  // Closes now and returns close()'s errno (0 on success): a write error on
  // NFS or a full disk may only show here.
  int Close() {
    const int result = close(fd_);
    fd_ = -1;
    return result == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// Makes one directory; returns 0 or the errno.
int MakeOneDirectory(const std::string &path, mode_t mode) {
  if (mkdir(path.c_str(), mode) == 0) return 0;
  return errno == EEXIST ? 0 : errno;
}

// MkdirP's loop: returns 0 or the errno of the directory that failed, whose
// path is left in *failed.
int MakeParents(std::string_view path, mode_t mode, std::string *failed) {
  for (size_t slash = path.find('/', 1); slash != std::string_view::npos;
       slash = path.find('/', slash + 1)) {
    const std::string prefix(path.substr(0, slash));
    const int error = MakeOneDirectory(prefix, mode);
    if (error != 0) {
      *failed = prefix;
      return error;
    }
  }
  return 0;
}

}  // namespace

Result<std::string> ReadFileToString(std::string_view filename) {
  const std::string path(filename);
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return MakeError("cannot open " + path + ": " + ErrnoText(errno));
  }
  std::string contents;
  char buffer[65536];
  while (true) {
    const ssize_t n = read(fd.get(), buffer, sizeof(buffer));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return MakeError("cannot read " + path + ": " + ErrnoText(errno));
    }
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

std::string ReadFileToStringOrDie(std::string_view filename) {
  Result<std::string> contents = ReadFileToString(filename);
  CHECK(contents.has_value()) << ": " << contents.error().message();
  return std::move(*contents);
}

std::optional<std::string> MaybeReadFileToString(std::string_view filename) {
  Result<std::string> contents = ReadFileToString(filename);
  if (!contents.has_value()) {
    VLOG(1) << contents.error().message();
    return std::nullopt;
  }
  return std::move(*contents);
}

std::vector<uint8_t> ReadFileToVecOrDie(std::string_view filename) {
  const std::string contents = ReadFileToStringOrDie(filename);
  return std::vector<uint8_t>(contents.begin(), contents.end());
}

Result<void> WriteStringToFile(std::string_view filename,
                               std::string_view contents, mode_t permissions) {
  const std::string path(filename);
  ScopedFd fd(open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC,
                   permissions));
  if (fd.get() < 0) {
    return MakeError("cannot open " + path +
                     " for writing: " + ErrnoText(errno));
  }
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n =
        write(fd.get(), contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return MakeError("cannot write " + path + ": " + ErrnoText(errno));
    }
    written += static_cast<size_t>(n);
  }
  if (const int error = fd.Close(); error != 0) {
    return MakeError("cannot write " + path + ": " + ErrnoText(error));
  }
  return {};
}

void WriteStringToFileOrDie(std::string_view filename,
                            std::string_view contents, mode_t permissions) {
  const Result<void> result =
      WriteStringToFile(filename, contents, permissions);
  CHECK(result.has_value()) << ": " << result.error().message();
}

void MkdirP(std::string_view path, mode_t mode) {
  std::string failed;
  const int error = MakeParents(path, mode, &failed);
  CHECK_EQ(error, 0) << ": cannot make directory " << failed << " (for " << path
                     << "): " << ErrnoText(error);
}

bool MkdirPIfSpace(std::string_view path, mode_t mode) {
  std::string failed;
  const int error = MakeParents(path, mode, &failed);
  if (error == ENOSPC) {
    LOG(WARNING) << "No space left to make directory " << failed;
    return false;
  }
  CHECK_EQ(error, 0) << ": cannot make directory " << failed << " (for " << path
                     << "): " << ErrnoText(error);
  return true;
}

bool PathExists(std::string_view path) {
  struct stat buffer;
  return stat(std::string(path).c_str(), &buffer) == 0;
}

void UnlinkRecursive(std::string_view path) {
  std::error_code error;
  std::filesystem::remove_all(std::filesystem::path(path), error);
  CHECK(!error) << ": cannot remove " << path << ": " << error.message();
}

}  // namespace aos::util
