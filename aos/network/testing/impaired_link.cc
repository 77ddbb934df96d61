#include "aos/network/testing/impaired_link.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "aos/network/testing/netns.h"
#include "glog/logging.h"

namespace aos::message_bridge::testing {
namespace {

// Opens a TUN device named `interface` in network namespace `ns`. setns()
// moves only the calling thread, so a helper thread does it and the device
// stays in `ns` after the thread ends.
Result<int> OpenTun(const std::string &ns, const std::string &interface) {
  Result<int> result = MakeError("not run");
  std::thread([&]() {
    const int ns_fd = open(("/var/run/netns/" + ns).c_str(), O_RDONLY);
    if (ns_fd < 0) {
      result =
          MakeError("cannot open namespace " + ns + ": " + strerror(errno));
      return;
    }
    const int entered = setns(ns_fd, CLONE_NEWNET);
    close(ns_fd);
    if (entered != 0) {
      result =
          MakeError("cannot enter namespace " + ns + ": " + strerror(errno));
      return;
    }
    const int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      result = MakeError(std::string("cannot open /dev/net/tun: ") +
                         strerror(errno));
      return;
    }
    ifreq request;
    memset(&request, 0, sizeof(request));
    request.ifr_flags = IFF_TUN | IFF_NO_PI;
    strncpy(request.ifr_name, interface.c_str(), IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &request) != 0) {
      result = MakeError("cannot make TUN device " + interface + ": " +
                         strerror(errno));
      close(fd);
      return;
    }
    result = fd;
  }).join();
  return result;
}

}  // namespace

Result<std::unique_ptr<ImpairedLink>> ImpairedLink::Make(
    const std::string &ns1, const std::string &interface1,
    std::string_view address1, const std::string &ns2,
    const std::string &interface2, std::string_view address2) {
  Result<int> fd1 = OpenTun(ns1, interface1);
  if (!fd1.has_value()) return std::unexpected(fd1.error());
  Result<int> fd2 = OpenTun(ns2, interface2);
  if (!fd2.has_value()) {
    close(*fd1);
    return std::unexpected(fd2.error());
  }
  std::unique_ptr<ImpairedLink> link(new ImpairedLink(*fd1, *fd2));
  const std::string commands[] = {
      "ip -n " + ns1 + " addr add " + std::string(address1) + "/24 dev " +
          interface1,
      "ip -n " + ns2 + " addr add " + std::string(address2) + "/24 dev " +
          interface2,
      "ip -n " + ns1 + " link set " + interface1 + " up",
      "ip -n " + ns2 + " link set " + interface2 + " up",
  };
  for (const std::string &command : commands) {
    if (Result<std::string> done = RunCommand(command); !done.has_value()) {
      return std::unexpected(done.error());
    }
  }
  return link;
}

ImpairedLink::ImpairedLink(int fd1, int fd2)
    : fd1_(fd1), fd2_(fd2), stop_fd_(eventfd(0, EFD_CLOEXEC)) {
  PCHECK(stop_fd_ >= 0);
  thread_ = std::thread([this]() { Relay(); });
}

ImpairedLink::~ImpairedLink() {
  const uint64_t one = 1;
  PCHECK(write(stop_fd_, &one, sizeof(one)) == sizeof(one));
  thread_.join();
  close(fd1_);
  close(fd2_);
  close(stop_fd_);
}

void ImpairedLink::Set(const Impairment &impairment) {
  std::lock_guard<std::mutex> lock(mutex_);
  impairment_ = impairment;
}

void ImpairedLink::Relay() {
  using Clock = std::chrono::steady_clock;
  struct Packet {
    int to;
    std::vector<uint8_t> bytes;
  };
  // Due time -> packet; equal times keep arrival order (multimap).
  std::multimap<Clock::time_point, Packet> pending;
  std::mt19937 random(42);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<uint8_t> buffer(65536);
  while (true) {
    int timeout_ms = -1;
    if (!pending.empty()) {
      const auto wait = pending.begin()->first - Clock::now();
      timeout_ms = std::max<int>(
          0, static_cast<int>(
                 std::chrono::ceil<std::chrono::milliseconds>(wait).count()));
    }
    pollfd fds[3] = {
        {fd1_, POLLIN, 0}, {fd2_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    poll(fds, 3, timeout_ms);
    if (fds[2].revents & POLLIN) return;
    Impairment impairment;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      impairment = impairment_;
    }
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      while (true) {
        const ssize_t size = read(fds[i].fd, buffer.data(), buffer.size());
        if (size <= 0) break;
        const std::string_view bytes(
            reinterpret_cast<const char *>(buffer.data()),
            static_cast<size_t>(size));
        if (uniform(random) < impairment.loss ||
            (i == 0 && !impairment.drop_1to2_containing.empty() &&
             bytes.find(impairment.drop_1to2_containing) !=
                 std::string_view::npos)) {
          ++dropped_;
          continue;
        }
        auto due = Clock::now() + impairment.delay;
        if (uniform(random) < impairment.reorder) due += 2 * impairment.delay;
        pending.emplace(due,
                        Packet{i == 0 ? fd2_ : fd1_,
                               std::vector<uint8_t>(buffer.begin(),
                                                    buffer.begin() + size)});
      }
    }
    const auto now = Clock::now();
    while (!pending.empty() && pending.begin()->first <= now) {
      const Packet &packet = pending.begin()->second;
      // A full device queue drops, as a real link would.
      if (write(packet.to, packet.bytes.data(), packet.bytes.size()) > 0) {
        ++relayed_;
      } else {
        ++dropped_;
      }
      pending.erase(pending.begin());
    }
  }
}

}  // namespace aos::message_bridge::testing
