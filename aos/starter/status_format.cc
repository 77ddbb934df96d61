#include "aos/starter/status_format.h"

#include <signal.h>
#include <string.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <vector>

namespace aos::starter {

std::optional<SortBy> ParseSortBy(std::string_view text) {
  if (text == "name") return SortBy::kName;
  if (text == "state") return SortBy::kState;
  if (text == "pid") return SortBy::kPid;
  if (text == "uptime") return SortBy::kUptime;
  return std::nullopt;
}

std::string FormatDuration(std::chrono::nanoseconds duration) {
  using std::chrono::duration_cast;
  if (duration < std::chrono::nanoseconds(0)) duration = {};
  const double seconds = std::chrono::duration<double>(duration).count();
  char text[32];
  if (seconds < 10) {
    snprintf(text, sizeof(text), "%.1fs", seconds);
  } else if (seconds < 60) {
    snprintf(text, sizeof(text), "%ds", static_cast<int>(seconds));
  } else if (seconds < 3600) {
    const int total = static_cast<int>(seconds);
    snprintf(text, sizeof(text), "%dm%02ds", total / 60, total % 60);
  } else if (seconds < 86400) {
    const int total = static_cast<int>(seconds / 60);
    snprintf(text, sizeof(text), "%dh%02dm", total / 60, total % 60);
  } else {
    const int total = static_cast<int>(seconds / 3600);
    snprintf(text, sizeof(text), "%dd%02dh", total / 24, total % 24);
  }
  return text;
}

std::string FormatExitCode(uint8_t code) {
  if (code > 128 && code - 128 < NSIG) {
    const char *name = sigabbrev_np(code - 128);
    if (name != nullptr) {
      return std::to_string(code) + " (SIG" + name + ")";
    }
  }
  return std::to_string(code);
}

namespace {

bool Alive(State state) {
  return state == State::STARTING || state == State::RUNNING ||
         state == State::STOPPING;
}

std::chrono::nanoseconds Uptime(const ApplicationStatus &application,
                                monotonic_clock::time_point now) {
  if (!Alive(application.state())) return {};
  return now - monotonic_clock::time_point(
                   std::chrono::nanoseconds(application.last_start_time()));
}

bool HasPid(const ApplicationStatus &application) {
  return flatbuffers::IsFieldPresent(&application, ApplicationStatus::VT_PID);
}

std::string Name(const ApplicationStatus &application) {
  return application.name() != nullptr ? application.name()->str() : "?";
}

}  // namespace

std::string FormatStatusTable(const Status &status,
                              monotonic_clock::time_point now, SortBy sort) {
  std::vector<const ApplicationStatus *> rows;
  if (status.statuses() != nullptr) {
    for (const ApplicationStatus *application : *status.statuses()) {
      rows.push_back(application);
    }
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [&](const ApplicationStatus *a, const ApplicationStatus *b) {
                     switch (sort) {
                       case SortBy::kName:
                         return Name(*a) < Name(*b);
                       case SortBy::kState:
                         return a->state() < b->state();
                       case SortBy::kPid:
                         return a->pid() < b->pid();
                       case SortBy::kUptime:
                         return Uptime(*a, now) > Uptime(*b, now);
                     }
                     return false;
                   });
  std::vector<std::vector<std::string>> cells = {
      {"NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "STOP REASON",
       "BINARY"}};
  for (const ApplicationStatus *application : rows) {
    const bool alive = Alive(application->state());
    std::string state = EnumNameState(application->state());
    if (application->state() == State::WAITING &&
        application->next_start_time() != 0) {
      state +=
          " (" +
          FormatDuration(monotonic_clock::time_point(std::chrono::nanoseconds(
                             application->next_start_time())) -
                         now) +
          ")";
    }
    const bool ran = HasPid(*application);
    cells.push_back(
        {Name(*application), state,
         alive ? std::to_string(application->pid()) : "-",
         alive ? FormatDuration(Uptime(*application, now)) : "-",
         std::to_string(application->restarts()),
         ran && !(alive && application->restarts() == 0 &&
                  application->last_exit_code() == 0)
             ? FormatExitCode(application->last_exit_code())
             : "-",
         application->state() == State::STOPPED
             ? EnumNameLastStopReason(application->last_stop_reason())
             : "-",
         application->file_state() == FileState::NOT_RUNNING
             ? "-"
             : EnumNameFileState(application->file_state())});
  }
  std::vector<size_t> widths(cells[0].size(), 0);
  for (const auto &row : cells) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::ostringstream out;
  for (const auto &row : cells) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
  return out.str();
}

std::string FormatApplicationStatus(const ApplicationStatus &application,
                                    monotonic_clock::time_point now) {
  std::ostringstream out;
  const State state = application.state();
  out << Name(application) << " - " << EnumNameState(state) << "\n";
  if (Alive(state)) {
    out << "  pid:          " << application.pid() << " (run "
        << application.id() << ")\n";
    out << "  uptime:       " << FormatDuration(Uptime(application, now))
        << "\n";
  } else if (HasPid(application)) {
    out << "  last pid:     " << application.pid() << " (run "
        << application.id() << ")\n";
  }
  if (state == State::WAITING && application.next_start_time() != 0) {
    out << "  restarting in "
        << FormatDuration(monotonic_clock::time_point(std::chrono::nanoseconds(
                              application.next_start_time())) -
                          now)
        << "\n";
  }
  out << "  restarts:     " << application.restarts() << "\n";
  if (HasPid(application) && (!Alive(state) || application.restarts() > 0)) {
    out << "  last exit:    " << FormatExitCode(application.last_exit_code())
        << "\n";
  }
  if (state == State::STOPPED) {
    out << "  stop reason:  "
        << EnumNameLastStopReason(application.last_stop_reason()) << "\n";
  }
  out << "  binary:       " << EnumNameFileState(application.file_state())
      << "\n";
  if (Alive(state)) {
    out << "  timing report: "
        << (application.has_active_timing_report() ? "active" : "none recently")
        << "\n";
  }
  if (const util::ProcessInfo *info = application.process_info();
      info != nullptr) {
    char text[128];
    snprintf(text, sizeof(text),
             "  cpu:          %.1f%%\n  memory:       %.1f MB\n",
             info->cpu_usage() * 100.0, info->physical_memory() / 1e6);
    out << text;
  }
  return out.str();
}

}  // namespace aos::starter
