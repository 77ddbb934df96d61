#ifndef AOS_FLATBUFFERS_STATIC_VECTOR_H_
#define AOS_FLATBUFFERS_STATIC_VECTOR_H_

// The strings and vectors of static flatbuffers (see static_table.h): handles
// that edit a flatbuffer string or vector in place in an Arena.
//
//   String                   a string; grows on demand.
//   Vector<T>                a vector of scalars, enums, bools or structs;
//                            grows on demand.
//   StringVector<N, L>       a vector of at most N strings (each starting with
//                            room for L characters, and growing on demand).
//   TableVector<T, N>        a vector of at most N tables of static type T.
//
// Growing (reserve, resize, push_back, SetString past the capacity) extends
// the object in place when it is the last thing allocated in the message, and
// otherwise moves it to the end of the message (the old bytes become unused
// padding). Strings and vectors of inline elements can move because nothing
// points out of them; vectors of strings and tables cannot, which is why
// their element count is fixed by the schema (attribute static_length). When
// the buffer is full, growing returns false and changes nothing.
//
// Handles are owned by the table that has the field (they live in its C++
// object, not in the buffer), so the pointers the add_*() accessors return
// stay valid while the builder lives, whatever else grows or moves.
//
// These types are used through the generated code; their Create()/Reset()
// members are for it, not for applications.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "aos/flatbuffers/arena.h"
#include "flatbuffers/flatbuffers.h"
#include "glog/logging.h"

namespace aos::fbs {

static_assert(std::endian::native == std::endian::little,
              "static flatbuffers access their bytes in place, which only "
              "matches the flatbuffer encoding on little-endian machines");

namespace internal {

constexpr size_t kOffsetSize = sizeof(flatbuffers::uoffset_t);

inline uint32_t ReadU32(const uint8_t *p) {
  uint32_t value;
  std::memcpy(&value, p, sizeof(value));
  return value;
}

inline void WriteU32(uint8_t *p, uint32_t value) {
  std::memcpy(p, &value, sizeof(value));
}

// Points the uoffset at `ref_position` to `target_position` (which is after
// it, as every flatbuffer offset must be).
inline void WriteOffset(Arena *arena, uint32_t ref_position,
                        uint32_t target_position) {
  DCHECK_GT(target_position, ref_position);
  WriteU32(arena->start() + ref_position, target_position - ref_position);
}

// The bytes of a string or vector of inline elements, reached through the
// uoffset that refers to it (which never moves), so the bytes themselves may
// move. Layout: uint32 length, then capacity elements, then `kExtra` bytes
// (the NUL of a string).
template <size_t kElementSize, size_t kDataAlignment, size_t kExtra>
class LeafStorage {
 public:
  // Upper bound of the bytes Create(capacity) takes, padding included.
  static constexpr size_t Size(size_t capacity) {
    return kOffsetSize + capacity * kElementSize + kExtra + kDataAlignment - 1;
  }

  LeafStorage() = default;
  LeafStorage(LeafStorage &&) = default;
  LeafStorage &operator=(LeafStorage &&) = default;
  LeafStorage(const LeafStorage &) = delete;
  LeafStorage &operator=(const LeafStorage &) = delete;

  // Allocates an empty object with room for `capacity` elements and points
  // the uoffset at `ref_position` to it. False if the buffer is full.
  [[nodiscard]] bool Create(Arena *arena, uint32_t ref_position,
                            size_t capacity) {
    std::optional<uint32_t> position =
        arena->Allocate(kOffsetSize + capacity * kElementSize + kExtra,
                        kDataAlignment, kOffsetSize);
    if (!position.has_value()) return false;
    WriteOffset(arena, ref_position, *position);
    arena_ = arena;
    ref_position_ = ref_position;
    capacity_ = capacity;
    return true;
  }

  // Forgets the object (the field was cleared).
  void Reset() { arena_ = nullptr; }

  size_t size() const { return ReadU32(Header()); }
  size_t capacity() const { return capacity_; }
  uint8_t *Data() const { return Header() + kOffsetSize; }
  void SetSize(size_t size) {
    DCHECK_LE(size, capacity_);
    WriteU32(Header(), static_cast<uint32_t>(size));
  }

  // Makes room for `capacity` elements. False (and no change) if the buffer
  // is full.
  [[nodiscard]] bool Reserve(size_t capacity) {
    if (capacity <= capacity_) return true;
    const uint32_t position = Position();
    const size_t end =
        position + kOffsetSize + capacity_ * kElementSize + kExtra;
    if (end == arena_->used()) {
      // The last object in the message: extend it where it is.
      if (!arena_->Allocate((capacity - capacity_) * kElementSize, 1, 0)
               .has_value()) {
        return false;
      }
    } else {
      std::optional<uint32_t> moved =
          arena_->Allocate(kOffsetSize + capacity * kElementSize + kExtra,
                           kDataAlignment, kOffsetSize);
      if (!moved.has_value()) return false;
      // Positions survive the allocation moving the message; pointers not.
      uint8_t *start = arena_->start();
      std::memcpy(start + *moved, start + position,
                  kOffsetSize + size() * kElementSize);
      WriteOffset(arena_, ref_position_, *moved);
    }
    capacity_ = capacity;
    return true;
  }

  // Reserve() for one more element, doubling the capacity when that fits
  // (so appending n elements moves them O(log n) times), else growing by
  // the one element.
  [[nodiscard]] bool ReserveOneMore() {
    const size_t needed = size() + 1;
    if (needed <= capacity_) return true;
    return Reserve(std::max(needed, 2 * capacity_)) || Reserve(needed);
  }

 private:
  uint32_t Position() const {
    const uint8_t *ref = arena_->start() + ref_position_;
    return ref_position_ + ReadU32(ref);
  }
  uint8_t *Header() const { return arena_->start() + Position(); }

  Arena *arena_ = nullptr;
  uint32_t ref_position_ = 0;
  size_t capacity_ = 0;
};

}  // namespace internal

// A flatbuffer string: length, characters, NUL.
class String {
 public:
  static constexpr size_t Size(size_t capacity) {
    return Storage::Size(capacity);
  }

  String() = default;
  String(String &&) = default;
  String &operator=(String &&) = default;

  // Replaces the contents. False (contents unchanged) if growing failed.
  [[nodiscard]] bool SetString(std::string_view value) {
    if (!storage_.Reserve(value.size())) return false;
    uint8_t *data = storage_.Data();
    // An empty string_view's data() may be null, which memcpy must not get.
    if (!value.empty()) std::memcpy(data, value.data(), value.size());
    // Clear the rest of the old contents so the NUL (and determinism) hold.
    const size_t old_size = storage_.size();
    if (old_size > value.size()) {
      std::memset(data + value.size(), 0, old_size - value.size());
    }
    data[value.size()] = '\0';
    storage_.SetSize(value.size());
    return true;
  }
  [[nodiscard]] bool FromFlatbuffer(const flatbuffers::String *value) {
    return SetString(value->string_view());
  }
  [[nodiscard]] bool FromFlatbuffer(std::string_view value) {
    return SetString(value);
  }

  // Makes room for `capacity` characters without changing the contents.
  [[nodiscard]] bool reserve(size_t capacity) {
    return storage_.Reserve(capacity);
  }
  // Empties the string (keeping its capacity).
  void clear() { (void)SetString(std::string_view()); }

  std::string_view string_view() const {
    return {reinterpret_cast<const char *>(storage_.Data()), size()};
  }
  std::string str() const { return std::string(string_view()); }
  const char *c_str() const {
    return reinterpret_cast<const char *>(storage_.Data());
  }
  size_t size() const { return storage_.size(); }
  bool empty() const { return size() == 0; }
  size_t capacity() const { return storage_.capacity(); }

  // For the generated code.
  [[nodiscard]] bool Create(Arena *arena, uint32_t ref_position,
                            size_t capacity) {
    return storage_.Create(arena, ref_position, capacity);
  }
  void Reset() { storage_.Reset(); }

 private:
  using Storage = internal::LeafStorage<1, internal::kOffsetSize, 1>;
  Storage storage_;
};

// A flatbuffer vector of inline elements: scalars, enums, bools or structs.
// `kForceAlign` is the schema's force_align on the field (the data is
// aligned to it; at most the arena's alignment, 8).
template <typename T, size_t kForceAlign = alignof(T)>
class Vector {
  static_assert(std::is_trivially_copyable_v<T>);
  static_assert(alignof(T) <= Arena::kAlignment,
                "element alignment larger than the arena's");
  static_assert(kForceAlign <= Arena::kAlignment &&
                    (kForceAlign & (kForceAlign - 1)) == 0,
                "force_align must be a power of two of at most 8");

 public:
  using value_type = T;
  static constexpr size_t Size(size_t capacity) {
    return Storage::Size(capacity);
  }

  Vector() = default;
  Vector(Vector &&) = default;
  Vector &operator=(Vector &&) = default;

  size_t size() const { return storage_.size(); }
  bool empty() const { return size() == 0; }
  size_t capacity() const { return storage_.capacity(); }

  // The elements, valid until the vector grows. Prefer them to operator[]
  // for bulk access: each operator[] locates the vector anew.
  T *data() { return reinterpret_cast<T *>(storage_.Data()); }
  const T *data() const { return reinterpret_cast<const T *>(storage_.Data()); }
  std::span<T> span() { return {data(), size()}; }
  std::span<const T> span() const { return {data(), size()}; }
  T *begin() { return data(); }
  T *end() { return data() + size(); }
  const T *begin() const { return data(); }
  const T *end() const { return data() + size(); }

  // Element access. at() CHECK-fails out of range; [] does not check.
  T &operator[](size_t index) { return data()[index]; }
  const T &operator[](size_t index) const { return data()[index]; }
  T &at(size_t index) {
    CHECK_LT(index, size()) << ": static flatbuffer vector index";
    return data()[index];
  }
  const T &at(size_t index) const {
    CHECK_LT(index, size()) << ": static flatbuffer vector index";
    return data()[index];
  }

  // Each returns false, changing nothing, if the buffer is full.
  //
  // Makes room for `capacity` elements.
  [[nodiscard]] bool reserve(size_t capacity) {
    return storage_.Reserve(capacity);
  }
  // Changes the size; new elements are value-initialized (zero).
  [[nodiscard]] bool resize(size_t size) {
    const size_t old_size = this->size();
    if (!storage_.Reserve(size)) return false;
    if (size > old_size) {
      std::fill(data() + old_size, data() + size, T());
    }
    storage_.SetSize(size);
    return true;
  }
  // Appends T(args...).
  template <typename... Args>
  [[nodiscard]] bool emplace_back(Args &&...args) {
    if (!storage_.ReserveOneMore()) return false;
    const size_t index = size();
    const T value(std::forward<Args>(args)...);
    std::memcpy(static_cast<void *>(data() + index), &value, sizeof(T));
    storage_.SetSize(index + 1);
    return true;
  }
  // Appends `value`; this overload is what makes `emplace_back({x, y})`
  // (a struct from braces, as upstream code writes) compile.
  [[nodiscard]] bool emplace_back(const T &value) {
    if (!storage_.ReserveOneMore()) return false;
    const size_t index = size();
    std::memcpy(static_cast<void *>(data() + index), &value, sizeof(T));
    storage_.SetSize(index + 1);
    return true;
  }
  [[nodiscard]] bool push_back(const T &value) { return emplace_back(value); }
  // Replaces the contents with `count` elements copied from `values`.
  [[nodiscard]] bool FromData(const T *values, size_t count) {
    if (!storage_.Reserve(count)) return false;
    if (count > 0) {
      std::memcpy(static_cast<void *>(data()), values, count * sizeof(T));
    }
    storage_.SetSize(count);
    return true;
  }
  // Removes every element (keeping the capacity).
  void clear() { storage_.SetSize(0); }
  void pop_back() {
    CHECK(!empty()) << ": pop_back on an empty static flatbuffer vector";
    storage_.SetSize(size() - 1);
  }

  // Copies a flatbuffer vector (whose elements have T's representation).
  template <typename U>
  [[nodiscard]] bool FromFlatbuffer(const flatbuffers::Vector<U> *values) {
    if constexpr (std::is_same_v<T, bool>) {
      // Any non-zero byte is true; a bool holding another value is UB.
      if (!storage_.Reserve(values->size())) return false;
      for (size_t i = 0; i < values->size(); ++i) {
        data()[i] = values->Data()[i] != 0;
      }
      storage_.SetSize(values->size());
      return true;
    } else {
      static_assert(sizeof(typename std::remove_pointer_t<U>) == sizeof(T));
      return FromData(reinterpret_cast<const T *>(values->Data()),
                      values->size());
    }
  }
  // Copies an object-API vector.
  template <typename U>
  [[nodiscard]] bool FromFlatbuffer(const std::vector<U> &values) {
    if (!storage_.Reserve(values.size())) return false;
    for (size_t i = 0; i < values.size(); ++i) {
      data()[i] = static_cast<T>(values[i]);
    }
    storage_.SetSize(values.size());
    return true;
  }

  // For the generated code.
  [[nodiscard]] bool Create(Arena *arena, uint32_t ref_position,
                            size_t capacity) {
    return storage_.Create(arena, ref_position, capacity);
  }
  void Reset() { storage_.Reset(); }

 private:
  using Storage = internal::LeafStorage<
      sizeof(T), std::max({alignof(T), kForceAlign, internal::kOffsetSize}), 0>;
  Storage storage_;
};

namespace internal {

// The part of StringVector and TableVector that is not about the elements:
// a flatbuffer vector of kMaxSize uoffsets, of which size() are in use. It
// never moves (the elements it points to must stay after it).
template <size_t kMaxSize>
class OffsetVectorBase {
 public:
  static constexpr size_t kContainerSize =
      kOffsetSize + kMaxSize * kOffsetSize + kOffsetSize - 1;

  OffsetVectorBase() = default;
  OffsetVectorBase(OffsetVectorBase &&) = default;
  OffsetVectorBase &operator=(OffsetVectorBase &&) = default;
  OffsetVectorBase(const OffsetVectorBase &) = delete;
  OffsetVectorBase &operator=(const OffsetVectorBase &) = delete;

  size_t size() const { return ReadU32(arena_->start() + position_); }
  bool empty() const { return size() == 0; }
  static constexpr size_t capacity() { return kMaxSize; }
  // Succeeds iff `capacity` <= capacity(): the element count is fixed.
  [[nodiscard]] bool reserve(size_t capacity) const {
    return capacity <= kMaxSize;
  }

 protected:
  [[nodiscard]] bool CreateContainer(Arena *arena, uint32_t ref_position) {
    std::optional<uint32_t> position =
        arena->Allocate(kOffsetSize + kMaxSize * kOffsetSize, kOffsetSize, 0);
    if (!position.has_value()) return false;
    WriteOffset(arena, ref_position, *position);
    arena_ = arena;
    position_ = *position;
    return true;
  }
  // The uoffset slot of element `index`.
  uint32_t SlotPosition(size_t index) const {
    return position_ + static_cast<uint32_t>(kOffsetSize * (index + 1));
  }
  void SetSize(size_t size) {
    WriteU32(arena_->start() + position_, static_cast<uint32_t>(size));
  }
  Arena *arena() const { return arena_; }

 private:
  Arena *arena_ = nullptr;
  uint32_t position_ = 0;
};

}  // namespace internal

// A vector of at most kMaxSize strings; each new string starts with room for
// kStringLength characters (schema attribute static_vector_string_length)
// and grows on demand.
template <size_t kMaxSize, size_t kStringLength>
class StringVector : public internal::OffsetVectorBase<kMaxSize> {
  using Base = internal::OffsetVectorBase<kMaxSize>;

 public:
  static constexpr size_t Size() {
    return Base::kContainerSize + kMaxSize * String::Size(kStringLength);
  }

  // Appends an empty string, or one holding `value`. nullptr if the vector
  // is full (size() == capacity()) or the buffer is.
  String *emplace_back() { return emplace_back(std::string_view()); }
  String *emplace_back(std::string_view value) {
    const size_t index = this->size();
    if (index == kMaxSize) return nullptr;
    String *string = &strings_[index];
    if (!string->Create(this->arena(), this->SlotPosition(index),
                        std::max(kStringLength, value.size()))) {
      return nullptr;
    }
    CHECK(string->SetString(value));
    this->SetSize(index + 1);
    return string;
  }

  String &operator[](size_t index) { return strings_[index]; }
  const String &operator[](size_t index) const { return strings_[index]; }
  String &at(size_t index) {
    CHECK_LT(index, this->size()) << ": static flatbuffer vector index";
    return strings_[index];
  }
  const String &at(size_t index) const {
    CHECK_LT(index, this->size()) << ": static flatbuffer vector index";
    return strings_[index];
  }

  // Removes every string. Their bytes stay allocated, unused.
  void clear() { this->SetSize(0); }

  [[nodiscard]] bool FromFlatbuffer(
      const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>
          *values) {
    clear();
    for (const flatbuffers::String *value : *values) {
      if (emplace_back(value->string_view()) == nullptr) return false;
    }
    return true;
  }
  [[nodiscard]] bool FromFlatbuffer(const std::vector<std::string> &values) {
    clear();
    for (const std::string &value : values) {
      if (emplace_back(value) == nullptr) return false;
    }
    return true;
  }

  // For the generated code.
  [[nodiscard]] bool Create(Arena *arena, uint32_t ref_position) {
    return this->CreateContainer(arena, ref_position);
  }
  void Reset() {}

 private:
  std::array<String, kMaxSize> strings_;
};

// A vector of at most kMaxSize tables of static type T.
template <typename T, size_t kMaxSize>
class TableVector : public internal::OffsetVectorBase<kMaxSize> {
  using Base = internal::OffsetVectorBase<kMaxSize>;

 public:
  static constexpr size_t Size() {
    return Base::kContainerSize + kMaxSize * T::kSize;
  }

  // Appends a table with no field set. nullptr if the vector is full
  // (size() == capacity()) or the buffer is.
  T *emplace_back() {
    // Without static_length there is no room for any table. Spelled out so
    // that g++ does not analyse (and warn about, under -Werror) accesses to
    // an empty array in generated code.
    if constexpr (kMaxSize == 0) {
      return nullptr;
    } else {
      const size_t index = this->size();
      if (index == kMaxSize) return nullptr;
      T *table = &tables_[index];
      if (!table->Create(this->arena(), this->SlotPosition(index))) {
        return nullptr;
      }
      this->SetSize(index + 1);
      return table;
    }
  }

  T &operator[](size_t index) { return Element(index); }
  const T &operator[](size_t index) const {
    return const_cast<TableVector *>(this)->Element(index);
  }
  T &at(size_t index) {
    CHECK_LT(index, this->size()) << ": static flatbuffer vector index";
    return Element(index);
  }
  const T &at(size_t index) const {
    CHECK_LT(index, this->size()) << ": static flatbuffer vector index";
    return const_cast<TableVector *>(this)->Element(index);
  }

  // Removes every table. Their bytes stay allocated, unused.
  void clear() { this->SetSize(0); }

  [[nodiscard]] bool FromFlatbuffer(
      const flatbuffers::Vector<flatbuffers::Offset<typename T::Flatbuffer>>
          *values) {
    clear();
    for (const typename T::Flatbuffer *value : *values) {
      T *table = emplace_back();
      if (table == nullptr || !table->FromFlatbuffer(value)) return false;
    }
    return true;
  }
  template <typename U>
  [[nodiscard]] bool FromFlatbuffer(
      const std::vector<std::unique_ptr<U>> &values) {
    clear();
    for (const std::unique_ptr<U> &value : values) {
      T *table = emplace_back();
      if (table == nullptr) return false;
      if (value != nullptr && !table->FromFlatbuffer(*value)) return false;
    }
    return true;
  }

  // The first required field missing in any element, or nullptr.
  const char *MissingRequiredField() const {
    if constexpr (kMaxSize != 0) {
      for (size_t i = 0; i < this->size(); ++i) {
        if (const char *missing = tables_[i].MissingRequiredField()) {
          return missing;
        }
      }
    }
    return nullptr;
  }

  // For the generated code.
  [[nodiscard]] bool Create(Arena *arena, uint32_t ref_position) {
    return this->CreateContainer(arena, ref_position);
  }
  void Reset() {}

 private:
  T &Element(size_t index) {
    if constexpr (kMaxSize == 0) {
      LOG(FATAL) << "element " << index << " of an empty "
                 << T::GetFullyQualifiedName()
                 << " vector (give the field a static_length)";
    } else {
      return tables_[index];
    }
  }

  std::array<T, kMaxSize> tables_;
};

}  // namespace aos::fbs

#endif  // AOS_FLATBUFFERS_STATIC_VECTOR_H_
