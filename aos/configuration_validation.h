#ifndef AOS_CONFIGURATION_VALIDATION_H_
#define AOS_CONFIGURATION_VALIDATION_H_

// The rules a configuration must follow (internal to aos_configuration; the
// public entry point is configuration::Validate). Split in two because some
// rules can only be checked on one file before merging hides the mistake
// (a duplicate node in a list collapses, a bad name becomes a key), and the
// others only on the merged result (unknown nodes, sort order, queue sizes).

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "aos/configuration_generated.h"
#include "aos/util/status.h"

namespace aos::configuration::internal {

// The limits of the shared-memory queue (aos/ipc_lib) a channel's config must
// fit. configuration_test checks them against the queue itself.
//
// The ring holds at most 2^30 messages, so that 32-bit queue indices wrap
// after at least 3 laps (lockless_queue.cc).
inline constexpr uint64_t kMaxQueueSize = uint64_t{1} << 30;
// Per message buffer the queue adds at least a header and two redzones
// (kChannelDataRedzone) and aligns to kChannelDataAlignment; the memory
// estimate uses these as a lower bound.
inline constexpr uint64_t kQueueMessageOverhead = 2 * 32;
inline constexpr uint64_t kQueueMessageAlignment = 128;

// A lower bound of the shared memory, in bytes, that `channel`'s queue takes:
// every message buffer (ring plus scratch) with its payload and minimal
// overhead, and the ring itself. Assumes the channel passed the count limits.
uint64_t QueueMemoryLowerBound(const Configuration *config,
                               const Channel *channel);

// For each merged channel (name, type), the files that defined it.
using Origins =
    std::map<std::pair<std::string, std::string>, std::vector<std::string>>;

// Checks the rules one file can break on its own. `file` prefixes errors.
Result<void> ValidateFile(const Configuration *config, const std::string &file);

// Checks a merged configuration. `origins` (may be null) lets errors name the
// files that defined a channel. `check_queue_memory` applies the
// --max_queue_memory_mib sanity limit; binary configs skip it, because it was
// applied (with whatever limit the build chose) when they were flattened.
Result<void> ValidateMerged(const Configuration *config, const Origins *origins,
                            bool check_queue_memory = true);

// Checks that every channel's max_size is a multiple of 8, as a queue needs.
// Not part of reading (upstream accepts any max_size there); the flattener
// applies it, and so does making a sender or watcher.
Result<void> CheckMaxSizeAlignment(const Configuration *config);

}  // namespace aos::configuration::internal

#endif  // AOS_CONFIGURATION_VALIDATION_H_
