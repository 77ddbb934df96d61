// message_bridge_server, message_bridge_client and message_bridge: one
// node's message bridge over Cyclone DDS (aos/network/message_bridge.h).
// The server forwards the node's channels to their destination nodes, the
// client republishes the channels forwarded to the node, message_bridge does
// both in one process. This file is built three times; AOS_BRIDGE_ROLES
// picks the role.
//
//   message_bridge --config=robot.json --override_hostname=pi1 --shm_base=...

#include <iostream>

#include "aos/events/shm_event_loop.h"
#include "aos/network/message_bridge.h"
#include "aos/tools/aos_cli_utils.h"
#include "gflags/gflags.h"

DEFINE_int32(dds_domain, 0,
             "DDS domain of the robot (0..230): every node's bridge uses the "
             "same one, and two robots on one network use different ones.");
DEFINE_string(dds_interface, "",
              "Network interface DDS uses (e.g. eth0); empty: Cyclone DDS "
              "picks one.");
DEFINE_int32(peer_timeout_ms, 1000,
             "A peer node is DISCONNECTED after this long without a probe "
             "(probes go out every 100 ms).");
DEFINE_int32(dds_lease_ms, 2000,
             "DDS participant lease: how long a vanished peer is still "
             "waited for by reliable writers.");

namespace {

#define AOS_STRINGIFY2(x) #x
#define AOS_STRINGIFY(x) AOS_STRINGIFY2(x)
constexpr std::string_view kName = AOS_STRINGIFY(AOS_BRIDGE_NAME);

}  // namespace

int main(int argc, char **argv) {
  aos::cli::InitTool(
      &argc, &argv,
      {.name = kName,
       .usage = "Forwards the channels the configuration sends between "
                "nodes over Cyclone DDS\n(message_bridge_server: this "
                "node's channels out; message_bridge_client: the\nchannels "
                "sent to this node in; message_bridge: both). Every node "
                "runs it with\nthe same configuration; peers are found at "
                "the nodes' hostnames.\n\nUsage: " +
                std::string(kName) + " [flags]",
       .flags = {"config", "shm_base", "override_hostname", "dds_domain",
                 "dds_interface", "peer_timeout_ms", "dds_lease_ms"},
       .default_config = "aos_config.json"});
  if (argc > 1) {
    std::cerr << kName << ": unexpected argument '" << argv[1] << "' (see "
              << kName << " --help)\n";
    return 1;
  }
  if (FLAGS_peer_timeout_ms <= 0 || FLAGS_dds_lease_ms <= 0) {
    aos::cli::PrintError(kName,
                         "--peer_timeout_ms and --dds_lease_ms must be > 0");
    return 1;
  }
  auto config = aos::cli::LoadConfig(FLAGS_config);
  if (!config) {
    aos::cli::PrintError(kName, config.error().message());
    return 1;
  }
  // Checked here so that an unknown node is one line, not a crash in the
  // event loop's constructor.
  auto node = aos::cli::FindMyNode(&config->message());
  if (!node) {
    aos::cli::PrintError(kName, node.error().message());
    return 1;
  }
  aos::ShmEventLoop event_loop(&config->message());
  event_loop.SetRuntimeRealtimePriority(0);
  auto bridge = aos::message_bridge::MessageBridge::Make(
      &event_loop,
      {.roles = AOS_BRIDGE_ROLES,
       .domain_id = FLAGS_dds_domain,
       .interface = FLAGS_dds_interface,
       .peer_timeout = std::chrono::milliseconds(FLAGS_peer_timeout_ms),
       .lease = std::chrono::milliseconds(FLAGS_dds_lease_ms)});
  if (!bridge) {
    aos::cli::PrintError(kName, bridge.error().message());
    return 1;
  }
  const aos::Result<void> result = event_loop.Run();
  if (!result) {
    aos::cli::PrintError(kName, result.error().message());
    return 1;
  }
  return 0;
}
