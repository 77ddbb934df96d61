#ifndef AOS_EVENTS_LOGGING_LOG_READER_H_
#define AOS_EVENTS_LOGGING_LOG_READER_H_

// LogReader replays a log into a simulation: every logged message is sent
// again on its channel, on its node, at the monotonic time it was logged, so
// applications started in the same SimulatedEventLoopFactory see what they
// would have seen on the robot, deterministically and faster than real time.
//
//   LogReader reader(FindLogs(...));                 // or a folder
//   reader.RemapLoggedChannel<Pong>("/test");        // logged pongs go to
//                                                    // /original/test
//   SimulatedEventLoopFactory factory(reader.configuration());
//   reader.Register(&factory);
//   factory.GetNodeEventLoopFactory(nullptr)->AlwaysStart<Pong>("pong");
//   factory.Run();                                   // until the log ends
//
// What replay guarantees (source-compatible with upstream's LogReader):
// - Each node's clock reads the logged monotonic (and realtime) time while
//   its messages replay: a message logged at t is sent at exactly t, with
//   its logged remote times.
// - Messages logged before the log's start (the logger's fetch of each
//   channel's latest message) are published when the node boots, before any
//   loop starts: fetchers see them (with the start time as their send time,
//   the earliest the node's clock reads), watchers do not. Watchers see the
//   messages from the start on.
// - Replayed channels have exclusive senders: an application in replay that
//   makes a sender on one dies naming the channel. Remap the channel
//   (RemapLoggedChannel) so the logged data goes to /original/<name> and the
//   application owns the real name. Timing reports and AOS_LOG messages, which
//   every event loop sends, are remapped this way automatically.
// - Replay ends at the end of the log (or SetEndTime), once watchers have
//   seen the last message (send_delay() after it): OnEnd callbacks run and,
//   unless set_exit_on_finish(false), the factory exits.
//
// Multi-node logs (several nodes' loggers, one log_start_uuid): every node's
// own messages replay on it at their logged times, and every message
// forwarded to a node is delivered there at its logged receive time, with
// its logged remote times. The nodes' clocks in the replay come from an
// estimate of their offsets made from the forwarded messages (lower
// envelopes of the one-way delays in both directions; clock_estimates()),
// which keeps every forwarded message after its send on the other node's
// clock. The simulated message bridge does not forward replayed channels
// and publishes no statistics.
//
// Live replay (Register(EventLoop *)): the log (a single-node log, or the
// event loop's node of a multi-node log, every boot of it one after the
// other) replays through one real event loop, typically a ShmEventLoop made
// with configuration(), so applications
// in other processes receive the logged messages from shared memory:
//
//   LogReader reader(path);
//   reader.RemapLoggedChannel<Pong>("/test");
//   ShmEventLoop event_loop(reader.configuration());
//   event_loop.SkipTimingReport();
//   event_loop.SkipAosLog();
//   reader.Register(&event_loop);                  // exits it at the end
//   event_loop.Run();
//   reader.Deregister();
//
// Messages are sent on the loop's clock at their logged spacing divided by
// SetRealtimeReplayRate (real time unless set; infinity: as fast as
// possible), counted from the end of the OnStart callbacks; their send times
// are the loop's, their contents and remote times the logged ones. The state
// before the start (each channel's latest message before it) is sent at once
// when the loop starts, before OnStart: fetchers in every process find it
// (watchers that already exist see it too;
// --drop_realtime_messages_before_start sends none of it). On a ShmEventLoop
// the replay's senders are exclusive (ShmEventLoop::MakeExclusiveRawSender), so
// another process's sender on a replayed channel dies naming the channel, the
// replay's process and the remap that fixes it, and Register dies the same way
// if another process sends on one already. The claim ends with the replay's
// process, however it dies. See docs/decisions/replay.md.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/event_loop.h"
#include "aos/events/logging/log_message_stream.h"
#include "aos/events/logging/logfile_sorting.h"
#include "aos/events/logging/multinode_replay.h"
#include "aos/events/logging/replay_timing_generated.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/flatbuffers.h"
#include "aos/time/time.h"
#include "aos/util/status.h"
#include "glog/logging.h"

namespace aos::logger {

class LogReader {
 public:
  // Replays the log in `log_files` (SortParts' output for one log), or in the
  // files and folders of `path`. `replay_configuration`, if given, replaces
  // the logged configuration (say, one with channels for new applications);
  // it must have every logged channel (same name and type) and outlive the
  // reader. CHECK-fails on a log that cannot be replayed; use Make() to get
  // an error instead.
  explicit LogReader(std::string_view path,
                     const Configuration *replay_configuration = nullptr);
  explicit LogReader(std::vector<LogFile> log_files,
                     const Configuration *replay_configuration = nullptr);
  // As the constructors, returning user errors (missing parts, mixed logs,
  // configuration mismatches, multi-node logs) instead of dying.
  static Result<std::unique_ptr<LogReader>> Make(
      std::vector<LogFile> log_files,
      const Configuration *replay_configuration = nullptr);
  ~LogReader();

  LogReader(const LogReader &) = delete;
  LogReader &operator=(const LogReader &) = delete;

  // Makes its own SimulatedEventLoopFactory (event_loop_factory()) over
  // configuration() and registers with it.
  void Register();
  // Registers with `factory` and arranges for replay to start with its first
  // run. The factory's configuration must have every replayed channel.
  void Register(SimulatedEventLoopFactory *factory);
  // As Register, but replay starts only at StartAfterRegister (so
  // applications can be made in between, sending nothing before the log's
  // state is in place).
  void RegisterWithoutStarting(SimulatedEventLoopFactory *factory);
  void StartAfterRegister(SimulatedEventLoopFactory *factory);
  // Live replay through `event_loop` (see above), which must be made with a
  // configuration that has every replayed channel (configuration()), be on
  // a node the log has data for (multi-node logs; nullptr node otherwise),
  // not be running yet, and outlive the replay. Replay starts when the loop
  // runs; at the end the OnEnd callbacks run and, unless
  // set_exit_on_finish(false), a ShmEventLoop exits (other loops: exit them
  // from OnEnd). Call Deregister (or destroy the reader) once the loop
  // stopped running and before it is destroyed.
  void Register(EventLoop *event_loop);
  // Destroys the replay's event loops and senders (so the factory can go on
  // without the log, or be destroyed: a factory must outlive its loops, so
  // call this before destroying a factory given to Register(factory) that
  // dies first). Register again is not supported.
  void Deregister();

  // Publishes the logged messages of channel `name` of type `type` on
  // `add_prefix` + name instead (default "/original/..."), so that an
  // application in replay can send on `name` itself. With a `new_type`, the
  // remapped channel has that type instead (upstream's way of renaming a
  // message type: the logged bytes must be a valid `new_type`, which the
  // simulation checks as for every send); it takes new_type's schema from
  // the configuration if it has one, else keeps the logged schema. Call
  // before Register. CHECK-fails if the log has no such channel (check with
  // HasChannel) or the new channel exists already.
  void RemapLoggedChannel(std::string_view name, std::string_view type,
                          const Node *node = nullptr,
                          std::string_view add_prefix = "/original",
                          std::string_view new_type = "");
  template <typename T>
  void RemapLoggedChannel(std::string_view name, const Node *node = nullptr,
                          std::string_view add_prefix = "/original",
                          std::string_view new_type = "") {
    RemapLoggedChannel(name, T::GetFullyQualifiedName(), node, add_prefix,
                       new_type);
  }
  // Publishes the logged messages of `name` on `new_name` (no copy is kept
  // under `name`). Call before Register.
  void RenameLoggedChannel(std::string_view name, std::string_view type,
                           std::string_view new_name,
                           const Node *node = nullptr);
  template <typename T>
  void RenameLoggedChannel(std::string_view name, std::string_view new_name,
                           const Node *node = nullptr) {
    RenameLoggedChannel(name, T::GetFullyQualifiedName(), new_name, node);
  }
  // Whether the logged configuration has channel `name` of `type`.
  bool HasChannel(std::string_view name, std::string_view type,
                  const Node *node = nullptr) const;
  template <typename T>
  bool HasChannel(std::string_view name, const Node *node = nullptr) const {
    return HasChannel(name, T::GetFullyQualifiedName(), node);
  }
  // The channels remapped so far, as "name type -> new name" (and " new
  // type" if it changes).
  std::vector<std::string> RemappedChannels() const;

  // Replays only messages sent at or after `start` (earlier ones become the
  // state fetchers see at the start) and up to `end` (realtime, on the
  // node's clock). Call before Register.
  void SetStartTime(realtime_clock::time_point start);
  void SetEndTime(realtime_clock::time_point end);

  // Callbacks at the start of replay (before any application's OnRun) and at
  // its end. With a node (multi-node logs), the start callback runs as that
  // node's replay starts; end callbacks all run once every node's log ended.
  // In single-node logs the node must be nullptr.
  void OnStart(std::function<void()> fn);
  void OnStart(const Node *node, std::function<void()> fn);
  void OnEnd(std::function<void()> fn);
  void OnEnd(const Node *node, std::function<void()> fn);

  // Whether the factory exits when the log ends (default true).
  void set_exit_on_finish(bool exit_on_finish) {
    exit_on_finish_ = exit_on_finish;
  }
  // Paces replay against wall-clock time (1.0: real time; 0 or infinity: as
  // fast as possible). Applies to the factory once registered. Live replay
  // (Register(EventLoop *)) runs at real time unless a rate is set
  // (infinity: as fast as possible).
  void SetRealtimeReplayRate(double rate);

  // Live replay only; call before Register. How long the loop keeps running
  // after the last message (after the OnEnd callbacks) before a ShmEventLoop
  // exits (set_exit_on_finish): applications in other processes answer the
  // last messages within it, so their answers reach the readers still on
  // the loop (a Logger recording the replay). Default zero.
  void set_live_end_grace_period(monotonic_clock::duration grace) {
    live_end_grace_period_ = grace;
  }
  // Live replay only: after each batch of messages sent, publishes on
  // `timing_sender` (a sender of `node`'s replay loop, on a channel the log
  // does not replay) when each was due and when it was sent (upstream's
  // ReplayTiming). Simulated replay sends every message exactly when due and
  // CHECK-fails if one is set. `node` is nullptr for single-node logs.
  void set_timing_accuracy_sender(const Node *node,
                                  Sender<timing::ReplayTiming> timing_sender);
  // Live replay only: the logged times (on the replayed node's clocks) the
  // replay reached: the last sent message's send time, or the start before
  // any was sent. Complete once the OnEnd callbacks run.
  monotonic_clock::time_point live_monotonic_replayed_until() const;
  realtime_clock::time_point live_realtime_replayed_until() const;

  // The configuration the log was written with.
  const Configuration *logged_configuration() const {
    return &logged_configuration_->message();
  }
  // The configuration replay runs with: the replay configuration (or the
  // logged one) plus the remapped channels. Valid after the remaps, before
  // Register (it changes with each remap).
  const Configuration *configuration() const {
    return &configuration_.message();
  }
  // The nodes the log has data for (one nullptr for a single-node log).
  std::vector<const Node *> LoggedNodes() const;

  // Multi-node logs: the clock offset estimates between pairs of nodes the
  // replay's clocks were built from (empty for single-node logs).
  const std::vector<internal::ClockEstimate> &clock_estimates() const;

  // The log's start on `node`'s clocks (its logger's start; min_time for a
  // node without a logger). `node` is nullptr for single-node logs.
  monotonic_clock::time_point monotonic_start_time(
      const Node *node = nullptr) const;
  realtime_clock::time_point realtime_start_time(
      const Node *node = nullptr) const;

  // The factory Register() made, or the one given to Register(factory)
  // (nullptr in live replay).
  SimulatedEventLoopFactory *event_loop_factory() { return factory_; }

  // Parts that could not be read to their end (truncated logs), so far.
  const std::vector<std::string> &warnings() const;

 private:
  class ReplayTimeConverter;
  // Replays through one real event loop (log_reader_live.cc).
  class LiveReplayer;
  // Replays one node of a multi-node log (log_reader_multinode.cc).
  class NodeReplayer;
  struct Remap {
    std::string name;
    std::string type;
    std::string new_name;
    // Remaps keep the original channel in the configuration; renames
    // replace it.
    bool keep_original;
    // The remapped channel's type; empty: `type`.
    std::string new_type = "";
  };
  // The (name, type) `logged` (a channel of the logged configuration)
  // replays on, after the remaps.
  std::pair<std::string, std::string> ReplayedNameAndType(
      const Channel *logged) const;

  LogReader(std::vector<LogFile> log_files,
            const Configuration *replay_configuration, bool);
  Result<void> Init();
  // Rebuilds configuration_ from the base configuration and remaps_.
  void BuildConfiguration();
  // The time fetch-only messages end and watched ones begin.
  monotonic_clock::time_point ReplayStart() const;
  // Sends `message` on its channel, as it was logged.
  void Replay(const LogMessage &message);
  // Sends every message up to `until` (inclusive) and schedules the next.
  void SendUpTo(monotonic_clock::time_point until);
  void Finish();
  // The multi-node halves of Init, RegisterWithoutStarting and
  // StartAfterRegister (log_reader_multinode.cc).
  Result<void> InitMultiNode();
  void RegisterMultiNode();
  void StartMultiNode();
  // A node's log ended; ends the replay once every node's has.
  void NodeFinished(NodeReplayer *node);
  // Runs the OnEnd callbacks and exits (if asked to).
  void EndReplay();
  // Multi-node logs: `node`'s first boot (CHECK-fails on nullptr);
  // single-node logs: nullptr (CHECK-fails on a node).
  const internal::NodeLog *FirstBootOf(const Node *node) const;
  // Resolves `name` on `node` through the configuration's maps.
  std::string ResolveName(std::string_view name, std::string_view type,
                          const Node *node) const;
  const std::vector<std::string> &MultiNodeWarnings() const;
  // Live replay's halves of SetRealtimeReplayRate and Deregister.
  void SetLiveRate(double rate);
  void DeregisterLive();
  const std::vector<std::string> &LiveMultiNodeWarnings() const;

  std::vector<LogFile> log_files_;
  std::shared_ptr<const FlatbufferVector<Configuration>> logged_configuration_;
  const Configuration *replay_configuration_;
  FlatbufferDetachedBuffer<Configuration> configuration_;
  std::vector<Remap> remaps_;
  monotonic_clock::time_point monotonic_start_ = monotonic_clock::min_time;
  realtime_clock::time_point realtime_start_ = realtime_clock::min_time;
  realtime_clock::time_point start_time_ = realtime_clock::min_time;
  realtime_clock::time_point end_time_ = realtime_clock::max_time;
  std::vector<std::function<void()>> on_start_;
  std::vector<std::function<void()>> on_end_;
  bool exit_on_finish_ = true;
  double replay_rate_ = 0.0;
  // Live replay's options (see their setters).
  monotonic_clock::duration live_end_grace_period_ = monotonic_clock::zero();
  const Node *timing_accuracy_node_ = nullptr;
  Sender<timing::ReplayTiming> timing_accuracy_sender_;

  std::unique_ptr<SimulatedEventLoopFactory> owned_factory_;
  SimulatedEventLoopFactory *factory_ = nullptr;
  std::unique_ptr<ReplayTimeConverter> time_converter_;
  std::unique_ptr<EventLoop> event_loop_;
  std::unique_ptr<LogMessageStream> stream_;
  // Sender per logged channel index (null: not replayed).
  std::vector<std::unique_ptr<RawSender>> senders_;
  // Sends the messages due at its time (see SendEvent), on scheduler_.
  class SendEvent;
  EventScheduler *scheduler_ = nullptr;
  std::unique_ptr<SendEvent> send_event_;
  TimerHandler *end_timer_ = nullptr;
  TimerHandler *final_timer_ = nullptr;
  // The stream's next message (LogMessageStream::Peek: valid until Pop),
  // or nullptr at its end.
  const LogMessage *next_ = nullptr;
  bool finished_ = false;

  // Multi-node logs only.
  std::unique_ptr<internal::MultiNodeLog> multi_node_;
  std::unique_ptr<internal::ReplayClocks> clocks_;
  // shared_ptr: NodeReplayer is complete only in log_reader_multinode.cc.
  std::vector<std::shared_ptr<NodeReplayer>> node_replayers_;
  size_t nodes_finished_ = 0;
  std::vector<std::pair<const Node *, std::function<void()>>> node_on_start_;
  mutable std::vector<std::string> multi_node_warnings_;

  // Live replay only (shared_ptr: complete only in log_reader_live.cc).
  std::shared_ptr<LiveReplayer> live_;
};

namespace internal {

// How node `node_index` of a multi-node log replays a logged channel: its
// own (the node sends it and it is logged), delivered to it (forwarded from
// another node), or not at all.
enum class NodeChannelRole { kNotReplayed, kOwn, kDelivered };
NodeChannelRole ReplayRoleOnNode(const Configuration *logged,
                                 const Channel *channel, size_t node_index);

// Sends logged `message` again on `senders[message.channel_index]` (null:
// the channel is not replayed): as a local message, or, when it was
// forwarded (remote times set), with its logged remote times and the boot
// UUID `source_boot(source node index)` gives for its source node. A channel
// index past `senders` (a damaged log) is warned about, naming `where` (""
// or " on node <name>"), and skipped. One copy for the single-node,
// multi-node and live replays, which differ only in where boots come from.
template <typename SourceBoot>
void SendLoggedMessage(const std::vector<std::unique_ptr<RawSender>> &senders,
                       const Configuration *logged, const LogMessage &message,
                       std::string_view where, SourceBoot source_boot) {
  if (message.channel_index >= senders.size()) {
    LOG(WARNING) << "skipping a message on channel index "
                 << message.channel_index << " sent at "
                 << message.monotonic_sent_time << where
                 << ": the log's configuration has only " << senders.size()
                 << " channels";
    return;
  }
  RawSender *sender = senders[message.channel_index].get();
  if (sender == nullptr || !message.has_data) return;
  if (message.monotonic_remote_time == monotonic_clock::min_time) {
    sender->CheckOk(sender->Send(message.data.data(), message.data.size()));
    return;
  }
  const int source = configuration::SourceNodeIndex(
      logged, logged->channels()->Get(message.channel_index));
  sender->CheckOk(sender->Send(
      message.data.data(), message.data.size(), message.monotonic_remote_time,
      message.realtime_remote_time, message.monotonic_remote_transmit_time,
      message.remote_queue_index, source_boot(source)));
}

}  // namespace internal

}  // namespace aos::logger

#endif  // AOS_EVENTS_LOGGING_LOG_READER_H_
