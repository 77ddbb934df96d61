#include "bench/common/bench_util.h"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <fstream>

#include "aos/time/realtime_at.h"
#include "aos/time/time.h"
#include "glog/logging.h"

namespace aos::bench {

void PinToCpu(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  PCHECK(sched_setaffinity(0, sizeof(set), &set) == 0)
      << ": pinning to CPU " << cpu;
}

int64_t NowNs() { return monotonic_clock::now().time_since_epoch().count(); }

SendTimes ReadSendTimes() {
  const monotonic_clock::time_point monotonic = monotonic_clock::now();
  return SendTimes{monotonic.time_since_epoch().count(),
                   RealtimeAt(monotonic).time_since_epoch().count()};
}

std::vector<std::string> SplitCommaList(const std::string &list) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start) parts.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return parts;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

int64_t ThreadCpuNs() {
  timespec now;
  PCHECK(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) == 0);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

}  // namespace aos::bench
