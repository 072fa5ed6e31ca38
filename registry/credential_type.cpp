#include "registry/credential_type.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <utility>

namespace weft::registry {

namespace {

constexpr size_t kMaxNameBytes = 64;
constexpr size_t kMaxFields = 64;
constexpr size_t kMaxOptions = 256;
constexpr size_t kMaxHeaderName = 128;
constexpr size_t kMaxPrefix = 64;

Error bad(std::string message) {
  return Error("invalid_credential_type", std::move(message));
}

// Plugin-provided text quoted in messages shown to admins: printable and short.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 80) out += "...";
  return out + "\"";
}

template <size_t N>
std::string joined(const std::array<std::string_view, N>& items) {
  std::string out;
  for (auto s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

template <size_t N>
bool one_of(const std::array<std::string_view, N>& items, std::string_view v) {
  for (auto s : items)
    if (s == v) return true;
  return false;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k) {
    char x = a[k], y = b[k];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Refuses members outside `allowed`. `where` is a member prefix ("fields[0].", "apply.", "").
template <size_t N>
Status only_known_members(const Json& obj, const std::array<std::string_view, N>& allowed,
                          const std::string& where) {
  for (const auto& [key, value] : obj.as_object()) {
    if (one_of(allowed, key)) continue;
    std::string in = where.empty() ? std::string() : " in " + where.substr(0, where.size() - 1);
    return bad("unknown member " + quoted(key) + in + " (allowed: " + joined(allowed) + ")");
  }
  return {};
}

// An optional string member of at most `max` bytes.
Result<std::optional<std::string>> optional_string(const Json& obj, std::string_view key,
                                                   const std::string& where, size_t max) {
  const Json* v = obj.find(key);
  if (!v) return std::optional<std::string>();
  if (!v->is_string()) return bad(where + std::string(key) + " must be a string, not " + v->type_name());
  if (v->as_string().size() > max)
    return bad(where + std::string(key) + " is longer than " + std::to_string(max) + " bytes");
  return std::optional<std::string>(v->as_string());
}

Result<bool> optional_bool(const Json& obj, std::string_view key, const std::string& where) {
  const Json* v = obj.find(key);
  if (!v) return false;
  if (!v->is_bool()) return bad(where + std::string(key) + " must be true or false, not " + v->type_name());
  return v->as_bool();
}

// RFC 9110 token characters (header field names).
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Headers the outbound HTTP client sets itself or that change how the message is framed or routed:
// a credential type must not be able to smuggle them in.
constexpr std::array<std::string_view, 13> kReservedHeaders = {
    "host",     "content-length", "transfer-encoding", "connection", "upgrade",        "te",
    "trailer",  "keep-alive",     "proxy-connection",  "expect",     "http2-settings", "via",
    "forwarded"};

constexpr std::array<std::string_view, 5> kFieldTypes = {"string", "url", "number", "boolean", "select"};

bool is_http_url(const std::string& s) {
  return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
}

// Checks a select field's options (strings, or {"value", "label"} objects) and returns the values.
Result<std::vector<std::string>> check_options(const Json& options, const std::string& where) {
  if (!options.is_array() || options.size() == 0)
    return bad(where + "options must be a non-empty array for a select field");
  if (options.size() > kMaxOptions)
    return bad(where + "options has more than " + std::to_string(kMaxOptions) + " entries");
  std::vector<std::string> values;
  for (size_t i = 0; i < options.size(); ++i) {
    const Json& o = options.at(i);
    std::string at = where + "options[" + std::to_string(i) + "]";
    std::string value;
    if (o.is_string()) {
      value = o.as_string();
    } else if (o.is_object()) {
      static constexpr std::array<std::string_view, 2> kOptionKeys = {"value", "label"};
      if (auto st = only_known_members(o, kOptionKeys, at + "."); !st) return st.take_error();
      if (!o["value"].is_string()) return bad(at + ".value must be a string");
      if (auto label = optional_string(o, "label", at + ".", 200); !label) return label.take_error();
      value = o["value"].as_string();
    } else {
      return bad(at + " must be a string or an object {\"value\", \"label\"}, not " + o.type_name());
    }
    if (value.empty() || value.size() > 200) return bad(at + " must be a value of 1-200 bytes");
    for (const std::string& seen : values)
      if (seen == value) return bad(at + " repeats the value " + quoted(value));
    values.push_back(std::move(value));
  }
  return values;
}

Result<Json> check_field(const Json& f, const std::string& where) {
  if (!f.is_object()) return bad(where + " must be an object, not " + f.type_name());
  static constexpr std::array<std::string_view, 10> kFieldKeys = {
      "name",    "display_name", "type",        "secret",  "required",
      "default", "description",  "placeholder", "pattern", "options"};
  const std::string at = where + ".";
  if (auto st = only_known_members(f, kFieldKeys, at); !st) return st.take_error();

  const Json& name = f["name"];
  if (!name.is_string() || !is_valid_credential_type_name(name.as_string()))
    return bad(at + "name must be 1-64 characters of [a-z0-9_]" +
               (name.is_string() ? ", not " + quoted(name.as_string()) : std::string()));
  const Json& type = f["type"];
  if (!type.is_string()) return bad(at + "type must be a string (" + joined(kFieldTypes) + ")");
  if (!one_of(kFieldTypes, type.as_string()))
    return bad(at + "type " + quoted(type.as_string()) + " is not a field type (" + joined(kFieldTypes) +
               ")");
  const std::string& t = type.as_string();

  auto display = optional_string(f, "display_name", at, 200);
  if (!display) return display.take_error();
  auto description = optional_string(f, "description", at, 4000);
  if (!description) return description.take_error();
  auto placeholder = optional_string(f, "placeholder", at, 500);
  if (!placeholder) return placeholder.take_error();
  auto pattern = optional_string(f, "pattern", at, 1000);
  if (!pattern) return pattern.take_error();
  auto secret = optional_bool(f, "secret", at);
  if (!secret) return secret.take_error();
  auto required = optional_bool(f, "required", at);
  if (!required) return required.take_error();

  // Secret values are stored encrypted as strings; numbers or choices are not secrets.
  if (*secret && t != "string" && t != "url")
    return bad(at + "secret fields must be of type string or url, not " + t);

  std::vector<std::string> option_values;
  if (t == "select") {
    const Json* options = f.find("options");
    if (!options) return bad(at + "options must be a non-empty array for a select field");
    auto values = check_options(*options, at);
    if (!values) return values.take_error();
    option_values = std::move(*values);
  } else if (f.contains("options")) {
    return bad(at + "options is only allowed on select fields");
  }

  if (const Json* d = f.find("default")) {
    // A default ships with the plugin for everyone: it cannot be anybody's secret.
    if (*secret) return bad(at + "default is not allowed on a secret field");
    bool ok = false;
    if (t == "number")
      ok = d->is_number();
    else if (t == "boolean")
      ok = d->is_bool();
    else if (t == "url")
      ok = d->is_string() && (d->as_string().empty() || is_http_url(d->as_string()));
    else if (t == "select")
      ok = d->is_string() &&
           std::find(option_values.begin(), option_values.end(), d->as_string()) != option_values.end();
    else
      ok = d->is_string() && d->as_string().size() <= 4096;
    if (!ok)
      return bad(at + "default does not fit a " + t + " field" +
                 (t == "select" ? " (it must be one of the options)"
                  : t == "url"  ? " (an http(s) URL)"
                                : ""));
  }

  Json out = Json::object();
  out.set("name", name);
  out.set("display_name", display->value_or(name.as_string()));
  out.set("type", t);
  out.set("secret", *secret);
  out.set("required", *required);
  out.set("description", description->value_or(""));
  if (*placeholder) out.set("placeholder", **placeholder);
  if (*pattern) out.set("pattern", **pattern);
  if (t == "select") out.set("options", f["options"]);
  if (const Json* d = f.find("default")) out.set("default", *d);
  return out;
}

// The field an apply kind sends to the remote service: a declared secret string/url field.
Result<std::string> sent_field(const Json& apply, std::string_view key,
                               const std::map<std::string, Json>& fields, const std::string& kind) {
  const std::string where = "apply." + std::string(key);
  const Json& v = apply[key];
  if (!v.is_string()) return bad(where + " must name the field " + kind + " sends (a string)");
  auto it = fields.find(v.as_string());
  if (it == fields.end()) return bad(where + " " + quoted(v.as_string()) + " is not a declared field");
  if (!it->second["secret"].as_bool())
    return bad(where + " " + quoted(v.as_string()) + " must be a secret field: " + kind +
               " sends it as a credential");
  return v.as_string();
}

Result<Json> check_apply(const Json* apply, const std::map<std::string, Json>& fields) {
  Json out = Json::object();
  if (!apply) {
    out.set("kind", "none");
    return out;
  }
  if (!apply->is_object()) return bad(std::string("apply must be an object, not ") + apply->type_name());
  const Json& kind_v = (*apply)["kind"];
  if (!kind_v.is_string())
    return bad("apply.kind must be a string (bearer, basic, header, query, url, none)");
  const std::string& kind = kind_v.as_string();
  out.set("kind", kind);

  if (kind == "bearer") {
    static constexpr std::array<std::string_view, 2> kKeys = {"kind", "field"};
    if (auto st = only_known_members(*apply, kKeys, "apply."); !st) return st.take_error();
    auto field = sent_field(*apply, "field", fields, "bearer");
    if (!field) return field.take_error();
    out.set("field", *field);
  } else if (kind == "basic") {
    static constexpr std::array<std::string_view, 3> kKeys = {"kind", "username_field", "password_field"};
    if (auto st = only_known_members(*apply, kKeys, "apply."); !st) return st.take_error();
    const Json& user = (*apply)["username_field"];
    if (!user.is_string()) return bad("apply.username_field must name a declared field (a string)");
    auto it = fields.find(user.as_string());
    if (it == fields.end())
      return bad("apply.username_field " + quoted(user.as_string()) + " is not a declared field");
    if (it->second["type"].as_string() != "string")
      return bad("apply.username_field " + quoted(user.as_string()) + " must be a string field");
    auto password = sent_field(*apply, "password_field", fields, "basic");
    if (!password) return password.take_error();
    if (*password == user.as_string())
      return bad("apply.username_field and apply.password_field name the same field");
    out.set("username_field", user);
    out.set("password_field", *password);
  } else if (kind == "header") {
    static constexpr std::array<std::string_view, 4> kKeys = {"kind", "name", "field", "prefix"};
    if (auto st = only_known_members(*apply, kKeys, "apply."); !st) return st.take_error();
    const Json& name = (*apply)["name"];
    if (!name.is_string() || name.as_string().empty() || name.as_string().size() > kMaxHeaderName)
      return bad("apply.name must be a header name of 1-" + std::to_string(kMaxHeaderName) + " bytes");
    for (char c : name.as_string())
      if (!is_tchar(c)) return bad("apply.name " + quoted(name.as_string()) + " is not a valid header name");
    for (auto reserved : kReservedHeaders)
      if (iequals(name.as_string(), reserved))
        return bad("apply.name " + quoted(name.as_string()) +
                   " is a header the HTTP client controls; a credential cannot set it");
    auto prefix = optional_string(*apply, "prefix", "apply.", kMaxPrefix);
    if (!prefix) return prefix.take_error();
    for (char c : prefix->value_or(""))
      if (c < 0x20 || c > 0x7e) return bad("apply.prefix must be printable ASCII (no control characters)");
    auto field = sent_field(*apply, "field", fields, "header");
    if (!field) return field.take_error();
    out.set("name", name);
    out.set("field", *field);
    out.set("prefix", prefix->value_or(""));
  } else if (kind == "query") {
    static constexpr std::array<std::string_view, 3> kKeys = {"kind", "name", "field"};
    if (auto st = only_known_members(*apply, kKeys, "apply."); !st) return st.take_error();
    const Json& name = (*apply)["name"];
    if (!name.is_string() || name.as_string().empty() || name.as_string().size() > kMaxHeaderName)
      return bad("apply.name must be a query parameter name of 1-" + std::to_string(kMaxHeaderName) +
                 " bytes");
    for (char c : name.as_string()) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                c == '.' || c == '_' || c == '~';
      if (!ok) return bad("apply.name " + quoted(name.as_string()) + " must be made of [A-Za-z0-9._~-]");
    }
    auto field = sent_field(*apply, "field", fields, "query");
    if (!field) return field.take_error();
    out.set("name", name);
    out.set("field", *field);
  } else if (kind == "url") {
    static constexpr std::array<std::string_view, 2> kKeys = {"kind", "field"};
    if (auto st = only_known_members(*apply, kKeys, "apply."); !st) return st.take_error();
    auto field = sent_field(*apply, "field", fields, "url");
    if (!field) return field.take_error();
    if (fields.at(*field)["type"].as_string() != "url")
      return bad("apply.field " + quoted(*field) + " must be a url field for kind url");
    out.set("field", *field);
  } else if (kind == "none") {
    static constexpr std::array<std::string_view, 1> kKeys = {"kind"};
    if (auto st = only_known_members(*apply, kKeys, "apply."); !st) return st.take_error();
  } else {
    return bad("apply.kind " + quoted(kind) + " is not one of bearer, basic, header, query, url, none");
  }
  return out;
}

}  // namespace

bool is_valid_credential_type_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

Result<Json> validate_credential_type(const Json& def) {
  if (!def.is_object())
    return bad(std::string("a credential type must be a JSON object, not ") + def.type_name());
  static constexpr std::array<std::string_view, 6> kKeys = {"name",   "display_name", "description",
                                                            "fields", "apply",        "test_request"};
  if (auto st = only_known_members(def, kKeys, ""); !st) return st.take_error();

  const Json& name = def["name"];
  if (!name.is_string() || !is_valid_credential_type_name(name.as_string()))
    return bad("name must be 1-64 characters of [a-z0-9_]" +
               (name.is_string() ? ", not " + quoted(name.as_string()) : std::string()));
  auto display = optional_string(def, "display_name", "", 200);
  if (!display) return display.take_error();
  auto description = optional_string(def, "description", "", 4000);
  if (!description) return description.take_error();

  const Json* fields = def.find("fields");
  if (!fields || !fields->is_array() || fields->size() == 0)
    return bad("fields must be a non-empty array of field definitions");
  if (fields->size() > kMaxFields)
    return bad("fields has more than " + std::to_string(kMaxFields) + " entries");
  Json out_fields = Json::array();
  std::map<std::string, Json> by_name;
  for (size_t i = 0; i < fields->size(); ++i) {
    auto field = check_field(fields->at(i), "fields[" + std::to_string(i) + "]");
    if (!field) return field.take_error();
    const std::string& field_name = (*field)["name"].as_string();
    if (!by_name.emplace(field_name, *field).second)
      return bad("fields[" + std::to_string(i) + "].name " + quoted(field_name) + " is declared twice");
    out_fields.push_back(std::move(*field));
  }

  auto apply = check_apply(def.find("apply"), by_name);
  if (!apply) return apply.take_error();

  const Json* test_request = def.find("test_request");
  if (test_request && !test_request->is_object())
    return bad(std::string("test_request must be an object, not ") + test_request->type_name());

  Json out = Json::object();
  out.set("name", name);
  out.set("display_name", display->value_or(name.as_string()));
  out.set("description", description->value_or(""));
  out.set("fields", std::move(out_fields));
  out.set("apply", std::move(*apply));
  if (test_request) out.set("test_request", *test_request);
  return out;
}

}  // namespace weft::registry
