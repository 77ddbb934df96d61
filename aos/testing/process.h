#ifndef AOS_TESTING_PROCESS_H_
#define AOS_TESTING_PROCESS_H_

// Running programs from end-to-end tests: the tools, the logger, starterd.
//
// A test starts a program as its own process, as a user would, lets it run
// beside others, signals it, and waits for its exit status and output.
// ChildProcess is that process: its stdin is a file holding the text given
// (empty by default, so a program that reads stdin sees its end at once), and
// its stdout and stderr go to files in a directory of the test's, readable
// while it runs. Waiting never depends on how fast the machine is: the hang
// limit is only a safety net, and hitting it fails the test.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace aos::testing {

// How long ChildProcess::Wait() waits by default before it gives up.
inline constexpr std::chrono::seconds kDefaultProcessHangLimit(60);

// How a process ended, and everything it wrote.
struct ProcessExit {
  // The exit code, or 128 + the signal that killed it (as a shell says).
  int code = -1;
  std::string out;
  std::string err;
};

// A child process running argv[0] (a path, not searched in $PATH) with
// `argv`. Files named process<N>.{in,out,err} in `dir` hold its stdin
// (`stdin_text`), stdout and stderr. Its environment is the test's, with
// each "NAME=value" of `environment` added (replacing a variable of the same
// name). It starts with no signal blocked, whatever the test blocks.
// Destroying it kills (SIGKILL) and reaps the process if it is still running.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, const std::string &dir,
               const std::string &stdin_text = "",
               std::chrono::seconds hang_limit = kDefaultProcessHangLimit,
               const std::vector<std::string> &environment = {});
  ChildProcess(const ChildProcess &) = delete;
  ChildProcess &operator=(const ChildProcess &) = delete;
  ~ChildProcess();

  // The process id; -1 once Wait() returned.
  pid_t pid() const { return pid_; }
  // What it wrote to stdout / stderr so far.
  std::string out() const;
  std::string err() const;
  // Whether it has not exited yet (false once Wait() returned). Finding it
  // exited reaps it; Wait() still returns how it ended.
  bool running() const;
  // Sends `signal`; PCHECK-fails if that fails. Does nothing once the
  // process has exited and been reaped (running() false): its pid may
  // belong to another process by then.
  void Signal(int signal);

  // Waits for the exit and returns it. After the hang limit it kills the
  // process and fails the test (ADD_FAILURE naming the program). Call once.
  ProcessExit Wait();

 private:
  std::string command_;
  std::chrono::seconds hang_limit_;
  pid_t pid_ = -1;
  // running() reaped it: its wait status.
  mutable bool reaped_ = false;
  mutable int status_ = 0;
  std::string out_path_;
  std::string err_path_;
};

}  // namespace aos::testing

#endif  // AOS_TESTING_PROCESS_H_
