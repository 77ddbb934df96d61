#ifndef AOS_EVENTS_LOGGING_MULTINODE_REPLAY_H_
#define AOS_EVENTS_LOGGING_MULTINODE_REPLAY_H_

// What LogReader needs to replay a multi-node log, worked out from its parts.
//
// A multi-node log is several logging events (one per node that ran a
// logger) sharing a log_start_uuid. For every node it holds the node's own
// messages (its logger's data parts about itself) and the messages forwarded
// to it, recorded in up to three ways, all stamped with the receiving node's
// clock: the data itself, logged on the receiver (data parts about the source
// node, written by the receiver's logger); delivery timestamps logged on the
// receiver (TIMESTAMPS parts, no data); or delivery timestamps sent back to
// the source and logged there (REMOTE_TIMESTAMPS parts, no data). For the two
// timestamp-only kinds the data comes from the source node's own parts,
// matched by channel, queue index and send time (DeliveryMatcher).
//
// AnalyzeMultiNodeLog reads every delivery once, checks that the log can be
// replayed (every node whose data is needed is there, the boots of a node
// that rebooted are ordered) and estimates the clock offsets between the
// nodes' boots (each boot has its own clock) from the deliveries
// (clock_offset_estimator.h), which ReplayClocks turns into the replay's
// TimeConverter, boots included. NodeMessageStream then yields, per boot of
// a node, its own messages and the messages forwarded to it, merged in the
// order of that boot's clock.
// See docs/decisions/replay.md.

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/event_scheduler.h"
#include "aos/events/logging/clock_offset_estimator.h"
#include "aos/events/logging/log_message_stream.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/util/status.h"

namespace aos::logger::internal {

// A message forwarded to a node, as its delivery was logged there (times on
// the receiving node; remote_* on the source node).
struct Delivery {
  uint32_t channel_index = 0;
  // The boot (index into MultiNodeLog::boots) of the source that sent it.
  size_t source = 0;
  monotonic_clock::time_point monotonic_sent_time;
  realtime_clock::time_point realtime_sent_time;
  uint32_t queue_index = 0;
  monotonic_clock::time_point monotonic_remote_time;
  realtime_clock::time_point realtime_remote_time;
  uint32_t remote_queue_index = 0;
  monotonic_clock::time_point monotonic_remote_transmit_time;
};

// One boot of one node's share of the log (a node that never rebooted has
// one). Each boot has its own monotonic clock, so each is replayed, and its
// clock estimated, on its own.
struct NodeLog {
  std::string name;
  size_t node_index = 0;
  // Which boot of the node (0 first), its UUID ("" if the log names none),
  // and whether it is the node's only boot in the log.
  size_t boot = 0;
  std::string boot_uuid;
  bool only_boot = true;
  // Its own messages (parts about it written by its own logger).
  std::optional<LogFile> own_data;
  // Messages forwarded to it whose data its logger kept.
  std::optional<LogFile> remote_data;
  // Timestamp-only deliveries to it (deduplicated, in time order) whose
  // data lives in the source boot's own parts.
  std::vector<Delivery> deliveries;
  // Without own_data only: its messages other nodes received and logged
  // (data parts about it written by their loggers), replayed on it at their
  // send times (see NodeMessageStream).
  std::optional<LogFile> copies;
  // A (monotonic, realtime) pair of its clocks, for its realtime clock: its
  // logger's start, or else the send times of a copied message.
  monotonic_clock::time_point clock_pair_monotonic = monotonic_clock::min_time;
  realtime_clock::time_point clock_pair_realtime = realtime_clock::min_time;
  // Its logger's start (min_time if it had none).
  monotonic_clock::time_point monotonic_start = monotonic_clock::min_time;
  realtime_clock::time_point realtime_start = realtime_clock::min_time;
  // Where the boot begins on the distributed clock (min_time for boot 0):
  // when its clock reads the epoch by the estimate, but after every
  // delivery logged in the previous boot.
  distributed_clock::time_point boot_start = distributed_clock::min_time;

  // "pi2", or "pi2 (boot 1)" for a node with several boots.
  std::string Label() const;
};

// The estimated relation between two boots' clocks (indices into
// MultiNodeLog::boots).
struct ClockEstimate {
  size_t a;
  size_t b;
  // Which node and boot each is.
  size_t a_node = 0;
  size_t a_boot = 0;
  size_t b_node = 0;
  size_t b_boot = 0;
  ClockOffsetEstimator::Estimate estimate;
  size_t a_to_b_messages;
  size_t b_to_a_messages;
};

struct MultiNodeLog {
  // Every boot of every node: by node index, then boot order.
  std::vector<NodeLog> boots;
  // Per node index: its boots (indices into `boots`), first boot first.
  std::vector<std::vector<size_t>> node_boots;
  // The boot whose clock the replay's distributed clock follows.
  size_t reference = 0;
  // The pair estimates the clocks were built from (a tree over the boots
  // reachable from the reference through forwarded messages).
  std::vector<ClockEstimate> estimates;
  // Per boot: (distributed, monotonic) samples of its clock, distributed
  // time 0 being the earliest logger start.
  std::vector<std::vector<std::pair<int64_t, int64_t>>> clocks;
  std::vector<std::string> warnings;

  // The first boot of node `node_index`.
  const NodeLog &FirstBoot(size_t node_index) const {
    return boots[node_boots[node_index].front()];
  }
};

// Sorts out `logs` (CheckOneLog'd, sharing `config`) per node and boot
// (LogFile::boots orders the boots), reads every delivery and estimates
// the clocks. Errors: a node whose data parts are needed but absent, boots
// that cannot be ordered.
Result<MultiNodeLog> AnalyzeMultiNodeLog(const std::vector<LogFile> &logs,
                                         const Configuration *config);

// The boots' clocks as piecewise-linear functions of the distributed clock
// (samples per boot, extended along the end segments, slope 1 for a single
// sample), and the boots' start times.
class ReplayClocks final : public TimeConverter {
 public:
  explicit ReplayClocks(const MultiNodeLog &log);

  monotonic_clock::time_point FromDistributedClock(
      size_t node_index, distributed_clock::time_point time,
      size_t boot) override;
  distributed_clock::time_point ToDistributedClock(size_t node_index,
                                                   BootTimestamp time) override;
  distributed_clock::time_point BootStartTime(size_t node_index,
                                              size_t boot) override;

 private:
  const std::vector<std::pair<int64_t, int64_t>> &Clock(size_t node_index,
                                                        size_t boot) const;

  std::vector<std::vector<std::pair<int64_t, int64_t>>> clocks_;
  std::vector<std::vector<size_t>> node_boots_;
  std::vector<distributed_clock::time_point> boot_starts_;
};

// The source node's own messages, read ahead to find the data of
// timestamp-only deliveries. Keeps only channels in `wanted` (those with
// such deliveries) until they are delivered or passed.
class DeliveryMatcher {
 public:
  static Result<std::unique_ptr<DeliveryMatcher>> Open(
      const LogFile &source_data, std::vector<bool> wanted);
  // The message `delivery` delivered, taken out of the matcher (nullopt if
  // the source's log lacks it, e.g. sent before its logger started).
  // Deliveries on one channel must come in the order they were sent.
  std::optional<LogMessage> Find(const Delivery &delivery);
  const std::vector<std::string> &warnings() const {
    return stream_->warnings();
  }

 private:
  std::unique_ptr<LogMessageStream> stream_;
  std::vector<bool> wanted_;
  std::map<uint32_t, std::deque<LogMessage>> pending_;
  bool done_ = false;
};

// One node's messages in the order of its clock: own messages, and
// forwarded ones (remote_* times set) with their data.
class NodeMessageStream {
 public:
  // Boot `boot` (index into log.boots) of `log` (which must outlive the
  // stream). Each source boot gets its own DeliveryMatcher for this boot's
  // deliveries.
  static Result<std::unique_ptr<NodeMessageStream>> Open(
      const MultiNodeLog &log, size_t boot);
  // The next message; forwarded messages whose data is missing are skipped
  // with a warning.
  std::optional<LogMessage> Next();
  void Recycle(LogMessage message);
  // Warnings of the streams read so far.
  void AppendWarnings(std::vector<std::string> *out) const;
  // Forwarded messages skipped because the source's data was missing.
  size_t missing_data() const { return missing_data_; }

  // How far (on the node's clock) copies of its messages may come out of
  // send order across channels and receivers (different link delays) and
  // still be put back in order. A later one is dropped with a warning.
  static constexpr std::chrono::nanoseconds kCopyReorderWindow =
      std::chrono::seconds(1);

 private:
  // The next of the node's own messages from other nodes' copies, in send
  // order, each once.
  std::optional<LogMessage> NextCopy();

  const NodeLog *node_ = nullptr;
  // By source boot (null: nothing delivered from there).
  std::vector<std::unique_ptr<DeliveryMatcher>> matchers_;
  std::unique_ptr<LogMessageStream> own_;
  std::unique_ptr<LogMessageStream> remote_;
  std::unique_ptr<LogMessageStream> copies_;
  // Copies read ahead, a min-heap by send time (CopyAfter).
  std::vector<LogMessage> copy_heap_;
  monotonic_clock::time_point latest_copy_ = monotonic_clock::min_time;
  bool copies_done_ = false;
  // Per channel: the (send time, queue index) of the last copy sent.
  std::map<uint32_t, std::pair<monotonic_clock::time_point, uint32_t>>
      last_copy_;
  size_t late_copies_ = 0;
  std::optional<LogMessage> next_own_;
  std::optional<LogMessage> next_remote_;
  std::optional<LogMessage> next_copy_;
  size_t next_delivery_ = 0;
  size_t missing_data_ = 0;
  std::vector<std::string> warnings_;
};

// The channel of `config` named exactly `name` with type `type` (no maps
// applied), or null. Shared by the single- and multi-node replay paths.
const Channel *FindChannel(const Configuration *config, std::string_view name,
                           std::string_view type);

}  // namespace aos::logger::internal

#endif  // AOS_EVENTS_LOGGING_MULTINODE_REPLAY_H_
