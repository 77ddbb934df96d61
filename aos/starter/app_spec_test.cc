#include "aos/starter/app_spec.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "aos/configuration.h"
#include "aos/testing/tmpdir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::starter {
namespace {

using ::testing::HasSubstr;

TEST(AppSpecTest, ReadsEveryFieldWithUpstreamsDefaults) {
  FlatbufferDetachedBuffer<Configuration> config = configuration::AddSchema(R"({
        "applications": [
          {"name": "plain"},
          {"name": "full", "executable_name": "/opt/full", "args": ["-x", "y"],
           "user": "robot", "autostart": false, "autorestart": false,
           "memory_limit": 1000, "stop_time": 5}
        ]})",
                                                                            {});
  Result<std::vector<AppSpec>> specs =
      AppSpecsForNode(&config.message(), nullptr);
  ASSERT_TRUE(specs) << specs.error().message();
  ASSERT_EQ(specs->size(), 2u);
  const AppSpec &full = (*specs)[0];
  EXPECT_EQ(full.name, "full");
  EXPECT_EQ(full.executable_name, "/opt/full");
  EXPECT_THAT(full.args, ::testing::ElementsAre("-x", "y"));
  EXPECT_EQ(full.user, "robot");
  EXPECT_FALSE(full.autostart);
  EXPECT_FALSE(full.autorestart);
  EXPECT_EQ(full.memory_limit, 1000u);
  EXPECT_EQ(full.stop_time, std::chrono::nanoseconds(5));
  const AppSpec &plain = (*specs)[1];
  EXPECT_EQ(plain.executable_name, "plain");
  EXPECT_TRUE(plain.autostart);
  EXPECT_TRUE(plain.autorestart);
  EXPECT_EQ(plain.memory_limit, 0u);
  EXPECT_EQ(plain.stop_time, std::chrono::seconds(1));
  EXPECT_TRUE(plain.user.empty());
}

TEST(AppSpecTest, OnlyThisNodesApplications) {
  FlatbufferDetachedBuffer<Configuration> config = configuration::AddSchema(R"({
        "nodes": [{"name": "pi1"}, {"name": "pi2"}],
        "applications": [
          {"name": "one", "nodes": ["pi1"]},
          {"name": "two", "nodes": ["pi2"]},
          {"name": "both"}
        ]})",
                                                                            {});
  Result<std::vector<AppSpec>> specs = AppSpecsForNode(
      &config.message(), configuration::GetNode(&config.message(), "pi2"));
  ASSERT_TRUE(specs);
  ASSERT_EQ(specs->size(), 2u);
  EXPECT_EQ((*specs)[0].name, "both");
  EXPECT_EQ((*specs)[1].name, "two");
}

TEST(AppSpecTest, BadFieldsAreErrors) {
  FlatbufferDetachedBuffer<Configuration> negative = configuration::AddSchema(
      R"({"applications": [{"name": "a", "stop_time": -2}]})", {});
  Result<std::vector<AppSpec>> specs =
      AppSpecsForNode(&negative.message(), nullptr);
  ASSERT_FALSE(specs);
  EXPECT_THAT(specs.error().message(),
              HasSubstr("application \"a\": \"stop_time\" is -2"));
  FlatbufferDetachedBuffer<Configuration> empty = configuration::AddSchema(
      R"({"applications": [{"name": "a", "executable_name": ""}]})", {});
  specs = AppSpecsForNode(&empty.message(), nullptr);
  ASSERT_FALSE(specs);
  EXPECT_THAT(specs.error().message(),
              HasSubstr("\"executable_name\" is empty"));
}

TEST(AppSpecTest, FindsDuplicatesInAnyImportedFile) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/base.json")
      << R"({"applications": [{"name": "x"}, {"name": "y"}, {"name": "x"}]})";
  std::ofstream(dir.path() + "/top.json")
      << "// comment\n"
      << R"({"imports": ["base.json"], "applications": [{"name": "x"}]})";
  Result<void> result = CheckNoDuplicateApplications(dir.path() + "/top.json");
  ASSERT_FALSE(result);
  EXPECT_THAT(result.error().message(),
              HasSubstr("base.json: application \"x\" is listed twice "
                        "(entries 1 and 3"));
  // Overriding an imported entry is merging, not a duplicate.
  std::ofstream(dir.path() + "/base.json")
      << R"({"applications": [{"name": "x"}, {"name": "y"}]})";
  EXPECT_TRUE(CheckNoDuplicateApplications(dir.path() + "/top.json"));
}

TEST(AppSpecTest, LooksUpUsers) {
  Result<UserIds> root = LookUpUser("root");
  ASSERT_TRUE(root) << root.error().message();
  EXPECT_EQ(root->uid, 0u);
  EXPECT_EQ(root->gid, 0u);
  EXPECT_THAT(root->groups, ::testing::Contains(0u));
  Result<UserIds> missing = LookUpUser("no_such_user_aos");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message(),
              HasSubstr("unknown user \"no_such_user_aos\""));
}

TEST(AppSpecTest, ResolvesExecutablesLikeExec) {
  testing::TempDir dir;
  const std::string program = dir.path() + "/prog";
  std::ofstream(program) << "#!/bin/sh\n";
  ASSERT_EQ(chmod(program.c_str(), 0755), 0);
  const std::string data = dir.path() + "/data";
  std::ofstream(data) << "x";

  Result<std::string> found =
      ResolveExecutable("prog", "/nonexistent:" + dir.path());
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_EQ(*found, program);
  EXPECT_EQ(*ResolveExecutable(program, ""), program);

  Result<std::string> missing = ResolveExecutable("prog", "/nonexistent");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message(),
              HasSubstr("\"prog\" not found in PATH (/nonexistent)"));
  Result<std::string> not_executable = ResolveExecutable(data, "");
  ASSERT_FALSE(not_executable);
  EXPECT_THAT(not_executable.error().message(),
              HasSubstr("is not an executable file"));
  // A directory of that name is not a program.
  Result<std::string> directory = ResolveExecutable("tmp", "/");
  EXPECT_FALSE(directory);
}

}  // namespace
}  // namespace aos::starter
