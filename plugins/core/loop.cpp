// core.loop — the loop construct. The executor drives the iterations; this node only normalises
// the items and enforces max_iterations.
#include <string>

#include "nodes.hpp"

namespace weft::core_pack {

const std::string_view LoopNode::schema = R"json({
  "display_name": "Loop over items",
  "description": "Runs the nodes connected to 'item' once per item of the data arriving on 'main' (an array; null means no items; any other value is one item). Each iteration's result is sent back to the 'back' input; when every item is done, the collected results leave on 'done' as an array. The loop is the only construct that may close a cycle in a workflow. Execution contract (for hosts): the executor drives the iterations; called with input {\"main\": value} the node answers {\"items\": [...]}, or fails with WEFT_ERR_INVALID_INPUT code \"too_many_items\" when there are more than max_iterations items.",
  "category": "flow",
  "fields": [
    {"name": "max_iterations", "type": "integer", "required": false, "default": 10000, "min": 1, "max": 1000000,
     "description": "Refuse to loop over more items than this."}
  ],
  "inputs": [{"name": "main", "type": "any"}, {"name": "back", "type": "any"}],
  "outputs": [{"name": "item", "type": "any"}, {"name": "done", "type": "json"}],
  "flags": ["loop"]
})json";

void LoopNode::execute(Context& ctx) const {
  auto max = ctx.integer_param("max_iterations", 10000, 1, 1000000);
  if (!max) return;
  const sdk::Value& in = ctx.input_or_null("main");
  sdk::Value items(rapidjson::kArrayType);
  if (in.IsArray()) {
    items.CopyFrom(in, ctx.allocator());
  } else if (!in.IsNull()) {
    items.PushBack(sdk::Value(in, ctx.allocator()), ctx.allocator());
  }
  if (static_cast<int64_t>(items.Size()) > *max) {
    sdk::Value details(rapidjson::kObjectType);
    details.AddMember("items", sdk::Value(static_cast<uint64_t>(items.Size())), ctx.allocator());
    details.AddMember("max_iterations", sdk::Value(static_cast<int64_t>(*max)), ctx.allocator());
    ctx.invalid_input("too_many_items",
                      "node '" + std::string(ctx.node_id()) + "' (core.loop): " + std::to_string(items.Size()) +
                          " items exceed max_iterations " + std::to_string(*max),
                      &details);
    return;
  }
  ctx.output("items", std::move(items));
}

}  // namespace weft::core_pack
