// The queue-size and queue-memory rules of validation, checked against the
// shared-memory queue they protect: a config that validates must never make
// the queue CHECK-fail, and the memory estimate must not exceed the truth.

#include <filesystem>
#include <fstream>
#include <string>

#include "aos/configuration.h"
#include "aos/configuration_validation.h"
#include "aos/ipc_lib/index.h"
#include "aos/ipc_lib/lockless_queue.h"
#include "aos/json_to_flatbuffer.h"
#include "aos/testing/tmpdir.h"
#include "gflags/gflags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

DECLARE_uint32(max_queue_size_override);
DECLARE_uint64(max_queue_memory_mib);

namespace aos::configuration::testing {
namespace {

using ::testing::HasSubstr;

// Validates a config with one channel /c of type T with `fields` added.
Result<FlatbufferDetachedBuffer<Configuration>> OneChannel(
    const std::string &fields, const std::string &top_level = "") {
  Result<FlatbufferDetachedBuffer<Configuration>> parsed =
      MaybeJsonToFlatbuffer<Configuration>(
          R"({ "channels": [ { "name": "/c", "type": "T")" +
          (fields.empty() ? "" : ", " + fields) + " } ]" +
          (top_level.empty() ? "" : ", " + top_level) + " }");
  CHECK(parsed.has_value()) << parsed.error().message();
  return MaybeMergeConfiguration(*parsed);
}

// What ShmEventLoop builds for a channel.
ipc_lib::LocklessQueueConfiguration QueueConfig(const Configuration *config,
                                                const Channel *channel) {
  ipc_lib::LocklessQueueConfiguration queue;
  queue.num_watchers = channel->num_watchers();
  queue.num_senders = channel->num_senders();
  queue.num_pinners = channel->num_readers();
  queue.queue_size = QueueSize(config, channel);
  queue.message_data_size = channel->max_size();
  return queue;
}

TEST(QueueLimitsTest, RingLimitMatchesTheQueue) {
  // 2^30 messages: 536870912 Hz for 2 s. Legal if memory allows.
  gflags::FlagSaver saver;
  FLAGS_max_queue_memory_mib = 0;
  Result<FlatbufferDetachedBuffer<Configuration>> at_limit =
      OneChannel("\"frequency\": 536870912, \"max_size\": 0");
  ASSERT_TRUE(at_limit.has_value()) << at_limit.error().message();
  const Channel *channel = at_limit->message().channels()->Get(0);
  EXPECT_EQ(QueueSize(&at_limit->message(), channel), internal::kMaxQueueSize);
  // The queue accepts it (this only computes the layout; nothing is mapped).
  EXPECT_GT(ipc_lib::LocklessQueueMemorySize(
                QueueConfig(&at_limit->message(), channel)),
            0u);
  // One message more is rejected by both.
  Result<FlatbufferDetachedBuffer<Configuration>> over = OneChannel(
      "\"frequency\": 536870912, \"max_size\": 0, "
      "\"channel_storage_duration\": 2000000001");
  ASSERT_FALSE(over.has_value());
  EXPECT_THAT(over.error().message(),
              HasSubstr("More messages/second configured than the queue can "
                        "hold on Channel { \"name\": \"/c\", \"type\": \"T\" "
                        "}: 536870912 Hz * 2000000001 ns storage = 1073741825 "
                        "messages, but a queue holds at most 1073741824"));
  ipc_lib::LocklessQueueConfiguration too_big =
      QueueConfig(&at_limit->message(), channel);
  ++too_big.queue_size;
  EXPECT_DEATH(ipc_lib::LocklessQueueMemorySize(too_big),
               "too large for 32-bit queue indices");
}

TEST(QueueLimitsTest, BufferLimitMatchesTheQueue) {
  gflags::FlagSaver saver;
  FLAGS_max_queue_memory_mib = 0;
  // The largest number of buffers the queue takes: one below Index's limit.
  const uint64_t max_buffers = ipc_lib::Index::MaxMessages() - 1;
  ipc_lib::LocklessQueueConfiguration queue;
  queue.queue_size = 2;
  queue.num_senders = 2147483647;
  queue.num_pinners = max_buffers - 2 - 2147483647;
  EXPECT_GT(ipc_lib::LocklessQueueMemorySize(queue), 0u);
  ++queue.num_pinners;
  EXPECT_DEATH(ipc_lib::LocklessQueueMemorySize(queue),
               "too many message buffers");
  // The same two configurations through validation (1 Hz * 2 s = 2).
  const std::string senders =
      "\"frequency\": 1, \"max_size\": 0, "
      "\"num_senders\": 2147483647, "
      "\"read_method\": \"PIN\", \"num_readers\": ";
  EXPECT_TRUE(OneChannel(senders + std::to_string(max_buffers - 2 - 2147483647))
                  .has_value());
  Result<FlatbufferDetachedBuffer<Configuration>> over =
      OneChannel(senders + std::to_string(max_buffers - 2 - 2147483647 + 1));
  ASSERT_FALSE(over.has_value());
  EXPECT_THAT(over.error().message(),
              HasSubstr("2 messages + 4294967292 scratch buffers (num_senders "
                        "+ num_readers) exceeds 4294967293 (the shared-memory "
                        "queue's 32-bit buffer index)"));
}

TEST(QueueLimitsTest, MaxQueueSizeOverrideOnlyLowers) {
  gflags::FlagSaver saver;
  // 100 Hz * 2 s + 10 senders = 210 buffers.
  FLAGS_max_queue_size_override = 210;
  EXPECT_TRUE(OneChannel("").has_value());
  FLAGS_max_queue_size_override = 209;
  Result<FlatbufferDetachedBuffer<Configuration>> over = OneChannel("");
  ASSERT_FALSE(over.has_value());
  EXPECT_THAT(over.error().message(),
              HasSubstr("200 messages + 10 scratch buffers (num_senders + "
                        "num_readers) exceeds 209 "
                        "(--max_queue_size_override)"));
  // Above the queue's own limit, the queue's limit still holds.
  FLAGS_max_queue_size_override = 0xFFFFFFFF;
  FLAGS_max_queue_memory_mib = 0;
  EXPECT_FALSE(OneChannel("\"frequency\": 1, \"num_senders\": 2147483647, "
                          "\"read_method\": \"PIN\", \"num_readers\": "
                          "2147483647")
                   .has_value());
}

TEST(QueueLimitsTest, MemorySanityLimit) {
  gflags::FlagSaver saver;
  // 10 kHz * 2 s of 1 MB images: about 20 GB.
  const std::string camera = "\"frequency\": 10000, \"max_size\": 1000000";
  Result<FlatbufferDetachedBuffer<Configuration>> camera_config =
      OneChannel(camera);
  ASSERT_FALSE(camera_config.has_value());
  EXPECT_THAT(camera_config.error().message(),
              HasSubstr("Queue of Channel { \"name\": \"/c\", \"type\": \"T\" "
                        "} would take at least 19085 MiB of shared memory "
                        "(20010 messages of max_size 1000000), more than the "
                        "2048 MiB sanity limit"));
  FLAGS_max_queue_memory_mib = 20000;
  EXPECT_TRUE(OneChannel(camera).has_value());
  FLAGS_max_queue_memory_mib = 0;
  EXPECT_TRUE(OneChannel(camera).has_value());
  // Tiny messages count their overhead: 2^30 of them are far past the limit.
  FLAGS_max_queue_memory_mib = 2048;
  EXPECT_FALSE(
      OneChannel("\"frequency\": 536870912, \"max_size\": 0").has_value());
}

// A flattened (binary) config was checked against the limit its build chose;
// reading it does not need the flag again. Its JSON source does.
TEST(QueueLimitsTest, BinaryConfigsSkipTheMemoryLimit) {
  gflags::FlagSaver saver;
  FLAGS_max_queue_memory_mib = 0;
  Result<FlatbufferDetachedBuffer<Configuration>> big =
      OneChannel("\"frequency\": 10000, \"max_size\": 1000000");
  ASSERT_TRUE(big.has_value()) << big.error().message();
  FLAGS_max_queue_memory_mib = 2048;
  aos::testing::TempDir dir;
  const std::string bfbs = dir.path() + "/big.bfbs";
  std::ofstream(bfbs, std::ios::binary)
      .write(reinterpret_cast<const char *>(big->span().data()),
             big->span().size());
  Result<FlatbufferDetachedBuffer<Configuration>> read = MaybeReadConfig(bfbs);
  EXPECT_TRUE(read.has_value()) << read.error().message();
  const std::string json = dir.path() + "/big.json";
  std::ofstream(json) << FlatbufferToJson(*big);
  std::filesystem::remove(bfbs);
  Result<FlatbufferDetachedBuffer<Configuration>> from_json =
      MaybeReadConfig(json);
  ASSERT_FALSE(from_json.has_value());
  EXPECT_THAT(from_json.error().message(), HasSubstr("MiB sanity limit"));
  // The hard limits still apply to binary configs.
  FLAGS_max_queue_size_override = 100;
  std::ofstream(bfbs, std::ios::binary)
      .write(reinterpret_cast<const char *>(big->span().data()),
             big->span().size());
  EXPECT_FALSE(MaybeReadConfig(bfbs).has_value());
}

// The estimate is a lower bound of what the queue really maps, and not a
// loose one.
TEST(QueueLimitsTest, MemoryEstimateIsATightLowerBound) {
  for (const std::string fields :
       {"", "\"max_size\": 0", "\"max_size\": 8", "\"max_size\": 1000000",
        "\"frequency\": 1, \"max_size\": 64",
        "\"frequency\": 1000, \"max_size\": 4096, \"read_method\": \"PIN\", "
        "\"num_readers\": 5",
        "\"frequency\": 20, \"max_size\": 8000000, \"num_senders\": 1"}) {
    SCOPED_TRACE(fields);
    Result<FlatbufferDetachedBuffer<Configuration>> config = OneChannel(fields);
    ASSERT_TRUE(config.has_value()) << config.error().message();
    const Channel *channel = config->message().channels()->Get(0);
    const uint64_t estimate =
        internal::QueueMemoryLowerBound(&config->message(), channel);
    const uint64_t real = ipc_lib::LocklessQueueMemorySize(
        QueueConfig(&config->message(), channel));
    EXPECT_LE(estimate, real);
    EXPECT_GE(estimate * 2 + 16384, real);
  }
}

TEST(QueueLimitsTest, StorageDurationMustBePositive) {
  Result<FlatbufferDetachedBuffer<Configuration>> zero =
      OneChannel("\"channel_storage_duration\": 0");
  ASSERT_FALSE(zero.has_value());
  EXPECT_THAT(zero.error().message(),
              HasSubstr("channel_storage_duration of Channel { \"name\": "
                        "\"/c\", \"type\": \"T\" } is 0 ns; it must be "
                        "positive"));
  EXPECT_FALSE(OneChannel("", "\"channel_storage_duration\": -5").has_value());
  // QueueSize itself: nothing for a non-positive duration, saturation
  // instead of wrapping for absurd products.
  EXPECT_EQ(QueueSize(100, std::chrono::nanoseconds(-1)), 0u);
  EXPECT_EQ(QueueSize(2147483647, std::chrono::nanoseconds::max()),
            std::numeric_limits<size_t>::max());
  Result<FlatbufferDetachedBuffer<Configuration>> absurd = OneChannel(
      "\"frequency\": 2147483647, \"channel_storage_duration\": "
      "9223372036854775807");
  ASSERT_FALSE(absurd.has_value());
  EXPECT_THAT(absurd.error().message(),
              HasSubstr("More messages/second configured than the queue can "
                        "hold"));
}

}  // namespace
}  // namespace aos::configuration::testing
