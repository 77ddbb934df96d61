// Conformance tests (see event_loop_param_test.h) of timing reports: their
// contents, their own send, and SkipTimingReport.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include "aos/events/event_loop_generated.h"
#include "aos/events/event_loop_param_test.h"
#include "aos/events/test_message_generated.h"
#include "aos/network/remote_message_generated.h"
#include "aos/realtime.h"
#include "glog/logging.h"
#include "gmock/gmock.h"

namespace aos::testing {

using std::chrono::milliseconds;

// The timing report lists every sender, fetcher, watcher, timer and phased
// loop with counts of what they did.
TEST_P(AbstractEventLoopTest, TimingReportContents) {
  ScopedTimingReportPeriod period(50);
  auto loop1 = Make();
  auto primary = MakePrimary("primary");
  primary->SetVersionString("v1.2.3");
  auto report_fetcher = loop1->MakeFetcher<timing::Report>("/aos");
  auto sender = primary->MakeSender<TestMessage>("/test1");
  auto fetcher = primary->MakeFetcher<TestMessage>("/test1");
  auto other_sender = loop1->MakeSender<TestMessage>("/test");
  int watched = 0;
  primary->MakeWatcher("/test", [&](const TestMessage &) { ++watched; });
  int phased_calls = 0;
  primary->AddPhasedLoop([&](int) { ++phased_calls; }, milliseconds(5))
      ->set_name("phased");
  TimerHandler *work = primary->AddTimer([&]() {
    SendValue(&sender, 1);
    SendValue(&sender, 2);
    ASSERT_TRUE(fetcher.Fetch());
    SendValue(&other_sender, 3);
  });
  work->set_name("work");
  TimerHandler *exit_timer = primary->AddTimer([&]() { Exit(); });
  primary->OnRun([&]() {
    const monotonic_clock::time_point now = primary->monotonic_now();
    work->Schedule(now + milliseconds(1));
    exit_timer->Schedule(now + milliseconds(FLAGS_timing_report_ms) +
                         milliseconds(20));
  });
  ASSERT_TRUE(Run().has_value());
  ASSERT_EQ(watched, 1);

  // The first report covers the work (later ones, if the exit was late,
  // would have zero counts).
  ASSERT_TRUE(report_fetcher.FetchNext());
  const timing::Report &report = *report_fetcher;
  EXPECT_EQ(report.name()->string_view(), "primary");
  ASSERT_NE(report.version(), nullptr);
  EXPECT_EQ(report.version()->string_view(), "v1.2.3");
  EXPECT_EQ(report.send_failures(), 0u);

  const int test1_index = primary->ChannelIndex(sender.channel());
  const int test_index = primary->ChannelIndex(other_sender.channel());
  ASSERT_NE(report.senders(), nullptr);
  bool found_sender = false;
  for (const timing::Sender *s : *report.senders()) {
    ASSERT_NE(s->error_counts(), nullptr);
    EXPECT_EQ(s->error_counts()->size(), 2u) << "one entry per SendError";
    if (s->channel_index() == test1_index) {
      found_sender = true;
      EXPECT_EQ(s->count(), 2u);
      EXPECT_GT(s->size()->average(), 0.0f);
    }
  }
  EXPECT_TRUE(found_sender);
  ASSERT_NE(report.fetchers(), nullptr);
  ASSERT_EQ(report.fetchers()->size(), 1u);
  EXPECT_EQ(report.fetchers()->Get(0)->channel_index(), test1_index);
  EXPECT_EQ(report.fetchers()->Get(0)->count(), 1u);
  EXPECT_FALSE(std::isnan(report.fetchers()->Get(0)->latency()->average()));
  ASSERT_NE(report.watchers(), nullptr);
  ASSERT_EQ(report.watchers()->size(), 1u);
  EXPECT_EQ(report.watchers()->Get(0)->channel_index(), test_index);
  EXPECT_EQ(report.watchers()->Get(0)->count(), 1u);
  ASSERT_NE(report.timers(), nullptr);
  std::vector<std::string> timer_names;
  for (const timing::Timer *t : *report.timers()) {
    timer_names.push_back(t->name()->str());
    if (t->name()->string_view() == "work") {
      EXPECT_EQ(t->count(), 1u);
    }
  }
  EXPECT_THAT(timer_names, ::testing::IsSupersetOf({"work", "timing_reports"}));
  ASSERT_NE(report.phased_loops(), nullptr);
  ASSERT_EQ(report.phased_loops()->size(), 1u);
  EXPECT_EQ(report.phased_loops()->Get(0)->name()->string_view(), "phased");
  EXPECT_GT(report.phased_loops()->Get(0)->count(), 0u);
}

// A report counts the previous report's send on its own sender, as
// upstream: the counters are reset before the send, not after.
TEST_P(AbstractEventLoopTest, TimingReportCountsItsOwnSend) {
  ScopedTimingReportPeriod period(20);
  auto loop1 = Make();
  auto primary = MakePrimary("primary");
  auto report_fetcher = loop1->MakeFetcher<timing::Report>("/aos");
  // Exit once the second report is out rather than after a fixed time, which
  // a loaded machine can overrun. A fetcher polled by a timer, because a loop
  // watching /aos sends no reports of its own.
  auto own_reports = primary->MakeFetcher<timing::Report>("/aos");
  int primary_reports = 0;
  TimerHandler *poll = primary->AddTimer([&]() {
    while (own_reports.FetchNext()) {
      if (own_reports->name()->string_view() == "primary" &&
          ++primary_reports == 2) {
        Exit();
      }
    }
  });
  primary->OnRun(
      [&]() { poll->Schedule(primary->monotonic_now(), milliseconds(5)); });
  ASSERT_TRUE(Run().has_value());
  const int report_index = primary->ChannelIndex(report_fetcher.channel());
  std::vector<uint32_t> own_sends;
  while (report_fetcher.FetchNext()) {
    if (report_fetcher->name()->string_view() != "primary") continue;
    ASSERT_NE(report_fetcher->senders(), nullptr);
    for (const timing::Sender *sender : *report_fetcher->senders()) {
      if (sender->channel_index() == report_index) {
        own_sends.push_back(sender->count());
      }
    }
  }
  ASSERT_GE(own_sends.size(), 2u);
  EXPECT_EQ(own_sends[0], 0u) << "nothing sent before the first report";
  EXPECT_EQ(own_sends[1], 1u) << "the first report, counted in the second";
}

TEST_P(AbstractEventLoopTest, SkipTimingReportSendsNone) {
  ScopedTimingReportPeriod period(5);
  auto loop1 = Make();
  auto primary = MakePrimary();
  primary->SkipTimingReport();
  auto report_fetcher = loop1->MakeFetcher<timing::Report>("/aos");
  ASSERT_TRUE(RunPastFirstTimingReport(primary.get()).has_value());
  EXPECT_FALSE(report_fetcher.Fetch());
}

}  // namespace aos::testing
