// Deliveries per wall-clock second of the simulation.
//
// Two event loops play ping-pong: each reply is sent from the watcher
// callback that received the previous message, so one message is in flight
// and every simulated event is one delivery. A delivery is one watcher
// callback; the figure is deliveries / wall time of factory.Run().
//
// Cases:
//  - scheduler floor (baseline): two bare EventScheduler events that
//    schedule each other, 50 us apart. No channels, no messages: the cost
//    of the clock and the heap alone, measured in the same run.
//  - one node: two loops on one node (send, 50 us send delay, watcher).
//  - one node, schema: the same with the message schema embedded in the
//    configuration, as in a flattened config, so every send is verified
//    against it (the cost of that check).
//  - two nodes: the loops on two nodes, every message forwarded by the
//    simulated message bridge (the bridge's delivery event plus the watcher
//    event per hop), with delivery timestamps going back to the source (one
//    more event and a RemoteMessage send per hop).
//
// Each case runs --runs times; the table gives the median and the range.
// The messages are built in place (aos.bench.BenchMessage, a sequence
// number and no payload).

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/event_scheduler.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/init.h"
#include "bench/common/bench_util.h"
#include "bench/events/bench_message_generated.h"
#include "gflags/gflags.h"

DEFINE_int32(runs, 5, "Repetitions of each case.");
DEFINE_int32(round_trips, 500000, "Round trips per repetition.");
DEFINE_string(cases, "floor,one,schema,two",
              "Comma-separated cases to run (floor, one, schema, two); "
              "profiling one case is easier alone.");

namespace aos::bench {
namespace {

// Short storage durations keep the rings small; the rate allows one message
// per 50 us per channel with room to spare.
constexpr std::string_view kSingleNode = R"json({
  "channels": [
    {"name": "/ping", "type": "aos.bench.BenchMessage", "frequency": 100000,
     "channel_storage_duration": 1000000, "max_size": 64},
    {"name": "/pong", "type": "aos.bench.BenchMessage", "frequency": 100000,
     "channel_storage_duration": 1000000, "max_size": 64}
  ]
})json";

constexpr std::string_view kTwoNodes = R"json({
  "channels": [
    {"name": "/ping", "type": "aos.bench.BenchMessage", "frequency": 100000,
     "channel_storage_duration": 1000000, "max_size": 64,
     "source_node": "pi1", "destination_nodes": [{"name": "pi2"}]},
    {"name": "/pong", "type": "aos.bench.BenchMessage", "frequency": 100000,
     "channel_storage_duration": 1000000, "max_size": 64,
     "source_node": "pi2", "destination_nodes": [{"name": "pi1"}]},
    {"name": "/aos/remote_timestamps/pi2/ping/aos-bench-BenchMessage",
     "type": "aos.message_bridge.RemoteMessage", "source_node": "pi1",
     "frequency": 100000, "channel_storage_duration": 1000000,
     "max_size": 256},
    {"name": "/aos/remote_timestamps/pi1/pong/aos-bench-BenchMessage",
     "type": "aos.message_bridge.RemoteMessage", "source_node": "pi2",
     "frequency": 100000, "channel_storage_duration": 1000000,
     "max_size": 256}
  ],
  "nodes": [{"name": "pi1"}, {"name": "pi2"}]
})json";

// Wall time and this thread's CPU time. On a shared machine the CPU time
// leaves out the time other processes had the core, so it compares builds
// more steadily than the wall time (which is what the target is about).
struct Stopwatch {
  static double ThreadSeconds() { return 1e-9 * ThreadCpuNs(); }
  const std::chrono::steady_clock::time_point wall_start =
      std::chrono::steady_clock::now();
  const double cpu_start = ThreadSeconds();
};

// Events per second, of wall and of CPU time.
struct Rate {
  double wall;
  double cpu;
};

Rate Stop(const Stopwatch &stopwatch, int64_t events) {
  const double cpu = Stopwatch::ThreadSeconds() - stopwatch.cpu_start;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                    stopwatch.wall_start)
          .count();
  return Rate{events / wall, events / cpu};
}

void Send(Sender<BenchMessage> *sender, int sequence) {
  auto builder = sender->MakeBuilder();
  BenchMessage::Builder message = builder.MakeBuilder<BenchMessage>();
  message.add_sequence(sequence);
  builder.CheckOk(builder.Send(message.Finish()));
}

// Returns deliveries per second.
Rate RunPingPong(const Configuration *config, const Node *ping_node,
                 const Node *pong_node) {
  SimulatedEventLoopFactory factory(config);
  factory.SkipTimingReport();
  auto ping = factory.MakeEventLoop("ping", ping_node);
  auto pong = factory.MakeEventLoop("pong", pong_node);
  auto ping_sender = ping->MakeSender<BenchMessage>("/ping");
  auto pong_sender = pong->MakeSender<BenchMessage>("/pong");
  int64_t deliveries = 0;
  pong->MakeWatcher("/ping", [&](const BenchMessage &message) {
    ++deliveries;
    Send(&pong_sender, message.sequence());
  });
  ping->MakeWatcher("/pong", [&](const BenchMessage &message) {
    ++deliveries;
    if (message.sequence() == FLAGS_round_trips) {
      factory.Exit();
      return;
    }
    Send(&ping_sender, message.sequence() + 1);
  });
  ping->OnRun([&]() { Send(&ping_sender, 1); });
  const Stopwatch stopwatch;
  CheckExpected(factory.Run());
  const Rate rate = Stop(stopwatch, deliveries);
  CHECK_EQ(deliveries, 2 * static_cast<int64_t>(FLAGS_round_trips));
  return rate;
}

// The baseline: the scheduler alone, two events bouncing.
class Bounce final : public EventScheduler::Event {
 public:
  Bounce(EventScheduler *scheduler, EventSchedulerScheduler *all,
         int64_t *count, int64_t limit)
      : scheduler_(scheduler), all_(all), count_(count), limit_(limit) {}
  void set_other(Bounce *other) { other_ = other; }
  void Handle() override {
    if (++*count_ == limit_) {
      all_->Exit();
      return;
    }
    scheduler_->Schedule(
        other_, scheduler_->monotonic_now() + std::chrono::microseconds(50));
  }

 private:
  EventScheduler *const scheduler_;
  EventSchedulerScheduler *const all_;
  int64_t *const count_;
  const int64_t limit_;
  Bounce *other_ = nullptr;
};

class NoHooks final : public EventSchedulerScheduler::NodeHooks {
 public:
  void Startup() override {}
  void Shutdown() override {}
};

Rate RunSchedulerFloor() {
  EventSchedulerScheduler all;
  EventScheduler scheduler(0, &all);
  NoHooks hooks;
  all.AddNode(&scheduler, &hooks);
  int64_t count = 0;
  const int64_t limit = 2 * static_cast<int64_t>(FLAGS_round_trips);
  Bounce a(&scheduler, &all, &count, limit), b(&scheduler, &all, &count, limit);
  a.set_other(&b);
  b.set_other(&a);
  scheduler.Schedule(&a, monotonic_clock::epoch());
  const Stopwatch stopwatch;
  all.RunUntil(distributed_clock::max_time);
  const Rate rate = Stop(stopwatch, count);
  CHECK_EQ(count, limit);
  return rate;
}

struct Row {
  std::string flag;
  std::string name;
  std::vector<double> rates;
  std::vector<double> cpu_rates;
  static double Median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
  }
  double median() const { return Median(rates); }
  double cpu_median() const { return Median(cpu_rates); }
  void Add(Rate rate) {
    rates.push_back(rate.wall);
    cpu_rates.push_back(rate.cpu);
  }
};

int Main() {
  const FlatbufferDetachedBuffer<Configuration> single =
      configuration::MergeWithConfig(
          &FlatbufferDetachedBuffer<Configuration>::Empty().message(),
          kSingleNode);
  std::ifstream schema_file(AOS_BENCH_MESSAGE_BFBS, std::ios::binary);
  CHECK(schema_file.good()) << AOS_BENCH_MESSAGE_BFBS;
  const std::vector<FlatbufferVector<reflection::Schema>> schemas = {
      FlatbufferVector<reflection::Schema>(std::vector<uint8_t>(
          std::istreambuf_iterator<char>(schema_file), {}))};
  const FlatbufferDetachedBuffer<Configuration> single_with_schema =
      configuration::AddSchema(kSingleNode, schemas);
  const FlatbufferDetachedBuffer<Configuration> multi =
      configuration::MergeWithConfig(
          &FlatbufferDetachedBuffer<Configuration>::Empty().message(),
          kTwoNodes);
  const Node *pi1 = configuration::GetNode(&multi.message(), "pi1");
  const Node *pi2 = configuration::GetNode(&multi.message(), "pi2");

  std::vector<Row> rows = {{"floor", "scheduler floor (baseline)", {}, {}},
                           {"one", "one node, two loops", {}, {}},
                           {"schema", "one node, schema verified", {}, {}},
                           {"two", "two nodes, via bridge", {}, {}}};
  const std::string cases = "," + FLAGS_cases + ",";
  std::erase_if(rows, [&cases](const Row &row) {
    return cases.find("," + row.flag + ",") == std::string::npos;
  });
  CHECK(!rows.empty()) << ": --cases=" << FLAGS_cases
                       << " names none of floor, one, schema, two";
  // Interleaved, so a noisy minute hits every case alike.
  for (int run = 0; run < FLAGS_runs; ++run) {
    for (Row &row : rows) {
      if (row.flag == "floor") {
        row.Add(RunSchedulerFloor());
      } else if (row.flag == "one") {
        row.Add(RunPingPong(&single.message(), nullptr, nullptr));
      } else if (row.flag == "schema") {
        row.Add(RunPingPong(&single_with_schema.message(), nullptr, nullptr));
      } else {
        row.Add(RunPingPong(&multi.message(), pi1, pi2));
      }
    }
  }

  printf(
      "Simulated ping/pong, %d round trips per run, %d runs (median, "
      "[min, max]), deliveries per wall-clock second:\n",
      FLAGS_round_trips, FLAGS_runs);
  // The floor is the first row when it ran.
  const bool have_floor = rows[0].flag == "floor";
  for (const Row &row : rows) {
    const auto [min, max] =
        std::minmax_element(row.rates.begin(), row.rates.end());
    printf("  %-28s %7.2f M/s  [%6.2f, %6.2f]", row.name.c_str(),
           row.median() / 1e6, *min / 1e6, *max / 1e6);
    if (have_floor) {
      printf("  floor/this = %.2fx", rows[0].median() / row.median());
    }
    printf("\n");
  }
  printf("Per second of this thread's CPU time (median):\n");
  for (const Row &row : rows) {
    printf("  %-28s %7.2f M/s (cpu)", row.name.c_str(), row.cpu_median() / 1e6);
    if (have_floor) {
      printf("  floor/this = %.2fx", rows[0].cpu_median() / row.cpu_median());
    }
    printf("\n");
  }
  printf("Target: >= 2 M deliveries/s (issue 6).\n");
  return 0;
}

}  // namespace
}  // namespace aos::bench

int main(int argc, char **argv) {
  aos::InitGoogle(&argc, &argv);
  return aos::bench::Main();
}
