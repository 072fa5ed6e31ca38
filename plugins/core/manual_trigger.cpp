// core.manual_trigger — the entry point of workflows started by hand (API, CLI, editor).
#include "nodes.hpp"

namespace weft::core_pack {

const std::string_view ManualTriggerNode::schema = R"json({
  "display_name": "Manual trigger",
  "description": "Starts the workflow when it is run by hand (API, CLI or editor). Outputs the execution input on 'main'; when the execution was started without input (null), outputs the 'default_input' parameter instead.",
  "category": "trigger",
  "fields": [
    {"name": "default_input", "type": "json", "required": false, "default": null,
     "description": "Data to start with when the execution has no input."}
  ],
  "inputs": [],
  "outputs": [{"name": "main", "type": "json"}],
  "flags": ["trigger"]
})json";

void ManualTriggerNode::execute(Context& ctx) const {
  // The host hands a trigger the execution input as {"main": input}.
  const sdk::Value& input = ctx.input_or_null("main");
  if (input.IsNull()) {
    if (const sdk::Value* fallback = ctx.param("default_input")) {
      ctx.output("main", *fallback);
      return;
    }
  }
  ctx.output("main", input);
}

}  // namespace weft::core_pack
