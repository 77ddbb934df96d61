// Conformance tests of Sender<T>::MakeStaticBuilder (static flatbuffers,
// aos/flatbuffers/static_table.h): the TEST_Ps join the AbstractEventLoopTest
// suites, so every implementation instantiating those runs them (this file
// is compiled into each implementation's test binary, as the
// event_loop_param_*_test.cc files are).

#include <chrono>
#include <utility>
#include <vector>

#include "aos/events/event_loop.h"
#include "aos/events/event_loop_param_test.h"
#include "aos/events/test_message_generated.h"
#include "aos/events/test_message_static.h"
#include "flatbuffers/flatbuffers.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

using std::chrono::milliseconds;

// The payload size of a static TestMessage: its static size, rounded up to
// the arena's alignment.
constexpr size_t kStaticMessageSize =
    (fbs::Builder<TestMessageStatic>::kSize + fbs::Arena::kAlignment - 1) /
    fbs::Arena::kAlignment * fbs::Arena::kAlignment;

bool VerifiesAsTestMessage(const Context &context) {
  flatbuffers::Verifier verifier(static_cast<const uint8_t *>(context.data),
                                 context.size);
  return verifier.VerifyBuffer<TestMessage>(nullptr);
}

// A static builder's message reaches fetchers as an ordinary TestMessage,
// built in place in the sender's buffer (payload ending at its end).
TEST_P(AbstractEventLoopTest, StaticBuilderSends) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/test");
  auto fetcher = loop->MakeFetcher<TestMessage>("/test");

  Sender<TestMessage>::StaticBuilder builder = sender.MakeStaticBuilder();
  builder->set_value(71);
  EXPECT_EQ(builder->value(), 71);
  ASSERT_EQ(builder.Send(), RawSender::Error::kOk);

  ASSERT_TRUE(fetcher.Fetch());
  EXPECT_EQ(fetcher->value(), 71);
  EXPECT_EQ(fetcher.context().size, kStaticMessageSize);
  EXPECT_TRUE(VerifiesAsTestMessage(fetcher.context()));
  EXPECT_EQ(sender.sent_queue_index(), fetcher.context().queue_index);
}

// A field left unset is absent: readers see the schema default.
TEST_P(AbstractEventLoopTest, StaticBuilderUnsetField) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/test");
  auto fetcher = loop->MakeFetcher<TestMessage>("/test");
  sender.MakeStaticBuilder().CheckSent();
  ASSERT_TRUE(fetcher.Fetch());
  EXPECT_TRUE(VerifiesAsTestMessage(fetcher.context()));
  EXPECT_FALSE(reinterpret_cast<const flatbuffers::Table *>(fetcher.get())
                   ->CheckField(TestMessage::VT_VALUE));
  EXPECT_EQ(fetcher->value(), 0);
}

// A sender may be made for the static type itself.
TEST_P(AbstractEventLoopTest, SenderOfStaticType) {
  auto loop = Make();
  Sender<TestMessageStatic> sender =
      loop->MakeSender<TestMessageStatic>("/test");
  ASSERT_TRUE(sender.valid());
  auto fetcher = loop->MakeFetcher<TestMessage>("/test");
  auto builder = sender.MakeStaticBuilder();
  builder->set_value(5);
  builder.CheckSent();
  ASSERT_TRUE(fetcher.Fetch());
  EXPECT_EQ(fetcher->value(), 5);
  EXPECT_FALSE(loop->TryMakeSender<TestMessageStatic>("/missing").valid());
}

// Static and classic builders take turns on one sender; an abandoned static
// builder sends nothing and frees the sender for the next one.
TEST_P(AbstractEventLoopTest, StaticAndClassicBuildersTakeTurns) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/test");
  auto fetcher = loop->MakeFetcher<TestMessage>("/test");
  {
    auto abandoned = sender.MakeStaticBuilder();
    abandoned->set_value(-1);
  }
  EXPECT_FALSE(fetcher.Fetch());
  for (int value = 1; value <= 6; ++value) {
    if (value % 2 == 0) {
      SendValue(&sender, value);
    } else {
      auto builder = sender.MakeStaticBuilder();
      builder->set_value(value);
      builder.CheckSent();
    }
  }
  std::vector<int> values;
  while (fetcher.FetchNext()) values.push_back(fetcher->value());
  EXPECT_EQ(values, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  // The JSON path uses the classic builder too.
  ASSERT_EQ(sender.SendJson(R"({"value": 7})"), RawSender::Error::kOk);
  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_EQ(fetcher->value(), 7);
}

Sender<TestMessage>::StaticBuilder MakeWithValue(Sender<TestMessage> *sender,
                                                 int value) {
  auto builder = sender->MakeStaticBuilder();
  builder->set_value(value);
  return builder;
}

// The builder is movable: returned from a function, move-assigned.
TEST_P(AbstractEventLoopTest, StaticBuilderMoves) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/test");
  auto fetcher = loop->MakeFetcher<TestMessage>("/test");
  Sender<TestMessage>::StaticBuilder builder = MakeWithValue(&sender, 11);
  Sender<TestMessage>::StaticBuilder moved = std::move(builder);
  EXPECT_EQ(moved->value(), 11);
  moved.CheckSent();
  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_EQ(fetcher->value(), 11);

  Sender<TestMessage>::StaticBuilder assigned;
  assigned = MakeWithValue(&sender, 12);
  assigned.CheckSent();
  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_EQ(fetcher->value(), 12);
}

// Sending from a running loop's timer; watchers get every message.
TEST_P(AbstractEventLoopTest, StaticBuilderFromTimer) {
  auto sender_loop = Make();
  auto primary = MakePrimary();
  auto sender = sender_loop->MakeSender<TestMessage>("/test");
  std::vector<int> received;
  primary->MakeWatcher("/test", [&](const TestMessage &message) {
    EXPECT_TRUE(VerifiesAsTestMessage(primary->context()));
    received.push_back(message.value());
    if (received.size() == 3) Exit();
  });
  int next = 0;
  TimerHandler *timer = primary->AddTimer([&]() {
    auto builder = sender.MakeStaticBuilder();
    builder->set_value(++next);
    builder.CheckSent();
  });
  primary->OnRun(
      [&]() { timer->Schedule(primary->monotonic_now(), milliseconds(1)); });
  ASSERT_TRUE(Run().has_value());
  EXPECT_EQ(received, (std::vector<int>{1, 2, 3}));
}

TEST_P(AbstractEventLoopDeathTest, OneStaticBuilderAtATime) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/test");
  auto builder = sender.MakeStaticBuilder();
  EXPECT_DEATH(sender.MakeStaticBuilder(),
               "May not have multiple active allocators on a single sender "
               "\\(.*\"/test\".*\\): a static builder is alive");
}

TEST_P(AbstractEventLoopDeathTest, MixingStaticAndClassicBuildersDies) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/test");
  {
    auto builder = sender.MakeStaticBuilder();
    EXPECT_DEATH(sender.MakeBuilder(),
                 "May not have multiple active allocators on a single sender "
                 "\\(.*\"/test\".*\\): a static builder is alive");
  }
  {
    // A classic Builder takes the buffer when it starts building.
    auto builder = sender.MakeBuilder();
    TestMessage::Builder message = builder.MakeBuilder<TestMessage>();
    message.add_value(1);
    EXPECT_DEATH(sender.MakeStaticBuilder(),
                 "May not have multiple active allocators on a single sender "
                 "\\(.*\"/test\".*\\): a Builder or detached buffer is alive");
  }
  {
    // One made before the static builder dies when it starts building.
    auto builder = sender.MakeBuilder();
    auto static_builder = sender.MakeStaticBuilder();
    EXPECT_DEATH(builder.MakeBuilder<TestMessage>().add_value(1),
                 "May not have multiple active allocators on a single sender "
                 "\\(.*\"/test\".*\\): a static builder is alive");
  }
  {
    auto builder = sender.MakeBuilder();
    TestMessage::Builder message = builder.MakeBuilder<TestMessage>();
    FlatbufferDetachedBuffer<TestMessage> detached =
        builder.Detach(message.Finish());
    EXPECT_DEATH(sender.MakeStaticBuilder(),
                 "a Builder or detached buffer is alive");
  }
  // Each died in a child; here the sender is free again.
  sender.MakeStaticBuilder().CheckSent();
}

TEST_P(AbstractEventLoopDeathTest, StaticBuilderOfInvalidSender) {
  Sender<TestMessage> invalid;
  EXPECT_DEATH(invalid.MakeStaticBuilder(),
               "using an invalid Sender of aos.TestMessage");
  Sender<TestMessage>::StaticBuilder empty;
  EXPECT_DEATH(empty->set_value(1), "empty static flatbuffer Builder");
}

}  // namespace
}  // namespace aos::testing
