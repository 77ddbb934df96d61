#include "aos/logging/logging.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "glog/logging.h"

namespace aos::logging {
namespace {

// Constant-initialized, so reading it never allocates or runs a guard, even
// on a thread's first use (the libraries are linked statically: static TLS).
thread_local LogImplementation *thread_implementation = nullptr;

google::LogSeverity GlogSeverity(Level level) {
  switch (level) {
    case Level::DEBUG:
    case Level::INFO:
      return google::GLOG_INFO;
    case Level::WARNING:
      return google::GLOG_WARNING;
    case Level::ERROR:
    case Level::LOG_UNKNOWN:
      return google::GLOG_ERROR;
    case Level::FATAL:
      return google::GLOG_FATAL;
  }
  return google::GLOG_ERROR;
}

// vsnprintf into a string of the right size: the glog path may allocate.
std::string FormatToString(const char *format, va_list args) {
  va_list copy;
  va_copy(copy, args);
  const int length = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (length < 0) return std::string("[bad format string] ") + format;
  std::string text(static_cast<size_t>(length), '\0');
  std::vsnprintf(text.data(), text.size() + 1, format, args);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

void LogToGlog(Level level, const char *file, int line, const char *format,
               va_list args) {
  const std::string text = FormatToString(format, args);
  if (level == Level::FATAL) {
    google::LogMessageFatal(file, line).stream() << text;
  }
  google::LogMessage(file, line, GlogSeverity(level)).stream() << text;
}

}  // namespace

LogImplementation *GetThreadLogImplementation() {
  return thread_implementation;
}

LogImplementation *SetThreadLogImplementation(
    LogImplementation *implementation) {
  return std::exchange(thread_implementation, implementation);
}

std::string_view FormatLogText(std::span<char> buffer, const char *file,
                               int line, const char *format, va_list args) {
  CHECK_GE(buffer.size(), kMinLogTextCapacity)
      << ": FormatLogText needs a buffer of at least " << kMinLogTextCapacity
      << " bytes";
  const char *slash = std::strrchr(file, '/');
  const char *basename = slash == nullptr ? file : slash + 1;
  // The prefix is short next to kMinLogTextCapacity unless the file name is
  // absurd; then it is cut like any text.
  const int prefix =
      std::snprintf(buffer.data(), buffer.size(), "%s:%d] ", basename, line);
  const size_t prefix_length =
      std::min(static_cast<size_t>(std::max(prefix, 0)), buffer.size() - 1);

  va_list copy;
  va_copy(copy, args);
  int body = std::vsnprintf(buffer.data() + prefix_length,
                            buffer.size() - prefix_length, format, copy);
  va_end(copy);
  if (body < 0) {
    // An encoding error (e.g. an invalid wide string): say so rather than
    // sending half a message.
    body = std::snprintf(buffer.data() + prefix_length,
                         buffer.size() - prefix_length,
                         "[bad format string] %s", format);
  }
  const size_t full_length = prefix_length + static_cast<size_t>(body);
  // vsnprintf keeps the last byte for the NUL, so a text of exactly
  // buffer.size() bytes lost its last character too.
  if (full_length < buffer.size()) {
    size_t length = full_length;
    if (length > 0 && buffer[length - 1] == '\n') --length;
    return std::string_view(buffer.data(), length);
  }
  char marker[48];
  const int marker_length = std::snprintf(
      marker, sizeof(marker), "...[truncated, %zu bytes]", full_length);
  std::memcpy(buffer.data() + buffer.size() - marker_length, marker,
              static_cast<size_t>(marker_length));
  return std::string_view(buffer.data(), buffer.size());
}

namespace internal {

void Log(Level level, const char *file, int line, const char *format, ...) {
  va_list args;
  va_start(args, format);
  LogImplementation *implementation = thread_implementation;
  if (implementation != nullptr) {
    va_list copy;
    va_copy(copy, args);
    implementation->DoLog(level, file, line, format, copy);
    va_end(copy);
  }
  // FATAL goes to glog as well, which aborts.
  if (implementation == nullptr || level == Level::FATAL) {
    LogToGlog(level, file, line, format, args);
  }
  va_end(args);
}

}  // namespace internal
}  // namespace aos::logging
