#include "aos/events/logging/log_reader.h"

#include <algorithm>
#include <limits>

#include "glog/logging.h"

namespace aos::logger {
namespace {

// Types every event loop sends on (timing reports, AOS_LOG): replaying them
// exclusively would kill any application started in replay, so their logged
// copies are moved to /original automatically.
constexpr std::string_view kPerLoopTypes[] = {"aos.timing.Report",
                                              "aos.logging.LogMessageFbs"};

// Whether the log holds `channel`'s messages (on some node).
bool IsLogged(const Configuration *config, const Channel *channel) {
  if (!configuration::MultiNode(config)) {
    return configuration::ChannelMessageIsLoggedOnNode(channel, nullptr);
  }
  return channel->logger() != LoggerConfig::NOT_LOGGED;
}

std::unique_ptr<ChannelT> CopyChannel(const ChannelT &channel) {
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(Channel::Pack(fbb, &channel));
  return std::unique_ptr<ChannelT>(
      flatbuffers::GetRoot<Channel>(fbb.GetBufferPointer())->UnPack());
}

}  // namespace

// Maps the distributed clock to the node's logged clock: at the start of the
// simulation the node reads the replay's start time.
class LogReader::ReplayTimeConverter final : public TimeConverter {
 public:
  explicit ReplayTimeConverter(monotonic_clock::time_point start)
      : offset_(start.time_since_epoch()) {}

  monotonic_clock::time_point FromDistributedClock(
      size_t, distributed_clock::time_point time, size_t) override {
    return monotonic_clock::epoch() + time.time_since_epoch() + offset_;
  }
  distributed_clock::time_point ToDistributedClock(
      size_t, BootTimestamp time) override {
    return distributed_clock::epoch() + time.time.time_since_epoch() - offset_;
  }
  distributed_clock::time_point BootStartTime(size_t, size_t boot) override {
    return boot == 0 ? distributed_clock::min_time
                     : distributed_clock::max_time;
  }

 private:
  const std::chrono::nanoseconds offset_;
};

// Sends the messages due at its time. Replay schedules one per distinct
// message time, so it is an event straight on the node's scheduler rather
// than a TimerHandler (which would also set and clear the loop's context and
// keep timing statistics nobody reads: the reader's loop reports no timing).
// It is scheduled exactly when the timer was, so events still run in the
// same order.
class LogReader::SendEvent final : public EventScheduler::Event {
 public:
  explicit SendEvent(LogReader *reader) : reader_(reader) {}
  void Handle() override { reader_->SendUpTo(time()); }

 private:
  LogReader *const reader_;
};

LogReader::LogReader(std::string_view path,
                     const Configuration *replay_configuration)
    : LogReader(
          [&] {
            Result<std::vector<std::string>> files =
                FindLogs(std::vector<std::string>{std::string(path)});
            CheckExpected(files);
            Result<std::vector<LogFile>> logs = SortParts(*files);
            CheckExpected(logs);
            return std::move(*logs);
          }(),
          replay_configuration) {}

LogReader::LogReader(std::vector<LogFile> log_files,
                     const Configuration *replay_configuration)
    : LogReader(std::move(log_files), replay_configuration, true) {
  CheckExpected(Init());
}

LogReader::LogReader(std::vector<LogFile> log_files,
                     const Configuration *replay_configuration, bool)
    : log_files_(std::move(log_files)),
      replay_configuration_(replay_configuration) {}

Result<std::unique_ptr<LogReader>> LogReader::Make(
    std::vector<LogFile> log_files, const Configuration *replay_configuration) {
  std::unique_ptr<LogReader> reader(
      new LogReader(std::move(log_files), replay_configuration, true));
  if (Result<void> result = reader->Init(); !result) {
    return std::unexpected(result.error());
  }
  return reader;
}

LogReader::~LogReader() {
  if (event_loop_ != nullptr || !node_replayers_.empty() || live_ != nullptr) {
    Deregister();
  }
}

Result<void> LogReader::Init() {
  if (Result<void> one = CheckOneLog(log_files_); !one) return one;
  logged_configuration_ = log_files_.front().config;
  if (configuration::MultiNode(logged_configuration())) {
    if (Result<void> result = InitMultiNode(); !result) return result;
  }
  for (const LogFile &log : log_files_) {
    if (!std::ranges::equal(log.config->span(),
                            logged_configuration_->span())) {
      return MakeError("log events " + log_files_.front().log_event_uuid +
                       " and " + log.log_event_uuid +
                       " were written with different configurations");
    }
    for (const LogParts &parts : log.parts) {
      if (monotonic_start_ == monotonic_clock::min_time ||
          (parts.monotonic_start_time != monotonic_clock::min_time &&
           parts.monotonic_start_time < monotonic_start_)) {
        monotonic_start_ = parts.monotonic_start_time;
        realtime_start_ = parts.realtime_start_time;
      }
    }
  }
  if (monotonic_start_ == monotonic_clock::min_time) {
    return MakeError("log " + log_files_.front().log_event_uuid +
                     " has no start time in any part's header");
  }
  if (replay_configuration_ != nullptr) {
    for (const Channel *channel : *logged_configuration()->channels()) {
      if (!IsLogged(logged_configuration(), channel)) continue;
      if (internal::FindChannel(replay_configuration_,
                                channel->name()->string_view(),
                                channel->type()->string_view()) == nullptr) {
        return MakeError(
            "the replay configuration has no channel " +
            configuration::StrippedChannelToString(channel) +
            ", which the log has: add it, or replay with the logged "
            "configuration");
      }
    }
  }
  for (const Channel *channel : *logged_configuration()->channels()) {
    const std::string_view type = channel->type()->string_view();
    if (std::ranges::find(kPerLoopTypes, type) != std::end(kPerLoopTypes) &&
        IsLogged(logged_configuration(), channel)) {
      remaps_.push_back({channel->name()->str(), std::string(type),
                         "/original" + channel->name()->str(), true, ""});
    }
  }
  BuildConfiguration();
  return {};
}

void LogReader::BuildConfiguration() {
  const Configuration *base = replay_configuration_ != nullptr
                                  ? replay_configuration_
                                  : logged_configuration();
  std::unique_ptr<ConfigurationT> config(base->UnPack());
  for (const Remap &remap : remaps_) {
    auto it = std::find_if(
        config->channels.begin(), config->channels.end(), [&](auto &channel) {
          return channel->name == remap.name && channel->type == remap.type;
        });
    CHECK(it != config->channels.end())
        << ": the replay configuration lost channel " << remap.name << " "
        << remap.type;
    if (remap.keep_original) {
      std::unique_ptr<ChannelT> copy = CopyChannel(**it);
      copy->name = remap.new_name;
      if (!remap.new_type.empty()) {
        copy->type = remap.new_type;
        // The new type's schema, if any channel of that type has one.
        for (const auto &other : config->channels) {
          if (other->type == remap.new_type && other->schema != nullptr) {
            flatbuffers::FlatBufferBuilder fbb;
            fbb.Finish(reflection::Schema::Pack(fbb, other->schema.get()));
            copy->schema.reset(
                flatbuffers::GetRoot<reflection::Schema>(fbb.GetBufferPointer())
                    ->UnPack());
            break;
          }
        }
      }
      config->channels.push_back(std::move(copy));
    } else {
      (*it)->name = remap.new_name;
    }
  }
  // Lookups binary-search channels by (name, type).
  std::sort(config->channels.begin(), config->channels.end(),
            [](const auto &a, const auto &b) {
              return std::tie(a->name, a->type) < std::tie(b->name, b->type);
            });
  flatbuffers::FlatBufferBuilder fbb;
  fbb.ForceDefaults(true);
  fbb.Finish(Configuration::Pack(fbb, config.get()));
  configuration_ = FlatbufferDetachedBuffer<Configuration>(fbb.Release());
}

void LogReader::RemapLoggedChannel(std::string_view name, std::string_view type,
                                   const Node *node,
                                   std::string_view add_prefix,
                                   std::string_view new_type) {
  CHECK(factory_ == nullptr && live_ == nullptr)
      << ": remap " << name << " " << type << " before Register";
  CHECK(node == nullptr || multi_node_ != nullptr)
      << ": single-node logs have no nodes";
  CHECK(HasChannel(name, type, node))
      << ": cannot remap " << name << " " << type
      << ": the log's configuration has no such channel";
  const std::string resolved = ResolveName(name, type, node);
  name = resolved;
  const std::string new_name = std::string(add_prefix) + std::string(name);
  const std::string_view remapped_type = new_type.empty() ? type : new_type;
  CHECK(internal::FindChannel(configuration(), new_name, remapped_type) ==
        nullptr)
      << ": cannot remap " << name << " " << type << " to " << new_name << " "
      << remapped_type << ": that channel exists already";
  remaps_.push_back({std::string(name), std::string(type), new_name,
                     /*keep_original=*/true, std::string(new_type)});
  BuildConfiguration();
}

void LogReader::RenameLoggedChannel(std::string_view name,
                                    std::string_view type,
                                    std::string_view new_name,
                                    const Node *node) {
  CHECK(factory_ == nullptr && live_ == nullptr)
      << ": rename " << name << " " << type << " before Register";
  CHECK(node == nullptr || multi_node_ != nullptr)
      << ": single-node logs have no nodes";
  CHECK(HasChannel(name, type, node))
      << ": cannot rename " << name << " " << type
      << ": the log's configuration has no such channel";
  const std::string resolved = ResolveName(name, type, node);
  name = resolved;
  CHECK(internal::FindChannel(configuration(), new_name, type) == nullptr)
      << ": cannot rename " << name << " " << type << " to " << new_name
      << ": that channel exists already";
  remaps_.push_back({std::string(name), std::string(type),
                     std::string(new_name), /*keep_original=*/false, ""});
  BuildConfiguration();
}

bool LogReader::HasChannel(std::string_view name, std::string_view type,
                           const Node *node) const {
  CHECK(node == nullptr || multi_node_ != nullptr)
      << ": single-node logs have no nodes";
  return internal::FindChannel(logged_configuration(),
                               ResolveName(name, type, node), type) != nullptr;
}

std::pair<std::string, std::string> LogReader::ReplayedNameAndType(
    const Channel *logged) const {
  std::string name = logged->name()->str();
  std::string type = logged->type()->str();
  for (const Remap &remap : remaps_) {
    if (remap.name == name && remap.type == type) {
      name = remap.new_name;
      if (!remap.new_type.empty()) type = remap.new_type;
    }
  }
  return {name, type};
}

std::vector<std::string> LogReader::RemappedChannels() const {
  std::vector<std::string> out;
  for (const Remap &remap : remaps_) {
    out.push_back(remap.name + " " + remap.type + " -> " + remap.new_name +
                  (remap.new_type.empty() ? "" : " " + remap.new_type));
  }
  return out;
}

void LogReader::SetStartTime(realtime_clock::time_point start) {
  CHECK(factory_ == nullptr && live_ == nullptr)
      << ": SetStartTime before Register";
  start_time_ = start;
}

void LogReader::SetEndTime(realtime_clock::time_point end) {
  CHECK(factory_ == nullptr && live_ == nullptr)
      << ": SetEndTime before Register";
  end_time_ = end;
}

void LogReader::OnStart(std::function<void()> fn) {
  on_start_.push_back(std::move(fn));
}
void LogReader::OnStart(const Node *node, std::function<void()> fn) {
  CHECK(node == nullptr || multi_node_ != nullptr)
      << ": single-node logs have no nodes";
  if (node == nullptr) {
    OnStart(std::move(fn));
  } else {
    node_on_start_.push_back({node, std::move(fn)});
  }
}
void LogReader::OnEnd(std::function<void()> fn) {
  on_end_.push_back(std::move(fn));
}
void LogReader::OnEnd(const Node *node, std::function<void()> fn) {
  CHECK(node == nullptr || multi_node_ != nullptr)
      << ": single-node logs have no nodes";
  OnEnd(std::move(fn));
}

void LogReader::SetRealtimeReplayRate(double rate) {
  replay_rate_ = rate;
  if (factory_ != nullptr) factory_->SetRealtimeReplayRate(rate);
  SetLiveRate(rate);
}

std::vector<const Node *> LogReader::LoggedNodes() const {
  if (multi_node_ == nullptr) return {nullptr};
  std::vector<const Node *> nodes;
  for (size_t i = 0; i < multi_node_->node_boots.size(); ++i) {
    if (std::ranges::any_of(multi_node_->node_boots[i], [&](size_t boot) {
          return multi_node_->boots[boot].own_data.has_value();
        })) {
      nodes.push_back(configuration::GetNode(logged_configuration(), i));
    }
  }
  return nodes;
}

const internal::NodeLog *LogReader::FirstBootOf(const Node *node) const {
  if (multi_node_ == nullptr) {
    CHECK(node == nullptr) << ": single-node logs have no nodes";
    return nullptr;
  }
  CHECK(node != nullptr) << ": a multi-node log's start time needs a node";
  return &multi_node_->FirstBoot(configuration::GetNodeIndex(
      logged_configuration(), node->name()->string_view()));
}

monotonic_clock::time_point LogReader::monotonic_start_time(
    const Node *node) const {
  const internal::NodeLog *boot = FirstBootOf(node);
  return boot != nullptr ? boot->monotonic_start : monotonic_start_;
}

realtime_clock::time_point LogReader::realtime_start_time(
    const Node *node) const {
  const internal::NodeLog *boot = FirstBootOf(node);
  return boot != nullptr ? boot->realtime_start : realtime_start_;
}

const std::vector<std::string> &LogReader::warnings() const {
  static const std::vector<std::string> kNone;
  if (multi_node_ != nullptr) {
    return live_ != nullptr ? LiveMultiNodeWarnings() : MultiNodeWarnings();
  }
  return stream_ == nullptr ? kNone : stream_->warnings();
}

monotonic_clock::time_point LogReader::ReplayStart() const {
  if (start_time_ == realtime_clock::min_time ||
      start_time_ <= realtime_start_) {
    return monotonic_start_;
  }
  return monotonic_start_ + (start_time_ - realtime_start_);
}

void LogReader::Register() {
  owned_factory_ = std::make_unique<SimulatedEventLoopFactory>(configuration());
  Register(owned_factory_.get());
}

void LogReader::Register(SimulatedEventLoopFactory *factory) {
  RegisterWithoutStarting(factory);
  StartAfterRegister(factory);
}

void LogReader::RegisterWithoutStarting(SimulatedEventLoopFactory *factory) {
  CHECK(factory_ == nullptr && live_ == nullptr)
      << ": LogReader registered twice";
  CHECK(!timing_accuracy_sender_.valid())
      << ": set_timing_accuracy_sender is for live replay "
         "(Register(EventLoop *)); simulated replay sends every message "
         "exactly when due";
  factory_ = factory;
  if (multi_node_ != nullptr) {
    RegisterMultiNode();
    return;
  }
  time_converter_ = std::make_unique<ReplayTimeConverter>(ReplayStart());
  factory_->SetTimeConverter(time_converter_.get());
  if (replay_rate_ != 0.0) factory_->SetRealtimeReplayRate(replay_rate_);
  NodeEventLoopFactory *node = factory_->GetNodeEventLoopFactory(nullptr);
  node->SetRealtimeOffset(monotonic_start_, realtime_start_);

  EventLoopOptions options;
  options.check_sent_too_fast = CheckSentTooFast::kNo;
  options.exclusive_senders = ExclusiveSenders::kYes;
  event_loop_ = node->MakeEventLoop("log_reader", options);
  event_loop_->SkipTimingReport();
  event_loop_->SkipAosLog();

  const Configuration *config = factory_->configuration();
  const auto &logged = *logged_configuration()->channels();
  senders_.resize(logged.size());
  for (size_t i = 0; i < logged.size(); ++i) {
    const Channel *channel = logged.Get(i);
    if (!configuration::ChannelMessageIsLoggedOnNode(channel, nullptr)) {
      continue;
    }
    const auto [name, type] = ReplayedNameAndType(channel);
    const Channel *replayed = internal::FindChannel(config, name, type);
    CHECK(replayed != nullptr)
        << ": the factory's configuration has no channel " << name << " "
        << type
        << " to replay the log into; build the factory with the reader's "
           "configuration()";
    senders_[i] = event_loop_->MakeRawSender(replayed);
  }
  Result<std::unique_ptr<LogMessageStream>> stream =
      LogMessageStream::Open(log_files_.front(), "");
  CheckExpected(stream);
  stream_ = std::move(*stream);
  scheduler_ = node->scheduler();
  send_event_ = std::make_unique<SendEvent>(this);
  // Watchers may schedule their delivery of the last message only after
  // the end was scheduled (a watcher's next delivery is scheduled when its
  // previous callback returns); scheduling the end once more at the same
  // time puts it after them.
  end_timer_ = event_loop_->AddTimer(
      [this]() { final_timer_->Schedule(event_loop_->monotonic_now()); });
  final_timer_ = event_loop_->AddTimer([this]() {
    for (const auto &fn : on_end_) fn();
    if (exit_on_finish_) factory_->Exit();
  });
}

void LogReader::StartAfterRegister(SimulatedEventLoopFactory *factory) {
  CHECK_EQ(factory, factory_) << ": StartAfterRegister with another factory";
  if (multi_node_ != nullptr) {
    StartMultiNode();
    return;
  }
  NodeEventLoopFactory *node = factory_->GetNodeEventLoopFactory(nullptr);
  // At boot, before any loop starts: the state before the replay's start
  // goes to fetchers only.
  node->OnStartup([this]() {
    next_ = stream_->Peek();
    const monotonic_clock::time_point start = ReplayStart();
    while (next_ != nullptr && next_->monotonic_sent_time < start) {
      Replay(*next_);
      stream_->Pop();
      next_ = stream_->Peek();
    }
  });
  event_loop_->OnRun([this]() {
    for (const auto &fn : on_start_) fn();
    if (next_ != nullptr) {
      scheduler_->Schedule(send_event_.get(), next_->monotonic_sent_time);
    } else {
      Finish();
    }
  });
}

void LogReader::Replay(const LogMessage &message) {
  // One node, so every forwarded message's source boot is this node's.
  internal::SendLoggedMessage(
      senders_, logged_configuration(), message, "", [this](int) {
        return factory_->GetNodeEventLoopFactory(nullptr)->boot_uuid();
      });
}

void LogReader::SendUpTo(monotonic_clock::time_point until) {
  const monotonic_clock::time_point end =
      end_time_ == realtime_clock::max_time
          ? monotonic_clock::max_time
          : monotonic_start_ + (end_time_ - realtime_start_);
  while (next_ != nullptr && next_->monotonic_sent_time <= until) {
    if (next_->monotonic_sent_time > end) break;
    Replay(*next_);
    stream_->Pop();
    next_ = stream_->Peek();
  }
  if (next_ != nullptr && next_->monotonic_sent_time <= end) {
    scheduler_->Schedule(send_event_.get(), next_->monotonic_sent_time);
  } else {
    Finish();
  }
}

void LogReader::Finish() {
  if (finished_) return;
  finished_ = true;
  // Ends once watchers have seen the last message (they see a message
  // send_delay after it was sent).
  end_timer_->Schedule(event_loop_->monotonic_now() + factory_->send_delay());
}

void LogReader::Deregister() {
  CHECK(event_loop_ != nullptr || !node_replayers_.empty() || live_ != nullptr)
      << ": Deregister without Register";
  DeregisterLive();
  node_replayers_.clear();
  if (send_event_ != nullptr) scheduler_->Deschedule(send_event_.get());
  senders_.clear();
  event_loop_.reset();
  end_timer_ = nullptr;
  final_timer_ = nullptr;
}

}  // namespace aos::logger
