#include "aos/util/file.h"

#include <sys/stat.h>

#include <string>

#include "aos/testing/tmpdir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::util::testing {
namespace {

using ::testing::HasSubstr;

TEST(FileTest, WriteThenReadBack) {
  aos::testing::TempDir dir;
  const std::string path = dir.path() + "/file";
  const std::string contents("binary\0data\n", 12);
  WriteStringToFileOrDie(path, contents);
  EXPECT_EQ(ReadFileToStringOrDie(path), contents);
  EXPECT_EQ(ReadFileToVecOrDie(path),
            std::vector<uint8_t>(contents.begin(), contents.end()));
  EXPECT_EQ(MaybeReadFileToString(path), contents);
  // Replacing truncates.
  WriteStringToFileOrDie(path, "x");
  EXPECT_EQ(ReadFileToStringOrDie(path), "x");
}

// A file larger than one read() chunk comes back whole.
TEST(FileTest, LargeFile) {
  aos::testing::TempDir dir;
  const std::string path = dir.path() + "/large";
  std::string contents(200000, 'a');
  for (size_t i = 0; i < contents.size(); i += 7) contents[i] = 'b';
  WriteStringToFileOrDie(path, contents);
  EXPECT_EQ(ReadFileToStringOrDie(path), contents);
}

TEST(FileTest, MissingFileIsAnErrorNamingIt) {
  aos::testing::TempDir dir;
  const std::string path = dir.path() + "/missing";
  const Result<std::string> contents = ReadFileToString(path);
  ASSERT_FALSE(contents.has_value());
  EXPECT_THAT(contents.error().message(), HasSubstr(path));
  EXPECT_THAT(contents.error().message(), HasSubstr("No such file"));
  EXPECT_EQ(MaybeReadFileToString(path), std::nullopt);
  EXPECT_DEATH(ReadFileToStringOrDie(path), "cannot open .*missing");
}

TEST(FileTest, WriteErrors) {
  aos::testing::TempDir dir;
  const Result<void> no_dir =
      WriteStringToFile(dir.path() + "/no/such/dir/file", "x");
  ASSERT_FALSE(no_dir.has_value());
  EXPECT_THAT(no_dir.error().message(), HasSubstr("/no/such/dir/file"));
  EXPECT_DEATH(WriteStringToFileOrDie(dir.path() + "/no/file", "x"),
               "cannot open .*/no/file for writing");
  // A full disk is reported, not silently truncated.
  if (PathExists("/dev/full")) {
    const Result<void> full = WriteStringToFile("/dev/full", "data");
    ASSERT_FALSE(full.has_value());
    EXPECT_THAT(full.error().message(), HasSubstr("No space left"));
  }
}

TEST(FileTest, PermissionsOfNewFile) {
  aos::testing::TempDir dir;
  const std::string path = dir.path() + "/perm";
  WriteStringToFileOrDie(path, "x", S_IRUSR | S_IWUSR);
  struct stat info;
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, static_cast<mode_t>(S_IRUSR | S_IWUSR));
}

// MkdirP makes every directory before the last '/', as upstream's.
TEST(FileTest, MkdirPAndUnlinkRecursive) {
  aos::testing::TempDir dir;
  MkdirP(dir.path() + "/a/b/c/file", 0755);
  EXPECT_TRUE(PathExists(dir.path() + "/a/b/c"));
  EXPECT_FALSE(PathExists(dir.path() + "/a/b/c/file"));
  MkdirP(dir.path() + "/a/b/c/file", 0755);  // Existing is fine.
  EXPECT_TRUE(MkdirPIfSpace(dir.path() + "/x/y/", 0755));
  EXPECT_TRUE(PathExists(dir.path() + "/x/y"));

  WriteStringToFileOrDie(dir.path() + "/a/b/c/file", "x");
  UnlinkRecursive(dir.path() + "/a");
  EXPECT_FALSE(PathExists(dir.path() + "/a"));
  UnlinkRecursive(dir.path() + "/a");  // Missing is fine.

  // A file where a directory must go.
  WriteStringToFileOrDie(dir.path() + "/f", "x");
  EXPECT_DEATH(MkdirP(dir.path() + "/f/g/h", 0755),
               "cannot make directory .*/f/g");
}

}  // namespace
}  // namespace aos::util::testing
