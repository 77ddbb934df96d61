#include "aos/flatbuffers.h"

#include <fstream>

#include "aos/flatbuffers_test_generated.h"
#include "aos/testing/tmpdir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos {
namespace {

using testing::HolderTestMessage;

FlatbufferDetachedBuffer<HolderTestMessage> Make(int value) {
  flatbuffers::FlatBufferBuilder fbb;
  fbb.ForceDefaults(true);
  const auto name = fbb.CreateString("hello");
  testing::HolderTestMessageBuilder builder(fbb);
  builder.add_value(value);
  builder.add_name(name);
  fbb.Finish(builder.Finish());
  return FlatbufferDetachedBuffer<HolderTestMessage>(fbb.Release());
}

// Upstream robot code writes `FlatbufferDetachedBuffer<T> x = fbb.Release();`
// everywhere: the conversion is implicit.
TEST(FlatbuffersTest, ImplicitFromRelease) {
  flatbuffers::FlatBufferBuilder fbb;
  testing::HolderTestMessageBuilder builder(fbb);
  builder.add_value(12);
  fbb.Finish(builder.Finish());
  FlatbufferDetachedBuffer<HolderTestMessage> message = fbb.Release();
  EXPECT_EQ(message.message().value(), 12);
  message = Make(13).Release();
  EXPECT_EQ(message.message().value(), 13);
}

TEST(FlatbuffersTest, UnpackFlatbuffer) {
  const FlatbufferDetachedBuffer<HolderTestMessage> message = Make(5);
  const testing::HolderTestMessageT unpacked =
      UnpackFlatbuffer(&message.message());
  EXPECT_EQ(unpacked.value, 5);
  EXPECT_EQ(unpacked.name, "hello");
}

TEST(FlatbuffersTest, MMapReadsAFile) {
  aos::testing::TempDir dir;
  const std::string path = dir.path() + "/message.bin";
  const FlatbufferDetachedBuffer<HolderTestMessage> message = Make(21);
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char *>(message.span().data()),
              message.span().size());
  }
  FlatbufferMMap<HolderTestMessage> mapped(path);
  EXPECT_TRUE(mapped.Verify());
  EXPECT_EQ(mapped.message().value(), 21);
  FlatbufferMMap<HolderTestMessage> moved = std::move(mapped);
  EXPECT_EQ(moved.message().name()->string_view(), "hello");
  EXPECT_TRUE(mapped.span().empty());

  const Result<FlatbufferMMap<HolderTestMessage>> missing =
      FlatbufferMMap<HolderTestMessage>::Open(dir.path() + "/nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_THAT(missing.error().message(), ::testing::HasSubstr("/nope"));
  { std::ofstream empty(dir.path() + "/empty"); }
  EXPECT_FALSE(FlatbufferMMap<HolderTestMessage>::Open(dir.path() + "/empty"));
  EXPECT_DEATH(FlatbufferMMap<HolderTestMessage>(dir.path() + "/nope"),
               "cannot open .*/nope");
}

TEST(FlatbuffersTest, MakeSharedSpan) {
  auto [shared, bytes] = MakeSharedSpan(40);
  ASSERT_EQ(bytes.size(), 40u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(bytes.data()) % 8, 0u);
  for (uint8_t byte : bytes) EXPECT_EQ(byte, 0);
  bytes[3] = 7;
  EXPECT_EQ(shared->size(), 40u);
  EXPECT_EQ((*shared)[3], 7);
  SharedSpan copy = shared;
  shared.reset();
  EXPECT_EQ((*copy)[3], 7);
}

TEST(FlatbuffersTest, DetachedBufferHoldsTheMessage) {
  FlatbufferDetachedBuffer<HolderTestMessage> message = Make(7);
  EXPECT_TRUE(message.Verify());
  EXPECT_EQ(message.message().value(), 7);
  EXPECT_EQ(message.message().name()->string_view(), "hello");
  message.mutable_message()->mutate_value(8);
  EXPECT_EQ(message.message().value(), 8);

  FlatbufferDetachedBuffer<HolderTestMessage> moved = std::move(message);
  EXPECT_EQ(moved.message().value(), 8);
}

TEST(FlatbuffersTest, CopiesAndViewsShareContents) {
  const FlatbufferDetachedBuffer<HolderTestMessage> message = Make(3);
  const FlatbufferVector<HolderTestMessage> vector(message);
  const FlatbufferSpan<HolderTestMessage> span(message);
  const FlatbufferString<HolderTestMessage> string(
      std::string_view(reinterpret_cast<const char *>(message.span().data()),
                       message.span().size()));
  for (const Flatbuffer<HolderTestMessage> *holder :
       std::initializer_list<const Flatbuffer<HolderTestMessage> *>{
           &vector, &span, &string}) {
    EXPECT_TRUE(holder->Verify());
    EXPECT_EQ(holder->message().value(), 3);
  }
  EXPECT_EQ(span.span().data(), message.span().data());
  EXPECT_NE(vector.span().data(), message.span().data());
}

TEST(FlatbuffersTest, EmptyIsValidWithDefaults) {
  const auto empty = FlatbufferDetachedBuffer<HolderTestMessage>::Empty();
  EXPECT_TRUE(empty.Verify());
  EXPECT_EQ(empty.message().value(), 0);
  EXPECT_EQ(empty.message().name(), nullptr);
}

TEST(FlatbuffersTest, VerifyRejectsGarbage) {
  std::vector<uint8_t> garbage = {0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4};
  EXPECT_FALSE(FlatbufferVector<HolderTestMessage>(garbage).Verify());
  EXPECT_FALSE(FlatbufferVector<HolderTestMessage>().Verify());

  // A truncated real message is rejected too.
  const FlatbufferDetachedBuffer<HolderTestMessage> message = Make(1);
  EXPECT_FALSE(FlatbufferVector<HolderTestMessage>(
                   message.span().subspan(0, message.span().size() - 8))
                   .Verify());
}

TEST(FlatbuffersDeathTest, MessageOfEmptyBufferDies) {
  const FlatbufferVector<HolderTestMessage> empty;
  EXPECT_DEATH(empty.message(),
               "Empty flatbuffer of type "
               "aos.testing.HolderTestMessage");
}

}  // namespace
}  // namespace aos
