#ifndef AOS_EVENTS_SIMULATED_EVENT_LOOP_INTERNAL_H_
#define AOS_EVENTS_SIMULATED_EVENT_LOOP_INTERNAL_H_

// SimulatedEventLoop, the EventLoop a NodeEventLoopFactory makes: shared by
// the simulation's source files (simulated_event_loop.cc for the loop and its
// timers, simulated_channel_endpoints.cc for its senders, fetchers and
// watchers, simulated_event_loop_factory.cc for the factories that make,
// boot and run loops); not part of the API. Users only see it as an
// EventLoop.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aos/events/event_loop.h"
#include "aos/events/event_scheduler.h"
#include "aos/events/simulated_channel.h"
#include "aos/events/simulated_event_loop.h"

namespace aos {
namespace simulated_internal {

class SimulatedWatcher;

}  // namespace simulated_internal

// final: its senders, watchers and timers (in the .cc files) call its clocks on
// every message, and knowing the type makes those calls direct.
class SimulatedEventLoop final : public EventLoop {
 public:
  SimulatedEventLoop(NodeEventLoopFactory *node, std::string_view name,
                     EventLoopOptions options, int pid);
  ~SimulatedEventLoop() override;

  monotonic_clock::time_point monotonic_now() const override {
    return node_->monotonic_now();
  }
  realtime_clock::time_point realtime_now() const override {
    return node_->realtime_now();
  }

  std::unique_ptr<RawSender> MakeRawSender(const Channel *channel) override;
  std::unique_ptr<RawFetcher> MakeRawFetcher(const Channel *channel) override;
  void MakeRawWatcher(
      const Channel *channel,
      std::function<void(const Context &context, const void *message)> watcher)
      override;
  void MakeRawNoArgWatcher(
      const Channel *channel,
      std::function<void(const Context &context)> watcher) override;

  TimerHandler *AddTimer(std::function<void()> callback) override;
  PhasedLoopHandler *AddPhasedLoop(
      std::function<void(int)> callback, monotonic_clock::duration interval,
      monotonic_clock::duration offset = monotonic_clock::zero()) override;

  void OnRun(std::function<void()> on_run) override;

  std::string_view name() const override { return name_; }
  const Node *node() const override { return node_->node(); }
  const UUID &boot_uuid() const override { return node_->boot_uuid(); }
  // A simulated process's id: handed out in creation order per node, so
  // that timing reports are the same bytes in every run of a program.
  pid_t GetTid() override { return pid_; }

  NodeEventLoopFactory *node_factory() const { return node_; }
  EventScheduler *scheduler() const { return node_->scheduler(); }
  const EventLoopOptions &options() const { return options_; }
  bool started() const { return started_; }

  // Prepare() arms new watchers and makes the timing report; on failure (too
  // many watchers, no timing report channel) it stops the simulation with
  // the error, leaves the loop unstarted and returns false. RunOnRun() then
  // runs the new OnRun callbacks. Start() does both.
  bool Prepare();
  void RunOnRun();
  void Start() {
    if (Prepare()) RunOnRun();
  }
  // Asks for Start() at the current time, at the next run.
  void ScheduleStart();

  // Marks the loop running (inside the factory's runs) or not.
  void SetRunning(bool running) { set_is_running(running && started_); }

  // Whether its handlers run marked realtime (a priority > 0), as a
  // ShmEventLoop's do, so allocations in them die with --die_on_malloc.
  // The simulation's own work inside a handler (sends, scheduling) is not
  // the handler's: it is wrapped in ScopedNotRealtime.
  bool handlers_realtime() const { return runtime_realtime_priority() > 0; }

  simulated_internal::SimulatedChannel *GetSimulatedChannel(
      const Channel *channel) {
    return node_->GetSimulatedChannel(channel);
  }

  ExclusiveSenders Exclusivity(const Channel *channel) const {
    for (const auto &[exception, exclusive] :
         options_.per_channel_exclusivity) {
      if (exception == channel) return exclusive;
    }
    return options_.exclusive_senders;
  }

 private:
  class StartEvent final : public EventScheduler::Event {
   public:
    explicit StartEvent(SimulatedEventLoop *loop) : loop_(loop) {}
    void Handle() override { loop_->Start(); }

   private:
    SimulatedEventLoop *const loop_;
  };

  simulated_internal::SimulatedWatcher *Watcher(size_t index) const;

  NodeEventLoopFactory *const node_;
  const std::string name_;
  const EventLoopOptions options_;
  const int pid_;
  std::vector<std::function<void()>> on_run_;
  size_t on_run_done_ = 0;
  bool started_ = false;
  StartEvent start_event_{this};
};

}  // namespace aos

#endif  // AOS_EVENTS_SIMULATED_EVENT_LOOP_INTERNAL_H_
