#ifndef AOS_EVENTS_LOGGING_LOG_DIFF_H_
#define AOS_EVENTS_LOGGING_LOG_DIFF_H_

// Compares two logs channel by channel: a replayed run against the original,
// or two replays of one log, to see whether a change altered behaviour and
// where it first did.
//
// Channels are matched by name and type (their indices may differ between
// the logs' configurations). For each, the messages are compared in order:
// payload bytes, monotonic and realtime send times. The result lists every
// channel with its counts and, if the channel differs, its first differing
// message (its index and both sides' times and contents as JSON).
//
//   Result<LogDiff> diff = DiffLogs(logs_a, logs_b, {.ignore = {"/aos"}});
//   std::cout << diff->ToJson();
//   return diff->equal ? 0 : 1;
//
// Both logs are read completely into memory, one channel's messages at a
// time per side; fine for test and regression logs, not for hour-long ones.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "aos/events/logging/logfile_sorting.h"
#include "aos/time/time.h"
#include "aos/util/status.h"

namespace aos::logger {

struct LogDiffOptions {
  // Channels expected to differ (timing reports, say): a name ("/aos") skips
  // every type on it, "name type" only that one.
  std::vector<std::string> ignore;
};

struct LogDiff {
  struct Side {
    monotonic_clock::time_point monotonic_sent_time;
    realtime_clock::time_point realtime_sent_time;
    // The message as JSON (or a note if it does not verify).
    std::string json;
  };
  struct Channel {
    std::string name;
    std::string type;
    uint64_t count_a = 0;
    uint64_t count_b = 0;
    bool equal = true;
    // Of the first message that differs (or exists on one side only).
    uint64_t first_difference_index = 0;
    std::optional<Side> a;
    std::optional<Side> b;
  };
  // Every channel with messages in either log, by name then type; ignored
  // channels are not listed.
  std::vector<Channel> channels;
  bool equal = true;

  // {"equal": ..., "channels": [ one object per line ]}.
  std::string ToJson() const;
};

// Compares log `a` with log `b` (each SortParts' output for one log).
// Returns an error for unreadable logs.
Result<LogDiff> DiffLogs(const std::vector<LogFile> &a,
                         const std::vector<LogFile> &b,
                         const LogDiffOptions &options);

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_LOG_DIFF_H_
