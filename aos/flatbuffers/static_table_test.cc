#include "aos/flatbuffers/static_table.h"

#include <array>
#include <cstring>
#include <string>

#include "aos/flatbuffers/base.h"
#include "aos/flatbuffers/builder.h"
#include "aos/flatbuffers/test_generated.h"
#include "aos/flatbuffers/test_static.h"
#include "aos/json_to_flatbuffer.h"
#include "flatbuffers/minireflect.h"
#include "gtest/gtest.h"

namespace aos::fbs::testing {
namespace {

using included::IncludedEnum;

// A buffer ending at an 8-byte boundary, as the arena requires.
template <size_t kSize>
struct Buffer {
  alignas(8) std::array<uint8_t, kSize> bytes;
};

// Verifies the builder's bytes as an ordinary flatbuffer (alignment checked)
// and returns its root.
const Everything *Verified(Builder<EverythingStatic> *builder) {
  std::span<uint8_t> buffer = builder->buffer();
  flatbuffers::Verifier verifier(buffer.data(), buffer.size());
  EXPECT_TRUE(verifier.VerifyBuffer<Everything>(nullptr));
  return flatbuffers::GetRoot<Everything>(buffer.data());
}

// The message as text, for readable comparisons.
std::string ToString(const uint8_t *buffer) {
  return flatbuffers::FlatBufferToString(buffer, EverythingTypeTable());
}

class StaticTableTest : public ::testing::Test {
 protected:
  Buffer<8192> buffer_;
  Arena arena_{buffer_.bytes};
};

TEST_F(StaticTableTest, EmptyTableReadsDefaults) {
  Builder<EverythingStatic> builder(&arena_);
  const Everything *everything = Verified(&builder);
  EXPECT_EQ(everything->default_int(), 42);
  EXPECT_EQ(everything->default_double(), 2.5);
  EXPECT_EQ(everything->foo_enum(), Color::Green);
  EXPECT_EQ(everything->foo_string(), nullptr);
  EXPECT_EQ(everything->foo_leaf(), nullptr);
  EXPECT_FALSE(builder->has_foo_int());
  EXPECT_EQ(builder->foo_int(), std::nullopt);
  EXPECT_EQ(builder->foo_string(), nullptr);
  // Nothing but the root table and the reservation.
  EXPECT_LE(builder.buffer().size(), Builder<EverythingStatic>::kSize + 7);
}

TEST_F(StaticTableTest, Scalars) {
  Builder<EverythingStatic> builder(&arena_);
  builder->set_foo_bool(true);
  builder->set_foo_byte(-3);
  builder->set_foo_ubyte(250);
  builder->set_foo_short(-1234);
  builder->set_foo_ushort(60000);
  builder->set_foo_int(-123456);
  builder->set_foo_uint(4000000000u);
  builder->set_foo_long(-(int64_t{1} << 40));
  builder->set_foo_ulong(uint64_t{1} << 63);
  builder->set_foo_float(1.5f);
  builder->set_foo_double(-0.25);
  builder->set_foo_enum(Color::Red);
  builder->set_foo_flags(Flags::A | Flags::C);
  builder->set_default_int(7);
  const Everything *everything = Verified(&builder);
  EXPECT_TRUE(everything->foo_bool());
  EXPECT_EQ(everything->foo_byte(), -3);
  EXPECT_EQ(everything->foo_ubyte(), 250);
  EXPECT_EQ(everything->foo_short(), -1234);
  EXPECT_EQ(everything->foo_ushort(), 60000);
  EXPECT_EQ(everything->foo_int(), -123456);
  EXPECT_EQ(everything->foo_uint(), 4000000000u);
  EXPECT_EQ(everything->foo_long(), -(int64_t{1} << 40));
  EXPECT_EQ(everything->foo_ulong(), uint64_t{1} << 63);
  EXPECT_EQ(everything->foo_float(), 1.5f);
  EXPECT_EQ(everything->foo_double(), -0.25);
  EXPECT_EQ(everything->foo_enum(), Color::Red);
  EXPECT_EQ(everything->foo_flags(), Flags::A | Flags::C);
  EXPECT_EQ(everything->default_int(), 7);
  EXPECT_EQ(builder->foo_int(), -123456);
  EXPECT_EQ(builder->foo_enum(), Color::Red);

  // Clearing brings back the schema default for readers.
  builder->clear_default_int();
  builder->clear_foo_int();
  everything = Verified(&builder);
  EXPECT_EQ(everything->default_int(), 42);
  EXPECT_EQ(everything->foo_int(), 0);
  EXPECT_FALSE(builder->has_default_int());
  builder->set_foo_int(9);
  EXPECT_EQ(Verified(&builder)->foo_int(), 9);
}

TEST_F(StaticTableTest, Structs) {
  Builder<EverythingStatic> builder(&arena_);
  builder->set_foo_odd(Odd(1, 2, 3, 4, 5));
  Location location(1.5, 2.5f, -1);
  location.mutable_ids()->Mutate(2, 77);
  builder->set_foo_location(location);
  builder->set_foo_pose(Pose(location, true));
  ASSERT_NE(builder->mutable_foo_odd(), nullptr);
  builder->mutable_foo_odd()->mutate_e(-5);
  EXPECT_EQ(builder->foo_pose()->where().ids()->Get(2), 77);

  const Everything *everything = Verified(&builder);
  ASSERT_NE(everything->foo_odd(), nullptr);
  EXPECT_EQ(everything->foo_odd()->a(), 1);
  EXPECT_EQ(everything->foo_odd()->e(), -5);
  EXPECT_EQ(everything->foo_location()->x(), 1.5);
  EXPECT_EQ(everything->foo_location()->tag(), -1);
  EXPECT_EQ(everything->foo_location()->ids()->Get(2), 77);
  EXPECT_TRUE(everything->foo_pose()->valid());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(everything->foo_location()) % 8, 0u);

  builder->clear_foo_pose();
  EXPECT_EQ(builder->foo_pose(), nullptr);
  EXPECT_EQ(Verified(&builder)->foo_pose(), nullptr);
}

TEST_F(StaticTableTest, Strings) {
  Builder<EverythingStatic> builder(&arena_);
  String *string = builder->add_foo_string();
  ASSERT_NE(string, nullptr);
  EXPECT_EQ(string->capacity(), 7u);
  EXPECT_TRUE(string->empty());
  EXPECT_EQ(builder->add_foo_string(), string) << "add_ of a set field";
  ASSERT_TRUE(string->SetString("abc"));
  EXPECT_EQ(Verified(&builder)->foo_string()->string_view(), "abc");
  // Growing past the static length moves the string (another one was
  // allocated after it).
  String *unsized = builder->add_unsized_string();
  ASSERT_NE(unsized, nullptr);
  EXPECT_EQ(unsized->capacity(), 0u);
  ASSERT_TRUE(string->SetString("a longer string"));
  ASSERT_TRUE(unsized->SetString("grown"));
  ASSERT_TRUE(string->SetString("ab"));
  EXPECT_EQ(string->string_view(), "ab");
  EXPECT_STREQ(string->c_str(), "ab");
  const Everything *everything = Verified(&builder);
  EXPECT_EQ(everything->foo_string()->str(), "ab");
  EXPECT_EQ(everything->unsized_string()->str(), "grown");
  ASSERT_TRUE(string->reserve(100));
  EXPECT_EQ(string->capacity(), 100u);
  EXPECT_EQ(Verified(&builder)->foo_string()->str(), "ab");
  string->clear();
  EXPECT_EQ(Verified(&builder)->foo_string()->str(), "");

  builder->clear_foo_string();
  EXPECT_EQ(builder->foo_string(), nullptr);
  EXPECT_EQ(Verified(&builder)->foo_string(), nullptr);
  // Added again: a fresh, empty string.
  string = builder->add_foo_string();
  ASSERT_NE(string, nullptr);
  EXPECT_EQ(Verified(&builder)->foo_string()->str(), "");
}

TEST_F(StaticTableTest, ScalarVectors) {
  Builder<EverythingStatic> builder(&arena_);
  Vector<int32_t> *ints = builder->add_vector_int();
  ASSERT_NE(ints, nullptr);
  EXPECT_EQ(ints->capacity(), 3u);
  ASSERT_TRUE(ints->push_back(1));
  ASSERT_TRUE(ints->emplace_back(2));
  Vector<bool> *bools = builder->add_vector_bool();
  ASSERT_TRUE(bools->push_back(true));
  ASSERT_TRUE(bools->push_back(false));
  // Grows past the static length, moving (bools was allocated after it).
  for (int i = 3; i <= 20; ++i) ASSERT_TRUE(ints->push_back(i));
  Vector<int8_t> *bytes = builder->add_vector_byte();
  ASSERT_TRUE(bytes->resize(3));
  (*bytes)[1] = -7;
  Vector<double> *doubles = builder->add_vector_double();
  ASSERT_TRUE(doubles->push_back(0.5));
  ASSERT_TRUE(doubles->push_back(1.5));
  Vector<uint16_t> *ushorts = builder->add_vector_ushort();
  const uint16_t values[] = {1, 2, 65535};
  ASSERT_TRUE(ushorts->FromData(values, 3));
  Vector<Color> *colors = builder->add_vector_enum();
  ASSERT_TRUE(colors->push_back(Color::Blue));

  const Everything *everything = Verified(&builder);
  ASSERT_EQ(everything->vector_int()->size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(everything->vector_int()->Get(i), i + 1);
  }
  ASSERT_EQ(everything->vector_bool()->size(), 2u);
  EXPECT_EQ(everything->vector_bool()->Get(0), 1);
  EXPECT_EQ(everything->vector_byte()->Get(1), -7);
  EXPECT_EQ(everything->vector_byte()->Get(2), 0);
  EXPECT_EQ(everything->vector_double()->Get(1), 1.5);
  EXPECT_EQ(
      reinterpret_cast<uintptr_t>(everything->vector_double()->Data()) % 8, 0u);
  EXPECT_EQ(everything->vector_ushort()->Get(2), 65535);
  EXPECT_EQ(everything->vector_enum()->Get(0), Color::Blue);

  EXPECT_EQ(ints->at(19), 20);
  EXPECT_DEATH(ints->at(20), "vector index");
  ints->pop_back();
  EXPECT_EQ(ints->size(), 19u);
  int sum = 0;
  for (int32_t value : *ints) sum += value;
  EXPECT_EQ(sum, 190);
  ASSERT_TRUE(ints->resize(2));
  EXPECT_EQ(Verified(&builder)->vector_int()->size(), 2u);
  ints->clear();
  EXPECT_EQ(Verified(&builder)->vector_int()->size(), 0u);
}

TEST_F(StaticTableTest, StructVectorsAreAligned) {
  Builder<EverythingStatic> builder(&arena_);
  // An odd number of 5-byte structs first, so the next allocation starts
  // unaligned.
  Vector<Odd> *odds = builder->add_vector_odd();
  ASSERT_TRUE(odds->emplace_back(1, 2, 3, 4, 5));
  Vector<Location> *locations = builder->add_vector_location();
  ASSERT_TRUE(locations->emplace_back(1.0, 2.0f, 3));
  ASSERT_TRUE(odds->emplace_back(6, 7, 8, 9, 10));
  ASSERT_TRUE(locations->emplace_back(4.0, 5.0f, 6));
  const Everything *everything = Verified(&builder);
  ASSERT_EQ(everything->vector_odd()->size(), 2u);
  EXPECT_EQ(everything->vector_odd()->Get(1)->e(), 10);
  ASSERT_EQ(everything->vector_location()->size(), 2u);
  EXPECT_EQ(everything->vector_location()->Get(1)->x(), 4.0);
  EXPECT_EQ(
      reinterpret_cast<uintptr_t>(everything->vector_location()->Data()) % 8,
      0u);
}

TEST_F(StaticTableTest, StringVectors) {
  Builder<EverythingStatic> builder(&arena_);
  auto *strings = builder->add_vector_string();
  ASSERT_NE(strings, nullptr);
  EXPECT_EQ(strings->capacity(), 3u);
  String *first = strings->emplace_back("one");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->capacity(), 4u);
  ASSERT_NE(strings->emplace_back(), nullptr);
  ASSERT_NE(strings->emplace_back("a string longer than 4"), nullptr);
  EXPECT_EQ(strings->emplace_back("four"), nullptr) << "static_length is 3";
  EXPECT_TRUE(strings->reserve(3));
  EXPECT_FALSE(strings->reserve(4));
  ASSERT_TRUE(strings->at(1).SetString("grown past four"));
  ASSERT_TRUE(first->SetString("1"));
  const Everything *everything = Verified(&builder);
  ASSERT_EQ(everything->vector_string()->size(), 3u);
  EXPECT_EQ(everything->vector_string()->Get(0)->str(), "1");
  EXPECT_EQ(everything->vector_string()->Get(1)->str(), "grown past four");
  EXPECT_EQ(everything->vector_string()->Get(2)->str(),
            "a string longer than 4");
  strings->clear();
  EXPECT_EQ(Verified(&builder)->vector_string()->size(), 0u);
  ASSERT_NE(strings->emplace_back("again"), nullptr);
  EXPECT_EQ(Verified(&builder)->vector_string()->Get(0)->str(), "again");
}

TEST_F(StaticTableTest, NestedTablesAndTableVectors) {
  Builder<EverythingStatic> builder(&arena_);
  LeafStatic *leaf = builder->add_foo_leaf();
  ASSERT_NE(leaf, nullptr);
  leaf->set_value(3);
  ASSERT_TRUE(leaf->add_name()->SetString("leafy"));
  auto *leaves = builder->add_vector_leaf();
  for (int i = 0; i < 3; ++i) {
    LeafStatic *element = leaves->emplace_back();
    ASSERT_NE(element, nullptr);
    if (i != 1) element->set_value(i * 10);
    ASSERT_TRUE(element->add_samples()->push_back(i + 0.5));
  }
  EXPECT_EQ(leaves->emplace_back(), nullptr) << "static_length is 3";
  // Growing a child of the first element after the others exist.
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(leaves->at(0).mutable_samples()->push_back(i));
  }
  auto *included = builder->add_included();
  included->set_foo(IncludedEnum::B);
  ASSERT_TRUE(included->add_label()->SetString("inc"));
  ASSERT_NE(builder->add_vector_included()->emplace_back(), nullptr);

  const Everything *everything = Verified(&builder);
  EXPECT_EQ(everything->foo_leaf()->value(), 3);
  EXPECT_EQ(everything->foo_leaf()->name()->str(), "leafy");
  ASSERT_EQ(everything->vector_leaf()->size(), 3u);
  EXPECT_EQ(everything->vector_leaf()->Get(0)->value(), 0);
  EXPECT_EQ(everything->vector_leaf()->Get(1)->value(), 5) << "the default";
  EXPECT_EQ(everything->vector_leaf()->Get(2)->value(), 20);
  ASSERT_EQ(everything->vector_leaf()->Get(0)->samples()->size(), 11u);
  EXPECT_EQ(everything->vector_leaf()->Get(0)->samples()->Get(10), 9.0);
  EXPECT_EQ(everything->vector_leaf()->Get(2)->samples()->Get(0), 2.5);
  EXPECT_EQ(everything->included()->foo(), IncludedEnum::B);
  EXPECT_EQ(everything->included()->label()->str(), "inc");
  EXPECT_EQ(everything->vector_included()->size(), 1u);

  builder->clear_foo_leaf();
  EXPECT_EQ(Verified(&builder)->foo_leaf(), nullptr);
  leaf = builder->add_foo_leaf();
  EXPECT_FALSE(leaf->has_value()) << "a re-added table starts empty";
  EXPECT_FALSE(leaf->has_name());
}

// Filling every field at its static sizes never runs out of space.
TEST_F(StaticTableTest, StaticSizesAlwaysFit) {
  Buffer<Builder<EverythingStatic>::kSize + 7> buffer;
  Arena arena(
      std::span<uint8_t>(buffer.bytes.data(), buffer.bytes.size() / 8 * 8));
  Builder<EverythingStatic> builder(&arena);
  ASSERT_TRUE(builder->add_foo_string()->SetString("1234567"));
  LeafStatic *leaf = builder->add_foo_leaf();
  ASSERT_TRUE(leaf->add_name()->SetString("abc"));
  ASSERT_TRUE(leaf->add_samples()->resize(2));
  ASSERT_TRUE(builder->add_vector_bool()->resize(3));
  ASSERT_TRUE(builder->add_vector_byte()->resize(5));
  ASSERT_TRUE(builder->add_vector_int()->resize(3));
  ASSERT_TRUE(builder->add_vector_double()->resize(1));
  ASSERT_TRUE(builder->add_vector_enum()->resize(2));
  ASSERT_TRUE(builder->add_vector_odd()->resize(3));
  ASSERT_TRUE(builder->add_vector_location()->resize(1));
  ASSERT_NE(builder->add_vector_ushort(), nullptr);
  ASSERT_NE(builder->add_vector_long(), nullptr);
  ASSERT_NE(builder->add_unsized_string(), nullptr);
  auto *strings = builder->add_vector_string();
  for (int i = 0; i < 3; ++i) ASSERT_NE(strings->emplace_back("abcd"), nullptr);
  auto *leaves = builder->add_vector_leaf();
  for (int i = 0; i < 3; ++i) {
    LeafStatic *element = leaves->emplace_back();
    ASSERT_NE(element, nullptr);
    ASSERT_TRUE(element->add_name()->SetString("xyz"));
    ASSERT_TRUE(element->add_samples()->resize(2));
  }
  ASSERT_TRUE(builder->add_included()->add_label()->SetString("12345"));
  ASSERT_TRUE(
      builder->add_vector_included()->emplace_back()->add_label()->SetString(
          "12345"));
  builder->set_foo_pose(Pose());
  Verified(&builder);
}

// Out of space: growing fails, leaving the message as it was.
TEST_F(StaticTableTest, OutOfSpaceFailsCleanly) {
  Buffer<Builder<EverythingStatic>::kSize / 8 * 8 + 256> buffer;
  Arena arena(buffer.bytes);
  Builder<EverythingStatic> builder(&arena);
  Vector<int64_t> *longs = builder->add_vector_long();
  ASSERT_NE(longs, nullptr);
  ASSERT_TRUE(longs->push_back(1));
  size_t pushed = 1;
  while (longs->push_back(static_cast<int64_t>(pushed + 1))) ++pushed;
  EXPECT_GT(pushed, 10u);
  EXPECT_EQ(longs->size(), pushed);
  EXPECT_FALSE(longs->reserve(1000));
  EXPECT_FALSE(longs->resize(1000));
  EXPECT_EQ(longs->size(), pushed);
  String *string = builder->add_foo_string();
  if (string != nullptr) {
    ASSERT_TRUE(string->SetString("fits"));
    EXPECT_FALSE(string->SetString(std::string(600, 'x')));
    EXPECT_EQ(string->string_view(), "fits");
  }
  const Everything *everything = Verified(&builder);
  ASSERT_EQ(everything->vector_long()->size(), pushed);
  for (size_t i = 0; i < pushed; ++i) {
    EXPECT_EQ(everything->vector_long()->Get(i), static_cast<int64_t>(i + 1));
  }
  // Until something is freed, tables do not fit either.
  while (builder->add_vector_leaf() != nullptr &&
         builder->mutable_vector_leaf()->emplace_back() != nullptr) {
  }
  Verified(&builder);
}

TEST_F(StaticTableTest, RequiredFields) {
  Buffer<1024> buffer;
  Arena arena(buffer.bytes);
  Builder<HolderStatic> builder(&arena);
  static_assert(HolderStatic::kHasRequired);
  static_assert(!LeafStatic::kHasRequired);
  EXPECT_EQ(builder.MissingRequiredField(), nullptr);
  NamedStatic *named = builder->add_named();
  EXPECT_STREQ(builder.MissingRequiredField(), "aos.fbs.testing.Named.name");
  EXPECT_DEATH(builder.buffer(),
               "required field aos.fbs.testing.Named.name is not set");
  ASSERT_TRUE(named->add_name()->SetString("n"));
  NamedStatic *other = builder->add_others()->emplace_back();
  EXPECT_STREQ(builder.MissingRequiredField(), "aos.fbs.testing.Named.name");
  ASSERT_TRUE(other->add_name()->SetString("o"));
  EXPECT_EQ(builder.MissingRequiredField(), nullptr);
  std::span<uint8_t> bytes = builder.buffer();
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  EXPECT_TRUE(verifier.VerifyBuffer<Holder>(nullptr));
}

// FromFlatbuffer copies a message built the classic way, field for field.
TEST_F(StaticTableTest, FromFlatbuffer) {
  EverythingT object;
  object.foo_int = 5;
  object.foo_enum = Color::Blue;
  object.foo_string = "hello";
  object.foo_location = std::make_unique<Location>(1.0, 2.0f, 3);
  object.foo_leaf = std::make_unique<LeafT>();
  object.foo_leaf->name = "leaf";
  object.foo_leaf->samples = {1.0, 2.0, 3.0};
  object.vector_bool = {true, false, true, true};
  object.vector_int = {1, 2, 3, 4, 5};
  object.vector_odd = {Odd(1, 2, 3, 4, 5)};
  object.vector_string = {"a", "bb", "a long string"};
  object.vector_leaf.push_back(std::make_unique<LeafT>());
  object.vector_leaf.back()->value = 9;
  object.included = std::make_unique<included::IncludedT>();
  object.included->label = "label";
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(Everything::Pack(fbb, &object));
  const Everything *source =
      flatbuffers::GetRoot<Everything>(fbb.GetBufferPointer());

  Builder<EverythingStatic> builder(&arena_);
  // Stale contents are cleared by the copy.
  builder->set_foo_double(1.0);
  ASSERT_TRUE(builder->add_unsized_string()->SetString("stale"));
  ASSERT_TRUE(builder->FromFlatbuffer(source));
  Verified(&builder);
  EXPECT_EQ(ToString(builder.buffer().data()),
            ToString(fbb.GetBufferPointer()));
  EXPECT_FALSE(builder->has_foo_double());

  // From the object API every scalar is set, as Pack with ForceDefaults
  // does.
  flatbuffers::FlatBufferBuilder forced;
  forced.ForceDefaults(true);
  forced.Finish(Everything::Pack(forced, &object));
  Buffer<8192> buffer;
  Arena arena(buffer.bytes);
  Builder<EverythingStatic> from_object(&arena);
  ASSERT_TRUE(from_object->FromFlatbuffer(object));
  Verified(&from_object);
  EXPECT_EQ(ToString(from_object.buffer().data()),
            ToString(forced.GetBufferPointer()));
}

// FromFlatbuffer fails (returning false) when a vector of tables has more
// elements than its static_length, or the buffer is too small.
TEST_F(StaticTableTest, FromFlatbufferFailures) {
  EverythingT object;
  for (int i = 0; i < 4; ++i) {
    object.vector_leaf.push_back(std::make_unique<LeafT>());
  }
  Builder<EverythingStatic> builder(&arena_);
  EXPECT_FALSE(builder->FromFlatbuffer(object));

  EverythingT big;
  big.vector_long.resize(1000);
  Buffer<1024> buffer;
  Arena arena(buffer.bytes);
  Builder<EverythingStatic> small(&arena);
  EXPECT_FALSE(small->FromFlatbuffer(big));
  Verified(&small);
}

TEST_F(StaticTableTest, OneBuilderPerArena) {
  Builder<EverythingStatic> builder(&arena_);
  EXPECT_DEATH({ Builder<EverythingStatic> second(&arena_); },
               "May not have multiple active allocators");
  // Moving keeps the message; the moved-from builder is empty.
  builder->set_foo_int(3);
  Builder<EverythingStatic> moved(std::move(builder));
  EXPECT_EQ(moved->foo_int(), 3);
  EXPECT_DEATH(builder.get(), "empty static flatbuffer Builder");
  moved.Release();
  Builder<EverythingStatic> again(&arena_);
  EXPECT_FALSE(again->has_foo_int());
}

TEST_F(StaticTableTest, TooSmallBufferDies) {
  Buffer<64> buffer;
  Arena arena(buffer.bytes);
  EXPECT_DEATH({ Builder<EverythingStatic> builder(&arena); },
               "bytes but its buffer has 64");
}

// Upstream's allocator API (base.h): builders over a span, a fixed buffer
// inside the allocator, or a growing heap buffer.
TEST(StaticAllocatorTest, SpanAndFixedStack) {
  alignas(8) std::array<uint8_t, Builder<LeafStatic>::kBufferSize> bytes;
  SpanAllocator span_allocator(bytes);
  {
    Builder<LeafStatic> builder(&span_allocator);
    builder->set_value(7);
    EXPECT_TRUE(builder.Verify());
    EXPECT_EQ(builder.AsFlatbufferSpan().message().value(), 7);
    // Out of room is a failure, not growth.
    Vector<double> *samples = builder->add_samples();
    ASSERT_NE(samples, nullptr);
    EXPECT_FALSE(samples->reserve(1000));
  }
  static_assert(Builder<LeafStatic>::kAlign == 8);
  static_assert(Builder<LeafStatic>::kBufferSize % 8 == 0);
  static_assert(Builder<LeafStatic>::kBufferSize >= Builder<LeafStatic>::kSize);
  FixedStackAllocator<Builder<EverythingStatic>::kBufferSize> stack;
  Builder<EverythingStatic> builder(&stack);
  builder->set_foo_int(3);
  EXPECT_TRUE(builder.Verify());
  EXPECT_EQ(builder.AsFlatbufferSpan().message().foo_int(), 3);
}

TEST(StaticAllocatorTest, AlignedVectorGrows) {
  Builder<EverythingStatic> builder(std::make_unique<AlignedVectorAllocator>());
  builder->set_foo_int(5);
  String *string = builder->add_foo_string();
  ASSERT_TRUE(string->SetString("before growing"));
  Vector<int32_t> *ints = builder->add_vector_int();
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(ints->emplace_back(i));
  ASSERT_TRUE(string->SetString("after growing, longer than before"));
  EXPECT_TRUE(builder.Verify());
  const Everything &message = builder.AsFlatbufferSpan().message();
  EXPECT_EQ(message.foo_int(), 5);
  EXPECT_EQ(message.foo_string()->string_view(),
            "after growing, longer than before");
  ASSERT_EQ(message.vector_int()->size(), 5000u);
  EXPECT_EQ(message.vector_int()->Get(4999), 4999);
  // A moved builder keeps its allocator.
  Builder<EverythingStatic> moved = std::move(builder);
  EXPECT_EQ(moved->foo_int(), 5);
  AlignedVectorAllocator allocator;
  Builder<LeafStatic> leaf(&allocator);
  leaf->set_value(1);
  EXPECT_TRUE(leaf.Verify());
}

// FooStatic::AsFlatbuffer reads the table through its ordinary type.
TEST_F(StaticTableTest, AsFlatbuffer) {
  Builder<EverythingStatic> builder(&arena_);
  builder->set_foo_int(9);
  LeafStatic *leaf = builder->add_foo_leaf();
  leaf->set_value(4);
  EXPECT_EQ(builder->AsFlatbuffer().foo_int(), 9);
  EXPECT_EQ(leaf->AsFlatbuffer().value(), 4);
  EXPECT_EQ(&builder->AsFlatbuffer(), &builder.AsFlatbufferSpan().message());
}

// emplace_back({a, b, ...}) builds a struct from braces, as upstream code
// writes.
TEST_F(StaticTableTest, EmplaceBackFromBraces) {
  Builder<EverythingStatic> builder(&arena_);
  Vector<Odd> *odds = builder->add_vector_odd();
  ASSERT_TRUE(odds->emplace_back({1, 2, 3, 4, 5}));
  ASSERT_TRUE(odds->emplace_back(Odd(6, 7, 8, 9, 10)));
  Vector<int32_t> *ints = builder->add_vector_int();
  ASSERT_TRUE(ints->emplace_back({42}));
  const Everything *everything = Verified(&builder);
  ASSERT_EQ(everything->vector_odd()->size(), 2u);
  EXPECT_EQ(everything->vector_odd()->Get(0)->e(), 5);
  EXPECT_EQ(everything->vector_odd()->Get(1)->a(), 6);
  EXPECT_EQ(everything->vector_int()->Get(0), 42);
}

// force_align on a vector aligns its data (up to 8; more is a generator
// error, see the aos_static_flatbuffers_force_align_16 test).
TEST_F(StaticTableTest, ForceAlignedVector) {
  Builder<EverythingStatic> builder(&arena_);
  builder->set_foo_byte(1);
  for (int tries = 0; tries < 3; ++tries) {
    builder->add_vector_byte()->clear();
    ASSERT_TRUE(builder->add_vector_byte()->emplace_back(1));
    Vector<uint8_t, 8> *aligned = builder->add_aligned_bytes();
    ASSERT_NE(aligned, nullptr);
    ASSERT_TRUE(aligned->emplace_back(7));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(aligned->data()) % 8, 0u);
  }
  const Everything *everything = Verified(&builder);
  EXPECT_EQ(
      reinterpret_cast<uintptr_t>(everything->aligned_bytes()->data()) % 8, 0u);
}

// A vector of tables without static_length compiles (-Werror) and holds
// nothing.
TEST_F(StaticTableTest, UnsizedTableVector) {
  Builder<EverythingStatic> builder(&arena_);
  auto *leaves = builder->add_unsized_leaves();
  ASSERT_NE(leaves, nullptr);
  EXPECT_EQ(leaves->emplace_back(), nullptr);
  EXPECT_EQ(Verified(&builder)->unsized_leaves()->size(), 0u);
}

TEST(StaticJsonTest, JsonToStaticFlatbuffer) {
  Builder<EverythingStatic> builder = JsonToStaticFlatbuffer<EverythingStatic>(
      R"({ "foo_int": 3, "foo_string": "abc", "vector_int": [ 1, 2, 3, 4, 5 ] })");
  EXPECT_TRUE(builder.Verify());
  EXPECT_EQ(builder->foo_int(), 3);
  EXPECT_EQ(builder.AsFlatbufferSpan().message().vector_int()->size(), 5u);
  EXPECT_DEATH(JsonToStaticFlatbuffer<EverythingStatic>(R"({ "nope": 1 })"),
               "unknown field: nope");
}

}  // namespace
}  // namespace aos::fbs::testing
