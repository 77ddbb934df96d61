// Mistakes the EventLoop API turns into one clear compile error. Compiled by
// check_compile_errors.sh (the CTest test aos_event_loop_compile_errors)
// three ways:
//   AOS_CASE_OK: the correct code, which must compile;
//   AOS_CASE_MISTAKES: one function per mistake, each of which must fail
//     with its own static_assert (or [[nodiscard]]) message;
//   AOS_CASE_MISSING_STATIC_HEADER: MakeStaticBuilder without foo_static.h,
//     whose first error must be the static_assert naming the include.

#include <chrono>

#include "aos/events/event_loop.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/events/test_message_generated.h"
#if !defined(AOS_CASE_MISSING_STATIC_HEADER)
#include "aos/events/test_message_static.h"
#endif

namespace aos {

#if defined(AOS_CASE_OK)
void Correct(EventLoop *loop, SimulatedEventLoopFactory *factory) {
  loop->MakeWatcher("/test", [](const TestMessage &) {});
  Sender<TestMessage> sender = loop->MakeSender<TestMessage>("/test");
  auto builder = sender.MakeStaticBuilder();
  builder->set_value(1);
  CheckExpected(factory->RunFor(std::chrono::seconds(1)));
}
#elif defined(AOS_CASE_MISTAKES)
void WatcherOfStaticType(EventLoop *loop) {
  loop->MakeWatcher("/test", [](const TestMessageStatic &) {});
}
void WatcherByValue(EventLoop *loop) {
  loop->MakeWatcher("/test", [](int) {});
}
void WatcherGeneric(EventLoop *loop) {
  loop->MakeWatcher("/test", [](const auto &) {});
}
void WatcherTwoArguments(EventLoop *loop) {
  loop->MakeWatcher("/test", [](const TestMessage &, int) {});
}
void IgnoredRunResult(SimulatedEventLoopFactory *factory) {
  factory->RunFor(std::chrono::seconds(1));
}
#elif defined(AOS_CASE_MISSING_STATIC_HEADER)
void MissingStaticHeader(EventLoop *loop) {
  Sender<TestMessage> sender = loop->MakeSender<TestMessage>("/test");
  auto builder = sender.MakeStaticBuilder();
}
#else
#error "define one AOS_CASE_*"
#endif

}  // namespace aos
