#ifndef AOS_EVENTS_SIMULATED_NETWORK_BRIDGE_H_
#define AOS_EVENTS_SIMULATED_NETWORK_BRIDGE_H_

// SimulatedMessageBridge: the message bridge of a multi-node simulation.
//
// On the robot, message_bridge_server and message_bridge_client forward each
// channel from its source node to its destination nodes over the network. In
// simulation this object does it, deterministically. The server wakes up
// send_delay() (50 us) after a message is sent on a forwarded channel and
// transmits it together with every other message for that destination sent
// before then (one batch, one "transmit" time); each arrives on the
// destination the network delay (100 us) later in distributed time and is
// published there with the source's send times as remote times, the batch's
// transmit time, its queue index as remote queue index and the source's
// boot UUID. Each direction of a link is one ordered stream. The
// SimulatedEventLoopFactory makes one bridge for every multi-node
// configuration; tests reach it through the factory (DisableForwarding,
// Disconnect/Connect on the NodeEventLoopFactory, ...).
//
// What it publishes, when the configuration has the channels:
// - the forwarded copies (made by a loop named "message_bridge" per node and
//   boot, which sends timing reports unless the node or factory skips them);
// - aos.message_bridge.RemoteMessage delivery timestamps, back on the source
//   node (another network delay later), on
//   /aos/remote_timestamps/<destination>/<channel name>/<type-with-dashes>
//   or /aos/remote_timestamps/<destination>;
// - aos.message_bridge.ServerStatistics (1 Hz) and ClientStatistics (10 Hz)
//   on /aos of each node, and Timestamp (10 Hz) with the clock offsets.
//
// Reliability follows the connection's time_to_live: unreliable messages
// (time_to_live > 0) sent while the link is down, or while the destination
// is between boots, are lost (counted as dropped); for reliable ones
// (time_to_live 0) the latest message is delivered when the link comes back
// and at every boot of the destination.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "aos/configuration.h"

namespace aos {
// Only the bridge's .cc uses the factory's API (simulated_event_loop.h).
// The factory's implementation makes the bridge and includes this header,
// so this header declares the factory instead of including its header: the
// simulation and its bridge do not include each other.
class SimulatedEventLoopFactory;
}  // namespace aos

namespace aos::message_bridge {

class SimulatedMessageBridge {
 public:
  // Sets up forwarding for every channel of `factory`'s configuration that
  // has destination nodes. Made by the factory, before anything runs.
  explicit SimulatedMessageBridge(SimulatedEventLoopFactory *factory);
  SimulatedMessageBridge(const SimulatedMessageBridge &) = delete;
  SimulatedMessageBridge &operator=(const SimulatedMessageBridge &) = delete;
  ~SimulatedMessageBridge();

  // Stops forwarding `channel` (to every destination) for good.
  void DisableForwarding(const Channel *channel);

  // Stops / resumes the statistics and Timestamp messages of one node, or
  // of every node if `node_index` is empty. EnableStatistics CHECK-fails
  // after PermanentlyDisableStatistics.
  void DisableStatistics(std::optional<size_t> node_index = std::nullopt);
  void EnableStatistics(std::optional<size_t> node_index = std::nullopt);
  // Stops them for good and destroys their senders (now and at every boot),
  // so that something else may send on those channels. Not while running.
  void PermanentlyDisableStatistics();

  // Takes the link from `from` to `to` down or up. Only that direction.
  void SetConnected(const Node *from, const Node *to, bool connected);
  bool IsConnected(const Node *from, const Node *to) const;

  // Counters of the link from `from` to `to` since the start.
  // connection_count is upstream's: how many times the connection came up
  // (both nodes up and the link connected), so 0 for a link never up, 1
  // after the first boots, + 1 per reconnection and per boot of either node.
  struct LinkStatistics {
    uint32_t sent_packets = 0;
    uint32_t dropped_packets = 0;
    uint32_t connection_count = 0;
  };
  LinkStatistics GetLinkStatistics(const Node *from, const Node *to) const;

 private:
  class Delivery;
  class Link;
  struct NodeBridge;
  struct Pending;
  struct PendingTimestamp;

  Link *GetLink(size_t from, size_t to);
  const Link *GetLink(size_t from, size_t to) const;
  // Whether any channel is forwarded from node `source` to `destination`.
  bool Forwards(size_t source, size_t destination) const;
  void Startup(size_t node_index);
  void Shutdown(size_t node_index);
  void SendServerStatistics(size_t node_index);
  void SendClientStatistics(size_t node_index);
  void SendTimestamp(size_t node_index);
  void ScheduleStatistics(NodeBridge *node);

  SimulatedEventLoopFactory *const factory_;
  const Configuration *const configuration_;
  std::vector<std::unique_ptr<NodeBridge>> nodes_;
  // links_[from * nodes + to].
  std::vector<std::unique_ptr<Link>> links_;
  std::vector<std::unique_ptr<Delivery>> deliveries_;
  bool statistics_permanently_disabled_ = false;
};

}  // namespace aos::message_bridge

#endif  // AOS_EVENTS_SIMULATED_NETWORK_BRIDGE_H_
