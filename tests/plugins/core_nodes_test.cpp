// The core node pack (plugins/core) through the SDK's fake host, twice over: with the pack's
// objects linked into this binary (FakeHost::load_linked) and with the built weft-core.so loaded
// by dlopen — the very file the host ships.
#include <weft/testing/fake_host.hpp>

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <string>

#include "plugins/core/time_util.hpp"

namespace {

using weft::testing::ExecuteOptions;
using weft::testing::ExecuteResult;
using weft::testing::FakeHost;

enum class Loader { Linked, Module };

std::string member(const std::string& json, const char* key) {
  weft::sdk::Document d;
  if (!weft::sdk::parse_json(json, d).empty() || !d.IsObject() || !d.HasMember(key)) return "<absent>";
  return weft::sdk::to_json(d[key]);
}

int64_t wall_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

class CoreNodes : public ::testing::TestWithParam<Loader> {
 protected:
  void SetUp() override {
    if (GetParam() == Loader::Linked) {
      ASSERT_EQ(host_.load_linked(), WEFT_OK) << host_.load_error();
      return;
    }
    lib_ = dlopen(WEFT_CORE_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(lib_, nullptr) << dlerror();
    auto negotiate = reinterpret_cast<weft_plugin_negotiate_fn>(dlsym(lib_, WEFT_PLUGIN_NEGOTIATE_SYMBOL));
    auto init = reinterpret_cast<weft_plugin_init_fn>(dlsym(lib_, WEFT_PLUGIN_INIT_SYMBOL));
    auto shutdown = reinterpret_cast<weft_plugin_shutdown_fn>(dlsym(lib_, WEFT_PLUGIN_SHUTDOWN_SYMBOL));
    ASSERT_EQ(host_.load(negotiate, init, shutdown), WEFT_OK) << host_.load_error();
  }
  void TearDown() override {
    host_.shutdown();
    if (lib_) dlclose(lib_);
  }

  // Runs a node and checks that what it handed back respects the ABI contract.
  ExecuteResult run(std::string_view type, std::string_view params, std::string_view input,
                    const ExecuteOptions& o = {}) {
    ExecuteResult r = host_.execute(type, params, input, o);
    for (const auto& v : r.violations) ADD_FAILURE() << type << ": " << v;
    return r;
  }
  // Expects WEFT_ERR_INVALID_INPUT with `code`, and `words` in the message.
  void expect_invalid(const ExecuteResult& r, const std::string& code, const std::string& words) {
    EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT) << r.output_json;
    EXPECT_EQ(r.error_code(), code) << r.error_json;
    EXPECT_NE(r.error_message().find(words), std::string::npos) << r.error_message();
  }

  FakeHost host_;
  void* lib_ = nullptr;
};

INSTANTIATE_TEST_SUITE_P(Core, CoreNodes, ::testing::Values(Loader::Linked, Loader::Module),
                         [](const auto& info) { return info.param == Loader::Linked ? "Linked" : "Module"; });

// ---- registration and schemas ------------------------------------------------------------------

TEST_P(CoreNodes, RegistersEveryNodeTypeWithAFullSchema) {
  const std::set<std::string> expected = {"core.manual_trigger", "core.webhook_trigger", "core.set",  "core.if",
                                          "core.switch",         "core.merge",           "core.loop", "core.wait",
                                          "core.noop",           "core.stop_and_error",  "core.filter",
                                          "core.approval",       "core.clarification",   "core.error_trigger"};
  std::set<std::string> got;
  for (const auto& t : host_.node_types()) {
    got.insert(t.type_name);
    EXPECT_EQ(t.type_version, 1u) << t.type_name;
    weft::sdk::Document s;
    ASSERT_EQ(weft::sdk::parse_json(t.schema_json, s), "") << t.type_name;
    ASSERT_TRUE(s.IsObject()) << t.type_name;
    for (const char* key : {"display_name", "description", "category"})
      EXPECT_TRUE(s.HasMember(key) && s[key].IsString() && s[key].GetStringLength() > 0) << t.type_name << " " << key;
    for (const char* key : {"fields", "inputs", "outputs", "flags"})
      EXPECT_TRUE(s.HasMember(key) && s[key].IsArray()) << t.type_name << " " << key;
    for (const auto& f : s["fields"].GetArray()) {
      EXPECT_TRUE(f.HasMember("name") && f["name"].IsString()) << t.type_name;
      EXPECT_TRUE(f.HasMember("type") && f["type"].IsString()) << t.type_name;
      EXPECT_TRUE(f.HasMember("description")) << t.type_name << " " << weft::sdk::to_json(f);
      if (std::string_view(f["type"].GetString()) == "select") {
        EXPECT_TRUE(f.HasMember("options") && f["options"].IsArray() && !f["options"].Empty()) << t.type_name;
      }
    }
    for (const char* list : {"inputs", "outputs"})
      for (const auto& h : s[list].GetArray())
        EXPECT_TRUE(h.HasMember("name") && h.HasMember("type")) << t.type_name << " " << list;
    // The flags in the schema mirror the flags registered with the type.
    std::set<std::string> flags;
    for (const auto& f : s["flags"].GetArray()) flags.insert(f.GetString());
    EXPECT_EQ(flags.count("trigger") == 1, (t.flags & WEFT_NODE_FLAG_TRIGGER) != 0) << t.type_name;
    EXPECT_EQ(flags.count("loop") == 1, (t.flags & WEFT_NODE_FLAG_LOOP) != 0) << t.type_name;
    EXPECT_EQ(flags.count("long_running") == 1, (t.flags & WEFT_NODE_FLAG_LONG_RUNNING) != 0) << t.type_name;
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(host_.find("core.manual_trigger")->flags, WEFT_NODE_FLAG_TRIGGER);
  EXPECT_EQ(host_.find("core.webhook_trigger")->flags, WEFT_NODE_FLAG_TRIGGER);
  EXPECT_EQ(host_.find("core.loop")->flags, WEFT_NODE_FLAG_LOOP);
  EXPECT_EQ(host_.find("core.wait")->flags, WEFT_NODE_FLAG_LONG_RUNNING);
  EXPECT_EQ(host_.find("core.set")->flags, 0u);
  EXPECT_EQ(host_.find("core.approval")->flags, WEFT_NODE_FLAG_LONG_RUNNING);
  EXPECT_EQ(host_.find("core.clarification")->flags, WEFT_NODE_FLAG_LONG_RUNNING);
  EXPECT_EQ(host_.find("core.error_trigger")->flags, WEFT_NODE_FLAG_TRIGGER);
}

TEST_P(CoreNodes, SchemasDeclareTheDynamicAndMultipleHandles) {
  weft::sdk::Document sw, mg;
  ASSERT_EQ(weft::sdk::parse_json(host_.find("core.switch")->schema_json, sw), "");
  EXPECT_EQ(weft::sdk::to_json(sw["dynamic_outputs"]), R"({"param":"rules","key":"output"})");
  EXPECT_EQ(weft::sdk::to_json(sw["outputs"]), R"([{"name":"default","type":"any"}])");
  ASSERT_EQ(weft::sdk::parse_json(host_.find("core.merge")->schema_json, mg), "");
  EXPECT_EQ(weft::sdk::to_json(mg["inputs"]), R"([{"name":"main","type":"any","multiple":true}])");
  EXPECT_EQ(weft::sdk::to_json(mg["activation"]), R"({"any_input_when":{"mode":"first"}})");
}

// ---- core.manual_trigger -----------------------------------------------------------------------

TEST_P(CoreNodes, ManualTriggerPassesTheExecutionInput) {
  EXPECT_EQ(run("core.manual_trigger", "{}", R"({"main": {"a": 1}})").output(), R"({"a":1})");
  EXPECT_EQ(run("core.manual_trigger", R"({"default_input": {"d": 1}})", R"({"main": [1]})").output(), "[1]");
}

TEST_P(CoreNodes, ManualTriggerUsesTheDefaultInputWhenThereIsNone) {
  EXPECT_EQ(run("core.manual_trigger", R"({"default_input": {"d": 1}})", "{}").output(), R"({"d":1})");
  EXPECT_EQ(run("core.manual_trigger", R"({"default_input": {"d": 1}})", R"({"main": null})").output(), R"({"d":1})");
  EXPECT_EQ(run("core.manual_trigger", "{}", "{}").output(), "null");
}

// ---- core.webhook_trigger ----------------------------------------------------------------------

TEST_P(CoreNodes, WebhookTriggerDeclaresWhatTheServerReads) {
  weft::sdk::Document s;
  ASSERT_EQ(weft::sdk::parse_json(host_.find("core.webhook_trigger")->schema_json, s), "");
  EXPECT_EQ(weft::sdk::to_json(s["inputs"]), "[]");
  EXPECT_EQ(weft::sdk::to_json(s["outputs"]), R"([{"name":"main","type":"json"}])");
  EXPECT_EQ(std::string(s["category"].GetString()), "trigger");
  std::map<std::string, std::string> fields;  // name -> "type default [options] [min..max]"
  for (const auto& f : s["fields"].GetArray()) {
    std::string d = std::string(f["type"].GetString()) + " " + weft::sdk::to_json(f["default"]);
    if (f.HasMember("options")) d += " " + weft::sdk::to_json(f["options"]);
    if (f.HasMember("min")) d += " " + weft::sdk::to_json(f["min"]) + ".." + weft::sdk::to_json(f["max"]);
    EXPECT_FALSE(f.HasMember("required") && f["required"].GetBool()) << f["name"].GetString();
    fields[f["name"].GetString()] = d;
  }
  EXPECT_EQ(fields, (std::map<std::string, std::string>{
                        {"path", R"(string "")"},
                        {"method", R"(select "POST" ["POST","GET","ANY"])"},
                        {"auth", R"(select "secret_path" ["secret_path","hmac"])"},
                        {"response", R"(select "auto" ["auto","wait","immediate"])"},
                        {"wait_timeout_seconds", "number 30 1..300"},
                    }));
}

TEST_P(CoreNodes, WebhookTriggerPassesTheRequestThrough) {
  const char* request =
      R"({"body": {"order": 7, "items": ["a"]}, "query": {"q": "1"}, "headers": {"content-type": "application/json"}, "method": "POST"})";
  auto r = run("core.webhook_trigger", "{}", std::string(R"({"main": )") + request + "}");
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output_handles(), std::vector<std::string>{"main"});
  EXPECT_EQ(r.output(),
            R"({"body":{"order":7,"items":["a"]},"query":{"q":"1"},"headers":{"content-type":"application/json"},"method":"POST"})");
  // Every setting at a valid value changes nothing about the output.
  r = run("core.webhook_trigger",
          R"({"path": "orders_in-2", "method": "ANY", "auth": "hmac", "response": "wait", "wait_timeout_seconds": 300})",
          R"({"main": {"body": "plain text", "query": {}, "headers": {}, "method": "GET"}})");
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output(), R"({"body":"plain text","query":{},"headers":{},"method":"GET"})");
  // Started without a request (a manual test run): null, like any trigger without input.
  EXPECT_EQ(run("core.webhook_trigger", R"({"path": ""})", "{}").output(), "null");
}

TEST_P(CoreNodes, WebhookTriggerRefusesBadSettings) {
  expect_invalid(run("core.webhook_trigger", R"({"path": "a/b"})", R"({"main": 1})"), "invalid_parameter",
                 "parameter 'path' must be at most 64 characters of A-Z a-z 0-9 _ -");
  expect_invalid(run("core.webhook_trigger", R"({"path": "../x"})", "{}"), "invalid_parameter", "'path'");
  expect_invalid(run("core.webhook_trigger", R"({"path": "ok%20"})", "{}"), "invalid_parameter", "'path'");
  expect_invalid(run("core.webhook_trigger", R"({"path": "é"})", "{}"), "invalid_parameter", "'path'");
  expect_invalid(run("core.webhook_trigger", ("{\"path\": \"" + std::string(65, 'a') + "\"}").c_str(), "{}"),
                 "invalid_parameter", "'path'");
  EXPECT_TRUE(run("core.webhook_trigger", ("{\"path\": \"" + std::string(64, 'a') + "\"}").c_str(), "{}").ok());
  expect_invalid(run("core.webhook_trigger", R"({"path": 5})", "{}"), "invalid_parameter", "'path' must be a string");
  expect_invalid(run("core.webhook_trigger", R"({"method": "PUT"})", "{}"), "invalid_parameter", "'method'");
  expect_invalid(run("core.webhook_trigger", R"({"method": "post"})", "{}"), "invalid_parameter", "'method'");
  expect_invalid(run("core.webhook_trigger", R"({"auth": "none"})", "{}"), "invalid_parameter", "'auth'");
  expect_invalid(run("core.webhook_trigger", R"({"response": "later"})", "{}"), "invalid_parameter", "'response'");
  expect_invalid(run("core.webhook_trigger", R"({"wait_timeout_seconds": 0.5})", "{}"), "invalid_parameter",
                 "'wait_timeout_seconds' is 0.5; it must be between 1 and 300");
  expect_invalid(run("core.webhook_trigger", R"({"wait_timeout_seconds": 301})", "{}"), "invalid_parameter",
                 "'wait_timeout_seconds'");
  expect_invalid(run("core.webhook_trigger", R"({"wait_timeout_seconds": "30"})", "{}"), "invalid_parameter",
                 "'wait_timeout_seconds' must be a number");
}

// ---- core.noop ---------------------------------------------------------------------------------

TEST_P(CoreNodes, NoopPassesThrough) {
  EXPECT_EQ(run("core.noop", "{}", R"({"main": {"x": [1, {"y": null}]}})").output(), R"({"x":[1,{"y":null}]})");
  auto r = run("core.noop", "{}", "{}");
  EXPECT_EQ(r.output_handles(), std::vector<std::string>{"main"});
  EXPECT_EQ(r.output(), "null");
}

// ---- core.set ----------------------------------------------------------------------------------

TEST_P(CoreNodes, SetMergesDottedPathsOntoACopyOfTheInput) {
  auto r = run("core.set", R"({"fields": {"b.d": 3, "e": "x", "a": 9}})", R"({"main": {"a": 1, "b": {"c": 2}}})");
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output(), R"({"a":9,"b":{"c":2,"d":3},"e":"x"})");  // existing keys keep their place
}

TEST_P(CoreNodes, SetReplaceBuildsANewObject) {
  auto r = run("core.set", R"({"mode": "replace", "fields": {"x.y.z": true, "n": [1]}})", R"({"main": {"a": 1}})");
  EXPECT_EQ(r.output(), R"({"x":{"y":{"z":true}},"n":[1]})");
  // Replace accepts any input, even one that is not an object.
  EXPECT_EQ(run("core.set", R"({"mode": "replace", "fields": {"k": 1}})", R"({"main": [1, 2]})").output(), R"({"k":1})");
}

TEST_P(CoreNodes, SetMergeOntoNothingAndWithoutFields) {
  EXPECT_EQ(run("core.set", R"({"fields": {"k": "v"}})", "{}").output(), R"({"k":"v"})");
  EXPECT_EQ(run("core.set", "{}", R"({"main": {"a": 1}})").output(), R"({"a":1})");
  EXPECT_EQ(run("core.set", R"({"fields": null})", "{}").output(), "{}");
}

TEST_P(CoreNodes, SetRefusesToOverwriteThroughANonObject) {
  auto r = run("core.set", R"({"fields": {"a.b": 1}})", R"({"main": {"a": 5}})");
  expect_invalid(r, "path_conflict", "cannot set 'a.b': 'a' is number, not an object");
  EXPECT_EQ(member(r.error_details(), "field"), R"("a.b")");
  r = run("core.set", R"({"mode": "replace", "fields": {"a": "s", "a.b.c": 1}})", "{}");
  expect_invalid(r, "path_conflict", "'a' is string");
}

TEST_P(CoreNodes, SetValidatesItsParametersAndInput) {
  expect_invalid(run("core.set", R"({"fields": [1]})", "{}"), "invalid_parameter",
                 "parameter 'fields' must be an object of key to value, not array");
  expect_invalid(run("core.set", R"({"fields": {}, "mode": "upsert"})", "{}"), "invalid_parameter",
                 "parameter 'mode' is \"upsert\"; expected one of merge, replace");
  expect_invalid(run("core.set", R"({"fields": {"a..b": 1}})", "{}"), "invalid_parameter", "parameter 'fields.a..b'");
  expect_invalid(run("core.set", R"({"fields": {"": 1}})", "{}"), "invalid_parameter", "empty path segment");
  expect_invalid(run("core.set", R"({"fields": {"a": 1}})", R"({"main": [1]})"), "input_not_object",
                 "the input on 'main' is array; mode 'merge' needs an object");
}

// ---- core.if -----------------------------------------------------------------------------------

TEST_P(CoreNodes, IfRoutesByTruthiness) {
  for (const char* falsy : {"false", "null", "0", "0.0", "\"\"", "[]", "{}"}) {
    auto r = run("core.if", std::string(R"({"condition": )") + falsy + "}", R"({"main": {"x": 1}})");
    ASSERT_TRUE(r.ok()) << falsy << " " << r.error_json;
    EXPECT_EQ(r.output_handles(), std::vector<std::string>{"false"}) << falsy;
    EXPECT_EQ(r.output("false"), R"({"x":1})") << falsy;
  }
  for (const char* truthy : {"true", "1", "-0.5", "\"false\"", "\"0\"", "[0]", "{\"a\": null}"}) {
    auto r = run("core.if", std::string(R"({"condition": )") + truthy + "}", R"({"main": {"x": 1}})");
    ASSERT_TRUE(r.ok()) << truthy;
    EXPECT_EQ(r.output_handles(), std::vector<std::string>{"true"}) << truthy;
    EXPECT_EQ(r.output("true"), R"({"x":1})");
  }
}

TEST_P(CoreNodes, IfNeedsACondition) {
  expect_invalid(run("core.if", "{}", R"({"main": 1})"), "missing_parameter", "'condition' is required");
  EXPECT_EQ(run("core.if", R"({"condition": true})", "{}").output("true"), "null");
}

// ---- core.switch -------------------------------------------------------------------------------

constexpr const char* kRules =
    R"([{"output": "a", "condition": false}, {"output": "b", "condition": 1}, {"output": "c", "condition": "yes"}])";

TEST_P(CoreNodes, SwitchFirstTakesTheFirstMatchingRule) {
  auto r = run("core.switch", std::string(R"({"rules": )") + kRules + "}", R"({"main": {"v": 1}})");
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output_handles(), std::vector<std::string>{"b"});
  EXPECT_EQ(r.output("b"), R"({"v":1})");
}

TEST_P(CoreNodes, SwitchAllTakesEveryMatchingRuleOnce) {
  auto r = run("core.switch",
               R"({"mode": "all", "rules": [{"output": "b", "condition": true}, {"output": "c", "condition": 1},
                   {"output": "b", "condition": true}, {"output": "d", "condition": 0}]})",
               R"({"main": 7})");
  EXPECT_EQ(r.output_handles(), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(r.output("c"), "7");
}

TEST_P(CoreNodes, SwitchFallsBack) {
  const std::string none = R"([{"output": "a", "condition": false}])";
  EXPECT_EQ(run("core.switch", R"({"rules": )" + none + "}", R"({"main": 1})").output_handles(),
            std::vector<std::string>{"default"});
  EXPECT_EQ(run("core.switch", R"({"fallback_output": "a", "rules": )" + none + "}", R"({"main": 1})").output_handles(),
            std::vector<std::string>{"a"});
  auto r = run("core.switch", R"({"fallback_output": "", "rules": )" + none + "}", R"({"main": 1})");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.output_handles().empty());
  EXPECT_EQ(r.output_json, "{}");
  EXPECT_EQ(run("core.switch", "{}", R"({"main": 1})").output("default"), "1");
}

TEST_P(CoreNodes, SwitchValidatesEveryRule) {
  expect_invalid(run("core.switch", R"({"rules": {"a": 1}})", "{}"), "invalid_parameter", "parameter 'rules' must be");
  expect_invalid(run("core.switch", R"({"rules": [1]})", "{}"), "invalid_parameter", "'rules[0]' must be an object");
  expect_invalid(run("core.switch", R"({"rules": [{"output": "ok", "condition": true}, {"condition": true}]})", "{}"),
                 "invalid_parameter", "'rules[1].output'");
  expect_invalid(run("core.switch", R"({"rules": [{"output": "error", "condition": true}]})", "{}"),
                 "invalid_parameter", "other than \"error\"");
  expect_invalid(run("core.switch", R"({"rules": [{"output": "has space", "condition": true}]})", "{}"),
                 "invalid_parameter", "'rules[0].output'");
  expect_invalid(run("core.switch", R"({"rules": [{"output": "x"}]})", "{}"), "invalid_parameter",
                 "'rules[0].condition' is required");
  expect_invalid(run("core.switch", R"({"fallback_output": "nowhere", "rules": []})", "{}"), "invalid_parameter",
                 "'fallback_output' \"nowhere\" is neither");
  expect_invalid(run("core.switch", R"({"mode": "any"})", "{}"), "invalid_parameter", "expected one of first, all");
}

// ---- core.merge --------------------------------------------------------------------------------

constexpr const char* kArrivals =
    R"({"main": [{"from": "a", "data": {"x": 1, "y": 1}}, {"from": "b", "data": {"y": 2}}, {"from": "c", "data": null}]})";

TEST_P(CoreNodes, MergeCombinesAsArrayObjectOrMergedObjects) {
  EXPECT_EQ(run("core.merge", "{}", kArrivals).output(), R"([{"x":1,"y":1},{"y":2},null])");
  EXPECT_EQ(run("core.merge", R"({"combine": "object"})", kArrivals).output(),
            R"({"a":{"x":1,"y":1},"b":{"y":2},"c":null})");
  EXPECT_EQ(run("core.merge", R"({"combine": "merge_objects"})", kArrivals).output(), R"({"x":1,"y":2})");
}

TEST_P(CoreNodes, MergeFirstPassesTheFirstArrivalThrough) {
  EXPECT_EQ(run("core.merge", R"({"mode": "first"})", kArrivals).output(), R"({"x":1,"y":1})");
  EXPECT_EQ(run("core.merge", R"({"mode": "first", "combine": "object"})", kArrivals).output(), R"({"x":1,"y":1})");
  EXPECT_EQ(run("core.merge", R"({"mode": "first"})", "{}").output(), "null");
}

TEST_P(CoreNodes, MergeOfNothing) {
  EXPECT_EQ(run("core.merge", "{}", "{}").output(), "[]");
  EXPECT_EQ(run("core.merge", R"({"combine": "object"})", R"({"main": []})").output(), "{}");
}

TEST_P(CoreNodes, MergeRejectsMalformedArrivals) {
  expect_invalid(run("core.merge", R"({"combine": "merge_objects"})",
                     R"({"main": [{"from": "a", "data": {}}, {"from": "n7", "data": [1]}]})"),
                 "not_an_object", "the data from 'n7' is array");
  expect_invalid(run("core.merge", "{}", R"({"main": {"from": "a", "data": 1}})"), "invalid_merge_input",
                 "expected an array");
  expect_invalid(run("core.merge", "{}", R"({"main": [{"data": 1}]})"), "invalid_merge_input", "entry 0");
  expect_invalid(run("core.merge", R"({"combine": "zip"})", "{}"), "invalid_parameter", "parameter 'combine'");
}

// ---- core.loop ---------------------------------------------------------------------------------

TEST_P(CoreNodes, LoopNormalisesItems) {
  EXPECT_EQ(run("core.loop", "{}", R"({"main": [1, {"a": 2}]})").output("items"), R"([1,{"a":2}])");
  EXPECT_EQ(run("core.loop", "{}", R"({"main": null})").output("items"), "[]");
  EXPECT_EQ(run("core.loop", "{}", "{}").output("items"), "[]");
  EXPECT_EQ(run("core.loop", "{}", R"({"main": 5})").output("items"), "[5]");
  EXPECT_EQ(run("core.loop", "{}", R"({"main": {"k": 1}})").output("items"), R"([{"k":1}])");
  EXPECT_EQ(run("core.loop", "{}", R"({"main": [1]})").output_handles(), std::vector<std::string>{"items"});
}

TEST_P(CoreNodes, LoopRefusesTooManyItems) {
  auto r = run("core.loop", R"({"max_iterations": 2})", R"({"main": [1, 2, 3]})");
  expect_invalid(r, "too_many_items", "3 items exceed max_iterations 2");
  EXPECT_EQ(r.error_details(), R"({"items":3,"max_iterations":2})");
  EXPECT_TRUE(run("core.loop", R"({"max_iterations": 3})", R"({"main": [1, 2, 3]})").ok());
  expect_invalid(run("core.loop", R"({"max_iterations": 0})", "{}"), "invalid_parameter", "between 1 and 1000000");
  expect_invalid(run("core.loop", R"({"max_iterations": 1000001})", "{}"), "invalid_parameter", "between 1 and 1000000");
  expect_invalid(run("core.loop", R"({"max_iterations": "ten"})", "{}"), "invalid_parameter", "must be an integer");
}

// ---- core.wait ---------------------------------------------------------------------------------

TEST_P(CoreNodes, WaitOfZeroOrThePastContinuesAtOnce) {
  EXPECT_EQ(run("core.wait", R"({"seconds": 0})", R"({"main": {"a": 1}})").output(), R"({"a":1})");
  EXPECT_EQ(run("core.wait", R"({"until": "2001-01-01T00:00:00Z"})", R"({"main": 2})").output(), "2");
  EXPECT_EQ(run("core.wait", R"({"until": 1000})", R"({"main": 3})").output(), "3");
}

TEST_P(CoreNodes, WaitParksUntilTheTarget) {
  const int64_t before = wall_now_ms();
  auto r = run("core.wait", R"({"seconds": 60})", R"({"main": 1})");
  const int64_t after = wall_now_ms();
  ASSERT_TRUE(r.parked()) << r.error_json << r.output_json;
  ASSERT_TRUE(r.wake_at_ms().has_value());
  EXPECT_GE(*r.wake_at_ms(), before + 60000);
  EXPECT_LE(*r.wake_at_ms(), after + 60000);
  EXPECT_TRUE(r.output_json.empty());

  r = run("core.wait", R"({"seconds": 0.0015})", "{}");  // rounds up to whole milliseconds
  ASSERT_TRUE(r.parked() || r.ok());

  r = run("core.wait", R"({"until": "2999-01-01T00:00:00Z"})", "{}");
  EXPECT_EQ(r.wake_at_ms(), 32472144000000);
  r = run("core.wait", R"({"until": "2999-01-01T02:30:00.250+02:30"})", "{}");
  EXPECT_EQ(r.wake_at_ms(), 32472144000250);
  r = run("core.wait", R"({"until": 32472144000000})", "{}");
  EXPECT_EQ(r.wake_at_ms(), 32472144000000);
  EXPECT_EQ(r.park_json, R"({"wake_at_ms":32472144000000})");
}

TEST_P(CoreNodes, WaitResumedByItsTimerPassesTheInput) {
  ExecuteOptions o;
  o.resume_json = R"({"reason": "timer"})";
  EXPECT_EQ(run("core.wait", R"({"seconds": 60})", R"({"main": {"k": 1}})", o).output(), R"({"k":1})");
  o.resume_json = R"({"reason": "answer", "answer": 1})";
  expect_invalid(run("core.wait", R"({"seconds": 60})", "{}", o), "unexpected_resume", "reason \"answer\"");
}

TEST_P(CoreNodes, WaitValidatesItsParameters) {
  expect_invalid(run("core.wait", "{}", "{}"), "missing_parameter", "set either 'seconds' or 'until'");
  expect_invalid(run("core.wait", R"({"seconds": 1, "until": 5})", "{}"), "invalid_parameter", "only one");
  expect_invalid(run("core.wait", R"({"seconds": -1})", "{}"), "invalid_parameter", "parameter 'seconds' is -1");
  expect_invalid(run("core.wait", R"({"seconds": 315360001})", "{}"), "invalid_parameter", "'seconds'");
  expect_invalid(run("core.wait", R"({"seconds": "5"})", "{}"), "invalid_parameter", "must be a number, not string");
  expect_invalid(run("core.wait", R"({"until": "2026-02-30T00:00:00Z"})", "{}"), "invalid_parameter",
                 "is not a valid date and time");
  expect_invalid(run("core.wait", R"({"until": "2026-01-02T03:04:05"})", "{}"), "invalid_parameter",
                 "has no time zone");
  expect_invalid(run("core.wait", R"({"until": "tomorrow"})", "{}"), "invalid_parameter", "is not an ISO-8601 time");
  expect_invalid(run("core.wait", R"({"until": [1]})", "{}"), "invalid_parameter", "not array");
  expect_invalid(run("core.wait", R"({"until": 1e300})", "{}"), "invalid_parameter", "sane range");
}

// ---- core.stop_and_error -----------------------------------------------------------------------

TEST_P(CoreNodes, StopAndErrorFailsWithoutRetry) {
  auto r = run("core.stop_and_error", R"({"message": "order 7 is invalid"})", R"({"main": 1})");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  EXPECT_EQ(r.error_code(), "stopped_by_workflow");
  EXPECT_EQ(r.error_message(), "order 7 is invalid");
  EXPECT_EQ(r.error_details(), "");

  r = run("core.stop_and_error", R"({"message": "m", "code": "quota.exceeded", "details": {"limit": 3}})", "{}");
  EXPECT_EQ(r.error_json, R"({"code":"quota.exceeded","message":"m","details":{"limit":3}})");
}

TEST_P(CoreNodes, StopAndErrorValidatesItsParameters) {
  expect_invalid(run("core.stop_and_error", "{}", "{}"), "missing_parameter", "'message' is required");
  expect_invalid(run("core.stop_and_error", R"({"message": ""})", "{}"), "invalid_parameter", "must not be empty");
  expect_invalid(run("core.stop_and_error", R"({"message": "m", "code": "has space"})", "{}"), "invalid_parameter",
                 "parameter 'code'");
  expect_invalid(run("core.stop_and_error", R"({"message": 5})", "{}"), "invalid_parameter", "must be a string");
}

// ---- core.filter -------------------------------------------------------------------------------

constexpr const char* kItems = R"({"main": [
  {"n": 1, "s": "apple", "tags": ["x", "y"], "o": {"k": 1}},
  {"n": 5, "s": "banana", "tags": [], "o": {}},
  {"n": 10, "s": "cherry", "e": null}
]})";

std::string one(const char* field, const char* op, const char* value = nullptr) {
  std::string c = std::string(R"({"conditions": [{"field": ")") + field + R"(", "op": ")" + op + "\"";
  if (value) c += std::string(R"(, "value": )") + value;
  return c + "}]}";
}

// The "n" of every kept item, e.g. "1,10".
std::string kept_ns(const ExecuteResult& r) {
  weft::sdk::Document d;
  if (!weft::sdk::parse_json(r.output("main"), d).empty() || !d.IsArray()) return "<not an array>";
  std::string out;
  for (const auto& item : d.GetArray()) {
    if (!out.empty()) out += ",";
    out += item.IsObject() && item.HasMember("n") ? weft::sdk::to_json(item["n"]) : weft::sdk::to_json(item);
  }
  return out;
}

TEST_P(CoreNodes, FilterOperators) {
  struct Case {
    std::string params;
    const char* kept;
  };
  const Case cases[] = {
      {one("n", "eq", "5"), "5"},
      {one("n", "eq", "5.0"), "5"},
      {one("n", "ne", "5"), "1,10"},
      {one("n", "gt", "1"), "5,10"},
      {one("n", "gte", "5"), "5,10"},
      {one("n", "lt", "5"), "1"},
      {one("n", "lte", "5"), "1,5"},
      {one("s", "gt", "\"b\""), "5,10"},
      {one("s", "gt", "1"), ""},  // string vs number: not comparable, never matches
      {one("s", "contains", "\"an\""), "5"},
      {one("tags", "contains", "\"x\""), "1"},
      {one("o", "contains", "\"k\""), "1"},
      {one("s", "not_contains", "\"an\""), "1,10"},
      {one("s", "starts_with", "\"ch\""), "10"},
      {one("s", "ends_with", "\"a\""), "5"},
      {one("tags", "exists"), "1,5"},
      {one("e", "exists"), ""},  // present but null
      {one("e", "not_exists"), "1,5,10"},
      {one("tags", "is_empty"), "5,10"},
      {one("o", "is_not_empty"), "1"},
      {one("missing", "eq", "null"), "1,5,10"},
      {one("tags.0", "eq", "\"x\""), "1"},
      {one("o.k", "gte", "1"), "1"},
      {one("tags", "eq", R"(["x", "y"])"), "1"},
  };
  for (const Case& c : cases) {
    auto r = run("core.filter", c.params, kItems);
    ASSERT_TRUE(r.ok()) << c.params << " " << r.error_json;
    EXPECT_EQ(kept_ns(r), c.kept) << c.params;
    EXPECT_EQ(r.output_handles(), (std::vector<std::string>{"main", "discarded"}));
  }
}

TEST_P(CoreNodes, FilterCombinesConditionsAndSplitsItems) {
  const char* both = R"([{"field": "n", "op": "gt", "value": 1}, {"field": "s", "op": "starts_with", "value": "b"}])";
  auto r = run("core.filter", std::string(R"({"conditions": )") + both + "}", kItems);
  EXPECT_EQ(kept_ns(r), "5");
  weft::sdk::Document discarded;
  ASSERT_EQ(weft::sdk::parse_json(r.output("discarded"), discarded), "");
  EXPECT_EQ(discarded.Size(), 2u);
  r = run("core.filter", std::string(R"({"combine": "or", "conditions": )") + both + "}", kItems);
  EXPECT_EQ(kept_ns(r), "5,10");
  r = run("core.filter", "{}", kItems);  // no conditions: everything is kept
  EXPECT_EQ(kept_ns(r), "1,5,10");
  EXPECT_EQ(r.output("discarded"), "[]");
}

TEST_P(CoreNodes, FilterItemsThemselvesAndNonArrays) {
  EXPECT_EQ(run("core.filter", one("", "gt", "3"), R"({"main": [1, 5, 10]})").output(), "[5,10]");
  auto r = run("core.filter", one("", "gt", "3"), R"({"main": 2})");  // one item
  EXPECT_EQ(r.output("main"), "[]");
  EXPECT_EQ(r.output("discarded"), "[2]");
  r = run("core.filter", one("", "gt", "3"), "{}");
  EXPECT_EQ(r.output("main"), "[]");
  EXPECT_EQ(r.output("discarded"), "[]");
}

TEST_P(CoreNodes, FilterValidatesEveryCondition) {
  expect_invalid(run("core.filter", one("n", "regex", "\"a+\""), kItems), "invalid_parameter",
                 "'conditions[0].op' \"regex\" is not an operator; expected one of eq, ne");
  expect_invalid(run("core.filter", one("n", "eq"), kItems), "invalid_parameter", "'conditions[0].value' is required");
  expect_invalid(run("core.filter", one("s", "starts_with", "1"), kItems), "invalid_parameter",
                 "'conditions[0].value' must be a string");
  expect_invalid(run("core.filter", one("n", "gt", "[1]"), kItems), "invalid_parameter", "a number or a string");
  expect_invalid(run("core.filter", one("a..b", "exists"), kItems), "invalid_parameter", "'conditions[0].field'");
  expect_invalid(run("core.filter", R"({"conditions": {"field": "n"}})", kItems), "invalid_parameter",
                 "parameter 'conditions' must be an array");
  expect_invalid(run("core.filter", R"({"conditions": ["n"]})", kItems), "invalid_parameter",
                 "'conditions[0]' must be an object");
  expect_invalid(run("core.filter", R"({"conditions": [{"field": 1, "op": "exists"}]})", kItems), "invalid_parameter",
                 "'conditions[0].field'");
  expect_invalid(run("core.filter", R"({"combine": "xor"})", kItems), "invalid_parameter", "expected one of and, or");
  // Even when there is no item a bad condition is reported.
  expect_invalid(run("core.filter", one("n", "bogus", "1"), "{}"), "invalid_parameter", "bogus");
}

// ---- core.approval -------------------------------------------------------------------------------

std::string park_member(const ExecuteResult& r, const char* key) { return member(r.park_request(), key); }

TEST_P(CoreNodes, ApprovalParksWithAnApprovalRequest) {
  auto r = run("core.approval", R"({"title": "Refund", "message": "120 EUR", "approvers": ["a@x.io", "u2"], "mode": "all"})",
               R"({"main": {"amount": 120}})");
  ASSERT_TRUE(r.parked()) << r.error_json;
  EXPECT_FALSE(r.wake_at_ms().has_value()) << "no timeout, no timer";
  EXPECT_EQ(r.park_request(),
            R"({"kind":"approval","title":"Refund","message":"120 EUR","approvers":["a@x.io","u2"],"mode":"all","options":["approve","reject"]})");
  // Defaults; one approver as a string; a timeout parks with a timer too.
  const int64_t before = wall_now_ms();
  r = run("core.approval", R"({"approvers": "boss@x.io", "timeout_seconds": 30, "on_timeout": "approve"})", "{}");
  ASSERT_TRUE(r.parked()) << r.error_json;
  ASSERT_TRUE(r.wake_at_ms().has_value());
  EXPECT_GE(*r.wake_at_ms(), before + 30000);
  EXPECT_LE(*r.wake_at_ms(), wall_now_ms() + 30000);
  EXPECT_EQ(park_member(r, "title"), R"("Approval required")");
  EXPECT_EQ(park_member(r, "approvers"), R"(["boss@x.io"])");
  EXPECT_EQ(park_member(r, "mode"), R"("any")");
  EXPECT_EQ(park_member(r, "on_timeout"), R"("approve")");
  EXPECT_EQ(park_member(r, "timeout_seconds"), "30.0");
  r = run("core.approval", R"({"approvers": []})", "{}");
  EXPECT_EQ(park_member(r, "approvers"), "[]");
}

TEST_P(CoreNodes, ApprovalRoutesTheAnswer) {
  ExecuteOptions o;
  o.resume_json = R"({"reason": "answer", "answer": {"decision": "approve", "approved": true, "comment": "fine",
                      "by": "u2", "votes": [{"user_id": "u2", "decision": "approve"}]}})";
  auto r = run("core.approval", R"({"title": "t"})", R"({"main": {"k": 1}})", o);
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output_handles(), std::vector<std::string>{"approved"});
  EXPECT_EQ(r.output("approved"),
            R"({"approved":true,"decision":"approve","comment":"fine","by":"u2","votes":[{"user_id":"u2","decision":"approve"}],"timed_out":false,"data":{"k":1}})");
  o.resume_json = R"({"reason": "answer", "answer": {"decision": "reject", "approved": false, "by": "u3"}})";
  r = run("core.approval", R"({"title": "t"})", R"({"main": 5})", o);
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output_handles(), std::vector<std::string>{"rejected"});
  EXPECT_EQ(r.output("rejected"),
            R"({"approved":false,"decision":"reject","comment":null,"by":"u3","votes":[],"timed_out":false,"data":5})");
  o.resume_json = R"({"reason": "answer", "answer": {"decision": "maybe"}})";
  expect_invalid(run("core.approval", "{}", "{}", o), "invalid_answer", "no decision");
}

TEST_P(CoreNodes, ApprovalTimeoutOutcomes) {
  ExecuteOptions o;
  o.resume_json = R"({"reason": "timer"})";
  auto r = run("core.approval", R"({"timeout_seconds": 5})", R"({"main": 1})", o);  // default: reject
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output("rejected"),
            R"({"approved":false,"decision":"reject","comment":null,"by":null,"votes":[],"timed_out":true,"data":1})");
  r = run("core.approval", R"({"timeout_seconds": 5, "on_timeout": "approve"})", R"({"main": 1})", o);
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output_handles(), std::vector<std::string>{"approved"});
  EXPECT_EQ(member(r.output("approved"), "timed_out"), "true");
  r = run("core.approval", R"({"timeout_seconds": 5, "on_timeout": "fail"})", R"({"main": 1})", o);
  expect_invalid(r, "approval_timeout", "no decision arrived");
  o.resume_json = R"({"reason": "retry"})";
  expect_invalid(run("core.approval", "{}", "{}", o), "unexpected_resume", "reason \"retry\"");
}

TEST_P(CoreNodes, ApprovalValidatesItsParameters) {
  expect_invalid(run("core.approval", R"({"approvers": 5})", "{}"), "invalid_parameter", "must be an array");
  expect_invalid(run("core.approval", R"({"approvers": ["a", ""]})", "{}"), "invalid_parameter", "'approvers[1]'");
  expect_invalid(run("core.approval", R"({"approvers": [7]})", "{}"), "invalid_parameter", "'approvers[0]'");
  std::string many = "[";
  for (int i = 0; i < 51; ++i) many += (i ? ",\"u" : "\"u") + std::to_string(i) + "\"";
  expect_invalid(run("core.approval", R"({"approvers": )" + many + "]}", "{}"), "invalid_parameter", "at most 50");
  expect_invalid(run("core.approval", R"({"mode": "most"})", "{}"), "invalid_parameter", "expected one of any, all");
  expect_invalid(run("core.approval", R"({"on_timeout": "ignore"})", "{}"), "invalid_parameter", "'on_timeout'");
  expect_invalid(run("core.approval", R"({"timeout_seconds": 0})", "{}"), "invalid_parameter", "'timeout_seconds'");
  expect_invalid(run("core.approval", R"({"title": 3})", "{}"), "invalid_parameter", "'title'");
}

// ---- core.clarification ----------------------------------------------------------------------------

TEST_P(CoreNodes, ClarificationParksWithAQuestion) {
  auto r = run("core.clarification", R"({"question": "Size?", "options": ["s", "m"]})", "{}");
  ASSERT_TRUE(r.parked()) << r.error_json;
  EXPECT_FALSE(r.wake_at_ms().has_value());
  EXPECT_EQ(r.park_request(), R"({"kind":"clarification","question":"Size?","options":["s","m"],"allow_free_text":false})");
  r = run("core.clarification", R"({"question": "Why?", "timeout_seconds": 60, "default_answer": "no reason"})", "{}");
  ASSERT_TRUE(r.parked()) << r.error_json;
  EXPECT_TRUE(r.wake_at_ms().has_value());
  EXPECT_EQ(park_member(r, "allow_free_text"), "true");
  EXPECT_EQ(park_member(r, "default_answer"), R"("no reason")");
  r = run("core.clarification", R"({"question": "Size?", "options": ["s"], "allow_free_text": true})", "{}");
  EXPECT_EQ(park_member(r, "allow_free_text"), "true");
}

TEST_P(CoreNodes, ClarificationOutputsTheAnswerItself) {
  ExecuteOptions o;
  o.resume_json = R"({"reason": "answer", "answer": {"answer": "m", "by": "u1"}})";
  auto r = run("core.clarification", R"({"question": "Size?", "options": ["s", "m"]})", "{}", o);
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output(), R"("m")");
  o.resume_json = R"({"reason": "answer", "answer": {"answer": "xl", "by": "u1"}})";
  expect_invalid(run("core.clarification", R"({"question": "Size?", "options": ["s", "m"]})", "{}", o),
                 "invalid_answer", "not one of the options");
  r = run("core.clarification", R"({"question": "Size?", "options": ["s"], "allow_free_text": true})", "{}", o);
  EXPECT_EQ(r.output(), R"("xl")");
  o.resume_json = R"({"reason": "answer", "answer": {"answer": {"any": "json"}, "by": "u1"}})";
  r = run("core.clarification", R"({"question": "Anything?"})", "{}", o);
  EXPECT_EQ(r.output(), R"({"any":"json"})");
  o.resume_json = R"({"reason": "answer", "answer": {"by": "u1"}})";
  expect_invalid(run("core.clarification", R"({"question": "q"})", "{}", o), "invalid_answer", "no \"answer\"");
}

TEST_P(CoreNodes, ClarificationTimeout) {
  ExecuteOptions o;
  o.resume_json = R"({"reason": "timer"})";
  auto r = run("core.clarification", R"({"question": "q", "timeout_seconds": 5, "default_answer": {"size": "m"}})", "{}", o);
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output(), R"({"size":"m"})");
  expect_invalid(run("core.clarification", R"({"question": "q", "timeout_seconds": 5})", "{}", o),
                 "clarification_timeout", "no answer arrived");
}

TEST_P(CoreNodes, ClarificationValidatesItsParameters) {
  expect_invalid(run("core.clarification", "{}", "{}"), "missing_parameter", "'question'");
  expect_invalid(run("core.clarification", R"({"question": ""})", "{}"), "invalid_parameter", "must not be empty");
  expect_invalid(run("core.clarification", R"({"question": "q", "options": "a,b"})", "{}"), "invalid_parameter",
                 "must be an array of strings");
  expect_invalid(run("core.clarification", R"({"question": "q", "options": ["a", 2]})", "{}"), "invalid_parameter",
                 "'options[1]'");
  expect_invalid(run("core.clarification", R"({"question": "q", "allow_free_text": false})", "{}"),
                 "invalid_parameter", "nothing could be answered");
  expect_invalid(run("core.clarification", R"({"question": "q", "timeout_seconds": 31536001})", "{}"),
                 "invalid_parameter", "'timeout_seconds'");
}

// ---- core.error_trigger ----------------------------------------------------------------------------

TEST_P(CoreNodes, ErrorTriggerOutputsTheFailure) {
  auto r = run("core.error_trigger", "{}", R"({"main": {"execution_id": "e1", "error": {"code": "node_failed"}}})");
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output(), R"({"execution_id":"e1","error":{"code":"node_failed"}})");
}

// ---- the ISO-8601 parser on its own ------------------------------------------------------------

TEST(CoreTime, ParsesIso8601) {
  std::string err;
  EXPECT_EQ(weft::core_pack::parse_iso8601_ms("2026-01-02T03:04:05Z", err), 1767323045000);
  EXPECT_EQ(weft::core_pack::parse_iso8601_ms("2026-01-02t03:04:05z", err), 1767323045000);
  EXPECT_EQ(weft::core_pack::parse_iso8601_ms("2026-01-02 03:04:05.123456789Z", err), 1767323045123);
  EXPECT_EQ(weft::core_pack::parse_iso8601_ms("2026-01-02T05:04:05+0200", err), 1767323045000);
  EXPECT_EQ(weft::core_pack::parse_iso8601_ms("2026-01-01T22:04:05-05:00", err), 1767323045000);
  EXPECT_EQ(weft::core_pack::parse_iso8601_ms("2024-02-29T23:59:59Z", err), 1709251199000);  // leap day
  EXPECT_EQ(weft::core_pack::parse_iso8601_ms("1970-01-01T00:00:00Z", err), 0);
  for (const char* bad : {"", "2026", "2026-01-02", "2026-1-02T03:04:05Z", "2023-02-29T00:00:00Z",
                          "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
                          "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00Zjunk", "2026-01-01T00:00:00+25:00",
                          "1969-12-31T23:59:59Z", "2026-01-01T00:00:00+2"}) {
    err.clear();
    EXPECT_FALSE(weft::core_pack::parse_iso8601_ms(bad, err).has_value()) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

}  // namespace
