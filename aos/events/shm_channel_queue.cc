#include "aos/events/shm_channel_queue.h"

#include "aos/ipc_lib/memory_mapped_queue.h"

namespace aos {

ipc_lib::LocklessQueueConfiguration ShmChannelQueueConfiguration(
    const Configuration *configuration, const Channel *channel) {
  ipc_lib::LocklessQueueConfiguration config;
  config.num_watchers = channel->num_watchers();
  config.num_senders = channel->num_senders();
  config.num_pinners =
      channel->read_method() == ReadMethod::PIN ? channel->num_readers() : 0;
  config.queue_size = configuration::QueueSize(configuration, channel);
  config.message_data_size = channel->max_size();
  return config;
}

std::string ShmChannelQueuePath(std::string_view shm_base,
                                const Channel *channel) {
  return ipc_lib::ShmPath(shm_base, channel->name()->string_view(),
                          channel->type()->string_view());
}

}  // namespace aos
