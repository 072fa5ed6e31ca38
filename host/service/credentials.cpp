#include "host/service/credentials.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include <sys/stat.h>

#include "host/core/call.hpp"
#include "host/core/ids.hpp"
#include "host/service/code.hpp"

namespace weft::service {

namespace {

constexpr size_t kMaxNameBytes = 200;
constexpr size_t kMaxSecretBytes = 16 * 1024;
constexpr size_t kMaxFieldBytes = 4 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Json string_array(const std::vector<std::string>& v) {
  Json a = Json::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

Error invalid(std::string message) { return Error("invalid_credential", std::move(message)); }

std::string error_json(const std::string& code, const std::string& message) {
  Json e = Json::object();
  e.set("code", code);
  e.set("message", message);
  return e.dump();
}

// The field definitions of a credential type, by name.
const Json* field_def(const Json& type_def, const std::string& name) {
  for (const Json& f : type_def["fields"].as_array())
    if (f["name"].as_string() == name) return &f;
  return nullptr;
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

// Checks one non-secret value against its field definition; returns the value to store.
Result<Json> check_plain_value(const Json& def, const Json& v) {
  const std::string& name = def["name"].as_string();
  const std::string& type = def["type"].as_string();
  if (type == "number") {
    if (!v.is_number()) return invalid("field '" + name + "' must be a number");
    return v;
  }
  if (type == "boolean") {
    if (!v.is_bool()) return invalid("field '" + name + "' must be true or false");
    return v;
  }
  if (!v.is_string()) return invalid("field '" + name + "' must be a string");
  const std::string& s = v.as_string();
  if (s.size() > kMaxFieldBytes) return invalid("field '" + name + "' is longer than 4 KiB");
  if (type == "select") {
    bool ok = false;
    for (const Json& o : def["options"].as_array()) {
      const Json& ov = o.is_object() ? o["value"] : o;
      if (ov.is_string() && ov.as_string() == s) ok = true;
    }
    if (!ok) return invalid("field '" + name + "' must be one of the type's options");
  }
  if (type == "url" && !s.empty() && s.rfind("http://", 0) != 0 && s.rfind("https://", 0) != 0)
    return invalid("field '" + name + "' must be an http(s) URL");
  return v;
}

Status check_secret_value(const Json& def, const Json& v) {
  const std::string& name = def["name"].as_string();
  if (!v.is_string()) return invalid("secret field '" + name + "' must be a string");
  if (v.as_string().empty()) return invalid("secret field '" + name + "' must not be empty");
  if (v.as_string().size() > kMaxSecretBytes) return invalid("secret field '" + name + "' is longer than 16 KiB");
  for (unsigned char c : v.as_string())
    if (c == 0) return invalid("secret field '" + name + "' contains a NUL byte");
  return {};
}

// Percent-encoding for query strings (RFC 3986 unreserved kept).
std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string base64(std::string_view in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  while (i + 2 < in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += tbl[n >> 18];
    out += tbl[(n >> 12) & 63];
    out += tbl[(n >> 6) & 63];
    out += tbl[n & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += tbl[n >> 18];
    out += tbl[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += tbl[n >> 18];
    out += tbl[(n >> 12) & 63];
    out += tbl[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

// Adds name=value to a URL's query (before any fragment).
std::string add_query(const std::string& url, const std::string& name, const std::string& value) {
  size_t hash = url.find('#');
  std::string base = hash == std::string::npos ? url : url.substr(0, hash);
  std::string frag = hash == std::string::npos ? "" : url.substr(hash);
  base += base.find('?') == std::string::npos ? '?' : '&';
  base += url_encode(name) + "=" + url_encode(value);
  return base + frag;
}

std::string url_host(const std::string& url) {
  size_t s = url.find("://");
  if (s == std::string::npos) return "";
  size_t start = s + 3;
  size_t end = url.find_first_of("/?#", start);
  std::string hostport = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  size_t at = hostport.rfind('@');
  if (at != std::string::npos) hostport = hostport.substr(at + 1);
  return hostport;
}

}  // namespace

std::vector<std::string> accepted_credential_types(const Json& node_schema) {
  std::vector<std::string> out;
  for (const Json& t : node_schema["credential_types"].as_array())
    if (t.is_string() && !contains(out, t.as_string())) out.push_back(t.as_string());
  for (const Json& f : node_schema["fields"].as_array()) {
    if (f["type"].as_string() != "credential") continue;
    for (const Json& t : f["credential_types"].as_array())
      if (t.is_string() && !contains(out, t.as_string())) out.push_back(t.as_string());
  }
  return out;
}

CredentialService::CredentialService(std::shared_ptr<store::Store> store, const registry::Registry& registry,
                                     std::shared_ptr<vault::Vault> vault, std::shared_ptr<AuditLog> audit)
    : store_(std::move(store)), registry_(registry), vault_(std::move(vault)), audit_(std::move(audit)) {}

Json CredentialService::types() const { return registry_.credential_types(); }

Json CredentialService::types(const std::string& owner) const {
  Json out = registry_.credential_types();
  auto own = owner_types();
  if (!own || !own->list || owner.empty()) return out;
  Json mine = own->list(owner);
  for (const Json& t : mine.as_array()) out.push_back(t);
  return out;
}

void CredentialService::set_owner_types(OwnerTypeFinder find, OwnerTypeLister list) {
  auto hooks = std::make_shared<OwnerTypes>();
  hooks->find = std::move(find);
  hooks->list = std::move(list);
  std::lock_guard<std::mutex> lock(owner_types_mu_);
  owner_types_ = std::move(hooks);
}

std::shared_ptr<const CredentialService::OwnerTypes> CredentialService::owner_types() const {
  std::lock_guard<std::mutex> lock(owner_types_mu_);
  return owner_types_;
}

std::shared_ptr<const registry::CredentialType> CredentialService::find_type(const std::string& owner,
                                                                             const std::string& type) const {
  if (auto t = registry_.find_credential_type(type)) return t;
  // Registered names are [a-z0-9_]; an owner's own types are scoped ("custom.<node>.<type>").
  if (owner.empty() || type.find('.') == std::string::npos) return nullptr;
  auto own = owner_types();
  if (!own || !own->find) return nullptr;
  auto t = own->find(owner, type);
  return t && t->name == type ? t : nullptr;
}

Result<Json> CredentialService::view(const store::CredentialRecord& r) const {
  Json v = Json::object();
  v.set("id", r.id);
  v.set("name", r.name);
  v.set("type", r.type);
  v.set("fields", r.data.is_object() ? r.data : Json::object());
  Json secrets = Json::array();
  for (const auto& [name, sealed] : r.secrets.as_object()) {
    (void)sealed;
    secrets.push_back(name);
  }
  v.set("secret_fields_set", std::move(secrets));
  v.set("created_at", r.created_at_ms);
  v.set("updated_at", r.updated_at_ms);
  return v;
}

namespace {

// Splits a body's "fields" into plain data and secrets, checked against the type. `previous`
// (update) supplies the values of fields not given.
struct SplitFields {
  Json data = Json::object();
  Json secrets = Json::object();        // plaintext secrets given in this body
  std::vector<std::string> cleared;     // secret fields explicitly cleared (null)
};

Result<SplitFields> split_fields(const Json& type_def, const Json& fields, bool is_update, const Json& previous_data,
                                 const std::vector<std::string>& previous_secret_names) {
  SplitFields out;
  if (!fields.is_null() && !fields.is_object()) return invalid("\"fields\" must be an object");
  for (const auto& [name, value] : fields.as_object()) {
    const Json* def = field_def(type_def, name);
    if (!def) return invalid("field '" + name + "' is not a field of credential type '" + type_def["name"].as_string() + "'");
    bool secret = (*def)["secret"].as_bool(false);
    if (value.is_null()) {
      if ((*def)["required"].as_bool(false)) return invalid("field '" + name + "' is required and cannot be cleared");
      if (secret) out.cleared.push_back(name);
      continue;
    }
    if (secret) {
      if (Status st = check_secret_value(*def, value); !st.ok()) return st.error();
      out.secrets.set(name, value);
    } else {
      auto checked = check_plain_value(*def, value);
      if (!checked.ok()) return checked.error();
      out.data.set(name, *checked);
    }
  }
  // Keep the previous plain values that were not given (update), fill defaults (create).
  for (const Json& def : type_def["fields"].as_array()) {
    const std::string& name = def["name"].as_string();
    bool secret = def["secret"].as_bool(false);
    if (secret) {
      bool given = out.secrets.contains(name);
      bool kept = is_update && contains(previous_secret_names, name) &&
                  std::find(out.cleared.begin(), out.cleared.end(), name) == out.cleared.end();
      if (def["required"].as_bool(false) && !given && !kept)
        return invalid("secret field '" + name + "' is required");
      continue;
    }
    if (out.data.contains(name)) continue;
    bool explicitly_cleared = fields.contains(name);  // given as null
    if (is_update && !explicitly_cleared && previous_data.contains(name)) {
      out.data.set(name, previous_data[name]);
    } else if (!explicitly_cleared && def.contains("default") && !def["default"].is_null()) {
      out.data.set(name, def["default"]);
    } else if (def["required"].as_bool(false)) {
      return invalid("field '" + name + "' is required");
    }
  }
  return out;
}

Status check_body_keys(const Json& body, std::initializer_list<std::string_view> allowed) {
  if (!body.is_object()) return Error("invalid_argument", "the body must be a JSON object");
  for (const auto& [k, v] : body.as_object()) {
    (void)v;
    bool ok = false;
    for (auto a : allowed) ok = ok || k == a;
    if (!ok) {
      if (k == "id" || k == "owner_id" || k == "created_at" || k == "updated_at" || k == "secrets" ||
          k == "secret_fields_set")
        return Error("unknown_field", "'" + k + "' is set by the server and cannot be sent");
      return Error("unknown_field", "unknown member '" + k + "'");
    }
  }
  return {};
}

}  // namespace

Result<Json> CredentialService::create(const std::string& owner, const Json& body) {
  if (Status st = check_body_keys(body, {"name", "type", "fields"}); !st.ok()) return st.error();
  if (!body["name"].is_string() || !valid_name(body["name"].as_string()))
    return invalid("\"name\" must be a string of 1-200 characters without control characters");
  if (!body["type"].is_string() || body["type"].as_string().empty()) return invalid("\"type\" is required");
  auto type = find_type(owner, body["type"].as_string());
  if (!type)
    return Error("unknown_credential_type", "credential type '" + body["type"].as_string().substr(0, 200) +
                                                "' is not offered by any enabled plugin nor by one of your custom "
                                                "nodes (GET /api/credentials/types)");
  if (!vault_) return Error("vault_unavailable", "no master key is configured: credentials cannot be stored (vault.key_file)");
  auto split = split_fields(type->definition, body["fields"], false, Json::object(), {});
  if (!split.ok()) return split.error();
  store::CredentialRecord r;
  r.id = new_id();
  r.owner_id = owner;
  r.name = body["name"].as_string();
  r.type = type->name;
  r.data = split->data;
  auto sealed = vault_->seal_fields(owner, r.id, split->secrets);
  if (!sealed.ok()) return sealed.error();
  r.secrets = std::move(*sealed);
  // The version the fields were sealed with (a rotation may have moved the current one since).
  r.key_version = vault::Vault::lowest_version(r.secrets);
  if (r.key_version == 0) r.key_version = vault_->keys().current_version();
  r.created_at_ms = r.updated_at_ms = wall_ms();
  auto created = store_->create_credential(r);
  if (!created.ok()) {
    if (created.error().code == "conflict")
      return Error("conflict", "you already have a credential named '" + r.name + "'");
    return created.error();
  }
  if (audit_) {
    AuditEntry e{owner, "credential.create", "", "", "", Json::object()};
    e.details.set("credential_id", r.id);
    e.details.set("name", r.name);
    e.details.set("type", r.type);
    (void)audit_->record(e);
  }
  return view(*created);
}

Result<Json> CredentialService::update(const std::string& owner, const std::string& id, const Json& body) {
  if (Status st = check_body_keys(body, {"name", "type", "fields"}); !st.ok()) return st.error();
  auto existing = store_->get_credential(owner, id);
  if (!existing.ok()) return existing.error();
  if (body.contains("type") && body["type"].as_string() != existing->type)
    return invalid("the type of a credential cannot change (create a new one)");
  if (body.contains("name") && (!body["name"].is_string() || !valid_name(body["name"].as_string())))
    return invalid("\"name\" must be a string of 1-200 characters without control characters");
  auto type = find_type(owner, existing->type);
  if (!type)
    return Error("unknown_credential_type",
                 "credential type '" + existing->type + "' is not offered by any enabled plugin" +
                     (existing->type.find('.') != std::string::npos
                          ? std::string(" nor by your custom nodes (the node that declared it was deleted or no "
                                        "longer declares it); the credential can still be read and deleted")
                          : std::string()));
  store::CredentialUpdate u;
  u.updated_at_ms = std::max(wall_ms(), existing->updated_at_ms + 1);
  if (body.contains("name")) u.name = body["name"].as_string();
  std::vector<std::string> changed;
  if (body.contains("fields")) {
    std::vector<std::string> prev_secret_names;
    for (const auto& [n, v] : existing->secrets.as_object()) {
      (void)v;
      prev_secret_names.push_back(n);
    }
    auto split = split_fields(type->definition, body["fields"], true, existing->data, prev_secret_names);
    if (!split.ok()) return split.error();
    u.data = split->data;
    for (const auto& [n, v] : body["fields"].as_object()) {
      (void)v;
      changed.push_back(n);
    }
    if (!split->secrets.as_object().empty() || !split->cleared.empty()) {
      if (!vault_) return Error("vault_unavailable", "no master key is configured: secrets cannot be changed");
      auto sealed_new = vault_->seal_fields(owner, id, split->secrets);
      if (!sealed_new.ok()) return sealed_new.error();
      // Unchanged secrets keep their ciphertexts (bound to this id, owner and field already).
      Json merged = Json::object();
      int64_t min_version = vault::Vault::lowest_version(*sealed_new);
      if (min_version == 0) min_version = vault_->keys().current_version();
      for (const auto& [n, v] : existing->secrets.as_object()) {
        if (split->secrets.contains(n) || contains(split->cleared, n)) continue;
        merged.set(n, v);
        min_version = std::min<int64_t>(min_version, v["v"].as_int(min_version));
      }
      for (const auto& [n, v] : sealed_new->as_object()) merged.set(n, v);
      u.secrets = std::move(merged);
      u.key_version = min_version;
    }
  }
  auto updated = store_->update_credential(owner, id, u);
  if (!updated.ok()) {
    if (updated.error().code == "conflict")
      return Error("conflict", "you already have a credential named '" + u.name.value_or("") + "'");
    return updated.error();
  }
  if (audit_) {
    AuditEntry e{owner, "credential.update", "", "", "", Json::object()};
    e.details.set("credential_id", id);
    e.details.set("name", updated->name);
    e.details.set("type", updated->type);
    e.details.set("fields_changed", string_array(changed));
    (void)audit_->record(e);
  }
  return view(*updated);
}

Result<Json> CredentialService::get(const std::string& owner, const std::string& id) {
  auto r = store_->get_credential(owner, id);
  if (!r.ok()) return r.error();
  return view(*r);
}

Result<Json> CredentialService::list(const std::string& owner, const std::string& type) {
  auto rs = store_->list_credentials(owner, type);
  if (!rs.ok()) return rs.error();
  Json items = Json::array();
  for (const auto& r : *rs) {
    auto v = view(r);
    if (v.ok()) items.push_back(std::move(*v));
  }
  return items;
}

Status CredentialService::remove(const std::string& owner, const std::string& id) {
  auto existing = store_->get_credential(owner, id);
  if (!existing.ok()) return existing.error();
  if (Status st = store_->delete_credential(owner, id); !st.ok()) return st;
  if (audit_) {
    AuditEntry e{owner, "credential.delete", "", "", "", Json::object()};
    e.details.set("credential_id", id);
    e.details.set("name", existing->name);
    e.details.set("type", existing->type);
    (void)audit_->record(e);
  }
  return {};
}

std::string CredentialService::check(const std::string& owner_id, const std::string& credential_id,
                                     const std::vector<std::string>& accepted_types) {
  auto r = store_->get_credential(owner_id, credential_id);
  if (!r.ok()) return r.error().code == "not_found" ? "credential_not_found" : "credential_unavailable";
  if (!accepted_types.empty() && !contains(accepted_types, r->type)) return "credential_wrong_type";
  // An owner's own type lives as long as the custom node that declares it.
  if (r->type.find('.') != std::string::npos && !find_type(owner_id, r->type)) return "unknown_credential_type";
  return "";
}

Result<PlaceholderResolution> CredentialService::resolve_placeholders(const std::string& owner, const Json& workflow) {
  PlaceholderResolution res;
  res.workflow = workflow;
  if (!workflow["nodes"].is_array()) return res;
  // Only list the owner's credentials when there is a placeholder at all.
  bool any = false;
  for (const Json& node : workflow["nodes"].as_array()) {
    for (const auto& [n, v] : node["data"]["credentials"].as_object()) {
      (void)n;
      if (v.is_string() && compiler::is_credential_placeholder(v.as_string())) any = true;
    }
    for (const auto& [n, v] : node["data"]["parameters"].as_object()) {
      (void)n;
      if (v.is_string() && compiler::is_credential_placeholder(v.as_string())) any = true;
    }
  }
  if (!any) return res;
  auto all = store_->list_credentials(owner, "");
  if (!all.ok()) return all.error();

  auto resolve = [&](const std::string& token, const std::vector<std::string>& accepted,
                     std::vector<const store::CredentialRecord*>& candidates) {
    auto type_ok = [&](const store::CredentialRecord& c) { return accepted.empty() || contains(accepted, c.type); };
    const std::string want = lower(token);
    for (const auto& c : *all)
      if (type_ok(c) && lower(c.name) == want) candidates.push_back(&c);
    if (!candidates.empty()) return;
    for (const auto& c : *all)
      if (type_ok(c) && lower(c.type) == want) candidates.push_back(&c);
    if (!candidates.empty()) return;
    // "slack" for a node accepting slack_token / slack_webhook: the accepted types that start with
    // the token, else (no type matches the token at all) every accepted type.
    std::vector<std::string> family;
    for (const auto& t : accepted)
      if (lower(t).rfind(want, 0) == 0) family.push_back(t);
    for (const auto& c : *all)
      if (type_ok(c) && (family.empty() ? !accepted.empty() : contains(family, c.type))) candidates.push_back(&c);
  };

  Json::Array nodes = workflow["nodes"].as_array();
  for (Json& node : nodes) {
    const std::string node_id = node["id"].as_string();
    auto type = registry_.find_node_type(node["type"].as_string(),
                                         static_cast<uint32_t>(node["data"]["type_version"].as_int(0)));
    if (!type) continue;  // the compiler reports unknown types
    const Json& schema = type->schema;
    auto handle = [&](const std::string& field, const std::string& placeholder,
                      const std::vector<std::string>& accepted) -> std::string {
      std::string token = compiler::credential_placeholder_token(placeholder);
      std::vector<const store::CredentialRecord*> candidates;
      resolve(token, accepted, candidates);
      compiler::Diagnostic d;
      d.node_id = node_id;
      d.field = field;
      d.details = Json::object();
      d.details.set("placeholder", placeholder);
      d.details.set("accepted_types", string_array(accepted));
      if (candidates.size() == 1) {
        Json r = Json::object();
        r.set("node_id", node_id);
        r.set("field", field);
        r.set("placeholder", placeholder);
        r.set("credential_id", candidates[0]->id);
        r.set("name", candidates[0]->name);
        r.set("type", candidates[0]->type);
        res.resolved.push_back(std::move(r));
        return candidates[0]->id;
      }
      if (candidates.empty()) {
        d.code = "credential_placeholder_unresolved";
        d.message = "no credential of yours matches placeholder " + placeholder +
                    (accepted.empty() ? std::string() : " (accepted types: " + string_array(accepted).dump() + ")");
      } else {
        d.code = "credential_placeholder_ambiguous";
        d.message = "placeholder " + placeholder + " matches " + std::to_string(candidates.size()) +
                    " of your credentials: name one by id";
        Json cands = Json::array();
        for (const auto* c : candidates) {
          Json cj = Json::object();
          cj.set("id", c->id);
          cj.set("name", c->name);
          cj.set("type", c->type);
          cands.push_back(std::move(cj));
        }
        d.details.set("candidates", std::move(cands));
      }
      res.problems.push_back(std::move(d));
      return "";
    };
    Json data = node["data"];
    bool changed = false;
    if (data["credentials"].is_object()) {
      Json creds = data["credentials"];
      std::vector<std::string> accepted;
      for (const Json& t : schema["credential_types"].as_array()) accepted.push_back(t.as_string());
      for (const auto& [name, value] : data["credentials"].as_object()) {
        if (!value.is_string() || !compiler::is_credential_placeholder(value.as_string())) continue;
        std::string id = handle("credentials." + name, value.as_string(), accepted);
        if (!id.empty()) {
          creds.set(name, id);
          changed = true;
        }
      }
      if (changed) data.set("credentials", std::move(creds));
    }
    if (data["parameters"].is_object()) {
      Json params = data["parameters"];
      bool pchanged = false;
      for (const Json& f : schema["fields"].as_array()) {
        if (f["type"].as_string() != "credential") continue;
        const Json& v = params[f["name"].as_string()];
        if (!v.is_string() || !compiler::is_credential_placeholder(v.as_string())) continue;
        std::vector<std::string> accepted;
        for (const Json& t : f["credential_types"].as_array()) accepted.push_back(t.as_string());
        std::string id = handle("parameters." + f["name"].as_string(), v.as_string(), accepted);
        if (!id.empty()) {
          params.set(f["name"].as_string(), id);
          pchanged = true;
        }
      }
      if (pchanged) {
        data.set("parameters", std::move(params));
        changed = true;
      }
    }
    if (changed) node.set("data", std::move(data));
  }
  res.workflow.set("nodes", Json(std::move(nodes)));
  return res;
}

Result<Json> CredentialService::open_for_run(const std::string& owner, const std::string& id,
                                             const std::vector<std::string>& accepted_types) {
  auto r = store_->get_credential(owner, id);
  if (!r.ok()) {
    if (r.error().code == "not_found")
      return Error("credential_not_found", "credential '" + id + "' does not exist or does not belong to the workflow's owner");
    return r.error();
  }
  if (!accepted_types.empty() && !contains(accepted_types, r->type))
    return Error("credential_wrong_type", "credential '" + id + "' is of type '" + r->type +
                                              "', which this node does not accept");
  if (r->type.find('.') != std::string::npos && !find_type(owner, r->type))
    return Error("unknown_credential_type", "credential '" + id + "' is of type '" + r->type +
                                                "', which no longer exists (the custom node that declared it was "
                                                "deleted or no longer declares it)");
  if (!vault_) return Error("vault_unavailable", "no master key is configured: credentials cannot be opened");
  auto opened = vault_->open_fields(owner, id, r->secrets);
  if (!opened.ok()) return opened.error();
  Json fields = r->data.is_object() ? r->data : Json::object();
  Json secret_names = Json::array();
  for (const auto& [n, v] : opened->as_object()) {
    fields.set(n, v);
    secret_names.push_back(n);
  }
  Json out = Json::object();
  out.set("id", r->id);
  out.set("name", r->name);
  out.set("type", r->type);
  out.set("fields", std::move(fields));
  out.set("secret_fields", std::move(secret_names));
  return out;
}

// ---- run time ----------------------------------------------------------------------------------

CredentialRuntime::CredentialRuntime(std::shared_ptr<CredentialService> credentials,
                                     std::shared_ptr<net::OutboundHttp> http)
    : credentials_(std::move(credentials)), http_(std::move(http)) {}

namespace {

// Resolves what a node calls a credential ("auth", a credential field's name, or the id itself)
// to an id its configuration references; "" when it references no such thing.
std::string resolve_ref(const compiler::PlanNode& node, std::string_view ref) {
  auto it = node.credential_names.find(std::string(ref));
  if (it != node.credential_names.end()) return it->second;
  for (const auto& id : node.credential_refs)
    if (id == ref) return id;
  return "";
}

AuditEntry audit_for(const executor::NodeServiceContext& ctx, const char* action) {
  AuditEntry e;
  e.user_id = ctx.execution ? ctx.execution->owner_id : "";
  e.action_type = action;
  e.workflow_id = ctx.execution ? ctx.execution->workflow_id : "";
  e.execution_id = ctx.execution ? ctx.execution->id : "";
  e.node_id = ctx.node ? ctx.node->id : "";
  return e;
}

bool starts_with_http(const std::string& v) {
  const std::string l = lower(v.substr(0, 8));
  return l.rfind("http://", 0) == 0 || l.rfind("https://", 0) == 0;
}

// Registers every secret of an opened credential with the run's redactor. A URL-valued secret
// (a field of type "url", or any value that is an http(s) URL) carries its token in the path or
// query, which servers echo and clients report on their own: its parts are registered too.
void register_secrets(const executor::NodeServiceContext& ctx, const CredentialService& credentials,
                      const Json& opened) {
  if (!ctx.redactor) return;
  auto type = credentials.find_type(ctx.execution ? ctx.execution->owner_id : std::string(),
                                    opened["type"].as_string());
  for (const Json& n : opened["secret_fields"].as_array()) {
    const Json& v = opened["fields"][n.as_string()];
    if (!v.is_string()) continue;
    const Json* def = type ? field_def(type->definition, n.as_string()) : nullptr;
    const bool url = (def && (*def)["type"].as_string() == "url") || starts_with_http(v.as_string());
    if (url) {
      ctx.redactor->add_secret_url(v.as_string());
    } else {
      ctx.redactor->add_secret(v.as_string());
    }
  }
}

// Writes an access to the audit trail before the secret is released: an access that cannot be
// recorded does not happen. Empty = recorded; otherwise the node's error.
std::string record_access(const std::shared_ptr<AuditLog>& audit, const AuditEntry& e, const Redactor* redactor) {
  if (!audit) return error_json("audit_unavailable", "credential access cannot be audited: no audit trail is configured");
  Status st = audit->record(e, redactor);
  if (st.ok()) return "";
  return error_json("audit_unavailable",
                    "credential access was not granted because the audit trail could not be written (" +
                        st.error().code + "); try again");
}

}  // namespace

weft_status CredentialRuntime::credential_get(const executor::NodeServiceContext& ctx, std::string_view ref,
                                              std::string& out_json, std::string& out_error) {
  if (!ctx.node || !ctx.execution) {
    out_error = error_json("unsupported", "credentials are only available to nodes of an execution");
    return WEFT_ERR_UNSUPPORTED;
  }
  std::string id = resolve_ref(*ctx.node, ref);
  if (id.empty()) {
    AuditEntry e = audit_for(ctx, "credential.denied");
    e.details.set("ref", std::string(ref.substr(0, 200)));
    e.details.set("reason", "not referenced by the node's configuration");
    if (credentials_->audit()) (void)credentials_->audit()->record(e, ctx.redactor);
    out_error = error_json("credential_not_found", "node " + ctx.node->id + " does not reference a credential named '" +
                                                       std::string(ref.substr(0, 200)) + "' in its configuration");
    return WEFT_ERR_NOT_FOUND;
  }
  auto opened = credentials_->open_for_run(ctx.execution->owner_id, id,
                                           ctx.node->type ? accepted_credential_types(ctx.node->type->schema)
                                                          : std::vector<std::string>{});
  if (!opened.ok()) {
    AuditEntry e = audit_for(ctx, "credential.denied");
    e.details.set("credential_id", id);
    e.details.set("reason", opened.error().code);
    if (credentials_->audit()) (void)credentials_->audit()->record(e, ctx.redactor);
    out_error = error_json(opened.error().code, opened.error().message);
    return opened.error().code == "credential_not_found"      ? WEFT_ERR_NOT_FOUND
           : opened.error().code == "credential_wrong_type"   ? WEFT_ERR_DENIED
           : opened.error().code == "unknown_credential_type" ? WEFT_ERR_DENIED
                                                                : WEFT_ERR_FAILED;
  }
  // Masked from here on, whatever happens next.
  register_secrets(ctx, *credentials_, *opened);
  AuditEntry e = audit_for(ctx, "credential.access");
  e.details.set("credential_id", id);
  e.details.set("name", (*opened)["name"]);
  e.details.set("type", (*opened)["type"]);
  if (std::string err = record_access(credentials_->audit(), e, ctx.redactor); !err.empty()) {
    out_error = std::move(err);
    return WEFT_ERR_FAILED;  // retryable: the trail may be writable again
  }
  Json out = Json::object();
  out.set("id", id);
  out.set("name", (*opened)["name"]);
  out.set("type", (*opened)["type"]);
  out.set("fields", (*opened)["fields"]);
  out_json = out.dump();
  return WEFT_OK;
}

weft_status CredentialRuntime::http_request(const executor::NodeServiceContext& ctx, std::string_view request_json,
                                            std::string& out_json, std::string& out_error) {
  if (!http_) {
    out_error = error_json("unsupported", "outbound HTTP is not configured in this host");
    return WEFT_ERR_UNSUPPORTED;
  }
  auto parsed = Json::parse(request_json);
  if (!parsed.ok() || !parsed->is_object()) {
    out_error = error_json("invalid_request", "the request must be a JSON object");
    return WEFT_ERR_INVALID_INPUT;
  }
  Json req_json = std::move(*parsed);
  std::string cred_ref;
  if (const Json* c = req_json.find("credential")) {
    if (!c->is_string() || c->as_string().empty()) {
      out_error = error_json("invalid_request", "\"credential\" must be the name of one of the node's credentials");
      return WEFT_ERR_INVALID_INPUT;
    }
    cred_ref = c->as_string();
    req_json.erase("credential");
  }
  // A credential of kind "url" supplies the URL itself: fill it in before parsing.
  Json opened;
  Json apply;
  if (!cred_ref.empty()) {
    std::string got, err;
    weft_status st = credential_get(ctx, cred_ref, got, err);
    if (st != WEFT_OK) {
      out_error = err;
      return st;
    }
    opened = Json::parse(got).value();
    auto type = credentials_->find_type(ctx.execution->owner_id, opened["type"].as_string());
    if (!type) {
      out_error = error_json("unknown_credential_type", "credential type '" + opened["type"].as_string() + "' is not available");
      return WEFT_ERR_FAILED;
    }
    apply = type->apply();
    // The fields the type sends must be there: a type that changed since the credential was
    // stored (a custom node's new version) may name fields the credential does not have.
    for (const char* member : {"field", "username_field", "password_field"}) {
      const Json& name = apply[member];
      if (!name.is_string()) continue;
      const Json& value = opened["fields"][name.as_string()];
      if (!value.is_string() || (value.as_string().empty() && std::string_view(member) != "username_field")) {
        out_error = error_json("credential_incomplete", "credential '" + opened["id"].as_string() + "' has no value for field '" +
                                                            name.as_string() + "', which its type '" +
                                                            opened["type"].as_string() + "' sends; update the credential");
        return WEFT_ERR_INVALID_INPUT;
      }
    }
    if (apply["kind"].as_string() == "url") {
      if (req_json.contains("url") && !req_json["url"].as_string().empty()) {
        out_error = error_json("invalid_request", "the credential supplies the URL: the request must not name one");
        return WEFT_ERR_INVALID_INPUT;
      }
      req_json.set("url", opened["fields"][apply["field"].as_string()]);
    }
  }
  auto req = net::request_from_json(req_json);
  if (!req.ok()) {
    out_error = error_json(req.error().code, ctx.redactor ? ctx.redactor->redact(req.error().message) : req.error().message);
    return WEFT_ERR_INVALID_INPUT;
  }
  if (!cred_ref.empty()) {
    const std::string kind = apply["kind"].as_string();
    const Json& f = opened["fields"];
    auto drop_header = [&](std::string_view name) {
      auto& hs = req->headers;
      hs.erase(std::remove_if(hs.begin(), hs.end(), [&](const auto& h) { return lower(h.first) == lower(name); }),
               hs.end());
    };
    if (kind == "bearer") {
      drop_header("authorization");
      req->headers.emplace_back("Authorization", "Bearer " + f[apply["field"].as_string()].as_string());
    } else if (kind == "basic") {
      const std::string user = f[apply["username_field"].as_string()].as_string();
      const std::string pass = f[apply["password_field"].as_string()].as_string();
      if (ctx.redactor) ctx.redactor->add_basic_auth(user, pass);
      drop_header("authorization");
      req->headers.emplace_back("Authorization", "Basic " + base64(user + ":" + pass));
    } else if (kind == "header") {
      const std::string name = apply["name"].as_string();
      drop_header(name);
      req->headers.emplace_back(name, apply["prefix"].as_string() + f[apply["field"].as_string()].as_string());
      req->sensitive_headers.push_back(lower(name));
    } else if (kind == "query") {
      req->url = add_query(req->url, apply["name"].as_string(), f[apply["field"].as_string()].as_string());
    }
    AuditEntry e = audit_for(ctx, "credential.use");
    e.details.set("credential_id", opened["id"]);
    e.details.set("type", opened["type"]);
    e.details.set("apply", kind);
    e.details.set("host", kind == "url" ? std::string("[credential URL]") : url_host(req->url));
    // Recorded before the request carrying the secret leaves.
    if (std::string err = record_access(credentials_->audit(), e, ctx.redactor); !err.empty()) {
      out_error = std::move(err);
      return WEFT_ERR_FAILED;
    }
  }
  // The node's deadline bounds the request too.
  if (ctx.deadline_monotonic_ms > 0) {
    int64_t left = ctx.deadline_monotonic_ms - monotonic_ms();
    if (left <= 0) {
      out_error = error_json("timeout", "the node's deadline passed before the request was sent");
      return WEFT_ERR_TIMEOUT;
    }
    int64_t cap = req->timeout_ms > 0 ? req->timeout_ms : http_->policy().default_timeout_ms;
    req->timeout_ms = std::min(cap, left);
  }
  auto resp = http_->perform(*req, ctx.cancelled);
  if (!resp.ok()) {
    const Error& e = resp.error();
    Json err = Json::object();
    err.set("code", e.code);
    err.set("message", ctx.redactor ? ctx.redactor->redact(e.message) : redact_patterns(e.message));
    if (!e.details.empty()) {
      if (auto d = Json::parse(e.details); d.ok()) {
        if (ctx.redactor) ctx.redactor->redact_json(*d);
        err.set("details", std::move(*d));
      }
    }
    out_error = err.dump();
    if (e.code == "timeout") return WEFT_ERR_TIMEOUT;
    if (e.code == "cancelled") return WEFT_ERR_CANCELLED;
    if (e.code == "address_blocked" || e.code == "scheme_not_allowed") return WEFT_ERR_DENIED;
    if (e.code == "invalid_url" || e.code == "invalid_request") return WEFT_ERR_INVALID_INPUT;
    return WEFT_ERR_FAILED;
  }
  Json out = net::response_to_json(*resp);
  // A server that echoes what it got (or a credential URL in "url") must not hand the secret to
  // the plugin: the response is redacted with the run's secrets before the node sees it.
  if (ctx.redactor) ctx.redactor->redact_exact_json(out);
  out_json = out.dump();
  return WEFT_OK;
}

Result<CredentialStack> attach_credentials(app::Host& host, bool create_dev_key) {
  const app::Config& cfg = host.config();
  CredentialStack st;
  // "$comment"-style keys document the file; they are not settings.
  Json outbound = Json::object();
  for (const auto& [k, v] : cfg.outbound.as_object())
    if (k.rfind("$", 0) != 0) outbound.set(k, v);
  auto policy = net::OutboundPolicy::from_json(outbound);
  if (!policy.ok()) return policy.error();
  st.http = std::make_shared<net::OutboundHttp>(*policy);
  st.audit = std::make_shared<AuditLog>(host.store());

  std::string key_file = cfg.vault_key_file;
  if (key_file.empty()) {
    if (cfg.production())
      return Error("vault_key_missing", "production mode needs a master key: set vault.key_file (or WEFT_VAULT_KEY_FILE) "
                                        "to a file created with `weft vault init`");
    const char* home = std::getenv("HOME");
    if (home && *home) key_file = std::string(home) + "/.config/weft/master.key";
  }
  if (!key_file.empty()) {
    struct stat sb {};
    if (::stat(key_file.c_str(), &sb) != 0) {
      if (cfg.production())
        return Error("vault_key_missing", "the master key file " + key_file + " does not exist (production mode never creates one)");
      if (!create_dev_key && cfg.vault_key_file.empty()) {
        key_file.clear();
      } else if (!create_dev_key) {
        return Error("vault_key_missing", "the master key file " + key_file + " does not exist");
      } else if (Status created = vault::MasterKeyring::create(key_file);
                 !created.ok() && ::stat(key_file.c_str(), &sb) != 0) {  // another process may have won the race
        return created.error();
      } else if (created.ok()) {
        st.notice = "created a development master key at " + key_file +
                    " (owner-only); back it up: credentials cannot be decrypted without it";
      }
    }
  }
  if (!key_file.empty()) {
    auto keys = vault::MasterKeyring::load(key_file, cfg.data_dir());
    if (!keys.ok()) return keys.error();
    st.vault = std::make_shared<vault::Vault>(std::shared_ptr<vault::MasterKeyring>(std::move(*keys)), host.store());
    if (Status ok = st.vault->verify(); !ok.ok()) return ok.error();
  } else {
    st.notice = "no master key configured (vault.key_file / WEFT_VAULT_KEY_FILE): credentials are unavailable";
  }
  st.service = std::make_shared<CredentialService>(host.store(), host.registry(), st.vault, st.audit);
  st.runtime = std::make_shared<CredentialRuntime>(st.service, st.http);
  // User code (sandbox_run) wraps the credential runtime: the code's own host calls go through it.
  auto sandbox_cfg = sandbox_config_from_json(cfg.sandbox, app::executable_dir());
  if (!sandbox_cfg.ok()) return sandbox_cfg.error();
  st.code = std::make_shared<CodeRuntime>(st.runtime, std::move(*sandbox_cfg));
  host.set_node_services(st.code, st.service.get());
  return st;
}

}  // namespace weft::service
