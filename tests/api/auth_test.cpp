// Authentication and authorization at the HTTP edge: the public route list, path tricks, JWT
// and API-key failures, scopes, admin routes, login brute force, mass assignment.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <regex>

#include "host/auth/crypto.hpp"
#include "host/auth/jwt.hpp"
#include "host/core/call.hpp"
#include "host/http/router.hpp"
#include "tests/api/fixture.hpp"

namespace weft::apitest {
namespace {

const char* kMissingId = "01ZZZZZZZZZZZZZZZZZZZZZZZZ";

bool is_public_pattern(const std::string& p) {
  static const std::set<std::string> kPublic = {"/healthz", "/readyz", "/metrics", "/api/openapi.json",
                                                "/api/auth/login", "/api/auth/refresh"};
  return kPublic.count(p) > 0 || p.rfind("/webhook/", 0) == 0;
}

// A concrete path for a route pattern (parameters filled with values that match nothing).
std::string concrete(const std::string& pattern) {
  std::string out;
  for (const auto& seg : http::split_path(pattern)) {
    out += "/";
    if (seg[0] == ':') {
      out += seg == ":version" ? "1" : seg == ":name" ? "no_such_plugin" : kMissingId;
    } else if (seg[0] == '*') {
      out += "no-such-hook";
    } else {
      out += seg;
    }
  }
  return out;
}

std::string to_upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

// Variants of a concrete path that must normalize to it.
std::vector<std::string> tricks(const std::string& pattern) {
  std::vector<std::string> segs = http::split_path(pattern);
  std::vector<std::string> concrete_segs = http::split_path(concrete(pattern));
  std::vector<std::string> out;
  auto join = [](const std::vector<std::string>& parts, const std::string& sep, const std::string& suffix) {
    std::string p;
    for (const auto& s : parts) p += sep + s + suffix;
    return p;
  };
  const std::string plain = concrete(pattern);
  // "%2e%2e": a detour that climbs back.
  {
    std::string p = "/" + concrete_segs[0] + "/detour/%2e%2e";
    for (size_t i = 1; i < concrete_segs.size(); ++i) p += "/" + concrete_segs[i];
    out.push_back(p);
    out.push_back("/detour/%2E%2E" + plain);
    out.push_back("/detour/./../" + plain.substr(1));
  }
  out.push_back(join(concrete_segs, "//", ""));                 // "//"
  out.push_back(join(concrete_segs, "/", ";x"));                // ";x" on every segment
  out.push_back(plain + "/");                                   // trailing slash
  out.push_back("/healthz/.." + plain);                         // "/healthz/../api/workflows"
  out.push_back("/healthz/%2e%2e" + plain);
  {
    // Upper-case literals (parameter values keep their case: they are data).
    std::string p;
    for (size_t i = 0; i < segs.size(); ++i)
      p += "/" + ((segs[i][0] == ':' || segs[i][0] == '*') ? concrete_segs[i] : to_upper(concrete_segs[i]));
    out.push_back(p);
  }
  return out;
}

class RoutesTest : public ApiTest {
 protected:
  // Rate limits would turn the 8 variants of the public login route into 429s: they have their
  // own tests; this suite is about path normalization and the authentication decision.
  void configure(app::Config&, api::ServeConfig& serve) override { serve.http.rate_limits = false; }
};

TEST_P(RoutesTest, PublicRoutesAreExactlyTheDocumentedList) {
  std::vector<std::string> publics;
  for (const auto& r : server().server().router().routes()) {
    const bool expect_public = is_public_pattern(r.pattern);
    EXPECT_EQ(r.access == http::Access::Public, expect_public)
        << r.method << " " << r.pattern << (expect_public ? " must be public" : " must require credentials");
    if (r.access == http::Access::Public) publics.push_back(r.method + " " + r.pattern);
  }
  // Every documented public entry exists.
  for (std::string p : {"GET /healthz", "GET /readyz", "GET /metrics", "GET /api/openapi.json",
                        "POST /api/auth/login", "POST /api/auth/refresh", "POST /webhook/*path"}) {
    EXPECT_NE(std::find(publics.begin(), publics.end(), p), publics.end()) << p << " is not registered as public";
  }
}

TEST_P(RoutesTest, EveryNonPublicRouteWithoutCredentialsIs401) {
  size_t checked = 0;
  for (const auto& r : server().server().router().routes()) {
    if (is_public_pattern(r.pattern)) continue;
    const std::string path = concrete(r.pattern);
    SCOPED_TRACE(r.method + " " + path);
    // No credentials at all, no body, no content type: authentication comes first.
    Response a = client().request(r.method, path);
    EXPECT_TRUE(IsError(a, 401, "unauthorized"));
    EXPECT_TRUE(a.header("www-authenticate").has_value()) << a.describe();
    // With a JSON body.
    Response b = client().request(r.method, path, "", "{}", {{"Content-Type", "application/json"}});
    EXPECT_TRUE(IsError(b, 401, "unauthorized"));
    // Garbage credentials of both kinds.
    Response c = client().request(r.method, path, "not-a-token");
    EXPECT_TRUE(IsError(c, 401));
    Response d = client().request(r.method, path, "", "", {{"X-API-Key", "wk_abcdefghijkl_0123456789"}});
    EXPECT_TRUE(IsError(d, 401));
    Response e = client().request(r.method, path, "", "", {{"Authorization", "Basic YWRtaW46YWRtaW4="}});
    EXPECT_TRUE(IsError(e, 401));
    ++checked;
  }
  EXPECT_GT(checked, 25u) << "the router lists suspiciously few routes";
}

TEST_P(RoutesTest, PublicRoutesAnswerWithoutCredentials) {
  EXPECT_EQ(client().get("/healthz").status, 200);
  EXPECT_EQ(client().get("/readyz").status, 200);
  EXPECT_EQ(client().get("/metrics").status, 200);
  Response o = client().get("/api/openapi.json");
  EXPECT_EQ(o.status, 200) << o.describe();
  EXPECT_TRUE(o.json()["paths"].is_object());
  EXPECT_TRUE(IsError(client().post("/webhook/no-such-hook", Json::object()), 404, "not_found"));
  Json bad = Json::object();
  bad.set("email", "nobody@example.com");
  bad.set("password", "wrong-password");
  EXPECT_TRUE(IsError(client().post("/api/auth/login", bad), 401, "invalid_credentials"));
  Json rt = Json::object();
  rt.set("refresh_token", "wrt_nothing.nothing");
  EXPECT_TRUE(IsError(client().post("/api/auth/refresh", rt), 401));
}

TEST_P(RoutesTest, PathTricksGetTheSameDecisionWithoutCredentials) {
  for (const auto& r : server().server().router().routes()) {
    const std::string plain = concrete(r.pattern);
    const int expected = client().request(r.method, plain).status;
    ASSERT_NE(expected, 0) << r.method << " " << plain;
    for (const auto& variant : tricks(r.pattern)) {
      Response v = client().request(r.method, variant);
      EXPECT_EQ(v.status, expected) << r.method << " " << variant << " (plain " << plain << ": " << expected
                                    << "): " << v.describe();
    }
  }
}

TEST_P(RoutesTest, PathTricksGetTheSameDecisionWithCredentials) {
  TestUser u = make_user();
  for (const auto& r : server().server().router().routes()) {
    // These two act on the caller's own session.
    if (r.pattern == "/api/auth/logout" || r.pattern == "/api/auth/password") continue;
    const std::string plain = concrete(r.pattern);
    const int expected = client().request(r.method, plain, u.token).status;
    ASSERT_NE(expected, 0) << r.method << " " << plain;
    if (r.access == http::Access::Admin) {
      EXPECT_EQ(expected, 403) << r.method << " " << plain;
    }
    for (const auto& variant : tricks(r.pattern)) {
      Response v = client().request(r.method, variant, u.token);
      EXPECT_EQ(v.status, expected) << r.method << " " << variant << " (plain " << plain << ": " << expected
                                    << "): " << v.describe();
    }
  }
  // And on real data: the plain path and its variants answer the same resource.
  const std::string wid = create_workflow(u.token, quick_workflow("tricky"));
  for (const std::string& p : {"/api/workflows/" + wid, "/api//workflows//" + wid, "/API/WORKFLOWS/" + wid,
                               "/api/workflows/" + wid + "/", "/api/x/%2e%2e/workflows/" + wid + ";x",
                               "/healthz/../api/workflows/" + wid}) {
    Response g = client().get(p, u.token);
    EXPECT_EQ(g.status, 200) << p << ": " << g.describe();
    EXPECT_EQ(g.json()["id"].as_string(), wid) << p;
  }
}

TEST_P(RoutesTest, InsanePathsAreRefusedNotRouted) {
  TestUser u = make_user();
  // Encoded slash / NUL / backslash, climbing above the root, a broken escape.
  for (std::string p : std::vector<std::string>{"/api/workflows%2f" + std::string(kMissingId), "/api/workflows/%00",
                                               "/api%5cworkflows", "/../api/workflows",
                                               "/api/%2e%2e/%2e%2e/api/workflows", "/api/workflows/%zz"}) {
    Response r = client().get(p, u.token);
    EXPECT_TRUE(IsError(r, 400, "invalid_path")) << p;
  }
}

WEFT_API_BACKENDS(RoutesTest);

// ---- JWT -------------------------------------------------------------------------------------------

class JwtTest : public ApiTest {
 protected:
  std::string jwt_key() { return auth::derive_key(server_secret(), auth::kJwtKeyLabel); }
  // The claims of a real access token.
  static Json claims_of(const std::string& token) {
    size_t a = token.find('.'), b = token.rfind('.');
    auto payload = auth::base64url_decode(token.substr(a + 1, b - a - 1));
    if (!payload) return Json();
    auto j = Json::parse(*payload);
    return j.ok() ? *j : Json();
  }
  static std::string header_of(const std::string& token) { return token.substr(0, token.find('.')); }
  int me(const std::string& token) { return client().get("/api/auth/me", token).status; }
};

TEST_P(JwtTest, ValidTokenWorksAndMintedControlTokenWorks) {
  TestUser u = make_user();
  EXPECT_EQ(me(u.token), 200);
  // A token minted here with the server key and fresh times is accepted: the failures below are
  // about the one property each of them breaks, not about how they were made.
  Json c = claims_of(u.token);
  ASSERT_TRUE(c.is_object());
  c.set("exp", wall_ms() / 1000 + 600);
  std::string token = auth::jwt::sign_raw(jwt_key(), R"({"alg":"HS256","typ":"JWT"})", c.dump());
  EXPECT_EQ(me(token), 200);
}

TEST_P(JwtTest, ForgedSignatureIs401) {
  TestUser u = make_user();
  TestUser other = make_user();
  Json c = claims_of(u.token);
  // Signed with another key.
  std::string forged = auth::jwt::sign_raw(std::string(32, 'k'), R"({"alg":"HS256","typ":"JWT"})", c.dump());
  EXPECT_TRUE(IsError(client().get("/api/auth/me", forged), 401, "unauthorized"));
  // A valid signature moved onto another payload (sub switched to another user).
  Json c2 = c;
  c2.set("sub", other.id);
  std::string sig = u.token.substr(u.token.rfind('.') + 1);
  std::string swapped = header_of(u.token) + "." + auth::base64url_encode(c2.dump()) + "." + sig;
  EXPECT_TRUE(IsError(client().get("/api/auth/me", swapped), 401));
  // Every byte of the signature matters.
  std::string flipped = u.token;
  size_t mid = u.token.rfind('.') + 10;
  flipped[mid] = flipped[mid] == 'A' ? 'B' : 'A';
  EXPECT_TRUE(IsError(client().get("/api/auth/me", flipped), 401));
  // No signature at all.
  EXPECT_TRUE(IsError(client().get("/api/auth/me", u.token.substr(0, u.token.rfind('.') + 1)), 401));
}

TEST_P(JwtTest, AlgNoneAndOtherAlgorithmsAre401) {
  TestUser u = make_user();
  Json c = claims_of(u.token);
  const std::string payload = auth::base64url_encode(c.dump());
  for (std::string header : {R"({"alg":"none","typ":"JWT"})", R"({"alg":"None","typ":"JWT"})",
                             R"({"alg":"NONE"})", R"({"typ":"JWT"})"}) {
    const std::string h = auth::base64url_encode(header);
    EXPECT_TRUE(IsError(client().get("/api/auth/me", h + "." + payload + "."), 401)) << header;
    EXPECT_TRUE(IsError(client().get("/api/auth/me", h + "." + payload), 401)) << header;
    // alg none with the original (valid) signature attached.
    EXPECT_TRUE(IsError(client().get("/api/auth/me", h + "." + payload + "." +
                                                         u.token.substr(u.token.rfind('.') + 1)),
                        401))
        << header;
  }
  // Right key, other algorithms: the algorithm is pinned.
  for (std::string header : {R"({"alg":"HS512","typ":"JWT"})", R"({"alg":"HS384","typ":"JWT"})",
                             R"({"alg":"RS256","typ":"JWT"})", R"({"alg":"hs256","typ":"JWT"})"}) {
    std::string t = auth::jwt::sign_raw(jwt_key(), header, c.dump());
    EXPECT_TRUE(IsError(client().get("/api/auth/me", t), 401)) << header;
  }
}

TEST_P(JwtTest, ExpiredMissingExpAndFutureNbfAre401) {
  TestUser u = make_user();
  const int64_t now = wall_ms() / 1000;
  Json c = claims_of(u.token);
  const std::string h = R"({"alg":"HS256","typ":"JWT"})";
  Json expired = c;
  expired.set("iat", now - 7200);
  expired.set("nbf", now - 7200);
  expired.set("exp", now - 3600);
  EXPECT_TRUE(IsError(client().get("/api/auth/me", auth::jwt::sign_raw(jwt_key(), h, expired.dump())), 401));
  Json no_exp = c;
  no_exp.erase("exp");
  EXPECT_TRUE(IsError(client().get("/api/auth/me", auth::jwt::sign_raw(jwt_key(), h, no_exp.dump())), 401));
  Json future = c;
  future.set("nbf", now + 3600);
  future.set("exp", now + 7200);
  EXPECT_TRUE(IsError(client().get("/api/auth/me", auth::jwt::sign_raw(jwt_key(), h, future.dump())), 401));
  Json wrong_typ = c;
  wrong_typ.set("typ", "refresh");
  EXPECT_TRUE(IsError(client().get("/api/auth/me", auth::jwt::sign_raw(jwt_key(), h, wrong_typ.dump())), 401));
  Json wrong_iss = c;
  wrong_iss.set("iss", "someone-else");
  EXPECT_TRUE(IsError(client().get("/api/auth/me", auth::jwt::sign_raw(jwt_key(), h, wrong_iss.dump())), 401));
  // A well-signed token for a session that does not exist.
  Json no_session = c;
  no_session.set("sid", kMissingId);
  EXPECT_TRUE(
      IsError(client().get("/api/auth/me", auth::jwt::sign_raw(jwt_key(), h, no_session.dump())), 401));
}

TEST_P(JwtTest, RefreshTokenIsNotABearerAndAccessTokenIsNotARefreshToken) {
  TestUser u = make_user();
  EXPECT_TRUE(IsError(client().get("/api/auth/me", u.refresh), 401, "unauthorized"));
  Json body = Json::object();
  body.set("refresh_token", u.token);
  EXPECT_TRUE(IsError(client().post("/api/auth/refresh", body), 401));
  // The refresh token does refresh (control), and rotates: the old one is then refused.
  body.set("refresh_token", u.refresh);
  Response r = client().post("/api/auth/refresh", body);
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(me(r.json()["access_token"].as_string()), 200);
  EXPECT_TRUE(IsError(client().post("/api/auth/refresh", body), 401));
}

TEST_P(JwtTest, TokenAfterLogoutIs401) {
  TestUser u = make_user();
  ASSERT_EQ(me(u.token), 200);
  Response out = client().post_empty("/api/auth/logout", u.token);
  EXPECT_EQ(out.status, 204) << out.describe();
  EXPECT_TRUE(IsError(client().get("/api/auth/me", u.token), 401, "unauthorized"));
  EXPECT_TRUE(IsError(client().get("/api/workflows", u.token), 401, "unauthorized"));
  Json body = Json::object();
  body.set("refresh_token", u.refresh);
  EXPECT_TRUE(IsError(client().post("/api/auth/refresh", body), 401));
}

TEST_P(JwtTest, TokenAfterPasswordChangeIs401) {
  TestUser u = make_user();
  auto second = server().auth().login(u.email, u.password);  // another session of the same account
  ASSERT_TRUE(second.ok());
  Json body = Json::object();
  body.set("old_password", "not-the-password");
  body.set("new_password", "a-brand-new-password");
  EXPECT_TRUE(IsError(client().post("/api/auth/password", body, u.token), 401));
  EXPECT_EQ(me(u.token), 200) << "a failed change must not revoke anything";
  body.set("old_password", u.password);
  Response r = client().post("/api/auth/password", body, u.token);
  ASSERT_EQ(r.status, 204) << r.describe();
  EXPECT_TRUE(IsError(client().get("/api/auth/me", u.token), 401));
  EXPECT_TRUE(IsError(client().get("/api/auth/me", second->access_token), 401));
  Json rt = Json::object();
  rt.set("refresh_token", u.refresh);
  EXPECT_TRUE(IsError(client().post("/api/auth/refresh", rt), 401));
  // The new password works, the old one does not.
  Json login = Json::object();
  login.set("email", u.email);
  login.set("password", u.password);
  EXPECT_TRUE(IsError(client().post("/api/auth/login", login), 401, "invalid_credentials"));
  login.set("password", "a-brand-new-password");
  EXPECT_EQ(client().post("/api/auth/login", login).status, 200);
}

WEFT_API_BACKENDS(JwtTest);

// ---- API keys --------------------------------------------------------------------------------------

class ApiKeyTest : public ApiTest {
 protected:
  // POST /api/keys; returns {id, key, ...}.
  Json create_key(const std::string& token, const std::vector<std::string>& scopes, const std::string& name = "k") {
    Json body = Json::object();
    body.set("name", name);
    Json s = Json::array();
    for (const auto& x : scopes) s.push_back(x);
    if (!scopes.empty()) body.set("scopes", s);
    Response r = client().post("/api/keys", body, token);
    EXPECT_EQ(r.status, 201) << r.describe();
    Json j = r.json();
    EXPECT_TRUE(j["key"].is_string()) << r.describe();
    return j;
  }
  int me_key(const std::string& key) { return client().get("/api/auth/me", "", {{"X-API-Key", key}}).status; }
};

TEST_P(ApiKeyTest, KeyWorksBothWaysAndIsShownOnce) {
  TestUser u = make_user();
  Json k = create_key(u.token, {});
  const std::string key = k["key"].as_string();
  Response me = client().get("/api/auth/me", key);  // as a bearer
  ASSERT_EQ(me.status, 200) << me.describe();
  EXPECT_EQ(me.json()["via"].as_string(), "api_key");
  EXPECT_EQ(me.json()["id"].as_string(), u.id);
  EXPECT_EQ(me_key(key), 200);  // as X-API-Key
  Response list = client().get("/api/keys", u.token);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body.find(key.substr(key.rfind('_') + 1)), std::string::npos) << "the key secret was listed";
  EXPECT_FALSE(list.json()["keys"].at(0).contains("key"));
  EXPECT_FALSE(list.json()["keys"].at(0).contains("hash"));
}

TEST_P(ApiKeyTest, WrongSecretRevokedAndRotatedOutAre401) {
  TestUser u = make_user();
  Json k = create_key(u.token, {});
  const std::string key = k["key"].as_string();
  ASSERT_EQ(me_key(key), 200);
  // Right prefix, wrong secret (every other character flipped in the last part).
  std::string wrong = key;
  for (size_t i = key.rfind('_') + 1; i < wrong.size(); i += 2) wrong[i] = wrong[i] == 'a' ? 'b' : 'a';
  ASSERT_NE(wrong, key);
  EXPECT_TRUE(IsError(client().get("/api/auth/me", "", {{"X-API-Key", wrong}}), 401, "unauthorized"));
  EXPECT_TRUE(IsError(client().get("/api/auth/me", wrong), 401));
  EXPECT_TRUE(IsError(client().get("/api/auth/me", key.substr(0, key.size() - 1)), 401));
  // Revoked.
  Response del = client().del("/api/keys/" + k["id"].as_string(), u.token);
  EXPECT_EQ(del.status, 204) << del.describe();
  EXPECT_TRUE(IsError(client().get("/api/auth/me", key), 401, "unauthorized"));

  // Rotated with overlap 0: the old key stops at once, the new one works.
  Json k2 = create_key(u.token, {}, "rotating");
  Response rot = client().post_empty("/api/keys/" + k2["id"].as_string() + "/rotate?overlap_seconds=0", u.token);
  ASSERT_EQ(rot.status, 201) << rot.describe();
  EXPECT_TRUE(IsError(client().get("/api/auth/me", k2["key"].as_string()), 401));
  EXPECT_EQ(me_key(rot.json()["key"].as_string()), 200);

  // Rotated with the default overlap: the old key keeps working for now (control).
  Json k3 = create_key(u.token, {}, "overlapping");
  Response rot3 = client().post_empty("/api/keys/" + k3["id"].as_string() + "/rotate", u.token);
  ASSERT_EQ(rot3.status, 201) << rot3.describe();
  EXPECT_EQ(me_key(k3["key"].as_string()), 200);
  EXPECT_EQ(me_key(rot3.json()["key"].as_string()), 200);
}

TEST_P(ApiKeyTest, MissingScopeIs403) {
  TestUser u = make_user();
  const std::string wid = create_workflow(u.token, quick_workflow());
  Json k = create_key(u.token, {"workflows:read"});
  const std::string key = k["key"].as_string();
  EXPECT_EQ(client().get("/api/workflows", key).status, 200);
  EXPECT_EQ(client().get("/api/workflows/" + wid, key).status, 200);
  EXPECT_TRUE(IsError(client().post("/api/workflows", quick_workflow(), key), 403, "forbidden"));
  EXPECT_TRUE(IsError(client().put("/api/workflows/" + wid, quick_workflow(), key), 403, "forbidden"));
  EXPECT_TRUE(IsError(client().del("/api/workflows/" + wid, key), 403, "forbidden"));
  EXPECT_TRUE(IsError(execute(key, wid), 403, "forbidden"));
  EXPECT_TRUE(IsError(client().get("/api/executions", key), 403, "forbidden"));
  EXPECT_TRUE(IsError(client().get("/api/keys", key), 403, "forbidden"));
  EXPECT_TRUE(IsError(client().post("/api/keys", Json::object(), key), 403, "forbidden"));
  // A key cannot mint a broader key, even with keys:manage.
  Json km = create_key(u.token, {"keys:manage"});
  Json wider = Json::object();
  wider.set("name", "wider");
  wider.set("scopes", Json::array({Json("workflows:write")}));
  EXPECT_TRUE(IsError(client().post("/api/keys", wider, km["key"].as_string()), 403));
  // The workflow is untouched.
  EXPECT_EQ(client().get("/api/workflows/" + wid, u.token).json()["version"].as_int(), 1);
}

TEST_P(ApiKeyTest, AdminRoutesNeedTheAdminRoleAndScope) {
  TestUser u = make_user();
  size_t admin_routes = 0;
  for (const auto& r : server().server().router().routes()) {
    if (r.access != http::Access::Admin) continue;
    ++admin_routes;
    const std::string path = concrete(r.pattern);
    Response x = client().request(r.method, path, u.token, "{}", {{"Content-Type", "application/json"}});
    EXPECT_TRUE(IsError(x, 403, "forbidden")) << r.method << " " << path;
  }
  EXPECT_GE(admin_routes, 6u);
  // A user cannot get the admin scope on a key.
  Json body = Json::object();
  body.set("name", "sneaky");
  body.set("scopes", Json::array({Json("admin")}));
  EXPECT_TRUE(IsError(client().post("/api/keys", body, u.token), 403));
  // An admin's key without the admin scope cannot use admin routes; with it, it can.
  Json narrow = create_key(admin_token(), {"workflows:read"});
  EXPECT_TRUE(IsError(client().get("/api/admin/users", narrow["key"].as_string()), 403, "forbidden"));
  Json full = create_key(admin_token(), {"admin"});
  EXPECT_EQ(client().get("/api/admin/users", full["key"].as_string()).status, 200);
  EXPECT_EQ(client().get("/api/admin/users", admin_token()).status, 200);
}

WEFT_API_BACKENDS(ApiKeyTest);

// ---- login brute force -----------------------------------------------------------------------------

class LoginLimitTest : public ApiTest {};

// The message without digits (retry seconds may differ by one between two sequences).
std::string shape(const Response& r) {
  return std::to_string(r.status) + " " + r.error_code() + " " +
         std::regex_replace(r.json()["error"]["message"].as_string(), std::regex("[0-9]+"), "N");
}

TEST_P(LoginLimitTest, BruteForceIs429WithRetryAfterWhetherOrNotTheAccountExists) {
  TestUser u = make_user("free");
  auto attempt = [&](const std::string& email, const std::string& password) {
    Json b = Json::object();
    b.set("email", email);
    b.set("password", password);
    return client().post("/api/auth/login", b);
  };
  std::vector<std::string> existing, missing;
  int first_429_existing = -1, first_429_missing = -1;
  for (int i = 0; i < 11; ++i) {
    Response a = attempt(u.email, "wrong-password-" + std::to_string(i));
    existing.push_back(shape(a));
    if (a.status == 429 && first_429_existing < 0) {
      first_429_existing = i;
      auto ra = a.header("retry-after");
      ASSERT_TRUE(ra.has_value()) << a.describe();
      EXPECT_GE(std::atoi(ra->c_str()), 1);
      EXPECT_TRUE(IsError(a, 429, "rate_limited"));
    }
    Response m = attempt("nobody-" + u.email, "wrong-password-" + std::to_string(i));
    missing.push_back(shape(m));
    if (m.status == 429 && first_429_missing < 0) {
      first_429_missing = i;
      EXPECT_TRUE(m.header("retry-after").has_value());
    }
  }
  EXPECT_EQ(first_429_existing, 10) << "10 attempts per minute per account, then 429";
  EXPECT_EQ(first_429_missing, 10);
  EXPECT_EQ(existing, missing) << "the answers must not reveal whether the account exists";
  EXPECT_EQ(existing[0], "401 invalid_credentials invalid email or password");
  // Locked out even with the right password until the window refills.
  Response ok = attempt(u.email, u.password);
  EXPECT_TRUE(IsError(ok, 429, "rate_limited"));
  EXPECT_TRUE(ok.header("retry-after").has_value());
}

TEST_P(LoginLimitTest, PerIpLimitAcrossAccounts) {
  int first_429 = -1;
  for (int i = 0; i < 32 && first_429 < 0; ++i) {
    Json b = Json::object();
    b.set("email", "spray-" + std::to_string(i) + "@example.com");
    b.set("password", "whatever-password");
    Response r = client().post("/api/auth/login", b);
    if (r.status == 429) {
      first_429 = i;
      EXPECT_TRUE(r.header("retry-after").has_value()) << r.describe();
      EXPECT_TRUE(IsError(r, 429, "rate_limited"));
    } else {
      EXPECT_TRUE(IsError(r, 401, "invalid_credentials"));
    }
  }
  EXPECT_EQ(first_429, 30) << "30 login attempts per minute per client address";
}

WEFT_API_BACKENDS(LoginLimitTest);

// ---- mass assignment -------------------------------------------------------------------------------

class MassAssignmentTest : public ApiTest {};

TEST_P(MassAssignmentTest, ServerOwnedFieldsInBodiesAre400UnknownField) {
  TestUser u = make_user();
  TestUser other = make_user();
  const std::string wid = create_workflow(u.token, quick_workflow("mine"));
  for (const char* field : {"id", "owner_id", "role"}) {
    SCOPED_TRACE(field);
    Json w = quick_workflow("sneaky");
    w.set(field, field == std::string("role") ? Json("admin") : Json(other.id));
    Response c = client().post("/api/workflows", w, u.token);
    EXPECT_TRUE(IsError(c, 400, "unknown_field"));
    EXPECT_EQ(c.json()["error"]["details"]["field"].as_string(), field) << c.describe();
    EXPECT_TRUE(IsError(client().put("/api/workflows/" + wid, w, u.token), 400, "unknown_field"));

    Json key = Json::object();
    key.set("name", "k");
    key.set(field, other.id);
    EXPECT_TRUE(IsError(client().post("/api/keys", key, u.token), 400, "unknown_field"));

    Json login = Json::object();
    login.set("email", u.email);
    login.set("password", u.password);
    login.set(field, "admin");
    EXPECT_TRUE(IsError(client().post("/api/auth/login", login), 400, "unknown_field"));

    Json run = Json::object();
    run.set("input", Json::object());
    run.set(field, other.id);
    EXPECT_TRUE(IsError(client().post("/api/workflows/" + wid + "/execute", run, u.token), 400, "unknown_field"));

    Json tier = Json::object();
    tier.set("tier", "pro");
    tier.set(field, "admin");
    EXPECT_TRUE(IsError(client().put("/api/admin/users/" + u.id + "/tier", tier, admin_token()), 400, "unknown_field"));

    Json nu = Json::object();
    nu.set("email", std::string("new-") + field + "@example.com");
    nu.set("password", "long-enough-password");
    nu.set(field, field == std::string("role") ? "admin" : other.id);
    if (std::string(field) != "role") {
      EXPECT_TRUE(IsError(client().post("/api/admin/users", nu, admin_token()), 400, "unknown_field"));
    }
  }
  // Nothing was created or changed by the refused requests.
  Response list = client().get("/api/workflows", u.token);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json()["workflows"].size(), 1u) << list.describe();
  EXPECT_EQ(client().get("/api/workflows/" + wid, u.token).json()["version"].as_int(), 1);
  EXPECT_EQ(client().get("/api/workflows", other.token).json()["workflows"].size(), 0u);
  Response me = client().get("/api/auth/me", u.token);
  EXPECT_EQ(me.json()["role"].as_string(), "user");
  EXPECT_EQ(me.json()["tier"].as_string(), "enterprise");
  EXPECT_EQ(client().get("/api/executions", u.token).json()["executions"].size(), 0u);
  EXPECT_EQ(client().get("/api/keys", u.token).json()["keys"].size(), 0u);
}

WEFT_API_BACKENDS(MassAssignmentTest);

}  // namespace
}  // namespace weft::apitest
