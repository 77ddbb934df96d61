// log_to_mcap: converts an AOS log into an MCAP file Foxglove opens.
//
//   log_to_mcap <log files or folders> --output_path=<file.mcap>
//               [--mode=flatbuffer|json] [--compress=true|false]
//               [--zstd_level=N] [--chunk_size=bytes]
//
// See log_to_mcap.h for the mapping of channels, schemas and times.

#include <zstd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "aos/events/logging/log_to_mcap.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/init.h"
#include "gflags/gflags.h"

DEFINE_string(output_path, "", "The MCAP file to write (required).");
DEFINE_string(mode, "flatbuffer",
              "flatbuffer: messages as logged, with their .bfbs schemas; "
              "json: messages converted to JSON, with JSON Schemas.");
DEFINE_bool(compress, true, "Compress the MCAP chunks with zstd.");
DEFINE_int32(zstd_level, aos::logger::McapWriter::Options().zstd_level,
             "zstd level of the chunks: negative levels are faster and "
             "compress less; 3 and up are slower and compress more.");
DEFINE_int64(chunk_size, aos::logger::McapWriter::Options().chunk_size,
             "Uncompressed bytes per MCAP chunk: larger chunks compress "
             "better, smaller ones make seeking cheaper.");

namespace {

int Fail(const std::string &message) {
  std::cerr << "log_to_mcap: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char **argv) {
  gflags::SetUsageMessage(
      "Converts an AOS log into an MCAP file.\n"
      "Usage: log_to_mcap <log files or folders> --output_path=<file.mcap> "
      "[--mode=flatbuffer|json] [--compress=false]");
  aos::InitGoogle(&argc, &argv);
  if (FLAGS_output_path.empty()) {
    return Fail("--output_path=<file.mcap> is required");
  }
  aos::logger::LogToMcapOptions options;
  if (FLAGS_mode == "json") {
    options.mode = aos::logger::LogToMcapOptions::Mode::kJson;
  } else if (FLAGS_mode != "flatbuffer") {
    return Fail("--mode must be flatbuffer or json, not '" + FLAGS_mode + "'");
  }
  if (FLAGS_zstd_level < ZSTD_minCLevel() ||
      FLAGS_zstd_level > ZSTD_maxCLevel()) {
    return Fail("--zstd_level=" + std::to_string(FLAGS_zstd_level) +
                " is not a zstd level; give one from " +
                std::to_string(ZSTD_minCLevel()) + " to " +
                std::to_string(ZSTD_maxCLevel()));
  }
  if (FLAGS_chunk_size <= 0) {
    return Fail("--chunk_size must be positive (bytes per chunk)");
  }
  options.mcap.zstd_level = FLAGS_zstd_level;
  options.mcap.chunk_size = FLAGS_chunk_size;
  if (!FLAGS_compress) {
    options.mcap.compression = aos::logger::McapWriter::Compression::kNone;
  }
  if (argc < 2) return Fail("no log files or folders given");
  aos::Result<std::vector<std::string>> files =
      aos::logger::FindLogs(argc, argv);
  if (!files) return Fail(files.error().message());
  aos::Result<std::vector<aos::logger::LogFile>> logs =
      aos::logger::SortParts(*files);
  if (!logs) return Fail(logs.error().message());
  aos::Result<aos::logger::LogToMcapStats> stats =
      aos::logger::LogToMcap(*logs, FLAGS_output_path, options);
  if (!stats) return Fail(stats.error().message());
  for (const std::string &warning : stats->warnings) {
    std::cerr << "log_to_mcap: warning: " << warning << "\n";
  }
  std::cerr << "log_to_mcap: wrote " << stats->messages << " messages ("
            << stats->message_bytes << " bytes of messages) to "
            << FLAGS_output_path << " (" << stats->mcap_bytes << " bytes)";
  if (stats->invalid_messages > 0) {
    std::cerr << "; skipped " << stats->invalid_messages
              << " messages that did not verify against their schema";
  }
  std::cerr << "\n";
  return 0;
}
