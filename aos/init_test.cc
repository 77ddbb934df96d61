#include "aos/init.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace aos {
namespace {

struct CommandResult {
  int exit_status;
  std::string output;
};

// Runs the test program with `args`, capturing stdout and stderr.
CommandResult RunProgram(const std::string &args) {
  const std::string command =
      std::string(AOS_INIT_TEST_PROGRAM) + " " + args + " 2>&1";
  FILE *pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  CommandResult result;
  std::array<char, 256> buffer;
  while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) {
    result.output += buffer.data();
  }
  const int status = pclose(pipe);
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST(InitTest, TheTestMainInitialized) { EXPECT_TRUE(IsInitialized()); }

TEST(InitTest, ParsesFlagsAndKeepsArguments) {
  const CommandResult result = RunProgram("--init_test_value=7 positional");
  EXPECT_EQ(result.exit_status, 0) << result.output;
  EXPECT_EQ(result.output, "value=7 positional\n");
}

TEST(InitTest, UnknownFlagIsAnError) {
  const CommandResult result = RunProgram("--no_such_flag=1");
  EXPECT_NE(result.exit_status, 0);
  EXPECT_NE(result.output.find("no_such_flag"), std::string::npos)
      << result.output;
}

TEST(InitTest, MalformedFlagValueIsAnError) {
  const CommandResult result = RunProgram("--init_test_value=seven");
  EXPECT_NE(result.exit_status, 0);
  EXPECT_NE(result.output.find("init_test_value"), std::string::npos)
      << result.output;
}

TEST(InitDeathTest, SecondInitDies) {
  int argc = 1;
  char name[] = "test";
  char *args[] = {name, nullptr};
  char **argv = args;
  EXPECT_DEATH(InitGoogle(&argc, &argv), "only be called once");
}

}  // namespace
}  // namespace aos
