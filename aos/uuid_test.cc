#include "aos/uuid.h"

#include <set>

#include "gtest/gtest.h"

namespace aos {
namespace {

TEST(UUIDTest, RandomIsVersion4AndUnique) {
  std::set<UUID> seen;
  for (int i = 0; i < 1000; ++i) {
    const UUID uuid = UUID::Random();
    EXPECT_EQ(uuid.span()[6] >> 4, 4);
    EXPECT_EQ(uuid.span()[8] >> 6, 2);
    EXPECT_TRUE(seen.insert(uuid).second) << uuid;
  }
}

TEST(UUIDTest, RoundTripsThroughText) {
  const UUID uuid = UUID::Random();
  const Result<UUID> parsed = UUID::FromString(uuid.ToString());
  ASSERT_TRUE(parsed.has_value()) << parsed.error();
  EXPECT_EQ(*parsed, uuid);
  EXPECT_EQ(
      UUID::FromString("01234567-89AB-cdef-0123-456789abcdef")->ToString(),
      "01234567-89ab-cdef-0123-456789abcdef");
}

TEST(UUIDTest, ZeroAndSpan) {
  EXPECT_TRUE(UUID::Zero().IsZero());
  EXPECT_EQ(UUID::Zero().ToString(), "00000000-0000-0000-0000-000000000000");
  const UUID uuid = UUID::Random();
  EXPECT_FALSE(uuid.IsZero());
  EXPECT_EQ(UUID::FromSpan(uuid.span()), uuid);
}

TEST(UUIDTest, BootUUIDIsStable) {
  EXPECT_FALSE(UUID::BootUUID().IsZero());
  EXPECT_EQ(&UUID::BootUUID(), &UUID::BootUUID());
}

TEST(UUIDTest, MalformedStringsNameTheProblem) {
  const Result<UUID> short_text = UUID::FromString("0123");
  ASSERT_FALSE(short_text.has_value());
  EXPECT_NE(short_text.error().message().find("4 characters"),
            std::string::npos)
      << short_text.error();

  const Result<UUID> bad_hex =
      UUID::FromString("0123456g-89ab-cdef-0123-456789abcdef");
  ASSERT_FALSE(bad_hex.has_value());
  EXPECT_NE(bad_hex.error().message().find("'g' at position 7"),
            std::string::npos)
      << bad_hex.error();

  const Result<UUID> bad_dash =
      UUID::FromString("01234567x89ab-cdef-0123-456789abcdef");
  ASSERT_FALSE(bad_dash.has_value());
  EXPECT_NE(bad_dash.error().message().find("'-' at position 8"),
            std::string::npos)
      << bad_dash.error();
}

TEST(UUIDDeathTest, FromSpanChecksTheLength) {
  const uint8_t bytes[3] = {1, 2, 3};
  EXPECT_DEATH(UUID::FromSpan(bytes), "exactly 16 bytes");
}

// Upstream's overloads for UUIDs stored in flatbuffers, as text (log headers)
// and as 16 bytes (RemoteMessage.boot_uuid).
TEST(UUIDTest, FromFlatbufferStringAndVector) {
  const UUID uuid = UUID::Random();
  flatbuffers::FlatBufferBuilder fbb;
  const auto text = fbb.CreateString(uuid.ToString());
  const auto bytes = fbb.CreateVector(uuid.span().data(), uuid.span().size());
  const auto bad_text = fbb.CreateString("not-a-uuid");
  const auto short_bytes = fbb.CreateVector(uuid.span().data(), 15);
  fbb.Finish(text);
  auto at = [&](auto offset) {
    return flatbuffers::GetTemporaryPointer(fbb, offset);
  };
  EXPECT_EQ(UUID::FromString(at(text)), uuid);
  EXPECT_EQ(UUID::FromVector(at(bytes)), uuid);
  EXPECT_DEATH(UUID::FromString(at(bad_text)), "not-a-uuid");
  EXPECT_DEATH(UUID::FromVector(at(short_bytes)), "exactly 16 bytes");
  EXPECT_DEATH(
      UUID::FromString(static_cast<const flatbuffers::String *>(nullptr)),
      "no UUID string");
  EXPECT_DEATH(UUID::FromVector(
                   static_cast<const flatbuffers::Vector<uint8_t> *>(nullptr)),
               "no UUID bytes");
}

}  // namespace
}  // namespace aos
