// The simulation's factories: NodeEventLoopFactory (a node's loops,
// applications, boots and clocks) and SimulatedEventLoopFactory (the nodes,
// running the simulation, and the controls of its message bridge).

#include <algorithm>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>

#include "aos/events/simulated_event_loop.h"
#include "aos/events/simulated_event_loop_internal.h"
#include "aos/events/simulated_network_bridge.h"
#include "aos/init.h"
#include "aos/realtime.h"
#include "glog/logging.h"

namespace aos {

using simulated_internal::ChannelWatcher;
using simulated_internal::MessageRef;
using simulated_internal::SimulatedChannel;
using simulated_internal::SimulatedMessage;

namespace {

SimulatedEventLoop *SimLoop(EventLoop *loop) {
  return static_cast<SimulatedEventLoop *>(loop);
}

}  // namespace

// The scheduler's view of a node's boots.
class NodeEventLoopFactory::Hooks final
    : public EventSchedulerScheduler::NodeHooks {
 public:
  explicit Hooks(NodeEventLoopFactory *node) : node_(node) {}
  void Startup() override { node_->Startup(); }
  void Started() override { node_->Started(); }
  void Shutdown() override { node_->Shutdown(); }

 private:
  NodeEventLoopFactory *const node_;
};

// Runs the OnStartup handlers added while the node was up, at the next run.
class NodeEventLoopFactory::LateStartupEvent final
    : public EventScheduler::Event {
 public:
  explicit LateStartupEvent(NodeEventLoopFactory *node) : node_(node) {}
  void Handle() override {
    const bool creating = node_->creating_applications_;
    node_->creating_applications_ = true;
    node_->RunStartupHandlers();
    node_->creating_applications_ = creating;
  }

 private:
  NodeEventLoopFactory *const node_;
};

NodeEventLoopFactory::NodeEventLoopFactory(SimulatedEventLoopFactory *factory,
                                           const Node *node, size_t node_index)
    : factory_(factory),
      node_(node),
      scheduler_(node_index, &factory->scheduler_scheduler_),
      hooks_(std::make_unique<Hooks>(this)),
      boot_uuid_(factory->NextBootUUID()),
      late_startup_event_(std::make_unique<LateStartupEvent>(this)) {
  const size_t channels = factory->configuration()->channels() == nullptr
                              ? 0
                              : factory->configuration()->channels()->size();
  channels_.resize(channels);
}

NodeEventLoopFactory::~NodeEventLoopFactory() {
  scheduler_.Deschedule(late_startup_event_.get());
  // Applications go first: they own event loops.
  for (auto &application : applications_) {
    application->main.reset();
    application->event_loop.reset();
  }
  applications_.clear();
  CHECK(event_loops_.empty())
      << ": event loop " << event_loops_.front()->name()
      << " outlived its SimulatedEventLoopFactory; destroy event loops "
         "before the factory.";
}

bool NodeEventLoopFactory::is_up() const {
  return factory_->scheduler_scheduler_.node_up(scheduler_.node_index());
}

std::unique_ptr<EventLoop> NodeEventLoopFactory::MakeEventLoop(
    std::string_view name, EventLoopOptions options) {
  CHECK(!factory_->scheduler_scheduler_.is_running() ||
        creating_applications_ || factory_->world_stopped_)
      << ": Can't create an event loop while running (" << name
      << "); make it before running, start it as an application "
         "(AlwaysStart, OnStartup), or make it inside "
         "AllowApplicationCreationDuring.";
  return std::make_unique<SimulatedEventLoop>(this, name, std::move(options),
                                              next_pid_++);
}

void NodeEventLoopFactory::OnStartup(std::function<void()> fn) {
  CHECK(!factory_->scheduler_scheduler_.is_running())
      << ": Can only register OnStartup handlers when not running.";
  on_startup_.push_back(std::move(fn));
  // This boot ran its handlers already: run the new one at the next run,
  // for this boot too (as upstream), not only from the next boot on.
  if (is_up() && !late_startup_event_->scheduled()) {
    scheduler_.Schedule(late_startup_event_.get(), monotonic_now());
  }
}

void NodeEventLoopFactory::RunStartupHandlers() {
  const bool outer = in_startup_handlers_;
  in_startup_handlers_ = true;
  // Indexed: a handler may add applications (not handlers: not while
  // running).
  while (startup_handlers_run_ < on_startup_.size()) {
    on_startup_[startup_handlers_run_++]();
  }
  in_startup_handlers_ = outer;
}

void NodeEventLoopFactory::OnShutdown(std::function<void()> fn) {
  on_shutdown_.push_back(std::move(fn));
}

void *NodeEventLoopFactory::AddApplication(
    std::string name, std::function<std::shared_ptr<void>(EventLoop *)> make) {
  // From an OnStartup handler, which runs again at every boot: for this
  // boot only, or the next boot would have two instances.
  applications_.push_back(std::make_unique<Application>(
      Application{std::move(name), std::move(make), nullptr, nullptr,
                  in_startup_handlers_}));
  Application *application = applications_.back().get();
  // Between a shutdown and the next startup the node is down; the
  // application starts with the next boot.
  if (!shut_down_) StartApplication(application);
  return application->main.get();
}

void NodeEventLoopFactory::StartApplication(Application *application) {
  const bool creating = creating_applications_;
  creating_applications_ = true;
  application->event_loop = MakeEventLoop(application->name);
  application->main = application->make(application->event_loop.get());
  creating_applications_ = creating;
}

void NodeEventLoopFactory::Stop(void *main) {
  // May be called from a handler marked realtime; this is bookkeeping.
  const ScopedNotRealtime not_realtime;
  auto it =
      std::find_if(applications_.begin(), applications_.end(),
                   [main](const std::unique_ptr<Application> &application) {
                     return application->main.get() == main;
                   });
  CHECK(it != applications_.end())
      << ": Stop() of an application that is not running on this node";
  std::shared_ptr<Application> application(std::move(*it));
  applications_.erase(it);
  // It may be stopping itself from one of its callbacks: finish that first.
  factory_->scheduler_scheduler_.RunAfterEvent([application]() {
    SimLoop(application->event_loop.get())->SetRunning(false);
    application->main.reset();
    application->event_loop.reset();
  });
}

void NodeEventLoopFactory::AddSendListener(
    const Channel *channel,
    std::function<void(const simulated_internal::MessageRef &)> fn) {
  GetSimulatedChannel(channel)->AddListener(std::move(fn));
}

SimulatedChannel *NodeEventLoopFactory::GetSimulatedChannel(
    const Channel *channel) {
  const size_t index =
      configuration::ChannelIndex(factory_->configuration(), channel);
  std::unique_ptr<SimulatedChannel> &result = channels_[index];
  if (result == nullptr) {
    result = std::make_unique<SimulatedChannel>(this, factory_->configuration(),
                                                channel);
  }
  return result.get();
}

void NodeEventLoopFactory::Startup() {
  shut_down_ = false;
  creating_applications_ = true;
  // Every handler runs now, the late ones too.
  scheduler_.Deschedule(late_startup_event_.get());
  startup_handlers_run_ = 0;
  RunStartupHandlers();
  for (size_t i = 0; i < applications_.size(); ++i) {
    if (applications_[i]->main == nullptr) {
      StartApplication(applications_[i].get());
    }
  }
  creating_applications_ = false;
  // Every loop of the boot arms its watchers before any OnRun callback
  // runs, so a message sent from one loop's OnRun reaches the others (of
  // every node booting at this instant: Started() runs the callbacks once
  // they all did this).
  starting_loops_.clear();
  for (SimulatedEventLoop *loop : event_loops_) {
    if (!loop->started() && loop->Prepare()) starting_loops_.push_back(loop);
  }
}

void NodeEventLoopFactory::Started() {
  // In construction order. Moved out: an OnRun callback may make loops.
  std::vector<SimulatedEventLoop *> loops = std::move(starting_loops_);
  starting_loops_.clear();
  for (SimulatedEventLoop *loop : loops) loop->RunOnRun();
}

void NodeEventLoopFactory::Shutdown() {
  // Loops stop running first, so their senders may be destroyed.
  for (SimulatedEventLoop *loop : event_loops_) loop->SetRunning(false);
  for (size_t i = 0; i < on_shutdown_.size(); ++i) on_shutdown_[i]();
  for (auto &application : applications_) {
    application->main.reset();
    application->event_loop.reset();
  }
  // Those an OnStartup handler made: it makes them again at the next boot.
  std::erase_if(applications_,
                [](const std::unique_ptr<Application> &application) {
                  return application->this_boot_only;
                });
  starting_loops_.clear();
  startup_handlers_run_ = 0;
  CHECK(event_loops_.empty())
      << ": Event loop " << event_loops_.front()->name() << " on node "
      << (node_ == nullptr ? std::string("(singlenode)") : node_->name()->str())
      << " still exists when its boot " << boot_count()
      << " ends; destroy it in an OnShutdown handler, or make it an "
         "application (AlwaysStart).";
  // Messages do not survive a reboot.
  for (auto &channel : channels_) {
    if (channel != nullptr) channel->Clear();
  }
  boot_uuid_ = factory_->NextBootUUID();
  shut_down_ = true;
}

class SimulatedEventLoopFactory::SimulatedExitHandle final : public ExitHandle {
 public:
  explicit SimulatedExitHandle(SimulatedEventLoopFactory *factory)
      : factory_(factory) {
    ++factory_->exit_handle_count_;
  }
  ~SimulatedExitHandle() override { --factory_->exit_handle_count_; }
  void Exit(Result<void> status) override { factory_->Exit(std::move(status)); }

 private:
  SimulatedEventLoopFactory *const factory_;
};

SimulatedEventLoopFactory::SimulatedEventLoopFactory(
    const Configuration *configuration)
    : configuration_(configuration) {
  CHECK(IsInitialized()) << ": Need to initialize AOS first.";
  const std::vector<const Node *> nodes =
      configuration::GetNodes(configuration_);
  for (size_t i = 0; i < nodes.size(); ++i) {
    node_factories_.push_back(std::unique_ptr<NodeEventLoopFactory>(
        new NodeEventLoopFactory(this, nodes[i], i)));
    node_factory_pointers_.push_back(node_factories_.back().get());
    scheduler_scheduler_.AddNode(node_factories_.back()->scheduler(),
                                 node_factories_.back()->hooks_.get());
  }
  if (configuration::MultiNode(configuration_)) {
    bridge_ = std::make_unique<message_bridge::SimulatedMessageBridge>(this);
  }
}

SimulatedEventLoopFactory::~SimulatedEventLoopFactory() {
  CHECK_EQ(exit_handle_count_, 0)
      << ": All ExitHandles must be destroyed before the factory";
  bridge_.reset();
  node_factories_.clear();
}

std::unique_ptr<EventLoop> SimulatedEventLoopFactory::MakeEventLoop(
    std::string_view name, const Node *node) {
  if (node == nullptr) {
    CHECK(!configuration::MultiNode(configuration_))
        << ": Can't make a single node event loop in a multi-node world.";
  } else {
    CHECK(configuration::MultiNode(configuration_))
        << ": Can't make a multi-node event loop in a single-node world.";
  }
  return GetNodeEventLoopFactory(node)->MakeEventLoop(name);
}

NodeEventLoopFactory *SimulatedEventLoopFactory::GetNodeEventLoopFactory(
    const Node *node) {
  const int index = configuration::GetNodeIndex(configuration_, node);
  return node_factory_pointers_[index];
}

NodeEventLoopFactory *SimulatedEventLoopFactory::GetNodeEventLoopFactory(
    std::string_view node_name) {
  const Node *node = configuration::GetNode(configuration_, node_name);
  CHECK(node != nullptr) << ": no node named \"" << node_name
                         << "\" in the configuration";
  return GetNodeEventLoopFactory(node);
}

void SimulatedEventLoopFactory::SetTimeConverter(TimeConverter *converter) {
  scheduler_scheduler_.SetTimeConverter(converter);
}

UUID SimulatedEventLoopFactory::NextBootUUID() {
  uint8_t bytes[UUID::kDataSize];
  for (size_t i = 0; i < UUID::kDataSize; i += 8) {
    const uint64_t value = uuid_generator_();
    memcpy(bytes + i, &value, 8);
  }
  // A version 4 (random) UUID, like UUID::Random().
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  return UUID::FromSpan(std::span<const uint8_t>(bytes, UUID::kDataSize));
}

Result<void> SimulatedEventLoopFactory::RunInternal(
    distributed_clock::time_point end) {
  if (failure_.has_value()) {
    return MakeError(
        "the simulation failed in an earlier run, so nothing ran: " +
        failure_->message());
  }
  exit_status_set_ = false;
  exit_status_ = {};
  for (NodeEventLoopFactory *node : node_factory_pointers_) {
    for (SimulatedEventLoop *loop : node->event_loops_) loop->SetRunning(true);
  }
  scheduler_scheduler_.RunUntil(end);
  for (NodeEventLoopFactory *node : node_factory_pointers_) {
    for (SimulatedEventLoop *loop : node->event_loops_) {
      loop->SetRunning(false);
    }
  }
  if (!exit_status_set_) return {};
  return std::move(exit_status_);
}

Result<void> SimulatedEventLoopFactory::Run() {
  return RunInternal(distributed_clock::max_time);
}

Result<void> SimulatedEventLoopFactory::RunFor(
    distributed_clock::duration duration) {
  CHECK_GE(duration.count(), 0) << ": RunFor needs a non-negative duration";
  return RunInternal(distributed_now() + duration);
}

Result<SimulatedEventLoopFactory::RunEndState>
SimulatedEventLoopFactory::RunUntil(realtime_clock::time_point time,
                                    const Node *node) {
  NodeEventLoopFactory *node_factory = GetNodeEventLoopFactory(node);
  if (time < node_factory->realtime_now()) {
    std::ostringstream message;
    message << "RunUntil(" << time << ") is in the past: the realtime clock "
            << "already reads " << node_factory->realtime_now();
    return MakeError(message.str());
  }
  const monotonic_clock::time_point monotonic =
      monotonic_clock::epoch() +
      (time.time_since_epoch() - node_factory->scheduler()->realtime_offset());
  Result<void> result =
      RunInternal(node_factory->ToDistributedClock(monotonic));
  if (!result.has_value()) return std::unexpected(std::move(result.error()));
  return scheduler_scheduler_.HasPendingEvents()
             ? RunEndState::kEventsRemaining
             : RunEndState::kFinishedEventProcessing;
}

void SimulatedEventLoopFactory::Exit(Result<void> status) {
  if (!exit_status_set_) {
    exit_status_set_ = true;
    exit_status_ = std::move(status);
  }
  scheduler_scheduler_.Exit();
}

void SimulatedEventLoopFactory::Fail(Result<void> status) {
  // The failure sticks: later runs return it and simulate nothing.
  if (!failure_.has_value() && !status.has_value()) failure_ = status.error();
  if (!exit_status_set_) {
    exit_status_set_ = true;
    exit_status_ = std::move(status);
  }
  // Unlike Exit(), nothing more runs, not even what is due now.
  scheduler_scheduler_.ExitNow();
}

std::unique_ptr<ExitHandle> SimulatedEventLoopFactory::MakeExitHandle() {
  return std::make_unique<SimulatedExitHandle>(this);
}

void SimulatedEventLoopFactory::set_send_delay(
    std::chrono::nanoseconds send_delay) {
  CHECK_GE(send_delay.count(), 0) << ": the send delay cannot be negative";
  send_delay_ = send_delay;
}

void SimulatedEventLoopFactory::set_network_delay(
    std::chrono::nanoseconds network_delay) {
  CHECK_GE(network_delay.count(), 0)
      << ": the network delay cannot be negative";
  network_delay_ = network_delay;
}

void SimulatedEventLoopFactory::SkipTimingReport() {
  for (NodeEventLoopFactory *node : node_factory_pointers_) {
    node->SkipTimingReport();
  }
}

void SimulatedEventLoopFactory::PermanentlyDisableStatistics() {
  CHECK(bridge_ != nullptr)
      << ": PermanentlyDisableStatistics needs a multi-node configuration";
  CHECK(!scheduler_scheduler_.is_running())
      << ": PermanentlyDisableStatistics destroys the message bridge's "
         "statistics senders; call it between runs, not from a callback.";
  bridge_->PermanentlyDisableStatistics();
}

void SimulatedEventLoopFactory::AllowApplicationCreationDuring(
    std::function<void()> fn) {
  CHECK(in_on_run_ == nullptr)
      << ": AllowApplicationCreationDuring called from an OnRun callback of "
      << in_on_run_->name()
      << ": the world cannot be stopped while loops are starting.  Call it "
         "from a timer or watcher callback, or before running.";
  CHECK(!world_stopped_) << ": AllowApplicationCreationDuring cannot nest";
  if (!scheduler_scheduler_.is_running()) {
    // Between runs, making loops is allowed anyway.
    fn();
    return;
  }
  std::vector<std::vector<SimulatedEventLoop *>> before;
  for (NodeEventLoopFactory *node : node_factory_pointers_) {
    before.push_back(node->event_loops_);
    for (SimulatedEventLoop *loop : node->event_loops_) loop->SetRunning(false);
  }
  world_stopped_ = true;
  fn();
  world_stopped_ = false;
  // The new loops start now, together, like the loops of a boot: first all
  // arm their watchers, then the OnRun callbacks run.
  std::vector<SimulatedEventLoop *> prepared;
  for (size_t i = 0; i < node_factory_pointers_.size(); ++i) {
    NodeEventLoopFactory *node = node_factory_pointers_[i];
    for (SimulatedEventLoop *loop : node->event_loops_) {
      const bool is_new = std::find(before[i].begin(), before[i].end(), loop) ==
                          before[i].end();
      if (is_new && node->is_up() && !loop->started() && loop->Prepare()) {
        prepared.push_back(loop);
      }
    }
  }
  for (NodeEventLoopFactory *node : node_factory_pointers_) {
    for (SimulatedEventLoop *loop : node->event_loops_) loop->SetRunning(true);
  }
  for (SimulatedEventLoop *loop : prepared) loop->RunOnRun();
}

void SimulatedEventLoopFactory::DisableForwarding(const Channel *channel) {
  CHECK(bridge_ != nullptr)
      << ": DisableForwarding needs a multi-node configuration";
  bridge_->DisableForwarding(channel);
}

void SimulatedEventLoopFactory::DisableStatistics() {
  CHECK(bridge_ != nullptr)
      << ": DisableStatistics needs a multi-node configuration";
  bridge_->DisableStatistics();
}

void SimulatedEventLoopFactory::EnableStatistics() {
  CHECK(bridge_ != nullptr)
      << ": EnableStatistics needs a multi-node configuration";
  bridge_->EnableStatistics();
}

void NodeEventLoopFactory::DisableStatistics() {
  CHECK(factory_->bridge_ != nullptr)
      << ": DisableStatistics needs a multi-node configuration";
  factory_->bridge_->DisableStatistics(node_index());
}

void NodeEventLoopFactory::EnableStatistics() {
  CHECK(factory_->bridge_ != nullptr)
      << ": EnableStatistics needs a multi-node configuration";
  factory_->bridge_->EnableStatistics(node_index());
}

void NodeEventLoopFactory::Disconnect(const Node *other) {
  CHECK(factory_->bridge_ != nullptr)
      << ": Disconnect needs a multi-node configuration";
  factory_->bridge_->SetConnected(node_, other, false);
}

void NodeEventLoopFactory::Connect(const Node *other) {
  CHECK(factory_->bridge_ != nullptr)
      << ": Connect needs a multi-node configuration";
  factory_->bridge_->SetConnected(node_, other, true);
}

}  // namespace aos
