#include "host/service/custom_nodes.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <set>
#include <string_view>
#include <vector>

#include "host/codecheck/codecheck.hpp"
#include "host/core/call.hpp"
#include "host/service/audit.hpp"
#include "host/service/code.hpp"
#include "host/service/credentials.hpp"
#include "registry/credential_type.hpp"
#include "registry/node_schema.hpp"

namespace weft::service {

namespace {

constexpr const char* kInvalid = "invalid_custom_node";
constexpr std::string_view kTypePrefix = "custom.";
constexpr size_t kMaxFields = 100;
constexpr size_t kMaxHandles = 16;
constexpr size_t kMaxOptions = 1000;
constexpr size_t kMaxCredentialTypes = 32;
// The member of a stored declaration (node schema) holding the credential types the node declares.
constexpr const char* kDefinitionsMember = "credential_type_definitions";

constexpr std::array<std::string_view, 9> kFieldTypes = {
    "string", "number", "integer", "boolean", "select", "json", "code", "credential", "expression"};
constexpr std::array<std::string_view, 6> kHandleTypes = {"json",    "text",   "number",
                                                          "boolean", "binary", "any"};

template <size_t N>
bool one_of(const std::array<std::string_view, N>& set, std::string_view v) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

template <size_t N>
std::string list_of(const std::array<std::string_view, N>& set) {
  std::string out;
  for (auto s : set) out += (out.empty() ? "" : ", ") + std::string(s);
  return out;
}

Error invalid(std::string message, Json details = Json()) {
  return Error(kInvalid, std::move(message), details.is_null() ? std::string() : details.dump());
}

// A member's problem: the message names it, details.member too.
Error bad(const std::string& member, const std::string& problem) {
  Json d = Json::object();
  d.set("member", member);
  return invalid("declaration: " + member + " " + problem, d);
}

// Text shown to people (names, descriptions): quoted at most this long in messages.
std::string excerpt(const std::string& s, size_t n = 40) {
  std::string out;
  for (char c : s.substr(0, n)) out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  return s.size() > n ? out + "..." : out;
}

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

// [a-z][a-z0-9_]{0,max-1}
bool is_slug(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), is_lower_alnum);
}

// [A-Za-z_][A-Za-z0-9_]{0,63}
bool is_field_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (s[0] >= '0' && s[0] <= '9') return false;
  return std::all_of(s.begin(), s.end(), word);
}

bool has_control(const std::string& s, bool allow_newlines) {
  for (unsigned char c : s) {
    if (c == 0x7f) return true;
    if (c < 0x20 && !(allow_newlines && (c == '\n' || c == '\t' || c == '\r'))) return true;
  }
  return false;
}

// Members of an object the declaration may use; anything else is refused.
Status known_members(const Json& obj, const std::string& where,
                     std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : obj.as_object()) {
    if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
    std::string names;
    for (auto a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
    return bad(where.empty() ? "\"" + excerpt(k) + "\"" : where + ".\"" + excerpt(k) + "\"",
               "is not a declaration member (allowed: " + names + ")");
  }
  return {};
}

// The member under one of its spellings (displayName / display_name); null when absent. Two
// spellings at once are an error.
Result<const Json*> alias(const Json& obj, const std::string& where,
                          std::initializer_list<const char*> names) {
  const Json* found = nullptr;
  std::string found_name;
  for (const char* n : names) {
    const Json* v = obj.find(n);
    if (!v) continue;
    if (found) return bad(where + n, "repeats " + found_name + ": give only one of them");
    found = v;
    found_name = n;
  }
  // JavaScript's undefined never arrives; Python's None does: treat null as absent.
  if (found && found->is_null()) return static_cast<const Json*>(nullptr);
  return found;
}

Result<std::string> text_member(const Json& obj, const std::string& where,
                                std::initializer_list<const char*> names, size_t max, bool multiline) {
  auto v = alias(obj, where, names);
  if (!v.ok()) return v.error();
  if (!*v) return std::string();
  const std::string member = where + *names.begin();
  if (!(*v)->is_string()) return bad(member, std::string("must be a string, not ") + (*v)->type_name());
  const std::string& s = (*v)->as_string();
  if (s.size() > max) return bad(member, "is longer than " + std::to_string(max) + " bytes");
  if (has_control(s, multiline)) return bad(member, "contains control characters");
  return s;
}

Result<bool> bool_member(const Json& obj, const std::string& where, const char* name) {
  const Json* v = obj.find(name);
  if (!v || v->is_null()) return false;
  if (!v->is_bool()) return bad(where + name, std::string("must be true or false, not ") + v->type_name());
  return v->as_bool();
}

// The credential types a custom node declares itself: short name (as declared) → full name
// ("custom.<node>.<short>").
using DeclaredTypes = std::map<std::string, std::string>;

// Names of credential types a node (member "credentialTypes") or a credential field accepts: each
// is a registered type (checked when a registry is given) or one the node declares itself (by its
// short or its full name; stored as the full name).
Result<Json> credential_type_names(const Json& v, const std::string& member, const registry::Registry* registry,
                                   const DeclaredTypes& declared) {
  if (!v.is_array()) return bad(member, "must be an array of credential type names");
  if (v.size() > kMaxCredentialTypes)
    return bad(member, "names more than " + std::to_string(kMaxCredentialTypes) + " types");
  Json out = Json::array();
  std::set<std::string> seen;
  for (size_t i = 0; i < v.size(); ++i) {
    const Json& t = v.at(i);
    const std::string m = member + "[" + std::to_string(i) + "]";
    if (t.is_object())
      return bad(m, "declares a credential type: declare it in the node's credentialTypes and name it here");
    if (!t.is_string() || t.as_string().empty() || t.as_string().size() > 160 ||
        has_control(t.as_string(), false))
      return bad(m, "must be the name of a credential type");
    std::string name = t.as_string();
    if (auto it = declared.find(name); it != declared.end()) name = it->second;
    bool own = false;
    for (const auto& [short_name, full] : declared) own = own || full == name;
    if (!own && registry && !registry->find_credential_type(name))
      return bad(m, "names credential type \"" + excerpt(name) +
                        "\", which no enabled plugin offers (GET /api/credentials/types) and this node does not "
                        "declare");
    if (seen.insert(name).second) out.push_back(name);
  }
  return out;
}

// A copy of `obj` with the JavaScript spellings renamed to the registry's (displayName →
// display_name) and null members dropped (Python's None means "not given"). Both spellings at once
// are an error.
Result<Json> registry_spelling(const Json& obj, const std::string& where,
                               std::initializer_list<std::pair<const char*, const char*>> renames) {
  Json out = Json::object();
  for (const auto& [k, v] : obj.as_object()) {
    if (v.is_null()) continue;
    std::string key = k;
    for (const auto& [from, to] : renames)
      if (key == from) {
        if (obj.contains(to) && !obj[to].is_null()) return bad(where + from, std::string("repeats ") + to + ": give only one of them");
        key = to;
      }
    out.set(key, v);
  }
  return out;
}

// The member a registry validation message starts with ("apply.kind ...", "fields[0].type ..."),
// or "" when the message does not start with one.
std::string leading_member(const std::string& message) {
  const size_t end = message.find(' ');
  const std::string token = message.substr(0, end);
  if (token.empty()) return "";
  for (char c : token)
    if (!(is_lower_alnum(c) || c == '.' || c == '[' || c == ']')) return "";
  for (const char* root : {"name", "display_name", "description", "fields", "apply"}) {
    const std::string r = root;
    if (token == r || token.rfind(r + ".", 0) == 0 || token.rfind(r + "[", 0) == 0) return token;
  }
  return "";
}

// One credential type a custom node declares (an object in its credentialTypes): the registry's
// credential type JSON (registry/credential_type.hpp) with the JavaScript spellings accepted,
// checked by the registry's own validation, renamed to custom.<node>.<name>.
Result<Json> declared_credential_type(const Json& t, const std::string& member, const registry::Registry* registry,
                                      const std::string& node_name) {
  if (Status st = known_members(t, member, {"name", "displayName", "display_name", "description", "fields", "apply"});
      !st.ok())
    return st.error();
  auto def = registry_spelling(t, member + ".", {{"displayName", "display_name"}});
  if (!def.ok()) return def.error();
  if (const Json* fields = def->find("fields"); fields && fields->is_array()) {
    Json out = Json::array();
    for (size_t i = 0; i < fields->size(); ++i) {
      const Json& f = fields->at(i);
      if (!f.is_object()) {
        out.push_back(f);
        continue;
      }
      auto renamed = registry_spelling(f, member + ".fields[" + std::to_string(i) + "].",
                                       {{"displayName", "display_name"}});
      if (!renamed.ok()) return renamed.error();
      out.push_back(*renamed);
    }
    def->set("fields", out);
  }
  if (const Json* apply = def->find("apply"); apply && apply->is_object()) {
    auto renamed = registry_spelling(*apply, member + ".apply.",
                                     {{"usernameField", "username_field"}, {"passwordField", "password_field"}});
    if (!renamed.ok()) return renamed.error();
    def->set("apply", *renamed);
  }
  auto checked = registry::validate_credential_type(*def);
  if (!checked.ok()) {
    const std::string& message = checked.error().message;
    const std::string inner = leading_member(message);
    const std::string at = inner.empty() ? member : member + "." + inner;
    return bad(at, "is not a valid credential type: " + message);
  }
  const std::string short_name = (*checked)["name"].as_string();
  if (registry && registry->find_credential_type(short_name))
    return bad(member + ".name", "\"" + short_name +
                                     "\" is the name of a registered credential type: to accept that type, name it "
                                     "as a string; to declare your own, choose another name");
  checked->set("name", custom_credential_type_name(node_name, short_name));
  return *checked;
}

// The node's credentialTypes: strings name registered types, objects declare the node's own.
// Returns the accepted names; the declared definitions go to `definitions`, their names to
// `declared`.
Result<Json> node_credential_types(const Json& v, const std::string& member, const registry::Registry* registry,
                                   const std::string& node_name, Json& definitions, DeclaredTypes& declared) {
  if (!v.is_array()) return bad(member, "must be an array of credential type names or definitions");
  if (v.size() > kMaxCredentialTypes)
    return bad(member, "has more than " + std::to_string(kMaxCredentialTypes) + " entries");
  Json names = Json::array();
  for (size_t i = 0; i < v.size(); ++i) {
    const Json& t = v.at(i);
    const std::string m = member + "[" + std::to_string(i) + "]";
    if (t.is_object()) {
      auto def = declared_credential_type(t, m, registry, node_name);
      if (!def.ok()) return def.error();
      const std::string full = (*def)["name"].as_string();
      const std::string short_name = full.substr(full.rfind('.') + 1);
      if (!declared.emplace(short_name, full).second)
        return bad(m + ".name", "\"" + short_name + "\" is declared twice");
      definitions.push_back(*def);
      names.push_back(full);
    } else {
      names.push_back(t);
    }
  }
  // The strings, checked now that every declared type is known (a string may name one).
  return credential_type_names(names, member, registry, declared);
}

bool scalar(const Json& v) {
  return v.is_string() || v.is_number() || v.is_bool();
}

Result<Json> read_field(const Json& f, size_t index, const registry::Registry* registry,
                        const DeclaredTypes& declared) {
  const std::string where = "fields[" + std::to_string(index) + "]";
  if (!f.is_object()) return bad(where, std::string("must be an object, not ") + f.type_name());
  if (Status st = known_members(f, where,
                                {"name", "type", "displayName", "display_name", "label", "description",
                                 "required", "default", "options", "language", "credentialTypes",
                                 "credential_types", "min", "max", "maxLength", "max_length", "placeholder"});
      !st.ok())
    return st.error();
  const Json& name = f["name"];
  if (!name.is_string() || !is_field_name(name.as_string()))
    return bad(where + ".name", "must be a name of 1-64 letters, digits or '_' (not starting with a digit)");
  const Json& type_j = f["type"];
  if (!type_j.is_string() || !one_of(kFieldTypes, type_j.as_string()))
    return bad(where + ".type",
               (type_j.is_string() ? "\"" + excerpt(type_j.as_string()) + "\" " : std::string()) +
                   "is not a field type (" + list_of(kFieldTypes) + ")");
  const std::string type = type_j.as_string();
  const std::string w = where + ".";

  Json out = Json::object();
  out.set("name", name);
  out.set("type", type);
  auto display = text_member(f, w, {"displayName", "display_name", "label"}, 200, false);
  if (!display.ok()) return display.error();
  if (!display->empty()) out.set("display_name", *display);
  auto description = text_member(f, w, {"description"}, 2000, true);
  if (!description.ok()) return description.error();
  if (!description->empty()) out.set("description", *description);
  auto placeholder = text_member(f, w, {"placeholder"}, 200, false);
  if (!placeholder.ok()) return placeholder.error();
  if (!placeholder->empty()) out.set("placeholder", *placeholder);
  auto required = bool_member(f, w, "required");
  if (!required.ok()) return required.error();
  out.set("required", *required);

  // Members that belong to one type only. (A table with arrays of its own: an initializer_list
  // nested in another one would dangle once the outer list is built.)
  struct OnlyFor {
    const char* member;
    std::array<std::string_view, 3> types;  // empty entries unused
  };
  static constexpr OnlyFor kOnlyFor[] = {
      {"options", {"select"}},
      {"language", {"code"}},
      {"credentialTypes", {"credential"}},
      {"credential_types", {"credential"}},
      {"min", {"number", "integer"}},
      {"max", {"number", "integer"}},
      {"maxLength", {"string", "code", "expression"}},
      {"max_length", {"string", "code", "expression"}},
  };
  for (const OnlyFor& rule : kOnlyFor) {
    const Json* v = f.find(rule.member);
    if (!v || v->is_null()) continue;
    bool fits = false;
    std::string names;
    for (std::string_view t : rule.types) {
      if (t.empty()) continue;
      fits = fits || t == type;
      names += (names.empty() ? "" : " or ") + std::string(t);
    }
    if (!fits) return bad(w + rule.member, "applies to " + names + " fields only");
  }

  Json allowed_values = Json::array();
  if (type == "select") {
    const Json& options = f["options"];
    if (!options.is_array() || options.size() == 0 || options.size() > kMaxOptions)
      return bad(w + "options",
                 "must be an array of 1-" + std::to_string(kMaxOptions) + " options for a select field");
    Json opts = Json::array();
    for (size_t i = 0; i < options.size(); ++i) {
      const Json& o = options.at(i);
      const std::string m = w + "options[" + std::to_string(i) + "]";
      if (scalar(o)) {
        opts.push_back(o);
        allowed_values.push_back(o);
        continue;
      }
      if (!o.is_object() || !o.contains("value") || !scalar(o["value"]))
        return bad(m, "must be a string, number or boolean, or {\"value\": ..., \"label\": \"...\"}");
      if (Status st = known_members(o, m, {"value", "label"}); !st.ok()) return st.error();
      auto label = text_member(o, m + ".", {"label"}, 200, false);
      if (!label.ok()) return label.error();
      Json opt = Json::object();
      opt.set("value", o["value"]);
      if (!label->empty()) opt.set("label", *label);
      opts.push_back(opt);
      allowed_values.push_back(o["value"]);
    }
    out.set("options", opts);
  }
  if (type == "code") {
    const Json& lang = f["language"];
    if (!lang.is_null()) {
      const std::string l = lang.as_string();
      if (l == "javascript" || l == "js")
        out.set("language", "javascript");
      else if (l == "python" || l == "py")
        out.set("language", "python");
      else
        return bad(w + "language", "must be \"javascript\" or \"python\"");
    }
  }
  if (type == "credential") {
    auto v = alias(f, w, {"credentialTypes", "credential_types"});
    if (!v.ok()) return v.error();
    if (*v) {
      auto names = credential_type_names(**v, w + "credentialTypes", registry, declared);
      if (!names.ok()) return names.error();
      out.set("credential_types", *names);
    }
  }
  if (type == "number" || type == "integer") {
    for (const char* m : {"min", "max"}) {
      const Json* v = f.find(m);
      if (!v || v->is_null()) continue;
      if (!v->is_number() || (type == "integer" && !v->is_int()))
        return bad(w + m, type == "integer" ? "must be a whole number" : "must be a number");
      out.set(m, *v);
    }
    if (out.contains("min") && out.contains("max") && out["min"].as_double() > out["max"].as_double())
      return bad(w + "min", "is larger than max");
  }
  if (type == "string" || type == "code" || type == "expression") {
    auto v = alias(f, w, {"maxLength", "max_length"});
    if (!v.ok()) return v.error();
    if (*v) {
      if (!(*v)->is_int() || (*v)->as_int() < 0 || (*v)->as_int() > (1 << 20))
        return bad(w + "maxLength", "must be a whole number from 0 to 1048576");
      out.set("max_length", **v);
    }
  }

  if (const Json* def = f.find("default"); def && !def->is_null()) {
    const std::string m = w + "default";
    bool ok = true;
    if (type == "string" || type == "code" || type == "expression")
      ok = def->is_string();
    else if (type == "number")
      ok = def->is_number();
    else if (type == "integer")
      ok = def->is_int();
    else if (type == "boolean")
      ok = def->is_bool();
    else if (type == "select")
      ok = std::find(allowed_values.as_array().begin(), allowed_values.as_array().end(), *def) !=
           allowed_values.as_array().end();
    else if (type == "credential")
      return bad(m, "is not allowed for a credential field (credentials are per account)");
    if (!ok)
      return bad(m, type == "select" ? "is not one of the options" : "does not match the field type " + type);
    if (def->is_string() && out.contains("max_length") &&
        static_cast<int64_t>(def->as_string().size()) > out["max_length"].as_int())
      return bad(m, "is longer than maxLength");
    if (def->is_number() && ((out.contains("min") && def->as_double() < out["min"].as_double()) ||
                             (out.contains("max") && def->as_double() > out["max"].as_double())))
      return bad(m, "is outside min..max");
    out.set("default", *def);
  }
  return out;
}

Result<Json> read_handles(const Json* v, bool inputs) {
  const char* what = inputs ? "inputs" : "outputs";
  const char* default_type = inputs ? "any" : "json";
  Json out = Json::array();
  if (!v || v->is_null()) {
    Json h = Json::object();
    h.set("name", "main");
    h.set("type", default_type);
    out.push_back(h);
    return out;
  }
  if (!v->is_array() || v->size() == 0 || v->size() > kMaxHandles)
    return bad(what,
               "must be an array of 1-" + std::to_string(kMaxHandles) + " handles (names or {name, type})");
  std::set<std::string> seen;
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& e = v->at(i);
    const std::string where = std::string(what) + "[" + std::to_string(i) + "]";
    Json h = Json::object();
    const Json* name = &e;
    if (e.is_object()) {
      if (inputs) {
        if (Status st =
                known_members(e, where, {"name", "type", "multiple", "displayName", "display_name", "label"});
            !st.ok())
          return st.error();
      } else if (Status st =
                     known_members(e, where, {"name", "type", "displayName", "display_name", "label"});
                 !st.ok()) {
        return st.error();
      }
      name = e.find("name");
    } else if (!e.is_string()) {
      return bad(where, "must be a handle name or {name, type}");
    }
    if (!name || !name->is_string() || !is_slug(name->as_string(), 32))
      return bad(e.is_object() ? where + ".name" : where,
                 "must be a handle name of 1-32 characters [a-z0-9_], starting with a letter");
    if (!inputs && name->as_string() == "error")
      return bad(where + ".name",
                 "\"error\" is reserved: every node has an implicit error output (on_error: route)");
    if (!seen.insert(name->as_string()).second)
      return bad(where + ".name", "\"" + name->as_string() + "\" is declared twice");
    h.set("name", *name);
    std::string type = default_type;
    if (e.is_object()) {
      const Json& t = e["type"];
      if (!t.is_null()) {
        if (!t.is_string() || !one_of(kHandleTypes, t.as_string()))
          return bad(where + ".type",
                     (t.is_string() ? "\"" + excerpt(t.as_string()) + "\" " : std::string()) +
                         "is not a handle type (" + list_of(kHandleTypes) + ")");
        type = t.as_string();
      }
    }
    h.set("type", type);
    if (e.is_object()) {
      auto display = text_member(e, where + ".", {"displayName", "display_name", "label"}, 200, false);
      if (!display.ok()) return display.error();
      if (!display->empty()) h.set("display_name", *display);
      if (inputs) {
        auto multiple = bool_member(e, where + ".", "multiple");
        if (!multiple.ok()) return multiple.error();
        if (*multiple) h.set("multiple", true);
      }
    }
    out.push_back(h);
  }
  return out;
}

// ---- the run-time side: a node type whose execute runs the file in the sandbox ------------------

struct CustomNodeState {
  std::string name;
  std::string language;
  std::string source;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
};

// The NodeType and what its type_state points to, in one allocation: the NodeType handed out is an
// aliasing shared_ptr into it, so the state lives exactly as long as any plan holds the type.
struct CustomNodeType {
  registry::NodeType type;
  CustomNodeState state;
};

void write_sink(weft_sink* sink, const std::string& text) {
  if (sink && sink->write && !text.empty()) sink->write(sink->ctx, text.data(), text.size());
}

weft_status fail(const weft_node_result* result, weft_status status, const std::string& code,
                 const std::string& message, const Json& details = Json()) {
  Json e = Json::object();
  e.set("code", code);
  e.set("message", message);
  if (details.is_object() && details.size() > 0) e.set("details", details);
  if (result) write_sink(result->error, e.dump());
  return status;
}

int32_t level_of(const std::string& level) {
  if (level == "error") return WEFT_LOG_ERROR;
  if (level == "warn") return WEFT_LOG_WARN;
  if (level == "debug") return WEFT_LOG_DEBUG;
  return WEFT_LOG_INFO;
}

void forward_log(weft_call* call, const Json& log) {
  for (const Json& l : log.as_array())
    if (l["msg"].is_string()) call->log(level_of(l["level"].as_string()), l["msg"].as_string());
}

Json parse_or(std::string_view text, Json fallback) {
  if (text.empty()) return fallback;
  auto j = Json::parse(text);
  return j.ok() ? std::move(*j) : fallback;
}

weft_status run_custom_node(const CustomNodeState& st, const weft_node_request* request,
                            const weft_node_result* result) {
  const std::string prefix =
      "node '" + std::string(from_weft_str(request->node_id)) + "' (custom." + st.name + "): ";
  weft_call* call = request->call;
  if (!call)
    return fail(result, WEFT_ERR_UNSUPPORTED, "sandbox_unavailable",
                prefix + "no host services for this call");
  Json params = parse_or(from_weft_str(request->params_json), Json::object());
  if (!params.is_object()) params = Json::object();
  Json input = parse_or(from_weft_str(request->input_json), Json::object());
  Json items = st.inputs.size() == 1 ? input[st.inputs[0]] : (input.is_object() ? input : Json::object());

  Json req = Json::object();
  req.set("language", st.language);
  req.set("code", st.source);
  req.set("mode", "module");
  req.set("input", items);
  req.set("params", params);
  std::string out, err;
  const weft_status status = call->sandbox_run(req.dump(), out, err);
  if (status != WEFT_OK) {
    Json e = parse_or(err, Json::object());
    std::string code = e["code"].is_string() ? e["code"].as_string() : "sandbox_error";
    std::string message = e["message"].is_string() ? e["message"].as_string() : "the sandbox failed";
    Json details = e["details"].is_object() ? e["details"] : Json::object();
    // What the code logged before it failed goes to the node log, not into the error.
    forward_log(call, details["log"]);
    if (details["text"].is_string() && !details["text"].as_string().empty())
      call->log(WEFT_LOG_INFO, details["text"].as_string());
    details.erase("log");
    details.erase("text");
    weft_status s = WEFT_ERR_FAILED;
    if (status == WEFT_ERR_TIMEOUT || code == "timeout")
      s = WEFT_ERR_TIMEOUT;
    else if (status == WEFT_ERR_CANCELLED || code == "cancelled")
      s = WEFT_ERR_CANCELLED;
    else if (code == "invalid_input" || code == "memory_limit" || code == "output_limit" ||
             code == "protocol_error")
      s = WEFT_ERR_INVALID_INPUT;
    return fail(result, s, code, prefix + message, details);
  }
  Json res = parse_or(out, Json());
  if (!res.is_object())
    return fail(result, WEFT_ERR_INTERNAL, "invalid_sandbox_result",
                prefix + "the sandbox answered something that is not a JSON object");
  forward_log(call, res["log"]);
  if (res["text"].is_string() && !res["text"].as_string().empty())
    call->log(WEFT_LOG_INFO, res["text"].as_string());
  const Json& value = res["value"];
  Json output = Json::object();
  if (st.outputs.size() == 1) {
    output.set(st.outputs[0], value);
  } else {
    if (!value.is_object())
      return fail(result, WEFT_ERR_INVALID_INPUT, "invalid_output",
                  prefix + "a node with several outputs must return an object keyed by output handle, not " +
                      value.type_name());
    for (const auto& [handle, v] : value.as_object()) {
      if (std::find(st.outputs.begin(), st.outputs.end(), handle) == st.outputs.end())
        return fail(
            result, WEFT_ERR_INVALID_INPUT, "invalid_output",
            prefix + "returned output handle \"" + excerpt(handle) + "\", which the node does not declare");
      output.set(handle, v);
    }
  }
  write_sink(result->output, output.dump());
  return WEFT_OK;
}

// The execute function of every custom node type (weft_node_execute_fn): a C entry point, so
// nothing may escape it.
weft_status execute_custom_node(void* type_state, const weft_node_request* request,
                                const weft_node_result* result) noexcept {
  if (!type_state || !request || !result) return WEFT_ERR_INVALID_INPUT;
  try {
    return run_custom_node(*static_cast<const CustomNodeState*>(type_state), request, result);
  } catch (...) {
    try {
      return fail(result, WEFT_ERR_INTERNAL, "internal", "a custom node failed inside the host");
    } catch (...) {
      return WEFT_ERR_INTERNAL;
    }
  }
}

std::vector<std::string> handle_names(const Json& handles) {
  std::vector<std::string> out;
  for (const Json& h : handles.as_array()) out.push_back(h["name"].as_string());
  return out;
}

Json view_json(const store::CustomNodeRecord& r, bool with_source) {
  Json j = Json::object();
  j.set("id", r.id);
  j.set("name", r.name);
  j.set("type", custom_type_name(r.name));
  j.set("version", r.version);
  j.set("language", r.language);
  j.set("declaration", r.declaration);
  j.set("created_at", r.created_at_ms);
  j.set("updated_at", r.updated_at_ms);
  if (with_source) j.set("source", r.source);
  return j;
}

Result<std::string> body_language(const Json& body) {
  const Json& lang = body["language"];
  if (!lang.is_string()) return invalid("\"language\" is required: \"javascript\" or \"python\"");
  const std::string& l = lang.as_string();
  if (l == "javascript" || l == "js") return std::string("javascript");
  if (l == "python" || l == "py") return std::string("python");
  return invalid("\"language\" must be \"javascript\" or \"python\"");
}

}  // namespace

std::string custom_type_name(const std::string& name) {
  return std::string(kTypePrefix) + name;
}

std::string custom_name_of(std::string_view type_name) {
  if (type_name.substr(0, kTypePrefix.size()) != kTypePrefix) return "";
  std::string name(type_name.substr(kTypePrefix.size()));
  return is_slug(name, 63) ? name : "";
}

std::string custom_credential_type_name(const std::string& node_name, const std::string& type_name) {
  return std::string(kTypePrefix) + node_name + "." + type_name;
}

bool custom_credential_type_parts(std::string_view full_name, std::string* node_name, std::string* type_name) {
  if (full_name.substr(0, kTypePrefix.size()) != kTypePrefix) return false;
  std::string_view rest = full_name.substr(kTypePrefix.size());
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return false;
  std::string_view node = rest.substr(0, dot), type = rest.substr(dot + 1);
  if (!is_slug(node, 63) || !registry::is_valid_credential_type_name(type)) return false;
  if (node_name) *node_name = std::string(node);
  if (type_name) *type_name = std::string(type);
  return true;
}

Result<Json> CustomNodeService::schema_from_declaration(const Json& decl, const registry::Registry* registry,
                                                        std::string* name_out) {
  if (!decl.is_object())
    return invalid(std::string("the declaration must be an object, not ") + decl.type_name());
  if (Status st = known_members(decl, "",
                                {"name", "displayName", "display_name", "description", "category", "fields",
                                 "inputs", "outputs", "credentialTypes", "credential_types"});
      !st.ok())
    return st.error();
  const Json& name = decl["name"];
  if (!name.is_string() || !is_slug(name.as_string(), 63))
    return bad("name", (name.is_string() ? "\"" + excerpt(name.as_string()) + "\" " : std::string()) +
                           "must be 1-63 characters [a-z0-9_], starting with a letter (the node type becomes "
                           "custom.<name>)");
  if (name_out) *name_out = name.as_string();

  Json schema = Json::object();
  auto display = text_member(decl, "", {"displayName", "display_name"}, 200, false);
  if (!display.ok()) return display.error();
  schema.set("display_name", display->empty() ? name.as_string() : *display);
  auto description = text_member(decl, "", {"description"}, 4000, true);
  if (!description.ok()) return description.error();
  schema.set("description", *description);
  auto category = text_member(decl, "", {"category"}, 64, false);
  if (!category.ok()) return category.error();
  schema.set("category", category->empty() ? "custom" : *category);

  // Credential types first: fields may name the ones the node declares.
  Json creds = Json::array();
  Json definitions = Json::array();
  DeclaredTypes declared;
  auto ct = alias(decl, "", {"credentialTypes", "credential_types"});
  if (!ct.ok()) return ct.error();
  if (*ct) {
    auto names = node_credential_types(**ct, "credentialTypes", registry, name.as_string(), definitions, declared);
    if (!names.ok()) return names.error();
    creds = *names;
  }

  Json fields = Json::array();
  if (const Json* f = decl.find("fields"); f && !f->is_null()) {
    if (!f->is_array() || f->size() > kMaxFields)
      return bad("fields", "must be an array of at most " + std::to_string(kMaxFields) + " fields");
    std::set<std::string> seen;
    for (size_t i = 0; i < f->size(); ++i) {
      auto field = read_field(f->at(i), i, registry, declared);
      if (!field.ok()) return field.error();
      if (!seen.insert((*field)["name"].as_string()).second)
        return bad("fields[" + std::to_string(i) + "].name",
                   "\"" + (*field)["name"].as_string() + "\" is declared twice");
      fields.push_back(*field);
    }
  }
  schema.set("fields", fields);
  auto inputs = read_handles(decl.find("inputs"), true);
  if (!inputs.ok()) return inputs.error();
  schema.set("inputs", *inputs);
  auto outputs = read_handles(decl.find("outputs"), false);
  if (!outputs.ok()) return outputs.error();
  schema.set("outputs", *outputs);
  schema.set("credential_types", creds);
  if (definitions.size() > 0) schema.set(kDefinitionsMember, definitions);

  // The registry's own check: what the compiler and the palette rely on.
  auto checked = registry::validate_node_schema(schema);
  if (!checked.ok()) return invalid("declaration: " + checked.error().message);
  return *checked;
}

CustomNodeService::CustomNodeService(app::Host& host, std::shared_ptr<CodeRuntime> code,
                                     CustomNodeLimits limits)
    : host_(host), code_(std::move(code)), limits_(limits) {}

Result<Json> CustomNodeService::analyse(const std::string& owner, const std::string& language,
                                        const std::string& source) {
  // 1. Syntax, without running anything.
  CodeCheckOptions opts;
  opts.mode = "module";
  opts.max_bytes = limits_.max_source_bytes;
  CodeCheckResult check = check_code(language, source, opts);
  if (!check.ok) {
    Json diags = Json::array();
    std::string first;
    for (const auto& d : check.diagnostics) {
      Json j = Json::object();
      j.set("line", d.line);
      j.set("column", d.column);
      j.set("end_line", d.end_line);
      j.set("end_column", d.end_column);
      j.set("code", d.code);
      j.set("message", d.message);
      diags.push_back(j);
      if (first.empty())
        first = d.line > 0 ? "line " + std::to_string(d.line) + ", column " + std::to_string(d.column) +
                                 ": " + d.message
                           : d.message;
    }
    Json details = Json::object();
    details.set("diagnostics", diags);
    if (check.truncated) details.set("truncated", true);
    return invalid("the file has syntax errors: " + first, details);
  }
  // 2. Load it in the sandbox and read its declaration (no host calls: loading a file must not
  //    reach credentials or the network).
  if (!code_) return Error("sandbox_unavailable", "this server has no sandbox for user code");
  auto lang = sandbox::parse_language(language);
  if (!lang.ok()) return invalid(lang.error().message);
  sandbox::Job job;
  job.language = *lang;
  job.mode = "describe";
  job.custom_node = true;
  job.code = source;
  job.input = Json();
  job.params = Json::object();
  Json context = Json::object();
  context.set("owner_id", owner);
  job.context = context;
  job.limits = code_->config().default_limits;
  job.timeout_ms = limits_.describe_timeout_ms;
  sandbox::JobResult r = code_->run_job(job, nullptr);
  if (!r.ok) {
    const std::string code = r.error["code"].as_string();
    const std::string message =
        r.error["message"].is_string() ? r.error["message"].as_string() : "the sandbox failed";
    if (code == "sandbox_unavailable" || code == "sandbox_busy" || code == "cancelled" || code.empty())
      return Error("sandbox_unavailable", "the file could not be loaded in the sandbox: " + message);
    Json details = r.error["details"].is_object() ? r.error["details"] : Json::object();
    details.set("reason", code);
    std::string where;
    if (details["line"].is_int())
      where = " (line " + std::to_string(details["line"].as_int()) +
              (details["column"].is_int() ? ", column " + std::to_string(details["column"].as_int()) : "") +
              ")";
    return invalid("loading the file failed" + where + ": " + message, details);
  }
  std::string text;
  if (!r.value.dump_to(text, limits_.max_declaration_bytes))
    return invalid("the declaration is larger than " + std::to_string(limits_.max_declaration_bytes) +
                   " bytes as JSON");
  std::string name;
  auto schema = schema_from_declaration(r.value, &host_.registry(), &name);
  if (!schema.ok()) return schema.error();
  Json out = Json::object();
  out.set("name", name);
  out.set("schema", *schema);
  return out;
}

Result<Json> CustomNodeService::store_version(const std::string& owner, const std::string& name,
                                              const Json& body, bool new_name) {
  if (!body.is_object()) return invalid("the body must be a JSON object {\"language\", \"source\"}");
  for (const auto& [k, v] : body.as_object())
    if (k != "language" && k != "source") {
      Json d = Json::object();
      d.set("field", k);
      return Error("unknown_field", "unknown field '" + excerpt(k) + "' (expected language, source)",
                   d.dump());
    }
  auto language = body_language(body);
  if (!language.ok()) return language.error();
  const Json& source = body["source"];
  if (!source.is_string() || source.as_string().empty())
    return invalid("\"source\" is required: the node's file as text");
  if (source.as_string().size() > limits_.max_source_bytes) {
    Json d = Json::object();
    d.set("limit", static_cast<int64_t>(limits_.max_source_bytes));
    d.set("size", static_cast<int64_t>(source.as_string().size()));
    return invalid("the file is larger than " + std::to_string(limits_.max_source_bytes / 1024) + " KiB", d);
  }
  // An update of a name the caller does not have is a 404 before any of its code runs.
  if (!new_name) {
    auto existing = host_.store()->get_custom_node(owner, name, 0);
    if (!existing.ok())
      return existing.error().code == "not_found"
                 ? Error("not_found", "custom node '" + excerpt(name) + "' not found")
                 : existing.error();
  }
  auto analysed = analyse(owner, *language, source.as_string());
  if (!analysed.ok()) return analysed.error();
  const std::string declared = (*analysed)["name"].as_string();
  if (!new_name && declared != name) {
    Json d = Json::object();
    d.set("member", "name");
    return invalid("the file declares name \"" + declared + "\" but this is custom node \"" + name +
                       "\": a custom node cannot be renamed (upload it as a new node instead)",
                   d);
  }
  if (new_name && host_.registry().find_node_type(custom_type_name(declared)))
    return Error("conflict", "node type " + custom_type_name(declared) + " is already offered by a plugin");
  store::CustomNodeRecord rec;
  rec.owner_id = owner;
  rec.name = declared;
  rec.language = *language;
  rec.source = source.as_string();
  rec.declaration = (*analysed)["schema"];
  auto stored = host_.store()->create_custom_node(rec, new_name);
  if (!stored.ok()) {
    if (stored.error().code == "conflict" && new_name)
      return Error("conflict", "you already have a custom node named '" + declared +
                                   "' (PUT /api/nodes/custom/" + declared + " uploads a new version)");
    if (stored.error().code == "not_found")
      return Error("not_found", "custom node '" + excerpt(name) + "' not found");
    return stored.error();
  }
  // Plans pin the node types they compiled against: recompile with the new version.
  host_.clear_plans();
  {
    AuditEntry e;
    e.user_id = owner;
    e.action_type = new_name ? "custom_node.create" : "custom_node.update";
    e.details.set("name", stored->name);
    e.details.set("version", stored->version);
    e.details.set("language", stored->language);
    if (Status st = AuditLog(host_.store()).record(e); !st.ok())
      std::fprintf(stderr, "weft: audit entry %s not written: %s\n", e.action_type.c_str(), st.error().code.c_str());
  }
  return view_json(*stored, false);
}

Result<Json> CustomNodeService::create(const std::string& owner, const Json& body) {
  return store_version(owner, "", body, true);
}

Result<Json> CustomNodeService::update(const std::string& owner, const std::string& name, const Json& body) {
  return store_version(owner, name, body, false);
}

Result<Json> CustomNodeService::get(const std::string& owner, const std::string& name, int64_t version) {
  auto rec = host_.store()->get_custom_node(owner, name, version);
  if (!rec.ok()) return rec.error();
  auto versions = host_.store()->list_custom_node_versions(owner, name);
  if (!versions.ok()) return versions.error();
  Json j = view_json(*rec, true);
  Json list = Json::array();
  for (const auto& v : *versions) {
    Json e = Json::object();
    e.set("version", v.version);
    e.set("created_at", v.updated_at_ms);
    list.push_back(e);
  }
  j.set("versions", list);
  return j;
}

Result<Json> CustomNodeService::list(const std::string& owner) {
  auto recs = host_.store()->list_custom_nodes(owner);
  if (!recs.ok()) return recs.error();
  Json items = Json::array();
  for (const auto& r : *recs) items.push_back(view_json(r, false));
  return items;
}

Status CustomNodeService::remove(const std::string& owner, const std::string& name) {
  Status st = host_.store()->delete_custom_node(owner, name);
  if (!st.ok()) return st;
  host_.clear_plans();
  AuditEntry e;
  e.user_id = owner;
  e.action_type = "custom_node.delete";
  e.details.set("name", name);
  if (Status a = AuditLog(host_.store()).record(e); !a.ok())
    std::fprintf(stderr, "weft: audit entry %s not written: %s\n", e.action_type.c_str(), a.error().code.c_str());
  return {};
}

Result<Json> CustomNodeService::palette(const std::string& owner) {
  auto recs = host_.store()->list_custom_nodes(owner);
  if (!recs.ok()) return recs.error();
  Json out = Json::array();
  for (const auto& r : *recs) {
    Json item = Json::object();
    item.set("type", custom_type_name(r.name));
    item.set("version", r.version);
    item.set("plugin", "custom");
    item.set("flags", Json::array());
    item.set("language", r.language);
    for (const auto& [key, value] : r.declaration.as_object())
      if (!item.contains(key)) item.set(key, value);
    out.push_back(std::move(item));
  }
  return out;
}

CustomNodeService::Loaded CustomNodeService::type_for(const store::CustomNodeRecord& rec) {
  auto schema = registry::validate_node_schema(rec.declaration);
  if (!schema.ok()) return {};  // stored declarations were validated; a damaged row stays unusable
  // The credential types it declares, checked again as the registry checks a plugin's (under
  // their short names); a damaged definition is left out, so credentials of it fail to run.
  auto credential_types = std::make_shared<CredentialTypeMap>();
  for (const Json& def : (*schema)[kDefinitionsMember].as_array()) {
    std::string node, short_name;
    if (!custom_credential_type_parts(def["name"].as_string(), &node, &short_name) || node != rec.name) continue;
    Json copy = def;
    copy.set("name", short_name);
    auto checked = registry::validate_credential_type(copy);
    if (!checked.ok()) continue;
    checked->set("name", def["name"]);
    auto type = std::make_shared<registry::CredentialType>();
    type->name = def["name"].as_string();
    type->definition = std::move(*checked);
    type->plugin_name = "custom";
    credential_types->emplace(type->name, std::move(type));
  }
  auto holder = std::make_shared<CustomNodeType>();
  holder->state.name = rec.name;
  holder->state.language = rec.language;
  holder->state.source = rec.source;
  holder->state.inputs = handle_names((*schema)["inputs"]);
  holder->state.outputs = handle_names((*schema)["outputs"]);
  registry::NodeType& t = holder->type;
  t.type_name = custom_type_name(rec.name);
  t.type_version = static_cast<uint32_t>(rec.version);
  t.schema = std::move(*schema);
  t.flags = 0;
  t.type_state = &holder->state;
  t.execute = &execute_custom_node;
  t.plugin_name = "custom";
  Loaded out;
  out.type = std::shared_ptr<const registry::NodeType>(holder, &holder->type);
  out.credential_types = std::move(credential_types);
  return out;
}

CustomNodeService::Loaded CustomNodeService::load(const std::string& owner, const std::string& name,
                                                   uint32_t version) {
  if (name.empty() || owner.empty()) return {};
  // Which row: the versions list is small (no sources); the row id keys the cache.
  auto versions = host_.store()->list_custom_node_versions(owner, name);
  if (!versions.ok() || versions->empty()) return {};
  const store::CustomNodeRecord* row = nullptr;
  if (version == 0) {
    row = &versions->back();
  } else {
    for (const auto& v : *versions)
      if (v.version == static_cast<int64_t>(version)) row = &v;
  }
  if (!row) return {};
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(row->id);
    if (it != cache_.end()) {
      lru_.splice(lru_.end(), lru_, it->second.pos);
      return it->second.loaded;
    }
  }
  auto rec = host_.store()->get_custom_node(owner, name, row->version);
  if (!rec.ok()) return {};
  Loaded loaded = type_for(*rec);
  if (!loaded.type) return {};
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (auto it = cache_.find(rec->id); it != cache_.end()) return it->second.loaded;  // another thread was first
  lru_.push_back(rec->id);
  cache_[rec->id] = CacheEntry{loaded, std::prev(lru_.end())};
  while (cache_.size() > std::max<size_t>(1, limits_.cache_entries)) {
    cache_.erase(lru_.front());
    lru_.pop_front();
  }
  return loaded;
}

std::shared_ptr<const registry::NodeType> CustomNodeService::find_type(const std::string& owner,
                                                                       const std::string& type_name,
                                                                       uint32_t version) {
  return load(owner, custom_name_of(type_name), version).type;
}

std::shared_ptr<const registry::CredentialType> CustomNodeService::find_credential_type(const std::string& owner,
                                                                                         const std::string& type_name) {
  std::string node;
  if (!custom_credential_type_parts(type_name, &node, nullptr)) return nullptr;
  // The node's latest version decides which credential types exist.
  Loaded loaded = load(owner, node, 0);
  if (!loaded.credential_types) return nullptr;
  auto it = loaded.credential_types->find(type_name);
  return it == loaded.credential_types->end() ? nullptr : it->second;
}

Result<Json> CustomNodeService::credential_types(const std::string& owner) {
  auto recs = host_.store()->list_custom_nodes(owner);
  if (!recs.ok()) return recs.error();
  Json out = Json::array();
  for (const auto& r : *recs) {
    // The same view as a registered type's, through the same checks as find_credential_type.
    if (r.declaration[kDefinitionsMember].size() == 0) continue;
    Loaded loaded = load(owner, r.name, 0);
    if (!loaded.credential_types) continue;
    for (const Json& def : r.declaration[kDefinitionsMember].as_array()) {
      auto it = loaded.credential_types->find(def["name"].as_string());
      if (it == loaded.credential_types->end()) continue;
      Json item = it->second->definition;
      item.set("plugin", "custom");
      item.set("node_type", custom_type_name(r.name));
      out.push_back(std::move(item));
    }
  }
  return out;
}

std::shared_ptr<CustomNodeService> attach_custom_nodes(app::Host& host, std::shared_ptr<CodeRuntime> code) {
  auto svc = std::make_shared<CustomNodeService>(host, std::move(code));
  // The host keeps the service alive for its compiles (the service only refers back to the host).
  host.set_owner_types([svc](const std::string& owner, const std::string& type_name,
                             uint32_t version) -> std::shared_ptr<const registry::NodeType> {
    return svc->find_type(owner, type_name, version);
  });
  // The credential types the owners' nodes declare, for the credential service (create/update,
  // compile checks, runs, GET /api/credentials/types). It refers to the service weakly: the
  // service reaches the credential service itself (through the sandbox's node services).
  if (auto* credentials = dynamic_cast<CredentialService*>(host.credential_checker())) {
    std::weak_ptr<CustomNodeService> weak = svc;
    credentials->set_owner_types(
        [weak](const std::string& owner, const std::string& type) -> std::shared_ptr<const registry::CredentialType> {
          auto s = weak.lock();
          return s ? s->find_credential_type(owner, type) : nullptr;
        },
        [weak](const std::string& owner) -> Json {
          auto s = weak.lock();
          if (!s) return Json::array();
          auto types = s->credential_types(owner);
          return types.ok() ? *types : Json::array();
        });
  }
  return svc;
}

}  // namespace weft::service
