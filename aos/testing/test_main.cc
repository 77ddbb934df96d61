// The main() of every AOS test binary.
//
// It initializes AOS (flags, logging), then gives the process a private
// temporary directory and points --shm_base into it, so every test that makes
// queues gets its own and parallel runs never collide. The directory is
// removed when the tests finish. Death-test children re-run this main; they
// reuse their parent's directory (passed in the environment) and leave the
// cleanup to the parent.

#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "aos/init.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/testing/tmpdir.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {
constexpr char kInheritedTmpDir[] = "AOS_TEST_PRIVATE_TMPDIR";
}  // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleMock(&argc, argv);
  aos::InitGoogle(&argc, &argv);

  const char *inherited = getenv(kInheritedTmpDir);
  const bool owns_dir = inherited == nullptr || inherited[0] == '\0';
  std::string dir;
  if (owns_dir) {
    const char *parent = getenv("TMPDIR");
    dir =
        std::string(parent != nullptr && parent[0] != '\0' ? parent : "/tmp") +
        "/aos_test.XXXXXX";
    PCHECK(mkdtemp(dir.data()) != nullptr) << "mkdtemp " << dir;
    setenv(kInheritedTmpDir, dir.c_str(), 1);
  } else {
    dir = inherited;
  }
  aos::testing::SetTestTmpDir(dir);
  aos::ipc_lib::SetShmBase(dir + "/aos");

  const int result = RUN_ALL_TESTS();
  if (owns_dir) {
    aos::testing::RemoveRecursively(dir);
  }
  return result;
}
