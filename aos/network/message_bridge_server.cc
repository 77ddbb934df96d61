#include "aos/network/message_bridge_server.h"

#include <dds/ddsc/dds_statistics.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "aos/network/connection_statistics.h"
#include "aos/network/remote_message_generated.h"
#include "aos/network/timestamp_channel.h"
#include "glog/logging.h"

namespace aos::message_bridge {

// One (channel, destination node) pair.
struct MessageBridgeServer::Destination {
  const Channel *channel;
  const Connection *connection;
  size_t node_index;
  PeerMonitor *peer;
  Link *link;
  dds_entity_t writer;
  dds_statistics *statistics;
  bool reliable;
  // Each destination reads the channel through its own fetcher: its
  // position is the next message to hand to DDS, so everything that
  // arrived since the last wakeup goes out in one batch, and a batch DDS
  // refused (reliable: flow control) is retried with nothing overtaking
  // it. Falls behind by skipping to the oldest message (counted as
  // dropped) rather than dying.
  std::unique_ptr<RawFetcher> fetcher;
  // The fetcher holds a message not yet in `batch` nor written.
  bool unbatched = false;
  // Reliable: `batch` holds what DDS refused; the retry timer writes it.
  bool pending = false;
  // Reliable: the next CatchUp sends the fetcher's current message (the
  // latest when the destination connected) before any newer one.
  bool send_current = false;
  // Reliable: the next CatchUp sends the fetcher's current message again if
  // nothing newer is waiting (a reader matched after it was written).
  bool resend_if_idle = false;
  // The messages of the batch being built (or refused), oldest first. The
  // small ones' bytes are copied into `arena` (the fetcher's buffer holds
  // one message only); a message too large to batch travels alone, DDS
  // serializing it from the fetcher's buffer. Both sized once.
  std::vector<aos_bridge_Message> batch;
  std::unique_ptr<uint8_t[]> arena;
  size_t arena_used = 0;
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
        link->timestamp_reader = domain_->MakeTimestamps(
            DdsDomain::Endpoint::kReader, me->name()->string_view(),
            connection->name()->string_view());
      }
      Link *link = links_[node_index].get();
      link->timestamp_senders.emplace_back(
          forwarded->index,
          timestamp_sender(FindTimestampChannel(
              configuration, channel, connection->name()->string_view())));
      const dds_entity_t writer = domain_->MakeForwarding(
          DdsDomain::Endpoint::kWriter, me->name()->string_view(),
          connection->name()->string_view(), forwarded->index, connection,
          queue_size);
      Destination &destination = forwarded->destinations.emplace_back();
      destination.channel = channel;
      destination.connection = connection;
      destination.node_index = static_cast<size_t>(node_index);
      destination.peer = peers_[node_index];
      destination.link = link;
      destination.writer = writer;
      destination.statistics = dds_create_statistics(writer);
      destination.reliable = connection->time_to_live() == 0;
      destination.fetcher = event_loop_->MakeRawFetcher(channel);
      destination.fetcher->set_fall_behind_policy(
          FallBehindPolicy::kSkipToOldest);
      destination.batch.reserve(kMaxBatchMessages);
      destination.arena = std::make_unique<uint8_t[]>(kBatchBytes);
    }
    if (forwarded->destinations.empty()) continue;
    // The destinations read through their fetchers: the watcher only wakes
    // us, and copies nothing.
    ForwardedChannel *raw = forwarded.get();
    event_loop_->MakeRawNoArgWatcher(
        channel, [this, raw](const Context &) { Forward(raw); });
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

bool MessageBridgeServer::Fits(const Destination &destination, size_t size) {
  return size <= kBatchBytes - destination.arena_used &&
         destination.batch.size() < kMaxBatchMessages;
}

void MessageBridgeServer::AddToBatch(Destination *destination, bool copy) {
  const Context &context = destination->fetcher->context();
  aos_bridge_Message &message = destination->batch.emplace_back();
  message.monotonic_sent_time =
      context.monotonic_event_time.time_since_epoch().count();
  message.realtime_sent_time =
      context.realtime_event_time.time_since_epoch().count();
  message.queue_index = context.queue_index;
  memcpy(message.boot_uuid, context.source_boot_uuid.span().data(),
         UUID::kDataSize);
  const uint8_t *data = static_cast<const uint8_t *>(context.data);
  if (copy) {
    uint8_t *to = destination->arena.get() + destination->arena_used;
    memcpy(to, data, context.size);
    destination->arena_used += context.size;
    data = to;
  }
  message.data._buffer = const_cast<uint8_t *>(data);
  message.data._length = static_cast<uint32_t>(context.size);
  message.data._maximum = message.data._length;
  message.data._release = false;
  destination->unbatched = false;
}

void MessageBridgeServer::ClearBatch(Destination *destination) {
  destination->batch.clear();
  destination->arena_used = 0;
}

bool MessageBridgeServer::Flush(Destination *destination) {
  if (destination->batch.empty()) return true;
  const int64_t now = event_loop_->monotonic_now().time_since_epoch().count();
  for (aos_bridge_Message &message : destination->batch) {
    message.monotonic_transmit_time = now;
  }
  aos_bridge_Batch batch;
  batch.messages._buffer = destination->batch.data();
  batch.messages._length = static_cast<uint32_t>(destination->batch.size());
  batch.messages._maximum = batch.messages._length;
  batch.messages._release = false;
  const dds_return_t result = dds_write(destination->writer, &batch);
  if (result == DDS_RETCODE_OK) {
    CountSent(destination, destination->batch.size());
    ClearBatch(destination);
    return true;
  }
  // A reliable writer waited 100 ms for acknowledgements (the batch is kept
  // and retried), an unreliable one found its history full of
  // unacknowledged samples (dropped): the peer or the link cannot keep up.
  LOG_EVERY_N(WARNING, 100)
      << "DDS refused " << destination->batch.size() << " message(s) of "
      << configuration::StrippedChannelToString(destination->channel)
      << " to node \"" << destination->peer->peer()->name()->string_view()
      << "\" (" << dds_strretcode(result) << "); "
      << (destination->reliable ? "retrying" : "dropped");
  if (!destination->reliable) {
    CountDropped(destination, destination->batch.size());
    ClearBatch(destination);
    return true;
  }
  destination->pending = true;
  ++destination->write_retries;
  if (retry_timer_->IsDisabled()) {
    // DDS already waited for room (max_blocking_time); the delay only
    // keeps a write that fails at once from spinning the loop.
    retry_timer_->Schedule(event_loop_->monotonic_now() +
                           std::chrono::milliseconds(1));
  }
  return false;
}

void MessageBridgeServer::CountSent(Destination *destination, uint64_t count) {
  destination->sent_packets += static_cast<uint32_t>(count);
  destination->link->sent_packets += static_cast<uint32_t>(count);
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
  destination->pending = false;
  destination->send_current = false;
  destination->resend_if_idle = false;
  CountDropped(destination,
               destination->batch.size() + (destination->unbatched ? 1 : 0));
  ClearBatch(destination);
  destination->unbatched = false;
  while (destination->fetcher->FetchNext()) {
    CountSkipped(destination);
    CountDropped(destination, 1);
  }
  CountSkipped(destination);
}

void MessageBridgeServer::CatchUp(Destination *destination) {
  if (!destination->peer->connected()) {
    DropBacklog(destination);
    return;
  }
  destination->pending = false;
  // A refused batch goes first (and it holds the newest message written, so
  // there is nothing to resend).
  bool resend = destination->resend_if_idle && destination->batch.empty();
  if (!Flush(destination)) return;
  destination->resend_if_idle = false;
  if (destination->send_current) {
    destination->send_current = false;
    destination->unbatched = destination->fetcher->context().data != nullptr;
  }
  // Everything waiting, in batches: one write per kBatchBytes of small
  // messages, and one per larger message.
  while (true) {
    if (!destination->unbatched) {
      if (!destination->fetcher->FetchNext()) break;
      CountSkipped(destination);
      destination->unbatched = true;
    }
    resend = false;
    const size_t size = destination->fetcher->context().size;
    if (Fits(*destination, size)) {
      AddToBatch(destination, /*copy=*/true);
      continue;
    }
    if (!destination->batch.empty()) {
      if (!Flush(destination)) return;
      if (size <= kBatchBytes) continue;
    }
    // Too large to batch: alone, serialized from the fetcher's buffer.
    AddToBatch(destination, /*copy=*/false);
    if (!Flush(destination)) return;
  }
  CountSkipped(destination);
  if (resend && destination->fetcher->context().data != nullptr) {
    AddToBatch(destination, /*copy=*/false);
  }
  Flush(destination);
}

void MessageBridgeServer::RetryPending() {
  for (const std::unique_ptr<ForwardedChannel> &forwarded : channels_) {
    for (Destination &destination : forwarded->destinations) {
      if (destination.pending) CatchUp(&destination);
    }
  }
}

void MessageBridgeServer::Forward(ForwardedChannel *forwarded) {
  for (Destination &destination : forwarded->destinations) {
    // A refused batch is the retry timer's: writing again now would only
    // block the loop for another max_blocking_time.
    if (!destination.pending) CatchUp(&destination);
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
  destination->send_current = true;
  CatchUp(destination);
}

void MessageBridgeServer::OnConnected(size_t node_index) {
  for (const std::unique_ptr<ForwardedChannel> &forwarded : channels_) {
    for (Destination &destination : forwarded->destinations) {
      if (destination.node_index == node_index && destination.reliable) {
        SendLatest(&destination);
      }
    }
  }
}

void MessageBridgeServer::CheckMatches() {
  for (const std::unique_ptr<ForwardedChannel> &forwarded : channels_) {
    for (Destination &destination : forwarded->destinations) {
      if (!destination.reliable || !destination.peer->connected()) {
        continue;
      }
      dds_publication_matched_status_t status;
      if (dds_get_publication_matched_status(destination.writer, &status) !=
              DDS_RETCODE_OK ||
          status.current_count == 0 ||
          status.total_count == destination.matched_total) {
        continue;
      }
      destination.matched_total = status.total_count;
      // What was written before the match reached no reader. Messages not
      // written yet go out now and are newer than any of those: nothing to
      // add (and dropping them, as a new connection does, would lose
      // messages sent after the connection). Otherwise the newest message,
      // already written, is written again.
      destination.resend_if_idle = true;
      if (!destination.pending) CatchUp(&destination);
    }
  }
}

void MessageBridgeServer::TakeTimestamps() {
  constexpr size_t kSamples = 16;
  void *samples[kSamples];
  dds_sample_info_t infos[kSamples];
  for (const std::unique_ptr<Link> &link : links_) {
    if (link == nullptr) continue;
    while (true) {
      samples[0] = nullptr;
      const int count =
          dds_take(link->timestamp_reader, samples, infos, kSamples, kSamples);
      if (count <= 0) break;
      for (int i = 0; i < count; ++i) {
        if (!infos[i].valid_data) continue;
        const auto &batch =
            *static_cast<const aos_bridge_DeliveryBatch *>(samples[i]);
        for (uint32_t j = 0; j < batch.deliveries._length; ++j) {
          SendRemoteMessage(*link, batch.deliveries._buffer[j]);
        }
      }
      dds_return_loan(link->timestamp_reader, samples, count);
    }
  }
}

void MessageBridgeServer::SendRemoteMessage(
    const Link &link, const aos_bridge_Delivery &delivery) {
  RawSender *sender = nullptr;
  for (const auto &[index, s] : link.timestamp_senders) {
    if (index == delivery.channel_index) sender = s;
  }
  if (sender == nullptr) return;
  // Built in place in the sender's buffer. Every field present, as the
  // simulated bridge's.
  flatbuffers::FlatBufferBuilder fbb(sender->size(), sender->fbb_allocator(),
                                     false);
  fbb.ForceDefaults(true);
  const auto boot_uuid = fbb.CreateVector(delivery.boot_uuid,
                                          static_cast<size_t>(UUID::kDataSize));
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
