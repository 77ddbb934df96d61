#include "aos/tools/aos_cli_utils.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "aos/configuration.h"
#include "aos/events/event_loop_generated.h"
#include "aos/examples/ping_generated.h"
#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/json_test_generated.h"
#include "aos/json_to_flatbuffer.h"
#include "aos/logging/log_message_generated.h"
#include "aos/logging/logging.h"
#include "aos/testing/tmpdir.h"
#include "aos/tools/shm_queues.h"
#include "aos/tools/timing_report_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// Two types on /test whose names share "aos.examples.P", one on /other, and
// an alias /alias -> /test.
constexpr std::string_view kConfig = R"({
  "channels": [
    {"name": "/test", "type": "aos.examples.Ping"},
    {"name": "/test", "type": "aos.examples.Pong"},
    {"name": "/other", "type": "aos.timing.Report", "max_size": 2048}
  ],
  "maps": [
    {"match": {"name": "/alias"}, "rename": {"name": "/test"}},
    {"match": {"name": "/prefix*"}, "rename": {"name": "/test"}}
  ]
})";

// The /aos channels a tool must stay off.
constexpr std::string_view kToolConfig = R"({"channels": [
  {"name": "/aos", "type": "aos.timing.Report", "max_size": 2048},
  {"name": "/aos", "type": "aos.logging.LogMessageFbs", "max_size": 512}
]})";

// Sets --config for one test.
class ScopedConfigFlag {
 public:
  explicit ScopedConfigFlag(const std::string &path) { FLAGS_config = path; }
  ~ScopedConfigFlag() { FLAGS_config = previous_; }

 private:
  const std::string previous_ = FLAGS_config;
};

TEST(ToolSetupTest, LoadsTheConfigAndNamesTheTool) {
  aos::testing::TempDir dir;
  const std::string path = dir.path() + "/tool_config.json";
  std::ofstream(path) << kToolConfig;
  ScopedConfigFlag config(path);
  Result<ToolSetup> setup = LoadToolSetup("my_tool");
  ASSERT_TRUE(setup.has_value()) << setup.error().message();
  EXPECT_EQ(setup->application_name, "my_tool");
  EXPECT_EQ(setup->node, nullptr);
  EXPECT_EQ(setup->configuration()->channels()->size(), 2u);
}

TEST(ToolSetupTest, AMissingConfigNamesTheFlag) {
  ScopedConfigFlag config("/no/such.json");
  Result<ToolSetup> setup = LoadToolSetup("my_tool");
  ASSERT_FALSE(setup.has_value());
  EXPECT_THAT(setup.error().message(),
              HasSubstr("cannot read --config=/no/such.json: Config file "
                        "/no/such.json not found"));
}

// A tool's loop takes no slot on /aos: it sends neither timing reports nor
// AOS_LOG messages (those go to stderr).
TEST(ToolSetupTest, ToolEventLoopsStayOffAos) {
  ToolSetup setup{.config = configuration::AddSchema(kToolConfig, {}),
                  .node = nullptr,
                  .application_name = "my_tool"};
  std::unique_ptr<ShmEventLoop> tool = MakeToolEventLoop(setup);
  EXPECT_EQ(tool->name(), "my_tool");
  ShmEventLoop other(setup.configuration());
  Fetcher<logging::LogMessageFbs> logs =
      other.MakeFetcher<logging::LogMessageFbs>("/aos");
  Fetcher<timing::Report> reports = other.MakeFetcher<timing::Report>("/aos");
  TimerHandler *timer = tool->AddTimer([&]() {
    AOS_LOG(INFO, "from a tool");
    tool->SendTimingReport();
    tool->Exit();
  });
  tool->OnRun([&]() { timer->Schedule(tool->monotonic_now()); });
  ASSERT_TRUE(tool->Run().has_value());
  EXPECT_FALSE(logs.Fetch());
  EXPECT_FALSE(reports.Fetch());
}

class FindChannelsTest : public ::testing::Test {
 protected:
  FindChannelsTest() : config_(configuration::AddSchema(kConfig, {})) {}

  Result<std::vector<const Channel *>> Find(std::string_view name,
                                            std::string_view type) {
    return FindChannels(&config_.message(), name, type, "tool", nullptr,
                        ChannelUse::kRead);
  }

  std::vector<std::string> Labels(
      const Result<std::vector<const Channel *>> &channels) {
    std::vector<std::string> labels;
    for (const Channel *channel : *channels) {
      labels.push_back(ChannelLabel(channel));
    }
    return labels;
  }

  FlatbufferDetachedBuffer<Configuration> config_;
};

TEST_F(FindChannelsTest, ExactType) {
  EXPECT_THAT(Labels(Find("/test", "aos.examples.Ping")),
              ElementsAre("/test aos.examples.Ping"));
}

TEST_F(FindChannelsTest, UniqueSubstring) {
  EXPECT_THAT(Labels(Find("/test", "Pong")),
              ElementsAre("/test aos.examples.Pong"));
}

TEST_F(FindChannelsTest, NoTypeMeansEveryType) {
  EXPECT_THAT(
      Labels(Find("/test", "")),
      ElementsAre("/test aos.examples.Ping", "/test aos.examples.Pong"));
}

TEST_F(FindChannelsTest, AmbiguousSubstring) {
  auto found = Find("/test", "examples.P");
  ASSERT_FALSE(found.has_value());
  EXPECT_THAT(found.error().message(), HasSubstr("is ambiguous"));
  EXPECT_THAT(found.error().message(),
              HasSubstr("aos.examples.Ping, aos.examples.Pong"));
}

TEST_F(FindChannelsTest, NoMatchingType) {
  auto found = Find("/test", "Foo");
  ASSERT_FALSE(found.has_value());
  EXPECT_THAT(found.error().message(),
              HasSubstr("no type matching 'Foo' on /test (types there: "
                        "aos.examples.Ping, aos.examples.Pong)"));
}

TEST_F(FindChannelsTest, UnknownName) {
  auto found = Find("/nope", "");
  ASSERT_FALSE(found.has_value());
  EXPECT_THAT(found.error().message(), HasSubstr("no channel named /nope"));
}

TEST_F(FindChannelsTest, NameWithoutSlash) {
  auto found = Find("test", "");
  ASSERT_FALSE(found.has_value());
  EXPECT_THAT(found.error().message(), HasSubstr("must start with '/'"));
}

TEST_F(FindChannelsTest, AliasesResolveThroughMaps) {
  EXPECT_THAT(Labels(Find("/alias", "Ping")),
              ElementsAre("/test aos.examples.Ping"));
  // A wildcard map: /prefix* renames /prefix to /test.
  EXPECT_THAT(Labels(Find("/prefix", "Ping")),
              ElementsAre("/test aos.examples.Ping"));
}

TEST_F(FindChannelsTest, ListsExactAliases) {
  const Channel *ping = Find("/test", "Ping")->front();
  EXPECT_THAT(ChannelAliases(&config_.message(), ping, "tool", nullptr),
              ElementsAre("/alias"));
  const Channel *report = Find("/other", "")->front();
  EXPECT_TRUE(
      ChannelAliases(&config_.message(), report, "tool", nullptr).empty());
}

TEST_F(FindChannelsTest, MissingSchemaIsAnError) {
  const Channel *ping = Find("/test", "Ping")->front();
  auto schema = ChannelSchema(&config_.message(), ping);
  ASSERT_FALSE(schema.has_value());
  EXPECT_THAT(schema.error().message(),
              HasSubstr("no schema for /test aos.examples.Ping"));
}

// A finished Ping flatbuffer and a context describing it.
class FormatMessageTest : public FindChannelsTest {
 protected:
  FormatMessageTest()
      : message_(JsonToFlatbuffer<examples::Ping>(
            R"({"value": 5, "send_time": 10})")) {
    context_.monotonic_event_time =
        monotonic_clock::time_point(std::chrono::seconds(2));
    context_.realtime_event_time =
        realtime_clock::time_point(std::chrono::seconds(1700000000));
    context_.monotonic_remote_time = context_.monotonic_event_time;
    context_.realtime_remote_time = context_.realtime_event_time;
    context_.queue_index = 3;
    context_.data = message_.span().data();
    context_.size = message_.span().size();
  }

  const Channel *ping() { return Find("/test", "Ping")->front(); }

  FlatbufferDetachedBuffer<examples::Ping> message_;
  Context context_;
};

TEST_F(FormatMessageTest, DefaultFormat) {
  std::ostringstream expected;
  expected << context_.realtime_event_time << " (2.000000000sec) /test "
           << "aos.examples.Ping: { \"value\": 5, \"send_time\": 10 }";
  EXPECT_EQ(FormatMessage(ping(), SchemaOf<examples::Ping>(), context_, {}),
            expected.str());
}

TEST_F(FormatMessageTest, RemoteTimes) {
  context_.monotonic_remote_time =
      monotonic_clock::time_point(std::chrono::seconds(1));
  EXPECT_THAT(FormatMessage(ping(), SchemaOf<examples::Ping>(), context_, {}),
              HasSubstr(" sent "));
  EXPECT_THAT(FormatMessage(ping(), SchemaOf<examples::Ping>(), context_, {}),
              HasSubstr("(1.000000000sec) /test aos.examples.Ping: "));
}

TEST_F(FormatMessageTest, JsonLines) {
  PrintOptions options;
  options.json = true;
  EXPECT_EQ(
      FormatMessage(ping(), SchemaOf<examples::Ping>(), context_, options),
      "{\"name\": \"/test\", \"type\": \"aos.examples.Ping\", "
      "\"monotonic_event_time\": 2000000000, \"realtime_event_time\": "
      "1700000000000000000, \"queue_index\": 3, \"size\": " +
          std::to_string(context_.size) +
          ", \"data\": { \"value\": 5, \"send_time\": 10 }}");
}

// JSON lines quote what JSON lacks (nan, inf, hex) but not strings that
// merely contain those letters, and AppendMessage appends exactly what
// FormatMessage returns (log_cat prints through it).
TEST_F(FormatMessageTest, JsonLinesQuoteNonFiniteAndAppend) {
  FlatbufferDetachedBuffer<testing::Everything> message =
      JsonToFlatbuffer<testing::Everything>(
          R"({"foo_int": 31, "foo_float": nan, "foo_string": "nan inf",
              "vector_foo_double": [ 1.5, -inf ]})");
  context_.data = message.span().data();
  context_.size = message.span().size();
  const reflection::Schema *schema = SchemaOf<testing::Everything>();
  PrintOptions options;
  options.json = true;
  const std::string line = FormatMessage(ping(), schema, context_, options);
  EXPECT_THAT(line, HasSubstr(R"("data": { "foo_int": 31, "foo_float": "nan", )"
                              R"("foo_string": "nan inf", )"
                              R"("vector_foo_double": [ 1.5, "-inf" ] }})"));
  std::string appended = "line 1\n";
  AppendMessage(&appended, ping(), schema, context_, options);
  EXPECT_EQ(appended, "line 1\n" + line);

  options.hex = true;
  EXPECT_THAT(FormatMessage(ping(), schema, context_, options),
              HasSubstr(R"("foo_int": "0x1f")"));
  // Without nan, inf or hex the payload is the printer's, untouched.
  options.hex = false;
  message = JsonToFlatbuffer<testing::Everything>(
      R"({"foo_float": 0.5, "foo_string": "infinite"})");
  context_.data = message.span().data();
  context_.size = message.span().size();
  EXPECT_THAT(FormatMessage(ping(), schema, context_, options),
              HasSubstr(R"("data": { "foo_float": 0.5, )"
                        R"("foo_string": "infinite" }})"));
}

TEST_F(FormatMessageTest, Pretty) {
  PrintOptions options;
  options.pretty = true;
  EXPECT_THAT(
      FormatMessage(ping(), SchemaOf<examples::Ping>(), context_, options),
      HasSubstr(": {\n \"value\": 5,\n \"send_time\": 10\n}"));
}

TEST_F(FormatMessageTest, InvalidPayloadIsNotPrinted) {
  std::vector<uint8_t> garbage(context_.size, 0xff);
  context_.data = garbage.data();
  EXPECT_THAT(FormatMessage(ping(), SchemaOf<examples::Ping>(), context_, {}),
              HasSubstr("/test aos.examples.Ping: <invalid message, " +
                        std::to_string(garbage.size()) + " bytes>"));
  PrintOptions options;
  options.json = true;
  EXPECT_THAT(
      FormatMessage(ping(), SchemaOf<examples::Ping>(), context_, options),
      HasSubstr("\"data\": null, \"error\": \"invalid message\"}"));
}

TEST(RateCounterTest, Windows) {
  const monotonic_clock::time_point start(std::chrono::seconds(10));
  RateCounter counter(start);
  EXPECT_EQ(
      FormatRate("/a T", counter.TakeWindow(start + std::chrono::seconds(1))),
      "/a T: no messages");
  const monotonic_clock::time_point second = start + std::chrono::seconds(1);
  for (int i = 0; i < 100; ++i) {
    counter.Add(second + i * std::chrono::milliseconds(10), 32);
  }
  const RateCounter::Window window =
      counter.TakeWindow(second + std::chrono::seconds(2));
  EXPECT_EQ(window.messages, 100u);
  EXPECT_EQ(window.bytes, 3200u);
  EXPECT_EQ(window.duration, std::chrono::seconds(2));
  EXPECT_EQ(window.min_gap, std::chrono::milliseconds(10));
  EXPECT_EQ(window.max_gap, std::chrono::milliseconds(10));
  EXPECT_EQ(FormatRate("/a T", window),
            "/a T: 50.0 msg/s, 1.60 KB/s, avg 32 B, period min 10.00ms max "
            "10.00ms");
  // The gap from the previous window's last message counts in the next.
  counter.Add(second + std::chrono::milliseconds(1010), 10);
  const RateCounter::Window next =
      counter.TakeWindow(second + std::chrono::seconds(3));
  EXPECT_EQ(next.messages, 1u);
  EXPECT_EQ(next.min_gap, std::chrono::milliseconds(20));
}

TEST(FormatBytesTest, Units) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(3200), "3.20 KB");
  EXPECT_EQ(FormatBytes(1.5e6), "1.50 MB");
}

// Timing reports carry nan averages for handlers that never ran: --json
// lines must still be JSON (jq rejects bare nan), so nan and infinities are
// strings there; the human format keeps them bare.
TEST(FormatMessageJsonTest, NanAndInfinityAreStringsInJsonLines) {
  FlatbufferDetachedBuffer<Configuration> config =
      configuration::AddSchema(kConfig, {});
  const Channel *channel = configuration::GetChannel(
      &config.message(), "/other", "aos.timing.Report", "test", nullptr);
  ASSERT_NE(channel, nullptr);
  FlatbufferDetachedBuffer<timing::Report> report =
      JsonToFlatbuffer<timing::Report>(R"({"name": "ping", "watchers": [
    {"channel_index": 0, "count": 0,
     "wakeup_latency": {"average": nan, "min": inf, "max": -inf}}]})");
  ASSERT_GT(report.span().size(), 0u);
  Context context;
  context.monotonic_event_time = monotonic_clock::epoch();
  context.realtime_event_time = realtime_clock::epoch();
  context.data = report.span().data();
  context.size = report.span().size();
  const reflection::Schema *schema = SchemaOf<timing::Report>();

  PrintOptions json;
  json.json = true;
  const std::string line = FormatMessage(channel, schema, context, json);
  EXPECT_THAT(line, HasSubstr("\"average\": \"nan\""));
  EXPECT_THAT(line, HasSubstr("\"min\": \"inf\""));
  EXPECT_THAT(line, HasSubstr("\"max\": \"-inf\""));
  EXPECT_THAT(line, Not(HasSubstr(": nan")));
  EXPECT_THAT(line, Not(HasSubstr(": inf")));

  json.hex = true;
  report = JsonToFlatbuffer<timing::Report>(R"({"name": "p", "pid": 31})");
  context.data = report.span().data();
  context.size = report.span().size();
  EXPECT_THAT(FormatMessage(channel, schema, context, json),
              HasSubstr("\"pid\": \"0x1f\""));

  EXPECT_THAT(FormatMessage(channel, schema, context, {}),
              HasSubstr("\"pid\": 31"));
}

TEST(QuoteNonJsonNumbersTest, QuotesOnlyBareTokens) {
  EXPECT_EQ(QuoteNonJsonNumbers(
                R"({ "a": nan, "b": -inf, "c": [ 1.5e-07, -0x1f, inf ], )"
                R"("nan": "inf nan \" -inf", "d": true, "e": -2 })"),
            R"({ "a": "nan", "b": "-inf", "c": [ 1.5e-07, "-0x1f", "inf" ], )"
            R"("nan": "inf nan \" -inf", "d": true, "e": -2 })");
}

TEST(TimingReportFormatTest, Table) {
  FlatbufferDetachedBuffer<Configuration> config =
      configuration::AddSchema(kConfig, {});
  FlatbufferDetachedBuffer<timing::Report> report =
      JsonToFlatbuffer<timing::Report>(R"({
    "name": "ping", "pid": 42,
    "watchers": [{"channel_index": 2, "count": 100,
                  "wakeup_latency": {"average": 0.000021, "min": 0.000004,
                                     "max": 0.00007, "standard_deviation": 0.00002},
                  "handler_time": {"average": 0.00002, "min": 0.000005,
                                   "max": 0.00003, "standard_deviation": 0.00001}}],
    "senders": [{"channel_index": 1, "count": 99,
                 "size": {"average": 32, "min": 32, "max": 32,
                          "standard_deviation": 0},
                 "error_counts": [{"error": "MESSAGE_SENT_TOO_FAST", "count": 1},
                                  {"error": "INVALID_REDZONE", "count": 0}]}],
    "fetchers": [{"channel_index": 17, "count": 0}],
    "timers": [{"name": "ping", "count": 100}, {"count": 3}]
  })");
  ASSERT_GT(report.span().size(), 0u);
  const std::string table =
      FormatTimingReport(&config.message(), report.message(),
                         monotonic_clock::time_point(std::chrono::seconds(5)));
  EXPECT_THAT(table, HasSubstr("ping (pid 42), report at 5.000000000sec\n"));
  EXPECT_THAT(table, HasSubstr("watcher  /test aos.examples.Pong"));
  EXPECT_THAT(table, HasSubstr("count    100  wakeup avg 21.0us min 4.0us max "
                               "70.0us sd 20.0us  handler avg 20.0us"));
  EXPECT_THAT(table, HasSubstr("sender   /test aos.examples.Ping"));
  EXPECT_THAT(table, HasSubstr("size avg 32 B min 32 B max 32 B  "
                               "MESSAGE_SENT_TOO_FAST 1\n"));
  EXPECT_THAT(table, Not(HasSubstr("INVALID_REDZONE")));
  EXPECT_THAT(table, HasSubstr("fetcher  channel 17"));
  EXPECT_THAT(table, HasSubstr("timer    ping"));
  EXPECT_THAT(table, HasSubstr("timer    (unnamed)"));
  EXPECT_THAT(table, HasSubstr("wakeup -  handler -"));
}

// Queue files made in a private directory.
class ShmQueuesTest : public ::testing::Test {
 protected:
  ipc_lib::LocklessQueueConfiguration QueueConfig() {
    ipc_lib::LocklessQueueConfiguration config;
    config.num_watchers = 2;
    config.num_senders = 2;
    config.num_pinners = 0;
    config.queue_size = 4;
    config.message_data_size = 64;
    return config;
  }

  ipc_lib::MemoryMappedQueue Make(std::string_view name,
                                  std::string_view type) {
    Result<ipc_lib::MemoryMappedQueue> queue = ipc_lib::MemoryMappedQueue::Open(
        ipc_lib::ShmPath(base_.path(), name, type), QueueConfig(), 0770);
    CHECK(queue.has_value()) << queue.error().message();
    return std::move(*queue);
  }

  testing::TempDir base_;
};

TEST_F(ShmQueuesTest, ListsAndFinds) {
  { Make("/a/b", "x.T"); }
  { Make("/a", "x.U"); }
  { Make("/a", "x.UU"); }
  Result<std::vector<QueueFile>> files = ListQueueFiles(base_.path());
  ASSERT_TRUE(files.has_value()) << files.error().message();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].channel_name, "/a");
  EXPECT_EQ((*files)[0].type, "x.U");
  EXPECT_EQ((*files)[1].type, "x.UU");
  EXPECT_EQ((*files)[2].channel_name, "/a/b");
  EXPECT_EQ((*files)[2].type, "x.T");

  // Exact wins over substring; a substring must match one type, as in
  // aos_dump.
  EXPECT_EQ(FindQueueFiles(base_.path(), "/a", "x.U")->size(), 1u);
  EXPECT_EQ(FindQueueFiles(base_.path(), "/a", "UU")->size(), 1u);
  EXPECT_THAT(FindQueueFiles(base_.path(), "/a", "U").error().message(),
              HasSubstr("type 'U' on /a is ambiguous: it matches x.U, x.UU"));
  EXPECT_EQ(FindQueueFiles(base_.path(), "/a", "")->size(), 2u);
  EXPECT_THAT(FindQueueFiles(base_.path(), "/a", "V").error().message(),
              HasSubstr("types there: x.U, x.UU"));
  EXPECT_THAT(FindQueueFiles(base_.path(), "/c", "").error().message(),
              HasSubstr("no queue file for channel /c"));
  EXPECT_THAT(ListQueueFiles(base_.path() + "/nope").error().message(),
              HasSubstr("is not a directory"));
}

TEST_F(ShmQueuesTest, RemovesStaleAndRefusesLive) {
  { Make("/a/b", "x.T"); }
  ipc_lib::MemoryMappedQueue live = Make("/c", "x.T");
  std::optional<ipc_lib::LocklessQueueSender> sender =
      ipc_lib::LocklessQueueSender::Make(live.queue(), std::chrono::seconds(1));
  ASSERT_TRUE(sender.has_value());

  Result<std::vector<QueueFile>> files = ListQueueFiles(base_.path());
  ASSERT_EQ(files->size(), 2u);
  EXPECT_THAT(FormatQueueSummary((*files)[0]), HasSubstr("stale"));
  EXPECT_THAT(FormatQueueSummary((*files)[1]), HasSubstr("in use"));
  EXPECT_THAT(FormatQueueSummary((*files)[1]), HasSubstr("1/2"));
  EXPECT_THAT(*DescribeQueue((*files)[1]),
              HasSubstr("sender 0: pid " + std::to_string(getpid())));

  EXPECT_TRUE(RemoveStaleQueue(base_.path(), (*files)[0]).has_value());
  // The now-empty channel directories go too, but not the base.
  EXPECT_FALSE(std::filesystem::exists(base_.path() + "/a"));
  EXPECT_TRUE(std::filesystem::exists(base_.path()));

  Result<void> refused = RemoveStaleQueue(base_.path(), (*files)[1]);
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(refused.error().message(),
              HasSubstr("refusing to remove /c x.T"));
  EXPECT_THAT(refused.error().message(),
              HasSubstr("sender 0 is owned by live process"));
  EXPECT_TRUE(std::filesystem::exists((*files)[1].path));

  sender.reset();
  EXPECT_TRUE(RemoveStaleQueue(base_.path(), (*files)[1]).has_value());
}

TEST_F(ShmQueuesTest, NotAQueueFile) {
  std::filesystem::create_directories(base_.path() + "/bad");
  { std::ofstream(base_.path() + "/bad/x.T.v1") << "not a queue"; }
  Result<std::vector<QueueFile>> files = ListQueueFiles(base_.path());
  ASSERT_EQ(files->size(), 1u);
  EXPECT_THAT(FormatQueueSummary(files->front()), HasSubstr("invalid: "));
  EXPECT_FALSE(DescribeQueue(files->front()).has_value());
  // Nobody maps it: it can go.
  EXPECT_TRUE(RemoveStaleQueue(base_.path(), files->front()).has_value());
}

}  // namespace
}  // namespace aos::cli
