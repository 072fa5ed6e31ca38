#include "host/app/host.hpp"

#include "host/codecheck/codecheck.hpp"

namespace weft::app {

namespace {

// The compiler's code hook backed by Tree-sitter: a code field holds a function body.
class TreeSitterValidator final : public compiler::CodeValidator {
 public:
  std::vector<Problem> validate(std::string_view language, std::string_view code) override {
    std::vector<Problem> out;
    if (language.empty()) return out;  // a code field without a language is only a string
    CodeCheckResult r = check_code(language, code);
    for (const auto& d : r.diagnostics) out.push_back(Problem{d.line, d.column, d.message});
    if (r.truncated) out.push_back(Problem{0, 0, "more syntax errors follow"});
    return out;
  }
};

}  // namespace

Host::~Host() {
  // Workers first (they use everything else), the registry last (it unloads plugin code).
  workers_.reset();
  executor_.reset();
  pool_.reset();
  if (registry_) (void)registry_->attach_state_store(nullptr);
  store_.reset();
  compiler_.reset();
}

Result<std::unique_ptr<Host>> Host::open(const Config& config) {
  std::unique_ptr<Host> h(new Host());
  h->config_ = config;
  registry::RegistryOptions ro;
  ro.plugin_dirs = config.plugin_dirs;
  for (const auto& [name, cfg] : config.plugin_config.as_object()) ro.plugin_config[name] = cfg;
  h->registry_ = std::make_unique<registry::Registry>(ro);
  h->registry_->load();
  auto store = store::open_store(*h->registry_, config.database, config.database_options);
  if (!store.ok()) {
    Error e = store.error();
    if (config.plugin_dirs.empty())
      e.message += " (no plugin directory configured: set WEFT_PLUGIN_DIRS or plugin_dirs)";
    return e;
  }
  h->store_ = *store;
  Status st = h->registry_->attach_state_store(h->store_.get());
  if (!st.ok()) return st.error();
  h->compiler_ = std::make_unique<compiler::Compiler>(*h->registry_);
  h->code_validator_ = std::make_unique<TreeSitterValidator>();
  h->bus_ = std::make_shared<executor::EventBus>();
  h->pool_ = std::make_shared<executor::ThreadPool>(config.node_threads);
  executor::ExecutorOptions eo;
  eo.lease_ms = config.lease_ms;
  // Error workflows: the named workflow's latest version, if the failed execution's owner has it
  // (get_workflow answers not_found for deleted workflows and other owners').
  eo.error_workflow = [store = std::weak_ptr<store::Store>(h->store_)](
                          const store::ExecutionRecord& failed,
                          const std::string& workflow_id) -> Result<store::NewExecution> {
    auto s = store.lock();
    if (!s) return Error("unavailable", "the store is closed");
    auto wf = s->get_workflow(failed.owner_id, workflow_id, 0);
    if (!wf.ok()) return wf.error();
    store::NewExecution ne;
    ne.workflow_id = wf->id;
    ne.workflow_version = wf->version;
    ne.definition = wf->definition;
    return ne;
  };
  h->executor_ = std::make_shared<executor::Executor>(h->store_, h->pool_, h->bus_, eo);
  executor::WorkerOptions wo;
  wo.workers = config.workers;
  wo.lease_ms = config.lease_ms;
  wo.heartbeat_ms = config.heartbeat_ms;
  wo.poll_ms = config.poll_ms;
  Host* raw = h.get();
  h->workers_ = std::make_unique<executor::WorkerPool>(
      h->executor_, [raw](const store::ExecutionRecord& e) { return raw->plan_for(e); }, wo);
  return h;
}

Status Host::set_plugin_enabled(const std::string& name, bool enabled) {
  if (!enabled) {
    std::string scheme = config_.database.substr(0, config_.database.find(':'));
    if (scheme == "postgres") scheme = "postgresql";
    for (const auto& p : registry_->plugins()) {
      if (p.name != name) continue;
      for (const auto& s : p.storage_schemes)
        if (s == scheme)
          return Error("invalid_state", "plugin \"" + name + "\" serves this host's database (" + scheme +
                                            "); it cannot be disabled while in use");
    }
  }
  return registry_->set_enabled(name, enabled);
}

void Host::set_node_services(std::shared_ptr<executor::NodeServices> services, compiler::CredentialChecker* checker) {
  services_ = services;
  credential_checker_ = checker;
  executor_->set_services(std::move(services));
  plans_.clear();
}

Result<compiler::PlanPtr> Host::plan_for(const store::ExecutionRecord& exec) {
  // A cached plan was checked when first compiled; credentials deleted or changed since are
  // caught at access time (CredentialRuntime checks owner and type at every access).
  if (auto cached = plans_.get(exec.workflow_id, exec.workflow_version)) return cached;
  compiler::CompileOptions co;
  co.credentials = credential_checker_;
  co.code_validator = code_validator_.get();
  co.owner_types = owner_types_;
  co.owner_id = exec.owner_id;
  co.workflow_id = exec.workflow_id;
  co.workflow_version = exec.workflow_version;
  compiler::CompileResult r = compiler_->compile(exec.definition, co);
  if (!r.ok()) {
    std::string msg = "workflow " + exec.workflow_id + " v" + std::to_string(exec.workflow_version) +
                      " no longer compiles";
    if (!r.errors.empty()) msg += ": " + r.errors.front().message;
    if (r.errors.size() > 1) msg += " (and " + std::to_string(r.errors.size() - 1) + " more)";
    return Error("compile_failed", msg, r.errors_json().dump());
  }
  plans_.put(exec.workflow_id, exec.workflow_version, r.plan);
  return r.plan;
}

}  // namespace weft::app
