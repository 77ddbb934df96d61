#ifndef AOS_EVENTS_LOGGING_MULTINODE_TEST_UTIL_H_
#define AOS_EVENTS_LOGGING_MULTINODE_TEST_UTIL_H_

// Test support for the multi-node replay tests: what a watcher saw (to
// compare a recording with its replay message by message), observers that
// collect it, and the small steps every such test repeats (sorting a log's
// files, sending a TestMessage, deregistering a reader before its factory
// goes).

#include <ostream>
#include <string>
#include <vector>

#include "aos/events/logging/log_reader.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/events/test_message_generated.h"
#include "glog/logging.h"

namespace aos::logger::testing {

// One message as a watcher on a node saw it.
struct Seen {
  std::string node;
  std::string channel;
  monotonic_clock::time_point monotonic_event_time;
  realtime_clock::time_point realtime_event_time;
  monotonic_clock::time_point monotonic_remote_time;
  int value;
  // The boot of `node` it was seen in.
  size_t boot = 0;

  bool operator==(const Seen &) const = default;
};

inline std::ostream &operator<<(std::ostream &os, const Seen &seen) {
  return os << seen.node << " (boot " << seen.boot << ") " << seen.channel
            << " @" << seen.monotonic_event_time << " (remote "
            << seen.monotonic_remote_time << ") value " << seen.value;
}

// Deregisters a reader when it goes out of scope: declared after the
// factory, it runs before the factory's destructor (which needs the replay's
// loops gone), also when an assertion returns early.
struct DeregisterAtExit {
  LogReader *reader;
  ~DeregisterAtExit() { reader->Deregister(); }
};

inline void Send(Sender<TestMessage> *sender, int value) {
  auto builder = sender->MakeBuilder();
  TestMessage::Builder message = builder.MakeBuilder<TestMessage>();
  message.add_value(value);
  builder.CheckOk(builder.Send(message.Finish()));
}

// Watches `channels` on `loop` (on `node` of `factory`), appending to
// `seen`.
inline void Observe(EventLoop *loop, SimulatedEventLoopFactory *factory,
                    const Node *node, const std::vector<std::string> &channels,
                    std::vector<Seen> *seen) {
  NodeEventLoopFactory *node_factory = factory->GetNodeEventLoopFactory(node);
  for (const std::string &channel : channels) {
    loop->MakeWatcher(channel, [loop, seen, channel, node,
                                node_factory](const TestMessage &message) {
      const Context &context = loop->context();
      seen->push_back(
          {node->name()->str(), channel, context.monotonic_event_time,
           context.realtime_event_time, context.monotonic_remote_time,
           message.value(), node_factory->boot_count()});
    });
  }
}

// A loop on `node` watching `channels` (see Observe).
inline std::unique_ptr<EventLoop> MakeObserver(
    SimulatedEventLoopFactory *factory, const Node *node,
    const std::vector<std::string> &channels, std::vector<Seen> *seen) {
  std::unique_ptr<EventLoop> loop = factory->MakeEventLoop("observer", node);
  loop->SkipTimingReport();
  Observe(loop.get(), factory, node, channels, seen);
  return loop;
}

// The logs in `paths` (files or folders), sorted; CHECK-fails on errors.
inline std::vector<LogFile> Sorted(const std::vector<std::string> &paths) {
  Result<std::vector<std::string>> files = FindLogs(paths);
  CHECK(files) << files.error().message();
  Result<std::vector<LogFile>> logs = SortParts(*files);
  CHECK(logs) << logs.error().message();
  return std::move(*logs);
}

}  // namespace aos::logger::testing

#endif  // AOS_EVENTS_LOGGING_MULTINODE_TEST_UTIL_H_
