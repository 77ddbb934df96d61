// What the bridge decides without a network: the Cyclone configuration and
// its errors, the configuration hash, and PeerMonitor's connection state and
// clock offset from hand-made probes. Runs anywhere (no root).

#include "aos/network/peer_monitor.h"

#include <cstring>
#include <fstream>

#include "aos/configuration.h"
#include "aos/network/dds_transport.h"
#include "aos/testing/tmpdir.h"
#include "gtest/gtest.h"

namespace aos::message_bridge::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr char kConfig[] = R"({
  "channels": [
    {"name": "/test", "type": "aos.TestMessage", "source_node": "pi1",
     "destination_nodes": [{"name": "pi2", "time_to_live": TTL}]},
    {"name": "/local", "type": "aos.TestMessage", "source_node": "pi3"}
  ],
  "nodes": [
    {"name": "pi1", "hostname": "10.0.0.1"},
    {"name": "pi2", "hostname": "HOSTNAME2", "port": PORT2},
    {"name": "pi3", "hostname": "10.0.0.3"}
  ]
})";

FlatbufferDetachedBuffer<Configuration> Config(
    std::string ttl = "0", std::string hostname2 = "\"10.0.0.2\"",
    std::string port2 = "9971") {
  std::string text = kConfig;
  text.replace(text.find("TTL"), 3, ttl);
  text.replace(text.find("\"HOSTNAME2\""), 11, hostname2);
  text.replace(text.find("PORT2"), 5, port2);
  aos::testing::TempDir dir;
  const std::string path = dir.path() + "/config.json";
  std::ofstream(path) << text;
  return configuration::ReadConfig(path);
}

TEST(CycloneConfigTest, UnicastPeersOnly) {
  const auto config = Config();
  const Node *pi1 = configuration::GetNode(&config.message(), "pi1");
  Result<std::string> xml =
      CycloneConfig(&config.message(), pi1, 3, "", milliseconds(2000));
  ASSERT_TRUE(xml.has_value()) << xml.error().message();
  EXPECT_NE(xml->find("<AllowMulticast>false</AllowMulticast>"),
            std::string::npos);
  EXPECT_NE(xml->find("<Peer Address=\"10.0.0.2\"/>"), std::string::npos);
  // pi3 exchanges nothing with pi1: not a peer.
  EXPECT_EQ(xml->find("10.0.0.3"), std::string::npos);
  EXPECT_NE(xml->find("<Domain Id=\"3\">"), std::string::npos);
  EXPECT_NE(xml->find("<Base>9971</Base>"), std::string::npos);
  EXPECT_NE(xml->find("<LeaseDuration>2000 ms</LeaseDuration>"),
            std::string::npos);
}

TEST(CycloneConfigTest, Errors) {
  {
    const auto config = Config("0", "\"\"");
    Result<std::string> xml = CycloneConfig(
        &config.message(), configuration::GetNode(&config.message(), "pi1"), 0,
        "", milliseconds(2000));
    ASSERT_FALSE(xml.has_value());
    EXPECT_NE(xml.error().message().find("node \"pi2\" has no hostname"),
              std::string::npos)
        << xml.error().message();
  }
  {
    const auto config = Config("0", "\"10.0.0.2\"", "9000");
    Result<std::string> xml = CycloneConfig(
        &config.message(), configuration::GetNode(&config.message(), "pi1"), 0,
        "", milliseconds(2000));
    ASSERT_FALSE(xml.has_value());
    EXPECT_NE(xml.error().message().find("same \"port\""), std::string::npos)
        << xml.error().message();
  }
  {
    const auto config = Config();
    Result<std::string> xml = CycloneConfig(
        &config.message(), configuration::GetNode(&config.message(), "pi1"),
        231, "", milliseconds(2000));
    ASSERT_FALSE(xml.has_value());
    EXPECT_NE(xml.error().message().find("--dds_domain"), std::string::npos);
  }
}

TEST(ConfigurationHashTest, ChangesWithWhatBridgesMustAgreeOn) {
  EXPECT_EQ(ConfigurationHash(&Config().message()),
            ConfigurationHash(&Config().message()));
  EXPECT_NE(ConfigurationHash(&Config("0").message()),
            ConfigurationHash(&Config("1000").message()));
}

class PeerMonitorTest : public ::testing::Test {
 protected:
  PeerMonitorTest()
      : config_(Config()),
        pi1_(configuration::GetNode(&config_.message(), "pi1")),
        pi2_(configuration::GetNode(&config_.message(), "pi2")),
        monitor_(pi1_, pi2_, kServerRole | kClientRole, 11, 1234,
                 milliseconds(500)) {}

  // A probe from pi2's bridge (instance `instance`, boot `boot`) sent at
  // `sent` on pi2's clock.
  aos_bridge_Ping Probe(int64_t sent, const UUID &boot, uint64_t hash = 1234,
                        uint8_t roles = kServerRole | kClientRole,
                        uint64_t instance = 22) {
    aos_bridge_Ping ping;
    memset(&ping, 0, sizeof(ping));
    ping.from_node = const_cast<char *>("pi2");
    ping.to_node = const_cast<char *>("pi1");
    ping.roles = roles;
    ping.instance = instance;
    memcpy(ping.boot_uuid, boot.span().data(), UUID::kDataSize);
    ping.config_hash = hash;
    ping.sent_time = sent;
    return ping;
  }

  static monotonic_clock::time_point At(int64_t ns) {
    return monotonic_clock::time_point(nanoseconds(ns));
  }

  FlatbufferDetachedBuffer<Configuration> config_;
  const Node *pi1_;
  const Node *pi2_;
  PeerMonitor monitor_;
  const UUID boot_ = UUID::Random();
};

TEST_F(PeerMonitorTest, ConnectsTimesOutAndSeesReboots) {
  EXPECT_FALSE(monitor_.connected());
  EXPECT_NE(monitor_.disconnect_reason().find("no probe"), std::string::npos);
  EXPECT_EQ(monitor_.OnPing(Probe(1, boot_), At(1'000'000)),
            PeerMonitor::Event::kConnected);
  EXPECT_TRUE(monitor_.connected());
  EXPECT_EQ(monitor_.connection_count(), 1u);
  EXPECT_EQ(monitor_.boot_uuid(), boot_);
  EXPECT_FALSE(monitor_.CheckTimeout(At(400'000'000)));
  EXPECT_TRUE(monitor_.CheckTimeout(At(502'000'000)));
  EXPECT_FALSE(monitor_.connected());
  EXPECT_NE(monitor_.disconnect_reason().find("no probe from node \"pi2\""),
            std::string::npos);

  const UUID rebooted = UUID::Random();
  EXPECT_EQ(monitor_.OnPing(Probe(2, rebooted), At(600'000'000)),
            PeerMonitor::Event::kConnected);
  EXPECT_EQ(monitor_.connection_count(), 2u);
  EXPECT_EQ(monitor_.connected_since(), At(600'000'000));
  const UUID again = UUID::Random();
  EXPECT_EQ(monitor_.OnPing(Probe(3, again), At(700'000'000)),
            PeerMonitor::Event::kRebooted);
  EXPECT_EQ(monitor_.connection_count(), 3u);
  EXPECT_EQ(monitor_.boot_uuid(), again);
}

TEST_F(PeerMonitorTest, SameRoleIsIgnored) {
  // Our server needs a client and our client a server: a server-only
  // monitor ignores a server-only peer.
  PeerMonitor server_only(pi1_, pi2_, kServerRole, 11, 1234, milliseconds(500));
  EXPECT_EQ(server_only.OnPing(Probe(1, boot_, 1234, kServerRole), At(1)),
            PeerMonitor::Event::kNone);
  EXPECT_FALSE(server_only.connected());
  EXPECT_EQ(server_only.OnPing(Probe(1, boot_, 1234, kClientRole), At(1)),
            PeerMonitor::Event::kConnected);
}

TEST_F(PeerMonitorTest, ConfigurationMismatchIsRefusedAndCountedOnce) {
  EXPECT_EQ(monitor_.OnPing(Probe(1, boot_, 999), At(1)),
            PeerMonitor::Event::kNone);
  EXPECT_EQ(monitor_.OnPing(Probe(2, boot_, 999), At(2)),
            PeerMonitor::Event::kNone);
  EXPECT_FALSE(monitor_.connected());
  EXPECT_TRUE(monitor_.mismatched());
  EXPECT_EQ(monitor_.invalid_connection_count(), 1u);
  EXPECT_NE(monitor_.disconnect_reason().find("configuration mismatch"),
            std::string::npos);
  // Another process of the peer with the same wrong configuration counts.
  monitor_.OnPing(Probe(3, boot_, 999, kServerRole | kClientRole, 33), At(3));
  EXPECT_EQ(monitor_.invalid_connection_count(), 2u);
  // Fixed: connects.
  EXPECT_EQ(monitor_.OnPing(Probe(4, boot_), At(4)),
            PeerMonitor::Event::kConnected);
  EXPECT_FALSE(monitor_.mismatched());
}

// Peer clock = ours + 5 ms; 100 us out, 300 us back (asymmetric): the
// estimate is off by half the asymmetry and within half the round trip.
TEST_F(PeerMonitorTest, ClockOffsetFromProbes) {
  constexpr int64_t kOffset = 5'000'000;
  EXPECT_FALSE(monitor_.monotonic_offset().has_value());
  const int64_t t1 = 1'000'000'000;
  aos_bridge_Ping ours;
  // Connect first, so that our probe carries an echo to compare against.
  monitor_.OnPing(Probe(t1 - 50'000'000 + kOffset, boot_), At(t1 - 40'000'000));
  monitor_.FillPing(At(t1), boot_, &ours);
  EXPECT_EQ(ours.sent_time, t1);
  const int64_t t2 = t1 + 100'000 + kOffset;
  const int64_t t3 = t2 + 20'000'000;
  const int64_t t4 = t3 - kOffset + 300'000;
  aos_bridge_Ping answer = Probe(t3, boot_);
  answer.echo_instance = 11;
  answer.echo_sent_time = t1;
  answer.echo_received_time = t2;
  monitor_.OnPing(answer, At(t4));
  ASSERT_TRUE(monitor_.monotonic_offset().has_value());
  EXPECT_EQ(monitor_.monotonic_offset()->count(), kOffset - 100'000);
  EXPECT_EQ(monitor_.offset_error().count(), 200'000);
  // An echo of another process's probe is not ours: ignored.
  answer.echo_instance = 99;
  answer.echo_received_time = t2 + 1'000'000;
  monitor_.OnPing(answer, At(t4 + 1));
  EXPECT_EQ(monitor_.monotonic_offset()->count(), kOffset - 100'000);
}

}  // namespace
}  // namespace aos::message_bridge::testing
