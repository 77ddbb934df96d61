#include "aos/starter/starterd_lib.h"

#include <signal.h>

#include <cstring>
#include <filesystem>

#include "aos/events/event_loop_generated.h"
#include "aos/events/shm_channel_queue.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/json_to_flatbuffer.h"
#include "glog/logging.h"

DEFINE_bool(purge_shm_base, false,
            "Remove everything under --shm_base before starting (queues left "
            "by a previous boot; nothing else may be using them).");

namespace aos::starter {

namespace {

Result<void> PurgeShmBase(const std::string &shm_base) {
  std::error_code error;
  if (!std::filesystem::exists(shm_base, error)) return {};
  for (const std::filesystem::directory_entry &entry :
       std::filesystem::directory_iterator(shm_base, error)) {
    std::filesystem::remove_all(entry.path(), error);
    if (error) {
      return MakeError("--purge_shm_base: cannot remove " +
                       entry.path().string() + ": " + error.message());
    }
  }
  if (error) {
    return MakeError("--purge_shm_base: cannot list " + shm_base + ": " +
                     error.message());
  }
  LOG(INFO) << "Purged " << shm_base;
  return {};
}

const Channel *FindChannel(const Configuration *config, std::string_view type,
                           const Node *node) {
  return configuration::GetChannel(config, "/aos", type, "starterd", node);
}

}  // namespace

Result<std::unique_ptr<Starter>> Starter::Make(const Configuration *config,
                                               std::string_view config_path) {
  const Node *node = configuration::GetMyNode(config);
  for (std::string_view type :
       {Status::GetFullyQualifiedName(), StarterRpc::GetFullyQualifiedName()}) {
    const Channel *channel = FindChannel(config, type, node);
    if (channel == nullptr) {
      return MakeError(std::string(config_path) +
                       ": no channel { \"name\": \"/aos\", \"type\": \"" +
                       std::string(type) +
                       "\" }; import aos/events/aos.json, which has it");
    }
  }
  if (Result<void> r = CheckNoDuplicateApplications(config_path); !r) {
    return std::unexpected(r.error());
  }
  Result<std::vector<AppSpec>> specs = AppSpecsForNode(config, node);
  if (!specs) {
    return MakeError(std::string(config_path) + ": " + specs.error().message());
  }
  if (FLAGS_purge_shm_base) {
    if (Result<void> r = PurgeShmBase(FLAGS_shm_base); !r) {
      return std::unexpected(r.error());
    }
  }
  std::vector<ipc_lib::MemoryMappedQueue> queues;
  if (config->channels() != nullptr) {
    for (const Channel *channel : *config->channels()) {
      if (!configuration::ChannelIsReadableOnNode(channel, node)) continue;
      Result<ipc_lib::MemoryMappedQueue> queue =
          ipc_lib::MemoryMappedQueue::Open(
              ShmChannelQueuePath(FLAGS_shm_base, channel),
              ShmChannelQueueConfiguration(config, channel), FLAGS_permissions);
      if (!queue) {
        return MakeError(queue.error().message() +
                         " (remove stale queues with aos_shm clean, or start "
                         "starterd with --purge_shm_base)");
      }
      queues.push_back(std::move(*queue));
    }
  }
  std::unique_ptr<Starter> starter(new Starter(config));
  starter->queues_ = std::move(queues);
  for (AppSpec &spec : *specs) {
    std::optional<Result<UserIds>> user;
    if (!spec.user.empty()) {
      user = LookUpUser(spec.user);
      if (!user->has_value()) {
        LOG(ERROR) << config_path << ": application \"" << spec.name
                   << "\": " << (*user).error().message()
                   << "; it will not start (SET_USR_ERR)";
      }
    }
    const std::string name = spec.name;
    starter->applications_.emplace(
        name, std::make_unique<Application>(
                  std::move(spec), std::move(user), &starter->event_loop_,
                  [raw = starter.get()] { raw->OnChange(); }));
  }
  return starter;
}

Starter::Starter(const Configuration *config)
    : config_(config),
      event_loop_(config),
      signals_({SIGCHLD, SIGINT, SIGTERM, SIGHUP}) {
  event_loop_.set_name("starterd");
  event_loop_.SkipAosLog();
  // starterd watches the timing reports (a loop cannot both watch and send
  // on one channel), so it sends none of its own.
  event_loop_.SkipTimingReport();
  const Node *node = event_loop_.node();
  const Channel *status_channel =
      FindChannel(config, Status::GetFullyQualifiedName(), node);
  status_sender_ = event_loop_.MakeRawSender(status_channel);
  max_sends_per_period_ = std::max(1, status_channel->frequency() - 1);

  event_loop_.MakeRawWatcher(
      FindChannel(config, StarterRpc::GetFullyQualifiedName(), node),
      [this](const Context &context, const void *data) {
        flatbuffers::Verifier verifier(static_cast<const uint8_t *>(data),
                                       context.size);
        if (!verifier.VerifyBuffer<StarterRpc>(nullptr)) {
          LOG(WARNING) << "Ignoring a StarterRpc that does not verify ("
                       << context.size << " bytes)";
          return;
        }
        HandleRpc(*flatbuffers::GetRoot<StarterRpc>(data));
      });
  // Timing reports say which applications' event loops are alive.
  if (const Channel *reports = configuration::GetChannel(
          config, "/aos", timing::Report::GetFullyQualifiedName(), "starterd",
          node);
      reports != nullptr &&
      configuration::ChannelIsReadableOnNode(reports, node)) {
    event_loop_.MakeRawWatcher(reports, [this](const Context &context,
                                               const void *data) {
      flatbuffers::Verifier verifier(static_cast<const uint8_t *>(data),
                                     context.size);
      if (!verifier.VerifyBuffer<timing::Report>(nullptr)) return;
      const timing::Report *report = flatbuffers::GetRoot<timing::Report>(data);
      for (auto &[name, application] : applications_) {
        application->NoteTimingReport(report->pid(),
                                      context.monotonic_event_time);
      }
    });
  }

  status_timer_ = event_loop_.AddTimer([this] {
    sends_this_period_ = 0;
    SendStatus();
  });
  status_timer_->set_name("status");
  send_soon_timer_ = event_loop_.AddTimer([this] {
    if (sends_this_period_ < max_sends_per_period_) {
      ++sends_this_period_;
      SendStatus();
    }
  });
  send_soon_timer_->set_name("status on change");

  event_loop_.epoll()->OnReadable(signals_.fd(), [this] { OnSignal(); });
}

Starter::~Starter() {
  // Applications unregister their fds from the loop's epoll, so they go
  // first.
  applications_.clear();
  event_loop_.epoll()->DeleteFd(signals_.fd());
}

Result<void> Starter::Run() {
  event_loop_.OnRun([this] {
    status_timer_->Schedule(event_loop_.monotonic_now(),
                            std::chrono::seconds(1));
    for (auto &[name, application] : applications_) {
      if (application->spec().autostart) {
        application->HandleCommand(Command::START);
      }
    }
  });
  return event_loop_.Run();
}

void Starter::OnSignal() {
  while (true) {
    const signalfd_siginfo info = signals_.Read();
    if (info.ssi_signo == 0) return;
    if (info.ssi_signo == SIGCHLD) {
      // SIGCHLDs coalesce: every application checks its own process.
      for (auto &[name, application] : applications_) {
        application->MaybeReap();
      }
      if (exiting_ && !AnyAlive()) event_loop_.Exit();
      continue;
    }
    LOG(INFO) << "Received " << strsignal(info.ssi_signo)
              << "; stopping every application";
    Shutdown();
  }
}

void Starter::Shutdown() {
  if (exiting_) return;
  exiting_ = true;
  for (auto &[name, application] : applications_) application->Terminate();
  if (!AnyAlive()) event_loop_.Exit();
}

bool Starter::AnyAlive() const {
  for (const auto &[name, application] : applications_) {
    if (application->alive()) return true;
  }
  return false;
}

void Starter::HandleRpc(const StarterRpc &command) {
  if (command.name() == nullptr) return;
  if (command.nodes() != nullptr && command.nodes()->size() > 0) {
    const Node *node = event_loop_.node();
    bool for_us = false;
    for (const flatbuffers::String *name : *command.nodes()) {
      if (node != nullptr && node->name() != nullptr &&
          name->string_view() == node->name()->string_view()) {
        for_us = true;
      }
    }
    if (!for_us) return;
  }
  auto it = applications_.find(command.name()->string_view());
  if (it == applications_.end()) {
    LOG(WARNING) << "Ignoring " << EnumNameCommand(command.command())
                 << " for unknown application \""
                 << command.name()->string_view() << "\"";
    return;
  }
  LOG(INFO) << EnumNameCommand(command.command()) << " " << it->first;
  it->second->HandleCommand(command.command());
}

void Starter::OnChange() {
  if (!event_loop_.is_running()) return;
  send_soon_timer_->Schedule(event_loop_.monotonic_now());
}

void Starter::SendStatus() {
  const monotonic_clock::time_point now = event_loop_.monotonic_now();
  const size_t max_size = status_sender_->size();
  std::vector<pid_t> alive;
  for (const auto &[name, application] : applications_) {
    if (application->alive()) alive.push_back(application->pid());
  }
  sampler_.KeepOnly(alive);
  // Built off the channel's buffer first, so that a node with more
  // applications than max_size holds degrades (no process_info) instead of
  // failing.
  for (bool with_process_info : {true, false}) {
    flatbuffers::FlatBufferBuilder fbb;
    fbb.ForceDefaults(true);
    std::vector<flatbuffers::Offset<ApplicationStatus>> statuses;
    for (auto &[name, application] : applications_) {
      statuses.push_back(application->PopulateStatus(
          &fbb, with_process_info ? &sampler_ : nullptr, now));
    }
    const auto vector = fbb.CreateVector(statuses);
    Status::Builder builder(fbb);
    builder.add_statuses(vector);
    fbb.Finish(builder.Finish());
    if (fbb.GetSize() > max_size) {
      if (!reported_oversize_) {
        reported_oversize_ = true;
        LOG(ERROR) << "The status of " << applications_.size()
                   << " applications takes " << fbb.GetSize()
                   << " bytes; /aos aos.starter.Status holds " << max_size
                   << (with_process_info ? "; dropping process_info"
                                         : "; not publishing")
                   << ". Raise its max_size in the configuration.";
      }
      continue;
    }
    const RawSender::Error error =
        status_sender_->Send(fbb.GetBufferPointer(), fbb.GetSize());
    if (error != RawSender::Error::kOk) {
      LOG(WARNING) << "Status not sent: the channel is full (sent too fast)";
    }
    return;
  }
}

}  // namespace aos::starter
