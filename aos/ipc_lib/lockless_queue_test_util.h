#ifndef AOS_IPC_LIB_LOCKLESS_QUEUE_TEST_UTIL_H_
#define AOS_IPC_LIB_LOCKLESS_QUEUE_TEST_UTIL_H_

// Helpers shared by the lockless queue tests: a queue in ordinary (page
// aligned, zeroed) memory, and short send/read calls.

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/robust_ownership_tracker.h"
#include "glog/logging.h"

namespace aos::ipc_lib {

// Writes an owner into a tracker without linking it into anyone's robust
// list: what a slot looks like after its owner died in a way the kernel did
// not see (memory unmapped first) and its tid went to another thread.
class RobustOwnershipTrackerTestPeer {
 public:
  static void SetOwner(RobustOwnershipTracker *tracker, pid_t pid, pid_t tid,
                       uint64_t start_time) {
    tracker->pid_.store(pid);
    // The packing documented on identity_.
    tracker->identity_.store(
        (static_cast<uint64_t>(static_cast<uint32_t>(tid)) << 32) |
        (start_time & 0xFFFFFFFFu));
    tracker->futex_.store(static_cast<uint32_t>(tid));
  }
};

}  // namespace aos::ipc_lib

namespace aos::ipc_lib::testing {

// A zero-filled, page-aligned region holding one initialized queue. Both
// "mappings" are the same memory, which lets ThreadSanitizer see every race.
class HeapQueue {
 public:
  explicit HeapQueue(LocklessQueueConfiguration config,
                     uint32_t starting_queue_index = 0)
      : config_(config), size_(LocklessQueueMemorySize(config)) {
    memory_ = static_cast<LocklessQueueMemory *>(
        std::aligned_alloc(4096, (size_ + 4095) / 4096 * 4096));
    CHECK(memory_ != nullptr);
    memset(static_cast<void *>(memory_), 0, size_);
    CHECK(queue().Initialize(starting_queue_index).has_value());
  }
  ~HeapQueue() { std::free(memory_); }
  HeapQueue(const HeapQueue &) = delete;

  LocklessQueue queue() const {
    return LocklessQueue(memory_, memory_, config_);
  }
  LocklessQueueMemory *memory() const { return memory_; }
  size_t size() const { return size_; }

 private:
  LocklessQueueConfiguration config_;
  size_t size_;
  LocklessQueueMemory *memory_;
};

inline LocklessQueueSender::Result SendString(LocklessQueueSender *sender,
                                              std::string_view data,
                                              uint32_t *queue_index = nullptr) {
  return sender->Send(data.data(), data.size(), monotonic_clock::min_time,
                      realtime_clock::min_time, monotonic_clock::min_time,
                      0xFFFFFFFFu, UUID::Zero(), nullptr, nullptr, queue_index);
}

// Reads `queue_index`; on GOOD stores the payload in *data.
inline LocklessQueueReader::Result ReadString(const LocklessQueueReader &reader,
                                              const LocklessQueue &queue,
                                              uint32_t queue_index,
                                              std::string *data,
                                              MessageInfo *info = nullptr) {
  std::string buffer(queue.config().message_data_size, '\0');
  MessageInfo local;
  const LocklessQueueReader::Result result =
      reader.Read(queue_index, &local, buffer.data());
  if (result == LocklessQueueReader::Result::GOOD) {
    *data = buffer.substr(buffer.size() - local.length);
    if (info != nullptr) {
      *info = local;
    }
  }
  return result;
}

}  // namespace aos::ipc_lib::testing

#endif  // AOS_IPC_LIB_LOCKLESS_QUEUE_TEST_UTIL_H_
