#include "aos/ipc_lib/shm_base.h"

DEFINE_string(shm_base, "/dev/shm/aos",
              "Directory holding the shared-memory queue files of every "
              "channel.");
DEFINE_uint32(permissions, 0770,
              "Mode of the shared-memory files and directories this process "
              "creates (the umask still applies).");

namespace aos::ipc_lib {

void SetShmBase(std::string_view base) { FLAGS_shm_base = std::string(base); }

}  // namespace aos::ipc_lib
