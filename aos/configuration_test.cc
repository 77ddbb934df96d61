#include "aos/configuration.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "aos/configuration_validation.h"
#include "aos/flatbuffer_merge.h"
#include "aos/json_test_generated.h"
#include "aos/json_to_flatbuffer.h"
#include "aos/testing/tmpdir.h"
#include "gflags/gflags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

DECLARE_string(override_hostname);

namespace aos::configuration::testing {
namespace {

using ::testing::HasSubstr;

std::string TestData(std::string_view file) {
  return std::string(AOS_TESTDATA_DIR) + "/" + std::string(file);
}

FlatbufferDetachedBuffer<Configuration> Read(std::string_view file) {
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      MaybeReadConfig(TestData(file));
  CHECK(config.has_value()) << config.error().message();
  return std::move(*config);
}

std::vector<std::string> ChannelNames(const Configuration *config) {
  std::vector<std::string> names;
  for (const Channel *channel : *config->channels()) {
    names.push_back(channel->name()->str() + " " + channel->type()->str());
  }
  return names;
}

TEST(ConfigurationTest, ImportsMergeWithImporterLast) {
  FlatbufferDetachedBuffer<Configuration> config = Read("config1.json");
  const Configuration *c = &config.message();
  ASSERT_TRUE(config.Verify());
  EXPECT_EQ(c->imports(), nullptr);
  // Sorted by (name, type).
  EXPECT_THAT(ChannelNames(c),
              ::testing::ElementsAre(
                  "/base .aos.bar", "/foo .aos.bar", "/foo2 .aos.bar",
                  "/magic/string/subfolder .aos.bar", "/pinned .aos.bar"));
  const Channel *foo = GetChannel(c, "/foo", ".aos.bar", "", nullptr);
  ASSERT_NE(foo, nullptr);
  EXPECT_EQ(foo->frequency(), 200);  // From base.json, not reset.
  EXPECT_EQ(foo->max_size(), 5000);  // From config1.json.
  // logger_nodes are a sorted union.
  const Channel *base = GetChannel(c, "/base", ".aos.bar", "", nullptr);
  ASSERT_NE(base->logger_nodes(), nullptr);
  EXPECT_EQ(base->logger_nodes()->size(), 2u);
  EXPECT_EQ(base->logger_nodes()->Get(0)->str(), "a");
  // Maps are concatenated, imported ones first.
  ASSERT_EQ(c->maps()->size(), 4u);
  EXPECT_EQ(c->maps()->Get(0)->rename()->name()->str(), "/bar");
  // Applications: args replaced, other fields kept, sorted by name.
  ASSERT_EQ(c->applications()->size(), 2u);
  EXPECT_EQ(c->applications()->Get(0)->name()->str(), "app0");
  const Application *app1 = c->applications()->Get(1);
  ASSERT_EQ(app1->args()->size(), 1u);
  EXPECT_EQ(app1->args()->Get(0)->str(), "--new");
  EXPECT_FALSE(app1->autostart());
  // The top-level storage duration comes from the import.
  EXPECT_EQ(c->channel_storage_duration(), 5000000000);
}

TEST(ConfigurationTest, QueueSizeAndStorageDuration) {
  FlatbufferDetachedBuffer<Configuration> config = Read("config1.json");
  const Configuration *c = &config.message();
  const Channel *foo = GetChannel(c, "/foo", ".aos.bar", "", nullptr);
  const Channel *foo2 = GetChannel(c, "/foo2", ".aos.bar", "", nullptr);
  EXPECT_EQ(ChannelStorageDuration(c, foo), std::chrono::seconds(5));
  EXPECT_EQ(ChannelStorageDuration(c, foo2), std::chrono::seconds(1));
  EXPECT_EQ(QueueSize(c, foo), 1000u);
  EXPECT_EQ(QueueSize(c, foo2), 100u);
  EXPECT_EQ(QueueSize(3, std::chrono::milliseconds(500)), 2u);  // ceil(1.5)
  EXPECT_EQ(QueueSize(4500, std::chrono::seconds(5)), 22500u);
  const Channel *pinned = GetChannel(c, "/pinned", ".aos.bar", "", nullptr);
  EXPECT_EQ(QueueScratchBufferSize(pinned), 13);
}

TEST(ConfigurationTest, MapsLastWinsWildcardsTypesAndApplications) {
  FlatbufferDetachedBuffer<Configuration> config = Read("config1.json");
  const Configuration *c = &config.message();
  // Two maps of /batman: the later (/foo) wins.
  const Channel *batman = GetChannel(c, "/batman", ".aos.bar", "", nullptr);
  ASSERT_NE(batman, nullptr);
  EXPECT_EQ(batman->name()->str(), "/foo");
  // Prefix wildcard keeps the suffix.
  const Channel *magic =
      GetChannel(c, "/magic/string/subfolder", ".aos.bar", "", nullptr);
  EXPECT_EQ(magic, nullptr) << "maps to /magic/subfolder, which is absent";
  EXPECT_EQ(
      MappedChannelName(c, "/magic/string/subfolder", ".aos.bar", "", nullptr),
      "/magic/subfolder");
  // Type filter: only .aos.baz is renamed.
  EXPECT_EQ(MappedChannelName(c, "/typed", ".aos.baz", "", nullptr), "/foo");
  EXPECT_EQ(MappedChannelName(c, "/typed", ".aos.bar", "", nullptr), "/typed");
  // Application maps apply only to that application, before global ones.
  EXPECT_EQ(GetChannel(c, "/app_alias", ".aos.bar", "app1", nullptr),
            GetChannel(c, "/foo2", ".aos.bar", "", nullptr));
  EXPECT_EQ(GetChannel(c, "/app_alias", ".aos.bar", "app0", nullptr), nullptr);
}

TEST(ConfigurationTest, MapChainsFollowOrder) {
  FlatbufferDetachedBuffer<Configuration> base = Read("config1.json");
  // /a -> /b then /b -> /foo: processed last to first, so /a stops at /b.
  FlatbufferDetachedBuffer<Configuration> chain = MergeWithConfig(
      &base.message(),
      R"({ "maps": [ { "match": { "name": "/a" }, "rename": { "name": "/b" } },
                    { "match": { "name": "/b" }, "rename": { "name": "/foo" } } ] })");
  EXPECT_EQ(MappedChannelName(&chain.message(), "/a", ".aos.bar", "", nullptr),
            "/b");
  FlatbufferDetachedBuffer<Configuration> reversed = MergeWithConfig(
      &base.message(),
      R"({ "maps": [ { "match": { "name": "/b" }, "rename": { "name": "/foo" } },
                    { "match": { "name": "/a" }, "rename": { "name": "/b" } } ] })");
  EXPECT_EQ(
      MappedChannelName(&reversed.message(), "/a", ".aos.bar", "", nullptr),
      "/foo");
}

TEST(ConfigurationTest, MultiNode) {
  FlatbufferDetachedBuffer<Configuration> config = Read("multinode.json");
  const Configuration *c = &config.message();
  EXPECT_TRUE(MultiNode(c));
  // Nodes sorted by name, so indices are alphabetical.
  ASSERT_EQ(NodesCount(c), 2u);
  EXPECT_EQ(NodeName(c, 0), "pi1");
  EXPECT_EQ(NodeName(c, 1), "pi2");
  const Node *pi1 = GetNode(c, "pi1");
  const Node *pi2 = GetNode(c, "pi2");
  EXPECT_EQ(GetNodeIndex(c, pi2), 1);
  EXPECT_EQ(GetNodes(c), (std::vector<const Node *>{pi1, pi2}));
  EXPECT_EQ(GetNodeFromHostname(c, "other"), pi1);
  EXPECT_TRUE(NodeHasTag(pi1, "a"));
  EXPECT_FALSE(NodeHasTag(pi1, "b"));
  EXPECT_TRUE(NodeHasTag(nullptr, "b"));

  // Source-node maps apply per node.
  const Channel *pi1_aos = GetChannel(c, "/aos", "aos.timing.Report", "", pi1);
  const Channel *pi2_aos = GetChannel(c, "/aos", "aos.timing.Report", "", pi2);
  ASSERT_NE(pi1_aos, nullptr);
  ASSERT_NE(pi2_aos, nullptr);
  EXPECT_EQ(pi1_aos->name()->str(), "/pi1/aos");
  EXPECT_EQ(pi2_aos->name()->str(), "/pi2/aos");
  EXPECT_EQ(GetChannel(c, "/aos", "aos.timing.Report", "", nullptr, true),
            nullptr);

  EXPECT_TRUE(ChannelIsSendableOnNode(pi1_aos, pi1));
  EXPECT_FALSE(ChannelIsSendableOnNode(pi1_aos, pi2));
  EXPECT_TRUE(ChannelIsReadableOnNode(pi1_aos, pi2));
  EXPECT_FALSE(ChannelIsReadableOnNode(pi2_aos, pi1));
  ASSERT_NE(ConnectionToNode(pi1_aos, pi2), nullptr);
  EXPECT_EQ(ConnectionToNode(pi1_aos, pi2)->priority(), 5);
  EXPECT_EQ(ConnectionToNode(pi1_aos, pi1), nullptr);
  EXPECT_TRUE(ChannelMessageIsLoggedOnNode(pi2_aos, pi1));
  EXPECT_TRUE(ChannelMessageIsLoggedOnNode(pi2_aos, pi2));
  EXPECT_FALSE(ChannelMessageIsLoggedOnNode(pi1_aos, pi2));

  EXPECT_NE(GetApplication(c, pi2, "app"), nullptr);
  EXPECT_EQ(GetApplication(c, pi1, "app"), nullptr);
  EXPECT_NE(GetApplication(c, nullptr, "app"), nullptr);
}

TEST(ConfigurationTest, GetMyNodeUsesOverrideHostname) {
  FlatbufferDetachedBuffer<Configuration> config = Read("multinode.json");
  FLAGS_override_hostname = "raspberrypi2";
  EXPECT_EQ(GetMyNode(&config.message()), GetNode(&config.message(), "pi2"));
  FLAGS_override_hostname = "nowhere";
  EXPECT_DEATH(GetMyNode(&config.message()),
               "Unknown node for host: nowhere.  Consider using "
               "--override_hostname");
  FLAGS_override_hostname = "";
}

// Upstream's Node.hostname_regex (id 5): a pattern matched against the whole
// hostname, after exact hostname/hostnames matches; it survives merging, and a
// pattern that does not compile is a config error naming the node.
TEST(ConfigurationTest, HostnameRegex) {
  aos::testing::TempDir dir;
  const std::string path = dir.path() + "/regex.json";
  std::ofstream(path) << R"({
    "nodes": [
      { "name": "orin1", "hostname_regex": "orin-1|orin-[0-9]+-1" },
      { "name": "exact", "hostname": "orin-7-1" },
      { "name": "pi", "hostnames": [ "pi-a" ], "hostname_regex": "pi-.*" }
    ]
  })";
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      MaybeReadConfig(path);
  ASSERT_TRUE(config.has_value()) << config.error().message();
  const Configuration *c = &config->message();
  const Node *orin1 = GetNode(c, "orin1");
  ASSERT_NE(orin1->hostname_regex(), nullptr);
  EXPECT_EQ(orin1->hostname_regex()->string_view(), "orin-1|orin-[0-9]+-1");
  EXPECT_EQ(GetNodeFromHostname(c, "orin-1"), orin1);
  EXPECT_EQ(GetNodeFromHostname(c, "orin-123-1"), orin1);
  EXPECT_EQ(GetNodeFromHostname(c, "orin-2"), nullptr);
  EXPECT_EQ(GetNodeFromHostname(c, "orin-abc-1"), nullptr);
  EXPECT_EQ(GetNodeFromHostname(c, "xorin-1"), nullptr) << "whole name";
  EXPECT_EQ(GetNodeFromHostname(c, "orin-7-1"), GetNode(c, "exact"))
      << "an exact hostname wins over a pattern";
  EXPECT_EQ(GetNodeFromHostname(c, "pi-b"), GetNode(c, "pi"));
  FLAGS_override_hostname = "orin-42-1";
  EXPECT_EQ(GetMyNode(c), orin1);
  FLAGS_override_hostname = "";

  std::ofstream(path) << R"({ "nodes": [ { "name": "bad",
                                           "hostname_regex": "orin-[0-9" } ] })";
  Result<FlatbufferDetachedBuffer<Configuration>> bad = MaybeReadConfig(path);
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message(),
              HasSubstr("Node \"bad\" has an invalid hostname_regex "
                        "\"orin-[0-9\""));
}

TEST(ConfigurationTest, SingleNodeHelpers) {
  FlatbufferDetachedBuffer<Configuration> config = Read("config1.json");
  const Configuration *c = &config.message();
  EXPECT_FALSE(MultiNode(c));
  EXPECT_EQ(GetMyNode(c), nullptr);
  EXPECT_EQ(GetNodes(c), std::vector<const Node *>{nullptr});
  EXPECT_EQ(NodeName(c, 0), "(singlenode)");
  EXPECT_EQ(GetNodeIndex(c, static_cast<const Node *>(nullptr)), 0);
  const Channel *foo = GetChannel(c, "/foo", ".aos.bar", "", nullptr);
  EXPECT_TRUE(ChannelIsSendableOnNode(foo, nullptr));
  EXPECT_TRUE(ChannelIsReadableOnNode(foo, nullptr));
  EXPECT_TRUE(ChannelMessageIsLoggedOnNode(foo, nullptr));
}

TEST(ConfigurationTest, ChannelIndex) {
  FlatbufferDetachedBuffer<Configuration> config = Read("config1.json");
  FlatbufferDetachedBuffer<Configuration> other = Read("config1.json");
  const Channel *foo2 =
      GetChannel(&config.message(), "/foo2", ".aos.bar", "", nullptr);
  EXPECT_EQ(ChannelIndex(&config.message(), foo2), 2u);
  EXPECT_EQ(GetChannel(&config.message(), size_t{2}), foo2);
  EXPECT_DEATH(ChannelIndex(&other.message(), foo2),
               "Channel \\{ \"name\": \"/foo2\", \"type\": \".aos.bar\" \\} "
               "is not a pointer into this configuration");
}

TEST(ConfigurationTest, ChannelToString) {
  FlatbufferDetachedBuffer<Configuration> config = Read("config1.json");
  const Channel *pinned =
      GetChannel(&config.message(), "/pinned", ".aos.bar", "", nullptr);
  EXPECT_EQ(StrippedChannelToString(pinned),
            "{ \"name\": \"/pinned\", \"type\": \".aos.bar\" }");
  EXPECT_EQ(CleanedChannelToString(pinned),
            "{ \"name\": \"/pinned\", \"type\": \".aos.bar\", "
            "\"read_method\": \"PIN\", \"num_readers\": 3 }");
}

// Schemas are embedded once per type and shared.
TEST(ConfigurationTest, SchemasAreSharedPerType) {
  flatbuffers::FlatBufferBuilder fbb;
  // Any reflection schema will do: use the Channel table's own.
  const reflection::Schema *channel_schema = SchemaOf<Channel>();
  flatbuffers::Verifier verifier(
      reinterpret_cast<const uint8_t *>(channel_schema), 1 << 20);
  std::unique_ptr<reflection::SchemaT> unpacked(channel_schema->UnPack());
  fbb.Finish(reflection::CreateSchema(fbb, unpacked.get()));
  std::vector<FlatbufferVector<reflection::Schema>> schemas;
  schemas.emplace_back(
      std::span<const uint8_t>(fbb.GetBufferPointer(), fbb.GetSize()));
  FlatbufferDetachedBuffer<Configuration> config = AddSchema(
      R"({ "channels": [ { "name": "/a", "type": "aos.Channel" },
                         { "name": "/b", "type": "aos.Channel" },
                         { "name": "/c", "type": "aos.Other" } ] })",
      schemas);
  ASSERT_TRUE(config.Verify());
  const Configuration *c = &config.message();
  const Channel *a = c->channels()->Get(0);
  const Channel *b = c->channels()->Get(1);
  ASSERT_NE(a->schema(), nullptr);
  EXPECT_EQ(a->schema(), b->schema()) << "one shared copy";
  EXPECT_EQ(c->channels()->Get(2)->schema(), nullptr);
  EXPECT_EQ(GetSchema(c, "aos.Channel"), a->schema());
  EXPECT_EQ(GetSchema<Channel>(c)->root_table()->name()->str(), "aos.Channel");
  EXPECT_EQ(GetSchema(c, "aos.Other"), nullptr);
  // The embedded schema works for JSON.
  EXPECT_EQ(
      FlatbufferToJson(
          a->schema(),
          reinterpret_cast<const uint8_t *>(
              JsonToFlatbuffer<Channel>(R"({ "name": "/x" })").span().data())),
      "{ \"name\": \"/x\" }");
}

// The schema embedded for a channel is the .bfbs it came from, field for
// field (empty vectors and strings included) and byte for byte.
TEST(ConfigurationTest, EmbeddedSchemaEqualsTheBfbs) {
  std::vector<FlatbufferVector<reflection::Schema>> schemas;
  schemas.push_back(
      aos::FileToFlatbuffer<reflection::Schema>(AOS_JSON_TEST_BFBS));
  const reflection::Schema &original = schemas[0].message();
  ASSERT_NE(original.services(), nullptr);
  ASSERT_EQ(original.services()->size(), 0u) << "the case that was dropped";
  FlatbufferDetachedBuffer<Configuration> config = AddSchema(
      R"({ "channels": [ { "name": "/a", "type": "aos.testing.Everything" } ] })",
      schemas);
  ASSERT_TRUE(config.Verify());
  const reflection::Schema *embedded =
      config.message().channels()->Get(0)->schema();
  ASSERT_NE(embedded, nullptr);
  ASSERT_NE(embedded->services(), nullptr);
  EXPECT_TRUE(CompareFlatBuffer(embedded, &original));
  const FlatbufferDetachedBuffer<reflection::Schema> embedded_bytes =
      CopyFlatBuffer(embedded);
  const FlatbufferDetachedBuffer<reflection::Schema> original_bytes =
      CopyFlatBuffer(&original);
  EXPECT_TRUE(
      std::equal(embedded_bytes.span().begin(), embedded_bytes.span().end(),
                 original_bytes.span().begin(), original_bytes.span().end()));
  // And flatbuffers' own parser loads it as it is.
  EXPECT_EQ(
      FlatbufferToJson(embedded, JsonToFlatbuffer<aos::testing::Everything>(
                                     R"({ "foo_int": 3 })")
                                     .span()
                                     .data()),
      "{ \"foo_int\": 3 }");
}

TEST(ConfigurationTest, MergeWithConfigOverridesAndValidates) {
  FlatbufferDetachedBuffer<Configuration> config = Read("config1.json");
  FlatbufferDetachedBuffer<Configuration> merged = MergeWithConfig(
      &config.message(),
      R"({ "channels": [ { "name": "/foo", "type": ".aos.bar", "frequency": 10 },
                         { "name": "/new", "type": ".aos.bar" } ] })");
  const Configuration *c = &merged.message();
  EXPECT_EQ(GetChannel(c, "/foo", ".aos.bar", "", nullptr)->frequency(), 10);
  EXPECT_EQ(GetChannel(c, "/foo", ".aos.bar", "", nullptr)->max_size(), 5000);
  EXPECT_NE(GetChannel(c, "/new", ".aos.bar", "", nullptr), nullptr);

  Result<FlatbufferDetachedBuffer<Configuration>> bad = MaybeMergeWithConfig(
      &config.message(),
      R"({ "channels": [ { "name": "/foo", "type": ".aos.bar", "max_size": -8 } ] })");
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message(), HasSubstr("must not be negative"));
  EXPECT_DEATH(MergeWithConfig(&config.message(), "{ \"bogus\": 1 }"),
               "unknown field: bogus");
}

TEST(ConfigurationTest, ReadConfigDiesWithTheError) {
  EXPECT_DEATH(ReadConfig(TestData("bad/name_no_slash.json")),
               "Could not read config: .*Channel names must start with '/'");
}

TEST(ConfigurationTest, MissingFile) {
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      MaybeReadConfig("/nonexistent/config.json");
  ASSERT_FALSE(config.has_value());
  EXPECT_THAT(config.error().message(),
              HasSubstr("Config file /nonexistent/config.json not found "
                        "(tried /nonexistent/config.json)"));
}

TEST(ConfigurationTest, ExtraImportPaths) {
  aos::testing::TempDir dir;
  const std::string importer = dir.path() + "/importer.json";
  std::ofstream(importer) << R"({ "imports": ["config1.json"] })";
  EXPECT_FALSE(MaybeReadConfig(importer).has_value());
  const std::vector<std::string> extra = {TestData("")};
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      MaybeReadConfig(importer, extra);
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->message().channels()->size(), 5u);
}

// Runs in `dir` while it lives, then back where the test was.
class ScopedWorkingDirectory {
 public:
  explicit ScopedWorkingDirectory(const std::string &dir)
      : previous_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ~ScopedWorkingDirectory() { std::filesystem::current_path(previous_); }

 private:
  const std::filesystem::path previous_;
};

// The build puts the flattened test config beside this test program, which
// is where programs look for a relative --config that the working directory
// does not have.
TEST(ConfigurationTest, FindsARelativeConfigBesideTheProgram) {
  const std::filesystem::path flattened(AOS_FLATTENED_JSON);
  ASSERT_TRUE(std::filesystem::equivalent(
      flattened.parent_path(),
      std::filesystem::read_symlink("/proc/self/exe").parent_path()));
  const std::string name = flattened.filename().string();
  aos::testing::TempDir elsewhere;
  ScopedWorkingDirectory cwd(elsewhere.path());

  Result<std::string> found = FindConfigFile(name);
  ASSERT_TRUE(found.has_value()) << found.error().message();
  EXPECT_TRUE(std::filesystem::equivalent(*found, flattened)) << *found;
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      MaybeReadConfig(name);
  ASSERT_TRUE(config.has_value()) << config.error().message();
  Result<FlatbufferDetachedBuffer<Configuration>> direct =
      MaybeReadConfig(AOS_FLATTENED_JSON);
  ASSERT_TRUE(direct.has_value()) << direct.error().message();
  EXPECT_EQ(FlatbufferToJson(*config), FlatbufferToJson(*direct));
}

// The working directory first, then the extra paths, then the program's
// directory; absolute paths only as given.
TEST(ConfigurationTest, FindConfigFileOrder) {
  const std::string name =
      std::filesystem::path(AOS_FLATTENED_JSON).filename().string();
  aos::testing::TempDir cwd_dir;
  aos::testing::TempDir extra_dir;
  const std::vector<std::string> extra = {extra_dir.path()};
  ScopedWorkingDirectory cwd(cwd_dir.path());

  std::ofstream(extra_dir.path() + "/" + name) << "{}";
  Result<std::string> found = FindConfigFile(name, extra);
  ASSERT_TRUE(found.has_value()) << found.error().message();
  EXPECT_EQ(*found, extra_dir.path() + "/" + name);

  std::ofstream(cwd_dir.path() + "/" + name) << "{}";
  found = FindConfigFile(name, extra);
  ASSERT_TRUE(found.has_value()) << found.error().message();
  EXPECT_EQ(*found, name);

  // Only the .bfbs exists: found under the .json name, which MaybeReadConfig
  // then reads from the .bfbs.
  const std::string stem = extra_dir.path() + "/binary_only";
  std::ofstream(stem + ".bfbs") << "x";
  found = FindConfigFile(stem + ".json");
  ASSERT_TRUE(found.has_value()) << found.error().message();
  EXPECT_EQ(*found, stem + ".json");
}

TEST(ConfigurationTest, FindConfigFileSaysWhereItLooked) {
  aos::testing::TempDir cwd_dir;
  ScopedWorkingDirectory cwd(cwd_dir.path());
  const std::vector<std::string> extra = {"/extra/dir"};
  Result<std::string> found = FindConfigFile("missing.json", extra);
  ASSERT_FALSE(found.has_value());
  const std::string program_dir =
      std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
  EXPECT_EQ(found.error().message(),
            "Config file missing.json not found (tried missing.json, "
            "/extra/dir/missing.json, " +
                program_dir + "/missing.json)");
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      MaybeReadConfig("missing.json", extra);
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().message(), found.error().message());
}

// A flattened binary config reads back as the same config, and a .bfbs next
// to the .json is preferred.
TEST(ConfigurationTest, BinaryConfig) {
  aos::testing::TempDir dir;
  FlatbufferDetachedBuffer<Configuration> config = Read("multinode.json");
  const std::string json = dir.path() + "/config.json";
  const std::string bfbs = dir.path() + "/config.bfbs";
  std::ofstream(json) << "this is not read";
  std::ofstream(bfbs, std::ios::binary)
      .write(reinterpret_cast<const char *>(config.span().data()),
             config.span().size());
  for (const std::string &path : {json, bfbs}) {
    Result<FlatbufferDetachedBuffer<Configuration>> read =
        MaybeReadConfig(path);
    ASSERT_TRUE(read.has_value()) << read.error().message();
    EXPECT_EQ(FlatbufferToJson(*read), FlatbufferToJson(config));
  }
  std::ofstream(bfbs, std::ios::binary) << "garbage bytes";
  Result<FlatbufferDetachedBuffer<Configuration>> garbage =
      MaybeReadConfig(bfbs);
  ASSERT_FALSE(garbage.has_value());
  EXPECT_THAT(garbage.error().message(),
              HasSubstr("is not a valid binary Configuration flatbuffer"));
}

// Upstream's test configs use max_sizes such as 5, 7 and 100: reading and
// merging accept them; only flattening and senders need a multiple of 8.
TEST(ConfigurationTest, UnalignedMaxSizeReads) {
  Result<FlatbufferDetachedBuffer<Configuration>> config =
      MaybeReadConfig(TestData("max_size_not_8.json"));
  ASSERT_TRUE(config.has_value()) << config.error();
  EXPECT_EQ(config->message().channels()->Get(0)->max_size(), 1001);
  Result<FlatbufferDetachedBuffer<Configuration>> merged = MaybeMergeWithConfig(
      &config->message(),
      R"({ "channels": [ { "name": "/five", "type": "aos.T", "max_size": 5 },
                         { "name": "/seven", "type": "aos.T", "max_size": 7 } ] })");
  ASSERT_TRUE(merged.has_value()) << merged.error();
  EXPECT_EQ(GetChannel(&merged->message(), "/seven", "aos.T", "", nullptr)
                ->max_size(),
            7);
  const Result<void> aligned =
      internal::CheckMaxSizeAlignment(&merged->message());
  ASSERT_FALSE(aligned.has_value());
  EXPECT_THAT(
      aligned.error().message(),
      HasSubstr("max_size of { \"name\": \"/five\", \"type\": "
                "\"aos.T\" } is 5; it must be a non-negative multiple "
                "of 8 (messages are 8-byte aligned in the queue): round "
                "it up to 8"));
}

// Every config in testdata/bad fails with the message EXPECTED lists for it,
// and every config there is listed.
TEST(ConfigurationTest, BadConfigCorpus) {
  std::ifstream expected_file(TestData("bad/EXPECTED"));
  std::map<std::string, std::string> expected;
  std::string line;
  while (std::getline(expected_file, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t bar = line.find('|');
    ASSERT_NE(bar, std::string::npos) << line;
    expected[line.substr(0, bar)] = line.substr(bar + 1);
  }
  EXPECT_GE(expected.size(), 30u);
  size_t checked = 0;
  for (const auto &entry :
       std::filesystem::directory_iterator(TestData("bad"))) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".json" || name.starts_with("helper_")) {
      continue;
    }
    SCOPED_TRACE(name);
    auto it = expected.find(name);
    ASSERT_NE(it, expected.end()) << "add an expected message to EXPECTED";
    Result<FlatbufferDetachedBuffer<Configuration>> config =
        MaybeReadConfig(entry.path().string());
    ASSERT_FALSE(config.has_value());
    EXPECT_THAT(config.error().message(), HasSubstr(it->second));
    // Errors name the file they are about (or the importing one).
    EXPECT_THAT(config.error().message(), HasSubstr(".json"));
    ++checked;
  }
  EXPECT_EQ(checked, expected.size());
}

}  // namespace
}  // namespace aos::configuration::testing

namespace aos::configuration::testing {
namespace {

// aos_config() flattened testdata/flattener_test.json at build time.
TEST(ConfigFlattenerTest, BuildTimeOutputHasSchemasAndMergedValues) {
  // The .json alone (reading it beside the .bfbs would read the .bfbs).
  aos::testing::TempDir dir;
  const std::string json_copy = dir.path() + "/flattened.json";
  std::filesystem::copy_file(AOS_FLATTENED_JSON, json_copy);
  for (const std::string &path : {json_copy, std::string(AOS_FLATTENED_BFBS)}) {
    SCOPED_TRACE(path);
    Result<FlatbufferDetachedBuffer<Configuration>> config =
        MaybeReadConfig(path);
    ASSERT_TRUE(config.has_value()) << config.error().message();
    const Configuration *c = &config->message();
    const Channel *test =
        GetChannel(c, "/test", "aos.testing.Everything", "", nullptr);
    ASSERT_NE(test, nullptr);
    EXPECT_EQ(test->frequency(), 50);
    ASSERT_NE(test->schema(), nullptr);
    EXPECT_EQ(test->schema()->root_table()->name()->str(),
              "aos.testing.Everything");
    EXPECT_EQ(test->schema(),
              GetChannel(c, "/other", "aos.testing.Everything", "", nullptr)
                  ->schema());
  }
}

// name.stripped.json is the same merged config without schemas.
TEST(ConfigFlattenerTest, StrippedOutputHasNoSchemas) {
  aos::testing::TempDir dir;
  const std::string stripped_copy = dir.path() + "/stripped.json";
  std::filesystem::copy_file(AOS_FLATTENED_STRIPPED_JSON, stripped_copy);
  Result<FlatbufferDetachedBuffer<Configuration>> stripped =
      MaybeReadConfig(stripped_copy);
  ASSERT_TRUE(stripped.has_value()) << stripped.error().message();
  Result<FlatbufferDetachedBuffer<Configuration>> full =
      MaybeReadConfig(AOS_FLATTENED_BFBS);
  ASSERT_TRUE(full.has_value()) << full.error().message();
  const auto *channels = stripped->message().channels();
  ASSERT_EQ(channels->size(), full->message().channels()->size());
  for (size_t i = 0; i < channels->size(); ++i) {
    EXPECT_EQ(channels->Get(i)->schema(), nullptr);
    EXPECT_EQ(CleanedChannelToString(channels->Get(i)),
              CleanedChannelToString(full->message().channels()->Get(i)));
  }
  std::ifstream in(AOS_FLATTENED_STRIPPED_JSON);
  const std::string text(std::istreambuf_iterator<char>(in), {});
  EXPECT_THAT(text, HasSubstr("\"name\": \"/test\""));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("\"schema\"")));
}

int RunFlattener(const std::string &args, std::string *output) {
  const std::string command =
      std::string(AOS_CONFIG_FLATTENER) + " " + args + " 2>&1";
  FILE *pipe = popen(command.c_str(), "r");
  CHECK(pipe != nullptr);
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output->append(buffer, n);
  }
  return pclose(pipe);
}

TEST(ConfigFlattenerTest, FailsWithoutSchema) {
  aos::testing::TempDir dir;
  std::string output;
  EXPECT_NE(
      RunFlattener(TestData("config1.json") + " " + dir.path() + "/out.json " +
                       dir.path() + "/out.bfbs " + AOS_JSON_TEST_BFBS,
                   &output),
      0);
  EXPECT_THAT(output, HasSubstr("no schema for channel { \"name\": \"/base\", "
                                "\"type\": \".aos.bar\" }"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/out.stripped.json"));
  // Validation flags reach the flattener: past the memory limit, the next
  // error is the missing schema.
  output.clear();
  EXPECT_NE(
      RunFlattener(TestData("bad/queue_memory_too_large.json") + " " +
                       dir.path() + "/out.json " + dir.path() + "/out.bfbs",
                   &output),
      0);
  EXPECT_THAT(output, HasSubstr("MiB sanity limit"));
  output.clear();
  EXPECT_NE(
      RunFlattener("--max_queue_memory_mib=0 " +
                       TestData("bad/queue_memory_too_large.json") + " " +
                       dir.path() + "/out.json " + dir.path() + "/out.bfbs",
                   &output),
      0);
  EXPECT_THAT(output, HasSubstr("no schema for channel"));
  // Run by hand, the stripped output goes beside the JSON one.
  output.clear();
  EXPECT_EQ(RunFlattener(TestData("flattener_test.json") + " " + dir.path() +
                             "/by_hand.json " + dir.path() + "/by_hand.bfbs " +
                             AOS_JSON_TEST_BFBS,
                         &output),
            0)
      << output;
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/by_hand.stripped.json"));
  output.clear();
  EXPECT_NE(RunFlattener(TestData("max_size_not_8.json") + " " + dir.path() +
                             "/out.json " + dir.path() + "/out.bfbs",
                         &output),
            0);
  EXPECT_THAT(output, HasSubstr("must be a non-negative multiple of 8"));
  EXPECT_THAT(output, HasSubstr("round it up to 1008"));
}

}  // namespace
}  // namespace aos::configuration::testing
