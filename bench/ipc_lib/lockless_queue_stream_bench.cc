// Two processes stream messages through a lockless queue; the reader is an
// event-loop-style watcher (signalfd + poll, the arm/check/sleep protocol).
// Compared in the same run, same placement:
//   raw_signal     one rt signal per message, no queue (the floor of a
//                  signal-per-message design),
//   every_message  queue + one signal per message (upstream's design),
//   coalesced      queue + signals only when the watcher is about to sleep.
// The sender never gets more than half a ring ahead of the reader (the reader
// publishes its count in shared memory; raw signals are bounded by the
// kernel's pending-signal limit), so the rate is what both sides sustain.
// Prints messages/s delivered (sender start to last message read), messages
// lost (reader overrun; should be 0), signals and wakeups, median of --runs
// runs, and the ratio of each mode to raw_signal.

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "aos/init.h"
#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/ipc_lib/signalfd.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_int32(messages_small, 2000000, "Messages per run for 64 B.");
DEFINE_int32(messages_large, 4000, "Messages per run for 1 MiB.");
DEFINE_int32(runs, 3, "Runs per mode; the median is reported.");
DEFINE_int32(sender_cpu, 0, "CPU of the sender (-1: unpinned).");
DEFINE_int32(reader_cpu, 1, "CPU of the reader (-1: unpinned).");

namespace aos::ipc_lib {
namespace {

enum class Mode { kRawSignal, kEveryMessage, kCoalesced };
const char *ModeName(Mode mode) {
  switch (mode) {
    case Mode::kRawSignal:
      return "raw_signal";
    case Mode::kEveryMessage:
      return "every_message";
    case Mode::kCoalesced:
      return "coalesced";
  }
  return "?";
}

void Pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  PCHECK(sched_setaffinity(0, sizeof(set), &set) == 0);
}

int64_t NowNs() { return monotonic_clock::now().time_since_epoch().count(); }

struct ReaderReport {
  int64_t received = 0;
  int64_t lost = 0;
  int64_t wakeups = 0;
  int64_t end_ns = 0;
};

struct RunResult {
  double messages_per_second;
  int64_t lost;
  int64_t signals;
  int64_t wakeups;
};

LocklessQueueConfiguration Config(size_t size) {
  LocklessQueueConfiguration config;
  config.num_watchers = 1;
  config.num_senders = 1;
  config.num_pinners = 0;
  config.queue_size = size <= 4096 ? 4096 : 16;
  config.message_data_size = size;
  return config;
}

RunResult RunOnce(Mode mode, size_t size, int64_t messages,
                  const std::string &path) {
  unlink(path.c_str());
  // The reader's progress, for the sender's flow control.
  auto *progress = static_cast<std::atomic<int64_t> *>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
           -1, 0));
  CHECK(progress != MAP_FAILED);
  progress->store(0);
  int ready[2], report[2];
  PCHECK(pipe(ready) == 0);
  PCHECK(pipe(report) == 0);
  const pid_t child = fork();
  if (child == 0) {
    Pin(FLAGS_reader_cpu);
    SignalFd signalfd({kWakeupSignal});
    ReaderReport result;
    std::vector<char> buffer(size);
    if (mode == Mode::kRawSignal) {
      const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
      PCHECK(write(ready[1], &tid, sizeof(tid)) == sizeof(tid));
      while (result.received < messages) {
        struct pollfd fd = {signalfd.fd(), POLLIN, 0};
        poll(&fd, 1, -1);
        ++result.wakeups;
        while (signalfd.Read().ssi_signo != 0) ++result.received;
      }
    } else {
      Result<MemoryMappedQueue> queue =
          MemoryMappedQueue::Open(path, Config(size), 0770);
      CHECK(queue.has_value()) << queue.error();
      auto watcher = LocklessQueueWatcher::Make(
          queue->queue(), 0,
          mode == Mode::kCoalesced ? WakeupPolicy::kCoalesce
                                   : WakeupPolicy::kEveryMessage);
      CHECK(watcher.has_value());
      LocklessQueueReader reader(queue->queue());
      const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
      PCHECK(write(ready[1], &tid, sizeof(tid)) == sizeof(tid));
      QueueIndex next =
          QueueIndex::Zero(static_cast<uint32_t>(Config(size).queue_size));
      while (result.received + result.lost < messages) {
        while (signalfd.Read().ssi_signo != 0) {
        }
        watcher->PrepareToSleep();
        while (true) {
          MessageInfo info;
          const LocklessQueueReader::Result read =
              reader.Read(next.index(), &info, buffer.data());
          if (read == LocklessQueueReader::Result::NOTHING_NEW) break;
          if (read == LocklessQueueReader::Result::GOOD) {
            ++result.received;
            next = next.Increment();
            progress->store(result.received, std::memory_order_relaxed);
          } else {
            // Overrun: skip to the newest and count what we missed.
            const QueueIndex latest = reader.LatestIndex();
            result.lost += latest.DistanceFrom(next);
            next = latest;
          }
        }
        if (result.received + result.lost >= messages) break;
        struct pollfd fd = {signalfd.fd(), POLLIN, 0};
        poll(&fd, 1, -1);
        ++result.wakeups;
      }
    }
    result.end_ns = NowNs();
    PCHECK(write(report[1], &result, sizeof(result)) == sizeof(result));
    _exit(0);
  }
  Pin(FLAGS_sender_cpu);
  pid_t reader_tid;
  PCHECK(read(ready[0], &reader_tid, sizeof(reader_tid)) == sizeof(reader_tid));
  int64_t signals = 0;
  int64_t start_ns;
  if (mode == Mode::kRawSignal) {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    info.si_code = SI_QUEUE;
    info.si_pid = getpid();
    info.si_uid = getuid();
    start_ns = NowNs();
    for (int64_t i = 0; i < messages; ++i) {
      // The kernel's queue of pending signals is bounded: retry when full.
      while (syscall(SYS_rt_tgsigqueueinfo, child, reader_tid, kWakeupSignal,
                     &info) != 0) {
        PCHECK(errno == EAGAIN);
        sched_yield();
      }
      ++signals;
    }
  } else {
    Result<MemoryMappedQueue> queue =
        MemoryMappedQueue::Open(path, Config(size), 0770);
    CHECK(queue.has_value()) << queue.error();
    auto sender =
        LocklessQueueSender::Make(queue->queue(), std::chrono::seconds(0));
    CHECK(sender.has_value());
    LocklessQueueWakeUpper wake_upper(queue->queue());
    const int64_t max_ahead = static_cast<int64_t>(Config(size).queue_size / 2);
    std::vector<char> payload(size, 'p');
    start_ns = NowNs();
    for (int64_t i = 0; i < messages; ++i) {
      while (i - progress->load(std::memory_order_relaxed) >= max_ahead) {
        sched_yield();
      }
      payload[0] = static_cast<char>(i);
      CHECK_EQ(sender->Send(payload.data(), size, monotonic_clock::min_time,
                            realtime_clock::min_time, monotonic_clock::min_time,
                            0xFFFFFFFFu, UUID::Zero()),
               LocklessQueueSender::Result::GOOD);
      signals += wake_upper.Wakeup(0);
    }
  }
  ReaderReport result;
  PCHECK(read(report[0], &result, sizeof(result)) == sizeof(result));
  int status;
  PCHECK(waitpid(child, &status, 0) == child);
  for (int fd : {ready[0], ready[1], report[0], report[1]}) close(fd);
  munmap(progress, 4096);
  return RunResult{static_cast<double>(result.received) * 1e9 /
                       static_cast<double>(result.end_ns - start_ns),
                   result.lost, signals, result.wakeups};
}

void Main() {
  // Signals aimed at the reader's thread must not kill anyone else.
  IgnoreWakeupSignal();
  const std::string path =
      "/dev/shm/aos_stream_bench_" + std::to_string(getpid()) + "/queue.v1";
  printf("placement: sender cpu %d, reader cpu %d; median of %d runs\n",
         FLAGS_sender_cpu, FLAGS_reader_cpu, FLAGS_runs);
  for (size_t size : {size_t{64}, size_t{1} << 20}) {
    const int64_t messages =
        size <= 4096 ? FLAGS_messages_small : FLAGS_messages_large;
    double baseline = 0;
    for (Mode mode :
         {Mode::kRawSignal, Mode::kEveryMessage, Mode::kCoalesced}) {
      std::vector<RunResult> runs;
      for (int i = 0; i < FLAGS_runs; ++i) {
        runs.push_back(RunOnce(mode, size, messages, path));
      }
      std::sort(runs.begin(), runs.end(),
                [](const RunResult &a, const RunResult &b) {
                  return a.messages_per_second < b.messages_per_second;
                });
      const RunResult &median = runs[runs.size() / 2];
      if (mode == Mode::kRawSignal) baseline = median.messages_per_second;
      printf(
          "%8zu B %-14s %12.0f msg/s (min %.0f, max %.0f)  x%.2f of "
          "raw_signal  lost %lld  signals %lld  wakeups %lld\n",
          size, ModeName(mode), median.messages_per_second,
          runs.front().messages_per_second, runs.back().messages_per_second,
          median.messages_per_second / baseline,
          static_cast<long long>(median.lost),
          static_cast<long long>(median.signals),
          static_cast<long long>(median.wakeups));
      fflush(stdout);
    }
  }
  unlink(path.c_str());
  rmdir(path.substr(0, path.rfind('/')).c_str());
}

}  // namespace
}  // namespace aos::ipc_lib

int main(int argc, char **argv) {
  aos::InitGoogle(&argc, &argv);
  aos::ipc_lib::Main();
  return 0;
}
