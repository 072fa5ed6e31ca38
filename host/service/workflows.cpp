#include "host/service/workflows.hpp"

#include <algorithm>

#include "host/service/credentials.hpp"

#include "host/auth/auth.hpp"
#include "host/core/ids.hpp"

namespace weft::service {

namespace {

// Members the server owns: a client sending them is either confused or probing (mass assignment).
constexpr std::string_view kServerOwned[] = {"id", "owner_id", "owner", "user_id", "version",
                                             "created_at", "updated_at", "role", "tier"};

Status check_body(const Json& body) {
  if (!body.is_object()) return Error("invalid_argument", "the workflow must be a JSON object");
  for (std::string_view k : kServerOwned) {
    if (body.contains(k)) {
      return Error("unknown_field", "'" + std::string(k) + "' is set by the server and cannot be sent",
                   "{\"field\":\"" + std::string(k) + "\"}");
    }
  }
  const Json* name = body.find("name");
  if (name && !name->is_string()) return Error("invalid_argument", "'name' must be a string");
  if (name && name->as_string().size() > 200) return Error("invalid_argument", "'name' is longer than 200 characters");
  const Json* nodes = body.find("nodes");
  if (!nodes || !nodes->is_array()) return Error("invalid_argument", "'nodes' must be an array");
  const Json* edges = body.find("edges");
  if (edges && !edges->is_array()) return Error("invalid_argument", "'edges' must be an array");
  return {};
}

bool valid_path_segment(const std::string& p) {
  if (p.empty() || p.size() > 64) return false;
  for (char c : p) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  }
  return true;
}

std::string param_string(const Json& node, std::string_view key, std::string fallback) {
  const Json& params = node["data"]["parameters"];
  const Json* v = params.find(key);
  if (v && v->is_string() && !v->as_string().empty()) return v->as_string();
  return fallback;
}

}  // namespace

WorkflowService::WorkflowService(app::Host& host, std::string webhook_key)
    : host_(host), webhook_key_(std::move(webhook_key)) {}

std::string WorkflowService::webhook_hmac_secret(const std::string& workflow_id,
                                                 const std::string& node_id) const {
  return "whsec_" + auth::hmac_sha256_hex(webhook_key_, "webhook-hmac:" + workflow_id + ":" + node_id);
}

std::vector<WebhookInfo> WorkflowService::webhook_infos(const std::string& workflow_id, const Json& definition,
                                                        const std::string& only_node) const {
  std::vector<WebhookInfo> out;
  for (const Json& node : definition["nodes"].as_array()) {
    if (node["type"].as_string() != kWebhookNodeType) continue;
    if (!only_node.empty() && node["id"].as_string() != only_node) continue;
    WebhookInfo w;
    w.node_id = node["id"].as_string();
    w.method = param_string(node, "method", "POST");
    w.auth = param_string(node, "auth", "secret_path");
    w.response = param_string(node, "response", "auto");
    const Json& wt = node["data"]["parameters"]["wait_timeout_seconds"];
    if (wt.is_number()) w.wait_timeout_s = std::clamp<int64_t>(wt.as_int(), 1, 300);
    const std::string chosen = param_string(node, "path", "");
    const std::string token =
        auth::hmac_sha256_hex(webhook_key_, "webhook-path:" + workflow_id + ":" + w.node_id).substr(0, 32);
    if (w.auth == "hmac") {
      w.path = chosen.empty() ? token : chosen;
      w.hmac_secret = webhook_hmac_secret(workflow_id, w.node_id);
    } else {
      // The secret is the path: a chosen name stays readable, the token makes it unguessable.
      w.path = chosen.empty() ? token : chosen + "-" + token;
    }
    out.push_back(std::move(w));
  }
  return out;
}

compiler::CompileResult WorkflowService::compile(const std::string& owner, const Json& definition,
                                                 const std::string& workflow_id, int64_t version, Json* resolved,
                                                 Json* placeholders) const {
  compiler::CompileOptions co;
  co.owner_id = owner;
  co.workflow_id = workflow_id;
  co.workflow_version = version;
  co.credentials = credentials_.get();
  co.code_validator = host_.code_validator();
  co.owner_types = host_.owner_types();
  if (!credentials_) {
    if (resolved) *resolved = definition;
    return host_.compiler().compile(definition, co);
  }
  auto res = credentials_->resolve_placeholders(owner, definition);
  if (!res.ok()) {
    compiler::CompileResult failed;
    compiler::Diagnostic d;
    d.code = res.error().code;
    d.message = "credential placeholders could not be resolved: " + res.error().message;
    failed.errors.push_back(std::move(d));
    if (resolved) *resolved = definition;
    return failed;
  }
  if (resolved) *resolved = res->workflow;
  if (placeholders) *placeholders = res->resolved;
  compiler::CompileResult r = host_.compiler().compile(res->workflow, co);
  // The resolver knows more than the compiler about a placeholder it could not map (the
  // candidates of an ambiguity): its diagnostic replaces the compiler's.
  for (auto& p : res->problems) {
    r.errors.erase(std::remove_if(r.errors.begin(), r.errors.end(),
                                  [&](const compiler::Diagnostic& d) {
                                    return d.code == "credential_placeholder_unresolved" && d.node_id == p.node_id &&
                                           d.field == p.field;
                                  }),
                   r.errors.end());
    r.errors.push_back(std::move(p));
  }
  if (!r.errors.empty()) r.plan = nullptr;
  return r;
}

Result<SavedWorkflow> WorkflowService::save(const std::string& owner, const std::string& id,
                                            const Json& body) {
  if (Status st = check_body(body); !st.ok()) return st.error();
  for (const Json& node : body["nodes"].as_array()) {
    if (node["type"].as_string() != kWebhookNodeType) continue;
    const std::string chosen = param_string(node, "path", "");
    if (!chosen.empty() && !valid_path_segment(chosen)) {
      return Error("invalid_argument", "webhook node '" + node["id"].as_string() +
                                           "': path must be 1-64 characters of [A-Za-z0-9_-]");
    }
  }
  const std::string wid = id.empty() ? new_id() : id;
  if (!id.empty()) {
    auto existing = host_.store()->get_workflow(owner, id, 0);
    if (!existing.ok()) return existing.error();
  }
  std::vector<store::WebhookRoute> routes;
  for (const WebhookInfo& w : webhook_infos(wid, body)) {
    store::WebhookRoute r;
    r.path = w.path;
    r.workflow_id = wid;
    r.owner_id = owner;
    r.node_id = w.node_id;
    r.method = w.method;
    r.auth = w.auth;
    routes.push_back(std::move(r));
  }
  std::string name = body["name"].as_string();
  if (name.empty()) name = "untitled";
  // Placeholders are resolved once, at save: the stored version names credential ids.
  Json definition = body;
  Json placeholders = Json::array();
  compiler::CompileResult compiled = compile(owner, body, wid, 0, &definition, &placeholders);
  // Drafts may be saved with compile errors, but never citing a credential that is not the
  // owner's (or not of an accepted type): that is refused at save, and again at every run.
  {
    Json rejected = Json::array();
    for (const auto& d : compiled.errors)
      if (d.code == "credential_not_found" || d.code == "credential_wrong_type") rejected.push_back(d.to_json());
    if (rejected.size() > 0) {
      Json details = Json::object();
      details.set("errors", rejected);
      return Error("credential_rejected",
                   rejected.at(0)["message"].as_string() +
                       (rejected.size() > 1 ? " (and " + std::to_string(rejected.size() - 1) + " more)" : ""),
                   details.dump());
    }
  }
  // An existing workflow: routes first, so a path owned by another workflow refuses the save
  // before anything is written. A new one must exist before it can own routes: save, then claim
  // the routes, and take the workflow back if a path is taken.
  if (!id.empty()) {
    if (Status st = host_.store()->set_webhook_routes(owner, wid, routes); !st.ok()) return st.error();
  }
  auto rec = host_.store()->save_workflow(owner, wid, name, definition);
  if (!rec.ok()) return rec.error();
  if (id.empty() && !routes.empty()) {
    if (Status st = host_.store()->set_webhook_routes(owner, wid, routes); !st.ok()) {
      (void)host_.store()->delete_workflow(owner, wid);
      return st.error();
    }
  }
  SavedWorkflow out;
  out.record = std::move(*rec);
  out.compiled = std::move(compiled);
  out.credential_placeholders = std::move(placeholders);
  return out;
}

Result<SavedWorkflow> WorkflowService::create(const std::string& owner, const Json& body) {
  return save(owner, "", body);
}

Result<SavedWorkflow> WorkflowService::update(const std::string& owner, const std::string& id,
                                              const Json& body) {
  return save(owner, id, body);
}

Result<store::WorkflowRecord> WorkflowService::get(const std::string& owner, const std::string& id,
                                                   int64_t version) {
  return host_.store()->get_workflow(owner, id, version);
}

Result<std::vector<store::WorkflowSummary>> WorkflowService::list(const store::WorkflowFilter& f) {
  return host_.store()->list_workflows(f);
}

Result<std::vector<store::WorkflowRecord>> WorkflowService::versions(const std::string& owner,
                                                                     const std::string& id) {
  return host_.store()->list_workflow_versions(owner, id);
}

Status WorkflowService::remove(const std::string& owner, const std::string& id) {
  return host_.store()->delete_workflow(owner, id);
}

Result<std::vector<WebhookInfo>> WorkflowService::webhooks(const std::string& owner, const std::string& id) {
  auto rec = host_.store()->get_workflow(owner, id, 0);
  if (!rec.ok()) return rec.error();
  return webhook_infos(rec->id, rec->definition);
}

}  // namespace weft::service
