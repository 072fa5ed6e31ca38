// The secret canary (issue 4, SECURITY.md Checklist A "Secrets"): a credential with a unique
// value is stored, workflows use it (through a node that deliberately leaks it into its log, an
// event, its output, a downstream node and its error message, and through the HTTP Request node
// against a loopback server that echoes what it received) and fail with it; then the database
// files (or a pg_dump), the server's stderr, every SSE stream, every API response and the audit
// trail are searched for the value: it must appear nowhere, in any common encoding.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "host/core/call.hpp"
#include "host/core/ids.hpp"
#include "tests/api/fixture.hpp"
#include "tests/net/test_server.hpp"

namespace weft::apitest {
namespace {

// test.leaky: reads credential "api" and leaks its token everywhere a node can.
weft_status leaky(void*, const weft_node_request* req, const weft_node_result* res) {
  const weft_host_api* host = weft::host_api_table();
  StringSink cred, err;
  weft_status st = host->credential_get(req->call, to_weft_str("api"), &cred.sink, &err.sink);
  if (st != WEFT_OK) {
    res->error->write(res->error->ctx, err.data.data(), err.data.size());
    return st;
  }
  auto j = Json::parse(cred.data);
  const std::string secret = (*j)["fields"]["token"].as_string();
  host->log(req->call, WEFT_LOG_INFO, to_weft_str("using token " + secret + " now"));
  Json ev = Json::object();
  ev.set("secret", secret);
  host->emit_event(req->call, to_weft_str("leak"), to_weft_str(ev.dump()));
  const bool fail = std::string_view(req->params_json.ptr, req->params_json.len).find("\"fail\":true") !=
                    std::string_view::npos;
  if (fail) {
    Json e = Json::object();
    e.set("code", "leaky_failure");
    e.set("message", "the call with " + secret + " was refused");
    Json d = Json::object();
    d.set("sent", "Authorization: Bearer " + secret);
    e.set("details", d);
    const std::string t = e.dump();
    res->error->write(res->error->ctx, t.data(), t.size());
    return WEFT_ERR_INVALID_INPUT;
  }
  Json out = Json::object();
  Json main = Json::object();
  main.set("echo", secret);
  main.set("wrapped", "x" + secret + "y");
  out.set("main", main);
  const std::string t = out.dump();
  res->output->write(res->output->ctx, t.data(), t.size());
  return WEFT_OK;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string b64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[n >> 18], t[(n >> 12) & 63], t[(n >> 6) & 63], t[n & 63]};
  }
  return out;  // the unpadded prefix is enough to find an encoded copy
}

class CanaryTest : public ApiTest {
 protected:
  void configure(app::Config& config, api::ServeConfig&) override {
    using net::testing::TestRequest;
    using net::testing::TestResponse;
    echo_ = std::make_unique<net::testing::TestHttpServer>([](const TestRequest& r) {
      // A webhook endpoint that refuses the hook and names it, as some servers do.
      if (r.target.rfind("/services/", 0) == 0)
        return TestResponse::text(401, "invalid_token: no hook at " + r.target + " (POST " + r.path + ")");
      // Echo everything the server received, like a debugging endpoint would.
      Json body = Json::object();
      body.set("path", r.target);
      Json headers = Json::object();
      for (const auto& [k, v] : r.headers) headers.set(k, v);
      body.set("headers", headers);
      body.set("body", r.body);
      return TestResponse::text(r.target.rfind("/fail", 0) == 0 ? 500 : 200, body.dump(), "application/json");
    });
    config.outbound = Json::object();
    Json allow = Json::array();
    allow.push_back("127.0.0.1:" + std::to_string(echo_->port()));
    config.outbound.set("allow", allow);
  }
  void SetUp() override {
    // The server's stderr goes to a file for the whole test (searched at the end).
    log_path_ = std::filesystem::temp_directory_path() / ("weft-canary-" + random_hex(6) + ".log");
    saved_stderr_ = ::dup(2);
    FILE* f = std::fopen(log_path_.c_str(), "w");
    ASSERT_NE(f, nullptr);
    ::dup2(::fileno(f), 2);
    std::fclose(f);
    ApiTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto& reg = server().host().registry();
    registry::NodeType t;
    t.type_name = "test.leaky";
    t.schema = *Json::parse(R"({"display_name": "Leaky", "description": "leaks its credential",
      "fields": [{"name": "fail", "type": "boolean", "default": false}],
      "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "main", "type": "any"}],
      "credential_types": ["http_bearer"]})");
    t.execute = &leaky;
    ASSERT_TRUE(reg.add_builtin_node_type(std::move(t)).ok());
  }
  void TearDown() override {
    ApiTest::TearDown();
    echo_.reset();
    std::fflush(stderr);
    if (saved_stderr_ >= 0) {
      ::dup2(saved_stderr_, 2);
      ::close(saved_stderr_);
    }
    std::error_code ec;
    std::filesystem::remove(log_path_, ec);
  }

  // Records every response body the test saw.
  Response keep(Response r) {
    seen_ += r.body;
    seen_ += '\n';
    return r;
  }

  static Json node(const std::string& id, const std::string& type, const Json& params, const Json& creds = Json()) {
    Json n = Json::object();
    n.set("id", id);
    n.set("type", type);
    Json pos = Json::object();
    pos.set("x", 0);
    pos.set("y", 0);
    n.set("position", pos);
    Json data = Json::object();
    data.set("parameters", params);
    if (!creds.is_null()) data.set("credentials", creds);
    n.set("data", data);
    return n;
  }
  static Json chain(const std::string& name, const std::vector<Json>& nodes) {
    Json w = Json::object();
    w.set("name", name);
    Json ns = Json::array();
    Json es = Json::array();
    for (size_t i = 0; i < nodes.size(); ++i) {
      ns.push_back(nodes[i]);
      if (i > 0) {
        Json e = Json::object();
        e.set("id", "e" + std::to_string(i));
        e.set("source", nodes[i - 1]["id"]);
        e.set("target", nodes[i]["id"]);
        es.push_back(e);
      }
    }
    w.set("nodes", ns);
    w.set("edges", es);
    return w;
  }

  // Runs a workflow to its end (async, so the SSE stream can be read from the start) and
  // records every API answer about it.
  void run_and_collect(const std::string& token, const std::string& wf, const std::string& expect_status) {
    Response started = keep(execute(token, wf, "?mode=async"));
    ASSERT_EQ(started.status, 202) << started.describe();
    const std::string id = started.json()["execution"]["id"].as_string();
    Json done = wait_status(token, id, {"succeeded", "failed"});
    EXPECT_EQ(done["status"].as_string(), expect_status) << done.dump();
    keep(client().get("/api/executions/" + id, token));
    keep(client().get("/api/executions/" + id + "/logs", token));
    keep(client().get("/api/executions?workflow_id=" + wf, token));
    // The SSE stream replays the persisted events (ends at workflow_done).
    auto sse = SseStream::open(port(), "/api/executions/" + id + "/events", token);
    ASSERT_EQ(sse->status(), 200) << sse->head().describe();
    bool finished = false;
    for (int i = 0; i < 200 && !finished; ++i) {
      auto ev = sse->next(5000);
      if (!ev) break;
      seen_ += ev->data + "\n";
      finished = ev->event == "workflow_done";
    }
    EXPECT_TRUE(finished) << "the event stream of " << id << " did not reach workflow_done";
  }

  void expect_absent(const std::string& where, const std::string& haystack) {
    for (const std::string& form : {secret_, b64(secret_)}) {
      size_t at = haystack.find(form);
      EXPECT_EQ(at, std::string::npos) << "the canary appears in " << where << " near: "
                                       << haystack.substr(at > 80 ? at - 80 : 0, 200);
    }
  }

  std::unique_ptr<net::testing::TestHttpServer> echo_;
  std::filesystem::path log_path_;
  int saved_stderr_ = -1;
  std::string secret_ = "canary" + random_hex(16);
  std::string seen_;
};

TEST_P(CanaryTest, TheSecretAppearsNowhere) {
  TestUser u = make_user();
  Json fields = Json::object();
  fields.set("token", secret_);
  Json body = Json::object();
  body.set("name", "Canary");
  body.set("type", "http_bearer");
  body.set("fields", fields);
  Response created = keep(client().post("/api/credentials", body, u.token));
  ASSERT_EQ(created.status, 201) << created.describe();
  const std::string cred = created.json()["id"].as_string();
  Json creds = Json::object();
  creds.set("api", cred);
  Json auth = Json::object();
  auth.set("auth", cred);

  // 1. A node that leaks it everywhere, and a downstream node that copies its output.
  Json set_params = *Json::parse(R"({"fields": {"copied": "{{ $node.leak.output.echo }}"}})");
  std::string wf1 = create_workflow(u.token, chain("leaks", {node("start", "core.manual_trigger", Json::object()),
                                                            node("leak", "test.leaky", Json::object(), creds),
                                                            node("copy", "core.set", set_params)}));
  run_and_collect(u.token, wf1, "succeeded");
  // Synchronously too: the answer carries the output.
  keep(execute(u.token, wf1, "?mode=sync"));

  // 2. The same node failing with the secret in its error.
  Json fail = Json::object();
  fail.set("fail", true);
  std::string wf2 = create_workflow(u.token, chain("fails", {node("start", "core.manual_trigger", Json::object()),
                                                             node("leak", "test.leaky", fail, creds)}));
  run_and_collect(u.token, wf2, "failed");

  // 3. HTTP Request: the host applies the bearer token; the echo server sends it back in the
  // response (redacted before the node sees it), then the same against an endpoint that fails.
  const std::string base = "http://127.0.0.1:" + std::to_string(echo_->port());
  Json ok_params = Json::object();
  ok_params.set("url", base + "/echo");
  ok_params.set("authentication", "credential");
  std::string wf3 = create_workflow(u.token, chain("http", {node("start", "core.manual_trigger", Json::object()),
                                                            node("req", "http.request", ok_params, auth)}));
  run_and_collect(u.token, wf3, "succeeded");
  ASSERT_GE(echo_->requests().size(), 1u);
  EXPECT_EQ(echo_->requests().back().header("authorization"), "Bearer " + secret_)
      << "the host did not apply the credential to the request";
  Json fail_params = Json::object();
  fail_params.set("url", base + "/fail");
  fail_params.set("authentication", "credential");
  std::string wf4 = create_workflow(u.token, chain("http-fail", {node("start", "core.manual_trigger", Json::object()),
                                                                 node("req", "http.request", fail_params, auth)}));
  run_and_collect(u.token, wf4, "failed");

  // Every other read a user can make.
  keep(client().get("/api/credentials", u.token));
  keep(client().get("/api/credentials/" + cred, u.token));
  keep(client().get("/api/workflows/" + wf1, u.token));
  keep(client().get("/api/executions", u.token));

  // The audit trail records the accesses, without the value.
  auto audit = server().host().store()->list_audit(store::AuditFilter{});
  ASSERT_TRUE(audit.ok()) << audit.error().message;
  std::string audit_text;
  int accesses = 0;
  for (const auto& a : *audit) {
    audit_text += a.entry + "\n";
    if (a.action_type == "credential.access") ++accesses;
  }
  EXPECT_GE(accesses, 3) << audit_text;
  expect_absent("the audit trail", audit_text);

  expect_absent("the API responses and SSE streams", seen_);

  // The database, as stored on disk.
  std::string db_text;
  if (GetParam() == "sqlite") {
    for (const auto& f : std::filesystem::directory_iterator(dir() + "/data")) db_text += read_file(f.path());
  } else {
    std::string url = server().host().config().database;
    std::string out = dir() + "/dump.sql";
    std::string cmd = "pg_dump '" + url + "' > '" + out + "' 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "pg_dump failed";
    db_text = read_file(out);
    ASSERT_NE(db_text.find("credentials"), std::string::npos) << "the dump holds no credentials table";
  }
  ASSERT_GT(db_text.size(), 1000u);
  expect_absent("the database", db_text);

  std::fflush(stderr);
  expect_absent("the server log", read_file(log_path_));
}

// A URL that is the secret (a Slack incoming webhook): its token sits in the path, which the
// server echoes (as curl sent it: lower-case scheme, dot segments removed) in a 401 answer the
// Slack node quotes in its error. The token must not appear anywhere either.
TEST_P(CanaryTest, ASecretWebhookUrlPathAppearsNowhere) {
  TestUser u = make_user();
  const std::string token = "hookcanary" + random_hex(12);
  // Written the way a user might paste it; curl normalises it before sending. The last segment is
  // short, so only the path parts (as normalised) can find the token in the echo.
  const std::string url = "HTTP://127.0.0.1:" + std::to_string(echo_->port()) + "/services/T0ACME42/./" + token +
                          "/../" + token + "/Xy12";
  Json fields = Json::object();
  fields.set("url", url);
  Json body = Json::object();
  body.set("name", "Team hook");
  body.set("type", "slack_webhook");
  body.set("fields", fields);
  Response created = keep(client().post("/api/credentials", body, u.token));
  ASSERT_EQ(created.status, 201) << created.describe();
  const std::string cred = created.json()["id"].as_string();
  Json auth = Json::object();
  auth.set("auth", cred);
  Json params = Json::object();
  params.set("mode", "webhook");
  params.set("text", "deploy finished");
  std::string wf = create_workflow(u.token, chain("hook", {node("start", "core.manual_trigger", Json::object()),
                                                          node("post", "slack.message", params, auth)}));
  run_and_collect(u.token, wf, "failed");
  keep(execute(u.token, wf, "?mode=sync"));

  // The request went out with the token in its (normalised) path, and was refused with it.
  ASSERT_GE(echo_->requests().size(), 1u);
  EXPECT_EQ(echo_->requests().back().target, "/services/T0ACME42/" + token + "/Xy12");
  // The failure is still explained, without the token.
  bool saw_error = false;
  store::ExecutionFilter mine;
  mine.owner_id = u.id;
  auto runs = server().host().store()->list_executions(mine);
  ASSERT_TRUE(runs.ok()) << runs.error().message;
  for (const auto& e : *runs) {
    const std::string text = e.error.dump();
    if (text.find("401") != std::string::npos) saw_error = true;
  }
  EXPECT_TRUE(saw_error) << "no execution failed with the server's 401";

  keep(client().get("/api/credentials", u.token));
  keep(client().get("/api/credentials/" + cred, u.token));
  keep(client().get("/api/executions", u.token));
  auto expect_no_token = [&](const std::string& where, const std::string& haystack) {
    for (const std::string& form : {token, b64(token)}) {
      size_t at = haystack.find(form);
      EXPECT_EQ(at, std::string::npos) << "the webhook token appears in " << where << " near: "
                                       << haystack.substr(at > 80 ? at - 80 : 0, 200);
    }
  };
  expect_no_token("the API responses and SSE streams", seen_);
  auto audit = server().host().store()->list_audit(store::AuditFilter{});
  ASSERT_TRUE(audit.ok()) << audit.error().message;
  std::string audit_text;
  for (const auto& a : *audit) audit_text += a.entry + "\n";
  expect_no_token("the audit trail", audit_text);
  std::string db_text;
  if (GetParam() == "sqlite") {
    for (const auto& f : std::filesystem::directory_iterator(dir() + "/data")) db_text += read_file(f.path());
  } else {
    std::string out = dir() + "/dump.sql";
    std::string cmd = "pg_dump '" + server().host().config().database + "' > '" + out + "' 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "pg_dump failed";
    db_text = read_file(out);
  }
  ASSERT_GT(db_text.size(), 1000u);
  expect_no_token("the database", db_text);
  std::fflush(stderr);
  expect_no_token("the server log", read_file(log_path_));
}

WEFT_API_BACKENDS(CanaryTest);

}  // namespace
}  // namespace weft::apitest
