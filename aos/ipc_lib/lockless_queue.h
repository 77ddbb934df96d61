#ifndef AOS_IPC_LIB_LOCKLESS_QUEUE_H_
#define AOS_IPC_LIB_LOCKLESS_QUEUE_H_

// The lockless queue: a multi-writer, multi-reader ring of messages in one
// region of shared memory, safe against the death of any process at any
// instruction.
//
// One queue backs one channel. The region holds a ring of `queue_size` slots,
// each pointing at a message buffer, plus one spare ("scratch") buffer per
// sender slot and per pinner slot. A sender fills its scratch buffer, then
// swaps it into the ring with one CAS and takes the buffer it displaced as its
// next scratch buffer. Nothing on the send, read, pin or wakeup paths takes a
// lock, allocates, or makes a syscall other than the clock reads and the
// wakeup signals.
//
// Typical use (the shared-memory event loop does this per channel):
//
//   MemoryMappedQueue mapped = ... (memory_mapped_queue.h)
//   LocklessQueue queue = mapped.queue();
//   auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(2));
//   memcpy(..., sender->Data(), ...);  // or build a flatbuffer in place
//   sender->Send(length, ...);
//   LocklessQueueWakeUpper(queue).Wakeup(priority);
//
//   LocklessQueueReader reader(queue);
//   reader.Read(index, &info, buffer);
//
// Slots (senders, pinners, watchers) are owned by the thread that made them:
// ownership is a robust futex on that thread's kernel robust list, so the
// kernel marks it when the thread dies. Such objects must be destroyed by the
// thread that made them, before the memory is unmapped.
//
// Wakeup coalescing (our addition to upstream's design) is described on
// LocklessQueueWatcher.

#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <type_traits>
#include <vector>

#include "aos/channel_data_alignment.h"
#include "aos/ipc_lib/index.h"
#include "aos/ipc_lib/signalfd.h"
#include "aos/time/time.h"
#include "aos/util/status.h"
#include "aos/uuid.h"
#include "gflags/gflags.h"

// Default wakeup policy of new watchers: true = kCoalesce, false =
// kEveryMessage (upstream's behaviour: one signal per message per watcher).
DECLARE_bool(coalesce_wakeups);

namespace aos::ipc_lib {

// kChannelDataRedzone (guard bytes around every payload) is
// aos::kChannelDataRedzone, in aos/channel_data_alignment.h.

// Version of the shared-memory layout. It is in queue file names and headers;
// bump it whenever the layout changes.
inline constexpr uint32_t kQueueLayoutVersion = 4;

struct LocklessQueueConfiguration {
  // Maximum number of watcher, sender and pinner slots.
  size_t num_watchers = 0;
  size_t num_senders = 0;
  size_t num_pinners = 0;
  // Number of messages the ring holds.
  size_t queue_size = 0;
  // Usable payload bytes per message.
  size_t message_data_size = 0;

  // Message buffers: the ring plus one scratch buffer per sender and pinner.
  size_t num_messages() const { return num_senders + num_pinners + queue_size; }
  // Bytes taken by one message buffer: header, redzones, payload and the
  // slack that aligns the payload's end to kChannelDataAlignment.
  size_t message_size() const;

  friend bool operator==(const LocklessQueueConfiguration &,
                         const LocklessQueueConfiguration &) = default;
};

std::ostream &operator<<(std::ostream &os,
                         const LocklessQueueConfiguration &config);

// Bytes of shared memory a queue with `config` needs. CHECK-fails on a
// configuration that cannot be represented (queue_size of 0 or above 2^30,
// too many messages for a 32-bit message index, message_data_size of 2^31 or
// more).
size_t LocklessQueueMemorySize(LocklessQueueConfiguration config);

// The uid this process records in the queues it initializes and must match
// in the ones it opens: the effective uid, or the real one for a setuid
// program that did not fully switch (as upstream).
uint32_t QueueUid();

// The shared-memory region. Opaque: its layout is in lockless_queue_memory.h.
struct LocklessQueueMemory;
struct WatcherSlot;

// Byte offsets of the parts of the region, derived from a configuration.
struct QueueLayout {
  explicit QueueLayout(const LocklessQueueConfiguration &config);

  // Within one message buffer: where the payload area ends (a buffer starts
  // sizeof(MessageHeader) past an aligned offset, so this is that much short
  // of a multiple of kChannelDataAlignment, and the payload's end in memory
  // is aligned) and the size of the buffer (a multiple of
  // kChannelDataAlignment).
  size_t payload_end = 0;
  size_t message_size = 0;
  // Within one message buffer: the remote queue index (after the payload's
  // end redzone, out of the lines a reader of a local message touches).
  size_t remote_queue_index_offset = 0;
  // Within the region.
  size_t queue_offset = 0;
  size_t messages_offset = 0;
  size_t watchers_offset = 0;
  size_t senders_offset = 0;
  size_t pinners_offset = 0;
  size_t total_size = 0;
  // Ring arithmetic without division, for the send and read paths:
  // QueueIndex::MaxIndex(queue_size), and the multiplier of the fast modulo by
  // queue_size (Lemire, Kaser and Kurz, "Faster remainder by direct
  // computation", 2019): x % queue_size == ((M * x) * queue_size) >> 64 for
  // every 32-bit x, with M = 2^64 / queue_size rounded up (mod 2^64).
  uint32_t max_queue_index = 0;
  uint64_t queue_size_multiplier = 0;
  // config.num_messages(): every buffer index read from shared memory is
  // checked against it before use.
  uint32_t num_messages = 0;
};

// A handle on one queue's memory: cheap to copy, owns nothing.
//
// `const_memory` and `memory` are two mappings of the same region (read-only
// and read-write); readers only ever touch `const_memory`. Both must be
// aligned to kChannelDataAlignment, hold LocklessQueueMemorySize(config)
// bytes, and outlive every object made from this handle. They may be the same
// pointer (e.g. a queue in ordinary memory, for tests).
class LocklessQueue {
 public:
  LocklessQueue(const LocklessQueueMemory *const_memory,
                LocklessQueueMemory *memory, LocklessQueueConfiguration config);

  // Initializes the memory if nobody has yet, under the setup lock. The memory
  // must have started zero-filled (e.g. a new file). If the initializer died
  // half way, the next caller starts over. If the memory was initialized
  // already, checks that it describes the same layout version and
  // configuration and returns an error naming the first differing field
  // otherwise.
  //
  // `starting_queue_index` makes the first message get that index instead of
  // 0, so tests can exercise the wrap of the 32-bit index without sending 2^32
  // messages. It must be < QueueIndex::MaxIndex(queue_size).
  Result<void> Initialize(uint32_t starting_queue_index = 0);

  const LocklessQueueConfiguration &config() const { return config_; }
  const QueueLayout &layout() const { return layout_; }
  size_t QueueSize() const { return config_.queue_size; }
  const LocklessQueueMemory *const_memory() const { return const_memory_; }
  LocklessQueueMemory *memory() const { return memory_; }

 private:
  const LocklessQueueMemory *const_memory_;
  LocklessQueueMemory *memory_;
  LocklessQueueConfiguration config_;
  QueueLayout layout_;
};

// The longest a watcher may sleep before it checks its queues again, even
// if nobody signals it. This is the bound on how late the last message of a
// sender that died between publishing it and signalling is delivered (any
// later send by a live sender wakes the watcher at once).
inline constexpr std::chrono::milliseconds kMaxWatcherSleep{100};

// How senders wake a watcher.
enum class WakeupPolicy : uint32_t {
  // Signal only a watcher that has announced it may sleep (PrepareToSleep)
  // and has not been signalled since: many sends, one wakeup.
  kCoalesce = 1,
  // Signal on every Wakeup call (upstream's behaviour).
  kEveryMessage = 2,
};

// A watcher slot: registers the calling thread to be signalled
// (kWakeupSignal, with rt_tgsigqueueinfo) when senders call Wakeup.
//
// With WakeupPolicy::kCoalesce the watcher must follow this protocol, or it
// can sleep through a message (with kEveryMessage, steps 1, 3 and 4 with its
// bounded sleep). Coalescing starts at StartCoalescing() or the first
// PrepareToSleep(); until then the watcher is signalled on every message,
// so a user who never heard of the protocol is still woken, as upstream
// would wake him:
//
//   loop:
//     1. drain the signalfd (SignalFd::Drain);
//     2. PrepareToSleep();
//     3. check every watched queue for new messages (LatestIndex / Read until
//        NOTHING_NEW) and handle them;
//     4. sleep (epoll_wait on the signalfd, timers, ...) for at most
//        kMaxWatcherSleep; on waking, goto 1.
//   (Optionally call DoneSleeping() after waking for a reason other than the
//   signal, to spare senders a useless signal while busy.)
//
// Under load, arm late: handle everything pending first, then do steps 2 and
// 3; if step 3 found messages, DoneSleeping() and go round again instead of
// sleeping. Senders then signal only a watcher that is really about to
// sleep (in lockless_queue_stream_bench this cut the signals two- to
// threefold). Draining may then be left until after a sleep: a signal sent
// while the watcher was still busy only makes that sleep return at once.
// Tighter still (the bench's default, --arm_late): arm only after a pass
// that found nothing, and if step 3 finds a message, DoneSleeping() before
// handling it, so the armed window is one Read long (measured: no clear
// change over the above). Each PrepareToSleep also costs every sender one
// cache miss (it reads `armed` on every Wakeup). What does cut signals is
// polling a little before arming: a wakeup costs both sides about 1.4 us of
// CPU (sender 0.9, reader 0.5), so polling for up to ~1 us first never costs
// more than the wakeup it may save. In the stream bench
// (--spin_before_arm_ns=1000) it cut the signals of a 64 B stream ~80-fold
// and the sender's CPU per message by a fifth.
//
// Several watchers of one thread may do step 2 for each, then step 3 for all.
//
// Why no message is missed, even when senders die at any instruction. Let
// the watcher's step 2 be "store armed = (new generation | 1); seq_cst
// fence" and its step 3 be acquire loads of the ring. A sender's Send
// publishes with a seq_cst CAS of the ring; Wakeup then does "seq_cst load of
// armed; if its armed bit is set, signal; once the signal is queued, CAS
// armed from the value seen to the same generation without the bit". Take a
// message M whose CAS published it, and the watcher's last PrepareToSleep P
// before a sleep S:
//   - if M's sender reached its load of `armed` and that load does not see
//     P's store (it is coherence-ordered before it), step 3 sees M's CAS.
//     Otherwise step 3's load of the ring would be coherence-ordered before
//     the CAS, and the total order S of seq_cst operations and fences would
//     need (C++20 [atomics.order]/4): P's fence before the CAS (4.3), the
//     CAS before the load of `armed` (same thread, both seq_cst), and that
//     load before P's fence (4.2): a cycle. So step 3 sees M;
//   - if the load sees P's arm, the sender signals this thread after P. If
//     the load sees P's generation already disarmed, another sender cleared
//     it, and a sender clears only after its signal to this thread was
//     queued, and that signal came after P. A signal sent after P stays
//     pending in the signalfd (step 1 came before P), so S returns at once.
//     A sender that dies before its signal never clears the bit, so the
//     watcher stays armed and the next Wakeup by any live sender signals it.
//     Clearing only the generation it saw means a slow or dying sender can
//     never disarm a later arm.
//   - if M's sender died after its CAS and before its load, or before its
//     signal, and no other sender ever calls Wakeup, nobody signals. The
//     watcher therefore must not sleep longer than kMaxWatcherSleep without
//     going round the protocol again: its step 3 then finds M. That bounds
//     the delivery of a dead sender's last message (ShmEventLoop does this
//     with a periodic timer; measured in lockless_queue_liveness_test).
// A watcher that is signalled and then drains in step 1 re-arms in step 2
// before checking. Two senders that see the same arm may both signal (one
// extra signal, only when they race). A kernel refusal (EAGAIN) leaves the
// watcher armed, so the next send retries. On x86 the sender's side costs
// plain loads (no fence) while the watcher is awake and has not armed.
//
// Make the object in the thread that will read the signalfd; destroy it in
// the same thread.
class LocklessQueueWatcher {
 public:
  // Claims the first watcher slot that is free or whose owner is dead, for
  // the calling thread, with RT `priority` (0 = not real-time). The policy is
  // kCoalesce if --coalesce_wakeups (the default), else kEveryMessage.
  // Returns nullopt if every slot is held by a live thread.
  static std::optional<LocklessQueueWatcher> Make(LocklessQueue queue,
                                                  int priority);
  static std::optional<LocklessQueueWatcher> Make(LocklessQueue queue,
                                                  int priority,
                                                  WakeupPolicy policy);

  LocklessQueueWatcher(LocklessQueueWatcher &&other);
  LocklessQueueWatcher &operator=(LocklessQueueWatcher &&other) = delete;
  LocklessQueueWatcher(const LocklessQueueWatcher &) = delete;
  // Releases the slot.
  ~LocklessQueueWatcher();

  // Step 2 of the protocol above: the next Wakeup signals this thread.
  // Includes the seq_cst fence. Real-time safe. CHECK-fails
  // when called on another thread than the one that made the watcher (the
  // signal would go to a thread that is not the one about to sleep) or on a
  // moved-from watcher.
  void PrepareToSleep();
  // Tells senders not to signal until the next PrepareToSleep. Optional.
  // Same CHECKs as PrepareToSleep.
  void DoneSleeping();
  // For a kCoalesce watcher: from now on senders signal only when armed
  // (PrepareToSleep), i.e. this thread follows the protocol above. The first
  // PrepareToSleep does the same; call this first when the thread may be
  // busy for a while before it first arms (an event loop), so senders do not
  // signal it on every message meanwhile. Nothing for kEveryMessage. Same
  // CHECKs as PrepareToSleep.
  void StartCoalescing();

  // The policy asked for (see StartCoalescing for when kCoalesce starts).
  WakeupPolicy policy() const { return policy_; }
  // True once a kCoalesce watcher coalesces.
  bool coalescing() const { return coalescing_; }
  int slot() const { return watcher_index_; }

 private:
  LocklessQueueWatcher(LocklessQueue queue, int watcher_index,
                       WakeupPolicy policy);

  void CheckCaller(const char *step) const;

  LocklessQueue queue_;
  int watcher_index_;
  WakeupPolicy policy_;
  bool coalescing_ = false;
  // Identifies the thread that made the watcher (a thread_local's address).
  const void *thread_;
};

// Wakes the watchers of a queue. Make one per sender, ahead of time.
class LocklessQueueWakeUpper {
 public:
  explicit LocklessQueueWakeUpper(LocklessQueue queue);

  // Signals every live watcher that needs it (kEveryMessage watchers always,
  // kCoalesce watchers when armed), highest priority first. Call it after
  // Send returned GOOD, from the thread that sent (the proof above relies on
  // that Send's seq_cst CAS coming before this call in the same thread). If the
  // caller is real-time
  // (`current_priority` > 0) and a signalled watcher has a higher priority,
  // the caller is boosted to that priority (SCHED_FIFO) while it signals, so
  // a low-priority sender cannot hold up a high-priority reader; without
  // permission to do that (EPERM) the boost is skipped. Returns the number of
  // signals sent. Allocates nothing.
  //
  // Only signals a slot's live registered owner: the first time it sees an
  // owner it checks in /proc that thread (tid, pid) exists and started when
  // the slot says (a few microseconds, once per watcher registration); a
  // slot that fails the check (stale or forged) is skipped and counted in
  // refused_signals(). A signal the kernel refuses with EAGAIN (the
  // watcher's user is at RLIMIT_SIGPENDING) is counted in signal_failures(),
  // leaves that watcher armed for the next send, and does not stop the
  // others from being signalled.
  int Wakeup(int current_priority);

  // Signals refused by the kernel with EAGAIN since construction.
  uint64_t signal_failures() const { return signal_failures_; }
  // Slots skipped because they did not name their live registered owner.
  uint64_t refused_signals() const { return refused_signals_; }

 private:
  struct WatcherCopy {
    pid_t tid;
    pid_t pid;
    int priority;
    WatcherSlot *slot;
    // The arm seen (kCoalesce), 0 otherwise.
    uint32_t armed;
  };

  void SetPriority(int priority);

  LocklessQueue queue_;
  pid_t pid_;
  uid_t uid_;
  std::vector<WatcherCopy> watcher_copy_;
  // Per slot: the owner identity last checked by IsRegisteredOwner.
  std::vector<uint64_t> validated_identity_;
  bool boost_allowed_ = true;
  uint64_t signal_failures_ = 0;
  uint64_t refused_signals_ = 0;
};

// The metadata of one message (everything but the payload).
struct MessageInfo {
  uint32_t queue_index = QueueIndex::kInvalid;
  monotonic_clock::time_point monotonic_sent_time = monotonic_clock::min_time;
  realtime_clock::time_point realtime_sent_time = realtime_clock::min_time;
  monotonic_clock::time_point monotonic_remote_time = monotonic_clock::min_time;
  monotonic_clock::time_point monotonic_remote_transmit_time =
      monotonic_clock::min_time;
  realtime_clock::time_point realtime_remote_time = realtime_clock::min_time;
  // The queue index on the remote node; equals queue_index for local
  // messages (a sender passing 0xFFFFFFFF means "local").
  uint32_t remote_queue_index = QueueIndex::kInvalid;
  UUID source_boot_uuid = UUID::Zero();
  // Payload bytes; the payload is the last `length` bytes of the buffer.
  size_t length = 0;
};

// Decides from its metadata whether a message is worth copying. A non-owning
// reference to a callable `bool(const MessageInfo &)` (like std::function_ref):
// it does not allocate and must not outlive the callable. Default: no filter.
class ReadFilter {
 public:
  constexpr ReadFilter() = default;
  template <typename F>
  requires(!std::same_as<std::remove_cvref_t<F>, ReadFilter> &&
           std::is_invocable_r_v<bool, F &, const MessageInfo &>)
      ReadFilter(F &&callable)  // NOLINT(google-explicit-constructor)
      : object_(const_cast<void *>(static_cast<const void *>(&callable))),
        call_([](void *object, const MessageInfo &info) -> bool {
          return (*static_cast<std::remove_reference_t<F> *>(object))(info);
        }) {
    // An empty std::function (or a null function pointer) means "no
    // filter", as upstream's Read treats it, not a call that throws.
    if constexpr (std::is_constructible_v<bool, std::remove_reference_t<F> &>) {
      if (!static_cast<bool>(callable)) {
        object_ = nullptr;
        call_ = nullptr;
      }
    }
  }

  explicit operator bool() const { return call_ != nullptr; }
  bool operator()(const MessageInfo &info) const {
    return call_(object_, info);
  }

 private:
  void *object_ = nullptr;
  bool (*call_)(void *, const MessageInfo &) = nullptr;
};

// Whether a sender shares its queue with other senders (the default) or must
// be the queue's only sender (live log replay: another sender's messages
// would mix with the log's).
enum class SenderExclusivity { kShared, kExclusive };

// Why LocklessQueueSender::Make returned no sender.
struct SenderRefusal {
  enum class Reason {
    // Every slot is held by a live thread.
    kNoFreeSlot,
    // A live exclusive sender holds the queue.
    kHeldExclusively,
    // An exclusive sender was asked for, but a live sender exists.
    kOtherSender,
  };
  Reason reason = Reason::kNoFreeSlot;
  // kHeldExclusively: the exclusive sender's owner; kOtherSender: the
  // owner of one of the other senders. 0 for kNoFreeSlot.
  pid_t pid = 0;
  pid_t tid = 0;
};

// A sender slot. Make one per sending event-loop sender.
class LocklessQueueSender {
 public:
  enum class Result { GOOD, INVALID_REDZONE, MESSAGES_SENT_TOO_FAST };

  // Cleans up after dead senders and pinners, then claims a free sender slot
  // for the calling thread. A send fails with MESSAGES_SENT_TOO_FAST if the
  // message it would displace was sent less than `channel_storage_duration`
  // ago. Returns nullopt if every slot is held by a live thread.
  static std::optional<LocklessQueueSender> Make(
      LocklessQueue queue, monotonic_clock::duration channel_storage_duration);
  // The same, and: refuses (nullopt) while a live exclusive sender owns a
  // slot; with kExclusive, also refuses while any other live sender does,
  // and otherwise marks the slot so later Makes are refused until it is
  // released or its owner dies (cleanup frees a dead owner's slot, and with
  // it the claim). Says why in `*refusal` if not null. Not real-time (takes
  // the setup lock, may read /proc).
  static std::optional<LocklessQueueSender> Make(
      LocklessQueue queue, monotonic_clock::duration channel_storage_duration,
      SenderExclusivity exclusivity, SenderRefusal *refusal);

  LocklessQueueSender(LocklessQueueSender &&other);
  LocklessQueueSender &operator=(LocklessQueueSender &&other) = delete;
  LocklessQueueSender(const LocklessQueueSender &) = delete;
  // Releases the slot (it keeps its scratch buffer for the next owner).
  ~LocklessQueueSender();

  // The scratch buffer: size() writable bytes, whose end is aligned to
  // kChannelDataAlignment. Write the payload at its end. Valid until the next
  // successful Send.
  void *Data();
  size_t size() const;
  // Index of the scratch buffer among all message buffers, for
  // Context::buffer_index.
  int buffer_index() const;

  // Publishes the last `length` bytes of Data() (length <= size(), else
  // CHECK-fails). Stamps monotonic and realtime send times (re-read on every
  // retry, so send times are monotonic in queue order) and stores them, and
  // the assigned queue index, in the non-null out parameters. Returns
  // INVALID_REDZONE (nothing sent) if the bytes just before or after the
  // buffer were overwritten; MESSAGES_SENT_TOO_FAST (nothing sent, the buffer
  // is kept) if the message to displace is younger than the storage
  // duration. Never blocks; retries only when another sender won a race.
  Result Send(size_t length, monotonic_clock::time_point monotonic_remote_time,
              realtime_clock::time_point realtime_remote_time,
              monotonic_clock::time_point monotonic_remote_transmit_time,
              uint32_t remote_queue_index, const UUID &source_boot_uuid,
              monotonic_clock::time_point *monotonic_sent_time = nullptr,
              realtime_clock::time_point *realtime_sent_time = nullptr,
              uint32_t *queue_index = nullptr);

  // Copies `length` bytes of `data` to the end of Data(), then Sends.
  Result Send(const char *data, size_t length,
              monotonic_clock::time_point monotonic_remote_time,
              realtime_clock::time_point realtime_remote_time,
              monotonic_clock::time_point monotonic_remote_transmit_time,
              uint32_t remote_queue_index, const UUID &source_boot_uuid,
              monotonic_clock::time_point *monotonic_sent_time = nullptr,
              realtime_clock::time_point *realtime_sent_time = nullptr,
              uint32_t *queue_index = nullptr);

  // Replaces monotonic_clock::now() for this sender (tests of the
  // sent-too-fast boundary).
  void SetMonotonicClockForTesting(monotonic_clock::time_point (*now)()) {
    monotonic_now_ = now;
  }

  int slot() const { return sender_index_; }

 private:
  LocklessQueueSender(LocklessQueue queue, int sender_index,
                      monotonic_clock::duration channel_storage_duration);

  // Both Sends: copies `data` (if not null) to the end of Data() first.
  Result DoSend(const char *data, size_t length,
                monotonic_clock::time_point monotonic_remote_time,
                realtime_clock::time_point realtime_remote_time,
                monotonic_clock::time_point monotonic_remote_transmit_time,
                uint32_t remote_queue_index, const UUID &source_boot_uuid,
                monotonic_clock::time_point *monotonic_sent_time,
                realtime_clock::time_point *realtime_sent_time,
                uint32_t *queue_index);

  LocklessQueue queue_;
  int sender_index_;
  monotonic_clock::duration channel_storage_duration_;
  monotonic_clock::time_point (*monotonic_now_)() = &monotonic_clock::now;
};

std::ostream &operator<<(std::ostream &os, LocklessQueueSender::Result result);

// A pinner slot: zero-copy reads. A pinned buffer is never handed to a
// sender, so its contents stay valid until the pin moves.
class LocklessQueuePinner {
 public:
  // Cleans up after dead senders and pinners, then claims a free pinner slot
  // for the calling thread. Returns nullopt if every slot is held by a live
  // thread.
  static std::optional<LocklessQueuePinner> Make(LocklessQueue queue);

  LocklessQueuePinner(LocklessQueuePinner &&other);
  LocklessQueuePinner &operator=(LocklessQueuePinner &&other) = delete;
  LocklessQueuePinner(const LocklessQueuePinner &) = delete;
  // Unpins and releases the slot.
  ~LocklessQueuePinner();

  // Pins the message with `queue_index` (dropping any previous pin) if the
  // ring still holds it. Returns its buffer index (0 .. num_messages - 1), or
  // -1 (and nothing pinned) if it was overwritten or not yet sent. Real-time
  // safe.
  int PinIndex(uint32_t queue_index);

  // The payload area (size() bytes, end-aligned) of the pinned buffer, from
  // the read-only mapping. Requires a successful PinIndex.
  const void *Data() const;
  size_t size() const;

  int slot() const { return pinner_index_; }

 private:
  LocklessQueuePinner(LocklessQueue queue, int pinner_index);

  LocklessQueue queue_;
  int pinner_index_;
  int pinned_buffer_ = -1;
};

// Reads messages by copying. Touches only the read-only mapping.
class LocklessQueueReader {
 public:
  // What Read answers, at the boundaries (with `first` the queue's first
  // index, 0 unless Initialize chose another, and `newest` = LatestIndex()):
  //   nothing sent yet: first .. first + queue_size - 1 -> NOTHING_NEW;
  //     first + queue_size and later -> TOO_OLD (as upstream: a slot that
  //     never held a message cannot tell "a lap ahead" from "overwritten");
  //   any index before `first` (the lap just before it included) -> TOO_OLD;
  //   newest - queue_size + 1 (the oldest still held) .. newest -> GOOD;
  //   newest - queue_size (just lapped) and older -> TOO_OLD;
  //   newest + 1 and up to a lap past it, while the ring slot still holds
  //     the earlier message -> NOTHING_NEW.
  enum class Result {
    // The message was overwritten (the ring moved past it), or the index is
    // from before the first message.
    TOO_OLD,
    // The message was copied.
    GOOD,
    // The message has not been sent yet.
    NOTHING_NEW,
    // The filter rejected the message; nothing was copied.
    FILTERED,
    // The message was overwritten while being read (after the ring said it
    // held it); outputs are untouched. Only ever the result of a race with a
    // sender.
    OVERWROTE,
  };

  explicit LocklessQueueReader(LocklessQueue queue);

  // Reads the message with `queue_index`. On GOOD fills `info` and, if
  // `copy_destination` is not null, copies the payload to the same end-aligned
  // place it had: the last info->length bytes of
  // [copy_destination, copy_destination + message_data_size). If `filter` is
  // set it is called with the (validated) metadata first; returning false
  // gives FILTERED. Outputs are only written for GOOD (and `info` for
  // FILTERED). Real-time safe; never blocks.
  Result Read(uint32_t queue_index, MessageInfo *info, char *copy_destination,
              ReadFilter filter = {}) const;

  // Upstream's shape of Read.
  Result Read(uint32_t queue_index,
              monotonic_clock::time_point *monotonic_sent_time,
              realtime_clock::time_point *realtime_sent_time,
              monotonic_clock::time_point *monotonic_remote_time,
              monotonic_clock::time_point *monotonic_remote_transmit_time,
              realtime_clock::time_point *realtime_remote_time,
              uint32_t *remote_queue_index, UUID *source_boot_uuid,
              size_t *length, char *copy_destination,
              ReadFilter filter = {}) const;

  // What ReadRun did.
  struct RunResult {
    // Messages read GOOD and visited.
    uint32_t visited = 0;
    // The index after the last message visited (the first index if none):
    // where the next read starts.
    uint32_t next_queue_index = QueueIndex::kInvalid;
    // Why the run ended: GOOD if `visit` returned false, else what Read
    // answered for next_queue_index (NOTHING_NEW at the end of the queue,
    // FILTERED, TOO_OLD or OVERWROTE for a reader that fell behind).
    Result stop = Result::GOOD;
  };

  // Reads the messages from `queue_index` on, one after the other, exactly as
  // a loop of Read(index, &info, copy_destination, filter) on consecutive
  // indices would (same validation of every message, same results), calling
  // `visit` (a callable `bool(const MessageInfo &)`, like a filter) after
  // each GOOD read, with the payload in `copy_destination` until the next
  // read; stops after a `visit` that returns false, or at the first index
  // Read would not answer GOOD. For a reader draining a queue: the
  // per-read setup is paid once per run, the ring slot and index advance
  // without a division, and the header and payload end of the message a
  // few indices ahead start loading into the cache while one is read (a
  // drain otherwise waits for a cache miss or two per message: the messages
  // are scattered over the queue's buffers; only a hint, from one relaxed
  // load of that ring slot). Real-time safe; never blocks.
  RunResult ReadRun(uint32_t queue_index, char *copy_destination,
                    ReadFilter filter, ReadFilter visit) const;

  // The index of the newest published message, or QueueIndex::Invalid() if
  // nothing was ever sent. Includes messages whose sender was between its
  // ring CAS and bumping the "next" counter, so Read(LatestIndex()) never
  // says NOTHING_NEW and every reader agrees on when a message is visible.
  QueueIndex LatestIndex() const;

  // Payload area of buffer `buffer_index` in the read-only mapping.
  const void *BufferData(int buffer_index) const;

 private:
  LocklessQueue queue_;
};

using ReadResult = LocklessQueueReader::Result;
std::ostream &operator<<(std::ostream &os, LocklessQueueReader::Result result);

// Prints every field of the queue memory (for debugging and aos_shm);
// flags corrupted redzones. With `dump_data`, prints payloads in hex.
void PrintLocklessQueueMemory(const LocklessQueueMemory *memory,
                              const LocklessQueueConfiguration &config,
                              std::ostream &os, bool dump_data);

}  // namespace aos::ipc_lib

#endif  // AOS_IPC_LIB_LOCKLESS_QUEUE_H_
