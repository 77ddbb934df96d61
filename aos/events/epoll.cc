#include "aos/events/epoll.h"

#include <fcntl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "glog/logging.h"

namespace aos::internal {

TimerFd::TimerFd()
    : fd_(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) {
  PCHECK(fd_ != -1) << ": timerfd_create";
  Disable();
}

TimerFd::~TimerFd() { PCHECK(close(fd_) == 0); }

void TimerFd::SetTime(monotonic_clock::time_point start,
                      monotonic_clock::duration interval) {
  struct itimerspec new_value;
  new_value.it_value = time::to_timespec(start);
  // A zero it_value disarms the timer; the epoch itself is long past, so
  // nudge it to "as soon as possible" instead.
  if (new_value.it_value.tv_sec == 0 && new_value.it_value.tv_nsec == 0) {
    new_value.it_value.tv_nsec = 1;
  }
  new_value.it_interval = time::to_timespec(interval);
  PCHECK(timerfd_settime(fd_, TFD_TIMER_ABSTIME, &new_value, nullptr) == 0)
      << ": timerfd_settime";
}

void TimerFd::Disable() {
  struct itimerspec new_value = {};
  PCHECK(timerfd_settime(fd_, 0, &new_value, nullptr) == 0)
      << ": timerfd_settime";
}

uint64_t TimerFd::Read() {
  uint64_t expirations = 0;
  const ssize_t result = read(fd_, &expirations, sizeof(expirations));
  if (result == -1) {
    PCHECK(errno == EAGAIN) << ": read timerfd";
    return 0;
  }
  CHECK_EQ(result, static_cast<ssize_t>(sizeof(expirations)));
  return expirations;
}

EPoll::EPoll() : epoll_fd_(epoll_create1(EPOLL_CLOEXEC)) {
  PCHECK(epoll_fd_ != -1) << ": epoll_create1";
  PCHECK(pipe2(quit_pipe_, O_CLOEXEC | O_NONBLOCK) == 0) << ": pipe2";
  OnReadable(quit_pipe_[0], [this]() {
    char buffer[16];
    while (read(quit_pipe_[0], buffer, sizeof(buffer)) > 0) {
    }
  });
}

EPoll::~EPoll() {
  DeleteFd(quit_pipe_[0]);
  CHECK(fds_.empty()) << ": " << fds_.size()
                      << " fds still registered when destroying EPoll, the "
                         "first is "
                      << fds_.front()->fd;
  PCHECK(close(quit_pipe_[0]) == 0);
  PCHECK(close(quit_pipe_[1]) == 0);
  PCHECK(close(epoll_fd_) == 0);
}

void EPoll::Run() {
  while (true) {
    for (const std::function<void()> &hook : before_wait_) {
      hook();
    }
    if (quit_requested()) break;
    Poll(std::chrono::nanoseconds(-1));
    if (quit_requested()) break;
  }
}

void EPoll::Quit() {
  quit_requested_.store(true, std::memory_order_release);
  // Wake a wait in progress. A full pipe already has a wakeup pending.
  const char byte = 0;
  [[maybe_unused]] const ssize_t result = write(quit_pipe_[1], &byte, 1);
}

EPoll::FdCallbacks *EPoll::Find(int fd) {
  for (const std::unique_ptr<FdCallbacks> &callbacks : fds_) {
    if (callbacks->fd == fd) return callbacks.get();
  }
  return nullptr;
}

void EPoll::Register(int fd, uint32_t event, std::function<void()> function) {
  FdCallbacks *callbacks = Find(fd);
  const bool is_new = callbacks == nullptr;
  if (is_new) {
    fds_.push_back(std::make_unique<FdCallbacks>());
    callbacks = fds_.back().get();
    callbacks->fd = fd;
  }
  CHECK_EQ(callbacks->events & event, 0u)
      << ": fd " << fd << " already has a callback for events " << event;
  callbacks->events |= event;
  switch (event) {
    case EPOLLIN:
      callbacks->in = std::move(function);
      break;
    case EPOLLOUT:
      callbacks->out = std::move(function);
      break;
    default:
      callbacks->err = std::move(function);
      break;
  }
  struct epoll_event ev = {};
  ev.events = callbacks->events;
  ev.data.ptr = callbacks;
  PCHECK(epoll_ctl(epoll_fd_, is_new ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd,
                   &ev) == 0)
      << ": epoll_ctl fd " << fd;
}

void EPoll::OnReadable(int fd, std::function<void()> function) {
  Register(fd, EPOLLIN, std::move(function));
}

void EPoll::OnWriteable(int fd, std::function<void()> function) {
  Register(fd, EPOLLOUT, std::move(function));
}

void EPoll::OnError(int fd, std::function<void()> function) {
  Register(fd, EPOLLERR, std::move(function));
}

void EPoll::DeleteFd(int fd) {
  auto it = std::find_if(fds_.begin(), fds_.end(),
                         [fd](const std::unique_ptr<FdCallbacks> &callbacks) {
                           return callbacks->fd == fd;
                         });
  CHECK(it != fds_.end()) << ": fd " << fd << " is not registered";
  PCHECK(epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr) == 0)
      << ": epoll_ctl delete fd " << fd;
  (*it)->deleted = true;
  if (dispatching_) {
    graveyard_.push_back(std::move(*it));
  }
  fds_.erase(it);
}

void EPoll::BeforeWait(std::function<void()> function) {
  before_wait_.push_back(std::move(function));
}

bool EPoll::Poll(std::chrono::nanoseconds timeout) {
  const int timeout_ms =
      timeout.count() < 0
          ? -1
          : static_cast<int>(
                std::chrono::ceil<std::chrono::milliseconds>(timeout).count());
  const int count = epoll_wait(epoll_fd_, events_, kMaxEvents, timeout_ms);
  if (count == -1) {
    PCHECK(errno == EINTR) << ": epoll_wait";
    return false;
  }
  Dispatch(count);
  return count > 0;
}

void EPoll::Dispatch(int count) {
  dispatching_ = true;
  for (int i = 0; i < count; ++i) {
    FdCallbacks *callbacks = static_cast<FdCallbacks *>(events_[i].data.ptr);
    const uint32_t ready = events_[i].events;
    if (!callbacks->deleted && (ready & EPOLLIN) && callbacks->in) {
      callbacks->in();
    }
    if (!callbacks->deleted && (ready & EPOLLOUT) && callbacks->out) {
      callbacks->out();
    }
    if (!callbacks->deleted && (ready & EPOLLERR) && callbacks->err) {
      callbacks->err();
    }
  }
  dispatching_ = false;
  graveyard_.clear();
}

}  // namespace aos::internal
