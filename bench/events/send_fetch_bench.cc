// What ShmEventLoop adds to a send and a fetch, in one thread: 64 B messages
// on one channel, each sent and then fetched, measured in the same run:
//   queue          LocklessQueueSender::Send (copying) and
//                  LocklessQueueReader::Read on the channel's own queue
//                  file: the transport alone, the baseline;
//   raw            RawSender::Send(data, size) and RawFetcher::FetchNext():
//                  the event loop's size check, send-time statistics and
//                  fetch context on top of the same copies;
//   typed_builder  what most application code does: Sender<T>::Builder
//                  builds a BenchMessage with a 64 B payload in place and
//                  sends it, Fetcher<T>::FetchNext() fetches it.
// The raw and queue cases send the typed case's exact bytes. Each case runs
// 5 times; the summary prints the medians (CPU ns per send + fetch) and each
// case's ratio to queue. Queue files live under
// /dev/shm/aos_send_fetch_bench_<pid> only until a case has mapped them, so
// an interrupted run leaves nothing behind.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/shm_channel_queue.h"
#include "aos/events/shm_event_loop.h"
#include "aos/init.h"
#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/ipc_lib/shm_base.h"
#include "bench/events/bench_message_generated.h"
#include "glog/logging.h"

namespace aos::bench {
namespace {

constexpr size_t kPayload = 64;
constexpr const char *kChannel = "/bench/send_fetch";

// The channel every case uses: a ring of 64, like lockless_queue_bench's,
// with a storage duration of 1 us (64 MHz x 1 us), so that sending as fast as
// a loop can (64 messages take several us) is never sent-too-fast.
const Configuration *Config() {
  static const FlatbufferDetachedBuffer<Configuration> config =
      configuration::MergeWithConfig(
          &FlatbufferDetachedBuffer<Configuration>::Empty().message(),
          R"({"channels": [{"name": "/bench/send_fetch",
              "type": "aos.bench.BenchMessage", "max_size": 512,
              "frequency": 64000000, "channel_storage_duration": 1000,
              "num_senders": 2}]})");
  return &config.message();
}

// Removes this run's queue files once a case has mapped them. The mappings
// stay valid, and an interrupted or crashed run leaves nothing in /dev/shm.
// Each case opens (and so re-creates) its queue afresh.
void UnlinkQueueFiles() { std::filesystem::remove_all(FLAGS_shm_base); }

// Builds the typed case's message into `fbb`.
flatbuffers::Offset<BenchMessage> Build(flatbuffers::FlatBufferBuilder *fbb,
                                        int32_t sequence) {
  uint8_t *bytes = nullptr;
  const auto data = fbb->CreateUninitializedVector<uint8_t>(kPayload, &bytes);
  memset(bytes, static_cast<uint8_t>(sequence), kPayload);
  BenchMessage::Builder message(*fbb);
  message.add_sequence(sequence);
  message.add_payload(data);
  return message.Finish();
}

// The typed case's bytes, for the cases that send a ready-made buffer.
std::vector<uint8_t> MessageBytes() {
  flatbuffers::FlatBufferBuilder fbb;
  fbb.ForceDefaults(true);
  fbb.Finish(Build(&fbb, 1));
  return std::vector<uint8_t>(fbb.GetBufferPointer(),
                              fbb.GetBufferPointer() + fbb.GetSize());
}

void BM_Queue(benchmark::State &state) {
  const Channel *channel =
      configuration::GetChannel<BenchMessage>(Config(), kChannel, "", nullptr);
  Result<ipc_lib::MemoryMappedQueue> queue = ipc_lib::MemoryMappedQueue::Open(
      ShmChannelQueuePath(FLAGS_shm_base, channel),
      ShmChannelQueueConfiguration(Config(), channel), 0770);
  CHECK(queue.has_value()) << queue.error();
  std::optional<ipc_lib::LocklessQueueSender> sender =
      ipc_lib::LocklessQueueSender::Make(
          queue->queue(),
          configuration::ChannelStorageDuration(Config(), channel));
  CHECK(sender.has_value());
  ipc_lib::LocklessQueueReader reader(queue->queue());
  UnlinkQueueFiles();
  const std::vector<uint8_t> message = MessageBytes();
  // Ends aligned, as a fetcher's copy buffer does.
  const size_t buffer_size = queue->config().message_data_size;
  std::vector<char> storage(buffer_size + kChannelDataAlignment);
  const uintptr_t end =
      reinterpret_cast<uintptr_t>(storage.data()) + buffer_size;
  char *const buffer = storage.data() + (((end + kChannelDataAlignment - 1) &
                                          ~(kChannelDataAlignment - 1)) -
                                         end);
  for (auto _ : state) {
    uint32_t index;
    const ipc_lib::LocklessQueueSender::Result sent =
        sender->Send(reinterpret_cast<const char *>(message.data()),
                     message.size(), monotonic_clock::min_time,
                     realtime_clock::min_time, monotonic_clock::min_time,
                     0xFFFFFFFFu, UUID::Zero(), nullptr, nullptr, &index);
    CHECK(sent == ipc_lib::LocklessQueueSender::Result::GOOD) << sent;
    ipc_lib::MessageInfo info;
    if (reader.Read(index, &info, buffer) !=
        ipc_lib::LocklessQueueReader::Result::GOOD) {
      state.SkipWithError("read failed");
      break;
    }
    benchmark::DoNotOptimize(buffer);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Raw(benchmark::State &state) {
  ShmEventLoop loop(Config());
  loop.SkipTimingReport();
  const Channel *channel =
      configuration::GetChannel<BenchMessage>(Config(), kChannel, "", nullptr);
  std::unique_ptr<RawSender> sender = loop.MakeRawSender(channel);
  std::unique_ptr<RawFetcher> fetcher = loop.MakeRawFetcher(channel);
  UnlinkQueueFiles();
  const std::vector<uint8_t> message = MessageBytes();
  for (auto _ : state) {
    sender->CheckOk(sender->Send(message.data(), message.size()));
    if (!fetcher->FetchNext()) {
      state.SkipWithError("fetch failed");
      break;
    }
    benchmark::DoNotOptimize(fetcher->context().data);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_TypedBuilder(benchmark::State &state) {
  ShmEventLoop loop(Config());
  loop.SkipTimingReport();
  Sender<BenchMessage> sender = loop.MakeSender<BenchMessage>(kChannel);
  Fetcher<BenchMessage> fetcher = loop.MakeFetcher<BenchMessage>(kChannel);
  UnlinkQueueFiles();
  int32_t sequence = 0;
  for (auto _ : state) {
    Sender<BenchMessage>::Builder builder = sender.MakeBuilder();
    builder.CheckOk(builder.Send(Build(builder.fbb(), ++sequence)));
    if (!fetcher.FetchNext()) {
      state.SkipWithError("fetch failed");
      break;
    }
    benchmark::DoNotOptimize(fetcher->sequence());
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Queue)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_Raw)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_TypedBuilder)->Repetitions(5)->ReportAggregatesOnly(true);

// Prints as usual and keeps the medians for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run> &reports) override {
    ConsoleReporter::ReportRuns(reports);
    for (const Run &run : reports) {
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median") {
        cpu_ns_[run.run_name.function_name] = run.GetAdjustedCPUTime();
      }
    }
  }

  void PrintSummary() const {
    const auto queue = cpu_ns_.find("BM_Queue");
    if (queue == cpu_ns_.end()) return;
    printf("\nmedian CPU ns per 64 B send + fetch, one thread, same run\n");
    for (const auto &[name, ns] : cpu_ns_) {
      printf("%-18s %8.1f ns %12.0f msg/s  x%.2f of BM_Queue\n", name.c_str(),
             ns, 1e9 / ns, ns / queue->second);
    }
  }

 private:
  std::map<std::string, double> cpu_ns_;
};

}  // namespace
}  // namespace aos::bench

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  aos::InitGoogle(&argc, &argv);
  const std::string shm_base =
      "/dev/shm/aos_send_fetch_bench_" + std::to_string(getpid());
  aos::ipc_lib::SetShmBase(shm_base);
  aos::bench::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  return 0;
}
