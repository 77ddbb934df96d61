#include "aos/schema_audit.h"

#include <string>

#include "aos/util/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The timing report schema and its upstream table: the test edits the table
// the way a drifted schema would differ, and checks each is reported.
class SchemaAuditTest : public ::testing::Test {
 protected:
  SchemaAuditTest()
      : bfbs_(util::ReadFileToStringOrDie(AOS_EVENT_LOOP_BFBS)),
        table_(util::ReadFileToStringOrDie(AOS_UPSTREAM_SCHEMAS
                                           "/event_loop.txt")),
        schema_(*reflection::GetSchema(bfbs_.data())) {}

  std::vector<std::string> Audit(const std::string &table) {
    Result<std::vector<std::string>> result = AuditSchema(schema_, table);
    CHECK(result.has_value()) << result.error().message();
    return *result;
  }

  // `table_` with the first `from` replaced by `to`.
  std::string Edited(std::string_view from, std::string_view to) {
    std::string table = table_;
    const size_t at = table.find(from);
    CHECK_NE(at, std::string::npos) << from;
    table.replace(at, from.size(), to);
    return table;
  }

  const std::string bfbs_;
  const std::string table_;
  const reflection::Schema &schema_;
};

// Our timing report has upstream's wire format: Sender.channel is id 3 and
// error_counts id 4 (they were swapped).
TEST_F(SchemaAuditTest, TimingReportMatchesUpstream) {
  EXPECT_THAT(Audit(table_), IsEmpty());
}

TEST_F(SchemaAuditTest, ReportsMovedField) {
  EXPECT_THAT(
      Audit(Edited("  channel 3 aos.Channel\n", "  channel 5 aos.Channel\n")),
      ElementsAre("aos.timing.Sender.channel: is `channel 3 aos.Channel`, "
                  "upstream has `channel 5 aos.Channel`"));
}

TEST_F(SchemaAuditTest, ReportsTypeDefaultAndName) {
  EXPECT_THAT(Audit(Edited("send_failures 7 ulong", "send_failures 7 uint")),
              ElementsAre(HasSubstr("Report.send_failures: is "
                                    "`send_failures 7 ulong = 0`")));
  EXPECT_THAT(Audit(Edited("channel_index 0 int = -1\n  count 1 uint = 0\n  "
                           "size",
                           "channel_index 0 int = 0\n  count 1 uint = 0\n  "
                           "size")),
              ElementsAre(HasSubstr("Sender.channel_index: is `channel_index "
                                    "0 int = -1`, upstream has")));
  EXPECT_THAT(Audit(Edited("  version 8 string\n", "  release 8 string\n")),
              ElementsAre("aos.timing.Report.release: missing; upstream has "
                          "`release 8 string`",
                          "aos.timing.Report.version: `version 8 string` is "
                          "not in upstream's schema"));
}

TEST_F(SchemaAuditTest, ReportsEnumAndMissingDeclarations) {
  EXPECT_THAT(Audit(Edited("INVALID_REDZONE=1", "INVALID_REDZONE=2")),
              ElementsAre(HasSubstr("aos.timing.SendError: is `enum "
                                    "aos.timing.SendError byte "
                                    "MESSAGE_SENT_TOO_FAST=0 "
                                    "INVALID_REDZONE=1`")));
  EXPECT_THAT(Audit("table aos.timing.Nope\n  x 0 int = 0\n"),
              ElementsAre("table aos.timing.Nope: not in the schema"));
  EXPECT_THAT(Audit("struct aos.timing.Timer\n"),
              ElementsAre(HasSubstr("is `table aos.timing.Timer`"),
                          HasSubstr("count"), HasSubstr("handler_time"),
                          HasSubstr("name: `name 0 string` is not in"),
                          HasSubstr("wakeup_latency")));
}

// Alignment and comments in a table do not matter.
TEST_F(SchemaAuditTest, IgnoresSpacingAndComments) {
  EXPECT_THAT(Audit("# x\ntable   aos.timing.SendErrorCount  # y\n"
                    "  error   0 aos.timing.SendError = 0\n\n"
                    "\tcount 1   uint = 0\n"),
              IsEmpty());
}

TEST_F(SchemaAuditTest, MalformedTableIsAnError) {
  Result<std::vector<std::string>> result =
      AuditSchema(schema_, "table aos.timing.Timer\nname 0 string\n");
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message(), HasSubstr("line 2: `name 0 string`"));
  EXPECT_FALSE(AuditSchema(schema_, "# nothing\n").has_value());
  EXPECT_FALSE(AuditSchema(schema_, "  count 1 uint = 0\n").has_value());
}

TEST_F(SchemaAuditTest, DescribeRoundTrips) {
  Result<std::string> block =
      DescribeSchemaDeclaration(schema_, "aos.timing.Sender");
  ASSERT_TRUE(block.has_value());
  EXPECT_EQ(*block,
            "table aos.timing.Sender\n"
            "  channel_index 0 int = -1\n"
            "  count 1 uint = 0\n"
            "  size 2 aos.timing.Statistic\n"
            "  channel 3 aos.Channel\n"
            "  error_counts 4 [aos.timing.SendErrorCount]\n"
            "  signal_failures 5 uint = 0\n");
  EXPECT_THAT(Audit(*block), IsEmpty());
  EXPECT_FALSE(DescribeSchemaDeclaration(schema_, "aos.timing.Nope"));
}

}  // namespace
}  // namespace aos::testing
