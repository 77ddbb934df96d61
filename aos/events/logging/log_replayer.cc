// log_replayer: replays a log through applications in simulation and records
// what they do into a new log.
//
//   log_replayer <log folder or files> --replay_config=<replay.json>
//                --output_folder=<new log folder>
//
// The replay config (log_replayer_config.fbs, upstream's ReplayConfig) names
// the applications to run and the logged channels to remap so they can send
// on them. Applications run in the same simulated process as the replay, so
// log_replayer can only start applications compiled into it (see
// kApplications); any other name is an error listing the known ones. The new
// log is recorded by the Logger on the replayed node and holds the replayed
// channels (remapped ones under /original) and everything the applications
// sent. Compare it with the original, or with another replay, with log_diff.
// Next to it, log_replayer_stats.json (upstream's LogReplayerStats) holds the
// replay config and the log times replay started and ended.
//
// Exit status: 0 after a complete replay, 1 on bad input (one line on
// stderr).

#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>

#include "aos/events/logging/log_reader.h"
#include "aos/events/logging/log_replayer_config_generated.h"
#include "aos/events/logging/log_replayer_stats_generated.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/events/logging/logger.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/examples/ping_lib.h"
#include "aos/examples/pong_lib.h"
#include "aos/init.h"
#include "aos/json_to_flatbuffer.h"
#include "gflags/gflags.h"

DEFINE_string(replay_config, "",
              "JSON ReplayConfig: applications, active_nodes, remap_channels "
              "(required).");
DEFINE_string(output_folder, "",
              "Where to record the replay's log (required; must not exist "
              "or be empty).");

namespace {

using StartFn =
    std::function<void(aos::NodeEventLoopFactory *, std::string_view name)>;

// The applications log_replayer can run. Others are added by linking them
// in and naming them here.
const std::map<std::string, StartFn> &Applications() {
  static const std::map<std::string, StartFn> kApplications = {
      {"ping",
       [](aos::NodeEventLoopFactory *node, std::string_view name) {
         node->AlwaysStart<aos::Ping>(name, aos::PingOptions{});
       }},
      {"pong",
       [](aos::NodeEventLoopFactory *node, std::string_view name) {
         node->AlwaysStart<aos::Pong>(name);
       }},
  };
  return kApplications;
}

std::string RealtimeString(aos::realtime_clock::time_point time) {
  std::ostringstream out;
  out << time;
  return out.str();
}

int Fail(const std::string &message) {
  std::cerr << "log_replayer: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char **argv) {
  gflags::SetUsageMessage(
      "Replays a log through applications and records a new log.\n"
      "Usage: log_replayer <log> --replay_config=<replay.json> "
      "--output_folder=<dir>\nApplications it can run: ping, pong.");
  aos::InitGoogle(&argc, &argv);
  if (FLAGS_replay_config.empty() || FLAGS_output_folder.empty()) {
    return Fail("--replay_config and --output_folder are required");
  }
  if (argc < 2) return Fail("no log files or folders given");
  std::error_code error;
  if (std::filesystem::exists(FLAGS_output_folder, error) &&
      !std::filesystem::is_empty(FLAGS_output_folder, error)) {
    return Fail("--output_folder '" + FLAGS_output_folder +
                "' is not empty; a replay never overwrites a log");
  }

  std::ifstream config_file(FLAGS_replay_config);
  if (!config_file) {
    return Fail("cannot read --replay_config '" + FLAGS_replay_config + "'");
  }
  std::stringstream config_text;
  config_text << config_file.rdbuf();
  aos::Result<aos::FlatbufferDetachedBuffer<aos::ReplayConfig>> replay_config =
      aos::MaybeJsonToFlatbuffer<aos::ReplayConfig>(config_text.str());
  if (!replay_config) {
    return Fail(FLAGS_replay_config + ": " + replay_config.error().message());
  }
  const aos::ReplayConfig &config = replay_config->message();

  aos::Result<std::vector<std::string>> files =
      aos::logger::FindLogs(argc, argv);
  if (!files) return Fail(files.error().message());
  aos::Result<std::vector<aos::logger::LogFile>> logs =
      aos::logger::SortParts(*files);
  if (!logs) return Fail(logs.error().message());
  aos::Result<std::unique_ptr<aos::logger::LogReader>> reader =
      aos::logger::LogReader::Make(std::move(*logs));
  if (!reader) return Fail(reader.error().message());

  if (config.active_nodes() != nullptr && config.active_nodes()->size() > 0) {
    return Fail(FLAGS_replay_config +
                ": active_nodes given, but the log is a single-node log");
  }
  if (config.remap_channels() != nullptr) {
    for (const aos::RemapChannel *remap : *config.remap_channels()) {
      if (remap->channel() == nullptr || remap->channel()->name() == nullptr ||
          remap->channel()->type() == nullptr) {
        return Fail(FLAGS_replay_config +
                    ": every remap_channels entry needs channel.name and "
                    "channel.type");
      }
      const std::string name = remap->channel()->name()->str();
      const std::string type = remap->channel()->type()->str();
      const std::string new_type =
          remap->new_type() != nullptr ? remap->new_type()->str() : "";
      const std::string prefix =
          remap->prefix() != nullptr ? remap->prefix()->str() : "/original";
      if (!(*reader)->HasChannel(name, type)) {
        return Fail(FLAGS_replay_config + ": remap_channels names " + name +
                    " " + type +
                    ", which the log's configuration does not "
                    "have");
      }
      const std::string new_name = prefix + name;
      const std::string remapped_type = new_type.empty() ? type : new_type;
      for (const aos::Channel *channel :
           *(*reader)->configuration()->channels()) {
        if (channel->name()->string_view() == new_name &&
            channel->type()->string_view() == remapped_type) {
          return Fail(FLAGS_replay_config + ": remapping " + name + " " + type +
                      " to " + new_name + " " + remapped_type +
                      ": that channel exists already (choose another "
                      "prefix)");
        }
      }
      (*reader)->RemapLoggedChannel(name, type, nullptr, prefix, new_type);
    }
  }
  std::vector<std::pair<std::string, const StartFn *>> applications;
  if (config.applications() != nullptr) {
    for (const aos::Application *application : *config.applications()) {
      const std::string name =
          application->name() != nullptr ? application->name()->str() : "";
      auto it = Applications().find(name);
      if (it == Applications().end()) {
        std::string known;
        for (const auto &[known_name, fn] : Applications()) {
          known += (known.empty() ? "" : ", ") + known_name;
        }
        return Fail(FLAGS_replay_config + ": unknown application '" + name +
                    "'; log_replayer can run: " + known);
      }
      applications.emplace_back(name, &it->second);
    }
  }

  aos::SimulatedEventLoopFactory factory((*reader)->configuration());
  (*reader)->Register(&factory);
  aos::NodeEventLoopFactory *node = factory.GetNodeEventLoopFactory(nullptr);
  aos::LogReplayerStatsT stats;
  stats.replay_config.reset(config.UnPack());
  (*reader)->OnStart([&stats, node]() {
    stats.monotonic_start_time =
        node->monotonic_now().time_since_epoch().count();
    stats.realtime_start_time = node->realtime_now().time_since_epoch().count();
    stats.start_time = RealtimeString(node->realtime_now());
  });
  (*reader)->OnEnd([&stats, node]() {
    stats.monotonic_end_time = node->monotonic_now().time_since_epoch().count();
    stats.realtime_end_time = node->realtime_now().time_since_epoch().count();
    stats.end_time = RealtimeString(node->realtime_now());
  });
  for (const auto &[name, start] : applications) (*start)(node, name);
  std::unique_ptr<aos::EventLoop> logger_loop = node->MakeEventLoop("logger");
  logger_loop->SkipTimingReport();
  aos::logger::Logger logger(logger_loop.get());
  std::string base = FLAGS_output_folder;
  if (!base.ends_with('/')) base += '/';
  logger.StartLoggingOnRun(base);
  aos::Result<void> result = factory.Run();
  if (!result) return Fail(result.error().message());
  for (const std::string &warning : (*reader)->warnings()) {
    std::cerr << "log_replayer: warning: " << warning << "\n";
  }
  logger.StopLogging();
  if (logger.error().has_value()) {
    return Fail("recording the replay failed: " + logger.error()->message());
  }
  // The reader's loop must go before the factory does.
  (*reader)->Deregister();
  {
    flatbuffers::FlatBufferBuilder fbb;
    fbb.Finish(aos::LogReplayerStats::Pack(fbb, &stats));
    const std::string path = base + "log_replayer_stats.json";
    std::ofstream stats_file(path);
    stats_file << aos::FlatbufferToJson(
                      flatbuffers::GetRoot<aos::LogReplayerStats>(
                          fbb.GetBufferPointer()),
                      {.multi_line = true})
               << "\n";
    if (!stats_file.flush()) return Fail("cannot write " + path);
  }
  std::cerr << "log_replayer: replayed into " << FLAGS_output_folder << "\n";
  return 0;
}
