// One-way latency of ShmEventLoop watchers, against the raw wakeup floor.
//
// Two processes play ping-pong: each reply is sent from the watcher callback
// that received the previous message, so exactly one message is in flight.
// A hop's latency is "callback start - send time" as the receiving loop sees
// it (context().monotonic_event_time is stamped by the sender's publish).
//
// The baseline, measured in the same run with the same placement, is the
// mechanism under the event loop with nothing else: two processes bouncing
// an rt signal (carrying the send time) read from a signalfd in epoll.
//
// Placements: both processes on CPU 0 ("same core"), or on CPUs 0 and 1
// ("other core"). Payloads: 64 B (COPY read) and 1 MiB, built in place by the
// sender and read either by copying (COPY) or in place (PIN). Each case runs
// --runs times; the tables give each figure's median over runs and the
// spread of p50 across runs.
//
// The peer, iceoryx, plays the same ping-pong in the same invocation (same
// payloads, placements and runs, event-driven through a WaitSet, zero-copy)
// when its packages were found at configure time; the benchmark starts and
// stops its own iox-roudi. Otherwise it prints why iceoryx was skipped (it
// installs nothing).

#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
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
#ifdef AOS_BENCH_ICEORYX_ROUDI
#include "bench/events/iceoryx_pingpong.h"
#endif
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_int32(small_round_trips, 20000, "Round trips per 64 B run.");
DEFINE_int32(large_round_trips, 2000, "Round trips per 1 MiB run.");
DEFINE_int32(warmup, 500, "Round trips discarded at the start of each run.");
DEFINE_int32(runs, 3, "Runs per case; the median of runs is reported.");
DEFINE_bool(write_payload, true,
            "Senders write the whole payload before publishing, as a producer "
            "does. false writes only its first and last bytes: a 1 MiB COPY "
            "read then copies memory no core touched since that queue buffer "
            "last came round (some 20 MiB of other buffers ago), from DRAM.");
DEFINE_int32(poll_us, 0,
             "Awake-reader mode: both loops SetPollBeforeSleep(poll_us) and "
             "play across cores only; the floor is two processes bouncing a "
             "cache line by busy-polling, and the idle CPU of a polling "
             "watcher is measured. 0: the usual event-driven cases.");
DEFINE_string(only, "",
              "Run only the ShmEventLoop and iceoryx cases whose name contains "
              "this (e.g. \"1 MiB, COPY\"), for profiling one case; the "
              "floor always runs.");

namespace aos::bench {
namespace {

constexpr size_t kLargePayload = 1 << 20;

// The channels: small (64 B messages) and large (1 MiB), COPY and PIN. The
// frequencies are far above what ping-pong reaches, so sent-too-fast never
// triggers; the storage durations keep the 1 MiB queues small.
constexpr std::string_view kConfig = R"json({
  "channels": [
    {"name": "/ping", "type": "aos.bench.BenchMessage", "max_size": 128,
     "frequency": 1000000, "channel_storage_duration": 1000000,
     "num_senders": 2, "num_watchers": 2},
    {"name": "/pong", "type": "aos.bench.BenchMessage", "max_size": 128,
     "frequency": 1000000, "channel_storage_duration": 1000000,
     "num_senders": 2, "num_watchers": 2},
    {"name": "/large_ping", "type": "aos.bench.BenchMessage",
     "max_size": 1048832, "frequency": 200000,
     "channel_storage_duration": 100000, "num_senders": 2,
     "num_watchers": 2},
    {"name": "/large_pong", "type": "aos.bench.BenchMessage",
     "max_size": 1048832, "frequency": 200000,
     "channel_storage_duration": 100000, "num_senders": 2,
     "num_watchers": 2},
    {"name": "/large_pin_ping", "type": "aos.bench.BenchMessage",
     "max_size": 1048832, "frequency": 200000,
     "channel_storage_duration": 100000, "num_senders": 2,
     "num_watchers": 2, "read_method": "PIN", "num_readers": 2},
    {"name": "/large_pin_pong", "type": "aos.bench.BenchMessage",
     "max_size": 1048832, "frequency": 200000,
     "channel_storage_duration": 100000, "num_senders": 2,
     "num_watchers": 2, "read_method": "PIN", "num_readers": 2}
  ]
})json";

struct Case {
  std::string name;
  std::string ping_channel;
  std::string pong_channel;
  size_t payload;
  int round_trips;
};

void Send(Sender<BenchMessage> *sender, int32_t sequence, size_t payload) {
  Sender<BenchMessage>::Builder builder = sender->MakeBuilder();
  // Built in place in shared memory, and filled as a producer fills its
  // message (see --write_payload): what a COPY reader then copies is in the
  // caches, not only in DRAM.
  uint8_t *bytes = nullptr;
  const auto data =
      builder.fbb()->CreateUninitializedVector<uint8_t>(payload, &bytes);
  if (FLAGS_write_payload) {
    memset(bytes, static_cast<uint8_t>(sequence), payload);
  } else {
    bytes[0] = static_cast<uint8_t>(sequence);
    bytes[payload - 1] = static_cast<uint8_t>(sequence);
  }
  BenchMessage::Builder message = builder.MakeBuilder<BenchMessage>();
  message.add_sequence(sequence);
  message.add_payload(data);
  builder.CheckOk(builder.Send(message.Finish()));
}

void MaybePoll(ShmEventLoop *loop) {
  if (FLAGS_poll_us > 0) {
    loop->SetPollBeforeSleep(std::chrono::microseconds(FLAGS_poll_us));
  }
}

// The pong process: replies to every ping with the same sequence.
[[noreturn]] void RunPong(const Configuration *config, const Case &c, int cpu,
                          Samples *samples, int warmup) {
  PinToCpu(cpu);
  ShmEventLoop loop(config);
  loop.SkipTimingReport();
  MaybePoll(&loop);
  auto sender = loop.MakeSender<BenchMessage>(c.pong_channel);
  loop.MakeWatcher(c.ping_channel, [&](const BenchMessage &ping) {
    const monotonic_clock::time_point now = loop.monotonic_now();
    if (ping.sequence() < 0) {
      loop.Exit();
      return;
    }
    if (ping.sequence() >= warmup) {
      samples->Add((now - loop.context().monotonic_event_time).count());
    }
    Send(&sender, ping.sequence(), c.payload);
  });
  CHECK(loop.Run().has_value());
  _exit(0);
}

// The ping process: sends ping k+1 when pong k arrives. Until the pong
// process is running, a timer repeats ping 0.
[[noreturn]] void RunPing(const Configuration *config, const Case &c, int cpu,
                          Samples *samples, int warmup) {
  PinToCpu(cpu);
  ShmEventLoop loop(config);
  loop.SkipTimingReport();
  MaybePoll(&loop);
  auto sender = loop.MakeSender<BenchMessage>(c.ping_channel);
  int32_t expected = 0;
  TimerHandler *starter = loop.AddTimer([&]() { Send(&sender, 0, c.payload); });
  loop.MakeWatcher(c.pong_channel, [&](const BenchMessage &pong) {
    const monotonic_clock::time_point now = loop.monotonic_now();
    if (pong.sequence() != expected) return;  // A repeated start-up ping.
    if (expected == 0) starter->Disable();
    if (expected >= warmup) {
      samples->Add((now - loop.context().monotonic_event_time).count());
    }
    ++expected;
    if (expected == c.round_trips + warmup) {
      Send(&sender, -1, c.payload);
      loop.Exit();
      return;
    }
    Send(&sender, expected, c.payload);
  });
  loop.OnRun([&]() {
    starter->Schedule(loop.monotonic_now(), std::chrono::milliseconds(10));
  });
  CHECK(loop.Run().has_value());
  _exit(0);
}

std::vector<int64_t> RunAosCase(const Configuration *config, const Case &c,
                                int ping_cpu, int pong_cpu, Samples *samples) {
  const pid_t pong = ForkPlayer();
  if (pong == 0) RunPong(config, c, pong_cpu, samples, FLAGS_warmup);
  const pid_t ping = ForkPlayer();
  if (ping == 0) RunPing(config, c, ping_cpu, samples, FLAGS_warmup);
  WaitFor(ping, pong);
  WaitFor(pong, 0);
  return samples->Take();
}

// The floor: an rt signal carrying the send time, read from a signalfd in
// epoll, bounced between two processes.
const int kRawSignal = SIGRTMIN + 5;

[[noreturn]] void RawBouncer(bool is_ping, pid_t peer, int cpu, int count,
                             Samples *samples, int warmup) {
  PinToCpu(cpu);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kRawSignal);
  const int signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  PCHECK(signal_fd != -1);
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event event = {};
  event.events = EPOLLIN;
  PCHECK(epoll_ctl(epoll_fd, EPOLL_CTL_ADD, signal_fd, &event) == 0);
  auto send = [&](pid_t to) {
    union sigval value;
    value.sival_ptr = reinterpret_cast<void *>(NowNs());
    PCHECK(sigqueue(to, kRawSignal, value) == 0);
  };
  if (is_ping) send(peer);
  for (int i = 0; i < count + warmup; ++i) {
    struct epoll_event ready;
    while (epoll_wait(epoll_fd, &ready, 1, -1) != 1) {
    }
    const int64_t now = NowNs();
    signalfd_siginfo info;
    PCHECK(read(signal_fd, &info, sizeof(info)) == sizeof(info));
    if (i >= warmup) {
      samples->Add(now - static_cast<int64_t>(info.ssi_ptr));
    }
    if (is_ping && i + 1 == count + warmup) break;
    send(is_ping ? peer : static_cast<pid_t>(info.ssi_pid));
  }
  _exit(0);
}

std::vector<int64_t> RunRawCase(int count, int ping_cpu, int pong_cpu,
                                Samples *samples) {
  // Blocked before forking, so a signal sent before the peer's signalfd
  // exists stays pending.
  sigset_t set, previous;
  sigemptyset(&set);
  sigaddset(&set, kRawSignal);
  PCHECK(sigprocmask(SIG_BLOCK, &set, &previous) == 0);
  const pid_t pong = ForkPlayer();
  if (pong == 0) {
    RawBouncer(false, 0, pong_cpu, count, samples, FLAGS_warmup);
  }
  const pid_t ping = ForkPlayer();
  if (ping == 0) {
    RawBouncer(true, pong, ping_cpu, count, samples, FLAGS_warmup);
  }
  WaitFor(ping, pong);
  WaitFor(pong, 0);
  PCHECK(sigprocmask(SIG_SETMASK, &previous, nullptr) == 0);
  return samples->Take();
}

// The copy a COPY read of `bytes` cannot avoid, in microseconds (p50 of 200):
// memcpy from a buffer just written (as --write_payload leaves a message)
// into another one reused every time (as the fetcher's copy buffer is).
double MemcpyUs(size_t bytes) {
  std::vector<uint8_t> source(bytes), destination(bytes);
  std::vector<int64_t> samples;
  for (int i = 0; i < 200; ++i) {
    memset(source.data(), i, bytes);
    const int64_t start = NowNs();
    memcpy(destination.data(), source.data(), bytes);
    samples.push_back(NowNs() - start);
    // Keeps the copy from being optimized away.
    CHECK_EQ(destination[bytes / 2], static_cast<uint8_t>(i));
  }
  return Summarize(std::move(samples)).p50;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Median over runs of each figure, and the spread of p50.
struct Summary {
  Stats median;
  double p50_low, p50_high;
};

Summary Combine(const std::vector<Stats> &runs) {
  std::vector<double> min, p50, p99, p999, max;
  for (const Stats &s : runs) {
    min.push_back(s.min);
    p50.push_back(s.p50);
    p99.push_back(s.p99);
    p999.push_back(s.p999);
    max.push_back(s.max);
  }
  return {{Median(min), Median(p50), Median(p99), Median(p999), Median(max)},
          *std::min_element(p50.begin(), p50.end()),
          *std::max_element(p50.begin(), p50.end())};
}

void Print(const std::string &what, const Summary &s) {
  printf("  %-34s %8.2f %8.2f %8.2f %8.2f %9.2f   (p50 %.2f..%.2f)\n",
         what.c_str(), s.median.min, s.median.p50, s.median.p99, s.median.p999,
         s.median.max, s.p50_low, s.p50_high);
}

#ifndef AOS_BENCH_ICEORYX_ROUDI
bool IceoryxInstalled() {
  return std::filesystem::exists("/usr/bin/iox-roudi") ||
         std::filesystem::exists("/usr/include/iceoryx");
}
#endif

// Starts the benchmark's own RouDi and returns its owner (destroying it
// stops RouDi), or returns null and says in `skipped` why iceoryx is not
// compared.
std::shared_ptr<void> MaybeStartRoudi(std::string *skipped) {
#ifdef AOS_BENCH_ICEORYX_ROUDI
  std::string notes;
  Result<std::unique_ptr<IceoryxRoudi>> roudi =
      IceoryxRoudi::Start(AOS_BENCH_ICEORYX_ROUDI, kLargePayload, &notes);
  if (!notes.empty()) printf("iceoryx: %s", notes.c_str());
  if (roudi.has_value()) return std::move(*roudi);
  *skipped = "iceoryx: skipped (" + roudi.error().message() + ").";
#else
  *skipped = IceoryxInstalled()
                 ? "iceoryx: skipped (its packages are installed but were not "
                   "found when this build was configured: re-run cmake and "
                   "rebuild)."
                 : "iceoryx: skipped (packages iceoryx / libiceoryx-posh-dev "
                   "are not installed).";
#endif
  return nullptr;
}

struct Placement {
  std::string name;
  int ping_cpu, pong_cpu;
};

// One iceoryx run; only called once MaybeStartRoudi started RouDi.
std::vector<int64_t> RunPeerCase(const Case &c, const Placement &placement,
                                 Samples *samples) {
#ifdef AOS_BENCH_ICEORYX_ROUDI
  return RunIceoryxCase(c.payload, FLAGS_write_payload, c.round_trips,
                        FLAGS_warmup, placement.ping_cpu, placement.pong_cpu,
                        samples);
#else
  LOG(FATAL) << "iceoryx case '" << c.name << "' on " << placement.name
             << " in a build without iceoryx: MaybeStartRoudi started no "
                "RouDi, so no iceoryx case may run";
  (void)samples;
#endif
}

// The awake-reader floor: two processes bouncing a cache line by
// busy-polling, each hop carrying its send time. Nothing can hand a message
// from one core to another faster.
struct alignas(64) Line {
  std::atomic<int64_t> sequence{-1};
  int64_t send_ns = 0;
};
struct Lines {
  Line ping, pong;
};

[[noreturn]] void RunLineBouncer(bool is_ping, Lines *lines, int cpu, int count,
                                 Samples *samples) {
  PinToCpu(cpu);
  Line *mine = is_ping ? &lines->ping : &lines->pong;
  Line *theirs = is_ping ? &lines->pong : &lines->ping;
  auto send = [&](int64_t sequence) {
    mine->send_ns = NowNs();
    mine->sequence.store(sequence, std::memory_order_release);
  };
  if (is_ping) send(0);
  for (int64_t i = 0; i < count + FLAGS_warmup; ++i) {
    while (theirs->sequence.load(std::memory_order_acquire) != i) {
    }
    const int64_t now = NowNs();
    if (i >= FLAGS_warmup) samples->Add(now - theirs->send_ns);
    if (is_ping) {
      if (i + 1 < count + FLAGS_warmup) send(i + 1);
    } else {
      send(i);
    }
  }
  _exit(0);
}

std::vector<int64_t> RunLineCase(int count, int ping_cpu, int pong_cpu,
                                 Samples *samples) {
  void *memory = mmap(nullptr, sizeof(Lines), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  PCHECK(memory != MAP_FAILED);
  Lines *lines = new (memory) Lines();
  const pid_t pong = ForkPlayer();
  if (pong == 0) RunLineBouncer(false, lines, pong_cpu, count, samples);
  const pid_t ping = ForkPlayer();
  if (ping == 0) RunLineBouncer(true, lines, ping_cpu, count, samples);
  WaitFor(ping, pong);
  WaitFor(pong, 0);
  munmap(memory, sizeof(Lines));
  return samples->Take();
}

// The CPU a polling watcher burns while its channel is idle: 20 messages
// 25 ms apart, each followed by one poll window, against the same loop
// without polling. Returns the watcher's CPU time per message, us.
double IdleCpuUsPerMessage(const Configuration *config, int poll_us) {
  void *memory = mmap(nullptr, sizeof(int64_t), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  PCHECK(memory != MAP_FAILED);
  int64_t *cpu_ns = static_cast<int64_t *>(memory);
  constexpr int kMessages = 20;
  const pid_t watcher = ForkPlayer();
  if (watcher == 0) {
    PinToCpu(1);
    ShmEventLoop loop(config);
    loop.SkipTimingReport();
    if (poll_us > 0) {
      loop.SetPollBeforeSleep(std::chrono::microseconds(poll_us));
    }
    int received = 0;
    int64_t start = 0;
    loop.MakeWatcher("/ping", [&](const BenchMessage &) {
      if (++received == kMessages) {
        *cpu_ns = ThreadCpuNs() - start;
        loop.Exit();
      }
    });
    loop.OnRun([&]() { start = ThreadCpuNs(); });
    CHECK(loop.Run().has_value());
    _exit(0);
  }
  const pid_t sender = ForkPlayer();
  if (sender == 0) {
    PinToCpu(0);
    ShmEventLoop loop(config);
    loop.SkipTimingReport();
    auto ping = loop.MakeSender<BenchMessage>("/ping");
    // The watcher's loop is running well before the first message.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (int i = 0; i < kMessages; ++i) {
      Send(&ping, i, 64);
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    _exit(0);
  }
  WaitFor(sender, watcher);
  WaitFor(watcher, 0);
  const double result = *cpu_ns / 1000.0 / kMessages;
  munmap(memory, sizeof(int64_t));
  return result;
}

// --poll_us: the awake reader. Ping-pong across cores with both loops
// polling, against the cache-line floor, and the idle cost of polling.
int PollMain(const Configuration *config, Samples *samples) {
  const Case c = {"64 B, COPY", "/ping", "/pong", 64, FLAGS_small_round_trips};
  printf(
      "\nAwake reader: both loops SetPollBeforeSleep(%d us), CPU 0 / CPU 1. "
      "One-way latency, microseconds, median over %d runs.\n",
      FLAGS_poll_us, FLAGS_runs);
  printf("  %-34s %8s %8s %8s %8s %9s\n", "", "min", "p50", "p99", "p99.9",
         "max");
  std::vector<Stats> line_runs, aos_runs;
  for (int run = 0; run < FLAGS_runs; ++run) {
    line_runs.push_back(
        Summarize(RunLineCase(FLAGS_small_round_trips, 0, 1, samples)));
    aos_runs.push_back(Summarize(RunAosCase(config, c, 0, 1, samples)));
  }
  const Summary line = Combine(line_runs);
  const Summary aos = Combine(aos_runs);
  Print("cache-line bounce (floor)", line);
  Print("ShmEventLoop 64 B, COPY, polling", aos);
  printf("  %-34s p50 ratio to floor %.2fx, p99 ratio %.2fx\n", "",
         aos.median.p50 / line.median.p50, aos.median.p99 / line.median.p99);
  printf(
      "iceoryx busy-polling: not measured (this benchmark's iceoryx player "
      "is event-driven only).\n");
  const double idle_polling = IdleCpuUsPerMessage(config, FLAGS_poll_us);
  const double idle_plain = IdleCpuUsPerMessage(config, 0);
  printf(
      "\nIdle channel (20 messages 25 ms apart): the watcher's CPU per "
      "message %.1f us with polling, %.1f us without (the poll window is "
      "%d us): between messages a polling loop sleeps.\n",
      idle_polling, idle_plain, FLAGS_poll_us);
  return 0;
}

int Main() {
  const std::string shm_base =
      "/dev/shm/aos_events_bench_" + std::to_string(getpid());
  ipc_lib::SetShmBase(shm_base);
  FlatbufferDetachedBuffer<Configuration> config =
      configuration::MergeWithConfig(
          &FlatbufferDetachedBuffer<Configuration>::Empty().message(), kConfig);

  std::vector<Case> cases = {
      {"64 B, COPY", "/ping", "/pong", 64, FLAGS_small_round_trips},
      {"1 MiB, COPY", "/large_ping", "/large_pong", kLargePayload,
       FLAGS_large_round_trips},
      {"1 MiB, PIN (in place)", "/large_pin_ping", "/large_pin_pong",
       kLargePayload, FLAGS_large_round_trips},
  };
  // iceoryx's cases, by payload: written in place and read in place.
  std::vector<Case> iceoryx_cases = {
      {"64 B", "", "", 64, FLAGS_small_round_trips},
      {"1 MiB", "", "", kLargePayload, FLAGS_large_round_trips},
  };
  std::erase_if(cases, [](const Case &c) {
    return c.name.find(FLAGS_only) == std::string::npos;
  });
  std::erase_if(iceoryx_cases, [](const Case &c) {
    return c.name.find(FLAGS_only) == std::string::npos;
  });
  const std::vector<Placement> placements = {
      {"same core (CPU 0 / CPU 0)", 0, 0},
      {"other core (CPU 0 / CPU 1)", 0, 1},
  };
  // Declared before the stop handler, which stops RouDi and removes the
  // shared memory when the benchmark is interrupted.
  std::shared_ptr<void> roudi;
  StopOnSignals([&]() {
    roudi.reset();
    std::filesystem::remove_all(shm_base);
  });
  Samples samples(2 * static_cast<size_t>(std::max(FLAGS_small_round_trips,
                                                   FLAGS_large_round_trips)) +
                  16);

  printf("load average (1, 5, 15 min) at start: %s\n", LoadAverage().c_str());
  if (FLAGS_poll_us > 0) {
    PollMain(&config.message(), &samples);
    printf("\nload average (1, 5, 15 min) at end: %s\n", LoadAverage().c_str());
    std::filesystem::remove_all(shm_base);
    return 0;
  }
  const double memcpy_us = MemcpyUs(kLargePayload);
  printf("memcpy 1 MiB (source just written), p50: %.2f us; senders %s\n",
         memcpy_us,
         FLAGS_write_payload
             ? "write the whole payload (--write_payload)"
             : "write only the ends of the payload (--nowrite_payload)");
  std::string iceoryx_skipped;
  if (iceoryx_cases.empty()) {
    iceoryx_skipped = "iceoryx: no case matches --only.";
  } else {
    roudi = MaybeStartRoudi(&iceoryx_skipped);
  }
  if (roudi == nullptr) printf("%s\n", iceoryx_skipped.c_str());

  printf(
      "\nOne-way latency, microseconds: median over %d runs of each "
      "figure; both hops of every round trip are samples. Each run plays "
      "every case once, in turn, so slow minutes of the shared machine hit "
      "all of them.\n",
      FLAGS_runs);
  printf("  %-34s %8s %8s %8s %8s %9s\n", "", "min", "p50", "p99", "p99.9",
         "max");
  for (const Placement &placement : placements) {
    printf("\n%s\n", placement.name.c_str());
    fflush(stdout);
    std::vector<Stats> raw_runs;
    std::vector<std::vector<Stats>> aos_runs(cases.size());
    std::vector<std::vector<Stats>> iceoryx_runs(iceoryx_cases.size());
    for (int run = 0; run < FLAGS_runs; ++run) {
      raw_runs.push_back(
          Summarize(RunRawCase(FLAGS_small_round_trips, placement.ping_cpu,
                               placement.pong_cpu, &samples)));
      for (size_t i = 0; i < cases.size(); ++i) {
        aos_runs[i].push_back(Summarize(
            RunAosCase(&config.message(), cases[i], placement.ping_cpu,
                       placement.pong_cpu, &samples)));
      }
      if (roudi == nullptr) continue;
      for (size_t i = 0; i < iceoryx_cases.size(); ++i) {
        iceoryx_runs[i].push_back(
            Summarize(RunPeerCase(iceoryx_cases[i], placement, &samples)));
      }
    }
    const Summary raw = Combine(raw_runs);
    Print("raw rt signal (floor)", raw);
    auto print_ratios = [&](const Summary &s) {
      printf("  %-34s p50 ratio to floor %.2fx, p99 ratio %.2fx\n", "",
             s.median.p50 / raw.median.p50, s.median.p99 / raw.median.p99);
    };
    // What a COPY read of 1 MiB adds to the wakeup, against a memcpy.
    auto print_copy_cost = [&](const Case &c, const Summary &s) {
      if (c.payload != kLargePayload ||
          c.name.find("COPY") == std::string::npos) {
        return;
      }
      const double above_floor = s.median.p50 - raw.median.p50;
      printf("  %-34s p50 - floor p50 = %.2f us = %.2fx memcpy 1 MiB\n", "",
             above_floor, above_floor / memcpy_us);
    };
    std::vector<Summary> aos;
    for (size_t i = 0; i < cases.size(); ++i) {
      aos.push_back(Combine(aos_runs[i]));
      Print("ShmEventLoop " + cases[i].name, aos.back());
      print_ratios(aos.back());
      print_copy_cost(cases[i], aos.back());
    }
    if (roudi == nullptr) continue;
    std::vector<Summary> iceoryx;
    for (size_t i = 0; i < iceoryx_cases.size(); ++i) {
      iceoryx.push_back(Combine(iceoryx_runs[i]));
      Print("iceoryx " + iceoryx_cases[i].name + " (WaitSet, zero-copy)",
            iceoryx.back());
      print_ratios(iceoryx.back());
    }
    printf("  ShmEventLoop p50 / iceoryx p50 (same payload):");
    for (size_t i = 0; i < cases.size(); ++i) {
      for (size_t j = 0; j < iceoryx_cases.size(); ++j) {
        if (iceoryx_cases[j].payload != cases[i].payload) continue;
        printf("%s %s %.2fx", i == 0 ? "" : ";", cases[i].name.c_str(),
               aos[i].median.p50 / iceoryx[j].median.p50);
      }
    }
    printf("\n");
  }
  if (roudi == nullptr) printf("\n%s\n", iceoryx_skipped.c_str());
  printf("\nload average (1, 5, 15 min) at end: %s\n", LoadAverage().c_str());
  roudi.reset();
  std::filesystem::remove_all(shm_base);
  return 0;
}

}  // namespace
}  // namespace aos::bench

int main(int argc, char **argv) {
  aos::InitGoogle(&argc, &argv);
  return aos::bench::Main();
}
