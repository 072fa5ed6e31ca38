#include "host/compiler/type_spec.hpp"

namespace weft::compiler::detail {

namespace {

std::optional<double> number_of(const Json& obj, std::string_view key) {
  const Json* v = obj.find(key);
  if (v && v->is_number()) return v->as_double();
  return std::nullopt;
}

std::vector<std::string> strings_of(const Json& obj, std::string_view key) {
  std::vector<std::string> out;
  const Json* v = obj.find(key);
  if (!v) return out;
  for (const auto& e : v->as_array())
    if (e.is_string()) out.push_back(e.as_string());
  return out;
}

std::vector<HandleSpec> handles_of(const Json& schema, std::string_view key) {
  std::vector<HandleSpec> out;
  for (const auto& h : schema[key].as_array()) {
    if (!h["name"].is_string() || h["name"].as_string().empty()) continue;
    HandleSpec spec;
    spec.name = h["name"].as_string();
    if (h["type"].is_string()) spec.type = h["type"].as_string();
    spec.multiple = h["multiple"].as_bool(false);
    out.push_back(std::move(spec));
  }
  return out;
}

}  // namespace

const FieldSpec* TypeSpec::field(std::string_view name) const {
  auto it = field_index.find(std::string(name));
  return it == field_index.end() ? nullptr : &fields[it->second];
}

const HandleSpec* TypeSpec::input(std::string_view name) const {
  for (const auto& h : inputs)
    if (h.name == name) return &h;
  return nullptr;
}

const HandleSpec* TypeSpec::output(std::string_view name) const {
  for (const auto& h : outputs)
    if (h.name == name) return &h;
  return nullptr;
}

TypeSpec make_type_spec(std::shared_ptr<const registry::NodeType> type) {
  TypeSpec spec;
  spec.type = std::move(type);
  const Json& schema = spec.type->schema;
  for (const auto& f : schema["fields"].as_array()) {
    if (!f["name"].is_string() || f["name"].as_string().empty()) continue;
    if (spec.field_index.count(f["name"].as_string())) continue;
    FieldSpec fs;
    fs.name = f["name"].as_string();
    fs.type = f["type"].is_string() ? f["type"].as_string() : "json";
    fs.required = f["required"].as_bool(false);
    fs.default_value = f.find("default");
    if (const Json* o = f.find("options"); o && o->is_array()) fs.options = o;
    fs.min = number_of(f, "min");
    fs.max = number_of(f, "max");
    if (const Json* ml = f.find("max_length"); ml && ml->is_number()) fs.max_length = ml->as_int();
    if (f["language"].is_string()) fs.language = f["language"].as_string();
    fs.credential_types = strings_of(f, "credential_types");
    spec.field_index.emplace(fs.name, spec.fields.size());
    spec.fields.push_back(std::move(fs));
  }
  spec.inputs = handles_of(schema, "inputs");
  spec.outputs = handles_of(schema, "outputs");
  if (const Json* dyn = schema.find("dynamic_outputs"); dyn && dyn->is_object()) {
    spec.dynamic_param = (*dyn)["param"].as_string();
    spec.dynamic_key = (*dyn)["key"].as_string();
  }
  if (const Json* act = schema.find("activation"); act && act->is_object()) {
    if (const Json* when = act->find("any_input_when"); when && when->is_object()) {
      spec.any_input_when = when;
    }
  }
  spec.credential_types = strings_of(schema, "credential_types");
  return spec;
}

bool handle_types_compatible(std::string_view source, std::string_view target) {
  if (source == target || source == "any" || target == "any") return true;
  if (target == "json") return source != "binary";
  if (target == "text") return source == "number" || source == "boolean";
  return false;
}

}  // namespace weft::compiler::detail
