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
//             FlatbufferMMap<T>            (a file mapped read-only)
// Non-owning: FlatbufferSpan<T>            (points at bytes owned elsewhere)

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aos/util/status.h"
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
  // Implicit, as upstream's, so `FlatbufferDetachedBuffer<T> x =
  // fbb.Release();` works: the buffer must hold a finished T.
  FlatbufferDetachedBuffer(flatbuffers::DetachedBuffer &&buffer)
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

// Maps a file holding a finished T (e.g. a .bfbs or a message written by
// WriteFlatbufferToFile) read-only into memory: no copy, and the pages are
// shared with every other process mapping it.
template <typename T>
class FlatbufferMMap final : public Flatbuffer<T> {
 public:
  FlatbufferMMap() = default;
  // Maps `path`; CHECK-fails naming the file if it cannot be opened or
  // mapped, as upstream's. Use Open() for files a user named.
  explicit FlatbufferMMap(std::string_view path) {
    Result<FlatbufferMMap> mapped = Open(path);
    CHECK(mapped.has_value()) << ": " << mapped.error().message();
    *this = std::move(*mapped);
  }

  // Maps `path`, or returns an error naming it. An empty file is an error
  // (it holds no T).
  static Result<FlatbufferMMap> Open(std::string_view path) {
    const std::string name(path);
    const int fd = open(name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return MakeError("cannot open " + name + ": " + std::strerror(errno));
    }
    struct stat info;
    if (fstat(fd, &info) != 0) {
      const int error = errno;
      close(fd);
      return MakeError("cannot stat " + name + ": " + std::strerror(error));
    }
    if (info.st_size == 0) {
      close(fd);
      return MakeError(name + " is empty: it holds no flatbuffer");
    }
    void *data = mmap(nullptr, info.st_size, PROT_READ, MAP_SHARED, fd, 0);
    const int error = errno;
    close(fd);
    if (data == MAP_FAILED) {
      return MakeError("cannot map " + name + ": " + std::strerror(error));
    }
    FlatbufferMMap result;
    result.data_ = std::span<uint8_t>(static_cast<uint8_t *>(data),
                                      static_cast<size_t>(info.st_size));
    return result;
  }

  FlatbufferMMap(FlatbufferMMap &&other) : data_(other.data_) {
    other.data_ = {};
  }
  FlatbufferMMap &operator=(FlatbufferMMap &&other) {
    std::swap(data_, other.data_);
    return *this;
  }
  FlatbufferMMap(const FlatbufferMMap &) = delete;
  FlatbufferMMap &operator=(const FlatbufferMMap &) = delete;
  ~FlatbufferMMap() override {
    if (!data_.empty()) munmap(data_.data(), data_.size());
  }

  std::span<const uint8_t> span() const override { return data_; }
  // The mapping is read-only: mutable_message() would fault, so callers that
  // need to edit copy into a FlatbufferVector first.
  std::span<uint8_t> span() override { return data_; }

 private:
  std::span<uint8_t> data_;
};

// The object-API form of a table (upstream's helper): `T::NativeTableType`
// holding a deep copy of everything `fbs` refers to.
template <typename T>
typename T::NativeTableType UnpackFlatbuffer(const T *fbs) {
  typename T::NativeTableType result;
  fbs->UnPackTo(&result);
  return result;
}

// A reference-counted, read-only byte span (what RawSender::Send(SharedSpan)
// takes): the bytes live as long as the last copy of the pointer.
using SharedSpan = std::shared_ptr<const std::span<const uint8_t>>;

// Allocates `size` zeroed bytes owned by the returned SharedSpan, and returns
// a mutable view of them to fill before handing the SharedSpan on. The bytes
// are 16-byte aligned, enough for any flatbuffer.
inline std::pair<SharedSpan, std::span<uint8_t>> MakeSharedSpan(size_t size) {
  struct Storage {
    std::span<const uint8_t> span;
    std::unique_ptr<uint8_t[]> bytes;
  };
  auto storage = std::make_shared<Storage>();
  storage->bytes.reset(new uint8_t[size]());
  storage->span = std::span<const uint8_t>(storage->bytes.get(), size);
  const std::span<uint8_t> mutable_span(storage->bytes.get(), size);
  return {SharedSpan(storage, &storage->span), mutable_span};
}

}  // namespace aos

#endif  // AOS_FLATBUFFERS_H_
