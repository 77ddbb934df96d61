#include "bench/events/pingpong_common.h"

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <algorithm>

#include "aos/time/time.h"
#include "glog/logging.h"

namespace aos::bench {

Samples::Samples(size_t capacity)
    : capacity_(capacity),
      mapped_bytes_(capacity * sizeof(int64_t) + sizeof(size_t)) {
  void *memory = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  PCHECK(memory != MAP_FAILED)
      << ": mapping " << mapped_bytes_ << " bytes of samples";
  count_ = static_cast<size_t *>(memory);
  data_ = reinterpret_cast<int64_t *>(count_ + 1);
}

Samples::~Samples() { munmap(count_, mapped_bytes_); }

void Samples::Add(int64_t sample) {
  const size_t index = __atomic_fetch_add(count_, 1, __ATOMIC_RELAXED);
  if (index < capacity_) data_[index] = sample;
}

std::vector<int64_t> Samples::Take() {
  std::vector<int64_t> result(data_, data_ + std::min(*count_, capacity_));
  *count_ = 0;
  return result;
}

Stats Summarize(std::vector<int64_t> samples) {
  CHECK(!samples.empty()) << ": a ping-pong run produced no samples";
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    return samples[std::min(samples.size() - 1,
                            static_cast<size_t>(q * samples.size()))] /
           1000.0;
  };
  return {samples.front() / 1000.0, at(0.5), at(0.99), at(0.999),
          samples.back() / 1000.0};
}

void PinToCpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  PCHECK(sched_setaffinity(0, sizeof(set), &set) == 0)
      << ": pinning to CPU " << cpu;
}

void WaitFor(pid_t pid, pid_t other) {
  int status;
  PCHECK(waitpid(pid, &status, 0) == pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (other > 0) kill(other, SIGKILL);
    LOG(FATAL) << "benchmark child " << pid << " failed, status " << status;
  }
}

int64_t NowNs() { return monotonic_clock::now().time_since_epoch().count(); }

}  // namespace aos::bench
