// The access-token codec on its own: every token below is signed with the right key unless the
// test is about the signature, so each rejection comes from the one defect under test.
#include <gtest/gtest.h>

#include "host/auth/auth.hpp"
#include "host/auth/jwt.hpp"
#include "host/core/json.hpp"

namespace weft::auth::jwt {
namespace {

constexpr int64_t kNow = 1'700'000'000;
const std::string kKey(32, 'K');
constexpr std::string_view kHs256Header = R"({"alg":"HS256","typ":"JWT"})";

VerifyOptions opts() {
  VerifyOptions o;
  o.issuer = "weft";
  o.now_s = kNow;
  o.skew_s = 30;
  return o;
}

Json good_claims() {
  Json p = Json::object();
  p.set("iss", "weft");
  p.set("sub", "user1");
  p.set("sid", "sess1");
  p.set("typ", "access");
  p.set("iat", kNow);
  p.set("nbf", kNow);
  p.set("exp", kNow + 900);
  p.set("jti", "j1");
  return p;
}

std::string token_with(const Json& payload, std::string_view header = kHs256Header) {
  return sign_raw(kKey, header, payload.dump());
}

void expect_rejected(const std::string& token, const std::string& reason_part) {
  auto r = verify(kKey, token, opts());
  ASSERT_FALSE(r.ok()) << "accepted: " << reason_part;
  EXPECT_EQ(r.error().code, "unauthorized");
  EXPECT_NE(r.error().message.find(reason_part), std::string::npos) << r.error().message;
  // The message never echoes the token or any part of it.
  for (size_t i = 0; i + 8 <= token.size(); i += 8) {
    EXPECT_EQ(r.error().message.find(token.substr(i, 8)), std::string::npos);
  }
}

TEST(Jwt, SignVerifyRoundTrip) {
  AccessClaims c;
  c.iss = "weft";
  c.sub = "user1";
  c.sid = "sess1";
  c.iat = kNow;
  c.nbf = kNow;
  c.exp = kNow + 60;
  c.jti = "abc";
  std::string t = sign(kKey, c);
  EXPECT_EQ(std::count(t.begin(), t.end(), '.'), 2);
  auto r = verify(kKey, t, opts());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->sub, "user1");
  EXPECT_EQ(r->sid, "sess1");
  EXPECT_EQ(r->typ, "access");
  EXPECT_EQ(r->exp, kNow + 60);
  EXPECT_EQ(r->jti, "abc");
  // The header is exactly the pinned one.
  EXPECT_EQ(base64url_decode(t.substr(0, t.find('.'))), std::string(kHs256Header));
}

TEST(Jwt, ControlTokenIsAccepted) {
  // The baseline the rejection tests below modify.
  ASSERT_TRUE(verify(kKey, token_with(good_claims()), opts()).ok());
}

TEST(Jwt, AlgNoneRejected) {
  std::string header = R"({"alg":"none","typ":"JWT"})";
  // Unsigned, as an attacker would send it...
  std::string unsigned_token = base64url_encode(header) + "." + base64url_encode(good_claims().dump()) + ".";
  expect_rejected(unsigned_token, "malformed");
  // ...and even with a valid HMAC over it: the algorithm itself is refused.
  expect_rejected(token_with(good_claims(), header), "algorithm");
  expect_rejected(token_with(good_claims(), R"({"alg":"None","typ":"JWT"})"), "algorithm");
}

TEST(Jwt, OtherAlgorithmsRejected) {
  expect_rejected(token_with(good_claims(), R"({"alg":"HS512","typ":"JWT"})"), "algorithm");
  expect_rejected(token_with(good_claims(), R"({"alg":"RS256","typ":"JWT"})"), "algorithm");
  expect_rejected(token_with(good_claims(), R"({"alg":"hs256","typ":"JWT"})"), "algorithm");
  expect_rejected(token_with(good_claims(), R"({"typ":"JWT"})"), "algorithm");
  expect_rejected(token_with(good_claims(), R"({"alg":["HS256"],"typ":"JWT"})"), "algorithm");
  // Duplicate keys: a parser that kept the last one would see HS256.
  expect_rejected(token_with(good_claims(), R"({"alg":"none","alg":"HS256"})"), "header");
  expect_rejected(token_with(good_claims(), R"({"alg":"HS256","crit":["exp"]})"), "critical");
  expect_rejected(token_with(good_claims(), R"({"alg":"HS256","typ":"JWE"})"), "header");
  expect_rejected(token_with(good_claims(), "[1]"), "header");
}

TEST(Jwt, WrongSignatureRejected) {
  std::string other = sign_raw(std::string(32, 'X'), kHs256Header, good_claims().dump());
  expect_rejected(other, "signature");
  // Truncated and swapped signatures.
  std::string good = token_with(good_claims());
  std::string truncated = good.substr(0, good.size() - 4);
  EXPECT_FALSE(verify(kKey, truncated, opts()).ok());
  std::string flipped = good;
  flipped.back() = flipped.back() == 'A' ? 'Q' : 'A';
  EXPECT_FALSE(verify(kKey, flipped, opts()).ok());
}

TEST(Jwt, TamperedPayloadRejected) {
  std::string good = token_with(good_claims());
  Json evil = good_claims();
  evil.set("sub", "admin");
  size_t d1 = good.find('.'), d2 = good.rfind('.');
  std::string tampered = good.substr(0, d1 + 1) + base64url_encode(evil.dump()) + good.substr(d2);
  expect_rejected(tampered, "signature");
  // Same claims, re-encoded with different whitespace: other bytes, so not the signed token.
  std::string spaced =
      good.substr(0, d1 + 1) + base64url_encode(" " + good_claims().dump()) + good.substr(d2);
  expect_rejected(spaced, "signature");
}

TEST(Jwt, MalformedShapesRejected) {
  std::string good = token_with(good_claims());
  expect_rejected("", "malformed");
  expect_rejected("abc", "malformed");
  expect_rejected("a.b", "malformed");
  expect_rejected(good + ".x", "malformed");
  expect_rejected("." + good, "malformed");
  expect_rejected(good.substr(0, good.rfind('.') + 1), "malformed");
  expect_rejected(std::string(5000, 'a'), "malformed");
  // A payload that is not JSON, correctly signed.
  expect_rejected(sign_raw(kKey, kHs256Header, "not json"), "claims");
  expect_rejected(sign_raw(kKey, kHs256Header, "[]"), "claims");
}

TEST(Jwt, ExpiryRequiredAndEnforced) {
  Json c = good_claims();
  c.set("exp", kNow - 31);  // beyond the 30 s skew
  expect_rejected(token_with(c), "expired");
  c.set("exp", kNow - 30);
  expect_rejected(token_with(c), "expired");
  c.set("exp", kNow - 29);  // within the skew
  EXPECT_TRUE(verify(kKey, token_with(c), opts()).ok());

  Json missing = good_claims();
  missing.erase("exp");
  expect_rejected(token_with(missing), "expiry");
  Json text = good_claims();
  text.set("exp", std::to_string(kNow + 900));
  expect_rejected(token_with(text), "time claim");
  Json real = good_claims();
  real.set("exp", static_cast<double>(kNow) + 900.5);
  expect_rejected(token_with(real), "time claim");
}

TEST(Jwt, FutureNotBeforeRejected) {
  Json c = good_claims();
  c.set("nbf", kNow + 31);
  expect_rejected(token_with(c), "not valid yet");
  c.set("nbf", kNow + 30);
  EXPECT_TRUE(verify(kKey, token_with(c), opts()).ok());
  Json iat = good_claims();
  iat.set("iat", kNow + 3600);
  expect_rejected(token_with(iat), "future");
}

TEST(Jwt, WrongIssuerRejected) {
  Json c = good_claims();
  c.set("iss", "someone-else");
  expect_rejected(token_with(c), "issuer");
  c.erase("iss");
  expect_rejected(token_with(c), "issuer");
}

TEST(Jwt, TypeMustBeAccess) {
  Json c = good_claims();
  c.set("typ", "refresh");
  expect_rejected(token_with(c), "not an access token");
  c.erase("typ");
  expect_rejected(token_with(c), "not an access token");
}

TEST(Jwt, SubjectAndSessionRequired) {
  Json c = good_claims();
  c.erase("sid");
  expect_rejected(token_with(c), "claims");
  Json s = good_claims();
  s.set("sub", "");
  expect_rejected(token_with(s), "claims");
}

}  // namespace
}  // namespace weft::auth::jwt
