// Two processes stream messages through a lockless queue; the reader is an
// event-loop-style watcher (signalfd + poll, the drain/arm/check/sleep
// protocol of LocklessQueueWatcher). Compared in the same run, same placement:
//   raw_signal     one rt signal per message, no queue, no payload: the
//                  ceiling of any signal-per-message design;
//   copy_floor     no queue, no signals: the sender copies each payload into
//                  one of queue_size + 1 rotating shared buffers (the queue's
//                  footprint) and bumps a counter; the reader spins on the
//                  counter and copies the payload out. The ceiling of any
//                  copying shared-memory transport with this footprint;
//   clock_floor    copy_floor plus what the queue's contract adds to every
//                  message: reading both send times the way the queue does
//                  (bench::ReadSendTimes; stored in the payload's first 16
//                  bytes). The ceiling of
//                  any transport that stamps both send times;
//   every_message  queue + one signal per message (upstream's design);
//   coalesced      queue + a signal only when the watcher is about to sleep;
//   queue_poll     queue, no watcher and no signals: the reader spins on
//                  Read (backing off like copy_floor's). The ceiling of the
//                  queue itself, to tell its cost from the wakeups'.
// The coalesced reader arms late (LocklessQueueWatcher): it arms only after
// a pass that found nothing and disarms as soon as a message shows up, so
// senders only signal a reader that is really about to sleep
// (--arm_late=false: arm after every pass and handle everything found while
// armed, the looser form).
// The sender never gets more than half a ring ahead of the reader (the reader
// publishes its count in shared memory after each batch; the sender rereads
// it only when it hits the limit), so the rate is what both sides sustain.
// Prints messages/s delivered (sender start to last message read), messages
// lost (reader overrun; should be 0), signals, wakeups and arms, the median of
// --runs runs with the min and max, and the ratio of each mode to raw_signal
// and to copy_floor.

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "aos/init.h"
#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/ipc_lib/signalfd.h"
#include "bench/common/bench_util.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_int32(messages_small, 2000000, "Messages per run for 64 B.");
DEFINE_int32(messages_large, 4000, "Messages per run for 1 MiB.");
DEFINE_int32(runs, 5, "Runs per mode; the median is reported.");
DEFINE_int32(sender_cpu, 0, "CPU of the sender (-1: unpinned).");
DEFINE_int32(reader_cpu, 1, "CPU of the reader (-1: unpinned).");
DEFINE_string(modes,
              "raw_signal,copy_floor,clock_floor,every_message,coalesced,"
              "queue_poll",
              "Comma-separated modes to run, in this order.");
DEFINE_bool(arm_late, true,
            "Coalesced reader: arm only after a pass that found nothing and "
            "disarm as soon as a message shows up (false: arm after every "
            "pass and handle everything found while armed).");
DEFINE_int64(spin_before_arm_ns, 0,
             "Coalesced reader with --arm_late: after a pass that found "
             "nothing, keep polling this long before arming.");
DEFINE_int32(queue_size_small, 4096,
             "Ring length for payloads up to 4 KiB (16 for larger ones).");
DEFINE_string(sizes, "64,1048576", "Comma-separated payload sizes in bytes.");

namespace aos::ipc_lib {
namespace {

enum class Mode {
  kRawSignal,
  kCopyFloor,
  kClockFloor,
  kEveryMessage,
  kCoalesced,
  kQueuePoll
};
const char *ModeName(Mode mode) {
  switch (mode) {
    case Mode::kRawSignal:
      return "raw_signal";
    case Mode::kCopyFloor:
      return "copy_floor";
    case Mode::kClockFloor:
      return "clock_floor";
    case Mode::kEveryMessage:
      return "every_message";
    case Mode::kCoalesced:
      return "coalesced";
    case Mode::kQueuePoll:
      return "queue_poll";
  }
  return "?";
}

std::vector<Mode> ParseModes(const std::string &list) {
  std::vector<Mode> modes;
  for (const std::string &name : bench::SplitCommaList(list)) {
    bool found = false;
    for (Mode mode :
         {Mode::kRawSignal, Mode::kCopyFloor, Mode::kClockFloor,
          Mode::kEveryMessage, Mode::kCoalesced, Mode::kQueuePoll}) {
      if (name == ModeName(mode)) {
        modes.push_back(mode);
        found = true;
      }
    }
    CHECK(found) << ": unknown mode '" << name << "' in --modes";
  }
  return modes;
}

using bench::NowNs;
using bench::PinToCpu;
using bench::ReadSendTimes;
using bench::SendTimes;
using bench::ThreadCpuNs;

// Busy-waits politely: spins a while, then lets other processes on this CPU
// run (the machine is shared).
void Backoff(int *spins) {
  if (++*spins < 1000) {
    __builtin_ia32_pause();
  } else {
    sched_yield();
  }
}

struct ReaderReport {
  int64_t received = 0;
  int64_t lost = 0;
  int64_t wakeups = 0;
  // PrepareToSleep calls: each one makes the sender's next look at the
  // watcher slot a cache miss.
  int64_t arms = 0;
  int64_t end_ns = 0;
};

struct RunResult {
  double messages_per_second;
  int64_t lost;
  int64_t signals;
  int64_t wakeups;
  int64_t arms;
  // Times the sender found itself max_ahead messages ahead and waited for the
  // reader: many means the reader is the bottleneck.
  int64_t sender_stalls;
  // CPU time the sender used per message (its wall time per message is
  // 1e9 / messages_per_second; the difference is time it did not run).
  double sender_cpu_ns;
};

LocklessQueueConfiguration Config(size_t size) {
  LocklessQueueConfiguration config;
  config.num_watchers = 1;
  config.num_senders = 1;
  config.num_pinners = 0;
  config.queue_size =
      size <= 4096 ? static_cast<size_t>(FLAGS_queue_size_small) : 16;
  config.message_data_size = size;
  return config;
}

// Shared between the two processes of a run, each counter on its own cache
// line so the sender's and the reader's writes do not collide.
struct Shared {
  alignas(64) std::atomic<int64_t> read;  // reader -> sender flow control
  alignas(64) std::atomic<int64_t> sent;  // copy_floor: sender -> reader
};

void ReaderProcess(Mode mode, size_t size, int64_t messages,
                   const std::string &path, Shared *shared, int ready_fd,
                   int report_fd) {
  PinToCpu(FLAGS_reader_cpu);
  SignalFd signalfd({kWakeupSignal});
  ReaderReport result;
  std::vector<char> buffer(size);
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (mode == Mode::kRawSignal) {
    PCHECK(write(ready_fd, &tid, sizeof(tid)) == sizeof(tid));
    while (result.received < messages) {
      struct pollfd fd = {signalfd.fd(), POLLIN, 0};
      poll(&fd, 1, -1);
      ++result.wakeups;
      result.received += signalfd.Drain();
      shared->read.store(result.received, std::memory_order_release);
    }
  } else if (mode == Mode::kCopyFloor || mode == Mode::kClockFloor) {
    const LocklessQueueConfiguration config = Config(size);
    const size_t stride = config.message_size();
    const size_t buffers = config.queue_size + 1;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    PCHECK(fd >= 0);
    const char *pool =
        static_cast<const char *>(mmap(nullptr, stride * buffers, PROT_READ,
                                       MAP_SHARED | MAP_POPULATE, fd, 0));
    CHECK(pool != MAP_FAILED);
    close(fd);
    PCHECK(write(ready_fd, &tid, sizeof(tid)) == sizeof(tid));
    size_t next = 0;
    int spins = 0;
    while (result.received < messages) {
      const int64_t sent = shared->sent.load(std::memory_order_acquire);
      if (sent == result.received) {
        Backoff(&spins);
        continue;
      }
      spins = 0;
      while (result.received < sent) {
        memcpy(buffer.data(), pool + next * stride, size);
        next = next + 1 == buffers ? 0 : next + 1;
        ++result.received;
      }
      shared->read.store(result.received, std::memory_order_release);
    }
  } else {
    Result<MemoryMappedQueue> queue =
        MemoryMappedQueue::Open(path, Config(size), 0770);
    CHECK(queue.has_value()) << queue.error();
    // queue_poll has no watcher.
    std::optional<LocklessQueueWatcher> watcher =
        mode == Mode::kQueuePoll
            ? std::optional<LocklessQueueWatcher>()
            : LocklessQueueWatcher::Make(queue->queue(), 0,
                                         mode == Mode::kCoalesced
                                             ? WakeupPolicy::kCoalesce
                                             : WakeupPolicy::kEveryMessage);
    CHECK(mode == Mode::kQueuePoll || watcher.has_value());
    LocklessQueueReader reader(queue->queue());
    PCHECK(write(ready_fd, &tid, sizeof(tid)) == sizeof(tid));
    QueueIndex next =
        QueueIndex::Zero(static_cast<uint32_t>(Config(size).queue_size));
    // Reads the next message; false if there is none.
    auto read_one = [&]() {
      MessageInfo info;
      const LocklessQueueReader::Result read =
          reader.Read(next.index(), &info, buffer.data());
      if (read == LocklessQueueReader::Result::NOTHING_NEW) return false;
      if (read == LocklessQueueReader::Result::GOOD) {
        ++result.received;
        next = next.Increment();
      } else {
        // Overrun: skip to the newest and count what we missed.
        const QueueIndex latest = reader.LatestIndex();
        result.lost += latest.DistanceFrom(next);
        next = latest;
      }
      return true;
    };
    // Reads until NOTHING_NEW; returns how many it read or skipped.
    auto read_all = [&]() {
      int64_t count = 0;
      while (read_one()) {
        if (++count % 256 == 0) {
          shared->read.store(result.received, std::memory_order_release);
        }
      }
      shared->read.store(result.received, std::memory_order_release);
      return count;
    };
    int spins = 0;
    while (mode == Mode::kQueuePoll && result.received < messages) {
      if (read_all() == 0) {
        Backoff(&spins);
      } else {
        spins = 0;
      }
    }
    while (result.received + result.lost < messages) {
      if (FLAGS_arm_late) {
        // Arm only once a pass found nothing, and keep the armed window
        // short: if a message came in, disarm before handling it. Senders
        // then only see a watcher armed that is about to sleep.
        if (read_all() > 0) continue;
        // Optionally keep looking a little longer before arming: a sender
        // that is only slightly slower than us then rarely sees us armed.
        bool found = false;
        for (const int64_t give_up = NowNs() + FLAGS_spin_before_arm_ns;
             !found && NowNs() < give_up;) {
          found = read_all() > 0;
        }
        if (found) continue;
        watcher->PrepareToSleep();
        ++result.arms;
        if (read_one()) {
          watcher->DoneSleeping();
          continue;
        }
      } else {
        read_all();
        watcher->PrepareToSleep();
        ++result.arms;
        if (read_all() > 0) {
          // Still busy: spare the senders a signal, and go round again. (A
          // signal sent since arming stays pending; it only makes the next
          // sleep return at once, and is drained then.)
          watcher->DoneSleeping();
          continue;
        }
      }
      if (result.received + result.lost >= messages) break;
      struct pollfd fd = {signalfd.fd(), POLLIN, 0};
      poll(&fd, 1, -1);
      ++result.wakeups;
      signalfd.Drain();
    }
  }
  result.end_ns = NowNs();
  PCHECK(write(report_fd, &result, sizeof(result)) == sizeof(result));
}

RunResult RunOnce(Mode mode, size_t size, int64_t messages,
                  const std::string &path) {
  unlink(path.c_str());
  auto *shared = static_cast<Shared *>(mmap(nullptr, sizeof(Shared),
                                            PROT_READ | PROT_WRITE,
                                            MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  CHECK(shared != MAP_FAILED);
  shared->read.store(0);
  shared->sent.store(0);
  const int64_t max_ahead = static_cast<int64_t>(Config(size).queue_size / 2);
  // copy_floor's rotating buffers, in a file like the queue's.
  char *pool = nullptr;
  size_t pool_size = 0;
  if (mode == Mode::kCopyFloor || mode == Mode::kClockFloor) {
    const LocklessQueueConfiguration config = Config(size);
    pool_size = config.message_size() * (config.queue_size + 1);
    PCHECK(mkdir(path.substr(0, path.rfind('/')).c_str(), 0770) == 0 ||
           errno == EEXIST);
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0660);
    PCHECK(fd >= 0);
    PCHECK(ftruncate(fd, static_cast<off_t>(pool_size)) == 0);
    pool = static_cast<char *>(mmap(nullptr, pool_size, PROT_READ | PROT_WRITE,
                                    MAP_SHARED | MAP_POPULATE, fd, 0));
    CHECK(pool != MAP_FAILED);
    close(fd);
  }
  int ready[2], report[2];
  PCHECK(pipe(ready) == 0);
  PCHECK(pipe(report) == 0);
  const pid_t child = fork();
  if (child == 0) {
    ReaderProcess(mode, size, messages, path, shared, ready[1], report[1]);
    _exit(0);
  }
  PinToCpu(FLAGS_sender_cpu);
  pid_t reader_tid;
  PCHECK(read(ready[0], &reader_tid, sizeof(reader_tid)) == sizeof(reader_tid));
  int64_t signals = 0;
  int64_t start_ns;
  const int64_t start_cpu_ns = ThreadCpuNs();
  std::vector<char> payload(size, 'p');
  int64_t read_so_far = 0;
  int64_t stalls = 0;
  // Waits until message i is at most max_ahead ahead of the reader.
  auto flow_control = [&](int64_t i) {
    int spins = 0;
    while (i - read_so_far >= max_ahead) {
      read_so_far = shared->read.load(std::memory_order_acquire);
      if (i - read_so_far >= max_ahead) {
        if (spins == 0) ++stalls;
        Backoff(&spins);
      }
    }
  };
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
  } else if (mode == Mode::kCopyFloor || mode == Mode::kClockFloor) {
    const LocklessQueueConfiguration config = Config(size);
    const size_t stride = config.message_size();
    const size_t buffers = config.queue_size + 1;
    size_t next = 0;
    start_ns = NowNs();
    for (int64_t i = 0; i < messages; ++i) {
      flow_control(i);
      payload[0] = static_cast<char>(i);
      if (mode == Mode::kClockFloor && size >= 16) {
        const SendTimes times = ReadSendTimes();
        memcpy(payload.data(), &times, sizeof(times));
      }
      memcpy(pool + next * stride, payload.data(), size);
      next = next + 1 == buffers ? 0 : next + 1;
      shared->sent.store(i + 1, std::memory_order_release);
    }
  } else {
    Result<MemoryMappedQueue> queue =
        MemoryMappedQueue::Open(path, Config(size), 0770);
    CHECK(queue.has_value()) << queue.error();
    auto sender =
        LocklessQueueSender::Make(queue->queue(), std::chrono::seconds(0));
    CHECK(sender.has_value());
    LocklessQueueWakeUpper wake_upper(queue->queue());
    start_ns = NowNs();
    for (int64_t i = 0; i < messages; ++i) {
      flow_control(i);
      payload[0] = static_cast<char>(i);
      CHECK_EQ(sender->Send(payload.data(), size, monotonic_clock::min_time,
                            realtime_clock::min_time, monotonic_clock::min_time,
                            0xFFFFFFFFu, UUID::Zero()),
               LocklessQueueSender::Result::GOOD);
      signals += wake_upper.Wakeup(0);
    }
  }
  const int64_t sender_cpu_ns = ThreadCpuNs() - start_cpu_ns;
  ReaderReport result;
  PCHECK(read(report[0], &result, sizeof(result)) == sizeof(result));
  int status;
  PCHECK(waitpid(child, &status, 0) == child);
  for (int fd : {ready[0], ready[1], report[0], report[1]}) close(fd);
  munmap(shared, sizeof(Shared));
  if (pool != nullptr) munmap(pool, pool_size);
  unlink(path.c_str());
  return RunResult{
      static_cast<double>(result.received) * 1e9 /
          static_cast<double>(result.end_ns - start_ns),
      result.lost,
      signals,
      result.wakeups,
      result.arms,
      stalls,
      static_cast<double>(sender_cpu_ns) / static_cast<double>(messages)};
}

void Main() {
  // Signals aimed at the reader's thread must not kill anyone else.
  IgnoreWakeupSignal();
  const std::string directory =
      "/dev/shm/aos_stream_bench_" + std::to_string(getpid());
  const std::string path = directory + "/queue.v1";
  printf("placement: sender cpu %d, reader cpu %d; median of %d runs\n",
         FLAGS_sender_cpu, FLAGS_reader_cpu, FLAGS_runs);
  const std::vector<Mode> modes = ParseModes(FLAGS_modes);
  for (const std::string &size_name : bench::SplitCommaList(FLAGS_sizes)) {
    const size_t size = std::stoul(size_name);
    const int64_t messages =
        size <= 4096 ? FLAGS_messages_small : FLAGS_messages_large;
    // Run i of every mode, then run i + 1: a noisy minute on the shared
    // machine then hits every mode alike.
    std::vector<std::vector<RunResult>> runs(modes.size());
    for (int i = 0; i < FLAGS_runs; ++i) {
      for (size_t m = 0; m < modes.size(); ++m) {
        runs[m].push_back(RunOnce(modes[m], size, messages, path));
      }
    }
    double raw_signal = 0;
    double copy_floor = 0;
    for (size_t m = 0; m < modes.size(); ++m) {
      std::sort(runs[m].begin(), runs[m].end(),
                [](const RunResult &a, const RunResult &b) {
                  return a.messages_per_second < b.messages_per_second;
                });
      const RunResult &median = runs[m][runs[m].size() / 2];
      if (modes[m] == Mode::kRawSignal) {
        raw_signal = median.messages_per_second;
      }
      if (modes[m] == Mode::kCopyFloor) {
        copy_floor = median.messages_per_second;
      }
    }
    for (size_t m = 0; m < modes.size(); ++m) {
      const RunResult &median = runs[m][runs[m].size() / 2];
      char ratios[64] = "";
      if (raw_signal > 0) {
        snprintf(ratios, sizeof(ratios), "  x%.2f of raw_signal",
                 median.messages_per_second / raw_signal);
      }
      if (copy_floor > 0) {
        snprintf(ratios + strlen(ratios), sizeof(ratios) - strlen(ratios),
                 "  x%.2f of copy_floor",
                 median.messages_per_second / copy_floor);
      }
      printf(
          "%8zu B %-14s %10.0f msg/s (min %.0f, max %.0f)%s  lost %lld  "
          "signals %lld  wakeups %lld  arms %lld  sender_stalls %lld  "
          "sender_cpu %.0f ns/msg\n",
          size, ModeName(modes[m]), median.messages_per_second,
          runs[m].front().messages_per_second,
          runs[m].back().messages_per_second, ratios,
          static_cast<long long>(median.lost),
          static_cast<long long>(median.signals),
          static_cast<long long>(median.wakeups),
          static_cast<long long>(median.arms),
          static_cast<long long>(median.sender_stalls), median.sender_cpu_ns);
    }
    fflush(stdout);
  }
  rmdir(directory.c_str());
}

}  // namespace
}  // namespace aos::ipc_lib

int main(int argc, char **argv) {
  aos::InitGoogle(&argc, &argv);
  aos::ipc_lib::Main();
  return 0;
}
