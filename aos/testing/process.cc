#include "aos/testing/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string_view>
#include <thread>

#include "aos/util/file.h"
#include "glog/logging.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

// The output files exist only once the child opened them.
std::string ReadIfThere(const std::string &path) {
  return util::MaybeReadFileToString(path).value_or("");
}

// This process's environment with `added` ("NAME=value" each) replacing or
// adding variables.
std::vector<std::string> ChildEnvironment(
    const std::vector<std::string> &added) {
  auto name = [](std::string_view variable) {
    return variable.substr(0, variable.find('='));
  };
  std::vector<std::string> result;
  for (char **variable = environ; *variable != nullptr; ++variable) {
    const std::string_view inherited(*variable);
    if (std::none_of(added.begin(), added.end(), [&](const std::string &a) {
          return name(a) == name(inherited);
        })) {
      result.emplace_back(inherited);
    }
  }
  for (const std::string &variable : added) {
    CHECK_NE(variable.find('='), std::string::npos)
        << ": ChildProcess environment entry \"" << variable
        << "\" is not NAME=value";
    result.push_back(variable);
  }
  return result;
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> argv,
                           const std::string &dir,
                           const std::string &stdin_text,
                           std::chrono::seconds hang_limit,
                           const std::vector<std::string> &environment)
    : command_(argv.at(0)), hang_limit_(hang_limit) {
  // One test binary may run several at once: number them per process.
  static int next_id = 0;
  const std::string prefix = dir + "/process" + std::to_string(next_id++);
  out_path_ = prefix + ".out";
  err_path_ = prefix + ".err";
  const std::string in_path = prefix + ".in";
  { std::ofstream(in_path) << stdin_text; }
  std::vector<char *> args;
  for (std::string &arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  // Built before the fork: the child must not allocate.
  std::vector<std::string> child_environment = ChildEnvironment(environment);
  std::vector<char *> envp;
  for (std::string &variable : child_environment) {
    envp.push_back(variable.data());
  }
  envp.push_back(nullptr);
  pid_ = fork();
  PCHECK(pid_ >= 0);
  if (pid_ == 0) {
    // Only async-signal-safe calls from here to exec (the test may have
    // threads): no allocation.
    const int in = open(in_path.c_str(), O_RDONLY);
    const int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
        dup2(err, 2) < 0) {
      _exit(127);
    }
    // An empty signal mask: the test may block signals (a ShmEventLoop
    // does), and the mask survives exec, so the program would not see
    // SIGINT or its own event loop's signals.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string ChildProcess::out() const { return ReadIfThere(out_path_); }

std::string ChildProcess::err() const { return ReadIfThere(err_path_); }

bool ChildProcess::running() const {
  if (pid_ <= 0 || reaped_) return false;
  if (waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

void ChildProcess::Signal(int signal) {
  if (pid_ <= 0 || reaped_) return;
  PCHECK(kill(pid_, signal) == 0);
}

ProcessExit ChildProcess::Wait() {
  CHECK_GT(pid_, 0) << ": ChildProcess::Wait() called twice for " << command_;
  const auto deadline = std::chrono::steady_clock::now() + hang_limit_;
  int status = status_;
  while (!reaped_) {
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    PCHECK(done >= 0);
    if (done == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << command_ << " hung; killing it";
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pid_ = -1;
  return ProcessExit{
      .code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
      .out = out(),
      .err = err()};
}

}  // namespace aos::testing
