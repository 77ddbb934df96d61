// aos_shm: inspects and cleans the queue files under --shm_base. See kHelp
// below.

#include <iostream>
#include <string>
#include <vector>

#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/tools/aos_cli_utils.h"
#include "aos/tools/shm_queues.h"
#include "gflags/gflags.h"

DEFINE_bool(dump_data, false, "With `print`: also print payloads in hex.");

namespace {

constexpr std::string_view kTool = "aos_shm";

const aos::cli::ToolHelp kHelp = {
    .name = kTool,
    .usage =
        "aos_shm: inspect and clean the shared-memory queues of channels.\n"
        "\n"
        "Usage:\n"
        "  aos_shm [list]                  every queue under --shm_base: "
        "size,\n"
        "                                  limits, live slots, in use or "
        "stale\n"
        "  aos_shm apps                    running applications: pid, name,\n"
        "                                  the channels each sends, watches,\n"
        "                                  pins or maps\n"
        "  aos_shm show /channel [type]    senders, watchers and pinners with\n"
        "                                  their owners' pids, applications\n"
        "                                  and liveness\n"
        "  aos_shm print /channel [type]   the queue's whole memory\n"
        "  aos_shm clean                   remove every stale queue\n"
        "  aos_shm rm /channel [type]      remove these queues if stale\n"
        "\n"
        "A queue is in use (and never removed) while a live process owns a\n"
        "slot in it or has it mapped. The type may be a substring.",
    .flags = {"shm_base", "dump_data"},
};

int Fail(std::string_view message) {
  aos::cli::PrintError(kTool, message);
  return 1;
}

int List() {
  aos::Result<std::vector<aos::cli::QueueFile>> files =
      aos::cli::ListQueueFiles(FLAGS_shm_base);
  if (!files) return Fail(files.error().message());
  std::cout << aos::cli::QueueSummaryHeader() << "\n";
  for (const aos::cli::QueueFile &file : *files) {
    std::cout << aos::cli::FormatQueueSummary(file) << "\n";
  }
  return 0;
}

int Clean(const std::vector<aos::cli::QueueFile> &files, bool report_kept) {
  int refused = 0;
  for (const aos::cli::QueueFile &file : files) {
    aos::Result<void> removed =
        aos::cli::RemoveStaleQueue(FLAGS_shm_base, file);
    if (removed) {
      std::cout << "removed " << file.channel_name << " " << file.type << " ("
                << file.path << ")\n";
    } else {
      ++refused;
      if (report_kept) aos::cli::PrintError(kTool, removed.error().message());
    }
  }
  if (!report_kept && refused > 0) {
    std::cout << "kept " << refused << " queue" << (refused == 1 ? "" : "s")
              << " in use\n";
  }
  return report_kept && refused > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char **argv) {
  aos::cli::InitTool(&argc, &argv, kHelp);
  const std::string command = argc > 1 ? argv[1] : "list";
  if (command == "list" || command == "clean" || command == "apps") {
    if (argc > 2) return Fail("`" + command + "` takes no arguments");
    if (command == "list") return List();
    if (command == "apps") {
      aos::Result<std::vector<aos::cli::QueueFile>> files =
          aos::cli::ListQueueFiles(FLAGS_shm_base);
      if (!files) return Fail(files.error().message());
      std::cout << aos::cli::DescribeApplications(*files);
      return 0;
    }
    aos::Result<std::vector<aos::cli::QueueFile>> files =
        aos::cli::ListQueueFiles(FLAGS_shm_base);
    if (!files) return Fail(files.error().message());
    return Clean(*files, /*report_kept=*/false);
  }
  if (command != "show" && command != "print" && command != "rm") {
    return Fail(
        "unknown command '" + command +
        "' (expected list, apps, show, print, clean or rm; see --help)");
  }
  if (argc < 3 || argc > 4) {
    return Fail("`" + command + "` takes /channel [type]");
  }
  aos::Result<std::vector<aos::cli::QueueFile>> files =
      aos::cli::FindQueueFiles(FLAGS_shm_base, argv[2],
                               argc > 3 ? argv[3] : "");
  if (!files) return Fail(files.error().message());

  if (command == "rm") return Clean(*files, /*report_kept=*/true);
  for (const aos::cli::QueueFile &file : *files) {
    if (command == "show") {
      aos::Result<std::string> description = aos::cli::DescribeQueue(file);
      if (!description) return Fail(description.error().message());
      std::cout << *description;
    } else {
      std::cout << file.channel_name << " " << file.type << " (" << file.path
                << ")\n";
      aos::Result<void> printed =
          aos::ipc_lib::PrintQueueFile(file.path, std::cout, FLAGS_dump_data);
      if (!printed) return Fail(printed.error().message());
    }
  }
  return 0;
}
