#include "aos/testing/path.h"

#include "aos/util/file.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

// Built files come from the build tree, checked-in ones from the source tree,
// both named by their repository path as upstream's tests do.
TEST(ArtifactPathTest, FindsBuiltAndCheckedInFiles) {
  const std::string bfbs = ArtifactPath("aos/configuration.bfbs");
  EXPECT_TRUE(util::PathExists(bfbs)) << bfbs;
  EXPECT_EQ(bfbs, AOS_BINARY_DIR "/aos/configuration.bfbs");
  const std::string json = ArtifactPath("aos/testdata/config1.json");
  EXPECT_TRUE(util::PathExists(json)) << json;
  EXPECT_EQ(json, AOS_SOURCE_DIR "/aos/testdata/config1.json");
  EXPECT_EQ(ArtifactPath("aos/no/such/file"),
            AOS_SOURCE_DIR "/aos/no/such/file");
}

}  // namespace
}  // namespace aos::testing
