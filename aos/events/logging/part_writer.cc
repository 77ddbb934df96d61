#include "aos/events/logging/part_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "aos/events/logging/str_cat.h"
#include "flatbuffers/flatbuffers.h"
#include "glog/logging.h"

namespace aos::logger {
namespace {

std::string HumanBytes(double bytes) {
  static constexpr const char *kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  size_t unit = 0;
  while (bytes >= 1024 && unit + 1 < std::size(kUnits)) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  if (unit == 0) {
    snprintf(text, sizeof(text), "%.0f B", bytes);
  } else {
    snprintf(text, sizeof(text), "%.1f %s", bytes, kUnits[unit]);
  }
  return text;
}

// The folder holding `path` ("." for a bare file name).
std::filesystem::path FolderOf(const std::string &path) {
  const std::filesystem::path parent =
      std::filesystem::path(path).parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

size_t RoundUp(size_t n, size_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

bool IsSpaceError(int error_number) {
  return error_number == ENOSPC || error_number == EDQUOT ||
         error_number == EFBIG;
}

}  // namespace

std::string DescribeFreeSpace(const std::string &path) {
  std::filesystem::path existing(path);
  std::error_code ignored;
  while (!existing.empty() && !std::filesystem::exists(existing, ignored)) {
    existing = existing.parent_path();
  }
  if (existing.empty()) existing = ".";
  struct statvfs stats;
  if (statvfs(existing.c_str(), &stats) != 0) return "";
  const double free_bytes =
      static_cast<double>(stats.f_bavail) * static_cast<double>(stats.f_frsize);
  const double total_bytes =
      static_cast<double>(stats.f_blocks) * static_cast<double>(stats.f_frsize);
  return StrCat(HumanBytes(free_bytes), " free of ", HumanBytes(total_bytes));
}

struct PartWriter::ZstdContext {
  ZSTD_CCtx *context = nullptr;
  ~ZstdContext() { ZSTD_freeCCtx(context); }
};

Result<std::unique_ptr<PartWriter>> PartWriter::Create(
    std::string path, PartWriterOptions options) {
  if (options.compression != Compression::kNone &&
      options.compression != Compression::kZstd) {
    return MakeError(StrCat("Cannot write log part ", path, ": ",
                            PartExtension(options.compression),
                            " parts are read only (upstream's encodings); "
                            "write zstd or uncompressed parts."));
  }
  const std::filesystem::path parent =
      std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) {
      return MakeError(StrCat(
          "Cannot create the folder ", parent.string(), " for log part ", path,
          ": ", error.message(), ". Check that the logging folder is writable",
          error.value() == ENOSPC
              ? StrCat(" (", DescribeFreeSpace(parent.string()), ")")
              : "",
          "."));
    }
  }
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int error_number = errno;
    if (error_number == EEXIST) {
      return MakeError(StrCat("Log part ", path,
                              " already exists; a part is never overwritten. "
                              "Log to a new folder or base name."));
    }
    std::string space;
    if (IsSpaceError(error_number)) {
      space = StrCat(" (", DescribeFreeSpace(path), ")");
    }
    return MakeError(StrCat(
        "Cannot create log part ", path, ": ", std::strerror(error_number),
        space,
        ". Check that the logging folder exists, is writable and has space."));
  }
  return std::unique_ptr<PartWriter>(
      new PartWriter(std::move(path), fd, options));
}

PartWriter::PartWriter(std::string path, int fd, PartWriterOptions options)
    : path_(std::move(path)),
      // Worked out now: Flush() must not allocate.
      folder_(FolderOf(path_)),
      fd_(fd),
      options_(options) {
  CHECK_GT(options_.flush_bytes, 0u) << ": flush_bytes must be positive";
  if (options_.compression == Compression::kZstd) {
    zstd_ = std::make_unique<ZstdContext>();
    zstd_->context = ZSTD_createCCtx();
    CHECK(zstd_->context != nullptr) << ": ZSTD_createCCtx failed";
    CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(
        zstd_->context, ZSTD_c_compressionLevel, options_.zstd_level)));
    // A checksum per frame lets readers tell a damaged frame from data.
    CHECK(!ZSTD_isError(
        ZSTD_CCtx_setParameter(zstd_->context, ZSTD_c_checksumFlag, 1)));
  }
  buffer_size_ = RoundUp(options_.flush_bytes, kPartAlignment);
  buffer_.reset(new uint8_t[buffer_size_]);
  if (zstd_) {
    compressed_size_ = ZSTD_compressBound(buffer_size_);
    compressed_.reset(new uint8_t[compressed_size_]);
  }
}

PartWriter::~PartWriter() {
  if (!closed_) {
    Result<void> result = Close();
    if (!result) LOG(ERROR) << result.error().message();
  }
}

Result<void> PartWriter::Fail(int error_number, std::string_view what) {
  std::string space;
  if (IsSpaceError(error_number)) {
    space = StrCat(" (", DescribeFreeSpace(path_), ")");
  }
  error_ = Error(StrCat(
      what, " log part ", path_, " failed: ", std::strerror(error_number),
      space, "; it keeps the ", file_bytes_,
      " bytes written before (readable up to its last complete frame)."));
  return std::unexpected(*error_);
}

Result<void> PartWriter::WriteToFile(std::span<const uint8_t> data) {
  while (!data.empty()) {
    const ssize_t written = write(fd_, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return Fail(errno, "Writing");
    }
    file_bytes_ += static_cast<uint64_t>(written);
    data = data.subspan(static_cast<size_t>(written));
  }
  return {};
}

Result<void> PartWriter::WriteBuffer() {
  if (buffer_used_ == 0) return {};
  std::span<const uint8_t> out(buffer_.get(), buffer_used_);
  if (zstd_) {
    // One frame per flush: a cut file decodes up to its last flush.
    const size_t size =
        ZSTD_compress2(zstd_->context, compressed_.get(), compressed_size_,
                       buffer_.get(), buffer_used_);
    CHECK(!ZSTD_isError(size)) << ": zstd failed compressing " << path_ << ": "
                               << ZSTD_getErrorName(size);
    out = {compressed_.get(), size};
  }
  buffer_used_ = 0;
  if (Result<void> result = WriteToFile(out); !result) return result;
  flushed_stream_ = stream_bytes_;
  return {};
}

Result<std::span<uint8_t>> PartWriter::ReserveSlow(size_t size) {
  if (error_) return std::unexpected(*error_);
  CHECK(!closed_) << ": Write after Close on " << path_;
  CHECK_GE(size, sizeof(flatbuffers::uoffset_t));
  CHECK_EQ(size % kPartAlignment, 0u)
      << ": size-prefixed flatbuffers must keep the stream aligned, writing "
      << path_;
  if (size > buffer_size_ - buffer_used_) {
    if (Result<void> result = WriteBuffer(); !result) {
      return std::unexpected(result.error());
    }
    if (size > buffer_size_) {
      // A record larger than any before: the buffer grows to hold it alone.
      buffer_size_ = size;
      buffer_.reset(new uint8_t[buffer_size_]);
      if (zstd_) {
        compressed_size_ = ZSTD_compressBound(buffer_size_);
        compressed_.reset(new uint8_t[compressed_size_]);
      }
    }
  }
  return std::span<uint8_t>(buffer_.get() + buffer_used_, size);
}

void PartWriter::BadCommit(size_t size) {
  CHECK_LE(buffer_used_ + size, buffer_size_)
      << ": Commit without Reserve, writing " << path_;
  CHECK_EQ(flatbuffers::GetPrefixedSize(buffer_.get() + buffer_used_) +
               sizeof(flatbuffers::uoffset_t),
           size)
      << ": not one size-prefixed flatbuffer, writing " << path_;
  CHECK_EQ(size % kPartAlignment, 0u)
      << ": a record of " << size << " bytes is not a multiple of "
      << kPartAlignment << ", writing " << path_;
  LOG(FATAL) << "Unreachable";
}

Result<void> PartWriter::Write(std::span<const uint8_t> sized_flatbuffer) {
  Result<std::span<uint8_t>> space = Reserve(sized_flatbuffer.size());
  if (!space) return std::unexpected(space.error());
  std::memcpy(space->data(), sized_flatbuffer.data(), sized_flatbuffer.size());
  return Commit(sized_flatbuffer.size());
}

Result<void> PartWriter::Flush(bool sync) {
  if (error_) return std::unexpected(*error_);
  if (closed_) return {};
  if (Result<void> result = WriteBuffer(); !result) return result;
  if (sync) {
    if (fdatasync(fd_) != 0) return Fail(errno, "Syncing");
    if (!folder_synced_) {
      folder_synced_ = true;
      const int folder_fd = open(folder_.c_str(), O_RDONLY | O_CLOEXEC);
      if (folder_fd >= 0) {
        // Best effort: some filesystems refuse fsync on folders.
        fsync(folder_fd);
        close(folder_fd);
      }
    }
  }
  return {};
}

Result<void> PartWriter::Close() {
  if (closed_) {
    if (error_) return std::unexpected(*error_);
    return {};
  }
  Result<void> result =
      error_ ? Result<void>(std::unexpected(*error_)) : Flush(/*sync=*/true);
  closed_ = true;
  if (close(fd_) != 0 && result) {
    result = Fail(errno, "Closing");
  }
  fd_ = -1;
  return result;
}

}  // namespace aos::logger
