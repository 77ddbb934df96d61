#ifndef AOS_NETWORK_TESTING_NETNS_H_
#define AOS_NETWORK_TESTING_NETNS_H_

// Two Linux network namespaces joined by a veth pair, and child processes
// run inside them: what the message bridge's tests and benchmarks use to put
// two "robot computers" on one machine. Needs root (CAP_SYS_ADMIN and
// CAP_NET_ADMIN) and the `ip` tool; NetnsPair::Make says why it cannot when
// it cannot, so tests can skip with that reason.
//
// The namespaces only see their own addresses (kAddress1, kAddress2 on the
// veth ends, plus loopback), so nothing a test runs reaches any other
// network. Namespace and interface names carry the process id, so tests
// running in parallel do not collide.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "aos/network/testing/impaired_link.h"
#include "aos/util/status.h"

namespace aos::message_bridge::testing {

inline constexpr std::string_view kAddress1 = "10.77.0.1";
inline constexpr std::string_view kAddress2 = "10.77.0.2";

// A child process (posix_spawn), its stdout and stderr in a file. Killed
// (SIGKILL) and reaped on destruction if still running.
class ChildProcess {
 public:
  // Starts argv[0] (looked up in PATH) with `argv`. Errors if spawning
  // fails.
  static Result<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string> &argv, const std::string &log_path);
  ChildProcess(const ChildProcess &) = delete;
  ChildProcess &operator=(const ChildProcess &) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Sends `signal`.
  void Kill(int signal);
  // Waits up to `timeout` for the process to end; returns its wait status,
  // or an error if it is still running then.
  Result<int> Wait(std::chrono::milliseconds timeout);
  // Whether it is still running (reaps it if not).
  bool Running();
  // Everything it printed so far.
  std::string Log() const;

 private:
  ChildProcess(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}

  pid_t pid_;
  bool reaped_ = false;
  int status_ = 0;
  std::string log_path_;
};

// Runs `command` through /bin/sh; returns its output, or an error with the
// output if it exits non-zero.
Result<std::string> RunCommand(const std::string &command);

class NetnsPair {
 public:
  enum class Link {
    // A veth pair.
    kVeth,
    // An ImpairedLink (TUN devices and a relay thread) whose delay, loss and
    // reordering tests set: netem in user space.
    kImpaired,
  };

  // Makes the namespaces, the link (kAddress1/24 in the first, kAddress2/24
  // in the second) and brings everything up. Errors (not root, no `ip`,
  // namespaces refused) say why.
  static Result<std::unique_ptr<NetnsPair>> Make(Link link = Link::kVeth);
  NetnsPair(const NetnsPair &) = delete;
  NetnsPair &operator=(const NetnsPair &) = delete;
  // Deletes both namespaces (and so the veth pair).
  ~NetnsPair();

  // Namespace i (1 or 2) and its end of the veth pair.
  const std::string &ns(int i) const { return i == 1 ? ns1_ : ns2_; }
  const std::string &interface(int i) const { return i == 1 ? veth1_ : veth2_; }

  // The prefix of a command run inside namespace i ("ip netns exec ...").
  std::vector<std::string> Exec(int i) const;

  // Takes both ends of the link down or up.
  Result<void> SetLinkUp(bool up);

  // The impaired link (Link::kImpaired), else nullptr.
  ImpairedLink *impaired_link() { return impaired_link_.get(); }

 private:
  NetnsPair() = default;

  std::string ns1_, ns2_, veth1_, veth2_;
  bool made_ = false;
  std::unique_ptr<ImpairedLink> impaired_link_;
};

}  // namespace aos::message_bridge::testing

#endif  // AOS_NETWORK_TESTING_NETNS_H_
