#include "aos/events/logging/part_format.h"

namespace aos::logger {

std::string_view PartExtension(Compression compression) {
  switch (compression) {
    case Compression::kNone:
      return ".bfbs";
    case Compression::kZstd:
      return ".bfbs.zst";
  }
  return ".bfbs";
}

Compression CompressionFromPath(std::string_view path) {
  return path.ends_with(".zst") ? Compression::kZstd : Compression::kNone;
}

bool IsPartFileName(std::string_view path) {
  return path.ends_with(".bfbs") || path.ends_with(".bfbs.zst");
}

}  // namespace aos::logger
