// Multi-node replay across a reboot: one node reboots in the middle of a
// two-node log recorded in simulation (TestingTimeConverter: pi2 1 s ahead
// and 100 ppm fast; the rebooted node starts at the epoch and runs 500 ppm
// slow in its second boot). Each node logs each boot (its logger restarts
// with the node). The replay reboots the node where the estimate says, and
// every message replays on its node, in its boot, at its logged times;
// forwarded messages stay causal; each boot's clock offset is within its
// stated bound of the truth.

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "aos/configuration.h"
#include "aos/events/logging/log_reader.h"
#include "aos/events/logging/logger.h"
#include "aos/events/logging/multinode_test_util.h"
#include "aos/events/shm_event_loop.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/network/testing_time_converter.h"
#include "aos/testing/tmpdir.h"
#include "gflags/gflags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

DECLARE_string(override_hostname);

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

// A node's senders, made again at every boot: pi1 sends /test and /local,
// pi2 /reply, every 10 ms; values count on across boots.
struct SenderApp {
  SenderApp(EventLoop *loop, std::vector<std::string> channels, int *value)
      : value(value) {
    for (const std::string &channel : channels) {
      senders.push_back(loop->MakeSender<TestMessage>(channel));
    }
    loop->AddTimer([this]() {
          for (Sender<TestMessage> &sender : senders) {
            Send(&sender, *this->value);
          }
          ++*this->value;
        })
        ->Schedule(loop->monotonic_now() + milliseconds(5), milliseconds(10));
  }
  std::vector<Sender<TestMessage>> senders;
  int *value;
};

struct ObserverApp {
  ObserverApp(EventLoop *loop, SimulatedEventLoopFactory *factory,
              const Node *node, std::vector<std::string> channels,
              std::vector<Seen> *seen) {
    Observe(loop, factory, node, channels, seen);
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

// What each node sends and watches (the same on every boot).
const std::map<std::string, std::vector<std::string>> kSends = {
    {"pi1", {"/test", "/local"}}, {"pi2", {"/reply"}}};
const std::map<std::string, std::vector<std::string>> kWatches = {
    {"pi1", {"/test", "/local", "/reply"}}, {"pi2", {"/test", "/reply"}}};
// The forwarded channel each node receives, and from which node.
const std::map<std::string, std::pair<std::string, std::string>> kReceives = {
    {"pi1", {"/reply", "pi2"}}, {"pi2", {"/test", "pi1"}}};

class MultiNodeRebootTest : public ::testing::Test {
 protected:
  // `rebooting` (node index) reboots at kReboot.
  explicit MultiNodeRebootTest(size_t rebooting = 1)
      : config_(configuration::ReadConfig(AOS_LOGGING_TESTDATA_DIR
                                          "/multinode.json")),
        time_(2),
        rebooting_(rebooting) {
    const monotonic_clock::time_point e = monotonic_clock::epoch();
    // pi2 1 s ahead and 100 ppm fast until the reboot.
    time_.AddNextTimestamp(
        distributed_clock::epoch(),
        {BootTimestamp{0, e}, BootTimestamp{0, e + seconds(1)}});
    time_.AddNextTimestamp(
        kReboot, {BootTimestamp{0, e + seconds(1)},
                  BootTimestamp{0, e + seconds(2) + microseconds(100)}});
    time_.RebootAt(rebooting, kReboot);
    // The rebooted node reads the epoch at the reboot and runs 500 ppm
    // slow from there; the other keeps going.
    const BootTimestamp rebooted{1, e + seconds(99) - microseconds(49500)};
    time_.AddNextTimestamp(
        distributed_clock::epoch() + seconds(100),
        {rebooting == 0 ? rebooted : BootTimestamp{0, e + seconds(100)},
         rebooting == 1
             ? rebooted
             : BootTimestamp{0, e + seconds(101) + microseconds(10000)}});
  }

  // Records kDuration, each node logging boot N into dir/<node>_boot<N>/
  // (pi1 only if `pi1_logs`).
  void Record(bool pi1_logs = true) {
    SimulatedEventLoopFactory factory(&config_.message());
    factory.SetTimeConverter(&time_);
    factory.SkipTimingReport();
    const UUID log_start = UUID::Random();
    std::map<std::string, int> values = {{"pi1", 0}, {"pi2", 1000}};
    std::map<std::string, LoggerApp *> loggers;
    for (NodeEventLoopFactory *node : factory.node_factories()) {
      const std::string name = node->node()->name()->str();
      if (name == "pi1" && !pi1_logs) loggers[name] = nullptr;
      node->OnStartup([&, node, name]() {
        node->AlwaysStart<SenderApp>("sender", kSends.at(name), &values[name]);
        node->AlwaysStart<ObserverApp>("observer", &factory, node->node(),
                                       kWatches.at(name), &recorded_);
        if (name == "pi1" && !pi1_logs) return;
        loggers[name] = node->AlwaysStart<LoggerApp>(
            "logger",
            dir_.path() + "/" + name + "_boot" +
                std::to_string(node->boot_count()) + "/",
            &config_.message(), node->node(), log_start, &starts_[name]);
      });
      node->OnShutdown([&, node, name]() {
        ends_[name].push_back(node->monotonic_now());
        boot_uuids_[name].push_back(node->boot_uuid().ToString());
      });
    }
    ASSERT_TRUE(factory.RunFor(kDuration));
    for (NodeEventLoopFactory *node : factory.node_factories()) {
      const std::string name = node->node()->name()->str();
      ends_[name].push_back(node->monotonic_now());
      boot_uuids_[name].push_back(node->boot_uuid().ToString());
      if (loggers[name] != nullptr) loggers[name]->logger.StopLogging();
    }
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

  // The boot `node` is in at distributed time `d`, as recorded.
  size_t BootAt(size_t node, distributed_clock::time_point d) const {
    return node == rebooting_ && d >= kReboot ? 1 : 0;
  }

  void ReplayAndCheck();

  const FlatbufferDetachedBuffer<Configuration> config_;
  message_bridge::TestingTimeConverter time_;
  const size_t rebooting_;
  aos::testing::TempDir dir_;
  std::vector<Seen> recorded_;
  // Per node: each boot's logger start, end and UUID.
  std::map<std::string, std::vector<monotonic_clock::time_point>> starts_;
  std::map<std::string, std::vector<monotonic_clock::time_point>> ends_;
  std::map<std::string, std::vector<std::string>> boot_uuids_;
};

void MultiNodeRebootTest::ReplayAndCheck() {
  const std::string rebooting =
      std::string(configuration::NodeName(&config_.message(), rebooting_));
  std::vector<LogFile> logs = Sorted({dir_.path()});
  ASSERT_EQ(logs.size(), 3u);  // one per boot of each node
  ASSERT_NE(logs.front().boots, nullptr);
  EXPECT_EQ(logs.front().boots->error, "");
  EXPECT_EQ(logs.front().boots->boots.at(rebooting), boot_uuids_[rebooting]);

  LogReader reader(std::move(logs));
  SimulatedEventLoopFactory factory(reader.configuration());
  reader.Register(&factory);
  DeregisterAtExit deregister{&reader};
  std::vector<Seen> replayed;
  CausalityCheck causality;
  // Each node's boots, on the other node's clock.
  std::map<std::string, std::vector<monotonic_clock::time_point>> boots_at;
  for (NodeEventLoopFactory *node : factory.node_factories()) {
    const std::string name = node->node()->name()->str();
    NodeEventLoopFactory *other =
        factory.GetNodeEventLoopFactory(name == "pi1" ? "pi2" : "pi1");
    node->OnStartup([&, node, other, name]() {
      boots_at[name].push_back(other->monotonic_now());
      node->AlwaysStart<ObserverApp>("observer", &factory, node->node(),
                                     kWatches.at(name), &replayed);
      node->AlwaysStart<CausalityApp>("causality", &causality,
                                      kReceives.at(name).first, node, other);
    });
  }
  bool ended = false;
  reader.OnEnd([&]() { ended = true; });
  ASSERT_TRUE(factory.Run());
  EXPECT_TRUE(ended);
  EXPECT_TRUE(reader.warnings().empty())
      << ::testing::PrintToString(reader.warnings());
  EXPECT_EQ(factory.GetNodeEventLoopFactory(rebooting)->boot_count(), 1u);

  // Every message, on its node and boot, at its logged times.
  const std::vector<Seen> expected = Window(recorded_);
  std::map<std::string, int> counts;
  for (const Seen &s : expected) {
    ++counts[s.node + " " + std::to_string(s.boot) + " " + s.channel];
  }
  for (const std::string &key :
       {rebooting + " 0 /test", rebooting + " 1 /test", rebooting + " 0 /reply",
        rebooting + " 1 /reply"}) {
    EXPECT_GT(counts[key], 90)
        << key << " " << ::testing::PrintToString(counts);
  }
  EXPECT_EQ(Window(replayed), expected);

  // /reply on pi1 and /test on pi2, from both boots, causal.
  EXPECT_GT(causality.checked, 360);
  EXPECT_GE(causality.min_slack, microseconds(100));
  LOG(INFO) << "smallest replayed one-way delay: "
            << causality.min_slack.count() << " ns";

  // One estimate per boot of the rebooting node (against the other node's
  // only boot), each within its bound of the truth while both boots ran.
  ASSERT_EQ(reader.clock_estimates().size(), 2u);
  std::set<size_t> estimated_boots;
  for (const internal::ClockEstimate &estimate : reader.clock_estimates()) {
    EXPECT_GT(estimate.a_to_b_messages, 80u);
    EXPECT_GT(estimate.b_to_a_messages, 80u);
    EXPECT_LE(estimate.estimate.error_bound, microseconds(151));
    estimated_boots.insert(estimate.a_node == rebooting_ ? estimate.a_boot
                                                         : estimate.b_boot);
    nanoseconds worst(0);
    distributed_clock::time_point worst_d;
    for (distributed_clock::time_point d = distributed_clock::epoch();
         d < distributed_clock::epoch() + kDuration; d += milliseconds(1)) {
      if (BootAt(estimate.a_node, d) != estimate.a_boot ||
          BootAt(estimate.b_node, d) != estimate.b_boot) {
        continue;
      }
      const monotonic_clock::time_point t =
          time_.FromDistributedClock(estimate.a_node, d, estimate.a_boot);
      const nanoseconds truth =
          time_.FromDistributedClock(estimate.b_node, d, estimate.b_boot) - t;
      const nanoseconds error = estimate.estimate.offset.Evaluate(t) - truth;
      if ((error < nanoseconds(0) ? -error : error) > worst) worst_d = d;
      worst = std::max(worst, error < nanoseconds(0) ? -error : error);
    }
    LOG(INFO) << "at " << worst_d << " node " << estimate.b_node << " boot "
              << estimate.b_boot << " against node " << estimate.a_node
              << " boot " << estimate.a_boot << ": worst clock offset error "
              << worst.count() << " ns (bound "
              << estimate.estimate.error_bound.count() << " ns)";
    EXPECT_LE(worst, estimate.estimate.error_bound);
    EXPECT_LE(worst, microseconds(1));
  }
  EXPECT_EQ(estimated_boots, (std::set<size_t>{0, 1}));
  // The node rebooted in the replay where it did in the recording, on the
  // other node's clock, within the estimate's error.
  const size_t other = 1 - rebooting_;
  ASSERT_EQ(boots_at[rebooting].size(), 2u);
  EXPECT_LE(std::abs((boots_at[rebooting][1] -
                      time_.FromDistributedClock(other, kReboot, 0))
                         .count()),
            1000);
}

TEST_F(MultiNodeRebootTest, EachBootReplaysAtItsLoggedTimes) {
  Record();
  ReplayAndCheck();
}

// Live replay of the node that rebooted (pi2) into shared memory replays
// its boots one after the other: a process watching pi2's /reply (its own)
// and /test (forwarded from pi1, with pi1's boot as source) sees every
// message logged in either boot, in order; the values count on across the
// boots, so order across the reboot shows too. (Before, only the first boot
// replayed.)
TEST_F(MultiNodeRebootTest, LiveReplayReplaysEveryBoot) {
  Record();
  LogReader reader(Sorted({dir_.path()}));
  gflags::FlagSaver flag_saver;
  FLAGS_override_hostname = "pi2";
  std::filesystem::create_directories(dir_.path() + "/shm");
  ipc_lib::SetShmBase(dir_.path() + "/shm/");  // FlagSaver restores it.
  // Real time would take the log's 2 s; 4x still leaves the watcher the
  // queues' 2 s of messages of slack.
  reader.SetRealtimeReplayRate(4.0);
  {
    ShmEventLoop loop(reader.configuration());
    loop.SkipTimingReport();
    loop.SkipAosLog();
    ShmEventLoop watcher(reader.configuration());
    watcher.SkipTimingReport();
    watcher.SkipAosLog();
    std::map<std::string, std::vector<int>> watched;
    std::set<std::string> source_boots;
    for (const std::string channel : {"/test", "/reply"}) {
      watcher.MakeWatcher(channel, [&, channel](const TestMessage &message) {
        watched[channel].push_back(message.value());
        if (channel == "/test") {
          source_boots.insert(watcher.context().source_boot_uuid.ToString());
        }
      });
    }
    std::unique_ptr<ExitHandle> exit = watcher.MakeExitHandle();
    // Watchers see what is sent once their loop runs: wait for that.
    std::promise<void> running;
    watcher.OnRun([&]() { running.set_value(); });
    std::thread watching([&]() { CheckExpected(watcher.Run()); });
    running.get_future().wait();
    reader.Register(&loop);
    CheckExpected(loop.Run());
    reader.Deregister();
    // Exit handles what was sent before it.
    exit->Exit();
    watching.join();
    exit.reset();

    std::map<std::string, std::vector<int>> expected;
    std::set<size_t> boots;
    for (const Seen &s : Window(recorded_)) {
      if (s.node != "pi2") continue;
      expected[s.channel].push_back(s.value);
      boots.insert(s.boot);
    }
    ASSERT_EQ(boots, (std::set<size_t>{0, 1}));
    for (const auto &[channel, values] : expected) {
      const std::vector<int> &got = watched[channel];
      EXPECT_TRUE(std::is_sorted(got.begin(), got.end())) << channel;
      EXPECT_TRUE(
          std::includes(got.begin(), got.end(), values.begin(), values.end()))
          << channel << ": watched " << ::testing::PrintToString(got)
          << ", logged " << ::testing::PrintToString(values);
    }
    EXPECT_EQ(source_boots, (std::set<std::string>{boot_uuids_["pi1"][0]}));
  }
}

// The reference node (the first with a log, whose clock the replay
// follows) reboots: its second boot's clock comes through pi2's.
class ReferenceRebootTest : public MultiNodeRebootTest {
 protected:
  ReferenceRebootTest() : MultiNodeRebootTest(0) {}
};

TEST_F(ReferenceRebootTest, EachBootReplaysAtItsLoggedTimes) {
  Record();
  ReplayAndCheck();
}

// pi1's logger rotates its delivery timestamps of /reply (TIMESTAMPS parts)
// when pi2 reboots, so each part's header names the boot its deliveries
// came from; SortParts splits the sequence there and orders pi2's boots.
TEST_F(MultiNodeRebootTest, TimestampPartsRotateWhenTheSourceReboots) {
  Record();
  std::vector<LogFile> logs = Sorted({dir_.path() + "/pi1_boot0"});
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
  EXPECT_EQ(pi2_boots_in_timestamps, boot_uuids_["pi2"]);
  // pi1's log alone orders pi2's boots.
  EXPECT_EQ(logs[0].boots->error, "");
  EXPECT_EQ(logs[0].boots->boots.at("pi2"), boot_uuids_["pi2"]);
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
  EXPECT_THAT(reader.error().message(), HasSubstr(boot_uuids_["pi2"][0]));
  EXPECT_THAT(reader.error().message(), HasSubstr(boot_uuids_["pi2"][1]));
}

}  // namespace
}  // namespace aos::logger::testing
