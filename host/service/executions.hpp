// Execution service: starting executions with the PRODUCT.md §4 strategy (quick workflows run
// synchronously in the caller's thread, everything else is queued), reading them back, and
// controlling them (cancel, pause, resume). Knows nothing about HTTP; scoped by owner: another
// owner's execution is "not_found".
//
// Thread-safety: all methods may be called concurrently. start() blocks for synchronous runs:
// call it off any event-loop thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/app/host.hpp"
#include "host/store/store.hpp"

namespace weft::service {

struct StartRequest {
  std::string owner;
  std::string workflow_id;
  int64_t version = 0;          // 0 = latest
  Json input;                   // null = the trigger's defaults
  std::string mode = "auto";    // auto (quick → sync, else async) | sync | async
  std::string idempotency_key;  // "" = none
  // The workflow version when the caller already read it (webhooks): saves a store read.
  std::optional<store::WorkflowRecord> prefetched;
  // false: a finished synchronous run is answered from its result (id, status, output, error are
  // exact; timestamps approximate, last_event_seq not updated) without reading it back.
  bool full_record = true;
};

// A created execution, before it runs (see ExecutionService::prepare).
struct Prepared {
  store::ExecutionRecord execution;   // as created: leased by this process when sync, else queued
  bool sync = false;
  bool existed = false;
  bool full_record = true;
};

struct StartResult {
  store::ExecutionRecord execution;   // state after the call (final when ran synchronously)
  bool ran_sync = false;
  bool existed = false;               // idempotency key matched an earlier execution
};

class ExecutionService {
 public:
  explicit ExecutionService(app::Host& host);

  // Errors: not_found (workflow), compile_failed (details: the diagnostics), invalid_argument.
  Result<StartResult> start(const StartRequest& r);
  // start() in two steps, so a caller can answer while a synchronous run is still going (its
  // wait budget is over): prepare() compiles and creates the execution (quick), run() runs a sync
  // execution to its end or first park on the calling thread, or wakes the workers for an async
  // one.
  Result<Prepared> prepare(const StartRequest& r);
  Result<StartResult> run(const Prepared& p);
  Result<store::ExecutionRecord> get(const std::string& owner, const std::string& id);
  Result<std::vector<store::ExecutionRecord>> list(const store::ExecutionFilter& f);
  Result<std::vector<store::NodeLogRecord>> logs(const std::string& owner, const std::string& id);
  Result<std::vector<store::NodeRunRecord>> node_runs(const std::string& owner, const std::string& id);
  Result<std::vector<store::EventRecord>> events(const std::string& owner, const std::string& id,
                                                 int64_t after_seq, int64_t limit);
  // Control. "invalid_state" when the execution already finished.
  Result<store::ExecutionRecord> cancel(const std::string& owner, const std::string& id);
  Result<store::ExecutionRecord> pause(const std::string& owner, const std::string& id);
  Result<store::ExecutionRecord> resume(const std::string& owner, const std::string& id);

 private:
  // The owner's execution, or "invalid_state" when it already finished.
  Result<store::ExecutionRecord> unfinished(const std::string& owner, const std::string& id);
  app::Host& host_;
};

// The JSON views the API returns.
// summary: without input and output (lists: a page of large payloads must stay small).
Json execution_json(const store::ExecutionRecord& e, bool with_definition = false, bool summary = false);
Json node_log_json(const store::NodeLogRecord& l);
Json event_json(const store::EventRecord& e);

}  // namespace weft::service
