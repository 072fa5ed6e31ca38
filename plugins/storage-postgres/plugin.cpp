// The PostgreSQL storage backend plugin (scheme "postgresql"; postgres:// URLs are accepted too):
// the shared SQL store of plugins/storage-common on SOCI's PostgreSQL backend (libpq).
// See docs/plugin-abi.md "Storage backends".
#include <soci/postgresql/soci-postgresql.h>

#include <cstring>
#include <string>

#include "plugins/storage-common/storage_backend.hpp"

namespace {

using weft::storage::ErrorKind;

ErrorKind classify(const soci::soci_error& e) {
  if (e.get_error_category() == soci::soci_error::connection_error) return ErrorKind::Connection;
  if (const auto* pe = dynamic_cast<const soci::postgresql_soci_error*>(&e)) {
    const std::string state = pe->sqlstate();
    // Class 08: connection exception; 57P01-57P03: the server is shutting down / restarting.
    if (state.compare(0, 2, "08") == 0 || state == "57P01" || state == "57P02" || state == "57P03") {
      return ErrorKind::Connection;
    }
    if (state == "40001" || state == "40P01") return ErrorKind::Retry;  // serialization, deadlock
    if (state == "23505") return ErrorKind::UniqueViolation;
    return ErrorKind::Other;
  }
  // libpq failures that SOCI reports without a SQLSTATE (the socket is already gone).
  const char* what = e.what();
  if (std::strstr(what, "Connection failed") || std::strstr(what, "no connection to the server") ||
      std::strstr(what, "server closed the connection") || std::strstr(what, "Cannot establish connection")) {
    return ErrorKind::Connection;
  }
  return ErrorKind::Other;
}

const weft::storage::DialectSupport kPostgres{
    weft::storage::Dialect::PostgreSQL, "postgresql", "PostgreSQL", soci::factory_postgresql(),
    &classify,
};

}  // namespace

extern "C" {

WEFT_EXPORT uint32_t weft_plugin_negotiate(uint32_t host_min_version, uint32_t host_max_version) {
  return weft::storage::negotiate_storage_plugin(host_min_version, host_max_version);
}

WEFT_EXPORT weft_status weft_plugin_init(const weft_plugin_init_args* args) {
  return weft::storage::init_storage_plugin(args, &kPostgres);
}

WEFT_EXPORT void weft_plugin_shutdown(void) {
  // Nothing global to release: every open store is owned by its connection handle, which the
  // host closes (close() stays valid after shutdown, as the backend keeps no global state).
}

}  // extern "C"
