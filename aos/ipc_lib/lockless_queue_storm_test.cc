// The queue's promise tried as an operator would (issue 13 §1): real
// ShmEventLoop processes, real SIGKILLs.
//
// - A sender killed by the kernel exactly at its wakeup syscall (seccomp),
//   with nobody sending after it: an idle watcher in another process still
//   gets its last message, within ipc_lib::kMaxWatcherSleep.
// - A kill storm: sender and watcher processes SIGKILLed at random hundreds
//   of times while an auditor process (never killed) checks every message's
//   content, that each sender's messages arrive complete and in order, and
//   how long each waited.
//
// Each test is bounded (a few seconds) and cleans up its processes.

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/shm_event_loop.h"
#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/process_test_util.h"
#include "gtest/gtest.h"

namespace aos::ipc_lib::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

#if defined(__x86_64__)

// /storm holds 10,000 messages (100 ms at its frequency), far more than the
// storm sends in the time an auditor could plausibly be descheduled.
constexpr std::string_view kConfig = R"json({
  "channels": [
    {"name": "/storm", "type": "aos.TestMessage", "frequency": 100000,
     "channel_storage_duration": 100000000, "max_size": 64,
     "num_senders": 10, "num_watchers": 10}
  ]
})json";

FlatbufferDetachedBuffer<Configuration> Config() {
  return configuration::MergeWithConfig(
      &FlatbufferDetachedBuffer<Configuration>::Empty().message(), kConfig);
}

const Channel *StormChannel(const Configuration *config) {
  return configuration::GetChannel(config, "/storm", "aos.TestMessage", "",
                                   nullptr);
}

// One message: who sent it, its place in that sender's stream, and a check
// word that a torn or corrupted message fails.
struct StormMessage {
  int32_t sender;
  uint32_t seq;
  uint64_t check;
  uint64_t filler[4];
};

uint64_t Check(int32_t sender, uint32_t seq) {
  uint64_t x =
      (static_cast<uint64_t>(static_cast<uint32_t>(sender)) << 32) | seq;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

StormMessage MakeMessage(int32_t sender, uint32_t seq) {
  StormMessage message;
  message.sender = sender;
  message.seq = seq;
  message.check = Check(sender, seq);
  for (size_t i = 0; i < std::size(message.filler); ++i) {
    message.filler[i] = message.check + i;
  }
  return message;
}

bool Valid(const StormMessage &message) {
  if (message.check != Check(message.sender, message.seq)) return false;
  for (size_t i = 0; i < std::size(message.filler); ++i) {
    if (message.filler[i] != message.check + i) return false;
  }
  return true;
}

// What the auditor reports when it ends.
struct AuditReport {
  uint64_t messages = 0;
  uint64_t errors = 0;
  uint64_t senders = 0;
  int64_t max_delay_ns = 0;
  // The newest message in the queue when the auditor ended was delivered.
  bool saw_newest = false;
  char first_error[160] = {};
};

// Reads exactly `size` bytes from `fd`, waiting at most `timeout`.
bool ReadWithin(int fd, void *data, size_t size, milliseconds timeout) {
  char *cursor = static_cast<char *>(data);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (size > 0) {
    const auto left = std::chrono::duration_cast<milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) != 1) continue;
    const ssize_t got = read(fd, cursor, size);
    if (got <= 0) return false;
    cursor += got;
    size -= static_cast<size_t>(got);
  }
  return true;
}

// Runs `body` in a child process that never returns to the test.
template <typename Body>
pid_t Spawn(Body body) {
  const pid_t child = fork();
  CHECK_GE(child, 0);
  if (child == 0) {
    // A stuck child must not outlive the test.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    alarm(30);
    _exit(body());
  }
  return child;
}

// The auditor: watches /storm until SIGTERM, checks every message, and writes
// an AuditReport to `report_fd`. Writes one byte to `report_fd` once it
// watches.
int RunAuditor(const Configuration *config, int report_fd) {
  ShmEventLoop loop(config);
  loop.set_name("auditor");
  loop.SkipTimingReport();
  const Channel *channel = StormChannel(config);
  AuditReport report;
  std::unordered_map<int32_t, uint32_t> next_seq;
  auto error = [&](const std::string &what) {
    if (report.errors++ == 0) {
      snprintf(report.first_error, sizeof(report.first_error), "%s",
               what.c_str());
    }
  };
  loop.MakeRawWatcher(channel, [&](const Context &context, const void *data) {
    const int64_t delay =
        (monotonic_clock::now() - context.monotonic_event_time).count();
    report.max_delay_ns = std::max(report.max_delay_ns, delay);
    ++report.messages;
    if (context.size != sizeof(StormMessage)) {
      error("message of " + std::to_string(context.size) + " bytes");
      return;
    }
    StormMessage message;
    memcpy(&message, data, sizeof(message));
    if (!Valid(message)) {
      error("corrupt message from " + std::to_string(message.sender));
      return;
    }
    auto [it, first] = next_seq.emplace(message.sender, 0);
    if (message.seq != it->second) {
      error("sender " + std::to_string(message.sender) + ": got seq " +
            std::to_string(message.seq) + ", expected " +
            std::to_string(it->second));
    }
    it->second = message.seq + 1;
  });
  loop.OnRun([&]() {
    const char ready = 'r';
    CHECK_EQ(write(report_fd, &ready, 1), 1);
  });
  CHECK(loop.Run().has_value());
  // Everything published was delivered: the newest message is one we saw.
  std::unique_ptr<RawFetcher> fetcher = loop.MakeRawFetcher(channel);
  if (fetcher->Fetch()) {
    StormMessage newest;
    memcpy(&newest, fetcher->context().data, sizeof(newest));
    auto it = next_seq.find(newest.sender);
    report.saw_newest = it != next_seq.end() && it->second > newest.seq;
  }
  report.senders = next_seq.size();
  CHECK_EQ(write(report_fd, &report, sizeof(report)),
           static_cast<ssize_t>(sizeof(report)));
  return 0;
}

// Sender `me`: bursts of `burst` messages every `period`, numbered from 0.
// (Ids, not pids: a reused pid would look like a sender that went back.)
int RunSender(const Configuration *config, int32_t me, int burst,
              nanoseconds period) {
  ShmEventLoop loop(config);
  loop.SkipTimingReport();
  std::unique_ptr<RawSender> sender = loop.MakeRawSender(StormChannel(config));
  uint32_t seq = 0;
  TimerHandler *timer = loop.AddTimer([&]() {
    for (int i = 0; i < burst; ++i) {
      const StormMessage message = MakeMessage(me, seq++);
      if (sender->Send(&message, sizeof(message)) != RawSender::Error::kOk) {
        _exit(3);
      }
    }
  });
  loop.OnRun([&]() { timer->Schedule(loop.monotonic_now(), period); });
  CHECK(loop.Run().has_value());
  return 0;
}

// A watcher that may be killed: checks content, exits 1 on a bad message.
int RunWatcher(const Configuration *config) {
  ShmEventLoop loop(config);
  loop.SkipTimingReport();
  loop.MakeRawWatcher(StormChannel(config),
                      [](const Context &context, const void *data) {
                        StormMessage message;
                        if (context.size != sizeof(message)) _exit(1);
                        memcpy(&message, data, sizeof(message));
                        if (!Valid(message)) _exit(1);
                      });
  CHECK(loop.Run().has_value());
  return 0;
}

struct Auditor {
  pid_t pid;
  int fd;
};

Auditor StartAuditor(const Configuration *config) {
  int fds[2];
  PCHECK(pipe(fds) == 0);
  const pid_t pid = Spawn([&]() {
    close(fds[0]);
    return RunAuditor(config, fds[1]);
  });
  close(fds[1]);
  char ready;
  CHECK(ReadWithin(fds[0], &ready, 1, milliseconds(10000)))
      << ": the auditor did not start";
  return {pid, fds[0]};
}

AuditReport StopAuditor(const Auditor &auditor) {
  CHECK_EQ(kill(auditor.pid, SIGTERM), 0);
  AuditReport report;
  const bool got =
      ReadWithin(auditor.fd, &report, sizeof(report), milliseconds(10000));
  int status;
  CHECK_EQ(waitpid(auditor.pid, &status, 0), auditor.pid);
  close(auditor.fd);
  CHECK(got) << ": the auditor died (status " << status
             << "); did it fall behind?";
  return report;
}

class StormTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "fork-based: ThreadSanitizer does not follow the children";
#endif
  }
  FlatbufferDetachedBuffer<Configuration> config_ = Config();
};

// Killed at its wakeup syscall, with nobody sending after it: the last
// message still reaches an idle watcher, within kMaxWatcherSleep.
TEST_F(StormTest, DeadSendersLastMessageArrivesWithinBound) {
  const Configuration *config = &config_.message();
  const Auditor auditor = StartAuditor(config);
  constexpr int kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    // Let the watcher go to sleep (arm) first.
    std::this_thread::sleep_for(milliseconds(5));
    const pid_t sender = Spawn([&]() {
      ShmEventLoop loop(config);
      loop.SkipTimingReport();
      std::unique_ptr<RawSender> raw = loop.MakeRawSender(StormChannel(config));
      KillProcessAtSyscall(SYS_rt_tgsigqueueinfo);
      const StormMessage message = MakeMessage(1000 + round, 0);
      (void)raw->Send(&message, sizeof(message));
      return 4;  // Not reached: the wakeup syscall kills us.
    });
    int status;
    ASSERT_EQ(waitpid(sender, &status, 0), sender);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
        << "the sender was not killed at its wakeup: status " << status;
  }
  // Long enough for the last one to arrive through the recheck.
  std::this_thread::sleep_for(kMaxWatcherSleep * 3);
  const AuditReport report = StopAuditor(auditor);
  EXPECT_EQ(report.errors, 0u) << report.first_error;
  EXPECT_EQ(report.messages, static_cast<uint64_t>(kRounds));
  EXPECT_TRUE(report.saw_newest);
  const double max_delay_ms = report.max_delay_ns / 1e6;
  LOG(INFO) << "Dead senders' last messages: " << report.messages
            << " delivered, max delay " << max_delay_ms << " ms (bound "
            << kMaxWatcherSleep.count() << " ms)";
  // The bound plus scheduling slack on a loaded machine.
  EXPECT_LE(report.max_delay_ns,
            nanoseconds(kMaxWatcherSleep + milliseconds(500)).count());
}

// Hundreds of SIGKILLs of senders and watchers; the auditor, never killed,
// must see every message whole, in order per sender, with nothing missed.
TEST_F(StormTest, KillStorm) {
  const Configuration *config = &config_.message();
  const Auditor auditor = StartAuditor(config);
  constexpr int kSenders = 3;
  constexpr int kWatchers = 2;
  int32_t next_sender_id = 0;
  auto spawn_sender = [&]() {
    const int32_t id = next_sender_id++;
    return Spawn([&]() { return RunSender(config, id, 2, milliseconds(1)); });
  };
  auto spawn_watcher = [&]() {
    return Spawn([&]() { return RunWatcher(config); });
  };
  std::vector<pid_t> senders, watchers;
  for (int i = 0; i < kSenders; ++i) senders.push_back(spawn_sender());
  for (int i = 0; i < kWatchers; ++i) watchers.push_back(spawn_watcher());

  std::mt19937 random(42);
  int kills = 0;
  int sender_kills = 0;
  int unexpected_exits = 0;
  auto kill_and_reap = [&](pid_t pid) {
    CHECK_EQ(kill(pid, SIGKILL), 0);
    int status;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      ++unexpected_exits;
      LOG(ERROR) << "child " << pid << " ended on its own: status " << status;
    }
  };
  // 300 kills, or at most 8 s of storm (respawning is slow under ASan:
  // ~100 kills in 4 s there, ~300 in Release).
  const auto start = std::chrono::steady_clock::now();
  while (kills < 300 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(8)) {
    std::this_thread::sleep_for(
        std::chrono::microseconds(300 + random() % 3000));
    ++kills;
    if (random() % 10 < 7) {
      const size_t victim = random() % senders.size();
      kill_and_reap(senders[victim]);
      senders[victim] = spawn_sender();
      ++sender_kills;
    } else {
      const size_t victim = random() % watchers.size();
      kill_and_reap(watchers[victim]);
      watchers[victim] = spawn_watcher();
    }
  }
  for (pid_t pid : senders) kill_and_reap(pid);
  for (pid_t pid : watchers) kill_and_reap(pid);
  // The last senders may have died before signalling: give the auditor its
  // recheck period, then stop it.
  std::this_thread::sleep_for(kMaxWatcherSleep * 3);
  const AuditReport report = StopAuditor(auditor);

  LOG(INFO) << "Kill storm: " << kills + kSenders + kWatchers << " SIGKILLs ("
            << sender_kills + kSenders << " of senders), " << report.messages
            << " messages from " << report.senders << " senders checked, "
            << report.errors << " errors, max delivery delay "
            << report.max_delay_ns / 1e6 << " ms";
  EXPECT_GE(kills, 100) << "the storm was too small to mean much";
  EXPECT_EQ(unexpected_exits, 0);
  EXPECT_EQ(report.errors, 0u) << report.first_error;
  EXPECT_GT(report.messages, 0u);
  EXPECT_TRUE(report.saw_newest) << "the newest message never reached the "
                                    "auditor";
  EXPECT_LE(report.max_delay_ns,
            nanoseconds(kMaxWatcherSleep + milliseconds(500)).count());
}

#endif  // defined(__x86_64__)

}  // namespace
}  // namespace aos::ipc_lib::testing
