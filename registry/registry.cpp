#include "registry/registry.hpp"

#include <algorithm>
#include <atomic>
#include <boost/dll/shared_library.hpp>
#include <cstddef>
#include <cstring>
#include <exception>
#include <filesystem>
#include <shared_mutex>
#include <system_error>
#include <type_traits>
#include <utility>

#include "host/core/call.hpp"
#include "registry/manifest.hpp"
#include "registry/node_schema.hpp"

namespace fs = std::filesystem;

namespace weft::registry {

namespace {

// The smallest descriptors ABI 1.0 plugins may hand us: everything up to the last 1.0 field.
constexpr size_t kNodeTypeV1Size = offsetof(weft_node_type, execute) + sizeof(weft_node_execute_fn);
constexpr size_t kStorageV1Size =
    offsetof(weft_storage_backend, close) + sizeof(static_cast<weft_storage_backend*>(nullptr)->close);

constexpr size_t kMaxSchemaBytes = 1024 * 1024;
// A credential type is a short form description; anything near this size is not one.
constexpr size_t kMaxCredentialTypeBytes = 256 * 1024;

const char* status_name(weft_status s) {
  switch (s) {
    case WEFT_OK:
      return "WEFT_OK";
    case WEFT_ERR_INVALID_INPUT:
      return "WEFT_ERR_INVALID_INPUT";
    case WEFT_ERR_FAILED:
      return "WEFT_ERR_FAILED";
    case WEFT_ERR_TIMEOUT:
      return "WEFT_ERR_TIMEOUT";
    case WEFT_ERR_CANCELLED:
      return "WEFT_ERR_CANCELLED";
    case WEFT_ERR_UNSUPPORTED:
      return "WEFT_ERR_UNSUPPORTED";
    case WEFT_ERR_NOT_FOUND:
      return "WEFT_ERR_NOT_FOUND";
    case WEFT_ERR_INTERNAL:
      return "WEFT_ERR_INTERNAL";
    case WEFT_ERR_VERSION:
      return "WEFT_ERR_VERSION";
    case WEFT_ERR_DENIED:
      return "WEFT_ERR_DENIED";
    case WEFT_PARK:
      return "WEFT_PARK";
  }
  return "unknown status";
}

// Plugin-provided bytes end up in reasons shown to admins: keep them printable and short.
std::string printable(std::string_view s, size_t max = 200) {
  std::string out;
  for (char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > max) out += "...";
  return out;
}

bool is_valid_scheme(std::string_view s) {
  if (s.empty() || s.size() > 64 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string range_text(uint32_t lo, uint32_t hi) {
  return format_abi_version(lo) + "–" + format_abi_version(hi);
}

std::string type_key(const std::string& name, uint32_t version) {
  return name + "@" + std::to_string(version);
}

Json flag_names(uint32_t flags) {
  static constexpr std::pair<uint32_t, const char*> kFlags[] = {
      {WEFT_NODE_FLAG_TRIGGER, "trigger"},
      {WEFT_NODE_FLAG_USES_LLM, "uses_llm"},
      {WEFT_NODE_FLAG_LONG_RUNNING, "long_running"},
      {WEFT_NODE_FLAG_SIDE_EFFECTS, "side_effects"},
      {WEFT_NODE_FLAG_LOOP, "loop"},
  };
  Json out = Json::array();
  for (auto [bit, name] : kFlags)
    if (flags & bit) out.push_back(name);
  return out;
}

}  // namespace

const char* to_string(PluginState s) {
  switch (s) {
    case PluginState::Loaded:
      return "loaded";
    case PluginState::Disabled:
      return "disabled";
    case PluginState::Incompatible:
      return "incompatible";
    case PluginState::Rejected:
      return "rejected";
    case PluginState::Broken:
      return "broken";
  }
  return "unknown";
}

namespace {

struct Catalog;

// What a plugin registers during weft_plugin_init. It is handed to the plugin as the opaque
// `weft_registrar*` and lives inside the LoadedLibrary, so a plugin that (wrongly) keeps the
// pointer and registers after init gets an error status instead of a dangling pointer.
struct Registrar {
  const Catalog* catalog = nullptr;
  std::string plugin_name;
  std::mutex mu;      // a plugin may register from helper threads during init
  bool open = false;  // true only while weft_plugin_init runs
  std::vector<NodeType> node_types;
  std::vector<StorageBackend> storage;
  std::vector<CredentialType> credential_types;
  std::string first_error;  // the first refused registration marks the plugin Broken

  weft_status refuse(weft_status status, std::string reason) {
    if (first_error.empty()) first_error = std::move(reason);
    return status;
  }
};

weft_status register_node_type(weft_registrar* reg, const weft_node_type* type) noexcept;
weft_status register_storage_backend(weft_registrar* reg, const weft_storage_backend* backend) noexcept;
weft_status register_credential_type(weft_registrar* reg, weft_str type_json) noexcept;

const weft_registrar_api kRegistrarApi = {
    sizeof(weft_registrar_api),
    &register_node_type,
    &register_storage_backend,
    &register_credential_type,
    nullptr,  // reserved_llm_provider
};

}  // namespace

// A dlopen'ed plugin. The last owner (the registry or a NodeType/StorageBackend still in use by a
// running execution) calls weft_plugin_shutdown, then the library is unmapped. Shutting down on
// the last reference rather than in ~Registry means no node can ever run in a shut-down plugin.
class LoadedLibrary {
 public:
  explicit LoadedLibrary(boost::dll::shared_library lib) : library(std::move(lib)) {}
  ~LoadedLibrary() {
    if (initialised && shutdown) shutdown();
    // `library` unloads in its own destructor, after shutdown returned.
  }
  LoadedLibrary(const LoadedLibrary&) = delete;
  LoadedLibrary& operator=(const LoadedLibrary&) = delete;

  boost::dll::shared_library library;
  weft_host_api host_api{};  // per-plugin copy: abi_version is the negotiated one
  weft_plugin_shutdown_fn shutdown = nullptr;
  bool initialised = false;  // weft_plugin_init returned WEFT_OK: shutdown is owed
  Registrar registrar;
};

namespace {

struct PluginRecord {
  PluginInfo info;
  std::shared_ptr<LoadedLibrary> library;  // set while Loaded/Disabled (null for builtins)
  bool loadable() const { return info.state == PluginState::Loaded || info.state == PluginState::Disabled; }
};

struct TypeEntry {
  std::shared_ptr<const NodeType> type;
  const PluginRecord* plugin;  // its state decides visibility (read under the registry lock)
};

struct CredentialEntry {
  std::shared_ptr<const CredentialType> type;
  const PluginRecord* plugin;  // as for TypeEntry
};

// What the registry knows. Readers (compiler, executor, REST) take `mu` shared; loading,
// toggling and builtin registration take it exclusively, briefly.
struct Catalog {
  mutable std::shared_mutex mu;
  std::vector<std::unique_ptr<PluginRecord>> records;         // in load order
  std::map<std::string, PluginRecord*, std::less<>> by_name;  // the record owning each name
  std::map<std::string, std::map<uint32_t, TypeEntry>, std::less<>> types;
  std::map<std::string, std::shared_ptr<const StorageBackend>, std::less<>> storage;
  std::map<std::string, CredentialEntry, std::less<>> credential_types;
  std::vector<std::string> scan_errors;
  bool loaded = false;

  ~Catalog() {
    // Drop references in reverse load order, so later plugins shut down before earlier ones.
    types.clear();
    storage.clear();
    credential_types.clear();
    while (!records.empty()) records.pop_back();
  }

  // The plugin that registered type@version, whatever its state; nullptr when none. Needs `mu`.
  const PluginRecord* node_type_owner(const std::string& name, uint32_t version) const {
    auto it = types.find(name);
    if (it == types.end()) return nullptr;
    auto v = it->second.find(version);
    return v == it->second.end() ? nullptr : v->second.plugin;
  }

  // The plugin that registered credential type `name`, whatever its state. Needs `mu`.
  const PluginRecord* credential_type_owner(std::string_view name) const {
    auto it = credential_types.find(name);
    return it == credential_types.end() ? nullptr : it->second.plugin;
  }
};

}  // namespace

struct Registry::Impl : Catalog {
  RegistryOptions options;

  std::atomic<bool> load_started{false};

  // Serialises set_enabled/attach_state_store so the (slow) store write happens outside `mu`.
  std::mutex toggle_mu;
  PluginStateStore* state_store = nullptr;
  std::map<std::string, bool> pending_states;  // from a store attached before load()

  void load_directory(const fs::path& dir);
  void load_manifest(const fs::path& dir, const fs::path& manifest_path);
  // Returns the reason the plugin could not be loaded (empty on success) and its state.
  std::pair<PluginState, std::string> load_library(PluginRecord& rec, const Manifest& m,
                                                   const fs::path& file);
  std::string commit(PluginRecord& rec, const std::shared_ptr<LoadedLibrary>& lib);
  // Builtin registrations under `plugin_name` (`what`: "node types"...). Need `mu` exclusively.
  // The existing record (nullptr when none), or "invalid_state" when it is not loadable;
  Result<PluginRecord*> existing_builtin_record(const std::string& plugin_name, const char* what);
  // a new Loaded record for a name not seen yet.
  PluginRecord* new_builtin_record(const std::string& plugin_name, const char* what);
};

namespace {

weft_status register_node_type(weft_registrar* handle, const weft_node_type* type) noexcept {
  if (!handle) return WEFT_ERR_INVALID_INPUT;
  auto* reg = reinterpret_cast<Registrar*>(handle);
  try {
    std::lock_guard lock(reg->mu);
    if (!reg->open) return WEFT_ERR_UNSUPPORTED;  // outside weft_plugin_init: too late
    if (!type) return reg->refuse(WEFT_ERR_INVALID_INPUT, "node type registration with a NULL descriptor");
    if (type->struct_size < kNodeTypeV1Size)
      return reg->refuse(WEFT_ERR_VERSION,
                         "node type registration struct too small: " + std::to_string(type->struct_size) +
                             " < " + std::to_string(kNodeTypeV1Size) + " bytes");
    if (!type->type_name.ptr && type->type_name.len)
      return reg->refuse(WEFT_ERR_INVALID_INPUT, "node type registration with a NULL type_name");
    std::string name(from_weft_str(type->type_name));
    if (!is_valid_name(name))
      return reg->refuse(WEFT_ERR_INVALID_INPUT, "node type name \"" + printable(name) +
                                                     "\" is invalid: use 1-128 characters of [a-z0-9_.-]");
    std::string what = "node type " + name + " v" + std::to_string(type->type_version);
    if (type->type_version < 1)
      return reg->refuse(WEFT_ERR_INVALID_INPUT, "node type " + name + " has version 0: versions start at 1");
    if (!type->execute) return reg->refuse(WEFT_ERR_INVALID_INPUT, what + " has no execute function");
    if (!type->schema_json.ptr && type->schema_json.len)
      return reg->refuse(WEFT_ERR_INVALID_INPUT, what + " has a NULL schema_json");

    JsonParseLimits limits;
    limits.max_bytes = kMaxSchemaBytes;
    limits.max_depth = 64;
    auto parsed = Json::parse(from_weft_str(type->schema_json), limits);
    if (!parsed)
      return reg->refuse(WEFT_ERR_INVALID_INPUT,
                         what + ": schema_json is not valid JSON: " + parsed.error().message);
    auto schema = validate_node_schema(*parsed);
    if (!schema)
      return reg->refuse(WEFT_ERR_INVALID_INPUT, what + ": invalid schema: " + schema.error().message);

    for (const NodeType& t : reg->node_types)
      if (t.type_name == name && t.type_version == type->type_version)
        return reg->refuse(WEFT_ERR_INVALID_INPUT,
                           what + " is registered twice by plugin " + reg->plugin_name);
    {
      std::shared_lock rlock(reg->catalog->mu);
      if (const PluginRecord* owner = reg->catalog->node_type_owner(name, type->type_version))
        return reg->refuse(WEFT_ERR_INVALID_INPUT, what + " is already registered by plugin " +
                                                       owner->info.name + "; plugin " + reg->plugin_name +
                                                       " cannot register it again");
    }

    NodeType t;
    t.type_name = std::move(name);
    t.type_version = type->type_version;
    t.schema = std::move(*schema);
    t.flags = type->flags;
    t.type_state = type->type_state;
    t.execute = type->execute;
    t.plugin_name = reg->plugin_name;
    reg->node_types.push_back(std::move(t));
    return WEFT_OK;
  } catch (const std::exception& e) {
    return reg->refuse(WEFT_ERR_INTERNAL,
                       std::string("host error while registering a node type: ") + e.what());
  } catch (...) {
    return WEFT_ERR_INTERNAL;
  }
}

weft_status register_storage_backend(weft_registrar* handle, const weft_storage_backend* backend) noexcept {
  if (!handle) return WEFT_ERR_INVALID_INPUT;
  auto* reg = reinterpret_cast<Registrar*>(handle);
  try {
    std::lock_guard lock(reg->mu);
    if (!reg->open) return WEFT_ERR_UNSUPPORTED;
    if (!backend)
      return reg->refuse(WEFT_ERR_INVALID_INPUT, "storage backend registration with a NULL descriptor");
    if (backend->struct_size < kStorageV1Size)
      return reg->refuse(WEFT_ERR_VERSION, "storage backend registration struct too small: " +
                                               std::to_string(backend->struct_size) + " < " +
                                               std::to_string(kStorageV1Size) + " bytes");
    if (!backend->scheme.ptr && backend->scheme.len)
      return reg->refuse(WEFT_ERR_INVALID_INPUT, "storage backend registration with a NULL scheme");
    std::string scheme(from_weft_str(backend->scheme));
    if (!is_valid_scheme(scheme))
      return reg->refuse(WEFT_ERR_INVALID_INPUT, "storage backend scheme \"" + printable(scheme) +
                                                     "\" is invalid: use a lowercase URL scheme");
    if (!backend->open || !backend->call || !backend->close)
      return reg->refuse(WEFT_ERR_INVALID_INPUT,
                         "storage backend " + scheme + " lacks one of its open/call/close functions");
    for (const StorageBackend& s : reg->storage)
      if (s.scheme == scheme)
        return reg->refuse(WEFT_ERR_INVALID_INPUT, "storage backend " + scheme +
                                                       " is registered twice by plugin " + reg->plugin_name);
    {
      std::shared_lock rlock(reg->catalog->mu);
      auto it = reg->catalog->storage.find(scheme);
      if (it != reg->catalog->storage.end())
        return reg->refuse(WEFT_ERR_INVALID_INPUT, "storage backend " + scheme +
                                                       " is already registered by plugin " +
                                                       it->second->plugin_name + "; plugin " +
                                                       reg->plugin_name + " cannot register it again");
    }
    StorageBackend s;
    s.scheme = std::move(scheme);
    // Copy what this host knows of the descriptor; a newer plugin's extra fields are ignored.
    std::memcpy(&s.vtable, backend, std::min<size_t>(backend->struct_size, sizeof(weft_storage_backend)));
    s.vtable.struct_size =
        static_cast<uint32_t>(std::min<size_t>(backend->struct_size, sizeof(weft_storage_backend)));
    s.vtable.scheme = weft_str{nullptr, 0};  // re-pointed at our own copy once the record is final
    s.plugin_name = reg->plugin_name;
    reg->storage.push_back(std::move(s));
    return WEFT_OK;
  } catch (const std::exception& e) {
    return reg->refuse(WEFT_ERR_INTERNAL,
                       std::string("host error while registering a storage backend: ") + e.what());
  } catch (...) {
    return WEFT_ERR_INTERNAL;
  }
}

weft_status register_credential_type(weft_registrar* handle, weft_str type_json) noexcept {
  if (!handle) return WEFT_ERR_INVALID_INPUT;
  auto* reg = reinterpret_cast<Registrar*>(handle);
  try {
    std::lock_guard lock(reg->mu);
    if (!reg->open) return WEFT_ERR_UNSUPPORTED;
    if (!type_json.ptr && type_json.len)
      return reg->refuse(WEFT_ERR_INVALID_INPUT, "credential type registration with a NULL type_json");
    JsonParseLimits limits;
    limits.max_bytes = kMaxCredentialTypeBytes;
    limits.max_depth = 16;
    auto parsed = Json::parse(from_weft_str(type_json), limits);
    if (!parsed)
      return reg->refuse(
          WEFT_ERR_INVALID_INPUT,
          "credential type registration: type_json is not valid JSON: " + parsed.error().message);
    // Name the type in the message when it has a usable name, even if the rest is wrong.
    const Json& raw_name = (*parsed)["name"];
    const std::string what = raw_name.is_string() && is_valid_credential_type_name(raw_name.as_string())
                                 ? "credential type " + raw_name.as_string()
                                 : std::string("credential type registration");
    auto def = validate_credential_type(*parsed);
    if (!def) return reg->refuse(WEFT_ERR_INVALID_INPUT, what + ": " + def.error().message);
    std::string name = (*def)["name"].as_string();

    for (const CredentialType& t : reg->credential_types)
      if (t.name == name)
        return reg->refuse(WEFT_ERR_INVALID_INPUT,
                           what + " is registered twice by plugin " + reg->plugin_name);
    {
      std::shared_lock rlock(reg->catalog->mu);
      if (const PluginRecord* owner = reg->catalog->credential_type_owner(name))
        return reg->refuse(WEFT_ERR_INVALID_INPUT, what + " is already registered by plugin " +
                                                       owner->info.name + "; plugin " + reg->plugin_name +
                                                       " cannot register it again");
    }
    CredentialType t;
    t.name = std::move(name);
    t.definition = std::move(*def);
    t.plugin_name = reg->plugin_name;
    reg->credential_types.push_back(std::move(t));
    return WEFT_OK;
  } catch (const std::exception& e) {
    return reg->refuse(WEFT_ERR_INTERNAL,
                       std::string("host error while registering a credential type: ") + e.what());
  } catch (...) {
    return WEFT_ERR_INTERNAL;
  }
}

// "init failed with WEFT_ERR_FAILED: <message> (code <code>)" from the plugin's error JSON.
std::string init_failure_reason(weft_status status, const std::string& error_json) {
  std::string reason = std::string("weft_plugin_init failed with ") + status_name(status);
  if (error_json.empty()) return reason + " and wrote no error message";
  auto parsed = Json::parse(error_json);
  if (!parsed || !parsed->is_object() || !(*parsed)["message"].is_string())
    return reason + ": " + printable(error_json);
  reason += ": " + printable((*parsed)["message"].as_string(), 1000);
  if ((*parsed)["code"].is_string())
    reason += " (code " + printable((*parsed)["code"].as_string(), 100) + ")";
  return reason;
}

}  // namespace

void Registry::Impl::load_directory(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> manifests;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    scan_errors.push_back("cannot read plugin directory " + dir.string() + ": " + ec.message());
    return;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    std::string fname = p.filename().string();
    constexpr std::string_view kSuffix = ".plugin.json";
    if (fname.size() <= kSuffix.size() ||
        fname.compare(fname.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
      continue;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    manifests.push_back(p);
  }
  if (ec) scan_errors.push_back("error while listing plugin directory " + dir.string() + ": " + ec.message());
  // Deterministic order: which of two conflicting plugins wins must not depend on the file system.
  std::sort(manifests.begin(), manifests.end());
  for (const fs::path& m : manifests) load_manifest(dir, m);
}

void Registry::Impl::load_manifest(const fs::path& dir, const fs::path& manifest_path) {
  auto rec = std::make_unique<PluginRecord>();
  PluginInfo& info = rec->info;
  info.manifest_path = manifest_path.string();
  auto finish = [&](PluginState state, std::string reason) {
    std::unique_lock lock(mu);
    info.state = state;
    info.reason = std::move(reason);
    records.push_back(std::move(rec));
  };

  auto manifest = read_manifest(manifest_path, options.verify_sha256);
  if (!manifest) {
    // No trustworthy name: list it under its file name so an admin can find it.
    std::string fname = manifest_path.filename().string();
    info.name = fname.substr(0, fname.size() - std::string_view(".plugin.json").size());
    return finish(PluginState::Rejected, manifest.error().message);
  }
  const Manifest& m = *manifest;
  info.name = m.name;
  info.version = m.version;
  info.description = m.description;
  info.abi_min = m.abi_min_text;
  info.abi_max = m.abi_max_text;
  fs::path file = dir / m.file;
  info.file_path = file.string();

  {
    std::unique_lock lock(mu);
    auto [it, inserted] = by_name.emplace(m.name, rec.get());
    if (!inserted) {
      lock.unlock();
      return finish(PluginState::Rejected, "duplicate plugin name \"" + m.name + "\": already declared by " +
                                               it->second->info.manifest_path);
    }
  }

  const uint32_t host_min = options.host_abi_min, host_max = options.host_abi_max;
  if (m.abi_min > host_max || m.abi_max < host_min)
    return finish(PluginState::Incompatible, "plugin " + m.name + " speaks ABI " +
                                                 range_text(m.abi_min, m.abi_max) + ", host supports " +
                                                 range_text(host_min, host_max));

  std::error_code ec;
  auto st = fs::symlink_status(file, ec);
  if (ec || !fs::exists(st))
    return finish(PluginState::Rejected, "plugin file " + file.string() + " does not exist");
  if (!fs::is_regular_file(fs::status(file, ec)))
    return finish(PluginState::Rejected, "plugin file " + file.string() + " is not a regular file");
  // A symlink must not lead out of the plugin directory either.
  fs::path canon_file = fs::canonical(file, ec);
  fs::path canon_dir = ec ? fs::path() : fs::canonical(dir, ec);
  if (ec || canon_file.parent_path() != canon_dir)
    return finish(PluginState::Rejected, "plugin file " + file.string() + " resolves to " +
                                             canon_file.string() + ", outside the plugin directory " +
                                             dir.string());

  if (options.verify_sha256) {
    auto sha = sha256_file(file);
    if (!sha) return finish(PluginState::Rejected, sha.error().message);
    if (*sha != m.sha256)
      return finish(PluginState::Rejected, "sha256 mismatch for " + file.string() + ": manifest says " +
                                               m.sha256 + ", file has " + *sha);
  }

  auto [state, reason] = load_library(*rec, m, file);
  finish(state, std::move(reason));
}

std::pair<PluginState, std::string> Registry::Impl::load_library(PluginRecord& rec, const Manifest& m,
                                                                 const fs::path& file) {
  // NOTE: native plugins are trusted code (PRODUCT.md §6). Everything detectable is checked
  // before and after loading, but a plugin that crashes in its ELF constructors or inside
  // weft_plugin_init takes the process down; it cannot be contained in-process.
  boost::dll::shared_library lib;
  try {
    // Local symbol scope: plugins cannot see (or clash with) each other's symbols. RTLD_NOW
    // surfaces undefined symbols here, as a load error, instead of as a crash mid-execution.
    lib.load(boost::dll::fs::path(file.string()),
             boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now);
  } catch (const std::exception& e) {
    return {PluginState::Broken, "cannot load " + file.string() + ": " + e.what()};
  }
  {
    std::shared_lock lock(mu);
    for (const auto& other : records)
      if (other->library && other->library->library.native() == lib.native())
        return {PluginState::Rejected, "plugin file " + file.string() +
                                           " is the library already loaded as plugin " + other->info.name};
  }
  for (const char* sym : {WEFT_PLUGIN_NEGOTIATE_SYMBOL, WEFT_PLUGIN_INIT_SYMBOL, WEFT_PLUGIN_SHUTDOWN_SYMBOL})
    if (!lib.has(sym)) return {PluginState::Broken, std::string("missing entry point ") + sym};

  auto negotiate = &lib.get<std::remove_pointer_t<weft_plugin_negotiate_fn>>(WEFT_PLUGIN_NEGOTIATE_SYMBOL);
  auto init = &lib.get<std::remove_pointer_t<weft_plugin_init_fn>>(WEFT_PLUGIN_INIT_SYMBOL);
  auto loaded = std::make_shared<LoadedLibrary>(std::move(lib));
  loaded->shutdown =
      &loaded->library.get<std::remove_pointer_t<weft_plugin_shutdown_fn>>(WEFT_PLUGIN_SHUTDOWN_SYMBOL);

  const uint32_t host_min = options.host_abi_min, host_max = options.host_abi_max;
  const uint32_t agreed = negotiate(host_min, host_max);
  if (agreed == 0)
    return {PluginState::Incompatible,
            "plugin " + m.name + " speaks none of the host's ABI versions " + range_text(host_min, host_max) +
                " (handshake answered 0; manifest says " + range_text(m.abi_min, m.abi_max) + ")"};
  if (agreed < host_min || agreed > host_max)
    return {PluginState::Incompatible, "plugin " + m.name + " answered ABI " + format_abi_version(agreed) +
                                           " in the handshake, host supports " +
                                           range_text(host_min, host_max)};
  rec.info.negotiated_abi = agreed;

  loaded->host_api = *host_api_table();
  loaded->host_api.abi_version = agreed;
  Registrar& reg = loaded->registrar;
  reg.catalog = this;
  reg.plugin_name = m.name;

  auto cfg = options.plugin_config.find(m.name);
  const std::string config_json = cfg != options.plugin_config.end() ? cfg->second.dump() : std::string("{}");
  StringSink error;
  weft_plugin_init_args args{};
  args.struct_size = sizeof(args);
  args.abi_version = agreed;
  args.host = &loaded->host_api;
  args.registrar_api = &kRegistrarApi;
  args.registrar = reinterpret_cast<weft_registrar*>(&reg);
  args.config_json = to_weft_str(config_json);
  args.error = &error.sink;

  {
    std::lock_guard lock(reg.mu);
    reg.open = true;
  }
  const weft_status status = init(&args);
  std::string registration_error;
  {
    std::lock_guard lock(reg.mu);
    reg.open = false;
    registration_error = reg.first_error;
  }
  // From here on the plugin believes it is initialised: it gets its shutdown call when `loaded`
  // goes away, whether we keep it or not. A failed init is not shut down (nothing to undo).
  loaded->initialised = status == WEFT_OK;
  // A refused registration is the more specific reason, even when the plugin then failed init.
  if (!registration_error.empty()) return {PluginState::Broken, registration_error};
  if (status != WEFT_OK) return {PluginState::Broken, init_failure_reason(status, error.data)};

  std::string conflict = commit(rec, loaded);
  if (!conflict.empty()) return {PluginState::Broken, conflict};
  return {PluginState::Loaded, {}};
}

// Makes a successfully initialised plugin's registrations visible, all or nothing.
std::string Registry::Impl::commit(PluginRecord& rec, const std::shared_ptr<LoadedLibrary>& lib) {
  Registrar& reg = lib->registrar;
  std::vector<NodeType> node_types = std::move(reg.node_types);
  std::vector<StorageBackend> backends = std::move(reg.storage);
  std::vector<CredentialType> credential_defs = std::move(reg.credential_types);
  reg.node_types.clear();
  reg.storage.clear();
  reg.credential_types.clear();

  std::unique_lock lock(mu);
  // Re-check under the exclusive lock (registration checked under a shared one).
  for (const NodeType& t : node_types)
    if (const PluginRecord* owner = node_type_owner(t.type_name, t.type_version))
      return "node type " + t.type_name + " v" + std::to_string(t.type_version) +
             " is already registered by plugin " + owner->info.name + "; plugin " + rec.info.name +
             " cannot register it again";
  for (const StorageBackend& s : backends)
    if (auto it = storage.find(s.scheme); it != storage.end())
      return "storage backend " + s.scheme + " is already registered by plugin " + it->second->plugin_name +
             "; plugin " + rec.info.name + " cannot register it again";
  for (const CredentialType& c : credential_defs)
    if (const PluginRecord* owner = credential_type_owner(c.name))
      return "credential type " + c.name + " is already registered by plugin " + owner->info.name +
             "; plugin " + rec.info.name + " cannot register it again";

  for (NodeType& t : node_types) {
    t.library = lib;
    rec.info.node_types.push_back(type_key(t.type_name, t.type_version));
    auto shared = std::make_shared<const NodeType>(std::move(t));
    types[shared->type_name][shared->type_version] = TypeEntry{shared, &rec};
  }
  for (StorageBackend& s : backends) {
    s.library = lib;
    rec.info.storage_schemes.push_back(s.scheme);
    auto shared = std::make_shared<StorageBackend>(std::move(s));
    shared->vtable.scheme = to_weft_str(shared->scheme);  // points into the final, never-moved copy
    storage.emplace(shared->scheme, std::move(shared));
  }
  for (CredentialType& c : credential_defs) {
    rec.info.credential_types.push_back(c.name);
    auto shared = std::make_shared<const CredentialType>(std::move(c));
    credential_types.emplace(shared->name, CredentialEntry{shared, &rec});
  }
  rec.library = lib;
  rec.info.state = PluginState::Loaded;
  return {};
}

Registry::Registry(RegistryOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

Registry::~Registry() = default;

size_t Registry::load() {
  if (impl_->load_started.exchange(true)) return 0;  // load() runs once; a second call is a no-op
  for (const std::string& dir : impl_->options.plugin_dirs) {
    try {
      impl_->load_directory(dir);
    } catch (const std::exception& e) {
      // Only allocation failures and the like end up here; keep going with the next directory.
      std::unique_lock lock(impl_->mu);
      impl_->scan_errors.push_back("error while loading plugins from " + dir + ": " + e.what());
    }
  }
  std::lock_guard toggle(impl_->toggle_mu);
  std::unique_lock lock(impl_->mu);
  impl_->loaded = true;
  for (const auto& [name, enabled] : impl_->pending_states) {
    auto it = impl_->by_name.find(name);
    if (it != impl_->by_name.end() && it->second->loadable())
      it->second->info.state = enabled ? PluginState::Loaded : PluginState::Disabled;
  }
  impl_->pending_states.clear();
  size_t n = 0;
  for (const auto& r : impl_->records)
    if (r->library) ++n;
  return n;
}

Status Registry::attach_state_store(PluginStateStore* store) {
  std::lock_guard toggle(impl_->toggle_mu);
  if (!store) {
    impl_->state_store = nullptr;
    return {};
  }
  auto states = store->load_plugin_states();
  if (!states) {
    Error e = states.take_error();
    e.message = "cannot load plugin enable/disable states: " + e.message;
    return e;
  }
  std::unique_lock lock(impl_->mu);
  impl_->state_store = store;
  if (!impl_->loaded) {
    impl_->pending_states = std::move(*states);
    return {};
  }
  for (const auto& [name, enabled] : *states) {
    auto it = impl_->by_name.find(name);
    // States of plugins that are not installed (or not loadable) are kept in the store untouched.
    if (it != impl_->by_name.end() && it->second->loadable())
      it->second->info.state = enabled ? PluginState::Loaded : PluginState::Disabled;
  }
  return {};
}

Status Registry::set_enabled(const std::string& name, bool enabled) {
  std::lock_guard toggle(impl_->toggle_mu);
  {
    std::shared_lock lock(impl_->mu);
    auto it = impl_->by_name.find(name);
    if (it == impl_->by_name.end()) return Error("not_found", "plugin \"" + name + "\" is not installed");
    const PluginInfo& info = it->second->info;
    if (!it->second->loadable())
      return Error("invalid_state", "plugin \"" + name + "\" is " + to_string(info.state) + " (" +
                                        info.reason + "); only loaded plugins can be enabled or disabled");
  }
  // Persist first: if the store refuses, nothing changes and the caller sees why.
  if (impl_->state_store) {
    Status st = impl_->state_store->save_plugin_state(name, enabled);
    if (!st) {
      Error e = st.take_error();
      e.message = "cannot save the state of plugin \"" + name + "\": " + e.message;
      return e;
    }
  }
  std::unique_lock lock(impl_->mu);
  impl_->by_name.at(name)->info.state = enabled ? PluginState::Loaded : PluginState::Disabled;
  return {};
}

std::vector<PluginInfo> Registry::plugins() const {
  std::shared_lock lock(impl_->mu);
  std::vector<PluginInfo> out;
  out.reserve(impl_->records.size());
  for (const auto& r : impl_->records) out.push_back(r->info);
  return out;
}

std::vector<std::string> Registry::scan_errors() const {
  std::shared_lock lock(impl_->mu);
  return impl_->scan_errors;
}

std::shared_ptr<const NodeType> Registry::find_node_type(std::string_view type_name, uint32_t version) const {
  std::shared_lock lock(impl_->mu);
  auto it = impl_->types.find(type_name);
  if (it == impl_->types.end()) return nullptr;
  const auto& versions = it->second;
  if (version != 0) {
    auto v = versions.find(version);
    if (v == versions.end() || v->second.plugin->info.state != PluginState::Loaded) return nullptr;
    return v->second.type;
  }
  // Highest version whose plugin is enabled.
  for (auto v = versions.rbegin(); v != versions.rend(); ++v)
    if (v->second.plugin->info.state == PluginState::Loaded) return v->second.type;
  return nullptr;
}

std::vector<std::shared_ptr<const NodeType>> Registry::node_types() const {
  std::shared_lock lock(impl_->mu);
  std::vector<std::shared_ptr<const NodeType>> out;
  for (const auto& [name, versions] : impl_->types)
    for (const auto& [version, entry] : versions)
      if (entry.plugin->info.state == PluginState::Loaded) out.push_back(entry.type);
  return out;  // sorted by type name, then version (map order)
}

Json Registry::palette() const {
  Json out = Json::array();
  for (const auto& t : node_types()) {
    Json item = Json::object();
    item.set("type", t->type_name);
    item.set("version", t->type_version);
    item.set("plugin", t->plugin_name);
    item.set("flags", flag_names(t->flags));
    // The schema's own members follow; the four above are the registry's and win on a clash.
    for (const auto& [key, value] : t->schema.as_object())
      if (!item.contains(key)) item.set(key, value);
    out.push_back(std::move(item));
  }
  return out;
}

std::shared_ptr<const StorageBackend> Registry::find_storage(std::string_view scheme) const {
  std::shared_lock lock(impl_->mu);
  auto it = impl_->storage.find(scheme);
  return it == impl_->storage.end() ? nullptr : it->second;
}

Status Registry::add_builtin_node_type(NodeType type) {
  if (type.plugin_name.empty()) type.plugin_name = "builtin";
  if (!is_valid_name(type.plugin_name))
    return Error("invalid_argument", "plugin name \"" + printable(type.plugin_name) + "\" is invalid");
  if (!is_valid_name(type.type_name))
    return Error("invalid_argument", "node type name \"" + printable(type.type_name) +
                                         "\" is invalid: use 1-128 characters of [a-z0-9_.-]");
  if (type.type_version < 1)
    return Error("invalid_argument", "node type " + type.type_name + " has version 0: versions start at 1");
  if (!type.execute)
    return Error("invalid_argument",
                 "node type " + type_key(type.type_name, type.type_version) + " has no execute function");
  auto schema = validate_node_schema(type.schema);
  if (!schema) {
    Error e = schema.take_error();
    e.message = "node type " + type_key(type.type_name, type.type_version) + ": invalid schema: " + e.message;
    return e;
  }
  type.schema = std::move(*schema);

  std::unique_lock lock(impl_->mu);
  auto record = impl_->existing_builtin_record(type.plugin_name, "node types");
  if (!record) return record.take_error();
  if (const PluginRecord* owner = impl_->node_type_owner(type.type_name, type.type_version))
    return Error("duplicate_node_type", "node type " + type.type_name + " v" +
                                            std::to_string(type.type_version) +
                                            " is already registered by plugin " + owner->info.name);
  PluginRecord* rec = *record ? *record : impl_->new_builtin_record(type.plugin_name, "node types");
  rec->info.node_types.push_back(type_key(type.type_name, type.type_version));
  auto shared = std::make_shared<const NodeType>(std::move(type));
  impl_->types[shared->type_name][shared->type_version] = TypeEntry{shared, rec};
  return {};
}

Result<PluginRecord*> Registry::Impl::existing_builtin_record(const std::string& plugin_name,
                                                              const char* what) {
  auto it = by_name.find(plugin_name);
  if (it == by_name.end()) return static_cast<PluginRecord*>(nullptr);
  PluginRecord* rec = it->second;
  if (!rec->loadable())
    return Error("invalid_state", "plugin \"" + plugin_name + "\" is " + to_string(rec->info.state) +
                                      "; it cannot take more " + what);
  return rec;
}

PluginRecord* Registry::Impl::new_builtin_record(const std::string& plugin_name, const char* what) {
  auto r = std::make_unique<PluginRecord>();
  r->info.name = plugin_name;
  r->info.version = "builtin";
  r->info.description = std::string(what) + " registered in-process by the host";
  r->info.negotiated_abi = options.host_abi_max;
  r->info.state = PluginState::Loaded;
  PluginRecord* rec = r.get();
  by_name.emplace(rec->info.name, rec);
  records.push_back(std::move(r));
  return rec;
}

Status Registry::add_builtin_credential_type(const std::string& plugin_name, const Json& definition) {
  const std::string owner_name = plugin_name.empty() ? std::string("builtin") : plugin_name;
  if (!is_valid_name(owner_name))
    return Error("invalid_argument", "plugin name \"" + printable(owner_name) + "\" is invalid");
  auto def = validate_credential_type(definition);
  if (!def) return def.take_error();
  std::string name = (*def)["name"].as_string();

  std::unique_lock lock(impl_->mu);
  auto record = impl_->existing_builtin_record(owner_name, "credential types");
  if (!record) return record.take_error();
  if (const PluginRecord* owner = impl_->credential_type_owner(name))
    return Error("duplicate_credential_type",
                 "credential type " + name + " is already registered by plugin " + owner->info.name);
  PluginRecord* rec = *record ? *record : impl_->new_builtin_record(owner_name, "credential types");
  rec->info.credential_types.push_back(name);
  auto shared = std::make_shared<CredentialType>();
  shared->name = std::move(name);
  shared->definition = std::move(*def);
  shared->plugin_name = owner_name;
  impl_->credential_types.emplace(shared->name, CredentialEntry{shared, rec});
  return {};
}

std::shared_ptr<const CredentialType> Registry::find_credential_type(std::string_view name) const {
  std::shared_lock lock(impl_->mu);
  auto it = impl_->credential_types.find(name);
  if (it == impl_->credential_types.end() || it->second.plugin->info.state != PluginState::Loaded)
    return nullptr;
  return it->second.type;
}

Json Registry::credential_types() const {
  std::vector<std::shared_ptr<const CredentialType>> visible;
  {
    std::shared_lock lock(impl_->mu);
    for (const auto& [name, entry] : impl_->credential_types)
      if (entry.plugin->info.state == PluginState::Loaded) visible.push_back(entry.type);
  }
  Json out = Json::array();
  for (const auto& t : visible) {
    Json item = t->definition;
    item.set("plugin", t->plugin_name);
    out.push_back(std::move(item));
  }
  return out;  // sorted by name (map order)
}

std::vector<std::string> CredentialType::secret_fields() const {
  std::vector<std::string> out;
  for (const Json& f : definition["fields"].as_array())
    if (f["secret"].as_bool()) out.push_back(f["name"].as_string());
  return out;
}

const Json& CredentialType::apply() const {
  return definition["apply"];
}

}  // namespace weft::registry
