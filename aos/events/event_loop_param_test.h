#ifndef AOS_EVENTS_EVENT_LOOP_PARAM_TEST_H_
#define AOS_EVENTS_EVENT_LOOP_PARAM_TEST_H_

// The EventLoop conformance suite: one set of tests every implementation
// must pass, so shared memory and simulation behave the same.
//
// An implementation joins by writing an EventLoopTestFactory and
// instantiating the suites with it, for both read methods:
//
//   INSTANTIATE_TEST_SUITE_P(
//       MyEventLoop, AbstractEventLoopTest,
//       ::testing::ValuesIn(aos::testing::MakeEventLoopTestParams(
//           "My", []() { return std::make_unique<MyFactory>(); })),
//       aos::testing::EventLoopTestParamName);
//   (and the same for AbstractEventLoopDeathTest)
//
// and linking the aos_event_loop_conformance object library into its test
// binary: event_loop_param_test.cc (this fixture's implementation) and the
// event_loop_param_*_test.cc files, one per theme, which hold the TEST_Ps (a
// static library would let the linker drop them).
//
// Tests make "primary" loops (the ones Run() runs) and plain loops (used to
// send and fetch; an implementation may or may not run them). They never
// assert on wall-clock durations: only on orders, counts and the times the
// loops report.
//
// AbstractEventLoopMultiNodeTest (and ...DeathTest) run in a multi-node
// configuration (EventLoopTestFactory::EnableNodes): an implementation
// instantiates them the same way, once its factory makes every loop on
// factory->my_node().

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/event_loop.h"
#include "aos/events/test_message_generated.h"
#include "aos/flatbuffers.h"
#include "gtest/gtest.h"

namespace aos::testing {

enum class TestReadMethod { kCopy, kPin };

// Makes the loops under test and drives the primary one.
class EventLoopTestFactory {
 public:
  EventLoopTestFactory();
  virtual ~EventLoopTestFactory();

  // A loop named `name` on the test configuration, not run by Run().
  virtual std::unique_ptr<EventLoop> Make(std::string_view name) = 0;
  // The loop that Run() runs. Called at most once per test.
  virtual std::unique_ptr<EventLoop> MakePrimary(std::string_view name) = 0;

  // Runs until Exit() (or an exit handle) and returns Run()'s status.
  virtual Result<void> Run() = 0;
  // Ends Run() after the current callback. Callable from callbacks.
  virtual void Exit() = 0;
  // Runs for `duration` of the primary loop's monotonic time, then returns
  // (CHECK-fails if Run() fails).
  virtual void RunFor(monotonic_clock::duration duration) = 0;
  // A handle that ends Run() with a status.
  virtual std::unique_ptr<ExitHandle> MakeExitHandle() = 0;

  // Switches every channel to read_method PIN. Call before making loops.
  void PinReads();

  // Switches to the multi-node test configuration: nodes "me" and "them",
  // each with its own timing report channel (/aos maps to /me/aos on "me"),
  // and channels sendable or readable on one node only (see
  // kMultiNodeTestConfig in event_loop_param_test.cc). Every loop must then be
  // made on my_node(). Call before making loops; keeps PinReads().
  void EnableNodes();

  // The node to make loops on: "me" after EnableNodes(), else nullptr
  // (single-node).
  const Node *my_node() const { return my_node_; }

  const Configuration *configuration() const { return &config_.message(); }

 private:
  void ApplyPinReads();

  FlatbufferDetachedBuffer<Configuration> config_;
  bool pin_reads_ = false;
  const Node *my_node_ = nullptr;
};

struct EventLoopTestParam {
  std::function<std::unique_ptr<EventLoopTestFactory>()> make_factory;
  TestReadMethod read_method;
  // "<Implementation>Copy" or "<Implementation>Pin".
  std::string name;
};

// Prints the name, for gtest.
void PrintTo(const EventLoopTestParam &param, std::ostream *os);

// Copy and Pin parameters for one implementation.
std::vector<EventLoopTestParam> MakeEventLoopTestParams(
    std::string_view implementation,
    std::function<std::unique_ptr<EventLoopTestFactory>()> make_factory);

// For INSTANTIATE_TEST_SUITE_P's name generator.
std::string EventLoopTestParamName(
    const ::testing::TestParamInfo<EventLoopTestParam> &info);

class AbstractEventLoopTest
    : public ::testing::TestWithParam<EventLoopTestParam> {
 public:
  AbstractEventLoopTest();

  std::unique_ptr<EventLoop> Make(std::string_view name = "") {
    return factory_->Make(NextName(name));
  }
  std::unique_ptr<EventLoop> MakePrimary(std::string_view name = "primary") {
    return factory_->MakePrimary(name);
  }
  Result<void> Run() { return factory_->Run(); }
  // Run(), ending one timing report period (+ 20 ms) after `primary` (made
  // by MakePrimary) starts running: every loop has sent its first report.
  Result<void> RunPastFirstTimingReport(EventLoop *primary);
  void Exit() { factory_->Exit(); }
  void RunFor(monotonic_clock::duration duration) {
    factory_->RunFor(duration);
  }

  const Configuration *configuration() const {
    return factory_->configuration();
  }
  bool pinned() const { return GetParam().read_method == TestReadMethod::kPin; }

 protected:
  std::unique_ptr<EventLoopTestFactory> factory_;

 private:
  std::string NextName(std::string_view name);
  int loop_count_ = 0;
};

// Same fixture; a separate name so gtest runs death tests first.
using AbstractEventLoopDeathTest = AbstractEventLoopTest;

// The suite's multi-node tests: loops are made on node "me" of the
// configuration EventLoopTestFactory::EnableNodes() sets up.
class AbstractEventLoopMultiNodeTest : public AbstractEventLoopTest {
 public:
  AbstractEventLoopMultiNodeTest() { factory_->EnableNodes(); }

  const Node *my_node() const { return factory_->my_node(); }
  // The channel `name` of `type` exactly as configured (no maps applied).
  const Channel *ConfiguredChannel(std::string_view name,
                                   std::string_view type) const;
};

using AbstractEventLoopMultiNodeDeathTest = AbstractEventLoopMultiNodeTest;

// num_readers of every channel after PinReads().
inline constexpr int kPinReaders = 3;

// Sends a TestMessage with `value`, dying if the send fails.
void SendValue(Sender<TestMessage> *sender, int value);
// Sends a TestMessage with `value`, returning the send's result.
RawSender::Error TrySendValue(Sender<TestMessage> *sender, int value);

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

}  // namespace aos::testing

#endif  // AOS_EVENTS_EVENT_LOOP_PARAM_TEST_H_
