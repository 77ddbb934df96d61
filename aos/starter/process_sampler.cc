#include "aos/starter/process_sampler.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace aos::starter {

namespace {

// /proc/<pid>/stat fields after the command (which may contain spaces and
// parentheses, so parsing starts after the last ')').
struct Stat {
  std::string comm;
  uint64_t cpu_ticks = 0;
  uint64_t rss_pages = 0;
};

std::optional<Stat> ReadStat(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(file, text)) return std::nullopt;
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos) {
    return std::nullopt;
  }
  Stat stat;
  stat.comm = text.substr(open + 1, close - open - 1);
  std::istringstream fields(text.substr(close + 2));
  // Field 3 (state) is the first after the command; utime and stime are 14
  // and 15, rss is 24.
  std::string field;
  for (int index = 3; index <= 24 && fields >> field; ++index) {
    if (index == 14 || index == 15) stat.cpu_ticks += std::stoull(field);
    if (index == 24) stat.rss_pages = std::stoull(field);
  }
  return stat;
}

}  // namespace

flatbuffers::Offset<util::ProcessInfo> ProcessSampler::Sample(
    flatbuffers::FlatBufferBuilder *fbb, pid_t pid,
    monotonic_clock::time_point now) {
  std::optional<Stat> stat = ReadStat(pid);
  if (!stat) return {};
  float cpu_usage = 0;
  auto it = previous_.find(pid);
  if (it != previous_.end() && now > it->second.time &&
      stat->cpu_ticks >= it->second.cpu_ticks) {
    const double seconds =
        std::chrono::duration<double>(now - it->second.time).count();
    cpu_usage = (stat->cpu_ticks - it->second.cpu_ticks) /
                static_cast<double>(sysconf(_SC_CLK_TCK)) / seconds;
  }
  previous_[pid] = Previous{stat->cpu_ticks, now};
  const auto name = fbb->CreateString(stat->comm);
  util::ProcessInfo::Builder builder(*fbb);
  builder.add_pid(pid);
  builder.add_name(name);
  builder.add_cpu_usage(cpu_usage);
  builder.add_physical_memory(stat->rss_pages * sysconf(_SC_PAGESIZE));
  return builder.Finish();
}

void ProcessSampler::KeepOnly(const std::vector<pid_t> &pids) {
  std::erase_if(previous_, [&](const auto &entry) {
    return std::find(pids.begin(), pids.end(), entry.first) == pids.end();
  });
}

}  // namespace aos::starter
