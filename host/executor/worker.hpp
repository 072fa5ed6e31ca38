// Queue workers: claim runnable executions from the store (leases with heartbeats), run them with
// the Executor, and keep their leases alive. The same code serves `weft serve` (in-process
// workers on SQLite), `weft worker` (PostgreSQL scale-out) and `weft run`.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "host/executor/executor.hpp"

namespace weft::executor {

struct WorkerOptions {
  size_t workers = 2;            // executions driven concurrently by start()
  int64_t lease_ms = 30000;
  int64_t heartbeat_ms = 10000;
  int64_t poll_ms = 500;         // idle polling interval (in-process wake() cuts it short)
  std::string worker_id;         // "" = "<hostname>:<pid>:<random>"
};

// Compiles (or fetches from a cache) the plan of an execution's workflow version.
using PlanProvider = std::function<Result<compiler::PlanPtr>(const store::ExecutionRecord&)>;

class WorkerPool {
 public:
  WorkerPool(std::shared_ptr<Executor> executor, PlanProvider plans, WorkerOptions options = {});
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  const std::string& worker_id() const { return options_.worker_id; }
  const WorkerOptions& options() const { return options_; }

  // Background claiming threads. stop() stops claiming and waits for running executions.
  void start();
  void stop();
  // Tells idle workers that something became runnable.
  void wake();

  // Claims and runs executions on the calling thread until nothing is runnable right now.
  // Returns how many runs it performed.
  size_t drain();

  // Runs an execution this worker already holds the lease of (e.g. created with claim_owner).
  RunResult run_claimed(const store::ExecutionRecord& exec);

  // Expires leases held by processes on this host that no longer exist (after kill -9), so their
  // executions resume at once instead of after the lease timeout.
  Result<size_t> reclaim_dead_local_leases();

 private:
  void worker_loop();
  void heartbeat_loop();
  bool claim_and_run_one();
  RunResult fail_unplannable(const store::ExecutionRecord& exec, const Error& why);

  std::shared_ptr<Executor> executor_;
  std::shared_ptr<store::Store> store_;
  PlanProvider plans_;
  WorkerOptions options_;

  struct Active {
    store::Lease lease;
    std::shared_ptr<RunControl> control;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Active> active_;
  bool stopping_ = false;    // claiming threads stop
  bool destroying_ = false;  // the heartbeat thread stops (destructor)
  uint64_t wakeups_ = 0;
  std::vector<std::thread> threads_;
  std::thread heartbeat_;
};

// "<hostname>:<pid>:<random>"
std::string make_worker_id();

}  // namespace weft::executor
