#include "host/core/json.hpp"

#include <gtest/gtest.h>

using weft::Json;

TEST(Json, RoundTripsAllTypes) {
  auto r = Json::parse(R"({"a":1,"b":2.5,"c":"x\u00e9","d":[true,false,null],"e":{"f":-9007199254740993}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Json& j = *r;
  EXPECT_EQ(j["a"].as_int(), 1);
  EXPECT_TRUE(j["a"].is_int());
  EXPECT_DOUBLE_EQ(j["b"].as_double(), 2.5);
  EXPECT_EQ(j["c"].as_string(), "x\xc3\xa9");
  EXPECT_EQ(j["d"].size(), 3u);
  EXPECT_EQ(j["e"]["f"].as_int(), -9007199254740993LL);
  auto again = Json::parse(j.dump());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, j);
  EXPECT_EQ(j.dump(), R"({"a":1,"b":2.5,"c":"xé","d":[true,false,null],"e":{"f":-9007199254740993}})");
}

TEST(Json, KeepsObjectOrderAndReplacesOnSet) {
  Json o = Json::object();
  o.set("z", 1);
  o.set("a", 2);
  o.set("z", 3);
  EXPECT_EQ(o.dump(), R"({"z":3,"a":2})");
  EXPECT_TRUE(o.erase("z"));
  EXPECT_EQ(o.dump(), R"({"a":2})");
}

TEST(Json, CopyOnWriteDoesNotAffectCopies) {
  Json a = Json::object();
  a.set("k", Json::array({1, 2}));
  Json b = a;
  b.set("k", "changed");
  EXPECT_EQ(a["k"].size(), 2u);
  EXPECT_EQ(b["k"].as_string(), "changed");
}

TEST(Json, RejectsDeepNestingWithoutCrashing) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  auto r = Json::parse(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "json_too_deep");
}

TEST(Json, RejectsInvalidUtf8NulAndDuplicates) {
  auto bad = Json::parse(std::string("{\"a\":\"\xff\xfe\"}"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "json_invalid_utf8");
  auto nul = Json::parse(std::string("{\"a\":1}\0", 8));
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.error().code, "json_nul_byte");
  auto dup = Json::parse(R"({"a":1,"a":2})");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, "json_duplicate_key");
  std::string big = "{";
  for (int i = 0; i < 100; ++i) big += "\"k" + std::to_string(i) + "\":1,";
  big += "\"k7\":2}";
  auto dup2 = Json::parse(big);
  ASSERT_FALSE(dup2.ok());
  EXPECT_EQ(dup2.error().code, "json_duplicate_key");
}

TEST(Json, ReportsSyntaxErrorsWithOffset) {
  auto r = Json::parse("{\"a\": }");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "json_parse_error");
  EXPECT_NE(r.error().message.find("offset 6"), std::string::npos) << r.error().message;
  EXPECT_FALSE(Json::parse("").ok());
  EXPECT_FALSE(Json::parse("[1,2").ok());
  EXPECT_FALSE(Json::parse("1 2").ok());
}

TEST(Json, SizeLimit) {
  weft::JsonParseLimits lim;
  lim.max_bytes = 4;
  auto r = Json::parse("[1,2,3]", lim);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "json_too_large");
}

TEST(Json, PathLookup) {
  auto r = Json::parse(R"({"a":{"b":[{"c":7}]}})");
  ASSERT_TRUE(r.ok());
  const Json* c = weft::json_path(*r, "a.b.0.c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->as_int(), 7);
  EXPECT_EQ(weft::json_path(*r, "a.b.1.c"), nullptr);
  EXPECT_EQ(weft::json_path(*r, "a.x"), nullptr);
}

TEST(Json, NonFiniteDoublesSerializeAsNull) {
  Json a = Json::array({Json(1.0 / 0.0), Json(0.5)});
  EXPECT_EQ(a.dump(), "[null,0.5]");
}
