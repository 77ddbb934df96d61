// bridge_bench: the message bridge between two network namespaces joined by
// a veth pair, against bare Cyclone DDS and a bare UDP socket on the same
// link, in the same run.
//
// Latency: a 64 B ping-pong (one-way = round trip / 2, p50 and p99) through
//   - UDP: a blocking socket in each namespace (the floor);
//   - DDS: one writer and reader per direction, waitsets, the bridge's QoS
//     for a reliable channel and its discovery configuration;
//   - the bridge: a ShmEventLoop on pi1 sends /ping, message_bridge
//     processes carry it, an echo ShmEventLoop on pi2 answers on /pong.
// Throughput of one reliable channel, 64 B and 1 MiB messages, --runs times
// (DDS then the bridge, then the other way round, ...; each process pinned
// to its node's CPU), reporting every run and the medians of the rates and
// of the per-run ratios (the machine's load changes between runs; a ratio
// is measured within one run):
//   - DDS: a writer writing as fast as reliable flow control lets it, the
//     rate measured at the reader from the first message to the last;
//   - the bridge: pi1's application (on pi1's CPU) sends, building each
//     message in place in the sender's buffer, with at most a window of
//     messages not yet seen on pi2 (so the server's watcher never falls a
//     queue behind); pi2's application (a child process on pi2's CPU) blocks
//     in a watcher, as the DDS case's reader blocks in a waitset, measures
//     the rate from the first message to the last and checks that each
//     message (numbered) arrives, in order. The window is a counter in
//     shared memory between the two applications: the sender sleeps on it
//     (futex) while the window is full.
//     Until 2026-12-07 one process was both applications, pinned to pi1's
//     CPU, and polled pi2's queue every 50 us: ~20000 wakeups a second on
//     the server's CPU, which cost the bridge a quarter of its 1 MiB rate
//     (docs/decisions/network.md, "The 1 MiB gap").
// Needs root (namespaces); prints why and exits 0 otherwise.
// Serialized with other benchmarks by flock(1)? Use `flock -o`: the
// children (bridges in the namespaces) inherit the lock's descriptor, and if
// this process dies without stopping them they hold the lock.
//
// The orchestrating process runs the shared-memory applications; the
// network ends run as children of this binary in the namespaces (--mode).

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/shm_event_loop.h"
#include "aos/init.h"
#include "aos/network/bridge.h"
#include "aos/network/dds_transport.h"
#include "aos/network/message_bridge_client_generated.h"
#include "aos/network/message_bridge_server_generated.h"
#include "aos/network/testing/netns.h"
#include "aos/testing/tmpdir.h"
#include "bench/common/bench_util.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(mode, "", "Internal: which end this process is.");
DEFINE_string(bench_config, "", "Internal: the configuration.");
DEFINE_string(node, "", "Internal: this end's node.");
DEFINE_int32(size, 64, "Internal: message size.");
DEFINE_string(progress, "",
              "Internal: the bridge case's shared window counter file.");
DEFINE_int32(round_trips, 5000, "Ping-pong round trips per case.");
DEFINE_int32(messages_64, 100000, "64 B messages per throughput case.");
DEFINE_int32(messages_1m, 300, "1 MiB messages per throughput case.");
DEFINE_int32(runs, 5,
             "Throughput runs; each measures bare DDS and the bridge, in "
             "alternating order, and the medians are reported.");
DEFINE_bool(pin, true,
            "Pin pi1's processes to CPU 0 and pi2's to CPU 1 (both cases the "
            "same way), when there are two CPUs.");
DEFINE_bool(latency, true,
            "Measure the latency cases (false: throughput only, e.g. when "
            "profiling it).");

namespace aos::message_bridge::bench {
namespace {

using testing::ChildProcess;
using testing::kAddress1;
using testing::kAddress2;
using testing::MakeNodeLoop;
using testing::NetnsPair;
using testing::NodeAddress;
using testing::ProcessExit;

constexpr int kUdpPort = 7777;
constexpr int kDomain = 7;
constexpr size_t kMiB = 1 << 20;

// The bench configuration, hostnames = the namespaces' addresses.
std::string ConfigJson() {
  auto channel = [](std::string name, std::string source,
                    std::string destination, int64_t max_size,
                    int64_t frequency, int64_t storage_ns) {
    return "{\"name\": \"" + name +
           "\", \"type\": \"aos.TestMessage\", \"source_node\": \"" + source +
           "\", \"max_size\": " + std::to_string(max_size) +
           ", \"frequency\": " + std::to_string(frequency) +
           ", \"channel_storage_duration\": " + std::to_string(storage_ns) +
           ", \"read_method\": \"PIN\", \"num_readers\": 4, "
           "\"destination_nodes\": [{\"name\": \"" +
           destination + "\"}]}";
  };
  std::string channels;
  for (const std::string node : {"pi1", "pi2"}) {
    channels += "{\"name\": \"/" + node +
                "/aos\", \"type\": \"aos.timing.Report\", \"source_node\": "
                "\"" +
                node + "\", \"frequency\": 50, \"max_size\": 4096},";
    for (const std::string type : {"ServerStatistics", "ClientStatistics"}) {
      channels += "{\"name\": \"/" + node +
                  "/aos\", \"type\": \"aos.message_bridge." + type +
                  "\", \"source_node\": \"" + node + "\", \"frequency\": 20},";
    }
  }
  channels += channel("/ping", "pi1", "pi2", 128, 100000, 100'000'000) + ",";
  channels += channel("/pong", "pi2", "pi1", 128, 100000, 100'000'000) + ",";
  channels += channel("/bulk64", "pi1", "pi2", 128, 1000000, 10'000'000) + ",";
  channels += channel("/bulk1m", "pi1", "pi2", kMiB + 1024, 1000, 20'000'000);
  return "{\"channels\": [" + channels +
         "], \"maps\": [{\"match\": {\"name\": \"/aos*\", \"source_node\": "
         "\"pi1\"}, \"rename\": {\"name\": \"/pi1/aos\"}}, {\"match\": "
         "{\"name\": \"/aos*\", \"source_node\": \"pi2\"}, \"rename\": "
         "{\"name\": \"/pi2/aos\"}}], \"nodes\": [{\"name\": \"pi1\", "
         "\"hostname\": \"" +
         std::string(kAddress1) + "\"}, {\"name\": \"pi2\", \"hostname\": \"" +
         std::string(kAddress2) + "\"}]}";
}

struct Percentiles {
  double p50_us;
  double p99_us;
};

// One-way latency percentiles from round trips in ns.
Percentiles OneWay(std::vector<int64_t> round_trips) {
  if (round_trips.empty()) return {NAN, NAN};
  std::sort(round_trips.begin(), round_trips.end());
  auto at = [&](double q) {
    return round_trips[static_cast<size_t>(q * (round_trips.size() - 1))] / 2e3;
  };
  return {at(0.5), at(0.99)};
}

double Median(std::vector<double> values) {
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

void PrintResult(std::string_view key, double value) {
  std::cout << "RESULT " << key << " " << value << std::endl;
}

// --- UDP ---

int UdpSocket(std::string_view bind_address, int port) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  PCHECK(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  inet_pton(AF_INET, std::string(bind_address).c_str(), &address.sin_addr);
  PCHECK(bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address)) ==
         0);
  return fd;
}

int UdpEcho() {
  const int fd = UdpSocket(kAddress2, kUdpPort);
  char buffer[2048];
  while (true) {
    sockaddr_in from{};
    socklen_t length = sizeof(from);
    const ssize_t size = recvfrom(fd, buffer, sizeof(buffer), 0,
                                  reinterpret_cast<sockaddr *>(&from), &length);
    if (size > 0) {
      sendto(fd, buffer, size, 0, reinterpret_cast<sockaddr *>(&from), length);
    }
  }
}

int UdpPing() {
  const int fd = UdpSocket(kAddress1, kUdpPort);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(kUdpPort);
  inet_pton(AF_INET, std::string(kAddress2).c_str(), &to.sin_addr);
  timeval timeout{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::vector<char> buffer(FLAGS_size, 'x');
  std::vector<int64_t> round_trips;
  for (int i = 0; i < FLAGS_round_trips + 100; ++i) {
    const int64_t start = ::aos::bench::NowNs();
    sendto(fd, buffer.data(), buffer.size(), 0,
           reinterpret_cast<sockaddr *>(&to), sizeof(to));
    if (recv(fd, buffer.data(), buffer.size(), 0) <= 0) continue;
    // The first round trips warm up ARP and caches.
    if (i >= 100) round_trips.push_back(::aos::bench::NowNs() - start);
  }
  const Percentiles p = OneWay(round_trips);
  PrintResult("p50", p.p50_us);
  PrintResult("p99", p.p99_us);
  return 0;
}

// --- bare DDS ---

struct Dds {
  std::unique_ptr<DdsDomain> domain;
  FlatbufferDetachedBuffer<Configuration> config;
};

Dds MakeDds() {
  FlatbufferDetachedBuffer<Configuration> config =
      configuration::ReadConfig(FLAGS_bench_config);
  const Node *node = configuration::GetNode(&config.message(), FLAGS_node);
  CHECK(node != nullptr);
  Result<std::string> xml = CycloneConfig(&config.message(), node, kDomain, "",
                                          std::chrono::milliseconds(2000));
  CHECK(xml.has_value()) << xml.error().message();
  Result<std::unique_ptr<DdsDomain>> domain = DdsDomain::Create(kDomain, *xml);
  CHECK(domain.has_value()) << domain.error().message();
  return Dds{std::move(*domain), std::move(config)};
}

// The bridge's QoS for a reliable channel.
dds_qos_t *ReliableQos() {
  dds_qos_t *qos = dds_create_qos();
  dds_qset_durability(qos, DDS_DURABILITY_VOLATILE);
  dds_qset_reliability(qos, DDS_RELIABILITY_RELIABLE, DDS_SECS(10));
  dds_qset_history(qos, DDS_HISTORY_KEEP_ALL, 0);
  return qos;
}

// Waits for one sample on `reader` (through `waitset`), takes it and returns
// its payload size, or -1 after a second without one.
int TakeOne(dds_entity_t waitset, dds_entity_t reader) {
  while (true) {
    void *samples[1] = {nullptr};
    dds_sample_info_t info;
    const int count = dds_take(reader, samples, &info, 1, 1);
    if (count > 0) {
      const int size =
          info.valid_data
              ? static_cast<int>(
                    static_cast<aos_bridge_Message *>(samples[0])->data._length)
              : 0;
      dds_return_loan(reader, samples, count);
      if (info.valid_data) return size;
      continue;
    }
    if (dds_waitset_wait(waitset, nullptr, 0, DDS_SECS(1)) <= 0) return -1;
  }
}

aos_bridge_Message MakeMessage(std::vector<uint8_t> *payload) {
  aos_bridge_Message message{};
  message.data._buffer = payload->data();
  message.data._length = static_cast<uint32_t>(payload->size());
  message.data._maximum = message.data._length;
  message.data._release = false;
  return message;
}

dds_entity_t Waitset(Dds *dds, dds_entity_t reader) {
  const dds_entity_t waitset = dds_create_waitset(dds->domain->participant());
  const dds_entity_t condition =
      dds_create_readcondition(reader, DDS_ANY_STATE);
  dds_waitset_attach(waitset, condition, 0);
  return waitset;
}

// Waits until `writer` matches a reader.
void WaitForMatch(dds_entity_t writer) {
  for (int i = 0; i < 2000; ++i) {
    dds_publication_matched_status_t status;
    dds_get_publication_matched_status(writer, &status);
    if (status.current_count > 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  LOG(FATAL) << "no DDS reader matched in 10 s";
}

int DdsEcho() {
  Dds dds = MakeDds();
  dds_qos_t *qos = ReliableQos();
  const dds_entity_t reader =
      dds.domain->MakeReader("bench/ping", &aos_bridge_Message_desc, qos);
  const dds_entity_t writer =
      dds.domain->MakeWriter("bench/pong", &aos_bridge_Message_desc, qos);
  dds_delete_qos(qos);
  const dds_entity_t waitset = Waitset(&dds, reader);
  std::vector<uint8_t> payload(FLAGS_size, 'y');
  aos_bridge_Message message = MakeMessage(&payload);
  while (true) {
    if (TakeOne(waitset, reader) < 0) continue;
    dds_write(writer, &message);
  }
}

int DdsPing() {
  Dds dds = MakeDds();
  dds_qos_t *qos = ReliableQos();
  const dds_entity_t writer =
      dds.domain->MakeWriter("bench/ping", &aos_bridge_Message_desc, qos);
  const dds_entity_t reader =
      dds.domain->MakeReader("bench/pong", &aos_bridge_Message_desc, qos);
  dds_delete_qos(qos);
  const dds_entity_t waitset = Waitset(&dds, reader);
  WaitForMatch(writer);
  // The echo's writer must have matched our reader too.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::vector<uint8_t> payload(FLAGS_size, 'x');
  aos_bridge_Message message = MakeMessage(&payload);
  std::vector<int64_t> round_trips;
  for (int i = 0; i < FLAGS_round_trips + 100; ++i) {
    const int64_t start = ::aos::bench::NowNs();
    dds_write(writer, &message);
    CHECK_GE(TakeOne(waitset, reader), 0) << "DDS echo lost";
    if (i >= 100) round_trips.push_back(::aos::bench::NowNs() - start);
  }
  const Percentiles p = OneWay(round_trips);
  PrintResult("p50", p.p50_us);
  PrintResult("p99", p.p99_us);
  return 0;
}

int DdsSink() {
  Dds dds = MakeDds();
  dds_qos_t *qos = ReliableQos();
  const dds_entity_t reader =
      dds.domain->MakeReader("bench/bulk", &aos_bridge_Message_desc, qos);
  dds_delete_qos(qos);
  const dds_entity_t waitset = Waitset(&dds, reader);
  const int count = FLAGS_size == 64 ? FLAGS_messages_64 : FLAGS_messages_1m;
  int64_t first = 0;
  for (int i = 0; i < count; ++i) {
    while (TakeOne(waitset, reader) < 0) {
    }
    if (i == 0) first = ::aos::bench::NowNs();
  }
  const double seconds = (::aos::bench::NowNs() - first) / 1e9;
  PrintResult("rate", (count - 1) / seconds);
  return 0;
}

int DdsSource() {
  Dds dds = MakeDds();
  dds_qos_t *qos = ReliableQos();
  const dds_entity_t writer =
      dds.domain->MakeWriter("bench/bulk", &aos_bridge_Message_desc, qos);
  dds_delete_qos(qos);
  WaitForMatch(writer);
  std::vector<uint8_t> payload(FLAGS_size, 'z');
  aos_bridge_Message message = MakeMessage(&payload);
  const int count = FLAGS_size == 64 ? FLAGS_messages_64 : FLAGS_messages_1m;
  for (int i = 0; i < count; ++i) {
    CHECK_EQ(dds_write(writer, &message), DDS_RETCODE_OK);
  }
  // Stay until the reader has everything (it exits first).
  std::this_thread::sleep_for(std::chrono::seconds(60));
  return 0;
}

// --- through the bridge ---

// pi2's echo: answers every /ping with a /pong of the same size.
int BridgeEcho() {
  FlatbufferDetachedBuffer<Configuration> config =
      configuration::ReadConfig(FLAGS_bench_config);
  ShmEventLoop loop(&config.message());
  loop.SkipTimingReport();
  loop.SkipAosLog();
  std::unique_ptr<RawSender> pong =
      loop.MakeRawSender(configuration::GetChannel(
          &config.message(), "/pong", "aos.TestMessage", "", loop.node()));
  loop.MakeRawWatcher(
      configuration::GetChannel(&config.message(), "/ping", "aos.TestMessage",
                                "", loop.node()),
      [&](const Context &context, const void *data) {
        (void)pong->Send(data, context.size);
      });
  CHECK(loop.Run().has_value());
  return 0;
}

// --- the bridge case's two applications ---

// Pins this process to `cpu` if --pin and there are two CPUs.
void PinSelf(int cpu) {
  if (!FLAGS_pin || std::thread::hardware_concurrency() < 2) return;
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  CPU_SET(cpu, &cpus);
  PCHECK(sched_setaffinity(0, sizeof(cpus), &cpus) == 0);
}

// What pi2's application tells pi1's (separate processes on separate CPUs),
// in a shared mapping of a file: how many messages arrived, so the sender
// keeps at most a window in flight. The sender sleeps on `received` (a
// futex word) only while the window is full; the sink wakes it only if it
// says it sleeps, so a fast case pays no system call per message.
struct Progress {
  std::atomic<uint32_t> received{0};
  std::atomic<uint32_t> sender_waiting{0};
  // The sink's watcher exists and its loop runs: messages sent from now on
  // are seen.
  std::atomic<uint32_t> ready{0};
  // The sink exited (done, or gave up): the sender stops.
  std::atomic<uint32_t> done{0};
};
static_assert(std::atomic<uint32_t>::is_always_lock_free &&
              sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

// A Progress shared through the file at `path` (made zeroed if `create`).
class SharedProgress {
 public:
  SharedProgress(const std::string &path, bool create) {
    const int fd = open(path.c_str(),
                        create ? (O_RDWR | O_CREAT | O_TRUNC) : O_RDWR, 0600);
    PCHECK(fd >= 0) << ": " << path;
    if (create) PCHECK(ftruncate(fd, sizeof(Progress)) == 0) << ": " << path;
    void *memory = mmap(nullptr, sizeof(Progress), PROT_READ | PROT_WRITE,
                        MAP_SHARED, fd, 0);
    PCHECK(memory != MAP_FAILED) << ": " << path;
    close(fd);
    // The file is zeroed, which is Progress's initial state.
    progress_ = static_cast<Progress *>(memory);
  }
  ~SharedProgress() { munmap(progress_, sizeof(Progress)); }
  SharedProgress(const SharedProgress &) = delete;
  SharedProgress &operator=(const SharedProgress &) = delete;

  Progress *operator->() { return progress_; }

 private:
  Progress *progress_;
};

// Sleeps while `*word == value`, at most `timeout` (shared futex: the word is
// in memory shared between processes).
void FutexWait(std::atomic<uint32_t> *word, uint32_t value,
               std::chrono::nanoseconds timeout) {
  timespec ts{static_cast<time_t>(timeout.count() / 1'000'000'000),
              static_cast<long>(timeout.count() % 1'000'000'000)};
  syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), FUTEX_WAIT, value, &ts,
          nullptr, 0);
}

void FutexWake(std::atomic<uint32_t> *word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), FUTEX_WAKE, INT32_MAX,
          nullptr, nullptr, 0);
}

const char *BulkChannel(int size) { return size == 64 ? "/bulk64" : "/bulk1m"; }

// pi2's application in the bridge throughput case: counts the numbered
// messages of --size as they arrive (in a watcher: it sleeps in between),
// exits 1 if one is missing or out of order or nothing arrives for 10 s,
// else prints the rate from the first message to the last.
int BridgeSink() {
  // pi2's CPU, like the DDS case's reader and pi2's bridge.
  PinSelf(1);
  FlatbufferDetachedBuffer<Configuration> config =
      configuration::ReadConfig(FLAGS_bench_config);
  ShmEventLoop loop(&config.message());
  loop.SkipTimingReport();
  loop.SkipAosLog();
  SharedProgress progress(FLAGS_progress, /*create=*/false);
  const uint32_t count = static_cast<uint32_t>(
      FLAGS_size == 64 ? FLAGS_messages_64 : FLAGS_messages_1m);
  const size_t size = static_cast<size_t>(FLAGS_size);
  uint32_t received = 0;
  int64_t first = 0, last = 0;
  int status = 0;
  loop.MakeRawWatcher(
      configuration::GetChannel(&config.message(), BulkChannel(FLAGS_size),
                                "aos.TestMessage", "", loop.node()),
      [&](const Context &context, const void *data) {
        // The orchestrator's readiness messages (1 byte) may still arrive.
        if (context.size != size) return;
        uint32_t number;
        memcpy(&number, data, sizeof(number));
        if (number != received) {
          std::printf(
              "  (bridge %s: message %u arrived where %u was due: a reliable "
              "channel lost or reordered messages)\n",
              BulkChannel(FLAGS_size), number, received);
          status = 1;
          loop.Exit();
          return;
        }
        last = ::aos::bench::NowNs();
        if (received == 0) first = last;
        progress->received.store(++received);
        if (progress->sender_waiting.load()) FutexWake(&progress->received);
        if (received == count) loop.Exit();
      });
  // Bounded: a bridge that stops delivering ends the case.
  uint32_t last_checked = 0;
  int idle_seconds = 0;
  TimerHandler *watchdog = loop.AddTimer([&]() {
    idle_seconds = received == last_checked ? idle_seconds + 1 : 0;
    last_checked = received;
    if (idle_seconds < 10) return;
    std::printf("  (bridge %s: only %u of %u messages arrived)\n",
                BulkChannel(FLAGS_size), received, count);
    status = 1;
    loop.Exit();
  });
  loop.OnRun([&]() {
    watchdog->Schedule(loop.monotonic_now() + std::chrono::seconds(1),
                       std::chrono::seconds(1));
    progress->ready.store(1);
  });
  CHECK(loop.Run().has_value());
  // Stop a sender that still sends or waits for a window.
  progress->done.store(1);
  FutexWake(&progress->received);
  std::fflush(stdout);
  if (status != 0) return status;
  PrintResult("rate", (count - 1) / ((last - first) / 1e9));
  return 0;
}

class Orchestrator {
 public:
  Orchestrator() {
    std::ofstream(dir_.path() + "/config.json") << ConfigJson();
    config_path_ = dir_.path() + "/config.json";
    config_ = std::make_unique<FlatbufferDetachedBuffer<Configuration>>(
        configuration::ReadConfig(config_path_));
  }

  int Run() {
    Result<std::unique_ptr<NetnsPair>> pair = NetnsPair::Make();
    if (!pair.has_value()) {
      std::cout << "bridge_bench: skipped: " << pair.error().message()
                << std::endl;
      return 0;
    }
    pair_ = std::move(*pair);
    std::cout << "bridge_bench: two network namespaces joined by a veth pair; "
                 "load average "
              << ::aos::bench::LoadAverage() << std::endl;

    if (FLAGS_latency) MeasureLatency();
    const bool complete = MeasureThroughput();
    if (!complete) {
      // The subject of the bench lost or held back messages: a failure, not
      // a figure.
      std::printf(
          "bridge_bench: FAILED: a bridge run did not deliver every message "
          "in order\n");
      return 1;
    }
    return 0;
  }

 private:
  void MeasureLatency() {
    const Percentiles udp = EndToEnd("udp_echo", "udp_ping", 64);
    const Percentiles dds = EndToEnd("dds_echo", "dds_ping", 64);
    const Percentiles bridge = BridgeLatency();
    std::printf(
        "\none-way latency, 64 B ping-pong (%d round trips)\n"
        "%-8s %10s %10s\n"
        "%-8s %8.1fus %8.1fus\n%-8s %8.1fus %8.1fus\n%-8s %8.1fus %8.1fus\n"
        "bridge/DDS: p50 x%.2f, p99 x%.2f; DDS/UDP: p50 x%.2f, p99 x%.2f\n",
        FLAGS_round_trips, "", "p50", "p99", "UDP", udp.p50_us, udp.p99_us,
        "DDS", dds.p50_us, dds.p99_us, "bridge", bridge.p50_us, bridge.p99_us,
        bridge.p50_us / dds.p50_us, bridge.p99_us / dds.p99_us,
        dds.p50_us / udp.p50_us, dds.p99_us / udp.p99_us);
    std::fflush(stdout);
  }

  // Returns false if a bridge run ended short (lost, reordered or stalled).
  bool MeasureThroughput() {
    bool complete = true;
    // Throughput: --runs runs, alternating which system goes first.
    // The orchestrator (the bridge case's application) runs on pi1's CPU.
    PinSelf(0);
    std::printf("\nthroughput, one reliable channel, %d runs%s\n", FLAGS_runs,
                FLAGS_pin ? " (pi1's processes on CPU 0, pi2's on CPU 1)" : "");
    for (int size : {64, static_cast<int>(kMiB)}) {
      const char *name = size == 64 ? "64 B" : "1 MiB";
      std::vector<double> dds_rates, bridge_rates, ratios;
      for (int run = 0; run < FLAGS_runs; ++run) {
        double dds_rate, bridge_rate;
        if (run % 2 == 0) {
          dds_rate = DdsThroughput(size);
          bridge_rate = BridgeThroughput(size);
        } else {
          bridge_rate = BridgeThroughput(size);
          dds_rate = DdsThroughput(size);
        }
        dds_rates.push_back(dds_rate);
        if (!std::isnan(bridge_rate)) {
          bridge_rates.push_back(bridge_rate);
          ratios.push_back(bridge_rate / dds_rate);
        }
        std::printf(
            "  %-5s run %d (%s first): DDS %.0f msg/s (%.1f MB/s), bridge "
            "%.0f msg/s (%.1f MB/s), bridge/DDS %.2f; load %s\n",
            name, run + 1, run % 2 == 0 ? "DDS" : "bridge", dds_rate,
            dds_rate * size / 1e6, bridge_rate, bridge_rate * size / 1e6,
            bridge_rate / dds_rate, ::aos::bench::LoadAverage().c_str());
        std::fflush(stdout);
      }
      std::printf(
          "%-5s median: DDS %.0f msg/s (%.1f MB/s), bridge %.0f msg/s "
          "(%.1f MB/s); median of the runs' bridge/DDS %.2f (min %.2f, max "
          "%.2f)\n",
          name, Median(dds_rates), Median(dds_rates) * size / 1e6,
          Median(bridge_rates), Median(bridge_rates) * size / 1e6,
          Median(ratios),
          ratios.empty() ? NAN
                         : *std::min_element(ratios.begin(), ratios.end()),
          ratios.empty() ? NAN
                         : *std::max_element(ratios.begin(), ratios.end()));
      if (ratios.size() < dds_rates.size()) {
        std::printf(
            "      (%zu of %zu bridge runs ended short: not in the "
            "medians)\n",
            dds_rates.size() - ratios.size(), dds_rates.size());
      }
      PrintResult(size == 64 ? "ratio_64" : "ratio_1m", Median(ratios));
      std::fflush(stdout);
      complete = complete && ratios.size() == dds_rates.size();
    }
    return complete;
  }

  std::vector<std::string> Self(int ns, std::string mode, std::string node,
                                int size) {
    std::vector<std::string> argv = pair_->Exec(ns);
    const size_t self_at = Pin(&argv, ns);
    for (const std::string &arg :
         {std::string("/proc/self/exe"), "--mode=" + mode,
          "--bench_config=" + config_path_, "--node=" + node,
          "--size=" + std::to_string(size),
          "--round_trips=" + std::to_string(FLAGS_round_trips),
          "--messages_64=" + std::to_string(FLAGS_messages_64),
          "--messages_1m=" + std::to_string(FLAGS_messages_1m)}) {
      argv.push_back(arg);
    }
    // /proc/self/exe would be `ip` in the child: name ourselves.
    argv[self_at] = self_;
    return argv;
  }

  // Appends `taskset -c <cpu>` for node `ns` (1: CPU 0, 2: CPU 1) to `argv`
  // if pinning; returns the index the program will have.
  static size_t Pin(std::vector<std::string> *argv, int ns) {
    if (FLAGS_pin && std::thread::hardware_concurrency() >= 2) {
      argv->push_back("taskset");
      argv->push_back("-c");
      argv->push_back(std::to_string(ns - 1));
    }
    return argv->size();
  }

  // Each start has its own output files, so Read() finds this run's
  // results. A run that takes more than 2 minutes has hung.
  std::unique_ptr<ChildProcess> Start(std::vector<std::string> argv) {
    return std::make_unique<ChildProcess>(std::move(argv), dir_.path(), "",
                                          std::chrono::minutes(2));
  }

  // Waits for `child`; CHECK-fails unless it succeeded.
  static ProcessExit Finish(ChildProcess *child) {
    const ProcessExit exit = child->Wait();
    CHECK_EQ(exit.code, 0) << exit.out << exit.err;
    return exit;
  }

  static double Read(const ProcessExit &exit, std::string_view key) {
    std::istringstream log(exit.out);
    std::string line;
    while (std::getline(log, line)) {
      const std::string prefix = "RESULT " + std::string(key) + " ";
      if (line.rfind(prefix, 0) == 0)
        return std::stod(line.substr(prefix.size()));
    }
    LOG(FATAL) << "no " << key << " in:\n" << exit.out << exit.err;
  }

  Percentiles EndToEnd(std::string echo_mode, std::string ping_mode, int size) {
    std::unique_ptr<ChildProcess> echo = Start(Self(2, echo_mode, "pi2", size));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::unique_ptr<ChildProcess> ping = Start(Self(1, ping_mode, "pi1", size));
    const ProcessExit exit = Finish(ping.get());
    return {Read(exit, "p50"), Read(exit, "p99")};
  }

  double DdsThroughput(int size) {
    std::unique_ptr<ChildProcess> sink =
        Start(Self(2, "dds_sink", "pi2", size));
    std::unique_ptr<ChildProcess> source =
        Start(Self(1, "dds_source", "pi1", size));
    return Read(Finish(sink.get()), "rate");
  }

  std::string ShmBase(int node) const {
    return dir_.path() + "/shm" + std::to_string(node);
  }

  std::unique_ptr<ChildProcess> StartBridge(int node) {
    std::vector<std::string> argv = pair_->Exec(node);
    Pin(&argv, node);
    for (const std::string &arg :
         {std::string(AOS_MESSAGE_BRIDGE), "--config=" + config_path_,
          "--override_hostname=" + std::string(NodeAddress(node)),
          "--shm_base=" + ShmBase(node), std::string("--dds_domain=8")}) {
      argv.push_back(arg);
    }
    return Start(std::move(argv));
  }

  std::unique_ptr<ShmEventLoop> MakeLoop(int node) {
    return MakeNodeLoop(&config_->message(), node, ShmBase(node));
  }

  const Channel *GetChannel(std::string_view name, const Node *node) {
    return configuration::GetChannel(&config_->message(), name,
                                     "aos.TestMessage", "", node);
  }

  // Waits (bounded) until a message sent on pi1's `channel` now shows up on
  // pi2: both bridges up and connected. Only a message sent by this call
  // counts: pi2's queue keeps the previous run's messages (the shared memory
  // outlives the bridges), and taking one of those for the bridge being up
  // made the throughput case send a whole window before the server was
  // connected; a reliable channel then delivers only the latest of them
  // (the window - 1 others were never "forwarded": the bench's stall).
  // FetchNext of a fresh fetcher returns only messages sent after it was
  // made.
  void WaitForBridge(ShmEventLoop *pi1, ShmEventLoop *pi2,
                     std::string_view channel) {
    std::unique_ptr<RawFetcher> fetcher =
        pi2->MakeRawFetcher(GetChannel(channel, pi2->node()));
    std::unique_ptr<RawSender> sender =
        pi1->MakeRawSender(GetChannel(channel, pi1->node()));
    for (int i = 0; i < 1000; ++i) {
      char byte = 0;
      (void)sender->Send(&byte, 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (fetcher->FetchNext()) return;
    }
    LOG(FATAL) << "the bridge did not connect in 10 s";
  }

  Percentiles BridgeLatency() {
    std::unique_ptr<ChildProcess> bridge1 = StartBridge(1);
    std::unique_ptr<ChildProcess> bridge2 = StartBridge(2);
    std::unique_ptr<ShmEventLoop> pi1 = MakeLoop(1);
    std::unique_ptr<ShmEventLoop> pi2 = MakeLoop(2);
    WaitForBridge(pi1.get(), pi2.get(), "/ping");
    pi2.reset();
    // The echo needs pi2's node: a child in the root namespace (shared
    // memory does not care about network namespaces).
    std::vector<std::string> argv = {
        self_, "--mode=bridge_echo", "--bench_config=" + config_path_,
        "--shm_base=" + ShmBase(2),
        "--override_hostname=" + std::string(kAddress2)};
    std::unique_ptr<ChildProcess> echo = Start(std::move(argv));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));

    std::unique_ptr<RawSender> ping =
        pi1->MakeRawSender(GetChannel("/ping", pi1->node()));
    std::vector<uint8_t> payload(64, 'x');
    std::vector<int64_t> round_trips;
    int64_t start = 0;
    int i = 0;
    TimerHandler *kick = pi1->AddTimer([&]() {
      start = ::aos::bench::NowNs();
      CHECK(ping->Send(payload.data(), payload.size()) ==
            RawSender::Error::kOk);
    });
    pi1->MakeRawWatcher(
        GetChannel("/pong", pi1->node()), [&](const Context &, const void *) {
          if (i++ >= 100) {
            round_trips.push_back(::aos::bench::NowNs() - start);
          }
          if (i == FLAGS_round_trips + 100) {
            pi1->Exit();
            return;
          }
          start = ::aos::bench::NowNs();
          (void)ping->Send(payload.data(), payload.size());
        });
    // Bounded: a lost ping or pong ends the case (reported).
    int last_i = -1;
    int stalls = 0;
    TimerHandler *watchdog = pi1->AddTimer([&]() {
      if (i != last_i) {
        last_i = i;
        return;
      }
      // The echo may have started after the first ping: ping again.
      if (++stalls <= 3) {
        start = ::aos::bench::NowNs();
        (void)ping->Send(payload.data(), payload.size());
        return;
      }
      std::printf("  (bridge ping-pong stalled after %d round trips)\n", i);
      pi1->Exit();
    });
    pi1->OnRun([&]() {
      kick->Schedule(pi1->monotonic_now());
      watchdog->Schedule(pi1->monotonic_now() + std::chrono::seconds(2),
                         std::chrono::seconds(2));
    });
    CHECK(pi1->Run().has_value());
    return OneWay(round_trips);
  }

  // Prints what the bridges reported when a throughput case ended short.
  void ReportShort(ChildProcess *bridge1, ShmEventLoop *pi1, ShmEventLoop *pi2,
                   int sent) {
    std::printf("%s\n", bridge1->err().c_str());
    Fetcher<ServerStatistics> server =
        pi1->MakeFetcher<ServerStatistics>("/aos");
    Fetcher<ClientStatistics> client =
        pi2->MakeFetcher<ClientStatistics>("/aos");
    if (!server.Fetch() || !client.Fetch()) return;
    const ServerConnection *s = server->connections()->Get(0);
    const ClientConnection *c = client->connections()->Get(0);
    std::printf(
        "  application: sent %d; server (statistics %.1f s old): sent %u "
        "dropped %u retries %u connections %u; client: received %u "
        "duplicates %u connections %u\n",
        sent,
        std::chrono::duration<double>(pi1->monotonic_now() -
                                      server.context().monotonic_event_time)
            .count(),
        s->sent_packets(), s->dropped_packets(), s->retry_count(),
        s->connection_count(), c->received_packets(), c->duplicate_packets(),
        c->connection_count());
  }

  // pi2's application (BridgeSink), on pi2's CPU.
  std::unique_ptr<ChildProcess> StartSink(int size,
                                          const std::string &progress) {
    std::vector<std::string> argv;
    for (const std::string &arg :
         {self_, std::string("--mode=bridge_sink"),
          std::string(FLAGS_pin ? "--pin" : "--nopin"),
          "--bench_config=" + config_path_, "--shm_base=" + ShmBase(2),
          "--override_hostname=" + std::string(kAddress2),
          "--size=" + std::to_string(size),
          "--messages_64=" + std::to_string(FLAGS_messages_64),
          "--messages_1m=" + std::to_string(FLAGS_messages_1m),
          "--progress=" + progress}) {
      argv.push_back(arg);
    }
    return Start(std::move(argv));
  }

  double BridgeThroughput(int size) {
    std::unique_ptr<ChildProcess> bridge1 = StartBridge(1);
    std::unique_ptr<ChildProcess> bridge2 = StartBridge(2);
    std::unique_ptr<ShmEventLoop> pi1 = MakeLoop(1);
    std::unique_ptr<ShmEventLoop> pi2 = MakeLoop(2);
    const std::string_view channel = BulkChannel(size);
    WaitForBridge(pi1.get(), pi2.get(), channel);
    std::unique_ptr<RawSender> sender =
        pi1->MakeRawSender(GetChannel(channel, pi1->node()));
    const std::string progress_path = dir_.path() + "/progress";
    SharedProgress progress(progress_path, /*create=*/true);
    std::unique_ptr<ChildProcess> sink = StartSink(size, progress_path);
    for (int i = 0; progress->ready.load() == 0; ++i) {
      if (!sink->running() || i == 10000) {
        const ProcessExit exit = sink->Wait();
        LOG(FATAL) << "the bridge case's sink did not start (exit " << exit.code
                   << "): " << exit.out << exit.err;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const uint32_t count = static_cast<uint32_t>(
        size == 64 ? FLAGS_messages_64 : FLAGS_messages_1m);
    // A window well under the queue (10000 for 64 B, 20 for 1 MiB), so the
    // server's watcher never falls a queue behind.
    const uint32_t window = size == 64 ? 2000 : 8;
    uint32_t sent = 0;
    // Ends when everything is sent, or the sink is done (it gives up after
    // 10 s without a message, or on a lost or reordered one).
    while (sent < count && progress->done.load() == 0) {
      const uint32_t received = progress->received.load();
      if (sent - received < window) {
        // Built in place, as an AOS application builds its flatbuffers in
        // the sender's shared-memory buffer (the DDS case's writer does not
        // copy its payload before dds_write either); only the number
        // changes, so the sink checks that all arrive in order.
        memcpy(static_cast<uint8_t *>(sender->data()) + sender->size() - size,
               &sent, sizeof(sent));
        if (sender->Send(size) == RawSender::Error::kOk) {
          ++sent;
        } else {
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
        continue;
      }
      progress->sender_waiting.store(1);
      // Checked again after saying we sleep: the sink wakes us only then.
      if (progress->received.load() == received && progress->done.load() == 0) {
        FutexWait(&progress->received, received, std::chrono::seconds(1));
      }
      progress->sender_waiting.store(0);
      // A sink that died without saying so.
      if (progress->received.load() == received && !sink->running()) break;
    }
    const ProcessExit exit = sink->Wait();
    if (exit.code != 0) {
      // The subject lost, reordered or stalled: reported, and left out of
      // the medians.
      std::printf("%s%s", exit.out.c_str(), exit.err.c_str());
      ReportShort(bridge1.get(), pi1.get(), pi2.get(), static_cast<int>(sent));
      return NAN;
    }
    return Read(exit, "rate");
  }

  ::aos::testing::TempDir dir_{"/tmp"};
  std::string config_path_;
  std::unique_ptr<FlatbufferDetachedBuffer<Configuration>> config_;
  std::unique_ptr<NetnsPair> pair_;
  const std::string self_ = std::filesystem::read_symlink("/proc/self/exe");
};

}  // namespace
}  // namespace aos::message_bridge::bench

int main(int argc, char **argv) {
  aos::InitGoogle(&argc, &argv);
  using namespace aos::message_bridge::bench;
  if (FLAGS_mode == "udp_echo") return UdpEcho();
  if (FLAGS_mode == "udp_ping") return UdpPing();
  if (FLAGS_mode == "dds_echo") return DdsEcho();
  if (FLAGS_mode == "dds_ping") return DdsPing();
  if (FLAGS_mode == "dds_sink") return DdsSink();
  if (FLAGS_mode == "dds_source") return DdsSource();
  if (FLAGS_mode == "bridge_echo") return BridgeEcho();
  if (FLAGS_mode == "bridge_sink") return BridgeSink();
  CHECK(FLAGS_mode.empty()) << ": unknown --mode " << FLAGS_mode;
  return Orchestrator().Run();
}
