#ifndef AOS_EVENTS_LOGGING_PART_WRITER_H_
#define AOS_EVENTS_LOGGING_PART_WRITER_H_

// PartWriter: appends size-prefixed flatbuffers to one log part file, raw or
// as zstd frames (part_format.h), and reports I/O failures instead of dying.
//
// The Logger (logger.h) writes every part through one; tools and tests may
// use it directly:
//
//   Result<std::unique_ptr<PartWriter>> writer =
//       PartWriter::Create("/logs/x_data.part0.bfbs.zst", {});
//   CheckExpected(writer);
//   CheckExpected((*writer)->Write(header.span()));   // size-prefixed
//   ...
//   CheckExpected((*writer)->Close());
//
// The writer collects the stream in a buffer of `flush_bytes` (the Logger
// lays its records out in it directly, with Reserve() and Commit()). Data
// reaches the file when the writer flushes: on Flush(), when the next record
// does not fit in the buffer, and on Close(). Compression runs once per
// flush over the whole buffer, not once per record.
// Each flush of a zstd part ends one zstd frame, so whatever the file holds
// after a crash decodes up to the last flush. Flush(/*sync=*/true) also
// fdatasync()s, so the data survives a power cut; see
// docs/decisions/logging.md for the policy the Logger follows.
//
// After a write fails (disk full, I/O error, file removed...) the writer is
// failed: it writes nothing more, every call returns the first error, and the
// file keeps what was flushed before. Writing allocates nothing once the
// writer exists (the real-time logger calls it per message).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "aos/events/logging/part_format.h"
#include "aos/util/status.h"

namespace aos::logger {

struct PartWriterOptions {
  Compression compression = Compression::kZstd;
  // zstd's compression level (1 is its fastest; negative is faster still).
  int zstd_level = 1;
  // The buffer: flush when the next record would take the stream written
  // since the last flush past this many bytes. A record larger than this is
  // buffered (and flushed) alone, the buffer growing to fit it.
  size_t flush_bytes = size_t{1} << 20;
};

class PartWriter {
 public:
  // Creates the file `path` (and any missing parent folders) for writing. It
  // must not exist: a part is never overwritten. Returns an error naming the
  // path and the reason (and the free space, for a full disk).
  static Result<std::unique_ptr<PartWriter>> Create(
      std::string path, PartWriterOptions options = {});

  PartWriter(const PartWriter &) = delete;
  PartWriter &operator=(const PartWriter &) = delete;
  // Closes the file, flushing first unless the writer failed; a failure then
  // is logged (call Close() to see it).
  ~PartWriter();

  // Appends one size-prefixed flatbuffer (its uint32 length included).
  // CHECK-fails unless its size is a multiple of kPartAlignment and matches
  // its prefix (FlatBufferBuilder::FinishSizePrefixed guarantees both).
  // May flush (see above). Returns the writer's error once it failed.
  Result<void> Write(std::span<const uint8_t> sized_flatbuffer);

  // Space in the writer's buffer for one size-prefixed flatbuffer of `size`
  // bytes (a multiple of kPartAlignment, CHECKed), to be filled in
  // completely and then accepted with Commit(size). Flushes first if the
  // record does not fit after what is buffered; grows the buffer (the only
  // allocation) if it is larger than any buffer before. The space starts
  // kPartAlignment-aligned in memory and in the stream. Returns the writer's
  // error once it failed.
  // (Inline: the Logger calls it per message.)
  Result<std::span<uint8_t>> Reserve(size_t size) {
    if (!error_ && !closed_ && size >= sizeof(uint32_t) &&
        size % kPartAlignment == 0 && size <= buffer_size_ - buffer_used_)
        [[likely]] {
      return std::span<uint8_t>(buffer_.get() + buffer_used_, size);
    }
    return ReserveSlow(size);
  }
  // Accepts the record Reserve(size) returned space for. CHECK-fails unless
  // its size prefix matches `size`. May flush (when the buffer is full).
  Result<void> Commit(size_t size) {
    Accept(size);
    if (buffer_used_ == buffer_size_) return WriteBuffer();
    return {};
  }

  // Reserve() for the Logger's per-message path, without a Result to build
  // and check: the space Reserve(size) would return if the record fits in
  // the buffer with room to spare (so committing it cannot flush) and the
  // writer is open and healthy; nullptr otherwise (then use Reserve()).
  // `size` must be a multiple of kPartAlignment of at least 8 (CHECKed by
  // CommitReserved).
  uint8_t *TryReserve(size_t size) {
    if (size < buffer_size_ - buffer_used_ && !closed_ && !error_) [[likely]] {
      return buffer_.get() + buffer_used_;
    }
    return nullptr;
  }
  // Accepts the record TryReserve(size) returned space for (never flushes).
  // CHECK-fails like Commit().
  void CommitReserved(size_t size) { Accept(size); }

  // Writes everything accepted so far to the file (ending the zstd frame);
  // with `sync`, then fdatasync()s it (and, the first time, the folder that
  // holds it, so the file's name survives a power cut too).
  Result<void> Flush(bool sync);

  // Flushes (with sync) and closes the file. Further calls are no-ops that
  // return the same result.
  Result<void> Close();

  const std::string &path() const { return path_; }
  Compression compression() const { return options_.compression; }
  // Bytes of stream accepted (before compression).
  uint64_t stream_bytes() const { return stream_bytes_; }
  // Bytes written to the file so far.
  uint64_t file_bytes() const { return file_bytes_; }
  // Stream bytes accepted but not yet flushed.
  uint64_t unflushed_bytes() const { return stream_bytes_ - flushed_stream_; }
  // The error that failed the writer, if it failed.
  const std::optional<Error> &error() const { return error_; }

 private:
  PartWriter(std::string path, int fd, PartWriterOptions options);

  // Writes `data` to the file, all of it, or fails the writer.
  Result<void> WriteToFile(std::span<const uint8_t> data);
  // Reserve() when the record does not fit (or the writer failed, or the
  // size is wrong).
  Result<std::span<uint8_t>> ReserveSlow(size_t size);
  // Counts the record at buffer_used_ of `size` bytes as buffered, checking
  // its size prefix (and the size's alignment).
  void Accept(size_t size) {
    uint32_t prefix;
    std::memcpy(&prefix, buffer_.get() + buffer_used_, sizeof(prefix));
    if (size > buffer_size_ - buffer_used_ || prefix + sizeof(prefix) != size ||
        size % kPartAlignment != 0) [[unlikely]] {
      BadCommit(size);
    }
    buffer_used_ += size;
    stream_bytes_ += size;
  }
  // CHECK-fails naming what Commit(size) was given.
  [[noreturn]] void BadCommit(size_t size);
  // Writes out the buffer (one zstd frame for kZstd) and empties it.
  Result<void> WriteBuffer();
  Result<void> Fail(int error_number, std::string_view what);

  const std::string path_;
  // The folder holding the file (synced once, so its name survives).
  const std::filesystem::path folder_;
  int fd_;
  const PartWriterOptions options_;
  // zstd's compression context (kZstd only).
  struct ZstdContext;
  std::unique_ptr<ZstdContext> zstd_;
  // Stream bytes not written (compressed) yet: flush_bytes, or the largest
  // record, if larger. Not a vector: growing it need not zero it.
  std::unique_ptr<uint8_t[]> buffer_;
  size_t buffer_size_ = 0;
  size_t buffer_used_ = 0;
  // kZstd: one frame of compressed output (ZSTD_compressBound of
  // buffer_size_).
  std::unique_ptr<uint8_t[]> compressed_;
  size_t compressed_size_ = 0;
  uint64_t stream_bytes_ = 0;
  uint64_t flushed_stream_ = 0;
  uint64_t file_bytes_ = 0;
  bool folder_synced_ = false;
  bool closed_ = false;
  std::optional<Error> error_;
};

// "12.3 MiB free of 1.0 GiB" for the filesystem holding `path` (or the
// nearest existing parent), or "" if that cannot be found. For error
// messages about full disks.
std::string DescribeFreeSpace(const std::string &path);

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_PART_WRITER_H_
