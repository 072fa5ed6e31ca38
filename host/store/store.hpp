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
};

struct ExecutionFilter {
  std::string owner_id;                 // required scope ("" = local owner)
  std::string workflow_id;              // optional
  std::optional<ExecStatus> status;     // optional
  int64_t limit = 50;
  std::string before_id;                // pagination cursor: executions created before this one
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

  // Plugin states (registry::PluginStateStore) are inherited.
};

// Opens the store for a URL ("sqlite:var/weft.db", "sqlite:///abs/path.db", "sqlite::memory:",
// "postgresql://user@host:port/db") through the storage backend plugin that serves its scheme.
Result<std::shared_ptr<Store>> open_store(const registry::Registry& registry, const std::string& url,
                                          const Json& options = Json::object());

}  // namespace weft::store
