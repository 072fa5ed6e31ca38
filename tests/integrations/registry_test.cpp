// The integrations pack as the host uses it: weft-integrations.so + integrations.plugin.json,
// exactly as built, found and loaded by the real registry (manifest, sha256, handshake, schema
// validation), and its node types run through their C function pointers with the host's own
// services table — whose http_request reaches the real guarded client and a loopback server.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "host/compiler/compiler.hpp"
#include "registry/registry.hpp"
#include "tests/integrations/loopback_host.hpp"
#include "tests/net/test_server.hpp"
#include "tests/plugins/real_host.hpp"

namespace {

namespace fs = std::filesystem;
using weft::Json;
using weft::integrations_test::LoopbackHost;
using weft::net::testing::TestHttpServer;
using weft::net::testing::TestRequest;
using weft::net::testing::TestResponse;
using weft::registry::PluginState;
using weft::registry::Registry;
using weft::registry::RegistryOptions;

// A node attempt whose outbound HTTP goes through a LoopbackHost.
class HttpCall : public weft::plugin_tests::RecordingCall {
 public:
  explicit HttpCall(LoopbackHost* loop) : loop_(loop) {}
  weft_status http_request(std::string_view request_json, std::string& out, std::string& err) override {
    return loop_->handle(request_json, out, err);
  }

 private:
  LoopbackHost* loop_;
};

struct Run {
  weft_status status = WEFT_ERR_INTERNAL;
  std::string output, error;
};

Run run_with(const weft::registry::NodeType& type, weft_call* call, std::string_view params_json) {
  weft::StringSink out, err, park;
  weft_node_request req{};
  req.struct_size = sizeof req;
  req.call = call;
  req.node_id = weft::to_weft_str("node-1");
  req.params_json = weft::to_weft_str(params_json);
  req.input_json = weft::to_weft_str("{}");
  req.attempt = 1;
  req.context_json =
      weft::to_weft_str(R"({"execution_id":"exec-1","workflow_id":"wf-1","workflow_version":1,"scope":""})");
  weft_node_result res{sizeof(weft_node_result), &out.sink, &err.sink, &park.sink};
  Run r;
  r.status = type.execute(type.type_state, &req, &res);
  r.output = out.data;
  r.error = err.data;
  return r;
}

// A private plugin directory holding only this pack.
class IntegrationsThroughRegistry : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string templ = (fs::temp_directory_path() / "weft-integrations-registry-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = new fs::path(templ);
    const fs::path built(WEFT_PLUGIN_DIR);
    fs::copy_file(built / "weft-integrations.so", *dir_ / "weft-integrations.so");
    fs::copy_file(built / "integrations.plugin.json", *dir_ / "integrations.plugin.json");
    RegistryOptions o;
    o.plugin_dirs = {dir_->string()};
    registry_ = new Registry(o);
    registry_->load();
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
    std::error_code ec;
    fs::remove_all(*dir_, ec);
    delete dir_;
  }
  static std::shared_ptr<const weft::registry::NodeType> type(const char* name) {
    auto t = registry_->find_node_type(name);
    EXPECT_NE(t, nullptr) << name;
    return t;
  }

  static fs::path* dir_;
  static Registry* registry_;
};
fs::path* IntegrationsThroughRegistry::dir_ = nullptr;
Registry* IntegrationsThroughRegistry::registry_ = nullptr;

TEST_F(IntegrationsThroughRegistry, LoadsWithItsNodeTypes) {
  auto plugins = registry_->plugins();
  ASSERT_EQ(plugins.size(), 1u);
  const auto& p = plugins[0];
  EXPECT_EQ(p.name, "integrations");
  EXPECT_EQ(p.version, "1.0.0");
  ASSERT_EQ(p.state, PluginState::Loaded) << p.reason;
  EXPECT_EQ(p.negotiated_abi, WEFT_ABI_VERSION);
  std::set<std::string> types(p.node_types.begin(), p.node_types.end());
  EXPECT_EQ(types, (std::set<std::string>{"http.request@1", "slack.message@1", "github.issue@1"}));
  for (const char* name : {"http.request", "slack.message", "github.issue"}) {
    auto t = type(name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->flags, WEFT_NODE_FLAG_SIDE_EFFECTS) << name;
    EXPECT_FALSE(t->schema["credential_types"].as_array().empty()) << name;
  }
  EXPECT_EQ(type("github.issue")->schema["credential_types"].dump(), R"(["github_token"])");
  EXPECT_EQ(registry_->palette().size(), 3u);
}

TEST_F(IntegrationsThroughRegistry, ParameterErrorsAndAMissingHttpServiceAreErrorsNotCrashes) {
  // The host's default weft_call offers no outbound HTTP.
  auto r = weft::plugin_tests::run_real(*type("http.request"), R"({"url": "https://example.com/"})", "{}");
  EXPECT_EQ(r.status, WEFT_ERR_UNSUPPORTED) << r.error;
  EXPECT_EQ(r.error_code(), "unsupported");
  r = weft::plugin_tests::run_real(*type("github.issue"),
                                   R"({"operation": "get", "owner": "../x", "repo": "r"})", "{}");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  EXPECT_EQ(r.error_code(), "invalid_parameter");
  r = weft::plugin_tests::run_real(*type("slack.message"), R"({"blocks": 1, "text": {"not": "a string"}})",
                                   "{}");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
}

TEST_F(IntegrationsThroughRegistry, PostsToSlackThroughTheHostServicesTable) {
  TestHttpServer server([](const TestRequest& q) {
    if (q.path != "/api/chat.postMessage" || q.header("authorization") != "Bearer xoxb-registry")
      return TestResponse::text(400, "unexpected request");
    return TestResponse::text(200, R"({"ok":true,"channel":"C9","ts":"1.5"})", "application/json");
  });
  LoopbackHost loop({server.host_port()});
  loop.credentials["auth"] = {"slack_token", {{"token", "xoxb-registry"}}};
  HttpCall call(&loop);
  auto r = run_with(*type("slack.message"), &call,
                    R"({"mode": "token", "channel": "C9", "text": "from the real host", "api_url": ")" +
                        server.url("/api") + R"("})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error;
  EXPECT_EQ(r.output, R"({"main":{"ok":true,"channel":"C9","ts":"1.5"}})");
  ASSERT_EQ(server.request_count(), 1u);
  EXPECT_EQ(Json::parse(server.requests()[0].body)->find("text")->as_string(), "from the real host");
}

// The schemas as the compiler reads them: a workflow using every node of the pack (next to the
// core pack's trigger) compiles, and parameters outside a select's options are caught before run.
TEST(IntegrationsCompile, WorkflowsUsingThePackCompile) {
  std::string templ = (fs::temp_directory_path() / "weft-integrations-compile-XXXXXX").string();
  ASSERT_NE(::mkdtemp(templ.data()), nullptr);
  const fs::path dir(templ), built(WEFT_PLUGIN_DIR);
  for (const char* f :
       {"weft-integrations.so", "integrations.plugin.json", "weft-core.so", "core.plugin.json"})
    fs::copy_file(built / f, dir / f);
  {
    RegistryOptions o;
    o.plugin_dirs = {dir.string()};
    Registry registry(o);
    ASSERT_EQ(registry.load(), 2u);
    weft::compiler::Compiler compiler(registry);
    weft::compiler::CompileOptions opts;
    opts.owner_id = "user-1";

    auto workflow = [](const std::string& http_params) {
      return Json::parse(R"({"nodes": [
        {"id": "start", "type": "core.manual_trigger", "data": {"parameters": {}}},
        {"id": "fetch", "type": "http.request", "data": {"parameters": )" +
                         http_params + R"(,
                                                          "credentials": {"auth": "cred-1"}}},
        {"id": "tell", "type": "slack.message",
         "data": {"parameters": {"mode": "token", "channel": "C1", "text": "{{ $json.status }}"},
                  "credentials": {"auth": "cred-2"}}},
        {"id": "file", "type": "github.issue",
         "data": {"parameters": {"operation": "create", "owner": "o", "repo": "r", "title": "t", "labels": ["x"]},
                  "credentials": {"auth": "cred-3"}}}],
       "edges": [{"id": "e1", "source": "start", "target": "fetch"},
                 {"id": "e2", "source": "fetch", "target": "tell"},
                 {"id": "e3", "source": "tell", "target": "file"}]})")
          .value();
    };
    auto ok = compiler.compile(
        workflow(R"({"method": "POST", "url": "https://api.example.com/x", "authentication": "credential",
                    "query": {"a": 1}, "body": {"k": "{{ $json }}"}, "timeout_ms": 5000})"),
        opts);
    EXPECT_TRUE(ok.ok()) << ok.errors_json().dump();

    auto bad = compiler.compile(workflow(R"({"method": "TRACE", "url": "https://api.example.com/x"})"), opts);
    ASSERT_FALSE(bad.ok());
    bool found = false;
    for (const auto& d : bad.errors)
      found = found || (d.node_id == "fetch" && d.field.find("method") != std::string::npos);
    EXPECT_TRUE(found) << bad.errors_json().dump();

    auto missing = compiler.compile(workflow(R"({"method": "GET"})"), opts);
    ASSERT_FALSE(missing.ok());
    found = false;
    for (const auto& d : missing.errors)
      found = found || (d.node_id == "fetch" && d.field.find("url") != std::string::npos);
    EXPECT_TRUE(found) << missing.errors_json().dump();
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
