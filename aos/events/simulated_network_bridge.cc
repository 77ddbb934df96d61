#include "aos/events/simulated_network_bridge.h"

#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <utility>

#include "aos/events/simulated_event_loop.h"
#include "aos/network/message_bridge_client_generated.h"
#include "aos/network/message_bridge_server_generated.h"
#include "aos/network/remote_message_generated.h"
#include "aos/network/timestamp_channel.h"
#include "aos/network/timestamp_generated.h"
#include "glog/logging.h"

namespace aos::message_bridge {
namespace {

// A FIFO over a ring that only grows, so messages in flight cost no
// allocation once it is warm (std::deque frees and allocates blocks as it
// cycles). Its capacity is a power of two, so wrapping is a mask: a
// division per message was a measurable share of a forwarded message's
// cost.
template <typename T>
class Fifo {
 public:
  bool empty() const { return size_ == 0; }
  T &front() { return items_[head_]; }
  void push_back(T item) {
    if (size_ == items_.size()) Grow();
    items_[(head_ + size_) & (items_.size() - 1)] = std::move(item);
    ++size_;
  }
  void pop_front() {
    items_[head_] = T();
    head_ = (head_ + 1) & (items_.size() - 1);
    --size_;
  }
  void clear() {
    while (!empty()) pop_front();
  }

 private:
  void Grow() {
    std::vector<T> grown(std::max<size_t>(8, 2 * items_.size()));
    for (size_t i = 0; i < size_; ++i) {
      grown[i] = std::move(items_[(head_ + i) & (items_.size() - 1)]);
    }
    items_ = std::move(grown);
    head_ = 0;
  }

  std::vector<T> items_;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace

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
  bool statistics_enabled = true;

  RawSender *TimestampSender(const Channel *channel) {
    for (auto &[c, sender] : timestamp_senders) {
      if (c == channel) return sender.get();
    }
    timestamp_senders.emplace_back(channel, event_loop->MakeRawSender(channel));
    return timestamp_senders.back().second.get();
  }
};

// A message on the wire from the source to the destination.
struct SimulatedMessageBridge::Pending {
  Delivery *delivery;
  simulated_internal::MessageRef message;
  // When it arrives (distributed) and when it left the source (source
  // clock).
  distributed_clock::time_point arrival;
  monotonic_clock::time_point transmit_time;
};

// A delivery timestamp on its way back to the source.
struct SimulatedMessageBridge::PendingTimestamp {
  Delivery *delivery;
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

// The connection from one node to another: one ordered stream of messages
// (every forwarded channel) one way, and of delivery timestamps the other,
// as one SCTP association is on the robot. One event per direction drains
// whatever has arrived, so a batch costs one wakeup on each side.
class SimulatedMessageBridge::Link {
 public:
  Link(SimulatedMessageBridge *bridge, size_t source, size_t destination)
      : bridge_(bridge),
        source_(source),
        destination_(destination),
        deliver_event_(this),
        timestamp_event_(this) {}

  ~Link() {
    CHECK(!deliver_event_.scheduled() && !timestamp_event_.scheduled())
        << ": the bridge shuts every node down before it goes";
  }

  bool connected = true;
  // connection_count counts the times the link came up (upstream's
  // meaning): both nodes up and not disconnected. 0 until then.
  LinkStatistics statistics{0, 0, 0};
  // Received on the destination (differs from sent while in flight).
  uint32_t received_packets = 0;
  monotonic_clock::time_point connected_since = monotonic_clock::epoch();

  // The time the source's bridge wakes up to transmit a message sent at
  // `sent`: a send starts a batch, which leaves send_delay() later (the
  // server's watcher wakeup) with every message sent before then.
  monotonic_clock::time_point TransmitTime(monotonic_clock::time_point sent) {
    if (sent >= batch_transmit_time_) {
      batch_transmit_time_ = sent + bridge_->factory_->send_delay();
    }
    return batch_transmit_time_;
  }

  // Puts `message` on the wire at `transmit_time` (source clock).
  void Transmit(Delivery *delivery,
                const simulated_internal::MessageRef &message,
                monotonic_clock::time_point transmit_time) {
    // The stream is ordered: nothing overtakes (even if the network delay
    // shrank meanwhile).
    last_arrival_ =
        std::max(last_arrival_, Source()->ToDistributedClock(transmit_time) +
                                    bridge_->factory_->network_delay());
    pending_.push_back(
        Pending{delivery, message, last_arrival_, transmit_time});
    if (!deliver_event_.scheduled()) {
      Schedule(Destination(), &deliver_event_, pending_.front().arrival);
    }
  }

  // Sends `timestamp` back to the source (its arrival is set here).
  void ReturnTimestamp(PendingTimestamp timestamp) {
    last_timestamp_arrival_ = std::max(
        last_timestamp_arrival_,
        Destination()->ToDistributedClock(Destination()->monotonic_now()) +
            bridge_->factory_->network_delay());
    timestamp.arrival = last_timestamp_arrival_;
    timestamps_.push_back(timestamp);
    if (!timestamp_event_.scheduled()) {
      Schedule(Source(), &timestamp_event_, timestamps_.front().arrival);
    }
  }

  // The destination's boot ended: what was on the wire to it is lost.
  void DestinationShutdown() {
    Destination()->scheduler()->Deschedule(&deliver_event_);
    pending_.clear();
    last_arrival_ = distributed_clock::min_time;
  }
  // The source's boot ended: timestamps to it are lost, and its next boot
  // starts a new batch on its new clock.
  void SourceShutdown() {
    Source()->scheduler()->Deschedule(&timestamp_event_);
    timestamps_.clear();
    last_timestamp_arrival_ = distributed_clock::min_time;
    batch_transmit_time_ = monotonic_clock::min_time;
  }

 private:
  template <void (Link::*kHandler)()>
  class LinkEvent final : public EventScheduler::Event {
   public:
    explicit LinkEvent(Link *link) : link_(link) {}
    void Handle() override { (link_->*kHandler)(); }

   private:
    Link *const link_;
  };

  NodeEventLoopFactory *Source() const {
    return bridge_->nodes_[source_]->node;
  }
  NodeEventLoopFactory *Destination() const {
    return bridge_->nodes_[destination_]->node;
  }

  static void Schedule(NodeEventLoopFactory *node, EventScheduler::Event *event,
                       distributed_clock::time_point arrival) {
    node->scheduler()->Schedule(
        event,
        std::max(node->FromDistributedClock(arrival), node->monotonic_now()));
  }

  // Delivers the first message on the wire (the event was scheduled for
  // it, whatever the clock conversions rounded to) and every other that
  // arrived by now.
  void Deliver();
  void SendTimestamps();

  SimulatedMessageBridge *const bridge_;
  const size_t source_;
  const size_t destination_;
  monotonic_clock::time_point batch_transmit_time_ = monotonic_clock::min_time;
  distributed_clock::time_point last_arrival_ = distributed_clock::min_time;
  distributed_clock::time_point last_timestamp_arrival_ =
      distributed_clock::min_time;
  Fifo<Pending> pending_;
  Fifo<PendingTimestamp> timestamps_;
  LinkEvent<&Link::Deliver> deliver_event_;
  LinkEvent<&Link::SendTimestamps> timestamp_event_;
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
        link_(bridge->GetLink(source, destination)) {
    Source()->AddSendListener(
        channel, [this](const simulated_internal::MessageRef &message) {
          OnSend(message);
        });
    if (timestamp_channel_ != nullptr) {
      timestamp_template_ = TimestampTemplate();
      const uint8_t *start = timestamp_template_.span().data();
      boot_uuid_offset_ =
          timestamp_template_.message().boot_uuid()->data() - start;
      // RemoteMessage inherits flatbuffers::Table privately; reflection
      // reaches the fields the same way.
      const flatbuffers::Table *table =
          reinterpret_cast<const flatbuffers::Table *>(
              &timestamp_template_.message());
      auto offset = [&](flatbuffers::voffset_t field) {
        const uint8_t *address = table->GetAddressOf(field);
        CHECK(address != nullptr) << ": the template has every field";
        return address - start;
      };
      offsets_ = TimestampOffsets{
          offset(RemoteMessage::VT_MONOTONIC_SENT_TIME),
          offset(RemoteMessage::VT_REALTIME_SENT_TIME),
          offset(RemoteMessage::VT_QUEUE_INDEX),
          offset(RemoteMessage::VT_MONOTONIC_REMOTE_TIME),
          offset(RemoteMessage::VT_REALTIME_REMOTE_TIME),
          offset(RemoteMessage::VT_REMOTE_QUEUE_INDEX),
          offset(RemoteMessage::VT_MONOTONIC_REMOTE_TRANSMIT_TIME)};
    }
  }

  const Channel *channel() const { return channel_; }
  uint32_t channel_index() const { return channel_index_; }
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
  void DestinationShutdown() { sender_ = nullptr; }
  void SourceStartup(RawSender *timestamp_sender) {
    timestamp_sender_ = timestamp_sender;
    if (timestamp_sender_ != nullptr) {
      CHECK_LE(timestamp_template_.span().size(), timestamp_sender_->size())
          << ": max_size of "
          << configuration::StrippedChannelToString(timestamp_channel_)
          << " is too small for a RemoteMessage ("
          << timestamp_template_.span().size() << " bytes); raise it.";
    }
    // The source's side of the link comes up now: a reliable message sent
    // before (between runs, before this node booted) goes out, whichever
    // side came up last.
    if (reliable_) SendLatestIfUndelivered(false);
  }
  void SourceShutdown() {
    timestamp_sender_ = nullptr;
    // The source's channels are cleared: nothing is left to resend.
    latest_ = {};
  }

  // This channel's share of the link's counters (ServerStatistics'
  // per-channel statistics).
  uint32_t sent_packets() const { return sent_packets_; }
  uint32_t dropped_packets() const { return dropped_packets_; }

  // The link came back up.
  void Connected() {
    if (reliable_) SendLatestIfUndelivered(false);
  }

  // On the destination: publishes the forwarded copy and returns its
  // delivery timestamp.
  void Deliver(const Pending &pending) {
    const Context &context = pending.message.context();
    CHECK(sender_ != nullptr);
    const RawSender::Error error =
        sender_->Send(context.data, context.size, context.monotonic_event_time,
                      context.realtime_event_time, pending.transmit_time,
                      context.queue_index, context.source_boot_uuid);
    CHECK(error == RawSender::Error::kOk)
        << ": the message bridge failed to forward a message on "
        << configuration::StrippedChannelToString(channel_);
    ++link_->statistics.sent_packets;
    ++sent_packets_;
    ++link_->received_packets;
    if (timestamp_channel_ == nullptr) return;
    link_->ReturnTimestamp(PendingTimestamp{
        this, distributed_clock::min_time, sender_->monotonic_sent_time(),
        sender_->realtime_sent_time(), sender_->sent_queue_index(),
        context.monotonic_event_time, context.realtime_event_time,
        pending.transmit_time, context.queue_index,
        Destination()->boot_uuid()});
  }

  // On the source: publishes a delivery timestamp (RemoteMessage).
  void SendTimestamp(const PendingTimestamp &timestamp) {
    if (timestamp_sender_ == nullptr) return;
    // Every field of the template is present (ForceDefaults), so writing
    // the values where the template keeps them gives the bytes a builder
    // would. The offsets are found once: looking each field up through the
    // vtable (mutate_*) per message cost more than the rest of the copy.
    const std::span<const uint8_t> bytes = timestamp_template_.span();
    uint8_t *data = static_cast<uint8_t *>(timestamp_sender_->data()) +
                    timestamp_sender_->size() - bytes.size();
    memcpy(data, bytes.data(), bytes.size());
    Write<int64_t>(data, offsets_.monotonic_sent_time,
                   timestamp.monotonic_sent_time.time_since_epoch().count());
    Write<int64_t>(data, offsets_.realtime_sent_time,
                   timestamp.realtime_sent_time.time_since_epoch().count());
    Write<uint32_t>(data, offsets_.queue_index, timestamp.queue_index);
    Write<int64_t>(data, offsets_.monotonic_remote_time,
                   timestamp.monotonic_remote_time.time_since_epoch().count());
    Write<int64_t>(data, offsets_.realtime_remote_time,
                   timestamp.realtime_remote_time.time_since_epoch().count());
    Write<uint32_t>(data, offsets_.remote_queue_index,
                    timestamp.remote_queue_index);
    Write<int64_t>(
        data, offsets_.monotonic_remote_transmit_time,
        timestamp.monotonic_remote_transmit_time.time_since_epoch().count());
    memcpy(data + boot_uuid_offset_, timestamp.boot_uuid.span().data(),
           UUID::kDataSize);
    // Timestamps are best effort, as on the robot (a full queue drops).
    (void)timestamp_sender_->Send(bytes.size());
  }

 private:
  NodeEventLoopFactory *Source() const {
    return bridge_->nodes_[source_]->node;
  }
  NodeEventLoopFactory *Destination() const {
    return bridge_->nodes_[destination_]->node;
  }

  // Where each patched field of RemoteMessage is, from the message's start.
  struct TimestampOffsets {
    ptrdiff_t monotonic_sent_time;
    ptrdiff_t realtime_sent_time;
    ptrdiff_t queue_index;
    ptrdiff_t monotonic_remote_time;
    ptrdiff_t realtime_remote_time;
    ptrdiff_t remote_queue_index;
    ptrdiff_t monotonic_remote_transmit_time;
  };

  // Stores a scalar field the way flatbuffers does (little endian).
  template <typename T>
  static void Write(uint8_t *data, ptrdiff_t offset, T value) {
    flatbuffers::WriteScalar(data + offset, value);
  }

  // A RemoteMessage for this channel with every field present.
  FlatbufferDetachedBuffer<RemoteMessage> TimestampTemplate() const {
    flatbuffers::FlatBufferBuilder fbb;
    fbb.ForceDefaults(true);
    const UUID zero = UUID::Zero();
    const auto boot_uuid =
        fbb.CreateVector(zero.span().data(), zero.span().size());
    RemoteMessage::Builder builder(fbb);
    builder.add_channel_index(channel_index_);
    builder.add_monotonic_sent_time(0);
    builder.add_realtime_sent_time(0);
    builder.add_queue_index(0);
    builder.add_monotonic_remote_time(0);
    builder.add_realtime_remote_time(0);
    builder.add_remote_queue_index(0);
    builder.add_boot_uuid(boot_uuid);
    builder.add_monotonic_remote_transmit_time(0);
    fbb.Finish(builder.Finish());
    return FlatbufferDetachedBuffer<RemoteMessage>(fbb.Release());
  }

  void OnSend(const simulated_internal::MessageRef &message) {
    if (forwarding_disabled_) return;
    latest_ = message;
    latest_enqueued_ = false;
    // A send on a node that has not booted yet (between runs) finds its
    // side of the link down too: reliable messages go when it boots.
    if (!link_->connected || sender_ == nullptr || !Source()->is_up()) {
      ++link_->statistics.dropped_packets;
      ++dropped_packets_;
      return;
    }
    latest_enqueued_ = true;
    link_->Transmit(
        this, message,
        link_->TransmitTime(message.context().monotonic_event_time));
  }

  void SendLatestIfUndelivered(bool new_boot) {
    if (!latest_ || forwarding_disabled_ || sender_ == nullptr ||
        !link_->connected || !Source()->is_up()) {
      return;
    }
    if (latest_enqueued_ && !new_boot) return;
    latest_enqueued_ = true;
    // The server sends it as soon as the connection is up.
    link_->Transmit(this, latest_, Source()->monotonic_now());
  }

  SimulatedMessageBridge *const bridge_;
  const Channel *const channel_;
  const uint32_t channel_index_;
  const size_t source_;
  const size_t destination_;
  const bool reliable_;
  const Channel *const timestamp_channel_;
  Link *const link_;
  FlatbufferDetachedBuffer<RemoteMessage> timestamp_template_ =
      FlatbufferDetachedBuffer<RemoteMessage>::Empty();
  // Where the boot UUID's bytes are in the template (and in every copy).
  // Written through this offset rather than the vector, whose size g++
  // cannot see (a false -Wstringop-overflow under the sanitizers).
  ptrdiff_t boot_uuid_offset_ = 0;
  TimestampOffsets offsets_{};
  bool forwarding_disabled_ = false;

  RawSender *sender_ = nullptr;
  RawSender *timestamp_sender_ = nullptr;
  simulated_internal::MessageRef latest_;
  bool latest_enqueued_ = false;
  uint32_t sent_packets_ = 0;
  uint32_t dropped_packets_ = 0;
};

void SimulatedMessageBridge::Link::Deliver() {
  const distributed_clock::time_point now =
      bridge_->factory_->distributed_now();
  const distributed_clock::time_point due =
      std::max(now, pending_.front().arrival);
  while (!pending_.empty() && pending_.front().arrival <= due) {
    const Pending pending = std::move(pending_.front());
    pending_.pop_front();
    pending.delivery->Deliver(pending);
  }
  if (!pending_.empty()) {
    Schedule(Destination(), &deliver_event_, pending_.front().arrival);
  }
}

void SimulatedMessageBridge::Link::SendTimestamps() {
  const distributed_clock::time_point now =
      bridge_->factory_->distributed_now();
  const distributed_clock::time_point due =
      std::max(now, timestamps_.front().arrival);
  while (!timestamps_.empty() && timestamps_.front().arrival <= due) {
    const PendingTimestamp timestamp = timestamps_.front();
    timestamps_.pop_front();
    timestamp.delivery->SendTimestamp(timestamp);
  }
  if (!timestamps_.empty()) {
    Schedule(Source(), &timestamp_event_, timestamps_.front().arrival);
  }
}

SimulatedMessageBridge::SimulatedMessageBridge(
    SimulatedEventLoopFactory *factory)
    : factory_(factory), configuration_(factory->configuration()) {
  const std::vector<NodeEventLoopFactory *> &nodes = factory->node_factories();
  for (NodeEventLoopFactory *node : nodes) {
    nodes_.push_back(std::make_unique<NodeBridge>());
    nodes_.back()->node = node;
  }
  for (size_t from = 0; from < nodes.size(); ++from) {
    for (size_t to = 0; to < nodes.size(); ++to) {
      links_.push_back(std::make_unique<Link>(this, from, to));
    }
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
            message_bridge::FindTimestampChannel(
                configuration_, channel, connection->name()->string_view())));
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
  for (const std::unique_ptr<Delivery> &delivery : deliveries_) {
    if (delivery->source() == node_index) {
      delivery->SourceStartup(
          delivery->timestamp_channel() == nullptr
              ? nullptr
              : node->TimestampSender(delivery->timestamp_channel()));
    }
  }
  if (!statistics_permanently_disabled_) {
    node->server_statistics =
        node->event_loop->TryMakeSender<ServerStatistics>("/aos");
    node->client_statistics =
        node->event_loop->TryMakeSender<ClientStatistics>("/aos");
    node->timestamp = node->event_loop->TryMakeSender<Timestamp>("/aos");
  }
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
  // This boot connects both ways to every peer that is up (a peer that
  // boots later connects in its own Startup): a new connection, as the real
  // bridge counts a peer's reboot.
  for (size_t other = 0; other < nodes_.size(); ++other) {
    if (other == node_index) continue;
    if (!nodes_[other]->node->is_up()) continue;
    for (const auto &[from, to] :
         {std::pair{other, node_index}, std::pair{node_index, other}}) {
      Link *link = GetLink(from, to);
      link->connected_since = nodes_[to]->node->monotonic_now();
      if (link->connected) ++link->statistics.connection_count;
    }
  }
}

void SimulatedMessageBridge::Shutdown(size_t node_index) {
  NodeBridge *node = nodes_[node_index].get();
  for (size_t other = 0; other < nodes_.size(); ++other) {
    GetLink(other, node_index)->DestinationShutdown();
    GetLink(node_index, other)->SourceShutdown();
  }
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
  if (!node->statistics_enabled) return;
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

void SimulatedMessageBridge::DisableStatistics(
    std::optional<size_t> node_index) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (node_index.has_value() && *node_index != i) continue;
    NodeBridge *node = nodes_[i].get();
    node->statistics_enabled = false;
    if (node->server_timer != nullptr) node->server_timer->Disable();
    if (node->client_timer != nullptr) node->client_timer->Disable();
  }
}

void SimulatedMessageBridge::EnableStatistics(
    std::optional<size_t> node_index) {
  CHECK(!statistics_permanently_disabled_)
      << ": EnableStatistics after PermanentlyDisableStatistics: the "
         "message bridge's statistics senders are gone for good.";
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (node_index.has_value() && *node_index != i) continue;
    NodeBridge *node = nodes_[i].get();
    // Already publishing: the timers keep their phase.
    if (node->statistics_enabled) continue;
    node->statistics_enabled = true;
    if (node->event_loop != nullptr) ScheduleStatistics(node);
  }
}

void SimulatedMessageBridge::PermanentlyDisableStatistics() {
  DisableStatistics(std::nullopt);
  statistics_permanently_disabled_ = true;
  for (const std::unique_ptr<NodeBridge> &node : nodes_) {
    node->server_statistics = {};
    node->client_statistics = {};
    node->timestamp = {};
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
  // Up only with both nodes up; otherwise the later boot counts it.
  if (nodes_[from_index]->node->is_up() && nodes_[to_index]->node->is_up()) {
    ++link->statistics.connection_count;
    link->connected_since = nodes_[to_index]->node->monotonic_now();
  }
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

// Builds a ServerConnection or ClientConnection (`Connection`) about the
// peer `other` as `node` sees it over `link` (whose type is private to the
// bridge, hence deduced): the fields the two share, state CONNECTED while
// the link and `other` are up, and while up the clock offset, boot UUID and
// since when. `add_own_fields(builder)` adds the table's own fields; any
// offsets it adds must be made before calling (a FlatBufferBuilder builds
// one object at a time).
template <typename Connection, typename LinkType, typename AddOwnFields>
flatbuffers::Offset<Connection> MakeConnection(
    flatbuffers::FlatBufferBuilder *fbb, NodeEventLoopFactory *node,
    NodeEventLoopFactory *other, const LinkType &link,
    AddOwnFields add_own_fields) {
  const bool up = link.connected && other->is_up();
  const auto node_offset =
      CreateNode(*fbb, fbb->CreateString(other->node()->name()->string_view()));
  const auto boot_uuid = fbb->CreateString(other->boot_uuid().ToString());
  typename Connection::Builder connection(*fbb);
  connection.add_node(node_offset);
  connection.add_state(up ? State::CONNECTED : State::DISCONNECTED);
  add_own_fields(&connection);
  if (up) {
    connection.add_monotonic_offset(MonotonicOffset(node, other));
    connection.add_boot_uuid(boot_uuid);
    connection.add_connected_since_time(
        link.connected_since.time_since_epoch().count());
  }
  connection.add_connection_count(link.statistics.connection_count);
  return connection.Finish();
}

}  // namespace

bool SimulatedMessageBridge::Forwards(size_t source, size_t destination) const {
  return std::any_of(deliveries_.begin(), deliveries_.end(),
                     [&](const std::unique_ptr<Delivery> &delivery) {
                       return delivery->source() == source &&
                              delivery->destination() == destination;
                     });
}

void SimulatedMessageBridge::SendServerStatistics(size_t node_index) {
  NodeBridge *node = nodes_[node_index].get();
  auto builder = node->server_statistics.MakeBuilder();
  flatbuffers::FlatBufferBuilder *fbb = builder.fbb();
  std::vector<flatbuffers::Offset<ServerConnection>> connections;
  for (size_t other = 0; other < nodes_.size(); ++other) {
    if (other == node_index || !Forwards(node_index, other)) continue;
    NodeEventLoopFactory *other_node = nodes_[other]->node;
    const Link *link = GetLink(node_index, other);
    // Per forwarded channel, as upstream's server reports (code iterating
    // channels() must find them). The simulated network never retries.
    std::vector<flatbuffers::Offset<ServerChannelStatistics>> channels;
    for (const std::unique_ptr<Delivery> &delivery : deliveries_) {
      if (delivery->source() != node_index ||
          delivery->destination() != other) {
        continue;
      }
      ServerChannelStatistics::Builder channel(*fbb);
      channel.add_channel_index(delivery->channel_index());
      channel.add_sent_packets(delivery->sent_packets());
      channel.add_dropped_packets(delivery->dropped_packets());
      channel.add_retry_count(0);
      channels.push_back(channel.Finish());
    }
    const auto channels_offset = fbb->CreateVector(channels);
    connections.push_back(MakeConnection<ServerConnection>(
        fbb, node->node, other_node, *link,
        [&](ServerConnection::Builder *connection) {
          connection->add_dropped_packets(link->statistics.dropped_packets);
          connection->add_sent_packets(link->statistics.sent_packets);
          connection->add_channels(channels_offset);
        }));
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
    if (other == node_index || !Forwards(other, node_index)) continue;
    const Link *link = GetLink(other, node_index);
    connections.push_back(MakeConnection<ClientConnection>(
        fbb, node->node, nodes_[other]->node, *link,
        [&](ClientConnection::Builder *connection) {
          connection->add_received_packets(link->received_packets);
        }));
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
