#include "aos/events/logging/part_reader.h"

#include <fcntl.h>
#include <lzma.h>
#include <openssl/evp.h>
#include <snappy.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "aos/events/logging/str_cat.h"
#include "flatbuffers/flatbuffers.h"
#include "glog/logging.h"

namespace aos::logger {
namespace {

constexpr size_t kPrefixBytes = sizeof(flatbuffers::uoffset_t);
constexpr size_t kReadChunk = 256 * 1024;

uint32_t ReadLittleEndian32(const uint8_t *data) {
  return static_cast<uint32_t>(data[0]) |
         (static_cast<uint32_t>(data[1]) << 8) |
         (static_cast<uint32_t>(data[2]) << 16) |
         (static_cast<uint32_t>(data[3]) << 24);
}

}  // namespace

struct PartStreamReader::ZstdContext {
  ZSTD_DCtx *context = nullptr;
  ~ZstdContext() { ZSTD_freeDCtx(context); }
};

struct PartStreamReader::XzContext {
  lzma_stream stream = LZMA_STREAM_INIT;
  // lzma_code returned LZMA_STREAM_END (after the whole file was read).
  bool finished = false;
  ~XzContext() { lzma_end(&stream); }
};

Result<std::unique_ptr<PartStreamReader>> PartStreamReader::Open(
    std::string path, PartReaderOptions options) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return MakeError(
        StrCat("Cannot open log file ", path, ": ", std::strerror(errno)));
  }
  struct stat stats;
  if (fstat(fd, &stats) != 0) {
    const int error_number = errno;
    close(fd);
    return MakeError(StrCat("Cannot stat log file ", path, ": ",
                            std::strerror(error_number)));
  }
  if (S_ISDIR(stats.st_mode)) {
    close(fd);
    return MakeError(StrCat(path, " is a folder, not a log part file"));
  }
  return std::unique_ptr<PartStreamReader>(new PartStreamReader(
      std::move(path), fd, static_cast<uint64_t>(stats.st_size), options));
}

PartStreamReader::PartStreamReader(std::string path, int fd, uint64_t file_size,
                                   PartReaderOptions options)
    : path_(std::move(path)),
      fd_(fd),
      file_size_(file_size),
      options_(options),
      compression_(options.compression.value_or(CompressionFromPath(path_))) {
  switch (compression_) {
    case Compression::kNone:
      buffer_.resize(kReadChunk);
      break;
    case Compression::kZstd:
      zstd_ = std::make_unique<ZstdContext>();
      zstd_->context = ZSTD_createDCtx();
      CHECK(zstd_->context != nullptr) << ": ZSTD_createDCtx failed";
      input_.resize(kReadChunk);
      buffer_.resize(ZSTD_DStreamOutSize());
      break;
    case Compression::kXz: {
      xz_ = std::make_unique<XzContext>();
      // Concatenated streams (xz's CLI and upstream may append) decode as
      // one; the memory limit bounds what a damaged header can ask for.
      const lzma_ret result = lzma_stream_decoder(
          &xz_->stream, options_.max_buffer_bytes, LZMA_CONCATENATED);
      CHECK_EQ(result, LZMA_OK) << ": lzma_stream_decoder failed";
      input_.resize(kReadChunk);
      buffer_.resize(kReadChunk);
      break;
    }
    case Compression::kSnappy:
      input_.resize(kReadChunk);
      buffer_.resize(kReadChunk);
      break;
  }
}

PartStreamReader::~PartStreamReader() { close(fd_); }

ssize_t PartStreamReader::ReadFile(uint8_t *data, size_t size) {
  while (true) {
    const ssize_t result = read(fd_, data, size);
    if (result < 0 && errno == EINTR) continue;
    if (result > 0) file_offset_read_ += static_cast<uint64_t>(result);
    return result;
  }
}

bool PartStreamReader::RefillInput() {
  const ssize_t got = ReadFile(input_.data(), input_.size());
  if (got < 0) {
    Stop(ReadStatus::Kind::kIoError, good_file_offset_,
         StrCat("read failed (", std::strerror(errno), ")"));
    return false;
  }
  input_begin_ = 0;
  input_end_ = static_cast<size_t>(got);
  return true;
}

void PartStreamReader::Stop(ReadStatus::Kind kind, uint64_t file_offset,
                            std::string why) {
  stopped_ = true;
  status_.kind = kind;
  status_.file_offset = file_offset;
  const uint64_t lost = file_size_ > file_offset ? file_size_ - file_offset : 0;
  status_.message = StrCat(
      path_, ": ", why, " at byte ", file_offset, " of ", file_size_, "; the ",
      lost, " bytes from there on are unreadable, everything before was read");
}

void PartStreamReader::Compact(size_t extra) {
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    complete_end_ -= begin_;
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() - end_ < extra) {
    buffer_.resize(std::max(buffer_.size() * 2, end_ + extra));
  }
}

bool PartStreamReader::Fill(size_t bytes) {
  while (complete_end_ - begin_ < bytes) {
    if (stopped_) return false;
    if (!compressed()) {
      const size_t missing = bytes - (end_ - begin_);
      if (buffer_.size() - end_ < std::max(missing, kReadChunk)) {
        Compact(std::max(missing, kReadChunk));
      }
      const ssize_t got =
          ReadFile(buffer_.data() + end_, buffer_.size() - end_);
      if (got < 0) {
        Stop(ReadStatus::Kind::kIoError, stream_offset_,
             StrCat("read failed (", std::strerror(errno), ")"));
        return false;
      }
      if (got == 0) {
        if (end_ == begin_) {
          stopped_ = true;  // A clean end: status stays kOk.
        } else {
          Stop(ReadStatus::Kind::kTruncated, stream_offset_,
               "the file ends inside a record (cut off while writing)");
        }
        return false;
      }
      end_ += static_cast<size_t>(got);
      complete_end_ = end_;
      continue;
    }
    if (compression_ == Compression::kSnappy) {
      if (!DecodeSnappyChunk()) return false;
      continue;
    }
    if (compression_ == Compression::kXz) {
      if (!DecodeXz()) return false;
      continue;
    }

    if (input_begin_ == input_end_) {
      if (!RefillInput()) return false;
      if (input_end_ == 0) {
        if (end_ > complete_end_ || frame_in_progress_) {
          Stop(ReadStatus::Kind::kTruncated, good_file_offset_,
               "the file ends inside a zstd frame (cut off while writing)");
        } else if (complete_end_ > begin_) {
          Stop(ReadStatus::Kind::kTruncated, good_file_offset_,
               "the last zstd frame ends inside a record");
        } else {
          stopped_ = true;
        }
        return false;
      }
    }
    if (end_ - complete_end_ > options_.max_buffer_bytes) {
      Stop(ReadStatus::Kind::kCorrupt, good_file_offset_,
           StrCat("a zstd frame decodes to more than ",
                  options_.max_buffer_bytes, " bytes"));
      return false;
    }
    if (buffer_.size() - end_ < ZSTD_DStreamOutSize()) {
      Compact(ZSTD_DStreamOutSize());
    }
    ZSTD_outBuffer out{buffer_.data(), buffer_.size(), end_};
    ZSTD_inBuffer in{input_.data(), input_end_, input_begin_};
    const size_t result = ZSTD_decompressStream(zstd_->context, &out, &in);
    input_begin_ = in.pos;
    end_ = out.pos;
    if (ZSTD_isError(result)) {
      Stop(ReadStatus::Kind::kCorrupt, good_file_offset_,
           StrCat("the zstd frame starting here is damaged (",
                  ZSTD_getErrorName(result), ")"));
      return false;
    }
    frame_in_progress_ = result != 0;
    if (result == 0) {
      complete_end_ = end_;
      good_file_offset_ = file_offset_read_ - (input_end_ - input_begin_);
    }
  }
  return true;
}

bool PartStreamReader::DecodeXz() {
  lzma_stream &stream = xz_->stream;
  if (xz_->finished) {
    if (complete_end_ > begin_) {
      Stop(ReadStatus::Kind::kTruncated, good_file_offset_,
           "the xz stream ends inside a record");
    } else {
      stopped_ = true;  // A clean end.
    }
    return false;
  }
  lzma_action action = LZMA_RUN;
  if (input_begin_ == input_end_) {
    if (!RefillInput()) return false;
    // At the end of the file, FINISH tells a complete stream from a cut one.
    if (input_end_ == 0) action = LZMA_FINISH;
  }
  if (buffer_.size() - end_ < kReadChunk) Compact(kReadChunk);
  stream.next_in = input_.data() + input_begin_;
  stream.avail_in = input_end_ - input_begin_;
  stream.next_out = buffer_.data() + end_;
  stream.avail_out = buffer_.size() - end_;
  const lzma_ret result = lzma_code(&stream, action);
  input_begin_ = input_end_ - stream.avail_in;
  end_ = buffer_.size() - stream.avail_out;
  // xz verifies a block's check only at its end, and upstream writes one
  // block per file: records are handed out as they decode (each is still
  // verified as a flatbuffer), as for raw parts.
  complete_end_ = end_;
  good_file_offset_ = file_offset_read_ - (input_end_ - input_begin_);
  switch (result) {
    case LZMA_OK:
      return true;
    case LZMA_STREAM_END:
      xz_->finished = true;
      return true;
    case LZMA_BUF_ERROR:
      Stop(ReadStatus::Kind::kTruncated, good_file_offset_,
           "the file ends inside an xz stream (cut off while writing)");
      return false;
    case LZMA_FORMAT_ERROR:
      Stop(ReadStatus::Kind::kCorrupt, good_file_offset_,
           "the data is not an xz stream");
      return false;
    case LZMA_MEMLIMIT_ERROR:
    case LZMA_MEM_ERROR:
      Stop(ReadStatus::Kind::kCorrupt, good_file_offset_,
           StrCat("the xz stream needs more than ", options_.max_buffer_bytes,
                  " bytes of memory to decode"));
      return false;
    default:
      Stop(ReadStatus::Kind::kCorrupt, good_file_offset_,
           StrCat("the xz data here is damaged (liblzma error ",
                  static_cast<int>(result), ")"));
      return false;
  }
}

bool PartStreamReader::InputHolds(size_t bytes) {
  while (input_end_ - input_begin_ < bytes) {
    if (input_begin_ > 0) {
      std::memmove(input_.data(), input_.data() + input_begin_,
                   input_end_ - input_begin_);
      input_end_ -= input_begin_;
      input_begin_ = 0;
    }
    if (input_.size() < bytes) input_.resize(std::max(bytes, kReadChunk));
    const ssize_t got =
        ReadFile(input_.data() + input_end_, input_.size() - input_end_);
    if (got < 0) {
      Stop(ReadStatus::Kind::kIoError, good_file_offset_,
           StrCat("read failed (", std::strerror(errno), ")"));
      return false;
    }
    if (got == 0) return false;
    input_end_ += static_cast<size_t>(got);
  }
  return true;
}

bool PartStreamReader::DecodeSnappyChunk() {
  // A chunk: a type byte, a 24-bit little-endian length, then the body.
  constexpr size_t kChunkHeader = 4;
  if (!InputHolds(kChunkHeader)) {
    if (stopped_) return false;
    if (input_end_ > input_begin_) {
      Stop(ReadStatus::Kind::kTruncated, good_file_offset_,
           "the file ends inside a snappy chunk (cut off while writing)");
    } else if (complete_end_ > begin_) {
      Stop(ReadStatus::Kind::kTruncated, good_file_offset_,
           "the last snappy chunk ends inside a record");
    } else {
      stopped_ = true;  // A clean end.
    }
    return false;
  }
  const uint8_t *header = input_.data() + input_begin_;
  const uint8_t type = header[0];
  const size_t length = static_cast<size_t>(header[1]) |
                        (static_cast<size_t>(header[2]) << 8) |
                        (static_cast<size_t>(header[3]) << 16);
  if (!snappy_identified_ && type != 0xff) {
    Stop(ReadStatus::Kind::kCorrupt, good_file_offset_,
         "the data is not a snappy framed stream (no stream identifier)");
    return false;
  }
  if (!InputHolds(kChunkHeader + length)) {
    if (!stopped_) {
      Stop(ReadStatus::Kind::kTruncated, good_file_offset_,
           "the file ends inside a snappy chunk (cut off while writing)");
    }
    return false;
  }
  const uint8_t *body = input_.data() + input_begin_ + kChunkHeader;
  if (type == 0xff) {
    static constexpr uint8_t kIdentifier[] = {'s', 'N', 'a', 'P', 'p', 'Y'};
    if (length != sizeof(kIdentifier) ||
        std::memcmp(body, kIdentifier, sizeof(kIdentifier)) != 0) {
      Stop(ReadStatus::Kind::kCorrupt, good_file_offset_,
           "the snappy stream identifier is damaged");
      return false;
    }
    snappy_identified_ = true;
  } else if (type == 0x00 || type == 0x01) {
    // Compressed or uncompressed data, after a masked checksum of the
    // uncompressed bytes.
    if (length < 4) {
      Stop(ReadStatus::Kind::kCorrupt, good_file_offset_,
           "a snappy data chunk is too short for its checksum");
      return false;
    }
    const uint32_t checksum = ReadLittleEndian32(body);
    const char *data = reinterpret_cast<const char *>(body + 4);
    const size_t data_size = length - 4;
    size_t size = data_size;
    if (type == 0x00 &&
        !snappy::GetUncompressedLength(data, data_size, &size)) {
      Stop(ReadStatus::Kind::kCorrupt, good_file_offset_,
           "the snappy chunk starting here is damaged (bad length)");
      return false;
    }
    if (size > options_.max_buffer_bytes) {
      Stop(ReadStatus::Kind::kCorrupt, good_file_offset_,
           StrCat("a snappy chunk decodes to more than ",
                  options_.max_buffer_bytes, " bytes"));
      return false;
    }
    if (buffer_.size() - end_ < size) Compact(size);
    uint8_t *out = buffer_.data() + end_;
    if (type == 0x00) {
      if (!snappy::RawUncompress(data, data_size,
                                 reinterpret_cast<char *>(out))) {
        Stop(ReadStatus::Kind::kCorrupt, good_file_offset_,
             "the snappy chunk starting here is damaged");
        return false;
      }
    } else {
      std::memcpy(out, data, size);
    }
    // The format specifies CRC-32C; upstream's encoder writes a CRC-32
    // variant instead. Either proves the chunk intact.
    const std::span<const uint8_t> decoded(out, size);
    if (checksum != SnappyMask(Crc32c(decoded)) &&
        checksum != SnappyMask(UpstreamSnappyCrc(decoded))) {
      Stop(ReadStatus::Kind::kCorrupt, good_file_offset_,
           "the snappy chunk starting here fails its checksum");
      return false;
    }
    end_ += size;
    complete_end_ = end_;
  } else if (type < 0x80) {
    Stop(ReadStatus::Kind::kCorrupt, good_file_offset_,
         StrCat("unknown unskippable snappy chunk type ",
                static_cast<int>(type)));
    return false;
  }
  // 0x80-0xfe (skippable, padding) carry nothing for us.
  input_begin_ += kChunkHeader + length;
  good_file_offset_ = file_offset_read_ - (input_end_ - input_begin_);
  return true;
}

std::optional<std::span<const uint8_t>>
PartStreamReader::ReadSizedFlatbuffer() {
  if (stopped_) return std::nullopt;
  if (!Fill(kPrefixBytes)) return std::nullopt;
  const uint32_t size = ReadLittleEndian32(buffer_.data() + begin_);
  const uint64_t here = compressed() ? good_file_offset_ : stream_offset_;
  if (size == 0 || size > options_.max_buffer_bytes) {
    Stop(ReadStatus::Kind::kCorrupt, here,
         StrCat("the record at stream offset ", stream_offset_,
                " has an impossible size (", size, " bytes)"));
    return std::nullopt;
  }
  if (!compressed() && stream_offset_ + kPrefixBytes + size > file_size_) {
    // Do not allocate for a record the file cannot hold.
    Stop(ReadStatus::Kind::kTruncated, stream_offset_,
         "the file ends inside a record (cut off while writing, or a damaged "
         "size)");
    return std::nullopt;
  }
  if (!Fill(kPrefixBytes + size)) return std::nullopt;
  if (reinterpret_cast<uintptr_t>(buffer_.data() + begin_) % kPartAlignment !=
      0) {
    Compact(0);
  }
  std::span<const uint8_t> result(buffer_.data() + begin_, kPrefixBytes + size);
  last_stream_offset_ = stream_offset_;
  begin_ += result.size();
  stream_offset_ += result.size();
  return result;
}

void PartStreamReader::MarkCorrupt(std::string_view why) {
  Stop(ReadStatus::Kind::kCorrupt,
       compressed() ? good_file_offset_ : last_stream_offset_,
       StrCat("the record at stream offset ", last_stream_offset_, " ", why));
}

Result<std::unique_ptr<PartReader>> PartReader::Open(
    std::string path, PartReaderOptions options) {
  Result<std::unique_ptr<PartStreamReader>> stream =
      PartStreamReader::Open(std::move(path), options);
  if (!stream) return std::unexpected(stream.error());
  std::optional<std::span<const uint8_t>> header =
      (*stream)->ReadSizedFlatbuffer();
  if (!header) {
    if ((*stream)->status().ok()) {
      return MakeError(
          StrCat((*stream)->path(),
                 " is empty: not a log part (it has no LogFileHeader)"));
    }
    return MakeError(StrCat(
        (*stream)->path(),
        " is not an AOS log part (.bfbs, or .bfbs.zst/.xz/.sz compressed), or "
        "its "
        "header is damaged: ",
        (*stream)->status().message));
  }
  flatbuffers::Verifier verifier(header->data(), header->size());
  if (!verifier.VerifySizePrefixedBuffer<LogFileHeader>(nullptr)) {
    return MakeError(StrCat(
        (*stream)->path(),
        " does not start with a valid aos.logger.LogFileHeader: it is "
        "not an AOS log part (.bfbs, or .bfbs.zst/.xz/.sz compressed), or its "
        "header is damaged"));
  }
  return std::unique_ptr<PartReader>(
      new PartReader(std::move(*stream),
                     std::vector<uint8_t>(header->begin(), header->end())));
}

const MessageHeader *PartReader::ReadMessage() {
  std::optional<std::span<const uint8_t>> span = stream_->ReadSizedFlatbuffer();
  if (!span) {
    message_span_ = {};
    return nullptr;
  }
  flatbuffers::Verifier verifier(span->data(), span->size());
  if (!verifier.VerifySizePrefixedBuffer<MessageHeader>(nullptr)) {
    stream_->MarkCorrupt("is not a valid aos.logger.MessageHeader");
    message_span_ = {};
    return nullptr;
  }
  message_span_ = *span;
  return flatbuffers::GetSizePrefixedRoot<MessageHeader>(span->data());
}

std::string Sha256Hex(std::span<const uint8_t> data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  CHECK_EQ(EVP_Digest(data.data(), data.size(), digest, &digest_size,
                      EVP_sha256(), nullptr),
           1)
      << ": sha256 failed";
  std::string hex;
  hex.reserve(2 * digest_size);
  for (unsigned int i = 0; i < digest_size; ++i) {
    static constexpr char kHex[] = "0123456789abcdef";
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

}  // namespace aos::logger
