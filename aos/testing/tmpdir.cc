#include "aos/testing/tmpdir.h"

#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "glog/logging.h"

namespace aos::testing {
namespace {

std::string &TestTmpDirStorage() {
  static std::string path;
  return path;
}

std::string DefaultParent() {
  if (!TestTmpDirStorage().empty()) return TestTmpDirStorage();
  const char *tmpdir = getenv("TMPDIR");
  return tmpdir != nullptr && tmpdir[0] != '\0' ? tmpdir : "/tmp";
}

int RemoveEntry(const char *path, const struct stat *, int, struct FTW *) {
  if (remove(path) != 0) {
    PLOG(WARNING) << "Failed to remove " << path;
    return -1;
  }
  return 0;
}

}  // namespace

const std::string &TestTmpDir() {
  CHECK(!TestTmpDirStorage().empty())
      << "TestTmpDir() needs the aos test main (aos_test_main) to set it up";
  return TestTmpDirStorage();
}

void SetTestTmpDir(std::string path) { TestTmpDirStorage() = std::move(path); }

bool RemoveRecursively(const std::string &path) {
  if (access(path.c_str(), F_OK) != 0) return true;
  return nftw(path.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS) == 0;
}

TempDir::TempDir() : TempDir(DefaultParent()) {}

TempDir::TempDir(const std::string &parent) {
  std::string name = parent + "/aos_tmp.XXXXXX";
  PCHECK(mkdtemp(name.data()) != nullptr) << "mkdtemp under " << parent;
  path_ = std::move(name);
}

TempDir::~TempDir() { RemoveRecursively(path_); }

}  // namespace aos::testing
