#ifndef AOS_EVENTS_RAW_FETCHER_H_
#define AOS_EVENTS_RAW_FETCHER_H_

// RawFetcher: reading one channel without knowing its message type (the
// bytes and their Context). The typed Fetcher<T> (typed_fetcher.h) wraps it;
// tools, the message bridge and log replay use it directly. Each EventLoop
// implementation derives its fetcher from it (the protected section). Made
// by EventLoop::MakeRawFetcher; include aos/events/event_loop.h to use it.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "aos/configuration_generated.h"
#include "aos/events/context.h"
#include "aos/events/timing_statistics.h"

namespace aos {

class EventLoop;

// A non-owning reference to a callable `bool(const Context &)`, for the
// FetchIf/FetchNextIf predicates. Unlike std::function it never allocates.
// Only valid while the referenced callable lives (i.e. as a parameter).
class ContextPredicate {
 public:
  template <typename F>
  requires(std::is_invocable_r_v<bool, F &, const Context &> &&
           !std::is_same_v<std::decay_t<F>, ContextPredicate>)
      ContextPredicate(F &&f)  // NOLINT(google-explicit-constructor)
      : object_(
            const_cast<void *>(static_cast<const void *>(std::addressof(f)))),
        call_([](void *object, const Context &context) -> bool {
          return (*static_cast<std::remove_reference_t<F> *>(object))(context);
        }) {}

  bool operator()(const Context &context) const {
    return call_(object_, context);
  }

 private:
  void *object_;
  bool (*call_)(void *, const Context &);
};

// What FetchNext() (and a watcher) does when the next message was already
// overwritten, i.e. the reader fell more than a queue behind.
enum class FallBehindPolicy : uint8_t {
  // Die with a message naming the channel (upstream's behaviour; the
  // default, right for control code).
  kDie,
  // Skip to the oldest message still in the queue and count the ones
  // skipped: Context::lost_messages of the message delivered next,
  // RawFetcher::lost_messages() (or EventLoop::WatcherLostMessages()) and the
  // timing report's lost_messages. For tools and recorders.
  kSkipToOldest,
};

// Reads messages from one channel. Made by EventLoop::MakeRawFetcher; the
// typed Fetcher<T> wraps it.
//
// A fetcher remembers the last message it fetched. FetchNext() steps through
// every message after it, in order; Fetch() jumps to the newest. A new fetcher
// starts "at creation": FetchNext() returns only messages sent after it was
// made, while Fetch() also returns one sent before. The fetched message stays
// valid (context().data) until the next successful fetch or the fetcher's
// destruction.
//
// A fetcher that falls more than a queue behind (its next message was already
// overwritten) dies in FetchNext() with a message naming the channel: control
// code that cannot keep up must not pretend it did. Fetch() never dies this
// way, since it skips to the newest message. Tools and recorders, which must
// keep going, opt in to FallBehindPolicy::kSkipToOldest instead.
class RawFetcher {
 public:
  RawFetcher(EventLoop *event_loop, const Channel *channel);
  RawFetcher(const RawFetcher &) = delete;
  RawFetcher &operator=(const RawFetcher &) = delete;
  virtual ~RawFetcher();

  // Fetches the message after the last one fetched. Returns false (leaving
  // context() unchanged) if there is none yet.
  bool FetchNext();

  // As FetchNext(), but only if `predicate` (called with the message's
  // context, whose data is nullptr) returns true. A rejected message is not
  // consumed. `predicate` is not called when there is nothing new.
  bool FetchNextIf(ContextPredicate predicate);

  // Fetches, one after the other, every message after the last one fetched
  // that was sent at or before `until` (monotonic_event_time), and calls
  // `visit` with each one's context (data included, valid during the call)
  // right after fetching it; stops early once `visit` returns false.
  // Returns how many messages it fetched; context() is then the last one's.
  // The same as FetchNextIf(sent by `until`) in a loop, visiting context()
  // after each (fall-behind policy, lost_messages and timing report alike),
  // but an implementation may do it with less work per message: one clock
  // read per call instead of per message, no virtual call or context copy
  // per message (the Logger drains every channel this way). `visit` must not
  // fetch with this fetcher.
  size_t FetchNextUntil(monotonic_clock::time_point until,
                        ContextPredicate visit) {
    return DoFetchNextUntil(until, visit);
  }

  // Fetches the newest message. Returns false if there is none or it is the
  // one already held.
  bool Fetch();

  // As Fetch(), but only if `predicate` accepts the newest message; otherwise
  // returns false and changes nothing.
  bool FetchIf(ContextPredicate predicate);

  // What FetchNext() and FetchNextIf() do when the next message was already
  // overwritten (see FallBehindPolicy). kDie until set. May be changed at any
  // time from the loop's thread.
  void set_fall_behind_policy(FallBehindPolicy policy) {
    fall_behind_policy_ = policy;
  }
  FallBehindPolicy fall_behind_policy() const { return fall_behind_policy_; }

  // Messages skipped under kSkipToOldest since this fetcher was made. A skip
  // is counted when it happens, before the message it landed on is returned.
  // Fetch() jumping to the newest message is not a loss and is not counted.
  uint64_t lost_messages() const { return lost_messages_; }

  // The fetched message. Before the first successful fetch: min times,
  // invalid queue indices, size 0, data nullptr, buffer_index -1, zero UUID.
  const Context &context() const { return context_; }
  const Channel *channel() const { return channel_; }
  EventLoop *event_loop() const { return event_loop_; }

 protected:
  // Implementations: try to fetch and, on success, fill context_ and return
  // true.
  virtual bool DoFetchNext() = 0;
  virtual bool DoFetchNextIf(ContextPredicate predicate) = 0;
  virtual bool DoFetch() = 0;
  virtual bool DoFetchIf(ContextPredicate predicate) = 0;
  // FetchNextUntil. The default loops over FetchNextIf; an override records
  // every message it fetches with RecordFetchAt.
  virtual size_t DoFetchNextUntil(monotonic_clock::time_point until,
                                  ContextPredicate visit);

  // For DoFetchNextUntil overrides: records, for the timing report, the
  // fetch of the message with `context` at `now` (read once per call), as a
  // successful FetchNext would.
  void RecordFetchAt(const Context &context, monotonic_clock::time_point now);

  // Implementations: `count` messages were skipped under kSkipToOldest.
  // Counts them (lost_messages() and the timing report); the implementation
  // also puts them in the context_.lost_messages of the next message it
  // returns.
  void RecordLostMessages(uint64_t count);

  Context context_;

 private:
  friend class EventLoop;
  // Records a successful fetch for the timing report.
  bool RecordFetch(bool fetched);

  EventLoop *const event_loop_;
  const Channel *const channel_;
  internal::RawFetcherTiming timing_;
  FallBehindPolicy fall_behind_policy_ = FallBehindPolicy::kDie;
  uint64_t lost_messages_ = 0;
};

}  // namespace aos

#endif  // AOS_EVENTS_RAW_FETCHER_H_
