#include "host/executor/executor.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <forward_list>
#include <map>
#include <optional>
#include <thread>
#include <unordered_set>

#include "host/core/call.hpp"
#include "host/core/ids.hpp"

namespace weft::executor {

using compiler::OnError;
using compiler::Plan;
using compiler::PlanEdge;
using compiler::PlanNode;
using store::ExecStatus;

const char* to_string(RunOutcome o) {
  switch (o) {
    case RunOutcome::Succeeded: return "succeeded";
    case RunOutcome::Failed: return "failed";
    case RunOutcome::Cancelled: return "cancelled";
    case RunOutcome::Parked: return "parked";
    case RunOutcome::Paused: return "paused";
    case RunOutcome::LeaseLost: return "lease_lost";
    case RunOutcome::StoreError: return "store_error";
  }
  return "unknown";
}

ErrorWorkflowStart plan_error_workflow(const ExecutorOptions& options, const store::ExecutionRecord& failed,
                                       const Json& error, const Json& node, const Redactor& redactor) {
  ErrorWorkflowStart out;
  const Json& target = failed.definition["settings"]["error_workflow"];
  if (!target.is_string() || target.as_string().empty() || !options.error_workflow) return out;
  // An error workflow that fails does not start another one (nor itself again): no loops.
  if (failed.idempotency_key.rfind(kErrorWorkflowKeyPrefix, 0) == 0) return out;
  const std::string& workflow_id = target.as_string();
  auto built = options.error_workflow(failed, workflow_id);
  if (!built.ok()) {
    Json why = Json::object();
    why.set("code", built.error().code);
    why.set("message", built.error().message);
    Json d = Json::object();
    d.set("workflow_id", workflow_id);
    d.set("error", std::move(why));
    out.event = "error_workflow_missing";
    out.event_data = std::move(d);
    return out;
  }
  // What the error workflow learns about the failure. Never the trigger input: it may hold
  // anything, secrets included.
  Json err = Json::object();
  err.set("code", error["code"]);
  err.set("message", error["message"]);
  if (error.contains("details")) err.set("details", error["details"]);
  Json payload = Json::object();
  payload.set("execution_id", failed.id);
  payload.set("workflow_id", failed.workflow_id);
  payload.set("workflow_name", failed.definition["name"].is_string() ? failed.definition["name"].as_string()
                                                                      : failed.workflow_id);
  payload.set("workflow_version", failed.workflow_version);
  payload.set("failed_at_ms", wall_ms());
  payload.set("error", std::move(err));
  if (node.is_object()) payload.set("node", node);
  redactor.redact_json(payload);
  store::NewExecution ne = std::move(*built);
  ne.id = new_id();
  ne.owner_id = failed.owner_id;
  ne.input = std::move(payload);
  ne.idempotency_key = std::string(kErrorWorkflowKeyPrefix) + failed.id;
  ne.mode = "async";
  ne.claim_owner.clear();
  Json d = Json::object();
  d.set("execution_id", ne.id);
  d.set("workflow_id", ne.workflow_id);
  out.event = "error_workflow_started";
  out.event_data = std::move(d);
  out.spawn = std::move(ne);
  return out;
}

namespace {

Json make_error(std::string code, std::string message, Json details = Json()) {
  Json e = Json::object();
  e.set("code", std::move(code));
  e.set("message", std::move(message));
  if (!details.is_null()) e.set("details", std::move(details));
  return e;
}

// Caps a value for logs/events: values whose JSON is larger than `max` become an explicit
// truncation marker with a preview. Costs O(max), whatever the value's size.
// The preview is redacted before it is cut (the caller redacts the whole batch later, but a
// secret cut in half by the preview would no longer match exactly).
Json cap_value(const Json& v, size_t max, const Redactor* redactor = nullptr) {
  std::string text;
  if (v.dump_to(text, max)) return v;
  if (redactor) text = redactor->redact(text);
  Json m = Json::object();
  m.set("$truncated", true);
  m.set("limit_bytes", static_cast<int64_t>(max));
  size_t cut = std::min<size_t>(1024, text.size());
  // Do not cut a UTF-8 sequence in half.
  while (cut > 0 && cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  m.set("preview", text.substr(0, cut));
  return m;
}

enum class ActState { Pending, Running, Succeeded, Failed, Skipped, Parked, Looping };

const char* run_status(ActState s) {
  switch (s) {
    case ActState::Pending: return "pending";
    case ActState::Running: return "running";
    case ActState::Succeeded: return "succeeded";
    case ActState::Failed: return "failed";
    case ActState::Skipped: return "skipped";
    case ActState::Parked: return "parked";
    case ActState::Looping: return "looping";
  }
  return "pending";
}

std::optional<ActState> act_state_from(const std::string& s) {
  if (s == "succeeded") return ActState::Succeeded;
  if (s == "failed") return ActState::Failed;
  if (s == "skipped") return ActState::Skipped;
  if (s == "parked") return ActState::Parked;
  if (s == "looping") return ActState::Looping;
  if (s == "running" || s == "pending") return ActState::Pending;
  return std::nullopt;
}

// One node in one scope.
struct Activation {
  size_t node = 0;
  std::string scope;
  std::string key;
  ActState state = ActState::Pending;
  Json outputs;  // {"handle": value}
  Json error;
  Json park;
  int64_t attempt = 0;  // last attempt started (0 = never)
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
  Json view;            // cached {"output", "outputs"} for expressions
  std::vector<Json> items;  // loop node: the items being iterated
  Json resume;          // payload for the next attempt after a park
  std::string consume_request;  // the answered human request the next attempt consumes
};

// The host side of weft_call for one node attempt.
class NodeCall final : public weft_call {
 public:
  NodeCall(std::shared_ptr<RunControl> control, std::atomic<bool>* stop_flag, int64_t deadline,
           std::string idem, size_t max_lines)
      : control_(std::move(control)),
        stop_flag_(stop_flag),
        deadline_(deadline),
        idem_(std::move(idem)),
        max_lines_(max_lines) {}

  void log(int32_t level, std::string_view message) override {
    static const char* names[] = {"debug", "info", "warn", "error"};
    std::lock_guard<std::mutex> lock(mu_);
    if (lines_.size() >= max_lines_) {
      truncated_ = true;
      return;
    }
    lines_ += (level >= 0 && level <= 3) ? names[level] : "log";
    lines_ += ": ";
    // Redact before cutting: a secret cut in half at the cap would escape exact matching later.
    const std::string redacted = redactor_ ? redactor_->redact(message) : std::string(message);
    lines_.append(std::string_view(redacted).substr(0, max_lines_ - std::min(max_lines_, lines_.size())));
    lines_ += '\n';
  }
  weft_status emit_event(std::string_view type, std::string_view data_json) override {
    auto parsed = Json::parse(data_json);
    if (!parsed.ok()) return WEFT_ERR_INVALID_INPUT;
    std::lock_guard<std::mutex> lock(mu_);
    if (events_.size() >= 1000) return WEFT_ERR_DENIED;
    events_.emplace_back(std::string(type.substr(0, 64)), std::move(*parsed));
    return WEFT_OK;
  }
  bool is_cancelled() override {
    if (control_ && (control_->cancel.load() || control_->lease_lost.load())) return true;
    if (stop_flag_ && stop_flag_->load()) return true;
    return deadline_ > 0 && monotonic_ms() >= deadline_;
  }
  int64_t deadline_monotonic_ms() override { return deadline_; }
  const std::string& idempotency_key() override { return idem_; }
  weft_status credential_get(std::string_view ref, std::string& out_json, std::string& out_error) override {
    if (!services_) return weft_call::credential_get(ref, out_json, out_error);
    return services_->credential_get(service_context(), ref, out_json, out_error);
  }
  weft_status http_request(std::string_view request_json, std::string& out_json, std::string& out_error) override {
    if (!services_) return weft_call::http_request(request_json, out_json, out_error);
    return services_->http_request(service_context(), request_json, out_json, out_error);
  }
  weft_status sandbox_run(std::string_view request_json, std::string& out_json, std::string& out_error) override {
    if (!services_) return weft_call::sandbox_run(request_json, out_json, out_error);
    return services_->sandbox_run(service_context(), request_json, out_json, out_error);
  }
  // Credentials and outbound HTTP for this attempt (both optional).
  void attach_services(NodeServices* services, const store::ExecutionRecord* exec, const PlanNode* node,
                       Redactor* redactor) {
    services_ = services;
    exec_ = exec;
    node_ = node;
    redactor_ = redactor;
  }

  std::string take_lines() {
    std::lock_guard<std::mutex> lock(mu_);
    if (truncated_) lines_ += "[log truncated]\n";
    return std::move(lines_);
  }
  std::vector<std::pair<std::string, Json>> take_events() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(events_);
  }

 private:
  std::shared_ptr<RunControl> control_;
  std::atomic<bool>* stop_flag_;
  int64_t deadline_;
  std::string idem_;
  size_t max_lines_;
  std::mutex mu_;
  std::string lines_;
  bool truncated_ = false;
  std::vector<std::pair<std::string, Json>> events_;
  NodeServices* services_ = nullptr;
  const store::ExecutionRecord* exec_ = nullptr;
  const PlanNode* node_ = nullptr;
  Redactor* redactor_ = nullptr;

  NodeServiceContext service_context() {
    NodeServiceContext c;
    c.execution = exec_;
    c.node = node_;
    c.redactor = redactor_;
    c.cancelled = [this] { return is_cancelled(); };
    c.deadline_monotonic_ms = deadline_;
    return c;
  }
};

// What a node attempt needs, prepared on the driving thread.
struct Prepared {
  std::string key;
  size_t node = 0;
  std::string scope;
  int64_t attempt = 1;
  Json params;
  Json input;
  Json resume;
  std::string context_text;
  int64_t deadline_mono = 0;
  bool loop_start = false;
  // An answered human request this attempt consumes (Commit::consumed_requests of its outcome).
  std::string consume_request;
  // Set instead of running the node: the human's decision on an on_error "ask" recovery
  // ("skip" | "stop"), applied by the driving thread.
  std::string ask_action;
};

// What came back from it.
struct Attempt {
  weft_status status = WEFT_ERR_INTERNAL;
  std::string output, error, park;
  std::string lines;
  std::vector<std::pair<std::string, Json>> events;
  int64_t started_ms = 0, finished_ms = 0, duration_us = 0;
  bool late = false;  // returned after its deadline
};

Attempt invoke(const PlanNode& node, const Prepared& p, NodeCall& call) {
  Attempt a;
  std::string params_text = p.params.dump();
  std::string input_text = p.input.dump();
  std::string resume_text = p.resume.is_null() ? std::string() : p.resume.dump();
  StringSink out, err, park;
  weft_node_request req{};
  req.struct_size = sizeof(req);
  req.call = &call;
  req.node_id = to_weft_str(node.id);
  req.params_json = to_weft_str(params_text);
  req.input_json = to_weft_str(input_text);
  req.resume_json = to_weft_str(resume_text);
  req.attempt = static_cast<uint32_t>(p.attempt);
  req.context_json = to_weft_str(p.context_text);
  weft_node_result res{sizeof(weft_node_result), &out.sink, &err.sink, &park.sink};
  a.started_ms = wall_ms();
  auto t0 = std::chrono::steady_clock::now();
  a.status = node.type->execute(node.type->type_state, &req, &res);
  auto t1 = std::chrono::steady_clock::now();
  a.finished_ms = wall_ms();
  a.duration_us = std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count();
  a.late = p.deadline_mono > 0 && monotonic_ms() >= p.deadline_mono;
  a.output = std::move(out.data);
  a.error = std::move(err.data);
  a.park = std::move(park.data);
  a.lines = call.take_lines();
  a.events = call.take_events();
  return a;
}

bool retryable(weft_status s) { return s == WEFT_ERR_FAILED || s == WEFT_ERR_TIMEOUT; }

const char* status_code(weft_status s) {
  switch (s) {
    case WEFT_ERR_INVALID_INPUT: return "invalid_input";
    case WEFT_ERR_FAILED: return "node_failed";
    case WEFT_ERR_TIMEOUT: return "node_timeout";
    case WEFT_ERR_CANCELLED: return "cancelled";
    case WEFT_ERR_UNSUPPORTED: return "unsupported";
    case WEFT_ERR_NOT_FOUND: return "not_found";
    case WEFT_ERR_INTERNAL: return "plugin_internal_error";
    case WEFT_ERR_VERSION: return "abi_version";
    case WEFT_ERR_DENIED: return "denied";
    default: return "node_failed";
  }
}

}  // namespace

// ------------------------------------------------------------------------------------------------
class ExecutionRun {
 public:
  ExecutionRun(Executor& ex, const store::ExecutionRecord& rec, compiler::PlanPtr plan,
               std::shared_ptr<RunControl> control)
      : ex_(ex), rec_(rec), plan_(std::move(plan)), p_(*plan_), control_(std::move(control)) {
    lease_ = rec_.lease;
    next_seq_ = rec_.last_event_seq + 1;
    depth_.assign(p_.nodes.size(), 0);
    loop_index_of_node_.assign(p_.nodes.size(), -1);
    for (size_t l = 0; l < p_.loops.size(); ++l) loop_index_of_node_[p_.loops[l].loop_node] = l;
    for (size_t n = 0; n < p_.nodes.size(); ++n) {
      int64_t l = p_.nodes[n].loop;
      size_t d = 0;
      while (l >= 0) {
        ++d;
        l = p_.loops[l].parent;
      }
      depth_[n] = d;
    }
    topo_pos_.assign(p_.nodes.size(), 0);
    for (size_t i = 0; i < p_.topo_order.size(); ++i) topo_pos_[p_.topo_order[i]] = i;
    Json ctx = Json::object();
    ctx.set("execution_id", rec_.id);
    ctx.set("workflow_id", rec_.workflow_id);
    ctx.set("workflow_version", rec_.workflow_version);
    execution_view_ = ctx;
    context_prefix_ = ctx.dump();
    context_prefix_.pop_back();  // drop the closing brace: per-node fields follow
  }

  RunResult run();

 private:
  // ---- scopes ----
  static std::string key_of(const std::string& id, const std::string& scope) {
    return scope.empty() ? id : id + "@" + scope;
  }
  std::string key(size_t node, const std::string& scope) const { return key_of(p_.nodes[node].id, scope); }
  static std::string prefix(const std::string& scope, size_t depth) {
    if (depth == 0) return {};
    size_t pos = 0;
    for (size_t i = 0; i < depth; ++i) {
      pos = scope.find('/', pos);
      if (pos == std::string::npos) return scope;
      if (i + 1 < depth) ++pos;
    }
    return scope.substr(0, pos);
  }
  // Iteration index of the segment at position `depth` (1-based) of a scope.
  static int64_t iteration_at(const std::string& scope, size_t depth) {
    std::string pre = prefix(scope, depth);
    size_t hash = pre.rfind('#');
    if (hash == std::string::npos) return -1;
    return std::strtoll(pre.c_str() + hash + 1, nullptr, 10);
  }
  std::string child_scope(const std::string& scope, size_t loop_node, int64_t i) const {
    std::string seg = p_.nodes[loop_node].id + "#" + std::to_string(i);
    return scope.empty() ? seg : scope + "/" + seg;
  }
  Activation* find(size_t node, const std::string& scope) {
    auto it = acts_.find(key(node, scope));
    return it == acts_.end() ? nullptr : &it->second;
  }
  Activation& get(size_t node, const std::string& scope) {
    std::string k = key(node, scope);
    auto it = acts_.find(k);
    if (it != acts_.end()) return it->second;
    Activation a;
    a.node = node;
    a.scope = scope;
    a.key = k;
    return acts_.emplace(k, std::move(a)).first->second;
  }
  static bool finished(ActState s) {
    return s == ActState::Succeeded || s == ActState::Failed || s == ActState::Skipped;
  }

  // ---- graph state ----
  enum class EdgeState { Unresolved, Dead, Live };
  EdgeState edge_state(const PlanEdge& e, const std::string& target_scope, Json* value);
  void try_ready(size_t node, const std::string& scope);
  void propagate(size_t node, const std::string& scope);
  std::optional<std::string> forward_scope(size_t target, const std::string& from_scope);
  void skip(size_t node, const std::string& scope);
  void start_loop(Activation& act, std::vector<Json> items);
  void start_iteration(size_t loop_node, const std::string& scope, int64_t i);
  bool iteration_complete(size_t loop_node, const std::string& iter_scope);
  void check_iteration(size_t loop_node, const std::string& scope);
  void rescan(const std::string& scope, int64_t loop);
  void resume_loop(Activation& act);

  // ---- attempts ----
  void launch_ready();
  Prepared prepare(Activation& act);
  void on_attempt(Prepared p, Attempt a);
  void on_node_failure(Activation& act, const Prepared& p, const Attempt& a, Json err, weft_status st);
  // The failure is final: record it and apply `on_error` (stop / continue / route).
  void settle_failure(Activation& act, const Prepared& p, Json err, OnError on_error, int64_t finished_ms);

  // ---- human in the loop ----
  // Validates park["request"], generates the request id, records it in park["request_id"] and
  // adds the human request to the step's commit. Returns "" or why the request is invalid.
  std::string open_request(const Activation& act, Json& park);
  // Queues a parked activation to resume with a human's answer (event human_answered).
  void resume_with_answer(Activation& a, const Json& answer, const std::string& answered_by);
  // on_error "ask": parks the failed node with an error_recovery request.
  void ask_for_recovery(Activation& act, const Prepared& p, const Json& err);
  // Applies the human's "skip" / "stop" to a node parked by ask_for_recovery.
  void resolve_recovery(Activation& act, const Prepared& p);
  Json node_view(Activation& act);
  Json main_input(const Json& input) const;

  // ---- durability ----
  void add_event(std::string type, Json data);
  void add_run(const Activation& act);
  bool flush();
  Json final_output();
  RunResult finish(RunOutcome outcome, Json output, Json error, int64_t wake_at = 0);

  Executor& ex_;
  store::ExecutionRecord rec_;
  compiler::PlanPtr plan_;
  const Plan& p_;
  std::shared_ptr<RunControl> control_;
  store::Lease lease_;
  int64_t next_seq_ = 1;
  std::vector<size_t> depth_;
  std::vector<int64_t> loop_index_of_node_;
  std::vector<size_t> topo_pos_;
  Json execution_view_;
  std::string context_prefix_;

  std::unordered_map<std::string, Activation> acts_;
  std::map<std::string, int64_t> active_iteration_;  // loop activation key -> current iteration
  std::deque<std::string> ready_;                    // activation keys ready to launch
  std::unordered_set<std::string> queued_;
  std::multimap<int64_t, std::string> timers_;       // monotonic due -> activation key (retries)
  size_t running_ = 0;
  std::atomic<bool> stop_flag_{false};  // tells running attempts to stop (failure/cancel)
  Json failing_;                        // set once the execution must fail
  int64_t failing_node_ = -1;           // the node whose failure failed it (-1 = none / unknown)
  int64_t failures_ = 0;
  int64_t wf_deadline_mono_ = 0;

  store::Commit batch_;
  std::vector<store::EventRecord> published_;
  // Secrets handed to this run's nodes; everything the run stores or streams passes through it
  // (plus the pattern layer) in flush().
  Redactor redactor_;
  void redact_batch();

  // Completions from pool threads.
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::deque<std::pair<Prepared, Attempt>> done_;
  // Attempts finished on the driving thread (inline runs, expression errors).
  std::deque<std::pair<Prepared, Attempt>> completions_inline_;
  bool abort_ = false;
  Error store_error_;
};

ExecutionRun::EdgeState ExecutionRun::edge_state(const PlanEdge& e, const std::string& target_scope,
                                                 Json* value) {
  size_t src = e.source;
  std::string src_scope = prefix(target_scope, depth_[src]);
  Activation* a = find(src, src_scope);
  if (!a) return EdgeState::Unresolved;
  const PlanNode& sn = p_.nodes[src];
  if (sn.is_loop && e.source_handle == "item") {
    if (a->state == ActState::Skipped) return EdgeState::Dead;
    if (a->state != ActState::Looping) return EdgeState::Unresolved;
    int64_t i = iteration_at(target_scope, depth_[src] + 1);
    if (i < 0 || static_cast<size_t>(i) >= a->items.size()) return EdgeState::Dead;
    if (value) *value = a->items[i];
    return EdgeState::Live;
  }
  switch (a->state) {
    case ActState::Skipped: return EdgeState::Dead;
    case ActState::Succeeded:
    case ActState::Failed: {
      const Json* v = a->outputs.find(e.source_handle);
      if (!v) return EdgeState::Dead;
      if (value) *value = *v;
      return EdgeState::Live;
    }
    default: return EdgeState::Unresolved;
  }
}

void ExecutionRun::try_ready(size_t node, const std::string& scope) {
  Activation* existing = find(node, scope);
  if (existing && existing->state != ActState::Pending) return;
  std::string k = key(node, scope);
  if (queued_.count(k)) return;
  const PlanNode& n = p_.nodes[node];
  bool any_forward = false, unresolved = false, live = false;
  for (size_t ei : n.in_edges) {
    const PlanEdge& e = p_.edges[ei];
    if (e.back_edge) continue;
    any_forward = true;
    switch (edge_state(e, scope, nullptr)) {
      case EdgeState::Unresolved: unresolved = true; break;
      case EdgeState::Live: live = true; break;
      case EdgeState::Dead: break;
    }
  }
  if (!any_forward) {
    // Entry points run once at top level; anything else without inputs never runs.
    if (n.is_trigger && scope.empty()) live = true;
    else {
      skip(node, scope);
      return;
    }
  }
  if (n.fire_on_first) {
    if (!live && unresolved) return;
  } else if (unresolved) {
    return;
  }
  if (!live) {
    skip(node, scope);
    return;
  }
  get(node, scope);  // make sure it exists (Pending)
  queued_.insert(k);
  ready_.push_back(k);
}

std::optional<std::string> ExecutionRun::forward_scope(size_t target, const std::string& from_scope) {
  size_t from_depth = 0;
  if (!from_scope.empty()) from_depth = std::count(from_scope.begin(), from_scope.end(), '/') + 1;
  size_t td = depth_[target];
  if (td <= from_depth) return prefix(from_scope, td);
  // Descend through the active iterations of the loops enclosing the target.
  std::vector<size_t> chain;  // loop nodes from outermost to innermost
  for (int64_t l = p_.nodes[target].loop; l >= 0; l = p_.loops[l].parent) chain.push_back(p_.loops[l].loop_node);
  std::reverse(chain.begin(), chain.end());
  std::string scope = from_scope;
  for (size_t d = from_depth; d < td; ++d) {
    size_t loop_node = chain[d];
    auto it = active_iteration_.find(key(loop_node, scope));
    if (it == active_iteration_.end()) return std::nullopt;  // loop not started: it will rescan
    scope = child_scope(scope, loop_node, it->second);
  }
  return scope;
}

void ExecutionRun::propagate(size_t node, const std::string& scope) {
  const PlanNode& n = p_.nodes[node];
  for (size_t ei : n.out_edges) {
    const PlanEdge& e = p_.edges[ei];
    if (e.back_edge) continue;  // handled by iteration completion
    if (n.is_loop && e.source_handle == "item") continue;  // iterations start their bodies
    auto ts = forward_scope(e.target, scope);
    if (ts) try_ready(e.target, *ts);
  }
  // Anything inside a loop body finishing may complete the iteration.
  if (n.loop >= 0) {
    size_t loop_node = p_.loops[n.loop].loop_node;
    check_iteration(loop_node, prefix(scope, depth_[loop_node]));
  }
}

void ExecutionRun::skip(size_t node, const std::string& scope) {
  Activation& act = get(node, scope);
  if (act.state != ActState::Pending) return;
  act.state = ActState::Skipped;
  act.finished_at_ms = wall_ms();
  add_run(act);
  Json d = Json::object();
  d.set("node_id", p_.nodes[node].id);
  d.set("scope", scope);
  add_event("node_skipped", std::move(d));
  propagate(node, scope);
}

void ExecutionRun::start_loop(Activation& act, std::vector<Json> items) {
  act.state = ActState::Looping;
  act.items = std::move(items);
  Json out = Json::object();
  out.set("items", Json::array(act.items));
  act.outputs = out;
  add_run(act);
  if (act.items.empty()) {
    check_iteration(act.node, act.scope);
    return;
  }
  start_iteration(act.node, act.scope, 0);
}

void ExecutionRun::start_iteration(size_t loop_node, const std::string& scope, int64_t i) {
  active_iteration_[key(loop_node, scope)] = i;
  std::string is = child_scope(scope, loop_node, i);
  int64_t l = loop_index_of_node_[loop_node];
  for (size_t n : p_.topo_order)
    if (p_.nodes[n].loop == l) try_ready(n, is);
  check_iteration(loop_node, scope);
}

bool ExecutionRun::iteration_complete(size_t loop_node, const std::string& iter_scope) {
  int64_t l = loop_index_of_node_[loop_node];
  for (size_t n : p_.loops[l].body) {
    if (p_.nodes[n].loop != l) continue;
    Activation* a = find(n, iter_scope);
    if (!a || !finished(a->state)) return false;
  }
  return true;
}

// Called whenever something in the current iteration of `loop_node` (in `scope`) settles.
void ExecutionRun::check_iteration(size_t loop_node, const std::string& scope) {
  Activation* act = find(loop_node, scope);
  if (!act || act->state != ActState::Looping) return;
  int64_t l = loop_index_of_node_[loop_node];
  std::string k = act->key;
  for (;;) {
    int64_t i = 0;
    auto it = active_iteration_.find(k);
    if (it != active_iteration_.end()) i = it->second;
    if (static_cast<size_t>(i) < act->items.size()) {
      if (!iteration_complete(loop_node, child_scope(scope, loop_node, i))) return;
      if (failing_.is_object()) return;  // do not start new iterations of a failing run
      if (static_cast<size_t>(i + 1) < act->items.size()) {
        start_iteration(loop_node, scope, i + 1);
        return;  // start_iteration re-checks (covers bodies that finish synchronously)
      }
    }
    // All iterations done: collect what arrived on the back handle, iteration by iteration.
    Json results = Json::array();
    for (size_t j = 0; j < act->items.size(); ++j) {
      std::string is = child_scope(scope, loop_node, static_cast<int64_t>(j));
      for (size_t ei : p_.loops[l].back_edges) {
        Json v;
        if (edge_state(p_.edges[ei], is, &v) == EdgeState::Live) results.push_back(std::move(v));
      }
    }
    active_iteration_.erase(k);
    act->state = ActState::Succeeded;
    act->finished_at_ms = wall_ms();
    Json outs = Json::object();
    outs.set("done", results);
    act->outputs = outs;
    act->view = Json();
    add_run(*act);
    Json d = Json::object();
    d.set("node_id", p_.nodes[loop_node].id);
    d.set("scope", scope);
    d.set("iterations", static_cast<int64_t>(act->items.size()));
    d.set("handles", Json::array({"done"}));
    add_event("node_complete", std::move(d));
    propagate(loop_node, scope);
    return;
  }
}

void ExecutionRun::rescan(const std::string& scope, int64_t loop) {
  for (size_t n : p_.topo_order) {
    if (p_.nodes[n].loop != loop) continue;
    Activation* a = find(n, scope);
    if (!a || a->state == ActState::Pending) {
      try_ready(n, scope);
    } else if (a->state == ActState::Looping) {
      resume_loop(*a);
    } else if (a->state == ActState::Parked) {
      // Due timers and answered requests resume now; others keep the execution parked.
      int64_t wake = a->park["wake_at_ms"].as_int(0);
      if (const Json* answer = a->park.find("answer")) {
        resume_with_answer(*a, *answer, (*answer)["by"].as_string());
        continue;
      }
      if (wake <= 0 || wake > wall_ms()) continue;
      if (a->park["retry"].as_bool()) {
        // A long retry delay is over: a new attempt, not a resumption of the failed one.
        a->resume = Json();
        a->park = Json();
      } else {
        const std::string& request_id = a->park["request_id"].as_string();
        if (!request_id.empty() && ex_.options_.persist) {
          // The timer of a question. An answer may have been stored since the node runs were
          // read: closing the request decides which one won (exactly one does).
          auto closed = ex_.store_->expire_human_request(request_id, wall_ms());
          if (!closed.ok()) {
            store_error_ = closed.error();
            abort_ = true;
            return;
          }
          if (closed->status == "answered") {
            resume_with_answer(*a, closed->response, closed->answered_by);
            continue;
          }
        }
        Json r = Json::object();
        r.set("reason", "timer");
        a->resume = r;
      }
      a->state = ActState::Pending;
      queued_.insert(a->key);
      ready_.push_back(a->key);
    }
  }
}

void ExecutionRun::resume_with_answer(Activation& a, const Json& answer, const std::string& answered_by) {
  const std::string& request_id = a.park["request_id"].as_string();
  const std::string& kind = a.park["request"]["kind"].as_string();
  Json r = Json::object();
  r.set("reason", "answer");
  r.set("answer", answer);
  a.resume = r;
  a.consume_request = request_id;
  a.state = ActState::Pending;
  queued_.insert(a.key);
  ready_.push_back(a.key);
  // Who answered and what was decided; never the answer's text (a clarification or a comment
  // may hold anything).
  Json d = Json::object();
  d.set("node_id", p_.nodes[a.node].id);
  d.set("scope", a.scope);
  d.set("request_id", request_id);
  d.set("kind", kind);
  d.set("answered_by", answered_by);
  if (kind == "approval" && answer["decision"].is_string()) d.set("decision", answer["decision"]);
  if (kind == "error_recovery" && answer["action"].is_string()) d.set("action", answer["action"]);
  add_event("human_answered", std::move(d));
}

void ExecutionRun::resume_loop(Activation& act) {
  size_t i = 0;
  while (i < act.items.size() && iteration_complete(act.node, child_scope(act.scope, act.node, i))) ++i;
  if (i >= act.items.size()) {
    if (!act.items.empty()) active_iteration_[act.key] = static_cast<int64_t>(act.items.size()) - 1;
    check_iteration(act.node, act.scope);
    return;
  }
  active_iteration_[act.key] = static_cast<int64_t>(i);
  rescan(child_scope(act.scope, act.node, i), loop_index_of_node_[act.node]);
  check_iteration(act.node, act.scope);
}

Json ExecutionRun::node_view(Activation& act) {
  if (!act.view.is_null()) return act.view;
  Json v = Json::object();
  Json outs = act.outputs.is_object() ? act.outputs : Json::object();
  const Json* main = outs.find("main");
  if (main) v.set("output", *main);
  else if (outs.size() > 0) v.set("output", outs.as_object().front().second);
  else v.set("output", Json());
  v.set("outputs", outs);
  if (!act.error.is_null()) v.set("error", act.error);
  act.view = v;
  return v;
}

Json ExecutionRun::main_input(const Json& input) const {
  if (const Json* m = input.find("main")) return *m;
  if (input.size() > 0) return input.as_object().front().second;
  return Json();
}

Prepared ExecutionRun::prepare(Activation& act) {
  const PlanNode& n = p_.nodes[act.node];
  Prepared p;
  p.key = act.key;
  p.node = act.node;
  p.scope = act.scope;
  p.attempt = act.attempt;
  p.resume = act.resume;
  // Inputs.
  Json input = Json::object();
  if (n.is_trigger && act.scope.empty()) {
    input.set("main", rec_.input);
  }
  for (size_t ei : n.in_edges) {
    const PlanEdge& e = p_.edges[ei];
    if (e.back_edge) continue;
    Json v;
    if (edge_state(e, act.scope, &v) != EdgeState::Live) continue;
    bool multi = std::find(n.multi_inputs.begin(), n.multi_inputs.end(), e.target_handle) != n.multi_inputs.end();
    if (multi) {
      Json entry = Json::object();
      entry.set("from", p_.nodes[e.source].id);
      entry.set("data", std::move(v));
      Json arr = input[e.target_handle];
      arr.push_back(std::move(entry));
      input.set(e.target_handle, std::move(arr));
    } else {
      input.set(e.target_handle, std::move(v));
    }
  }
  p.input = input;
  return p;
}

void ExecutionRun::add_event(std::string type, Json data) {
  if (!ex_.options_.persist && !ex_.bus_) {
    ++next_seq_;  // nobody keeps or watches events: only count them
    return;
  }
  store::EventRecord e;
  e.execution_id = rec_.id;
  e.seq = next_seq_++;
  e.type = std::move(type);
  e.data = std::move(data);
  e.ts_ms = wall_ms();
  batch_.events.push_back(std::move(e));
}

void ExecutionRun::add_run(const Activation& act) {
  store::NodeRunRecord r;
  r.execution_id = rec_.id;
  r.node_key = act.key;
  r.node_id = p_.nodes[act.node].id;
  r.scope = act.scope;
  r.status = act.state == ActState::Pending ? "running" : run_status(act.state);
  r.attempt = act.attempt;
  r.output = act.outputs;
  r.error = act.error;
  r.park = act.park;
  r.started_at_ms = act.started_at_ms;
  r.finished_at_ms = act.finished_at_ms;
  // Later entries for the same key replace earlier ones within one commit.
  for (auto& existing : batch_.runs) {
    if (existing.node_key == r.node_key) {
      existing = std::move(r);
      return;
    }
  }
  batch_.runs.push_back(std::move(r));
}

// Nothing leaves a run unredacted: node runs (what resumes read back), logs, events (stored and
// streamed) and the execution's output and error. In-memory values keep the real data, so the
// nodes of this process see what their upstream produced; a run resumed elsewhere reads the
// redacted form (docs/ARCHITECTURE.md "Secrets").
void ExecutionRun::redact_batch() {
  for (auto& r : batch_.runs) {
    redactor_.redact_json(r.output);
    redactor_.redact_json(r.error);
    redactor_.redact_json(r.park);
  }
  for (auto& l : batch_.logs) {
    redactor_.redact_json(l.input);
    redactor_.redact_json(l.output);
    redactor_.redact_json(l.error);
    if (!l.lines.empty()) redactor_.redact_in_place(l.lines);
  }
  for (auto& e : batch_.events) redactor_.redact_json(e.data);
  for (auto& h : batch_.requests) redactor_.redact_json(h.request);
  if (batch_.spawn) redactor_.redact_json(batch_.spawn->input);
  if (batch_.execution) {
    if (batch_.execution->output) redactor_.redact_json(*batch_.execution->output);
    if (batch_.execution->error) redactor_.redact_json(*batch_.execution->error);
  }
}

bool ExecutionRun::flush() {
  if (batch_.runs.empty() && batch_.logs.empty() && batch_.events.empty() && !batch_.execution) return true;
  redact_batch();
  batch_.execution_id = rec_.id;
  batch_.lease = lease_;
  if (!ex_.options_.persist) batch_.logs.clear();
  if (ex_.options_.persist) {
    Status st;
    for (int tries = 0; tries < 4; ++tries) {
      st = ex_.store_->commit(batch_);
      if (st.ok() || st.error().code == "lease_lost" || st.error().code == "conflict") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50 << (2 * tries)));
    }
    if (!st.ok()) {
      if (st.error().code == "lease_lost") control_->lease_lost = true;
      store_error_ = st.error();
      batch_ = store::Commit{};
      return false;
    }
  }
  if (ex_.bus_)
    for (const auto& e : batch_.events) ex_.bus_->publish(e);
  batch_ = store::Commit{};
  return true;
}

void ExecutionRun::launch_ready() {
  std::vector<Prepared> launch;
  while (!ready_.empty()) {
    std::string k = ready_.front();
    ready_.pop_front();
    queued_.erase(k);
    auto it = acts_.find(k);
    if (it == acts_.end()) continue;
    Activation& act = it->second;
    if (act.state != ActState::Pending) continue;
    const PlanNode& n = p_.nodes[act.node];
    std::string consume = std::move(act.consume_request);
    act.consume_request.clear();
    if (act.park["on_error_ask"].as_bool() && !act.resume.is_null()) {
      // The human's decision on a failed node (on_error "ask"): "retry" runs a new attempt;
      // "skip" and "stop" are applied without calling the node. A request that closed without
      // an answer (cancelled) stops.
      std::string action = act.resume["reason"].as_string() == "answer"
                               ? act.resume["answer"]["action"].as_string()
                               : std::string("stop");
      if (action == "retry") {
        act.resume = Json();
      } else {
        Prepared p;
        p.key = act.key;
        p.node = act.node;
        p.scope = act.scope;
        p.attempt = act.attempt;
        p.consume_request = std::move(consume);
        p.ask_action = action == "skip" ? "skip" : "stop";
        act.state = ActState::Running;
        act.resume = Json();
        Attempt none;
        none.started_ms = none.finished_ms = wall_ms();
        completions_inline_.emplace_back(std::move(p), std::move(none));
        continue;
      }
    }
    act.state = ActState::Running;
    // Resuming a parked node continues the same attempt (its park stays recorded until the
    // attempt's outcome, so a crash in between resumes it again); everything else is a new
    // attempt.
    if (act.resume.is_null() || act.attempt == 0) {
      act.attempt += 1;
      act.park = Json();
    }
    if (act.started_at_ms == 0) act.started_at_ms = wall_ms();
    Prepared p = prepare(act);
    p.loop_start = n.is_loop;
    p.consume_request = std::move(consume);
    // Render parameters with the expression language.
    expr::EvalContext ctx;
    ctx.input = &rec_.input;
    Json main = main_input(p.input);
    ctx.json = &main;
    ctx.vars = &p_.variables;
    ctx.execution = &execution_view_;
    // $item/$index: the innermost enclosing loop's current item.
    Json item;
    if (n.loop >= 0) {
      size_t ln = p_.loops[n.loop].loop_node;
      Activation* la = find(ln, prefix(act.scope, depth_[ln]));
      int64_t i = iteration_at(act.scope, depth_[ln] + 1);
      if (la && i >= 0 && static_cast<size_t>(i) < la->items.size()) {
        item = la->items[i];
        ctx.item = &item;
        ctx.index = i;
      }
    }
    // What $node lookups need, behind one pointer so the std::function stores it inline.
    struct Lookup {
      ExecutionRun* run;
      const std::string* scope;
      std::forward_list<Json> keep;  // node views referenced while rendering (stable, no upfront allocation)
    } lookup{this, &act.scope, {}};
    ctx.node = [l = &lookup](std::string_view id) -> const Json* {
      const Plan& plan = l->run->p_;
      int64_t idx = plan.index_of(id);
      if (idx < 0) return nullptr;
      Activation* a = l->run->find(static_cast<size_t>(idx), prefix(*l->scope, l->run->depth_[idx]));
      if (!a || (a->state != ActState::Succeeded && a->state != ActState::Failed)) return nullptr;
      l->keep.push_front(l->run->node_view(*a));
      return &l->keep.front();
    };
    auto rendered = n.params.render(ctx);
    // {"execution_id","workflow_id","workflow_version","scope","node_key"}: the fixed part is
    // serialized once per run.
    p.context_text.reserve(context_prefix_.size() + act.key.size() + act.scope.size() + 32);
    p.context_text = context_prefix_;
    p.context_text += ",\"scope\":";
    Json(act.scope).dump_to(p.context_text);
    p.context_text += ",\"node_key\":";
    Json(act.key).dump_to(p.context_text);
    p.context_text += '}';
    int64_t now = monotonic_ms();
    p.deadline_mono = now + n.settings.timeout_ms;
    if (wf_deadline_mono_ > 0) p.deadline_mono = std::min(p.deadline_mono, wf_deadline_mono_);
    add_run(act);
    Json d = Json::object();
    d.set("node_id", n.id);
    d.set("scope", act.scope);
    d.set("type", n.type_name);
    d.set("attempt", act.attempt);
    if (!act.resume.is_null()) d.set("resume", act.resume["reason"]);
    add_event("node_start", std::move(d));
    act.resume = Json();
    if (!rendered.ok()) {
      // Expression errors are configuration errors: never retried.
      Attempt a;
      a.status = WEFT_ERR_INVALID_INPUT;
      a.started_ms = a.finished_ms = wall_ms();
      Json err = make_error("expression_error", "node " + n.id + ": " + rendered.error().message);
      a.error = err.dump();
      p.params = n.raw_params;
      completions_inline_.emplace_back(std::move(p), std::move(a));
      continue;
    }
    p.params = std::move(*rendered);
    launch.push_back(std::move(p));
  }
  if (launch.empty() && completions_inline_.empty()) return;
  // Commit node_start events (and everything settled before) before any node runs.
  if (!flush()) {
    abort_ = true;
    return;
  }
  if (launch.size() == 1 && running_ == 0) {
    // The only thing to do: run it on this thread (no hand-off cost for chains).
    Prepared p = std::move(launch.front());
    const PlanNode& n = p_.nodes[p.node];
    NodeCall call(control_, &stop_flag_, p.deadline_mono, rec_.id + ":" + p.key + ":" + std::to_string(p.attempt),
                  ex_.options_.max_log_lines_bytes);
    call.attach_services(ex_.options_.services.get(), &rec_, &n, &redactor_);
    Attempt a = invoke(n, p, call);
    completions_inline_.emplace_back(std::move(p), std::move(a));
    return;
  }
  for (auto& pr : launch) {
    ++running_;
    auto shared = std::make_shared<Prepared>(std::move(pr));
    ex_.pool_->submit([this, shared] {
      const PlanNode& n = p_.nodes[shared->node];
      NodeCall call(control_, &stop_flag_, shared->deadline_mono,
                    rec_.id + ":" + shared->key + ":" + std::to_string(shared->attempt),
                    ex_.options_.max_log_lines_bytes);
      call.attach_services(ex_.options_.services.get(), &rec_, &n, &redactor_);
      Attempt a = invoke(n, *shared, call);
      {
        std::lock_guard<std::mutex> lock(done_mu_);
        done_.emplace_back(std::move(*shared), std::move(a));
      }
      done_cv_.notify_one();
    });
  }
}

void ExecutionRun::on_attempt(Prepared p, Attempt a) {
  auto it = acts_.find(p.key);
  if (it == acts_.end()) return;
  Activation& act = it->second;
  const PlanNode& n = p_.nodes[p.node];
  if (!p.consume_request.empty()) batch_.consumed_requests.push_back(p.consume_request);
  if (!p.ask_action.empty()) {
    resolve_recovery(act, p);
    return;
  }
  act.park = Json();  // whatever this attempt resumed from is settled by its outcome
  // A node cut short by the workflow deadline fails the run as a workflow timeout.
  if (wf_deadline_mono_ > 0 && monotonic_ms() >= wf_deadline_mono_ && !failing_.is_object()) {
    failing_ = make_error("workflow_timeout", "the workflow did not finish within its timeout of " +
                                                  std::to_string(p_.timeout_ms / 1000) + " s");
    stop_flag_ = true;
  }
  if (a.late && a.status != WEFT_PARK) {
    a.status = WEFT_ERR_TIMEOUT;
    a.error = make_error("node_timeout", "node " + n.id + " did not finish within its timeout of " +
                                             std::to_string(n.settings.timeout_ms) + " ms")
                  .dump();
  }
  // The attempt's log record (PRODUCT.md §4 "Logs").
  store::NodeLogRecord log;
  // Logs and events only matter when someone keeps or watches them.
  const bool keep = ex_.options_.persist || ex_.bus_;
  if (keep) {
    log.execution_id = rec_.id;
    log.node_key = p.key;
    log.node_id = n.id;
    log.attempt = p.attempt;
    log.started_at_ms = a.started_ms;
    log.finished_at_ms = a.finished_ms;
    log.duration_us = a.duration_us;
    Json in = Json::object();
    in.set("params", p.params);
    in.set("input", p.input);
    if (!p.resume.is_null()) in.set("resume", p.resume);
    log.input = cap_value(in, ex_.options_.max_logged_bytes, &redactor_);
  }
  log.lines = std::move(a.lines);
  for (auto& [type, data] : a.events) {
    Json d = Json::object();
    d.set("node_id", n.id);
    d.set("scope", p.scope);
    d.set("type", type);
    d.set("data", cap_value(data, ex_.options_.max_logged_bytes, &redactor_));
    add_event("node_event", std::move(d));
  }

  Json out;
  if (a.status == WEFT_OK) {
    if (a.output.empty()) {
      out = Json::object();
      out.set("main", Json());
    } else {
      auto parsed = Json::parse(a.output);
      if (!parsed.ok() || !parsed->is_object()) {
        a.status = WEFT_ERR_INTERNAL;
        a.error = make_error("invalid_node_output",
                             "node " + n.id + " (" + n.type_name + ") returned output that is not a JSON object" +
                                 (parsed.ok() ? std::string() : ": " + parsed.error().message))
                      .dump();
      } else {
        out = std::move(*parsed);
      }
    }
  }
  if (a.status == WEFT_OK && p.loop_start) {
    const Json& items = out["items"];
    if (!items.is_array()) {
      a.status = WEFT_ERR_INTERNAL;
      a.error = make_error("invalid_node_output", "loop node " + n.id + " did not return {\"items\": [...]}").dump();
    }
  }

  if (a.status == WEFT_OK) {
    log.status = "succeeded";
    if (keep) log.output = cap_value(out, ex_.options_.max_logged_bytes, &redactor_);
    batch_.logs.push_back(std::move(log));
    if (p.loop_start) {
      Json d = Json::object();
      d.set("node_id", n.id);
      d.set("scope", p.scope);
      d.set("items", static_cast<int64_t>(out["items"].size()));
      add_event("loop_started", std::move(d));
      start_loop(act, out["items"].as_array());
      return;
    }
    act.state = ActState::Succeeded;
    act.outputs = out;
    act.error = Json();
    act.view = Json();
    act.finished_at_ms = a.finished_ms;
    add_run(act);
    Json d = Json::object();
    d.set("node_id", n.id);
    d.set("scope", p.scope);
    d.set("attempt", p.attempt);
    d.set("duration_ms", static_cast<double>(a.duration_us) / 1000.0);
    Json handles = Json::array();
    for (const auto& m : out.as_object()) handles.push_back(m.first);
    d.set("handles", std::move(handles));
    if (keep) d.set("output", cap_value(out, 8 * 1024, &redactor_));
    add_event("node_complete", std::move(d));
    propagate(p.node, p.scope);
    return;
  }

  if (a.status == WEFT_PARK) {
    // Only "wake_at_ms" and "request" come from the node; every other member of a park is the
    // executor's (request_id, on_error_ask, retry) or the store's (answer).
    auto parsed = Json::parse(a.park.empty() ? std::string_view("{}") : std::string_view(a.park));
    std::string why;
    Json park = Json::object();
    if (!parsed.ok() || !parsed->is_object()) {
      why = "returned a park that is not a JSON object";
    } else {
      const Json* wake = parsed->find("wake_at_ms");
      const Json* request = parsed->find("request");
      if (wake && wake->is_null()) wake = nullptr;
      if (request && request->is_null()) request = nullptr;
      if (!wake && !request) {
        why = "asked to park without {\"wake_at_ms\"} or {\"request\"}";
      } else if (wake && !wake->is_number()) {
        why = "asked to park with a \"wake_at_ms\" that is not a number";
      } else {
        if (wake) park.set("wake_at_ms", wake->as_int());
        if (request) {
          park.set("request", *request);
          why = open_request(act, park);
        }
      }
    }
    if (!why.empty()) {
      a.status = WEFT_ERR_INTERNAL;
      a.error = make_error("invalid_park", "node " + n.id + " (" + n.type_name + ") " + why).dump();
    } else {
      log.status = "parked";
      log.output = cap_value(park, ex_.options_.max_logged_bytes, &redactor_);
      batch_.logs.push_back(std::move(log));
      act.state = ActState::Parked;
      act.park = park;
      add_run(act);
      Json d = Json::object();
      d.set("node_id", n.id);
      d.set("scope", p.scope);
      if (act.park.contains("request")) {
        d.set("request_id", act.park["request_id"]);
        d.set("kind", act.park["request"]["kind"]);
        d.set("request", act.park["request"]);
        if (act.park.contains("wake_at_ms")) d.set("wake_at_ms", act.park["wake_at_ms"]);
        add_event("waiting_for_human", std::move(d));
      } else {
        d.set("wake_at_ms", act.park["wake_at_ms"]);
        add_event("node_parked", std::move(d));
      }
      return;
    }
  }

  // An error.
  Json err;
  if (!a.error.empty()) {
    auto parsed = Json::parse(a.error);
    if (parsed.ok() && parsed->is_object() && (*parsed)["message"].is_string()) err = std::move(*parsed);
  }
  if (err.is_null()) {
    err = make_error(status_code(a.status), "node " + n.id + " (" + n.type_name + ") failed with status " +
                                                std::to_string(static_cast<int>(a.status)));
  }
  if (!err["code"].is_string()) err.set("code", status_code(a.status));
  log.status = a.status == WEFT_ERR_CANCELLED ? "cancelled" : (a.status == WEFT_ERR_TIMEOUT ? "timeout" : "failed");
  log.error = err;
  batch_.logs.push_back(std::move(log));
  on_node_failure(act, p, a, std::move(err), a.status);
}

void ExecutionRun::on_node_failure(Activation& act, const Prepared& p, const Attempt& a, Json err,
                                   weft_status st) {
  const PlanNode& n = p_.nodes[p.node];
  bool stopping = stop_flag_.load() || control_->cancel.load();
  if (st == WEFT_ERR_CANCELLED && stopping) {
    // The run is being cancelled or failed: the node simply did not finish.
    act.state = ActState::Pending;
    return;
  }
  int64_t max_attempts = 1 + n.settings.retry_count;
  if (retryable(st) && act.attempt < max_attempts && !stopping) {
    double delay = static_cast<double>(n.settings.retry_delay_ms) *
                   std::pow(std::max(1.0, n.settings.retry_backoff), static_cast<double>(act.attempt - 1));
    int64_t delay_ms = static_cast<int64_t>(std::min<double>(delay, static_cast<double>(n.settings.retry_max_delay_ms)));
    // A node may say how long the other side asked it to wait (HTTP 429/503 Retry-After): the
    // retry waits at least that long, within max_retry_after_ms.
    const Json& after = err["details"]["retry_after_ms"];
    if (after.is_number()) {
      int64_t wait = std::clamp<int64_t>(static_cast<int64_t>(after.as_double()), 0, ex_.options_.max_retry_after_ms);
      delay_ms = std::max(delay_ms, wait);
    }
    Json d = Json::object();
    d.set("node_id", n.id);
    d.set("scope", p.scope);
    d.set("attempt", act.attempt);
    d.set("next_attempt", act.attempt + 1);
    d.set("delay_ms", delay_ms);
    d.set("error", err);
    add_event("node_retry", std::move(d));
    act.error = err;
    if (delay_ms <= ex_.options_.max_inline_retry_wait_ms) {
      act.state = ActState::Pending;
      add_run(act);
      timers_.emplace(monotonic_ms() + delay_ms, act.key);
    } else {
      act.state = ActState::Parked;
      Json park = Json::object();
      park.set("wake_at_ms", wall_ms() + delay_ms);
      park.set("retry", true);
      act.park = park;
      add_run(act);
    }
    return;
  }
  if (n.settings.on_error == OnError::Ask && !stopping) {
    ask_for_recovery(act, p, err);
    return;
  }
  // "ask" while the execution is stopping anyway (cancel, another branch failed): nobody is
  // asked; the failure stands as with "stop".
  settle_failure(act, p, std::move(err), n.settings.on_error == OnError::Ask ? OnError::Stop : n.settings.on_error,
                 a.finished_ms);
}

void ExecutionRun::settle_failure(Activation& act, const Prepared& p, Json err, OnError on_error,
                                  int64_t finished_ms) {
  const PlanNode& n = p_.nodes[p.node];
  act.error = err;
  act.state = ActState::Failed;
  act.finished_at_ms = finished_ms ? finished_ms : wall_ms();
  act.view = Json();
  act.park = Json();
  ++failures_;
  Json d = Json::object();
  d.set("node_id", n.id);
  d.set("scope", p.scope);
  d.set("attempt", act.attempt);
  d.set("error", err);
  d.set("on_error", compiler::to_string(on_error));
  add_event("node_error", std::move(d));
  Json outs = Json::object();
  switch (on_error) {
    case OnError::Continue: {
      Json v = Json::object();
      v.set("error", err);
      outs.set("main", std::move(v));
      break;
    }
    case OnError::Route: {
      Json v = Json::object();
      v.set("error", err);
      v.set("input", main_input(p.input));
      outs.set("error", std::move(v));
      break;
    }
    case OnError::Stop:
    case OnError::Ask:  // settled failures of "ask" nodes are stops (see on_node_failure)
      if (!failing_.is_object()) {
        Json details = Json::object();
        details.set("node_id", n.id);
        if (!p.scope.empty()) details.set("scope", p.scope);
        details.set("error", err);
        failing_ = make_error("node_failed", "node " + n.id + " failed: " + err["message"].as_string(), details);
        failing_node_ = static_cast<int64_t>(p.node);
      }
      stop_flag_ = true;
      break;
  }
  act.outputs = outs;
  add_run(act);
  if (p_.max_failures > 0 && failures_ >= p_.max_failures && !failing_.is_object()) {
    failing_ = make_error("too_many_failures", "the execution stopped after " + std::to_string(failures_) +
                                                   " node failures (settings.max_failures)");
    failing_node_ = static_cast<int64_t>(p.node);
    stop_flag_ = true;
  }
  if (!stop_flag_.load()) propagate(p.node, p.scope);
}

// ---- human in the loop ---------------------------------------------------------------------------

std::string ExecutionRun::open_request(const Activation& act, Json& park) {
  static constexpr size_t kMaxRequestBytes = 64 * 1024;
  static constexpr size_t kMaxApprovers = 50;
  static constexpr size_t kMaxApproverLength = 320;
  const Json& request = park["request"];
  if (!request.is_object()) return "asked a human with a \"request\" that is not a JSON object";
  std::string text;
  if (!request.dump_to(text, kMaxRequestBytes))
    return "asked a human with a request larger than " + std::to_string(kMaxRequestBytes / 1024) + " KiB";
  const std::string& kind = request["kind"].as_string();
  if (kind != "approval" && kind != "clarification" && kind != "error_recovery")
    return "asked a human with request.kind " + (request["kind"].is_string() ? "\"" + kind + "\"" : std::string("missing")) +
           "; expected approval, clarification or error_recovery";
  std::vector<std::string> assignees;
  if (const Json* approvers = request.find("approvers"); approvers && !approvers->is_null()) {
    if (!approvers->is_array()) return "asked a human with request.approvers that is not an array";
    if (approvers->size() > kMaxApprovers)
      return "asked a human with " + std::to_string(approvers->size()) + " approvers; at most " +
             std::to_string(kMaxApprovers) + " are allowed";
    for (const auto& v : approvers->as_array()) {
      if (!v.is_string() || v.as_string().empty() || v.as_string().size() > kMaxApproverLength)
        return "asked a human with an approver that is not a user id or email (a non-empty string of at most " +
               std::to_string(kMaxApproverLength) + " bytes)";
      std::string who = v.as_string();
      if (who.find('@') != std::string::npos)
        std::transform(who.begin(), who.end(), who.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (std::find(assignees.begin(), assignees.end(), who) == assignees.end()) assignees.push_back(std::move(who));
    }
  }
  std::string mode = "any";
  if (const Json* m = request.find("mode"); m && !m->is_null()) {
    if (!m->is_string() || (m->as_string() != "any" && m->as_string() != "all"))
      return "asked a human with request.mode that is not \"any\" or \"all\"";
    mode = m->as_string();
  }
  store::HumanRequestRecord h;
  h.id = new_id();
  h.execution_id = rec_.id;
  h.owner_id = rec_.owner_id;
  h.workflow_id = rec_.workflow_id;
  h.node_id = p_.nodes[act.node].id;
  h.node_key = act.key;
  h.kind = kind;
  h.request = request;  // redacted with the rest of the commit (redact_batch)
  h.assignees = std::move(assignees);
  h.mode = std::move(mode);
  h.status = "open";
  h.created_at_ms = wall_ms();
  h.deadline_at_ms = std::max<int64_t>(0, park["wake_at_ms"].as_int(0));
  park.set("request_id", h.id);
  batch_.requests.push_back(std::move(h));
  return {};
}

void ExecutionRun::ask_for_recovery(Activation& act, const Prepared& p, const Json& err) {
  const PlanNode& n = p_.nodes[p.node];
  Json error = Json::object();
  error.set("code", err["code"]);
  error.set("message", err["message"]);
  Json request = Json::object();
  request.set("kind", "error_recovery");
  request.set("node_id", n.id);
  request.set("node_type", n.type_name);
  if (!p.scope.empty()) request.set("scope", p.scope);
  request.set("error", std::move(error));
  request.set("attempt", act.attempt);
  request.set("options", Json::array({"retry", "skip", "stop"}));
  Json park = Json::object();
  park.set("request", std::move(request));
  park.set("on_error_ask", true);
  std::string why = open_request(act, park);
  (void)why;  // built here: always valid
  act.error = err;
  act.state = ActState::Parked;
  act.park = park;
  act.view = Json();
  add_run(act);
  Json d = Json::object();
  d.set("node_id", n.id);
  d.set("scope", p.scope);
  d.set("attempt", act.attempt);
  d.set("error", err);
  d.set("on_error", "ask");
  add_event("node_error", std::move(d));
  Json w = Json::object();
  w.set("node_id", n.id);
  w.set("scope", p.scope);
  w.set("request_id", park["request_id"]);
  w.set("kind", "error_recovery");
  w.set("request", park["request"]);
  add_event("waiting_for_human", std::move(w));
}

void ExecutionRun::resolve_recovery(Activation& act, const Prepared& p) {
  const PlanNode& n = p_.nodes[p.node];
  Json err = act.error.is_object() ? act.error : make_error("node_failed", "node " + n.id + " failed");
  if (p.ask_action != "skip") {
    settle_failure(act, p, std::move(err), OnError::Stop, 0);
    return;
  }
  Json v = Json::object();
  v.set("skipped", true);
  v.set("error", err);
  Json outs = Json::object();
  outs.set("main", std::move(v));
  act.state = ActState::Succeeded;
  act.outputs = outs;
  act.error = Json();
  act.park = Json();
  act.view = Json();
  act.finished_at_ms = wall_ms();
  add_run(act);
  Json d = Json::object();
  d.set("node_id", n.id);
  d.set("scope", p.scope);
  d.set("attempt", act.attempt);
  d.set("handles", Json::array({"main"}));
  d.set("skipped_after_error", true);
  add_event("node_complete", std::move(d));
  propagate(p.node, p.scope);
}

Json ExecutionRun::final_output() {
  if (!p_.output_node.empty()) {
    int64_t idx = p_.index_of(p_.output_node);
    if (idx >= 0) {
      Activation* a = find(static_cast<size_t>(idx), "");
      if (a && (a->state == ActState::Succeeded || a->state == ActState::Failed)) return node_view(*a)["output"];
    }
    return Json();
  }
  // The last sink (no forward out-edges) in topological order that produced something.
  for (auto it = p_.topo_order.rbegin(); it != p_.topo_order.rend(); ++it) {
    const PlanNode& n = p_.nodes[*it];
    if (n.loop >= 0) continue;
    bool sink = true;
    for (size_t ei : n.out_edges)
      if (!p_.edges[ei].back_edge) sink = false;
    if (!sink) continue;
    Activation* a = find(*it, "");
    if (a && (a->state == ActState::Succeeded || a->state == ActState::Failed)) return node_view(*a)["output"];
  }
  return Json();
}

RunResult ExecutionRun::finish(RunOutcome outcome, Json output, Json error, int64_t wake_at) {
  RunResult r;
  r.outcome = outcome;
  r.output = redactor_.redacted(output);  // what a synchronous caller gets: the stored form
  r.error = redactor_.redacted(error);
  r.wake_at_ms = wake_at;
  if (outcome == RunOutcome::LeaseLost || outcome == RunOutcome::StoreError) return r;
  store::ExecutionUpdate u;
  u.release_lease = true;
  int64_t now = wall_ms();
  Json d = Json::object();
  switch (outcome) {
    case RunOutcome::Succeeded:
      u.status = ExecStatus::Succeeded;
      u.output = output;
      u.finished_at_ms = now;
      d.set("status", "succeeded");
      d.set("output", cap_value(output, 64 * 1024));
      break;
    case RunOutcome::Failed: {
      u.status = ExecStatus::Failed;
      u.error = error;
      u.finished_at_ms = now;
      d.set("status", "failed");
      d.set("error", error);
      if (!ex_.options_.persist) break;
      Json where;
      if (failing_node_ >= 0) {
        where = Json::object();
        where.set("id", p_.nodes[failing_node_].id);
        where.set("type", p_.nodes[failing_node_].type_name);
      }
      ErrorWorkflowStart ew = plan_error_workflow(ex_.options_, rec_, error, where, redactor_);
      if (ew.spawn) {
        r.spawned_execution_id = ew.spawn->id;
        batch_.spawn = std::move(ew.spawn);
      }
      if (!ew.event.empty()) add_event(ew.event, std::move(ew.event_data));
      break;
    }
    case RunOutcome::Cancelled:
      u.status = ExecStatus::Cancelled;
      u.error = error;
      u.finished_at_ms = now;
      d.set("status", "cancelled");
      break;
    case RunOutcome::Parked:
      u.status = ExecStatus::Parked;
      u.wake_at_ms = wake_at;
      d.set("wake_at_ms", wake_at);
      break;
    case RunOutcome::Paused:
      u.status = ExecStatus::Paused;
      u.wake_at_ms = 0;
      break;
    default: break;
  }
  if (outcome == RunOutcome::Parked) {
    add_event("execution_parked", std::move(d));
  } else if (outcome == RunOutcome::Paused) {
    add_event("execution_paused", std::move(d));
  } else {
    int64_t started = rec_.started_at_ms ? rec_.started_at_ms : rec_.created_at_ms;
    d.set("duration_ms", now - started);
    add_event("workflow_done", std::move(d));
  }
  batch_.execution = u;
  if (!flush()) {
    r.outcome = control_->lease_lost ? RunOutcome::LeaseLost : RunOutcome::StoreError;
    r.error = make_error(store_error_.code, store_error_.message);
    r.spawned_execution_id.clear();
  }
  return r;
}

RunResult ExecutionRun::run() {
  int64_t now_mono = monotonic_ms();
  wf_deadline_mono_ = p_.timeout_ms > 0 ? now_mono + p_.timeout_ms : 0;
  if (rec_.deadline_at_ms > 0) {
    int64_t left = rec_.deadline_at_ms - wall_ms();
    wf_deadline_mono_ = wf_deadline_mono_ ? std::min(wf_deadline_mono_, now_mono + left) : now_mono + left;
  }
  // Rebuild from what was committed.
  bool resumed = rec_.last_event_seq > 0;
  if (ex_.options_.persist && resumed) {
    auto runs = ex_.store_->node_runs(rec_.id);
    if (!runs.ok()) {
      store_error_ = runs.error();
      return finish(RunOutcome::StoreError, Json(), make_error(runs.error().code, runs.error().message));
    }
    for (const auto& r : *runs) {
      int64_t idx = p_.index_of(r.node_id);
      if (idx < 0) continue;
      auto st = act_state_from(r.status);
      if (!st) continue;
      Activation& a = get(static_cast<size_t>(idx), r.scope);
      // A node that was resumed from a park (timer or answer) and did not finish: resume it
      // again with the same park rather than start it afresh (an approval would ask twice).
      if (*st == ActState::Pending && r.park.is_object() &&
          (r.park.contains("answer") || r.park.contains("request_id") || r.park.contains("wake_at_ms")) &&
          !r.park["retry"].as_bool())
        st = ActState::Parked;
      a.state = *st;
      a.attempt = r.attempt;
      a.outputs = r.output;
      a.error = r.error;
      a.park = r.park;
      a.started_at_ms = r.started_at_ms;
      a.finished_at_ms = r.finished_at_ms;
      if (a.state == ActState::Looping) {
        a.items = r.output["items"].as_array();
      }
    }
  }
  Json d = Json::object();
  d.set("workflow_id", rec_.workflow_id);
  d.set("workflow_version", rec_.workflow_version);
  if (resumed) {
    d.set("previous_status", store::to_string(rec_.status));
    add_event("execution_resumed", std::move(d));
  } else {
    d.set("mode", rec_.mode);
    add_event("execution_started", std::move(d));
    store::ExecutionUpdate u;
    u.started_at_ms = wall_ms();
    u.status = ExecStatus::Running;
    rec_.started_at_ms = *u.started_at_ms;
    batch_.execution = u;
  }
  if (rec_.cancel_requested) control_->cancel = true;
  rescan("", -1);

  bool cancelling = false, pausing = false;
  for (;;) {
    if (control_->lease_lost) return finish(RunOutcome::LeaseLost, Json(), make_error("lease_lost", "another worker owns this execution now"));
    if (abort_) return finish(RunOutcome::StoreError, Json(), make_error(store_error_.code, store_error_.message));
    while (!completions_inline_.empty()) {
      auto c = std::move(completions_inline_.front());
      completions_inline_.pop_front();
      on_attempt(std::move(c.first), std::move(c.second));
    }
    {
      std::deque<std::pair<Prepared, Attempt>> got;
      {
        std::lock_guard<std::mutex> lock(done_mu_);
        got.swap(done_);
      }
      for (auto& c : got) {
        --running_;
        on_attempt(std::move(c.first), std::move(c.second));
      }
    }
    int64_t now = monotonic_ms();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      std::string k = timers_.begin()->second;
      timers_.erase(timers_.begin());
      auto it = acts_.find(k);
      if (it != acts_.end() && it->second.state == ActState::Pending && !queued_.count(k)) {
        queued_.insert(k);
        ready_.push_back(k);
      }
    }
    if (wf_deadline_mono_ > 0 && now >= wf_deadline_mono_ && !failing_.is_object()) {
      failing_ = make_error("workflow_timeout", "the workflow did not finish within its timeout of " +
                                                    std::to_string(p_.timeout_ms / 1000) + " s");
      stop_flag_ = true;
    }
    if (control_->cancel && !cancelling) {
      cancelling = true;
      stop_flag_ = true;
    }
    if (control_->pause && !pausing && !cancelling) pausing = true;
    bool stopping = failing_.is_object() || cancelling || pausing;
    if (!stopping) {
      launch_ready();
      if (!completions_inline_.empty()) continue;
    } else {
      // Ready nodes stay Pending: a resumed run rescans them.
      for (const auto& k : ready_) queued_.erase(k);
      ready_.clear();
      if (pausing) timers_.clear();
    }
    if (!flush()) {
      if (control_->lease_lost) continue;
      abort_ = true;
      continue;
    }
    if (running_ == 0 && ready_.empty() && (timers_.empty() || stopping)) break;
    // Wait for a pool completion, the next retry timer, the workflow deadline, or a control flag.
    int64_t wait_ms = 200;
    if (!timers_.empty()) wait_ms = std::min<int64_t>(wait_ms, std::max<int64_t>(0, timers_.begin()->first - now));
    if (wf_deadline_mono_ > 0) wait_ms = std::min<int64_t>(wait_ms, std::max<int64_t>(0, wf_deadline_mono_ - now));
    std::unique_lock<std::mutex> lock(done_mu_);
    done_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return !done_.empty(); });
  }

  if (control_->lease_lost) return finish(RunOutcome::LeaseLost, Json(), make_error("lease_lost", "another worker owns this execution now"));
  if (cancelling) return finish(RunOutcome::Cancelled, Json(), make_error("cancelled", "the execution was cancelled"));
  if (failing_.is_object()) return finish(RunOutcome::Failed, Json(), failing_);
  if (pausing) return finish(RunOutcome::Paused, Json(), Json());
  int64_t wake = 0;
  bool parked = false;
  for (const auto& [k, a] : acts_) {
    if (a.state != ActState::Parked) continue;
    parked = true;
    int64_t w = a.park["wake_at_ms"].as_int(0);
    if (w > 0 && (wake == 0 || w < wake)) wake = w;
  }
  if (parked) return finish(RunOutcome::Parked, Json(), Json(), wake);
  return finish(RunOutcome::Succeeded, final_output(), Json());
}

// ------------------------------------------------------------------------------------------------
Executor::Executor(std::shared_ptr<store::Store> store, std::shared_ptr<ThreadPool> pool,
                   std::shared_ptr<EventBus> bus, ExecutorOptions options)
    : store_(std::move(store)), pool_(std::move(pool)), bus_(std::move(bus)), options_(options) {
  if (!pool_) pool_ = std::make_shared<ThreadPool>(4);
}

RunResult Executor::run(const store::ExecutionRecord& exec, const compiler::PlanPtr& plan,
                        std::shared_ptr<RunControl> control) {
  if (!control) control = std::make_shared<RunControl>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_[exec.id] = control;
  }
  RunResult r;
  {
    ExecutionRun run(*this, exec, plan, control);
    r = run.run();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(exec.id);
  }
  return r;
}

std::shared_ptr<RunControl> Executor::control_of(const std::string& execution_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = running_.find(execution_id);
  return it == running_.end() ? nullptr : it->second.lock();
}

}  // namespace weft::executor
