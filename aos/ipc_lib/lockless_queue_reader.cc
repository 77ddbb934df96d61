// The reader (copying reads) and the pinner (zero-copy reads) of the lockless
// queue.

#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>
#include <utility>

#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/lockless_queue_memory.h"
#include "glog/logging.h"

#if defined(__SANITIZE_THREAD__)
extern "C" void AnnotateIgnoreReadsBegin(const char *file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char *file, int line);
#define AOS_IGNORE_READS_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define AOS_IGNORE_READS_END() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define AOS_IGNORE_READS_BEGIN()
#define AOS_IGNORE_READS_END()
#endif

namespace aos::ipc_lib {

// ---------------------------------------------------------------- Pinner

std::optional<LocklessQueuePinner> LocklessQueuePinner::Make(
    LocklessQueue queue) {
  ThreadIdentity::Current();
  LocklessQueueMemory *memory = queue.memory();
  CHECK(memory->initialized.load(std::memory_order_acquire))
      << ": Initialize the queue before making pinners";
  const QueueMemoryView view(memory, queue.layout());
  RobustMutexLock lock(&memory->setup_lock);
  Cleanup(view, queue.config());
  for (size_t i = 0; i < queue.config().num_pinners; ++i) {
    PinnerSlot *pinner = view.pinner(i);
    if (pinner->owner.state() != RobustOwnershipTracker::State::kUnowned) {
      continue;
    }
    pinner->pinned.Invalidate();
    pinner->owner.Acquire();
    return LocklessQueuePinner(queue, static_cast<int>(i));
  }
  return std::nullopt;
}

LocklessQueuePinner::LocklessQueuePinner(LocklessQueue queue, int pinner_index)
    : queue_(queue), pinner_index_(pinner_index) {}

LocklessQueuePinner::LocklessQueuePinner(LocklessQueuePinner &&other)
    : queue_(other.queue_),
      pinner_index_(std::exchange(other.pinner_index_, -1)),
      pinned_buffer_(other.pinned_buffer_) {}

LocklessQueuePinner::~LocklessQueuePinner() {
  if (pinner_index_ == -1) {
    return;
  }
  LocklessQueueMemory *memory = queue_.memory();
  RobustMutexLock lock(&memory->setup_lock);
  PinnerSlot *pinner =
      QueueMemoryView(memory, queue_.layout()).pinner(pinner_index_);
  pinner->pinned.Invalidate();
  pinner->owner.Release();
}

int LocklessQueuePinner::PinIndex(uint32_t uint32_queue_index) {
  const uint32_t count = QueueSize32(queue_.config());
  const QueueIndex queue_index = QueueIndex::FromRaw(uint32_queue_index, count);
  const QueueMemoryView view(queue_.memory(), queue_.layout());
  PinnerSlot *pinner = view.pinner(pinner_index_);
  AtomicIndex *slot =
      view.ring(RingIndexing(queue_.layout(), count).Slot(uint32_queue_index));
  const Index held = slot->Load();
  if (held.Holds(queue_index)) {
    if (held.message_index() >= queue_.layout().num_messages) [[unlikely]] {
      QueueCorrupted(queue_.memory(),
                     "ring slot %u names message buffer %u, but the queue has "
                     "%u buffers",
                     queue_index.Wrapped(), held.message_index(),
                     queue_.layout().num_messages);
    }
    // Publish the pin, then check the ring still holds the buffer. Both are
    // seq_cst, as are the sender's ring CAS and its read of our pin: either
    // the sender sees our pin and trades the buffer to us instead of writing
    // into it, or we see that it left the ring.
    pinner->pinned.Store(queue_index, std::memory_order_seq_cst);
    if (slot->Load(std::memory_order_seq_cst) == held) {
      pinned_buffer_ = static_cast<int>(held.message_index());
      return pinned_buffer_;
    }
  }
  pinner->pinned.Invalidate();
  pinned_buffer_ = -1;
  return -1;
}

const void *LocklessQueuePinner::Data() const {
  CHECK_GE(pinned_buffer_, 0) << ": Data() needs a successful PinIndex()";
  return QueueMemoryView(queue_.const_memory(), queue_.layout())
      .payload(pinned_buffer_, queue_.config().message_data_size);
}

size_t LocklessQueuePinner::size() const {
  return queue_.config().message_data_size;
}

// ---------------------------------------------------------------- Reader

namespace {

// Read found the header of `message` no longer saying `queue_index` after the
// ring said the message was there. OVERWROTE (a sender took the buffer),
// unless the slot still holds `queue_index` with a buffer whose header was
// never written: the placeholder a slot starts with, i.e. an index from the
// lap before the first message, which is TOO_OLD. Out of line so the GOOD
// path keeps nothing alive for it.
[[gnu::cold, gnu::noinline]] LocklessQueueReader::Result ClassifyLostRead(
    const LocklessQueue &queue, uint32_t queue_index,
    const MessageHeader *message) {
  const uint32_t count = QueueSize32(queue.config());
  const QueueMemoryView view(queue.const_memory(), queue.layout());
  const Index held =
      view.ring(RingIndexing(queue.layout(), count).Slot(queue_index))->Load();
  if (!message->queue_index.Load(count, std::memory_order_relaxed).valid() &&
      held.queue_index() == queue_index &&
      held.message_index() < queue.layout().num_messages &&
      view.message(held.message_index()) == message) {
    return LocklessQueueReader::Result::TOO_OLD;
  }
  return LocklessQueueReader::Result::OVERWROTE;
}

// Ends the process unless `held`, found in the ring slot of `queue_index`,
// holds a queue index of that slot. Off the GOOD path (Read calls it only
// when the slot does not hold the index asked for), and out of line.
[[gnu::cold, gnu::noinline]] void CheckSlotIndex(const LocklessQueue &queue,
                                                 uint32_t queue_index,
                                                 Index held) {
  const RingIndexing ring(queue.layout(), QueueSize32(queue.config()));
  const uint32_t slot_number = ring.Slot(queue_index);
  if (held.queue_index() >= queue.layout().max_queue_index ||
      ring.Slot(held.queue_index()) != slot_number) {
    QueueCorrupted(queue.const_memory(),
                   "ring slot %u holds queue index %u, which is not an index "
                   "of that slot in a ring of %u",
                   slot_number, held.queue_index(), ring.count());
  }
}

// What every read of one queue computes from its configuration first.
struct ReadSetup {
  explicit ReadSetup(const LocklessQueue &queue)
      : queue(queue),
        config(queue.config()),
        layout(queue.layout()),
        count(QueueSize32(config)),
        view(queue.const_memory(), layout),
        ring(layout, count) {}

  // Ends the process unless `held` names a message buffer of the queue.
  void CheckBuffer(uint32_t queue_index, Index held) const {
    if (held.message_index() >= layout.num_messages) [[unlikely]] {
      RingSlotNamesNoBuffer(queue, queue_index, held);
    }
  }

  const LocklessQueue &queue;
  const LocklessQueueConfiguration &config;
  const QueueLayout &layout;
  const uint32_t count;
  const QueueMemoryView view;
  const RingIndexing ring;
};

// The part of Read after the ring slot of `uint32_queue_index` was found
// holding it (`held`, loaded with acquire, its buffer already checked with
// CheckBuffer): reads the message's header speculatively, filters, copies,
// and validates afterwards (seqlock reader). Inlined into Read and ReadRun,
// so both validate every message the same way.
[[gnu::always_inline]] inline LocklessQueueReader::Result ReadHeld(
    const ReadSetup &setup, uint32_t uint32_queue_index, Index held,
    MessageInfo *info, char *copy_destination, ReadFilter filter) {
  using Result = LocklessQueueReader::Result;
  const uint32_t count = setup.count;
  const QueueIndex queue_index = QueueIndex::FromRaw(uint32_queue_index, count);
  const MessageHeader *message = setup.view.message(held.message_index());

  // The ring held our message (acquire): its header as published is visible.
  constexpr auto kRelaxed = std::memory_order_relaxed;
  MessageInfo local;
  local.queue_index = uint32_queue_index;
  local.monotonic_sent_time = monotonic_clock::time_point(
      monotonic_clock::duration(message->monotonic_sent_time.load(kRelaxed)));
  local.realtime_sent_time = realtime_clock::time_point(
      realtime_clock::duration(message->realtime_sent_time.load(kRelaxed)));
  local.monotonic_remote_time = monotonic_clock::time_point(
      monotonic_clock::duration(message->monotonic_remote_time.load(kRelaxed)));
  local.monotonic_remote_transmit_time =
      monotonic_clock::time_point(monotonic_clock::duration(
          message->monotonic_remote_transmit_time.load(kRelaxed)));
  local.realtime_remote_time = realtime_clock::time_point(
      realtime_clock::duration(message->realtime_remote_time.load(kRelaxed)));
  const uint32_t length_word = message->length.load(kRelaxed);
  local.length = length_word & kLengthMask;
  local.remote_queue_index =
      (length_word & kRemoteQueueIndexSet) != 0
          ? setup.view.remote_queue_index(held.message_index())->load(kRelaxed)
          : uint32_queue_index;
  const uint64_t uuid[2] = {message->source_boot_uuid[0].load(kRelaxed),
                            message->source_boot_uuid[1].load(kRelaxed)};
  // Not UUID::FromSpan: an out-of-line call and a size CHECK per read for 16
  // bytes whose size is known here.
  static_assert(sizeof(UUID) == sizeof(uuid) &&
                std::is_trivially_copyable_v<UUID>);
  local.source_boot_uuid = std::bit_cast<UUID>(uuid);

  auto still_ours = [&]() {
    Fence(std::memory_order_acquire);
    return message->queue_index.Load(count, kRelaxed) == queue_index;
  };
  // The header no longer says `queue_index`: normally a sender took the
  // buffer (OVERWROTE). But a ring slot starts out holding the index one lap
  // before its first message with a never-written buffer (so that a reader
  // of the first lap gets NOTHING_NEW from the slot alone); asking for such
  // an index, i.e. from before the first message, lands here too, and gets
  // TOO_OLD, as upstream answers for it. Off the GOOD path.
  auto not_ours = [&]() {
    return ClassifyLostRead(setup.queue, uint32_queue_index, message);
  };
  if (filter) {
    if (!still_ours()) [[unlikely]] {
      return not_ours();
    }
    if (!filter(local)) {
      *info = local;
      return Result::FILTERED;
    }
  }
  const size_t data_size = setup.config.message_data_size;
  if (copy_destination != nullptr) {
    const size_t length = std::min(local.length, data_size);
    const size_t offset = data_size - length;
    AOS_IGNORE_READS_BEGIN();
    memcpy(copy_destination + offset,
           setup.view.payload(held.message_index(), data_size) + offset,
           length);
    AOS_IGNORE_READS_END();
  }
  if (!still_ours()) [[unlikely]] {
    return not_ours();
  }
  if (local.length > data_size) [[unlikely]] {
    QueueCorrupted(setup.queue.const_memory(),
                   "message %u (buffer %u) claims %zu payload bytes, but the "
                   "channel's messages hold at most %zu",
                   uint32_queue_index, held.message_index(), local.length,
                   data_size);
  }
  *info = local;
  return Result::GOOD;
}

// Starts loading the header line and the payload's last line (where a short
// payload is, and the end of a long one) of the buffer ring slot
// `slot_number` names now. Only a hint: one relaxed load of the slot, and an
// invalid or damaged slot prefetches nothing (a hint must not compute an
// address outside the queue; the reads report the damage).
inline void PrefetchSlot(const ReadSetup &setup, uint32_t slot_number) {
  const Index held =
      setup.view.ring(slot_number)->Load(std::memory_order_relaxed);
  if (held.message_index() >= setup.layout.num_messages) return;
  const char *buffer = setup.view.buffer(held.message_index());
  __builtin_prefetch(buffer);
  __builtin_prefetch(buffer + setup.layout.payload_end - 1);
}

// How many indices ahead of the message it reads ReadRun prefetches: enough
// for the loads to arrive while the messages before are read and visited.
constexpr uint32_t kRunPrefetchAhead = 8;

}  // namespace

LocklessQueueReader::LocklessQueueReader(LocklessQueue queue) : queue_(queue) {}

LocklessQueueReader::Result LocklessQueueReader::Read(
    uint32_t uint32_queue_index, MessageInfo *info, char *copy_destination,
    ReadFilter filter) const {
  const ReadSetup setup(queue_);
  const uint32_t count = setup.count;
  const QueueIndex queue_index = QueueIndex::FromRaw(uint32_queue_index, count);
  const AtomicIndex *slot =
      setup.view.ring(setup.ring.Slot(uint32_queue_index));

  Index held = slot->Load();
  if (held.Holds(setup.ring.LapBefore(queue_index))) {
    // Not sent yet (in the first lap the slot holds that index as a
    // placeholder, so the answer is the same). Deciding this from the slot
    // alone keeps a reader polling for the next message off the header of
    // the buffer the sender is about to take back and write.
    return Result::NOTHING_NEW;
  }
  setup.CheckBuffer(uint32_queue_index, held);
  const MessageHeader *message = setup.view.message(held.message_index());
  while (!held.Holds(queue_index)) {
    const QueueIndex message_index = message->queue_index.Load(count);
    const Index again = slot->Load();
    if (again != held) {
      held = again;
      setup.CheckBuffer(uint32_queue_index, held);
      message = setup.view.message(held.message_index());
      continue;
    }
    CheckSlotIndex(queue_, uint32_queue_index, held);
    if (!message_index.valid()) {
      // Never written since initialization: the index is either in the first
      // lap (not sent yet) or from before the queue began.
      return queue_index.DistanceFrom(
                 StartingIndex(queue_.const_memory(), count)) < count
                 ? Result::NOTHING_NEW
                 : Result::TOO_OLD;
    }
    const QueueIndex slot_index =
        QueueIndex::FromRaw(held.queue_index(), count);
    // The slot holds a later lap than asked for: overwritten. An earlier lap:
    // not written yet.
    return slot_index.DistanceFrom(queue_index) <
                   QueueIndex::MaxIndex(count) / 2
               ? Result::TOO_OLD
               : Result::NOTHING_NEW;
  }
  return ReadHeld(setup, uint32_queue_index, held, info, copy_destination,
                  filter);
}

LocklessQueueReader::RunResult LocklessQueueReader::ReadRun(
    uint32_t queue_index, char *copy_destination, ReadFilter filter,
    ReadFilter visit) const {
  const ReadSetup setup(queue_);
  const uint32_t count = setup.count;
  const uint32_t max_index = setup.layout.max_queue_index;
  RunResult run;
  run.next_queue_index = queue_index;
  uint32_t slot_number = setup.ring.Slot(queue_index);
  uint32_t prefetch_slot = 0;
  while (true) {
    const uint32_t index = run.next_queue_index;
    const Index held = setup.view.ring(slot_number)->Load();
    MessageInfo info;
    // The common case, the slot holding the index asked for, reads on here;
    // every other answer (not sent yet, lapped, a slot changing under us)
    // is Read's to give.
    Result result;
    if (held.queue_index() == index) {
      setup.CheckBuffer(index, held);
      result = ReadHeld(setup, index, held, &info, copy_destination, filter);
    } else {
      result = Read(index, &info, copy_destination, filter);
    }
    if (result != Result::GOOD) {
      run.stop = result;
      return run;
    }
    // Only once a message came: a poll of an empty queue prefetches nothing.
    if (run.visited == 0) {
      prefetch_slot = slot_number;
      for (uint32_t ahead = 0; ahead < kRunPrefetchAhead; ++ahead) {
        prefetch_slot = prefetch_slot + 1 == count ? 0 : prefetch_slot + 1;
        PrefetchSlot(setup, prefetch_slot);
      }
    } else {
      prefetch_slot = prefetch_slot + 1 == count ? 0 : prefetch_slot + 1;
      PrefetchSlot(setup, prefetch_slot);
    }
    ++run.visited;
    run.next_queue_index = index + 1 == max_index ? 0 : index + 1;
    slot_number = slot_number + 1 == count ? 0 : slot_number + 1;
    if (!visit(info)) return run;
  }
}

LocklessQueueReader::Result LocklessQueueReader::Read(
    uint32_t queue_index, monotonic_clock::time_point *monotonic_sent_time,
    realtime_clock::time_point *realtime_sent_time,
    monotonic_clock::time_point *monotonic_remote_time,
    monotonic_clock::time_point *monotonic_remote_transmit_time,
    realtime_clock::time_point *realtime_remote_time,
    uint32_t *remote_queue_index, UUID *source_boot_uuid, size_t *length,
    char *copy_destination, ReadFilter filter) const {
  MessageInfo info;
  const Result result = Read(queue_index, &info, copy_destination, filter);
  if (result == Result::GOOD) {
    *monotonic_sent_time = info.monotonic_sent_time;
    *realtime_sent_time = info.realtime_sent_time;
    *monotonic_remote_time = info.monotonic_remote_time;
    *monotonic_remote_transmit_time = info.monotonic_remote_transmit_time;
    *realtime_remote_time = info.realtime_remote_time;
    *remote_queue_index = info.remote_queue_index;
    *source_boot_uuid = info.source_boot_uuid;
    *length = info.length;
  }
  return result;
}

QueueIndex LocklessQueueReader::LatestIndex() const {
  const uint32_t count = QueueSize32(queue_.config());
  const LocklessQueueMemory *memory = queue_.const_memory();
  const QueueMemoryView view(memory, queue_.layout());
  const QueueLayout &layout = queue_.layout();
  const uint32_t recorded_raw = memory->next_queue_index.RawLoad();
  CheckNextQueueIndex(memory, layout, recorded_raw);
  const QueueIndex recorded = recorded_raw == QueueIndex::kInvalid
                                  ? QueueIndex::Invalid()
                                  : QueueIndex::FromRaw(recorded_raw, count);
  QueueIndex next = recorded.valid() ? recorded : StartingIndex(memory, count);
  // Step over messages whose senders have not bumped next_queue_index yet
  // (at most one per sender). Read-only: the next sender repairs the counter.
  const RingIndexing ring(layout, count);
  bool stepped = false;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t slot_number = ring.Slot(next.index());
    const Index held = view.ring(slot_number)->Load();
    if (!held.Holds(next)) {
      // The first slot looked at holds the lap before the counter, unless the
      // queue is damaged (a garbage counter would otherwise send readers to
      // indices nobody sent, and they would report falling behind).
      if (i == 0 && !held.Holds(ring.LapBefore(next))) [[unlikely]] {
        CheckUnexpectedRingSlot(memory, layout, ring, slot_number, held, next,
                                recorded_raw);
      }
      break;
    }
    next = ring.Increment(next);
    stepped = true;
  }
  if (!recorded.valid() && !stepped) {
    return QueueIndex::Invalid();
  }
  return ring.Decrement(next);
}

const void *LocklessQueueReader::BufferData(int buffer_index) const {
  CHECK_GE(buffer_index, 0);
  CHECK_LT(static_cast<size_t>(buffer_index), queue_.config().num_messages());
  return QueueMemoryView(queue_.const_memory(), queue_.layout())
      .payload(buffer_index, queue_.config().message_data_size);
}

std::ostream &operator<<(std::ostream &os, LocklessQueueReader::Result result) {
  switch (result) {
    case LocklessQueueReader::Result::TOO_OLD:
      return os << "TOO_OLD";
    case LocklessQueueReader::Result::GOOD:
      return os << "GOOD";
    case LocklessQueueReader::Result::NOTHING_NEW:
      return os << "NOTHING_NEW";
    case LocklessQueueReader::Result::FILTERED:
      return os << "FILTERED";
    case LocklessQueueReader::Result::OVERWROTE:
      return os << "OVERWROTE";
  }
  return os << "Result(" << static_cast<int>(result) << ")";
}

}  // namespace aos::ipc_lib
