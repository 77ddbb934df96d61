// ShmEventLoop's senders: ShmSender publishes into a channel's lockless
// queue and wakes its watchers; MakeRawSender and GetSenderSharedMemory.

#include <fstream>
#include <optional>
#include <string>

#include "aos/events/shm_event_loop.h"
#include "aos/events/shm_event_loop_internal.h"

namespace aos {
namespace shm_event_loop_internal {

class ShmSender final : public RawSender {
 public:
  ShmSender(ShmEventLoop *event_loop, const Channel *channel,
            uint32_t permissions, ipc_lib::SenderExclusivity exclusivity)
      : RawSender(event_loop, channel),
        event_loop_(event_loop),
        queue_(OpenQueue(event_loop, channel, permissions)),
        sender_(MakeSender(queue_, event_loop->configuration(), channel,
                           exclusivity)),
        wake_upper_(queue_.queue()) {}

  void *data() override {
    event_loop_->CheckCurrentThread("Building a message", channel());
    return sender_.Data();
  }
  size_t size() override { return sender_.size(); }
  int buffer_index() override { return sender_.buffer_index(); }

  std::span<uint8_t> SharedMemory() const {
    return {reinterpret_cast<uint8_t *>(queue_.memory()), queue_.size()};
  }

 private:
  static ipc_lib::LocklessQueueSender MakeSender(
      const ipc_lib::MemoryMappedQueue &queue,
      const Configuration *configuration, const Channel *channel,
      ipc_lib::SenderExclusivity exclusivity) {
    ipc_lib::SenderRefusal refusal;
    std::optional<ipc_lib::LocklessQueueSender> sender =
        ipc_lib::LocklessQueueSender::Make(
            queue.queue(),
            configuration::ChannelStorageDuration(configuration, channel),
            exclusivity, &refusal);
    if (!sender.has_value()) [[unlikely]] {
      RefuseSender(channel, refusal);
    }
    return std::move(*sender);
  }

  // Dies saying why `channel` has no sender for us and what to do.
  [[noreturn, gnu::cold]] static void RefuseSender(
      const Channel *channel, const ipc_lib::SenderRefusal &refusal) {
    const std::string name = configuration::StrippedChannelToString(channel);
    const std::string remap =
        "remap the logged channel in the replay config (remap_channels in "
        "log_replayer's replay config, or LogReader::RemapLoggedChannel "
        "before Register) so the log replays on /original" +
        channel->name()->str();
    switch (refusal.reason) {
      case ipc_lib::SenderRefusal::Reason::kNoFreeSlot:
        LOG(FATAL) << "Failed to create sender on " << name
                   << ", too many senders.  num_senders is "
                   << channel->num_senders()
                   << " (senders of every process count).";
      case ipc_lib::SenderRefusal::Reason::kHeldExclusively:
        LOG(FATAL) << "Failed to create sender on " << name
                   << ": it has an exclusive sender, held by "
                   << ProcessName(refusal)
                   << " (a live log replay sends the logged messages there, "
                      "and another sender's would mix with them). To send "
                      "there, "
                   << remap << " and this sender can use "
                   << channel->name()->string_view()
                   << "; or stop that process.";
      case ipc_lib::SenderRefusal::Reason::kOtherSender:
        LOG(FATAL) << "Failed to create an exclusive sender on " << name << ": "
                   << ProcessName(refusal)
                   << " already sends on it, and its messages would mix "
                      "with the exclusive sender's (a log replay's). Stop "
                      "it, or "
                   << remap << " instead.";
    }
    LOG(FATAL) << "unreachable";
    std::abort();
  }

  // "process <pid> (<comm>, thread <tid>)", for the sender's owner.
  static std::string ProcessName(const ipc_lib::SenderRefusal &refusal) {
    std::string comm;
    std::ifstream file("/proc/" + std::to_string(refusal.pid) + "/comm");
    std::getline(file, comm);
    return "process " + std::to_string(refusal.pid) + " (\"" +
           (comm.empty() ? std::string("?") : comm) + "\", thread " +
           std::to_string(refusal.tid) + ")";
  }

  Error Finish(ipc_lib::LocklessQueueSender::Result result,
               monotonic_clock::time_point monotonic_sent_time,
               realtime_clock::time_point realtime_sent_time,
               uint32_t queue_index) {
    switch (result) {
      case ipc_lib::LocklessQueueSender::Result::GOOD:
        monotonic_sent_time_ = monotonic_sent_time;
        realtime_sent_time_ = realtime_sent_time;
        sent_queue_index_ = queue_index;
        // Only a published message is worth waking anyone for.
        wake_upper_.Wakeup(event_loop()->is_running()
                               ? event_loop()->runtime_realtime_priority()
                               : 0);
        if (wake_upper_.signal_failures() != reported_signal_failures_)
            [[unlikely]] {
          // The kernel refused wakeups (EAGAIN, RLIMIT_SIGPENDING): report
          // them in the timing report.
          RecordSignalFailures(wake_upper_.signal_failures() -
                               reported_signal_failures_);
          reported_signal_failures_ = wake_upper_.signal_failures();
        }
        return Error::kOk;
      case ipc_lib::LocklessQueueSender::Result::MESSAGES_SENT_TOO_FAST:
        return Error::kMessagesSentTooFast;
      case ipc_lib::LocklessQueueSender::Result::INVALID_REDZONE:
        LOG(FATAL) << "Somebody wrote outside the buffer of their message on "
                      "channel "
                   << configuration::StrippedChannelToString(channel());
    }
    LOG(FATAL) << "unreachable";
    std::abort();
  }

  Error DoSend(size_t length, monotonic_clock::time_point monotonic_remote_time,
               realtime_clock::time_point realtime_remote_time,
               monotonic_clock::time_point monotonic_remote_transmit_time,
               uint32_t remote_queue_index,
               const UUID &source_boot_uuid) override {
    event_loop_->CheckCurrentThread("Send", channel());
    monotonic_clock::time_point monotonic_sent_time;
    realtime_clock::time_point realtime_sent_time;
    uint32_t queue_index;
    const auto result = sender_.Send(
        length, monotonic_remote_time, realtime_remote_time,
        monotonic_remote_transmit_time, remote_queue_index, source_boot_uuid,
        &monotonic_sent_time, &realtime_sent_time, &queue_index);
    return Finish(result, monotonic_sent_time, realtime_sent_time, queue_index);
  }

  Error DoSend(const void *data, size_t length,
               monotonic_clock::time_point monotonic_remote_time,
               realtime_clock::time_point realtime_remote_time,
               monotonic_clock::time_point monotonic_remote_transmit_time,
               uint32_t remote_queue_index,
               const UUID &source_boot_uuid) override {
    event_loop_->CheckCurrentThread("Send", channel());
    monotonic_clock::time_point monotonic_sent_time;
    realtime_clock::time_point realtime_sent_time;
    uint32_t queue_index;
    const auto result = sender_.Send(
        static_cast<const char *>(data), length, monotonic_remote_time,
        realtime_remote_time, monotonic_remote_transmit_time,
        remote_queue_index, source_boot_uuid, &monotonic_sent_time,
        &realtime_sent_time, &queue_index);
    return Finish(result, monotonic_sent_time, realtime_sent_time, queue_index);
  }

  ShmEventLoop *const event_loop_;
  ipc_lib::MemoryMappedQueue queue_;
  ipc_lib::LocklessQueueSender sender_;
  ipc_lib::LocklessQueueWakeUpper wake_upper_;
  // wake_upper_.signal_failures() already passed to RecordSignalFailures.
  uint64_t reported_signal_failures_ = 0;
};

}  // namespace shm_event_loop_internal

using shm_event_loop_internal::ShmSender;

std::unique_ptr<RawSender> ShmEventLoop::MakeRawSender(const Channel *channel) {
  CheckCurrentThread("MakeRawSender", channel);
  return std::make_unique<ShmSender>(this, channel, permissions_,
                                     ipc_lib::SenderExclusivity::kShared);
}

std::unique_ptr<RawSender> ShmEventLoop::MakeExclusiveRawSender(
    const Channel *channel) {
  CheckCurrentThread("MakeExclusiveRawSender", channel);
  return std::make_unique<ShmSender>(this, channel, permissions_,
                                     ipc_lib::SenderExclusivity::kExclusive);
}

std::span<uint8_t> ShmEventLoop::GetSenderSharedMemory(RawSender *sender) {
  CheckCurrentThread("GetSenderSharedMemory", sender->channel());
  CHECK(sender->event_loop() == this)
      << ": GetSenderSharedMemory: the sender on "
      << configuration::StrippedChannelToString(sender->channel())
      << " was made by another event loop than " << name_;
  // Every sender of this loop (the timing report's too) is a ShmSender.
  return static_cast<ShmSender *>(sender)->SharedMemory();
}

}  // namespace aos
