#ifndef AOS_NETWORK_MESSAGE_BRIDGE_SERVER_H_
#define AOS_NETWORK_MESSAGE_BRIDGE_SERVER_H_

// MessageBridgeServer: the sending half of a node's message bridge. It
// watches every channel the configuration forwards from this node and writes
// each message to the DDS topic of every destination node that is connected
// (PeerMonitor), with the message's send times, queue index and this boot's
// UUID, and the time it handed it to DDS (the transmit time). Delivery
// timestamps coming back from the destinations' clients become
// aos.message_bridge.RemoteMessage on the /aos/remote_timestamps/...
// channels the configuration has, with the time they arrived here.
//
// Delivery follows each connection's time_to_live (dds_transport.h has the
// QoS): while a destination is disconnected its messages are dropped and
// counted; when it (re)connects, and when it reboots, the latest message of
// each reliable channel is sent again (the client discards it if it already
// had it), as the simulated bridge does. A reliable message that DDS refuses
// (flow control: the destination acknowledges too slowly) is kept and
// retried, with everything after it waiting behind it; only falling a whole
// queue behind loses messages, and those are counted as dropped. The
// probes can get through before DDS has matched the data writer with the
// destination's reader (on a lossy link a discovery packet waits for its
// retransmission); a latest message written then reaches nobody, so it is
// written again once the writer matches a reader (CheckMatches). The
// watchers skip what they missed instead of dying, so a stopped or starved
// server carries on.
//
// ServerStatistics (1 Hz, on /aos when the configuration has it): per
// destination state, sent/dropped packets, retries (retry_count: Cyclone's
// rexmit_count plus the refused writes retried), connection count and time, the
// destination's boot UUID and the clock offset, and the same counts per
// channel.

#include <memory>
#include <vector>

#include "aos/events/event_loop.h"
#include "aos/network/dds_transport.h"
#include "aos/network/message_bridge_server_generated.h"
#include "aos/network/peer_monitor.h"

namespace aos::message_bridge {

class MessageBridgeServer {
 public:
  // Sets up every forwarded channel of `event_loop`'s node (watchers,
  // writers, senders): before the loop runs. `peers[i]` is the monitor of
  // node i (nullptr for nodes we do not exchange messages with). All must
  // outlive the server.
  MessageBridgeServer(EventLoop *event_loop, DdsDomain *domain,
                      std::vector<PeerMonitor *> peers);
  MessageBridgeServer(const MessageBridgeServer &) = delete;
  MessageBridgeServer &operator=(const MessageBridgeServer &) = delete;
  ~MessageBridgeServer();

  // Node `node_index` connected or rebooted: sends it the latest message of
  // each reliable channel.
  void OnConnected(size_t node_index);

  // Call periodically (each probe period). For a reliable channel to a
  // connected node whose reader DDS matched since the latest message was
  // sent: sends the messages waiting, or if none, the newest one again. The
  // probes can get through before DDS has discovered the data readers (a
  // lost discovery packet waits for its retransmission), and what was
  // written before the match reached nobody. The client discards a copy it
  // already had.
  void CheckMatches();

  // Publishes the delivery timestamps DDS has received.
  void TakeTimestamps();

  // Sends ServerStatistics now (if the channel exists).
  void SendStatistics();

 private:
  struct Destination;
  struct ForwardedChannel;
  struct Link;

  // Small messages are batched up to this many bytes of flatbuffers (and
  // kMaxBatchMessages messages) per DDS sample; a larger one travels alone.
  static constexpr size_t kBatchBytes = 16384;
  static constexpr size_t kMaxBatchMessages = 256;

  // The watcher's callback: every destination catches up through its
  // fetcher.
  void Forward(ForwardedChannel *forwarded);
  // Reliable destination: drops its backlog and sends the channel's latest
  // message, noting the writer's matches.
  void SendLatest(Destination *destination);
  // Whether a message of `size` bytes fits in the batch being built.
  static bool Fits(const Destination &destination, size_t size);
  // Appends the fetcher's message to the batch (copying its bytes into the
  // arena if `copy`, else pointing at the fetcher's buffer).
  void AddToBatch(Destination *destination, bool copy);
  void ClearBatch(Destination *destination);
  // Hands the batch to DDS (nothing to do if empty). True if written, or
  // refused and dropped (unreliable); false if refused and kept for the
  // retry timer (reliable).
  bool Flush(Destination *destination);
  // Writes what waits for the destination, in batches, until DDS refuses
  // one (reliable: kept, retried by the timer) or none is left. While the
  // peer is down, drops it instead.
  void CatchUp(Destination *destination);
  void RetryPending();
  // Publishes one delivery timestamp as a RemoteMessage (if the
  // configuration has a channel for it).
  void SendRemoteMessage(const Link &link, const aos_bridge_Delivery &delivery);
  // Counts what waits (the batch, the fetcher's message, the queue) as
  // dropped, leaving the fetcher at the newest message.
  void DropBacklog(Destination *destination);
  void CountSent(Destination *destination, uint64_t count);
  void CountDropped(Destination *destination, uint64_t count);
  // Counts what the fetcher skipped (fell behind) since the last call.
  void CountSkipped(Destination *destination);

  EventLoop *const event_loop_;
  DdsDomain *const domain_;
  const std::vector<PeerMonitor *> peers_;
  std::vector<std::unique_ptr<ForwardedChannel>> channels_;
  std::vector<std::unique_ptr<Link>> links_;
  // One per timestamp channel (several forwarded channels may share one).
  std::vector<std::unique_ptr<RawSender>> timestamp_senders_;
  Sender<ServerStatistics> statistics_sender_;
  TimerHandler *retry_timer_ = nullptr;
  uint64_t timestamp_send_failures_ = 0;
};

}  // namespace aos::message_bridge

#endif  // AOS_NETWORK_MESSAGE_BRIDGE_SERVER_H_
