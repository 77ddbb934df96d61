// The conformance suite's fixture (event_loop_param_test.h): its
// configurations, the test factory, parameters and helpers. The tests are in
// event_loop_param_*_test.cc.

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

Result<void> AbstractEventLoopTest::RunPastFirstTimingReport(
    EventLoop *primary) {
  TimerHandler *exit_timer = primary->AddTimer([this]() { Exit(); });
  primary->OnRun([primary, exit_timer]() {
    exit_timer->Schedule(primary->monotonic_now() +
                         std::chrono::milliseconds(FLAGS_timing_report_ms) +
                         std::chrono::milliseconds(20));
  });
  return Run();
}

std::string AbstractEventLoopTest::NextName(std::string_view name) {
  ++loop_count_;
  if (!name.empty()) return std::string(name);
  return "loop" + std::to_string(loop_count_);
}

}  // namespace aos::testing
