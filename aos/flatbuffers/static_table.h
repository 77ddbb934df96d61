#ifndef AOS_FLATBUFFERS_STATIC_TABLE_H_
#define AOS_FLATBUFFERS_STATIC_TABLE_H_

// Static flatbuffers: edit a flatbuffer in place, in a fixed buffer, without
// FlatBufferBuilder and without allocating.
//
// For each table Foo of a schema compiled with `aos_flatbuffer(... STATIC)`,
// the generator (static_flatbuffers_generator.cc) writes foo_static.h with a
// class FooStatic deriving from Table. Build one with a Builder (builder.h),
// or with a sender's Sender<Foo>::MakeStaticBuilder():
//
//   auto builder = sender.MakeStaticBuilder();
//   builder->set_value(3);                      // scalars, enums, structs
//   aos::fbs::String *name = builder->add_name();
//   CHECK(name->SetString("x"));                // false when out of space
//   auto *values = builder->add_values();       // aos::fbs::Vector<int32_t>
//   CHECK(values->reserve(10));
//   CHECK(values->emplace_back(1));
//   BarStatic *child = builder->add_child();    // nested tables
//   builder.CheckOk(builder.Send());
//
// Every field has has_x() and clear_x(); scalars x() (std::optional, empty
// when unset: readers then see the schema default), structs x() (pointer,
// nullptr when unset) and mutable_x(), strings/vectors/tables x() and
// mutable_x() (nullptr when unset) and add_x() (the field, created if unset;
// nullptr when out of space). FromFlatbuffer(const Foo *) and
// FromFlatbuffer(const FooT &) copy a whole message. The bytes are at all
// times a valid flatbuffer readable with Foo's ordinary accessors.
//
// Sizes come from the schema: `static_length: N` on a vector field (its
// initial capacity; for vectors of strings and tables, its maximum size),
// `static_length: N` on a string field (initial capacity), and
// `static_vector_string_length: L` on a vector of strings (initial capacity of
// each). FooStatic::kSize bounds the bytes of a message with every field set
// at those sizes; builders reserve it up front, so filling a message within
// its static sizes never fails. Strings and vectors of inline elements may
// grow past them while the buffer has room. See
// docs/decisions/static_flatbuffers.md for the layout.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>

#include "aos/flatbuffers/arena.h"
#include "aos/flatbuffers/static_vector.h"
#include "flatbuffers/flatbuffers.h"
#include "glog/logging.h"

namespace aos::fbs {

// The handle of one table in an Arena: its inline data, preceded by its own
// vtable (so fields can be set and cleared in any order). Tables never move
// relative to the message start.
class Table {
 public:
  Table() = default;
  Table(Table &&) = default;
  Table &operator=(Table &&) = default;
  Table(const Table &) = delete;
  Table &operator=(const Table &) = delete;

 protected:
  // Allocates the vtable (every field absent) and the inline data, and
  // points the uoffset at `ref_position` to the table. False if the buffer
  // is full.
  [[nodiscard]] bool CreateTable(Arena *arena, uint32_t ref_position,
                                 size_t vtable_size, size_t inline_size,
                                 size_t align) {
    std::optional<uint32_t> vtable =
        arena->Allocate(vtable_size + inline_size, align, vtable_size);
    if (!vtable.has_value()) return false;
    const uint32_t position = *vtable + static_cast<uint32_t>(vtable_size);
    uint8_t *start = arena->start();
    const uint16_t sizes[2] = {static_cast<uint16_t>(vtable_size),
                               static_cast<uint16_t>(inline_size)};
    std::memcpy(start + *vtable, sizes, sizeof(sizes));
    const flatbuffers::soffset_t to_vtable =
        static_cast<flatbuffers::soffset_t>(vtable_size);
    std::memcpy(start + position, &to_vtable, sizeof(to_vtable));
    internal::WriteOffset(arena, ref_position, position);
    arena_ = arena;
    position_ = position;
    vtable_size_ = static_cast<uint16_t>(vtable_size);
    return true;
  }

  // Field `id` (its schema id) is present iff its vtable entry is non-zero.
  bool FieldPresent(size_t id) const { return ReadVtable(id) != 0; }
  void MarkPresent(size_t id, uint16_t offset) { WriteVtable(id, offset); }
  void MarkAbsent(size_t id) { WriteVtable(id, 0); }

  template <typename T>
  T ReadInline(size_t offset) const {
    T value;
    std::memcpy(&value, InlineData() + offset, sizeof(T));
    return value;
  }
  template <typename T>
  void WriteInline(size_t offset, const T &value) {
    std::memcpy(InlineData() + offset, &value, sizeof(T));
  }
  template <typename T>
  void SetScalar(size_t id, uint16_t offset, T value) {
    WriteInline(offset, value);
    MarkPresent(id, offset);
  }
  template <typename T>
  std::optional<T> GetScalar(size_t id, uint16_t offset) const {
    if (!FieldPresent(id)) return std::nullopt;
    return ReadInline<T>(offset);
  }
  template <typename T>
  T *StructPointer(size_t id, uint16_t offset) const {
    if (!FieldPresent(id)) return nullptr;
    return reinterpret_cast<T *>(InlineData() + offset);
  }

  uint8_t *InlineData() const { return arena_->start() + position_; }
  // The position of the inline field at `offset`, for its child's uoffset.
  uint32_t FieldPosition(uint16_t offset) const { return position_ + offset; }
  Arena *ArenaOfTable() const { return arena_; }

 private:
  uint16_t ReadVtable(size_t id) const {
    uint16_t entry;
    std::memcpy(&entry, VtableEntry(id), sizeof(entry));
    return entry;
  }
  void WriteVtable(size_t id, uint16_t value) {
    std::memcpy(VtableEntry(id), &value, sizeof(value));
  }
  uint8_t *VtableEntry(size_t id) const {
    DCHECK_LT(4 + 2 * id, vtable_size_);
    return arena_->start() + position_ - vtable_size_ + 4 + 2 * id;
  }

  Arena *arena_ = nullptr;
  uint32_t position_ = 0;
  uint16_t vtable_size_ = 0;
};

// Whether T is a generated static table type (FooStatic).
template <typename T>
concept StaticTable = std::is_base_of_v<Table, T>;

// StaticTypeFor<Foo>::type is FooStatic (specialized by each generated
// header), and StaticTypeFor<FooStatic>::type is FooStatic.
template <typename T>
struct StaticTypeFor;
template <StaticTable T>
struct StaticTypeFor<T> {
  using type = T;
};
template <typename T>
using StaticTypeFor_t = typename StaticTypeFor<T>::type;

}  // namespace aos::fbs

#endif  // AOS_FLATBUFFERS_STATIC_TABLE_H_
