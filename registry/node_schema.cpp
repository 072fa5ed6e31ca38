#include "registry/node_schema.hpp"

#include <array>
#include <set>
#include <string>
#include <string_view>

namespace weft::registry {

namespace {

constexpr std::array<std::string_view, 9> kFieldTypes = {
    "string", "number", "integer", "boolean", "select", "json", "code", "credential", "expression"};
constexpr std::array<std::string_view, 6> kHandleTypes = {"json",    "text",   "number",
                                                          "boolean", "binary", "any"};

Error bad(std::string message) {
  return Error("invalid_schema", std::move(message));
}

template <size_t N>
bool one_of(const std::array<std::string_view, N>& set, std::string_view v) {
  for (auto s : set)
    if (s == v) return true;
  return false;
}

template <size_t N>
std::string list(const std::array<std::string_view, N>& set) {
  std::string out;
  for (auto s : set) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

Status optional_string(const Json& obj, std::string_view key, const std::string& where) {
  const Json* v = obj.find(key);
  if (v && !v->is_string()) return bad(where + std::string(key) + " must be a string, not " + v->type_name());
  return {};
}

Status optional_bool(const Json& obj, std::string_view key, const std::string& where) {
  const Json* v = obj.find(key);
  if (v && !v->is_bool()) return bad(where + std::string(key) + " must be a boolean, not " + v->type_name());
  return {};
}

Status optional_string_array(const Json& obj, std::string_view key, const std::string& where) {
  const Json* v = obj.find(key);
  if (!v) return {};
  if (!v->is_array()) return bad(where + std::string(key) + " must be an array of strings");
  for (const Json& e : v->as_array())
    if (!e.is_string()) return bad(where + std::string(key) + " must be an array of strings");
  return {};
}

// Checks one element of fields/inputs/outputs: an object with a unique non-empty string name.
Result<std::string> named_entry(const Json& e, const std::string& where, std::set<std::string>& seen) {
  if (!e.is_object()) return bad(where + " must be an object, not " + e.type_name());
  const Json* name = e.find("name");
  if (!name || !name->is_string() || name->as_string().empty())
    return bad(where + ".name must be a non-empty string");
  if (!seen.insert(name->as_string()).second)
    return bad(where + ".name \"" + name->as_string() + "\" is declared twice");
  const Json* type = e.find("type");
  if (!type || !type->is_string()) return bad(where + ".type must be a string");
  return type->as_string();
}

Status check_fields(const Json& fields) {
  if (!fields.is_array()) return bad(std::string("fields must be an array, not ") + fields.type_name());
  std::set<std::string> seen;
  for (size_t i = 0; i < fields.size(); ++i) {
    const Json& f = fields.at(i);
    std::string where = "fields[" + std::to_string(i) + "]";
    auto type = named_entry(f, where, seen);
    if (!type) return type.take_error();
    if (!one_of(kFieldTypes, *type))
      return bad(where + ".type \"" + *type + "\" is not a field type (" + list(kFieldTypes) + ")");
    where += ".";
    if (auto st = optional_bool(f, "required", where); !st) return st;
    if (auto st = optional_string(f, "description", where); !st) return st;
    if (*type == "select") {
      const Json* options = f.find("options");
      if (!options || !options->is_array() || options->size() == 0)
        return bad(where + "options must be a non-empty array for a select field");
    }
    if (*type == "credential") {
      if (auto st = optional_string_array(f, "credential_types", where); !st) return st;
    }
  }
  return {};
}

Status check_handles(const Json& handles, const char* what) {
  if (!handles.is_array()) return bad(std::string(what) + " must be an array, not " + handles.type_name());
  std::set<std::string> seen;
  for (size_t i = 0; i < handles.size(); ++i) {
    const Json& h = handles.at(i);
    std::string where = std::string(what) + "[" + std::to_string(i) + "]";
    auto type = named_entry(h, where, seen);
    if (!type) return type.take_error();
    if (!one_of(kHandleTypes, *type))
      return bad(where + ".type \"" + *type + "\" is not a handle type (" + list(kHandleTypes) + ")");
    if (auto st = optional_bool(h, "multiple", where + "."); !st) return st;
  }
  return {};
}

}  // namespace

Result<Json> validate_node_schema(const Json& schema) {
  if (!schema.is_object()) return bad(std::string("schema must be a JSON object, not ") + schema.type_name());
  for (const char* key : {"display_name", "description", "category"})
    if (auto st = optional_string(schema, key, ""); !st) return st.take_error();
  if (auto st = optional_string_array(schema, "credential_types", ""); !st) return st.take_error();

  Json out = schema;
  for (const char* key : {"fields", "inputs", "outputs"})
    if (!out.contains(key)) out.set(key, Json::array());
  if (auto st = check_fields(out["fields"]); !st) return st.take_error();
  if (auto st = check_handles(out["inputs"], "inputs"); !st) return st.take_error();
  if (auto st = check_handles(out["outputs"], "outputs"); !st) return st.take_error();

  if (const Json* dyn = schema.find("dynamic_outputs")) {
    if (!dyn->is_object() || !(*dyn)["param"].is_string() || (*dyn)["param"].as_string().empty() ||
        !(*dyn)["key"].is_string() || (*dyn)["key"].as_string().empty())
      return bad("dynamic_outputs must be an object {\"param\": \"<field>\", \"key\": \"<key>\"}");
  }
  if (const Json* act = schema.find("activation"); act && !act->is_object())
    return bad(std::string("activation must be an object, not ") + act->type_name());
  return out;
}

}  // namespace weft::registry
