#ifndef AOS_NETWORK_CONNECTION_STATISTICS_H_
#define AOS_NETWORK_CONNECTION_STATISTICS_H_

// The part of a connection's statistics that describes the peer, shared by
// ServerConnection (ServerStatistics) and ClientConnection
// (ClientStatistics): the peer node, CONNECTED or DISCONNECTED, and while
// connected its boot UUID, the clock offset and the time it connected, else
// why it is down; and the number of connections. Both tables have these
// fields under the same names, so the server and the client fill them from
// their PeerMonitor with the same two calls:
//
//   const PeerStatisticsOffsets peer_offsets =
//       CreatePeerStatistics(fbb, peer);      // before the table's builder
//   ServerConnection::Builder connection(*fbb);
//   AddPeerStatistics(peer, peer_offsets, &connection);
//   ... the table's own fields ...

#include "aos/network/message_bridge_server_generated.h"
#include "aos/network/peer_monitor.h"
#include "flatbuffers/flatbuffers.h"

namespace aos::message_bridge {

// The peer's strings and node table, which flatbuffers needs built before
// the connection table is started.
struct PeerStatisticsOffsets {
  flatbuffers::Offset<Node> node;
  // Set while connected.
  flatbuffers::Offset<flatbuffers::String> boot_uuid;
  // Set while disconnected.
  flatbuffers::Offset<flatbuffers::String> disconnect_reason;
};

inline PeerStatisticsOffsets CreatePeerStatistics(
    flatbuffers::FlatBufferBuilder *fbb, const PeerMonitor &peer) {
  PeerStatisticsOffsets offsets;
  offsets.node =
      CreateNode(*fbb, fbb->CreateString(peer.peer()->name()->string_view()));
  if (peer.connected()) {
    offsets.boot_uuid = fbb->CreateString(peer.boot_uuid().ToString());
  } else {
    offsets.disconnect_reason = fbb->CreateString(peer.disconnect_reason());
  }
  return offsets;
}

// Adds the peer's fields to `connection` (a ServerConnection::Builder or a
// ClientConnection::Builder) with the offsets CreatePeerStatistics made for
// the same `peer`.
template <typename ConnectionBuilder>
void AddPeerStatistics(const PeerMonitor &peer,
                       const PeerStatisticsOffsets &offsets,
                       ConnectionBuilder *connection) {
  connection->add_node(offsets.node);
  connection->add_state(peer.connected() ? State::CONNECTED
                                         : State::DISCONNECTED);
  if (peer.connected()) {
    if (const auto offset = peer.monotonic_offset(); offset.has_value()) {
      connection->add_monotonic_offset(offset->count());
    }
    connection->add_boot_uuid(offsets.boot_uuid);
    connection->add_connected_since_time(
        peer.connected_since().time_since_epoch().count());
  } else {
    connection->add_disconnect_reason(offsets.disconnect_reason);
  }
  connection->add_connection_count(peer.connection_count());
}

}  // namespace aos::message_bridge

#endif  // AOS_NETWORK_CONNECTION_STATISTICS_H_
