#ifndef AOS_STARTER_STATUS_FORMAT_H_
#define AOS_STARTER_STATUS_FORMAT_H_

// How aos_starter shows starterd's status to people: a table of every
// application (like `systemctl list-units`), and one application in detail
// (like `systemctl status <unit>`). Times are relative to `now`, the
// monotonic time the status is shown at (same clock as starterd's, on the
// same machine).

#include <chrono>
#include <string>
#include <string_view>

#include "aos/starter/starter_generated.h"
#include "aos/time/time.h"

namespace aos::starter {

// How to order the table's rows.
enum class SortBy { kName, kState, kPid, kUptime };

// Parses --sort ("name", "state", "pid", "uptime"); nullopt otherwise.
std::optional<SortBy> ParseSortBy(std::string_view text);

// "0.4s", "12s", "3m05s", "2h01m", "3d04h".
std::string FormatDuration(std::chrono::nanoseconds duration);

// "0", "1", or "137 (SIGKILL)" for 128 + a signal number.
std::string FormatExitCode(uint8_t code);

// The table, a header line then one line per application:
//   NAME  STATE  PID  UPTIME  RESTARTS  LAST EXIT  STOP REASON  BINARY
std::string FormatStatusTable(const Status &status,
                              monotonic_clock::time_point now, SortBy sort);

// One application, several lines.
std::string FormatApplicationStatus(const ApplicationStatus &application,
                                    monotonic_clock::time_point now);

}  // namespace aos::starter

#endif  // AOS_STARTER_STATUS_FORMAT_H_
