#ifndef AOS_FLATBUFFERS_H_
#define AOS_FLATBUFFERS_H_

// Typed holders for a finished flatbuffer of root type T.
//
// A flatbuffer is a byte buffer; these classes remember its root type and who
// owns the bytes, so APIs can take "a Ping message" instead of a pointer and a
// length. All of them derive from Flatbuffer<T> (upstream's
// NonSizePrefixedFlatbuffer<T>), which gives:
//
//   span()             the bytes,
//   message()          the root table (requires a non-empty buffer),
//   mutable_message()  the root table, for in-place scalar mutation,
//   Verify()           whether the bytes are a valid T (use on untrusted data).
//
// Owning:     FlatbufferDetachedBuffer<T>  (what FlatBufferBuilder::Release
// gives)
//             FlatbufferVector<T>          (a copy in a std::vector)
//             FlatbufferString<T>          (a copy in a std::string)
// Non-owning: FlatbufferSpan<T>            (points at bytes owned elsewhere)

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "glog/logging.h"

namespace aos {

template <typename T>
class NonSizePrefixedFlatbuffer {
 public:
  virtual ~NonSizePrefixedFlatbuffer() = default;

  // The buffer's bytes. Empty for a default-constructed or moved-from holder.
  virtual std::span<const uint8_t> span() const = 0;
  virtual std::span<uint8_t> span() = 0;

  // The root table. CHECK-fails on an empty buffer.
  const T &message() const {
    CHECK(!span().empty()) << "Empty flatbuffer of type "
                           << T::GetFullyQualifiedName();
    return *flatbuffers::GetRoot<T>(span().data());
  }
  T *mutable_message() {
    CHECK(!span().empty()) << "Empty flatbuffer of type "
                           << T::GetFullyQualifiedName();
    return flatbuffers::GetMutableRoot<T>(span().data());
  }

  // Returns true if the bytes are a valid flatbuffer of type T.
  bool Verify() const {
    if (span().empty()) return false;
    flatbuffers::Verifier verifier(span().data(), span().size());
    return verifier.VerifyBuffer<T>(nullptr);
  }
};

template <typename T>
using Flatbuffer = NonSizePrefixedFlatbuffer<T>;

// Owns a flatbuffers::DetachedBuffer.
template <typename T>
class FlatbufferDetachedBuffer final : public Flatbuffer<T> {
 public:
  FlatbufferDetachedBuffer() = default;
  explicit FlatbufferDetachedBuffer(flatbuffers::DetachedBuffer &&buffer)
      : buffer_(std::move(buffer)) {}

  FlatbufferDetachedBuffer(FlatbufferDetachedBuffer &&) = default;
  FlatbufferDetachedBuffer &operator=(FlatbufferDetachedBuffer &&) = default;
  FlatbufferDetachedBuffer(const FlatbufferDetachedBuffer &) = delete;
  FlatbufferDetachedBuffer &operator=(const FlatbufferDetachedBuffer &) =
      delete;

  // A valid T with every field unset.
  static FlatbufferDetachedBuffer Empty() {
    flatbuffers::FlatBufferBuilder fbb;
    fbb.ForceDefaults(true);
    const auto end = fbb.StartTable();
    fbb.Finish(flatbuffers::Offset<T>(fbb.EndTable(end)));
    return FlatbufferDetachedBuffer(fbb.Release());
  }

  std::span<const uint8_t> span() const override {
    return {buffer_.data(), buffer_.size()};
  }
  std::span<uint8_t> span() override {
    return {buffer_.data(), buffer_.size()};
  }

  // Gives up ownership of the underlying buffer.
  flatbuffers::DetachedBuffer Release() { return std::move(buffer_); }

 private:
  flatbuffers::DetachedBuffer buffer_;
};

// Owns a copy of the bytes in a vector. Copyable.
template <typename T>
class FlatbufferVector final : public Flatbuffer<T> {
 public:
  FlatbufferVector() = default;
  explicit FlatbufferVector(std::vector<uint8_t> data)
      : data_(std::move(data)) {}
  explicit FlatbufferVector(std::span<const uint8_t> data)
      : data_(data.begin(), data.end()) {}
  explicit FlatbufferVector(const Flatbuffer<T> &other)
      : FlatbufferVector(other.span()) {}

  std::span<const uint8_t> span() const override { return data_; }
  std::span<uint8_t> span() override { return data_; }

 private:
  std::vector<uint8_t> data_;
};

// Owns a copy of the bytes in a string (handy where bytes arrive as strings).
template <typename T>
class FlatbufferString final : public Flatbuffer<T> {
 public:
  FlatbufferString() = default;
  explicit FlatbufferString(std::string_view data) : data_(data) {}

  std::span<const uint8_t> span() const override {
    return {reinterpret_cast<const uint8_t *>(data_.data()), data_.size()};
  }
  std::span<uint8_t> span() override {
    return {reinterpret_cast<uint8_t *>(data_.data()), data_.size()};
  }

 private:
  std::string data_;
};

// Points at bytes owned by someone else, who must keep them alive and, for
// mutable_message(), writable.
template <typename T>
class FlatbufferSpan final : public Flatbuffer<T> {
 public:
  FlatbufferSpan() = default;
  explicit FlatbufferSpan(std::span<const uint8_t> data)
      : data_(const_cast<uint8_t *>(data.data()), data.size()) {}
  explicit FlatbufferSpan(std::span<uint8_t> data) : data_(data) {}
  explicit FlatbufferSpan(const Flatbuffer<T> &other)
      : FlatbufferSpan(other.span()) {}

  std::span<const uint8_t> span() const override { return data_; }
  std::span<uint8_t> span() override { return data_; }

 private:
  std::span<uint8_t> data_;
};

}  // namespace aos

#endif  // AOS_FLATBUFFERS_H_
