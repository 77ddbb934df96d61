#ifndef AOS_EVENTS_EPOLL_H_
#define AOS_EVENTS_EPOLL_H_

// EPoll: the file-descriptor loop under ShmEventLoop, and TimerFd.
//
// EPoll waits on any number of fds and calls the callback registered for the
// ready condition (readable, writeable, error). Hooks registered with
// BeforeWait run before every wait, which is where the event loop drains its
// signalfd, arms its wakeups and runs due events. Quit() is async-signal-safe
// (a write to a self-pipe), so a signal handler can end Run().
//
// Callbacks may add and delete fds, including their own and ones whose
// events are ready in the same batch (those are then skipped). Dispatch
// allocates nothing.

#include <sys/epoll.h>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "aos/time/time.h"

namespace aos::internal {

// A CLOCK_MONOTONIC timerfd armed with absolute times. Non-blocking.
class TimerFd {
 public:
  TimerFd();
  TimerFd(const TimerFd &) = delete;
  TimerFd &operator=(const TimerFd &) = delete;
  ~TimerFd();

  // Expires at `start`, then every `interval` if it is non-zero. A start in
  // the past expires at once. Replaces any previous setting.
  void SetTime(monotonic_clock::time_point start,
               monotonic_clock::duration interval);
  // Stops the timer.
  void Disable();
  // Reads (and clears) the expiration count; 0 if none is pending.
  uint64_t Read();

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

class EPoll {
 public:
  EPoll();
  EPoll(const EPoll &) = delete;
  EPoll &operator=(const EPoll &) = delete;
  // CHECK-fails if fds are still registered.
  ~EPoll();

  // Runs BeforeWait hooks, waits and dispatches until Quit() (returning at
  // once if Quit() was called since the last ClearQuit()).
  void Run();

  // Forgets earlier Quit() calls, so Run() can be called again.
  void ClearQuit() { quit_requested_.store(false, std::memory_order_release); }

  // Makes Run() return after the callback in progress. Async-signal-safe and
  // thread-safe.
  void Quit();

  // Whether Quit() was called since the last ClearQuit().
  bool quit_requested() const {
    return quit_requested_.load(std::memory_order_acquire);
  }

  // Calls `function` whenever `fd` is readable (writeable, has an error).
  // One callback per fd and condition; CHECK-fails on a second. The fd is
  // watched level-triggered.
  void OnReadable(int fd, std::function<void()> function);
  void OnWriteable(int fd, std::function<void()> function);
  void OnError(int fd, std::function<void()> function);

  // Stops watching `fd` (all conditions). CHECK-fails if it is not watched.
  void DeleteFd(int fd);

  // Runs `function` before every wait, in registration order.
  void BeforeWait(std::function<void()> function);

  // Waits once (at most `timeout`; a negative one waits forever) and
  // dispatches what is ready. Returns whether anything was.
  bool Poll(std::chrono::nanoseconds timeout);

 private:
  struct FdCallbacks {
    int fd;
    uint32_t events = 0;
    std::function<void()> in;
    std::function<void()> out;
    std::function<void()> err;
    bool deleted = false;
  };

  FdCallbacks *Find(int fd);
  void Register(int fd, uint32_t event, std::function<void()> function);
  void Dispatch(int count);

  static constexpr int kMaxEvents = 16;

  int epoll_fd_ = -1;
  int quit_pipe_[2] = {-1, -1};
  std::atomic<bool> quit_requested_{false};
  std::vector<std::unique_ptr<FdCallbacks>> fds_;
  // Deleted while a batch was being dispatched; freed after it.
  std::vector<std::unique_ptr<FdCallbacks>> graveyard_;
  bool dispatching_ = false;
  std::vector<std::function<void()>> before_wait_;
  epoll_event events_[kMaxEvents];
};

}  // namespace aos::internal

#endif  // AOS_EVENTS_EPOLL_H_
