#include "aos/examples/ping_lib.h"

#include <sstream>

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

void Ping::SendPing() {
  auto builder = sender_.MakeBuilder();
  examples::Ping::Builder ping = builder.MakeBuilder<examples::Ping>();
  ping.add_value(next_value_);
  ping.add_send_time(event_loop_->monotonic_now().time_since_epoch().count());
  const RawSender::Error error = builder.Send(ping.Finish());
  if (error != RawSender::Error::kOk) {
    // The channel's frequency limit: sending faster than the configuration
    // allows. Count it and try the same value again next time.
    ++send_failures_;
    LOG_EVERY_N(WARNING, 100)
        << "Ping send failed (sent too fast?) on " << options_.channel;
    return;
  }
  ++sent_;
  ++next_value_;
}

void Ping::HandlePong(const examples::Pong &pong) {
  const monotonic_clock::time_point now = event_loop_->monotonic_now();
  if (pong.value() <= last_reply_ || pong.value() >= next_value_) {
    ++unexpected_;
    LOG(WARNING) << "Unexpected reply " << pong.value() << " (last reply "
                 << last_reply_ << ", last ping " << next_value_ - 1 << ")";
    return;
  }
  if (pong.value() != last_reply_ + 1) {
    missing_ += pong.value() - last_reply_ - 1;
    LOG(WARNING) << "Missed replies " << last_reply_ + 1 << " to "
                 << pong.value() - 1;
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
