#include "aos/util/status.h"

#include "gtest/gtest.h"

namespace aos {
namespace {

Result<int> Half(int value) {
  if (value % 2 != 0) {
    return MakeError(std::to_string(value) + " is odd");
  }
  return value / 2;
}

TEST(StatusTest, ValueAndError) {
  EXPECT_EQ(Half(4).value(), 2);
  const Result<int> odd = Half(3);
  ASSERT_FALSE(odd.has_value());
  EXPECT_EQ(odd.error().message(), "3 is odd");
}

TEST(StatusTest, RecordsWhereTheErrorWasMade) {
  const int line = __LINE__ + 1;
  const Result<void> result = Error::MakeUnexpectedError("broken");
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().source_location().line(),
            static_cast<unsigned>(line));
  EXPECT_NE(
      result.error().ToString().find("status_test.cc:" + std::to_string(line)),
      std::string::npos)
      << result.error().ToString();
}

TEST(StatusDeathTest, CheckExpectedDiesWithTheMessage) {
  EXPECT_DEATH(CheckExpected(Half(5)), "5 is odd");
  CheckExpected(Half(6));
}

}  // namespace
}  // namespace aos
