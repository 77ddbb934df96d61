#ifndef AOS_FLATBUFFERS_BASE_H_
#define AOS_FLATBUFFERS_BASE_H_

// Allocators: where a static flatbuffer (static_table.h) is built, with
// upstream AOS's names, so that ported code such as
//
//   aos::fbs::AlignedVectorAllocator allocator;
//   aos::fbs::Builder<FooStatic> builder(&allocator);
//
// compiles and works. Each allocator owns (or points at) a buffer and the
// Arena that builds in it (arena.h). SpanAllocator and FixedStackAllocator
// never allocate, so they suit real-time code; AlignedVectorAllocator grows
// on the heap as the message does, for tests and tools. A sender's builder
// (Sender<T>::MakeStaticBuilder) uses the sender's own buffer instead.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>

#include "aos/flatbuffers/arena.h"

namespace aos::fbs {

class Allocator {
 public:
  virtual ~Allocator() = default;
  Allocator(const Allocator &) = delete;
  Allocator &operator=(const Allocator &) = delete;

  // The arena builders use; valid as long as the allocator.
  Arena *arena() { return &arena_; }

 protected:
  Allocator() = default;

  Arena arena_;
};

// Builds in a caller-owned buffer, which must outlive the allocator and end
// at a multiple of 8 bytes. A message that does not fit fails to grow.
class SpanAllocator final : public Allocator {
 public:
  explicit SpanAllocator(std::span<uint8_t> buffer) { arena_.Reset(buffer); }
};

// Builds in a buffer of `kSize` bytes inside the allocator itself (e.g. on
// the stack).
template <size_t kSize, size_t kAlign = Arena::kAlignment>
class FixedStackAllocator final : public Allocator {
 public:
  static_assert(kAlign >= Arena::kAlignment && kAlign % Arena::kAlignment == 0,
                "the arena needs 8-byte alignment");

  FixedStackAllocator() { arena_.Reset(buffer_); }

 private:
  static constexpr size_t kRounded =
      (kSize + Arena::kAlignment - 1) / Arena::kAlignment * Arena::kAlignment;
  alignas(kAlign) std::array<uint8_t, kRounded> buffer_;
};

// Builds on the heap, growing (by moving the message to a buffer twice the
// size) whenever it needs more room, so building never runs out of space.
// Not for real-time code: growing allocates.
class AlignedVectorAllocator final : public Allocator, private ArenaGrower {
 public:
  AlignedVectorAllocator() { arena_.set_grower(this); }

 private:
  struct Free {
    void operator()(uint8_t *p) const {
      ::operator delete[](p, std::align_val_t(Arena::kAlignment));
    }
  };
  using Buffer = std::unique_ptr<uint8_t[], Free>;

  std::span<uint8_t> Grow(size_t size) override {
    previous_ = std::move(buffer_);
    buffer_.reset(static_cast<uint8_t *>(
        ::operator new[](size, std::align_val_t(Arena::kAlignment))));
    return {buffer_.get(), size};
  }
  void ReleasePrevious() override { previous_.reset(); }

  Buffer buffer_;
  Buffer previous_;
};

}  // namespace aos::fbs

#endif  // AOS_FLATBUFFERS_BASE_H_
