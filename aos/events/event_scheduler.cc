#include "aos/events/event_scheduler.h"

#include <algorithm>
#include <iomanip>
#include <utility>

#include "glog/logging.h"

namespace aos {

std::ostream &operator<<(std::ostream &stream,
                         const distributed_clock::time_point &now) {
  // Same format as monotonic_clock: seconds with nanoseconds.
  return stream << monotonic_clock::epoch() + now.time_since_epoch();
}

std::ostream &operator<<(std::ostream &stream, const BootTimestamp &time) {
  return stream << "{.boot=" << time.boot << ", .time=" << time.time << "}";
}

EventScheduler::EventScheduler(size_t node_index,
                               EventSchedulerScheduler *scheduler)
    : node_index_(node_index), scheduler_(scheduler) {}

EventScheduler::~EventScheduler() {
  // Events belong to their owners; they must be gone by now.
  CHECK(heap_.empty()) << ": " << heap_.size()
                       << " events still scheduled on node " << node_index_
                       << " when its scheduler was destroyed";
}

void EventScheduler::Schedule(Event *event, monotonic_clock::time_point time) {
  if (event->scheduled()) {
    // Reuse the slot: the new key may be larger or smaller.
    event->time_ = time;
    event->sequence_ = next_sequence_++;
    const size_t index = event->heap_index_;
    SiftUp(index);
    SiftDown(event->heap_index_);
    return;
  }
  event->time_ = time;
  event->sequence_ = next_sequence_++;
  heap_.push_back(event);
  event->heap_index_ = heap_.size() - 1;
  SiftUp(event->heap_index_);
}

void EventScheduler::Deschedule(Event *event) {
  if (!event->scheduled()) return;
  const size_t index = event->heap_index_;
  event->heap_index_ = Event::kNotScheduled;
  Event *last = heap_.back();
  heap_.pop_back();
  if (last == event) return;
  Place(last, index);
  SiftUp(index);
  SiftDown(last->heap_index_);
}

void EventScheduler::SiftUp(size_t index) {
  Event *event = heap_[index];
  while (index > 0) {
    const size_t parent = (index - 1) / 2;
    if (!Less(event, heap_[parent])) break;
    Place(heap_[parent], index);
    index = parent;
  }
  Place(event, index);
}

void EventScheduler::SiftDown(size_t index) {
  Event *event = heap_[index];
  const size_t size = heap_.size();
  while (true) {
    size_t child = 2 * index + 1;
    if (child >= size) break;
    if (child + 1 < size && Less(heap_[child + 1], heap_[child])) ++child;
    if (!Less(heap_[child], event)) break;
    Place(heap_[child], index);
    index = child;
  }
  Place(event, index);
}

monotonic_clock::time_point EventScheduler::UpdateMonotonicNow() const {
  const distributed_clock::time_point now = scheduler_->distributed_now_;
  const monotonic_clock::time_point converted =
      scheduler_->identity_converter_
          ? monotonic_clock::epoch() + now.time_since_epoch()
          : scheduler_->converter_->FromDistributedClock(node_index_, now,
                                                         boot_);
  monotonic_now_ = std::max(monotonic_now_, converted);
  monotonic_now_valid_at_ = now;
  return monotonic_now_;
}

// The identity converter's answers, without its virtual calls (the bridge
// converts twice per forwarded message).
distributed_clock::time_point EventScheduler::ToDistributedClock(
    monotonic_clock::time_point time) const {
  if (scheduler_->identity_converter_) {
    return distributed_clock::epoch() + time.time_since_epoch();
  }
  return scheduler_->converter_->ToDistributedClock(node_index_,
                                                    BootTimestamp{boot_, time});
}

monotonic_clock::time_point EventScheduler::FromDistributedClock(
    distributed_clock::time_point time) const {
  if (scheduler_->identity_converter_) {
    return monotonic_clock::epoch() + time.time_since_epoch();
  }
  return scheduler_->converter_->FromDistributedClock(node_index_, time, boot_);
}

void EventScheduler::CallOldestEvent() {
  Event *event = heap_.front();
  Deschedule(event);
  // The conversion to distributed time and back may round; while its event
  // runs, the node's clock reads exactly the event's time.
  if (event->time_ > monotonic_now()) monotonic_now_ = event->time_;
  event->Handle();
}

void EventScheduler::DescheduleAll() {
  for (Event *event : heap_) event->heap_index_ = Event::kNotScheduled;
  heap_.clear();
}

EventSchedulerScheduler::EventSchedulerScheduler(TimeConverter *converter)
    : converter_(converter == nullptr ? &identity_ : converter),
      identity_converter_(converter == nullptr) {}

void EventSchedulerScheduler::AddNode(EventScheduler *scheduler,
                                      NodeHooks *hooks) {
  CHECK_EQ(scheduler->node_index(), nodes_.size());
  nodes_.push_back(NodeState{scheduler, hooks, false, {}});
  ComputeTransition(&nodes_.back());
}

void EventSchedulerScheduler::SetTimeConverter(TimeConverter *converter) {
  for (const NodeState &node : nodes_) {
    CHECK(!node.up && node.scheduler->boot_ == 0 &&
          node.scheduler->heap_.empty())
        << ": Set the time converter before making event loops or running.";
  }
  converter_ = converter == nullptr ? &identity_ : converter;
  identity_converter_ = converter == nullptr;
  for (NodeState &node : nodes_) {
    node.scheduler->monotonic_now_ = monotonic_clock::min_time;
    node.scheduler->monotonic_now_valid_at_ = distributed_clock::min_time;
    ComputeTransition(&node);
  }
}

void EventSchedulerScheduler::ComputeTransition(NodeState *node) {
  const size_t index = node->scheduler->node_index_;
  const size_t boot = node->scheduler->boot_;
  if (node->up) {
    node->transition_time = converter_->BootStartTime(index, boot + 1);
  } else {
    // A boot starts up when it has begun and its clock reached the epoch.
    node->transition_time =
        std::max(converter_->BootStartTime(index, boot),
                 converter_->ToDistributedClock(
                     index, BootTimestamp{boot, monotonic_clock::epoch()}));
  }
}

EventSchedulerScheduler::Next EventSchedulerScheduler::FindNext() {
  Next next;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    NodeState &node = nodes_[i];
    // A boot transition goes before any event at the same time, of any
    // node: a startup before the boot's events (and before other nodes'
    // events, which may send to it), a shutdown before anything of the
    // next boot.
    if (node.transition_time < next.time ||
        (node.transition_time == next.time && !next.transition)) {
      next = Next{i, node.transition_time, true};
    }
    if (!node.up || node.scheduler->heap_.empty()) continue;
    const monotonic_clock::time_point oldest =
        node.scheduler->heap_.front()->time();
    const distributed_clock::time_point time =
        identity_converter_
            ? distributed_clock::epoch() + oldest.time_since_epoch()
            : converter_->ToDistributedClock(
                  i, BootTimestamp{node.scheduler->boot_, oldest});
    if (time < next.time) next = Next{i, time, false};
  }
  return next;
}

bool EventSchedulerScheduler::HasPendingEvents() {
  return FindNext().time != distributed_clock::max_time;
}

void EventSchedulerScheduler::RunTransition(NodeState *node) {
  EventScheduler *scheduler = node->scheduler;
  if (!node->up) {
    node->up = true;
    // The boot starts when its clock reads the epoch; say exactly that,
    // whatever the distributed time rounded to.
    const size_t index = scheduler->node_index_;
    if (converter_->ToDistributedClock(
            index, BootTimestamp{scheduler->boot_, monotonic_clock::epoch()}) ==
        distributed_now_) {
      scheduler->monotonic_now_ = monotonic_clock::epoch();
      scheduler->monotonic_now_valid_at_ = distributed_now_;
    }
    ComputeTransition(node);
    node->hooks->Startup();
  } else {
    node->hooks->Shutdown();
    scheduler->DescheduleAll();
    node->up = false;
    ++scheduler->boot_;
    scheduler->monotonic_now_ = monotonic_clock::min_time;
    scheduler->monotonic_now_valid_at_ = distributed_clock::min_time;
    ComputeTransition(node);
  }
}

void EventSchedulerScheduler::RunTransitionsDueAt(
    distributed_clock::time_point time) {
  // Every node booting at this instant is up before any of them starts its
  // loops, so a message one sends from OnRun at the first instant of its
  // boot finds the others up (in node order it would miss the later ones).
  booted_.clear();
  while (true) {
    const Next next = FindNext();
    if (!next.transition || next.time > time) break;
    NodeState &node = nodes_[next.node];
    const bool starting = !node.up;
    RunTransition(&node);
    if (starting) booted_.push_back(&node);
  }
  // A node that shut down again at the same instant has nothing to start
  // (its hooks drop what its Startup prepared); one that booted twice
  // starts once.
  for (size_t i = 0; i < booted_.size(); ++i) {
    NodeState *node = booted_[i];
    if (std::find(booted_.begin(), booted_.begin() + i, node) !=
        booted_.begin() + i) {
      continue;
    }
    if (node->up) node->hooks->Started();
  }
}

bool EventSchedulerScheduler::RunUntil(distributed_clock::time_point end) {
  CHECK(!is_running_) << ": the simulation is already running; Run, RunFor "
                         "and RunUntil cannot be nested.";
  is_running_ = true;
  exit_requested_ = false;
  const bool paced = std::isfinite(replay_rate_);
  if (paced) {
    run_start_distributed_ = distributed_now_;
    run_start_wall_ = wall_clock_->Now();
  }
  while (true) {
    const Next next = FindNext();
    if (next.time > end || next.time == distributed_clock::max_time) break;
    if (exit_requested_) {
      // Exit() lets what is due at its instant run (events in the past
      // included), nothing later; ExitNow() nothing at all.
      if (next.time > exit_time_) break;
    } else if (paced) {
      WaitForWallClock(next.time);
      // A descriptor's callback may have ended the run, or added events.
      if (exit_requested_) break;
      if (FindNext().time != next.time) continue;
    }
    // Events in the past (scheduled for a time that already went by) run
    // now; the clock never goes back.
    distributed_now_ = std::max(distributed_now_, next.time);
    NodeState &node = nodes_[next.node];
    if (next.transition) {
      RunTransitionsDueAt(next.time);
    } else {
      node.scheduler->CallOldestEvent();
    }
    if (!deferred_.empty()) RunDeferred();
  }
  if (paced && !exit_requested_ && end != distributed_clock::max_time) {
    WaitForWallClock(end);
  }
  const bool exited = exit_requested_;
  if (!exited && end != distributed_clock::max_time) {
    distributed_now_ = std::max(distributed_now_, end);
  }
  exit_requested_ = false;
  is_running_ = false;
  return !exited;
}

void EventSchedulerScheduler::WaitForWallClock(
    distributed_clock::time_point time) {
  if (time <= run_start_distributed_) return;
  const double wall_seconds =
      std::chrono::duration<double>(time - run_start_distributed_).count() /
      replay_rate_;
  const monotonic_clock::time_point target =
      run_start_wall_ + std::chrono::duration_cast<monotonic_clock::duration>(
                            std::chrono::duration<double>(wall_seconds));
  while (!exit_requested_ && wall_clock_->Now() < target) {
    wall_clock_->WaitUntil(target, &epoll_);
  }
}

void EventSchedulerScheduler::SetReplayRate(double rate) {
  CHECK(rate > 0) << ": the replay rate must be positive (distributed "
                     "seconds per wall second; infinity runs as fast as "
                     "possible), got "
                  << rate;
  replay_rate_ = rate;
}

void EventSchedulerScheduler::SetWallClock(WallClock *clock) {
  CHECK(!is_running_) << ": cannot change the wall clock while running";
  wall_clock_ = clock == nullptr ? &real_wall_clock_ : clock;
}

void EventSchedulerScheduler::RunAfterEvent(std::function<void()> fn) {
  if (!is_running_) {
    fn();
    return;
  }
  deferred_.push_back(std::move(fn));
}

void EventSchedulerScheduler::RunDeferred() {
  while (!deferred_.empty()) {
    std::vector<std::function<void()>> deferred = std::move(deferred_);
    deferred_.clear();
    for (std::function<void()> &fn : deferred) fn();
  }
}

}  // namespace aos
