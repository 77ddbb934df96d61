// The one fatal message of a damaged queue (QueueCorrupted).

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>

#include "aos/ipc_lib/lockless_queue_memory.h"
#include "aos/ipc_lib/memory_mapped_queue.h"
#include "glog/logging.h"

namespace aos::ipc_lib {
namespace {

// The file mapped at `address` in this process, from /proc/self/maps, or ""
// for anonymous memory (a queue in ordinary memory, in tests). Reading /proc
// here costs nothing that matters: the process is about to end.
std::string MappedFile(const void *address) {
  FILE *maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr) {
    return "";
  }
  const uintptr_t wanted = reinterpret_cast<uintptr_t>(address);
  std::string file;
  char line[4352];
  while (fgets(line, sizeof(line), maps) != nullptr) {
    unsigned long start = 0, end = 0;
    int name_offset = 0;
    if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &name_offset) <
            2 ||
        wanted < start || wanted >= end) {
      continue;
    }
    if (name_offset > 0 && line[name_offset] == '/') {
      file = line + name_offset;
      while (!file.empty() && file.back() == '\n') {
        file.pop_back();
      }
    }
    break;
  }
  fclose(maps);
  return file;
}

}  // namespace

void QueueCorrupted(const void *memory, const char *format, ...) {
  char what[512];
  va_list args;
  va_start(args, format);
  vsnprintf(what, sizeof(what), format, args);
  va_end(args);

  std::ostringstream message;
  const std::string file = MappedFile(memory);
  if (file.empty()) {
    message << "corrupt queue (in memory at " << memory
            << ", not backed by a file): " << what;
  } else {
    message << "corrupt queue file " << file;
    if (const std::optional<QueuePathParts> parts = ParseQueuePath(file)) {
      message << " of channel " << parts->channel << " (type " << parts->type
              << ")";
    }
    message << ": " << what
            << ". The queue's own code never writes that, so something else "
               "wrote into the file (a stray write through a mapping, a tool, "
               "damaged storage) and none of it can be trusted. Stop every "
               "process that uses the channel, then remove the file: `"
            << QueueRemovalCommand(file) << "`.";
  }
  LOG(FATAL) << message.str();
  abort();
}

}  // namespace aos::ipc_lib
