// Input validation, credential formats and scopes.
#include <gtest/gtest.h>

#include "host/auth/auth.hpp"
#include "host/auth/formats.hpp"

namespace weft::auth {
namespace {

TEST(Email, AcceptsAndLowerCases) {
  auto r = normalize_email("Alice.Smith+tag@Example.COM");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "alice.smith+tag@example.com");
  EXPECT_TRUE(normalize_email("a@b").ok());
  std::string longest = std::string(64, 'a') + "@" + std::string(189, 'b');
  ASSERT_EQ(longest.size(), 254u);
  EXPECT_TRUE(normalize_email(longest).ok());
}

TEST(Email, RejectsBadShapes) {
  for (std::string bad : {"", "plain", "@example.com", "alice@", "a@@b.com", "a@b@c.com", "a b@c.com",
                          "a@b .com", " a@b.com", "a@b.com ", "a\t@b.com", "a@.b.com", "a@b.com.", "a@b..com",
                          "al\xc3\xaf"
                          "ce@b.com"}) {
    auto r = normalize_email(bad);
    EXPECT_FALSE(r.ok()) << "accepted '" << bad << "'";
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, "invalid_argument");
    }
  }
  EXPECT_FALSE(normalize_email(std::string("a\0@b.com", 8)).ok());
  EXPECT_FALSE(normalize_email(std::string("a@b\x7f.com")).ok());
  EXPECT_FALSE(normalize_email(std::string(65, 'a') + "@b.com").ok());
  std::string too_long = std::string(64, 'a') + "@" + std::string(190, 'b');
  EXPECT_FALSE(normalize_email(too_long).ok());
}

TEST(Password, LengthBounds) {
  EXPECT_FALSE(check_password("", 8, 16).ok());
  EXPECT_FALSE(check_password("1234567", 8, 16).ok());
  EXPECT_TRUE(check_password("12345678", 8, 16).ok());
  EXPECT_TRUE(check_password(std::string(16, 'x'), 8, 16).ok());
  auto r = check_password(std::string(17, 'x'), 8, 16);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_argument");
  EXPECT_NE(r.error().message.find("longer"), std::string::npos);
}

TEST(RoleTier, OnlyKnownValues) {
  EXPECT_TRUE(is_valid_role("user"));
  EXPECT_TRUE(is_valid_role("admin"));
  EXPECT_FALSE(is_valid_role("Admin"));
  EXPECT_FALSE(is_valid_role("root"));
  EXPECT_FALSE(is_valid_role(""));
  EXPECT_TRUE(is_valid_tier("free"));
  EXPECT_TRUE(is_valid_tier("pro"));
  EXPECT_TRUE(is_valid_tier("enterprise"));
  EXPECT_FALSE(is_valid_tier("gold"));
  EXPECT_FALSE(is_valid_tier(""));
}

TEST(KeyName, Bounds) {
  EXPECT_TRUE(check_key_name("").ok());
  EXPECT_TRUE(check_key_name("ci deploy key").ok());
  EXPECT_FALSE(check_key_name(std::string(129, 'n')).ok());
  EXPECT_FALSE(check_key_name("a\nb").ok());
}

TEST(RefreshToken, FormatRoundTrip) {
  std::string secret = new_secret();
  EXPECT_EQ(secret.size(), 43u);
  std::string t = make_refresh_token("01hx0abc", secret);
  EXPECT_EQ(t, "wrt_01hx0abc." + secret);
  auto p = parse_refresh_token(t);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->session_id, "01hx0abc");
  EXPECT_EQ(p->secret, secret);
}

TEST(RefreshToken, RejectsOtherShapes) {
  std::string secret = new_secret();
  EXPECT_FALSE(parse_refresh_token("").has_value());
  EXPECT_FALSE(parse_refresh_token("wrt_").has_value());
  EXPECT_FALSE(parse_refresh_token("wrt_." + secret).has_value());
  EXPECT_FALSE(parse_refresh_token("wrt_abc" + secret).has_value());
  EXPECT_FALSE(parse_refresh_token("wrx_abc." + secret).has_value());
  EXPECT_FALSE(parse_refresh_token("wrt_ABC." + secret).has_value());
  EXPECT_FALSE(parse_refresh_token("wrt_a/c." + secret).has_value());
  EXPECT_FALSE(parse_refresh_token("wrt_abc." + secret.substr(1)).has_value());
  EXPECT_FALSE(parse_refresh_token("wrt_abc." + secret + "A").has_value());
  EXPECT_FALSE(parse_refresh_token("wrt_abc.a." + secret).has_value());
  // An access JWT is not a refresh token.
  EXPECT_FALSE(parse_refresh_token("eyJhbGciOiJIUzI1NiJ9.eyJ9.abc").has_value());
}

TEST(ApiKey, FormatRoundTrip) {
  for (int i = 0; i < 50; ++i) {
    std::string prefix = new_api_key_prefix();
    ASSERT_EQ(prefix.size(), 12u);
    for (char c : prefix) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) << prefix;
    std::string key = make_api_key(prefix, new_secret());
    EXPECT_EQ(key.substr(0, 3), "wk_");
    auto p = parse_api_key_prefix(key);
    ASSERT_TRUE(p.has_value()) << key;
    EXPECT_EQ(*p, prefix);
  }
  EXPECT_NE(new_api_key_prefix(), new_api_key_prefix());
}

TEST(ApiKey, RejectsOtherShapes) {
  std::string secret = new_secret();
  EXPECT_FALSE(parse_api_key_prefix("wk_").has_value());
  EXPECT_FALSE(parse_api_key_prefix("wk_abcdefghijkl" + secret).has_value());        // no '_'
  EXPECT_FALSE(parse_api_key_prefix("wk_ABCDEFGHIJKL_" + secret).has_value());       // case
  EXPECT_FALSE(parse_api_key_prefix("wk_abcdefghijk_" + secret + "A").has_value());  // short prefix
  EXPECT_FALSE(parse_api_key_prefix("wk_abcdefghijkl_" + secret.substr(1)).has_value());
  EXPECT_FALSE(parse_api_key_prefix("wk_abcdefghijkl_" + secret + "x").has_value());
  EXPECT_FALSE(parse_api_key_prefix("xk_abcdefghijkl_" + secret).has_value());
  EXPECT_TRUE(parse_api_key_prefix("wk_abcdefghijkl_" + secret).has_value());
}

TEST(Scopes, NormalizeValidatesAndFolds) {
  auto empty = normalize_scopes({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, std::vector<std::string>{"*"});
  auto some = normalize_scopes({"workflows:read", "executions:write", "workflows:read"});
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(*some, (std::vector<std::string>{"workflows:read", "executions:write"}));
  auto star = normalize_scopes({"workflows:read", "*"});
  ASSERT_TRUE(star.ok());
  EXPECT_EQ(*star, std::vector<std::string>{"*"});
  auto bad = normalize_scopes({"workflows:read", "workflows:delete"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "invalid_argument");
  EXPECT_NE(bad.error().message.find("workflows:delete"), std::string::npos);
  for (const auto& s : known_scopes()) EXPECT_TRUE(normalize_scopes({s}).ok()) << s;
}

TEST(Principal, HasScope) {
  Principal user;
  user.role = "user";
  user.scopes = {"*"};
  EXPECT_TRUE(user.has_scope("workflows:read"));
  EXPECT_TRUE(user.has_scope("keys:manage"));
  EXPECT_FALSE(user.has_scope("admin"));  // "*" never makes a user an admin

  Principal admin = user;
  admin.role = "admin";
  EXPECT_TRUE(admin.has_scope("admin"));
  EXPECT_TRUE(admin.has_scope("executions:write"));

  Principal narrow;
  narrow.role = "admin";
  narrow.scopes = {"workflows:read"};
  EXPECT_TRUE(narrow.has_scope("workflows:read"));
  EXPECT_FALSE(narrow.has_scope("workflows:write"));
  EXPECT_FALSE(narrow.has_scope("admin"));  // admin role, but the key does not carry the scope

  Principal demoted;
  demoted.role = "user";
  demoted.scopes = {"admin"};
  EXPECT_FALSE(demoted.has_scope("admin"));

  Principal none;
  none.role = "admin";
  EXPECT_FALSE(none.has_scope("workflows:read"));
}

}  // namespace
}  // namespace weft::auth
