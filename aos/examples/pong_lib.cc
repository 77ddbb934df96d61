#include "aos/examples/pong_lib.h"

#include <cinttypes>

#include "aos/examples/pong_static.h"
#include "aos/logging/logging.h"

namespace aos {

Pong::Pong(EventLoop *event_loop, std::string_view channel)
    : sender_(event_loop->MakeSender<examples::Pong>(channel)) {
  event_loop->MakeWatcher(
      channel, [this](const examples::Ping &ping) { HandlePing(ping); });
  event_loop->OnRun([]() { AOS_LOG(INFO, "answering pings"); });
}

void Pong::HandlePing(const examples::Ping &ping) {
  // Built in place in shared memory (static flatbuffers): no allocation in
  // the watcher.
  auto builder = sender_.MakeStaticBuilder();
  builder->set_value(ping.value());
  builder->set_initial_send_time(ping.send_time());
  if (builder.Send() != RawSender::Error::kOk) {
    // Ping sends at most as fast as the channel allows, so this means
    // another sender shares the channel. Ping counts the missing reply.
    // AOS_LOG, not glog: this runs in the (possibly real-time) watcher.
    if (send_failures_++ % 100 == 0) {
      AOS_LOG(WARNING, "Pong send failed %" PRId64 " times (sent too fast?)",
              send_failures_);
    }
    return;
  }
  ++answered_;
}

}  // namespace aos
