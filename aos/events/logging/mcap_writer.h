#ifndef AOS_EVENTS_LOGGING_MCAP_WRITER_H_
#define AOS_EVENTS_LOGGING_MCAP_WRITER_H_

// McapWriter writes an MCAP file (https://mcap.dev/spec): the container
// Foxglove and other robotics viewers open. log_to_mcap uses it to export an
// AOS log, but it knows nothing about AOS: schemas, channels and messages are
// given as bytes.
//
// The file is written in one pass, never seeking back:
//
//   magic, Header,
//   Chunk (Schema, Channel and Message records, zstd-compressed by default),
//   Message Index per channel of that chunk, ... more chunks ...,
//   Data End (CRC32 of everything before it),
//   summary: Schemas, Channels, Statistics, Chunk Indexes,
//   Summary Offsets, Footer (CRC32 of the summary), magic.
//
// So an indexed reader finds every channel, the counts and each chunk from the
// end of the file, and a streaming reader sees every schema and channel before
// the first message that uses it. Every chunk carries the CRC32 of its
// uncompressed records.
//
//   auto writer = McapWriter::Create("out.mcap", {});
//   uint16_t schema = (*writer)->AddSchema("aos.examples.Ping", "flatbuffer",
//                                          bfbs);
//   uint16_t channel = (*writer)->AddChannel(schema, "/test", "flatbuffer",
//   {});
//   (*writer)->WriteMessage(channel, 0, log_ns, publish_ns, bytes);
//   (*writer)->Close();
//
// Not thread-safe. A file that was not Close()d has no summary and no footer;
// streaming readers read it up to the last complete chunk.

#include <zstd.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aos/util/status.h"

namespace aos::logger {

class McapWriter {
 public:
  enum class Compression { kNone, kZstd };

  struct Options {
    Compression compression = Compression::kZstd;
    // A chunk is closed once its uncompressed records reach this size. Larger
    // chunks compress better; smaller ones make seeking cheaper. Foxglove's
    // own writers use about 1 MiB.
    size_t chunk_size = 1 << 20;
    // zstd's fastest levels compress AOS messages nearly as well as the
    // default (3) at twice the speed; export speed matters more here.
    int zstd_level = 1;
    // The Header record's fields (see the spec's profiles); "" is no profile.
    std::string profile;
    std::string library = "aos";
  };

  // Creates (or truncates) `path` and writes the magic and header. Returns an
  // error naming the path if it cannot be created.
  static Result<std::unique_ptr<McapWriter>> Create(const std::string &path,
                                                    Options options);

  // Closes the file if Close() was not called; an error is only logged then.
  ~McapWriter();

  McapWriter(const McapWriter &) = delete;
  McapWriter &operator=(const McapWriter &) = delete;

  // Adds a schema and returns its id (1, 2, ... in call order). `encoding` is
  // one of the spec's schema encodings ("flatbuffer" with a binary .bfbs,
  // "jsonschema", ...), `data` the schema itself. The record goes into the
  // data section at once, and into the summary on Close().
  uint16_t AddSchema(std::string_view name, std::string_view encoding,
                     std::span<const uint8_t> data);

  // Adds a channel and returns its id (0, 1, ... in call order).
  // `schema_id` must come from AddSchema (or be 0: no schema).
  uint16_t AddChannel(
      uint16_t schema_id, std::string_view topic,
      std::string_view message_encoding,
      const std::vector<std::pair<std::string, std::string>> &metadata);

  // Appends one message to the current chunk, closing the chunk when it is
  // full. `channel_id` must come from AddChannel. Times are nanoseconds since
  // the epoch the caller chose. Returns an error naming the file if writing
  // failed (the disk is full, say); after an error every later call returns
  // it too.
  Result<void> WriteMessage(uint16_t channel_id, uint32_t sequence,
                            uint64_t log_time, uint64_t publish_time,
                            std::span<const uint8_t> data);

  // Writes the last chunk, the summary and the footer, and closes the file.
  // Call once; the writer accepts nothing afterwards.
  Result<void> Close();

  // What has been written so far.
  uint64_t message_count() const { return message_count_; }
  uint32_t chunk_count() const { return chunk_count_; }
  // Bytes handed to the file so far (the file's size once closed).
  uint64_t bytes_written() const { return offset_; }

 private:
  struct ChunkIndex {
    uint64_t message_start_time;
    uint64_t message_end_time;
    uint64_t chunk_start_offset;
    uint64_t chunk_length;
    std::vector<std::pair<uint16_t, uint64_t>> message_index_offsets;
    uint64_t message_index_length;
    uint64_t compressed_size;
    uint64_t uncompressed_size;
  };

  // What a channel's message index in the current chunk holds.
  struct ChannelState {
    std::vector<std::pair<uint64_t, uint64_t>> index;  // log_time, offset
    uint64_t message_count = 0;
  };

  McapWriter(std::string path, int fd, Options options);

  // Appends bytes to the output buffer, the running CRC and the offset.
  void Emit(std::span<const uint8_t> bytes);
  void EmitBuffer(const std::vector<uint8_t> &bytes) { Emit(bytes); }
  // Writes the output buffer to the file.
  Result<void> Flush();
  // Writes the current chunk and its message indexes.
  Result<void> FinishChunk();
  std::string_view compression_name() const;

  const std::string path_;
  int fd_;
  const Options options_;
  ZSTD_CCtx *zstd_context_ = nullptr;

  // Bytes not yet written to the file.
  std::vector<uint8_t> output_;
  uint64_t offset_ = 0;
  // CRC32 of the data section (then of the summary) so far.
  uint32_t crc_ = 0;
  bool closed_ = false;
  // Set once a write failed; returned by every later call.
  std::string error_;

  // The current chunk's records, uncompressed, and its message time range.
  std::vector<uint8_t> chunk_;
  std::vector<uint8_t> compressed_;
  uint64_t chunk_start_time_ = 0;
  uint64_t chunk_end_time_ = 0;
  bool chunk_has_messages_ = false;
  // Channels with messages in the current chunk, in first-message order.
  std::vector<uint16_t> chunk_channels_;

  // Serialized Schema and Channel records, repeated in the summary.
  std::vector<std::vector<uint8_t>> schema_records_;
  std::vector<std::vector<uint8_t>> channel_records_;
  std::vector<ChannelState> channels_;
  std::vector<ChunkIndex> chunk_indexes_;

  uint64_t message_count_ = 0;
  uint32_t chunk_count_ = 0;
  uint64_t message_start_time_ = 0;
  uint64_t message_end_time_ = 0;
  // A record being assembled (a message index, a summary record).
  std::vector<uint8_t> scratch_;
};

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_MCAP_WRITER_H_
