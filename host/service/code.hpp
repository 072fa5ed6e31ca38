// User code in the sandbox, as a host service (weft_host_api.sandbox_run, ABI 1.1).
//
// CodeRuntime wraps the credential runtime's node services and adds sandbox_run: it turns a node's
// request into a sandbox::Job, runs it on the sandbox pool (started on first use, or eagerly by
// `weft serve` through warm_up()), and routes the code's own host calls back through the SAME
// node call's services — so user code reaches only the credentials its node references and only
// the network the guarded client allows. docs/sandbox.md describes the whole path.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "host/core/json.hpp"
#include "host/executor/executor.hpp"
#include "sandbox/pool.hpp"

namespace weft::app {
class Config;
}

namespace weft::service {

// The "sandbox" section of the configuration (config/weft.json documents it) as pool settings.
// Unknown keys and out-of-range values are errors: a typo must not silently weaken a limit.
Result<sandbox::PoolConfig> sandbox_config_from_json(const Json& section, const std::string& binary_dir);

class CodeRuntime : public executor::NodeServices {
 public:
  // `inner` serves credential_get/http_request (may be null: both then answer unsupported).
  CodeRuntime(std::shared_ptr<executor::NodeServices> inner, sandbox::PoolConfig config);
  ~CodeRuntime() override;

  weft_status credential_get(const executor::NodeServiceContext& ctx, std::string_view ref, std::string& out_json,
                             std::string& out_error) override;
  weft_status http_request(const executor::NodeServiceContext& ctx, std::string_view request_json,
                           std::string& out_json, std::string& out_error) override;
  weft_status sandbox_run(const executor::NodeServiceContext& ctx, std::string_view request_json,
                          std::string& out_json, std::string& out_error) override;

  // Runs a job directly (custom nodes, the describe step of an upload). Host calls go to
  // `host_calls` (null = every host call is refused).
  sandbox::JobResult run_job(const sandbox::Job& job, const sandbox::HostCallHandler& host_calls,
                             const std::function<bool()>& cancelled = {});

  // Starts the pool now (warm interpreters) instead of at the first job. Fails when the sandbox
  // cannot be set up on this machine; the error says which layer.
  Status warm_up();
  // The pool's probe report and counters ({"started": false} before the first use).
  Json status() const;
  // The pool's counters; all zero before the pool started.
  sandbox::PoolMetrics metrics() const;
  const sandbox::PoolConfig& config() const { return config_; }
  void shutdown();

 private:
  Result<std::shared_ptr<sandbox::SandboxPool>> pool();

  std::shared_ptr<executor::NodeServices> inner_;
  sandbox::PoolConfig config_;
  mutable std::mutex mu_;
  std::shared_ptr<sandbox::SandboxPool> pool_;
  Error start_error_;
  bool start_failed_ = false;
  int64_t start_failed_at_ms_ = 0;
};

}  // namespace weft::service
