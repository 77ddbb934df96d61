#ifndef AOS_NETWORK_TESTING_IMPAIRED_LINK_H_
#define AOS_NETWORK_TESTING_IMPAIRED_LINK_H_

// ImpairedLink: a point-to-point IP link between two network namespaces
// that delays, drops and reorders packets, in user space. It is what
// `tc qdisc ... netem` does on a veth pair, for kernels built without
// sch_netem (this machine's, for one): a TUN device in each namespace and a
// thread relaying IP packets between the two, holding each for `delay`,
// dropping it with probability `loss`, and holding it another 2 x `delay`
// with probability `reorder` so that later packets overtake it. Random
// choices come from a seeded generator, so a run is repeatable up to
// timing.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "aos/util/status.h"

namespace aos::message_bridge::testing {

struct Impairment {
  std::chrono::microseconds delay{0};
  // Probabilities in [0, 1].
  double loss = 0.0;
  double reorder = 0.0;
  // If not empty: every packet from namespace 1 to namespace 2 whose bytes
  // contain this is dropped (e.g. a DDS topic name, to hold back the
  // discovery message announcing one endpoint).
  std::string drop_1to2_containing;
};

class ImpairedLink {
 public:
  // Makes TUN device `interface1` in namespace `ns1` with `address1`/24 and
  // `interface2` in `ns2` with `address2`/24, brings them up and starts
  // relaying. Errors say what failed (no /dev/net/tun, not root).
  static Result<std::unique_ptr<ImpairedLink>> Make(
      const std::string &ns1, const std::string &interface1,
      std::string_view address1, const std::string &ns2,
      const std::string &interface2, std::string_view address2);
  ImpairedLink(const ImpairedLink &) = delete;
  ImpairedLink &operator=(const ImpairedLink &) = delete;
  // Stops relaying and closes the devices (they vanish with them).
  ~ImpairedLink();

  // Applies to packets read from now on, both directions.
  void Set(const Impairment &impairment);

  // Packets relayed and dropped so far (both directions).
  uint64_t relayed() const { return relayed_.load(); }
  uint64_t dropped() const { return dropped_.load(); }

 private:
  ImpairedLink(int fd1, int fd2);
  void Relay();

  const int fd1_;
  const int fd2_;
  int stop_fd_;
  std::mutex mutex_;
  Impairment impairment_;
  std::atomic<uint64_t> relayed_{0};
  std::atomic<uint64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace aos::message_bridge::testing

#endif  // AOS_NETWORK_TESTING_IMPAIRED_LINK_H_
