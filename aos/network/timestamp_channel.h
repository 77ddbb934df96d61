#ifndef AOS_NETWORK_TIMESTAMP_CHANNEL_H_
#define AOS_NETWORK_TIMESTAMP_CHANNEL_H_

// Where delivery timestamps (aos.message_bridge.RemoteMessage) of a
// forwarded channel go on its source node. Both message bridges need it:
// the real one (aos/network, over DDS) and the simulated one (aos/events),
// so it lives here without either's dependencies (only the configuration).

#include <string_view>

#include "aos/configuration.h"

namespace aos::message_bridge {

// The channel on which `channel`'s delivery timestamps to `destination` go
// on its source node: /aos/remote_timestamps/<destination>/<channel
// name>/<type with dashes>, else /aos/remote_timestamps/<destination>, or
// nullptr if the configuration has neither (or the source node may not send
// on it). `channel` must have a source node in `configuration`.
const Channel *FindTimestampChannel(const Configuration *configuration,
                                    const Channel *channel,
                                    std::string_view destination);

}  // namespace aos::message_bridge

#endif  // AOS_NETWORK_TIMESTAMP_CHANNEL_H_
