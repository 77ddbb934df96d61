#include "aos/starter/status_format.h"

#include "aos/flatbuffers.h"
#include "aos/json_to_flatbuffer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::starter {
namespace {

using ::testing::HasSubstr;

TEST(StatusFormatTest, Durations) {
  using namespace std::chrono_literals;
  EXPECT_EQ(FormatDuration(400ms), "0.4s");
  EXPECT_EQ(FormatDuration(12s), "12s");
  EXPECT_EQ(FormatDuration(185s), "3m05s");
  EXPECT_EQ(FormatDuration(7260s), "2h01m");
  EXPECT_EQ(FormatDuration(100h), "4d04h");
  EXPECT_EQ(FormatDuration(-5s), "0.0s");
}

TEST(StatusFormatTest, ExitCodesNameTheSignal) {
  EXPECT_EQ(FormatExitCode(0), "0");
  EXPECT_EQ(FormatExitCode(3), "3");
  EXPECT_EQ(FormatExitCode(137), "137 (SIGKILL)");
  EXPECT_EQ(FormatExitCode(130), "130 (SIGINT)");
}

// One application per state (times in ns): zeta runs since 10 s, alpha was
// stopped, crashy waits to restart at 102 s.
FlatbufferDetachedBuffer<Status> MakeStatus() {
  return JsonToFlatbuffer<Status>(R"json({"statuses": [
    {"name": "zeta", "state": "RUNNING", "pid": 42, "id": 7,
     "last_start_time": 10000000000, "file_state": "CHANGED"},
    {"name": "alpha", "state": "STOPPED", "pid": 41, "last_exit_code": 137,
     "last_stop_reason": "STOP_REQUESTED"},
    {"name": "crashy", "state": "WAITING", "pid": 40, "last_exit_code": 1,
     "restarts": 4, "next_start_time": 102000000000}
  ]})json");
}

TEST(StatusFormatTest, TableHasOneAlignedRowPerApplication) {
  FlatbufferDetachedBuffer<Status> status = MakeStatus();
  const monotonic_clock::time_point now(std::chrono::seconds(100));
  const std::string table =
      FormatStatusTable(status.message(), now, SortBy::kName);
  EXPECT_EQ(table,
            "NAME    STATE           PID  UPTIME  RESTARTS  LAST EXIT      "
            "STOP REASON     BINARY\n"
            "alpha   STOPPED         -    -       0         137 (SIGKILL)  "
            "STOP_REQUESTED  -\n"
            "crashy  WAITING (2.0s)  -    -       4         1              "
            "-               -\n"
            "zeta    RUNNING         42   1m30s   0         -              "
            "-               CHANGED\n");
  const std::string by_uptime =
      FormatStatusTable(status.message(), now, SortBy::kUptime);
  EXPECT_LT(by_uptime.find("zeta"), by_uptime.find("alpha"));
  EXPECT_EQ(ParseSortBy("pid"), SortBy::kPid);
  EXPECT_EQ(ParseSortBy("size"), std::nullopt);
}

TEST(StatusFormatTest, DetailSaysWhy) {
  FlatbufferDetachedBuffer<Status> status = MakeStatus();
  const monotonic_clock::time_point now(std::chrono::seconds(100));
  const std::string alpha =
      FormatApplicationStatus(*status.message().statuses()->Get(1), now);
  EXPECT_THAT(alpha, HasSubstr("alpha - STOPPED"));
  EXPECT_THAT(alpha, HasSubstr("last exit:    137 (SIGKILL)"));
  EXPECT_THAT(alpha, HasSubstr("stop reason:  STOP_REQUESTED"));
  const std::string crashy =
      FormatApplicationStatus(*status.message().statuses()->Get(2), now);
  EXPECT_THAT(crashy, HasSubstr("restarting in 2.0s"));
  EXPECT_THAT(crashy, HasSubstr("restarts:     4"));
}

}  // namespace
}  // namespace aos::starter
