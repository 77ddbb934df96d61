#ifndef AOS_NETWORK_MESSAGE_BRIDGE_TEST_FIXTURE_H_
#define AOS_NETWORK_MESSAGE_BRIDGE_TEST_FIXTURE_H_

// The fixture of the message bridge tests (message_bridge_test.cc and
// message_bridge_impaired_test.cc): two network namespaces joined by a link,
// a message_bridge process started in each on demand (each with its own
// boot UUID and --shm_base), and ShmEventLoops of either node in the test's
// process (namespaces do not separate files). Tests skip, with the reason,
// where namespaces cannot be made (not root).

#include <signal.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/shm_event_loop.h"
#include "aos/events/simulated_event_loop.h"
#include "aos/events/test_message_generated.h"
#include "aos/network/dds_transport.h"
#include "aos/network/message_bridge_client_generated.h"
#include "aos/network/message_bridge_server_generated.h"
#include "aos/network/remote_message_generated.h"
#include "aos/network/testing/netns.h"
#include "aos/network/timestamp_generated.h"
#include "aos/testing/tmpdir.h"
#include "gtest/gtest.h"

namespace aos::message_bridge::testing {

using std::chrono::milliseconds;

// Sanitizers slow the bridges and this test (ThreadSanitizer 5-15x on a
// loaded machine): the waits below and the peer timeout scale with it, so
// that a slow run is not a failure.
#if defined(__SANITIZE_THREAD__)
constexpr int kSlowdown = 5;
#elif defined(__SANITIZE_ADDRESS__)
constexpr int kSlowdown = 2;
#else
constexpr int kSlowdown = 1;
#endif

// Polls `done` every 2 ms until it returns true or `timeout` (times
// kSlowdown) passes.
inline bool WaitFor(const std::function<bool()> &done,
                    milliseconds timeout = milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout * kSlowdown;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

inline void SendValue(Sender<TestMessage> *sender, int value) {
  auto builder = sender->MakeBuilder();
  TestMessage::Builder message = builder.MakeBuilder<TestMessage>();
  message.add_value(value);
  builder.CheckOk(builder.Send(message.Finish()));
}

// The test configuration (testdata/bridge_test.json) with the namespaces'
// addresses as hostnames, written to `path`. `extra` adds a channel, which
// changes the configuration hash.
inline std::string WriteConfig(const std::string &path, int64_t ttl_ns,
                               bool extra = false) {
  std::ifstream in(AOS_NETWORK_TESTDATA_DIR "/bridge_test.json");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  auto replace = [&](std::string_view from, std::string_view to) {
    for (size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size())) {
      text.replace(at, from.size(), to);
    }
  };
  replace("TTL_NS", std::to_string(ttl_ns));
  replace("PI1_ADDRESS", kAddress1);
  replace("PI2_ADDRESS", kAddress2);
  replace("PORT", "9971");
  if (extra) {
    replace("\"channels\": [",
            "\"channels\": [{\"name\": \"/extra\", \"type\": "
            "\"aos.TestMessage\", \"source_node\": \"pi1\"},");
  }
  std::ofstream out(path);
  out << text;
  return path;
}

class MessageBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<NetnsPair>> pair = NetnsPair::Make(link_);
    if (!pair.has_value()) {
      GTEST_SKIP() << "Cannot run nodes in network namespaces: "
                   << pair.error().message();
    }
    pair_ = std::move(*pair);
    UseConfig(100'000'000);
  }

  // Writes and reads the configuration with `ttl_ns` as /unreliable's
  // time_to_live, for the bridges and loops started after.
  void UseConfig(int64_t ttl_ns) {
    config_path_ = WriteConfig(
        dir_.path() + "/config" + std::to_string(ttl_ns) + ".json", ttl_ns);
    config_ = std::make_unique<FlatbufferDetachedBuffer<Configuration>>(
        configuration::ReadConfig(config_path_));
  }

  std::string ShmBase(int node) const {
    return dir_.path() + "/shm" + std::to_string(node);
  }

  // Starts node `node`'s (1: pi1, 2: pi2) bridge with a fresh boot UUID
  // (its own view of /proc/sys/kernel/random/boot_id, as after a reboot).
  std::unique_ptr<ChildProcess> StartBridge(
      int node, std::string config_path = "",
      std::vector<std::string> extra_flags = {}) {
    if (config_path.empty()) config_path = config_path_;
    boot_uuids_[node] = UUID::Random();
    const std::string boot_file = dir_.path() + "/boot_id" +
                                  std::to_string(node) + "_" +
                                  std::to_string(starts_++);
    std::ofstream(boot_file) << boot_uuids_[node].ToString() << "\n";
    std::vector<std::string> argv = pair_->Exec(node);
    for (const std::string &arg :
         {std::string("unshare"), std::string("-m"), std::string("sh"),
          std::string("-c"),
          "mount --bind " + boot_file +
              " /proc/sys/kernel/random/boot_id && exec \"$0\" \"$@\"",
          std::string(AOS_MESSAGE_BRIDGE), "--config=" + config_path,
          "--override_hostname=" + std::string(NodeAddress(node)),
          "--shm_base=" + ShmBase(node),
          "--peer_timeout_ms=" + std::to_string(1000 * kSlowdown),
          std::string("--dds_lease_ms=1000")}) {
      argv.push_back(arg);
    }
    for (const std::string &flag : extra_flags) argv.push_back(flag);
    return std::make_unique<ChildProcess>(std::move(argv), dir_.path());
  }

  // Both nodes' bridges, with the same `extra_flags`:
  // `auto [bridge1, bridge2] = StartBridges();`.
  std::pair<std::unique_ptr<ChildProcess>, std::unique_ptr<ChildProcess>>
  StartBridges(std::vector<std::string> extra_flags = {}) {
    std::unique_ptr<ChildProcess> bridge1 = StartBridge(1, "", extra_flags);
    return {std::move(bridge1), StartBridge(2, "", std::move(extra_flags))};
  }

  // An event loop of node `node` in this process, on that node's shm.
  std::unique_ptr<ShmEventLoop> MakeLoop(int node) {
    return MakeNodeLoop(&config_->message(), node, ShmBase(node));
  }

  // The /big channel (1 MiB messages, pi1 -> pi2) as `loop`'s node sees it.
  const Channel *BigChannel(const EventLoop &loop) const {
    const Channel *channel = configuration::GetChannel(
        &config_->message(), "/big", "aos.TestMessage", "", loop.node());
    CHECK(channel != nullptr) << ": bridge_test.json lost its /big channel";
    return channel;
  }

  // Waits until `fetcher`'s latest statistics say the one connection is
  // CONNECTED (`connected`) or not.
  template <typename Statistics>
  bool WaitForState(Fetcher<Statistics> *fetcher, bool connected,
                    milliseconds timeout = milliseconds(10000)) {
    return WaitFor(
        [&]() {
          fetcher->Fetch();
          if (fetcher->get() == nullptr ||
              fetcher->get()->connections() == nullptr ||
              fetcher->get()->connections()->size() != 1) {
            return false;
          }
          return (fetcher->get()->connections()->Get(0)->state() ==
                  State::CONNECTED) == connected;
        },
        timeout);
  }

  NetnsPair::Link link_ = NetnsPair::Link::kVeth;
  aos::testing::TempDir dir_;
  std::unique_ptr<NetnsPair> pair_;
  std::string config_path_;
  std::unique_ptr<FlatbufferDetachedBuffer<Configuration>> config_;
  UUID boot_uuids_[3] = {UUID::Zero(), UUID::Zero(), UUID::Zero()};
  int starts_ = 0;
};

}  // namespace aos::message_bridge::testing

#endif  // AOS_NETWORK_MESSAGE_BRIDGE_TEST_FIXTURE_H_
