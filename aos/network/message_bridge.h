#ifndef AOS_NETWORK_MESSAGE_BRIDGE_H_
#define AOS_NETWORK_MESSAGE_BRIDGE_H_

// MessageBridge: one node's message bridge process over Cyclone DDS. It
// joins the robot's DDS domain (peers from the configuration, no multicast;
// dds_transport.h), probes every peer node 10 times a second (PeerMonitor:
// connection state, boot UUIDs, configuration hash, clock offset), and hosts
// a MessageBridgeServer (forwards this node's channels), a
// MessageBridgeClient (republishes the channels forwarded here), or both.
// message_bridge_server and message_bridge_client are this with one role;
// message_bridge is both.
//
// It runs on a ShmEventLoop: DDS wakes the loop through an eventfd in its
// epoll, and every message is republished, every timestamp and statistic
// sent from the loop's thread. It also publishes aos.message_bridge.Timestamp
// (10 Hz, the clock offsets to the connected peers) on /aos when the
// configuration has it.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "aos/events/shm_event_loop.h"
#include "aos/network/dds_transport.h"
#include "aos/network/message_bridge_client.h"
#include "aos/network/message_bridge_server.h"
#include "aos/network/peer_monitor.h"
#include "aos/network/timestamp_generated.h"

namespace aos::message_bridge {

struct MessageBridgeOptions {
  // kServerRole, kClientRole or both.
  uint8_t roles = kServerRole | kClientRole;
  int domain_id = 0;
  // Network interface for DDS; empty: Cyclone picks.
  std::string interface;
  // A peer is DISCONNECTED after this long without a probe.
  std::chrono::milliseconds peer_timeout{1000};
  // DDS participant lease: how long a vanished peer's readers keep a
  // reliable writer waiting for acknowledgements.
  std::chrono::milliseconds lease{2000};
};

class MessageBridge {
 public:
  // Sets up the bridge of `event_loop`'s node, before the loop runs.
  // Errors: a single-node configuration, a node the configuration does not
  // forward anything from or to, a peer without hostname or with another
  // port, DDS refusing to start.
  static Result<std::unique_ptr<MessageBridge>> Make(
      ShmEventLoop *event_loop, const MessageBridgeOptions &options);
  MessageBridge(const MessageBridge &) = delete;
  MessageBridge &operator=(const MessageBridge &) = delete;
  ~MessageBridge();

  // The monitor of node `name`, or nullptr if we exchange nothing with it.
  const PeerMonitor *peer(std::string_view name) const;

 private:
  MessageBridge(ShmEventLoop *event_loop, const MessageBridgeOptions &options,
                std::unique_ptr<DdsDomain> domain);

  void OnWakeup();
  void SendPings();
  void TakePings();
  void SendTimestamp();

  ShmEventLoop *const event_loop_;
  const MessageBridgeOptions options_;
  std::unique_ptr<DdsDomain> domain_;
  // Indexed by node; nullptr for ourselves and nodes we exchange nothing
  // with.
  std::vector<std::unique_ptr<PeerMonitor>> peers_;
  dds_entity_t ping_writer_ = 0;
  dds_entity_t ping_reader_ = 0;
  std::unique_ptr<MessageBridgeServer> server_;
  std::unique_ptr<MessageBridgeClient> client_;
  Sender<Timestamp> timestamp_sender_;
  int server_statistics_countdown_ = 0;
};

}  // namespace aos::message_bridge

#endif  // AOS_NETWORK_MESSAGE_BRIDGE_H_
