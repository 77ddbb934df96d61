#include "aos/init.h"

#include <atomic>

#include "gflags/gflags.h"
#include "glog/logging.h"

namespace aos {
namespace {
std::atomic<bool> initialized{false};
}  // namespace

void InitGoogle(int *argc, char ***argv) {
  CHECK(!IsInitialized()) << "aos::InitGoogle must only be called once.";
  // Robot processes log to stderr (collected by the process supervisor), not
  // to files in /tmp. A flag on the command line can still change this.
  FLAGS_logtostderr = true;
  // Unknown flags are fatal in gflags' parser: it prints
  // "ERROR: unknown command line flag 'x'" and exits with status 1.
  gflags::ParseCommandLineFlags(argc, argv, /*remove_flags=*/true);
  google::InitGoogleLogging((*argv)[0]);
  google::InstallFailureSignalHandler();
  initialized.store(true, std::memory_order_release);
}

bool IsInitialized() { return initialized.load(std::memory_order_acquire); }

}  // namespace aos
