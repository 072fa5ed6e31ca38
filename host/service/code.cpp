#include "host/service/code.hpp"

#include <algorithm>
#include <set>

#include "host/core/call.hpp"

namespace weft::service {

namespace {

constexpr int64_t kRetryStartAfterMs = 30'000;  // a failed pool start is retried after this long

std::string error_json(const std::string& code, const std::string& message, Json details = Json()) {
  Json e = Json::object();
  e.set("code", code);
  e.set("message", message);
  if (!details.is_null()) e.set("details", std::move(details));
  return e.dump();
}

Status check_keys(const Json& obj, const std::string& where, std::initializer_list<const char*> allowed) {
  if (!obj.is_object()) return Error("invalid_config", where + " must be an object");
  for (const auto& [k, v] : obj.as_object()) {
    if (k.rfind("$", 0) == 0) continue;  // "$comment" documents the file
    bool known = false;
    for (const char* a : allowed) known = known || k == a;
    if (!known) return Error("invalid_config", where + ": unknown setting \"" + k + "\"");
  }
  return {};
}

Status read_int(const Json& obj, const char* key, const std::string& where, int64_t min, int64_t max, int64_t& out,
                int64_t scale = 1) {
  const Json& v = obj[key];
  if (v.is_null()) return {};
  if (!v.is_int() || v.as_int() < min || v.as_int() > max)
    return Error("invalid_config", where + "." + key + " must be a whole number from " + std::to_string(min) + " to " +
                                       std::to_string(max));
  out = v.as_int() * scale;
  return {};
}

Status read_string(const Json& obj, const char* key, const std::string& where, std::string& out) {
  const Json& v = obj[key];
  if (v.is_null()) return {};
  if (!v.is_string()) return Error("invalid_config", where + "." + key + " must be a string");
  out = v.as_string();
  return {};
}

Status read_limits(const Json& obj, const std::string& where, sandbox::ResourceLimits& l, int64_t& timeout_ms) {
  if (obj.is_null()) return {};
  if (Status s = check_keys(obj, where, {"timeout_ms", "cpu_ms", "memory_mb", "max_processes", "max_file_mb",
                                         "max_open_files", "tmp_mb"});
      !s.ok())
    return s;
  Status s;
  if (!(s = read_int(obj, "timeout_ms", where, 10, 3'600'000, timeout_ms)).ok()) return s;
  if (!(s = read_int(obj, "cpu_ms", where, 10, 3'600'000, l.cpu_ms)).ok()) return s;
  if (!(s = read_int(obj, "memory_mb", where, 16, 65536, l.memory_bytes, 1ll << 20)).ok()) return s;
  if (!(s = read_int(obj, "max_processes", where, 1, 4096, l.max_processes)).ok()) return s;
  if (!(s = read_int(obj, "max_file_mb", where, 1, 65536, l.max_file_bytes, 1ll << 20)).ok()) return s;
  if (!(s = read_int(obj, "max_open_files", where, 16, 65536, l.max_open_files)).ok()) return s;
  if (!(s = read_int(obj, "tmp_mb", where, 1, 65536, l.tmp_bytes, 1ll << 20)).ok()) return s;
  return {};
}

// The node's JSON error (from the inner services) as an Error for the code's host call.
Error error_from_json(const std::string& text, const char* fallback_code) {
  auto e = Json::parse(text);
  if (e.ok() && (*e)["message"].is_string())
    return Error((*e)["code"].is_string() ? (*e)["code"].as_string() : fallback_code, (*e)["message"].as_string());
  return Error(fallback_code, "the host call failed");
}

weft_status status_for(const std::string& code) {
  if (code == "timeout") return WEFT_ERR_TIMEOUT;
  if (code == "cancelled") return WEFT_ERR_CANCELLED;
  if (code == "sandbox_unavailable") return WEFT_ERR_UNSUPPORTED;
  if (code == "invalid_input" || code == "code_error") return WEFT_ERR_INVALID_INPUT;
  return WEFT_ERR_FAILED;
}

}  // namespace

Result<sandbox::PoolConfig> sandbox_config_from_json(const Json& section, const std::string& binary_dir) {
  sandbox::PoolConfig c;
  const std::string w = "sandbox";
  if (section.is_null()) return c;
  if (Status s = check_keys(section, w, {"bwrap", "cgroups", "bwrap_path", "launcher_path", "uid_base", "slots", "scratch_dir",
                                         "node_path", "python_path", "runner_dir", "warm", "defaults", "max", "io"});
      !s.ok())
    return s.error();
  std::string bwrap = "auto";
  Status s;
  if (!(s = read_string(section, "bwrap", w, bwrap)).ok()) return s.error();
  if (bwrap == "auto") c.isolation.bwrap = sandbox::BwrapMode::Auto;
  else if (bwrap == "required") c.isolation.bwrap = sandbox::BwrapMode::Required;
  else if (bwrap == "off") c.isolation.bwrap = sandbox::BwrapMode::Off;
  else return Error("invalid_config", "sandbox.bwrap must be \"auto\", \"required\" or \"off\"");
  std::string cgroups = "auto";
  if (!(s = read_string(section, "cgroups", w, cgroups)).ok()) return s.error();
  if (cgroups == "auto") c.isolation.cgroups = sandbox::BwrapMode::Auto;
  else if (cgroups == "required") c.isolation.cgroups = sandbox::BwrapMode::Required;
  else if (cgroups == "off") c.isolation.cgroups = sandbox::BwrapMode::Off;
  else return Error("invalid_config", "sandbox.cgroups must be \"auto\", \"required\" or \"off\"");
  if (!(s = read_string(section, "bwrap_path", w, c.isolation.bwrap_path)).ok()) return s.error();
  if (!(s = read_string(section, "launcher_path", w, c.isolation.launcher_path)).ok()) return s.error();
  if (!(s = read_string(section, "scratch_dir", w, c.isolation.scratch_root)).ok()) return s.error();
  if (!(s = read_string(section, "node_path", w, c.runtime.node_path)).ok()) return s.error();
  if (!(s = read_string(section, "python_path", w, c.runtime.python_path)).ok()) return s.error();
  if (!(s = read_string(section, "runner_dir", w, c.runtime.runner_dir)).ok()) return s.error();
  int64_t uid_base = c.isolation.uid_base, slots = c.isolation.slots;
  if (!(s = read_int(section, "uid_base", w, 1000, 4'000'000'000ll, uid_base)).ok()) return s.error();
  if (!(s = read_int(section, "slots", w, 1, 4096, slots)).ok()) return s.error();
  c.isolation.uid_base = static_cast<uint32_t>(uid_base);
  c.isolation.slots = static_cast<uint32_t>(slots);
  if (const Json& warm = section["warm"]; !warm.is_null()) {
    if (Status k = check_keys(warm, "sandbox.warm", {"javascript", "python"}); !k.ok()) return k.error();
    int64_t js = c.runtime.warm_javascript, py = c.runtime.warm_python;
    if (!(s = read_int(warm, "javascript", "sandbox.warm", 0, 256, js)).ok()) return s.error();
    if (!(s = read_int(warm, "python", "sandbox.warm", 0, 256, py)).ok()) return s.error();
    c.runtime.warm_javascript = static_cast<uint32_t>(js);
    c.runtime.warm_python = static_cast<uint32_t>(py);
    if (js + py > slots) return Error("invalid_config", "sandbox.warm asks for more sandboxes than sandbox.slots");
  }
  if (!(s = read_limits(section["defaults"], "sandbox.defaults", c.default_limits, c.default_timeout_ms)).ok())
    return s.error();
  if (!(s = read_limits(section["max"], "sandbox.max", c.max_limits, c.max_timeout_ms)).ok()) return s.error();
  if (const Json& io = section["io"]; !io.is_null()) {
    if (Status k = check_keys(io, "sandbox.io", {"max_result_mb", "max_log_kb"}); !k.ok()) return k.error();
    int64_t result = static_cast<int64_t>(c.io.max_frame_bytes), log = static_cast<int64_t>(c.io.max_text_bytes);
    if (!(s = read_int(io, "max_result_mb", "sandbox.io", 1, 1024, result, 1ll << 20)).ok()) return s.error();
    if (!(s = read_int(io, "max_log_kb", "sandbox.io", 1, 65536, log, 1ll << 10)).ok()) return s.error();
    c.io.max_frame_bytes = static_cast<size_t>(result);
    c.io.max_protocol_bytes = std::max(c.io.max_protocol_bytes, c.io.max_frame_bytes * 2);
    c.io.max_text_bytes = static_cast<size_t>(log);
  }
  if (c.runtime.runner_dir.empty() && !binary_dir.empty()) c.runtime.runner_dir = binary_dir + "/sandbox-runners";
  if (c.isolation.launcher_path.empty() && !binary_dir.empty())
    c.isolation.launcher_path = binary_dir + "/weft-sandbox-exec";
  return c;
}

CodeRuntime::CodeRuntime(std::shared_ptr<executor::NodeServices> inner, sandbox::PoolConfig config)
    : inner_(std::move(inner)), config_(std::move(config)) {}

CodeRuntime::~CodeRuntime() { shutdown(); }

void CodeRuntime::shutdown() {
  std::shared_ptr<sandbox::SandboxPool> p;
  {
    std::lock_guard<std::mutex> lock(mu_);
    p = std::move(pool_);
  }
  if (p) p->shutdown();
}

Result<std::shared_ptr<sandbox::SandboxPool>> CodeRuntime::pool() {
  std::lock_guard<std::mutex> lock(mu_);
  if (pool_) return pool_;
  if (start_failed_ && monotonic_ms() - start_failed_at_ms_ < kRetryStartAfterMs) return start_error_;
  auto p = sandbox::SandboxPool::start(config_);
  if (!p.ok()) {
    start_failed_ = true;
    start_failed_at_ms_ = monotonic_ms();
    start_error_ = Error("sandbox_unavailable", "the sandbox cannot be set up on this server: " + p.error().message);
    return start_error_;
  }
  start_failed_ = false;
  pool_ = *p;
  return pool_;
}

Status CodeRuntime::warm_up() {
  auto p = pool();
  if (!p.ok()) return p.error();
  return {};
}

Json CodeRuntime::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  Json j = Json::object();
  j.set("started", pool_ != nullptr);
  if (pool_) {
    auto probe = Json::parse(pool_->probe().to_json());
    j.set("probe", probe.ok() ? *probe : Json());
    j.set("metrics", pool_->metrics().to_json());
  } else if (start_failed_) {
    j.set("error", start_error_.message);
  }
  return j;
}

sandbox::PoolMetrics CodeRuntime::metrics() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pool_ ? pool_->metrics() : sandbox::PoolMetrics{};
}

weft_status CodeRuntime::credential_get(const executor::NodeServiceContext& ctx, std::string_view ref,
                                        std::string& out_json, std::string& out_error) {
  if (!inner_) {
    out_error = error_json("unsupported", "credential lookup is not available in this host");
    return WEFT_ERR_UNSUPPORTED;
  }
  return inner_->credential_get(ctx, ref, out_json, out_error);
}

weft_status CodeRuntime::http_request(const executor::NodeServiceContext& ctx, std::string_view request_json,
                                      std::string& out_json, std::string& out_error) {
  if (!inner_) {
    out_error = error_json("unsupported", "outbound HTTP is not available in this host");
    return WEFT_ERR_UNSUPPORTED;
  }
  return inner_->http_request(ctx, request_json, out_json, out_error);
}

sandbox::JobResult CodeRuntime::run_job(const sandbox::Job& job, const sandbox::HostCallHandler& host_calls,
                                        const std::function<bool()>& cancelled) {
  auto p = pool();
  if (!p.ok()) {
    sandbox::JobResult r;
    Json e = Json::object();
    e.set("code", p.error().code);
    e.set("message", p.error().message);
    r.error = e;
    return r;
  }
  sandbox::HostCallHandler refuse = [](std::string_view op, const Json&) -> Result<Json> {
    return Error("denied", "host call \"" + std::string(op) + "\" is not available here");
  };
  return (*p)->run(job, host_calls ? host_calls : refuse, cancelled);
}

weft_status CodeRuntime::sandbox_run(const executor::NodeServiceContext& ctx, std::string_view request_json,
                                     std::string& out_json, std::string& out_error) {
  auto parsed = Json::parse(request_json);
  if (!parsed.ok() || !parsed->is_object()) {
    out_error = error_json("invalid_input", "sandbox_run: the request is not a JSON object");
    return WEFT_ERR_INVALID_INPUT;
  }
  const Json& req = *parsed;
  for (const auto& [k, v] : req.as_object()) {
    static const std::set<std::string> known = {"language", "code", "input", "params", "limits", "mode"};
    if (!known.count(k)) {
      out_error = error_json("invalid_input", "sandbox_run: unknown request member \"" + k + "\"");
      return WEFT_ERR_INVALID_INPUT;
    }
  }
  auto lang = sandbox::parse_language(req["language"].as_string());
  if (!lang.ok()) {
    out_error = error_json("invalid_input", "sandbox_run: " + lang.error().message);
    return WEFT_ERR_INVALID_INPUT;
  }
  if (!req["code"].is_string()) {
    out_error = error_json("invalid_input", "sandbox_run: \"code\" must be a string");
    return WEFT_ERR_INVALID_INPUT;
  }
  // "body" (default): `code` is a code node's function body. "module": `code` is a custom-node file
  // (host/service/custom_nodes.hpp) whose execute(items, params, weft) is called.
  const Json& mode = req["mode"];
  if (!mode.is_null() && !(mode.is_string() && (mode.as_string() == "body" || mode.as_string() == "module"))) {
    out_error = error_json("invalid_input", "sandbox_run: \"mode\" must be \"body\" or \"module\"");
    return WEFT_ERR_INVALID_INPUT;
  }
  auto p = pool();
  if (!p.ok()) {
    out_error = error_json(p.error().code, p.error().message);
    return status_for(p.error().code);
  }
  sandbox::Job job;
  job.language = *lang;
  job.mode = "run";
  job.custom_node = mode.is_string() && mode.as_string() == "module";
  job.code = req["code"].as_string();
  job.input = req["input"];
  job.params = req["params"].is_object() ? req["params"] : Json::object();
  sandbox::ResourceLimits asked = config_.default_limits;
  int64_t timeout = config_.default_timeout_ms;
  const Json& lim = req["limits"];
  if (!lim.is_null()) {
    if (!lim.is_object()) {
      out_error = error_json("invalid_input", "sandbox_run: \"limits\" must be an object");
      return WEFT_ERR_INVALID_INPUT;
    }
    if (lim["timeout_ms"].is_int()) timeout = lim["timeout_ms"].as_int();
    if (lim["cpu_ms"].is_int()) asked.cpu_ms = lim["cpu_ms"].as_int();
    if (lim["memory_mb"].is_int()) asked.memory_bytes = lim["memory_mb"].as_int() << 20;
  }
  job.limits = (*p)->clamp_limits(asked, timeout);
  // The node attempt's own deadline bounds the job too.
  if (ctx.deadline_monotonic_ms > 0) {
    const int64_t left = ctx.deadline_monotonic_ms - monotonic_ms();
    timeout = std::max<int64_t>(1, std::min(timeout, left));
  }
  job.timeout_ms = timeout;
  Json context = Json::object();
  if (ctx.execution) {
    context.set("execution_id", ctx.execution->id);
    context.set("workflow_id", ctx.execution->workflow_id);
    context.set("owner_id", ctx.execution->owner_id);
  }
  if (ctx.node) context.set("node_id", ctx.node->id);
  job.context = context;

  // The code's host calls are this node attempt's: same credentials, same guarded client.
  const int64_t job_deadline = monotonic_ms() + timeout;
  sandbox::HostCallHandler calls = [this, &ctx, job_deadline](std::string_view op, const Json& args) -> Result<Json> {
    std::string out, err;
    if (op == "http_request") {
      // A request never outlives the job that made it.
      Json req = args;
      const int64_t left = job_deadline - monotonic_ms();
      if (left <= 0) return Error("timeout", "the job's time is up");
      if (req.is_object() && (!req["timeout_ms"].is_int() || req["timeout_ms"].as_int() > left))
        req.set("timeout_ms", left);
      weft_status st = http_request(ctx, req.dump(), out, err);
      if (st != WEFT_OK) return error_from_json(err, "http_error");
    } else if (op == "credential_get") {
      if (!args["name"].is_string()) return Error("invalid_input", "credential: a name is required");
      weft_status st = credential_get(ctx, args["name"].as_string(), out, err);
      if (st != WEFT_OK) return error_from_json(err, "credential_error");
    } else {
      return Error("unknown_op", "unknown host call \"" + std::string(op) + "\"");
    }
    auto v = Json::parse(out);
    if (!v.ok()) return Error("internal", "the host call returned invalid JSON");
    return *v;
  };
  sandbox::JobResult r = (*p)->run(job, calls, ctx.cancelled);
  if (r.ok) {
    Json o = Json::object();
    o.set("value", r.value);
    o.set("log", r.log.is_array() ? r.log : Json::array());
    o.set("text", r.text);
    o.set("warm", r.warm);
    o.set("wall_ms", r.wall_ms);
    out_json = o.dump();
    return WEFT_OK;
  }
  std::string code = r.error["code"].is_string() ? r.error["code"].as_string() : "sandbox_error";
  std::string message = r.error["message"].is_string() ? r.error["message"].as_string() : "the code failed";
  Json details = r.error["details"].is_object() ? r.error["details"] : Json::object();
  if (r.log.is_array() && r.log.size() > 0) details.set("log", r.log);
  if (!r.text.empty()) details.set("text", r.text);
  out_error = error_json(code, message, details);
  return status_for(code);
}

}  // namespace weft::service
