#include "aos/ipc_lib/signalfd.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "glog/logging.h"

namespace aos::ipc_lib {

void IgnoreWakeupSignal() {
  struct sigaction action;
  PCHECK(sigaction(kWakeupSignal, nullptr, &action) == 0);
  if (action.sa_handler == SIG_DFL) {
    action.sa_handler = SIG_IGN;
    PCHECK(sigaction(kWakeupSignal, &action, nullptr) == 0);
  }
}

SignalFd::SignalFd(std::initializer_list<int> signals) {
  sigset_t mask;
  sigemptyset(&mask);
  for (int signal : signals) {
    sigaddset(&mask, signal);
  }
  sigset_t previous;
  CHECK_EQ(pthread_sigmask(SIG_BLOCK, &mask, &previous), 0);
  sigemptyset(&to_unblock_);
  for (int signal : signals) {
    if (!sigismember(&previous, signal) && signal != kWakeupSignal) {
      sigaddset(&to_unblock_, signal);
    }
  }
  fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  PCHECK(fd_ != -1) << ": signalfd";
}

SignalFd::~SignalFd() {
  PCHECK(close(fd_) == 0);
  CHECK_EQ(pthread_sigmask(SIG_UNBLOCK, &to_unblock_, nullptr), 0);
}

void SignalFd::LeaveSignalBlocked(int signal) {
  sigdelset(&to_unblock_, signal);
}

signalfd_siginfo SignalFd::Read() {
  signalfd_siginfo info;
  while (true) {
    const ssize_t size = read(fd_, &info, sizeof(info));
    if (size == static_cast<ssize_t>(sizeof(info))) {
      return info;
    }
    if (size < 0 && errno == EINTR) {
      continue;
    }
    PCHECK(size < 0 && errno == EAGAIN) << ": read of signalfd " << fd_;
    info.ssi_signo = 0;
    return info;
  }
}

int SignalFd::Drain() {
  signalfd_siginfo infos[16];
  int drained = 0;
  while (true) {
    const ssize_t size = read(fd_, infos, sizeof(infos));
    if (size < 0 && errno == EINTR) {
      continue;
    }
    if (size < 0) {
      PCHECK(errno == EAGAIN) << ": read of signalfd " << fd_;
      return drained;
    }
    drained += static_cast<int>(static_cast<size_t>(size) / sizeof(infos[0]));
    if (static_cast<size_t>(size) < sizeof(infos)) {
      return drained;
    }
  }
}

}  // namespace aos::ipc_lib
