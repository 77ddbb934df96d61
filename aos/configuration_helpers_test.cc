// Tests of the configuration helpers the tools, the logger and the message
// bridge use: aliases (reverse maps), programmatic edits, and node/connection
// predicates.

#include <set>
#include <string>
#include <vector>

#include "aos/configuration.h"
#include "aos/json_to_flatbuffer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::configuration::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A merged, validated config from JSON.
FlatbufferDetachedBuffer<Configuration> Config(std::string_view json) {
  Result<FlatbufferDetachedBuffer<Configuration>> parsed =
      MaybeJsonToFlatbuffer<Configuration>(json);
  CHECK(parsed.has_value()) << parsed.error().message();
  return MergeConfiguration(*parsed);
}

// The reflection schema of aos.Channel, as a standalone buffer (any schema
// will do to embed).
FlatbufferDetachedBuffer<reflection::Schema> ChannelSchema() {
  std::unique_ptr<reflection::SchemaT> unpacked(SchemaOf<Channel>()->UnPack());
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(reflection::CreateSchema(fbb, unpacked.get()));
  return FlatbufferDetachedBuffer<reflection::Schema>(fbb.Release());
}

constexpr std::string_view kMapsConfig = R"({
  "channels": [
    { "name": "/very/long/name", "type": "T" },
    { "name": "/very/long/name", "type": "Other" },
    { "name": "/shadow", "type": "T" },
    { "name": "/elsewhere", "type": "T" }
  ],
  "maps": [
    { "match": { "name": "/short" }, "rename": { "name": "/very/long/name" } },
    { "match": { "name": "/alias*" }, "rename": { "name": "/very" } },
    { "match": { "name": "/typed", "type": "Other" },
      "rename": { "name": "/very/long/name" } },
    { "match": { "name": "/shadow" }, "rename": { "name": "/elsewhere" } },
    { "match": { "name": "/chain" }, "rename": { "name": "/short" } }
  ],
  "applications": [
    { "name": "app",
      "maps": [ { "match": { "name": "/mine" }, "rename": { "name": "/short" } } ] }
  ]
})";

TEST(ChannelAliasesTest, ReverseOfExactWildcardAndChainedMaps) {
  FlatbufferDetachedBuffer<Configuration> config = Config(kMapsConfig);
  const Configuration *c = &config.message();
  const Channel *t = GetChannel(c, "/very/long/name", "T", "", nullptr);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(GetChannelAliases(c, t, "", nullptr),
            (std::set<std::string>{"/alias/long/name", "/chain", "/short",
                                   "/very/long/name"}));
  // Every alias really resolves to the channel.
  for (const std::string &alias : GetChannelAliases(c, t, "", nullptr)) {
    EXPECT_EQ(GetChannel(c, alias, "T", "", nullptr), t) << alias;
  }
  // The type filter: /typed is an alias only of the Other channel.
  const Channel *other = GetChannel(c, "/very/long/name", "Other", "", nullptr);
  EXPECT_TRUE(GetChannelAliases(c, other, "", nullptr).contains("/typed"));
  EXPECT_FALSE(GetChannelAliases(c, t, "", nullptr).contains("/typed"));
  // The application's maps apply first, then chain into the global ones.
  EXPECT_TRUE(GetChannelAliases(c, t, "app", nullptr).contains("/mine"));
  EXPECT_FALSE(GetChannelAliases(c, t, "", nullptr).contains("/mine"));
  // By name and type: the same; no such channel gives no aliases.
  EXPECT_EQ(GetChannelAliases(c, "/very/long/name", "T", "app", nullptr),
            GetChannelAliases(c, t, "app", nullptr));
  EXPECT_THAT(GetChannelAliases(c, "/short", "T", "", nullptr), IsEmpty())
      << "/short is an alias, not a channel";
  EXPECT_THAT(GetChannelAliases(c, "/nope", "T", "", nullptr), IsEmpty());
}

TEST(ChannelAliasesTest, ShadowedNameIsNoAlias) {
  FlatbufferDetachedBuffer<Configuration> config = Config(kMapsConfig);
  const Configuration *c = &config.message();
  // "/shadow" maps to /elsewhere, so nothing reaches the /shadow channel...
  EXPECT_THAT(GetChannelAliases(c, "/shadow", "T", "", nullptr), IsEmpty());
  // ... and /elsewhere is reached both ways.
  EXPECT_EQ(GetChannelAliases(c, "/elsewhere", "T", "", nullptr),
            (std::set<std::string>{"/elsewhere", "/shadow"}));
}

TEST(ChannelAliasesTest, SourceNodeMapsApplyOnTheirNodeOnly) {
  FlatbufferDetachedBuffer<Configuration> config =
      ReadConfig(std::string(AOS_TESTDATA_DIR) + "/multinode.json");
  const Configuration *c = &config.message();
  const Channel *pi1_aos =
      GetChannel(c, "/pi1/aos", "aos.timing.Report", "", nullptr);
  ASSERT_NE(pi1_aos, nullptr);
  EXPECT_EQ(GetChannelAliases(c, pi1_aos, "", GetNode(c, "pi1")),
            (std::set<std::string>{"/aos", "/pi1/aos"}));
  EXPECT_EQ(GetChannelAliases(c, pi1_aos, "", GetNode(c, "pi2")),
            (std::set<std::string>{"/pi1/aos"}));
}

// Wildcard maps that feed each other have exponentially many aliases
// (/x1x0a -> /x0a -> /a, ...); the list is capped and holds only real ones.
TEST(ChannelAliasesTest, PathologicalWildcardsStayBounded) {
  std::string maps;
  for (int i = 0; i < 40; ++i) {
    if (!maps.empty()) maps += ", ";
    maps += R"({ "match": { "name": "/x)" + std::to_string(i) +
            R"(*" }, "rename": { "name": "/" } })";
  }
  FlatbufferDetachedBuffer<Configuration> config =
      Config(R"({ "channels": [ { "name": "/a", "type": "T" } ], "maps": [ )" +
             maps + " ] }");
  const Configuration *c = &config.message();
  const std::set<std::string> aliases =
      GetChannelAliases(c, "/a", "T", "", nullptr);
  EXPECT_TRUE(aliases.contains("/a"));
  EXPECT_TRUE(aliases.contains("/x0a"));
  EXPECT_LE(aliases.size(), 4096u);
  for (const std::string &alias : aliases) {
    EXPECT_EQ(MappedChannelName(c, alias, "T", "", nullptr), "/a") << alias;
  }
}

TEST(AddChannelTest, AddsOnlyOverriddenFieldsWithSharedSchema) {
  FlatbufferDetachedBuffer<Configuration> base = Config(
      R"({ "channels": [ { "name": "/old", "type": "aos.Channel" } ] })");
  FlatbufferDetachedBuffer<reflection::Schema> schema = ChannelSchema();
  FlatbufferDetachedBuffer<Configuration> with_schema =
      AddChannelToConfiguration(&base.message(), "/old", schema);
  ChannelT overrides;
  overrides.frequency = 20;
  overrides.read_method = ReadMethod::PIN;
  overrides.num_readers = 2;
  FlatbufferDetachedBuffer<Configuration> config = AddChannelToConfiguration(
      &with_schema.message(), "/new", schema, nullptr, overrides);
  ASSERT_TRUE(config.Verify());
  const Configuration *c = &config.message();
  const Channel *added = GetChannel(c, "/new", "aos.Channel", "", nullptr);
  ASSERT_NE(added, nullptr);
  EXPECT_EQ(CleanedChannelToString(added),
            "{ \"name\": \"/new\", \"type\": \"aos.Channel\", \"frequency\": "
            "20, \"read_method\": \"PIN\", \"num_readers\": 2 }");
  ASSERT_NE(added->schema(), nullptr);
  EXPECT_EQ(added->schema(),
            GetChannel(c, "/old", "aos.Channel", "", nullptr)->schema());
  // Adding an existing channel merges the overrides into it.
  overrides = ChannelT();
  overrides.max_size = 64;
  FlatbufferDetachedBuffer<Configuration> merged =
      AddChannelToConfiguration(c, "/new", schema, nullptr, overrides);
  const Channel *again =
      GetChannel(&merged.message(), "/new", "aos.Channel", "", nullptr);
  EXPECT_EQ(again->max_size(), 64);
  EXPECT_EQ(again->frequency(), 20);
  EXPECT_EQ(merged.message().channels()->size(), 2u);
}

TEST(AddChannelTest, MultiNodeSetsTheSourceNode) {
  FlatbufferDetachedBuffer<Configuration> base =
      ReadConfig(std::string(AOS_TESTDATA_DIR) + "/multinode.json");
  FlatbufferDetachedBuffer<Configuration> config =
      AddChannelToConfiguration(&base.message(), "/pi2/new", ChannelSchema(),
                                GetNode(&base.message(), "pi2"));
  const Channel *added =
      GetChannel(&config.message(), "/pi2/new", "aos.Channel", "", nullptr);
  ASSERT_NE(added, nullptr);
  EXPECT_EQ(added->source_node()->str(), "pi2");
  // Without a node, a multi-node config rejects the channel.
  Result<FlatbufferDetachedBuffer<Configuration>> missing =
      MaybeAddChannelToConfiguration(&base.message(), "/x", ChannelSchema());
  ASSERT_FALSE(missing.has_value());
  EXPECT_THAT(missing.error().message(),
              HasSubstr("is missing \"source_node\""));
}

TEST(AddChannelTest, Errors) {
  FlatbufferDetachedBuffer<Configuration> base =
      Config(R"({ "channels": [ { "name": "/old", "type": "T" } ] })");
  Result<FlatbufferDetachedBuffer<Configuration>> bad_name =
      MaybeAddChannelToConfiguration(&base.message(), "no_slash",
                                     ChannelSchema());
  ASSERT_FALSE(bad_name.has_value());
  EXPECT_THAT(bad_name.error().message(),
              HasSubstr("added channel: Channel names must start with '/'"));
  ChannelT too_fast;
  too_fast.frequency = 2000000000;
  Result<FlatbufferDetachedBuffer<Configuration>> queue =
      MaybeAddChannelToConfiguration(&base.message(), "/fast", ChannelSchema(),
                                     nullptr, too_fast);
  ASSERT_FALSE(queue.has_value());
  EXPECT_THAT(queue.error().message(),
              HasSubstr("More messages/second configured than the queue can "
                        "hold on Channel { \"name\": \"/fast\""));
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(reflection::CreateSchema(fbb));
  FlatbufferDetachedBuffer<reflection::Schema> rootless(fbb.Release());
  Result<FlatbufferDetachedBuffer<Configuration>> no_root =
      MaybeAddChannelToConfiguration(&base.message(), "/x", rootless);
  ASSERT_FALSE(no_root.has_value());
  EXPECT_THAT(no_root.error().message(), HasSubstr("has no root table"));
  EXPECT_DEATH(
      AddChannelToConfiguration(&base.message(), "/a//b", ChannelSchema()),
      "Invalid channel name /a//b, can't use //");
}

TEST(PartialConfigurationTest, KeepsSelectedChannelsAndEverythingElse) {
  FlatbufferDetachedBuffer<Configuration> base =
      ReadConfig(std::string(AOS_TESTDATA_DIR) + "/multinode.json");
  FlatbufferDetachedBuffer<Configuration> with_schema =
      AddChannelToConfiguration(&base.message(), "/pi1/x", ChannelSchema(),
                                GetNode(&base.message(), "pi1"));
  FlatbufferDetachedBuffer<Configuration> also = AddChannelToConfiguration(
      &with_schema.message(), "/pi2/x", ChannelSchema(),
      GetNode(&base.message(), "pi2"));
  FlatbufferDetachedBuffer<Configuration> partial =
      GetPartialConfiguration(also.message(), [](const Channel &channel) {
        return channel.type()->string_view() == "aos.Channel";
      });
  ASSERT_TRUE(partial.Verify());
  const Configuration *c = &partial.message();
  ASSERT_EQ(c->channels()->size(), 2u);
  EXPECT_EQ(c->channels()->Get(0)->name()->str(), "/pi1/x");
  EXPECT_EQ(c->channels()->Get(0)->schema(), c->channels()->Get(1)->schema());
  EXPECT_EQ(c->nodes()->size(), 2u);
  EXPECT_EQ(c->maps()->size(), 2u);
  EXPECT_EQ(c->applications()->size(), 1u);
  EXPECT_TRUE(Validate(c).has_value());
  FlatbufferDetachedBuffer<Configuration> none = GetPartialConfiguration(
      also.message(), [](const Channel &) { return false; });
  EXPECT_EQ(none.message().channels()->size(), 0u);
}

// Three nodes; timestamps logged in every way.
constexpr std::string_view kNodesConfig = R"({
  "nodes": [ { "name": "pi1", "tags": ["x"] }, { "name": "pi2", "tags": ["x", "y"] },
             { "name": "pi3" } ],
  "channels": [
    { "name": "/pi1/a", "type": "T", "source_node": "pi1",
      "destination_nodes": [
        { "name": "pi2" },
        { "name": "pi3", "timestamp_logger": "REMOTE_LOGGER",
          "timestamp_logger_nodes": ["pi1"] } ] },
    { "name": "/pi2/b", "type": "T", "source_node": "pi2",
      "destination_nodes": [
        { "name": "pi1", "timestamp_logger": "LOCAL_AND_REMOTE_LOGGER",
          "timestamp_logger_nodes": ["pi3"] } ] },
    { "name": "/pi3/c", "type": "T", "source_node": "pi3" },
    { "name": "/pi1/d", "type": "T", "source_node": "pi1",
      "destination_nodes": [ { "name": "pi3", "timestamp_logger": "NOT_LOGGED" } ] }
  ],
  "applications": [ { "name": "anywhere" }, { "name": "on2", "nodes": ["pi2"] } ]
})";

class NodeHelpersTest : public ::testing::Test {
 protected:
  NodeHelpersTest()
      : config_(Config(kNodesConfig)),
        c_(&config_.message()),
        pi1_(GetNode(c_, "pi1")),
        pi2_(GetNode(c_, "pi2")),
        pi3_(GetNode(c_, "pi3")),
        a_(GetChannel(c_, "/pi1/a", "T", "", nullptr)),
        b_(GetChannel(c_, "/pi2/b", "T", "", nullptr)),
        c3_(GetChannel(c_, "/pi3/c", "T", "", nullptr)),
        d_(GetChannel(c_, "/pi1/d", "T", "", nullptr)) {}

  FlatbufferDetachedBuffer<Configuration> config_;
  const Configuration *c_;
  const Node *pi1_, *pi2_, *pi3_;
  const Channel *a_, *b_, *c3_, *d_;
};

TEST_F(NodeHelpersTest, Tags) {
  EXPECT_THAT(GetNodesWithTag(c_, "x"), ElementsAre(pi1_, pi2_));
  EXPECT_THAT(GetNodesWithTag(c_, "y"), ElementsAre(pi2_));
  EXPECT_THAT(GetNodesWithTag(c_, "z"), IsEmpty());
  // Consistent with NodeHasTag, in single-node configs too (where the null
  // node has every tag).
  FlatbufferDetachedBuffer<Configuration> single =
      Config(R"({ "channels": [ { "name": "/a", "type": "T" } ] })");
  for (const Configuration *config : {c_, &single.message()}) {
    for (std::string_view tag : {"x", "y", "z"}) {
      std::vector<const Node *> expected;
      for (const Node *node : GetNodes(config)) {
        if (NodeHasTag(node, tag)) expected.push_back(node);
      }
      EXPECT_EQ(GetNodesWithTag(config, tag), expected) << tag;
    }
  }
  EXPECT_THAT(GetNodesWithTag(&single.message(), "x"), ElementsAre(nullptr));
}

TEST_F(NodeHelpersTest, NodeLookups) {
  EXPECT_EQ(GetNodeOrDie(c_, "pi3"), pi3_);
  EXPECT_DEATH(GetNodeOrDie(c_, "pi9"),
               "No node named \"pi9\" in the configuration");
  EXPECT_TRUE(IsNodeFromConfiguration(c_, pi2_));
  FlatbufferDetachedBuffer<Configuration> copy = Config(kNodesConfig);
  EXPECT_FALSE(IsNodeFromConfiguration(c_, GetNode(&copy.message(), "pi2")));
  EXPECT_FALSE(IsNodeFromConfiguration(c_, nullptr));
  EXPECT_EQ(SourceNode(c_, b_), pi2_);
  EXPECT_EQ(SourceNodeIndex(c_, c3_), 2);
  FlatbufferDetachedBuffer<Configuration> single =
      Config(R"({ "channels": [ { "name": "/a", "type": "T" } ] })");
  const Channel *single_a = single.message().channels()->Get(0);
  EXPECT_EQ(SourceNode(&single.message(), single_a), nullptr);
  EXPECT_EQ(SourceNodeIndex(&single.message(), single_a), 0);
  EXPECT_TRUE(IsNodeFromConfiguration(&single.message(), nullptr));
}

// Upstream's overloads: GetNodeOrDie by node (from another copy of the
// config), SourceNodeIndex of every channel, GetChannel on the holder, and
// null-safe IsNodeFromConfiguration.
TEST_F(NodeHelpersTest, UpstreamOverloads) {
  FlatbufferDetachedBuffer<Configuration> copy = Config(kNodesConfig);
  EXPECT_EQ(GetNodeOrDie(c_, GetNode(&copy.message(), "pi2")), pi2_);
  EXPECT_EQ(GetNodeOrDie(c_, pi3_), pi3_);
  EXPECT_DEATH(GetNodeOrDie(c_, static_cast<const Node *>(nullptr)),
               "needs a named node");
  FlatbufferDetachedBuffer<Configuration> other = Config(
      R"({ "nodes": [ { "name": "pi9" } ],
           "channels": [ { "name": "/a", "type": "T", "source_node": "pi9" } ] })");
  EXPECT_DEATH(GetNodeOrDie(c_, GetNode(&other.message(), "pi9")),
               "No node named \"pi9\"");
  FlatbufferDetachedBuffer<Configuration> single =
      Config(R"({ "channels": [ { "name": "/a", "type": "T" },
                                { "name": "/b", "type": "T" } ] })");
  EXPECT_EQ(GetNodeOrDie(&single.message(), static_cast<const Node *>(nullptr)),
            nullptr);
  EXPECT_DEATH(GetNodeOrDie(&single.message(), pi1_),
               "node pi1 given for a single-node configuration");

  std::vector<size_t> expected;
  for (const Channel *channel : *c_->channels()) {
    expected.push_back(SourceNodeIndex(c_, channel));
  }
  EXPECT_EQ(SourceNodeIndex(c_), expected);
  EXPECT_THAT(SourceNodeIndex(&single.message()), ElementsAre(0u, 0u));

  EXPECT_EQ(GetChannel(config_, "/pi1/a", "T", "", nullptr), a_);
  EXPECT_EQ(GetChannel(config_, "/nope", "T", "", nullptr), nullptr);

  EXPECT_FALSE(IsNodeFromConfiguration(nullptr, nullptr));
  EXPECT_FALSE(IsNodeFromConfiguration(nullptr, pi1_));
}

TEST_F(NodeHelpersTest, Forwarding) {
  EXPECT_EQ(ConnectionCount(a_), 2u);
  EXPECT_EQ(ConnectionCount(c3_), 0u);
  EXPECT_TRUE(ChannelIsForwardedFromNode(a_, pi1_));
  EXPECT_FALSE(ChannelIsForwardedFromNode(a_, pi2_)) << "pi2 receives it";
  EXPECT_FALSE(ChannelIsForwardedFromNode(c3_, pi3_)) << "sent, not forwarded";
  EXPECT_FALSE(ChannelIsForwardedFromNode(a_, nullptr));
  EXPECT_THAT(SourceNodeNames(c_, pi1_), ElementsAre("pi2"));
  EXPECT_THAT(SourceNodeNames(c_, pi3_), ElementsAre("pi1"));
  EXPECT_THAT(DestinationNodeNames(c_, pi1_), ElementsAre("pi2", "pi3"));
  EXPECT_THAT(DestinationNodeNames(c_, pi2_), ElementsAre("pi1"));
  EXPECT_THAT(DestinationNodeNames(c_, pi3_), IsEmpty());
}

TEST_F(NodeHelpersTest, DeliveryTimestamps) {
  // LOCAL_LOGGER (the default): on the receiving node.
  EXPECT_TRUE(ConnectionDeliveryTimeIsLoggedOnNode(a_, pi2_, pi2_));
  EXPECT_FALSE(ConnectionDeliveryTimeIsLoggedOnNode(a_, pi2_, pi1_));
  // REMOTE_LOGGER: on timestamp_logger_nodes only.
  EXPECT_TRUE(ConnectionDeliveryTimeIsLoggedOnNode(a_, pi3_, pi1_));
  EXPECT_FALSE(ConnectionDeliveryTimeIsLoggedOnNode(a_, pi3_, pi3_));
  // LOCAL_AND_REMOTE_LOGGER: both.
  EXPECT_TRUE(ConnectionDeliveryTimeIsLoggedOnNode(b_, pi1_, pi1_));
  EXPECT_TRUE(ConnectionDeliveryTimeIsLoggedOnNode(b_, pi1_, pi3_));
  EXPECT_FALSE(ConnectionDeliveryTimeIsLoggedOnNode(b_, pi1_, pi2_));
  // NOT_LOGGED, and no connection at all.
  EXPECT_FALSE(ConnectionDeliveryTimeIsLoggedOnNode(d_, pi3_, pi3_));
  EXPECT_FALSE(ConnectionDeliveryTimeIsLoggedOnNode(d_, pi3_, pi1_));
  EXPECT_FALSE(ConnectionDeliveryTimeIsLoggedOnNode(a_, pi1_, pi1_));
  EXPECT_DEATH(
      ConnectionDeliveryTimeIsLoggedOnNode(ConnectionToNode(a_, pi2_), nullptr),
      "Delivery timestamps of the connection to pi2 exist only between nodes");
  // pi1 logs the delivery times of what it sends to pi3 (on /pi1/a).
  EXPECT_THAT(TimestampNodes(c_, pi1_), ElementsAre(pi3_));
  EXPECT_THAT(TimestampNodes(c_, pi2_), IsEmpty());
}

TEST_F(NodeHelpersTest, ApplicationsAndSchemas) {
  const Application *anywhere = GetApplication(c_, nullptr, "anywhere");
  const Application *on2 = GetApplication(c_, nullptr, "on2");
  EXPECT_TRUE(ApplicationShouldStart(c_, pi1_, anywhere));
  EXPECT_TRUE(ApplicationShouldStart(c_, pi2_, on2));
  EXPECT_FALSE(ApplicationShouldStart(c_, pi1_, on2));
  EXPECT_TRUE(ApplicationShouldStart(c_, nullptr, on2));

  EXPECT_FALSE(GetSchemaDetachedBuffer(c_, "T").has_value());
  FlatbufferDetachedBuffer<Configuration> with_schema =
      AddChannelToConfiguration(c_, "/pi1/s", ChannelSchema(), pi1_);
  std::optional<FlatbufferDetachedBuffer<reflection::Schema>> schema =
      GetSchemaDetachedBuffer(&with_schema.message(), "aos.Channel");
  ASSERT_TRUE(schema.has_value());
  ASSERT_TRUE(schema->Verify());
  EXPECT_EQ(schema->message().root_table()->name()->str(), "aos.Channel");
}

}  // namespace
}  // namespace aos::configuration::testing
