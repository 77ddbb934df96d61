// Live replay: LogReader::Register(EventLoop *), which replays a log (or one
// node of a multi-node log) through a real event loop, usually a
// ShmEventLoop, so that separate processes see the logged messages in shared
// memory at the pace they were logged (scaled by SetRealtimeReplayRate).
// See log_reader.h and docs/decisions/replay.md ("Live replay").

#include <algorithm>
#include <cmath>
#include <optional>

#include "aos/events/logging/log_reader.h"
#include "aos/events/shm_event_loop.h"
#include "aos/uuid.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_bool(drop_realtime_messages_before_start, false,
            "Live replay: send nothing from before the start (the state the "
            "logger fetched, and with --start_time everything earlier) "
            "instead of each channel's latest message. Every process then "
            "sees messages only at their logged pace, but fetchers of "
            "channels that are rarely sent find nothing until they are.");

namespace aos::logger {

namespace internal {

NodeChannelRole ReplayRoleOnNode(const Configuration *logged,
                                 const Channel *channel, size_t node_index) {
  const int source = configuration::SourceNodeIndex(logged, channel);
  if (source == static_cast<int>(node_index)) {
    return channel->logger() != LoggerConfig::NOT_LOGGED
               ? NodeChannelRole::kOwn
               : NodeChannelRole::kNotReplayed;
  }
  const Node *node = configuration::GetNode(logged, node_index);
  return configuration::ConnectionToNode(channel, node) != nullptr
             ? NodeChannelRole::kDelivered
             : NodeChannelRole::kNotReplayed;
}

}  // namespace internal

// Replays through one real event loop. Messages are read ahead only one at a
// time (the next one to send), so the loop's steady state reuses the
// streams' buffers (Next/Recycle) and allocates nothing per message.
class LogReader::LiveReplayer {
 public:
  LiveReplayer(LogReader *reader, EventLoop *event_loop);
  LiveReplayer(const LiveReplayer &) = delete;
  LiveReplayer &operator=(const LiveReplayer &) = delete;

  void set_rate(double rate) { rate_ = LiveRate(rate); }
  // The logged times the replay reached (see LogReader).
  monotonic_clock::time_point monotonic_replayed_until() const {
    return replayed_until_;
  }
  realtime_clock::time_point realtime_replayed_until() const {
    return realtime_start_ + (replayed_until_ - monotonic_start_);
  }
  // Multi-node logs: the node stream's warnings, appended to `out`.
  void AppendWarnings(std::vector<std::string> *out) const {
    for (const auto &stream : replayed_streams_) stream->AppendWarnings(out);
    if (multi_ != nullptr) multi_->AppendWarnings(out);
  }

 private:
  // 0 (never set) replays at real time, like upstream's default.
  static double LiveRate(double rate) { return rate == 0.0 ? 1.0 : rate; }
  // When the message logged at `logged` is due on the loop's clock.
  monotonic_clock::time_point Due(monotonic_clock::time_point logged) const;
  // The next message; at the end of a boot's stream, with `next_boot`, the
  // first of the node's next boot (see NextBoot).
  std::optional<LogMessage> NextMessage(bool next_boot = true);
  // Multi-node logs: goes on with the node's next boot, paced from where
  // the replay's clocks put it after the boot before.
  void NextBoot();
  // The logged boot UUID of node `source` when the replayed node's clock
  // read `received` (in the boot being replayed).
  UUID SourceBoot(int source, monotonic_clock::time_point received);
  void Recycle(LogMessage message);
  void Send(const LogMessage &message);
  void Start();
  // Sends every message that is due and schedules the timer for the next.
  void SendDue();
  void Finish();
  // Timing accuracy report: records one sent message, and publishes the
  // records (when the batch is full, and after each SendDue).
  void RecordTiming(const LogMessage &message, monotonic_clock::time_point due);
  void PublishTiming();

  LogReader *const reader_;
  EventLoop *const event_loop_;
  // The node's start and end on its logged clock.
  monotonic_clock::time_point log_start_;
  monotonic_clock::time_point log_end_ = monotonic_clock::max_time;
  // The node's logged start (before SetStartTime), on both clocks, and the
  // logged send time of the last message sent.
  monotonic_clock::time_point monotonic_start_;
  realtime_clock::time_point realtime_start_;
  monotonic_clock::time_point replayed_until_;
  monotonic_clock::time_point wall_start_;
  double rate_;
  // One of these is set: a single-node log's stream or a node's stream of a
  // multi-node log (the boot being replayed).
  LogMessageStream *single_ = nullptr;
  std::unique_ptr<internal::NodeMessageStream> multi_;
  // Multi-node logs: the node, its boots (indices into MultiNodeLog::boots),
  // which is being replayed, and the streams of those already replayed
  // (kept for their warnings).
  size_t node_index_ = 0;
  std::vector<size_t> boots_;
  size_t boot_position_ = 0;
  std::vector<std::unique_ptr<internal::NodeMessageStream>> replayed_streams_;
  // Where the pace of the boot being replayed is anchored: its message
  // logged at boot_log_anchor_ is due at boot_wall_anchor_ (the first boot:
  // log_start_ at wall_start_).
  monotonic_clock::time_point boot_log_anchor_;
  monotonic_clock::time_point boot_wall_anchor_;
  std::optional<LogMessage> next_;
  // Sender per logged channel index (null: not replayed on this node).
  std::vector<std::unique_ptr<RawSender>> senders_;
  // Per node, its boots' logged UUIDs and where each begins on the replay's
  // distributed clock, for forwarded messages' source boot.
  std::vector<std::vector<std::pair<distributed_clock::time_point, UUID>>>
      source_boots_;
  // Ends a ShmEventLoop at the end (other loops: use OnEnd).
  std::unique_ptr<ExitHandle> exit_handle_;
  TimerHandler *timer_ = nullptr;
  // Exits after the end grace period.
  TimerHandler *exit_timer_ = nullptr;
  // Timing accuracy report (if LogReader::set_timing_accuracy_sender):
  // index of each logged channel's replayed channel in the loop's
  // configuration, and the records not yet published (capacity fixed at
  // what one message of the report's channel holds, so recording never
  // allocates).
  struct Timing {
    uint32_t channel;
    monotonic_clock::time_point expected;
    monotonic_clock::time_point actual;
  };
  std::vector<uint32_t> replayed_channel_index_;
  std::vector<Timing> timings_;
  std::vector<flatbuffers::Offset<timing::MessageTiming>> timing_offsets_;
  bool finished_ = false;
};

LogReader::LiveReplayer::LiveReplayer(LogReader *reader, EventLoop *event_loop)
    : reader_(reader),
      event_loop_(event_loop),
      rate_(LiveRate(reader->replay_rate_)) {
  const Configuration *logged = reader_->logged_configuration();
  const Node *node = event_loop_->node();
  size_t node_index = 0;
  if (reader_->multi_node_ != nullptr) {
    CHECK(node != nullptr)
        << ": the log is multi-node but the event loop has no node; make it "
           "with a multi-node configuration (reader.configuration())";
    const std::vector<const Node *> logged_nodes = reader_->LoggedNodes();
    std::string names;
    bool found = false;
    for (const Node *logged_node : logged_nodes) {
      names += (names.empty() ? "" : ", ") + logged_node->name()->str();
      if (logged_node->name()->string_view() == node->name()->string_view()) {
        found = true;
      }
    }
    CHECK(found) << ": the log has no data for node " << node->name()->str()
                 << " (the event loop's node); it has data for: " << names;
    node_index =
        configuration::GetNodeIndex(logged, node->name()->string_view());
    const Node *logged_node = configuration::GetNode(logged, node_index);
    log_start_ = reader_->monotonic_start_time(logged_node);
    const internal::MultiNodeLog &log = *reader_->multi_node_;
    // The replay's clocks (the estimate), for where later boots and other
    // nodes' boots begin.
    if (reader_->clocks_ == nullptr) {
      reader_->clocks_ = std::make_unique<internal::ReplayClocks>(log);
    }
    source_boots_.resize(log.node_boots.size());
    for (size_t i = 0; i < log.node_boots.size(); ++i) {
      for (size_t boot : log.node_boots[i]) {
        Result<UUID> uuid = UUID::FromString(log.boots[boot].boot_uuid);
        source_boots_[i].emplace_back(
            reader_->clocks_->BootStartTime(i, log.boots[boot].boot),
            uuid ? *uuid : UUID::Zero());
      }
    }
    // A node's boots replay one after the other into the one shared memory
    // (see NextBoot).
    node_index_ = node_index;
    boots_ = log.node_boots[node_index];
    Result<std::unique_ptr<internal::NodeMessageStream>> stream =
        internal::NodeMessageStream::Open(log, boots_.front());
    CheckExpected(stream);
    multi_ = std::move(*stream);
  } else {
    CHECK(node == nullptr)
        << ": the log is single-node but the event loop is on node "
        << node->name()->str() << "; make it with reader.configuration()";
    log_start_ = reader_->monotonic_start_;
    Result<std::unique_ptr<LogMessageStream>> stream =
        LogMessageStream::Open(reader_->log_files_.front(), "");
    CheckExpected(stream);
    reader_->stream_ = std::move(*stream);
    single_ = reader_->stream_.get();
  }
  // SetStartTime/SetEndTime are realtime on the node's logged clock.
  const realtime_clock::time_point realtime_start =
      reader_->multi_node_ != nullptr
          ? reader_->realtime_start_time(
                configuration::GetNode(logged, node_index))
          : reader_->realtime_start_;
  monotonic_start_ = log_start_;
  realtime_start_ = realtime_start;
  if (reader_->start_time_ != realtime_clock::min_time &&
      reader_->start_time_ > realtime_start) {
    log_start_ = monotonic_start_ + (reader_->start_time_ - realtime_start);
  }
  if (reader_->end_time_ != realtime_clock::max_time) {
    log_end_ = monotonic_start_ + (reader_->end_time_ - realtime_start);
  }
  replayed_until_ = log_start_;

  const Configuration *config = event_loop_->configuration();
  ShmEventLoop *shm = dynamic_cast<ShmEventLoop *>(event_loop_);
  if (shm != nullptr) exit_handle_ = shm->MakeExitHandle();
  senders_.resize(logged->channels()->size());
  replayed_channel_index_.resize(senders_.size(), 0);
  for (size_t i = 0; i < senders_.size(); ++i) {
    const Channel *channel = logged->channels()->Get(i);
    const bool replayed =
        reader_->multi_node_ != nullptr
            ? internal::ReplayRoleOnNode(logged, channel, node_index) !=
                  internal::NodeChannelRole::kNotReplayed
            : configuration::ChannelMessageIsLoggedOnNode(channel, nullptr);
    if (!replayed) continue;
    const auto [name, type] = reader_->ReplayedNameAndType(channel);
    const Channel *target = internal::FindChannel(config, name, type);
    CHECK(target != nullptr)
        << ": the event loop's configuration has no channel " << name << " "
        << type
        << " to replay the log into; make the loop with the reader's "
           "configuration()";
    // In shared memory the replay's senders are exclusive, so no other
    // process's messages mix with the log's (ShmEventLoop names the channel,
    // the process and the remap that fixes it).
    senders_[i] = shm != nullptr ? shm->MakeExclusiveRawSender(target)
                                 : event_loop_->MakeRawSender(target);
    replayed_channel_index_[i] = configuration::ChannelIndex(config, target);
  }
  if (reader_->timing_accuracy_sender_.valid()) {
    const Sender<timing::ReplayTiming> &report =
        reader_->timing_accuracy_sender_;
    CHECK(report.event_loop() == event_loop_)
        << ": the timing accuracy sender on "
        << configuration::StrippedChannelToString(report.channel())
        << " must be made by the replay's event loop";
    CHECK((reader_->timing_accuracy_node_ == nullptr) == (node == nullptr) &&
          (node == nullptr ||
           reader_->timing_accuracy_node_->name()->string_view() ==
               node->name()->string_view()))
        << ": set_timing_accuracy_sender was given another node than the "
           "replay's event loop's";
    // A MessageTiming is at most 40 bytes and its offset 4; the rest of the
    // message (root table, vtables, vector length, alignment) under 64.
    constexpr size_t kPerRecord = 48, kOverhead = 64;
    const size_t max_size = report.channel()->max_size();
    const size_t capacity = max_size > kOverhead + kPerRecord
                                ? (max_size - kOverhead) / kPerRecord
                                : 1;
    timings_.reserve(capacity);
    timing_offsets_.reserve(capacity);
  }
  timer_ = event_loop_->AddTimer([this]() { SendDue(); });
  exit_timer_ = event_loop_->AddTimer([this]() {
    if (exit_handle_ != nullptr) exit_handle_->Exit();
  });
  event_loop_->OnRun([this]() { Start(); });
}

monotonic_clock::time_point LogReader::LiveReplayer::Due(
    monotonic_clock::time_point logged) const {
  if (std::isinf(rate_)) return wall_start_;
  const double offset =
      static_cast<double>((logged - boot_log_anchor_).count());
  return boot_wall_anchor_ +
         std::chrono::nanoseconds(static_cast<int64_t>(offset / rate_));
}

std::optional<LogMessage> LogReader::LiveReplayer::NextMessage(bool next_boot) {
  if (single_ != nullptr) return single_->Next();
  std::optional<LogMessage> message = multi_->Next();
  while (!message.has_value() && next_boot &&
         boot_position_ + 1 < boots_.size()) {
    NextBoot();
    message = multi_->Next();
  }
  return message;
}

void LogReader::LiveReplayer::NextBoot() {
  const internal::MultiNodeLog &log = *reader_->multi_node_;
  const internal::NodeLog &previous = log.boots[boots_[boot_position_]];
  const internal::NodeLog &boot = log.boots[boots_[++boot_position_]];
  replayed_streams_.push_back(std::move(multi_));
  Result<std::unique_ptr<internal::NodeMessageStream>> stream =
      internal::NodeMessageStream::Open(log, boots_[boot_position_]);
  CheckExpected(stream);
  multi_ = std::move(*stream);
  // The boot's start on its own clock (its logger's, or else the pair of
  // clock readings its copies gave), and on the replay's distributed clock
  // against the previous boot's anchor: the gap between the boots replays
  // at the rate too. Never earlier than the previous anchor.
  const monotonic_clock::time_point start =
      boot.monotonic_start != monotonic_clock::min_time
          ? boot.monotonic_start
          : boot.clock_pair_monotonic;
  const distributed_clock::time_point previous_anchor =
      reader_->clocks_->ToDistributedClock(
          node_index_, BootTimestamp{previous.boot, boot_log_anchor_});
  const distributed_clock::time_point anchor =
      reader_->clocks_->ToDistributedClock(node_index_,
                                           BootTimestamp{boot.boot, start});
  boot_wall_anchor_ += std::chrono::nanoseconds(static_cast<int64_t>(
      static_cast<double>(
          std::max(anchor - previous_anchor, std::chrono::nanoseconds(0))
              .count()) /
      rate_));
  boot_log_anchor_ = start;
  // Times the replay reached, and SetEndTime, on this boot's clocks.
  monotonic_start_ = start;
  realtime_start_ = boot.monotonic_start != monotonic_clock::min_time
                        ? boot.realtime_start
                        : boot.clock_pair_realtime;
  replayed_until_ = start;
  if (reader_->end_time_ != realtime_clock::max_time) {
    log_end_ = start + (reader_->end_time_ - realtime_start_);
  }
  LOG(INFO) << "live replay: " << boot.name << " rebooted; replaying boot "
            << boot.boot << " from " << start << " on its clock";
}

UUID LogReader::LiveReplayer::SourceBoot(int source,
                                         monotonic_clock::time_point received) {
  if (source < 0 || static_cast<size_t>(source) >= source_boots_.size() ||
      source_boots_[source].empty()) {
    return UUID::Zero();
  }
  const distributed_clock::time_point now =
      reader_->clocks_->ToDistributedClock(
          node_index_,
          BootTimestamp{
              reader_->multi_node_->boots[boots_[boot_position_]].boot,
              received});
  // The source's last boot that began by then.
  const auto &boots = source_boots_[source];
  size_t i = 0;
  while (i + 1 < boots.size() && boots[i + 1].first <= now) ++i;
  return boots[i].second;
}

void LogReader::LiveReplayer::Recycle(LogMessage message) {
  if (single_ != nullptr) {
    single_->Recycle(std::move(message));
  } else {
    multi_->Recycle(std::move(message));
  }
}

void LogReader::LiveReplayer::Send(const LogMessage &message) {
  internal::SendLoggedMessage(senders_, reader_->logged_configuration(),
                              message, "", [this, &message](int source) {
                                return SourceBoot(source,
                                                  message.monotonic_sent_time);
                              });
}

void LogReader::LiveReplayer::Start() {
  // The state before the start (the logger's fetch of every channel, and
  // with SetStartTime everything before it): each channel's latest message,
  // sent at once so fetchers in every process find it. Only the latest, as
  // watchers that already exist see these too (shared memory cannot tell
  // them apart) and a start far into a log would otherwise flood them.
  std::vector<std::optional<LogMessage>> state(senders_.size());
  next_ = NextMessage(/*next_boot=*/false);
  while (next_.has_value() && next_->monotonic_sent_time < log_start_) {
    if (FLAGS_drop_realtime_messages_before_start) {
      Recycle(std::move(*next_));
    } else if (next_->channel_index < state.size()) {
      std::optional<LogMessage> &latest = state[next_->channel_index];
      if (latest.has_value()) Recycle(std::move(*latest));
      latest = std::move(next_);
    } else {
      Send(*next_);  // Warns about the damage.
      Recycle(std::move(*next_));
    }
    next_ = NextMessage(/*next_boot=*/false);
  }
  std::vector<LogMessage *> in_order;
  for (std::optional<LogMessage> &message : state) {
    if (message.has_value()) in_order.push_back(&*message);
  }
  std::stable_sort(in_order.begin(), in_order.end(),
                   [](const LogMessage *a, const LogMessage *b) {
                     return a->monotonic_sent_time < b->monotonic_sent_time;
                   });
  for (const LogMessage *message : in_order) Send(*message);
  for (const auto &fn : reader_->on_start_) fn();
  // The pace starts after the start callbacks, which may wait for other
  // processes to get ready. The first messages go from the timer, after
  // the loop's other OnRun callbacks (a Logger's start, say).
  wall_start_ = event_loop_->monotonic_now();
  boot_log_anchor_ = log_start_;
  boot_wall_anchor_ = wall_start_;
  // The first boot may have nothing after its start; go on with the next.
  if (!next_.has_value()) next_ = NextMessage();
  timer_->Schedule(wall_start_);
}

void LogReader::LiveReplayer::SendDue() {
  // As fast as possible, hand the loop back now and then so its other
  // events (a Logger's polling timer, say) keep running.
  constexpr int kMaxBatch = 1000;
  const monotonic_clock::time_point now = event_loop_->monotonic_now();
  int sent = 0;
  while (next_.has_value() && next_->monotonic_sent_time <= log_end_) {
    const monotonic_clock::time_point due = Due(next_->monotonic_sent_time);
    if (due > now || sent == kMaxBatch) {
      PublishTiming();
      timer_->Schedule(std::max(due, now));
      return;
    }
    Send(*next_);
    RecordTiming(*next_, due);
    replayed_until_ = next_->monotonic_sent_time;
    ++sent;
    Recycle(std::move(*next_));
    next_ = NextMessage();
  }
  PublishTiming();
  Finish();
}

void LogReader::LiveReplayer::RecordTiming(const LogMessage &message,
                                           monotonic_clock::time_point due) {
  if (!reader_->timing_accuracy_sender_.valid()) return;
  if (message.channel_index >= senders_.size()) return;
  const RawSender *sender = senders_[message.channel_index].get();
  if (sender == nullptr || !message.has_data) return;
  if (timings_.size() == timings_.capacity()) PublishTiming();
  timings_.push_back({replayed_channel_index_[message.channel_index], due,
                      sender->monotonic_sent_time()});
}

void LogReader::LiveReplayer::PublishTiming() {
  if (timings_.empty()) return;
  Sender<timing::ReplayTiming>::Builder builder =
      reader_->timing_accuracy_sender_.MakeBuilder();
  flatbuffers::FlatBufferBuilder *fbb = builder.fbb();
  timing_offsets_.clear();
  for (const Timing &timing : timings_) {
    timing_offsets_.push_back(timing::CreateMessageTiming(
        *fbb, timing.channel, timing.expected.time_since_epoch().count(),
        timing.actual.time_since_epoch().count(),
        std::chrono::duration<double>(timing.expected - timing.actual)
            .count()));
  }
  const auto messages =
      fbb->CreateVector(timing_offsets_.data(), timing_offsets_.size());
  timing::ReplayTiming::Builder report =
      builder.MakeBuilder<timing::ReplayTiming>();
  report.add_messages(messages);
  builder.CheckOk(builder.Send(report.Finish()));
  timings_.clear();
}

void LogReader::LiveReplayer::Finish() {
  if (finished_) return;
  finished_ = true;
  for (const auto &fn : reader_->on_end_) fn();
  if (!reader_->exit_on_finish_ || exit_handle_ == nullptr) return;
  // The grace period lets other processes answer the last messages (see
  // LogReader::set_live_end_grace_period).
  if (reader_->live_end_grace_period_ > monotonic_clock::zero()) {
    exit_timer_->Schedule(event_loop_->monotonic_now() +
                          reader_->live_end_grace_period_);
  } else {
    exit_handle_->Exit();
  }
}

void LogReader::Register(EventLoop *event_loop) {
  CHECK(factory_ == nullptr && live_ == nullptr)
      << ": LogReader registered twice";
  CHECK(event_loop != nullptr);
  live_ = std::make_unique<LiveReplayer>(this, event_loop);
}

void LogReader::set_timing_accuracy_sender(
    const Node *node, Sender<timing::ReplayTiming> timing_sender) {
  CHECK(factory_ == nullptr && live_ == nullptr)
      << ": set_timing_accuracy_sender must be called before Register";
  CHECK(timing_sender.valid()) << ": the timing accuracy sender is invalid";
  const std::string_view name = timing_sender.channel()->name()->string_view();
  for (const Channel *logged : *logged_configuration()->channels()) {
    CHECK(ReplayedNameAndType(logged) !=
          std::make_pair(std::string(name),
                         timing_sender.channel()->type()->str()))
        << ": the timing accuracy report's channel "
        << configuration::StrippedChannelToString(timing_sender.channel())
        << " is one the log replays; use a channel of its own";
  }
  timing_accuracy_node_ = node;
  timing_accuracy_sender_ = std::move(timing_sender);
}

monotonic_clock::time_point LogReader::live_monotonic_replayed_until() const {
  CHECK(live_ != nullptr) << ": live_monotonic_replayed_until is for live "
                             "replay (Register(EventLoop *))";
  return live_->monotonic_replayed_until();
}

realtime_clock::time_point LogReader::live_realtime_replayed_until() const {
  CHECK(live_ != nullptr) << ": live_realtime_replayed_until is for live "
                             "replay (Register(EventLoop *))";
  return live_->realtime_replayed_until();
}

void LogReader::SetLiveRate(double rate) {
  if (live_ != nullptr) live_->set_rate(rate);
}

void LogReader::DeregisterLive() {
  live_.reset();
  // Made by the loop, so it goes before the loop does.
  timing_accuracy_sender_ = Sender<timing::ReplayTiming>();
}

const std::vector<std::string> &LogReader::LiveMultiNodeWarnings() const {
  multi_node_warnings_ = multi_node_->warnings;
  live_->AppendWarnings(&multi_node_warnings_);
  return multi_node_warnings_;
}

}  // namespace aos::logger
