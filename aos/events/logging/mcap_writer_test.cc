#include "aos/events/logging/mcap_writer.h"

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "aos/events/logging/mcap_check.h"
#include "aos/testing/tmpdir.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

std::span<const uint8_t> Bytes(std::string_view text) {
  return std::span(reinterpret_cast<const uint8_t *>(text.data()), text.size());
}

std::string ReadFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes `expected` with the writer, as a user of the writer would.
void WriteExpected(const std::string &path, const ExpectedMcap &expected,
                   McapWriter::Options options) {
  auto writer = McapWriter::Create(path, options);
  ASSERT_TRUE(writer.has_value()) << writer.error();
  std::map<std::string, uint16_t> channels;
  for (const ExpectedMcap::Channel &c : expected.channels) {
    const uint16_t schema = (*writer)->AddSchema(
        c.schema_name, c.schema_encoding, Bytes(c.schema_data));
    channels[c.topic] =
        (*writer)->AddChannel(schema, c.topic, c.message_encoding, c.metadata);
  }
  for (const ExpectedMcap::Message &m : expected.messages) {
    ASSERT_TRUE((*writer)->WriteMessage(channels.at(m.topic), m.sequence,
                                        m.log_time, m.publish_time,
                                        Bytes(m.data)));
  }
  ASSERT_TRUE((*writer)->Close());
}

// Three channels of random messages (sizes 0 to 3000 bytes, some far larger
// than a chunk), interleaved, with times that go slightly backwards now and
// then, as a log merged from several nodes does.
ExpectedMcap RandomMessages(int count) {
  ExpectedMcap expected;
  expected.channels = {
      {"/aos/timing",
       "flatbuffer",
       {{"aos_type", "aos.timing.Report"}},
       "aos.timing.Report",
       "flatbuffer",
       std::string("BFBS\0\1\2\3", 8)},
      {"/test",
       "flatbuffer",
       {},
       "aos.TestMessage",
       "flatbuffer",
       std::string(5000, 'x')},
      {"/camera/image \"raw\"",
       "flatbuffer",
       {{"k", "v"}, {"k2", ""}},
       "frc971.Image",
       "flatbuffer",
       "schema"},
  };
  std::mt19937 random(42);
  uint64_t time = 1'000'000'000;
  std::vector<uint32_t> sequences(expected.channels.size(), 0);
  for (int i = 0; i < count; ++i) {
    const size_t channel = random() % expected.channels.size();
    const size_t size = i % 199 == 0 ? 200'000 : random() % 3000;
    std::string data(size, '\0');
    for (char &c : data) c = random();
    time += random() % 1'000'000;
    const uint64_t log_time = time - (i % 10 == 0 ? 500'000 : 0);
    expected.messages.push_back({expected.channels[channel].topic,
                                 sequences[channel]++, log_time,
                                 log_time - 100'000, std::move(data)});
  }
  return expected;
}

class McapWriterTest : public ::testing::Test {
 protected:
  void CheckWithReader(const std::string &path, const ExpectedMcap &expected) {
    if (auto reason = McapCheckerUnavailable()) GTEST_SKIP() << *reason;
    std::string output;
    EXPECT_TRUE(RunMcapChecker(path, expected, &output)) << output;
    LOG(INFO) << output;
  }

  aos::testing::TempDir dir_;
};

// The independent reader reads back every channel, schema and message byte,
// through both its streaming and indexed paths, with all CRCs checked.
TEST_F(McapWriterTest, ZstdChunksReadBackByOfficialReader) {
  const ExpectedMcap expected = RandomMessages(800);
  const std::string path = dir_.path() + "/zstd.mcap";
  McapWriter::Options options;
  options.chunk_size = 64 * 1024;
  WriteExpected(path, expected, options);
  CheckWithReader(path, expected);
}

TEST_F(McapWriterTest, UncompressedChunksReadBackByOfficialReader) {
  ExpectedMcap expected = RandomMessages(300);
  expected.compression = "";
  const std::string path = dir_.path() + "/plain.mcap";
  McapWriter::Options options;
  options.compression = McapWriter::Compression::kNone;
  options.chunk_size = 16 * 1024;
  WriteExpected(path, expected, options);
  CheckWithReader(path, expected);
}

TEST_F(McapWriterTest, EmptyFileIsValid) {
  ExpectedMcap expected;
  const std::string path = dir_.path() + "/empty.mcap";
  WriteExpected(path, expected, {});
  CheckWithReader(path, expected);
}

// Channels with no messages still appear, with zero counts.
TEST_F(McapWriterTest, ChannelsWithoutMessages) {
  ExpectedMcap expected = RandomMessages(0);
  const std::string path = dir_.path() + "/silent.mcap";
  WriteExpected(path, expected, {});
  CheckWithReader(path, expected);
}

TEST_F(McapWriterTest, JsonMessagesFitTheirSchema) {
  ExpectedMcap expected;
  expected.json = true;
  expected.channels = {{"/test",
                        "json",
                        {},
                        "aos.TestMessage",
                        "jsonschema",
                        R"({"type": "object", "properties": )"
                        R"({"value": {"type": "integer"}}})"}};
  for (uint32_t i = 0; i < 50; ++i) {
    expected.messages.push_back({"/test", i, i * 1000ul, i * 1000ul,
                                 "{\"value\": " + std::to_string(i) + "}"});
  }
  const std::string path = dir_.path() + "/json.mcap";
  WriteExpected(path, expected, {});
  CheckWithReader(path, expected);
}

// The checker must be able to fail: a message the writer did not get, a
// message off by one byte, and one flipped bit in a compressed chunk are all
// caught.
TEST_F(McapWriterTest, CheckerCatchesDifferences) {
  if (auto reason = McapCheckerUnavailable()) GTEST_SKIP() << *reason;
  ExpectedMcap expected = RandomMessages(100);
  const std::string path = dir_.path() + "/differ.mcap";
  WriteExpected(path, expected, {});
  std::string output;

  ExpectedMcap extra = expected;
  extra.messages.push_back(extra.messages.back());
  EXPECT_FALSE(RunMcapChecker(path, extra, &output));
  EXPECT_NE(output.find("messages, expected 101"), std::string::npos) << output;

  ExpectedMcap changed = expected;
  changed.messages[57].data[0] ^= 1;
  EXPECT_FALSE(RunMcapChecker(path, changed, &output));
  EXPECT_NE(output.find("message 57 is"), std::string::npos) << output;

  ExpectedMcap json = expected;
  json.json = true;
  EXPECT_FALSE(RunMcapChecker(path, json, &output));

  std::string bytes = ReadFile(path);
  bytes[bytes.size() / 2] ^= 0x10;
  const std::string corrupt = dir_.path() + "/corrupt.mcap";
  std::ofstream(corrupt, std::ios::binary) << bytes;
  EXPECT_FALSE(RunMcapChecker(corrupt, expected, &output));
  LOG(INFO) << "corrupt file: " << output;
}

// Checks the file's frame without any reader: magic at both ends, the
// footer's offsets inside the file, the data end right before the summary.
TEST_F(McapWriterTest, FileFrame) {
  const std::string path = dir_.path() + "/frame.mcap";
  WriteExpected(path, RandomMessages(50), {});
  const std::string bytes = ReadFile(path);
  const std::string magic("\x89MCAP0\r\n", 8);
  ASSERT_GT(bytes.size(), 2 * magic.size() + 29);
  EXPECT_EQ(bytes.substr(0, 8), magic);
  EXPECT_EQ(bytes.substr(bytes.size() - 8), magic);
  const size_t footer = bytes.size() - 8 - 29;
  EXPECT_EQ(bytes[footer], 0x02);
  uint64_t summary_start, summary_offset_start;
  std::memcpy(&summary_start, bytes.data() + footer + 9, 8);
  std::memcpy(&summary_offset_start, bytes.data() + footer + 17, 8);
  EXPECT_LT(summary_start, summary_offset_start);
  EXPECT_LT(summary_offset_start, footer);
  // Data End is the 13-byte record right before the summary.
  EXPECT_EQ(bytes[summary_start - 13], 0x0F);
  EXPECT_EQ(bytes[summary_offset_start], 0x0E);
}

TEST_F(McapWriterTest, UncreatableFileNamesThePath) {
  auto writer = McapWriter::Create(dir_.path() + "/missing/dir/out.mcap", {});
  ASSERT_FALSE(writer.has_value());
  EXPECT_NE(writer.error().message().find("missing/dir/out.mcap"),
            std::string::npos)
      << writer.error();
  EXPECT_NE(writer.error().message().find("No such file"), std::string::npos)
      << writer.error();
}

// A full disk is an error from WriteMessage or Close naming the file, never a
// crash; every call after the first error repeats it.
TEST_F(McapWriterTest, FullDiskIsAnError) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  auto writer = McapWriter::Create("/dev/full", {});
  ASSERT_TRUE(writer.has_value()) << writer.error();
  const uint16_t channel = (*writer)->AddChannel(0, "/test", "x", {});
  const std::string data(100'000, 'a');
  Result<void> result;
  for (int i = 0; i < 100 && result; ++i) {
    result = (*writer)->WriteMessage(channel, i, i, i, Bytes(data));
  }
  if (result) result = (*writer)->Close();
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message().find("/dev/full"), std::string::npos)
      << result.error();
  EXPECT_NE(result.error().message().find("No space left"), std::string::npos)
      << result.error();
}

void WriteOnUnknownChannel(const std::string &path) {
  auto writer = McapWriter::Create(path, {});
  CHECK(writer.has_value());
  (void)(*writer)->WriteMessage(3, 0, 0, 0, {});
}

TEST_F(McapWriterTest, UnknownChannelDies) {
  EXPECT_DEATH(WriteOnUnknownChannel(dir_.path() + "/death.mcap"),
               "channel id 3 was not returned by AddChannel");
}

}  // namespace
}  // namespace aos::logger::testing
