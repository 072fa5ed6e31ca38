// core.error_trigger — the entry point of error workflows: a workflow named by another workflow's
// settings.error_workflow is started with the failure's description as its input.
#include "nodes.hpp"

namespace weft::core_pack {

const std::string_view ErrorTriggerNode::schema = R"json({
  "display_name": "Error trigger",
  "description": "Starts an error workflow: when a workflow whose settings.error_workflow names this workflow fails, this workflow runs with the failure on 'main': {execution_id, workflow_id, workflow_name, workflow_version, failed_at_ms, error: {code, message, details}, node: {id, type}} (node only when a node failed; never the failed run's input; secrets redacted).",
  "category": "trigger",
  "fields": [],
  "inputs": [],
  "outputs": [{"name": "main", "type": "json"}],
  "flags": ["trigger"]
})json";

void ErrorTriggerNode::execute(Context& ctx) const {
  // The host hands a trigger the execution input as {"main": input}.
  ctx.output("main", ctx.input_or_null("main"));
}

}  // namespace weft::core_pack
