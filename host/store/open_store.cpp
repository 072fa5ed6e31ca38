// open_store: picks the storage backend plugin by URL scheme. Kept apart from plugin_store.cpp so
// that code which builds a PluginStore from a backend it loaded itself does not need the registry
// library.
#include <algorithm>
#include <cctype>
#include <set>

#include "host/store/plugin_store.hpp"
#include "host/store/store.hpp"

namespace weft::store {

namespace {

// "sqlite:var/weft.db" -> "sqlite"; "postgres://..." -> "postgresql" (libpq accepts both spellings,
// backends register the long one). Empty when the URL has no scheme.
std::string scheme_of(const std::string& url) {
  size_t colon = url.find(':');
  if (colon == std::string::npos || colon == 0) return {};
  std::string scheme = url.substr(0, colon);
  for (char& c : scheme) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return {};
  }
  return scheme == "postgres" ? std::string("postgresql") : scheme;
}

}  // namespace

Result<std::shared_ptr<Store>> open_store(const registry::Registry& registry, const std::string& url,
                                          const Json& options) {
  const std::string scheme = scheme_of(url);
  if (scheme.empty()) {
    return Error("invalid_argument",
                 "store URL '" + url + "' has no scheme (expected e.g. sqlite:var/weft.db or "
                 "postgresql://user@host:port/db)");
  }
  auto backend = registry.find_storage(scheme);
  if (!backend) {
    std::set<std::string> loaded;
    for (const auto& p : registry.plugins()) {
      if (p.state != registry::PluginState::Loaded) continue;
      loaded.insert(p.storage_schemes.begin(), p.storage_schemes.end());
    }
    std::string list;
    for (const auto& s : loaded) list += (list.empty() ? "" : ", ") + s;
    return Error("not_found", "no storage backend for scheme '" + scheme + "' (loaded: " +
                                  (list.empty() ? std::string("none") : list) + ")");
  }
  auto store = PluginStore::open(std::move(backend), url, options);
  if (!store.ok()) return store.take_error();
  return std::shared_ptr<Store>(std::move(store).value());
}

}  // namespace weft::store
