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
  // Refused declarations never reach the store: one backend is enough for these thirty uploads.
  if (GetParam() == "postgres") GTEST_SKIP() << "backend-independent: runs on sqlite";
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
  // Credential types the node declares itself go through the registry's checks.
  const std::string key = "{name: 'k', type: 'string', secret: true}";
  Response nofields = refused("javascript", js_with("  name: 'trello', credentialTypes: [{name: 'trello', fields: []}],"),
                              "credentialTypes[0].fields");
  EXPECT_NE(nofields.json()["error"]["message"].as_string().find("non-empty"), std::string::npos) << nofields.body;
  refused("javascript",
          js_with("  name: 'trello', credentialTypes: [{name: 'tr', fields: [" + key + "], apply: {kind: 'cookie'}}],"),
          "credentialTypes[0].apply.kind");
  refused("javascript",
          js_with("  name: 'trello', credentialTypes: ['http_bearer', {name: 'tr', fields: [{name: 'k', type: "
                  "'string'}], apply: {kind: 'bearer', field: 'k'}}],"),
          "credentialTypes[1].apply.field");
  Response clash = refused("javascript",
                           js_with("  name: 'trello', credentialTypes: [{name: 'http_bearer', fields: [" + key + "]}],"),
                           "credentialTypes[0].name");
  EXPECT_NE(clash.json()["error"]["message"].as_string().find("registered"), std::string::npos) << clash.body;
  refused("javascript",
          js_with("  name: 'trello', credentialTypes: [{name: 'tr', fields: [" + key + "]}, {name: 'tr', fields: [" +
                  key + "]}],"),
          "credentialTypes[1].name");
  refused("javascript", js_with("  name: 'trello', credentialTypes: [{name: 'tr', fields: [" + key + "], secrt: 1}],"),
          "credentialTypes[0].\"secrt\"");
  refused("javascript",
          js_with("  name: 'trello', credentialTypes: [{name: 'tr', fields: [{name: 'k', type: 'number', secret: true}]}],"),
          "credentialTypes[0].fields[0].secret");
  // A type is named by its declaring node only: another node's type is not a registered one.
  refused("javascript", js_with("  name: 'other', credentialTypes: ['custom.trello.tr'],"), "credentialTypes[0]");
  refused("javascript",
          js_with("  name: 'field', fields: [{name: 'auth', type: 'credential', credentialTypes: ['tr']}],"),
          "fields[0].credentialTypes[0]");
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

// A node that declares its own credential type and reads it (apply none: the node sends it).
std::string keyed_js(const std::string& extra_type = "") {
  return "module.exports = {\n"
         "  name: 'keyed',\n"
         "  credentialTypes: [{name: 'keyed_api', displayName: 'Keyed API',\n"
         "    fields: [{name: 'key', displayName: 'Key', type: 'string', secret: true, required: true}" +
         extra_type +
         "],\n"
         "    apply: {kind: 'none'}}],\n"
         "  async execute(items, params, weft) {\n"
         "    const c = await weft.credential('api');\n"
         "    return {type: c.type, length: c.fields.key.length};\n"
         "  },\n"
         "};\n";
}

// Whether a credential type list (GET /api/credentials/types' "types") names `type`.
bool lists_type(const Json& types, const std::string& type) {
  for (const Json& t : types.as_array())
    if (t["name"].as_string() == type) return true;
  return false;
}

TEST_P(CustomNodesTest, OwnCredentialTypesExistForTheOwnerOnly) {
  TestUser a = make_user();
  TestUser b = make_user();
  Response up = upload(a, "javascript", keyed_js());
  ASSERT_EQ(up.status, 201) << up.describe();
  const std::string type = "custom.keyed.keyed_api";
  const Json d = up.json()["declaration"];
  EXPECT_EQ(d["credential_types"].dump(), "[\"" + type + "\"]") << d.dump();
  ASSERT_EQ(d["credential_type_definitions"].size(), 1u) << d.dump();
  const Json def = d["credential_type_definitions"].at(0);
  EXPECT_EQ(def["name"].as_string(), type);
  EXPECT_EQ(def["display_name"].as_string(), "Keyed API");
  EXPECT_EQ(def["fields"].at(0)["display_name"].as_string(), "Key");
  EXPECT_TRUE(def["fields"].at(0)["secret"].as_bool());
  EXPECT_EQ(def["apply"]["kind"].as_string(), "none");

  // The owner's list of types has it after the registered ones; nobody else's does.
  auto credentials = server().credentials().service;
  const Json mine = credentials->types(a.id);
  ASSERT_TRUE(lists_type(mine, type)) << mine.dump();
  EXPECT_EQ(mine.at(mine.size() - 1)["name"].as_string(), type);
  EXPECT_EQ(mine.at(mine.size() - 1)["plugin"].as_string(), "custom");
  EXPECT_EQ(mine.at(mine.size() - 1)["node_type"].as_string(), "custom.keyed");
  EXPECT_TRUE(lists_type(mine, "http_bearer"));
  EXPECT_FALSE(lists_type(credentials->types(b.id), type));
  EXPECT_FALSE(lists_type(credentials->types(), type));
  Response theirs = client().get("/api/credentials/types", b.token);
  ASSERT_EQ(theirs.status, 200) << theirs.describe();
  EXPECT_FALSE(lists_type(theirs.json()["types"], type)) << theirs.body;
  // Over HTTP too: the owner's GET /api/credentials/types lists it, after the registered ones.
  Response own = client().get("/api/credentials/types", a.token);
  ASSERT_EQ(own.status, 200) << own.describe();
  const Json listed = own.json()["types"];
  ASSERT_TRUE(lists_type(listed, type)) << own.body;
  EXPECT_EQ(listed.at(listed.size() - 1)["name"].as_string(), type);

  // The owner creates a credential of it, checked against its fields; nobody else can.
  const std::string canary = "cu-own-type-" + random_hex(12);
  Json cb = Json::object();
  cb.set("name", "keyed");
  cb.set("type", type);
  Json fields = Json::object();
  fields.set("key", canary);
  cb.set("fields", fields);
  Response created = client().post("/api/credentials", cb, a.token);
  ASSERT_EQ(created.status, 201) << created.describe();
  EXPECT_EQ(created.json()["type"].as_string(), type);
  EXPECT_EQ(created.json()["secret_fields_set"].dump(), R"(["key"])");
  EXPECT_EQ(created.body.find(canary), std::string::npos);
  const std::string cred = created.json()["id"].as_string();
  EXPECT_TRUE(IsError(client().post("/api/credentials", cb, b.token), 400, "unknown_credential_type"));
  Json wrong = cb;
  wrong.set("fields", *Json::parse(R"({"key": "x", "token": "y"})"));
  EXPECT_TRUE(IsError(client().post("/api/credentials", wrong, a.token), 400, "invalid_credential"));
  Json short_name = cb;
  short_name.set("type", "keyed_api");
  EXPECT_TRUE(IsError(client().post("/api/credentials", short_name, a.token), 400, "unknown_credential_type"));
  // B cannot name A's type in a node of their own either.
  Response borrowed = upload(b, "javascript",
                             "module.exports = {name: 'borrow', credentialTypes: ['" + type +
                                 "'], execute(items) { return items; }};\n");
  EXPECT_TRUE(IsError(borrowed, 400, "invalid_custom_node")) << borrowed.describe();

  // A's workflow uses it: compiled, run, the secret never shown.
  Json creds = Json::object();
  creds.set("api", cred);
  Json e = run(a, workflow("custom.keyed", Json::object(), creds));
  ASSERT_EQ(e["status"].as_string(), "succeeded") << e.dump();
  EXPECT_EQ(e["output"]["type"].as_string(), type) << e.dump();
  EXPECT_EQ(e["output"]["length"].as_int(), static_cast<int64_t>(canary.size())) << e.dump();
  // A registered type's credential is not one the node accepts.
  Json other = Json::object();
  other.set("api", make_bearer(a, "bearer", "cu-bearer-" + random_hex(8)));
  EXPECT_TRUE(has(compile_codes(a, workflow("custom.keyed", Json::object(), other)), "credential_wrong_type"));
}

TEST_P(CustomNodesTest, OwnCredentialTypesFollowTheNodesLatestVersion) {
  TestUser a = make_user();
  upload_ok(a, "javascript", keyed_js());
  const std::string type = "custom.keyed.keyed_api";
  Json cb = Json::object();
  cb.set("name", "keyed");
  cb.set("type", type);
  cb.set("fields", *Json::parse(R"({"key": "cu-follow-secret"})"));
  Response created = client().post("/api/credentials", cb, a.token);
  ASSERT_EQ(created.status, 201) << created.describe();
  const std::string cred = created.json()["id"].as_string();
  Json creds = Json::object();
  creds.set("api", cred);
  const std::string pinned = create_workflow(a.token, workflow("custom.keyed", Json::object(), creds, 1));
  ASSERT_EQ(run_workflow(a, pinned)["status"].as_string(), "succeeded");

  // Version 2 adds an optional field to the type: the stored credential still runs, and the new
  // field can be set.
  Response v2 = client().put("/api/nodes/custom/keyed",
                             body("javascript", keyed_js(", {name: 'region', type: 'select', options: ['eu', 'us']}")),
                             a.token);
  ASSERT_EQ(v2.status, 200) << v2.describe();
  Response region = client().put("/api/credentials/" + cred, *Json::parse(R"({"fields": {"region": "eu"}})"), a.token);
  ASSERT_EQ(region.status, 200) << region.describe();
  EXPECT_EQ(region.json()["fields"]["region"].as_string(), "eu");
  Json latest = run(a, workflow("custom.keyed", Json::object(), creds));
  ASSERT_EQ(latest["status"].as_string(), "succeeded") << latest.dump();

  // Version 3 no longer declares it: the type is gone, even for the workflow pinned to version 1.
  Response v3 = client().put("/api/nodes/custom/keyed", body("javascript", greeter_js(3, "keyed")), a.token);
  ASSERT_EQ(v3.status, 200) << v3.describe();
  auto credentials = server().credentials().service;
  EXPECT_FALSE(lists_type(credentials->types(a.id), type));
  EXPECT_TRUE(IsError(client().post("/api/credentials", cb, a.token), 400, "unknown_credential_type"));
  EXPECT_TRUE(IsError(client().put("/api/credentials/" + cred, *Json::parse(R"({"fields": {"key": "new"}})"), a.token),
                      400, "unknown_credential_type"));
  // The credential itself stays readable...
  Response got = client().get("/api/credentials/" + cred, a.token);
  ASSERT_EQ(got.status, 200) << got.describe();
  EXPECT_EQ(got.json()["type"].as_string(), type);
  // ...but does not run: the compile refuses it, and so does the run-time check behind it.
  Response r = execute(a.token, pinned, "?mode=sync");
  ASSERT_TRUE(IsError(r, 400, "compile_failed")) << r.describe();
  EXPECT_NE(r.body.find("unknown_credential_type"), std::string::npos) << r.body;
  auto opened = credentials->open_for_run(a.id, cred, {type});
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, "unknown_credential_type");
  EXPECT_NE(opened.error().message.find("no longer exists"), std::string::npos) << opened.error().message;

  // Declared again (version 4): it runs again.
  ASSERT_EQ(client().put("/api/nodes/custom/keyed", body("javascript", keyed_js()), a.token).status, 200);
  EXPECT_TRUE(credentials->open_for_run(a.id, cred, {type}).ok());
  Json again = run_workflow(a, pinned);
  ASSERT_EQ(again["status"].as_string(), "succeeded") << again.dump();

  // Deleting the node takes the type with it; the credential can still be deleted.
  EXPECT_EQ(client().del("/api/nodes/custom/keyed", a.token).status, 204);
  EXPECT_FALSE(lists_type(credentials->types(a.id), type));
  EXPECT_EQ(client().get("/api/credentials/" + cred, a.token).status, 200);
  EXPECT_EQ(client().del("/api/credentials/" + cred, a.token).status, 204);
}

TEST_P(CustomNodesTest, PythonNodesDeclareCredentialTypesToo) {
  TestUser a = make_user();
  Response up = upload(a, "python",
                       "NODE = {\n"
                       "    'name': 'pykeyed',\n"
                       "    'credential_types': [{'name': 'py_key', 'display_name': 'Key', 'description': None,\n"
                       "        'fields': [{'name': 'key', 'type': 'string', 'secret': True, 'placeholder': None}],\n"
                       "        'apply': {'kind': 'header', 'name': 'X-Key', 'field': 'key'}}],\n"
                       "    'fields': [{'name': 'auth', 'type': 'credential', 'credential_types': ['py_key']}],\n"
                       "}\n"
                       "def execute(items, params, weft):\n"
                       "    c = weft.credential('auth')\n"
                       "    weft.log('key is', c['fields']['key'])\n"
                       "    return {'type': c['type']}\n");
  ASSERT_EQ(up.status, 201) << up.describe();
  const std::string type = "custom.pykeyed.py_key";
  const Json d = up.json()["declaration"];
  EXPECT_EQ(d["fields"].at(0)["credential_types"].dump(), "[\"" + type + "\"]") << d.dump();
  EXPECT_EQ(d["credential_type_definitions"].at(0)["apply"]["name"].as_string(), "X-Key") << d.dump();
  const std::string canary = "cu-py-key-" + random_hex(12);
  Json cb = Json::object();
  cb.set("name", "pykey");
  cb.set("type", type);
  Json fields = Json::object();
  fields.set("key", canary);
  cb.set("fields", fields);
  Response created = client().post("/api/credentials", cb, a.token);
  ASSERT_EQ(created.status, 201) << created.describe();
  Json params = Json::object();
  params.set("auth", created.json()["id"]);
  Json e = run(a, workflow("custom.pykeyed", params));
  ASSERT_EQ(e["status"].as_string(), "succeeded") << e.dump();
  EXPECT_EQ(e["output"]["type"].as_string(), type) << e.dump();
  const std::string logs = logs_text(a, e["id"].as_string());
  EXPECT_EQ(logs.find(canary), std::string::npos) << logs;
  EXPECT_NE(logs.find("key is [REDACTED]"), std::string::npos) << logs;
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
      card.set("target", r.target);  // with the query: an API that echoes what it got
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

// The seed's Trello example: the node declares its own credential type (a key and a token the
// API wants in the query: apply none, the node sends them itself), reads the credential its
// configuration references, calls the API through the host and logs — the secrets masked
// everywhere the run writes.
TEST_P(CustomNodesHttpTest, ATrelloLikeNodeDeclaresAndUsesItsOwnCredentialType) {
  TestUser a = make_user();
  TestUser b = make_user();
  upload_ok(a, "javascript",
            "module.exports = {\n"
            "  name: 'trello',\n"
            "  displayName: 'Trello: create a card',\n"
            "  credentialTypes: [{\n"
            "    name: 'trello_api', displayName: 'Trello API key and token',\n"
            "    fields: [{name: 'api_key', displayName: 'API key', type: 'string', secret: true, required: true},\n"
            "             {name: 'token', type: 'string', secret: true, required: true}],\n"
            "    apply: {kind: 'none'},\n"
            "  }],\n"
            "  fields: [{name: 'base_url', type: 'string', required: true},\n"
            "           {name: 'title', type: 'string', required: true}],\n"
            "  async execute(items, params, weft) {\n"
            "    const c = await weft.credential('trello');\n"
            "    const url = params.base_url + '/1/cards?key=' + c.fields.api_key + '&token=' + c.fields.token;\n"
            "    weft.log('POST ' + url);\n"
            "    const res = await weft.http({method: 'POST', url, json: {name: params.title}});\n"
            "    weft.log('created card, status ' + res.status);\n"
            "    return {status: res.status, card: JSON.parse(res.body), type: c.type};\n"
            "  },\n"
            "};\n");
  const std::string type = "custom.trello.trello_api";
  const std::string key = "cu-trello-key-" + random_hex(12);
  const std::string token = "cu-trello-token-" + random_hex(12);
  Json cb = Json::object();
  cb.set("name", "my trello");
  cb.set("type", type);
  Json fields = Json::object();
  fields.set("api_key", key);
  fields.set("token", token);
  cb.set("fields", fields);
  Response created = client().post("/api/credentials", cb, a.token);
  ASSERT_EQ(created.status, 201) << created.describe();
  EXPECT_TRUE(IsError(client().post("/api/credentials", cb, b.token), 400, "unknown_credential_type"));
  EXPECT_FALSE(lists_type(server().credentials().service->types(b.id), type));
  EXPECT_TRUE(lists_type(server().credentials().service->types(a.id), type));

  Json params = Json::object();
  params.set("base_url", api_->base_url());
  params.set("title", "{{ $json.name }}'s card");
  Json creds = Json::object();
  creds.set("trello", created.json()["id"]);
  Json e = run(a, workflow("custom.trello", params, creds));
  ASSERT_EQ(e["status"].as_string(), "succeeded") << e.dump();
  EXPECT_EQ(e["output"]["status"].as_int(), 201) << e.dump();
  EXPECT_EQ(e["output"]["type"].as_string(), type) << e.dump();
  EXPECT_EQ(e["output"]["card"]["path"].as_string(), "/1/cards") << e.dump();
  // The API echoed the secrets back: the node got them masked, so its output has none.
  EXPECT_EQ(e["output"]["card"]["target"].as_string(), "/1/cards?key=[REDACTED]&token=[REDACTED]") << e.dump();
  EXPECT_EQ(e.dump().find(key), std::string::npos) << e.dump();
  EXPECT_EQ(e.dump().find(token), std::string::npos) << e.dump();
  const std::string logs = logs_text(a, e["id"].as_string());
  EXPECT_NE(logs.find("/1/cards?key=[REDACTED]&token=[REDACTED]"), std::string::npos) << logs;
  EXPECT_NE(logs.find("created card, status 201"), std::string::npos) << logs;
  EXPECT_EQ(logs.find(key), std::string::npos) << logs;
  EXPECT_EQ(logs.find(token), std::string::npos) << logs;

  auto seen = api_->requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "/1/cards?key=" + key + "&token=" + token);
  EXPECT_EQ(seen[0].body, R"({"name":"ada's card"})");
}

// A custom type with "apply": the node only names the credential; the host applies it.
TEST_P(CustomNodesHttpTest, AnOwnBearerTypeIsAppliedByTheHost) {
  TestUser a = make_user();
  upload_ok(a, "javascript",
            "module.exports = {\n"
            "  name: 'boards',\n"
            "  credentialTypes: [{name: 'boards_token',\n"
            "    fields: [{name: 'token', type: 'string', secret: true, required: true}],\n"
            "    apply: {kind: 'bearer', field: 'token'}}],\n"
            "  fields: [{name: 'base_url', type: 'string', required: true},\n"
            "           {name: 'auth', type: 'credential', credentialTypes: ['boards_token']}],\n"
            "  async execute(items, params, weft) {\n"
            "    const res = await weft.http({method: 'POST', url: params.base_url + '/boards', credential: 'auth',\n"
            "                                 headers: {Authorization: 'Bearer forged'}, json: {}});\n"
            "    return {status: res.status, card: JSON.parse(res.body)};\n"
            "  },\n"
            "};\n");
  const std::string canary = "cu-boards-" + random_hex(12);
  Json cb = Json::object();
  cb.set("name", "boards");
  cb.set("type", "custom.boards.boards_token");
  Json fields = Json::object();
  fields.set("token", canary);
  cb.set("fields", fields);
  Response created = client().post("/api/credentials", cb, a.token);
  ASSERT_EQ(created.status, 201) << created.describe();
  Json params = Json::object();
  params.set("base_url", api_->base_url());
  params.set("auth", created.json()["id"]);
  Json e = run(a, workflow("custom.boards", params));
  ASSERT_EQ(e["status"].as_string(), "succeeded") << e.dump();
  EXPECT_EQ(e["output"]["status"].as_int(), 201) << e.dump();
  // What the API echoed of the header is masked before the node sees it.
  EXPECT_NE(e["output"]["card"]["authorization"].as_string().find("[REDACTED]"), std::string::npos) << e.dump();
  EXPECT_EQ(e.dump().find(canary), std::string::npos) << e.dump();
  auto seen = api_->requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].header("authorization"), "Bearer " + canary);
}

WEFT_API_BACKENDS(CustomNodesHttpTest);

}  // namespace
}  // namespace weft::apitest
