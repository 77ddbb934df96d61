#ifndef AOS_IPC_LIB_SIGNALFD_H_
#define AOS_IPC_LIB_SIGNALFD_H_

// SignalFd: receive signals as reads from a file descriptor, so an event loop
// can wait for them in epoll next to timers and sockets.
//
// Constructing one blocks the given signals in the calling thread (a blocked
// signal stays pending, which is what lets signalfd read it) and opens a
// non-blocking signalfd for them. Signals aimed at this thread
// (rt_tgsigqueueinfo, as LocklessQueueWakeUpper does) and at the process are
// both read. Destroying it closes the fd and unblocks the signals it blocked,
// except kWakeupSignal and those passed to LeaveSignalBlocked: a late wakeup
// must not kill a process that is shutting down (design.md, decision 10).

#include <signal.h>
#include <sys/signalfd.h>

#include <initializer_list>

namespace aos::ipc_lib {

// The signal senders use to wake watcher threads.
inline const int kWakeupSignal = SIGRTMIN + 2;

// Makes kWakeupSignal ignored in this process unless something handles it, so
// a wakeup that arrives while it is unblocked does nothing. (A blocked signal
// is still queued for signalfd even when its disposition is "ignore".)
void IgnoreWakeupSignal();

class SignalFd {
 public:
  // Blocks `signals` in the calling thread and opens the fd. CHECK-fails if
  // the kernel refuses.
  explicit SignalFd(std::initializer_list<int> signals);
  SignalFd(const SignalFd &) = delete;
  SignalFd &operator=(const SignalFd &) = delete;
  // Closes the fd; see the file comment for which signals stay blocked.
  ~SignalFd();

  // Keeps `signal` blocked after destruction.
  void LeaveSignalBlocked(int signal);

  // Reads one pending signal. Returns it with ssi_signo == 0 if none is
  // pending (the fd never blocks).
  signalfd_siginfo Read();

  // Reads every pending signal, up to 16 per syscall, and returns how many
  // there were. Never blocks. One read usually suffices: a short read means
  // nothing else was pending. For watchers, which only need to know they were
  // woken, not by whom.
  int Drain();

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  // The signals this object blocked (they were not blocked before) and
  // will unblock when destroyed.
  sigset_t to_unblock_;
};

}  // namespace aos::ipc_lib

#endif  // AOS_IPC_LIB_SIGNALFD_H_
