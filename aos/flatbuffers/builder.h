#ifndef AOS_FLATBUFFERS_BUILDER_H_
#define AOS_FLATBUFFERS_BUILDER_H_

// Builder<FooStatic>: one static flatbuffer (see static_table.h) being built
// in an Arena. It owns the arena's message until it is destroyed (or moved
// from), and holds the root table's handle:
//
//   alignas(8) std::array<uint8_t, 256> buffer;
//   aos::fbs::Arena arena(buffer);
//   aos::fbs::Builder<FooStatic> builder(&arena);
//   builder->set_value(1);
//   const Foo &foo = builder.AsFlatbufferSpan().message();
//
// Senders wrap it (Sender<T>::MakeStaticBuilder in aos/events/event_loop.h).
// Moving a builder moves the handles: pointers from its add_*() accessors
// then point into the moved-from builder, so take them after the move.

#include <memory>
#include <span>
#include <utility>

#include "aos/flatbuffers.h"
#include "aos/flatbuffers/arena.h"
#include "aos/flatbuffers/base.h"
#include "aos/flatbuffers/static_table.h"
#include "glog/logging.h"

namespace aos::fbs {

template <StaticTable T>
class Builder {
 public:
  // Bytes a message of T needs at most within its static sizes (root offset
  // included).
  static constexpr size_t kSize = internal::kOffsetSize + T::kSize;
  // Upstream's names: the buffer size that always fits a message of T within
  // its static sizes (e.g. for FixedStackAllocator<kBufferSize>), and the
  // alignment the buffer needs.
  static constexpr size_t kAlign = Arena::kAlignment;
  static constexpr size_t kBufferSize = (kSize + kAlign - 1) / kAlign * kAlign;

  // A builder without a message.
  Builder() = default;
  // Starts a message in `arena` (which must outlive the builder) with an
  // empty root table. CHECK-fails if the arena is building another message
  // or is smaller than kSize (and cannot grow).
  explicit Builder(Arena *arena) { Start(arena); }
  // Starts a message in the allocator's memory (base.h); the allocator must
  // outlive the builder.
  explicit Builder(Allocator *allocator) { Start(allocator->arena()); }
  // The same, owning the allocator.
  explicit Builder(std::unique_ptr<Allocator> allocator)
      : owned_allocator_(std::move(allocator)) {
    Start(owned_allocator_->arena());
  }
  Builder(Builder &&other)
      : owned_allocator_(std::move(other.owned_allocator_)),
        arena_(std::exchange(other.arena_, nullptr)),
        table_(std::move(other.table_)) {}
  Builder &operator=(Builder &&other) {
    if (this != &other) {
      Release();
      owned_allocator_ = std::move(other.owned_allocator_);
      arena_ = std::exchange(other.arena_, nullptr);
      table_ = std::move(other.table_);
    }
    return *this;
  }
  Builder(const Builder &) = delete;
  Builder &operator=(const Builder &) = delete;
  ~Builder() { Release(); }

  // The root table. CHECK-fails on a builder without a message.
  T *get() {
    CHECK(arena_ != nullptr) << ": using an empty static flatbuffer Builder";
    return &table_;
  }
  const T *get() const {
    CHECK(arena_ != nullptr) << ": using an empty static flatbuffer Builder";
    return &table_;
  }
  T *operator->() { return get(); }
  const T *operator->() const { return get(); }
  T &operator*() { return *get(); }
  const T &operator*() const { return *get(); }

  // The first required field left unset, as "Type.field", or nullptr.
  const char *MissingRequiredField() const {
    return get()->MissingRequiredField();
  }

  // The finished message: every byte from the root offset to the end of the
  // buffer (the unused part zeroed). It stays valid, and keeps changing with
  // the builder, until the builder is destroyed or the message moves (a
  // later allocation that did not fit). CHECK-fails if a required field is
  // unset.
  std::span<uint8_t> buffer() {
    get();
    const char *missing = MissingRequiredField();
    CHECK(missing == nullptr)
        << ": required field " << missing << " is not set";
    arena_->ZeroUnused();
    return arena_->message();
  }
  FlatbufferSpan<typename T::Flatbuffer> AsFlatbufferSpan() {
    return FlatbufferSpan<typename T::Flatbuffer>(buffer());
  }

  // Whether the message is a valid flatbuffer of T (flatbuffers' Verifier),
  // e.g. after filling it from untrusted input.
  bool Verify() { return AsFlatbufferSpan().Verify(); }

  // Ends the message without publishing it; the builder becomes empty.
  void Release() {
    if (arena_ != nullptr) {
      arena_->End();
      arena_ = nullptr;
    }
  }

 private:
  void Start(Arena *arena) {
    arena_ = arena;
    arena_->Begin(kSize);
    std::optional<uint32_t> root =
        arena_->Allocate(internal::kOffsetSize, internal::kOffsetSize, 0);
    CHECK(root.has_value() && *root == 0);
    CHECK(table_.Create(arena_, *root));
  }

  // Declared first: destroyed after Release() ends the message in its arena.
  std::unique_ptr<Allocator> owned_allocator_;
  Arena *arena_ = nullptr;
  T table_;
};

}  // namespace aos::fbs

#endif  // AOS_FLATBUFFERS_BUILDER_H_
