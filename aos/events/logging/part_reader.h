#ifndef AOS_EVENTS_LOGGING_PART_READER_H_
#define AOS_EVENTS_LOGGING_PART_READER_H_

// Reading log part files (part_format.h), raw or zstd, and upstream's .xz
// and .sz, including damaged ones.
//
// PartStreamReader yields the size-prefixed flatbuffers of one file in
// order. PartReader builds on it: it checks that the file starts with a
// LogFileHeader and yields verified MessageHeaders. Neither dies on bad input:
// a file that was cut short (a killed logger, a full disk) or damaged reads up
// to the last good record, and status() then says where and why it stopped.
// For zstd parts only complete frames are used (each frame's checksum is
// verified before any of its records is returned), so a cut file yields
// exactly what the writer had flushed. Snappy parts likewise use only
// chunks whose checksum matched; xz parts hand records out as they decode
// (xz checks a block only at its end), like raw ones.
//
//   Result<std::unique_ptr<PartReader>> part = PartReader::Open(path);
//   if (!part) { ... part.error().message() ... }
//   const LogFileHeader &header = (*part)->header();
//   while (const MessageHeader *message = (*part)->ReadMessage()) { ... }
//   if (!(*part)->status().ok()) { ... (*part)->status().message ... }

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "aos/events/logging/logger_generated.h"
#include "aos/events/logging/part_format.h"
#include "aos/util/status.h"

namespace aos::logger {

// Why a reader stopped.
struct ReadStatus {
  enum class Kind {
    // Reading (or read to a clean end).
    kOk,
    // The file ends inside a record or a zstd frame.
    kTruncated,
    // A record or frame is malformed.
    kCorrupt,
    // The file could not be read.
    kIoError,
  };
  Kind kind = Kind::kOk;
  // Byte offset in the file where the unusable data starts (the end of the
  // last complete zstd frame for zstd parts).
  uint64_t file_offset = 0;
  // One line for the user: file, offset, what is wrong and how much was
  // lost.
  std::string message;

  bool ok() const { return kind == Kind::kOk; }
};

struct PartReaderOptions {
  // Larger size prefixes or zstd frames are treated as corrupt (bounds the
  // memory a damaged file can make a reader allocate).
  size_t max_buffer_bytes = size_t{1} << 30;
  // The encoding, when the file's name does not say (e.g. /proc/self/fd/N).
  std::optional<Compression> compression;
};

class PartStreamReader {
 public:
  // Opens `path` (compressed as its extension says, see
  // CompressionFromPath, unless options.compression says). Returns an error
  // naming the
  // path if it cannot be opened.
  static Result<std::unique_ptr<PartStreamReader>> Open(
      std::string path, PartReaderOptions options = {});

  PartStreamReader(const PartStreamReader &) = delete;
  PartStreamReader &operator=(const PartStreamReader &) = delete;
  ~PartStreamReader();

  // The next size-prefixed flatbuffer (prefix included; its flatbuffer starts
  // kPartAlignment-aligned), valid until the next call; nullopt at the end of
  // the file or at the first damage (see status()). The content is not
  // verified.
  std::optional<std::span<const uint8_t>> ReadSizedFlatbuffer();

  // Marks the buffer just returned as bad (called by PartReader when it
  // fails verification): reading stops with kCorrupt and `why`.
  void MarkCorrupt(std::string_view why);

  const ReadStatus &status() const { return status_; }
  const std::string &path() const { return path_; }
  Compression compression() const { return compression_; }
  // The file's size when opened.
  uint64_t file_size() const { return file_size_; }
  // Offset in the stream (uncompressed) of the buffer last returned.
  uint64_t stream_offset() const { return last_stream_offset_; }

 private:
  PartStreamReader(std::string path, int fd, uint64_t file_size,
                   PartReaderOptions options);

  // Makes at least `bytes` of complete data available from begin_. Returns
  // false at the end of the file or on damage (status_ set unless it was a
  // clean end with nothing pending).
  bool Fill(size_t bytes);
  // One step of decoding an xz part into buffer_ (reading as needed).
  // Returns false at the end or on damage (status_ set unless clean).
  bool DecodeXz();
  // Decodes the next snappy framing chunk into buffer_, checking its
  // checksum. Returns false at the end or on damage.
  bool DecodeSnappyChunk();
  // Makes input_ hold at least `bytes` unread bytes; false at the end of the
  // file (or on a read error, with status_ set).
  bool InputHolds(size_t bytes);
  bool compressed() const { return compression_ != Compression::kNone; }
  // Reads more of the file into the input (zstd) or the buffer (raw).
  // Returns the bytes read (0 at the end), -1 on error.
  ssize_t ReadFile(uint8_t *data, size_t size);
  // Replaces the (fully consumed) input with the next read of the file:
  // input_end_ is 0 at the end of the file. False on a read error, with
  // status_ set.
  bool RefillInput();
  void Stop(ReadStatus::Kind kind, uint64_t file_offset, std::string why);
  // Moves the unread data to the start of buffer_ and makes room for
  // `extra` more bytes after it.
  void Compact(size_t extra);

  const std::string path_;
  int fd_;
  const uint64_t file_size_;
  const PartReaderOptions options_;
  const Compression compression_;
  struct ZstdContext;
  std::unique_ptr<ZstdContext> zstd_;
  struct XzContext;
  std::unique_ptr<XzContext> xz_;
  // The snappy stream identifier chunk was seen.
  bool snappy_identified_ = false;

  // Decoded stream: [begin_, complete_end_) is complete and unread;
  // [complete_end_, end_) is a zstd frame still being decoded.
  std::vector<uint8_t> buffer_;
  size_t begin_ = 0;
  size_t complete_end_ = 0;
  size_t end_ = 0;
  // Compressed input not yet decoded.
  std::vector<uint8_t> input_;
  size_t input_begin_ = 0;
  size_t input_end_ = 0;

  uint64_t file_offset_read_ = 0;
  // File offset of the end of the last complete frame (zstd) or of the last
  // buffer returned (raw).
  uint64_t good_file_offset_ = 0;
  uint64_t stream_offset_ = 0;
  uint64_t last_stream_offset_ = 0;
  bool frame_in_progress_ = false;
  bool stopped_ = false;
  ReadStatus status_;
};

class PartReader {
 public:
  // Opens `path` and reads its header. Returns an error naming the file if it
  // cannot be read or does not start with a valid LogFileHeader (not a log
  // part, or damaged at the start).
  static Result<std::unique_ptr<PartReader>> Open(
      std::string path, PartReaderOptions options = {});

  // The file's LogFileHeader, and its size-prefixed bytes (what a config
  // file's sha256 is computed over).
  const LogFileHeader &header() const {
    return *flatbuffers::GetSizePrefixedRoot<LogFileHeader>(
        header_bytes_.data());
  }
  std::span<const uint8_t> header_span() const { return header_bytes_; }

  // The next verified message, valid until the next call; nullptr at the
  // end of the file or at the first damage (see status()).
  const MessageHeader *ReadMessage();
  // The size-prefixed bytes of the message ReadMessage() last returned.
  std::span<const uint8_t> message_span() const { return message_span_; }

  const ReadStatus &status() const { return stream_->status(); }
  const std::string &path() const { return stream_->path(); }
  PartStreamReader *stream() { return stream_.get(); }

 private:
  PartReader(std::unique_ptr<PartStreamReader> stream,
             std::vector<uint8_t> header_bytes)
      : stream_(std::move(stream)), header_bytes_(std::move(header_bytes)) {}

  std::unique_ptr<PartStreamReader> stream_;
  std::vector<uint8_t> header_bytes_;
  std::span<const uint8_t> message_span_;
};

// A hex sha256 of `data` (lowercase, 64 characters).
std::string Sha256Hex(std::span<const uint8_t> data);

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_PART_READER_H_
