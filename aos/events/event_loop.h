#ifndef AOS_EVENTS_EVENT_LOOP_H_
#define AOS_EVENTS_EVENT_LOOP_H_

// EventLoop: the API all AOS application code is written against.
//
// An application makes one EventLoop per thread (a ShmEventLoop on the robot,
// a simulated one in tests and replay), asks it for typed senders, fetchers
// and watchers on channels named in the configuration, adds timers and phased
// loops, and runs it:
//
//   aos::ShmEventLoop event_loop(&config.message());
//   aos::Sender<examples::Ping> sender =
//       event_loop.MakeSender<examples::Ping>("/test");
//   event_loop.MakeWatcher("/test", [&](const examples::Pong &pong) {
//     ...  // event_loop.context() describes the message being handled.
//   });
//   aos::TimerHandler *timer = event_loop.AddTimer([&]() {
//     auto builder = sender.MakeBuilder();
//     examples::Ping::Builder ping = builder.MakeBuilder<examples::Ping>();
//     ping.add_value(1);
//     builder.CheckOk(builder.Send(ping.Finish()));
//   });
//   event_loop.OnRun([&]() {
//     timer->Schedule(event_loop.monotonic_now(), std::chrono::seconds(1));
//   });
//   aos::CheckExpected(event_loop.Run());
//
// Everything runs on the loop's one thread: callbacks never overlap, and
// watcher callbacks and timers run in the order of their event times (send
// time or scheduled time). The data path (sending, fetching, dispatching
// watchers, firing timers) allocates nothing and takes no locks, so it can run
// at real-time priority.
//
// Registration rules (API misuse CHECK-fails with a message naming the
// channel): senders and watchers are made before Run() (timers and fetchers
// may be added while running); one loop may have any number of fetchers and
// senders on a channel but at most one watcher, and not both a watcher and a
// sender; channels must come from this loop's configuration and have a
// max_size that is a multiple of 8.
//
// Implementations derive from EventLoop, RawSender, RawFetcher, WatcherState,
// TimerHandler and PhasedLoopHandler; the protected sections below are their
// interface, and the shared conformance suite (event_loop_param_test.h) is
// their specification.

#include <sched.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "aos/configuration.h"
#include "aos/configuration_generated.h"
#include "aos/events/context.h"
#include "aos/events/event_loop_generated.h"
#include "aos/events/timing_statistics.h"
#include "aos/flatbuffers.h"
#include "aos/flatbuffers/builder.h"
#include "aos/json_to_flatbuffer.h"
#include "aos/time/time.h"
#include "aos/util/phased_loop.h"
#include "aos/util/status.h"
#include "aos/uuid.h"
#include "flatbuffers/flatbuffers.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DECLARE_bool(timing_reports);
DECLARE_int32(timing_report_ms);

namespace aos {

class EventLoop;
class WatcherState;
namespace internal {
class AosLogSender;
}  // namespace internal

// Message payloads end at a multiple of this (flatbuffers build from the
// back, so the end is what must be aligned).
inline constexpr size_t kChannelDataAlignment = 128;

namespace internal {
[[noreturn]] void DieChannelDataMisaligned(const void *data, size_t size);
}  // namespace internal

// CHECK-fails unless the payload [data, data + size) ends at a multiple of
// kChannelDataAlignment. Inline: every send, fetch and callback checks.
inline void CheckChannelDataAlignment(const void *data, size_t size) {
  if ((reinterpret_cast<uintptr_t>(data) + size) % kChannelDataAlignment != 0)
      [[unlikely]] {
    internal::DieChannelDataMisaligned(data, size);
  }
}

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

// A flatbuffers allocator over a sender's message buffer, so messages are
// built in place (in shared memory for ShmEventLoop). It hands out its one
// block at most once at a time; asking for more than the channel's max_size
// is fatal, naming the channel. With `static_arena`, handing out the block
// while that arena builds a static flatbuffer in the same buffer is fatal
// too.
class ChannelPreallocatedAllocator : public flatbuffers::Allocator {
 public:
  ChannelPreallocatedAllocator(uint8_t *data, size_t size,
                               const Channel *channel,
                               const fbs::Arena *static_arena = nullptr)
      : data_(data),
        size_(size),
        channel_(channel),
        static_arena_(static_arena) {}
  ChannelPreallocatedAllocator(const ChannelPreallocatedAllocator &) = delete;
  // Rebinds to another buffer. CHECK-fails while a block is handed out.
  ChannelPreallocatedAllocator &operator=(ChannelPreallocatedAllocator &&);
  // Rebinds to another buffer of the same channel and arena (what a sender
  // does before each message). CHECK-fails while a block is handed out.
  void Reset(uint8_t *data, size_t size) {
    if (is_allocated_) [[unlikely]] {
      DieAllocated();
    }
    data_ = data;
    size_ = size;
  }
  ~ChannelPreallocatedAllocator() override;

  uint8_t *allocate(size_t size) override;
  void deallocate(uint8_t *pointer, size_t size) override;
  uint8_t *reallocate_downward(uint8_t *old_p, size_t old_size, size_t new_size,
                               size_t in_use_back,
                               size_t in_use_front) override;

  bool is_allocated() const { return is_allocated_; }
  uint8_t *data() { return data_; }
  size_t size() const { return size_; }

 private:
  [[noreturn]] void DieAllocated() const;

  bool is_allocated_ = false;
  uint8_t *data_;
  size_t size_;
  const Channel *channel_;
  const fbs::Arena *static_arena_;
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
// way, since it skips to the newest message.
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

  // Fetches the newest message. Returns false if there is none or it is the
  // one already held.
  bool Fetch();

  // As Fetch(), but only if `predicate` accepts the newest message; otherwise
  // returns false and changes nothing.
  bool FetchIf(ContextPredicate predicate);

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

  Context context_;

 private:
  friend class EventLoop;
  // Records a successful fetch for the timing report.
  bool RecordFetch(bool fetched);

  EventLoop *const event_loop_;
  const Channel *const channel_;
  internal::RawFetcherTiming timing_;
};

// Sends messages on one channel. Made by EventLoop::MakeRawSender; the typed
// Sender<T> wraps it.
//
// The zero-copy way is to write up to size() bytes ending at the end of the
// buffer at data(), then Send(length). The copying overloads memcpy the
// message into that buffer first. Each successful send may move data() to
// another buffer.
class RawSender {
 public:
  // A reference-counted message payload (zero-copy in simulation).
  using SharedSpan = std::shared_ptr<const std::span<const uint8_t>>;

  enum class [[nodiscard]] Error : int{
      kOk = 0,
      // Sending would overwrite a message sent less than the channel's storage
      // duration ago, i.e. the channel's frequency is exceeded. Nothing was
      // published and nobody was woken; the sender can try again later.
      kMessagesSentTooFast = 1,
      // Someone wrote outside their message buffer. Implementations CHECK-fail
      // before returning this; it exists for the timing report.
      kInvalidRedzone = 2,
  };

  RawSender(EventLoop *event_loop, const Channel *channel);
  RawSender(const RawSender &) = delete;
  RawSender &operator=(const RawSender &) = delete;
  virtual ~RawSender();

  // The buffer to build the next message in, and its size (the channel's
  // max_size).
  virtual void *data() = 0;
  virtual size_t size() = 0;

  // Publishes the last `size` bytes of data(). CHECK-fails if size > size()
  // ("Sent too big a message on <channel>"). Readers see this node's send
  // times as the remote times, and this boot's UUID.
  Error Send(size_t size);

  // As above, for a message that came from another node (message bridge,
  // log replay): readers see these remote times, index and boot UUID.
  Error Send(size_t size, monotonic_clock::time_point monotonic_remote_time,
             realtime_clock::time_point realtime_remote_time,
             monotonic_clock::time_point monotonic_remote_transmit_time,
             uint32_t remote_queue_index, const UUID &source_boot_uuid);

  // Copies `size` bytes from `data` and publishes them.
  Error Send(const void *data, size_t size);
  Error Send(const void *data, size_t size,
             monotonic_clock::time_point monotonic_remote_time,
             realtime_clock::time_point realtime_remote_time,
             monotonic_clock::time_point monotonic_remote_transmit_time,
             uint32_t remote_queue_index, const UUID &source_boot_uuid);

  // Publishes a reference-counted payload: copied in shared memory, shared
  // without copying in simulation.
  Error Send(const SharedSpan data);
  Error Send(const SharedSpan data,
             monotonic_clock::time_point monotonic_remote_time,
             realtime_clock::time_point realtime_remote_time,
             monotonic_clock::time_point monotonic_remote_transmit_time,
             uint32_t remote_queue_index, const UUID &source_boot_uuid);

  // Does nothing for kOk. Otherwise sends a timing report (so the failure is
  // visible to tools) and dies naming the channel and the error.
  void CheckOk(const Error err);

  // Times and queue index of the last successful send (min_time and
  // 0xffffffff before the first).
  monotonic_clock::time_point monotonic_sent_time() const {
    return monotonic_sent_time_;
  }
  realtime_clock::time_point realtime_sent_time() const {
    return realtime_sent_time_;
  }
  uint32_t sent_queue_index() const { return sent_queue_index_; }

  const Channel *channel() const { return channel_; }
  EventLoop *event_loop() const { return event_loop_; }

  // Index of the data() buffer in [0, EventLoop::NumberBuffers(channel)).
  virtual int buffer_index() = 0;

  // The allocator for building a flatbuffer in data(). CHECK-fails ("May not
  // have multiple active allocators on a single sender") if the previous
  // builder or detached buffer, or a static builder, is still alive.
  ChannelPreallocatedAllocator *fbb_allocator();

  // The arena for building a static flatbuffer (aos/flatbuffers/) in data(),
  // for Sender<T>::MakeStaticBuilder. CHECK-fails like fbb_allocator() if
  // any builder (static or not) or detached buffer is still alive.
  fbs::Arena *static_allocator();

 protected:
  // Implementations publish and, on success, set the *_sent_time_ and
  // sent_queue_index_ members. They wake watchers only on success.
  virtual Error DoSend(
      size_t length, monotonic_clock::time_point monotonic_remote_time,
      realtime_clock::time_point realtime_remote_time,
      monotonic_clock::time_point monotonic_remote_transmit_time,
      uint32_t remote_queue_index, const UUID &source_boot_uuid) = 0;
  virtual Error DoSend(
      const void *data, size_t length,
      monotonic_clock::time_point monotonic_remote_time,
      realtime_clock::time_point realtime_remote_time,
      monotonic_clock::time_point monotonic_remote_transmit_time,
      uint32_t remote_queue_index, const UUID &source_boot_uuid) = 0;
  // Default: copies, as DoSend(data, length, ...).
  virtual Error DoSend(
      const SharedSpan data, monotonic_clock::time_point monotonic_remote_time,
      realtime_clock::time_point realtime_remote_time,
      monotonic_clock::time_point monotonic_remote_transmit_time,
      uint32_t remote_queue_index, const UUID &source_boot_uuid);

  monotonic_clock::time_point monotonic_sent_time_ = monotonic_clock::min_time;
  realtime_clock::time_point realtime_sent_time_ = realtime_clock::min_time;
  uint32_t sent_queue_index_ = Context::kInvalidQueueIndex;

 private:
  friend class EventLoop;
  Error RecordSend(Error err, size_t size);
  void CheckSize(size_t size);

  EventLoop *const event_loop_;
  const Channel *const channel_;
  internal::RawSenderTiming timing_;
  // Bound to data() before each message (fbb_allocator()).
  ChannelPreallocatedAllocator fbb_allocator_{nullptr, 0, channel_,
                                              &static_allocator_};
  fbs::Arena static_allocator_;
};

// Counts send failures for callers that tolerate some (e.g. best-effort
// status messages).
class SendFailureCounter {
 public:
  void Count(RawSender::Error error) {
    just_failed_ = error != RawSender::Error::kOk;
    if (just_failed_) ++failures_;
  }
  int failures() const { return failures_; }
  bool just_failed() const { return just_failed_; }

 private:
  int failures_ = 0;
  bool just_failed_ = false;
};

// A typed fetcher. Default-constructed or from TryMakeFetcher on a missing
// channel it is invalid (valid() == false) and must not be used otherwise.
template <typename T>
class Fetcher {
  static_assert(!fbs::StaticTable<T>,
                "Fetchers read ordinary flatbuffers: use Foo, not FooStatic");

 public:
  Fetcher() = default;

  // See RawFetcher.
  bool FetchNext() { return CheckedFetcher()->FetchNext(); }
  bool FetchNextIf(ContextPredicate predicate) {
    return CheckedFetcher()->FetchNextIf(predicate);
  }
  bool Fetch() { return CheckedFetcher()->Fetch(); }
  bool FetchIf(ContextPredicate predicate) {
    return CheckedFetcher()->FetchIf(predicate);
  }

  // The fetched message, or nullptr before the first successful fetch.
  const T *get() const {
    const void *data = fetcher_->context().data;
    return data == nullptr ? nullptr : flatbuffers::GetRoot<T>(data);
  }
  const T &operator*() const { return *get(); }
  const T *operator->() const { return get(); }

  const Context &context() const { return fetcher_->context(); }
  const Channel *channel() const { return fetcher_->channel(); }

  // Copies the fetched message. Requires one.
  FlatbufferVector<T> CopyFlatBuffer() const {
    return context().template CopyFlatBuffer<T>();
  }

  bool valid() const { return fetcher_ != nullptr; }
  explicit operator bool() const { return valid(); }

 private:
  friend class EventLoop;
  explicit Fetcher(std::unique_ptr<RawFetcher> fetcher)
      : fetcher_(std::move(fetcher)) {}

  RawFetcher *CheckedFetcher() {
    CHECK(fetcher_ != nullptr)
        << ": using an invalid Fetcher of " << T::GetFullyQualifiedName();
    return fetcher_.get();
  }

  std::unique_ptr<RawFetcher> fetcher_;
};

// A typed sender. Default-constructed or from TryMakeSender on a missing
// channel it is invalid (valid() == false) and must not be used otherwise.
template <typename T>
class Sender {
 public:
  Sender() = default;

  // Builds one message in place in the sender's buffer:
  //
  //   auto builder = sender.MakeBuilder();
  //   T::Builder t = builder.MakeBuilder<T>();
  //   t.add_value(5);
  //   builder.CheckOk(builder.Send(t.Finish()));
  //
  // Only one Builder (or detached buffer) may be alive per sender. Building
  // more than max_size bytes is fatal, naming the channel.
  class Builder {
   public:
    Builder(RawSender *sender, ChannelPreallocatedAllocator *allocator)
        : fbb_(allocator->size(), allocator, false), sender_(sender) {
      CheckChannelDataAlignment(allocator->data(), allocator->size());
      // Every field present, so tools can patch messages in place.
      fbb_.ForceDefaults(true);
    }
    Builder(Builder &&) = default;
    Builder &operator=(Builder &&) = default;
    Builder(const Builder &) = delete;
    Builder &operator=(const Builder &) = delete;

    flatbuffers::FlatBufferBuilder *fbb() { return &fbb_; }

    template <typename T2>
    typename T2::Builder MakeBuilder() {
      return typename T2::Builder(fbb_);
    }

    // Finishes the message rooted at `offset` and publishes it.
    RawSender::Error Send(flatbuffers::Offset<T> offset) {
      fbb_.Finish(offset);
      const RawSender::Error err = sender_->Send(fbb_.GetSize());
      // Hand the buffer back to the allocator without touching it again.
      fbb_ = flatbuffers::FlatBufferBuilder();
      return err;
    }

    void CheckOk(const RawSender::Error err) { sender_->CheckOk(err); }
    void CheckSent(flatbuffers::Offset<T> offset) { CheckOk(Send(offset)); }

    // Finishes the message without sending it. The bytes stay in the
    // sender's buffer, which stays taken until the result is destroyed or
    // passed to Sender::SendDetached.
    FlatbufferDetachedBuffer<T> Detach(flatbuffers::Offset<T> offset) {
      fbb_.Finish(offset);
      return FlatbufferDetachedBuffer<T>(fbb_.Release());
    }

   private:
    flatbuffers::FlatBufferBuilder fbb_;
    RawSender *sender_;
  };

  Builder MakeBuilder() {
    RawSender *sender = CheckedSender();
    return Builder(sender, sender->fbb_allocator());
  }

  // Builds one message in place with the static flatbuffer API
  // (aos/flatbuffers/static_table.h; include foo_static.h):
  //
  //   auto builder = sender.MakeStaticBuilder();
  //   builder->set_value(5);
  //   builder.CheckOk(builder.Send());
  //
  // Only one builder (static or not) may be alive per sender. Destroying it
  // without Send() sends nothing. It is movable; moving it moves the field
  // handles, so take pointers from add_*() after the move.
  class StaticBuilder {
   public:
    // FooStatic, for a sender of Foo or of FooStatic.
    using Static = fbs::StaticTypeFor_t<T>;

    // An empty builder, to be assigned.
    StaticBuilder() = default;
    StaticBuilder(RawSender *sender, fbs::Arena *arena)
        : builder_(arena), sender_(sender) {}
    StaticBuilder(StaticBuilder &&) = default;
    StaticBuilder &operator=(StaticBuilder &&) = default;

    // The message's root table. CHECK-fails on an empty builder.
    Static *get() { return builder_.get(); }
    Static *operator->() { return get(); }
    Static &operator*() { return *get(); }
    fbs::Builder<Static> *builder() { return &builder_; }

    // Publishes the message and empties the builder (even when the send
    // fails). CHECK-fails if a required field is unset.
    RawSender::Error Send() {
      const char *missing = builder_.MissingRequiredField();
      CHECK(missing == nullptr)
          << ": required field " << missing << " is not set in a message for "
          << configuration::StrippedChannelToString(sender_->channel());
      const RawSender::Error err = sender_->Send(builder_.buffer().size());
      builder_.Release();
      return err;
    }
    void CheckOk(const RawSender::Error err) { sender_->CheckOk(err); }
    void CheckSent() { CheckOk(Send()); }

   private:
    fbs::Builder<Static> builder_;
    RawSender *sender_ = nullptr;
  };

  // CHECK-fails if another builder is alive, or if the channel's max_size is
  // below the static size of the message (FooStatic::kSize plus the root
  // offset).
  StaticBuilder MakeStaticBuilder() {
    RawSender *sender = CheckedSender();
    fbs::Arena *arena = sender->static_allocator();
    constexpr size_t kSize =
        fbs::Builder<typename StaticBuilder::Static>::kSize;
    CHECK_GE(arena->buffer_size(), kSize)
        << ": " << configuration::StrippedChannelToString(sender->channel())
        << " has max_size " << arena->buffer_size() << ", but a static "
        << T::GetFullyQualifiedName() << " needs up to " << kSize
        << " bytes.  Increase max_size or lower the static sizes.";
    return StaticBuilder(sender, arena);
  }

  // Copies a finished message and publishes it.
  RawSender::Error Send(const Flatbuffer<T> &flatbuffer) {
    return CheckedSender()->Send(flatbuffer.span().data(),
                                 flatbuffer.span().size());
  }

  // Publishes a buffer detached from this sender's Builder (without
  // copying). CHECK-fails for any other buffer.
  RawSender::Error SendDetached(FlatbufferDetachedBuffer<T> detached) {
    RawSender *sender = CheckedSender();
    CHECK_EQ(static_cast<const void *>(detached.span().data() +
                                       detached.span().size()),
             static_cast<const void *>(static_cast<uint8_t *>(sender->data()) +
                                       sender->size()))
        << ": May only send the buffer detached from this Sender";
    return sender->Send(detached.span().size());
  }

  // Parses `json` as a T straight into the sender's buffer and publishes it.
  // CHECK-fails ("Invalid JSON") with the parser's message on bad JSON.
  RawSender::Error SendJson(std::string_view json) {
    Builder builder = MakeBuilder();
    Result<flatbuffers::Offset<flatbuffers::Table>> offset =
        JsonToFlatbuffer(SchemaOf<T>(), json, builder.fbb());
    CHECK(offset.has_value())
        << ": Invalid JSON for "
        << configuration::StrippedChannelToString(channel()) << ": "
        << offset.error().message();
    return builder.Send(flatbuffers::Offset<T>(offset->o));
  }

  // See RawSender::CheckOk.
  void CheckOk(const RawSender::Error err) { CheckedSender()->CheckOk(err); }

  monotonic_clock::time_point monotonic_sent_time() const {
    return sender_->monotonic_sent_time();
  }
  realtime_clock::time_point realtime_sent_time() const {
    return sender_->realtime_sent_time();
  }
  uint32_t sent_queue_index() const { return sender_->sent_queue_index(); }
  int buffer_index() { return CheckedSender()->buffer_index(); }
  const Channel *channel() const { return sender_->channel(); }
  EventLoop *event_loop() const { return sender_->event_loop(); }

  bool valid() const { return sender_ != nullptr; }
  explicit operator bool() const { return valid(); }

 private:
  friend class EventLoop;
  explicit Sender(std::unique_ptr<RawSender> sender)
      : sender_(std::move(sender)) {}

  RawSender *CheckedSender() {
    CHECK(sender_ != nullptr)
        << ": using an invalid Sender of " << T::GetFullyQualifiedName();
    return sender_.get();
  }

  std::unique_ptr<RawSender> sender_;
};

// A callback run at a time. Made (and owned) by EventLoop::AddTimer.
class TimerHandler {
 public:
  virtual ~TimerHandler();

  // Fires the callback at `base`, then every `repeat_offset` after it if that
  // is non-zero, replacing any previous schedule. A base in the past fires as
  // soon as possible. If the loop falls behind, missed repetitions are
  // skipped, not caught up: the next one is the first base + k *
  // repeat_offset strictly after now. May be called before Run, from any
  // callback of this loop, and from the timer's own callback.
  // CHECK-fails if `base` is before monotonic_clock::epoch().
  void Schedule(
      monotonic_clock::time_point base,
      monotonic_clock::duration repeat_offset = monotonic_clock::zero());

  // Stops future calls, including ones due at the current time that have not
  // run yet. Callable from any callback of this loop.
  virtual void Disable() = 0;

  // True before the first Schedule, after Disable, and after a one-shot timer
  // fired.
  virtual bool IsDisabled() = 0;

  // The name shown in timing reports.
  void set_name(std::string_view name);
  const std::string &name() const { return name_; }

 protected:
  TimerHandler(EventLoop *event_loop, std::function<void()> fn);

  // Implementations: (re)arm the timer. `base` is at or after the epoch.
  virtual void DoSchedule(monotonic_clock::time_point base,
                          monotonic_clock::duration repeat_offset) = 0;

  // Runs the callback for the expiration scheduled at `event_time`, with
  // context() set for it, and records timing. Returns the time it finished.
  monotonic_clock::time_point Call(monotonic_clock::time_point event_time);

  // The first `scheduled + k * repeat_offset` (k >= 1) strictly after `now`.
  static monotonic_clock::time_point NextRepeat(
      monotonic_clock::time_point scheduled,
      monotonic_clock::duration repeat_offset, monotonic_clock::time_point now);

  EventLoop *event_loop() const { return event_loop_; }

 private:
  friend class EventLoop;

  EventLoop *const event_loop_;
  std::function<void()> fn_;
  std::string name_;
  internal::TimerTiming timing_;
};

// A callback run at offset + k * interval, told how many intervals went by
// since its last call (1 normally, more after an overrun). Made (and owned)
// by EventLoop::AddPhasedLoop; it starts when the loop runs.
class PhasedLoopHandler {
 public:
  virtual ~PhasedLoopHandler();

  // Changes the interval and offset (0 <= offset < interval). Takes effect
  // after the current callback or at the next Reschedule(). With
  // `monotonic_now`, the phase is reset so that a Reschedule(monotonic_now)
  // counts exactly 1 cycle at the next call. See aos/util/phased_loop.h.
  void set_interval_and_offset(
      monotonic_clock::duration interval, monotonic_clock::duration offset,
      std::optional<monotonic_clock::time_point> monotonic_now = std::nullopt);

  // Re-arms for the first phase after `monotonic_now`, adding the cycles
  // between the last wakeup and then to the next call's count (0 or negative
  // if `monotonic_now` is earlier than the last wakeup).
  void Reschedule(monotonic_clock::time_point monotonic_now);

  // The name shown in timing reports.
  void set_name(std::string_view name);
  const std::string &name() const { return name_; }

 protected:
  PhasedLoopHandler(EventLoop *event_loop, std::function<void(int)> fn,
                    monotonic_clock::duration interval,
                    monotonic_clock::duration offset);

  // Runs the callback for the wakeup at sleep_time(), with context() set for
  // it, re-arming for the next phase after it finishes.
  void Call();

  // The wakeup time the handler is armed for.
  monotonic_clock::time_point sleep_time() const {
    return phased_loop_.sleep_time();
  }

  EventLoop *event_loop() const { return event_loop_; }

 private:
  friend class EventLoop;
  // Implementations: arm the wakeup at `sleep_time`, replacing any other.
  virtual void Schedule(monotonic_clock::time_point sleep_time) = 0;

  EventLoop *const event_loop_;
  std::function<void(int)> fn_;
  time::PhasedLoop phased_loop_;
  int cycles_elapsed_ = 0;
  std::string name_;
  internal::TimerTiming timing_;
};

// The part of a watcher common to every implementation: the callback, its
// channel and its timing statistics. Implementations derive from it and keep
// the delivery state.
class WatcherState {
 public:
  WatcherState(EventLoop *event_loop, const Channel *channel,
               std::function<void(const Context &, const void *)> fn);
  WatcherState(const WatcherState &) = delete;
  WatcherState &operator=(const WatcherState &) = delete;
  virtual ~WatcherState();

  const Channel *channel() const { return channel_; }

 protected:
  // Runs the callback for the message described by `context` (data may be
  // nullptr for no-arg watchers), with EventLoop::context() set to it, and
  // records the wakeup latency and handler time.
  void CallCallback(const Context &context);

  EventLoop *event_loop() const { return event_loop_; }

 private:
  friend class EventLoop;

  EventLoop *const event_loop_;
  const Channel *const channel_;
  std::function<void(const Context &, const void *)> fn_;
  internal::WatcherTiming timing_;
};

// Ends a running loop (or a simulation) from any thread, with a status that
// becomes Run()'s result. The first status wins. Made by the implementation
// (ShmEventLoop::MakeExitHandle); must be destroyed before it.
class ExitHandle {
 public:
  virtual ~ExitHandle() = default;
  virtual void Exit(Result<void> status = {}) = 0;
};

class EventLoop {
 public:
  // `configuration` must outlive the loop.
  explicit EventLoop(const Configuration *configuration);
  EventLoop(const EventLoop &) = delete;
  EventLoop &operator=(const EventLoop &) = delete;
  // CHECK-fails if senders made by this loop are still alive.
  virtual ~EventLoop();

  // The current time on this loop's clocks (simulated in simulation).
  virtual monotonic_clock::time_point monotonic_now() const = 0;
  virtual realtime_clock::time_point realtime_now() const = 0;

  // The channel `channel_name` of type T as this application on this node
  // sees it (maps applied), or nullptr.
  template <typename T>
  const Channel *GetChannel(std::string_view channel_name) const {
    return configuration::GetChannel(configuration(), channel_name,
                                     T::GetFullyQualifiedName(), name(), node(),
                                     true);
  }
  template <typename T>
  bool HasChannel(std::string_view channel_name) const {
    return GetChannel<T>(channel_name) != nullptr;
  }

  // A fetcher on `channel_name`, or an invalid one if the channel does not
  // exist or is not readable on this node.
  template <typename T>
  Fetcher<T> TryMakeFetcher(std::string_view channel_name) {
    const Channel *channel = GetChannel<T>(channel_name);
    if (channel == nullptr ||
        !configuration::ChannelIsReadableOnNode(channel, node())) {
      return Fetcher<T>();
    }
    return Fetcher<T>(MakeRawFetcher(channel));
  }

  // A fetcher on `channel_name`. CHECK-fails if the channel does not exist
  // or is not readable on this node. Allowed while running.
  template <typename T>
  Fetcher<T> MakeFetcher(std::string_view channel_name) {
    const Channel *channel = GetChannel<T>(channel_name);
    CHECK(channel != nullptr)
        << ": Channel { \"name\": \"" << channel_name << "\", \"type\": \""
        << T::GetFullyQualifiedName() << "\" } not found in config.";
    CHECK(configuration::ChannelIsReadableOnNode(channel, node()))
        << ": " << configuration::StrippedChannelToString(channel)
        << " is not able to be fetched on this node.  Check your "
           "configuration.";
    return Fetcher<T>(MakeRawFetcher(channel));
  }

  // A sender on `channel_name`, or an invalid one if the channel does not
  // exist or is not sendable on this node.
  template <typename T>
  Sender<T> TryMakeSender(std::string_view channel_name) {
    const Channel *channel = GetChannel<T>(channel_name);
    if (channel == nullptr ||
        !configuration::ChannelIsSendableOnNode(channel, node())) {
      return Sender<T>();
    }
    return Sender<T>(MakeRawSender(channel));
  }

  // A sender on `channel_name`. CHECK-fails if the channel does not exist or
  // is not sendable on this node, if the loop is running, or if this loop
  // watches the channel.
  template <typename T>
  Sender<T> MakeSender(std::string_view channel_name) {
    const Channel *channel = GetChannel<T>(channel_name);
    CHECK(channel != nullptr)
        << ": Channel { \"name\": \"" << channel_name << "\", \"type\": \""
        << T::GetFullyQualifiedName() << "\" } not found in config for "
        << name() << NodeSuffix() << ".";
    CHECK(configuration::ChannelIsSendableOnNode(channel, node()))
        << ": " << configuration::StrippedChannelToString(channel)
        << " is not able to be sent on this node.  Check your configuration.";
    return Sender<T>(MakeRawSender(channel));
  }

  // Calls `watcher` with every message sent on `channel_name` after the loop
  // starts running, in order. The message type is deduced from the
  // callable's one argument, `const T &`. CHECK-fails if the channel does not
  // exist or is not readable here, if the loop is running, or if this loop
  // already watches or sends on the channel.
  template <typename Watch>
  void MakeWatcher(std::string_view channel_name, Watch &&watcher);

  // As MakeWatcher, without the message: for reacting to "something was
  // sent" without reading it (no copy, no pinning slot). context().size is
  // set; context().data is nullptr.
  template <typename T>
  void MakeNoArgWatcher(std::string_view channel_name,
                        std::function<void()> watcher) {
    const Channel *channel = GetWatchableChannel<T>(channel_name);
    MakeRawNoArgWatcher(channel, [watcher = std::move(watcher)](
                                     const Context &) { watcher(); });
  }

  // Whether a watcher on the channel exists in this loop.
  bool HasWatcher(const Channel *channel) const;

  // Calls `on_run` once, when the loop next starts running: after watchers
  // are armed and the thread went realtime, in registration order, with
  // context() set like a timer's at the start time. CHECK-fails while
  // running.
  virtual void OnRun(std::function<void()> on_run) = 0;

  // The application name, and this loop's node (nullptr in single-node
  // configs).
  virtual std::string_view name() const = 0;
  virtual const Node *node() const = 0;

  // Adds a timer (disabled until scheduled), owned by the loop. Allowed
  // while running (it allocates; not on a realtime thread).
  virtual TimerHandler *AddTimer(std::function<void()> callback) = 0;

  // Adds a phased loop calling `callback(cycles)` at offset + k * interval,
  // owned by the loop. It starts when the loop runs. CHECK-fails unless
  // 0 <= offset < interval.
  virtual PhasedLoopHandler *AddPhasedLoop(
      std::function<void(int)> callback, monotonic_clock::duration interval,
      monotonic_clock::duration offset = monotonic_clock::zero()) = 0;

  // Thread-safe. True from just before OnRun callbacks until Run returns.
  bool is_running() const {
    return is_running_.load(std::memory_order_acquire);
  }

  // The SCHED_FIFO priority to run at (0: not realtime). CHECK-fails while
  // running ("Cannot set realtime priority while running.").
  void SetRuntimeRealtimePriority(int priority);
  int runtime_realtime_priority() const { return runtime_realtime_priority_; }

  // The CPUs to run on. CHECK-fails while running ("Cannot set affinity
  // while running").
  void SetRuntimeAffinity(const cpu_set_t &cpuset);
  const cpu_set_t &runtime_affinity() const { return runtime_affinity_; }
  // Every CPU the process may run on when it started.
  static cpu_set_t DefaultAffinity();

  // Untyped variants. `channel` must point into configuration()
  // (CHECK-fails "Channel pointer not found in configuration()->channels()").
  // MakeRawSender does not check that the channel is sendable on this node
  // (the message bridge relies on it).
  virtual std::unique_ptr<RawFetcher> MakeRawFetcher(
      const Channel *channel) = 0;
  virtual void MakeRawWatcher(
      const Channel *channel,
      std::function<void(const Context &context, const void *message)>
          watcher) = 0;
  virtual void MakeRawNoArgWatcher(
      const Channel *channel,
      std::function<void(const Context &context)> watcher) = 0;
  virtual std::unique_ptr<RawSender> MakeRawSender(const Channel *channel) = 0;

  // The event being handled (see Context). Outside callbacks: min times,
  // invalid indices, nullptr data, this boot's UUID.
  const Context &context() const { return context_; }

  const Configuration *configuration() const { return configuration_; }

  // Do not send timing reports from this loop.
  void SkipTimingReport() { skip_timing_report_ = true; }

  // Send AOS_LOG messages from this loop's handlers to glog instead of the
  // /aos aos.logging.LogMessageFbs channel (for tools that watch that
  // channel). Without this call, a loop that can send on that channel makes
  // its log sender when it starts running. CHECK-fails while running.
  void SkipAosLog();

  // Range of Context::buffer_index on `channel`: queue size + senders +
  // readers.
  int NumberBuffers(const Channel *channel);

  // This node's boot UUID.
  virtual const UUID &boot_uuid() const = 0;

  // The thread id stamped into timing reports. The real tid of the thread
  // running the loop by default; simulated loops return a synthetic id so
  // that reports are identical from run to run.
  virtual pid_t GetTid();

  // The version stamped into timing reports: this loop's if set, else the
  // process default. Setting either while running CHECK-fails.
  static void SetDefaultVersionString(std::string_view version);
  void SetVersionString(std::string_view version);
  std::optional<std::string_view> VersionString() const;

  // Index of `channel` in configuration()->channels(). CHECK-fails if it does
  // not point there.
  int ChannelIndex(const Channel *channel) const;

  // Sends the timing report now (if reports are on) and resets statistics.
  // Used before dying on an error, so tools see the failure.
  void SendTimingReport();

 protected:
  friend class RawSender;
  friend class RawFetcher;
  friend class TimerHandler;
  friend class PhasedLoopHandler;
  friend class WatcherState;

  void set_is_running(bool is_running) {
    is_running_.store(is_running, std::memory_order_release);
  }

  // Enforces the watcher registration rules for `channel` and records it.
  void TakeWatcher(const Channel *channel);
  // Enforces the sender registration rules for `channel` and records it.
  void TakeSender(const Channel *channel);

  // Adopt new objects (and keep the timing report in sync).
  WatcherState *NewWatcher(std::unique_ptr<WatcherState> watcher);
  TimerHandler *NewTimer(std::unique_ptr<TimerHandler> timer);
  PhasedLoopHandler *NewPhasedLoop(
      std::unique_ptr<PhasedLoopHandler> phased_loop);

  // Destroys the timing report sender and all timers, phased loops and
  // watchers. Implementations call it from their destructor, while their own
  // state (and virtual methods) still exist.
  void DeleteAllEvents();

  const std::vector<std::unique_ptr<WatcherState>> &watchers() const {
    return watchers_;
  }
  const std::vector<std::unique_ptr<TimerHandler>> &timers() const {
    return timers_;
  }
  const std::vector<std::unique_ptr<PhasedLoopHandler>> &phased_loops() const {
    return phased_loops_;
  }

  // What every implementation does when a loop starts running (each Run(),
  // or the simulation starting the loop), before its OnRun callbacks:
  //  - makes the AOS_LOG sender (first call, unless SkipAosLog()): AOS_LOG
  //    from this loop's handlers then goes to /aos aos.logging.LogMessageFbs
  //    if the configuration has that channel, else to glog;
  //  - with --timing_reports and unless SkipTimingReport(), makes the timing
  //    report's sender and timer (first call) and schedules reports every
  //    --timing_report_ms from now.
  // Returns an error naming the fix if timing reports are on and the
  // configuration has no sendable /aos aos.timing.Report channel; the loop
  // must not run then.
  Result<void> PrepareToRun();

  // Resets context() to the "no event" state.
  void ClearContext();

  // Sets context() for a timer-like event (timers, phased loops, OnRun).
  void SetTimerContext(monotonic_clock::time_point monotonic_event_time);

  Context context_;

 private:
  template <typename T>
  const Channel *GetWatchableChannel(std::string_view channel_name) {
    const Channel *channel = GetChannel<T>(channel_name);
    CHECK(channel != nullptr)
        << ": Channel { \"name\": \"" << channel_name << "\", \"type\": \""
        << T::GetFullyQualifiedName() << "\" } not found in config for "
        << "application " << name() << ".";
    return channel;
  }

  std::string NodeSuffix() const;

  // Checks what every sender, fetcher and watcher requires of its channel.
  void CheckChannel(const Channel *channel) const;

  // Sender/fetcher lifetime bookkeeping (from their constructors and
  // destructors).
  void NewSender(RawSender *sender);
  void DeleteSender(RawSender *sender);
  void NewFetcher(RawFetcher *fetcher);
  void DeleteFetcher(RawFetcher *fetcher);

  // Rebuilds the prebuilt report after objects were added or renamed.
  void UpdateTimingReport();

  // Makes aos_log_sender_ if this loop can send on /aos
  // aos.logging.LogMessageFbs and did not SkipAosLog().
  void MaybeMakeAosLogSender();
  // The timing report half of PrepareToRun().
  Result<void> MaybeScheduleTimingReports();
  // Makes this loop's log sender (or glog, without one) the AOS_LOG
  // destination of the calling thread, for the handler about to run.
  // ClearContext() undoes it.
  void SetAosLogContext();
  void DestroyAosLogSender();

  const Configuration *const configuration_;
  std::atomic<bool> is_running_{false};
  int runtime_realtime_priority_ = 0;
  cpu_set_t runtime_affinity_;
  bool skip_timing_report_ = false;
  std::optional<std::string> version_string_;

  std::vector<const Channel *> taken_watchers_;
  std::vector<const Channel *> taken_senders_;

  std::vector<RawSender *> senders_;
  std::vector<RawFetcher *> fetchers_;
  std::vector<std::unique_ptr<WatcherState>> watchers_;
  std::vector<std::unique_ptr<TimerHandler>> timers_;
  std::vector<std::unique_ptr<PhasedLoopHandler>> phased_loops_;

  // The prebuilt report, patched in place and copied out by the report
  // sender. Empty while reports are off.
  std::unique_ptr<RawSender> timing_report_sender_;
  TimerHandler *timing_report_timer_ = nullptr;
  FlatbufferDetachedBuffer<timing::Report> timing_report_;
  uint64_t timing_report_failures_ = 0;
  bool timing_report_too_big_ = false;

  bool skip_aos_log_ = false;
  std::unique_ptr<internal::AosLogSender> aos_log_sender_;
};

// Implementation details below.

namespace internal {

// Deduces the message type of a watcher from its call operator's argument.
template <typename T>
struct watch_message_type_trait;

template <typename ClassType, typename ReturnType, typename A1>
struct watch_message_type_trait<ReturnType (ClassType::*)(A1) const> {
  using message_type = std::decay_t<A1>;
};

template <typename ClassType, typename ReturnType, typename A1>
struct watch_message_type_trait<ReturnType (ClassType::*)(A1)> {
  using message_type = std::decay_t<A1>;
};

}  // namespace internal

template <typename Watch>
void EventLoop::MakeWatcher(std::string_view channel_name, Watch &&watcher) {
  using MessageType = typename internal::watch_message_type_trait<
      decltype(&std::decay_t<Watch>::operator())>::message_type;
  const Channel *channel = GetWatchableChannel<MessageType>(channel_name);
  MakeRawWatcher(channel, [watcher = std::forward<Watch>(watcher)](
                              const Context &, const void *message) mutable {
    watcher(*flatbuffers::GetRoot<MessageType>(message));
  });
}

}  // namespace aos

#endif  // AOS_EVENTS_EVENT_LOOP_H_
