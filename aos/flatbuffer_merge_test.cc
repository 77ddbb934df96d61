#include "aos/flatbuffer_merge.h"

#include <string>

#include "aos/json_test_generated.h"
#include "aos/json_to_flatbuffer.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

FlatbufferDetachedBuffer<Everything> Parse(std::string_view json) {
  Result<FlatbufferDetachedBuffer<Everything>> parsed =
      MaybeJsonToFlatbuffer<Everything>(json);
  CHECK(parsed.has_value()) << parsed.error();
  return std::move(*parsed);
}

// Merges `a` and `b` every way the API offers and checks each gives `out`.
void ExpectMerge(std::string_view a, std::string_view b, std::string_view out) {
  const FlatbufferDetachedBuffer<Everything> fa = Parse(a);
  const FlatbufferDetachedBuffer<Everything> fb = Parse(b);
  const FlatbufferDetachedBuffer<Everything> merged = MergeFlatBuffers(fa, fb);
  ASSERT_TRUE(merged.Verify());
  EXPECT_EQ(FlatbufferToJson(merged), out);
  EXPECT_EQ(FlatbufferToJson(MergeFlatBuffers<Everything>(fa.span().data(),
                                                          fb.span().data())),
            out);
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(MergeFlatBuffers(&fa.message(), &fb.message(), &fbb));
  EXPECT_EQ(FlatbufferToJson(
                flatbuffers::GetRoot<Everything>(fbb.GetBufferPointer())),
            out);
}

TEST(FlatbufferMergeTest, ScalarsAndStringsOfTheSecondWin) {
  ExpectMerge("{ \"foo_int\": 1, \"foo_string\": \"a\", \"foo_bool\": true }",
              "{ \"foo_int\": 2, \"foo_double\": 0.5 }",
              "{ \"foo_bool\": true, \"foo_int\": 2, \"foo_double\": 0.5, "
              "\"foo_string\": \"a\" }");
  // Presence is kept: a default written by the second still wins.
  ExpectMerge("{ \"foo_int\": 7 }", "{ \"foo_int\": 0 }", "{ \"foo_int\": 0 }");
  ExpectMerge("{  }", "{  }", "{  }");
  ExpectMerge("{ \"foo_enum\": \"Float\", \"foo_flags\": \"A C\" }",
              "{ \"foo_enum\": \"None\" }",
              "{ \"foo_enum\": \"None\", \"foo_flags\": \"A C\" }");
}

TEST(FlatbufferMergeTest, TablesMergeAndVectorsConcatenate) {
  ExpectMerge(
      "{ \"foo_table\": { \"name\": \"x\", \"value\": 1 }, "
      "\"vector_foo_int\": [ 1, 2 ], \"vector_foo_string\": [ \"a\" ], "
      "\"vector_foo_table\": [ { \"name\": \"t1\" } ] }",
      "{ \"foo_table\": { \"value\": 2 }, \"vector_foo_int\": [ 3 ], "
      "\"vector_foo_string\": [ \"b\", \"c\" ], \"vector_foo_table\": [ { "
      "\"value\": 9 } ], \"vector_foo_double\": [ 0.5 ] }",
      "{ \"foo_table\": { \"name\": \"x\", \"value\": 2 }, \"vector_foo_int\": "
      "[ 1, 2, 3 ], \"vector_foo_double\": [ 0.5 ], \"vector_foo_string\": [ "
      "\"a\", \"b\", \"c\" ], \"vector_foo_table\": [ { \"name\": \"t1\" }, { "
      "\"value\": 9 } ] }");
  // Structs (and vectors of them) of odd sizes keep their alignment.
  ExpectMerge(
      "{ \"foo_struct\": { \"x\": 1, \"y\": 2, \"tag\": 3, \"ids\": [ 1, 2, 3 "
      "] }, \"vector_foo_struct\": [ { \"x\": 1, \"y\": 2, \"tag\": 3, "
      "\"ids\": [ 1, 2, 3 ] } ], \"vector_foo_byte\": [ 1 ] }",
      "{ \"vector_foo_struct\": [ { \"x\": 4, \"y\": 5, \"tag\": 6, \"ids\": [ "
      "4, 5, 6 ] } ], \"vector_foo_byte\": [ 2, 3 ], \"vector_foo_bool\": [ "
      "true ] }",
      "{ \"foo_struct\": { \"x\": 1, \"y\": 2, \"tag\": 3, \"ids\": [ 1, 2, 3 "
      "] }, \"vector_foo_bool\": [ true ], \"vector_foo_byte\": [ 1, 2, 3 ], "
      "\"vector_foo_struct\": [ { \"x\": 1, \"y\": 2, \"tag\": 3, \"ids\": [ "
      "1, 2, 3 ] }, { \"x\": 4, \"y\": 5, \"tag\": 6, \"ids\": [ 4, 5, 6 ] } ] "
      "}");
  // A union is replaced whole, with its type.
  ExpectMerge(
      "{ \"foo_union_type\": \"Inner\", \"foo_union\": { \"name\": \"i\" } }",
      "{ \"foo_union_type\": \"Other\", \"foo_union\": { \"id\": 4 } }",
      "{ \"foo_union_type\": \"Other\", \"foo_union\": { \"id\": 4 } }");
  ExpectMerge(
      "{ \"vector_foo_union_type\": [ \"Inner\" ], \"vector_foo_union\": [ { "
      "\"name\": \"i\" } ] }",
      "{ \"vector_foo_union_type\": [ \"Other\" ], \"vector_foo_union\": [ { "
      "\"id\": 4 } ] }",
      "{ \"vector_foo_union_type\": [ \"Inner\", \"Other\" ], "
      "\"vector_foo_union\": [ { \"name\": \"i\" }, { \"id\": 4 } ] }");
  ExpectMerge("{ \"nested\": { \"nested\": { \"foo_int\": 1 } } }",
              "{ \"nested\": { \"foo_int\": 2, \"nested\": { \"foo_long\": 3 } "
              "} }",
              "{ \"nested\": { \"foo_int\": 2, \"nested\": { \"foo_int\": 1, "
              "\"foo_long\": 3 } } }");
}

TEST(FlatbufferMergeTest, MergeWithNull) {
  const FlatbufferDetachedBuffer<Everything> a = Parse("{ \"foo_int\": 1 }");
  EXPECT_EQ(
      FlatbufferToJson(MergeFlatBuffers<Everything>(&a.message(), nullptr)),
      "{ \"foo_int\": 1 }");
  EXPECT_EQ(
      FlatbufferToJson(MergeFlatBuffers<Everything>(nullptr, &a.message())),
      "{ \"foo_int\": 1 }");
}

// A message whose two fields point at one shared sub-table and string.
FlatbufferDetachedBuffer<Everything> MakeDag() {
  flatbuffers::FlatBufferBuilder fbb;
  const auto name = fbb.CreateString("shared name, long enough to notice");
  InnerBuilder inner(fbb);
  inner.add_name(name);
  const auto shared = inner.Finish();
  const auto tables = fbb.CreateVector(
      std::vector<flatbuffers::Offset<Inner>>{shared, shared, shared});
  EverythingBuilder builder(fbb);
  builder.add_foo_table(shared);
  builder.add_vector_foo_table(tables);
  builder.add_foo_string(name);
  fbb.Finish(builder.Finish());
  return fbb.Release();
}

TEST(FlatbufferMergeTest, CopyKeepsADagRecursiveCopyMakesATree) {
  const FlatbufferDetachedBuffer<Everything> dag = MakeDag();
  const std::string json = FlatbufferToJson(dag);

  const FlatbufferDetachedBuffer<Everything> copy = CopyFlatBuffer(dag);
  ASSERT_TRUE(copy.Verify());
  EXPECT_EQ(FlatbufferToJson(copy), json);
  EXPECT_EQ(copy.message().foo_table(),
            copy.message().vector_foo_table()->Get(2));
  EXPECT_EQ(copy.message().foo_string(), copy.message().foo_table()->name());

  const FlatbufferDetachedBuffer<Everything> tree =
      RecursiveCopyFlatBuffer(&dag.message());
  ASSERT_TRUE(tree.Verify());
  EXPECT_EQ(FlatbufferToJson(tree), json);
  EXPECT_NE(tree.message().foo_table(),
            tree.message().vector_foo_table()->Get(2));
  EXPECT_GT(tree.span().size(), copy.span().size());

  // Copying a sub-table into another message, behind other data.
  flatbuffers::FlatBufferBuilder fbb;
  fbb.CreateString("x");
  const auto inner = CopyFlatBuffer(dag.message().foo_table(), &fbb);
  EverythingBuilder builder(fbb);
  builder.add_foo_table(inner);
  builder.add_foo_byte(1);
  fbb.Finish(builder.Finish());
  flatbuffers::Verifier verifier(fbb.GetBufferPointer(), fbb.GetSize());
  ASSERT_TRUE(VerifyEverythingBuffer(verifier));
  EXPECT_EQ(flatbuffers::GetRoot<Everything>(fbb.GetBufferPointer())
                ->foo_table()
                ->name()
                ->string_view(),
            "shared name, long enough to notice");
}

TEST(FlatbufferMergeTest, BlindCopyNestsAWholeBuffer) {
  const FlatbufferDetachedBuffer<Everything> inner =
      Parse("{ \"foo_double\": 2.5, \"foo_string\": \"in\" }");
  for (int padding = 0; padding < 3; ++padding) {
    flatbuffers::FlatBufferBuilder fbb;
    for (int i = 0; i < padding; ++i) fbb.CreateString("pad");
    const auto nested = BlindCopyFlatBuffer(inner, &fbb);
    EverythingBuilder builder(fbb);
    builder.add_nested(nested);
    fbb.Finish(builder.Finish());
    flatbuffers::Verifier verifier(fbb.GetBufferPointer(), fbb.GetSize());
    ASSERT_TRUE(VerifyEverythingBuffer(verifier));
    EXPECT_EQ(
        FlatbufferToJson(
            flatbuffers::GetRoot<Everything>(fbb.GetBufferPointer())),
        "{ \"nested\": { \"foo_double\": 2.5, \"foo_string\": \"in\" } }");
  }
}

TEST(FlatbufferMergeTest, CompareLooksAtContentsNotLayout) {
  const FlatbufferDetachedBuffer<Everything> dag = MakeDag();
  const FlatbufferDetachedBuffer<Everything> tree =
      RecursiveCopyFlatBuffer(&dag.message());
  ASSERT_NE(dag.span().size(), tree.span().size());
  EXPECT_TRUE(CompareFlatBuffer(&dag.message(), &tree.message()));
  EXPECT_TRUE(CompareFlatBuffer(dag, tree));
  const FlatbufferDetachedBuffer<Everything> a =
      Parse("{ \"foo_int\": 1, \"foo_string\": \"s\" }");
  const FlatbufferDetachedBuffer<Everything> b =
      Parse("{ \"foo_string\": \"s\", \"foo_int\": 1 }");
  EXPECT_TRUE(CompareFlatBuffer(a, b));
  EXPECT_FALSE(
      CompareFlatBuffer(a, Parse("{ \"foo_int\": 2, \"foo_string\": \"s\" }")));
  // An explicit default differs from an absent field.
  EXPECT_FALSE(CompareFlatBuffer(Parse("{ \"foo_int\": 0 }"), Parse("{  }")));
  EXPECT_FALSE(CompareFlatBuffer(a, FlatbufferDetachedBuffer<Everything>()));
  EXPECT_TRUE(CompareFlatBuffer(FlatbufferDetachedBuffer<Everything>(),
                                FlatbufferDetachedBuffer<Everything>()));
  EXPECT_TRUE(CompareFlatBuffer<Everything>(nullptr, nullptr));
  EXPECT_FALSE(CompareFlatBuffer<Everything>(&a.message(), nullptr));
}

}  // namespace
}  // namespace aos::testing
