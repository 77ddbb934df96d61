#ifndef AOS_STL_MUTEX_THREAD_ID_H_
#define AOS_STL_MUTEX_THREAD_ID_H_

// The calling thread's kernel thread id, without a syscall.
//
// gettid() is a syscall on every call (glibc no longer caches it), too slow
// for checks made on every send and fetch of a real-time loop. The id is
// cached per thread; a fork() handler clears the cache in the child, whose
// only thread has a new id. Threads made with a raw clone() (not
// pthread_create or fork) are not supported.

#include <sys/types.h>

namespace aos {

// The kernel tid of the calling thread (as gettid()). Allocation-free and,
// after the first call in a thread, syscall-free.
pid_t CurrentThreadId();

}  // namespace aos

#endif  // AOS_STL_MUTEX_THREAD_ID_H_
