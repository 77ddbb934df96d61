// aos_logger: records this node's channels into a new numbered folder under
// --logging_folder until SIGINT or SIGTERM.
//
//   aos_logger --config=pingpong_config.json --logging_folder=/media/logs
//   -> /media/logs/0/data.part0.bfbs.zst, ... ; the next run writes .../1/

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

#include "aos/events/logging/logger.h"
#include "aos/events/logging/str_cat.h"
#include "aos/events/shm_event_loop.h"
#include "aos/tools/aos_cli_utils.h"
#include "gflags/gflags.h"

DEFINE_string(logging_folder, "logs",
              "Each run logs into a new numbered subfolder of this folder "
              "(made if missing).");
DEFINE_uint64(rotate_every_bytes, 0,
              "Start new part files when the current ones reach this many "
              "bytes on disk (0: never).");
DEFINE_string(compression, "zstd", "zstd (.bfbs.zst) or none (.bfbs).");
DEFINE_int32(zstd_level, 1, "zstd's compression level (1: its fastest).");
DEFINE_int64(polling_period_ms, 100,
             "How often the channels are drained, in milliseconds.");
DEFINE_int64(flush_period_ms, 1000,
             "How often the files are flushed and synced to disk, in "
             "milliseconds: the most a crash can lose.");
DEFINE_string(name, "", "The name written into the log's headers.");

namespace aos::logger {
namespace {

const cli::ToolHelp kHelp = {
    .name = "aos_logger",
    .usage =
        "aos_logger [--config=...] [--logging_folder=DIR] [flags]\n"
        "Logs every channel this node logs into DIR/<N>/ (N one more "
        "than the highest run so far) until SIGINT or SIGTERM.",
    .flags = {"config", "logging_folder", "rotate_every_bytes", "compression",
              "zstd_level", "polling_period_ms", "flush_period_ms", "name",
              "shm_base"},
};

// Makes folder/<N>/ with N one more than any numbered subfolder, never
// reusing one (mkdir fails if another logger took N first: try N+1).
Result<std::string> MakeRunFolder(const std::string &folder) {
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  if (error) {
    return MakeError(StrCat("cannot create --logging_folder ", folder, ": ",
                            error.message()));
  }
  int next = 0;
  for (std::filesystem::directory_iterator it(folder, error), end;
       !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    int number = 0;
    const auto [ptr, ec] =
        std::from_chars(name.data(), name.data() + name.size(), number);
    if (ec == std::errc() && ptr == name.data() + name.size() && number >= 0) {
      next = std::max(next, number + 1);
    }
  }
  if (error) {
    return MakeError(
        StrCat("cannot list --logging_folder ", folder, ": ", error.message()));
  }
  for (int attempt = 0; attempt < 1000; ++attempt, ++next) {
    const std::string run = StrCat(folder, "/", next);
    if (mkdir(run.c_str(), 0755) == 0) return run + "/";
    if (errno != EEXIST) {
      return MakeError(StrCat("cannot create ", run, ": ", std::strerror(errno),
                              " (", DescribeFreeSpace(folder), ")"));
    }
  }
  return MakeError(StrCat("no free run number in ", folder));
}

int Main(int argc, char **argv) {
  cli::InitTool(&argc, &argv, kHelp);
  if (argc > 1) {
    cli::PrintError("aos_logger",
                    StrCat("unexpected argument '", argv[1],
                           "'; aos_logger takes only flags (see --help)"));
    return 1;
  }
  LogNamerOptions options;
  if (FLAGS_compression == "zstd") {
    options.compression = Compression::kZstd;
  } else if (FLAGS_compression == "none") {
    options.compression = Compression::kNone;
  } else {
    cli::PrintError("aos_logger", StrCat("--compression=", FLAGS_compression,
                                         " is not zstd or none"));
    return 1;
  }
  options.zstd_level = FLAGS_zstd_level;
  if (FLAGS_polling_period_ms <= 0 || FLAGS_flush_period_ms <= 0) {
    cli::PrintError("aos_logger",
                    "--polling_period_ms and --flush_period_ms must be "
                    "positive");
    return 1;
  }
  Result<cli::ToolSetup> setup = cli::LoadToolSetup("aos_logger");
  if (!setup) {
    cli::PrintError("aos_logger", setup.error().message());
    return 1;
  }
  Result<std::string> base_name = MakeRunFolder(FLAGS_logging_folder);
  if (!base_name) {
    cli::PrintError("aos_logger", base_name.error().message());
    return 1;
  }

  ShmEventLoop event_loop(setup->configuration());
  event_loop.SkipTimingReport();
  event_loop.SkipAosLog();
  Logger logger(&event_loop);
  logger.set_polling_period(std::chrono::milliseconds(FLAGS_polling_period_ms));
  logger.set_flush_period(std::chrono::milliseconds(FLAGS_flush_period_ms));
  logger.set_rotate_every_bytes(FLAGS_rotate_every_bytes);
  logger.set_name(FLAGS_name);
  event_loop.OnRun([&]() {
    logger.StartLogging(std::make_unique<LogNamer>(
        *base_name, setup->configuration(), setup->node, options));
    if (!logger.error()) {
      std::cerr << "aos_logger: logging to " << *base_name << std::endl;
    }
  });
  Result<void> ran = event_loop.Run();
  std::unique_ptr<LogNamer> namer = logger.StopLogging();
  if (!ran) {
    cli::PrintError("aos_logger", ran.error().message());
    return 1;
  }
  uint64_t lost = 0;
  for (const Logger::ChannelStatistics &statistics :
       logger.channel_statistics()) {
    if (statistics.lost > 0) {
      std::cerr << "aos_logger: lost " << statistics.lost << " messages on "
                << statistics.channel->name()->string_view() << " "
                << statistics.channel->type()->string_view() << "\n";
    }
    lost += statistics.lost;
  }
  if (logger.error()) {
    cli::PrintError("aos_logger", StrCat("logging stopped early: ",
                                         logger.error()->message()));
    return 1;
  }
  std::cerr << "aos_logger: wrote " << namer->all_filenames().size()
            << " files ("
            << cli::FormatBytes(static_cast<double>(namer->total_file_bytes()))
            << ") to " << *base_name << (lost > 0 ? "" : ", no message lost")
            << std::endl;
  return 0;
}

}  // namespace
}  // namespace aos::logger

int main(int argc, char **argv) { return aos::logger::Main(argc, argv); }
