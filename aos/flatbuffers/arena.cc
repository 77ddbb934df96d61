#include "aos/flatbuffers/arena.h"

#include <cstring>

#include "glog/logging.h"

namespace aos::fbs {
namespace {

size_t AlignUp(size_t value, size_t align) {
  return (value + align - 1) & ~(align - 1);
}

}  // namespace

Arena::Arena(std::span<uint8_t> buffer) { Reset(buffer); }

Arena::~Arena() {
  CHECK(!active_) << ": a static flatbuffer builder outlived its buffer";
}

void Arena::Reset(std::span<uint8_t> buffer) {
  CHECK(!active_)
      << ": May not have multiple active allocators on a single sender";
  CHECK_EQ(
      reinterpret_cast<uintptr_t>(buffer.data() + buffer.size()) % kAlignment,
      0u)
      << ": a static flatbuffer buffer must end at a multiple of " << kAlignment
      << " bytes";
  begin_ = buffer.data();
  end_ = buffer.data() + buffer.size();
  start_ = end_;
  used_ = 0;
}

void Arena::Begin(size_t reserve) {
  CHECK(!active_)
      << ": May not have multiple active allocators on a single sender";
  const size_t rounded = AlignUp(reserve, kAlignment);
  CHECK_LE(rounded, buffer_size())
      << ": the static flatbuffer needs " << rounded
      << " bytes but its buffer has " << buffer_size();
  // The end is aligned, so the start is too.
  start_ = end_ - rounded;
  used_ = 0;
  active_ = true;
}

void Arena::End() { active_ = false; }

std::optional<uint32_t> Arena::Allocate(size_t size, size_t align,
                                        size_t prefix) {
  DCHECK(active_);
  DCHECK_LE(align, kAlignment);
  DCHECK_EQ(align & (align - 1), 0u);
  const size_t position = AlignUp(used_ + prefix, align) - prefix;
  const size_t new_used = position + size;
  const size_t available = static_cast<size_t>(end_ - start_);
  if (new_used > available) {
    // Make room by moving the whole message down; positions (relative to
    // start_) and alignments (the shift is a multiple of kAlignment) stay.
    const size_t shift = AlignUp(new_used - available, kAlignment);
    if (shift > static_cast<size_t>(start_ - begin_) || new_used > UINT32_MAX) {
      return std::nullopt;
    }
    std::memmove(start_ - shift, start_, used_);
    start_ -= shift;
  }
  std::memset(start_ + used_, 0, new_used - used_);
  used_ = new_used;
  return static_cast<uint32_t>(position);
}

void Arena::ZeroUnused() {
  std::memset(start_ + used_, 0, static_cast<size_t>(end_ - start_) - used_);
}

}  // namespace aos::fbs
