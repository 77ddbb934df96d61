#ifndef AOS_IPC_LIB_MEMORY_MAPPED_QUEUE_H_
#define AOS_IPC_LIB_MEMORY_MAPPED_QUEUE_H_

// Queue files: one shared-memory file per channel, and tools to inspect them.
//
// A channel's queue lives in `ShmPath(shm_base, channel name, type)`, i.e.
// `<shm_base><channel name>/<type>.v<kQueueLayoutVersion>`. MemoryMappedQueue
// creates or opens that file, maps it twice (read-write, and read-only for
// readers), prefaults every page so the real-time path never takes a page
// fault, and initializes the queue. The file starts with a self-describing
// header (magic, layout version, configuration); opening a file written by
// another layout or configuration returns an error that names the differing
// field and how to remove the stale file.
//
// InspectQueueFile reads any queue file without knowing its configuration, for
// the aos_shm tool: configuration, and each sender, watcher and pinner slot
// with its owner and whether that owner is alive.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "aos/ipc_lib/lockless_queue.h"
#include "aos/util/status.h"

namespace aos::ipc_lib {

// `<shm_base><channel_name>/<type>.v<kQueueLayoutVersion>`. Channel names
// start with '/'.
std::string ShmPath(std::string_view shm_base, std::string_view channel_name,
                    std::string_view type);

// The channel and type a queue file under --shm_base belongs to.
struct QueuePathParts {
  std::string channel;
  std::string type;
};
// Recovers them from `path` (ShmPath's inverse); nullopt for a file that is
// not under --shm_base or not named like a queue.
std::optional<QueuePathParts> ParseQueuePath(std::string_view path);

// The command that removes the queue file at `path` once nobody uses it:
// `aos_shm rm /channel type` (with --shm_base if not the default) for a file
// under --shm_base, else `rm <path>`. For error messages.
std::string QueueRemovalCommand(std::string_view path);

class MemoryMappedQueue {
 public:
  // Opens the queue at `path`, creating it (and missing directories, with
  // `permissions`) if needed. A new file appears atomically with its full
  // size (it is made under a temporary name and hard-linked into place), so
  // nobody ever maps a half-made file. Errors (as Result): the file cannot be
  // created or opened; it is not a queue file of this layout; its size or
  // configuration differs from `config`; it belongs to another user.
  static Result<MemoryMappedQueue> Open(std::string_view path,
                                        LocklessQueueConfiguration config,
                                        mode_t permissions);

  MemoryMappedQueue(MemoryMappedQueue &&other);
  MemoryMappedQueue &operator=(MemoryMappedQueue &&other);
  MemoryMappedQueue(const MemoryMappedQueue &) = delete;
  // Unmaps. Senders, watchers and pinners of this queue must be gone.
  ~MemoryMappedQueue();

  LocklessQueue queue() const {
    return LocklessQueue(const_memory_, memory_, config_);
  }
  LocklessQueueMemory *memory() const { return memory_; }
  const LocklessQueueMemory *const_memory() const { return const_memory_; }
  const LocklessQueueConfiguration &config() const { return config_; }
  const std::string &path() const { return path_; }
  size_t size() const { return size_; }

 private:
  MemoryMappedQueue() = default;
  void Unmap();

  std::string path_;
  LocklessQueueConfiguration config_;
  size_t size_ = 0;
  LocklessQueueMemory *memory_ = nullptr;
  const LocklessQueueMemory *const_memory_ = nullptr;
};

// One sender, watcher or pinner slot of a queue file.
struct QueueSlotInfo {
  enum class Liveness { kUnowned, kAlive, kDead };

  size_t index = 0;
  Liveness liveness = Liveness::kUnowned;
  pid_t pid = 0;
  // The owner's tid; for a dead owner (whose tid the kernel clears) the last
  // one recorded. 0 if none is known.
  pid_t tid = 0;
  // Watchers only.
  int priority = 0;
  std::optional<WakeupPolicy> policy;
};

// What InspectQueueFile found.
struct QueueFileInfo {
  std::string path;
  uint32_t layout_version = 0;
  LocklessQueueConfiguration config;
  size_t file_size = 0;
  bool initialized = false;
  uid_t uid = 0;
  // The newest queue index, or nullopt if nothing was sent.
  std::optional<uint32_t> latest_queue_index;
  std::vector<QueueSlotInfo> senders;
  std::vector<QueueSlotInfo> watchers;
  std::vector<QueueSlotInfo> pinners;
  // Whether the setup lock is held by a live thread.
  bool setup_lock_held = false;

  // True if any slot or the setup lock has a live owner: the file is in use
  // and must not be removed.
  bool HasLiveOwner() const;
};

std::ostream &operator<<(std::ostream &os, const QueueFileInfo &info);

// Reads a queue file read-only, without knowing its configuration. Errors:
// cannot open/map; not a queue file (bad magic); another layout version;
// header inconsistent with the file size.
Result<QueueFileInfo> InspectQueueFile(std::string_view path);

// Prints the whole memory of the queue file (PrintLocklessQueueMemory).
Result<void> PrintQueueFile(std::string_view path, std::ostream &os,
                            bool dump_data);

}  // namespace aos::ipc_lib

#endif  // AOS_IPC_LIB_MEMORY_MAPPED_QUEUE_H_
