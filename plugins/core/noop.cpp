// core.noop — passes its input through unchanged (a junction, a placeholder, a label).
#include "nodes.hpp"

namespace weft::core_pack {

const std::string_view NoopNode::schema = R"json({
  "display_name": "No operation",
  "description": "Passes the data arriving on 'main' through unchanged. Useful as a junction or a placeholder.",
  "category": "flow",
  "fields": [],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [{"name": "main", "type": "any"}],
  "flags": []
})json";

void NoopNode::execute(Context& ctx) const { ctx.output("main", ctx.input_or_null("main")); }

}  // namespace weft::core_pack
