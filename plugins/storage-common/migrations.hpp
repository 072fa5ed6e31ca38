// Versioned schema migrations for the SQL store.
//
// The applied versions are recorded in schema_migrations (version, name, applied_at). Each
// migration runs in its own transaction together with its schema_migrations row — DDL is
// transactional in both SQLite and PostgreSQL — so a crash or error in the middle of a migration
// leaves the schema at the previous version and the next open applies it again from the start.
//
// Concurrent openers: on SQLite every step runs under BEGIN IMMEDIATE (the database write lock);
// on PostgreSQL every step first takes a transaction-scoped advisory lock keyed by the schema, so
// two servers starting together apply each migration once, in order.
//
// A database whose recorded version is newer than the newest migration this code knows is
// refused: an older weft must not write to a schema it does not understand.
#pragma once

#include <soci/soci.h>

#include <string>

#include "host/core/result.hpp"
#include "plugins/storage-common/storage_backend.hpp"

namespace weft::storage {

// The newest schema version this code knows.
int latest_schema_version();

struct MigrateOptions {
  // PostgreSQL: the schema the store lives in ("" = the connection's current schema). Created
  // when missing.
  std::string pg_schema;
  // Test hook: fail migration N after running its statements, before its commit — simulates a
  // crash in the middle of a migration. 0 = off.
  int fail_at_version = 0;
};

// Brings the schema up to date. Returns "schema_too_new" for a database from a newer weft; throws
// soci::soci_error when the database fails (the caller classifies it).
Status migrate(soci::session& s, const DialectSupport& dialect, const MigrateOptions& options);

}  // namespace weft::storage
