// Custom nodes over the REST API, end to end through the real sandbox: JavaScript and Python files
// are checked (Tree-sitter), loaded in the sandbox to read their declarations, validated, versioned
// (store schema v7, both backends), shown in their owner's palette only, compiled and run for their
// owner only — reading their parameters and input, logging, returning items, and reaching only the
// credentials their node references — and deleted.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "host/core/ids.hpp"
#include "tests/api/fixture.hpp"
#include "tests/net/test_server.hpp"

namespace weft::apitest {
namespace {

// A JavaScript node that greets every item; `v` tells the versions apart.
std::string greeter_js(int v, const std::string& name = "greeter") {
  return "// Greets every item.\n"
         "module.exports = {\n"
         "  name: '" + name + "',\n"
         "  displayName: 'Greeter',\n"
         "  description: 'Greets every item',\n"
         "  fields: [\n"
         "    {name: 'greeting', type: 'string', required: true, displayName: 'Greeting'},\n"
         "    {name: 'style', type: 'select', options: ['plain', 'loud'], default: 'plain'},\n"
         "    {name: 'times', type: 'integer', min: 1, max: 5},\n"
         "  ],\n"
         "  inputs: ['main'],\n"
         "  outputs: [{name: 'main', type: 'json'}],\n"
         "  async execute(items, params, weft) {\n"
         "    console.log('greeting ' + items.length + ' item(s) with ' + params.greeting);\n"
         "    return items.map(i => ({text: params.greeting + ' ' + i.name, v: " + std::to_string(v) + "}));\n"
         "  },\n"
         "};\n";
}

const char* kShouterPy =
    "NODE = {\n"
    "    'name': 'shouter',\n"
    "    'display_name': 'Shouter',\n"
    "    'description': 'Upper-cases names',\n"
    "    'fields': [{'name': 'suffix', 'type': 'string', 'default': '!'}],\n"
    "    'outputs': [{'name': 'main', 'type': 'json'}],\n"
    "}\n"
    "\n"
    "def execute(items, params, weft):\n"
    "    weft.log('shouting at', len(items), 'item(s)')\n"
    "    print('printed too')\n"
    "    return [{'text': i['name'].upper() + params.get('suffix', '?')} for i in items]\n";

Json body(const std::string& language, const std::string& source) {
  Json b = Json::object();
  b.set("language", language);
  b.set("source", source);
  return b;
}

class CustomNodesTest : public ApiTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the sandbox's per-slot uids need root";
    ApiTest::SetUp();
  }
  void configure(app::Config& config, api::ServeConfig&) override {
    // Cold sandboxes only: nothing is started that a test does not use.
    config.sandbox = *Json::parse(R"({"warm": {"javascript": 0, "python": 0}})");
  }

  std::string make_bearer(const TestUser& u, const std::string& name, const std::string& token) {
    Json b = *Json::parse(R"({"type": "http_bearer"})");
    b.set("name", name);
    Json fields = Json::object();
    fields.set("token", token);
    b.set("fields", fields);
    Response r = client().post("/api/credentials", b, u.token);
    EXPECT_EQ(r.status, 201) << r.describe();
    return r.json()["id"].as_string();
  }

  Response upload(const TestUser& u, const std::string& language, const std::string& source) {
    return client().post("/api/nodes/custom", body(language, source), u.token);
  }
  void upload_ok(const TestUser& u, const std::string& language, const std::string& source) {
    Response r = upload(u, language, source);
    ASSERT_EQ(r.status, 201) << r.describe();
  }

  // manual trigger (input {"name": "ada"}) → one node of `type` with these parameters.
  static Json workflow(const std::string& type, const Json& params, const Json& credentials = Json(),
                       int type_version = 0) {
    Json w = *Json::parse(R"({"name": "custom", "nodes": [
      {"id": "start", "type": "core.manual_trigger", "position": {"x": 0, "y": 0},
       "data": {"parameters": {"default_input": {"name": "ada"}}}}],
      "edges": [{"id": "e1", "source": "start", "target": "node"}]})");
    Json data = Json::object();
    data.set("parameters", params);
    if (!credentials.is_null()) data.set("credentials", credentials);
    if (type_version > 0) data.set("type_version", type_version);
    Json node = Json::object();
    node.set("id", "node");
    node.set("type", type);
    node.set("position", *Json::parse(R"({"x": 200, "y": 0})"));
    node.set("data", data);
    Json nodes = w["nodes"];
    nodes.push_back(node);
    w.set("nodes", nodes);
    return w;
  }

  Json run_workflow(const TestUser& u, const std::string& workflow_id) {
    Response r = execute(u.token, workflow_id, "?mode=sync");
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.json()["execution"];
  }
  Json run(const TestUser& u, const Json& wf) { return run_workflow(u, create_workflow(u.token, wf)); }

  std::string logs_text(const TestUser& u, const std::string& execution_id) {
    Response r = client().get("/api/executions/" + execution_id + "/logs", u.token);
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.body;
  }

  // The palette entry of `type` for this user (null when absent).
  Json palette_entry(const TestUser& u, const std::string& type) {
    Response r = client().get("/api/nodes", u.token);
    EXPECT_EQ(r.status, 200) << r.describe();
    for (const Json& n : r.json()["nodes"].as_array())
      if (n["type"].as_string() == type) return n;
    return Json();
  }

  // The codes of a compile's errors.
  std::vector<std::string> compile_codes(const TestUser& u, const Json& wf) {
    Response r = client().post("/api/workflows/compile", wf, u.token);
    std::vector<std::string> codes;
    for (const Json& e : r.json()["errors"].as_array()) codes.push_back(e["code"].as_string());
    return codes;
  }
  static bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }
};

TEST_P(CustomNodesTest, UploadsAJavaScriptNodeThatAppearsInTheOwnersPalette) {
  TestUser a = make_user();
  Response r = upload(a, "javascript", greeter_js(1));
  ASSERT_EQ(r.status, 201) << r.describe();
  const Json n = r.json();
  EXPECT_EQ(n["name"].as_string(), "greeter");
  EXPECT_EQ(n["type"].as_string(), "custom.greeter");
  EXPECT_EQ(n["version"].as_int(), 1);
  EXPECT_EQ(n["language"].as_string(), "javascript");
  EXPECT_FALSE(n["id"].as_string().empty());
  EXPECT_GT(n["created_at"].as_int(), 0);
  const Json& d = n["declaration"];
  EXPECT_EQ(d["display_name"].as_string(), "Greeter");
  EXPECT_EQ(d["category"].as_string(), "custom");
  ASSERT_EQ(d["fields"].size(), 3u) << n.dump();
  EXPECT_EQ(d["fields"].at(0)["name"].as_string(), "greeting");
  EXPECT_TRUE(d["fields"].at(0)["required"].as_bool());
  EXPECT_EQ(d["fields"].at(0)["display_name"].as_string(), "Greeting");
  EXPECT_EQ(d["fields"].at(1)["options"].dump(), R"(["plain","loud"])");
  EXPECT_EQ(d["fields"].at(2)["max"].as_int(), 5);
  EXPECT_EQ(d["inputs"].dump(), R"([{"name":"main","type":"any"}])");
  EXPECT_EQ(d["outputs"].dump(), R"([{"name":"main","type":"json"}])");

  Json entry = palette_entry(a, "custom.greeter");
  ASSERT_TRUE(entry.is_object()) << "not in the owner's palette";
  EXPECT_EQ(entry["plugin"].as_string(), "custom");
  EXPECT_EQ(entry["version"].as_int(), 1);
  EXPECT_EQ(entry["flags"].dump(), "[]");
  EXPECT_EQ(entry["fields"].size(), 3u);
  EXPECT_EQ(entry["display_name"].as_string(), "Greeter");
  // The built-in types are still there.
  EXPECT_TRUE(palette_entry(a, "core.set").is_object());

  Response list = client().get("/api/nodes/custom", a.token);
  ASSERT_EQ(list.status, 200) << list.describe();
  ASSERT_EQ(list.json()["nodes"].size(), 1u);
  EXPECT_EQ(list.json()["nodes"].at(0)["type"].as_string(), "custom.greeter");
  EXPECT_FALSE(list.json()["nodes"].at(0).contains("source"));

  Response got = client().get("/api/nodes/custom/greeter", a.token);
  ASSERT_EQ(got.status, 200) << got.describe();
  EXPECT_EQ(got.json()["source"].as_string(), greeter_js(1));
  EXPECT_EQ(got.json()["versions"].size(), 1u);

  // The same name again is a conflict: updates go through PUT.
  EXPECT_TRUE(IsError(upload(a, "javascript", greeter_js(9)), 409, "conflict"));
}

TEST_P(CustomNodesTest, OtherUsersNeverSeeItAndCannotUseIt) {
  TestUser a = make_user();
  TestUser b = make_user();
  upload_ok(a, "javascript", greeter_js(1));
  EXPECT_TRUE(palette_entry(a, "custom.greeter").is_object());
  EXPECT_TRUE(palette_entry(b, "custom.greeter").is_null());
  Response list = client().get("/api/nodes/custom", b.token);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json()["nodes"].size(), 0u);
  EXPECT_TRUE(IsError(client().get("/api/nodes/custom/greeter", b.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().get("/api/nodes/custom/greeter?version=1", b.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().put("/api/nodes/custom/greeter", body("javascript", greeter_js(2)), b.token), 404,
                      "not_found"));
  EXPECT_TRUE(IsError(client().del("/api/nodes/custom/greeter", b.token), 404, "not_found"));

  // B's workflow using A's type does not compile; A's does.
  const Json wf = workflow("custom.greeter", *Json::parse(R"({"greeting": "hi"})"));
  EXPECT_TRUE(has(compile_codes(b, wf), "unknown_node_type"));
  Response ok = client().post("/api/workflows/compile", wf, a.token);
  EXPECT_EQ(ok.status, 200) << ok.describe();

  // A's node is untouched by B's attempts, and B may have a node of the same name.
  Response got = client().get("/api/nodes/custom/greeter", a.token);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.json()["version"].as_int(), 1);
  Response mine = upload(b, "javascript", greeter_js(7));
  ASSERT_EQ(mine.status, 201) << mine.describe();
  EXPECT_EQ(mine.json()["version"].as_int(), 1);
  Json out = run(b, wf);
  ASSERT_EQ(out["status"].as_string(), "succeeded") << out.dump();
  EXPECT_EQ(out["output"].at(0)["v"].as_int(), 7) << out.dump();
}

TEST_P(CustomNodesTest, AWorkflowRunsAJavaScriptNodeEndToEnd) {
  TestUser a = make_user();
  upload_ok(a, "javascript", greeter_js(1));
  Json e = run(a, workflow("custom.greeter", *Json::parse(R"({"greeting": "hello"})")));
  ASSERT_EQ(e["status"].as_string(), "succeeded") << e.dump();
  EXPECT_EQ(e["output"].dump(), R"([{"text":"hello ada","v":1}])");
  EXPECT_NE(logs_text(a, e["id"].as_string()).find("greeting 1 item(s) with hello"), std::string::npos);
  // Parameters are checked against the declared fields at compile time.
  EXPECT_TRUE(has(compile_codes(a, workflow("custom.greeter", Json::object())), "missing_required_field"));
  EXPECT_TRUE(has(compile_codes(a, workflow("custom.greeter", *Json::parse(R"({"greeting": "x", "style": "odd"})"))),
                  "invalid_option"));
  EXPECT_TRUE(has(compile_codes(a, workflow("custom.greeter", *Json::parse(R"({"greeting": "x", "times": 9})"))),
                  "out_of_range"));
}

TEST_P(CustomNodesTest, AWorkflowRunsAPythonNodeEndToEnd) {
  TestUser a = make_user();
  Response r = upload(a, "python", kShouterPy);
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(r.json()["type"].as_string(), "custom.shouter");
  EXPECT_EQ(r.json()["language"].as_string(), "python");
  EXPECT_EQ(r.json()["declaration"]["fields"].at(0)["default"].as_string(), "!");
  EXPECT_TRUE(palette_entry(a, "custom.shouter").is_object());

  Json e = run(a, workflow("custom.shouter", *Json::parse(R"({"suffix": "?!"})")));
  ASSERT_EQ(e["status"].as_string(), "succeeded") << e.dump();
  EXPECT_EQ(e["output"].dump(), R"([{"text":"ADA?!"}])");
  const std::string logs = logs_text(a, e["id"].as_string());
  EXPECT_NE(logs.find("shouting at 1 item(s)"), std::string::npos) << logs;
  EXPECT_NE(logs.find("printed too"), std::string::npos) << logs;
}

TEST_P(CustomNodesTest, ErrorsAtRunTimeCarryTheFilesLine) {
  TestUser a = make_user();
  upload_ok(a, "javascript",
            "module.exports = {\n"
            "  name: 'thrower',\n"
            "  execute(items, params) {\n"
            "    throw new Error('no ' + params.what);\n"
            "  },\n"
            "};\n");
  Json e = run(a, workflow("custom.thrower", *Json::parse(R"({"what": "luck"})")));
  ASSERT_EQ(e["status"].as_string(), "failed") << e.dump();
  const Json err = e["error"]["details"]["error"];
  EXPECT_EQ(err["code"].as_string(), "code_error") << e.dump();
  EXPECT_NE(err["message"].as_string().find("no luck"), std::string::npos) << e.dump();
  EXPECT_EQ(err["details"]["line"].as_int(), 4) << e.dump();
}

TEST_P(CustomNodesTest, SyntaxErrorsAreRefusedWithLineAndColumn) {
  TestUser a = make_user();
  Response js = upload(a, "javascript",
                       "module.exports = {\n"
                       "  name: 'broken',\n"
                       "  execute(items) { return (items; },\n"
                       "};\n");
  ASSERT_TRUE(IsError(js, 400, "invalid_custom_node")) << js.describe();
  const Json jd = js.json()["error"]["details"]["diagnostics"];
  ASSERT_GT(jd.size(), 0u) << js.body;
  EXPECT_EQ(jd.at(0)["line"].as_int(), 3) << js.body;
  EXPECT_GT(jd.at(0)["column"].as_int(), 0) << js.body;

  Response py = upload(a, "python",
                       "NODE = {'name': 'broken'}\n"
                       "def execute(items, params, weft)\n"
                       "    return items\n");
  ASSERT_TRUE(IsError(py, 400, "invalid_custom_node")) << py.describe();
  const Json pd = py.json()["error"]["details"]["diagnostics"];
  ASSERT_GT(pd.size(), 0u) << py.body;
  EXPECT_EQ(pd.at(0)["line"].as_int(), 2) << py.body;
  EXPECT_GT(pd.at(0)["column"].as_int(), 0) << py.body;

  // Nothing was stored.
  Response list = client().get("/api/nodes/custom", a.token);
  EXPECT_EQ(list.json()["nodes"].size(), 0u) << list.body;
}

TEST_P(CustomNodesTest, DeclarationErrorsAreRefusedNamingTheMember) {
  TestUser a = make_user();
  auto js_with = [](const std::string& members) {
    return "module.exports = {\n" + members + "\n  execute(items) { return items; },\n};\n";
  };
  auto refused = [&](const std::string& language, const std::string& source, const std::string& member) {
    Response r = upload(a, language, source);
    EXPECT_TRUE(IsError(r, 400, "invalid_custom_node")) << r.describe();
    if (!member.empty()) {
      EXPECT_EQ(r.json()["error"]["details"]["member"].as_string(), member) << r.body;
    }
    return r;
  };
  refused("javascript", js_with("  name: 'Bad-Name',"), "name");
  refused("javascript", js_with("  displayName: 'no name',"), "name");
  refused("javascript", js_with("  name: 'colours', fields: [{name: 'c', type: 'colour'}],"), "fields[0].type");
  refused("javascript", js_with("  name: 'sel', fields: [{name: 's', type: 'select'}],"), "fields[0].options");
  refused("javascript", js_with("  name: 'dup', fields: [{name: 'x', type: 'string'}, {name: 'x', type: 'json'}],"),
          "fields[1].name");
  refused("javascript", js_with("  name: 'typo', feilds: [],"), "\"feilds\"");
  refused("javascript", js_with("  name: 'hand', outputs: [{name: 'main', type: 'blob'}],"), "outputs[0].type");
  refused("javascript", js_with("  name: 'err', outputs: ['main', 'error'],"), "outputs[1].name");
  refused("javascript", js_with("  name: 'creds', credentialTypes: ['no_such_type'],"), "credentialTypes[0]");
  Response own = refused("javascript", js_with("  name: 'trello', credentialTypes: [{name: 'trello', fields: []}],"),
                         "credentialTypes[0]");
  EXPECT_NE(own.json()["error"]["message"].as_string().find("not"), std::string::npos);
  refused("python", "NODE = {'name': 'pyfield', 'fields': [{'name': 'n', 'type': 'number', 'default': 'x'}]}\n"
                    "def execute(items, params, weft):\n    return items\n",
          "fields[0].default");

  // The file must load and export execute; a failure while loading names the line.
  Response noexec = upload(a, "javascript", "module.exports = {name: 'noexec'};\n");
  EXPECT_TRUE(IsError(noexec, 400, "invalid_custom_node")) << noexec.describe();
  Response throws = upload(a, "javascript", "const x = 1;\nthrow new Error('at load ' + x);\n");
  ASSERT_TRUE(IsError(throws, 400, "invalid_custom_node")) << throws.describe();
  EXPECT_EQ(throws.json()["error"]["details"]["line"].as_int(), 2) << throws.body;
  Response nonode = upload(a, "python", "def execute(items, params, weft):\n    return items\n");
  EXPECT_TRUE(IsError(nonode, 400, "invalid_custom_node")) << nonode.describe();
  // Loading is sandboxed and bounded: a file that never finishes loading is refused.
  Response spins = upload(a, "javascript", "while (true) {}\n");
  EXPECT_TRUE(IsError(spins, 400, "invalid_custom_node")) << spins.describe();

  // The body itself.
  EXPECT_TRUE(IsError(upload(a, "ruby", "x"), 400, "invalid_custom_node"));
  EXPECT_TRUE(IsError(upload(a, "javascript", ""), 400, "invalid_custom_node"));
  Json extra = body("javascript", greeter_js(1));
  extra.set("owner_id", "someone");
  EXPECT_TRUE(IsError(client().post("/api/nodes/custom", extra, a.token), 400, "unknown_field"));
  std::string big = greeter_js(1) + "// " + std::string(256 * 1024, 'x') + "\n";
  EXPECT_TRUE(IsError(upload(a, "javascript", big), 400, "invalid_custom_node"));

  Response list = client().get("/api/nodes/custom", a.token);
  EXPECT_EQ(list.json()["nodes"].size(), 0u) << list.body;
}

TEST_P(CustomNodesTest, AnUpdateIsANewVersionThatRunsUse) {
  TestUser a = make_user();
  upload_ok(a, "javascript", greeter_js(1));
  const std::string wid = create_workflow(a.token, workflow("custom.greeter", *Json::parse(R"({"greeting": "hi"})")));
  Json first = run_workflow(a, wid);
  ASSERT_EQ(first["status"].as_string(), "succeeded") << first.dump();
  EXPECT_EQ(first["output"].at(0)["v"].as_int(), 1);

  Response put = client().put("/api/nodes/custom/greeter", body("javascript", greeter_js(2)), a.token);
  ASSERT_EQ(put.status, 200) << put.describe();
  EXPECT_EQ(put.json()["version"].as_int(), 2);
  EXPECT_EQ(put.json()["type"].as_string(), "custom.greeter");

  // The same saved workflow now runs version 2 (its cached plan was dropped).
  Json second = run_workflow(a, wid);
  ASSERT_EQ(second["status"].as_string(), "succeeded") << second.dump();
  EXPECT_EQ(second["output"].at(0)["v"].as_int(), 2) << second.dump();
  // A workflow may pin version 1.
  Json pinned = run(a, workflow("custom.greeter", *Json::parse(R"({"greeting": "hi"})"), Json(), 1));
  ASSERT_EQ(pinned["status"].as_string(), "succeeded") << pinned.dump();
  EXPECT_EQ(pinned["output"].at(0)["v"].as_int(), 1) << pinned.dump();
  EXPECT_FALSE(compile_codes(a, workflow("custom.greeter", *Json::parse(R"({"greeting": "x"})"), Json(), 3)).empty());

  Response got = client().get("/api/nodes/custom/greeter", a.token);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.json()["version"].as_int(), 2);
  ASSERT_EQ(got.json()["versions"].size(), 2u);
  EXPECT_EQ(got.json()["versions"].at(0)["version"].as_int(), 1);
  EXPECT_EQ(got.json()["versions"].at(1)["version"].as_int(), 2);
  Response v1 = client().get("/api/nodes/custom/greeter?version=1", a.token);
  ASSERT_EQ(v1.status, 200);
  EXPECT_EQ(v1.json()["source"].as_string(), greeter_js(1));
  EXPECT_EQ(v1.json()["created_at"].as_int(), got.json()["created_at"].as_int());
  EXPECT_TRUE(IsError(client().get("/api/nodes/custom/greeter?version=3", a.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().get("/api/nodes/custom/greeter?version=zero", a.token), 400, "invalid_argument"));
  EXPECT_EQ(palette_entry(a, "custom.greeter")["version"].as_int(), 2);
  Response list = client().get("/api/nodes/custom", a.token);
  ASSERT_EQ(list.json()["nodes"].size(), 1u);
  EXPECT_EQ(list.json()["nodes"].at(0)["version"].as_int(), 2);

  // The name cannot change, and only existing names can be updated.
  Response renamed = client().put("/api/nodes/custom/greeter", body("javascript", greeter_js(3, "other")), a.token);
  EXPECT_TRUE(IsError(renamed, 400, "invalid_custom_node")) << renamed.describe();
  EXPECT_TRUE(IsError(client().put("/api/nodes/custom/nobody", body("javascript", greeter_js(3, "nobody")), a.token),
                      404, "not_found"));
  // A broken update leaves the node as it was.
  EXPECT_TRUE(IsError(client().put("/api/nodes/custom/greeter", body("javascript", "module.exports = {"), a.token), 400,
                      "invalid_custom_node"));
  EXPECT_EQ(client().get("/api/nodes/custom/greeter", a.token).json()["version"].as_int(), 2);
}

TEST_P(CustomNodesTest, ANodeReachesOnlyTheCredentialsItsConfigurationReferences) {
  TestUser a = make_user();
  const std::string canary = "cu-canary-" + random_hex(12);
  const std::string mine = make_bearer(a, "mine", canary);
  const std::string other = make_bearer(a, "other", "cu-other-" + random_hex(12));
  upload_ok(a, "javascript",
            "module.exports = {\n"
            "  name: 'cred_reader',\n"
            "  credentialTypes: ['http_bearer'],\n"
            "  async execute(items, params, weft) {\n"
            "    const c = await weft.credential('api');\n"
            "    console.log('token is ' + c.fields.token);\n"
            "    const denied = [];\n"
            "    for (const ref of ['other', params.other_id]) {\n"
            "      try { await weft.credential(ref); denied.push('reached'); } catch (e) { denied.push(e.code); }\n"
            "    }\n"
            "    return {type: c.type, length: c.fields.token.length, denied};\n"
            "  },\n"
            "};\n");
  Json creds = Json::object();
  creds.set("api", mine);
  Json params = Json::object();
  params.set("other_id", other);
  Json e = run(a, workflow("custom.cred_reader", params, creds));
  ASSERT_EQ(e["status"].as_string(), "succeeded") << e.dump();
  EXPECT_EQ(e["output"]["type"].as_string(), "http_bearer") << e.dump();
  EXPECT_EQ(e["output"]["length"].as_int(), static_cast<int64_t>(canary.size())) << e.dump();
  EXPECT_EQ(e["output"]["denied"].dump(), R"(["credential_not_found","credential_not_found"])") << e.dump();
  const std::string logs = logs_text(a, e["id"].as_string());
  EXPECT_EQ(logs.find(canary), std::string::npos) << logs;
  EXPECT_NE(logs.find("token is [REDACTED]"), std::string::npos) << logs;

  // Without the reference the node reaches nothing.
  Json none = run(a, workflow("custom.cred_reader", params));
  ASSERT_EQ(none["status"].as_string(), "failed") << none.dump();
  EXPECT_NE(none["error"]["details"]["error"]["message"].as_string().find("credential"), std::string::npos)
      << none.dump();
  // A credential of a type the node does not accept is refused at compile time.
  Json b = *Json::parse(R"({"type": "http_basic", "name": "basic", "fields": {"username": "u", "password": "p"}})");
  Response basic = client().post("/api/credentials", b, a.token);
  ASSERT_EQ(basic.status, 201) << basic.describe();
  Json wrong = Json::object();
  wrong.set("api", basic.json()["id"]);
  EXPECT_TRUE(has(compile_codes(a, workflow("custom.cred_reader", params, wrong)), "credential_wrong_type"));
  EXPECT_EQ(none.dump().find(canary), std::string::npos);
}

TEST_P(CustomNodesTest, DeletedNodesNoLongerCompile) {
  TestUser a = make_user();
  upload_ok(a, "python", kShouterPy);
  const Json wf = workflow("custom.shouter", Json::object());
  const std::string wid = create_workflow(a.token, wf);
  Json ran = run_workflow(a, wid);
  ASSERT_EQ(ran["status"].as_string(), "succeeded") << ran.dump();

  Response del = client().del("/api/nodes/custom/shouter", a.token);
  EXPECT_EQ(del.status, 204) << del.describe();
  EXPECT_TRUE(IsError(client().get("/api/nodes/custom/shouter", a.token), 404, "not_found"));
  EXPECT_TRUE(IsError(client().del("/api/nodes/custom/shouter", a.token), 404, "not_found"));
  EXPECT_TRUE(palette_entry(a, "custom.shouter").is_null());
  EXPECT_TRUE(has(compile_codes(a, wf), "unknown_node_type"));
  Response saved = client().request("POST", "/api/workflows/" + wid + "/compile", a.token);
  EXPECT_EQ(saved.status, 422) << saved.describe();
  EXPECT_NE(saved.body.find("unknown_node_type"), std::string::npos) << saved.body;
  // The saved workflow no longer runs (its cached plan is gone too).
  Response r = execute(a.token, wid, "?mode=sync");
  EXPECT_TRUE(IsError(r, 400, "compile_failed")) << r.describe();

  // Uploading the name again starts a new history.
  Response again = upload(a, "python", kShouterPy);
  ASSERT_EQ(again.status, 201) << again.describe();
  EXPECT_EQ(again.json()["version"].as_int(), 1);
}

TEST_P(CustomNodesTest, StoreAllocatesDistinctVersionsUnderConcurrency) {
  auto store = server().host().store();
  const std::string owner = "owner-" + random_hex(4);
  store::CustomNodeRecord rec;
  rec.owner_id = owner;
  rec.name = "racy";
  rec.language = "javascript";
  rec.source = "module.exports = {}";
  rec.declaration = *Json::parse(R"({"fields": []})");
  auto first = store->create_custom_node(rec, true);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->version, 1);
  EXPECT_EQ(store->create_custom_node(rec, true).error().code, "conflict");
  store::CustomNodeRecord missing = rec;
  missing.name = "missing";
  EXPECT_EQ(store->create_custom_node(missing, false).error().code, "not_found");

  constexpr int kThreads = 4, kEach = 5;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<int64_t> versions;
  std::vector<std::string> failures;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        auto r = store->create_custom_node(rec, false);
        std::lock_guard<std::mutex> lock(mu);
        if (r.ok()) versions.push_back(r->version);
        else failures.push_back(r.error().code + ": " + r.error().message);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(failures.empty()) << failures.front();
  std::set<int64_t> distinct(versions.begin(), versions.end());
  EXPECT_EQ(distinct.size(), versions.size());
  EXPECT_EQ(static_cast<int>(distinct.size()), kThreads * kEach);
  EXPECT_EQ(*distinct.rbegin(), 1 + kThreads * kEach);

  auto latest = store->get_custom_node(owner, "racy", 0);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version, 1 + kThreads * kEach);
  EXPECT_EQ(latest->source, rec.source);
  EXPECT_EQ(latest->created_at_ms, first->created_at_ms);
  auto all = store->list_custom_node_versions(owner, "racy");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), static_cast<size_t>(1 + kThreads * kEach));
  EXPECT_TRUE(all->front().source.empty());
  auto listed = store->list_custom_nodes(owner);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().version, 1 + kThreads * kEach);
  EXPECT_EQ(listed->front().declaration, rec.declaration);
  // Another owner sees nothing of it.
  EXPECT_EQ(store->get_custom_node("someone-else", "racy", 0).error().code, "not_found");
  EXPECT_EQ(store->delete_custom_node("someone-else", "racy").error().code, "not_found");
  EXPECT_TRUE(store->delete_custom_node(owner, "racy").ok());
  EXPECT_EQ(store->list_custom_node_versions(owner, "racy").error().code, "not_found");
}

WEFT_API_BACKENDS(CustomNodesTest);

// A custom node like the seed's Trello example: it calls an outside API through the host's guarded
// client, with its credential applied by the host, and cannot open a connection of its own.
class CustomNodesHttpTest : public CustomNodesTest {
 protected:
  void configure(app::Config& config, api::ServeConfig& serve) override {
    CustomNodesTest::configure(config, serve);
    api_ = std::make_unique<net::testing::TestHttpServer>([](const net::testing::TestRequest& r) {
      Json card = Json::object();
      card.set("id", "card-1");
      card.set("path", r.path);
      card.set("authorization", r.header("authorization"));
      card.set("body", r.body);
      return net::testing::TestResponse::text(201, card.dump(), "application/json");
    });
    Json allow = Json::array();
    allow.push_back(api_->host_port());
    config.outbound = Json::object();
    config.outbound.set("allow", allow);
  }
  void TearDown() override {
    CustomNodesTest::TearDown();
    api_.reset();
  }
  std::unique_ptr<net::testing::TestHttpServer> api_;
};

TEST_P(CustomNodesHttpTest, CallsAnOutsideApiOnlyThroughTheHost) {
  TestUser a = make_user();
  const std::string canary = "cu-api-token-" + random_hex(12);
  const std::string cred = make_bearer(a, "cards-api", canary);
  upload_ok(a, "javascript",
            "module.exports = {\n"
            "  name: 'cards',\n"
            "  displayName: 'Create a card',\n"
            "  credentialTypes: ['http_bearer'],\n"
            "  fields: [{name: 'base_url', type: 'string', required: true},\n"
            "           {name: 'title', type: 'string', required: true}],\n"
            "  async execute(items, params, weft) {\n"
            "    let direct = 'reached';\n"
            "    try { await fetch(params.base_url + '/direct'); } catch (e) { direct = 'blocked'; }\n"
            "    const res = await weft.http({method: 'POST', url: params.base_url + '/1/cards',\n"
            "                                 credential: 'api', json: {name: params.title}});\n"
            "    weft.log('created card, status ' + res.status);\n"
            "    return {status: res.status, card: JSON.parse(res.body), direct};\n"
            "  },\n"
            "};\n");
  Json params = Json::object();
  params.set("base_url", api_->base_url());
  params.set("title", "{{ $json.name }}'s card");
  Json creds = Json::object();
  creds.set("api", cred);
  Json e = run(a, workflow("custom.cards", params, creds));
  ASSERT_EQ(e["status"].as_string(), "succeeded") << e.dump();
  EXPECT_EQ(e["output"]["status"].as_int(), 201) << e.dump();
  EXPECT_EQ(e["output"]["direct"].as_string(), "blocked") << e.dump();
  EXPECT_EQ(e["output"]["card"]["path"].as_string(), "/1/cards") << e.dump();
  EXPECT_EQ(e.dump().find(canary), std::string::npos) << e.dump();
  EXPECT_NE(logs_text(a, e["id"].as_string()).find("created card, status 201"), std::string::npos);

  // The API saw exactly one request: the host's, with the credential applied and the rendered
  // parameter in the body. The node's own connection attempt never arrived.
  auto seen = api_->requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].path, "/1/cards");
  EXPECT_EQ(seen[0].header("authorization"), "Bearer " + canary);
  EXPECT_EQ(seen[0].body, R"({"name":"ada's card"})");
}

WEFT_API_BACKENDS(CustomNodesHttpTest);

}  // namespace
}  // namespace weft::apitest
