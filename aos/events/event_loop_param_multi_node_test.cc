// Conformance tests (see event_loop_param_test.h) of loops on one node of a
// multi-node configuration: which channels they can use, remote metadata,
// remote timestamp channels, timing reports, and the errors for other
// nodes' channels.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include "aos/events/event_loop_generated.h"
#include "aos/events/event_loop_param_test.h"
#include "aos/events/test_message_generated.h"
#include "aos/network/remote_message_generated.h"
#include "aos/realtime.h"
#include "glog/logging.h"
#include "gmock/gmock.h"

namespace aos::testing {

using std::chrono::milliseconds;

// --- Multi-node: loops on node "me". ---

TEST_P(AbstractEventLoopMultiNodeTest, LoopsKnowTheirNode) {
  auto loop = Make();
  auto primary = MakePrimary();
  ASSERT_NE(loop->node(), nullptr);
  EXPECT_EQ(loop->node(), my_node()) << "a node of the loop's configuration";
  EXPECT_EQ(loop->node()->name()->string_view(), "me");
  EXPECT_EQ(primary->node(), my_node());
}

// Objects on channels this node cannot use are invalid, not errors: the
// Try* calls are how code probes what this node has.
TEST_P(AbstractEventLoopMultiNodeTest, OnlyThisNodesChannelsAreUsable) {
  auto loop = Make();
  // Sent here: sendable and readable.
  EXPECT_TRUE(loop->TryMakeSender<TestMessage>("/test").valid());
  EXPECT_TRUE(loop->TryMakeFetcher<TestMessage>("/test").valid());
  // Forwarded here: readable only.
  EXPECT_FALSE(loop->TryMakeSender<TestMessage>("/from_them").valid());
  EXPECT_TRUE(loop->TryMakeFetcher<TestMessage>("/from_them").valid());
  // Another node's own channel: neither.
  EXPECT_FALSE(loop->TryMakeSender<TestMessage>("/them_only").valid());
  EXPECT_FALSE(loop->TryMakeFetcher<TestMessage>("/them_only").valid());
  // It exists in the configuration all the same.
  EXPECT_TRUE(loop->HasChannel<TestMessage>("/them_only"));
}

// A message forwarded from another node (as the message bridge sends it, with
// a raw sender, which ignores sendability) carries that node's times, queue
// index and boot UUID to watchers and fetchers here; the event times are
// this node's.
TEST_P(AbstractEventLoopMultiNodeTest, ForwardedMessagesKeepRemoteMetadata) {
  auto bridge = Make("bridge");
  auto primary = MakePrimary();
  std::unique_ptr<RawSender> forwarder =
      bridge->MakeRawSender(bridge->GetChannel<TestMessage>("/from_them"));
  auto fetcher = primary->MakeFetcher<TestMessage>("/from_them");
  const monotonic_clock::time_point remote_monotonic =
      monotonic_clock::epoch() + std::chrono::seconds(5);
  const realtime_clock::time_point remote_realtime =
      realtime_clock::epoch() + std::chrono::seconds(6);
  const monotonic_clock::time_point transmit =
      monotonic_clock::epoch() + std::chrono::seconds(7);
  const UUID remote_boot = UUID::Random();
  ASSERT_NE(remote_boot, primary->boot_uuid());
  std::vector<Context> watched;
  primary->MakeWatcher("/from_them", [&](const TestMessage &message) {
    EXPECT_EQ(message.value(), 4);
    watched.push_back(primary->context());
    Exit();
  });
  TimerHandler *forward = primary->AddTimer([&]() {
    flatbuffers::FlatBufferBuilder fbb;
    TestMessage::Builder builder(fbb);
    builder.add_value(4);
    fbb.Finish(builder.Finish());
    ASSERT_EQ(
        forwarder->Send(fbb.GetBufferPointer(), fbb.GetSize(), remote_monotonic,
                        remote_realtime, transmit, 33, remote_boot),
        RawSender::Error::kOk);
  });
  primary->OnRun([&]() { forward->Schedule(primary->monotonic_now()); });
  ASSERT_TRUE(Run().has_value());

  ASSERT_EQ(watched.size(), 1u);
  ASSERT_TRUE(fetcher.Fetch());
  for (const Context &context : {watched[0], fetcher.context()}) {
    EXPECT_EQ(context.monotonic_remote_time, remote_monotonic);
    EXPECT_EQ(context.realtime_remote_time, remote_realtime);
    EXPECT_EQ(context.monotonic_remote_transmit_time, transmit);
    EXPECT_EQ(context.remote_queue_index, 33u);
    EXPECT_EQ(context.source_boot_uuid, remote_boot);
    EXPECT_EQ(context.monotonic_event_time, forwarder->monotonic_sent_time());
    EXPECT_NE(context.monotonic_event_time, remote_monotonic);
  }
}

// Delivery timestamps of /test come back to "me" on its remote timestamp
// channel: an ordinary channel of this node, found by its full name.
TEST_P(AbstractEventLoopMultiNodeTest, RemoteTimestampChannelsAreThisNodes) {
  constexpr std::string_view kTimestamps =
      "/aos/remote_timestamps/them/test/aos-TestMessage";
  auto loop = Make();
  auto sender = loop->MakeSender<message_bridge::RemoteMessage>(kTimestamps);
  auto fetcher = loop->MakeFetcher<message_bridge::RemoteMessage>(kTimestamps);
  EXPECT_EQ(sender.channel()->source_node()->string_view(), "me");
  const int test_index =
      loop->ChannelIndex(loop->GetChannel<TestMessage>("/test"));
  const UUID them_boot = UUID::Random();
  {
    auto builder = sender.MakeBuilder();
    auto boot_uuid = builder.fbb()->CreateVector(them_boot.span().data(),
                                                 them_boot.span().size());
    message_bridge::RemoteMessage::Builder message =
        builder.MakeBuilder<message_bridge::RemoteMessage>();
    message.add_channel_index(static_cast<uint32_t>(test_index));
    message.add_queue_index(12);
    message.add_remote_queue_index(11);
    message.add_monotonic_sent_time(1000);
    message.add_monotonic_remote_time(900);
    message.add_boot_uuid(boot_uuid);
    builder.CheckOk(builder.Send(message.Finish()));
  }
  ASSERT_TRUE(fetcher.Fetch());
  EXPECT_EQ(fetcher->channel_index(), static_cast<uint32_t>(test_index));
  EXPECT_EQ(fetcher->queue_index(), 12u);
  EXPECT_EQ(fetcher->remote_queue_index(), 11u);
  EXPECT_EQ(fetcher->monotonic_sent_time(), 1000);
  EXPECT_EQ(fetcher->monotonic_remote_time(), 900);
  ASSERT_NE(fetcher->boot_uuid(), nullptr);
  EXPECT_EQ(UUID::FromSpan(std::span<const uint8_t>(
                fetcher->boot_uuid()->data(), fetcher->boot_uuid()->size())),
            them_boot);
}

// A loop's timing reports go to its own node's /aos channel (/me/aos here),
// never to another node's.
TEST_P(AbstractEventLoopMultiNodeTest, TimingReportsGoToTheNodesAos) {
  ScopedTimingReportPeriod period(20);
  auto loop = Make();
  auto primary = MakePrimary("primary");
  auto report_fetcher = loop->MakeFetcher<timing::Report>("/aos");
  EXPECT_EQ(report_fetcher.channel(),
            ConfiguredChannel("/me/aos", "aos.timing.Report"));
  std::unique_ptr<RawFetcher> me_aos =
      loop->MakeRawFetcher(ConfiguredChannel("/me/aos", "aos.timing.Report"));
  ASSERT_TRUE(RunPastFirstTimingReport(primary.get()).has_value());
  // Other loops of the node (simulation's message bridge) report there too.
  const timing::Report *report = nullptr;
  while (report == nullptr && me_aos->FetchNext()) {
    const timing::Report *candidate =
        flatbuffers::GetRoot<timing::Report>(me_aos->context().data);
    if (candidate->name()->string_view() == "primary") report = candidate;
  }
  ASSERT_NE(report, nullptr) << "no report from primary on /me/aos";
  // Its own sender is listed, on /me/aos.
  ASSERT_NE(report->senders(), nullptr);
  bool found_own_sender = false;
  for (const timing::Sender *sender : *report->senders()) {
    if (sender->channel_index() == primary->ChannelIndex(ConfiguredChannel(
                                       "/me/aos", "aos.timing.Report"))) {
      found_own_sender = true;
    }
  }
  EXPECT_TRUE(found_own_sender) << "the report sender is on /me/aos";
}

TEST_P(AbstractEventLoopMultiNodeDeathTest, OtherNodesChannelsDie) {
  auto loop = Make();
  EXPECT_DEATH(loop->MakeSender<TestMessage>("/from_them"),
               "\\{ \"name\": \"/from_them\", \"type\": "
               "\"aos.TestMessage\" \\} is not able to be sent on this "
               "node");
  EXPECT_DEATH(loop->MakeSender<TestMessage>("/them_only"),
               "/them_only.* is not able to be sent on this node");
  EXPECT_DEATH(loop->MakeFetcher<TestMessage>("/them_only"),
               "/them_only.* is not able to be fetched on this node");
  EXPECT_DEATH(loop->MakeWatcher("/them_only", [](const TestMessage &) {}),
               "/them_only.* is not able to be watched on this node");
  EXPECT_DEATH(loop->MakeNoArgWatcher<TestMessage>("/them_only", []() {}),
               "/them_only.* is not able to be watched on this node");
}

// Every way of reaching a channel this node cannot use dies in upstream's
// words (starting with "Channel "), naming the channel's source node; raw
// fetchers too, in both implementations.
TEST_P(AbstractEventLoopMultiNodeDeathTest, InaccessibleChannelMessages) {
  auto loop = Make();
  const Channel *them_only = ConfiguredChannel("/them_only", "aos.TestMessage");
  const std::string fetched =
      "Channel \\{ \"name\": \"/them_only\", \"type\": "
      "\"aos.TestMessage\" \\} is not able to be fetched on this node.  "
      "Check your configuration: its source_node is \"them\"";
  EXPECT_DEATH(loop->MakeRawFetcher(them_only), fetched);
  EXPECT_DEATH(loop->MakeFetcher<TestMessage>("/them_only"), fetched);
  EXPECT_DEATH(loop->MakeWatcher("/them_only", [](const TestMessage &) {}),
               "Channel \\{ \"name\": \"/them_only\", .* is not able to "
               "be watched on this node.  Check your configuration: its "
               "source_node is \"them\"");
  EXPECT_DEATH(loop->MakeSender<TestMessage>("/from_them"),
               "Channel \\{ \"name\": \"/from_them\", .* is not able to "
               "be sent on this node.  Check your configuration: its "
               "source_node is \"them\"");
}

}  // namespace aos::testing
