// core.if — routes its input to the "true" or the "false" handle.
#include "json_util.hpp"
#include "nodes.hpp"

namespace weft::core_pack {

const std::string_view IfNode::schema = R"json({
  "display_name": "If",
  "description": "Routes the data arriving on 'main' to the 'true' or the 'false' output, depending on 'condition'. The condition is an expression rendered by the host before the node runs; its value is false when it is false, null, 0, an empty string, an empty array or an empty object, and true otherwise (the string \"false\" is true). Only the taken output carries data: everything downstream of the other one is skipped.",
  "category": "flow",
  "fields": [
    {"name": "condition", "type": "expression", "required": true,
     "description": "The value to test, e.g. {{ $json.amount > 100 }}."}
  ],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [{"name": "true", "type": "any"}, {"name": "false", "type": "any"}],
  "flags": []
})json";

void IfNode::execute(Context& ctx) const {
  // Absent is an error (the field is required); null is a legitimate rendered value (false).
  const sdk::Value* condition = ctx.param("condition");
  if (!condition) {
    ctx.invalid_input("missing_parameter", "node '" + std::string(ctx.node_id()) +
                                               "' (core.if): parameter 'condition' is required but not set");
    return;
  }
  ctx.output(truthy(*condition) ? "true" : "false", ctx.input_or_null("main"));
}

}  // namespace weft::core_pack
