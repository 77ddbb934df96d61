#ifndef AOS_EVENTS_TYPED_FETCHER_H_
#define AOS_EVENTS_TYPED_FETCHER_H_

// Fetcher<T>: what application code reads a channel with. It wraps a
// RawFetcher (raw_fetcher.h) and hands out the fetched message as a T.
// Made by EventLoop::MakeFetcher / TryMakeFetcher; include
// aos/events/event_loop.h to use it.

#include <memory>
#include <utility>

#include "aos/events/raw_fetcher.h"
#include "aos/flatbuffers.h"
#include "aos/flatbuffers/static_table.h"
#include "flatbuffers/flatbuffers.h"
#include "glog/logging.h"

namespace aos {

class EventLoop;

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

  void set_fall_behind_policy(FallBehindPolicy policy) {
    CheckedFetcher()->set_fall_behind_policy(policy);
  }
  FallBehindPolicy fall_behind_policy() const {
    return CheckedFetcher()->fall_behind_policy();
  }
  uint64_t lost_messages() const { return CheckedFetcher()->lost_messages(); }

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

  RawFetcher *CheckedFetcher() const {
    CHECK(fetcher_ != nullptr)
        << ": using an invalid Fetcher of " << T::GetFullyQualifiedName();
    return fetcher_.get();
  }

  std::unique_ptr<RawFetcher> fetcher_;
};

}  // namespace aos

#endif  // AOS_EVENTS_TYPED_FETCHER_H_
