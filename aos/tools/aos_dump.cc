// aos_dump: lists channels, prints the messages sent on them, or measures
// their rates. See kHelp below.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/shm_channel_queue.h"
#include "aos/events/shm_event_loop.h"
#include "aos/examples/latency_histogram.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/tools/aos_cli_utils.h"
#include "gflags/gflags.h"

DEFINE_bool(all, false, "List channels of every node, not only this one's.");
DEFINE_bool(canonical, false, "List channels without their map aliases.");
DEFINE_bool(fetch, false,
            "Print the newest message already sent on each channel first.");
DEFINE_int64(count, -1,
             "Exit after printing this many messages (-1: no limit).");
DEFINE_int64(timeout, -1,
             "Exit after this many milliseconds (-1: never; 0: only print "
             "what --fetch finds).");
DEFINE_int64(rate_limit, 0,
             "Print at most one message per channel every this many "
             "milliseconds (others are skipped).");
DEFINE_bool(pretty, false, "Print messages as multi-line JSON.");
DEFINE_bool(pretty_max, false,
            "Multi-line JSON, keeping short tables and vectors on one line.");
DEFINE_bool(json, false,
            "Print one JSON object per message and line (times in ns).");
DEFINE_int32(max_vector_size, 100,
             "Print vectors longer than this as \"... N elements ...\".");
DEFINE_bool(hex, false, "Print integers in hexadecimal.");
DEFINE_bool(rate, false,
            "Instead of messages, print each channel's messages/s and "
            "bytes/s every --rate_period_ms (all readable channels when no "
            "channel is given).");
DEFINE_int32(rate_period_ms, 1000, "The period of --rate and --delay reports.");
DEFINE_bool(delay, false,
            "Instead of messages, print each channel's send-to-receive delay "
            "(min, p50, p99, max, mean, like `ros2 topic delay`) every "
            "--rate_period_ms: from the send time to this process's wakeup, "
            "on this node's clock.");
DEFINE_string(find, "",
              "List the channels whose type equals or contains this (e.g. "
              "--find=Ping), instead of printing messages.");

namespace {

constexpr std::string_view kTool = "aos_dump";

const aos::cli::ToolHelp kHelp = {
    .name = kTool,
    .usage =
        "aos_dump: list channels, print their messages, or measure rates.\n"
        "\n"
        "Usage:\n"
        "  aos_dump [--config=aos_config.json]        list readable channels\n"
        "  aos_dump [flags] /channel [type]           print messages\n"
        "  aos_dump --rate [/channel [type]]          msgs/s and bytes/s\n"
        "  aos_dump --delay [/channel [type]]         send-to-receive delay\n"
        "  aos_dump --find=TYPE                       channels of a type\n"
        "\n"
        "The type is optional: a type equal to it wins, otherwise it must be\n"
        "a substring of exactly one type on the channel; with no type every\n"
        "type on the channel is printed. Map aliases of channel names work.\n"
        "Each message prints as\n"
        "  realtime (monotonic) /name type: {json}",
    .flags = {"config", "shm_base", "fetch", "count", "timeout", "rate_limit",
              "pretty", "pretty_max", "json", "max_vector_size", "hex", "rate",
              "delay", "rate_period_ms", "find", "all", "canonical",
              "override_hostname"},
};

int Fail(std::string_view message) {
  aos::cli::PrintError(kTool, message);
  return 1;
}

// Prints the channels this node can read (every channel with --all).
void ListChannels(const aos::Configuration *config, const aos::Node *node,
                  std::string_view application_name) {
  for (const aos::Channel *channel : *config->channels()) {
    if (!FLAGS_all &&
        !aos::configuration::ChannelIsReadableOnNode(channel, node)) {
      continue;
    }
    std::cout << aos::cli::ChannelLabel(channel);
    if (!FLAGS_canonical) {
      const std::vector<std::string> aliases =
          aos::cli::ChannelAliases(config, channel, application_name, node);
      for (size_t i = 0; i < aliases.size(); ++i) {
        std::cout << (i == 0 ? "  (alias " : ", ") << aliases[i];
      }
      if (!aliases.empty()) std::cout << ")";
    }
    std::cout << "\n";
  }
}

// Prints messages of `channels` as they arrive, per the flags.
class Printer {
 public:
  Printer(aos::ShmEventLoop *event_loop, aos::cli::PrintOptions options)
      : event_loop_(event_loop), options_(options) {}

  // Returns false once --count messages were printed.
  bool Print(const aos::Channel *channel, const reflection::Schema *schema,
             const aos::Context &context) {
    // Messages handled in the same wakeup as the last one counted.
    if (done()) return false;
    if (FLAGS_rate_limit > 0) {
      auto [it, inserted] =
          last_printed_.try_emplace(channel, aos::monotonic_clock::min_time);
      if (!inserted &&
          context.monotonic_event_time <
              it->second + std::chrono::milliseconds(FLAGS_rate_limit)) {
        return true;
      }
      it->second = context.monotonic_event_time;
    }
    std::cout << aos::cli::FormatMessage(channel, schema, context, options_)
              << std::endl;
    ++printed_;
    if (FLAGS_count >= 0 && printed_ >= FLAGS_count) {
      event_loop_->Exit();
      return false;
    }
    return true;
  }

  bool done() const { return FLAGS_count >= 0 && printed_ >= FLAGS_count; }

 private:
  aos::ShmEventLoop *event_loop_;
  const aos::cli::PrintOptions options_;
  int64_t printed_ = 0;
  std::map<const aos::Channel *, aos::monotonic_clock::time_point>
      last_printed_;
};

// --find: the channels whose type equals or contains `type`.
int FindType(const aos::Configuration *config, const aos::Node *node,
             std::string_view type) {
  int found = 0;
  for (const aos::Channel *channel : *config->channels()) {
    if (!FLAGS_all &&
        !aos::configuration::ChannelIsReadableOnNode(channel, node)) {
      continue;
    }
    if (channel->type()->string_view().find(type) == std::string_view::npos) {
      continue;
    }
    std::cout << aos::cli::ChannelLabel(channel) << "\n";
    ++found;
  }
  if (found == 0) {
    return Fail("no readable channel has a type containing \"" +
                std::string(type) + "\" (list them all with aos_dump)");
  }
  return 0;
}

// Runs `event_loop` until Ctrl-C (or for `timeout`, unless negative),
// calling `report` every --rate_period_ms from the start, in a timer named
// `name`. Returns the tool's exit code.
int RunReporting(aos::ShmEventLoop *event_loop, std::string_view name,
                 std::function<void()> report,
                 std::chrono::milliseconds timeout) {
  aos::TimerHandler *timer = event_loop->AddTimer(std::move(report));
  timer->set_name(name);
  event_loop->OnRun([event_loop, timer]() {
    const auto period = std::chrono::milliseconds(FLAGS_rate_period_ms);
    timer->Schedule(event_loop->monotonic_now() + period, period);
  });
  if (timeout.count() >= 0) aos::cli::ExitAfter(event_loop, timeout);
  const aos::Result<void> result = event_loop->Run();
  if (!result) return Fail(result.error().message());
  return 0;
}

// --delay: per channel and period, the delay from each message's send time
// to this process's wakeup for it, like `ros2 topic delay`.
int RunDelay(aos::ShmEventLoop *event_loop,
             const std::vector<const aos::Channel *> &channels,
             std::chrono::milliseconds timeout) {
  std::vector<std::unique_ptr<aos::examples::LatencyHistogram>> delays;
  for (const aos::Channel *channel : channels) {
    delays.push_back(std::make_unique<aos::examples::LatencyHistogram>());
    aos::examples::LatencyHistogram *delay = delays.back().get();
    // No-arg watchers: the delay needs the send time, not a copy.
    event_loop->MakeRawNoArgWatcher(channel, [event_loop, delay](
                                                 const aos::Context &context) {
      delay->Record(event_loop->monotonic_now() - context.monotonic_event_time);
    });
  }
  return RunReporting(
      event_loop, "delay_report",
      [&]() {
        for (size_t i = 0; i < channels.size(); ++i) {
          std::cout << aos::cli::ChannelLabel(channels[i]) << ": "
                    << delays[i]->Summary("messages, delay") << "\n";
          *delays[i] = aos::examples::LatencyHistogram();
        }
        std::cout << std::endl;
      },
      timeout);
}

int RunRate(aos::ShmEventLoop *event_loop,
            const std::vector<const aos::Channel *> &channels,
            std::chrono::milliseconds timeout) {
  std::vector<std::unique_ptr<aos::cli::RateCounter>> counters;
  const aos::monotonic_clock::time_point start = event_loop->monotonic_now();
  for (const aos::Channel *channel : channels) {
    counters.push_back(std::make_unique<aos::cli::RateCounter>(start));
    aos::cli::RateCounter *counter = counters.back().get();
    // No-arg watchers: counting needs the size and time, not a copy.
    event_loop->MakeRawNoArgWatcher(
        channel, [counter](const aos::Context &context) {
          counter->Add(context.monotonic_event_time, context.size);
        });
    // A tool must not die of falling behind a fast channel (issue 13).
    event_loop->SetWatcherFallBehindPolicy(
        channel, aos::FallBehindPolicy::kSkipToOldest);
  }
  return RunReporting(
      event_loop, "rate_report",
      [&]() {
        const aos::monotonic_clock::time_point now =
            event_loop->monotonic_now();
        for (size_t i = 0; i < channels.size(); ++i) {
          std::cout << aos::cli::FormatRate(aos::cli::ChannelLabel(channels[i]),
                                            counters[i]->TakeWindow(now))
                    << "\n";
        }
        std::cout << std::endl;
      },
      timeout);
}

}  // namespace

int main(int argc, char **argv) {
  aos::cli::InitTool(&argc, &argv, kHelp);
  if (argc > 3) {
    return Fail("too many arguments (expected [/channel [type]]; see --help)");
  }
  if (FLAGS_json && (FLAGS_pretty || FLAGS_pretty_max)) {
    return Fail(
        "--json prints one message per line; it cannot be combined "
        "with --pretty or --pretty_max");
  }
  // Each range error names the one flag that is wrong.
  if (FLAGS_max_vector_size < 0) {
    return Fail("--max_vector_size=" + std::to_string(FLAGS_max_vector_size) +
                " is out of range: it must be >= 0");
  }
  if (FLAGS_rate_limit < 0) {
    return Fail("--rate_limit=" + std::to_string(FLAGS_rate_limit) +
                " is out of range: it must be >= 0 (milliseconds)");
  }
  if (FLAGS_timeout < -1) {
    return Fail("--timeout=" + std::to_string(FLAGS_timeout) +
                " is out of range: it must be >= -1 (-1: forever)");
  }
  if (FLAGS_count < -1) {
    return Fail("--count=" + std::to_string(FLAGS_count) +
                " is out of range: it must be >= -1 (-1: no limit)");
  }
  if (FLAGS_rate_period_ms <= 0) {
    return Fail("--rate_period_ms=" + std::to_string(FLAGS_rate_period_ms) +
                " is out of range: it must be > 0");
  }

  aos::Result<aos::cli::ToolSetup> setup = aos::cli::LoadToolSetup(kTool);
  if (!setup) return Fail(setup.error().message());
  const aos::Configuration *configuration = setup->configuration();
  const aos::Node *node = setup->node;

  if (FLAGS_rate && FLAGS_delay) {
    return Fail("--rate and --delay are two reports; give one");
  }
  if (!FLAGS_find.empty()) {
    if (argc > 1) return Fail("--find takes no channel arguments");
    return FindType(configuration, node, FLAGS_find);
  }
  const bool statistics = FLAGS_rate || FLAGS_delay;
  // Reports need time to pass; --timeout=0 leaves none.
  if (statistics && FLAGS_timeout == 0) return 0;
  if (argc == 1 && !statistics) {
    ListChannels(configuration, node, setup->application_name);
    return 0;
  }

  std::vector<const aos::Channel *> channels;
  if (argc == 1) {
    for (const aos::Channel *channel : *configuration->channels()) {
      if (aos::configuration::ChannelIsReadableOnNode(channel, node)) {
        channels.push_back(channel);
      }
    }
  } else {
    aos::Result<std::vector<const aos::Channel *>> found =
        aos::cli::FindChannels(configuration, argv[1], argc > 2 ? argv[2] : "",
                               setup->application_name, node,
                               aos::cli::ChannelUse::kRead);
    if (!found) return Fail(found.error().message());
    channels = std::move(*found);
  }

  std::vector<const reflection::Schema *> schemas;
  if (!statistics) {
    for (const aos::Channel *channel : channels) {
      aos::Result<const reflection::Schema *> schema =
          aos::cli::ChannelSchema(configuration, channel);
      if (!schema) return Fail(schema.error().message());
      schemas.push_back(*schema);
    }
  }
  const bool watch = FLAGS_timeout != 0;
  // aos_dump only reads: it never creates a queue file or the --shm_base
  // directory (a misspelled --shm_base would otherwise fill up silently).
  // A channel nobody opened yet has no message to fetch; to watch it, wait
  // (within --timeout) for a sender to create its queue.
  const auto start = std::chrono::steady_clock::now();
  auto queue_exists = [](const aos::Channel *channel) {
    return std::filesystem::exists(
        aos::ShmChannelQueuePath(FLAGS_shm_base, channel));
  };
  const bool wait_for_queues = watch && !(statistics && argc == 1);
  if (!wait_for_queues) {
    std::vector<const aos::Channel *> present;
    std::vector<const reflection::Schema *> present_schemas;
    for (size_t i = 0; i < channels.size(); ++i) {
      if (!queue_exists(channels[i])) continue;
      present.push_back(channels[i]);
      if (!schemas.empty()) present_schemas.push_back(schemas[i]);
    }
    channels = std::move(present);
    schemas = std::move(present_schemas);
  } else {
    for (const aos::Channel *channel : channels) {
      if (!queue_exists(channel)) {
        std::cerr << kTool << ": waiting for the first message on "
                  << aos::cli::ChannelLabel(channel)
                  << " (no sender has opened it)" << std::endl;
      }
    }
    while (!std::all_of(channels.begin(), channels.end(), queue_exists)) {
      if (FLAGS_timeout > 0 && std::chrono::steady_clock::now() - start >=
                                   std::chrono::milliseconds(FLAGS_timeout)) {
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (channels.empty()) return 0;
  for (const aos::Channel *channel : channels) {
    aos::Result<void> checked = aos::cli::CheckChannelQueue(
        configuration, channel, FLAGS_shm_base,
        watch ? aos::cli::SlotNeed::kWatcher : aos::cli::SlotNeed::kNone);
    if (!checked) return Fail(checked.error().message());
  }

  std::unique_ptr<aos::ShmEventLoop> event_loop =
      aos::cli::MakeToolEventLoop(*setup);
  if (statistics) {
    // --timeout counts from the start, including any wait for the queues.
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    const std::chrono::milliseconds timeout =
        FLAGS_timeout > 0
            ? std::max(std::chrono::milliseconds(FLAGS_timeout) - waited,
                       std::chrono::milliseconds(0))
            : std::chrono::milliseconds(-1);
    return FLAGS_rate ? RunRate(event_loop.get(), channels, timeout)
                      : RunDelay(event_loop.get(), channels, timeout);
  }

  aos::cli::PrintOptions options;
  options.pretty = FLAGS_pretty;
  options.pretty_max = FLAGS_pretty_max;
  options.json = FLAGS_json;
  options.max_vector_size = static_cast<size_t>(FLAGS_max_vector_size);
  options.hex = FLAGS_hex;
  Printer printer(event_loop.get(), options);

  if (FLAGS_fetch) {
    // The newest message of each channel, oldest first.
    std::vector<std::pair<std::unique_ptr<aos::RawFetcher>, size_t>> fetched;
    for (size_t i = 0; i < channels.size(); ++i) {
      std::unique_ptr<aos::RawFetcher> fetcher =
          event_loop->MakeRawFetcher(channels[i]);
      if (fetcher->Fetch()) fetched.emplace_back(std::move(fetcher), i);
    }
    std::sort(fetched.begin(), fetched.end(), [](const auto &a, const auto &b) {
      return a.first->context().monotonic_event_time <
             b.first->context().monotonic_event_time;
    });
    for (const auto &[fetcher, i] : fetched) {
      if (!printer.Print(channels[i], schemas[i], fetcher->context())) break;
    }
  }
  if (!watch || printer.done()) return 0;

  for (size_t i = 0; i < channels.size(); ++i) {
    const aos::Channel *channel = channels[i];
    const reflection::Schema *schema = schemas[i];
    event_loop->MakeRawWatcher(
        channel,
        [&printer, channel, schema](const aos::Context &context, const void *) {
          // Printing can be slower than a fast channel: skip what was
          // overwritten instead of dying, and say so where the user sees it
          // without corrupting the message stream on stdout.
          if (context.lost_messages != 0) {
            std::cerr << "aos_dump: lost " << context.lost_messages
                      << " message" << (context.lost_messages == 1 ? "" : "s")
                      << " of " << aos::cli::ChannelLabel(channel)
                      << ": printing fell more than a queue behind"
                      << std::endl;
          }
          printer.Print(channel, schema, context);
        });
    event_loop->SetWatcherFallBehindPolicy(
        channel, aos::FallBehindPolicy::kSkipToOldest);
  }
  if (FLAGS_timeout > 0) {
    // --timeout counts from the start, including any wait for the queues.
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    aos::cli::ExitAfter(
        event_loop.get(),
        std::max(std::chrono::milliseconds(FLAGS_timeout) - waited,
                 std::chrono::milliseconds(0)));
  }
  const aos::Result<void> result = event_loop->Run();
  if (!result) return Fail(result.error().message());
  return 0;
}
