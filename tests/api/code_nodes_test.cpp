// Code nodes over the REST API, end to end through the real sandbox: JavaScript and Python nodes
// transform items, log, fail with the user's line numbers, time out, reach only the credentials
// their node references (redacted in everything stored), and the editor's validate endpoint parses
// without running anything.
#include <gtest/gtest.h>

#include <unistd.h>

#include "tests/api/fixture.hpp"

namespace weft::apitest {
namespace {

class CodeNodesTest : public ApiTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the sandbox's per-slot uids need root";
    ApiTest::SetUp();
  }

  // manual trigger (input {"n": 3}) → one code node.
  static Json code_workflow(const std::string& type, const std::string& code, const Json& extra_params = Json(),
                            const Json& credentials = Json()) {
    Json w = *Json::parse(R"({"name": "code", "nodes": [
      {"id": "start", "type": "core.manual_trigger", "position": {"x": 0, "y": 0},
       "data": {"parameters": {"default_input": {"n": 3}}}}],
      "edges": [{"id": "e1", "source": "start", "target": "code"}]})");
    Json params = extra_params.is_object() ? extra_params : Json::object();
    params.set("code", code);
    Json data = Json::object();
    data.set("parameters", params);
    if (!credentials.is_null()) data.set("credentials", credentials);
    Json node = Json::object();
    node.set("id", "code");
    node.set("type", type);
    node.set("position", *Json::parse(R"({"x": 200, "y": 0})"));
    node.set("data", data);
    Json nodes = w["nodes"];
    nodes.push_back(node);
    w.set("nodes", nodes);
    return w;
  }

  // Runs synchronously; returns the execution JSON.
  Json run(const TestUser& u, const Json& wf) {
    const std::string id = create_workflow(u.token, wf);
    Response r = execute(u.token, id, "?mode=sync");
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.json()["execution"];
  }

  std::string logs_text(const TestUser& u, const std::string& execution_id) {
    Response r = client().get("/api/executions/" + execution_id + "/logs", u.token);
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.body;
  }
};

TEST_P(CodeNodesTest, JavaScriptAndPythonTransformItemsAndLog) {
  if (!has_node_type("code.javascript")) GTEST_SKIP() << "the code plugin is not built";
  TestUser u = make_user();
  Json js = run(u, code_workflow("code.javascript",
                                 "console.log('doubling', items.length, 'item');\n"
                                 "return items.map(i => ({n: i.n * 2, factor: params.factor}));",
                                 *Json::parse(R"({"parameters": {"factor": 2}})")));
  ASSERT_EQ(js["status"].as_string(), "succeeded") << js.dump();
  EXPECT_EQ(js["output"].dump(), R"([{"n":6,"factor":2}])");
  EXPECT_NE(logs_text(u, js["id"].as_string()).find("doubling 1 item"), std::string::npos);

  Json py = run(u, code_workflow("code.python",
                                 "print('adding one')\n"
                                 "return [{'n': i['n'] + 1, 'kind': type(i).__name__} for i in items]"));
  ASSERT_EQ(py["status"].as_string(), "succeeded") << py.dump();
  EXPECT_EQ(py["output"].dump(), R"([{"n":4,"kind":"dict"}])");
  EXPECT_NE(logs_text(u, py["id"].as_string()).find("adding one"), std::string::npos);

  // The pool's counters are on /metrics: two jobs, each either a warm hit or a cold start.
  Response m = client().get("/metrics", "");
  ASSERT_EQ(m.status, 200);
  auto counter = [&](const std::string& kind) {
    const std::string key = "weft_sandbox_jobs{kind=\"" + kind + "\"} ";
    size_t at = m.body.find(key);
    return at == std::string::npos ? -1.0 : std::stod(m.body.substr(at + key.size()));
  };
  EXPECT_EQ(counter("warm_hit") + counter("cold_start"), 2.0) << m.body;
  EXPECT_EQ(counter("killed"), 0.0) << m.body;
}

TEST_P(CodeNodesTest, SyntaxErrorsAreCompileErrorsWithLineAndColumn) {
  if (!has_node_type("code.javascript")) GTEST_SKIP() << "the code plugin is not built";
  TestUser u = make_user();
  Response js = client().post("/api/workflows/compile",
                              code_workflow("code.javascript", "const a = 1;\nconst b = (2;\nreturn a;"), u.token);
  ASSERT_EQ(js.status, 422) << js.describe();
  const Json e = js.json()["errors"].at(0);
  EXPECT_EQ(e["code"].as_string(), "code_syntax") << js.body;
  EXPECT_EQ(e["node_id"].as_string(), "code");
  EXPECT_EQ(e["field"].as_string(), "parameters.code");
  EXPECT_EQ(e["details"]["line"].as_int(), 2) << js.body;
  EXPECT_EQ(e["details"]["language"].as_string(), "javascript");

  Response py = client().post("/api/workflows/compile",
                              code_workflow("code.python", "x = 1\nif x:\nreturn x\n"), u.token);
  ASSERT_EQ(py.status, 422) << py.describe();
  EXPECT_EQ(py.json()["errors"].at(0)["code"].as_string(), "code_syntax") << py.body;
  EXPECT_EQ(py.json()["errors"].at(0)["details"]["line"].as_int(), 3) << py.body;
  // Valid code compiles (top-level return and await are fine in a code node).
  Response ok = client().post("/api/workflows/compile",
                              code_workflow("code.javascript", "await null;\nreturn items;"), u.token);
  EXPECT_EQ(ok.status, 200) << ok.describe();
}

TEST_P(CodeNodesTest, RuntimeErrorsCarryTheUsersLineAndTimeoutsKill) {
  if (!has_node_type("code.javascript")) GTEST_SKIP() << "the code plugin is not built";
  TestUser u = make_user();
  Json js = run(u, code_workflow("code.javascript", "const x = 1;\n\nthrow new Error('boom ' + x);"));
  ASSERT_EQ(js["status"].as_string(), "failed") << js.dump();
  // The execution's error names the node; the node's own error is inside.
  EXPECT_EQ(js["error"]["code"].as_string(), "node_failed") << js.dump();
  const Json jse = js["error"]["details"]["error"];
  EXPECT_EQ(jse["code"].as_string(), "code_error") << js.dump();
  EXPECT_NE(jse["message"].as_string().find("boom 1"), std::string::npos) << js.dump();
  EXPECT_EQ(jse["details"]["line"].as_int(), 3) << js.dump();
  EXPECT_EQ(jse["details"]["column"].as_int(), 7) << js.dump();

  Json py = run(u, code_workflow("code.python", "a = 1\nb = 0\nreturn a / b"));
  ASSERT_EQ(py["status"].as_string(), "failed") << py.dump();
  const Json pye = py["error"]["details"]["error"];
  EXPECT_EQ(pye["code"].as_string(), "code_error") << py.dump();
  EXPECT_NE(pye["message"].as_string().find("ZeroDivisionError"), std::string::npos) << py.dump();
  EXPECT_EQ(pye["details"]["line"].as_int(), 3) << py.dump();

  Json loop = run(u, code_workflow("code.javascript", "while (true) {}", *Json::parse(R"({"timeout_ms": 300})")));
  ASSERT_EQ(loop["status"].as_string(), "failed") << loop.dump();
  EXPECT_EQ(loop["error"]["details"]["error"]["code"].as_string(), "timeout") << loop.dump();
  // The server keeps serving.
  Json again = run(u, code_workflow("code.python", "return {'ok': True}"));
  EXPECT_EQ(again["output"].dump(), R"({"ok":true})") << again.dump();
}

TEST_P(CodeNodesTest, CodeReachesOnlyItsNodesCredentialsAndSecretsAreRedacted) {
  if (!has_node_type("code.javascript")) GTEST_SKIP() << "the code plugin is not built";
  TestUser u = make_user();
  const std::string canary = "cn-canary-7f3a9d1e5b2c4f60";
  auto make_cred = [&](const std::string& name, const std::string& token) {
    Json body = *Json::parse(R"({"type": "http_bearer", "fields": {}})");
    body.set("name", name);
    Json fields = Json::object();
    fields.set("token", token);
    body.set("fields", fields);
    Response r = client().post("/api/credentials", body, u.token);
    EXPECT_EQ(r.status, 201) << r.describe();
    return r.json()["id"].as_string();
  };
  const std::string mine = make_cred("mine", canary);
  const std::string other = make_cred("other", "cn-other-secret-0d9e8f7a6b");
  Json creds = Json::object();
  creds.set("auth", mine);
  Json ok = run(u, code_workflow("code.javascript",
                                 "const c = await weft.credential('auth');\n"
                                 "console.log('token is ' + c.fields.token);\n"
                                 "return {length: c.fields.token.length, echoed: c.fields.token};",
                                 Json(), creds));
  ASSERT_EQ(ok["status"].as_string(), "succeeded") << ok.dump();
  EXPECT_EQ(ok["output"]["length"].as_int(), static_cast<int64_t>(canary.size()));
  const std::string logs = logs_text(u, ok["id"].as_string());
  EXPECT_EQ(logs.find(canary), std::string::npos) << logs;
  EXPECT_NE(logs.find("[REDACTED]"), std::string::npos) << logs;
  EXPECT_EQ(ok.dump().find(canary), std::string::npos) << ok.dump();

  // A credential the node does not reference is out of reach, by name and by id.
  Json denied = run(u, code_workflow("code.python",
                                     "return weft.credential('" + other + "')", Json(), creds));
  ASSERT_EQ(denied["status"].as_string(), "failed") << denied.dump();
  EXPECT_EQ(denied.dump().find("cn-other-secret"), std::string::npos) << denied.dump();
}

TEST_P(CodeNodesTest, ValidateEndpointParsesWithoutRunning) {
  TestUser u = make_user();
  Json body = *Json::parse(R"({"language": "javascript", "code": "return 1"})");
  EXPECT_TRUE(IsError(client().post("/api/code/validate", body, ""), 401, "unauthorized"));
  Response ok = client().post("/api/code/validate", body, u.token);
  ASSERT_EQ(ok.status, 200) << ok.describe();
  EXPECT_TRUE(ok.json()["ok"].as_bool());
  EXPECT_EQ(ok.json()["diagnostics"].size(), 0u);

  // Code that would write a file if it ran: validation only parses it.
  const std::string marker = dir() + "/validate-ran";
  Json py = Json::object();
  py.set("language", "python");
  py.set("code", "open('" + marker + "', 'w').write('x')\ndef f(:\n  pass\n");
  Response bad = client().post("/api/code/validate", py, u.token);
  ASSERT_EQ(bad.status, 200) << bad.describe();
  EXPECT_FALSE(bad.json()["ok"].as_bool(true));
  EXPECT_EQ(bad.json()["diagnostics"].at(0)["line"].as_int(), 2) << bad.body;
  EXPECT_GT(bad.json()["diagnostics"].at(0)["column"].as_int(), 0) << bad.body;
  EXPECT_NE(::access(marker.c_str(), F_OK), 0);

  // A top-level return is valid in a function body, not in a module.
  Json mod = *Json::parse(R"({"language": "python", "code": "return 1\n", "mode": "module"})");
  Response m = client().post("/api/code/validate", mod, u.token);
  ASSERT_EQ(m.status, 200);
  EXPECT_FALSE(m.json()["ok"].as_bool(true)) << m.body;

  EXPECT_TRUE(IsError(client().post("/api/code/validate", *Json::parse(R"({"language": "ruby", "code": ""})"), u.token),
                      400, "invalid_argument"));
  EXPECT_TRUE(IsError(client().post("/api/code/validate", *Json::parse(R"({"language": "python"})"), u.token), 400,
                      "invalid_argument"));
  EXPECT_TRUE(IsError(client().post("/api/code/validate",
                                    *Json::parse(R"({"language": "python", "code": "", "mode": "x"})"), u.token),
                      400, "invalid_argument"));
  EXPECT_TRUE(IsError(client().post("/api/code/validate",
                                    *Json::parse(R"({"language": "python", "code": "", "run": true})"), u.token),
                      400, "invalid_argument"));
}

INSTANTIATE_TEST_SUITE_P(Backends, CodeNodesTest, ::testing::Values("sqlite"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace weft::apitest
