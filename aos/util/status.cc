#include "aos/util/status.h"

namespace aos {

Error::Error(std::string message, std::source_location location)
    : message_(std::move(message)), location_(location) {}

std::unexpected<Error> Error::MakeUnexpectedError(
    std::string message, std::source_location location) {
  return std::unexpected<Error>(Error(std::move(message), location));
}

std::string Error::ToString() const {
  return message_ + " (at " + location_.file_name() + ":" +
         std::to_string(location_.line()) + ")";
}

std::ostream &operator<<(std::ostream &os, const Error &error) {
  return os << error.ToString();
}

std::unexpected<Error> MakeError(std::string message,
                                 std::source_location location) {
  return std::unexpected<Error>(Error(std::move(message), location));
}

}  // namespace aos
