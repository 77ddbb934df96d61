#include "aos/events/shm_channel_queue.h"

#include <string>

#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/testing/tmpdir.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

// A config-wide storage duration of 1 s, overridden by /pin's own 0.5 s.
constexpr std::string_view kConfig = R"json({
  "channel_storage_duration": 1000000000,
  "channels": [
    {"name": "/copy", "type": "aos.TestMessage", "frequency": 30,
     "max_size": 256, "num_senders": 3, "num_watchers": 4},
    {"name": "/pin", "type": "aos.TestMessage", "frequency": 30,
     "max_size": 512, "num_senders": 2, "num_watchers": 5,
     "read_method": "PIN", "num_readers": 6,
     "channel_storage_duration": 500000000}
  ]
})json";

class ShmChannelQueueTest : public ::testing::Test {
 protected:
  ShmChannelQueueTest()
      : config_(configuration::MergeWithConfig(
            &FlatbufferDetachedBuffer<Configuration>::Empty().message(),
            kConfig)) {}

  const Channel *channel(std::string_view name) {
    return configuration::GetChannel(&config_.message(), name,
                                     "aos.TestMessage", "", nullptr);
  }

  FlatbufferDetachedBuffer<Configuration> config_;
};

// COPY readers copy out and need no slot in the queue.
// Upstream code (its shm tests) names the redzone aos::kChannelDataRedzone;
// it was only aos::ipc_lib::kChannelDataRedzone here.
TEST(ShmChannelQueueNamesTest, RedzoneIsInNamespaceAos) {
  static_assert(::aos::kChannelDataRedzone == 32);
  EXPECT_EQ(::aos::kChannelDataRedzone % alignof(std::max_align_t), 0u);
}

TEST_F(ShmChannelQueueTest, CopyChannelHasNoPinners) {
  const ipc_lib::LocklessQueueConfiguration config =
      ShmChannelQueueConfiguration(&config_.message(), channel("/copy"));
  EXPECT_EQ(config.num_watchers, 4u);
  EXPECT_EQ(config.num_senders, 3u);
  EXPECT_EQ(config.num_pinners, 0u);
  // 30 Hz for the config's 1 s.
  EXPECT_EQ(config.queue_size, 30u);
  EXPECT_EQ(config.message_data_size, 256u);
}

// PIN readers each hold a buffer; the channel's own storage duration wins.
TEST_F(ShmChannelQueueTest, PinChannelHasOnePinnerPerReader) {
  const ipc_lib::LocklessQueueConfiguration config =
      ShmChannelQueueConfiguration(&config_.message(), channel("/pin"));
  EXPECT_EQ(config.num_watchers, 5u);
  EXPECT_EQ(config.num_senders, 2u);
  EXPECT_EQ(config.num_pinners, 6u);
  EXPECT_EQ(config.queue_size, 15u);
  EXPECT_EQ(config.message_data_size, 512u);
}

// A file made from the path and configuration opens again with them, and a
// different configuration is refused: the property tools rely on.
TEST_F(ShmChannelQueueTest, PathAndConfigurationOpenTheSameFile) {
  TempDir dir;
  const std::string shm_base = dir.path() + "/aos";
  const std::string path = ShmChannelQueuePath(shm_base, channel("/copy"));
  EXPECT_EQ(path, shm_base + "/copy/aos.TestMessage.v" +
                      std::to_string(ipc_lib::kQueueLayoutVersion));
  const ipc_lib::LocklessQueueConfiguration config =
      ShmChannelQueueConfiguration(&config_.message(), channel("/copy"));
  {
    Result<ipc_lib::MemoryMappedQueue> queue =
        ipc_lib::MemoryMappedQueue::Open(path, config, 0770);
    ASSERT_TRUE(queue.has_value()) << queue.error().message();
  }
  Result<ipc_lib::MemoryMappedQueue> again =
      ipc_lib::MemoryMappedQueue::Open(path, config, 0770);
  EXPECT_TRUE(again.has_value());
  ipc_lib::LocklessQueueConfiguration other = config;
  ++other.num_watchers;
  EXPECT_FALSE(ipc_lib::MemoryMappedQueue::Open(path, other, 0770).has_value());
}

}  // namespace
}  // namespace aos::testing
