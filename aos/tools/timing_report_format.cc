#include "aos/tools/timing_report_format.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "aos/examples/latency_histogram.h"
#include "aos/tools/aos_cli_utils.h"

namespace aos::cli {
namespace {

std::string ChannelAt(const Configuration *config, int index) {
  if (config->channels() == nullptr || index < 0 ||
      static_cast<size_t>(index) >= config->channels()->size()) {
    return "channel " + std::to_string(index);
  }
  return ChannelLabel(config->channels()->Get(index));
}

bool Empty(const timing::Statistic *statistic) {
  return statistic == nullptr || std::isnan(statistic->average());
}

// "avg 21.0us min 4.6us max 70.7us sd 20.6us" from a statistic in seconds.
std::string Seconds(const timing::Statistic *statistic) {
  if (Empty(statistic)) return "-";
  auto duration = [](float seconds) {
    return examples::FormatDuration(
        std::chrono::nanoseconds(static_cast<int64_t>(
            std::llround(static_cast<double>(seconds) * 1e9))));
  };
  return "avg " + duration(statistic->average()) + " min " +
         duration(statistic->min()) + " max " + duration(statistic->max()) +
         " sd " + duration(statistic->standard_deviation());
}

std::string Bytes(const timing::Statistic *statistic) {
  if (Empty(statistic)) return "-";
  return "avg " + FormatBytes(statistic->average()) + " min " +
         FormatBytes(statistic->min()) + " max " +
         FormatBytes(statistic->max());
}

std::string Row(std::string_view kind, std::string_view what, uint32_t count) {
  char buffer[160];
  std::snprintf(buffer, sizeof(buffer), "  %-8s %-36.*s count %6u",
                std::string(kind).c_str(), static_cast<int>(what.size()),
                what.data(), count);
  return buffer;
}

template <typename T>
size_t Size(const flatbuffers::Vector<flatbuffers::Offset<T>> *vector) {
  return vector == nullptr ? 0 : vector->size();
}

}  // namespace

std::string FormatTimingReport(const Configuration *config,
                               const timing::Report &report,
                               monotonic_clock::time_point sent_time) {
  std::ostringstream out;
  out << (report.name() != nullptr ? report.name()->str() : "(unnamed)")
      << " (pid " << report.pid() << ")";
  if (report.version() != nullptr)
    out << " version " << report.version()->str();
  out << ", report at " << sent_time;
  if (report.send_failures() > 0) {
    out << ", " << report.send_failures() << " failed report sends";
  }
  out << "\n";
  for (size_t i = 0; i < Size(report.watchers()); ++i) {
    const timing::Watcher *watcher = report.watchers()->Get(i);
    out << Row("watcher", ChannelAt(config, watcher->channel_index()),
               watcher->count())
        << "  wakeup " << Seconds(watcher->wakeup_latency()) << "  handler "
        << Seconds(watcher->handler_time()) << "\n";
  }
  for (size_t i = 0; i < Size(report.senders()); ++i) {
    const timing::Sender *sender = report.senders()->Get(i);
    out << Row("sender", ChannelAt(config, sender->channel_index()),
               sender->count())
        << "  size " << Bytes(sender->size());
    if (sender->error_counts() != nullptr) {
      for (const timing::SendErrorCount *error : *sender->error_counts()) {
        if (error->count() == 0) continue;
        out << "  " << timing::EnumNameSendError(error->error()) << " "
            << error->count();
      }
    }
    out << "\n";
  }
  for (size_t i = 0; i < Size(report.fetchers()); ++i) {
    const timing::Fetcher *fetcher = report.fetchers()->Get(i);
    out << Row("fetcher", ChannelAt(config, fetcher->channel_index()),
               fetcher->count())
        << "  latency " << Seconds(fetcher->latency()) << "\n";
  }
  for (const auto &[kind, timers] :
       {std::pair{"timer", report.timers()},
        std::pair{"phased", report.phased_loops()}}) {
    for (size_t i = 0; i < Size(timers); ++i) {
      const timing::Timer *timer = timers->Get(i);
      const bool named = timer->name() != nullptr && timer->name()->size() > 0;
      out << Row(kind,
                 named ? timer->name()->string_view()
                       : std::string_view("(unnamed)"),
                 timer->count())
          << "  wakeup " << Seconds(timer->wakeup_latency()) << "  handler "
          << Seconds(timer->handler_time()) << "\n";
    }
  }
  return out.str();
}

}  // namespace aos::cli
