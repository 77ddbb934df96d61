// The queue's layout and initialization, and the sender.

#include "aos/ipc_lib/lockless_queue.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>
#include <utility>

#include "aos/ipc_lib/lockless_queue_memory.h"
#include "aos/time/realtime_at.h"
#include "glog/logging.h"

namespace aos::ipc_lib {

uint32_t QueueUid() {
  // As upstream: a setuid program acts as its real user unless it fully
  // switched.
  uid_t ruid, euid, suid;
  PCHECK(getresuid(&ruid, &euid, &suid) == 0);
  return euid == suid ? euid : ruid;
}

namespace {

constexpr size_t RoundUp(size_t value, size_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

constexpr uint32_t kMaxQueueSize = 1u << 30;

// Starts fetching the lines the next Send touches in scratch buffer
// `message_index`: the header line and the end of the payload (written; a
// reader on another core has them in its cache since it read them one lap ago)
// and the redzones (read). Without this, each of those misses costs a full
// cross-core round trip inside the next Send, one after the other (the
// publish CAS waits for every earlier store, the clock reads for every
// earlier load); fetched here, they overlap with each other and with
// whatever the caller does until then.
void PrefetchScratch(const QueueMemoryView &view, size_t message_data_size,
                     uint32_t message_index) {
  const char *header = view.buffer(message_index);
  const char *payload = view.payload(message_index, message_data_size);
  const char *payload_end = payload + message_data_size;
#if defined(__x86_64__)
  // PREFETCHW (a NOP on x86-64 CPUs without it): fetch for writing, so the
  // stores need no second trip to invalidate the reader's copy. GCC only
  // emits it for __builtin_prefetch(p, 1) with -mprfchw.
  auto prefetch_for_write = [](const char *line) {
    asm volatile("prefetchw %0" : : "m"(*line));
  };
#else
  auto prefetch_for_write = [](const char *line) {
    __builtin_prefetch(line, 1);
  };
#endif
  static_assert(sizeof(MessageHeader) == 64);
  prefetch_for_write(header);
  if (message_data_size > 0) {
    prefetch_for_write(payload_end - 1);
  }
  __builtin_prefetch(payload - kChannelDataRedzone);
  __builtin_prefetch(payload_end + kChannelDataRedzone - 1);
}

// How many sends ahead the sender starts taking the lines of the buffer it
// will displace (PrefetchAhead).
constexpr uint32_t kPrefetchAhead = 16;

// Starts taking, for writing, the header line and the payload's last line of
// the buffer that ring slot `index` holds: the buffer the send of `index`
// (kPrefetchAhead sends from now, if nobody else sends) will displace and
// then write as its scratch buffer. PrefetchScratch alone is one send ahead,
// too late for a sender that sends back to back: a line a reader on another
// core has read costs a cross-core round trip, longer than one send. A hint:
// if another sender takes that slot first, only the prefetch is wasted.
void PrefetchAhead(const QueueMemoryView &view, const QueueLayout &layout,
                   const RingIndexing &ring, size_t message_data_size,
                   QueueIndex index) {
  const Index held =
      view.ring(ring.Slot(index.index()))->Load(std::memory_order_relaxed);
  // Also skips an invalid or damaged slot: a hint must not compute an address
  // outside the queue (the sender's own checks report the damage).
  if (held.message_index() >= layout.num_messages) {
    return;
  }
  const char *header = view.buffer(held.message_index());
  const char *payload_end =
      view.payload(held.message_index(), message_data_size) + message_data_size;
#if defined(__x86_64__)
  asm volatile("prefetchw %0" : : "m"(*header));
  asm volatile("prefetchw %0" : : "m"(*(payload_end - 1)));
#else
  __builtin_prefetch(header, 1);
  __builtin_prefetch(payload_end - 1, 1);
#endif
}

// The buffer that ring slot holds as `held` says (header) it holds
// `header_index` while the slot still holds it: no sender writes that.
[[noreturn, gnu::cold, gnu::noinline]] void HeaderDisagreesWithRing(
    const LocklessQueue &queue, Index held, uint32_t header_index) {
  QueueCorrupted(queue.const_memory(),
                 "message buffer %u, which ring slot %u holds as queue index "
                 "%u, says it holds queue index %u",
                 held.message_index(),
                 RingIndexing(queue.layout(), QueueSize32(queue.config()))
                     .Slot(held.queue_index()),
                 held.queue_index(), header_index);
}

}  // namespace

QueueLayout::QueueLayout(const LocklessQueueConfiguration &config) {
  CHECK_GT(config.queue_size, 0u) << ": a queue needs at least one slot";
  CHECK_LE(config.queue_size, kMaxQueueSize)
      << ": queue_size " << config.queue_size
      << " is too large for 32-bit queue indices (more messages/second "
         "configured than the queue can hold)";
  CHECK_LT(config.num_messages(), Index::MaxMessages())
      << ": too many message buffers for a 32-bit buffer index";
  CHECK_LE(config.message_data_size, size_t{kLengthMask})
      << ": message_data_size " << config.message_data_size
      << " does not fit the 31-bit length of a message header";
  // Every buffer starts kBufferPhase bytes past a multiple of
  // kChannelDataAlignment (the header still fills one cache line), so the
  // payload ends kBufferPhase short of an aligned offset within its buffer.
  // The end redzone and the remote queue index then share the buffer's last
  // aligned block with the payload's tail instead of taking a block of their
  // own: a 64 B message takes 256 B, not 384 (see
  // docs/decisions/lockless_queue.md, "Buffer phase").
  constexpr size_t kBufferPhase = sizeof(MessageHeader);
  payload_end = RoundUp(sizeof(MessageHeader) + kChannelDataRedzone +
                            config.message_data_size + kBufferPhase,
                        kChannelDataAlignment) -
                kBufferPhase;
  remote_queue_index_offset = payload_end + kChannelDataRedzone;
  message_size = RoundUp(remote_queue_index_offset + sizeof(uint32_t),
                         kChannelDataAlignment);
  queue_offset = sizeof(LocklessQueueMemory);
  messages_offset =
      RoundUp(queue_offset + sizeof(AtomicIndex) * config.queue_size,
              kChannelDataAlignment) +
      kBufferPhase;
  watchers_offset =
      RoundUp(messages_offset + message_size * config.num_messages(),
              kChannelDataAlignment);
  senders_offset =
      RoundUp(watchers_offset + sizeof(WatcherSlot) * config.num_watchers,
              kChannelDataAlignment);
  pinners_offset =
      RoundUp(senders_offset + sizeof(SenderSlot) * config.num_senders,
              kChannelDataAlignment);
  total_size = RoundUp(pinners_offset + sizeof(PinnerSlot) * config.num_pinners,
                       kChannelDataAlignment);
  const uint32_t count = QueueSize32(config);
  max_queue_index = QueueIndex::MaxIndex(count);
  // Wraps to 0 for count == 1, which makes every remainder 0, as it must be.
  queue_size_multiplier = ~uint64_t{0} / count + 1;
  num_messages = static_cast<uint32_t>(config.num_messages());
}

size_t LocklessQueueConfiguration::message_size() const {
  return QueueLayout(*this).message_size;
}

std::ostream &operator<<(std::ostream &os,
                         const LocklessQueueConfiguration &config) {
  return os << "{num_watchers: " << config.num_watchers
            << ", num_senders: " << config.num_senders
            << ", num_pinners: " << config.num_pinners
            << ", queue_size: " << config.queue_size
            << ", message_data_size: " << config.message_data_size << "}";
}

size_t LocklessQueueMemorySize(LocklessQueueConfiguration config) {
  return QueueLayout(config).total_size;
}

LocklessQueue::LocklessQueue(const LocklessQueueMemory *const_memory,
                             LocklessQueueMemory *memory,
                             LocklessQueueConfiguration config)
    : const_memory_(const_memory),
      memory_(memory),
      config_(config),
      layout_(config) {
  CHECK_EQ(reinterpret_cast<uintptr_t>(memory) % kChannelDataAlignment, 0u)
      << ": queue memory must be aligned to " << kChannelDataAlignment;
  CHECK_EQ(reinterpret_cast<uintptr_t>(const_memory) % kChannelDataAlignment,
           0u)
      << ": queue memory must be aligned to " << kChannelDataAlignment;
}

Result<void> LocklessQueue::Initialize(uint32_t starting_queue_index) {
  const uint32_t count = QueueSize32(config_);
  CHECK_LT(starting_queue_index, QueueIndex::MaxIndex(count))
      << ": starting queue index out of range for a ring of " << count;
  RobustMutexLock lock(&memory_->setup_lock);
  if (memory_->initialized.load(std::memory_order_acquire)) {
    Result<void> header = CheckQueueHeader(memory_->header, config_);
    if (!header) {
      return header;
    }
    const uint32_t uid = QueueUid();
    if (memory_->header.uid != uid) {
      return MakeError("the queue belongs to uid " +
                       std::to_string(memory_->header.uid) +
                       " but this process runs as uid " + std::to_string(uid) +
                       "; run as that user");
    }
    return {};
  }
  // Everything is zero or left over from an initializer that died: write all
  // of it.
  QueueMemoryView view(memory_, layout_);
  QueueFileHeader &header = memory_->header;
  header.magic = kQueueMagic;
  header.layout_version = kQueueLayoutVersion;
  header.header_size = sizeof(LocklessQueueMemory);
  header.total_size = layout_.total_size;
  header.num_watchers = config_.num_watchers;
  header.num_senders = config_.num_senders;
  header.num_pinners = config_.num_pinners;
  header.queue_size = config_.queue_size;
  header.message_data_size = config_.message_data_size;
  header.starting_queue_index = starting_queue_index;
  header.uid = QueueUid();

  for (size_t i = 0; i < config_.num_messages(); ++i) {
    MessageHeader *message = view.message(i);
    message->queue_index.Invalidate(std::memory_order_relaxed);
    message->monotonic_sent_time.store(
        monotonic_clock::min_time.time_since_epoch().count(),
        std::memory_order_relaxed);
    message->realtime_sent_time.store(
        realtime_clock::min_time.time_since_epoch().count(),
        std::memory_order_relaxed);
    message->length.store(0, std::memory_order_relaxed);
    view.remote_queue_index(i)->store(QueueIndex::kInvalid,
                                      std::memory_order_relaxed);
    char *payload = view.payload(i, config_.message_data_size);
    FillRedzone(view, payload - kChannelDataRedzone);
    FillRedzone(view, payload + config_.message_data_size);
  }
  // Slot i first receives the first index >= start that maps to it. It
  // starts out holding that index minus one lap, so the sender of that index
  // finds what it expects to displace and a reader of it gets NOTHING_NEW.
  const QueueIndex start = QueueIndex::FromRaw(starting_queue_index, count);
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t ahead = (i + count - start.Wrapped()) % count;
    view.ring(i)->Store(Index(start.IncrementBy(ahead).DecrementBy(count), i),
                        std::memory_order_relaxed);
  }
  memory_->next_queue_index.Invalidate(std::memory_order_relaxed);
  for (size_t i = 0; i < config_.num_senders; ++i) {
    SenderSlot *sender = view.sender(i);
    sender->scratch_index.Store(
        Index(QueueIndex::kInvalid, static_cast<uint32_t>(count + i)),
        std::memory_order_relaxed);
    sender->to_replace.Invalidate(std::memory_order_relaxed);
    sender->exclusive.store(0, std::memory_order_relaxed);
    sender->owner.ForceRelease();
  }
  for (size_t i = 0; i < config_.num_pinners; ++i) {
    PinnerSlot *pinner = view.pinner(i);
    pinner->scratch_index.Store(
        Index(QueueIndex::kInvalid,
              static_cast<uint32_t>(count + config_.num_senders + i)),
        std::memory_order_relaxed);
    pinner->pinned.Invalidate(std::memory_order_relaxed);
    pinner->owner.ForceRelease();
  }
  for (size_t i = 0; i < config_.num_watchers; ++i) {
    WatcherSlot *watcher = view.watcher(i);
    watcher->armed.store(0, std::memory_order_relaxed);
    watcher->owner.ForceRelease();
  }
  // Last, so a death before this line makes the next process start over.
  memory_->initialized.store(1, std::memory_order_release);
  return {};
}

// ---------------------------------------------------------------- Sender

namespace {

[[noreturn, gnu::cold, gnu::noinline]] void ScratchOutOfRange(
    const LocklessQueueMemory *memory, const QueueLayout &layout,
    int sender_index, uint32_t scratch) {
  QueueCorrupted(memory,
                 "sender slot %d names message buffer %u as its scratch "
                 "buffer, but the queue has %u buffers",
                 sender_index, scratch, layout.num_messages);
}

// The scratch buffer of sender slot `sender_index`, checked against the
// number of buffers.
[[gnu::always_inline]] inline uint32_t CheckedScratch(
    const LocklessQueueMemory *memory, const QueueLayout &layout,
    const SenderSlot *sender, int sender_index) {
  const uint32_t scratch =
      sender->scratch_index.Load(std::memory_order_relaxed).message_index();
  if (scratch >= layout.num_messages) [[unlikely]] {
    ScratchOutOfRange(memory, layout, sender_index, scratch);
  }
  return scratch;
}

}  // namespace

std::optional<LocklessQueueSender> LocklessQueueSender::Make(
    LocklessQueue queue, monotonic_clock::duration channel_storage_duration) {
  return Make(queue, channel_storage_duration, SenderExclusivity::kShared,
              nullptr);
}

std::optional<LocklessQueueSender> LocklessQueueSender::Make(
    LocklessQueue queue, monotonic_clock::duration channel_storage_duration,
    SenderExclusivity exclusivity, SenderRefusal *refusal) {
  SenderRefusal ignored;
  if (refusal == nullptr) refusal = &ignored;
  ThreadIdentity::Current();
  LocklessQueueMemory *memory = queue.memory();
  CHECK(memory->initialized.load(std::memory_order_acquire))
      << ": Initialize the queue before making senders";
  const QueueMemoryView view(memory, queue.layout());
  RobustMutexLock lock(&memory->setup_lock);
  Cleanup(view, queue.config());
  // After Cleanup every owned slot has a live owner (or one cleanup could not
  // yet prove dead), so its exclusive mark still holds.
  for (size_t i = 0; i < queue.config().num_senders; ++i) {
    const SenderSlot *sender = view.sender(i);
    if (sender->owner.state() == RobustOwnershipTracker::State::kUnowned) {
      continue;
    }
    const bool held_exclusively =
        sender->exclusive.load(std::memory_order_relaxed) != 0;
    if (held_exclusively || exclusivity == SenderExclusivity::kExclusive) {
      *refusal = SenderRefusal{held_exclusively
                                   ? SenderRefusal::Reason::kHeldExclusively
                                   : SenderRefusal::Reason::kOtherSender,
                               sender->owner.pid(), sender->owner.tid()};
      return std::nullopt;
    }
  }
  for (size_t i = 0; i < queue.config().num_senders; ++i) {
    SenderSlot *sender = view.sender(i);
    if (sender->owner.state() != RobustOwnershipTracker::State::kUnowned) {
      continue;
    }
    sender->owner.Acquire();
    sender->exclusive.store(exclusivity == SenderExclusivity::kExclusive,
                            std::memory_order_relaxed);
    // The buffer may be pinned (a previous owner died before trading it) or
    // still carry the index it had in the ring.
    CheckedScratch(memory, queue.layout(), sender, static_cast<int>(i));
    SwapPinnedScratch(view, queue.config(), sender);
    view.message(
            CheckedScratch(memory, queue.layout(), sender, static_cast<int>(i)))
        ->queue_index.Invalidate();
    return LocklessQueueSender(queue, static_cast<int>(i),
                               channel_storage_duration);
  }
  *refusal = SenderRefusal{};
  return std::nullopt;
}

LocklessQueueSender::LocklessQueueSender(
    LocklessQueue queue, int sender_index,
    monotonic_clock::duration channel_storage_duration)
    : queue_(queue),
      sender_index_(sender_index),
      channel_storage_duration_(channel_storage_duration) {}

LocklessQueueSender::LocklessQueueSender(LocklessQueueSender &&other)
    : queue_(other.queue_),
      sender_index_(std::exchange(other.sender_index_, -1)),
      channel_storage_duration_(other.channel_storage_duration_),
      monotonic_now_(other.monotonic_now_) {}

LocklessQueueSender::~LocklessQueueSender() {
  if (sender_index_ == -1) {
    return;
  }
  LocklessQueueMemory *memory = queue_.memory();
  RobustMutexLock lock(&memory->setup_lock);
  QueueMemoryView(memory, queue_.layout())
      .sender(sender_index_)
      ->owner.Release();
}

void *LocklessQueueSender::Data() {
  const QueueMemoryView view(queue_.memory(), queue_.layout());
  return view.payload(CheckedScratch(queue_.memory(), queue_.layout(),
                                     view.sender(sender_index_), sender_index_),
                      queue_.config().message_data_size);
}

size_t LocklessQueueSender::size() const {
  return queue_.config().message_data_size;
}

int LocklessQueueSender::buffer_index() const {
  return static_cast<int>(CheckedScratch(
      queue_.memory(), queue_.layout(),
      QueueMemoryView(queue_.memory(), queue_.layout()).sender(sender_index_),
      sender_index_));
}

// Both Sends inline this, so the copying one is not two calls.
[[gnu::always_inline]] inline LocklessQueueSender::Result
LocklessQueueSender::DoSend(
    const char *data, size_t length,
    monotonic_clock::time_point monotonic_remote_time,
    realtime_clock::time_point realtime_remote_time,
    monotonic_clock::time_point monotonic_remote_transmit_time,
    uint32_t remote_queue_index, const UUID &source_boot_uuid,
    monotonic_clock::time_point *monotonic_sent_time,
    realtime_clock::time_point *realtime_sent_time, uint32_t *queue_index) {
  const LocklessQueueConfiguration &config = queue_.config();
  const QueueLayout &layout = queue_.layout();
  CHECK_LE(length, config.message_data_size)
      << ": message of " << length
      << " bytes does not fit the channel's max_size";
  LocklessQueueMemory *memory = queue_.memory();
  const QueueMemoryView view(memory, layout);
  const uint32_t count = QueueSize32(config);
  const RingIndexing ring(layout, count);
  SenderSlot *sender = view.sender(sender_index_);
  const monotonic_clock::duration channel_storage_duration =
      channel_storage_duration_;
  monotonic_clock::time_point (*const monotonic_now)() = monotonic_now_;
  const Index scratch =
      Index(QueueIndex::kInvalid,
            CheckedScratch(memory, layout, sender, sender_index_));
  if (data != nullptr) {
    memcpy(view.payload(scratch.message_index(), config.message_data_size) +
               config.message_data_size - length,
           data, length);
  }
  if (!MessageRedzonesIntact(view, config.message_data_size,
                             scratch.message_index())) {
    return Result::INVALID_REDZONE;
  }
  MessageHeader *message = view.message(scratch.message_index());
  constexpr auto kRelaxed = std::memory_order_relaxed;
  // Written only for forwarded messages: a local send leaves that line alone.
  const bool remote = remote_queue_index != QueueIndex::kInvalid;
  if (remote) {
    view.remote_queue_index(scratch.message_index())
        ->store(remote_queue_index, kRelaxed);
  }
  message->length.store(
      static_cast<uint32_t>(length) | (remote ? kRemoteQueueIndexSet : 0),
      kRelaxed);
  message->monotonic_remote_time.store(
      monotonic_remote_time.time_since_epoch().count(), kRelaxed);
  message->realtime_remote_time.store(
      realtime_remote_time.time_since_epoch().count(), kRelaxed);
  message->monotonic_remote_transmit_time.store(
      monotonic_remote_transmit_time.time_since_epoch().count(), kRelaxed);
  uint64_t uuid[2];
  memcpy(uuid, source_boot_uuid.span().data(), sizeof(uuid));
  message->source_boot_uuid[0].store(uuid[0], kRelaxed);
  message->source_boot_uuid[1].store(uuid[1], kRelaxed);

  // Every `continue` below is paid for by another sender's progress (it
  // published, bumped the counter or took the buffer we looked at), or the
  // values read are ones no sender writes and the process ends
  // (QueueCorrupted), so the loop ends.
  const uint32_t num_messages = layout.num_messages;
  while (true) {
    const uint32_t recorded_next = memory->next_queue_index.RawLoad();
    CheckNextQueueIndex(memory, layout, recorded_next);
    const QueueIndex actual_next =
        recorded_next == QueueIndex::kInvalid
            ? QueueIndex::Invalid()
            : QueueIndex::FromRaw(recorded_next, count);
    const QueueIndex next =
        actual_next.valid() ? actual_next : StartingIndex(memory, count);
    const QueueIndex previous = ring.LapBefore(next);
    const uint32_t slot_number = ring.Slot(next.index());
    AtomicIndex *const slot = view.ring(slot_number);
    const Index to_replace = slot->Load();
    if (!to_replace.Holds(previous)) [[unlikely]] {
      // Someone published `next` and has not bumped next_queue_index yet (or
      // we read a stale value). Bump it for them and retry.
      CheckUnexpectedRingSlot(memory, layout, ring, slot_number, to_replace,
                              next, recorded_next);
      memory->next_queue_index.CompareAndExchangeStrong(actual_next,
                                                        ring.Increment(next));
      continue;
    }
    if (to_replace.message_index() >= num_messages) [[unlikely]] {
      RingSlotNamesNoBuffer(queue_, next.index(), to_replace);
    }
    const MessageHeader *replaced = view.message(to_replace.message_index());
    const QueueIndex replaced_index = replaced->queue_index.Load(count);
    if (replaced_index.valid() && replaced_index != previous) [[unlikely]] {
      // The buffer was taken out of the ring and reused since we loaded the
      // slot; the slot has moved on. (The header's value was written after
      // the ring CAS that took the buffer, so the slot must have changed.)
      if (slot->Load() == to_replace) {
        HeaderDisagreesWithRing(queue_, to_replace, replaced_index.index());
      }
      continue;
    }
    // Read the clocks on every attempt, so send times follow queue order.
    const monotonic_clock::time_point now = monotonic_now();
    const realtime_clock::time_point realtime_now = RealtimeAt(now);
    if (replaced_index.valid()) {
      const monotonic_clock::time_point replaced_sent_time(
          monotonic_clock::duration(
              replaced->monotonic_sent_time.load(kRelaxed)));
      if (now - replaced_sent_time < channel_storage_duration) {
        // Only trust the time if the message was still in the ring after we
        // read it.
        Fence(std::memory_order_acquire);
        if (slot->Load() != to_replace) {
          continue;
        }
        return Result::MESSAGES_SENT_TOO_FAST;
      }
    }
    message->monotonic_sent_time.store(now.time_since_epoch().count(),
                                       kRelaxed);
    message->realtime_sent_time.store(realtime_now.time_since_epoch().count(),
                                      kRelaxed);
    // Record the buffer we are about to take, for cleanup if we die, then
    // claim the index and swap our buffer into the ring.
    sender->to_replace.Store(to_replace, std::memory_order_release);
    message->queue_index.Store(next, std::memory_order_release);
    if (!slot->CompareAndExchangeStrong(to_replace,
                                        Index(next, scratch.message_index()))) {
      message->queue_index.Invalidate(std::memory_order_relaxed);
      sender->to_replace.Invalidate(std::memory_order_release);
      continue;
    }
    memory->next_queue_index.CompareAndExchangeStrong(actual_next,
                                                      ring.Increment(next));
    // The displaced buffer is ours now: (scratch, to_replace) goes
    // (S, R) -> (R, R) -> (R, invalid). Release stores keep that order.
    sender->scratch_index.Store(to_replace, std::memory_order_release);
    sender->to_replace.Invalidate(std::memory_order_release);
    if (config.num_pinners > 0) {
      SwapPinnedScratch(view, config, sender);
    }
    // Readers still copying the new scratch buffer must see it change before
    // anything is written into it (the writer half of the seqlock).
    const uint32_t new_scratch =
        sender->scratch_index.Load(kRelaxed).message_index();
    view.message(new_scratch)->queue_index.Invalidate(kRelaxed);
    Fence(std::memory_order_release);
    PrefetchScratch(view, config.message_data_size, new_scratch);
    if (count > kPrefetchAhead) {
      PrefetchAhead(view, layout, ring, config.message_data_size,
                    ring.Advance(next, kPrefetchAhead));
    }

    if (monotonic_sent_time != nullptr) *monotonic_sent_time = now;
    if (realtime_sent_time != nullptr) *realtime_sent_time = realtime_now;
    if (queue_index != nullptr) *queue_index = next.index();
    return Result::GOOD;
  }
}

LocklessQueueSender::Result LocklessQueueSender::Send(
    const char *data, size_t length,
    monotonic_clock::time_point monotonic_remote_time,
    realtime_clock::time_point realtime_remote_time,
    monotonic_clock::time_point monotonic_remote_transmit_time,
    uint32_t remote_queue_index, const UUID &source_boot_uuid,
    monotonic_clock::time_point *monotonic_sent_time,
    realtime_clock::time_point *realtime_sent_time, uint32_t *queue_index) {
  return DoSend(data, length, monotonic_remote_time, realtime_remote_time,
                monotonic_remote_transmit_time, remote_queue_index,
                source_boot_uuid, monotonic_sent_time, realtime_sent_time,
                queue_index);
}

LocklessQueueSender::Result LocklessQueueSender::Send(
    size_t length, monotonic_clock::time_point monotonic_remote_time,
    realtime_clock::time_point realtime_remote_time,
    monotonic_clock::time_point monotonic_remote_transmit_time,
    uint32_t remote_queue_index, const UUID &source_boot_uuid,
    monotonic_clock::time_point *monotonic_sent_time,
    realtime_clock::time_point *realtime_sent_time, uint32_t *queue_index) {
  return DoSend(nullptr, length, monotonic_remote_time, realtime_remote_time,
                monotonic_remote_transmit_time, remote_queue_index,
                source_boot_uuid, monotonic_sent_time, realtime_sent_time,
                queue_index);
}

std::ostream &operator<<(std::ostream &os, LocklessQueueSender::Result result) {
  switch (result) {
    case LocklessQueueSender::Result::GOOD:
      return os << "GOOD";
    case LocklessQueueSender::Result::INVALID_REDZONE:
      return os << "INVALID_REDZONE";
    case LocklessQueueSender::Result::MESSAGES_SENT_TOO_FAST:
      return os << "MESSAGES_SENT_TOO_FAST";
  }
  return os << "Result(" << static_cast<int>(result) << ")";
}

}  // namespace aos::ipc_lib
