#include "aos/network/peer_monitor.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "glog/logging.h"

namespace aos::message_bridge {
namespace {

std::string Hex(uint64_t value) {
  std::ostringstream out;
  out << std::hex << value;
  return out.str();
}

}  // namespace

PeerMonitor::PeerMonitor(const Node *me, const Node *peer, uint8_t my_roles,
                         uint64_t instance, uint64_t config_hash,
                         monotonic_clock::duration timeout)
    : me_(me),
      peer_(peer),
      my_roles_(my_roles),
      instance_(instance),
      config_hash_(config_hash),
      timeout_(timeout),
      reason_("no probe from node \"" + peer->name()->str() + "\" (" +
              (peer->hostname() == nullptr ? std::string("no hostname")
                                           : peer->hostname()->str()) +
              ") yet") {}

void PeerMonitor::FillPing(monotonic_clock::time_point now,
                           const UUID &boot_uuid, aos_bridge_Ping *ping) const {
  ping->from_node = const_cast<char *>(me_->name()->c_str());
  ping->to_node = const_cast<char *>(peer_->name()->c_str());
  ping->roles = my_roles_;
  ping->instance = instance_;
  memcpy(ping->boot_uuid, boot_uuid.span().data(), UUID::kDataSize);
  ping->config_hash = config_hash_;
  ping->sent_time = now.time_since_epoch().count();
  ping->echo_instance = echo_instance_;
  ping->echo_sent_time = echo_sent_time_;
  ping->echo_received_time = echo_received_time_;
}

PeerMonitor::Event PeerMonitor::OnPing(const aos_bridge_Ping &ping,
                                       monotonic_clock::time_point now) {
  const bool relevant =
      ((my_roles_ & kServerRole) && (ping.roles & kClientRole)) ||
      ((my_roles_ & kClientRole) && (ping.roles & kServerRole));
  if (!relevant) return Event::kNone;

  if (ping.config_hash != config_hash_) {
    mismatched_ = true;
    if (ping.instance != refused_instance_) {
      refused_instance_ = ping.instance;
      ++invalid_connection_count_;
      LOG(ERROR) << "Refusing node \"" << peer_->name()->string_view()
                 << "\": its configuration (hash " << Hex(ping.config_hash)
                 << ") differs from ours (hash " << Hex(config_hash_)
                 << "). Run the same configuration on every node.";
    }
    const std::string reason = "configuration mismatch with node \"" +
                               peer_->name()->str() + "\" (hash " +
                               Hex(ping.config_hash) + ", ours " +
                               Hex(config_hash_) + ")";
    if (connected_ || reason != reason_) Disconnect(reason);
    return Event::kNone;
  }

  mismatched_ = false;
  last_ping_ = now;
  echo_instance_ = ping.instance;
  echo_sent_time_ = ping.sent_time;
  echo_received_time_ = now.time_since_epoch().count();

  const UUID boot_uuid =
      UUID::FromSpan(std::span<const uint8_t>(ping.boot_uuid, UUID::kDataSize));
  Event event = Event::kNone;
  if (!connected_) {
    connected_ = true;
    reason_.clear();
    ++connection_count_;
    connected_since_ = now;
    ClearSamples();
    if (boot_uuid_ != UUID::Zero() && boot_uuid != boot_uuid_) {
      LOG(WARNING) << "Node \"" << peer_->name()->string_view()
                   << "\" rebooted while disconnected: boot " << boot_uuid_
                   << " -> " << boot_uuid;
    }
    LOG(INFO) << "Connected to node \"" << peer_->name()->string_view()
              << "\" (boot " << boot_uuid << ")";
    event = Event::kConnected;
  } else if (boot_uuid != boot_uuid_) {
    ++connection_count_;
    connected_since_ = now;
    ClearSamples();
    LOG(WARNING) << "Node \"" << peer_->name()->string_view()
                 << "\" rebooted: boot " << boot_uuid_ << " -> " << boot_uuid;
    event = Event::kRebooted;
  }
  boot_uuid_ = boot_uuid;

  if (ping.echo_instance == instance_ && ping.echo_sent_time != 0) {
    const int64_t t1 = ping.echo_sent_time;
    const int64_t t2 = ping.echo_received_time;
    const int64_t t3 = ping.sent_time;
    const int64_t t4 = now.time_since_epoch().count();
    Sample &sample = samples_[next_sample_];
    sample.round_trip = std::chrono::nanoseconds((t4 - t1) - (t3 - t2));
    sample.offset = std::chrono::nanoseconds(((t2 - t1) + (t3 - t4)) / 2);
    next_sample_ = (next_sample_ + 1) % std::size(samples_);
    sample_count_ = std::min(sample_count_ + 1, std::size(samples_));
  }
  return event;
}

bool PeerMonitor::CheckTimeout(monotonic_clock::time_point now) {
  if (!connected_ || now - last_ping_ < timeout_) return false;
  Disconnect(
      "no probe from node \"" + peer_->name()->str() + "\" for " +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                         now - last_ping_)
                         .count()) +
      " ms (down, unreachable, or its bridge is not running)");
  return true;
}

void PeerMonitor::Disconnect(std::string reason) {
  if (connected_ || reason != reason_) {
    LOG(WARNING) << "Node \"" << peer_->name()->string_view()
                 << "\" DISCONNECTED: " << reason;
  }
  connected_ = false;
  reason_ = std::move(reason);
  ClearSamples();
}

std::optional<std::chrono::nanoseconds> PeerMonitor::monotonic_offset() const {
  if (sample_count_ == 0) return std::nullopt;
  const Sample *best = std::min_element(samples_, samples_ + sample_count_,
                                        [](const Sample &a, const Sample &b) {
                                          return a.round_trip < b.round_trip;
                                        });
  return best->offset;
}

std::chrono::nanoseconds PeerMonitor::offset_error() const {
  if (sample_count_ == 0) return std::chrono::nanoseconds(0);
  const Sample *best = std::min_element(samples_, samples_ + sample_count_,
                                        [](const Sample &a, const Sample &b) {
                                          return a.round_trip < b.round_trip;
                                        });
  return best->round_trip / 2;
}

}  // namespace aos::message_bridge
