#include "aos/network/dds_transport.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "glog/logging.h"

namespace aos::message_bridge {
namespace {

class Fnv1a {
 public:
  void Add(std::string_view bytes) {
    for (const char c : bytes) {
      hash_ ^= static_cast<uint8_t>(c);
      hash_ *= 0x100000001b3ull;
    }
    // A separator, so that ("ab", "c") and ("a", "bc") differ.
    hash_ ^= 0xff;
    hash_ *= 0x100000001b3ull;
  }
  void Add(uint64_t value) { Add(std::to_string(value)); }
  uint64_t hash() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ull;
};

std::string_view StringOrEmpty(const flatbuffers::String *string) {
  return string == nullptr ? std::string_view() : string->string_view();
}

bool Forwards(const Channel *channel, std::string_view from,
              std::string_view to) {
  if (channel->source_node() == nullptr ||
      channel->destination_nodes() == nullptr ||
      channel->source_node()->string_view() != from) {
    return false;
  }
  for (const Connection *connection : *channel->destination_nodes()) {
    if (StringOrEmpty(connection->name()) == to) return true;
  }
  return false;
}

// Escapes the characters XML gives meaning to.
std::string XmlEscape(std::string_view text) {
  std::string result;
  for (const char c : text) {
    switch (c) {
      case '&':
        result += "&amp;";
        break;
      case '<':
        result += "&lt;";
        break;
      case '>':
        result += "&gt;";
        break;
      case '"':
        result += "&quot;";
        break;
      default:
        result += c;
    }
  }
  return result;
}

}  // namespace

uint64_t ConfigurationHash(const Configuration *configuration) {
  Fnv1a hash;
  if (configuration->nodes() != nullptr) {
    for (const Node *node : *configuration->nodes()) {
      hash.Add(StringOrEmpty(node->name()));
    }
  }
  if (configuration->channels() != nullptr) {
    for (const Channel *channel : *configuration->channels()) {
      hash.Add(StringOrEmpty(channel->name()));
      hash.Add(StringOrEmpty(channel->type()));
      hash.Add(StringOrEmpty(channel->source_node()));
      hash.Add(static_cast<uint64_t>(channel->max_size()));
      if (channel->destination_nodes() == nullptr) continue;
      for (const Connection *connection : *channel->destination_nodes()) {
        hash.Add(StringOrEmpty(connection->name()));
        hash.Add(static_cast<uint64_t>(connection->time_to_live()));
      }
    }
  }
  return hash.hash();
}

std::vector<const Node *> PeerNodes(const Configuration *configuration,
                                    const Node *node) {
  std::vector<const Node *> peers;
  if (configuration->nodes() == nullptr ||
      configuration->channels() == nullptr) {
    return peers;
  }
  const std::string_view me = node->name()->string_view();
  for (const Node *other : *configuration->nodes()) {
    const std::string_view name = other->name()->string_view();
    if (name == me) continue;
    for (const Channel *channel : *configuration->channels()) {
      if (Forwards(channel, me, name) || Forwards(channel, name, me)) {
        peers.push_back(other);
        break;
      }
    }
  }
  return peers;
}

Result<std::string> CycloneConfig(const Configuration *configuration,
                                  const Node *node, int domain_id,
                                  std::string_view interface,
                                  std::chrono::milliseconds lease) {
  if (domain_id < 0 || domain_id > 230) {
    return MakeError("DDS domain " + std::to_string(domain_id) +
                     " is out of range: use 0..230 (--dds_domain)");
  }
  std::string peers;
  for (const Node *peer : PeerNodes(configuration, node)) {
    const std::string_view hostname = StringOrEmpty(peer->hostname());
    if (hostname.empty()) {
      return MakeError("node \"" + peer->name()->str() +
                       "\" has no hostname in the configuration: the message "
                       "bridge of \"" +
                       node->name()->str() +
                       "\" needs it to find that node; add \"hostname\" to it");
    }
    if (peer->port() != node->port()) {
      return MakeError(
          "node \"" + peer->name()->str() + "\" has port " +
          std::to_string(peer->port()) + " but \"" + node->name()->str() +
          "\" has " + std::to_string(node->port()) +
          ": DDS derives every participant's ports from one base, so nodes "
          "that exchange messages need the same \"port\"");
    }
    peers += "<Peer Address=\"" + XmlEscape(hostname) + "\"/>";
  }
  std::string interfaces;
  if (!interface.empty()) {
    interfaces = "<Interfaces><NetworkInterface name=\"" +
                 XmlEscape(interface) + "\"/></Interfaces>";
  }
  return "<CycloneDDS><Domain Id=\"" + std::to_string(domain_id) +
         "\"><General>" + interfaces +
         "<AllowMulticast>false</AllowMulticast><FragmentSize>" +
         std::to_string(kFragmentSize) +
         "B</FragmentSize></General>"
         "<Discovery><ParticipantIndex>auto</ParticipantIndex>"
         "<MaxAutoParticipantIndex>20</MaxAutoParticipantIndex>"
         "<Peers>" +
         peers + "</Peers><Ports><Base>" + std::to_string(node->port()) +
         "</Base></Ports><LeaseDuration>" + std::to_string(lease.count()) +
         " ms</LeaseDuration></Discovery></Domain></CycloneDDS>";
}

uint32_t SerializedBatchSize(const aos_bridge_Batch &batch) {
  // Offsets from the end of the encapsulation header. The sequence's uint32
  // length; per message three int64 (8-aligned), a uint32 and 16 octets (44
  // bytes), the data's uint32 length (4-aligned) and its bytes.
  constexpr size_t kHeader = 4;
  size_t offset = 4;
  for (uint32_t i = 0; i < batch.messages._length; ++i) {
    offset = (offset + 7) & ~size_t{7};
    offset += 44;
    offset = (offset + 3) & ~size_t{3};
    offset += 4 + batch.messages._buffer[i].data._length;
  }
  return static_cast<uint32_t>(kHeader + ((offset + 3) & ~size_t{3}));
}

uint32_t BatchFragments(const aos_bridge_Batch &batch) {
  const uint32_t size = SerializedBatchSize(batch);
  return std::max<uint32_t>(1, (size + kFragmentSize - 1) / kFragmentSize);
}

uint32_t MessageFragments(size_t data_size) {
  aos_bridge_Message message{};
  message.data._length = static_cast<uint32_t>(data_size);
  aos_bridge_Batch batch{};
  batch.messages._buffer = &message;
  batch.messages._length = 1;
  return BatchFragments(batch);
}

dds_qos_t *ForwardingQos(const Connection *connection, size_t queue_size) {
  dds_qos_t *qos = dds_create_qos();
  dds_qset_durability(qos, DDS_DURABILITY_VOLATILE);
  dds_qset_destination_order(qos, DDS_DESTINATIONORDER_BY_RECEPTION_TIMESTAMP);
  if (connection->time_to_live() == 0) {
    dds_qset_reliability(qos, DDS_RELIABILITY_RELIABLE, DDS_MSECS(100));
    dds_qset_history(qos, DDS_HISTORY_KEEP_ALL, 0);
  } else {
    dds_qset_reliability(qos, DDS_RELIABILITY_RELIABLE, 0);
    dds_qset_history(qos, DDS_HISTORY_KEEP_LAST,
                     static_cast<int32_t>(std::max<size_t>(1, queue_size)));
    dds_qset_lifespan(qos,
                      static_cast<dds_duration_t>(connection->time_to_live()));
  }
  return qos;
}

dds_qos_t *TimestampQos() {
  dds_qos_t *qos = dds_create_qos();
  dds_qset_durability(qos, DDS_DURABILITY_VOLATILE);
  dds_qset_reliability(qos, DDS_RELIABILITY_RELIABLE, 0);
  dds_qset_history(qos, DDS_HISTORY_KEEP_ALL, 0);
  return qos;
}

dds_qos_t *PingQos() {
  dds_qos_t *qos = dds_create_qos();
  dds_qset_durability(qos, DDS_DURABILITY_VOLATILE);
  dds_qset_reliability(qos, DDS_RELIABILITY_BEST_EFFORT, 0);
  dds_qset_history(qos, DDS_HISTORY_KEEP_LAST, 16);
  return qos;
}

std::string ForwardingTopicName(std::string_view source,
                                std::string_view destination,
                                size_t channel_index) {
  return "aos/" + std::string(source) + "/" + std::string(destination) + "/" +
         std::to_string(channel_index);
}

std::string TimestampTopicName(std::string_view source,
                               std::string_view destination) {
  return "aos/" + std::string(source) + "/" + std::string(destination) +
         "/timestamps";
}

Result<std::unique_ptr<DdsDomain>> DdsDomain::Create(int domain_id,
                                                     const std::string &xml) {
  std::unique_ptr<DdsDomain> result(new DdsDomain());
  result->domain_ =
      dds_create_domain(static_cast<dds_domainid_t>(domain_id), xml.c_str());
  if (result->domain_ < 0) {
    const std::string error = dds_strretcode(result->domain_);
    result->domain_ = 0;
    return MakeError("cannot create DDS domain " + std::to_string(domain_id) +
                     ": " + error + " (configuration: " + xml + ")");
  }
  result->participant_ = dds_create_participant(
      static_cast<dds_domainid_t>(domain_id), nullptr, nullptr);
  if (result->participant_ < 0) {
    const std::string error = dds_strretcode(result->participant_);
    result->participant_ = 0;
    return MakeError("cannot join DDS domain " + std::to_string(domain_id) +
                     ": " + error +
                     " (is there a network interface Cyclone DDS can use?)");
  }
  result->wakeup_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  PCHECK(result->wakeup_fd_ >= 0) << ": eventfd";
  result->listener_ = dds_create_listener(result.get());
  dds_lset_data_available(result->listener_, &DdsDomain::OnDataAvailable);
  return result;
}

DdsDomain::~DdsDomain() {
  // Deleting the participant deletes its topics, readers and writers and
  // waits for running listeners, so none touches us afterwards.
  if (participant_ > 0) dds_delete(participant_);
  if (domain_ > 0) dds_delete(domain_);
  if (listener_ != nullptr) dds_delete_listener(listener_);
  if (wakeup_fd_ >= 0) close(wakeup_fd_);
}

void DdsDomain::OnDataAvailable(dds_entity_t, void *arg) {
  DdsDomain *domain = static_cast<DdsDomain *>(arg);
  // Already signalled and not consumed yet: the loop will take this sample
  // with the others. Otherwise (consumed, maybe while the loop is still
  // taking) signal again; at worst the loop wakes up to find nothing.
  if (domain->signalled_.exchange(true, std::memory_order_acq_rel)) return;
  const uint64_t one = 1;
  // Only EAGAIN (counter at its maximum) can fail: still readable then.
  (void)!write(domain->wakeup_fd_, &one, sizeof(one));
}

void DdsDomain::Consume() {
  uint64_t count;
  (void)!read(wakeup_fd_, &count, sizeof(count));
  // After the read: a sample arriving from here on writes again.
  signalled_.store(false, std::memory_order_release);
}

dds_entity_t DdsDomain::Topic(std::string_view name,
                              const dds_topic_descriptor_t *descriptor) {
  for (const auto &[topic_name, topic] : topics_) {
    if (topic_name == name) return topic;
  }
  const std::string name_string(name);
  const dds_entity_t topic = dds_create_topic(
      participant_, descriptor, name_string.c_str(), nullptr, nullptr);
  CHECK_GT(topic, 0) << ": dds_create_topic " << name << ": "
                     << dds_strretcode(topic);
  topics_.emplace_back(name_string, topic);
  return topic;
}

dds_entity_t DdsDomain::Make(Endpoint kind, std::string_view name,
                             const dds_topic_descriptor_t *descriptor,
                             const dds_qos_t *qos) {
  const dds_entity_t topic = Topic(name, descriptor);
  const bool writer = kind == Endpoint::kWriter;
  const dds_entity_t entity =
      writer ? dds_create_writer(participant_, topic, qos, nullptr)
             : dds_create_reader(participant_, topic, qos, listener_);
  CHECK_GT(entity, 0) << ": dds_create_" << (writer ? "writer " : "reader ")
                      << name << ": " << dds_strretcode(entity);
  return entity;
}

dds_entity_t DdsDomain::MakeForwarding(Endpoint kind, std::string_view source,
                                       std::string_view destination,
                                       size_t channel_index,
                                       const Connection *connection,
                                       size_t queue_size) {
  dds_qos_t *qos = ForwardingQos(connection, queue_size);
  const dds_entity_t entity =
      Make(kind, ForwardingTopicName(source, destination, channel_index),
           &aos_bridge_Batch_desc, qos);
  dds_delete_qos(qos);
  return entity;
}

dds_entity_t DdsDomain::MakeTimestamps(Endpoint kind, std::string_view source,
                                       std::string_view destination) {
  dds_qos_t *qos = TimestampQos();
  const dds_entity_t entity =
      Make(kind, TimestampTopicName(source, destination),
           &aos_bridge_DeliveryBatch_desc, qos);
  dds_delete_qos(qos);
  return entity;
}

}  // namespace aos::message_bridge
