#include "host/core/redact.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace weft {
namespace {

// Each pattern-layer case: input and the exact expected output.
struct Case {
  std::string in;
  std::string want;
};

void expect_patterns(const std::vector<Case>& cases) {
  for (const Case& c : cases) EXPECT_EQ(redact_patterns(c.in), c.want) << "input: " << c.in;
}

void expect_untouched(const std::vector<std::string>& texts) {
  for (const std::string& t : texts) EXPECT_EQ(redact_patterns(t), t) << "false positive";
}

// ---- patterns ----------------------------------------------------------------------------------

TEST(RedactPatterns, BearerAndBasicKeepTheSchemeWord) {
  expect_patterns({
      {"calling with Bearer abc123DEF456ghi789", "calling with Bearer [REDACTED]"},
      {"bearer eyzzzzzz.yyyy-1", "bearer [REDACTED]"},
      {"BEARER   tok_9f8e7d6c5b4a", "BEARER   [REDACTED]"},
      {"Basic dXNlcjpwYXNzd29yZA==, retrying", "Basic [REDACTED], retrying"},
      {"basic\tdXNlcjpwYXNz", "basic\t[REDACTED]"},
      {"(Bearer abcdefghijklmnopqrstuvwxyzabcdefgh)", "(Bearer [REDACTED])"},
  });
  expect_untouched({
      "a basic understanding of the system", "bearer bonds are paper", "Basic Authentication is configured",
      "Bearer Tokens expire", "Bearer", "Basic [REDACTED]",
      "embasic abc123def456",  // not at a word boundary
  });
}

TEST(RedactPatterns, AuthorizationAndCookieHeaderLinesAreMaskedToTheEndOfLine) {
  expect_patterns({
      {"GET / HTTP/1.1\r\nAuthorization: Digest username=\"bob\", response=\"6629fae4\"\r\nHost: x\r\n",
       "GET / HTTP/1.1\r\nAuthorization: [REDACTED]\r\nHost: x\r\n"},
      {"authorization: Bearer abc", "authorization: [REDACTED]"},
      {"Proxy-Authorization: Basic Zm9vOmJhcg==   \nnext", "Proxy-Authorization: [REDACTED]   \nnext"},
      {"Cookie: sid=abc; theme=dark", "Cookie: [REDACTED]"},
      {"Set-Cookie: session=xyz; Path=/; HttpOnly\nContent-Type: text/html",
       "Set-Cookie: [REDACTED]\nContent-Type: text/html"},
      // Not a header line: the scheme word stays, the token goes.
      {"authorization=Bearer abc&x=1", "authorization=Bearer [REDACTED]&x=1"},
  });
  expect_untouched({"Authorization: [REDACTED]", "Authorization:", "authorization required"});
}

TEST(RedactPatterns, UrlUserinfoPasswords) {
  expect_patterns({
      {"https://user:pa55word@example.com/x", "https://user:[REDACTED]@example.com/x"},
      {"postgresql://weft:s3cret@db:5432/weft?sslmode=require",
       "postgresql://weft:[REDACTED]@db:5432/weft?sslmode=require"},
      {"redis://:onlypass@cache:6379", "redis://:[REDACTED]@cache:6379"},
      {"fetch \"https://a:b@c@host.example\" failed", "fetch \"https://a:[REDACTED]@host.example\" failed"},
      {"u=http://x:y@h and http://p:q@r", "u=http://x:[REDACTED]@h and http://p:[REDACTED]@r"},
  });
  expect_untouched({
      "https://user@example.com/path",
      "https://example.com:8443/a:b@c",
      "ftp://host:21/",
      "mailto:user@example.com",
      "https://user:@example.com",
      "https://user:[REDACTED]@example.com",
  });
}

TEST(RedactPatterns, SecretNameValuePairs) {
  expect_patterns({
      {"password=hunter2&user=bob", "password=[REDACTED]&user=bob"},
      {"?api_key=abcd1234&page=2", "?api_key=[REDACTED]&page=2"},
      {"db_password: hunter2 # from vault", "db_password: [REDACTED] # from vault"},
      {"PASSWORD = hunter2", "PASSWORD = [REDACTED]"},
      {"--password=hunter2 --verbose", "--password=[REDACTED] --verbose"},
      {"X-Api-Key: k-123\nAccept: */*", "X-Api-Key: [REDACTED]\nAccept: */*"},
      {R"({"client_secret": "s3c\"r3t", "name": "app"})",
       R"({"client_secret": "[REDACTED]", "name": "app"})"},
      {R"({"accessToken":"abc","refresh_token":"def"})",
       R"({"accessToken":"[REDACTED]","refresh_token":"[REDACTED]"})"},
      {"{'secret': 'x y z'}", "{'secret': '[REDACTED]'}"},
      {R"(error: {\"token\":\"abc\",\"id\":1})", R"(error: {\"token\":\"[REDACTED]\",\"id\":1})"},
      {"pwd=x;auth=y,api-key=z", "pwd=[REDACTED];auth=[REDACTED],api-key=[REDACTED]"},
      {R"({"api_key": 123456})", R"({"api_key": [REDACTED]})"},
      {"spring.datasource.password=pw", "spring.datasource.password=[REDACTED]"},
  });
  expect_untouched({
      "tokens_used=12 token_type=bearer author: Jane",
      R"({"tokens": 12, "prompt_tokens": 3, "author": "Jane", "key": "k1"})",
      R"({"password": null, "secret": true, "token": false})",
      R"({"auth": {"type": "basic"}})",
      "the password was reset",
      "if token == expected",
      "std::token::value",
      "password=[REDACTED]",
      R"({"password": "[REDACTED]"})",
      "password: \nnext line",
  });
}

TEST(RedactPatterns, SecretNames) {
  for (const char* yes : {"password",     "Password",       "passwd",
                          "pwd",          "db_password",    "newPassword",
                          "passphrase",   "secret",         "client_secret",
                          "clientSecret", "webhook-secret", "token",
                          "access_token", "refresh_token",  "id_token",
                          "accessToken",  "bot_token",      "api_key",
                          "apikey",       "api-key",        "APIKey",
                          "x-api-key",    "X-Api-Key",      "API Key",
                          "auth",         "authorization",  "Proxy-Authorization",
                          "private_key",  "privateKey",     "aws_secret_access_key",
                          "session",      "PHPSESSID",      "JSESSIONID",
                          "cookie",       "set-cookie",     "Set-Cookie"})
    EXPECT_TRUE(is_secret_name(yes)) << yes;
  for (const char* no : {"",
                         "author",
                         "authors",
                         "tokens",
                         "tokens_used",
                         "prompt_tokens",
                         "max_tokens",
                         "token_type",
                         "token_count",
                         "key",
                         "primary_key",
                         "idempotency_key",
                         "access_key_id",
                         "private_key_id",
                         "public_key",
                         "secret_fields",
                         "session_id",
                         "user",
                         "username",
                         "name",
                         "id",
                         "passwords_policy",
                         "credential",
                         "credentials",
                         "monkey"})
    EXPECT_FALSE(is_secret_name(no)) << no;
  EXPECT_FALSE(is_secret_name(std::string(100, 'a') + "password"));  // too long to be a name
}

TEST(RedactPatterns, WellKnownTokenFormats) {
  expect_patterns({
      {"slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx ok", "slack xoxb-[REDACTED] ok"},
      {"xoxp-1-2-3-abcdef0123", "xoxp-[REDACTED]"},
      {"app xapp-1-A0123456789-abcdef", "app xapp-[REDACTED]"},
      {"gh: ghp_0123456789abcdefghijABCDEFGHIJ012345.", "gh: ghp_[REDACTED]."},
      {"ghs_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ghs_[REDACTED]"},
      {"github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_[REDACTED]"},
      {"key sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34", "key sk-[REDACTED]"},
      {"sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789", "sk-[REDACTED]"},
      {"AKIAIOSFODNN7EXAMPLE in config", "AKIA[REDACTED] in config"},
      {"ASIA0123456789ABCDEF", "ASIA[REDACTED]"},
      {"maps AIzaSyA-1234567890abcdefghijklmnopqrstu", "maps AIza[REDACTED]"},
      {"stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe sk_live_[REDACTED]"},
      {"rk_live_abcdefghij0123 and sk_test_0123456789", "rk_live_[REDACTED] and sk_test_[REDACTED]"},
      {"jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk end",
       "jwt=[REDACTED] end"},
      {"none eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. alg", "none [REDACTED] alg"},
      {"key wk_abcdefghij12_0123456789abcdefghijABCDEFGHIJ-_xyz012345", "key wk_abcdefghij12_[REDACTED]"},
      {"rt wrt_01hx3k5v7q9z1b3d5f7h9k1m3p.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde",
       "rt wrt_01hx3k5v7q9z1b3d5f7h9k1m3p.[REDACTED]"},
  });
  expect_untouched({
      "xoxb-short",
      "xoxz-1234567890123",
      "ghp_short",
      "ghx_0123456789abcdefghijABCDEFGHIJ012345",
      "sk-learn-is-a-python-library-for-ml",  // long enough, but no digit: a word, not a key
      "sk-short1",
      "task-0123456789abcdefghijkl",  // "sk-" inside a word
      "AKIA0123",
      "AKIAIOSFODNN7EXAMPLE0",  // 17 characters after the prefix
      "AIzaShort",
      "sk_live_short",
      "eyJhbGciOiJIUzI1NiJ9 alone",
      "eyJhbGciOiJIUzI1NiJ9.",
      "wk_short_0123456789abcdefghij",
      "wk_abcdefghij12_short",
      "wrt_.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
      "wrt_abc.short",
  });
}

TEST(RedactPatterns, PemPrivateKeyBlocks) {
  const std::string pem =
      "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1\nabcdEFGH+/==\n-----END RSA PRIVATE "
      "KEY-----\ndone";
  EXPECT_EQ(redact_patterns(pem),
            "key:\n-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----\ndone");
  // JSON-escaped newlines, and an OpenSSH key.
  EXPECT_EQ(redact_patterns(
                R"("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNz\n-----END OPENSSH PRIVATE KEY-----")"),
            R"("-----BEGIN OPENSSH PRIVATE KEY-----[REDACTED]-----END OPENSSH PRIVATE KEY-----")");
  // Cut off before its END line: masked to the end.
  EXPECT_EQ(redact_patterns("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq"),
            "-----BEGIN PRIVATE KEY-----[REDACTED]");
  expect_untouched({
      "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
      "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0C\n-----END PUBLIC KEY-----",
      "----- a divider -----",
  });
}

TEST(RedactPatterns, OrdinaryTextIsLeftAlone) {
  expect_untouched({
      "",
      "The author wrote 12 tokens in a basic style; the bearer of news arrived.",
      "execution 01hx3k5v7q9z1b3d5f7h9k1m3p finished in 12 ms (node fetch, attempt 2/3)",
      "id 123e4567-e89b-12d3-a456-426614174000 and 550E8400-E29B-41D4-A716-446655440000",
      "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 by someone@example.com",
      "GET https://api.example.com/v1/users?page=2&limit=50 -> 200",
      "at 2025-01-31T12:34:56.789Z, path /var/lib/weft/data.db, size 1.5 MB",
      R"({"type":"core.http","version":1,"tokens_used":42,"status":"ok","items":[1,2,3]})",
      "Ünïcödé text — with dashes – and quotes “like this”",
      "base64 of nothing: SGVsbG8gd29ybGQ=",
      "session started; secret sauce; password policy requires 12 characters",
  });
}

TEST(RedactPatterns, RedactingTwiceChangesNothingMore) {
  // The executor redacts, and the API layer may redact what it serves again: a second pass must
  // not find new matches in the first one's output (cases found by fuzzing the scanner).
  for (const std::string& in : {
           std::string("X-ghp_0123456789abcdefghijABCDEFGHIJ-Token: value1 next"),
           std::string("sk_live_AKIAsk-Authorization: Bearer wk_Authorization"),
           std::string("xoxb-AIzaAIzask_live_sk_live_Authorization: password"),
           std::string("abcdef0123token=Bearer x"),
           std::string("url=https://user:pw@host/path password=x"),
           std::string("Authorization: Bearer abc\npassword: [REDACTED]@host"),
       }) {
    const std::string once = redact_patterns(in);
    EXPECT_NE(once, in) << in;
    EXPECT_EQ(redact_patterns(once), once) << in;
  }
  EXPECT_EQ(redact_patterns("X-ghp_0123456789abcdefghijABCDEFGHIJ-Token: value1 next"),
            "X-ghp_[REDACTED]-Token: [REDACTED] next");
}

// ---- exact values -------------------------------------------------------------------------------

TEST(Redactor, MasksExactValuesInsideLongerText) {
  Redactor r;
  EXPECT_TRUE(r.empty());
  r.add_secret("s3cr3tValue");
  EXPECT_FALSE(r.empty());
  EXPECT_EQ(r.redact("connecting with s3cr3tValue!"), "connecting with [REDACTED]!");
  EXPECT_EQ(r.redact("xs3cr3tValuex s3cr3tValue"), "x[REDACTED]x [REDACTED]");
  EXPECT_EQ(r.redact("s3cr3tValu"), "s3cr3tValu");
  EXPECT_EQ(r.redact("nothing here"), "nothing here");
  // The pattern layer runs too, and masks what the exact layer left of a secret-named value.
  EXPECT_EQ(r.redact("password=other"), "password=[REDACTED]");
  EXPECT_EQ(r.redact("password=s3cr3tValue2024&x=1"), "password=[REDACTED]&x=1");
}

TEST(Redactor, EmptySecretsAreIgnored) {
  Redactor r;
  r.add_secret("");
  r.add_basic_auth("", "");
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.redact("text"), "text");
}

TEST(Redactor, MasksUrlEncodedForms) {
  Redactor r;
  r.add_secret("p@ss word/\xc3\xa9+");
  EXPECT_EQ(r.redact("q=p%40ss+word%2F%C3%A9%2B&x=1"), "q=[REDACTED]&x=1");
  EXPECT_EQ(r.redact("q=p%40ss%20word%2F%C3%A9%2B"), "q=[REDACTED]");
  EXPECT_EQ(r.redact("q=p%40ss%20word%2f%c3%a9%2b"), "q=[REDACTED]");
  EXPECT_EQ(r.redact("raw p@ss word/\xc3\xa9+ end"), "raw [REDACTED] end");
}

TEST(Redactor, MasksBase64Forms) {
  Redactor r;
  const std::string secret = "secret>>?value";  // base64 contains '+' and '/' (or '-' and '_')
  r.add_secret(secret);
  // Standard: c2VjcmV0Pj4/dmFsdWU=, url-safe: c2VjcmV0Pj4_dmFsdWU=
  EXPECT_EQ(r.redact("blob c2VjcmV0Pj4/dmFsdWU= end"), "blob [REDACTED] end");
  EXPECT_EQ(r.redact("blob c2VjcmV0Pj4_dmFsdWU end"), "blob [REDACTED] end");
  EXPECT_EQ(r.redact("blob c2VjcmV0Pj4_dmFsdWU= end"), "blob [REDACTED] end");
}

TEST(Redactor, MasksJsonEscapedForms) {
  Redactor r;
  const std::string secret = "a\"b\\c\nd\x01";
  r.add_secret(secret);
  Json doc = Json::object();
  doc.set("note", "value is " + secret);
  const std::string dumped = doc.dump();
  ASSERT_NE(dumped.find("a\\\"b\\\\c\\nd\\u0001"), std::string::npos) << dumped;
  EXPECT_EQ(r.redact(dumped), R"({"note":"value is [REDACTED]"})");
  // A JSON document quoted inside another one.
  Json outer = Json::object();
  outer.set("body", dumped);
  EXPECT_EQ(r.redact(outer.dump()), R"({"body":"{\"note\":\"value is [REDACTED]\"}"})");
}

TEST(Redactor, BasicAuthMasksThePasswordAndTheEncodedPair) {
  Redactor r;
  r.add_basic_auth("alice", "open sesame");
  // base64("alice:open sesame") = YWxpY2U6b3BlbiBzZXNhbWU=
  EXPECT_EQ(r.redact("header YWxpY2U6b3BlbiBzZXNhbWU= sent"), "header [REDACTED] sent");
  EXPECT_EQ(r.redact("pw open sesame"), "pw [REDACTED]");
  EXPECT_EQ(r.redact("user alice"), "user alice");  // the user name is not a secret
}

TEST(Redactor, ShortSecretsOnlyMatchWholeStrings) {
  Redactor r;
  r.add_secret("ab1");
  EXPECT_EQ(r.redact("ab1"), "[REDACTED]");
  EXPECT_EQ(r.redact("ab1 and cab1e"), "ab1 and cab1e");
  // base64("ab1") = "YWIx" is long enough to match anywhere, so it is not registered.
  EXPECT_EQ(r.redact("YWIx"), "YWIx");
  Json j = Json::array({"ab1", "xab1"});
  EXPECT_TRUE(r.redact_json(j));
  EXPECT_EQ(j.dump(), R"(["[REDACTED]","xab1"])");
  // Exactly kMinExactLength matches inside text.
  Redactor r4;
  r4.add_secret("wxyz");
  EXPECT_EQ(r4.redact("awxyzb"), "a[REDACTED]b");
}

TEST(Redactor, OverlappingAndNestedSecretsLeaveNothingBehind) {
  Redactor r;
  r.add_secret("abcdef");
  r.add_secret("defghi");
  EXPECT_EQ(r.redact("xxabcdefghixx"), "xx[REDACTED]xx");
  EXPECT_EQ(r.redact("abcdef defghi"), "[REDACTED] [REDACTED]");

  Redactor nested;
  nested.add_secret("topsecret");
  nested.add_secret("topsecretvalue");
  EXPECT_EQ(nested.redact("v=topsecretvalue;w=topsecret"), "v=[REDACTED];w=[REDACTED]");
  // Adjacent occurrences merge into one mask.
  EXPECT_EQ(nested.redact("topsecrettopsecret"), "[REDACTED]");
  // Self-overlapping occurrences.
  Redactor rep;
  rep.add_secret("aaaa");
  EXPECT_EQ(rep.redact("baaaaab"), "b[REDACTED]b");
}

TEST(Redactor, RedactInPlaceReportsChangesAndKeepsUntouchedText) {
  Redactor r;
  r.add_secret("hunter22");
  std::string clean = "a perfectly ordinary log line without anything to hide, long enough for the heap";
  const char* before = clean.data();
  EXPECT_FALSE(r.redact_in_place(clean));
  EXPECT_EQ(clean.data(), before);  // not reallocated
  std::string dirty = "pw hunter22";
  EXPECT_TRUE(r.redact_in_place(dirty));
  EXPECT_EQ(dirty, "pw [REDACTED]");
  std::string pattern_only = "token=abc";
  EXPECT_TRUE(r.redact_in_place(pattern_only));
  EXPECT_EQ(pattern_only, "token=[REDACTED]");
}

// ---- JSON -------------------------------------------------------------------------------------------

TEST(RedactorJson, MasksSecretMembersAndExactValuesInDeepStructures) {
  Redactor r;
  r.add_secret("s3cr3tValue");
  auto parsed = Json::parse(R"({
    "a": {"b": [{"password": "x", "note": "uses s3cr3tValue here"}, "s3cr3tValue", 1, null]},
    "token": {"value": "abc", "kind": "oauth"},
    "api_key": 12345,
    "secret": true,
    "client_secret": "",
    "tokens": 12,
    "author": "Jane",
    "headers": [{"Authorization": "Bearer xyz"}, "Authorization: Basic Zm9vOmJhcg=="],
    "url": "https://u:pw@example.com"
  })");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  Json doc = *parsed;
  const Json original = doc;
  EXPECT_TRUE(r.redact_json(doc));
  EXPECT_EQ(
      doc.dump(),
      R"({"a":{"b":[{"password":"[REDACTED]","note":"uses [REDACTED] here"},"[REDACTED]",1,null]},)"
      R"("token":{"value":"abc","kind":"oauth"},"api_key":"[REDACTED]","secret":true,"client_secret":"",)"
      R"("tokens":12,"author":"Jane","headers":[{"Authorization":"[REDACTED]"},"Authorization: [REDACTED]"],)"
      R"("url":"https://u:[REDACTED]@example.com"})");
  // The copy taken before shares storage with `doc` until written: it must be unchanged.
  EXPECT_EQ(original, *parsed);
  EXPECT_NE(original.dump().find("s3cr3tValue"), std::string::npos);
  // A second pass finds nothing left to do.
  EXPECT_FALSE(r.redact_json(doc));
}

TEST(RedactorJson, UnchangedValuesReportFalse) {
  Redactor r;
  r.add_secret("s3cr3tValue");
  auto parsed = Json::parse(R"({"a":[1,2,{"b":"plain","tokens_used":3}],"c":null,"d":true,"e":1.5})");
  ASSERT_TRUE(parsed.ok());
  Json doc = *parsed;
  EXPECT_FALSE(r.redact_json(doc));
  EXPECT_EQ(doc, *parsed);
  Json scalar = "plain";
  EXPECT_FALSE(r.redact_json(scalar));
  Json number = 42;
  EXPECT_FALSE(r.redact_json(number));
}

TEST(RedactorJson, MemberNamesAreRedactedForExactValuesAndStayUnique) {
  Redactor r;
  r.add_secret("keyname-secret");
  r.add_secret("other-secret-x");
  Json doc = Json::object();
  doc.set("keyname-secret", 1);
  doc.set("other-secret-x", 2);
  doc.set("[REDACTED]", 3);
  doc.set("normal", "has keyname-secret inside");
  EXPECT_TRUE(r.redact_json(doc));
  ASSERT_EQ(doc.size(), 4u);
  std::vector<std::string> names;
  for (const auto& [name, value] : doc.as_object()) {
    EXPECT_EQ(name.find("secret"), std::string::npos) << name;
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end()) << "duplicate member names";
  EXPECT_EQ(doc["normal"].as_string(), "has [REDACTED] inside");
}

TEST(RedactorJson, RedactedLeavesTheArgumentAlone) {
  Redactor r;
  Json doc = Json::object();
  doc.set("password", "hunter2");
  Json copy = r.redacted(doc);
  EXPECT_EQ(doc["password"].as_string(), "hunter2");
  EXPECT_EQ(copy["password"].as_string(), "[REDACTED]");
}

// ---- concurrency ------------------------------------------------------------------------------------

TEST(Redactor, ConcurrentAddSecretAndRedact) {
  Redactor r;
  constexpr int kWriters = 2, kReaders = 4, kSecretsPerWriter = 200;
  std::atomic<bool> first_added{false}, done{false};
  std::atomic<int> reader_failures{0}, masked_reads{0};
  auto secret = [](int w, int k) {
    return "secret-" + std::to_string(w) + "-" + std::to_string(k) + "-value";
  };
  const std::string line = "log " + secret(0, 0) + " tail";
  std::vector<std::thread> writers, readers;
  for (int w = 0; w < kWriters; ++w)
    writers.emplace_back([&, w] {
      for (int k = 0; k < kSecretsPerWriter; ++k) {
        r.add_secret(secret(w, k));
        if (w == 0 && k == 0) first_added.store(true);
      }
    });
  for (int t = 0; t < kReaders; ++t)
    readers.emplace_back([&] {
      // Whatever the interleaving: once secret(0, 0) is registered, every later redaction masks
      // it; before that, the line comes back whole or masked, never mangled.
      do {
        const bool registered = first_added.load();
        std::string out = r.redact(line);
        Json j = Json::array({line});
        r.redact_json(j);
        const bool masked = out == "log [REDACTED] tail" && j.at(0).as_string() == out;
        if (masked) masked_reads.fetch_add(1);
        if (registered ? !masked : (!masked && out != line)) reader_failures.fetch_add(1);
      } while (!done.load());
    });
  for (auto& t : writers) t.join();
  done.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(reader_failures.load(), 0);
  EXPECT_GT(masked_reads.load(), 0);  // every reader's last pass ran after all writers finished
  for (int w = 0; w < kWriters; ++w)
    for (int k = 0; k < kSecretsPerWriter; k += 37)
      EXPECT_EQ(r.redact("x " + secret(w, k) + " y"), "x [REDACTED] y") << secret(w, k);
}

// Responses handed back to node code: only the run's own secrets are masked, so an OAuth token
// endpoint's {"access_token": ...} still reaches the node that asked for it.
TEST(RedactorExact, MasksOnlyRegisteredValues) {
  Redactor r;
  Json v = *Json::parse(R"({"access_token": "fresh-token-1234", "echo": "Bearer s3cr3t-value-99", "n": 5})");
  EXPECT_FALSE(r.redact_exact_json(v));  // no secrets yet: nothing changes
  r.add_secret("s3cr3t-value-99");
  EXPECT_TRUE(r.redact_exact_json(v));
  EXPECT_EQ(v["access_token"].as_string(), "fresh-token-1234");
  EXPECT_EQ(v["echo"].as_string(), "Bearer [REDACTED]");
  // The full layer masks the member named like a secret as well.
  Json w = *Json::parse(R"({"access_token": "fresh-token-1234"})");
  EXPECT_TRUE(r.redact_json(w));
  EXPECT_EQ(w["access_token"].as_string(), "[REDACTED]");
}

// A URL that is itself the secret (a Slack incoming webhook): servers echo its path, clients
// report it normalised; the token must be masked in every such form, common words must not.
TEST(RedactorUrl, MasksThePartsOfASecretUrlThatServersAndClientsShow) {
  Redactor r;
  const std::string token = "Zq8XWv3kT5yPaL0mNcR2dBfE";
  const std::string url = "HTTPS://Hooks.Example.COM:443/services/T0A1B2C3/./B0D4E5F6/" + token + "?channel=ops#frag";
  r.add_secret_url(url);
  EXPECT_EQ(r.redact("posting to " + url), "posting to [REDACTED]");
  // As a client reports it: lower-case scheme and host, dot segments removed, fragment dropped, with
  // and without the default port.
  EXPECT_EQ(r.redact("url https://hooks.example.com:443/services/T0A1B2C3/B0D4E5F6/" + token + "?channel=ops end"),
            "url [REDACTED] end");
  EXPECT_EQ(r.redact("url https://hooks.example.com/services/T0A1B2C3/B0D4E5F6/" + token + "?channel=ops"),
            "url [REDACTED]");
  // As a server echoes it: the path with or without the query, the path after its first segment,
  // the last segment alone.
  EXPECT_EQ(r.redact("POST /services/T0A1B2C3/B0D4E5F6/" + token + "?channel=ops HTTP/1.1"),
            "POST [REDACTED] HTTP/1.1");
  EXPECT_EQ(r.redact("no team T0A1B2C3/B0D4E5F6/" + token), "no team [REDACTED]");
  EXPECT_EQ(r.redact("invalid_token: " + token), "invalid_token: [REDACTED]");
  // Inside JSON written by a server that escapes slashes, and percent-encoded into another URL.
  EXPECT_EQ(r.redact(R"({"path":"\/services\/T0A1B2C3\/B0D4E5F6\/)" + token + R"("})"),
            R"({"path":"\/services\/[REDACTED]"})");
  EXPECT_EQ(r.redact("next=%2Fservices%2FT0A1B2C3%2FB0D4E5F6%2F" + token), "next=%2Fservices%2F[REDACTED]");
  // The query (8 characters or more) is a part too.
  EXPECT_EQ(r.redact("query channel=ops"), "query [REDACTED]");
  // Short parts stay visible: the first segment and the host are not secrets.
  EXPECT_EQ(r.redact("services: hooks.example.com ok"), "services: hooks.example.com ok");
  EXPECT_EQ(r.redact("/services/ and /services/T0A1B2C3"), "/services/ and /services/T0A1B2C3");
}

TEST(RedactorUrl, QueryTokensDecodedPathsAndDotSegments) {
  Redactor r;
  r.add_secret_url("http://api.example.com/v1/a/../hooks/sec%20ret%2Dpath-0042?token=QpW7eR9tY1uI&x=1");
  // The query and its long values.
  EXPECT_EQ(r.redact("got token=QpW7eR9tY1uI&x=1"), "got [REDACTED]");
  EXPECT_EQ(r.redact("value QpW7eR9tY1uI"), "value [REDACTED]");
  // Normalised ("/v1/a/../hooks" is "/v1/hooks") and percent-decoded paths.
  EXPECT_EQ(r.redact("at /v1/hooks/sec%20ret%2Dpath-0042 ."), "at /v1/[REDACTED] .");
  EXPECT_EQ(r.redact("at hooks/sec ret-path-0042 ."), "at [REDACTED] .");
  EXPECT_EQ(r.redact("http://api.example.com/v1/hooks/sec%20ret%2Dpath-0042?token=QpW7eR9tY1uI&x=1"),
            "[REDACTED]");
  EXPECT_EQ(r.redact("x=1 and /v1 stay"), "x=1 and /v1 stay");
  // A value that is not a URL is registered as a plain secret.
  Redactor plain;
  plain.add_secret_url("not-a-url-secret");
  EXPECT_EQ(plain.redact("a not-a-url-secret b"), "a [REDACTED] b");
}

}  // namespace
}  // namespace weft
