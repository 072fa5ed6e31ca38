// The assembled host: registry (plugins), store (through a storage plugin), compiler with its
// plan cache, executor and queue workers. `weft run|worker|serve` all start from here.
#pragma once

#include <memory>
#include <string>

#include "host/app/config.hpp"
#include "host/compiler/compiler.hpp"
#include "host/executor/worker.hpp"
#include "registry/registry.hpp"

namespace weft::app {

class Host {
 public:
  // Loads the plugins, opens the store (running migrations), applies persisted plugin states.
  static Result<std::unique_ptr<Host>> open(const Config& config);
  ~Host();

  const Config& config() const { return config_; }
  registry::Registry& registry() { return *registry_; }
  const std::shared_ptr<store::Store>& store() const { return store_; }
  const compiler::Compiler& compiler() const { return *compiler_; }
  executor::Executor& executor() { return *executor_; }
  executor::WorkerPool& workers() { return *workers_; }
  executor::EventBus& bus() { return *bus_; }

  // Enables/disables a plugin (persisted). Refuses to disable the plugin whose storage backend
  // serves this host's database: its backend would keep serving, so "disabled" would be a lie.
  Status set_plugin_enabled(const std::string& name, bool enabled);

  // Credentials and outbound HTTP (host/service wires them, see service::attach_credentials):
  // the checker the compiler uses for runs, and the executor's node services. Call before the
  // workers start; `checker` must outlive the host.
  void set_node_services(std::shared_ptr<executor::NodeServices> services, compiler::CredentialChecker* checker);
  compiler::CredentialChecker* credential_checker() const { return credential_checker_; }
  // The syntax checker for code fields (Tree-sitter, host/codecheck), used by every compile.
  compiler::CodeValidator* code_validator() const { return code_validator_.get(); }
  // Per-owner node types (custom nodes) for every compile; set before the workers start.
  void set_owner_types(compiler::OwnerTypeLookup lookup) { owner_types_ = std::move(lookup); }
  const compiler::OwnerTypeLookup& owner_types() const { return owner_types_; }
  // Forgets every cached plan (e.g. after a custom node changed: plans pin the type they saw).
  void clear_plans() { plans_.clear(); }

  // The plan of an execution's workflow version, compiled once and cached.
  Result<compiler::PlanPtr> plan_for(const store::ExecutionRecord& exec);

 private:
  Host() = default;
  Config config_;
  std::unique_ptr<registry::Registry> registry_;
  std::shared_ptr<store::Store> store_;
  std::unique_ptr<compiler::Compiler> compiler_;
  compiler::PlanCache plans_;
  std::shared_ptr<executor::EventBus> bus_;
  std::shared_ptr<executor::ThreadPool> pool_;
  std::shared_ptr<executor::Executor> executor_;
  std::unique_ptr<executor::WorkerPool> workers_;
  std::shared_ptr<executor::NodeServices> services_;
  compiler::CredentialChecker* credential_checker_ = nullptr;
  std::unique_ptr<compiler::CodeValidator> code_validator_;
  compiler::OwnerTypeLookup owner_types_;
};

}  // namespace weft::app
