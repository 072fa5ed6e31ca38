// Workflow service: saved workflows per owner (immutable versions), compilation, and the webhook
// entry points their trigger nodes publish. Knows nothing about HTTP; every call is scoped to an
// owner and another owner's workflow is simply "not_found".
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "host/app/host.hpp"
#include "host/compiler/compiler.hpp"
#include "host/store/store.hpp"

namespace weft::service {

inline constexpr std::string_view kWebhookNodeType = "core.webhook_trigger";

struct SavedWorkflow {
  store::WorkflowRecord record;
  compiler::CompileResult compiled;   // diagnostics of the saved version (saving never requires it)
  Json credential_placeholders = Json::array();  // placeholders resolved while saving
};

class CredentialService;

struct WebhookInfo {
  std::string node_id;
  std::string path;        // under /webhook/
  std::string method;      // POST | GET | ANY
  std::string auth;        // secret_path | hmac
  std::string response;    // auto | wait | immediate
  int64_t wait_timeout_s = 30;  // response wait: answer 202 after this
  std::string hmac_secret; // only for auth == hmac: the signing secret (owner-only view)
};

class WorkflowService {
 public:
  // webhook_key: server secret the secret paths and HMAC secrets are derived from.
  WorkflowService(app::Host& host, std::string webhook_key);

  // body: the workflow JSON ({name, nodes, edges, settings, ...}). Fields the server owns
  // (id, owner_id, version, created_at, ...) are refused with "unknown_field".
  Result<SavedWorkflow> create(const std::string& owner, const Json& body);
  Result<SavedWorkflow> update(const std::string& owner, const std::string& id, const Json& body);
  Result<store::WorkflowRecord> get(const std::string& owner, const std::string& id, int64_t version = 0);
  Result<std::vector<store::WorkflowSummary>> list(const store::WorkflowFilter& f);
  Result<std::vector<store::WorkflowRecord>> versions(const std::string& owner, const std::string& id);
  Status remove(const std::string& owner, const std::string& id);

  // Compiles an unsaved body (or a saved version) for the owner. Credential placeholders are
  // resolved first (when credentials are attached); `resolved` (optional) receives the resolved
  // definition and `placeholders` what was mapped.
  compiler::CompileResult compile(const std::string& owner, const Json& definition,
                                  const std::string& workflow_id = "", int64_t version = 0,
                                  Json* resolved = nullptr, Json* placeholders = nullptr) const;

  // Credential checks and placeholder resolution (null = neither). Set before serving.
  void set_credentials(std::shared_ptr<CredentialService> credentials) { credentials_ = std::move(credentials); }

  // The webhook entry points of the latest version.
  Result<std::vector<WebhookInfo>> webhooks(const std::string& owner, const std::string& id);
  // Derived secrets (stable across versions; nothing secret is stored).
  std::string webhook_hmac_secret(const std::string& workflow_id, const std::string& node_id) const;
  // only_node: just that trigger (the webhook entry point answering a request).
  std::vector<WebhookInfo> webhook_infos(const std::string& workflow_id, const Json& definition,
                                         const std::string& only_node = "") const;

 private:
  Result<SavedWorkflow> save(const std::string& owner, const std::string& id, const Json& body);
  app::Host& host_;
  std::string webhook_key_;
  std::shared_ptr<CredentialService> credentials_;
};

}  // namespace weft::service
