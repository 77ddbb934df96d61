// Send + read through one lockless queue in one thread, 64 B to 1 MiB, next to
// the floor it cannot beat, measured in the same run with the same memory
// footprint:
//   Floor        what the contract makes a copying send + read do anyway: read
//                both send times the way the queue does (they are part of
//                every message; bench::ReadSendTimes) and copy the payload into
//                one of queue_size + 1 rotating buffers of the queue's message
//                size and back out;
//   CopiesOnly   the same two copies without the clock reads.
// The buffers rotate like the queue's, so at 1 MiB x 64 slots (65 MiB) both
// the queue and the floor copy into memory that has left the caches; the
// queue_size 2 rows show the same sizes with a footprint that stays cached.
//
// Each benchmark runs 5 times; the summary at the end prints the medians
// (CPU time per message, which excludes time this process was not running
// on the shared machine) and the ratio of the queue to the floor.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "aos/init.h"
#include "aos/ipc_lib/lockless_queue.h"
#include "bench/common/bench_util.h"
#include "glog/logging.h"

namespace aos::ipc_lib {
namespace {

LocklessQueueConfiguration Config(size_t message_size, size_t queue_size) {
  LocklessQueueConfiguration config;
  config.num_watchers = 1;
  config.num_senders = 1;
  config.num_pinners = 0;
  config.queue_size = queue_size;
  config.message_data_size = message_size;
  return config;
}

// Page-aligned, zeroed (so every page is faulted in before timing) memory.
class Region {
 public:
  explicit Region(size_t size) : size_((size + 4095) / 4096 * 4096) {
    memory_ = static_cast<char *>(std::aligned_alloc(4096, size_));
    CHECK(memory_ != nullptr);
    memset(memory_, 0, size_);
  }
  ~Region() { std::free(memory_); }
  Region(const Region &) = delete;
  char *data() const { return memory_; }

 private:
  size_t size_;
  char *memory_;
};

void BM_LocklessQueueSendRead(benchmark::State &state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const LocklessQueueConfiguration config =
      Config(size, static_cast<size_t>(state.range(1)));
  Region region(LocklessQueueMemorySize(config));
  LocklessQueue queue(reinterpret_cast<LocklessQueueMemory *>(region.data()),
                      reinterpret_cast<LocklessQueueMemory *>(region.data()),
                      config);
  CHECK(queue.Initialize().has_value());
  auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(0));
  CHECK(sender.has_value());
  LocklessQueueReader reader(queue);
  std::vector<char> source(size, 'x');
  std::vector<char> destination(size);
  for (auto _ : state) {
    uint32_t index;
    sender->Send(source.data(), size, monotonic_clock::min_time,
                 realtime_clock::min_time, monotonic_clock::min_time,
                 0xFFFFFFFFu, UUID::Zero(), nullptr, nullptr, &index);
    MessageInfo info;
    if (reader.Read(index, &info, destination.data()) !=
        LocklessQueueReader::Result::GOOD) {
      state.SkipWithError("read failed");
      break;
    }
    benchmark::DoNotOptimize(destination.data());
  }
  state.SetItemsProcessed(state.iterations());
}

template <bool kReadClocks>
void Floor(benchmark::State &state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const LocklessQueueConfiguration config =
      Config(size, static_cast<size_t>(state.range(1)));
  const size_t stride = config.message_size();
  const size_t buffers = config.queue_size + 1;
  Region region(stride * buffers);
  std::vector<char> source(size, 'x');
  std::vector<char> destination(size);
  size_t next = 0;
  for (auto _ : state) {
    if constexpr (kReadClocks) {
      benchmark::DoNotOptimize(bench::ReadSendTimes());
    }
    char *buffer = region.data() + next * stride;
    next = next + 1 == buffers ? 0 : next + 1;
    memcpy(buffer, source.data(), size);
    benchmark::ClobberMemory();
    memcpy(destination.data(), buffer, size);
    benchmark::DoNotOptimize(destination.data());
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_Floor(benchmark::State &state) { Floor<true>(state); }
void BM_CopiesOnly(benchmark::State &state) { Floor<false>(state); }

void Arguments(benchmark::internal::Benchmark *benchmark) {
  for (int64_t size : {64, 256, 4096, 65536, 1 << 20}) {
    benchmark->Args({size, 64});
  }
  benchmark->Args({4096, 2});
  benchmark->Args({1 << 20, 2});
  benchmark->ArgNames({"bytes", "queue_size"});
  benchmark->Repetitions(5);
  benchmark->ReportAggregatesOnly(true);
}
BENCHMARK(BM_LocklessQueueSendRead)->Apply(Arguments);
BENCHMARK(BM_Floor)->Apply(Arguments);
BENCHMARK(BM_CopiesOnly)->Apply(Arguments);

// Prints as usual and keeps the medians for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run> &reports) override {
    ConsoleReporter::ReportRuns(reports);
    for (const Run &run : reports) {
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median") {
        Row &row = RowFor(run.run_name.args);
        row.cpu_ns[run.run_name.function_name] = run.GetAdjustedCPUTime();
      }
    }
  }

  void PrintSummary() const {
    printf(
        "\nmedian CPU ns per message (send + read), same run, same "
        "footprint\n%-28s %10s %12s %10s %10s %12s\n",
        "case", "queue", "msg/s", "floor", "copies", "queue/floor");
    for (const Row &row : rows_) {
      auto find = [&row](const char *name) {
        auto it = row.cpu_ns.find(name);
        return it == row.cpu_ns.end() ? 0.0 : it->second;
      };
      const double queue = find("BM_LocklessQueueSendRead");
      const double floor = find("BM_Floor");
      if (queue == 0 || floor == 0) continue;
      printf("%-28s %10.1f %12.0f %10.1f %10.1f %12.2f\n", row.args.c_str(),
             queue, 1e9 / queue, floor, find("BM_CopiesOnly"), queue / floor);
    }
  }

 private:
  struct Row {
    std::string args;
    std::map<std::string, double> cpu_ns;  // by benchmark function
  };
  Row &RowFor(const std::string &args) {
    for (Row &row : rows_) {
      if (row.args == args) return row;
    }
    return rows_.emplace_back(Row{args, {}});
  }

  std::vector<Row> rows_;  // in the order the arguments are registered
};

}  // namespace
}  // namespace aos::ipc_lib

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  aos::InitGoogle(&argc, &argv);
  aos::ipc_lib::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  benchmark::Shutdown();
  return 0;
}
