// Multi-node replay: a two-node log recorded in simulation with a clock
// offset and drift between the nodes (TestingTimeConverter), replayed with
// LogReader. Every message replays on its node at its logged times, every
// forwarded message arrives after it was sent (on the receiver's clock), and
// the estimated clock offset is within its stated bound of the true one.

#include <filesystem>
#include <map>

#include "aos/configuration.h"
#include "aos/events/logging/log_reader.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/events/logging/logger.h"
#include "aos/events/logging/multinode_test_util.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/events/test_message_generated.h"
#include "aos/network/testing_time_converter.h"
#include "aos/testing/tmpdir.h"
#include "gflags/gflags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

DECLARE_bool(skip_missing_forwarding_entries);

namespace aos::logger::testing {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

// A simulation replaying `reader`'s log, with watchers on what Record
// watches (pi1's /test, /local and /reply; pi2's /test and /reply) collecting
// into `replayed`. The reader is deregistered before the factory goes.
struct WatchedReplay {
  explicit WatchedReplay(LogReader *reader)
      : factory(reader->configuration()),
        deregister(Register(reader, &factory)),
        pi1_observer(MakeObserver(
            &factory, configuration::GetNode(factory.configuration(), "pi1"),
            {"/test", "/local", "/reply"}, &replayed)),
        pi2_observer(MakeObserver(
            &factory, configuration::GetNode(factory.configuration(), "pi2"),
            {"/test", "/reply"}, &replayed)) {}

  static DeregisterAtExit Register(LogReader *reader,
                                   SimulatedEventLoopFactory *factory) {
    reader->Register(factory);
    return DeregisterAtExit{reader};
  }

  SimulatedEventLoopFactory factory;
  DeregisterAtExit deregister;
  std::vector<Seen> replayed;
  std::unique_ptr<EventLoop> pi1_observer;
  std::unique_ptr<EventLoop> pi2_observer;
};

class MultiNodeReplayTest : public ::testing::Test {
 protected:
  explicit MultiNodeReplayTest(std::string config = "multinode.json")
      : config_(configuration::ReadConfig(
            std::string(AOS_LOGGING_TESTDATA_DIR "/") + config)),
        pi1_(configuration::GetNode(&config_.message(), "pi1")),
        pi2_(configuration::GetNode(&config_.message(), "pi2")) {
    UseClocks(false);
  }

  // pi2's clock reads 1 s ahead of pi1's and runs 100 ppm faster; with
  // `drift_change`, 900 ppm slower from 1.3 s (distributed) on (a change
  // too large for one line to fit the log within the link delays).
  void UseClocks(bool drift_change) {
    time_ = std::make_unique<message_bridge::TestingTimeConverter>(2);
    time_->AddNextTimestamp(
        distributed_clock::epoch(),
        {BootTimestamp{0, monotonic_clock::epoch()},
         BootTimestamp{0, monotonic_clock::epoch() + seconds(1)}});
    if (drift_change) {
      time_->AddMonotonic(
          {milliseconds(1300) - microseconds(130), milliseconds(1300)});
      time_->AddMonotonic({seconds(100), seconds(100) - milliseconds(90)});
    } else {
      time_->AddMonotonic({seconds(100), seconds(100) + milliseconds(10)});
    }
  }

  // pi2's clock minus pi1's when pi1 reads `t`, as recorded.
  nanoseconds TrueOffset(monotonic_clock::time_point t) {
    const distributed_clock::time_point d =
        time_->ToDistributedClock(0, BootTimestamp{0, t});
    return time_->FromDistributedClock(1, d, 0) - t;
  }

  // Records 300 ms of traffic before the loggers start (the state they
  // fetch), then `duration` with both nodes logging into dir_.
  void Record(std::chrono::nanoseconds duration) {
    SimulatedEventLoopFactory factory(&config_.message());
    factory.SetTimeConverter(time_.get());
    factory.SkipTimingReport();
    auto pi1_loop = factory.MakeEventLoop("sender", pi1_);
    auto pi2_loop = factory.MakeEventLoop("sender", pi2_);
    Sender<TestMessage> test = pi1_loop->MakeSender<TestMessage>("/test");
    Sender<TestMessage> local = pi1_loop->MakeSender<TestMessage>("/local");
    Sender<TestMessage> reply = pi2_loop->MakeSender<TestMessage>("/reply");
    int pi1_value = 0;
    int pi2_value = 1000;
    pi1_loop
        ->AddTimer([&]() {
          Send(&test, pi1_value);
          Send(&local, pi1_value++);
        })
        ->Schedule(monotonic_clock::epoch() + milliseconds(10),
                   milliseconds(10));
    pi2_loop->AddTimer([&]() { Send(&reply, pi2_value++); })
        ->Schedule(monotonic_clock::epoch() + seconds(1) + milliseconds(5),
                   milliseconds(10));
    auto pi1_observer =
        MakeObserver(&factory, pi1_, {"/test", "/local", "/reply"}, &recorded_);
    auto pi2_observer =
        MakeObserver(&factory, pi2_, {"/test", "/reply"}, &recorded_);
    ASSERT_TRUE(factory.RunFor(milliseconds(300)));

    auto pi1_logger_loop = factory.MakeEventLoop("logger", pi1_);
    auto pi2_logger_loop = factory.MakeEventLoop("logger", pi2_);
    Logger pi1_logger(pi1_logger_loop.get());
    Logger pi2_logger(pi2_logger_loop.get());
    const UUID log_start = UUID::Random();
    pi1_logger.StartLogging(
        std::make_unique<LogNamer>(dir_.path() + "/pi1/", &config_.message(),
                                   pi1_),
        log_start);
    pi2_logger.StartLogging(
        std::make_unique<LogNamer>(dir_.path() + "/pi2/", &config_.message(),
                                   pi2_),
        log_start);
    start_["pi1"] = pi1_logger.monotonic_start_time();
    start_["pi2"] = pi2_logger.monotonic_start_time();
    ASSERT_TRUE(factory.RunFor(duration));
    end_["pi1"] = factory.GetNodeEventLoopFactory(pi1_)->monotonic_now();
    end_["pi2"] = factory.GetNodeEventLoopFactory(pi2_)->monotonic_now();
    pi1_logger.StopLogging();
    pi2_logger.StopLogging();
  }

  void ReplayAndCheck(nanoseconds min_delay, nanoseconds max_error,
                      bool constant_drift);

  // What watchers saw from each node's logger start to 10 ms before the end
  // (the last messages' watchers may not have run before the recording
  // stopped).
  std::vector<Seen> Window(const std::vector<Seen> &seen) {
    std::vector<Seen> out;
    for (const Seen &s : seen) {
      if (s.monotonic_event_time >= start_[s.node] &&
          s.monotonic_event_time < end_[s.node] - milliseconds(10)) {
        out.push_back(s);
      }
    }
    return out;
  }

  // By node, then time (then channel: messages sent at one instant on
  // different channels reach watchers in channel order in replay, in send
  // order when recorded).
  static std::vector<Seen> ByTime(std::vector<Seen> seen) {
    std::stable_sort(
        seen.begin(), seen.end(), [](const Seen &a, const Seen &b) {
          return std::tie(a.node, a.monotonic_event_time, a.channel) <
                 std::tie(b.node, b.monotonic_event_time, b.channel);
        });
    return seen;
  }

  const FlatbufferDetachedBuffer<Configuration> config_;
  const Node *const pi1_;
  const Node *const pi2_;
  std::unique_ptr<message_bridge::TestingTimeConverter> time_;
  aos::testing::TempDir dir_;
  std::vector<Seen> recorded_;
  std::map<std::string, monotonic_clock::time_point> start_;
  std::map<std::string, monotonic_clock::time_point> end_;
};

// Replays the recorded log and checks every message, causality with at
// least `min_delay` one-way, and the estimate within `max_error` of the
// truth (and within its bound for a constant drift).
void MultiNodeReplayTest::ReplayAndCheck(nanoseconds min_delay,
                                         nanoseconds max_error,
                                         bool constant_drift) {
  LogReader reader(Sorted({dir_.path()}));
  ASSERT_EQ(reader.LoggedNodes().size(), 2u);
  EXPECT_EQ(reader.LoggedNodes()[0]->name()->string_view(), "pi1");
  EXPECT_EQ(reader.LoggedNodes()[1]->name()->string_view(), "pi2");
  const Node *pi1 = reader.LoggedNodes()[0];
  const Node *pi2 = reader.LoggedNodes()[1];
  EXPECT_EQ(reader.monotonic_start_time(pi1), start_["pi1"]);
  EXPECT_EQ(reader.monotonic_start_time(pi2), start_["pi2"]);

  WatchedReplay replay(&reader);
  SimulatedEventLoopFactory &factory = replay.factory;
  const std::vector<Seen> &replayed = replay.replayed;
  bool ended = false;
  reader.OnEnd([&]() { ended = true; });
  ASSERT_TRUE(factory.Run());
  EXPECT_TRUE(ended);
  EXPECT_TRUE(reader.warnings().empty())
      << ::testing::PrintToString(reader.warnings());

  // Same messages, same times (both clocks), same remote times, per node.
  const std::vector<Seen> expected = ByTime(Window(recorded_));
  const std::vector<Seen> got = ByTime(Window(replayed));
  ASSERT_GT(expected.size(), 900u);
  std::map<std::string, int> counts;
  for (const Seen &s : expected) ++counts[s.node + " " + s.channel];
  EXPECT_GT(counts["pi2 /test"], 190);
  EXPECT_GT(counts["pi1 /reply"], 190);
  EXPECT_EQ(got, expected);

  // Causality: a forwarded message's send, mapped to the receiver's clock
  // through the replay's clocks, is no later than its receive. The link's
  // delays were 150 us both ways (send delay + network delay), and the
  // estimate is within its bound of the truth, so the slack is ~150 us.
  nanoseconds min_slack = nanoseconds::max();
  int forwarded = 0;
  for (const Seen &s : got) {
    // Forwarded: /test to pi2, /reply to pi1.
    if ((s.node == "pi1") == (s.channel == "/test")) continue;
    ++forwarded;
    NodeEventLoopFactory *receiver = factory.GetNodeEventLoopFactory(s.node);
    NodeEventLoopFactory *sender =
        factory.GetNodeEventLoopFactory(s.node == "pi1" ? "pi2" : "pi1");
    const monotonic_clock::time_point sent_on_receiver =
        receiver->FromDistributedClock(
            sender->ToDistributedClock(s.monotonic_remote_time));
    EXPECT_LE(sent_on_receiver, s.monotonic_event_time) << s;
    min_slack = std::min(min_slack, s.monotonic_event_time - sent_on_receiver);
  }
  EXPECT_GT(forwarded, 380);
  LOG(INFO) << "smallest replayed one-way delay: " << min_slack.count()
            << " ns";
  EXPECT_GE(min_slack, min_delay);

  // The estimate against the truth, over the log.
  ASSERT_EQ(reader.clock_estimates().size(), 1u);
  const internal::ClockEstimate &estimate = reader.clock_estimates()[0];
  EXPECT_EQ(estimate.a, 0u);
  EXPECT_EQ(estimate.b, 1u);
  EXPECT_GT(estimate.a_to_b_messages, 190u);
  EXPECT_GT(estimate.b_to_a_messages, 190u);
  // (150 us + 150 us) / 2, plus the drift over a delay.
  // (With a drift change, a piece may end on a slower message.)
  EXPECT_LE(estimate.estimate.error_bound,
            constant_drift ? microseconds(151) : microseconds(200));
  EXPECT_EQ(estimate.estimate.crossing, nanoseconds(0));
  EXPECT_EQ(estimate.estimate.windows > 1, !constant_drift);
  nanoseconds worst(0);
  for (monotonic_clock::time_point t = start_["pi1"]; t < end_["pi1"];
       t += milliseconds(1)) {
    const nanoseconds error =
        estimate.estimate.offset.Evaluate(t) - TrueOffset(t);
    worst = std::max(worst, error < nanoseconds(0) ? -error : error);
    // The replay's clocks are the estimate.
    NodeEventLoopFactory *node1 = factory.GetNodeEventLoopFactory(pi1);
    NodeEventLoopFactory *node2 = factory.GetNodeEventLoopFactory(pi2);
    const nanoseconds replay_offset =
        node2->FromDistributedClock(node1->ToDistributedClock(t)) - t;
    EXPECT_LE(
        std::abs(
            (replay_offset - estimate.estimate.offset.Evaluate(t)).count()),
        2);
  }
  LOG(INFO) << "worst clock offset error: " << worst.count() << " ns (bound "
            << estimate.estimate.error_bound.count() << " ns)";
  if (constant_drift) {
    EXPECT_LE(worst, estimate.estimate.error_bound);
  }
  EXPECT_LE(worst, max_error);
}

TEST_F(MultiNodeReplayTest, EveryMessageAtItsLoggedTimeAndCausal) {
  Record(seconds(2));
  // The link is symmetric (150 us each way): the midpoint is exact but for
  // the drift over a delay (100 ppm of 150 us) and rounding.
  ReplayAndCheck(microseconds(100), nanoseconds(100), true);
}

// pi2's drift turns from +100 ppm to -900 ppm 1 s into the log: the
// estimate follows it piecewise and every message stays causal.
TEST_F(MultiNodeReplayTest, DriftChangeStaysCausal) {
  UseClocks(/*drift_change=*/true);
  Record(seconds(2));
  // Measured: 2.3 us worst error, 150 us smallest one-way delay.
  ReplayAndCheck(microseconds(100), microseconds(20), false);
}

TEST_F(MultiNodeReplayTest, StateBeforeTheStartReachesFetchersOnly) {
  Record(milliseconds(500));
  LogReader reader(Sorted({dir_.path()}));
  SimulatedEventLoopFactory factory(reader.configuration());
  reader.Register(&factory);
  DeregisterAtExit deregister{&reader};
  const Node *pi2 = configuration::GetNode(factory.configuration(), "pi2");
  std::vector<Seen> replayed;
  auto observer = MakeObserver(&factory, pi2, {"/test", "/reply"}, &replayed);
  auto loop = factory.MakeEventLoop("fetcher", pi2);
  Fetcher<TestMessage> test = loop->MakeFetcher<TestMessage>("/test");
  std::optional<int> fetched;
  loop->OnRun([&]() {
    ASSERT_TRUE(test.Fetch());
    fetched = test->value();
    // Sent at the replay's start, the earliest pi2's clock reads: its
    // logger's start, or the nanosecond before when the estimate maps that
    // start to a fraction of a distributed nanosecond after the replay's
    // first instant (distributed time 0 is the earliest start of any node).
    EXPECT_LE(test.context().monotonic_event_time, start_["pi2"]);
    EXPECT_GE(test.context().monotonic_event_time,
              start_["pi2"] - nanoseconds(1));
  });
  ASSERT_TRUE(factory.Run());
  ASSERT_TRUE(fetched.has_value());
  // The last /test pi2 received before its logger started.
  std::optional<int> last_before;
  for (const Seen &s : recorded_) {
    if (s.node == "pi2" && s.channel == "/test" &&
        s.monotonic_event_time < start_["pi2"]) {
      last_before = s.value;
    }
  }
  EXPECT_EQ(fetched, last_before);
  // The latest /test before the start; watchers start at the next one.
  ASSERT_FALSE(replayed.empty());
  std::vector<Seen> tests;
  for (const Seen &s : replayed) {
    if (s.channel == "/test") tests.push_back(s);
  }
  ASSERT_FALSE(tests.empty());
  EXPECT_EQ(tests.front().value, *fetched + 1);
  EXPECT_GE(tests.front().monotonic_event_time, start_["pi2"]);
}

TEST_F(MultiNodeReplayTest, RemapKeepsLoggedDataOnOriginal) {
  Record(milliseconds(500));
  LogReader reader(Sorted({dir_.path()}));
  reader.RemapLoggedChannel<TestMessage>("/test");
  SimulatedEventLoopFactory factory(reader.configuration());
  reader.Register(&factory);
  DeregisterAtExit deregister{&reader};
  const Node *pi1 = configuration::GetNode(factory.configuration(), "pi1");
  const Node *pi2 = configuration::GetNode(factory.configuration(), "pi2");
  std::vector<Seen> original;
  std::vector<Seen> live;
  auto pi1_observer =
      MakeObserver(&factory, pi1, {"/original/test"}, &original);
  auto pi2_observer =
      MakeObserver(&factory, pi2, {"/original/test"}, &original);
  auto pi2_live = MakeObserver(&factory, pi2, {"/test"}, &live);
  // An application re-run on pi1 owns /test, and the bridge forwards it.
  auto app = factory.MakeEventLoop("app", pi1);
  Sender<TestMessage> test = app->MakeSender<TestMessage>("/test");
  app->OnRun([&]() { Send(&test, -1); });
  ASSERT_TRUE(factory.Run());
  std::map<std::string, int> counts;
  for (const Seen &s : original) ++counts[s.node];
  EXPECT_GT(counts["pi1"], 40);
  EXPECT_GT(counts["pi2"], 40);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].value, -1);
}

TEST_F(MultiNodeReplayTest, MissingNodeIsAClearError) {
  Record(milliseconds(300));
  // pi1 logged the delivery times of pi2's /reply; their data is in pi2's
  // parts, which are not given.
  Result<std::unique_ptr<LogReader>> reader =
      LogReader::Make(Sorted({dir_.path() + "/pi1"}));
  ASSERT_FALSE(reader.has_value());
  EXPECT_THAT(reader.error().message(),
              HasSubstr("node 'pi2' has no data parts"));
  EXPECT_THAT(reader.error().message(), HasSubstr("/reply"));
  EXPECT_THAT(reader.error().message(), HasSubstr("missing"));
}

// Without pi2's files, pi1's deliveries of pi2's /reply have no data; with
// upstream's --skip_missing_forwarding_entries they are dropped (with a
// warning) and the rest replays: pi1's own messages, and the /test pi1 sent
// pi2 (pi1 logged its delivery times there) on pi2.
TEST_F(MultiNodeReplayTest, SkipMissingForwardingEntries) {
  Record(milliseconds(500));
  gflags::FlagSaver flag_saver;
  FLAGS_skip_missing_forwarding_entries = true;
  LogReader reader(Sorted({dir_.path() + "/pi1"}));
  WatchedReplay replay(&reader);
  ASSERT_TRUE(replay.factory.Run());
  const std::vector<Seen> &replayed = replay.replayed;
  ASSERT_EQ(reader.warnings().size(), 1u);
  EXPECT_THAT(reader.warnings()[0],
              HasSubstr("--skip_missing_forwarding_entries"));
  std::vector<Seen> expected;
  for (const Seen &s : Window(recorded_)) {
    if (s.channel != "/reply") expected.push_back(s);
  }
  std::map<std::string, int> counts;
  for (const Seen &s : expected) ++counts[s.node + " " + s.channel];
  EXPECT_GT(counts["pi2 /test"], 40);
  EXPECT_EQ(ByTime(Window(replayed)), ByTime(expected));
}

// A log of pi1 alone, where pi1 also logged the data of pi2's /reply it
// received (logger_nodes). pi2 ran no logger (or its log is lost), yet what
// it did that the log holds replays on it: its /reply from pi1's copy, at
// the times pi2 sent them (on pi2's estimated clock), and the /test it
// received (pi1 logged the delivery times). Everything both nodes saw
// matches the recording.
class MultiNodeCopyReplayTest : public MultiNodeReplayTest {
 protected:
  MultiNodeCopyReplayTest() : MultiNodeReplayTest("multinode_copy.json") {}
};

TEST_F(MultiNodeCopyReplayTest, NodeWithoutItsLogReplaysFromCopies) {
  Record(seconds(1));
  LogReader reader(Sorted({dir_.path() + "/pi1"}));
  ASSERT_EQ(reader.LoggedNodes().size(), 1u);
  WatchedReplay replay(&reader);
  ASSERT_TRUE(replay.factory.Run());
  const std::vector<Seen> &replayed = replay.replayed;
  EXPECT_TRUE(reader.warnings().empty())
      << ::testing::PrintToString(reader.warnings());
  const std::vector<Seen> expected = ByTime(Window(recorded_));
  std::map<std::string, int> counts;
  for (const Seen &s : expected) ++counts[s.node + " " + s.channel];
  EXPECT_GT(counts["pi2 /reply"], 90);
  EXPECT_GT(counts["pi2 /test"], 90);
  EXPECT_GT(counts["pi1 /reply"], 90);
  EXPECT_EQ(ByTime(Window(replayed)), expected);
}

// SetStartTime/SetEndTime are realtime on each node's own clock (here the
// nodes' realtime clocks differ by pi2's 1 s offset, so a window on pi1's
// realtime leaves pi2's messages, a second later on its clock, out at the
// end); OnStart(node) runs as that node's replay starts.
TEST_F(MultiNodeReplayTest, StartAndEndTimesPerNode) {
  Record(seconds(1));
  LogReader reader(Sorted({dir_.path()}));
  const Node *pi1 = reader.LoggedNodes()[0];
  const Node *pi2 = reader.LoggedNodes()[1];
  const realtime_clock::time_point start =
      reader.realtime_start_time(pi1) + milliseconds(200);
  const realtime_clock::time_point end = start + milliseconds(400);
  reader.SetStartTime(start);
  reader.SetEndTime(end);
  SimulatedEventLoopFactory factory(reader.configuration());
  std::optional<monotonic_clock::time_point> pi2_started;
  reader.OnStart(pi2, [&]() {
    pi2_started = factory.GetNodeEventLoopFactory(pi2)->monotonic_now();
  });
  reader.Register(&factory);
  DeregisterAtExit deregister{&reader};
  std::vector<Seen> replayed;
  auto pi1_observer = MakeObserver(&factory, pi1, {"/local"}, &replayed);
  auto pi2_observer = MakeObserver(&factory, pi2, {"/reply"}, &replayed);
  ASSERT_TRUE(factory.Run());
  ASSERT_TRUE(pi2_started.has_value());
  // (Its clock at the replay's start is the estimate's, within ns.)
  EXPECT_LE(std::abs((*pi2_started - start_["pi2"]).count()), 1000);
  std::vector<Seen> pi1_seen, pi2_seen;
  for (const Seen &s : replayed) {
    (s.node == "pi1" ? pi1_seen : pi2_seen).push_back(s);
  }
  // pi1: exactly the window (ends included).
  std::vector<Seen> expected;
  for (const Seen &s : recorded_) {
    if (s.node == "pi1" && s.channel == "/local" &&
        s.realtime_event_time >= start && s.realtime_event_time <= end) {
      expected.push_back(s);
    }
  }
  EXPECT_EQ(expected.size(), 40u);
  EXPECT_EQ(pi1_seen, expected);
  EXPECT_GE(pi1_seen.front().realtime_event_time, start);
  EXPECT_LT(pi1_seen.front().realtime_event_time, start + milliseconds(10));
  EXPECT_LE(pi1_seen.back().realtime_event_time, end);
  // pi2: its realtime reads past `end` from its start: nothing watched.
  EXPECT_TRUE(pi2_seen.empty()) << ::testing::PrintToString(pi2_seen);
}

// pi2's data part cut in half (a crash): both nodes replay up to the cut,
// the /reply deliveries on pi1 whose data was lost are skipped, and the
// warnings say which file was cut and what was skipped.
TEST_F(MultiNodeReplayTest, TruncatedPartReplaysToTheCut) {
  // (The logger flushes a frame every second: 3 s make 3 frames.)
  Record(seconds(3));
  const std::string part = dir_.path() + "/pi2/pi2_data.part0.bfbs.zst";
  ASSERT_TRUE(std::filesystem::exists(part));
  std::filesystem::resize_file(part, std::filesystem::file_size(part) / 2);
  LogReader reader(Sorted({dir_.path()}));
  SimulatedEventLoopFactory factory(reader.configuration());
  reader.Register(&factory);
  DeregisterAtExit deregister{&reader};
  std::vector<Seen> replayed;
  auto pi1_observer =
      MakeObserver(&factory, reader.LoggedNodes()[0], {"/reply"}, &replayed);
  auto pi2_observer =
      MakeObserver(&factory, reader.LoggedNodes()[1], {"/reply"}, &replayed);
  ASSERT_TRUE(factory.Run());
  std::map<std::string, int> counts;
  for (const Seen &s : replayed) ++counts[s.node];
  // Some, not all, of the ~300 replies logged.
  EXPECT_GT(counts["pi2"], 50);
  EXPECT_LT(counts["pi2"], 250);
  EXPECT_EQ(counts["pi1"], counts["pi2"]);
  std::string all;
  for (const std::string &w : reader.warnings()) all += w + "\n";
  EXPECT_THAT(all, HasSubstr(part));
  EXPECT_THAT(all, HasSubstr("no data for the message delivered"));
}

// Three nodes in a chain (pi1 <-> pi2 <-> pi3, nothing between pi1 and
// pi3): pi3's clock is estimated through pi2's, composing the two pair
// estimates.
TEST(MultiNodeChainReplayTest, ClocksComposeThroughTheMiddleNode) {
  const FlatbufferDetachedBuffer<Configuration> config =
      configuration::ReadConfig(AOS_LOGGING_TESTDATA_DIR
                                "/multinode_chain.json");
  const Configuration *c = &config.message();
  const std::vector<const Node *> nodes = {configuration::GetNode(c, "pi1"),
                                           configuration::GetNode(c, "pi2"),
                                           configuration::GetNode(c, "pi3")};
  const std::map<std::string, std::string> source = {
      {"/a", "pi1"}, {"/b", "pi2"}, {"/c", "pi2"}, {"/d", "pi3"}};
  const std::vector<std::vector<std::string>> readable = {
      {"/a", "/b"}, {"/a", "/b", "/c", "/d"}, {"/c", "/d"}};
  // pi2 1 s ahead and 100 ppm fast, pi3 2 s ahead and 150 ppm slow, against
  // pi1.
  message_bridge::TestingTimeConverter time(3);
  time.AddNextTimestamp(
      distributed_clock::epoch(),
      {BootTimestamp{0, monotonic_clock::epoch()},
       BootTimestamp{0, monotonic_clock::epoch() + seconds(1)},
       BootTimestamp{0, monotonic_clock::epoch() + seconds(2)}});
  time.AddMonotonic({seconds(100), seconds(100) + milliseconds(10),
                     seconds(100) - milliseconds(5)});
  aos::testing::TempDir dir;
  std::vector<Seen> recorded;
  std::map<std::string, monotonic_clock::time_point> start;
  std::map<std::string, monotonic_clock::time_point> end;
  {
    SimulatedEventLoopFactory factory(c);
    factory.SetTimeConverter(&time);
    factory.SkipTimingReport();
    std::vector<std::unique_ptr<EventLoop>> loops;
    std::vector<std::unique_ptr<Sender<TestMessage>>> senders;
    int value = 0;
    const auto send_every_10ms = [&](size_t node, std::string channel,
                                     nanoseconds phase) {
      loops.push_back(factory.MakeEventLoop("sender", nodes[node]));
      senders.push_back(std::make_unique<Sender<TestMessage>>(
          loops.back()->MakeSender<TestMessage>(channel)));
      Sender<TestMessage> *sender = senders.back().get();
      loops.back()
          ->AddTimer([sender, &value]() { Send(sender, value++); })
          ->Schedule(monotonic_clock::epoch() + seconds(node) + phase,
                     milliseconds(10));
    };
    send_every_10ms(0, "/a", milliseconds(1));
    send_every_10ms(1, "/b", milliseconds(3));
    send_every_10ms(1, "/c", milliseconds(6));
    send_every_10ms(2, "/d", milliseconds(8));
    for (size_t i = 0; i < 3; ++i) {
      loops.push_back(MakeObserver(&factory, nodes[i], readable[i], &recorded));
    }
    ASSERT_TRUE(factory.RunFor(milliseconds(300)));
    std::vector<std::unique_ptr<EventLoop>> logger_loops;
    std::vector<std::unique_ptr<Logger>> loggers;
    const UUID log_start = UUID::Random();
    for (const Node *node : nodes) {
      logger_loops.push_back(factory.MakeEventLoop("logger", node));
      loggers.push_back(std::make_unique<Logger>(logger_loops.back().get()));
      loggers.back()->StartLogging(
          std::make_unique<LogNamer>(
              dir.path() + "/" + node->name()->str() + "/", c, node),
          log_start);
      start[node->name()->str()] = loggers.back()->monotonic_start_time();
    }
    ASSERT_TRUE(factory.RunFor(seconds(2)));
    for (const Node *node : nodes) {
      end[node->name()->str()] =
          factory.GetNodeEventLoopFactory(node)->monotonic_now();
    }
    for (auto &logger : loggers) logger->StopLogging();
  }

  LogReader reader(Sorted({dir.path()}));
  ASSERT_EQ(reader.LoggedNodes().size(), 3u);
  SimulatedEventLoopFactory factory(reader.configuration());
  // (The configuration has no timing report channels.)
  factory.SkipTimingReport();
  reader.Register(&factory);
  DeregisterAtExit deregister{&reader};
  std::vector<Seen> replayed;
  std::vector<std::unique_ptr<EventLoop>> observers;
  for (size_t i = 0; i < 3; ++i) {
    observers.push_back(MakeObserver(
        &factory, configuration::GetNode(factory.configuration(), i),
        readable[i], &replayed));
  }
  ASSERT_TRUE(factory.Run());
  EXPECT_TRUE(reader.warnings().empty())
      << ::testing::PrintToString(reader.warnings());

  const auto window = [&](const std::vector<Seen> &seen) {
    std::vector<Seen> out;
    for (const Seen &s : seen) {
      if (s.monotonic_event_time >= start[s.node] &&
          s.monotonic_event_time < end[s.node] - milliseconds(10)) {
        out.push_back(s);
      }
    }
    std::stable_sort(out.begin(), out.end(), [](const Seen &a, const Seen &b) {
      return std::tie(a.node, a.monotonic_event_time, a.channel) <
             std::tie(b.node, b.monotonic_event_time, b.channel);
    });
    return out;
  };
  const std::vector<Seen> expected = window(recorded);
  const std::vector<Seen> got = window(replayed);
  EXPECT_GT(expected.size(), 1500u);
  for (size_t k = 0; k < std::min(got.size(), expected.size()); ++k) {
    if (!(got[k] == expected[k])) {
      ADD_FAILURE() << "first difference at " << k << ": replayed " << got[k]
                    << ", recorded " << expected[k];
      break;
    }
  }
  EXPECT_EQ(got.size(), expected.size());

  nanoseconds min_slack = nanoseconds::max();
  for (const Seen &s : got) {
    const std::string &from = source.at(s.channel);
    if (from == s.node) continue;
    const monotonic_clock::time_point sent_on_receiver =
        factory.GetNodeEventLoopFactory(s.node)->FromDistributedClock(
            factory.GetNodeEventLoopFactory(from)->ToDistributedClock(
                s.monotonic_remote_time));
    EXPECT_LE(sent_on_receiver, s.monotonic_event_time) << s;
    min_slack = std::min(min_slack, s.monotonic_event_time - sent_on_receiver);
  }
  EXPECT_GE(min_slack, microseconds(100));

  // Two pair estimates (pi1-pi2, pi2-pi3), none between pi1 and pi3.
  ASSERT_EQ(reader.clock_estimates().size(), 2u);
  EXPECT_EQ(reader.clock_estimates()[0].a, 0u);
  EXPECT_EQ(reader.clock_estimates()[0].b, 1u);
  EXPECT_EQ(reader.clock_estimates()[1].a, 1u);
  EXPECT_EQ(reader.clock_estimates()[1].b, 2u);
  const nanoseconds bound = reader.clock_estimates()[0].estimate.error_bound +
                            reader.clock_estimates()[1].estimate.error_bound;
  // pi3's replayed clock against its recorded one, at pi1's times.
  nanoseconds worst(0);
  NodeEventLoopFactory *pi1 = factory.GetNodeEventLoopFactory("pi1");
  NodeEventLoopFactory *pi3 = factory.GetNodeEventLoopFactory("pi3");
  for (monotonic_clock::time_point t = start["pi1"]; t < end["pi1"];
       t += milliseconds(1)) {
    const nanoseconds truth =
        time.FromDistributedClock(
            2, time.ToDistributedClock(0, BootTimestamp{0, t}), 0) -
        t;
    const nanoseconds replay =
        pi3->FromDistributedClock(pi1->ToDistributedClock(t)) - t;
    const nanoseconds error = replay - truth;
    worst = std::max(worst, error < nanoseconds(0) ? -error : error);
  }
  LOG(INFO) << "pi3 through pi2: worst clock offset error " << worst.count()
            << " ns (bound " << bound.count() << " ns)";
  EXPECT_LE(worst, bound);
  EXPECT_LE(worst, nanoseconds(100));
}

}  // namespace
}  // namespace aos::logger::testing
