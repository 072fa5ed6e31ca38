// SqlStore: every storage operation (docs/plugin-abi.md "Storage backends") on SOCI, one
// transaction per operation, for both dialects. Internal to the storage plugins; the C entry
// points in backend_abi.cpp wrap it.
//
// Thread-safety: call() may run concurrently from many threads. Each call leases one pooled
// connection for its duration. SQLite write operations are additionally serialized by an
// in-process mutex (SQLite admits one writer at a time anyway; waiting on a mutex is cheaper and
// fairer than spinning in the busy handler), while reads run concurrently in WAL mode.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "host/core/json.hpp"
#include "host/core/result.hpp"
#include "plugins/storage-common/fast_args.hpp"
#include "plugins/storage-common/sql_support.hpp"
#include "plugins/storage-common/storage_backend.hpp"

namespace weft::storage {

struct StoreOptions {
  size_t pool_size = 4;
  int busy_timeout_ms = 5000;    // SQLite: wait this long for another process's write lock
  bool synchronous_full = false;  // SQLite: synchronous=FULL instead of NORMAL
  std::string pg_schema;         // PostgreSQL: schema to live in ("" = search_path default)
  int connect_timeout_s = 5;     // PostgreSQL: libpq connect_timeout unless the URL sets one
  int reconnect_attempts = 6;    // PostgreSQL: attempts per operation when the connection drops
  int fail_at_migration = 0;     // test hook, see MigrateOptions::fail_at_version
};

class SqlStore {
 public:
  static Result<std::unique_ptr<SqlStore>> open(const DialectSupport& dialect, std::string_view url,
                                                const Json& options);
  ~SqlStore();

  // Runs one operation. args: a JSON object; the result is a JSON object.
  Result<Json> call(std::string_view op, const Json& args);
  // The same from the argument text, for the operations with a fast path that skips the generic
  // JSON tree (commit, create_execution: see fast_args.hpp); nullopt: no fast path for this op or these
  // arguments, parse them and use call().
  std::optional<Result<Json>> call_text(std::string_view op, std::string_view args_text);

  // Per-call state passed to the operations.
  struct Ctx {
    soci::session* s = nullptr;
    StatementCache* statements = nullptr;  // the connection's prepared statements
    bool commit_sent = false;  // set right before COMMIT goes out: outcome unknown if it fails
  };

 private:
  enum class Access {
    Read,        // no writes: retried freely after a connection loss
    Write,       // retried after a connection loss unless the COMMIT was already sent
    Idempotent,  // a write that may be repeated: always retried
  };
  using OpFn = Result<Json> (SqlStore::*)(Ctx&, const Json&);
  struct OpEntry {
    std::string_view name;
    Access access;
    OpFn fn;
  };
  static const OpEntry kOps[];

  SqlStore(const DialectSupport& dialect, StoreOptions options, std::string where);
  // Runs body(Ctx&) on a pooled connection with the retry rules of `access`.
  template <typename Body>
  Result<Json> run(std::string_view op, Access access, Body&& body);
  Error db_error(std::string_view op, ErrorKind kind, const std::string& message) const;
  bool sqlite() const { return dialect_.dialect == Dialect::SQLite; }
  const char* for_update() const { return sqlite() ? "" : " FOR UPDATE"; }

  Result<Json> save_workflow(Ctx& c, const Json& a);
  Result<Json> get_workflow(Ctx& c, const Json& a);
  Result<Json> create_execution(Ctx& c, const Json& a);
  Result<Json> write_create(Ctx& c, const CreateArgs& a);
  // The insert of create_execution inside the caller's transaction (also used by commit's spawn
  // and fire_schedule): an existing idempotency key of the owner returns that execution with
  // existed = true. `op` names the operation in errors.
  struct Created {
    store::ExecutionRecord rec;
    bool existed = false;
  };
  Result<Created> insert_execution(Ctx& c, const CreateArgs& a, std::string_view op);
  Result<Json> get_execution(Ctx& c, const Json& a);
  Result<Json> list_executions(Ctx& c, const Json& a);
  Result<Json> claim_execution(Ctx& c, const Json& a);
  Result<Json> heartbeat(Ctx& c, const Json& a);
  Result<Json> list_leased(Ctx& c, const Json& a);
  Result<Json> expire_lease(Ctx& c, const Json& a);
  Result<Json> commit(Ctx& c, const Json& a);
  Result<Json> write_commit(Ctx& c, const CommitArgs& cm);
  Result<Json> node_runs(Ctx& c, const Json& a);
  Result<Json> node_logs(Ctx& c, const Json& a);
  Result<Json> events(Ctx& c, const Json& a);
  Result<Json> request_cancel(Ctx& c, const Json& a);
  Result<Json> set_paused(Ctx& c, const Json& a);
  Result<Json> load_plugin_states(Ctx& c, const Json& a);
  Result<Json> save_plugin_state(Ctx& c, const Json& a);
  // Schema v5.
  Result<Json> list_workflows(Ctx& c, const Json& a);
  Result<Json> list_workflow_versions(Ctx& c, const Json& a);
  Result<Json> delete_workflow(Ctx& c, const Json& a);
  Result<Json> set_webhook_routes(Ctx& c, const Json& a);
  Result<Json> find_webhook_route(Ctx& c, const Json& a);
  Result<Json> list_webhook_routes(Ctx& c, const Json& a);
  Result<Json> create_user(Ctx& c, const Json& a);
  Result<Json> get_user(Ctx& c, const Json& a);
  Result<Json> find_user_by_email(Ctx& c, const Json& a);
  Result<Json> list_users(Ctx& c, const Json& a);
  Result<Json> count_users(Ctx& c, const Json& a);
  Result<Json> update_user(Ctx& c, const Json& a);
  Result<Json> create_session(Ctx& c, const Json& a);
  Result<Json> get_session(Ctx& c, const Json& a);
  Result<Json> rotate_session(Ctx& c, const Json& a);
  Result<Json> revoke_session(Ctx& c, const Json& a);
  Result<Json> revoke_user_sessions(Ctx& c, const Json& a);
  Result<Json> create_api_key(Ctx& c, const Json& a);
  Result<Json> find_api_key(Ctx& c, const Json& a);
  Result<Json> get_api_key(Ctx& c, const Json& a);
  Result<Json> list_api_keys(Ctx& c, const Json& a);
  Result<Json> update_api_key(Ctx& c, const Json& a);
  Result<Json> count_executions_by_status(Ctx& c, const Json& a);
  // Schema v6.
  Result<Json> create_credential(Ctx& c, const Json& a);
  Result<Json> get_credential(Ctx& c, const Json& a);
  Result<Json> list_credentials(Ctx& c, const Json& a);
  Result<Json> update_credential(Ctx& c, const Json& a);
  Result<Json> delete_credential(Ctx& c, const Json& a);
  Result<Json> list_credentials_to_rekey(Ctx& c, const Json& a);
  Result<Json> rekey_credential(Ctx& c, const Json& a);
  Result<Json> credential_key_version_range(Ctx& c, const Json& a);
  Result<Json> put_vault_key_check(Ctx& c, const Json& a);
  Result<Json> vault_key_checks(Ctx& c, const Json& a);
  Result<Json> append_audit(Ctx& c, const Json& a);
  Result<Json> list_audit(Ctx& c, const Json& a);
  // Schema v7.
  Result<Json> create_custom_node(Ctx& c, const Json& a);
  Result<Json> get_custom_node(Ctx& c, const Json& a);
  Result<Json> list_custom_nodes(Ctx& c, const Json& a);
  Result<Json> list_custom_node_versions(Ctx& c, const Json& a);
  Result<Json> delete_custom_node(Ctx& c, const Json& a);
  // Schema v8.
  Result<Json> get_human_request(Ctx& c, const Json& a);
  Result<Json> list_human_requests(Ctx& c, const Json& a);
  Result<Json> respond_human_request(Ctx& c, const Json& a);
  Result<Json> expire_human_request(Ctx& c, const Json& a);
  Result<Json> create_schedule(Ctx& c, const Json& a);
  Result<Json> get_schedule(Ctx& c, const Json& a);
  Result<Json> list_schedules(Ctx& c, const Json& a);
  Result<Json> update_schedule(Ctx& c, const Json& a);
  Result<Json> delete_schedule(Ctx& c, const Json& a);
  Result<Json> due_schedules(Ctx& c, const Json& a);
  Result<Json> fire_schedule(Ctx& c, const Json& a);
  // The human-request part of a commit (schema v8), after the fenced update, inside its
  // transaction: inserts cm.requests, marks cm.consumed_requests, cancels open requests when the
  // update finishes the execution, wakes a parking execution that has an unconsumed answer.
  Status commit_human_requests(Ctx& c, const CommitArgs& cm, long long now);
  // Closes the open requests of an execution as "cancelled" (it ended).
  void cancel_open_requests(Ctx& c, const std::string& execution_id, long long now);

  // Locks version 1 of a workflow — every workflow has one — for the rest of the transaction
  // (PostgreSQL: FOR UPDATE when `exclusive`, else FOR SHARE; SQLite write transactions are
  // exclusive already), so deleting a workflow and saving it or setting its routes happen one
  // after the other. Returns the owner, or nullopt when the workflow does not exist.
  std::optional<std::string> lock_workflow(Ctx& c, const std::string& id, bool exclusive);
  bool workflow_deleted(Ctx& c, const std::string& id);

  const DialectSupport& dialect_;
  StoreOptions options_;
  std::string where_;  // "SQLite store var/weft.db" / "PostgreSQL store weft@host:5432/db"
  std::unique_ptr<ConnectionPool> pool_;
  std::mutex write_mu_;  // SQLite only, see above
};

}  // namespace weft::storage
