#ifndef AOS_EVENTS_LOGGING_LOGGER_H_
#define AOS_EVENTS_LOGGING_LOGGER_H_

// Logger: records the channels of one node into log part files.
//
// A Logger is an ordinary client of any EventLoop (ShmEventLoop on the robot,
// a simulated loop in tests), so logging behaves the same in both. It makes a
// fetcher for every channel its node logs (the configuration's `logger` and
// `logger_nodes`, and the connections' `timestamp_logger`), and when logging
// starts it Fetch()es each channel's latest message, so the state from before
// the start (parameters, latched status) is in the log. Then a timer drains
// every channel (RawFetcher::FetchNextUntil) every polling period and writes
// its messages through a LogNamer (log_namer.h), channel after channel: a
// part is sorted by send time to within max_out_of_order_duration (a polling
// period plus the logging delay), as in upstream's logs:
//
//   aos::ShmEventLoop event_loop(&config.message());
//   aos::logger::Logger logger(&event_loop);
//   logger.StartLoggingOnRun("/media/logs/3/");
//   aos::CheckExpected(event_loop.Run());
//
// Crash safety: every part is flushed (a complete zstd frame) and
// fdatasync()ed every flush period (default 1 s), so a killed logger, or a
// power cut, loses at most the last flush period plus one polling period of
// data; see docs/decisions/logging.md.
//
// A write that fails (disk full, folder gone) stops logging with an error
// (error()) naming the file and the free space, logged once; the parts
// written so far stay readable and the process carries on. The per-message
// path allocates nothing once every channel has seen its largest message.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aos/events/event_loop.h"
#include "aos/events/logging/log_namer.h"
#include "aos/events/logging/logger_generated.h"
#include "aos/events/logging/logger_record.h"
#include "aos/util/status.h"
#include "aos/uuid.h"
#include "flatbuffers/flatbuffers.h"

namespace aos::logger {

class Logger {
 public:
  // What the logger counted for one channel since logging started.
  struct ChannelStatistics {
    const Channel *channel = nullptr;
    // Messages (or delivery timestamps) written.
    uint64_t messages = 0;
    // Payload bytes written.
    uint64_t bytes = 0;
    // Messages the logger missed: it fell more than a queue behind and the
    // queue overwrote them. Its fetchers skip to the oldest message left
    // (FallBehindPolicy::kSkipToOldest) instead of dying; the log shows the
    // loss as a gap in the channel's queue indices (log_info counts them).
    uint64_t lost = 0;
  };

  // Logs the channels of `event_loop`'s node that `configuration` (by
  // default the loop's) says to log here and `should_log` (if given)
  // accepts. A different `configuration` is what the log records (channel
  // indices refer to it); each of its channels is read from the loop's
  // channel of the same name and type, and skipped if the loop has none.
  // Makes its fetchers now (allowed while running, in both
  // implementations). Both must outlive the Logger.
  explicit Logger(EventLoop *event_loop,
                  const Configuration *configuration = nullptr,
                  std::function<bool(const Channel *)> should_log = nullptr);
  Logger(const Logger &) = delete;
  Logger &operator=(const Logger &) = delete;
  // Stops logging (closing the files) if it is still logging.
  ~Logger();

  // How often the channels are drained (default 100 ms). Queues must hold
  // at least this long of messages, or the logger loses some.
  void set_polling_period(std::chrono::nanoseconds polling_period) {
    polling_period_ = polling_period;
  }
  std::chrono::nanoseconds polling_period() const { return polling_period_; }
  // Write only messages sent at least this long ago (default 0), so that
  // messages stamped just before a poll but published after it are still
  // written in order.
  void set_logging_delay(std::chrono::nanoseconds logging_delay) {
    logging_delay_ = logging_delay;
  }
  // How often every part is flushed and synced (default 1 s): the crash
  // safety bound.
  void set_flush_period(std::chrono::nanoseconds flush_period) {
    flush_period_ = flush_period;
  }
  // Whether flushes fdatasync() (default true). Without, a killed process
  // still loses at most a flush period, but a power cut may lose what the
  // kernel had not written yet.
  void set_sync(bool sync) { sync_ = sync; }
  // Write the configuration to its own file named by its sha256 (default),
  // or embed it in every part's header.
  void set_separate_config(bool separate_config) {
    separate_config_ = separate_config;
  }
  // Rotate to new parts whenever the parts being written reach this many
  // bytes on disk (0, the default: never).
  void set_rotate_every_bytes(uint64_t bytes) { rotate_every_bytes_ = bytes; }
  // Header fields.
  void set_name(std::string_view name) { name_ = name; }
  void set_logger_sha1(std::string_view sha1) { logger_sha1_ = sha1; }
  void set_logger_version(std::string_view version) {
    logger_version_ = version;
  }
  // Profiling the logger (upstream's API): with a path, every message the
  // logger writes from then on adds a line to that CSV file (created or
  // truncated now), for plot_logger_profile.py and the like. The first line
  // is a '#' comment naming the columns:
  //   channel name, channel type, encode ns (wall time spent laying the
  //   record out and writing it, including any flush it caused), encode
  //   start ns (CLOCK_MONOTONIC when that began), message time s (the
  //   message's monotonic send time on the event loop's clock)
  // Samples are kept in a preallocated buffer and written out after every
  // poll (and when the buffer fills), so profiling allocates nothing per
  // message either. std::nullopt stops profiling and closes the file.
  // Returns an error naming the path if the file cannot be created (then
  // profiling is off); a later write error logs once and stops profiling,
  // never logging.
  Result<void> SetProfilingPath(
      const std::optional<std::filesystem::path> &profiling_path);

  // Called after every poll that wrote messages (statistics, tests).
  void set_on_logged_period(std::function<void()> fn) {
    on_logged_period_ = std::move(fn);
  }

  // Starts logging into `namer`'s files: writes the configuration (if kept
  // separate), fetches every channel's latest message, writes the parts'
  // headers and those messages, and starts polling. `log_start_uuid` (shared
  // by the loggers of every node started together) goes into the headers if
  // given. CHECK-fails "Already logging" if logging; call it from the loop's
  // thread (e.g. in OnRun). If the files cannot be written, logging stops at
  // once with error() set.
  void StartLogging(std::unique_ptr<LogNamer> namer,
                    std::optional<UUID> log_start_uuid = std::nullopt);
  // Starts logging with a default namer for `base_name` when the loop starts
  // running.
  void StartLoggingOnRun(std::string base_name);
  // Writes every message sent up to `end_time` (default: now), closes the
  // files and returns the namer (for its file names). CHECK-fails "Not
  // logging right now" if not logging (a logger stopped by an error is still
  // "logging" until this call).
  std::unique_ptr<LogNamer> StopLogging(
      monotonic_clock::time_point end_time = monotonic_clock::min_time);
  // Stops, then starts again into `namer` with new UUIDs; returns the old
  // namer.
  std::unique_ptr<LogNamer> RestartLogging(
      std::unique_ptr<LogNamer> namer,
      std::optional<UUID> log_start_uuid = std::nullopt,
      monotonic_clock::time_point end_time = monotonic_clock::min_time);
  // Writes what was sent up to now, then starts new parts (same parts_uuid,
  // parts_index + 1) for every sequence. CHECK-fails "Not logging right now"
  // if not logging.
  void Rotate();

  // Whether StartLogging was called and StopLogging was not.
  bool is_logging() const { return namer_ != nullptr; }
  // The error that stopped logging, if one did.
  const std::optional<Error> &error() const { return error_; }
  // Per channel, for every channel this logger reads.
  const std::vector<ChannelStatistics> &channel_statistics() const {
    return statistics_;
  }
  // Fetch and copy statistics (upstream's getters), since the Logger was
  // made or ResetStatisics(). The Logger fetches and copies in one pass:
  // each message is laid out in its part's buffer as it is fetched
  // (RawFetcher::FetchNextUntil). A clock read costs about as much as
  // fetching and writing a small message, so messages are not timed one by
  // one: each channel's run in a polling step (all its messages up to that
  // step's time) is timed as a whole, and so is each message fetched and
  // written at the start. See docs/decisions/logging.md.
  //
  // The longest run (or start fetch) that returned messages, including
  // copying them into the parts, or 0 if none did; its channel (index in
  // the logged configuration) and the payload bytes it fetched, or -1.
  std::chrono::nanoseconds max_message_fetch_time() const {
    return fetch_statistics_.max_message_fetch_time;
  }
  int max_message_fetch_time_channel() const {
    return fetch_statistics_.max_message_fetch_time_channel;
  }
  int max_message_fetch_time_size() const {
    return fetch_statistics_.max_message_fetch_time_size;
  }
  // The time of all runs that returned messages, how many messages they
  // fetched, and their payload bytes.
  std::chrono::nanoseconds total_message_fetch_time() const {
    return fetch_statistics_.total_message_fetch_time;
  }
  int64_t total_message_fetch_count() const {
    return fetch_statistics_.total_message_fetch_count;
  }
  int64_t total_message_fetch_bytes() const {
    return fetch_statistics_.total_message_fetch_bytes;
  }
  // Runs that found no message: their time and number.
  std::chrono::nanoseconds total_nop_fetch_time() const {
    return fetch_statistics_.total_nop_fetch_time;
  }
  int64_t total_nop_fetch_count() const {
    return fetch_statistics_.total_nop_fetch_count;
  }
  // Copies: messages whose payload went into a part (count exact), and
  // their payload bytes. The times are those of the runs (and start writes)
  // that copied something, as whole runs: they overlap the fetch times of
  // the same runs and are not to be added to them. max_copy_time_channel
  // and _size: that run's channel and copied bytes, or -1.
  std::chrono::nanoseconds max_copy_time() const {
    return fetch_statistics_.max_copy_time;
  }
  int max_copy_time_channel() const {
    return fetch_statistics_.max_copy_time_channel;
  }
  int max_copy_time_size() const {
    return fetch_statistics_.max_copy_time_size;
  }
  std::chrono::nanoseconds total_copy_time() const {
    return fetch_statistics_.total_copy_time;
  }
  int64_t total_copy_count() const {
    return fetch_statistics_.total_copy_count;
  }
  int64_t total_copy_bytes() const {
    return fetch_statistics_.total_copy_bytes;
  }
  // Zeroes the fetch and copy statistics (upstream's spelling, kept).
  void ResetStatisics() { fetch_statistics_ = FetchStatistics(); }

  // The namer of the current log (nullptr when not logging).
  const LogNamer *namer() const { return namer_.get(); }
  const UUID &logger_instance_uuid() const { return logger_instance_uuid_; }
  const UUID &log_event_uuid() const { return log_event_uuid_; }
  monotonic_clock::time_point monotonic_start_time() const {
    return monotonic_start_time_;
  }
  realtime_clock::time_point realtime_start_time() const {
    return realtime_start_time_;
  }

 private:
  struct ChannelState;
  struct NodeState;
  // What the statistics getters return.
  struct FetchStatistics {
    std::chrono::nanoseconds max_message_fetch_time{0};
    int max_message_fetch_time_channel = -1;
    int max_message_fetch_time_size = -1;
    std::chrono::nanoseconds total_message_fetch_time{0};
    int64_t total_message_fetch_count = 0;
    int64_t total_message_fetch_bytes = 0;
    std::chrono::nanoseconds total_nop_fetch_time{0};
    int64_t total_nop_fetch_count = 0;
    std::chrono::nanoseconds max_copy_time{0};
    int max_copy_time_channel = -1;
    int max_copy_time_size = -1;
    std::chrono::nanoseconds total_copy_time{0};
    int64_t total_copy_count = 0;
    int64_t total_copy_bytes = 0;
  };
  // Counts a timed fetch (a run, or a start Fetch) of `state`'s channel that
  // took `time` and returned `count` messages of `bytes` payload bytes (a
  // nop fetch if none).
  void CountFetch(const ChannelState &state, std::chrono::nanoseconds time,
                  int64_t count, int64_t bytes);
  // Counts the copies of a timed run (or start write) of `state`'s channel
  // that took `time`: `count` payloads of `bytes` bytes (nothing if none).
  void CountCopy(const ChannelState &state, std::chrono::nanoseconds time,
                 int64_t count, int64_t bytes);

  // Writes every message sent up to `until`, in steps of at most a polling
  // period.
  void LogUntil(monotonic_clock::time_point until);
  // Writes every channel's messages sent up to `until` (after
  // last_logged_until_), channel after channel.
  void LogRuns(monotonic_clock::time_point until);
  // Writes the message `state`'s fetcher just fetched, `context` (timed, if
  // profiling).
  void WriteFetched(ChannelState *state, const Context &context);
  void WriteFetchedRecords(ChannelState *state, const Context &context);
  // Writes `context`'s message the fast way (a local channel's data into a
  // part with room) and returns true, or returns false having written
  // nothing (then WriteFetchedRecords must).
  inline bool TryWriteLocal(ChannelState *state, const Context &context);
  // Writes the profiling samples taken so far to the CSV file.
  void WriteProfilingSamples();
  // Appends `record` to `sequence`'s open part (or stops logging on error).
  void WriteRecord(PartSequence *sequence, const MessageRecord &record);
  // Opens the next part of `sequence` with a fresh header.
  void OpenPart(PartSequence *sequence);
  // Builds the header for the next part of `sequence` into builder_.
  void BuildHeader(const PartSequence &sequence);
  // Stops logging because of `error` (first error only).
  void Fail(Error error);
  void CountLost(ChannelState *state);
  void MaybeFlushAndRotate();

  EventLoop *const event_loop_;
  const Configuration *const configuration_;
  const Node *const node_;
  const size_t node_index_;
  const UUID logger_instance_uuid_;

  std::chrono::nanoseconds polling_period_ = std::chrono::milliseconds(100);
  std::chrono::nanoseconds logging_delay_ = std::chrono::nanoseconds(0);
  std::chrono::nanoseconds flush_period_ = std::chrono::seconds(1);
  bool sync_ = true;
  bool separate_config_ = true;
  uint64_t rotate_every_bytes_ = 0;
  std::string name_;
  std::string logger_sha1_;
  std::string logger_version_;
  std::function<void()> on_logged_period_;

  std::vector<std::unique_ptr<ChannelState>> channels_;
  std::vector<ChannelStatistics> statistics_;
  FetchStatistics fetch_statistics_;
  // Payloads copied into parts so far (the copy count, read around runs).
  int64_t copied_records_ = 0;
  std::vector<NodeState> nodes_;
  // The channels with a message at the start, sorted by its send time
  // (reserved for every channel).
  std::vector<ChannelState *> start_order_;

  TimerHandler *timer_ = nullptr;
  std::unique_ptr<LogNamer> namer_;
  bool stopped_by_error_ = false;
  std::optional<Error> error_;
  UUID log_event_uuid_ = UUID::Zero();
  std::optional<UUID> log_start_uuid_;
  std::string config_sha256_;
  monotonic_clock::time_point monotonic_start_time_ = monotonic_clock::min_time;
  realtime_clock::time_point realtime_start_time_ = realtime_clock::min_time;
  monotonic_clock::time_point last_flush_time_ = monotonic_clock::min_time;
  monotonic_clock::time_point last_logged_until_ = monotonic_clock::min_time;
  // SetProfilingPath: the CSV file (-1: not profiling), the samples not
  // written yet (capacity reserved up front), and the text buffer they are
  // formatted into.
  struct ProfilingSample {
    size_t statistics_index;
    int64_t encode_ns;
    int64_t encode_start_ns;
    int64_t message_time_ns;
  };
  int profiling_fd_ = -1;
  std::string profiling_path_;
  std::vector<ProfilingSample> profiling_samples_;
  std::vector<char> profiling_text_;

  // Reused for every part header (Clear() keeps its memory); messages are
  // laid out directly in the writers' buffers (logger_record.h).
  flatbuffers::FlatBufferBuilder builder_;
};

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_LOGGER_H_
