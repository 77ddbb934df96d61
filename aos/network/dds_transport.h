#ifndef AOS_NETWORK_DDS_TRANSPORT_H_
#define AOS_NETWORK_DDS_TRANSPORT_H_

// The message bridge's use of Cyclone DDS: one DDS domain per robot, whose
// participants find each other only at the nodes' configured hostnames
// (unicast, no multicast), one topic per forwarded (channel, destination),
// and the QoS that carries a Connection's delivery semantics.
//
// DdsDomain owns a process's domain and participant and the topics, writers
// and readers made through it. Readers signal one eventfd when data arrives
// (Cyclone calls the listener on its receive thread), so an event loop can
// wait for all of them in its epoll and take the samples on its own thread.
//
// The QoS mapping (docs/decisions/network.md says why):
//   time_to_live == 0 (reliable):  RELIABLE, KEEP_ALL, VOLATILE, no lifespan;
//     the writer blocks up to 100 ms for acknowledgements (flow control);
//     the latest message on (re)connect is the bridge's job, not DDS's.
//   time_to_live > 0 (unreliable): RELIABLE, KEEP_LAST(queue size),
//     VOLATILE, lifespan = time_to_live; the writer never blocks. DDS
//     retransmits a lost sample until its lifespan ends, then gives up, and
//     the reader discards a sample that arrives after it: upstream's
//     partially reliable SCTP, where a message is retried for its TTL.

#include <dds/dds.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aos/configuration.h"
#include "aos/network/bridge.h"
#include "aos/util/status.h"

namespace aos::message_bridge {

// A fingerprint of what two bridges must agree on: nodes (names, order) and
// every channel's name, type, source, max_size and connections (destination,
// time_to_live). Channel indices name DDS topics and RemoteMessages, so two
// nodes with different configurations must not talk; the handshake compares
// this hash and refuses a mismatch. FNV-1a 64 (a checksum, not security).
uint64_t ConfigurationHash(const Configuration *configuration);

// The nodes `node` exchanges messages with (either direction), in
// configuration order.
std::vector<const Node *> PeerNodes(const Configuration *configuration,
                                    const Node *node);

// The Cyclone DDS XML configuration of `node`'s bridge: domain `domain_id`,
// multicast off, discovery only at the peers' hostnames (PeerNodes), DDS
// ports based at the node's `port`, and `lease` as the participant lease
// (how long a vanished peer's readers still count as matched). An empty
// `interface` lets Cyclone pick the interface. Errors (naming the node and
// the fix): a peer without a hostname, peers with a different `port` (Cyclone
// derives every participant's ports from one base).
Result<std::string> CycloneConfig(const Configuration *configuration,
                                  const Node *node, int domain_id,
                                  std::string_view interface,
                                  std::chrono::milliseconds lease);

// The size of the pieces Cyclone DDS cuts a serialized sample into
// (DATA_FRAG submessages; the reader reassembles them). Set explicitly in
// CycloneConfig (it is Cyclone's default) so that the bridge knows it.
inline constexpr uint32_t kFragmentSize = 1344;

// The serialized size (XCDR: 4-byte encapsulation header, the sequence's
// length, each message's fields aligned as CDR wants them, the data's
// length and bytes, the whole padded to 4 bytes) of `batch`.
uint32_t SerializedBatchSize(const aos_bridge_Batch &batch);

// How many pieces DDS sends `batch` in: Cyclone cuts a sample of serialized
// size s into ceil(s / kFragmentSize) fragments (at least one). A batch in n
// pieces is n - 1 "partial deliveries" in upstream's sense (SCTP handed a
// message over in n reads, and the bridge reassembled it).
uint32_t BatchFragments(const aos_bridge_Batch &batch);
// The same for a batch of one message of `data_size` bytes (how a message
// too large to batch travels).
uint32_t MessageFragments(size_t data_size);

// The QoS of a forwarded channel's writer and reader for `connection` (see
// the mapping above); `queue_size` is the channel's. Caller owns the result
// (dds_delete_qos).
dds_qos_t *ForwardingQos(const Connection *connection, size_t queue_size);
// Delivery timestamps: reliable, KEEP_ALL, never blocking the client.
dds_qos_t *TimestampQos();
// Pings: best effort, latest only.
dds_qos_t *PingQos();

// Topic names (must match on every node).
std::string ForwardingTopicName(std::string_view source,
                                std::string_view destination,
                                size_t channel_index);
std::string TimestampTopicName(std::string_view source,
                               std::string_view destination);
inline constexpr std::string_view kPingTopicName = "aos/ping";

class DdsDomain {
 public:
  // Creates domain `domain_id` with `xml_config` (CycloneConfig) and a
  // participant in it. Errors name the DDS return code.
  static Result<std::unique_ptr<DdsDomain>> Create(int domain_id,
                                                   const std::string &xml);
  DdsDomain(const DdsDomain &) = delete;
  DdsDomain &operator=(const DdsDomain &) = delete;
  // Deletes every entity made through it.
  ~DdsDomain();

  enum class Endpoint { kWriter, kReader };

  // A writer / reader on topic `name` of type `descriptor` with `qos`.
  // Readers signal wakeup_fd() whenever data arrives. CHECK-fails if DDS
  // refuses (that is a programming error: names and QoS are ours).
  dds_entity_t Make(Endpoint kind, std::string_view name,
                    const dds_topic_descriptor_t *descriptor,
                    const dds_qos_t *qos);
  dds_entity_t MakeWriter(std::string_view name,
                          const dds_topic_descriptor_t *descriptor,
                          const dds_qos_t *qos) {
    return Make(Endpoint::kWriter, name, descriptor, qos);
  }
  dds_entity_t MakeReader(std::string_view name,
                          const dds_topic_descriptor_t *descriptor,
                          const dds_qos_t *qos) {
    return Make(Endpoint::kReader, name, descriptor, qos);
  }

  // The server's writer (kWriter) or the client's reader (kReader) of the
  // channel with `channel_index` from `source` to `destination`, carrying
  // Batch samples with `connection`'s QoS (ForwardingQos).
  dds_entity_t MakeForwarding(Endpoint kind, std::string_view source,
                              std::string_view destination,
                              size_t channel_index,
                              const Connection *connection, size_t queue_size);
  // The client's writer (kWriter) or the server's reader (kReader) of the
  // delivery timestamps from `destination` back to `source` (DeliveryBatch
  // samples, TimestampQos).
  dds_entity_t MakeTimestamps(Endpoint kind, std::string_view source,
                              std::string_view destination);

  // Readable when some reader may have data. Consume() before taking, so
  // that data arriving meanwhile signals again.
  int wakeup_fd() const { return wakeup_fd_; }
  void Consume();

  dds_entity_t participant() const { return participant_; }

 private:
  DdsDomain() = default;
  dds_entity_t Topic(std::string_view name,
                     const dds_topic_descriptor_t *descriptor);
  static void OnDataAvailable(dds_entity_t reader, void *arg);

  dds_entity_t domain_ = 0;
  dds_entity_t participant_ = 0;
  dds_listener_t *listener_ = nullptr;
  int wakeup_fd_ = -1;
  // Set by the listener when it signals wakeup_fd_, cleared by Consume(): a
  // burst of samples costs one write(2) on DDS's receive thread, not one
  // per sample.
  std::atomic<bool> signalled_{false};
  std::vector<std::pair<std::string, dds_entity_t>> topics_;
};

}  // namespace aos::message_bridge

#endif  // AOS_NETWORK_DDS_TRANSPORT_H_
