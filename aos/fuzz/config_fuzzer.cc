// Fuzz entry point: arbitrary bytes as a JSON configuration. Reading a config
// must never crash or abort, whatever the input: it returns an error or a
// valid configuration. On a valid one, the queries tools and the logger run
// must not abort either, and every alias GetChannelAliases lists must lead
// back to its channel. See docs/decisions/fuzzing.md for how this runs.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "aos/configuration.h"
#include "glog/logging.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const aos::FlatbufferDetachedBuffer<aos::Configuration> empty =
      aos::FlatbufferDetachedBuffer<aos::Configuration>::Empty();
  const std::string_view json(reinterpret_cast<const char *>(data), size);
  aos::Result<aos::FlatbufferDetachedBuffer<aos::Configuration>> config =
      aos::configuration::MaybeMergeWithConfig(&empty.message(), json);
  if (config.has_value()) {
    CHECK(config->Verify()) << "merged config does not verify";
    const aos::Configuration *c = &config->message();
    CHECK(aos::configuration::Validate(c).has_value());
    for (const aos::Node *node : aos::configuration::GetNodes(c)) {
      for (const aos::Channel *channel : *c->channels()) {
        for (const std::string &alias :
             aos::configuration::GetChannelAliases(c, channel, "", node)) {
          CHECK_EQ(aos::configuration::GetChannel(
                       c, alias, channel->type()->string_view(), "", node),
                   channel)
              << alias;
        }
        if (node != nullptr) {
          aos::configuration::ChannelIsForwardedFromNode(channel, node);
        }
      }
      aos::configuration::SourceNodeNames(c, node);
      aos::configuration::DestinationNodeNames(c, node);
      aos::configuration::TimestampNodes(c, node);
    }
    CHECK(aos::configuration::Validate(
              &aos::configuration::GetPartialConfiguration(
                   *c, [](const aos::Channel &) { return true; })
                   .message())
              .has_value());
  }
  return 0;
}
