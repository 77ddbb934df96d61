#include "aos/flatbuffers/arena.h"

#include <algorithm>
#include <cstring>

#include "glog/logging.h"

namespace aos::fbs {

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
  if (rounded > buffer_size() && grower_ != nullptr) {
    begin_ = end_ = start_ = nullptr;
    const std::span<uint8_t> buffer = grower_->Grow(rounded);
    grower_->ReleasePrevious();
    begin_ = buffer.data();
    end_ = buffer.data() + buffer.size();
  }
  CHECK_LE(rounded, buffer_size())
      << ": the static flatbuffer needs " << rounded
      << " bytes but its buffer has " << buffer_size();
  // The end is aligned, so the start is too.
  start_ = end_ - rounded;
  std::memset(start_, 0, rounded);
  used_ = 0;
  zeroed_from_ = 0;
  active_ = true;
}

void Arena::End() { active_ = false; }

bool Arena::MoveDown(size_t new_used) {
  DCHECK(active_);
  // Positions (relative to start_) and alignments (the shift is a multiple
  // of kAlignment) survive the move.
  const size_t available = static_cast<size_t>(end_ - start_);
  const size_t shift = AlignUp(new_used - available, kAlignment);
  if (new_used > UINT32_MAX) return false;
  if (shift > static_cast<size_t>(start_ - begin_)) {
    if (grower_ == nullptr) return false;
    // At least double, so a message growing by small steps copies O(n).
    GrowTo(std::max(2 * buffer_size(), buffer_size() + shift));
  }
  std::memmove(start_ - shift, start_, used_);
  start_ -= shift;
  // What lies past the message now is its old last `shift` bytes, then what
  // lay past it before.
  zeroed_from_ = std::max(zeroed_from_, used_) + shift;
  return true;
}

void Arena::GrowTo(size_t size) {
  const std::span<uint8_t> buffer = grower_->Grow(AlignUp(size, kAlignment));
  CHECK_EQ(
      reinterpret_cast<uintptr_t>(buffer.data() + buffer.size()) % kAlignment,
      0u);
  const size_t length = static_cast<size_t>(end_ - start_);
  CHECK_GE(buffer.size(), length);
  // Same length from the new end: every position keeps its meaning, and the
  // bytes past used_ are copied too (zeroed or stale as zeroed_from_ says).
  uint8_t *new_start = buffer.data() + buffer.size() - length;
  std::memcpy(new_start, start_, length);
  grower_->ReleasePrevious();
  begin_ = buffer.data();
  end_ = buffer.data() + buffer.size();
  start_ = new_start;
}

void Arena::ZeroStale() {
  if (zeroed_from_ > used_) {
    std::memset(start_ + used_, 0, zeroed_from_ - used_);
  }
}

void Arena::ZeroUnused() {
  ZeroStale();
  zeroed_from_ = used_;
}

}  // namespace aos::fbs
