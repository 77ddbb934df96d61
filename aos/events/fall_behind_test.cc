// Watchers under FallBehindPolicy::kSkipToOldest: a watcher lapped by its
// queue keeps running, and its callback, the event loop and the timing report
// all say how many messages it lost. The shared-memory case uses a real
// watcher process that is SIGSTOPped while the queue laps it.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/event_loop_generated.h"
#include "aos/events/shm_event_loop.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/events/test_message_generated.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/testing/tmpdir.h"
#include "gflags/gflags.h"
#include "gtest/gtest.h"

DECLARE_int32(timing_report_ms);

namespace aos::testing {
namespace {

using std::chrono::milliseconds;

// /lapped holds 4 messages per millisecond of storage, so a few milliseconds
// of sending laps a stopped reader many times over.
constexpr std::string_view kConfig = R"json({
  "channels": [
    {"name": "/aos", "type": "aos.timing.Report", "frequency": 50,
     "num_senders": 20, "max_size": 4096},
    {"name": "/lapped", "type": "aos.TestMessage", "frequency": 4000,
     "channel_storage_duration": 1000000}
  ]
})json";

FlatbufferDetachedBuffer<Configuration> Config() {
  return configuration::MergeWithConfig(
      &FlatbufferDetachedBuffer<Configuration>::Empty().message(), kConfig);
}

void Send(Sender<TestMessage> *sender, int value) {
  auto builder = sender->MakeBuilder();
  TestMessage::Builder message(*builder.fbb());
  message.add_value(value);
  CHECK(builder.Send(message.Finish()) == RawSender::Error::kOk)
      << ": send of " << value << " failed";
}

// What the watcher process tells the test, one record per callback.
struct Delivery {
  int32_t value;
  uint64_t lost_messages;
  uint64_t loop_lost_messages;
};

constexpr int kReady = -1;
constexpr int kLast = 1000000;

// Stops the watcher process, laps its queue many times over, resumes it:
// it must go on, report the messages it lost, and receive everything sent
// after the resume.
TEST(ShmFallBehindTest, StoppedWatcherResumesAndReportsTheLoss) {
  TempDir shm_dir;
  const std::string previous_shm_base = FLAGS_shm_base;
  ipc_lib::SetShmBase(shm_dir.path() + "/aos");
  FlatbufferDetachedBuffer<Configuration> config = Config();

  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    // Bounded: the test kills us if it fails first, and we give up after a
    // while on our own.
    alarm(20);
    ShmEventLoop loop(&config.message());
    loop.set_name("lapped_watcher");
    const Channel *channel = configuration::GetChannel(
        &config.message(), "/lapped", "aos.TestMessage", "", nullptr);
    auto write_record = [&](const Delivery &delivery) {
      CHECK_EQ(write(pipe_fds[1], &delivery, sizeof(delivery)),
               static_cast<ssize_t>(sizeof(delivery)));
    };
    loop.MakeWatcher("/lapped", [&](const TestMessage &message) {
      write_record({message.value(), loop.context().lost_messages,
                    loop.WatcherLostMessages(channel)});
      if (message.value() == kLast) {
        loop.SendTimingReport();
        loop.Exit();
      }
    });
    loop.SetWatcherFallBehindPolicy(channel, FallBehindPolicy::kSkipToOldest);
    loop.OnRun([&]() { write_record({kReady, 0, 0}); });
    CHECK(loop.Run().has_value());
    _exit(0);
  }
  close(pipe_fds[1]);
  auto read_record = [&]() {
    Delivery delivery;
    CHECK_EQ(read(pipe_fds[0], &delivery, sizeof(delivery)),
             static_cast<ssize_t>(sizeof(delivery)))
        << ": the watcher process ended early";
    return delivery;
  };

  ShmEventLoop loop(&config.message());
  auto sender = loop.MakeSender<TestMessage>("/lapped");
  auto reports = loop.MakeFetcher<timing::Report>("/aos");
  const size_t queue_size =
      configuration::QueueSize(&config.message(), sender.channel());
  ASSERT_EQ(read_record().value, kReady);

  Send(&sender, 0);
  Delivery first = read_record();
  EXPECT_EQ(first.value, 0);
  EXPECT_EQ(first.lost_messages, 0u);

  ASSERT_EQ(kill(child, SIGSTOP), 0);
  int status;
  ASSERT_EQ(waitpid(child, &status, WUNTRACED), child);
  ASSERT_TRUE(WIFSTOPPED(status));
  // 10 rounds of a full queue, each after the storage duration has passed.
  constexpr int kRounds = 10;
  int value = 1;
  for (int round = 0; round < kRounds; ++round) {
    std::this_thread::sleep_for(milliseconds(2));
    for (size_t i = 0; i < queue_size; ++i) Send(&sender, value++);
  }
  ASSERT_EQ(kill(child, SIGCONT), 0);

  // The ring holds the last queue_size of them; the rest are lost.
  const int sent_while_stopped = value - 1;
  const uint64_t expected_lost = sent_while_stopped - queue_size;
  Delivery resumed = read_record();
  EXPECT_EQ(resumed.value,
            sent_while_stopped - static_cast<int>(queue_size) + 1);
  EXPECT_EQ(resumed.lost_messages, expected_lost);
  EXPECT_EQ(resumed.loop_lost_messages, expected_lost);
  for (int expected = resumed.value + 1; expected < value; ++expected) {
    const Delivery next = read_record();
    EXPECT_EQ(next.value, expected);
    EXPECT_EQ(next.lost_messages, 0u);
  }
  // Still alive and watching.
  std::this_thread::sleep_for(milliseconds(2));
  Send(&sender, kLast);
  const Delivery last = read_record();
  EXPECT_EQ(last.value, kLast);
  EXPECT_EQ(last.lost_messages, 0u);
  EXPECT_EQ(last.loop_lost_messages, expected_lost);

  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  close(pipe_fds[0]);

  // Its timing reports add up to the loss.
  uint64_t reported_lost = 0;
  while (reports.FetchNext()) {
    if (reports->name()->string_view() != "lapped_watcher") continue;
    ASSERT_NE(reports->watchers(), nullptr);
    for (const timing::Watcher *watcher : *reports->watchers()) {
      reported_lost += watcher->lost_messages();
    }
  }
  EXPECT_EQ(reported_lost, expected_lost);
  ipc_lib::SetShmBase(previous_shm_base);
}

// The default stays upstream's: a lapped watcher dies naming the channel.
TEST(ShmFallBehindDeathTest, LappedWatcherDiesByDefault) {
  TempDir shm_dir;
  const std::string previous_shm_base = FLAGS_shm_base;
  ipc_lib::SetShmBase(shm_dir.path() + "/aos");
  FlatbufferDetachedBuffer<Configuration> config = Config();
  EXPECT_DEATH(
      {
        ShmEventLoop loop(&config.message());
        loop.SkipTimingReport();
        ShmEventLoop sending_loop(&config.message());
        auto sender = sending_loop.MakeSender<TestMessage>("/lapped");
        loop.MakeWatcher("/lapped", [](const TestMessage &) {});
        // Arm the watcher, then lap it while it does not run.
        TimerHandler *lap = loop.AddTimer([&]() {
          for (int round = 0; round < 3; ++round) {
            std::this_thread::sleep_for(milliseconds(2));
            for (int i = 0; i < 4; ++i) Send(&sender, i);
          }
        });
        loop.OnRun([&]() { lap->Schedule(loop.monotonic_now()); });
        (void)loop.Run();
      },
      "\"/lapped\".*behind");
  ipc_lib::SetShmBase(previous_shm_base);
}

// A simulation with a loop "sender" exempt from the sent-too-fast rule, so it
// can lap a watcher within one instant, its sender on /lapped, and a loop
// "watcher" for the test's watcher.
class SimulatedFallBehindTest : public ::testing::Test {
 protected:
  SimulatedFallBehindTest() {
    factory_.SkipTimingReport();
    NodeEventLoopFactory *node = factory_.GetNodeEventLoopFactory(nullptr);
    sending_loop_ = node->MakeEventLoop(
        "sender",
        EventLoopOptions{CheckSentTooFast::kNo, ExclusiveSenders::kNo, {}});
    watching_loop_ = node->MakeEventLoop("watcher");
    sender_ = sending_loop_->MakeSender<TestMessage>("/lapped");
  }

  // Sends the values 0 .. count - 1 on /lapped, all at 1 ms after the start.
  void SendBurstAtOneMillisecond(int count) {
    TimerHandler *burst = sending_loop_->AddTimer([this, count]() {
      for (int i = 0; i < count; ++i) Send(&sender_, i);
    });
    sending_loop_->OnRun([this, burst]() {
      burst->Schedule(sending_loop_->monotonic_now() + milliseconds(1));
    });
  }

  FlatbufferDetachedBuffer<Configuration> config_ = Config();
  SimulatedEventLoopFactory factory_{&config_.message()};
  std::unique_ptr<EventLoop> sending_loop_;
  std::unique_ptr<EventLoop> watching_loop_;
  Sender<TestMessage> sender_;
};

using SimulatedFallBehindDeathTest = SimulatedFallBehindTest;

// Simulation: a watcher lapped within one instant (by a loop exempt from
// the sent-too-fast rule) skips to the oldest message and reports the loss.
TEST_F(SimulatedFallBehindTest, LappedWatcherSkipsToOldest) {
  const size_t queue_size =
      configuration::QueueSize(&config_.message(), sender_.channel());
  std::vector<std::pair<int, uint64_t>> deliveries;
  watching_loop_->MakeWatcher("/lapped", [&](const TestMessage &message) {
    deliveries.emplace_back(message.value(),
                            watching_loop_->context().lost_messages);
  });
  watching_loop_->SetWatcherFallBehindPolicy(sender_.channel(),
                                             FallBehindPolicy::kSkipToOldest);
  const int total = static_cast<int>(3 * queue_size);
  SendBurstAtOneMillisecond(total);
  CheckExpected(factory_.RunFor(milliseconds(10)));

  ASSERT_EQ(deliveries.size(), queue_size);
  EXPECT_EQ(deliveries[0].first, total - static_cast<int>(queue_size));
  EXPECT_EQ(deliveries[0].second, static_cast<uint64_t>(total) - queue_size);
  for (size_t i = 1; i < deliveries.size(); ++i) {
    EXPECT_EQ(deliveries[i].first, deliveries[0].first + static_cast<int>(i));
    EXPECT_EQ(deliveries[i].second, 0u);
  }
  EXPECT_EQ(watching_loop_->WatcherLostMessages(sender_.channel()),
            static_cast<uint64_t>(total) - queue_size);
}

// And by default it dies, naming the channel.
TEST_F(SimulatedFallBehindDeathTest, LappedWatcherDiesByDefault) {
  watching_loop_->MakeWatcher("/lapped", [](const TestMessage &) {});
  SendBurstAtOneMillisecond(20);
  EXPECT_DEATH(CheckExpected(factory_.RunFor(milliseconds(10))),
               "behind.*\"/lapped\"|\"/lapped\".*behind");
}

TEST(FallBehindDeathTest, WatcherPolicyNeedsAWatcher) {
  FlatbufferDetachedBuffer<Configuration> config = Config();
  SimulatedEventLoopFactory factory(&config.message());
  auto loop = factory.MakeEventLoop("loop");
  const Channel *channel = configuration::GetChannel(
      &config.message(), "/lapped", "aos.TestMessage", "", nullptr);
  EXPECT_DEATH(loop->SetWatcherFallBehindPolicy(
                   channel, FallBehindPolicy::kSkipToOldest),
               "loop has no watcher on \\{ \"name\": \"/lapped\"");
}

}  // namespace
}  // namespace aos::testing
