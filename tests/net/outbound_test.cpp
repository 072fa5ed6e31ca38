// The guarded outbound client against real loopback servers (tests/net/test_server.hpp). The
// servers are only reachable through explicit "127.0.0.1:<port>" allowlist entries; everything
// else on loopback must be refused before any connection is made.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "host/net/outbound.hpp"
#include "tests/net/test_server.hpp"

namespace weft::net {
namespace {

using std::chrono::milliseconds;
using testing::TestHttpServer;
using testing::TestRequest;
using testing::TestResponse;

OutboundPolicy policy_allowing(std::vector<std::string> allow) {
  OutboundPolicy p;
  p.allow = std::move(allow);
  p.default_timeout_ms = 5000;
  p.connect_timeout_ms = 2000;
  return p;
}

OutboundRequest get(std::string url) {
  OutboundRequest r;
  r.url = std::move(url);
  return r;
}

std::string code_of(const Result<OutboundResponse>& r) {
  return r.ok() ? "ok" : r.error().code;
}

TEST(Outbound, AllowlistedServerIsReached) {
  TestHttpServer server([](const TestRequest& r) {
    auto res = TestResponse::text(200, "hello " + r.path);
    res.headers.emplace_back("X-Multi", "a");
    res.headers.emplace_back("x-multi", "b");
    return res;
  });
  OutboundHttp http(policy_allowing({server.host_port()}));
  OutboundRequest req = get(server.url("/path?q=1"));
  req.headers = {{"X-Custom", "v1"}, {"Accept", "text/plain"}};
  auto res = http.perform(req);
  ASSERT_TRUE(res.ok()) << res.error().code << ": " << res.error().message;
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "hello /path");
  EXPECT_EQ(res->header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(res->header("x-multi"), "a, b");
  EXPECT_EQ(res->url, server.url("/path?q=1"));
  EXPECT_EQ(res->redirects, 0);
  for (const auto& h : res->headers) {
    EXPECT_TRUE(std::none_of(h.first.begin(), h.first.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
        << h.first;
  }
  ASSERT_EQ(server.request_count(), 1u);
  TestRequest seen = server.requests()[0];
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.target, "/path?q=1");
  EXPECT_EQ(seen.header("x-custom"), "v1");
  EXPECT_EQ(seen.header("accept"), "text/plain");
  EXPECT_EQ(seen.header("user-agent"), "weft/0.1");
  EXPECT_EQ(seen.header("host"), server.host_port());
}

// SECURITY.md Checklist A "SSRF": every spelling of a blocked address is refused before any
// connection is attempted.
TEST(Outbound, BlockedSpellingsAreRefusedWithoutConnecting) {
  TestHttpServer server;
  std::string p = std::to_string(server.port());
  // An entry for a different port must not lift the block for the server's port.
  OutboundHttp http(policy_allowing({"127.0.0.1:1", "localhost:1"}));
  const std::vector<std::string> urls = {
      "http://127.0.0.1:" + p + "/",
      "http://[::1]:" + p + "/",
      "http://0.0.0.0:" + p + "/",
      "http://0:" + p + "/",
      "http://169.254.169.254/latest/meta-data/",
      "http://10.0.0.1/",
      "http://10.255.255.254:" + p + "/",
      "http://100.64.0.1/",
      "http://[::ffff:127.0.0.1]:" + p + "/",
      "http://[::ffff:7f00:1]:" + p + "/",
      "http://[::127.0.0.1]:" + p + "/",
      "http://2130706433:" + p + "/",
      "http://0x7f.1:" + p + "/",
      "http://0x7f000001:" + p + "/",
      "http://0177.0.0.1:" + p + "/",
      "http://017700000001:" + p + "/",
      "http://127.1:" + p + "/",
      "http://127.0.0.1.:" + p + "/",
      "http://0x7f.1.:" + p + "/",
      "http://127.000.000.001:" + p + "/",
      "http://%31%32%37.0.0.1:" + p + "/",
      "http://[::]:" + p + "/",
      "http://[fe80::1]/",
      "http://[fd00:ec2::254]/",
      "http://224.0.0.1/",
      "http://255.255.255.255/",
      "http://192.168.1.1/",
      "http://172.16.0.1/",
      "http://[64:ff9b::7f00:1]:" + p + "/",
      "http://[64:ff9b::169.254.169.254]/",
      "http://[2002:7f00:1::]:" + p + "/",
      "https://127.0.0.1:" + p + "/",
      "http://localhost:" + p + "/",
      "http://LOCALHOST.:" + p + "/",
  };
  for (const std::string& url : urls) {
    auto res = http.perform(get(url));
    ASSERT_FALSE(res.ok()) << url << " was fetched";
    EXPECT_EQ(res.error().code, "address_blocked") << url << ": " << res.error().message;
    auto details = Json::parse(res.error().details);
    ASSERT_TRUE(details.ok()) << url;
    EXPECT_FALSE((*details)["address"].as_string().empty()) << url;
    EXPECT_FALSE((*details)["host"].as_string().empty()) << url;
  }
  EXPECT_EQ(server.connection_count(), 0u);
}

TEST(Outbound, AllowlistedAddressIsReachableWhateverTheSpelling) {
  TestHttpServer server;
  std::string p = std::to_string(server.port());
  OutboundHttp http(policy_allowing({server.host_port()}));
  for (const std::string& url :
       {"http://2130706433:" + p + "/", "http://127.1:" + p + "/", "http://[::ffff:127.0.0.1]:" + p + "/"}) {
    auto res = http.perform(get(url));
    EXPECT_EQ(code_of(res), "ok") << url << ": " << (res.ok() ? "" : res.error().message);
  }
  EXPECT_EQ(server.request_count(), 3u);
}

TEST(Outbound, HostNameEntryAllowsLocalhost) {
  TestHttpServer server;
  OutboundHttp http(policy_allowing({"localhost:" + std::to_string(server.port())}));
  auto res = http.perform(get("http://localhost:" + std::to_string(server.port()) + "/x"));
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->status, 200);
  auto spelled = http.perform(get("http://LocalHost.:" + std::to_string(server.port()) + "/y"));
  ASSERT_TRUE(spelled.ok()) << spelled.error().message;
  EXPECT_EQ(server.requests().back().header("host"), "localhost:" + std::to_string(server.port()));
  // The name entry covers that name only, not the address.
  auto direct = http.perform(get(server.url("/x")));
  EXPECT_EQ(code_of(direct), "address_blocked");
  EXPECT_EQ(server.request_count(), 2u);
}

TEST(Outbound, OnlyHttpAndHttpsSchemes) {
  OutboundHttp http(policy_allowing({"127.0.0.0/8"}));
  for (const char* url :
       {"file:///etc/passwd", "FILE:///etc/passwd", "gopher://127.0.0.1:70/_x", "ftp://127.0.0.1/",
        "dict://127.0.0.1:11211/stat", "ldap://127.0.0.1/", "tftp://127.0.0.1/x", "telnet://127.0.0.1/",
        "smtp://127.0.0.1/", "javascript:alert(1)", "data:text/plain,hi", "unknown-scheme://x/"}) {
    auto res = http.perform(get(url));
    EXPECT_EQ(code_of(res), "scheme_not_allowed") << url;
  }
}

TEST(Outbound, MalformedOrTrickyUrlsAreInvalid) {
  TestHttpServer server;
  std::string hp = server.host_port();
  OutboundHttp http(policy_allowing({hp}));
  for (const std::string& url :
       {"http://user:pass@" + hp + "/", "http://user@" + hp + "/", "http://@" + hp + "/",
        "http://:@" + hp + "/", "http://evil.com\\@" + hp + "/", std::string("not a url"),
        std::string("http://"), std::string("http://[fe80::1%25eth0]/"), "//" + hp + "/", hp + "/",
        std::string("http://example.com:0/"), std::string("http://exa mple.com/"),
        std::string("http://example.com/\r\nX-Injected: 1"), std::string(""),
        // Internationalised names: only in their ASCII form (curl's conversion is locale-bound).
        std::string("http://b\xc3\xbc"
                    "cher.example/")}) {
    auto res = http.perform(get(url));
    EXPECT_EQ(code_of(res), "invalid_url") << url;
  }
  EXPECT_EQ(server.connection_count(), 0u);
}

TEST(Outbound, FragmentIsNotSent) {
  TestHttpServer server;
  OutboundHttp http(policy_allowing({server.host_port()}));
  auto res = http.perform(get(server.url("/a?b=1#@169.254.169.254")));
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(server.requests().at(0).target, "/a?b=1");
  EXPECT_EQ(res->url, server.url("/a?b=1"));
}

TEST(Outbound, RedirectToNonAllowlistedLoopbackPortIsBlockedAtThatHop) {
  TestHttpServer inner;  // not allowlisted
  TestHttpServer outer([&](const TestRequest&) { return TestResponse::redirect(302, inner.url("/secret")); });
  OutboundHttp http(policy_allowing({outer.host_port()}));
  auto res = http.perform(get(outer.url("/start")));
  EXPECT_EQ(code_of(res), "address_blocked");
  EXPECT_EQ(outer.request_count(), 1u);
  EXPECT_EQ(inner.connection_count(), 0u);
}

TEST(Outbound, RedirectToMetadataAndOtherSpellingsIsBlocked) {
  TestHttpServer inner;
  std::string p = std::to_string(inner.port());
  std::string target;
  std::mutex mu;
  TestHttpServer outer([&](const TestRequest&) {
    std::lock_guard<std::mutex> lk(mu);
    return TestResponse::redirect(301, target);
  });
  OutboundHttp http(policy_allowing({outer.host_port()}));
  for (const std::string& t :
       {std::string("http://169.254.169.254/latest/meta-data/iam/"), "http://2130706433:" + p + "/",
        "http://[::ffff:127.0.0.1]:" + p + "/", "//127.1:" + p + "/", "http://localhost:" + p + "/",
        std::string("http://10.0.0.1/")}) {
    {
      std::lock_guard<std::mutex> lk(mu);
      target = t;
    }
    auto res = http.perform(get(outer.url("/")));
    EXPECT_EQ(code_of(res), "address_blocked") << t;
  }
  EXPECT_EQ(inner.connection_count(), 0u);
}

TEST(Outbound, RedirectToOtherSchemesIsRefused) {
  std::string target;
  std::mutex mu;
  TestHttpServer outer([&](const TestRequest&) {
    std::lock_guard<std::mutex> lk(mu);
    return TestResponse::redirect(302, target);
  });
  OutboundHttp http(policy_allowing({outer.host_port()}));
  for (const char* t :
       {"file:///etc/passwd", "gopher://127.0.0.1:70/_x", "ftp://127.0.0.1/", "dict://127.0.0.1:11211/"}) {
    {
      std::lock_guard<std::mutex> lk(mu);
      target = t;
    }
    auto res = http.perform(get(outer.url("/")));
    EXPECT_EQ(code_of(res), "scheme_not_allowed") << t;
  }
}

OutboundRequest with_credentials(std::string url) {
  OutboundRequest req = get(std::move(url));
  req.headers = {{"Authorization", "Bearer secret-token"},
                 {"Cookie", "session=abc"},
                 {"Proxy-Authorization", "Basic eDp5"},
                 {"X-Api-Key", "key-123"},
                 {"X-Trace", "keep-me"}};
  req.sensitive_headers = {"x-api-key"};
  return req;
}

void expect_credentials(const TestRequest& r, bool present) {
  for (const char* h : {"authorization", "cookie", "proxy-authorization", "x-api-key"}) {
    EXPECT_EQ(r.has_header(h), present) << h << " on " << r.target;
  }
  EXPECT_EQ(r.header("x-trace"), "keep-me");
}

TEST(Outbound, CrossOriginRedirectDropsCredentials) {
  TestHttpServer b([](const TestRequest& r) {
    if (r.path == "/land") return TestResponse::text(200, "landed");
    return TestResponse::text(404, "no");
  });
  TestHttpServer a([&](const TestRequest&) { return TestResponse::redirect(302, b.url("/land")); });
  OutboundHttp http(policy_allowing({a.host_port(), b.host_port()}));
  auto res = http.perform(with_credentials(a.url("/start")));
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "landed");
  EXPECT_EQ(res->redirects, 1);
  EXPECT_EQ(res->url, b.url("/land"));
  ASSERT_EQ(a.request_count(), 1u);
  ASSERT_EQ(b.request_count(), 1u);
  expect_credentials(a.requests()[0], true);
  expect_credentials(b.requests()[0], false);
}

TEST(Outbound, SameOriginRedirectKeepsCredentials) {
  TestHttpServer a([](const TestRequest& r) {
    if (r.path == "/start") return TestResponse::redirect(307, "/next?x=1");
    if (r.path == "/next") return TestResponse::redirect(308, "final");
    return TestResponse::text(200, "final " + r.target);
  });
  OutboundHttp http(policy_allowing({a.host_port()}));
  auto res = http.perform(with_credentials(a.url("/start")));
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->body, "final /final");
  EXPECT_EQ(res->redirects, 2);
  auto seen = a.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[1].target, "/next?x=1");
  for (const auto& r : seen) expect_credentials(r, true);
}

TEST(Outbound, CredentialsStayDroppedWhenARedirectReturnsToTheOrigin) {
  TestHttpServer b;
  std::string a_url;
  b.set_handler([&](const TestRequest&) { return TestResponse::redirect(302, a_url + "/back"); });
  TestHttpServer a([&](const TestRequest& r) {
    if (r.path == "/back") return TestResponse::text(200, "back");
    return TestResponse::redirect(302, b.url("/bounce"));
  });
  a_url = a.base_url();
  OutboundHttp http(policy_allowing({a.host_port(), b.host_port()}));
  auto res = http.perform(with_credentials(a.url("/start")));
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->redirects, 2);
  auto seen = a.requests();
  ASSERT_EQ(seen.size(), 2u);
  expect_credentials(seen[0], true);
  expect_credentials(seen[1], false);
}

struct MethodCase {
  int status;
  std::string method;
  std::string expect_method;
  bool expect_body;
};

TEST(Outbound, RedirectMethodRules) {
  const std::vector<MethodCase> cases = {
      {303, "POST", "GET", false}, {303, "PUT", "GET", false},  {303, "HEAD", "HEAD", false},
      {302, "POST", "GET", false}, {301, "POST", "GET", false}, {302, "PUT", "PUT", true},
      {307, "POST", "POST", true}, {308, "POST", "POST", true}, {307, "PATCH", "PATCH", true},
      {302, "GET", "GET", false},
  };
  for (const MethodCase& c : cases) {
    TestHttpServer server([](const TestRequest& r) {
      if (r.path.rfind("/r/", 0) == 0) return TestResponse::redirect(std::stoi(r.path.substr(3)), "/done");
      return TestResponse::text(200, r.method + ":" + r.body);
    });
    OutboundHttp http(policy_allowing({server.host_port()}));
    OutboundRequest req = get(server.url("/r/" + std::to_string(c.status)));
    req.method = c.method;
    if (c.method != "HEAD" && c.method != "GET") {
      req.body = "payload";
      req.headers = {{"Content-Type", "text/plain"}};
    }
    auto res = http.perform(req);
    std::string label = std::to_string(c.status) + " after " + c.method;
    ASSERT_TRUE(res.ok()) << label << ": " << res.error().message;
    EXPECT_EQ(res->redirects, 1) << label;
    auto seen = server.requests();
    ASSERT_EQ(seen.size(), 2u) << label;
    EXPECT_EQ(seen[1].method, c.expect_method) << label;
    EXPECT_EQ(seen[1].body, c.expect_body ? "payload" : "") << label;
    if (c.method != "HEAD" && c.method != "GET") {
      EXPECT_EQ(seen[1].has_header("content-type"), c.expect_body) << label;
    }
  }
}

TEST(Outbound, TooManyRedirects) {
  TestHttpServer loop([](const TestRequest&) { return TestResponse::redirect(302, "/again"); });
  OutboundPolicy p = policy_allowing({loop.host_port()});
  p.max_redirects = 3;
  OutboundHttp http(p);
  auto res = http.perform(get(loop.url("/")));
  EXPECT_EQ(code_of(res), "too_many_redirects");
  EXPECT_EQ(loop.request_count(), 4u);
}

TEST(Outbound, RedirectsNotFollowedWhenAskedNotTo) {
  TestHttpServer server(
      [](const TestRequest&) { return TestResponse::redirect(302, "http://169.254.169.254/"); });
  OutboundHttp http(policy_allowing({server.host_port()}));
  OutboundRequest req = get(server.url("/"));
  req.follow_redirects = false;
  auto res = http.perform(req);
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->status, 302);
  EXPECT_EQ(res->header("location"), "http://169.254.169.254/");
  EXPECT_EQ(res->redirects, 0);
}

TEST(Outbound, EndlessBodyIsCapped) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse r;
    r.endless_body = true;
    return r;
  });
  OutboundHttp http(policy_allowing({server.host_port()}));
  OutboundRequest req = get(server.url("/"));
  req.max_response_bytes = 64 * 1024;
  auto res = http.perform(req);
  EXPECT_EQ(code_of(res), "response_too_large");
}

TEST(Outbound, DeclaredOversizedBodyIsRefusedAndPolicyCapWins) {
  TestHttpServer server([](const TestRequest&) { return TestResponse::text(200, std::string(5000, 'a')); });
  OutboundPolicy p = policy_allowing({server.host_port()});
  p.max_response_bytes = 4096;
  OutboundHttp http(p);
  OutboundRequest req = get(server.url("/"));
  req.max_response_bytes = 1u << 20;  // asking for more than the policy allows gets the policy cap
  EXPECT_EQ(code_of(http.perform(req)), "response_too_large");
  req.max_response_bytes = 5000;
  EXPECT_EQ(code_of(http.perform(req)), "response_too_large");
  p.max_response_bytes = 5000;
  OutboundHttp roomy(p);
  EXPECT_EQ(code_of(roomy.perform(req)), "ok");
}

TEST(Outbound, TooManyResponseHeadersAreRefused) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse r = TestResponse::text(200, "x");
    for (int i = 0; i < 400; ++i) r.headers.emplace_back("X-H" + std::to_string(i), "v");
    return r;
  });
  OutboundHttp http(policy_allowing({server.host_port()}));
  EXPECT_EQ(code_of(http.perform(get(server.url("/")))), "response_too_large");
}

TEST(Outbound, SlowBodyTimesOut) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse r = TestResponse::text(200, std::string(100, 'z'));
    r.trickle_bytes = 1;
    r.trickle_interval = milliseconds(200);
    return r;
  });
  OutboundHttp http(policy_allowing({server.host_port()}));
  OutboundRequest req = get(server.url("/"));
  req.timeout_ms = 800;
  EXPECT_EQ(code_of(http.perform(req)), "timeout");
}

TEST(Outbound, LowSpeedTransferIsAborted) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse r = TestResponse::text(200, std::string(100, 'z'));
    r.trickle_bytes = 1;
    r.trickle_interval = milliseconds(300);
    return r;
  });
  OutboundPolicy p = policy_allowing({server.host_port()});
  p.low_speed_bytes_per_s = 1000;
  p.low_speed_time_ms = 1000;
  p.default_timeout_ms = 20000;  // only the speed floor can end this one quickly
  OutboundHttp http(p);
  EXPECT_EQ(code_of(http.perform(get(server.url("/")))), "timeout");
}

TEST(Outbound, ServerThatNeverAnswersTimesOut) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse r;
    r.never_respond = true;
    return r;
  });
  OutboundHttp http(policy_allowing({server.host_port()}));
  OutboundRequest req = get(server.url("/"));
  req.timeout_ms = 700;
  EXPECT_EQ(code_of(http.perform(req)), "timeout");
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(Outbound, DelayedAnswerWithinTheTimeoutArrives) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse r = TestResponse::text(200, "late");
    r.delay = milliseconds(150);
    return r;
  });
  OutboundHttp http(policy_allowing({server.host_port()}));
  auto res = http.perform(get(server.url("/")));
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->body, "late");
}

TEST(Outbound, CancellationAbortsTheTransfer) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse r;
    r.never_respond = true;
    return r;
  });
  OutboundHttp http(policy_allowing({server.host_port()}));
  OutboundRequest req = get(server.url("/"));
  req.timeout_ms = 10000;
  // Cancel once the server holds the request, so the abort happens mid-transfer.
  auto res = http.perform(req, [&] { return server.request_count() > 0; });
  EXPECT_EQ(code_of(res), "cancelled");
}

TEST(Outbound, NothingListeningIsConnectFailed) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  uint16_t port = ntohs(addr.sin_port);
  // Bound but not listening: connections to it are refused while we hold it.
  OutboundHttp http(policy_allowing({"127.0.0.1:" + std::to_string(port)}));
  auto res = http.perform(get("http://127.0.0.1:" + std::to_string(port) + "/"));
  ::close(fd);
  EXPECT_EQ(code_of(res), "connect_failed");
}

TEST(Outbound, UnresolvableNameIsDnsFailed) {
  OutboundHttp http(policy_allowing({}));
  OutboundRequest req = get("http://weft-test-no-such-host.invalid/");
  req.timeout_ms = 15000;
  EXPECT_EQ(code_of(http.perform(req)), "dns_failed");
  // Punycode hosts go to the resolver as they are.
  req.url = "http://xn--bcher-kva.weft-test.invalid/";
  EXPECT_EQ(code_of(http.perform(req)), "dns_failed");
}

// A TLS client talking to a peer that answers in plain HTTP fails the handshake.
TEST(Outbound, HttpsToAPlainTextPeerIsTlsFailed) {
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(lfd, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string port = std::to_string(ntohs(addr.sin_port));
  std::thread peer([lfd] {
    int fd = ::accept(lfd, nullptr, nullptr);
    if (fd < 0) return;
    char buf[4096];
    (void)!::recv(fd, buf, sizeof buf, 0);  // the ClientHello
    const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    (void)!::send(fd, reply, sizeof reply - 1, MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  });
  OutboundHttp http(policy_allowing({"127.0.0.1:" + port}));
  auto res = http.perform(get("https://127.0.0.1:" + port + "/"));
  peer.join();
  ::close(lfd);
  EXPECT_EQ(code_of(res), "tls_failed") << (res.ok() ? "" : res.error().message);
}

// Proxies from the environment would take the request somewhere the checks never looked at.
TEST(Outbound, ProxyEnvironmentIsIgnored) {
  TestHttpServer proxy;
  TestHttpServer server([](const TestRequest&) { return TestResponse::text(200, "direct"); });
  const char* vars[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
  for (const char* v : vars) ::setenv(v, proxy.base_url().c_str(), 1);
  ::unsetenv("no_proxy");
  ::unsetenv("NO_PROXY");
  OutboundHttp http(policy_allowing({server.host_port()}));
  auto res = http.perform(get(server.url("/")));
  for (const char* v : vars) ::unsetenv(v);
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->body, "direct");
  EXPECT_EQ(proxy.connection_count(), 0u);
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(Outbound, MethodsAndBodies) {
  TestHttpServer server([](const TestRequest& r) {
    return TestResponse::text(200, r.method + "|" + r.body + "|" + r.header("content-type"));
  });
  OutboundHttp http(policy_allowing({server.host_port()}));
  struct Case {
    std::string method, body, content_type, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"post", "raw", "", "POST|raw|"},
           {"PUT", "{\"a\":1}", "application/json", "PUT|{\"a\":1}|application/json"},
           {"PATCH", "p", "", "PATCH|p|"},
           {"DELETE", "", "", "DELETE||"},
           {"OPTIONS", "", "", "OPTIONS||"},
           {"PROPFIND", "", "", "PROPFIND||"},
           {"GET", "", "", "GET||"},
       }) {
    OutboundRequest req = get(server.url("/"));
    req.method = c.method;
    req.body = c.body;
    if (!c.content_type.empty()) req.headers = {{"Content-Type", c.content_type}};
    auto res = http.perform(req);
    ASSERT_TRUE(res.ok()) << c.method << ": " << res.error().message;
    EXPECT_EQ(res->body, c.expect) << c.method;
  }
  OutboundRequest head = get(server.url("/"));
  head.method = "HEAD";
  auto res = http.perform(head);
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "");
  EXPECT_EQ(server.requests().back().method, "HEAD");
}

TEST(Outbound, BadRequestsAreRefusedBeforeConnecting) {
  TestHttpServer server;
  OutboundPolicy p = policy_allowing({server.host_port()});
  p.max_request_body_bytes = 10;
  OutboundHttp http(p);
  auto with = [&](auto mutate) {
    OutboundRequest req = get(server.url("/"));
    mutate(req);
    return http.perform(req);
  };
  auto injected = with([](OutboundRequest& r) { r.headers = {{"X-A", "v\r\nX-Injected: secret-value"}}; });
  EXPECT_EQ(code_of(injected), "invalid_request");
  EXPECT_EQ(injected.error().message.find("secret-value"), std::string::npos);
  EXPECT_EQ(code_of(with([](OutboundRequest& r) { r.headers = {{"X-A", "v\nb"}}; })), "invalid_request");
  EXPECT_EQ(code_of(with([](OutboundRequest& r) { r.headers = {{"X A", "v"}}; })), "invalid_request");
  EXPECT_EQ(code_of(with([](OutboundRequest& r) { r.headers = {{"Bad\r\nName", "v"}}; })), "invalid_request");
  EXPECT_EQ(code_of(with([](OutboundRequest& r) {
              r.headers = {{"Host", "169.254.169.254"}};
            })),
            "invalid_request");
  EXPECT_EQ(code_of(with([](OutboundRequest& r) {
              r.headers = {{"Content-Length", "5"}};
            })),
            "invalid_request");
  EXPECT_EQ(code_of(with([](OutboundRequest& r) {
              r.headers = {{"Transfer-Encoding", "chunked"}};
            })),
            "invalid_request");
  EXPECT_EQ(code_of(with([](OutboundRequest& r) { r.method = "GE T"; })), "invalid_request");
  EXPECT_EQ(code_of(with([](OutboundRequest& r) { r.method = ""; })), "invalid_request");
  EXPECT_EQ(code_of(with([](OutboundRequest& r) { r.method = "CONNECT"; })), "invalid_request");
  EXPECT_EQ(code_of(with([](OutboundRequest& r) {
              r.method = "POST";
              r.body = std::string(11, 'b');
            })),
            "invalid_request");
  EXPECT_EQ(code_of(with([](OutboundRequest& r) { r.timeout_ms = -1; })), "invalid_request");
  EXPECT_EQ(code_of(with([](OutboundRequest& r) {
              r.headers = {{"X-Big", std::string(70000, 'v')}};
            })),
            "invalid_request");
  EXPECT_EQ(code_of(with([](OutboundRequest& r) {
              r.method = "POST";
              r.body = std::string(10, 'b');
            })),
            "ok");
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(Outbound, ConcurrentCallsShareOneClient) {
  TestHttpServer server([](const TestRequest& r) { return TestResponse::text(200, r.query); });
  OutboundHttp http(policy_allowing({server.host_port()}));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        std::string q = std::to_string(t) + "-" + std::to_string(i);
        auto res = http.perform(get(server.url("/?" + q)));
        if (res.ok() && res->body == q) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 30);
}

}  // namespace
}  // namespace weft::net
