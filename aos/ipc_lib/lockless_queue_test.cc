#include "aos/ipc_lib/lockless_queue.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "aos/ipc_lib/lockless_queue_memory.h"
#include "aos/ipc_lib/lockless_queue_test_util.h"
#include "aos/ipc_lib/process_test_util.h"
#include "gtest/gtest.h"

namespace aos::ipc_lib::testing {
namespace {

using ReadResult = LocklessQueueReader::Result;
using SendResult = LocklessQueueSender::Result;
using std::chrono::seconds;

LocklessQueueConfiguration SmallConfig() {
  LocklessQueueConfiguration config;
  config.num_watchers = 2;
  config.num_senders = 2;
  config.num_pinners = 1;
  config.queue_size = 4;
  config.message_data_size = 64;
  return config;
}

TEST(LocklessQueueLayoutTest, PayloadEndsAligned) {
  for (size_t data_size : {1u, 7u, 64u, 100u, 1000u, 4096u, 65537u}) {
    LocklessQueueConfiguration config = SmallConfig();
    config.message_data_size = data_size;
    HeapQueue heap(config);
    auto sender = LocklessQueueSender::Make(heap.queue(), seconds(0));
    ASSERT_TRUE(sender.has_value());
    EXPECT_EQ(sender->size(), data_size);
    for (int i = 0; i < 6; ++i) {
      const uintptr_t end =
          reinterpret_cast<uintptr_t>(sender->Data()) + sender->size();
      EXPECT_EQ(end % kChannelDataAlignment, 0u) << data_size;
      ASSERT_EQ(SendString(&*sender, "x"), SendResult::GOOD);
    }
    EXPECT_EQ(config.message_size() % kChannelDataAlignment, 0u);
    EXPECT_GE(config.message_size(),
              data_size + 2 * kChannelDataRedzone + sizeof(MessageHeader));
    EXPECT_TRUE(CheckQueueConsistency(heap.queue()).has_value());
  }
}

// A buffer is as small as the payload's aligned end allows: the end redzone
// and the remote queue index share the last aligned block with the payload's
// tail (a 64 B message takes 256 B of shared memory, not 384).
TEST(LocklessQueueLayoutTest, BuffersTakeNoBlockForTheEndRedzoneAlone) {
  const std::pair<size_t, size_t> kExpected[] = {
      {0, 256},   {1, 256},   {64, 256},  {96, 256},   {97, 384},
      {160, 384}, {224, 384}, {225, 512}, {4096, 4352}};
  for (const auto &[data_size, message_size] : kExpected) {
    LocklessQueueConfiguration config = SmallConfig();
    config.message_data_size = data_size;
    EXPECT_EQ(config.message_size(), message_size) << data_size;
    const QueueLayout layout(config);
    EXPECT_LE(layout.remote_queue_index_offset + sizeof(uint32_t),
              layout.message_size)
        << data_size;
    EXPECT_EQ(
        (layout.messages_offset + layout.payload_end) % kChannelDataAlignment,
        0u)
        << data_size;
  }
}

TEST(LocklessQueueTest, ReadResults) {
  HeapQueue heap(SmallConfig());
  LocklessQueueReader reader(heap.queue());
  std::string data;
  EXPECT_FALSE(reader.LatestIndex().valid());
  // Nothing sent: the first lap is "not yet", later laps are "before the
  // queue began".
  EXPECT_EQ(ReadString(reader, heap.queue(), 0, &data),
            ReadResult::NOTHING_NEW);
  EXPECT_EQ(ReadString(reader, heap.queue(), 3, &data),
            ReadResult::NOTHING_NEW);
  EXPECT_EQ(ReadString(reader, heap.queue(), 4, &data), ReadResult::TOO_OLD);

  auto sender = LocklessQueueSender::Make(heap.queue(), seconds(0));
  ASSERT_TRUE(sender.has_value());
  uint32_t index = 99;
  ASSERT_EQ(SendString(&*sender, "zero", &index), SendResult::GOOD);
  EXPECT_EQ(index, 0u);
  EXPECT_EQ(reader.LatestIndex().index(), 0u);
  EXPECT_EQ(ReadString(reader, heap.queue(), 0, &data), ReadResult::GOOD);
  EXPECT_EQ(data, "zero");
  EXPECT_EQ(ReadString(reader, heap.queue(), 1, &data),
            ReadResult::NOTHING_NEW);

  for (int i = 1; i < 6; ++i) {
    ASSERT_EQ(SendString(&*sender, std::to_string(i).insert(0, 1, 'm'), &index),
              SendResult::GOOD);
    EXPECT_EQ(index, static_cast<uint32_t>(i));
  }
  EXPECT_EQ(reader.LatestIndex().index(), 5u);
  // 0 and 1 were overwritten by 4 and 5.
  EXPECT_EQ(ReadString(reader, heap.queue(), 0, &data), ReadResult::TOO_OLD);
  EXPECT_EQ(ReadString(reader, heap.queue(), 1, &data), ReadResult::TOO_OLD);
  EXPECT_EQ(ReadString(reader, heap.queue(), 2, &data), ReadResult::GOOD);
  EXPECT_EQ(data, "m2");
  EXPECT_EQ(ReadString(reader, heap.queue(), 5, &data), ReadResult::GOOD);
  EXPECT_EQ(data, "m5");
  // One and two laps ahead of the newest are both "not yet".
  EXPECT_EQ(ReadString(reader, heap.queue(), 6, &data),
            ReadResult::NOTHING_NEW);
  EXPECT_EQ(ReadString(reader, heap.queue(), 10, &data),
            ReadResult::NOTHING_NEW);

  // FILTERED: the filter sees validated metadata and nothing is copied.
  std::string buffer(64, '#');
  MessageInfo info;
  uint32_t filter_calls = 0;
  auto reject = [&](const MessageInfo &seen) {
    ++filter_calls;
    EXPECT_EQ(seen.queue_index, 5u);
    EXPECT_EQ(seen.length, 2u);
    return false;
  };
  EXPECT_EQ(reader.Read(5, &info, buffer.data(), reject), ReadResult::FILTERED);
  EXPECT_EQ(filter_calls, 1u);
  EXPECT_EQ(buffer, std::string(64, '#'));
  auto accept = [](const MessageInfo &) { return true; };
  EXPECT_EQ(reader.Read(5, &info, buffer.data(), accept), ReadResult::GOOD);
  EXPECT_EQ(buffer.substr(62), "m5");

  // OVERWROTE: the message is replaced between the header check and the end
  // of the copy (here, by sending from inside the filter).
  auto overwrite = [&](const MessageInfo &) {
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(SendString(&*sender, "new"), SendResult::GOOD);
    }
    return true;
  };
  EXPECT_EQ(reader.Read(2, &info, buffer.data(), overwrite),
            ReadResult::OVERWROTE);
  EXPECT_TRUE(CheckQueueConsistency(heap.queue()).has_value());
}

// Every Read result at the boundaries documented on LocklessQueueReader::
// Result, for a queue starting at 0, in the middle, and just before the wrap
// of the 32-bit index. Before issue 13, an index from the lap just before the
// first message (e.g. 0xFFFFFFFB for a queue starting at 0) read OVERWROTE.
TEST(LocklessQueueTest, ReadResultsAtTheBoundaries) {
  const uint32_t count = 4;
  for (const uint32_t start : {0u, 1000u, QueueIndex::MaxIndex(count) - 2}) {
    SCOPED_TRACE("queue starting at " + std::to_string(start));
    HeapQueue heap(SmallConfig(), start);
    LocklessQueueReader reader(heap.queue());
    const QueueIndex first = QueueIndex::FromRaw(start, count);
    auto read = [&](QueueIndex index) {
      std::string data;
      return ReadString(reader, heap.queue(), index.index(), &data);
    };
    auto read_filtered = [&](QueueIndex index) {
      MessageInfo info;
      std::string buffer(64, '#');
      return reader.Read(index.index(), &info, buffer.data(),
                         [](const MessageInfo &) { return true; });
    };

    // Empty queue.
    EXPECT_FALSE(reader.LatestIndex().valid());
    EXPECT_EQ(read(first), ReadResult::NOTHING_NEW);
    EXPECT_EQ(read(first.IncrementBy(count - 1)), ReadResult::NOTHING_NEW);
    EXPECT_EQ(read(first.IncrementBy(count)), ReadResult::TOO_OLD);
    for (uint32_t back = 1; back <= count + 1; ++back) {
      SCOPED_TRACE("index first - " + std::to_string(back));
      EXPECT_EQ(read(first.DecrementBy(back)), ReadResult::TOO_OLD);
      EXPECT_EQ(read_filtered(first.DecrementBy(back)), ReadResult::TOO_OLD);
    }

    auto sender = LocklessQueueSender::Make(heap.queue(), seconds(0));
    ASSERT_TRUE(sender.has_value());
    // One message: it is the oldest and the newest.
    ASSERT_EQ(SendString(&*sender, "m0"), SendResult::GOOD);
    EXPECT_EQ(reader.LatestIndex(), first);
    EXPECT_EQ(read(first), ReadResult::GOOD);
    EXPECT_EQ(read(first.Increment()), ReadResult::NOTHING_NEW);
    for (uint32_t back = 1; back <= count + 1; ++back) {
      SCOPED_TRACE("index first - " + std::to_string(back));
      EXPECT_EQ(read(first.DecrementBy(back)), ReadResult::TOO_OLD);
      EXPECT_EQ(read_filtered(first.DecrementBy(back)), ReadResult::TOO_OLD);
    }

    // Lapped: newest = first + 5, oldest held = first + 2.
    for (int i = 1; i <= 5; ++i) {
      ASSERT_EQ(SendString(&*sender, std::to_string(i).insert(0, 1, 'm')),
                SendResult::GOOD);
    }
    const QueueIndex newest = first.IncrementBy(5);
    const QueueIndex oldest = newest.DecrementBy(count - 1);
    EXPECT_EQ(reader.LatestIndex(), newest);
    std::string data;
    EXPECT_EQ(ReadString(reader, heap.queue(), oldest.index(), &data),
              ReadResult::GOOD);
    EXPECT_EQ(data, "m2");
    EXPECT_EQ(read(oldest.Decrement()), ReadResult::TOO_OLD);
    EXPECT_EQ(read_filtered(oldest.Decrement()), ReadResult::TOO_OLD);
    EXPECT_EQ(ReadString(reader, heap.queue(), newest.index(), &data),
              ReadResult::GOOD);
    EXPECT_EQ(data, "m5");
    EXPECT_EQ(read(newest.Increment()), ReadResult::NOTHING_NEW);
    EXPECT_EQ(read(newest.IncrementBy(count)), ReadResult::NOTHING_NEW);
    EXPECT_EQ(read(first), ReadResult::TOO_OLD);
    EXPECT_EQ(read(first.Decrement()), ReadResult::TOO_OLD);
    EXPECT_TRUE(CheckQueueConsistency(heap.queue()).has_value());
  }
}

// ReadRun answers as a loop of Read on consecutive indices: every message
// of the run, in order, across the wrap of the 32-bit index; each stop
// reason; and a message overwritten during its read (after the ring said it
// was there), or lapped between two reads of the run, is not visited.
TEST(LocklessQueueTest, ReadRunReadsLikeRead) {
  const uint32_t count = 4;
  const uint32_t start = QueueIndex::MaxIndex(count) - 2;
  HeapQueue heap(SmallConfig(), start);
  LocklessQueueReader reader(heap.queue());
  const QueueIndex first = QueueIndex::FromRaw(start, count);
  std::string buffer(64, '#');
  std::vector<std::string> seen;
  std::function<bool(const MessageInfo &)> on_visit;
  const auto visit = [&](const MessageInfo &info) {
    seen.push_back(buffer.substr(buffer.size() - info.length));
    return on_visit ? on_visit(info) : true;
  };
  const auto run = [&](QueueIndex from, ReadFilter filter = {}) {
    seen.clear();
    return reader.ReadRun(from.index(), buffer.data(), filter, visit);
  };

  // Nothing sent: NOTHING_NEW before the first message.
  LocklessQueueReader::RunResult result = run(first);
  EXPECT_EQ(result.stop, ReadResult::NOTHING_NEW);
  EXPECT_EQ(result.visited, 0u);
  EXPECT_EQ(result.next_queue_index, first.index());

  auto sender = LocklessQueueSender::Make(heap.queue(), seconds(0));
  ASSERT_TRUE(sender.has_value());
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(SendString(&*sender, std::to_string(i).insert(0, 1, 'm')),
              SendResult::GOOD);
  }
  // The whole run, through max - 1 to 0, up to the first index not sent.
  result = run(first);
  EXPECT_EQ(result.stop, ReadResult::NOTHING_NEW);
  EXPECT_EQ(result.visited, 3u);
  EXPECT_EQ(result.next_queue_index, first.IncrementBy(3).index());
  EXPECT_LT(result.next_queue_index, start);
  EXPECT_EQ(seen, (std::vector<std::string>{"m0", "m1", "m2"}));
  // A visit returning false stops the run after that message.
  on_visit = [](const MessageInfo &) { return false; };
  result = run(first.Increment());
  EXPECT_EQ(result.stop, ReadResult::GOOD);
  EXPECT_EQ(result.visited, 1u);
  EXPECT_EQ(result.next_queue_index, first.IncrementBy(2).index());
  EXPECT_EQ(seen, (std::vector<std::string>{"m1"}));
  on_visit = nullptr;
  // The filter sees each message first; FILTERED ends the run there.
  int filtered = 0;
  const auto reject_m2 = [&](const MessageInfo &info) {
    const bool keep = info.queue_index != first.IncrementBy(2).index();
    filtered += keep ? 0 : 1;
    return keep;
  };
  result = run(first, reject_m2);
  EXPECT_EQ(result.stop, ReadResult::FILTERED);
  EXPECT_EQ(result.visited, 2u);
  EXPECT_EQ(filtered, 1);
  EXPECT_EQ(seen, (std::vector<std::string>{"m0", "m1"}));

  // Lapped: m0 is gone (TOO_OLD, nothing visited).
  for (int i = 3; i < 6; ++i) {
    ASSERT_EQ(SendString(&*sender, std::to_string(i).insert(0, 1, 'm')),
              SendResult::GOOD);
  }
  result = run(first.Increment());
  EXPECT_EQ(result.stop, ReadResult::TOO_OLD);
  EXPECT_EQ(result.visited, 0u);
  EXPECT_EQ(result.next_queue_index, first.Increment().index());

  // The sender laps the reader while it visits m2: m3, next in the run, is
  // overwritten before the run reads it, and must not be visited.
  bool lapped = false;
  on_visit = [&](const MessageInfo &) {
    for (uint32_t i = 0; !lapped && i < count; ++i) {
      EXPECT_EQ(SendString(&*sender, "lap"), SendResult::GOOD);
    }
    lapped = true;
    return true;
  };
  result = run(first.IncrementBy(2));
  EXPECT_EQ(result.stop, ReadResult::TOO_OLD);
  EXPECT_EQ(result.visited, 1u);
  EXPECT_EQ(seen, (std::vector<std::string>{"m2"}));
  EXPECT_EQ(result.next_queue_index, first.IncrementBy(3).index());
  on_visit = nullptr;

  // Overwritten during its read (by sending from inside the filter, between
  // the header check and the end of the copy): OVERWROTE, not visited.
  const QueueIndex newest = reader.LatestIndex();
  const QueueIndex oldest = newest.DecrementBy(count - 1);
  const auto overwrite_second = [&](const MessageInfo &info) {
    if (info.queue_index == oldest.Increment().index()) {
      for (uint32_t i = 0; i < count; ++i) {
        EXPECT_EQ(SendString(&*sender, "new"), SendResult::GOOD);
      }
    }
    return true;
  };
  result = run(oldest, overwrite_second);
  EXPECT_EQ(result.stop, ReadResult::OVERWROTE);
  EXPECT_EQ(result.visited, 1u);
  EXPECT_EQ(seen, (std::vector<std::string>{"lap"}));
  EXPECT_EQ(result.next_queue_index, oldest.Increment().index());
  EXPECT_TRUE(CheckQueueConsistency(heap.queue()).has_value());
}

TEST(LocklessQueueTest, MetadataCarriedThrough) {
  HeapQueue heap(SmallConfig());
  auto sender = LocklessQueueSender::Make(heap.queue(), seconds(0));
  ASSERT_TRUE(sender.has_value());
  const UUID uuid = UUID::Random();
  const monotonic_clock::time_point remote_mono(std::chrono::seconds(5));
  const realtime_clock::time_point remote_real(std::chrono::seconds(6));
  const monotonic_clock::time_point transmit(std::chrono::seconds(7));
  monotonic_clock::time_point sent_mono;
  realtime_clock::time_point sent_real;
  uint32_t index;
  const monotonic_clock::time_point before = monotonic_clock::now();
  ASSERT_EQ(sender->Send("abc", 3, remote_mono, remote_real, transmit, 77, uuid,
                         &sent_mono, &sent_real, &index),
            SendResult::GOOD);
  EXPECT_GE(sent_mono, before);
  EXPECT_LE(sent_mono, monotonic_clock::now());

  LocklessQueueReader reader(heap.queue());
  monotonic_clock::time_point read_mono, read_remote_mono, read_transmit;
  realtime_clock::time_point read_real, read_remote_real;
  uint32_t remote_index;
  UUID read_uuid = UUID::Zero();
  size_t length;
  char buffer[64];
  ASSERT_EQ(reader.Read(index, &read_mono, &read_real, &read_remote_mono,
                        &read_transmit, &read_remote_real, &remote_index,
                        &read_uuid, &length, buffer),
            ReadResult::GOOD);
  EXPECT_EQ(read_mono, sent_mono);
  EXPECT_EQ(read_real, sent_real);
  EXPECT_EQ(read_remote_mono, remote_mono);
  EXPECT_EQ(read_remote_real, remote_real);
  EXPECT_EQ(read_transmit, transmit);
  EXPECT_EQ(remote_index, 77u);
  EXPECT_EQ(read_uuid, uuid);
  EXPECT_EQ(length, 3u);
  EXPECT_EQ(std::string(buffer + 61, 3), "abc");
  // Upstream code passes a std::function; an empty one means no filter (it
  // used to throw bad_function_call).
  const std::function<bool(const MessageInfo &)> no_filter;
  ASSERT_EQ(reader.Read(index, &read_mono, &read_real, &read_remote_mono,
                        &read_transmit, &read_remote_real, &remote_index,
                        &read_uuid, &length, buffer, no_filter),
            ReadResult::GOOD);
  EXPECT_EQ(length, 3u);
  bool (*null_filter)(const MessageInfo &) = nullptr;
  EXPECT_EQ(reader.Read(index, &read_mono, &read_real, &read_remote_mono,
                        &read_transmit, &read_remote_real, &remote_index,
                        &read_uuid, &length, buffer, null_filter),
            ReadResult::GOOD);

  // A remote index of 0xFFFFFFFF means "local": readers see the local index.
  ASSERT_EQ(SendString(&*sender, "local", &index), SendResult::GOOD);
  MessageInfo info;
  ASSERT_EQ(reader.Read(index, &info, nullptr), ReadResult::GOOD);
  EXPECT_EQ(info.remote_queue_index, index);

  // The remote index is kept outside the header and flagged in it: a buffer
  // that carried a remote index and is then reused for local messages (and
  // the other way round) must not show the stale one.
  const size_t buffers = heap.queue().config().num_messages();
  for (size_t i = 0; i < 3 * buffers; ++i) {
    const bool remote = i % 3 == 0;
    ASSERT_EQ(sender->Send("x", 1, remote_mono, remote_real, transmit,
                           remote ? static_cast<uint32_t>(1000 + i)
                                  : QueueIndex::kInvalid,
                           uuid, nullptr, nullptr, &index),
              SendResult::GOOD);
    ASSERT_EQ(reader.Read(index, &info, nullptr), ReadResult::GOOD);
    EXPECT_EQ(info.remote_queue_index, remote ? 1000 + i : index) << i;
    EXPECT_EQ(info.length, 1u);
  }
}

// Sends across the 32-bit wrap of the queue index with a ring whose length
// does not divide 2^32, starting a few messages before the wrap.
TEST(LocklessQueueTest, QueueIndexWraps) {
  LocklessQueueConfiguration config = SmallConfig();
  config.queue_size = 3;
  const uint32_t max = QueueIndex::MaxIndex(3);
  ASSERT_EQ(max % 3, 0u);
  const uint32_t start = max - 7;
  HeapQueue heap(config, start);
  LocklessQueueReader reader(heap.queue());
  std::string data;
  EXPECT_FALSE(reader.LatestIndex().valid());
  EXPECT_EQ(ReadString(reader, heap.queue(), start, &data),
            ReadResult::NOTHING_NEW);
  auto sender = LocklessQueueSender::Make(heap.queue(), seconds(0));
  ASSERT_TRUE(sender.has_value());

  QueueIndex expected = QueueIndex::FromRaw(start, 3);
  for (int i = 0; i < 20; ++i) {
    uint32_t index;
    ASSERT_EQ(SendString(&*sender, std::to_string(i), &index),
              SendResult::GOOD);
    EXPECT_EQ(index, expected.index()) << i;
    EXPECT_EQ(reader.LatestIndex(), expected);
    EXPECT_EQ(ReadString(reader, heap.queue(), index, &data), ReadResult::GOOD);
    EXPECT_EQ(data, std::to_string(i));
    // The next index is not written yet; the one a lap back is gone.
    EXPECT_EQ(
        ReadString(reader, heap.queue(), expected.Increment().index(), &data),
        ReadResult::NOTHING_NEW);
    if (i >= 3) {
      EXPECT_EQ(ReadString(reader, heap.queue(),
                           expected.DecrementBy(3).index(), &data),
                ReadResult::TOO_OLD);
      EXPECT_EQ(ReadString(reader, heap.queue(),
                           expected.DecrementBy(2).index(), &data),
                ReadResult::GOOD);
    }
    expected = expected.Increment();
  }
  // We went through max - 1 to 0.
  EXPECT_LT(expected.index(), 20u);
  EXPECT_TRUE(CheckQueueConsistency(heap.queue()).has_value());
}

TEST(LocklessQueueTest, SlotLimits) {
  HeapQueue heap(SmallConfig());
  {
    auto a = LocklessQueueSender::Make(heap.queue(), seconds(0));
    auto b = LocklessQueueSender::Make(heap.queue(), seconds(0));
    ASSERT_TRUE(a.has_value());
    ASSERT_TRUE(b.has_value());
    EXPECT_FALSE(
        LocklessQueueSender::Make(heap.queue(), seconds(0)).has_value());
    auto p = LocklessQueuePinner::Make(heap.queue());
    ASSERT_TRUE(p.has_value());
    EXPECT_FALSE(LocklessQueuePinner::Make(heap.queue()).has_value());
    auto w1 = LocklessQueueWatcher::Make(heap.queue(), 0);
    auto w2 = LocklessQueueWatcher::Make(heap.queue(), 0);
    ASSERT_TRUE(w1.has_value());
    ASSERT_TRUE(w2.has_value());
    EXPECT_FALSE(LocklessQueueWatcher::Make(heap.queue(), 0).has_value());
  }
  // Released slots are reusable.
  auto a = LocklessQueueSender::Make(heap.queue(), seconds(0));
  auto b = LocklessQueueSender::Make(heap.queue(), seconds(0));
  EXPECT_TRUE(a.has_value() && b.has_value());
  EXPECT_TRUE(LocklessQueuePinner::Make(heap.queue()).has_value());
  EXPECT_TRUE(LocklessQueueWatcher::Make(heap.queue(), 0).has_value());
}

TEST(LocklessQueueTest, RedzoneCorruptionIsCaught) {
  HeapQueue heap(SmallConfig());
  auto sender = LocklessQueueSender::Make(heap.queue(), seconds(0));
  ASSERT_TRUE(sender.has_value());
  char *data = static_cast<char *>(sender->Data());
  const char saved_before = data[-1];
  data[-1] = static_cast<char>(saved_before + 1);
  EXPECT_EQ(SendString(&*sender, "x"), SendResult::INVALID_REDZONE);
  data[-1] = saved_before;
  const char saved_after = data[sender->size()];
  data[sender->size() + kChannelDataRedzone - 1] ^= 0x40;
  EXPECT_EQ(SendString(&*sender, "x"), SendResult::INVALID_REDZONE);
  data[sender->size() + kChannelDataRedzone - 1] ^= 0x40;
  EXPECT_EQ(data[sender->size()], saved_after);
  // Nothing was published by the failed sends.
  EXPECT_FALSE(LocklessQueueReader(heap.queue()).LatestIndex().valid());
  EXPECT_EQ(SendString(&*sender, "x"), SendResult::GOOD);
}

// The redzone check compares 16 bytes at a time against a computed pattern:
// every byte of both redzones must count, in buffers whose patterns start at
// different bytes (some wrap past 255 inside the redzone).
TEST(LocklessQueueTest, EveryRedzoneByteIsChecked) {
  LocklessQueueConfiguration config = SmallConfig();
  config.queue_size = 16;
  HeapQueue heap(config);
  auto sender = LocklessQueueSender::Make(heap.queue(), seconds(0));
  ASSERT_TRUE(sender.has_value());
  for (int buffer = 0; buffer < 20; ++buffer) {
    char *data = static_cast<char *>(sender->Data());
    for (size_t i = 0; i < kChannelDataRedzone; ++i) {
      for (char *byte : {data - 1 - i, data + sender->size() + i}) {
        *byte ^= 0x01;
        EXPECT_EQ(SendString(&*sender, "x"), SendResult::INVALID_REDZONE)
            << "buffer " << buffer << " byte " << i;
        *byte ^= 0x01;
      }
    }
    ASSERT_EQ(SendString(&*sender, "x"), SendResult::GOOD);
  }
}

// The division-free ring arithmetic of the send and read paths agrees with
// QueueIndex's, including at the wrap and for every kind of ring length.
TEST(LocklessQueueLayoutTest, RingIndexingMatchesQueueIndex) {
  for (uint32_t count :
       {1u, 2u, 3u, 7u, 64u, 100u, 4096u, 65537u, (1u << 30) - 1, 1u << 30}) {
    LocklessQueueConfiguration config = SmallConfig();
    config.queue_size = count;
    const QueueLayout layout(config);
    const RingIndexing ring(layout, count);
    const uint32_t max = QueueIndex::MaxIndex(count);
    for (uint32_t raw : {0u, 1u, count - 1, count, count + 1, 12345u,
                         0x7FFFFFFFu, max - count, max - 2, max - 1}) {
      if (raw >= max) continue;
      const QueueIndex index = QueueIndex::FromRaw(raw, count);
      EXPECT_EQ(ring.Slot(raw), index.Wrapped()) << count << " " << raw;
      EXPECT_EQ(ring.Increment(index).index(), index.Increment().index());
      EXPECT_EQ(ring.Decrement(index).index(), index.Decrement().index());
      EXPECT_EQ(ring.LapBefore(index).index(),
                index.DecrementBy(count).index());
    }
  }
}

monotonic_clock::time_point fake_now;
monotonic_clock::time_point FakeNow() { return fake_now; }

// A send fails exactly when the message it displaces is younger than the
// storage duration (decision 8): 1 ns younger fails, exactly as old succeeds.
TEST(LocklessQueueTest, SentTooFastBoundary) {
  LocklessQueueConfiguration config = SmallConfig();
  config.queue_size = 2;
  HeapQueue heap(config);
  const monotonic_clock::duration storage = std::chrono::milliseconds(500);
  auto sender = LocklessQueueSender::Make(heap.queue(), storage);
  ASSERT_TRUE(sender.has_value());
  sender->SetMonotonicClockForTesting(&FakeNow);
  const monotonic_clock::time_point t0(std::chrono::seconds(100));
  fake_now = t0;
  ASSERT_EQ(SendString(&*sender, "a"), SendResult::GOOD);
  fake_now = t0 + std::chrono::milliseconds(1);
  ASSERT_EQ(SendString(&*sender, "b"), SendResult::GOOD);
  // Displaces "a", sent at t0.
  fake_now = t0 + storage - std::chrono::nanoseconds(1);
  EXPECT_EQ(SendString(&*sender, "c"), SendResult::MESSAGES_SENT_TOO_FAST);
  LocklessQueueReader reader(heap.queue());
  EXPECT_EQ(reader.LatestIndex().index(), 1u);
  // The buffer is kept: Data() is unchanged and the retry works.
  fake_now = t0 + storage;
  uint32_t index;
  EXPECT_EQ(SendString(&*sender, "c", &index), SendResult::GOOD);
  EXPECT_EQ(index, 2u);
  // The rule counts sends from every sender.
  auto other = LocklessQueueSender::Make(heap.queue(), storage);
  ASSERT_TRUE(other.has_value());
  other->SetMonotonicClockForTesting(&FakeNow);
  EXPECT_EQ(SendString(&*other, "d"), SendResult::MESSAGES_SENT_TOO_FAST);
  fake_now = t0 + std::chrono::milliseconds(1) + storage;
  EXPECT_EQ(SendString(&*other, "d"), SendResult::GOOD);
  EXPECT_TRUE(CheckQueueConsistency(heap.queue()).has_value());
}

TEST(LocklessQueueTest, PinnedBufferNeverReused) {
  LocklessQueueConfiguration config = SmallConfig();
  config.num_pinners = 2;
  HeapQueue heap(config);
  auto sender = LocklessQueueSender::Make(heap.queue(), seconds(0));
  auto pinner = LocklessQueuePinner::Make(heap.queue());
  auto pinner2 = LocklessQueuePinner::Make(heap.queue());
  ASSERT_TRUE(sender && pinner && pinner2);
  EXPECT_EQ(pinner->PinIndex(0), -1);
  uint32_t index;
  ASSERT_EQ(SendString(&*sender, "pinned!", &index), SendResult::GOOD);
  const int buffer = pinner->PinIndex(index);
  ASSERT_GE(buffer, 0);
  EXPECT_EQ(pinner2->PinIndex(index), buffer);
  const char *data = static_cast<const char *>(pinner->Data());
  auto pinned_payload = [&]() {
    return std::string(data + pinner->size() - 7, 7);
  };
  EXPECT_EQ(pinned_payload(), "pinned!");
  // Many laps later the pinned buffer still holds the message, and no sender
  // ever had it as scratch.
  for (int i = 0; i < 40; ++i) {
    EXPECT_NE(sender->buffer_index(), buffer);
    ASSERT_EQ(SendString(&*sender, "overwrite"), SendResult::GOOD);
    ASSERT_TRUE(CheckQueueConsistency(heap.queue()).has_value());
  }
  EXPECT_EQ(pinned_payload(), "pinned!");
  EXPECT_EQ(pinner->PinIndex(index), -1);
  // Pinner 2 still pins it after pinner 1 moved on.
  for (int i = 0; i < 40; ++i) {
    EXPECT_NE(sender->buffer_index(), buffer);
    ASSERT_EQ(SendString(&*sender, "more"), SendResult::GOOD);
  }
  EXPECT_EQ(
      std::string(
          static_cast<const char *>(pinner2->Data()) + pinner2->size() - 7, 7),
      "pinned!");
  // Pinning the newest works and gives its data.
  const QueueIndex latest = LocklessQueueReader(heap.queue()).LatestIndex();
  const int latest_buffer = pinner->PinIndex(latest.index());
  ASSERT_GE(latest_buffer, 0);
  EXPECT_EQ(
      std::string(
          static_cast<const char *>(pinner->Data()) + pinner->size() - 4, 4),
      "more");
  EXPECT_EQ(LocklessQueueReader(heap.queue()).BufferData(latest_buffer),
            pinner->Data());
  EXPECT_TRUE(CheckQueueConsistency(heap.queue()).has_value());
}

// A sender whose process dies without releasing its slot: the next Make
// reclaims it.
TEST(LocklessQueueTest, DeadSenderSlotReclaimed) {
  // The child must share the memory.
  SharedRegion region(LocklessQueueMemorySize(SmallConfig()));
  LocklessQueue queue(region.memory(), region.memory(), SmallConfig());
  ASSERT_TRUE(queue.Initialize().has_value());
  const pid_t child = fork();
  if (child == 0) {
    auto a = LocklessQueueSender::Make(queue, seconds(0));
    auto b = LocklessQueueSender::Make(queue, seconds(0));
    auto w = LocklessQueueWatcher::Make(queue, 0);
    auto p = LocklessQueuePinner::Make(queue);
    if (!a || !b || !w || !p ||
        SendString(&*a, "from child") != SendResult::GOOD) {
      _exit(1);
    }
    p->PinIndex(0);
    _exit(0);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto a = LocklessQueueSender::Make(queue, seconds(0));
  auto b = LocklessQueueSender::Make(queue, seconds(0));
  EXPECT_TRUE(a.has_value() && b.has_value());
  EXPECT_TRUE(LocklessQueuePinner::Make(queue).has_value());
  auto w1 = LocklessQueueWatcher::Make(queue, 0);
  auto w2 = LocklessQueueWatcher::Make(queue, 0);
  EXPECT_TRUE(w1.has_value() && w2.has_value());
  std::string data;
  EXPECT_EQ(ReadString(LocklessQueueReader(queue), queue, 0, &data),
            ReadResult::GOOD);
  EXPECT_EQ(data, "from child");
  EXPECT_TRUE(CheckQueueConsistency(queue).has_value());
}

// A slot whose recorded owner tid now belongs to another thread (the owner
// died unseen and its tid was reused): the owner's start time tells them
// apart, so the slot is reclaimed; with the right start time the same tid is
// a live owner and keeps it. The tid used is this test's own thread, which is
// certainly alive.
TEST(LocklessQueueTest, SlotOfAReusedTidIsReclaimed) {
  LocklessQueueConfiguration config = SmallConfig();
  config.num_senders = 1;
  HeapQueue heap(config);
  const ThreadIdentity me = ThreadIdentity::Current();
  ASSERT_NE(me.start_time, 0u) << "needs /proc";
  RobustOwnershipTracker *owner =
      &QueueMemoryView(heap.memory(), heap.queue().layout()).sender(0)->owner;

  RobustOwnershipTrackerTestPeer::SetOwner(owner, me.pid, me.tid,
                                           me.start_time);
  EXPECT_FALSE(owner->IsDefinitelyDead());
  EXPECT_FALSE(LocklessQueueSender::Make(heap.queue(), seconds(0)).has_value());

  RobustOwnershipTrackerTestPeer::SetOwner(owner, me.pid, me.tid,
                                           me.start_time + 1);
  EXPECT_TRUE(owner->IsDefinitelyDead());
  auto sender = LocklessQueueSender::Make(heap.queue(), seconds(0));
  ASSERT_TRUE(sender.has_value());
  EXPECT_TRUE(owner->OwnedByCurrentThread());
  EXPECT_EQ(SendString(&*sender, "mine now"), SendResult::GOOD);
  EXPECT_TRUE(CheckQueueConsistency(heap.queue()).has_value());
}

// The same for a watcher slot, and for a tid that no longer exists at all.
TEST(LocklessQueueTest, WatcherSlotOfAReusedOrGoneTidIsReclaimed) {
  LocklessQueueConfiguration config = SmallConfig();
  config.num_watchers = 1;
  HeapQueue heap(config);
  const ThreadIdentity me = ThreadIdentity::Current();
  ASSERT_NE(me.start_time, 0u) << "needs /proc";
  RobustOwnershipTracker *owner =
      &QueueMemoryView(heap.memory(), heap.queue().layout()).watcher(0)->owner;
  RobustOwnershipTrackerTestPeer::SetOwner(owner, me.pid, me.tid,
                                           me.start_time);
  EXPECT_FALSE(LocklessQueueWatcher::Make(heap.queue(), 0).has_value());
  RobustOwnershipTrackerTestPeer::SetOwner(owner, me.pid, me.tid,
                                           me.start_time - 1);
  {
    auto watcher = LocklessQueueWatcher::Make(heap.queue(), 0);
    EXPECT_TRUE(watcher.has_value());
  }
  // A child's tid, after the child is gone: no such thread.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  RobustOwnershipTrackerTestPeer::SetOwner(owner, child, child, 12345);
  EXPECT_TRUE(owner->IsDefinitelyDead());
  EXPECT_TRUE(LocklessQueueWatcher::Make(heap.queue(), 0).has_value());
}

TEST(LocklessQueueTest, WakeupCoalescing) {
  HeapQueue heap(SmallConfig());
  auto coalesced =
      LocklessQueueWatcher::Make(heap.queue(), 0, WakeupPolicy::kCoalesce);
  auto every =
      LocklessQueueWatcher::Make(heap.queue(), 0, WakeupPolicy::kEveryMessage);
  ASSERT_TRUE(coalesced && every);
  // Signals go to this thread; keep them pending and drop them at the end.
  SignalFd signalfd({kWakeupSignal});
  LocklessQueueWakeUpper wake_upper(heap.queue());
  // Never armed, and not told it follows the protocol: signalled on every
  // message like the every-message watcher (a direct user who never calls
  // PrepareToSleep is still woken).
  EXPECT_FALSE(coalesced->coalescing());
  EXPECT_EQ(wake_upper.Wakeup(0), 2);
  EXPECT_EQ(wake_upper.Wakeup(0), 2);
  coalesced->PrepareToSleep();
  EXPECT_TRUE(coalesced->coalescing());
  EXPECT_EQ(wake_upper.Wakeup(0), 2);
  // Already signalled once for this sleep.
  EXPECT_EQ(wake_upper.Wakeup(0), 1);
  coalesced->PrepareToSleep();
  coalesced->DoneSleeping();
  EXPECT_EQ(wake_upper.Wakeup(0), 1);
  int received = 0;
  while (signalfd.Read().ssi_signo != 0) {
    ++received;
  }
  EXPECT_EQ(received, 8);
}

// StartCoalescing: a watcher that follows the protocol but may be busy before
// it first arms (an event loop) coalesces from the start: not armed, not
// signalled.
TEST(LocklessQueueTest, StartCoalescingBeforeTheFirstArm) {
  HeapQueue heap(SmallConfig());
  auto coalesced =
      LocklessQueueWatcher::Make(heap.queue(), 0, WakeupPolicy::kCoalesce);
  ASSERT_TRUE(coalesced);
  SignalFd signalfd({kWakeupSignal});
  LocklessQueueWakeUpper wake_upper(heap.queue());
  coalesced->StartCoalescing();
  EXPECT_TRUE(coalesced->coalescing());
  EXPECT_EQ(wake_upper.Wakeup(0), 0);
  coalesced->PrepareToSleep();
  EXPECT_EQ(wake_upper.Wakeup(0), 1);
  EXPECT_EQ(wake_upper.Wakeup(0), 0);
  int received = 0;
  while (signalfd.Read().ssi_signo != 0) {
    ++received;
  }
  EXPECT_EQ(received, 1);
}

// A real-time sender below a watcher's priority boosts itself while it
// signals. Without permission (no CAP_SYS_NICE, RLIMIT_RTPRIO 0, as in an
// unprivileged container) the boost is skipped and the signal still goes out.
TEST(LocklessQueueTest, WakeupBoostWithoutPermissionIsSkipped) {
  HeapQueue heap(SmallConfig());
  const pid_t child = fork();
  if (child == 0) {
    auto watcher = LocklessQueueWatcher::Make(heap.queue(), 50,
                                              WakeupPolicy::kEveryMessage);
    SignalFd signalfd({kWakeupSignal});
    if (getuid() == 0 && setresuid(65534, 65534, 65534) != 0) {
      _exit(2);
    }
    const struct rlimit no_rt = {0, 0};
    if (setrlimit(RLIMIT_RTPRIO, &no_rt) != 0) {
      _exit(3);
    }
    LocklessQueueWakeUpper wake_upper(heap.queue());
    if (wake_upper.Wakeup(10) != 1 || wake_upper.Wakeup(10) != 1) {
      _exit(4);
    }
    if (sched_getscheduler(0) != SCHED_OTHER) {
      _exit(5);
    }
    if (signalfd.Read().ssi_signo != static_cast<uint32_t>(kWakeupSignal)) {
      _exit(6);
    }
    // The watcher's slot stays claimed by this (dying) process; fine.
    _exit(0);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace aos::ipc_lib::testing
