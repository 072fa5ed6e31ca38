// The JSON form of outbound requests/responses (weft_host_api.http_request), including a round
// trip through a real loopback server.
#include <gtest/gtest.h>

#include "host/net/outbound.hpp"
#include "tests/net/test_server.hpp"

namespace weft::net {
namespace {

using testing::TestHttpServer;
using testing::TestRequest;
using testing::TestResponse;

Json parse(const char* text) {
  auto j = Json::parse(text);
  EXPECT_TRUE(j.ok()) << text;
  return j.ok() ? *j : Json();
}

std::string header_of(const OutboundRequest& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    std::string l = n;
    for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (l == name) return v;
  }
  return "<absent>";
}

TEST(RequestJson, FullRequest) {
  auto r = request_from_json(parse(R"({"method": "post", "url": "https://api.example.com/v1/x",
      "headers": {"X-One": "1", "X-Num": 2}, "json": {"a": [1, 2], "b": "c"},
      "timeout_ms": 1500, "follow_redirects": false, "max_response_bytes": 99,
      "sensitive_headers": ["X-Api-Key"]})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->url, "https://api.example.com/v1/x");
  EXPECT_EQ(header_of(*r, "x-one"), "1");
  EXPECT_EQ(header_of(*r, "x-num"), "2");
  EXPECT_EQ(header_of(*r, "content-type"), "application/json");
  EXPECT_EQ(r->body, R"({"a":[1,2],"b":"c"})");
  EXPECT_EQ(r->timeout_ms, 1500);
  EXPECT_FALSE(r->follow_redirects);
  EXPECT_EQ(r->max_response_bytes, 99u);
  ASSERT_EQ(r->sensitive_headers.size(), 1u);
  EXPECT_EQ(r->sensitive_headers[0], "x-api-key");
}

TEST(RequestJson, DefaultsAndHeaderPairs) {
  auto r = request_from_json(parse(R"({"url": "http://h/", "headers": [["Accept", "a"], ["Accept", "b"]]})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->method, "GET");
  EXPECT_TRUE(r->follow_redirects);
  EXPECT_EQ(r->timeout_ms, 0);
  EXPECT_EQ(r->body, "");
  ASSERT_EQ(r->headers.size(), 2u);
  EXPECT_EQ(r->headers[1].second, "b");
}

TEST(RequestJson, QueryIsEncodedAndMerged) {
  auto r = request_from_json(parse(
      R"({"url": "http://h/p", "query": {"q": "a b&c=d", "n": 5, "t": true, "u": "é/?", "k": ["1", "2"]}})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->url, "http://h/p?q=a%20b%26c%3Dd&n=5&t=true&u=%C3%A9%2F%3F&k=1&k=2");
  r = request_from_json(parse(R"({"url": "http://h/p?x=1#frag", "query": {"y": "2"}})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->url, "http://h/p?x=1&y=2#frag");
  r = request_from_json(parse(R"({"url": "http://h/p?", "query": {"y": "2"}})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->url, "http://h/p?y=2");
}

TEST(RequestJson, FormAndBase64Bodies) {
  auto r = request_from_json(parse(R"({"url": "http://h/", "form": {"a": "x y", "b": "1&2"}})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "a=x+y&b=1%262");
  EXPECT_EQ(header_of(*r, "content-type"), "application/x-www-form-urlencoded");

  r = request_from_json(parse(R"({"url": "http://h/", "body_base64": "AAH/YQ=="})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, std::string("\x00\x01\xff"
                                 "a",
                                 4));
  EXPECT_EQ(header_of(*r, "content-type"), "<absent>");

  // An explicit content type wins over the json/form default.
  r = request_from_json(parse(R"({"url": "http://h/", "headers": {"content-type": "application/vnd.x+json"},
                                  "json": [1]})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(header_of(*r, "content-type"), "application/vnd.x+json");
  EXPECT_EQ(r->headers.size(), 1u);
}

TEST(RequestJson, InvalidRequestsNameTheMember) {
  struct Case {
    const char* json;
    const char* member;
  };
  for (const Case& c : std::vector<Case>{
           {R"([])", "object"},
           {R"({})", "url"},
           {R"({"url": 5})", "url"},
           {R"({"url": "http://h/", "method": 1})", "method"},
           {R"({"url": "http://h/", "headers": "x"})", "headers"},
           {R"({"url": "http://h/", "headers": {"a": {}}})", "headers"},
           {R"({"url": "http://h/", "headers": [["a"]]})", "headers"},
           {R"({"url": "http://h/", "headers": {"X-A": "v\r\nX-B: secret-value"}})", "headers"},
           {R"({"url": "http://h/", "query": [1]})", "query"},
           {R"({"url": "http://h/", "query": {"a": {"b": 1}}})", "query"},
           {R"({"url": "http://h/", "body": 5})", "body"},
           {R"({"url": "http://h/", "body_base64": "***"})", "body_base64"},
           {R"({"url": "http://h/", "body": "a", "json": 1})", "json"},
           {R"({"url": "http://h/", "form": {"a": "b"}, "body_base64": "YQ=="})", "body_base64"},
           {R"({"url": "http://h/", "form": "a=b"})", "form"},
           {R"({"url": "http://h/", "timeout_ms": -5})", "timeout_ms"},
           {R"({"url": "http://h/", "timeout_ms": 1.5})", "timeout_ms"},
           {R"({"url": "http://h/", "follow_redirects": "yes"})", "follow_redirects"},
           {R"({"url": "http://h/", "max_response_bytes": "1"})", "max_response_bytes"},
           {R"({"url": "http://h/", "sensitive_headers": "x"})", "sensitive_headers"},
           {R"({"url": "http://h/", "proxy": "http://p/"})", "proxy"},
       }) {
    auto r = request_from_json(parse(c.json));
    ASSERT_FALSE(r.ok()) << "accepted: " << c.json;
    EXPECT_EQ(r.error().code, "invalid_request") << c.json;
    EXPECT_NE(r.error().message.find(c.member), std::string::npos) << c.json << " -> " << r.error().message;
    EXPECT_EQ(r.error().message.find("secret-value"), std::string::npos) << r.error().message;
  }
}

TEST(ResponseJson, TextAndBinaryBodies) {
  OutboundResponse res;
  res.status = 201;
  res.headers = {{"content-type", "text/plain"}, {"set-cookie", "a=1"}, {"set-cookie", "b=2"}};
  res.body = "héllo";
  res.url = "http://h/x";
  res.redirects = 2;
  res.elapsed_ms = 7;
  Json j = response_to_json(res);
  EXPECT_EQ(j["status"].as_int(), 201);
  EXPECT_EQ(j["headers"]["content-type"].as_string(), "text/plain");
  EXPECT_EQ(j["headers"]["set-cookie"].as_string(), "a=1, b=2");
  EXPECT_EQ(j["body"].as_string(), "héllo");
  EXPECT_FALSE(j.contains("body_base64"));
  EXPECT_EQ(j["url"].as_string(), "http://h/x");
  EXPECT_EQ(j["redirects"].as_int(), 2);
  EXPECT_EQ(j["elapsed_ms"].as_int(), 7);

  for (std::string binary : {std::string("\xff\xfe\x00\x01", 4), std::string("a\0b", 3),
                             std::string("\xc0\xaf"), std::string("\xed\xa0\x80"), std::string("\xe2\x82")}) {
    res.body = binary;
    j = response_to_json(res);
    EXPECT_FALSE(j.contains("body"));
    ASSERT_TRUE(j["body_base64"].is_string());
    // The base64 text decodes back to the same bytes (through the request form's decoder).
    Json req = Json::object({{"url", "http://h/"}, {"body_base64", j["body_base64"]}});
    auto back = request_from_json(req);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->body, binary);
  }
}

// JSON request -> perform -> JSON response, against a server that echoes what it received.
TEST(OutboundJson, RoundTripThroughARealServer) {
  TestHttpServer server([](const TestRequest& r) {
    Json echo = Json::object({{"method", r.method},
                              {"target", r.target},
                              {"content_type", r.header("content-type")},
                              {"x_token", r.header("x-token")},
                              {"body", r.body}});
    auto res = TestResponse::text(200, echo.dump(), "application/json");
    if (r.path == "/bin") {
      res.body = std::string("\x89PNG\x00\xff", 6);
      res.headers = {{"Content-Type", "image/png"}};
    }
    return res;
  });
  OutboundPolicy policy;
  policy.allow = {server.host_port()};
  OutboundHttp http(policy);

  Json in = Json::object({{"method", "PUT"},
                          {"url", server.url("/items")},
                          {"query", Json::object({{"q", "a b"}})},
                          {"headers", Json::object({{"X-Token", "t1"}})},
                          {"json", Json::object({{"k", "v"}})}});
  auto req = request_from_json(in);
  ASSERT_TRUE(req.ok()) << req.error().message;
  auto res = http.perform(*req);
  ASSERT_TRUE(res.ok()) << res.error().message;
  Json out = response_to_json(*res);
  EXPECT_EQ(out["status"].as_int(), 200);
  EXPECT_EQ(out["headers"]["content-type"].as_string(), "application/json");
  EXPECT_EQ(out["url"].as_string(), server.url("/items?q=a%20b"));
  auto echoed = Json::parse(out["body"].as_string());
  ASSERT_TRUE(echoed.ok()) << out["body"].as_string();
  EXPECT_EQ((*echoed)["method"].as_string(), "PUT");
  EXPECT_EQ((*echoed)["target"].as_string(), "/items?q=a%20b");
  EXPECT_EQ((*echoed)["content_type"].as_string(), "application/json");
  EXPECT_EQ((*echoed)["x_token"].as_string(), "t1");
  EXPECT_EQ((*echoed)["body"].as_string(), R"({"k":"v"})");

  auto bin = request_from_json(Json::object({{"url", server.url("/bin")}}));
  ASSERT_TRUE(bin.ok());
  auto bin_res = http.perform(*bin);
  ASSERT_TRUE(bin_res.ok()) << bin_res.error().message;
  Json bin_out = response_to_json(*bin_res);
  EXPECT_FALSE(bin_out.contains("body"));
  EXPECT_EQ(bin_out["body_base64"].as_string(), "iVBORwD/");
}

}  // namespace
}  // namespace weft::net
