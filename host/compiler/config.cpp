#include "host/compiler/config.hpp"

#include <cmath>
#include <cstdio>

#include "host/expr/value.hpp"

namespace weft::compiler::detail {

namespace {

std::string number_text(double d) {
  if (d == std::trunc(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

bool is_integral(const Json& v) {
  if (v.is_int()) return true;
  if (!v.is_double()) return false;
  double d = v.as_double();
  return std::isfinite(d) && d == std::trunc(d);
}

bool option_matches(const Json& option, const Json& value) {
  if (option.is_object()) {
    const Json* v = option.find("value");
    return v && *v == value;
  }
  return option == value;
}

std::string option_list(const Json& options) {
  std::string out;
  size_t shown = 0;
  for (const auto& o : options.as_array()) {
    const Json& v = o.is_object() ? o["value"] : o;
    if (shown == 20) {
      out += ", ...";
      break;
    }
    if (!out.empty()) out += ", ";
    out += v.is_string() ? v.as_string() : v.dump();
    ++shown;
  }
  return out;
}

// Checks a number against a field's min/max.
void check_range(const FieldSpec& f, const Json& v, const std::string& node_id, Diags& diags) {
  double d = v.as_double();
  if (f.min && d < *f.min) {
    Json details = Json::object();
    details.set("min", *f.min);
    diags.error("out_of_range",
                "parameter " + quoted(f.name) + " is " + number_text(d) + ", below the minimum " +
                    number_text(*f.min),
                {node_id, "parameters." + f.name, ""}, details);
  } else if (f.max && d > *f.max) {
    Json details = Json::object();
    details.set("max", *f.max);
    diags.error("out_of_range",
                "parameter " + quoted(f.name) + " is " + number_text(d) + ", above the maximum " +
                    number_text(*f.max),
                {node_id, "parameters." + f.name, ""}, details);
  }
}

void check_length(const FieldSpec& f, const Json& v, const std::string& node_id, Diags& diags) {
  if (!f.max_length) return;
  size_t len = expr::utf8_length(v.as_string());
  if (static_cast<int64_t>(len) > *f.max_length) {
    Json details = Json::object();
    details.set("max_length", static_cast<long long>(*f.max_length));
    details.set("length", len);
    diags.error("too_long",
                "parameter " + quoted(f.name) + " is " + std::to_string(len) +
                    " characters long, more than the maximum " + std::to_string(*f.max_length),
                {node_id, "parameters." + f.name, ""}, details);
  }
}

void wrong_type(const FieldSpec& f, const Json& v, const char* expected, const std::string& node_id,
                Diags& diags) {
  Json details = Json::object();
  details.set("expected", f.type);
  details.set("got", v.type_name());
  diags.error("invalid_field_type",
              "parameter " + quoted(f.name) + " must be " + expected + ", got " + v.type_name(),
              {node_id, "parameters." + f.name, ""}, details);
}

void check_value(const FieldSpec& f, const Json& v, const std::string& node_id, Diags& diags) {
  // An expression satisfies any type now; its rendered value is checked when the node runs.
  if (is_templated(v)) return;
  const std::string& t = f.type;
  if (t == "string" || t == "code") {
    if (!v.is_string()) return wrong_type(f, v, "a string", node_id, diags);
    check_length(f, v, node_id, diags);
  } else if (t == "number") {
    if (!v.is_number()) return wrong_type(f, v, "a number", node_id, diags);
    check_range(f, v, node_id, diags);
  } else if (t == "integer") {
    if (!is_integral(v)) return wrong_type(f, v, "an integer", node_id, diags);
    check_range(f, v, node_id, diags);
  } else if (t == "boolean") {
    if (!v.is_bool()) return wrong_type(f, v, "a boolean", node_id, diags);
  } else if (t == "select") {
    if (!f.options) return;
    for (const auto& o : f.options->as_array())
      if (option_matches(o, v)) return;
    Json details = Json::object();
    Json allowed = Json::array();
    for (const auto& o : f.options->as_array()) allowed.push_back(o.is_object() ? o["value"] : o);
    details.set("options", allowed);
    std::string shown = v.is_string() ? quoted(v.as_string()) : v.dump().substr(0, 80);
    diags.error("invalid_option",
                "parameter " + quoted(f.name) + " is " + shown + ", which is not one of: " +
                    option_list(*f.options),
                {node_id, "parameters." + f.name, ""}, details);
  } else if (t == "credential") {
    if (!v.is_string()) return wrong_type(f, v, "a credential id (string)", node_id, diags);
  } else if (t == "expression") {
    if (v.is_array() || v.is_object()) {
      return wrong_type(f, v, "an expression, string, number or boolean", node_id, diags);
    }
  }
  // "json" accepts any value; unknown field types (newer plugins) are not checked.
}

bool is_blank(const FieldSpec& f, const Json& v) {
  if (v.is_null()) return true;
  // An empty string does not satisfy a required text-like field.
  if (v.is_string() && v.as_string().empty()) {
    return f.type == "string" || f.type == "code" || f.type == "credential" ||
           f.type == "expression" || f.type == "select";
  }
  return false;
}

Json range_details(double min, double max) {
  Json d = Json::object();
  d.set("min", min);
  d.set("max", max);
  return d;
}

// Reads a numeric setting in [min, max]; reports and returns nullopt when invalid.
std::optional<double> number_setting(const Json& obj, std::string_view key, double min,
                                     double max, bool integer, const std::string& node_id,
                                     const std::string& prefix, Diags& diags) {
  const Json* v = obj.find(key);
  if (!v || v->is_null()) return std::nullopt;
  std::string field = prefix + std::string(key);
  std::string who = node_id.empty() ? "workflow setting " : "setting ";
  if (!v->is_number() || (integer && !is_integral(*v))) {
    std::string why = is_templated(*v) ? " (settings cannot use expressions)" : "";
    diags.error("invalid_setting",
                who + quoted(key) + " must be " + (integer ? "an integer" : "a number") +
                    " between " + number_text(min) + " and " + number_text(max) + ", got " +
                    v->type_name() + why,
                {node_id, field, ""}, range_details(min, max));
    return std::nullopt;
  }
  double d = v->as_double();
  if (!(d >= min && d <= max)) {
    diags.error("invalid_setting",
                who + quoted(key) + " is " + number_text(d) + ", outside " + number_text(min) +
                    ".." + number_text(max),
                {node_id, field, ""}, range_details(min, max));
    return std::nullopt;
  }
  return d;
}

}  // namespace

bool valid_workflow_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}

bool is_templated(const Json& v) {
  return v.is_string() && v.as_string().find("{{") != std::string::npos;
}

Json check_parameters(const TypeSpec& spec, const Json& params, const std::string& node_id,
                      Diags& diags) {
  size_t defaults = 0;  // absent fields that get their schema default
  for (const auto& f : spec.fields) {
    const Json* v = params.find(f.name);
    if (!v || is_blank(f, *v)) {
      bool absent = !v || v->is_null();
      bool has_default = f.default_value && !f.default_value->is_null();
      if (absent && has_default) {
        ++defaults;
        continue;
      }
      if (f.required) {
        diags.error("missing_required_field",
                    "required parameter " + quoted(f.name) + " (" + f.type + ") is " +
                        (absent ? "missing" : "empty"),
                    {node_id, "parameters." + f.name, ""});
      }
      continue;
    }
    check_value(f, *v, node_id, diags);
  }
  for (const auto& [name, value] : params.as_object()) {
    if (spec.field(name)) continue;
    diags.warning("unknown_parameter",
                  "parameter " + quoted(name) + " is not a field of " + spec.type->type_name +
                      " and is ignored by it",
                  {node_id, "parameters." + name, ""});
  }
  if (defaults == 0) return params;  // shared, not copied
  // One exactly sized copy: the parameters as written, then the defaults (null members, which
  // count as absent, are replaced in place).
  Json::Object out;
  out.reserve(params.size() + defaults);
  for (const auto& m : params.as_object()) out.push_back(m);
  for (const auto& f : spec.fields) {
    if (!f.default_value || f.default_value->is_null()) continue;
    const Json* v = params.find(f.name);
    if (v && !v->is_null()) continue;
    if (v) {
      for (auto& m : out)
        if (m.first == f.name) m.second = *f.default_value;
    } else {
      out.emplace_back(f.name, *f.default_value);
    }
  }
  return Json(std::move(out));
}

NodeSettings read_node_settings(const Json* settings, const std::string& node_id, Diags& diags) {
  NodeSettings s;
  if (!settings || settings->is_null()) return s;
  if (!settings->is_object()) {
    diags.error("invalid_setting",
                std::string("data.settings must be an object, got ") + settings->type_name(),
                {node_id, "settings", ""});
    return s;
  }
  const std::string p = "settings.";
  if (auto v = number_setting(*settings, "timeout_seconds", 1, 86400, false, node_id, p, diags))
    s.timeout_ms = std::llround(*v * 1000);
  if (auto v = number_setting(*settings, "retry_count", 0, 10, true, node_id, p, diags))
    s.retry_count = static_cast<int32_t>(*v);
  if (auto v = number_setting(*settings, "retry_delay_seconds", 0, 3600, false, node_id, p, diags))
    s.retry_delay_ms = std::llround(*v * 1000);
  if (auto v = number_setting(*settings, "retry_backoff", 1, 10, false, node_id, p, diags))
    s.retry_backoff = *v;
  if (auto v = number_setting(*settings, "retry_max_delay_seconds", 0, 86400, false, node_id, p,
                              diags))
    s.retry_max_delay_ms = std::llround(*v * 1000);
  if (const Json* on_error = settings->find("on_error"); on_error && !on_error->is_null()) {
    const std::string& e = on_error->as_string();
    if (e == "stop") s.on_error = OnError::Stop;
    else if (e == "continue") s.on_error = OnError::Continue;
    else if (e == "route") s.on_error = OnError::Route;
    else if (e == "ask") s.on_error = OnError::Ask;
    else {
      Json details = Json::object();
      details.set("options", Json::array({"stop", "continue", "route", "ask"}));
      std::string got = on_error->is_string() ? quoted(e) : std::string(on_error->type_name());
      diags.error("invalid_setting",
                  "setting \"on_error\" is " + got + ", which is not one of: stop, continue, "
                  "route, ask",
                  {node_id, "settings.on_error", ""}, details);
    }
  }
  static const char* kKnown[] = {"timeout_seconds",     "retry_count",   "retry_delay_seconds",
                                 "retry_backoff",       "on_error",      "retry_max_delay_seconds"};
  for (const auto& [key, value] : settings->as_object()) {
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) {
      diags.warning("unknown_setting", "setting " + quoted(key) + " is not known and is ignored",
                    {node_id, "settings." + key, ""});
    }
  }
  return s;
}

WorkflowSettings read_workflow_settings(const Json* settings, Diags& diags) {
  WorkflowSettings w;
  if (!settings || settings->is_null()) return w;
  if (!settings->is_object()) {
    diags.error("invalid_workflow",
                std::string("settings must be an object, got ") + settings->type_name(),
                {"", "settings", ""});
    return w;
  }
  const std::string p = "settings.";
  if (auto v = number_setting(*settings, "timeout_seconds", 1, 604800, false, "", p, diags))
    w.timeout_ms = std::llround(*v * 1000);
  if (auto v = number_setting(*settings, "max_failures", 0, 1000000, true, "", p, diags))
    w.max_failures = static_cast<int32_t>(*v);
  if (const Json* vars = settings->find("variables"); vars && !vars->is_null()) {
    if (vars->is_object()) {
      w.variables = *vars;
    } else {
      diags.error("invalid_setting",
                  std::string("workflow setting \"variables\" must be an object, got ") +
                      vars->type_name(),
                  {"", "settings.variables", ""});
    }
  }
  if (const Json* out = settings->find("output_node"); out && !out->is_null()) {
    if (out->is_string()) {
      w.output_node = out->as_string();
    } else {
      diags.error("invalid_setting",
                  std::string("workflow setting \"output_node\" must be a node id (string), got ") +
                      out->type_name(),
                  {"", "settings.output_node", ""});
    }
  }
  if (const Json* ew = settings->find("error_workflow"); ew && !ew->is_null()) {
    // "" = none (an editor clearing the field).
    if (ew->is_string() && (ew->as_string().empty() || valid_workflow_id(ew->as_string()))) {
      w.error_workflow = ew->as_string();
    } else {
      std::string got = ew->is_string() ? quoted(ew->as_string().substr(0, 80)) : std::string(ew->type_name());
      diags.error("invalid_setting",
                  "workflow setting \"error_workflow\" must be a workflow id (1-64 characters of a-z, "
                  "0-9, '_' and '-'), got " + got,
                  {"", "settings.error_workflow", ""});
    }
  }
  static const char* kKnown[] = {"timeout_seconds", "max_failures", "variables", "output_node",
                                 "error_workflow"};
  for (const auto& [key, value] : settings->as_object()) {
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) {
      diags.warning("unknown_setting",
                    "workflow setting " + quoted(key) + " is not known and is ignored",
                    {"", "settings." + key, ""});
    }
  }
  return w;
}

bool matches_any_input_when(const TypeSpec& spec, const Json& params) {
  if (!spec.any_input_when) return false;
  for (const auto& [key, want] : spec.any_input_when->as_object()) {
    const Json* have = params.find(key);
    if (!have || *have != want) return false;
  }
  return true;
}

}  // namespace weft::compiler::detail
