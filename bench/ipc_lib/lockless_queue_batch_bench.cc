// The cost of the cache lines a message moves between cores, without the
// wakeup protocol and without the two sides racing on the same lines: a
// sender process (--sender_cpu) publishes a batch of --batch 64 B messages,
// then a reader process (--reader_cpu) reads the whole batch, then the next
// batch, and so on. Per batch, each side's time per message is the cost of
// taking the lines the other side touched last (a sender writes buffers the
// reader read one lap ago; the reader reads what the sender just wrote):
// what a watcher pays when it wakes to a backlog, and what a sender pays
// that streams faster than its reader polls.
//   queue  LocklessQueueSender::Send / LocklessQueueReader::Read;
//   floor  the same traffic with no queue: both send times read the way the
//          queue reads them (bench::ReadSendTimes) and a 64 B copy into
//          one of queue_size + 1 rotating buffers of the queue's message
//          size, and a copy out: the ceiling of any transport that stamps
//          both send times.
// Batches of the two modes alternate, in the same processes and the same
// run; prints the median over --batches batches of each side's ns/message
// and the ratio of the queue to the floor.

#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "aos/init.h"
#include "aos/ipc_lib/lockless_queue.h"
#include "bench/common/bench_util.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_int32(batch, 1000, "Messages per batch.");
DEFINE_int32(batches, 200, "Batches per mode.");
DEFINE_int32(sender_cpu, 0, "CPU of the sender (-1: unpinned).");
DEFINE_int32(reader_cpu, 1, "CPU of the reader (-1: unpinned).");
DEFINE_bool(floor, true,
            "Alternate queue batches with floor batches (false: queue batches "
            "only, so nothing but the queue's own lines passes through the "
            "caches between them).");

namespace aos::ipc_lib {
namespace {

constexpr size_t kSize = 64;
constexpr size_t kQueueSize = 4096;

using bench::NowNs;
using bench::PinToCpu;
using bench::ReadSendTimes;
using bench::SendTimes;

// Shared between the processes: whose turn it is, and the reader's figures.
struct Control {
  // Batch b (counting from 1) is ready to read when ready == b; it was read
  // when done == b.
  alignas(64) std::atomic<int> ready;
  alignas(64) std::atomic<int> done;
  alignas(64) double reader_ns[2];  // the last batch, per mode
};

// Waits politely (the machine is shared).
void WaitFor(const std::atomic<int> &word, int value) {
  int spins = 0;
  while (word.load(std::memory_order_acquire) != value) {
    if (++spins < 1000) {
      __builtin_ia32_pause();
    } else {
      sched_yield();
    }
  }
}

LocklessQueueConfiguration Config() {
  LocklessQueueConfiguration config;
  config.num_watchers = 1;
  config.num_senders = 1;
  config.queue_size = kQueueSize;
  config.message_data_size = kSize;
  return config;
}

void Main() {
  const LocklessQueueConfiguration config = Config();
  const size_t queue_bytes = LocklessQueueMemorySize(config);
  const size_t stride = config.message_size();
  const size_t floor_buffers = kQueueSize + 1;
  // Queue memory and the floor's buffers, shared by both processes.
  char *memory = static_cast<char *>(mmap(
      nullptr, queue_bytes + stride * floor_buffers, PROT_READ | PROT_WRITE,
      MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
  CHECK(memory != MAP_FAILED);
  char *pool = memory + queue_bytes;
  auto *control = static_cast<Control *>(
      mmap(nullptr, sizeof(Control), PROT_READ | PROT_WRITE,
           MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  CHECK(control != MAP_FAILED);
  LocklessQueue queue(reinterpret_cast<LocklessQueueMemory *>(memory),
                      reinterpret_cast<LocklessQueueMemory *>(memory), config);
  CHECK(queue.Initialize().has_value());
  const int batch = FLAGS_batch;
  // Odd batches are the queue's; even ones the floor's (or the queue's too
  // with --nofloor).
  const int total = 2 * FLAGS_batches;

  const pid_t child = fork();
  PCHECK(child >= 0);
  if (child == 0) {
    PinToCpu(FLAGS_reader_cpu);
    LocklessQueueReader reader(queue);
    std::vector<char> buffer(kSize);
    QueueIndex next = QueueIndex::Zero(kQueueSize);
    size_t next_buffer = 0;
    for (int b = 1; b <= total; ++b) {
      WaitFor(control->ready, b);
      const bool floor = FLAGS_floor && b % 2 == 0;
      const int64_t start = NowNs();
      for (int i = 0; i < batch; ++i) {
        if (floor) {
          memcpy(buffer.data(), pool + next_buffer * stride, kSize);
          next_buffer = next_buffer + 1 == floor_buffers ? 0 : next_buffer + 1;
        } else {
          MessageInfo info;
          CHECK(reader.Read(next.index(), &info, buffer.data()) ==
                LocklessQueueReader::Result::GOOD);
          next = next.Increment();
        }
        asm volatile("" : : "r"(buffer.data()) : "memory");
      }
      control->reader_ns[floor ? 1 : 0] =
          static_cast<double>(NowNs() - start) / batch;
      control->done.store(b, std::memory_order_release);
    }
    _exit(0);
  }

  PinToCpu(FLAGS_sender_cpu);
  // Released (under the queue's setup lock) before the memory is unmapped.
  std::optional<LocklessQueueSender> sender =
      LocklessQueueSender::Make(queue, std::chrono::seconds(0));
  CHECK(sender.has_value());
  std::vector<char> payload(kSize, 'p');
  size_t next_buffer = 0;
  std::vector<double> sender_ns[2], reader_ns[2];
  for (int b = 1; b <= total; ++b) {
    const bool floor = FLAGS_floor && b % 2 == 0;
    const int64_t start = NowNs();
    for (int i = 0; i < batch; ++i) {
      if (floor) {
        const SendTimes times = ReadSendTimes();
        memcpy(payload.data(), &times, sizeof(times));
        memcpy(pool + next_buffer * stride, payload.data(), kSize);
        next_buffer = next_buffer + 1 == floor_buffers ? 0 : next_buffer + 1;
      } else {
        CHECK(sender->Send(payload.data(), kSize, monotonic_clock::min_time,
                           realtime_clock::min_time, monotonic_clock::min_time,
                           QueueIndex::kInvalid,
                           UUID::Zero()) == LocklessQueueSender::Result::GOOD);
      }
    }
    sender_ns[floor ? 1 : 0].push_back(static_cast<double>(NowNs() - start) /
                                       batch);
    control->ready.store(b, std::memory_order_release);
    WaitFor(control->done, b);
    reader_ns[floor ? 1 : 0].push_back(control->reader_ns[floor ? 1 : 0]);
  }
  int status;
  PCHECK(waitpid(child, &status, 0) == child);
  sender.reset();
  auto median = [](std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
  };
  const double queue_send = median(sender_ns[0]);
  const double queue_read = median(reader_ns[0]);
  const double floor_send = FLAGS_floor ? median(sender_ns[1]) : 0;
  const double floor_read = FLAGS_floor ? median(reader_ns[1]) : 0;
  auto ratio = [](double queue, double floor) {
    return floor > 0 ? queue / floor : 0.0;
  };
  printf(
      "64 B, batches of %d, sender cpu %d, reader cpu %d, median of %zu "
      "batches%s\n"
      "         %12s %12s %12s\n"
      "sender   %12.1f %12.1f %12.2f\n"
      "reader   %12.1f %12.1f %12.2f\n",
      batch, FLAGS_sender_cpu, FLAGS_reader_cpu, sender_ns[0].size(),
      FLAGS_floor ? "" : " (no floor)", "queue ns/msg", "floor ns/msg",
      "queue/floor", queue_send, floor_send, ratio(queue_send, floor_send),
      queue_read, floor_read, ratio(queue_read, floor_read));
  munmap(control, sizeof(Control));
  munmap(memory, queue_bytes + stride * floor_buffers);
}

}  // namespace
}  // namespace aos::ipc_lib

int main(int argc, char **argv) {
  aos::InitGoogle(&argc, &argv);
  aos::ipc_lib::Main();
  return 0;
}
