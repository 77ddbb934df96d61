#ifndef AOS_LOGGING_LOGGING_H_
#define AOS_LOGGING_LOGGING_H_

// AOS_LOG: printf-style logging that, from code running in an event loop's
// handlers, is published on the loop's /aos aos.logging.LogMessageFbs channel
// (so it reaches aos_dump and the logs without touching the disk or the heap),
// and otherwise goes to glog:
//
//   #include "aos/logging/logging.h"
//   AOS_LOG(INFO, "pong %d arrived %.3f ms late", value, late_ms);
//
// Levels: DEBUG, INFO, WARNING, ERROR, FATAL. FATAL also aborts through glog
// after the message was published.
//
// Where a message goes is decided per thread: while an event loop runs a
// handler (watcher, timer, phased loop or OnRun callback) it installs its log
// sender as the thread's LogImplementation, and removes it afterwards. A loop
// has a log sender when the configuration has a sendable /aos
// aos.logging.LogMessageFbs channel for it, unless it called
// EventLoop::SkipAosLog() (tools that watch that channel do). Everywhere else
// (main(), other threads, loops without the channel) AOS_LOG goes to glog
// with the caller's file and line, at the matching severity (DEBUG as INFO).
//
// The event-loop path does not allocate: the text is formatted into a buffer
// the sender made before the loop started, then built in place in the
// channel's message buffer. A text longer than the channel's max_size allows
// is cut and ends with "...[truncated, N bytes]" (N is the full length). The
// glog path allocates, as glog does.

#include <cstdarg>
#include <cstddef>
#include <span>
#include <string_view>

#include "aos/logging/log_message_generated.h"

namespace aos::logging {

// Where AOS_LOG sends messages on one thread. Implementations are called on
// the logging thread, possibly a real-time one: they must not allocate, block
// or throw.
class LogImplementation {
 public:
  virtual ~LogImplementation() = default;

  // Logs `format` expanded with `args` (a printf format and its arguments),
  // from `file`:`line`, at `level` (never LOG_UNKNOWN).
  virtual void DoLog(Level level, const char *file, int line,
                     const char *format, va_list args) = 0;
};

// The calling thread's implementation, or nullptr when AOS_LOG goes to glog.
LogImplementation *GetThreadLogImplementation();

// Makes `implementation` (nullptr: glog) the calling thread's and returns the
// previous one. The caller keeps ownership and must uninstall it before
// destroying it.
LogImplementation *SetThreadLogImplementation(
    LogImplementation *implementation);

// Formats "<basename of file>:<line>] <format expanded with args>" into
// `buffer` without allocating, drops one trailing newline, and returns the
// text (which lives in `buffer`; it is not NUL-terminated). If the text does
// not fit, it is cut so that it ends with "...[truncated, N bytes]", N being
// the length it would have had. `buffer` must hold at least
// kMinLogTextCapacity bytes.
std::string_view FormatLogText(std::span<char> buffer, const char *file,
                               int line, const char *format, va_list args);

// The smallest buffer FormatLogText accepts: room for the truncation marker
// and a little text.
inline constexpr size_t kMinLogTextCapacity = 64;

namespace internal {

// What AOS_LOG calls: dispatches to the thread's implementation or to glog.
// Does not return for FATAL.
void Log(Level level, const char *file, int line, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

}  // namespace internal
}  // namespace aos::logging

// Logs a printf-style message at `level` (DEBUG, INFO, WARNING, ERROR or
// FATAL); see the top of this file for where it goes.
#define AOS_LOG(level, format, ...)                                         \
  do {                                                                      \
    static_assert(                                                          \
        ::aos::logging::Level::level != ::aos::logging::Level::LOG_UNKNOWN, \
        "AOS_LOG takes DEBUG, INFO, WARNING, ERROR or FATAL");              \
    ::aos::logging::internal::Log(::aos::logging::Level::level, __FILE__,   \
                                  __LINE__,                                 \
                                  format __VA_OPT__(, ) __VA_ARGS__);       \
  } while (false)

#endif  // AOS_LOGGING_LOGGING_H_
