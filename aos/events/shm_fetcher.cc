// ShmEventLoop's fetchers: ShmFetcher, a RawFetcher over a SimpleShmFetcher;
// MakeRawFetcher and GetFetcherPrivateMemory.

#include "aos/events/shm_event_loop.h"
#include "aos/events/shm_event_loop_internal.h"

namespace aos {
namespace shm_event_loop_internal {

class ShmFetcher final : public RawFetcher {
 public:
  ShmFetcher(ShmEventLoop *event_loop, const Channel *channel,
             uint32_t permissions)
      : RawFetcher(event_loop, channel),
        event_loop_(event_loop),
        fetcher_(event_loop, channel,
                 channel->read_method() == ReadMethod::PIN
                     ? SimpleShmFetcher::Mode::kPin
                     : SimpleShmFetcher::Mode::kCopy,
                 permissions) {}

  std::span<const uint8_t> FetchedMemory() const {
    return fetcher_.FetchedMemory();
  }

 private:
  bool Update(bool fetched) {
    if (fetched) context_ = fetcher_.context();
    return fetched;
  }
  bool DoFetchNext() override {
    event_loop_->CheckCurrentThread("FetchNext", channel());
    return DoFetchNextWith(nullptr);
  }
  bool DoFetchNextIf(ContextPredicate predicate) override {
    event_loop_->CheckCurrentThread("FetchNextIf", channel());
    return DoFetchNextWith(&predicate);
  }
  bool DoFetchNextWith(const ContextPredicate *predicate) {
    uint64_t lost = 0;
    const bool fetched =
        fetcher_.FetchNext(predicate, fall_behind_policy(), &lost);
    if (lost != 0) RecordLostMessages(lost);
    return Update(fetched);
  }
  // The FetchNextIf loop without a virtual call, a candidate Context or a
  // context copy per message, as one SimpleShmFetcher::FetchRun (one queue
  // ReadRun per run of messages, which prefetches the messages ahead): the
  // send-time filter reads the queue's metadata directly, each message is
  // visited in the reader's context, and only the last one is copied into
  // context_. The clock (~50 ns on a VM's kvm-clock, more than the rest of a
  // small message's fetch) is read once per call, and only once a message
  // was fetched (a logger polls mostly empty channels on a quiet robot).
  size_t DoFetchNextUntil(monotonic_clock::time_point until,
                          ContextPredicate visit) override {
    event_loop_->CheckCurrentThread("FetchNextUntil", channel());
    const auto sent_by_then = [until](const ipc_lib::MessageInfo &info) {
      return info.monotonic_sent_time <= until;
    };
    monotonic_clock::time_point now = monotonic_clock::min_time;
    size_t fetched = 0;
    uint64_t lost = 0;
    const auto each = [&](const Context &context) {
      if (fetched == 0) now = event_loop_->monotonic_now();
      if (lost != 0) [[unlikely]] {
        RecordLostMessages(lost);
        lost = 0;
      }
      ++fetched;
      RecordFetchAt(context, now);
      return visit(context);
    };
    fetcher_.FetchRun(sent_by_then, fall_behind_policy(), &lost, each);
    // A skip that landed on a message sent after `until` (or on nothing) is
    // still a loss; it reaches the next message's lost_messages through the
    // reader, as in FetchNextIf.
    if (lost != 0) RecordLostMessages(lost);
    if (fetched != 0) context_ = fetcher_.context();
    return fetched;
  }
  bool DoFetch() override {
    event_loop_->CheckCurrentThread("Fetch", channel());
    return Update(fetcher_.Fetch(nullptr));
  }
  bool DoFetchIf(ContextPredicate predicate) override {
    event_loop_->CheckCurrentThread("FetchIf", channel());
    return Update(fetcher_.Fetch(&predicate));
  }

  ShmEventLoop *const event_loop_;
  SimpleShmFetcher fetcher_;
};

}  // namespace shm_event_loop_internal

using shm_event_loop_internal::ShmFetcher;

std::unique_ptr<RawFetcher> ShmEventLoop::MakeRawFetcher(
    const Channel *channel) {
  CheckCurrentThread("MakeRawFetcher", channel);
  CheckReadableHere(channel);
  return std::make_unique<ShmFetcher>(this, channel, permissions_);
}

std::span<const uint8_t> ShmEventLoop::GetFetcherPrivateMemory(
    const RawFetcher *fetcher) {
  CheckCurrentThread("GetFetcherPrivateMemory", fetcher->channel());
  CHECK(fetcher->event_loop() == this)
      << ": GetFetcherPrivateMemory: the fetcher on "
      << configuration::StrippedChannelToString(fetcher->channel())
      << " was made by another event loop than " << name_;
  return static_cast<const ShmFetcher *>(fetcher)->FetchedMemory();
}

}  // namespace aos
