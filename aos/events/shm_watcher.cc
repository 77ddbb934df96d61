// Making ShmEventLoop's watchers (ShmWatcherState, in
// shm_event_loop_internal.h), finding their shared memory, and claiming and
// releasing their wakeup slots around Run().

#include "aos/events/shm_event_loop.h"
#include "aos/events/shm_event_loop_internal.h"

namespace aos {

using shm_event_loop_internal::ShmWatcherState;
using shm_event_loop_internal::SimpleShmFetcher;

void ShmEventLoop::MakeRawWatcher(
    const Channel *channel,
    std::function<void(const Context &context, const void *message)> watcher) {
  CheckCurrentThread("MakeRawWatcher", channel);
  NewWatcher(std::make_unique<ShmWatcherState>(
      this, channel, std::move(watcher),
      channel->read_method() == ReadMethod::PIN ? SimpleShmFetcher::Mode::kPin
                                                : SimpleShmFetcher::Mode::kCopy,
      permissions_));
}

void ShmEventLoop::MakeRawNoArgWatcher(
    const Channel *channel,
    std::function<void(const Context &context)> watcher) {
  CheckCurrentThread("MakeRawNoArgWatcher", channel);
  // No data is read, so no copy buffer and no pinner slot.
  NewWatcher(std::make_unique<ShmWatcherState>(
      this, channel,
      [watcher = std::move(watcher)](const Context &context, const void *) {
        watcher(context);
      },
      SimpleShmFetcher::Mode::kNoData, permissions_));
}

std::span<const uint8_t> ShmEventLoop::GetWatcherSharedMemory(
    const Channel *channel) {
  CheckCurrentThread("GetWatcherSharedMemory", channel);
  for (size_t i = 0; i < watchers().size(); ++i) {
    if (Watcher(i)->channel() == channel) {
      const ipc_lib::MemoryMappedQueue &queue = Watcher(i)->queue();
      return {reinterpret_cast<const uint8_t *>(queue.const_memory()),
              queue.size()};
    }
  }
  LOG(FATAL) << "No watcher found for channel "
             << configuration::StrippedChannelToString(channel);
  std::abort();
}

Result<void> ShmEventLoop::RegisterWatchers() {
  for (size_t i = 0; i < watchers().size(); ++i) {
    if (!Watcher(i)->RegisterWakeup(runtime_realtime_priority())) {
      const Channel *channel = Watcher(i)->channel();
      for (size_t j = 0; j < i; ++j) Watcher(j)->UnregisterWakeup();
      return MakeError(
          "Too many watchers on " +
          configuration::StrippedChannelToString(channel) +
          ": all of its num_watchers (" +
          std::to_string(channel->num_watchers()) +
          ") slots are held by live event loops (of any process).  Raise "
          "num_watchers for the channel in the configuration, or watch it "
          "from fewer event loops.");
    }
  }
  return {};
}

void ShmEventLoop::UnregisterWatchers() {
  for (size_t i = 0; i < watchers().size(); ++i) {
    Watcher(i)->UnregisterWakeup();
  }
}

}  // namespace aos
