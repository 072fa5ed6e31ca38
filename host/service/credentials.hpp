// Credentials (PRODUCT.md §6, issue 4): the user-facing service (create/list/get/update/delete,
// validated against the credential types plugins declare), the compiler's credential checks, the
// deterministic placeholder resolver, and the run-time side (CredentialRuntime) through which a
// node reads the credentials its configuration references or has the host apply one to an
// outbound request. Secret values are write-only: no view this service returns contains one.
//
// Error codes (Error::code) on top of the store's:
//   "vault_unavailable"        no master key is configured (development without a key file)
//   "unknown_credential_type"  the type is not registered by an enabled plugin, nor one of the
//                              caller's own types (a custom node's, see set_owner_types)
//   "invalid_credential"       the body does not match the type (message names the field)
//   "unknown_field"            a body member the server owns or does not know (id, owner_id...)
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "host/app/host.hpp"
#include "host/compiler/compiler.hpp"
#include "host/executor/executor.hpp"
#include "host/net/outbound.hpp"
#include "host/service/audit.hpp"
#include "host/store/store.hpp"
#include "host/vault/vault.hpp"
#include "registry/registry.hpp"

namespace weft::service {

// The result of resolving credential placeholders ("{{credential:slack}}") in a workflow.
struct PlaceholderResolution {
  Json workflow;                              // the workflow with resolved placeholders replaced by ids
  Json resolved = Json::array();              // [{node_id, field, placeholder, credential_id, name, type}]
  std::vector<compiler::Diagnostic> problems; // credential_placeholder_ambiguous / _unresolved
};

class CredentialService : public compiler::CredentialChecker {
 public:
  // Credential types that exist for one owner only (the types a custom node declares,
  // "custom.<node>.<type>", see host/service/custom_nodes.hpp). `find` answers one type of that
  // owner (null: the owner has no such type); `list` every type of the owner (definitions as the
  // registry lists them, "plugin": "custom"). Both must be thread-safe.
  using OwnerTypeFinder =
      std::function<std::shared_ptr<const registry::CredentialType>(const std::string& owner, const std::string& type)>;
  using OwnerTypeLister = std::function<Json(const std::string& owner)>;

  // vault may be null: every operation that needs it answers "vault_unavailable".
  CredentialService(std::shared_ptr<store::Store> store, const registry::Registry& registry,
                    std::shared_ptr<vault::Vault> vault, std::shared_ptr<AuditLog> audit);

  // Installs the owners' own credential types (attach_custom_nodes does). Registered types are
  // always looked up first: an owner's type can never shadow one.
  void set_owner_types(OwnerTypeFinder find, OwnerTypeLister list);
  // A credential type as `owner` sees it: a registered one, else one of the owner's own.
  std::shared_ptr<const registry::CredentialType> find_type(const std::string& owner, const std::string& type) const;

  // body: {"name", "type", "fields": {...}} (secret and non-secret fields together).
  Result<Json> create(const std::string& owner, const Json& body);
  // body: {"name"?, "fields"?}: given fields replace stored ones (null clears an optional field);
  // secret fields not given keep their value. The type cannot change.
  Result<Json> update(const std::string& owner, const std::string& id, const Json& body);
  Result<Json> get(const std::string& owner, const std::string& id);
  Result<Json> list(const std::string& owner, const std::string& type = "");
  Status remove(const std::string& owner, const std::string& id);
  // GET /api/credentials/types: the registered types; with an owner, followed by the owner's own.
  Json types() const;
  Json types(const std::string& owner) const;

  // compiler::CredentialChecker
  std::string check(const std::string& owner_id, const std::string& credential_id,
                    const std::vector<std::string>& accepted_types) override;

  // Maps placeholders to the owner's credentials: by name (case-insensitive) among the accepted
  // types, then by type name, then by the single credential of an accepted type; more than one
  // candidate is an ambiguity (reported with the candidates), none is unresolved.
  Result<PlaceholderResolution> resolve_placeholders(const std::string& owner, const Json& workflow);

  // Run time: the credential with its secrets opened, checked against the owner and the
  // accepted types. {"id", "name", "type", "fields": {...}, "secret_fields": [...]}.
  Result<Json> open_for_run(const std::string& owner, const std::string& id,
                            const std::vector<std::string>& accepted_types);

  const registry::Registry& registry() const { return registry_; }
  const std::shared_ptr<AuditLog>& audit() const { return audit_; }
  bool has_vault() const { return vault_ != nullptr; }

 private:
  Result<Json> view(const store::CredentialRecord& r) const;
  struct OwnerTypes {
    OwnerTypeFinder find;
    OwnerTypeLister list;
  };
  std::shared_ptr<const OwnerTypes> owner_types() const;

  std::shared_ptr<store::Store> store_;
  const registry::Registry& registry_;
  std::shared_ptr<vault::Vault> vault_;
  std::shared_ptr<AuditLog> audit_;
  mutable std::mutex owner_types_mu_;
  std::shared_ptr<const OwnerTypes> owner_types_;
};

// The node services of the executor: credential_get and the guarded http_request (with "credential"
// applied by the host, so the plugin never holds the secret). Every secret opened is registered
// with the run's redactor; every access is audited. `http` may be null (no outbound HTTP).
class CredentialRuntime : public executor::NodeServices {
 public:
  CredentialRuntime(std::shared_ptr<CredentialService> credentials, std::shared_ptr<net::OutboundHttp> http);

  weft_status credential_get(const executor::NodeServiceContext& ctx, std::string_view ref, std::string& out_json,
                             std::string& out_error) override;
  weft_status http_request(const executor::NodeServiceContext& ctx, std::string_view request_json,
                           std::string& out_json, std::string& out_error) override;

 private:
  std::shared_ptr<CredentialService> credentials_;
  std::shared_ptr<net::OutboundHttp> http_;
};

// Everything credentials need, opened from the host's configuration (mode, vault.key_file,
// outbound) by attach_credentials.
class CodeRuntime;

struct CredentialStack {
  std::shared_ptr<vault::Vault> vault;          // null: no key (credential routes answer vault_unavailable)
  std::shared_ptr<net::OutboundHttp> http;
  std::shared_ptr<AuditLog> audit;
  std::shared_ptr<CredentialService> service;
  std::shared_ptr<CredentialRuntime> runtime;
  std::shared_ptr<CodeRuntime> code;            // the node services installed: runtime + the sandbox
  std::string notice;                           // for the operator, e.g. where a development key was created
};

// Opens the master key (verified against the database's check values), the guarded HTTP client
// and the credential service, and installs them into the host (run-time compiler checks, the
// executor's node services). Production mode: a key file that is not configured, missing, unsafe
// or wrong is an error (the server must not start). Development: a missing key file is created
// (0600, in a 0700 directory) when create_dev_key (weft serve), and reported in `notice`;
// otherwise (weft run / worker) the vault stays closed and outbound HTTP still works.
Result<CredentialStack> attach_credentials(app::Host& host, bool create_dev_key = true);

// The credential types a node accepts: its schema's credential_types plus those of its
// credential-typed fields (empty = any).
std::vector<std::string> accepted_credential_types(const Json& node_schema);

}  // namespace weft::service
