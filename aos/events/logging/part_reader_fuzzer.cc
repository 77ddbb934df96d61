// Fuzz entry point: arbitrary bytes as a log part file. The first byte picks
// the encoding (its two low bits: raw, zstd, xz, snappy), the rest is the
// file. Opening and
// reading a part must never crash, abort or allocate without bound, whatever
// the bytes: it yields verified records and then a status saying why it
// stopped. See docs/decisions/fuzzing.md for how fuzzers run.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "aos/events/logging/part_reader.h"
#include "glog/logging.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  // An in-memory file: no disk I/O per input.
  static const int fd = memfd_create("part", MFD_CLOEXEC);
  PCHECK(fd >= 0);
  PCHECK(ftruncate(fd, 0) == 0);
  PCHECK(pwrite(fd, data + 1, size - 1, 0) == static_cast<ssize_t>(size - 1));
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  aos::logger::PartReaderOptions options;
  // Bounds what a damaged size or a zstd, xz or snappy bomb may make the
  // reader allocate.
  options.max_buffer_bytes = 16 << 20;
  // The first byte picks the encoding: 0 raw, 1 zstd, 2 xz, 3 snappy.
  static constexpr aos::logger::Compression kCompressions[] = {
      aos::logger::Compression::kNone, aos::logger::Compression::kZstd,
      aos::logger::Compression::kXz, aos::logger::Compression::kSnappy};
  options.compression = kCompressions[data[0] & 3];
  aos::Result<std::unique_ptr<aos::logger::PartReader>> reader =
      aos::logger::PartReader::Open(path, options);
  if (reader.has_value()) {
    const aos::logger::LogFileHeader &header = (*reader)->header();
    if (header.name() != nullptr) header.name()->string_view();
    while (const aos::logger::MessageHeader *message =
               (*reader)->ReadMessage()) {
      if (message->data() != nullptr) {
        CHECK_LE(message->data()->size(), (*reader)->message_span().size());
      }
    }
    CHECK(!(*reader)->status().ok() || (*reader)->status().message.empty());
  } else {
    CHECK(!reader.error().message().empty());
  }
  return 0;
}
