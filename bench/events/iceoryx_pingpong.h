// The iceoryx peer of the event-loop ping-pong benchmark.
//
// iceoryx (Debian packages iceoryx, libiceoryx-posh-dev, version 2.0) moves
// messages between processes through shared memory managed by a daemon,
// RouDi. The benchmark starts its own RouDi with a private memory
// configuration (IceoryxRoudi) and plays the same ping-pong as the
// ShmEventLoop one (RunIceoryxCase): each reply is loaned, written in place
// and published from the wakeup that received the previous message, so
// exactly one message is in flight. Wakeups are event-driven: each process
// blocks in an iceoryx WaitSet (a semaphore in shared memory), as an AOS
// watcher blocks in epoll, so the comparison is wakeup against wakeup, not
// against iceoryx's busy-polling figures.

#ifndef BENCH_EVENTS_ICEORYX_PINGPONG_H_
#define BENCH_EVENTS_ICEORYX_PINGPONG_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aos/util/status.h"
#include "bench/events/pingpong_common.h"

namespace aos::bench {

// An iox-roudi process owned by the benchmark: started with a private config
// sized for payloads up to `max_payload`, stopped (SIGTERM, then SIGKILL
// after 5 s) when destroyed. RouDi's shared memory and sockets have fixed
// machine-wide names in iceoryx 2.0, so only one RouDi can run at a time.
class IceoryxRoudi {
 public:
  // Starts `roudi_path` and waits until it accepts clients. Errors say what
  // to fix: the binary is missing, another RouDi is running (it holds
  // /tmp/iox-unique-roudi.lock), or RouDi exited or did not become ready
  // within 10 s (the error quotes the end of its log). Stale shared memory
  // left by a RouDi that was killed is removed by RouDi itself; `notes`
  // receives a line saying so.
  static Result<std::unique_ptr<IceoryxRoudi>> Start(
      const std::string &roudi_path, size_t max_payload, std::string *notes);

  IceoryxRoudi(const IceoryxRoudi &) = delete;
  IceoryxRoudi &operator=(const IceoryxRoudi &) = delete;
  ~IceoryxRoudi();

 private:
  IceoryxRoudi(pid_t pid, std::string work_dir)
      : pid_(pid), work_dir_(std::move(work_dir)) {}

  pid_t pid_;
  // Holds the config and RouDi's log; removed on destruction.
  std::string work_dir_;
};

// One iceoryx ping-pong of `round_trips` round trips after `warmup`
// discarded ones, `payload` bytes per message (at least 16; all written if
// `write_payload`, else the header and the last byte), ping pinned to
// `ping_cpu` and pong to `pong_cpu`. Returns both hops' one-way latencies
// (publish to receipt after the wakeup) in nanoseconds, collected through
// `samples`. A RouDi must be running. Dies if a player fails.
std::vector<int64_t> RunIceoryxCase(size_t payload, bool write_payload,
                                    int round_trips, int warmup, int ping_cpu,
                                    int pong_cpu, Samples *samples);

}  // namespace aos::bench

#endif  // BENCH_EVENTS_ICEORYX_PINGPONG_H_
