// A test plugin exercising every corner of weft/sdk.hpp. It is compiled twice: into sdk_tests
// (loaded in-process with FakeHost::load_linked) and as the module weft-sdk-probe.so (loaded with
// dlopen), which lets the tests check that two copies of the SDK in one process share nothing.
#include <weft/sdk.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>

namespace probe {

using weft::sdk::Context;
using weft::sdk::Value;

std::atomic<int> g_live_nodes{0};
std::atomic<int> g_shutdown_hooks{0};

// Counts live Node instances, so tests can see that shutdown (and failed inits) free them.
class Counted : public weft::sdk::Node {
 public:
  Counted() { ++g_live_nodes; }
  ~Counted() override { --g_live_nodes; }
};

class Echo final : public Counted {
 public:
  static constexpr std::string_view type_name = "probe.echo";
  static constexpr std::string_view schema = R"({"display_name": "Echo"})";
  static constexpr uint32_t flags = WEFT_NODE_FLAG_SIDE_EFFECTS;
  void execute(Context& ctx) const override {
    auto& a = ctx.allocator();
    Value o(rapidjson::kObjectType);
    o.AddMember("node_id", weft::sdk::make_string(ctx.node_id(), a), a);
    o.AddMember("type", weft::sdk::make_string(ctx.type_name(), a), a);
    o.AddMember("type_version", Value(ctx.type_version()), a);
    o.AddMember("params", Value(ctx.params(), a), a);
    o.AddMember("inputs", Value(ctx.inputs(), a), a);
    o.AddMember("resumed", Value(ctx.resumed()), a);
    o.AddMember("resume", Value(ctx.resume(), a), a);
    o.AddMember("resume_reason", weft::sdk::make_string(ctx.resume_reason(), a), a);
    o.AddMember("attempt", Value(ctx.attempt()), a);
    o.AddMember("context", Value(ctx.context(), a), a);
    o.AddMember("execution_id", weft::sdk::make_string(ctx.execution_id(), a), a);
    o.AddMember("idempotency_key", weft::sdk::make_string(ctx.idempotency_key(), a), a);
    o.AddMember("cancelled", Value(ctx.is_cancelled()), a);
    o.AddMember("deadline", Value(static_cast<int64_t>(ctx.deadline())), a);
    o.AddMember("has_remaining", Value(ctx.remaining_ms().has_value()), a);
    o.AddMember("abi_version", Value(ctx.abi_version()), a);
    ctx.output("main", std::move(o));
  }
};

// Version 2 of probe.echo, registered at run time through add_node().
class EchoV2 final : public Counted {
 public:
  void execute(Context& ctx) const override { ctx.output_json("main", R"({"version": 2})"); }
};

class Throw final : public Counted {
 public:
  static constexpr std::string_view type_name = "probe.throw";
  static constexpr std::string_view schema = R"({})";
  void execute(Context& ctx) const override {
    std::string_view what = weft::sdk::str_of(ctx.params()["what"]);
    if (what == "std") throw std::runtime_error("kaboom");
    if (what == "bad_alloc") throw std::bad_alloc();
    if (what == "int") throw 42;
    if (what == "json") {
      // RapidJSON precondition violation: GetString() on a number.
      ctx.output_string("main", ctx.input_or_null()["n"].GetString());
      return;
    }
    if (what == "missing_member") {
      ctx.output("main", ctx.params()["no_such_member"]);
      return;
    }
    ctx.output_string("main", "did not throw");
  }
};

class Results final : public Counted {
 public:
  static constexpr std::string_view type_name = "probe.results";
  static constexpr std::string_view schema = R"({})";
  void execute(Context& ctx) const override {
    auto& a = ctx.allocator();
    auto mode = ctx.string_param("mode");
    if (!mode) return;
    const std::string_view m = *mode;
    Value details(rapidjson::kObjectType);
    details.AddMember("k", 1, a);
    if (m == "outputs") {
      ctx.output("a", Value(1));
      ctx.output_string("b", "x");
      ctx.output("a", Value(2));
    } else if (m == "none") {
      ctx.no_output();
    } else if (m == "default") {
      // nothing: {"main": null}
    } else if (m == "retryable") {
      ctx.fail("boom", "it failed", &details);
    } else if (m == "invalid") {
      ctx.invalid_input("bad_data", "the data is bad");
    } else if (m == "timeout") {
      ctx.fail_with_status(WEFT_ERR_TIMEOUT, "too_slow", "the remote side took too long");
    } else if (m == "ok_status") {
      ctx.fail_with_status(WEFT_OK, "confused", "OK is not an error");
    } else if (m == "park_timer") {
      ctx.park_until(1234567890123);
    } else if (m == "park_request") {
      Value q(rapidjson::kObjectType);
      q.AddMember("question", "ok?", a);
      ctx.park_for_answer(q);
    } else if (m == "park_both") {
      Value q(rapidjson::kObjectType);
      q.AddMember("question", "ok?", a);
      ctx.park(42, &q);
    } else if (m == "park_nothing") {
      ctx.park(std::nullopt, nullptr);
    } else if (m == "fail_then_output") {
      ctx.fail("first", "the first failure");
      ctx.output_string("main", "ignored");
    } else if (m == "fail_twice") {
      ctx.fail("first", "the first failure");
      ctx.invalid_input("second", "the second failure");
      ctx.park_until(1);
    } else if (m == "nan") {
      ctx.output("main", Value(std::numeric_limits<double>::quiet_NaN()));
    } else if (m == "bad_utf8") {
      ctx.output_string("main", std::string_view("\xff\xfe", 2));
    } else if (m == "output_json") {
      ctx.output_json("main", R"({"x": [1, 2]})");
    } else if (m == "output_json_bad") {
      ctx.output_json("main", "{");
    } else if (m == "events") {
      weft_status ok = ctx.emit_event("progress", R"({"pct": 50})");
      weft_status bad = ctx.emit_event("progress", "not json");
      Value data(rapidjson::kArrayType);
      data.PushBack(1, a);
      weft_status val = ctx.emit_event("values", data);
      Value o(rapidjson::kArrayType);
      o.PushBack(static_cast<int>(ok), a).PushBack(static_cast<int>(bad), a).PushBack(static_cast<int>(val), a);
      ctx.output("main", std::move(o));
    } else if (m == "log") {
      ctx.log_debug("d");
      ctx.log_info("i");
      ctx.log_warn("w");
      ctx.log_error("e");
    } else if (m == "services") {
      std::string out, err;
      weft_status c1 = ctx.credential_get("cred-1", out, err);
      Value o(rapidjson::kObjectType);
      o.AddMember("cred_status", static_cast<int>(c1), a);
      o.AddMember("cred", weft::sdk::make_string(out, a), a);
      out.clear();
      err.clear();
      weft_status c2 = ctx.credential_get("nope", out, err);
      o.AddMember("missing_status", static_cast<int>(c2), a);
      o.AddMember("missing_error", weft::sdk::make_string(err, a), a);
      out.clear();
      err.clear();
      weft_status h = ctx.http_request(R"({"url": "http://example.invalid/"})", out, err);
      o.AddMember("http_status", static_cast<int>(h), a);
      o.AddMember("http", weft::sdk::make_string(out.empty() ? err : out, a), a);
      ctx.output("main", std::move(o));
    } else {
      ctx.invalid_parameter("mode", "is unknown");
    }
  }
};

class Params final : public Counted {
 public:
  static constexpr std::string_view type_name = "probe.params";
  static constexpr std::string_view schema = R"({})";
  void execute(Context& ctx) const override {
    auto& a = ctx.allocator();
    auto s = ctx.string_param("s", "dflt", 5);
    if (!s) return;
    auto n = ctx.number_param("n", 1.5, 0, 10);
    if (!n) return;
    auto i = ctx.integer_param("i", 3, 1, 100);
    if (!i) return;
    auto b = ctx.bool_param("b", false);
    if (!b) return;
    auto sel = ctx.select_param("sel", {"x", "y"}, "x");
    if (!sel) return;
    auto req = ctx.string_param("required_when_asked", ctx.params().HasMember("ask") ? std::nullopt
                                                                                      : std::optional<std::string_view>(""));
    if (!req) return;
    Value o(rapidjson::kObjectType);
    o.AddMember("s", weft::sdk::make_string(*s, a), a);
    o.AddMember("n", *n, a);
    o.AddMember("i", static_cast<int64_t>(*i), a);
    o.AddMember("b", *b, a);
    o.AddMember("sel", weft::sdk::make_string(*sel, a), a);
    ctx.output("main", std::move(o));
  }
};

class Stats final : public Counted {
 public:
  static constexpr std::string_view type_name = "probe.stats";
  static constexpr std::string_view schema = R"({})";
  void execute(Context& ctx) const override {
    auto& a = ctx.allocator();
    Value o(rapidjson::kObjectType);
    o.AddMember("live_nodes", g_live_nodes.load(), a);
    o.AddMember("shutdown_hooks", g_shutdown_hooks.load(), a);
    ctx.output("main", std::move(o));
  }
};

// Constructed with an argument (WEFT_REGISTER_NODE_WITH).
class Prefixed final : public Counted {
 public:
  static constexpr std::string_view type_name = "probe.prefixed";
  static constexpr std::string_view schema = R"({})";
  explicit Prefixed(std::string prefix) : prefix_(std::move(prefix)) {}
  void execute(Context& ctx) const override {
    ctx.output_string("main", prefix_ + std::string(weft::sdk::str_of(ctx.input_or_null())));
  }

 private:
  const std::string prefix_;
};

// A storage backend that offers nothing: only registration is under test.
weft_status storage_open(void*, weft_str, weft_str, weft_storage_conn**, weft_sink* error) {
  return weft::sdk::guard(error, []() -> weft_status { throw std::runtime_error("no storage here"); });
}
weft_status storage_call(weft_storage_conn*, weft_str, weft_str, weft_sink*, weft_sink*) { return WEFT_ERR_UNSUPPORTED; }
void storage_close(weft_storage_conn*) {}

bool flag(const weft::sdk::Document& config, const char* key) {
  auto it = config.FindMember(key);
  return it != config.MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

}  // namespace probe

WEFT_PLUGIN(sdk-probe) {
  using namespace probe;
  const auto& config = registration.config();
  registration.on_shutdown([] { ++g_shutdown_hooks; });
  WEFT_REGISTER_NODE(Echo);
  registration.add_node({"probe.echo", 2, R"({"display_name": "Echo v2"})", 0}, std::make_unique<EchoV2>());
  WEFT_REGISTER_NODE(Throw);
  WEFT_REGISTER_NODE(Results);
  WEFT_REGISTER_NODE(Params);
  WEFT_REGISTER_NODE(Stats);
  WEFT_REGISTER_NODE_WITH(Prefixed, "pre:");
  if (flag(config, "storage")) {
    weft_storage_backend b{};
    b.scheme = weft_str{"probe", 5};
    b.open = &storage_open;
    b.call = &storage_call;
    b.close = &storage_close;
    registration.add_storage_backend(b);
  }
  if (flag(config, "fail")) registration.fail(WEFT_ERR_INVALID_INPUT, "bad_config", "the probe was told to fail");
  if (flag(config, "throw")) throw std::runtime_error("init exploded");
  if (flag(config, "duplicate")) WEFT_REGISTER_NODE(Echo);
  if (flag(config, "bad_schema")) registration.add_node({"probe.bad", 1, "{", 0}, std::make_unique<EchoV2>());
  if (flag(config, "bad_name")) registration.add_node({"Probe Bad", 1, "{}", 0}, std::make_unique<EchoV2>());
  registration.log(WEFT_LOG_INFO, "probe registered");
}
