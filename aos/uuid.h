#ifndef AOS_UUID_H_
#define AOS_UUID_H_

// UUID: a 16-byte identifier, for boots, log files and event-loop instances.
//
// Every message carries the boot UUID of the node that sent it, so readers can
// tell messages from before and after a reboot apart. Random() makes a version
// 4 UUID; BootUUID() is the kernel's boot id, the same for every process on
// this machine until it reboots. The text form is the usual
// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" in lower-case hex.

#include <array>
#include <cstdint>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include "aos/util/status.h"
#include "flatbuffers/flatbuffers.h"

namespace aos {

class UUID {
 public:
  static constexpr size_t kDataSize = 16;
  // Length of the text form.
  static constexpr size_t kStringSize = 36;

  // A new random (version 4, variant 1) UUID from the kernel's CSPRNG.
  static UUID Random();

  // All zeros: "no UUID".
  static constexpr UUID Zero() { return UUID(); }

  // The kernel's boot id (/proc/sys/kernel/random/boot_id), read once.
  static const UUID &BootUUID();

  // Parses the text form. Errors name the offending character and position.
  static Result<UUID> FromString(std::string_view text);

  // Parses a UUID stored as text in a flatbuffer (upstream's overload, e.g.
  // a log header's boot UUID). CHECK-fails, quoting the text, if `text` is
  // null or not a UUID: the buffer was written by AOS. Parse text from users
  // with FromString(std::string_view).
  static UUID FromString(const flatbuffers::String *text);

  // Copies 16 bytes. CHECK-fails if `data` is not exactly kDataSize long.
  static UUID FromSpan(std::span<const uint8_t> data);

  // Copies the 16 bytes of a flatbuffer vector (e.g. RemoteMessage's
  // boot_uuid). CHECK-fails if it is null or not exactly kDataSize long.
  static UUID FromVector(const flatbuffers::Vector<uint8_t> *data);

  // The text form, lower-case hex with dashes.
  std::string ToString() const;

  std::span<const uint8_t, kDataSize> span() const { return data_; }
  bool IsZero() const { return *this == Zero(); }

  friend bool operator==(const UUID &, const UUID &) = default;
  friend auto operator<=>(const UUID &, const UUID &) = default;

 private:
  constexpr UUID() : data_{} {}

  std::array<uint8_t, kDataSize> data_;
};

std::ostream &operator<<(std::ostream &os, const UUID &uuid);

}  // namespace aos

#endif  // AOS_UUID_H_
