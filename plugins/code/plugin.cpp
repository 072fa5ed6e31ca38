// The code node pack: code.javascript and code.python. Each node hands its code, its input and
// its parameters to the host's sandbox (weft_host_api.sandbox_run, docs/sandbox.md) and turns
// what comes back into the node's output, log lines and errors. The code's own host calls
// (weft.http, weft.credential) are served by the host for this node attempt only.
//
// Thread-safety: the nodes are stateless; everything lives in the attempt's Context.
#include <weft/sdk.hpp>

#include <string>
#include <string_view>

namespace {

using weft::sdk::Context;
using weft::sdk::Document;
using weft::sdk::Value;

// The schema of both nodes; LANG is replaced by the language.
std::string schema_for(std::string_view language, std::string_view display, std::string_view example) {
  std::string s = R"json({
  "display_name": "DISPLAY code",
  "description": "Runs DISPLAY code in the sandbox (no network, no files outside its private temp dir, CPU/memory/time limits). The code is the body of a function that receives items (the input as a list), the raw input, params (the node's 'parameters' object) and context, and returns the node's output (any JSON value; returning nothing passes the items on). Log output goes to the node log. weft.http(request) calls the guarded HTTP client; weft.credential(name) reads a credential this node references under data.credentials. Errors report the line and column in this code. Example: EXAMPLE",
  "category": "data",
  "fields": [
    {"name": "code", "type": "code", "language": "LANG", "required": true, "max_length": 262144,
     "description": "The function body to run."},
    {"name": "parameters", "type": "json", "required": false,
     "description": "A JSON object handed to the code as params (expressions allowed inside)."},
    {"name": "timeout_ms", "type": "integer", "required": false, "default": 10000, "min": 10, "max": 300000,
     "description": "Wall-clock time allowed, in milliseconds (capped by the server's sandbox settings)."},
    {"name": "memory_mb", "type": "integer", "required": false, "default": 256, "min": 16, "max": 4096,
     "description": "Memory allowed, in MiB (capped by the server's sandbox settings)."},
    {"name": "cpu_ms", "type": "integer", "required": false, "default": 10000, "min": 10, "max": 300000,
     "description": "CPU time allowed, in milliseconds (capped by the server's sandbox settings)."}
  ],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [{"name": "main", "type": "json"}],
  "credential_types": [],
  "flags": []
})json";
  auto replace_all = [&s](std::string_view from, std::string_view to) {
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
      s.replace(p, from.size(), to);
  };
  replace_all("DISPLAY", display);
  replace_all("LANG", language);
  // The example is JSON-escaped by hand: it contains only quotes that need it.
  std::string ex;
  for (char c : example) {
    if (c == '"' || c == '\\') ex += '\\';
    ex += c;
  }
  replace_all("EXAMPLE", ex);
  return s;
}

const std::string& javascript_schema() {
  static const std::string s =
      schema_for("javascript", "JavaScript", "return items.map(i => ({...i, total: i.price * i.qty}));");
  return s;
}
const std::string& python_schema() {
  static const std::string s =
      schema_for("python", "Python", "return [dict(i, total=i['price'] * i['qty']) for i in items]");
  return s;
}

weft_log_level level_of(std::string_view l) {
  if (l == "error") return WEFT_LOG_ERROR;
  if (l == "warn") return WEFT_LOG_WARN;
  if (l == "debug") return WEFT_LOG_DEBUG;
  return WEFT_LOG_INFO;
}

void run_code(Context& ctx, std::string_view language) {
  auto& alloc = ctx.allocator();
  auto code = ctx.string_param("code", std::nullopt, 262144);
  if (!code) return;
  auto timeout = ctx.integer_param("timeout_ms", 10000, 10, 300000);
  if (!timeout) return;
  auto memory = ctx.integer_param("memory_mb", 256, 16, 4096);
  if (!memory) return;
  auto cpu = ctx.integer_param("cpu_ms", 10000, 10, 300000);
  if (!cpu) return;
  const Value* params = ctx.param("parameters");
  if (params && !params->IsNull() && !params->IsObject())
    return ctx.invalid_parameter("parameters", "must be a JSON object");

  Document req(&alloc);
  req.SetObject();
  req.AddMember("language", weft::sdk::make_string(language, alloc), alloc);
  req.AddMember("code", weft::sdk::make_string(*code, alloc), alloc);
  req.AddMember("input", Value(ctx.input_or_null("main"), alloc), alloc);
  Value p(rapidjson::kObjectType);
  if (params && params->IsObject()) p = Value(*params, alloc);
  req.AddMember("params", p, alloc);
  Value limits(rapidjson::kObjectType);
  limits.AddMember("timeout_ms", Value(static_cast<int64_t>(*timeout)), alloc);
  limits.AddMember("memory_mb", Value(static_cast<int64_t>(*memory)), alloc);
  limits.AddMember("cpu_ms", Value(static_cast<int64_t>(*cpu)), alloc);
  req.AddMember("limits", limits, alloc);
  std::string req_text;
  if (!weft::sdk::write_json(req, req_text))
    return ctx.invalid_input("invalid_input", "the node's input or parameters cannot be serialised as JSON");

  std::string out, err;
  weft_status st = ctx.sandbox_run(req_text, out, err);
  if (st != WEFT_OK) {
    // The host's error JSON passes through with its code (code_error, timeout, memory_limit, ...)
    // and details (line/column). Deterministic failures of the user's code are not retried;
    // sandbox trouble (unavailable, busy) is.
    Document e(&alloc);
    std::string code_s = "sandbox_error", message = "the sandbox failed";
    const Value* details = nullptr;
    if (weft::sdk::parse_json(err, e).empty() && e.IsObject()) {
      if (auto* c = weft::sdk::find_member(e, "code"); c && c->IsString()) code_s = weft::sdk::str_of(*c);
      if (auto* m = weft::sdk::find_member(e, "message"); m && m->IsString()) message = weft::sdk::str_of(*m);
      details = weft::sdk::find_member(e, "details");
    }
    // The code's log lines up to the failure come back in details.log: keep them in the node log.
    if (details && details->IsObject()) {
      if (auto* log = weft::sdk::find_member(*details, "log"); log && log->IsArray())
        for (const auto& l : log->GetArray()) {
          auto* lv = weft::sdk::find_member(l, "level");
          auto* msg = weft::sdk::find_member(l, "msg");
          if (msg && msg->IsString())
            ctx.log(level_of(lv && lv->IsString() ? weft::sdk::str_of(*lv) : "info"), weft::sdk::str_of(*msg));
        }
    }
    // The executor names the node in the execution's error; the message is the code's own.
    const std::string prefix;
    if (st == WEFT_ERR_TIMEOUT || code_s == "timeout")
      return ctx.fail_with_status(WEFT_ERR_TIMEOUT, code_s, prefix + message, details);
    if (st == WEFT_ERR_CANCELLED || code_s == "cancelled")
      return ctx.fail_with_status(WEFT_ERR_CANCELLED, code_s, prefix + message, details);
    const bool retryable = code_s == "sandbox_unavailable" || code_s == "sandbox_busy" || code_s == "killed" ||
                           st == WEFT_ERR_UNSUPPORTED;
    return ctx.fail(code_s, prefix + message, details, retryable);
  }
  Document res(&alloc);
  if (!weft::sdk::parse_json(out, res).empty() || !res.IsObject())
    return ctx.fail_with_status(WEFT_ERR_INTERNAL, "invalid_sandbox_result", "the sandbox answered something that is not a JSON object");
  if (auto* log = weft::sdk::find_member(res, "log"); log && log->IsArray())
    for (const auto& l : log->GetArray()) {
      auto* lv = weft::sdk::find_member(l, "level");
      auto* msg = weft::sdk::find_member(l, "msg");
      if (msg && msg->IsString())
        ctx.log(level_of(lv && lv->IsString() ? weft::sdk::str_of(*lv) : "info"), weft::sdk::str_of(*msg));
    }
  if (auto* text = weft::sdk::find_member(res, "text"); text && text->IsString() && text->GetStringLength() > 0)
    ctx.log(WEFT_LOG_INFO, weft::sdk::str_of(*text));
  Value* value = nullptr;
  for (auto it = res.MemberBegin(); it != res.MemberEnd(); ++it)
    if (weft::sdk::str_of(it->name) == "value") value = &it->value;
  if (!value) return ctx.output_null("main");
  ctx.output("main", std::move(*value));
}

class JavaScriptNode final : public weft::sdk::Node {
 public:
  static constexpr std::string_view type_name = "code.javascript";
  static constexpr uint32_t type_version = 1;
  static constexpr uint32_t flags = 0;
  static const std::string_view schema;
  void execute(Context& ctx) const override { run_code(ctx, "javascript"); }
};
const std::string_view JavaScriptNode::schema = javascript_schema();

class PythonNode final : public weft::sdk::Node {
 public:
  static constexpr std::string_view type_name = "code.python";
  static constexpr uint32_t type_version = 1;
  static constexpr uint32_t flags = 0;
  static const std::string_view schema;
  void execute(Context& ctx) const override { run_code(ctx, "python"); }
};
const std::string_view PythonNode::schema = python_schema();

}  // namespace

WEFT_PLUGIN(code) {
  WEFT_REGISTER_NODE(JavaScriptNode);
  WEFT_REGISTER_NODE(PythonNode);
}
