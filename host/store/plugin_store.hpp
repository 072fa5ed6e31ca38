// PluginStore: the Store interface over a storage backend plugin (weft_storage_backend).
//
// Each Store method is one JSON operation (records.hpp, docs/plugin-abi.md "Storage backends")
// that the backend runs as one transaction. Errors reported by the backend keep their code
// ("not_found", "lease_lost", "conflict", "storage_error", "unavailable", ...).
//
// Lifetime: a PluginStore holds the backend (and through it the plugin's shared library) alive;
// its destructor closes the backend connection before letting go of the library.
// Thread-safety: every method may be called concurrently (backends' call() is thread-safe).
#pragma once

#include <memory>
#include <string>

#include "host/store/store.hpp"

namespace weft::store {

class PluginStore final : public Store {
 public:
  // Opens `url` through `backend` (the backend runs pending migrations). Errors come from the
  // backend, e.g. "unavailable" when the database cannot be reached.
  static Result<std::shared_ptr<PluginStore>> open(std::shared_ptr<const registry::StorageBackend> backend,
                                                   const std::string& url,
                                                   const Json& options = Json::object());
  ~PluginStore() override;
  PluginStore(const PluginStore&) = delete;
  PluginStore& operator=(const PluginStore&) = delete;

  const std::string& scheme() const { return backend_->scheme; }

  Result<WorkflowRecord> save_workflow(const std::string& owner_id, const std::string& id,
                                       const std::string& name, const Json& definition) override;
  Result<WorkflowRecord> get_workflow(const std::string& owner_id, const std::string& id,
                                      int64_t version) override;
  Result<ExecutionRecord> create_execution(const NewExecution& e, bool* existed) override;
  Result<ExecutionRecord> get_execution(const std::string& id) override;
  Result<std::vector<ExecutionRecord>> list_executions(const ExecutionFilter& f) override;
  Result<std::optional<ExecutionRecord>> claim_execution(const std::string& worker, int64_t lease_ms,
                                                         int64_t now_ms) override;
  Status heartbeat(const std::string& execution_id, const Lease& lease, int64_t lease_ms,
                   int64_t now_ms) override;
  Result<std::vector<ExecutionRecord>> list_leased() override;
  Status expire_lease(const std::string& execution_id, const Lease& lease) override;
  Status commit(const Commit& c) override;
  Result<std::vector<NodeRunRecord>> node_runs(const std::string& execution_id) override;
  Result<std::vector<NodeLogRecord>> node_logs(const std::string& execution_id) override;
  Result<std::vector<EventRecord>> events(const std::string& execution_id, int64_t after_seq,
                                          int64_t limit) override;
  Status request_cancel(const std::string& execution_id) override;
  Status set_paused(const std::string& execution_id, bool paused) override;
  Result<std::map<std::string, bool>> load_plugin_states() override;
  Status save_plugin_state(const std::string& name, bool enabled) override;

  Result<std::vector<WorkflowSummary>> list_workflows(const WorkflowFilter& f) override;
  Result<std::vector<WorkflowRecord>> list_workflow_versions(const std::string& owner_id,
                                                             const std::string& id) override;
  Status delete_workflow(const std::string& owner_id, const std::string& id) override;
  Status set_webhook_routes(const std::string& owner_id, const std::string& workflow_id,
                            const std::vector<WebhookRoute>& routes) override;
  Result<WebhookRoute> find_webhook_route(const std::string& path) override;
  Result<std::vector<WebhookRoute>> list_webhook_routes(const std::string& owner_id,
                                                        const std::string& workflow_id) override;
  Result<UserRecord> create_user(const UserRecord& u) override;
  Result<UserRecord> get_user(const std::string& id) override;
  Result<UserRecord> find_user_by_email(const std::string& email) override;
  Result<std::vector<UserRecord>> list_users(int64_t limit, const std::string& after_id) override;
  Result<int64_t> count_users() override;
  Result<UserRecord> update_user(const std::string& id, const UserUpdate& u) override;
  Status create_session(const SessionRecord& s) override;
  Result<SessionRecord> get_session(const std::string& id) override;
  Status rotate_session(const std::string& id, const std::string& old_hash,
                        const std::string& new_hash, int64_t new_expires_at_ms,
                        int64_t now_ms) override;
  Status revoke_session(const std::string& id, int64_t now_ms) override;
  Status revoke_user_sessions(const std::string& user_id, int64_t now_ms) override;
  Status create_api_key(const ApiKeyRecord& k) override;
  Result<ApiKeyRecord> find_api_key(const std::string& prefix) override;
  Result<ApiKeyRecord> get_api_key(const std::string& user_id, const std::string& id) override;
  Result<std::vector<ApiKeyRecord>> list_api_keys(const std::string& user_id) override;
  Status update_api_key(const std::string& user_id, const std::string& id,
                        const ApiKeyUpdate& u) override;
  Result<CredentialRecord> create_credential(const CredentialRecord& c) override;
  Result<CredentialRecord> get_credential(const std::string& owner_id, const std::string& id) override;
  Result<std::vector<CredentialRecord>> list_credentials(const std::string& owner_id,
                                                         const std::string& type) override;
  Result<CredentialRecord> update_credential(const std::string& owner_id, const std::string& id,
                                             const CredentialUpdate& u) override;
  Status delete_credential(const std::string& owner_id, const std::string& id) override;
  Result<std::vector<CredentialRecord>> list_credentials_to_rekey(int64_t below_version,
                                                                  const std::string& after_id,
                                                                  int64_t limit) override;
  Status rekey_credential(const std::string& id, int64_t expected_updated_at_ms, const Json& secrets,
                          int64_t key_version, int64_t updated_at_ms) override;
  Result<std::pair<int64_t, int64_t>> credential_key_version_range() override;
  Status put_vault_key_check(const VaultKeyCheck& k) override;
  Result<std::vector<VaultKeyCheck>> vault_key_checks() override;
  Result<std::vector<AuditRecord>> append_audit(const std::vector<AuditRecord>& entries) override;
  Result<std::vector<AuditRecord>> list_audit(const AuditFilter& f) override;
  Result<CustomNodeRecord> create_custom_node(const CustomNodeRecord& n, bool new_name) override;
  Result<CustomNodeRecord> get_custom_node(const std::string& owner_id, const std::string& name,
                                           int64_t version) override;
  Result<std::vector<CustomNodeRecord>> list_custom_nodes(const std::string& owner_id) override;
  Result<std::vector<CustomNodeRecord>> list_custom_node_versions(const std::string& owner_id,
                                                                  const std::string& name) override;
  Status delete_custom_node(const std::string& owner_id, const std::string& name) override;
  Result<HumanRequestRecord> get_human_request(const std::string& id) override;
  Result<std::vector<HumanRequestRecord>> list_human_requests(const HumanRequestFilter& f) override;
  Result<HumanRequestRecord> respond_human_request(const HumanResponse& r) override;
  Result<HumanRequestRecord> expire_human_request(const std::string& id, int64_t now_ms) override;
  Result<ScheduleRecord> create_schedule(const ScheduleRecord& s) override;
  Result<ScheduleRecord> get_schedule(const std::string& owner_id, const std::string& id) override;
  Result<std::vector<ScheduleRecord>> list_schedules(const std::string& owner_id,
                                                     const std::string& workflow_id) override;
  Result<ScheduleRecord> update_schedule(const ScheduleRecord& s) override;
  Status delete_schedule(const std::string& owner_id, const std::string& id) override;
  Result<std::vector<ScheduleRecord>> due_schedules(int64_t now_ms, int64_t limit) override;
  Result<ScheduleRecord> fire_schedule(const ScheduleFire& f) override;
  Result<std::map<std::string, int64_t>> count_executions_by_status() override;

  // Runs one raw operation (what every method above does). Exposed for tools and tests.
  Result<Json> call(std::string_view op, const Json& args);

 private:
  // One operation on JSON text both ways: the hot paths encode their arguments straight to text,
  // and operations that only report success need not parse the result.
  Result<std::string> call_text(std::string_view op, const std::string& args_text);
  Result<Json> parse_result(std::string_view op, Result<std::string> text);

  PluginStore(std::shared_ptr<const registry::StorageBackend> backend, weft_storage_conn* conn);

  std::shared_ptr<const registry::StorageBackend> backend_;
  weft_storage_conn* conn_;
};

}  // namespace weft::store
