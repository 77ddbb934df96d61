// aos_send: sends a message, written as JSON, on a channel. See kHelp below.

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/shm_event_loop.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/json_to_flatbuffer.h"
#include "aos/tools/aos_cli_utils.h"
#include "gflags/gflags.h"

DEFINE_double(rate, 0,
              "Send repeatedly at this many messages per second until "
              "Ctrl-C (or --count); 0 sends once.");
DEFINE_int64(count, 0,
             "With --rate: stop after this many messages (0: no limit). "
             "Without --rate: send this many messages back to back "
             "(0 means 1).");

namespace {

constexpr std::string_view kTool = "aos_send";

const aos::cli::ToolHelp kHelp = {
    .name = kTool,
    .usage =
        "aos_send: send a message, written as JSON, on a channel.\n"
        "\n"
        "Usage:\n"
        "  aos_send [flags] /channel [type] '{json}'\n"
        "  aos_send [flags] /channel [type] -          (JSON from stdin)\n"
        "\n"
        "The type may be omitted when the channel has one type, and may be\n"
        "a unique substring of the type. Example:\n"
        "  aos_send --config=pingpong_config.json /test Ping "
        "'{\"value\": 1}'",
    .flags = {"config", "shm_base", "rate", "count", "override_hostname"},
};

int Fail(std::string_view message) {
  aos::cli::PrintError(kTool, message);
  return 1;
}

}  // namespace

int main(int argc, char **argv) {
  aos::cli::InitTool(&argc, &argv, kHelp);
  if (argc < 3 || argc > 4) {
    return Fail(
        "expected /channel [type] '{json}' (or - for stdin); see "
        "--help");
  }
  if (FLAGS_rate < 0 || FLAGS_rate > 1e6 || FLAGS_count < 0) {
    return Fail("--rate must be in [0, 1000000] and --count >= 0");
  }
  const std::string channel_name = argv[1];
  const std::string type_pattern = argc == 4 ? argv[2] : "";
  std::string json = argv[argc - 1];
  if (json == "-") {
    json.assign(std::istreambuf_iterator<char>(std::cin),
                std::istreambuf_iterator<char>());
  }

  aos::Result<aos::cli::ToolSetup> setup = aos::cli::LoadToolSetup(kTool);
  if (!setup) return Fail(setup.error().message());
  const aos::Configuration *configuration = setup->configuration();

  aos::Result<std::vector<const aos::Channel *>> found = aos::cli::FindChannels(
      configuration, channel_name, type_pattern, setup->application_name,
      setup->node, aos::cli::ChannelUse::kSend);
  if (!found) return Fail(found.error().message());
  if (found->size() != 1) {
    std::string types;
    for (const aos::Channel *channel : *found) {
      types += (types.empty() ? "" : ", ") + channel->type()->str();
    }
    return Fail(channel_name + " has several types (" + types + "); give one");
  }
  const aos::Channel *channel = found->front();
  aos::Result<const reflection::Schema *> schema =
      aos::cli::ChannelSchema(configuration, channel);
  if (!schema) return Fail(schema.error().message());

  aos::Result<flatbuffers::DetachedBuffer> message =
      aos::JsonToFlatbuffer(*schema, json);
  if (!message) {
    return Fail("invalid JSON for " + aos::cli::ChannelLabel(channel) + ": " +
                message.error().message());
  }
  if (message->size() > static_cast<size_t>(channel->max_size())) {
    return Fail("the message is " + std::to_string(message->size()) +
                " bytes, more than max_size " +
                std::to_string(channel->max_size()) + " of " +
                aos::cli::ChannelLabel(channel));
  }
  aos::Result<void> checked = aos::cli::CheckChannelQueue(
      configuration, channel, FLAGS_shm_base, aos::cli::SlotNeed::kSender);
  if (!checked) return Fail(checked.error().message());

  std::unique_ptr<aos::ShmEventLoop> event_loop =
      aos::cli::MakeToolEventLoop(*setup);
  std::unique_ptr<aos::RawSender> sender = event_loop->MakeRawSender(channel);

  auto send = [&]() -> bool {
    const aos::RawSender::Error error =
        sender->Send(message->data(), message->size());
    if (error != aos::RawSender::Error::kOk) {
      aos::cli::PrintError(
          kTool, "sending on " + aos::cli::ChannelLabel(channel) +
                     " failed: messages sent faster than the channel's "
                     "frequency allows");
      return false;
    }
    return true;
  };

  if (FLAGS_rate == 0) {
    const int64_t count = std::max<int64_t>(FLAGS_count, 1);
    for (int64_t i = 0; i < count; ++i) {
      if (!send()) return 1;
    }
    return 0;
  }

  int64_t sent = 0;
  int64_t failures = 0;
  aos::TimerHandler *timer = event_loop->AddTimer([&]() {
    if (send()) {
      ++sent;
    } else {
      ++failures;
    }
    if (FLAGS_count > 0 && sent + failures >= FLAGS_count) event_loop->Exit();
  });
  timer->set_name("send");
  event_loop->OnRun([&]() {
    timer->Schedule(
        event_loop->monotonic_now(),
        std::chrono::nanoseconds(static_cast<int64_t>(1e9 / FLAGS_rate)));
  });
  const aos::Result<void> result = event_loop->Run();
  if (!result) return Fail(result.error().message());
  return failures == 0 ? 0 : 1;
}
