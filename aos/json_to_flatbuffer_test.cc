#include "aos/json_to_flatbuffer.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

#include "aos/configuration_generated.h"
#include "aos/json_test_generated.h"
#include "aos/testing/tmpdir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aos::testing {
namespace {

using ::testing::HasSubstr;

// Parses `in`, prints it, and checks the output is `out` (defaults to `in`).
void ExpectRoundTrip(std::string_view in, std::string_view out = {}) {
  if (out.empty()) out = in;
  Result<FlatbufferDetachedBuffer<Everything>> parsed =
      MaybeJsonToFlatbuffer<Everything>(in);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
  ASSERT_TRUE(parsed->Verify());
  EXPECT_EQ(FlatbufferToJson(*parsed), out);
  // And through the schema-based entry points, which the tools use.
  Result<flatbuffers::DetachedBuffer> raw =
      JsonToFlatbuffer(SchemaOf<Everything>(), in);
  ASSERT_TRUE(raw.has_value()) << raw.error().message();
  EXPECT_EQ(FlatbufferToJson(SchemaOf<Everything>(), raw->data()), out);
}

TEST(JsonToFlatbufferTest, Scalars) {
  ExpectRoundTrip("{ \"foo_bool\": true }");
  ExpectRoundTrip("{ \"foo_bool\": false }");
  ExpectRoundTrip("{ \"foo_byte\": -128 }");
  ExpectRoundTrip("{ \"foo_ubyte\": 255 }");
  ExpectRoundTrip("{ \"foo_short\": -32768 }");
  ExpectRoundTrip("{ \"foo_ushort\": 65535 }");
  ExpectRoundTrip("{ \"foo_int\": -2147483648 }");
  ExpectRoundTrip("{ \"foo_uint\": 4294967295 }");
  ExpectRoundTrip("{ \"foo_long\": -9223372036854775808 }");
  ExpectRoundTrip("{ \"foo_ulong\": 18446744073709551615 }");
  ExpectRoundTrip("{ \"foo_float\": 1.5 }");
  ExpectRoundTrip("{ \"foo_float\": 0.1 }");
  ExpectRoundTrip("{ \"foo_double\": 0.1 }");
  ExpectRoundTrip("{ \"foo_double\": -1e+300 }");
  ExpectRoundTrip("{ \"foo_double\": 5 }");
  ExpectRoundTrip("{ \"foo_string\": \"hello \\\"world\\\"\\n\" }");
  ExpectRoundTrip("{ \"foo_string\": \"\" }");
}

TEST(JsonToFlatbufferTest, NanAndInf) {
  ExpectRoundTrip("{ \"foo_float\": nan }");
  ExpectRoundTrip("{ \"foo_double\": -nan }");
  ExpectRoundTrip("{ \"foo_double\": inf }");
  ExpectRoundTrip("{ \"foo_float\": -inf }");
  FlatbufferDetachedBuffer<Everything> parsed =
      JsonToFlatbuffer<Everything>("{ \"foo_double\": nan }");
  EXPECT_TRUE(std::isnan(parsed.message().foo_double()));
  // A negative NaN made in code prints with its sign.
  EverythingT object;
  object.foo_double = -std::numeric_limits<double>::quiet_NaN();
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(Everything::Pack(fbb, &object));
  EXPECT_EQ(FlatbufferToJson(
                flatbuffers::GetRoot<Everything>(fbb.GetBufferPointer())),
            "{ \"foo_double\": -nan }");
}

// -nan keeps its sign, as upstream, wherever a float can be: tables,
// structs, arrays in structs, vectors, sub-tables, unions.
TEST(JsonToFlatbufferTest, NegativeNanKeepsItsSign) {
  ExpectRoundTrip("{ \"foo_float\": -nan }");
  ExpectRoundTrip(
      "{ \"vector_foo_float\": [ nan, -nan, 1 ], "
      "\"vector_foo_double\": [ -nan ] }");
  ExpectRoundTrip(
      "{ \"foo_table\": { \"name\": \"-nan\" }, "
      "\"nested\": { \"foo_double\": -nan } }");
  ExpectRoundTrip(
      "{ \"foo_struct\": { \"x\": -nan, \"y\": -nan, \"tag\": 1, "
      "\"ids\": [ 1, 2, 3 ] }, \"foo_union_type\": \"Other\", "
      "\"foo_union\": { \"id\": 1 } }");
  // A number that happens to equal the first sentinel stays itself.
  ExpectRoundTrip("{ \"foo_float\": -1e-45, \"foo_double\": -nan }",
                  "{ \"foo_float\": -1e-45, \"foo_double\": -nan }");
  ExpectRoundTrip(
      "{ \"foo_double\": -1.401298464324817e-45, \"foo_float\": -nan }",
      "{ \"foo_float\": -nan, \"foo_double\": -1.401298464324817e-45 }");
  // Comments and strings that say -nan are left alone.
  ExpectRoundTrip("{ /* -nan */ \"foo_string\": \"-nan\" // -nan\n }",
                  "{ \"foo_string\": \"-nan\" }");
  FlatbufferDetachedBuffer<Everything> parsed =
      JsonToFlatbuffer<Everything>("{ \"foo_float\": -nan }");
  EXPECT_TRUE(std::isnan(parsed.message().foo_float()));
  EXPECT_TRUE(std::signbit(parsed.message().foo_float()));
  // In an integer field it is an error that says -nan.
  Result<FlatbufferDetachedBuffer<Everything>> bad =
      MaybeJsonToFlatbuffer<Everything>("{ \"foo_int\": -nan }");
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message(), HasSubstr("-nan"));
}

TEST(JsonToFlatbufferTest, NegativeZero) {
  ExpectRoundTrip("{ \"foo_float\": -0.0 }");
  ExpectRoundTrip("{ \"foo_double\": -0.0 }");
  ExpectRoundTrip("{ \"foo_double\": 0 }");
}

// Empty tables and vectors print as upstream's printer does, with two
// spaces, so string comparisons written against upstream hold.
TEST(JsonToFlatbufferTest, EmptyTablesAndVectors) {
  ExpectRoundTrip("{  }");
  ExpectRoundTrip("{ \"vector_foo_int\": [  ] }");
  ExpectRoundTrip(
      "{ \"vector_foo_string\": [  ], \"vector_foo_table\": "
      "[ {  }, {  } ] }");
  ExpectRoundTrip("{ \"foo_table\": {  } }");
  ExpectRoundTrip("{ }", "{  }");
  FlatbufferDetachedBuffer<Everything> parsed =
      JsonToFlatbuffer<Everything>("{ \"foo_table\": { } }");
  EXPECT_EQ(FlatbufferToJson(parsed, {.multi_line = true}),
            "{\n \"foo_table\": {  }\n}");
}

// Structs holding structs (and arrays of them, and enums) round-trip through
// the typed API, whose schema is rebuilt from generated code.
// Upstream's untyped calls take a FlatbufferType made from a type table or a
// schema: both parse and print alike; a parse error is an empty buffer.
TEST(JsonToFlatbufferTest, FlatbufferType) {
  const std::string json = "{ \"foo_int\": 5, \"vector_foo_int\": [ 1, 2 ] }";
  const FlatbufferType from_table(EverythingTypeTable());
  const FlatbufferType from_schema(SchemaOf<Everything>());
  for (const FlatbufferType &type : {from_table, from_schema}) {
    FlatbufferDetachedBuffer<Everything> parsed = JsonToFlatbuffer(json, type);
    ASSERT_GT(parsed.span().size(), 0u);
    EXPECT_EQ(parsed.message().foo_int(), 5);
    EXPECT_EQ(
        TableFlatbufferToJson(
            reinterpret_cast<const flatbuffers::Table *>(&parsed.message()),
            type),
        json);
    EXPECT_EQ(JsonToFlatbuffer("{ \"nope\": 1 }", type).size(), 0u);
    EXPECT_EQ(TableFlatbufferToJson(nullptr, type), "null");
  }
  // The placeholder root name of a type-table schema is not what SchemaOf
  // reports for the same type.
  EXPECT_EQ(SchemaOf<Everything>()->root_table()->name()->string_view(),
            "aos.testing.Everything");
}

TEST(JsonToFlatbufferTest, NestedStructs) {
  const std::string json =
      "{ \"gizmo\": { \"arrow\": { \"axis\": \"Z\", \"from\": { \"x\": 1, "
      "\"y\": 2, \"z\": 3 }, \"to\": [ { \"x\": 4, \"y\": 5, \"z\": 6 }, { "
      "\"x\": 7, \"y\": 8, \"z\": -nan } ] }, \"scale\": 0.5 }, "
      "\"gizmos\": [ { \"arrow\": { \"axis\": \"Y\", \"from\": { \"x\": 0, "
      "\"y\": 0, \"z\": 0 }, \"to\": [ { \"x\": 0, \"y\": 0, \"z\": 0 }, { "
      "\"x\": 0, \"y\": 0, \"z\": 1 } ] }, \"scale\": 2 } ] }";
  Result<FlatbufferDetachedBuffer<Gizmos>> parsed =
      MaybeJsonToFlatbuffer<Gizmos>(json);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
  ASSERT_TRUE(parsed->Verify());
  const Gizmo *gizmo = parsed->message().gizmo();
  ASSERT_NE(gizmo, nullptr);
  EXPECT_EQ(gizmo->arrow().axis(), Axis::Z);
  EXPECT_EQ(gizmo->arrow().from().y(), 2);
  EXPECT_EQ(gizmo->arrow().to()->Get(1)->y(), 8);
  EXPECT_EQ(gizmo->scale(), 0.5);
  EXPECT_EQ(FlatbufferToJson(*parsed), json);
  // A message built in C++ prints the same way.
  flatbuffers::FlatBufferBuilder fbb;
  const Gizmo built(Arrow(Axis::X, Vec3(1, 2, 3)), 4);
  GizmosBuilder builder(fbb);
  builder.add_gizmo(&built);
  fbb.Finish(builder.Finish());
  EXPECT_EQ(
      FlatbufferToJson(flatbuffers::GetRoot<Gizmos>(fbb.GetBufferPointer())),
      "{ \"gizmo\": { \"arrow\": { \"axis\": \"X\", \"from\": { \"x\": 1, "
      "\"y\": 2, \"z\": 3 }, \"to\": [ { \"x\": 0, \"y\": 0, \"z\": 0 }, "
      "{ \"x\": 0, \"y\": 0, \"z\": 0 } ] }, \"scale\": 4 } }");
}

TEST(JsonToFlatbufferTest, DefaultsAreStoredWhenGiven) {
  // The value equals the schema default, but the user wrote it: it stays.
  ExpectRoundTrip("{ \"default_int\": 42 }");
  FlatbufferDetachedBuffer<Everything> parsed =
      JsonToFlatbuffer<Everything>("{ \"default_int\": 42 }");
  EXPECT_EQ(parsed.message().default_int(), 42);
}

TEST(JsonToFlatbufferTest, Enums) {
  ExpectRoundTrip("{ \"foo_enum\": \"Float\" }");
  ExpectRoundTrip("{ \"foo_enum\": \"None\" }");
  // A value without a name prints as a number.
  ExpectRoundTrip("{ \"foo_enum\": 5 }");
  ExpectRoundTrip("{ \"foo_flags\": \"B\" }");
  ExpectRoundTrip("{ \"vector_foo_enum\": [ \"Int\", \"Float\" ] }");
  FlatbufferDetachedBuffer<Everything> parsed =
      JsonToFlatbuffer<Everything>("{ \"foo_enum\": \"Float\" }");
  EXPECT_EQ(parsed.message().foo_enum(), BaseType::Float);
}

TEST(JsonToFlatbufferTest, Structs) {
  ExpectRoundTrip(
      "{ \"foo_struct\": { \"x\": 1.5, \"y\": 2, \"tag\": -3, \"ids\": [ 1, "
      "2, 3 ] } }");
  ExpectRoundTrip(
      "{ \"foo_nested_struct\": { \"where\": { \"x\": 1, \"y\": 2, \"tag\": "
      "3, \"ids\": [ 4, 5, 6 ] }, \"valid\": true } }");
  ExpectRoundTrip(
      "{ \"vector_foo_struct\": [ { \"x\": 1, \"y\": 2, \"tag\": 3, \"ids\": "
      "[ 0, 0, 0 ] }, { \"x\": -1, \"y\": -2, \"tag\": -3, \"ids\": [ 7, 8, "
      "9 ] } ] }");
  FlatbufferDetachedBuffer<Everything> parsed = JsonToFlatbuffer<Everything>(
      "{ \"foo_struct\": { \"x\": 1.5, \"y\": 2, \"tag\": -3, \"ids\": [ 1, "
      "2, 3 ] } }");
  EXPECT_EQ(parsed.message().foo_struct()->x(), 1.5);
  EXPECT_EQ(parsed.message().foo_struct()->ids()->Get(2), 3);
}

TEST(JsonToFlatbufferTest, TablesAndUnions) {
  ExpectRoundTrip("{ \"foo_table\": { \"name\": \"a\", \"value\": 5 } }");
  ExpectRoundTrip("{ \"foo_table\": { } }", "{ \"foo_table\": {  } }");
  ExpectRoundTrip(
      "{ \"foo_union_type\": \"Inner\", \"foo_union\": { \"name\": \"x\" } }");
  ExpectRoundTrip(
      "{ \"foo_union_type\": \"Other\", \"foo_union\": { \"id\": 7 } }");
  ExpectRoundTrip(
      "{ \"foo_union_type\": \"Alias\", \"foo_union\": { \"value\": 1 } }");
  ExpectRoundTrip(
      "{ \"vector_foo_table\": [ { \"name\": \"a\" }, { \"value\": 2 } ] }");
  ExpectRoundTrip(
      "{ \"vector_foo_union_type\": [ \"Other\", \"Inner\" ], "
      "\"vector_foo_union\": [ { \"id\": 1 }, { \"name\": \"b\" } ] }");
  ExpectRoundTrip(
      "{ \"nested\": { \"nested\": { \"foo_int\": 1 }, \"foo_int\": 2 } }",
      "{ \"nested\": { \"foo_int\": 2, \"nested\": { \"foo_int\": 1 } } }");
  FlatbufferDetachedBuffer<Everything> parsed = JsonToFlatbuffer<Everything>(
      "{ \"foo_union_type\": \"Other\", \"foo_union\": { \"id\": 7 } }");
  ASSERT_NE(parsed.message().foo_union_as_Other(), nullptr);
  EXPECT_EQ(parsed.message().foo_union_as_Other()->id(), 7u);
}

TEST(JsonToFlatbufferTest, Vectors) {
  ExpectRoundTrip("{ \"vector_foo_bool\": [ true, false ] }");
  ExpectRoundTrip("{ \"vector_foo_byte\": [ -1, 127 ] }");
  ExpectRoundTrip("{ \"vector_foo_ubyte\": [ 0, 255 ] }");
  ExpectRoundTrip("{ \"vector_foo_short\": [ -1, 2 ] }");
  ExpectRoundTrip("{ \"vector_foo_ushort\": [ 1, 65535 ] }");
  ExpectRoundTrip("{ \"vector_foo_int\": [ -5, 6 ] }");
  ExpectRoundTrip("{ \"vector_foo_uint\": [ 4294967295 ] }");
  ExpectRoundTrip("{ \"vector_foo_long\": [ -9223372036854775807 ] }");
  ExpectRoundTrip("{ \"vector_foo_ulong\": [ 18446744073709551615 ] }");
  ExpectRoundTrip("{ \"vector_foo_float\": [ 1.5, nan, -inf ] }");
  ExpectRoundTrip("{ \"vector_foo_double\": [ 0.25, 1e-10 ] }");
  ExpectRoundTrip("{ \"vector_foo_string\": [ \"a\", \"\", \"c\" ] }");
  ExpectRoundTrip("{ \"vector_foo_int\": [ ] }",
                  "{ \"vector_foo_int\": [  ] }");
}

TEST(JsonToFlatbufferTest, CommentsAndHex) {
  ExpectRoundTrip(
      "// leading comment\n{ /* inline */ \"foo_int\": 0x1f // trailing\n }",
      "{ \"foo_int\": 31 }");
}

// bit_flags enums: combinations print and parse as space-separated names.
// The typed path rebuilds the schema from generated code, which does not
// record the attribute; it must agree with the real .bfbs, which does.
TEST(JsonToFlatbufferTest, BitFlags) {
  ExpectRoundTrip("{ \"foo_flags\": \"A B\" }");
  ExpectRoundTrip("{ \"foo_flags\": \"A B C\" }");
  ExpectRoundTrip("{ \"foo_flags\": \"C A\" }", "{ \"foo_flags\": \"A C\" }");
  // No flag set, and bits no flag names, print as numbers.
  ExpectRoundTrip("{ \"foo_flags\": 0 }");
  ExpectRoundTrip("{ \"foo_flags\": 8 }");
  ExpectRoundTrip("{ \"foo_flags\": 9 }");
  FlatbufferDetachedBuffer<Everything> parsed =
      JsonToFlatbuffer<Everything>("{ \"foo_flags\": \"A C\" }");
  EXPECT_EQ(parsed.message().foo_flags(), Flags::A | Flags::C);
  // A plain enum never prints a combination.
  ExpectRoundTrip("{ \"foo_enum\": 10 }");

  std::ifstream in(AOS_JSON_TEST_BFBS, std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  ASSERT_FALSE(bytes.empty()) << AOS_JSON_TEST_BFBS;
  const reflection::Schema *bfbs = reflection::GetSchema(bytes.data());
  for (const char *json : {"{ \"foo_flags\": \"A C\" }", "{ \"foo_flags\": 9 }",
                           "{ \"foo_enum\": \"Float\" }"}) {
    SCOPED_TRACE(json);
    Result<flatbuffers::DetachedBuffer> raw = JsonToFlatbuffer(bfbs, json);
    ASSERT_TRUE(raw.has_value()) << raw.error().message();
    EXPECT_EQ(FlatbufferToJson(bfbs, raw->data()), json);
    EXPECT_EQ(FlatbufferToJson(flatbuffers::GetRoot<Everything>(raw->data())),
              json);
  }
}

TEST(JsonToFlatbufferTest, LongVectorsElided) {
  FlatbufferDetachedBuffer<Everything> parsed = JsonToFlatbuffer<Everything>(
      "{ \"vector_foo_int\": [ 1, 2, 3, 4 ], \"vector_foo_string\": [ \"a\" ] "
      "}");
  EXPECT_EQ(FlatbufferToJson(parsed, {.max_vector_size = 3}),
            "{ \"vector_foo_int\": [ \"... 4 elements ...\" ], "
            "\"vector_foo_string\": [ \"a\" ] }");
}

TEST(JsonToFlatbufferTest, Hex) {
  FlatbufferDetachedBuffer<Everything> parsed = JsonToFlatbuffer<Everything>(
      "{ \"foo_int\": -31, \"foo_ulong\": 255, \"foo_float\": 1.5, "
      "\"foo_enum\": \"Float\" }");
  const std::string hex = FlatbufferToJson(parsed, {.use_hex = true});
  EXPECT_EQ(hex,
            "{ \"foo_int\": -0x1f, \"foo_ulong\": 0xff, \"foo_float\": 1.5, "
            "\"foo_enum\": \"Float\" }");
  // Hex output parses back to the same values.
  FlatbufferDetachedBuffer<Everything> reparsed =
      JsonToFlatbuffer<Everything>(hex);
  EXPECT_EQ(FlatbufferToJson(reparsed), FlatbufferToJson(parsed));
}

TEST(JsonToFlatbufferTest, MultiLine) {
  FlatbufferDetachedBuffer<Everything> parsed = JsonToFlatbuffer<Everything>(
      "{ \"foo_int\": 1, \"vector_foo_int\": [ 1, 2 ], \"foo_table\": { "
      "\"name\": \"x\" } }");
  EXPECT_EQ(FlatbufferToJson(parsed, {.multi_line = true}),
            "{\n"
            " \"foo_int\": 1,\n"
            " \"foo_table\": {\n"
            "  \"name\": \"x\"\n"
            " },\n"
            " \"vector_foo_int\": [\n"
            "  1,\n"
            "  2\n"
            " ]\n"
            "}");
  EXPECT_EQ(
      FlatbufferToJson(parsed, {.multi_line = true, .max_multi_line = 20}),
      "{\n"
      " \"foo_int\": 1,\n"
      " \"foo_table\": { \"name\": \"x\" },\n"
      " \"vector_foo_int\": [ 1, 2 ]\n"
      "}");
  // Multi-line output parses back too.
  EXPECT_EQ(FlatbufferToJson(JsonToFlatbuffer<Everything>(
                FlatbufferToJson(parsed, {.multi_line = true}))),
            FlatbufferToJson(parsed));
}

TEST(JsonToFlatbufferTest, NullTable) {
  EXPECT_EQ(FlatbufferToJson<Everything>(nullptr), "null");
}

TEST(JsonToFlatbufferTest, BuildsIntoExistingBuilder) {
  flatbuffers::FlatBufferBuilder fbb;
  flatbuffers::Offset<Everything> offset = JsonToFlatbuffer<Everything>(
      "{ \"foo_int\": 7, \"foo_string\": \"x\" }", &fbb);
  ASSERT_FALSE(offset.IsNull());
  fbb.Finish(offset);
  FlatbufferDetachedBuffer<Everything> built(fbb.Release());
  ASSERT_TRUE(built.Verify());
  EXPECT_EQ(FlatbufferToJson(built),
            "{ \"foo_int\": 7, \"foo_string\": \"x\" }");

  flatbuffers::FlatBufferBuilder bad;
  EXPECT_TRUE(JsonToFlatbuffer<Everything>("{ \"nope\": 1 }", &bad).IsNull());
}

TEST(JsonToFlatbufferTest, ConfigurationTypes) {
  FlatbufferDetachedBuffer<Channel> channel = JsonToFlatbuffer<Channel>(
      "{ \"name\": \"/foo\", \"type\": \".aos.Bar\", \"read_method\": \"PIN\", "
      "\"num_readers\": 3, \"destination_nodes\": [ { \"name\": \"pi2\", "
      "\"timestamp_logger\": \"REMOTE_LOGGER\" } ] }");
  ASSERT_GT(channel.span().size(), 0u);
  EXPECT_EQ(channel.message().read_method(), ReadMethod::PIN);
  EXPECT_EQ(FlatbufferToJson(channel),
            "{ \"name\": \"/foo\", \"type\": \".aos.Bar\", "
            "\"destination_nodes\": [ { \"name\": \"pi2\", "
            "\"timestamp_logger\": \"REMOTE_LOGGER\" } ], \"read_method\": "
            "\"PIN\", \"num_readers\": 3 }");
}

TEST(JsonToFlatbufferTest, Files) {
  aos::testing::TempDir dir;
  const FlatbufferDetachedBuffer<Everything> message =
      JsonToFlatbuffer<Everything>("{ \"foo_int\": 3, \"foo_string\": \"x\" }");
  WriteFlatbufferToFile(dir.path() + "/m.bin", message);
  const FlatbufferVector<Everything> read =
      FileToFlatbuffer<Everything>(dir.path() + "/m.bin");
  EXPECT_TRUE(read.Verify());
  EXPECT_EQ(FlatbufferToJson(read), FlatbufferToJson(message));

  WriteFlatbufferToJson(dir.path() + "/m.json", message);
  EXPECT_EQ(util::ReadFileToStringOrDie(dir.path() + "/m.json"),
            "{\n \"foo_int\": 3,\n \"foo_string\": \"x\"\n}");
  EXPECT_EQ(FlatbufferToJson(
                JsonFileToFlatbuffer<Everything>(dir.path() + "/m.json")),
            FlatbufferToJson(message));

  util::WriteStringToFileOrDie(dir.path() + "/bad.json", "{\n \"nope\": 1 }");
  const Result<FlatbufferDetachedBuffer<Everything>> bad =
      MaybeJsonFileToFlatbuffer<Everything>(dir.path() + "/bad.json");
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message(), HasSubstr("/bad.json: "));
  EXPECT_THAT(bad.error().message(), HasSubstr("2: "));
  EXPECT_THAT(bad.error().message(), HasSubstr("unknown field: nope"));
  EXPECT_EQ(
      JsonFileToFlatbuffer<Everything>(dir.path() + "/bad.json").span().size(),
      0u);
  EXPECT_FALSE(MaybeJsonFileToFlatbuffer<Everything>(dir.path() + "/none"));
  EXPECT_DEATH(FileToFlatbuffer<Everything>(dir.path() + "/none"),
               "cannot open .*/none");
}

// Each malformed input fails with a message saying where and what.
struct BadJson {
  const char *json;
  const char *message;
};

class BadJsonTest : public ::testing::TestWithParam<BadJson> {};

TEST_P(BadJsonTest, Fails) {
  Result<FlatbufferDetachedBuffer<Everything>> parsed =
      MaybeJsonToFlatbuffer<Everything>(GetParam().json);
  ASSERT_FALSE(parsed.has_value()) << GetParam().json;
  EXPECT_THAT(parsed.error().message(), HasSubstr(GetParam().message));
  EXPECT_THAT(parsed.error().message(), HasSubstr("aos.testing.Everything"));
  // The upstream-style variant returns an empty buffer.
  EXPECT_EQ(JsonToFlatbuffer<Everything>(GetParam().json).span().size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Errors, BadJsonTest,
    ::testing::Values(
        BadJson{"{ \"nope\": 1 }", "1: 11: error: unknown field: nope"},
        BadJson{"{ foo_int: 1 }",
                "1: 9: error: expecting: string constant instead got: "
                "foo_int"},
        BadJson{"{ \"foo_int\": 1, }",
                "error: expecting: string constant instead got: }"},
        BadJson{"{ \"vector_foo_int\": [ 1, ] }",
                "Cannot assign token starting with ']'"},
        BadJson{"{ \"foo_flags\": \"A D\" }", "unknown enum value: D"},
        BadJson{"{ \"foo_enum\": \"Purple\" }", "Purple"},
        BadJson{"{ \"foo_int\": 1, \"foo_int\": 2 }",
                "field set more than once"},
        BadJson{"{ \"foo_int\": \"x\" }",
                "1: 16: error: enum values need to be qualified"},
        BadJson{"{ \"foo_table\": [ 1 ] }", "1: 18: error: expecting: string"},
        BadJson{"{ \"vector_foo_int\": { } }",
                "1: 21: error: expecting: [ instead got: {"},
        BadJson{"{ \"foo_struct\": { \"x\": 1 } }",
                "struct: wrong number of initializers: Everything_foo_struct"},
        BadJson{"{ \"foo_string\": \"\\uZZZZ\" }", "escape"},
        BadJson{"{ \"foo_int\": 1",
                "1: 14: error: expecting: , instead got: end of file"},
        BadJson{"{ \"foo_byte\": 300 }", "constant does not fit [-128; 127]"},
        BadJson{"", "error: input file is empty"},
        BadJson{"{ } { }", "1: 5: error: expecting: end of file"},
        BadJson{"{ \"foo_union\": { \"name\": \"x\" } }",
                "1: 32: error: expecting: , instead got: }"}));

// Schemas embedded in a merged configuration went through the object API,
// which drops empty vectors and copies the root table; flatbuffers' parser
// crashes on such a schema unless it is repaired first.
TEST(JsonToFlatbufferTest, ParsesWithASchemaRepackedThroughTheObjectApi) {
  reflection::SchemaT unpacked;
  SchemaOf<Configuration>()->UnPackTo(&unpacked);
  unpacked.services.clear();
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(reflection::Schema::Pack(fbb, &unpacked));
  const reflection::Schema *repacked =
      flatbuffers::GetRoot<reflection::Schema>(fbb.GetBufferPointer());
  ASSERT_EQ(repacked->services(), nullptr);

  const Result<flatbuffers::DetachedBuffer> parsed = JsonToFlatbuffer(
      repacked, R"({"channels": [{"name": "/a", "type": "T"}]})");
  ASSERT_TRUE(parsed.has_value()) << parsed.error();
  const Configuration *config =
      flatbuffers::GetRoot<Configuration>(parsed->data());
  ASSERT_EQ(config->channels()->size(), 1u);
  EXPECT_EQ(config->channels()->Get(0)->name()->string_view(), "/a");
}

// Every field type, printed with every option the tools use, must match the
// output the printer gave before it was rewritten to write straight into one
// buffer (testdata/json_printer_golden.txt, made by the old printer): log_cat
// output is compared across versions, and jq scripts depend on it.
TEST(JsonToFlatbufferTest, EveryFieldTypeMatchesGolden) {
  const std::string inner =
      R"({ "foo_bool": true, "foo_byte": -128, "foo_ubyte": 255,
      "foo_short": -32768, "foo_ushort": 65535, "foo_int": -2147483648,
      "foo_uint": 4294967295, "foo_long": -9223372036854775807,
      "foo_ulong": 18446744073709551615, "foo_float": 0.1,
      "foo_double": -1e-300, "foo_string": "q\"b\\s/\n\t\u0001\u00e9",
      "foo_enum": 9, "foo_flags": "A C",
      "foo_struct": { "x": 1.5, "y": -0.0, "tag": -3, "ids": [ 1, -2, 3 ] },
      "foo_nested_struct": { "where": { "x": inf, "y": nan, "tag": 0,
        "ids": [ 0, 0, 2147483647 ] }, "valid": true },
      "foo_table": { "name": "", "value": 5 },
      "foo_union_type": "Alias", "foo_union": { "value": -1 },
      "vector_foo_bool": [ true, false ], "vector_foo_byte": [ -1, 127 ],
      "vector_foo_ubyte": [ 0, 9, 10, 99, 100, 255 ],
      "vector_foo_short": [ -1, 2 ], "vector_foo_ushort": [ 1, 65535 ],
      "vector_foo_int": [ -5, 6, 0 ], "vector_foo_uint": [ 4294967295 ],
      "vector_foo_long": [ -9223372036854775807, 1 ],
      "vector_foo_ulong": [ 18446744073709551615 ],
      "vector_foo_float": [ 1.5, nan, -inf, 3.4028235e38, 1e-45, -0.0 ],
      "vector_foo_double": [ 0.25, 1e-10, 1.7976931348623157e308, 5e-324,
        -nan, 123456789.125 ],
      "vector_foo_string": [ "a", "", "c\u007f" ],
      "vector_foo_enum": [ "None", "Float", 4 ],
      "vector_foo_struct": [ { "x": 1, "y": 2, "tag": 3, "ids": [ 4, 5, 6 ] },
        { "x": -1, "y": -2, "tag": -3, "ids": [ -4, -5, -6 ] } ],
      "vector_foo_table": [ { "name": "a" }, { }, { "value": 2 } ],
      "vector_foo_union_type": [ "Other", "Inner", "Alias" ],
      "vector_foo_union": [ { "id": 1 }, { "name": "b" }, { } ],
      "default_int": 42 })";
  // The outer table has an unnamed bit combination in foo_flags and the
  // inner one nested in it.
  std::string outer = inner;
  const std::string flags = R"("foo_flags": "A C")";
  outer.replace(outer.find(flags), flags.size(), R"("foo_flags": 9)");
  const std::string json =
      outer.substr(0, outer.size() - 1) + R"(, "nested": )" + inner + " }";
  Result<flatbuffers::DetachedBuffer> raw =
      JsonToFlatbuffer(SchemaOf<Everything>(), json);
  ASSERT_TRUE(raw.has_value()) << raw.error().message();
  const std::vector<std::pair<std::string, JsonOptions>> cases = {
      {"single line", {}},
      {"multi line", {.multi_line = true}},
      {"multi line, 80 columns", {.multi_line = true, .max_multi_line = 80}},
      {"hex", {.use_hex = true}},
      {"vectors of at most 2", {.max_vector_size = 2}},
      {"multi line, hex, vectors of at most 3",
       {.multi_line = true,
        .max_vector_size = 3,
        .max_multi_line = 40,
        .use_hex = true}},
  };
  std::string printed;
  for (const auto &[name, options] : cases) {
    printed += "=== " + name + "\n" +
               FlatbufferToJson(SchemaOf<Everything>(), raw->data(), options) +
               "\n";
    // The appending form writes the same after what is already there.
    std::string appended = "prefix";
    AppendFlatbufferToJson(&appended, SchemaOf<Everything>(), raw->data(),
                           options);
    EXPECT_EQ(appended, "prefix" + FlatbufferToJson(SchemaOf<Everything>(),
                                                    raw->data(), options));
  }
  if (const char *out = getenv("AOS_WRITE_JSON_GOLDEN")) {
    std::ofstream(out) << printed;
  }
  std::ifstream golden(AOS_JSON_PRINTER_GOLDEN);
  const std::string expected(std::istreambuf_iterator<char>(golden), {});
  ASSERT_FALSE(expected.empty()) << AOS_JSON_PRINTER_GOLDEN;
  EXPECT_EQ(printed, expected);
}

}  // namespace
}  // namespace aos::testing
