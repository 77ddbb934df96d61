#include "aos/ipc_lib/memory_mapped_queue.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "aos/ipc_lib/lockless_queue_memory.h"
#include "aos/ipc_lib/lockless_queue_test_util.h"
#include "aos/ipc_lib/process_test_util.h"
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

// Error messages give the exact command that removes a queue: aos_shm for
// files under --shm_base, rm otherwise.
TEST(QueueRemovalCommandTest, NamesChannelAndType) {
  const std::string previous = FLAGS_shm_base;
  SetShmBase("/dev/shm/aos");
  EXPECT_EQ(QueueRemovalCommand(ShmPath("/dev/shm/aos", "/a/b", "aos.Ping")),
            "aos_shm rm /a/b aos.Ping");
  SetShmBase("/tmp/x/aos");
  EXPECT_EQ(QueueRemovalCommand(ShmPath("/tmp/x/aos", "/c", "aos.Ping")),
            "aos_shm rm /c aos.Ping --shm_base=/tmp/x/aos");
  // Only on a path-component boundary.
  EXPECT_EQ(QueueRemovalCommand("/tmp/x/aos2/c/aos.Ping.v3"),
            "rm /tmp/x/aos2/c/aos.Ping.v3");
  SetShmBase(previous);
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
                    HasSubstr("300"), HasSubstr(QueueRemovalCommand(path))));
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
  // Whose it is and to run as them; removal only as the last resort, with
  // the exact command.
  EXPECT_THAT(
      opened.error().message(),
      AllOf(HasSubstr(path), HasSubstr("belongs to "),
            HasSubstr("uid " + std::to_string(theirs) + ")"),
            HasSubstr("runs as "), HasSubstr("uid " + std::to_string(mine)),
            HasSubstr("Run this program as "),
            HasSubstr("Only if none of them runs any more"),
            HasSubstr(QueueRemovalCommand(path))));
  // aos_shm still describes it, with the owner's uid.
  Result<QueueFileInfo> inspected = InspectQueueFile(path);
  ASSERT_TRUE(inspected.has_value()) << inspected.error();
  EXPECT_EQ(inspected->uid, theirs);
}

// A parent directory this user cannot write says "permission denied" and
// names that directory. Root bypasses the check, so the opening runs as
// nobody in a child.
TEST_F(MemoryMappedQueueTest, PermissionDeniedNamesTheDirectory) {
  const std::string locked = dir_.path() + "/locked";
  ASSERT_EQ(mkdir(locked.c_str(), 0700), 0);
  const auto [status, message] = RunInChild([&](std::string *error) {
    if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0) return 2;
    if (geteuid() == 0) return 2;
    // Not root (any more): `locked` is unwritable for us.
    chmod(locked.c_str(), 0500);
    Result<MemoryMappedQueue> opened = MemoryMappedQueue::Open(
        ShmPath(locked + "/aos", "/chan", "aos.Test"), Config(), 0770);
    if (opened.has_value()) return 1;
    *error = opened.error().message();
    return 0;
  });
  if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
    GTEST_SKIP() << "cannot drop root privileges here";
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "opening under an unwritable directory did not fail: " << status;
  // The denied directory is `locked`, or (as nobody) an ancestor of it that
  // nobody cannot search.
  EXPECT_THAT(message, HasSubstr("cannot create directory "));
  const std::string marker = "permission denied on ";
  const size_t at = message.find(marker);
  ASSERT_NE(at, std::string::npos) << message;
  const size_t end = message.find(" (", at);
  ASSERT_NE(end, std::string::npos) << message;
  const std::string denied =
      message.substr(at + marker.size(), end - at - marker.size());
  EXPECT_TRUE(locked.starts_with(denied)) << message;
}

// A full filesystem is an error naming the space needed and free, and
// leaves no file behind (it used to die of SIGBUS prefaulting a file that
// ftruncate had sized but nothing backed, and leave that file for every
// restart to trip over). The test mounts a 64 KiB tmpfs in a private mount
// namespace of a child, so nothing outlives it.
TEST_F(MemoryMappedQueueTest, FullFilesystemIsAClearErrorAndLeavesNothing) {
  const std::string mount_point = dir_.path() + "/small";
  ASSERT_EQ(mkdir(mount_point.c_str(), 0700), 0);
  LocklessQueueConfiguration big = Config();
  big.queue_size = 1000;
  big.message_data_size = 1000;
  const std::string path = ShmPath(mount_point + "/aos", "/big", "aos.Test");
  const auto [status, message] = RunInChild([&](std::string *error) {
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=64k") != 0) {
      return 77;
    }
    Result<MemoryMappedQueue> opened = MemoryMappedQueue::Open(path, big, 0770);
    if (opened.has_value()) return 1;
    *error = opened.error().message();
    // Nothing left in the channel's directory.
    const std::string directory = path.substr(0, path.rfind('/'));
    DIR *dir = opendir(directory.c_str());
    if (dir == nullptr) return 3;
    int entries = 0;
    while (struct dirent *entry = readdir(dir)) {
      if (std::string_view(entry->d_name) != "." &&
          std::string_view(entry->d_name) != "..") {
        ++entries;
      }
    }
    closedir(dir);
    if (entries != 0) return 4;
    // A queue that fits still opens there.
    LocklessQueueConfiguration small = Config();
    small.queue_size = 2;
    small.message_data_size = 16;
    if (!MemoryMappedQueue::Open(
             ShmPath(mount_point + "/aos", "/small", "aos.Test"), small, 0770)
             .has_value()) {
      return 5;
    }
    return 0;
  });
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    GTEST_SKIP() << "cannot mount a tmpfs in a private mount namespace "
                    "(needs root or CAP_SYS_ADMIN; CI runs as root)";
  }
  ASSERT_TRUE(WIFEXITED(status))
      << "the child died of signal "
      << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "1: opened anyway, 4: a file was left behind, 5: a small queue "
         "failed";
  const std::string directory = path.substr(0, path.rfind('/'));
  EXPECT_THAT(
      message,
      AllOf(HasSubstr("not enough space in " + directory + " for " +
                      path.substr(directory.size() + 1)),
            HasSubstr("needs " + std::to_string(LocklessQueueMemorySize(big)) +
                      " bytes, "),
            HasSubstr(" free")));
}

// A slot whose owner died shows the owner's last tid (the kernel clears it
// from the futex), not "tid 0".
TEST_F(MemoryMappedQueueTest, DeadOwnerShowsItsLastTid) {
  const std::string path = Path("/dead");
  Result<MemoryMappedQueue> queue =
      MemoryMappedQueue::Open(path, Config(), 0770);
  ASSERT_TRUE(queue.has_value()) << queue.error();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto sender =
        LocklessQueueSender::Make(queue->queue(), std::chrono::seconds(0));
    _exit(sender.has_value() ? 0 : 1);  // Dies owning the slot.
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  Result<QueueFileInfo> inspected = InspectQueueFile(path);
  ASSERT_TRUE(inspected.has_value()) << inspected.error();
  ASSERT_EQ(inspected->senders[0].liveness, QueueSlotInfo::Liveness::kDead);
  EXPECT_EQ(inspected->senders[0].tid, child);
  std::ostringstream printed;
  printed << *inspected;
  EXPECT_THAT(printed.str(),
              HasSubstr("sender 0: pid " + std::to_string(child) +
                        " last tid " + std::to_string(child) + " dead"));
  EXPECT_THAT(printed.str(), ::testing::Not(HasSubstr("tid 0")));
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
