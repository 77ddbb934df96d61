#ifndef AOS_TOOLS_TIMING_REPORT_FORMAT_H_
#define AOS_TOOLS_TIMING_REPORT_FORMAT_H_

// Printing aos.timing.Report messages as tables, for the live viewer
// (aos_timing_report_streamer): per application, its watchers, senders,
// fetchers, timers and phased loops with counts and latency statistics.
//
//   ping (pid 1234), report at 12.000000000sec
//     watcher  /test aos.examples.Pong      count 100  wakeup avg 21.0us ...
//     sender   /test aos.examples.Ping      count 100  size avg 32 B ...
//     timer    ping                         count 100  wakeup avg 12.0us ...

#include <string>

#include "aos/configuration_generated.h"
#include "aos/events/event_loop_generated.h"
#include "aos/time/time.h"

namespace aos::cli {

// The report as a table. Channel indices are resolved against `config` (the
// configuration the reporting process uses; "channel N" if out of range).
// Statistics that are NaN (nothing happened) print as "-".
std::string FormatTimingReport(const Configuration *config,
                               const timing::Report &report,
                               monotonic_clock::time_point sent_time);

}  // namespace aos::cli

#endif  // AOS_TOOLS_TIMING_REPORT_FORMAT_H_
