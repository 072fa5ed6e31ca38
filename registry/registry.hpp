// The plugin registry: finds plugins through manifests in configured directories, checks them
// (ABI range, sha256) before loading, loads them with Boost.DLL (local symbol scope), runs the
// two-way version handshake, collects what they register, and keeps broken or incompatible
// plugins out with a clear reason. The host never crashes because of a plugin it can detect as
// bad. Enabling/disabling is a run-time switch persisted through a PluginStateStore.
//
// Native plugins are trusted code (PRODUCT.md §6): they load only from the configured
// directories, after their manifest (ABI range, sha256, file inside the directory) checked out.
// Everything detectable is caught and reported per plugin; a plugin that crashes the process
// (e.g. a segfault in its constructors or in weft_plugin_init) cannot be contained in-process.
//
// Thread-safety: all const methods may be called concurrently with each other and with
// set_enabled(); load() must be called once, before anything else.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "host/core/json.hpp"
#include "host/core/result.hpp"
#include "registry/credential_type.hpp"
#include "weft/weft_abi.h"

namespace weft::registry {

class LoadedLibrary;  // keeps a dlopen'ed plugin alive (refcounted)

// A node type as the host sees it (copied out of the plugin's registration).
struct NodeType {
  std::string type_name;
  uint32_t type_version = 1;
  Json schema;         // parsed schema_json (docs/plugin-abi.md "Node schema")
  uint32_t flags = 0;  // WEFT_NODE_FLAG_*
  void* type_state = nullptr;
  weft_node_execute_fn execute = nullptr;
  std::string plugin_name;
  std::shared_ptr<LoadedLibrary> library;  // null for types registered in-process (tests)

  bool is_trigger() const { return flags & WEFT_NODE_FLAG_TRIGGER; }
  bool is_loop() const { return flags & WEFT_NODE_FLAG_LOOP; }
};

struct StorageBackend {
  std::string scheme;
  weft_storage_backend vtable{};  // copied; function pointers live as long as `library`
  std::string plugin_name;
  std::shared_ptr<LoadedLibrary> library;
};

// A credential type as the host sees it: the validated, normalised definition (see
// registry/credential_type.hpp for the JSON). Pure data: nothing in it points into the plugin.
struct CredentialType {
  std::string name;
  Json definition;
  std::string plugin_name;

  // Names of the fields declared "secret": true, in declaration order.
  std::vector<std::string> secret_fields() const;
  // definition["apply"]: always an object with "kind" (defaults filled by validation).
  const Json& apply() const;
};

enum class PluginState {
  Loaded,        // loaded and enabled: its node types are offered
  Disabled,      // loaded (or loadable) but switched off by an admin
  Incompatible,  // ABI range does not overlap the host's
  Rejected,      // manifest invalid, file missing, sha256 mismatch
  Broken,        // failed to load, missing entry point, init failed, bad registration
};
const char* to_string(PluginState s);

struct PluginInfo {
  std::string name;
  std::string version;
  std::string description;
  std::string manifest_path;
  std::string file_path;
  std::string abi_min, abi_max;  // as declared in the manifest, "major.minor"
  uint32_t negotiated_abi = 0;   // 0 when not negotiated
  PluginState state = PluginState::Rejected;
  std::string reason;                   // why it is not Loaded (empty when Loaded)
  std::vector<std::string> node_types;  // "type@version"
  std::vector<std::string> storage_schemes;
  std::vector<std::string> credential_types;
};

// Where enable/disable decisions are persisted (the store implements it once it is open).
class PluginStateStore {
 public:
  virtual ~PluginStateStore() = default;
  virtual Result<std::map<std::string, bool>> load_plugin_states() = 0;
  virtual Status save_plugin_state(const std::string& name, bool enabled) = 0;
};

struct RegistryOptions {
  std::vector<std::string> plugin_dirs;  // scanned for *.plugin.json (non-recursive)
  uint32_t host_abi_min = WEFT_ABI_MAKE_VERSION(1, 0);
  uint32_t host_abi_max = WEFT_ABI_VERSION;
  bool verify_sha256 = true;
  // Per-plugin configuration handed to weft_plugin_init as config_json, by plugin name.
  std::map<std::string, Json> plugin_config;
};

class Registry {
 public:
  explicit Registry(RegistryOptions options);
  // Releases every plugin: weft_plugin_shutdown runs for each initialised plugin (reverse load
  // order) as soon as its last NodeType/StorageBackend reference is gone — normally right here;
  // later only for types an execution still holds, so no node ever runs in a shut-down plugin.
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Scans the directories and loads every plugin it can. Problems are recorded per plugin
  // (plugins()), never thrown. Returns the number of plugins loaded.
  size_t load();

  // Applies persisted enable/disable states and remembers the store for later changes (not
  // owned: it must outlive the registry, or be detached with nullptr). May also be called before
  // load(), which then applies the states. States of unknown or unloadable plugins are ignored.
  Status attach_state_store(PluginStateStore* store);

  // Run-time switch. Disabling hides the plugin's node types from the palette and the compiler;
  // executions already running keep their references. Error "not_found" for unknown names,
  // "invalid_state" when the plugin is not loadable.
  Status set_enabled(const std::string& name, bool enabled);

  std::vector<PluginInfo> plugins() const;
  // Problems with the configured directories themselves (missing, unreadable), one line each.
  std::vector<std::string> scan_errors() const;

  // Enabled node types. version 0 = the highest version whose plugin is enabled.
  std::shared_ptr<const NodeType> find_node_type(std::string_view type_name, uint32_t version = 0) const;
  std::vector<std::shared_ptr<const NodeType>> node_types() const;
  // The palette: JSON array of {type, version, plugin, schema...} for enabled node types.
  Json palette() const;

  std::shared_ptr<const StorageBackend> find_storage(std::string_view scheme) const;

  // Credential types of enabled plugins (nullptr when unknown or its plugin is disabled).
  std::shared_ptr<const CredentialType> find_credential_type(std::string_view name) const;
  // GET /api/credentials/types: array of the definitions, each with "plugin" added, by name.
  Json credential_types() const;

  // For tests and embedding: registers an in-process node type as if a plugin named
  // `plugin_name` had registered it.
  Status add_builtin_node_type(NodeType type);
  // Likewise for a credential type. Error "invalid_credential_type" (validation),
  // "duplicate_credential_type", "invalid_argument" (plugin name), "invalid_state".
  Status add_builtin_credential_type(const std::string& plugin_name, const Json& definition);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses "major.minor" into a version number; nullopt when malformed.
std::optional<uint32_t> parse_abi_version(std::string_view s);
std::string format_abi_version(uint32_t v);

}  // namespace weft::registry
