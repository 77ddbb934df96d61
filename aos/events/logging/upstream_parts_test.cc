// Reading upstream's compressed parts: ".bfbs.xz" (xz streams, made here by
// liblzma's encoder, as upstream's LzmaEncoder does) and ".bfbs.sz" (snappy's
// framing format, made here chunk by chunk as upstream's SnappyEncoder
// writes it, and as the format's specification says), whole, cut and
// damaged.

#include <lzma.h>
#include <snappy.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "aos/events/logging/part_reader.h"
#include "aos/events/logging/part_writer.h"
#include "aos/testing/tmpdir.h"
#include "flatbuffers/flatbuffers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

using ::testing::HasSubstr;

// A part's stream (header, then messages with a payload pattern derived from
// their index), and where each record ends in it.
struct Stream {
  std::vector<uint8_t> bytes;
  std::vector<size_t> record_ends;  // [0] is the header's end
  size_t messages() const { return record_ends.size() - 1; }
  // Messages entirely within the first `decoded` bytes.
  size_t MessagesWithin(size_t decoded) const {
    size_t n = 0;
    for (size_t i = 1; i < record_ends.size(); ++i) {
      if (record_ends[i] <= decoded) n = i;
    }
    return n;
  }
};

void Append(Stream *stream, const flatbuffers::FlatBufferBuilder &fbb) {
  stream->bytes.insert(stream->bytes.end(), fbb.GetBufferPointer(),
                       fbb.GetBufferPointer() + fbb.GetSize());
  stream->record_ends.push_back(stream->bytes.size());
}

Stream MakeStream(size_t messages) {
  Stream stream;
  {
    flatbuffers::FlatBufferBuilder fbb;
    const auto name = fbb.CreateString("upstream");
    LogFileHeader::Builder header(fbb);
    header.add_name(name);
    fbb.FinishSizePrefixed(header.Finish());
    Append(&stream, fbb);
  }
  std::mt19937 rng(3);
  for (size_t index = 0; index < messages; ++index) {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<uint8_t> payload(rng() % 3000);
    for (size_t i = 0; i < payload.size(); ++i) {
      payload[i] = static_cast<uint8_t>(index * 7 + i / 16);
    }
    fbb.ForceVectorAlignment(payload.size(), 1, kPartAlignment);
    const auto data = fbb.CreateVector(payload);
    MessageHeader::Builder message(fbb);
    message.add_channel_index(static_cast<uint32_t>(index % 5));
    message.add_queue_index(static_cast<uint32_t>(index));
    message.add_data(data);
    fbb.FinishSizePrefixed(message.Finish());
    Append(&stream, fbb);
  }
  return stream;
}

struct ReadBack {
  size_t messages = 0;
  size_t mismatches = 0;
  ReadStatus status;
  std::string open_error;
};

ReadBack ReadAll(const std::string &path) {
  ReadBack result;
  Result<std::unique_ptr<PartReader>> reader = PartReader::Open(path);
  if (!reader) {
    result.open_error = reader.error().message();
    return result;
  }
  EXPECT_EQ((*reader)->header().name()->string_view(), "upstream");
  while (const MessageHeader *message = (*reader)->ReadMessage()) {
    const size_t index = result.messages;
    bool same = message->queue_index() == index &&
                message->channel_index() == index % 5 &&
                message->data() != nullptr;
    for (size_t i = 0; same && i < message->data()->size(); ++i) {
      same =
          message->data()->Get(i) == static_cast<uint8_t>(index * 7 + i / 16);
    }
    if (!same) ++result.mismatches;
    ++result.messages;
  }
  result.status = (*reader)->status();
  return result;
}

void WriteFile(const std::string &path, std::span<const uint8_t> data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char *>(data.data()),
            static_cast<std::streamsize>(data.size()));
}

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t *>(text.data()), text.size()};
}

// xz as upstream's LzmaEncoder writes it (lzma_easy_encoder, CRC64), one
// stream per call; `flush_every` > 0 adds LZMA_FULL_FLUSH every that many
// bytes (independent blocks).
std::vector<uint8_t> XzEncode(std::span<const uint8_t> data,
                              size_t flush_every = 0) {
  lzma_stream stream = LZMA_STREAM_INIT;
  CHECK_EQ(lzma_easy_encoder(&stream, 2, LZMA_CHECK_CRC64), LZMA_OK);
  std::vector<uint8_t> out(lzma_stream_buffer_bound(data.size()));
  stream.next_out = out.data();
  stream.avail_out = out.size();
  size_t at = 0;
  while (at < data.size()) {
    const size_t n = flush_every == 0 ? data.size() - at
                                      : std::min(flush_every, data.size() - at);
    stream.next_in = data.data() + at;
    stream.avail_in = n;
    const lzma_action action = flush_every == 0 ? LZMA_RUN : LZMA_FULL_FLUSH;
    lzma_ret result;
    do {
      result = lzma_code(&stream, action);
      CHECK(result == LZMA_OK || result == LZMA_STREAM_END) << result;
    } while (stream.avail_in > 0 ||
             (action == LZMA_FULL_FLUSH && result != LZMA_STREAM_END));
    at += n;
  }
  stream.avail_in = 0;
  while (lzma_code(&stream, LZMA_FINISH) != LZMA_STREAM_END) {
  }
  out.resize(out.size() - stream.avail_out);
  lzma_end(&stream);
  return out;
}

// Snappy framing: the stream identifier, then data chunks of up to
// `chunk_size` bytes. `upstream`: every chunk compressed (type 0) with
// upstream's checksum, chunks as large as asked (upstream does not keep to
// the format's 64 KiB). Otherwise as the specification says: CRC-32C, and
// incompressible-looking chunks stored (type 1), padding and a skippable
// chunk in between.
std::vector<uint8_t> SnappyFrame(
    std::span<const uint8_t> data, size_t chunk_size, bool upstream,
    std::vector<size_t> *chunk_offsets = nullptr,
    std::vector<size_t> *chunk_decoded_ends = nullptr) {
  std::vector<uint8_t> out = {0xff, 6, 0, 0, 's', 'N', 'a', 'P', 'p', 'Y'};
  const auto chunk = [&out](uint8_t type, std::span<const uint8_t> body,
                            std::optional<uint32_t> checksum) {
    const size_t length = body.size() + (checksum ? 4 : 0);
    out.push_back(type);
    out.push_back(length & 0xff);
    out.push_back((length >> 8) & 0xff);
    out.push_back((length >> 16) & 0xff);
    if (checksum) {
      for (int i = 0; i < 4; ++i) out.push_back((*checksum >> (8 * i)) & 0xff);
    }
    out.insert(out.end(), body.begin(), body.end());
  };
  size_t at = 0;
  int n = 0;
  while (at < data.size()) {
    const std::span<const uint8_t> piece =
        data.subspan(at, std::min(chunk_size, data.size() - at));
    if (chunk_offsets != nullptr) chunk_offsets->push_back(out.size());
    const uint32_t checksum =
        SnappyMask(upstream ? UpstreamSnappyCrc(piece) : Crc32c(piece));
    if (!upstream && n % 3 == 1) {
      chunk(0x01, piece, checksum);
    } else {
      std::string compressed;
      snappy::Compress(reinterpret_cast<const char *>(piece.data()),
                       piece.size(), &compressed);
      chunk(0x00, Bytes(compressed), checksum);
    }
    if (!upstream && n % 4 == 2) {
      chunk(0xfe, Bytes("padding"), std::nullopt);
      chunk(0x80, Bytes("skip me"), std::nullopt);
    }
    at += piece.size();
    if (chunk_decoded_ends != nullptr) chunk_decoded_ends->push_back(at);
    ++n;
  }
  return out;
}

class UpstreamPartsTest : public ::testing::Test {
 protected:
  std::string Path(std::string_view name) {
    return dir_.path() + "/" + std::string(name);
  }
  aos::testing::TempDir dir_;
  const Stream stream_ = MakeStream(400);
};

TEST(SnappyChecksumTest, KnownValues) {
  // The standard check values of CRC-32C and CRC-32 ("123456789"); upstream
  // skips CRC-32's final inversion.
  EXPECT_EQ(Crc32c(Bytes("123456789")), 0xe3069283u);
  EXPECT_EQ(UpstreamSnappyCrc(Bytes("123456789")), ~0xcbf43926u);
}

TEST_F(UpstreamPartsTest, XzReadsWhole) {
  WriteFile(Path("a_data.part0.bfbs.xz"), XzEncode(stream_.bytes));
  const ReadBack read = ReadAll(Path("a_data.part0.bfbs.xz"));
  EXPECT_EQ(read.open_error, "");
  EXPECT_EQ(read.messages, stream_.messages());
  EXPECT_EQ(read.mismatches, 0u);
  EXPECT_TRUE(read.status.ok()) << read.status.message;

  // Flushed blocks, and two streams one after the other (what appending
  // xz output makes), read the same.
  std::vector<uint8_t> two =
      XzEncode(std::span(stream_.bytes).first(stream_.record_ends[100]),
               /*flush_every=*/20000);
  const std::vector<uint8_t> second =
      XzEncode(std::span(stream_.bytes).subspan(stream_.record_ends[100]));
  two.insert(two.end(), second.begin(), second.end());
  WriteFile(Path("b_data.part0.bfbs.xz"), two);
  const ReadBack concatenated = ReadAll(Path("b_data.part0.bfbs.xz"));
  EXPECT_EQ(concatenated.messages, stream_.messages());
  EXPECT_EQ(concatenated.mismatches, 0u);
  EXPECT_TRUE(concatenated.status.ok()) << concatenated.status.message;
}

// A cut xz file (a killed logger) reads what decodes, never wrong data, and
// says it was cut.
TEST_F(UpstreamPartsTest, XzCut) {
  const std::vector<uint8_t> xz = XzEncode(stream_.bytes, 16384);
  size_t last_messages = 0;
  for (size_t cut :
       {xz.size() / 3, xz.size() / 2, xz.size() * 9 / 10, xz.size() - 1}) {
    SCOPED_TRACE(cut);
    const std::string path = Path("cut" + std::to_string(cut) + ".bfbs.xz");
    WriteFile(path, std::span(xz).first(cut));
    const ReadBack read = ReadAll(path);
    EXPECT_EQ(read.open_error, "");
    EXPECT_EQ(read.mismatches, 0u);
    EXPECT_GE(read.messages, last_messages);
    EXPECT_LE(read.messages, stream_.messages());
    EXPECT_EQ(read.status.kind, ReadStatus::Kind::kTruncated)
        << read.status.message;
    EXPECT_THAT(read.status.message, HasSubstr(path));
    last_messages = read.messages;
  }
  EXPECT_GT(last_messages, stream_.messages() / 2);
}

TEST_F(UpstreamPartsTest, SnappyUpstreamFraming) {
  // Upstream's chunks are larger than the format's 64 KiB.
  const std::vector<uint8_t> sz =
      SnappyFrame(stream_.bytes, 200 * 1024, /*upstream=*/true);
  WriteFile(Path("a_data.part0.bfbs.sz"), sz);
  const ReadBack read = ReadAll(Path("a_data.part0.bfbs.sz"));
  EXPECT_EQ(read.open_error, "");
  EXPECT_EQ(read.messages, stream_.messages());
  EXPECT_EQ(read.mismatches, 0u);
  EXPECT_TRUE(read.status.ok()) << read.status.message;
}

TEST_F(UpstreamPartsTest, SnappySpecificationFraming) {
  const std::vector<uint8_t> sz =
      SnappyFrame(stream_.bytes, 65536, /*upstream=*/false);
  WriteFile(Path("a_data.part0.bfbs.sz"), sz);
  const ReadBack read = ReadAll(Path("a_data.part0.bfbs.sz"));
  EXPECT_EQ(read.open_error, "");
  EXPECT_EQ(read.messages, stream_.messages());
  EXPECT_EQ(read.mismatches, 0u);
  EXPECT_TRUE(read.status.ok()) << read.status.message;
}

// Only chunks whose checksum matches are used: a damaged or cut chunk stops
// the reader right after the records of the chunks before it.
TEST_F(UpstreamPartsTest, SnappyDamagedAndCut) {
  std::vector<size_t> offsets, decoded_ends;
  const std::vector<uint8_t> sz = SnappyFrame(
      stream_.bytes, 65536, /*upstream=*/true, &offsets, &decoded_ends);
  ASSERT_GE(offsets.size(), 4u);
  const size_t before_third = stream_.MessagesWithin(decoded_ends[1]);

  std::vector<uint8_t> damaged = sz;
  damaged[offsets[2] + 40] ^= 0x10;
  WriteFile(Path("damaged.bfbs.sz"), damaged);
  const ReadBack read = ReadAll(Path("damaged.bfbs.sz"));
  EXPECT_EQ(read.mismatches, 0u);
  EXPECT_EQ(read.messages, before_third);
  EXPECT_EQ(read.status.kind, ReadStatus::Kind::kCorrupt)
      << read.status.message;
  EXPECT_EQ(read.status.file_offset, offsets[2]);

  WriteFile(Path("cut.bfbs.sz"), std::span(sz).first(offsets[2] + 100));
  const ReadBack cut = ReadAll(Path("cut.bfbs.sz"));
  EXPECT_EQ(cut.mismatches, 0u);
  EXPECT_EQ(cut.messages, before_third);
  EXPECT_EQ(cut.status.kind, ReadStatus::Kind::kTruncated)
      << cut.status.message;
  EXPECT_EQ(cut.status.file_offset, offsets[2]);
}

TEST_F(UpstreamPartsTest, OtherDataIsAClearError) {
  WriteFile(Path("raw.bfbs.xz"), stream_.bytes);
  const ReadBack xz = ReadAll(Path("raw.bfbs.xz"));
  EXPECT_THAT(xz.open_error, HasSubstr("not an xz stream"));
  EXPECT_THAT(xz.open_error, HasSubstr(Path("raw.bfbs.xz")));
  WriteFile(Path("raw.bfbs.sz"), stream_.bytes);
  const ReadBack sz = ReadAll(Path("raw.bfbs.sz"));
  EXPECT_THAT(sz.open_error, HasSubstr("not a snappy framed stream"));

  PartWriterOptions options;
  options.compression = Compression::kXz;
  Result<std::unique_ptr<PartWriter>> writer =
      PartWriter::Create(Path("new.bfbs.xz"), options);
  ASSERT_FALSE(writer);
  EXPECT_THAT(writer.error().message(), HasSubstr("read only"));
}

}  // namespace
}  // namespace aos::logger::testing
