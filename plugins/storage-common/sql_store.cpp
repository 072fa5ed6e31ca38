#include "plugins/storage-common/sql_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "host/core/call.hpp"
#include "host/core/ids.hpp"
#include "host/store/records.hpp"
#include "plugins/storage-common/migrations.hpp"
#include "plugins/storage-common/urls.hpp"

// A note on PostgreSQL LISTEN/NOTIFY: workers poll claim_execution today. The wake-up hook goes
// where an execution becomes runnable — create_execution (queued), commit (status queued/parked
// with a wake time, or a released lease), set_paused(false) and expire_lease — as a
// `NOTIFY weft_runnable` in the same transaction, plus a LISTEN connection outside the pool that
// the host can wait on. Not implemented yet.

namespace weft::storage {

using store::ExecStatus;
using store::ExecutionRecord;

namespace {

constexpr long long kNoLimit = std::numeric_limits<long long>::max();

// Reads the arguments of one operation, remembering the first problem.
class Args {
 public:
  explicit Args(const Json& a) : a_(a) {}
  std::string str(const char* key) {
    const Json* v = a_.find(key);
    if (!v || v->is_null()) return {};
    if (!v->is_string()) {
      fail(key, "a string", *v);
      return {};
    }
    return v->as_string();
  }
  std::string required(const char* key) {
    std::string s = str(key);
    if (s.empty() && error_.empty()) error_ = std::string("argument '") + key + "' is required";
    return s;
  }
  long long i64(const char* key, long long fallback = 0) {
    const Json* v = a_.find(key);
    if (!v || v->is_null()) return fallback;
    if (!v->is_int()) {
      fail(key, "an integer", *v);
      return fallback;
    }
    return v->as_int();
  }
  bool boolean(const char* key) {
    const Json* v = a_.find(key);
    if (!v || v->is_null()) return false;
    if (!v->is_bool()) {
      fail(key, "a boolean", *v);
      return false;
    }
    return v->as_bool();
  }
  template <typename T>
  T record(const char* key) {
    T out;
    if (!error_.empty()) return out;
    const Json* v = key ? a_.find(key) : &a_;
    if (!v) return out;
    Status s = store::from_json(*v, out);
    if (!s.ok()) error_ = s.error().message;
    return out;
  }
  // An array of records; absent or null = empty.
  template <typename T>
  std::vector<T> list(const char* key) {
    std::vector<T> out;
    if (!error_.empty()) return out;
    const Json* v = a_.find(key);
    if (!v) return out;
    Status s = store::from_json_array(*v, out, key);
    if (!s.ok()) error_ = std::string("argument '") + key + "': " + s.error().message;
    return out;
  }
  bool ok() const { return error_.empty(); }
  Error error(std::string_view op) const {
    return Error("invalid_argument", std::string(op) + ": " + error_);
  }

 private:
  void fail(const char* key, const char* what, const Json& got) {
    if (error_.empty()) error_ = std::string("argument '") + key + "' must be " + what + ", got " + got.type_name();
  }
  const Json& a_;
  std::string error_;
};

Result<Json> parse_stored(const std::string& text, std::string_view what) {
  if (text.empty()) return Json();
  auto parsed = Json::parse(text, store::storage_json_limits());
  if (!parsed.ok()) {
    return Error("storage_error", std::string(what) + " holds invalid JSON: " + parsed.error().message);
  }
  return std::move(parsed).value();
}

Json object_of(std::initializer_list<std::pair<const char*, Json>> members) {
  Json j = Json::object();
  for (const auto& [k, v] : members) j.set(k, v);
  return j;
}

// ---- executions rows ---------------------------------------------------------------------------

constexpr const char* kExecColumns =
    "id, workflow_id, workflow_version, owner_id, status, definition, input, output, error,"
    " idempotency_key, mode, created_at, started_at, finished_at, updated_at, wake_at,"
    " deadline_at, lease_owner, lease_epoch, lease_expires_at, cancel_requested,"
    " pause_requested, last_event_seq";

struct ExecRow {
  std::string id, workflow_id, owner_id, status, definition, input, output, error,
      idempotency_key, mode, lease_owner;
  long long workflow_version = 0, created_at = 0, started_at = 0, finished_at = 0, updated_at = 0,
            wake_at = 0, deadline_at = 0, lease_epoch = 0, lease_expires_at = 0,
            cancel_requested = 0, pause_requested = 0, last_event_seq = 0;

  // Into-targets in kExecColumns order.
  void bind(Stmt& st) {
    st.into(id).into(workflow_id).into(workflow_version).into(owner_id).into(status);
    st.into(definition).into(input).into(output).into(error).into(idempotency_key).into(mode);
    st.into(created_at).into(started_at).into(finished_at).into(updated_at).into(wake_at);
    st.into(deadline_at).into(lease_owner).into(lease_epoch).into(lease_expires_at);
    st.into(cancel_requested).into(pause_requested).into(last_event_seq);
  }

  Result<ExecutionRecord> record() const {
    ExecutionRecord r;
    const std::string what = "execution '" + id + "'";
    auto st = store::exec_status_from(status);
    if (!st) return Error("storage_error", what + " has an unknown status '" + status + "'");
    auto def = parse_stored(definition, what + " definition");
    if (!def.ok()) return def.take_error();
    auto in = parse_stored(input, what + " input");
    if (!in.ok()) return in.take_error();
    auto out = parse_stored(output, what + " output");
    if (!out.ok()) return out.take_error();
    auto err = parse_stored(error, what + " error");
    if (!err.ok()) return err.take_error();
    r.id = id;
    r.workflow_id = workflow_id;
    r.workflow_version = workflow_version;
    r.owner_id = owner_id;
    r.status = *st;
    r.definition = std::move(def).value();
    r.input = std::move(in).value();
    r.output = std::move(out).value();
    r.error = std::move(err).value();
    r.idempotency_key = idempotency_key;
    r.mode = mode;
    r.created_at_ms = created_at;
    r.started_at_ms = started_at;
    r.finished_at_ms = finished_at;
    r.updated_at_ms = updated_at;
    r.wake_at_ms = wake_at;
    r.deadline_at_ms = deadline_at;
    r.lease.owner = lease_owner;
    r.lease.epoch = lease_epoch;
    r.lease_expires_at_ms = lease_expires_at;
    r.cancel_requested = cancel_requested != 0;
    r.pause_requested = pause_requested != 0;
    r.last_event_seq = last_event_seq;
    return r;
  }
};

// Runs a prepared SELECT of kExecColumns and collects every row.
Result<std::vector<ExecutionRecord>> fetch_executions(Stmt& st, ExecRow& row) {
  std::vector<ExecutionRecord> out;
  if (!st.run()) return out;
  do {
    auto rec = row.record();
    if (!rec.ok()) return rec.take_error();
    out.push_back(std::move(rec).value());
  } while (st.next());
  return out;
}

// One execution by id; nullopt when absent.
Result<std::optional<ExecutionRecord>> read_execution(soci::session& s, StatementCache* statements,
                                                      const std::string& id, const char* suffix = "") {
  ExecRow row;
  Stmt st(s, statements);
  st.sql(std::string("SELECT ") + kExecColumns + " FROM executions WHERE id = :id" + suffix).use(id);
  row.bind(st);
  if (!st.run()) return std::optional<ExecutionRecord>();
  auto rec = row.record();
  if (!rec.ok()) return rec.take_error();
  return std::optional<ExecutionRecord>(std::move(rec).value());
}

Error execution_not_found(const std::string& id) {
  return Error("not_found", "execution '" + id + "' not found");
}

Error workflow_not_found(const std::string& id) {
  return Error("not_found", "workflow '" + id + "' not found");
}

Json executions_json(const std::vector<ExecutionRecord>& list) {
  return object_of({{"executions", store::to_json_array(list)}});
}

bool valid_identifier(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

Result<StoreOptions> read_options(const DialectSupport& d, const Json& o) {
  StoreOptions opts;
  if (o.is_null()) return opts;
  if (!o.is_object()) {
    return Error("invalid_argument", std::string(d.display_name) + " store options must be a JSON object");
  }
  const bool sqlite = d.dialect == Dialect::SQLite;
  const char* known = sqlite ? "pool_size, busy_timeout_ms, synchronous"
                             : "pool_size, schema, connect_timeout_s, reconnect_attempts";
  auto bad = [&](const std::string& key, const std::string& why) {
    return Error("invalid_argument", std::string(d.display_name) + " store option '" + key + "' " + why);
  };
  auto int_in = [&](const std::string& key, const Json& v, long long lo, long long hi) -> Result<long long> {
    if (!v.is_int() || v.as_int() < lo || v.as_int() > hi) {
      return bad(key, "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    }
    return static_cast<long long>(v.as_int());
  };
  for (const auto& [key, v] : o.as_object()) {
    if (key == "pool_size") {
      auto n = int_in(key, v, 1, 64);
      if (!n.ok()) return n.take_error();
      opts.pool_size = static_cast<size_t>(*n);
    } else if (key == "test_fail_migration") {
      auto n = int_in(key, v, 0, 1000000);
      if (!n.ok()) return n.take_error();
      opts.fail_at_migration = static_cast<int>(*n);
    } else if (sqlite && key == "busy_timeout_ms") {
      auto n = int_in(key, v, 0, 3600000);
      if (!n.ok()) return n.take_error();
      opts.busy_timeout_ms = static_cast<int>(*n);
    } else if (sqlite && key == "synchronous") {
      std::string s = v.as_string();
      if (s != "normal" && s != "full") return bad(key, "must be \"normal\" or \"full\"");
      opts.synchronous_full = s == "full";
    } else if (!sqlite && key == "schema") {
      if (!v.is_string() || !valid_identifier(v.as_string())) {
        return bad(key, "must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*, at most 63 characters)");
      }
      opts.pg_schema = v.as_string();
    } else if (!sqlite && key == "connect_timeout_s") {
      auto n = int_in(key, v, 0, 3600);
      if (!n.ok()) return n.take_error();
      opts.connect_timeout_s = static_cast<int>(*n);
    } else if (!sqlite && key == "reconnect_attempts") {
      auto n = int_in(key, v, 1, 100);
      if (!n.ok()) return n.take_error();
      opts.reconnect_attempts = static_cast<int>(*n);
    } else {
      return Error("invalid_argument", std::string("unknown ") + d.display_name + " store option '" +
                                           key + "' (known: " + known + ")");
    }
  }
  return opts;
}

}  // namespace

// ---- open / close ------------------------------------------------------------------------------

SqlStore::SqlStore(const DialectSupport& dialect, StoreOptions options, std::string where)
    : dialect_(dialect), options_(std::move(options)), where_(std::move(where)) {}

SqlStore::~SqlStore() = default;

Result<std::unique_ptr<SqlStore>> SqlStore::open(const DialectSupport& d, std::string_view url,
                                                 const Json& options_json) {
  auto options = read_options(d, options_json);
  if (!options.ok()) return options.take_error();
  StoreOptions opts = std::move(options).value();

  std::string connect;
  std::string where;
  ConnectionPool::Setup setup;
  if (d.dialect == Dialect::SQLite) {
    auto target = parse_sqlite_url(url);
    if (!target.ok()) return target.take_error();
    if (target->memory) {
      // A private in-memory database lives in its one connection: a pool of one.
      opts.pool_size = 1;
      connect = "db=:memory:";
      where = "SQLite store :memory:";
    } else {
      std::error_code ec;
      std::filesystem::path parent = std::filesystem::path(target->path).parent_path();
      if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
        // The data directory holds everything (executions, account data, webhook secrets):
        // owner-only, like the database file below.
        std::filesystem::create_directories(parent, ec);
        if (!ec) std::filesystem::permissions(parent, std::filesystem::perms::owner_all, ec);
      }
      if (ec) {
        return Error("storage_error", "SQLite store " + target->path + ": cannot create directory " +
                                          parent.string() + ": " + ec.message());
      }
      // The database file is owner-only (0600); SQLite gives its -wal/-shm files the same mode.
      // An existing file is tightened (other local users and sandboxed code must not read it).
      {
        int fd = ::open(target->path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
          struct stat st {};
          if (::fstat(fd, &st) == 0 && st.st_uid == ::geteuid() && (st.st_mode & 077) != 0)
            (void)::fchmod(fd, st.st_mode & 0700);
          ::close(fd);
        }
        for (const char* suffix : {"-wal", "-shm"}) {
          std::string side = target->path + suffix;
          struct stat st {};
          if (::lstat(side.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
              (st.st_mode & 077) != 0)
            (void)::chmod(side.c_str(), st.st_mode & 0700);
        }
      }
      connect = "db=\"" + target->path + "\"";
      where = "SQLite store " + target->path;
    }
    const bool memory = target->memory;
    const std::string busy = std::to_string(opts.busy_timeout_ms);
    const bool full = opts.synchronous_full;
    // PRAGMA values cannot be bound; these come from validated integers and fixed words.
    const int busy_ms = opts.busy_timeout_ms;
    const DialectSupport* dialect = &d;
    setup = [memory, busy, busy_ms, full, dialect](soci::session& s) {
      s << "PRAGMA busy_timeout = " + busy;
      s << "PRAGMA foreign_keys = ON";
      // WAL: readers never block the writer. synchronous=NORMAL in WAL mode survives process
      // crashes (kill -9) but may lose the last commits on power loss; "full" syncs each commit.
      s << (full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
      if (!memory) {
        // Switching a new database to WAL takes an exclusive lock without going through the
        // busy handler: when several processes open the same new database at once, one of them
        // may find it locked for a moment. Retry for as long as busy_timeout allows.
        std::string mode;
        for (int waited_ms = 0;; waited_ms += 10) {
          try {
            s << "PRAGMA journal_mode = WAL", soci::into(mode);
            break;
          } catch (const soci::soci_error& e) {
            if (dialect->classify(e) != ErrorKind::Busy || waited_ms >= busy_ms) throw;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        // A checkpoint copies the WAL into the database and syncs both files, in the thread of
        // the commit that crosses the threshold. Every executed node commits, so with SQLite's
        // default of 1000 pages (4 MB) a busy worker checkpoints every few seconds; 10000 pages
        // (40 MB with 4 KB pages) makes that ten times rarer and lets repeated writes of the same
        // pages (the execution row, the current leaf pages) be copied once. Durability is
        // unchanged: a commit is in the WAL either way.
        s << "PRAGMA wal_autocheckpoint = 10000";
      }
    };
  } else {
    auto target = parse_postgres_url(url, opts.connect_timeout_s);
    if (!target.ok()) return target.take_error();
    connect = target->conninfo;
    where = "PostgreSQL store " + target->display;
    std::string set_path;
    if (!opts.pg_schema.empty()) {
      where += " (schema " + opts.pg_schema + ")";
      // Validated identifier (read_options): safe to quote into the statement.
      set_path = "SET search_path TO \"" + opts.pg_schema + "\"";
    }
    setup = [set_path](soci::session& s) {
      // libpq prints server NOTICEs (e.g. "relation already exists, skipping" from the idempotent
      // migration bookkeeping) on stderr; keep the host's output clean.
      s << "SET client_min_messages TO warning";
      if (!set_path.empty()) s << set_path;
    };
  }

  std::unique_ptr<SqlStore> store(new SqlStore(d, opts, where));
  try {
    store->pool_ = std::make_unique<ConnectionPool>(d, opts.pool_size, connect, setup);
  } catch (const std::exception& e) {
    // Opening failed: for PostgreSQL the server is unreachable or refused us; for SQLite the file
    // cannot be opened.
    if (d.dialect == Dialect::PostgreSQL) {
      return Error("unavailable", where + ": cannot connect: " + e.what());
    }
    return Error("storage_error", where + ": cannot open: " + e.what());
  }

  MigrateOptions mo;
  mo.pg_schema = opts.pg_schema;
  mo.fail_at_version = opts.fail_at_migration;
  Status migrated;
  {
    std::unique_lock<std::mutex> lock(store->write_mu_);
    ConnectionPool::Lease lease(*store->pool_);
    try {
      migrated = migrate(lease.session(), d, mo);
    } catch (const soci::soci_error& e) {
      ErrorKind kind = d.classify(e);
      return store->db_error("migrate", kind, e.what());
    } catch (const std::exception& e) {
      return store->db_error("migrate", ErrorKind::Other, e.what());
    }
  }
  if (!migrated.ok()) {
    Error e = migrated.take_error();
    e.message = where + ": " + e.message;
    return e;
  }
  return store;
}

// ---- dispatch ----------------------------------------------------------------------------------

const SqlStore::OpEntry SqlStore::kOps[] = {
    {store::op::kSaveWorkflow, Access::Write, &SqlStore::save_workflow},
    {store::op::kGetWorkflow, Access::Read, &SqlStore::get_workflow},
    {store::op::kCreateExecution, Access::Write, &SqlStore::create_execution},
    {store::op::kGetExecution, Access::Read, &SqlStore::get_execution},
    {store::op::kListExecutions, Access::Read, &SqlStore::list_executions},
    {store::op::kClaimExecution, Access::Write, &SqlStore::claim_execution},
    {store::op::kHeartbeat, Access::Idempotent, &SqlStore::heartbeat},
    {store::op::kListLeased, Access::Read, &SqlStore::list_leased},
    {store::op::kExpireLease, Access::Idempotent, &SqlStore::expire_lease},
    {store::op::kCommit, Access::Write, &SqlStore::commit},
    {store::op::kNodeRuns, Access::Read, &SqlStore::node_runs},
    {store::op::kNodeLogs, Access::Read, &SqlStore::node_logs},
    {store::op::kEvents, Access::Read, &SqlStore::events},
    {store::op::kRequestCancel, Access::Write, &SqlStore::request_cancel},
    {store::op::kSetPaused, Access::Idempotent, &SqlStore::set_paused},
    {store::op::kLoadPluginStates, Access::Read, &SqlStore::load_plugin_states},
    {store::op::kSavePluginState, Access::Idempotent, &SqlStore::save_plugin_state},
    {store::op::kListWorkflows, Access::Read, &SqlStore::list_workflows},
    {store::op::kListWorkflowVersions, Access::Read, &SqlStore::list_workflow_versions},
    {store::op::kDeleteWorkflow, Access::Write, &SqlStore::delete_workflow},
    {store::op::kSetWebhookRoutes, Access::Idempotent, &SqlStore::set_webhook_routes},
    {store::op::kFindWebhookRoute, Access::Read, &SqlStore::find_webhook_route},
    {store::op::kListWebhookRoutes, Access::Read, &SqlStore::list_webhook_routes},
    {store::op::kCreateUser, Access::Write, &SqlStore::create_user},
    {store::op::kGetUser, Access::Read, &SqlStore::get_user},
    {store::op::kFindUserByEmail, Access::Read, &SqlStore::find_user_by_email},
    {store::op::kListUsers, Access::Read, &SqlStore::list_users},
    {store::op::kCountUsers, Access::Read, &SqlStore::count_users},
    {store::op::kUpdateUser, Access::Idempotent, &SqlStore::update_user},
    {store::op::kCreateSession, Access::Write, &SqlStore::create_session},
    {store::op::kGetSession, Access::Read, &SqlStore::get_session},
    {store::op::kRotateSession, Access::Write, &SqlStore::rotate_session},
    {store::op::kRevokeSession, Access::Idempotent, &SqlStore::revoke_session},
    {store::op::kRevokeUserSessions, Access::Idempotent, &SqlStore::revoke_user_sessions},
    {store::op::kCreateApiKey, Access::Write, &SqlStore::create_api_key},
    {store::op::kFindApiKey, Access::Read, &SqlStore::find_api_key},
    {store::op::kGetApiKey, Access::Read, &SqlStore::get_api_key},
    {store::op::kListApiKeys, Access::Read, &SqlStore::list_api_keys},
    {store::op::kUpdateApiKey, Access::Idempotent, &SqlStore::update_api_key},
    {store::op::kCountExecutionsByStatus, Access::Read, &SqlStore::count_executions_by_status},
    {store::op::kCreateCredential, Access::Write, &SqlStore::create_credential},
    {store::op::kGetCredential, Access::Read, &SqlStore::get_credential},
    {store::op::kListCredentials, Access::Read, &SqlStore::list_credentials},
    {store::op::kUpdateCredential, Access::Write, &SqlStore::update_credential},
    {store::op::kDeleteCredential, Access::Write, &SqlStore::delete_credential},
    {store::op::kListCredentialsToRekey, Access::Read, &SqlStore::list_credentials_to_rekey},
    {store::op::kRekeyCredential, Access::Write, &SqlStore::rekey_credential},
    {store::op::kCredentialKeyVersionRange, Access::Read, &SqlStore::credential_key_version_range},
    {store::op::kPutVaultKeyCheck, Access::Write, &SqlStore::put_vault_key_check},
    {store::op::kVaultKeyChecks, Access::Read, &SqlStore::vault_key_checks},
    {store::op::kAppendAudit, Access::Write, &SqlStore::append_audit},
    {store::op::kListAudit, Access::Read, &SqlStore::list_audit},
    {store::op::kCreateCustomNode, Access::Write, &SqlStore::create_custom_node},
    {store::op::kGetCustomNode, Access::Read, &SqlStore::get_custom_node},
    {store::op::kListCustomNodes, Access::Read, &SqlStore::list_custom_nodes},
    {store::op::kListCustomNodeVersions, Access::Read, &SqlStore::list_custom_node_versions},
    {store::op::kDeleteCustomNode, Access::Write, &SqlStore::delete_custom_node},
    {store::op::kGetHumanRequest, Access::Read, &SqlStore::get_human_request},
    {store::op::kListHumanRequests, Access::Read, &SqlStore::list_human_requests},
    {store::op::kRespondHumanRequest, Access::Write, &SqlStore::respond_human_request},
    {store::op::kExpireHumanRequest, Access::Idempotent, &SqlStore::expire_human_request},
    {store::op::kCreateSchedule, Access::Write, &SqlStore::create_schedule},
    {store::op::kGetSchedule, Access::Read, &SqlStore::get_schedule},
    {store::op::kListSchedules, Access::Read, &SqlStore::list_schedules},
    {store::op::kUpdateSchedule, Access::Write, &SqlStore::update_schedule},
    {store::op::kDeleteSchedule, Access::Write, &SqlStore::delete_schedule},
    {store::op::kDueSchedules, Access::Read, &SqlStore::due_schedules},
    {store::op::kFireSchedule, Access::Write, &SqlStore::fire_schedule},
};

Error SqlStore::db_error(std::string_view op, ErrorKind kind, const std::string& message) const {
  const std::string prefix = where_ + ": " + std::string(op) + ": ";
  switch (kind) {
    case ErrorKind::Connection:
      return Error("unavailable", prefix + "the database cannot be reached: " + message);
    case ErrorKind::Busy:
      return Error("storage_error", prefix + "the database is locked by another process: " + message);
    case ErrorKind::UniqueViolation:
      return Error("conflict", prefix + message);
    case ErrorKind::Retry:
    case ErrorKind::Other:
      break;
  }
  return Error("storage_error", prefix + message);
}

template <typename Body>
Result<Json> SqlStore::run(std::string_view op, Access access, Body&& body) {
  const bool write = access != Access::Read;
  const int max_attempts = sqlite() ? 1 : options_.reconnect_attempts;
  constexpr int kMaxRollbackRetries = 5;
  int rollback_retries = 0;
  for (int attempt = 1;; ++attempt) {
    ErrorKind kind = ErrorKind::Other;
    std::string message;
    bool commit_sent = false;
    {
      std::unique_lock<std::mutex> lock(write_mu_, std::defer_lock);
      if (write && sqlite()) lock.lock();
      ConnectionPool::Lease lease(*pool_);
      Ctx c;
      try {
        c.s = &lease.session();
        c.statements = lease.statements();
        return body(c);
      } catch (const ConnectionDown& e) {
        kind = ErrorKind::Connection;
        message = e.what();
      } catch (const soci::soci_error& e) {
        kind = dialect_.classify(e);
        message = e.what();
      } catch (const std::exception& e) {
        message = e.what();
      }
      commit_sent = c.commit_sent;
      if (kind == ErrorKind::Connection) lease.reconnect_quietly();
    }
    if (kind == ErrorKind::Connection) {
      // Safe to repeat unless a COMMIT was in flight (then it may have been applied).
      const bool repeatable = access != Access::Write || !commit_sent;
      if (repeatable && attempt < max_attempts) {
        const int delay_ms = std::min(50 << std::min(attempt - 1, 10), 1000);
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        continue;
      }
      if (!repeatable) message += " (the connection dropped during COMMIT: the outcome is unknown)";
    } else if (kind == ErrorKind::Retry && rollback_retries++ < kMaxRollbackRetries) {
      --attempt;  // the server rolled back a healthy transaction: run it again at once
      continue;
    }
    return db_error(op, kind, message);
  }
}

Result<Json> SqlStore::call(std::string_view op, const Json& args) {
  for (const OpEntry& e : kOps) {
    if (e.name == op) {
      if (!args.is_object()) {
        return Error("invalid_argument", std::string(op) + ": arguments must be a JSON object, got " +
                                             args.type_name());
      }
      return run(op, e.access, [this, fn = e.fn, &args](Ctx& c) { return (this->*fn)(c, args); });
    }
  }
  return Error("unsupported", std::string(dialect_.display_name) + " storage backend has no operation '" +
                                  std::string(op) + "'");
}

std::optional<Result<Json>> SqlStore::call_text(std::string_view op, std::string_view args_text) {
  if (op == store::op::kCommit) {
    CommitArgs cm;
    if (!decode_commit_args(args_text, cm)) return std::nullopt;
    return run(op, Access::Write, [this, &cm](Ctx& c) { return write_commit(c, cm); });
  }
  if (op == store::op::kCreateExecution) {
    CreateArgs ca;
    if (!decode_create_args(args_text, ca)) return std::nullopt;
    return run(op, Access::Write, [this, &ca](Ctx& c) { return write_create(c, ca); });
  }
  return std::nullopt;
}

// ---- workflows ---------------------------------------------------------------------------------

Result<Json> SqlStore::save_workflow(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string id = args.str("id");
  std::string name = args.str("name");
  if (!args.ok()) return args.error("save_workflow");
  const Json& definition = a["definition"];
  std::string definition_text = store::to_json_text(definition);
  const bool fresh = id.empty();
  if (fresh) id = new_id();

  soci::session& s = *c.s;
  // version = max + 1 inside the transaction. Two concurrent saves of the same workflow on
  // PostgreSQL can both compute the same number: the loser's INSERT does nothing (primary key)
  // and it tries again with a fresh maximum.
  for (int attempt = 0; attempt < 20; ++attempt) {
    Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
    if (!fresh) {
      // A shared lock: concurrent saves proceed together, a concurrent delete_workflow goes
      // before or after (and then this save sees the deletion).
      std::optional<std::string> existing_owner = lock_workflow(c, id, /*exclusive=*/false);
      if (existing_owner && (*existing_owner != owner || workflow_deleted(c, id))) {
        return workflow_not_found(id);
      }
    }
    long long version = 0;
    Stmt max(s, c.statements);
    max.sql("SELECT COALESCE(MAX(version), 0) FROM workflows WHERE id = :id").use(id).into(version);
    max.run();
    ++version;
    long long now = wall_ms();
    Stmt ins(s, c.statements);
    ins.sql("INSERT INTO workflows (id, version, owner_id, name, definition, created_at)"
            " VALUES (:id, :v, :o, :n, :d, :t) ON CONFLICT DO NOTHING")
        .use(id).use(version).use(owner).use(name).use(definition_text).use(now);
    ins.run();
    if (ins.affected() != 1) continue;  // Tx rolls back; next attempt sees the winner
    tx.commit();
    store::WorkflowRecord rec;
    rec.id = id;
    rec.version = version;
    rec.owner_id = owner;
    rec.name = name;
    rec.definition = definition;
    rec.created_at_ms = now;
    return object_of({{"workflow", store::to_json(rec)}});
  }
  return Error("conflict", "workflow '" + id + "': too many concurrent saves, try again");
}

Result<Json> SqlStore::get_workflow(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string id = args.required("id");
  long long version = args.i64("version", 0);
  if (!args.ok()) return args.error("get_workflow");
  store::WorkflowRecord rec;
  std::string definition;
  long long got_version = 0, created = 0;
  Stmt st(*c.s, c.statements);
  st.sql("SELECT version, name, definition, created_at FROM workflows WHERE id = :id AND owner_id = :o"
         " AND NOT EXISTS (SELECT 1 FROM workflow_deletions d WHERE d.id = workflows.id)")
      .use(id).use(owner);
  if (version > 0) st.sql(" AND version = :v").use(version);
  st.sql(" ORDER BY version DESC LIMIT 1");
  st.into(got_version).into(rec.name).into(definition).into(created);
  if (!st.run()) {
    return Error("not_found", "workflow '" + id + "'" +
                                  (version > 0 ? " version " + std::to_string(version) : std::string()) +
                                  " not found");
  }
  auto def = parse_stored(definition, "workflow '" + id + "' definition");
  if (!def.ok()) return def.take_error();
  rec.id = id;
  rec.version = got_version;
  rec.owner_id = owner;
  rec.definition = std::move(def).value();
  rec.created_at_ms = created;
  return object_of({{"workflow", store::to_json(rec)}});
}

// ---- executions --------------------------------------------------------------------------------

Result<Json> SqlStore::create_execution(Ctx& c, const Json& a) {
  Args args(a);
  auto ne = args.record<store::NewExecution>(nullptr);
  const bool omit = args.boolean("omit_sent_documents");
  if (!args.ok()) return args.error("create_execution");
  return write_create(c, to_create_args(std::move(ne), omit));
}

Result<Json> SqlStore::write_create(Ctx& c, const CreateArgs& a) {
  Tx tx(*c.s, dialect_.dialect, true, &c.commit_sent, c.statements);
  auto created = insert_execution(c, a, "create_execution");
  if (!created.ok()) return created.take_error();
  tx.commit();
  if (created->existed) return object_of({{"execution", store::to_json(created->rec)}, {"existed", true}});
  Json out = store::to_json(created->rec);
  if (a.omit_sent_documents) {
    // The caller has them (and a decoded-from-text request never had them as values).
    out.erase("definition");
    out.erase("input");
  }
  return object_of({{"execution", std::move(out)}, {"existed", false}});
}

Result<SqlStore::Created> SqlStore::insert_execution(Ctx& c, const CreateArgs& a, std::string_view op) {
  store::NewExecution ne = a.ne;
  if (ne.mode.empty()) ne.mode = "async";
  if (!ne.claim_owner.empty() && ne.lease_ms <= 0) {
    return Error("invalid_argument", std::string(op) + ": lease_ms must be positive with claim_owner");
  }
  if (ne.id.empty()) ne.id = new_id();

  ExecutionRecord rec;
  rec.id = ne.id;
  rec.workflow_id = ne.workflow_id;
  rec.workflow_version = ne.workflow_version;
  rec.owner_id = ne.owner_id;
  rec.definition = ne.definition;
  rec.input = ne.input;
  rec.idempotency_key = ne.idempotency_key;
  rec.mode = ne.mode;
  rec.created_at_ms = rec.updated_at_ms = wall_ms();
  rec.deadline_at_ms = ne.deadline_at_ms;
  if (!ne.claim_owner.empty()) {
    // Synchronous runs execute in the caller's thread: born claimed.
    rec.status = ExecStatus::Running;
    rec.lease.owner = ne.claim_owner;
    rec.lease.epoch = 1;
    rec.lease_expires_at_ms = rec.created_at_ms + ne.lease_ms;
  }

  soci::session& s = *c.s;
  auto existing_by_key = [&]() -> Result<std::optional<ExecutionRecord>> {
    ExecRow row;
    Stmt st(s, c.statements);
    st.sql(std::string("SELECT ") + kExecColumns +
           " FROM executions WHERE owner_id = :o AND idempotency_key = :k")
        .use(rec.owner_id).use(rec.idempotency_key);
    row.bind(st);
    if (!st.run()) return std::optional<ExecutionRecord>();
    auto r = row.record();
    if (!r.ok()) return r.take_error();
    return std::optional<ExecutionRecord>(std::move(r).value());
  };

  if (!rec.idempotency_key.empty()) {
    auto found = existing_by_key();
    if (!found.ok()) return found.take_error();
    if (*found) return Created{std::move(**found), true};
  }

  Stmt ins(s, c.statements);
  ins.sql(std::string("INSERT INTO executions (") + kExecColumns +
          ") VALUES (:id, :wf, :wv, :o, :st, :def, :in, :out, :err, :key, :mode, :ca, :sa, :fa,"
          " :ua, :wa, :da, :lo, :le, :lx, :cr, :pr, :seq) ON CONFLICT DO NOTHING");
  ins.use(rec.id).use(rec.workflow_id).use(static_cast<long long>(rec.workflow_version));
  ins.use(rec.owner_id).use(std::string(store::to_string(rec.status)));
  ins.use(a.definition).use(a.input).use(store::to_json_text(rec.output)).use(store::to_json_text(rec.error));
  ins.use(rec.idempotency_key).use(rec.mode);
  ins.use(static_cast<long long>(rec.created_at_ms)).use(0LL).use(0LL);
  ins.use(static_cast<long long>(rec.updated_at_ms)).use(0LL);
  ins.use(static_cast<long long>(rec.deadline_at_ms)).use(rec.lease.owner);
  ins.use(static_cast<long long>(rec.lease.epoch)).use(static_cast<long long>(rec.lease_expires_at_ms));
  ins.use(0LL).use(0LL).use(0LL);
  ins.run();
  if (ins.affected() != 1) {
    // A unique index said no: either a concurrent create with the same idempotency key won the
    // race (return it), or the id is taken.
    if (!rec.idempotency_key.empty()) {
      auto found = existing_by_key();
      if (!found.ok()) return found.take_error();
      if (*found) return Created{std::move(**found), true};
    }
    return Error("conflict", "execution '" + rec.id + "' already exists");
  }
  return Created{std::move(rec), false};
}

Result<Json> SqlStore::get_execution(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("id");
  if (!args.ok()) return args.error("get_execution");
  auto found = read_execution(*c.s, c.statements, id);
  if (!found.ok()) return found.take_error();
  if (!*found) return execution_not_found(id);
  return object_of({{"execution", store::to_json(**found)}});
}

Result<Json> SqlStore::list_executions(Ctx& c, const Json& a) {
  Args args(a);
  auto f = args.record<store::ExecutionFilter>(nullptr);
  if (!args.ok()) return args.error("list_executions");
  long long limit = f.limit <= 0 ? 50 : std::min<long long>(f.limit, 1000);
  soci::session& s = *c.s;

  // Newest first; the cursor is (created_at, id) of the before_id execution, so pages neither
  // skip nor repeat rows created in the same millisecond.
  long long cursor_created = 0;
  if (!f.before_id.empty()) {
    Stmt cur(s, c.statements);
    cur.sql("SELECT created_at FROM executions WHERE id = :id AND owner_id = :o")
        .use(f.before_id).use(f.owner_id).into(cursor_created);
    if (!cur.run()) return Error("not_found", "list cursor: execution '" + f.before_id + "' not found");
  }
  ExecRow row;
  Stmt st(s, c.statements);
  st.sql(std::string("SELECT ") + kExecColumns + " FROM executions WHERE owner_id = :o").use(f.owner_id);
  if (!f.workflow_id.empty()) st.sql(" AND workflow_id = :wf").use(f.workflow_id);
  if (f.status) st.sql(" AND status = :st").use(std::string(store::to_string(*f.status)));
  if (!f.before_id.empty()) {
    st.sql(" AND (created_at < :c1 OR (created_at = :c2 AND id < :b))")
        .use(cursor_created).use(cursor_created).use(f.before_id);
  }
  st.sql(" ORDER BY created_at DESC, id DESC LIMIT :l").use(limit);
  row.bind(st);
  auto list = fetch_executions(st, row);
  if (!list.ok()) return list.take_error();
  return executions_json(*list);
}

// ---- the queue ---------------------------------------------------------------------------------

Result<Json> SqlStore::claim_execution(Ctx& c, const Json& a) {
  Args args(a);
  std::string worker = args.required("worker");
  long long lease_ms = args.i64("lease_ms", 0);
  long long now = args.i64("now_ms", 0);
  if (!args.ok()) return args.error("claim_execution");
  if (lease_ms <= 0) return Error("invalid_argument", "claim_execution: lease_ms must be positive");
  if (now <= 0) now = wall_ms();

  soci::session& s = *c.s;
  // SQLite: BEGIN IMMEDIATE makes select-then-update exclusive. PostgreSQL: FOR UPDATE SKIP LOCKED
  // lets concurrent claimers pass over rows another claimer is taking instead of queueing on them.
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  std::string id;
  Stmt pick(s, c.statements);
  pick.sql("SELECT id FROM executions WHERE"
           " (status = 'queued' AND pause_requested = 0)"
           " OR (status = 'running' AND lease_expires_at < :now1)"
           " OR (status = 'parked' AND pause_requested = 0 AND wake_at > 0 AND wake_at <= :now2)"
           // Cancelled while its worker was parking it: runnable now, so a worker finishes it as
           // cancelled instead of it waiting for its timer (or forever, for a human).
           " OR (status = 'parked' AND cancel_requested = 1)"
           " ORDER BY created_at, id LIMIT 1")
      .use(now).use(now);
  if (!sqlite()) pick.sql(" FOR UPDATE SKIP LOCKED");
  pick.into(id);
  if (!pick.run()) {
    tx.commit();
    return object_of({{"execution", Json()}});
  }
  long long expires = now + lease_ms;
  Stmt up(s, c.statements);
  up.sql("UPDATE executions SET status = 'running', lease_owner = :w, lease_epoch = lease_epoch + 1,"
         " lease_expires_at = :x, updated_at = :u WHERE id = :id")
      .use(worker).use(expires).use(now).use(id);
  up.run();
  auto rec = read_execution(s, c.statements, id);
  if (!rec.ok()) return rec.take_error();
  if (!*rec) return Error("storage_error", "claimed execution '" + id + "' vanished");
  tx.commit();
  return object_of({{"execution", store::to_json(**rec)}});
}

Result<Json> SqlStore::heartbeat(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("execution_id");
  auto lease = args.record<store::Lease>("lease");
  long long lease_ms = args.i64("lease_ms", 0);
  long long now = args.i64("now_ms", 0);
  if (!args.ok()) return args.error("heartbeat");
  if (lease_ms <= 0) return Error("invalid_argument", "heartbeat: lease_ms must be positive");
  if (now <= 0) now = wall_ms();
  long long expires = now + lease_ms;
  long long epoch = lease.epoch;
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  Stmt up(s, c.statements);
  up.sql("UPDATE executions SET lease_expires_at = :x, updated_at = :u WHERE id = :id"
         " AND status = 'running' AND lease_owner <> '' AND lease_owner = :o AND lease_epoch = :e")
      .use(expires).use(now).use(id).use(lease.owner).use(epoch);
  up.run();
  if (up.affected() != 1) {
    return Error("lease_lost", "execution '" + id + "': lease of " + lease.owner + " (epoch " +
                                   std::to_string(epoch) + ") is no longer held");
  }
  tx.commit();
  return Json::object();
}

Result<Json> SqlStore::list_leased(Ctx& c, const Json&) {
  ExecRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kExecColumns +
         " FROM executions WHERE status = 'running' AND lease_owner <> '' ORDER BY created_at, id");
  row.bind(st);
  auto list = fetch_executions(st, row);
  if (!list.ok()) return list.take_error();
  return executions_json(*list);
}

Result<Json> SqlStore::expire_lease(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("execution_id");
  auto lease = args.record<store::Lease>("lease");
  if (!args.ok()) return args.error("expire_lease");
  long long epoch = lease.epoch;
  long long now = wall_ms();
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  Stmt up(s, c.statements);
  up.sql("UPDATE executions SET lease_expires_at = 0, updated_at = :u WHERE id = :id"
         " AND status = 'running' AND lease_owner <> '' AND lease_owner = :o AND lease_epoch = :e")
      .use(now).use(id).use(lease.owner).use(epoch);
  up.run();
  if (up.affected() != 1) {
    // Nothing to expire: the lease already changed hands (fine) — unless there is no such row.
    auto found = read_execution(s, c.statements, id);
    if (!found.ok()) return found.take_error();
    if (!*found) return execution_not_found(id);
  }
  tx.commit();
  return Json::object();
}

// ---- the durable step --------------------------------------------------------------------------

Result<Json> SqlStore::commit(Ctx& c, const Json& a) {
  Args args(a);
  auto cm = args.record<store::Commit>(nullptr);
  if (!args.ok()) return args.error("commit");
  return write_commit(c, to_commit_args(cm));
}

Result<Json> SqlStore::write_commit(Ctx& c, const CommitArgs& cm) {
  if (cm.execution_id.empty()) return Error("invalid_argument", "commit: execution_id is required");
  const std::string& id = cm.execution_id;
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  const long long now = wall_ms();

  // The fence and the execution row's update are one statement: it only matches while the lease
  // is still held and the events continue the stream. Whatever else differs (no such execution,
  // the lease changed hands, an event gap) is sorted out below, off the common path. The UPDATE
  // also locks the row (PostgreSQL; SQLite holds the write lock already) before anything else is
  // written. Only the columns the update sets are named (values bound, column names fixed).
  bool consecutive = true;
  for (size_t i = 1; i < cm.events.size(); ++i) {
    if (cm.events[i].seq != cm.events[0].seq + static_cast<long long>(i)) consecutive = false;
  }
  bool fenced = false;
  if (!cm.lease.owner.empty() && consecutive) {
    Stmt up(s, c.statements);
    up.sql("UPDATE executions SET updated_at = :u").use(now);
    if (!cm.events.empty()) up.sql(", last_event_seq = :seq").use(cm.events.back().seq);
    if (cm.execution) {
      const CommitArgs::Update& u = *cm.execution;
      if (u.status) up.sql(", status = :st").use(std::string(store::to_string(*u.status)));
      if (u.output) up.sql(", output = :o").use(*u.output);
      if (u.error) up.sql(", error = :er").use(*u.error);
      if (u.wake_at_ms) up.sql(", wake_at = :w").use(*u.wake_at_ms);
      if (u.started_at_ms) up.sql(", started_at = :sa").use(*u.started_at_ms);
      if (u.finished_at_ms) up.sql(", finished_at = :fa").use(*u.finished_at_ms);
      if (u.release_lease) up.sql(", lease_owner = '', lease_expires_at = 0");
    }
    up.sql(" WHERE id = :id AND lease_owner = :lo AND lease_epoch = :le").use(id).use(cm.lease.owner);
    up.use(static_cast<long long>(cm.lease.epoch));
    if (!cm.events.empty()) up.sql(" AND last_event_seq = :prev").use(cm.events.front().seq - 1);
    up.run();
    fenced = up.affected() == 1;
  }
  if (!fenced) {
    // Nothing was written: say why.
    std::string owner;
    long long epoch = 0, last_seq = 0;
    Stmt sel(s, c.statements);
    sel.sql(std::string("SELECT lease_owner, lease_epoch, last_event_seq FROM executions WHERE id = :id") +
            for_update())
        .use(id).into(owner).into(epoch).into(last_seq);
    if (!sel.run()) return execution_not_found(id);
    if (cm.lease.owner.empty() || owner != cm.lease.owner || epoch != cm.lease.epoch) {
      return Error("lease_lost", "execution '" + id + "': commit by " + cm.lease.owner + " (epoch " +
                                     std::to_string(cm.lease.epoch) + ") refused, the lease is held by " +
                                     (owner.empty() ? std::string("nobody") : owner) + " (epoch " +
                                     std::to_string(epoch) + ")");
    }
    for (size_t i = 0; i < cm.events.size(); ++i) {
      const long long want = last_seq + 1 + static_cast<long long>(i);
      if (cm.events[i].seq != want) {
        return Error("conflict", "execution '" + id + "': event seq " + std::to_string(cm.events[i].seq) +
                                     " does not continue the stream (expected " + std::to_string(want) +
                                     "; last persisted " + std::to_string(last_seq) + ")");
      }
    }
    // The fenced update matched no row, yet the row matches now: it cannot happen inside one
    // transaction, but if it does, nothing has been written and the caller may try again.
    return Error("storage_error", "execution '" + id + "': commit fence did not match; nothing written");
  }

  for (const auto& r : cm.runs) {
    Stmt ins(s, c.statements);
    ins.sql("INSERT INTO node_runs (execution_id, node_key, node_id, scope, status, attempt,"
            " output, error, park, started_at, finished_at)"
            " VALUES (:e, :k, :n, :sc, :st, :a, :o, :er, :p, :sa, :fa)"
            " ON CONFLICT (execution_id, node_key) DO UPDATE SET node_id = excluded.node_id,"
            " scope = excluded.scope, status = excluded.status, attempt = excluded.attempt,"
            " output = excluded.output, error = excluded.error, park = excluded.park,"
            " started_at = excluded.started_at, finished_at = excluded.finished_at");
    ins.use(id).use(r.node_key).use(r.node_id).use(r.scope).use(r.status).use(r.attempt);
    ins.use(r.output).use(r.error).use(r.park).use(r.started_at_ms).use(r.finished_at_ms);
    ins.run();
  }

  for (const auto& l : cm.logs) {
    Stmt ins(s, c.statements);
    if (sqlite()) {
      // Clustered by (execution_id, id) with a per-execution sequence (migration 4): the next
      // one is found at the end of this execution's range of the primary key.
      ins.sql("INSERT INTO node_logs (execution_id, id, node_key, node_id, attempt, status,"
              " started_at, finished_at, duration_us, input, output, error, lines)"
              " VALUES (:e, (SELECT COALESCE(MAX(id), 0) + 1 FROM node_logs WHERE execution_id = :e2),"
              " :k, :n, :a, :st, :sa, :fa, :du, :i, :o, :er, :l)");
      ins.use(id);
    } else {
      ins.sql("INSERT INTO node_logs (execution_id, node_key, node_id, attempt, status,"
              " started_at, finished_at, duration_us, input, output, error, lines)"
              " VALUES (:e, :k, :n, :a, :st, :sa, :fa, :du, :i, :o, :er, :l)");
    }
    ins.use(id).use(l.node_key).use(l.node_id).use(l.attempt).use(l.status).use(l.started_at_ms);
    ins.use(l.finished_at_ms).use(l.duration_us).use(l.input).use(l.output).use(l.error).use(l.lines);
    ins.run();
  }

  for (const auto& e : cm.events) {
    Stmt ins(s, c.statements);
    ins.sql("INSERT INTO events (execution_id, seq, type, data, ts) VALUES (:e, :s, :t, :d, :ts)");
    ins.use(id).use(e.seq).use(e.type).use(e.data).use(e.ts_ms > 0 ? e.ts_ms : now);
    ins.run();
  }

  // Schema v8. Only commits that create or consume requests, or change the execution's status,
  // have anything to do here; a plain step commit issues no statement.
  const bool status_change = cm.execution && cm.execution->status &&
                             (store::is_final(*cm.execution->status) || *cm.execution->status == ExecStatus::Parked);
  if (!cm.requests.empty() || !cm.consumed_requests.empty() || status_change) {
    Status hs = commit_human_requests(c, cm, now);
    if (!hs.ok()) return hs.take_error();
  }
  if (cm.spawn) {
    // An existing idempotency key of the owner: that execution stands, nothing is created.
    auto spawned = insert_execution(c, to_create_args(*cm.spawn, false), "commit (spawn)");
    if (!spawned.ok()) return spawned.take_error();
  }

  tx.commit();
  return Json::object();
}

Result<Json> SqlStore::node_runs(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("execution_id");
  if (!args.ok()) return args.error("node_runs");
  store::NodeRunRecord r;
  std::string output, error, park;
  long long attempt = 0, started = 0, finished = 0;
  Stmt st(*c.s, c.statements);
  st.sql("SELECT node_key, node_id, scope, status, attempt, output, error, park, started_at, finished_at"
         " FROM node_runs WHERE execution_id = :id ORDER BY started_at, node_key")
      .use(id);
  st.into(r.node_key).into(r.node_id).into(r.scope).into(r.status).into(attempt);
  st.into(output).into(error).into(park).into(started).into(finished);
  std::vector<store::NodeRunRecord> runs;
  if (st.run()) {
    do {
      const std::string what = "node run " + id + "/" + r.node_key;
      auto o = parse_stored(output, what + " output");
      if (!o.ok()) return o.take_error();
      auto e = parse_stored(error, what + " error");
      if (!e.ok()) return e.take_error();
      auto p = parse_stored(park, what + " park");
      if (!p.ok()) return p.take_error();
      store::NodeRunRecord out = r;
      out.execution_id = id;
      out.attempt = attempt;
      out.output = std::move(o).value();
      out.error = std::move(e).value();
      out.park = std::move(p).value();
      out.started_at_ms = started;
      out.finished_at_ms = finished;
      runs.push_back(std::move(out));
    } while (st.next());
  }
  return object_of({{"runs", store::to_json_array(runs)}});
}

Result<Json> SqlStore::node_logs(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("execution_id");
  if (!args.ok()) return args.error("node_logs");
  store::NodeLogRecord l;
  std::string input, output, error;
  long long attempt = 0, started = 0, finished = 0, duration = 0;
  Stmt st(*c.s, c.statements);
  st.sql("SELECT node_key, node_id, attempt, status, started_at, finished_at, duration_us, input,"
         " output, error, lines FROM node_logs WHERE execution_id = :id ORDER BY id")
      .use(id);
  st.into(l.node_key).into(l.node_id).into(attempt).into(l.status).into(started).into(finished);
  st.into(duration).into(input).into(output).into(error).into(l.lines);
  std::vector<store::NodeLogRecord> logs;
  if (st.run()) {
    do {
      const std::string what = "node log " + id + "/" + l.node_key;
      auto i = parse_stored(input, what + " input");
      if (!i.ok()) return i.take_error();
      auto o = parse_stored(output, what + " output");
      if (!o.ok()) return o.take_error();
      auto e = parse_stored(error, what + " error");
      if (!e.ok()) return e.take_error();
      store::NodeLogRecord out = l;
      out.execution_id = id;
      out.attempt = attempt;
      out.started_at_ms = started;
      out.finished_at_ms = finished;
      out.duration_us = duration;
      out.input = std::move(i).value();
      out.output = std::move(o).value();
      out.error = std::move(e).value();
      logs.push_back(std::move(out));
    } while (st.next());
  }
  return object_of({{"logs", store::to_json_array(logs)}});
}

Result<Json> SqlStore::events(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("execution_id");
  long long after = args.i64("after_seq", 0);
  long long limit = args.i64("limit", 0);
  if (!args.ok()) return args.error("events");
  if (limit <= 0) limit = kNoLimit;
  store::EventRecord e;
  std::string data;
  long long seq = 0, ts = 0;
  Stmt st(*c.s, c.statements);
  st.sql("SELECT seq, type, data, ts FROM events WHERE execution_id = :id AND seq > :a"
         " ORDER BY seq LIMIT :l")
      .use(id).use(after).use(limit);
  st.into(seq).into(e.type).into(data).into(ts);
  std::vector<store::EventRecord> list;
  if (st.run()) {
    do {
      auto d = parse_stored(data, "event " + id + "#" + std::to_string(seq) + " data");
      if (!d.ok()) return d.take_error();
      store::EventRecord out = e;
      out.execution_id = id;
      out.seq = seq;
      out.data = std::move(d).value();
      out.ts_ms = ts;
      list.push_back(std::move(out));
    } while (st.next());
  }
  return object_of({{"events", store::to_json_array(list)}});
}

// ---- control -----------------------------------------------------------------------------------

Result<Json> SqlStore::request_cancel(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("execution_id");
  if (!args.ok()) return args.error("request_cancel");
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  std::string status_text;
  long long last_seq = 0;
  Stmt sel(s, c.statements);
  sel.sql(std::string("SELECT status, last_event_seq FROM executions WHERE id = :id") + for_update())
      .use(id).into(status_text).into(last_seq);
  if (!sel.run()) return execution_not_found(id);
  auto status = store::exec_status_from(status_text);
  if (!status) return Error("storage_error", "execution '" + id + "' has an unknown status '" + status_text + "'");
  if (store::is_final(*status)) {
    return Error("conflict", "execution '" + id + "' already finished (" + status_text + ")");
  }
  long long now = wall_ms();
  if (*status == ExecStatus::Running) {
    // Its worker sees the flag at the next step boundary (or the next claimer does, if the
    // worker died) and finishes it as cancelled.
    Stmt up(s, c.statements);
    up.sql("UPDATE executions SET cancel_requested = 1, updated_at = :u WHERE id = :id").use(now).use(id);
    up.run();
  } else {
    // Nobody runs it (queued, parked, paused): finish it here, with the closing event.
    long long seq = last_seq + 1;
    std::string type = "workflow_done";
    std::string data = store::to_json_text(object_of({{"status", "cancelled"}}));
    Stmt up(s, c.statements);
    up.sql("UPDATE executions SET status = 'cancelled', cancel_requested = 1, finished_at = :f,"
           " updated_at = :u, last_event_seq = :seq, lease_owner = '', lease_expires_at = 0"
           " WHERE id = :id")
        .use(now).use(now).use(seq).use(id);
    up.run();
    Stmt ins(s, c.statements);
    ins.sql("INSERT INTO events (execution_id, seq, type, data, ts) VALUES (:e, :s, :t, :d, :ts)")
        .use(id).use(seq).use(type).use(data).use(now);
    ins.run();
    // Its questions are moot now (schema v8).
    cancel_open_requests(c, id, now);
  }
  tx.commit();
  return Json::object();
}

Result<Json> SqlStore::set_paused(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("execution_id");
  bool paused = args.boolean("paused");
  if (!args.ok()) return args.error("set_paused");
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  std::string status_text;
  long long last_seq = 0;
  Stmt sel(s, c.statements);
  sel.sql(std::string("SELECT status, last_event_seq FROM executions WHERE id = :id") + for_update())
      .use(id)
      .into(status_text)
      .into(last_seq);
  if (!sel.run()) return execution_not_found(id);
  auto status = store::exec_status_from(status_text);
  if (status && store::is_final(*status)) {
    return Error("conflict", "execution '" + id + "' already finished (" + status_text + ")");
  }
  long long flag = paused ? 1 : 0;
  long long now = wall_ms();
  if (paused && (status == ExecStatus::Queued || status == ExecStatus::Parked)) {
    // Nobody runs it: it is paused right here, with its event. Resuming queues it; the claimer
    // rebuilds its state, and a node still waiting (timer or human) parks again.
    long long seq = last_seq + 1;
    std::string type = "execution_paused";
    std::string data = store::to_json_text(object_of({{"from", status_text}}));
    Stmt up(s, c.statements);
    up.sql("UPDATE executions SET pause_requested = 1, status = 'paused', updated_at = :u, last_event_seq = :seq,"
           " lease_owner = '', lease_expires_at = 0 WHERE id = :id")
        .use(now).use(seq).use(id);
    up.run();
    Stmt ins(s, c.statements);
    ins.sql("INSERT INTO events (execution_id, seq, type, data, ts) VALUES (:e, :s, :t, :d, :ts)")
        .use(id).use(seq).use(type).use(data).use(now);
    ins.run();
    tx.commit();
    return Json::object();
  }
  // Resuming an execution its worker parked as "paused" puts it back in the queue; the claimer
  // rebuilds its state from the committed node runs.
  std::string new_status = !paused && status == ExecStatus::Paused ? "queued" : status_text;
  Stmt up(s, c.statements);
  up.sql("UPDATE executions SET pause_requested = :p, status = :st, updated_at = :u WHERE id = :id")
      .use(flag).use(new_status).use(now).use(id);
  up.run();
  tx.commit();
  return Json::object();
}

// ---- plugin states -----------------------------------------------------------------------------

Result<Json> SqlStore::load_plugin_states(Ctx& c, const Json&) {
  std::string name;
  long long enabled = 0;
  Stmt st(*c.s, c.statements);
  st.sql("SELECT name, enabled FROM plugin_states ORDER BY name");
  st.into(name).into(enabled);
  Json states = Json::object();
  if (st.run()) {
    do {
      states.set(name, enabled != 0);
    } while (st.next());
  }
  return object_of({{"states", states}});
}

Result<Json> SqlStore::save_plugin_state(Ctx& c, const Json& a) {
  Args args(a);
  std::string name = args.required("name");
  long long enabled = args.boolean("enabled") ? 1 : 0;
  if (!args.ok()) return args.error("save_plugin_state");
  long long now = wall_ms();
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  Stmt up(s, c.statements);
  up.sql("INSERT INTO plugin_states (name, enabled, updated_at) VALUES (:n, :e, :u)"
         " ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at")
      .use(name).use(enabled).use(now);
  up.run();
  tx.commit();
  return Json::object();
}

// ---- schema v5: rows ----------------------------------------------------------------------------

namespace {

// Emails compare case-insensitively: the store keeps them lower-cased (ASCII letters; other bytes,
// UTF-8 included, as they are).
std::string lower_ascii(std::string s) {
  for (char& ch : s) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return s;
}

long long page_limit(long long limit) { return limit <= 0 ? 50 : std::min<long long>(limit, 1000); }

constexpr const char* kUserColumns =
    "id, email, password_hash, role, tier, disabled, created_at, updated_at";

struct UserRow {
  store::UserRecord r;
  long long disabled = 0, created_at = 0, updated_at = 0;

  void bind(Stmt& st) {
    st.into(r.id).into(r.email).into(r.password_hash).into(r.role).into(r.tier);
    st.into(disabled).into(created_at).into(updated_at);
  }
  store::UserRecord record() const {
    store::UserRecord out = r;
    out.disabled = disabled != 0;
    out.created_at_ms = created_at;
    out.updated_at_ms = updated_at;
    return out;
  }
};

constexpr const char* kSessionColumns =
    "id, user_id, refresh_hash, previous_hash, created_at, expires_at, revoked_at, refreshed_at";

struct SessionRow {
  store::SessionRecord r;
  long long created_at = 0, expires_at = 0, revoked_at = 0, refreshed_at = 0;

  void bind(Stmt& st) {
    st.into(r.id).into(r.user_id).into(r.refresh_hash).into(r.previous_hash);
    st.into(created_at).into(expires_at).into(revoked_at).into(refreshed_at);
  }
  store::SessionRecord record() const {
    store::SessionRecord out = r;
    out.created_at_ms = created_at;
    out.expires_at_ms = expires_at;
    out.revoked_at_ms = revoked_at;
    out.refreshed_at_ms = refreshed_at;
    return out;
  }
};

constexpr const char* kApiKeyColumns =
    "id, user_id, name, prefix, hash, scopes, created_at, expires_at, revoked_at, last_used_at,"
    " replaced_by";

struct ApiKeyRow {
  store::ApiKeyRecord r;
  std::string scopes;
  long long created_at = 0, expires_at = 0, revoked_at = 0, last_used_at = 0;

  void bind(Stmt& st) {
    st.into(r.id).into(r.user_id).into(r.name).into(r.prefix).into(r.hash).into(scopes);
    st.into(created_at).into(expires_at).into(revoked_at).into(last_used_at).into(r.replaced_by);
  }
  Result<store::ApiKeyRecord> record() const {
    const std::string what = "API key '" + r.id + "' scopes";
    auto parsed = parse_stored(scopes, what);
    if (!parsed.ok()) return parsed.take_error();
    store::ApiKeyRecord out = r;
    out.scopes.clear();
    if (!parsed->is_array() && !parsed->is_null()) {
      return Error("storage_error", what + " are not a JSON array");
    }
    for (const Json& s : parsed->as_array()) {
      if (!s.is_string()) return Error("storage_error", what + " hold a non-string");
      out.scopes.push_back(s.as_string());
    }
    out.created_at_ms = created_at;
    out.expires_at_ms = expires_at;
    out.revoked_at_ms = revoked_at;
    out.last_used_at_ms = last_used_at;
    return out;
  }
};

std::string scopes_text(const std::vector<std::string>& scopes) {
  Json::Array a;
  a.reserve(scopes.size());
  for (const std::string& s : scopes) a.emplace_back(s);
  return store::to_json_text(Json(std::move(a)));
}

constexpr const char* kRouteColumns = "path, workflow_id, owner_id, node_id, method, auth, created_at";

struct RouteRow {
  store::WebhookRoute r;
  long long created_at = 0;

  void bind(Stmt& st) {
    st.into(r.path).into(r.workflow_id).into(r.owner_id).into(r.node_id).into(r.method).into(r.auth);
    st.into(created_at);
  }
  store::WebhookRoute record() const {
    store::WebhookRoute out = r;
    out.created_at_ms = created_at;
    return out;
  }
};

// Runs a prepared SELECT bound to `row` and collects every row's record.
template <typename Row>
std::vector<decltype(std::declval<const Row&>().record())> fetch_rows(Stmt& st, Row& row) {
  std::vector<decltype(row.record())> out;
  if (!st.run()) return out;
  do {
    out.push_back(row.record());
  } while (st.next());
  return out;
}

Error user_not_found(const std::string& id) { return Error("not_found", "user '" + id + "' not found"); }
Error session_not_found(const std::string& id) {
  return Error("not_found", "session '" + id + "' not found");
}
Error api_key_not_found(const std::string& id) {
  return Error("not_found", "API key '" + id + "' not found");
}

}  // namespace

// ---- workflows: locking, listing, deletion -----------------------------------------------------

std::optional<std::string> SqlStore::lock_workflow(Ctx& c, const std::string& id, bool exclusive) {
  std::string owner;
  Stmt sel(*c.s, c.statements);
  sel.sql("SELECT owner_id FROM workflows WHERE id = :id AND version = 1");
  if (!sqlite()) sel.sql(exclusive ? " FOR UPDATE" : " FOR SHARE");
  sel.use(id).into(owner);
  if (!sel.run()) return std::nullopt;
  return owner;
}

bool SqlStore::workflow_deleted(Ctx& c, const std::string& id) {
  long long one = 0;
  Stmt sel(*c.s, c.statements);
  sel.sql("SELECT 1 FROM workflow_deletions WHERE id = :id").use(id).into(one);
  return sel.run();
}

Result<Json> SqlStore::list_workflows(Ctx& c, const Json& a) {
  Args args(a);
  auto f = args.record<store::WorkflowFilter>(nullptr);
  if (!args.ok()) return args.error("list_workflows");
  const long long limit = page_limit(f.limit);
  // The page is chosen over the (owner_id, id) index before joining the two versions it shows:
  // the latest (name, updated) and version 1 (created).
  store::WorkflowSummary w;
  long long latest = 0, created = 0, updated = 0;
  Stmt st(*c.s, c.statements);
  st.sql("SELECT m.id, w.name, m.latest, v1.created_at, w.created_at FROM"
         " (SELECT id, MAX(version) AS latest FROM workflows WHERE owner_id = :o AND id > :a"
         " AND NOT EXISTS (SELECT 1 FROM workflow_deletions d WHERE d.id = workflows.id)"
         " GROUP BY id ORDER BY id LIMIT :l) m"
         " JOIN workflows w ON w.id = m.id AND w.version = m.latest"
         " JOIN workflows v1 ON v1.id = m.id AND v1.version = 1"
         " ORDER BY m.id")
      .use(f.owner_id).use(f.after_id).use(limit);
  st.into(w.id).into(w.name).into(latest).into(created).into(updated);
  std::vector<store::WorkflowSummary> list;
  if (st.run()) {
    do {
      store::WorkflowSummary out = w;
      out.owner_id = f.owner_id;
      out.latest_version = latest;
      out.created_at_ms = created;
      out.updated_at_ms = updated;
      list.push_back(std::move(out));
    } while (st.next());
  }
  return object_of({{"workflows", store::to_json_array(list)}});
}

Result<Json> SqlStore::list_workflow_versions(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string id = args.required("id");
  if (!args.ok()) return args.error("list_workflow_versions");
  store::WorkflowRecord w;
  std::string definition;
  long long version = 0, created = 0;
  Stmt st(*c.s, c.statements);
  st.sql("SELECT version, name, definition, created_at FROM workflows WHERE id = :id AND owner_id = :o"
         " AND NOT EXISTS (SELECT 1 FROM workflow_deletions d WHERE d.id = workflows.id)"
         " ORDER BY version")
      .use(id).use(owner);
  st.into(version).into(w.name).into(definition).into(created);
  std::vector<store::WorkflowRecord> list;
  if (st.run()) {
    do {
      auto def = parse_stored(definition, "workflow '" + id + "' version " + std::to_string(version) +
                                              " definition");
      if (!def.ok()) return def.take_error();
      store::WorkflowRecord out = w;
      out.id = id;
      out.version = version;
      out.owner_id = owner;
      out.definition = std::move(def).value();
      out.created_at_ms = created;
      list.push_back(std::move(out));
    } while (st.next());
  }
  if (list.empty()) return workflow_not_found(id);
  return object_of({{"workflows", store::to_json_array(list)}});
}

Result<Json> SqlStore::delete_workflow(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string id = args.required("id");
  if (!args.ok()) return args.error("delete_workflow");
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  std::optional<std::string> existing_owner = lock_workflow(c, id, /*exclusive=*/true);
  if (!existing_owner || *existing_owner != owner || workflow_deleted(c, id)) {
    return workflow_not_found(id);
  }
  long long now = wall_ms();
  Stmt ins(s, c.statements);
  ins.sql("INSERT INTO workflow_deletions (id, owner_id, deleted_at) VALUES (:id, :o, :t)")
      .use(id).use(owner).use(now);
  ins.run();
  Stmt del(s, c.statements);
  del.sql("DELETE FROM webhook_routes WHERE workflow_id = :id").use(id);
  del.run();
  tx.commit();
  return Json::object();
}

// ---- webhook routes ----------------------------------------------------------------------------

Result<Json> SqlStore::set_webhook_routes(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string workflow_id = args.required("workflow_id");
  auto routes = args.list<store::WebhookRoute>("routes");
  if (!args.ok()) return args.error("set_webhook_routes");
  std::set<std::string> paths;
  for (auto& r : routes) {
    if (r.path.empty()) return Error("invalid_argument", "set_webhook_routes: a route has an empty path");
    if (!paths.insert(r.path).second) {
      return Error("invalid_argument", "set_webhook_routes: path '" + r.path + "' is given twice");
    }
    if (r.method.empty()) r.method = "POST";
  }

  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  std::optional<std::string> existing_owner = lock_workflow(c, workflow_id, /*exclusive=*/true);
  if (!existing_owner || *existing_owner != owner || workflow_deleted(c, workflow_id)) {
    return workflow_not_found(workflow_id);
  }
  // A path the workflow keeps keeps its creation time.
  std::map<std::string, long long> kept;
  {
    std::string path;
    long long created = 0;
    Stmt sel(s, c.statements);
    sel.sql("SELECT path, created_at FROM webhook_routes WHERE workflow_id = :wf")
        .use(workflow_id).into(path).into(created);
    if (sel.run()) {
      do {
        kept[path] = created;
      } while (sel.next());
    }
  }
  Stmt del(s, c.statements);
  del.sql("DELETE FROM webhook_routes WHERE workflow_id = :wf").use(workflow_id);
  del.run();
  const long long now = wall_ms();
  for (const auto& r : routes) {
    auto old = kept.find(r.path);
    Stmt ins(s, c.statements);
    ins.sql(std::string("INSERT INTO webhook_routes (") + kRouteColumns +
            ") VALUES (:p, :wf, :o, :n, :m, :au, :t) ON CONFLICT DO NOTHING");
    ins.use(r.path).use(workflow_id).use(owner).use(r.node_id).use(r.method).use(r.auth);
    ins.use(old != kept.end() ? old->second : now);
    ins.run();
    if (ins.affected() != 1) {
      // Another workflow's route (this one's were deleted above). The Tx rolls everything back.
      return Error("conflict", "webhook path '" + r.path + "' is already used by another workflow");
    }
  }
  tx.commit();
  return Json::object();
}

Result<Json> SqlStore::find_webhook_route(Ctx& c, const Json& a) {
  Args args(a);
  std::string path = args.required("path");
  if (!args.ok()) return args.error("find_webhook_route");
  RouteRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kRouteColumns + " FROM webhook_routes WHERE path = :p").use(path);
  row.bind(st);
  if (!st.run()) return Error("not_found", "webhook path '" + path + "' not found");
  return object_of({{"route", store::to_json(row.record())}});
}

Result<Json> SqlStore::list_webhook_routes(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string workflow_id = args.str("workflow_id");
  if (!args.ok()) return args.error("list_webhook_routes");
  RouteRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kRouteColumns + " FROM webhook_routes WHERE owner_id = :o").use(owner);
  if (!workflow_id.empty()) st.sql(" AND workflow_id = :wf").use(workflow_id);
  st.sql(" ORDER BY path");
  row.bind(st);
  return object_of({{"routes", store::to_json_array(fetch_rows(st, row))}});
}

// ---- users -------------------------------------------------------------------------------------

Result<Json> SqlStore::create_user(Ctx& c, const Json& a) {
  Args args(a);
  auto u = args.record<store::UserRecord>(nullptr);
  if (!args.ok()) return args.error("create_user");
  u.email = lower_ascii(std::move(u.email));
  if (u.email.empty()) return Error("invalid_argument", "create_user: email is required");
  if (u.id.empty()) u.id = new_id();
  u.created_at_ms = u.updated_at_ms = wall_ms();
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  Stmt ins(s, c.statements);
  ins.sql(std::string("INSERT INTO users (") + kUserColumns +
          ") VALUES (:id, :e, :h, :r, :t, :d, :c, :u) ON CONFLICT DO NOTHING");
  ins.use(u.id).use(u.email).use(u.password_hash).use(u.role).use(u.tier);
  ins.use(static_cast<long long>(u.disabled ? 1 : 0));
  ins.use(static_cast<long long>(u.created_at_ms)).use(static_cast<long long>(u.updated_at_ms));
  ins.run();
  if (ins.affected() != 1) {
    long long one = 0;
    Stmt sel(s, c.statements);
    sel.sql("SELECT 1 FROM users WHERE email = :e").use(u.email).into(one);
    if (sel.run()) return Error("conflict", "email '" + u.email + "' is already registered");
    return Error("conflict", "user '" + u.id + "' already exists");
  }
  tx.commit();
  return object_of({{"user", store::to_json(u)}});
}

Result<Json> SqlStore::get_user(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("id");
  if (!args.ok()) return args.error("get_user");
  UserRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kUserColumns + " FROM users WHERE id = :id").use(id);
  row.bind(st);
  if (!st.run()) return user_not_found(id);
  return object_of({{"user", store::to_json(row.record())}});
}

Result<Json> SqlStore::find_user_by_email(Ctx& c, const Json& a) {
  Args args(a);
  std::string email = lower_ascii(args.required("email"));
  if (!args.ok()) return args.error("find_user_by_email");
  UserRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kUserColumns + " FROM users WHERE email = :e").use(email);
  row.bind(st);
  if (!st.run()) return Error("not_found", "no user with email '" + email + "'");
  return object_of({{"user", store::to_json(row.record())}});
}

Result<Json> SqlStore::list_users(Ctx& c, const Json& a) {
  Args args(a);
  long long limit = page_limit(args.i64("limit", 0));
  std::string after = args.str("after_id");
  if (!args.ok()) return args.error("list_users");
  UserRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kUserColumns + " FROM users WHERE id > :a ORDER BY id LIMIT :l")
      .use(after).use(limit);
  row.bind(st);
  return object_of({{"users", store::to_json_array(fetch_rows(st, row))}});
}

Result<Json> SqlStore::count_users(Ctx& c, const Json&) {
  long long n = 0;
  Stmt st(*c.s, c.statements);
  st.sql("SELECT COUNT(*) FROM users").into(n);
  st.run();
  return object_of({{"count", n}});
}

Result<Json> SqlStore::update_user(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("id");
  auto u = args.record<store::UserUpdate>("update");
  if (!args.ok()) return args.error("update_user");
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  const long long now = wall_ms();
  Stmt up(s, c.statements);
  up.sql("UPDATE users SET updated_at = :u").use(now);
  if (u.password_hash) up.sql(", password_hash = :h").use(*u.password_hash);
  if (u.role) up.sql(", role = :r").use(*u.role);
  if (u.tier) up.sql(", tier = :t").use(*u.tier);
  if (u.disabled) up.sql(", disabled = :d").use(static_cast<long long>(*u.disabled ? 1 : 0));
  up.sql(" WHERE id = :id").use(id);
  up.run();
  if (up.affected() != 1) return user_not_found(id);
  if (u.revoke_sessions) {
    Stmt rev(s, c.statements);
    rev.sql("UPDATE sessions SET revoked_at = :n WHERE user_id = :u AND revoked_at = 0").use(now).use(id);
    rev.run();
  }
  UserRow row;
  Stmt sel(s, c.statements);
  sel.sql(std::string("SELECT ") + kUserColumns + " FROM users WHERE id = :id").use(id);
  row.bind(sel);
  if (!sel.run()) return user_not_found(id);
  store::UserRecord rec = row.record();
  tx.commit();
  return object_of({{"user", store::to_json(rec)}});
}

// ---- sessions ----------------------------------------------------------------------------------

namespace {

bool user_exists(soci::session& s, StatementCache* statements, const std::string& id) {
  long long one = 0;
  Stmt sel(s, statements);
  sel.sql("SELECT 1 FROM users WHERE id = :id").use(id).into(one);
  return sel.run();
}

}  // namespace

Result<Json> SqlStore::create_session(Ctx& c, const Json& a) {
  Args args(a);
  auto r = args.record<store::SessionRecord>(nullptr);
  if (!args.ok()) return args.error("create_session");
  if (r.id.empty() || r.user_id.empty() || r.refresh_hash.empty()) {
    return Error("invalid_argument", "create_session: id, user_id and refresh_hash are required");
  }
  if (r.created_at_ms <= 0) r.created_at_ms = wall_ms();
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  if (!user_exists(s, c.statements, r.user_id)) return user_not_found(r.user_id);
  Stmt ins(s, c.statements);
  ins.sql(std::string("INSERT INTO sessions (") + kSessionColumns +
          ") VALUES (:id, :u, :h, :p, :c, :x, :r, :f) ON CONFLICT DO NOTHING");
  ins.use(r.id).use(r.user_id).use(r.refresh_hash).use(r.previous_hash);
  ins.use(static_cast<long long>(r.created_at_ms)).use(static_cast<long long>(r.expires_at_ms));
  ins.use(static_cast<long long>(r.revoked_at_ms)).use(static_cast<long long>(r.refreshed_at_ms));
  ins.run();
  if (ins.affected() != 1) return Error("conflict", "session '" + r.id + "' already exists");
  tx.commit();
  return Json::object();
}

Result<Json> SqlStore::get_session(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("id");
  if (!args.ok()) return args.error("get_session");
  SessionRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kSessionColumns + " FROM sessions WHERE id = :id").use(id);
  row.bind(st);
  if (!st.run()) return session_not_found(id);
  return object_of({{"session", store::to_json(row.record())}});
}

Result<Json> SqlStore::rotate_session(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("id");
  std::string old_hash = args.required("old_hash");
  std::string new_hash = args.required("new_hash");
  long long expires = args.i64("new_expires_at_ms", 0);
  long long now = args.i64("now_ms", 0);
  if (!args.ok()) return args.error("rotate_session");
  if (now <= 0) now = wall_ms();
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  // The compare-and-swap: one statement, so two refreshes racing with the same token cannot both
  // win (the second finds the hash already changed).
  Stmt up(s, c.statements);
  up.sql("UPDATE sessions SET previous_hash = refresh_hash, refresh_hash = :n, expires_at = :x,"
         " refreshed_at = :t WHERE id = :id AND refresh_hash = :o AND revoked_at = 0 AND expires_at > :t2")
      .use(new_hash).use(expires).use(now).use(id).use(old_hash).use(now);
  up.run();
  if (up.affected() == 1) {
    tx.commit();
    return Json::object();
  }
  // Nothing changed: say why (never quoting hashes).
  std::string current;
  long long revoked = 0, expires_at = 0;
  Stmt sel(s, c.statements);
  sel.sql("SELECT refresh_hash, revoked_at, expires_at FROM sessions WHERE id = :id")
      .use(id).into(current).into(revoked).into(expires_at);
  if (!sel.run()) return session_not_found(id);
  if (revoked != 0) return Error("conflict", "session '" + id + "' is revoked");
  if (expires_at <= now) return Error("conflict", "session '" + id + "' has expired");
  return Error("conflict", "session '" + id + "': the refresh token does not match (already rotated)");
}

Result<Json> SqlStore::revoke_session(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("id");
  long long now = args.i64("now_ms", 0);
  if (!args.ok()) return args.error("revoke_session");
  if (now <= 0) now = wall_ms();
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  Stmt up(s, c.statements);
  up.sql("UPDATE sessions SET revoked_at = :n WHERE id = :id AND revoked_at = 0").use(now).use(id);
  up.run();
  if (up.affected() != 1) {
    // Already revoked (it keeps its first revocation time), or no such session.
    long long one = 0;
    Stmt sel(s, c.statements);
    sel.sql("SELECT 1 FROM sessions WHERE id = :id").use(id).into(one);
    if (!sel.run()) return session_not_found(id);
  }
  tx.commit();
  return Json::object();
}

Result<Json> SqlStore::revoke_user_sessions(Ctx& c, const Json& a) {
  Args args(a);
  std::string user_id = args.required("user_id");
  long long now = args.i64("now_ms", 0);
  if (!args.ok()) return args.error("revoke_user_sessions");
  if (now <= 0) now = wall_ms();
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  Stmt up(s, c.statements);
  up.sql("UPDATE sessions SET revoked_at = :n WHERE user_id = :u AND revoked_at = 0").use(now).use(user_id);
  up.run();
  const long long revoked = up.affected();
  tx.commit();
  return object_of({{"revoked", revoked}});
}

// ---- API keys ----------------------------------------------------------------------------------

Result<Json> SqlStore::create_api_key(Ctx& c, const Json& a) {
  Args args(a);
  auto k = args.record<store::ApiKeyRecord>(nullptr);
  if (!args.ok()) return args.error("create_api_key");
  if (k.id.empty() || k.user_id.empty() || k.prefix.empty() || k.hash.empty()) {
    return Error("invalid_argument", "create_api_key: id, user_id, prefix and hash are required");
  }
  if (k.created_at_ms <= 0) k.created_at_ms = wall_ms();
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  if (!user_exists(s, c.statements, k.user_id)) return user_not_found(k.user_id);
  Stmt ins(s, c.statements);
  ins.sql(std::string("INSERT INTO api_keys (") + kApiKeyColumns +
          ") VALUES (:id, :u, :n, :p, :h, :s, :c, :x, :r, :l, :rb) ON CONFLICT DO NOTHING");
  ins.use(k.id).use(k.user_id).use(k.name).use(k.prefix).use(k.hash).use(scopes_text(k.scopes));
  ins.use(static_cast<long long>(k.created_at_ms)).use(static_cast<long long>(k.expires_at_ms));
  ins.use(static_cast<long long>(k.revoked_at_ms)).use(static_cast<long long>(k.last_used_at_ms));
  ins.use(k.replaced_by);
  ins.run();
  if (ins.affected() != 1) {
    long long one = 0;
    Stmt sel(s, c.statements);
    sel.sql("SELECT 1 FROM api_keys WHERE prefix = :p").use(k.prefix).into(one);
    if (sel.run()) return Error("conflict", "API key prefix '" + k.prefix + "' is already in use");
    return Error("conflict", "API key '" + k.id + "' already exists");
  }
  tx.commit();
  return Json::object();
}

Result<Json> SqlStore::find_api_key(Ctx& c, const Json& a) {
  Args args(a);
  std::string prefix = args.required("prefix");
  if (!args.ok()) return args.error("find_api_key");
  ApiKeyRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kApiKeyColumns + " FROM api_keys WHERE prefix = :p").use(prefix);
  row.bind(st);
  if (!st.run()) return Error("not_found", "no API key with prefix '" + prefix + "'");
  auto rec = row.record();
  if (!rec.ok()) return rec.take_error();
  return object_of({{"api_key", store::to_json(*rec)}});
}

Result<Json> SqlStore::get_api_key(Ctx& c, const Json& a) {
  Args args(a);
  std::string user_id = args.required("user_id");
  std::string id = args.required("id");
  if (!args.ok()) return args.error("get_api_key");
  ApiKeyRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kApiKeyColumns + " FROM api_keys WHERE id = :id AND user_id = :u")
      .use(id).use(user_id);
  row.bind(st);
  if (!st.run()) return api_key_not_found(id);
  auto rec = row.record();
  if (!rec.ok()) return rec.take_error();
  return object_of({{"api_key", store::to_json(*rec)}});
}

Result<Json> SqlStore::list_api_keys(Ctx& c, const Json& a) {
  Args args(a);
  std::string user_id = args.required("user_id");
  if (!args.ok()) return args.error("list_api_keys");
  ApiKeyRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kApiKeyColumns +
         " FROM api_keys WHERE user_id = :u ORDER BY created_at, id")
      .use(user_id);
  row.bind(st);
  Json::Array keys;
  for (auto& rec : fetch_rows(st, row)) {
    if (!rec.ok()) return rec.take_error();
    keys.push_back(store::to_json(*rec));
  }
  return object_of({{"api_keys", Json(std::move(keys))}});
}

Result<Json> SqlStore::update_api_key(Ctx& c, const Json& a) {
  Args args(a);
  std::string user_id = args.required("user_id");
  std::string id = args.required("id");
  auto u = args.record<store::ApiKeyUpdate>("update");
  if (!args.ok()) return args.error("update_api_key");
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  if (!u.expires_at_ms && !u.revoked_at_ms && !u.last_used_at_ms && !u.replaced_by) {
    // Nothing to change; the answer still says whether the key is there.
    long long one = 0;
    Stmt sel(s, c.statements);
    sel.sql("SELECT 1 FROM api_keys WHERE id = :id AND user_id = :u").use(id).use(user_id).into(one);
    if (!sel.run()) return api_key_not_found(id);
    tx.commit();
    return Json::object();
  }
  Stmt up(s, c.statements);
  up.sql("UPDATE api_keys SET ");
  const char* sep = "";
  auto set = [&](const char* assignment) {
    up.sql(sep).sql(assignment);
    sep = ", ";
  };
  if (u.expires_at_ms) {
    set("expires_at = :x");
    up.use(static_cast<long long>(*u.expires_at_ms));
  }
  if (u.revoked_at_ms) {
    set("revoked_at = :r");
    up.use(static_cast<long long>(*u.revoked_at_ms));
  }
  if (u.last_used_at_ms) {
    set("last_used_at = :l");
    up.use(static_cast<long long>(*u.last_used_at_ms));
  }
  if (u.replaced_by) {
    set("replaced_by = :rb");
    up.use(*u.replaced_by);
  }
  up.sql(" WHERE id = :id AND user_id = :u").use(id).use(user_id);
  up.run();
  if (up.affected() != 1) return api_key_not_found(id);
  tx.commit();
  return Json::object();
}

// ---- metrics -----------------------------------------------------------------------------------

Result<Json> SqlStore::count_executions_by_status(Ctx& c, const Json&) {
  std::string status;
  long long n = 0;
  Stmt st(*c.s, c.statements);
  st.sql("SELECT status, COUNT(*) FROM executions GROUP BY status ORDER BY status").into(status).into(n);
  Json counts = Json::object();
  if (st.run()) {
    do {
      counts.set(status, n);
    } while (st.next());
  }
  return object_of({{"counts", counts}});
}

// ---- schema v6: credentials ---------------------------------------------------------------------

namespace {

constexpr const char* kCredentialColumns =
    "id, owner_id, name, type, data, secrets, key_version, created_at, updated_at";

struct CredentialRow {
  store::CredentialRecord r;
  std::string data, secrets;
  long long key_version = 0, created_at = 0, updated_at = 0;

  void bind(Stmt& st) {
    st.into(r.id).into(r.owner_id).into(r.name).into(r.type).into(data).into(secrets);
    st.into(key_version).into(created_at).into(updated_at);
  }
  Result<store::CredentialRecord> record() const {
    const std::string what = "credential '" + r.id + "'";
    auto d = parse_stored(data, what + " data");
    if (!d.ok()) return d.take_error();
    auto sealed = parse_stored(secrets, what + " secrets");
    if (!sealed.ok()) return sealed.take_error();
    store::CredentialRecord out = r;
    out.data = std::move(d).value();
    out.secrets = std::move(sealed).value();
    out.key_version = key_version;
    out.created_at_ms = created_at;
    out.updated_at_ms = updated_at;
    return out;
  }
};

Error credential_not_found(const std::string& id) {
  return Error("not_found", "credential '" + id + "' not found");
}

Error credential_name_taken(const std::string& name) {
  return Error("conflict", "a credential named '" + name + "' already exists");
}

// Checks the parts of a credential the store keeps as given and derives key_version: a non-empty
// sealed map's lowest version (so a row can never claim a newer key than one of its ciphertexts
// uses, which would hide it from rotation), else `fallback`.
Result<long long> checked_credential(std::string_view op, const store::CredentialRecord& r,
                                     long long fallback) {
  if (r.name.empty()) return Error("invalid_argument", std::string(op) + ": the credential name is required");
  if (r.type.empty()) return Error("invalid_argument", std::string(op) + ": the credential type is required");
  if (!r.data.is_object()) {
    return Error("invalid_argument",
                 std::string(op) + ": credential data must be an object, got " + r.data.type_name());
  }
  auto lowest = store::sealed_secrets_min_version(r.secrets);
  if (!lowest.ok()) return Error("invalid_argument", std::string(op) + ": " + lowest.error().message);
  return *lowest > 0 ? *lowest : fallback;
}

// Every write moves updated_at forward — it is the token rekey_credential compares — even when
// two writes fall in the same millisecond or the caller's clock is behind.
long long next_updated_at(long long wanted, long long previous) {
  if (wanted <= 0) wanted = wall_ms();
  return std::max(wanted, previous + 1);
}

Json credentials_json(std::vector<Result<store::CredentialRecord>> rows, Status* failed) {
  Json::Array list;
  list.reserve(rows.size());
  for (auto& rec : rows) {
    if (!rec.ok()) {
      *failed = rec.take_error();
      return Json();
    }
    list.push_back(store::to_json(*rec));
  }
  return object_of({{"credentials", Json(std::move(list))}});
}

}  // namespace

Result<Json> SqlStore::create_credential(Ctx& c, const Json& a) {
  Args args(a);
  auto r = args.record<store::CredentialRecord>(nullptr);
  if (!args.ok()) return args.error("create_credential");
  if (r.data.is_null()) r.data = Json::object();
  auto version = checked_credential("create_credential", r, r.key_version);
  if (!version.ok()) return version.take_error();
  r.key_version = *version;
  if (r.id.empty()) r.id = new_id();
  r.created_at_ms = r.updated_at_ms = wall_ms();
  const std::string key = lower_ascii(r.name);
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  Stmt ins(s, c.statements);
  ins.sql(
      "INSERT INTO credentials (id, owner_id, name, name_key, type, data, secrets, key_version,"
      " created_at, updated_at) VALUES (:id, :o, :n, :k, :t, :d, :s, :v, :c, :u) ON CONFLICT DO NOTHING");
  ins.use(r.id).use(r.owner_id).use(r.name).use(key).use(r.type);
  ins.use(store::to_json_text(r.data)).use(store::to_json_text(r.secrets));
  ins.use(static_cast<long long>(r.key_version)).use(static_cast<long long>(r.created_at_ms));
  ins.use(static_cast<long long>(r.updated_at_ms));
  ins.run();
  if (ins.affected() != 1) {
    long long one = 0;
    Stmt sel(s, c.statements);
    sel.sql("SELECT 1 FROM credentials WHERE owner_id = :o AND name_key = :k")
        .use(r.owner_id)
        .use(key)
        .into(one);
    if (sel.run()) return credential_name_taken(r.name);
    return Error("conflict", "credential '" + r.id + "' already exists");
  }
  tx.commit();
  return object_of({{"credential", store::to_json(r)}});
}

Result<Json> SqlStore::get_credential(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string id = args.required("id");
  if (!args.ok()) return args.error("get_credential");
  CredentialRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kCredentialColumns + " FROM credentials WHERE id = :id AND owner_id = :o")
      .use(id)
      .use(owner);
  row.bind(st);
  if (!st.run()) return credential_not_found(id);
  auto rec = row.record();
  if (!rec.ok()) return rec.take_error();
  return object_of({{"credential", store::to_json(*rec)}});
}

Result<Json> SqlStore::list_credentials(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string type = args.str("type");
  if (!args.ok()) return args.error("list_credentials");
  CredentialRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kCredentialColumns + " FROM credentials WHERE owner_id = :o").use(owner);
  if (!type.empty()) st.sql(" AND type = :t").use(type);
  // name_key compares bytewise in both dialects (see migration 6); names are unique per owner by
  // name_key, the id only breaks ties that cannot occur.
  st.sql(" ORDER BY name_key, id");
  row.bind(st);
  Status failed;
  Json out = credentials_json(fetch_rows(st, row), &failed);
  if (!failed.ok()) return failed.take_error();
  return out;
}

Result<Json> SqlStore::update_credential(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string id = args.required("id");
  auto u = args.record<store::CredentialUpdate>("update");
  if (!args.ok()) return args.error("update_credential");
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  CredentialRow row;
  Stmt sel(s, c.statements);
  sel.sql(std::string("SELECT ") + kCredentialColumns + " FROM credentials WHERE id = :id AND owner_id = :o" +
          for_update())
      .use(id)
      .use(owner);
  row.bind(sel);
  if (!sel.run()) return credential_not_found(id);
  auto current = row.record();
  if (!current.ok()) return current.take_error();
  store::CredentialRecord r = std::move(current).value();
  if (u.name) r.name = *u.name;
  if (u.data) r.data = u.data->is_null() ? Json::object() : *u.data;
  if (u.secrets) r.secrets = *u.secrets;
  auto version = checked_credential("update_credential", r, u.key_version ? *u.key_version : r.key_version);
  if (!version.ok()) return version.take_error();
  r.key_version = *version;
  r.updated_at_ms = next_updated_at(u.updated_at_ms, r.updated_at_ms);
  const std::string key = lower_ascii(r.name);
  if (u.name) {
    long long one = 0;
    Stmt taken(s, c.statements);
    taken.sql("SELECT 1 FROM credentials WHERE owner_id = :o AND name_key = :k AND id <> :id")
        .use(owner)
        .use(key)
        .use(id)
        .into(one);
    if (taken.run()) return credential_name_taken(r.name);
  }
  Stmt up(s, c.statements);
  up.sql(
      "UPDATE credentials SET name = :n, name_key = :k, data = :d, secrets = :s, key_version = :v,"
      " updated_at = :u WHERE id = :id");
  up.use(r.name).use(key).use(store::to_json_text(r.data)).use(store::to_json_text(r.secrets));
  up.use(static_cast<long long>(r.key_version)).use(static_cast<long long>(r.updated_at_ms)).use(id);
  up.run();
  tx.commit();
  return object_of({{"credential", store::to_json(r)}});
}

Result<Json> SqlStore::delete_credential(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string id = args.required("id");
  if (!args.ok()) return args.error("delete_credential");
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  Stmt del(s, c.statements);
  del.sql("DELETE FROM credentials WHERE id = :id AND owner_id = :o").use(id).use(owner);
  del.run();
  if (del.affected() != 1) return credential_not_found(id);
  tx.commit();
  return Json::object();
}

Result<Json> SqlStore::list_credentials_to_rekey(Ctx& c, const Json& a) {
  Args args(a);
  long long below = args.i64("below_version", 0);
  std::string after = args.str("after_id");
  long long limit = page_limit(args.i64("limit", 0));
  if (!args.ok()) return args.error("list_credentials_to_rekey");
  CredentialRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kCredentialColumns +
         " FROM credentials WHERE key_version < :v AND id > :a ORDER BY id LIMIT :l")
      .use(below)
      .use(after)
      .use(limit);
  row.bind(st);
  Status failed;
  Json out = credentials_json(fetch_rows(st, row), &failed);
  if (!failed.ok()) return failed.take_error();
  return out;
}

Result<Json> SqlStore::rekey_credential(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("id");
  long long expected = args.i64("expected_updated_at_ms", 0);
  long long wanted = args.i64("updated_at_ms", 0);
  long long version = args.i64("key_version", 0);
  const Json* secrets = a.find("secrets");
  if (!args.ok()) return args.error("rekey_credential");
  if (!secrets) return Error("invalid_argument", "rekey_credential: argument 'secrets' is required");
  auto lowest = store::sealed_secrets_min_version(*secrets);
  if (!lowest.ok()) return Error("invalid_argument", "rekey_credential: " + lowest.error().message);
  if (*lowest > 0) version = *lowest;
  const long long updated = next_updated_at(wanted, expected);
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  // The compare-and-swap in one statement: an edit committed since the caller read the row has
  // moved updated_at on (next_updated_at), so the condition fails and nothing is written.
  Stmt up(s, c.statements);
  up.sql(
        "UPDATE credentials SET secrets = :s, key_version = :v, updated_at = :u"
        " WHERE id = :id AND updated_at = :e")
      .use(store::to_json_text(*secrets))
      .use(version)
      .use(updated)
      .use(id)
      .use(expected);
  up.run();
  if (up.affected() == 1) {
    tx.commit();
    return Json::object();
  }
  long long one = 0;
  Stmt sel(s, c.statements);
  sel.sql("SELECT 1 FROM credentials WHERE id = :id").use(id).into(one);
  if (!sel.run()) return credential_not_found(id);
  return Error("conflict", "credential '" + id + "' changed since it was read");
}

Result<Json> SqlStore::credential_key_version_range(Ctx& c, const Json&) {
  long long highest = 0, lowest = 0;
  Stmt st(*c.s, c.statements);
  st.sql("SELECT COALESCE(MAX(key_version), 0), COALESCE(MIN(key_version), 0) FROM credentials")
      .into(highest)
      .into(lowest);
  st.run();
  return object_of({{"max", highest}, {"min", lowest}});
}

// ---- schema v6: vault key checks ----------------------------------------------------------------

Result<Json> SqlStore::put_vault_key_check(Ctx& c, const Json& a) {
  Args args(a);
  auto k = args.record<store::VaultKeyCheck>(nullptr);
  if (!args.ok()) return args.error("put_vault_key_check");
  if (k.version < 1 || k.check.empty()) {
    return Error("invalid_argument", "put_vault_key_check: a version >= 1 and a check value are required");
  }
  if (k.created_at_ms <= 0) k.created_at_ms = wall_ms();
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  Stmt ins(s, c.statements);
  ins.sql(
         "INSERT INTO vault_key_checks (version, check_value, created_at) VALUES (:v, :c, :t)"
         " ON CONFLICT DO NOTHING")
      .use(static_cast<long long>(k.version))
      .use(k.check)
      .use(static_cast<long long>(k.created_at_ms));
  ins.run();
  if (ins.affected() != 1) {
    return Error("conflict", "vault key version " + std::to_string(k.version) + " already has a check value");
  }
  tx.commit();
  return Json::object();
}

Result<Json> SqlStore::vault_key_checks(Ctx& c, const Json&) {
  store::VaultKeyCheck k;
  long long version = 0, created = 0;
  Stmt st(*c.s, c.statements);
  st.sql("SELECT version, check_value, created_at FROM vault_key_checks ORDER BY version")
      .into(version)
      .into(k.check)
      .into(created);
  std::vector<store::VaultKeyCheck> list;
  if (st.run()) {
    do {
      store::VaultKeyCheck out = k;
      out.version = version;
      out.created_at_ms = created;
      list.push_back(std::move(out));
    } while (st.next());
  }
  return object_of({{"checks", store::to_json_array(list)}});
}

// ---- schema v6: the audit trail ----------------------------------------------------------------

namespace {

constexpr const char* kAuditColumns =
    "seq, ts, user_id, action_type, workflow_id, execution_id, node_id, entry, prev_hash, hash";

struct AuditRow {
  store::AuditRecord r;
  long long seq = 0, ts = 0;

  void bind(Stmt& st) {
    st.into(seq).into(ts).into(r.user_id).into(r.action_type).into(r.workflow_id).into(r.execution_id);
    st.into(r.node_id).into(r.entry).into(r.prev_hash).into(r.hash);
  }
  store::AuditRecord record() const {
    store::AuditRecord out = r;
    out.seq = seq;
    out.ts_ms = ts;
    return out;
  }
};

}  // namespace

Result<Json> SqlStore::append_audit(Ctx& c, const Json& a) {
  Args args(a);
  auto entries = args.list<store::AuditRecord>("entries");
  if (!args.ok()) return args.error("append_audit");
  for (const auto& e : entries) {
    if (e.action_type.empty() || e.entry.empty()) {
      return Error("invalid_argument", "append_audit: every entry needs an action_type and an entry text");
    }
  }
  if (entries.empty()) return object_of({{"entries", Json::array()}});
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  if (!sqlite()) {
    // The chain head is read and extended under a table lock that conflicts with itself (and with
    // writers) but not with readers: concurrent appenders, in any process, queue here and each
    // sees the entries committed before it. SQLite's BEGIN IMMEDIATE already holds the database's
    // write lock.
    Stmt lock(s, c.statements);
    lock.sql("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE");
    lock.run();
  }
  long long seq = 0;
  std::string prev = store::audit_genesis_hash();
  {
    Stmt head(s, c.statements);
    head.sql("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").into(seq).into(prev);
    if (!head.run()) {
      seq = 0;
      prev = store::audit_genesis_hash();
    }
  }
  const long long now = wall_ms();
  for (auto& e : entries) {
    e.seq = ++seq;
    if (e.ts_ms <= 0) e.ts_ms = now;
    e.prev_hash = prev;
    e.hash = store::audit_chain_hash(e.prev_hash, e.entry);
    prev = e.hash;
    Stmt ins(s, c.statements);
    ins.sql(std::string("INSERT INTO audit_log (") + kAuditColumns +
            ") VALUES (:q, :t, :u, :a, :w, :x, :n, :e, :p, :h)");
    ins.use(static_cast<long long>(e.seq)).use(static_cast<long long>(e.ts_ms));
    ins.use(e.user_id).use(e.action_type).use(e.workflow_id).use(e.execution_id).use(e.node_id);
    ins.use(e.entry).use(e.prev_hash).use(e.hash);
    ins.run();
  }
  tx.commit();
  return object_of({{"entries", store::to_json_array(entries)}});
}

Result<Json> SqlStore::list_audit(Ctx& c, const Json& a) {
  Args args(a);
  auto f = args.record<store::AuditFilter>(nullptr);
  if (!args.ok()) return args.error("list_audit");
  AuditRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kAuditColumns + " FROM audit_log WHERE seq > :a")
      .use(static_cast<long long>(f.after_seq));
  if (!f.user_id.empty()) st.sql(" AND user_id = :u").use(f.user_id);
  if (!f.workflow_id.empty()) st.sql(" AND workflow_id = :w").use(f.workflow_id);
  if (f.from_ms > 0) st.sql(" AND ts >= :f").use(static_cast<long long>(f.from_ms));
  if (f.to_ms > 0) st.sql(" AND ts < :t").use(static_cast<long long>(f.to_ms));
  if (!f.action_type.empty()) {
    if (f.action_type.back() == '.') {
      // A prefix. Not LIKE: SQLite's LIKE ignores ASCII case, and the prefix may hold '_' or '%'.
      // substr counts characters in both dialects: the UTF-8 lead bytes. The length is a number
      // computed here, safe to write into the statement.
      const auto chars = std::count_if(f.action_type.begin(), f.action_type.end(), [](char ch) {
        return (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
      });
      st.sql(" AND substr(action_type, 1, " + std::to_string(chars) + ") = :p").use(f.action_type);
    } else {
      st.sql(" AND action_type = :p").use(f.action_type);
    }
  }
  st.sql(" ORDER BY seq LIMIT :l").use(page_limit(f.limit));
  row.bind(st);
  return object_of({{"entries", store::to_json_array(fetch_rows(st, row))}});
}

// ---- schema v7: custom nodes --------------------------------------------------------------------

namespace {

// Listings leave the (large) source out: its column is replaced by an empty string.
constexpr const char* kCustomNodeColumns =
    "id, owner_id, name, version, language, source, declaration, created_at, updated_at";
constexpr const char* kCustomNodeListColumns =
    "id, owner_id, name, version, language, '', declaration, created_at, updated_at";
constexpr const char* kCustomNodeVersionColumns =
    "id, owner_id, name, version, language, '', 'null', created_at, updated_at";

struct CustomNodeRow {
  store::CustomNodeRecord r;
  std::string declaration;
  long long version = 0, created_at = 0, updated_at = 0;

  void bind(Stmt& st) {
    st.into(r.id).into(r.owner_id).into(r.name).into(version).into(r.language).into(r.source);
    st.into(declaration).into(created_at).into(updated_at);
  }
  Result<store::CustomNodeRecord> record() const {
    auto d = parse_stored(declaration, "custom node '" + r.name + "' declaration");
    if (!d.ok()) return d.take_error();
    store::CustomNodeRecord out = r;
    out.declaration = std::move(d).value();
    out.version = version;
    out.created_at_ms = created_at;
    out.updated_at_ms = updated_at;
    return out;
  }
};

Error custom_node_not_found(const std::string& name, long long version = 0) {
  return Error("not_found", "custom node '" + name + "'" +
                                (version > 0 ? " version " + std::to_string(version) : std::string()) +
                                " not found");
}

Result<Json> custom_nodes_json(std::vector<Result<store::CustomNodeRecord>> rows) {
  Json::Array list;
  list.reserve(rows.size());
  for (auto& rec : rows) {
    if (!rec.ok()) return rec.take_error();
    list.push_back(store::to_json(*rec));
  }
  return object_of({{"nodes", Json(std::move(list))}});
}

}  // namespace

Result<Json> SqlStore::create_custom_node(Ctx& c, const Json& a) {
  Args args(a);
  auto n = args.record<store::CustomNodeRecord>("node");
  const bool new_name = args.boolean("new_name");
  if (!args.ok()) return args.error("create_custom_node");
  if (n.name.empty()) return Error("invalid_argument", "create_custom_node: the name is required");
  if (n.language.empty()) return Error("invalid_argument", "create_custom_node: the language is required");
  if (n.declaration.is_null()) n.declaration = Json::object();
  const std::string declaration = store::to_json_text(n.declaration);
  soci::session& s = *c.s;
  // version = latest + 1 inside the transaction. On PostgreSQL the latest row is locked (a
  // concurrent delete goes before or after); two creates that still compute the same number
  // collide on the unique index: the loser's INSERT does nothing and it tries again.
  for (int attempt = 0; attempt < 20; ++attempt) {
    Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
    long long latest = 0, first_created = 0;
    Stmt sel(s, c.statements);
    sel.sql(std::string("SELECT version, created_at FROM custom_nodes WHERE owner_id = :o AND name = :n"
                        " ORDER BY version DESC LIMIT 1") +
            for_update())
        .use(n.owner_id)
        .use(n.name)
        .into(latest)
        .into(first_created);
    const bool exists = sel.run();
    if (new_name && exists) return Error("conflict", "a custom node named '" + n.name + "' already exists");
    if (!new_name && !exists) return custom_node_not_found(n.name);
    store::CustomNodeRecord r = n;
    r.id = new_id();
    r.version = latest + 1;
    r.updated_at_ms = wall_ms();
    r.created_at_ms = exists ? first_created : r.updated_at_ms;
    Stmt ins(s, c.statements);
    ins.sql(std::string("INSERT INTO custom_nodes (") + kCustomNodeColumns +
            ") VALUES (:id, :o, :n, :v, :l, :s, :d, :c, :u) ON CONFLICT DO NOTHING");
    ins.use(r.id).use(r.owner_id).use(r.name).use(static_cast<long long>(r.version)).use(r.language);
    ins.use(r.source).use(declaration);
    ins.use(static_cast<long long>(r.created_at_ms)).use(static_cast<long long>(r.updated_at_ms));
    ins.run();
    if (ins.affected() != 1) continue;  // Tx rolls back; the next attempt sees the winner
    tx.commit();
    return object_of({{"node", store::to_json(r)}});
  }
  return Error("conflict", "custom node '" + n.name + "': too many concurrent updates, try again");
}

Result<Json> SqlStore::get_custom_node(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string name = args.required("name");
  long long version = args.i64("version", 0);
  if (!args.ok()) return args.error("get_custom_node");
  CustomNodeRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kCustomNodeColumns + " FROM custom_nodes WHERE owner_id = :o AND name = :n")
      .use(owner)
      .use(name);
  if (version > 0) st.sql(" AND version = :v").use(version);
  st.sql(" ORDER BY version DESC LIMIT 1");
  row.bind(st);
  if (!st.run()) return custom_node_not_found(name, version);
  auto rec = row.record();
  if (!rec.ok()) return rec.take_error();
  return object_of({{"node", store::to_json(*rec)}});
}

Result<Json> SqlStore::list_custom_nodes(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  if (!args.ok()) return args.error("list_custom_nodes");
  CustomNodeRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kCustomNodeListColumns +
         " FROM custom_nodes c WHERE owner_id = :o AND version ="
         " (SELECT MAX(version) FROM custom_nodes m WHERE m.owner_id = c.owner_id AND m.name = c.name)"
         " ORDER BY name")
      .use(owner);
  row.bind(st);
  return custom_nodes_json(fetch_rows(st, row));
}

Result<Json> SqlStore::list_custom_node_versions(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string name = args.required("name");
  if (!args.ok()) return args.error("list_custom_node_versions");
  CustomNodeRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kCustomNodeVersionColumns +
         " FROM custom_nodes WHERE owner_id = :o AND name = :n ORDER BY version")
      .use(owner)
      .use(name);
  row.bind(st);
  auto out = custom_nodes_json(fetch_rows(st, row));
  if (out.ok() && (*out)["nodes"].size() == 0) return custom_node_not_found(name);
  return out;
}

Result<Json> SqlStore::delete_custom_node(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string name = args.required("name");
  if (!args.ok()) return args.error("delete_custom_node");
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  Stmt del(s, c.statements);
  del.sql("DELETE FROM custom_nodes WHERE owner_id = :o AND name = :n").use(owner).use(name);
  del.run();
  if (del.affected() < 1) return custom_node_not_found(name);
  tx.commit();
  return Json::object();
}

// ---- schema v8: human requests ------------------------------------------------------------------

namespace {

constexpr const char* kHumanRequestColumns =
    "id, execution_id, owner_id, workflow_id, node_id, node_key, kind, request, assignees, mode,"
    " status, votes, response, answered_by, version, created_at, deadline_at, answered_at, resumed_at";

struct HumanRequestRow {
  store::HumanRequestRecord r;
  std::string request, assignees, votes, response;
  long long version = 0, created_at = 0, deadline_at = 0, answered_at = 0, resumed_at = 0;

  void bind(Stmt& st) {
    st.into(r.id).into(r.execution_id).into(r.owner_id).into(r.workflow_id).into(r.node_id);
    st.into(r.node_key).into(r.kind).into(request).into(assignees).into(r.mode).into(r.status);
    st.into(votes).into(response).into(r.answered_by).into(version).into(created_at);
    st.into(deadline_at).into(answered_at).into(resumed_at);
  }
  Result<store::HumanRequestRecord> record() const {
    const std::string what = "human request '" + r.id + "'";
    auto req = parse_stored(request, what + " request");
    if (!req.ok()) return req.take_error();
    auto who = parse_stored(assignees, what + " assignees");
    if (!who.ok()) return who.take_error();
    auto v = parse_stored(votes, what + " votes");
    if (!v.ok()) return v.take_error();
    auto resp = parse_stored(response, what + " response");
    if (!resp.ok()) return resp.take_error();
    store::HumanRequestRecord out = r;
    out.request = std::move(req).value();
    out.assignees.clear();
    for (const Json& p : who->as_array()) {
      if (!p.is_string()) return Error("storage_error", what + " has an assignee that is not a string");
      out.assignees.push_back(p.as_string());
    }
    out.votes = std::move(v).value();
    out.response = std::move(resp).value();
    out.version = version;
    out.created_at_ms = created_at;
    out.deadline_at_ms = deadline_at;
    out.answered_at_ms = answered_at;
    out.resumed_at_ms = resumed_at;
    return out;
  }
};

Error human_request_not_found(const std::string& id) {
  return Error("not_found", "human request '" + id + "' not found");
}

// Assignees and principals: user ids as given, emails ASCII-lower-cased (the store keeps emails
// lower-cased, see lower_ascii); duplicates and empty strings dropped, order kept.
std::vector<std::string> principals_of(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const std::string& p : in) {
    if (p.empty()) continue;
    std::string norm = p.find('@') != std::string::npos ? lower_ascii(p) : p;
    if (std::find(out.begin(), out.end(), norm) == out.end()) out.push_back(std::move(norm));
  }
  return out;
}

Json strings_json(const std::vector<std::string>& items) {
  Json::Array a;
  a.reserve(items.size());
  for (const std::string& s : items) a.emplace_back(s);
  return Json(std::move(a));
}

Result<std::optional<store::HumanRequestRecord>> read_human_request(soci::session& s, StatementCache* statements,
                                                                    const std::string& id) {
  HumanRequestRow row;
  Stmt st(s, statements);
  st.sql(std::string("SELECT ") + kHumanRequestColumns + " FROM human_requests WHERE id = :id").use(id);
  row.bind(st);
  if (!st.run()) return std::optional<store::HumanRequestRecord>();
  auto rec = row.record();
  if (!rec.ok()) return rec.take_error();
  return std::optional<store::HumanRequestRecord>(std::move(rec).value());
}

Result<Json> human_requests_json(std::vector<Result<store::HumanRequestRecord>> rows) {
  Json::Array list;
  list.reserve(rows.size());
  for (auto& rec : rows) {
    if (!rec.ok()) return rec.take_error();
    list.push_back(store::to_json(*rec));
  }
  return object_of({{"requests", Json(std::move(list))}});
}

// Writes the answer into the park of the request's node run — only while that park is still
// the one that asked (its "request_id" is this request): a node run that has moved on (re-ran,
// parked with another question) is left alone. With `only_parked`, also only while the run is
// parked. Returns whether the park is the asking one (answer written, or already there).
bool write_answer_into_park(soci::session& s, StatementCache* statements, const store::HumanRequestRecord& r,
                            const Json& answer, const char* for_update, bool only_parked) {
  std::string park_text, status;
  Stmt sel(s, statements);
  sel.sql(std::string("SELECT park, status FROM node_runs WHERE execution_id = :e AND node_key = :k") + for_update)
      .use(r.execution_id)
      .use(r.node_key)
      .into(park_text)
      .into(status);
  if (!sel.run()) return false;
  if (only_parked && status != "parked") return false;
  auto park = Json::parse(park_text, store::storage_json_limits());
  if (!park.ok() || !park->is_object()) return false;
  const Json* asked = park->find("request_id");
  if (!asked || !asked->is_string() || asked->as_string() != r.id) return false;
  if (const Json* has = park->find("answer"); has && *has == answer) return true;
  park->set("answer", answer);
  Stmt up(s, statements);
  up.sql("UPDATE node_runs SET park = :p WHERE execution_id = :e AND node_key = :k")
      .use(store::to_json_text(*park))
      .use(r.execution_id)
      .use(r.node_key);
  up.run();
  return true;
}

}  // namespace

void SqlStore::cancel_open_requests(Ctx& c, const std::string& execution_id, long long now) {
  Stmt up(*c.s, c.statements);
  up.sql("UPDATE human_requests SET status = 'cancelled', answered_at = :t, version = version + 1"
         " WHERE execution_id = :e AND status = 'open'")
      .use(now)
      .use(execution_id);
  up.run();
}

Status SqlStore::commit_human_requests(Ctx& c, const CommitArgs& cm, long long now) {
  soci::session& s = *c.s;
  const std::string& id = cm.execution_id;
  if (!cm.requests.empty()) {
    // Owner and workflow come from the execution row (locked by the fenced update), whatever the
    // records say: who may see and answer a request must not depend on the committer.
    std::string owner, workflow;
    Stmt sel(s, c.statements);
    sel.sql("SELECT owner_id, workflow_id FROM executions WHERE id = :id").use(id).into(owner).into(workflow);
    if (!sel.run()) return execution_not_found(id);
    for (const store::HumanRequestRecord& given : cm.requests) {
      store::HumanRequestRecord r = given;
      if (r.kind.empty()) return Error("invalid_argument", "commit: a human request needs a kind");
      if (r.mode.empty()) r.mode = "any";
      if (r.mode != "any" && r.mode != "all") {
        return Error("invalid_argument", "commit: human request mode must be \"any\" or \"all\", got \"" +
                                             r.mode.substr(0, 40) + "\"");
      }
      if (r.id.empty()) r.id = new_id();
      r.execution_id = id;
      r.owner_id = owner;
      r.workflow_id = workflow;
      r.assignees = principals_of(r.assignees);
      if (r.created_at_ms <= 0) r.created_at_ms = now;
      const Json votes = r.votes.is_array() ? r.votes : Json::array();
      Stmt ins(s, c.statements);
      ins.sql(std::string("INSERT INTO human_requests (") + kHumanRequestColumns +
              ") VALUES (:id, :e, :o, :w, :n, :k, :kind, :req, :who, :m, 'open', :v, 'null', '', 1, :c, :d, 0, 0)"
              " ON CONFLICT DO NOTHING");
      ins.use(r.id).use(id).use(r.owner_id).use(r.workflow_id).use(r.node_id).use(r.node_key).use(r.kind);
      ins.use(store::to_json_text(r.request)).use(store::to_json_text(strings_json(r.assignees))).use(r.mode);
      ins.use(store::to_json_text(votes)).use(static_cast<long long>(r.created_at_ms));
      ins.use(static_cast<long long>(r.deadline_at_ms));
      ins.run();
      if (ins.affected() != 1) {
        // The same request committed again (a retried step): it stands as it is. Another
        // execution's id is a conflict.
        std::string owner_exec;
        Stmt ex(s, c.statements);
        ex.sql("SELECT execution_id FROM human_requests WHERE id = :id").use(r.id).into(owner_exec);
        if (ex.run() && owner_exec == id) continue;
        return Error("conflict", "human request '" + r.id + "' already exists");
      }
      for (const std::string& p : r.assignees) {
        Stmt a(s, c.statements);
        a.sql("INSERT INTO human_request_assignees (request_id, principal) VALUES (:r, :p) ON CONFLICT DO NOTHING")
            .use(r.id)
            .use(p);
        a.run();
      }
    }
  }
  for (const std::string& rid : cm.consumed_requests) {
    // Only a closed request (answered / expired / cancelled) can have been consumed; the first
    // consumption's time stays.
    Stmt up(s, c.statements);
    up.sql("UPDATE human_requests SET resumed_at = :t, version = version + 1"
           " WHERE id = :id AND execution_id = :e AND status <> 'open' AND resumed_at = 0")
        .use(now)
        .use(rid)
        .use(id);
    up.run();
  }
  if (!cm.execution || !cm.execution->status) return {};
  const ExecStatus status = *cm.execution->status;
  if (store::is_final(status)) {
    cancel_open_requests(c, id, now);
  } else if (status == ExecStatus::Parked) {
    // An answer that arrived while this worker ran found the execution running and could not
    // wake it: wake it now, and make sure the answer is in its node run's park (the step may
    // have rewritten that run). Only answers a parked node still waits on count (its park names
    // the request): an answer nobody waits for any more must not wake every later park.
    HumanRequestRow row;
    Stmt st(s, c.statements);
    st.sql(std::string("SELECT ") + kHumanRequestColumns +
           " FROM human_requests WHERE execution_id = :e AND status = 'answered' AND resumed_at = 0"
           " ORDER BY created_at, id")
        .use(id);
    row.bind(st);
    std::vector<Result<store::HumanRequestRecord>> answered = fetch_rows(st, row);
    bool waiting = false;
    for (auto& r : answered) {
      if (!r.ok()) return r.take_error();
      if (write_answer_into_park(s, c.statements, *r, r->response, "", /*only_parked=*/true)) waiting = true;
    }
    if (waiting) {
      Stmt up(s, c.statements);
      up.sql("UPDATE executions SET wake_at = :w WHERE id = :id").use(now).use(id);
      up.run();
    }
  }
  return {};
}

Result<Json> SqlStore::get_human_request(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("id");
  if (!args.ok()) return args.error("get_human_request");
  auto found = read_human_request(*c.s, c.statements, id);
  if (!found.ok()) return found.take_error();
  if (!*found) return human_request_not_found(id);
  return object_of({{"request", store::to_json(**found)}});
}

Result<Json> SqlStore::list_human_requests(Ctx& c, const Json& a) {
  Args args(a);
  auto f = args.record<store::HumanRequestFilter>(nullptr);
  if (!args.ok()) return args.error("list_human_requests");
  const long long limit = f.limit <= 0 ? 100 : std::min<long long>(f.limit, 1000);
  const std::vector<std::string> principals = principals_of(f.principals);
  soci::session& s = *c.s;

  // Ordered by (created_at, id); the cursor is the after_id request's place in that order, so a
  // page never skips or repeats requests created in the same millisecond.
  long long cursor_created = 0;
  if (!f.after_id.empty()) {
    Stmt cur(s, c.statements);
    cur.sql("SELECT created_at FROM human_requests WHERE id = :id").use(f.after_id).into(cursor_created);
    if (!cur.run()) return Error("not_found", "list cursor: human request '" + f.after_id + "' not found");
  }
  HumanRequestRow row;
  Stmt st(s, c.statements);
  st.sql(std::string("SELECT ") + kHumanRequestColumns + " FROM human_requests r WHERE 1 = 1");
  if (!f.owner_id.empty() || !principals.empty()) {
    // Visible to the caller: owned, or assigned to one of the caller's principals.
    st.sql(" AND (");
    if (!f.owner_id.empty()) st.sql("r.owner_id = :o").use(f.owner_id);
    if (!principals.empty()) {
      if (!f.owner_id.empty()) st.sql(" OR ");
      st.sql("EXISTS (SELECT 1 FROM human_request_assignees a WHERE a.request_id = r.id AND a.principal IN (");
      for (size_t i = 0; i < principals.size(); ++i) {
        // Placeholder names must differ (SOCI binds by name): :p0, :p1, ...
        st.sql((i == 0 ? ":p" : ", :p") + std::to_string(i)).use(principals[i]);
      }
      st.sql("))");
    }
    st.sql(")");
  }
  if (!f.execution_id.empty()) st.sql(" AND r.execution_id = :e").use(f.execution_id);
  if (!f.status.empty()) st.sql(" AND r.status = :st").use(f.status);
  if (!f.after_id.empty()) {
    st.sql(" AND (r.created_at > :c1 OR (r.created_at = :c2 AND r.id > :after))")
        .use(cursor_created)
        .use(cursor_created)
        .use(f.after_id);
  }
  st.sql(" ORDER BY r.created_at, r.id LIMIT :l").use(limit);
  row.bind(st);
  return human_requests_json(fetch_rows(st, row));
}

Result<Json> SqlStore::respond_human_request(Ctx& c, const Json& a) {
  Args args(a);
  auto r = args.record<store::HumanResponse>(nullptr);
  if (!args.ok()) return args.error("respond_human_request");
  if (r.id.empty()) return Error("invalid_argument", "respond_human_request: argument 'id' is required");
  if (!r.votes.is_null() && !r.votes.is_array()) {
    return Error("invalid_argument", std::string("respond_human_request: votes must be an array, got ") +
                                         r.votes.type_name());
  }
  const long long now = r.now_ms > 0 ? r.now_ms : wall_ms();
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  std::string execution_id;
  {
    Stmt sel(s, c.statements);
    sel.sql("SELECT execution_id FROM human_requests WHERE id = :id").use(r.id).into(execution_id);
    if (!sel.run()) return human_request_not_found(r.id);
  }
  // Lock order, as in commit and request_cancel: the execution row first, then its requests and
  // node runs (PostgreSQL; SQLite's write transactions are exclusive anyway). A worker parking
  // the execution meanwhile goes wholly before or after this answer, so one of the two wakes it.
  {
    std::string status;
    Stmt lock(s, c.statements);
    lock.sql(std::string("SELECT status FROM executions WHERE id = :id") + for_update())
        .use(execution_id)
        .into(status);
    lock.run();
  }
  // The compare-and-swap: only an open request at the expected version changes.
  Stmt up(s, c.statements);
  up.sql("UPDATE human_requests SET version = version + 1");
  if (!r.votes.is_null()) up.sql(", votes = :v").use(store::to_json_text(r.votes));
  if (r.final) {
    up.sql(", status = 'answered', response = :resp, answered_by = :by, answered_at = :t")
        .use(store::to_json_text(r.response))
        .use(r.answered_by)
        .use(now);
  }
  up.sql(" WHERE id = :id AND status = 'open' AND version = :ev").use(r.id).use(static_cast<long long>(r.expected_version));
  up.run();
  if (up.affected() != 1) {
    auto cur = read_human_request(s, c.statements, r.id);
    if (!cur.ok()) return cur.take_error();
    if (!*cur) return human_request_not_found(r.id);
    Json details = object_of({{"status", (*cur)->status}, {"version", (*cur)->version}});
    Error e("conflict", (*cur)->status != "open"
                            ? "human request '" + r.id + "' is no longer open (" + (*cur)->status + ")"
                            : "human request '" + r.id + "' changed: version " + std::to_string((*cur)->version) +
                                  ", expected " + std::to_string(r.expected_version));
    e.details = details.dump();
    return e;
  }
  auto updated = read_human_request(s, c.statements, r.id);
  if (!updated.ok()) return updated.take_error();
  if (!*updated) return human_request_not_found(r.id);
  if (r.final) {
    write_answer_into_park(s, c.statements, **updated, r.response, for_update(), /*only_parked=*/false);
    // Claimable at once if it waits parked; a running worker finds the answer when it parks
    // (see commit).
    Stmt wake(s, c.statements);
    wake.sql("UPDATE executions SET wake_at = :w, updated_at = :u WHERE id = :id AND status = 'parked'")
        .use(now)
        .use(now)
        .use(execution_id);
    wake.run();
  }
  tx.commit();
  return object_of({{"request", store::to_json(**updated)}});
}

Result<Json> SqlStore::expire_human_request(Ctx& c, const Json& a) {
  Args args(a);
  std::string id = args.required("id");
  long long now = args.i64("now_ms", 0);
  if (!args.ok()) return args.error("expire_human_request");
  if (now <= 0) now = wall_ms();
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  // Only an open request changes; one answered (or closed) first is returned as it is, so the
  // caller resumes with whatever won.
  Stmt up(s, c.statements);
  up.sql("UPDATE human_requests SET status = 'expired', answered_at = :t, version = version + 1"
         " WHERE id = :id AND status = 'open'")
      .use(now)
      .use(id);
  up.run();
  auto found = read_human_request(s, c.statements, id);
  if (!found.ok()) return found.take_error();
  if (!*found) return human_request_not_found(id);
  tx.commit();
  return object_of({{"request", store::to_json(**found)}});
}

// ---- schema v8: schedules -----------------------------------------------------------------------

namespace {

constexpr const char* kScheduleColumns =
    "id, owner_id, workflow_id, name, cron, timezone, enabled, missed_policy, input, next_run_at,"
    " last_run_at, last_execution_id, version, created_at, updated_at";

struct ScheduleRow {
  store::ScheduleRecord r;
  std::string input;
  long long enabled = 0, next_run_at = 0, last_run_at = 0, version = 0, created_at = 0, updated_at = 0;

  void bind(Stmt& st) {
    st.into(r.id).into(r.owner_id).into(r.workflow_id).into(r.name).into(r.cron).into(r.timezone);
    st.into(enabled).into(r.missed_policy).into(input).into(next_run_at).into(last_run_at);
    st.into(r.last_execution_id).into(version).into(created_at).into(updated_at);
  }
  Result<store::ScheduleRecord> record() const {
    auto in = parse_stored(input, "schedule '" + r.id + "' input");
    if (!in.ok()) return in.take_error();
    store::ScheduleRecord out = r;
    out.enabled = enabled != 0;
    out.input = std::move(in).value();
    out.next_run_at_ms = next_run_at;
    out.last_run_at_ms = last_run_at;
    out.version = version;
    out.created_at_ms = created_at;
    out.updated_at_ms = updated_at;
    return out;
  }
};

Error schedule_not_found(const std::string& id) {
  return Error("not_found", "schedule '" + id + "' not found");
}

Result<Json> schedules_json(std::vector<Result<store::ScheduleRecord>> rows) {
  Json::Array list;
  list.reserve(rows.size());
  for (auto& rec : rows) {
    if (!rec.ok()) return rec.take_error();
    list.push_back(store::to_json(*rec));
  }
  return object_of({{"schedules", Json(std::move(list))}});
}

// One schedule by id (and owner, when `owner` is set); nullopt when absent.
Result<std::optional<store::ScheduleRecord>> read_schedule(soci::session& s, StatementCache* statements,
                                                           const std::string& id, const std::string* owner) {
  ScheduleRow row;
  Stmt st(s, statements);
  st.sql(std::string("SELECT ") + kScheduleColumns + " FROM schedules WHERE id = :id").use(id);
  if (owner) st.sql(" AND owner_id = :o").use(*owner);
  row.bind(st);
  if (!st.run()) return std::optional<store::ScheduleRecord>();
  auto rec = row.record();
  if (!rec.ok()) return rec.take_error();
  return std::optional<store::ScheduleRecord>(std::move(rec).value());
}

Status checked_schedule(std::string_view op, const store::ScheduleRecord& r) {
  if (r.workflow_id.empty()) return Error("invalid_argument", std::string(op) + ": the workflow id is required");
  if (r.cron.empty()) return Error("invalid_argument", std::string(op) + ": the cron expression is required");
  if (r.missed_policy != "run_once" && r.missed_policy != "skip") {
    return Error("invalid_argument", std::string(op) + ": missed_policy must be \"run_once\" or \"skip\", got \"" +
                                         r.missed_policy.substr(0, 40) + "\"");
  }
  return {};
}

}  // namespace

Result<Json> SqlStore::create_schedule(Ctx& c, const Json& a) {
  Args args(a);
  auto r = args.record<store::ScheduleRecord>("schedule");
  if (!args.ok()) return args.error("create_schedule");
  if (r.timezone.empty()) r.timezone = "UTC";
  if (r.missed_policy.empty()) r.missed_policy = "run_once";
  if (Status ok = checked_schedule("create_schedule", r); !ok.ok()) return ok.take_error();
  if (r.id.empty()) r.id = new_id();
  const long long now = wall_ms();
  if (r.created_at_ms <= 0) r.created_at_ms = now;
  if (r.updated_at_ms <= 0) r.updated_at_ms = r.created_at_ms;
  r.version = 1;
  r.last_run_at_ms = 0;
  r.last_execution_id.clear();
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  Stmt ins(s, c.statements);
  ins.sql(std::string("INSERT INTO schedules (") + kScheduleColumns +
          ") VALUES (:id, :o, :w, :n, :c, :tz, :en, :mp, :in, :nx, 0, '', 1, :ca, :ua) ON CONFLICT DO NOTHING");
  ins.use(r.id).use(r.owner_id).use(r.workflow_id).use(r.name).use(r.cron).use(r.timezone);
  ins.use(r.enabled ? 1LL : 0LL).use(r.missed_policy).use(store::to_json_text(r.input));
  ins.use(static_cast<long long>(r.next_run_at_ms)).use(static_cast<long long>(r.created_at_ms));
  ins.use(static_cast<long long>(r.updated_at_ms));
  ins.run();
  if (ins.affected() != 1) return Error("conflict", "schedule '" + r.id + "' already exists");
  tx.commit();
  return object_of({{"schedule", store::to_json(r)}});
}

Result<Json> SqlStore::get_schedule(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string id = args.required("id");
  if (!args.ok()) return args.error("get_schedule");
  auto found = read_schedule(*c.s, c.statements, id, &owner);
  if (!found.ok()) return found.take_error();
  if (!*found) return schedule_not_found(id);
  return object_of({{"schedule", store::to_json(**found)}});
}

Result<Json> SqlStore::list_schedules(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string workflow = args.str("workflow_id");
  if (!args.ok()) return args.error("list_schedules");
  ScheduleRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kScheduleColumns + " FROM schedules WHERE owner_id = :o").use(owner);
  if (!workflow.empty()) st.sql(" AND workflow_id = :w").use(workflow);
  st.sql(" ORDER BY id");
  row.bind(st);
  return schedules_json(fetch_rows(st, row));
}

Result<Json> SqlStore::update_schedule(Ctx& c, const Json& a) {
  Args args(a);
  auto r = args.record<store::ScheduleRecord>("schedule");
  if (!args.ok()) return args.error("update_schedule");
  if (r.id.empty()) return Error("invalid_argument", "update_schedule: the schedule id is required");
  if (r.timezone.empty()) r.timezone = "UTC";
  if (r.missed_policy.empty()) r.missed_policy = "run_once";
  // The workflow is not editable; the check only needs one.
  store::ScheduleRecord checked = r;
  if (checked.workflow_id.empty()) checked.workflow_id = "-";
  if (Status ok = checked_schedule("update_schedule", checked); !ok.ok()) return ok.take_error();
  const long long updated = r.updated_at_ms > 0 ? r.updated_at_ms : wall_ms();
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  Stmt up(s, c.statements);
  up.sql("UPDATE schedules SET name = :n, cron = :c, timezone = :tz, enabled = :en, missed_policy = :mp,"
         " input = :in, next_run_at = :nx, updated_at = :ua, version = version + 1"
         " WHERE id = :id AND owner_id = :o AND version = :v");
  up.use(r.name).use(r.cron).use(r.timezone).use(r.enabled ? 1LL : 0LL).use(r.missed_policy);
  up.use(store::to_json_text(r.input)).use(static_cast<long long>(r.next_run_at_ms)).use(updated);
  up.use(r.id).use(r.owner_id).use(static_cast<long long>(r.version));
  up.run();
  if (up.affected() != 1) {
    auto cur = read_schedule(s, c.statements, r.id, &r.owner_id);
    if (!cur.ok()) return cur.take_error();
    if (!*cur) return schedule_not_found(r.id);
    return Error("conflict", "schedule '" + r.id + "' changed: version " + std::to_string((*cur)->version) +
                                 ", expected " + std::to_string(r.version));
  }
  auto cur = read_schedule(s, c.statements, r.id, &r.owner_id);
  if (!cur.ok()) return cur.take_error();
  if (!*cur) return schedule_not_found(r.id);
  tx.commit();
  return object_of({{"schedule", store::to_json(**cur)}});
}

Result<Json> SqlStore::delete_schedule(Ctx& c, const Json& a) {
  Args args(a);
  std::string owner = args.str("owner_id");
  std::string id = args.required("id");
  if (!args.ok()) return args.error("delete_schedule");
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  Stmt del(s, c.statements);
  del.sql("DELETE FROM schedules WHERE id = :id AND owner_id = :o").use(id).use(owner);
  del.run();
  if (del.affected() < 1) return schedule_not_found(id);
  tx.commit();
  return Json::object();
}

Result<Json> SqlStore::due_schedules(Ctx& c, const Json& a) {
  Args args(a);
  long long now = args.i64("now_ms", 0);
  long long limit = args.i64("limit", 0);
  if (!args.ok()) return args.error("due_schedules");
  if (now <= 0) now = wall_ms();
  limit = limit <= 0 ? 100 : std::min<long long>(limit, 1000);
  ScheduleRow row;
  Stmt st(*c.s, c.statements);
  st.sql(std::string("SELECT ") + kScheduleColumns +
         " FROM schedules WHERE enabled = 1 AND next_run_at > 0 AND next_run_at <= :now"
         " ORDER BY next_run_at, id LIMIT :l")
      .use(now)
      .use(limit);
  row.bind(st);
  return schedules_json(fetch_rows(st, row));
}

Result<Json> SqlStore::fire_schedule(Ctx& c, const Json& a) {
  Args args(a);
  auto f = args.record<store::ScheduleFire>(nullptr);
  if (!args.ok()) return args.error("fire_schedule");
  if (f.id.empty()) return Error("invalid_argument", "fire_schedule: argument 'id' is required");
  soci::session& s = *c.s;
  Tx tx(s, dialect_.dialect, true, &c.commit_sent, c.statements);
  // The compare-and-swap on the occurrence: of two firings of the same one (two servers), the
  // second finds next_run_at moved on (PostgreSQL re-checks the condition after waiting for the
  // first's row lock) and changes nothing.
  Stmt up(s, c.statements);
  up.sql("UPDATE schedules SET last_run_at = :f, next_run_at = :n, version = version + 1"
         " WHERE id = :id AND enabled = 1 AND next_run_at = :x")
      .use(static_cast<long long>(f.fired_at_ms))
      .use(static_cast<long long>(f.next_run_at_ms))
      .use(f.id)
      .use(static_cast<long long>(f.expected_next_run_at_ms));
  up.run();
  if (up.affected() != 1) {
    auto cur = read_schedule(s, c.statements, f.id, nullptr);
    if (!cur.ok()) return cur.take_error();
    if (!*cur) return schedule_not_found(f.id);
    return Error("conflict", "schedule '" + f.id + "': the occurrence at " + std::to_string(f.expected_next_run_at_ms) +
                                 " was already fired or the schedule changed (next run " +
                                 std::to_string((*cur)->next_run_at_ms) + ((*cur)->enabled ? ")" : ", disabled)"));
  }
  auto cur = read_schedule(s, c.statements, f.id, nullptr);
  if (!cur.ok()) return cur.take_error();
  if (!*cur) return schedule_not_found(f.id);
  store::ScheduleRecord rec = std::move(**cur);
  if (f.execution) {
    // A schedule runs its owner's workflow for its owner, never anyone else's.
    if (f.execution->owner_id != rec.owner_id) {
      return Error("invalid_argument", "fire_schedule: the execution's owner is not the schedule's owner");
    }
    // An existing idempotency key (the occurrence was already run) is that execution.
    auto created = insert_execution(c, to_create_args(*f.execution, false), "fire_schedule");
    if (!created.ok()) return created.take_error();
    rec.last_execution_id = created->rec.id;
    Stmt last(s, c.statements);
    last.sql("UPDATE schedules SET last_execution_id = :e WHERE id = :id").use(rec.last_execution_id).use(f.id);
    last.run();
  }
  tx.commit();
  return object_of({{"schedule", store::to_json(rec)}});
}

}  // namespace weft::storage
