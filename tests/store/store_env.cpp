#include "tests/store/store_env.hpp"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <stdlib.h>

#include <stdexcept>

#include "plugins/storage-common/urls.hpp"

namespace weft::store::testing {

registry::Registry& test_registry() {
  static registry::Registry* reg = [] {
    registry::RegistryOptions o;
    o.plugin_dirs = {WEFT_TEST_PLUGIN_DIR};
    auto* r = new registry::Registry(std::move(o));
    r->load();
    return r;
  }();
  return *reg;
}

std::string pg_url() {
  const char* url = std::getenv("WEFT_TEST_PG_URL");
  return url ? std::string(url) : std::string();
}

namespace {

std::string pg_conninfo() {
  auto target = storage::parse_postgres_url(pg_url(), 5);
  if (!target.ok()) throw std::runtime_error("bad WEFT_TEST_PG_URL: " + target.error().message);
  return target->conninfo;
}

}  // namespace

TestDb::TestDb(std::string backend) : backend_(std::move(backend)) {
  if (backend_ == "sqlite") {
    std::string tmpl = (std::filesystem::temp_directory_path() / "weft-store-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    // A subdirectory that does not exist yet: the backend creates it.
    url_ = "sqlite:" + (dir_ / "data" / "weft.db").string();
  } else {
    url_ = pg_url();
    schema_ = "weft_t_" + random_hex(8);
  }
}

TestDb::~TestDb() {
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  if (!schema_.empty() && !url_.empty()) {
    try {
      soci::session s(*soci::factory_postgresql(), pg_conninfo());
      s << "SET client_min_messages TO warning";
      s << "DROP SCHEMA IF EXISTS \"" + schema_ + "\" CASCADE";
    } catch (...) {
      // Best effort: the throwaway cluster is deleted after the run anyway.
    }
  }
}

Json TestDb::options(const Json& extra) const {
  Json o = Json::object();
  if (!schema_.empty()) o.set("schema", schema_);
  for (const auto& [k, v] : extra.as_object()) o.set(k, v);
  return o;
}

Result<std::shared_ptr<Store>> TestDb::open(const Json& extra) const {
  return open_store(test_registry(), url_, options(extra));
}

std::unique_ptr<soci::session> TestDb::inspect() const {
  if (backend_ == "sqlite") {
    auto target = storage::parse_sqlite_url(url_);
    return std::make_unique<soci::session>(*soci::factory_sqlite3(), "db=\"" + target->path + "\"");
  }
  auto s = std::make_unique<soci::session>(*soci::factory_postgresql(), pg_conninfo());
  *s << "SET client_min_messages TO warning";
  *s << "SET search_path TO \"" + schema_ + "\"";
  return s;
}

}  // namespace weft::store::testing
