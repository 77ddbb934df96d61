#include "aos/events/logging/mcap_writer.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "glog/logging.h"

namespace aos::logger {
namespace {

constexpr uint8_t kMagic[] = {0x89, 'M', 'C', 'A', 'P', '0', '\r', '\n'};

// Record opcodes (spec, "Records").
enum Opcode : uint8_t {
  kHeader = 0x01,
  kFooter = 0x02,
  kSchema = 0x03,
  kChannel = 0x04,
  kMessage = 0x05,
  kChunk = 0x06,
  kMessageIndex = 0x07,
  kChunkIndex = 0x08,
  kStatistics = 0x0B,
  kSummaryOffset = 0x0E,
  kDataEnd = 0x0F,
};

// Opcode plus the uint64 content length.
constexpr size_t kRecordPrefixSize = 1 + 8;
// The output buffer is written to the file once it holds this much.
constexpr size_t kFlushSize = 1 << 20;

// MCAP is little-endian throughout, as is every machine AOS runs on; the
// static_assert makes a port to a big-endian machine fail loudly here.
static_assert(std::endian::native == std::endian::little);

template <typename T>
void Append(std::vector<uint8_t> *out, T value) {
  const size_t size = out->size();
  out->resize(size + sizeof(T));
  std::memcpy(out->data() + size, &value, sizeof(T));
}

// Writes `value` at `p` and returns the byte after it.
template <typename T>
uint8_t *Store(uint8_t *p, T value) {
  std::memcpy(p, &value, sizeof(T));
  return p + sizeof(T);
}

void AppendBytes(std::vector<uint8_t> *out, std::span<const uint8_t> bytes) {
  out->insert(out->end(), bytes.begin(), bytes.end());
}

void AppendString(std::vector<uint8_t> *out, std::string_view text) {
  Append<uint32_t>(out, text.size());
  AppendBytes(out, std::span(reinterpret_cast<const uint8_t *>(text.data()),
                             text.size()));
}

// Starts a record; FinishRecord fills in its length once the content is in.
size_t StartRecord(std::vector<uint8_t> *out, Opcode opcode) {
  out->push_back(opcode);
  const size_t length_position = out->size();
  Append<uint64_t>(out, 0);
  return length_position;
}

void FinishRecord(std::vector<uint8_t> *out, size_t length_position) {
  const uint64_t length = out->size() - length_position - 8;
  std::memcpy(out->data() + length_position, &length, sizeof(length));
}

uint32_t Crc32(uint32_t crc, std::span<const uint8_t> bytes) {
  // zlib takes a uInt length: feed it at most 1 GiB at a time.
  while (!bytes.empty()) {
    const size_t size = std::min<size_t>(bytes.size(), 1u << 30);
    crc = crc32(crc, bytes.data(), size);
    bytes = bytes.subspan(size);
  }
  return crc;
}

}  // namespace

Result<std::unique_ptr<McapWriter>> McapWriter::Create(const std::string &path,
                                                       Options options) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd == -1) {
    return MakeError("cannot create MCAP file '" + path +
                     "': " + std::strerror(errno));
  }
  std::unique_ptr<McapWriter> writer(
      new McapWriter(path, fd, std::move(options)));
  std::vector<uint8_t> header;
  const size_t length = StartRecord(&header, kHeader);
  AppendString(&header, writer->options_.profile);
  AppendString(&header, writer->options_.library);
  FinishRecord(&header, length);
  writer->Emit(kMagic);
  writer->Emit(header);
  return writer;
}

McapWriter::McapWriter(std::string path, int fd, Options options)
    : path_(std::move(path)), fd_(fd), options_(std::move(options)) {
  CHECK_GT(options_.chunk_size, 0u) << ": an MCAP chunk needs room";
  if (options_.compression == Compression::kZstd) {
    zstd_context_ = ZSTD_createCCtx();
    CHECK(zstd_context_ != nullptr) << ": out of memory";
  }
  output_.reserve(kFlushSize + options_.chunk_size);
  chunk_.reserve(options_.chunk_size);
}

McapWriter::~McapWriter() {
  if (!closed_) {
    Result<void> result = Close();
    if (!result) {
      LOG(ERROR) << result.error().message();
    }
  }
  if (zstd_context_ != nullptr) {
    ZSTD_freeCCtx(zstd_context_);
  }
}

std::string_view McapWriter::compression_name() const {
  return options_.compression == Compression::kZstd ? "zstd" : "";
}

void McapWriter::Emit(std::span<const uint8_t> bytes) {
  crc_ = Crc32(crc_, bytes);
  offset_ += bytes.size();
  AppendBytes(&output_, bytes);
}

Result<void> McapWriter::Flush() {
  size_t written = 0;
  while (written < output_.size()) {
    const ssize_t result =
        write(fd_, output_.data() + written, output_.size() - written);
    if (result < 0) {
      if (errno == EINTR) continue;
      error_ = "writing MCAP file '" + path_ + "' failed at byte " +
               std::to_string(offset_ - (output_.size() - written)) + ": " +
               std::strerror(errno);
      return MakeError(error_);
    }
    written += result;
  }
  output_.clear();
  return {};
}

uint16_t McapWriter::AddSchema(std::string_view name, std::string_view encoding,
                               std::span<const uint8_t> data) {
  CHECK(!closed_) << ": AddSchema on a closed McapWriter (" << path_ << ")";
  CHECK_LT(schema_records_.size(), 0xffffu)
      << ": MCAP schema ids are 16 bits; " << path_ << " has too many";
  const uint16_t id = schema_records_.size() + 1;
  std::vector<uint8_t> record;
  const size_t length = StartRecord(&record, kSchema);
  Append<uint16_t>(&record, id);
  AppendString(&record, name);
  AppendString(&record, encoding);
  Append<uint32_t>(&record, data.size());
  AppendBytes(&record, data);
  FinishRecord(&record, length);
  AppendBytes(&chunk_, record);
  schema_records_.push_back(std::move(record));
  return id;
}

uint16_t McapWriter::AddChannel(
    uint16_t schema_id, std::string_view topic,
    std::string_view message_encoding,
    const std::vector<std::pair<std::string, std::string>> &metadata) {
  CHECK(!closed_) << ": AddChannel on a closed McapWriter (" << path_ << ")";
  CHECK_LE(schema_id, schema_records_.size())
      << ": channel " << topic << " names schema " << schema_id
      << ", which AddSchema did not return";
  CHECK_LT(channel_records_.size(), 0xffffu)
      << ": MCAP channel ids are 16 bits; " << path_ << " has too many";
  const uint16_t id = channel_records_.size();
  std::vector<uint8_t> record;
  const size_t length = StartRecord(&record, kChannel);
  Append<uint16_t>(&record, id);
  Append<uint16_t>(&record, schema_id);
  AppendString(&record, topic);
  AppendString(&record, message_encoding);
  std::vector<uint8_t> map;
  for (const auto &[key, value] : metadata) {
    AppendString(&map, key);
    AppendString(&map, value);
  }
  Append<uint32_t>(&record, map.size());
  AppendBytes(&record, map);
  FinishRecord(&record, length);
  AppendBytes(&chunk_, record);
  channel_records_.push_back(std::move(record));
  channels_.emplace_back();
  return id;
}

Result<void> McapWriter::WriteMessage(uint16_t channel_id, uint32_t sequence,
                                      uint64_t log_time, uint64_t publish_time,
                                      std::span<const uint8_t> data) {
  CHECK(!closed_) << ": WriteMessage on a closed McapWriter (" << path_ << ")";
  CHECK_LT(channel_id, channels_.size())
      << ": channel id " << channel_id << " was not returned by AddChannel";
  if (!error_.empty()) return MakeError(error_);

  ChannelState &channel = channels_[channel_id];
  if (channel.index.empty()) chunk_channels_.push_back(channel_id);
  channel.index.emplace_back(log_time, chunk_.size());
  ++channel.message_count;

  // One resize and plain stores: this runs for every message exported.
  constexpr size_t kFields = 2 + 4 + 8 + 8;
  const size_t start = chunk_.size();
  chunk_.resize(start + kRecordPrefixSize + kFields + data.size());
  uint8_t *p = chunk_.data() + start;
  *p++ = kMessage;
  p = Store<uint64_t>(p, kFields + data.size());
  p = Store<uint16_t>(p, channel_id);
  p = Store<uint32_t>(p, sequence);
  p = Store<uint64_t>(p, log_time);
  p = Store<uint64_t>(p, publish_time);
  if (!data.empty()) std::memcpy(p, data.data(), data.size());

  if (!chunk_has_messages_) {
    chunk_start_time_ = chunk_end_time_ = log_time;
    chunk_has_messages_ = true;
  } else {
    chunk_start_time_ = std::min(chunk_start_time_, log_time);
    chunk_end_time_ = std::max(chunk_end_time_, log_time);
  }
  if (message_count_ == 0) {
    message_start_time_ = message_end_time_ = log_time;
  } else {
    message_start_time_ = std::min(message_start_time_, log_time);
    message_end_time_ = std::max(message_end_time_, log_time);
  }
  ++message_count_;

  if (chunk_.size() >= options_.chunk_size) {
    return FinishChunk();
  }
  return {};
}

Result<void> McapWriter::FinishChunk() {
  if (chunk_.empty()) return {};
  std::span<const uint8_t> records = chunk_;
  if (options_.compression == Compression::kZstd) {
    compressed_.resize(ZSTD_compressBound(chunk_.size()));
    const size_t size =
        ZSTD_compressCCtx(zstd_context_, compressed_.data(), compressed_.size(),
                          chunk_.data(), chunk_.size(), options_.zstd_level);
    CHECK(!ZSTD_isError(size)) << ": zstd failed compressing a chunk of "
                               << path_ << ": " << ZSTD_getErrorName(size);
    records = std::span(compressed_.data(), size);
  }

  ChunkIndex index;
  index.message_start_time = chunk_has_messages_ ? chunk_start_time_ : 0;
  index.message_end_time = chunk_has_messages_ ? chunk_end_time_ : 0;
  index.chunk_start_offset = offset_;
  index.compressed_size = records.size();
  index.uncompressed_size = chunk_.size();

  scratch_.clear();
  const size_t length = StartRecord(&scratch_, kChunk);
  Append<uint64_t>(&scratch_, index.message_start_time);
  Append<uint64_t>(&scratch_, index.message_end_time);
  Append<uint64_t>(&scratch_, chunk_.size());
  // The spec reserves 0 for "not computed"; a real CRC of 0 is 1 in 2^32
  // and only costs the reader its check.
  Append<uint32_t>(&scratch_, Crc32(0, chunk_));
  AppendString(&scratch_, compression_name());
  Append<uint64_t>(&scratch_, records.size());
  // The length covers the records written next, outside the scratch buffer.
  const uint64_t content_length = scratch_.size() - length - 8 + records.size();
  std::memcpy(scratch_.data() + length, &content_length,
              sizeof(content_length));
  Emit(scratch_);
  Emit(records);
  index.chunk_length = kRecordPrefixSize + content_length;

  // One message index per channel of the chunk, in channel order so the
  // file does not depend on which channel spoke first.
  std::sort(chunk_channels_.begin(), chunk_channels_.end());
  const uint64_t indexes_start = offset_;
  for (uint16_t channel_id : chunk_channels_) {
    ChannelState &channel = channels_[channel_id];
    index.message_index_offsets.emplace_back(channel_id, offset_);
    // The entries are (log_time, offset) uint64 pairs, as the index holds
    // them in memory: emitted straight from it.
    static_assert(sizeof(channel.index[0]) == 16);
    const std::span<const uint8_t> entries(
        reinterpret_cast<const uint8_t *>(channel.index.data()),
        channel.index.size() * 16);
    scratch_.clear();
    scratch_.push_back(kMessageIndex);
    Append<uint64_t>(&scratch_, 2 + 4 + entries.size());
    Append<uint16_t>(&scratch_, channel_id);
    Append<uint32_t>(&scratch_, entries.size());
    Emit(scratch_);
    Emit(entries);
    channel.index.clear();
  }
  index.message_index_length = offset_ - indexes_start;
  chunk_indexes_.push_back(std::move(index));
  ++chunk_count_;

  chunk_.clear();
  chunk_channels_.clear();
  chunk_has_messages_ = false;
  if (output_.size() >= kFlushSize) {
    return Flush();
  }
  return {};
}

Result<void> McapWriter::Close() {
  CHECK(!closed_) << ": McapWriter::Close called twice on " << path_;
  closed_ = true;
  auto finish = [this]() -> Result<void> {
    if (!error_.empty()) return MakeError(error_);
    if (Result<void> result = FinishChunk(); !result) return result;

    scratch_.clear();
    const size_t length = StartRecord(&scratch_, kDataEnd);
    Append<uint32_t>(&scratch_, crc_);
    FinishRecord(&scratch_, length);
    Emit(scratch_);

    // The summary, grouped by opcode, and where each group is.
    crc_ = 0;
    const uint64_t summary_start = offset_;
    std::vector<std::tuple<Opcode, uint64_t, uint64_t>> groups;
    auto group = [&](Opcode opcode, auto &&write_records) {
      const uint64_t start = offset_;
      write_records();
      if (offset_ > start) groups.emplace_back(opcode, start, offset_ - start);
    };
    group(kSchema, [&] {
      for (const auto &record : schema_records_) EmitBuffer(record);
    });
    group(kChannel, [&] {
      for (const auto &record : channel_records_) EmitBuffer(record);
    });
    group(kStatistics, [&] {
      scratch_.clear();
      const size_t length = StartRecord(&scratch_, kStatistics);
      Append<uint64_t>(&scratch_, message_count_);
      Append<uint16_t>(&scratch_, schema_records_.size());
      Append<uint32_t>(&scratch_, channel_records_.size());
      Append<uint32_t>(&scratch_, 0);  // attachments
      Append<uint32_t>(&scratch_, 0);  // metadata
      Append<uint32_t>(&scratch_, chunk_count_);
      Append<uint64_t>(&scratch_, message_start_time_);
      Append<uint64_t>(&scratch_, message_end_time_);
      Append<uint32_t>(&scratch_, channels_.size() * (2 + 8));
      for (size_t i = 0; i < channels_.size(); ++i) {
        Append<uint16_t>(&scratch_, i);
        Append<uint64_t>(&scratch_, channels_[i].message_count);
      }
      FinishRecord(&scratch_, length);
      Emit(scratch_);
    });
    group(kChunkIndex, [&] {
      for (const ChunkIndex &index : chunk_indexes_) {
        scratch_.clear();
        const size_t length = StartRecord(&scratch_, kChunkIndex);
        Append<uint64_t>(&scratch_, index.message_start_time);
        Append<uint64_t>(&scratch_, index.message_end_time);
        Append<uint64_t>(&scratch_, index.chunk_start_offset);
        Append<uint64_t>(&scratch_, index.chunk_length);
        Append<uint32_t>(&scratch_, index.message_index_offsets.size() * 10);
        for (const auto &[channel_id, offset] : index.message_index_offsets) {
          Append<uint16_t>(&scratch_, channel_id);
          Append<uint64_t>(&scratch_, offset);
        }
        Append<uint64_t>(&scratch_, index.message_index_length);
        AppendString(&scratch_, compression_name());
        Append<uint64_t>(&scratch_, index.compressed_size);
        Append<uint64_t>(&scratch_, index.uncompressed_size);
        FinishRecord(&scratch_, length);
        Emit(scratch_);
        if (output_.size() >= kFlushSize) {
          if (Result<void> result = Flush(); !result) return;
        }
      }
    });
    if (!error_.empty()) return MakeError(error_);

    const uint64_t summary_offset_start = offset_;
    for (const auto &[opcode, start, size] : groups) {
      scratch_.clear();
      const size_t length = StartRecord(&scratch_, kSummaryOffset);
      scratch_.push_back(opcode);
      Append<uint64_t>(&scratch_, start);
      Append<uint64_t>(&scratch_, size);
      FinishRecord(&scratch_, length);
      Emit(scratch_);
    }

    // The footer's CRC covers the summary up to its own field.
    scratch_.clear();
    scratch_.push_back(kFooter);
    Append<uint64_t>(&scratch_, 8 + 8 + 4);
    Append<uint64_t>(&scratch_, groups.empty() ? 0 : summary_start);
    Append<uint64_t>(&scratch_, groups.empty() ? 0 : summary_offset_start);
    Emit(scratch_);
    scratch_.clear();
    Append<uint32_t>(&scratch_, crc_);
    Emit(scratch_);
    Emit(kMagic);
    return Flush();
  };
  Result<void> result = finish();
  if (close(fd_) != 0 && result) {
    result = MakeError("closing MCAP file '" + path_ +
                       "' failed: " + std::strerror(errno));
  }
  fd_ = -1;
  return result;
}

}  // namespace aos::logger
