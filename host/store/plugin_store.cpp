#include "host/store/plugin_store.hpp"

#include <utility>

#include "host/core/call.hpp"
#include "host/store/records.hpp"

namespace weft::store {

namespace {

std::string source_name(const registry::StorageBackend& b, std::string_view op) {
  std::string s = "storage backend '" + b.scheme + "'";
  if (!b.plugin_name.empty()) s += " (plugin " + b.plugin_name + ")";
  if (!op.empty()) s += " " + std::string(op);
  return s;
}

Json object_of(std::initializer_list<std::pair<const char*, Json>> members) {
  Json j = Json::object();
  for (const auto& [k, v] : members) j.set(k, v);
  return j;
}

template <typename T>
Result<T> decode(Result<Json> r, const char* member) {
  if (!r.ok()) return r.take_error();
  T out;
  Status s = from_json((*r)[member], out);
  if (!s.ok()) return Error("storage_error", "storage backend returned a bad '" + std::string(member) +
                                                 "': " + s.error().message);
  return out;
}

template <typename T>
Result<std::vector<T>> decode_list(Result<Json> r, const char* member) {
  if (!r.ok()) return r.take_error();
  std::vector<T> out;
  Status s = from_json_array((*r)[member], out, member);
  if (!s.ok()) return Error("storage_error", "storage backend returned a bad '" + std::string(member) +
                                                 "': " + s.error().message);
  return out;
}

Status as_status(Result<Json> r) {
  if (!r.ok()) return r.take_error();
  return {};
}

}  // namespace

Result<std::shared_ptr<PluginStore>> PluginStore::open(
    std::shared_ptr<const registry::StorageBackend> backend, const std::string& url,
    const Json& options) {
  if (!backend) return Error("invalid_argument", "no storage backend given for '" + url + "'");
  const weft_storage_backend& vt = backend->vtable;
  if (!WEFT_HAS_FIELD(&vt, weft_storage_backend, close) || !vt.open || !vt.call || !vt.close) {
    return Error("storage_error", source_name(*backend, "") + " has an incomplete function table");
  }
  if (!options.is_object() && !options.is_null()) {
    return Error("invalid_argument", "storage options for '" + url + "' must be a JSON object, got " +
                                         options.type_name());
  }
  const std::string options_text = options.is_null() ? std::string("{}") : options.dump();
  StringSink error;
  weft_storage_conn* conn = nullptr;
  weft_status st = vt.open(vt.backend_state, to_weft_str(url), to_weft_str(options_text), &conn,
                           &error.sink);
  if (st != WEFT_OK || conn == nullptr) {
    if (conn) vt.close(conn);
    if (error.data.empty()) {
      return Error("storage_error", source_name(*backend, "open") + " failed with status " +
                                        std::to_string(static_cast<int>(st)) + " and no error report");
    }
    return error_from_json_text(error.data, source_name(*backend, "open"));
  }
  return std::shared_ptr<PluginStore>(new PluginStore(std::move(backend), conn));
}

PluginStore::PluginStore(std::shared_ptr<const registry::StorageBackend> backend,
                         weft_storage_conn* conn)
    : backend_(std::move(backend)), conn_(conn) {}

PluginStore::~PluginStore() {
  // Close while backend_ (and so the plugin's library) is still held.
  if (conn_) backend_->vtable.close(conn_);
}

Result<Json> PluginStore::call(std::string_view op, const Json& args) {
  return parse_result(op, call_text(op, to_json_text(args)));
}

Result<std::string> PluginStore::call_text(std::string_view op, const std::string& args_text) {
  StringSink result;
  StringSink error;
  weft_status st = backend_->vtable.call(conn_, to_weft_str(op), to_weft_str(args_text), &result.sink,
                                         &error.sink);
  if (st != WEFT_OK) {
    if (error.data.empty()) {
      return Error("storage_error", source_name(*backend_, op) + " failed with status " +
                                        std::to_string(static_cast<int>(st)) + " and no error report");
    }
    return error_from_json_text(error.data, source_name(*backend_, op));
  }
  return std::move(result.data);
}

Result<Json> PluginStore::parse_result(std::string_view op, Result<std::string> text) {
  if (!text.ok()) return text.take_error();
  if (text->empty()) return Json::object();
  auto parsed = Json::parse(*text, storage_json_limits());
  if (!parsed.ok()) {
    return Error("storage_error", source_name(*backend_, op) + " returned malformed JSON: " +
                                      parsed.error().message);
  }
  return std::move(parsed).value();
}

Result<WorkflowRecord> PluginStore::save_workflow(const std::string& owner_id, const std::string& id,
                                                  const std::string& name, const Json& definition) {
  return decode<WorkflowRecord>(
      call(op::kSaveWorkflow,
           object_of({{"owner_id", owner_id}, {"id", id}, {"name", name}, {"definition", definition}})),
      "workflow");
}

Result<WorkflowRecord> PluginStore::get_workflow(const std::string& owner_id, const std::string& id,
                                                 int64_t version) {
  return decode<WorkflowRecord>(
      call(op::kGetWorkflow, object_of({{"owner_id", owner_id}, {"id", id}, {"version", version}})),
      "workflow");
}

Result<ExecutionRecord> PluginStore::create_execution(const NewExecution& e, bool* existed) {
  // "omit_sent_documents": an execution created by this call comes back without the definition
  // and input we are sending (often the largest part of the record): they are filled in here. A
  // backend that does not know the flag returns them, and they are taken from its answer.
  std::string args = to_json_text(e);
  args.insert(args.size() - 1, R"(,"omit_sent_documents":true)");  // before the closing brace
  auto r = parse_result(op::kCreateExecution, call_text(op::kCreateExecution, args));
  if (!r.ok()) return r.take_error();
  const bool found = (*r)["existed"].as_bool();
  if (existed) *existed = found;
  const bool has_definition = (*r)["execution"].contains("definition");
  const bool has_input = (*r)["execution"].contains("input");
  auto rec = decode<ExecutionRecord>(std::move(r), "execution");
  if (!rec.ok() || found) return rec;
  if (!has_definition) rec->definition = e.definition;
  if (!has_input) rec->input = e.input;
  return rec;
}

Result<ExecutionRecord> PluginStore::get_execution(const std::string& id) {
  return decode<ExecutionRecord>(call(op::kGetExecution, object_of({{"id", id}})), "execution");
}

Result<std::vector<ExecutionRecord>> PluginStore::list_executions(const ExecutionFilter& f) {
  return decode_list<ExecutionRecord>(call(op::kListExecutions, to_json(f)), "executions");
}

Result<std::optional<ExecutionRecord>> PluginStore::claim_execution(const std::string& worker,
                                                                    int64_t lease_ms, int64_t now_ms) {
  auto r = call(op::kClaimExecution,
                object_of({{"worker", worker}, {"lease_ms", lease_ms}, {"now_ms", now_ms}}));
  if (!r.ok()) return r.take_error();
  if ((*r)["execution"].is_null()) return std::optional<ExecutionRecord>();
  auto rec = decode<ExecutionRecord>(std::move(r), "execution");
  if (!rec.ok()) return rec.take_error();
  return std::optional<ExecutionRecord>(std::move(rec).value());
}

Status PluginStore::heartbeat(const std::string& execution_id, const Lease& lease, int64_t lease_ms,
                              int64_t now_ms) {
  return as_status(call(op::kHeartbeat, object_of({{"execution_id", execution_id},
                                                   {"lease", to_json(lease)},
                                                   {"lease_ms", lease_ms},
                                                   {"now_ms", now_ms}})));
}

Result<std::vector<ExecutionRecord>> PluginStore::list_leased() {
  return decode_list<ExecutionRecord>(call(op::kListLeased, Json::object()), "executions");
}

Status PluginStore::expire_lease(const std::string& execution_id, const Lease& lease) {
  return as_status(call(op::kExpireLease,
                        object_of({{"execution_id", execution_id}, {"lease", to_json(lease)}})));
}

Status PluginStore::commit(const Commit& c) {
  // The result of a successful commit carries nothing: it is not parsed.
  auto r = call_text(op::kCommit, to_json_text(c));
  if (!r.ok()) return r.take_error();
  return {};
}

Result<std::vector<NodeRunRecord>> PluginStore::node_runs(const std::string& execution_id) {
  return decode_list<NodeRunRecord>(
      call(op::kNodeRuns, object_of({{"execution_id", execution_id}})), "runs");
}

Result<std::vector<NodeLogRecord>> PluginStore::node_logs(const std::string& execution_id) {
  return decode_list<NodeLogRecord>(
      call(op::kNodeLogs, object_of({{"execution_id", execution_id}})), "logs");
}

Result<std::vector<EventRecord>> PluginStore::events(const std::string& execution_id,
                                                     int64_t after_seq, int64_t limit) {
  return decode_list<EventRecord>(
      call(op::kEvents, object_of({{"execution_id", execution_id},
                                   {"after_seq", after_seq},
                                   {"limit", limit}})),
      "events");
}

Status PluginStore::request_cancel(const std::string& execution_id) {
  return as_status(call(op::kRequestCancel, object_of({{"execution_id", execution_id}})));
}

Status PluginStore::set_paused(const std::string& execution_id, bool paused) {
  return as_status(
      call(op::kSetPaused, object_of({{"execution_id", execution_id}, {"paused", paused}})));
}

Result<std::map<std::string, bool>> PluginStore::load_plugin_states() {
  auto r = call(op::kLoadPluginStates, Json::object());
  if (!r.ok()) return r.take_error();
  const Json& states = (*r)["states"];
  if (!states.is_object()) {
    return Error("storage_error", source_name(*backend_, op::kLoadPluginStates) +
                                      " returned no 'states' object");
  }
  std::map<std::string, bool> out;
  for (const auto& [name, enabled] : states.as_object()) {
    if (!enabled.is_bool()) {
      return Error("storage_error", source_name(*backend_, op::kLoadPluginStates) +
                                        " returned a non-boolean state for plugin '" + name + "'");
    }
    out[name] = enabled.as_bool();
  }
  return out;
}

Status PluginStore::save_plugin_state(const std::string& name, bool enabled) {
  return as_status(call(op::kSavePluginState, object_of({{"name", name}, {"enabled", enabled}})));
}

// ---- workflows (listing, versions, deletion) ----------------------------------------------------

Result<std::vector<WorkflowSummary>> PluginStore::list_workflows(const WorkflowFilter& f) {
  return decode_list<WorkflowSummary>(call(op::kListWorkflows, to_json(f)), "workflows");
}

Result<std::vector<WorkflowRecord>> PluginStore::list_workflow_versions(const std::string& owner_id,
                                                                        const std::string& id) {
  return decode_list<WorkflowRecord>(
      call(op::kListWorkflowVersions, object_of({{"owner_id", owner_id}, {"id", id}})), "workflows");
}

Status PluginStore::delete_workflow(const std::string& owner_id, const std::string& id) {
  return as_status(call(op::kDeleteWorkflow, object_of({{"owner_id", owner_id}, {"id", id}})));
}

// ---- webhook routes ----------------------------------------------------------------------------

Status PluginStore::set_webhook_routes(const std::string& owner_id, const std::string& workflow_id,
                                       const std::vector<WebhookRoute>& routes) {
  return as_status(call(op::kSetWebhookRoutes, object_of({{"owner_id", owner_id},
                                                          {"workflow_id", workflow_id},
                                                          {"routes", to_json_array(routes)}})));
}

Result<WebhookRoute> PluginStore::find_webhook_route(const std::string& path) {
  return decode<WebhookRoute>(call(op::kFindWebhookRoute, object_of({{"path", path}})), "route");
}

Result<std::vector<WebhookRoute>> PluginStore::list_webhook_routes(const std::string& owner_id,
                                                                   const std::string& workflow_id) {
  return decode_list<WebhookRoute>(
      call(op::kListWebhookRoutes, object_of({{"owner_id", owner_id}, {"workflow_id", workflow_id}})),
      "routes");
}

// ---- users -------------------------------------------------------------------------------------

Result<UserRecord> PluginStore::create_user(const UserRecord& u) {
  return decode<UserRecord>(call(op::kCreateUser, to_json(u)), "user");
}

Result<UserRecord> PluginStore::get_user(const std::string& id) {
  return decode<UserRecord>(call(op::kGetUser, object_of({{"id", id}})), "user");
}

Result<UserRecord> PluginStore::find_user_by_email(const std::string& email) {
  return decode<UserRecord>(call(op::kFindUserByEmail, object_of({{"email", email}})), "user");
}

Result<std::vector<UserRecord>> PluginStore::list_users(int64_t limit, const std::string& after_id) {
  return decode_list<UserRecord>(
      call(op::kListUsers, object_of({{"limit", limit}, {"after_id", after_id}})), "users");
}

Result<int64_t> PluginStore::count_users() {
  auto r = call(op::kCountUsers, Json::object());
  if (!r.ok()) return r.take_error();
  const Json& count = (*r)["count"];
  if (!count.is_int()) {
    return Error("storage_error", source_name(*backend_, op::kCountUsers) + " returned no integer 'count'");
  }
  return count.as_int();
}

Result<UserRecord> PluginStore::update_user(const std::string& id, const UserUpdate& u) {
  return decode<UserRecord>(call(op::kUpdateUser, object_of({{"id", id}, {"update", to_json(u)}})),
                            "user");
}

// ---- sessions ----------------------------------------------------------------------------------

Status PluginStore::create_session(const SessionRecord& s) {
  return as_status(call(op::kCreateSession, to_json(s)));
}

Result<SessionRecord> PluginStore::get_session(const std::string& id) {
  return decode<SessionRecord>(call(op::kGetSession, object_of({{"id", id}})), "session");
}

Status PluginStore::rotate_session(const std::string& id, const std::string& old_hash,
                                   const std::string& new_hash, int64_t new_expires_at_ms,
                                   int64_t now_ms) {
  return as_status(call(op::kRotateSession, object_of({{"id", id},
                                                       {"old_hash", old_hash},
                                                       {"new_hash", new_hash},
                                                       {"new_expires_at_ms", new_expires_at_ms},
                                                       {"now_ms", now_ms}})));
}

Status PluginStore::revoke_session(const std::string& id, int64_t now_ms) {
  return as_status(call(op::kRevokeSession, object_of({{"id", id}, {"now_ms", now_ms}})));
}

Status PluginStore::revoke_user_sessions(const std::string& user_id, int64_t now_ms) {
  return as_status(
      call(op::kRevokeUserSessions, object_of({{"user_id", user_id}, {"now_ms", now_ms}})));
}

// ---- API keys ----------------------------------------------------------------------------------

Status PluginStore::create_api_key(const ApiKeyRecord& k) {
  return as_status(call(op::kCreateApiKey, to_json(k)));
}

Result<ApiKeyRecord> PluginStore::find_api_key(const std::string& prefix) {
  return decode<ApiKeyRecord>(call(op::kFindApiKey, object_of({{"prefix", prefix}})), "api_key");
}

Result<ApiKeyRecord> PluginStore::get_api_key(const std::string& user_id, const std::string& id) {
  return decode<ApiKeyRecord>(call(op::kGetApiKey, object_of({{"user_id", user_id}, {"id", id}})),
                              "api_key");
}

Result<std::vector<ApiKeyRecord>> PluginStore::list_api_keys(const std::string& user_id) {
  return decode_list<ApiKeyRecord>(call(op::kListApiKeys, object_of({{"user_id", user_id}})),
                                   "api_keys");
}

Status PluginStore::update_api_key(const std::string& user_id, const std::string& id,
                                   const ApiKeyUpdate& u) {
  return as_status(call(op::kUpdateApiKey,
                        object_of({{"user_id", user_id}, {"id", id}, {"update", to_json(u)}})));
}

// ---- credentials -------------------------------------------------------------------------------

Result<CredentialRecord> PluginStore::create_credential(const CredentialRecord& c) {
  return decode<CredentialRecord>(call(op::kCreateCredential, to_json(c)), "credential");
}

Result<CredentialRecord> PluginStore::get_credential(const std::string& owner_id, const std::string& id) {
  return decode<CredentialRecord>(
      call(op::kGetCredential, object_of({{"owner_id", owner_id}, {"id", id}})), "credential");
}

Result<std::vector<CredentialRecord>> PluginStore::list_credentials(const std::string& owner_id,
                                                                    const std::string& type) {
  return decode_list<CredentialRecord>(
      call(op::kListCredentials, object_of({{"owner_id", owner_id}, {"type", type}})), "credentials");
}

Result<CredentialRecord> PluginStore::update_credential(const std::string& owner_id, const std::string& id,
                                                        const CredentialUpdate& u) {
  return decode<CredentialRecord>(
      call(op::kUpdateCredential, object_of({{"owner_id", owner_id}, {"id", id}, {"update", to_json(u)}})),
      "credential");
}

Status PluginStore::delete_credential(const std::string& owner_id, const std::string& id) {
  return as_status(call(op::kDeleteCredential, object_of({{"owner_id", owner_id}, {"id", id}})));
}

Result<std::vector<CredentialRecord>> PluginStore::list_credentials_to_rekey(int64_t below_version,
                                                                             const std::string& after_id,
                                                                             int64_t limit) {
  return decode_list<CredentialRecord>(
      call(op::kListCredentialsToRekey,
           object_of({{"below_version", below_version}, {"after_id", after_id}, {"limit", limit}})),
      "credentials");
}

Status PluginStore::rekey_credential(const std::string& id, int64_t expected_updated_at_ms,
                                     const Json& secrets, int64_t key_version, int64_t updated_at_ms) {
  return as_status(call(op::kRekeyCredential, object_of({{"id", id},
                                                         {"expected_updated_at_ms", expected_updated_at_ms},
                                                         {"secrets", secrets},
                                                         {"key_version", key_version},
                                                         {"updated_at_ms", updated_at_ms}})));
}

Result<std::pair<int64_t, int64_t>> PluginStore::credential_key_version_range() {
  auto r = call(op::kCredentialKeyVersionRange, Json::object());
  if (!r.ok()) return r.take_error();
  const Json& highest = (*r)["max"];
  const Json& lowest = (*r)["min"];
  if (!highest.is_int() || !lowest.is_int()) {
    return Error("storage_error", source_name(*backend_, op::kCredentialKeyVersionRange) +
                                      " returned no integer 'max' and 'min'");
  }
  return std::make_pair(highest.as_int(), lowest.as_int());
}

// ---- vault key checks --------------------------------------------------------------------------

Status PluginStore::put_vault_key_check(const VaultKeyCheck& k) {
  return as_status(call(op::kPutVaultKeyCheck, to_json(k)));
}

Result<std::vector<VaultKeyCheck>> PluginStore::vault_key_checks() {
  return decode_list<VaultKeyCheck>(call(op::kVaultKeyChecks, Json::object()), "checks");
}

// ---- audit trail -------------------------------------------------------------------------------

Result<std::vector<AuditRecord>> PluginStore::append_audit(const std::vector<AuditRecord>& entries) {
  return decode_list<AuditRecord>(call(op::kAppendAudit, object_of({{"entries", to_json_array(entries)}})),
                                  "entries");
}

Result<std::vector<AuditRecord>> PluginStore::list_audit(const AuditFilter& f) {
  return decode_list<AuditRecord>(call(op::kListAudit, to_json(f)), "entries");
}

// ---- custom nodes ------------------------------------------------------------------------------

Result<CustomNodeRecord> PluginStore::create_custom_node(const CustomNodeRecord& n, bool new_name) {
  return decode<CustomNodeRecord>(
      call(op::kCreateCustomNode, object_of({{"node", to_json(n)}, {"new_name", new_name}})), "node");
}

Result<CustomNodeRecord> PluginStore::get_custom_node(const std::string& owner_id, const std::string& name,
                                                      int64_t version) {
  return decode<CustomNodeRecord>(
      call(op::kGetCustomNode, object_of({{"owner_id", owner_id}, {"name", name}, {"version", version}})), "node");
}

Result<std::vector<CustomNodeRecord>> PluginStore::list_custom_nodes(const std::string& owner_id) {
  return decode_list<CustomNodeRecord>(call(op::kListCustomNodes, object_of({{"owner_id", owner_id}})), "nodes");
}

Result<std::vector<CustomNodeRecord>> PluginStore::list_custom_node_versions(const std::string& owner_id,
                                                                             const std::string& name) {
  return decode_list<CustomNodeRecord>(
      call(op::kListCustomNodeVersions, object_of({{"owner_id", owner_id}, {"name", name}})), "nodes");
}

Status PluginStore::delete_custom_node(const std::string& owner_id, const std::string& name) {
  return as_status(call(op::kDeleteCustomNode, object_of({{"owner_id", owner_id}, {"name", name}})));
}

// ---- human requests (schema v8) ----------------------------------------------------------------

Result<HumanRequestRecord> PluginStore::get_human_request(const std::string& id) {
  return decode<HumanRequestRecord>(call(op::kGetHumanRequest, object_of({{"id", id}})), "request");
}

Result<std::vector<HumanRequestRecord>> PluginStore::list_human_requests(const HumanRequestFilter& f) {
  return decode_list<HumanRequestRecord>(call(op::kListHumanRequests, to_json(f)), "requests");
}

Result<HumanRequestRecord> PluginStore::respond_human_request(const HumanResponse& r) {
  return decode<HumanRequestRecord>(call(op::kRespondHumanRequest, to_json(r)), "request");
}

Result<HumanRequestRecord> PluginStore::expire_human_request(const std::string& id, int64_t now_ms) {
  return decode<HumanRequestRecord>(
      call(op::kExpireHumanRequest, object_of({{"id", id}, {"now_ms", now_ms}})), "request");
}

// ---- schedules (schema v8) ---------------------------------------------------------------------

Result<ScheduleRecord> PluginStore::create_schedule(const ScheduleRecord& s) {
  return decode<ScheduleRecord>(call(op::kCreateSchedule, object_of({{"schedule", to_json(s)}})),
                                "schedule");
}

Result<ScheduleRecord> PluginStore::get_schedule(const std::string& owner_id, const std::string& id) {
  return decode<ScheduleRecord>(call(op::kGetSchedule, object_of({{"owner_id", owner_id}, {"id", id}})),
                                "schedule");
}

Result<std::vector<ScheduleRecord>> PluginStore::list_schedules(const std::string& owner_id,
                                                                const std::string& workflow_id) {
  return decode_list<ScheduleRecord>(
      call(op::kListSchedules, object_of({{"owner_id", owner_id}, {"workflow_id", workflow_id}})),
      "schedules");
}

Result<ScheduleRecord> PluginStore::update_schedule(const ScheduleRecord& s) {
  return decode<ScheduleRecord>(call(op::kUpdateSchedule, object_of({{"schedule", to_json(s)}})),
                                "schedule");
}

Status PluginStore::delete_schedule(const std::string& owner_id, const std::string& id) {
  return as_status(call(op::kDeleteSchedule, object_of({{"owner_id", owner_id}, {"id", id}})));
}

Result<std::vector<ScheduleRecord>> PluginStore::due_schedules(int64_t now_ms, int64_t limit) {
  return decode_list<ScheduleRecord>(
      call(op::kDueSchedules, object_of({{"now_ms", now_ms}, {"limit", limit}})), "schedules");
}

Result<ScheduleRecord> PluginStore::fire_schedule(const ScheduleFire& f) {
  return decode<ScheduleRecord>(call(op::kFireSchedule, to_json(f)), "schedule");
}

// ---- metrics -----------------------------------------------------------------------------------

Result<std::map<std::string, int64_t>> PluginStore::count_executions_by_status() {
  auto r = call(op::kCountExecutionsByStatus, Json::object());
  if (!r.ok()) return r.take_error();
  const Json& counts = (*r)["counts"];
  if (!counts.is_object()) {
    return Error("storage_error", source_name(*backend_, op::kCountExecutionsByStatus) +
                                      " returned no 'counts' object");
  }
  std::map<std::string, int64_t> out;
  for (const auto& [status, n] : counts.as_object()) {
    if (!n.is_int()) {
      return Error("storage_error", source_name(*backend_, op::kCountExecutionsByStatus) +
                                        " returned a non-integer count for '" + status + "'");
    }
    out[status] = n.as_int();
  }
  return out;
}

}  // namespace weft::store
