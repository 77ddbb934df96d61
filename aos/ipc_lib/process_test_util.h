#ifndef AOS_IPC_LIB_PROCESS_TEST_UTIL_H_
#define AOS_IPC_LIB_PROCESS_TEST_UTIL_H_

// Helpers for the queue tests that run part of a test in forked children:
// memory the children share with the test (a queue a child sends on and dies
// in), a child the kernel kills at a chosen system call (a process dying at
// the worst moment, with no chance to clean up), and a child that reports a
// message back (an operation that needs other privileges or another mount
// namespace than the test's).
//
// Children leave with _exit, never by returning into the test framework.

#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include <cstddef>
#include <cstdint>
#include <string>

#include "aos/ipc_lib/lockless_queue_memory.h"
#include "glog/logging.h"

namespace aos::ipc_lib::testing {

// `size` bytes of zeroed memory shared with every child forked while it
// lives (a shared anonymous mapping), unmapped when destroyed.
class SharedRegion {
 public:
  explicit SharedRegion(size_t size) : size_(size) {
    memory_ = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    PCHECK(memory_ != MAP_FAILED) << ": mapping " << size << " shared bytes";
  }
  SharedRegion(const SharedRegion &) = delete;
  SharedRegion &operator=(const SharedRegion &) = delete;
  ~SharedRegion() { munmap(memory_, size_); }

  // The start of the region, as raw bytes or as a queue's memory.
  char *data() const { return static_cast<char *>(memory_); }
  LocklessQueueMemory *memory() const {
    return static_cast<LocklessQueueMemory *>(memory_);
  }
  size_t size() const { return size_; }

 private:
  size_t size_;
  void *memory_;
};

#if defined(__x86_64__)
// Makes the kernel kill the whole calling process (SIGSYS) when it makes the
// system call `syscall_number`: the process dies inside that call, after
// everything before it and before anything after it. For children only; it
// cannot be undone.
inline void KillProcessAtSyscall(int syscall_number) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(syscall_number),
               0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = {
      .len = static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])),
      .filter = filter,
  };
  PCHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
  PCHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) == 0);
}
#endif  // defined(__x86_64__)

// How a child of RunInChild ended, and what it reported.
struct ChildReport {
  // As waitpid returns it.
  int status = 0;
  std::string message;
};

// Runs `body(&message)` in a forked child, which then exits with the code
// `body` returns, and waits for it. What `body` puts in `message` comes back
// through a pipe. For what the test process must not do itself: drop its
// privileges, enter another mount namespace, ...
template <typename Body>
ChildReport RunInChild(Body body) {
  int fds[2];
  PCHECK(pipe(fds) == 0);
  const pid_t child = fork();
  PCHECK(child >= 0);
  if (child == 0) {
    close(fds[0]);
    std::string message;
    const int code = body(&message);
    (void)!write(fds[1], message.data(), message.size());
    _exit(code);
  }
  close(fds[1]);
  ChildReport report;
  char buffer[512];
  ssize_t got;
  while ((got = read(fds[0], buffer, sizeof(buffer))) > 0) {
    report.message.append(buffer, static_cast<size_t>(got));
  }
  close(fds[0]);
  PCHECK(waitpid(child, &report.status, 0) == child);
  return report;
}

}  // namespace aos::ipc_lib::testing

#endif  // AOS_IPC_LIB_PROCESS_TEST_UTIL_H_
