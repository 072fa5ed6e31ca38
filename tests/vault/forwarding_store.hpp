// A Store that forwards every call to another store: tests derive from it and override the
// operations they want to observe or interleave with (e.g. an edit landing between a rotation's
// read and its write).
#pragma once

#include <memory>
#include <utility>

#include "host/store/store.hpp"

namespace weft::store::testing {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(std::shared_ptr<Store> inner) : inner_(std::move(inner)) {}
  Store& inner() { return *inner_; }

  Result<WorkflowRecord> save_workflow(const std::string& owner_id, const std::string& id,
                                       const std::string& name, const Json& definition) override {
    return inner_->save_workflow(owner_id, id, name, definition);
  }
  Result<WorkflowRecord> get_workflow(const std::string& owner_id, const std::string& id,
                                      int64_t version) override {
    return inner_->get_workflow(owner_id, id, version);
  }
  Result<ExecutionRecord> create_execution(const NewExecution& e, bool* existed) override {
    return inner_->create_execution(e, existed);
  }
  Result<ExecutionRecord> get_execution(const std::string& id) override { return inner_->get_execution(id); }
  Result<std::vector<ExecutionRecord>> list_executions(const ExecutionFilter& f) override {
    return inner_->list_executions(f);
  }
  Result<std::optional<ExecutionRecord>> claim_execution(const std::string& worker, int64_t lease_ms,
                                                         int64_t now_ms) override {
    return inner_->claim_execution(worker, lease_ms, now_ms);
  }
  Status heartbeat(const std::string& execution_id, const Lease& lease, int64_t lease_ms,
                   int64_t now_ms) override {
    return inner_->heartbeat(execution_id, lease, lease_ms, now_ms);
  }
  Result<std::vector<ExecutionRecord>> list_leased() override { return inner_->list_leased(); }
  Status expire_lease(const std::string& execution_id, const Lease& lease) override {
    return inner_->expire_lease(execution_id, lease);
  }
  Status commit(const Commit& c) override { return inner_->commit(c); }
  Result<std::vector<NodeRunRecord>> node_runs(const std::string& execution_id) override {
    return inner_->node_runs(execution_id);
  }
  Result<std::vector<NodeLogRecord>> node_logs(const std::string& execution_id) override {
    return inner_->node_logs(execution_id);
  }
  Result<std::vector<EventRecord>> events(const std::string& execution_id, int64_t after_seq,
                                          int64_t limit) override {
    return inner_->events(execution_id, after_seq, limit);
  }
  Status request_cancel(const std::string& execution_id) override {
    return inner_->request_cancel(execution_id);
  }
  Status set_paused(const std::string& execution_id, bool paused) override {
    return inner_->set_paused(execution_id, paused);
  }
  Result<std::map<std::string, bool>> load_plugin_states() override { return inner_->load_plugin_states(); }
  Status save_plugin_state(const std::string& name, bool enabled) override {
    return inner_->save_plugin_state(name, enabled);
  }
  Result<std::vector<WorkflowSummary>> list_workflows(const WorkflowFilter& f) override {
    return inner_->list_workflows(f);
  }
  Result<std::vector<WorkflowRecord>> list_workflow_versions(const std::string& owner_id,
                                                             const std::string& id) override {
    return inner_->list_workflow_versions(owner_id, id);
  }
  Status delete_workflow(const std::string& owner_id, const std::string& id) override {
    return inner_->delete_workflow(owner_id, id);
  }
  Status set_webhook_routes(const std::string& owner_id, const std::string& workflow_id,
                            const std::vector<WebhookRoute>& routes) override {
    return inner_->set_webhook_routes(owner_id, workflow_id, routes);
  }
  Result<WebhookRoute> find_webhook_route(const std::string& path) override {
    return inner_->find_webhook_route(path);
  }
  Result<std::vector<WebhookRoute>> list_webhook_routes(const std::string& owner_id,
                                                        const std::string& workflow_id) override {
    return inner_->list_webhook_routes(owner_id, workflow_id);
  }
  Result<UserRecord> create_user(const UserRecord& u) override { return inner_->create_user(u); }
  Result<UserRecord> get_user(const std::string& id) override { return inner_->get_user(id); }
  Result<UserRecord> find_user_by_email(const std::string& email) override {
    return inner_->find_user_by_email(email);
  }
  Result<std::vector<UserRecord>> list_users(int64_t limit, const std::string& after_id) override {
    return inner_->list_users(limit, after_id);
  }
  Result<int64_t> count_users() override { return inner_->count_users(); }
  Result<UserRecord> update_user(const std::string& id, const UserUpdate& u) override {
    return inner_->update_user(id, u);
  }
  Status create_session(const SessionRecord& s) override { return inner_->create_session(s); }
  Result<SessionRecord> get_session(const std::string& id) override { return inner_->get_session(id); }
  Status rotate_session(const std::string& id, const std::string& old_hash, const std::string& new_hash,
                        int64_t new_expires_at_ms, int64_t now_ms) override {
    return inner_->rotate_session(id, old_hash, new_hash, new_expires_at_ms, now_ms);
  }
  Status revoke_session(const std::string& id, int64_t now_ms) override {
    return inner_->revoke_session(id, now_ms);
  }
  Status revoke_user_sessions(const std::string& user_id, int64_t now_ms) override {
    return inner_->revoke_user_sessions(user_id, now_ms);
  }
  Status create_api_key(const ApiKeyRecord& k) override { return inner_->create_api_key(k); }
  Result<ApiKeyRecord> find_api_key(const std::string& prefix) override {
    return inner_->find_api_key(prefix);
  }
  Result<ApiKeyRecord> get_api_key(const std::string& user_id, const std::string& id) override {
    return inner_->get_api_key(user_id, id);
  }
  Result<std::vector<ApiKeyRecord>> list_api_keys(const std::string& user_id) override {
    return inner_->list_api_keys(user_id);
  }
  Status update_api_key(const std::string& user_id, const std::string& id, const ApiKeyUpdate& u) override {
    return inner_->update_api_key(user_id, id, u);
  }
  Result<CredentialRecord> create_credential(const CredentialRecord& c) override {
    return inner_->create_credential(c);
  }
  Result<CredentialRecord> get_credential(const std::string& owner_id, const std::string& id) override {
    return inner_->get_credential(owner_id, id);
  }
  Result<std::vector<CredentialRecord>> list_credentials(const std::string& owner_id,
                                                         const std::string& type) override {
    return inner_->list_credentials(owner_id, type);
  }
  Result<CredentialRecord> update_credential(const std::string& owner_id, const std::string& id,
                                             const CredentialUpdate& u) override {
    return inner_->update_credential(owner_id, id, u);
  }
  Status delete_credential(const std::string& owner_id, const std::string& id) override {
    return inner_->delete_credential(owner_id, id);
  }
  Result<std::vector<CredentialRecord>> list_credentials_to_rekey(int64_t below_version,
                                                                  const std::string& after_id,
                                                                  int64_t limit) override {
    return inner_->list_credentials_to_rekey(below_version, after_id, limit);
  }
  Status rekey_credential(const std::string& id, int64_t expected_updated_at_ms, const Json& secrets,
                          int64_t key_version, int64_t updated_at_ms) override {
    return inner_->rekey_credential(id, expected_updated_at_ms, secrets, key_version, updated_at_ms);
  }
  Result<std::pair<int64_t, int64_t>> credential_key_version_range() override {
    return inner_->credential_key_version_range();
  }
  Status put_vault_key_check(const VaultKeyCheck& k) override { return inner_->put_vault_key_check(k); }
  Result<std::vector<VaultKeyCheck>> vault_key_checks() override { return inner_->vault_key_checks(); }
  Result<std::vector<AuditRecord>> append_audit(const std::vector<AuditRecord>& entries) override {
    return inner_->append_audit(entries);
  }
  Result<std::vector<AuditRecord>> list_audit(const AuditFilter& f) override { return inner_->list_audit(f); }
  Result<std::map<std::string, int64_t>> count_executions_by_status() override {
    return inner_->count_executions_by_status();
  }
  Result<CustomNodeRecord> create_custom_node(const CustomNodeRecord& n, bool new_name) override {
    return inner_->create_custom_node(n, new_name);
  }
  Result<CustomNodeRecord> get_custom_node(const std::string& owner_id, const std::string& name,
                                           int64_t version) override {
    return inner_->get_custom_node(owner_id, name, version);
  }
  Result<std::vector<CustomNodeRecord>> list_custom_nodes(const std::string& owner_id) override {
    return inner_->list_custom_nodes(owner_id);
  }
  Result<std::vector<CustomNodeRecord>> list_custom_node_versions(const std::string& owner_id,
                                                                  const std::string& name) override {
    return inner_->list_custom_node_versions(owner_id, name);
  }
  Status delete_custom_node(const std::string& owner_id, const std::string& name) override {
    return inner_->delete_custom_node(owner_id, name);
  }
  Result<HumanRequestRecord> get_human_request(const std::string& id) override {
    return inner_->get_human_request(id);
  }
  Result<std::vector<HumanRequestRecord>> list_human_requests(const HumanRequestFilter& f) override {
    return inner_->list_human_requests(f);
  }
  Result<HumanRequestRecord> respond_human_request(const HumanResponse& r) override {
    return inner_->respond_human_request(r);
  }
  Result<HumanRequestRecord> expire_human_request(const std::string& id, int64_t now_ms) override {
    return inner_->expire_human_request(id, now_ms);
  }
  Result<ScheduleRecord> create_schedule(const ScheduleRecord& s) override {
    return inner_->create_schedule(s);
  }
  Result<ScheduleRecord> get_schedule(const std::string& owner_id, const std::string& id) override {
    return inner_->get_schedule(owner_id, id);
  }
  Result<std::vector<ScheduleRecord>> list_schedules(const std::string& owner_id,
                                                     const std::string& workflow_id) override {
    return inner_->list_schedules(owner_id, workflow_id);
  }
  Result<ScheduleRecord> update_schedule(const ScheduleRecord& s) override {
    return inner_->update_schedule(s);
  }
  Status delete_schedule(const std::string& owner_id, const std::string& id) override {
    return inner_->delete_schedule(owner_id, id);
  }
  Result<std::vector<ScheduleRecord>> due_schedules(int64_t now_ms, int64_t limit) override {
    return inner_->due_schedules(now_ms, limit);
  }
  Result<ScheduleRecord> fire_schedule(const ScheduleFire& f) override {
    return inner_->fire_schedule(f);
  }

 protected:
  std::shared_ptr<Store> inner_;
};

}  // namespace weft::store::testing
