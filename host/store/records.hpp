// The JSON codec for every record the store exchanges with a storage backend plugin.
//
// PluginStore (host side) and the storage plugins (plugins/storage-common) both link this code
// statically, so each shape is defined exactly once. docs/plugin-abi.md "Storage backends" lists
// the operations (op names below) and which of these shapes travel as arguments and results.
//
// Decoding rules: a missing member keeps the struct's default (older writers stay readable); a
// member of the wrong type is an error with code "invalid_argument" naming the record and the
// member. Unknown members are ignored. Embedded JSON values (definition, input, output, ...) are
// carried as JSON, not as strings.
//
// Thread-safety: all functions are pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "host/core/json.hpp"
#include "host/core/result.hpp"
#include "host/store/store.hpp"

namespace weft::store {

// Operation names of the storage ABI (weft_storage_backend.call).
namespace op {
inline constexpr std::string_view kSaveWorkflow = "save_workflow";
inline constexpr std::string_view kGetWorkflow = "get_workflow";
inline constexpr std::string_view kCreateExecution = "create_execution";
inline constexpr std::string_view kGetExecution = "get_execution";
inline constexpr std::string_view kListExecutions = "list_executions";
inline constexpr std::string_view kClaimExecution = "claim_execution";
inline constexpr std::string_view kHeartbeat = "heartbeat";
inline constexpr std::string_view kListLeased = "list_leased";
inline constexpr std::string_view kExpireLease = "expire_lease";
inline constexpr std::string_view kCommit = "commit";
inline constexpr std::string_view kNodeRuns = "node_runs";
inline constexpr std::string_view kNodeLogs = "node_logs";
inline constexpr std::string_view kEvents = "events";
inline constexpr std::string_view kRequestCancel = "request_cancel";
inline constexpr std::string_view kSetPaused = "set_paused";
inline constexpr std::string_view kLoadPluginStates = "load_plugin_states";
inline constexpr std::string_view kSavePluginState = "save_plugin_state";
// Schema v5: workflow listing and deletion, webhook routes, accounts, metrics.
inline constexpr std::string_view kListWorkflows = "list_workflows";
inline constexpr std::string_view kListWorkflowVersions = "list_workflow_versions";
inline constexpr std::string_view kDeleteWorkflow = "delete_workflow";
inline constexpr std::string_view kSetWebhookRoutes = "set_webhook_routes";
inline constexpr std::string_view kFindWebhookRoute = "find_webhook_route";
inline constexpr std::string_view kListWebhookRoutes = "list_webhook_routes";
inline constexpr std::string_view kCreateUser = "create_user";
inline constexpr std::string_view kGetUser = "get_user";
inline constexpr std::string_view kFindUserByEmail = "find_user_by_email";
inline constexpr std::string_view kListUsers = "list_users";
inline constexpr std::string_view kCountUsers = "count_users";
inline constexpr std::string_view kUpdateUser = "update_user";
inline constexpr std::string_view kCreateSession = "create_session";
inline constexpr std::string_view kGetSession = "get_session";
inline constexpr std::string_view kRotateSession = "rotate_session";
inline constexpr std::string_view kRevokeSession = "revoke_session";
inline constexpr std::string_view kRevokeUserSessions = "revoke_user_sessions";
inline constexpr std::string_view kCreateApiKey = "create_api_key";
inline constexpr std::string_view kFindApiKey = "find_api_key";
inline constexpr std::string_view kGetApiKey = "get_api_key";
inline constexpr std::string_view kListApiKeys = "list_api_keys";
inline constexpr std::string_view kUpdateApiKey = "update_api_key";
inline constexpr std::string_view kCountExecutionsByStatus = "count_executions_by_status";
// Schema v6: credentials, vault key checks, the audit trail.
inline constexpr std::string_view kCreateCredential = "create_credential";
inline constexpr std::string_view kGetCredential = "get_credential";
inline constexpr std::string_view kListCredentials = "list_credentials";
inline constexpr std::string_view kUpdateCredential = "update_credential";
inline constexpr std::string_view kDeleteCredential = "delete_credential";
inline constexpr std::string_view kListCredentialsToRekey = "list_credentials_to_rekey";
inline constexpr std::string_view kRekeyCredential = "rekey_credential";
inline constexpr std::string_view kCredentialKeyVersionRange = "credential_key_version_range";
inline constexpr std::string_view kPutVaultKeyCheck = "put_vault_key_check";
inline constexpr std::string_view kVaultKeyChecks = "vault_key_checks";
inline constexpr std::string_view kAppendAudit = "append_audit";
inline constexpr std::string_view kListAudit = "list_audit";
// Schema v7: custom nodes.
inline constexpr std::string_view kCreateCustomNode = "create_custom_node";
inline constexpr std::string_view kGetCustomNode = "get_custom_node";
inline constexpr std::string_view kListCustomNodes = "list_custom_nodes";
inline constexpr std::string_view kListCustomNodeVersions = "list_custom_node_versions";
inline constexpr std::string_view kDeleteCustomNode = "delete_custom_node";
// Schema v8: human requests, schedules.
inline constexpr std::string_view kGetHumanRequest = "get_human_request";
inline constexpr std::string_view kListHumanRequests = "list_human_requests";
inline constexpr std::string_view kRespondHumanRequest = "respond_human_request";
inline constexpr std::string_view kExpireHumanRequest = "expire_human_request";
inline constexpr std::string_view kCreateSchedule = "create_schedule";
inline constexpr std::string_view kGetSchedule = "get_schedule";
inline constexpr std::string_view kListSchedules = "list_schedules";
inline constexpr std::string_view kUpdateSchedule = "update_schedule";
inline constexpr std::string_view kDeleteSchedule = "delete_schedule";
inline constexpr std::string_view kDueSchedules = "due_schedules";
inline constexpr std::string_view kFireSchedule = "fire_schedule";
}  // namespace op

// Parse limits for JSON crossing the storage boundary. Stored documents were validated when they
// entered the host (default limits); the envelope around them (result object, arrays of records)
// adds a few levels, and a page of executions may hold many large payloads.
JsonParseLimits storage_json_limits();

Json to_json(const Lease& v);
Json to_json(const WorkflowRecord& v);
Json to_json(const ExecutionRecord& v);
Json to_json(const NewExecution& v);
Json to_json(const NodeRunRecord& v);
Json to_json(const EventRecord& v);
Json to_json(const NodeLogRecord& v);
Json to_json(const ExecutionUpdate& v);
Json to_json(const Commit& v);
Json to_json(const ExecutionFilter& v);
Json to_json(const UserRecord& v);
Json to_json(const UserUpdate& v);
Json to_json(const SessionRecord& v);
Json to_json(const ApiKeyRecord& v);
Json to_json(const ApiKeyUpdate& v);
Json to_json(const WorkflowSummary& v);
Json to_json(const WorkflowFilter& v);
Json to_json(const WebhookRoute& v);
Json to_json(const CredentialRecord& v);
Json to_json(const CredentialUpdate& v);
Json to_json(const VaultKeyCheck& v);
Json to_json(const AuditRecord& v);
Json to_json(const AuditFilter& v);
Json to_json(const CustomNodeRecord& v);
Json to_json(const HumanRequestRecord& v);
Json to_json(const HumanRequestFilter& v);
Json to_json(const HumanResponse& v);
Json to_json(const ScheduleRecord& v);
Json to_json(const ScheduleFire& v);

Status from_json(const Json& j, Lease& out);
Status from_json(const Json& j, WorkflowRecord& out);
Status from_json(const Json& j, ExecutionRecord& out);
Status from_json(const Json& j, NewExecution& out);
Status from_json(const Json& j, NodeRunRecord& out);
Status from_json(const Json& j, EventRecord& out);
Status from_json(const Json& j, NodeLogRecord& out);
Status from_json(const Json& j, ExecutionUpdate& out);
Status from_json(const Json& j, Commit& out);
Status from_json(const Json& j, ExecutionFilter& out);
Status from_json(const Json& j, UserRecord& out);
Status from_json(const Json& j, UserUpdate& out);
Status from_json(const Json& j, SessionRecord& out);
Status from_json(const Json& j, ApiKeyRecord& out);
Status from_json(const Json& j, ApiKeyUpdate& out);
Status from_json(const Json& j, WorkflowSummary& out);
Status from_json(const Json& j, WorkflowFilter& out);
Status from_json(const Json& j, WebhookRoute& out);
Status from_json(const Json& j, CredentialRecord& out);
Status from_json(const Json& j, CredentialUpdate& out);
Status from_json(const Json& j, VaultKeyCheck& out);
Status from_json(const Json& j, AuditRecord& out);
Status from_json(const Json& j, AuditFilter& out);
Status from_json(const Json& j, CustomNodeRecord& out);
Status from_json(const Json& j, HumanRequestRecord& out);
Status from_json(const Json& j, HumanRequestFilter& out);
Status from_json(const Json& j, HumanResponse& out);
Status from_json(const Json& j, ScheduleRecord& out);
Status from_json(const Json& j, ScheduleFire& out);

// Decodes an array of records (e.g. the "executions" member of a list result).
template <typename T>
Status from_json_array(const Json& j, std::vector<T>& out, const char* what) {
  if (!j.is_array() && !j.is_null()) {
    return Error("invalid_argument", std::string(what) + " must be an array, got " + j.type_name());
  }
  out.clear();
  out.reserve(j.size());
  for (const Json& item : j.as_array()) {
    T v;
    Status s = from_json(item, v);
    if (!s.ok()) return s;
    out.push_back(std::move(v));
  }
  return {};
}

template <typename T>
Json to_json_array(const std::vector<T>& items) {
  Json::Array a;
  a.reserve(items.size());
  for (const T& item : items) a.push_back(to_json(item));
  return Json(std::move(a));
}

// Fast text encoding for the hot paths across the storage boundary. Each produces exactly the text
// of the matching to_json(...).dump() / Json::dump(), but writes it straight from the values,
// without building an intermediate Json tree, into one buffer.
std::string to_json_text(const Json& v);
std::string to_json_text(const Commit& v);
std::string to_json_text(const NewExecution& v);

// ---- sealed credential secrets -----------------------------------------------------------------
// The shape the store accepts for CredentialRecord::secrets: an object whose every member is
// {"v": <key version >= 1>, "c": "<non-empty string>"} (what host/vault produces). The store
// refuses anything else, so a plaintext secret can never be written by mistake. Returns the lowest
// "v" (0 for an empty map), which the store records as the row's key_version.
Result<int64_t> sealed_secrets_min_version(const Json& secrets);

// ---- the audit chain ----------------------------------------------------------------------------
// 64 '0' characters: the prev_hash of the first audit entry.
const std::string& audit_genesis_hash();
// Lower-case hex SHA-256 of prev_hash + "\n" + entry: what AuditRecord::hash holds.
std::string audit_chain_hash(std::string_view prev_hash, std::string_view entry);
// Checks a run of consecutive entries (ascending seq, as list_audit returns them unfiltered):
// each entry's prev_hash must equal `expected_prev` (the previous entry's hash, or
// audit_genesis_hash() before seq 1) and its hash must match its prev_hash and entry text.
// Returns the seq of the first entry that breaks the chain (an edited entry, or one whose
// predecessor was edited, removed or reordered), 0 when the whole run holds.
int64_t verify_audit_chain(const std::vector<AuditRecord>& entries, std::string expected_prev);

// Errors on the wire: {"code","message","details"} (details is a JSON value, omitted if empty).
Json error_to_json(const Error& e);
// Never fails: text that is not a well-formed error object becomes a "storage_error" naming
// `source` and quoting (a bounded prefix of) the text.
Error error_from_json_text(std::string_view text, std::string_view source);

}  // namespace weft::store
