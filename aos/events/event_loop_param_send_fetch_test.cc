// Conformance tests (see event_loop_param_test.h) of senders and fetchers:
// Fetch and FetchNext, contexts and remote metadata, FetchIf, FetchNextUntil,
// the send variants, the sent-too-fast rule, and falling behind under
// kSkipToOldest.

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

namespace {

// Fills `sender`'s queue (values 0, 1, ...), lets those messages outlive the
// channel's storage duration, and fills it again (100, 101, ...): a reader
// still before the first round has been lapped. Returns the queue size.
int LapQueue(AbstractEventLoopTest *test, Sender<TestMessage> *sender) {
  const int queue_size = static_cast<int>(
      configuration::QueueSize(test->configuration(), sender->channel()));
  for (int i = 0; i < queue_size; ++i) SendValue(sender, i);
  test->RunFor(configuration::ChannelStorageDuration(test->configuration(),
                                                     sender->channel()) +
               milliseconds(1));
  for (int i = 0; i < queue_size; ++i) SendValue(sender, 100 + i);
  return queue_size;
}

}  // namespace

// Fetch gets the newest message, including ones sent before the fetcher was
// made; FetchNext only messages sent after.
TEST_P(AbstractEventLoopTest, FetchAndFetchNextStartingPoints) {
  auto loop1 = Make();
  auto loop2 = Make();
  auto sender = loop1->MakeSender<TestMessage>("/test");
  SendValue(&sender, 1);
  SendValue(&sender, 2);

  auto fetcher = loop2->MakeFetcher<TestMessage>("/test");
  EXPECT_EQ(fetcher.get(), nullptr);
  EXPECT_EQ(fetcher.context().data, nullptr);
  EXPECT_EQ(fetcher.context().monotonic_event_time, monotonic_clock::min_time);
  EXPECT_EQ(fetcher.context().queue_index, 0xffffffffu);
  EXPECT_EQ(fetcher.context().buffer_index, -1);

  EXPECT_FALSE(fetcher.FetchNext());
  ASSERT_TRUE(fetcher.Fetch());
  EXPECT_EQ(fetcher->value(), 2);
  EXPECT_FALSE(fetcher.Fetch()) << "the newest message is already held";
  EXPECT_FALSE(fetcher.FetchNext());

  SendValue(&sender, 3);
  SendValue(&sender, 4);
  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_EQ(fetcher->value(), 3);
  ASSERT_TRUE(fetcher.Fetch());
  EXPECT_EQ(fetcher->value(), 4);
  EXPECT_FALSE(fetcher.FetchNext());
  EXPECT_EQ(fetcher->value(), 4) << "a failed fetch keeps the message";
}

TEST_P(AbstractEventLoopTest, FetchNextDeliversEveryMessageInOrder) {
  auto loop1 = Make();
  auto loop2 = Make();
  auto fetcher = loop2->MakeFetcher<TestMessage>("/test");
  auto sender = loop1->MakeSender<TestMessage>("/test");
  for (int i = 0; i < 10; ++i) SendValue(&sender, i);
  uint32_t previous_index = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(fetcher.FetchNext());
    EXPECT_EQ(fetcher->value(), i);
    if (i > 0) {
      EXPECT_EQ(fetcher.context().queue_index, previous_index + 1);
    }
    previous_index = fetcher.context().queue_index;
  }
  EXPECT_FALSE(fetcher.FetchNext());
}

TEST_P(AbstractEventLoopTest, FetchContextDescribesTheMessage) {
  auto loop1 = Make();
  auto loop2 = Make();
  auto fetcher = loop2->MakeFetcher<TestMessage>("/test");
  auto sender = loop1->MakeSender<TestMessage>("/test");
  const monotonic_clock::time_point before = loop1->monotonic_now();
  SendValue(&sender, 7);
  ASSERT_TRUE(fetcher.FetchNext());
  const Context &context = fetcher.context();
  EXPECT_EQ(context.monotonic_event_time, sender.monotonic_sent_time());
  EXPECT_EQ(context.realtime_event_time, sender.realtime_sent_time());
  EXPECT_GE(context.monotonic_event_time, before);
  EXPECT_EQ(context.monotonic_remote_time, context.monotonic_event_time);
  EXPECT_EQ(context.realtime_remote_time, context.realtime_event_time);
  EXPECT_EQ(context.monotonic_remote_transmit_time, monotonic_clock::min_time);
  EXPECT_EQ(context.queue_index, sender.sent_queue_index());
  EXPECT_EQ(context.remote_queue_index, context.queue_index);
  EXPECT_EQ(context.source_boot_uuid, loop1->boot_uuid());
  ASSERT_NE(context.data, nullptr);
  EXPECT_EQ((reinterpret_cast<uintptr_t>(context.data) + context.size) %
                kChannelDataAlignment,
            0u);
  if (pinned()) {
    EXPECT_GE(context.buffer_index, 0);
    EXPECT_LT(context.buffer_index, loop2->NumberBuffers(fetcher.channel()));
  } else {
    EXPECT_EQ(context.buffer_index, -1);
  }
  FlatbufferVector<TestMessage> copy = fetcher.CopyFlatBuffer();
  EXPECT_TRUE(copy.Verify());
  EXPECT_EQ(copy.message().value(), 7);
}

TEST_P(AbstractEventLoopTest, RemoteMetadataIsDelivered) {
  auto loop1 = Make();
  auto loop2 = Make();
  auto raw_sender =
      loop1->MakeRawSender(loop1->GetChannel<TestMessage>("/test"));
  auto fetcher = loop2->MakeFetcher<TestMessage>("/test");
  flatbuffers::FlatBufferBuilder fbb;
  TestMessage::Builder builder(fbb);
  builder.add_value(3);
  fbb.Finish(builder.Finish());
  const monotonic_clock::time_point remote_monotonic =
      monotonic_clock::epoch() + std::chrono::seconds(5);
  const realtime_clock::time_point remote_realtime =
      realtime_clock::epoch() + std::chrono::seconds(6);
  const monotonic_clock::time_point transmit =
      monotonic_clock::epoch() + std::chrono::seconds(7);
  const UUID remote_boot = UUID::Random();
  ASSERT_EQ(
      raw_sender->Send(fbb.GetBufferPointer(), fbb.GetSize(), remote_monotonic,
                       remote_realtime, transmit, 971, remote_boot),
      RawSender::Error::kOk);
  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_EQ(fetcher->value(), 3);
  EXPECT_EQ(fetcher.context().monotonic_remote_time, remote_monotonic);
  EXPECT_EQ(fetcher.context().realtime_remote_time, remote_realtime);
  EXPECT_EQ(fetcher.context().monotonic_remote_transmit_time, transmit);
  EXPECT_EQ(fetcher.context().remote_queue_index, 971u);
  EXPECT_EQ(fetcher.context().source_boot_uuid, remote_boot);
}

TEST_P(AbstractEventLoopTest, FetchIfAndFetchNextIfOnlyConsumeAccepted) {
  auto loop1 = Make();
  auto loop2 = Make();
  auto fetcher = loop2->MakeFetcher<TestMessage>("/test");
  auto sender = loop1->MakeSender<TestMessage>("/test");

  int calls = 0;
  auto reject = [&calls](const Context &context) {
    ++calls;
    EXPECT_EQ(context.data, nullptr);
    return false;
  };
  auto accept = [&calls](const Context &) {
    ++calls;
    return true;
  };
  EXPECT_FALSE(fetcher.FetchNextIf(accept));
  EXPECT_FALSE(fetcher.FetchIf(accept));
  EXPECT_EQ(calls, 0) << "nothing new: the predicate is not called";

  SendValue(&sender, 1);
  SendValue(&sender, 2);
  EXPECT_FALSE(fetcher.FetchNextIf(reject));
  EXPECT_FALSE(fetcher.FetchIf(reject));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(fetcher.get(), nullptr);

  ASSERT_TRUE(fetcher.FetchNextIf(accept));
  EXPECT_EQ(fetcher->value(), 1) << "a rejected message is not consumed";
  ASSERT_TRUE(fetcher.FetchIf(accept));
  EXPECT_EQ(fetcher->value(), 2);
}

TEST_P(AbstractEventLoopTest, TryMakeOnMissingChannelsGivesInvalidObjects) {
  auto loop = Make();
  EXPECT_FALSE(loop->TryMakeFetcher<TestMessage>("/missing").valid());
  EXPECT_FALSE(loop->TryMakeSender<TestMessage>("/missing").valid());
  EXPECT_TRUE(loop->TryMakeFetcher<TestMessage>("/test").valid());
  EXPECT_TRUE(loop->TryMakeSender<TestMessage>("/test").valid());
  EXPECT_TRUE(loop->HasChannel<TestMessage>("/test"));
  EXPECT_FALSE(loop->HasChannel<TestMessage>("/missing"));
}

TEST_P(AbstractEventLoopTest, SendVariants) {
  auto loop1 = Make();
  auto loop2 = Make();
  auto sender = loop1->MakeSender<TestMessage>("/test");
  auto fetcher = loop2->MakeFetcher<TestMessage>("/test");

  ASSERT_EQ(sender.SendJson(R"({"value": 11})"), RawSender::Error::kOk);
  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_EQ(fetcher->value(), 11);

  FlatbufferDetachedBuffer<TestMessage> prebuilt =
      JsonToFlatbuffer<TestMessage>(R"({"value": 12})");
  ASSERT_EQ(sender.Send(prebuilt), RawSender::Error::kOk);
  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_EQ(fetcher->value(), 12);

  {
    Sender<TestMessage>::Builder builder = sender.MakeBuilder();
    TestMessage::Builder message = builder.MakeBuilder<TestMessage>();
    message.add_value(13);
    FlatbufferDetachedBuffer<TestMessage> detached =
        builder.Detach(message.Finish());
    EXPECT_EQ(detached.message().value(), 13);
    ASSERT_EQ(sender.SendDetached(std::move(detached)), RawSender::Error::kOk);
  }
  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_EQ(fetcher->value(), 13);
  EXPECT_EQ(fetcher.context().queue_index, sender.sent_queue_index());
}

// Sending faster than the channel's frequency allows fails without
// publishing anything, and the sender can send again later.
TEST_P(AbstractEventLoopTest, SentTooFastPublishesNothing) {
  auto loop1 = Make();
  auto loop2 = Make();
  auto sender = loop1->MakeSender<TestMessage>("/fast");
  auto fetcher = loop2->MakeFetcher<TestMessage>("/fast");
  const size_t queue_size =
      configuration::QueueSize(configuration(), fetcher.channel());
  for (size_t i = 0; i < queue_size; ++i) {
    ASSERT_EQ(TrySendValue(&sender, static_cast<int>(i)),
              RawSender::Error::kOk);
  }
  const uint32_t last_index = sender.sent_queue_index();
  EXPECT_EQ(TrySendValue(&sender, 100), RawSender::Error::kMessagesSentTooFast);
  EXPECT_EQ(sender.sent_queue_index(), last_index);
  ASSERT_TRUE(fetcher.Fetch());
  EXPECT_EQ(fetcher->value(), static_cast<int>(queue_size) - 1);
}

// A tool that opts in to kSkipToOldest keeps going when it falls behind: it
// gets the oldest message still queued and is told how many it lost.
TEST_P(AbstractEventLoopTest, FetchNextSkipToOldest) {
  ScopedTimingReportPeriod period(50);
  auto loop1 = Make();
  auto primary = MakePrimary("primary");
  auto report_fetcher = loop1->MakeFetcher<timing::Report>("/aos");
  auto fetcher = primary->MakeFetcher<TestMessage>("/fast");
  EXPECT_EQ(fetcher.fall_behind_policy(), FallBehindPolicy::kDie);
  fetcher.set_fall_behind_policy(FallBehindPolicy::kSkipToOldest);
  EXPECT_EQ(fetcher.fall_behind_policy(), FallBehindPolicy::kSkipToOldest);
  auto sender = loop1->MakeSender<TestMessage>("/fast");
  const int queue_size = static_cast<int>(
      configuration::QueueSize(configuration(), sender.channel()));
  const monotonic_clock::duration storage =
      configuration::ChannelStorageDuration(configuration(), sender.channel());

  for (int i = 0; i < queue_size; ++i) SendValue(&sender, i);
  // Not behind yet: nothing lost.
  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_EQ(fetcher->value(), 0);
  EXPECT_EQ(fetcher.context().lost_messages, 0u);
  RunFor(storage + milliseconds(1));
  // Overwrites 1 .. queue_size - 1 and adds one more: the ring now holds
  // 100 .. 100 + queue_size - 1, so queue_size - 1 messages are gone.
  for (int i = 0; i < queue_size; ++i) SendValue(&sender, 100 + i);
  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_EQ(fetcher->value(), 100);
  EXPECT_EQ(fetcher.context().lost_messages,
            static_cast<uint64_t>(queue_size - 1));
  EXPECT_EQ(fetcher.lost_messages(), static_cast<uint64_t>(queue_size - 1));
  // Caught up: the following ones come in order with no loss.
  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_EQ(fetcher->value(), 101);
  EXPECT_EQ(fetcher.context().lost_messages, 0u);
  // Fetch() skipping to the newest is not a loss.
  ASSERT_TRUE(fetcher.Fetch());
  EXPECT_EQ(fetcher->value(), 100 + queue_size - 1);
  EXPECT_EQ(fetcher.context().lost_messages, 0u);
  EXPECT_EQ(fetcher.lost_messages(), static_cast<uint64_t>(queue_size - 1));

  // The loss is in the primary's next timing report.
  ASSERT_TRUE(RunPastFirstTimingReport(primary.get()).has_value());
  // Reports from the RunFor above say 0; the sum over all says the loss.
  uint64_t reported_lost = 0;
  int reports = 0;
  while (report_fetcher.FetchNext()) {
    if (report_fetcher->name()->string_view() != "primary") continue;
    ++reports;
    ASSERT_NE(report_fetcher->fetchers(), nullptr);
    ASSERT_EQ(report_fetcher->fetchers()->size(), 1u);
    reported_lost += report_fetcher->fetchers()->Get(0)->lost_messages();
  }
  EXPECT_GT(reports, 0);
  EXPECT_EQ(reported_lost, static_cast<uint64_t>(queue_size - 1));
}

// FetchNextIf under kSkipToOldest: a rejected message is not consumed, and
// the loss is still counted (when it happened) and reported with the message
// finally fetched.
TEST_P(AbstractEventLoopTest, FetchNextIfSkipToOldest) {
  auto loop1 = Make();
  auto loop2 = Make();
  auto primary = MakePrimary();
  auto fetcher = loop2->MakeFetcher<TestMessage>("/fast");
  fetcher.set_fall_behind_policy(FallBehindPolicy::kSkipToOldest);
  auto sender = loop1->MakeSender<TestMessage>("/fast");
  const int queue_size = LapQueue(this, &sender);
  // The fetcher, made before anything was sent, lost the whole first round.
  const uint64_t expected_lost = static_cast<uint64_t>(queue_size);
  EXPECT_FALSE(fetcher.FetchNextIf([](const Context &) { return false; }));
  EXPECT_EQ(fetcher.lost_messages(), expected_lost);
  ASSERT_TRUE(fetcher.FetchNextIf([](const Context &) { return true; }));
  EXPECT_EQ(fetcher->value(), 100);
  EXPECT_EQ(fetcher.context().lost_messages, expected_lost);
  EXPECT_EQ(fetcher.lost_messages(), expected_lost);
}

// FetchNextUntil visits, in order and in place, every message sent by a
// time, stops where the visitor asks, and leaves the fetcher holding the
// last one (as FetchNextIf in a loop would).
TEST_P(AbstractEventLoopTest, FetchNextUntilVisitsMessagesSentByThen) {
  auto loop1 = Make();
  auto loop2 = Make();
  auto primary = MakePrimary();
  auto sender = loop1->MakeSender<TestMessage>("/test");
  std::unique_ptr<RawFetcher> fetcher = loop2->MakeRawFetcher(sender.channel());
  for (int i = 0; i < 3; ++i) SendValue(&sender, i);
  const monotonic_clock::time_point third = sender.monotonic_sent_time();
  RunFor(milliseconds(10));
  for (int i = 3; i < 5; ++i) SendValue(&sender, i);

  std::vector<int> values;
  const auto value_of = [](const Context &context) {
    return flatbuffers::GetRoot<TestMessage>(context.data)->value();
  };
  const auto keep_all = [&](const Context &context) {
    EXPECT_EQ(context.lost_messages, 0u);
    values.push_back(value_of(context));
    return true;
  };
  EXPECT_EQ(fetcher->FetchNextUntil(third, keep_all), 3u);
  EXPECT_THAT(values, ::testing::ElementsAre(0, 1, 2));
  EXPECT_EQ(value_of(fetcher->context()), 2);
  EXPECT_EQ(fetcher->context().monotonic_event_time, third);
  // Nothing more was sent by then.
  EXPECT_EQ(fetcher->FetchNextUntil(third, keep_all), 0u);
  EXPECT_EQ(value_of(fetcher->context()), 2);
  // A visitor returning false stops after that message.
  values.clear();
  EXPECT_EQ(fetcher->FetchNextUntil(monotonic_clock::max_time,
                                    [&](const Context &context) {
                                      values.push_back(value_of(context));
                                      return false;
                                    }),
            1u);
  EXPECT_THAT(values, ::testing::ElementsAre(3));
  EXPECT_EQ(value_of(fetcher->context()), 3);
  EXPECT_EQ(fetcher->FetchNextUntil(monotonic_clock::max_time, keep_all), 1u);
  EXPECT_THAT(values, ::testing::ElementsAre(3, 4));
  EXPECT_EQ(fetcher->FetchNextUntil(monotonic_clock::max_time, keep_all), 0u);
  EXPECT_EQ(value_of(fetcher->context()), 4);
}

// FetchNextUntil under kSkipToOldest: the loss is counted and reported with
// the first message after it, and with no other.
TEST_P(AbstractEventLoopTest, FetchNextUntilSkipToOldest) {
  auto loop1 = Make();
  auto loop2 = Make();
  auto primary = MakePrimary();
  auto sender = loop1->MakeSender<TestMessage>("/fast");
  std::unique_ptr<RawFetcher> fetcher = loop2->MakeRawFetcher(sender.channel());
  fetcher->set_fall_behind_policy(FallBehindPolicy::kSkipToOldest);
  const int queue_size = LapQueue(this, &sender);
  std::vector<int> values;
  std::vector<uint64_t> lost;
  EXPECT_EQ(fetcher->FetchNextUntil(
                monotonic_clock::max_time,
                [&](const Context &context) {
                  values.push_back(
                      flatbuffers::GetRoot<TestMessage>(context.data)->value());
                  lost.push_back(context.lost_messages);
                  return true;
                }),
            static_cast<size_t>(queue_size));
  ASSERT_EQ(values.size(), static_cast<size_t>(queue_size));
  for (int i = 0; i < queue_size; ++i) {
    EXPECT_EQ(values[i], 100 + i);
    EXPECT_EQ(lost[i], i == 0 ? static_cast<uint64_t>(queue_size) : 0u);
  }
  EXPECT_EQ(fetcher->lost_messages(), static_cast<uint64_t>(queue_size));
  EXPECT_EQ(fetcher->context().lost_messages,
            queue_size == 1 ? static_cast<uint64_t>(queue_size) : 0u);
}

// A sender overrunning the reader in the middle of a FetchNextUntil drain
// (here from the visitor, once the first message was fetched) makes the
// drain skip to the oldest message still queued, as FetchNextIf would: the
// messages kept are visited once each, in order, and the loss is counted
// exactly once, on the first message after it.
TEST_P(AbstractEventLoopTest, FetchNextUntilSkipsWhenOverrunDuringDrain) {
  auto loop1 = Make();
  auto loop2 = Make();
  auto primary = MakePrimary();
  auto sender = loop1->MakeSender<TestMessage>("/fast");
  std::unique_ptr<RawFetcher> fetcher = loop2->MakeRawFetcher(sender.channel());
  fetcher->set_fall_behind_policy(FallBehindPolicy::kSkipToOldest);
  const int queue_size = static_cast<int>(
      configuration::QueueSize(configuration(), sender.channel()));
  ASSERT_GE(queue_size, 3);
  // One slot stays free, so the second round overwrites exactly the first
  // round's messages after the one being visited.
  const int first_round = queue_size - 1;
  for (int i = 0; i < first_round; ++i) SendValue(&sender, i);
  // Old enough to be overwritten without tripping the sent-too-fast check.
  RunFor(
      configuration::ChannelStorageDuration(configuration(), sender.channel()) +
      milliseconds(1));
  std::vector<int> values;
  std::vector<uint64_t> lost;
  const auto value_of = [](const Context &context) {
    return flatbuffers::GetRoot<TestMessage>(context.data)->value();
  };
  const size_t fetched = fetcher->FetchNextUntil(
      monotonic_clock::max_time, [&](const Context &context) {
        values.push_back(value_of(context));
        lost.push_back(context.lost_messages);
        if (values.size() == 1) {
          for (int i = 0; i < queue_size; ++i) {
            SendValue(&sender, first_round + i);
          }
        }
        return true;
      });
  std::vector<int> expected_values = {0};
  std::vector<uint64_t> expected_lost = {0};
  const uint64_t skipped = static_cast<uint64_t>(first_round - 1);
  for (int i = 0; i < queue_size; ++i) {
    expected_values.push_back(first_round + i);
    expected_lost.push_back(i == 0 ? skipped : 0u);
  }
  EXPECT_THAT(values, ::testing::ElementsAreArray(expected_values));
  EXPECT_THAT(lost, ::testing::ElementsAreArray(expected_lost));
  EXPECT_EQ(fetched, values.size());
  EXPECT_EQ(fetcher->lost_messages(), skipped);
  EXPECT_EQ(value_of(fetcher->context()), first_round + queue_size - 1);
  EXPECT_EQ(fetcher->context().lost_messages, 0u);
  EXPECT_EQ(fetcher->FetchNextUntil(monotonic_clock::max_time,
                                    [](const Context &) { return true; }),
            0u);
  EXPECT_EQ(fetcher->lost_messages(), skipped);
}

}  // namespace aos::testing
