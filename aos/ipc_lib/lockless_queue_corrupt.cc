// The one fatal message of a damaged queue (QueueCorrupted), and the checks
// shared by the sender and the reader that lead to it.

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>

#include "aos/ipc_lib/lockless_queue_memory.h"
#include "aos/ipc_lib/memory_mapped_queue.h"
#include "glog/logging.h"

namespace aos::ipc_lib {
namespace {

// The file mapped at `address` in this process, from /proc/self/maps, or ""
// for anonymous memory (a queue in ordinary memory, in tests). Reading /proc
// here costs nothing that matters: the process is about to end.
std::string MappedFile(const void *address) {
  FILE *maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr) {
    return "";
  }
  const uintptr_t wanted = reinterpret_cast<uintptr_t>(address);
  std::string file;
  char line[4352];
  while (fgets(line, sizeof(line), maps) != nullptr) {
    unsigned long start = 0, end = 0;
    int name_offset = 0;
    if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &name_offset) <
            2 ||
        wanted < start || wanted >= end) {
      continue;
    }
    if (name_offset > 0 && line[name_offset] == '/') {
      file = line + name_offset;
      while (!file.empty() && file.back() == '\n') {
        file.pop_back();
      }
    }
    break;
  }
  fclose(maps);
  return file;
}

// How far back a queue index may lie and still count as "behind" rather than
// "ahead" (the indices wrap at max_queue_index).
inline uint32_t HalfRange(const QueueLayout &layout) {
  return layout.max_queue_index / 2;
}

}  // namespace

void QueueCorrupted(const void *memory, const char *format, ...) {
  char what[512];
  va_list args;
  va_start(args, format);
  vsnprintf(what, sizeof(what), format, args);
  va_end(args);

  std::ostringstream message;
  const std::string file = MappedFile(memory);
  if (file.empty()) {
    message << "corrupt queue (in memory at " << memory
            << ", not backed by a file): " << what;
  } else {
    message << "corrupt queue file " << file;
    if (const std::optional<QueuePathParts> parts = ParseQueuePath(file)) {
      message << " of channel " << parts->channel << " (type " << parts->type
              << ")";
    }
    message << ": " << what
            << ". The queue's own code never writes that, so something else "
               "wrote into the file (a stray write through a mapping, a tool, "
               "damaged storage) and none of it can be trusted. Stop every "
               "process that uses the channel, then remove the file: `"
            << QueueRemovalCommand(file) << "`.";
  }
  LOG(FATAL) << message.str();
  abort();
}

// Declared (with its contract) in lockless_queue_memory.h.
void CheckUnexpectedRingSlot(const LocklessQueueMemory *memory,
                             const QueueLayout &layout,
                             const RingIndexing &ring, uint32_t slot_number,
                             Index held, QueueIndex next,
                             uint32_t recorded_next) {
  const uint32_t held_index = held.queue_index();
  if (held.message_index() >= layout.num_messages) {
    QueueCorrupted(memory,
                   "ring slot %u names message buffer %u, but the queue has "
                   "%u buffers",
                   slot_number, held.message_index(), layout.num_messages);
  }
  if (held_index >= layout.max_queue_index) {
    QueueCorrupted(memory,
                   "ring slot %u holds queue index %u, out of range for a "
                   "ring of %u slots",
                   slot_number, held_index, ring.count());
  }
  if (ring.Slot(held_index) != slot_number) {
    QueueCorrupted(memory,
                   "ring slot %u holds queue index %u, which belongs in ring "
                   "slot %u",
                   slot_number, held_index, ring.Slot(held_index));
  }
  const QueueIndex held_queue_index =
      QueueIndex::FromRaw(held_index, ring.count());
  if (held_queue_index == next) {
    return;
  }
  const uint32_t behind = ring.LapBefore(next).DistanceFrom(held_queue_index);
  if (behind != 0 && behind < HalfRange(layout)) {
    QueueCorrupted(memory,
                   "next_queue_index is %u, but ring slot %u holds queue index "
                   "%u, more than a lap before it (the ring never moves "
                   "backwards)",
                   next.index(), slot_number, held_index);
  }
  // Ahead of `next`: only possible if the counter moved on since it was
  // loaded (a sender publishes an index only after loading it from the
  // counter, and the counter never moves backwards).
  if (memory->next_queue_index.RawLoad() == recorded_next) {
    QueueCorrupted(memory,
                   "ring slot %u holds queue index %u, ahead of "
                   "next_queue_index %u: nobody can have sent it yet",
                   slot_number, held_index, next.index());
  }
}

void RingSlotNamesNoBuffer(const LocklessQueue &queue, uint32_t queue_index,
                           Index held) {
  QueueCorrupted(queue.const_memory(),
                 "ring slot %u names message buffer %u, but the queue has %u "
                 "buffers",
                 RingIndexing(queue.layout(), QueueSize32(queue.config()))
                     .Slot(queue_index),
                 held.message_index(), queue.layout().num_messages);
}

}  // namespace aos::ipc_lib
