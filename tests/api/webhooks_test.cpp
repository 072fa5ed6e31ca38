// Webhook entry points: a workflow with a core.webhook_trigger node is reachable at the URL its
// owner sees in GET /api/workflows/:id/webhooks; secret paths, HMAC signatures, responses and
// idempotent deliveries.
#include <gtest/gtest.h>
#include <sodium.h>

#include "host/core/call.hpp"
#include "tests/api/fixture.hpp"

namespace weft::apitest {
namespace {

// HMAC-SHA256 as lower-case hex, computed here with libsodium directly (not the server's helper).
std::string hmac_hex(const std::string& key, const std::string& message) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(message.data()), message.size());
  crypto_auth_hmacsha256_final(&st, mac);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : mac) {
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
  }
  return out;
}

class WebhooksTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!has_node_type("core.webhook_trigger"))
      GTEST_SKIP() << "core.webhook_trigger is not in the palette yet (plugins/core): webhook tests skipped";
  }
  // webhook trigger → set {"got": body.msg}; `extra` nodes make it non-quick.
  static Json hook_workflow(const Json& params, int extra_nodes = 0) {
    Json nodes = Json::array();
    Json edges = Json::array();
    Json hook = Json::object();
    hook.set("id", "hook");
    hook.set("type", "core.webhook_trigger");
    hook.set("data", Json::object({{"parameters", params}}));
    nodes.push_back(hook);
    Json set = *Json::parse(R"({"id": "echo", "type": "core.set",
        "data": {"parameters": {"fields": {"got": "{{ $json.body.msg }}", "method": "{{ $json.method }}"}}}})");
    nodes.push_back(set);
    edges.push_back(*Json::parse(R"({"id": "e0", "source": "hook", "target": "echo"})"));
    std::string prev = "echo";
    for (int i = 0; i < extra_nodes; ++i) {
      const std::string nid = "extra" + std::to_string(i);
      Json n = Json::object();
      n.set("id", nid);
      n.set("type", "core.noop");
      n.set("data", Json::object({{"parameters", Json::object()}}));
      nodes.push_back(n);
      Json e = Json::object();
      e.set("id", "x" + std::to_string(i));
      e.set("source", prev);
      e.set("target", nid);
      edges.push_back(e);
      prev = nid;
    }
    Json w = Json::object();
    w.set("name", "hooked");
    w.set("nodes", nodes);
    w.set("edges", edges);
    return w;
  }
  // The single webhook entry of a workflow.
  Json webhook_of(const std::string& token, const std::string& wid) {
    Response r = client().get("/api/workflows/" + wid + "/webhooks", token);
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.json()["webhooks"].size(), 1u) << r.describe();
    return r.json()["webhooks"].at(0);
  }
  Response deliver(const std::string& url, const std::string& body, HeaderList headers = {},
                   const std::string& method = "POST") {
    headers.emplace_back("Content-Type", "application/json");
    return client().request(method, url, "", body, headers);
  }
  HeaderList signed_headers(const std::string& secret, const std::string& body, int64_t ts_s) {
    const std::string ts = std::to_string(ts_s);
    return {{"X-Weft-Timestamp", ts}, {"X-Weft-Signature", "sha256=" + hmac_hex(secret, ts + "." + body)}};
  }
};

TEST_P(WebhooksTest, SecretPathRunsTheWorkflowAndAnswersWithItsOutput) {
  TestUser u = make_user();
  const std::string wid = create_workflow(u.token, hook_workflow(Json::object({{"path", Json("orders")}})));
  Json hook = webhook_of(u.token, wid);
  const std::string url = hook["url"].as_string();
  EXPECT_EQ(hook["method"].as_string(), "POST");
  EXPECT_EQ(hook["auth"].as_string(), "secret_path");
  ASSERT_EQ(url.rfind("/webhook/orders-", 0), 0u) << url;
  EXPECT_GE(url.size(), std::string("/webhook/orders-").size() + 16) << "the secret part is too short: " << url;
  EXPECT_FALSE(hook.contains("hmac_secret"));

  Response r = deliver(url, R"({"msg": "hi"})");
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json()["got"].as_string(), "hi") << r.describe();
  EXPECT_EQ(r.json()["method"].as_string(), "POST");
  const std::string eid = r.header("x-weft-execution-id").value_or("");
  ASSERT_FALSE(eid.empty());
  Response e = client().get("/api/executions/" + eid, u.token);
  ASSERT_EQ(e.status, 200) << "the owner sees the webhook's execution";
  EXPECT_EQ(e.json()["workflow_id"].as_string(), wid);
  EXPECT_EQ(e.json()["input"]["body"]["msg"].as_string(), "hi");

  // Wrong paths and methods.
  EXPECT_TRUE(IsError(deliver("/webhook/orders", "{}"), 404, "not_found"));
  EXPECT_TRUE(IsError(deliver(url + "x", "{}"), 404, "not_found"));
  EXPECT_TRUE(IsError(deliver(url.substr(0, url.size() - 1), "{}"), 404, "not_found"));
  EXPECT_TRUE(IsError(deliver("/webhook/" + wid, "{}"), 404, "not_found"));
  Response g = client().get(url);
  EXPECT_TRUE(IsError(g, 405, "method_not_allowed"));
  // A body that claims JSON and is not: 400, no run.
  EXPECT_TRUE(IsError(deliver(url, "{nope"), 400, "invalid_json"));
  EXPECT_EQ(client().get("/api/executions?workflow_id=" + wid, u.token).json()["executions"].size(), 1u);

  // Gone with its workflow.
  ASSERT_EQ(client().del("/api/workflows/" + wid, u.token).status, 204);
  EXPECT_TRUE(IsError(deliver(url, "{}"), 404, "not_found"));
}

TEST_P(WebhooksTest, GeneratedPathsAreSecretAndStable) {
  TestUser u = make_user();
  const std::string wid = create_workflow(u.token, hook_workflow(Json::object()));
  const std::string url = webhook_of(u.token, wid)["url"].as_string();
  ASSERT_EQ(url.rfind("/webhook/", 0), 0u);
  EXPECT_GE(url.size() - 9, 32u) << url;
  // A new version keeps the URL.
  ASSERT_EQ(client().put("/api/workflows/" + wid, hook_workflow(Json::object()), u.token).status, 200);
  EXPECT_EQ(webhook_of(u.token, wid)["url"].as_string(), url);
  EXPECT_EQ(deliver(url, R"({"msg": "v2"})").status, 200);
  // Another workflow gets another URL.
  const std::string wid2 = create_workflow(u.token, hook_workflow(Json::object()));
  EXPECT_NE(webhook_of(u.token, wid2)["url"].as_string(), url);
}

TEST_P(WebhooksTest, HmacSignaturesAreChecked) {
  TestUser u = make_user();
  const std::string wid =
      create_workflow(u.token, hook_workflow(Json::object({{"path", Json("signed-hook")}, {"auth", Json("hmac")}})));
  Json hook = webhook_of(u.token, wid);
  const std::string url = hook["url"].as_string();
  EXPECT_EQ(url, "/webhook/signed-hook");
  const std::string secret = hook["hmac_secret"].as_string();
  ASSERT_FALSE(secret.empty()) << hook.dump();
  const std::string body = R"({"msg": "signed"})";
  const int64_t now = wall_ms() / 1000;

  // Missing signature, missing timestamp, garbage.
  EXPECT_TRUE(IsError(deliver(url, body), 401, "invalid_signature"));
  EXPECT_TRUE(IsError(deliver(url, body, {{"X-Weft-Signature", "sha256=" + hmac_hex(secret, body)}}), 401));
  EXPECT_TRUE(IsError(deliver(url, body, {{"X-Weft-Timestamp", std::to_string(now)}}), 401, "invalid_signature"));
  EXPECT_TRUE(IsError(
      deliver(url, body, {{"X-Weft-Timestamp", std::to_string(now)}, {"X-Weft-Signature", "sha256=00"}}), 401));
  // Signed with the wrong key, over another body, without the timestamp, or too old/new.
  EXPECT_TRUE(IsError(deliver(url, body, signed_headers("whsec_wrong", body, now)), 401, "invalid_signature"));
  EXPECT_TRUE(IsError(deliver(url, body, signed_headers(secret, R"({"msg": "other"})", now)), 401));
  {
    HeaderList h = {{"X-Weft-Timestamp", std::to_string(now)}, {"X-Weft-Signature", "sha256=" + hmac_hex(secret, body)}};
    EXPECT_TRUE(IsError(deliver(url, body, h), 401));
  }
  EXPECT_TRUE(IsError(deliver(url, body, signed_headers(secret, body, now - 3600)), 401, "invalid_signature"));
  EXPECT_TRUE(IsError(deliver(url, body, signed_headers(secret, body, now + 3600)), 401, "invalid_signature"));
  {
    // Upper-case hex and a missing "sha256=" prefix are not what the contract says.
    HeaderList h = signed_headers(secret, body, now);
    h[1].second = h[1].second.substr(7);
    EXPECT_TRUE(IsError(deliver(url, body, h), 401));
  }
  EXPECT_EQ(client().get("/api/executions?workflow_id=" + wid, u.token).json()["executions"].size(), 0u)
      << "a refused delivery must not run anything";

  // The good signature runs it.
  Response ok = deliver(url, body, signed_headers(secret, body, now));
  ASSERT_EQ(ok.status, 200) << ok.describe();
  EXPECT_EQ(ok.json()["got"].as_string(), "signed");
  // The signing secret is only in the owner's view and never echoed into the run's input.
  const std::string eid = ok.header("x-weft-execution-id").value_or("");
  Response e = client().get("/api/executions/" + eid, u.token);
  ASSERT_EQ(e.status, 200);
  EXPECT_FALSE(e.json()["input"]["headers"].contains("x-weft-signature")) << e.body;
  EXPECT_EQ(e.body.find(secret), std::string::npos);
}

TEST_P(WebhooksTest, IdempotencyKeyDeduplicatesDeliveries) {
  TestUser u = make_user();
  const std::string wid = create_workflow(u.token, hook_workflow(Json::object({{"path", Json("dedup")}})));
  const std::string url = webhook_of(u.token, wid)["url"].as_string();
  Response a = deliver(url, R"({"msg": "once"})", {{"Idempotency-Key", "delivery-1"}});
  Response b = deliver(url, R"({"msg": "once"})", {{"Idempotency-Key", "delivery-1"}});
  ASSERT_EQ(a.status, 200) << a.describe();
  ASSERT_EQ(b.status, 200) << b.describe();
  EXPECT_EQ(a.header("x-weft-execution-id"), b.header("x-weft-execution-id"));
  EXPECT_EQ(b.json()["got"].as_string(), "once");
  Response c = deliver(url, R"({"msg": "twice"})", {{"Idempotency-Key", "delivery-2"}});
  ASSERT_EQ(c.status, 200);
  EXPECT_NE(c.header("x-weft-execution-id"), a.header("x-weft-execution-id"));
  EXPECT_EQ(client().get("/api/executions?workflow_id=" + wid, u.token).json()["executions"].size(), 2u);
}

TEST_P(WebhooksTest, NonQuickAndImmediateWebhooksAnswer202) {
  TestUser u = make_user();
  const std::string slow = create_workflow(u.token, hook_workflow(Json::object({{"path", Json("slow")}}), 4));
  const std::string url = webhook_of(u.token, slow)["url"].as_string();
  Response r = deliver(url, R"({"msg": "later"})");
  ASSERT_EQ(r.status, 202) << r.describe();
  const std::string eid = r.json()["execution_id"].as_string();
  ASSERT_FALSE(eid.empty()) << r.describe();
  Json done = wait_status(u.token, eid, {"succeeded", "failed", "cancelled"});
  EXPECT_EQ(done["status"].as_string(), "succeeded") << done.dump();

  const std::string imm = create_workflow(
      u.token, hook_workflow(Json::object({{"path", Json("imm")}, {"response", Json("immediate")}})));
  Response i = deliver(webhook_of(u.token, imm)["url"].as_string(), R"({"msg": "now"})");
  ASSERT_EQ(i.status, 202) << i.describe();
  wait_status(u.token, i.json()["execution_id"].as_string(), {"succeeded"});
}

TEST_P(WebhooksTest, MethodAnyAndGet) {
  TestUser u = make_user();
  const std::string wid =
      create_workflow(u.token, hook_workflow(Json::object({{"path", Json("anyhook")}, {"method", Json("ANY")}})));
  const std::string url = webhook_of(u.token, wid)["url"].as_string();
  Response g = client().get(url + "?x=1");
  ASSERT_EQ(g.status, 200) << g.describe();
  EXPECT_EQ(g.json()["method"].as_string(), "GET");
  EXPECT_EQ(deliver(url, R"({"msg": "p"})").json()["got"].as_string(), "p");
}

WEFT_API_BACKENDS(WebhooksTest);

}  // namespace
}  // namespace weft::apitest
