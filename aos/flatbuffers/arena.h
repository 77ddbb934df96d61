#ifndef AOS_FLATBUFFERS_ARENA_H_
#define AOS_FLATBUFFERS_ARENA_H_

// Arena: the memory a static flatbuffer (aos/flatbuffers/static_table.h) is
// built in. It manages one fixed, caller-owned buffer, for example a sender's
// shared-memory message buffer, and never allocates.
//
// A message occupies [start(), end of buffer): it ends at the end of the
// buffer, because that is where AOS senders publish from, and grows downward
// only by moving the whole message, never by moving one part of it. Inside
// the message, space is handed out by bumping used() upward, so an object
// allocated later always lies at a higher address than the objects allocated
// before it: that is what makes every flatbuffer offset (which must point
// forward) from an existing object to a new one valid.
//
// Objects refer to their bytes by position relative to start(), which a move
// does not change, so a move invalidates no handle. A move happens when an
// allocation does not fit between the used space and the end of the buffer:
// the message is shifted toward the start of the buffer by a multiple of
// kAlignment (which keeps every alignment), if there is room. Otherwise the
// allocation fails and nothing changes.
//
// One message at a time: Begin() starts one, End() forgets it.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace aos::fbs {

// Gives a growable arena more memory (see AlignedVectorAllocator in
// base.h). Real-time code uses fixed buffers and never has one.
class ArenaGrower {
 public:
  virtual ~ArenaGrower() = default;
  // A new buffer of at least `size` bytes ending at a multiple of
  // Arena::kAlignment; the previous one stays valid until Release().
  virtual std::span<uint8_t> Grow(size_t size) = 0;
  // The arena has copied its message out of the previous buffer.
  virtual void ReleasePrevious() = 0;
};

class Arena {
 public:
  // Every object in a message is aligned to at most this, and the message
  // starts at a multiple of it.
  static constexpr size_t kAlignment = 8;

  // An arena without a buffer; Reset() gives it one.
  Arena() = default;
  // `buffer` must end at a multiple of kAlignment and outlive the arena.
  explicit Arena(std::span<uint8_t> buffer);
  Arena(const Arena &) = delete;
  Arena &operator=(const Arena &) = delete;
  // CHECK-fails while a message is being built (a builder outlived its
  // buffer).
  ~Arena();

  // Rebinds to another buffer (same requirements as the constructor).
  // CHECK-fails while a message is being built.
  void Reset(std::span<uint8_t> buffer);

  // With a grower, a message that no longer fits (or a Begin() larger than
  // the buffer) moves to a bigger buffer instead of failing. Handles stay
  // valid: they hold positions relative to start().
  void set_grower(ArenaGrower *grower) { grower_ = grower; }

  // Starts a message, reserving `reserve` bytes at the end of the buffer.
  // CHECK-fails if a message is already being built ("May not have multiple
  // active allocators on a single sender") or if `reserve` exceeds the
  // buffer.
  void Begin(size_t reserve);
  // Forgets the message. Its bytes stay where they are.
  void End();
  bool active() const { return active_; }

  // Hands out `size` zeroed bytes at the lowest position p >= used() with
  // (p + prefix) a multiple of `align` (a power of two, at most kAlignment),
  // moving the message down if needed. Padding skipped over is zeroed too.
  // Returns p, or nullopt (changing nothing) if the buffer is full.
  std::optional<uint32_t> Allocate(size_t size, size_t align, size_t prefix) {
    const size_t position = AlignUp(used_ + prefix, align) - prefix;
    const size_t new_used = position + size;
    if (new_used > static_cast<size_t>(end_ - start_)) [[unlikely]] {
      if (!MoveDown(new_used)) return std::nullopt;
    }
    if (new_used > zeroed_from_) {
      // Only bytes left over from moves are dirty; the rest was zeroed once.
      ZeroStale();
      zeroed_from_ = new_used;
    } else if (used_ < zeroed_from_) {
      std::memset(start_ + used_, 0, new_used - used_);
    }
    used_ = new_used;
    return static_cast<uint32_t>(position);
  }

  // The message's first byte; it moves when the message does.
  uint8_t *start() const { return start_; }
  // Bytes of the message handed out so far, from start().
  size_t used() const { return used_; }
  // The message, including the not yet used space up to the end of the
  // buffer.
  std::span<uint8_t> message() const {
    return {start_, static_cast<size_t>(end_ - start_)};
  }
  // Zeroes the space the message reserved but did not use, so that every
  // byte published is deterministic.
  void ZeroUnused();

  size_t buffer_size() const { return static_cast<size_t>(end_ - begin_); }

 private:
  static constexpr size_t AlignUp(size_t value, size_t align) {
    return (value + align - 1) & ~(align - 1);
  }
  // Moves the message down so that `new_used` bytes fit. False if the
  // buffer is too small (and cannot grow).
  bool MoveDown(size_t new_used);
  // Moves the message to the end of a buffer of at least `size` bytes from
  // the grower.
  void GrowTo(size_t size);
  // Zeroes [used_, zeroed_from_).
  void ZeroStale();

  uint8_t *begin_ = nullptr;
  uint8_t *end_ = nullptr;
  uint8_t *start_ = nullptr;
  size_t used_ = 0;
  // Bytes from here to the end of the buffer are known to be zero (Begin
  // zeroes the reservation once, so most messages need no other zeroing).
  size_t zeroed_from_ = 0;
  bool active_ = false;
  ArenaGrower *grower_ = nullptr;
};

}  // namespace aos::fbs

#endif  // AOS_FLATBUFFERS_ARENA_H_
