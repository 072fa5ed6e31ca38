// The core pack as the host uses it: weft-core.so + core.plugin.json, exactly as built, found and
// loaded by the real registry (manifest checks, sha256, Boost.DLL, handshake, schema validation),
// and its node types run through their C function pointers with the host's services table.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "registry/registry.hpp"
#include "tests/plugins/real_host.hpp"

namespace {

namespace fs = std::filesystem;
using weft::Json;
using weft::plugin_tests::run_real;
using weft::registry::PluginState;
using weft::registry::Registry;
using weft::registry::RegistryOptions;

// A private plugin directory holding only the core pack (the build's plugin directory also holds
// whatever other plugins are being built, which this test is not about).
class CoreThroughRegistry : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string templ = (fs::temp_directory_path() / "weft-core-registry-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = new fs::path(templ);
    const fs::path built(WEFT_PLUGIN_DIR);
    fs::copy_file(built / "weft-core.so", *dir_ / "weft-core.so");
    fs::copy_file(built / "core.plugin.json", *dir_ / "core.plugin.json");
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
fs::path* CoreThroughRegistry::dir_ = nullptr;
Registry* CoreThroughRegistry::registry_ = nullptr;

TEST_F(CoreThroughRegistry, LoadsWithEveryNodeType) {
  auto plugins = registry_->plugins();
  ASSERT_EQ(plugins.size(), 1u);
  const auto& p = plugins[0];
  EXPECT_EQ(p.name, "core");
  EXPECT_EQ(p.version, "1.0.0");
  ASSERT_EQ(p.state, PluginState::Loaded) << p.reason;
  EXPECT_EQ(p.negotiated_abi, WEFT_ABI_VERSION);
  std::set<std::string> types(p.node_types.begin(), p.node_types.end());
  EXPECT_EQ(types, (std::set<std::string>{"core.manual_trigger@1", "core.webhook_trigger@1", "core.set@1",
                                          "core.if@1", "core.switch@1", "core.merge@1", "core.loop@1", "core.wait@1",
                                          "core.noop@1", "core.stop_and_error@1", "core.filter@1",
                                          "core.approval@1", "core.clarification@1", "core.error_trigger@1"}));
  EXPECT_TRUE(type("core.manual_trigger")->is_trigger());
  EXPECT_TRUE(type("core.webhook_trigger")->is_trigger());
  EXPECT_TRUE(type("core.loop")->is_loop());
  EXPECT_EQ(type("core.wait")->flags, WEFT_NODE_FLAG_LONG_RUNNING);
  // The registry validated and normalised each schema; spot-check what the compiler relies on.
  EXPECT_EQ(type("core.switch")->schema["dynamic_outputs"]["param"].as_string(), "rules");
  EXPECT_TRUE(type("core.merge")->schema["inputs"].at(0)["multiple"].as_bool());
  EXPECT_TRUE(type("core.error_trigger")->is_trigger());
  EXPECT_EQ(type("core.approval")->flags, WEFT_NODE_FLAG_LONG_RUNNING);
  EXPECT_EQ(type("core.clarification")->flags, WEFT_NODE_FLAG_LONG_RUNNING);
  EXPECT_EQ(registry_->palette().size(), 14u);
}

TEST_F(CoreThroughRegistry, SetIfSwitchRoute) {
  auto r = run_real(*type("core.set"), R"({"fields": {"a.b": 2}})", R"({"main": {"k": 1}})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error;
  EXPECT_EQ(r.outputs()["main"].dump(), R"({"k":1,"a":{"b":2}})");

  r = run_real(*type("core.if"), R"({"condition": ""})", R"({"main": 3})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error;
  EXPECT_EQ(r.outputs().dump(), R"({"false":3})");

  r = run_real(*type("core.switch"),
               R"({"mode": "all", "rules": [{"output": "x", "condition": 1}, {"output": "y", "condition": true}]})",
               R"({"main": "v"})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error;
  EXPECT_EQ(r.outputs().dump(), R"({"x":"v","y":"v"})");
}

TEST_F(CoreThroughRegistry, MergeLoopFilter) {
  auto r = run_real(*type("core.merge"), R"({"combine": "object"})",
                    R"({"main": [{"from": "a", "data": 1}, {"from": "b", "data": 2}]})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error;
  EXPECT_EQ(r.outputs()["main"].dump(), R"({"a":1,"b":2})");

  r = run_real(*type("core.loop"), "{}", R"({"main": [1, 2]})");
  EXPECT_EQ(r.outputs().dump(), R"({"items":[1,2]})");
  r = run_real(*type("core.loop"), R"({"max_iterations": 1})", R"({"main": [1, 2]})");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  EXPECT_EQ(r.error_code(), "too_many_items");

  r = run_real(*type("core.filter"), R"({"conditions": [{"field": "n", "op": "gte", "value": 2}]})",
               R"({"main": [{"n": 1}, {"n": 2}]})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error;
  EXPECT_EQ(r.outputs().dump(), R"({"main":[{"n":2}],"discarded":[{"n":1}]})");
}

TEST_F(CoreThroughRegistry, WaitParksAndResumes) {
  auto r = run_real(*type("core.wait"), R"({"until": "2999-01-01T00:00:00Z"})", R"({"main": 1})");
  ASSERT_EQ(r.status, WEFT_PARK) << r.error;
  EXPECT_EQ(r.park, R"({"wake_at_ms":32472144000000})");
  r = run_real(*type("core.wait"), R"({"until": "2999-01-01T00:00:00Z"})", R"({"main": 1})", R"({"reason":"timer"})",
               1);
  ASSERT_EQ(r.status, WEFT_OK) << r.error;
  EXPECT_EQ(r.outputs()["main"].dump(), "1");
}

TEST_F(CoreThroughRegistry, ApprovalAndClarificationParkAndResume) {
  auto r = run_real(*type("core.approval"), R"({"title": "ok?", "timeout_seconds": 60})", R"({"main": 1})");
  ASSERT_EQ(r.status, WEFT_PARK) << r.error;
  auto park = Json::parse(r.park);
  ASSERT_TRUE(park.ok()) << r.park;
  EXPECT_GT((*park)["wake_at_ms"].as_int(), 0);
  EXPECT_EQ((*park)["request"]["kind"].as_string(), "approval");
  r = run_real(*type("core.approval"), R"({"title": "ok?"})", R"({"main": 1})",
               R"({"reason":"answer","answer":{"decision":"approve","approved":true,"by":"u"}})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error;
  EXPECT_TRUE(r.outputs()["approved"]["approved"].as_bool());
  r = run_real(*type("core.clarification"), R"({"question": "q?"})", R"({"main": 1})",
               R"({"reason":"answer","answer":{"answer":"yes","by":"u"}})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error;
  EXPECT_EQ(r.outputs()["main"].as_string(), "yes");
  r = run_real(*type("core.error_trigger"), "{}", R"({"main": {"error": {"code": "x"}}})");
  EXPECT_EQ(r.outputs()["main"].dump(), R"({"error":{"code":"x"}})");
}

TEST_F(CoreThroughRegistry, TriggerNoopAndStop) {
  auto r = run_real(*type("core.manual_trigger"), R"({"default_input": {"d": 1}})", "{}");
  EXPECT_EQ(r.outputs()["main"].dump(), R"({"d":1})");
  r = run_real(*type("core.webhook_trigger"), R"({"path": "in", "method": "ANY"})",
               R"({"main": {"body": {"a": 1}, "query": {}, "headers": {}, "method": "PUT"}})");
  ASSERT_EQ(r.status, WEFT_OK) << r.error;
  EXPECT_EQ(r.outputs()["main"].dump(), R"({"body":{"a":1},"query":{},"headers":{},"method":"PUT"})");
  r = run_real(*type("core.noop"), "{}", R"({"main": [true]})");
  EXPECT_EQ(r.outputs()["main"].dump(), "[true]");
  r = run_real(*type("core.stop_and_error"), R"({"message": "halt", "code": "my_stop"})", "{}");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  EXPECT_EQ(r.error, R"({"code":"my_stop","message":"halt"})");
}

TEST_F(CoreThroughRegistry, BadParametersAreErrorsNotCrashes) {
  for (const char* name : {"core.set", "core.if", "core.switch", "core.merge", "core.loop", "core.wait",
                           "core.stop_and_error", "core.filter", "core.approval", "core.clarification"}) {
    auto r = run_real(*type(name), R"({"fields": 1, "rules": 1, "mode": 1, "combine": 1, "max_iterations": -1,
                                       "seconds": "x", "message": 1, "conditions": 1})",
                      R"({"main": {"x": 1}})");
    EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT) << name << " " << r.output;
    EXPECT_FALSE(r.error_code().empty()) << name;
  }
  for (const char* params : {R"({"path": "a/b"})", R"({"method": 1})", R"({"wait_timeout_seconds": 0})"}) {
    auto r = run_real(*type("core.webhook_trigger"), params, R"({"main": {"x": 1}})");
    EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT) << params;
    EXPECT_EQ(r.error_code(), "invalid_parameter") << params;
  }
  // Broken request JSON from a buggy host is refused too.
  auto r = run_real(*type("core.noop"), "{", "{}");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  EXPECT_EQ(r.error_code(), "invalid_request");
}

}  // namespace
