#ifndef AOS_NETWORK_PEER_MONITOR_H_
#define AOS_NETWORK_PEER_MONITOR_H_

// PeerMonitor: what one node's message bridge knows about one peer node,
// from the probes (aos_bridge::Ping) the two exchange 10 times a second:
// whether the connection is up, the peer's boot UUID, how many times it
// connected and since when, and the offset between the two monotonic clocks.
//
// The connection is CONNECTED while probes arrive from a peer process with
// the complementary role (our server needs its client and vice versa) and
// the same configuration hash, the last one less than `timeout` ago. A
// different hash is refused: the peer stays DISCONNECTED, the attempt is
// counted (invalid_connection_count) and logged once per peer process. A
// new boot UUID while connected counts as a reconnection (the peer
// rebooted) and is logged.
//
// Clock offset: each probe echoes the last probe received from the other
// side, so a probe answering ours gives NTP's four times: t1 (we sent), t2
// (it received, its clock), t3 (it sent this one, its clock), t4 (we
// received). offset = ((t2 - t1) + (t3 - t4)) / 2 (its clock minus ours) is
// exact when both legs take equally long; the error is at most half the
// round trip (t4 - t1) - (t3 - t2), the time the probes were in flight. Of
// the last 16 samples the one with the shortest round trip wins, since
// queueing only ever adds delay.
//
// Not thread-safe: one event loop drives it.

#include <cstdint>
#include <optional>
#include <string>

#include "aos/configuration.h"
#include "aos/network/bridge.h"
#include "aos/time/time.h"
#include "aos/uuid.h"

namespace aos::message_bridge {

inline constexpr uint8_t kServerRole = 1;
inline constexpr uint8_t kClientRole = 2;

class PeerMonitor {
 public:
  // `my_roles`: kServerRole and/or kClientRole of this process.
  PeerMonitor(const Node *me, const Node *peer, uint8_t my_roles,
              uint64_t instance, uint64_t config_hash,
              monotonic_clock::duration timeout);

  // What a probe from the peer changed.
  enum class Event {
    kNone,
    // Now CONNECTED (first time, after a timeout, or after a refusal).
    kConnected,
    // Still CONNECTED, but the peer rebooted (new boot UUID).
    kRebooted,
  };

  // Fills the probe this process sends to the peer at `now`. The strings
  // point into the configuration.
  void FillPing(monotonic_clock::time_point now, const UUID &boot_uuid,
                aos_bridge_Ping *ping) const;

  // Handles a probe addressed to us from the peer node, received at `now`.
  // Probes from peer processes of the same role as ours are ignored.
  Event OnPing(const aos_bridge_Ping &ping, monotonic_clock::time_point now);

  // Returns true if the connection just went down because no probe came
  // for `timeout`.
  bool CheckTimeout(monotonic_clock::time_point now);

  const Node *peer() const { return peer_; }
  bool connected() const { return connected_; }
  // Why the connection is down ("" while up).
  const std::string &disconnect_reason() const { return reason_; }
  // The peer's boot UUID (the last one seen; Zero before any).
  const UUID &boot_uuid() const { return boot_uuid_; }
  uint32_t connection_count() const { return connection_count_; }
  uint32_t invalid_connection_count() const {
    return invalid_connection_count_;
  }
  // True while the peer's configuration differs from ours (refused).
  bool mismatched() const { return mismatched_; }
  monotonic_clock::time_point connected_since() const {
    return connected_since_;
  }
  // The peer's monotonic clock minus ours, and the bound on its error; empty
  // until a probe of ours came back this connection.
  std::optional<std::chrono::nanoseconds> monotonic_offset() const;
  std::chrono::nanoseconds offset_error() const;

 private:
  struct Sample {
    std::chrono::nanoseconds round_trip{0};
    std::chrono::nanoseconds offset{0};
  };

  void Disconnect(std::string reason);
  // The offset is measured afresh for every connection and boot.
  void ClearSamples() {
    sample_count_ = 0;
    next_sample_ = 0;
  }

  const Node *const me_;
  const Node *const peer_;
  const uint8_t my_roles_;
  const uint64_t instance_;
  const uint64_t config_hash_;
  const monotonic_clock::duration timeout_;

  bool connected_ = false;
  std::string reason_;
  UUID boot_uuid_ = UUID::Zero();
  uint32_t connection_count_ = 0;
  uint32_t invalid_connection_count_ = 0;
  uint64_t refused_instance_ = 0;
  bool mismatched_ = false;
  monotonic_clock::time_point connected_since_ = monotonic_clock::min_time;
  monotonic_clock::time_point last_ping_ = monotonic_clock::min_time;

  // The last probe received from a relevant peer process, to echo.
  uint64_t echo_instance_ = 0;
  int64_t echo_sent_time_ = 0;
  int64_t echo_received_time_ = 0;

  Sample samples_[16];
  size_t sample_count_ = 0;
  size_t next_sample_ = 0;
};

}  // namespace aos::message_bridge

#endif  // AOS_NETWORK_PEER_MONITOR_H_
