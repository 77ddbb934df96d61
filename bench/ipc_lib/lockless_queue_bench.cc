// Send + read through one lockless queue in one thread, 64 B to 1 MiB, next to
// the floor it cannot beat measured in the same run: one memcpy of the
// payload in and one out (what a copying send and a copying read must do).
//
// Reports items_per_second (messages/s) and time per message; compare the
// LocklessQueue/N and MemcpyFloor/N rows of one run.

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "aos/init.h"
#include "aos/ipc_lib/lockless_queue.h"
#include "glog/logging.h"

namespace aos::ipc_lib {
namespace {

class Queue {
 public:
  explicit Queue(size_t message_size) {
    config_.num_watchers = 1;
    config_.num_senders = 1;
    config_.num_pinners = 0;
    config_.queue_size = 64;
    config_.message_data_size = message_size;
    size_ = LocklessQueueMemorySize(config_);
    memory_ = static_cast<LocklessQueueMemory *>(
        std::aligned_alloc(4096, (size_ + 4095) / 4096 * 4096));
    memset(static_cast<void *>(memory_), 0, size_);
    CHECK(queue().Initialize().has_value());
  }
  ~Queue() { std::free(memory_); }
  LocklessQueue queue() const {
    return LocklessQueue(memory_, memory_, config_);
  }

 private:
  LocklessQueueConfiguration config_;
  size_t size_;
  LocklessQueueMemory *memory_;
};

void BM_LocklessQueueSendRead(benchmark::State &state) {
  const size_t size = static_cast<size_t>(state.range(0));
  Queue queue(size);
  auto sender =
      LocklessQueueSender::Make(queue.queue(), std::chrono::seconds(0));
  CHECK(sender.has_value());
  LocklessQueueReader reader(queue.queue());
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
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
}
BENCHMARK(BM_LocklessQueueSendRead)->RangeMultiplier(16)->Range(64, 1 << 20);

// The floor: the two copies without the queue.
void BM_MemcpyFloor(benchmark::State &state) {
  const size_t size = static_cast<size_t>(state.range(0));
  std::vector<char> source(size, 'x');
  std::vector<char> shared(size);
  std::vector<char> destination(size);
  for (auto _ : state) {
    memcpy(shared.data(), source.data(), size);
    benchmark::ClobberMemory();
    memcpy(destination.data(), shared.data(), size);
    benchmark::DoNotOptimize(destination.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
}
BENCHMARK(BM_MemcpyFloor)->RangeMultiplier(16)->Range(64, 1 << 20);

}  // namespace
}  // namespace aos::ipc_lib

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  aos::InitGoogle(&argc, &argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
