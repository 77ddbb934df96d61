// Several senders (threads, or processes) send at once while readers check
// that every message they get is whole, in order per sender, and was really
// sent; a pinner checks pinned buffers are never written while pinned.
//
// Sized to take a second or two in Release; run it longer by hand with e.g.
//   lockless_queue_racer_test --racer_messages=5000000 --racer_senders=4

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/lockless_queue_memory.h"
#include "aos/ipc_lib/lockless_queue_test_util.h"
#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/testing/tmpdir.h"
#include "gflags/gflags.h"
#include "gtest/gtest.h"

#if defined(__SANITIZE_THREAD__)
constexpr int kDefaultMessages = 20000;
#else
constexpr int kDefaultMessages = 500000;
#endif
DEFINE_int32(racer_messages, kDefaultMessages, "Messages per sender.");
DEFINE_int32(racer_senders, 3, "Sending threads (or processes).");
DEFINE_int32(racer_readers, 2, "Reading threads.");

namespace aos::ipc_lib::testing {
namespace {

using ReadResult = LocklessQueueReader::Result;
using SendResult = LocklessQueueSender::Result;

constexpr size_t kDataSize = 64;

struct PayloadHeader {
  uint32_t sender;
  uint32_t seq;
};

uint8_t PatternByte(uint32_t sender, uint32_t seq, size_t i) {
  return static_cast<uint8_t>(sender * 31 + seq * 7 + i);
}

// Lengths vary with the sequence number, so a torn length shows too.
size_t LengthOf(uint32_t seq) { return sizeof(PayloadHeader) + seq % 48; }

void FillPayload(char *end_aligned_end, uint32_t sender, uint32_t seq) {
  const size_t length = LengthOf(seq);
  char *start = end_aligned_end - length;
  const PayloadHeader header{sender, seq};
  memcpy(start, &header, sizeof(header));
  for (size_t i = sizeof(header); i < length; ++i) {
    start[i] = static_cast<char>(PatternByte(sender, seq, i));
  }
}

// Returns an empty string if the payload is one we sent, else what is wrong.
std::string CheckPayload(const char *payload_start, size_t length,
                         uint32_t num_senders, uint32_t messages) {
  if (length < sizeof(PayloadHeader)) {
    return "short message of " + std::to_string(length) + " bytes";
  }
  PayloadHeader header;
  memcpy(&header, payload_start, sizeof(header));
  if (header.sender >= num_senders || header.seq >= messages) {
    return "invented message: sender " + std::to_string(header.sender) +
           " seq " + std::to_string(header.seq);
  }
  if (length != LengthOf(header.seq)) {
    return "wrong length " + std::to_string(length);
  }
  for (size_t i = sizeof(header); i < length; ++i) {
    if (static_cast<uint8_t>(payload_start[i]) !=
        PatternByte(header.sender, header.seq, i)) {
      return "torn message: sender " + std::to_string(header.sender) + " seq " +
             std::to_string(header.seq) + " byte " + std::to_string(i);
    }
  }
  return "";
}

LocklessQueueConfiguration RacerConfig() {
  LocklessQueueConfiguration config;
  config.num_watchers = 1;
  config.num_senders = static_cast<size_t>(FLAGS_racer_senders);
  config.num_pinners = 1;
  config.queue_size = 64;
  config.message_data_size = kDataSize;
  return config;
}

void SendAll(LocklessQueue queue, uint32_t sender_id) {
  auto sender = LocklessQueueSender::Make(queue, std::chrono::seconds(0));
  CHECK(sender.has_value());
  for (uint32_t seq = 0; seq < static_cast<uint32_t>(FLAGS_racer_messages);
       ++seq) {
    FillPayload(static_cast<char *>(sender->Data()) + sender->size(), sender_id,
                seq);
    CHECK_EQ(sender->Send(LengthOf(seq), monotonic_clock::min_time,
                          realtime_clock::min_time, monotonic_clock::min_time,
                          0xFFFFFFFFu, UUID::Zero()),
             SendResult::GOOD);
  }
}

struct ReaderStats {
  uint64_t good = 0;
  uint64_t skipped = 0;
  std::string error;
};

// Reads everything it can until the senders are done and it has caught up.
ReaderStats ReadAll(LocklessQueue queue, const std::atomic<bool> *done) {
  ReaderStats stats;
  const uint32_t senders = static_cast<uint32_t>(FLAGS_racer_senders);
  const uint32_t messages = static_cast<uint32_t>(FLAGS_racer_messages);
  LocklessQueueReader reader(queue);
  std::vector<int64_t> last_seq(senders, -1);
  std::vector<char> buffer(kDataSize);
  QueueIndex next = QueueIndex::Zero(static_cast<uint32_t>(queue.QueueSize()));
  monotonic_clock::time_point last_time = monotonic_clock::min_time;
  bool last_was_previous_index = false;
  while (true) {
    const bool finished = done->load(std::memory_order_acquire);
    MessageInfo info;
    switch (reader.Read(next.index(), &info, buffer.data())) {
      case ReadResult::GOOD: {
        const char *payload = buffer.data() + kDataSize - info.length;
        std::string error =
            CheckPayload(payload, info.length, senders, messages);
        if (error.empty()) {
          PayloadHeader header;
          memcpy(&header, payload, sizeof(header));
          if (static_cast<int64_t>(header.seq) <= last_seq[header.sender]) {
            error = "out of order: sender " + std::to_string(header.sender) +
                    " seq " + std::to_string(header.seq) + " after " +
                    std::to_string(last_seq[header.sender]);
          }
          last_seq[header.sender] = header.seq;
        }
        if (error.empty() && last_was_previous_index &&
            info.monotonic_sent_time < last_time) {
          error = "send times go backwards at index " +
                  std::to_string(next.index());
        }
        if (!error.empty()) {
          stats.error = error;
          return stats;
        }
        last_time = info.monotonic_sent_time;
        last_was_previous_index = true;
        ++stats.good;
        next = next.Increment();
        break;
      }
      case ReadResult::NOTHING_NEW:
        if (finished) {
          const QueueIndex latest = reader.LatestIndex();
          if (latest.valid() && latest.Increment() == next) {
            return stats;
          }
        }
        std::this_thread::yield();
        break;
      case ReadResult::TOO_OLD:
      case ReadResult::OVERWROTE: {
        // Fell behind: jump to half a ring before the newest.
        ++stats.skipped;
        last_was_previous_index = false;
        next = reader.LatestIndex().DecrementBy(
            static_cast<uint32_t>(queue.QueueSize() / 2));
        break;
      }
      case ReadResult::FILTERED:
        stats.error = "FILTERED without a filter";
        return stats;
    }
  }
}

// Pins the newest message over and over and checks its contents do not
// change while pinned.
std::string PinAll(LocklessQueue queue, const std::atomic<bool> *done) {
  auto pinner = LocklessQueuePinner::Make(queue);
  CHECK(pinner.has_value());
  LocklessQueueReader reader(queue);
  const uint32_t senders = static_cast<uint32_t>(FLAGS_racer_senders);
  const uint32_t messages = static_cast<uint32_t>(FLAGS_racer_messages);
  std::vector<char> first(kDataSize);
  while (!done->load(std::memory_order_acquire)) {
    const QueueIndex latest = reader.LatestIndex();
    if (!latest.valid()) continue;
    MessageInfo info;
    if (reader.Read(latest.index(), &info, nullptr) != ReadResult::GOOD) {
      continue;
    }
    if (pinner->PinIndex(latest.index()) < 0) continue;
    const char *data = static_cast<const char *>(pinner->Data());
    const char *payload = data + kDataSize - info.length;
    memcpy(first.data(), payload, info.length);
    for (int i = 0; i < 50; ++i) std::this_thread::yield();
    if (memcmp(first.data(), payload, info.length) != 0) {
      return "pinned buffer changed while pinned";
    }
    std::string error = CheckPayload(payload, info.length, senders, messages);
    if (!error.empty()) return "pinned: " + error;
  }
  return "";
}

void RunReaders(LocklessQueue queue, const std::atomic<bool> &done,
                std::vector<ReaderStats> *stats, std::string *pin_error,
                std::vector<std::thread> *threads) {
  stats->resize(FLAGS_racer_readers);
  for (int i = 0; i < FLAGS_racer_readers; ++i) {
    threads->emplace_back(
        [queue, &done, stats, i]() { (*stats)[i] = ReadAll(queue, &done); });
  }
  threads->emplace_back(
      [queue, &done, pin_error]() { *pin_error = PinAll(queue, &done); });
}

void CheckResults(const std::vector<ReaderStats> &stats,
                  const std::string &pin_error) {
  EXPECT_EQ(pin_error, "");
  for (const ReaderStats &reader : stats) {
    EXPECT_EQ(reader.error, "");
    EXPECT_GT(reader.good, 0u);
    LOG(INFO) << "reader: " << reader.good << " good, " << reader.skipped
              << " times fell behind";
  }
}

TEST(LocklessQueueRacerTest, Threads) {
  HeapQueue heap(RacerConfig());
  std::atomic<bool> done{false};
  std::vector<ReaderStats> stats;
  std::string pin_error;
  std::vector<std::thread> readers;
  RunReaders(heap.queue(), done, &stats, &pin_error, &readers);
  std::vector<std::thread> senders;
  for (int i = 0; i < FLAGS_racer_senders; ++i) {
    senders.emplace_back(
        [&heap, i]() { SendAll(heap.queue(), static_cast<uint32_t>(i)); });
  }
  for (std::thread &thread : senders) thread.join();
  done.store(true, std::memory_order_release);
  for (std::thread &thread : readers) thread.join();
  CheckResults(stats, pin_error);
  // Every message was sent: the index counted them all.
  EXPECT_EQ(LocklessQueueReader(heap.queue()).LatestIndex().index() + 1,
            static_cast<uint32_t>(FLAGS_racer_messages * FLAGS_racer_senders));
  Result<void> consistent = CheckQueueConsistency(heap.queue());
  EXPECT_TRUE(consistent.has_value()) << consistent.error();
}

TEST(LocklessQueueRacerTest, Processes) {
  aos::testing::TempDir dir;
  const std::string path = ShmPath(dir.path(), "/racer", "aos.Racer");
  // Children open the file themselves, as separate programs would.
  std::vector<pid_t> children;
  for (int i = 0; i < FLAGS_racer_senders; ++i) {
    const pid_t child = fork();
    if (child == 0) {
      Result<MemoryMappedQueue> queue =
          MemoryMappedQueue::Open(path, RacerConfig(), 0770);
      if (!queue) _exit(2);
      SendAll(queue->queue(), static_cast<uint32_t>(i));
      _exit(0);
    }
    children.push_back(child);
  }
  Result<MemoryMappedQueue> queue =
      MemoryMappedQueue::Open(path, RacerConfig(), 0770);
  ASSERT_TRUE(queue.has_value()) << queue.error();
  std::atomic<bool> done{false};
  std::vector<ReaderStats> stats;
  std::string pin_error;
  std::vector<std::thread> readers;
  RunReaders(queue->queue(), done, &stats, &pin_error, &readers);
  for (pid_t child : children) {
    int status;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  done.store(true, std::memory_order_release);
  for (std::thread &thread : readers) thread.join();
  CheckResults(stats, pin_error);
  EXPECT_EQ(LocklessQueueReader(queue->queue()).LatestIndex().index() + 1,
            static_cast<uint32_t>(FLAGS_racer_messages * FLAGS_racer_senders));
  Result<void> consistent = CheckQueueConsistency(queue->queue());
  EXPECT_TRUE(consistent.has_value()) << consistent.error();
}

}  // namespace
}  // namespace aos::ipc_lib::testing
