// Unit tests of example.greet through the SDK's fake host (no Weft host involved).
#include <weft/testing/fake_host.hpp>

#include <gtest/gtest.h>

namespace {

class GreetTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(host.load_linked(), WEFT_OK) << host.load_error(); }
  weft::testing::FakeHost host;
};

TEST_F(GreetTest, RegistersTheNodeType) {
  ASSERT_EQ(host.node_types().size(), 1u);
  const auto* t = host.find("example.greet");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type_version, 1u);
  EXPECT_NE(t->schema_json.find("\"display_name\": \"Greet\""), std::string::npos);
  EXPECT_TRUE(host.registration_problems().empty());
}

TEST_F(GreetTest, GreetsTheNameFromTheInput) {
  auto r = host.execute("example.greet", R"({"greeting": "Hello"})", R"({"main": {"name": "Ada"}})");
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output("main"), R"({"message":"Hello, Ada!"})");
  EXPECT_TRUE(r.violations.empty());
  ASSERT_EQ(r.logs.size(), 1u);
  EXPECT_EQ(r.logs[0].message, "greeted Ada");
}

TEST_F(GreetTest, FallsBackToTheParameterThenToTheWorld) {
  EXPECT_EQ(host.execute("example.greet", R"({"name": "Bob", "shout": true})", "{}").output(),
            R"({"message":"HELLO, BOB!"})");
  EXPECT_EQ(host.execute("example.greet", "{}", "{}").output(), R"({"message":"Hello, world!"})");
}

TEST_F(GreetTest, RejectsAWrongParameterType) {
  auto r = host.execute("example.greet", R"({"greeting": 42})", "{}");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  EXPECT_EQ(r.error_code(), "invalid_parameter");
  EXPECT_NE(r.error_message().find("'greeting'"), std::string::npos) << r.error_message();
  EXPECT_TRUE(r.violations.empty());
}

TEST_F(GreetTest, RejectsANonStringName) {
  auto r = host.execute("example.greet", "{}", R"({"main": {"name": 7}})");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  EXPECT_EQ(r.error_code(), "invalid_name");
}

}  // namespace
