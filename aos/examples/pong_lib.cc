#include "aos/examples/pong_lib.h"

#include "glog/logging.h"

namespace aos {

Pong::Pong(EventLoop *event_loop, std::string_view channel)
    : sender_(event_loop->MakeSender<examples::Pong>(channel)) {
  event_loop->MakeWatcher(
      channel, [this](const examples::Ping &ping) { HandlePing(ping); });
}

void Pong::HandlePing(const examples::Ping &ping) {
  auto builder = sender_.MakeBuilder();
  examples::Pong::Builder pong = builder.MakeBuilder<examples::Pong>();
  pong.add_value(ping.value());
  pong.add_initial_send_time(ping.send_time());
  if (builder.Send(pong.Finish()) != RawSender::Error::kOk) {
    // Ping sends at most as fast as the channel allows, so this means
    // another sender shares the channel. Ping counts the missing reply.
    ++send_failures_;
    LOG_EVERY_N(WARNING, 100) << "Pong send failed (sent too fast?)";
    return;
  }
  ++answered_;
}

}  // namespace aos
