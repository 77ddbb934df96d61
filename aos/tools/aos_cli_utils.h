#ifndef AOS_TOOLS_AOS_CLI_UTILS_H_
#define AOS_TOOLS_AOS_CLI_UTILS_H_

// What the AOS command-line tools (aos_dump, aos_send, aos_shm,
// aos_timing_report_streamer) share: help text, loading the configuration,
// picking channels from what the user typed, checking a channel's queue
// before an event loop touches it, and printing messages.
//
// The rule these helpers serve: whatever the user typed (arguments, JSON, a
// config file, stale shared memory) a tool prints one line saying what is
// wrong and how to fix it, and exits non-zero; it never dies with a stack
// trace. So everything that can fail on user input returns a Result, and the
// checks that ShmEventLoop would CHECK-fail on (queue file mismatch, all
// slots taken, unknown node) are done here first.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aos/configuration.h"
#include "aos/events/context.h"
#include "aos/events/shm_event_loop.h"
#include "aos/flatbuffers.h"
#include "aos/time/time.h"
#include "aos/util/status.h"
#include "gflags/gflags.h"

// The configuration every program built on these helpers reads. Its default
// is the program's ToolHelp::default_config.
DECLARE_string(config);

namespace aos::cli {

// The help of one tool: what it does and how to call it, then the flags it
// uses (names of gflags, printed with their type, default and description).
struct ToolHelp {
  std::string_view name;
  std::string_view usage;
  std::vector<std::string_view> flags;
  // The default of --config for this program.
  std::string_view default_config = "aos_config.json";
};

// Prints `help` (usage, then each flag) to stdout.
void PrintHelp(const ToolHelp &help);

// "<program> (AOS) 0.1.0 (git 1a2b3c4d5e6f)": what --version prints. The
// revision is the commit AOS was built from ("-dirty" with local changes,
// "unknown" outside a git checkout).
std::string VersionString(std::string_view program);

// The start of every AOS program's main(), tools and applications alike
// (see docs/getting_started.md): makes help.default_config the default of
// --config; if the arguments ask for help (--help, -h, -help, --helpshort)
// prints PrintHelp and exits 0; --version prints VersionString(help.name)
// and exits 0; otherwise runs aos::InitGoogle, which removes the flags from
// argv (an unknown flag or a bad flag value prints one line and exits 1
// there). Logging goes to stderr and only warnings and errors are shown.
//
// --config is defined here: programs using InitTool must not define their
// own (read FLAGS_config, or call LoadConfigOrExit).
void InitTool(int *argc, char ***argv, const ToolHelp &help);

// Prints "<tool>: <message>" on stderr.
void PrintError(std::string_view tool, std::string_view message);

// Reads and validates the configuration at `path` (a relative path is also
// looked for beside the running program: configuration::FindConfigFile).
// The error names the file and the problem.
Result<FlatbufferDetachedBuffer<Configuration>> LoadConfig(
    std::string_view path);

// LoadConfig(FLAGS_config) for a program's main(): on error prints
// "<program>: <error>" (one line, no stack trace) and exits 1.
FlatbufferDetachedBuffer<Configuration> LoadConfigOrExit(
    std::string_view program);

// What a tool that works on channels loads before anything else.
struct ToolSetup {
  // From --config.
  FlatbufferDetachedBuffer<Configuration> config;
  // This host's node (FindMyNode); nullptr in single-node configurations.
  const Node *node;
  // The name channels are looked up as (maps apply per application):
  // --application_name, else the tool's name.
  std::string application_name;

  const Configuration *configuration() const { return &config.message(); }
};

// LoadConfig(--config), then FindMyNode. Errors are theirs.
Result<ToolSetup> LoadToolSetup(std::string_view tool_name);

// The event loop of a tool: named setup.application_name, and neither
// sending timing reports nor taking a slot on the AOS_LOG channel (a tool
// is not a process to monitor, and aos_dump may be watching that channel).
std::unique_ptr<ShmEventLoop> MakeToolEventLoop(const ToolSetup &setup);

// Makes `event_loop` exit `timeout` after it starts running (a tool's
// --timeout). Call before Run.
void ExitAfter(ShmEventLoop *event_loop, std::chrono::milliseconds timeout);

// The node this host is in the configuration (by --override_hostname or the
// hostname); nullptr for single-node configs. Errors instead of dying when
// there is no such node.
Result<const Node *> FindMyNode(const Configuration *config);

// What the tool will do with a channel: read it or send on it.
enum class ChannelUse { kRead, kSend };

// The channels that `name` and `type_pattern` select, as seen by
// `application_name` on `node` (maps applied, so aliases work):
//   - `name` must be a channel name (or a map alias of one);
//   - an empty `type_pattern` selects every type on that name;
//   - else a type equal to the pattern wins; otherwise the types containing
//     it as a substring, which must be exactly one.
// Only channels usable for `use` on `node` are considered. Errors (one
// line, with what exists instead): unknown name, no type matching, several
// types matching, channel not readable/sendable here.
Result<std::vector<const Channel *>> FindChannels(
    const Configuration *config, std::string_view name,
    std::string_view type_pattern, std::string_view application_name,
    const Node *node, ChannelUse use);

// The names that map to `channel` for `application_name` on `node` through
// exact (non-wildcard) maps, e.g. {"/alias"}.
std::vector<std::string> ChannelAliases(const Configuration *config,
                                        const Channel *channel,
                                        std::string_view application_name,
                                        const Node *node);

// Opens (creating if needed, as ShmEventLoop would) the queue of `channel`
// under `shm_base` and checks that it matches the configuration and that a
// slot of the kind the tool needs is free (a watcher slot to watch, a sender
// slot to send). Errors name the file and the fix (aos_shm).
enum class SlotNeed { kNone, kWatcher, kSender };
Result<void> CheckChannelQueue(const Configuration *config,
                               const Channel *channel,
                               std::string_view shm_base, SlotNeed need);

// The schema of `channel`'s type, or an error saying the config lacks it
// (a config not flattened with its schemas).
Result<const reflection::Schema *> ChannelSchema(const Configuration *config,
                                                 const Channel *channel);

// How aos_dump prints messages.
struct PrintOptions {
  // Multi-line JSON.
  bool pretty = false;
  // Multi-line, but tables and vectors that fit in 80 columns on one line.
  bool pretty_max = false;
  // One JSON object per line: name, type, times, queue index, size, data.
  bool json = false;
  // Vectors longer than this print as "... N elements ...".
  size_t max_vector_size = 100;
  // Integers in hexadecimal.
  bool hex = false;
};

// `json` (as FlatbufferToJson prints it) with the values JSON lacks quoted:
// nan, inf, -nan, -inf become "nan", "inf", "-nan", "-inf" and hex integers
// "0x1f", so every JSON parser (jq) reads it. Strings are left alone.
std::string QuoteNonJsonNumbers(std::string_view json);

// One message as aos_dump prints it (without a trailing newline):
//   realtime (monotonic) /name type: {json}
// with " sent realtime (monotonic)" before the colon when the message came
// from another node, or the JSON-lines form with PrintOptions::json. A
// payload that does not verify against the schema prints as
// `<invalid message, N bytes>` instead of its contents.
std::string FormatMessage(const Channel *channel,
                          const reflection::Schema *schema,
                          const Context &context, const PrintOptions &options);

// FormatMessage appended to `out` (keeping what is there), for tools that
// print many messages into one reused buffer (log_cat).
void AppendMessage(std::string *out, const Channel *channel,
                   const reflection::Schema *schema, const Context &context,
                   const PrintOptions &options);

// Counts messages of one channel per period, for aos_dump --rate: like
// `ros2 topic hz` and `ros2 topic bw`.
class RateCounter {
 public:
  struct Window {
    uint64_t messages = 0;
    uint64_t bytes = 0;
    std::chrono::nanoseconds duration{0};
    // Gaps between consecutive send times within the window (and from the
    // last message of the previous window); nullopt with fewer than two
    // messages.
    std::optional<std::chrono::nanoseconds> min_gap;
    std::optional<std::chrono::nanoseconds> max_gap;
  };

  explicit RateCounter(monotonic_clock::time_point start) : start_(start) {}

  // Counts one message sent at `sent_time` of `bytes` bytes.
  void Add(monotonic_clock::time_point sent_time, size_t bytes);

  // The counts since the previous call (or construction), ending at `now`,
  // and starts a new window.
  Window TakeWindow(monotonic_clock::time_point now);

 private:
  monotonic_clock::time_point start_;
  std::optional<monotonic_clock::time_point> last_sent_;
  Window current_;
};

// "/test aos.examples.Ping: 100.0 msg/s, 3.20 KB/s, avg 32 B, period min
// 9.80ms max 10.2ms" (the period part only with two or more messages;
// "no messages" when empty).
std::string FormatRate(std::string_view channel_label,
                       const RateCounter::Window &window);

// "512 B", "3.20 KB", "1.50 MB" (powers of 1000).
std::string FormatBytes(double bytes);

// "/name type".
std::string ChannelLabel(const Channel *channel);

}  // namespace aos::cli

#endif  // AOS_TOOLS_AOS_CLI_UTILS_H_
