#include "aos/network/testing/netns.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "aos/ipc_lib/shm_base.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DECLARE_string(override_hostname);

namespace aos::message_bridge::testing {

std::string_view NodeAddress(int node) {
  CHECK(node == 1 || node == 2) << ": no node " << node << " (1 or 2)";
  return node == 1 ? kAddress1 : kAddress2;
}

std::unique_ptr<ShmEventLoop> MakeNodeLoop(const Configuration *configuration,
                                           int node,
                                           const std::string &shm_base) {
  FLAGS_shm_base = shm_base;
  FLAGS_override_hostname = std::string(NodeAddress(node));
  auto loop = std::make_unique<ShmEventLoop>(configuration);
  loop->SkipTimingReport();
  loop->SkipAosLog();
  return loop;
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
  Result<std::string> ip = RunCommand("command -v ip");
  if (!ip.has_value() || ip->empty()) {
    return MakeError("the `ip` tool (iproute2) is not installed");
  }
  ip->erase(ip->find_last_not_of(" \n") + 1);
  // Unique per process and per pair within it; interface names stay under
  // 16 characters.
  static std::atomic<int> counter{0};
  const std::string id =
      std::to_string(getpid()) + "x" + std::to_string(counter++);
  std::unique_ptr<NetnsPair> pair(new NetnsPair());
  pair->ip_ = *ip;
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
  return {ip_, "netns", "exec", ns(i)};
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
