// The store: everything Weft persists, behind one interface. The host never talks SQL; storage
// backends are plugins (weft_storage_backend in weft_abi.h) reached through PluginStore, which
// turns each method into one coarse JSON operation that the backend runs as ONE transaction.
// docs/plugin-abi.md "Storage" lists the operations and their JSON shapes (records.hpp has the
// codec both sides share).
//
// Thread-safety: every method may be called concurrently from many threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/core/json.hpp"
#include "host/core/result.hpp"
#include "registry/registry.hpp"

namespace weft::store {

// Error codes the store returns (Error::code):
//   "not_found"      the row does not exist (or belongs to another owner)
//   "lease_lost"     a fenced write whose lease owner/epoch no longer matches: the caller must
//                    stop working on that execution (another worker took it over)
//   "conflict"       a uniqueness or state conflict (e.g. already finished)
//   "storage_error"  the backend failed (message names the cause; retrying may help)
//   "unavailable"    the database cannot be reached
//   "invalid_argument" malformed arguments, options or store URL
//   "schema_too_new" (open_store only) the database was migrated by a newer weft

enum class ExecStatus { Queued, Running, Parked, Paused, Succeeded, Failed, Cancelled };
const char* to_string(ExecStatus s);
std::optional<ExecStatus> exec_status_from(std::string_view s);
inline bool is_final(ExecStatus s) {
  return s == ExecStatus::Succeeded || s == ExecStatus::Failed || s == ExecStatus::Cancelled;
}

struct WorkflowRecord {
  std::string id;
  int64_t version = 0;        // 1, 2, ... every save is a new immutable version
  std::string owner_id;       // "" = the local/CLI owner
  std::string name;
  Json definition;            // the workflow JSON as saved
  int64_t created_at_ms = 0;
};

struct Lease {
  std::string owner;   // worker id: "<host>:<pid>:<random>"
  int64_t epoch = 0;   // incremented at every claim; fences stale writers
};

struct ExecutionRecord {
  std::string id;
  std::string workflow_id;
  int64_t workflow_version = 0;
  std::string owner_id;
  ExecStatus status = ExecStatus::Queued;
  Json definition;              // the workflow definition this execution runs (immutable)
  Json input;                   // trigger input
  Json output;                  // final output (when succeeded)
  Json error;                   // {code,message,details} when failed
  std::string idempotency_key;  // "" = none; unique per owner when set
  std::string mode;             // "sync" | "async"
  int64_t created_at_ms = 0;
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t wake_at_ms = 0;       // parked: wake at (unix ms), 0 = only an answer wakes it
  int64_t deadline_at_ms = 0;   // workflow timeout as a wall-clock deadline, 0 = none
  Lease lease;                  // current lease (owner "" when not leased)
  int64_t lease_expires_at_ms = 0;
  bool cancel_requested = false;
  bool pause_requested = false;
  int64_t last_event_seq = 0;   // highest persisted event seq
};

struct NewExecution {
  std::string id;               // "" = generate
  std::string workflow_id;
  int64_t workflow_version = 0;
  std::string owner_id;
  Json definition;
  Json input;
  std::string idempotency_key;
  std::string mode = "async";
  int64_t deadline_at_ms = 0;
  // When set, the execution is created already claimed by this lease owner (synchronous runs
  // execute in the caller's thread) instead of queued.
  std::string claim_owner;
  int64_t lease_ms = 30000;
};

// One node activation's committed result. node_key = node_id + scope (loop iterations).
struct NodeRunRecord {
  std::string execution_id;
  std::string node_key;   // "<node_id>" or "<node_id>@<scope>"
  std::string node_id;
  std::string scope;      // "" at top level; "loop1#3" inside iteration 3 of loop1; nested "a#1/b#0"
  std::string status;     // "succeeded" | "failed" | "skipped" | "parked"
  int64_t attempt = 0;
  Json output;            // {"<handle>": value} for succeeded / failed-with-route
  Json error;             // {code,message,details}
  Json park;              // park request (status parked)
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
};

// ---- (schema v8, see also the human-request operations below)
// One question a parked execution asks a human (an approval, a clarification, an error
// recovery). Created by the executor's commit (Commit::requests), answered through
// respond_human_request, closed by expire_human_request (timeout) or by the execution ending.
struct HumanRequestRecord {
  std::string id;               // "" in Commit::requests = the store generates one (the executor
                                // normally generates it, to put it in the node's park)
  std::string execution_id;
  std::string owner_id;         // the execution's owner
  std::string workflow_id;
  std::string node_id;
  std::string node_key;         // the node run it belongs to (node_runs key)
  std::string kind;             // "approval" | "clarification" | "error_recovery"
  Json request;                 // what is asked (redacted), e.g. {"title","message","options",...}
  std::vector<std::string> assignees;  // named approvers: user ids or lower-cased emails ({} = owner)
  std::string mode = "any";     // "any" | "all" (approvals with several approvers)
  std::string status = "open";  // "open" | "answered" | "expired" | "cancelled"
  Json votes = Json::array();   // all-of approvals so far: [{"user_id","decision","comment","at_ms"}]
  Json response;                // the final answer (status answered), as the node receives it
  std::string answered_by;      // user id of the final answer ("" = none / the system)
  int64_t version = 0;          // 1 when created, incremented at every change (votes, answer,
                                // expiry, cancellation, consumption): respond_human_request's CAS token
  int64_t created_at_ms = 0;
  int64_t deadline_at_ms = 0;   // wall-clock timeout, 0 = none
  int64_t answered_at_ms = 0;   // answered / expired / cancelled at
  int64_t resumed_at_ms = 0;    // the execution consumed the answer (Commit::consumed_requests)
};

struct EventRecord {
  std::string execution_id;
  int64_t seq = 0;        // 1, 2, ... per execution, no gaps
  std::string type;       // execution_started, node_start, node_complete, ...
  Json data;
  int64_t ts_ms = 0;
};

// Per node attempt log (PRODUCT.md §4 "Logs").
struct NodeLogRecord {
  std::string execution_id;
  std::string node_key;
  std::string node_id;
  int64_t attempt = 0;
  std::string status;     // "succeeded" | "failed" | "parked" | "cancelled" | "timeout"
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
  int64_t duration_us = 0;
  Json input;             // capped, redacted
  Json output;            // capped, redacted
  Json error;
  std::string lines;      // plugin log lines, "\n"-separated, capped
};

struct ExecutionUpdate {
  std::optional<ExecStatus> status;
  std::optional<Json> output;
  std::optional<Json> error;
  std::optional<int64_t> wake_at_ms;
  std::optional<int64_t> started_at_ms;
  std::optional<int64_t> finished_at_ms;
  bool release_lease = false;   // clear lease owner (parked / finished)
};

// Everything one step of the executor commits atomically, fenced by the lease.
struct Commit {
  std::string execution_id;
  Lease lease;
  std::vector<NodeRunRecord> runs;      // upserted by (execution_id, node_key)
  std::vector<NodeLogRecord> logs;      // appended
  std::vector<EventRecord> events;      // appended (seq must continue last_event_seq)
  std::optional<ExecutionUpdate> execution;
  // Schema v8. Human requests created by parks of this step (inserted, status "open", version 1,
  // with their assignees). A node parked with {"request": ...} carries "request_id" in its park.
  // The store takes execution_id, owner_id and workflow_id from the execution itself (who may
  // see and answer a request never depends on the committer); emails among the assignees are
  // lower-cased and duplicates dropped; created_at_ms 0 = the commit time. An id this execution
  // already has is left as it is (a repeated step); another execution's id is "conflict".
  std::vector<HumanRequestRecord> requests;
  // Answered requests whose answer this step consumed (the resumed node ran): their
  // resumed_at_ms is set to the commit time. Only requests of this execution that are no longer
  // open count, and a request keeps the time of its first consumption.
  std::vector<std::string> consumed_requests;
  // When the update finishes the execution: every request of the execution still "open" becomes
  // "cancelled" (the store does this itself for any final status).
  // When the update parks the execution (status parked) while one of its requests is
  // "answered" and not yet consumed (the answer arrived while this worker ran), the store sets
  // wake_at_ms to the commit time instead of the given value, so the answer is never stranded.
  // Reading chosen: this applies only while the request's node run is still parked on it (its
  // park's "request_id" names it) — then the answer is also (re)written into that park, in case
  // this step rewrote the run. An answered request no parked node waits for any more wakes
  // nothing: otherwise an answer the executor never consumes would make every later park due at
  // once (a claim/park loop). The executor must still list every answer it consumes.
  // An execution to create in the same transaction (the error workflow of a failed run). Skipped
  // silently when its idempotency key already exists for its owner (at most one per failure).
  std::optional<NewExecution> spawn;
};

struct ExecutionFilter {
  std::string owner_id;                 // required scope ("" = local owner)
  std::string workflow_id;              // optional
  std::optional<ExecStatus> status;     // optional
  int64_t limit = 50;
  std::string before_id;                // pagination cursor: executions created before this one
};


// ---- accounts (schema v5) ----------------------------------------------------------------------

struct UserRecord {
  std::string id;
  std::string email;            // unique, stored lower-cased (the store lower-cases on write and lookup)
  std::string password_hash;    // argon2id encoded string ("$argon2id$v=19$...")
  std::string role = "user";    // "user" | "admin"
  std::string tier = "free";    // "free" | "pro" | "enterprise"
  bool disabled = false;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// Fields to change; unset = unchanged.
struct UserUpdate {
  std::optional<std::string> password_hash;
  std::optional<std::string> role;
  std::optional<std::string> tier;
  std::optional<bool> disabled;
  // Also revoke every live session of the user (same transaction): password change, disabling.
  bool revoke_sessions = false;
};

// A login. Its refresh token is rotated at every use; access tokens carry the session id, so
// revoking the session (logout) or all of a user's sessions (password change) invalidates them.
struct SessionRecord {
  std::string id;
  std::string user_id;
  std::string refresh_hash;     // keyed hash (hex) of the current refresh secret
  std::string previous_hash;    // the refresh hash before the last rotation (reuse detection)
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;    // refresh expiry
  int64_t revoked_at_ms = 0;    // 0 = live
  int64_t refreshed_at_ms = 0;
};

struct ApiKeyRecord {
  std::string id;
  std::string user_id;
  std::string name;
  std::string prefix;               // public lookup part of the key, unique
  std::string hash;                 // keyed hash (hex) of the whole key
  std::vector<std::string> scopes;  // e.g. {"workflows:read","executions:write"}; {"*"} = all
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;        // 0 = never; rotation sets it to now + overlap
  int64_t revoked_at_ms = 0;        // 0 = live
  int64_t last_used_at_ms = 0;
  std::string replaced_by;          // rotation: id of the successor key
};

struct ApiKeyUpdate {
  std::optional<int64_t> expires_at_ms;
  std::optional<int64_t> revoked_at_ms;
  std::optional<int64_t> last_used_at_ms;
  std::optional<std::string> replaced_by;
};

// ---- workflows, listing (schema v5) --------------------------------------------------------------

// The latest version of a (not deleted) workflow, without its definition.
struct WorkflowSummary {
  std::string id;
  std::string owner_id;
  std::string name;
  int64_t latest_version = 0;
  int64_t created_at_ms = 0;    // version 1
  int64_t updated_at_ms = 0;    // latest version
};

struct WorkflowFilter {
  std::string owner_id;         // required scope
  int64_t limit = 50;
  std::string after_id;         // pagination cursor: summaries ordered by id ascending, after this one
};

// A webhook entry point: the public path routes to one trigger node of one workflow.
struct WebhookRoute {
  std::string path;             // unique over the whole server (it is the URL)
  std::string workflow_id;
  std::string owner_id;
  std::string node_id;
  std::string method = "POST";  // "POST" | "GET" | "ANY"
  std::string auth;             // "secret_path" | "hmac"
  int64_t created_at_ms = 0;
};

// ---- credentials, vault, audit (schema v6) -----------------------------------------------------

// One credential. Secret fields are stored only as ciphertexts produced by host/vault: the store
// never sees a plaintext secret. `data` holds the NON-secret fields in clear (e.g. a username, a
// base URL), `secrets` maps each secret field name to its sealed form
// {"v": <key version>, "c": "<base64url of nonce || ciphertext>"}.
struct CredentialRecord {
  std::string id;
  std::string owner_id;
  std::string name;             // unique per owner (case-insensitive), shown in the editor
  std::string type;             // a registered credential type ("slack_token", "http_bearer", ...)
  Json data = Json::object();   // non-secret fields
  Json secrets = Json::object();// {"<field>": {"v": 1, "c": "..."}}
  int64_t key_version = 0;      // the lowest key version among its secrets (rotation progress)
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;    // also the optimistic-concurrency token of rekey_credential
};

// Fields to change; unset = unchanged. `secrets` replaces the whole sealed map when set.
struct CredentialUpdate {
  std::optional<std::string> name;
  std::optional<Json> data;
  std::optional<Json> secrets;
  std::optional<int64_t> key_version;
  int64_t updated_at_ms = 0;    // required: the new timestamp
};

// A check value per master-key version: a ciphertext of a fixed text under that key version. At
// start-up the vault decrypts every check it has a key for (a wrong key fails to) and refuses to
// start when a version used by rows is missing from the key file.
struct VaultKeyCheck {
  int64_t version = 0;
  std::string check;            // base64url(nonce || ciphertext)
  int64_t created_at_ms = 0;
};

// One audit entry. `entry` is the canonical JSON text of the entry (built by the host, stored
// verbatim); the store chains it: hash = hex(sha256(prev_hash + "\n" + entry)), prev_hash of the
// first entry = 64 zeros. Append-only: there is no update or delete operation.
struct AuditRecord {
  int64_t seq = 0;              // 1, 2, ... assigned by the store
  int64_t ts_ms = 0;
  std::string user_id;          // who acted ("" = the system)
  std::string action_type;      // "credential.access", "credential.create", "admin.plugin_enable", ...
  std::string workflow_id;      // "" when not about a workflow
  std::string execution_id;     // ""
  std::string node_id;          // ""
  std::string entry;            // canonical JSON text (includes every field above + details)
  std::string prev_hash;
  std::string hash;
};

struct AuditFilter {
  std::string user_id;          // "" = everyone (admin views)
  std::string action_type;      // "" = any; a trailing '.' matches a prefix ("credential.")
  std::string workflow_id;      // "" = any
  int64_t from_ms = 0;          // inclusive, 0 = unbounded
  int64_t to_ms = 0;            // exclusive, 0 = unbounded
  int64_t after_seq = 0;        // pagination cursor: entries with seq > after_seq, ascending
  int64_t limit = 100;
};

// ---- human requests and schedules (schema v8) --------------------------------------------------

struct HumanRequestFilter {
  // Requests visible to a user: owned by owner_id OR assigned to one of `principals` (the user's
  // id and lower-cased email; the store lower-cases emails again). Both empty = every request
  // (admin/system use). Note owner_id "" with principals set matches by assignment only.
  std::string owner_id;
  std::vector<std::string> principals;
  std::string execution_id;     // "" = any
  std::string status;           // "" = any; "open", "answered", ...
  int64_t limit = 100;
  std::string after_id;         // pagination cursor: ordered by (created_at_ms, id) ascending
};

// A vote or final answer, applied only if the request is still open at `expected_version`.
struct HumanResponse {
  std::string id;
  int64_t expected_version = 0;
  Json votes;                   // the new votes array (replaces the old one)
  bool final = false;           // true: the request is answered with `response`
  Json response;
  std::string answered_by;
  int64_t now_ms = 0;
};

// A cron trigger of a workflow (host/service/schedules.hpp).
struct ScheduleRecord {
  std::string id;               // "" on create = generate
  std::string owner_id;
  std::string workflow_id;
  std::string name;
  std::string cron;             // five fields (minute hour day-of-month month day-of-week)
  std::string timezone = "UTC"; // IANA name
  bool enabled = true;
  std::string missed_policy = "run_once";  // "run_once" | "skip" (runs missed while down)
  Json input;                   // trigger input of each run (null = {"scheduled_at": ...} only)
  int64_t next_run_at_ms = 0;   // 0 when disabled
  int64_t last_run_at_ms = 0;   // the scheduled time of the last fired run
  std::string last_execution_id;
  int64_t version = 0;          // CAS token of update_schedule / fire_schedule
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// One firing: applied only if the schedule still has next_run_at_ms == expected_next_run_at_ms
// and is enabled (so two servers never both fire the same occurrence).
struct ScheduleFire {
  std::string id;
  int64_t expected_next_run_at_ms = 0;
  int64_t fired_at_ms = 0;      // the scheduled time being fired (last_run_at_ms)
  int64_t next_run_at_ms = 0;   // the following occurrence
  std::optional<NewExecution> execution;  // created in the same transaction (none = skipped run);
                                          // an existing idempotency key is not an error
  // The result's last_execution_id is the created (or existing) execution; a skipped run leaves
  // the previous one. The execution's owner_id must be the schedule's ("invalid_argument"
  // otherwise, nothing changed): a schedule never runs anything as someone else.
};

// ---- custom nodes (schema v7) ------------------------------------------------------------------

// One version of a custom node a user uploaded (host/service/custom_nodes.hpp). Versions are
// immutable: an update is a new row with the next version number of (owner, name).
struct CustomNodeRecord {
  std::string id;                // one id per version row; "" = the store generates it
  std::string owner_id;
  std::string name;              // [a-z][a-z0-9_]{0,62}; the node type is "custom.<name>"
  int64_t version = 0;           // 1, 2, ... per (owner, name): assigned by the store
  std::string language;          // "javascript" | "python"
  std::string source;            // the uploaded file ("" in listings, which leave it out)
  Json declaration;              // the validated node schema (host form, docs/plugin-abi.md)
  int64_t created_at_ms = 0;     // when version 1 of this name was stored
  int64_t updated_at_ms = 0;     // when this version was stored
};

class Store : public registry::PluginStateStore {
 public:
  ~Store() override = default;

  // Workflows: every save is a new immutable version. id "" = new workflow.
  virtual Result<WorkflowRecord> save_workflow(const std::string& owner_id, const std::string& id,
                                               const std::string& name, const Json& definition) = 0;
  // version 0 = latest.
  virtual Result<WorkflowRecord> get_workflow(const std::string& owner_id, const std::string& id,
                                              int64_t version = 0) = 0;

  // Executions. With an idempotency key that already exists for the owner, returns the existing
  // execution and sets *existed = true instead of creating a second one.
  virtual Result<ExecutionRecord> create_execution(const NewExecution& e, bool* existed = nullptr) = 0;
  virtual Result<ExecutionRecord> get_execution(const std::string& id) = 0;
  virtual Result<std::vector<ExecutionRecord>> list_executions(const ExecutionFilter& f) = 0;

  // The queue. Claims at most one execution that is runnable now: queued, running with an
  // expired lease, or parked with wake_at_ms <= now_ms (and not paused). Sets status running,
  // lease owner, epoch + 1 and expiry now + lease_ms. nullopt when nothing is runnable.
  virtual Result<std::optional<ExecutionRecord>> claim_execution(const std::string& worker,
                                                                 int64_t lease_ms,
                                                                 int64_t now_ms) = 0;
  // Extends the lease; "lease_lost" when the lease changed hands.
  virtual Status heartbeat(const std::string& execution_id, const Lease& lease, int64_t lease_ms,
                           int64_t now_ms) = 0;
  // Executions currently leased (running) — used at start-up to reclaim leases of dead local
  // processes.
  virtual Result<std::vector<ExecutionRecord>> list_leased() = 0;
  // Expires the lease now if it is still held with that epoch (the owner is known to be dead).
  virtual Status expire_lease(const std::string& execution_id, const Lease& lease) = 0;

  // The durable step: node runs, logs, events and the execution update in one transaction,
  // only if the lease still matches. "lease_lost" otherwise (nothing written).
  virtual Status commit(const Commit& c) = 0;

  virtual Result<std::vector<NodeRunRecord>> node_runs(const std::string& execution_id) = 0;
  virtual Result<std::vector<NodeLogRecord>> node_logs(const std::string& execution_id) = 0;
  virtual Result<std::vector<EventRecord>> events(const std::string& execution_id,
                                                  int64_t after_seq, int64_t limit) = 0;

  // Control requests, seen by the worker that runs the execution. Cancelling a queued or parked
  // execution finishes it directly (status cancelled + a workflow_done event).
  virtual Status request_cancel(const std::string& execution_id) = 0;
  virtual Status set_paused(const std::string& execution_id, bool paused) = 0;


  // ---- workflows (listing, versions, deletion) ----
  // Latest versions of the owner's non-deleted workflows, ordered by id.
  virtual Result<std::vector<WorkflowSummary>> list_workflows(const WorkflowFilter& f) = 0;
  // Every version of one workflow (ascending), definitions included. not_found when deleted or
  // owned by someone else.
  virtual Result<std::vector<WorkflowRecord>> list_workflow_versions(const std::string& owner_id,
                                                                     const std::string& id) = 0;
  // Marks the workflow deleted (its versions stay for the executions that reference them; get /
  // list / save then answer not_found) and removes its webhook routes, in one transaction.
  virtual Status delete_workflow(const std::string& owner_id, const std::string& id) = 0;

  // ---- webhook routes ----
  // Replaces the routes of one workflow with `routes` (one transaction). "conflict" when a path
  // already belongs to another workflow (nothing changed then).
  virtual Status set_webhook_routes(const std::string& owner_id, const std::string& workflow_id,
                                    const std::vector<WebhookRoute>& routes) = 0;
  virtual Result<WebhookRoute> find_webhook_route(const std::string& path) = 0;
  virtual Result<std::vector<WebhookRoute>> list_webhook_routes(const std::string& owner_id,
                                                                const std::string& workflow_id) = 0;

  // ---- users ----
  // id "" = generate. "conflict" when the email is taken.
  virtual Result<UserRecord> create_user(const UserRecord& u) = 0;
  virtual Result<UserRecord> get_user(const std::string& id) = 0;
  virtual Result<UserRecord> find_user_by_email(const std::string& email) = 0;
  // Ordered by id; after_id is the pagination cursor.
  virtual Result<std::vector<UserRecord>> list_users(int64_t limit, const std::string& after_id) = 0;
  virtual Result<int64_t> count_users() = 0;
  virtual Result<UserRecord> update_user(const std::string& id, const UserUpdate& u) = 0;

  // ---- sessions ----
  virtual Status create_session(const SessionRecord& s) = 0;
  virtual Result<SessionRecord> get_session(const std::string& id) = 0;
  // Refresh rotation as compare-and-swap: succeeds only when the session is live, not expired at
  // now_ms and its refresh_hash equals old_hash; then previous_hash = old_hash, refresh_hash =
  // new_hash, expires_at = new_expires_at_ms. "conflict" otherwise (nothing changed).
  virtual Status rotate_session(const std::string& id, const std::string& old_hash,
                                const std::string& new_hash, int64_t new_expires_at_ms,
                                int64_t now_ms) = 0;
  virtual Status revoke_session(const std::string& id, int64_t now_ms) = 0;
  virtual Status revoke_user_sessions(const std::string& user_id, int64_t now_ms) = 0;

  // ---- API keys ----
  // "conflict" when the prefix exists.
  virtual Status create_api_key(const ApiKeyRecord& k) = 0;
  virtual Result<ApiKeyRecord> find_api_key(const std::string& prefix) = 0;
  virtual Result<ApiKeyRecord> get_api_key(const std::string& user_id, const std::string& id) = 0;
  virtual Result<std::vector<ApiKeyRecord>> list_api_keys(const std::string& user_id) = 0;
  virtual Status update_api_key(const std::string& user_id, const std::string& id,
                                const ApiKeyUpdate& u) = 0;

  // ---- credentials (schema v6) ----
  // "conflict" when the owner already has a credential with that name (case-insensitive).
  virtual Result<CredentialRecord> create_credential(const CredentialRecord& c) = 0;
  // not_found when it does not exist or belongs to another owner.
  virtual Result<CredentialRecord> get_credential(const std::string& owner_id, const std::string& id) = 0;
  // The owner's credentials ordered by name (then id); type "" = every type.
  virtual Result<std::vector<CredentialRecord>> list_credentials(const std::string& owner_id,
                                                                 const std::string& type) = 0;
  // not_found / conflict (name taken).
  virtual Result<CredentialRecord> update_credential(const std::string& owner_id, const std::string& id,
                                                     const CredentialUpdate& u) = 0;
  virtual Status delete_credential(const std::string& owner_id, const std::string& id) = 0;
  // Key rotation: up to `limit` credentials (any owner) with key_version < below_version, ordered
  // by id, id > after_id.
  virtual Result<std::vector<CredentialRecord>> list_credentials_to_rekey(int64_t below_version,
                                                                          const std::string& after_id,
                                                                          int64_t limit) = 0;
  // Replaces the sealed secrets only if updated_at_ms still equals expected_updated_at_ms (nobody
  // edited the credential since it was read); "conflict" otherwise (nothing changed).
  virtual Status rekey_credential(const std::string& id, int64_t expected_updated_at_ms,
                                  const Json& secrets, int64_t key_version, int64_t updated_at_ms) = 0;
  // Highest and lowest key_version over all credentials ({0, 0} when there are none).
  virtual Result<std::pair<int64_t, int64_t>> credential_key_version_range() = 0;

  // ---- vault key checks (schema v6) ----
  // Inserts the check of a version; "conflict" when that version already has one.
  virtual Status put_vault_key_check(const VaultKeyCheck& k) = 0;
  virtual Result<std::vector<VaultKeyCheck>> vault_key_checks() = 0;

  // ---- audit trail (schema v6) ----
  // Appends entries in order, chaining each to the previous one, in one transaction. Returns them
  // with seq, prev_hash and hash filled in.
  virtual Result<std::vector<AuditRecord>> append_audit(const std::vector<AuditRecord>& entries) = 0;
  virtual Result<std::vector<AuditRecord>> list_audit(const AuditFilter& f) = 0;

  // ---- custom nodes (schema v7) ----
  // Stores the next version of (owner, name): version = the highest + 1 (1 for a new name),
  // allocated atomically (concurrent creates get distinct versions). new_name: the name must not
  // exist yet ("conflict" otherwise); !new_name: it must ("not_found" otherwise). id, version and
  // the times are the store's (created_at_ms carries over from the previous version).
  virtual Result<CustomNodeRecord> create_custom_node(const CustomNodeRecord& n, bool new_name) = 0;
  // version 0 = the latest. not_found for another owner's or an unknown name/version.
  virtual Result<CustomNodeRecord> get_custom_node(const std::string& owner_id, const std::string& name,
                                                   int64_t version) = 0;
  // The latest version of each of the owner's custom nodes, ordered by name, without `source`.
  virtual Result<std::vector<CustomNodeRecord>> list_custom_nodes(const std::string& owner_id) = 0;
  // Every version of one custom node, ascending, without `source` and `declaration`; not_found
  // when the owner has no such name.
  virtual Result<std::vector<CustomNodeRecord>> list_custom_node_versions(const std::string& owner_id,
                                                                          const std::string& name) = 0;
  // Deletes every version of the name; not_found when the owner has none.
  virtual Status delete_custom_node(const std::string& owner_id, const std::string& name) = 0;

  // ---- human requests (schema v8) ----
  // not_found when unknown. Visibility is the caller's business (the service checks owner and
  // assignees).
  virtual Result<HumanRequestRecord> get_human_request(const std::string& id) = 0;
  virtual Result<std::vector<HumanRequestRecord>> list_human_requests(const HumanRequestFilter& f) = 0;
  // One transaction: "conflict" unless the request is open with version == expected_version
  // (nothing changed then; the caller re-reads: a status other than open means it was answered,
  // expired or cancelled meanwhile; the error's details are {"status","version"}). Otherwise
  // stores votes (null = keep), version + 1; when final also status "answered", response,
  // answered_by, answered_at_ms = now, writes {"answer": response} into the park of the
  // request's node run (only while that park's "request_id" is this request: a run that moved on
  // is left alone), and if the execution is parked sets its wake_at_ms = now (claimable at
  // once). now = r.now_ms, or the store's clock when 0. Returns the updated record.
  virtual Result<HumanRequestRecord> respond_human_request(const HumanResponse& r) = 0;
  // Timeout: open -> "expired" (answered_at_ms = now, version + 1). Returns the record as it is
  // after the call: a request that was already answered/expired/cancelled is returned unchanged
  // (not an error), so the caller resumes with whatever won.
  virtual Result<HumanRequestRecord> expire_human_request(const std::string& id, int64_t now_ms) = 0;

  // ---- schedules (schema v8) ----
  // id "" = generate; version 1; created_at_ms 0 = now, updated_at_ms 0 = created_at_ms;
  // last_run_at_ms / last_execution_id start empty. "conflict" for a taken id,
  // "invalid_argument" without workflow_id or cron or with an unknown missed_policy.
  virtual Result<ScheduleRecord> create_schedule(const ScheduleRecord& s) = 0;
  // not_found for another owner's or an unknown schedule.
  virtual Result<ScheduleRecord> get_schedule(const std::string& owner_id, const std::string& id) = 0;
  // The owner's schedules ordered by id; workflow_id "" = all.
  virtual Result<std::vector<ScheduleRecord>> list_schedules(const std::string& owner_id,
                                                             const std::string& workflow_id) = 0;
  // Replaces the editable fields (name, cron, timezone, enabled, missed_policy, input,
  // next_run_at_ms, updated_at_ms) if version == s.version ("conflict" otherwise); version + 1.
  // Scoped by s.owner_id ("not_found" for another owner's). updated_at_ms 0 = now.
  virtual Result<ScheduleRecord> update_schedule(const ScheduleRecord& s) = 0;
  virtual Status delete_schedule(const std::string& owner_id, const std::string& id) = 0;
  // Enabled schedules with 0 < next_run_at_ms <= now_ms, any owner, oldest first.
  virtual Result<std::vector<ScheduleRecord>> due_schedules(int64_t now_ms, int64_t limit) = 0;
  // See ScheduleFire. "conflict" when another firing (or an edit) got there first.
  virtual Result<ScheduleRecord> fire_schedule(const ScheduleFire& f) = 0;

  // ---- metrics ----
  // Number of executions per status name ("queued", "running", ...), over all owners.
  virtual Result<std::map<std::string, int64_t>> count_executions_by_status() = 0;

  // Plugin states (registry::PluginStateStore) are inherited.
};

// Opens the store for a URL ("sqlite:var/weft.db", "sqlite:///abs/path.db", "sqlite::memory:",
// "postgresql://user@host:port/db") through the storage backend plugin that serves its scheme.
Result<std::shared_ptr<Store>> open_store(const registry::Registry& registry, const std::string& url,
                                          const Json& options = Json::object());

}  // namespace weft::store
