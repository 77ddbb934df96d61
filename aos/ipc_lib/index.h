#ifndef AOS_IPC_LIB_INDEX_H_
#define AOS_IPC_LIB_INDEX_H_

// Queue indices and the packed ring entries of the lockless queue.
//
// Every message published on a channel gets a queue index: 0, 1, 2, ... It is
// a 32-bit counter that wraps at MaxIndex(queue_size), the largest multiple of
// the ring length that fits below 0xFFFFFFFF, so `index % queue_size` (the ring
// slot a message lives in) stays continuous across the wrap. 0xFFFFFFFF is
// reserved for "invalid" (e.g. "nothing was ever sent").
//
// Users see queue indices as uint32_t; to step through them they must use
// QueueIndex (Increment, DecrementBy, ...) rather than `+ 1`, or they get the
// wrap wrong.
//
// Index packs a queue index (high 32 bits) and a message buffer index (low 32
// bits) into one 64-bit word, so a ring slot can be swapped with one CAS. All
// the atomics here are lock-free and address-free, so they work in shared
// memory mapped at different addresses by different processes.

#include <atomic>
#include <cstdint>
#include <string>

#include "glog/logging.h"

namespace aos::ipc_lib {

// A queue index together with the ring length it wraps with.
class QueueIndex {
 public:
  static constexpr uint32_t kInvalid = 0xFFFFFFFFu;

  // The largest multiple of `count` that is <= 0xFFFFFFFF. Valid indices are
  // [0, MaxIndex(count)); index MaxIndex(count) - 1 is followed by 0.
  static constexpr uint32_t MaxIndex(uint32_t count) {
    return (0xFFFFFFFFu / count) * count;
  }

  // Index 0 of a ring of `count` slots.
  static constexpr QueueIndex Zero(uint32_t count) {
    return QueueIndex(0, count);
  }
  // The invalid index. Comparable to any other; valid() is false.
  static constexpr QueueIndex Invalid() { return QueueIndex(kInvalid, 0); }
  // `index` (which must be < MaxIndex(count), or kInvalid) in a ring of
  // `count` slots.
  static QueueIndex FromRaw(uint32_t index, uint32_t count) {
    DCHECK(index == kInvalid || index < MaxIndex(count))
        << index << " out of range for a ring of " << count;
    return QueueIndex(index, count);
  }

  constexpr bool valid() const { return index_ != kInvalid; }
  constexpr uint32_t index() const { return index_; }
  constexpr uint32_t count() const { return count_; }
  // The ring slot of this index.
  uint32_t Wrapped() const { return index_ % count_; }

  // Steps forwards or backwards, wrapping at MaxIndex(count). `amount` must be
  // < MaxIndex(count). The index must be valid.
  QueueIndex IncrementBy(uint32_t amount) const {
    DCHECK(valid());
    const uint64_t max = MaxIndex(count_);
    const uint64_t sum = static_cast<uint64_t>(index_) + amount;
    return QueueIndex(static_cast<uint32_t>(sum >= max ? sum - max : sum),
                      count_);
  }
  QueueIndex DecrementBy(uint32_t amount) const {
    DCHECK(valid());
    const uint64_t max = MaxIndex(count_);
    return QueueIndex(
        static_cast<uint32_t>(index_ >= amount ? index_ - amount
                                               : index_ + max - amount),
        count_);
  }
  QueueIndex Increment() const { return IncrementBy(1); }
  QueueIndex Decrement() const { return DecrementBy(1); }

  // How far `this` is ahead of `other` going forwards, in [0, MaxIndex).
  // Both must be valid and share the ring length.
  uint32_t DistanceFrom(QueueIndex other) const {
    DCHECK(valid() && other.valid());
    const uint64_t max = MaxIndex(count_);
    return static_cast<uint32_t>(index_ >= other.index_
                                     ? index_ - other.index_
                                     : index_ + max - other.index_);
  }

  friend bool operator==(QueueIndex a, QueueIndex b) {
    return a.index_ == b.index_;
  }

  std::string DebugString() const;

 private:
  constexpr QueueIndex(uint32_t index, uint32_t count)
      : index_(index), count_(count) {}

  uint32_t index_;
  uint32_t count_;
};

// A QueueIndex stored in shared memory.
class AtomicQueueIndex {
 public:
  QueueIndex Load(uint32_t count,
                  std::memory_order order = std::memory_order_acquire) const {
    const uint32_t raw = index_.load(order);
    return raw == QueueIndex::kInvalid ? QueueIndex::Invalid()
                                       : QueueIndex::FromRaw(raw, count);
  }
  void Store(QueueIndex value,
             std::memory_order order = std::memory_order_release) {
    index_.store(value.index(), order);
  }
  void Invalidate(std::memory_order order = std::memory_order_release) {
    index_.store(QueueIndex::kInvalid, order);
  }
  // Replaces `expected` by `desired`; false if the value was not `expected`.
  bool CompareAndExchangeStrong(QueueIndex expected, QueueIndex desired) {
    uint32_t raw = expected.index();
    return index_.compare_exchange_strong(raw, desired.index(),
                                          std::memory_order_seq_cst);
  }
  uint32_t RawLoad(std::memory_order order = std::memory_order_acquire) const {
    return index_.load(order);
  }

 private:
  std::atomic<uint32_t> index_;
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// A (queue index, message buffer index) pair packed in 64 bits.
class Index {
 public:
  static constexpr uint64_t kInvalid = 0xFFFFFFFFFFFFFFFFull;

  constexpr Index(QueueIndex queue_index, uint32_t message_index)
      : value_((static_cast<uint64_t>(queue_index.index()) << 32) |
               message_index) {}
  constexpr Index(uint32_t queue_index, uint32_t message_index)
      : value_((static_cast<uint64_t>(queue_index) << 32) | message_index) {}
  static constexpr Index Invalid() { return Index(kInvalid); }
  static constexpr Index FromRaw(uint64_t raw) { return Index(raw); }

  // Message buffers must number fewer than this (so no valid Index equals
  // kInvalid).
  static constexpr uint32_t MaxMessages() { return 0xFFFFFFFEu; }

  constexpr bool valid() const { return value_ != kInvalid; }
  constexpr uint32_t queue_index() const {
    return static_cast<uint32_t>(value_ >> 32);
  }
  constexpr uint32_t message_index() const {
    return static_cast<uint32_t>(value_);
  }
  constexpr uint64_t raw() const { return value_; }

  // True if this slot holds a message published with queue index `q`.
  bool Holds(QueueIndex q) const { return queue_index() == q.index(); }

  friend constexpr bool operator==(Index a, Index b) {
    return a.value_ == b.value_;
  }

  std::string DebugString() const;

 private:
  explicit constexpr Index(uint64_t raw) : value_(raw) {}

  uint64_t value_;
};

// An Index stored in shared memory.
class AtomicIndex {
 public:
  Index Load(std::memory_order order = std::memory_order_acquire) const {
    return Index::FromRaw(index_.load(order));
  }
  void Store(Index value, std::memory_order order = std::memory_order_release) {
    index_.store(value.raw(), order);
  }
  void Invalidate(std::memory_order order = std::memory_order_release) {
    Store(Index::Invalid(), order);
  }
  // Replaces `expected` by `desired` (sequentially consistent); false if the
  // value was not `expected`.
  bool CompareAndExchangeStrong(Index expected, Index desired) {
    uint64_t raw = expected.raw();
    return index_.compare_exchange_strong(raw, desired.raw(),
                                          std::memory_order_seq_cst);
  }

 private:
  std::atomic<uint64_t> index_;
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);

}  // namespace aos::ipc_lib

#endif  // AOS_IPC_LIB_INDEX_H_
