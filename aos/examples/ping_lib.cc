#include "aos/examples/ping_lib.h"

#include <cinttypes>
#include <sstream>

#include "aos/examples/ping_static.h"
#include "aos/logging/logging.h"
#include "glog/logging.h"

namespace aos {

Ping::Ping(EventLoop *event_loop, PingOptions options)
    : event_loop_(event_loop),
      options_(std::move(options)),
      sender_(event_loop->MakeSender<examples::Ping>(options_.channel)) {
  CHECK_GT(options_.interval.count(), 0) << ": ping interval must be positive";
  timer_ = event_loop_->AddTimer([this]() { SendPing(); });
  timer_->set_name("ping");
  event_loop_->MakeWatcher(
      options_.channel,
      [this](const examples::Pong &pong) { HandlePong(pong); });
  event_loop_->OnRun([this]() {
    timer_->Schedule(event_loop_->monotonic_now(), options_.interval);
  });
}

// The timer and the watcher run in the loop's (possibly real-time) thread:
// the message is built in place in shared memory with the static builder and
// problems are reported with AOS_LOG, so neither allocates.
void Ping::SendPing() {
  auto builder = sender_.MakeStaticBuilder();
  builder->set_value(next_value_);
  builder->set_send_time(
      event_loop_->monotonic_now().time_since_epoch().count());
  if (builder.Send() != RawSender::Error::kOk) {
    // The channel's frequency limit: sending faster than the configuration
    // allows. Count it and try the same value again next time.
    if (send_failures_++ % 100 == 0) {
      AOS_LOG(WARNING,
              "Ping send failed %" PRId64 " times on %s (sent too fast?)",
              send_failures_, options_.channel.c_str());
    }
    return;
  }
  ++sent_;
  ++next_value_;
}

void Ping::HandlePong(const examples::Pong &pong) {
  const monotonic_clock::time_point now = event_loop_->monotonic_now();
  if (pong.value() <= last_reply_ || pong.value() >= next_value_) {
    ++unexpected_;
    AOS_LOG(WARNING,
            "Unexpected reply %" PRId32 " (last reply %" PRId32
            ", last ping %" PRId32 ")",
            pong.value(), last_reply_, next_value_ - 1);
    return;
  }
  if (pong.value() != last_reply_ + 1) {
    missing_ += pong.value() - last_reply_ - 1;
    AOS_LOG(WARNING, "Missed replies %" PRId32 " to %" PRId32, last_reply_ + 1,
            pong.value() - 1);
  }
  last_reply_ = pong.value();
  round_trips_.Record(now -
                      monotonic_clock::time_point(
                          monotonic_clock::duration(pong.initial_send_time())));
  if (options_.count > 0 &&
      static_cast<int64_t>(round_trips_.count()) == options_.count &&
      options_.on_done) {
    options_.on_done();
  }
}

std::string Ping::Summary() const {
  std::ostringstream out;
  out << "ping: sent " << sent_ << " pings every "
      << examples::FormatDuration(options_.interval) << ", got "
      << round_trips_.count() << " replies (" << missing_ << " missing, "
      << unexpected_ << " unexpected, " << send_failures_
      << " send failures)\n";
  out << "ping: " << round_trips_.Summary() << "\n";
  return out.str();
}

}  // namespace aos
