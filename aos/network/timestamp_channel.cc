#include "aos/network/timestamp_channel.h"

#include <algorithm>
#include <string>

#include "aos/network/remote_message_generated.h"
#include "glog/logging.h"

namespace aos::message_bridge {

const Channel *FindTimestampChannel(const Configuration *configuration,
                                    const Channel *channel,
                                    std::string_view destination) {
  CHECK(channel->source_node() != nullptr)
      << ": " << configuration::StrippedChannelToString(channel)
      << " has no source node, so no timestamp channel";
  const Node *source =
      configuration::GetNode(configuration, channel->source_node()->str());
  CHECK(source != nullptr) << ": the source node of "
                           << configuration::StrippedChannelToString(channel)
                           << " is not in the configuration";
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

}  // namespace aos::message_bridge
