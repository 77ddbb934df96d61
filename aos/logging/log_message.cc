#include "aos/logging/log_message.h"

#include <string>

#include "aos/logging/logging.h"
#include "flatbuffers/default_allocator.h"

namespace aos::logging {
namespace {

// A heap allocator that remembers whether the builder outgrew its first
// block of `limit` bytes: a sender's allocator hands out exactly one block
// of max_size bytes and dies when asked for more. The builder keeps its
// bookkeeping (field locations, vtables) in the same block, so the finished
// size alone would underestimate what building needs.
class LimitCheckingAllocator : public flatbuffers::DefaultAllocator {
 public:
  explicit LimitCheckingAllocator(size_t limit) : limit_(limit) {}

  uint8_t *allocate(size_t size) override {
    exceeded_ |= size > limit_;
    return DefaultAllocator::allocate(size);
  }
  uint8_t *reallocate_downward(uint8_t *old_p, size_t old_size, size_t new_size,
                               size_t in_use_back,
                               size_t in_use_front) override {
    exceeded_ = true;
    return Allocator::reallocate_downward(old_p, old_size, new_size,
                                          in_use_back, in_use_front);
  }

  bool exceeded() const { return exceeded_; }

 private:
  const size_t limit_;
  bool exceeded_ = false;
};

// Whether a message with a text of `length` bytes builds within one block
// of `max_size` bytes, the way Sender builders build it.
bool Fits(size_t max_size, std::string_view name, size_t length) {
  LimitCheckingAllocator allocator(max_size);
  flatbuffers::FlatBufferBuilder fbb(max_size, &allocator);
  fbb.ForceDefaults(true);
  fbb.Finish(BuildLogMessage(&fbb, Level::LOG_UNKNOWN, 0, name, 0,
                             std::string(length, ' ')));
  return !allocator.exceeded();
}

}  // namespace

size_t LogTextCapacity(size_t max_size, std::string_view name) {
  // The size grows with the text (padding included), so search for the
  // longest text that fits.
  size_t fits = 0;
  size_t too_long = max_size + 1;
  if (!Fits(max_size, name, fits)) return 0;
  while (too_long - fits > 1) {
    const size_t middle = fits + (too_long - fits) / 2;
    if (Fits(max_size, name, middle)) {
      fits = middle;
    } else {
      too_long = middle;
    }
  }
  return fits < kMinLogTextCapacity ? 0 : fits;
}

flatbuffers::Offset<LogMessageFbs> BuildLogMessage(
    flatbuffers::FlatBufferBuilder *fbb, Level level, int32_t source_pid,
    std::string_view name, uint64_t send_failures, std::string_view text) {
  const flatbuffers::Offset<flatbuffers::String> message =
      fbb->CreateString(text.data(), text.size());
  const flatbuffers::Offset<flatbuffers::String> name_offset =
      fbb->CreateString(name.data(), name.size());
  LogMessageFbs::Builder builder(*fbb);
  builder.add_message(message);
  builder.add_level(level);
  builder.add_source_pid(source_pid);
  builder.add_name(name_offset);
  builder.add_send_failures(send_failures);
  return builder.Finish();
}

}  // namespace aos::logging
