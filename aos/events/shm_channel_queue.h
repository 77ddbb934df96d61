#ifndef AOS_EVENTS_SHM_CHANNEL_QUEUE_H_
#define AOS_EVENTS_SHM_CHANNEL_QUEUE_H_

// Where and how big a channel's shared-memory queue is.
//
// ShmEventLoop maps one lockless queue file per channel. Every program that
// opens such a file (event loops, aos_dump, aos_send, aos_shm, ...) must size
// it exactly as ShmEventLoop does, or MemoryMappedQueue::Open refuses the
// file as made by another configuration. These functions are that single
// definition; use them instead of rebuilding a LocklessQueueConfiguration.

#include <string>
#include <string_view>

#include "aos/configuration.h"
#include "aos/ipc_lib/lockless_queue.h"

namespace aos {

// The queue layout ShmEventLoop uses for `channel` of `configuration`:
// num_watchers and num_senders from the channel, num_pinners = num_readers on
// PIN channels (0 on COPY channels, whose readers copy and need no slot),
// queue_size from the channel's frequency and storage duration
// (configuration::QueueSize), message_data_size = max_size. `channel` must
// belong to `configuration` (its storage duration may come from it).
ipc_lib::LocklessQueueConfiguration ShmChannelQueueConfiguration(
    const Configuration *configuration, const Channel *channel);

// The queue file of `channel` under `shm_base`:
// "<shm_base><channel name>/<type>.v<kQueueLayoutVersion>" (channel names
// start with '/'), e.g. "/dev/shm/aos/test/aos.TestMessage.v2".
std::string ShmChannelQueuePath(std::string_view shm_base,
                                const Channel *channel);

}  // namespace aos

#endif  // AOS_EVENTS_SHM_CHANNEL_QUEUE_H_
