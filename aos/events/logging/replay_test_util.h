#ifndef AOS_EVENTS_LOGGING_REPLAY_TEST_UTIL_H_
#define AOS_EVENTS_LOGGING_REPLAY_TEST_UTIL_H_

// Test support for the replay tests: a minimal recorder that writes what an
// event loop sees into log parts the way the Logger does (a LogFileHeader with
// the configuration, the latest message of every channel fetched at the
// start, then every message drained from fetchers on a polling timer, so the
// part is only sorted to within the polling period), with the logger's part
// writer. It lets the reading side be tested on logs whose every byte the
// test controls (rotation, compression, several runs, damaged files).

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "aos/events/event_loop.h"
#include "aos/events/logging/part_writer.h"
#include "aos/uuid.h"

namespace aos::logger::testing {

struct TestRecorderOptions {
  Compression compression = Compression::kZstd;
  // Start a new part (same parts_uuid, next parts_index) after this many
  // messages; 0 never.
  size_t rotate_every_messages = 0;
  std::chrono::nanoseconds polling_period = std::chrono::milliseconds(100);
  // Shared by the parts of one log; random by default.
  UUID log_event_uuid = UUID::Random();
  UUID log_start_uuid = UUID::Random();
};

class TestRecorder {
 public:
  // Records every channel readable on `event_loop`'s node into
  // `<base>.part<N>.bfbs[.zst]`, starting when the loop runs.
  TestRecorder(EventLoop *event_loop, std::string base,
               TestRecorderOptions options = {});
  ~TestRecorder();

  // Writes what is still queued and closes the part.
  void Stop();

  // The part files written so far.
  const std::vector<std::string> &parts() const { return parts_; }
  size_t messages() const { return messages_; }

 private:
  void OpenPart();
  void Poll();
  void Write(size_t channel_index, const Context &context);

  EventLoop *const event_loop_;
  const std::string base_;
  const TestRecorderOptions options_;
  const UUID parts_uuid_ = UUID::Random();
  std::vector<std::unique_ptr<RawFetcher>> fetchers_;
  std::unique_ptr<PartWriter> writer_;
  std::vector<std::string> parts_;
  monotonic_clock::time_point monotonic_start_;
  realtime_clock::time_point realtime_start_;
  size_t messages_ = 0;
  size_t part_messages_ = 0;
  TimerHandler *timer_ = nullptr;
};

}  // namespace aos::logger::testing

#endif  // AOS_EVENTS_LOGGING_REPLAY_TEST_UTIL_H_
