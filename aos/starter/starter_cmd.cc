// aos_starter: looks at and controls the applications starterd supervises.
//
//   aos_starter status                 every application, as a table
//   aos_starter status <app>           one application in detail
//   aos_starter start|stop|restart <app>... (or "all")
//   aos_starter logs <app>             the output of <app>'s latest run
//
// It reads /aos aos.starter.Status and sends /aos aos.starter.StarterRpc.
// Commands wait until starterd reports the result (RUNNING after start and
// restart, STOPPED after stop) and exit non-zero if it does not come.

#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include "aos/configuration.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/starter/run_log.h"
#include "aos/starter/starter_generated.h"
#include "aos/starter/starter_rpc_generated.h"
#include "aos/starter/status_format.h"
#include "aos/tools/aos_cli_utils.h"
#include "gflags/gflags.h"

DEFINE_int32(timeout_ms, 3000,
             "How long to wait for starterd's status (it sends one a second) "
             "and, after a command, for the application to reach its state "
             "(stop waits at least the application's stop_time too).");
DEFINE_string(sort, "name",
              "Order of the status table: name, state, pid or uptime.");

namespace aos::starter {
namespace {

constexpr std::string_view kTool = "aos_starter";
// starterd sends a status at least once a second.
constexpr std::chrono::milliseconds kFresh(1500);

int Fail(std::string_view message) {
  cli::PrintError(kTool, message);
  return 1;
}

// The latest status, once it is fresh (starterd is alive).
Result<void> WaitForFreshStatus(Fetcher<Status> *fetcher) {
  const auto deadline =
      monotonic_clock::now() + std::chrono::milliseconds(FLAGS_timeout_ms);
  while (true) {
    fetcher->Fetch();
    const monotonic_clock::time_point now = monotonic_clock::now();
    if (fetcher->get() != nullptr &&
        now - fetcher->context().monotonic_event_time <= kFresh) {
      return {};
    }
    if (now > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string what =
      fetcher->get() == nullptr
          ? "nothing was ever sent on /aos aos.starter.Status"
          : "the last /aos aos.starter.Status is " +
                FormatDuration(monotonic_clock::now() -
                               fetcher->context().monotonic_event_time) +
                " old";
  return MakeError("no starterd is running on this node (" + what +
                   " under --shm_base=" + FLAGS_shm_base +
                   "); start it (systemctl start starterd, or starterd "
                   "--config=...) and try again");
}

const ApplicationStatus *FindApp(const Status &status, std::string_view name) {
  if (status.statuses() == nullptr) return nullptr;
  for (const ApplicationStatus *application : *status.statuses()) {
    if (application->name() != nullptr &&
        application->name()->string_view() == name) {
      return application;
    }
  }
  return nullptr;
}

std::string KnownApps(const Status &status) {
  std::string names;
  if (status.statuses() != nullptr) {
    for (const ApplicationStatus *application : *status.statuses()) {
      if (!names.empty()) names += ", ";
      names += application->name()->str();
    }
  }
  return names.empty() ? "none" : names;
}

std::string UnknownApp(std::string_view name, const Status &status) {
  return "unknown application \"" + std::string(name) +
         "\"; starterd supervises: " + KnownApps(status);
}

// What a command waits for, per application.
struct Pending {
  std::string name;
  State before_state;
  uint64_t before_id;
  std::chrono::nanoseconds stop_time;
  bool done = false;
  bool failed = false;
  std::string result;
};

// Updates `pending` from `application`'s latest status.
void Check(Command command, const ApplicationStatus &application,
           Pending *pending) {
  const State state = application.state();
  const bool new_run = application.id() != pending->before_id;
  switch (command) {
    case Command::STOP:
      if (state == State::STOPPED) {
        pending->done = true;
        pending->result = "STOPPED";
      }
      return;
    case Command::START:
    case Command::RESTART: {
      const bool was_running = command == Command::START &&
                               (pending->before_state == State::RUNNING ||
                                pending->before_state == State::STARTING);
      if (state == State::RUNNING && (new_run || was_running)) {
        pending->done = true;
        pending->result =
            "RUNNING (pid " + std::to_string(application.pid()) + ")";
        return;
      }
      if (new_run && state == State::STOPPED) {
        pending->done = pending->failed = true;
        pending->result =
            std::string("failed to start: ") +
            EnumNameLastStopReason(application.last_stop_reason()) +
            " (see starterd's log and aos_starter logs " + pending->name + ")";
      } else if (new_run && state == State::WAITING) {
        pending->done = pending->failed = true;
        pending->result = "exited right after starting (last exit " +
                          FormatExitCode(application.last_exit_code()) +
                          "); starterd keeps restarting it";
      }
      return;
    }
  }
}

int RunCommand(Command command, std::vector<std::string> names,
               const cli::ToolSetup &setup, ShmEventLoop *event_loop,
               Fetcher<Status> *fetcher) {
  const Status &status = *fetcher->get();
  if (names.size() == 1 && names[0] == "all") {
    names.clear();
    if (status.statuses() != nullptr) {
      for (const ApplicationStatus *application : *status.statuses()) {
        names.push_back(application->name()->str());
      }
    }
  }
  std::vector<Pending> pending;
  std::set<std::string> seen;
  for (const std::string &name : names) {
    const ApplicationStatus *application = FindApp(status, name);
    if (application == nullptr) return Fail(UnknownApp(name, status));
    if (!seen.insert(name).second) continue;
    const Application *configured =
        configuration::GetApplication(setup.configuration(), setup.node, name);
    pending.push_back(Pending{
        .name = name,
        .before_state = application->state(),
        .before_id = application->id(),
        .stop_time = std::chrono::nanoseconds(
            configured != nullptr ? configured->stop_time() : 1000000000),
        .done = false,
        .failed = false,
        .result = {}});
  }

  const Channel *rpc_channel = configuration::GetChannel(
      setup.configuration(), "/aos", StarterRpc::GetFullyQualifiedName(),
      setup.application_name, setup.node);
  if (Result<void> r =
          cli::CheckChannelQueue(setup.configuration(), rpc_channel,
                                 FLAGS_shm_base, cli::SlotNeed::kSender);
      !r) {
    return Fail(r.error().message());
  }
  Sender<StarterRpc> sender = event_loop->MakeSender<StarterRpc>("/aos");
  std::chrono::nanoseconds longest_stop(0);
  for (const Pending &entry : pending) {
    auto builder = sender.MakeBuilder();
    const auto name = builder.fbb()->CreateString(entry.name);
    StarterRpc::Builder rpc(*builder.fbb());
    rpc.add_command(command);
    rpc.add_name(name);
    if (builder.Send(rpc.Finish()) != RawSender::Error::kOk) {
      return Fail("sending " + std::string(EnumNameCommand(command)) + " " +
                  entry.name +
                  " failed: /aos aos.starter.StarterRpc is full (sent too "
                  "fast); try again in a few seconds");
    }
    longest_stop = std::max(longest_stop, entry.stop_time);
  }

  const auto deadline =
      monotonic_clock::now() + std::chrono::milliseconds(FLAGS_timeout_ms) +
      (command == Command::START ? std::chrono::nanoseconds(0) : longest_stop);
  auto all_done = [&] {
    return std::all_of(pending.begin(), pending.end(),
                       [](const Pending &p) { return p.done; });
  };
  while (!all_done() && monotonic_clock::now() < deadline) {
    if (!fetcher->FetchNext()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    for (Pending &entry : pending) {
      if (entry.done) continue;
      const ApplicationStatus *application =
          FindApp(*fetcher->get(), entry.name);
      if (application != nullptr) Check(command, *application, &entry);
    }
  }
  int failures = 0;
  for (Pending &entry : pending) {
    if (!entry.done) {
      const ApplicationStatus *application =
          FindApp(*fetcher->get(), entry.name);
      entry.failed = true;
      entry.result = "no result within the timeout (state now " +
                     std::string(application != nullptr
                                     ? EnumNameState(application->state())
                                     : "unknown") +
                     "); see aos_starter status " + entry.name;
    }
    if (entry.failed) {
      ++failures;
      cli::PrintError(kTool, entry.name + ": " + entry.result);
    } else {
      std::cout << entry.name << ": " << entry.result << std::endl;
    }
  }
  return failures == 0 ? 0 : 1;
}

int PrintLogs(const std::string &name, const cli::ToolSetup &setup) {
  if (configuration::GetApplication(setup.configuration(), setup.node, name) ==
      nullptr) {
    return Fail("unknown application \"" + name +
                "\" in --config=" + FLAGS_config);
  }
  Result<std::vector<std::string>> files =
      LatestRunFiles(FLAGS_logs_folder, name);
  if (!files) return Fail(files.error().message());
  for (const std::string &path : *files) {
    std::ifstream file(path);
    if (!file) return Fail("cannot read " + path);
    std::cout << file.rdbuf();
  }
  std::cout.flush();
  return 0;
}

int Main(int argc, char **argv) {
  if (argc < 2) {
    return Fail(
        "missing command; usage: aos_starter status|start|stop|"
        "restart|logs [app...] (aos_starter --help)");
  }
  const std::string command = argv[1];
  std::vector<std::string> names(argv + 2, argv + argc);
  const std::optional<SortBy> sort = ParseSortBy(FLAGS_sort);
  if (!sort) {
    return Fail("--sort=" + FLAGS_sort +
                " is not one of name, state, pid, uptime");
  }
  std::optional<Command> rpc;
  if (command == "start") rpc = Command::START;
  if (command == "stop") rpc = Command::STOP;
  if (command == "restart") rpc = Command::RESTART;
  if (command == "help") {
    std::cout << "aos_starter status|start|stop|restart|logs [app...]; "
                 "aos_starter --help for details\n";
    return 0;
  }
  if (!rpc && command != "status" && command != "logs") {
    return Fail("unknown command \"" + command +
                "\"; expected status, start, stop, restart, logs or help");
  }
  if ((rpc || command == "logs") && names.empty()) {
    return Fail(command + " needs the name of an application" +
                (rpc ? " (or all)" : ""));
  }
  if ((command == "status" || command == "logs") && names.size() > 1) {
    return Fail(command + " takes at most one application");
  }

  Result<cli::ToolSetup> setup = cli::LoadToolSetup(kTool);
  if (!setup) return Fail(setup.error().message());
  if (command == "logs") return PrintLogs(names[0], *setup);

  const Channel *status_channel = configuration::GetChannel(
      setup->configuration(), "/aos", Status::GetFullyQualifiedName(),
      setup->application_name, setup->node);
  if (status_channel == nullptr) {
    return Fail("--config=" + FLAGS_config +
                " has no /aos aos.starter.Status channel; import "
                "aos/events/aos.json");
  }
  if (Result<void> r =
          cli::CheckChannelQueue(setup->configuration(), status_channel,
                                 FLAGS_shm_base, cli::SlotNeed::kNone);
      !r) {
    return Fail(r.error().message());
  }
  std::unique_ptr<ShmEventLoop> event_loop = cli::MakeToolEventLoop(*setup);
  Fetcher<Status> fetcher = event_loop->MakeFetcher<Status>("/aos");
  if (Result<void> r = WaitForFreshStatus(&fetcher); !r) {
    return Fail(r.error().message());
  }
  if (rpc) {
    return RunCommand(*rpc, names, *setup, event_loop.get(), &fetcher);
  }
  const monotonic_clock::time_point now = monotonic_clock::now();
  if (names.empty()) {
    std::cout << FormatStatusTable(*fetcher.get(), now, *sort);
    return 0;
  }
  const ApplicationStatus *application = FindApp(*fetcher.get(), names[0]);
  if (application == nullptr) {
    return Fail(UnknownApp(names[0], *fetcher.get()));
  }
  std::cout << FormatApplicationStatus(*application, now);
  return 0;
}

}  // namespace
}  // namespace aos::starter

int main(int argc, char **argv) {
  aos::cli::InitTool(
      &argc, &argv,
      {.name = "aos_starter",
       .usage =
           "aos_starter [--config=aos_config.json] <command> [app...]\n"
           "\n"
           "Commands:\n"
           "  status [app]               every application as a table, or\n"
           "                             one in detail\n"
           "  start <app>... | all       start, and wait until RUNNING\n"
           "  stop <app>... | all        stop (SIGINT, then SIGKILL after\n"
           "                             stop_time), and wait until STOPPED\n"
           "  restart <app>... | all     stop, then start at once\n"
           "  logs <app>                 the output of the latest run\n"
           "  help\n"
           "\n"
           "Talks to starterd over /aos aos.starter.Status and\n"
           "aos.starter.StarterRpc; exits 1 with a message if starterd is\n"
           "not running, an application is unknown or a command fails.",
       .flags = {"config", "shm_base", "timeout_ms", "sort", "logs_folder"}});
  return aos::starter::Main(argc, argv);
}
