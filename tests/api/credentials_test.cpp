// Credentials over the REST API: types, create/list/get/update/delete with write-only secrets,
// validation, per-user isolation, compile-time checks of the credentials a workflow references,
// and placeholder resolution. The secret-leak canary is in canary_test.cpp.
#include <gtest/gtest.h>

#include <cstring>

#include <set>

#include "host/core/ids.hpp"
#include "host/core/redact.hpp"
#include "host/net/outbound.hpp"
#include "host/service/credentials.hpp"
#include "tests/api/fixture.hpp"
#include "tests/net/test_server.hpp"
#include "tests/vault/forwarding_store.hpp"

namespace weft::apitest {
namespace {

// A node type that accepts "test_token" credentials (registered in-process for these tests).
constexpr const char* kTokenType = R"({
  "name": "test_token", "display_name": "Test token", "description": "for the tests",
  "fields": [
    {"name": "token", "display_name": "Token", "type": "string", "secret": true, "required": true},
    {"name": "account", "display_name": "Account", "type": "string"},
    {"name": "region", "display_name": "Region", "type": "select", "options": ["eu", "us"], "default": "eu"}],
  "apply": {"kind": "bearer", "field": "token"}})";
constexpr const char* kOtherType = R"({
  "name": "test_other", "display_name": "Other", "description": "another type",
  "fields": [{"name": "key", "display_name": "Key", "type": "string", "secret": true, "required": true}],
  "apply": {"kind": "header", "name": "X-Test-Key", "field": "key"}})";

weft_status uses_token(void*, const weft_node_request*, const weft_node_result* res) {
  const char* out = R"({"main": {"ok": true}})";
  res->output->write(res->output->ctx, out, std::strlen(out));
  return WEFT_OK;
}

class CredentialsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto& reg = server().host().registry();
    ASSERT_TRUE(reg.add_builtin_credential_type("test", *Json::parse(kTokenType)).ok());
    ASSERT_TRUE(reg.add_builtin_credential_type("test", *Json::parse(kOtherType)).ok());
    registry::NodeType t;
    t.type_name = "test.uses_token";
    t.schema = *Json::parse(R"({"display_name": "Uses a token", "description": "test node",
      "fields": [{"name": "backup", "type": "credential", "credential_types": ["test_other"]}],
      "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "main", "type": "any"}],
      "credential_types": ["test_token"]})");
    t.execute = &uses_token;
    ASSERT_TRUE(reg.add_builtin_node_type(std::move(t)).ok());
  }

  Response create(const std::string& token, const std::string& name, const std::string& type, const Json& fields) {
    Json body = Json::object();
    body.set("name", name);
    body.set("type", type);
    body.set("fields", fields);
    return client().post("/api/credentials", body, token);
  }
  std::string create_ok(const std::string& token, const std::string& name, const std::string& secret,
                        const std::string& type = "test_token") {
    Json fields = Json::object();
    fields.set(type == "test_token" ? "token" : "key", secret);
    Response r = create(token, name, type, fields);
    EXPECT_EQ(r.status, 201) << r.describe();
    return r.json()["id"].as_string();
  }
  // trigger → test.uses_token with data.credentials {"api": ref}
  static Json workflow_with(const Json& cred_ref, const Json& backup = Json()) {
    Json w = *Json::parse(R"({"name": "uses", "nodes": [
      {"id": "start", "type": "core.manual_trigger", "position": {"x": 0, "y": 0}, "data": {"parameters": {}}},
      {"id": "call", "type": "test.uses_token", "position": {"x": 100, "y": 0}, "data": {"parameters": {}}}],
      "edges": [{"id": "e1", "source": "start", "target": "call"}]})");
    Json nodes = w["nodes"];
    Json call = nodes.at(1);
    Json data = Json::object();
    Json params = Json::object();
    if (!backup.is_null()) params.set("backup", backup);
    data.set("parameters", params);
    Json creds = Json::object();
    creds.set("api", cred_ref);
    data.set("credentials", creds);
    call.set("data", data);
    Json::Array list = nodes.as_array();
    list[1] = call;
    w.set("nodes", Json(list));
    return w;
  }
};

TEST_P(CredentialsTest, TypesListsPluginTypesWithSecretFlags) {
  TestUser u = make_user();
  Response r = client().get("/api/credentials/types", u.token);
  ASSERT_EQ(r.status, 200) << r.describe();
  bool found = false;
  for (const Json& t : r.json()["types"].as_array()) {
    if (t["name"].as_string() != "test_token") continue;
    found = true;
    EXPECT_EQ(t["plugin"].as_string(), "test");
    EXPECT_TRUE(t["fields"].at(0)["secret"].as_bool());
    EXPECT_EQ(t["apply"]["kind"].as_string(), "bearer");
  }
  EXPECT_TRUE(found) << r.body;
}

TEST_P(CredentialsTest, SecretsAreWriteOnly) {
  TestUser u = make_user();
  const std::string secret = "s3cret-" + random_hex(12);
  Json fields = Json::object();
  fields.set("token", secret);
  fields.set("account", "acme");
  Response r = create(u.token, "Main", "test_token", fields);
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.body.find(secret), std::string::npos);
  const std::string id = r.json()["id"].as_string();
  EXPECT_EQ(r.json()["fields"]["account"].as_string(), "acme");
  EXPECT_EQ(r.json()["fields"]["region"].as_string(), "eu");  // default filled
  EXPECT_FALSE(r.json()["fields"].contains("token"));
  EXPECT_EQ(r.json()["secret_fields_set"].dump(), R"(["token"])");

  Response got = client().get("/api/credentials/" + id, u.token);
  ASSERT_EQ(got.status, 200) << got.describe();
  EXPECT_EQ(got.body.find(secret), std::string::npos);
  Response list = client().get("/api/credentials", u.token);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json()["credentials"].size(), 1u);
  EXPECT_EQ(list.body.find(secret), std::string::npos);
  Response filtered = client().get("/api/credentials?type=test_other", u.token);
  EXPECT_EQ(filtered.json()["credentials"].size(), 0u);

  // Update: rename and change a plain field; the secret is kept.
  Json upd = *Json::parse(R"({"name": "Renamed", "fields": {"account": "globex"}})");
  Response put = client().put("/api/credentials/" + id, upd, u.token);
  ASSERT_EQ(put.status, 200) << put.describe();
  EXPECT_EQ(put.json()["name"].as_string(), "Renamed");
  EXPECT_EQ(put.json()["fields"]["account"].as_string(), "globex");
  EXPECT_EQ(put.json()["secret_fields_set"].dump(), R"(["token"])");
  // Replacing the secret works and is still not shown.
  const std::string secret2 = "n3w-" + random_hex(12);
  Json upd2 = Json::object();
  Json f2 = Json::object();
  f2.set("token", secret2);
  upd2.set("fields", f2);
  Response put2 = client().put("/api/credentials/" + id, upd2, u.token);
  ASSERT_EQ(put2.status, 200) << put2.describe();
  EXPECT_EQ(put2.body.find(secret2), std::string::npos);

  Response del = client().del("/api/credentials/" + id, u.token);
  EXPECT_EQ(del.status, 204) << del.describe();
  EXPECT_TRUE(IsError(client().get("/api/credentials/" + id, u.token), 404, "not_found"));
}

TEST_P(CredentialsTest, MalformedPayloadsGetClear400s) {
  TestUser u = make_user();
  auto post = [&](const std::string& raw) {
    return client().request("POST", "/api/credentials", u.token, raw, {{"Content-Type", "application/json"}});
  };
  EXPECT_TRUE(IsError(post(R"({"name": "x", "type": "nope", "fields": {}})"), 400, "unknown_credential_type"));
  EXPECT_TRUE(IsError(post(R"({"name": "x", "type": "test_token", "fields": {}})"), 400, "invalid_credential"));
  EXPECT_TRUE(IsError(post(R"({"name": "x", "type": "test_token", "fields": {"token": ""}})"), 400, "invalid_credential"));
  EXPECT_TRUE(IsError(post(R"({"name": "x", "type": "test_token", "fields": {"token": 42}})"), 400, "invalid_credential"));
  EXPECT_TRUE(IsError(post(R"({"name": "x", "type": "test_token", "fields": {"token": "t", "bogus": 1}})"), 400,
                      "invalid_credential"));
  EXPECT_TRUE(IsError(post(R"({"name": "x", "type": "test_token", "fields": {"token": "t", "region": "mars"}})"), 400,
                      "invalid_credential"));
  EXPECT_TRUE(IsError(post(R"({"name": "", "type": "test_token", "fields": {"token": "t"}})"), 400, "invalid_credential"));
  EXPECT_TRUE(IsError(post(R"({"name": "a\u0001b", "type": "test_token", "fields": {"token": "t"}})"), 400,
                      "invalid_credential"));
  EXPECT_TRUE(IsError(post(R"({"name": "x", "type": "test_token", "fields": "t"})"), 400, "invalid_credential"));
  EXPECT_TRUE(IsError(post(R"({"id": "mine", "name": "x", "type": "test_token", "fields": {"token": "t"}})"), 400,
                      "unknown_field"));
  EXPECT_TRUE(IsError(post(R"({"owner_id": "u", "name": "x", "type": "test_token", "fields": {"token": "t"}})"), 400,
                      "unknown_field"));
  EXPECT_TRUE(IsError(post(R"([1,2])"), 400));
  EXPECT_TRUE(IsError(post(R"({"name": "x", "type": "test_token", "fields": {"token": ")" + std::string(20000, 'a') +
                           R"("}})"),
                      400, "invalid_credential"));
  // Duplicate names per account conflict (case-insensitive); another account may reuse it.
  create_ok(u.token, "Shared", "t1");
  EXPECT_TRUE(IsError(create(u.token, "shared", "test_token", *Json::parse(R"({"token": "t2"})")), 409, "conflict"));
  TestUser v = make_user();
  create_ok(v.token, "Shared", "t3");
  // The type cannot change on update.
  std::string id = create_ok(u.token, "Typed", "t4");
  EXPECT_TRUE(IsError(client().put("/api/credentials/" + id, *Json::parse(R"({"type": "test_other"})"), u.token), 400,
                      "invalid_credential"));
  // Clearing a required secret is refused.
  EXPECT_TRUE(IsError(client().put("/api/credentials/" + id, *Json::parse(R"({"fields": {"token": null}})"), u.token), 400,
                      "invalid_credential"));
}

TEST_P(CredentialsTest, AnotherUsersCredentialIsInvisibleAndUnusable) {
  TestUser a = make_user();
  TestUser b = make_user();
  const std::string id = create_ok(a.token, "A's", "a-secret");
  EXPECT_TRUE(IsError(client().get("/api/credentials/" + id, b.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().put("/api/credentials/" + id, *Json::parse(R"({"name": "mine"})"), b.token), 404));
  EXPECT_TRUE(IsError(client().del("/api/credentials/" + id, b.token), 404));
  EXPECT_EQ(client().get("/api/credentials", b.token).json()["credentials"].size(), 0u);
  // B cannot save a workflow that cites A's credential (nor compile one).
  Response saved = client().post("/api/workflows", workflow_with(id), b.token);
  ASSERT_TRUE(IsError(saved, 400, "credential_rejected"));
  EXPECT_EQ(saved.json()["error"]["details"]["errors"].at(0)["code"].as_string(), "credential_not_found") << saved.body;
  EXPECT_EQ(saved.json()["error"]["details"]["errors"].at(0)["field"].as_string(), "credentials.api");
  Response compiled = client().post("/api/workflows/compile", workflow_with(id), b.token);
  EXPECT_EQ(compiled.status, 422) << compiled.describe();
  // A itself compiles fine.
  Response mine = client().post("/api/workflows/compile", workflow_with(id), a.token);
  EXPECT_EQ(mine.status, 200) << mine.describe();
}

TEST_P(CredentialsTest, WrongTypeIsRejectedAtCompile) {
  TestUser u = make_user();
  const std::string other = create_ok(u.token, "Other", "k", "test_other");
  const std::string token = create_ok(u.token, "Token", "t");
  Response r = client().post("/api/workflows/compile", workflow_with(other), u.token);
  EXPECT_EQ(r.status, 422) << r.describe();
  EXPECT_EQ(r.json()["errors"].at(0)["code"].as_string(), "credential_wrong_type") << r.body;
  // A credential field checks its own types: test_token is wrong for "backup".
  Response f = client().post("/api/workflows/compile", workflow_with(token, token), u.token);
  EXPECT_EQ(f.status, 422) << f.describe();
  EXPECT_EQ(f.json()["errors"].at(0)["field"].as_string(), "parameters.backup") << f.body;
  Response good = client().post("/api/workflows/compile", workflow_with(token, other), u.token);
  EXPECT_EQ(good.status, 200) << good.describe();
  // Saving a workflow of the wrong type is refused.
  EXPECT_TRUE(IsError(client().post("/api/workflows", workflow_with(other), u.token), 400, "credential_rejected"));
  // Deleting a credential makes the saved workflow fail to compile and to run.
  const std::string wf = create_workflow(u.token, workflow_with(token));
  ASSERT_EQ(client().del("/api/credentials/" + token, u.token).status, 204);
  Response gone = client().post("/api/workflows/compile", workflow_with(token), u.token);
  EXPECT_EQ(gone.status, 422);
  EXPECT_EQ(gone.json()["errors"].at(0)["code"].as_string(), "credential_not_found");
  Response run = execute(u.token, wf);
  EXPECT_TRUE(IsError(run, 400, "compile_failed")) << run.describe();
}

TEST_P(CredentialsTest, PlaceholdersResolveByNameThenTypeAndReportAmbiguity) {
  TestUser u = make_user();
  // Unresolvable: no credential at all.
  Response none = client().post("/api/workflows/compile", workflow_with("{{credential:test_token}}"), u.token);
  EXPECT_EQ(none.status, 422) << none.describe();
  EXPECT_EQ(none.json()["errors"].at(0)["code"].as_string(), "credential_placeholder_unresolved") << none.body;

  const std::string prod = create_ok(u.token, "Production", "p");
  // One credential of the accepted type: by type name, and by a token naming nothing else.
  Response by_type = client().post("/api/credentials/resolve", workflow_with("{{ credential:test_token }}"), u.token);
  ASSERT_EQ(by_type.status, 200) << by_type.describe();
  EXPECT_EQ(by_type.json()["resolved"].at(0)["credential_id"].as_string(), prod) << by_type.body;
  EXPECT_EQ(by_type.json()["workflow"]["nodes"].at(1)["data"]["credentials"]["api"].as_string(), prod);
  Response by_family = client().post("/api/credentials/resolve", workflow_with("{{credential:test}}"), u.token);
  EXPECT_EQ(by_family.json()["resolved"].at(0)["credential_id"].as_string(), prod) << by_family.body;

  const std::string staging = create_ok(u.token, "Staging", "s");
  Response amb = client().post("/api/credentials/resolve", workflow_with("{{credential:test_token}}"), u.token);
  ASSERT_EQ(amb.status, 200);
  ASSERT_EQ(amb.json()["problems"].size(), 1u) << amb.body;
  const Json& p = amb.json()["problems"].at(0);
  EXPECT_EQ(p["code"].as_string(), "credential_placeholder_ambiguous");
  EXPECT_EQ(p["node_id"].as_string(), "call");
  EXPECT_EQ(p["details"]["candidates"].size(), 2u);
  // By name (case-insensitive) it is unambiguous.
  Response named = client().post("/api/credentials/resolve", workflow_with("{{credential:staging}}"), u.token);
  EXPECT_EQ(named.json()["resolved"].at(0)["credential_id"].as_string(), staging) << named.body;
  // A name of the wrong type is not taken: "Other" exists but the node accepts test_token only.
  create_ok(u.token, "Other", "k", "test_other");
  Response wrong = client().post("/api/credentials/resolve", workflow_with("{{credential:Other}}"), u.token);
  EXPECT_EQ(wrong.json()["resolved"].size(), 0u) << wrong.body;

  // Saving resolves once: the stored version names the id; ambiguity is a compile error.
  Response saved = client().post("/api/workflows", workflow_with("{{credential:production}}"), u.token);
  ASSERT_EQ(saved.status, 201) << saved.describe();
  EXPECT_TRUE(saved.json()["compile"]["ok"].as_bool()) << saved.body;
  EXPECT_EQ(saved.json()["credential_placeholders"].at(0)["credential_id"].as_string(), prod);
  Response stored = client().get("/api/workflows/" + saved.json()["id"].as_string(), u.token);
  EXPECT_EQ(stored.json()["definition"]["nodes"].at(1)["data"]["credentials"]["api"].as_string(), prod) << stored.body;
  Response amb_saved = client().post("/api/workflows", workflow_with("{{credential:test_token}}"), u.token);
  ASSERT_EQ(amb_saved.status, 201);
  EXPECT_FALSE(amb_saved.json()["compile"]["ok"].as_bool());
  EXPECT_EQ(amb_saved.json()["compile"]["errors"].at(0)["code"].as_string(), "credential_placeholder_ambiguous");
  // Another user's credentials never resolve a placeholder.
  TestUser v = make_user();
  Response theirs = client().post("/api/credentials/resolve", workflow_with("{{credential:production}}"), v.token);
  EXPECT_EQ(theirs.json()["resolved"].size(), 0u);
}

TEST_P(CredentialsTest, ScopesGateTheRoutes) {
  TestUser u = make_user();
  Json body = *Json::parse(R"({"name": "read-only", "scopes": ["credentials:read"]})");
  Response k = client().post("/api/keys", body, u.token);
  ASSERT_EQ(k.status, 201) << k.describe();
  const std::string key = k.json()["key"].as_string();
  EXPECT_EQ(client().get("/api/credentials", key).status, 200);
  EXPECT_TRUE(IsError(create(key, "x", "test_token", *Json::parse(R"({"token": "t"})")), 403, "forbidden"));
}

// The server's store, except that appending audit entries of the listed actions fails ("*": all).
class AuditFailingStore : public store::testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::set<std::string> failing = {"*"};
  Result<std::vector<store::AuditRecord>> append_audit(const std::vector<store::AuditRecord>& entries) override {
    for (const auto& e : entries)
      if (failing.count("*") || failing.count(e.action_type))
        return Error("db_error", "the audit table cannot be written");
    return inner_->append_audit(entries);
  }
};

// "Every access is audited" (PRODUCT.md §6): an access whose audit record cannot be written does
// not happen — the node gets a retryable audit_unavailable and no secret, and a request the host
// would apply the credential to is not sent.
TEST_P(CredentialsTest, AnAccessThatCannotBeAuditedIsRefused) {
  TestUser u = make_user();
  const std::string secret = "audited-" + random_hex(12);
  const std::string id = create_ok(u.token, "Main", secret);

  net::testing::TestHttpServer api([](const net::testing::TestRequest&) {
    return net::testing::TestResponse::text(200, "ok");
  });
  Json allow = Json::array();
  allow.push_back("127.0.0.1:" + std::to_string(api.port()));
  Json outbound = Json::object();
  outbound.set("allow", allow);
  auto policy = net::OutboundPolicy::from_json(outbound);
  ASSERT_TRUE(policy.ok()) << policy.error().message;

  // The node services as the server builds them, over the failing store.
  auto failing = std::make_shared<AuditFailingStore>(server().host().store());
  auto credentials = std::make_shared<service::CredentialService>(
      failing, server().host().registry(), server().credentials().vault, std::make_shared<service::AuditLog>(failing));
  service::CredentialRuntime runtime(credentials, std::make_shared<net::OutboundHttp>(*policy));
  store::ExecutionRecord exec;
  exec.id = "exec-" + random_hex(6);
  exec.workflow_id = "wf-audit";
  exec.owner_id = u.id;
  compiler::PlanNode node;
  node.id = "call";
  node.credential_refs = {id};
  node.credential_names["api"] = id;
  Redactor redactor;
  executor::NodeServiceContext ctx;
  ctx.execution = &exec;
  ctx.node = &node;
  ctx.redactor = &redactor;
  auto error_code = [](const std::string& err) {
    auto j = Json::parse(err);
    return j.ok() ? (*j)["code"].as_string() : "not JSON: " + err;
  };

  // credential_get: no access record, no secret.
  std::string out, err;
  EXPECT_EQ(runtime.credential_get(ctx, "api", out, err), WEFT_ERR_FAILED);  // retryable
  EXPECT_EQ(error_code(err), "audit_unavailable");
  EXPECT_EQ(out.find(secret), std::string::npos) << out;
  EXPECT_EQ(err.find(secret), std::string::npos) << err;

  // http_request with the credential applied: without its use record, nothing is sent.
  Json req = Json::object();
  req.set("method", "GET");
  req.set("url", "http://127.0.0.1:" + std::to_string(api.port()) + "/me");
  req.set("credential", "api");
  for (const std::set<std::string>& fails : {std::set<std::string>{"*"}, std::set<std::string>{"credential.use"}}) {
    failing->failing = fails;
    out.clear();
    err.clear();
    EXPECT_EQ(runtime.http_request(ctx, req.dump(), out, err), WEFT_ERR_FAILED) << *fails.begin();
    EXPECT_EQ(error_code(err), "audit_unavailable") << *fails.begin();
    EXPECT_TRUE(out.empty()) << out;
    EXPECT_TRUE(api.requests().empty()) << "the request carrying the credential was sent (" << *fails.begin() << ")";
  }

  // The trail writable again: both work, and both accesses are recorded.
  failing->failing.clear();
  out.clear();
  err.clear();
  ASSERT_EQ(runtime.credential_get(ctx, "api", out, err), WEFT_OK) << err;
  EXPECT_NE(out.find(secret), std::string::npos);
  out.clear();
  ASSERT_EQ(runtime.http_request(ctx, req.dump(), out, err), WEFT_OK) << err;
  ASSERT_EQ(api.requests().size(), 1u);
  EXPECT_EQ(api.requests()[0].header("authorization"), "Bearer " + secret);
  store::AuditFilter f;
  auto trail = server().host().store()->list_audit(f);
  ASSERT_TRUE(trail.ok()) << trail.error().message;
  int access = 0, use = 0;
  for (const auto& a : *trail) {
    if (a.execution_id != exec.id) continue;
    access += a.action_type == "credential.access";
    use += a.action_type == "credential.use";
  }
  // credential_get; the access http_request recorded before its use record failed; and the one
  // of the request that went out.
  EXPECT_EQ(access, 3);
  EXPECT_EQ(use, 1);
}

WEFT_API_BACKENDS(CredentialsTest);

}  // namespace
}  // namespace weft::apitest
