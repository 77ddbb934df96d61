#ifndef AOS_TOOLS_SHM_QUEUES_H_
#define AOS_TOOLS_SHM_QUEUES_H_

// The queue files under a --shm_base, as aos_shm sees them: finding them,
// deciding whether anyone still uses one, and removing the ones nobody does.
//
// A queue file is in use if a slot in it (sender, watcher, pinner, or the
// setup lock) is held by a live thread, or if a live process has it mapped:
// a process that only fetches from a COPY channel holds no slot, but
// removing the file under it would silently cut it off from the channel.
// Removal is refused for a file in use. (The check and the unlink are not
// atomic: a process that opens the file in between keeps using the removed
// file; run the cleanup while the robot code is stopped.)

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/util/status.h"

namespace aos::cli {

// One queue file: where it is, and the channel its path names.
struct QueueFile {
  std::string path;
  // "/test" for <shm_base>/test/aos.examples.Ping.v2.
  std::string channel_name;
  // "aos.examples.Ping".
  std::string type;
  // The layout version in the file name ("2" for .v2).
  std::string version;
};

// Every queue file (`<name>.v<digits>`) under `shm_base`, sorted by channel
// then type. Errors if `shm_base` is not a readable directory.
Result<std::vector<QueueFile>> ListQueueFiles(std::string_view shm_base);

// The queue files whose channel is `channel_name` and whose type equals
// `type_pattern`, or (if none equals it) contains it; every type if it is
// empty. Errors naming what exists when nothing matches.
Result<std::vector<QueueFile>> FindQueueFiles(std::string_view shm_base,
                                              std::string_view channel_name,
                                              std::string_view type_pattern);

// The pids (other than this process) whose memory maps include `path`, read
// from /proc/<pid>/maps. Processes of other users are only seen when
// running as root or as that user.
std::vector<pid_t> ProcessesMapping(std::string_view path);

// Why a queue file may not be removed, or an empty string if it may: a
// live slot owner (named with its pid) or a process mapping it.
std::string InUseReason(const QueueFile &file);

// Removes `file` if it is not in use, and then its directory and the
// directories above it up to `shm_base` when they become empty. Errors if
// it is in use (naming the owner) or cannot be removed.
Result<void> RemoveStaleQueue(std::string_view shm_base, const QueueFile &file);

// One line of `aos_shm list` for `file`: channel, type, file size, queue
// length, message size, slots in use per kind and whether it is in use.
std::string FormatQueueSummary(const QueueFile &file);

// The header line matching FormatQueueSummary's columns.
std::string QueueSummaryHeader();

// `aos_shm show`: the configuration, every non-free slot with its owner's
// pid, tid and liveness, the processes mapping the file, and the
// application names of all those pids.
Result<std::string> DescribeQueue(const QueueFile &file);

// The application name of process `pid`, read from /proc/<pid>/cmdline:
// its --application_name, else its program's file name; "" if the process
// is gone or not visible.
std::string ApplicationName(pid_t pid);

// `aos_shm apps`: every live process using the queues in `files`, one block
// per pid with its application name and, per channel, whether it sends,
// watches, pins, or only maps (fetches) it:
//   1234 pong
//     sends /test aos.examples.Pong
//     watches /test aos.examples.Ping
std::string DescribeApplications(const std::vector<QueueFile> &files);

}  // namespace aos::cli

#endif  // AOS_TOOLS_SHM_QUEUES_H_
