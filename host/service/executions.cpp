#include "host/service/executions.hpp"

#include "host/core/call.hpp"
#include "host/core/ids.hpp"

namespace weft::service {

ExecutionService::ExecutionService(app::Host& host) : host_(host) {}

Result<StartResult> ExecutionService::start(const StartRequest& r) {
  auto p = prepare(r);
  if (!p.ok()) return p.error();
  return run(*p);
}

Result<Prepared> ExecutionService::prepare(const StartRequest& r) {
  if (r.mode != "auto" && r.mode != "sync" && r.mode != "async")
    return Error("invalid_argument", "mode must be auto, sync or async, not '" + r.mode + "'");
  if (r.idempotency_key.size() > 200) return Error("invalid_argument", "the idempotency key is longer than 200 characters");
  Result<store::WorkflowRecord> wf = Error("not_found", "");
  if (r.prefetched && r.prefetched->id == r.workflow_id && r.prefetched->owner_id == r.owner &&
      (r.version == 0 || r.version == r.prefetched->version)) {
    wf = *r.prefetched;  // versions are immutable: the caller's copy is as good as a read
  } else {
    wf = host_.store()->get_workflow(r.owner, r.workflow_id, r.version);
  }
  if (!wf.ok()) return wf.error();

  // Compile (cached per workflow version) before anything is queued: a broken workflow is a 400
  // now, not a failed execution later.
  store::ExecutionRecord probe;
  probe.workflow_id = wf->id;
  probe.workflow_version = wf->version;
  probe.owner_id = r.owner;
  probe.definition = wf->definition;
  auto plan = host_.plan_for(probe);
  if (!plan.ok()) return plan.error();

  const bool sync = r.mode == "sync" || (r.mode == "auto" && (*plan)->quick);
  store::NewExecution ne;
  ne.workflow_id = wf->id;
  ne.workflow_version = wf->version;
  ne.owner_id = r.owner;
  ne.definition = wf->definition;
  ne.input = r.input;
  // Keys are scoped to the workflow: the same key sent to another workflow is another request,
  // never an answer with someone else's output.
  if (!r.idempotency_key.empty()) ne.idempotency_key = wf->id + ":" + r.idempotency_key;
  ne.mode = sync ? "sync" : "async";
  const int64_t timeout_s = wf->definition["settings"]["timeout_seconds"].as_int(300);
  if (timeout_s > 0) ne.deadline_at_ms = wall_ms() + timeout_s * 1000;
  if (sync) {
    ne.claim_owner = host_.workers().worker_id();
    ne.lease_ms = host_.config().lease_ms;
  }
  Prepared out;
  auto created = host_.store()->create_execution(ne, &out.existed);
  if (!created.ok()) return created.error();
  out.execution = std::move(*created);
  out.sync = sync && !out.existed;
  out.full_record = r.full_record;
  return out;
}

Result<StartResult> ExecutionService::run(const Prepared& p) {
  StartResult out;
  out.existed = p.existed;
  if (p.existed) {
    out.execution = p.execution;
    return out;
  }
  if (!p.sync) {
    host_.workers().wake();
    out.execution = p.execution;
    return out;
  }
  out.ran_sync = true;
  const executor::RunResult rr = host_.workers().run_claimed(p.execution);
  // A finished run is answered from its result (what was just committed); anything else (parked,
  // paused, lease lost, store trouble) is read back from the store.
  if (!p.full_record && (rr.outcome == executor::RunOutcome::Succeeded || rr.outcome == executor::RunOutcome::Failed ||
                         rr.outcome == executor::RunOutcome::Cancelled)) {
    out.execution = p.execution;
    out.execution.status = rr.outcome == executor::RunOutcome::Succeeded ? store::ExecStatus::Succeeded
                           : rr.outcome == executor::RunOutcome::Failed  ? store::ExecStatus::Failed
                                                                         : store::ExecStatus::Cancelled;
    out.execution.output = rr.outcome == executor::RunOutcome::Succeeded ? rr.output : Json();
    out.execution.error = rr.error;
    out.execution.lease = {};
    out.execution.finished_at_ms = wall_ms();
    out.execution.updated_at_ms = out.execution.finished_at_ms;
    return out;
  }
  auto after = host_.store()->get_execution(p.execution.id);
  if (!after.ok()) return after.error();
  out.execution = std::move(*after);
  return out;
}

Result<store::ExecutionRecord> ExecutionService::get(const std::string& owner, const std::string& id) {
  auto e = host_.store()->get_execution(id);
  if (!e.ok()) return e.error();
  if (e->owner_id != owner) return Error("not_found", "execution '" + id + "' not found");
  return e;
}

Result<std::vector<store::ExecutionRecord>> ExecutionService::list(const store::ExecutionFilter& f) {
  return host_.store()->list_executions(f);
}

Result<std::vector<store::NodeLogRecord>> ExecutionService::logs(const std::string& owner, const std::string& id) {
  auto e = get(owner, id);
  if (!e.ok()) return e.error();
  return host_.store()->node_logs(id);
}

Result<std::vector<store::NodeRunRecord>> ExecutionService::node_runs(const std::string& owner,
                                                                      const std::string& id) {
  auto e = get(owner, id);
  if (!e.ok()) return e.error();
  return host_.store()->node_runs(id);
}

Result<std::vector<store::EventRecord>> ExecutionService::events(const std::string& owner, const std::string& id,
                                                                 int64_t after_seq, int64_t limit) {
  auto e = get(owner, id);
  if (!e.ok()) return e.error();
  return host_.store()->events(id, after_seq, limit);
}

Result<store::ExecutionRecord> ExecutionService::unfinished(const std::string& owner, const std::string& id) {
  auto e = get(owner, id);
  if (!e.ok()) return e.error();
  if (store::is_final(e->status))
    return Error("invalid_state", "execution '" + id + "' already finished (" + store::to_string(e->status) + ")");
  return e;
}

Result<store::ExecutionRecord> ExecutionService::cancel(const std::string& owner, const std::string& id) {
  if (auto e = unfinished(owner, id); !e.ok()) return e.error();
  if (Status st = host_.store()->request_cancel(id); !st.ok()) return st.error();
  if (auto c = host_.executor().control_of(id)) c->cancel = true;
  host_.workers().wake();
  return host_.store()->get_execution(id);
}

Result<store::ExecutionRecord> ExecutionService::pause(const std::string& owner, const std::string& id) {
  if (auto e = unfinished(owner, id); !e.ok()) return e.error();
  if (Status st = host_.store()->set_paused(id, true); !st.ok()) return st.error();
  if (auto c = host_.executor().control_of(id)) c->pause = true;
  return host_.store()->get_execution(id);
}

Result<store::ExecutionRecord> ExecutionService::resume(const std::string& owner, const std::string& id) {
  if (auto e = unfinished(owner, id); !e.ok()) return e.error();
  if (Status st = host_.store()->set_paused(id, false); !st.ok()) return st.error();
  host_.workers().wake();
  return host_.store()->get_execution(id);
}

Json execution_json(const store::ExecutionRecord& e, bool with_definition, bool summary) {
  Json j = Json::object();
  j.set("id", e.id);
  j.set("workflow_id", e.workflow_id);
  j.set("workflow_version", e.workflow_version);
  j.set("status", store::to_string(e.status));
  j.set("mode", e.mode);
  if (!summary) {
    j.set("input", e.input);
    if (e.status == store::ExecStatus::Succeeded) j.set("output", e.output);
  }
  if (!e.error.is_null()) j.set("error", e.error);
  j.set("created_at", e.created_at_ms);
  j.set("started_at", e.started_at_ms);
  j.set("finished_at", e.finished_at_ms);
  j.set("updated_at", e.updated_at_ms);
  if (e.wake_at_ms) j.set("wake_at", e.wake_at_ms);
  j.set("pause_requested", e.pause_requested);
  j.set("cancel_requested", e.cancel_requested);
  j.set("last_event_seq", e.last_event_seq);
  if (!e.idempotency_key.empty()) j.set("idempotency_key", e.idempotency_key);
  if (with_definition) j.set("definition", e.definition);
  return j;
}

Json node_log_json(const store::NodeLogRecord& l) {
  Json j = Json::object();
  j.set("node_id", l.node_id);
  j.set("node_key", l.node_key);
  j.set("attempt", l.attempt);
  j.set("status", l.status);
  j.set("started_at", l.started_at_ms);
  j.set("finished_at", l.finished_at_ms);
  j.set("duration_us", l.duration_us);
  j.set("input", l.input);
  j.set("output", l.output);
  if (!l.error.is_null()) j.set("error", l.error);
  j.set("lines", l.lines);
  return j;
}

Json event_json(const store::EventRecord& e) {
  Json j = Json::object();
  j.set("seq", e.seq);
  j.set("type", e.type);
  j.set("ts", e.ts_ms);
  j.set("data", e.data);
  return j;
}

}  // namespace weft::service
