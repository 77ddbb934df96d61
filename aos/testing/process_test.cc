#include "aos/testing/process.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "aos/testing/tmpdir.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

// Exit code, stdout and stderr come back separately.
TEST(ChildProcessTest, CapturesExitCodeAndOutput) {
  TempDir dir;
  ChildProcess process(
      {"/bin/sh", "-c", "echo to-out; echo to-err >&2; exit 3"}, dir.path());
  const ProcessExit exit = process.Wait();
  EXPECT_EQ(exit.code, 3);
  EXPECT_EQ(exit.out, "to-out\n");
  EXPECT_EQ(exit.err, "to-err\n");
  EXPECT_EQ(process.pid(), -1);
  EXPECT_FALSE(process.running());
}

// The child gets the test's environment plus the variables given, which
// replace any of the same name.
TEST(ChildProcessTest, PassesEnvironment) {
  TempDir dir;
  ASSERT_EQ(setenv("AOS_PROCESS_TEST_KEPT", "kept", 1), 0);
  ASSERT_EQ(setenv("AOS_PROCESS_TEST_REPLACED", "old", 1), 0);
  ChildProcess process(
      {"/bin/sh", "-c",
       "echo \"$AOS_PROCESS_TEST_KEPT $AOS_PROCESS_TEST_REPLACED "
       "$AOS_PROCESS_TEST_ADDED\"; env | grep -c AOS_PROCESS_TEST_REPLACED"},
      dir.path(), "", kDefaultProcessHangLimit,
      {"AOS_PROCESS_TEST_REPLACED=new", "AOS_PROCESS_TEST_ADDED=a=b"});
  const ProcessExit exit = process.Wait();
  unsetenv("AOS_PROCESS_TEST_KEPT");
  unsetenv("AOS_PROCESS_TEST_REPLACED");
  EXPECT_EQ(exit.code, 0) << exit.err;
  // Replaced, not duplicated.
  EXPECT_EQ(exit.out, "kept new a=b\n1\n");
}

// running() finding the process gone does not lose how it ended, and a
// signal to it then goes nowhere (its pid may be another process's).
TEST(ChildProcessTest, RunningKeepsTheExitForWait) {
  TempDir dir;
  ChildProcess process({"/bin/sh", "-c", "exit 5"}, dir.path());
  while (process.running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  process.Signal(SIGKILL);
  EXPECT_EQ(process.Wait().code, 5);
}

// The text given is the program's stdin, to its end.
TEST(ChildProcessTest, FeedsStdin) {
  TempDir dir;
  const ProcessExit exit =
      ChildProcess({"/bin/cat"}, dir.path(), "line one\nline two\n").Wait();
  EXPECT_EQ(exit.code, 0);
  EXPECT_EQ(exit.out, "line one\nline two\n");
}

// Without text, stdin is empty: a reader sees its end at once instead of
// waiting on the test's own stdin.
TEST(ChildProcessTest, StdinIsEmptyByDefault) {
  TempDir dir;
  const ProcessExit exit = ChildProcess({"/bin/cat"}, dir.path()).Wait();
  EXPECT_EQ(exit.code, 0);
  EXPECT_EQ(exit.out, "");
}

// A process ended by a signal reports 128 + the signal, as a shell does.
TEST(ChildProcessTest, SignalEndsTheProcess) {
  TempDir dir;
  ChildProcess process({"/bin/sh", "-c", "echo ready; exec sleep 1000"},
                       dir.path());
  // Signal once the shell has started (it printed "ready"), so the signal
  // meets the program and not a half-started child.
  while (process.out().empty()) {
    ASSERT_TRUE(process.running());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(process.running());
  process.Signal(SIGTERM);
  EXPECT_EQ(process.Wait().code, 128 + SIGTERM);
}

// A program that cannot be started exits 127 (as a shell reports "command
// not found") instead of running the test's code in the child.
TEST(ChildProcessTest, MissingProgramExits127) {
  TempDir dir;
  EXPECT_EQ(ChildProcess({dir.path() + "/missing"}, dir.path()).Wait().code,
            127);
}

// The hang limit is a safety net: hitting it kills the process and fails
// the test.
TEST(ChildProcessTest, HangLimitKillsAndFails) {
  TempDir dir;
  ChildProcess process({"/bin/sleep", "1000"}, dir.path(), "",
                       std::chrono::seconds(0));
  ProcessExit exit;
  EXPECT_NONFATAL_FAILURE(exit = process.Wait(), "/bin/sleep hung");
  EXPECT_EQ(exit.code, 128 + SIGKILL);
}

// Destroying a running process kills it and reaps it.
TEST(ChildProcessTest, DestructorKillsAndReaps) {
  TempDir dir;
  pid_t pid;
  {
    ChildProcess process({"/bin/sleep", "1000"}, dir.path());
    pid = process.pid();
    ASSERT_GT(pid, 0);
  }
  // Reaped: it is no longer a child of ours to wait for.
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

}  // namespace
}  // namespace aos::testing
