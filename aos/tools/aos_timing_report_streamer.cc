// aos_timing_report_streamer: prints every process's timing reports as they
// arrive. See kHelp below.

#include <iostream>
#include <string>

#include "aos/configuration.h"
#include "aos/events/event_loop_generated.h"
#include "aos/events/shm_event_loop.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/tools/aos_cli_utils.h"
#include "aos/tools/timing_report_format.h"
#include "gflags/gflags.h"

DEFINE_string(application, "",
              "Only show reports of applications with this name.");
DEFINE_int64(count, -1, "Exit after this many reports (-1: no limit).");
DEFINE_int64(timeout, -1, "Exit after this many milliseconds (-1: never).");

namespace {

constexpr std::string_view kTool = "aos_timing_report_streamer";

const aos::cli::ToolHelp kHelp = {
    .name = kTool,
    .usage =
        "aos_timing_report_streamer: show the timing reports of running\n"
        "processes as they arrive (one per process per --timing_report_ms).\n"
        "For each application: its watchers, senders, fetchers, timers and\n"
        "phased loops, with counts since the last report, wakeup latency,\n"
        "handler time and message sizes.\n"
        "\n"
        "Usage:\n"
        "  aos_timing_report_streamer [--config=aos_config.json] "
        "[--application=name]",
    .flags = {"config", "shm_base", "application", "count", "timeout",
              "override_hostname"},
};

int Fail(std::string_view message) {
  aos::cli::PrintError(kTool, message);
  return 1;
}

}  // namespace

int main(int argc, char **argv) {
  aos::cli::InitTool(&argc, &argv, kHelp);
  if (argc > 1) {
    return Fail(std::string("unexpected argument '") + argv[1] +
                "' (see --help)");
  }
  if (FLAGS_count < -1) {
    return Fail("--count=" + std::to_string(FLAGS_count) +
                " is out of range: it must be >= -1 (-1: no limit)");
  }
  if (FLAGS_timeout < -1) {
    return Fail("--timeout=" + std::to_string(FLAGS_timeout) +
                " is out of range: it must be >= -1 (-1: forever)");
  }
  aos::Result<aos::cli::ToolSetup> setup = aos::cli::LoadToolSetup(kTool);
  if (!setup) return Fail(setup.error().message());
  const aos::Configuration *configuration = setup->configuration();

  aos::Result<std::vector<const aos::Channel *>> found = aos::cli::FindChannels(
      configuration, "/aos", aos::timing::Report::GetFullyQualifiedName(),
      setup->application_name, setup->node, aos::cli::ChannelUse::kRead);
  if (!found) return Fail(found.error().message());
  const aos::Channel *channel = found->front();
  aos::Result<void> checked = aos::cli::CheckChannelQueue(
      configuration, channel, FLAGS_shm_base, aos::cli::SlotNeed::kWatcher);
  if (!checked) return Fail(checked.error().message());

  std::unique_ptr<aos::ShmEventLoop> event_loop =
      aos::cli::MakeToolEventLoop(*setup);
  int64_t shown = 0;
  event_loop->MakeRawWatcher(channel, [&](const aos::Context &context,
                                          const void *data) {
    if (FLAGS_count >= 0 && shown >= FLAGS_count) return;
    flatbuffers::Verifier verifier(static_cast<const uint8_t *>(data),
                                   context.size);
    if (!verifier.VerifyBuffer<aos::timing::Report>(nullptr)) {
      aos::cli::PrintError(kTool, "skipping an invalid report of " +
                                      std::to_string(context.size) + " bytes");
      return;
    }
    const aos::timing::Report *report =
        flatbuffers::GetRoot<aos::timing::Report>(data);
    if (!FLAGS_application.empty() &&
        (report->name() == nullptr ||
         report->name()->string_view() != FLAGS_application)) {
      return;
    }
    std::cout << aos::cli::FormatTimingReport(configuration, *report,
                                              context.monotonic_event_time)
              << std::endl;
    ++shown;
    if (FLAGS_count >= 0 && shown >= FLAGS_count) event_loop->Exit();
  });
  if (FLAGS_timeout >= 0) {
    aos::cli::ExitAfter(event_loop.get(),
                        std::chrono::milliseconds(FLAGS_timeout));
  }
  const aos::Result<void> result = event_loop->Run();
  if (!result) return Fail(result.error().message());
  return 0;
}
