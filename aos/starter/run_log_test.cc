#include "aos/starter/run_log.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "aos/testing/tmpdir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::starter {
namespace {

std::string ReadFile(const std::string &path) {
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

TEST(RunLogTest, KeepsAtMostTwiceTheBoundPerRun) {
  testing::TempDir dir;
  Result<RunLog> log = RunLog::Open(dir.path(), "app", 1, 10, 5);
  ASSERT_TRUE(log) << log.error().message();
  log->Append("0123456");
  log->Append("789ab");  // Passes 10 bytes: the first part becomes .old.
  log->Append("cd");
  EXPECT_EQ(ReadFile(log->path() + ".old"), "0123456");
  EXPECT_EQ(ReadFile(log->path()), "789abcd");
  log->Append("0123456789ABCDEF");  // One chunk beyond the bound: its tail.
  EXPECT_EQ(ReadFile(log->path() + ".old"), "789abcd");
  EXPECT_EQ(ReadFile(log->path()), "6789ABCDEF");

  Result<std::vector<std::string>> files = LatestRunFiles(dir.path(), "app");
  ASSERT_TRUE(files);
  EXPECT_THAT(*files,
              ::testing::ElementsAre(log->path() + ".old", log->path()));
}

TEST(RunLogTest, KeepsOnlyTheNewestRunsAndPointsLatestAtTheLast) {
  testing::TempDir dir;
  std::vector<std::string> paths;
  for (uint64_t run = 1; run <= 4; ++run) {
    Result<RunLog> log = RunLog::Open(dir.path(), "app", run, 100, 2);
    ASSERT_TRUE(log);
    log->Append("run " + std::to_string(run));
    paths.push_back(log->path());
  }
  EXPECT_FALSE(std::filesystem::exists(paths[0]));
  EXPECT_FALSE(std::filesystem::exists(paths[1]));
  EXPECT_TRUE(std::filesystem::exists(paths[2]));
  EXPECT_EQ(ReadFile(dir.path() + "/app/latest.log"), "run 4");
  Result<std::vector<std::string>> files = LatestRunFiles(dir.path(), "app");
  ASSERT_TRUE(files);
  EXPECT_THAT(*files, ::testing::ElementsAre(paths[3]));
}

TEST(RunLogTest, ErrorsNameThePath) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/file") << "x";
  Result<RunLog> log = RunLog::Open(dir.path() + "/file", "app", 1, 10, 5);
  ASSERT_FALSE(log);
  EXPECT_THAT(log.error().message(),
              ::testing::HasSubstr(dir.path() + "/file"));
  Result<std::vector<std::string>> none = LatestRunFiles(dir.path(), "ghost");
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error().message(),
              ::testing::HasSubstr("no output kept for \"ghost\""));
}

}  // namespace
}  // namespace aos::starter
