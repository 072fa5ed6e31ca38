// core.merge — joins the data of several branches.
#include <string>

#include "json_util.hpp"
#include "nodes.hpp"

namespace weft::core_pack {

const std::string_view MergeNode::schema = R"json({
  "display_name": "Merge",
  "description": "Joins branches. Every edge into 'main' delivers one entry {\"from\": \"<node id>\", \"data\": value}. Mode 'all' waits for every incoming branch (skipped branches deliver nothing); mode 'first' fires on the first data that arrives and passes it through unchanged. 'combine' shapes the output: 'array' = the data values in arrival order; 'object' = {\"<from node id>\": data}; 'merge_objects' = the data objects shallow-merged in order (later keys win; null data is ignored; other non-objects are an error).",
  "category": "flow",
  "fields": [
    {"name": "mode", "type": "select", "options": ["all", "first"], "default": "all", "required": false,
     "description": "all: wait for every branch; first: continue with the first one."},
    {"name": "combine", "type": "select", "options": ["array", "object", "merge_objects"], "default": "array",
     "required": false, "description": "How to combine the data of the branches."}
  ],
  "inputs": [{"name": "main", "type": "any", "multiple": true}],
  "outputs": [{"name": "main", "type": "json"}],
  "activation": {"any_input_when": {"mode": "first"}},
  "flags": []
})json";

void MergeNode::execute(Context& ctx) const {
  auto& alloc = ctx.allocator();
  const std::string who = "node '" + std::string(ctx.node_id()) + "' (core.merge): ";
  auto mode = ctx.select_param("mode", {"all", "first"}, "all");
  if (!mode) return;
  auto combine = ctx.select_param("combine", {"array", "object", "merge_objects"}, "array");
  if (!combine) return;

  const sdk::Value& in = ctx.input_or_null("main");
  if (!in.IsNull() && !in.IsArray())
    return ctx.invalid_input("invalid_merge_input", who + "expected an array of {\"from\", \"data\"} on 'main', got " +
                                                        sdk::json_type_name(in));
  rapidjson::SizeType count = in.IsArray() ? in.Size() : 0;
  if (*mode == "first") {
    // The first branch's data passes through unchanged: 'combine' only shapes several inputs.
    const sdk::Value* data = count > 0 ? find_member(in[0], "data") : nullptr;
    if (count > 0 && !data)
      return ctx.invalid_input("invalid_merge_input", who + "entry 0 on 'main' is not {\"from\": \"<node id>\", \"data\": ...}");
    ctx.output("main", data ? sdk::Value(*data, alloc) : sdk::Value());
    return;
  }

  sdk::Value out(*combine == "array" ? rapidjson::kArrayType : rapidjson::kObjectType);
  for (rapidjson::SizeType i = 0; i < count; ++i) {
    const sdk::Value& entry = in[i];
    const sdk::Value* data = find_member(entry, "data");
    const sdk::Value* from = find_member(entry, "from");
    if (!data || !from || !from->IsString())
      return ctx.invalid_input("invalid_merge_input", who + "entry " + std::to_string(i) +
                                                          " on 'main' is not {\"from\": \"<node id>\", \"data\": ...}");
    if (*combine == "array") {
      out.PushBack(sdk::Value(*data, alloc), alloc);
    } else if (*combine == "object") {
      set_member(out, sdk::str_of(*from), sdk::Value(*data, alloc), alloc);
    } else {
      if (data->IsNull()) continue;
      if (!data->IsObject())
        return ctx.invalid_input("not_an_object", who + "combine 'merge_objects' needs objects, but the data from '" +
                                                      std::string(sdk::str_of(*from)) + "' is " +
                                                      sdk::json_type_name(*data));
      for (auto m = data->MemberBegin(); m != data->MemberEnd(); ++m)
        set_member(out, sdk::str_of(m->name), sdk::Value(m->value, alloc), alloc);
    }
  }
  ctx.output("main", std::move(out));
}

}  // namespace weft::core_pack
