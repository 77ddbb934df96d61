#include "aos/stl_mutex/thread_id.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace aos {
namespace {

// 0 until the first call in the thread. Constant-initialized, so reading it
// needs no TLS initialization guard.
thread_local pid_t cached_thread_id = 0;

// The child of fork() runs on a copy of the forking thread, with that
// thread's cache but a new tid.
const int fork_handler_registered =
    pthread_atfork(nullptr, nullptr, []() { cached_thread_id = 0; });

}  // namespace

pid_t CurrentThreadId() {
  if (cached_thread_id == 0) {
    static_cast<void>(fork_handler_registered);
    cached_thread_id = static_cast<pid_t>(syscall(SYS_gettid));
  }
  return cached_thread_id;
}

}  // namespace aos
