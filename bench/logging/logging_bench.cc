// logging_bench: the Logger's throughput against the floors it cannot beat,
// and its cost on the demo robot's load. Figures only; it never fails.
//
// 1. Throughput (simulation, so only the logger's own work is timed, as CPU
//    time of the thread, like the floors): 100
//    channels of 64 B messages, and one channel of 1 MiB messages. Batches
//    are sent while the simulation is stopped, then the logger drains them
//    in one timed poll. In the same run, the floors for the same records
//    (read back from the logger's files, laid out one after the other):
//    "write" memcpys each record into a 1 MiB buffer and write()s it when
//    full (writing the same bytes with no logger), "zstd" memcpys the same
//    way and compresses each full buffer as one frame with the logger's
//    parameters (level 1, checksum), no I/O. Each case runs --runs times,
//    logger and floors interleaved; the medians and the median of the
//    per-run ratios logger rate / floor rate are printed (target >= 0.8).
//    For reference, the rate of fetching the same messages alone (what the
//    event loop costs any logger, which the floors do not include).
//    shm_small: the 64 B case on shared memory (ShmEventLoop, lockless
//    queues), the path a robot's logger takes: one thread sends a batch
//    every 20 ms polling period, half a period before each of the logger's
//    polls; the logger's time is the thread's CPU time until everything was
//    logged, minus the sending. The floors are the same as above.
// 2. The demo robot (shared memory, real time): ping and pong at 1 kHz with
//    timing reports on one thread, the Logger on its own ShmEventLoop on
//    another; the logger thread's CPU time over the run (share of one core,
//    target < 2%), and the heap allocations it made after the first second
//    (steady state, target 0), counted by a replaced operator new.

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/logging/logger.h"
#include "aos/events/logging/part_reader.h"
#include "aos/events/logging/str_cat.h"
#include "aos/events/shm_event_loop.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/init.h"
#include "aos/ipc_lib/shm_base.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(dir, "/dev/shm/aos_logging_bench",
              "Where the logs and floor files are written (tmpfs by default, "
              "so the figures are CPU, not this machine's disk).");
DEFINE_int32(small_batches, 50, "Batches of 100 x 64 B messages per channel.");
DEFINE_int32(big_messages, 200, "1 MiB messages.");
DEFINE_double(robot_seconds, 5, "How long the demo robot runs.");
DEFINE_int32(runs, 5, "Runs of each throughput case (medians are printed).");
DEFINE_string(cases, "small,shm_small,big,robot",
              "Which cases to run: small (100 x 64 B in simulation), "
              "shm_small (the same on shared memory), big (1 MiB), robot.");
DEFINE_string(pingpong_config, AOS_PINGPONG_CONFIG,
              "The ping/pong configuration (built with the examples).");

namespace {

std::atomic<uint64_t> counted_allocations{0};
thread_local bool count_allocations = false;

}  // namespace

void *operator new(size_t size) {
  if (count_allocations) counted_allocations.fetch_add(1);
  void *p = malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void *p) noexcept { free(p); }
void operator delete(void *p, size_t) noexcept { free(p); }

namespace aos::logger {
namespace {

// The timed work's CPU time on this thread (user + system, so write()'s
// kernel time counts), not wall time: on a machine shared with other work,
// time spent preempted would otherwise land at random on the logger or on
// a floor.
struct Clock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<Clock>;
  static constexpr bool is_steady = true;
  static time_point now() {
    timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return time_point(std::chrono::seconds(now.tv_sec) +
                      std::chrono::nanoseconds(now.tv_nsec));
  }
};

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

struct Rate {
  double seconds = 0;
  uint64_t messages = 0;
  uint64_t bytes = 0;
  double messages_per_second() const { return messages / seconds; }
  double megabytes_per_second() const { return bytes / seconds / 1e6; }
};

// The records the logger wrote, in the order it wrote them, one after the
// other in memory (as the floors would get them from a queue or a buffer).
struct Records {
  std::vector<uint8_t> stream;
  std::vector<size_t> sizes;
};

// The floors, over `records` (each a message as the logger stores it). Both
// copy every record into a staging buffer of flush_bytes (1 MiB, the
// logger's) once, as any logger must copy a message out of its queue, and
// then write it, or compress it as one frame, when the next record does not
// fit: the least work that turns the same messages into the same file.
Rate WriteFloor(const Records &records, const std::string &path) {
  const size_t capacity = std::max<size_t>(
      1 << 20, *std::max_element(records.sizes.begin(), records.sizes.end()));
  std::unique_ptr<uint8_t[]> buffer(new uint8_t[capacity]);
  size_t used = 0;
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  PCHECK(fd >= 0);
  Rate rate;
  const Clock::time_point start = Clock::now();
  const uint8_t *record = records.stream.data();
  for (const size_t size : records.sizes) {
    if (used + size > capacity) {
      PCHECK(write(fd, buffer.get(), used) == static_cast<ssize_t>(used));
      used = 0;
    }
    memcpy(buffer.get() + used, record, size);
    used += size;
    record += size;
    ++rate.messages;
    rate.bytes += size;
  }
  PCHECK(write(fd, buffer.get(), used) == static_cast<ssize_t>(used));
  rate.seconds = Seconds(Clock::now() - start);
  close(fd);
  unlink(path.c_str());
  return rate;
}

// zstd with the parameters the logger's parts use (level 1, a content
// checksum per frame), one frame per staging buffer, no I/O.
Rate ZstdFloor(const Records &records) {
  ZSTD_CCtx *context = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, 1);
  ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1);
  const size_t capacity = std::max<size_t>(
      1 << 20, *std::max_element(records.sizes.begin(), records.sizes.end()));
  std::unique_ptr<uint8_t[]> buffer(new uint8_t[capacity]);
  std::vector<uint8_t> out(ZSTD_compressBound(capacity));
  size_t used = 0;
  size_t compressed = 0;
  const auto compress = [&]() {
    const size_t n =
        ZSTD_compress2(context, out.data(), out.size(), buffer.get(), used);
    CHECK(!ZSTD_isError(n)) << ZSTD_getErrorName(n);
    compressed += n;
    used = 0;
  };
  Rate rate;
  const Clock::time_point start = Clock::now();
  const uint8_t *record = records.stream.data();
  for (const size_t size : records.sizes) {
    if (used + size > capacity) compress();
    memcpy(buffer.get() + used, record, size);
    used += size;
    record += size;
    ++rate.messages;
    rate.bytes += size;
  }
  compress();
  rate.seconds = Seconds(Clock::now() - start);
  CHECK_GT(compressed, 0u);
  ZSTD_freeCCtx(context);
  return rate;
}

// The bench's configuration: `channels` channels /c0... of `size`-byte
// messages at `frequency` Hz, with `channel_extra` added to each channel's
// JSON.
FlatbufferDetachedBuffer<Configuration> BenchConfig(
    int channels, size_t size, int frequency, std::string_view channel_extra) {
  std::string json = "{\"channels\": [";
  for (int i = 0; i < channels; ++i) {
    json += StrCat(i == 0 ? "" : ",", "{\"name\": \"/c", i,
                   "\", \"type\": \"aos.Payload\", \"frequency\": ", frequency,
                   ", \"max_size\": ", (size + 7) / 8 * 8, channel_extra, "}");
  }
  json += "]}";
  return configuration::MergeWithConfig(
      &FlatbufferDetachedBuffer<Configuration>::Empty().message(), json);
}

// Reads the records the logger wrote under FLAGS_dir into `records` (for the
// floors), removes the logs, and returns the records' bytes.
uint64_t ReadRecords(Records *records) {
  uint64_t bytes = 0;
  records->stream.clear();
  records->sizes.clear();
  for (const std::filesystem::directory_entry &entry :
       std::filesystem::directory_iterator(FLAGS_dir)) {
    if (entry.path().string().find("_data.part") == std::string::npos) continue;
    Result<std::unique_ptr<PartReader>> reader =
        PartReader::Open(entry.path().string());
    CHECK(reader) << reader.error();
    while ((*reader)->ReadMessage() != nullptr) {
      const std::span<const uint8_t> record = (*reader)->message_span();
      records->stream.insert(records->stream.end(), record.begin(),
                             record.end());
      records->sizes.push_back(record.size());
      bytes += record.size();
    }
  }
  std::filesystem::remove_all(FLAGS_dir);
  return bytes;
}

// Runs the logger over `channels` channels of `size`-byte random messages,
// `per_batch` per channel per batch, `batches` batches. Returns the logger's
// rate and the records it wrote (for the floors). With `records` null, runs
// no logger but fetchers draining the same channels the way the logger does
// (FetchNextUntil now, every poll): what the event loop costs any
// logger, reported beside the floors.
Rate LoggerRun(int channels, size_t size, int per_batch, int batches,
               Compression compression, Records *records) {
  const FlatbufferDetachedBuffer<Configuration> config =
      BenchConfig(channels, size, per_batch * 20, "");
  SimulatedEventLoopFactory factory(&config.message());
  factory.SkipTimingReport();
  NodeEventLoopFactory *node = factory.GetNodeEventLoopFactory(nullptr);
  EventLoopOptions unchecked;
  unchecked.check_sent_too_fast = CheckSentTooFast::kNo;
  std::unique_ptr<EventLoop> sender_loop =
      node->MakeEventLoop("sender", unchecked);
  std::vector<std::unique_ptr<RawSender>> senders;
  for (const Channel *channel : *config.message().channels()) {
    senders.push_back(sender_loop->MakeRawSender(channel));
  }
  std::unique_ptr<EventLoop> logger_loop = factory.MakeEventLoop("logger");
  const std::chrono::milliseconds poll(100);
  std::optional<Logger> logger;
  std::vector<std::unique_ptr<RawFetcher>> fetchers;
  uint64_t fetched = 0;
  if (records != nullptr) {
    logger.emplace(logger_loop.get());
    logger->set_polling_period(poll);
    logger->set_sync(false);
    LogNamerOptions options;
    options.compression = compression;
    const std::string base = FLAGS_dir + "/run";
    std::filesystem::remove_all(FLAGS_dir);
    logger->StartLogging(
        std::make_unique<LogNamer>(base, &config.message(), nullptr, options));
  } else {
    for (const Channel *channel : *config.message().channels()) {
      fetchers.push_back(logger_loop->MakeRawFetcher(channel));
    }
    EventLoop *loop = logger_loop.get();
    loop->AddTimer([&, loop]() {
          const monotonic_clock::time_point now = loop->monotonic_now();
          const auto keep_going = [](const Context &) { return true; };
          for (std::unique_ptr<RawFetcher> &fetcher : fetchers) {
            fetched += fetcher->FetchNextUntil(now, keep_going);
          }
        })
        ->Schedule(loop->monotonic_now() + poll, poll);
  }
  std::mt19937 rng(1);
  std::vector<uint8_t> payload(size);
  // Mostly-zero payloads with some noise: compressible like real data.
  for (size_t i = 0; i < size; i += 8) payload[i] = static_cast<uint8_t>(rng());
  Rate rate;
  CHECK(factory.RunFor(poll));
  for (int batch = 0; batch < batches; ++batch) {
    for (int n = 0; n < per_batch; ++n) {
      for (std::unique_ptr<RawSender> &sender : senders) {
        payload[0] = static_cast<uint8_t>(n);
        CHECK(sender->Send(payload.data(), payload.size()) ==
              RawSender::Error::kOk);
      }
    }
    const Clock::time_point start = Clock::now();
    CHECK(factory.RunFor(poll));
    rate.seconds += Seconds(Clock::now() - start);
    rate.messages += static_cast<uint64_t>(per_batch) * senders.size();
  }
  if (records == nullptr) {
    CHECK_EQ(fetched, rate.messages);
    return rate;
  }
  logger->StopLogging();
  CHECK(!logger->error()) << logger->error()->message();
  rate.bytes = ReadRecords(records);
  return rate;
}

// Runs the same as LoggerRun on shared memory (ShmEventLoop, lockless
// queues, the shm fetcher): what a robot's logger does. One thread: a timer
// sends a batch (per_batch messages per channel) every polling period, half
// a period before each of the logger's polls; the time is the thread's CPU
// time from the loop's start until the logger logged every message, minus
// the sending. Also without a logger (records null): fetchers draining the
// channels with FetchNextUntil every poll.
Rate ShmLoggerRun(int channels, size_t size, int per_batch, int batches,
                  Compression compression, Records *records) {
  // The real sending rate (shared memory refuses more than a queue per
  // storage duration), with a queue of 10 batches (100 ms), so the shared
  // memory stays small.
  const std::chrono::milliseconds poll(20);
  const FlatbufferDetachedBuffer<Configuration> config =
      BenchConfig(channels, size, per_batch * 2 * (1000 / poll.count()),
                  ", \"channel_storage_duration\": 100000000");
  std::filesystem::remove_all(FLAGS_shm_base);
  std::filesystem::remove_all(FLAGS_dir);
  ShmEventLoop sender_loop(&config.message());
  sender_loop.SkipTimingReport();
  sender_loop.SkipAosLog();
  std::vector<std::unique_ptr<RawSender>> senders;
  for (const Channel *channel : *config.message().channels()) {
    senders.push_back(sender_loop.MakeRawSender(channel));
  }
  ShmEventLoop loop(&config.message());
  loop.SkipTimingReport();
  loop.SkipAosLog();
  std::optional<Logger> logger;
  std::vector<std::unique_ptr<RawFetcher>> fetchers;
  uint64_t fetched = 0;
  if (records != nullptr) {
    logger.emplace(&loop);
    logger->set_polling_period(poll);
    logger->set_sync(false);
    loop.OnRun([&]() {
      LogNamerOptions options;
      options.compression = compression;
      logger->StartLogging(std::make_unique<LogNamer>(
          FLAGS_dir + "/run", &config.message(), nullptr, options));
    });
  } else {
    for (const Channel *channel : *config.message().channels()) {
      fetchers.push_back(loop.MakeRawFetcher(channel));
    }
    loop.AddTimer([&]() {
          const monotonic_clock::time_point now = loop.monotonic_now();
          const auto keep_going = [](const Context &) { return true; };
          for (std::unique_ptr<RawFetcher> &fetcher : fetchers) {
            fetched += fetcher->FetchNextUntil(now, keep_going);
          }
        })
        ->Schedule(loop.monotonic_now() + poll, poll);
  }
  const auto logged = [&]() {
    if (records == nullptr) return fetched;
    uint64_t messages = 0;
    for (const Logger::ChannelStatistics &statistics :
         logger->channel_statistics()) {
      messages += statistics.messages;
    }
    return messages;
  };
  std::mt19937 rng(1);
  std::vector<uint8_t> payload(size);
  for (size_t i = 0; i < size; i += 8) payload[i] = static_cast<uint8_t>(rng());
  const uint64_t total =
      static_cast<uint64_t>(batches) * per_batch * senders.size();
  Clock::duration sending(0);
  Clock::time_point start;
  Rate rate;
  int sent_batches = 0;
  TimerHandler *send_timer = loop.AddTimer([&]() {
    const Clock::time_point send_start = Clock::now();
    if (sent_batches < batches) {
      for (int n = 0; n < per_batch; ++n) {
        for (std::unique_ptr<RawSender> &sender : senders) {
          payload[0] = static_cast<uint8_t>(n);
          CHECK(sender->Send(payload.data(), payload.size()) ==
                RawSender::Error::kOk);
        }
      }
      ++sent_batches;
    } else if (logged() == total) {
      rate.seconds = Seconds(Clock::now() - start - sending);
      loop.Exit();
    }
    sending += Clock::now() - send_start;
  });
  loop.OnRun([&]() {
    start = Clock::now();
    send_timer->Schedule(loop.monotonic_now() + poll / 2, poll);
  });
  CHECK(loop.Run());
  rate.messages = total;
  if (records == nullptr) return rate;
  logger->StopLogging();
  CHECK(!logger->error()) << logger->error()->message();
  for (const Logger::ChannelStatistics &statistics :
       logger->channel_statistics()) {
    CHECK_EQ(statistics.lost, 0u) << ": the bench's logger fell behind";
  }
  rate.bytes = ReadRecords(records);
  return rate;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Runs the logger (raw and zstd) and both floors FLAGS_runs times,
// interleaved so that a busy machine slows all four alike, and prints the
// medians and the median of the per-run ratios.
using RunFunction = Rate (*)(int channels, size_t size, int per_batch,
                             int batches, Compression compression,
                             Records *records);
void Throughput(const char *name, RunFunction run_case, int channels,
                size_t size, int per_batch, int batches) {
  printf("%s (%d runs, medians)\n", name, FLAGS_runs);
  std::vector<double> raw, zstd, write_floor, zstd_floor, raw_ratio, zstd_ratio,
      fetch;
  double bytes_per_message = 0;
  for (int run = 0; run < FLAGS_runs; ++run) {
    Records records;
    const Rate raw_rate = run_case(channels, size, per_batch, batches,
                                   Compression::kNone, &records);
    const Rate zstd_rate = run_case(channels, size, per_batch, batches,
                                    Compression::kZstd, &records);
    const Rate fetch_rate = run_case(channels, size, per_batch, batches,
                                     Compression::kNone, nullptr);
    std::filesystem::create_directories(FLAGS_dir);
    const Rate write_rate = WriteFloor(records, FLAGS_dir + "/floor");
    const Rate zstd_floor_rate = ZstdFloor(records);
    bytes_per_message =
        static_cast<double>(write_rate.bytes) / write_rate.messages;
    raw.push_back(raw_rate.messages_per_second());
    zstd.push_back(zstd_rate.messages_per_second());
    write_floor.push_back(write_rate.messages_per_second());
    zstd_floor.push_back(zstd_floor_rate.messages_per_second());
    fetch.push_back(fetch_rate.messages_per_second());
    raw_ratio.push_back(raw.back() / write_floor.back());
    zstd_ratio.push_back(zstd.back() / zstd_floor.back());
  }
  const auto print = [&](const char *what, const std::vector<double> &rates) {
    const double rate = Median(rates);
    printf("  %-26s %10.0f msg/s %9.1f MB/s\n", what, rate,
           rate * bytes_per_message / 1e6);
  };
  print("logger, raw (.bfbs)", raw);
  print("floor: write same bytes", write_floor);
  print("logger, zstd (.bfbs.zst)", zstd);
  print("floor: zstd same bytes", zstd_floor);
  print("reference: fetch alone", fetch);
  const auto range = [](const std::vector<double> &v) {
    return std::make_pair(*std::min_element(v.begin(), v.end()),
                          *std::max_element(v.begin(), v.end()));
  };
  printf(
      "  ratio raw/write floor %.2f (runs %.2f-%.2f), zstd/zstd floor %.2f "
      "(runs %.2f-%.2f)\n",
      Median(raw_ratio), range(raw_ratio).first, range(raw_ratio).second,
      Median(zstd_ratio), range(zstd_ratio).first, range(zstd_ratio).second);
}

void DemoRobot() {
  const FlatbufferDetachedBuffer<Configuration> config =
      configuration::ReadConfig(FLAGS_pingpong_config);
  const Channel *ping = configuration::GetChannel(
      &config.message(), "/test", "aos.examples.Ping", "", nullptr);
  const Channel *pong = configuration::GetChannel(
      &config.message(), "/test", "aos.examples.Pong", "", nullptr);
  CHECK(ping != nullptr && pong != nullptr) << FLAGS_pingpong_config;
  std::filesystem::remove_all(FLAGS_dir);

  // The robot: ping and pong at 1 kHz, with timing reports, on its own
  // thread (its loop lives and dies there: queue slots belong to threads).
  const auto seconds = std::chrono::duration<double>(FLAGS_robot_seconds);
  std::thread robot_thread([&]() {
    ShmEventLoop robot(&config.message());
    std::unique_ptr<RawSender> ping_sender = robot.MakeRawSender(ping);
    std::unique_ptr<RawSender> pong_sender = robot.MakeRawSender(pong);
    std::vector<uint8_t> payload(40, 1);
    TimerHandler *timer = robot.AddTimer([&]() {
      CHECK(ping_sender->Send(payload.data(), payload.size()) ==
            RawSender::Error::kOk);
      CHECK(pong_sender->Send(payload.data(), payload.size()) ==
            RawSender::Error::kOk);
    });
    robot.OnRun([&]() {
      timer->Schedule(robot.monotonic_now(), std::chrono::milliseconds(1));
    });
    robot.AddTimer([&]() { robot.Exit(); })
        ->Schedule(robot.monotonic_now() +
                   std::chrono::duration_cast<std::chrono::nanoseconds>(
                       seconds + std::chrono::seconds(1)));
    CHECK(robot.Run());
  });

  ShmEventLoop logger_loop(&config.message());
  logger_loop.SkipTimingReport();
  logger_loop.SkipAosLog();
  Logger logger(&logger_loop);
  logger.StartLoggingOnRun(FLAGS_dir + "/robot/");
  double cpu_seconds = 0;
  uint64_t allocations = 0;
  timespec cpu_start;
  logger_loop.OnRun(
      [&]() { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_start); });
  logger_loop.AddTimer([&]() { count_allocations = true; })
      ->Schedule(logger_loop.monotonic_now() + std::chrono::seconds(1));
  logger_loop
      .AddTimer([&]() {
        count_allocations = false;
        timespec cpu_end;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_end);
        cpu_seconds = (cpu_end.tv_sec - cpu_start.tv_sec) +
                      (cpu_end.tv_nsec - cpu_start.tv_nsec) / 1e9;
        allocations = counted_allocations.load();
        logger_loop.Exit();
      })
      ->Schedule(logger_loop.monotonic_now() +
                 std::chrono::duration_cast<std::chrono::nanoseconds>(seconds));
  CHECK(logger_loop.Run());
  robot_thread.join();
  logger.StopLogging();
  uint64_t logged = 0;
  for (const Logger::ChannelStatistics &statistics :
       logger.channel_statistics()) {
    logged += statistics.messages;
  }
  std::filesystem::remove_all(FLAGS_dir);
  printf("demo robot (ping + pong at 1 kHz, timing reports), %.1f s\n",
         FLAGS_robot_seconds);
  printf("  logger CPU: %.3f s of one core = %.2f%%, %lu messages logged\n",
         cpu_seconds, 100 * cpu_seconds / FLAGS_robot_seconds, logged);
  printf(
      "  heap allocations by the logger thread after the first second: "
      "%lu\n",
      allocations);
}

}  // namespace
}  // namespace aos::logger

int main(int argc, char **argv) {
  aos::InitGoogle(&argc, &argv);
  FLAGS_shm_base = FLAGS_dir + "_shm";
  const auto wanted = [](std::string_view name) {
    return ("," + FLAGS_cases + ",")
               .find(aos::logger::StrCat(",", name, ",")) != std::string::npos;
  };
  if (wanted("small")) {
    aos::logger::Throughput("100 channels x 64 B (simulation)",
                            aos::logger::LoggerRun, 100, 64, 50,
                            FLAGS_small_batches);
  }
  if (wanted("shm_small")) {
    aos::logger::Throughput("100 channels x 64 B (shared memory)",
                            aos::logger::ShmLoggerRun, 100, 64, 50,
                            FLAGS_small_batches);
  }
  if (wanted("big")) {
    aos::logger::Throughput("1 channel x 1 MiB (simulation)",
                            aos::logger::LoggerRun, 1, 1 << 20, 5,
                            std::max(1, FLAGS_big_messages / 5));
  }
  if (wanted("robot")) aos::logger::DemoRobot();
  std::filesystem::remove_all(FLAGS_shm_base);
  return 0;
}
