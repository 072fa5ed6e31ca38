// Tests of the plugin-author layer (weft/sdk.hpp) and the fake host (weft/testing/fake_host.hpp),
// through the probe plugin (probe_plugin.cpp) compiled into this binary and built as a .so.
#include <weft/testing/fake_host.hpp>

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using weft::testing::ExecuteOptions;
using weft::testing::FakeHost;
using weft::testing::FakeHostOptions;

constexpr uint32_t V(uint32_t major, uint32_t minor) { return WEFT_ABI_MAKE_VERSION(major, minor); }

std::string parse_member(const std::string& json, const char* key) {
  weft::sdk::Document d;
  if (!weft::sdk::parse_json(json, d).empty() || !d.IsObject() || !d.HasMember(key)) return "<absent>";
  return weft::sdk::to_json(d[key]);
}

// Runs version 1 of probe.echo (version 2 exists too, and is what version 0 = "highest" picks).
weft::testing::ExecuteResult echo(const FakeHost& host, std::string_view params, std::string_view input,
                                  ExecuteOptions o = {}) {
  o.type_version = 1;
  return host.execute("probe.echo", params, input, o);
}

// ---- negotiation -------------------------------------------------------------------------------

TEST(Negotiate, AnswersTheHighestCommonVersion) {
  static_assert(weft::sdk::kAbiMin == V(WEFT_ABI_VERSION_MAJOR, 0));
  static_assert(weft::sdk::kAbiMax == WEFT_ABI_VERSION);
  EXPECT_EQ(weft::sdk::negotiate(V(1, 0), V(1, 0)), V(1, 0));
  // A newer host offering more minors: the plugin speaks the newest it knows.
  EXPECT_EQ(weft::sdk::negotiate(V(1, 0), V(1, 7)), WEFT_ABI_VERSION);
  EXPECT_EQ(weft::sdk::negotiate(0, 0xFFFFFFFFu), WEFT_ABI_VERSION);
  EXPECT_EQ(weft::sdk::negotiate(V(WEFT_ABI_VERSION_MAJOR, 0), WEFT_ABI_VERSION), WEFT_ABI_VERSION);
}

TEST(Negotiate, AnswersZeroWithoutOverlap) {
  EXPECT_EQ(weft::sdk::negotiate(V(WEFT_ABI_VERSION_MAJOR + 1, 0), V(WEFT_ABI_VERSION_MAJOR + 2, 0)), 0u);
  EXPECT_EQ(weft::sdk::negotiate(V(0, 1), V(0, 9)), 0u);
  EXPECT_EQ(weft::sdk::negotiate(V(1, 5), V(1, 2)), 0u);  // an empty host range
  EXPECT_EQ(weft::sdk::negotiate(WEFT_ABI_VERSION + 1, WEFT_ABI_VERSION + 5), 0u);
}

TEST(Negotiate, TheExportedEntryPointAgrees) {
  EXPECT_EQ(weft_plugin_negotiate(V(1, 0), V(1, 9)), weft::sdk::negotiate(V(1, 0), V(1, 9)));
  EXPECT_EQ(weft_plugin_negotiate(V(9, 0), V(9, 9)), 0u);
}

TEST(FakeHostLoad, RefusesAPluginWithoutCommonVersion) {
  FakeHostOptions o;
  o.abi_min = V(WEFT_ABI_VERSION_MAJOR + 1, 0);
  o.abi_max = V(WEFT_ABI_VERSION_MAJOR + 1, 3);
  FakeHost host(o);
  EXPECT_EQ(host.load_linked(), WEFT_ERR_VERSION);
  EXPECT_NE(host.load_error().find("handshake failed"), std::string::npos) << host.load_error();
  EXPECT_FALSE(host.loaded());
  EXPECT_TRUE(host.node_types().empty());
}

// ---- init and registration ---------------------------------------------------------------------

TEST(Registration, RegistersEveryTypeWithItsStaticDescription) {
  FakeHost host;
  ASSERT_EQ(host.load_linked(), WEFT_OK) << host.load_error();
  EXPECT_EQ(host.negotiated_version(), WEFT_ABI_VERSION);
  EXPECT_TRUE(host.registration_problems().empty());
  std::set<std::string> names;
  for (const auto& t : host.node_types()) names.insert(t.type_name + "@" + std::to_string(t.type_version));
  EXPECT_EQ(names, (std::set<std::string>{"probe.echo@1", "probe.echo@2", "probe.throw@1", "probe.results@1",
                                          "probe.params@1", "probe.stats@1", "probe.prefixed@1"}));
  EXPECT_EQ(host.execute("probe.prefixed", "{}", R"({"main": "x"})").output(), R"("pre:x")");
  const auto* echo = host.find("probe.echo", 1);
  ASSERT_NE(echo, nullptr);
  EXPECT_EQ(echo->flags, WEFT_NODE_FLAG_SIDE_EFFECTS);
  EXPECT_EQ(echo->schema_json, R"({"display_name": "Echo"})");
  EXPECT_EQ(host.find("probe.echo")->type_version, 2u);  // 0 = highest
  EXPECT_EQ(host.execute("probe.echo", "{}", "{}", ExecuteOptions{"n", 1, "", "", "", false, 0, 2}).output(),
            R"({"version":2})");
}

TEST(Registration, HostLevelLogGoesThroughTheHost) {
  FakeHost host;
  ASSERT_EQ(host.load_linked(), WEFT_OK);
  bool seen = false;
  for (const auto& l : FakeHost::host_logs()) seen = seen || (l.message == "probe registered" && l.level == WEFT_LOG_INFO);
  EXPECT_TRUE(seen);
}

TEST(Registration, StorageBackendsAreRegisteredWithTheirStructSize) {
  FakeHostOptions o;
  o.config_json = R"({"storage": true})";
  FakeHost host(o);
  ASSERT_EQ(host.load_linked(), WEFT_OK) << host.load_error();
  ASSERT_EQ(host.storage_backends().size(), 1u);
  const auto& b = host.storage_backends()[0];
  EXPECT_EQ(b.scheme, "probe");
  EXPECT_EQ(b.backend.struct_size, sizeof(weft_storage_backend));
  // The guard() barrier turns the backend's exception into WEFT_ERR_INTERNAL + error JSON.
  std::string err;
  weft_sink sink{sizeof(weft_sink), &err, &weft::testing::detail::append_to_string};
  weft_storage_conn* conn = nullptr;
  EXPECT_EQ(b.backend.open(b.backend.backend_state, {"x", 1}, {"{}", 2}, &conn, &sink), WEFT_ERR_INTERNAL);
  EXPECT_EQ(parse_member(err, "code"), R"("exception")");
  EXPECT_NE(err.find("no storage here"), std::string::npos);
}

struct InitFailure {
  const char* config;
  weft_status status;
  const char* code;
};

class InitFailures : public ::testing::TestWithParam<InitFailure> {};

TEST_P(InitFailures, FailCleanlyAndReleaseEverything) {
  const InitFailure& p = GetParam();
  {
    FakeHostOptions o;
    o.config_json = p.config;
    FakeHost host(o);
    EXPECT_EQ(host.load_linked(), p.status) << host.load_error();
    EXPECT_EQ(parse_member(host.load_error(), "code"), std::string("\"") + p.code + "\"") << host.load_error();
    EXPECT_FALSE(host.loaded());
  }
  // Nothing of the failed init survives (nodes already registered were destroyed again) ...
  FakeHost host;
  ASSERT_EQ(host.load_linked(), WEFT_OK) << host.load_error();
  // ... and the plugin can be initialised again afterwards: the live nodes are this init's only.
  EXPECT_EQ(parse_member(host.execute("probe.stats").output(), "live_nodes"), "7");
}

INSTANTIATE_TEST_SUITE_P(
    Sdk, InitFailures,
    ::testing::Values(InitFailure{R"({"fail": true})", WEFT_ERR_INVALID_INPUT, "bad_config"},
                      InitFailure{R"({"throw": true})", WEFT_ERR_INTERNAL, "exception"},
                      InitFailure{R"({"duplicate": true})", WEFT_ERR_INVALID_INPUT, "duplicate_node_type"},
                      InitFailure{R"({"bad_schema": true})", WEFT_ERR_INVALID_INPUT, "invalid_schema"},
                      InitFailure{R"({"bad_name": true})", WEFT_ERR_INVALID_INPUT, "invalid_node_type"},
                      InitFailure{R"([1, 2])", WEFT_ERR_INVALID_INPUT, "invalid_config"},
                      InitFailure{R"({"unterminated": )", WEFT_ERR_INVALID_INPUT, "invalid_config"}));

TEST(Registration, ShutdownRunsHooksAndDestroysNodes) {
  int hooks_before;
  {
    FakeHost host;
    ASSERT_EQ(host.load_linked(), WEFT_OK);
    hooks_before = std::stoi(parse_member(host.execute("probe.stats").output(), "shutdown_hooks"));
    EXPECT_EQ(parse_member(host.execute("probe.stats").output(), "live_nodes"), "7");
    host.shutdown();
    EXPECT_FALSE(host.loaded());
    EXPECT_TRUE(host.node_types().empty());
  }
  FakeHost again;
  ASSERT_EQ(again.load_linked(), WEFT_OK);
  // The earlier shutdown ran exactly one hook; failed inits above ran theirs too, so compare.
  EXPECT_EQ(std::stoi(parse_member(again.execute("probe.stats").output(), "shutdown_hooks")), hooks_before + 1);
}

TEST(Registration, InitRefusesTooSmallArgumentsAndForeignVersions) {
  {
    FakeHostOptions o;
    o.init_args_size = offsetof(weft_plugin_init_args, registrar);  // registrar not covered
    FakeHost host(o);
    EXPECT_EQ(host.load_linked(), WEFT_ERR_VERSION);
  }
  {
    // Without a handshake the fake host inits at abi_max: a version the SDK does not speak.
    FakeHostOptions o;
    o.abi_max = V(WEFT_ABI_VERSION_MAJOR + 1, 0);
    FakeHost host(o);
    EXPECT_EQ(host.load(&weft_plugin_init, &weft_plugin_shutdown), WEFT_ERR_VERSION);
    EXPECT_EQ(parse_member(host.load_error(), "code"), R"("version")");
  }
}

TEST(Registration, AnOldRegistrarWithoutNodeTypesIsReported) {
  FakeHostOptions o;
  o.registrar_api_size = offsetof(weft_registrar_api, register_node_type);
  FakeHost host(o);
  EXPECT_EQ(host.load_linked(), WEFT_ERR_UNSUPPORTED);
  EXPECT_EQ(parse_member(host.load_error(), "code"), R"("unsupported")");
}

// ---- the request -------------------------------------------------------------------------------

class Probe : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(host.load_linked(), WEFT_OK) << host.load_error(); }
  FakeHost host;
};

TEST_F(Probe, TheContextSeesTheWholeRequest) {
  ExecuteOptions o;
  o.node_id = "echo1";
  o.attempt = 3;
  o.resume_json = R"({"reason": "answer", "answer": {"ok": true}})";
  o.context_json = R"({"execution_id": "e1", "workflow_id": "w1", "workflow_version": 4, "scope": "loop#2"})";
  o.idempotency_key = "e1:echo1:3";
  o.deadline_ms = 1;  // in the past on the monotonic clock: cancelled
  auto r = echo(host, R"({"p": [1, "two"]})", R"({"main": {"x": 1}, "other": null})", o);
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_TRUE(r.violations.empty());
  const std::string out = r.output();
  EXPECT_EQ(parse_member(out, "node_id"), R"("echo1")");
  EXPECT_EQ(parse_member(out, "type"), R"("probe.echo")");
  EXPECT_EQ(parse_member(out, "params"), R"({"p":[1,"two"]})");
  EXPECT_EQ(parse_member(out, "inputs"), R"({"main":{"x":1},"other":null})");
  EXPECT_EQ(parse_member(out, "resumed"), "true");
  EXPECT_EQ(parse_member(out, "resume"), R"({"reason":"answer","answer":{"ok":true}})");
  EXPECT_EQ(parse_member(out, "resume_reason"), R"("answer")");
  EXPECT_EQ(parse_member(out, "attempt"), "3");
  EXPECT_EQ(parse_member(out, "execution_id"), R"("e1")");
  EXPECT_EQ(parse_member(out, "idempotency_key"), R"("e1:echo1:3")");
  EXPECT_EQ(parse_member(out, "cancelled"), "true");
  EXPECT_EQ(parse_member(out, "deadline"), "1");
  EXPECT_EQ(parse_member(out, "has_remaining"), "true");
  EXPECT_EQ(parse_member(out, "abi_version"), std::to_string(WEFT_ABI_VERSION));
}

TEST_F(Probe, EmptyRequestStringsMeanNeutralValues) {
  ExecuteOptions o;
  auto r = echo(host, "", "", o);
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(parse_member(r.output(), "params"), "{}");
  EXPECT_EQ(parse_member(r.output(), "inputs"), "{}");
  EXPECT_EQ(parse_member(r.output(), "resumed"), "false");
  EXPECT_EQ(parse_member(r.output(), "resume"), "null");
  EXPECT_EQ(parse_member(r.output(), "cancelled"), "false");
  EXPECT_EQ(parse_member(r.output(), "has_remaining"), "false");
}

TEST_F(Probe, MalformedRequestJsonIsInvalidInputNamingTheField) {
  auto r = host.execute("probe.echo", "{", "{}");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  EXPECT_EQ(r.error_code(), "invalid_request");
  EXPECT_NE(r.error_message().find("params_json"), std::string::npos) << r.error_message();

  r = host.execute("probe.echo", "{}", "[1]");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  EXPECT_NE(r.error_message().find("input_json"), std::string::npos);
  EXPECT_NE(r.error_message().find("expected a JSON object, got array"), std::string::npos);

  ExecuteOptions o;
  o.resume_json = "{nope";
  r = host.execute("probe.echo", "{}", "{}", o);
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  EXPECT_NE(r.error_message().find("resume_json"), std::string::npos);

  // Invalid UTF-8 and excessive nesting are parse errors, not crashes.
  r = host.execute("probe.echo", std::string("{\"a\": \"\xff\"}"), "{}");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  r = host.execute("probe.echo", "{}", "{\"main\": " + std::string(100000, '[') + std::string(100000, ']') + "}");
  EXPECT_TRUE(r.ok() || r.status == WEFT_ERR_INVALID_INPUT);
  EXPECT_TRUE(r.violations.empty());
}

TEST(ProbeOldHost, AShorterRequestIsReadSafely) {
  FakeHostOptions old;
  old.request_size = offsetof(weft_node_request, attempt);  // no attempt, no context_json
  old.host_api_size = offsetof(weft_host_api, emit_event);  // only log
  FakeHost h(old);
  ASSERT_EQ(h.load_linked(), WEFT_OK);
  ExecuteOptions o;
  o.attempt = 9;
  o.context_json = R"({"execution_id": "hidden"})";
  o.cancelled = true;
  auto r = echo(h, R"({"a": 1})", "{}", o);
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(parse_member(r.output(), "attempt"), "1");
  EXPECT_EQ(parse_member(r.output(), "context"), "{}");
  EXPECT_EQ(parse_member(r.output(), "params"), R"({"a":1})");
  EXPECT_EQ(parse_member(r.output(), "cancelled"), "false");  // service not offered
  EXPECT_EQ(parse_member(r.output(), "idempotency_key"), R"("")");

  auto ev = h.execute("probe.results", R"({"mode": "events"})");
  EXPECT_EQ(ev.output(), "[5,5,5]");  // WEFT_ERR_UNSUPPORTED without emit_event
  auto lg = h.execute("probe.results", R"({"mode": "log"})");
  EXPECT_EQ(lg.logs.size(), 4u);
}

TEST(ProbeOldHost, AResultStructWithoutSinksStillReturnsTheStatus) {
  FakeHostOptions old;
  old.result_size = offsetof(weft_node_result, output);
  FakeHost h(old);
  ASSERT_EQ(h.load_linked(), WEFT_OK);
  auto r = h.execute("probe.results", R"({"mode": "invalid"})");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  EXPECT_TRUE(r.error_json.empty());
}

// ---- parameter readers -------------------------------------------------------------------------

TEST_F(Probe, ParameterReadersApplyDefaults) {
  auto r = host.execute("probe.params", "{}");
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output(), R"({"s":"dflt","n":1.5,"i":3,"b":false,"sel":"x"})");
  // null counts as "not set"; integral doubles are integers.
  r = host.execute("probe.params", R"({"s": null, "n": 10, "i": 7.0, "b": true, "sel": "y"})");
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(r.output(), R"({"s":"dflt","n":10.0,"i":7,"b":true,"sel":"y"})");
}

struct BadParam {
  const char* params;
  const char* code;
  const char* field;
  const char* words;
};
class ParameterErrors : public Probe, public ::testing::WithParamInterface<BadParam> {};

TEST_P(ParameterErrors, NameTheFieldAndTheProblem) {
  const BadParam& p = GetParam();
  auto r = host.execute("probe.params", p.params);
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT) << r.output_json;
  EXPECT_EQ(r.error_code(), p.code);
  EXPECT_EQ(parse_member(r.error_details(), "field"), std::string("\"") + p.field + "\"");
  EXPECT_NE(r.error_message().find(std::string("parameter '") + p.field + "'"), std::string::npos) << r.error_message();
  EXPECT_NE(r.error_message().find(p.words), std::string::npos) << r.error_message();
  EXPECT_NE(r.error_message().find("probe.params"), std::string::npos);
  EXPECT_TRUE(r.violations.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Sdk, ParameterErrors,
    ::testing::Values(BadParam{R"({"s": 1})", "invalid_parameter", "s", "must be a string, not number"},
                      BadParam{R"({"s": "toolong"})", "invalid_parameter", "s", "at most 5"},
                      BadParam{R"({"n": "1"})", "invalid_parameter", "n", "must be a number, not string"},
                      BadParam{R"({"n": 10.5})", "invalid_parameter", "n", "between 0 and 10"},
                      BadParam{R"({"n": -1})", "invalid_parameter", "n", "between 0 and 10"},
                      BadParam{R"({"i": 1.5})", "invalid_parameter", "i", "whole number"},
                      BadParam{R"({"i": 0})", "invalid_parameter", "i", "between 1 and 100"},
                      BadParam{R"({"i": true})", "invalid_parameter", "i", "must be an integer, not boolean"},
                      BadParam{R"({"b": "yes"})", "invalid_parameter", "b", "must be a boolean, not string"},
                      BadParam{R"({"sel": "z"})", "invalid_parameter", "sel", "expected one of x, y"},
                      BadParam{R"({"ask": 1})", "missing_parameter", "required_when_asked", "is required"}));

// ---- results -----------------------------------------------------------------------------------

TEST_F(Probe, OutputsAreAnObjectOfTakenHandles) {
  auto r = host.execute("probe.results", R"({"mode": "outputs"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output_json, R"({"a":2,"b":"x"})");
  EXPECT_EQ(r.output_handles(), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(r.has_output("main"));

  r = host.execute("probe.results", R"({"mode": "none"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output_json, "{}");

  r = host.execute("probe.results", R"({"mode": "default"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output_json, R"({"main":null})");

  r = host.execute("probe.results", R"({"mode": "output_json"})");
  EXPECT_EQ(r.output(), R"({"x":[1,2]})");
}

TEST_F(Probe, FailuresMapToStatuses) {
  auto r = host.execute("probe.results", R"({"mode": "retryable"})");
  EXPECT_EQ(r.status, WEFT_ERR_FAILED);
  EXPECT_EQ(r.error_json, R"({"code":"boom","message":"it failed","details":{"k":1}})");
  EXPECT_TRUE(r.output_json.empty());

  r = host.execute("probe.results", R"({"mode": "invalid"})");
  EXPECT_EQ(r.status, WEFT_ERR_INVALID_INPUT);
  EXPECT_EQ(r.error_code(), "bad_data");

  r = host.execute("probe.results", R"({"mode": "timeout"})");
  EXPECT_EQ(r.status, WEFT_ERR_TIMEOUT);
  EXPECT_EQ(r.error_code(), "too_slow");

  r = host.execute("probe.results", R"({"mode": "ok_status"})");
  EXPECT_EQ(r.status, WEFT_ERR_INTERNAL);

  // The first decision wins; outputs after a failure are dropped.
  r = host.execute("probe.results", R"({"mode": "fail_then_output"})");
  EXPECT_EQ(r.status, WEFT_ERR_FAILED);
  EXPECT_EQ(r.error_code(), "first");
  EXPECT_TRUE(r.output_json.empty());
  r = host.execute("probe.results", R"({"mode": "fail_twice"})");
  EXPECT_EQ(r.status, WEFT_ERR_FAILED);
  EXPECT_EQ(r.error_code(), "first");
  EXPECT_TRUE(r.park_json.empty());
  for (const char* m : {"retryable", "invalid", "timeout", "fail_twice"})
    EXPECT_TRUE(host.execute("probe.results", std::string(R"({"mode": ")") + m + "\"}").violations.empty()) << m;
}

TEST_F(Probe, ParkWritesWakeTimeAndOrRequest) {
  auto r = host.execute("probe.results", R"({"mode": "park_timer"})");
  EXPECT_EQ(r.status, WEFT_PARK);
  EXPECT_EQ(r.park_json, R"({"wake_at_ms":1234567890123})");
  EXPECT_EQ(r.wake_at_ms(), 1234567890123);
  EXPECT_TRUE(r.violations.empty());

  r = host.execute("probe.results", R"({"mode": "park_request"})");
  EXPECT_EQ(r.status, WEFT_PARK);
  EXPECT_EQ(r.park_request(), R"({"question":"ok?"})");
  EXPECT_FALSE(r.wake_at_ms().has_value());

  r = host.execute("probe.results", R"({"mode": "park_both"})");
  EXPECT_EQ(r.park_json, R"({"wake_at_ms":42,"request":{"question":"ok?"}})");

  r = host.execute("probe.results", R"({"mode": "park_nothing"})");
  EXPECT_EQ(r.status, WEFT_ERR_INTERNAL);
  EXPECT_EQ(r.error_code(), "invalid_park");
}

TEST_F(Probe, OutputsThatCannotBeJsonBecomeInternalErrors) {
  for (const char* m : {"nan", "bad_utf8", "output_json_bad"}) {
    auto r = host.execute("probe.results", std::string(R"({"mode": ")") + m + "\"}");
    EXPECT_EQ(r.status, WEFT_ERR_INTERNAL) << m;
    EXPECT_EQ(r.error_code(), "invalid_output") << m;
    EXPECT_TRUE(r.output_json.empty()) << m;
    EXPECT_TRUE(r.violations.empty()) << m;
  }
}

TEST_F(Probe, HostServicesReachTheHost) {
  auto r = host.execute("probe.results", R"({"mode": "events"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output(), "[0,1,0]");  // OK, INVALID_INPUT for non-JSON, OK
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].type, "progress");
  EXPECT_EQ(r.events[0].data_json, R"({"pct": 50})");
  EXPECT_EQ(r.events[1].data_json, "[1]");

  r = host.execute("probe.results", R"({"mode": "log"})");
  ASSERT_EQ(r.logs.size(), 4u);
  EXPECT_EQ(r.logs[0].level, WEFT_LOG_DEBUG);
  EXPECT_EQ(r.logs[3].level, WEFT_LOG_ERROR);
  EXPECT_EQ(r.logs[3].message, "e");
}

TEST(ProbeServices, CredentialsAndHttpThroughTheFakeHost) {
  FakeHostOptions o;
  o.credentials["cred-1"] = R"({"token": "t"})";
  o.http_handler = [](std::string_view req, std::string& out, std::string&) {
    out = std::string(R"({"status": 200, "echo": )") + std::string(req) + "}";
    return WEFT_OK;
  };
  FakeHost host(o);
  ASSERT_EQ(host.load_linked(), WEFT_OK);
  auto r = host.execute("probe.results", R"({"mode": "services"})");
  ASSERT_TRUE(r.ok()) << r.error_json;
  EXPECT_EQ(parse_member(r.output(), "cred_status"), "0");
  EXPECT_EQ(parse_member(r.output(), "cred"), R"("{\"token\": \"t\"}")");
  EXPECT_EQ(parse_member(r.output(), "missing_status"), std::to_string(WEFT_ERR_NOT_FOUND));
  EXPECT_EQ(parse_member(r.output(), "http_status"), "0");

  host.shutdown();  // the linked plugin is one instance per process: one FakeHost at a time
  FakeHost bare;  // no http handler: the table entry is NULL and the SDK says unsupported
  ASSERT_EQ(bare.load_linked(), WEFT_OK);
  r = bare.execute("probe.results", R"({"mode": "services"})");
  EXPECT_EQ(parse_member(r.output(), "http_status"), std::to_string(WEFT_ERR_UNSUPPORTED));
}

// ---- the exception barrier ---------------------------------------------------------------------

TEST_F(Probe, ExceptionsBecomeInternalErrorsNotCrashes) {
  struct Case {
    const char* what;
    const char* words;
  };
  for (Case c : {Case{"std", "kaboom"}, Case{"bad_alloc", "bad_alloc"}, Case{"int", "non-standard exception"},
                 Case{"json", "RapidJSON precondition failed"}, Case{"missing_member", "RapidJSON"}}) {
    auto r = host.execute("probe.throw", std::string(R"({"what": ")") + c.what + "\"}", R"({"main": {"n": 1}})");
    EXPECT_EQ(r.status, WEFT_ERR_INTERNAL) << c.what;
    EXPECT_EQ(r.error_code(), "exception") << c.what;
    EXPECT_NE(r.error_message().find("probe.throw"), std::string::npos) << r.error_message();
    EXPECT_NE(r.error_message().find(c.words), std::string::npos) << r.error_message();
    EXPECT_TRUE(r.output_json.empty());
    EXPECT_TRUE(r.violations.empty()) << r.violations[0];
  }
  // The plugin is still fine afterwards.
  EXPECT_EQ(host.execute("probe.throw", R"({"what": "nothing"})").output(), R"("did not throw")");
}

TEST_F(Probe, TheTrampolineSurvivesNullArguments) {
  const auto* t = host.find("probe.echo", 1);
  ASSERT_NE(t, nullptr);
  std::string err;
  weft_sink sink{sizeof(weft_sink), &err, &weft::testing::detail::append_to_string};
  weft_node_result res{sizeof(weft_node_result), nullptr, &sink, nullptr};
  EXPECT_EQ(t->execute(t->type_state, nullptr, &res), WEFT_ERR_VERSION);
  EXPECT_EQ(parse_member(err, "code"), R"("invalid_request")");
  err.clear();
  weft_node_request req{};
  req.struct_size = sizeof req;
  EXPECT_EQ(t->execute(nullptr, &req, &res), WEFT_ERR_INTERNAL);
  EXPECT_EQ(t->execute(t->type_state, &req, nullptr), WEFT_OK);  // nowhere to write: status only
}

TEST_F(Probe, ConcurrentExecutionsOfOneTypeAreIndependent) {
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string in = R"({"main": {"t": )" + std::to_string(t) + R"(, "i": )" + std::to_string(i) + "}}";
        auto r = echo(host, "{}", in);
        if (!r.ok() || parse_member(r.output(), "inputs") != R"({"main":{"t":)" + std::to_string(t) + R"(,"i":)" +
                                                                   std::to_string(i) + "}}")
          ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// ---- the same plugin as a real .so, next to the in-process copy -------------------------------

struct DlCloser {
  void operator()(void* h) const {
    if (h) dlclose(h);
  }
};

TEST(ProbeModule, ASecondCopyLoadedWithDlopenSharesNothing) {
  std::unique_ptr<void, DlCloser> lib(dlopen(WEFT_TEST_PROBE_PLUGIN, RTLD_NOW | RTLD_LOCAL));
  ASSERT_TRUE(lib) << dlerror();
  auto negotiate = reinterpret_cast<weft_plugin_negotiate_fn>(dlsym(lib.get(), WEFT_PLUGIN_NEGOTIATE_SYMBOL));
  auto init = reinterpret_cast<weft_plugin_init_fn>(dlsym(lib.get(), WEFT_PLUGIN_INIT_SYMBOL));
  auto shutdown = reinterpret_cast<weft_plugin_shutdown_fn>(dlsym(lib.get(), WEFT_PLUGIN_SHUTDOWN_SYMBOL));
  ASSERT_TRUE(negotiate && init && shutdown);
  EXPECT_NE(reinterpret_cast<void*>(init), reinterpret_cast<void*>(&weft_plugin_init));

  {
    FakeHost so_host, linked_host;
    ASSERT_EQ(so_host.load(negotiate, init, shutdown), WEFT_OK) << so_host.load_error();
    ASSERT_EQ(linked_host.load_linked(), WEFT_OK);
    EXPECT_EQ(parse_member(so_host.execute("probe.stats").output(), "live_nodes"), "7");
    EXPECT_EQ(parse_member(linked_host.execute("probe.stats").output(), "live_nodes"), "7");
    linked_host.shutdown();
    // Shutting the in-process copy down leaves the module's copy untouched.
    EXPECT_EQ(parse_member(so_host.execute("probe.stats").output(), "live_nodes"), "7");
    auto r = so_host.execute("probe.throw", R"({"what": "std"})");
    EXPECT_EQ(r.status, WEFT_ERR_INTERNAL);
    EXPECT_EQ(r.error_code(), "exception");
  }
}

TEST(ProbeModule, ExportsOnlyTheThreeEntryPoints) {
  std::string cmd = std::string("nm -D --defined-only ") + WEFT_TEST_PROBE_PLUGIN + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::set<std::string> symbols;
  char line[4096];
  while (fgets(line, sizeof line, p)) {
    // "<address> <type> <name>": keep code and data symbols (T/D/B/R/W/V...), skip absolutes.
    char addr[64], type[8], name[3000];
    if (sscanf(line, "%63s %7s %2999s", addr, type, name) == 3 && std::strcmp(type, "A") != 0) symbols.insert(name);
  }
  int rc = pclose(p);
  if (rc != 0 && symbols.empty()) GTEST_SKIP() << "nm is not available";
  EXPECT_EQ(symbols, (std::set<std::string>{"weft_plugin_negotiate", "weft_plugin_init", "weft_plugin_shutdown"}));
}

}  // namespace
