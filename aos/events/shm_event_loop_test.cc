#include "aos/events/shm_event_loop.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "aos/events/event_loop_param_test.h"
#include "aos/events/test_message_generated.h"
#include "aos/ipc_lib/memory_mapped_queue.h"
#include "aos/ipc_lib/shm_base.h"
#include "aos/ipc_lib/signalfd.h"
#include "aos/realtime.h"
#include "aos/stl_mutex/stl_mutex.h"
#include "aos/testing/tmpdir.h"
#include "gflags/gflags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

DECLARE_string(override_hostname);

namespace aos::testing {
namespace {

using std::chrono::milliseconds;

// Each test gets its own --shm_base, so queues never carry messages (or a
// COPY/PIN layout) from one test into the next.
//
// Loops run on my_node() as processes on that host would: with
// --override_hostname set to its hostname while they are made.
class ShmEventLoopTestFactory : public EventLoopTestFactory {
 public:
  ShmEventLoopTestFactory()
      : previous_shm_base_(FLAGS_shm_base),
        previous_override_hostname_(FLAGS_override_hostname) {
    ipc_lib::SetShmBase(shm_dir_.path() + "/aos");
  }
  ~ShmEventLoopTestFactory() override {
    ipc_lib::SetShmBase(previous_shm_base_);
    FLAGS_override_hostname = previous_override_hostname_;
  }

  std::unique_ptr<EventLoop> Make(std::string_view name) override {
    return MakeShm(name);
  }

  std::unique_ptr<EventLoop> MakePrimary(std::string_view name) override {
    CHECK(primary_ == nullptr) << ": one primary loop per test";
    std::unique_ptr<ShmEventLoop> loop = MakeShm(name);
    primary_ = loop.get();
    return loop;
  }

  Result<void> Run() override { return primary()->Run(); }
  void Exit() override { primary()->Exit(); }

  void RunFor(monotonic_clock::duration duration) override {
    TimerHandler *exit_timer =
        primary()->AddTimer([this]() { primary()->Exit(); });
    exit_timer->Schedule(primary()->monotonic_now() + duration);
    CheckExpected(primary()->Run());
  }

  std::unique_ptr<ExitHandle> MakeExitHandle() override {
    return primary()->MakeExitHandle();
  }

  ShmEventLoop *primary() {
    CHECK(primary_ != nullptr) << ": make the primary loop first";
    return primary_;
  }

 private:
  std::unique_ptr<ShmEventLoop> MakeShm(std::string_view name) {
    if (my_node() != nullptr) {
      FLAGS_override_hostname = my_node()->hostname()->str();
    }
    auto loop = std::make_unique<ShmEventLoop>(configuration());
    loop->set_name(name);
    return loop;
  }

  TempDir shm_dir_;
  const std::string previous_shm_base_;
  const std::string previous_override_hostname_;
  ShmEventLoop *primary_ = nullptr;
};

std::unique_ptr<EventLoopTestFactory> MakeShmFactory() {
  return std::make_unique<ShmEventLoopTestFactory>();
}

INSTANTIATE_TEST_SUITE_P(
    ShmEventLoop, AbstractEventLoopTest,
    ::testing::ValuesIn(MakeEventLoopTestParams("Shm", MakeShmFactory)),
    EventLoopTestParamName);
INSTANTIATE_TEST_SUITE_P(
    ShmEventLoop, AbstractEventLoopDeathTest,
    ::testing::ValuesIn(MakeEventLoopTestParams("Shm", MakeShmFactory)),
    EventLoopTestParamName);
INSTANTIATE_TEST_SUITE_P(
    ShmEventLoop, AbstractEventLoopMultiNodeTest,
    ::testing::ValuesIn(MakeEventLoopTestParams("Shm", MakeShmFactory)),
    EventLoopTestParamName);
INSTANTIATE_TEST_SUITE_P(
    ShmEventLoop, AbstractEventLoopMultiNodeDeathTest,
    ::testing::ValuesIn(MakeEventLoopTestParams("Shm", MakeShmFactory)),
    EventLoopTestParamName);

// Shared-memory specific behaviour, still run for COPY and PIN.
class ShmEventLoopTest : public AbstractEventLoopTest {
 public:
  ShmEventLoop *primary_shm() {
    return static_cast<ShmEventLoopTestFactory *>(factory_.get())->primary();
  }

  // Runs a primary loop polling `poll` before sleep (SetPollBeforeSleep)
  // while another thread sends it a stream, a message every 5 ms (long
  // enough for a loop that does not poll to arm and sleep in between), and
  // returns how many messages found a wakeup signal pending.
  int SignalsTakenByStream(std::chrono::nanoseconds poll);
};
using ShmEventLoopDeathTest = ShmEventLoopTest;

void Send(Sender<TestMessage> *sender, int value);

int ShmEventLoopTest::SignalsTakenByStream(std::chrono::nanoseconds poll) {
  static constexpr int kMessages = 10;
  auto other = Make();
  auto primary = MakePrimary();
  primary_shm()->SetPollBeforeSleep(poll);
  auto sender = other->MakeSender<TestMessage>("/test1");
  int received = 0;
  int signals_pending = 0;
  primary->MakeWatcher("/test1", [&](const TestMessage &message) {
    EXPECT_EQ(message.value(), received);
    sigset_t pending;
    EXPECT_EQ(sigpending(&pending), 0);
    if (sigismember(&pending, ipc_lib::kWakeupSignal)) ++signals_pending;
    if (++received == kMessages) Exit();
  });
  std::thread stream;
  primary->OnRun([&]() {
    stream = std::thread([&]() {
      for (int i = 0; i < kMessages; ++i) {
        std::this_thread::sleep_for(milliseconds(5));
        Send(&sender, i);
      }
    });
  });
  // Consume a wakeup an earlier test of this thread left pending.
  sigset_t wakeup;
  sigemptyset(&wakeup);
  sigaddset(&wakeup, ipc_lib::kWakeupSignal);
  const struct timespec no_wait = {0, 0};
  while (sigtimedwait(&wakeup, nullptr, &no_wait) > 0) {
  }
  EXPECT_TRUE(Run().has_value());
  stream.join();
  EXPECT_EQ(received, kMessages);
  return signals_pending;
}

INSTANTIATE_TEST_SUITE_P(
    ShmEventLoop, ShmEventLoopTest,
    ::testing::ValuesIn(MakeEventLoopTestParams("Shm", MakeShmFactory)),
    EventLoopTestParamName);
INSTANTIATE_TEST_SUITE_P(
    ShmEventLoop, ShmEventLoopDeathTest,
    ::testing::ValuesIn(MakeEventLoopTestParams("Shm", MakeShmFactory)),
    EventLoopTestParamName);

void *volatile allocation_sink = nullptr;

mode_t GetUmask() {
  const mode_t mask = umask(0);
  umask(mask);
  return mask;
}

void Send(Sender<TestMessage> *sender, int value) {
  Sender<TestMessage>::Builder builder = sender->MakeBuilder();
  TestMessage::Builder message = builder.MakeBuilder<TestMessage>();
  message.add_value(value);
  builder.CheckOk(builder.Send(message.Finish()));
}

// Restores the flags a test changes.
class FlagSaver {
 public:
  ~FlagSaver() {
    FLAGS_die_on_malloc = die_on_malloc_;
    FLAGS_skip_realtime_scheduler = skip_realtime_scheduler_;
    FLAGS_skip_locking_memory = skip_locking_memory_;
    FLAGS_timing_report_ms = timing_report_ms_;
  }

 private:
  const bool die_on_malloc_ = FLAGS_die_on_malloc;
  const bool skip_realtime_scheduler_ = FLAGS_skip_realtime_scheduler;
  const bool skip_locking_memory_ = FLAGS_skip_locking_memory;
  const int timing_report_ms_ = FLAGS_timing_report_ms;
};

// The real-time path allocates nothing: sends (with wakeups), fetches,
// watcher dispatch (COPY and PIN), no-arg watchers, timers, phased loops,
// timing reports and the LockToThread/CheckForMutex checks, all in a running
// loop marked realtime.
TEST_P(ShmEventLoopTest, RealtimePathDoesNotAllocate) {
  if (!AllocationGuardAvailable()) {
    GTEST_SKIP() << "the allocation guard is off in sanitizer builds";
  }
  FlagSaver flag_saver;
  // Count instead of dying, so a failure says how many allocations there
  // were; run "RT" without needing CAP_SYS_NICE.
  FLAGS_die_on_malloc = false;
  FLAGS_skip_realtime_scheduler = true;
  FLAGS_skip_locking_memory = true;
  FLAGS_timing_report_ms = 5;

  auto primary = MakePrimary();
  auto other = Make();
  primary->SetRuntimeRealtimePriority(1);
  // The thread and mutex checks run on every call below, and must not
  // allocate either.
  stl_mutex mutex;
  std::lock_guard<stl_mutex> lock(mutex);
  primary_shm()->LockToThread();
  primary_shm()->CheckForMutex(&mutex);
  auto ping_sender = primary->MakeSender<TestMessage>("/test");
  auto ping_fetcher = primary->MakeFetcher<TestMessage>("/test");
  auto pong_sender = other->MakeSender<TestMessage>("/test1");
  auto report_fetcher = other->MakeFetcher<timing::Report>("/aos");

  int pongs = 0;
  int no_arg_calls = 0;
  int phased_calls = 0;
  int fetched = 0;
  bool done = false;
  uint64_t allocations_before = 0;
  uint64_t allocations_after = 0;
  primary->MakeWatcher("/test1", [&](const TestMessage &pong) {
    ++pongs;
    if (ping_fetcher.FetchNext()) ++fetched;
    if (ping_fetcher.Fetch()) ++fetched;
    if (pong.value() >= 200) {
      allocations_after = RealtimeAllocationCount();
      // Run() still handles what is due at the exit (upstream's rule): a
      // ping due then must not send past the channel's rate.
      done = true;
      Exit();
    }
  });
  primary->MakeNoArgWatcher<TestMessage>("/test2", [&]() { ++no_arg_calls; });
  auto no_arg_sender = other->MakeSender<TestMessage>("/test2");
  primary->AddPhasedLoop([&](int) { ++phased_calls; }, milliseconds(1));
  int value = 0;
  TimerHandler *ping = primary->AddTimer([&]() {
    if (done) return;
    ++value;
    Send(&ping_sender, value);
    // The other loop is not running; its sends stand in for another
    // process's (the primary's watchers are woken the same way).
    Send(&pong_sender, value);
    Send(&no_arg_sender, value);
  });
  primary->OnRun([&]() {
    allocations_before = RealtimeAllocationCount();
    ping->Schedule(primary->monotonic_now(), std::chrono::microseconds(200));
  });

  ASSERT_TRUE(Run().has_value());
  EXPECT_EQ(allocations_after - allocations_before, 0u)
      << "heap allocations on the real-time path";
  EXPECT_EQ(pongs, 200);
  EXPECT_GE(no_arg_calls, 199);
  EXPECT_GT(phased_calls, 0);
  EXPECT_GE(fetched, 200);
  EXPECT_TRUE(report_fetcher.Fetch()) << "timing reports were sent while RT";
}

// The guard the previous test relies on does catch allocations.
TEST_P(ShmEventLoopDeathTest, DieOnMallocInRealtimeHandler) {
  if (!AllocationGuardAvailable()) {
    GTEST_SKIP() << "the allocation guard is off in sanitizer builds";
  }
  FlagSaver flag_saver;
  FLAGS_die_on_malloc = true;
  FLAGS_skip_realtime_scheduler = true;
  FLAGS_skip_locking_memory = true;
  auto primary = MakePrimary();
  primary->SetRuntimeRealtimePriority(1);
  TimerHandler *timer = primary->AddTimer([&]() {
    // Stored in a volatile global so the compiler cannot elide it.
    allocation_sink = malloc(100);
    Exit();
  });
  primary->OnRun([&]() { timer->Schedule(primary->monotonic_now()); });
  EXPECT_DEATH((void)Run(), "Malloced in realtime code");
}

TEST_P(ShmEventLoopTest, SigintEndsRun) {
  auto primary = MakePrimary();
  TimerHandler *timer = primary->AddTimer([]() { raise(SIGINT); });
  primary->OnRun([&]() { timer->Schedule(primary->monotonic_now()); });
  EXPECT_TRUE(Run().has_value());
  // The handler is restored afterwards.
  struct sigaction action;
  ASSERT_EQ(sigaction(SIGINT, nullptr, &action), 0);
  EXPECT_EQ(action.sa_handler, SIG_DFL);
}

TEST_P(ShmEventLoopTest, WakeupSignalIgnoredAndLeftBlocked) {
  auto loop1 = Make();
  auto primary = MakePrimary();
  struct sigaction action;
  ASSERT_EQ(sigaction(ipc_lib::kWakeupSignal, nullptr, &action), 0);
  EXPECT_EQ(action.sa_handler, SIG_IGN);

  auto sender = loop1->MakeSender<TestMessage>("/test");
  primary->MakeWatcher("/test", [&](const TestMessage &) { Exit(); });
  primary->OnRun([&]() { Send(&sender, 1); });
  ASSERT_TRUE(Run().has_value());
  sigset_t blocked;
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, nullptr, &blocked), 0);
  EXPECT_TRUE(sigismember(&blocked, ipc_lib::kWakeupSignal));
  // A late wakeup does no harm.
  Send(&sender, 2);
}

// Arm late: while a loop is busy handling messages its watchers are not
// armed, so messages sent meanwhile cost the sender no signal, and the loop
// finds them by checking again before it sleeps (it never waits for them).
TEST_P(ShmEventLoopTest, BusyLoopTakesNoSignals) {
  auto other = Make();
  auto primary = MakePrimary();
  auto sender = other->MakeSender<TestMessage>("/test1");
  int received = 0;
  int signals_pending = 0;
  primary->MakeWatcher("/test1", [&](const TestMessage &message) {
    EXPECT_EQ(message.value(), received);
    ++received;
    if (received == 100) {
      Exit();
      return;
    }
    // Stands in for another process sending while this loop is busy.
    Send(&sender, received);
    sigset_t pending;
    ASSERT_EQ(sigpending(&pending), 0);
    if (sigismember(&pending, ipc_lib::kWakeupSignal)) ++signals_pending;
  });
  primary->OnRun([&]() { Send(&sender, 0); });
  // A late wakeup left pending by an earlier test of this thread (the signal
  // stays blocked) would be counted: consume it.
  sigset_t wakeup;
  sigemptyset(&wakeup);
  sigaddset(&wakeup, ipc_lib::kWakeupSignal);
  const struct timespec no_wait = {0, 0};
  while (sigtimedwait(&wakeup, nullptr, &no_wait) > 0) {
  }
  ASSERT_TRUE(Run().has_value());
  EXPECT_EQ(received, 100);
  EXPECT_EQ(signals_pending, 0);
}

// SetPollBeforeSleep: a stream sent while the loop polls is handled without
// wakeup signals. The same stream to a loop that sleeps between messages
// takes signals, which shows the test can tell the two apart.
TEST_P(ShmEventLoopTest, PollBeforeSleepTakesNoSignals) {
  // Polls far longer than the test: it never arms, so nobody signals.
  EXPECT_EQ(SignalsTakenByStream(std::chrono::seconds(60)), 0);
}

TEST_P(ShmEventLoopTest, SleepingLoopTakesSignals) {
  EXPECT_GT(SignalsTakenByStream(std::chrono::nanoseconds(0)), 0);
}

// Polling never delays a timer: it stops when the next timer is due.
TEST_P(ShmEventLoopTest, PollBeforeSleepStopsForTimers) {
  auto primary = MakePrimary();
  primary_shm()->SetPollBeforeSleep(std::chrono::hours(1));
  primary->MakeWatcher("/test1", [](const TestMessage &) {});
  monotonic_clock::time_point scheduled, fired;
  TimerHandler *timer = primary->AddTimer([&]() {
    fired = primary->monotonic_now();
    Exit();
  });
  primary->OnRun([&]() {
    scheduled = primary->monotonic_now() + milliseconds(10);
    timer->Schedule(scheduled);
  });
  ASSERT_TRUE(Run().has_value());
  // Not a timing test: a timer left to the polling would wait an hour.
  EXPECT_LT(fired - scheduled, std::chrono::seconds(60));
}

TEST_P(ShmEventLoopDeathTest, PollBeforeSleepMustNotBeNegative) {
  auto primary = MakePrimary();
  EXPECT_DEATH(
      primary_shm()->SetPollBeforeSleep(std::chrono::nanoseconds(-1)),
      "SetPollBeforeSleep needs a duration >= 0 on event loop primary");
}

// Decision 4: after an overrun, a repeating timer fires at the first
// multiple of its period strictly after the time it noticed.
TEST_P(ShmEventLoopTest, RepeatingTimerSkipsMissedCycles) {
  auto primary = MakePrimary();
  std::vector<monotonic_clock::time_point> fire_times;
  monotonic_clock::time_point overrun_end;
  monotonic_clock::time_point base;
  TimerHandler *timer = primary->AddTimer([&]() {
    fire_times.push_back(primary->context().monotonic_event_time);
    if (fire_times.size() == 1) {
      std::this_thread::sleep_for(milliseconds(25));
      overrun_end = primary->monotonic_now();
    } else {
      Exit();
    }
  });
  primary->OnRun([&]() {
    base = primary->monotonic_now() + milliseconds(1);
    timer->Schedule(base, milliseconds(10));
  });
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(fire_times.size(), 2u);
  EXPECT_EQ((fire_times[1] - base) % milliseconds(10), milliseconds(0));
  EXPECT_GE(fire_times[1], base + milliseconds(30));
  // Not later than the first multiple after the overrun ended (the next
  // one was computed a moment before `overrun_end` was read).
  EXPECT_LE(fire_times[1], overrun_end + milliseconds(10));
}

TEST_P(ShmEventLoopTest, PhasedLoopCountsAStall) {
  auto primary = MakePrimary();
  std::vector<int> counts;
  primary->AddPhasedLoop(
      [&](int cycles) {
        counts.push_back(cycles);
        if (counts.size() == 2) {
          std::this_thread::sleep_for(milliseconds(25));
        }
        if (counts.size() == 4) Exit();
      },
      milliseconds(10));
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(counts.size(), 4u);
  EXPECT_GE(counts[2], 3) << "a 25 ms stall at 10 ms skips at least 2";
}

TEST_P(ShmEventLoopTest, QueueFileLivesUnderShmBase) {
  auto loop = Make();
  auto sender = loop->MakeSender<TestMessage>("/test");
  const std::string path =
      ipc_lib::ShmPath(FLAGS_shm_base, "/test", "aos.TestMessage");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
  EXPECT_EQ(st.st_mode & 0777, FLAGS_permissions & 0777 & ~GetUmask());
}

TEST_P(ShmEventLoopTest, ExitFromAnotherThread) {
  auto primary = MakePrimary();
  std::unique_ptr<ExitHandle> handle = primary_shm()->MakeExitHandle();
  std::thread exiter;
  primary->OnRun([&]() {
    exiter = std::thread([&]() { handle->Exit(MakeError("from a thread")); });
  });
  Result<void> result = Run();
  exiter.join();
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().message(), "from a thread");
}

// A loop ended by SIGINT has an exit status (success), which a later
// ExitHandle::Exit(error) does not override, as with a plain Exit().
TEST_P(ShmEventLoopTest, SignalExitWinsOverALaterError) {
  auto primary = MakePrimary();
  std::unique_ptr<ExitHandle> handle = primary_shm()->MakeExitHandle();
  TimerHandler *timer = primary->AddTimer([&]() {
    // The loop's handler turns the signal into Exit() on every running
    // loop (synchronously: raise() runs the handler before returning).
    ASSERT_EQ(raise(SIGINT), 0);
    handle->Exit(MakeError("too late"));
  });
  primary->OnRun([&]() { timer->Schedule(primary->monotonic_now()); });
  EXPECT_TRUE(Run().has_value());
  handle.reset();
}

// After Exit(), a message already sent to a watcher of the loop (here from
// the callback that exits) is handled before Run() returns, as upstream's
// loop does; a timer due later is not.
TEST_P(ShmEventLoopTest, ExitHandlesMessagesAlreadySent) {
  auto primary = MakePrimary();
  auto sender = primary->MakeSender<TestMessage>("/test1");
  std::vector<int> watched;
  primary->MakeWatcher("/test", [&](const TestMessage &message) {
    watched.push_back(message.value());
  });
  auto other = Make();
  auto test_sender = other->MakeSender<TestMessage>("/test");
  bool late_fired = false;
  TimerHandler *late = primary->AddTimer([&]() { late_fired = true; });
  TimerHandler *timer = primary->AddTimer([&]() {
    Send(&test_sender, 1);
    Send(&test_sender, 2);
    late->Schedule(primary->monotonic_now() + std::chrono::seconds(10));
    Exit();
  });
  primary->OnRun([&]() { timer->Schedule(primary->monotonic_now()); });
  ASSERT_TRUE(Run().has_value());
  EXPECT_THAT(watched, ::testing::ElementsAre(1, 2));
  EXPECT_FALSE(late_fired);
}

// A loop made on one thread, run on a std::thread, and destroyed on the
// thread that made it (after joining) releases the queue slots the running
// thread claimed (its timing report and log senders, a pinning fetcher made
// while running) without dying.
TEST_P(ShmEventLoopTest, RunOnAThreadDestroyedOnItsMaker) {
  FlagSaver flag_saver;
  FLAGS_timing_report_ms = 5;
  auto other = Make();
  auto sender = other->MakeSender<TestMessage>("/test1");
  auto primary = MakePrimary();
  Fetcher<TestMessage> fetcher;
  int watched = 0;
  primary->MakeWatcher("/test", [&](const TestMessage &) { ++watched; });
  TimerHandler *exit_timer = primary->AddTimer([&]() {
    Send(&sender, 3);
    EXPECT_TRUE(fetcher.Fetch());
    Exit();
  });
  primary->OnRun([&]() {
    fetcher = primary->MakeFetcher<TestMessage>("/test1");
    exit_timer->Schedule(primary->monotonic_now() + milliseconds(20));
  });
  std::thread runner([&]() { EXPECT_TRUE(Run().has_value()); });
  runner.join();
  fetcher = Fetcher<TestMessage>();
  primary.reset();
  // The slots are free again: a new loop claims its senders and readers.
  auto again = Make();
  auto again_fetcher = again->MakeFetcher<TestMessage>("/test1");
  EXPECT_TRUE(again_fetcher.Fetch());
}

TEST_P(ShmEventLoopTest, MissingTimingReportChannelIsAnError) {
  FlatbufferDetachedBuffer<Configuration> config =
      configuration::MergeWithConfig(
          &FlatbufferDetachedBuffer<Configuration>::Empty().message(),
          R"({"channels": [{"name": "/test", "type": "aos.TestMessage"}]})");
  ShmEventLoop loop(&config.message());
  Result<void> result = loop.Run();
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message(),
              ::testing::HasSubstr("\"name\": \"/aos\""));
  EXPECT_THAT(result.error().message(),
              ::testing::HasSubstr("--timing_reports=false"));
}

TEST_P(ShmEventLoopDeathTest, DestroyingExitHandleLast) {
  EXPECT_DEATH(
      {
        std::unique_ptr<ExitHandle> handle;
        {
          ShmEventLoop loop(configuration());
          handle = loop.MakeExitHandle();
        }
      },
      "All ExitHandles must be destroyed before the ShmEventLoop");
}

// A finished TestMessage, for the copying Send overloads.
FlatbufferDetachedBuffer<TestMessage> MakeTestMessage(int value) {
  flatbuffers::FlatBufferBuilder fbb;
  TestMessage::Builder builder(fbb);
  builder.add_value(value);
  fbb.Finish(builder.Finish());
  return FlatbufferDetachedBuffer<TestMessage>(fbb.Release());
}

// Runs `fn` on a new thread and waits for it.
template <typename Fn>
void OnOtherThread(Fn fn) {
  std::thread(fn).join();
}

// Everything works from the thread the loop is locked to, and Exit() works
// from any thread.
TEST_P(ShmEventLoopTest, LockToThreadAllowsItsOwnThread) {
  auto other = Make();
  auto primary = MakePrimary();
  primary_shm()->LockToThread();
  auto sender = other->MakeSender<TestMessage>("/test1");
  auto fetcher = primary->MakeFetcher<TestMessage>("/test1");
  int watched = 0;
  std::thread exiter;
  primary->MakeWatcher("/test1", [&](const TestMessage &message) {
    ++watched;
    EXPECT_TRUE(fetcher.Fetch());
    EXPECT_EQ(fetcher->value(), message.value());
    exiter = std::thread([&]() { primary_shm()->Exit(); });
  });
  TimerHandler *timer = primary->AddTimer([&]() { Send(&sender, 7); });
  primary->OnRun([&]() { timer->Schedule(primary->monotonic_now()); });
  ASSERT_TRUE(Run().has_value());
  exiter.join();
  EXPECT_EQ(watched, 1);
}

// Each kind of call from another thread dies, naming the call, the channel
// and both threads.
TEST_P(ShmEventLoopDeathTest, LockToThreadCatchesOtherThreads) {
  auto primary = MakePrimary();
  auto sender = primary->MakeSender<TestMessage>("/test1");
  auto fetcher = primary->MakeFetcher<TestMessage>("/test1");
  TimerHandler *timer = primary->AddTimer([]() {});
  primary_shm()->LockToThread();
  const std::string threads =
      " of ShmEventLoop \"primary\" called from thread [0-9]+, but "
      "LockToThread\\(\\) locked the loop to thread [0-9]+";
  const std::string test1 =
      " on \\{ \"name\": \"/test1\", \"type\": \"aos.TestMessage\" \\}";
  EXPECT_DEATH(
      OnOtherThread([&]() { primary->MakeSender<TestMessage>("/test"); }),
      "MakeRawSender on .*/test.*" + threads);
  EXPECT_DEATH(
      OnOtherThread([&]() { primary->MakeFetcher<TestMessage>("/test"); }),
      "MakeRawFetcher on .*/test.*" + threads);
  EXPECT_DEATH(OnOtherThread([&]() {
                 primary->MakeWatcher("/test", [](const TestMessage &) {});
               }),
               "MakeRawWatcher on .*/test.*" + threads);
  EXPECT_DEATH(OnOtherThread([&]() { primary->AddTimer([]() {}); }),
               "AddTimer" + threads);
  EXPECT_DEATH(OnOtherThread([&]() { Send(&sender, 1); }),
               "Building a message" + test1 + threads);
  const FlatbufferDetachedBuffer<TestMessage> message = MakeTestMessage(1);
  EXPECT_DEATH(OnOtherThread([&]() { (void)sender.Send(message); }),
               "Send" + test1 + threads);
  EXPECT_DEATH(OnOtherThread([&]() { fetcher.Fetch(); }),
               "Fetch" + test1 + threads);
  EXPECT_DEATH(OnOtherThread([&]() { fetcher.FetchNext(); }),
               "FetchNext" + test1 + threads);
  EXPECT_DEATH(
      OnOtherThread([&]() { timer->Schedule(primary->monotonic_now()); }),
      "TimerHandler::Schedule" + threads);
  EXPECT_DEATH(OnOtherThread([&]() { (void)primary_shm()->Run(); }),
               "Run" + threads);
}

// A loop shared by threads under a mutex: any thread holding it may call
// in; one that does not dies.
TEST_P(ShmEventLoopTest, CheckForMutexAllowsWhoeverHoldsIt) {
  auto primary = MakePrimary();
  stl_mutex mutex;
  primary_shm()->CheckForMutex(&mutex);
  std::unique_ptr<RawFetcher> fetcher;
  {
    std::lock_guard<stl_mutex> lock(mutex);
    fetcher = primary->MakeRawFetcher(configuration::GetChannel<TestMessage>(
        primary->configuration(), "/test1", "", nullptr));
  }
  OnOtherThread([&]() {
    std::lock_guard<stl_mutex> lock(mutex);
    auto sender = primary->MakeSender<TestMessage>("/test1");
    Send(&sender, 3);
  });
  std::lock_guard<stl_mutex> lock(mutex);
  ASSERT_TRUE(fetcher->Fetch());
  EXPECT_EQ(flatbuffers::GetRoot<TestMessage>(fetcher->context().data)->value(),
            3);
  primary_shm()->CheckForMutex(nullptr);
}

TEST_P(ShmEventLoopDeathTest, CheckForMutexCatchesCallsWithoutIt) {
  auto primary = MakePrimary();
  stl_mutex mutex;
  primary_shm()->CheckForMutex(&mutex);
  const std::string rule =
      " of ShmEventLoop \"primary\" called from thread [0-9]+ without "
      "holding the mutex given to CheckForMutex\\(\\)";
  EXPECT_DEATH(primary->MakeSender<TestMessage>("/test"),
               "MakeRawSender on .*/test.*" + rule);
  EXPECT_DEATH(primary->AddTimer([]() {}), "AddTimer" + rule);
  // Held by another thread is not held.
  std::thread holder;
  std::atomic<bool> held{false};
  std::atomic<bool> release{false};
  holder = std::thread([&]() {
    std::lock_guard<stl_mutex> lock(mutex);
    held = true;
    while (!release) std::this_thread::yield();
  });
  while (!held) std::this_thread::yield();
  EXPECT_DEATH(primary->MakeFetcher<TestMessage>("/test"),
               "MakeRawFetcher on .*/test.*" + rule);
  release = true;
  holder.join();
}

// A sender's buffer lies in the mapping GetSenderSharedMemory returns, and a
// PIN fetcher reads in place in a mapping of the same file.
TEST_P(ShmEventLoopTest, SenderSharedMemoryAndFetcherPrivateMemory) {
  auto primary = MakePrimary();
  const Channel *channel = configuration::GetChannel<TestMessage>(
      primary->configuration(), "/test1", "", nullptr);
  std::unique_ptr<RawSender> sender = primary->MakeRawSender(channel);
  std::unique_ptr<RawFetcher> fetcher = primary->MakeRawFetcher(channel);
  const std::span<uint8_t> shared =
      primary_shm()->GetSenderSharedMemory(sender.get());
  const std::span<const uint8_t> fetched =
      primary_shm()->GetFetcherPrivateMemory(fetcher.get());
  auto inside = [](const void *begin, size_t size, auto span) {
    const uint8_t *b = static_cast<const uint8_t *>(begin);
    return b >= span.data() && b + size <= span.data() + span.size();
  };
  ASSERT_FALSE(shared.empty());
  EXPECT_TRUE(inside(sender->data(), sender->size(), shared));

  // Written through the sender's buffer, read back by the fetcher.
  const FlatbufferDetachedBuffer<TestMessage> message = MakeTestMessage(42);
  ASSERT_EQ(sender->Send(message.span().data(), message.span().size()),
            RawSender::Error::kOk);
  ASSERT_TRUE(fetcher->Fetch());
  EXPECT_TRUE(
      inside(fetcher->context().data, fetcher->context().size, fetched));
  if (pinned()) {
    // The whole queue, read-only, at another address than the sender's.
    EXPECT_EQ(fetched.size(), shared.size());
    EXPECT_EQ(memcmp(fetched.data(), shared.data(), shared.size()), 0);
  } else {
    // A private copy: room for one message, outside the queue.
    EXPECT_GE(fetched.size(), channel->max_size());
    EXPECT_LT(fetched.size(), shared.size());
    EXPECT_FALSE(inside(fetched.data(), fetched.size(), shared));
  }
}

// The typed overloads give the raw objects' memory.
TEST_P(ShmEventLoopTest, TypedSenderSharedMemoryAndFetcherPrivateMemory) {
  auto primary = MakePrimary();
  Sender<TestMessage> sender = primary->MakeSender<TestMessage>("/test1");
  Fetcher<TestMessage> fetcher = primary->MakeFetcher<TestMessage>("/test1");
  const std::span<uint8_t> shared =
      primary_shm()->GetSenderSharedMemory(&sender);
  const std::span<const uint8_t> fetched =
      primary_shm()->GetFetcherPrivateMemory(&fetcher);
  ASSERT_FALSE(shared.empty());
  ASSERT_FALSE(fetched.empty());
  auto builder = sender.MakeBuilder();
  TestMessage::Builder message = builder.MakeBuilder<TestMessage>();
  message.add_value(7);
  FlatbufferDetachedBuffer<TestMessage> detached =
      builder.Detach(message.Finish());
  // The message is built inside the sender's mapping...
  const uint8_t *const built = detached.span().data();
  EXPECT_GE(built, shared.data());
  EXPECT_LE(built + detached.span().size(), shared.data() + shared.size());
  sender.CheckOk(sender.SendDetached(std::move(detached)));
  // ...and read from the fetcher's memory.
  ASSERT_TRUE(fetcher.Fetch());
  EXPECT_EQ(fetcher->value(), 7);
  const uint8_t *const read =
      static_cast<const uint8_t *>(fetcher.context().data);
  EXPECT_GE(read, fetched.data());
  EXPECT_LE(read + fetcher.context().size, fetched.data() + fetched.size());
}

TEST_P(ShmEventLoopDeathTest, TypedSharedMemoryOfInvalidObjects) {
  auto primary = MakePrimary();
  Sender<TestMessage> sender;
  Fetcher<TestMessage> fetcher;
  EXPECT_DEATH(primary_shm()->GetSenderSharedMemory(&sender),
               "GetSenderSharedMemory of an invalid Sender of "
               "aos.TestMessage");
  EXPECT_DEATH(primary_shm()->GetFetcherPrivateMemory(&fetcher),
               "GetFetcherPrivateMemory of an invalid Fetcher of "
               "aos.TestMessage");
}

TEST_P(ShmEventLoopDeathTest, SharedMemoryOfAnotherLoopsObjects) {
  auto primary = MakePrimary();
  auto other = Make("other");
  const Channel *channel = configuration::GetChannel<TestMessage>(
      primary->configuration(), "/test1", "", nullptr);
  std::unique_ptr<RawSender> sender = other->MakeRawSender(channel);
  std::unique_ptr<RawFetcher> fetcher = other->MakeRawFetcher(channel);
  EXPECT_DEATH(primary_shm()->GetSenderSharedMemory(sender.get()),
               "GetSenderSharedMemory: the sender on .*/test1.* was made by "
               "another event loop than primary");
  EXPECT_DEATH(primary_shm()->GetFetcherPrivateMemory(fetcher.get()),
               "GetFetcherPrivateMemory: the fetcher on .*/test1.* was made "
               "by another event loop than primary");
}

// An exclusive sender (live replay's) refuses to start beside another sender,
// and while it lives every other sender is refused with a message naming the
// holder and the remap that fixes it; destroying it ends the claim.
TEST_P(ShmEventLoopDeathTest, ExclusiveSenderExcludesOtherSenders) {
  auto loop = Make("app");
  ShmEventLoop *shm = static_cast<ShmEventLoop *>(loop.get());
  const Channel *channel = configuration::GetChannel<TestMessage>(
      loop->configuration(), "/test1", "", loop->node());
  const std::string self = std::to_string(getpid());
  std::unique_ptr<RawSender> shared = loop->MakeRawSender(channel);
  EXPECT_DEATH(shm->MakeExclusiveRawSender(channel),
               "Failed to create an exclusive sender on .*/test1.*: process " +
                   self +
                   " \\(\".*\", thread [0-9]+\\) already sends on it.*"
                   "remap the logged channel in the replay config");
  shared.reset();
  std::unique_ptr<RawSender> exclusive = shm->MakeExclusiveRawSender(channel);
  EXPECT_DEATH(Make("other")->MakeRawSender(channel),
               "Failed to create sender on .*/test1.*: it has an exclusive "
               "sender, held by process " +
                   self +
                   ".*remap the logged channel in the replay config.*"
                   "/original/test1");
  exclusive.reset();
  EXPECT_NE(Make("other")->MakeRawSender(channel), nullptr);
}

// The claim lives in the queue's shared memory with the holder's sender
// slot, so a holder killed with SIGKILL (no destructor runs) releases it: the
// next process to make a sender cleans the dead slot up and gets one.
TEST_P(ShmEventLoopDeathTest, ExclusiveSenderClaimEndsWhenItsProcessDies) {
  const Channel *channel = configuration::GetChannel<TestMessage>(
      configuration(), "/test1", "", nullptr);
  int ready[2];
  PCHECK(pipe(ready) == 0);
  const pid_t holder = fork();
  PCHECK(holder != -1);
  if (holder == 0) {
    close(ready[0]);
    auto loop = Make("holder");
    auto sender = static_cast<ShmEventLoop *>(loop.get())
                      ->MakeExclusiveRawSender(channel);
    const char byte = 1;
    if (write(ready[1], &byte, 1) != 1) _exit(1);
    while (true) pause();
  }
  close(ready[1]);
  // Kills and reaps the holder whatever happens to the test.
  struct Holder {
    pid_t pid;
    bool reaped = false;
    void Kill() {
      if (reaped) return;
      kill(pid, SIGKILL);
      int status;
      PCHECK(waitpid(pid, &status, 0) == pid);
      reaped = true;
    }
    ~Holder() { Kill(); }
  } killer{holder};
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1) << ": the holder died";
  close(ready[0]);
  const std::string pid = std::to_string(holder);
  EXPECT_DEATH(Make("app")->MakeRawSender(channel),
               "Failed to create sender on .*/test1.*: it has an exclusive "
               "sender, held by process " +
                   pid + " \\(\".*\", thread " + pid +
                   "\\).*live log replay.*remap the logged channel in the "
                   "replay config.*/original/test1.*or stop that process");
  killer.Kill();
  auto loop = Make("app");
  {
    Sender<TestMessage> sender = loop->MakeSender<TestMessage>("/test1");
    Send(&sender, 5);
  }
  // And a new exclusive claim can be taken once that sender is gone.
  EXPECT_NE(
      static_cast<ShmEventLoop *>(loop.get())->MakeExclusiveRawSender(channel),
      nullptr);
}

}  // namespace
}  // namespace aos::testing

namespace aos::testing {
namespace {

// FetchNextUntil (the Logger's drain) against a sender in another thread
// that keeps lapping the reader: under kSkipToOldest every message is either
// visited, in order and intact, or counted lost, exactly once, on the first
// message after the gap (and in lost_messages()). Every 500 messages the
// reader waits, mid-drain, until the writer is two queues ahead, so it is
// lapped whatever the scheduling.
TEST_P(ShmEventLoopTest, FetchNextUntilAgainstOverrunningSenderThread) {
  // A queue of 10 that refuses a send only if it overwrites a message sent
  // less than 10 ns before.
  const FlatbufferDetachedBuffer<Configuration> config =
      configuration::MergeWithConfig(
          configuration(),
          std::string(R"({"channels": [{"name": "/race", "type": )"
                      R"("aos.TestMessage", "frequency": 1000000000, )"
                      R"("channel_storage_duration": 10, "max_size": 64)") +
              (pinned() ? R"(, "read_method": "PIN", "num_readers": 4)" : "") +
              "}]}");
  const Channel *channel = configuration::GetChannel(
      &config.message(), "/race", "aos.TestMessage", "", nullptr);
  ASSERT_NE(channel, nullptr);
  ShmEventLoop reader_loop(&config.message());
  std::unique_ptr<RawFetcher> fetcher = reader_loop.MakeRawFetcher(channel);
  fetcher->set_fall_behind_policy(FallBehindPolicy::kSkipToOldest);

  constexpr uint64_t kMessages = 20000;
  const uint64_t queue_size =
      configuration::QueueSize(&config.message(), channel);
  std::atomic<uint64_t> sent{0};
  std::thread writer([&]() {
    ShmEventLoop writer_loop(&config.message());
    std::unique_ptr<RawSender> sender = writer_loop.MakeRawSender(channel);
    for (uint64_t value = 0; value < kMessages;) {
      const RawSender::Error error = sender->Send(&value, sizeof(value));
      if (error == RawSender::Error::kOk) {
        ++value;
        sent.store(value, std::memory_order_release);
      } else {
        // Anything else would leave the reader waiting for messages that
        // never come: end the test here instead.
        CHECK(error == RawSender::Error::kMessagesSentTooFast)
            << ": sending " << value << " failed";
      }
    }
  });

  int64_t previous = -1;
  uint64_t visited = 0;
  uint64_t lost = 0;
  bool order_ok = true;
  while (previous != static_cast<int64_t>(kMessages - 1)) {
    fetcher->FetchNextUntil(
        monotonic_clock::max_time, [&](const Context &context) {
          uint64_t value;
          EXPECT_EQ(context.size, sizeof(value));
          memcpy(&value, context.data, sizeof(value));
          const int64_t gap = static_cast<int64_t>(value) - previous - 1;
          if (gap < 0 || context.lost_messages != static_cast<uint64_t>(gap)) {
            order_ok = false;
            ADD_FAILURE() << "after " << previous << " got " << value
                          << " with lost_messages " << context.lost_messages;
          }
          lost += context.lost_messages;
          previous = static_cast<int64_t>(value);
          ++visited;
          if (visited % 500 == 0) {
            const uint64_t lapped =
                std::min(kMessages, value + 2 * queue_size + 1);
            while (sent.load(std::memory_order_acquire) < lapped) {
              std::this_thread::yield();
            }
          }
          return order_ok;
        });
    if (!order_ok) break;
  }
  writer.join();
  EXPECT_EQ(visited + lost, kMessages);
  EXPECT_EQ(fetcher->lost_messages(), lost);
  EXPECT_GT(lost, 0u) << "the writer never lapped the reader";
  EXPECT_GT(visited, 1u);
}

}  // namespace
}  // namespace aos::testing
