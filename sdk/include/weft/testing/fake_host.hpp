// weft/testing/fake_host.hpp — a header-only fake Weft host for unit-testing plugins.
//
// It loads nothing: give it the plugin's entry points (the in-process weft_plugin_* of a plugin
// compiled into the test — FakeHost::load_linked() — or function pointers you obtained yourself,
// e.g. with dlsym) and it runs the real handshake and init against a registrar and a host-services
// table of its own. It records the node types, storage backends and credential types the plugin
// registers and lets a test execute a node type with chosen params/input/resume payload, then
// inspect outputs, errors, park requests, log lines and events:
//
//   weft::testing::FakeHost host;
//   ASSERT_EQ(host.load_linked(), WEFT_OK) << host.load_error();
//   auto r = host.execute("example.greet", R"({"greeting": "Hello"})", R"({"main": {"name": "Ada"}})");
//   EXPECT_TRUE(r.ok()) << r.error_json;
//   EXPECT_EQ(r.output("main"), R"({"message":"Hello, Ada!"})");
//
// Like the real host, it checks what the plugin hands over (struct sizes, names, schema JSON,
// output/error/park JSON shapes) and lists every breach of the contract in
// ExecuteResult::violations / FakeHost::registration_problems(), so tests can assert there are
// none. It can also pretend to be an older host (smaller struct sizes, another ABI range).
//
// OWNERSHIP: the FakeHost owns every buffer it hands to the plugin, exactly like the real host:
// strings are valid for the duration of the call. It calls weft_plugin_shutdown in its destructor.
// THREAD-SAFETY: execute() may be called from several threads at once (to exercise a node's
// thread-safety); load()/shutdown() must not run concurrently with anything.
#ifndef WEFT_TESTING_FAKE_HOST_HPP
#define WEFT_TESTING_FAKE_HOST_HPP

#include <weft/sdk.hpp>  // before RapidJSON: see sdk.hpp

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <weft/weft_abi.h>

namespace weft::testing {

struct LogLine {
  int32_t level = 0;  // WEFT_LOG_*
  std::string message;
};

struct EventRecord {
  std::string type;
  std::string data_json;
};

struct RegisteredNodeType {
  std::string type_name;
  uint32_t type_version = 0;
  std::string schema_json;
  uint32_t flags = 0;
  void* type_state = nullptr;
  weft_node_execute_fn execute = nullptr;
};

struct RegisteredStorageBackend {
  std::string scheme;
  weft_storage_backend backend{};  // copied; function pointers live until shutdown
};

struct FakeHostOptions {
  // The ABI range the fake host offers in the handshake.
  uint32_t abi_min = WEFT_ABI_MAKE_VERSION(1, 0);
  uint32_t abi_max = WEFT_ABI_VERSION;
  // weft_plugin_init_args.config_json
  std::string config_json = "{}";
  // struct_size the fake host declares for the structs it hands to the plugin; 0 = the full size
  // of this header's struct. Smaller values simulate an older host.
  uint32_t init_args_size = 0;
  uint32_t host_api_size = 0;
  uint32_t registrar_api_size = 0;
  uint32_t request_size = 0;
  uint32_t result_size = 0;
  // Credentials offered through host.credential_get, by reference: ref -> credential JSON.
  std::map<std::string, std::string> credentials;
  // Whether registrar.register_credential_type is offered (false = NULL, like a host that predates
  // credential types).
  bool offer_credential_types = true;
  // Handler behind host.http_request; unset = the service is not offered (NULL pointer).
  std::function<weft_status(std::string_view request_json, std::string& response_json, std::string& error_json)>
      http_handler;
  // Handler behind host.sandbox_run (ABI 1.1); unset = the service is not offered (NULL pointer).
  std::function<weft_status(std::string_view request_json, std::string& result_json, std::string& error_json)>
      sandbox_handler;
};

struct ExecuteOptions {
  std::string node_id = "node";
  uint32_t attempt = 1;
  std::string resume_json;  // empty = a normal (not resumed) run
  // empty = {"execution_id":"exec-test","workflow_id":"wf-test","workflow_version":1,"scope":""}
  std::string context_json;
  std::string idempotency_key;  // empty = "exec-test:<node_id>:<attempt>"
  bool cancelled = false;       // what host.is_cancelled answers
  int64_t deadline_ms = 0;      // absolute, on the monotonic clock of now_monotonic_ms(); 0 = none
  uint32_t type_version = 0;    // 0 = the highest registered
};

// What one execution produced. The raw sink contents are kept as written.
struct ExecuteResult {
  weft_status status = WEFT_ERR_INTERNAL;
  std::string output_json;  // raw output sink
  std::string error_json;   // raw error sink
  std::string park_json;    // raw park sink
  std::vector<LogLine> logs;
  std::vector<EventRecord> events;
  std::vector<std::string> violations;  // contract breaches noticed by the fake host

  bool ok() const { return status == WEFT_OK; }
  bool parked() const { return status == WEFT_PARK; }

  // Compact JSON of the value written on `handle`; "" when the handle was not taken. An OK result
  // with an empty output sink means {"main": null}.
  std::string output(std::string_view handle = "main") const {
    sdk::Document d;
    if (!parsed_output(d)) return {};
    for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it)
      if (sdk::str_of(it->name) == handle) return sdk::to_json(it->value);
    return {};
  }
  bool has_output(std::string_view handle) const { return !output(handle).empty(); }
  // The taken handles, in the order the plugin wrote them.
  std::vector<std::string> output_handles() const {
    std::vector<std::string> out;
    sdk::Document d;
    if (!parsed_output(d)) return out;
    for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) out.emplace_back(sdk::str_of(it->name));
    return out;
  }

  std::string error_code() const { return error_member("code", true); }
  std::string error_message() const { return error_member("message", true); }
  std::string error_details() const { return error_member("details", false); }  // JSON text or ""

  std::optional<int64_t> wake_at_ms() const {
    sdk::Document d;
    if (!sdk::parse_json(park_json, d).empty() || !d.IsObject()) return std::nullopt;
    auto it = d.FindMember("wake_at_ms");
    if (it == d.MemberEnd() || !it->value.IsInt64()) return std::nullopt;
    return it->value.GetInt64();
  }
  std::string park_request() const {  // JSON text or ""
    sdk::Document d;
    if (!sdk::parse_json(park_json, d).empty() || !d.IsObject()) return {};
    auto it = d.FindMember("request");
    return it == d.MemberEnd() ? std::string() : sdk::to_json(it->value);
  }

 private:
  bool parsed_output(sdk::Document& d) const {
    if (status != WEFT_OK) return false;
    std::string_view text = output_json.empty() ? std::string_view(R"({"main":null})") : std::string_view(output_json);
    return sdk::parse_json(text, d).empty() && d.IsObject();
  }
  std::string error_member(const char* key, bool as_string) const {
    sdk::Document d;
    if (!sdk::parse_json(error_json, d).empty() || !d.IsObject()) return {};
    auto it = d.FindMember(key);
    if (it == d.MemberEnd()) return {};
    if (as_string) return it->value.IsString() ? std::string(sdk::str_of(it->value)) : std::string();
    return sdk::to_json(it->value);
  }
};

namespace detail {

// Host-level log lines (call == NULL) have no per-host context in the C signature, so they are
// collected process-wide.
struct HostLog {
  std::mutex mu;
  std::vector<LogLine> lines;
};
inline HostLog& host_log() {
  static HostLog log;
  return log;
}

inline void append_to_string(void* ctx, const char* p, size_t n) {
  if (p && n) static_cast<std::string*>(ctx)->append(p, n);
}

inline bool is_json(std::string_view text) {
  sdk::Document d;
  return sdk::parse_json(text, d).empty();
}

}  // namespace detail

class FakeHost {
 public:
  explicit FakeHost(FakeHostOptions options = {}) : options_(std::move(options)) {
    api_.struct_size = options_.host_api_size ? options_.host_api_size : sizeof(weft_host_api);
    api_.log = &svc_log;
    api_.emit_event = &svc_emit_event;
    api_.is_cancelled = &svc_is_cancelled;
    api_.deadline_ms = &svc_deadline_ms;
    api_.now_monotonic_ms = &svc_now;
    api_.idempotency_key = &svc_idempotency_key;
    api_.credential_get = &svc_credential_get;
    api_.http_request = options_.http_handler ? &svc_http_request : nullptr;
    api_.sandbox_run = options_.sandbox_handler ? &svc_sandbox_run : nullptr;
    registrar_api_.struct_size =
        options_.registrar_api_size ? options_.registrar_api_size : sizeof(weft_registrar_api);
    registrar_api_.register_node_type = &reg_node_type;
    registrar_api_.register_storage_backend = &reg_storage_backend;
    registrar_api_.register_credential_type = options_.offer_credential_types ? &reg_credential_type : nullptr;
    registrar_api_.reserved_llm_provider = nullptr;
  }
  ~FakeHost() { shutdown(); }
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  // The two-way handshake, then init. Returns init's status, or WEFT_ERR_VERSION when the plugin
  // answers 0 / a version outside the offered range (load_error() says which).
  weft_status load(weft_plugin_negotiate_fn negotiate, weft_plugin_init_fn init,
                   weft_plugin_shutdown_fn shutdown_fn = nullptr) {
    if (!negotiate || !init) {
      load_error_ = "missing entry point";
      return WEFT_ERR_INVALID_INPUT;
    }
    uint32_t v = negotiate(options_.abi_min, options_.abi_max);
    if (v == 0 || v < options_.abi_min || v > options_.abi_max) {
      load_error_ = "handshake failed: the host offered " + version_text(options_.abi_min) + "-" +
                    version_text(options_.abi_max) + ", the plugin answered " + version_text(v);
      return WEFT_ERR_VERSION;
    }
    return init_at(v, init, shutdown_fn);
  }

  // Init without a handshake, at the host's highest version.
  weft_status load(weft_plugin_init_fn init, weft_plugin_shutdown_fn shutdown_fn = nullptr) {
    return init_at(options_.abi_max, init, shutdown_fn);
  }

  // Loads the plugin linked into this test binary (its WEFT_PLUGIN block). That plugin exists once
  // per process, like a loaded .so: only one FakeHost at a time can have it loaded (a second
  // load fails with "already_initialised" until the first one shut it down).
  weft_status load_linked() { return load(&::weft_plugin_negotiate, &::weft_plugin_init, &::weft_plugin_shutdown); }

  // Calls weft_plugin_shutdown (once) and forgets the registered types.
  void shutdown() {
    if (shutdown_fn_) {
      auto fn = shutdown_fn_;
      shutdown_fn_ = nullptr;
      fn();
    }
    types_.clear();
    backends_.clear();
    credential_types_.clear();
    loaded_ = false;
  }

  bool loaded() const { return loaded_; }
  uint32_t negotiated_version() const { return negotiated_; }
  // The init error JSON the plugin wrote, or a description of the handshake failure.
  const std::string& load_error() const { return load_error_; }
  // Registrations the fake host refused, and why.
  const std::vector<std::string>& registration_problems() const { return registration_problems_; }

  const std::vector<RegisteredNodeType>& node_types() const { return types_; }
  const RegisteredNodeType* find(std::string_view type_name, uint32_t version = 0) const {
    const RegisteredNodeType* best = nullptr;
    for (const auto& t : types_) {
      if (t.type_name != type_name) continue;
      if (version != 0 && t.type_version == version) return &t;
      if (version == 0 && (!best || t.type_version > best->type_version)) best = &t;
    }
    return best;
  }
  const std::vector<RegisteredStorageBackend>& storage_backends() const { return backends_; }
  // The JSON text of every credential type the plugin registered, in order. The fake host only
  // checks that each is a JSON object with a unique non-empty "name" (the real registry validates
  // fields and apply rules).
  const std::vector<std::string>& credential_types() const { return credential_types_; }
  // The registered credential type called `name`, or nullptr.
  const std::string* find_credential_type(std::string_view name) const {
    for (const auto& t : credential_types_) {
      sdk::Document d;
      if (!sdk::parse_json(t, d).empty()) continue;
      const sdk::Value* n = sdk::find_member(d, "name");
      if (n && sdk::str_of(*n) == name) return &t;
    }
    return nullptr;
  }

  // Host-level log lines (call == NULL) of every FakeHost in the process.
  static std::vector<LogLine> host_logs() {
    auto& h = detail::host_log();
    std::lock_guard<std::mutex> lock(h.mu);
    return h.lines;
  }

  // Runs one attempt of `type_name` the way the host would.
  ExecuteResult execute(std::string_view type_name, std::string_view params_json = "{}",
                        std::string_view input_json = "{}", const ExecuteOptions& opts = {}) const {
    ExecuteResult r;
    const RegisteredNodeType* t = find(type_name, opts.type_version);
    if (!t) {
      r.status = WEFT_ERR_NOT_FOUND;
      r.error_json = sdk::detail::error_json("not_found", "node type '" + std::string(type_name) + "' is not registered",
                                             nullptr);
      r.violations.push_back(r.error_json);
      return r;
    }
    Call call;
    call.host = this;
    call.opts = &opts;
    call.idempotency_key = opts.idempotency_key.empty()
                               ? "exec-test:" + opts.node_id + ":" + std::to_string(opts.attempt)
                               : opts.idempotency_key;
    const std::string context =
        opts.context_json.empty()
            ? R"({"execution_id":"exec-test","workflow_id":"wf-test","workflow_version":1,"scope":""})"
            : opts.context_json;

    weft_node_request req{};
    req.struct_size = options_.request_size ? options_.request_size : sizeof(weft_node_request);
    req.call = reinterpret_cast<weft_call*>(&call);
    req.node_id = str(opts.node_id);
    req.params_json = str(params_json);
    req.input_json = str(input_json);
    req.resume_json = str(opts.resume_json);
    req.attempt = opts.attempt;
    req.context_json = str(context);

    weft_sink out{sizeof(weft_sink), &r.output_json, &detail::append_to_string};
    weft_sink err{sizeof(weft_sink), &r.error_json, &detail::append_to_string};
    weft_sink park{sizeof(weft_sink), &r.park_json, &detail::append_to_string};
    weft_node_result res{};
    res.struct_size = options_.result_size ? options_.result_size : sizeof(weft_node_result);
    res.output = &out;
    res.error = &err;
    res.park = &park;

    r.status = t->execute(t->type_state, &req, &res);
    {
      std::lock_guard<std::mutex> lock(call.mu);
      r.logs = std::move(call.logs);
      r.events = std::move(call.events);
    }
    check_result(r);
    return r;
  }

 private:
  struct Call {
    const FakeHost* host = nullptr;
    const ExecuteOptions* opts = nullptr;
    std::string idempotency_key;
    std::mutex mu;  // a node may use host services from threads it starts itself
    std::vector<LogLine> logs;
    std::vector<EventRecord> events;
  };

  static weft_str str(std::string_view s) { return weft_str{s.data(), s.size()}; }
  static std::string_view view(weft_str s) { return s.ptr ? std::string_view(s.ptr, s.len) : std::string_view(); }
  static Call* as_call(weft_call* c) { return reinterpret_cast<Call*>(c); }
  static std::string version_text(uint32_t v) {
    return std::to_string(WEFT_ABI_VERSION_MAJOR_OF(v)) + "." + std::to_string(WEFT_ABI_VERSION_MINOR_OF(v));
  }

  weft_status init_at(uint32_t version, weft_plugin_init_fn init, weft_plugin_shutdown_fn shutdown_fn) {
    shutdown();
    negotiated_ = version;
    load_error_.clear();
    registration_problems_.clear();
    api_.abi_version = version;
    weft_sink err{sizeof(weft_sink), &load_error_, &detail::append_to_string};
    weft_plugin_init_args args{};
    args.struct_size = options_.init_args_size ? options_.init_args_size : sizeof(weft_plugin_init_args);
    args.abi_version = version;
    args.host = &api_;
    args.registrar_api = &registrar_api_;
    args.registrar = reinterpret_cast<weft_registrar*>(this);
    args.config_json = str(options_.config_json);
    args.error = &err;
    in_init_ = true;
    weft_status st = init(&args);
    in_init_ = false;
    if (st != WEFT_OK) {
      // Like the real host: a plugin whose init failed is not used, but it still gets its shutdown
      // so that it can release what it allocated.
      types_.clear();
      backends_.clear();
      credential_types_.clear();
      if (shutdown_fn) shutdown_fn();
      if (load_error_.empty()) load_error_ = "init failed with status " + std::to_string(static_cast<int>(st));
      return st;
    }
    shutdown_fn_ = shutdown_fn;
    loaded_ = true;
    return WEFT_OK;
  }

  void check_result(ExecuteResult& r) const {
    auto object_text = [](const std::string& text) {
      sdk::Document d;
      return sdk::parse_json(text, d).empty() && d.IsObject();
    };
    switch (r.status) {
      case WEFT_OK:
        if (!r.output_json.empty() && !object_text(r.output_json))
          r.violations.push_back("WEFT_OK with an output that is not a JSON object: " + r.output_json);
        if (!r.error_json.empty()) r.violations.push_back("WEFT_OK but the error sink was written");
        if (!r.park_json.empty()) r.violations.push_back("WEFT_OK but the park sink was written");
        return;
      case WEFT_PARK: {
        sdk::Document d;
        if (!sdk::parse_json(r.park_json, d).empty() || !d.IsObject()) {
          r.violations.push_back("WEFT_PARK without a JSON object in the park sink: " + r.park_json);
          return;
        }
        auto w = d.FindMember("wake_at_ms");
        auto q = d.FindMember("request");
        if (w == d.MemberEnd() && q == d.MemberEnd())
          r.violations.push_back("WEFT_PARK needs wake_at_ms and/or request: " + r.park_json);
        if (w != d.MemberEnd() && !w->value.IsInt64())
          r.violations.push_back("WEFT_PARK wake_at_ms must be an integer (unix ms): " + r.park_json);
        if (!r.output_json.empty()) r.violations.push_back("WEFT_PARK but the output sink was written");
        return;
      }
      case WEFT_ERR_INVALID_INPUT:
      case WEFT_ERR_FAILED:
      case WEFT_ERR_TIMEOUT:
      case WEFT_ERR_CANCELLED:
      case WEFT_ERR_UNSUPPORTED:
      case WEFT_ERR_NOT_FOUND:
      case WEFT_ERR_INTERNAL:
      case WEFT_ERR_VERSION:
      case WEFT_ERR_DENIED: {
        sdk::Document d;
        if (!sdk::parse_json(r.error_json, d).empty() || !d.IsObject()) {
          r.violations.push_back("error status without a JSON object in the error sink: " + r.error_json);
          return;
        }
        auto c = d.FindMember("code");
        auto m = d.FindMember("message");
        if (c == d.MemberEnd() || !c->value.IsString() || c->value.GetStringLength() == 0)
          r.violations.push_back("error JSON without a string \"code\": " + r.error_json);
        if (m == d.MemberEnd() || !m->value.IsString() || m->value.GetStringLength() == 0)
          r.violations.push_back("error JSON without a string \"message\": " + r.error_json);
        return;
      }
    }
    r.violations.push_back("unknown status " + std::to_string(static_cast<int>(r.status)));
  }

  // ---- host services -----------------------------------------------------------------------------
  static void svc_log(weft_call* c, int32_t level, weft_str message) noexcept {
    try {
      if (!c) {
        auto& h = detail::host_log();
        std::lock_guard<std::mutex> lock(h.mu);
        h.lines.push_back({level, std::string(view(message))});
        return;
      }
      Call* call = as_call(c);
      std::lock_guard<std::mutex> lock(call->mu);
      call->logs.push_back({level, std::string(view(message))});
    } catch (...) {
    }
  }
  static weft_status svc_emit_event(weft_call* c, weft_str type, weft_str data_json) noexcept {
    if (!c) return WEFT_ERR_INVALID_INPUT;
    try {
      if (view(type).empty() || !detail::is_json(view(data_json))) return WEFT_ERR_INVALID_INPUT;
      Call* call = as_call(c);
      std::lock_guard<std::mutex> lock(call->mu);
      call->events.push_back({std::string(view(type)), std::string(view(data_json))});
      return WEFT_OK;
    } catch (...) {
      return WEFT_ERR_INTERNAL;
    }
  }
  static int32_t svc_is_cancelled(weft_call* c) noexcept {
    if (!c) return 0;
    const ExecuteOptions* o = as_call(c)->opts;
    if (o->cancelled) return 1;
    return (o->deadline_ms != 0 && svc_now() >= o->deadline_ms) ? 1 : 0;
  }
  static int64_t svc_deadline_ms(weft_call* c) noexcept { return c ? as_call(c)->opts->deadline_ms : 0; }
  static int64_t svc_now() noexcept {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
  }
  static weft_str svc_idempotency_key(weft_call* c) noexcept {
    if (!c) return weft_str{"", 0};
    return str(as_call(c)->idempotency_key);
  }
  static weft_status svc_credential_get(weft_call* c, weft_str ref, weft_sink* out, weft_sink* err) noexcept {
    if (!c) return WEFT_ERR_INVALID_INPUT;
    try {
      const auto& creds = as_call(c)->host->options_.credentials;
      auto it = creds.find(std::string(view(ref)));
      if (it == creds.end()) {
        sdk::detail::sink_write(err, sdk::detail::error_json(
                                         "not_found", "credential '" + std::string(view(ref)) + "' does not exist",
                                         nullptr));
        return WEFT_ERR_NOT_FOUND;
      }
      sdk::detail::sink_write(out, it->second);
      return WEFT_OK;
    } catch (...) {
      return WEFT_ERR_INTERNAL;
    }
  }
  static weft_status svc_http_request(weft_call* c, weft_str request, weft_sink* out, weft_sink* err) noexcept {
    if (!c) return WEFT_ERR_INVALID_INPUT;
    try {
      std::string o, e;
      weft_status st = as_call(c)->host->options_.http_handler(view(request), o, e);
      sdk::detail::sink_write(st == WEFT_OK ? out : err, st == WEFT_OK ? o : e);
      return st;
    } catch (...) {
      return WEFT_ERR_INTERNAL;
    }
  }

  static weft_status svc_sandbox_run(weft_call* c, weft_str request, weft_sink* out, weft_sink* err) noexcept {
    if (!c) return WEFT_ERR_INVALID_INPUT;
    try {
      std::string o, e;
      weft_status st = as_call(c)->host->options_.sandbox_handler(view(request), o, e);
      sdk::detail::sink_write(st == WEFT_OK ? out : err, st == WEFT_OK ? o : e);
      return st;
    } catch (...) {
      return WEFT_ERR_INTERNAL;
    }
  }

  // ---- registrar ---------------------------------------------------------------------------------
  static FakeHost* as_host(weft_registrar* r) { return reinterpret_cast<FakeHost*>(r); }

  static weft_status reg_node_type(weft_registrar* r, const weft_node_type* t) noexcept {
    if (!r) return WEFT_ERR_INVALID_INPUT;
    FakeHost* self = as_host(r);
    try {
      auto refuse = [&](weft_status st, const std::string& why) {
        self->registration_problems_.push_back(why);
        return st;
      };
      if (!self->in_init_) return refuse(WEFT_ERR_INVALID_INPUT, "register_node_type called outside init");
      if (!WEFT_HAS_FIELD(t, weft_node_type, execute))
        return refuse(WEFT_ERR_VERSION, "weft_node_type is missing or its struct_size is too small");
      std::string name(view(t->type_name));
      if (!sdk::detail::valid_type_name(name))
        return refuse(WEFT_ERR_INVALID_INPUT, "node type name '" + name + "' is not 1-128 characters of [a-z0-9_.-]");
      if (t->type_version < 1) return refuse(WEFT_ERR_INVALID_INPUT, name + ": type_version must be >= 1");
      if (!t->execute) return refuse(WEFT_ERR_INVALID_INPUT, name + ": execute is NULL");
      sdk::Document schema;
      std::string perr = sdk::parse_json(view(t->schema_json), schema);
      if (!perr.empty() || !schema.IsObject())
        return refuse(WEFT_ERR_INVALID_INPUT, name + ": schema_json is not a JSON object " + perr);
      if (self->find(name, t->type_version))
        return refuse(WEFT_ERR_INVALID_INPUT,
                      name + " version " + std::to_string(t->type_version) + " is already registered");
      RegisteredNodeType rec;
      rec.type_name = std::move(name);
      rec.type_version = t->type_version;
      rec.schema_json = std::string(view(t->schema_json));
      rec.flags = t->flags;
      rec.type_state = t->type_state;
      rec.execute = t->execute;
      self->types_.push_back(std::move(rec));
      return WEFT_OK;
    } catch (...) {
      return WEFT_ERR_INTERNAL;
    }
  }

  static weft_status reg_storage_backend(weft_registrar* r, const weft_storage_backend* b) noexcept {
    if (!r) return WEFT_ERR_INVALID_INPUT;
    FakeHost* self = as_host(r);
    try {
      if (!self->in_init_) {
        self->registration_problems_.push_back("register_storage_backend called outside init");
        return WEFT_ERR_INVALID_INPUT;
      }
      if (!WEFT_HAS_FIELD(b, weft_storage_backend, close) || !b->open || !b->call || !b->close) {
        self->registration_problems_.push_back("storage backend struct too small or with NULL functions");
        return WEFT_ERR_INVALID_INPUT;
      }
      RegisteredStorageBackend rec;
      rec.scheme = std::string(view(b->scheme));
      rec.backend = *b;
      rec.backend.scheme = weft_str{nullptr, 0};  // the plugin's string is borrowed: use rec.scheme
      self->backends_.push_back(std::move(rec));
      return WEFT_OK;
    } catch (...) {
      return WEFT_ERR_INTERNAL;
    }
  }

  static weft_status reg_credential_type(weft_registrar* r, weft_str type_json) noexcept {
    if (!r) return WEFT_ERR_INVALID_INPUT;
    FakeHost* self = as_host(r);
    try {
      auto refuse = [&](const std::string& why) {
        self->registration_problems_.push_back(why);
        return WEFT_ERR_INVALID_INPUT;
      };
      if (!self->in_init_) return refuse("register_credential_type called outside init");
      std::string text(view(type_json));
      sdk::Document d;
      std::string perr = sdk::parse_json(text, d);
      if (!perr.empty() || !d.IsObject()) return refuse("credential type JSON is not a JSON object " + perr);
      const sdk::Value* name = sdk::find_member(d, "name");
      if (!name || !name->IsString() || name->GetStringLength() == 0)
        return refuse("credential type without a non-empty string \"name\"");
      if (self->find_credential_type(sdk::str_of(*name)))
        return refuse("credential type '" + std::string(sdk::str_of(*name)) + "' is already registered");
      self->credential_types_.push_back(std::move(text));
      return WEFT_OK;
    } catch (...) {
      return WEFT_ERR_INTERNAL;
    }
  }

  FakeHostOptions options_;
  weft_host_api api_{};
  weft_registrar_api registrar_api_{};
  bool in_init_ = false;
  bool loaded_ = false;
  uint32_t negotiated_ = 0;
  std::string load_error_;
  std::vector<std::string> registration_problems_;
  std::vector<RegisteredNodeType> types_;
  std::vector<RegisteredStorageBackend> backends_;
  std::vector<std::string> credential_types_;
  weft_plugin_shutdown_fn shutdown_fn_ = nullptr;
};

}  // namespace weft::testing

#endif  // WEFT_TESTING_FAKE_HOST_HPP
