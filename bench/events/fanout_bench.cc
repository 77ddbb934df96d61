// Fan-out: one sender process, N watcher processes on one 64 B channel, as
// a joystick or robot-state channel watched by many processes.
//
// Two modes per N:
//   paced  the sender sends one message every --period_us (long enough for
//          every watcher to handle it), so each message wakes every watcher
//          from sleep. Reported: one-way latency (callback start - send time)
//          to the first and to the last watcher of each message, p50/p99;
//          the sender's wall time per Send() (publish + wakeups); and the
//          watchers' sleeps per message (voluntary context switches, i.e.
//          how many blocked in epoll and needed a signal).
//   burst  the sender sends --burst messages back to back while the
//          watchers are busy handling the previous ones; reported: the
//          sender's wall ns per send. With coalescing, watchers that are
//          awake are not signalled, so this should stay flat in N.
//
// The floor, measured in the same run with the same N and placement: the
// sender process itself signals the N watcher processes (rt signal carrying
// the send time, sigqueue to each in turn), each waiting on a signalfd in
// epoll. Its latency to the last watcher and its cost per send are what any
// signal-based fan-out must pay.
//
// Placements: unpinned, and "spread" (sender on CPU 0, watcher i on CPU
// i % nproc). Runs alternate the mechanisms so a noisy minute hits both;
// each figure is the median over --runs.

#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/shm_event_loop.h"
#include "aos/init.h"
#include "aos/ipc_lib/shm_base.h"
#include "bench/common/bench_util.h"
#include "bench/events/bench_message_generated.h"
#include "bench/events/pingpong_common.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(watchers, "1,2,4,8,16,32", "Watcher counts N to measure.");
DEFINE_int32(messages, 1000, "Paced messages per run.");
DEFINE_int32(period_us, 0,
             "Pacing period; 0 picks max(1000, 60 * N) us, enough for N "
             "wakeups on 2 cores.");
DEFINE_int32(burst, 5000, "Back-to-back messages per burst run.");
DEFINE_int32(runs, 3, "Runs per case; medians over runs are reported.");
DEFINE_int32(sender_priority, 0,
             "SCHED_FIFO priority of the sender in the burst runs (needs "
             "root or CAP_SYS_NICE); 0 leaves it a normal process. On a "
             "robot the producer of a fan-out channel usually outranks its "
             "watchers: then a wakeup does not preempt it, and coalescing "
             "leaves about one signal per watcher per burst.");

namespace aos::bench {
namespace {

constexpr int kMaxWatchers = 32;
const int kRawSignal = SIGRTMIN + 5;

// The queue holds a whole burst, so no watcher is lapped and no send is
// refused as too fast (20 ms storage; runs are farther apart than that).
constexpr std::string_view kConfig = R"json({
  "channels": [
    {"name": "/fanout", "type": "aos.bench.BenchMessage", "max_size": 128,
     "frequency": 1000000, "channel_storage_duration": 20000000,
     "num_senders": 2, "num_watchers": 40}
  ]
})json";

// What the players write for the parent: per watcher, per message, the
// one-way latency in ns (0: not received), and per watcher its voluntary
// context switches.
struct Shared {
  std::atomic<int> ready;
  std::atomic<int> received;
  int64_t latency_ns[kMaxWatchers][4096];
  int64_t sleeps[kMaxWatchers];
  int64_t send_ns[4096];
  int64_t send_cpu_ns;  // the sender's CPU time over all its sends
  int64_t burst_ns;
};

Shared *MapShared() {
  void *memory = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  PCHECK(memory != MAP_FAILED);
  return new (memory) Shared();
}

void Reset(Shared *shared) {
  shared->ready = 0;
  shared->received = 0;
  memset(shared->latency_ns, 0, sizeof(shared->latency_ns));
  memset(shared->sleeps, 0, sizeof(shared->sleeps));
  memset(shared->send_ns, 0, sizeof(shared->send_ns));
  shared->send_cpu_ns = 0;
  shared->burst_ns = 0;
}

int64_t VoluntarySwitches() {
  rusage usage;
  PCHECK(getrusage(RUSAGE_SELF, &usage) == 0);
  return usage.ru_nvcsw;
}

enum class Mode { kPaced, kBurst };

struct Placement {
  std::string name;
  bool spread;
};

int WatcherCpu(const Placement &p, int i) {
  return p.spread ? i % static_cast<int>(std::thread::hardware_concurrency())
                  : -1;
}

void Send(Sender<BenchMessage> *sender, int32_t sequence) {
  auto builder = sender->MakeBuilder();
  uint8_t *bytes = nullptr;
  const auto data =
      builder.fbb()->CreateUninitializedVector<uint8_t>(40, &bytes);
  memset(bytes, static_cast<uint8_t>(sequence), 40);
  BenchMessage::Builder message = builder.MakeBuilder<BenchMessage>();
  message.add_sequence(sequence);
  message.add_payload(data);
  builder.CheckOk(builder.Send(message.Finish()));
}

[[noreturn]] void RunAosWatcher(const Configuration *config, int index, int cpu,
                                Mode mode, Shared *shared) {
  PinToCpu(cpu);
  ShmEventLoop loop(config);
  loop.SkipTimingReport();
  int64_t switches_at_start = 0;
  loop.MakeWatcher("/fanout", [&](const BenchMessage &message) {
    const int64_t latency =
        (loop.monotonic_now() - loop.context().monotonic_event_time).count();
    const int32_t sequence = message.sequence();
    if (sequence < 0) {
      shared->sleeps[index] = VoluntarySwitches() - switches_at_start;
      loop.Exit();
      return;
    }
    if (mode == Mode::kPaced && sequence < 4096) {
      shared->latency_ns[index][sequence] = latency;
    }
    shared->received.fetch_add(1, std::memory_order_relaxed);
  });
  loop.OnRun([&]() {
    switches_at_start = VoluntarySwitches();
    shared->ready.fetch_add(1);
  });
  CHECK(loop.Run().has_value());
  _exit(0);
}

void WaitReady(Shared *shared, int n) {
  while (shared->ready.load() < n) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // The last watcher counts itself in OnRun, just before it sleeps.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

[[noreturn]] void RunAosSender(const Configuration *config, int n,
                               int period_us, Mode mode, Shared *shared) {
  PinToCpu(-1);
  ShmEventLoop loop(config);
  loop.SkipTimingReport();
  auto sender = loop.MakeSender<BenchMessage>("/fanout");
  WaitReady(shared, n);
  if (mode == Mode::kPaced) {
    for (int i = 0; i < FLAGS_messages; ++i) {
      const int64_t start = NowNs();
      const int64_t cpu_start = ThreadCpuNs();
      Send(&sender, i);
      shared->send_cpu_ns += ThreadCpuNs() - cpu_start;
      shared->send_ns[i] = NowNs() - start;
      std::this_thread::sleep_until(std::chrono::steady_clock::time_point(
          std::chrono::nanoseconds(start + int64_t{period_us} * 1000)));
    }
  } else {
    if (FLAGS_sender_priority > 0) {
      sched_param param = {};
      param.sched_priority = FLAGS_sender_priority;
      PCHECK(sched_setscheduler(0, SCHED_FIFO, &param) == 0)
          << ": --sender_priority=" << FLAGS_sender_priority
          << " needs root or CAP_SYS_NICE";
    }
    const int64_t start = NowNs();
    const int64_t cpu_start = ThreadCpuNs();
    for (int i = 0; i < FLAGS_burst; ++i) Send(&sender, i);
    shared->send_cpu_ns = ThreadCpuNs() - cpu_start;
    shared->burst_ns = NowNs() - start;
    if (FLAGS_sender_priority > 0) {
      // Back to a normal process, so its waits below let the watchers run.
      sched_param param = {};
      PCHECK(sched_setscheduler(0, SCHED_OTHER, &param) == 0);
    }
    // Lets the watchers drain before the end marker.
    while (shared->received.load() < n * FLAGS_burst) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  Send(&sender, -1);
  _exit(0);
}

// The floor's watcher: an rt signal carrying the send time, from a
// signalfd in epoll.
[[noreturn]] void RunRawWatcher(int index, int cpu, Shared *shared) {
  PinToCpu(cpu);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kRawSignal);
  const int signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  PCHECK(signal_fd != -1);
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  epoll_event event = {};
  event.events = EPOLLIN;
  PCHECK(epoll_ctl(epoll_fd, EPOLL_CTL_ADD, signal_fd, &event) == 0);
  const int64_t switches_at_start = VoluntarySwitches();
  shared->ready.fetch_add(1);
  for (int i = 0; i < FLAGS_messages; ++i) {
    epoll_event ready;
    while (epoll_wait(epoll_fd, &ready, 1, -1) != 1) {
    }
    const int64_t now = NowNs();
    signalfd_siginfo info;
    PCHECK(read(signal_fd, &info, sizeof(info)) == sizeof(info));
    if (i < 4096) {
      shared->latency_ns[index][i] = now - static_cast<int64_t>(info.ssi_ptr);
    }
  }
  shared->sleeps[index] = VoluntarySwitches() - switches_at_start;
  _exit(0);
}

[[noreturn]] void RunRawSender(const std::vector<pid_t> &watchers,
                               int period_us, Shared *shared) {
  PinToCpu(-1);
  WaitReady(shared, watchers.size());
  for (int i = 0; i < FLAGS_messages; ++i) {
    const int64_t start = NowNs();
    const int64_t cpu_start = ThreadCpuNs();
    // Every signal carries the time the message was sent, as every watcher
    // of a queue message sees the one send time: the last watcher's
    // latency includes the signals sent before its own.
    union sigval value;
    value.sival_ptr = reinterpret_cast<void *>(start);
    for (const pid_t pid : watchers) {
      PCHECK(sigqueue(pid, kRawSignal, value) == 0);
    }
    shared->send_cpu_ns += ThreadCpuNs() - cpu_start;
    shared->send_ns[i] = NowNs() - start;
    std::this_thread::sleep_until(std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(start + int64_t{period_us} * 1000)));
  }
  _exit(0);
}

// One run's figures.
struct Run {
  double first_p50, first_p99, last_p50, last_p99;  // us
  double send_us;      // p50 of the sender's wall time per send
  double send_cpu_us;  // the sender's mean CPU time per send
  double sleeps_per_message;
  double burst_cpu_ns_per_send;
};

double Percentile(std::vector<int64_t> v, double q) {
  CHECK(!v.empty());
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))] / 1000.0;
}

Run Collect(const Shared &shared, int n, int messages) {
  std::vector<int64_t> first, last, send;
  int missing = 0;
  for (int m = 0; m < messages && m < 4096; ++m) {
    int64_t lo = INT64_MAX, hi = 0;
    for (int w = 0; w < n; ++w) {
      const int64_t l = shared.latency_ns[w][m];
      if (l == 0) {
        ++missing;
        continue;
      }
      lo = std::min(lo, l);
      hi = std::max(hi, l);
    }
    if (hi == 0) continue;
    first.push_back(lo);
    last.push_back(hi);
    send.push_back(shared.send_ns[m]);
  }
  CHECK_EQ(missing, 0) << ": watchers missed messages";
  int64_t sleeps = 0;
  for (int w = 0; w < n; ++w) sleeps += shared.sleeps[w];
  return {Percentile(first, 0.5),
          Percentile(first, 0.99),
          Percentile(last, 0.5),
          Percentile(last, 0.99),
          Percentile(send, 0.5),
          shared.send_cpu_ns / 1000.0 / messages,
          static_cast<double>(sleeps) / messages,
          0};
}

Run RunAos(const Configuration *config, int n, int period_us, Mode mode,
           const Placement &placement, Shared *shared) {
  Reset(shared);
  std::vector<pid_t> watchers;
  for (int i = 0; i < n; ++i) {
    const pid_t pid = ForkPlayer();
    if (pid == 0) {
      RunAosWatcher(config, i, WatcherCpu(placement, i), mode, shared);
    }
    watchers.push_back(pid);
  }
  const pid_t sender = ForkPlayer();
  if (sender == 0) RunAosSender(config, n, period_us, mode, shared);
  WaitFor(sender, 0);
  for (const pid_t pid : watchers) WaitFor(pid, 0);
  if (mode == Mode::kBurst) {
    Run run = {};
    run.burst_cpu_ns_per_send =
        static_cast<double>(shared->send_cpu_ns) / FLAGS_burst;
    int64_t sleeps = 0;
    for (int w = 0; w < n; ++w) sleeps += shared->sleeps[w];
    run.sleeps_per_message = static_cast<double>(sleeps) / FLAGS_burst;
    return run;
  }
  return Collect(*shared, n, FLAGS_messages);
}

Run RunRaw(int n, int period_us, const Placement &placement, Shared *shared) {
  Reset(shared);
  sigset_t set, previous;
  sigemptyset(&set);
  sigaddset(&set, kRawSignal);
  PCHECK(sigprocmask(SIG_BLOCK, &set, &previous) == 0);
  std::vector<pid_t> watchers;
  for (int i = 0; i < n; ++i) {
    const pid_t pid = ForkPlayer();
    if (pid == 0) RunRawWatcher(i, WatcherCpu(placement, i), shared);
    watchers.push_back(pid);
  }
  const pid_t sender = ForkPlayer();
  if (sender == 0) RunRawSender(watchers, period_us, shared);
  WaitFor(sender, 0);
  for (const pid_t pid : watchers) WaitFor(pid, 0);
  PCHECK(sigprocmask(SIG_SETMASK, &previous, nullptr) == 0);
  return Collect(*shared, n, FLAGS_messages);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Run MedianRun(const std::vector<Run> &runs) {
  auto m = [&](double Run::*field) {
    std::vector<double> v;
    for (const Run &r : runs) v.push_back(r.*field);
    return Median(v);
  };
  return {m(&Run::first_p50),
          m(&Run::first_p99),
          m(&Run::last_p50),
          m(&Run::last_p99),
          m(&Run::send_us),
          m(&Run::send_cpu_us),
          m(&Run::sleeps_per_message),
          m(&Run::burst_cpu_ns_per_send)};
}

int Main() {
  CHECK_LE(FLAGS_messages, 4096) << ": --messages is at most 4096";
  std::vector<int> counts;
  for (const std::string &item : SplitCommaList(FLAGS_watchers)) {
    const int n = std::stoi(item);
    CHECK(n >= 1 && n <= kMaxWatchers)
        << ": --watchers: each count must be in 1.." << kMaxWatchers;
    counts.push_back(n);
  }
  const std::string shm_base =
      "/dev/shm/aos_fanout_bench_" + std::to_string(getpid());
  ipc_lib::SetShmBase(shm_base);
  StopOnSignals([&]() { std::filesystem::remove_all(shm_base); });
  FlatbufferDetachedBuffer<Configuration> config =
      configuration::MergeWithConfig(
          &FlatbufferDetachedBuffer<Configuration>::Empty().message(), kConfig);
  Shared *shared = MapShared();

  printf("load average (1, 5, 15 min) at start: %s\n", LoadAverage().c_str());
  printf(
      "Fan-out of one 64 B channel to N watcher processes; medians over %d "
      "runs. Latencies in us (first / last watcher of each message, p50 and "
      "p99 over %d paced messages); send = the sender's wall time per send, "
      "p50, and its CPU time per send, mean (floor: N sigqueue calls); "
      "sleeps/m = watchers that slept and needed a signal, per message; "
      "burst cpu = the sender's CPU ns per send while the watchers are busy "
      "(%d back-to-back sends), with the watchers' sleeps per message.\n",
      FLAGS_runs, FLAGS_messages, FLAGS_burst);
  const std::vector<Placement> placements = {{"unpinned", false},
                                             {"spread over the cores", true}};
  for (const Placement &placement : placements) {
    printf("\n%s\n", placement.name.c_str());
    printf("  %3s %-13s %8s %8s %8s %8s %8s %8s %8s | %9s %8s | %s\n", "N", "",
           "first50", "first99", "last50", "last99", "send", "send cpu",
           "sleeps/m", "burst cpu", "sleeps/m", "last50/floor  cpu/floor");
    for (const int n : counts) {
      const int period_us =
          FLAGS_period_us > 0 ? FLAGS_period_us : std::max(1000, 60 * n);
      std::vector<Run> aos_runs, burst_runs, raw_runs;
      for (int run = 0; run < FLAGS_runs; ++run) {
        raw_runs.push_back(RunRaw(n, period_us, placement, shared));
        aos_runs.push_back(RunAos(&config.message(), n, period_us, Mode::kPaced,
                                  placement, shared));
        burst_runs.push_back(RunAos(&config.message(), n, period_us,
                                    Mode::kBurst, placement, shared));
      }
      const Run raw = MedianRun(raw_runs);
      const Run aos = MedianRun(aos_runs);
      const Run burst = MedianRun(burst_runs);
      printf("  %3d %-13s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f |\n", n,
             "floor", raw.first_p50, raw.first_p99, raw.last_p50, raw.last_p99,
             raw.send_us, raw.send_cpu_us, raw.sleeps_per_message);
      printf(
          "  %3d %-13s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f | %9.0f "
          "%8.3f | %.2fx  %.2fx\n",
          n, "ShmEventLoop", aos.first_p50, aos.first_p99, aos.last_p50,
          aos.last_p99, aos.send_us, aos.send_cpu_us, aos.sleeps_per_message,
          burst.burst_cpu_ns_per_send, burst.sleeps_per_message,
          aos.last_p50 / raw.last_p50, aos.send_cpu_us / raw.send_cpu_us);
      fflush(stdout);
    }
  }
  printf("\nload average (1, 5, 15 min) at end: %s\n", LoadAverage().c_str());
  std::filesystem::remove_all(shm_base);
  return 0;
}

}  // namespace
}  // namespace aos::bench

int main(int argc, char **argv) {
  aos::InitGoogle(&argc, &argv);
  return aos::bench::Main();
}
