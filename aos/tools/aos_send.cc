// aos_send: sends a message, written as JSON, on a channel. See kHelp below.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <iterator>
#include <sstream>
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
DEFINE_bool(verbose, false,
            "Print a one-line summary of what was sent (count, size, "
            "channel, the message as JSON).");

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
    .flags = {"config", "shm_base", "rate", "count", "verbose",
              "override_hostname"},
};

int Fail(std::string_view message) {
  aos::cli::PrintError(kTool, message);
  return 1;
}

// Whether `arg` can be the message: JSON (an object, after blanks) or "-".
bool LooksLikeMessage(std::string_view arg) {
  const size_t start = arg.find_first_not_of(" \t\r\n");
  return arg == "-" || (start != std::string_view::npos && arg[start] == '{');
}

// "400 messages per 2s shared by all senders of /test aos.examples.Ping":
// the channel's budget, which a send beyond fails (kMessagesSentTooFast).
std::string SendBudget(const aos::Configuration *configuration,
                       const aos::Channel *channel) {
  const std::chrono::nanoseconds storage =
      aos::configuration::ChannelStorageDuration(configuration, channel);
  std::ostringstream out;
  out << aos::configuration::QueueSize(configuration, channel)
      << " messages per " << std::chrono::duration<double>(storage).count()
      << " s shared by all senders of " << aos::cli::ChannelLabel(channel)
      << " (its frequency " << channel->frequency()
      << " Hz over the storage duration)";
  return out.str();
}

}  // namespace

int main(int argc, char **argv) {
  aos::cli::InitTool(&argc, &argv, kHelp);
  if (argc < 3 || argc > 4) {
    return Fail(
        "expected /channel [type] '{json}' (or - for stdin); see "
        "--help");
  }
  if (!LooksLikeMessage(argv[argc - 1])) {
    return Fail(std::string("missing the message: '") + argv[argc - 1] +
                "' is not JSON; expected /channel [type] '{json}' (or - for "
                "stdin), e.g. " +
                argv[1] + " " + argv[argc - 1] + " '{\"value\": 1}'");
  }
  if (FLAGS_rate < 0 || FLAGS_rate > 1e6) {
    std::ostringstream rate;
    rate << FLAGS_rate;
    return Fail("--rate=" + rate.str() +
                " is out of range: it must be in [0, 1000000] messages/s");
  }
  if (FLAGS_count < 0) {
    return Fail("--count=" + std::to_string(FLAGS_count) +
                " is out of range: it must be >= 0");
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

  int64_t sent = 0;
  int64_t failures = 0;
  // Says once why sends fail (the channel's budget), not once per message.
  auto send = [&]() -> bool {
    const aos::RawSender::Error error =
        sender->Send(message->data(), message->size());
    if (error != aos::RawSender::Error::kOk) {
      if (failures++ == 0) {
        aos::cli::PrintError(
            kTool, "sending on " + aos::cli::ChannelLabel(channel) +
                       " failed after " + std::to_string(sent) +
                       " messages: sent faster than the channel allows, " +
                       SendBudget(configuration, channel));
      }
      return false;
    }
    ++sent;
    return true;
  };
  auto summary = [&]() {
    if (FLAGS_verbose) {
      std::cout << "aos_send: sent " << sent
                << (sent == 1 ? " message" : " messages");
      if (failures > 0) std::cout << " (" << failures << " failed)";
      std::cout << " of " << message->size() << " bytes on "
                << aos::cli::ChannelLabel(channel) << ": "
                << aos::FlatbufferToJson(*schema, message->data()) << "\n";
    }
  };

  if (FLAGS_rate == 0) {
    const int64_t count = std::max<int64_t>(FLAGS_count, 1);
    for (int64_t i = 0; i < count; ++i) {
      if (!send()) break;
    }
    summary();
    return failures == 0 ? 0 : 1;
  }

  aos::TimerHandler *timer = event_loop->AddTimer([&]() {
    send();
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
  summary();
  return failures == 0 ? 0 : 1;
}
