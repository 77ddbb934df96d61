#include "aos/testing/tmpdir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "aos/ipc_lib/shm_base.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

bool Exists(const std::string &path) { return access(path.c_str(), F_OK) == 0; }

TEST(TmpDirTest, TestMainGivesAPrivateShmBase) {
  EXPECT_TRUE(Exists(TestTmpDir()));
  EXPECT_EQ(FLAGS_shm_base, TestTmpDir() + "/aos");
}

TEST(TmpDirTest, TempDirIsRemovedWithItsContents) {
  std::string path;
  {
    TempDir dir;
    path = dir.path();
    EXPECT_EQ(path.rfind(TestTmpDir(), 0), 0u) << path;
    ASSERT_EQ(mkdir((path + "/sub").c_str(), 0700), 0);
    std::ofstream(path + "/sub/file") << "data";
    EXPECT_TRUE(Exists(path + "/sub/file"));
  }
  EXPECT_FALSE(Exists(path));
}

TEST(TmpDirTest, TempDirsAreUnique) {
  TempDir a;
  TempDir b;
  EXPECT_NE(a.path(), b.path());
}

TEST(TmpDirTest, RemovingAMissingPathSucceeds) {
  EXPECT_TRUE(RemoveRecursively(TestTmpDir() + "/does_not_exist"));
}

}  // namespace
}  // namespace aos::testing
