#include "aos/events/simulated_network_bridge.h"

#include <algorithm>
#include <string>
#include <utility>

#include "aos/network/message_bridge_client_generated.h"
#include "aos/network/message_bridge_server_generated.h"
#include "aos/network/remote_message_generated.h"
#include "aos/network/timestamp_generated.h"
#include "glog/logging.h"

namespace aos::message_bridge {
namespace {

// A FIFO over a ring that only grows, so messages in flight cost no
// allocation once it is warm (std::deque frees and allocates blocks as it
// cycles).
template <typename T>
class Fifo {
 public:
  bool empty() const { return size_ == 0; }
  T &front() { return items_[head_]; }
  void push_back(T item) {
    if (size_ == items_.size()) Grow();
    items_[(head_ + size_) % items_.size()] = std::move(item);
    ++size_;
  }
  void pop_front() {
    items_[head_] = T();
    head_ = (head_ + 1) % items_.size();
    --size_;
  }
  void clear() {
    while (!empty()) pop_front();
  }

 private:
  void Grow() {
    std::vector<T> grown(std::max<size_t>(8, 2 * items_.size()));
    for (size_t i = 0; i < size_; ++i) {
      grown[i] = std::move(items_[(head_ + i) % items_.size()]);
    }
    items_ = std::move(grown);
    head_ = 0;
  }

  std::vector<T> items_;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace

// The state of the link from one node to another.
struct SimulatedMessageBridge::Link {
  bool connected = true;
  LinkStatistics statistics;
  // Received on the destination (differs from sent while in flight).
  uint32_t received_packets = 0;
  monotonic_clock::time_point connected_since = monotonic_clock::epoch();
};

// The bridge's presence on one node: a loop per boot with the senders of
// forwarded copies, timestamps and statistics.
struct SimulatedMessageBridge::NodeBridge {
  NodeEventLoopFactory *node;
  std::unique_ptr<EventLoop> event_loop;
  // Timestamp channel -> its sender, this boot.
  std::vector<std::pair<const Channel *, std::unique_ptr<RawSender>>>
      timestamp_senders;
  // The senders of forwarded copies into this node, this boot.
  std::vector<std::unique_ptr<RawSender>> forward_senders;
  Sender<ServerStatistics> server_statistics;
  Sender<ClientStatistics> client_statistics;
  Sender<Timestamp> timestamp;
  TimerHandler *server_timer = nullptr;
  TimerHandler *client_timer = nullptr;

  RawSender *TimestampSender(const Channel *channel) {
    for (auto &[c, sender] : timestamp_senders) {
      if (c == channel) return sender.get();
    }
    timestamp_senders.emplace_back(channel, event_loop->MakeRawSender(channel));
    return timestamp_senders.back().second.get();
  }
};

// Forwards one channel from its source node to one destination node.
class SimulatedMessageBridge::Delivery {
 public:
  Delivery(SimulatedMessageBridge *bridge, const Channel *channel,
           size_t source, size_t destination, bool reliable,
           const Channel *timestamp_channel)
      : bridge_(bridge),
        channel_(channel),
        channel_index_(static_cast<uint32_t>(
            configuration::ChannelIndex(bridge->configuration_, channel))),
        source_(source),
        destination_(destination),
        reliable_(reliable),
        timestamp_channel_(timestamp_channel),
        deliver_event_(this),
        timestamp_event_(this) {
    Source()->AddSendListener(
        channel, [this](const simulated_internal::MessageRef &message) {
          OnSend(message);
        });
  }

  ~Delivery() {
    Destination()->scheduler()->Deschedule(&deliver_event_);
    Source()->scheduler()->Deschedule(&timestamp_event_);
  }

  const Channel *channel() const { return channel_; }
  size_t source() const { return source_; }
  size_t destination() const { return destination_; }
  const Channel *timestamp_channel() const { return timestamp_channel_; }

  void DisableForwarding() {
    forwarding_disabled_ = true;
    latest_ = {};
  }

  // The destination booted (its loop and sender exist again).
  void DestinationStartup(RawSender *sender) {
    sender_ = sender;
    // A new boot has none of our messages: reliable channels send the
    // latest again.
    if (reliable_) SendLatestIfUndelivered(true);
  }
  void DestinationShutdown() {
    Destination()->scheduler()->Deschedule(&deliver_event_);
    pending_.clear();
    sender_ = nullptr;
  }
  void SourceStartup(RawSender *timestamp_sender) {
    timestamp_sender_ = timestamp_sender;
  }
  void SourceShutdown() {
    Source()->scheduler()->Deschedule(&timestamp_event_);
    timestamps_.clear();
    timestamp_sender_ = nullptr;
    // The source's channels are cleared: nothing is left to resend.
    latest_ = {};
  }

  // The link came back up.
  void Connected() {
    if (reliable_) SendLatestIfUndelivered(false);
  }

 private:
  class DeliverEvent final : public EventScheduler::Event {
   public:
    explicit DeliverEvent(Delivery *delivery) : delivery_(delivery) {}
    void Handle() override { delivery_->Deliver(); }

   private:
    Delivery *const delivery_;
  };
  class TimestampEvent final : public EventScheduler::Event {
   public:
    explicit TimestampEvent(Delivery *delivery) : delivery_(delivery) {}
    void Handle() override { delivery_->SendTimestamp(); }

   private:
    Delivery *const delivery_;
  };

  struct Pending {
    simulated_internal::MessageRef message;
    // When it arrives (distributed) and when it left the source (source
    // clock).
    distributed_clock::time_point arrival;
    monotonic_clock::time_point transmit_time;
  };

  struct PendingTimestamp {
    distributed_clock::time_point arrival;
    monotonic_clock::time_point monotonic_sent_time;
    realtime_clock::time_point realtime_sent_time;
    uint32_t queue_index;
    monotonic_clock::time_point monotonic_remote_time;
    realtime_clock::time_point realtime_remote_time;
    monotonic_clock::time_point monotonic_remote_transmit_time;
    uint32_t remote_queue_index;
    UUID boot_uuid = UUID::Zero();
  };

  NodeEventLoopFactory *Source() const {
    return bridge_->nodes_[source_]->node;
  }
  NodeEventLoopFactory *Destination() const {
    return bridge_->nodes_[destination_]->node;
  }
  Link *GetLink() const { return bridge_->GetLink(source_, destination_); }

  void OnSend(const simulated_internal::MessageRef &message) {
    if (forwarding_disabled_) return;
    latest_ = message;
    latest_enqueued_ = false;
    if (!GetLink()->connected || sender_ == nullptr) {
      ++GetLink()->statistics.dropped_packets;
      return;
    }
    const monotonic_clock::time_point sent =
        message.context().monotonic_event_time;
    Enqueue(message, Source()->ToDistributedClock(sent), sent);
  }

  void SendLatestIfUndelivered(bool new_boot) {
    if (!latest_ || forwarding_disabled_ || sender_ == nullptr ||
        !GetLink()->connected || !Source()->is_up()) {
      return;
    }
    if (latest_enqueued_ && !new_boot) return;
    Enqueue(latest_, bridge_->factory_->distributed_now(),
            Source()->monotonic_now());
  }

  // Puts `message`, which left the source at distributed time `departure`,
  // on the wire.
  void Enqueue(const simulated_internal::MessageRef &message,
               distributed_clock::time_point departure,
               monotonic_clock::time_point transmit_time) {
    latest_enqueued_ = true;
    const distributed_clock::time_point arrival =
        departure + bridge_->factory_->network_delay();
    pending_.push_back(Pending{message, arrival, transmit_time});
    if (!deliver_event_.scheduled()) ScheduleDelivery();
  }

  void ScheduleDelivery() {
    NodeEventLoopFactory *destination = Destination();
    destination->scheduler()->Schedule(
        &deliver_event_,
        std::max(destination->FromDistributedClock(pending_.front().arrival),
                 destination->monotonic_now()));
  }

  void Deliver() {
    Pending pending = std::move(pending_.front());
    pending_.pop_front();
    if (!pending_.empty()) ScheduleDelivery();
    const Context &context = pending.message.context();
    CHECK(sender_ != nullptr);
    const RawSender::Error error =
        sender_->Send(context.data, context.size, context.monotonic_event_time,
                      context.realtime_event_time, pending.transmit_time,
                      context.queue_index, context.source_boot_uuid);
    CHECK(error == RawSender::Error::kOk)
        << ": the message bridge failed to forward a message on "
        << configuration::StrippedChannelToString(channel_);
    Link *link = GetLink();
    ++link->statistics.sent_packets;
    ++link->received_packets;
    if (timestamp_channel_ == nullptr) return;
    // The delivery timestamp goes back to the source.
    NodeEventLoopFactory *destination = Destination();
    timestamps_.push_back(PendingTimestamp{
        destination->ToDistributedClock(destination->monotonic_now()) +
            bridge_->factory_->network_delay(),
        sender_->monotonic_sent_time(), sender_->realtime_sent_time(),
        sender_->sent_queue_index(), context.monotonic_event_time,
        context.realtime_event_time, pending.transmit_time, context.queue_index,
        destination->boot_uuid()});
    if (!timestamp_event_.scheduled()) ScheduleTimestamp();
  }

  void ScheduleTimestamp() {
    NodeEventLoopFactory *source = Source();
    source->scheduler()->Schedule(
        &timestamp_event_,
        std::max(source->FromDistributedClock(timestamps_.front().arrival),
                 source->monotonic_now()));
  }

  void SendTimestamp() {
    const PendingTimestamp timestamp = timestamps_.front();
    timestamps_.pop_front();
    if (!timestamps_.empty()) ScheduleTimestamp();
    if (timestamp_sender_ == nullptr) return;
    // Built in place in the sender's buffer, like Sender::Builder does.
    flatbuffers::FlatBufferBuilder fbb(
        timestamp_sender_->size(), timestamp_sender_->fbb_allocator(), false);
    fbb.ForceDefaults(true);
    const auto boot_uuid = fbb.CreateVector(timestamp.boot_uuid.span().data(),
                                            timestamp.boot_uuid.span().size());
    RemoteMessage::Builder builder(fbb);
    builder.add_channel_index(channel_index_);
    builder.add_monotonic_sent_time(
        timestamp.monotonic_sent_time.time_since_epoch().count());
    builder.add_realtime_sent_time(
        timestamp.realtime_sent_time.time_since_epoch().count());
    builder.add_queue_index(timestamp.queue_index);
    builder.add_monotonic_remote_time(
        timestamp.monotonic_remote_time.time_since_epoch().count());
    builder.add_realtime_remote_time(
        timestamp.realtime_remote_time.time_since_epoch().count());
    builder.add_remote_queue_index(timestamp.remote_queue_index);
    builder.add_monotonic_timestamp_time(
        Source()->monotonic_now().time_since_epoch().count());
    builder.add_boot_uuid(boot_uuid);
    builder.add_monotonic_remote_transmit_time(
        timestamp.monotonic_remote_transmit_time.time_since_epoch().count());
    fbb.Finish(builder.Finish());
    // Timestamps are best effort, as on the robot (a full queue drops).
    (void)timestamp_sender_->Send(fbb.GetSize());
    // Hand the buffer back to the sender's allocator.
    fbb = flatbuffers::FlatBufferBuilder();
  }

  SimulatedMessageBridge *const bridge_;
  const Channel *const channel_;
  const uint32_t channel_index_;
  const size_t source_;
  const size_t destination_;
  const bool reliable_;
  const Channel *const timestamp_channel_;
  bool forwarding_disabled_ = false;

  RawSender *sender_ = nullptr;
  RawSender *timestamp_sender_ = nullptr;
  simulated_internal::MessageRef latest_;
  bool latest_enqueued_ = false;
  Fifo<Pending> pending_;
  Fifo<PendingTimestamp> timestamps_;
  DeliverEvent deliver_event_;
  TimestampEvent timestamp_event_;
};

namespace {

// The remote timestamp channel for `channel` to `destination` on `source`,
// or nullptr.
const Channel *FindTimestampChannel(const Configuration *configuration,
                                    const Channel *channel, const Node *source,
                                    std::string_view destination) {
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

}  // namespace

SimulatedMessageBridge::SimulatedMessageBridge(
    SimulatedEventLoopFactory *factory)
    : factory_(factory), configuration_(factory->configuration()) {
  const std::vector<NodeEventLoopFactory *> &nodes = factory->node_factories();
  for (NodeEventLoopFactory *node : nodes) {
    nodes_.push_back(std::make_unique<NodeBridge>());
    nodes_.back()->node = node;
  }
  for (size_t i = 0; i < nodes.size() * nodes.size(); ++i) {
    links_.push_back(std::make_unique<Link>());
    links_.back()->statistics.connection_count = 1;
  }
  if (configuration_->channels() != nullptr) {
    for (const Channel *channel : *configuration_->channels()) {
      if (channel->source_node() == nullptr ||
          channel->destination_nodes() == nullptr) {
        continue;
      }
      const Node *source =
          configuration::GetNode(configuration_, channel->source_node()->str());
      CHECK(source != nullptr);
      const size_t source_index =
          configuration::GetNodeIndex(configuration_, source);
      for (const Connection *connection : *channel->destination_nodes()) {
        const int destination_index = configuration::GetNodeIndex(
            configuration_, connection->name()->string_view());
        if (static_cast<size_t>(destination_index) == source_index) continue;
        deliveries_.push_back(std::make_unique<Delivery>(
            this, channel, source_index, destination_index,
            connection->time_to_live() == 0,
            FindTimestampChannel(configuration_, channel, source,
                                 connection->name()->string_view())));
      }
    }
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    nodes[i]->OnStartup([this, i]() { Startup(i); });
    nodes[i]->OnShutdown([this, i]() { Shutdown(i); });
  }
}

SimulatedMessageBridge::~SimulatedMessageBridge() {
  for (size_t i = 0; i < nodes_.size(); ++i) Shutdown(i);
  deliveries_.clear();
}

SimulatedMessageBridge::Link *SimulatedMessageBridge::GetLink(size_t from,
                                                              size_t to) {
  return links_[from * nodes_.size() + to].get();
}

const SimulatedMessageBridge::Link *SimulatedMessageBridge::GetLink(
    size_t from, size_t to) const {
  return links_[from * nodes_.size() + to].get();
}

void SimulatedMessageBridge::Startup(size_t node_index) {
  NodeBridge *node = nodes_[node_index].get();
  // Forwarded copies are exact replays of the source's sends: never "too
  // fast" here.
  node->event_loop = node->node->MakeEventLoop(
      "message_bridge",
      EventLoopOptions{CheckSentTooFast::kNo, ExclusiveSenders::kNo, {}});
  node->event_loop->SkipTimingReport();
  for (const std::unique_ptr<Delivery> &delivery : deliveries_) {
    if (delivery->source() == node_index) {
      delivery->SourceStartup(
          delivery->timestamp_channel() == nullptr
              ? nullptr
              : node->TimestampSender(delivery->timestamp_channel()));
    }
  }
  node->server_statistics =
      node->event_loop->TryMakeSender<ServerStatistics>("/aos");
  node->client_statistics =
      node->event_loop->TryMakeSender<ClientStatistics>("/aos");
  node->timestamp = node->event_loop->TryMakeSender<Timestamp>("/aos");
  if (node->server_statistics.valid()) {
    node->server_timer = node->event_loop->AddTimer(
        [this, node_index]() { SendServerStatistics(node_index); });
    node->server_timer->set_name("server_statistics");
  }
  if (node->client_statistics.valid() || node->timestamp.valid()) {
    node->client_timer = node->event_loop->AddTimer([this, node_index]() {
      SendClientStatistics(node_index);
      SendTimestamp(node_index);
    });
    node->client_timer->set_name("client_statistics");
  }
  node->event_loop->OnRun([this, node]() { ScheduleStatistics(node); });
  for (const std::unique_ptr<Delivery> &delivery : deliveries_) {
    if (delivery->destination() != node_index) continue;
    // The forwarded copies are sent by the bridge, not the channel's source
    // node: MakeRawSender allows that.
    node->forward_senders.push_back(
        node->event_loop->MakeRawSender(delivery->channel()));
    RawSender *sender = node->forward_senders.back().get();
    delivery->DestinationStartup(sender);
  }
  for (size_t other = 0; other < nodes_.size(); ++other) {
    GetLink(other, node_index)->connected_since = node->node->monotonic_now();
  }
}

void SimulatedMessageBridge::Shutdown(size_t node_index) {
  NodeBridge *node = nodes_[node_index].get();
  for (const std::unique_ptr<Delivery> &delivery : deliveries_) {
    if (delivery->destination() == node_index) delivery->DestinationShutdown();
    if (delivery->source() == node_index) delivery->SourceShutdown();
  }
  node->server_timer = nullptr;
  node->client_timer = nullptr;
  node->server_statistics = {};
  node->client_statistics = {};
  node->timestamp = {};
  node->timestamp_senders.clear();
  node->forward_senders.clear();
  node->event_loop.reset();
}

void SimulatedMessageBridge::ScheduleStatistics(NodeBridge *node) {
  if (!statistics_enabled_) return;
  const monotonic_clock::time_point now = node->event_loop->monotonic_now();
  if (node->server_timer != nullptr) {
    node->server_timer->Schedule(now + std::chrono::seconds(1),
                                 std::chrono::seconds(1));
  }
  if (node->client_timer != nullptr) {
    node->client_timer->Schedule(now + std::chrono::milliseconds(100),
                                 std::chrono::milliseconds(100));
  }
}

void SimulatedMessageBridge::DisableStatistics() {
  statistics_enabled_ = false;
  for (const std::unique_ptr<NodeBridge> &node : nodes_) {
    if (node->server_timer != nullptr) node->server_timer->Disable();
    if (node->client_timer != nullptr) node->client_timer->Disable();
  }
}

void SimulatedMessageBridge::EnableStatistics() {
  statistics_enabled_ = true;
  for (const std::unique_ptr<NodeBridge> &node : nodes_) {
    if (node->event_loop != nullptr) ScheduleStatistics(node.get());
  }
}

void SimulatedMessageBridge::DisableForwarding(const Channel *channel) {
  bool found = false;
  for (const std::unique_ptr<Delivery> &delivery : deliveries_) {
    if (delivery->channel() == channel) {
      delivery->DisableForwarding();
      found = true;
    }
  }
  CHECK(found) << ": " << configuration::StrippedChannelToString(channel)
               << " is not forwarded to any node";
}

void SimulatedMessageBridge::SetConnected(const Node *from, const Node *to,
                                          bool connected) {
  const size_t from_index = configuration::GetNodeIndex(configuration_, from);
  const size_t to_index = configuration::GetNodeIndex(configuration_, to);
  CHECK_NE(from_index, to_index) << ": a node is always connected to itself";
  Link *link = GetLink(from_index, to_index);
  if (link->connected == connected) return;
  link->connected = connected;
  if (!connected) return;
  ++link->statistics.connection_count;
  link->connected_since = nodes_[to_index]->node->monotonic_now();
  for (const std::unique_ptr<Delivery> &delivery : deliveries_) {
    if (delivery->source() == from_index &&
        delivery->destination() == to_index) {
      delivery->Connected();
    }
  }
}

bool SimulatedMessageBridge::IsConnected(const Node *from,
                                         const Node *to) const {
  return GetLink(configuration::GetNodeIndex(configuration_, from),
                 configuration::GetNodeIndex(configuration_, to))
      ->connected;
}

SimulatedMessageBridge::LinkStatistics
SimulatedMessageBridge::GetLinkStatistics(const Node *from,
                                          const Node *to) const {
  return GetLink(configuration::GetNodeIndex(configuration_, from),
                 configuration::GetNodeIndex(configuration_, to))
      ->statistics;
}

namespace {

// `other`'s monotonic clock minus `node`'s, now.
int64_t MonotonicOffset(NodeEventLoopFactory *node,
                        NodeEventLoopFactory *other) {
  return (other->FromDistributedClock(node->factory()->distributed_now()) -
          node->monotonic_now())
      .count();
}

}  // namespace

void SimulatedMessageBridge::SendServerStatistics(size_t node_index) {
  NodeBridge *node = nodes_[node_index].get();
  auto builder = node->server_statistics.MakeBuilder();
  flatbuffers::FlatBufferBuilder *fbb = builder.fbb();
  std::vector<flatbuffers::Offset<ServerConnection>> connections;
  for (size_t other = 0; other < nodes_.size(); ++other) {
    if (other == node_index) continue;
    const bool forwards =
        std::any_of(deliveries_.begin(), deliveries_.end(),
                    [&](const std::unique_ptr<Delivery> &delivery) {
                      return delivery->source() == node_index &&
                             delivery->destination() == other;
                    });
    if (!forwards) continue;
    NodeEventLoopFactory *other_node = nodes_[other]->node;
    const Link *link = GetLink(node_index, other);
    const bool up = link->connected && other_node->is_up();
    const auto node_offset = CreateNode(
        *fbb, fbb->CreateString(other_node->node()->name()->string_view()));
    const auto boot_uuid =
        fbb->CreateString(other_node->boot_uuid().ToString());
    ServerConnection::Builder connection(*fbb);
    connection.add_node(node_offset);
    connection.add_state(up ? State::CONNECTED : State::DISCONNECTED);
    connection.add_dropped_packets(link->statistics.dropped_packets);
    connection.add_sent_packets(link->statistics.sent_packets);
    if (up) {
      connection.add_monotonic_offset(MonotonicOffset(node->node, other_node));
      connection.add_boot_uuid(boot_uuid);
      connection.add_connected_since_time(
          link->connected_since.time_since_epoch().count());
    }
    connection.add_connection_count(link->statistics.connection_count);
    connections.push_back(connection.Finish());
  }
  const auto connections_offset = fbb->CreateVector(connections);
  ServerStatistics::Builder statistics(*fbb);
  statistics.add_connections(connections_offset);
  (void)builder.Send(statistics.Finish());
}

void SimulatedMessageBridge::SendClientStatistics(size_t node_index) {
  NodeBridge *node = nodes_[node_index].get();
  if (!node->client_statistics.valid()) return;
  auto builder = node->client_statistics.MakeBuilder();
  flatbuffers::FlatBufferBuilder *fbb = builder.fbb();
  std::vector<flatbuffers::Offset<ClientConnection>> connections;
  for (size_t other = 0; other < nodes_.size(); ++other) {
    if (other == node_index) continue;
    const bool receives =
        std::any_of(deliveries_.begin(), deliveries_.end(),
                    [&](const std::unique_ptr<Delivery> &delivery) {
                      return delivery->source() == other &&
                             delivery->destination() == node_index;
                    });
    if (!receives) continue;
    NodeEventLoopFactory *other_node = nodes_[other]->node;
    const Link *link = GetLink(other, node_index);
    const bool up = link->connected && other_node->is_up();
    const auto node_offset = CreateNode(
        *fbb, fbb->CreateString(other_node->node()->name()->string_view()));
    const auto boot_uuid =
        fbb->CreateString(other_node->boot_uuid().ToString());
    ClientConnection::Builder connection(*fbb);
    connection.add_node(node_offset);
    connection.add_state(up ? State::CONNECTED : State::DISCONNECTED);
    connection.add_received_packets(link->received_packets);
    if (up) {
      connection.add_monotonic_offset(MonotonicOffset(node->node, other_node));
      connection.add_boot_uuid(boot_uuid);
      connection.add_connected_since_time(
          link->connected_since.time_since_epoch().count());
    }
    connection.add_connection_count(link->statistics.connection_count);
    connections.push_back(connection.Finish());
  }
  const auto connections_offset = fbb->CreateVector(connections);
  ClientStatistics::Builder statistics(*fbb);
  statistics.add_connections(connections_offset);
  (void)builder.Send(statistics.Finish());
}

void SimulatedMessageBridge::SendTimestamp(size_t node_index) {
  NodeBridge *node = nodes_[node_index].get();
  if (!node->timestamp.valid()) return;
  auto builder = node->timestamp.MakeBuilder();
  flatbuffers::FlatBufferBuilder *fbb = builder.fbb();
  std::vector<flatbuffers::Offset<ClientOffset>> offsets;
  for (size_t other = 0; other < nodes_.size(); ++other) {
    if (other == node_index) continue;
    NodeEventLoopFactory *other_node = nodes_[other]->node;
    if (!other_node->is_up() || !GetLink(other, node_index)->connected) {
      continue;
    }
    const auto node_offset = CreateNode(
        *fbb, fbb->CreateString(other_node->node()->name()->string_view()));
    ClientOffset::Builder offset(*fbb);
    offset.add_node(node_offset);
    offset.add_monotonic_offset(MonotonicOffset(node->node, other_node));
    offsets.push_back(offset.Finish());
  }
  const auto offsets_offset = fbb->CreateVector(offsets);
  Timestamp::Builder timestamp(*fbb);
  timestamp.add_offsets(offsets_offset);
  (void)builder.Send(timestamp.Finish());
}

}  // namespace aos::message_bridge
