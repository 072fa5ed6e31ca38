#include "host/executor/worker.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "host/core/call.hpp"
#include "host/core/ids.hpp"

namespace weft::executor {

std::string make_worker_id() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "localhost");
  return std::string(host) + ":" + std::to_string(getpid()) + ":" + random_hex(4);
}

WorkerPool::WorkerPool(std::shared_ptr<Executor> executor, PlanProvider plans, WorkerOptions options)
    : executor_(std::move(executor)), plans_(std::move(plans)), options_(std::move(options)) {
  store_ = executor_->store();
  if (options_.worker_id.empty()) options_.worker_id = make_worker_id();
  if (options_.heartbeat_ms <= 0 || options_.heartbeat_ms >= options_.lease_ms)
    options_.heartbeat_ms = std::max<int64_t>(1, options_.lease_ms / 3);
  heartbeat_ = std::thread([this] { heartbeat_loop(); });
}

WorkerPool::~WorkerPool() {
  stop();
  {
    std::lock_guard<std::mutex> lock(mu_);
    destroying_ = true;
  }
  cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void WorkerPool::start() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = false;
  for (size_t i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { worker_loop(); });
}

void WorkerPool::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

void WorkerPool::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
  }
  cv_.notify_all();
}

void WorkerPool::worker_loop() {
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      seen = wakeups_;
    }
    bool did = claim_and_run_one();
    if (did) continue;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(options_.poll_ms),
                 [&] { return stopping_ || wakeups_ != seen; });
  }
}

size_t WorkerPool::drain() {
  size_t n = 0;
  while (claim_and_run_one()) ++n;
  return n;
}

bool WorkerPool::claim_and_run_one() {
  auto claimed = store_->claim_execution(options_.worker_id, options_.lease_ms, wall_ms());
  if (!claimed.ok() || !claimed->has_value()) return false;
  run_claimed(**claimed);
  return true;
}

RunResult WorkerPool::fail_unplannable(const store::ExecutionRecord& exec, const Error& why) {
  store::Commit c;
  c.execution_id = exec.id;
  c.lease = exec.lease;
  store::EventRecord e;
  e.execution_id = exec.id;
  e.seq = exec.last_event_seq + 1;
  e.type = "workflow_done";
  Json err = Json::object();
  err.set("code", why.code);
  err.set("message", why.message);
  Json d = Json::object();
  d.set("status", "failed");
  d.set("error", err);
  e.data = d;
  e.ts_ms = wall_ms();
  c.events.push_back(e);
  store::ExecutionUpdate u;
  u.status = store::ExecStatus::Failed;
  u.error = err;
  u.finished_at_ms = wall_ms();
  u.release_lease = true;
  c.execution = u;
  // A run that cannot even be planned failed too: its error workflow learns of it (pattern
  // redaction only: no node ran, so no secret was opened).
  Redactor redactor;
  ErrorWorkflowStart ew = plan_error_workflow(executor_->options(), exec, err, Json(), redactor);
  if (!ew.event.empty()) {
    // Recorded before workflow_done, which stays the last event.
    store::EventRecord x;
    x.execution_id = exec.id;
    x.seq = exec.last_event_seq + 1;
    x.type = ew.event;
    x.data = redactor.redacted(ew.event_data);
    x.ts_ms = e.ts_ms;
    c.events.insert(c.events.begin(), std::move(x));
    c.events.back().seq = exec.last_event_seq + 2;
  }
  std::string spawned = ew.spawn ? ew.spawn->id : std::string();
  c.spawn = std::move(ew.spawn);
  Status st = store_->commit(c);
  if (st.ok() && executor_->bus())
    for (const auto& ev : c.events) executor_->bus()->publish(ev);
  RunResult r;
  r.outcome = RunOutcome::Failed;
  r.error = err;
  if (st.ok()) r.spawned_execution_id = spawned;
  return r;
}

RunResult WorkerPool::run_claimed(const store::ExecutionRecord& exec) {
  auto plan = plans_(exec);
  if (!plan.ok()) {
    RunResult r = fail_unplannable(exec, plan.error());
    if (!r.spawned_execution_id.empty()) wake();
    return r;
  }
  auto control = std::make_shared<RunControl>();
  if (exec.cancel_requested) control->cancel = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_[exec.id] = Active{exec.lease, control};
  }
  RunResult r = executor_->run(exec, *plan, control);
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_.erase(exec.id);
  }
  if (!r.spawned_execution_id.empty()) wake();  // an error workflow is queued
  return r;
}

void WorkerPool::heartbeat_loop() {
  for (;;) {
    std::map<std::string, Active> snapshot;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Leases are kept alive until the pool is destroyed: run_claimed() works without start().
      cv_.wait_for(lock, std::chrono::milliseconds(options_.heartbeat_ms), [this] { return destroying_; });
      if (destroying_) return;
      snapshot = active_;
    }
    for (auto& [id, a] : snapshot) {
      Status st = store_->heartbeat(id, a.lease, options_.lease_ms, wall_ms());
      if (!st.ok()) {
        if (st.error().code == "lease_lost") a.control->lease_lost = true;
        continue;
      }
      // Control requests made through the store (another API server, the CLI).
      auto rec = store_->get_execution(id);
      if (rec.ok()) {
        if (rec->cancel_requested) a.control->cancel = true;
        if (rec->pause_requested) a.control->pause = true;
      }
    }
  }
}

Result<size_t> WorkerPool::reclaim_dead_local_leases() {
  auto leased = store_->list_leased();
  if (!leased.ok()) return leased.error();
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) return size_t{0};
  std::string prefix = std::string(host) + ":";
  size_t n = 0;
  for (const auto& e : *leased) {
    const std::string& owner = e.lease.owner;
    if (owner.rfind(prefix, 0) != 0 || owner == options_.worker_id) continue;
    size_t colon = owner.find(':', prefix.size());
    if (colon == std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::strtol(owner.c_str() + prefix.size(), nullptr, 10));
    if (pid <= 0) continue;
    bool dead = (kill(pid, 0) != 0 && errno == ESRCH);
    // Same pid as ours but a different worker id: an earlier process whose pid was reused.
    if (pid == getpid()) dead = true;
    if (!dead) continue;
    if (store_->expire_lease(e.id, e.lease).ok()) ++n;
  }
  return n;
}

}  // namespace weft::executor
