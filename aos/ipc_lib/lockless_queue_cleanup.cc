// Dead-process cleanup of sender and pinner slots, and the pinned-buffer
// trade whose intermediate states it must resolve.

#include <algorithm>
#include <thread>
#include <vector>

#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/lockless_queue_memory.h"
#include "glog/logging.h"

namespace aos::ipc_lib {
namespace {

// Passes of Cleanup's accounting after which it asks whether waiting can
// still help.
constexpr int kMaxAccountingPasses = 1000;

// True if a live sender (not among `ambiguous`) is between taking a buffer
// and recording it: its to_replace is set. Cleanup's accounting then waits
// for it instead of calling the queue damaged.
bool AnyLiveSenderTransferring(const QueueMemoryView &view,
                               const LocklessQueueConfiguration &config,
                               const std::vector<size_t> &ambiguous) {
  for (size_t i = 0; i < config.num_senders; ++i) {
    if (std::find(ambiguous.begin(), ambiguous.end(), i) == ambiguous.end() &&
        view.sender(i)->to_replace.Load().valid()) {
      return true;
    }
  }
  return false;
}

}  // namespace

// If the buffer `sender` holds as scratch is pinned, trades it for the spare
// buffer of the pinner that pinned it, until the scratch buffer is pinned by
// nobody. Each trade is a (scratch, to_replace) transition like the publish
// CAS, so cleanup resolves a death in the middle the same way.
void SwapPinnedScratch(const QueueMemoryView &view,
                       const LocklessQueueConfiguration &config,
                       SenderSlot *sender) {
  const uint32_t count = QueueSize32(config);
  const size_t num_messages = config.num_messages();
  // A trade hands a pinned buffer to a pinner that pins it; more trades than
  // a pinner could re-pin in between mean the pins and buffers are garbage
  // that sends one buffer round in a circle.
  const size_t max_trades = 64 * (config.num_pinners + 1);
  for (size_t trades = 0;; ++trades) {
    const Index current = sender->scratch_index.Load(std::memory_order_relaxed);
    if (current.message_index() >= num_messages) [[unlikely]] {
      QueueCorrupted(view.memory(),
                     "sender slot %zu names message buffer %u as its scratch "
                     "buffer, but the queue has %zu buffers",
                     static_cast<size_t>(sender - view.sender(0)),
                     current.message_index(), num_messages);
    }
    if (trades > max_trades) [[unlikely]] {
      QueueCorrupted(view.memory(),
                     "sender slot %zu traded its scratch buffer with pinners "
                     "%zu times and it is still pinned (the pinners' pins and "
                     "buffers do not agree)",
                     static_cast<size_t>(sender - view.sender(0)), trades);
    }
    const QueueIndex held =
        view.message(current.message_index())
            ->queue_index.Load(count, std::memory_order_relaxed);
    if (!held.valid()) {
      return;
    }
    PinnerSlot *holder = nullptr;
    for (size_t i = 0; i < config.num_pinners; ++i) {
      PinnerSlot *pinner = view.pinner(i);
      // seq_cst pairs with PinIndex: either it sees our ring CAS and gives up,
      // or we see its pin here.
      if (pinner->pinned.Load(count, std::memory_order_seq_cst) == held) {
        holder = pinner;
        break;
      }
    }
    if (holder == nullptr) {
      return;
    }
    const Index spare = holder->scratch_index.Load(std::memory_order_acquire);
    if (spare.message_index() >= num_messages) [[unlikely]] {
      QueueCorrupted(view.memory(),
                     "pinner slot %zu names message buffer %u as its spare "
                     "buffer, but the queue has %zu buffers",
                     static_cast<size_t>(holder - view.pinner(0)),
                     spare.message_index(), num_messages);
    }
    sender->to_replace.Store(spare, std::memory_order_release);
    if (!holder->scratch_index.CompareAndExchangeStrong(spare, current)) {
      // Another sender traded with this pinner first; look again.
      sender->to_replace.Invalidate(std::memory_order_release);
      continue;
    }
    sender->scratch_index.Store(spare, std::memory_order_release);
    sender->to_replace.Invalidate(std::memory_order_release);
  }
}

// Repairs the slots of dead senders and pinners. Must hold the setup lock.
//
// A dead pinner only needs its pin dropped. A dead sender is in one of these
// states of (scratch_index, to_replace), because every transfer of a buffer
// B into the sender (from the ring by the publish CAS, or from a pinner by
// the pinned-buffer trade) goes
//   (S, invalid) -> (S, B) -> CAS moves S out and B in -> (B, B) -> (B,
//   invalid)
// 1. to_replace invalid: consistent, scratch is its buffer.
// 2. to_replace = B != scratch = S: died around the CAS. Exactly one of S
//    and B is its buffer, and the other is owned elsewhere (ring, another
//    sender, a pinner). Resolved by accounting below.
// 3. to_replace == scratch: finished the CAS and recorded it; clear to_replace.
// Accounting: collect the buffers every other owner holds (live senders'
// scratch buffers, the ring, pinners' spares) until all but one per
// ambiguous sender are seen (they move while we look, so keep looking), then
// give each ambiguous sender whichever candidate nobody else has. Resolving
// one can make another decidable (a dead sender's published buffer may have
// been taken by a second dead sender), so repeat until all are resolved.
void Cleanup(const QueueMemoryView &view,
             const LocklessQueueConfiguration &config) {
  for (size_t i = 0; i < config.num_pinners; ++i) {
    PinnerSlot *pinner = view.pinner(i);
    if (pinner->owner.state() != RobustOwnershipTracker::State::kUnowned &&
        pinner->owner.IsDefinitelyDead()) {
      pinner->pinned.Invalidate();
      pinner->owner.ForceRelease();
    }
  }

  std::vector<size_t> ambiguous;
  for (size_t i = 0; i < config.num_senders; ++i) {
    SenderSlot *sender = view.sender(i);
    if (sender->owner.state() == RobustOwnershipTracker::State::kUnowned ||
        !sender->owner.IsDefinitelyDead()) {
      continue;
    }
    const Index to_replace = sender->to_replace.Load();
    const Index scratch = sender->scratch_index.Load();
    if (scratch.message_index() >= config.num_messages()) [[unlikely]] {
      QueueCorrupted(view.memory(),
                     "dead sender slot %zu names message buffer %u as its "
                     "scratch buffer, but the queue has %zu buffers",
                     i, scratch.message_index(), config.num_messages());
    }
    if (to_replace.valid() &&
        to_replace.message_index() >= config.num_messages()) [[unlikely]] {
      QueueCorrupted(view.memory(),
                     "dead sender slot %zu was taking message buffer %u, but "
                     "the queue has %zu buffers",
                     i, to_replace.message_index(), config.num_messages());
    }
    if (!to_replace.valid()) {
      sender->owner.ForceRelease();
    } else if (to_replace.message_index() == scratch.message_index()) {
      sender->to_replace.Invalidate();
      sender->owner.ForceRelease();
    } else {
      ambiguous.push_back(i);
    }
  }
  if (ambiguous.empty()) {
    return;
  }

  const size_t num_messages = config.num_messages();
  std::vector<bool> seen(num_messages, false);
  size_t num_seen = 0;
  auto mark = [&](Index index, const char *owner, size_t owner_index) {
    if (index.message_index() >= num_messages) [[unlikely]] {
      QueueCorrupted(view.memory(),
                     "%s %zu names message buffer %u, but the queue has %zu "
                     "buffers",
                     owner, owner_index, index.message_index(), num_messages);
    }
    if (!seen[index.message_index()]) {
      seen[index.message_index()] = true;
      ++num_seen;
    }
  };
  for (int pass = 0; num_seen + ambiguous.size() != num_messages; ++pass) {
    if (pass > 0) {
      // A live sender is between taking a buffer and recording it; let it
      // run.
      std::this_thread::yield();
    }
    if (pass >= kMaxAccountingPasses && pass % kMaxAccountingPasses == 0 &&
        !AnyLiveSenderTransferring(view, config, ambiguous)) [[unlikely]] {
      // Nobody is moving a buffer, yet some are owned by nobody (two owners
      // name the same buffer): looking again cannot help.
      QueueCorrupted(view.memory(),
                     "only %zu of its %zu message buffers are owned by a ring "
                     "slot, a sender or a pinner (some are named twice)",
                     num_seen + ambiguous.size(), num_messages);
    }
    for (size_t i = 0; i < config.num_senders; ++i) {
      if (std::find(ambiguous.begin(), ambiguous.end(), i) == ambiguous.end()) {
        mark(view.sender(i)->scratch_index.Load(), "sender slot", i);
      }
    }
    for (size_t i = 0; i < config.queue_size; ++i) {
      mark(view.ring(i)->Load(), "ring slot", i);
    }
    for (size_t i = 0; i < config.num_pinners; ++i) {
      mark(view.pinner(i)->scratch_index.Load(), "pinner slot", i);
    }
    if (num_seen + ambiguous.size() > num_messages) [[unlikely]] {
      QueueCorrupted(view.memory(),
                     "%zu of its %zu message buffers claimed by more than one "
                     "owner",
                     num_seen + ambiguous.size() - num_messages, num_messages);
    }
  }

  while (!ambiguous.empty()) {
    const size_t before = ambiguous.size();
    for (auto it = ambiguous.begin(); it != ambiguous.end();) {
      SenderSlot *sender = view.sender(*it);
      const Index to_replace = sender->to_replace.Load();
      const Index scratch = sender->scratch_index.Load();
      const bool scratch_seen = seen[scratch.message_index()];
      const bool replace_seen = seen[to_replace.message_index()];
      if (replace_seen && !scratch_seen) {
        // The CAS did not happen: keep the scratch buffer.
        sender->to_replace.Invalidate();
        seen[scratch.message_index()] = true;
      } else if (scratch_seen && !replace_seen) {
        // The CAS happened: finish taking to_replace.
        sender->scratch_index.Store(to_replace);
        sender->to_replace.Invalidate();
        seen[to_replace.message_index()] = true;
      } else {
        if (scratch_seen && replace_seen) [[unlikely]] {
          QueueCorrupted(view.memory(),
                         "both buffers of dead sender slot %zu (%u and %u) "
                         "are owned elsewhere",
                         *it, scratch.message_index(),
                         to_replace.message_index());
        }
        ++it;
        continue;
      }
      sender->owner.ForceRelease();
      it = ambiguous.erase(it);
    }
    if (ambiguous.size() >= before) [[unlikely]] {
      QueueCorrupted(view.memory(),
                     "the buffers of %zu dead senders cannot be attributed "
                     "(none of their candidates is owned elsewhere)",
                     ambiguous.size());
    }
  }
}

}  // namespace aos::ipc_lib
