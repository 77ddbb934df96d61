// Replay and export throughput, each against a baseline measured in the same
// run.
//
// 1. Replay rate. A single-node log of --messages 64-byte messages on one
//    channel (one every microsecond, recorded by the Logger in simulation,
//    zstd parts; setup, not timed) is replayed by LogReader into a
//    simulation with one watcher. The baseline is the same simulation with
//    the messages generated instead of read: a timer sends the same 64-byte
//    message every microsecond to the same watcher. Figures: messages per
//    wall-clock second, and replay / generated. The log reading alone
//    (LogMessageStream, no simulation) is given too, to show where replay's
//    time goes.
// 2. Export. log_cat (the logger's tool, a separate process, output to
//    /dev/null; JSON lines, and --raw hex lines) and log_to_mcap (in process,
//    zstd chunks) over the same log, in MB/s of message bytes, against
//    reading the files alone with the part reader (decompressing and
//    verifying every record, nothing else). Rates per CPU-second too:
//    log_cat's is its process's CPU time, the others' their thread's.
//
// Each case runs --runs times; medians (and the range) are printed.

#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/logging/log_message_stream.h"
#include "aos/events/logging/log_reader.h"
#include "aos/events/logging/log_to_mcap.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/events/logging/logger.h"
#include "aos/events/logging/part_reader.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/init.h"
#include "aos/json_to_flatbuffer.h"
#include "bench/common/bench_util.h"
#include "bench/events/bench_message_generated.h"
#include "gflags/gflags.h"

DEFINE_int32(runs, 5, "Repetitions of each case.");
DEFINE_int32(messages, 1000000, "Messages in the log.");
DEFINE_string(cases,
              "generate,replay,stream,read,log_cat,log_cat_raw,log_to_mcap",
              "The cases to run (comma-separated), e.g. only replay to "
              "profile it; ratios need their baselines (generate, read).");
DEFINE_bool(keep, false, "Keep the log in --folder (to profile a tool on it).");
DEFINE_string(folder, "/tmp/aos_replay_bench",
              "Scratch folder for the log and the MCAP file (removed after).");

namespace aos::bench {
namespace {

constexpr std::string_view kConfig = R"json({
  "channels": [
    {"name": "/bench", "type": "aos.bench.BenchMessage", "frequency": 1000000,
     "channel_storage_duration": 20000000, "max_size": 128}
  ]
})json";

// A 64-byte BenchMessage (sequence plus payload).
std::vector<uint8_t> Message(int sequence) {
  flatbuffers::FlatBufferBuilder fbb;
  const auto payload = fbb.CreateVector(std::vector<uint8_t>(36, 0xab));
  BenchMessage::Builder builder(fbb);
  builder.add_sequence(sequence);
  builder.add_payload(payload);
  fbb.Finish(builder.Finish());
  return std::vector<uint8_t>(fbb.GetBufferPointer(),
                              fbb.GetBufferPointer() + fbb.GetSize());
}

// This thread's CPU time: on a loaded machine (the figures below were taken
// with a load of 14 on 2 cores) wall time mostly measures the scheduler,
// so rates per CPU-second are printed beside the wall-clock ones.
int64_t ThreadCpuNs() {
  timespec now;
  CHECK_EQ(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now), 0);
  return now.tv_sec * 1'000'000'000LL + now.tv_nsec;
}

// Messages per wall-clock second and per CPU-second.
struct Rate {
  double wall, cpu;
};

struct Stats {
  double median, min, max;
};

// NaN for a case that did not run.
Stats Summarize(std::vector<double> values) {
  if (values.empty()) return {NAN, NAN, NAN};
  std::sort(values.begin(), values.end());
  return {values[values.size() / 2], values.front(), values.back()};
}

// Sends --messages copies of the message, one per microsecond, with a
// watcher counting them. With `logger_folder`, records them.
Rate Generate(const Configuration *config, const std::string &logger_folder) {
  SimulatedEventLoopFactory factory(config);
  factory.SkipTimingReport();
  NodeEventLoopFactory *node = factory.GetNodeEventLoopFactory(nullptr);
  std::unique_ptr<EventLoop> sender_loop = node->MakeEventLoop("sender");
  std::unique_ptr<EventLoop> watcher_loop = node->MakeEventLoop("watcher");
  const Channel *channel = config->channels()->Get(0);
  std::unique_ptr<RawSender> sender = sender_loop->MakeRawSender(channel);
  const std::vector<uint8_t> message = Message(1);
  int sent = 0;
  int64_t seen = 0;
  watcher_loop->MakeRawWatcher(channel,
                               [&](const Context &, const void *) { ++seen; });
  TimerHandler *timer = nullptr;
  timer = sender_loop->AddTimer([&]() {
    sender->CheckOk(sender->Send(message.data(), message.size()));
    if (++sent == FLAGS_messages) {
      timer->Disable();
      factory.Exit();
    }
  });
  sender_loop->OnRun([&]() {
    timer->Schedule(sender_loop->monotonic_now(), std::chrono::microseconds(1));
  });
  std::unique_ptr<EventLoop> logger_loop;
  std::unique_ptr<logger::Logger> logger;
  if (!logger_folder.empty()) {
    logger_loop = node->MakeEventLoop("logger");
    logger = std::make_unique<logger::Logger>(logger_loop.get());
    logger->set_polling_period(std::chrono::milliseconds(5));
    logger->StartLoggingOnRun(logger_folder + "/");
  }
  const int64_t cpu_start = ThreadCpuNs();
  const int64_t start = NowNs();
  CheckExpected(factory.Run());
  const int64_t end = NowNs();
  const int64_t cpu_end = ThreadCpuNs();
  // Lets the watcher see the last message, and the logger drain it.
  CheckExpected(factory.RunFor(std::chrono::milliseconds(20)));
  CHECK_EQ(seen, FLAGS_messages);
  return {FLAGS_messages / ((end - start) * 1e-9),
          FLAGS_messages / ((cpu_end - cpu_start) * 1e-9)};
}

Rate Replay(const std::vector<logger::LogFile> &logs) {
  logger::LogReader reader(logs);
  reader.Register();
  SimulatedEventLoopFactory *factory = reader.event_loop_factory();
  std::unique_ptr<EventLoop> watcher_loop =
      factory->GetNodeEventLoopFactory(nullptr)->MakeEventLoop("watcher");
  watcher_loop->SkipTimingReport();
  int64_t seen = 0;
  watcher_loop->MakeRawWatcher(factory->configuration()->channels()->Get(0),
                               [&](const Context &, const void *) { ++seen; });
  const int64_t cpu_start = ThreadCpuNs();
  const int64_t start = NowNs();
  CheckExpected(factory->Run());
  const int64_t end = NowNs();
  const int64_t cpu_end = ThreadCpuNs();
  CHECK_EQ(seen, FLAGS_messages);
  return {seen / ((end - start) * 1e-9), seen / ((cpu_end - cpu_start) * 1e-9)};
}

// Messages per second and message bytes read by the stream alone.
std::pair<Rate, uint64_t> ReadStream(const std::vector<logger::LogFile> &logs) {
  auto stream = logger::LogMessageStream::Open(logs[0], "");
  CheckExpected(stream);
  int64_t count = 0;
  uint64_t bytes = 0;
  const int64_t cpu_start = ThreadCpuNs();
  const int64_t start = NowNs();
  while (const logger::LogMessage *m = (*stream)->Peek()) {
    ++count;
    bytes += m->data.size();
    (*stream)->Pop();
  }
  const int64_t end = NowNs();
  return {{count / ((end - start) * 1e-9),
           count / ((ThreadCpuNs() - cpu_start) * 1e-9)},
          bytes};
}

// Wall-clock and CPU seconds of one export case.
struct Seconds {
  double wall;
  double cpu;
};

// CPU time (user + system) of this process's waited-for children.
int64_t ChildrenCpuNs() {
  rusage usage;
  CHECK_EQ(getrusage(RUSAGE_CHILDREN, &usage), 0);
  const auto ns = [](const timeval &t) {
    return t.tv_sec * int64_t{1000000000} + t.tv_usec * int64_t{1000};
  };
  return ns(usage.ru_utime) + ns(usage.ru_stime);
}

// Reads every record of every part, nothing else.
Seconds ReadFiles(const std::vector<std::string> &files) {
  const int64_t start = NowNs();
  const int64_t cpu_start = ThreadCpuNs();
  for (const std::string &path : files) {
    auto reader = logger::PartReader::Open(path);
    CheckExpected(reader);
    while ((*reader)->ReadMessage() != nullptr) {
    }
  }
  return {(NowNs() - start) * 1e-9, (ThreadCpuNs() - cpu_start) * 1e-9};
}

// log_cat as a user runs it, a process of its own (its CPU time is the
// children's, including the shell's few milliseconds).
Seconds RunLogCat(const std::string &folder, std::string_view flags) {
  const std::string command = std::string(AOS_LOG_CAT) + " " +
                              std::string(flags) + " " + folder +
                              " >/dev/null 2>&1";
  const int64_t start = NowNs();
  const int64_t cpu_start = ChildrenCpuNs();
  const int status = system(command.c_str());
  const int64_t end = NowNs();
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << ": log_cat failed: " << command;
  return {(end - start) * 1e-9, (ChildrenCpuNs() - cpu_start) * 1e-9};
}

Seconds RunLogToMcap(const std::vector<logger::LogFile> &logs,
                     const std::string &path) {
  const int64_t start = NowNs();
  const int64_t cpu_start = ThreadCpuNs();
  CheckExpected(logger::LogToMcap(logs, path, {}));
  return {(NowNs() - start) * 1e-9, (ThreadCpuNs() - cpu_start) * 1e-9};
}

void Print(const char *name, const Stats &stats, const char *unit,
           double baseline) {
  if (std::isnan(stats.median)) return;
  printf("  %-34s %12.3f %-6s (%.3f..%.3f)  x%.2f\n", name, stats.median, unit,
         stats.min, stats.max, stats.median / baseline);
}

void Main() {
  FlatbufferDetachedBuffer<Configuration> config =
      JsonToFlatbuffer<Configuration>(kConfig);
  {
    // Embed the message's schema, as a flattened config does (log_to_mcap
    // needs it).
    std::unique_ptr<ConfigurationT> object(config.message().UnPack());
    std::FILE *f = std::fopen(AOS_BENCH_MESSAGE_BFBS, "rb");
    std::string bfbs;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), f)) > 0)
      bfbs.append(buffer, n);
    std::fclose(f);
    object->channels[0]->schema.reset(
        reflection::GetSchema(bfbs.data())->UnPack());
    flatbuffers::FlatBufferBuilder fbb;
    fbb.Finish(Configuration::Pack(fbb, object.get()));
    config = FlatbufferDetachedBuffer<Configuration>(fbb.Release());
  }

  std::filesystem::remove_all(FLAGS_folder);
  const std::string log_folder = FLAGS_folder + "/log";
  printf("replay_bench: %d messages of %zu bytes, %d runs, load %s\n",
         FLAGS_messages, Message(1).size(), FLAGS_runs, LoadAverage().c_str());
  Generate(&config.message(), log_folder);
  Result<std::vector<std::string>> files = logger::FindLogs({log_folder});
  CheckExpected(files);
  Result<std::vector<logger::LogFile>> logs = logger::SortParts(*files);
  CheckExpected(logs);
  uint64_t file_bytes = 0;
  for (const std::string &f : *files)
    file_bytes += std::filesystem::file_size(f);

  std::vector<Rate> generated, replayed, streamed;
  std::vector<Seconds> read_s, cat_s, cat_raw_s, mcap_s;
  uint64_t message_bytes =
      static_cast<uint64_t>(FLAGS_messages) * Message(1).size();
  std::vector<std::string> cases;
  for (size_t begin = 0; begin <= FLAGS_cases.size();) {
    size_t end = FLAGS_cases.find(',', begin);
    if (end == std::string::npos) end = FLAGS_cases.size();
    cases.push_back(FLAGS_cases.substr(begin, end - begin));
    begin = end + 1;
  }
  const auto run_case = [&cases](std::string_view name) {
    return std::find(cases.begin(), cases.end(), name) != cases.end();
  };
  // The cases alternate within each run, so a change of load hits all of
  // them alike.
  for (int run = 0; run < FLAGS_runs; ++run) {
    if (run_case("generate")) {
      generated.push_back(Generate(&config.message(), ""));
    }
    if (run_case("replay")) replayed.push_back(Replay(*logs));
    if (run_case("stream")) {
      auto [rate, bytes] = ReadStream(*logs);
      streamed.push_back(rate);
      message_bytes = bytes;
    }
    if (run_case("read")) read_s.push_back(ReadFiles(*files));
    if (run_case("log_cat")) cat_s.push_back(RunLogCat(log_folder, ""));
    if (run_case("log_cat_raw")) {
      cat_raw_s.push_back(RunLogCat(log_folder, "--raw"));
    }
    if (run_case("log_to_mcap")) {
      mcap_s.push_back(RunLogToMcap(*logs, FLAGS_folder + "/out.mcap"));
    }
  }
  const double mb = message_bytes / 1e6;
  bool cpu_rates = false;
  auto to_mbps = [mb, &cpu_rates](const std::vector<Seconds> &seconds) {
    std::vector<double> rates;
    for (const Seconds &s : seconds)
      rates.push_back(mb / (cpu_rates ? s.cpu : s.wall));
    return rates;
  };
  printf("log: %zu files, %.1f MB on disk, %.1f MB of messages\n",
         files->size(), file_bytes / 1e6, mb);
  for (const bool cpu : {false, true}) {
    printf("messages per %s second (median of %d):\n",
           cpu ? "CPU" : "wall-clock", FLAGS_runs);
    auto millions = [cpu](const std::vector<Rate> &rates) {
      std::vector<double> v;
      for (const Rate &rate : rates)
        v.push_back((cpu ? rate.cpu : rate.wall) / 1e6);
      return v;
    };
    const double base = Summarize(millions(generated)).median;
    Print("generated in simulation (baseline)", Summarize(millions(generated)),
          "M/s", base);
    Print("replayed by LogReader", Summarize(millions(replayed)), "M/s", base);
    Print("log stream alone (no simulation)", Summarize(millions(streamed)),
          "M/s", base);
  }
  for (const bool cpu : {false, true}) {
    cpu_rates = cpu;
    printf("message MB per %s second (median of %d):\n",
           cpu ? "CPU" : "wall-clock", FLAGS_runs);
    const Stats read_stats = Summarize(to_mbps(read_s));
    Print("part reader alone (baseline)", read_stats, "MB/s",
          read_stats.median);
    Print("log_cat > /dev/null (JSON lines)", Summarize(to_mbps(cat_s)), "MB/s",
          read_stats.median);
    Print("log_cat --raw > /dev/null (hex)", Summarize(to_mbps(cat_raw_s)),
          "MB/s", read_stats.median);
    Print("log_to_mcap (zstd chunks)", Summarize(to_mbps(mcap_s)), "MB/s",
          read_stats.median);
  }
  if (!FLAGS_keep) std::filesystem::remove_all(FLAGS_folder);
}

}  // namespace
}  // namespace aos::bench

int main(int argc, char **argv) {
  aos::InitGoogle(&argc, &argv);
  aos::bench::Main();
  return 0;
}
