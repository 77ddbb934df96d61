// Many channels per loop: one ShmEventLoop watching C channels (C = 1, 10,
// 100, 1000), as a state estimator or logger watches many inputs.
//
// A driver process sends on the C channels and a watcher process runs one
// loop with a watcher on each of them; the watcher loop acknowledges on
// /ack, so exactly one round is in flight. Two traffic patterns:
//   one active  every message goes to the same channel (the last one made,
//               the worst place for a loop that scans its watchers in
//               order): what one input costs a loop that also watches C-1
//               quiet ones.
//   all active  each round sends one message on every channel, back to
//               back; the loop acknowledges when it has the whole round.
// Reported per C: the one-way latency (callback start - send time) p50/p99
// and the watcher loop's CPU time per message. The baseline is C = 1 in the
// same run: the target is latency independent of C within 10%.

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
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

DEFINE_string(channels, "1,10,100,1000", "Channel counts C to measure.");
DEFINE_int32(messages, 3000, "Messages per run (rounded up to whole rounds).");
DEFINE_int32(runs, 3, "Runs per case; medians over runs are reported.");

namespace aos::bench {
namespace {

// Small queues (100 slots, 1 ms storage) keep 1000 channels in ~40 MB; one
// round in flight never displaces a message younger than 1 ms.
std::string MakeConfig(int channels) {
  std::string json = R"({"channels": [)";
  for (int i = 0; i < channels; ++i) {
    json += R"({"name": "/c)" + std::to_string(i) +
            R"(", "type": "aos.bench.BenchMessage", "max_size": 128,
                "frequency": 100000, "channel_storage_duration": 1000000,
                "num_senders": 2, "num_watchers": 2},)";
  }
  json += R"({"name": "/ack", "type": "aos.bench.BenchMessage",
              "max_size": 128, "frequency": 100000,
              "channel_storage_duration": 1000000, "num_senders": 2,
              "num_watchers": 2}]})";
  return json;
}

// A finished BenchMessage of `sequence`, sent by copy.
struct Message {
  explicit Message(int32_t sequence) {
    flatbuffers::FlatBufferBuilder fbb;
    BenchMessage::Builder builder(fbb);
    builder.add_sequence(sequence);
    fbb.Finish(builder.Finish());
    bytes.assign(fbb.GetBufferPointer(),
                 fbb.GetBufferPointer() + fbb.GetSize());
  }
  std::vector<uint8_t> bytes;
};

enum class Traffic { kOneActive, kAllActive };

// Filled by the watcher process for the parent.
struct Shared {
  std::atomic<int> ready;
  int64_t cpu_ns;
};

[[noreturn]] void RunWatcher(const Configuration *config, int channels,
                             int rounds, Traffic traffic, Samples *samples,
                             Shared *shared) {
  ShmEventLoop loop(config);
  loop.SkipTimingReport();
  RawSender *ack =
      loop
          .MakeRawSender(configuration::GetChannel(
              config, "/ack", "aos.bench.BenchMessage", "", nullptr))
          .release();
  const Message ack_message(0);
  const int per_round = traffic == Traffic::kOneActive ? 1 : channels;
  int in_round = 0, round = 0;
  int64_t cpu_start = 0;
  for (int i = 0; i < channels; ++i) {
    const Channel *channel =
        configuration::GetChannel(config, "/c" + std::to_string(i),
                                  "aos.bench.BenchMessage", "", nullptr);
    loop.MakeRawWatcher(channel, [&](const Context &context, const void *) {
      samples->Add(
          (loop.monotonic_now() - context.monotonic_event_time).count());
      if (++in_round < per_round) return;
      in_round = 0;
      CHECK(ack->Send(ack_message.bytes.data(), ack_message.bytes.size()) ==
            RawSender::Error::kOk)
          << ": send refused";
      if (++round == rounds) {
        shared->cpu_ns = ThreadCpuNs() - cpu_start;
        loop.Exit();
      }
    });
  }
  loop.OnRun([&]() {
    cpu_start = ThreadCpuNs();
    shared->ready.store(1);
  });
  CHECK(loop.Run().has_value());
  _exit(0);
}

[[noreturn]] void RunDriver(const Configuration *config, int channels,
                            int rounds, Traffic traffic, Shared *shared) {
  ShmEventLoop loop(config);
  loop.SkipTimingReport();
  std::vector<std::unique_ptr<RawSender>> senders;
  for (int i = 0; i < channels; ++i) {
    senders.push_back(loop.MakeRawSender(
        configuration::GetChannel(config, "/c" + std::to_string(i),
                                  "aos.bench.BenchMessage", "", nullptr)));
  }
  const Message message(1);
  auto send_round = [&]() {
    if (traffic == Traffic::kOneActive) {
      CHECK(senders.back()->Send(message.bytes.data(), message.bytes.size()) ==
            RawSender::Error::kOk)
          << ": send refused";
      return;
    }
    for (auto &sender : senders) {
      CHECK(sender->Send(message.bytes.data(), message.bytes.size()) ==
            RawSender::Error::kOk)
          << ": send refused";
    }
  };
  int acked = 0;
  loop.MakeRawNoArgWatcher(
      configuration::GetChannel(config, "/ack", "aos.bench.BenchMessage", "",
                                nullptr),
      [&](const Context &) {
        if (++acked == rounds) {
          loop.Exit();
          return;
        }
        send_round();
      });
  // The first round goes out from a timer polling for the watcher loop to
  // run; later rounds from the ack watcher.
  TimerHandler *start = nullptr;
  start = loop.AddTimer([&]() {
    if (shared->ready.load() == 0) return;
    start->Disable();
    send_round();
  });
  loop.OnRun([&]() {
    start->Schedule(loop.monotonic_now(), std::chrono::milliseconds(5));
  });
  CHECK(loop.Run().has_value());
  _exit(0);
}

struct Figures {
  double p50, p99, cpu_ns_per_message;
};

Figures RunCase(const Configuration *config, int channels, Traffic traffic,
                Samples *samples, Shared *shared) {
  const int per_round = traffic == Traffic::kOneActive ? 1 : channels;
  const int rounds = std::max(1, (FLAGS_messages + per_round - 1) / per_round);
  shared->ready.store(0);
  shared->cpu_ns = 0;
  const pid_t watcher = ForkPlayer();
  if (watcher == 0) {
    RunWatcher(config, channels, rounds, traffic, samples, shared);
  }
  const pid_t driver = ForkPlayer();
  if (driver == 0) RunDriver(config, channels, rounds, traffic, shared);
  WaitFor(driver, watcher);
  WaitFor(watcher, 0);
  std::vector<int64_t> latencies = samples->Take();
  const Stats stats = Summarize(latencies);
  return {stats.p50, stats.p99,
          static_cast<double>(shared->cpu_ns) / latencies.size()};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Main() {
  std::vector<int> counts;
  for (const std::string &item : SplitCommaList(FLAGS_channels)) {
    const int c = std::stoi(item);
    CHECK(c >= 1 && c <= 1000) << ": --channels: each count must be 1..1000";
    counts.push_back(c);
  }
  const std::string shm_base =
      "/dev/shm/aos_many_channels_bench_" + std::to_string(getpid());
  ipc_lib::SetShmBase(shm_base);
  StopOnSignals([&]() { std::filesystem::remove_all(shm_base); });
  void *memory = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  PCHECK(memory != MAP_FAILED);
  Shared *shared = new (memory) Shared();
  Samples samples(static_cast<size_t>(FLAGS_messages) + 2000);

  printf("load average (1, 5, 15 min) at start: %s\n", LoadAverage().c_str());
  printf(
      "One ShmEventLoop watching C channels, driven from another process "
      "(unpinned). Latency = callback start - send time, us; cpu = the "
      "watcher loop's CPU ns per message. Medians over %d runs; ratios to "
      "C = 1 of the same traffic.\n",
      FLAGS_runs);
  const std::pair<Traffic, const char *> traffics[] = {
      {Traffic::kOneActive, "one active"}, {Traffic::kAllActive, "all active"}};
  for (const auto &[traffic, traffic_name] : traffics) {
    printf("\n%s\n  %5s %8s %8s %9s   %s\n", traffic_name, "C", "p50", "p99",
           "cpu ns/m", "p50/base  cpu/base");
    Figures base = {};
    for (const int c : counts) {
      FlatbufferDetachedBuffer<Configuration> config =
          configuration::MergeWithConfig(
              &FlatbufferDetachedBuffer<Configuration>::Empty().message(),
              MakeConfig(c));
      std::vector<double> p50, p99, cpu;
      for (int run = 0; run < FLAGS_runs; ++run) {
        const Figures f =
            RunCase(&config.message(), c, traffic, &samples, shared);
        p50.push_back(f.p50);
        p99.push_back(f.p99);
        cpu.push_back(f.cpu_ns_per_message);
      }
      const Figures median = {Median(p50), Median(p99), Median(cpu)};
      if (c == counts.front()) base = median;
      printf("  %5d %8.2f %8.2f %9.0f   %.2fx  %.2fx\n", c, median.p50,
             median.p99, median.cpu_ns_per_message, median.p50 / base.p50,
             median.cpu_ns_per_message / base.cpu_ns_per_message);
      fflush(stdout);
      std::filesystem::remove_all(shm_base);
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
