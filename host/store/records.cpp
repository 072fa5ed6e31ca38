#include "host/store/records.hpp"

#include <rapidjson/internal/dtoa.h>
#include <sodium.h>

#include <array>
#include <charconv>
#include <cmath>
#include <utility>

namespace weft::store {

namespace {

constexpr std::array<std::pair<ExecStatus, const char*>, 7> kStatusNames{{
    {ExecStatus::Queued, "queued"},
    {ExecStatus::Running, "running"},
    {ExecStatus::Parked, "parked"},
    {ExecStatus::Paused, "paused"},
    {ExecStatus::Succeeded, "succeeded"},
    {ExecStatus::Failed, "failed"},
    {ExecStatus::Cancelled, "cancelled"},
}};

// Reads members of one JSON object into struct fields, remembering the first type error so the
// decoders stay a flat list of fields.
class Reader {
 public:
  Reader(const Json& j, const char* what) : j_(j), what_(what) {
    if (!j.is_object()) fail("", std::string("must be an object, got ") + j.type_name());
  }

  void str(const char* key, std::string& out) {
    const Json* v = get(key);
    if (!v) return;
    if (!v->is_string()) return fail(key, expected("a string", *v));
    out = v->as_string();
  }
  void i64(const char* key, int64_t& out) {
    const Json* v = get(key);
    if (!v) return;
    if (!v->is_int()) return fail(key, expected("an integer", *v));
    out = v->as_int();
  }
  void boolean(const char* key, bool& out) {
    const Json* v = get(key);
    if (!v) return;
    if (!v->is_bool()) return fail(key, expected("a boolean", *v));
    out = v->as_bool();
  }
  void json(const char* key, Json& out) {
    const Json* v = get(key);
    if (v) out = *v;
  }
  void status(const char* key, ExecStatus& out) {
    const Json* v = get(key);
    if (!v) return;
    auto s = v->is_string() ? exec_status_from(v->as_string()) : std::nullopt;
    if (!s) return fail(key, expected("an execution status", *v));
    out = *s;
  }
  template <typename T>
  void record(const char* key, T& out) {
    const Json* v = get(key);
    if (!v) return;
    Status s = from_json(*v, out);
    if (!s.ok()) fail(key, s.error().message);
  }
  template <typename T>
  void records(const char* key, std::vector<T>& out) {
    const Json* v = get(key);
    if (!v) return;
    Status s = from_json_array(*v, out, key);
    if (!s.ok()) fail(key, s.error().message);
  }
  // Optional members: absent -> nullopt; present (even null, for JSON values) -> set.
  void opt_json(const char* key, std::optional<Json>& out) {
    const Json* v = get(key);
    if (v) out = *v;
  }
  void opt_i64(const char* key, std::optional<int64_t>& out) {
    const Json* v = get(key);
    if (!v) return;
    if (!v->is_int()) return fail(key, expected("an integer", *v));
    out = v->as_int();
  }
  void opt_str(const char* key, std::optional<std::string>& out) {
    const Json* v = get(key);
    if (!v) return;
    if (!v->is_string()) return fail(key, expected("a string", *v));
    out = v->as_string();
  }
  void opt_bool(const char* key, std::optional<bool>& out) {
    const Json* v = get(key);
    if (!v) return;
    if (!v->is_bool()) return fail(key, expected("a boolean", *v));
    out = v->as_bool();
  }
  // An array of strings; null counts as empty, like from_json_array.
  void strings(const char* key, std::vector<std::string>& out) {
    const Json* v = get(key);
    if (!v) return;
    if (!v->is_array() && !v->is_null()) return fail(key, expected("an array of strings", *v));
    std::vector<std::string> items;
    items.reserve(v->size());
    for (const Json& item : v->as_array()) {
      if (!item.is_string()) return fail(key, "must hold only strings, got " + std::string(item.type_name()));
      items.push_back(item.as_string());
    }
    out = std::move(items);
  }
  void opt_status(const char* key, std::optional<ExecStatus>& out) {
    const Json* v = get(key);
    if (!v || v->is_null()) return;
    ExecStatus s{};
    status(key, s);
    if (error_.empty()) out = s;
  }

  Status result() const {
    if (error_.empty()) return {};
    return Error("invalid_argument", error_);
  }

 private:
  const Json* get(const char* key) const { return error_.empty() ? j_.find(key) : nullptr; }
  static std::string expected(const char* what, const Json& got) {
    std::string s = std::string("must be ") + what + ", got ";
    if (got.is_string()) return s + "\"" + got.as_string().substr(0, 40) + "\"";
    return s + got.type_name();
  }
  void fail(const char* key, const std::string& why) {
    if (!error_.empty()) return;
    error_ = std::string(what_);
    if (*key) error_ += std::string(" member '") + key + "'";
    error_ += " " + why;
  }

  const Json& j_;
  const char* what_;
  std::string error_;
};

Json strings_json(const std::vector<std::string>& items) {
  Json::Array a;
  a.reserve(items.size());
  for (const std::string& item : items) a.emplace_back(item);
  return Json(std::move(a));
}

}  // namespace

const char* to_string(ExecStatus s) {
  for (const auto& [status, name] : kStatusNames) {
    if (status == s) return name;
  }
  return "unknown";
}

std::optional<ExecStatus> exec_status_from(std::string_view s) {
  for (const auto& [status, name] : kStatusNames) {
    if (s == name) return status;
  }
  return std::nullopt;
}

JsonParseLimits storage_json_limits() {
  JsonParseLimits limits;
  limits.max_depth = JsonParseLimits{}.max_depth + 16;
  limits.max_bytes = size_t{1} << 30;
  return limits;
}

// ---- Lease -------------------------------------------------------------------------------------

Json to_json(const Lease& v) {
  Json j = Json::object();
  j.set("owner", v.owner);
  j.set("epoch", v.epoch);
  return j;
}

Status from_json(const Json& j, Lease& out) {
  Reader r(j, "lease");
  r.str("owner", out.owner);
  r.i64("epoch", out.epoch);
  return r.result();
}

// ---- WorkflowRecord ----------------------------------------------------------------------------

Json to_json(const WorkflowRecord& v) {
  Json j = Json::object();
  j.set("id", v.id);
  j.set("version", v.version);
  j.set("owner_id", v.owner_id);
  j.set("name", v.name);
  j.set("definition", v.definition);
  j.set("created_at_ms", v.created_at_ms);
  return j;
}

Status from_json(const Json& j, WorkflowRecord& out) {
  Reader r(j, "workflow record");
  r.str("id", out.id);
  r.i64("version", out.version);
  r.str("owner_id", out.owner_id);
  r.str("name", out.name);
  r.json("definition", out.definition);
  r.i64("created_at_ms", out.created_at_ms);
  return r.result();
}

// ---- ExecutionRecord ---------------------------------------------------------------------------

Json to_json(const ExecutionRecord& v) {
  Json j = Json::object();
  j.set("id", v.id);
  j.set("workflow_id", v.workflow_id);
  j.set("workflow_version", v.workflow_version);
  j.set("owner_id", v.owner_id);
  j.set("status", to_string(v.status));
  j.set("definition", v.definition);
  j.set("input", v.input);
  j.set("output", v.output);
  j.set("error", v.error);
  j.set("idempotency_key", v.idempotency_key);
  j.set("mode", v.mode);
  j.set("created_at_ms", v.created_at_ms);
  j.set("started_at_ms", v.started_at_ms);
  j.set("finished_at_ms", v.finished_at_ms);
  j.set("updated_at_ms", v.updated_at_ms);
  j.set("wake_at_ms", v.wake_at_ms);
  j.set("deadline_at_ms", v.deadline_at_ms);
  j.set("lease", to_json(v.lease));
  j.set("lease_expires_at_ms", v.lease_expires_at_ms);
  j.set("cancel_requested", v.cancel_requested);
  j.set("pause_requested", v.pause_requested);
  j.set("last_event_seq", v.last_event_seq);
  return j;
}

Status from_json(const Json& j, ExecutionRecord& out) {
  Reader r(j, "execution record");
  r.str("id", out.id);
  r.str("workflow_id", out.workflow_id);
  r.i64("workflow_version", out.workflow_version);
  r.str("owner_id", out.owner_id);
  r.status("status", out.status);
  r.json("definition", out.definition);
  r.json("input", out.input);
  r.json("output", out.output);
  r.json("error", out.error);
  r.str("idempotency_key", out.idempotency_key);
  r.str("mode", out.mode);
  r.i64("created_at_ms", out.created_at_ms);
  r.i64("started_at_ms", out.started_at_ms);
  r.i64("finished_at_ms", out.finished_at_ms);
  r.i64("updated_at_ms", out.updated_at_ms);
  r.i64("wake_at_ms", out.wake_at_ms);
  r.i64("deadline_at_ms", out.deadline_at_ms);
  r.record("lease", out.lease);
  r.i64("lease_expires_at_ms", out.lease_expires_at_ms);
  r.boolean("cancel_requested", out.cancel_requested);
  r.boolean("pause_requested", out.pause_requested);
  r.i64("last_event_seq", out.last_event_seq);
  return r.result();
}

// ---- NewExecution ------------------------------------------------------------------------------

Json to_json(const NewExecution& v) {
  Json j = Json::object();
  j.set("id", v.id);
  j.set("workflow_id", v.workflow_id);
  j.set("workflow_version", v.workflow_version);
  j.set("owner_id", v.owner_id);
  j.set("definition", v.definition);
  j.set("input", v.input);
  j.set("idempotency_key", v.idempotency_key);
  j.set("mode", v.mode);
  j.set("deadline_at_ms", v.deadline_at_ms);
  j.set("claim_owner", v.claim_owner);
  j.set("lease_ms", v.lease_ms);
  return j;
}

Status from_json(const Json& j, NewExecution& out) {
  Reader r(j, "new execution");
  r.str("id", out.id);
  r.str("workflow_id", out.workflow_id);
  r.i64("workflow_version", out.workflow_version);
  r.str("owner_id", out.owner_id);
  r.json("definition", out.definition);
  r.json("input", out.input);
  r.str("idempotency_key", out.idempotency_key);
  r.str("mode", out.mode);
  r.i64("deadline_at_ms", out.deadline_at_ms);
  r.str("claim_owner", out.claim_owner);
  r.i64("lease_ms", out.lease_ms);
  return r.result();
}

// ---- NodeRunRecord -----------------------------------------------------------------------------

Json to_json(const NodeRunRecord& v) {
  Json j = Json::object();
  j.set("execution_id", v.execution_id);
  j.set("node_key", v.node_key);
  j.set("node_id", v.node_id);
  j.set("scope", v.scope);
  j.set("status", v.status);
  j.set("attempt", v.attempt);
  j.set("output", v.output);
  j.set("error", v.error);
  j.set("park", v.park);
  j.set("started_at_ms", v.started_at_ms);
  j.set("finished_at_ms", v.finished_at_ms);
  return j;
}

Status from_json(const Json& j, NodeRunRecord& out) {
  Reader r(j, "node run record");
  r.str("execution_id", out.execution_id);
  r.str("node_key", out.node_key);
  r.str("node_id", out.node_id);
  r.str("scope", out.scope);
  r.str("status", out.status);
  r.i64("attempt", out.attempt);
  r.json("output", out.output);
  r.json("error", out.error);
  r.json("park", out.park);
  r.i64("started_at_ms", out.started_at_ms);
  r.i64("finished_at_ms", out.finished_at_ms);
  return r.result();
}

// ---- EventRecord -------------------------------------------------------------------------------

Json to_json(const EventRecord& v) {
  Json j = Json::object();
  j.set("execution_id", v.execution_id);
  j.set("seq", v.seq);
  j.set("type", v.type);
  j.set("data", v.data);
  j.set("ts_ms", v.ts_ms);
  return j;
}

Status from_json(const Json& j, EventRecord& out) {
  Reader r(j, "event record");
  r.str("execution_id", out.execution_id);
  r.i64("seq", out.seq);
  r.str("type", out.type);
  r.json("data", out.data);
  r.i64("ts_ms", out.ts_ms);
  return r.result();
}

// ---- NodeLogRecord -----------------------------------------------------------------------------

Json to_json(const NodeLogRecord& v) {
  Json j = Json::object();
  j.set("execution_id", v.execution_id);
  j.set("node_key", v.node_key);
  j.set("node_id", v.node_id);
  j.set("attempt", v.attempt);
  j.set("status", v.status);
  j.set("started_at_ms", v.started_at_ms);
  j.set("finished_at_ms", v.finished_at_ms);
  j.set("duration_us", v.duration_us);
  j.set("input", v.input);
  j.set("output", v.output);
  j.set("error", v.error);
  j.set("lines", v.lines);
  return j;
}

Status from_json(const Json& j, NodeLogRecord& out) {
  Reader r(j, "node log record");
  r.str("execution_id", out.execution_id);
  r.str("node_key", out.node_key);
  r.str("node_id", out.node_id);
  r.i64("attempt", out.attempt);
  r.str("status", out.status);
  r.i64("started_at_ms", out.started_at_ms);
  r.i64("finished_at_ms", out.finished_at_ms);
  r.i64("duration_us", out.duration_us);
  r.json("input", out.input);
  r.json("output", out.output);
  r.json("error", out.error);
  r.str("lines", out.lines);
  return r.result();
}

// ---- ExecutionUpdate ---------------------------------------------------------------------------
// Optional members are present only when set; "output": null means "set the output to null".

Json to_json(const ExecutionUpdate& v) {
  Json j = Json::object();
  if (v.status) j.set("status", to_string(*v.status));
  if (v.output) j.set("output", *v.output);
  if (v.error) j.set("error", *v.error);
  if (v.wake_at_ms) j.set("wake_at_ms", *v.wake_at_ms);
  if (v.started_at_ms) j.set("started_at_ms", *v.started_at_ms);
  if (v.finished_at_ms) j.set("finished_at_ms", *v.finished_at_ms);
  j.set("release_lease", v.release_lease);
  return j;
}

Status from_json(const Json& j, ExecutionUpdate& out) {
  Reader r(j, "execution update");
  r.opt_status("status", out.status);
  r.opt_json("output", out.output);
  r.opt_json("error", out.error);
  r.opt_i64("wake_at_ms", out.wake_at_ms);
  r.opt_i64("started_at_ms", out.started_at_ms);
  r.opt_i64("finished_at_ms", out.finished_at_ms);
  r.boolean("release_lease", out.release_lease);
  return r.result();
}

// ---- Commit ------------------------------------------------------------------------------------

Json to_json(const Commit& v) {
  Json j = Json::object();
  j.set("execution_id", v.execution_id);
  j.set("lease", to_json(v.lease));
  j.set("runs", to_json_array(v.runs));
  j.set("logs", to_json_array(v.logs));
  j.set("events", to_json_array(v.events));
  if (v.execution) j.set("execution", to_json(*v.execution));
  // Schema v8 members: present only when used, so a plain step's commit text is unchanged.
  if (!v.requests.empty()) j.set("requests", to_json_array(v.requests));
  if (!v.consumed_requests.empty()) j.set("consumed_requests", strings_json(v.consumed_requests));
  if (v.spawn) j.set("spawn", to_json(*v.spawn));
  return j;
}

Status from_json(const Json& j, Commit& out) {
  Reader r(j, "commit");
  r.str("execution_id", out.execution_id);
  r.record("lease", out.lease);
  r.records("runs", out.runs);
  r.records("logs", out.logs);
  r.records("events", out.events);
  r.records("requests", out.requests);
  r.strings("consumed_requests", out.consumed_requests);
  if (Status s = r.result(); !s.ok()) return s;
  if (const Json* u = j.find("execution"); u && !u->is_null()) {
    ExecutionUpdate update;
    Status s = from_json(*u, update);
    if (!s.ok()) return Error("invalid_argument", "commit member 'execution': " + s.error().message);
    out.execution = std::move(update);
  }
  if (const Json* sp = j.find("spawn"); sp && !sp->is_null()) {
    NewExecution spawn;
    Status s = from_json(*sp, spawn);
    if (!s.ok()) return Error("invalid_argument", "commit member 'spawn': " + s.error().message);
    out.spawn = std::move(spawn);
  }
  return {};
}

// ---- ExecutionFilter ---------------------------------------------------------------------------

Json to_json(const ExecutionFilter& v) {
  Json j = Json::object();
  j.set("owner_id", v.owner_id);
  j.set("workflow_id", v.workflow_id);
  if (v.status) j.set("status", to_string(*v.status));
  j.set("limit", v.limit);
  j.set("before_id", v.before_id);
  return j;
}

Status from_json(const Json& j, ExecutionFilter& out) {
  Reader r(j, "execution filter");
  r.str("owner_id", out.owner_id);
  r.str("workflow_id", out.workflow_id);
  r.opt_status("status", out.status);
  r.i64("limit", out.limit);
  r.str("before_id", out.before_id);
  return r.result();
}

// ---- UserRecord --------------------------------------------------------------------------------

Json to_json(const UserRecord& v) {
  Json j = Json::object();
  j.set("id", v.id);
  j.set("email", v.email);
  j.set("password_hash", v.password_hash);
  j.set("role", v.role);
  j.set("tier", v.tier);
  j.set("disabled", v.disabled);
  j.set("created_at_ms", v.created_at_ms);
  j.set("updated_at_ms", v.updated_at_ms);
  return j;
}

Status from_json(const Json& j, UserRecord& out) {
  Reader r(j, "user record");
  r.str("id", out.id);
  r.str("email", out.email);
  r.str("password_hash", out.password_hash);
  r.str("role", out.role);
  r.str("tier", out.tier);
  r.boolean("disabled", out.disabled);
  r.i64("created_at_ms", out.created_at_ms);
  r.i64("updated_at_ms", out.updated_at_ms);
  return r.result();
}

// ---- UserUpdate --------------------------------------------------------------------------------
// Like ExecutionUpdate: optional members are present only when set.

Json to_json(const UserUpdate& v) {
  Json j = Json::object();
  if (v.password_hash) j.set("password_hash", *v.password_hash);
  if (v.role) j.set("role", *v.role);
  if (v.tier) j.set("tier", *v.tier);
  if (v.disabled) j.set("disabled", *v.disabled);
  j.set("revoke_sessions", v.revoke_sessions);
  return j;
}

Status from_json(const Json& j, UserUpdate& out) {
  Reader r(j, "user update");
  r.opt_str("password_hash", out.password_hash);
  r.opt_str("role", out.role);
  r.opt_str("tier", out.tier);
  r.opt_bool("disabled", out.disabled);
  r.boolean("revoke_sessions", out.revoke_sessions);
  return r.result();
}

// ---- SessionRecord -----------------------------------------------------------------------------

Json to_json(const SessionRecord& v) {
  Json j = Json::object();
  j.set("id", v.id);
  j.set("user_id", v.user_id);
  j.set("refresh_hash", v.refresh_hash);
  j.set("previous_hash", v.previous_hash);
  j.set("created_at_ms", v.created_at_ms);
  j.set("expires_at_ms", v.expires_at_ms);
  j.set("revoked_at_ms", v.revoked_at_ms);
  j.set("refreshed_at_ms", v.refreshed_at_ms);
  return j;
}

Status from_json(const Json& j, SessionRecord& out) {
  Reader r(j, "session record");
  r.str("id", out.id);
  r.str("user_id", out.user_id);
  r.str("refresh_hash", out.refresh_hash);
  r.str("previous_hash", out.previous_hash);
  r.i64("created_at_ms", out.created_at_ms);
  r.i64("expires_at_ms", out.expires_at_ms);
  r.i64("revoked_at_ms", out.revoked_at_ms);
  r.i64("refreshed_at_ms", out.refreshed_at_ms);
  return r.result();
}

// ---- ApiKeyRecord ------------------------------------------------------------------------------

Json to_json(const ApiKeyRecord& v) {
  Json j = Json::object();
  j.set("id", v.id);
  j.set("user_id", v.user_id);
  j.set("name", v.name);
  j.set("prefix", v.prefix);
  j.set("hash", v.hash);
  Json::Array scopes;
  scopes.reserve(v.scopes.size());
  for (const std::string& s : v.scopes) scopes.emplace_back(s);
  j.set("scopes", Json(std::move(scopes)));
  j.set("created_at_ms", v.created_at_ms);
  j.set("expires_at_ms", v.expires_at_ms);
  j.set("revoked_at_ms", v.revoked_at_ms);
  j.set("last_used_at_ms", v.last_used_at_ms);
  j.set("replaced_by", v.replaced_by);
  return j;
}

Status from_json(const Json& j, ApiKeyRecord& out) {
  Reader r(j, "API key record");
  r.str("id", out.id);
  r.str("user_id", out.user_id);
  r.str("name", out.name);
  r.str("prefix", out.prefix);
  r.str("hash", out.hash);
  r.strings("scopes", out.scopes);
  r.i64("created_at_ms", out.created_at_ms);
  r.i64("expires_at_ms", out.expires_at_ms);
  r.i64("revoked_at_ms", out.revoked_at_ms);
  r.i64("last_used_at_ms", out.last_used_at_ms);
  r.str("replaced_by", out.replaced_by);
  return r.result();
}

// ---- ApiKeyUpdate ------------------------------------------------------------------------------
// Optional members are present only when set.

Json to_json(const ApiKeyUpdate& v) {
  Json j = Json::object();
  if (v.expires_at_ms) j.set("expires_at_ms", *v.expires_at_ms);
  if (v.revoked_at_ms) j.set("revoked_at_ms", *v.revoked_at_ms);
  if (v.last_used_at_ms) j.set("last_used_at_ms", *v.last_used_at_ms);
  if (v.replaced_by) j.set("replaced_by", *v.replaced_by);
  return j;
}

Status from_json(const Json& j, ApiKeyUpdate& out) {
  Reader r(j, "API key update");
  r.opt_i64("expires_at_ms", out.expires_at_ms);
  r.opt_i64("revoked_at_ms", out.revoked_at_ms);
  r.opt_i64("last_used_at_ms", out.last_used_at_ms);
  r.opt_str("replaced_by", out.replaced_by);
  return r.result();
}

// ---- WorkflowSummary ---------------------------------------------------------------------------

Json to_json(const WorkflowSummary& v) {
  Json j = Json::object();
  j.set("id", v.id);
  j.set("owner_id", v.owner_id);
  j.set("name", v.name);
  j.set("latest_version", v.latest_version);
  j.set("created_at_ms", v.created_at_ms);
  j.set("updated_at_ms", v.updated_at_ms);
  return j;
}

Status from_json(const Json& j, WorkflowSummary& out) {
  Reader r(j, "workflow summary");
  r.str("id", out.id);
  r.str("owner_id", out.owner_id);
  r.str("name", out.name);
  r.i64("latest_version", out.latest_version);
  r.i64("created_at_ms", out.created_at_ms);
  r.i64("updated_at_ms", out.updated_at_ms);
  return r.result();
}

// ---- WorkflowFilter ----------------------------------------------------------------------------

Json to_json(const WorkflowFilter& v) {
  Json j = Json::object();
  j.set("owner_id", v.owner_id);
  j.set("limit", v.limit);
  j.set("after_id", v.after_id);
  return j;
}

Status from_json(const Json& j, WorkflowFilter& out) {
  Reader r(j, "workflow filter");
  r.str("owner_id", out.owner_id);
  r.i64("limit", out.limit);
  r.str("after_id", out.after_id);
  return r.result();
}

// ---- WebhookRoute ------------------------------------------------------------------------------

Json to_json(const WebhookRoute& v) {
  Json j = Json::object();
  j.set("path", v.path);
  j.set("workflow_id", v.workflow_id);
  j.set("owner_id", v.owner_id);
  j.set("node_id", v.node_id);
  j.set("method", v.method);
  j.set("auth", v.auth);
  j.set("created_at_ms", v.created_at_ms);
  return j;
}

Status from_json(const Json& j, WebhookRoute& out) {
  Reader r(j, "webhook route");
  r.str("path", out.path);
  r.str("workflow_id", out.workflow_id);
  r.str("owner_id", out.owner_id);
  r.str("node_id", out.node_id);
  r.str("method", out.method);
  r.str("auth", out.auth);
  r.i64("created_at_ms", out.created_at_ms);
  return r.result();
}

// ---- CredentialRecord --------------------------------------------------------------------------

Json to_json(const CredentialRecord& v) {
  Json j = Json::object();
  j.set("id", v.id);
  j.set("owner_id", v.owner_id);
  j.set("name", v.name);
  j.set("type", v.type);
  j.set("data", v.data);
  j.set("secrets", v.secrets);
  j.set("key_version", v.key_version);
  j.set("created_at_ms", v.created_at_ms);
  j.set("updated_at_ms", v.updated_at_ms);
  return j;
}

Status from_json(const Json& j, CredentialRecord& out) {
  Reader r(j, "credential record");
  r.str("id", out.id);
  r.str("owner_id", out.owner_id);
  r.str("name", out.name);
  r.str("type", out.type);
  r.json("data", out.data);
  r.json("secrets", out.secrets);
  r.i64("key_version", out.key_version);
  r.i64("created_at_ms", out.created_at_ms);
  r.i64("updated_at_ms", out.updated_at_ms);
  return r.result();
}

// ---- CredentialUpdate --------------------------------------------------------------------------
// Optional members are present only when set.

Json to_json(const CredentialUpdate& v) {
  Json j = Json::object();
  if (v.name) j.set("name", *v.name);
  if (v.data) j.set("data", *v.data);
  if (v.secrets) j.set("secrets", *v.secrets);
  if (v.key_version) j.set("key_version", *v.key_version);
  j.set("updated_at_ms", v.updated_at_ms);
  return j;
}

Status from_json(const Json& j, CredentialUpdate& out) {
  Reader r(j, "credential update");
  r.opt_str("name", out.name);
  r.opt_json("data", out.data);
  r.opt_json("secrets", out.secrets);
  r.opt_i64("key_version", out.key_version);
  r.i64("updated_at_ms", out.updated_at_ms);
  return r.result();
}

// ---- VaultKeyCheck -----------------------------------------------------------------------------

Json to_json(const VaultKeyCheck& v) {
  Json j = Json::object();
  j.set("version", v.version);
  j.set("check", v.check);
  j.set("created_at_ms", v.created_at_ms);
  return j;
}

Status from_json(const Json& j, VaultKeyCheck& out) {
  Reader r(j, "vault key check");
  r.i64("version", out.version);
  r.str("check", out.check);
  r.i64("created_at_ms", out.created_at_ms);
  return r.result();
}

// ---- AuditRecord -------------------------------------------------------------------------------

Json to_json(const AuditRecord& v) {
  Json j = Json::object();
  j.set("seq", v.seq);
  j.set("ts_ms", v.ts_ms);
  j.set("user_id", v.user_id);
  j.set("action_type", v.action_type);
  j.set("workflow_id", v.workflow_id);
  j.set("execution_id", v.execution_id);
  j.set("node_id", v.node_id);
  j.set("entry", v.entry);
  j.set("prev_hash", v.prev_hash);
  j.set("hash", v.hash);
  return j;
}

Status from_json(const Json& j, AuditRecord& out) {
  Reader r(j, "audit record");
  r.i64("seq", out.seq);
  r.i64("ts_ms", out.ts_ms);
  r.str("user_id", out.user_id);
  r.str("action_type", out.action_type);
  r.str("workflow_id", out.workflow_id);
  r.str("execution_id", out.execution_id);
  r.str("node_id", out.node_id);
  r.str("entry", out.entry);
  r.str("prev_hash", out.prev_hash);
  r.str("hash", out.hash);
  return r.result();
}

// ---- AuditFilter -------------------------------------------------------------------------------

Json to_json(const AuditFilter& v) {
  Json j = Json::object();
  j.set("user_id", v.user_id);
  j.set("action_type", v.action_type);
  j.set("workflow_id", v.workflow_id);
  j.set("from_ms", v.from_ms);
  j.set("to_ms", v.to_ms);
  j.set("after_seq", v.after_seq);
  j.set("limit", v.limit);
  return j;
}

Status from_json(const Json& j, AuditFilter& out) {
  Reader r(j, "audit filter");
  r.str("user_id", out.user_id);
  r.str("action_type", out.action_type);
  r.str("workflow_id", out.workflow_id);
  r.i64("from_ms", out.from_ms);
  r.i64("to_ms", out.to_ms);
  r.i64("after_seq", out.after_seq);
  r.i64("limit", out.limit);
  return r.result();
}

// ---- CustomNodeRecord --------------------------------------------------------------------------

Json to_json(const CustomNodeRecord& v) {
  Json j = Json::object();
  j.set("id", v.id);
  j.set("owner_id", v.owner_id);
  j.set("name", v.name);
  j.set("version", v.version);
  j.set("language", v.language);
  j.set("source", v.source);
  j.set("declaration", v.declaration);
  j.set("created_at_ms", v.created_at_ms);
  j.set("updated_at_ms", v.updated_at_ms);
  return j;
}

Status from_json(const Json& j, CustomNodeRecord& out) {
  Reader r(j, "custom node record");
  r.str("id", out.id);
  r.str("owner_id", out.owner_id);
  r.str("name", out.name);
  r.i64("version", out.version);
  r.str("language", out.language);
  r.str("source", out.source);
  r.json("declaration", out.declaration);
  r.i64("created_at_ms", out.created_at_ms);
  r.i64("updated_at_ms", out.updated_at_ms);
  return r.result();
}

// ---- HumanRequestRecord (schema v8) ------------------------------------------------------------

Json to_json(const HumanRequestRecord& v) {
  Json j = Json::object();
  j.set("id", v.id);
  j.set("execution_id", v.execution_id);
  j.set("owner_id", v.owner_id);
  j.set("workflow_id", v.workflow_id);
  j.set("node_id", v.node_id);
  j.set("node_key", v.node_key);
  j.set("kind", v.kind);
  j.set("request", v.request);
  j.set("assignees", strings_json(v.assignees));
  j.set("mode", v.mode);
  j.set("status", v.status);
  j.set("votes", v.votes);
  j.set("response", v.response);
  j.set("answered_by", v.answered_by);
  j.set("version", v.version);
  j.set("created_at_ms", v.created_at_ms);
  j.set("deadline_at_ms", v.deadline_at_ms);
  j.set("answered_at_ms", v.answered_at_ms);
  j.set("resumed_at_ms", v.resumed_at_ms);
  return j;
}

Status from_json(const Json& j, HumanRequestRecord& out) {
  Reader r(j, "human request record");
  r.str("id", out.id);
  r.str("execution_id", out.execution_id);
  r.str("owner_id", out.owner_id);
  r.str("workflow_id", out.workflow_id);
  r.str("node_id", out.node_id);
  r.str("node_key", out.node_key);
  r.str("kind", out.kind);
  r.json("request", out.request);
  r.strings("assignees", out.assignees);
  r.str("mode", out.mode);
  r.str("status", out.status);
  r.json("votes", out.votes);
  r.json("response", out.response);
  r.str("answered_by", out.answered_by);
  r.i64("version", out.version);
  r.i64("created_at_ms", out.created_at_ms);
  r.i64("deadline_at_ms", out.deadline_at_ms);
  r.i64("answered_at_ms", out.answered_at_ms);
  r.i64("resumed_at_ms", out.resumed_at_ms);
  return r.result();
}

// ---- HumanRequestFilter ------------------------------------------------------------------------

Json to_json(const HumanRequestFilter& v) {
  Json j = Json::object();
  j.set("owner_id", v.owner_id);
  j.set("principals", strings_json(v.principals));
  j.set("execution_id", v.execution_id);
  j.set("status", v.status);
  j.set("limit", v.limit);
  j.set("after_id", v.after_id);
  return j;
}

Status from_json(const Json& j, HumanRequestFilter& out) {
  Reader r(j, "human request filter");
  r.str("owner_id", out.owner_id);
  r.strings("principals", out.principals);
  r.str("execution_id", out.execution_id);
  r.str("status", out.status);
  r.i64("limit", out.limit);
  r.str("after_id", out.after_id);
  return r.result();
}

// ---- HumanResponse -----------------------------------------------------------------------------

Json to_json(const HumanResponse& v) {
  Json j = Json::object();
  j.set("id", v.id);
  j.set("expected_version", v.expected_version);
  j.set("votes", v.votes);
  j.set("final", v.final);
  j.set("response", v.response);
  j.set("answered_by", v.answered_by);
  j.set("now_ms", v.now_ms);
  return j;
}

Status from_json(const Json& j, HumanResponse& out) {
  Reader r(j, "human response");
  r.str("id", out.id);
  r.i64("expected_version", out.expected_version);
  r.json("votes", out.votes);
  r.boolean("final", out.final);
  r.json("response", out.response);
  r.str("answered_by", out.answered_by);
  r.i64("now_ms", out.now_ms);
  return r.result();
}

// ---- ScheduleRecord ----------------------------------------------------------------------------

Json to_json(const ScheduleRecord& v) {
  Json j = Json::object();
  j.set("id", v.id);
  j.set("owner_id", v.owner_id);
  j.set("workflow_id", v.workflow_id);
  j.set("name", v.name);
  j.set("cron", v.cron);
  j.set("timezone", v.timezone);
  j.set("enabled", v.enabled);
  j.set("missed_policy", v.missed_policy);
  j.set("input", v.input);
  j.set("next_run_at_ms", v.next_run_at_ms);
  j.set("last_run_at_ms", v.last_run_at_ms);
  j.set("last_execution_id", v.last_execution_id);
  j.set("version", v.version);
  j.set("created_at_ms", v.created_at_ms);
  j.set("updated_at_ms", v.updated_at_ms);
  return j;
}

Status from_json(const Json& j, ScheduleRecord& out) {
  Reader r(j, "schedule record");
  r.str("id", out.id);
  r.str("owner_id", out.owner_id);
  r.str("workflow_id", out.workflow_id);
  r.str("name", out.name);
  r.str("cron", out.cron);
  r.str("timezone", out.timezone);
  r.boolean("enabled", out.enabled);
  r.str("missed_policy", out.missed_policy);
  r.json("input", out.input);
  r.i64("next_run_at_ms", out.next_run_at_ms);
  r.i64("last_run_at_ms", out.last_run_at_ms);
  r.str("last_execution_id", out.last_execution_id);
  r.i64("version", out.version);
  r.i64("created_at_ms", out.created_at_ms);
  r.i64("updated_at_ms", out.updated_at_ms);
  return r.result();
}

// ---- ScheduleFire ------------------------------------------------------------------------------

Json to_json(const ScheduleFire& v) {
  Json j = Json::object();
  j.set("id", v.id);
  j.set("expected_next_run_at_ms", v.expected_next_run_at_ms);
  j.set("fired_at_ms", v.fired_at_ms);
  j.set("next_run_at_ms", v.next_run_at_ms);
  if (v.execution) j.set("execution", to_json(*v.execution));
  return j;
}

Status from_json(const Json& j, ScheduleFire& out) {
  Reader r(j, "schedule fire");
  r.str("id", out.id);
  r.i64("expected_next_run_at_ms", out.expected_next_run_at_ms);
  r.i64("fired_at_ms", out.fired_at_ms);
  r.i64("next_run_at_ms", out.next_run_at_ms);
  if (Status s = r.result(); !s.ok()) return s;
  if (const Json* e = j.find("execution"); e && !e->is_null()) {
    NewExecution exec;
    Status s = from_json(*e, exec);
    if (!s.ok()) return Error("invalid_argument", "schedule fire member 'execution': " + s.error().message);
    out.execution = std::move(exec);
  }
  return {};
}

// ---- sealed credential secrets -----------------------------------------------------------------

Result<int64_t> sealed_secrets_min_version(const Json& secrets) {
  if (!secrets.is_object()) {
    return Error("invalid_argument",
                 std::string("credential secrets must be an object of sealed values, got ") +
                     secrets.type_name());
  }
  int64_t lowest = 0;
  for (const auto& [field, sealed] : secrets.as_object()) {
    // Never quote the value: if it is not sealed, it may be a plaintext secret.
    const Json* v = sealed.find("v");
    const Json* c = sealed.find("c");
    if (!sealed.is_object() || !v || !v->is_int() || v->as_int() < 1 || !c || !c->is_string() ||
        c->as_string().empty() || sealed.size() != 2) {
      return Error("invalid_argument", "credential secret field '" + field +
                                           "' is not a sealed value {\"v\": <key version>, \"c\": \"...\"}");
    }
    if (lowest == 0 || v->as_int() < lowest) lowest = v->as_int();
  }
  return lowest;
}

// ---- the audit chain ---------------------------------------------------------------------------

const std::string& audit_genesis_hash() {
  static const std::string zeros(64, '0');
  return zeros;
}

std::string audit_chain_hash(std::string_view prev_hash, std::string_view entry) {
  // SHA-256 needs no sodium_init(): it uses no randomness and no CPU-feature dispatch.
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(prev_hash.data()), prev_hash.size());
  const unsigned char newline = '\n';
  crypto_hash_sha256_update(&st, &newline, 1);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(entry.data()), entry.size());
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * sizeof(digest));
  for (unsigned char b : digest) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 0xF]);
  }
  return hex;
}

int64_t verify_audit_chain(const std::vector<AuditRecord>& entries, std::string expected_prev) {
  for (const AuditRecord& e : entries) {
    if (e.prev_hash != expected_prev || e.hash != audit_chain_hash(e.prev_hash, e.entry)) {
      // Stored entries have seq >= 1; one without (never stored) still must not read as "intact".
      return e.seq > 0 ? e.seq : 1;
    }
    expected_prev = e.hash;
  }
  return 0;
}

// ---- fast text encoding ------------------------------------------------------------------------
// Writes exactly what Json::dump writes (RapidJSON's compact Writer: the same escapes, RapidJSON's
// own shortest double formatting, non-finite doubles as null), but appends whole runs of plain
// characters at once instead of one character at a time.

namespace {

class TextWriter {
 public:
  TextWriter() { out_.reserve(1024); }

  TextWriter& key(std::string_view k) {
    if (!first_.back()) out_.push_back(',');
    first_.back() = 0;
    escaped(k);
    out_.push_back(':');
    after_key_ = true;
    return *this;
  }
  // The records' member names: plain ASCII literals, nothing to escape.
  template <size_t N>
  TextWriter& key(const char (&name)[N]) {
    if (!first_.back()) out_.push_back(',');
    first_.back() = 0;
    out_.push_back('"');
    out_.append(name, N - 1);
    out_.append("\":", 2);
    after_key_ = true;
    return *this;
  }
  void str(std::string_view s) {
    prefix();
    escaped(s);
  }
  void i64(int64_t v) {
    prefix();
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    (void)ec;  // 24 characters always hold an int64
    out_.append(buf, static_cast<size_t>(end - buf));
  }
  void boolean(bool v) {
    prefix();
    out_ += v ? "true" : "false";
  }
  void null() {
    prefix();
    out_ += "null";
  }
  void json(const Json& j) {
    switch (j.type()) {
      case Json::Type::Null: null(); break;
      case Json::Type::Bool: boolean(j.as_bool()); break;
      case Json::Type::Int: i64(j.as_int()); break;
      case Json::Type::Double: {
        const double d = j.as_double();
        if (!std::isfinite(d)) {
          null();
          break;
        }
        prefix();
        char buf[32];
        char* end = rapidjson::internal::dtoa(d, buf, kMaxDecimalPlaces);
        out_.append(buf, static_cast<size_t>(end - buf));
        break;
      }
      case Json::Type::String: str(j.as_string()); break;
      case Json::Type::Array:
        start_array();
        for (const Json& e : j.as_array()) json(e);
        end_array();
        break;
      case Json::Type::Object:
        start_object();
        for (const auto& [k, v] : j.as_object()) {
          key(k);
          json(v);
        }
        end_object();
        break;
    }
  }
  void start_object() {
    prefix();
    out_.push_back('{');
    first_.push_back(1);
  }
  void end_object() {
    out_.push_back('}');
    first_.pop_back();
  }
  void start_array() {
    prefix();
    out_.push_back('[');
    first_.push_back(1);
  }
  void end_array() {
    out_.push_back(']');
    first_.pop_back();
  }
  std::string take() { return std::move(out_); }

 private:
  static constexpr int kMaxDecimalPlaces = 324;  // RapidJSON Writer's default

  // Before a value: the comma between array elements (object members get theirs in key()).
  void prefix() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_.push_back(',');
      first_.back() = 0;
    }
  }
  // RapidJSON's escapes: the two-character forms it knows, \u00XX (upper-case hex) for the other
  // control characters; everything else, UTF-8 included, as is.
  void escaped(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    out_.push_back('"');
    const char* run = s.data();
    const char* const end = s.data() + s.size();
    for (const char* p = run; p != end; ++p) {
      const auto c = static_cast<unsigned char>(*p);
      if (c >= 0x20 && c != '"' && c != '\\') continue;
      out_.append(run, static_cast<size_t>(p - run));
      run = p + 1;
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\b': out_ += "\\b"; break;
        case '\f': out_ += "\\f"; break;
        case '\n': out_ += "\\n"; break;
        case '\r': out_ += "\\r"; break;
        case '\t': out_ += "\\t"; break;
        default: {
          const char u[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          out_.append(u, sizeof(u));
        }
      }
    }
    out_.append(run, static_cast<size_t>(end - run));
    out_.push_back('"');
  }

  std::string out_;
  std::vector<char> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

// Member order follows the to_json functions above.
void write(TextWriter& w, const NodeRunRecord& v) {
  w.start_object();
  w.key("execution_id").str(v.execution_id);
  w.key("node_key").str(v.node_key);
  w.key("node_id").str(v.node_id);
  w.key("scope").str(v.scope);
  w.key("status").str(v.status);
  w.key("attempt").i64(v.attempt);
  w.key("output").json(v.output);
  w.key("error").json(v.error);
  w.key("park").json(v.park);
  w.key("started_at_ms").i64(v.started_at_ms);
  w.key("finished_at_ms").i64(v.finished_at_ms);
  w.end_object();
}

void write(TextWriter& w, const NodeLogRecord& v) {
  w.start_object();
  w.key("execution_id").str(v.execution_id);
  w.key("node_key").str(v.node_key);
  w.key("node_id").str(v.node_id);
  w.key("attempt").i64(v.attempt);
  w.key("status").str(v.status);
  w.key("started_at_ms").i64(v.started_at_ms);
  w.key("finished_at_ms").i64(v.finished_at_ms);
  w.key("duration_us").i64(v.duration_us);
  w.key("input").json(v.input);
  w.key("output").json(v.output);
  w.key("error").json(v.error);
  w.key("lines").str(v.lines);
  w.end_object();
}

void write(TextWriter& w, const EventRecord& v) {
  w.start_object();
  w.key("execution_id").str(v.execution_id);
  w.key("seq").i64(v.seq);
  w.key("type").str(v.type);
  w.key("data").json(v.data);
  w.key("ts_ms").i64(v.ts_ms);
  w.end_object();
}

void write(TextWriter& w, const ExecutionUpdate& v) {
  w.start_object();
  if (v.status) w.key("status").str(to_string(*v.status));
  if (v.output) w.key("output").json(*v.output);
  if (v.error) w.key("error").json(*v.error);
  if (v.wake_at_ms) w.key("wake_at_ms").i64(*v.wake_at_ms);
  if (v.started_at_ms) w.key("started_at_ms").i64(*v.started_at_ms);
  if (v.finished_at_ms) w.key("finished_at_ms").i64(*v.finished_at_ms);
  w.key("release_lease").boolean(v.release_lease);
  w.end_object();
}

void write(TextWriter& w, const NewExecution& v) {
  w.start_object();
  w.key("id").str(v.id);
  w.key("workflow_id").str(v.workflow_id);
  w.key("workflow_version").i64(v.workflow_version);
  w.key("owner_id").str(v.owner_id);
  w.key("definition").json(v.definition);
  w.key("input").json(v.input);
  w.key("idempotency_key").str(v.idempotency_key);
  w.key("mode").str(v.mode);
  w.key("deadline_at_ms").i64(v.deadline_at_ms);
  w.key("claim_owner").str(v.claim_owner);
  w.key("lease_ms").i64(v.lease_ms);
  w.end_object();
}

void write(TextWriter& w, const std::string& v) { w.str(v); }

void write(TextWriter& w, const HumanRequestRecord& v);

template <typename T>
void write_array(TextWriter& w, const std::vector<T>& items) {
  w.start_array();
  for (const T& item : items) write(w, item);
  w.end_array();
}

void write(TextWriter& w, const HumanRequestRecord& v) {
  w.start_object();
  w.key("id").str(v.id);
  w.key("execution_id").str(v.execution_id);
  w.key("owner_id").str(v.owner_id);
  w.key("workflow_id").str(v.workflow_id);
  w.key("node_id").str(v.node_id);
  w.key("node_key").str(v.node_key);
  w.key("kind").str(v.kind);
  w.key("request").json(v.request);
  w.key("assignees");
  write_array(w, v.assignees);
  w.key("mode").str(v.mode);
  w.key("status").str(v.status);
  w.key("votes").json(v.votes);
  w.key("response").json(v.response);
  w.key("answered_by").str(v.answered_by);
  w.key("version").i64(v.version);
  w.key("created_at_ms").i64(v.created_at_ms);
  w.key("deadline_at_ms").i64(v.deadline_at_ms);
  w.key("answered_at_ms").i64(v.answered_at_ms);
  w.key("resumed_at_ms").i64(v.resumed_at_ms);
  w.end_object();
}

}  // namespace

std::string to_json_text(const Json& v) {
  TextWriter w;
  w.json(v);
  return w.take();
}

std::string to_json_text(const Commit& v) {
  TextWriter w;
  w.start_object();
  w.key("execution_id").str(v.execution_id);
  w.key("lease").start_object();
  w.key("owner").str(v.lease.owner);
  w.key("epoch").i64(v.lease.epoch);
  w.end_object();
  w.key("runs");
  write_array(w, v.runs);
  w.key("logs");
  write_array(w, v.logs);
  w.key("events");
  write_array(w, v.events);
  if (v.execution) {
    w.key("execution");
    write(w, *v.execution);
  }
  if (!v.requests.empty()) {
    w.key("requests");
    write_array(w, v.requests);
  }
  if (!v.consumed_requests.empty()) {
    w.key("consumed_requests");
    write_array(w, v.consumed_requests);
  }
  if (v.spawn) {
    w.key("spawn");
    write(w, *v.spawn);
  }
  w.end_object();
  return w.take();
}

std::string to_json_text(const NewExecution& v) {
  TextWriter w;
  write(w, v);
  return w.take();
}

// ---- errors ------------------------------------------------------------------------------------

Json error_to_json(const Error& e) {
  Json j = Json::object();
  j.set("code", e.code);
  j.set("message", e.message);
  if (!e.details.empty()) {
    auto parsed = Json::parse(e.details);
    j.set("details", parsed.ok() ? std::move(parsed).value() : Json(e.details));
  }
  return j;
}

Error error_from_json_text(std::string_view text, std::string_view source) {
  auto quoted = [&] {
    constexpr size_t kMax = 200;
    std::string s(text.substr(0, kMax));
    if (text.size() > kMax) s += "...";
    return s;
  };
  auto parsed = Json::parse(text);
  if (!parsed.ok() || !parsed->is_object() || !(*parsed)["code"].is_string() ||
      (*parsed)["code"].as_string().empty()) {
    return Error("storage_error",
                 std::string(source) + " failed with a malformed error report: '" + quoted() + "'");
  }
  const Json& j = *parsed;
  Error e(j["code"].as_string(), j["message"].as_string());
  if (e.message.empty()) e.message = std::string(source) + " failed (" + e.code + ")";
  if (const Json* d = j.find("details"); d && !d->is_null()) e.details = d->dump();
  return e;
}

}  // namespace weft::store
