#include "aos/starter/status_format.h"

#include "aos/flatbuffers.h"
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

FlatbufferDetachedBuffer<Status> MakeStatus() {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<ApplicationStatus>> apps;
  {
    const auto name = fbb.CreateString("zeta");
    ApplicationStatus::Builder app(fbb);
    app.add_name(name);
    app.add_state(State::RUNNING);
    app.add_pid(42);
    app.add_id(7);
    app.add_last_start_time(
        std::chrono::nanoseconds(std::chrono::seconds(10)).count());
    app.add_file_state(FileState::CHANGED);
    apps.push_back(app.Finish());
  }
  {
    const auto name = fbb.CreateString("alpha");
    ApplicationStatus::Builder app(fbb);
    app.add_name(name);
    app.add_state(State::STOPPED);
    app.add_pid(41);
    app.add_last_exit_code(137);
    app.add_last_stop_reason(LastStopReason::STOP_REQUESTED);
    apps.push_back(app.Finish());
  }
  {
    const auto name = fbb.CreateString("crashy");
    ApplicationStatus::Builder app(fbb);
    app.add_name(name);
    app.add_state(State::WAITING);
    app.add_pid(40);
    app.add_last_exit_code(1);
    app.add_restarts(4);
    app.add_next_start_time(
        std::chrono::nanoseconds(std::chrono::seconds(102)).count());
    apps.push_back(app.Finish());
  }
  const auto vector = fbb.CreateVector(apps);
  Status::Builder status(fbb);
  status.add_statuses(vector);
  fbb.Finish(status.Finish());
  return FlatbufferDetachedBuffer<Status>(fbb.Release());
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
