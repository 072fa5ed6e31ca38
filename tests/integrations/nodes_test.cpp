// The integrations pack (plugins/integrations) through the SDK's fake host, with real HTTP: the
// built weft-integrations.so is loaded with dlopen, its http_request service goes to a
// LoopbackHost (tests/integrations/loopback_host.hpp: applies the credential like the host, then
// calls the REAL guarded client weft::net::OutboundHttp), and the other side is a scripted
// loopback server (tests/net/test_server.hpp) that answers like the API in question would. Each
// test asserts what reached the server (method, path, headers, body) and what the node made of
// the answer.
//
// This binary is compiled with WEFT_SDK_KEEP_RAPIDJSON_ASSERT: it links the host's weft_core (for
// weft_net), so the SDK headers must use RapidJSON the way weft_core does. The plugin itself keeps
// its own (throwing) assertions inside the .so.
#include <weft/testing/fake_host.hpp>

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <set>
#include <string>

#include "host/core/json.hpp"
#include "tests/integrations/loopback_host.hpp"
#include "tests/net/test_server.hpp"

namespace {

using weft::Json;
using weft::integrations_test::LoopbackHost;
using weft::net::testing::TestHttpServer;
using weft::net::testing::TestRequest;
using weft::net::testing::TestResponse;
using weft::testing::ExecuteOptions;
using weft::testing::ExecuteResult;
using weft::testing::FakeHost;
using weft::testing::FakeHostOptions;

// The built plugin, opened once for the whole binary (each test inits and shuts it down).
struct PluginLibrary {
  void* handle = nullptr;
  weft_plugin_negotiate_fn negotiate = nullptr;
  weft_plugin_init_fn init = nullptr;
  weft_plugin_shutdown_fn shutdown = nullptr;
};
const PluginLibrary& plugin() {
  static PluginLibrary lib = [] {
    PluginLibrary l;
    l.handle = dlopen(WEFT_INTEGRATIONS_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (!l.handle) return l;
    l.negotiate = reinterpret_cast<weft_plugin_negotiate_fn>(dlsym(l.handle, WEFT_PLUGIN_NEGOTIATE_SYMBOL));
    l.init = reinterpret_cast<weft_plugin_init_fn>(dlsym(l.handle, WEFT_PLUGIN_INIT_SYMBOL));
    l.shutdown = reinterpret_cast<weft_plugin_shutdown_fn>(dlsym(l.handle, WEFT_PLUGIN_SHUTDOWN_SYMBOL));
    return l;
  }();
  return lib;
}

Json parse(std::string_view text) {
  auto j = Json::parse(text);
  return j.ok() ? std::move(*j) : Json();
}

std::string http_date(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

int64_t unix_seconds_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

int64_t monotonic_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

TestResponse json_response(int status, std::string body) {
  return TestResponse::text(status, std::move(body), "application/json; charset=utf-8");
}

class IntegrationNodes : public ::testing::Test {
 protected:
  // Starts the scripted server, the loopback host in front of it and a fake host that loads the
  // plugin. A null handler answers 200 "ok".
  void serve(weft::net::testing::TestHandler handler, FakeHostOptions options = {}) {
    server_ = std::make_unique<TestHttpServer>(std::move(handler));
    loop_ = std::make_unique<LoopbackHost>(std::vector<std::string>{server_->host_port()});
    options.http_handler = [this](std::string_view req, std::string& out, std::string& err) {
      return loop_->handle(req, out, err);
    };
    load(std::move(options));
  }
  void load(FakeHostOptions options) {
    ASSERT_NE(plugin().handle, nullptr) << dlerror();
    host_ = std::make_unique<FakeHost>(std::move(options));
    ASSERT_EQ(host_->load(plugin().negotiate, plugin().init, plugin().shutdown), WEFT_OK)
        << host_->load_error();
  }
  void TearDown() override {
    host_.reset();  // shuts the plugin down before the services it used go away
    loop_.reset();
    server_.reset();
  }

  // The credential the node finds under data.credentials.auth.
  void credential(std::string type, std::map<std::string, std::string> fields) {
    loop_->credentials["auth"] = {std::move(type), std::move(fields)};
  }
  std::string url(std::string_view path) const { return server_->url(path); }

  ExecuteResult run(std::string_view type, const std::string& params, const ExecuteOptions& o = {}) {
    ExecuteResult r = host_->execute(type, params, R"({"main": null})", o);
    for (const auto& v : r.violations) ADD_FAILURE() << type << ": " << v;
    return r;
  }
  // Expects an error with `status` and `code`; returns its details.
  Json expect_error(const ExecuteResult& r, weft_status status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.output_json << r.error_json;
    EXPECT_EQ(r.error_code(), code) << r.error_json;
    return parse(r.error_details());
  }
  // Expects a parameter error naming `field`, and that nothing was sent.
  void expect_invalid_param(const std::string& type, const std::string& params, const std::string& field) {
    SCOPED_TRACE(params);
    auto r = run(type, params);
    EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT) << r.output_json;
    EXPECT_TRUE(r.error_code() == "invalid_parameter" || r.error_code() == "missing_parameter")
        << r.error_json;
    EXPECT_NE(r.error_message().find(field), std::string::npos) << r.error_message();
    EXPECT_EQ(server_->request_count(), 0u);
  }
  TestRequest only_request() const {
    auto all = server_->requests();
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? TestRequest{} : all.back();
  }

  std::unique_ptr<TestHttpServer> server_;
  std::unique_ptr<LoopbackHost> loop_;
  std::unique_ptr<FakeHost> host_;
};

// ---- registration ------------------------------------------------------------------------------

TEST_F(IntegrationNodes, RegistersThreeNodeTypesWithCompleteSchemas) {
  serve(nullptr);
  EXPECT_TRUE(host_->registration_problems().empty());
  const std::map<std::string, std::set<std::string>> expected = {
      {"http.request", {"http_bearer", "http_basic", "http_header", "http_query"}},
      {"slack.message", {"slack_webhook", "slack_token"}},
      {"github.issue", {"github_token"}}};
  ASSERT_EQ(host_->node_types().size(), expected.size());
  for (const auto& t : host_->node_types()) {
    SCOPED_TRACE(t.type_name);
    ASSERT_TRUE(expected.count(t.type_name));
    EXPECT_EQ(t.type_version, 1u);
    EXPECT_EQ(t.flags, WEFT_NODE_FLAG_SIDE_EFFECTS);
    Json s = parse(t.schema_json);
    for (const char* key : {"display_name", "description", "category"})
      EXPECT_FALSE(s[key].as_string().empty()) << key;
    EXPECT_EQ(s["flags"].dump(), R"(["side_effects"])");
    EXPECT_EQ(s["inputs"].dump(), R"([{"name":"main","type":"any"}])");
    EXPECT_EQ(s["outputs"].dump(), R"([{"name":"main","type":"json"}])");
    std::set<std::string> creds;
    for (const Json& c : s["credential_types"].as_array()) creds.insert(c.as_string());
    EXPECT_EQ(creds, expected.at(t.type_name));
    std::set<std::string> names;
    for (const Json& f : s["fields"].as_array()) {
      EXPECT_TRUE(names.insert(f["name"].as_string()).second) << f.dump();
      EXPECT_FALSE(f["type"].as_string().empty()) << f.dump();
      EXPECT_FALSE(f["description"].as_string().empty()) << f.dump();
      if (f["type"].as_string() == "select") {
        EXPECT_GT(f["options"].size(), 0u) << f.dump();
      }
    }
  }
}

TEST_F(IntegrationNodes, RegistersSevenCredentialTypes) {
  serve(nullptr);
  const std::map<std::string, std::string> expected_apply = {
      {"http_bearer", R"({"kind":"bearer","field":"token"})"},
      {"http_basic", R"({"kind":"basic","username_field":"username","password_field":"password"})"},
      {"http_header", R"({"kind":"header","name":"X-API-Key","field":"value","prefix":""})"},
      {"http_query", R"({"kind":"query","name":"api_key","field":"value"})"},
      {"slack_webhook", R"({"kind":"url","field":"url"})"},
      {"slack_token", R"({"kind":"bearer","field":"token"})"},
      {"github_token", R"({"kind":"bearer","field":"token"})"}};
  ASSERT_EQ(host_->credential_types().size(), expected_apply.size());
  for (const auto& [name, apply] : expected_apply) {
    SCOPED_TRACE(name);
    const std::string* text = host_->find_credential_type(name);
    ASSERT_NE(text, nullptr);
    Json t = parse(*text);
    EXPECT_EQ(t["apply"].dump(), apply);
    EXPECT_FALSE(t["display_name"].as_string().empty());
    EXPECT_FALSE(t["description"].as_string().empty());
    // Every field the apply rule names exists, and the fields carrying secrets are marked secret.
    std::map<std::string, bool> secret;
    for (const Json& f : t["fields"].as_array()) {
      EXPECT_TRUE(f["required"].as_bool()) << f.dump();
      EXPECT_FALSE(f["display_name"].as_string().empty()) << f.dump();
      secret[f["name"].as_string()] = f["secret"].as_bool();
    }
    for (const char* key : {"field", "password_field"}) {
      if (t["apply"].contains(key)) {
        EXPECT_TRUE(secret.at(t["apply"][key].as_string())) << key;
      }
    }
    if (t["apply"].contains("username_field")) {
      EXPECT_FALSE(secret.at(t["apply"]["username_field"].as_string()));
    }
  }
}

TEST_F(IntegrationNodes, LoadsOnAHostWithoutCredentialTypeRegistration) {
  FakeHostOptions o;
  o.offer_credential_types = false;
  const size_t host_lines_before = FakeHost::host_logs().size();
  load(std::move(o));
  EXPECT_EQ(host_->node_types().size(), 3u);
  EXPECT_TRUE(host_->credential_types().empty());
  EXPECT_EQ(FakeHost::host_logs().size(), host_lines_before);  // skipped silently
  // An older registrar table that ends before register_credential_type: the same.
  FakeHostOptions older;
  older.registrar_api_size = offsetof(weft_registrar_api, register_credential_type);
  load(std::move(older));
  EXPECT_EQ(host_->node_types().size(), 3u);
  EXPECT_TRUE(host_->credential_types().empty());
}

TEST_F(IntegrationNodes, WithoutTheHttpServiceNodesSayUnsupported) {
  load({});  // no http_handler: http_request is NULL
  auto r = host_->execute("http.request", R"({"url": "https://example.com/"})");
  EXPECT_EQ(r.status, WEFT_ERR_UNSUPPORTED);
  EXPECT_EQ(r.error_code(), "unsupported");
}

// ---- http.request: requests --------------------------------------------------------------------

TEST_F(IntegrationNodes, HttpGetParsesAJsonAnswerAndMergesTheQuery) {
  serve([](const TestRequest&) {
    TestResponse r = json_response(200, R"({"items":[1,2],"next":null})");
    r.headers.emplace_back("X-Trace", "abc");
    return r;
  });
  auto r = run("http.request",
               R"({"url": ")" + url("/v1/items?lang=en") +
                   R"(", "query": {"q": "a b&c", "page": 2, "exact": true, "tag": ["x", "y"], "skip": null},
                                   "headers": {"X-Client": "weft", "X-Num": 7}})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  TestRequest got = only_request();
  EXPECT_EQ(got.method, "GET");
  EXPECT_EQ(got.target, "/v1/items?lang=en&q=a%20b%26c&page=2&exact=true&tag=x&tag=y");
  EXPECT_EQ(got.header("x-client"), "weft");
  EXPECT_EQ(got.header("x-num"), "7");
  EXPECT_FALSE(got.has_header("authorization"));
  EXPECT_EQ(got.body, "");

  Json out = parse(r.output());
  EXPECT_EQ(out["status"].as_int(), 200);
  EXPECT_EQ(out["body"].dump(), R"({"items":[1,2],"next":null})");
  EXPECT_EQ(out["body_encoding"].as_string(), "json");
  EXPECT_EQ(out["headers"]["x-trace"].as_string(), "abc");
  EXPECT_EQ(out["headers"]["content-type"].as_string(), "application/json; charset=utf-8");
  EXPECT_EQ(out["url"].as_string(), url("/v1/items?lang=en&q=a%20b%26c&page=2&exact=true&tag=x&tag=y"));
  // No credential was asked for.
  for (const auto& sent : loop_->plugin_requests())
    EXPECT_EQ(parse(sent).find("credential"), nullptr) << sent;
}

TEST_F(IntegrationNodes, HttpPostsJsonWithABearerCredentialItNeverSees) {
  serve([](const TestRequest&) { return json_response(201, R"({"id":7})"); });
  credential("http_bearer", {{"token", "canary-bearer-5f1e"}});
  auto r =
      run("http.request", R"({"method": "post", "url": ")" + url("/things") +
                              R"(", "authentication": "credential", "body": {"name": "n", "tags": [1, 2]}})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  TestRequest got = only_request();
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.path, "/things");
  EXPECT_EQ(got.header("authorization"), "Bearer canary-bearer-5f1e");
  EXPECT_EQ(got.header("content-type"), "application/json");
  Json body = parse(got.body);
  EXPECT_EQ(body["name"].as_string(), "n");
  EXPECT_EQ(body["tags"].dump(), "[1,2]");
  EXPECT_EQ(parse(r.output())["status"].as_int(), 201);
  EXPECT_EQ(parse(r.output())["body"]["id"].as_int(), 7);

  // The plugin named the credential and nothing else: the secret never passed through it.
  auto sent = loop_->plugin_requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(parse(sent[0])["credential"].as_string(), "auth");
  for (const std::string& text : {sent[0], r.output_json, r.error_json})
    EXPECT_EQ(text.find("canary-bearer"), std::string::npos) << text;
  EXPECT_TRUE(r.logs.empty());
}

TEST_F(IntegrationNodes, HttpSendsFormAndRawBodies) {
  serve([](const TestRequest&) { return TestResponse::text(200, "ok"); });
  auto r =
      run("http.request",
          R"({"method": "PUT", "url": ")" + url("/form") +
              R"(", "body_type": "form", "body": {"user": "a b", "n": 1, "t": ["x", "y"], "none": null}})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(reqs[0].body, "user=a%20b&n=1&t=x&t=y");

  r = run("http.request",
          R"({"method": "PATCH", "url": ")" + url("/raw") +
              R"(", "body_type": "raw", "body": "<a>1</a>", "content_type": "application/xml"})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].method, "PATCH");
  EXPECT_EQ(reqs[1].header("content-type"), "application/xml");
  EXPECT_EQ(reqs[1].body, "<a>1</a>");

  // A Content-Type header wins over content_type; a JSON string body is sent as JSON.
  r = run("http.request",
          R"({"method": "POST", "url": ")" + url("/raw2") +
              R"(", "body_type": "raw", "body": "x=1", "headers": {"content-type": "text/csv"}})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  r = run("http.request", R"({"method": "POST", "url": ")" + url("/json-string") + R"(", "body": "hello"})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[2].header("content-type"), "text/csv");
  EXPECT_EQ(reqs[3].header("content-type"), "application/json");
  EXPECT_EQ(reqs[3].body, R"("hello")");
}

TEST_F(IntegrationNodes, HttpAppliesBasicHeaderAndQueryCredentials) {
  serve([](const TestRequest&) { return json_response(200, "{}"); });
  const std::string params = R"({"url": ")" + url("/secure?a=1") + R"(", "authentication": "credential"})";

  credential("http_basic", {{"username", "ada"}, {"password", "s3cret"}});
  auto r = run("http.request", params);
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(server_->requests().back().header("authorization"), "Basic YWRhOnMzY3JldA==");

  credential("http_header", {{"value", "key-123"}});
  r = run("http.request", params);
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(server_->requests().back().header("x-api-key"), "key-123");
  EXPECT_FALSE(server_->requests().back().has_header("authorization"));

  credential("http_query", {{"value", "qkey-9"}});
  r = run("http.request", params);
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(server_->requests().back().target, "/secure?a=1&api_key=qkey-9");
  // The output URL does not hand the key to downstream nodes.
  EXPECT_EQ(parse(r.output())["url"].as_string(), url("/secure?a=1"));
  EXPECT_EQ(r.output_json.find("qkey-9"), std::string::npos);
}

TEST_F(IntegrationNodes, HttpWithoutTheCredentialIsNotFound) {
  serve(nullptr);
  auto r = run("http.request", R"({"url": ")" + url("/x") + R"(", "authentication": "credential"})");
  expect_error(r, WEFT_ERR_NOT_FOUND, "credential_not_found");
  EXPECT_EQ(server_->request_count(), 0u);
}

TEST_F(IntegrationNodes, HttpFollowsRedirectsOrReturnsThem) {
  serve([](const TestRequest& q) {
    if (q.path == "/old") return TestResponse::redirect(302, "/new");
    return TestResponse::text(200, "landed");
  });
  auto r = run("http.request", R"({"url": ")" + url("/old") + R"("})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  Json out = parse(r.output());
  EXPECT_EQ(out["body"].as_string(), "landed");
  EXPECT_EQ(out["url"].as_string(), url("/new"));

  r = run("http.request", R"({"url": ")" + url("/old") + R"(", "follow_redirects": false})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  out = parse(r.output());
  EXPECT_EQ(out["status"].as_int(), 302);
  EXPECT_EQ(out["headers"]["location"].as_string(), "/new");
  EXPECT_EQ(server_->request_count(), 3u);
}

// ---- http.request: responses -------------------------------------------------------------------

TEST_F(IntegrationNodes, HttpReadsTextJsonAndBinaryResponses) {
  const std::string binary("\x89PNG\r\n\x1a\n\x00\xff", 10);
  serve([&](const TestRequest& q) {
    if (q.path == "/text") return TestResponse::text(200, "héllo");
    if (q.path == "/json-text") return TestResponse::text(200, R"({"a":1})");
    if (q.path == "/bad-json") return json_response(200, "{not json");
    if (q.path == "/empty") return json_response(200, "");
    if (q.path == "/problem") return TestResponse::text(200, "{\"type\":\"x\"}", "application/problem+json");
    return TestResponse::text(200, binary, "image/png");
  });
  auto body_of = [&](const std::string& path, const std::string& format) {
    auto r =
        run("http.request", R"({"url": ")" + url(path) + R"(", "response_format": ")" + format + R"("})");
    EXPECT_EQ(r.status, WEFT_OK) << path << " " << format << " " << r.error_json;
    Json out = parse(r.output());
    return out["body_encoding"].as_string() + " " + out["body"].dump();
  };
  EXPECT_EQ(body_of("/text", "auto"), R"(text "héllo")");
  EXPECT_EQ(body_of("/json-text", "auto"), R"(text "{\"a\":1}")");  // not a JSON content type
  EXPECT_EQ(body_of("/json-text", "json"), R"(json {"a":1})");
  EXPECT_EQ(body_of("/bad-json", "auto"), R"(text "{not json")");  // says JSON, is not: kept as text
  EXPECT_EQ(body_of("/empty", "json"), "json null");
  EXPECT_EQ(body_of("/problem", "auto"), R"(json {"type":"x"})");
  EXPECT_EQ(body_of("/png", "auto"), R"(base64 "iVBORw0KGgoA/w==")");
  EXPECT_EQ(body_of("/png", "binary"), R"(base64 "iVBORw0KGgoA/w==")");
  EXPECT_EQ(body_of("/text", "binary"), R"(base64 "aMOpbGxv")");

  auto r = run("http.request", R"({"url": ")" + url("/bad-json") + R"(", "response_format": "json"})");
  Json d = expect_error(r, WEFT_ERR_INVALID_INPUT, "invalid_json_response");
  EXPECT_EQ(d["body_preview"].as_string(), "{not json");
  r = run("http.request", R"({"url": ")" + url("/png") + R"(", "response_format": "text"})");
  expect_error(r, WEFT_ERR_INVALID_INPUT, "response_not_text");
}

TEST_F(IntegrationNodes, HttpHeadAndOptionsHaveNoBody) {
  serve([](const TestRequest& q) {
    TestResponse r = json_response(200, q.method == "HEAD" ? "" : "{}");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  });
  auto r = run("http.request", R"({"method": "HEAD", "url": ")" + url("/h") + R"("})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(server_->requests().back().method, "HEAD");
  Json out = parse(r.output());
  EXPECT_EQ(out["status"].as_int(), 200);
  EXPECT_TRUE(out["body"].is_null() || out["body"].as_string().empty()) << out.dump();
  r = run("http.request", R"({"method": "OPTIONS", "url": ")" + url("/h") + R"("})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(server_->requests().back().method, "OPTIONS");
  EXPECT_EQ(parse(r.output())["headers"]["allow"].as_string(), "GET, HEAD");
}

// ---- http.request: status mapping --------------------------------------------------------------

TEST_F(IntegrationNodes, HttpClientErrorsAreNotRetriedServerErrorsAre) {
  const std::string long_body(2000, 'e');
  serve([&](const TestRequest& q) {
    if (q.path == "/404") return TestResponse::text(404, long_body);
    if (q.path == "/400") return json_response(400, R"({"error":"bad"})");
    if (q.path == "/408") return TestResponse::text(408, "slow");
    if (q.path == "/500") return TestResponse::text(500, "boom");
    return TestResponse::text(502, "gateway");
  });
  auto call = [&](const std::string& path) {
    return run("http.request", R"({"url": ")" + url(path + "?token=not-in-messages") + R"("})");
  };
  auto r = call("/404");
  Json d = expect_error(r, WEFT_ERR_INVALID_INPUT, "http_error");
  EXPECT_EQ(d["status"].as_int(), 404);
  EXPECT_FALSE(d.contains("retry_after_ms"));
  EXPECT_EQ(d["body_preview"].as_string(), std::string(512, 'e') + "...");  // a preview, not the body
  EXPECT_NE(r.error_message().find("GET " + url("/404") + " answered 404"), std::string::npos)
      << r.error_message();
  EXPECT_EQ(r.error_json.find("not-in-messages"), std::string::npos) << r.error_json;

  d = expect_error(call("/400"), WEFT_ERR_INVALID_INPUT, "http_error");
  EXPECT_EQ(d["body_preview"].as_string(), R"({"error":"bad"})");
  expect_error(call("/408"), WEFT_ERR_FAILED, "http_error");
  d = expect_error(call("/500"), WEFT_ERR_FAILED, "http_error");
  EXPECT_EQ(d["status"].as_int(), 500);
  expect_error(call("/502"), WEFT_ERR_FAILED, "http_error");

  // fail_on_status false: every answer is output.
  r = run("http.request", R"({"url": ")" + url("/404") + R"(", "fail_on_status": false})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(parse(r.output())["status"].as_int(), 404);
  EXPECT_EQ(parse(r.output())["body"].as_string().size(), 2000u);
}

TEST_F(IntegrationNodes, HttpTooManyRequestsCarriesRetryAfterInSecondsOrAsADate) {
  const std::string date = http_date(unix_seconds_now() + 120);
  serve([&](const TestRequest& q) {
    TestResponse r = TestResponse::text(q.path == "/429" ? 429 : 503, "later");
    if (q.path == "/429") r.headers.emplace_back("Retry-After", "7");
    if (q.path == "/503-date") r.headers.emplace_back("Retry-After", date);
    if (q.path == "/503-garbage") r.headers.emplace_back("Retry-After", "soon");
    return r;
  });
  Json d = expect_error(run("http.request", R"({"url": ")" + url("/429") + R"("})"), WEFT_ERR_FAILED,
                        "http_error");
  EXPECT_EQ(d["status"].as_int(), 429);
  EXPECT_EQ(d["retry_after_ms"].as_int(), 7000);

  d = expect_error(run("http.request", R"({"url": ")" + url("/503-date") + R"("})"), WEFT_ERR_FAILED,
                   "http_error");
  EXPECT_EQ(d["status"].as_int(), 503);
  ASSERT_TRUE(d["retry_after_ms"].is_number()) << d.dump();
  // The date has whole seconds and a little time passed since it was written.
  EXPECT_LE(d["retry_after_ms"].as_int(), 120000);
  EXPECT_GE(d["retry_after_ms"].as_int(), 100000);

  d = expect_error(run("http.request", R"({"url": ")" + url("/503-garbage") + R"("})"), WEFT_ERR_FAILED,
                   "http_error");
  EXPECT_FALSE(d.contains("retry_after_ms"));
}

// ---- http.request: transport failures ----------------------------------------------------------

TEST_F(IntegrationNodes, HttpTimeoutIsATimeout) {
  serve([](const TestRequest&) {
    TestResponse r;
    r.never_respond = true;
    return r;
  });
  auto r = run("http.request", R"({"url": ")" + url("/hang") + R"(", "timeout_ms": 300})");
  Json d = expect_error(r, WEFT_ERR_TIMEOUT, "timeout");
  EXPECT_EQ(d["url"].as_string(), url("/hang"));
  EXPECT_EQ(server_->request_count(), 1u);
}

TEST_F(IntegrationNodes, HttpPastTheDeadlineSendsNothing) {
  serve(nullptr);
  ExecuteOptions o;
  o.deadline_ms = monotonic_now_ms() - 1;
  auto r = run("http.request", R"({"url": ")" + url("/x") + R"("})", o);
  expect_error(r, WEFT_ERR_TIMEOUT, "timeout");
  EXPECT_EQ(server_->request_count(), 0u);
}

TEST_F(IntegrationNodes, HttpToABlockedAddressIsDenied) {
  serve(nullptr);
  TestHttpServer other;  // a loopback server the policy does not allow
  auto r = run("http.request", R"({"url": ")" + other.url("/internal") + R"("})");
  expect_error(r, WEFT_ERR_DENIED, "address_blocked");
  r = run("http.request", R"({"url": "http://169.254.169.254/latest/meta-data/"})");
  expect_error(r, WEFT_ERR_DENIED, "address_blocked");
  EXPECT_EQ(other.request_count(), 0u);
}

TEST_F(IntegrationNodes, HttpUrlWithAPasswordIsRefusedWithoutRepeatingIt) {
  serve(nullptr);
  const std::string with_password = "http://ada:pw-canary-31@" + server_->host_port() + "/x";
  auto r = run("http.request", R"({"url": ")" + with_password + R"("})");
  expect_error(r, WEFT_ERR_INVALID_INPUT, "invalid_url");
  EXPECT_EQ(r.error_json.find("pw-canary"), std::string::npos) << r.error_json;
  EXPECT_EQ(server_->request_count(), 0u);
}

TEST_F(IntegrationNodes, HttpResponseLargerThanAllowedFails) {
  serve([](const TestRequest&) { return TestResponse::text(200, std::string(5000, 'x')); });
  auto r = run("http.request", R"({"url": ")" + url("/big") + R"(", "max_response_bytes": 1000})");
  expect_error(r, WEFT_ERR_FAILED, "response_too_large");
}

TEST_F(IntegrationNodes, HttpRefusesBadParametersBeforeSending) {
  serve(nullptr);
  const std::string u = R"("url": ")" + url("/x") + R"(")";
  expect_invalid_param("http.request", "{}", "url");
  expect_invalid_param("http.request", R"({"url": "ftp://example.com/x"})", "url");
  expect_invalid_param("http.request", R"({"url": "example.com"})", "url");
  expect_invalid_param("http.request", "{" + u + R"(, "method": "TRACE"})", "method");
  expect_invalid_param("http.request", "{" + u + R"(, "headers": "X-A: 1"})", "headers");
  expect_invalid_param("http.request", "{" + u + R"(, "headers": {"X-A": "1\r\nX-Injected: 1"}})",
                       "headers.X-A");
  expect_invalid_param("http.request", "{" + u + R"(, "headers": {"Bad Name": "1"}})", "headers");
  expect_invalid_param("http.request", "{" + u + R"(, "headers": {"Content-Length": "5"}})",
                       "headers.Content-Length");
  expect_invalid_param("http.request", "{" + u + R"(, "headers": {"X-A": {"nested": 1}}})", "headers.X-A");
  expect_invalid_param("http.request", "{" + u + R"(, "query": {"a": {"b": 1}}})", "query.a");
  expect_invalid_param("http.request", "{" + u + R"(, "query": [1]})", "query");
  expect_invalid_param("http.request", "{" + u + R"(, "body_type": "none", "body": {"a": 1}})", "body");
  expect_invalid_param("http.request", "{" + u + R"(, "body_type": "json"})", "body");
  expect_invalid_param("http.request", "{" + u + R"(, "body_type": "raw", "body": {"a": 1}})", "body");
  expect_invalid_param("http.request", "{" + u + R"(, "body_type": "form", "body": "a=1"})", "body");
  expect_invalid_param("http.request", "{" + u + R"(, "body_type": "xml", "body": "a"})", "body_type");
  expect_invalid_param("http.request", "{" + u + R"(, "response_format": "yaml"})", "response_format");
  expect_invalid_param("http.request", "{" + u + R"(, "timeout_ms": 0})", "timeout_ms");
  expect_invalid_param("http.request", "{" + u + R"(, "timeout_ms": "fast"})", "timeout_ms");
  expect_invalid_param("http.request", "{" + u + R"(, "follow_redirects": "yes"})", "follow_redirects");
  expect_invalid_param("http.request", "{" + u + R"(, "authentication": "oauth"})", "authentication");
  expect_invalid_param("http.request", "{" + u + R"(, "max_response_bytes": -1})", "max_response_bytes");
}

// ---- slack.message -----------------------------------------------------------------------------

TEST_F(IntegrationNodes, SlackWebhookPostsToTheCredentialsUrl) {
  serve([](const TestRequest&) { return TestResponse::text(200, "ok", "text/html"); });
  credential("slack_webhook", {{"url", url("/services/T000/B000/canary-hook")}});
  auto r = run(
      "slack.message",
      R"({"text": "Deployed *v2*", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
                                    "thread_ts": "1712345678.000100", "unfurl_links": false, "channel": "#ignored"})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(r.output(), R"({"ok":true})");
  TestRequest got = only_request();
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.path, "/services/T000/B000/canary-hook");
  EXPECT_EQ(got.header("content-type"), "application/json; charset=utf-8");
  Json body = parse(got.body);
  EXPECT_EQ(body["text"].as_string(), "Deployed *v2*");
  EXPECT_EQ(body["blocks"].at(0)["type"].as_string(), "section");
  EXPECT_EQ(body["thread_ts"].as_string(), "1712345678.000100");
  EXPECT_FALSE(body["unfurl_links"].as_bool(true));
  EXPECT_FALSE(body.contains("channel"));  // a webhook's channel is fixed
  // The plugin never named a URL: the host filled in the secret one.
  Json sent = parse(loop_->plugin_requests().at(0));
  EXPECT_FALSE(sent.contains("url"));
  EXPECT_EQ(sent["credential"].as_string(), "auth");
}

TEST_F(IntegrationNodes, SlackWebhookErrorsNeverNameTheUrl) {
  serve([](const TestRequest& q) {
    if (q.body.find("archived") != std::string::npos) return TestResponse::text(410, "channel_is_archived");
    if (q.body.find("busy") != std::string::npos) {
      TestResponse r = TestResponse::text(429, "rate_limited");
      r.headers.emplace_back("Retry-After", "30");
      return r;
    }
    return TestResponse::text(400, "invalid_payload");
  });
  credential("slack_webhook", {{"url", url("/services/T000/B000/canary-hook")}});
  auto r = run("slack.message", R"({"text": "x"})");
  Json d = expect_error(r, WEFT_ERR_INVALID_INPUT, "slack_error");
  EXPECT_EQ(d["error"].as_string(), "invalid_payload");
  EXPECT_EQ(d["status"].as_int(), 400);
  r = run("slack.message", R"({"text": "archived"})");
  d = expect_error(r, WEFT_ERR_INVALID_INPUT, "slack_error");
  EXPECT_EQ(d["error"].as_string(), "channel_is_archived");
  EXPECT_EQ(r.error_json.find("canary-hook"), std::string::npos) << r.error_json;
  EXPECT_EQ(r.error_json.find("/services/"), std::string::npos) << r.error_json;
  r = run("slack.message", R"({"text": "busy"})");
  d = expect_error(r, WEFT_ERR_FAILED, "slack_error");
  EXPECT_EQ(d["retry_after_ms"].as_int(), 30000);
}

TEST_F(IntegrationNodes, SlackTokenCallsChatPostMessage) {
  serve([](const TestRequest& q) {
    if (q.path != "/api/chat.postMessage")
      return json_response(404, R"({"ok":false,"error":"unknown_method"})");
    return json_response(200,
                         R"({"ok":true,"channel":"C0123","ts":"1712345678.000200","message":{"text":"hi"}})");
  });
  credential("slack_token", {{"token", "xoxb-canary-77"}});
  auto r = run("slack.message",
               R"({"mode": "token", "channel": "#ops", "text": "hi", "api_url": ")" + url("/api/") + R"("})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(r.output(), R"({"ok":true,"channel":"C0123","ts":"1712345678.000200"})");
  TestRequest got = only_request();
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.header("authorization"), "Bearer xoxb-canary-77");
  Json body = parse(got.body);
  EXPECT_EQ(body["channel"].as_string(), "#ops");
  EXPECT_EQ(body["text"].as_string(), "hi");
  EXPECT_FALSE(body.contains("blocks"));
  EXPECT_FALSE(body.contains("unfurl_links"));
  EXPECT_EQ(loop_->plugin_requests().at(0).find("xoxb"), std::string::npos);
}

TEST_F(IntegrationNodes, SlackOkFalseFailsWithSlacksError) {
  serve([](const TestRequest& q) {
    if (q.body.find("#gone") != std::string::npos)
      return json_response(200, R"({"ok":false,"error":"channel_not_found"})");
    if (q.body.find("#hot") != std::string::npos) {
      TestResponse r = json_response(429, R"({"ok":false,"error":"ratelimited"})");
      r.headers.emplace_back("Retry-After", "12");
      return r;
    }
    if (q.body.find("#flaky") != std::string::npos)
      return json_response(200, R"({"ok":false,"error":"internal_error"})");
    if (q.body.find("#html") != std::string::npos)
      return TestResponse::text(200, "<html>proxy</html>", "text/html");
    return TestResponse::text(503, "unavailable");
  });
  credential("slack_token", {{"token", "xoxb-1"}});
  auto post = [&](const std::string& channel) {
    return run("slack.message", R"({"mode": "token", "channel": ")" + channel +
                                    R"(", "text": "t", "api_url": ")" + url("/api") + R"("})");
  };
  auto r = post("#gone");
  Json d = expect_error(r, WEFT_ERR_INVALID_INPUT, "slack_error");
  EXPECT_EQ(d["error"].as_string(), "channel_not_found");
  EXPECT_NE(r.error_message().find("channel_not_found"), std::string::npos);
  d = expect_error(post("#hot"), WEFT_ERR_FAILED, "slack_error");
  EXPECT_EQ(d["retry_after_ms"].as_int(), 12000);
  EXPECT_EQ(d["error"].as_string(), "ratelimited");
  expect_error(post("#flaky"), WEFT_ERR_FAILED, "slack_error");
  expect_error(post("#html"), WEFT_ERR_FAILED, "invalid_response");
  d = expect_error(post("#down"), WEFT_ERR_FAILED, "slack_error");
  EXPECT_EQ(d["status"].as_int(), 503);
}

TEST_F(IntegrationNodes, SlackWithTheWrongCredentialKindIsAnInputError) {
  serve(nullptr);
  // mode token with a webhook credential: the host refuses a URL next to a URL credential.
  credential("slack_webhook", {{"url", url("/services/x")}});
  auto r = run("slack.message",
               R"({"mode": "token", "channel": "C1", "text": "t", "api_url": ")" + url("/api") + R"("})");
  expect_error(r, WEFT_ERR_INVALID_INPUT, "invalid_request");
  EXPECT_EQ(server_->request_count(), 0u);
}

TEST_F(IntegrationNodes, SlackRefusesBadParametersBeforeSending) {
  serve(nullptr);
  credential("slack_token", {{"token", "xoxb-1"}});
  expect_invalid_param("slack.message", R"({"mode": "token", "text": "t"})", "channel");
  expect_invalid_param("slack.message", R"({"text": ""})", "text");
  expect_invalid_param("slack.message", R"({"blocks": []})", "text");
  expect_invalid_param("slack.message", R"({"blocks": {"type": "section"}})", "blocks");
  expect_invalid_param("slack.message", R"({"blocks": [1]})", "blocks");
  expect_invalid_param("slack.message", R"({"text": "t", "thread_ts": "yesterday"})", "thread_ts");
  expect_invalid_param("slack.message", R"({"text": "t", "unfurl_links": "no"})", "unfurl_links");
  expect_invalid_param("slack.message", R"({"text": "t", "mode": "oauth"})", "mode");
  expect_invalid_param("slack.message",
                       R"({"text": "t", "mode": "token", "channel": "C1", "api_url": "slack.com"})",
                       "api_url");
  expect_invalid_param("slack.message", R"({"text": 5})", "text");
}

// ---- github.issue ------------------------------------------------------------------------------

TEST_F(IntegrationNodes, GithubCreatesGetsCommentsAndUpdatesIssues) {
  serve([](const TestRequest& q) {
    if (q.method == "POST" && q.path == "/repos/octo/hello-world/issues")
      return json_response(201, R"({"number":12,"title":"Bug","state":"open"})");
    if (q.method == "GET" && q.path == "/repos/octo/hello-world/issues/12")
      return json_response(200, R"({"number":12,"title":"Bug","state":"open"})");
    if (q.method == "POST" && q.path == "/repos/octo/hello-world/issues/12/comments")
      return json_response(201, R"({"id":99,"body":"On it"})");
    if (q.method == "PATCH" && q.path == "/repos/octo/hello-world/issues/12")
      return json_response(200, R"({"number":12,"state":"closed"})");
    return json_response(404, R"({"message":"Not Found"})");
  });
  credential("github_token", {{"token", "github_pat_canary"}});
  const std::string base = R"("owner": "octo", "repo": "hello-world", "api_url": ")" + url("/") + R"(")";

  auto r =
      run("github.issue",
          "{" + base +
              R"(, "operation": "create", "title": "Bug", "body": "It broke", "labels": ["bug", "p1"]})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(r.output(), R"({"number":12,"title":"Bug","state":"open"})");
  TestRequest got = server_->requests().back();
  EXPECT_EQ(got.header("authorization"), "Bearer github_pat_canary");
  EXPECT_EQ(got.header("accept"), "application/vnd.github+json");
  EXPECT_EQ(got.header("x-github-api-version"), "2022-11-28");
  EXPECT_FALSE(got.header("user-agent").empty());  // GitHub refuses requests without one
  Json body = parse(got.body);
  EXPECT_EQ(body["title"].as_string(), "Bug");
  EXPECT_EQ(body["body"].as_string(), "It broke");
  EXPECT_EQ(body["labels"].dump(), R"(["bug","p1"])");

  r = run("github.issue", "{" + base + R"(, "operation": "get", "issue_number": 12})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(parse(r.output())["number"].as_int(), 12);
  EXPECT_EQ(server_->requests().back().body, "");

  r = run("github.issue", "{" + base + R"(, "operation": "comment", "issue_number": 12, "body": "On it"})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(r.output(), R"({"id":99,"body":"On it"})");
  EXPECT_EQ(parse(server_->requests().back().body).dump(), R"({"body":"On it"})");

  r = run("github.issue",
          "{" + base + R"(, "operation": "update", "issue_number": 12, "state": "closed", "labels": []})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(parse(r.output())["state"].as_string(), "closed");
  EXPECT_EQ(parse(server_->requests().back().body).dump(), R"({"labels":[],"state":"closed"})");
  EXPECT_EQ(server_->request_count(), 4u);
}

TEST_F(IntegrationNodes, GithubListsIssuesAsItems) {
  serve([](const TestRequest& q) {
    if (q.path != "/api/v3/repos/octo/r/issues") return json_response(404, R"({"message":"Not Found"})");
    return json_response(200, R"([{"number":1},{"number":2}])");
  });
  credential("github_token", {{"token", "t"}});
  auto r = run("github.issue",
               R"({"operation": "list", "owner": "octo", "repo": "r", "state": "all", "per_page": 5,
                                   "page": 2, "labels": ["bug", "needs triage"], "api_url": ")" +
                   url("/api/v3") + R"("})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(r.output(), R"({"items":[{"number":1},{"number":2}]})");
  EXPECT_EQ(only_request().query, "state=all&per_page=5&page=2&labels=bug%2Cneeds%20triage");

  // Defaults: open issues, 30 a page, page 1.
  r = run("github.issue",
          R"({"operation": "list", "owner": "octo", "repo": "r", "api_url": ")" + url("/api/v3") + R"("})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error_json;
  EXPECT_EQ(server_->requests().back().query, "state=open&per_page=30&page=1");
}

TEST_F(IntegrationNodes, GithubErrorsCarryGithubsMessage) {
  const int64_t reset = unix_seconds_now() + 90;
  serve([&](const TestRequest& q) {
    if (q.path.find("/missing/") != std::string::npos)
      return json_response(404, R"({"message":"Not Found","documentation_url":"https://docs.github.com"})");
    if (q.path.find("/invalid/") != std::string::npos)
      return json_response(
          422, R"({"message":"Validation Failed","errors":[{"field":"title","code":"missing_field"}]})");
    if (q.path.find("/limited/") != std::string::npos) {
      TestResponse r = json_response(403, R"({"message":"API rate limit exceeded for user ID 1."})");
      r.headers.emplace_back("x-ratelimit-remaining", "0");
      r.headers.emplace_back("x-ratelimit-reset", std::to_string(reset));
      return r;
    }
    if (q.path.find("/secondary/") != std::string::npos) {
      TestResponse r = json_response(429, R"({"message":"You have exceeded a secondary rate limit."})");
      r.headers.emplace_back("Retry-After", "60");
      return r;
    }
    if (q.path.find("/forbidden/") != std::string::npos) {
      TestResponse r =
          json_response(403, R"({"message":"Resource not accessible by personal access token"})");
      r.headers.emplace_back("x-ratelimit-remaining", "4999");
      return r;
    }
    return json_response(502, R"({"message":"Server Error"})");
  });
  credential("github_token", {{"token", "t"}});
  auto get = [&](const std::string& owner) {
    return run("github.issue", R"({"operation": "get", "owner": ")" + owner +
                                   R"(", "repo": "r", "issue_number": 1,
                                   "api_url": ")" +
                                   url("") + R"("})");
  };
  auto r = get("missing");
  Json d = expect_error(r, WEFT_ERR_INVALID_INPUT, "github_error");
  EXPECT_EQ(d["status"].as_int(), 404);
  EXPECT_EQ(d["github_message"].as_string(), "Not Found");
  EXPECT_NE(r.error_message().find("answered 404: Not Found"), std::string::npos) << r.error_message();

  d = expect_error(get("invalid"), WEFT_ERR_INVALID_INPUT, "github_error");
  EXPECT_EQ(d["errors"].at(0)["code"].as_string(), "missing_field");

  d = expect_error(get("limited"), WEFT_ERR_FAILED, "github_error");
  EXPECT_EQ(d["status"].as_int(), 403);
  EXPECT_LE(d["retry_after_ms"].as_int(), 90000);
  EXPECT_GE(d["retry_after_ms"].as_int(), 80000);

  d = expect_error(get("secondary"), WEFT_ERR_FAILED, "github_error");
  EXPECT_EQ(d["retry_after_ms"].as_int(), 60000);

  d = expect_error(get("forbidden"), WEFT_ERR_INVALID_INPUT, "github_error");
  EXPECT_FALSE(d.contains("retry_after_ms"));

  expect_error(get("down"), WEFT_ERR_FAILED, "github_error");
}

TEST_F(IntegrationNodes, GithubRefusesBadParametersBeforeSending) {
  serve(nullptr);
  credential("github_token", {{"token", "t"}});
  const std::string base = R"("owner": "octo", "repo": "r")";
  expect_invalid_param("github.issue", "{" + base + "}", "operation");
  expect_invalid_param("github.issue", "{" + base + R"(, "operation": "delete"})", "operation");
  expect_invalid_param("github.issue", R"({"operation": "get", "repo": "r", "issue_number": 1})", "owner");
  expect_invalid_param("github.issue",
                       R"({"operation": "get", "owner": "../admin", "repo": "r", "issue_number": 1})",
                       "owner");
  expect_invalid_param("github.issue",
                       R"({"operation": "get", "owner": "o", "repo": "..", "issue_number": 1})", "repo");
  expect_invalid_param("github.issue",
                       R"({"operation": "get", "owner": "o", "repo": "r/x", "issue_number": 1})", "repo");
  expect_invalid_param("github.issue", "{" + base + R"(, "operation": "get"})", "issue_number");
  expect_invalid_param("github.issue", "{" + base + R"(, "operation": "get", "issue_number": 0})",
                       "issue_number");
  expect_invalid_param("github.issue", "{" + base + R"(, "operation": "create", "body": "b"})", "title");
  expect_invalid_param("github.issue", "{" + base + R"(, "operation": "comment", "issue_number": 1})",
                       "body");
  expect_invalid_param("github.issue", "{" + base + R"(, "operation": "update", "issue_number": 1})",
                       "title");
  expect_invalid_param(
      "github.issue", "{" + base + R"(, "operation": "update", "issue_number": 1, "state": "all"})", "state");
  expect_invalid_param("github.issue",
                       "{" + base + R"(, "operation": "create", "title": "t", "labels": "bug"})", "labels");
  expect_invalid_param("github.issue", "{" + base + R"(, "operation": "list", "labels": ["a,b"]})", "labels");
  expect_invalid_param("github.issue", "{" + base + R"(, "operation": "list", "per_page": 500})", "per_page");
  expect_invalid_param("github.issue", "{" + base + R"(, "operation": "list", "api_url": "file:///etc"})",
                       "api_url");
}

}  // namespace
