#ifndef AOS_EVENTS_SIMULATED_EVENT_LOOP_H_
#define AOS_EVENTS_SIMULATED_EVENT_LOOP_H_

// SimulatedEventLoopFactory: many event loops, on one or many nodes, in one
// process, on simulated clocks, deterministically.
//
// Tests and log replay build a factory over a configuration, make event
// loops on its nodes (each loop stands for one process), and run simulated
// time forward:
//
//   aos::SimulatedEventLoopFactory factory(&config.message());
//   std::unique_ptr<aos::EventLoop> ping_loop =
//       factory.MakeEventLoop("ping", pi1);
//   Ping ping(ping_loop.get());
//   std::unique_ptr<aos::EventLoop> pong_loop =
//       factory.MakeEventLoop("pong", pi2);
//   Pong pong(pong_loop.get());
//   aos::CheckExpected(factory.RunFor(std::chrono::seconds(1)));
//
// Time only advances while the factory runs (Run, RunFor, RunUntil), and
// handlers take no simulated time. Everything happens in the order of event
// times, ties in the order they were scheduled, so the same program always
// produces the same sequence of events. Loops behave like ShmEventLoop (the
// conformance suite event_loop_param_test.h runs against both); the
// exceptions are argued in docs/decisions/simulation.md:
// - watchers see a message `send_delay()` (50 us) after it was sent, while
//   its context keeps the send time;
// - a loop is "running" only inside the factory's Run calls; once started,
//   its watchers stay armed between runs, so messages sent between two
//   RunFor calls reach them at the next one.
//
// Multi-node configurations get one NodeEventLoopFactory per node (sorted by
// name, like the configuration), each with its own monotonic clock derived
// from the distributed clock by a TimeConverter (see event_scheduler.h), its
// own realtime offset, boots and boot UUIDs, and a simulated message bridge
// (simulated_network_bridge.h) that forwards channels between nodes after a
// network delay.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/event_loop.h"
#include "aos/events/event_scheduler.h"
#include "aos/flatbuffers.h"
#include "aos/util/status.h"
#include "aos/uuid.h"

namespace aos {

class NodeEventLoopFactory;
class SimulatedEventLoop;
class SimulatedEventLoopFactory;

namespace message_bridge {
class SimulatedMessageBridge;
}  // namespace message_bridge

namespace simulated_internal {
class SimulatedChannel;
class SimulatedMessage;

// A counted reference to a published message, which keeps its bytes alive.
// Used by the message bridge to hold messages in flight.
class MessageRef {
 public:
  MessageRef() = default;
  explicit MessageRef(SimulatedMessage *message) : message_(message) {
    if (message_ != nullptr) Acquire();
  }
  MessageRef(const MessageRef &other) : MessageRef(other.message_) {}
  MessageRef(MessageRef &&other) noexcept
      : message_(std::exchange(other.message_, nullptr)) {}
  MessageRef &operator=(MessageRef other) noexcept {
    std::swap(message_, other.message_);
    return *this;
  }
  // Empty references (moved-from, or slots of the bridge's queues) are
  // destroyed several times per forwarded message: no call for those.
  ~MessageRef() {
    if (message_ != nullptr) Release();
  }

  // The message as its readers see it (remote fields already filled in).
  const Context &context() const;
  explicit operator bool() const { return message_ != nullptr; }

 private:
  void Acquire();
  void Release();

  SimulatedMessage *message_ = nullptr;
};
}  // namespace simulated_internal

// Whether a loop's senders fail when they send faster than the channel's
// frequency allows (kNo: never, but their messages still count against other
// senders).
enum class CheckSentTooFast { kNo, kYes };

// Whether a loop's senders are the only ones allowed on their channels while
// they live (log replay uses it to catch applications that would send on a
// replayed channel).
enum class ExclusiveSenders { kNo, kYes };

struct EventLoopOptions {
  CheckSentTooFast check_sent_too_fast = CheckSentTooFast::kYes;
  ExclusiveSenders exclusive_senders = ExclusiveSenders::kNo;
  // Per-channel exceptions to `exclusive_senders`.
  std::vector<std::pair<const Channel *, ExclusiveSenders>>
      per_channel_exclusivity;
};

// The simulation of one node: its clocks, boots, channels and applications.
// Made by SimulatedEventLoopFactory.
class NodeEventLoopFactory {
 public:
  NodeEventLoopFactory(const NodeEventLoopFactory &) = delete;
  NodeEventLoopFactory &operator=(const NodeEventLoopFactory &) = delete;
  ~NodeEventLoopFactory();

  // Makes an event loop (one simulated process) on this node. CHECK-fails
  // while the simulation runs ("Can't create an event loop while running";
  // use an application, or make it between runs).
  std::unique_ptr<EventLoop> MakeEventLoop(std::string_view name,
                                           EventLoopOptions options = {});

  // This node's clocks now.
  monotonic_clock::time_point monotonic_now() const {
    return scheduler_.monotonic_now();
  }
  realtime_clock::time_point realtime_now() const {
    return scheduler_.realtime_now();
  }

  // Conversions between this node's monotonic clock (current boot) and the
  // distributed clock.
  distributed_clock::time_point ToDistributedClock(
      monotonic_clock::time_point time) const {
    return scheduler_.ToDistributedClock(time);
  }
  monotonic_clock::time_point FromDistributedClock(
      distributed_clock::time_point time) const {
    return scheduler_.FromDistributedClock(time);
  }

  // Makes the realtime clock read `realtime_now` when the monotonic clock
  // reads `monotonic_now`.
  void SetRealtimeOffset(monotonic_clock::time_point monotonic_now,
                         realtime_clock::time_point realtime_now) {
    scheduler_.SetRealtimeOffset(realtime_now.time_since_epoch() -
                                 monotonic_now.time_since_epoch());
  }

  // The node (nullptr in a single-node configuration) and its index.
  const Node *node() const { return node_; }
  size_t node_index() const { return scheduler_.node_index(); }

  // This boot's UUID and count (0 for the first boot). UUIDs are drawn from
  // a generator seeded per factory, so they are the same on every run.
  const UUID &boot_uuid() const { return boot_uuid_; }
  size_t boot_count() const { return scheduler_.boot_count(); }

  // Whether the current boot has started (its clock reached the epoch) and
  // not shut down.
  bool is_up() const;

  // Calls `fn` at every boot, when the node's clock reaches the epoch,
  // before the boot's event loops start. Added while the node is up (between
  // runs, after it booted), it also runs at the start of the next run, for
  // the current boot. CHECK-fails while running ("Can only register
  // OnStartup handlers when not running.").
  void OnStartup(std::function<void()> fn);
  // Calls `fn` at the end of every boot, before its event loops must be
  // gone.
  void OnShutdown(std::function<void()> fn);

  // Runs `Main(event_loop, args...)` on its own event loop named `name`
  // (which it should keep, as applications do), now and again at every
  // boot; destroys it at every shutdown. Returns this boot's instance
  // (nullptr if the node is between boots). Called from an OnStartup
  // handler (upstream's way of starting an application at every boot), it
  // makes the instance for this boot only: the handler makes the next one,
  // so there is exactly one instance per boot either way.
  template <class Main, class... Args>
  Main *AlwaysStart(std::string_view name, Args &&...args);
  // As AlwaysStart, but only if the configuration lists application `name`
  // on this node; otherwise returns nullptr.
  template <class Main, class... Args>
  Main *MaybeStart(std::string_view name, Args &&...args);
  // Stops the application whose instance is `main` for good. Called from a
  // callback of its own loop, it stops after that callback. CHECK-fails if
  // `main` is not a running application of this node.
  void Stop(void *main);

  // Stops forwarding messages from this node to `other` (Disconnect) or
  // resumes (Connect). Unreliable messages sent meanwhile are lost; for
  // reliable channels (time_to_live 0) the latest message goes out on
  // Connect. Requires a multi-node configuration.
  void Disconnect(const Node *other);
  void Connect(const Node *other);

  // Do not send timing reports from this node's loops made after this (the
  // message bridge's loop included, from its next boot on).
  void SkipTimingReport() { skip_timing_report_ = true; }

  // Stop / resume publishing this node's message bridge statistics
  // (ServerStatistics, ClientStatistics, Timestamp); delivery timestamps
  // keep flowing. Requires a multi-node configuration (CHECK-fails).
  void DisableStatistics();
  void EnableStatistics();

  SimulatedEventLoopFactory *factory() const { return factory_; }

  // The scheduler of this node (for the message bridge and log replay).
  EventScheduler *scheduler() { return &scheduler_; }

  // Calls `fn` for every successful send on `channel` on this node, right
  // after the message is published (message bridge hook). The reference may
  // be kept.
  void AddSendListener(
      const Channel *channel,
      std::function<void(const simulated_internal::MessageRef &)> fn);

 private:
  friend class SimulatedEventLoopFactory;
  friend class SimulatedEventLoop;
  friend class simulated_internal::SimulatedChannel;

  struct Application {
    std::string name;
    std::function<std::shared_ptr<void>(EventLoop *)> make;
    std::unique_ptr<EventLoop> event_loop;
    std::shared_ptr<void> main;
    // Started from an OnStartup handler: dropped at shutdown instead of
    // being restarted at the next boot (the handler starts it again).
    bool this_boot_only = false;
  };

  class Hooks;
  class LateStartupEvent;

  NodeEventLoopFactory(SimulatedEventLoopFactory *factory, const Node *node,
                       size_t node_index);

  void *AddApplication(std::string name,
                       std::function<std::shared_ptr<void>(EventLoop *)> make);
  void StartApplication(Application *application);
  // Runs the OnStartup handlers this boot has not run yet.
  void RunStartupHandlers();
  // Boot phase 1: OnStartup handlers, applications, arming the boot's loops.
  void Startup();
  // Boot phase 2, once every node booting at this instant did phase 1: the
  // loops' OnRun callbacks.
  void Started();
  void Shutdown();

  simulated_internal::SimulatedChannel *GetSimulatedChannel(
      const Channel *channel);

  SimulatedEventLoopFactory *const factory_;
  const Node *const node_;
  EventScheduler scheduler_;
  std::unique_ptr<Hooks> hooks_;
  UUID boot_uuid_;
  bool skip_timing_report_ = false;
  // Between the end of a boot and the start of the next.
  bool shut_down_ = false;
  // While starting applications, which may make loops while running.
  bool creating_applications_ = false;
  // While OnStartup handlers run.
  bool in_startup_handlers_ = false;
  // How many of on_startup_ ran in this boot.
  size_t startup_handlers_run_ = 0;
  // Runs handlers added while the node is up, at the next run.
  std::unique_ptr<LateStartupEvent> late_startup_event_;
  // The loops Startup() armed, whose OnRun callbacks Started() runs.
  std::vector<SimulatedEventLoop *> starting_loops_;

  // Indexed by channel index; made on first use.
  std::vector<std::unique_ptr<simulated_internal::SimulatedChannel>> channels_;
  // In construction order, which is the order they start in.
  std::vector<SimulatedEventLoop *> event_loops_;
  std::vector<std::function<void()>> on_startup_;
  std::vector<std::function<void()>> on_shutdown_;
  std::vector<std::unique_ptr<Application>> applications_;
  int next_pid_ = 1;
};

class SimulatedEventLoopFactory {
 public:
  // How RunUntil ended.
  enum class RunEndState { kEventsRemaining, kFinishedEventProcessing };

  // `configuration` must outlive the factory. CHECK-fails unless
  // aos::InitGoogle ran.
  explicit SimulatedEventLoopFactory(const Configuration *configuration);
  // CHECK-fails if ExitHandles or event loops remain.
  ~SimulatedEventLoopFactory();
  SimulatedEventLoopFactory(const SimulatedEventLoopFactory &) = delete;
  SimulatedEventLoopFactory &operator=(const SimulatedEventLoopFactory &) =
      delete;

  // Makes an event loop on `node`, which must be nullptr in a single-node
  // configuration and a node of it otherwise (CHECK-fails).
  std::unique_ptr<EventLoop> MakeEventLoop(std::string_view name,
                                           const Node *node = nullptr);

  // The factory of `node` (nullptr in single-node configurations), or of
  // the node named `node_name`. CHECK-fails if there is none.
  NodeEventLoopFactory *GetNodeEventLoopFactory(const Node *node);
  NodeEventLoopFactory *GetNodeEventLoopFactory(std::string_view node_name);
  // All of them, in node index order.
  const std::vector<NodeEventLoopFactory *> &node_factories() const {
    return node_factory_pointers_;
  }

  // Uses `converter` (which must outlive the factory) for the nodes'
  // clocks and boots. Before making loops or running.
  void SetTimeConverter(TimeConverter *converter);

  // Runs until no event is left or Exit(). Returns Exit's status, or an
  // error that stopped the simulation (e.g. a loop that could not start: too
  // many watchers, no timing report channel). Such a failure is final: every
  // later Run, RunFor and RunUntil returns it again and simulates nothing, so
  // a test cannot go on testing a world that never started. The results are
  // [[nodiscard]] for the same reason: check them (CheckExpected, or
  // ASSERT_TRUE(result.has_value()) << result.error().message()).
  [[nodiscard]] Result<void> Run();
  // Runs every event up to now + `duration` (distributed), then sets the
  // clock to exactly that time. Exit() ends it early.
  [[nodiscard]] Result<void> RunFor(distributed_clock::duration duration);
  // Runs until `node`'s realtime clock reads `time` (node may be nullptr in
  // single-node configurations). Returns whether events remain, or an error
  // if `time` is in the past or the run failed.
  [[nodiscard]] Result<RunEndState> RunUntil(realtime_clock::time_point time,
                                             const Node *node = nullptr);

  // Ends the current run once the current event and the others due at this
  // instant have run (as ShmEventLoop::Exit), with `status` as its result
  // (the first status since the run started wins).
  void Exit(Result<void> status = {});
  // A handle that calls Exit. All handles must be destroyed before the
  // factory.
  std::unique_ptr<ExitHandle> MakeExitHandle();

  // Delay between a send and the watchers' callbacks (default 50 us).
  void set_send_delay(std::chrono::nanoseconds send_delay);
  std::chrono::nanoseconds send_delay() const { return send_delay_; }

  // One-way network delay of the message bridge (default 100 us).
  void set_network_delay(std::chrono::nanoseconds network_delay);
  std::chrono::nanoseconds network_delay() const { return network_delay_; }

  distributed_clock::time_point distributed_now() const {
    return scheduler_scheduler_.distributed_now();
  }

  const Configuration *configuration() const { return configuration_; }

  // Do not send timing reports from loops made after this (on every node,
  // the message bridge's loops included). Works in single-node
  // configurations too (design decision 7).
  void SkipTimingReport();

  // Message bridge controls (multi-node only; CHECK-fail otherwise): stop
  // forwarding `channel`; stop or resume publishing the bridge's statistics
  // and timestamp channels (all nodes). PermanentlyDisableStatistics also
  // destroys their senders, so that something else (log replay) may send
  // on those channels; between runs only, and EnableStatistics CHECK-fails
  // afterwards.
  void DisableForwarding(const Channel *channel);
  void DisableStatistics();
  void EnableStatistics();
  void PermanentlyDisableStatistics();

  // Calls `fn`, inside which event loops and applications may be made even
  // while the simulation runs (from a timer or watcher callback, e.g. log
  // replay starting applications at a point of the log). While `fn` runs the
  // world is stopped: no loop is running, so existing loops may get senders
  // and watchers too. Afterwards every loop made in `fn` on a node that is
  // up starts at once, together (all arm their watchers, then their OnRun
  // callbacks run in creation order). CHECK-fails from an OnRun callback,
  // where loops are still starting.
  void AllowApplicationCreationDuring(std::function<void()> fn);

  // Paces the following runs against the wall clock: `rate` simulated
  // (distributed) seconds per wall second; infinity (the default) runs as
  // fast as possible. CHECK-fails unless `rate` is positive. See
  // EventSchedulerScheduler for the rule and for testing with a fake clock.
  void SetRealtimeReplayRate(double rate) {
    scheduler_scheduler_.SetReplayRate(rate);
  }

  // Descriptors served while a paced run waits for the wall clock (never
  // at the infinite rate). Remove them before the factory is destroyed.
  internal::EPoll *scheduler_epoll() { return scheduler_scheduler_.epoll(); }

  // The simulated message bridge (nullptr in single-node configurations).
  message_bridge::SimulatedMessageBridge *bridge() { return bridge_.get(); }

  // The scheduler of all nodes (for log replay).
  EventSchedulerScheduler *scheduler_scheduler() {
    return &scheduler_scheduler_;
  }

 private:
  friend class NodeEventLoopFactory;
  friend class SimulatedEventLoop;
  class SimulatedExitHandle;

  Result<void> RunInternal(distributed_clock::time_point end);
  // A fresh boot UUID from the factory's deterministic generator.
  UUID NextBootUUID();
  // Stops the run with an error (the first one wins).
  void Fail(Result<void> status);

  const Configuration *const configuration_;
  EventSchedulerScheduler scheduler_scheduler_;
  std::vector<std::unique_ptr<NodeEventLoopFactory>> node_factories_;
  std::vector<NodeEventLoopFactory *> node_factory_pointers_;
  std::unique_ptr<message_bridge::SimulatedMessageBridge> bridge_;
  std::chrono::nanoseconds send_delay_ = std::chrono::microseconds(50);
  std::chrono::nanoseconds network_delay_ = std::chrono::microseconds(100);
  std::mt19937_64 uuid_generator_{0x971};

  bool exit_status_set_ = false;
  Result<void> exit_status_;
  // The first Fail() of any run: every later run returns it.
  std::optional<Error> failure_;
  int exit_handle_count_ = 0;
  // Inside AllowApplicationCreationDuring.
  bool world_stopped_ = false;
  // The loop whose OnRun callbacks are running, if any.
  const SimulatedEventLoop *in_on_run_ = nullptr;
};

// Implementation details below.

template <class Main, class... Args>
Main *NodeEventLoopFactory::AlwaysStart(std::string_view name, Args &&...args) {
  // Each boot makes a new instance from copies of the arguments.
  auto make = [arguments = std::make_tuple(std::forward<Args>(args)...)](
                  EventLoop *event_loop) -> std::shared_ptr<void> {
    return std::apply(
        [event_loop](const auto &...unpacked) {
          return std::make_shared<Main>(event_loop, unpacked...);
        },
        arguments);
  };
  return static_cast<Main *>(AddApplication(std::string(name), make));
}

template <class Main, class... Args>
Main *NodeEventLoopFactory::MaybeStart(std::string_view name, Args &&...args) {
  if (configuration::GetApplication(factory_->configuration(), node_, name) ==
      nullptr) {
    return nullptr;
  }
  return AlwaysStart<Main>(name, std::forward<Args>(args)...);
}

}  // namespace aos

#endif  // AOS_EVENTS_SIMULATED_EVENT_LOOP_H_
