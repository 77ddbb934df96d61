#include "aos/network/testing/netns.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "glog/logging.h"

extern char **environ;

namespace aos::message_bridge::testing {

Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string> &argv, const std::string &log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  // The child starts with default signal handling and nothing blocked
  // (ShmEventLoop blocks its wakeup signal in this process).
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attributes, &empty);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char *> args;
  for (const std::string &arg : argv) {
    args.push_back(const_cast<char *>(arg.c_str()));
  }
  args.push_back(nullptr);
  pid_t pid;
  const int error =
      posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) {
    return MakeError("cannot start " + argv[0] + ": " + strerror(error));
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, log_path));
}

ChildProcess::~ChildProcess() {
  if (!reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
}

void ChildProcess::Kill(int signal) {
  if (!reaped_) kill(pid_, signal);
}

bool ChildProcess::Running() {
  if (reaped_) return false;
  const pid_t result = waitpid(pid_, &status_, WNOHANG);
  if (result == pid_) reaped_ = true;
  return !reaped_;
}

Result<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return MakeError("process " + std::to_string(pid_) +
                       " still running after " +
                       std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status_;
}

std::string ChildProcess::Log() const {
  std::ifstream file(log_path_);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

Result<std::string> RunCommand(const std::string &command) {
  FILE *pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return MakeError("cannot run: " + command);
  std::string output;
  char buffer[512];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output.append(buffer, n);
  }
  const int status = pclose(pipe);
  if (status != 0) {
    return MakeError("`" + command + "` failed (status " +
                     std::to_string(status) + "): " + output);
  }
  return output;
}

Result<std::unique_ptr<NetnsPair>> NetnsPair::Make(Link link) {
  if (geteuid() != 0) {
    return MakeError(
        "network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN); "
        "run as root to test the bridge across namespaces");
  }
  if (!RunCommand("command -v ip").has_value()) {
    return MakeError("the `ip` tool (iproute2) is not installed");
  }
  // Unique per process and per pair within it; interface names stay under
  // 16 characters.
  static std::atomic<int> counter{0};
  const std::string id =
      std::to_string(getpid()) + "x" + std::to_string(counter++);
  std::unique_ptr<NetnsPair> pair(new NetnsPair());
  pair->ns1_ = "aosb" + id + "a";
  pair->ns2_ = "aosb" + id + "b";
  pair->veth1_ = "ab" + id + "a";
  pair->veth2_ = "ab" + id + "b";
  if (Result<std::string> made = RunCommand("ip netns add " + pair->ns1_);
      !made.has_value()) {
    return MakeError("cannot make a network namespace: " +
                     made.error().message());
  }
  pair->made_ = true;
  std::vector<std::string> commands = {
      "ip netns add " + pair->ns2_,
      "ip -n " + pair->ns1_ + " link set lo up",
      "ip -n " + pair->ns2_ + " link set lo up",
  };
  if (link == Link::kVeth) {
    for (const std::string &command :
         {"ip link add " + pair->veth1_ + " netns " + pair->ns1_ +
              " type veth peer name " + pair->veth2_ + " netns " + pair->ns2_,
          "ip -n " + pair->ns1_ + " addr add " + std::string(kAddress1) +
              "/24 dev " + pair->veth1_,
          "ip -n " + pair->ns2_ + " addr add " + std::string(kAddress2) +
              "/24 dev " + pair->veth2_,
          "ip -n " + pair->ns1_ + " link set " + pair->veth1_ + " up",
          "ip -n " + pair->ns2_ + " link set " + pair->veth2_ + " up"}) {
      commands.push_back(command);
    }
  }
  for (const std::string &command : commands) {
    if (Result<std::string> result = RunCommand(command); !result.has_value()) {
      return MakeError("cannot set up the namespaces: " +
                       result.error().message());
    }
  }
  if (link == Link::kImpaired) {
    Result<std::unique_ptr<ImpairedLink>> impaired =
        ImpairedLink::Make(pair->ns1_, pair->veth1_, kAddress1, pair->ns2_,
                           pair->veth2_, kAddress2);
    if (!impaired.has_value()) {
      return MakeError("cannot make the impaired link: " +
                       impaired.error().message());
    }
    pair->impaired_link_ = std::move(*impaired);
  }
  return pair;
}

NetnsPair::~NetnsPair() {
  impaired_link_.reset();
  if (!made_) return;
  // Deleting a namespace deletes the veth end in it, and so the pair.
  for (const std::string &ns : {ns1_, ns2_}) {
    if (Result<std::string> result = RunCommand("ip netns del " + ns);
        !result.has_value()) {
      LOG(WARNING) << result.error().message();
    }
  }
}

std::vector<std::string> NetnsPair::Exec(int i) const {
  return {"ip", "netns", "exec", ns(i)};
}

Result<void> NetnsPair::SetLinkUp(bool up) {
  for (int i : {1, 2}) {
    Result<std::string> result =
        RunCommand("ip -n " + ns(i) + " link set " + interface(i) +
                   (up ? " up" : " down"));
    if (!result.has_value()) return std::unexpected(result.error());
  }
  return {};
}

}  // namespace aos::message_bridge::testing
