#ifndef AOS_IPC_LIB_LOCKLESS_QUEUE_MEMORY_H_
#define AOS_IPC_LIB_LOCKLESS_QUEUE_MEMORY_H_

// The layout of a lockless queue's shared memory. Internal to ipc_lib (and its
// tests and tools); users go through lockless_queue.h.
//
// One contiguous region, every part aligned to kChannelDataAlignment except
// the message buffers, which start one MessageHeader (a cache line) past it
// so that each payload's end is aligned with no block spent on the end
// redzone alone (QueueLayout):
//   LocklessQueueMemory           header, setup lock, next_queue_index
//   AtomicIndex queue[queue_size] the ring: which buffer holds which index
//   messages[num_messages]        MessageHeader, redzone, payload, redzone,
//                                 remote_queue_index
//   WatcherSlot[num_watchers]
//   SenderSlot[num_senders]
//   PinnerSlot[num_pinners]
// Every message buffer is, at any time, owned by exactly one of: a ring slot,
// a sender slot (its scratch buffer) or a pinner slot (its spare buffer). The
// send path moves ownership with single CASes and records its intent in the
// sender slot (`to_replace`) first, so a death at any instruction leaves a
// state that cleanup can resolve (see lockless_queue_cleanup.cc).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "aos/ipc_lib/index.h"
#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/robust_ownership_tracker.h"

namespace aos::ipc_lib {

// "AOSLQ" + layout marker; the first 8 bytes of every queue file.
inline constexpr uint64_t kQueueMagic = 0x00'00'51'4C'53'4F'41'A5ull;

// The self-describing part of the file. Written once, under the setup lock,
// before `initialized` is set.
struct QueueFileHeader {
  uint64_t magic;
  uint32_t layout_version;
  uint32_t header_size;
  uint64_t total_size;
  uint64_t num_watchers;
  uint64_t num_senders;
  uint64_t num_pinners;
  uint64_t queue_size;
  uint64_t message_data_size;
  uint32_t starting_queue_index;
  uint32_t uid;
};

struct alignas(kChannelDataAlignment) LocklessQueueMemory {
  QueueFileHeader header;
  RobustMutex setup_lock;
  // Set last by Initialize; an initializer that dies leaves it 0.
  std::atomic<uint32_t> initialized;
  // The index the next message gets (invalid until the first send). May lag
  // behind the ring by the messages whose senders have not bumped it yet.
  alignas(64) AtomicQueueIndex next_queue_index;
};

// The header of a message buffer: one cache line, everything a reader of a
// local message needs, so reading a small message touches two lines (this and
// the payload's) and the sender hands two lines to the reader's core per
// message, not three. remote_queue_index, set only on messages forwarded from
// another node, lives in a second line after the payload's end redzone; the
// reader loads it only when `length` says it is set. Fields other than
// queue_index are written by the owning sender before publication and read
// speculatively by readers, who validate with queue_index afterwards (a
// seqlock); they are relaxed atomics so those racing reads are well defined.
struct MessageHeader {
  // The queue index this buffer holds, or invalid while it is being written
  // or was never written.
  AtomicQueueIndex queue_index;
  // Payload bytes (a channel's max_size is an int32, so 31 bits) plus
  // kRemoteQueueIndexSet.
  std::atomic<uint32_t> length;
  std::atomic<int64_t> monotonic_sent_time;
  std::atomic<int64_t> realtime_sent_time;
  std::atomic<int64_t> monotonic_remote_time;
  std::atomic<int64_t> monotonic_remote_transmit_time;
  std::atomic<int64_t> realtime_remote_time;
  std::atomic<uint64_t> source_boot_uuid[2];
};
static_assert(sizeof(MessageHeader) == 64,
              "the header must fill exactly one cache line");

// In MessageHeader::length: the remote_queue_index field holds the index the
// sender gave (else the message is local and that index is its own).
inline constexpr uint32_t kRemoteQueueIndexSet = 0x80000000u;
inline constexpr uint32_t kLengthMask = ~kRemoteQueueIndexSet;

struct alignas(64) SenderSlot {
  RobustOwnershipTracker owner;
  // The buffer this sender writes into next.
  AtomicIndex scratch_index;
  // While a buffer is changing hands (ring -> sender, or pinner -> sender):
  // the buffer this sender is taking. Invalid otherwise.
  AtomicIndex to_replace;
  // 1 if the owner made it as the channel's exclusive sender (no other
  // sender may exist while it is owned). Written by the claiming thread and
  // read only under the setup lock; meaningless while the slot is unowned,
  // so a dead owner's claim ends when cleanup frees the slot. It was padding
  // before (zero in every file: shared), so the layout version is unchanged.
  std::atomic<uint32_t> exclusive;
};
static_assert(sizeof(SenderSlot) == 64, "a sender slot is one cache line");

struct alignas(64) PinnerSlot {
  RobustOwnershipTracker owner;
  // A spare buffer, swapped in by senders that displace a pinned message.
  AtomicIndex scratch_index;
  // The queue index pinned (invalid if none).
  AtomicQueueIndex pinned;
};

struct alignas(64) WatcherSlot {
  RobustOwnershipTracker owner;
  std::atomic<int32_t> priority;
  std::atomic<uint32_t> policy;  // a WakeupPolicy
  // kCoalesce: bit 0 is set while the watcher may sleep and wants a signal;
  // bits 1..31 count its PrepareToSleep calls (the arm generation). A sender
  // clears bit 0 only after its signal was sent, and only if the generation
  // is still the one it saw, so neither a sender's death nor a stale clear
  // can disarm a later arm (see LocklessQueueWatcher).
  std::atomic<uint32_t> armed;
};

// Typed access to the parts of a region. It does not check constness: built
// on the read-only mapping, callers must only read.
class QueueMemoryView {
 public:
  QueueMemoryView(const LocklessQueueMemory *memory, const QueueLayout &layout)
      : base_(reinterpret_cast<char *>(
            const_cast<LocklessQueueMemory *>(memory))),
        layout_(&layout) {}

  LocklessQueueMemory *memory() const {
    return reinterpret_cast<LocklessQueueMemory *>(base_);
  }
  AtomicIndex *ring(size_t slot) const {
    return reinterpret_cast<AtomicIndex *>(base_ + layout_->queue_offset) +
           slot;
  }
  char *buffer(size_t message_index) const {
    return base_ + layout_->messages_offset +
           message_index * layout_->message_size;
  }
  MessageHeader *message(size_t message_index) const {
    return reinterpret_cast<MessageHeader *>(buffer(message_index));
  }
  // The remote queue index of a message (valid if its length word has
  // kRemoteQueueIndexSet).
  std::atomic<uint32_t> *remote_queue_index(size_t message_index) const {
    return reinterpret_cast<std::atomic<uint32_t> *>(
        buffer(message_index) + layout_->remote_queue_index_offset);
  }
  // Start of the payload area (message_data_size bytes, end aligned).
  char *payload(size_t message_index, size_t message_data_size) const {
    return buffer(message_index) + layout_->payload_end - message_data_size;
  }
  WatcherSlot *watcher(size_t i) const {
    return reinterpret_cast<WatcherSlot *>(base_ + layout_->watchers_offset) +
           i;
  }
  SenderSlot *sender(size_t i) const {
    return reinterpret_cast<SenderSlot *>(base_ + layout_->senders_offset) + i;
  }
  PinnerSlot *pinner(size_t i) const {
    return reinterpret_cast<PinnerSlot *>(base_ + layout_->pinners_offset) + i;
  }
  // Offset of `pointer` from the start of the region (redzone patterns are
  // derived from it, so they match in every mapping).
  size_t OffsetOf(const void *pointer) const {
    return static_cast<size_t>(static_cast<const char *>(pointer) - base_);
  }

 private:
  char *base_;
  const QueueLayout *layout_;
};

// Queue index arithmetic of the hot paths, with the constants precomputed in
// QueueLayout instead of the divisions QueueIndex does (three or four 32-bit
// divisions per send otherwise, ~10 cycles each). `count` is the queue size.
class RingIndexing {
 public:
  RingIndexing(const QueueLayout &layout, uint32_t count)
      : multiplier_(layout.queue_size_multiplier),
        max_index_(layout.max_queue_index),
        count_(count) {}

  // index % count.
  uint32_t Slot(uint32_t index) const {
    const uint64_t low_bits = multiplier_ * index;
    return static_cast<uint32_t>(
        (static_cast<unsigned __int128>(low_bits) * count_) >> 64);
  }
  QueueIndex Increment(QueueIndex index) const {
    const uint32_t next = index.index() + 1;
    return QueueIndex::FromRaw(next == max_index_ ? 0 : next, count_);
  }
  // index + amount (amount < MaxIndex), without QueueIndex's division.
  QueueIndex Advance(QueueIndex index, uint32_t amount) const {
    const uint64_t sum = uint64_t{index.index()} + amount;
    return QueueIndex::FromRaw(
        static_cast<uint32_t>(sum >= max_index_ ? sum - max_index_ : sum),
        count_);
  }
  QueueIndex Decrement(QueueIndex index) const {
    const uint32_t raw = index.index();
    return QueueIndex::FromRaw(raw == 0 ? max_index_ - 1 : raw - 1, count_);
  }
  // The index that used the same ring slot one lap earlier.
  QueueIndex LapBefore(QueueIndex index) const {
    const uint32_t raw = index.index();
    return QueueIndex::FromRaw(
        raw >= count_ ? raw - count_ : raw + max_index_ - count_, count_);
  }
  uint32_t count() const { return count_; }

 private:
  uint64_t multiplier_;
  uint32_t max_index_;
  uint32_t count_;
};

// Helpers shared by the files of the queue's implementation.

// Ends the process with one message naming the queue file that `memory` (any
// address inside the queue's mapping) belongs to, its channel and type, what
// was found inconsistent (printf `format`), and the `aos_shm rm` command that
// removes the file. Called when a value read from shared memory is one the
// queue's own code never writes (an index out of range, a ring moving
// backwards): every index read from shared memory is checked against its
// range before use, so damage ends here instead of in a SIGSEGV, a hang or a
// misleading error. Cold and out of line: the checks on the send and read
// paths are a compare and a branch that is never taken.
[[noreturn, gnu::cold, gnu::noinline, gnu::format(printf, 2, 3)]] void
QueueCorrupted(const void *memory, const char *format, ...);

// A memory fence. ThreadSanitizer does not model fences (GCC warns about them
// under -fsanitize=thread); the data they order is accessed through atomics or
// inside AOS_IGNORE_READS, so it needs no model of them, and the fence still
// runs.
inline void Fence(std::memory_order order) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wtsan"
  __atomic_thread_fence(static_cast<int>(order));
#pragma GCC diagnostic pop
}

inline uint32_t QueueSize32(const LocklessQueueConfiguration &config) {
  return static_cast<uint32_t>(config.queue_size);
}

// The ring slot `slot_number` holds `held`, where a sender (or LatestIndex)
// that loaded `recorded_next` (the raw next_queue_index, maybe invalid) and
// derived `next` from it expected `next` or the lap before it. Returns if a
// consistent queue can look like that (another sender published `next` and
// has not bumped the counter yet, or the counter moved on since it was
// loaded); ends the process (QueueCorrupted) otherwise. Each of the callers'
// retries is then paid for by another sender's progress, so their loops end.
[[gnu::cold, gnu::noinline]] void CheckUnexpectedRingSlot(
    const LocklessQueueMemory *memory, const QueueLayout &layout,
    const RingIndexing &ring, uint32_t slot_number, Index held, QueueIndex next,
    uint32_t recorded_next);

// The ring slot of `queue_index` holds `held`, whose buffer index is out of
// range: ends the process. Out of line with few arguments, so the send and
// read paths keep nothing alive for it.
[[noreturn, gnu::cold, gnu::noinline]] void RingSlotNamesNoBuffer(
    const LocklessQueue &queue, uint32_t queue_index, Index held);

// Ends the process if `recorded` (a raw next_queue_index) is neither invalid
// nor a queue index of this ring.
inline void CheckNextQueueIndex(const LocklessQueueMemory *memory,
                                const QueueLayout &layout, uint32_t recorded) {
  if (recorded >= layout.max_queue_index && recorded != QueueIndex::kInvalid)
      [[unlikely]] {
    QueueCorrupted(memory,
                   "next_queue_index is %u, out of range (the queue indices "
                   "of this ring end at %u)",
                   recorded, layout.max_queue_index);
  }
}

// The first queue index of the queue (0 unless a test chose otherwise).
inline QueueIndex StartingIndex(const LocklessQueueMemory *memory,
                                uint32_t count) {
  const uint32_t start = memory->header.starting_queue_index;
  if (start >= QueueIndex::MaxIndex(count)) [[unlikely]] {
    QueueCorrupted(memory,
                   "the header's starting queue index %u is out of range for "
                   "a ring of %u slots",
                   start, count);
  }
  return QueueIndex::FromRaw(start, count);
}

// Redzone bytes follow a pattern derived from their offset in the region, so
// a stray write of a constant (memset 0, 0xff) is caught and every redzone
// differs: byte i is (start + i) mod 256, start being the XOR of the low two
// bytes of the offset.
inline uint8_t RedzoneStart(const QueueMemoryView &view, const char *redzone) {
  const size_t offset = view.OffsetOf(redzone);
  return static_cast<uint8_t>((offset & 0xff) ^ ((offset >> 8) & 0xff));
}

inline void FillRedzone(const QueueMemoryView &view, char *redzone) {
  uint8_t value = RedzoneStart(view, redzone);
  for (size_t i = 0; i < kChannelDataRedzone; ++i) {
    redzone[i] = static_cast<char>(value++);
  }
}

// Checked on every send, so 16 bytes at a time (SSE2) rather than byte by
// byte: a redzone is the ramp 0, 1, ..., 31 plus its start byte, with
// byte-wise wrap-around, which is exactly what vector adds of uint8 lanes do.
// Returns the bits that differ from the pattern in `redzone`, folded into 16
// bytes (all zero if intact).
using RedzoneBytes = uint8_t __attribute__((vector_size(16)));
static_assert(kChannelDataRedzone == 2 * sizeof(RedzoneBytes));

inline RedzoneBytes RedzoneDifference(const QueueMemoryView &view,
                                      const char *redzone) {
  constexpr RedzoneBytes kRamp = {0, 1, 2,  3,  4,  5,  6,  7,
                                  8, 9, 10, 11, 12, 13, 14, 15};
  const uint8_t start = RedzoneStart(view, redzone);
  RedzoneBytes low, high;
  memcpy(&low, redzone, sizeof(low));
  memcpy(&high, redzone + sizeof(low), sizeof(high));
  return (low ^ (kRamp + start)) |
         (high ^ (kRamp + static_cast<uint8_t>(start + sizeof(low))));
}

inline bool MessageRedzonesIntact(const QueueMemoryView &view,
                                  size_t message_data_size,
                                  size_t message_index) {
  const char *payload = view.payload(message_index, message_data_size);
  const RedzoneBytes difference =
      RedzoneDifference(view, payload - kChannelDataRedzone) |
      RedzoneDifference(view, payload + message_data_size);
  uint64_t words[2];
  memcpy(words, &difference, sizeof(words));
  return (words[0] | words[1]) == 0;
}

// If the buffer `sender` holds as scratch is pinned, trades it for the spare
// buffer of the pinner that pinned it, until the scratch buffer is pinned by
// nobody (lockless_queue_cleanup.cc).
void SwapPinnedScratch(const QueueMemoryView &view,
                       const LocklessQueueConfiguration &config,
                       SenderSlot *sender);

// Repairs the slots of dead senders and pinners. Must hold the setup lock
// (lockless_queue_cleanup.cc).
void Cleanup(const QueueMemoryView &view,
             const LocklessQueueConfiguration &config);

// Checks that `memory`, which claims to be initialized, describes
// `config` and this layout version. The error names the first differing
// field.
Result<void> CheckQueueHeader(const QueueFileHeader &header,
                              const LocklessQueueConfiguration &config);

// For tests and tools, on a quiescent queue (no send in progress): checks
// that every message buffer is owned exactly once (ring, sender slots, pinner
// slots), that no sender is mid-transfer, and that the ring's indices are
// consistent with the messages. Returns a description of the first problem.
Result<void> CheckQueueConsistency(const LocklessQueue &queue);

}  // namespace aos::ipc_lib

#endif  // AOS_IPC_LIB_LOCKLESS_QUEUE_MEMORY_H_
