// LogReader's multi-node half: one NodeReplayer per boot of each node, each
// with its own event loop on its node in that boot, sending that boot's own
// messages and the messages forwarded to it at their logged times on the
// boot's clock. The clocks (and where each later boot begins, so that the
// simulated node reboots there) come from AnalyzeMultiNodeLog's estimate
// (multinode_replay.h).

#include <set>
#include <string>

#include "aos/events/logging/log_reader.h"
#include "aos/events/logging/str_cat.h"
#include "aos/events/simulated_network_bridge.h"
#include "glog/logging.h"

namespace aos::logger {
namespace {

constexpr std::string_view kRemoteMessageType =
    "aos.message_bridge.RemoteMessage";

// Whether the simulated bridge forwards `channel` anywhere.
bool Forwarded(const Configuration *config, const Channel *channel) {
  if (channel->destination_nodes() == nullptr ||
      channel->source_node() == nullptr) {
    return false;
  }
  for (const Connection *connection : *channel->destination_nodes()) {
    if (connection->name()->string_view() !=
            channel->source_node()->string_view() &&
        configuration::GetNode(config, connection->name()->string_view()) !=
            nullptr) {
      return true;
    }
  }
  return false;
}

}  // namespace

class LogReader::NodeReplayer {
 public:
  NodeReplayer(LogReader *reader, size_t boot)
      : reader_(reader),
        boot_(boot),
        log_(reader->multi_node_->boots[boot]),
        node_index_(log_.node_index),
        node_(configuration::GetNode(reader->factory_->configuration(),
                                     node_index_)),
        factory_(reader->factory_->GetNodeEventLoopFactory(node_)),
        on_node_(StrCat(" on node ", node_->name()->string_view())) {}

  size_t node_index() const { return node_index_; }
  const Node *node() const { return node_; }
  EventLoop *event_loop() { return event_loop_.get(); }
  const internal::NodeMessageStream *stream() const { return stream_.get(); }
  // Whether its loop exists and outlives the current event.
  bool live() const { return event_loop_ != nullptr && !releasing_; }

  // Makes the loop, its senders and timers: before the factory runs for
  // the first boot, at their boot for later ones (Start).
  void Register() {
    const Configuration *logged = reader_->logged_configuration();
    const Configuration *config = reader_->factory_->configuration();
    if (log_.clock_pair_monotonic != monotonic_clock::min_time) {
      factory_->SetRealtimeOffset(log_.clock_pair_monotonic,
                                  log_.clock_pair_realtime);
    }
    // The replayed channel of every logged channel this node sends or
    // receives.
    std::vector<const Channel *> replayed(logged->channels()->size(), nullptr);
    EventLoopOptions options;
    options.check_sent_too_fast = CheckSentTooFast::kNo;
    options.exclusive_senders = ExclusiveSenders::kYes;
    for (size_t i = 0; i < replayed.size(); ++i) {
      const Channel *channel = logged->channels()->Get(i);
      const internal::NodeChannelRole role =
          internal::ReplayRoleOnNode(logged, channel, node_index_);
      if (role == internal::NodeChannelRole::kNotReplayed) continue;
      const bool delivered = role == internal::NodeChannelRole::kDelivered;
      const auto [name, type] = reader_->ReplayedNameAndType(channel);
      replayed[i] = internal::FindChannel(config, name, type);
      CHECK(replayed[i] != nullptr)
          << ": the factory's configuration has no channel " << name << " "
          << type
          << " to replay the log into; build the factory with the reader's "
             "configuration()";
      // The simulated bridge makes senders for what it forwards to this
      // node and for delivery timestamps, at every boot: those channels
      // cannot be exclusive. It forwards nothing replayed (below).
      if (delivered || channel->type()->string_view() == kRemoteMessageType) {
        options.per_channel_exclusivity.push_back(
            {replayed[i], ExclusiveSenders::kNo});
      }
    }
    event_loop_ = factory_->MakeEventLoop("log_reader", options);
    event_loop_->SkipTimingReport();
    event_loop_->SkipAosLog();
    senders_.resize(replayed.size());
    for (size_t i = 0; i < replayed.size(); ++i) {
      if (replayed[i] == nullptr) continue;
      senders_[i] = event_loop_->MakeRawSender(replayed[i]);
    }
    Result<std::unique_ptr<internal::NodeMessageStream>> stream =
        internal::NodeMessageStream::Open(*reader_->multi_node_, boot_);
    CheckExpected(stream);
    stream_ = std::move(*stream);

    start_ = log_.monotonic_start;
    if (reader_->start_time_ != realtime_clock::min_time &&
        log_.monotonic_start != monotonic_clock::min_time &&
        reader_->start_time_ > log_.realtime_start) {
      start_ =
          log_.monotonic_start + (reader_->start_time_ - log_.realtime_start);
    }
    end_ = monotonic_clock::max_time;
    if (reader_->end_time_ != realtime_clock::max_time &&
        log_.monotonic_start != monotonic_clock::min_time) {
      end_ = log_.monotonic_start + (reader_->end_time_ - log_.realtime_start);
    }
    timer_ = event_loop_->AddTimer(
        [this]() { SendUpTo(event_loop_->context().monotonic_event_time); });
    timer_->set_name("log_reader");
    end_timer_ = event_loop_->AddTimer(
        [this]() { final_timer_->Schedule(event_loop_->monotonic_now()); });
    final_timer_ = event_loop_->AddTimer([this]() { reader_->EndReplay(); });
  }

  void Start() {
    if (log_.boot == 0) ArmOnRun();
    // Handlers run at every boot of the node; each replayer acts at its own.
    factory_->OnStartup([this]() {
      if (factory_->boot_count() != log_.boot || started_) return;
      started_ = true;
      if (log_.boot > 0) {
        Register();
        ArmOnRun();
      }
      // The state before the boot's logger start goes to fetchers only.
      // (The clock may read past the logger's start here by a rounding
      // nanosecond: nothing can be sent before now.)
      start_ = std::max(start_, factory_->monotonic_now());
      next_ = stream_->Next();
      while (next_.has_value() && next_->monotonic_sent_time < start_) {
        Replay(*next_);
        stream_->Recycle(std::move(*next_));
        next_ = stream_->Next();
      }
    });
    factory_->OnShutdown([this]() {
      if (factory_->boot_count() == log_.boot && event_loop_ != nullptr) {
        Release();
      }
    });
  }

  // Ends the replay from this node's loop once watchers saw its last
  // message (see LogReader::Finish).
  void ScheduleEnd() {
    end_timer_->Schedule(event_loop_->monotonic_now() +
                         reader_->factory_->send_delay());
  }

 private:
  // OnRun of the boot's loop: the start callbacks, then the first message.
  void ArmOnRun() {
    event_loop_->OnRun([this]() {
      if (boot_ == reader_->multi_node_->reference) {
        for (const auto &fn : reader_->on_start_) fn();
      }
      for (const auto &[node, fn] : reader_->node_on_start_) {
        if (node->name()->string_view() == node_->name()->string_view()) fn();
      }
      if (next_.has_value() && next_->monotonic_sent_time <= end_) {
        timer_->Schedule(next_->monotonic_sent_time);
      } else {
        Finish();
      }
    });
  }

  // The node shuts down (reboots): its loop must go. Whatever of this
  // boot's log is left (the estimate put the reboot before it) is dropped,
  // with a warning.
  void Release() {
    releasing_ = true;
    if (!finished_) {
      reader_->multi_node_->warnings.push_back(
          "node '" + log_.Label() +
          "' rebooted in the replay before its log of that boot ended (at " +
          (next_.has_value()
               ? std::to_string(
                     next_->monotonic_sent_time.time_since_epoch().count()) +
                     " ns"
               : std::string("its end")) +
          "); the rest of that boot's messages are not replayed");
      LOG(WARNING) << reader_->multi_node_->warnings.back();
      Finish();
    }
    senders_.clear();
    timer_ = end_timer_ = final_timer_ = nullptr;
    event_loop_.reset();
  }

  void Replay(const LogMessage &message) {
    internal::SendLoggedMessage(
        senders_, reader_->logged_configuration(), message, on_node_,
        [this](int source) {
          return reader_->factory_->node_factories()[source]->boot_uuid();
        });
  }

  void SendUpTo(monotonic_clock::time_point until) {
    while (next_.has_value() && next_->monotonic_sent_time <= until &&
           next_->monotonic_sent_time <= end_) {
      Replay(*next_);
      stream_->Recycle(std::move(*next_));
      next_ = stream_->Next();
    }
    if (next_.has_value() && next_->monotonic_sent_time <= end_) {
      timer_->Schedule(next_->monotonic_sent_time);
    } else {
      Finish();
    }
  }

  void Finish() {
    if (finished_) return;
    finished_ = true;
    reader_->NodeFinished(this);
  }

  LogReader *const reader_;
  // Index into MultiNodeLog::boots.
  const size_t boot_;
  const internal::NodeLog &log_;
  const size_t node_index_;
  const Node *const node_;
  NodeEventLoopFactory *const factory_;
  std::unique_ptr<EventLoop> event_loop_;
  std::unique_ptr<internal::NodeMessageStream> stream_;
  std::vector<std::unique_ptr<RawSender>> senders_;
  monotonic_clock::time_point start_ = monotonic_clock::min_time;
  monotonic_clock::time_point end_ = monotonic_clock::max_time;
  TimerHandler *timer_ = nullptr;
  TimerHandler *end_timer_ = nullptr;
  TimerHandler *final_timer_ = nullptr;
  std::optional<LogMessage> next_;
  bool finished_ = false;
  bool started_ = false;
  bool releasing_ = false;
  // " on node <name>", for warnings about damaged messages.
  const std::string on_node_;
};

Result<void> LogReader::InitMultiNode() {
  Result<internal::MultiNodeLog> log =
      internal::AnalyzeMultiNodeLog(log_files_, logged_configuration());
  if (!log) return std::unexpected(log.error());
  multi_node_ = std::make_unique<internal::MultiNodeLog>(std::move(*log));
  return {};
}

void LogReader::RegisterMultiNode() {
  clocks_ = std::make_unique<internal::ReplayClocks>(*multi_node_);
  factory_->SetTimeConverter(clocks_.get());
  if (replay_rate_ != 0.0) factory_->SetRealtimeReplayRate(replay_rate_);
  // The logged statistics replay instead of the bridge's.
  factory_->PermanentlyDisableStatistics();
  for (size_t i = 0; i < multi_node_->boots.size(); ++i) {
    const internal::NodeLog &boot = multi_node_->boots[i];
    if (!boot.own_data.has_value() && !boot.remote_data.has_value() &&
        !boot.copies.has_value() && boot.deliveries.empty()) {
      continue;
    }
    node_replayers_.push_back(std::make_shared<NodeReplayer>(this, i));
    // Later boots register when they boot.
    if (boot.boot == 0) node_replayers_.back()->Register();
  }
  CHECK(!node_replayers_.empty()) << ": a multi-node log without data";
  // Replayed channels are delivered from the log, not by the bridge.
  const Configuration *config = factory_->configuration();
  std::set<const Channel *> disabled;
  const auto disable = [&](std::string_view name, std::string_view type) {
    const Channel *channel = internal::FindChannel(config, name, type);
    if (channel != nullptr && Forwarded(config, channel) &&
        disabled.insert(channel).second) {
      factory_->DisableForwarding(channel);
    }
  };
  for (const Channel *channel : *logged_configuration()->channels()) {
    const auto [name, type] = ReplayedNameAndType(channel);
    if (channel->logger() != LoggerConfig::NOT_LOGGED ||
        Forwarded(logged_configuration(), channel)) {
      disable(name, type);
    }
  }
}

void LogReader::StartMultiNode() {
  for (const auto &node : node_replayers_) node->Start();
}

void LogReader::NodeFinished(NodeReplayer *node) {
  ++nodes_finished_;
  if (nodes_finished_ != node_replayers_.size()) return;
  // From a loop that stays (not one going away at its node's reboot).
  if (node->live()) {
    node->ScheduleEnd();
    return;
  }
  for (const auto &other : node_replayers_) {
    if (other->live()) {
      other->ScheduleEnd();
      return;
    }
  }
  EndReplay();
}

void LogReader::EndReplay() {
  for (const auto &fn : on_end_) fn();
  if (exit_on_finish_) factory_->Exit();
}

std::string LogReader::ResolveName(std::string_view name, std::string_view type,
                                   const Node *node) const {
  if (node == nullptr || multi_node_ == nullptr) return std::string(name);
  const Channel *channel = configuration::GetChannel(
      logged_configuration(), name, type, "", node, /*quiet=*/true);
  return channel == nullptr ? std::string(name) : channel->name()->str();
}

const std::vector<internal::ClockEstimate> &LogReader::clock_estimates() const {
  static const std::vector<internal::ClockEstimate> kNone;
  return multi_node_ == nullptr ? kNone : multi_node_->estimates;
}

const std::vector<std::string> &LogReader::MultiNodeWarnings() const {
  multi_node_warnings_ = multi_node_->warnings;
  for (const auto &node : node_replayers_) {
    if (node->stream() != nullptr) {
      node->stream()->AppendWarnings(&multi_node_warnings_);
    }
  }
  return multi_node_warnings_;
}

}  // namespace aos::logger
