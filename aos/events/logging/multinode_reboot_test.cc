// Multi-node replay across a reboot: pi2 reboots in the middle of a
// two-node log recorded in simulation (TestingTimeConverter: pi2 1 s ahead
// and 100 ppm fast in its first boot, starting at the epoch and 500 ppm slow
// in its second). pi1 logs throughout; pi2 logs each boot (its logger
// restarts with the node). The replay reboots pi2 where the estimate says,
// and every message replays on its node, in its boot, at its logged times;
// forwarded messages stay causal; each boot's clock offset is within its
// stated bound of the truth.

#include <map>

#include "aos/configuration.h"
#include "aos/events/logging/log_reader.h"
#include "aos/events/logging/logger.h"
#include "aos/events/logging/multinode_test_util.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/network/testing_time_converter.h"
#include "aos/testing/tmpdir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::logger::testing {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr distributed_clock::time_point kReboot =
    distributed_clock::epoch() + seconds(1);
constexpr std::chrono::nanoseconds kDuration = seconds(2);

// pi2's /reply sender, made again at every boot.
struct ReplyApp {
  ReplyApp(EventLoop *loop, int *value)
      : sender(loop->MakeSender<TestMessage>("/reply")) {
    loop->AddTimer([this, value]() { Send(&sender, (*value)++); })
        ->Schedule(loop->monotonic_now() + milliseconds(5), milliseconds(10));
  }
  Sender<TestMessage> sender;
};

struct ObserverApp {
  ObserverApp(EventLoop *loop, SimulatedEventLoopFactory *factory,
              const Node *node, std::vector<Seen> *seen) {
    Observe(loop, factory, node, {"/test", "/reply"}, seen);
  }
};

// A logger that starts when its loop runs: one log per boot of its node.
struct LoggerApp {
  LoggerApp(EventLoop *loop, std::string base, const Configuration *config,
            const Node *node, UUID log_start,
            std::vector<monotonic_clock::time_point> *starts)
      : logger(loop) {
    loop->OnRun([this, base, config, node, log_start, starts]() {
      logger.StartLogging(std::make_unique<LogNamer>(base, config, node),
                          log_start);
      starts->push_back(logger.monotonic_start_time());
    });
  }
  Logger logger;
};

// Checks, as a forwarded message arrives, that its send mapped to the
// receiver's clock is no later than its receive (when the sender is still
// in the boot that sent it).
struct CausalityCheck {
  nanoseconds min_slack = nanoseconds::max();
  int checked = 0;

  void Watch(EventLoop *loop, std::string_view channel,
             NodeEventLoopFactory *receiver, NodeEventLoopFactory *sender) {
    loop->MakeRawWatcher(
        configuration::GetChannel(loop->configuration(), channel,
                                  "aos.TestMessage", "", loop->node()),
        [this, loop, receiver, sender](const Context &context, const void *) {
          if (context.source_boot_uuid != sender->boot_uuid()) return;
          const monotonic_clock::time_point sent_on_receiver =
              receiver->FromDistributedClock(
                  sender->ToDistributedClock(context.monotonic_remote_time));
          EXPECT_LE(sent_on_receiver, context.monotonic_event_time)
              << loop->node()->name()->string_view();
          min_slack = std::min(min_slack,
                               context.monotonic_event_time - sent_on_receiver);
          ++checked;
        });
  }
};

// CausalityCheck::Watch on a loop of its own, made at every boot.
struct CausalityApp {
  CausalityApp(EventLoop *loop, CausalityCheck *check, std::string channel,
               NodeEventLoopFactory *receiver, NodeEventLoopFactory *sender) {
    check->Watch(loop, channel, receiver, sender);
  }
};

class MultiNodeRebootTest : public ::testing::Test {
 protected:
  MultiNodeRebootTest()
      : config_(configuration::ReadConfig(AOS_LOGGING_TESTDATA_DIR
                                          "/multinode.json")),
        pi1_(configuration::GetNode(&config_.message(), "pi1")),
        pi2_(configuration::GetNode(&config_.message(), "pi2")),
        time_(2) {
    const monotonic_clock::time_point e = monotonic_clock::epoch();
    time_.AddNextTimestamp(
        distributed_clock::epoch(),
        {BootTimestamp{0, e}, BootTimestamp{0, e + seconds(1)}});
    // +100 ppm until the reboot.
    time_.AddNextTimestamp(
        kReboot, {BootTimestamp{0, e + seconds(1)},
                  BootTimestamp{0, e + seconds(2) + microseconds(100)}});
    time_.RebootAt(1, kReboot);
    // -500 ppm from the epoch of the second boot.
    time_.AddNextTimestamp(
        distributed_clock::epoch() + seconds(100),
        {BootTimestamp{0, e + seconds(100)},
         BootTimestamp{1, e + seconds(99) - microseconds(49500)}});
  }

  // pi2's clock in `boot` minus pi1's, when pi1 reads `t`, as recorded.
  nanoseconds TrueOffset(monotonic_clock::time_point t, size_t boot) {
    return time_.FromDistributedClock(
               1, time_.ToDistributedClock(0, BootTimestamp{0, t}), boot) -
           t;
  }

  // Records kDuration with pi2 logging each boot N into dir/pi2_boot<N>/
  // and, if `pi1_logs`, pi1 into dir/pi1/.
  void Record(bool pi1_logs = true) {
    SimulatedEventLoopFactory factory(&config_.message());
    factory.SetTimeConverter(&time_);
    factory.SkipTimingReport();
    const UUID log_start = UUID::Random();
    auto pi1_loop = factory.MakeEventLoop("sender", pi1_);
    Sender<TestMessage> test = pi1_loop->MakeSender<TestMessage>("/test");
    Sender<TestMessage> local = pi1_loop->MakeSender<TestMessage>("/local");
    int pi1_value = 0;
    pi1_loop
        ->AddTimer([&]() {
          Send(&test, pi1_value);
          Send(&local, pi1_value++);
        })
        ->Schedule(monotonic_clock::epoch() + milliseconds(10),
                   milliseconds(10));
    auto pi1_observer =
        MakeObserver(&factory, pi1_, {"/test", "/local", "/reply"}, &recorded_);
    std::unique_ptr<EventLoop> pi1_logger_loop;
    std::optional<LoggerApp> pi1_logger;
    if (pi1_logs) {
      pi1_logger_loop = factory.MakeEventLoop("logger", pi1_);
      pi1_logger.emplace(pi1_logger_loop.get(), dir_.path() + "/pi1/",
                         &config_.message(), pi1_, log_start, &starts_["pi1"]);
    }
    NodeEventLoopFactory *pi2 = factory.GetNodeEventLoopFactory(pi2_);
    int pi2_value = 1000;
    LoggerApp *pi2_logger = nullptr;
    pi2->OnStartup([&]() {
      pi2->AlwaysStart<ReplyApp>("reply", &pi2_value);
      pi2->AlwaysStart<ObserverApp>("observer", &factory, pi2_, &recorded_);
      pi2_logger = pi2->AlwaysStart<LoggerApp>(
          "logger",
          dir_.path() + "/pi2_boot" + std::to_string(pi2->boot_count()) + "/",
          &config_.message(), pi2_, log_start, &starts_["pi2"]);
    });
    pi2->OnShutdown([&]() {
      ends_["pi2"].push_back(pi2->monotonic_now());
      pi2_boot_uuids_.push_back(pi2->boot_uuid());
    });
    ASSERT_TRUE(factory.RunFor(kDuration));
    ends_["pi1"].push_back(
        factory.GetNodeEventLoopFactory(pi1_)->monotonic_now());
    ends_["pi2"].push_back(pi2->monotonic_now());
    pi2_boot_uuids_.push_back(pi2->boot_uuid());
    if (pi1_logger.has_value()) pi1_logger->logger.StopLogging();
    pi2_logger->logger.StopLogging();
  }

  // What watchers saw while their node's boot was logged, up to 10 ms
  // before the boot (or the recording) ended: the last messages' watchers
  // may not have run before the logger stopped.
  std::vector<Seen> Window(const std::vector<Seen> &seen) {
    std::vector<Seen> out;
    for (const Seen &s : seen) {
      const monotonic_clock::time_point start = starts_[s.node].at(s.boot);
      const monotonic_clock::time_point end = ends_[s.node].at(s.boot);
      if (s.monotonic_event_time >= start &&
          s.monotonic_event_time < end - milliseconds(10)) {
        out.push_back(s);
      }
    }
    std::stable_sort(out.begin(), out.end(), [](const Seen &a, const Seen &b) {
      return std::tie(a.node, a.boot, a.monotonic_event_time, a.channel) <
             std::tie(b.node, b.boot, b.monotonic_event_time, b.channel);
    });
    return out;
  }

  const FlatbufferDetachedBuffer<Configuration> config_;
  const Node *const pi1_;
  const Node *const pi2_;
  message_bridge::TestingTimeConverter time_;
  aos::testing::TempDir dir_;
  std::vector<Seen> recorded_;
  // Per node: each boot's logger start, and each boot's end.
  std::map<std::string, std::vector<monotonic_clock::time_point>> starts_;
  std::map<std::string, std::vector<monotonic_clock::time_point>> ends_;
  std::vector<UUID> pi2_boot_uuids_;
};

TEST_F(MultiNodeRebootTest, EachBootReplaysAtItsLoggedTimes) {
  Record();
  ASSERT_EQ(starts_["pi2"].size(), 2u);
  std::vector<LogFile> logs = Sorted({dir_.path()});
  ASSERT_EQ(logs.size(), 3u);  // pi1, pi2's first boot, pi2's second boot
  ASSERT_NE(logs.front().boots, nullptr);
  EXPECT_EQ(logs.front().boots->error, "");
  EXPECT_EQ(logs.front().boots->boots.at("pi2"),
            (std::vector<std::string>{pi2_boot_uuids_[0].ToString(),
                                      pi2_boot_uuids_[1].ToString()}));

  LogReader reader(std::move(logs));
  SimulatedEventLoopFactory factory(reader.configuration());
  reader.Register(&factory);
  DeregisterAtExit deregister{&reader};
  const Node *pi1 = configuration::GetNode(factory.configuration(), "pi1");
  const Node *pi2 = configuration::GetNode(factory.configuration(), "pi2");
  NodeEventLoopFactory *pi1_factory = factory.GetNodeEventLoopFactory(pi1);
  NodeEventLoopFactory *pi2_factory = factory.GetNodeEventLoopFactory(pi2);
  std::vector<Seen> replayed;
  CausalityCheck causality;
  auto pi1_observer =
      MakeObserver(&factory, pi1, {"/test", "/local", "/reply"}, &replayed);
  auto pi1_causality = factory.MakeEventLoop("causality", pi1);
  causality.Watch(pi1_causality.get(), "/reply", pi1_factory, pi2_factory);
  // pi2's clock at each of its boots, on pi1's.
  std::vector<monotonic_clock::time_point> pi2_boots_on_pi1;
  pi2_factory->OnStartup([&]() {
    pi2_boots_on_pi1.push_back(pi1_factory->monotonic_now());
    pi2_factory->AlwaysStart<ObserverApp>("observer", &factory, pi2, &replayed);
    pi2_factory->AlwaysStart<CausalityApp>("causality", &causality, "/test",
                                           pi2_factory, pi1_factory);
  });
  bool ended = false;
  reader.OnEnd([&]() { ended = true; });
  ASSERT_TRUE(factory.Run());
  EXPECT_TRUE(ended);
  EXPECT_TRUE(reader.warnings().empty())
      << ::testing::PrintToString(reader.warnings());
  EXPECT_EQ(pi2_factory->boot_count(), 1u);

  // Every message, on its node and boot, at its logged times.
  const std::vector<Seen> expected = Window(recorded_);
  std::map<std::string, int> counts;
  for (const Seen &s : expected) {
    ++counts[s.node + " " + std::to_string(s.boot) + " " + s.channel];
  }
  EXPECT_GT(counts["pi2 0 /test"], 90) << ::testing::PrintToString(counts);
  EXPECT_GT(counts["pi2 1 /test"], 90) << ::testing::PrintToString(counts);
  EXPECT_GT(counts["pi1 0 /reply"], 180) << ::testing::PrintToString(counts);
  EXPECT_EQ(Window(replayed), expected);

  // /reply on pi1 from both of pi2's boots and /test on both, causal.
  EXPECT_GT(causality.checked, 360);
  EXPECT_GE(causality.min_slack, microseconds(100));
  LOG(INFO) << "smallest replayed one-way delay: "
            << causality.min_slack.count() << " ns";

  // One estimate per boot of pi2 (boots 1 and 2 of the log), each within
  // its bound of the truth over that boot.
  ASSERT_EQ(reader.clock_estimates().size(), 2u);
  for (const internal::ClockEstimate &estimate : reader.clock_estimates()) {
    ASSERT_EQ(estimate.a, 0u);
    ASSERT_TRUE(estimate.b == 1u || estimate.b == 2u);
    const size_t boot = estimate.b - 1;
    EXPECT_GT(estimate.a_to_b_messages, 80u);
    EXPECT_GT(estimate.b_to_a_messages, 80u);
    EXPECT_LE(estimate.estimate.error_bound, microseconds(151));
    // pi1's clock over the boot: the first boot from pi1's logger start to
    // the reboot, the second from the reboot to the end.
    const monotonic_clock::time_point from =
        boot == 0 ? starts_["pi1"][0] : monotonic_clock::epoch() + seconds(1);
    const monotonic_clock::time_point to =
        boot == 0 ? monotonic_clock::epoch() + seconds(1) : ends_["pi1"][0];
    nanoseconds worst(0);
    for (monotonic_clock::time_point t = from; t < to; t += milliseconds(1)) {
      const nanoseconds error =
          estimate.estimate.offset.Evaluate(t) - TrueOffset(t, boot);
      worst = std::max(worst, error < nanoseconds(0) ? -error : error);
    }
    LOG(INFO) << "pi2 boot " << boot << ": worst clock offset error "
              << worst.count() << " ns (bound "
              << estimate.estimate.error_bound.count() << " ns)";
    EXPECT_LE(worst, estimate.estimate.error_bound);
    EXPECT_LE(worst, microseconds(1));
  }
  // pi2 rebooted in the replay where it did in the recording (pi1's clock
  // read 1 s), within the estimate's error.
  ASSERT_EQ(pi2_boots_on_pi1.size(), 2u);
  EXPECT_LE(
      std::abs((pi2_boots_on_pi1[1] - (monotonic_clock::epoch() + seconds(1)))
                   .count()),
      1000);
}

// pi1's logger rotates its delivery timestamps of /reply (TIMESTAMPS parts)
// when pi2 reboots, so each part's header names the boot its deliveries
// came from; SortParts splits the sequence there and orders pi2's boots.
TEST_F(MultiNodeRebootTest, TimestampPartsRotateWhenTheSourceReboots) {
  Record();
  std::vector<LogFile> logs = Sorted({dir_.path() + "/pi1"});
  ASSERT_EQ(logs.size(), 1u);
  std::vector<std::string> pi2_boots_in_timestamps;
  for (const LogParts &parts : logs[0].parts) {
    if (std::ranges::find(parts.data_stored, StoredDataType::TIMESTAMPS) ==
        parts.data_stored.end()) {
      continue;
    }
    ASSERT_EQ(parts.boot_uuids.size(), 2u);
    pi2_boots_in_timestamps.push_back(parts.boot_uuids[1]);
  }
  EXPECT_EQ(pi2_boots_in_timestamps,
            (std::vector<std::string>{pi2_boot_uuids_[0].ToString(),
                                      pi2_boot_uuids_[1].ToString()}));
  // pi1's log alone orders pi2's boots.
  EXPECT_EQ(logs[0].boots->error, "");
  EXPECT_EQ(logs[0].boots->boots.at("pi2"),
            (std::vector<std::string>{pi2_boot_uuids_[0].ToString(),
                                      pi2_boot_uuids_[1].ToString()}));
}

// pi2's own logs, one per boot, say nothing about which boot came first:
// a clear error, not a guess.
TEST_F(MultiNodeRebootTest, UnorderedBootsAreAClearError) {
  Record(/*pi1_logs=*/false);
  Result<std::unique_ptr<LogReader>> reader = LogReader::Make(
      Sorted({dir_.path() + "/pi2_boot0", dir_.path() + "/pi2_boot1"}));
  ASSERT_FALSE(reader.has_value());
  EXPECT_THAT(reader.error().message(),
              HasSubstr("cannot order the boots of node 'pi2'"));
  EXPECT_THAT(reader.error().message(),
              HasSubstr(pi2_boot_uuids_[0].ToString()));
  EXPECT_THAT(reader.error().message(),
              HasSubstr(pi2_boot_uuids_[1].ToString()));
}

}  // namespace
}  // namespace aos::logger::testing
