#ifndef AOS_EVENTS_LOGGING_PART_FORMAT_H_
#define AOS_EVENTS_LOGGING_PART_FORMAT_H_

// The on-disk encodings of a log part file, shared by PartWriter and
// PartReader.
//
// A part's content is a stream of size-prefixed flatbuffers (a little-endian
// uint32 length, then that many bytes of flatbuffer): one LogFileHeader, then
// MessageHeaders (logger.fbs). The file holds that stream either as is
// (".bfbs") or compressed with zstd as a sequence of independent frames
// (".bfbs.zst"): every flush ends a frame, so a file cut anywhere (a killed
// process, a full disk, a power cut) decodes up to its last complete frame.
// The extension says which; see docs/decisions/logging.md.
//
// Readers also read upstream's compressed parts, which this logger never
// writes: ".xz" (an xz stream, liblzma) and ".sz" (snappy's framing format:
// chunks with a masked CRC each).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace aos::logger {

enum class Compression {
  kNone,  // ".bfbs": the stream as is.
  kZstd,  // ".bfbs.zst": zstd frames, one per flush.
  // Read only (upstream's encodings):
  kXz,      // ".bfbs.xz": xz (LZMA2) streams.
  kSnappy,  // ".bfbs.sz": snappy framing format.
};

// The extension a part file with `compression` ends with (".bfbs",
// ".bfbs.zst", ".bfbs.xz" or ".bfbs.sz").
std::string_view PartExtension(Compression compression);

// The compression a file named `path` uses, judged by its extension: zstd
// for ".zst", xz for ".xz", snappy for ".sz", none otherwise.
Compression CompressionFromPath(std::string_view path);

// Whether `path` names a part file (".bfbs", optionally followed by ".zst",
// ".xz" or ".sz"); log tools use it to pick the parts out of a folder.
bool IsPartFileName(std::string_view path);

// Every size-prefixed flatbuffer written starts at a multiple of this from
// the start of the stream, so flatbuffers read in place are aligned for
// their largest scalar.
inline constexpr size_t kPartAlignment = 8;

// The checksums of snappy's framing format, for .sz parts: CRC-32C
// (Castagnoli, as the format's specification says), and the variant
// upstream's SnappyEncoder writes instead (the CRC-32 of zlib/IEEE without
// its final inversion). Both unmasked; SnappyMask() is the format's mask.
uint32_t Crc32c(std::span<const uint8_t> data);
uint32_t UpstreamSnappyCrc(std::span<const uint8_t> data);
inline uint32_t SnappyMask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8;
}

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_PART_FORMAT_H_
