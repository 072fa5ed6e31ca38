// The SQL store shared by the SQLite and PostgreSQL storage plugins: one implementation of the
// schema, the migrations and every query, parameterized by a small Dialect description that each
// plugin supplies (its SOCI backend factory and how to classify its errors). The plugins only
// register the weft_storage_backend built here.
//
// Linked statically into each plugin (PIC, hidden visibility); nothing here throws across the
// ABI: the C entry points catch everything and report errors as JSON.
#pragma once

#include <soci/soci-backend.h>
#include <soci/error.h>

#include "weft/weft_abi.h"

namespace soci {
class statement;
}

namespace weft::storage {

enum class Dialect { SQLite, PostgreSQL };

// What a database error means for the store.
enum class ErrorKind {
  Other,            // a statement failed: "storage_error"
  Connection,       // the connection is gone (PostgreSQL): reconnect, maybe retry, "unavailable"
  Busy,             // the database is locked by another process (SQLite busy_timeout expired)
  UniqueViolation,  // a uniqueness constraint: "conflict"
  Retry,            // the server rolled the transaction back (serialization failure, deadlock):
                    // running the whole operation again is safe
};

struct DialectSupport {
  Dialect dialect;
  const char* scheme;        // URL scheme it serves: "sqlite" / "postgresql"
  const char* display_name;  // for messages: "SQLite" / "PostgreSQL"
  const soci::backend_factory* factory;
  ErrorKind (*classify)(const soci::soci_error& e);
  // Optional: called when the store is done with a cached prepared statement, so that a query
  // whose rows were not all fetched releases what it holds (SQLite: its read snapshot).
  void (*release_statement)(soci::statement& st) noexcept = nullptr;
};

// The function table for `dialect` (which must outlive every connection it opens: plugins pass a
// static object). scheme and backend_state point into `dialect`.
weft_storage_backend make_storage_backend(const DialectSupport* dialect);

// The bodies of a storage plugin's entry points (the plugin exports thin extern "C" wrappers).
// Both are noexcept barriers.
// weft_plugin_negotiate: this code speaks ABI 1.0 exactly.
uint32_t negotiate_storage_plugin(uint32_t host_min_version, uint32_t host_max_version) noexcept;
// weft_plugin_init: registers make_storage_backend(dialect); errors go to args->error.
weft_status init_storage_plugin(const weft_plugin_init_args* args, const DialectSupport* dialect) noexcept;

}  // namespace weft::storage
