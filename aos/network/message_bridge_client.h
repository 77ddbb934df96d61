#ifndef AOS_NETWORK_MESSAGE_BRIDGE_CLIENT_H_
#define AOS_NETWORK_MESSAGE_BRIDGE_CLIENT_H_

// MessageBridgeClient: the receiving half of a node's message bridge. For
// every channel the configuration forwards to this node it reads the DDS
// topic from the source node and republishes each message with a RawSender,
// filling the remote send times, remote queue index, transmit time and the
// source's boot UUID exactly as the simulated bridge does, so that readers
// and the logger cannot tell the two apart. When the source node's
// configuration has a timestamp channel for the message, the client sends
// the delivery timestamp (where and when the copy was published here) back
// to the source's server.
//
// When republishing fails because the channel's queue still holds
// messages younger than its storage duration (a burst arriving faster than
// the source may send, e.g. after the client was descheduled), the message
// and those after it on the channel are held and retried every millisecond,
// in order, and the channel's DDS reader is not read meanwhile, so DDS's
// flow control slows the source: a reliable message is never dropped here.
//
// A message it already published (same source boot, queue index not newer
// than the last one) is a duplicate: the server resends the latest reliable
// message on every (re)connection, and this is where that resend is
// discarded when it was not needed. Duplicates are counted. Messages from a
// node whose configuration differs from ours (PeerMonitor) are refused.
//
// ClientStatistics (10 Hz, on /aos when the configuration has it): per
// source node state, received packets, duplicates, partial deliveries (the
// fragments beyond the first that the received messages came in:
// MessageFragments in dds_transport.h), connection count and time, the
// source's boot UUID, the clock offset (PeerMonitor's method),
// and failed timestamp sends.

#include <memory>
#include <vector>

#include "aos/events/event_loop.h"
#include "aos/network/dds_transport.h"
#include "aos/network/message_bridge_client_generated.h"
#include "aos/network/peer_monitor.h"

namespace aos::message_bridge {

class MessageBridgeClient {
 public:
  // Sets up every channel forwarded to `event_loop`'s node (readers,
  // senders): before the loop runs. `peers[i]` is the monitor of node i
  // (nullptr for nodes we do not exchange messages with). All must outlive
  // the client.
  MessageBridgeClient(EventLoop *event_loop, DdsDomain *domain,
                      std::vector<PeerMonitor *> peers);
  MessageBridgeClient(const MessageBridgeClient &) = delete;
  MessageBridgeClient &operator=(const MessageBridgeClient &) = delete;
  ~MessageBridgeClient();

  // Publishes every message DDS has received.
  void TakeMessages();

  // Sends ClientStatistics now (if the channel exists).
  void SendStatistics();

 private:
  struct Inbound;
  struct Link;

  // Publishes `message` (or drops it as a duplicate or from a refused
  // peer). Returns false if the channel refused it for now (sent too
  // fast): the caller holds it for a retry.
  bool Deliver(Inbound *inbound, const aos_bridge_Message &message);
  // Retries the held messages; reads the readers they unblock.
  void RetryHeld();
  // Writes the link's delivery timestamps waiting (one DDS sample).
  void FlushDeliveries(Link *link);
  void FlushAllDeliveries();

  // Delivery timestamps per DDS sample at most.
  static constexpr size_t kMaxDeliveries = 128;

  EventLoop *const event_loop_;
  DdsDomain *const domain_;
  const std::vector<PeerMonitor *> peers_;
  std::vector<std::unique_ptr<Inbound>> inbound_;
  std::vector<std::unique_ptr<Link>> links_;
  Sender<ClientStatistics> statistics_sender_;
  TimerHandler *retry_timer_ = nullptr;
};

}  // namespace aos::message_bridge

#endif  // AOS_NETWORK_MESSAGE_BRIDGE_CLIENT_H_
