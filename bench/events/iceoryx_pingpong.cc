#include "bench/events/iceoryx_pingpong.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "glog/logging.h"
#include "iceoryx_hoofs/log/logmanager.hpp"
#include "iceoryx_posh/popo/untyped_publisher.hpp"
#include "iceoryx_posh/popo/untyped_subscriber.hpp"
#include "iceoryx_posh/popo/wait_set.hpp"
#include "iceoryx_posh/runtime/posh_runtime.hpp"

namespace aos::bench {
namespace {

// iceoryx 2.0's fixed machine-wide names (see iceoryx_posh's roudi code).
constexpr char kRoudiLock[] = "/tmp/iox-unique-roudi.lock";
constexpr char kRoudiManagementShm[] = "/dev/shm/iceoryx_mgmt";
constexpr char kRoudiReady[] = "RouDi is ready for clients";

// The start of every message; the rest of the payload is written as for
// ShmEventLoop (see --write_payload in pingpong_bench.cc).
struct MessageHeader {
  int64_t send_time_ns;
  int32_t sequence;  // -1 ends the run (from pong: it was stopped).
};

// How long a player waits for the other before deciding it is gone.
constexpr auto kPeerTimeout = std::chrono::seconds(10);
// How often ping repeats its first message until pong is connected (iceoryx
// connects publishers and subscribers asynchronously, in RouDi).
constexpr auto kStartRepeat = std::chrono::milliseconds(10);

std::string ReadFile(const std::string &path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::string Tail(const std::string &text, size_t bytes) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

iox::units::Duration ToIox(std::chrono::nanoseconds duration) {
  return iox::units::Duration::fromNanoseconds(duration.count());
}

// One player (ping or pong) of a ping-pong; returns when the run is over.
void Play(bool is_ping, size_t payload, bool write_payload, int round_trips,
          int warmup, Samples *samples) {
  // iceoryx's own logging is on stdout; only its warnings belong in the
  // benchmark's output.
  iox::log::LogManager::GetLogManager().SetDefaultLogLevel(
      iox::log::LogLevel::kWarn, iox::log::LogLevelOutput::kHideLogLevel);
  const std::string name = std::string("aos_bench_") +
                           (is_ping ? "ping_" : "pong_") +
                           std::to_string(getpid());
  iox::runtime::PoshRuntime::initRuntime(
      iox::RuntimeName_t(iox::cxx::TruncateToCapacity, name.c_str()));

  const iox::capro::IdString_t size(iox::cxx::TruncateToCapacity,
                                    std::to_string(payload).c_str());
  iox::popo::PublisherOptions publisher_options;
  publisher_options.historyCapacity = 0;
  iox::popo::UntypedPublisher publisher(
      {"AosBench", is_ping ? "Ping" : "Pong", size}, publisher_options);
  // Room for ping's repeated start-up messages; the oldest are dropped.
  iox::popo::SubscriberOptions subscriber_options;
  subscriber_options.queueCapacity = 4;
  iox::popo::UntypedSubscriber subscriber(
      {"AosBench", is_ping ? "Pong" : "Ping", size}, subscriber_options);
  iox::popo::WaitSet<> waitset;
  waitset.attachState(subscriber, iox::popo::SubscriberState::HAS_DATA)
      .or_else([](auto) {
        LOG(FATAL) << "attaching the subscriber to the WaitSet failed";
      });

  auto send = [&](int32_t sequence) {
    publisher.loan(static_cast<uint32_t>(payload), alignof(MessageHeader))
        .and_then([&](void *chunk) {
          // Written in place in RouDi's shared memory: zero-copy.
          uint8_t *bytes = static_cast<uint8_t *>(chunk);
          if (write_payload) {
            memset(bytes, static_cast<uint8_t>(sequence), payload);
          } else {
            bytes[payload - 1] = static_cast<uint8_t>(sequence);
          }
          MessageHeader *header = static_cast<MessageHeader *>(chunk);
          header->sequence = sequence;
          header->send_time_ns = NowNs();
          publisher.publish(chunk);
        })
        .or_else([&](auto error) {
          LOG(FATAL) << "iceoryx could not loan a " << payload
                     << " B chunk (error " << static_cast<int>(error)
                     << "): RouDi's mempools are too small";
        });
  };

  int32_t expected = 0;  // Ping: the pong it waits for.
  auto last_event = std::chrono::steady_clock::now();
  if (is_ping) send(0);
  while (true) {
    if (StopRequested()) {
      // The benchmark was interrupted: end the peer's run too, then return
      // to unregister from RouDi.
      send(-1);
      return;
    }
    const bool starting = is_ping && expected == 0;
    const auto notifications =
        waitset.timedWait(ToIox(starting ? kStartRepeat : kPeerTimeout));
    if (notifications.empty()) {
      // A timeout, or a wakeup for a chunk already taken with the one
      // before it (the WaitSet's semaphore counts publishes).
      const auto now = std::chrono::steady_clock::now();
      if (starting && now - last_event >= kStartRepeat) {
        send(0);
        last_event = now;
      }
      CHECK(starting || now - last_event < kPeerTimeout)
          << (is_ping ? "ping" : "pong") << " heard nothing from its peer for "
          << kPeerTimeout.count() << " s";
      continue;
    }
    while (true) {
      const auto taken = subscriber.take();
      if (taken.has_error()) {
        CHECK(taken.get_error() ==
              iox::popo::ChunkReceiveResult::NO_CHUNK_AVAILABLE)
            << "iceoryx take failed: " << static_cast<int>(taken.get_error());
        break;
      }
      const int64_t now = NowNs();
      MessageHeader header;
      memcpy(&header, taken.value(), sizeof(header));
      subscriber.release(taken.value());
      if (is_ping) {
        if (header.sequence < 0) return;            // Pong was asked to stop.
        if (header.sequence != expected) continue;  // Reply to a repeat.
        if (expected >= warmup) samples->Add(now - header.send_time_ns);
        ++expected;
        if (expected == round_trips + warmup) {
          send(-1);
          return;
        }
        send(expected);
      } else {
        if (header.sequence < 0) return;
        if (header.sequence >= warmup) {
          samples->Add(now - header.send_time_ns);
        }
        send(header.sequence);
      }
    }
    // Stamped after replying, to keep it out of the measured path.
    last_event = std::chrono::steady_clock::now();
  }
}

[[noreturn]] void RunPlayer(bool is_ping, size_t payload, bool write_payload,
                            int round_trips, int warmup, int cpu,
                            Samples *samples) {
  PinToCpu(cpu);
  Play(is_ping, payload, write_payload, round_trips, warmup, samples);
  // exit, not _exit: the runtime's destructor unregisters from RouDi, which
  // then frees this process's ports at once.
  exit(0);
}

}  // namespace

Result<std::unique_ptr<IceoryxRoudi>> IceoryxRoudi::Start(
    const std::string &roudi_path, size_t max_payload, std::string *notes) {
  if (access(roudi_path.c_str(), X_OK) != 0) {
    return MakeError(roudi_path +
                     " is missing: install the Debian package iceoryx");
  }
  // RouDi holds this lock while it runs; taking it for a moment tells
  // whether one is running without disturbing it.
  const int lock = open(kRoudiLock, O_RDONLY | O_CLOEXEC);
  if (lock != -1) {
    const bool held = flock(lock, LOCK_EX | LOCK_NB) != 0;
    close(lock);
    if (held) {
      return MakeError(
          std::string("another iox-roudi is running (it holds ") + kRoudiLock +
          "); stop it: the benchmark starts its own RouDi with mempools "
          "sized for its payloads, and iceoryx 2.0 allows one per machine");
    }
  }
  if (std::filesystem::exists(kRoudiManagementShm)) {
    *notes += std::string("stale iceoryx shared memory (") +
              kRoudiManagementShm +
              ") left by a RouDi that did not shut down; RouDi removes it "
              "on start.\n";
  }

  char work_dir[] = "/tmp/aos_iceoryx_bench.XXXXXX";
  if (mkdtemp(work_dir) == nullptr) {
    return MakeError(std::string("creating a temporary directory: ") +
                     strerror(errno));
  }
  const std::string config = std::string(work_dir) + "/roudi_config.toml";
  const std::string log = std::string(work_dir) + "/roudi.log";
  {
    // Small chunks for the 64 B case, large ones for the biggest payload
    // plus iceoryx's chunk header; enough of each for the queues of two
    // players and a loan each.
    std::ofstream out(config);
    out << "[general]\nversion = 1\n\n[[segment]]\n\n"
        << "[[segment.mempool]]\nsize = 128\ncount = 256\n\n"
        << "[[segment.mempool]]\nsize = " << max_payload + 4096
        << "\ncount = 16\n";
    if (!out.good()) {
      std::filesystem::remove_all(work_dir);
      return MakeError("writing " + config);
    }
  }

  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid == -1) {
    std::filesystem::remove_all(work_dir);
    return MakeError(std::string("fork: ") + strerror(errno));
  }
  if (pid == 0) {
    // RouDi must not outlive a benchmark that dies.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    RestoreStopSignals();
    const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out == -1 || dup2(out, STDOUT_FILENO) == -1 ||
        dup2(out, STDERR_FILENO) == -1) {
      _exit(126);
    }
    // Monitoring off: a player starved of CPU by the shared machine's load
    // must not be declared dead in the middle of a run.
    execl(roudi_path.c_str(), "iox-roudi", "-c", config.c_str(), "-l", "info",
          "-m", "off", nullptr);
    _exit(127);
  }
  std::unique_ptr<IceoryxRoudi> roudi(new IceoryxRoudi(pid, work_dir));

  const auto deadline = std::chrono::steady_clock::now() + kPeerTimeout;
  while (ReadFile(log).find(kRoudiReady) == std::string::npos) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      roudi->pid_ = 0;
      return MakeError("iox-roudi exited (status " + std::to_string(status) +
                       ") before accepting clients; its log:\n" +
                       Tail(ReadFile(log), 1000));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return MakeError("iox-roudi did not accept clients within " +
                       std::to_string(kPeerTimeout.count()) + " s; its log:\n" +
                       Tail(ReadFile(log), 1000));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return roudi;
}

IceoryxRoudi::~IceoryxRoudi() {
  if (pid_ > 0) {
    // SIGTERM lets RouDi remove its shared memory, sockets and lock.
    kill(pid_, SIGTERM);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status;
    while (waitpid(pid_, &status, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > deadline) {
        LOG(WARNING) << "iox-roudi ignored SIGTERM for 5 s; killing it (its "
                        "shared memory stays until the next RouDi starts)";
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::filesystem::remove_all(work_dir_);
}

std::vector<int64_t> RunIceoryxCase(size_t payload, bool write_payload,
                                    int round_trips, int warmup, int ping_cpu,
                                    int pong_cpu, Samples *samples) {
  CHECK_GE(payload, sizeof(MessageHeader))
      << ": an iceoryx ping-pong message carries its send time";
  // Players stop by themselves when asked (see Play): one killed without
  // unregistering makes RouDi abort when it stops, leaving its shared memory.
  const pid_t pong = ForkPlayer(OnStop::kFinish);
  if (pong == 0) {
    RunPlayer(false, payload, write_payload, round_trips, warmup, pong_cpu,
              samples);
  }
  const pid_t ping = ForkPlayer(OnStop::kFinish);
  if (ping == 0) {
    RunPlayer(true, payload, write_payload, round_trips, warmup, ping_cpu,
              samples);
  }
  WaitFor(ping, pong);
  WaitFor(pong, 0);
  return samples->Take();
}

}  // namespace aos::bench
