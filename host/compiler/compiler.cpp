// The compiler pipeline. One CompileJob per call; every stage records its problems and keeps
// going with what it could understand, so the caller gets all the problems at once:
//
//   1. document shape and limits (limits first, so huge documents are rejected in O(1))
//   2. nodes: ids, types (with suggestions), parameters, settings, credentials, code, templates
//   3. edges: ids, endpoints, handles (incl. dynamic and the implicit "error" output), data types,
//      multiplicity of inputs
//   4. graph: cycles (only a loop's "back" input may close one), entries, orphans, loop bodies
//   5. expressions: every $node reference names an existing node that is upstream
//   6. the Plan (only when there are no errors)
//
// Everything is linear in nodes + edges (hash maps keyed by id, adjacency lists, iterative graph
// algorithms), except the upstream check, which is near-linear in practice (graph.hpp).
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "host/compiler/compiler.hpp"
#include "host/compiler/config.hpp"
#include "host/compiler/diags.hpp"
#include "host/compiler/graph.hpp"
#include "host/compiler/id_index.hpp"
#include "host/compiler/type_spec.hpp"

namespace weft::compiler {

using namespace detail;

namespace {

constexpr size_t kMaxNodeIdLength = 128;
constexpr size_t kMaxEdgeIdLength = 256;
constexpr size_t kMaxCycleNodesListed = 50;

bool id_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':' || c == ' ';
}

// "" when `v` is an acceptable id, else what is wrong with it.
std::string id_problem(const Json* v, size_t max_len) {
  if (!v || v->is_null()) return "is missing";
  if (!v->is_string()) return std::string("must be a string, got ") + v->type_name();
  const std::string& s = v->as_string();
  if (s.empty()) return "is empty";
  if (s.size() > max_len) return "is longer than " + std::to_string(max_len) + " characters";
  for (char c : s) {
    if (!id_char_ok(c)) {
      return quoted(s) + " contains a character that is not allowed (use letters, digits, space, "
             "'_', '-', '.', ':')";
    }
  }
  if (s.front() == ' ' || s.back() == ' ') return quoted(s) + " starts or ends with a space";
  return "";
}

// Diagnostic field of a parameter path ("url" -> "parameters.url") and back.
std::string param_field(const std::string& path) {
  return path.empty() ? "parameters" : "parameters." + path;
}
std::string param_name(const std::string& field) {
  return field.size() > 11 ? field.substr(11) : field;
}

std::string node_label(size_t i) { return "node #" + std::to_string(i); }
std::string edge_label(size_t i) { return "edge #" + std::to_string(i); }

// Levenshtein distance, stopping early past `limit` (names are short; only used on errors).
size_t edit_distance(std::string_view a, std::string_view b, size_t limit) {
  if (a.size() > b.size() + limit || b.size() > a.size() + limit) return limit + 1;
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    size_t best = cur[0];
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      best = std::min(best, cur[j]);
    }
    if (best > limit) return limit + 1;
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string_view last_segment(std::string_view name) {
  size_t dot = name.rfind('.');
  return dot == std::string_view::npos ? name : name.substr(dot + 1);
}

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

Json string_array(const std::vector<std::string>& items) {
  Json a = Json::array();
  for (const auto& s : items) a.push_back(s);
  return a;
}

struct NodeRec {
  const Json* json = nullptr;
  bool in_graph = false;  // has a valid, unique id
  std::string id;
  std::string type_name;
  uint32_t requested_version = 0;
  const TypeSpec* spec = nullptr;  // null when the type is unknown or missing
  std::string label;
  Json params = Json::object();  // data.parameters as written
  Json params_full;              // with schema defaults
  const Json* settings = nullptr;
  const Json* credentials = nullptr;
  NodeSettings node_settings;
  expr::Template tmpl;
  bool tmpl_ok = false;
  std::vector<std::string> credential_refs;
  std::map<std::string, std::string> credential_names;
  bool fire_on_first = false;
};

struct EdgeRec {
  std::string id;
  bool in_graph = false;  // both endpoints resolved
  uint32_t src = 0;
  uint32_t tgt = 0;
  std::string source_handle = "main";
  std::string target_handle = "main";
  bool back = false;
};

struct LoopRec {
  uint32_t node = 0;
  std::vector<uint32_t> body;  // sorted
  std::vector<uint32_t> back_edges;
  int64_t parent = -1;
};

class CompileJob {
 public:
  CompileJob(const registry::Registry& registry, const CompileOptions& options, const Json& wf)
      : registry_(registry), options_(options), wf_(wf) {}

  CompileResult run() {
    CompileResult result;
    if (read_document()) {
      read_nodes();
      read_edges();
      check_graph();
      check_expressions();
      check_output_node();
      if (!diags_.has_errors()) result.plan = build_plan();
    }
    diags_.finish();
    result.errors = std::move(diags_.errors);
    result.warnings = std::move(diags_.warnings);
    return result;
  }

 private:
  // ---- 1. document ---------------------------------------------------------------------------

  bool read_document() {
    if (!wf_.is_object()) {
      diags_.error("invalid_workflow",
                   std::string("the workflow must be a JSON object, got ") + wf_.type_name());
      return false;
    }
    const Json* nodes = wf_.find("nodes");
    const Json* edges = wf_.find("edges");
    bool ok = true;
    if (!nodes || !nodes->is_array()) {
      diags_.error("invalid_workflow",
                   nodes ? std::string("\"nodes\" must be an array, got ") + nodes->type_name()
                         : std::string("the workflow has no \"nodes\" array"),
                   {"", "nodes", ""});
      ok = false;
    }
    if (edges && !edges->is_null() && !edges->is_array()) {
      diags_.error("invalid_workflow",
                   std::string("\"edges\" must be an array, got ") + edges->type_name(),
                   {"", "edges", ""});
      edges = nullptr;
    }
    // Limits before any per-node work, so an oversized document costs nothing more.
    if (nodes && nodes->is_array() && nodes->size() > options_.max_nodes) {
      Json details = Json::object();
      details.set("limit", options_.max_nodes);
      details.set("count", nodes->size());
      diags_.error("too_many_nodes",
                   "the workflow has " + std::to_string(nodes->size()) +
                       " nodes; the limit is " + std::to_string(options_.max_nodes),
                   {"", "nodes", ""}, details);
      return false;
    }
    if (edges && edges->is_array() && edges->size() > options_.max_edges) {
      Json details = Json::object();
      details.set("limit", options_.max_edges);
      details.set("count", edges->size());
      diags_.error("too_many_edges",
                   "the workflow has " + std::to_string(edges->size()) +
                       " edges; the limit is " + std::to_string(options_.max_edges),
                   {"", "edges", ""}, details);
      return false;
    }
    if (const Json* name = wf_.find("name"); name && !name->is_null() && !name->is_string()) {
      diags_.error("invalid_workflow",
                   std::string("\"name\" must be a string, got ") + name->type_name(),
                   {"", "name", ""});
    }
    settings_ = read_workflow_settings(wf_.find("settings"), diags_);
    if (!ok) return false;
    nodes_json_ = nodes;
    edges_json_ = edges;
    return true;
  }

  // ---- 2. nodes ------------------------------------------------------------------------------

  const TypeSpec* lookup_type(const std::string& name, uint32_t version, const std::string& node_id,
                              const std::string& field) {
    // Cached per (name, version): a workflow uses few distinct types many times.
    auto& versions = type_cache_[name];
    for (const auto& [v, cached] : versions) {
      if (v != version) continue;
      if (!cached) report_unknown_type(name, version, node_id, field);
      return cached;
    }
    auto type = registry_.find_node_type(name, version);
    if (!type && options_.owner_types) {
      type = options_.owner_types(options_.owner_id, name, version);
      if (type) owner_types_.push_back(type);  // keeps it alive as long as the TypeSpec
    }
    const TypeSpec* spec = nullptr;
    if (type) {
      // Share one TypeSpec per registered type (version 0 and its explicit number alike).
      auto& slot = specs_[type.get()];
      if (!slot) slot = std::make_unique<TypeSpec>(make_type_spec(type));
      spec = slot.get();
    }
    versions.emplace_back(version, spec);
    if (!spec) report_unknown_type(name, version, node_id, field);
    return spec;
  }

  void report_unknown_type(const std::string& name, uint32_t version, const std::string& node_id,
                           const std::string& field) {
    if (version != 0 && registry_.find_node_type(name, 0)) {
      std::vector<std::string> versions;
      Json available = Json::array();
      for (const auto& t : all_types()) {
        if (t->type_name != name) continue;
        versions.push_back(std::to_string(t->type_version));
        available.push_back(t->type_version);
      }
      Json details = Json::object();
      details.set("available", available);
      diags_.error("unknown_type_version",
                   "node type " + name + " has no version " + std::to_string(version) +
                       " (available: " + join(versions) + ")",
                   {node_id, "type_version", ""}, details);
      return;
    }
    std::vector<std::string> suggestions = suggest_types(name);
    Json details = Json::object();
    details.set("suggestions", string_array(suggestions));
    std::string hint = suggestions.empty() ? "" : " (did you mean " + join(suggestions, " or ") + "?)";
    diags_.error("unknown_node_type",
                 "node type " + quoted(name) + " is not registered or its plugin is disabled" +
                     hint,
                 {node_id, field, ""}, details);
  }

  std::vector<std::shared_ptr<const registry::NodeType>> owner_types_;

  const std::vector<std::shared_ptr<const registry::NodeType>>& all_types() {
    if (!all_types_loaded_) {
      all_types_ = registry_.node_types();
      all_types_loaded_ = true;
    }
    return all_types_;
  }

  std::vector<std::string> suggest_types(const std::string& name) {
    if (auto it = suggestions_.find(name); it != suggestions_.end()) return it->second;
    std::vector<std::pair<size_t, std::string>> scored;
    std::unordered_set<std::string> seen;
    size_t limit = std::max<size_t>(2, name.size() / 4);
    for (const auto& t : all_types()) {
      const std::string& cand = t->type_name;
      if (!seen.insert(cand).second) continue;
      size_t d = edit_distance(name, cand, limit);
      if (d > limit && last_segment(cand) == last_segment(name)) d = limit;  // "set" ~ "core.set"
      if (d <= limit) scored.emplace_back(d, cand);
    }
    std::sort(scored.begin(), scored.end());
    std::vector<std::string> out;
    for (size_t i = 0; i < scored.size() && i < 3; ++i) out.push_back(scored[i].second);
    suggestions_.emplace(name, out);
    return out;
  }

  void read_nodes() {
    const auto& list = nodes_json_->as_array();
    nodes_.resize(list.size());
    id_map_ = IdIndex(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      NodeRec& rec = nodes_[i];
      const Json& nj = list[i];
      rec.json = &nj;
      std::string where = "nodes." + std::to_string(i);
      if (!nj.is_object()) {
        diags_.error("invalid_node",
                     node_label(i) + " must be an object, got " + nj.type_name(), {"", where, ""});
        continue;
      }
      if (std::string why = id_problem(nj.find("id"), kMaxNodeIdLength); !why.empty()) {
        diags_.error("invalid_id", node_label(i) + ": id " + why, {"", where + ".id", ""});
        continue;
      }
      rec.id = nj["id"].as_string();
      // The key views the document's string, which outlives the job.
      auto [first, inserted] = id_map_.insert(nj["id"].as_string(), static_cast<uint32_t>(i));
      if (!inserted) {
        Json details = Json::object();
        details.set("first_index", first);
        details.set("index", i);
        diags_.error("duplicate_node_id",
                     "node id " + quoted(rec.id) + " is used by " + node_label(first) +
                         " and " + node_label(i),
                     {rec.id, where + ".id", ""}, details);
        continue;
      }
      rec.in_graph = true;
      read_node(rec);
    }
  }

  void read_node(NodeRec& rec) {
    const Json& nj = *rec.json;
    const std::string& id = rec.id;
    rec.label = id;

    // data
    const Json* data = nj.find("data");
    if (data && !data->is_null() && !data->is_object()) {
      diags_.error("invalid_node", std::string("\"data\" must be an object, got ") + data->type_name(),
                   {id, "data", ""});
      data = nullptr;
    }
    if (data && data->is_object()) {
      if (const Json* label = data->find("label"); label && !label->is_null()) {
        if (label->is_string()) rec.label = label->as_string();
        else diags_.error("invalid_node",
                          std::string("\"label\" must be a string, got ") + label->type_name(),
                          {id, "label", ""});
      }
      if (const Json* params = data->find("parameters"); params && !params->is_null()) {
        if (params->is_object()) rec.params = *params;
        else diags_.error("invalid_node",
                          std::string("\"parameters\" must be an object, got ") + params->type_name(),
                          {id, "parameters", ""});
      }
      rec.settings = data->find("settings");
      rec.credentials = data->find("credentials");
      if (const Json* v = data->find("type_version"); v && !v->is_null()) {
        double d = v->as_double(-1);
        if (!v->is_number() || d < 1 || d > 4294967295.0 || d != static_cast<double>(v->as_int())) {
          diags_.error("invalid_node",
                       "\"type_version\" must be a positive integer, got " +
                           (v->is_number() ? v->dump() : std::string(v->type_name())),
                       {id, "type_version", ""});
        } else {
          rec.requested_version = static_cast<uint32_t>(v->as_int());
        }
      }
    }
    rec.node_settings = read_node_settings(rec.settings, id, diags_);

    // type
    const Json* type = nj.find("type");
    if (!type || type->is_null()) {
      diags_.error("invalid_node", "node " + quoted(id) + " has no \"type\"", {id, "type", ""});
    } else if (!type->is_string() || type->as_string().empty()) {
      diags_.error("invalid_node",
                   std::string("\"type\" must be a non-empty string (a node type name), got ") +
                       (type->is_string() ? "\"\"" : type->type_name()),
                   {id, "type", ""});
    } else {
      rec.type_name = type->as_string();
      rec.spec = lookup_type(rec.type_name, rec.requested_version, id, "type");
    }

    if (rec.spec) {
      rec.params_full = check_parameters(*rec.spec, rec.params, id, diags_);
      rec.fire_on_first = matches_any_input_when(*rec.spec, rec.params_full);
      check_credentials(rec);
      check_code(rec);
    } else {
      rec.params_full = rec.params;
      // The type is unknown, but a credential of someone else must still be refused at save.
      check_credentials(rec);
    }
    compile_templates(rec);
  }

  void check_credentials(NodeRec& rec) {
    const std::string& id = rec.id;
    auto check = [&](const std::string& cred, const std::vector<std::string>& accepted,
                     const std::string& field, const std::string& name) {
      if (is_credential_placeholder(cred)) {
        // The service resolves placeholders before compiling (host/service/credentials.hpp);
        // one that is still here could not be resolved.
        Json details = Json::object();
        details.set("placeholder", cred);
        details.set("accepted_types", string_array(accepted));
        diags_.error("credential_placeholder_unresolved",
                     "credential placeholder " + quoted(cred) + " is not resolved to one of your credentials",
                     {id, field, ""}, details);
        return;
      }
      rec.credential_names[name] = cred;
      if (std::find(rec.credential_refs.begin(), rec.credential_refs.end(), cred) ==
          rec.credential_refs.end()) {
        rec.credential_refs.push_back(cred);
      }
      if (!options_.credentials) return;
      std::string code = options_.credentials->check(options_.owner_id, cred, accepted);
      if (code.empty()) return;
      Json details = Json::object();
      details.set("credential_id", cred);
      details.set("accepted_types", string_array(accepted));
      std::string message;
      if (code == "credential_not_found") {
        message = "credential " + quoted(cred) + " does not exist or does not belong to you";
      } else if (code == "credential_wrong_type") {
        message = "credential " + quoted(cred) + " is not of an accepted type" +
                  (accepted.empty() ? std::string() : " (" + join(accepted) + ")");
      } else {
        message = "credential " + quoted(cred) + " was rejected (" + code + ")";
      }
      diags_.error(code, message, {id, field, ""}, details);
    };

    if (rec.credentials && !rec.credentials->is_null()) {
      if (!rec.credentials->is_object()) {
        diags_.error("invalid_node",
                     std::string("\"credentials\" must be an object {name: credential id}, got ") +
                         rec.credentials->type_name(),
                     {id, "credentials", ""});
      } else {
        for (const auto& [name, value] : rec.credentials->as_object()) {
          // {name: "id"} or, as some editors send, {name: {"id": "...", "name": "..."}}.
          const Json& cred = value.is_object() ? value["id"] : value;
          if (!cred.is_string() || cred.as_string().empty()) {
            diags_.error("invalid_credential_ref",
                         "credential reference " + quoted(name) +
                             " must be a credential id (a non-empty string)",
                         {id, "credentials." + name, ""});
            continue;
          }
          static const std::vector<std::string> kAny;
          check(cred.as_string(), rec.spec ? rec.spec->credential_types : kAny, "credentials." + name, name);
        }
      }
    }
    if (!rec.spec) return;
    for (const auto& f : rec.spec->fields) {
      if (f.type != "credential") continue;
      const Json& v = rec.params_full[f.name];
      if (!v.is_string() || v.as_string().empty()) continue;
      if (is_templated(v) && !is_credential_placeholder(v.as_string())) continue;
      check(v.as_string(), f.credential_types, "parameters." + f.name, f.name);
    }
  }

  void check_code(const NodeRec& rec) {
    if (!options_.code_validator) return;
    for (const auto& f : rec.spec->fields) {
      if (f.type != "code") continue;
      const Json& v = rec.params_full[f.name];
      if (!v.is_string() || v.as_string().empty()) continue;
      for (const auto& p : options_.code_validator->validate(f.language, v.as_string())) {
        Json details = Json::object();
        details.set("line", static_cast<long long>(p.line));
        details.set("column", static_cast<long long>(p.column));
        details.set("language", f.language);
        diags_.error("code_syntax",
                     "parameter " + quoted(f.name) +
                         (f.language.empty() ? std::string() : " (" + f.language + ")") +
                         ": line " + std::to_string(p.line) + ", column " +
                         std::to_string(p.column) + ": " + p.message,
                     {rec.id, "parameters." + f.name, ""}, details);
      }
    }
  }

  void compile_templates(NodeRec& rec) {
    std::vector<Error> errors;
    auto t = expr::Template::compile_all(rec.params_full, &errors);
    if (t.ok()) {
      rec.tmpl = std::move(t.value());
      rec.tmpl_ok = true;
      return;
    }
    for (const auto& e : errors) {
      Json details;
      std::string path;
      if (auto d = Json::parse(e.details); d.ok()) {
        details = std::move(d.value());
        path = details["path"].as_string();
      }
      // A credential placeholder is not an expression. In a credential field check_credentials
      // reports it; anywhere else it would silently become part of a string, so it is an error.
      if (const Json* v = json_path(rec.params_full, path); v && v->is_string() && is_credential_placeholder(v->as_string())) {
        bool credential_field = false;
        if (rec.spec)
          for (const auto& f : rec.spec->fields)
            credential_field = credential_field || (f.type == "credential" && f.name == path);
        if (credential_field) continue;
        Json d = Json::object();
        d.set("placeholder", v->as_string());
        diags_.error("credential_placeholder_misplaced",
                     "parameter " + quoted(path) + ": credential placeholder " + quoted(v->as_string()) +
                         " can only be used as the value of a credential field or under data.credentials",
                     {rec.id, param_field(path), ""}, d);
        continue;
      }
      // Template messages start with "at <path>: "; the diagnostic names the parameter instead.
      std::string message = e.message;
      std::string prefix = "at " + path + ": ";
      if (!path.empty() && message.compare(0, prefix.size(), prefix) == 0) {
        message = message.substr(prefix.size());
      }
      diags_.error("expression_syntax", "parameter " + quoted(path) + ": " + message,
                   {rec.id, param_field(path), ""}, details);
    }
  }

  // ---- 3. edges ------------------------------------------------------------------------------

  void read_edges() {
    if (!edges_json_) {
      index_edges();
      return;
    }
    const auto& list = edges_json_->as_array();
    edges_.resize(list.size());
    IdIndex seen_ids(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      const Json& ej = list[i];
      EdgeRec& e = edges_[i];
      std::string where = "edges." + std::to_string(i);
      if (!ej.is_object()) {
        diags_.error("invalid_edge", edge_label(i) + " must be an object, got " + ej.type_name(),
                     {"", where, ""});
        continue;
      }
      if (std::string why = id_problem(ej.find("id"), kMaxEdgeIdLength); !why.empty()) {
        diags_.error("invalid_id", edge_label(i) + ": id " + why, {"", where + ".id", ""});
        continue;
      }
      e.id = ej["id"].as_string();
      if (auto [first, inserted] = seen_ids.insert(ej["id"].as_string(), static_cast<uint32_t>(i));
          !inserted) {
        diags_.error("duplicate_edge_id",
                     "edge id " + quoted(e.id) + " is used by " + edge_label(first) +
                         " and " + edge_label(i),
                     {"", where + ".id", e.id});
        continue;
      }
      bool ok = true;
      auto endpoint = [&](const char* key, uint32_t& out) {
        const Json* v = ej.find(key);
        if (!v || !v->is_string() || v->as_string().empty()) {
          diags_.error("invalid_edge",
                       std::string("edge ") + quoted(e.id) + ": \"" + key +
                           "\" must be a node id (a non-empty string)",
                       {"", key, e.id});
          return false;
        }
        const uint32_t* found = id_map_.find(v->as_string());
        if (!found) {
          diags_.error("dangling_edge",
                       std::string("edge ") + quoted(e.id) + ": " + key + " node " +
                           quoted(v->as_string()) + " does not exist",
                       {"", key, e.id});
          return false;
        }
        out = *found;
        return true;
      };
      ok = endpoint("source", e.src) & ok;
      ok = endpoint("target", e.tgt) & ok;
      auto handle = [&](const char* key, std::string& out) {
        const Json* v = ej.find(key);
        if (!v || v->is_null()) return true;  // React Flow sends null for the default handle
        if (!v->is_string()) {
          diags_.error("invalid_edge",
                       std::string("edge ") + quoted(e.id) + ": \"" + key +
                           "\" must be a handle name (string), got " + v->type_name(),
                       {"", key, e.id});
          return false;
        }
        if (!v->as_string().empty()) out = v->as_string();
        return true;
      };
      ok = handle("sourceHandle", e.source_handle) & ok;
      ok = handle("targetHandle", e.target_handle) & ok;
      if (!ok) continue;
      e.in_graph = true;
      check_edge_handles(e);
    }
    index_edges();
    check_input_multiplicity();
  }

  // The output handles of a node: static outputs, dynamic ones named by a parameter, and the
  // implicit "error" output. Returns the handle's data type, or nullptr when there is none.
  const char* output_type(const NodeRec& n, const std::string& handle, bool& is_error) {
    is_error = false;
    const TypeSpec& spec = *n.spec;
    if (const HandleSpec* h = spec.output(handle)) return h->type.c_str();
    if (!spec.dynamic_param.empty()) {
      const Json& rules = n.params_full[spec.dynamic_param];
      if (!rules.is_array()) return "any";  // computed at run time: cannot check now
      for (const auto& r : rules.as_array()) {
        const Json& name = r[spec.dynamic_key];
        if (is_templated(name)) return "any";
        if (name.is_string() && name.as_string() == handle) return "any";
      }
    }
    if (handle == "error") {
      is_error = true;
      return "json";  // {"error": {...}, "input": ...}
    }
    return nullptr;
  }

  std::vector<std::string> output_names(const NodeRec& n) {
    std::vector<std::string> names;
    for (const auto& h : n.spec->outputs) names.push_back(h.name);
    if (!n.spec->dynamic_param.empty()) {
      for (const auto& r : n.params_full[n.spec->dynamic_param].as_array()) {
        const Json& name = r[n.spec->dynamic_key];
        if (name.is_string() && std::find(names.begin(), names.end(), name.as_string()) == names.end())
          names.push_back(name.as_string());
      }
    }
    if (std::find(names.begin(), names.end(), "error") == names.end()) names.push_back("error");
    return names;
  }

  void check_edge_handles(EdgeRec& e) {
    const NodeRec& src = nodes_[e.src];
    const NodeRec& tgt = nodes_[e.tgt];
    const char* out_type = nullptr;
    const HandleSpec* in = nullptr;
    if (src.spec) {
      bool is_error = false;
      out_type = output_type(src, e.source_handle, is_error);
      if (!out_type) {
        std::vector<std::string> names = output_names(src);
        Json details = Json::object();
        details.set("handles", string_array(names));
        diags_.error("unknown_handle",
                     "edge " + quoted(e.id) + ": node " + quoted(src.id) + " (" +
                         src.spec->type->type_name + ") has no output " +
                         quoted(e.source_handle) + " (outputs: " + join(names) + ")",
                     {src.id, "sourceHandle", e.id}, details);
      } else if (is_error && src.node_settings.on_error != OnError::Route) {
        diags_.error("error_handle_not_routed",
                     "edge " + quoted(e.id) + " leaves the \"error\" output of node " +
                         quoted(src.id) + ", but its on_error setting is " +
                         to_string(src.node_settings.on_error) +
                         "; set on_error to \"route\" to send errors there",
                     {src.id, "settings.on_error", e.id});
      }
    }
    if (tgt.spec) {
      in = tgt.spec->input(e.target_handle);
      if (!in) {
        std::vector<std::string> names;
        for (const auto& h : tgt.spec->inputs) names.push_back(h.name);
        Json details = Json::object();
        details.set("handles", string_array(names));
        std::string known = names.empty() ? "it has no inputs; a trigger starts a workflow"
                                          : "inputs: " + join(names);
        diags_.error("unknown_handle",
                     "edge " + quoted(e.id) + ": node " + quoted(tgt.id) + " (" +
                         tgt.spec->type->type_name + ") has no input " +
                         quoted(e.target_handle) + " (" + known + ")",
                     {tgt.id, "targetHandle", e.id}, details);
      } else if (tgt.spec->type->is_loop() && e.target_handle == "back") {
        e.back = true;
      }
    }
    if (out_type && in && !handle_types_compatible(out_type, in->type)) {
      Json details = Json::object();
      details.set("source_type", out_type);
      details.set("target_type", in->type);
      diags_.error("incompatible_handle_types",
                   "edge " + quoted(e.id) + " connects output " + quoted(e.source_handle) +
                       " of " + quoted(src.id) + " (" + out_type + ") to input " +
                       quoted(e.target_handle) + " of " + quoted(tgt.id) + " (" + in->type +
                       "), which does not accept that type",
                   {tgt.id, "targetHandle", e.id}, details);
    }
  }

  void index_edges() {
    std::vector<std::pair<uint32_t, uint32_t>> outs, ins;
    outs.reserve(edges_.size());
    ins.reserve(edges_.size());
    for (uint32_t i = 0; i < edges_.size(); ++i) {
      const EdgeRec& e = edges_[i];
      if (!e.in_graph) continue;
      outs.emplace_back(e.src, i);
      ins.emplace_back(e.tgt, i);
    }
    out_edges_ = Adjacency(nodes_.size(), outs);
    in_edges_ = Adjacency(nodes_.size(), ins);
  }

  void check_input_multiplicity() {
    // Per node, group the incoming edges by input handle (a node has few distinct handles).
    std::vector<std::pair<size_t, std::vector<uint32_t>>> bad;  // (second edge, edges)
    std::vector<std::pair<std::string_view, std::vector<uint32_t>>> groups;
    for (uint32_t v = 0; v < nodes_.size(); ++v) {
      if (!nodes_[v].spec || in_edges_[v].size() < 2) continue;
      groups.clear();
      for (uint32_t ei : in_edges_[v]) {
        std::string_view handle = edges_[ei].target_handle;
        auto it = std::find_if(groups.begin(), groups.end(),
                               [&](const auto& g) { return g.first == handle; });
        if (it == groups.end()) groups.emplace_back(handle, std::vector<uint32_t>{ei});
        else it->second.push_back(ei);
      }
      for (auto& [handle, list] : groups) {
        if (list.size() < 2) continue;
        const HandleSpec* h = nodes_[v].spec->input(handle);
        if (!h || h->multiple) continue;
        bad.emplace_back(list[1], std::move(list));
      }
    }
    std::sort(bad.begin(), bad.end());  // report in document order
    for (const auto& [second, list] : bad) {
      const EdgeRec& first = edges_[list[0]];
      std::vector<std::string> ids;
      for (uint32_t i : list) ids.push_back(edges_[i].id);
      Json details = Json::object();
      details.set("edges", string_array(ids));
      diags_.error("multiple_edges_to_input",
                   std::to_string(list.size()) + " edges (" + join(ids) + ") go into input " +
                       quoted(first.target_handle) + " of node " + quoted(nodes_[first.tgt].id) +
                       ", which accepts only one; put a merge node in front of it",
                   {nodes_[first.tgt].id, "targetHandle", edges_[second].id}, details);
    }
  }

  // ---- 4. graph ------------------------------------------------------------------------------

  void check_graph() {
    const size_t n = nodes_.size();
    std::vector<std::pair<uint32_t, uint32_t>> fwd, rev;
    fwd.reserve(edges_.size());
    rev.reserve(edges_.size());
    for (const EdgeRec& e : edges_) {
      if (!e.in_graph || e.back) continue;
      fwd.emplace_back(e.src, e.tgt);
      rev.emplace_back(e.tgt, e.src);
    }
    forward_out_ = Adjacency(n, fwd);
    forward_in_ = Adjacency(n, rev);

    in_cycle_.assign(n, 0);
    for (const auto& comp : cyclic_components(forward_out_)) {
      has_cycle_ = true;
      for (uint32_t v : comp) in_cycle_[v] = 1;
      std::vector<std::string> ids;
      for (uint32_t v : comp) {
        if (ids.size() == kMaxCycleNodesListed) break;
        ids.push_back(nodes_[v].id);
      }
      Json details = Json::object();
      details.set("nodes", string_array(ids));
      if (comp.size() > ids.size()) details.set("more", comp.size() - ids.size());
      std::string what = comp.size() == 1 ? "node " + quoted(ids[0]) + " is connected to itself"
                                          : "nodes " + join(ids) + " form a cycle";
      diags_.error("cycle",
                   what + "; only an edge into a loop node's \"back\" input may close a cycle",
                   {nodes_[comp.front()].id, "", ""}, details);
    }

    bool all_types_known = true;
    for (uint32_t v = 0; v < n; ++v) {
      const NodeRec& r = nodes_[v];
      if (!r.in_graph) continue;
      if (!r.spec) all_types_known = false;
      else if (r.spec->type->is_trigger()) triggers_.push_back(v);
    }
    if (triggers_.empty()) {
      // With an unknown type among the nodes, the missing trigger may be that node: its own error
      // says more than a second one would.
      if (all_types_known) {
        diags_.error("no_entry",
                     "the workflow has no trigger node (manual, webhook, schedule...), so nothing "
                     "can start it");
      }
    } else {
      std::vector<char> reached = reachable(forward_out_, triggers_, UINT32_MAX);
      for (uint32_t v = 0; v < n; ++v) {
        if (!nodes_[v].in_graph || reached[v]) continue;
        diags_.error("orphan_node",
                     "node " + quoted(nodes_[v].id) +
                         " is not connected to any trigger, so it would never run",
                     {nodes_[v].id, "", ""});
      }
    }
    check_loops();
    topo_ = topological_order(forward_out_);
  }

  void check_loops() {
    const uint32_t n = static_cast<uint32_t>(nodes_.size());
    std::vector<uint32_t> stamp(n, 0);  // stamp[v] == loop number + 1: v is in that body
    for (uint32_t l = 0; l < n; ++l) {
      const NodeRec& lr = nodes_[l];
      if (!lr.in_graph || !lr.spec || !lr.spec->type->is_loop()) continue;
      // A loop on a (reported) cycle has no well-defined body; more errors would only be noise.
      if (in_cycle_[l]) continue;
      LoopRec loop;
      loop.node = l;
      const uint32_t mark = static_cast<uint32_t>(loops_.size()) + 1;
      // The body: everything reachable from the "item" output without passing the loop node.
      std::vector<uint32_t> todo;
      for (uint32_t ei : out_edges_[l]) {
        const EdgeRec& e = edges_[ei];
        if (e.back || e.source_handle != "item" || e.tgt == l || stamp[e.tgt] == mark) continue;
        stamp[e.tgt] = mark;
        todo.push_back(e.tgt);
      }
      while (!todo.empty()) {
        uint32_t v = todo.back();
        todo.pop_back();
        loop.body.push_back(v);
        for (uint32_t w : forward_out_[v]) {
          if (w == l || stamp[w] == mark) continue;
          stamp[w] = mark;
          todo.push_back(w);
        }
      }
      std::sort(loop.body.begin(), loop.body.end());

      // A body node fed from outside the body: the loop's data flows into a node that also
      // belongs to the rest of the workflow.
      for (uint32_t v : loop.body) {
        std::vector<uint32_t> outside, inside;
        for (uint32_t ei : in_edges_[v]) {
          const EdgeRec& e = edges_[ei];
          if (e.back) continue;
          if (stamp[e.src] == mark) inside.push_back(ei);
          else if (!(e.src == l && e.source_handle == "item")) outside.push_back(ei);
        }
        if (outside.empty()) continue;
        const EdgeRec& from_outside = edges_[outside.front()];
        if (!inside.empty()) {
          for (uint32_t ei : inside) {
            const EdgeRec& e = edges_[ei];
            diags_.error("loop_body_escape",
                         "edge " + quoted(e.id) + " leaves the body of loop " + quoted(lr.id) +
                             ": it connects body node " + quoted(nodes_[e.src].id) + " to " +
                             quoted(nodes_[v].id) + ", which also receives data from outside the "
                             "loop (edge " + quoted(from_outside.id) + "); send the body's result "
                             "to the loop's \"back\" input and continue from its \"done\" output",
                         {nodes_[e.src].id, "", e.id});
          }
        } else {
          for (uint32_t ei : outside) {
            const EdgeRec& e = edges_[ei];
            diags_.error("loop_body_entry",
                         "edge " + quoted(e.id) + " enters the body of loop " + quoted(lr.id) +
                             " from " + quoted(nodes_[e.src].id) + "; a loop body is entered "
                             "only through the loop's \"item\" output (read other data with "
                             "$node expressions)",
                         {nodes_[v].id, "", e.id});
          }
        }
      }
      // Edges into this loop's "back" input must come from its body.
      for (uint32_t ei : in_edges_[l]) {
        const EdgeRec& e = edges_[ei];
        if (!e.back) continue;
        if (stamp[e.src] == mark) {
          loop.back_edges.push_back(ei);
        } else {
          diags_.error("invalid_back_edge",
                       "edge " + quoted(e.id) + " goes into the \"back\" input of loop " +
                           quoted(lr.id) + " from " + quoted(nodes_[e.src].id) +
                           ", which is not in the loop's body (the nodes reachable from its "
                           "\"item\" output)",
                       {lr.id, "targetHandle", e.id});
        }
      }
      loops_.push_back(std::move(loop));
    }

    // Back edges from a body into another loop's "back" input leave this body (an inner body
    // feeding its outer loop's "back" directly).
    auto in_body = [](const LoopRec& loop, uint32_t v) {
      return std::binary_search(loop.body.begin(), loop.body.end(), v);
    };
    std::unordered_map<uint32_t, size_t> loop_of_node;
    for (size_t i = 0; i < loops_.size(); ++i) loop_of_node.emplace(loops_[i].node, i);
    for (const LoopRec& loop : loops_) {
      for (uint32_t v : loop.body) {
        for (uint32_t ei : out_edges_[v]) {
          const EdgeRec& e = edges_[ei];
          if (!e.back || e.tgt == loop.node || in_body(loop, e.tgt)) continue;
          auto other = loop_of_node.find(e.tgt);
          if (other == loop_of_node.end() || !in_body(loops_[other->second], v)) continue;
          diags_.error("loop_body_escape",
                       "edge " + quoted(e.id) + " leaves the body of loop " +
                           quoted(nodes_[loop.node].id) + ": body node " + quoted(nodes_[v].id) +
                           " feeds the \"back\" input of loop " + quoted(nodes_[e.tgt].id) +
                           "; an inner loop's body can only return through its own loop",
                       {nodes_[v].id, "", e.id});
        }
      }
    }

    // Innermost loop of every node and the nesting of loops: bigger bodies first, so inner
    // (smaller) bodies overwrite.
    node_loop_.assign(n, -1);
    std::vector<size_t> by_size(loops_.size());
    for (size_t i = 0; i < by_size.size(); ++i) by_size[i] = i;
    std::stable_sort(by_size.begin(), by_size.end(), [&](size_t a, size_t b) {
      return loops_[a].body.size() > loops_[b].body.size();
    });
    for (size_t li : by_size)
      for (uint32_t v : loops_[li].body) node_loop_[v] = static_cast<int64_t>(li);
    for (auto& loop : loops_) loop.parent = node_loop_[loop.node];
  }

  // ---- 5. expressions ------------------------------------------------------------------------

  void check_expressions() {
    struct Query {
      uint32_t node;
      uint32_t ref;
      std::string field;
      std::string ref_id;
    };
    std::vector<Query> queries;
    for (uint32_t v = 0; v < nodes_.size(); ++v) {
      const NodeRec& r = nodes_[v];
      if (!r.in_graph || !r.tmpl_ok) continue;
      // One diagnostic per (parameter, referenced node); a node has few of them.
      std::vector<std::pair<std::string, const std::string*>> seen;
      for (const auto& [path, e] : r.tmpl.expressions()) {
        std::string field = param_field(path);
        for (const auto& ref : e->referenced_nodes()) {
          bool dup = std::any_of(seen.begin(), seen.end(), [&](const auto& p) {
            return *p.second == ref && p.first == field;
          });
          if (dup) continue;
          seen.emplace_back(field, &ref);
          const uint32_t* found = id_map_.find(ref);
          if (!found) {
            Json details = Json::object();
            details.set("referenced_node", ref);
            diags_.error("expression_unknown_node",
                         "parameter " + quoted(param_name(field)) + " refers to $node " +
                             quoted(ref) + ", but the workflow has no node with that id",
                         {r.id, field, ""}, details);
            continue;
          }
          queries.push_back(Query{v, *found, field, ref});
        }
      }
    }
    if (queries.empty() || has_cycle_) return;  // upstream is undefined on a cyclic graph
    std::vector<std::pair<uint32_t, uint32_t>> pairs;
    pairs.reserve(queries.size());
    for (const auto& q : queries) pairs.emplace_back(q.ref, q.node);
    std::vector<bool> upstream = ancestor_queries(forward_in_, topo_, pairs);
    for (size_t i = 0; i < queries.size(); ++i) {
      if (upstream[i]) continue;
      const Query& q = queries[i];
      Json details = Json::object();
      details.set("referenced_node", q.ref_id);
      std::string why = q.ref == q.node
                            ? "its own node (use $json for the node's input)"
                            : quoted(q.ref_id) + ", which does not run before this node (it is "
                              "not upstream over the workflow's edges)";
      diags_.error("expression_not_upstream",
                   "parameter " + quoted(param_name(q.field)) + " refers to " + why,
                   {nodes_[q.node].id, q.field, ""}, details);
    }
  }

  void check_output_node() {
    if (settings_.output_node.empty()) return;
    if (id_map_.find(settings_.output_node)) return;
    diags_.error("unknown_output_node",
                 "settings.output_node names node " + quoted(settings_.output_node) +
                     ", which does not exist",
                 {"", "settings.output_node", ""});
  }

  // ---- 6. the plan ---------------------------------------------------------------------------

  PlanPtr build_plan() {
    auto plan = std::make_shared<Plan>();
    plan->workflow_id = options_.workflow_id;
    plan->workflow_version = options_.workflow_version;
    plan->timeout_ms = settings_.timeout_ms;
    plan->max_failures = settings_.max_failures;
    plan->variables = settings_.variables;
    plan->output_node = settings_.output_node;

    // Without errors every node and edge is valid, so plan indices equal document indices.
    plan->edges.reserve(edges_.size());
    for (const auto& e : edges_) {
      PlanEdge pe;
      pe.id = e.id;
      pe.source = e.src;
      pe.source_handle = e.source_handle;
      pe.target = e.tgt;
      pe.target_handle = e.target_handle;
      pe.back_edge = e.back;
      plan->edges.push_back(std::move(pe));
    }
    bool slow = false;
    plan->nodes.reserve(nodes_.size());
    plan->id_index.reserve(nodes_.size());
    for (uint32_t v = 0; v < nodes_.size(); ++v) {
      NodeRec& r = nodes_[v];
      const auto& type = r.spec->type;
      PlanNode pn;
      pn.id = r.id;
      pn.type_name = type->type_name;
      pn.type_version = type->type_version;
      pn.type = type;
      pn.name = r.label;
      pn.params = std::move(r.tmpl);
      pn.raw_params = r.params;
      pn.settings = r.node_settings;
      pn.in_edges.assign(in_edges_[v].begin(), in_edges_[v].end());
      pn.out_edges.assign(out_edges_[v].begin(), out_edges_[v].end());
      for (const auto& h : r.spec->inputs)
        if (h.multiple) pn.multi_inputs.push_back(h.name);
      pn.loop = node_loop_[v];
      pn.is_trigger = type->is_trigger();
      pn.is_loop = type->is_loop();
      pn.credential_refs = std::move(r.credential_refs);
      pn.credential_names = std::move(r.credential_names);
      pn.fire_on_first = r.fire_on_first;
      if (type->flags & (WEFT_NODE_FLAG_USES_LLM | WEFT_NODE_FLAG_LONG_RUNNING)) slow = true;
      plan->id_index.emplace(pn.id, plan->nodes.size());
      plan->nodes.push_back(std::move(pn));
    }
    for (const auto& loop : loops_) {
      PlanLoop pl;
      pl.loop_node = loop.node;
      pl.body.assign(loop.body.begin(), loop.body.end());
      pl.back_edges.assign(loop.back_edges.begin(), loop.back_edges.end());
      pl.parent = loop.parent;
      plan->loops.push_back(std::move(pl));
    }
    plan->entries.assign(triggers_.begin(), triggers_.end());
    plan->topo_order.assign(topo_.begin(), topo_.end());
    plan->quick = plan->nodes.size() < 5 && !slow;
    return plan;
  }

  const registry::Registry& registry_;
  const CompileOptions& options_;
  const Json& wf_;
  Diags diags_;

  const Json* nodes_json_ = nullptr;
  const Json* edges_json_ = nullptr;
  WorkflowSettings settings_;

  std::vector<NodeRec> nodes_;
  std::vector<EdgeRec> edges_;
  IdIndex id_map_;  // node id -> index (valid, unique ids only)

  // type name -> (requested version, spec or null when unknown)
  std::unordered_map<std::string, std::vector<std::pair<uint32_t, const TypeSpec*>>> type_cache_;
  std::unordered_map<const registry::NodeType*, std::unique_ptr<TypeSpec>> specs_;
  std::vector<std::shared_ptr<const registry::NodeType>> all_types_;
  bool all_types_loaded_ = false;
  std::unordered_map<std::string, std::vector<std::string>> suggestions_;

  Adjacency forward_out_, forward_in_;               // forward edges (back edges excluded)
  Adjacency out_edges_, in_edges_;                   // edge indices, all graph edges
  bool has_cycle_ = false;
  std::vector<char> in_cycle_;
  std::vector<uint32_t> triggers_;
  std::vector<LoopRec> loops_;
  std::vector<int64_t> node_loop_;
  std::vector<uint32_t> topo_;
};

}  // namespace

std::string credential_placeholder_token(std::string_view text) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  if (text.size() < 4 || text.substr(0, 2) != "{{" || text.substr(text.size() - 2) != "}}") return {};
  std::string_view inner = trim(text.substr(2, text.size() - 4));
  constexpr std::string_view kPrefix = "credential:";
  if (inner.substr(0, kPrefix.size()) != kPrefix) return {};
  std::string_view token = trim(inner.substr(kPrefix.size()));
  if (token.empty() || token.size() > 200) return {};
  for (char c : token)
    if (c == '{' || c == '}' || static_cast<unsigned char>(c) < 0x20) return {};
  return std::string(token);
}

CompileResult Compiler::compile(const Json& workflow, const CompileOptions& options) const {
  CompileJob job(registry_, options, workflow);
  return job.run();
}

CompileResult Compiler::compile_text(std::string_view workflow_json,
                                     const CompileOptions& options) const {
  auto parsed = Json::parse(workflow_json);
  if (!parsed.ok()) {
    CompileResult result;
    Json details = Json::object();
    details.set("reason", parsed.error().code);
    result.errors.push_back(Diagnostic{"invalid_json",
                                       "the workflow is not valid JSON: " + parsed.error().message,
                                       "", "", "", details});
    return result;
  }
  return compile(*parsed, options);
}

}  // namespace weft::compiler
