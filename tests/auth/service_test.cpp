// AuthService against real stores (SQLite; PostgreSQL when WEFT_TEST_PG_URL is set), through
// the real registry and storage plugins.
#include <gtest/gtest.h>

#include <algorithm>

#include "host/auth/auth.hpp"
#include "host/auth/crypto.hpp"
#include "host/auth/jwt.hpp"
#include "host/core/call.hpp"
#include "host/core/json.hpp"
#include "tests/auth/auth_env.hpp"

namespace weft::auth {
namespace {

const std::string kSigningKey = std::string(32, '\x5a') + "test-signing-key";

AuthOptions test_options() {
  AuthOptions o;
  o.pwhash_opslimit = 1;
  o.pwhash_memlimit = 8u << 20;
  o.max_concurrent_hashes = 2;
  return o;
}

class AuthServiceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgresql" && testing::pg_url().empty()) {
      GTEST_SKIP() << "WEFT_TEST_PG_URL not set";
    }
    db_ = std::make_unique<testing::TestStore>(GetParam());
    auto s = db_->open();
    ASSERT_TRUE(s.ok()) << s.error().code << ": " << s.error().message;
    store_ = s.value();
    auth_ = make_service(test_options());
  }
  void TearDown() override {
    auth_.reset();
    store_.reset();
    db_.reset();
  }

  std::unique_ptr<AuthService> make_service(AuthOptions o) {
    return std::make_unique<AuthService>(store_, kSigningKey, std::move(o));
  }

  store::UserRecord make_user(const std::string& email, const std::string& role = "user") {
    auto u = auth_->create_user(email, "password-" + email, role);
    EXPECT_TRUE(u.ok()) << u.error().message;
    return u.ok() ? u.value() : store::UserRecord{};
  }

  TokenPair login(const std::string& email) {
    auto t = auth_->login(email, "password-" + email);
    EXPECT_TRUE(t.ok()) << t.error().message;
    return t.ok() ? t.value() : TokenPair{};
  }

  Principal principal(const std::string& bearer) {
    auto p = auth_->authenticate(bearer);
    EXPECT_TRUE(p.ok()) << p.error().message;
    return p.ok() ? p.value() : Principal{};
  }

  void expect_unauthorized(std::string_view bearer, const std::string& why) {
    auto p = auth_->authenticate(bearer);
    ASSERT_FALSE(p.ok()) << why;
    EXPECT_EQ(p.error().code, "unauthorized") << why;
    // No part of the credential is echoed.
    std::string b(bearer);
    for (size_t i = 0; i + 8 <= b.size(); i += 8) {
      ASSERT_EQ(p.error().message.find(b.substr(i, 8)), std::string::npos) << why;
    }
  }

  // An access token signed with the server's real key, with claims of a real session, for the
  // forgery tests: each one changes exactly one thing.
  Json claims_of(const TokenPair& t) {
    auto parsed =
        jwt::verify(derive_key(kSigningKey, kJwtKeyLabel), t.access_token, {"weft", wall_ms() / 1000, 30});
    EXPECT_TRUE(parsed.ok());
    Json c = Json::object();
    c.set("iss", "weft");
    c.set("sub", parsed->sub);
    c.set("sid", parsed->sid);
    c.set("typ", "access");
    int64_t now = wall_ms() / 1000;
    c.set("iat", now);
    c.set("nbf", now);
    c.set("exp", now + 600);
    return c;
  }
  std::string forge(const Json& claims, std::string_view header = R"({"alg":"HS256","typ":"JWT"})",
                    const std::string& key = derive_key(kSigningKey, kJwtKeyLabel)) {
    return jwt::sign_raw(key, header, claims.dump());
  }

  std::unique_ptr<testing::TestStore> db_;
  std::shared_ptr<store::Store> store_;
  std::unique_ptr<AuthService> auth_;
};

// ---- users -------------------------------------------------------------------------------------

TEST_P(AuthServiceTest, CreateUserValidatesAndNormalizes) {
  auto u = auth_->create_user("Alice@Example.com", "long-enough");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->email, "alice@example.com");
  EXPECT_EQ(u->role, "user");
  EXPECT_EQ(u->tier, "free");
  EXPECT_TRUE(u->password_hash.empty());  // never handed out
  auto stored = store_->get_user(u->id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->password_hash.rfind("$argon2id$", 0), 0u);
  EXPECT_EQ(stored->password_hash.find("long-enough"), std::string::npos);

  auto dup = auth_->create_user("ALICE@example.COM", "long-enough");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, "conflict");

  struct Bad {
    std::string email, password, role, tier, what;
  };
  for (const Bad& b :
       std::vector<Bad>{{"no-at-sign", "long-enough", "user", "free", "email"},
                        {"a b@c.d", "long-enough", "user", "free", "email"},
                        {"x@", "long-enough", "user", "free", "email"},
                        {"bob@example.com", "short", "user", "free", "password"},
                        {"bob@example.com", std::string(1025, 'p'), "user", "free", "password"},
                        {"bob@example.com", "long-enough", "root", "free", "role"},
                        {"bob@example.com", "long-enough", "user", "platinum", "tier"}}) {
    auto r = auth_->create_user(b.email, b.password, b.role, b.tier);
    ASSERT_FALSE(r.ok()) << b.what;
    EXPECT_EQ(r.error().code, "invalid_argument") << b.what;
    EXPECT_NE(r.error().message.find(b.what), std::string::npos) << r.error().message;
  }
  auto ok = auth_->create_user("bob@example.com", "long-enough", "admin", "enterprise");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->role, "admin");
  EXPECT_EQ(ok->tier, "enterprise");
}

TEST_P(AuthServiceTest, LoginAndAuthenticate) {
  auto u = make_user("carol@example.com");
  auto logged_in = auth_->login("CAROL@example.com", "password-carol@example.com");  // email case-insensitive
  ASSERT_TRUE(logged_in.ok()) << logged_in.error().message;
  TokenPair t = logged_in.value();
  EXPECT_FALSE(t.session_id.empty());
  EXPECT_EQ(t.refresh_token.rfind("wrt_" + t.session_id + ".", 0), 0u);
  int64_t now = wall_ms();
  EXPECT_NEAR(static_cast<double>(t.access_expires_at_ms), static_cast<double>(now + 900'000), 5'000);
  EXPECT_NEAR(static_cast<double>(t.refresh_expires_at_ms), static_cast<double>(now + 30LL * 86'400'000),
              5'000);

  Principal p = principal(t.access_token);
  EXPECT_EQ(p.user_id, u.id);
  EXPECT_EQ(p.email, "carol@example.com");
  EXPECT_EQ(p.role, "user");
  EXPECT_EQ(p.tier, "free");
  EXPECT_EQ(p.via, "jwt");
  EXPECT_EQ(p.session_id, t.session_id);
  EXPECT_EQ(p.scopes, std::vector<std::string>{"*"});
  EXPECT_TRUE(p.has_scope("workflows:write"));
  EXPECT_FALSE(p.has_scope("admin"));

  // The stored refresh hash is keyed, not the secret itself.
  auto s = store_->get_session(t.session_id);
  ASSERT_TRUE(s.ok());
  std::string secret = t.refresh_token.substr(t.refresh_token.find('.') + 1);
  EXPECT_EQ(s->refresh_hash, hmac_sha256_hex(derive_key(kSigningKey, kRefreshPepperLabel), secret));
  EXPECT_NE(s->refresh_hash, hmac_sha256_hex(kSigningKey, secret));
}

TEST_P(AuthServiceTest, LoginFailuresLookTheSame) {
  make_user("dave@example.com");
  auto wrong = auth_->login("dave@example.com", "not-the-password");
  auto unknown = auth_->login("nobody@example.com", "not-the-password");
  auto malformed = auth_->login("not an email", "not-the-password");
  for (const auto* r : {&wrong, &unknown, &malformed}) {
    ASSERT_FALSE(r->ok());
    EXPECT_EQ(r->error().code, "invalid_credentials");
  }
  EXPECT_EQ(wrong.error().message, unknown.error().message);
  EXPECT_EQ(wrong.error().message, malformed.error().message);
  EXPECT_EQ(wrong.error().message.find("dave"), std::string::npos);
}

TEST_P(AuthServiceTest, UnknownEmailStillPaysForAHash) {
  // One-sided timing check (load can only make it slower, so it cannot fail spuriously): with a
  // cost that takes well over 10 ms on any machine, an unknown email must not answer faster.
  AuthOptions o = test_options();
  o.pwhash_opslimit = 3;
  o.pwhash_memlimit = 64u << 20;
  auto costly = make_service(o);
  int64_t start = monotonic_ms();
  auto r = costly->login("ghost@example.com", "whatever-password");
  int64_t took = monotonic_ms() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_credentials");
  EXPECT_GE(took, 10) << "unknown email answered without a password verification";
}

TEST_P(AuthServiceTest, DisabledUserIsLockedOut) {
  auto u = make_user("erin@example.com");
  TokenPair t = login("erin@example.com");
  auto key = auth_->create_api_key(principal(t.access_token), "k", {}, 0);
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(auth_->authenticate(key->key).ok());

  store::UserUpdate up;
  up.disabled = true;
  ASSERT_TRUE(store_->update_user(u.id, up).ok());

  expect_unauthorized(t.access_token, "access token of a disabled user");
  expect_unauthorized(key->key, "API key of a disabled user");
  auto r = auth_->refresh(t.refresh_token);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "unauthorized");
  auto l = auth_->login("erin@example.com", "password-erin@example.com");
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code, "invalid_credentials");

  up.disabled = false;
  ASSERT_TRUE(store_->update_user(u.id, up).ok());
  EXPECT_TRUE(auth_->login("erin@example.com", "password-erin@example.com").ok());
}

// ---- forged and misused access tokens ------------------------------------------------------------

TEST_P(AuthServiceTest, ForgedAccessTokensAreRejected) {
  make_user("frank@example.com");
  TokenPair t = login("frank@example.com");
  Json good = claims_of(t);
  // Control: a correctly forged token (right key, right claims) is accepted, so each rejection
  // below is caused by its one defect.
  ASSERT_TRUE(auth_->authenticate(forge(good)).ok());

  expect_unauthorized(
      base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + base64url_encode(good.dump()) + ".",
      "alg none, unsigned");
  expect_unauthorized(forge(good, R"({"alg":"none","typ":"JWT"})"), "alg none");
  expect_unauthorized(forge(good, R"({"alg":"HS512","typ":"JWT"})"), "alg HS512");
  expect_unauthorized(forge(good, R"({"alg":"RS256","typ":"JWT"})"), "alg RS256");
  expect_unauthorized(forge(good, R"({"alg":"HS256","typ":"JWT"})", std::string(48, 'w')), "wrong key");
  // The raw signing key is not the JWT key (it is derived).
  expect_unauthorized(forge(good, R"({"alg":"HS256","typ":"JWT"})", kSigningKey), "underived key");

  std::string real = t.access_token;
  size_t d1 = real.find('.'), d2 = real.rfind('.');
  Json escalated = good;
  escalated.set("sub", "01zzzzzzzzzzzzzzzzzzzzzzzz");
  expect_unauthorized(real.substr(0, d1 + 1) + base64url_encode(escalated.dump()) + real.substr(d2),
                      "tampered payload");
  std::string flipped = real;
  flipped[d1 + 3] = flipped[d1 + 3] == 'a' ? 'b' : 'a';
  expect_unauthorized(flipped, "flipped payload byte");

  Json expired = good;
  expired.set("exp", wall_ms() / 1000 - 120);
  expect_unauthorized(forge(expired), "expired");
  Json no_exp = good;
  no_exp.erase("exp");
  expect_unauthorized(forge(no_exp), "missing exp");
  Json future = good;
  future.set("nbf", wall_ms() / 1000 + 3600);
  expect_unauthorized(forge(future), "future nbf");
  Json iss = good;
  iss.set("iss", "not-weft");
  expect_unauthorized(forge(iss), "wrong iss");
  Json typ = good;
  typ.set("typ", "refresh");
  expect_unauthorized(forge(typ), "typ refresh");
  Json other_session = good;
  other_session.set("sid", "01zzzzzzzzzzzzzzzzzzzzzzzz");
  expect_unauthorized(forge(other_session), "unknown session");
  expect_unauthorized("", "empty");
  expect_unauthorized("Bearer " + real, "with scheme");
}

TEST_P(AuthServiceTest, SessionOfAnotherUserIsRejected) {
  make_user("gina@example.com");
  make_user("hank@example.com");
  TokenPair g = login("gina@example.com");
  TokenPair h = login("hank@example.com");
  Json c = claims_of(g);
  c.set("sid", h.session_id);  // gina's sub with hank's live session
  expect_unauthorized(forge(c), "session of another user");
}

TEST_P(AuthServiceTest, IssuerComesFromOptions) {
  AuthOptions o = test_options();
  o.issuer = "weft-eu";
  auto eu = make_service(o);
  make_user("ivan@example.com");
  auto t = eu->login("ivan@example.com", "password-ivan@example.com");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(eu->authenticate(t->access_token).ok());
  expect_unauthorized(t->access_token, "token of another issuer");
}

TEST_P(AuthServiceTest, ExpiredSessionRejectsItsAccessToken) {
  AuthOptions o = test_options();
  o.refresh_ttl_s = 0;  // the session ends the moment it starts
  auto short_lived = make_service(o);
  make_user("judy@example.com");
  auto t = short_lived->login("judy@example.com", "password-judy@example.com");
  ASSERT_TRUE(t.ok());
  auto p = short_lived->authenticate(t->access_token);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, "unauthorized");
  auto r = short_lived->refresh(t->refresh_token);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "unauthorized");
}

TEST_P(AuthServiceTest, RefreshTokenIsNotABearerAndAccessTokenIsNotARefresh) {
  make_user("kate@example.com");
  TokenPair t = login("kate@example.com");
  expect_unauthorized(t.refresh_token, "refresh token as bearer");
  auto r = auth_->refresh(t.access_token);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "unauthorized");
  auto k = auth_->create_api_key(principal(t.access_token), "k", {}, 0);
  ASSERT_TRUE(k.ok());
  auto rk = auth_->refresh(k->key);
  ASSERT_FALSE(rk.ok());
  EXPECT_EQ(rk.error().code, "unauthorized");
  // Both still work for what they are.
  EXPECT_TRUE(auth_->authenticate(t.access_token).ok());
  EXPECT_TRUE(auth_->refresh(t.refresh_token).ok());
}

// ---- refresh rotation --------------------------------------------------------------------------

TEST_P(AuthServiceTest, RefreshRotatesAndReplayRevokesTheSession) {
  make_user("liam@example.com");
  TokenPair t1 = login("liam@example.com");
  auto t2 = auth_->refresh(t1.refresh_token);
  ASSERT_TRUE(t2.ok()) << t2.error().message;
  EXPECT_EQ(t2->session_id, t1.session_id);
  EXPECT_NE(t2->refresh_token, t1.refresh_token);
  EXPECT_NE(t2->access_token, t1.access_token);
  EXPECT_TRUE(auth_->authenticate(t2->access_token).ok());

  auto t3 = auth_->refresh(t2->refresh_token);
  ASSERT_TRUE(t3.ok());
  EXPECT_TRUE(auth_->authenticate(t3->access_token).ok());

  // Replay of the token rotated away one step ago: the whole session dies.
  auto replay = auth_->refresh(t2->refresh_token);
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.error().code, "unauthorized");
  auto s = store_->get_session(t1.session_id);
  ASSERT_TRUE(s.ok());
  EXPECT_NE(s->revoked_at_ms, 0);
  expect_unauthorized(t3->access_token, "access token of the revoked session");
  auto after = auth_->refresh(t3->refresh_token);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, "unauthorized");
}

TEST_P(AuthServiceTest, ForgedRefreshTokensDoNotRevoke) {
  make_user("mona@example.com");
  TokenPair t = login("mona@example.com");
  // Right session id, made-up secret: rejected, and the session stays alive (a guesser who only
  // knows a session id must not be able to log people out).
  std::string forged = "wrt_" + t.session_id + "." + base64url_encode(std::string(32, 'x'));
  auto r = auth_->refresh(forged);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "unauthorized");
  EXPECT_TRUE(auth_->authenticate(t.access_token).ok());
  for (std::string bad : {std::string(""), std::string("wrt_"), "wrt_" + t.session_id,
                          "wrt_01zzzzzzzzzzzzzzzzzzzzzzzz." + base64url_encode(std::string(32, 'x'))}) {
    auto b = auth_->refresh(bad);
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.error().code, "unauthorized");
  }
  EXPECT_TRUE(auth_->refresh(t.refresh_token).ok());
}

TEST_P(AuthServiceTest, LogoutInvalidatesAccessAndRefresh) {
  make_user("nina@example.com");
  TokenPair a = login("nina@example.com");
  TokenPair b = login("nina@example.com");  // another device
  ASSERT_TRUE(auth_->logout(principal(a.access_token)).ok());
  expect_unauthorized(a.access_token, "access token after logout");
  auto r = auth_->refresh(a.refresh_token);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "unauthorized");
  // Only that session.
  EXPECT_TRUE(auth_->authenticate(b.access_token).ok());
  EXPECT_TRUE(auth_->refresh(b.refresh_token).ok());

  auto k = auth_->create_api_key(principal(b.access_token), "k", {}, 0);
  ASSERT_TRUE(k.ok());
  auto by_key = auth_->logout(principal(k->key));
  ASSERT_FALSE(by_key.ok());
  EXPECT_EQ(by_key.error().code, "invalid_argument");
}

TEST_P(AuthServiceTest, PasswordChangeInvalidatesEverySession) {
  make_user("omar@example.com");
  TokenPair a = login("omar@example.com");
  TokenPair b = login("omar@example.com");
  Principal p = principal(a.access_token);

  auto wrong = auth_->change_password(p, "not-the-old-one", "brand-new-password");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, "invalid_credentials");
  auto too_short = auth_->change_password(p, "password-omar@example.com", "short");
  ASSERT_FALSE(too_short.ok());
  EXPECT_EQ(too_short.error().code, "invalid_argument");
  EXPECT_TRUE(auth_->authenticate(a.access_token).ok());  // failed attempts change nothing

  ASSERT_TRUE(auth_->change_password(p, "password-omar@example.com", "brand-new-password").ok());
  expect_unauthorized(a.access_token, "session a after password change");
  expect_unauthorized(b.access_token, "session b after password change");
  EXPECT_FALSE(auth_->refresh(a.refresh_token).ok());
  EXPECT_FALSE(auth_->refresh(b.refresh_token).ok());
  EXPECT_FALSE(auth_->login("omar@example.com", "password-omar@example.com").ok());
  auto fresh = auth_->login("omar@example.com", "brand-new-password");
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(auth_->authenticate(fresh->access_token).ok());
}

TEST_P(AuthServiceTest, LoginRehashesWhenCostChanged) {
  auto u = make_user("pia@example.com");
  auto before = store_->get_user(u.id);
  ASSERT_TRUE(before.ok());
  EXPECT_NE(before->password_hash.find("t=1,"), std::string::npos);
  AuthOptions o = test_options();
  o.pwhash_opslimit = 2;
  auto stronger = make_service(o);
  ASSERT_TRUE(stronger->login("pia@example.com", "password-pia@example.com").ok());
  auto after = store_->get_user(u.id);
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->password_hash.find("t=2,"), std::string::npos) << after->password_hash;
  EXPECT_TRUE(auth_->login("pia@example.com", "password-pia@example.com").ok());
}

// ---- API keys ----------------------------------------------------------------------------------

TEST_P(AuthServiceTest, ApiKeyLifecycle) {
  auto u = make_user("quinn@example.com");
  Principal owner = principal(login("quinn@example.com").access_token);
  auto k = auth_->create_api_key(owner, "ci", {"workflows:read", "executions:write"}, 3600);
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(k->key.rfind("wk_" + k->record.prefix + "_", 0), 0u);
  EXPECT_EQ(k->record.name, "ci");
  EXPECT_EQ(k->record.user_id, u.id);
  EXPECT_NEAR(static_cast<double>(k->record.expires_at_ms), static_cast<double>(wall_ms() + 3'600'000),
              5'000);
  EXPECT_EQ(k->record.hash.find(k->key.substr(16)), std::string::npos);
  EXPECT_EQ(k->record.hash, hmac_sha256_hex(derive_key(kSigningKey, kApiKeyPepperLabel), k->key));

  Principal p = principal(k->key);
  EXPECT_EQ(p.via, "api_key");
  EXPECT_EQ(p.user_id, u.id);
  EXPECT_EQ(p.api_key_id, k->record.id);
  EXPECT_TRUE(p.session_id.empty());
  EXPECT_EQ(p.scopes, (std::vector<std::string>{"workflows:read", "executions:write"}));
  EXPECT_TRUE(p.has_scope("workflows:read"));
  EXPECT_TRUE(p.has_scope("executions:write"));
  EXPECT_FALSE(p.has_scope("workflows:write"));
  EXPECT_FALSE(p.has_scope("keys:manage"));

  auto listed = auth_->list_api_keys(owner);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0).id, k->record.id);

  ASSERT_TRUE(auth_->revoke_api_key(owner, k->record.id).ok());
  expect_unauthorized(k->key, "revoked key");
  EXPECT_TRUE(auth_->revoke_api_key(owner, k->record.id).ok());  // idempotent
}

TEST_P(AuthServiceTest, ApiKeyWithWrongSecretOrShape) {
  make_user("rita@example.com");
  Principal owner = principal(login("rita@example.com").access_token);
  auto k = auth_->create_api_key(owner, "k", {}, 0);
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE(auth_->authenticate(k->key).ok());
  std::string right_prefix_wrong_secret =
      "wk_" + k->record.prefix + "_" + base64url_encode(std::string(32, 's'));
  expect_unauthorized(right_prefix_wrong_secret, "right prefix, wrong secret");
  std::string one_char = k->key;
  one_char.back() = one_char.back() == 'A' ? 'Q' : 'A';
  expect_unauthorized(one_char, "last character changed");
  expect_unauthorized("wk_" + std::string(12, 'z') + "_" + base64url_encode(std::string(32, 's')),
                      "unknown prefix");
  expect_unauthorized(k->key.substr(0, k->key.size() - 1), "truncated");
  expect_unauthorized("wk_", "tag only");
  EXPECT_TRUE(auth_->authenticate(k->key).ok());
}

TEST_P(AuthServiceTest, ExpiredApiKeyIsRejected) {
  make_user("sam@example.com");
  Principal owner = principal(login("sam@example.com").access_token);
  auto k = auth_->create_api_key(owner, "k", {}, 60);
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE(auth_->authenticate(k->key).ok());
  store::ApiKeyUpdate up;
  up.expires_at_ms = wall_ms() - 1;
  ASSERT_TRUE(store_->update_api_key(owner.user_id, k->record.id, up).ok());
  expect_unauthorized(k->key, "expired key");
  auto neg = auth_->create_api_key(owner, "k", {}, -5);
  ASSERT_FALSE(neg.ok());
  EXPECT_EQ(neg.error().code, "invalid_argument");
}

TEST_P(AuthServiceTest, RotationWithOverlap) {
  make_user("tara@example.com");
  Principal owner = principal(login("tara@example.com").access_token);
  auto old_key = auth_->create_api_key(owner, "deploy", {"workflows:read"}, 0);
  ASSERT_TRUE(old_key.ok());
  auto rotated = auth_->rotate_api_key(owner, old_key->record.id, 3600);
  ASSERT_TRUE(rotated.ok()) << rotated.error().message;
  EXPECT_NE(rotated->key, old_key->key);
  EXPECT_EQ(rotated->record.name, "deploy");
  EXPECT_EQ(rotated->record.scopes, std::vector<std::string>{"workflows:read"});
  EXPECT_EQ(rotated->record.expires_at_ms, 0);
  // Both work during the overlap.
  EXPECT_TRUE(auth_->authenticate(old_key->key).ok());
  EXPECT_EQ(principal(rotated->key).scopes, std::vector<std::string>{"workflows:read"});
  auto old_rec = store_->get_api_key(owner.user_id, old_key->record.id);
  ASSERT_TRUE(old_rec.ok());
  EXPECT_EQ(old_rec->replaced_by, rotated->record.id);
  EXPECT_NEAR(static_cast<double>(old_rec->expires_at_ms), static_cast<double>(wall_ms() + 3'600'000), 5'000);
  // The overlap ends at expires_at_ms.
  store::ApiKeyUpdate up;
  up.expires_at_ms = wall_ms() - 1;
  ASSERT_TRUE(store_->update_api_key(owner.user_id, old_key->record.id, up).ok());
  expect_unauthorized(old_key->key, "rotated-out key after the overlap");
  EXPECT_TRUE(auth_->authenticate(rotated->key).ok());
  // A key is rotated once; rotate its successor instead.
  auto twice = auth_->rotate_api_key(owner, old_key->record.id, 0);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, "conflict");
}

TEST_P(AuthServiceTest, RotationWithoutOverlapStopsTheOldKeyAtOnce) {
  make_user("uma@example.com");
  Principal owner = principal(login("uma@example.com").access_token);
  auto old_key = auth_->create_api_key(owner, "k", {}, 7200);
  ASSERT_TRUE(old_key.ok());
  auto rotated = auth_->rotate_api_key(owner, old_key->record.id, 0);
  ASSERT_TRUE(rotated.ok());
  expect_unauthorized(old_key->key, "rotated-out key, overlap 0");
  EXPECT_TRUE(auth_->authenticate(rotated->key).ok());
  // The successor keeps the original lifetime, from now.
  EXPECT_NEAR(static_cast<double>(rotated->record.expires_at_ms), static_cast<double>(wall_ms() + 7'200'000),
              5'000);
  auto revoked = auth_->create_api_key(owner, "k2", {}, 0);
  ASSERT_TRUE(revoked.ok());
  ASSERT_TRUE(auth_->revoke_api_key(owner, revoked->record.id).ok());
  auto r = auth_->rotate_api_key(owner, revoked->record.id, -1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "conflict");
}

TEST_P(AuthServiceTest, KeysOfAnotherUserAreNotFound) {
  make_user("vera@example.com");
  make_user("walt@example.com");
  Principal vera = principal(login("vera@example.com").access_token);
  Principal walt = principal(login("walt@example.com").access_token);
  auto k = auth_->create_api_key(vera, "k", {}, 0);
  ASSERT_TRUE(k.ok());
  auto revoke = auth_->revoke_api_key(walt, k->record.id);
  ASSERT_FALSE(revoke.ok());
  EXPECT_EQ(revoke.error().code, "not_found");
  auto rotate = auth_->rotate_api_key(walt, k->record.id, 0);
  ASSERT_FALSE(rotate.ok());
  EXPECT_EQ(rotate.error().code, "not_found");
  auto listed = auth_->list_api_keys(walt);
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  EXPECT_TRUE(auth_->authenticate(k->key).ok());  // untouched
  auto missing = auth_->revoke_api_key(vera, "01zzzzzzzzzzzzzzzzzzzzzzzz");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "not_found");
}

TEST_P(AuthServiceTest, ScopesAreValidatedAndBounded) {
  make_user("xena@example.com");
  make_user("yuri@example.com", "admin");
  Principal user = principal(login("xena@example.com").access_token);
  Principal admin = principal(login("yuri@example.com").access_token);

  auto unknown = auth_->create_api_key(user, "k", {"workflows:delete"}, 0);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, "invalid_argument");
  for (const auto& scopes : std::vector<std::vector<std::string>>{{"admin"}, {"*", "admin"}}) {
    auto r = auth_->create_api_key(user, "k", scopes, 0);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "forbidden");
  }
  auto all = auth_->create_api_key(user, "k", {}, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->record.scopes, std::vector<std::string>{"*"});
  EXPECT_FALSE(principal(all->key).has_scope("admin"));

  auto admin_key = auth_->create_api_key(admin, "ops", {"admin"}, 0);
  ASSERT_TRUE(admin_key.ok()) << admin_key.error().message;
  Principal ap = principal(admin_key->key);
  EXPECT_TRUE(ap.has_scope("admin"));
  EXPECT_FALSE(ap.has_scope("workflows:read"));
  // Demoting the user takes the admin scope away from the key too.
  ASSERT_TRUE(auth_->set_role(admin.user_id, "user").ok());
  EXPECT_FALSE(principal(admin_key->key).has_scope("admin"));

  // A key can manage keys only with keys:manage, and only grant what it holds.
  auto reader = auth_->create_api_key(user, "r", {"workflows:read"}, 0);
  ASSERT_TRUE(reader.ok());
  auto by_reader = auth_->create_api_key(principal(reader->key), "x", {"workflows:read"}, 0);
  ASSERT_FALSE(by_reader.ok());
  EXPECT_EQ(by_reader.error().code, "forbidden");
  auto manager = auth_->create_api_key(user, "m", {"keys:manage", "workflows:read"}, 0);
  ASSERT_TRUE(manager.ok());
  Principal mp = principal(manager->key);
  EXPECT_TRUE(auth_->create_api_key(mp, "x", {"workflows:read"}, 0).ok());
  auto escalate = auth_->create_api_key(mp, "x", {"workflows:write"}, 0);
  ASSERT_FALSE(escalate.ok());
  EXPECT_EQ(escalate.error().code, "forbidden");
  auto star = auth_->create_api_key(mp, "x", {}, 0);
  ASSERT_FALSE(star.ok());
  EXPECT_EQ(star.error().code, "forbidden");
  auto rotate_wider = auth_->rotate_api_key(mp, all->record.id, 0);
  ASSERT_FALSE(rotate_wider.ok());
  EXPECT_EQ(rotate_wider.error().code, "forbidden");
  EXPECT_TRUE(auth_->authenticate(all->key).ok());
}

TEST_P(AuthServiceTest, LastUsedIsWrittenAtMostOnceAMinute) {
  make_user("zoe@example.com");
  Principal owner = principal(login("zoe@example.com").access_token);
  auto k = auth_->create_api_key(owner, "k", {}, 0);
  ASSERT_TRUE(k.ok());
  auto stored = [&] { return store_->get_api_key(owner.user_id, k->record.id).value().last_used_at_ms; };
  EXPECT_EQ(stored(), 0);
  ASSERT_TRUE(auth_->authenticate(k->key).ok());
  int64_t first = stored();
  EXPECT_GT(first, 0);

  store::ApiKeyUpdate up;
  up.last_used_at_ms = wall_ms() - 30'000;
  ASSERT_TRUE(store_->update_api_key(owner.user_id, k->record.id, up).ok());
  ASSERT_TRUE(auth_->authenticate(k->key).ok());
  EXPECT_EQ(stored(), *up.last_used_at_ms);  // 30 s ago: not written again

  up.last_used_at_ms = wall_ms() - 61'000;
  ASSERT_TRUE(store_->update_api_key(owner.user_id, k->record.id, up).ok());
  ASSERT_TRUE(auth_->authenticate(k->key).ok());
  EXPECT_GT(stored(), *up.last_used_at_ms);
}

// ---- admin -------------------------------------------------------------------------------------

TEST_P(AuthServiceTest, BootstrapAdminOnlyOnAnEmptyStore) {
  std::string generated;
  auto admin = auth_->bootstrap_admin("Root@Example.com", &generated);
  ASSERT_TRUE(admin.ok()) << admin.error().message;
  EXPECT_EQ(admin->role, "admin");
  EXPECT_EQ(admin->email, "root@example.com");
  EXPECT_GE(generated.size(), 24u);
  auto t = auth_->login("root@example.com", generated);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(principal(t->access_token).has_scope("admin"));

  std::string chosen = "chosen-password";
  auto again = auth_->bootstrap_admin("other@example.com", &chosen);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "conflict");
  EXPECT_FALSE(auth_->login("other@example.com", "chosen-password").ok());
}

TEST_P(AuthServiceTest, BootstrapAdminWithAGivenPassword) {
  std::string chosen = "chosen-password";
  auto admin = auth_->bootstrap_admin("root@example.com", &chosen);
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(chosen, "chosen-password");
  EXPECT_TRUE(auth_->login("root@example.com", "chosen-password").ok());
  EXPECT_FALSE(auth_->bootstrap_admin("x@example.com", nullptr).ok());
}

TEST_P(AuthServiceTest, BootstrapAdminValidates) {
  std::string pw;
  auto bad = auth_->bootstrap_admin("not-an-email", &pw);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "invalid_argument");
  EXPECT_TRUE(pw.empty());  // nothing generated is handed out on failure
  std::string short_pw = "short";
  EXPECT_FALSE(auth_->bootstrap_admin("root@example.com", &short_pw).ok());
}

TEST_P(AuthServiceTest, AdminUserManagement) {
  auto a = make_user("a@example.com");
  auto b = make_user("b@example.com");
  auto listed = auth_->list_users(10, "");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  for (const auto& u : *listed) EXPECT_TRUE(u.password_hash.empty());
  auto page = auth_->list_users(1, std::min(a.id, b.id));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ(page->at(0).id, std::max(a.id, b.id));

  auto tier = auth_->set_tier(a.id, "pro");
  ASSERT_TRUE(tier.ok());
  EXPECT_EQ(tier->tier, "pro");
  EXPECT_TRUE(tier->password_hash.empty());
  EXPECT_EQ(principal(login("a@example.com").access_token).tier, "pro");
  auto bad_tier = auth_->set_tier(a.id, "gold");
  ASSERT_FALSE(bad_tier.ok());
  EXPECT_EQ(bad_tier.error().code, "invalid_argument");
  auto role = auth_->set_role(b.id, "admin");
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(role->role, "admin");
  EXPECT_TRUE(principal(login("b@example.com").access_token).is_admin());
  EXPECT_EQ(auth_->set_role(b.id, "superuser").error().code, "invalid_argument");
  EXPECT_EQ(auth_->set_tier("01zzzzzzzzzzzzzzzzzzzzzzzz", "pro").error().code, "not_found");
}

TEST_P(AuthServiceTest, ShortSigningKeyIsAProgrammingError) {
  EXPECT_THROW({ AuthService s(store_, std::string(31, 'k'), test_options()); }, std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Backends, AuthServiceTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace weft::auth
