#include "aos/ipc_lib/memory_mapped_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <utility>

#include "aos/ipc_lib/lockless_queue_memory.h"
#include "aos/ipc_lib/shm_base.h"
#include "glog/logging.h"

namespace aos::ipc_lib {
namespace {

std::string ErrnoString(int error) { return std::string(strerror(error)); }

std::string config_string(const LocklessQueueConfiguration &config) {
  std::ostringstream out;
  out << config;
  return out.str();
}

// "user alice (uid 1000)", or "uid 1000" for a uid without a name.
std::string UserName(uint32_t uid) {
  struct passwd entry;
  struct passwd *found = nullptr;
  char buffer[1024];
  if (getpwuid_r(uid, &entry, buffer, sizeof(buffer), &found) == 0 &&
      found != nullptr) {
    return "user " + std::string(found->pw_name) + " (uid " +
           std::to_string(uid) + ")";
  }
  return "uid " + std::to_string(uid);
}

std::string RemovalHint(std::string_view path) {
  const std::string command = QueueRemovalCommand(path);
  return "Remove the stale file: `" + command + "`" +
         (command.starts_with("aos_shm")
              ? " (it refuses while a live process uses the queue)."
              : " once no process uses it.");
}

// mkdir -p, for the directories above a queue file.
Result<void> MakeDirectories(std::string_view file_path, mode_t permissions) {
  std::string path(file_path);
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    const std::string directory = path.substr(0, slash);
    if (mkdir(directory.c_str(), permissions) != 0 && errno != EEXIST) {
      const int error = errno;
      if (error == EACCES) {
        // mkdir says EACCES when the parent is not writable or not
        // searchable: name the parent, which is what needs fixing.
        const size_t parent_end = directory.rfind('/');
        const std::string parent =
            parent_end == 0 || parent_end == std::string::npos
                ? std::string("/")
                : directory.substr(0, parent_end);
        return MakeError("cannot create directory " + directory +
                         ": permission denied on " + parent +
                         " (it must be writable and searchable by this user; "
                         "check --shm_base and its permissions)");
      }
      return MakeError("cannot create directory " + directory + ": " +
                       ErrnoString(error));
    }
  }
  return {};
}

// Populates the page tables of a mapping so the real-time path never takes a
// page fault; falls back to touching every page on kernels without
// MADV_POPULATE_*.
void Prefault(void *start, size_t size, bool write) {
#if defined(MADV_POPULATE_WRITE)
  if (madvise(start, size, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) ==
      0) {
    return;
  }
#endif
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  for (size_t offset = 0; offset < size; offset += page) {
    auto *word = reinterpret_cast<std::atomic<uint32_t> *>(
        static_cast<char *>(start) + offset);
    if (write) {
      // A compare-exchange writes the page without changing it, even if
      // another process is using it.
      uint32_t expected = 0;
      word->compare_exchange_strong(expected, 0);
    } else {
      (void)word->load(std::memory_order_relaxed);
    }
  }
}

// The header of an existing file of the wrong size, if it has one, for a
// precise error message.
std::string DescribeMismatch(int fd, size_t file_size,
                             const LocklessQueueConfiguration &config) {
  if (file_size < sizeof(LocklessQueueMemory)) {
    return "it is too small to be a queue file";
  }
  QueueFileHeader header;
  uint32_t initialized = 0;
  if (pread(fd, &header, sizeof(header), 0) !=
          static_cast<ssize_t>(sizeof(header)) ||
      pread(fd, &initialized, sizeof(initialized),
            offsetof(LocklessQueueMemory, initialized)) !=
          static_cast<ssize_t>(sizeof(initialized))) {
    return "its header cannot be read";
  }
  if (initialized == 0) {
    return "it was never initialized";
  }
  Result<void> check = CheckQueueHeader(header, config);
  if (!check) {
    return check.error().message();
  }
  return "its size differs although its header matches";
}

}  // namespace

std::optional<QueuePathParts> ParseQueuePath(std::string_view path) {
  // <shm_base><channel>/<type>.v<version>: recover the channel and type.
  const std::string_view base = FLAGS_shm_base;
  const size_t slash = path.rfind('/');
  const size_t version = path.rfind(".v");
  if (!base.empty() && path.starts_with(base) && path.size() > base.size() &&
      path[base.size()] == '/' && slash != std::string::npos &&
      slash > base.size() && version != std::string::npos && version > slash) {
    return QueuePathParts{
        std::string(path.substr(base.size(), slash - base.size())),
        std::string(path.substr(slash + 1, version - slash - 1))};
  }
  return std::nullopt;
}

std::string QueueRemovalCommand(std::string_view path) {
  const std::optional<QueuePathParts> parts = ParseQueuePath(path);
  if (!parts) {
    return "rm " + std::string(path);
  }
  std::string command = "aos_shm rm " + parts->channel + " " + parts->type;
  if (std::string_view(FLAGS_shm_base) != "/dev/shm/aos") {
    command += " --shm_base=";
    command += FLAGS_shm_base;
  }
  return command;
}

std::string ShmPath(std::string_view shm_base, std::string_view channel_name,
                    std::string_view type) {
  std::string path(shm_base);
  path += channel_name;
  path += '/';
  path += type;
  path += ".v";
  path += std::to_string(kQueueLayoutVersion);
  return path;
}

Result<MemoryMappedQueue> MemoryMappedQueue::Open(
    std::string_view path, LocklessQueueConfiguration config,
    mode_t permissions) {
  const size_t size = LocklessQueueMemorySize(config);
  const std::string path_string(path);
  if (Result<void> made = MakeDirectories(path, permissions); !made) {
    return std::unexpected(made.error());
  }

  int fd = open(path_string.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    // Make the file under a private name at its full size, then link it into
    // place: it appears whole, and exactly one creator wins.
    const std::string temporary = path_string + ".tmp." +
                                  std::to_string(getpid()) + "." +
                                  std::to_string(syscall(SYS_gettid));
    const int temporary_fd = open(
        temporary.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, permissions);
    if (temporary_fd < 0) {
      return MakeError("cannot create queue file " + temporary + ": " +
                       ErrnoString(errno));
    }
    // Reserve the blocks, not just the size: on a full tmpfs a file sized
    // with ftruncate maps fine and then dies of SIGBUS when prefaulting
    // touches a page that cannot be backed. posix_fallocate fails instead,
    // before the file is visible to anyone.
    const int allocate_errno =
        posix_fallocate(temporary_fd, 0, static_cast<off_t>(size));
    const bool sized = allocate_errno == 0;
    const bool linked =
        sized && link(temporary.c_str(), path_string.c_str()) == 0;
    const int link_errno = errno;
    unlink(temporary.c_str());
    close(temporary_fd);
    if (!sized) {
      if (allocate_errno == ENOSPC) {
        const std::string directory =
            path_string.substr(0, path_string.rfind('/'));
        struct statvfs fs;
        const std::string free_bytes =
            statvfs(directory.c_str(), &fs) == 0
                ? std::to_string(static_cast<uint64_t>(fs.f_bavail) *
                                 fs.f_frsize)
                : std::string("unknown");
        return MakeError("not enough space in " + directory + " for " +
                         path_string.substr(directory.size() + 1) + ": needs " +
                         std::to_string(size) + " bytes, " + free_bytes +
                         " free. Free space there (`aos_shm clean` removes "
                         "stale queues) or lower the channel's frequency, "
                         "storage duration or max_size.");
      }
      return MakeError("cannot reserve " + std::to_string(size) +
                       " bytes for queue file " + path_string + ": " +
                       ErrnoString(allocate_errno));
    }
    if (!linked && link_errno != EEXIST) {
      return MakeError("cannot create queue file " + path_string + ": " +
                       ErrnoString(link_errno));
    }
    fd = open(path_string.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (fd < 0) {
    return MakeError("cannot open queue file " + path_string + ": " +
                     ErrnoString(errno));
  }

  struct stat stat_buffer;
  PCHECK(fstat(fd, &stat_buffer) == 0);
  const size_t file_size = static_cast<size_t>(stat_buffer.st_size);
  if (file_size != size) {
    const std::string why = DescribeMismatch(fd, file_size, config);
    close(fd);
    return MakeError("queue file " + path_string + " is " +
                     std::to_string(file_size) + " bytes but the channel " +
                     config_string(config) + " needs " + std::to_string(size) +
                     ": " + why + ". " + RemovalHint(path_string));
  }

  void *writable =
      mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (writable == MAP_FAILED) {
    const int error = errno;
    close(fd);
    return MakeError("cannot map queue file " + path_string + ": " +
                     ErrnoString(error));
  }
  void *read_only = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  const int error = errno;
  close(fd);
  if (read_only == MAP_FAILED) {
    munmap(writable, size);
    return MakeError("cannot map queue file " + path_string +
                     " read-only: " + ErrnoString(error));
  }
  Prefault(writable, size, true);
  Prefault(read_only, size, false);

  MemoryMappedQueue result;
  result.path_ = path_string;
  result.config_ = config;
  result.size_ = size;
  result.memory_ = static_cast<LocklessQueueMemory *>(writable);
  result.const_memory_ = static_cast<const LocklessQueueMemory *>(read_only);
  if (result.memory_->initialized.load(std::memory_order_acquire) &&
      CheckQueueHeader(result.memory_->header, config).has_value() &&
      result.memory_->header.uid != QueueUid()) {
    // Not stale: the queue of another user's processes. Removing it would
    // cut them off, so say whose it is first.
    const std::string owner = UserName(result.memory_->header.uid);
    return MakeError("queue file " + path_string + " belongs to " + owner +
                     " but this process runs as " + UserName(QueueUid()) +
                     ". Run this program as " + owner +
                     ", like the processes that use the queue. Only if "
                     "none of them runs any more, remove it: `" +
                     QueueRemovalCommand(path_string) + "`.");
  }
  if (Result<void> initialized = result.queue().Initialize(); !initialized) {
    return MakeError("queue file " + path_string + ": " +
                     initialized.error().message() +
                     ". The file was made by another configuration, build or "
                     "user. " +
                     RemovalHint(path_string));
  }
  return result;
}

MemoryMappedQueue::MemoryMappedQueue(MemoryMappedQueue &&other)
    : path_(std::move(other.path_)),
      config_(other.config_),
      size_(std::exchange(other.size_, 0)),
      memory_(std::exchange(other.memory_, nullptr)),
      const_memory_(std::exchange(other.const_memory_, nullptr)) {}

MemoryMappedQueue &MemoryMappedQueue::operator=(MemoryMappedQueue &&other) {
  if (this != &other) {
    Unmap();
    path_ = std::move(other.path_);
    config_ = other.config_;
    size_ = std::exchange(other.size_, 0);
    memory_ = std::exchange(other.memory_, nullptr);
    const_memory_ = std::exchange(other.const_memory_, nullptr);
  }
  return *this;
}

MemoryMappedQueue::~MemoryMappedQueue() { Unmap(); }

void MemoryMappedQueue::Unmap() {
  if (memory_ != nullptr) {
    PCHECK(munmap(memory_, size_) == 0);
    PCHECK(munmap(const_cast<LocklessQueueMemory *>(const_memory_), size_) ==
           0);
    memory_ = nullptr;
    const_memory_ = nullptr;
  }
}

bool QueueFileInfo::HasLiveOwner() const {
  if (setup_lock_held) {
    return true;
  }
  for (const std::vector<QueueSlotInfo> *slots :
       {&senders, &watchers, &pinners}) {
    for (const QueueSlotInfo &slot : *slots) {
      if (slot.liveness == QueueSlotInfo::Liveness::kAlive) {
        return true;
      }
    }
  }
  return false;
}

namespace {

const char *LivenessName(QueueSlotInfo::Liveness liveness) {
  switch (liveness) {
    case QueueSlotInfo::Liveness::kUnowned:
      return "free";
    case QueueSlotInfo::Liveness::kAlive:
      return "alive";
    case QueueSlotInfo::Liveness::kDead:
      return "dead";
  }
  return "?";
}

QueueSlotInfo DescribeSlot(size_t index, const RobustOwnershipTracker &owner) {
  QueueSlotInfo slot;
  slot.index = index;
  if (owner.state() == RobustOwnershipTracker::State::kUnowned) {
    return slot;
  }
  slot.liveness = owner.IsDefinitelyDead() ? QueueSlotInfo::Liveness::kDead
                                           : QueueSlotInfo::Liveness::kAlive;
  slot.pid = owner.pid();
  slot.tid = owner.tid();
  if (slot.tid == 0) {
    // The kernel clears the tid of a dead owner; the identity keeps it.
    slot.tid = static_cast<pid_t>(owner.identity() >> 32);
  }
  return slot;
}

// Maps `path` read-only and checks it is a queue file of this layout.
struct ReadOnlyMapping {
  const LocklessQueueMemory *memory = nullptr;
  size_t size = 0;
  LocklessQueueConfiguration config;

  ReadOnlyMapping() = default;
  ReadOnlyMapping(const ReadOnlyMapping &) = delete;
  ~ReadOnlyMapping() {
    if (memory != nullptr) {
      munmap(const_cast<LocklessQueueMemory *>(memory), size);
    }
  }

  Result<void> Open(std::string_view path) {
    const std::string path_string(path);
    const int fd = open(path_string.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return MakeError("cannot open " + path_string + ": " +
                       ErrnoString(errno));
    }
    struct stat stat_buffer;
    PCHECK(fstat(fd, &stat_buffer) == 0);
    size = static_cast<size_t>(stat_buffer.st_size);
    if (size < sizeof(LocklessQueueMemory)) {
      close(fd);
      return MakeError(path_string + " is too small (" + std::to_string(size) +
                       " bytes) to be a queue file");
    }
    void *mapped = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    const int error = errno;
    close(fd);
    if (mapped == MAP_FAILED) {
      size = 0;
      return MakeError("cannot map " + path_string + ": " + ErrnoString(error));
    }
    memory = static_cast<const LocklessQueueMemory *>(mapped);
    const QueueFileHeader &header = memory->header;
    if (header.magic != kQueueMagic) {
      return MakeError(path_string + " is not a queue file (bad magic number)");
    }
    if (header.layout_version != kQueueLayoutVersion) {
      return MakeError(path_string + " has layout version " +
                       std::to_string(header.layout_version) +
                       "; this build reads version " +
                       std::to_string(kQueueLayoutVersion));
    }
    config.num_watchers = header.num_watchers;
    config.num_senders = header.num_senders;
    config.num_pinners = header.num_pinners;
    config.queue_size = header.queue_size;
    config.message_data_size = header.message_data_size;
    // Check the header against the file before computing a layout from it:
    // a corrupted header must not make us read outside the mapping or CHECK.
    if (config.queue_size == 0 || config.queue_size > (1u << 30) ||
        config.num_messages() > (1u << 30) ||
        config.num_watchers > (1u << 20) ||
        config.message_data_size > (size_t{1} << 36) ||
        header.total_size != size || LocklessQueueMemorySize(config) != size) {
      return MakeError(path_string +
                       " has a header inconsistent with its size (corrupted "
                       "or half-made): " +
                       config_string(config) + ", " + std::to_string(size) +
                       " bytes");
    }
    return {};
  }
};

}  // namespace

Result<QueueFileInfo> InspectQueueFile(std::string_view path) {
  ReadOnlyMapping mapping;
  if (Result<void> opened = mapping.Open(path); !opened) {
    return std::unexpected(opened.error());
  }
  const LocklessQueueMemory *memory = mapping.memory;
  QueueFileInfo info;
  info.path = std::string(path);
  info.layout_version = memory->header.layout_version;
  info.config = mapping.config;
  info.file_size = mapping.size;
  info.initialized = memory->initialized.load(std::memory_order_acquire) != 0;
  info.uid = memory->header.uid;
  const RobustOwnershipTracker &lock = memory->setup_lock.tracker();
  info.setup_lock_held =
      lock.state() == RobustOwnershipTracker::State::kOwned &&
      !lock.IsDefinitelyDead();
  if (!info.initialized) {
    return info;
  }
  const LocklessQueue queue(memory, const_cast<LocklessQueueMemory *>(memory),
                            mapping.config);
  const QueueIndex latest = LocklessQueueReader(queue).LatestIndex();
  if (latest.valid()) {
    info.latest_queue_index = latest.index();
  }
  const QueueMemoryView view(memory, queue.layout());
  for (size_t i = 0; i < info.config.num_senders; ++i) {
    info.senders.push_back(DescribeSlot(i, view.sender(i)->owner));
  }
  for (size_t i = 0; i < info.config.num_pinners; ++i) {
    info.pinners.push_back(DescribeSlot(i, view.pinner(i)->owner));
  }
  for (size_t i = 0; i < info.config.num_watchers; ++i) {
    const WatcherSlot *watcher = view.watcher(i);
    QueueSlotInfo slot = DescribeSlot(i, watcher->owner);
    if (slot.liveness != QueueSlotInfo::Liveness::kUnowned) {
      slot.priority = watcher->priority.load();
      const uint32_t policy = watcher->policy.load();
      if (policy == static_cast<uint32_t>(WakeupPolicy::kCoalesce) ||
          policy == static_cast<uint32_t>(WakeupPolicy::kEveryMessage)) {
        slot.policy = static_cast<WakeupPolicy>(policy);
      }
    }
    info.watchers.push_back(slot);
  }
  return info;
}

std::ostream &operator<<(std::ostream &os, const QueueFileInfo &info) {
  os << info.path << ": layout v" << info.layout_version << ", " << info.config
     << ", " << info.file_size << " bytes, uid " << info.uid;
  if (!info.initialized) {
    return os << ", not initialized\n";
  }
  os << ", latest index ";
  if (info.latest_queue_index) {
    os << *info.latest_queue_index;
  } else {
    os << "none";
  }
  os << (info.setup_lock_held ? ", setup lock held" : "") << "\n";
  const struct {
    const char *name;
    const std::vector<QueueSlotInfo> *slots;
  } kinds[] = {{"sender", &info.senders},
               {"watcher", &info.watchers},
               {"pinner", &info.pinners}};
  for (const auto &kind : kinds) {
    for (const QueueSlotInfo &slot : *kind.slots) {
      if (slot.liveness == QueueSlotInfo::Liveness::kUnowned) {
        continue;
      }
      os << "  " << kind.name << " " << slot.index << ": pid " << slot.pid;
      if (slot.tid == 0) {
        os << " tid none";
      } else if (slot.liveness == QueueSlotInfo::Liveness::kDead) {
        os << " last tid " << slot.tid;
      } else {
        os << " tid " << slot.tid;
      }
      os << " " << LivenessName(slot.liveness);
      if (slot.policy) {
        os << " priority " << slot.priority
           << (*slot.policy == WakeupPolicy::kCoalesce ? " coalesced"
                                                       : " every-message");
      }
      os << "\n";
    }
  }
  return os;
}

Result<void> PrintQueueFile(std::string_view path, std::ostream &os,
                            bool dump_data) {
  ReadOnlyMapping mapping;
  if (Result<void> opened = mapping.Open(path); !opened) {
    return opened;
  }
  PrintLocklessQueueMemory(mapping.memory, mapping.config, os, dump_data);
  return {};
}

}  // namespace aos::ipc_lib
