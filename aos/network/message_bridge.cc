#include "aos/network/message_bridge.h"

#include <cstring>

#include "glog/logging.h"

namespace aos::message_bridge {
namespace {

constexpr std::chrono::milliseconds kProbePeriod{100};
// ServerStatistics go out every 10th probe period (1 Hz, as upstream).
constexpr int kServerStatisticsDivider = 10;

uint64_t RandomInstance() {
  const UUID uuid = UUID::Random();
  uint64_t instance;
  memcpy(&instance, uuid.span().data(), sizeof(instance));
  // 0 means "no probe" in echoes.
  return instance == 0 ? 1 : instance;
}

}  // namespace

Result<std::unique_ptr<MessageBridge>> MessageBridge::Make(
    ShmEventLoop *event_loop, const MessageBridgeOptions &options) {
  const Configuration *configuration = event_loop->configuration();
  const Node *node = event_loop->node();
  if (node == nullptr) {
    return MakeError(
        "the message bridge needs a multi-node configuration (one with "
        "\"nodes\"); this one has a single node, nothing to forward");
  }
  if (PeerNodes(configuration, node).empty()) {
    return MakeError(
        "the configuration forwards no channel from or to node \"" +
        node->name()->str() +
        "\": give channels \"destination_nodes\" to bridge");
  }
  Result<std::string> xml = CycloneConfig(
      configuration, node, options.domain_id, options.interface, options.lease);
  if (!xml.has_value()) return std::unexpected(xml.error());
  Result<std::unique_ptr<DdsDomain>> domain =
      DdsDomain::Create(options.domain_id, *xml);
  if (!domain.has_value()) return std::unexpected(domain.error());
  return std::unique_ptr<MessageBridge>(
      new MessageBridge(event_loop, options, std::move(*domain)));
}

MessageBridge::MessageBridge(ShmEventLoop *event_loop,
                             const MessageBridgeOptions &options,
                             std::unique_ptr<DdsDomain> domain)
    : event_loop_(event_loop), options_(options), domain_(std::move(domain)) {
  const Configuration *configuration = event_loop->configuration();
  const Node *me = event_loop->node();
  const uint64_t instance = RandomInstance();
  const uint64_t hash = ConfigurationHash(configuration);
  peers_.resize(configuration::NodesCount(configuration));
  std::vector<PeerMonitor *> peers(peers_.size(), nullptr);
  for (const Node *peer : PeerNodes(configuration, me)) {
    const int index = configuration::GetNodeIndex(configuration, peer);
    peers_[index] = std::make_unique<PeerMonitor>(
        me, peer, options.roles, instance, hash, options.peer_timeout);
    peers[index] = peers_[index].get();
  }

  dds_qos_t *qos = PingQos();
  ping_writer_ =
      domain_->MakeWriter(kPingTopicName, &aos_bridge_Ping_desc, qos);
  ping_reader_ =
      domain_->MakeReader(kPingTopicName, &aos_bridge_Ping_desc, qos);
  dds_delete_qos(qos);

  if (options.roles & kServerRole) {
    server_ =
        std::make_unique<MessageBridgeServer>(event_loop, domain_.get(), peers);
  }
  if (options.roles & kClientRole) {
    client_ =
        std::make_unique<MessageBridgeClient>(event_loop, domain_.get(), peers);
  }
  timestamp_sender_ = event_loop->TryMakeSender<Timestamp>("/aos");

  event_loop->epoll()->OnReadable(domain_->wakeup_fd(),
                                  [this]() { OnWakeup(); });
  TimerHandler *timer = event_loop->AddTimer([this]() {
    // Probes DDS received while the loop was busy (forwarding a burst)
    // count: only a silent peer times out.
    TakePings();
    const monotonic_clock::time_point now = event_loop_->monotonic_now();
    for (const std::unique_ptr<PeerMonitor> &peer : peers_) {
      if (peer != nullptr) peer->CheckTimeout(now);
    }
    SendPings();
    if (server_ != nullptr) server_->CheckMatches();
    if (client_ != nullptr) client_->SendStatistics();
    SendTimestamp();
    if (server_ != nullptr && --server_statistics_countdown_ <= 0) {
      server_statistics_countdown_ = kServerStatisticsDivider;
      server_->SendStatistics();
    }
  });
  timer->set_name("probe_and_statistics");
  event_loop->OnRun([this, timer]() {
    server_statistics_countdown_ = kServerStatisticsDivider;
    timer->Schedule(event_loop_->monotonic_now(), kProbePeriod);
  });
}

MessageBridge::~MessageBridge() {
  event_loop_->epoll()->DeleteFd(domain_->wakeup_fd());
}

const PeerMonitor *MessageBridge::peer(std::string_view name) const {
  for (const std::unique_ptr<PeerMonitor> &peer : peers_) {
    if (peer != nullptr && peer->peer()->name()->string_view() == name) {
      return peer.get();
    }
  }
  return nullptr;
}

void MessageBridge::OnWakeup() {
  // Consume first: anything arriving from here on signals again.
  domain_->Consume();
  TakePings();
  if (server_ != nullptr) server_->TakeTimestamps();
  if (client_ != nullptr) client_->TakeMessages();
}

void MessageBridge::SendPings() {
  const monotonic_clock::time_point now = event_loop_->monotonic_now();
  for (const std::unique_ptr<PeerMonitor> &peer : peers_) {
    if (peer == nullptr) continue;
    aos_bridge_Ping ping;
    peer->FillPing(now, event_loop_->boot_uuid(), &ping);
    // Best effort: a lost probe is the next one's job.
    (void)dds_write(ping_writer_, &ping);
  }
}

void MessageBridge::TakePings() {
  constexpr size_t kBatch = 16;
  void *samples[kBatch];
  dds_sample_info_t infos[kBatch];
  const std::string_view me = event_loop_->node()->name()->string_view();
  const Configuration *configuration = event_loop_->configuration();
  while (true) {
    samples[0] = nullptr;
    const int count = dds_take(ping_reader_, samples, infos, kBatch, kBatch);
    if (count <= 0) break;
    const monotonic_clock::time_point now = event_loop_->monotonic_now();
    for (int i = 0; i < count; ++i) {
      if (!infos[i].valid_data) continue;
      const auto &ping = *static_cast<const aos_bridge_Ping *>(samples[i]);
      if (ping.to_node == nullptr || ping.from_node == nullptr ||
          me != ping.to_node) {
        continue;
      }
      const int index = configuration::GetNodeIndex(
          configuration, std::string_view(ping.from_node));
      if (index < 0 || peers_[index] == nullptr) continue;
      const PeerMonitor::Event event = peers_[index]->OnPing(ping, now);
      if (event != PeerMonitor::Event::kNone && server_ != nullptr) {
        server_->OnConnected(index);
      }
    }
    dds_return_loan(ping_reader_, samples, count);
  }
}

void MessageBridge::SendTimestamp() {
  if (!timestamp_sender_.valid()) return;
  auto builder = timestamp_sender_.MakeBuilder();
  flatbuffers::FlatBufferBuilder *fbb = builder.fbb();
  std::vector<flatbuffers::Offset<ClientOffset>> offsets;
  for (const std::unique_ptr<PeerMonitor> &peer : peers_) {
    if (peer == nullptr || !peer->connected()) continue;
    const auto offset = peer->monotonic_offset();
    if (!offset.has_value()) continue;
    const auto node_offset = CreateNode(
        *fbb, fbb->CreateString(peer->peer()->name()->string_view()));
    ClientOffset::Builder client_offset(*fbb);
    client_offset.add_node(node_offset);
    client_offset.add_monotonic_offset(offset->count());
    offsets.push_back(client_offset.Finish());
  }
  const auto offsets_offset = fbb->CreateVector(offsets);
  Timestamp::Builder timestamp(*fbb);
  timestamp.add_offsets(offsets_offset);
  (void)builder.Send(timestamp.Finish());
}

}  // namespace aos::message_bridge
