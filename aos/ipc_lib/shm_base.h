#ifndef AOS_IPC_LIB_SHM_BASE_H_
#define AOS_IPC_LIB_SHM_BASE_H_

// Where channels live in shared memory, and with what permissions.
//
// --shm_base (default /dev/shm/aos) is the directory under which each channel
// has its queue file; --permissions (default 0770, subject to the umask) is the
// mode of the files and directories created there. An event loop reads both
// once, when it is constructed. Tests point --shm_base at a private temporary
// directory (the test main does this) so parallel tests never share queues.

#include <string>
#include <string_view>

#include "gflags/gflags.h"

DECLARE_string(shm_base);
DECLARE_uint32(permissions);

namespace aos::ipc_lib {

// Sets --shm_base. For tests and tools that choose the directory themselves.
void SetShmBase(std::string_view base);

}  // namespace aos::ipc_lib

#endif  // AOS_IPC_LIB_SHM_BASE_H_
