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

#include "aos/events/shm_event_loop.h"
#include "aos/network/testing/impaired_link.h"
#include "aos/testing/process.h"
#include "aos/util/status.h"

namespace aos::message_bridge::testing {

inline constexpr std::string_view kAddress1 = "10.77.0.1";
inline constexpr std::string_view kAddress2 = "10.77.0.2";

// Node `node`'s (1 or 2) address, kAddress1 or kAddress2: also its hostname
// in the tests' and the bench's configurations.
std::string_view NodeAddress(int node);

// An event loop of node `node` (1 or 2, found by its hostname
// NodeAddress(node)) in this process, on the shared memory under
// `shm_base`: the applications a test or bench runs "on" that node (shared
// memory does not care about network namespaces). Sets --shm_base and
// --override_hostname, which the loop reads when it is made. Sends no timing
// reports and no log.
std::unique_ptr<ShmEventLoop> MakeNodeLoop(const Configuration *configuration,
                                           int node,
                                           const std::string &shm_base);

// The programs tests run inside the namespaces (the bridges, the bench's
// ends): aos::testing's, started with Exec(i) as the start of argv.
using ::aos::testing::ChildProcess;
using ::aos::testing::ProcessExit;

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

  // The prefix of a command run inside namespace i ("/path/to/ip netns exec
  // ..."; ChildProcess does not search $PATH).
  std::vector<std::string> Exec(int i) const;

  // Takes both ends of the link down or up.
  Result<void> SetLinkUp(bool up);

  // The impaired link (Link::kImpaired), else nullptr.
  ImpairedLink *impaired_link() { return impaired_link_.get(); }

 private:
  NetnsPair() = default;

  std::string ip_;
  std::string ns1_, ns2_, veth1_, veth2_;
  bool made_ = false;
  std::unique_ptr<ImpairedLink> impaired_link_;
};

}  // namespace aos::message_bridge::testing

#endif  // AOS_NETWORK_TESTING_NETNS_H_
