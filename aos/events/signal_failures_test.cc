// Wakeup signals the kernel refuses (issue 13, section 2): a watcher process
// that takes one signal per message (--coalesce_wakeups=false) and is
// stopped piles up pending rt signals until its user's RLIMIT_SIGPENDING is
// reached; from then on rt_tgsigqueueinfo fails with EAGAIN. The sender
// counts that, reports it in the timing report (Sender.signal_failures) and
// goes on waking the other watchers.

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "aos/configuration.h"
#include "aos/events/event_loop_generated.h"
#include "aos/events/shm_event_loop.h"
#include "aos/events/test_message_generated.h"
#include "aos/ipc_lib/lockless_queue.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/testing/tmpdir.h"
#include "gflags/gflags.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

constexpr std::string_view kConfig = R"json({
  "channels": [
    {"name": "/aos", "type": "aos.timing.Report", "frequency": 50,
     "num_senders": 20, "max_size": 4096},
    {"name": "/stream", "type": "aos.TestMessage", "frequency": 1000,
     "num_watchers": 4}
  ]
})json";

FlatbufferDetachedBuffer<Configuration> Config() {
  return configuration::MergeWithConfig(
      &FlatbufferDetachedBuffer<Configuration>::Empty().message(), kConfig);
}

// The limit of pending signals the stopped watcher's process gets. Pending
// signals are counted per user, so other processes of the user (this test
// runs beside others) may take some of them: a limit of a few and many more
// messages than that still overflow it.
constexpr rlim_t kSigPending = 4;
constexpr int kMessages = 64;

TEST(ShmSignalFailuresTest, StoppedWatcherOverflowingSigpendingIsReported) {
  TempDir shm_dir;
  const std::string previous_shm_base = FLAGS_shm_base;
  ipc_lib::SetShmBase(shm_dir.path() + "/aos");
  FlatbufferDetachedBuffer<Configuration> config = Config();

  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    alarm(30);
    // One signal per message, and a low limit for signals queued to us.
    FLAGS_coalesce_wakeups = false;
    const struct rlimit limit = {kSigPending, kSigPending};
    PCHECK(setrlimit(RLIMIT_SIGPENDING, &limit) == 0);
    ShmEventLoop loop(&config.message());
    loop.SkipTimingReport();
    loop.MakeWatcher("/stream", [](const TestMessage &) {});
    loop.OnRun([&]() {
      const char byte = 1;
      PCHECK(write(ready[1], &byte, 1) == 1);
      // A stopped watcher: its wakeups pile up as pending signals.
      raise(SIGSTOP);
    });
    CHECK(loop.Run().has_value());
    _exit(0);
  }
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, WUNTRACED), child);
  ASSERT_TRUE(WIFSTOPPED(status)) << status;

  ShmEventLoop sending_loop(&config.message());
  sending_loop.set_name("sender");
  auto sender = sending_loop.MakeSender<TestMessage>("/stream");
  auto reports = sending_loop.MakeFetcher<timing::Report>("/aos");
  sending_loop.OnRun([&]() {
    for (int i = 0; i < kMessages; ++i) {
      auto builder = sender.MakeBuilder();
      TestMessage::Builder message(*builder.fbb());
      message.add_value(i);
      CHECK(builder.Send(message.Finish()) == RawSender::Error::kOk);
    }
    sending_loop.SendTimingReport();
    sending_loop.Exit();
  });
  ASSERT_TRUE(sending_loop.Run().has_value());

  const int stream_index = static_cast<int>(
      configuration::ChannelIndex(&config.message(), sender.channel()));
  uint64_t signal_failures = 0;
  bool found = false;
  while (reports.FetchNext()) {
    if (reports->name()->string_view() != "sender") continue;
    ASSERT_NE(reports->senders(), nullptr);
    for (const timing::Sender *entry : *reports->senders()) {
      if (entry->channel_index() == stream_index) {
        found = true;
        signal_failures += entry->signal_failures();
      }
    }
  }
  EXPECT_TRUE(found) << "no timing report entry for /stream's sender";
  // At most kSigPending signals can be pending for the stopped process; all
  // the others were refused.
  EXPECT_GE(signal_failures, static_cast<uint64_t>(kMessages) - kSigPending);
  EXPECT_LE(signal_failures, static_cast<uint64_t>(kMessages));

  ASSERT_EQ(kill(child, SIGKILL), 0);
  ASSERT_EQ(waitpid(child, &status, 0), child);
  close(ready[0]);
  ipc_lib::SetShmBase(previous_shm_base);
}

}  // namespace
}  // namespace aos::testing
