// Test support for the store suite: the real registry loading the real storage plugins from the
// build's plugin directory, and per-test databases.
//
// Isolation: SQLite tests get a fresh temp directory each. PostgreSQL tests (only when
// WEFT_TEST_PG_URL is set, e.g. by scripts/test.sh; otherwise they skip) share the cluster's
// database but each gets its own uniquely named schema, passed to the backend as the "schema"
// option (the backend creates it and sets search_path on every connection); TearDown drops it.
#pragma once

#include <soci/soci.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "host/core/ids.hpp"
#include "host/core/json.hpp"
#include "host/store/plugin_store.hpp"
#include "host/store/store.hpp"
#include "registry/registry.hpp"

namespace weft::store::testing {

// One registry for the whole test program: loading plugins is done once, and it must outlive
// every store (stores keep the plugin libraries alive, the registry runs their shutdown).
registry::Registry& test_registry();

// The PostgreSQL URL under test, or "" when PostgreSQL tests must skip.
std::string pg_url();

// A database to open: URL + backend options; owns whatever must be cleaned up.
class TestDb {
 public:
  // backend: "sqlite" or "postgresql".
  explicit TestDb(std::string backend);
  ~TestDb();
  TestDb(const TestDb&) = delete;
  TestDb& operator=(const TestDb&) = delete;

  const std::string& url() const { return url_; }
  // The options the store needs for this database, plus `extra` members.
  Json options(const Json& extra = Json::object()) const;
  Result<std::shared_ptr<Store>> open(const Json& extra = Json::object()) const;
  // A direct SOCI session on the same database (and schema), for inspecting and tampering.
  std::unique_ptr<soci::session> inspect() const;

 private:
  std::string backend_;
  std::string url_;
  std::string schema_;                // PostgreSQL
  std::filesystem::path dir_;         // SQLite
};

}  // namespace weft::store::testing
