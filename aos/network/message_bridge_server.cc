#include "aos/network/message_bridge_server.h"

#include <dds/ddsc/dds_statistics.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "aos/network/connection_statistics.h"
#include "aos/network/remote_message_generated.h"
#include "glog/logging.h"

namespace aos::message_bridge {

const Channel *FindTimestampChannel(const Configuration *configuration,
                                    const Channel *channel,
                                    std::string_view destination) {
  const Node *source =
      configuration::GetNode(configuration, channel->source_node()->str());
  std::string type = channel->type()->str();
  std::replace(type.begin(), type.end(), '.', '-');
  const std::string prefix =
      "/aos/remote_timestamps/" + std::string(destination);
  for (const std::string &name :
       {prefix + channel->name()->str() + "/" + type, prefix}) {
    const Channel *timestamp_channel = configuration::GetChannel(
        configuration, name, RemoteMessage::GetFullyQualifiedName(), "", source,
        true);
    if (timestamp_channel != nullptr &&
        configuration::ChannelIsSendableOnNode(timestamp_channel, source)) {
      return timestamp_channel;
    }
  }
  return nullptr;
}

// One (channel, destination node) pair.
struct MessageBridgeServer::Destination {
  const Channel *channel;
  const Connection *connection;
  size_t node_index;
  PeerMonitor *peer;
  Link *link;
  dds_entity_t writer;
  dds_statistics *statistics;
  // Reliable connections (time_to_live 0) read the channel through their
  // own fetcher: its position is the next message to hand to DDS, so a
  // message DDS refused (flow control) stays there and is retried, and
  // nothing overtakes it. Falls behind by skipping to the oldest message
  // (counted as dropped) rather than dying. nullptr for unreliable ones,
  // which take the watcher's message or drop it.
  std::unique_ptr<RawFetcher> fetcher;
  // fetcher->context() holds a message DDS refused, to retry.
  bool pending = false;
  // The fetcher's lost_messages() already counted as dropped.
  uint64_t counted_lost = 0;
  uint32_t sent_packets = 0;
  uint32_t dropped_packets = 0;
  // Writes DDS refused and the bridge retried.
  uint32_t write_retries = 0;
  // The writer's publication-matched total_count when the latest message
  // last went out to a matched reader (reliable destinations).
  uint32_t matched_total = 0;
};

struct MessageBridgeServer::ForwardedChannel {
  const Channel *channel;
  uint32_t index;
  std::vector<Destination> destinations;
};

// Everything to one destination node.
struct MessageBridgeServer::Link {
  size_t node_index;
  PeerMonitor *peer;
  dds_entity_t timestamp_reader = 0;
  uint32_t sent_packets = 0;
  uint32_t dropped_packets = 0;
  // Channel index -> the RawSender of its delivery timestamps (nullptr if
  // the configuration has no timestamp channel for it).
  std::vector<std::pair<uint32_t, RawSender *>> timestamp_senders;
};

MessageBridgeServer::MessageBridgeServer(EventLoop *event_loop,
                                         DdsDomain *domain,
                                         std::vector<PeerMonitor *> peers)
    : event_loop_(event_loop), domain_(domain), peers_(std::move(peers)) {
  const Configuration *configuration = event_loop->configuration();
  const Node *me = event_loop->node();
  links_.resize(peers_.size());
  // Timestamp channels may be shared by several forwarded channels.
  std::vector<std::pair<const Channel *, std::unique_ptr<RawSender>>>
      timestamp_senders;
  auto timestamp_sender = [&](const Channel *channel) -> RawSender * {
    if (channel == nullptr) return nullptr;
    for (auto &[c, sender] : timestamp_senders) {
      if (c == channel) return sender.get();
    }
    timestamp_senders.emplace_back(channel,
                                   event_loop_->MakeRawSender(channel));
    return timestamp_senders.back().second.get();
  };

  for (const Channel *channel : *configuration->channels()) {
    if (!configuration::ChannelIsForwardedFromNode(channel, me)) continue;
    auto forwarded = std::make_unique<ForwardedChannel>();
    forwarded->channel = channel;
    forwarded->index = static_cast<uint32_t>(
        configuration::ChannelIndex(configuration, channel));
    const size_t queue_size = configuration::QueueSize(configuration, channel);
    for (const Connection *connection : *channel->destination_nodes()) {
      const int node_index = configuration::GetNodeIndex(
          configuration, connection->name()->string_view());
      CHECK_GE(node_index, 0);
      if (peers_[node_index] == nullptr) continue;
      if (links_[node_index] == nullptr) {
        links_[node_index] = std::make_unique<Link>();
        Link *link = links_[node_index].get();
        link->node_index = node_index;
        link->peer = peers_[node_index];
        dds_qos_t *qos = TimestampQos();
        link->timestamp_reader = domain_->MakeReader(
            TimestampTopicName(me->name()->string_view(),
                               connection->name()->string_view()),
            &aos_bridge_Delivery_desc, qos);
        dds_delete_qos(qos);
      }
      Link *link = links_[node_index].get();
      link->timestamp_senders.emplace_back(
          forwarded->index,
          timestamp_sender(FindTimestampChannel(
              configuration, channel, connection->name()->string_view())));
      dds_qos_t *qos = ForwardingQos(connection, queue_size);
      const dds_entity_t writer = domain_->MakeWriter(
          ForwardingTopicName(me->name()->string_view(),
                              connection->name()->string_view(),
                              forwarded->index),
          &aos_bridge_Message_desc, qos);
      dds_delete_qos(qos);
      Destination &destination = forwarded->destinations.emplace_back();
      destination.channel = channel;
      destination.connection = connection;
      destination.node_index = static_cast<size_t>(node_index);
      destination.peer = peers_[node_index];
      destination.link = link;
      destination.writer = writer;
      destination.statistics = dds_create_statistics(writer);
      if (connection->time_to_live() == 0) {
        destination.fetcher = event_loop_->MakeRawFetcher(channel);
        destination.fetcher->set_fall_behind_policy(
            FallBehindPolicy::kSkipToOldest);
      }
    }
    if (forwarded->destinations.empty()) continue;
    const bool any_unreliable = std::any_of(
        forwarded->destinations.begin(), forwarded->destinations.end(),
        [](const Destination &d) { return d.fetcher == nullptr; });
    ForwardedChannel *raw = forwarded.get();
    if (any_unreliable) {
      event_loop_->MakeRawWatcher(
          channel, [this, raw](const Context &context, const void *) {
            Forward(raw, context);
          });
    } else {
      // Reliable destinations read through their fetchers: the watcher only
      // wakes us, and copies nothing.
      event_loop_->MakeRawNoArgWatcher(
          channel,
          [this, raw](const Context &context) { Forward(raw, context); });
    }
    // A bridge that was stopped or starved (or a sender outrunning the
    // network) must not die for it: skip what was overwritten, count it as
    // dropped.
    event_loop_->SetWatcherFallBehindPolicy(channel,
                                            FallBehindPolicy::kSkipToOldest);
    channels_.push_back(std::move(forwarded));
  }
  // Keep the timestamp senders alive with the links (owned by the loop's
  // objects through this vector).
  timestamp_senders_.reserve(timestamp_senders.size());
  for (auto &entry : timestamp_senders) {
    timestamp_senders_.push_back(std::move(entry.second));
  }
  statistics_sender_ = event_loop_->TryMakeSender<ServerStatistics>("/aos");
  retry_timer_ = event_loop_->AddTimer([this]() { RetryPending(); });
  retry_timer_->set_name("retry_refused_writes");
}

MessageBridgeServer::~MessageBridgeServer() {
  for (const std::unique_ptr<ForwardedChannel> &forwarded : channels_) {
    for (Destination &destination : forwarded->destinations) {
      dds_delete_statistics(destination.statistics);
    }
  }
}

bool MessageBridgeServer::Write(Destination *destination,
                                const Context &context) {
  aos_bridge_Message message;
  message.monotonic_sent_time =
      context.monotonic_event_time.time_since_epoch().count();
  message.realtime_sent_time =
      context.realtime_event_time.time_since_epoch().count();
  message.queue_index = context.queue_index;
  memcpy(message.boot_uuid, context.source_boot_uuid.span().data(),
         UUID::kDataSize);
  // DDS serializes from the shared-memory buffer: no copy of ours.
  message.data._buffer =
      const_cast<uint8_t *>(static_cast<const uint8_t *>(context.data));
  message.data._length = static_cast<uint32_t>(context.size);
  message.data._maximum = message.data._length;
  message.data._release = false;
  message.monotonic_transmit_time =
      event_loop_->monotonic_now().time_since_epoch().count();
  const dds_return_t result = dds_write(destination->writer, &message);
  if (result != DDS_RETCODE_OK) {
    // A reliable writer waited 100 ms for acknowledgements (the message is
    // kept and retried), an unreliable one found its history full of
    // unacknowledged samples (dropped): the peer or the link cannot keep
    // up.
    LOG_EVERY_N(WARNING, 100)
        << "DDS refused a message of "
        << configuration::StrippedChannelToString(destination->channel)
        << " to node \"" << destination->peer->peer()->name()->string_view()
        << "\" (" << dds_strretcode(result) << "); "
        << (destination->fetcher != nullptr ? "retrying it" : "dropped it");
    return false;
  }
  return true;
}

void MessageBridgeServer::CountSent(Destination *destination) {
  ++destination->sent_packets;
  ++destination->link->sent_packets;
}

void MessageBridgeServer::CountDropped(Destination *destination,
                                       uint64_t count) {
  destination->dropped_packets += static_cast<uint32_t>(count);
  destination->link->dropped_packets += static_cast<uint32_t>(count);
}

void MessageBridgeServer::CountSkipped(Destination *destination) {
  const uint64_t lost = destination->fetcher->lost_messages();
  CountDropped(destination, lost - destination->counted_lost);
  destination->counted_lost = lost;
}

void MessageBridgeServer::DropBacklog(Destination *destination) {
  if (destination->pending) {
    destination->pending = false;
    CountDropped(destination, 1);
  }
  while (destination->fetcher->FetchNext()) {
    CountSkipped(destination);
    CountDropped(destination, 1);
  }
  CountSkipped(destination);
}

void MessageBridgeServer::Refused(Destination *destination) {
  destination->pending = true;
  ++destination->write_retries;
  if (retry_timer_->IsDisabled()) {
    // DDS already waited for room (max_blocking_time); the delay only
    // keeps a write that fails at once from spinning the loop.
    retry_timer_->Schedule(event_loop_->monotonic_now() +
                           std::chrono::milliseconds(1));
  }
}

void MessageBridgeServer::CatchUp(Destination *destination) {
  if (!destination->peer->connected()) {
    DropBacklog(destination);
    return;
  }
  if (destination->pending) {
    if (!Write(destination, destination->fetcher->context())) {
      Refused(destination);
      return;
    }
    destination->pending = false;
    CountSent(destination);
  }
  while (destination->fetcher->FetchNext()) {
    CountSkipped(destination);
    if (!Write(destination, destination->fetcher->context())) {
      Refused(destination);
      return;
    }
    CountSent(destination);
  }
  CountSkipped(destination);
}

void MessageBridgeServer::RetryPending() {
  for (const std::unique_ptr<ForwardedChannel> &forwarded : channels_) {
    for (Destination &destination : forwarded->destinations) {
      if (destination.pending) CatchUp(&destination);
    }
  }
}

void MessageBridgeServer::Forward(ForwardedChannel *forwarded,
                                  const Context &context) {
  for (Destination &destination : forwarded->destinations) {
    if (destination.fetcher != nullptr) {
      // A refused message is the retry timer's: writing again now would
      // only block the loop for another max_blocking_time.
      if (!destination.pending) CatchUp(&destination);
      continue;
    }
    // Unreliable: what the watcher skipped is lost, and so is this message
    // if the peer is down or DDS refuses it.
    CountDropped(&destination, context.lost_messages);
    if (!destination.peer->connected() || !Write(&destination, context)) {
      CountDropped(&destination, 1);
      continue;
    }
    CountSent(&destination);
  }
}

void MessageBridgeServer::SendLatest(Destination *destination) {
  // What the writer's matches are now: a reader that matches later (DDS
  // learnt of it after the probes got through) gets the latest again
  // (CheckMatches).
  dds_publication_matched_status_t status;
  if (dds_get_publication_matched_status(destination->writer, &status) ==
          DDS_RETCODE_OK &&
      status.current_count > 0) {
    destination->matched_total = status.total_count;
  }
  // Only the latest message goes to a (re)connected or rebooted peer:
  // anything older still waiting is dropped.
  DropBacklog(destination);
  destination->fetcher->Fetch();
  if (destination->fetcher->context().data == nullptr) return;
  if (Write(destination, destination->fetcher->context())) {
    CountSent(destination);
  } else {
    Refused(destination);
  }
}

void MessageBridgeServer::OnConnected(size_t node_index) {
  for (const std::unique_ptr<ForwardedChannel> &forwarded : channels_) {
    for (Destination &destination : forwarded->destinations) {
      if (destination.node_index == node_index &&
          destination.fetcher != nullptr) {
        SendLatest(&destination);
      }
    }
  }
}

void MessageBridgeServer::CheckMatches() {
  for (const std::unique_ptr<ForwardedChannel> &forwarded : channels_) {
    for (Destination &destination : forwarded->destinations) {
      if (destination.fetcher == nullptr || !destination.peer->connected()) {
        continue;
      }
      dds_publication_matched_status_t status;
      if (dds_get_publication_matched_status(destination.writer, &status) !=
              DDS_RETCODE_OK ||
          status.current_count == 0 ||
          status.total_count == destination.matched_total) {
        continue;
      }
      SendLatest(&destination);
    }
  }
}

void MessageBridgeServer::TakeTimestamps() {
  constexpr size_t kBatch = 64;
  void *samples[kBatch];
  dds_sample_info_t infos[kBatch];
  for (const std::unique_ptr<Link> &link : links_) {
    if (link == nullptr) continue;
    while (true) {
      samples[0] = nullptr;
      const int count =
          dds_take(link->timestamp_reader, samples, infos, kBatch, kBatch);
      if (count <= 0) break;
      for (int i = 0; i < count; ++i) {
        if (!infos[i].valid_data) continue;
        const auto &delivery =
            *static_cast<const aos_bridge_Delivery *>(samples[i]);
        RawSender *sender = nullptr;
        for (const auto &[index, s] : link->timestamp_senders) {
          if (index == delivery.channel_index) sender = s;
        }
        if (sender == nullptr) continue;
        // Built in place in the sender's buffer. Every field present, as
        // the simulated bridge's.
        flatbuffers::FlatBufferBuilder fbb(sender->size(),
                                           sender->fbb_allocator(), false);
        fbb.ForceDefaults(true);
        const auto boot_uuid = fbb.CreateVector(
            delivery.boot_uuid, static_cast<size_t>(UUID::kDataSize));
        RemoteMessage::Builder builder(fbb);
        builder.add_channel_index(delivery.channel_index);
        builder.add_monotonic_sent_time(delivery.monotonic_sent_time);
        builder.add_realtime_sent_time(delivery.realtime_sent_time);
        builder.add_queue_index(delivery.queue_index);
        builder.add_monotonic_remote_time(delivery.monotonic_remote_time);
        builder.add_realtime_remote_time(delivery.realtime_remote_time);
        builder.add_remote_queue_index(delivery.remote_queue_index);
        builder.add_boot_uuid(boot_uuid);
        builder.add_monotonic_remote_transmit_time(
            delivery.monotonic_remote_transmit_time);
        fbb.Finish(builder.Finish());
        if (sender->Send(fbb.GetSize()) != RawSender::Error::kOk) {
          ++timestamp_send_failures_;
        }
        // Hand the buffer back to the allocator without touching it again.
        fbb = flatbuffers::FlatBufferBuilder();
      }
      dds_return_loan(link->timestamp_reader, samples, count);
    }
  }
}

void MessageBridgeServer::SendStatistics() {
  if (!statistics_sender_.valid()) return;
  auto builder = statistics_sender_.MakeBuilder();
  flatbuffers::FlatBufferBuilder *fbb = builder.fbb();
  std::vector<flatbuffers::Offset<ServerConnection>> connections;
  uint32_t invalid_connections = 0;
  for (const std::unique_ptr<Link> &link : links_) {
    if (link == nullptr) continue;
    PeerMonitor *peer = link->peer;
    invalid_connections += peer->invalid_connection_count();
    uint32_t link_retries = 0;
    std::vector<flatbuffers::Offset<ServerChannelStatistics>> channels;
    for (const std::unique_ptr<ForwardedChannel> &forwarded : channels_) {
      for (Destination &destination : forwarded->destinations) {
        if (destination.link != link.get()) continue;
        uint32_t retries = 0;
        if (destination.statistics != nullptr &&
            dds_refresh_statistics(destination.statistics) == DDS_RETCODE_OK) {
          const dds_stat_keyvalue *value =
              dds_lookup_statistic(destination.statistics, "rexmit_count");
          if (value != nullptr && value->kind == DDS_STAT_KIND_UINT64) {
            retries = static_cast<uint32_t>(value->u.u64);
          }
        }
        retries += destination.write_retries;
        link_retries += retries;
        ServerChannelStatistics::Builder channel(*fbb);
        channel.add_channel_index(forwarded->index);
        channel.add_sent_packets(destination.sent_packets);
        channel.add_dropped_packets(destination.dropped_packets);
        channel.add_retry_count(retries);
        channels.push_back(channel.Finish());
      }
    }
    const auto channels_offset = fbb->CreateVector(channels);
    const PeerStatisticsOffsets peer_offsets = CreatePeerStatistics(fbb, *peer);
    ServerConnection::Builder connection(*fbb);
    AddPeerStatistics(*peer, peer_offsets, &connection);
    connection.add_dropped_packets(link->dropped_packets);
    connection.add_sent_packets(link->sent_packets);
    connection.add_invalid_connection_count(peer->invalid_connection_count());
    connection.add_channels(channels_offset);
    connection.add_retry_count(link_retries);
    connections.push_back(connection.Finish());
  }
  const auto connections_offset = fbb->CreateVector(connections);
  ServerStatistics::Builder statistics(*fbb);
  statistics.add_connections(connections_offset);
  statistics.add_timestamp_send_failures(timestamp_send_failures_);
  statistics.add_invalid_connection_count(invalid_connections);
  (void)builder.Send(statistics.Finish());
}

}  // namespace aos::message_bridge
