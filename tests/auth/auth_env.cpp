#include "tests/auth/auth_env.hpp"

#include <stdlib.h>

#include <cstdlib>

#include "host/core/ids.hpp"
#include "registry/registry.hpp"

namespace weft::auth::testing {
namespace {

// One registry for the whole program: it must outlive every store (stores keep the plugin
// libraries alive; the registry runs their shutdown), so it is never destroyed.
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

}  // namespace

std::string make_temp_dir(const std::string& tag) {
  std::string tmpl = (std::filesystem::temp_directory_path() / ("weft-" + tag + "-XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) return {};
  return tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  // Tests chmod things to 000; removal still works for the owner of the directory tree.
  std::filesystem::remove_all(path_, ec);
}

std::string pg_url() {
  const char* url = std::getenv("WEFT_TEST_PG_URL");
  return url ? std::string(url) : std::string();
}

TestStore::TestStore(const std::string& backend) : backend_(backend) {
  if (backend_ == "sqlite") {
    dir_ = std::make_unique<TempDir>("auth-test");
    url_ = "sqlite:" + (std::filesystem::path(dir_->path()) / "weft.db").string();
  } else {
    url_ = pg_url();
    schema_ = "weft_auth_t_" + random_hex(8);
  }
}

TestStore::~TestStore() {
  const char* conn = std::getenv("WEFT_TEST_PG_CONNSTR");
  if (!schema_.empty() && conn && *conn) {
    // Best effort: the throwaway cluster goes away after the run anyway.
    std::string cmd = std::string("psql \"") + conn + "\" -q -c 'DROP SCHEMA IF EXISTS \"" + schema_ +
                      "\" CASCADE' >/dev/null 2>&1";
    (void)std::system(cmd.c_str());
  }
}

Result<std::shared_ptr<store::Store>> TestStore::open() const {
  Json options = Json::object();
  if (!schema_.empty()) options.set("schema", schema_);
  return store::open_store(test_registry(), url_, options);
}

}  // namespace weft::auth::testing
