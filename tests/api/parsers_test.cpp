// Hostile input at the HTTP and JSON layers (SECURITY.md checklist A, "Parsers"): every case gets
// a bounded answer (or a closed connection) and the server keeps serving everyone else.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "tests/api/fixture.hpp"

namespace weft::apitest {
namespace {

constexpr int64_t kHeaderTimeoutMs = 500;

class ParsersTest : public ApiTest {
 protected:
  void configure(app::Config&, api::ServeConfig& serve) override {
    serve.http.header_timeout_ms = kHeaderTimeoutMs;
    serve.http.body_timeout_ms = 1000;
    serve.http.max_request_bytes = 4u << 20;
  }
  // The server still answers a normal request promptly.
  void expect_alive(const std::string& token) {
    const int64_t t0 = now_ms();
    Response h = client().get("/healthz");
    EXPECT_EQ(h.status, 200) << h.describe();
    Response l = client().get("/api/workflows", token);
    EXPECT_EQ(l.status, 200) << l.describe();
    EXPECT_LT(now_ms() - t0, 3000) << "the server answered, but slowly";
  }
  Response post_raw(const std::string& path, const std::string& token, const std::string& body,
                    const std::string& content_type = "application/json") {
    return client().request("POST", path, token, body, {{"Content-Type", content_type}});
  }
};

TEST_P(ParsersTest, JsonNested100000DeepIs400) {
  TestUser u = make_user();
  const std::string arrays = std::string(100000, '[') + std::string(100000, ']');
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  objects += "1" + std::string(100000, '}');
  for (const std::string* body : std::vector<const std::string*>{&arrays, &objects}) {
    for (const char* path : {"/api/workflows", "/api/workflows/compile"}) {
      Response r = post_raw(path, u.token, *body);
      EXPECT_TRUE(IsError(r, 400, "invalid_json")) << path;
    }
    // Nested inside an otherwise valid workflow.
    std::string wf = R"({"name":"deep","nodes":[{"id":"a","type":"core.set","data":{"parameters":{"fields":)" +
                     *body + "}}}]}";
    EXPECT_TRUE(IsError(post_raw("/api/workflows", u.token, wf), 400, "invalid_json"));
    EXPECT_TRUE(IsError(post_raw("/api/auth/login", "", *body), 400, "invalid_json"));
  }
  expect_alive(u.token);
}

TEST_P(ParsersTest, BodyOverTheLimitIs413OrClosedAndTheServerStillAnswers) {
  TestUser u = make_user();
  std::string big = "{\"name\":\"" + std::string(5u << 20, 'x') + "\",\"nodes\":[]}";
  const int64_t t0 = now_ms();
  Response r = post_raw("/api/workflows", u.token, big);
  EXPECT_TRUE(r.status == 413 || r.status == 0) << r.describe();
  EXPECT_LT(now_ms() - t0, 10000);
  expect_alive(u.token);
  // A Content-Length far beyond the limit, with no body behind it: refused (or dropped) without
  // waiting for 10 GB.
  {
    auto c = Connection::open(port());
    ASSERT_TRUE(c);
    std::string req = "POST /api/workflows HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + u.token +
                      "\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{";
    const int64_t t1 = now_ms();
    ASSERT_TRUE(c->send_all(req));
    Response h = c->read_response(8000);
    // Refused at once, or dropped when the body timeout (1 s here) expires.
    EXPECT_TRUE(h.status == 413 || h.status == 400 || h.status == 408 || h.transport_error.rfind("closed", 0) == 0)
        << h.describe();
    EXPECT_LT(now_ms() - t1, 8000) << "the server waited for a body it will never accept";
  }
  expect_alive(u.token);
  // Nothing was saved.
  EXPECT_EQ(client().get("/api/workflows", u.token).json()["workflows"].size(), 0u);
}

TEST_P(ParsersTest, WrongContentTypeIs415) {
  TestUser u = make_user();
  const std::string body = quick_workflow().dump();
  for (const char* ct : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                         "text/json", "application/json; charset=latin1", "application/xml"}) {
    EXPECT_TRUE(IsError(post_raw("/api/workflows", u.token, body, ct), 415, "unsupported_media_type")) << ct;
  }
  // Refused by Pistache's own Content-Type parser before the server sees the request: the status
  // is right; the body shape is checked in LibraryLevelRejectionsUseTheErrorShape.
  EXPECT_EQ(post_raw("/api/workflows", u.token, body, "application/jsonx").status, 415);
  // No content type at all.
  EXPECT_TRUE(IsError(client().request("POST", "/api/workflows", u.token, body), 415, "unsupported_media_type"));
  EXPECT_TRUE(IsError(client().request("POST", "/api/workflows/compile", u.token, body), 415));
  EXPECT_TRUE(IsError(client().request("POST", "/api/auth/login", "", R"({"email":"a@b.c","password":"x"})"), 415));
  // The accepted spellings.
  EXPECT_EQ(post_raw("/api/workflows", u.token, body, "application/json; charset=utf-8").status, 201);
  EXPECT_EQ(post_raw("/api/workflows", u.token, body, "Application/JSON").status, 201);
}

TEST_P(ParsersTest, InvalidUtf8NulAndDuplicateKeysInAWorkflowAre400) {
  TestUser u = make_user();
  const std::string good = quick_workflow("fine").dump();
  std::vector<std::pair<std::string, std::string>> cases = {
      {"invalid utf-8 in a string", R"({"name":"bad )" + std::string("\xff\xfe") + R"(","nodes":[]})"},
      {"overlong utf-8", R"({"name":")" + std::string("\xc0\xaf") + R"(","nodes":[]})"},
      {"utf-16 surrogate encoded as utf-8", R"({"name":")" + std::string("\xed\xa0\x80") + R"(","nodes":[]})"},
      {"truncated utf-8", R"({"name":")" + std::string("\xe2\x82") + R"(","nodes":[]})"},
      {"NUL byte in a string", std::string(R"({"name":"a)") + std::string(1, '\0') + R"(b","nodes":[]})"},
      {"NUL byte between tokens", std::string(R"({"name":"a",)") + std::string(1, '\0') + R"("nodes":[]})"},
      {"duplicate top-level key", R"({"name":"a","name":"b","nodes":[]})"},
      {"duplicate nodes key", R"({"name":"a","nodes":[],"nodes":[{"id":"x","type":"core.noop"}]})"},
      {"duplicate key in parameters",
       R"({"nodes":[{"id":"s","type":"core.manual_trigger","data":{"parameters":{"a":1,"a":2}}}]})"},
      {"trailing garbage", good + "x"},
      {"two documents", good + good},
      {"truncated", good.substr(0, good.size() / 2)},
  };
  for (const auto& [what, body] : cases) {
    for (const char* path : {"/api/workflows", "/api/workflows/compile"}) {
      Response r = post_raw(path, u.token, body);
      EXPECT_TRUE(IsError(r, 400, "invalid_json")) << what << " → " << path;
    }
  }
  EXPECT_EQ(client().get("/api/workflows", u.token).json()["workflows"].size(), 0u);
  expect_alive(u.token);
}

TEST_P(ParsersTest, AWorkflowWith100000NodesGetsABoundedAnswer) {
  // The compiler answers before anything is stored: the database plays no part, so one backend
  // is enough for these four megabytes.
  if (GetParam() == "postgres") GTEST_SKIP() << "backend-independent: runs on sqlite";
  TestUser u = make_user();
  std::string nodes;
  nodes.reserve(4u << 20);
  for (int i = 0; i < 100000; ++i) {
    if (i) nodes += ",";
    nodes += R"({"id":"n)" + std::to_string(i) + R"(","type":"core.noop"})";
  }
  const std::string body = R"({"name":"huge","nodes":[)" + nodes + "]}";
  ASSERT_LT(body.size(), 4u << 20) << "the case must fit under max_request_bytes to reach the compiler";

  // Sends `path` in a thread while timing normal requests from other connections.
  auto while_others_wait = [&](const std::string& path, int64_t* worst) {
    Response out;
    std::atomic<bool> done{false};
    std::thread big([&] {
      out = post_raw(path, u.token, body);
      done = true;
    });
    *worst = 0;
    // Probe until the big request is answered (paced, bounded by the request's own timeout).
    (void)eventually(
        [&] {
          const int64_t q0 = now_ms();
          Response h = client().get("/healthz");
          EXPECT_EQ(h.status, 200) << h.describe();
          *worst = std::max(*worst, now_ms() - q0);
          return done.load();
        },
        30000, 20);
    big.join();
    return out;
  };

  int64_t worst = 0;
  int64_t t0 = now_ms();
  Response c = while_others_wait("/api/workflows/compile", &worst);
  EXPECT_LT(now_ms() - t0, 15000);
  ASSERT_EQ(c.status, 422) << c.describe();
  const Json errors = c.json()["errors"];
  ASSERT_GE(errors.size(), 1u);
  EXPECT_EQ(errors.at(0)["code"].as_string(), "too_many_nodes") << c.describe();
  EXPECT_LE(c.body.size(), 1u << 20) << "the diagnostics must be bounded too";
  EXPECT_LT(worst, 1000) << "a normal request waited " << worst << " ms while a 100,000-node body was compiled";

  t0 = now_ms();
  Response s = while_others_wait("/api/workflows", &worst);
  EXPECT_LT(now_ms() - t0, 20000);
  EXPECT_TRUE(s.status == 201 || s.status == 400 || s.status == 413 || s.status == 422) << s.describe();
  EXPECT_LT(worst, 1000) << "a normal request waited " << worst << " ms while a 100,000-node body was saved";
  if (s.status == 201) {
    EXPECT_FALSE(s.json()["compile"]["ok"].as_bool(true));
    // And it cannot run.
    Response x = execute(u.token, s.json()["id"].as_string());
    EXPECT_EQ(x.status, 400) << x.describe();
  }
  expect_alive(u.token);
}

TEST_P(ParsersTest, ManyHeadersGetABoundedAnswer) {
  TestUser u = make_user();
  std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 20000; ++i) req += "X-Filler-" + std::to_string(i) + ": v\r\n";
  req += "\r\n";
  auto c = Connection::open(port());
  ASSERT_TRUE(c);
  const int64_t t0 = now_ms();
  (void)c->send_all(req, 8000);
  Response r = c->read_response(8000);
  // Any answer (even 200) or a close is fine as long as it is quick.
  EXPECT_TRUE(r.status != 0 || r.transport_error.rfind("closed", 0) == 0) << r.describe();
  EXPECT_LT(now_ms() - t0, 3000);
  expect_alive(u.token);
}

// One client sending a large header section (under max_request_bytes) must not stall everyone
// else: requests on other connections keep being answered promptly while it is being read.
TEST_P(ParsersTest, LargeHeadersDoNotStallOtherClients) {
  TestUser u = make_user();
  std::string many = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 40000; ++i) many += "X-Filler-" + std::to_string(i) + ": v\r\n";
  many += "\r\n";
  const std::string one_long =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: " + std::string(2u << 20, 'a') + "\r\n\r\n";
  for (const std::string* req : std::vector<const std::string*>{&many, &one_long}) {
    SCOPED_TRACE(req == &many ? "40,000 headers (730 KiB)" : "one 2 MiB header");
    std::atomic<bool> sent{false};
    std::atomic<int64_t> attacker_ms{-1};
    std::thread attacker([&] {
      auto c = Connection::open(port());
      if (!c) return;
      const int64_t t0 = now_ms();
      (void)c->send_all(*req, 30000);
      sent = true;
      (void)c->read_response(30000);
      attacker_ms = now_ms() - t0;
    });
    ASSERT_TRUE(eventually([&] { return sent.load(); }, 30000, 5));
    // Several fresh connections (spread over the reactor threads), each timed.
    int64_t worst = 0;
    for (int i = 0; i < 6; ++i) {
      const int64_t q0 = now_ms();
      Response h = client().get("/healthz");
      EXPECT_EQ(h.status, 200) << h.describe();
      worst = std::max(worst, now_ms() - q0);
    }
    attacker.join();
    EXPECT_LT(worst, 1000) << "a normal request waited " << worst << " ms behind one client's large header "
                           << "section (which took " << attacker_ms.load() << " ms to answer)";
  }
  expect_alive(u.token);
}

// Rejections made before a handler runs (too large, a Content-Type the library could not parse)
// carry the same {"error":{...}} shape as every other error; the body timeout's status is checked.
TEST_P(ParsersTest, LibraryLevelRejectionsUseTheErrorShape) {
  TestUser u = make_user();
  Response big = post_raw("/api/workflows", u.token, "{\"name\":\"" + std::string(5u << 20, 'x') + "\",\"nodes\":[]}");
  if (big.status != 0) {
    EXPECT_TRUE(IsError(big, 413)) << "over max_request_bytes";
  }
  EXPECT_TRUE(IsError(post_raw("/api/workflows", u.token, quick_workflow().dump(), "application/jsonx"), 415))
      << "Content-Type the library cannot parse";
  auto c = Connection::open(port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send_all("POST /api/workflows HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + u.token +
                          "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"));
  Response slow = c->read_response(8000);
  // The body timeout fires inside Pistache's transport, which answers a bare 408 itself (the
  // handler's onTimeout is not consulted in 0.0.5): the status is right, the shape cannot be ours.
  EXPECT_EQ(slow.status, 408) << "body timeout: " << slow.describe();
}

TEST_P(ParsersTest, MalformedRequestsDoNotHurtTheServer) {
  TestUser u = make_user();
  const std::vector<std::string> junk = {
      "GARBAGE\r\n\r\n",
      "GET\r\n\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      std::string("\x16\x03\x01\x02\x00\x01\x00", 7),  // a TLS ClientHello on the plain port
      "GET /healthz HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      "POST /api/auth/login HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 9\r\n"
      "Content-Type: application/json\r\n\r\n{}x",
      "GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "GET /healthz HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
      std::string(1000, '\0'),
  };
  // All at once (each may have to wait for a timeout), then every answer.
  std::vector<std::unique_ptr<Connection>> conns;
  for (const auto& j : junk) {
    conns.push_back(Connection::open(port()));
    ASSERT_TRUE(conns.back());
    (void)conns.back()->send_all(j);
  }
  for (size_t i = 0; i < junk.size(); ++i) {
    Response r = conns[i]->read_response(5000);
    // An error status or a closed connection; never a hang, never a 2xx for nonsense.
    if (r.status != 0) {
      EXPECT_TRUE(r.status >= 400 || junk[i].find("/healthz") != std::string::npos) << i << ": " << r.describe();
    } else {
      EXPECT_NE(r.transport_error.rfind("timeout", 0), 0u) << i << ": no answer and no close: " << r.transport_error;
    }
  }
  expect_alive(u.token);
}

TEST_P(ParsersTest, SlowHeadersAreDroppedWhileOthersAreServed) {
  TestUser u = make_user();
  const std::string req = "GET /api/workflows HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + u.token +
                          "\r\nX-Padding: " + std::string(40, 'p') + "\r\n\r\n";
  // Several slow clients at once, each trickling one byte per step.
  constexpr int kSlow = 8;
  std::vector<std::unique_ptr<Connection>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(Connection::open(port()));
    ASSERT_TRUE(slow.back());
  }
  std::vector<int64_t> dropped_at(kSlow, -1);
  const int64_t t0 = now_ms();
  int served = 0;
  for (size_t pos = 0; pos < req.size(); ++pos) {
    for (int i = 0; i < kSlow; ++i) {
      if (dropped_at[i] >= 0) continue;
      if (!slow[i]->send_all(std::string_view(req).substr(pos, 1), 1000) || slow[i]->wait_closed(0))
        dropped_at[i] = now_ms() - t0;
    }
    // Meanwhile everyone else is served promptly.
    const int64_t q0 = now_ms();
    Response h = client().get("/healthz");
    EXPECT_EQ(h.status, 200) << h.describe();
    EXPECT_LT(now_ms() - q0, 1500) << "a normal request waited behind the slow clients";
    ++served;
    bool all = true;
    for (int64_t d : dropped_at) all = all && d >= 0;
    if (all) break;
    // Pace the trickle: one byte every 50 ms, far slower than the header timeout allows.
    if (slow[0]->wait_closed(50) && dropped_at[0] < 0) dropped_at[0] = now_ms() - t0;
  }
  for (int i = 0; i < kSlow; ++i) {
    if (dropped_at[i] < 0 && slow[i]->wait_closed(3000)) dropped_at[i] = now_ms() - t0;
    EXPECT_GE(dropped_at[i], 0) << "slow client " << i << " was never dropped (the whole header took "
                                << (now_ms() - t0) << " ms against a " << kHeaderTimeoutMs << " ms timeout)";
    if (dropped_at[i] >= 0) {
      EXPECT_LT(dropped_at[i], kHeaderTimeoutMs + 4000) << "client " << i;
    }
  }
  EXPECT_GT(served, 0);
  expect_alive(u.token);
}

WEFT_API_BACKENDS(ParsersTest);

// An answer computed off the reactor (blocking pool) that takes longer than the header timeout
// still reaches the client: the header/body timeouts are for requests being received.
class SlowAnswerTest : public ApiTest {
 protected:
  void configure(app::Config&, api::ServeConfig& serve) override {
    serve.http.header_timeout_ms = 100;
    serve.http.body_timeout_ms = 100;
    // Expensive enough that hashing one password takes well over 100 ms.
    serve.auth.pwhash_opslimit = 3;
    serve.auth.pwhash_memlimit = 128u << 20;
  }
};

TEST_P(SlowAnswerTest, ABlockingHandlerSlowerThanTheHeaderTimeoutIsAnswered) {
  Json b = Json::object();
  b.set("email", server().bootstrap_email());
  b.set("password", server().bootstrap_password());
  const int64_t t0 = now_ms();
  Response r = client().post("/api/auth/login", b);
  const int64_t took = now_ms() - t0;
  ASSERT_EQ(r.status, 200) << r.describe() << " after " << took << " ms";
  EXPECT_TRUE(r.json()["access_token"].is_string());
  if (took <= 150) GTEST_SKIP() << "login took only " << took << " ms: this machine hashes too fast to tell";
}

WEFT_API_BACKENDS(SlowAnswerTest);

}  // namespace
}  // namespace weft::apitest
