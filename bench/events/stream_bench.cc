// Throughput of a one-way stream through ShmEventLoop: a Sender in one
// process, a watcher in another, each with its own ShmEventLoop on one
// channel (64 B and 1 MiB payloads of aos.bench.BenchMessage, COPY reads).
// It checks end to end what lockless_queue_stream_bench models at the queue
// level (its every_message, coalesced and --spin_before_arm_ns modes).
//
// Cases, measured in the same invocation with the same placement (sender on
// --sender_cpu, receiver on --receiver_cpu, or both on --sender_cpu with
// --same_core):
//   queue_poll              the baseline: the same queue file, opened with
//                           ipc_lib directly; the sender writes a message of
//                           the same size in place and publishes it with
//                           LocklessQueueSender (and calls the wake-upper, as
//                           ShmSender does, which finds no watcher), the
//                           reader spins on LocklessQueueReader::Read. No
//                           event loop, no flatbuffers, no wakeups: the
//                           ceiling of the queue itself;
//   shm_every_message       ShmEventLoop, --coalesce_wakeups=false in the
//                           receiver: one signal per message (upstream's
//                           design);
//   shm_coalesced           ShmEventLoop, wakeup coalescing (the default):
//                           senders signal the watcher only when it is armed
//                           to sleep;
//   shm_coalesced_poll_1us  shm_coalesced, and the receiver's loop calls
//                           SetPollBeforeSleep(1us): it polls its watcher up
//                           to 1 us before arming.
// The event-loop sender builds each message in place with Sender<T>::Builder
// and sends it without running its loop (sending needs no Run()); the
// receiver's watcher checks the sequence number and the payload of every
// message and counts them.
//
// Flow control: the sender never gets more than half a ring ahead of the
// receiver. The receiver publishes the next sequence it expects in shared
// memory (every 64 messages on a 4096-message ring, every message on a
// 16-message one); the sender rereads it only when it is at the limit. So
// the rate is what both sides sustain, no message is overwritten before it
// is read, and the message the sender displaces is half a ring old, far
// older than the channel's 10 us storage duration (sent-too-fast is
// retried and counted anyway).
//
// Prints, per case, the median over --runs of messages/s delivered (the
// sender's first send to the receiver's last message) with the min and max,
// the ratio to queue_poll, and, from the median run:
//   lost             sequence gaps (must be 0 with flow control), over all
//                    runs; every run also checks that the handler saw every
//                    message with its payload intact, or the bench dies;
//   receiver_sleeps  the receiver's voluntary context switches while it ran,
//                    i.e. the times it blocked in epoll_wait for a wakeup
//                    signal (signals sent to a receiver that was not asleep
//                    are not counted: nothing cheap counts them);
//   sender_stalls    how often the sender hit the flow-control limit, and
//                    the share of the run it spent waiting there (near 100%:
//                    the receiver is the bottleneck; near 0: the sender);
//   sent_too_fast    sends refused by the storage-duration rule and retried;
//   cpu ns/msg       each side's CPU time per message (the sender's includes
//                    its waits, which spin and yield).
// Runs alternate between cases so a noisy minute hits all alike.

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
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
#include "bench/common/bench_util.h"
#include "bench/events/bench_message_generated.h"
#include "bench/events/pingpong_common.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

// 1 M rather than the queue stream bench's 2 M: shm_every_message runs at
// a few hundred thousand messages/s here, and a run should take seconds.
DEFINE_int32(messages_small, 1000000,
             "Messages per run for payloads up to 4 KiB.");
DEFINE_int32(messages_large, 4000, "Messages per run for larger payloads.");
DEFINE_int32(runs, 3, "Runs per case; the median is reported.");
DEFINE_int32(sender_cpu, 0, "CPU of the sender (-1: unpinned).");
DEFINE_int32(receiver_cpu, 1, "CPU of the receiver (-1: unpinned).");
DEFINE_bool(same_core, false,
            "Put the receiver on --sender_cpu too (ignores --receiver_cpu).");
DEFINE_string(cases,
              "queue_poll,shm_every_message,shm_coalesced,"
              "shm_coalesced_poll_1us",
              "Comma-separated cases to run, in this order.");
DEFINE_string(sizes, "64,1048576", "Comma-separated payload sizes in bytes.");

namespace aos::bench {
namespace {

enum class Case {
  kQueuePoll,
  kEveryMessage,
  kCoalesced,
  kCoalescedPoll,
};
constexpr Case kAllCases[] = {Case::kQueuePoll, Case::kEveryMessage,
                              Case::kCoalesced, Case::kCoalescedPoll};

const char *CaseName(Case c) {
  switch (c) {
    case Case::kQueuePoll:
      return "queue_poll";
    case Case::kEveryMessage:
      return "shm_every_message";
    case Case::kCoalesced:
      return "shm_coalesced";
    case Case::kCoalescedPoll:
      return "shm_coalesced_poll_1us";
  }
  return "?";
}

std::vector<Case> ParseCases(const std::string &list) {
  std::vector<Case> cases;
  for (const std::string &name : SplitCommaList(list)) {
    const Case *found =
        std::find_if(std::begin(kAllCases), std::end(kAllCases),
                     [&](Case c) { return name == CaseName(c); });
    CHECK(found != std::end(kAllCases))
        << ": unknown case '" << name << "' in --cases";
    cases.push_back(*found);
  }
  return cases;
}

// Ring length: 4096 messages up to 4 KiB (as the queue stream bench), 16
// above. The storage duration is short so that only a message younger than
// 10 us can make a send fail; the frequency gives the ring length
// (queue size = frequency x storage duration).
constexpr int64_t kStorageDurationNs = 10000;
size_t RingLength(size_t payload) { return payload <= 4096 ? 4096 : 16; }

std::string ChannelName(size_t payload) {
  return "/stream_" + std::to_string(payload);
}

std::string ConfigJson(const std::vector<size_t> &payloads) {
  std::string json = R"({"channels": [)";
  for (size_t i = 0; i < payloads.size(); ++i) {
    const size_t frequency =
        RingLength(payloads[i]) * 1000000000 / kStorageDurationNs;
    if (i > 0) json += ",";
    json += R"({"name": ")";
    json += ChannelName(payloads[i]);
    json += R"(", "type": "aos.bench.BenchMessage", "max_size": )";
    json += std::to_string(payloads[i] + 256);
    json += R"(, "frequency": )";
    json += std::to_string(frequency);
    json += R"(, "channel_storage_duration": )";
    json += std::to_string(kStorageDurationNs);
    json += R"(, "num_senders": 1, "num_watchers": 1})";
  }
  json += "]}";
  return json;
}

// The size of a BenchMessage carrying `payload` bytes, as the event-loop
// sender builds it (every field present): what the baseline sends.
size_t MessageBytes(size_t payload) {
  flatbuffers::FlatBufferBuilder fbb;
  fbb.ForceDefaults(true);
  uint8_t *bytes = nullptr;
  const auto data = fbb.CreateUninitializedVector<uint8_t>(payload, &bytes);
  memset(bytes, 0, payload);
  BenchMessage::Builder message(fbb);
  message.add_sequence(0);
  message.add_payload(data);
  fbb.Finish(message.Finish());
  return fbb.GetSize();
}

// One run's shared state, in anonymous shared memory mapped before forking.
// The flow-control counter has its own cache line; the rest is written once.
struct Shared {
  // Receiver -> sender: the next sequence the receiver expects.
  alignas(64) std::atomic<int64_t> read;
  alignas(64) std::atomic<bool> receiver_ready;
  // Written by the sender before it exits.
  int64_t start_ns;
  int64_t sender_stalls;
  int64_t sent_too_fast;
  int64_t sender_cpu_ns;
  int64_t sender_waited_ns;
  // Written by the receiver before it exits.
  int64_t received;
  int64_t lost;
  int64_t bad_payloads;
  int64_t end_ns;
  int64_t receiver_sleeps;
  int64_t receiver_cpu_ns;
  int64_t message_bytes;
};

struct RunResult {
  double messages_per_second;
  int64_t lost;
  int64_t receiver_sleeps;
  int64_t sender_stalls;
  // Share of the run the sender spent waiting for the receiver (flow
  // control): near 1, the receiver is the bottleneck; near 0, the sender.
  double sender_waiting;
  int64_t sent_too_fast;
  // CPU time per message of each side; its wall time per message is
  // 1e9 / messages_per_second. The busier one is the bottleneck.
  double sender_cpu_ns;
  double receiver_cpu_ns;
};

// Busy-waits politely: spins a while, then lets other processes on this CPU
// run (the machine is shared, and with --same_core the peer needs the CPU).
void Backoff(int *spins) {
  if (++*spins < 1000) {
    __builtin_ia32_pause();
  } else {
    sched_yield();
  }
}

int64_t VoluntarySwitches() {
  struct rusage usage;
  PCHECK(getrusage(RUSAGE_THREAD, &usage) == 0);
  return usage.ru_nvcsw;
}

// What both senders share: waiting for the receiver, and flow control.
class SenderSide {
 public:
  SenderSide(Shared *shared, size_t payload)
      : shared_(shared),
        max_ahead_(static_cast<int64_t>(RingLength(payload) / 2)) {}

  void WaitForReceiver() {
    const auto give_up =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!shared_->receiver_ready.load(std::memory_order_acquire)) {
      CHECK(std::chrono::steady_clock::now() < give_up)
          << ": the receiver did not start within 30 s";
      usleep(100);
    }
  }

  // Waits until message `i` is less than half a ring ahead of the receiver.
  // Times only the waits, so a sender that never waits reads no clock here.
  void FlowControl(int64_t i) {
    if (i - read_so_far_ < max_ahead_) return;
    read_so_far_ = shared_->read.load(std::memory_order_acquire);
    if (i - read_so_far_ < max_ahead_) return;
    ++stalls_;
    const int64_t start = NowNs();
    int spins = 0;
    while (i - read_so_far_ >= max_ahead_) {
      Backoff(&spins);
      read_so_far_ = shared_->read.load(std::memory_order_acquire);
    }
    waited_ns_ += NowNs() - start;
  }

  // Call right before the first send.
  void Start() {
    start_cpu_ns_ = ThreadCpuNs();
    start_ns_ = NowNs();
  }

  void Finish(int64_t sent_too_fast) {
    shared_->sender_cpu_ns = ThreadCpuNs() - start_cpu_ns_;
    shared_->start_ns = start_ns_;
    shared_->sender_stalls = stalls_;
    shared_->sender_waited_ns = waited_ns_;
    shared_->sent_too_fast = sent_too_fast;
  }

 private:
  Shared *const shared_;
  const int64_t max_ahead_;
  int64_t read_so_far_ = 0;
  int64_t stalls_ = 0;
  int64_t waited_ns_ = 0;
  int64_t start_cpu_ns_ = 0;
  int64_t start_ns_ = 0;
};

// What both receivers share: checking each message and publishing progress.
class ReceiverSide {
 public:
  ReceiverSide(Shared *shared, size_t payload, int64_t messages)
      : shared_(shared),
        messages_(messages),
        publish_every_(RingLength(payload) >= 1024 ? 64 : 1) {}

  // Counts message `sequence`, whose payload the caller checked
  // (`payload_ok`). Returns true for the last message of the run.
  bool Received(int64_t sequence, bool payload_ok) {
    CHECK_GE(sequence, next_)
        << ": message " << sequence << " arrived again or out of order";
    lost_ += sequence - next_;
    next_ = sequence + 1;
    ++received_;
    if (!payload_ok) ++bad_payloads_;
    if (received_ % publish_every_ == 0) {
      shared_->read.store(next_, std::memory_order_release);
    }
    if (next_ == messages_) {
      end_ns_ = NowNs();
      return true;
    }
    return false;
  }

  void Start() {
    start_switches_ = VoluntarySwitches();
    start_cpu_ns_ = ThreadCpuNs();
    shared_->receiver_ready.store(true, std::memory_order_release);
  }

  void Finish(int64_t message_bytes) {
    shared_->receiver_sleeps = VoluntarySwitches() - start_switches_;
    shared_->receiver_cpu_ns = ThreadCpuNs() - start_cpu_ns_;
    shared_->received = received_;
    shared_->lost = lost_;
    shared_->bad_payloads = bad_payloads_;
    shared_->end_ns = end_ns_;
    shared_->message_bytes = message_bytes;
  }

 private:
  Shared *const shared_;
  const int64_t messages_;
  const int64_t publish_every_;
  int64_t next_ = 0;
  int64_t received_ = 0;
  int64_t lost_ = 0;
  int64_t bad_payloads_ = 0;
  int64_t end_ns_ = 0;
  int64_t start_switches_ = 0;
  int64_t start_cpu_ns_ = 0;
};

// ------------------------------------------------------------ ShmEventLoop

[[noreturn]] void EventLoopSender(const Configuration *config, size_t payload,
                                  int64_t messages, Shared *shared, int cpu) {
  PinToCpu(cpu);
  ShmEventLoop loop(config);
  loop.SkipTimingReport();
  Sender<BenchMessage> sender =
      loop.MakeSender<BenchMessage>(ChannelName(payload));
  SenderSide side(shared, payload);
  side.WaitForReceiver();
  int64_t too_fast = 0;
  side.Start();
  for (int64_t i = 0; i < messages; ++i) {
    side.FlowControl(i);
    while (true) {
      // Built in place in shared memory, the payload filled as a producer
      // fills it.
      Sender<BenchMessage>::Builder builder = sender.MakeBuilder();
      uint8_t *bytes = nullptr;
      const auto data =
          builder.fbb()->CreateUninitializedVector<uint8_t>(payload, &bytes);
      memset(bytes, static_cast<uint8_t>(i), payload);
      BenchMessage::Builder message = builder.MakeBuilder<BenchMessage>();
      message.add_sequence(static_cast<int32_t>(i));
      message.add_payload(data);
      const RawSender::Error error = builder.Send(message.Finish());
      if (error == RawSender::Error::kOk) break;
      CHECK(error == RawSender::Error::kMessagesSentTooFast)
          << ": unexpected send error on " << ChannelName(payload);
      ++too_fast;
      __builtin_ia32_pause();
    }
  }
  side.Finish(too_fast);
  _exit(0);
}

[[noreturn]] void EventLoopReceiver(const Configuration *config, Case c,
                                    size_t payload, int64_t messages,
                                    Shared *shared, int cpu) {
  PinToCpu(cpu);
  // Read when Run() claims the watcher slot (LocklessQueueWatcher::Make), so
  // setting it here, before Run(), picks this process's policy; senders
  // follow the policy recorded in the slot.
  FLAGS_coalesce_wakeups = c != Case::kEveryMessage;
  ShmEventLoop loop(config);
  loop.SkipTimingReport();
  if (c == Case::kCoalescedPoll) {
    loop.SetPollBeforeSleep(std::chrono::microseconds(1));
  }
  ReceiverSide side(shared, payload, messages);
  int64_t message_bytes = 0;
  loop.MakeWatcher(ChannelName(payload), [&](const BenchMessage &message) {
    const flatbuffers::Vector<uint8_t> *data = message.payload();
    CHECK(data != nullptr) << ": message without payload";
    message_bytes = static_cast<int64_t>(loop.context().size);
    // The sender fills the payload with the sequence's low byte.
    const uint8_t expected = static_cast<uint8_t>(message.sequence());
    if (side.Received(message.sequence(),
                      data->size() == payload && data->Get(0) == expected &&
                          data->Get(data->size() - 1) == expected)) {
      loop.Exit();
    }
  });
  loop.OnRun([&]() { side.Start(); });
  const Result<void> status = loop.Run();
  CHECK(status.has_value()) << status.error();
  side.Finish(message_bytes);
  _exit(0);
}

// -------------------------------------------------------- queue_poll baseline

ipc_lib::MemoryMappedQueue OpenQueue(const Configuration *config,
                                     const Channel *channel) {
  Result<ipc_lib::MemoryMappedQueue> queue = ipc_lib::MemoryMappedQueue::Open(
      ShmChannelQueuePath(FLAGS_shm_base, channel),
      ShmChannelQueueConfiguration(config, channel), 0770);
  CHECK(queue.has_value()) << queue.error();
  return std::move(*queue);
}

[[noreturn]] void QueueSender(const Configuration *config,
                              const Channel *channel, size_t payload,
                              int64_t messages, Shared *shared, int cpu) {
  PinToCpu(cpu);
  ipc_lib::MemoryMappedQueue queue = OpenQueue(config, channel);
  std::optional<ipc_lib::LocklessQueueSender> sender =
      ipc_lib::LocklessQueueSender::Make(
          queue.queue(),
          configuration::ChannelStorageDuration(config, channel));
  CHECK(sender.has_value());
  ipc_lib::LocklessQueueWakeUpper wake_upper(queue.queue());
  const size_t length = MessageBytes(payload);
  SenderSide side(shared, payload);
  side.WaitForReceiver();
  int64_t too_fast = 0;
  side.Start();
  for (int64_t i = 0; i < messages; ++i) {
    side.FlowControl(i);
    // In place, at the end of the sender's buffer, as a builder writes.
    char *bytes = static_cast<char *>(sender->Data()) + sender->size() - length;
    memset(bytes, static_cast<uint8_t>(i), length);
    memcpy(bytes, &i, sizeof(i));
    while (sender->Send(length, monotonic_clock::min_time,
                        realtime_clock::min_time, monotonic_clock::min_time,
                        0xFFFFFFFFu, UUID::Zero()) !=
           ipc_lib::LocklessQueueSender::Result::GOOD) {
      ++too_fast;
      __builtin_ia32_pause();
    }
    wake_upper.Wakeup(0);
  }
  side.Finish(too_fast);
  _exit(0);
}

[[noreturn]] void QueueReceiver(const Configuration *config,
                                const Channel *channel, size_t payload,
                                int64_t messages, Shared *shared, int cpu) {
  PinToCpu(cpu);
  ipc_lib::MemoryMappedQueue queue = OpenQueue(config, channel);
  ipc_lib::LocklessQueueReader reader(queue.queue());
  const size_t buffer_size = queue.config().message_data_size;
  // The copy's destination ends aligned, as a fetcher's copy buffer does
  // (and as the message in the queue does), so both memcpys move equally
  // aligned bytes.
  std::vector<char> storage(buffer_size + kChannelDataAlignment);
  const uintptr_t end =
      reinterpret_cast<uintptr_t>(storage.data()) + buffer_size;
  char *const buffer =
      storage.data() +
      ((end + kChannelDataAlignment - 1) & ~(kChannelDataAlignment - 1)) - end;
  const size_t length = MessageBytes(payload);
  ReceiverSide side(shared, payload, messages);
  // The parent gives every run a new queue file, so reading starts at 0.
  ipc_lib::QueueIndex next = ipc_lib::QueueIndex::Zero(
      static_cast<uint32_t>(queue.config().queue_size));
  side.Start();
  int spins = 0;
  while (true) {
    ipc_lib::MessageInfo info;
    const ipc_lib::LocklessQueueReader::Result result =
        reader.Read(next.index(), &info, buffer);
    if (result == ipc_lib::LocklessQueueReader::Result::NOTHING_NEW) {
      Backoff(&spins);
      continue;
    }
    spins = 0;
    CHECK(result == ipc_lib::LocklessQueueReader::Result::GOOD)
        << ": reading queue index " << next.index() << ": " << result
        << " (flow control should prevent overruns)";
    next = next.Increment();
    const char *bytes = buffer + buffer_size - info.length;
    int64_t sequence;
    memcpy(&sequence, bytes, sizeof(sequence));
    // The sequence, then its low byte up to the end of the message.
    if (side.Received(sequence, info.length == length &&
                                    static_cast<uint8_t>(bytes[length - 1]) ==
                                        static_cast<uint8_t>(sequence))) {
      break;
    }
  }
  side.Finish(static_cast<int64_t>(length));
  _exit(0);
}

// ------------------------------------------------------------------ driver

// Waits for both players; if one fails, kills the other and dies.
void WaitForBoth(pid_t a, pid_t b) {
  siginfo_t info;
  while (true) {
    ExitIfStopRequested();
    memset(&info, 0, sizeof(info));
    if (waitid(P_ALL, 0, &info, WEXITED | WNOWAIT) == 0) break;
    PCHECK(errno == EINTR) << ": waiting for the players";
  }
  const pid_t first = info.si_pid;
  CHECK(first == a || first == b) << ": unknown child " << first;
  WaitFor(first, first == a ? b : a);
  WaitFor(first == a ? b : a, 0);
}

RunResult RunOnce(const Configuration *config, Case c, size_t payload,
                  int64_t messages, Shared *shared, int64_t *message_bytes) {
  const Channel *channel = configuration::GetChannel<BenchMessage>(
      config, ChannelName(payload), "", nullptr);
  CHECK(channel != nullptr);
  new (shared) Shared();
  shared->read.store(0);
  shared->receiver_ready.store(false);
  const int sender_cpu = FLAGS_sender_cpu;
  const int receiver_cpu =
      FLAGS_same_core ? FLAGS_sender_cpu : FLAGS_receiver_cpu;
  const pid_t receiver = ForkPlayer();
  if (receiver == 0) {
    if (c == Case::kQueuePoll) {
      QueueReceiver(config, channel, payload, messages, shared, receiver_cpu);
    }
    EventLoopReceiver(config, c, payload, messages, shared, receiver_cpu);
  }
  const pid_t sender = ForkPlayer();
  if (sender == 0) {
    if (c == Case::kQueuePoll) {
      QueueSender(config, channel, payload, messages, shared, sender_cpu);
    }
    EventLoopSender(config, payload, messages, shared, sender_cpu);
  }
  WaitForBoth(receiver, sender);
  // A new queue for the next run.
  std::filesystem::remove(ShmChannelQueuePath(FLAGS_shm_base, channel));
  CHECK_EQ(shared->received + shared->lost, messages)
      << ": " << CaseName(c) << " accounted for "
      << shared->received + shared->lost << " of " << messages << " messages";
  CHECK_EQ(shared->bad_payloads, 0)
      << ": " << CaseName(c) << " received messages with a wrong payload";
  *message_bytes = shared->message_bytes;
  return RunResult{static_cast<double>(shared->received) * 1e9 /
                       static_cast<double>(shared->end_ns - shared->start_ns),
                   shared->lost,
                   shared->receiver_sleeps,
                   shared->sender_stalls,
                   static_cast<double>(shared->sender_waited_ns) /
                       static_cast<double>(shared->end_ns - shared->start_ns),
                   shared->sent_too_fast,
                   static_cast<double>(shared->sender_cpu_ns) /
                       static_cast<double>(messages),
                   static_cast<double>(shared->receiver_cpu_ns) /
                       static_cast<double>(messages)};
}

int Main() {
  const std::string shm_base =
      "/dev/shm/aos_stream_bench_" + std::to_string(getpid());
  ipc_lib::SetShmBase(shm_base);
  StopOnSignals([&]() { std::filesystem::remove_all(shm_base); });

  std::vector<size_t> payloads;
  for (const std::string &size : SplitCommaList(FLAGS_sizes)) {
    payloads.push_back(std::stoul(size));
    CHECK_GT(payloads.back(), 0u) << ": --sizes needs positive sizes";
  }
  const std::vector<Case> cases = ParseCases(FLAGS_cases);
  const FlatbufferDetachedBuffer<Configuration> config =
      configuration::MergeWithConfig(
          &FlatbufferDetachedBuffer<Configuration>::Empty().message(),
          ConfigJson(payloads));
  void *memory = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  PCHECK(memory != MAP_FAILED);
  Shared *shared = static_cast<Shared *>(memory);

  printf("placement: sender cpu %d, receiver cpu %d; median of %d runs\n",
         FLAGS_sender_cpu,
         FLAGS_same_core ? FLAGS_sender_cpu : FLAGS_receiver_cpu, FLAGS_runs);
  printf("load average (1, 5, 15 min) at start: %s\n", LoadAverage().c_str());
  for (const size_t payload : payloads) {
    const int64_t messages =
        payload <= 4096 ? FLAGS_messages_small : FLAGS_messages_large;
    // Run i of every case, then run i + 1.
    std::vector<std::vector<RunResult>> runs(cases.size());
    std::vector<int64_t> message_bytes(cases.size());
    for (int i = 0; i < FLAGS_runs; ++i) {
      for (size_t k = 0; k < cases.size(); ++k) {
        runs[k].push_back(RunOnce(&config.message(), cases[k], payload,
                                  messages, shared, &message_bytes[k]));
      }
    }
    // The baseline sends exactly the bytes the event loop's messages have.
    for (const int64_t bytes : message_bytes) {
      CHECK_EQ(bytes, static_cast<int64_t>(MessageBytes(payload)))
          << ": a case sent messages of another size than the others";
    }
    printf(
        "\n%zu B payload (%zu B message), %lld messages per run, ring of "
        "%zu\n",
        payload, MessageBytes(payload), static_cast<long long>(messages),
        RingLength(payload));
    double baseline = 0;
    for (size_t k = 0; k < cases.size(); ++k) {
      std::sort(runs[k].begin(), runs[k].end(),
                [](const RunResult &a, const RunResult &b) {
                  return a.messages_per_second < b.messages_per_second;
                });
      if (cases[k] == Case::kQueuePoll) {
        baseline = runs[k][runs[k].size() / 2].messages_per_second;
      }
    }
    for (size_t k = 0; k < cases.size(); ++k) {
      const RunResult &median = runs[k][runs[k].size() / 2];
      int64_t lost = 0;
      for (const RunResult &run : runs[k]) lost += run.lost;
      char ratio[32] = "";
      if (baseline > 0) {
        snprintf(ratio, sizeof(ratio), "  x%.2f of queue_poll",
                 median.messages_per_second / baseline);
      }
      printf(
          "  %-23s %10.0f msg/s (min %.0f, max %.0f)%s\n"
          "  %-23s lost %lld (all runs); median run: receiver_sleeps %lld, "
          "sender_stalls %lld (waiting %.0f%% of the run), sent_too_fast "
          "%lld, cpu ns/msg sender %.0f receiver %.0f\n",
          CaseName(cases[k]), median.messages_per_second,
          runs[k].front().messages_per_second,
          runs[k].back().messages_per_second, ratio, "",
          static_cast<long long>(lost),
          static_cast<long long>(median.receiver_sleeps),
          static_cast<long long>(median.sender_stalls),
          100 * median.sender_waiting,
          static_cast<long long>(median.sent_too_fast), median.sender_cpu_ns,
          median.receiver_cpu_ns);
    }
    fflush(stdout);
  }
  printf("\nload average (1, 5, 15 min) at end: %s\n", LoadAverage().c_str());
  munmap(memory, sizeof(Shared));
  std::filesystem::remove_all(shm_base);
  return 0;
}

}  // namespace
}  // namespace aos::bench

int main(int argc, char **argv) {
  aos::InitGoogle(&argc, &argv);
  return aos::bench::Main();
}
