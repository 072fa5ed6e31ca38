// The SQLite storage backend plugin (scheme "sqlite"): the shared SQL store of
// plugins/storage-common on SOCI's SQLite backend. See docs/plugin-abi.md "Storage backends".
#include <soci/sqlite3/soci-sqlite3.h>
#include <soci/statement.h>
#include <sqlite3.h>

#include <cstring>

#include "plugins/storage-common/storage_backend.hpp"

namespace {

using weft::storage::ErrorKind;

ErrorKind classify(const soci::soci_error& e) {
  if (const auto* se = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
    switch (se->result() & 0xff) {
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        return ErrorKind::Busy;
      case SQLITE_CONSTRAINT:
        // Only uniqueness is a "conflict"; NOT NULL / foreign key failures are bugs.
        if (std::strstr(e.what(), "UNIQUE constraint failed")) return ErrorKind::UniqueViolation;
        return ErrorKind::Other;
      default:
        return ErrorKind::Other;
    }
  }
  return ErrorKind::Other;
}

// A cached statement that stopped before SQLITE_DONE (a single-row SELECT) would keep its read
// transaction, and so an old WAL snapshot, open on the connection until its next execution:
// resetting it ends that. SOCI resets before every execution anyway.
void release_statement(soci::statement& st) noexcept {
  auto* backend = static_cast<soci::sqlite3_statement_backend*>(st.get_backend());
  if (backend && backend->stmt_) sqlite_api::sqlite3_reset(backend->stmt_);
}

const weft::storage::DialectSupport kSqlite{
    weft::storage::Dialect::SQLite, "sqlite", "SQLite", soci::factory_sqlite3(), &classify,
    &release_statement,
};

}  // namespace

extern "C" {

WEFT_EXPORT uint32_t weft_plugin_negotiate(uint32_t host_min_version, uint32_t host_max_version) {
  return weft::storage::negotiate_storage_plugin(host_min_version, host_max_version);
}

WEFT_EXPORT weft_status weft_plugin_init(const weft_plugin_init_args* args) {
  return weft::storage::init_storage_plugin(args, &kSqlite);
}

WEFT_EXPORT void weft_plugin_shutdown(void) {
  // Nothing global to release: every open store is owned by its connection handle, which the
  // host closes (close() stays valid after shutdown, as the backend keeps no global state).
}

}  // extern "C"
