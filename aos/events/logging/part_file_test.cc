// PartWriter and PartReader: round trips in both encodings, and what readers
// make of files that were cut, damaged, or are not log parts at all.

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "aos/events/logging/part_reader.h"
#include "aos/events/logging/part_writer.h"
#include "aos/events/logging/str_cat.h"
#include "aos/testing/tmpdir.h"
#include "flatbuffers/flatbuffers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> MakeHeader(std::string_view name) {
  flatbuffers::FlatBufferBuilder fbb;
  const auto name_offset = fbb.CreateString(name);
  const auto uuid_offset = fbb.CreateString("a-parts-uuid");
  LogFileHeader::Builder header(fbb);
  header.add_name(name_offset);
  header.add_parts_uuid(uuid_offset);
  header.add_parts_index(3);
  header.add_monotonic_start_time(1234);
  fbb.FinishSizePrefixed(header.Finish());
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

// A message whose payload is `size` bytes of a pattern derived from `index`.
std::vector<uint8_t> MakeMessage(uint32_t index, size_t size) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<uint8_t> payload(size);
  for (size_t i = 0; i < size; ++i)
    payload[i] = static_cast<uint8_t>(index + i);
  fbb.ForceVectorAlignment(size, 1, kPartAlignment);
  const auto data = fbb.CreateVector(payload);
  MessageHeader::Builder message(fbb);
  message.add_channel_index(index % 7);
  message.add_monotonic_sent_time(1000 + index);
  message.add_queue_index(index);
  message.add_data(data);
  fbb.FinishSizePrefixed(message.Finish());
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

std::string ReadWholeFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteWholeFile(const std::string &path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Reads every message; checks each is the one written with that index.
struct ReadBack {
  size_t messages = 0;
  // Messages whose index, channel or payload differ from what was written.
  size_t mismatches = 0;
  ReadStatus status;
};
ReadBack ReadAll(const std::string &path) {
  ReadBack result;
  Result<std::unique_ptr<PartReader>> reader = PartReader::Open(path);
  if (!reader) {
    result.status.kind = ReadStatus::Kind::kCorrupt;
    result.status.message = reader.error().message();
    return result;
  }
  while (const MessageHeader *message = (*reader)->ReadMessage()) {
    bool same = message->queue_index() == result.messages &&
                message->channel_index() == result.messages % 7 &&
                message->data() != nullptr;
    for (size_t i = 0; same && i < message->data()->size(); ++i) {
      same =
          message->data()->Get(i) == static_cast<uint8_t>(result.messages + i);
    }
    if (!same) ++result.mismatches;
    if (message->data() != nullptr) {
      EXPECT_EQ(
          reinterpret_cast<uintptr_t>(message->data()->data()) % kPartAlignment,
          0u);
    }
    ++result.messages;
  }
  result.status = (*reader)->status();
  return result;
}

class PartFileTest : public ::testing::TestWithParam<Compression> {
 protected:
  std::string PartPath(std::string_view stem) {
    return StrCat(dir_.path(), "/", stem, PartExtension(GetParam()));
  }

  // Writes the header and `sizes.size()` messages, flushing after every
  // `flush_every` messages; returns the file's size after each flush.
  std::vector<uint64_t> WritePart(const std::string &path,
                                  const std::vector<size_t> &sizes,
                                  size_t flush_every) {
    PartWriterOptions options;
    options.compression = GetParam();
    Result<std::unique_ptr<PartWriter>> writer =
        PartWriter::Create(path, options);
    CHECK(writer) << writer.error();
    CheckExpected((*writer)->Write(MakeHeader("test")));
    std::vector<uint64_t> flushed_sizes;
    for (size_t i = 0; i < sizes.size(); ++i) {
      CheckExpected((*writer)->Write(MakeMessage(i, sizes[i])));
      if ((i + 1) % flush_every == 0) {
        CheckExpected((*writer)->Flush(false));
        flushed_sizes.push_back((*writer)->file_bytes());
      }
    }
    CheckExpected((*writer)->Close());
    return flushed_sizes;
  }

  aos::testing::TempDir dir_;
};

TEST_P(PartFileTest, RoundTrip) {
  const std::string path = PartPath("part");
  std::vector<size_t> sizes;
  for (size_t i = 0; i < 200; ++i) sizes.push_back((i * 37) % 300);
  sizes.push_back(3 << 20);  // Bigger than any buffer.
  sizes.push_back(8);
  WritePart(path, sizes, 10);

  Result<std::unique_ptr<PartReader>> reader = PartReader::Open(path);
  ASSERT_TRUE(reader) << reader.error();
  EXPECT_EQ((*reader)->header().name()->string_view(), "test");
  EXPECT_EQ((*reader)->header().parts_index(), 3);
  EXPECT_EQ((*reader)->header().monotonic_start_time(), 1234);
  EXPECT_EQ((*reader)->header_span().size(), MakeHeader("test").size());

  const ReadBack read = ReadAll(path);
  EXPECT_EQ(read.messages, sizes.size());
  EXPECT_EQ(read.mismatches, 0u);
  EXPECT_TRUE(read.status.ok()) << read.status.message;
}

// Raw parts hold exactly the stream; zstd parts compress it.
TEST_P(PartFileTest, SizeOnDisk) {
  const std::string path = PartPath("part");
  WritePart(path, std::vector<size_t>(1000, 200), 100);
  uint64_t stream = MakeHeader("test").size();
  for (uint32_t i = 0; i < 1000; ++i) stream += MakeMessage(i, 200).size();
  if (GetParam() == Compression::kNone) {
    EXPECT_EQ(std::filesystem::file_size(path), stream);
  } else {
    // The payloads are a byte counter: very compressible.
    EXPECT_LT(std::filesystem::file_size(path), stream / 4);
  }
}

// A file cut anywhere reads every message of every flush completed before
// the cut, and says where it was cut.
TEST_P(PartFileTest, CutAnywhereReadsUpToTheLastFlush) {
  const std::string path = PartPath("whole");
  std::vector<size_t> sizes;
  for (size_t i = 0; i < 60; ++i) sizes.push_back((i * 13) % 100 + 1);
  constexpr size_t kFlushEvery = 6;
  const std::vector<uint64_t> flushed = WritePart(path, sizes, kFlushEvery);
  const std::string whole = ReadWholeFile(path);
  const std::string cut_path = PartPath("cut");
  const size_t header_end =
      GetParam() == Compression::kNone ? MakeHeader("test").size() : 0;
  for (size_t cut = 0; cut < whole.size(); cut += 1 + cut / 40) {
    SCOPED_TRACE(cut);
    std::filesystem::remove(cut_path);
    WriteWholeFile(cut_path, std::string_view(whole).substr(0, cut));
    size_t complete_flushes = 0;
    while (complete_flushes < flushed.size() &&
           flushed[complete_flushes] <= cut) {
      ++complete_flushes;
    }
    if (GetParam() == Compression::kZstd && complete_flushes == 0) {
      // The header is in the first frame: no header, a clear error.
      Result<std::unique_ptr<PartReader>> reader = PartReader::Open(cut_path);
      ASSERT_FALSE(reader);
      EXPECT_THAT(reader.error().message(), HasSubstr(cut_path));
      continue;
    }
    if (cut < header_end) continue;
    const ReadBack read = ReadAll(cut_path);
    EXPECT_GE(read.messages, complete_flushes * kFlushEvery);
    EXPECT_EQ(read.mismatches, 0u);
    // A raw part cut between two records reads like a whole one.
    bool at_boundary = cut == header_end;
    for (size_t i = 0, offset = header_end;
         GetParam() == Compression::kNone && i < sizes.size(); ++i) {
      offset += MakeMessage(i, sizes[i]).size();
      at_boundary |= offset == cut;
    }
    at_boundary |=
        std::find(flushed.begin(), flushed.end(), cut) != flushed.end();
    if (!at_boundary) {
      EXPECT_EQ(read.status.kind, ReadStatus::Kind::kTruncated)
          << read.status.message;
      EXPECT_THAT(read.status.message, HasSubstr("cut off"));
      EXPECT_THAT(read.status.message, HasSubstr(cut_path));
    }
  }
}

// Damaged bytes never crash a reader. zstd parts also never yield a message
// that differs from what was written (raw parts carry no checksums).
TEST_P(PartFileTest, DamagedBytesAreReported) {
  const std::string path = PartPath("whole");
  std::vector<size_t> sizes(40, 48);
  WritePart(path, sizes, 8);
  const std::string whole = ReadWholeFile(path);
  const std::string bad_path = PartPath("bad");
  std::mt19937 rng(4);
  for (int run = 0; run < 200; ++run) {
    std::string damaged = whole;
    const size_t at = rng() % damaged.size();
    damaged[at] = static_cast<char>(damaged[at] ^ (1 + rng() % 255));
    std::filesystem::remove(bad_path);
    WriteWholeFile(bad_path, damaged);
    const ReadBack read = ReadAll(bad_path);
    if (GetParam() == Compression::kZstd) {
      // Frame checksums: what is read is what was written, and reading stops
      // at the damaged frame unless the damage changed nothing decoded.
      EXPECT_EQ(read.mismatches, 0u) << "flipped byte " << at;
      if (read.messages < sizes.size()) {
        EXPECT_FALSE(read.status.ok()) << "flipped byte " << at;
        EXPECT_THAT(read.status.message, HasSubstr(bad_path));
      }
    }
  }
}

TEST_P(PartFileTest, NotALogPart) {
  const std::string path = PartPath("text");
  WriteWholeFile(path, "{ \"this is\": \"json, not a log\" }\n");
  Result<std::unique_ptr<PartReader>> reader = PartReader::Open(path);
  ASSERT_FALSE(reader);
  EXPECT_THAT(reader.error().message(), HasSubstr(path));

  const std::string empty = PartPath("empty");
  WriteWholeFile(empty, "");
  reader = PartReader::Open(empty);
  ASSERT_FALSE(reader);
  EXPECT_THAT(reader.error().message(), HasSubstr("empty"));

  reader = PartReader::Open(PartPath("missing"));
  ASSERT_FALSE(reader);
  EXPECT_THAT(reader.error().message(), HasSubstr("No such file"));

  reader = PartReader::Open(dir_.path());
  ASSERT_FALSE(reader);
  EXPECT_THAT(reader.error().message(), HasSubstr("is a folder"));
}

TEST_P(PartFileTest, NeverOverwrites) {
  const std::string path = PartPath("part");
  WritePart(path, {8}, 1);
  PartWriterOptions options;
  options.compression = GetParam();
  Result<std::unique_ptr<PartWriter>> writer =
      PartWriter::Create(path, options);
  ASSERT_FALSE(writer);
  EXPECT_THAT(writer.error().message(), HasSubstr("already exists"));
  EXPECT_EQ(ReadAll(path).messages, 1u);
}

TEST_P(PartFileTest, UnwritableFolder) {
  const std::string file = dir_.path() + "/a_file";
  WriteWholeFile(file, "x");
  PartWriterOptions options;
  options.compression = GetParam();
  Result<std::unique_ptr<PartWriter>> writer =
      PartWriter::Create(file + "/sub/part.bfbs", options);
  ASSERT_FALSE(writer);
  EXPECT_THAT(writer.error().message(), HasSubstr(file + "/sub"));
}

// A write that fails (here: the file size limit, as a full disk would) fails
// the writer with a message naming the file; what was flushed stays
// readable.
TEST_P(PartFileTest, FailedWriteKeepsFlushedData) {
  const std::string path = PartPath("part");
  PartWriterOptions options;
  options.compression = GetParam();
  options.flush_bytes = 4096;
  Result<std::unique_ptr<PartWriter>> writer =
      PartWriter::Create(path, options);
  ASSERT_TRUE(writer) << writer.error();
  ASSERT_TRUE((*writer)->Write(MakeHeader("test")));
  for (uint32_t i = 0; i < 10; ++i) {
    ASSERT_TRUE((*writer)->Write(MakeMessage(i, 100)));
  }
  ASSERT_TRUE((*writer)->Flush(false));
  const uint64_t flushed = (*writer)->file_bytes();

  signal(SIGXFSZ, SIG_IGN);
  struct rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit limit = old_limit;
  limit.rlim_cur = flushed + 100;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  Result<void> result;
  for (uint32_t i = 10; i < 1000 && result; ++i) {
    result = (*writer)->Write(MakeMessage(i, 1000 + i));
  }
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  ASSERT_FALSE(result);
  EXPECT_THAT(result.error().message(), HasSubstr(path));
  EXPECT_THAT(result.error().message(), HasSubstr("File too large"));
  // Failed for good.
  EXPECT_FALSE((*writer)->Write(MakeMessage(2000, 8)));
  EXPECT_FALSE((*writer)->Close());

  const ReadBack read = ReadAll(path);
  EXPECT_GE(read.messages, 10u);
}

INSTANTIATE_TEST_SUITE_P(Compressions, PartFileTest,
                         ::testing::Values(Compression::kNone,
                                           Compression::kZstd),
                         [](const auto &info) {
                           return info.param == Compression::kNone ? "Raw"
                                                                   : "Zstd";
                         });

TEST(PartFormatTest, Names) {
  EXPECT_EQ(CompressionFromPath("a/b_data.part0.bfbs.zst"), Compression::kZstd);
  EXPECT_EQ(CompressionFromPath("a/b_data.part0.bfbs"), Compression::kNone);
  EXPECT_TRUE(IsPartFileName("x.bfbs"));
  EXPECT_TRUE(IsPartFileName("x.bfbs.zst"));
  EXPECT_EQ(CompressionFromPath("a/b_data.part0.bfbs.xz"), Compression::kXz);
  EXPECT_EQ(CompressionFromPath("a/b_data.part0.bfbs.sz"),
            Compression::kSnappy);
  EXPECT_TRUE(IsPartFileName("x.bfbs.xz"));
  EXPECT_TRUE(IsPartFileName("x.bfbs.sz"));
  EXPECT_FALSE(IsPartFileName("x.json"));
  EXPECT_FALSE(IsPartFileName("x.xz"));
}

TEST(Sha256Test, KnownValue) {
  const std::string abc = "abc";
  EXPECT_EQ(
      Sha256Hex({reinterpret_cast<const uint8_t *>(abc.data()), abc.size()}),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace aos::logger::testing
