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

#include <cstddef>
#include <string_view>

namespace aos::logger {

enum class Compression {
  kNone,  // ".bfbs": the stream as is.
  kZstd,  // ".bfbs.zst": zstd frames, one per flush.
};

// The extension a part file with `compression` ends with (".bfbs" or
// ".bfbs.zst").
std::string_view PartExtension(Compression compression);

// The compression a file named `path` uses, judged by its extension: zstd
// for ".zst", none otherwise.
Compression CompressionFromPath(std::string_view path);

// Whether `path` names a part file (".bfbs" or ".bfbs.zst"); log tools use
// it to pick the parts out of a folder.
bool IsPartFileName(std::string_view path);

// Every size-prefixed flatbuffer written starts at a multiple of this from
// the start of the stream, so flatbuffers read in place are aligned for
// their largest scalar.
inline constexpr size_t kPartAlignment = 8;

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_PART_FORMAT_H_
