// The executor: runs one execution of a compiled Plan durably.
//
// One ExecutionRun per execution attempt, driven by one thread (the caller of run()); node
// attempts run inline when they are the only ready node, and on the bounded ThreadPool when
// several branches are ready. All bookkeeping happens on the driving thread, so the run's state
// needs no locks. After every node attempt the run commits (store::Commit) the attempt's result,
// log record, events and the execution's new state in one transaction fenced by the lease, and
// only then schedules dependent nodes. docs/ARCHITECTURE.md "Execution semantics" is the spec.
//
// Human in the loop (PRODUCT.md §5, docs/workflow-format.md "Human in the loop"): a park with
// {"request": ...} becomes a store::HumanRequestRecord in the same commit (the id goes into the
// park as "request_id"); the node resumes with the answer the store wrote into its park, or, when
// its timer is due, after expire_human_request decided whether an answer or the timeout won. A
// node failing with on_error "ask" parks with an error_recovery request whose answer the executor
// applies itself (retry / skip / stop). A failed execution's finish commit spawns its error
// workflow (ExecutorOptions::error_workflow).
//
// Native node code is trusted (PRODUCT.md §6): node timeouts and cancellation reach it through
// is_cancelled()/deadline_ms(); a native node that ignores them keeps its thread until it
// returns, and its late result is discarded as a timeout.
#pragma once

#include <atomic>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "host/compiler/plan.hpp"
#include "host/core/json.hpp"
#include "host/core/redact.hpp"
#include "host/executor/event_bus.hpp"
#include "host/executor/thread_pool.hpp"
#include "host/store/store.hpp"

namespace weft::executor {

// What a node attempt asks the host for beyond the core services: credentials (the vault) and
// outbound HTTP (the guarded client). Implemented by host/service (CredentialRuntime); absent =
// both answer WEFT_ERR_UNSUPPORTED. Called on node threads, concurrently.
struct NodeServiceContext {
  const store::ExecutionRecord* execution = nullptr;  // owner, workflow and execution ids
  const compiler::PlanNode* node = nullptr;           // node id, type, credential references
  // The run's redactor: every secret handed out (or applied to a request) is registered here so
  // that it is masked in everything the run stores or streams.
  Redactor* redactor = nullptr;
  std::function<bool()> cancelled;                    // true once the attempt should stop
  int64_t deadline_monotonic_ms = 0;                  // 0 = none
};

class NodeServices {
 public:
  virtual ~NodeServices() = default;
  // weft_host_api.credential_get: `ref` is a name under the node's data.credentials or a credential
  // id the node's configuration references. Writes the decrypted credential JSON
  // {"type", "name", "fields": {...}} (secrets included) or an error JSON.
  virtual weft_status credential_get(const NodeServiceContext& ctx, std::string_view ref, std::string& out_json,
                                     std::string& out_error) = 0;
  // weft_host_api.http_request (host/net/outbound.hpp JSON, plus "credential": "<ref>").
  virtual weft_status http_request(const NodeServiceContext& ctx, std::string_view request_json,
                                   std::string& out_json, std::string& out_error) = 0;
  // weft_host_api.sandbox_run (ABI 1.1): user code in the sandbox; its own host calls come back
  // through credential_get/http_request with the same context. Default: no sandbox.
  virtual weft_status sandbox_run(const NodeServiceContext& ctx, std::string_view request_json,
                                  std::string& out_json, std::string& out_error) {
    out_error = R"({"code":"sandbox_unavailable","message":"this host has no sandbox for user code"})";
    return WEFT_ERR_UNSUPPORTED;
  }
};

struct ExecutorOptions {
  int64_t lease_ms = 30000;
  size_t max_logged_bytes = 64 * 1024;  // per input/output in node logs (truncation marker)
  size_t max_log_lines_bytes = 64 * 1024;
  int64_t max_inline_retry_wait_ms = 30000;  // longer retry delays park the execution
  bool persist = true;                   // false: no store writes (benchmarks of the pure engine)
  // Longest wait a node's error may ask for with details.retry_after_ms (e.g. HTTP 429
  // Retry-After) before its next retry.
  int64_t max_retry_after_ms = 3600 * 1000;
  std::shared_ptr<NodeServices> services;  // null = no credentials / outbound HTTP
  // Error workflows (settings.error_workflow, docs/workflow-format.md): when an execution fails,
  // resolves the workflow it names for the failed execution's owner and returns the execution to
  // create (workflow id, its latest version and definition; the executor then sets the id, owner,
  // input, idempotency key "error-workflow:<failed id>" and mode "async" itself, so the callback
  // cannot break the no-loop rule). Error not_found: the workflow does not exist for that owner
  // (deleted, another owner's, unknown) -> no run, event error_workflow_missing. Called on the
  // driving thread of the failing run. Null = error workflows are off (no store to read).
  std::function<Result<store::NewExecution>(const store::ExecutionRecord& failed, const std::string& workflow_id)>
      error_workflow;
};

// The error-workflow part of a failed execution's finish commit: the execution to spawn and the
// event to record on the failed execution ("error_workflow_started" {execution_id, workflow_id}
// or "error_workflow_missing" {workflow_id, error}). Empty (no spawn, no event) when the failed
// execution's definition names no settings.error_workflow, when the failed execution is itself
// an error-workflow run (idempotency key "error-workflow:..." — no loops), or when
// options.error_workflow is unset. `error` is the execution's error, `node` {id, type} where it
// failed (null when unknown); the payload is redacted with `redactor` (and the pattern layer).
struct ErrorWorkflowStart {
  std::optional<store::NewExecution> spawn;
  std::string event;  // "" = nothing to record
  Json event_data;
};
ErrorWorkflowStart plan_error_workflow(const ExecutorOptions& options, const store::ExecutionRecord& failed,
                                       const Json& error, const Json& node, const Redactor& redactor);
// The idempotency-key prefix of error-workflow runs.
inline constexpr std::string_view kErrorWorkflowKeyPrefix = "error-workflow:";

enum class RunOutcome {
  Succeeded,
  Failed,
  Cancelled,
  Parked,     // waiting for a timer or a human; lease released
  Paused,     // paused by request; lease released
  LeaseLost,  // another worker owns the execution now: stopped without writing
  StoreError, // the store failed: the lease will expire and another attempt resumes the run
};
const char* to_string(RunOutcome o);

struct RunResult {
  RunOutcome outcome = RunOutcome::Failed;
  Json output;      // final output (Succeeded)
  Json error;       // {code,message,details}
  int64_t wake_at_ms = 0;  // Parked: when a timer is due (0 = only an answer resumes it)
  std::string spawned_execution_id;  // Failed: the error-workflow execution created with it
};

// Control flags for a running execution, shared with whoever may cancel/pause it.
struct RunControl {
  std::atomic<bool> cancel{false};
  std::atomic<bool> pause{false};
  std::atomic<bool> lease_lost{false};
};

class Executor {
 public:
  // store may be null only when options.persist is false.
  Executor(std::shared_ptr<store::Store> store, std::shared_ptr<ThreadPool> pool,
           std::shared_ptr<EventBus> bus, ExecutorOptions options = {});

  // Runs (or resumes) `exec`, which the caller has claimed (exec.lease is the caller's lease).
  // Rebuilds state from committed node runs first. Blocks until the execution finishes, parks,
  // pauses, or the lease is lost.
  RunResult run(const store::ExecutionRecord& exec, const compiler::PlanPtr& plan,
                std::shared_ptr<RunControl> control = nullptr);

  // Running executions in this process, for in-process cancel/pause (REST, CLI Ctrl-C).
  std::shared_ptr<RunControl> control_of(const std::string& execution_id);

  const ExecutorOptions& options() const { return options_; }
  // Installs the node services (credentials, outbound HTTP). Call before any run starts.
  void set_services(std::shared_ptr<NodeServices> services) { options_.services = std::move(services); }
  const std::shared_ptr<store::Store>& store() const { return store_; }
  const std::shared_ptr<EventBus>& bus() const { return bus_; }

 private:
  friend class ExecutionRun;
  std::shared_ptr<store::Store> store_;
  std::shared_ptr<ThreadPool> pool_;
  std::shared_ptr<EventBus> bus_;
  ExecutorOptions options_;
  std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<RunControl>> running_;
};

}  // namespace weft::executor
