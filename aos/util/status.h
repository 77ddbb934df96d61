#ifndef AOS_UTIL_STATUS_H_
#define AOS_UTIL_STATUS_H_

// Error and Result<T>: how AOS reports failures caused by user input.
//
// Anything that reads files, command-line arguments, JSON, logs or shared
// memory left behind by other processes returns a Result<T>, which is either a
// T or an Error. An Error carries a human-readable message (which should name
// the file, position and fix where that applies) and the source location where
// it was made, so a failure can be traced without a debugger:
//
//   aos::Result<int> ParsePort(std::string_view text) {
//     int port;
//     if (!absl::SimpleAtoi(text, &port)) {
//       return aos::MakeError(std::format("'{}' is not a port number", text));
//     }
//     return port;
//   }
//
// Programmer errors (API misuse) are not Results: they CHECK-fail.

#include <expected>
#include <ostream>
#include <source_location>
#include <string>
#include <string_view>

namespace aos {

class Error {
 public:
  // Makes an error with `message`, remembering where it was made.
  explicit Error(std::string message, std::source_location location =
                                          std::source_location::current());

  // Upstream's spelling of MakeError (below); kept for source compatibility.
  static std::unexpected<Error> MakeUnexpectedError(
      std::string message,
      std::source_location location = std::source_location::current());

  // The message alone, as given.
  const std::string &message() const { return message_; }
  // Where the error was made.
  const std::source_location &source_location() const { return location_; }

  // "message (at file.cc:123)": for logs and tools run with --v.
  std::string ToString() const;

 private:
  std::string message_;
  std::source_location location_;
};

std::ostream &operator<<(std::ostream &os, const Error &error);

template <typename T>
using Result = std::expected<T, Error>;

// Returns an unexpected Error, for `return aos::MakeError("...");` from a
// function returning Result<T>.
std::unexpected<Error> MakeError(
    std::string message,
    std::source_location location = std::source_location::current());

// Dies with the error's message if `result` holds an error. For programs that
// choose to die on bad input (tests, tools' last resort).
template <typename T>
void CheckExpected(const Result<T> &result);

}  // namespace aos

// Implementation details below.
#include "glog/logging.h"

namespace aos {
template <typename T>
void CheckExpected(const Result<T> &result) {
  CHECK(result.has_value()) << result.error().ToString();
}
}  // namespace aos

#endif  // AOS_UTIL_STATUS_H_
