#ifndef AOS_STARTER_PROCESS_SAMPLER_H_
#define AOS_STARTER_PROCESS_SAMPLER_H_

// CPU and memory use of supervised processes, read from /proc, for the
// process_info of starterd's status. CPU use is a rate, so each call
// compares with the previous sample of the same process; the first sample
// reports 0.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "aos/starter/process_info_generated.h"
#include "aos/time/time.h"
#include "flatbuffers/flatbuffers.h"

namespace aos::starter {

class ProcessSampler {
 public:
  // Builds the ProcessInfo of `pid` (pid, name, cpu_usage, physical_memory)
  // into `fbb`, or returns a null offset if /proc has no such process.
  flatbuffers::Offset<util::ProcessInfo> Sample(
      flatbuffers::FlatBufferBuilder *fbb, pid_t pid,
      monotonic_clock::time_point now);

  // Forgets the samples of every pid not in `pids` (they exited, and the
  // pid may be reused), so the memory used stays bounded.
  void KeepOnly(const std::vector<pid_t> &pids);

 private:
  struct Previous {
    uint64_t cpu_ticks;
    monotonic_clock::time_point time;
  };
  std::map<pid_t, Previous> previous_;
};

}  // namespace aos::starter

#endif  // AOS_STARTER_PROCESS_SAMPLER_H_
