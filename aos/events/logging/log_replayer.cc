// log_replayer: replays a log through applications and records what they do
// into a new log. Two modes:
//
//   log_replayer <log> --replay_config=<replay.json> --output_folder=<dir>
//       [--mode=simulation] [--node=<node>]
//   log_replayer <log> --mode=shm [--replay_config=<replay.json>]
//       [--output_folder=<dir>] [--config_output=<config.bfbs>]
//       [--replay_rate=1] [--node=<node>] [--skip_replay]
//
// The replay config (log_replayer_config.fbs, upstream's ReplayConfig) names
// the applications, the nodes and the logged channels to remap so the
// applications can send on them (the log's messages then replay on
// /original/<name>).
//
// --mode=simulation (the default): the replay and the applications run in
// one deterministic simulation in this process, as fast as possible, so two
// replays of one log give byte-identical new logs (compare them with
// log_diff). log_replayer can only start applications compiled into it (see
// Applications()); any other name is an error listing the known ones.
//
// --mode=shm (upstream's log_replayer): the log replays into shared memory
// (--shm_base) through a ShmEventLoop at --replay_rate times real time, and
// the applications run as separate processes (under the starter, or started
// by hand) with the replay's configuration, which --config_output writes
// (--skip_replay: write it and stop, so the applications can be started
// first). Channels the replay sends on are held exclusively: an application
// must not send on one unless the replay config remaps it.
//
// Multi-node logs: --node (or a single entry of the replay config's
// active_nodes) names the node to replay (shm) or to run the applications
// and the logger on (simulation, which replays every node). In shm mode the
// loop finds its node by hostname; a node without one gets its name as
// hostname in the replay's configuration, and applications then need
// --override_hostname=<node>.
//
// The new log (--output_folder) is recorded by a Logger on the replayed
// node (in shm mode on the replay's own loop) and holds the replayed
// channels and everything the applications sent. Next to it,
// log_replayer_stats.json (upstream's LogReplayerStats) holds the replay
// config and the log times replay started and ended (in shm mode: the log's
// start, or --start_time, and the last replayed message's time). In shm mode
// the loop keeps running --end_grace_period seconds after the last message
// (default 1), so the applications' answers to the last messages make it
// into the new log; --drop_realtime_messages_before_start sends nothing from
// before the start (see LogReader); --timing_accuracy_channel=<name> adds
// that channel and publishes upstream's ReplayTiming report on it.
//
// Exit status: 0 after a complete replay, 1 on bad input (one line on
// stderr).

#include <cmath>
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
#include "aos/events/shm_event_loop.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/examples/ping_lib.h"
#include "aos/examples/pong_lib.h"
#include "aos/init.h"
#include "aos/json_to_flatbuffer.h"
#include "aos/util/file.h"
#include "gflags/gflags.h"

DECLARE_string(override_hostname);

DEFINE_string(replay_config, "",
              "JSON ReplayConfig: applications, active_nodes, remap_channels "
              "(required in simulation mode).");
DEFINE_string(output_folder, "",
              "Where to record the replay's log (required in simulation "
              "mode; must not exist or be empty).");
DEFINE_string(mode, "simulation",
              "simulation: replay and applications in one deterministic "
              "simulation in this process; shm: replay into shared memory "
              "for applications running as separate processes.");
DEFINE_string(node, "",
              "Multi-node logs: the node to replay (shm) or to run the "
              "applications and the logger on (simulation).");
DEFINE_string(config_output, "",
              "Write the replay's configuration (the logged one plus the "
              "remapped channels) here, as a binary configuration file for "
              "the applications' --config.");
DEFINE_double(end_grace_period, 1.0,
              "shm mode: seconds to keep running after the last message, so "
              "the applications' answers to the last messages are in the new "
              "log (0: exit at once)");
DEFINE_string(timing_accuracy_channel, "",
              "shm mode: publish upstream's replay timing report "
              "(aos.timing.ReplayTiming: when each replayed message was due "
              "and when it was sent) on this channel, which log_replayer adds "
              "to the replay's configuration (so the new log records it)");
DEFINE_bool(skip_replay, false,
            "Only write --config_output (and check the replay config); do "
            "not replay.");
DEFINE_double(replay_rate, 1.0,
              "shm mode: replay at this many times real time (inf: as fast "
              "as possible; the applications and the logger may then miss "
              "messages).");

namespace {

using StartFn =
    std::function<void(aos::NodeEventLoopFactory *, std::string_view name)>;

// The applications log_replayer can run in simulation. Others are added by
// linking them in and naming them here.
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

// What a replay needs besides the reader: checked flags and replay config.
struct Replay {
  const aos::ReplayConfig *config = nullptr;
  // Multi-node logs: the node (of the reader's configuration) chosen.
  const aos::Node *node = nullptr;
  // Simulation mode: the applications to start.
  std::vector<std::pair<std::string, const StartFn *>> applications;
  aos::LogReplayerStatsT stats;
  // "<output_folder>/" or empty.
  std::string output;
};

// The node to replay: --node, else the single entry of active_nodes. Empty
// string and no error for a single-node log.
aos::Result<const aos::Node *> ChooseNode(const aos::logger::LogReader &reader,
                                          const aos::ReplayConfig &config) {
  const bool multi_node =
      aos::configuration::MultiNode(reader.logged_configuration());
  std::vector<std::string> active;
  if (config.active_nodes() != nullptr) {
    for (const aos::Node *node : *config.active_nodes()) {
      active.push_back(node->name() != nullptr ? node->name()->str() : "");
    }
  }
  if (!multi_node) {
    if (!FLAGS_node.empty()) {
      return aos::MakeError("--node=" + FLAGS_node +
                            " given, but the log is a single-node log");
    }
    if (!active.empty()) {
      return aos::MakeError(FLAGS_replay_config +
                            ": active_nodes given, but the log is a "
                            "single-node log");
    }
    return nullptr;
  }
  std::string known;
  for (const aos::Node *node : reader.LoggedNodes()) {
    known += (known.empty() ? "" : ", ") + node->name()->str();
  }
  auto find = [&](const std::string &name) -> const aos::Node * {
    for (const aos::Node *node : reader.LoggedNodes()) {
      if (node->name()->string_view() == name) {
        return aos::configuration::GetNode(reader.configuration(), name);
      }
    }
    return nullptr;
  };
  for (const std::string &name : active) {
    if (find(name) == nullptr) {
      return aos::MakeError(
          FLAGS_replay_config + ": active_nodes names '" + name +
          "', which the log has no data for; it has: " + known);
    }
  }
  std::string name = FLAGS_node;
  if (name.empty()) {
    if (active.size() != 1) {
      return aos::MakeError(
          "the log is a multi-node log: choose the node to replay with "
          "--node=<name> (or one entry in active_nodes); it has: " +
          known);
    }
    name = active.front();
  } else if (!active.empty() &&
             std::find(active.begin(), active.end(), name) == active.end()) {
    return aos::MakeError("--node=" + name + " is not among " +
                          FLAGS_replay_config + "'s active_nodes");
  }
  const aos::Node *node = find(name);
  if (node == nullptr) {
    return aos::MakeError(
        "--node=" + name +
        ": the log has no data for that node; it has: " + known);
  }
  return node;
}

// Applies the replay config's remaps to `reader`.
aos::Result<void> Remap(aos::logger::LogReader *reader,
                        const aos::ReplayConfig &config,
                        const aos::Node *node) {
  if (config.remap_channels() == nullptr) return {};
  for (const aos::RemapChannel *remap : *config.remap_channels()) {
    if (remap->channel() == nullptr || remap->channel()->name() == nullptr ||
        remap->channel()->type() == nullptr) {
      return aos::MakeError(FLAGS_replay_config +
                            ": every remap_channels entry needs channel.name "
                            "and channel.type");
    }
    const std::string name = remap->channel()->name()->str();
    const std::string type = remap->channel()->type()->str();
    const std::string new_type =
        remap->new_type() != nullptr ? remap->new_type()->str() : "";
    const std::string prefix =
        remap->prefix() != nullptr ? remap->prefix()->str() : "/original";
    const aos::Node *logged_node =
        node == nullptr
            ? nullptr
            : aos::configuration::GetNode(reader->logged_configuration(), node);
    if (!reader->HasChannel(name, type, logged_node)) {
      return aos::MakeError(FLAGS_replay_config + ": remap_channels names " +
                            name + " " + type +
                            ", which the log's configuration does not have");
    }
    const std::string new_name = prefix + name;
    const std::string remapped_type = new_type.empty() ? type : new_type;
    for (const aos::Channel *channel : *reader->configuration()->channels()) {
      if (channel->name()->string_view() == new_name &&
          channel->type()->string_view() == remapped_type) {
        return aos::MakeError(FLAGS_replay_config + ": remapping " + name +
                              " " + type + " to " + new_name + " " +
                              remapped_type +
                              ": that channel exists already (choose another "
                              "prefix)");
      }
    }
    reader->RemapLoggedChannel(name, type, logged_node, prefix, new_type);
  }
  return {};
}

// The configuration the replay's loop and the applications use: the
// reader's, with `node` given its name as hostname if it has no way to be
// found by hostname (ShmEventLoop finds its node by hostname).
aos::FlatbufferDetachedBuffer<aos::Configuration> ReplayConfiguration(
    const aos::logger::LogReader &reader, const aos::Node *node) {
  std::unique_ptr<aos::ConfigurationT> config(reader.configuration()->UnPack());
  if (node != nullptr && node->hostname() == nullptr &&
      node->hostnames() == nullptr && node->hostname_regex() == nullptr) {
    for (auto &candidate : config->nodes) {
      if (candidate->name == node->name()->string_view()) {
        candidate->hostname = candidate->name;
      }
    }
  }
  flatbuffers::FlatBufferBuilder fbb;
  fbb.ForceDefaults(true);
  fbb.Finish(aos::Configuration::Pack(fbb, config.get()));
  aos::FlatbufferDetachedBuffer<aos::Configuration> packed(fbb.Release());
  if (FLAGS_mode != "shm" || FLAGS_timing_accuracy_channel.empty()) {
    return packed;
  }
  // The report's channel, with the schema of the type compiled in.
  std::unique_ptr<reflection::SchemaT> schema(
      aos::SchemaOf<aos::timing::ReplayTiming>()->UnPack());
  flatbuffers::FlatBufferBuilder schema_fbb;
  schema_fbb.Finish(reflection::Schema::Pack(schema_fbb, schema.get()));
  const aos::FlatbufferDetachedBuffer<reflection::Schema> packed_schema(
      schema_fbb.Release());
  return aos::configuration::AddChannelToConfiguration(
      &packed.message(), FLAGS_timing_accuracy_channel, packed_schema,
      node == nullptr ? nullptr
                      : aos::configuration::GetNode(
                            &packed.message(), node->name()->string_view()));
}

int RunSimulation(aos::logger::LogReader *reader, Replay *replay) {
  aos::SimulatedEventLoopFactory factory(reader->configuration());
  reader->Register(&factory);
  aos::NodeEventLoopFactory *node =
      factory.GetNodeEventLoopFactory(replay->node);
  aos::LogReplayerStatsT &stats = replay->stats;
  reader->OnStart([&stats, node]() {
    stats.monotonic_start_time =
        node->monotonic_now().time_since_epoch().count();
    stats.realtime_start_time = node->realtime_now().time_since_epoch().count();
    stats.start_time = RealtimeString(node->realtime_now());
  });
  reader->OnEnd([&stats, node]() {
    stats.monotonic_end_time = node->monotonic_now().time_since_epoch().count();
    stats.realtime_end_time = node->realtime_now().time_since_epoch().count();
    stats.end_time = RealtimeString(node->realtime_now());
  });
  for (const auto &[name, start] : replay->applications) (*start)(node, name);
  std::unique_ptr<aos::EventLoop> logger_loop = node->MakeEventLoop("logger");
  logger_loop->SkipTimingReport();
  aos::logger::Logger logger(logger_loop.get());
  logger.StartLoggingOnRun(replay->output);
  aos::Result<void> result = factory.Run();
  if (!result) return Fail(result.error().message());
  for (const std::string &warning : reader->warnings()) {
    std::cerr << "log_replayer: warning: " << warning << "\n";
  }
  logger.StopLogging();
  if (logger.error().has_value()) {
    return Fail("recording the replay failed: " + logger.error()->message());
  }
  // The reader's loops must go before the factory does.
  reader->Deregister();
  return 0;
}

int RunShm(aos::logger::LogReader *reader, Replay *replay,
           const aos::Configuration *config) {
  if (!(FLAGS_replay_rate > 0.0)) {
    return Fail("--replay_rate must be positive (inf: as fast as possible)");
  }
  if (replay->node != nullptr && FLAGS_override_hostname.empty()) {
    const aos::Node *node = aos::configuration::GetNode(
        config, replay->node->name()->string_view());
    FLAGS_override_hostname =
        node->hostname() != nullptr ? node->hostname()->str()
        : node->hostnames() != nullptr && node->hostnames()->size() > 0
            ? node->hostnames()->Get(0)->str()
            : "";
    if (FLAGS_override_hostname.empty()) {
      return Fail("node " + node->name()->str() +
                  " can only be found by hostname_regex; pass "
                  "--override_hostname=<a hostname it matches>");
    }
  }
  aos::ShmEventLoop event_loop(config);
  if (replay->node != nullptr && event_loop.node()->name()->string_view() !=
                                     replay->node->name()->string_view()) {
    return Fail("--override_hostname=" + FLAGS_override_hostname + " is node " +
                event_loop.node()->name()->str() + ", not " +
                replay->node->name()->str());
  }
  event_loop.SkipTimingReport();
  event_loop.SkipAosLog();
  if (!(FLAGS_end_grace_period >= 0.0)) {
    return Fail("--end_grace_period must be 0 or more seconds");
  }
  reader->SetRealtimeReplayRate(FLAGS_replay_rate);
  if (!FLAGS_timing_accuracy_channel.empty()) {
    reader->set_timing_accuracy_sender(
        event_loop.node(), event_loop.MakeSender<aos::timing::ReplayTiming>(
                               FLAGS_timing_accuracy_channel));
  }
  reader->set_live_end_grace_period(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::duration<double>(FLAGS_end_grace_period)));
  reader->Register(&event_loop);
  const aos::Node *logged_node =
      replay->node == nullptr
          ? nullptr
          : aos::configuration::GetNode(reader->logged_configuration(),
                                        replay->node);
  aos::LogReplayerStatsT &stats = replay->stats;
  stats.monotonic_start_time =
      reader->monotonic_start_time(logged_node).time_since_epoch().count();
  stats.realtime_start_time =
      reader->realtime_start_time(logged_node).time_since_epoch().count();
  stats.start_time = RealtimeString(reader->realtime_start_time(logged_node));
  std::optional<aos::logger::Logger> logger;
  if (!replay->output.empty()) {
    logger.emplace(&event_loop);
    logger->StartLoggingOnRun(replay->output);
  }
  if (replay->config->applications() != nullptr &&
      replay->config->applications()->size() > 0) {
    std::string names;
    for (const aos::Application *application :
         *replay->config->applications()) {
      names += (names.empty() ? "" : ", ") + (application->name() != nullptr
                                                  ? application->name()->str()
                                                  : std::string("?"));
    }
    std::cerr << "log_replayer: replaying into shared memory; run the "
                 "applications ("
              << names << ") as separate processes with its configuration"
              << (FLAGS_config_output.empty()
                      ? ""
                      : " (" + FLAGS_config_output + ")")
              << "\n";
  }
  aos::Result<void> result = event_loop.Run();
  if (!result) return Fail(result.error().message());
  // The end on the node's logged clocks: the last message replayed.
  stats.monotonic_end_time =
      reader->live_monotonic_replayed_until().time_since_epoch().count();
  stats.realtime_end_time =
      reader->live_realtime_replayed_until().time_since_epoch().count();
  stats.end_time = RealtimeString(reader->live_realtime_replayed_until());
  for (const std::string &warning : reader->warnings()) {
    std::cerr << "log_replayer: warning: " << warning << "\n";
  }
  if (logger.has_value()) {
    logger->StopLogging();
    if (logger->error().has_value()) {
      return Fail("recording the replay failed: " + logger->error()->message());
    }
  }
  // Releases the replay's senders and exit handle before the loop goes.
  reader->Deregister();
  return 0;
}

aos::Result<void> WriteStats(const Replay &replay) {
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(aos::LogReplayerStats::Pack(fbb, &replay.stats));
  const std::string path = replay.output + "log_replayer_stats.json";
  std::ofstream stats_file(path);
  stats_file << aos::FlatbufferToJson(
                    flatbuffers::GetRoot<aos::LogReplayerStats>(
                        fbb.GetBufferPointer()),
                    {.multi_line = true})
             << "\n";
  if (!stats_file.flush()) return aos::MakeError("cannot write " + path);
  return {};
}

int Main(int argc, char **argv) {
  const bool shm = FLAGS_mode == "shm";
  if (!shm && FLAGS_mode != "simulation") {
    return Fail("--mode=" + FLAGS_mode + ": expected simulation or shm");
  }
  if (!shm && (FLAGS_replay_config.empty() || FLAGS_output_folder.empty())) {
    return Fail("--replay_config and --output_folder are required");
  }
  if (FLAGS_skip_replay && FLAGS_config_output.empty()) {
    return Fail("--skip_replay only writes --config_output: give it");
  }
  if (argc < 2) return Fail("no log files or folders given");
  std::error_code error;
  if (!FLAGS_output_folder.empty() &&
      std::filesystem::exists(FLAGS_output_folder, error) &&
      !std::filesystem::is_empty(FLAGS_output_folder, error)) {
    return Fail("--output_folder '" + FLAGS_output_folder +
                "' is not empty; a replay never overwrites a log");
  }

  aos::Result<aos::FlatbufferDetachedBuffer<aos::ReplayConfig>> replay_config =
      aos::FlatbufferDetachedBuffer<aos::ReplayConfig>::Empty();
  if (!FLAGS_replay_config.empty()) {
    aos::Result<std::string> text =
        aos::util::ReadFileToString(FLAGS_replay_config);
    if (!text) {
      return Fail("cannot read --replay_config '" + FLAGS_replay_config + "'");
    }
    replay_config = aos::MaybeJsonToFlatbuffer<aos::ReplayConfig>(*text);
    if (!replay_config) {
      return Fail(FLAGS_replay_config + ": " + replay_config.error().message());
    }
  }
  Replay replay;
  replay.config = &replay_config->message();
  if (!FLAGS_output_folder.empty()) {
    replay.output = FLAGS_output_folder;
    if (!replay.output.ends_with('/')) replay.output += '/';
  }

  aos::Result<std::vector<std::string>> files =
      aos::logger::FindLogs(argc, argv);
  if (!files) return Fail(files.error().message());
  aos::Result<std::vector<aos::logger::LogFile>> logs =
      aos::logger::SortParts(*files);
  if (!logs) return Fail(logs.error().message());
  aos::Result<std::unique_ptr<aos::logger::LogReader>> reader =
      aos::logger::LogReader::Make(std::move(*logs));
  if (!reader) return Fail(reader.error().message());

  aos::Result<const aos::Node *> node = ChooseNode(**reader, *replay.config);
  if (!node) return Fail(node.error().message());
  if (aos::Result<void> remapped = Remap(reader->get(), *replay.config, *node);
      !remapped) {
    return Fail(remapped.error().message());
  }
  // The node again, in the configuration the remaps rebuilt.
  replay.node = *node == nullptr ? nullptr
                                 : aos::configuration::GetNode(
                                       (*reader)->configuration(),
                                       (*node)->name()->string_view());
  if (!shm && replay.config->applications() != nullptr) {
    for (const aos::Application *application : *replay.config->applications()) {
      const std::string name =
          application->name() != nullptr ? application->name()->str() : "";
      auto it = Applications().find(name);
      if (it == Applications().end()) {
        std::string known;
        for (const auto &[known_name, fn] : Applications()) {
          known += (known.empty() ? "" : ", ") + known_name;
        }
        return Fail(FLAGS_replay_config + ": unknown application '" + name +
                    "'; log_replayer can run: " + known +
                    " (or run it as a process with --mode=shm)");
      }
      replay.applications.emplace_back(name, &it->second);
    }
  }
  const aos::FlatbufferDetachedBuffer<aos::Configuration> config =
      ReplayConfiguration(**reader, replay.node);
  if (!FLAGS_config_output.empty()) {
    if (aos::Result<void> written = aos::util::WriteStringToFile(
            FLAGS_config_output,
            std::string_view(
                reinterpret_cast<const char *>(config.span().data()),
                config.span().size()));
        !written) {
      return Fail(written.error().message());
    }
  }
  if (FLAGS_skip_replay) return 0;

  replay.stats.replay_config.reset(replay.config->UnPack());
  const int status = shm ? RunShm(reader->get(), &replay, &config.message())
                         : RunSimulation(reader->get(), &replay);
  if (status != 0) return status;
  if (!replay.output.empty()) {
    if (aos::Result<void> written = WriteStats(replay); !written) {
      return Fail(written.error().message());
    }
    std::cerr << "log_replayer: replayed into " << FLAGS_output_folder << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  gflags::SetUsageMessage(
      "Replays a log through applications and records a new log.\n"
      "Usage: log_replayer <log> --replay_config=<replay.json> "
      "--output_folder=<dir> [--mode=simulation|shm] [--node=<node>]\n"
      "Applications it can run in simulation: ping, pong; in shm mode "
      "applications run as separate processes.");
  aos::InitGoogle(&argc, &argv);
  return Main(argc, argv);
}
