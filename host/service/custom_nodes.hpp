// Custom nodes (PRODUCT.md §2, issue 5): a user uploads a JavaScript or Python file that declares a
// node type — its fields, handles and accepted credential types — and an execute function. The
// file is checked with Tree-sitter, loaded once in the sandbox to read its declaration ("describe";
// host calls refused), the declaration is validated and turned into the host's node schema, and the
// whole is stored as a new immutable version. The node type "custom.<name>" then exists for its
// owner only: in the owner's palette, in the owner's compiles (Host::set_owner_types) and in the
// owner's runs, where every attempt runs the file's execute(items, params, weft) in the sandbox
// through the node call's sandbox_run (mode "module"), so the code reaches only the credentials its
// node references and only the network the guarded client allows. Another user never sees it.
//
// The declaration (JavaScript: `module.exports = {...}`; Python: a module-level `NODE = {...}` and
// `def execute(items, params, weft)`; docs/custom-nodes.md has examples):
//   name             [a-z][a-z0-9_]{0,62} (required); the node type is "custom.<name>"
//   displayName      (or display_name) default: the name
//   description      default ""
//   category         default "custom"
//   fields           [{name, type, displayName|display_name|label, description, required, default,
//                      options (select), language (code), credentialTypes|credential_types
//                      (credential), min, max (number, integer), maxLength|max_length (string,
//                      code, expression), placeholder}]
//                    types: string number integer boolean select json code credential expression
//   inputs, outputs  ["name", ...] or [{name, type, multiple (inputs only)}]; types json text number
//                    boolean binary any; default one "main" each (input any, output json)
//   credentialTypes  (or credential_types) the credential types the node accepts: names of
//                    registered types, and objects declaring the node's own types (below)
// Anything else in the declaration is refused (typos must not pass silently).
//
// A custom node's own credential types: an object in credentialTypes is a credential type
// definition in the registry's JSON (registry/credential_type.hpp: name, display_name, description,
// fields [{name, display_name, type, secret, required, default, description, placeholder, pattern,
// options}], apply {kind bearer|basic|header|query|url|none, ...}), with the JavaScript spellings
// displayName, usernameField and passwordField accepted too and null members ignored. It is
// checked by registry::validate_credential_type; its name must not be a registered type's. Its
// full name is "custom.<node name>.<type name>" (e.g. custom.trello.trello_api): the node accepts
// it, and a credential field of the node may name it by either name. Such a type exists for the
// node's owner only, as long as the node's LATEST version declares it: the owner can create
// credentials of it (POST /api/credentials), sees it in GET /api/credentials/types after the
// registered ones ("plugin": "custom", "node_type"), and the host applies it to weft.http requests
// like a plugin's type. Credentials stored with a type that no longer exists (the node was deleted,
// or its latest version no longer declares it) can still be read and deleted; workflows using them
// fail to compile and to run with unknown_credential_type. The CredentialService finds these types
// through CredentialService::set_owner_types, installed by attach_custom_nodes.
//
// At run time the node's input goes to execute as `items` (one input handle: that handle's value;
// several: the object {"<handle>": value}); its return value is the output: with one output handle
// the whole value goes out on it, with several it must be an object keyed by output handle (handles
// present are taken). Log lines of the code go to the node log. Errors keep the sandbox's codes
// (code_error with line/column, timeout, memory_limit, ...); a code_error is retryable like any
// failure of an integration node (the workflow's retry settings decide).
//
// Error codes (Error::code) on top of the store's:
//   "invalid_custom_node"  the body, the file (syntax, with details.diagnostics) or its declaration
//                          (message names the member) is not acceptable — answered 400
//   "sandbox_unavailable"  the sandbox could not load the file (not the file's fault) — 503
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "host/app/host.hpp"
#include "host/core/json.hpp"
#include "host/core/result.hpp"
#include "registry/registry.hpp"

namespace weft::service {

class CodeRuntime;

struct CustomNodeLimits {
  size_t max_source_bytes = 256u << 10;       // the uploaded file
  size_t max_declaration_bytes = 128u << 10;  // the declaration as JSON text
  int64_t describe_timeout_ms = 5'000;        // loading the file to read its declaration
  size_t cache_entries = 512;                 // node types kept for compiles (per version row)
};

class CustomNodeService {
 public:
  // `code` may be null: uploads then answer sandbox_unavailable (the declaration cannot be read).
  CustomNodeService(app::Host& host, std::shared_ptr<CodeRuntime> code, CustomNodeLimits limits = {});

  // body: {"language": "javascript"|"python", "source": "..."}. A new name: version 1 ("conflict"
  // when the owner already has it). Returns the view (view_json).
  Result<Json> create(const std::string& owner, const Json& body);
  // A new version of an existing name (same body; the declared name must stay `name`).
  Result<Json> update(const std::string& owner, const std::string& name, const Json& body);
  // One version (0 = the latest) with its source and the list of versions.
  Result<Json> get(const std::string& owner, const std::string& name, int64_t version = 0);
  // The latest version of each of the owner's custom nodes (without sources).
  Result<Json> list(const std::string& owner);
  Status remove(const std::string& owner, const std::string& name);
  // Palette entries of the owner's custom nodes (GET /api/nodes): {type, version, plugin "custom",
  // flags [], language, ...schema}.
  Result<Json> palette(const std::string& owner);

  // The compiler's lookup (Host::set_owner_types): "custom.<name>" of that owner, version 0 = the
  // latest; null when there is no such node (or for any other type name).
  std::shared_ptr<const registry::NodeType> find_type(const std::string& owner, const std::string& type_name,
                                                      uint32_t version);
  // The credential service's lookup (CredentialService::set_owner_types): "custom.<node>.<type>"
  // as declared by the latest version of that owner's node; null when there is none.
  std::shared_ptr<const registry::CredentialType> find_credential_type(const std::string& owner,
                                                                       const std::string& type_name);
  // Every credential type the owner's custom nodes declare (latest versions), as the registry lists
  // its types, plus "plugin": "custom" and "node_type": "custom.<node>".
  Result<Json> credential_types(const std::string& owner);

  // Checks a declaration (what the file's describe step returned) and returns the host node schema
  // it becomes (registry::validate_node_schema applied). `registry` (may be null) checks that the
  // credential types named exist. Error "invalid_custom_node" naming the member.
  static Result<Json> schema_from_declaration(const Json& declaration, const registry::Registry* registry,
                                              std::string* name_out);

 private:
  Result<Json> store_version(const std::string& owner, const std::string& name, const Json& body,
                             bool new_name);
  // Tree-sitter check + describe in the sandbox + validation: {schema, name}.
  Result<Json> analyse(const std::string& owner, const std::string& language, const std::string& source);

  // A version row made usable: its node type and the credential types it declares (by full name).
  using CredentialTypeMap = std::map<std::string, std::shared_ptr<const registry::CredentialType>>;
  struct Loaded {
    std::shared_ptr<const registry::NodeType> type;  // null: no such node / version
    std::shared_ptr<const CredentialTypeMap> credential_types;
  };
  Loaded type_for(const store::CustomNodeRecord& rec);
  // Node `name` (not the type name) of `owner`, version 0 = the latest; through the cache.
  Loaded load(const std::string& owner, const std::string& name, uint32_t version);

  app::Host& host_;
  std::shared_ptr<CodeRuntime> code_;
  CustomNodeLimits limits_;

  // Node types by version row id (ids are never reused, so an entry can never be stale), least
  // recently used first.
  std::mutex cache_mu_;
  std::list<std::string> lru_;
  struct CacheEntry {
    Loaded loaded;
    std::list<std::string>::iterator pos;
  };
  std::map<std::string, CacheEntry> cache_;
};

// Creates the service and installs its lookup into the host (Host::set_owner_types), so compiles
// and runs know the owners' custom node types. Call it where attach_credentials is called, with the
// CodeRuntime that attach_credentials created (CredentialStack::code), before workers start.
std::shared_ptr<CustomNodeService> attach_custom_nodes(app::Host& host, std::shared_ptr<CodeRuntime> code);

// The node type name of a custom node ("custom.<name>"), and the name of a type ("" when not custom).
std::string custom_type_name(const std::string& name);
std::string custom_name_of(std::string_view type_name);
// The full name of a credential type a custom node declares ("custom.<node>.<type>"), and its
// parts (false when `full_name` is not such a name).
std::string custom_credential_type_name(const std::string& node_name, const std::string& type_name);
bool custom_credential_type_parts(std::string_view full_name, std::string* node_name, std::string* type_name);

}  // namespace weft::service
