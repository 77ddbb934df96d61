#include "aos/uuid.h"

#include <sys/random.h>

#include <cstring>
#include <fstream>

#include "glog/logging.h"

namespace aos {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsDashPosition(size_t i) {
  return i == 8 || i == 13 || i == 18 || i == 23;
}

}  // namespace

UUID UUID::Random() {
  UUID result;
  size_t filled = 0;
  while (filled < kDataSize) {
    const ssize_t n =
        getrandom(result.data_.data() + filled, kDataSize - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    PCHECK(n > 0) << "getrandom failed";
    filled += n;
  }
  // RFC 4122: version 4 (random), variant 1.
  result.data_[6] = (result.data_[6] & 0x0f) | 0x40;
  result.data_[8] = (result.data_[8] & 0x3f) | 0x80;
  return result;
}

const UUID &UUID::BootUUID() {
  static const UUID boot_uuid = [] {
    std::ifstream file("/proc/sys/kernel/random/boot_id");
    std::string text;
    std::getline(file, text);
    Result<UUID> parsed = FromString(text);
    CHECK(parsed.has_value()) << "Cannot read the kernel boot id from "
                                 "/proc/sys/kernel/random/boot_id: "
                              << parsed.error();
    return *parsed;
  }();
  return boot_uuid;
}

Result<UUID> UUID::FromString(std::string_view text) {
  if (text.size() != kStringSize) {
    return MakeError("UUID \"" + std::string(text) + "\" has " +
                     std::to_string(text.size()) +
                     " characters; expected 36 like "
                     "\"01234567-89ab-cdef-0123-456789abcdef\"");
  }
  UUID result;
  size_t byte = 0;
  for (size_t i = 0; i < text.size();) {
    if (IsDashPosition(i)) {
      if (text[i] != '-') {
        return MakeError("UUID \"" + std::string(text) + "\" needs '-' at " +
                         "position " + std::to_string(i) + ", found '" +
                         text[i] + "'");
      }
      ++i;
      continue;
    }
    const int high = HexValue(text[i]);
    const int low = HexValue(text[i + 1]);
    if (high < 0 || low < 0) {
      const size_t bad = high < 0 ? i : i + 1;
      return MakeError("UUID \"" + std::string(text) +
                       "\" has a non-hex character '" + text[bad] +
                       "' at position " + std::to_string(bad));
    }
    result.data_[byte++] = static_cast<uint8_t>(high * 16 + low);
    i += 2;
  }
  return result;
}

UUID UUID::FromString(const flatbuffers::String *text) {
  CHECK(text != nullptr) << ": no UUID string in the flatbuffer";
  Result<UUID> parsed = FromString(text->string_view());
  CHECK(parsed.has_value()) << ": " << parsed.error().message();
  return *parsed;
}

UUID UUID::FromVector(const flatbuffers::Vector<uint8_t> *data) {
  CHECK(data != nullptr) << ": no UUID bytes in the flatbuffer";
  return FromSpan(std::span<const uint8_t>(data->data(), data->size()));
}

UUID UUID::FromSpan(std::span<const uint8_t> data) {
  CHECK_EQ(data.size(), kDataSize) << "A UUID is exactly 16 bytes";
  UUID result;
  std::memcpy(result.data_.data(), data.data(), kDataSize);
  return result;
}

std::string UUID::ToString() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string result;
  result.reserve(kStringSize);
  for (size_t i = 0; i < kDataSize; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) result.push_back('-');
    result.push_back(kHex[data_[i] >> 4]);
    result.push_back(kHex[data_[i] & 0xf]);
  }
  return result;
}

std::ostream &operator<<(std::ostream &os, const UUID &uuid) {
  return os << uuid.ToString();
}

}  // namespace aos
