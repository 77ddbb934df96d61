// starterd: starts this node's applications from the configuration, keeps
// them running, and obeys aos_starter. See starterd_lib.h and
// docs/decisions/starter.md; starterd.service runs it under systemd.

#include <iostream>
#include <string_view>

#include "aos/configuration.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/starter/starterd_lib.h"
#include "aos/tools/aos_cli_utils.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

int main(int argc, char **argv) {
  // A daemon's log is its journal: INFO unless --minloglevel says otherwise
  // (InitTool quiets tools to warnings).
  bool minloglevel_given = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).find("minloglevel") !=
        std::string_view::npos) {
      minloglevel_given = true;
    }
  }
  aos::cli::InitTool(
      &argc, &argv,
      {.name = "starterd",
       .usage =
           "starterd [--config=aos_config.json] [flags]\n"
           "\n"
           "Starts the applications the configuration lists for this node,\n"
           "restarts those that exit (with a growing delay), stops them on\n"
           "aos_starter's command and publishes their state on /aos\n"
           "aos.starter.Status. SIGINT or SIGTERM stops every application\n"
           "and exits 0. Each run's output is kept under --logs_folder.",
       .flags = {"config", "shm_base", "purge_shm_base", "logs_folder",
                 "max_log_bytes", "max_log_runs", "restart_delay_min_ms",
                 "restart_delay_max_ms", "restart_backoff_reset_ms"}});
  if (!minloglevel_given) FLAGS_minloglevel = google::GLOG_INFO;
  FLAGS_logtostderr = true;
  if (argc > 1) {
    aos::cli::PrintError("starterd", std::string("unexpected argument \"") +
                                         argv[1] + "\"; see starterd --help");
    return 1;
  }

  aos::Result<aos::FlatbufferDetachedBuffer<aos::Configuration>> config =
      aos::cli::LoadConfig(FLAGS_config);
  if (!config) {
    aos::cli::PrintError("starterd", config.error().message());
    return 1;
  }
  aos::Result<const aos::Node *> node =
      aos::cli::FindMyNode(&config->message());
  if (!node) {
    aos::cli::PrintError("starterd", node.error().message());
    return 1;
  }
  // Stale or mismatched queue files are a clear error here rather than a
  // CHECK inside the event loop.
  for (const auto &[type, need] :
       {std::pair{aos::starter::Status::GetFullyQualifiedName(),
                  aos::cli::SlotNeed::kSender},
        std::pair{aos::starter::StarterRpc::GetFullyQualifiedName(),
                  aos::cli::SlotNeed::kWatcher}}) {
    const aos::Channel *channel = aos::configuration::GetChannel(
        &config->message(), "/aos", type, "starterd", *node);
    if (channel == nullptr) continue;  // Starter::Make names it.
    if (aos::Result<void> r = aos::cli::CheckChannelQueue(
            &config->message(), channel, FLAGS_shm_base, need);
        !r) {
      aos::cli::PrintError("starterd", r.error().message());
      return 1;
    }
  }

  aos::Result<std::unique_ptr<aos::starter::Starter>> starter =
      aos::starter::Starter::Make(&config->message(), FLAGS_config);
  if (!starter) {
    aos::cli::PrintError("starterd", starter.error().message());
    return 1;
  }
  aos::Result<void> result = (*starter)->Run();
  if (!result) {
    aos::cli::PrintError("starterd", result.error().message());
    return 1;
  }
  LOG(INFO) << "Every application stopped; exiting";
  return 0;
}
