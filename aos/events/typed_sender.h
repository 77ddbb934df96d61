#ifndef AOS_EVENTS_TYPED_SENDER_H_
#define AOS_EVENTS_TYPED_SENDER_H_

// Sender<T>: what application code publishes a channel's messages with. It
// wraps a RawSender (raw_sender.h) and builds T messages in place in the
// sender's buffer, with a flatbuffers builder (MakeBuilder), the static
// flatbuffer API (MakeStaticBuilder) or from JSON, or copies finished ones.
// Made by EventLoop::MakeSender / TryMakeSender; include
// aos/events/event_loop.h to use it.

#include <memory>
#include <string_view>
#include <utility>

#include "aos/configuration.h"
#include "aos/events/raw_sender.h"
#include "aos/flatbuffers.h"
#include "aos/flatbuffers/builder.h"
#include "aos/flatbuffers/static_table.h"
#include "aos/json_to_flatbuffer.h"
#include "aos/util/status.h"
#include "flatbuffers/flatbuffers.h"
#include "glog/logging.h"

namespace aos {
namespace internal {

// Whether the static flatbuffer API of T (FooStatic, from foo_static.h) is
// declared where this is asked.
template <typename T>
concept HasStaticType = requires {
  typename fbs::StaticTypeFor<T>::type;
};

}  // namespace internal

class EventLoop;

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
    static_assert(internal::HasStaticType<T>,
                  "MakeStaticBuilder needs the message's static flatbuffer "
                  "API: #include \"<dir>/<schema>_static.h\" (made by "
                  "aos_flatbuffer(... STATIC)) beside <schema>_generated.h");

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
  // offset); the message names the smallest legal max_size (that size
  // rounded up to a multiple of 8), so the fix is one edit of the config.
  StaticBuilder MakeStaticBuilder() {
    RawSender *sender = CheckedSender();
    fbs::Arena *arena = sender->static_allocator();
    constexpr size_t kSize =
        fbs::Builder<typename StaticBuilder::Static>::kSize;
    CHECK_GE(arena->buffer_size(), kSize)
        << ": " << configuration::StrippedChannelToString(sender->channel())
        << " has max_size " << arena->buffer_size() << ", but a static "
        << T::GetFullyQualifiedName() << " needs up to " << kSize
        << " bytes: set \"max_size\": " << (kSize + 7) / 8 * 8
        << " (the smallest legal max_size) or more in the configuration, or"
           " lower the schema's static_length sizes.";
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

}  // namespace aos

#endif  // AOS_EVENTS_TYPED_SENDER_H_
