// Checks and printing of queue memory, for Initialize, tests and aos_shm.

#include <iomanip>
#include <string>
#include <vector>

#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/lockless_queue_memory.h"
#include "glog/logging.h"

namespace aos::ipc_lib {

Result<void> CheckQueueHeader(const QueueFileHeader &header,
                              const LocklessQueueConfiguration &config) {
  if (header.magic != kQueueMagic) {
    return MakeError(
        "not a lockless queue of this software (bad magic number)");
  }
  if (header.layout_version != kQueueLayoutVersion) {
    return MakeError("layout version is " +
                     std::to_string(header.layout_version) +
                     " in the queue memory but this build uses " +
                     std::to_string(kQueueLayoutVersion));
  }
  const struct {
    const char *name;
    uint64_t in_memory;
    uint64_t expected;
  } fields[] = {
      {"num_watchers", header.num_watchers, config.num_watchers},
      {"num_senders", header.num_senders, config.num_senders},
      {"num_pinners", header.num_pinners, config.num_pinners},
      {"queue_size", header.queue_size, config.queue_size},
      {"message_data_size", header.message_data_size, config.message_data_size},
      {"header size", header.header_size, sizeof(LocklessQueueMemory)},
      {"total size", header.total_size, LocklessQueueMemorySize(config)},
  };
  for (const auto &field : fields) {
    if (field.in_memory != field.expected) {
      return MakeError(
          std::string(field.name) + " is " + std::to_string(field.in_memory) +
          " in the queue memory but " + std::to_string(field.expected) +
          " in the configuration");
    }
  }
  return {};
}

// ---------------------------------------------------------------- Checks

Result<void> CheckQueueConsistency(const LocklessQueue &queue) {
  const LocklessQueueConfiguration &config = queue.config();
  const uint32_t count = QueueSize32(config);
  const QueueMemoryView view(queue.const_memory(), queue.layout());
  std::vector<std::string> owners(config.num_messages());
  auto own = [&](Index index, std::string owner) -> Result<void> {
    if (!index.valid() || index.message_index() >= config.num_messages()) {
      return MakeError(owner + " holds an invalid buffer index " +
                       index.DebugString());
    }
    std::string &previous = owners[index.message_index()];
    if (!previous.empty()) {
      return MakeError("buffer " + std::to_string(index.message_index()) +
                       " is owned by both " + previous + " and " + owner);
    }
    previous = std::move(owner);
    return {};
  };
  for (size_t i = 0; i < config.queue_size; ++i) {
    const Index index = view.ring(i)->Load();
    if (auto result = own(index, "ring slot " + std::to_string(i)); !result) {
      return result;
    }
    if (index.queue_index() % count != i) {
      return MakeError("ring slot " + std::to_string(i) + " holds index " +
                       std::to_string(index.queue_index()));
    }
    const QueueIndex message_index =
        view.message(index.message_index())->queue_index.Load(count);
    if (message_index.valid() && !index.Holds(message_index)) {
      return MakeError("ring slot " + std::to_string(i) + " holds " +
                       index.DebugString() + " but its buffer says index " +
                       std::to_string(message_index.index()));
    }
  }
  for (size_t i = 0; i < config.num_senders; ++i) {
    const SenderSlot *sender = view.sender(i);
    if (sender->to_replace.Load().valid()) {
      return MakeError("sender " + std::to_string(i) +
                       " is in the middle of taking a buffer");
    }
    if (auto result =
            own(sender->scratch_index.Load(), "sender " + std::to_string(i));
        !result) {
      return result;
    }
  }
  for (size_t i = 0; i < config.num_pinners; ++i) {
    if (auto result = own(view.pinner(i)->scratch_index.Load(),
                          "pinner " + std::to_string(i));
        !result) {
      return result;
    }
  }
  for (size_t i = 0; i < owners.size(); ++i) {
    if (owners[i].empty()) {
      return MakeError("buffer " + std::to_string(i) + " is owned by nobody");
    }
    if (!MessageRedzonesIntact(view, config.message_data_size, i)) {
      return MakeError("buffer " + std::to_string(i) + " has a bad redzone");
    }
  }
  return {};
}

// ---------------------------------------------------------------- Printing

std::string QueueIndex::DebugString() const {
  if (!valid()) {
    return "QueueIndex(invalid)";
  }
  return "QueueIndex(" + std::to_string(index_) + ", slot " +
         std::to_string(Wrapped()) + ")";
}

std::string Index::DebugString() const {
  if (!valid()) {
    return "Index(invalid)";
  }
  const std::string queue_index_string = queue_index() == QueueIndex::kInvalid
                                             ? std::string("invalid")
                                             : std::to_string(queue_index());
  return "Index(queue_index " + queue_index_string + ", buffer " +
         std::to_string(message_index()) + ")";
}

void PrintLocklessQueueMemory(const LocklessQueueMemory *memory,
                              const LocklessQueueConfiguration &config,
                              std::ostream &os, bool dump_data) {
  const QueueLayout layout(config);
  const QueueMemoryView view(memory, layout);
  const uint32_t count = QueueSize32(config);
  os << "LocklessQueueMemory {\n";
  os << "  layout_version: " << memory->header.layout_version << "\n";
  os << "  config: " << config << "\n";
  os << "  total_size: " << layout.total_size << "\n";
  os << "  uid: " << memory->header.uid << "\n";
  os << "  starting_queue_index: " << memory->header.starting_queue_index
     << "\n";
  os << "  setup_lock: " << memory->setup_lock.tracker().DebugString() << "\n";
  os << "  initialized: " << memory->initialized.load() << "\n";
  os << "  next_queue_index: "
     << memory->next_queue_index.Load(count).DebugString() << "\n";
  os << "  queue[" << config.queue_size << "] {\n";
  for (size_t i = 0; i < config.queue_size; ++i) {
    os << "    [" << i << "] -> " << view.ring(i)->Load().DebugString() << "\n";
  }
  os << "  }\n  messages[" << config.num_messages() << "] {\n";
  for (size_t i = 0; i < config.num_messages(); ++i) {
    const MessageHeader *message = view.message(i);
    const uint32_t length_word = message->length.load();
    os << "    [" << i
       << "] {queue_index: " << message->queue_index.Load(count).DebugString()
       << ", length: " << (length_word & kLengthMask)
       << ", monotonic_sent_time: "
       << monotonic_clock::time_point(
              monotonic_clock::duration(message->monotonic_sent_time.load()))
       << ", remote_queue_index: ";
    if ((length_word & kRemoteQueueIndexSet) != 0) {
      os << view.remote_queue_index(i)->load();
    } else {
      os << "local";
    }
    if (!MessageRedzonesIntact(view, config.message_data_size, i)) {
      os << ", REDZONE CORRUPTED";
    }
    os << "}\n";
    if (dump_data) {
      const size_t length =
          std::min<size_t>(length_word & kLengthMask, config.message_data_size);
      const unsigned char *payload = reinterpret_cast<const unsigned char *>(
          view.payload(i, config.message_data_size) + config.message_data_size -
          length);
      os << "      data:";
      for (size_t j = 0; j < length; ++j) {
        os << " " << std::hex << std::setw(2) << std::setfill('0')
           << static_cast<int>(payload[j]) << std::dec;
      }
      os << "\n";
    }
  }
  os << "  }\n  watchers[" << config.num_watchers << "] {\n";
  for (size_t i = 0; i < config.num_watchers; ++i) {
    const WatcherSlot *watcher = view.watcher(i);
    os << "    [" << i << "] {" << watcher->owner.DebugString()
       << ", priority: " << watcher->priority.load()
       << ", policy: " << watcher->policy.load()
       << ", armed: " << watcher->armed.load() << "}\n";
  }
  os << "  }\n  senders[" << config.num_senders << "] {\n";
  for (size_t i = 0; i < config.num_senders; ++i) {
    const SenderSlot *sender = view.sender(i);
    os << "    [" << i << "] {" << sender->owner.DebugString()
       << ", scratch_index: " << sender->scratch_index.Load().DebugString()
       << ", to_replace: " << sender->to_replace.Load().DebugString() << "}\n";
  }
  os << "  }\n  pinners[" << config.num_pinners << "] {\n";
  for (size_t i = 0; i < config.num_pinners; ++i) {
    const PinnerSlot *pinner = view.pinner(i);
    os << "    [" << i << "] {" << pinner->owner.DebugString()
       << ", scratch_index: " << pinner->scratch_index.Load().DebugString()
       << ", pinned: " << pinner->pinned.Load(count).DebugString() << "}\n";
  }
  os << "  }\n}\n";
}

}  // namespace aos::ipc_lib
