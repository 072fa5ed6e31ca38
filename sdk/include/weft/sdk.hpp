// weft/sdk.hpp — the header-only C++ layer for Weft plugin authors.
//
// It is compiled INTO each plugin; nothing of it crosses the ABI. It turns the C contract of
// <weft/weft_abi.h> into:
//
//   * weft::sdk::Node     — a base class: one instance per registered node type, whose
//                           execute(Context&) runs one node attempt;
//   * weft::sdk::Context  — the parsed request (params, inputs, resume payload, attempt, context),
//                           the host services (log, events, cancellation, deadline, idempotency
//                           key) and the result helpers (output / fail / park);
//   * WEFT_PLUGIN(name) { WEFT_REGISTER_NODE(MyNode); WEFT_REGISTER_CREDENTIAL_TYPE(json); ... }
//                         — generates the three exported entry points weft_plugin_negotiate,
//                           weft_plugin_init and weft_plugin_shutdown.
//
// A node class declares what it is with static members:
//
//   class Greet : public weft::sdk::Node {
//    public:
//     static constexpr std::string_view type_name = "example.greet";   // required
//     static constexpr uint32_t type_version = 1;                       // optional, default 1
//     static constexpr uint32_t flags = 0;                              // optional, WEFT_NODE_FLAG_*
//     static constexpr std::string_view schema = R"({"display_name": "Greet", ...})";  // required
//     void execute(weft::sdk::Context& ctx) const override;
//   };
//
// EXCEPTION BARRIER: every exported entry point and every execute trampoline catches every
// exception. A node that throws yields WEFT_ERR_INTERNAL with {"code": "exception", ...}; the host
// never sees the exception. RapidJSON misuse (GetString() on a number, operator[] on a missing
// member) would normally assert() — i.e. abort the whole host, or be undefined behaviour under
// NDEBUG. Unless WEFT_SDK_KEEP_RAPIDJSON_ASSERT is defined, this header therefore defines
// RAPIDJSON_ASSERT to throw weft::sdk::JsonUsageError, which the barrier turns into
// WEFT_ERR_INTERNAL. For that to hold everywhere, include <weft/sdk.hpp> BEFORE any RapidJSON
// header in every translation unit of the plugin (a warning fires otherwise). For the same reason,
// do not link SDK code into one binary with code that uses RapidJSON under a different
// RAPIDJSON_ASSERT (such as the Weft host's own libraries): RapidJSON's inline functions would
// then exist in two versions (an ODR violation). Plugins are separate .so files, so this only
// concerns test binaries.
//
// OWNERSHIP: everything the host passes (request strings, the host-services table) is borrowed.
// Context copies/parses what it needs at the start of a call and writes results into the host's
// sinks before returning, so nothing of a call outlives it. What the plugin registers (node type
// descriptors, schema text) is copied by the host; the Node instances and their type_state live
// until weft_plugin_shutdown.
//
// THREAD-SAFETY: the host runs many attempts of the same node type concurrently, on any thread.
// Node::execute is const for that reason: a Node must not mutate shared state without its own
// synchronisation. A Context belongs to one call and one thread. weft_plugin_init and
// weft_plugin_shutdown are called once each, never concurrently with anything else.
//
// Requires C++17 and RapidJSON (header-only).
#ifndef WEFT_SDK_HPP
#define WEFT_SDK_HPP

#include <stdexcept>

// ---- RapidJSON assertions become exceptions (see the header comment) --------------------------
#ifndef WEFT_SDK_KEEP_RAPIDJSON_ASSERT
#if defined(RAPIDJSON_RAPIDJSON_H_) && !defined(WEFT_SDK_RAPIDJSON_ASSERT_INSTALLED)
#warning "weft/sdk.hpp: a RapidJSON header was included before weft/sdk.hpp; RapidJSON misuse will abort the host instead of failing the node. Include <weft/sdk.hpp> first (or define WEFT_SDK_KEEP_RAPIDJSON_ASSERT)."
#endif
namespace weft::sdk {
// Thrown by RAPIDJSON_ASSERT: a RapidJSON precondition was violated (wrong type accessor, missing
// member with operator[] ...). Caught at the exception barrier.
class JsonUsageError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};
}  // namespace weft::sdk
#ifndef RAPIDJSON_ASSERT
#define WEFT_SDK_RAPIDJSON_ASSERT_INSTALLED 1
#define RAPIDJSON_ASSERT(x) \
  (static_cast<bool>(x) ? static_cast<void>(0) \
                        : throw ::weft::sdk::JsonUsageError("RapidJSON precondition failed: " #x))
#endif
#endif  // WEFT_SDK_KEEP_RAPIDJSON_ASSERT

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "weft/weft_abi.h"

// The entry points every plugin exports. Declared here so that the definitions generated by
// WEFT_PLUGIN and the callers in tests (weft/testing/fake_host.hpp) agree on one signature.
extern "C" {
WEFT_EXPORT uint32_t weft_plugin_negotiate(uint32_t host_min_version, uint32_t host_max_version) noexcept;
WEFT_EXPORT weft_status weft_plugin_init(const weft_plugin_init_args* args) noexcept;
WEFT_EXPORT void weft_plugin_shutdown(void) noexcept;
}

namespace weft::sdk {

// ================================================================================================
// Versions
// ================================================================================================

// The ABI versions this SDK speaks: every minor of the major it was compiled against, up to the
// version of the header it was compiled with. (A major bump breaks compatibility, so an SDK
// compiled against 2.x cannot speak 1.x; with the current major 1 this range is [1.0, 1.N].)
inline constexpr uint32_t kAbiMin = WEFT_ABI_MAKE_VERSION(WEFT_ABI_VERSION_MAJOR, 0);
inline constexpr uint32_t kAbiMax = WEFT_ABI_VERSION;

// The handshake answer: the highest version inside both the host's range and [kAbiMin, kAbiMax];
// 0 when the ranges do not overlap (or the host's range is empty). Pure arithmetic: it neither
// allocates, logs nor calls the host, as weft_plugin_negotiate must not.
constexpr uint32_t negotiate(uint32_t host_min, uint32_t host_max) noexcept {
  if (host_min > host_max) return 0;
  const uint32_t lo = host_min > kAbiMin ? host_min : kAbiMin;
  const uint32_t hi = host_max < kAbiMax ? host_max : kAbiMax;
  return lo <= hi ? hi : 0;
}

// ================================================================================================
// JSON helpers
// ================================================================================================

using Value = rapidjson::Value;
using Document = rapidjson::Document;
using Allocator = rapidjson::MemoryPoolAllocator<>;

// The JSON type of a value as a word for error messages ("string", "number", "object" ...).
inline const char* json_type_name(const Value& v) noexcept {
  switch (v.GetType()) {
    case rapidjson::kNullType: return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType: return "boolean";
    case rapidjson::kObjectType: return "object";
    case rapidjson::kArrayType: return "array";
    case rapidjson::kStringType: return "string";
    case rapidjson::kNumberType: return "number";
  }
  return "unknown";
}

inline std::string_view str_of(const Value& v) {
  return v.IsString() ? std::string_view(v.GetString(), v.GetStringLength()) : std::string_view();
}

// The member `key` of object `obj` (keys need not be NUL-terminated), or nullptr when absent or
// when obj is not an object. Unlike operator[], never asserts.
inline const Value* find_member(const Value& obj, std::string_view key) {
  if (!obj.IsObject()) return nullptr;
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it)
    if (str_of(it->name) == key) return &it->value;
  return nullptr;
}

// Serialises a value as compact JSON. Returns false (out unspecified) when the value cannot be
// JSON: a non-finite number or a string that is not valid UTF-8.
inline bool write_json(const Value& v, std::string& out) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::CrtAllocator,
                    rapidjson::kWriteValidateEncodingFlag>
      w(buf);
  if (!v.Accept(w)) return false;
  out.assign(buf.GetString(), buf.GetSize());
  return true;
}

// Compact JSON of a value; "null" when it cannot be serialised (see write_json).
inline std::string to_json(const Value& v) {
  std::string s;
  if (!write_json(v, s)) s = "null";
  return s;
}

// A string value that copies `s` into `alloc`.
inline Value make_string(std::string_view s, Allocator& alloc) {
  // An empty string_view may have a null data(), which RapidJSON refuses.
  return Value(s.empty() ? "" : s.data(), static_cast<rapidjson::SizeType>(s.size()), alloc);
}

// Parses JSON text (not necessarily NUL-terminated) into `doc`. Iterative parsing: deeply nested
// input is a parse error, never a stack overflow. Returns an error description or "" on success.
inline std::string parse_json(std::string_view text, Document& doc) {
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(text.empty() ? "" : text.data(),
                                                                                     text.size());
  if (!doc.HasParseError()) return {};
  return std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " at offset " +
         std::to_string(doc.GetErrorOffset());
}

namespace detail {
// {"code": code, "message": message[, "details": details]} as JSON text. Never throws: falls back
// to a fixed text when even that cannot be built (out of memory, invalid UTF-8 in the message).
inline std::string error_json(std::string_view code, std::string_view message, const Value* details) noexcept {
  try {
    Allocator alloc;
    Value e(rapidjson::kObjectType);
    e.AddMember("code", make_string(code, alloc), alloc);
    e.AddMember("message", make_string(message, alloc), alloc);
    if (details && !details->IsNull()) e.AddMember("details", Value(*details, alloc), alloc);
    std::string out;
    if (write_json(e, out)) return out;
    if (details) return error_json(code, message, nullptr);
  } catch (...) {
  }
  try {
    return R"j({"code":"internal_error","message":"could not serialise an error (out of memory or invalid UTF-8)"})j";
  } catch (...) {
    return {};
  }
}

inline bool sink_usable(const weft_sink* s) noexcept {
  return WEFT_HAS_FIELD(s, weft_sink, write) && s->write != nullptr;
}
inline void sink_write(weft_sink* s, std::string_view data) noexcept {
  if (sink_usable(s) && !data.empty()) s->write(s->ctx, data.data(), data.size());
}
inline std::string_view view(weft_str s) noexcept {
  return s.ptr ? std::string_view(s.ptr, s.len) : std::string_view();
}
inline weft_str to_str(std::string_view s) noexcept { return weft_str{s.data(), s.size()}; }
}  // namespace detail

// Runs `f` behind an exception barrier, for plugin code that implements raw ABI function pointers
// itself (e.g. a weft_storage_backend): returns f()'s status, or WEFT_ERR_INTERNAL with an error
// JSON written to `error` when it throws.
template <typename F>
weft_status guard(weft_sink* error, F&& f) noexcept {
  try {
    return std::forward<F>(f)();
  } catch (const std::exception& e) {
    detail::sink_write(error, detail::error_json("exception", std::string("plugin threw: ") + e.what(), nullptr));
  } catch (...) {
    detail::sink_write(error, detail::error_json("exception", "plugin threw a non-standard exception", nullptr));
  }
  return WEFT_ERR_INTERNAL;
}

// ================================================================================================
// Node types
// ================================================================================================

class Context;
inline weft_status execute_trampoline(void* type_state, const weft_node_request* request,
                                      const weft_node_result* result) noexcept;

// What a node type declares to the host. Filled from a Node subclass's static members by
// WEFT_REGISTER_NODE, or built by hand for types generated at run time (Registration::add_node).
struct NodeInfo {
  std::string type_name;   // [a-z0-9_.-]+, unique across all plugins ("core.set")
  uint32_t type_version = 1;
  std::string schema_json; // a JSON object, docs/plugin-abi.md "Node schema"
  uint32_t flags = 0;      // WEFT_NODE_FLAG_*
};

// Base class of node implementations. One instance per registered node type, shared by every
// execution of that type: execute() is const and must be thread-safe (see the header comment).
class Node {
 public:
  virtual ~Node() = default;
  // Runs one node attempt. Report the result through ctx: output(...) for success (no call at all
  // means {"main": null}), fail(...)/invalid_input(...) for errors, park...(...) to be woken later.
  // Throwing is allowed but is treated as a bug: the attempt ends with WEFT_ERR_INTERNAL.
  virtual void execute(Context& ctx) const = 0;
};

namespace detail {
struct NodeEntry {
  NodeInfo info;
  std::unique_ptr<Node> node;
  const weft_host_api* host = nullptr;  // borrowed; valid until shutdown
  uint32_t abi_version = 0;
};
}  // namespace detail

// ================================================================================================
// Context — one node attempt
// ================================================================================================

class Context {
 public:
  enum class Outcome { Ok, Error, Park };

  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // ---- the request -----------------------------------------------------------------------------

  std::string_view node_id() const { return node_id_; }
  std::string_view type_name() const { return entry_->info.type_name; }
  uint32_t type_version() const { return entry_->info.type_version; }

  // The node's parameters with expressions already rendered: always a JSON object.
  const Document& params() const { return params_; }
  // One parameter; nullptr when absent. (A parameter explicitly set to null is returned.)
  const Value* param(std::string_view name) const { return member(params_, name); }

  // The data that arrived, {"<handle>": value}: always a JSON object. A handle declared
  // "multiple": true holds an array of {"from": "<node id>", "data": value}.
  const Document& inputs() const { return inputs_; }
  const Value* input(std::string_view handle = "main") const { return member(inputs_, handle); }
  // The input on `handle`, or null when nothing arrived there.
  const Value& input_or_null(std::string_view handle = "main") const {
    const Value* v = input(handle);
    return v ? *v : null_;
  }

  // True when this call follows a WEFT_PARK; resume() is then {"reason": "timer"} or
  // {"reason": "answer", "answer": ...}. resume() is null on a normal run.
  bool resumed() const { return resumed_; }
  const Document& resume() const { return resume_; }
  // resume()["reason"] as a string ("" when not resumed).
  std::string_view resume_reason() const {
    const Value* r = member(resume_, "reason");
    return r ? str_of(*r) : std::string_view();
  }

  uint32_t attempt() const { return attempt_; }  // 1 on the first attempt

  // {"execution_id", "workflow_id", "workflow_version", "scope"}: always a JSON object.
  const Document& context() const { return context_; }
  std::string_view execution_id() const { return context_string("execution_id"); }
  std::string_view workflow_id() const { return context_string("workflow_id"); }
  std::string_view scope() const { return context_string("scope"); }

  // ---- defensive parameter readers ---------------------------------------------------------------
  // Each returns the value, or std::nullopt after recording WEFT_ERR_INVALID_INPUT with code
  // "missing_parameter" (absent or null and no fallback) or "invalid_parameter" (wrong type, out
  // of range, not an option), a message naming the field, and details {"field": name}. The caller
  // simply returns when it gets nullopt.

  std::optional<std::string_view> string_param(std::string_view name,
                                               std::optional<std::string_view> fallback = std::nullopt,
                                               size_t max_length = std::numeric_limits<size_t>::max()) {
    const Value* v = present_param(name);
    if (!v) return fallback ? fallback : missing(name);
    if (!v->IsString()) return wrong_type<std::string_view>(name, "a string", *v);
    std::string_view s = str_of(*v);
    if (s.size() > max_length)
      return bad_param<std::string_view>(name, "is " + std::to_string(s.size()) + " bytes long; at most " +
                                                   std::to_string(max_length) + " are allowed");
    return s;
  }

  std::optional<double> number_param(std::string_view name, std::optional<double> fallback = std::nullopt,
                                     double min = -std::numeric_limits<double>::infinity(),
                                     double max = std::numeric_limits<double>::infinity()) {
    const Value* v = present_param(name);
    double d;
    if (!v) {
      if (!fallback) return missing(name);
      d = *fallback;
    } else {
      if (!v->IsNumber()) return wrong_type<double>(name, "a number", *v);
      d = v->GetDouble();
    }
    if (!std::isfinite(d)) return bad_param<double>(name, "must be a finite number");
    if (d < min || d > max)
      return bad_param<double>(name, "is " + num(d) + "; it must be between " + num(min) + " and " + num(max));
    return d;
  }

  // Accepts JSON integers and numbers with an integral value (10.0).
  std::optional<int64_t> integer_param(std::string_view name, std::optional<int64_t> fallback = std::nullopt,
                                       int64_t min = std::numeric_limits<int64_t>::min(),
                                       int64_t max = std::numeric_limits<int64_t>::max()) {
    const Value* v = present_param(name);
    int64_t i;
    if (!v) {
      if (!fallback) return missing(name);
      i = *fallback;
    } else if (v->IsInt64()) {
      i = v->GetInt64();
    } else if (v->IsDouble() && std::isfinite(v->GetDouble()) && std::trunc(v->GetDouble()) == v->GetDouble() &&
               std::fabs(v->GetDouble()) < 9.0e18) {
      i = static_cast<int64_t>(v->GetDouble());
    } else if (v->IsUint64()) {
      return bad_param<int64_t>(name, "is too large");
    } else if (v->IsNumber()) {
      return bad_param<int64_t>(name, "must be a whole number");
    } else {
      return wrong_type<int64_t>(name, "an integer", *v);
    }
    if (i < min || i > max)
      return bad_param<int64_t>(name, "is " + std::to_string(i) + "; it must be between " + std::to_string(min) +
                                          " and " + std::to_string(max));
    return i;
  }

  std::optional<bool> bool_param(std::string_view name, std::optional<bool> fallback = std::nullopt) {
    const Value* v = present_param(name);
    if (!v) return fallback ? fallback : missing(name);
    if (!v->IsBool()) return wrong_type<bool>(name, "a boolean", *v);
    return v->GetBool();
  }

  std::optional<std::string_view> select_param(std::string_view name, std::initializer_list<std::string_view> options,
                                               std::optional<std::string_view> fallback = std::nullopt) {
    const Value* v = present_param(name);
    if (!v) return fallback ? fallback : missing(name);
    if (!v->IsString()) return wrong_type<std::string_view>(name, "a string", *v);
    std::string_view s = str_of(*v);
    std::string list;
    for (std::string_view o : options) {
      if (o == s) return s;
      if (!list.empty()) list += ", ";
      list += o;
    }
    return bad_param<std::string_view>(name, "is \"" + std::string(s) + "\"; expected one of " + list);
  }

  // Records an invalid_parameter error for `field` (which may be a path like "rules[2].output").
  void invalid_parameter(std::string_view field, std::string_view problem) {
    fail_parameter("invalid_parameter", field, std::string(problem));
  }

  // ---- host services (no-ops / neutral answers when the host does not offer one) ----------------

  void log(weft_log_level level, std::string_view message) const {
    const weft_host_api* h = entry_->host;
    if (WEFT_HAS_FIELD(h, weft_host_api, log) && h->log) h->log(call_, level, detail::to_str(message));
  }
  void log_debug(std::string_view m) const { log(WEFT_LOG_DEBUG, m); }
  void log_info(std::string_view m) const { log(WEFT_LOG_INFO, m); }
  void log_warn(std::string_view m) const { log(WEFT_LOG_WARN, m); }
  void log_error(std::string_view m) const { log(WEFT_LOG_ERROR, m); }

  // Emits a custom event; data_json must be JSON text. WEFT_ERR_UNSUPPORTED without the service.
  weft_status emit_event(std::string_view type, std::string_view data_json) const {
    const weft_host_api* h = entry_->host;
    if (!(WEFT_HAS_FIELD(h, weft_host_api, emit_event) && h->emit_event)) return WEFT_ERR_UNSUPPORTED;
    return h->emit_event(call_, detail::to_str(type), detail::to_str(data_json));
  }
  weft_status emit_event(std::string_view type, const Value& data) const {
    std::string text;
    if (!write_json(data, text)) return WEFT_ERR_INVALID_INPUT;
    return emit_event(type, text);
  }

  // True once the execution was cancelled or this attempt's deadline passed: long loops poll it.
  bool is_cancelled() const {
    const weft_host_api* h = entry_->host;
    return WEFT_HAS_FIELD(h, weft_host_api, is_cancelled) && h->is_cancelled && h->is_cancelled(call_) != 0;
  }
  // Absolute deadline of this attempt on the host's monotonic clock in ms; 0 = none.
  int64_t deadline() const {
    const weft_host_api* h = entry_->host;
    return (WEFT_HAS_FIELD(h, weft_host_api, deadline_ms) && h->deadline_ms) ? h->deadline_ms(call_) : 0;
  }
  // The host's monotonic clock in ms (0 when not offered).
  int64_t now_monotonic_ms() const {
    const weft_host_api* h = entry_->host;
    return (WEFT_HAS_FIELD(h, weft_host_api, now_monotonic_ms) && h->now_monotonic_ms) ? h->now_monotonic_ms() : 0;
  }
  // Milliseconds left before the deadline (may be negative); nullopt when there is no deadline.
  std::optional<int64_t> remaining_ms() const {
    int64_t d = deadline();
    if (d == 0) return std::nullopt;
    return d - now_monotonic_ms();
  }
  // "exec:node_key:attempt" — stable across re-runs of the same attempt; use it with outside
  // systems that deduplicate. Valid for the whole call. Empty when the host does not offer it.
  std::string_view idempotency_key() const {
    const weft_host_api* h = entry_->host;
    if (!(WEFT_HAS_FIELD(h, weft_host_api, idempotency_key) && h->idempotency_key)) return {};
    return detail::view(h->idempotency_key(call_));
  }
  // Decrypted credential JSON for a credential reference of this node's configuration.
  weft_status credential_get(std::string_view ref, std::string& out_json, std::string& out_error) const {
    const weft_host_api* h = entry_->host;
    if (!(WEFT_HAS_FIELD(h, weft_host_api, credential_get) && h->credential_get)) {
      out_error = detail::error_json("unsupported", "this host offers no credential service", nullptr);
      return WEFT_ERR_UNSUPPORTED;
    }
    return call_with_sinks(out_json, out_error, [&](weft_sink* o, weft_sink* e) {
      return h->credential_get(call_, detail::to_str(ref), o, e);
    });
  }
  // The host's guarded outbound HTTP client; request and response as JSON.
  weft_status http_request(std::string_view request_json, std::string& out_json, std::string& out_error) const {
    const weft_host_api* h = entry_->host;
    if (!(WEFT_HAS_FIELD(h, weft_host_api, http_request) && h->http_request)) {
      out_error = detail::error_json("unsupported", "this host offers no outbound HTTP service", nullptr);
      return WEFT_ERR_UNSUPPORTED;
    }
    return call_with_sinks(out_json, out_error, [&](weft_sink* o, weft_sink* e) {
      return h->http_request(call_, detail::to_str(request_json), o, e);
    });
  }
  // ABI 1.1: runs user code in the host's sandbox (weft_abi.h, docs/sandbox.md).
  weft_status sandbox_run(std::string_view request_json, std::string& out_json, std::string& out_error) const {
    const weft_host_api* h = entry_->host;
    if (!(WEFT_HAS_FIELD(h, weft_host_api, sandbox_run) && h->sandbox_run)) {
      out_error = detail::error_json("sandbox_unavailable", "this host offers no sandbox for user code", nullptr);
      return WEFT_ERR_UNSUPPORTED;
    }
    return call_with_sinks(out_json, out_error, [&](weft_sink* o, weft_sink* e) {
      return h->sandbox_run(call_, detail::to_str(request_json), o, e);
    });
  }

  const weft_host_api* host() const { return entry_->host; }
  uint32_t abi_version() const { return entry_->abi_version; }

  // ---- results ----------------------------------------------------------------------------------
  // The first fail()/park() decides the result of the attempt; later fail()/park() calls are
  // ignored, and outputs are discarded when the attempt failed or parked.

  // The allocator of every document of this call (params, inputs, outputs...). Values built with
  // it can be moved into output() without a copy.
  Allocator& allocator() { return alloc_; }

  // Takes output `handle` with a deep copy of `value` (replacing an earlier value of the handle).
  void output(std::string_view handle, const Value& value) { set_output(handle, Value(value, alloc_)); }
  // Takes output `handle`, moving `value` in. Its strings must be owned by allocator() or live
  // until execute() returns (values taken from params()/inputs() qualify).
  void output(std::string_view handle, Value&& value) { set_output(handle, std::move(value)); }
  void output_null(std::string_view handle) { set_output(handle, Value()); }
  void output_string(std::string_view handle, std::string_view text) { set_output(handle, make_string(text, alloc_)); }
  // Parses `json_text` as the value of `handle`. On invalid JSON records WEFT_ERR_INTERNAL
  // ("invalid_output") and returns false.
  bool output_json(std::string_view handle, std::string_view json_text) {
    Document d(&alloc_);
    std::string err = parse_json(json_text, d);
    if (!err.empty()) {
      fail_with_status(WEFT_ERR_INTERNAL, "invalid_output",
                       "node '" + std::string(node_id_) + "': output for handle '" + std::string(handle) +
                           "' is not valid JSON: " + err);
      return false;
    }
    set_output(handle, Value(std::move(static_cast<Value&>(d))));
    return true;
  }
  // Takes no output handle at all (everything downstream is skipped). Without any output call the
  // attempt's output is {"main": null}.
  void no_output() { outputs_touched_ = true; }
  bool has_output(std::string_view handle) const { return member(outputs_, handle) != nullptr; }

  // Ends the attempt with an error: WEFT_ERR_FAILED (retried per the node's settings) when
  // retryable, WEFT_ERR_INVALID_INPUT (never retried) otherwise. code: snake_case; message: names
  // the thing and the cause; details: an optional JSON value (copied).
  void fail(std::string_view code, std::string_view message, const Value* details = nullptr, bool retryable = true) {
    fail_with_status(retryable ? WEFT_ERR_FAILED : WEFT_ERR_INVALID_INPUT, code, message, details);
  }
  void invalid_input(std::string_view code, std::string_view message, const Value* details = nullptr) {
    fail_with_status(WEFT_ERR_INVALID_INPUT, code, message, details);
  }
  // Any error status (WEFT_ERR_TIMEOUT, WEFT_ERR_CANCELLED, ...). WEFT_OK and WEFT_PARK are not
  // errors and become WEFT_ERR_INTERNAL.
  void fail_with_status(weft_status status, std::string_view code, std::string_view message,
                        const Value* details = nullptr) {
    if (outcome_ != Outcome::Ok) return;
    if (status == WEFT_OK || status == WEFT_PARK) status = WEFT_ERR_INTERNAL;
    outcome_ = Outcome::Error;
    status_ = status;
    error_text_ = detail::error_json(code, message, details);
  }

  // Parks the node until wall-clock time `wake_at_unix_ms`; it is then called again with
  // resume() = {"reason": "timer"}.
  void park_until(int64_t wake_at_unix_ms) { park(wake_at_unix_ms, nullptr); }
  // Parks the node until a human answers `request`; called again with
  // resume() = {"reason": "answer", "answer": ...}.
  void park_for_answer(const Value& request) { park(std::nullopt, &request); }
  // Both (a question with a timeout) or either. With neither, records WEFT_ERR_INTERNAL.
  void park(std::optional<int64_t> wake_at_unix_ms, const Value* request) {
    if (outcome_ != Outcome::Ok) return;
    if (!wake_at_unix_ms && !request) {
      fail_with_status(WEFT_ERR_INTERNAL, "invalid_park", "park() needs a wake-up time and/or a request");
      return;
    }
    Value p(rapidjson::kObjectType);
    if (wake_at_unix_ms) p.AddMember("wake_at_ms", Value(static_cast<int64_t>(*wake_at_unix_ms)), alloc_);
    if (request) p.AddMember("request", Value(*request, alloc_), alloc_);
    std::string text;
    if (!write_json(p, text)) {
      fail_with_status(WEFT_ERR_INTERNAL, "invalid_park", "the park request is not serialisable JSON");
      return;
    }
    outcome_ = Outcome::Park;
    status_ = WEFT_PARK;
    park_text_ = std::move(text);
  }

  Outcome outcome() const { return outcome_; }
  bool failed() const { return outcome_ == Outcome::Error; }
  bool parked() const { return outcome_ == Outcome::Park; }
  weft_status status() const { return status_; }

 private:
  friend weft_status execute_trampoline(void*, const weft_node_request*, const weft_node_result*) noexcept;

  static constexpr size_t kInlineBytes = 2048;

  Context(const detail::NodeEntry& entry, const weft_node_request* req)
      : entry_(&entry),
        alloc_(inline_buf_, sizeof inline_buf_, 16 * 1024),
        params_(&alloc_),
        inputs_(&alloc_),
        resume_(&alloc_),
        context_(&alloc_),
        outputs_(&alloc_) {
    outputs_.SetObject();
    // Read each request field only when the host's struct declares it (older hosts send shorter
    // structs); absent fields take their neutral value.
    if (WEFT_HAS_FIELD(req, weft_node_request, call)) call_ = req->call;
    if (WEFT_HAS_FIELD(req, weft_node_request, node_id)) node_id_ = detail::view(req->node_id);
    if (WEFT_HAS_FIELD(req, weft_node_request, attempt)) attempt_ = req->attempt;
    if (!parse_object("params_json", WEFT_HAS_FIELD(req, weft_node_request, params_json) ? req->params_json : weft_str{},
                      params_))
      return;
    if (!parse_object("input_json", WEFT_HAS_FIELD(req, weft_node_request, input_json) ? req->input_json : weft_str{},
                      inputs_))
      return;
    if (!parse_object("context_json",
                      WEFT_HAS_FIELD(req, weft_node_request, context_json) ? req->context_json : weft_str{}, context_))
      return;
    std::string_view resume =
        WEFT_HAS_FIELD(req, weft_node_request, resume_json) ? detail::view(req->resume_json) : std::string_view();
    if (!resume.empty()) {
      std::string err = parse_json(resume, resume_);
      if (!err.empty()) {
        request_error("resume_json", err);
        return;
      }
      resumed_ = true;
    }
  }

  // Writes the recorded result into the host's sinks and returns the status.
  weft_status finish(const weft_node_result* res) {
    weft_sink* out = WEFT_HAS_FIELD(res, weft_node_result, output) ? res->output : nullptr;
    weft_sink* err = WEFT_HAS_FIELD(res, weft_node_result, error) ? res->error : nullptr;
    weft_sink* park = WEFT_HAS_FIELD(res, weft_node_result, park) ? res->park : nullptr;
    if (outcome_ == Outcome::Ok) {
      if (!outputs_touched_) outputs_.AddMember("main", Value(), alloc_);
      std::string text;
      if (write_json(outputs_, text)) {
        detail::sink_write(out, text);
        return WEFT_OK;
      }
      fail_with_status(WEFT_ERR_INTERNAL, "invalid_output",
                       "node '" + std::string(node_id_) + "' (" + entry_->info.type_name +
                           "): the output contains a non-finite number or invalid UTF-8 and cannot be JSON");
    }
    if (outcome_ == Outcome::Park) {
      detail::sink_write(park, park_text_);
      return WEFT_PARK;
    }
    detail::sink_write(err, error_text_);
    return status_;
  }

  static const Value* member(const Value& obj, std::string_view key) { return find_member(obj, key); }
  std::string_view context_string(const char* key) const {
    const Value* v = member(context_, key);
    return v ? str_of(*v) : std::string_view();
  }
  // The parameter, or nullptr when absent or null (null counts as "not set").
  const Value* present_param(std::string_view name) const {
    const Value* v = param(name);
    return (v && !v->IsNull()) ? v : nullptr;
  }

  void set_output(std::string_view handle, Value&& v) {
    outputs_touched_ = true;
    for (auto it = outputs_.MemberBegin(); it != outputs_.MemberEnd(); ++it) {
      if (str_of(it->name) == handle) {
        it->value = std::move(v);
        return;
      }
    }
    outputs_.AddMember(make_string(handle, alloc_), std::move(v), alloc_);
  }

  bool parse_object(const char* what, weft_str text, Document& doc) {
    std::string_view t = detail::view(text);
    if (t.empty()) {
      doc.SetObject();
      return true;
    }
    std::string err = parse_json(t, doc);
    if (err.empty() && !doc.IsObject()) err = std::string("expected a JSON object, got ") + json_type_name(doc);
    if (!err.empty()) {
      request_error(what, err);
      return false;
    }
    return true;
  }
  void request_error(const char* what, const std::string& err) {
    params_.SetObject();
    inputs_.SetObject();
    context_.SetObject();
    invalid_input("invalid_request", "node '" + std::string(node_id_) + "' (" + entry_->info.type_name + "): " +
                                         what + " is invalid: " + err);
  }

  void fail_parameter(const char* code, std::string_view field, std::string problem) {
    Value details(rapidjson::kObjectType);
    details.AddMember("field", make_string(field, alloc_), alloc_);
    invalid_input(code, "node '" + std::string(node_id_) + "' (" + entry_->info.type_name + "): parameter '" +
                            std::string(field) + "' " + problem,
                  &details);
  }
  std::nullopt_t missing(std::string_view name) {
    fail_parameter("missing_parameter", name, "is required but not set");
    return std::nullopt;
  }
  template <typename T>
  std::optional<T> wrong_type(std::string_view name, const char* expected, const Value& got) {
    fail_parameter("invalid_parameter", name, std::string("must be ") + expected + ", not " + json_type_name(got));
    return std::nullopt;
  }
  template <typename T>
  std::optional<T> bad_param(std::string_view name, std::string problem) {
    fail_parameter("invalid_parameter", name, std::move(problem));
    return std::nullopt;
  }
  static std::string num(double d) {
    if (std::isinf(d)) return d < 0 ? "-infinity" : "infinity";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", d);
    return buf;
  }

  template <typename F>
  weft_status call_with_sinks(std::string& out_json, std::string& out_error, F&& f) const {
    auto append = [](void* ctx, const char* p, size_t n) {
      if (p && n) static_cast<std::string*>(ctx)->append(p, n);
    };
    weft_sink o{sizeof(weft_sink), &out_json, append};
    weft_sink e{sizeof(weft_sink), &out_error, append};
    return f(&o, &e);
  }

  const detail::NodeEntry* entry_;
  weft_call* call_ = nullptr;
  std::string_view node_id_;
  uint32_t attempt_ = 1;
  bool resumed_ = false;

  alignas(std::max_align_t) char inline_buf_[kInlineBytes];
  Allocator alloc_;  // every document of the call shares it
  Document params_, inputs_, resume_, context_, outputs_;
  Value null_;

  bool outputs_touched_ = false;
  Outcome outcome_ = Outcome::Ok;
  weft_status status_ = WEFT_OK;
  std::string error_text_, park_text_;
};

// The weft_node_execute_fn of every SDK node type: parses the request, runs Node::execute behind
// the exception barrier and writes the result into the host's sinks.
inline weft_status execute_trampoline(void* type_state, const weft_node_request* request,
                                      const weft_node_result* result) noexcept {
  const auto* entry = static_cast<const detail::NodeEntry*>(type_state);
  weft_sink* err = WEFT_HAS_FIELD(result, weft_node_result, error) ? result->error : nullptr;
  const char* type = entry ? entry->info.type_name.c_str() : "?";
  try {
    if (!entry || !entry->node) {
      detail::sink_write(err, detail::error_json("internal_error", "execute called with a null type_state", nullptr));
      return WEFT_ERR_INTERNAL;
    }
    if (!WEFT_HAS_FIELD(request, weft_node_request, params_json)) {
      detail::sink_write(err, detail::error_json("invalid_request",
                                                 std::string(type) + ": the node request is missing or too small",
                                                 nullptr));
      return WEFT_ERR_VERSION;
    }
    Context ctx(*entry, request);
    if (!ctx.failed()) entry->node->execute(ctx);
    return ctx.finish(result);
  } catch (const std::exception& e) {
    detail::sink_write(err, detail::error_json("exception", std::string("node type ") + type + " threw: " + e.what(),
                                               nullptr));
  } catch (...) {
    detail::sink_write(err, detail::error_json("exception",
                                               std::string("node type ") + type + " threw a non-standard exception",
                                               nullptr));
  }
  return WEFT_ERR_INTERNAL;
}

// ================================================================================================
// Registration (inside WEFT_PLUGIN)
// ================================================================================================

namespace detail {
template <typename T, typename = void>
struct has_type_version : std::false_type {};
template <typename T>
struct has_type_version<T, std::void_t<decltype(T::type_version)>> : std::true_type {};
template <typename T, typename = void>
struct has_flags : std::false_type {};
template <typename T>
struct has_flags<T, std::void_t<decltype(T::flags)>> : std::true_type {};

inline bool valid_type_name(std::string_view n) {
  if (n.empty() || n.size() > 128) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) return false;
  return true;
}

class PluginRuntime;
}  // namespace detail

// Handed to the WEFT_PLUGIN block during weft_plugin_init. Everything registered here is handed to
// the host immediately; the first problem stops registration and makes init fail with it.
class Registration {
 public:
  // Registers node class T (constructed with `args`). T declares static type_name and schema and
  // optionally type_version (default 1) and flags (default 0).
  template <typename T, typename... Args>
  void add(Args&&... args) {
    static_assert(std::is_base_of_v<Node, T>, "WEFT_REGISTER_NODE: the class must derive from weft::sdk::Node");
    if (failed()) return;
    NodeInfo info;
    info.type_name = std::string(T::type_name);
    info.schema_json = std::string(T::schema);
    if constexpr (detail::has_type_version<T>::value) info.type_version = static_cast<uint32_t>(T::type_version);
    if constexpr (detail::has_flags<T>::value) info.flags = static_cast<uint32_t>(T::flags);
    add_node(std::move(info), std::make_unique<T>(std::forward<Args>(args)...));
  }

  // Registers a node type described at run time.
  void add_node(NodeInfo info, std::unique_ptr<Node> node);

  // Registers a storage backend. The plugin owns backend_state and the functions, which must stay
  // valid until shutdown; wrap their bodies in weft::sdk::guard(). struct_size is filled in.
  void add_storage_backend(weft_storage_backend backend);

  // Registers a credential type: a JSON object {"name", "display_name", "description", "fields",
  // "apply"} (docs/nodes-integrations.md shows complete ones). Only a non-empty "name" is checked
  // here; the host validates the rest and copies the text. On a host without the service
  // (register_credential_type outside the registrar table or NULL: older hosts) it does nothing and
  // logs nothing — node types that use the credential type still load there.
  void credential_type(std::string_view type_json);

  // Runs `fn` at weft_plugin_shutdown (in reverse order of registration), before the node
  // instances are destroyed.
  void on_shutdown(std::function<void()> fn) { shutdown_hooks_->push_back(std::move(fn)); }

  // The plugin's configuration from the host config: always a JSON object.
  const Document& config() const { return *config_; }
  const weft_host_api* host() const { return host_; }
  uint32_t abi_version() const { return abi_version_; }
  // A line in the host log (not tied to an execution).
  void log(weft_log_level level, std::string_view message) const {
    if (WEFT_HAS_FIELD(host_, weft_host_api, log) && host_->log) host_->log(nullptr, level, detail::to_str(message));
  }

  // Makes init fail (for plugins that detect a problem themselves, e.g. bad configuration).
  void fail(weft_status status, std::string_view code, std::string_view message) {
    if (failed()) return;
    status_ = (status == WEFT_OK || status == WEFT_PARK) ? WEFT_ERR_INTERNAL : status;
    error_ = detail::error_json(code, message, nullptr);
  }
  bool failed() const { return status_ != WEFT_OK; }

 private:
  friend class detail::PluginRuntime;
  Registration(std::string_view plugin, const weft_plugin_init_args* args, const Document* config,
               std::vector<std::unique_ptr<detail::NodeEntry>>* entries,
               std::vector<std::function<void()>>* hooks)
      : plugin_(plugin), config_(config), entries_(entries), shutdown_hooks_(hooks) {
    abi_version_ = args->abi_version;
    if (WEFT_HAS_FIELD(args, weft_plugin_init_args, host)) host_ = args->host;
    if (WEFT_HAS_FIELD(args, weft_plugin_init_args, registrar_api)) api_ = args->registrar_api;
    if (WEFT_HAS_FIELD(args, weft_plugin_init_args, registrar)) registrar_ = args->registrar;
  }

  std::string plugin_;
  const Document* config_;
  std::vector<std::unique_ptr<detail::NodeEntry>>* entries_;
  std::vector<std::function<void()>>* shutdown_hooks_;
  const weft_host_api* host_ = nullptr;
  const weft_registrar_api* api_ = nullptr;
  weft_registrar* registrar_ = nullptr;
  uint32_t abi_version_ = 0;
  weft_status status_ = WEFT_OK;
  std::string error_;
};

inline void Registration::add_node(NodeInfo info, std::unique_ptr<Node> node) {
  if (failed()) return;
  const std::string what = "plugin '" + plugin_ + "': node type '" + info.type_name + "'";
  if (!detail::valid_type_name(info.type_name))
    return fail(WEFT_ERR_INVALID_INPUT, "invalid_node_type",
                what + ": the name must be 1-128 characters of [a-z0-9_.-]");
  if (info.type_version < 1)
    return fail(WEFT_ERR_INVALID_INPUT, "invalid_node_type", what + ": type_version must be at least 1");
  if (!node) return fail(WEFT_ERR_INVALID_INPUT, "invalid_node_type", what + ": no implementation given");
  {
    Document schema;
    std::string err = parse_json(info.schema_json, schema);
    if (err.empty() && !schema.IsObject()) err = std::string("expected a JSON object, got ") + json_type_name(schema);
    if (!err.empty()) return fail(WEFT_ERR_INVALID_INPUT, "invalid_schema", what + ": schema is invalid: " + err);
  }
  for (const auto& e : *entries_)
    if (e->info.type_name == info.type_name && e->info.type_version == info.type_version)
      return fail(WEFT_ERR_INVALID_INPUT, "duplicate_node_type",
                  what + " version " + std::to_string(info.type_version) + " is registered twice");
  if (!(WEFT_HAS_FIELD(api_, weft_registrar_api, register_node_type) && api_->register_node_type))
    return fail(WEFT_ERR_UNSUPPORTED, "unsupported", what + ": the host offers no node type registration");

  auto entry = std::make_unique<detail::NodeEntry>();
  entry->info = std::move(info);
  entry->node = std::move(node);
  entry->host = host_;
  entry->abi_version = abi_version_;

  weft_node_type t{};
  t.struct_size = sizeof(weft_node_type);
  t.type_name = detail::to_str(entry->info.type_name);
  t.type_version = entry->info.type_version;
  t.schema_json = detail::to_str(entry->info.schema_json);
  t.flags = entry->info.flags;
  t.type_state = entry.get();
  t.execute = &execute_trampoline;
  // Keep the entry before handing it over: the host may start using type_state right away.
  entries_->push_back(std::move(entry));
  weft_status st = api_->register_node_type(registrar_, &t);
  if (st != WEFT_OK)
    fail(st, "registration_rejected",
         what + " version " + std::to_string(t.type_version) + ": the host rejected it (status " +
             std::to_string(static_cast<int>(st)) + ")");
}

inline void Registration::credential_type(std::string_view type_json) {
  if (failed()) return;
  std::string what = "plugin '" + plugin_ + "': credential type";
  {
    Document doc;
    std::string err = parse_json(type_json, doc);
    if (err.empty() && !doc.IsObject()) err = std::string("expected a JSON object, got ") + json_type_name(doc);
    const Value* name = err.empty() ? find_member(doc, "name") : nullptr;
    if (err.empty() && !(name && name->IsString() && name->GetStringLength() > 0))
      err = "\"name\" must be a non-empty string";
    if (!err.empty()) return fail(WEFT_ERR_INVALID_INPUT, "invalid_credential_type", what + " is invalid: " + err);
    what += " '" + std::string(str_of(*name)) + "'";
  }
  if (!(WEFT_HAS_FIELD(api_, weft_registrar_api, register_credential_type) && api_->register_credential_type)) return;
  weft_status st = api_->register_credential_type(registrar_, detail::to_str(type_json));
  if (st != WEFT_OK)
    fail(st, "registration_rejected",
         what + ": the host rejected it (status " + std::to_string(static_cast<int>(st)) + ")");
}

inline void Registration::add_storage_backend(weft_storage_backend backend) {
  if (failed()) return;
  const std::string what = "plugin '" + plugin_ + "': storage backend '" + std::string(detail::view(backend.scheme)) + "'";
  if (!(WEFT_HAS_FIELD(api_, weft_registrar_api, register_storage_backend) && api_->register_storage_backend))
    return fail(WEFT_ERR_UNSUPPORTED, "unsupported", what + ": the host offers no storage backend registration");
  backend.struct_size = sizeof(weft_storage_backend);
  weft_status st = api_->register_storage_backend(registrar_, &backend);
  if (st != WEFT_OK)
    fail(st, "registration_rejected",
         what + ": the host rejected it (status " + std::to_string(static_cast<int>(st)) + ")");
}

namespace detail {

// The per-plugin state behind the three entry points (one instance per plugin, created by
// WEFT_PLUGIN with internal linkage so that several plugins in one process never share it).
class PluginRuntime {
 public:
  using RegisterFn = void (*)(Registration&);
  explicit PluginRuntime(const char* name) : name_(name) {}
  ~PluginRuntime() { shutdown(); }
  PluginRuntime(const PluginRuntime&) = delete;
  PluginRuntime& operator=(const PluginRuntime&) = delete;

  weft_status init(const weft_plugin_init_args* args, RegisterFn fn) noexcept {
    weft_sink* err = WEFT_HAS_FIELD(args, weft_plugin_init_args, error) ? args->error : nullptr;
    try {
      if (!WEFT_HAS_FIELD(args, weft_plugin_init_args, registrar)) {
        sink_write(err, error_json("version", "plugin '" + name_ + "': the init arguments are missing or too small",
                                   nullptr));
        return WEFT_ERR_VERSION;
      }
      if (args->abi_version < kAbiMin || args->abi_version > kAbiMax) {
        sink_write(err, error_json("version",
                                   "plugin '" + name_ + "': asked to speak ABI " + version_text(args->abi_version) +
                                       ", but it speaks " + version_text(kAbiMin) + " to " + version_text(kAbiMax),
                                   nullptr));
        return WEFT_ERR_VERSION;
      }
      if (initialised_) {
        sink_write(err, error_json("already_initialised", "plugin '" + name_ + "': init called twice", nullptr));
        return WEFT_ERR_INTERNAL;
      }
      std::string_view cfg_text =
          WEFT_HAS_FIELD(args, weft_plugin_init_args, config_json) ? view(args->config_json) : std::string_view();
      config_.SetObject();
      if (!cfg_text.empty()) {
        std::string perr = parse_json(cfg_text, config_);
        if (perr.empty() && !config_.IsObject()) perr = "expected a JSON object";
        if (!perr.empty()) {
          sink_write(err, error_json("invalid_config", "plugin '" + name_ + "': config_json is invalid: " + perr,
                                     nullptr));
          config_.SetObject();
          return WEFT_ERR_INVALID_INPUT;
        }
      }
      Registration reg(name_, args, &config_, &entries_, &hooks_);
      fn(reg);
      if (reg.failed()) {
        sink_write(err, reg.error_);
        release();
        return reg.status_;
      }
      initialised_ = true;
      return WEFT_OK;
    } catch (const std::exception& e) {
      sink_write(err, error_json("exception", "plugin '" + name_ + "' threw during init: " + e.what(), nullptr));
    } catch (...) {
      sink_write(err, error_json("exception", "plugin '" + name_ + "' threw a non-standard exception during init",
                                 nullptr));
    }
    try {
      release();
    } catch (...) {
    }
    return WEFT_ERR_INTERNAL;
  }

  void shutdown() noexcept {
    initialised_ = false;
    release();
  }

 private:
  static std::string version_text(uint32_t v) {
    return std::to_string(WEFT_ABI_VERSION_MAJOR_OF(v)) + "." + std::to_string(WEFT_ABI_VERSION_MINOR_OF(v));
  }
  void release() noexcept {
    // Hooks first (they may still use the nodes), newest first; a throwing hook does not stop the
    // others.
    while (!hooks_.empty()) {
      try {
        auto fn = std::move(hooks_.back());
        hooks_.pop_back();
        if (fn) fn();
      } catch (...) {
      }
    }
    try {
      entries_.clear();
    } catch (...) {
    }
  }

  std::string name_;
  bool initialised_ = false;
  Document config_;
  std::vector<std::unique_ptr<NodeEntry>> entries_;
  std::vector<std::function<void()>> hooks_;
};

}  // namespace detail
}  // namespace weft::sdk

// ================================================================================================
// Registration macros
// ================================================================================================
//
//   WEFT_PLUGIN(my_pack) {
//     WEFT_REGISTER_NODE(my::Greet);
//     WEFT_REGISTER_NODE_WITH(my::Other, constructor, args);
//     WEFT_REGISTER_CREDENTIAL_TYPE(R"({"name": "my_token", ...})");
//     registration.config();   // the plugin's configuration (a JSON object)
//   }
//
// Use WEFT_PLUGIN exactly once per plugin, at global namespace scope. It defines the exported
// extern "C" entry points weft_plugin_negotiate / weft_plugin_init / weft_plugin_shutdown, each
// behind an exception barrier. Inside the block, `registration` is the weft::sdk::Registration.
#define WEFT_PLUGIN(name)                                                                              \
  static void weft_sdk_register_plugin_([[maybe_unused]] ::weft::sdk::Registration& registration);     \
  static ::weft::sdk::detail::PluginRuntime& weft_sdk_plugin_runtime_() {                              \
    static ::weft::sdk::detail::PluginRuntime runtime(#name);                                          \
    return runtime;                                                                                    \
  }                                                                                                    \
  extern "C" WEFT_EXPORT uint32_t weft_plugin_negotiate(uint32_t host_min_version,                     \
                                                        uint32_t host_max_version) noexcept {          \
    return ::weft::sdk::negotiate(host_min_version, host_max_version);                                 \
  }                                                                                                    \
  extern "C" WEFT_EXPORT weft_status weft_plugin_init(const weft_plugin_init_args* args) noexcept {    \
    try {                                                                                              \
      return weft_sdk_plugin_runtime_().init(args, &weft_sdk_register_plugin_);                        \
    } catch (...) { /* only the runtime's construction could throw (std::string) */                    \
      return WEFT_ERR_INTERNAL;                                                                        \
    }                                                                                                  \
  }                                                                                                    \
  extern "C" WEFT_EXPORT void weft_plugin_shutdown(void) noexcept {                                    \
    try {                                                                                              \
      weft_sdk_plugin_runtime_().shutdown();                                                           \
    } catch (...) {                                                                                    \
    }                                                                                                  \
  }                                                                                                    \
  static void weft_sdk_register_plugin_([[maybe_unused]] ::weft::sdk::Registration& registration)

// Registers a Node subclass inside a WEFT_PLUGIN block (default-constructed). The variadic form
// lets template arguments with commas through: WEFT_REGISTER_NODE(MyNode<A, B>).
#define WEFT_REGISTER_NODE(...) registration.add<__VA_ARGS__>()
// Registers a Node subclass constructed with the given arguments.
#define WEFT_REGISTER_NODE_WITH(cls, ...) registration.add<cls>(__VA_ARGS__)
// Registers a credential type from its JSON text (nothing happens on hosts without the service).
#define WEFT_REGISTER_CREDENTIAL_TYPE(json_text) registration.credential_type(json_text)

#endif  // WEFT_SDK_HPP
