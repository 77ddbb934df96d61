#include "aos/events/simulated_network_bridge.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/event_loop_generated.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/events/test_message_generated.h"
#include "aos/network/message_bridge_client_generated.h"
#include "aos/network/message_bridge_server_generated.h"
#include "aos/network/remote_message_generated.h"
#include "aos/network/testing_time_converter.h"
#include "aos/network/timestamp_generated.h"
#include "aos/testing/process.h"
#include "aos/testing/tmpdir.h"
#include "gtest/gtest.h"

namespace aos::message_bridge::testing {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr monotonic_clock::time_point kEpoch = monotonic_clock::epoch();

void SendValue(Sender<TestMessage> *sender, int value) {
  Sender<TestMessage>::Builder builder = sender->MakeBuilder();
  TestMessage::Builder message = builder.MakeBuilder<TestMessage>();
  message.add_value(value);
  builder.CheckOk(builder.Send(message.Finish()));
}

// What a watcher saw: the value, this node's time and the context.
struct Seen {
  int value;
  monotonic_clock::time_point now;
  Context context;
};

class SimulatedMessageBridgeTest : public ::testing::Test {
 protected:
  SimulatedMessageBridgeTest()
      : config_(configuration::ReadConfig(AOS_SIM_TESTDATA_DIR
                                          "/sim_multinode.json")),
        pi1_(configuration::GetNode(&config_.message(), "pi1")),
        pi2_(configuration::GetNode(&config_.message(), "pi2")) {}

  // Makes the factory (after the test set up the time converter).
  void MakeFactory() {
    factory_ = std::make_unique<SimulatedEventLoopFactory>(&config_.message());
    factory_->SetTimeConverter(&time_);
    factory_->SkipTimingReport();
    pi1_factory_ = factory_->GetNodeEventLoopFactory(pi1_);
    pi2_factory_ = factory_->GetNodeEventLoopFactory(pi2_);
  }

  // The usual start: equal clocks, the factory, and the loops ping_ on pi1
  // and pong_ on pi2.
  void StartPingPong() {
    time_.StartEqual();
    MakeFactory();
    ping_ = pi1_factory_->MakeEventLoop("ping");
    pong_ = pi2_factory_->MakeEventLoop("pong");
  }

  // Watches `channel` on `loop` into `seen`.
  void Watch(EventLoop *loop, std::string_view channel,
             std::vector<Seen> *seen) {
    loop->MakeWatcher(channel, [loop, seen](const TestMessage &message) {
      seen->push_back(
          Seen{message.value(), loop->monotonic_now(), loop->context()});
    });
  }

  FlatbufferDetachedBuffer<Configuration> config_;
  const Node *const pi1_;
  const Node *const pi2_;
  TestingTimeConverter time_{2};
  std::unique_ptr<SimulatedEventLoopFactory> factory_;
  NodeEventLoopFactory *pi1_factory_ = nullptr;
  NodeEventLoopFactory *pi2_factory_ = nullptr;
  // Made by StartPingPong; destroyed before the factory.
  std::unique_ptr<EventLoop> ping_;
  std::unique_ptr<EventLoop> pong_;
};

// A forwarded message arrives the network delay later (in distributed time)
// with the source's times, queue index and boot UUID as remote fields; the
// delivery timestamp comes back to the source another delay later.
TEST_F(SimulatedMessageBridgeTest, ForwardsWithRemoteFieldsAndTimestamps) {
  // pi2's clock is 10 s ahead of pi1's.
  time_.AddNextTimestamp(distributed_clock::epoch(),
                         {{0, kEpoch}, {0, kEpoch + seconds(10)}});
  MakeFactory();
  pi2_factory_->SetRealtimeOffset(kEpoch, realtime_clock::epoch() + seconds(5));
  auto ping = pi1_factory_->MakeEventLoop("ping");
  auto pong = pi2_factory_->MakeEventLoop("pong");
  auto timestamps = pi1_factory_->MakeEventLoop("timestamps");
  auto sender = ping->MakeSender<TestMessage>("/test");
  std::vector<Seen> seen;
  Watch(pong.get(), "/test", &seen);
  std::vector<FlatbufferVector<RemoteMessage>> remote;
  std::vector<monotonic_clock::time_point> remote_times;
  timestamps->MakeWatcher(
      "/aos/remote_timestamps/pi2/test/aos-TestMessage",
      [&](const RemoteMessage &) {
        remote.push_back(timestamps->context().CopyFlatBuffer<RemoteMessage>());
        remote_times.push_back(timestamps->context().monotonic_event_time);
      });
  TimerHandler *timer = ping->AddTimer([&]() { SendValue(&sender, 7); });
  timer->Schedule(kEpoch + milliseconds(10));
  factory_->set_network_delay(microseconds(300));
  CheckExpected(factory_->RunFor(milliseconds(20)));

  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].value, 7);
  const Context &context = seen[0].context;
  // The bridge transmits it 50 us (the send delay) after pi1 sent it; it is
  // sent on pi2 300 us later; the watcher runs the send delay after that.
  EXPECT_EQ(context.monotonic_event_time,
            kEpoch + seconds(10) + milliseconds(10) + microseconds(350));
  EXPECT_EQ(seen[0].now, context.monotonic_event_time + microseconds(50));
  EXPECT_EQ(context.realtime_event_time, realtime_clock::epoch() + seconds(15) +
                                             milliseconds(10) +
                                             microseconds(350));
  EXPECT_EQ(context.monotonic_remote_time, kEpoch + milliseconds(10));
  EXPECT_EQ(context.realtime_remote_time,
            realtime_clock::epoch() + milliseconds(10));
  EXPECT_EQ(context.monotonic_remote_transmit_time,
            kEpoch + milliseconds(10) + microseconds(50));
  EXPECT_EQ(context.queue_index, 0u);
  EXPECT_EQ(context.remote_queue_index, sender.sent_queue_index());
  EXPECT_EQ(context.source_boot_uuid, pi1_factory_->boot_uuid());

  ASSERT_EQ(remote.size(), 1u);
  const RemoteMessage &timestamp = remote[0].message();
  EXPECT_EQ(timestamp.channel_index(),
            configuration::ChannelIndex(&config_.message(), sender.channel()));
  EXPECT_EQ(timestamp.monotonic_sent_time(),
            context.monotonic_event_time.time_since_epoch().count());
  EXPECT_EQ(timestamp.monotonic_remote_time(),
            (kEpoch + milliseconds(10)).time_since_epoch().count());
  EXPECT_EQ(timestamp.monotonic_remote_transmit_time(),
            (kEpoch + milliseconds(10) + microseconds(50))
                .time_since_epoch()
                .count());
  EXPECT_EQ(timestamp.queue_index(), 0u);
  EXPECT_EQ(timestamp.remote_queue_index(), sender.sent_queue_index());
  EXPECT_EQ(timestamp.realtime_sent_time(),
            context.realtime_event_time.time_since_epoch().count());
  EXPECT_EQ(
      timestamp.realtime_remote_time(),
      (realtime_clock::epoch() + milliseconds(10)).time_since_epoch().count());
  // When the timestamp came back is its own send time on pi1 (upstream's
  // RemoteMessage has no field for it).
  EXPECT_EQ(remote_times[0], kEpoch + milliseconds(10) + microseconds(650));
  EXPECT_EQ(UUID::FromSpan(std::span<const uint8_t>(
                timestamp.boot_uuid()->data(), timestamp.boot_uuid()->size())),
            pi2_factory_->boot_uuid());
}

// Ping/pong across nodes: each hop costs the network delay.
TEST_F(SimulatedMessageBridgeTest, RoundTrip) {
  StartPingPong();
  auto ping_sender = ping_->MakeSender<TestMessage>("/test");
  auto pong_sender = pong_->MakeSender<TestMessage>("/reply");
  pong_->MakeWatcher("/test", [&](const TestMessage &message) {
    SendValue(&pong_sender, message.value());
  });
  std::vector<monotonic_clock::time_point> replies;
  ping_->MakeWatcher("/reply", [&](const TestMessage &) {
    replies.push_back(ping_->monotonic_now());
  });
  TimerHandler *timer = ping_->AddTimer([&]() { SendValue(&ping_sender, 1); });
  timer->Schedule(kEpoch + milliseconds(1));
  CheckExpected(factory_->RunFor(milliseconds(5)));
  // 50 us to the bridge's transmit wakeup + 100 us network + 50 us send
  // delay to the watcher, twice.
  EXPECT_EQ(replies, std::vector<monotonic_clock::time_point>{
                         kEpoch + milliseconds(1) + microseconds(400)});
}

// Messages for one destination sent within the send delay of the first
// leave in one transmit wakeup and arrive together, in send order, across
// channels; a later one starts the next batch.
TEST_F(SimulatedMessageBridgeTest, BatchesCloseMessages) {
  StartPingPong();
  auto reliable = ping_->MakeSender<TestMessage>("/test");
  auto unreliable = ping_->MakeSender<TestMessage>("/unreliable");
  std::vector<Seen> seen;
  Watch(pong_.get(), "/test", &seen);
  Watch(pong_.get(), "/unreliable", &seen);
  std::vector<int> values = {1, 2, 3, 4};
  std::vector<microseconds> offsets = {microseconds(0), microseconds(20),
                                       microseconds(49), microseconds(50)};
  for (size_t i = 0; i < values.size(); ++i) {
    TimerHandler *timer = ping_->AddTimer([&, i]() {
      SendValue(i % 2 == 0 ? &reliable : &unreliable, values[i]);
    });
    timer->Schedule(kEpoch + milliseconds(1) + offsets[i]);
  }
  CheckExpected(factory_->RunFor(milliseconds(5)));
  ASSERT_EQ(seen.size(), 4u);
  const monotonic_clock::time_point first_batch =
      kEpoch + milliseconds(1) + microseconds(50);
  const monotonic_clock::time_point second_batch =
      kEpoch + milliseconds(1) + microseconds(100);
  const std::vector<monotonic_clock::time_point> transmit = {
      first_batch, first_batch, first_batch, second_batch};
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].value, values[i]);
    EXPECT_EQ(seen[i].context.monotonic_remote_time,
              kEpoch + milliseconds(1) + offsets[i]);
    EXPECT_EQ(seen[i].context.monotonic_remote_transmit_time, transmit[i]);
    EXPECT_EQ(seen[i].context.monotonic_event_time,
              transmit[i] + microseconds(100));
  }
}

// While a link is down unreliable messages are lost; the latest reliable
// message goes out when it comes back. Only that direction goes down.
TEST_F(SimulatedMessageBridgeTest, DisconnectAndConnect) {
  StartPingPong();
  auto reliable = ping_->MakeSender<TestMessage>("/test");
  auto unreliable = ping_->MakeSender<TestMessage>("/unreliable");
  auto reply = pong_->MakeSender<TestMessage>("/reply");
  std::vector<Seen> reliable_seen, unreliable_seen, reply_seen;
  Watch(pong_.get(), "/test", &reliable_seen);
  Watch(pong_.get(), "/unreliable", &unreliable_seen);
  Watch(ping_.get(), "/reply", &reply_seen);
  CheckExpected(factory_->RunFor(milliseconds(1)));

  pi1_factory_->Disconnect(pi2_);
  EXPECT_FALSE(factory_->bridge()->IsConnected(pi1_, pi2_));
  EXPECT_TRUE(factory_->bridge()->IsConnected(pi2_, pi1_));
  SendValue(&reliable, 1);
  SendValue(&reliable, 2);
  SendValue(&unreliable, 3);
  SendValue(&reply, 4);
  CheckExpected(factory_->RunFor(milliseconds(10)));
  EXPECT_TRUE(reliable_seen.empty());
  EXPECT_TRUE(unreliable_seen.empty());
  ASSERT_EQ(reply_seen.size(), 1u) << "pi2 -> pi1 is still up";

  pi1_factory_->Connect(pi2_);
  CheckExpected(factory_->RunFor(milliseconds(10)));
  ASSERT_EQ(reliable_seen.size(), 1u);
  EXPECT_EQ(reliable_seen[0].value, 2);
  // Sent 100 us after the connection came back, at 11 ms.
  EXPECT_EQ(reliable_seen[0].context.monotonic_event_time,
            kEpoch + milliseconds(11) + microseconds(100));
  EXPECT_EQ(reliable_seen[0].context.monotonic_remote_transmit_time,
            kEpoch + milliseconds(11));
  EXPECT_EQ(reliable_seen[0].context.monotonic_remote_time,
            kEpoch + milliseconds(1));
  EXPECT_TRUE(unreliable_seen.empty());
  const SimulatedMessageBridge::LinkStatistics statistics =
      factory_->bridge()->GetLinkStatistics(pi1_, pi2_);
  EXPECT_EQ(statistics.dropped_packets, 3u);
  EXPECT_EQ(statistics.sent_packets, 1u);
  EXPECT_EQ(statistics.connection_count, 2u);

  // Connecting again sends nothing new: pi2 already has the latest.
  pi1_factory_->Disconnect(pi2_);
  pi1_factory_->Connect(pi2_);
  CheckExpected(factory_->RunFor(milliseconds(10)));
  EXPECT_EQ(reliable_seen.size(), 1u);
}

// DisableForwarding stops a channel for good; other channels still flow.
TEST_F(SimulatedMessageBridgeTest, DisableForwarding) {
  StartPingPong();
  auto test = ping_->MakeSender<TestMessage>("/test");
  auto unreliable = ping_->MakeSender<TestMessage>("/unreliable");
  std::vector<Seen> test_seen, unreliable_seen;
  Watch(pong_.get(), "/test", &test_seen);
  Watch(pong_.get(), "/unreliable", &unreliable_seen);
  factory_->DisableForwarding(test.channel());
  CheckExpected(factory_->RunFor(milliseconds(1)));
  SendValue(&test, 1);
  SendValue(&unreliable, 2);
  CheckExpected(factory_->RunFor(milliseconds(1)));
  EXPECT_TRUE(test_seen.empty());
  EXPECT_EQ(unreliable_seen.size(), 1u);
}

// connection_count is the number of times the connection came up, as the
// real bridge (and upstream) count it: 0 for a link down from the start
// (the real bridge's UnreachablePeerIsDisconnected), + 1 when it comes up,
// + 1 when the destination reboots (KillAndRestart).
TEST_F(SimulatedMessageBridgeTest, ConnectionCountCountsConnections) {
  time_.StartEqual();
  time_.RebootAt(1, distributed_clock::epoch() + seconds(1));
  MakeFactory();
  pi1_factory_->Disconnect(pi2_);
  CheckExpected(factory_->RunFor(milliseconds(100)));
  EXPECT_EQ(factory_->bridge()->GetLinkStatistics(pi1_, pi2_).connection_count,
            0u);
  // The other direction came up at boot.
  EXPECT_EQ(factory_->bridge()->GetLinkStatistics(pi2_, pi1_).connection_count,
            1u);
  pi1_factory_->Connect(pi2_);
  CheckExpected(factory_->RunFor(milliseconds(100)));
  EXPECT_EQ(factory_->bridge()->GetLinkStatistics(pi1_, pi2_).connection_count,
            1u);
  // pi2 reboots at 1 s: both directions connect again.
  CheckExpected(factory_->RunFor(seconds(1)));
  EXPECT_EQ(factory_->bridge()->GetLinkStatistics(pi1_, pi2_).connection_count,
            2u);
  EXPECT_EQ(factory_->bridge()->GetLinkStatistics(pi2_, pi1_).connection_count,
            2u);
}

// After the destination reboots, the latest reliable message is delivered
// to its new boot; unreliable ones are not.
TEST_F(SimulatedMessageBridgeTest, ReliableAfterDestinationReboot) {
  time_.StartEqual();
  time_.RebootAt(1, distributed_clock::epoch() + seconds(1));
  MakeFactory();
  auto ping = pi1_factory_->MakeEventLoop("ping");
  auto reliable = ping->MakeSender<TestMessage>("/test");
  auto unreliable = ping->MakeSender<TestMessage>("/unreliable");
  std::vector<int> seen;
  UUID first_boot = pi2_factory_->boot_uuid();
  struct Receiver {
    Receiver(EventLoop *loop, std::vector<int> *seen) {
      loop->MakeWatcher("/test", [seen](const TestMessage &message) {
        seen->push_back(message.value());
      });
      loop->MakeWatcher("/unreliable", [seen](const TestMessage &message) {
        seen->push_back(message.value());
      });
    }
  };
  pi2_factory_->AlwaysStart<Receiver>("receiver", &seen);
  CheckExpected(factory_->RunFor(milliseconds(100)));
  SendValue(&reliable, 1);
  SendValue(&unreliable, 2);
  CheckExpected(factory_->RunFor(milliseconds(100)));
  EXPECT_EQ(seen, (std::vector<int>{1, 2}));
  CheckExpected(factory_->RunFor(seconds(1)));
  EXPECT_NE(pi2_factory_->boot_uuid(), first_boot);
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 1}));
}

// Every node booting at an instant is up before anything of that instant
// runs: a message sent from OnRun at the first instant of the boot on a
// forwarded channel reaches the other node (even an unreliable one, which
// is not resent).
TEST_F(SimulatedMessageBridgeTest, SentFromOnRunAtBootIsDelivered) {
  time_.StartEqual();
  MakeFactory();
  auto ping = pi1_factory_->MakeEventLoop("ping");
  auto unreliable = ping->MakeSender<TestMessage>("/unreliable");
  ping->OnRun([&]() { SendValue(&unreliable, 7); });
  auto pong = pi2_factory_->MakeEventLoop("pong");
  std::vector<Seen> seen;
  Watch(pong.get(), "/unreliable", &seen);
  CheckExpected(factory_->RunFor(milliseconds(10)));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].value, 7);
  EXPECT_EQ(seen[0].context.monotonic_remote_time, kEpoch);
  EXPECT_EQ(factory_->bridge()->GetLinkStatistics(pi1_, pi2_).dropped_packets,
            0u);
}

// A reliable message sent before its source node is up (between runs,
// before the node booted) goes out when the source boots, also when the
// destination booted first.
TEST_F(SimulatedMessageBridgeTest, ReliableSentBeforeTheSourceBoots) {
  // pi2 boots 1 s after pi1.
  time_.AddNextTimestamp(distributed_clock::epoch(),
                         {{0, kEpoch}, {0, kEpoch - seconds(1)}});
  MakeFactory();
  auto receiver = pi1_factory_->MakeEventLoop("receiver");
  std::vector<Seen> seen;
  Watch(receiver.get(), "/reply", &seen);
  auto sender_loop = pi2_factory_->MakeEventLoop("sender");
  auto reply = sender_loop->MakeSender<TestMessage>("/reply");
  CheckExpected(factory_->RunFor(milliseconds(500)));
  ASSERT_TRUE(pi1_factory_->is_up());
  ASSERT_FALSE(pi2_factory_->is_up());
  SendValue(&reply, 5);
  CheckExpected(factory_->RunFor(seconds(1)));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].value, 5);
  // Sent when pi2 came up, at 1 s.
  EXPECT_GE(seen[0].now, kEpoch + seconds(1));
  EXPECT_LT(seen[0].now, kEpoch + seconds(1) + milliseconds(1));
}

// Both nodes boot at once; the destination (pi1) comes first in node order.
TEST_F(SimulatedMessageBridgeTest, ReliableSentBeforeBothBoot) {
  time_.StartEqual();
  MakeFactory();
  auto receiver = pi1_factory_->MakeEventLoop("receiver");
  std::vector<Seen> seen;
  Watch(receiver.get(), "/reply", &seen);
  auto sender_loop = pi2_factory_->MakeEventLoop("sender");
  auto reply = sender_loop->MakeSender<TestMessage>("/reply");
  SendValue(&reply, 6);
  CheckExpected(factory_->RunFor(milliseconds(10)));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].value, 6);
}

// The bridge publishes ServerStatistics (1 Hz), ClientStatistics and
// Timestamp (10 Hz) on each node's /aos.
TEST_F(SimulatedMessageBridgeTest, Statistics) {
  // pi2 is 1 ms ahead.
  time_.AddNextTimestamp(distributed_clock::epoch(),
                         {{0, kEpoch}, {0, kEpoch + milliseconds(1)}});
  MakeFactory();
  auto ping = pi1_factory_->MakeEventLoop("ping");
  auto sender = ping->MakeSender<TestMessage>("/test");
  auto monitor1 = pi1_factory_->MakeEventLoop("monitor");
  auto monitor2 = pi2_factory_->MakeEventLoop("monitor");
  std::vector<FlatbufferVector<ServerStatistics>> server;
  std::vector<FlatbufferVector<ClientStatistics>> client;
  int timestamps = 0;
  int empty_timestamps = 0;
  monitor1->MakeWatcher("/aos", [&](const ServerStatistics &) {
    server.push_back(monitor1->context().CopyFlatBuffer<ServerStatistics>());
  });
  monitor2->MakeWatcher("/aos", [&](const ClientStatistics &) {
    client.push_back(monitor2->context().CopyFlatBuffer<ClientStatistics>());
  });
  monitor2->MakeWatcher("/aos", [&](const Timestamp &timestamp) {
    // Without a connection from pi1 there is no offset to report.
    if (timestamp.offsets()->size() == 0) {
      ++empty_timestamps;
      return;
    }
    ++timestamps;
    ASSERT_EQ(timestamp.offsets()->size(), 1u);
    EXPECT_EQ(timestamp.offsets()->Get(0)->node()->name()->string_view(),
              "pi1");
    EXPECT_EQ(timestamp.offsets()->Get(0)->monotonic_offset(),
              -std::chrono::nanoseconds(milliseconds(1)).count());
  });
  TimerHandler *timer = ping->AddTimer([&]() { SendValue(&sender, 1); });
  timer->Schedule(kEpoch + milliseconds(10), milliseconds(10));
  CheckExpected(factory_->RunFor(milliseconds(2005)));

  ASSERT_EQ(server.size(), 2u);
  const ServerStatistics &last = server.back().message();
  ASSERT_EQ(last.connections()->size(), 1u);
  const ServerConnection *connection = last.connections()->Get(0);
  EXPECT_EQ(connection->node()->name()->string_view(), "pi2");
  EXPECT_EQ(connection->state(), State::CONNECTED);
  // The 200th message is in flight when the 2 s report goes out.
  EXPECT_EQ(connection->sent_packets(), 199u);
  EXPECT_EQ(connection->dropped_packets(), 0u);
  EXPECT_EQ(connection->monotonic_offset(),
            std::chrono::nanoseconds(milliseconds(1)).count());
  EXPECT_EQ(connection->boot_uuid()->string_view(),
            pi2_factory_->boot_uuid().ToString());
  // Per forwarded channel to pi2 (/test and /unreliable), as upstream.
  const int test_index = configuration::ChannelIndex(
      &config_.message(),
      configuration::GetChannel(&config_.message(), "/test", "aos.TestMessage",
                                "", pi1_));
  ASSERT_NE(connection->channels(), nullptr);
  ASSERT_EQ(connection->channels()->size(), 2u);
  const ServerChannelStatistics *test_statistics = nullptr;
  for (const ServerChannelStatistics *channel : *connection->channels()) {
    if (static_cast<int>(channel->channel_index()) == test_index) {
      test_statistics = channel;
    } else {
      EXPECT_EQ(channel->sent_packets(), 0u) << "nothing sent on it";
    }
    EXPECT_EQ(channel->retry_count(), 0u);
  }
  ASSERT_NE(test_statistics, nullptr);
  EXPECT_EQ(test_statistics->sent_packets(), 199u);
  EXPECT_EQ(test_statistics->dropped_packets(), 0u);
  EXPECT_EQ(client.size(), 20u);
  ASSERT_EQ(client.back().message().connections()->size(), 1u);
  EXPECT_EQ(client.back().message().connections()->Get(0)->received_packets(),
            199u);
  EXPECT_EQ(timestamps, 20);
  EXPECT_EQ(empty_timestamps, 0);

  pi1_factory_->Disconnect(pi2_);
  CheckExpected(factory_->RunFor(seconds(1)));
  EXPECT_EQ(server.back().message().connections()->Get(0)->state(),
            State::DISCONNECTED);
  EXPECT_EQ(empty_timestamps, 10);
  EXPECT_GT(server.back().message().connections()->Get(0)->dropped_packets(),
            90u);
  for (const ServerChannelStatistics *channel :
       *server.back().message().connections()->Get(0)->channels()) {
    if (static_cast<int>(channel->channel_index()) == test_index) {
      EXPECT_GT(channel->dropped_packets(), 90u);
    }
  }

  factory_->DisableStatistics();
  const size_t count = server.size();
  CheckExpected(factory_->RunFor(seconds(2)));
  EXPECT_EQ(server.size(), count);
}

// Statistics can be switched off and on per node; switched off for good,
// their senders are gone and the channels free for others.
TEST_F(SimulatedMessageBridgeTest, StatisticsSwitches) {
  time_.StartEqual();
  MakeFactory();
  auto monitor1 = pi1_factory_->MakeEventLoop("monitor");
  auto monitor2 = pi2_factory_->MakeEventLoop("monitor");
  int server1 = 0, server2 = 0;
  monitor1->MakeWatcher("/aos", [&](const ServerStatistics &) { ++server1; });
  monitor2->MakeWatcher("/aos", [&](const ServerStatistics &) { ++server2; });
  pi1_factory_->DisableStatistics();
  CheckExpected(factory_->RunFor(milliseconds(2500)));
  EXPECT_EQ(server1, 0);
  EXPECT_EQ(server2, 2);
  pi1_factory_->EnableStatistics();
  CheckExpected(factory_->RunFor(milliseconds(2000)));
  // Sent 1 s after it was enabled at 2.5 s, and at 4.5 s (seen 50 us
  // later, after this run).
  EXPECT_EQ(server1, 1);
  EXPECT_EQ(server2, 4);

  // No more statistics; a replayed log may now send them itself.
  factory_->PermanentlyDisableStatistics();
  auto replay = pi1_factory_->MakeEventLoop(
      "replay",
      EventLoopOptions{CheckSentTooFast::kYes, ExclusiveSenders::kYes, {}});
  auto replayed = replay->MakeSender<ServerStatistics>("/aos");
  CheckExpected(factory_->RunFor(seconds(2)));
  EXPECT_EQ(server1, 2) << "only the one sent at 4.5 s";
  EXPECT_EQ(server2, 4);
  auto builder = replayed.MakeBuilder();
  builder.CheckOk(
      builder.Send(ServerStatistics::Builder(*builder.fbb()).Finish()));
  CheckExpected(factory_->RunFor(seconds(1)));
  EXPECT_EQ(server1, 3);
}

TEST_F(SimulatedMessageBridgeTest, StatisticsSwitchErrors) {
  time_.StartEqual();
  MakeFactory();
  CheckExpected(factory_->RunFor(milliseconds(1)));
  // The bridge's loop holds the statistics senders.
  auto replay = pi1_factory_->MakeEventLoop(
      "replay",
      EventLoopOptions{CheckSentTooFast::kYes, ExclusiveSenders::kYes, {}});
  EXPECT_DEATH(replay->MakeSender<ServerStatistics>("/aos"),
               "exclusive sender on .*ServerStatistics.*already has senders");
  auto loop = pi1_factory_->MakeEventLoop("loop");
  TimerHandler *timer =
      loop->AddTimer([&]() { factory_->PermanentlyDisableStatistics(); });
  timer->Schedule(pi1_factory_->monotonic_now() + milliseconds(1));
  EXPECT_DEATH((void)factory_->RunFor(milliseconds(5)),
               "PermanentlyDisableStatistics destroys the message bridge's "
               "statistics senders; call it between runs");
  timer->Disable();
  factory_->PermanentlyDisableStatistics();
  EXPECT_DEATH(pi2_factory_->EnableStatistics(),
               "EnableStatistics after PermanentlyDisableStatistics");

  FlatbufferDetachedBuffer<Configuration> single_node =
      configuration::MergeWithConfig(
          &FlatbufferDetachedBuffer<Configuration>::Empty().message(),
          R"json({"channels": []})json");
  SimulatedEventLoopFactory single(&single_node.message());
  EXPECT_DEATH(single.DisableStatistics(),
               "DisableStatistics needs a multi-node configuration");
  EXPECT_DEATH(single.GetNodeEventLoopFactory(nullptr)->EnableStatistics(),
               "EnableStatistics needs a multi-node configuration");
  EXPECT_DEATH(single.PermanentlyDisableStatistics(),
               "PermanentlyDisableStatistics needs a multi-node "
               "configuration");
}

// The bridge's loops send timing reports like any other, unless the factory
// (or node) skips them.
TEST_F(SimulatedMessageBridgeTest, BridgeTimingReports) {
  for (const bool skip : {false, true}) {
    SimulatedEventLoopFactory factory(&config_.message());
    if (skip) factory.SkipTimingReport();
    auto monitor = factory.MakeEventLoop("monitor", pi1_);
    std::vector<std::string> names;
    monitor->MakeWatcher("/aos", [&](const timing::Report &report) {
      names.push_back(report.name()->str());
    });
    CheckExpected(factory.RunFor(milliseconds(1500)));
    EXPECT_EQ(names, skip ? std::vector<std::string>{}
                          : std::vector<std::string>{"message_bridge"});
  }
}

// The same program produces the same events, byte for byte: two runs of a
// multi-node scenario with drift, a reboot, disconnects and statistics give
// identical traces.
std::string RunScenario(const Configuration *config) {
  TestingTimeConverter time(2);
  time.AddNextTimestamp(distributed_clock::epoch(),
                        {{0, kEpoch}, {0, kEpoch - milliseconds(3)}});
  time.AddNextTimestamp(distributed_clock::epoch() + seconds(2),
                        {{0, kEpoch + seconds(2)},
                         {0, kEpoch + seconds(2) - microseconds(2900)}});
  time.RebootAt(1, distributed_clock::epoch() + milliseconds(2500));
  SimulatedEventLoopFactory factory(config);
  factory.SetTimeConverter(&time);
  const Node *pi1 = configuration::GetNode(config, "pi1");
  const Node *pi2 = configuration::GetNode(config, "pi2");
  std::ostringstream trace;

  // Records every message of every channel on pi1 and pi2 (tools-style).
  struct Recorder {
    Recorder(EventLoop *loop, std::ostringstream *trace) {
      for (const Channel *channel : *loop->configuration()->channels()) {
        if (!configuration::ChannelIsReadableOnNode(channel, loop->node())) {
          continue;
        }
        loop->MakeRawWatcher(
            channel,
            [loop, channel, trace](const Context &context, const void *data) {
              *trace << loop->node()->name()->string_view() << " "
                     << channel->name()->string_view() << " "
                     << channel->type()->string_view() << " "
                     << context.monotonic_event_time << " "
                     << context.realtime_event_time << " "
                     << context.monotonic_remote_time << " "
                     << context.monotonic_remote_transmit_time << " "
                     << context.queue_index << " " << context.remote_queue_index
                     << " " << context.source_boot_uuid.ToString() << " "
                     << context.size << " ";
              const uint8_t *bytes = static_cast<const uint8_t *>(data);
              for (size_t i = 0; i < context.size; ++i) {
                *trace << std::hex << static_cast<int>(bytes[i]) << std::dec;
              }
              *trace << "\n";
            });
      }
    }
  };
  struct Pinger {
    Pinger(EventLoop *loop)
        : sender(loop->MakeSender<TestMessage>("/test")),
          unreliable(loop->MakeSender<TestMessage>("/unreliable")) {
      TimerHandler *timer = loop->AddTimer([this]() {
        SendValue(&sender, ++count);
        SendValue(&unreliable, count);
      });
      loop->OnRun([loop, timer]() {
        timer->Schedule(loop->monotonic_now() + milliseconds(7),
                        milliseconds(33));
      });
    }
    Sender<TestMessage> sender;
    Sender<TestMessage> unreliable;
    int count = 0;
  };
  struct Ponger {
    Ponger(EventLoop *loop) : sender(loop->MakeSender<TestMessage>("/reply")) {
      loop->MakeWatcher("/test", [this](const TestMessage &message) {
        SendValue(&sender, message.value());
      });
    }
    Sender<TestMessage> sender;
  };
  NodeEventLoopFactory *pi1_factory = factory.GetNodeEventLoopFactory(pi1);
  NodeEventLoopFactory *pi2_factory = factory.GetNodeEventLoopFactory(pi2);
  pi1_factory->AlwaysStart<Recorder>("recorder", &trace);
  pi2_factory->AlwaysStart<Recorder>("recorder", &trace);
  pi1_factory->AlwaysStart<Pinger>("ping");
  pi2_factory->AlwaysStart<Ponger>("pong");
  CheckExpected(factory.RunFor(milliseconds(1500)));
  pi1_factory->Disconnect(pi2);
  CheckExpected(factory.RunFor(milliseconds(300)));
  pi1_factory->Connect(pi2);
  CheckExpected(factory.RunFor(seconds(2)));
  return trace.str();
}

// Set in the environment of the Deterministic test's child processes: the
// file the child writes its trace to (instead of running the test).
constexpr char kTraceFileVariable[] = "AOS_SIM_DETERMINISM_TRACE";

// Runs the scenario in a fresh process (this test binary, re-executed with
// only this test selected) and returns its trace. Separate processes differ
// in everything a simulation must not depend on: thread ids, addresses,
// allocation order.
std::string RunScenarioInNewProcess(const std::string &directory,
                                    const std::string &trace_file) {
  // Generous: only a safety net (sanitizer builds are slow).
  ::aos::testing::ChildProcess child(
      {std::filesystem::read_symlink("/proc/self/exe"),
       "--gtest_filter=SimulatedMessageBridgeTest.Deterministic"},
      directory, "", std::chrono::minutes(10),
      {std::string(kTraceFileVariable) + "=" + trace_file});
  const ::aos::testing::ProcessExit exit = child.Wait();
  EXPECT_EQ(exit.code, 0) << "the child running the scenario failed:\n"
                          << exit.out << exit.err;
  std::ifstream file(trace_file, std::ios::binary);
  EXPECT_TRUE(file.good()) << trace_file;
  return std::string(std::istreambuf_iterator<char>(file), {});
}

TEST_F(SimulatedMessageBridgeTest, Deterministic) {
  if (const char *trace_file = getenv(kTraceFileVariable)) {
    // A child of this test (see RunScenarioInNewProcess): only run.
    std::ofstream(trace_file, std::ios::binary)
        << RunScenario(&config_.message());
    return;
  }
  const std::string first = RunScenario(&config_.message());
  const std::string second = RunScenario(&config_.message());
  EXPECT_GT(first.size(), 10000u);
  // Every kind of traffic is in it.
  for (const char *expected :
       {"pi2 /test", "pi1 /reply", "pi2 /unreliable", "RemoteMessage",
        "ServerStatistics", "ClientStatistics", "aos.timing.Report",
        "aos.message_bridge.Timestamp"}) {
    EXPECT_NE(first.find(expected), std::string::npos) << expected;
  }
  EXPECT_TRUE(first == second) << "the two runs in one process differ";

  // And in two other processes.
  ::aos::testing::TempDir directory;
  const std::string child1 =
      RunScenarioInNewProcess(directory.path(), directory.path() + "/trace1");
  const std::string child2 =
      RunScenarioInNewProcess(directory.path(), directory.path() + "/trace2");
  EXPECT_TRUE(child1 == child2) << "the runs in two processes differ";
  EXPECT_TRUE(child1 == first)
      << "the run in another process differs from this one's";
}

}  // namespace
}  // namespace aos::message_bridge::testing
