#include "aos/events/logging/part_format.h"

namespace aos::logger {

std::string_view PartExtension(Compression compression) {
  switch (compression) {
    case Compression::kNone:
      return ".bfbs";
    case Compression::kZstd:
      return ".bfbs.zst";
    case Compression::kXz:
      return ".bfbs.xz";
    case Compression::kSnappy:
      return ".bfbs.sz";
  }
  return ".bfbs";
}

Compression CompressionFromPath(std::string_view path) {
  if (path.ends_with(".zst")) return Compression::kZstd;
  if (path.ends_with(".xz")) return Compression::kXz;
  if (path.ends_with(".sz")) return Compression::kSnappy;
  return Compression::kNone;
}

bool IsPartFileName(std::string_view path) {
  return path.ends_with(".bfbs") || path.ends_with(".bfbs.zst") ||
         path.ends_with(".bfbs.xz") || path.ends_with(".bfbs.sz");
}

namespace {

// The table of a reflected CRC-32 with polynomial `reversed`.
struct CrcTable {
  uint32_t entries[256];
  constexpr explicit CrcTable(uint32_t reversed) : entries() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t crc = i;
      for (int bit = 0; bit < 8; ++bit) {
        crc = (crc & 1) ? (crc >> 1) ^ reversed : crc >> 1;
      }
      entries[i] = crc;
    }
  }
};

constexpr CrcTable kCrc32cTable(0x82f63b78);  // Castagnoli
constexpr CrcTable kCrc32Table(0xedb88320);   // IEEE 802.3 (zlib)

uint32_t Accumulate(const CrcTable &table, std::span<const uint8_t> data) {
  uint32_t crc = 0xffffffff;
  for (const uint8_t byte : data) {
    crc = table.entries[(crc ^ byte) & 0xff] ^ (crc >> 8);
  }
  return crc;
}

}  // namespace

uint32_t Crc32c(std::span<const uint8_t> data) {
  return ~Accumulate(kCrc32cTable, data);
}

uint32_t UpstreamSnappyCrc(std::span<const uint8_t> data) {
  return Accumulate(kCrc32Table, data);
}

}  // namespace aos::logger
