#ifndef AOS_EVENTS_EVENT_SCHEDULER_H_
#define AOS_EVENTS_EVENT_SCHEDULER_H_

// The clockwork of the simulation: one global "distributed" clock, one
// EventScheduler per node holding that node's pending events on its own
// monotonic clock, and an EventSchedulerScheduler that always runs the
// earliest event of any node next.
//
// A node's monotonic clock is a function of the distributed clock given by a
// TimeConverter (identity by default; offsets, drift and reboots with
// message_bridge::TestingTimeConverter). Time only moves when an event runs
// or a Run ends, so a simulation is fast and, given the same program, always
// runs the same events in the same order: ties (same time) run in the order
// they were scheduled, and ties between nodes in node index order.
//
// Scheduling and descheduling never allocate once the heap has grown to the
// number of schedulable objects: each Event knows its own heap slot.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <vector>

#include "aos/events/epoll.h"
#include "aos/time/time.h"
#include "aos/util/status.h"

namespace aos {

// The simulation's global time, shared by every node. Only the simulation
// uses it; each node's monotonic_clock is derived from it.
class distributed_clock
    : public time_internal::NanosecondClock<distributed_clock, true> {};

std::ostream &operator<<(std::ostream &stream,
                         const distributed_clock::time_point &now);

// A node's monotonic time together with the boot it belongs to.
struct BootTimestamp {
  size_t boot = 0;
  monotonic_clock::time_point time = monotonic_clock::min_time;

  // Upstream's constants: the start of boot 0, and times before and after
  // everything.
  static constexpr BootTimestamp epoch() {
    return BootTimestamp{0, monotonic_clock::epoch()};
  }
  static constexpr BootTimestamp min_time() {
    return BootTimestamp{0, monotonic_clock::min_time};
  }
  static constexpr BootTimestamp max_time() {
    return BootTimestamp{std::numeric_limits<size_t>::max(),
                         monotonic_clock::max_time};
  }

  monotonic_clock::duration time_since_epoch() const {
    return time.time_since_epoch();
  }

  // Moving a time within its boot.
  BootTimestamp operator+(monotonic_clock::duration d) const {
    return BootTimestamp{boot, time + d};
  }
  BootTimestamp operator-(monotonic_clock::duration d) const {
    return BootTimestamp{boot, time - d};
  }
  BootTimestamp &operator+=(monotonic_clock::duration d) {
    time += d;
    return *this;
  }
  BootTimestamp &operator-=(monotonic_clock::duration d) {
    time -= d;
    return *this;
  }

  bool operator==(const BootTimestamp &other) const = default;
  // Ordered by boot, then time: every time of a boot is before every time of
  // the next boot.
  auto operator<=>(const BootTimestamp &other) const = default;
};

std::ostream &operator<<(std::ostream &stream, const BootTimestamp &time);

// Maps between the distributed clock and each node's monotonic clocks, one
// per boot. Both directions must be non-decreasing within a boot, and
// FromDistributedClock(n, ToDistributedClock(n, t), t.boot) >= t.time (round
// the distributed time up).
class TimeConverter {
 public:
  virtual ~TimeConverter() = default;

  // The node's monotonic time in boot `boot` at distributed time `time`
  // (extrapolated outside the boot).
  virtual monotonic_clock::time_point FromDistributedClock(
      size_t node_index, distributed_clock::time_point time, size_t boot) = 0;

  // The distributed time at which the node's clock reads `time`.
  virtual distributed_clock::time_point ToDistributedClock(
      size_t node_index, BootTimestamp time) = 0;

  // The distributed time at which boot `boot` of the node begins (the
  // previous boot ends), or max_time if it never does. Boot 0 begins at
  // min_time.
  virtual distributed_clock::time_point BootStartTime(size_t node_index,
                                                      size_t boot) = 0;
};

// Every node's monotonic clock equals the distributed clock; one boot.
class IdentityTimeConverter final : public TimeConverter {
 public:
  monotonic_clock::time_point FromDistributedClock(
      size_t, distributed_clock::time_point time, size_t) override {
    return monotonic_clock::epoch() + time.time_since_epoch();
  }
  distributed_clock::time_point ToDistributedClock(
      size_t, BootTimestamp time) override {
    return distributed_clock::epoch() + time.time.time_since_epoch();
  }
  distributed_clock::time_point BootStartTime(size_t, size_t boot) override {
    return boot == 0 ? distributed_clock::min_time
                     : distributed_clock::max_time;
  }
};

class EventSchedulerScheduler;

// The pending events of one node, ordered by (monotonic time, scheduling
// order), and that node's clocks and boot.
class EventScheduler {
 public:
  // Something that runs at a time. An Event is scheduled at most once at a
  // time; it must be descheduled (or have run) before it is destroyed.
  class Event {
   public:
    Event() = default;
    Event(const Event &) = delete;
    Event &operator=(const Event &) = delete;

    // Runs the event. It is already descheduled, so it may reschedule
    // itself.
    virtual void Handle() = 0;

    bool scheduled() const { return heap_index_ != kNotScheduled; }
    monotonic_clock::time_point time() const { return time_; }

   protected:
    ~Event() = default;

   private:
    friend class EventScheduler;
    static constexpr size_t kNotScheduled = std::numeric_limits<size_t>::max();
    size_t heap_index_ = kNotScheduled;
    monotonic_clock::time_point time_ = monotonic_clock::min_time;
    uint64_t sequence_ = 0;
  };

  // `node_index` is the node's index in the configuration (0 for a
  // single-node configuration).
  EventScheduler(size_t node_index, EventSchedulerScheduler *scheduler);
  EventScheduler(const EventScheduler &) = delete;
  EventScheduler &operator=(const EventScheduler &) = delete;
  ~EventScheduler();

  // Schedules `event` at `time` on this node's monotonic clock, replacing
  // its previous schedule. A time in the past runs as soon as possible (the
  // clock does not go back). Events at equal times run in the order they
  // were scheduled.
  void Schedule(Event *event, monotonic_clock::time_point time);
  // Removes `event` if it is scheduled.
  void Deschedule(Event *event);

  // The earliest event's time, or max_time.
  monotonic_clock::time_point OldestEventTime() const {
    return heap_.empty() ? monotonic_clock::max_time : heap_.front()->time_;
  }
  size_t pending_events() const { return heap_.size(); }

  // This node's clocks now. Never decreasing within a boot. (Inline: every
  // send and callback reads it, and it is cached per distributed time.)
  monotonic_clock::time_point monotonic_now() const;
  realtime_clock::time_point realtime_now() const {
    return realtime_clock::epoch() +
           (monotonic_now().time_since_epoch() + realtime_offset_);
  }
  // Converts between this node's monotonic clock (current boot) and the
  // distributed clock.
  distributed_clock::time_point ToDistributedClock(
      monotonic_clock::time_point time) const;
  monotonic_clock::time_point FromDistributedClock(
      distributed_clock::time_point time) const;

  // realtime = monotonic + offset. Default 0 (realtime starts in 1970).
  void SetRealtimeOffset(monotonic_clock::duration offset) {
    realtime_offset_ = offset;
  }
  monotonic_clock::duration realtime_offset() const { return realtime_offset_; }

  size_t node_index() const { return node_index_; }
  size_t boot_count() const { return boot_; }

 private:
  friend class EventSchedulerScheduler;

  // Pops the earliest event, moves this node's clock to its time (unless
  // that is in the past) and runs it.
  void CallOldestEvent();
  // Drops every pending event (at a reboot).
  void DescheduleAll();

  bool Less(const Event *a, const Event *b) const {
    return a->time_ < b->time_ ||
           (a->time_ == b->time_ && a->sequence_ < b->sequence_);
  }
  // monotonic_now() when the cache is stale.
  monotonic_clock::time_point UpdateMonotonicNow() const;
  void SiftUp(size_t index);
  void SiftDown(size_t index);
  void Place(Event *event, size_t index) {
    heap_[index] = event;
    event->heap_index_ = index;
  }

  const size_t node_index_;
  EventSchedulerScheduler *const scheduler_;
  std::vector<Event *> heap_;
  uint64_t next_sequence_ = 0;

  size_t boot_ = 0;
  monotonic_clock::duration realtime_offset_ = monotonic_clock::zero();
  // The clock is cached per distributed time, and bumped to the time of the
  // event being run (the conversion may round).
  mutable monotonic_clock::time_point monotonic_now_ =
      monotonic_clock::min_time;
  mutable distributed_clock::time_point monotonic_now_valid_at_ =
      distributed_clock::min_time;
};

// Runs the events of every node in distributed-time order.
//
// Besides the nodes' events it runs each node's boot transitions: a boot
// "starts up" when its monotonic clock first reaches the epoch (so a node
// whose clock starts negative boots later), and "shuts down" when the
// TimeConverter says the next boot begins. The owner supplies what happens
// then through the NodeHooks.
//
// By default it runs as fast as it can. With a finite replay rate it paces
// itself against a wall clock (realtime log replay): an event at distributed
// time T of a run that started at (distributed D0, wall W0) runs no earlier
// than wall time W0 + (T - D0) / rate. While it waits it serves the file
// descriptors registered on epoll() (a replay's web server, a tool's input).
class EventSchedulerScheduler {
 public:
  // The clock that paces a replay. The default reads monotonic_clock::now()
  // and waits in epoll; tests substitute a fake.
  class WallClock {
   public:
    virtual ~WallClock() = default;
    virtual monotonic_clock::time_point Now() = 0;
    // Waits until Now() reaches `time` or one of `epoll`'s descriptors is
    // ready (then dispatches it and returns early).
    virtual void WaitUntil(monotonic_clock::time_point time,
                           internal::EPoll *epoll) = 0;
  };

  // What the simulation does at a node's boot transitions.
  class NodeHooks {
   public:
    virtual ~NodeHooks() = default;
    // The node's clock reached the epoch in its current boot.
    virtual void Startup() = 0;
    // Called once every node whose boot starts at this instant has run
    // Startup(), before anything else runs at this instant: what a node
    // does first in its boot (its loops' OnRun callbacks) then finds every
    // node booting with it up.
    virtual void Started() {}
    // The current boot ends; afterwards the node's boot count increments.
    virtual void Shutdown() = 0;
  };

  // `converter` must outlive this (nullptr: identity).
  explicit EventSchedulerScheduler(TimeConverter *converter = nullptr);
  EventSchedulerScheduler(const EventSchedulerScheduler &) = delete;
  EventSchedulerScheduler &operator=(const EventSchedulerScheduler &) = delete;

  // Adds the scheduler of the next node (index = number added so far).
  void AddNode(EventScheduler *scheduler, NodeHooks *hooks);

  // Replaces the time converter. Only before anything ran.
  void SetTimeConverter(TimeConverter *converter);
  TimeConverter *time_converter() { return converter_; }

  // Runs events until none are left before or at `end` (distributed), or
  // Exit() is called, then sets the clock to `end` unless it exited or `end`
  // is max_time. Returns false if it stopped because of Exit().
  bool RunUntil(distributed_clock::time_point end);

  // Makes the running RunUntil() return once the current event and every
  // other event due at this instant (distributed time) have run, as a
  // ShmEventLoop's Run() finishes what is due when it exits.
  void Exit() {
    if (!exit_requested_) exit_time_ = distributed_now_;
    exit_requested_ = true;
  }
  // Makes the running RunUntil() return right after the current event (the
  // simulation failed: nothing else should run).
  void ExitNow() {
    exit_time_ = distributed_clock::min_time;
    exit_requested_ = true;
  }

  // Distributed seconds per wall-clock second for the following runs; the
  // default, infinity, runs as fast as possible. CHECK-fails unless `rate`
  // is positive.
  void SetReplayRate(double rate);
  double replay_rate() const { return replay_rate_; }

  // Replaces the wall clock that paces runs (nullptr: the real one). `clock`
  // must outlive its use. Not while running.
  void SetWallClock(WallClock *clock);

  // Descriptors served while a paced run waits for the wall clock. Remove
  // them (DeleteFd) before this is destroyed.
  internal::EPoll *epoll() { return &epoll_; }

  // Whether any event (or boot transition) is pending.
  bool HasPendingEvents();

  distributed_clock::time_point distributed_now() const {
    return distributed_now_;
  }
  bool is_running() const { return is_running_; }

  // Whether the node's current boot has started up (its clock reached the
  // epoch) and not shut down.
  bool node_up(size_t node_index) const { return nodes_[node_index].up; }

  // Calls `fn` after the current event finishes (or at once if not
  // running). Used for work that must not run inside a callback, e.g.
  // destroying the loop that is running it.
  void RunAfterEvent(std::function<void()> fn);

 private:
  friend class EventScheduler;

  struct NodeState {
    EventScheduler *scheduler;
    NodeHooks *hooks;
    bool up = false;
    // The distributed time of this node's next boot transition (a startup
    // if !up, else the start of the next boot).
    distributed_clock::time_point transition_time;
  };

  void ComputeTransition(NodeState *node);
  // The earliest pending item: node index and distributed time; whether it
  // is a boot transition.
  struct Next {
    size_t node = 0;
    distributed_clock::time_point time = distributed_clock::max_time;
    bool transition = false;
  };
  Next FindNext();
  void RunTransition(NodeState *node);
  // Runs every boot transition due at or before `time` (all of them come
  // before any event at that time), then Started() of the nodes that
  // booted.
  void RunTransitionsDueAt(distributed_clock::time_point time);
  void RunDeferred();
  // With a finite replay rate: waits until the wall clock reaches the time
  // for distributed time `time` of this run (or Exit() is called).
  void WaitForWallClock(distributed_clock::time_point time);

  class RealWallClock final : public WallClock {
   public:
    monotonic_clock::time_point Now() override {
      return monotonic_clock::now();
    }
    void WaitUntil(monotonic_clock::time_point time,
                   internal::EPoll *epoll) override {
      epoll->Poll(std::max(time - Now(), monotonic_clock::duration::zero()));
    }
  };

  TimeConverter *converter_;
  IdentityTimeConverter identity_;
  bool identity_converter_ = true;
  std::vector<NodeState> nodes_;
  distributed_clock::time_point distributed_now_ = distributed_clock::epoch();
  bool exit_requested_ = false;
  // Events due at or before this still run after Exit().
  distributed_clock::time_point exit_time_ = distributed_clock::min_time;
  bool is_running_ = false;
  std::vector<std::function<void()>> deferred_;
  // RunTransitionsDueAt's nodes that booted (kept for its capacity).
  std::vector<NodeState *> booted_;

  double replay_rate_ = std::numeric_limits<double>::infinity();
  RealWallClock real_wall_clock_;
  WallClock *wall_clock_ = &real_wall_clock_;
  internal::EPoll epoll_;
  // Where the current paced run started, on both clocks.
  distributed_clock::time_point run_start_distributed_;
  monotonic_clock::time_point run_start_wall_;
};

inline monotonic_clock::time_point EventScheduler::monotonic_now() const {
  if (monotonic_now_valid_at_ == scheduler_->distributed_now_) [[likely]] {
    return monotonic_now_;
  }
  return UpdateMonotonicNow();
}

}  // namespace aos

#endif  // AOS_EVENTS_EVENT_SCHEDULER_H_
