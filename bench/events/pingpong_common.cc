#include "bench/events/pingpong_common.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <new>
#include <thread>

#include "glog/logging.h"

namespace aos::bench {

Samples::Samples(size_t capacity)
    : capacity_(capacity),
      mapped_bytes_(capacity * sizeof(int64_t) + sizeof(size_t)) {
  void *memory = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  PCHECK(memory != MAP_FAILED)
      << ": mapping " << mapped_bytes_ << " bytes of samples";
  count_ = static_cast<size_t *>(memory);
  data_ = reinterpret_cast<int64_t *>(count_ + 1);
}

Samples::~Samples() { munmap(count_, mapped_bytes_); }

void Samples::Add(int64_t sample) {
  const size_t index = __atomic_fetch_add(count_, 1, __ATOMIC_RELAXED);
  if (index < capacity_) data_[index] = sample;
}

std::vector<int64_t> Samples::Take() {
  std::vector<int64_t> result(data_, data_ + std::min(*count_, capacity_));
  *count_ = 0;
  return result;
}

Stats Summarize(std::vector<int64_t> samples) {
  CHECK(!samples.empty()) << ": a ping-pong run produced no samples";
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    return samples[std::min(samples.size() - 1,
                            static_cast<size_t>(q * samples.size()))] /
           1000.0;
  };
  return {samples.front() / 1000.0, at(0.5), at(0.99), at(0.999),
          samples.back() / 1000.0};
}

namespace {

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

// The signal that asked to stop (0: none), and the running players: written
// by the parent's main thread, read by the handler.
std::atomic<int> stop_signal{0};
struct Player {
  std::atomic<pid_t> pid{0};
  std::atomic<bool> kill_on_stop{false};
};
// Enough for a fan-out of 32 watchers plus its sender.
Player players[64];
static_assert(std::atomic<pid_t>::is_always_lock_free);
// In shared memory, for the players to see.
std::atomic<bool> *shared_stop = nullptr;
std::function<void()> *stop_cleanup = nullptr;

// Async-signal-safe: only atomics and kill().
void OnStopSignal(int signal) {
  stop_signal.store(signal);
  shared_stop->store(true);
  for (Player &player : players) {
    const pid_t pid = player.pid.load();
    if (pid > 0 && player.kill_on_stop.load()) kill(pid, SIGKILL);
  }
}

void ForgetPlayer(pid_t pid) {
  for (Player &player : players) {
    if (player.pid.load() == pid) player.pid.store(0);
  }
}

// Reaps `pid`; if it does not exit within `patience`, kills it first.
void Reap(pid_t pid, std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (true) {
    const pid_t waited = waitpid(pid, nullptr, WNOHANG);
    if (waited == pid || (waited == -1 && errno != EINTR)) return;
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  fprintf(stderr,
          "benchmark player %d did not stop within %lld ms; killing it\n", pid,
          static_cast<long long>(patience.count()));
  kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) == -1 && errno == EINTR) {
  }
}

}  // namespace

void StopOnSignals(std::function<void()> cleanup) {
  CHECK(stop_cleanup == nullptr) << ": StopOnSignals may be called once";
  stop_cleanup = new std::function<void()>(std::move(cleanup));
  void *memory =
      mmap(nullptr, sizeof(std::atomic<bool>), PROT_READ | PROT_WRITE,
           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  PCHECK(memory != MAP_FAILED) << ": mapping the stop flag";
  shared_stop = new (memory) std::atomic<bool>(false);
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  // No SA_RESTART: a waitpid in progress returns EINTR, so WaitFor notices.
  action.sa_flags = 0;
  for (const int signal : kStopSignals) {
    PCHECK(sigaction(signal, &action, nullptr) == 0);
  }
}

bool StopRequested() {
  return shared_stop != nullptr && shared_stop->load(std::memory_order_relaxed);
}

void RestoreStopSignals() {
  for (const int signal : kStopSignals) {
    PCHECK(::signal(signal, SIG_DFL) != SIG_ERR);
  }
}

void ExitIfStopRequested() {
  const int signal = stop_signal.load();
  if (signal == 0) return;
  fprintf(stderr, "\nbenchmark stopped by %s; cleaning up\n",
          strsignal(signal));
  for (Player &player : players) {
    const pid_t pid = player.pid.exchange(0);
    if (pid <= 0) continue;
    // The handler killed those it should; one registered after it ran is
    // killed here.
    if (player.kill_on_stop.load()) kill(pid, SIGKILL);
    Reap(pid, std::chrono::seconds(5));
  }
  if (stop_cleanup != nullptr) (*stop_cleanup)();
  fflush(stdout);
  fflush(stderr);
  RestoreStopSignals();
  raise(signal);
  _exit(128 + signal);
}

pid_t ForkPlayer(OnStop on_stop) {
  ExitIfStopRequested();
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  PCHECK(pid != -1) << ": forking a benchmark player";
  if (pid == 0) {
    RestoreStopSignals();
    return 0;
  }
  for (Player &player : players) {
    if (player.pid.load() != 0) continue;
    player.kill_on_stop.store(on_stop == OnStop::kKill);
    player.pid.store(pid);
    // A signal that came before the player was registered.
    ExitIfStopRequested();
    return pid;
  }
  kill(pid, SIGKILL);
  LOG(FATAL) << "more than " << std::size(players)
             << " benchmark players at once";
}

void WaitFor(pid_t pid, pid_t other) {
  int status;
  while (true) {
    ExitIfStopRequested();
    const pid_t waited = waitpid(pid, &status, 0);
    if (waited == pid) break;
    PCHECK(waited == -1 && errno == EINTR) << ": waiting for player " << pid;
  }
  ForgetPlayer(pid);
  // A player killed by the stop signal's handler is not a failure.
  ExitIfStopRequested();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (other > 0) kill(other, SIGKILL);
    LOG(FATAL) << "benchmark child " << pid << " failed, status " << status;
  }
}

}  // namespace aos::bench
