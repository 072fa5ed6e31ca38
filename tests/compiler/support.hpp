// Shared helpers of the compiler tests: an in-process registry whose node types mirror the core
// pack's schemas (plus a few test types that exercise every field and handle type), a small
// workflow builder, and diagnostic lookups. Also used by the workflow fuzz target.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "host/compiler/compiler.hpp"
#include "host/core/json.hpp"
#include "registry/registry.hpp"

namespace weft::compiler::testing {

inline weft_status noop_execute(void*, const weft_node_request*, const weft_node_result*) {
  return WEFT_OK;
}

inline Json parse_or_die(std::string_view text) {
  auto r = Json::parse(text);
  if (!r.ok()) {
    std::fprintf(stderr, "bad test JSON: %s\n%.*s\n", r.error().message.c_str(),
                 static_cast<int>(text.size()), text.data());
    std::abort();
  }
  return *r;
}

inline void add_type(registry::Registry& reg, const std::string& name, uint32_t flags,
                     std::string_view schema, uint32_t version = 1) {
  registry::NodeType t;
  t.type_name = name;
  t.type_version = version;
  t.schema = parse_or_die(schema);
  t.flags = flags;
  t.execute = noop_execute;
  t.plugin_name = "compiler_test_pack";
  auto st = reg.add_builtin_node_type(std::move(t));
  if (!st.ok()) {
    std::fprintf(stderr, "cannot register %s: %s\n", name.c_str(), st.error().message.c_str());
    std::abort();
  }
}

// A registry with no plugin directories and the test node types registered in-process.
inline std::unique_ptr<registry::Registry> make_registry() {
  auto reg = std::make_unique<registry::Registry>(registry::RegistryOptions{});
  reg->load();
  // ---- mirrors of the core pack (plugins/core) ----
  add_type(*reg, "core.manual_trigger", WEFT_NODE_FLAG_TRIGGER, R"({
    "display_name": "Manual trigger", "category": "trigger",
    "fields": [{"name": "default_input", "type": "json", "default": null}],
    "inputs": [], "outputs": [{"name": "main", "type": "json"}]})");
  add_type(*reg, "core.set", 0, R"({
    "display_name": "Set fields", "category": "data",
    "fields": [{"name": "fields", "type": "json", "required": true, "default": {}},
               {"name": "mode", "type": "select", "options": ["merge", "replace"], "default": "merge"}],
    "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "main", "type": "json"}]})");
  add_type(*reg, "core.if", 0, R"({
    "display_name": "If", "category": "flow",
    "fields": [{"name": "condition", "type": "expression", "required": true}],
    "inputs": [{"name": "main", "type": "any"}],
    "outputs": [{"name": "true", "type": "any"}, {"name": "false", "type": "any"}]})");
  add_type(*reg, "core.switch", 0, R"({
    "display_name": "Switch", "category": "flow",
    "fields": [{"name": "rules", "type": "json", "required": true, "default": []},
               {"name": "mode", "type": "select", "options": ["first", "all"], "default": "first"},
               {"name": "fallback_output", "type": "string", "default": "default", "max_length": 64}],
    "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "default", "type": "any"}],
    "dynamic_outputs": {"param": "rules", "key": "output"}})");
  add_type(*reg, "core.merge", 0, R"({
    "display_name": "Merge", "category": "flow",
    "fields": [{"name": "mode", "type": "select", "options": ["all", "first"], "default": "all"},
               {"name": "combine", "type": "select", "options": ["array", "object", "merge_objects"],
                "default": "array"}],
    "inputs": [{"name": "main", "type": "any", "multiple": true}],
    "outputs": [{"name": "main", "type": "json"}],
    "activation": {"any_input_when": {"mode": "first"}}})");
  add_type(*reg, "core.loop", WEFT_NODE_FLAG_LOOP, R"({
    "display_name": "Loop over items", "category": "flow",
    "fields": [{"name": "max_iterations", "type": "integer", "default": 10000, "min": 1, "max": 1000000}],
    "inputs": [{"name": "main", "type": "any"}, {"name": "back", "type": "any"}],
    "outputs": [{"name": "item", "type": "any"}, {"name": "done", "type": "json"}]})");
  add_type(*reg, "core.noop", 0, R"({
    "display_name": "No operation", "category": "flow", "fields": [],
    "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "main", "type": "any"}]})");
  add_type(*reg, "core.wait", WEFT_NODE_FLAG_LONG_RUNNING, R"({
    "display_name": "Wait", "category": "flow",
    "fields": [{"name": "seconds", "type": "number", "min": 0, "max": 315360000},
               {"name": "until", "type": "expression"}],
    "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "main", "type": "any"}]})");
  // ---- test types ----
  add_type(*reg, "test.llm", WEFT_NODE_FLAG_USES_LLM, R"({
    "fields": [{"name": "prompt", "type": "string", "required": true, "max_length": 1000}],
    "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "main", "type": "text"}]})");
  add_type(*reg, "test.fields", 0, R"({
    "fields": [
      {"name": "s", "type": "string", "max_length": 5},
      {"name": "n", "type": "number", "min": 0, "max": 10},
      {"name": "i", "type": "integer", "min": 1, "max": 3},
      {"name": "b", "type": "boolean"},
      {"name": "sel", "type": "select", "options": ["a", {"value": "b", "label": "Bee"}]},
      {"name": "j", "type": "json"},
      {"name": "c", "type": "code", "language": "javascript"},
      {"name": "cred", "type": "credential", "credential_types": ["slack"]},
      {"name": "e", "type": "expression"},
      {"name": "req", "type": "string", "required": true}],
    "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "main", "type": "json"}]})");
  add_type(*reg, "test.binary_source", 0, R"({
    "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "main", "type": "binary"}]})");
  add_type(*reg, "test.number_source", 0, R"({
    "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "main", "type": "number"}]})");
  add_type(*reg, "test.text_sink", 0, R"({
    "inputs": [{"name": "main", "type": "text"}], "outputs": [{"name": "main", "type": "text"}]})");
  add_type(*reg, "test.json_sink", 0, R"({
    "inputs": [{"name": "main", "type": "json"}], "outputs": [{"name": "main", "type": "json"}]})");
  add_type(*reg, "test.slack", WEFT_NODE_FLAG_SIDE_EFFECTS, R"({
    "fields": [{"name": "text", "type": "string"}],
    "credential_types": ["slack", "slack_oauth"],
    "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "main", "type": "json"}]})");
  add_type(*reg, "test.versioned", 0, R"({
    "fields": [{"name": "old", "type": "string"}],
    "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "main", "type": "json"}]})",
           1);
  add_type(*reg, "test.versioned", 0, R"({
    "fields": [{"name": "new", "type": "string"}],
    "inputs": [{"name": "main", "type": "any"}], "outputs": [{"name": "main", "type": "json"}]})",
           2);
  return reg;
}

// Builds workflow documents in the editor's format.
class Wf {
 public:
  Wf() {
    doc_.set("name", "test");
    doc_.set("nodes", Json::array());
    doc_.set("edges", Json::array());
  }

  // `params`, `settings` as JSON text ("" = leave out).
  Wf& node(const std::string& id, const std::string& type, std::string_view params = "",
           std::string_view settings = "") {
    Json n = Json::object();
    n.set("id", id);
    n.set("type", type);
    Json pos = Json::object();
    pos.set("x", 0);
    pos.set("y", 0);
    n.set("position", pos);
    Json data = Json::object();
    data.set("label", id);
    if (!params.empty()) data.set("parameters", parse_or_die(params));
    if (!settings.empty()) data.set("settings", parse_or_die(settings));
    n.set("data", data);
    Json nodes = doc_["nodes"];
    nodes.push_back(std::move(n));
    doc_.set("nodes", std::move(nodes));
    return *this;
  }

  // Sets data.<key> of the last node added.
  Wf& data(const std::string& key, Json value) {
    Json nodes = doc_["nodes"];
    auto& list = nodes.mutable_array();
    Json& last = list.back();
    Json data = last["data"];
    data.set(key, std::move(value));
    last.set("data", std::move(data));
    doc_.set("nodes", std::move(nodes));
    return *this;
  }

  Wf& edge(const std::string& source, const std::string& target,
           const std::string& source_handle = "main", const std::string& target_handle = "main",
           std::string id = "") {
    Json edges = doc_["edges"];
    if (id.empty()) id = "e" + std::to_string(edges.size() + 1);
    Json e = Json::object();
    e.set("id", id);
    e.set("source", source);
    e.set("sourceHandle", source_handle);
    e.set("target", target);
    e.set("targetHandle", target_handle);
    edges.push_back(std::move(e));
    doc_.set("edges", std::move(edges));
    return *this;
  }

  Wf& setting(const std::string& key, Json value) {
    Json s = doc_["settings"];
    s.set(key, std::move(value));
    doc_.set("settings", std::move(s));
    return *this;
  }

  const Json& json() const { return doc_; }
  Json& mutable_json() { return doc_; }

 private:
  Json doc_ = Json::object();
};

inline std::vector<std::string> codes(const std::vector<Diagnostic>& diags) {
  std::vector<std::string> out;
  for (const auto& d : diags) out.push_back(d.code);
  return out;
}

inline const Diagnostic* find_code(const std::vector<Diagnostic>& diags, std::string_view code) {
  for (const auto& d : diags)
    if (d.code == code) return &d;
  return nullptr;
}

inline std::string dump_diags(const CompileResult& r) {
  std::string out;
  for (const auto& d : r.errors) out += "  error " + d.to_json().dump() + "\n";
  for (const auto& d : r.warnings) out += "  warning " + d.to_json().dump() + "\n";
  return out;
}

}  // namespace weft::compiler::testing
