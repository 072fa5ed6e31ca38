// The execution plan: what the compiler produces from workflow JSON and the executor runs.
// Immutable once built and shared between executions of the same workflow version
// (PlanCache keys it by workflow id + version).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "host/core/json.hpp"
#include "host/expr/expr.hpp"
#include "registry/registry.hpp"

namespace weft::compiler {

enum class OnError { Stop, Continue, Route, Ask };
const char* to_string(OnError e);

struct NodeSettings {
  int64_t timeout_ms = 60000;
  int32_t retry_count = 0;
  int64_t retry_delay_ms = 5000;
  double retry_backoff = 1.0;       // delay multiplier per retry (1 = constant)
  int64_t retry_max_delay_ms = 300000;
  OnError on_error = OnError::Stop;
};

// An edge resolved to plan indices.
struct PlanEdge {
  std::string id;
  size_t source = 0;          // node index
  std::string source_handle;  // output handle name ("main" by default)
  size_t target = 0;
  std::string target_handle;  // input handle name ("main" by default)
  bool back_edge = false;     // closes a loop: target is a loop node's "back" handle
};

struct PlanNode {
  std::string id;
  std::string type_name;
  uint32_t type_version = 1;
  std::shared_ptr<const registry::NodeType> type;  // keeps the plugin alive
  std::string name;                                // display name (data.label) or id
  expr::Template params;                           // data.parameters with expressions parsed
  Json raw_params;                                 // as written
  NodeSettings settings;
  std::vector<size_t> in_edges;                    // indices into Plan::edges (incl. back edges)
  std::vector<size_t> out_edges;
  // Input handles declared "multiple": true in the schema receive an array of {from, data}.
  std::vector<std::string> multi_inputs;
  // The innermost loop whose body contains this node, or -1.
  int64_t loop = -1;
  bool is_trigger = false;
  bool is_loop = false;
  std::vector<std::string> credential_refs;        // credential ids referenced (data.credentials, credential fields)
  // How the node's configuration names them: data.credentials names and credential-typed
  // parameter names -> credential id. weft_host_api.credential_get(ref) resolves ref through it.
  std::map<std::string, std::string> credential_names;
  // activation.any_input_when matched the node's parameters (schema defaults applied): the node
  // fires on the first input that arrives instead of waiting for all (merge "first").
  bool fire_on_first = false;
};

// A loop construct: node `loop_node` with input handle "main" (items) and "back" (the body's
// result for one item), output handles "item" (one item per iteration) and "done" (all results).
struct PlanLoop {
  size_t loop_node = 0;
  std::vector<size_t> body;       // nodes inside the body (reachable from "item", not via "done")
  std::vector<size_t> back_edges; // edges into the loop node's "back" handle
  int64_t parent = -1;            // enclosing loop index, -1 at top level
};

struct Plan {
  std::string workflow_id;
  int64_t workflow_version = 0;
  std::vector<PlanNode> nodes;
  std::vector<PlanEdge> edges;
  std::vector<PlanLoop> loops;
  std::vector<size_t> entries;    // trigger nodes (and nodes without inputs that are triggers)
  std::vector<size_t> topo_order; // forward edges only (back edges ignored)
  int64_t timeout_ms = 300000;    // workflow timeout
  int32_t max_failures = 0;       // stop after N node failures (0 = unlimited with continue)
  Json variables = Json::object();// settings.variables, visible as $vars
  bool quick = false;             // PRODUCT.md §4: < 5 nodes and nothing uses_llm/long_running
  std::string output_node;        // settings.output_node: whose output is the workflow result ("" = last finished sink)

  // Lookup by node id; -1 when absent.
  int64_t index_of(std::string_view node_id) const;

  // Filled by the compiler so index_of() is O(1). A Plan assembled by hand may leave it empty:
  // index_of() then falls back to a linear scan.
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, size_t, IdHash, std::equal_to<>> id_index;
};

using PlanPtr = std::shared_ptr<const Plan>;

}  // namespace weft::compiler
