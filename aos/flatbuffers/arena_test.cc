#include "aos/flatbuffers/arena.h"

#include <array>
#include <cstring>

#include "gtest/gtest.h"

namespace aos::fbs::testing {
namespace {

class ArenaTest : public ::testing::Test {
 protected:
  alignas(Arena::kAlignment) std::array<uint8_t, 64> buffer_;
};

// A message starts at the end of the buffer, aligned, and bumps upward.
TEST_F(ArenaTest, AllocatesUpwardFromTheReservation) {
  buffer_.fill(0xff);
  Arena arena(buffer_);
  arena.Begin(20);
  EXPECT_EQ(arena.start(), buffer_.data() + 64 - 24);
  EXPECT_EQ(arena.Allocate(1, 1, 0), 0u);
  // Aligned for a 4-byte prefix followed by 8-aligned data.
  EXPECT_EQ(arena.Allocate(12, 8, 4), 4u);
  EXPECT_EQ(arena.used(), 16u);
  // Handed out bytes, padding included, are zero.
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(arena.start()[i], 0) << i;
  arena.End();
}

// An allocation past the reservation moves the whole message down by a
// multiple of the alignment, keeping its contents and positions.
TEST_F(ArenaTest, MovesTheMessageDownToGrow) {
  Arena arena(buffer_);
  arena.Begin(8);
  ASSERT_EQ(arena.Allocate(8, 8, 0), 0u);
  std::memcpy(arena.start(), "abcdefg", 8);
  EXPECT_EQ(arena.Allocate(3, 1, 0), 8u);
  EXPECT_EQ(arena.start(), buffer_.data() + 64 - 16);
  EXPECT_STREQ(reinterpret_cast<const char *>(arena.start()), "abcdefg");
  EXPECT_EQ(arena.message().size(), 16u);
  arena.ZeroUnused();
  EXPECT_EQ(arena.start()[15], 0);
  arena.End();
}

// Bytes a move leaves behind the message are zeroed before they are handed
// out or published.
TEST_F(ArenaTest, MovesLeaveNoStaleBytes) {
  buffer_.fill(0xaa);
  Arena arena(buffer_);
  arena.Begin(16);
  ASSERT_EQ(arena.Allocate(16, 8, 0), 0u);
  std::memset(arena.start(), 0xbb, 16);
  // Moves down by 8: the old last 8 bytes now lie past the message.
  ASSERT_EQ(arena.Allocate(2, 1, 0), 16u);
  EXPECT_EQ(arena.start()[16], 0);
  EXPECT_EQ(arena.start()[17], 0);
  for (size_t i = 18; i < 24; ++i) EXPECT_EQ(arena.start()[i], 0xbb) << i;
  ASSERT_EQ(arena.Allocate(1, 1, 0), 18u);
  EXPECT_EQ(arena.start()[18], 0);
  arena.ZeroUnused();
  for (size_t i = 19; i < 24; ++i) EXPECT_EQ(arena.start()[i], 0) << i;
  // Before the message, the buffer is untouched.
  EXPECT_EQ(buffer_[64 - 24 - 1], 0xaa);
  arena.End();
}

// A full buffer fails the allocation and changes nothing.
TEST_F(ArenaTest, FailsCleanlyWhenFull) {
  Arena arena(buffer_);
  arena.Begin(16);
  ASSERT_EQ(arena.Allocate(60, 4, 0), 0u);
  uint8_t *const start = arena.start();
  EXPECT_FALSE(arena.Allocate(5, 1, 0).has_value());
  EXPECT_EQ(arena.used(), 60u);
  EXPECT_EQ(arena.start(), start);
  EXPECT_EQ(arena.Allocate(4, 4, 0), 60u);
  arena.End();
}

TEST_F(ArenaTest, OneMessageAtATime) {
  Arena arena(buffer_);
  arena.Begin(8);
  EXPECT_DEATH(arena.Begin(8), "May not have multiple active allocators");
  EXPECT_DEATH(arena.Reset(buffer_), "May not have multiple active allocators");
  arena.End();
  arena.Begin(8);
  arena.End();
}

TEST_F(ArenaTest, ReservationMustFit) {
  Arena arena(buffer_);
  EXPECT_DEATH(arena.Begin(65), "needs 72 bytes but its buffer has 64");
}

TEST_F(ArenaTest, BufferMustEndAligned) {
  EXPECT_DEATH(Arena(std::span<uint8_t>(buffer_.data(), 63)),
               "must end at a multiple of 8");
}

}  // namespace
}  // namespace aos::fbs::testing
