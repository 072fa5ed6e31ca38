// The executor: runs one execution of a compiled Plan durably.
//
// One ExecutionRun per execution attempt, driven by one thread (the caller of run()); node
// attempts run inline when they are the only ready node, and on the bounded ThreadPool when
// several branches are ready. All bookkeeping happens on the driving thread, so the run's state
// needs no locks. After every node attempt the run commits (store::Commit) the attempt's result,
// log record, events and the execution's new state in one transaction fenced by the lease, and
// only then schedules dependent nodes. docs/ARCHITECTURE.md "Execution semantics" is the spec.
//
// Native node code is trusted (PRODUCT.md §6): node timeouts and cancellation reach it through
// is_cancelled()/deadline_ms(); a native node that ignores them keeps its thread until it
// returns, and its late result is discarded as a timeout.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "host/compiler/plan.hpp"
#include "host/core/json.hpp"
#include "host/executor/event_bus.hpp"
#include "host/executor/thread_pool.hpp"
#include "host/store/store.hpp"

namespace weft::executor {

struct ExecutorOptions {
  int64_t lease_ms = 30000;
  size_t max_logged_bytes = 64 * 1024;  // per input/output in node logs (truncation marker)
  size_t max_log_lines_bytes = 64 * 1024;
  int64_t max_inline_retry_wait_ms = 30000;  // longer retry delays park the execution
  bool persist = true;                   // false: no store writes (benchmarks of the pure engine)
};

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
