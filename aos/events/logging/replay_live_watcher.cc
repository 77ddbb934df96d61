// Test helper for replay_live_test: a separate process with a ShmEventLoop
// that reports what a live replay published. When it runs it fetches the
// latest message of each channel named by --channels (the state a replay
// sends before its start), writes --ready_file, then watches those channels
// and appends one line per message to --output:
//
//   fetch <channel> <type> <hex bytes or "none">
//   watch <channel> <type> <monotonic_event_time ns> <hex bytes>
//
// It exits (status 0) after --count watched messages, or with status 2
// after --timeout_s seconds.

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/shm_event_loop.h"
#include "aos/init.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(config, "", "The configuration (the replay's configuration()).");
DEFINE_string(channels, "",
              "Comma-separated name:type pairs to fetch and watch.");
DEFINE_string(ready_file, "", "Written once the watchers are in place.");
DEFINE_string(output, "", "Where to write what was seen.");
DEFINE_int32(count, 0, "Exit after this many watched messages.");
DEFINE_int32(timeout_s, 60, "Give up (exit status 2) after this long.");

namespace {

std::string Hex(const void *data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    const uint8_t byte = static_cast<const uint8_t *>(data)[i];
    out += kDigits[byte >> 4];
    out += kDigits[byte & 15];
  }
  return out;
}

}  // namespace

int main(int argc, char **argv) {
  aos::InitGoogle(&argc, &argv);
  aos::FlatbufferDetachedBuffer<aos::Configuration> config =
      aos::configuration::ReadConfig(FLAGS_config);
  aos::ShmEventLoop loop(&config.message());
  loop.SkipTimingReport();
  loop.SkipAosLog();
  std::ofstream output(FLAGS_output);
  CHECK(output) << ": cannot write " << FLAGS_output;

  std::vector<const aos::Channel *> channels;
  std::stringstream list(FLAGS_channels);
  std::string item;
  while (std::getline(list, item, ',')) {
    const size_t colon = item.find(':');
    CHECK_NE(colon, std::string::npos) << ": --channels wants name:type";
    const aos::Channel *channel =
        aos::configuration::GetChannel(&config.message(), item.substr(0, colon),
                                       item.substr(colon + 1), "", nullptr);
    CHECK(channel != nullptr) << ": no channel " << item;
    channels.push_back(channel);
  }

  std::vector<std::unique_ptr<aos::RawFetcher>> fetchers;
  int watched = 0;
  for (const aos::Channel *channel : channels) {
    fetchers.push_back(loop.MakeRawFetcher(channel));
    const std::string name =
        channel->name()->str() + " " + channel->type()->str();
    loop.MakeRawWatcher(
        channel, [&, name](const aos::Context &context, const void *data) {
          output << "watch " << name << " "
                 << context.monotonic_event_time.time_since_epoch().count()
                 << " " << Hex(data, context.size) << "\n";
          if (++watched == FLAGS_count) {
            output.flush();
            loop.Exit();
          }
        });
  }
  aos::TimerHandler *timeout = loop.AddTimer([&]() {
    output << "timeout after " << watched << " messages\n";
    output.flush();
    loop.ExitWithStatus(aos::MakeError("timed out"));
  });
  loop.OnRun([&]() {
    for (size_t i = 0; i < channels.size(); ++i) {
      output << "fetch " << channels[i]->name()->str() << " "
             << channels[i]->type()->str() << " "
             << (fetchers[i]->Fetch() ? Hex(fetchers[i]->context().data,
                                            fetchers[i]->context().size)
                                      : std::string("none"))
             << "\n";
    }
    output.flush();
    timeout->Schedule(loop.monotonic_now() +
                      std::chrono::seconds(FLAGS_timeout_s));
    std::ofstream(FLAGS_ready_file) << "ready\n";
  });
  const aos::Result<void> result = loop.Run();
  output.flush();
  return result ? 0 : 2;
}
