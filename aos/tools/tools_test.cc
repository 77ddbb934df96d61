// End-to-end tests of the tools and the ping/pong example: every program runs
// as its own process, as a user would run it, over a private --shm_base per
// test.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/testing/process.h"
#include "aos/testing/tmpdir.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A safety net against hangs only; no test depends on timing.
constexpr std::chrono::seconds kHangLimit(60);

using Exit = ProcessExit;
using Process = ChildProcess;

class ToolsTest : public ::testing::Test {
 protected:
  ToolsTest() : shm_base_(work_.path() + "/shm") {
    std::filesystem::create_directories(shm_base_);
  }

  // The program with the test's --shm_base and the ping/pong config.
  std::vector<std::string> Command(const char *program,
                                   std::vector<std::string> args) {
    std::vector<std::string> argv = {program, "--shm_base=" + shm_base_};
    // aos_shm reads queue files only; it takes no configuration.
    if (std::string_view(program) != AOS_SHM) {
      argv.push_back(std::string("--config=") + AOS_PINGPONG_CONFIG);
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  std::unique_ptr<Process> Start(const char *program,
                                 std::vector<std::string> args,
                                 const std::string &stdin_text = "") {
    return std::make_unique<Process>(Command(program, std::move(args)),
                                     work_.path(), stdin_text);
  }

  Exit Run(const char *program, std::vector<std::string> args,
           const std::string &stdin_text = "") {
    return Start(program, std::move(args), stdin_text)->Wait();
  }

  // Polls `done()` every 5 ms until it returns true. Fails the test with
  // `what` after the hang limit, or at once if `process` exits first.
  template <typename Done>
  void WaitUntil(Process *process, const std::string &what, Done done) {
    const auto deadline = std::chrono::steady_clock::now() + kHangLimit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return;
      ASSERT_EQ(waitpid(process->pid(), nullptr, WNOHANG), 0)
          << "process exited: " << process->err();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    FAIL() << what;
  }

  // Waits until `process` holds a watcher slot on `channel` `type`, or
  // exits (which fails). Its loop may not be running yet: Run() registers
  // watchers just before it starts delivering, so use this only where a
  // message sent in between may be missed (e.g. the sender repeats).
  void WaitForWatcher(const std::string &channel, const std::string &type,
                      Process *process) {
    const std::string path = ipc_lib::ShmPath(shm_base_, channel, type);
    WaitUntil(process, "nobody watched " + channel + " " + type, [&]() {
      Result<ipc_lib::QueueFileInfo> info = ipc_lib::InspectQueueFile(path);
      if (!info) return false;
      for (const ipc_lib::QueueSlotInfo &slot : info->watchers) {
        if (slot.liveness == ipc_lib::QueueSlotInfo::Liveness::kAlive &&
            slot.pid == process->pid()) {
          return true;
        }
      }
      return false;
    });
  }

  // Waits until `process` wrote `text` to stderr (exactly that, once).
  void WaitForOutput(Process *process, const std::string &text) {
    WaitUntil(process, "no \"" + text + "\" on stderr", [&]() {
      const std::string err = process->err();
      if (err == text) return true;
      // Anything else on stderr: it will not become `text`.
      EXPECT_THAT(text, ::testing::StartsWith(err));
      return !text.starts_with(err);
    });
  }

  // Waits until `process` (the only one sending timing reports, started
  // with a short --timing_report_ms) sent a report, which it does only once
  // its loop runs: from then on every message sent reaches its watchers.
  void WaitForRunning(Process *process) {
    const std::string path =
        ipc_lib::ShmPath(shm_base_, "/aos", "aos.timing.Report");
    WaitUntil(process, "no timing report", [&]() {
      Result<ipc_lib::QueueFileInfo> info = ipc_lib::InspectQueueFile(path);
      return info && info->latest_queue_index.has_value();
    });
  }

  // aos_dump in `mode` (--rate or --delay) for 0.7 s, reporting every
  // 0.2 s, on /test Ping while aos_send sends a Ping at 200 Hz.
  Exit DumpWhileSendingPings(const std::string &mode) {
    std::unique_ptr<Process> send =
        Start(AOS_SEND, {"--rate=200", "/test", "Ping", R"({"value": 1})"});
    const Exit dump = Run(AOS_DUMP, {mode, "--rate_period_ms=200",
                                     "--timeout=700", "/test", "Ping"});
    send->Signal(SIGINT);
    EXPECT_EQ(send->Wait().code, 0);
    return dump;
  }

  TempDir work_;
  const std::string shm_base_;
};

// A tool's failure: non-zero exit, one line on stderr naming the problem,
// nothing that looks like a crash.
void ExpectOneLineError(const Exit &exit, const std::string &message) {
  EXPECT_NE(exit.code, 0);
  EXPECT_THAT(exit.err, HasSubstr(message));
  EXPECT_EQ(std::count(exit.err.begin(), exit.err.end(), '\n'), 1) << exit.err;
  EXPECT_THAT(exit.err, Not(HasSubstr("Check fail")));
  EXPECT_THAT(exit.err, Not(HasSubstr("***")));
}

TEST_F(ToolsTest, PingPongExchange) {
  std::unique_ptr<Process> pong = Start(AOS_PONG, {"--timing_report_ms=20"});
  WaitForRunning(pong.get());
  const Exit ping = Run(AOS_PING, {"--sleep_us=1000", "--count=50"});
  EXPECT_EQ(ping.code, 0) << ping.err;
  EXPECT_THAT(ping.out, HasSubstr("got 50 replies (0 missing, 0 unexpected"));
  EXPECT_TRUE(std::regex_search(
      ping.out, std::regex("ping: 50 round trips: min [0-9.]+[mun]?s, "
                           "p50 [0-9.]+[mun]?s, p99 [0-9.]+[mun]?s, max ")))
      << ping.out;
  pong->Signal(SIGINT);
  const Exit pong_exit = pong->Wait();
  EXPECT_EQ(pong_exit.code, 0) << pong_exit.err;
  EXPECT_TRUE(std::regex_search(pong_exit.out,
                                std::regex("pong: answered [0-9]+ pings")))
      << pong_exit.out;
}

TEST_F(ToolsTest, DumpPrintsWhatSendSent) {
  std::unique_ptr<Process> dump =
      Start(AOS_DUMP, {"--count=2", "/test", "Ping"});
  // Nobody opened /test yet: aos_dump says so once and waits, creating
  // nothing (the sender repeats, so what it sends first may be missed).
  WaitForOutput(dump.get(),
                "aos_dump: waiting for the first message on /test "
                "aos.examples.Ping (no sender has opened it)\n");
  EXPECT_FALSE(std::filesystem::exists(
      ipc_lib::ShmPath(shm_base_, "/test", "aos.examples.Ping")));
  std::unique_ptr<Process> send =
      Start(AOS_SEND, {"--rate=100", "/test", "aos.examples.Ping",
                       R"({"value": 7, "send_time": 3})"});
  const Exit dumped = dump->Wait();
  send->Signal(SIGINT);
  const Exit sent = send->Wait();
  EXPECT_EQ(sent.code, 0) << sent.err;
  EXPECT_EQ(dumped.code, 0) << dumped.err;
  const std::regex line(
      "[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}\\.[0-9]{9} "
      "\\([0-9]+\\.[0-9]{9}sec\\) /test aos.examples.Ping: "
      "\\{ \"value\": 7, \"send_time\": 3 \\}\n");
  std::smatch match;
  std::string rest = dumped.out;
  int lines = 0;
  while (std::regex_search(rest, match, line) && match.position() == 0) {
    ++lines;
    rest = match.suffix();
  }
  EXPECT_EQ(lines, 2) << dumped.out;
  EXPECT_EQ(rest, "") << dumped.out;
}

// AOS_LOG from a running process (pong says it started) reaches aos_dump.
TEST_F(ToolsTest, DumpPrintsAosLogMessages) {
  std::unique_ptr<Process> pong = Start(AOS_PONG, {"--timing_report_ms=20"});
  // Its first timing report comes after OnRun, where it logs.
  WaitForRunning(pong.get());
  const Exit dumped = Run(AOS_DUMP, {"--fetch", "--timeout=0", "/aos",
                                     "aos.logging.LogMessageFbs"});
  EXPECT_EQ(dumped.code, 0) << dumped.err;
  EXPECT_TRUE(std::regex_search(
      dumped.out,
      std::regex("/aos aos.logging.LogMessageFbs: \\{ \"message\": "
                 "\"pong_lib.cc:[0-9]+\\] answering pings\", \"level\": "
                 "\"INFO\", \"source_pid\": " +
                 std::to_string(pong->pid()) +
                 ", \"name\": \"pong\", \"send_failures\": 0 \\}\n")))
      << dumped.out;
  pong->Signal(SIGINT);
  EXPECT_EQ(pong->Wait().code, 0);
}

TEST_F(ToolsTest, SendFromStdinThenFetchAsJson) {
  const Exit sent = Run(AOS_SEND, {"/test", "Pong", "-"}, R"({"value": 9})");
  EXPECT_EQ(sent.code, 0) << sent.err;
  const Exit dumped =
      Run(AOS_DUMP, {"--fetch", "--timeout=0", "--json", "/test", "Pong"});
  EXPECT_EQ(dumped.code, 0) << dumped.err;
  EXPECT_TRUE(std::regex_match(
      dumped.out,
      std::regex("\\{\"name\": \"/test\", \"type\": \"aos.examples.Pong\", "
                 "\"monotonic_event_time\": [0-9]+, \"realtime_event_time\": "
                 "[0-9]+, \"queue_index\": 0, \"size\": [0-9]+, \"data\": "
                 "\\{ \"value\": 9 \\}\\}\n")))
      << dumped.out;

  // --pretty, and --count stopping after the fetched message.
  const Exit pretty =
      Run(AOS_DUMP, {"--fetch", "--count=1", "--pretty", "/test", "Pong"});
  EXPECT_EQ(pretty.code, 0) << pretty.err;
  EXPECT_THAT(pretty.out,
              HasSubstr("/test aos.examples.Pong: {\n \"value\": 9\n}\n"));
}

TEST_F(ToolsTest, ListsChannels) {
  const Exit listed = Run(AOS_DUMP, {});
  EXPECT_EQ(listed.code, 0) << listed.err;
  EXPECT_EQ(listed.out,
            "/aos aos.logging.LogMessageFbs\n/aos aos.starter.StarterRpc\n"
            "/aos aos.starter.Status\n/aos aos.timing.Report\n"
            "/test aos.examples.Ping\n/test aos.examples.Pong\n");
}

TEST_F(ToolsTest, RateMode) {
  const Exit rate = DumpWhileSendingPings("--rate");
  EXPECT_EQ(rate.code, 0) << rate.err;
  // Three reports; the numbers depend on the machine, the format does not.
  EXPECT_TRUE(std::regex_search(
      rate.out, std::regex("/test aos.examples.Ping: [0-9.]+ msg/s, [0-9.]+ "
                           "[KM]?B/s, avg [0-9]+ B, period min ")))
      << rate.out;
}

TEST_F(ToolsTest, TimingReportStreamer) {
  std::unique_ptr<Process> pong = Start(AOS_PONG, {"--timing_report_ms=100"});
  WaitForWatcher("/test", "aos.examples.Ping", pong.get());
  const Exit streamed =
      Run(AOS_TIMING_REPORT_STREAMER, {"--application=pong", "--count=1"});
  EXPECT_EQ(streamed.code, 0) << streamed.err;
  EXPECT_THAT(streamed.out,
              HasSubstr("pong (pid " + std::to_string(pong->pid()) + ")"));
  EXPECT_THAT(streamed.out, HasSubstr("watcher  /test aos.examples.Ping"));
  EXPECT_THAT(streamed.out, HasSubstr("sender   /test aos.examples.Pong"));
  EXPECT_THAT(streamed.out, HasSubstr("timer    timing_reports"));
  pong->Signal(SIGINT);
  EXPECT_EQ(pong->Wait().code, 0);
}

TEST_F(ToolsTest, ShmListsShowsAndRefusesToRemoveLiveQueues) {
  std::unique_ptr<Process> pong = Start(AOS_PONG, {});
  WaitForWatcher("/test", "aos.examples.Ping", pong.get());
  const std::string pid = std::to_string(pong->pid());

  const Exit listed = Run(AOS_SHM, {"list"});
  EXPECT_EQ(listed.code, 0) << listed.err;
  EXPECT_TRUE(std::regex_search(
      listed.out, std::regex("/test +aos.examples.Ping +[0-9]+ +4000 +64 +0/10 "
                             "+1/10 +0/0 +in use\n")))
      << listed.out;

  const Exit shown = Run(AOS_SHM, {"show", "/test", "Ping"});
  EXPECT_EQ(shown.code, 0) << shown.err;
  EXPECT_THAT(shown.out, HasSubstr("watcher 0: pid " + pid));
  EXPECT_THAT(shown.out, HasSubstr(" alive"));
  EXPECT_THAT(shown.out, HasSubstr("mapped by: " + pid));

  const Exit printed = Run(AOS_SHM, {"print", "/test", "aos.examples.Pong"});
  EXPECT_EQ(printed.code, 0) << printed.err;
  EXPECT_GT(printed.out.size(), 1000u);

  ExpectOneLineError(Run(AOS_SHM, {"rm", "/test", "Ping"}),
                     "refusing to remove /test aos.examples.Ping");
  // The clean-up of everything keeps the queues pong uses.
  const Exit kept = Run(AOS_SHM, {"clean"});
  EXPECT_EQ(kept.code, 0) << kept.err;
  EXPECT_THAT(kept.out, HasSubstr("kept"));
  EXPECT_TRUE(std::filesystem::exists(
      ipc_lib::ShmPath(shm_base_, "/test", "aos.examples.Ping")));

  pong->Signal(SIGINT);
  EXPECT_EQ(pong->Wait().code, 0);
  const Exit stale = Run(AOS_SHM, {"list"});
  EXPECT_THAT(stale.out, HasSubstr("stale"));
  EXPECT_THAT(stale.out, Not(HasSubstr("in use")));

  const Exit removed = Run(AOS_SHM, {"rm", "/test", "Ping"});
  EXPECT_EQ(removed.code, 0) << removed.err;
  EXPECT_THAT(removed.out, HasSubstr("removed /test aos.examples.Ping"));
  const Exit cleaned = Run(AOS_SHM, {"clean"});
  EXPECT_EQ(cleaned.code, 0) << cleaned.err;
  EXPECT_THAT(cleaned.out, HasSubstr("removed /test aos.examples.Pong"));
  EXPECT_TRUE(std::filesystem::is_empty(shm_base_));
}

TEST_F(ToolsTest, StaleQueueFileOfAnotherLayout) {
  const std::string path =
      ipc_lib::ShmPath(shm_base_, "/test", "aos.examples.Ping");
  std::filesystem::create_directories(
      std::filesystem::path(path).parent_path());
  { std::ofstream(path) << std::string(4096, 'x'); }
  ExpectOneLineError(Run(AOS_DUMP, {"/test", "Ping"}),
                     "cannot open the queue of /test aos.examples.Ping");
  ExpectOneLineError(Run(AOS_SEND, {"/test", "Ping", "{}"}),
                     "cannot open the queue of /test aos.examples.Ping");
  const Exit cleaned = Run(AOS_SHM, {"clean"});
  EXPECT_EQ(cleaned.code, 0) << cleaned.err;
  const Exit sent = Run(AOS_SEND, {"/test", "Ping", "{}"});
  EXPECT_EQ(sent.code, 0) << sent.err;
}

TEST_F(ToolsTest, HelpOnEveryTool) {
  for (const char *tool : {AOS_DUMP, AOS_SEND, AOS_SHM,
                           AOS_TIMING_REPORT_STREAMER, AOS_PING, AOS_PONG}) {
    const Exit help = Process({tool, "--help"}, work_.path()).Wait();
    EXPECT_EQ(help.code, 0) << tool;
    EXPECT_THAT(help.out, HasSubstr("Usage:")) << tool;
    EXPECT_THAT(help.out, HasSubstr("--shm_base")) << tool;
    EXPECT_EQ(help.err, "") << tool;
  }
}

TEST_F(ToolsTest, VersionOnEveryTool) {
  for (const char *tool : {AOS_DUMP, AOS_SEND, AOS_SHM,
                           AOS_TIMING_REPORT_STREAMER, AOS_PING, AOS_PONG}) {
    const Exit version = Process({tool, "--version"}, work_.path()).Wait();
    EXPECT_EQ(version.code, 0) << tool;
    const std::string name = std::filesystem::path(tool).filename().string();
    EXPECT_TRUE(std::regex_match(
        version.out, std::regex(name + " \\(AOS\\) [0-9]+\\.[0-9]+\\.[0-9]+ "
                                       "\\(git ([0-9a-f]{12}(-dirty)?|unknown)"
                                       "\\)\n")))
        << version.out;
    EXPECT_EQ(version.err, "") << tool;
  }
}

// Read-only tools never create the shm directory or a queue file: a
// misspelled --shm_base stays absent, and --timeout still ends the wait.
TEST_F(ToolsTest, ReadOnlyToolsCreateNothing) {
  const std::string missing = shm_base_ + "/misspelled";
  const Exit fetched = Process({AOS_DUMP, "--shm_base=" + missing,
                                std::string("--config=") + AOS_PINGPONG_CONFIG,
                                "--fetch", "--timeout=0", "/test", "Ping"},
                               work_.path())
                           .Wait();
  EXPECT_EQ(fetched.code, 0) << fetched.err;
  EXPECT_EQ(fetched.out, "");
  const Exit waited = Process({AOS_DUMP, "--shm_base=" + missing,
                               std::string("--config=") + AOS_PINGPONG_CONFIG,
                               "--timeout=100", "/test"},
                              work_.path())
                          .Wait();
  EXPECT_EQ(waited.code, 0) << waited.err;
  EXPECT_EQ(waited.err,
            "aos_dump: waiting for the first message on /test "
            "aos.examples.Ping (no sender has opened it)\n"
            "aos_dump: waiting for the first message on /test "
            "aos.examples.Pong (no sender has opened it)\n");
  const Exit rate = Process({AOS_DUMP, "--shm_base=" + missing,
                             std::string("--config=") + AOS_PINGPONG_CONFIG,
                             "--rate", "--timeout=100"},
                            work_.path())
                        .Wait();
  EXPECT_EQ(rate.code, 0) << rate.err;
  const Exit shown =
      Process({AOS_SHM, "--shm_base=" + missing, "show", "/test"}, work_.path())
          .Wait();
  EXPECT_NE(shown.code, 0);
  EXPECT_FALSE(std::filesystem::exists(missing));
  EXPECT_TRUE(std::filesystem::is_empty(shm_base_));
}

TEST_F(ToolsTest, SendExplainsTheRateLimitOnceAndSummarizes) {
  // /test allows 4000 messages per 2 s: the 4001st back-to-back send fails.
  const Exit burst = Run(AOS_SEND, {"--count=4005", "--verbose", "/test",
                                    "Ping", R"({"value": 2})"});
  EXPECT_EQ(burst.code, 1);
  EXPECT_EQ(burst.err,
            "aos_send: sending on /test aos.examples.Ping failed after 4000 "
            "messages: sent faster than the channel allows, 4000 messages "
            "per 2 s shared by all senders of /test aos.examples.Ping (its "
            "frequency 2000 Hz over the storage duration)\n");
  EXPECT_TRUE(std::regex_match(
      burst.out, std::regex("aos_send: sent 4000 messages \\(1 failed\\) of "
                            "[0-9]+ bytes on /test aos.examples.Ping: \\{ "
                            "\"value\": 2 \\}\n")))
      << burst.out;

  const Exit one =
      Run(AOS_SEND, {"--verbose", "/test", "Pong", R"({"value": 3})"});
  EXPECT_EQ(one.code, 0) << one.err;
  EXPECT_TRUE(std::regex_match(
      one.out, std::regex("aos_send: sent 1 message of [0-9]+ bytes on /test "
                          "aos.examples.Pong: \\{ \"value\": 3 \\}\n")))
      << one.out;
}

TEST_F(ToolsTest, DumpFindsChannelsByType) {
  const Exit found = Run(AOS_DUMP, {"--find=Ping"});
  EXPECT_EQ(found.code, 0) << found.err;
  EXPECT_EQ(found.out, "/test aos.examples.Ping\n");
  const Exit several = Run(AOS_DUMP, {"--find=aos.examples"});
  EXPECT_EQ(several.out, "/test aos.examples.Ping\n/test aos.examples.Pong\n");
}

TEST_F(ToolsTest, DumpDelay) {
  const Exit delay = DumpWhileSendingPings("--delay");
  EXPECT_EQ(delay.code, 0) << delay.err;
  // The numbers depend on the machine, the format does not.
  EXPECT_TRUE(std::regex_search(
      delay.out,
      std::regex("/test aos.examples.Ping: [0-9]+ messages, delay: min "
                 "[0-9.]+[mun]?s, p50 [0-9.]+[mun]?s, p99 [0-9.]+[mun]?s, "
                 "max [0-9.]+[mun]?s, mean [0-9.]+[mun]?s\n")))
      << delay.out;
}

TEST_F(ToolsTest, ShmShowsApplicationsAndListsApps) {
  std::unique_ptr<Process> pong = Start(AOS_PONG, {});
  WaitForWatcher("/test", "aos.examples.Ping", pong.get());
  const std::string pid = std::to_string(pong->pid());
  const Exit shown = Run(AOS_SHM, {"show", "/test", "Ping"});
  EXPECT_EQ(shown.code, 0) << shown.err;
  EXPECT_THAT(shown.out, HasSubstr("applications: " + pid + " pong\n"));

  const Exit apps = Run(AOS_SHM, {"apps"});
  EXPECT_EQ(apps.code, 0) << apps.err;
  EXPECT_THAT(apps.out, HasSubstr(pid + " pong\n"));
  EXPECT_THAT(apps.out, HasSubstr("  sends /test aos.examples.Pong\n"));
  EXPECT_THAT(apps.out, HasSubstr("  watches /test aos.examples.Ping\n"));
  pong->Signal(SIGINT);
  EXPECT_EQ(pong->Wait().code, 0);
  const Exit none = Run(AOS_SHM, {"apps"});
  EXPECT_EQ(none.code, 0) << none.err;
  EXPECT_THAT(none.out, Not(HasSubstr(pid)));
}

struct BadCase {
  const char *program;
  std::vector<std::string> args;
  std::string message;
  std::string stdin_text = "";
};

TEST_F(ToolsTest, BadArgumentsGiveOneLineAndFail) {
  // Both types on /test have queues (for aos_shm's ambiguous type).
  ASSERT_EQ(Run(AOS_SEND, {"/test", "Ping", "{}"}).code, 0);
  ASSERT_EQ(Run(AOS_SEND, {"/test", "Pong", "{}"}).code, 0);
  const std::vector<BadCase> cases = {
      {AOS_DUMP, {"/nope"}, "no channel named /nope"},
      {AOS_DUMP, {"test"}, "must start with '/'"},
      {AOS_DUMP, {"/test", "examples.P"}, "is ambiguous"},
      {AOS_DUMP, {"/test", "Foo"}, "no type matching 'Foo' on /test"},
      {AOS_DUMP, {"/test", "Ping", "extra"}, "too many arguments"},
      {AOS_DUMP, {"--json", "--pretty", "/test"}, "cannot be combined"},
      {AOS_DUMP, {"--no_such_flag"}, "unknown command line flag"},
      {AOS_DUMP, {"--count=many"}, "illegal value"},
      {AOS_DUMP, {"--config=/no/such.json"}, "not found"},
      {AOS_DUMP,
       {std::string("--config=") + AOS_PINGPONG_SOURCE_CONFIG, "/test", "Ping"},
       "no schema for /test aos.examples.Ping"},
      {AOS_DUMP,
       {"--rate_period_ms=0", "--rate"},
       "--rate_period_ms=0 is out of range: it must be > 0"},
      {AOS_DUMP, {"--timeout=-2", "/test"}, "--timeout=-2 is out of range"},
      {AOS_DUMP, {"--count=-5", "/test"}, "--count=-5 is out of range"},
      {AOS_DUMP, {"--rate_limit=-1", "/test"}, "--rate_limit=-1 is out of"},
      {AOS_DUMP,
       {"--max_vector_size=-1", "/test"},
       "--max_vector_size=-1 is out of range"},
      {AOS_DUMP, {"--find=Nope"}, "no readable channel has a type containing"},
      {AOS_DUMP, {"--rate", "--delay"}, "give one"},
      {AOS_SEND, {"/test", "Ping", R"({"valu": 1})"}, "invalid JSON"},
      {AOS_SEND, {"/test", "Ping", "{"}, "invalid JSON"},
      {AOS_SEND, {"/test", "Ping", "-"}, "invalid JSON", "not json"},
      {AOS_SEND, {"/test", "{}"}, "has several types"},
      {AOS_SEND, {"/test"}, "expected /channel [type]"},
      {AOS_SEND, {"/nope", "x", "{}"}, "no channel named /nope"},
      {AOS_SEND,
       {"--rate=-1", "/test", "Ping", "{}"},
       "--rate=-1 is out of range: it must be in [0, 1000000]"},
      {AOS_SEND,
       {"--count=-1", "/test", "Ping", "{}"},
       "--count=-1 is out of range: it must be >= 0"},
      // The JSON forgotten: not "several types".
      {AOS_SEND, {"/test", "Ping"}, "missing the message: 'Ping' is not JSON"},
      {AOS_SHM,
       {"show", "/test", "examples.P"},
       "type 'examples.P' on /test is ambiguous: it matches "
       "aos.examples.Ping, aos.examples.Pong"},
      {AOS_SHM, {"frobnicate"}, "unknown command 'frobnicate'"},
      {AOS_SHM, {"show"}, "takes /channel [type]"},
      {AOS_SHM, {"show", "/nope"}, "no queue file for channel /nope"},
      {AOS_SHM, {"list", "extra"}, "takes no arguments"},
      {AOS_TIMING_REPORT_STREAMER, {"extra"}, "unexpected argument 'extra'"},
      {AOS_PING,
       {"--sleep_us=0"},
       "--sleep_us=0 is out of range: it must be > 0"},
      {AOS_PING, {"--count=-1"}, "--count=-1 is out of range: it must be >= 0"},
      {AOS_TIMING_REPORT_STREAMER,
       {"--count=-2"},
       "--count=-2 is out of range: it must be >= -1"},
      {AOS_TIMING_REPORT_STREAMER,
       {"--timeout=-2"},
       "--timeout=-2 is out of range: it must be >= -1"},
      {AOS_PING,
       {"--config=/no/such.json"},
       "cannot read --config=/no/such.json: Config file /no/such.json not "
       "found"},
      {AOS_PONG, {"extra"}, "unexpected argument 'extra'"},
  };
  for (const BadCase &bad : cases) {
    SCOPED_TRACE(std::string(bad.program) + " " +
                 ::testing::PrintToString(bad.args));
    ExpectOneLineError(Run(bad.program, bad.args, bad.stdin_text), bad.message);
  }
  // aos_shm on a missing base.
  const Exit missing =
      Process({AOS_SHM, "--shm_base=" + shm_base_ + "/nope"}, work_.path())
          .Wait();
  ExpectOneLineError(missing, "is not a directory");
}

}  // namespace
}  // namespace aos::testing
