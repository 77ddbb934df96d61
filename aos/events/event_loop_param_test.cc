#include "aos/events/event_loop_param_test.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include "aos/events/event_loop_generated.h"
#include "aos/events/test_message_generated.h"
#include "aos/network/remote_message_generated.h"
#include "aos/realtime.h"
#include "glog/logging.h"
#include "gmock/gmock.h"

namespace aos::testing {

using std::chrono::milliseconds;

namespace {

// Small queues keep shared-memory set-up cheap. /fast holds 4 messages per
// 200 ms, so sending 5 in a row trips the sent-too-fast rule and 5 unread
// messages put a reader more than a queue behind. /small has a 64-byte
// payload. /no_watchers cannot be watched at all.
constexpr std::string_view kTestConfig = R"json({
  "channels": [
    {"name": "/aos", "type": "aos.timing.Report", "frequency": 50,
     "num_senders": 20, "max_size": 4096},
    {"name": "/test", "type": "aos.TestMessage", "frequency": 200},
    {"name": "/test1", "type": "aos.TestMessage"},
    {"name": "/test2", "type": "aos.TestMessage"},
    {"name": "/fast", "type": "aos.TestMessage", "frequency": 20,
     "channel_storage_duration": 200000000},
    {"name": "/one_sender", "type": "aos.TestMessage", "num_senders": 1},
    {"name": "/no_watchers", "type": "aos.TestMessage", "num_watchers": 0},
    {"name": "/small", "type": "aos.TestMessage", "max_size": 64}
  ]
})json";

// Two nodes. Loops under test run on "me". Each node has its own timing
// report channel, reached as /aos through node-specific maps, with room for
// reports from several loops (simulation's message bridge reports too). /test
// is sent on "me" and forwarded to "them" (with delivery timestamps coming back
// on a remote timestamp channel of "me"); /from_them is forwarded the other
// way; /them_only never leaves "them".
constexpr std::string_view kMultiNodeTestConfig = R"json({
  "nodes": [
    {"name": "me", "hostname": "me"},
    {"name": "them", "hostname": "them"}
  ],
  "maps": [
    {"match": {"name": "/aos", "source_node": "me"},
     "rename": {"name": "/me/aos"}},
    {"match": {"name": "/aos", "source_node": "them"},
     "rename": {"name": "/them/aos"}}
  ],
  "channels": [
    {"name": "/me/aos", "type": "aos.timing.Report", "source_node": "me",
     "frequency": 1000, "num_senders": 20, "max_size": 4096},
    {"name": "/them/aos", "type": "aos.timing.Report", "source_node": "them",
     "frequency": 1000, "num_senders": 20, "max_size": 4096},
    {"name": "/test", "type": "aos.TestMessage", "source_node": "me",
     "frequency": 200,
     "destination_nodes": [
       {"name": "them", "timestamp_logger": "REMOTE_LOGGER",
        "timestamp_logger_nodes": ["me"]}
     ]},
    {"name": "/aos/remote_timestamps/them/test/aos-TestMessage",
     "type": "aos.message_bridge.RemoteMessage", "source_node": "me",
     "frequency": 200, "num_senders": 4},
    {"name": "/from_them", "type": "aos.TestMessage", "source_node": "them",
     "destination_nodes": [{"name": "me"}]},
    {"name": "/them_only", "type": "aos.TestMessage", "source_node": "them"}
  ]
})json";

constexpr int kPinReaders = 3;

}  // namespace

void SendValue(Sender<TestMessage> *sender, int value) {
  Sender<TestMessage>::Builder builder = sender->MakeBuilder();
  TestMessage::Builder message = builder.MakeBuilder<TestMessage>();
  message.add_value(value);
  builder.CheckOk(builder.Send(message.Finish()));
}

RawSender::Error TrySendValue(Sender<TestMessage> *sender, int value) {
  Sender<TestMessage>::Builder builder = sender->MakeBuilder();
  TestMessage::Builder message = builder.MakeBuilder<TestMessage>();
  message.add_value(value);
  return builder.Send(message.Finish());
}

EventLoopTestFactory::EventLoopTestFactory()
    : config_(configuration::MergeWithConfig(
          &FlatbufferDetachedBuffer<Configuration>::Empty().message(),
          kTestConfig)) {}

EventLoopTestFactory::~EventLoopTestFactory() = default;

void EventLoopTestFactory::PinReads() {
  pin_reads_ = true;
  ApplyPinReads();
}

void EventLoopTestFactory::ApplyPinReads() {
  std::string json = R"({"channels": [)";
  bool first = true;
  for (const Channel *channel : *config_.message().channels()) {
    if (!first) json += ",";
    first = false;
    json += R"({"name": ")" + channel->name()->str() + R"(", "type": ")" +
            channel->type()->str() +
            R"(", "read_method": "PIN", "num_readers": )" +
            std::to_string(kPinReaders) + "}";
  }
  json += "]}";
  config_ = configuration::MergeWithConfig(&config_.message(), json);
}

void EventLoopTestFactory::EnableNodes() {
  config_ = configuration::MergeWithConfig(
      &FlatbufferDetachedBuffer<Configuration>::Empty().message(),
      kMultiNodeTestConfig);
  if (pin_reads_) ApplyPinReads();
  my_node_ = configuration::GetNode(&config_.message(), "me");
  CHECK(my_node_ != nullptr);
}

std::vector<EventLoopTestParam> MakeEventLoopTestParams(
    std::string_view implementation,
    std::function<std::unique_ptr<EventLoopTestFactory>()> make_factory) {
  return {
      {make_factory, TestReadMethod::kCopy,
       std::string(implementation) + "Copy"},
      {make_factory, TestReadMethod::kPin, std::string(implementation) + "Pin"},
  };
}

void PrintTo(const EventLoopTestParam &param, std::ostream *os) {
  *os << param.name;
}

std::string EventLoopTestParamName(
    const ::testing::TestParamInfo<EventLoopTestParam> &info) {
  return info.param.name;
}

AbstractEventLoopTest::AbstractEventLoopTest()
    : factory_(GetParam().make_factory()) {
  if (GetParam().read_method == TestReadMethod::kPin) factory_->PinReads();
}

const Channel *AbstractEventLoopMultiNodeTest::ConfiguredChannel(
    std::string_view name, std::string_view type) const {
  for (const Channel *channel : *configuration()->channels()) {
    if (channel->name()->string_view() == name &&
        channel->type()->string_view() == type) {
      return channel;
    }
  }
  LOG(FATAL) << "no channel " << name << " " << type << " in the test config";
  std::abort();
}

std::string AbstractEventLoopTest::NextName(std::string_view name) {
  ++loop_count_;
  if (!name.empty()) return std::string(name);
  return "loop" + std::to_string(loop_count_);
}

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

TEST_P(AbstractEventLoopTest, WatcherSeesOnlyMessagesFromRunOnInOrder) {
  auto loop1 = Make();
  auto primary = MakePrimary();
  auto sender = loop1->MakeSender<TestMessage>("/test");
  std::vector<int> values;
  std::vector<uint32_t> queue_indices;
  primary->MakeWatcher("/test", [&](const TestMessage &message) {
    values.push_back(message.value());
    const Context &context = primary->context();
    queue_indices.push_back(context.queue_index);
    EXPECT_EQ(context.size, primary->context().size);
    EXPECT_EQ(flatbuffers::GetRoot<TestMessage>(context.data)->value(),
              message.value());
    EXPECT_EQ(context.source_boot_uuid, primary->boot_uuid());
    if (pinned()) {
      EXPECT_GE(context.buffer_index, 0);
    } else {
      EXPECT_EQ(context.buffer_index, -1);
    }
    if (message.value() == 4) Exit();
  });
  SendValue(&sender, 100);  // Before Run: never delivered.
  primary->OnRun([&]() {
    for (int i = 1; i <= 4; ++i) SendValue(&sender, i);
  });
  ASSERT_TRUE(Run().has_value());
  EXPECT_THAT(values, ::testing::ElementsAre(1, 2, 3, 4));
  for (size_t i = 1; i < queue_indices.size(); ++i) {
    EXPECT_EQ(queue_indices[i], queue_indices[i - 1] + 1);
  }
  EXPECT_EQ(primary->context().data, nullptr) << "cleared after Run";
  EXPECT_EQ(primary->context().monotonic_event_time, monotonic_clock::min_time);
}

TEST_P(AbstractEventLoopTest, NoArgWatcherGetsContextWithoutData) {
  auto loop1 = Make();
  auto primary = MakePrimary();
  auto sender = loop1->MakeSender<TestMessage>("/test");
  int calls = 0;
  primary->MakeNoArgWatcher<TestMessage>("/test", [&]() {
    ++calls;
    EXPECT_EQ(primary->context().data, nullptr);
    EXPECT_EQ(primary->context().buffer_index, -1);
    EXPECT_GT(primary->context().size, 0u);
    EXPECT_EQ(primary->context().queue_index, sender.sent_queue_index());
    Exit();
  });
  primary->OnRun([&]() { SendValue(&sender, 5); });
  ASSERT_TRUE(Run().has_value());
  EXPECT_EQ(calls, 1);
}

// Watchers and timers run in the order of their event times.
TEST_P(AbstractEventLoopTest, WatchersAndTimersInterleaveByEventTime) {
  auto loop1 = Make();
  auto primary = MakePrimary();
  auto sender = loop1->MakeSender<TestMessage>("/test");
  std::vector<monotonic_clock::time_point> event_times;
  std::vector<std::string> events;
  int messages = 0;
  primary->MakeWatcher("/test", [&](const TestMessage &message) {
    event_times.push_back(primary->context().monotonic_event_time);
    events.push_back("message " + std::to_string(message.value()));
    if (++messages == 4) Exit();
  });
  TimerHandler *sending_timer = primary->AddTimer([&]() {
    event_times.push_back(primary->context().monotonic_event_time);
    events.push_back("timer");
    SendValue(&sender, static_cast<int>(events.size()));
  });
  primary->OnRun([&]() {
    sending_timer->Schedule(primary->monotonic_now() + milliseconds(1),
                            milliseconds(2));
  });
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(events.size(), 8u);
  EXPECT_TRUE(std::is_sorted(event_times.begin(), event_times.end()));
  for (size_t i = 0; i + 1 < events.size(); i += 2) {
    EXPECT_EQ(events[i], "timer");
    EXPECT_THAT(events[i + 1], ::testing::StartsWith("message "));
  }
}

TEST_P(AbstractEventLoopTest, TimerContextAndRepeats) {
  auto primary = MakePrimary();
  std::vector<monotonic_clock::time_point> fire_times;
  monotonic_clock::time_point base;
  TimerHandler *timer = primary->AddTimer([&]() {
    const Context &context = primary->context();
    fire_times.push_back(context.monotonic_event_time);
    EXPECT_EQ(context.realtime_event_time, realtime_clock::min_time);
    EXPECT_EQ(context.queue_index, 0xffffffffu);
    EXPECT_EQ(context.data, nullptr);
    EXPECT_EQ(context.size, 0u);
    EXPECT_EQ(context.buffer_index, -1);
    if (fire_times.size() == 4) Exit();
  });
  timer->set_name("repeating");
  EXPECT_EQ(timer->name(), "repeating");
  EXPECT_TRUE(timer->IsDisabled());
  primary->OnRun([&]() {
    base = primary->monotonic_now() + milliseconds(1);
    timer->Schedule(base, milliseconds(2));
    EXPECT_FALSE(timer->IsDisabled());
  });
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(fire_times.size(), 4u);
  EXPECT_EQ(fire_times[0], base);
  for (size_t i = 1; i < fire_times.size(); ++i) {
    // Skipped repetitions are allowed on a loaded machine; off-phase ones
    // are not.
    EXPECT_GT(fire_times[i], fire_times[i - 1]);
    EXPECT_EQ((fire_times[i] - base) % milliseconds(2), milliseconds(0));
  }
  EXPECT_FALSE(timer->IsDisabled()) << "a repeating timer stays enabled";
}

TEST_P(AbstractEventLoopTest, OneShotTimerInThePastFiresOnceAndDisables) {
  auto primary = MakePrimary();
  int fired = 0;
  TimerHandler *timer = primary->AddTimer([&]() {
    ++fired;
    EXPECT_EQ(primary->context().monotonic_event_time,
              monotonic_clock::epoch() + std::chrono::seconds(1));
  });
  TimerHandler *exit_timer = primary->AddTimer([&]() { Exit(); });
  primary->OnRun([&]() {
    timer->Schedule(monotonic_clock::epoch() + std::chrono::seconds(1));
    exit_timer->Schedule(primary->monotonic_now() + milliseconds(5));
  });
  ASSERT_TRUE(Run().has_value());
  EXPECT_EQ(fired, 1);
  EXPECT_TRUE(timer->IsDisabled());
}

TEST_P(AbstractEventLoopTest, ScheduleBeforeRunWorks) {
  auto primary = MakePrimary();
  int fired = 0;
  TimerHandler *timer = primary->AddTimer([&]() {
    ++fired;
    Exit();
  });
  timer->Schedule(primary->monotonic_now() + milliseconds(1));
  ASSERT_TRUE(Run().has_value());
  EXPECT_EQ(fired, 1);
}

// Disabling works from the timer's own callback and from another timer due
// at the same time.
TEST_P(AbstractEventLoopTest, DisableFromCallbacks) {
  auto primary = MakePrimary();
  int self_disabled_calls = 0;
  int victim_calls = 0;
  TimerHandler *self_disabling = nullptr;
  self_disabling = primary->AddTimer([&]() {
    ++self_disabled_calls;
    self_disabling->Disable();
  });
  TimerHandler *victim = primary->AddTimer([&]() { ++victim_calls; });
  TimerHandler *killer = primary->AddTimer([&]() { victim->Disable(); });
  TimerHandler *exit_timer = primary->AddTimer([&]() { Exit(); });
  primary->OnRun([&]() {
    const monotonic_clock::time_point now = primary->monotonic_now();
    self_disabling->Schedule(now + milliseconds(1), milliseconds(1));
    // Same time: the killer was scheduled first, so it runs first.
    killer->Schedule(now + milliseconds(2));
    victim->Schedule(now + milliseconds(2), milliseconds(1));
    exit_timer->Schedule(now + milliseconds(10));
  });
  ASSERT_TRUE(Run().has_value());
  EXPECT_EQ(self_disabled_calls, 1);
  EXPECT_EQ(victim_calls, 0);
  EXPECT_TRUE(self_disabling->IsDisabled());
  EXPECT_TRUE(victim->IsDisabled());
}

TEST_P(AbstractEventLoopTest, RescheduleFromOwnCallbackIsRespected) {
  auto primary = MakePrimary();
  std::vector<monotonic_clock::time_point> fire_times;
  TimerHandler *timer = nullptr;
  timer = primary->AddTimer([&]() {
    fire_times.push_back(primary->context().monotonic_event_time);
    if (fire_times.size() == 1) {
      // Replace the 1 s repeat by a one-shot 3 ms later.
      timer->Schedule(fire_times.back() + milliseconds(3));
    } else {
      Exit();
    }
  });
  primary->OnRun([&]() {
    timer->Schedule(primary->monotonic_now(), std::chrono::seconds(1));
  });
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(fire_times.size(), 2u);
  EXPECT_EQ(fire_times[1] - fire_times[0], milliseconds(3));
}

TEST_P(AbstractEventLoopTest, PhasedLoopCountsOneCyclePerInterval) {
  auto primary = MakePrimary();
  std::vector<int> counts;
  std::vector<monotonic_clock::time_point> times;
  PhasedLoopHandler *phased = primary->AddPhasedLoop(
      [&](int cycles) {
        counts.push_back(cycles);
        times.push_back(primary->context().monotonic_event_time);
        if (counts.size() == 4) Exit();
      },
      milliseconds(2), milliseconds(1));
  phased->set_name("phased");
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(counts.size(), 4u);
  for (size_t i = 0; i < counts.size(); ++i) {
    // More than 1 only if the loop woke up late, which a loaded machine may
    // do; never less.
    EXPECT_GE(counts[i], 1);
    EXPECT_EQ(times[i].time_since_epoch() % milliseconds(2), milliseconds(1))
        << "runs at offset + k * interval";
    if (i > 0) {
      EXPECT_GT(times[i], times[i - 1]);
    }
  }
}

// Rescheduling a phased loop far ahead is counted as the cycles it skips.
TEST_P(AbstractEventLoopTest, PhasedLoopRescheduleCountsSkippedCycles) {
  auto primary = MakePrimary();
  std::vector<int> counts;
  std::vector<monotonic_clock::time_point> times;
  monotonic_clock::time_point first_start;
  PhasedLoopHandler *phased = nullptr;
  phased = primary->AddPhasedLoop(
      [&](int cycles) {
        counts.push_back(cycles);
        times.push_back(primary->context().monotonic_event_time);
        if (counts.size() == 1) {
          first_start = primary->monotonic_now();
          phased->Reschedule(times.back() + milliseconds(10));
        } else {
          Exit();
        }
      },
      milliseconds(2));
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(counts.size(), 2u);
  // The next wakeup is the first phase strictly after the given time (or
  // later, if the callback itself overran it on a loaded machine).
  EXPECT_GE(times[1] - times[0], milliseconds(12));
  EXPECT_EQ((times[1] - times[0]) % milliseconds(2), milliseconds(0));
  if (first_start < times[0] + milliseconds(2)) {
    // Woken on time: the 5 intervals skipped count, plus the one it waited.
    EXPECT_GE(counts[1], 6);
  }
}

TEST_P(AbstractEventLoopTest, OnRunRunsInOrderWithTimerContext) {
  auto primary = MakePrimary();
  std::vector<int> order;
  primary->OnRun([&]() {
    order.push_back(1);
    EXPECT_TRUE(primary->is_running());
    EXPECT_NE(primary->context().monotonic_event_time,
              monotonic_clock::min_time);
    EXPECT_EQ(primary->context().queue_index, 0xffffffffu);
  });
  primary->OnRun([&]() {
    order.push_back(2);
    Exit();
  });
  EXPECT_FALSE(primary->is_running());
  ASSERT_TRUE(Run().has_value());
  EXPECT_FALSE(primary->is_running());
  EXPECT_THAT(order, ::testing::ElementsAre(1, 2));
}

// Fetchers and timers may be made while running.
TEST_P(AbstractEventLoopTest, FetchersAndTimersWhileRunning) {
  auto loop1 = Make();
  auto primary = MakePrimary();
  auto sender = loop1->MakeSender<TestMessage>("/test");
  Fetcher<TestMessage> fetcher;
  bool timer_fired = false;
  primary->OnRun([&]() {
    fetcher = primary->MakeFetcher<TestMessage>("/test");
    TimerHandler *timer = primary->AddTimer([&]() {
      timer_fired = true;
      SendValue(&sender, 9);
      ASSERT_TRUE(fetcher.FetchNext());
      EXPECT_EQ(fetcher->value(), 9);
      Exit();
    });
    timer->Schedule(primary->monotonic_now() + milliseconds(1));
  });
  ASSERT_TRUE(Run().has_value());
  EXPECT_TRUE(timer_fired);
}

TEST_P(AbstractEventLoopTest, ExitStatusFirstWins) {
  auto primary = MakePrimary();
  std::unique_ptr<ExitHandle> handle = factory_->MakeExitHandle();
  primary->OnRun([&]() {
    handle->Exit(MakeError("first"));
    handle->Exit(MakeError("second"));
  });
  Result<void> result = Run();
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().message(), "first");

  // A later Run starts over (OnRun callbacks do not run again) and
  // succeeds.
  TimerHandler *timer = primary->AddTimer([&]() { handle->Exit(); });
  timer->Schedule(primary->monotonic_now() + milliseconds(1));
  EXPECT_TRUE(Run().has_value());
  handle.reset();
}

TEST_P(AbstractEventLoopTest, TooManyWatchersIsAnErrorFromRun) {
  auto primary = MakePrimary();
  primary->MakeWatcher("/no_watchers", [](const TestMessage &) {});
  Result<void> result = Run();
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message(),
              ::testing::HasSubstr("\"name\": \"/no_watchers\""));
  EXPECT_THAT(result.error().message(),
              ::testing::HasSubstr("num_watchers (0)"));
  EXPECT_FALSE(primary->is_running());
}

// The timing report lists every sender, fetcher, watcher, timer and phased
// loop with counts of what they did.
// Sets --timing_report_ms for one test.
class ScopedTimingReportPeriod {
 public:
  explicit ScopedTimingReportPeriod(int milliseconds)
      : previous_(FLAGS_timing_report_ms) {
    FLAGS_timing_report_ms = milliseconds;
  }
  ~ScopedTimingReportPeriod() { FLAGS_timing_report_ms = previous_; }

 private:
  const int previous_;
};

TEST_P(AbstractEventLoopTest, TimingReportContents) {
  ScopedTimingReportPeriod period(50);
  auto loop1 = Make();
  auto primary = MakePrimary("primary");
  primary->SetVersionString("v1.2.3");
  auto report_fetcher = loop1->MakeFetcher<timing::Report>("/aos");
  auto sender = primary->MakeSender<TestMessage>("/test1");
  auto fetcher = primary->MakeFetcher<TestMessage>("/test1");
  auto other_sender = loop1->MakeSender<TestMessage>("/test");
  int watched = 0;
  primary->MakeWatcher("/test", [&](const TestMessage &) { ++watched; });
  int phased_calls = 0;
  primary->AddPhasedLoop([&](int) { ++phased_calls; }, milliseconds(5))
      ->set_name("phased");
  TimerHandler *work = primary->AddTimer([&]() {
    SendValue(&sender, 1);
    SendValue(&sender, 2);
    ASSERT_TRUE(fetcher.Fetch());
    SendValue(&other_sender, 3);
  });
  work->set_name("work");
  TimerHandler *exit_timer = primary->AddTimer([&]() { Exit(); });
  primary->OnRun([&]() {
    const monotonic_clock::time_point now = primary->monotonic_now();
    work->Schedule(now + milliseconds(1));
    exit_timer->Schedule(now + milliseconds(FLAGS_timing_report_ms) +
                         milliseconds(20));
  });
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(watched, 1);

  // The first report covers the work (later ones, if the exit was late,
  // would have zero counts).
  ASSERT_TRUE(report_fetcher.FetchNext());
  const timing::Report &report = *report_fetcher;
  EXPECT_EQ(report.name()->string_view(), "primary");
  ASSERT_NE(report.version(), nullptr);
  EXPECT_EQ(report.version()->string_view(), "v1.2.3");
  EXPECT_EQ(report.send_failures(), 0u);

  const int test1_index = primary->ChannelIndex(sender.channel());
  const int test_index = primary->ChannelIndex(other_sender.channel());
  ASSERT_NE(report.senders(), nullptr);
  bool found_sender = false;
  for (const timing::Sender *s : *report.senders()) {
    ASSERT_NE(s->error_counts(), nullptr);
    EXPECT_EQ(s->error_counts()->size(), 2u) << "one entry per SendError";
    if (s->channel_index() == test1_index) {
      found_sender = true;
      EXPECT_EQ(s->count(), 2u);
      EXPECT_GT(s->size()->average(), 0.0f);
    }
  }
  EXPECT_TRUE(found_sender);
  ASSERT_NE(report.fetchers(), nullptr);
  ASSERT_EQ(report.fetchers()->size(), 1u);
  EXPECT_EQ(report.fetchers()->Get(0)->channel_index(), test1_index);
  EXPECT_EQ(report.fetchers()->Get(0)->count(), 1u);
  EXPECT_FALSE(std::isnan(report.fetchers()->Get(0)->latency()->average()));
  ASSERT_NE(report.watchers(), nullptr);
  ASSERT_EQ(report.watchers()->size(), 1u);
  EXPECT_EQ(report.watchers()->Get(0)->channel_index(), test_index);
  EXPECT_EQ(report.watchers()->Get(0)->count(), 1u);
  ASSERT_NE(report.timers(), nullptr);
  std::vector<std::string> timer_names;
  for (const timing::Timer *t : *report.timers()) {
    timer_names.push_back(t->name()->str());
    if (t->name()->string_view() == "work") {
      EXPECT_EQ(t->count(), 1u);
    }
  }
  EXPECT_THAT(timer_names, ::testing::IsSupersetOf({"work", "timing_reports"}));
  ASSERT_NE(report.phased_loops(), nullptr);
  ASSERT_EQ(report.phased_loops()->size(), 1u);
  EXPECT_EQ(report.phased_loops()->Get(0)->name()->string_view(), "phased");
  EXPECT_GT(report.phased_loops()->Get(0)->count(), 0u);
}

TEST_P(AbstractEventLoopTest, SkipTimingReportSendsNone) {
  ScopedTimingReportPeriod period(5);
  auto loop1 = Make();
  auto primary = MakePrimary();
  primary->SkipTimingReport();
  auto report_fetcher = loop1->MakeFetcher<timing::Report>("/aos");
  TimerHandler *exit_timer = primary->AddTimer([&]() { Exit(); });
  primary->OnRun([&]() {
    exit_timer->Schedule(primary->monotonic_now() +
                         milliseconds(FLAGS_timing_report_ms) +
                         milliseconds(20));
  });
  ASSERT_TRUE(Run().has_value());
  EXPECT_FALSE(report_fetcher.Fetch());
}

// --- Programmer errors: each dies naming the channel and the rule. ---

TEST_P(AbstractEventLoopDeathTest, MissingChannels) {
  auto loop = Make();
  EXPECT_DEATH(loop->MakeFetcher<TestMessage>("/missing"),
               "\\{ \"name\": \"/missing\", \"type\": \"aos.TestMessage\" "
               "\\} not found in config");
  EXPECT_DEATH(loop->MakeSender<TestMessage>("/missing"),
               "\"/missing\".*not found in config for");
  EXPECT_DEATH(loop->MakeWatcher("/missing", [](const TestMessage &) {}),
               "\"/missing\".*not found in config for application");
}

TEST_P(AbstractEventLoopDeathTest, WatcherAndSenderOnOneLoop) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/test");
  EXPECT_DEATH(loop->MakeWatcher("/test", [](const TestMessage &) {}),
               "\"/test\".*is already being used for sending");
  loop->MakeWatcher("/test1", [](const TestMessage &) {});
  EXPECT_DEATH(loop->MakeSender<TestMessage>("/test1"),
               "\"/test1\".*is already being used");
  EXPECT_DEATH(loop->MakeWatcher("/test1", [](const TestMessage &) {}),
               "\"/test1\".*only one watcher per channel");
  EXPECT_DEATH(loop->MakeNoArgWatcher<TestMessage>("/test1", []() {}),
               "\"/test1\".*only one watcher per channel");
}

TEST_P(AbstractEventLoopDeathTest, SendersAndWatchersWhileRunning) {
  EXPECT_DEATH(
      {
        auto primary = MakePrimary();
        primary->OnRun(
            [&]() { auto sender = primary->MakeSender<TestMessage>("/test"); });
        (void)Run();
      },
      "Cannot add new objects while running.*\"/test\"");
  EXPECT_DEATH(
      {
        auto primary = MakePrimary();
        primary->OnRun([&]() {
          primary->MakeWatcher("/test", [](const TestMessage &) {});
        });
        (void)Run();
      },
      "Cannot add new objects while running.*\"/test\"");
}

TEST_P(AbstractEventLoopDeathTest, TooBigMessages) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/small");
  auto raw = loop->MakeRawSender(loop->GetChannel<TestMessage>("/small"));
  std::vector<uint8_t> bytes(200, 0);
  EXPECT_DEATH((void)raw->Send(bytes.data(), bytes.size()),
               "Sent too big a message on \\{ \"name\": \"/small\"");
  EXPECT_DEATH(
      {
        Sender<TestMessage>::Builder builder = sender.MakeBuilder();
        builder.fbb()->CreateVector(bytes);
      },
      "Requested .* max size .*\"/small\"");
}

TEST_P(AbstractEventLoopDeathTest, OneBuilderAtATime) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/test");
  EXPECT_DEATH(
      {
        Sender<TestMessage>::Builder first = sender.MakeBuilder();
        first.MakeBuilder<TestMessage>().Finish();
        Sender<TestMessage>::Builder second = sender.MakeBuilder();
      },
      "May not have multiple active allocators on a single sender");
}

TEST_P(AbstractEventLoopDeathTest, InvalidJson) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/test");
  EXPECT_DEATH((void)sender.SendJson("{ \"valu\": 1 }"),
               "Invalid JSON for \\{ \"name\": \"/test\"");
}

TEST_P(AbstractEventLoopDeathTest, CheckOkOnSentTooFast) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/fast");
  const size_t queue_size =
      configuration::QueueSize(configuration(), sender.channel());
  EXPECT_DEATH(
      {
        for (size_t i = 0; i <= queue_size; ++i) {
          SendValue(&sender, static_cast<int>(i));
        }
      },
      "Messages were sent too fast on channel: \\{ \"name\": \"/fast\"");
}

TEST_P(AbstractEventLoopDeathTest, TooManySenders) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/one_sender");
  EXPECT_DEATH(loop->MakeSender<TestMessage>("/one_sender"),
               "Failed to create sender on \\{ \"name\": \"/one_sender\".*"
               "too many senders");
}

TEST_P(AbstractEventLoopDeathTest, TooManyReaders) {
  if (!pinned()) {
    GTEST_SKIP() << "only PIN channels limit readers";
  }
  auto loop = Make();
  std::vector<Fetcher<TestMessage>> fetchers;
  for (int i = 0; i < kPinReaders; ++i) {
    fetchers.push_back(loop->MakeFetcher<TestMessage>("/test"));
  }
  EXPECT_DEATH(loop->MakeFetcher<TestMessage>("/test"),
               "Failed to create reader on \\{ \"name\": \"/test\".*"
               "too many readers");
  // No-arg watchers take no pinning slot.
  loop->MakeNoArgWatcher<TestMessage>("/test", []() {});
}

// A fetcher that falls more than a queue behind must not pretend it kept up.
TEST_P(AbstractEventLoopDeathTest, FetchNextFallingBehind) {
  auto loop1 = Make();
  auto loop2 = Make();
  auto primary = MakePrimary();
  auto fetcher = loop2->MakeFetcher<TestMessage>("/fast");
  auto sender = loop1->MakeSender<TestMessage>("/fast");
  const size_t queue_size =
      configuration::QueueSize(configuration(), sender.channel());
  for (size_t i = 0; i < queue_size; ++i) {
    SendValue(&sender, static_cast<int>(i));
  }
  ASSERT_TRUE(fetcher.FetchNext());
  EXPECT_DEATH(
      {
        // Let the storage duration pass (on the loops' clock) so the queue
        // may move on, then overwrite everything the fetcher has not read.
        RunFor(configuration::ChannelStorageDuration(configuration(),
                                                     sender.channel()) +
               milliseconds(1));
        for (size_t i = 0; i < queue_size; ++i) {
          SendValue(&sender, static_cast<int>(i));
        }
        fetcher.FetchNext();
      },
      R"((behind.*"/fast"|"/fast".*behind))");
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
  TimerHandler *exit_timer = primary->AddTimer([&]() { Exit(); });
  primary->OnRun([&]() {
    exit_timer->Schedule(primary->monotonic_now() +
                         milliseconds(FLAGS_timing_report_ms) +
                         milliseconds(20));
  });
  ASSERT_TRUE(Run().has_value());
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
  const int queue_size = static_cast<int>(
      configuration::QueueSize(configuration(), sender.channel()));
  for (int i = 0; i < queue_size; ++i) SendValue(&sender, i);
  RunFor(
      configuration::ChannelStorageDuration(configuration(), sender.channel()) +
      milliseconds(1));
  for (int i = 0; i < queue_size; ++i) SendValue(&sender, 100 + i);
  // The fetcher, made before anything was sent, lost the whole first round.
  const uint64_t expected_lost = static_cast<uint64_t>(queue_size);
  EXPECT_FALSE(fetcher.FetchNextIf([](const Context &) { return false; }));
  EXPECT_EQ(fetcher.lost_messages(), expected_lost);
  ASSERT_TRUE(fetcher.FetchNextIf([](const Context &) { return true; }));
  EXPECT_EQ(fetcher->value(), 100);
  EXPECT_EQ(fetcher.context().lost_messages, expected_lost);
  EXPECT_EQ(fetcher.lost_messages(), expected_lost);
}

TEST_P(AbstractEventLoopDeathTest, ScheduleBeforeEpoch) {
  auto loop = Make();
  TimerHandler *timer = loop->AddTimer([]() {});
  timer->set_name("early");
  EXPECT_DEATH(
      timer->Schedule(monotonic_clock::epoch() - std::chrono::seconds(1)),
      "Timer \"early\" scheduled at -1.000000000sec");
}

TEST_P(AbstractEventLoopDeathTest, RawChannelFromAnotherConfig) {
  auto loop = Make();
  FlatbufferDetachedBuffer<Configuration> other =
      configuration::MergeWithConfig(configuration(), "{}");
  const Channel *foreign = configuration::GetChannel<TestMessage>(
      &other.message(), "/test", "", nullptr);
  ASSERT_NE(foreign, nullptr);
  EXPECT_DEATH(
      loop->MakeRawFetcher(foreign),
      "Channel pointer not found in configuration\\(\\)->channels\\(\\)");
}

TEST_P(AbstractEventLoopDeathTest, SettingsWhileRunning) {
  EXPECT_DEATH(
      {
        auto primary = MakePrimary();
        primary->OnRun([&]() { primary->SetRuntimeRealtimePriority(1); });
        (void)Run();
      },
      "Cannot set realtime priority while running");
  EXPECT_DEATH(
      {
        auto primary = MakePrimary();
        primary->OnRun([&]() { primary->SetVersionString("x"); });
        (void)Run();
      },
      "Can't do things that might alter the timing report while running");
}

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
  TimerHandler *exit_timer = primary->AddTimer([&]() { Exit(); });
  primary->OnRun([&]() {
    exit_timer->Schedule(primary->monotonic_now() +
                         milliseconds(FLAGS_timing_report_ms) +
                         milliseconds(20));
  });
  ASSERT_TRUE(Run().has_value());
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

}  // namespace aos::testing
