// Configuration checks of one node or of the workflow against the schema and the settings rules
// (internal): parameters (required fields, types, options, ranges, lengths), node settings and
// workflow settings. Expressions, credentials and code are checked in compiler.cpp, which has
// the options and the graph.
#pragma once

#include <string>

#include "host/compiler/diags.hpp"
#include "host/compiler/plan.hpp"
#include "host/compiler/type_spec.hpp"

namespace weft::compiler::detail {

// Checks data.parameters (an object) against the node type's fields. Returns the parameters with
// schema defaults filled in for absent fields (what the node will receive).
Json check_parameters(const TypeSpec& spec, const Json& params, const std::string& node_id,
                      Diags& diags);

// Reads data.settings (null/absent = all defaults) into NodeSettings, reporting bad values.
NodeSettings read_node_settings(const Json* settings, const std::string& node_id, Diags& diags);

struct WorkflowSettings {
  int64_t timeout_ms = 300000;
  int32_t max_failures = 0;
  Json variables = Json::object();
  std::string output_node;
  // settings.error_workflow: the workflow to start when an execution fails ("" = none). The
  // executor reads it from the execution's definition (host/executor: plan_error_workflow).
  std::string error_workflow;
};
WorkflowSettings read_workflow_settings(const Json* settings, Diags& diags);

// activation.any_input_when: true when every key it names has that value in `params`.
bool matches_any_input_when(const TypeSpec& spec, const Json& params);

// The shape of a workflow id: 1-64 characters of a-z, 0-9, '_' and '-' (generated ids, and the
// "local-<file>" ids of `weft run`).
bool valid_workflow_id(std::string_view id);

// True when a string value holds a {{ }} block (so it is only known at run time).
bool is_templated(const Json& v);

}  // namespace weft::compiler::detail
