#include "aos/network/message_bridge_client.h"

#include <cstring>
#include <deque>

#include "aos/network/connection_statistics.h"
#include "aos/network/timestamp_channel.h"
#include "glog/logging.h"

namespace aos::message_bridge {

// Everything from one source node.
struct MessageBridgeClient::Link {
  size_t node_index;
  PeerMonitor *peer;
  dds_entity_t timestamp_writer = 0;
  uint32_t received_packets = 0;
  uint32_t duplicate_packets = 0;
  // Fragments beyond the first of the messages received (upstream: SCTP
  // reads beyond the first that a message took).
  uint32_t partial_deliveries = 0;
  uint32_t timestamp_send_failures = 0;
  // Delivery timestamps not yet written: one DDS sample per wakeup
  // (FlushDeliveries), or per kMaxDeliveries. Sized once.
  std::vector<aos_bridge_Delivery> deliveries;
};

// One channel forwarded to this node.
struct MessageBridgeClient::Inbound {
  const Channel *channel;
  uint32_t index;
  Link *link;
  dds_entity_t reader;
  std::unique_ptr<RawSender> sender;
  // Whether the source wants delivery timestamps for it.
  bool send_timestamps;
  // Messages the channel refused for now (sent too fast), oldest first,
  // with their bytes copied out of DDS's sample.
  struct Held {
    aos_bridge_Message message;
    std::vector<uint8_t> data;
  };
  std::deque<Held> held;
  // The last message published: its source boot and queue index.
  bool has_last = false;
  UUID last_boot_uuid = UUID::Zero();
  uint32_t last_queue_index = 0;
};

MessageBridgeClient::MessageBridgeClient(EventLoop *event_loop,
                                         DdsDomain *domain,
                                         std::vector<PeerMonitor *> peers)
    : event_loop_(event_loop), domain_(domain), peers_(std::move(peers)) {
  const Configuration *configuration = event_loop->configuration();
  const Node *me = event_loop->node();
  links_.resize(peers_.size());
  for (const Channel *channel : *configuration->channels()) {
    if (channel->source_node() == nullptr ||
        channel->destination_nodes() == nullptr) {
      continue;
    }
    const Connection *connection = configuration::ConnectionToNode(channel, me);
    if (connection == nullptr) continue;
    const int node_index = configuration::GetNodeIndex(
        configuration, channel->source_node()->string_view());
    CHECK_GE(node_index, 0);
    if (peers_[node_index] == nullptr ||
        static_cast<size_t>(node_index) ==
            static_cast<size_t>(
                configuration::GetNodeIndex(configuration, me))) {
      continue;
    }
    if (links_[node_index] == nullptr) {
      links_[node_index] = std::make_unique<Link>();
      Link *link = links_[node_index].get();
      link->node_index = node_index;
      link->peer = peers_[node_index];
      link->timestamp_writer = domain_->MakeTimestamps(
          DdsDomain::Endpoint::kWriter, channel->source_node()->string_view(),
          me->name()->string_view());
      link->deliveries.reserve(kMaxDeliveries);
    }
    auto inbound = std::make_unique<Inbound>();
    inbound->channel = channel;
    inbound->index = static_cast<uint32_t>(
        configuration::ChannelIndex(configuration, channel));
    inbound->link = links_[node_index].get();
    inbound->reader = domain_->MakeForwarding(
        DdsDomain::Endpoint::kReader, channel->source_node()->string_view(),
        me->name()->string_view(), inbound->index, connection,
        configuration::QueueSize(configuration, channel));
    // The copies are sent by the bridge, not the channel's source node:
    // MakeRawSender allows that.
    inbound->sender = event_loop_->MakeRawSender(channel);
    inbound->send_timestamps =
        FindTimestampChannel(configuration, channel,
                             me->name()->string_view()) != nullptr;
    inbound_.push_back(std::move(inbound));
  }
  statistics_sender_ = event_loop_->TryMakeSender<ClientStatistics>("/aos");
  retry_timer_ = event_loop_->AddTimer([this]() { RetryHeld(); });
  retry_timer_->set_name("retry_held");
}

MessageBridgeClient::~MessageBridgeClient() = default;

bool MessageBridgeClient::Deliver(Inbound *inbound,
                                  const aos_bridge_Message &message) {
  Link *link = inbound->link;
  if (link->peer->mismatched()) return true;
  const UUID boot_uuid = UUID::FromSpan(
      std::span<const uint8_t>(message.boot_uuid, UUID::kDataSize));
  // Queue indices wrap: "not newer" is a signed difference.
  if (inbound->has_last && boot_uuid == inbound->last_boot_uuid &&
      static_cast<int32_t>(message.queue_index - inbound->last_queue_index) <=
          0) {
    ++link->duplicate_packets;
    return true;
  }
  const RawSender::Error error = inbound->sender->Send(
      message.data._buffer, message.data._length,
      monotonic_clock::time_point(
          monotonic_clock::duration(message.monotonic_sent_time)),
      realtime_clock::time_point(
          realtime_clock::duration(message.realtime_sent_time)),
      monotonic_clock::time_point(
          monotonic_clock::duration(message.monotonic_transmit_time)),
      message.queue_index, boot_uuid);
  // Only kMessagesSentTooFast is returned: held and retried.
  if (error != RawSender::Error::kOk) return false;
  inbound->has_last = true;
  inbound->last_boot_uuid = boot_uuid;
  inbound->last_queue_index = message.queue_index;
  ++link->received_packets;
  if (!inbound->send_timestamps) return true;
  aos_bridge_Delivery &delivery = link->deliveries.emplace_back();
  delivery.channel_index = inbound->index;
  delivery.monotonic_sent_time =
      inbound->sender->monotonic_sent_time().time_since_epoch().count();
  delivery.realtime_sent_time =
      inbound->sender->realtime_sent_time().time_since_epoch().count();
  delivery.queue_index = inbound->sender->sent_queue_index();
  delivery.monotonic_remote_time = message.monotonic_sent_time;
  delivery.realtime_remote_time = message.realtime_sent_time;
  delivery.monotonic_remote_transmit_time = message.monotonic_transmit_time;
  delivery.remote_queue_index = message.queue_index;
  memcpy(delivery.boot_uuid, event_loop_->boot_uuid().span().data(),
         UUID::kDataSize);
  if (link->deliveries.size() == kMaxDeliveries) FlushDeliveries(link);
  return true;
}

void MessageBridgeClient::FlushDeliveries(Link *link) {
  if (link->deliveries.empty()) return;
  aos_bridge_DeliveryBatch batch;
  batch.deliveries._buffer = link->deliveries.data();
  batch.deliveries._length = static_cast<uint32_t>(link->deliveries.size());
  batch.deliveries._maximum = batch.deliveries._length;
  batch.deliveries._release = false;
  if (dds_write(link->timestamp_writer, &batch) != DDS_RETCODE_OK) {
    link->timestamp_send_failures += batch.deliveries._length;
  }
  link->deliveries.clear();
}

void MessageBridgeClient::FlushAllDeliveries() {
  for (const std::unique_ptr<Link> &link : links_) {
    if (link != nullptr) FlushDeliveries(link.get());
  }
}

void MessageBridgeClient::RetryHeld() {
  bool still_held = false;
  for (const std::unique_ptr<Inbound> &inbound : inbound_) {
    while (!inbound->held.empty()) {
      Inbound::Held &held = inbound->held.front();
      held.message.data._buffer = held.data.data();
      if (!Deliver(inbound.get(), held.message)) break;
      inbound->held.pop_front();
    }
    still_held |= !inbound->held.empty();
  }
  if (still_held) {
    retry_timer_->Schedule(event_loop_->monotonic_now() +
                           std::chrono::milliseconds(1));
  }
  // Readers left unread while their channel held messages.
  TakeMessages();
}

void MessageBridgeClient::TakeMessages() {
  constexpr size_t kSamples = 16;
  void *samples[kSamples];
  dds_sample_info_t infos[kSamples];
  bool held = false;
  for (const std::unique_ptr<Inbound> &inbound : inbound_) {
    // Order: nothing overtakes a held message.
    while (inbound->held.empty()) {
      // Loaned samples: DDS deserialized them already, no copy of ours.
      samples[0] = nullptr;
      const int count =
          dds_take(inbound->reader, samples, infos, kSamples, kSamples);
      if (count <= 0) break;
      for (int i = 0; i < count; ++i) {
        if (!infos[i].valid_data) continue;
        const auto &batch = *static_cast<const aos_bridge_Batch *>(samples[i]);
        if (!inbound->link->peer->mismatched()) {
          inbound->link->partial_deliveries += BatchFragments(batch) - 1;
        }
        for (uint32_t j = 0; j < batch.messages._length; ++j) {
          const aos_bridge_Message &message = batch.messages._buffer[j];
          if (inbound->held.empty() && Deliver(inbound.get(), message)) {
            continue;
          }
          Inbound::Held &copy = inbound->held.emplace_back();
          copy.message = message;
          copy.data.assign(message.data._buffer,
                           message.data._buffer + message.data._length);
          copy.message.data._buffer = nullptr;
          copy.message.data._release = false;
        }
      }
      dds_return_loan(inbound->reader, samples, count);
    }
    held |= !inbound->held.empty();
  }
  FlushAllDeliveries();
  if (held && retry_timer_->IsDisabled()) {
    retry_timer_->Schedule(event_loop_->monotonic_now() +
                           std::chrono::milliseconds(1));
  }
}

void MessageBridgeClient::SendStatistics() {
  if (!statistics_sender_.valid()) return;
  auto builder = statistics_sender_.MakeBuilder();
  flatbuffers::FlatBufferBuilder *fbb = builder.fbb();
  std::vector<flatbuffers::Offset<ClientConnection>> connections;
  for (const std::unique_ptr<Link> &link : links_) {
    if (link == nullptr) continue;
    const PeerStatisticsOffsets peer_offsets =
        CreatePeerStatistics(fbb, *link->peer);
    ClientConnection::Builder connection(*fbb);
    AddPeerStatistics(*link->peer, peer_offsets, &connection);
    connection.add_received_packets(link->received_packets);
    connection.add_duplicate_packets(link->duplicate_packets);
    connection.add_partial_deliveries(link->partial_deliveries);
    connection.add_timestamp_send_failures(link->timestamp_send_failures);
    connections.push_back(connection.Finish());
  }
  const auto connections_offset = fbb->CreateVector(connections);
  ClientStatistics::Builder statistics(*fbb);
  statistics.add_connections(connections_offset);
  (void)builder.Send(statistics.Finish());
}

}  // namespace aos::message_bridge
