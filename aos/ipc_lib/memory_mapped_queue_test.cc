#include "aos/ipc_lib/memory_mapped_queue.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "aos/ipc_lib/lockless_queue_memory.h"
#include "aos/ipc_lib/lockless_queue_test_util.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/testing/tmpdir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::ipc_lib::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

LocklessQueueConfiguration Config() {
  LocklessQueueConfiguration config;
  config.num_watchers = 3;
  config.num_senders = 2;
  config.num_pinners = 1;
  config.queue_size = 10;
  config.message_data_size = 200;
  return config;
}

class MemoryMappedQueueTest : public ::testing::Test {
 protected:
  std::string Path(std::string_view name) {
    return ShmPath(dir_.path() + "/aos", name, "aos.Test");
  }

  aos::testing::TempDir dir_;
};

TEST(ShmPathTest, Convention) {
  EXPECT_EQ(ShmPath("/dev/shm/aos", "/test", "aos.examples.Ping"),
            "/dev/shm/aos/test/aos.examples.Ping.v" +
                std::to_string(kQueueLayoutVersion));
}

TEST_F(MemoryMappedQueueTest, CreatesAndShares) {
  const std::string path = Path("/a/b");
  Result<MemoryMappedQueue> first =
      MemoryMappedQueue::Open(path, Config(), 0770);
  ASSERT_TRUE(first.has_value()) << first.error();
  struct stat info;
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(static_cast<size_t>(info.st_size),
            LocklessQueueMemorySize(Config()));
  Result<MemoryMappedQueue> second =
      MemoryMappedQueue::Open(path, Config(), 0770);
  ASSERT_TRUE(second.has_value()) << second.error();

  auto sender =
      LocklessQueueSender::Make(first->queue(), std::chrono::seconds(0));
  ASSERT_TRUE(sender);
  ASSERT_EQ(SendString(&*sender, "hello"), LocklessQueueSender::Result::GOOD);
  std::string data;
  LocklessQueueReader reader(second->queue());
  EXPECT_EQ(ReadString(reader, second->queue(), 0, &data),
            LocklessQueueReader::Result::GOOD);
  EXPECT_EQ(data, "hello");
  // The reader's mapping is read-only.
  EXPECT_NE(static_cast<const void *>(second->const_memory()),
            static_cast<const void *>(second->memory()));

  Result<QueueFileInfo> inspected = InspectQueueFile(path);
  ASSERT_TRUE(inspected.has_value()) << inspected.error();
  EXPECT_EQ(inspected->config, Config());
  EXPECT_TRUE(inspected->initialized);
  EXPECT_EQ(inspected->latest_queue_index, 0u);
  ASSERT_EQ(inspected->senders.size(), 2u);
  EXPECT_EQ(inspected->senders[0].liveness, QueueSlotInfo::Liveness::kAlive);
  EXPECT_EQ(inspected->senders[0].pid, getpid());
  EXPECT_EQ(inspected->senders[1].liveness, QueueSlotInfo::Liveness::kUnowned);
  EXPECT_TRUE(inspected->HasLiveOwner());
  std::ostringstream printed;
  printed << *inspected;
  EXPECT_THAT(printed.str(),
              HasSubstr("sender 0: pid " + std::to_string(getpid())));
  std::ostringstream dump;
  ASSERT_TRUE(PrintQueueFile(path, dump, true).has_value());
  EXPECT_THAT(dump.str(), HasSubstr("68 65 6c 6c 6f"));  // "hello"
  sender.reset();
  inspected = InspectQueueFile(path);
  ASSERT_TRUE(inspected.has_value());
  EXPECT_FALSE(inspected->HasLiveOwner());
}

TEST_F(MemoryMappedQueueTest, ConfigurationMismatchNamesTheField) {
  const std::string path = Path("/mismatch");
  ASSERT_TRUE(MemoryMappedQueue::Open(path, Config(), 0770).has_value());
  // Same size (the watcher array is padded to 128 bytes), different field:
  // caught by the header.
  LocklessQueueConfiguration swapped = Config();
  swapped.num_watchers = 4;
  ASSERT_EQ(LocklessQueueMemorySize(swapped),
            LocklessQueueMemorySize(Config()));
  {
    Result<MemoryMappedQueue> opened =
        MemoryMappedQueue::Open(path, swapped, 0770);
    ASSERT_FALSE(opened.has_value());
    EXPECT_THAT(opened.error().message(),
                AllOf(HasSubstr(path), HasSubstr("num_watchers is 3"),
                      HasSubstr("rm " + path)));
  }
  // Different size: still names the field from the header.
  LocklessQueueConfiguration bigger = Config();
  bigger.message_data_size = 300;
  Result<MemoryMappedQueue> opened =
      MemoryMappedQueue::Open(path, bigger, 0770);
  ASSERT_FALSE(opened.has_value());
  EXPECT_THAT(opened.error().message(),
              AllOf(HasSubstr(path), HasSubstr("message_data_size is 200"),
                    HasSubstr("300"), HasSubstr("aos_shm")));
}

TEST_F(MemoryMappedQueueTest, StaleFilesAreErrors) {
  const size_t size = LocklessQueueMemorySize(Config());
  // A file of the right size full of garbage.
  const std::string garbage = Path("/garbage");
  ASSERT_TRUE(MemoryMappedQueue::Open(garbage, Config(), 0770).has_value());
  {
    std::ofstream out(garbage, std::ios::binary | std::ios::in);
    const std::string junk(64, 'J');
    out.write(junk.data(), junk.size());
  }
  Result<MemoryMappedQueue> opened =
      MemoryMappedQueue::Open(garbage, Config(), 0770);
  ASSERT_FALSE(opened.has_value());
  EXPECT_THAT(opened.error().message(), HasSubstr("bad magic"));
  Result<QueueFileInfo> inspected = InspectQueueFile(garbage);
  ASSERT_FALSE(inspected.has_value());
  EXPECT_THAT(inspected.error().message(), HasSubstr("not a queue file"));

  // Another layout version.
  const std::string old_layout = Path("/old");
  const uint32_t version = kQueueLayoutVersion + 5;
  ASSERT_TRUE(MemoryMappedQueue::Open(old_layout, Config(), 0770).has_value());
  {
    const int fd = open(old_layout.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pwrite(fd, &version, sizeof(version),
                     offsetof(QueueFileHeader, layout_version)),
              static_cast<ssize_t>(sizeof(version)));
    close(fd);
  }
  opened = MemoryMappedQueue::Open(old_layout, Config(), 0770);
  ASSERT_FALSE(opened.has_value());
  EXPECT_THAT(opened.error().message(),
              HasSubstr("layout version is " + std::to_string(version)));
  inspected = InspectQueueFile(old_layout);
  ASSERT_FALSE(inspected.has_value());
  EXPECT_THAT(inspected.error().message(),
              HasSubstr("layout version " + std::to_string(version)));

  // A truncated file.
  const std::string truncated = Path("/truncated");
  ASSERT_TRUE(MemoryMappedQueue::Open(truncated, Config(), 0770).has_value());
  ASSERT_EQ(truncate(truncated.c_str(), 100), 0);
  opened = MemoryMappedQueue::Open(truncated, Config(), 0770);
  ASSERT_FALSE(opened.has_value());
  EXPECT_THAT(opened.error().message(),
              AllOf(HasSubstr("is 100 bytes"), HasSubstr(std::to_string(size)),
                    HasSubstr("too small")));
  inspected = InspectQueueFile(truncated);
  ASSERT_FALSE(inspected.has_value());
  EXPECT_THAT(inspected.error().message(), HasSubstr("too small"));

  // Not there at all.
  inspected = InspectQueueFile(Path("/missing"));
  ASSERT_FALSE(inspected.has_value());
  EXPECT_THAT(inspected.error().message(), HasSubstr("cannot open"));
}

// A queue file made by another user (its header records that user's uid):
// opening it is an error naming both uids, the file and the way out. (The
// test edits the recorded uid rather than switching users, which needs
// root.)
TEST_F(MemoryMappedQueueTest, AnotherUsersQueueIsAnError) {
  const std::string path = Path("/theirs");
  ASSERT_TRUE(MemoryMappedQueue::Open(path, Config(), 0770).has_value());
  const uint32_t mine = geteuid();
  const uint32_t theirs = mine + 1000;
  {
    const int fd = open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(
        pwrite(fd, &theirs, sizeof(theirs), offsetof(QueueFileHeader, uid)),
        static_cast<ssize_t>(sizeof(theirs)));
    close(fd);
  }
  Result<MemoryMappedQueue> opened =
      MemoryMappedQueue::Open(path, Config(), 0770);
  ASSERT_FALSE(opened.has_value());
  EXPECT_THAT(opened.error().message(),
              AllOf(HasSubstr(path),
                    HasSubstr("belongs to uid " + std::to_string(theirs)),
                    HasSubstr("runs as uid " + std::to_string(mine)),
                    HasSubstr("aos_shm")));
  // aos_shm still describes it, with the owner's uid.
  Result<QueueFileInfo> inspected = InspectQueueFile(path);
  ASSERT_TRUE(inspected.has_value()) << inspected.error();
  EXPECT_EQ(inspected->uid, theirs);
}

TEST_F(MemoryMappedQueueTest, UnwritableDirectoryIsAnError) {
  const std::string blocker = dir_.path() + "/file";
  std::ofstream(blocker) << "x";
  Result<MemoryMappedQueue> opened = MemoryMappedQueue::Open(
      ShmPath(blocker, "/chan", "aos.Test"), Config(), 0770);
  ASSERT_FALSE(opened.has_value());
  EXPECT_THAT(opened.error().message(), HasSubstr("cannot create directory"));
}

}  // namespace
}  // namespace aos::ipc_lib::testing
