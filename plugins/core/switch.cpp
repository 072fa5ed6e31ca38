// core.switch — routes its input to the outputs named by the rules whose condition holds.
#include <string>
#include <vector>

#include "json_util.hpp"
#include "nodes.hpp"

namespace weft::core_pack {

const std::string_view SwitchNode::schema = R"json({
  "display_name": "Switch",
  "description": "Routes the data arriving on 'main' by rules. 'rules' is an array of {\"output\": name, \"condition\": value}; each rule's output name is an output handle of the node. Conditions are expressions rendered by the host; truthiness as in core.if. Mode 'first' takes the first rule whose condition is true, mode 'all' every such rule. When no rule matches, the data goes to 'fallback_output' (\"default\" unless set; an empty string sends it nowhere). Every taken output carries the input unchanged.",
  "category": "flow",
  "fields": [
    {"name": "rules", "type": "json", "required": true, "default": [],
     "description": "Array of {\"output\": \"<handle name>\", \"condition\": <expression>}."},
    {"name": "mode", "type": "select", "options": ["first", "all"], "default": "first", "required": false,
     "description": "first: the first matching rule only; all: every matching rule."},
    {"name": "fallback_output", "type": "string", "default": "default", "required": false, "max_length": 64,
     "description": "Output taken when no rule matches: \"default\", a rule's output, or \"\" for none."}
  ],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [{"name": "default", "type": "any"}],
  "dynamic_outputs": {"param": "rules", "key": "output"},
  "flags": []
})json";

void SwitchNode::execute(Context& ctx) const {
  const sdk::Value* rules = ctx.param("rules");
  if (rules && rules->IsNull()) rules = nullptr;
  if (rules && !rules->IsArray())
    return ctx.invalid_parameter("rules", std::string("must be an array of {\"output\", \"condition\"}, not ") +
                                              sdk::json_type_name(*rules));
  auto mode = ctx.select_param("mode", {"first", "all"}, "first");
  if (!mode) return;
  auto fallback = ctx.string_param("fallback_output", "default", 64);
  if (!fallback) return;

  // Validate every rule before routing anything: a broken rule must not hide behind a match.
  struct Rule {
    std::string_view output;
    bool matches;
  };
  std::vector<Rule> parsed;
  bool fallback_known = fallback->empty() || *fallback == "default";
  if (rules) {
    for (rapidjson::SizeType i = 0; i < rules->Size(); ++i) {
      const sdk::Value& r = (*rules)[i];
      const std::string where = "rules[" + std::to_string(i) + "]";
      if (!r.IsObject()) return ctx.invalid_parameter(where, std::string("must be an object, not ") + sdk::json_type_name(r));
      const sdk::Value* output = find_member(r, "output");
      if (!output || !output->IsString() || !valid_handle_name(sdk::str_of(*output)))
        return ctx.invalid_parameter(where + ".output",
                                     "must be an output name of 1-64 characters of [A-Za-z0-9_.-] other than "
                                     "\"error\"");
      const sdk::Value* condition = find_member(r, "condition");
      if (!condition) return ctx.invalid_parameter(where + ".condition", "is required but not set");
      parsed.push_back({sdk::str_of(*output), truthy(*condition)});
      if (sdk::str_of(*output) == *fallback) fallback_known = true;
    }
  }
  if (!fallback_known)
    return ctx.invalid_parameter("fallback_output", "\"" + std::string(*fallback) +
                                                        "\" is neither \"default\" nor the output of a rule");

  std::vector<std::string_view> taken;
  for (const Rule& r : parsed) {
    if (!r.matches) continue;
    bool seen = false;
    for (auto t : taken) seen = seen || t == r.output;
    if (!seen) taken.push_back(r.output);
    if (*mode == "first") break;
  }
  if (taken.empty() && !fallback->empty()) taken.push_back(*fallback);
  if (taken.empty()) return ctx.no_output();
  const sdk::Value& in = ctx.input_or_null("main");
  for (auto handle : taken) ctx.output(handle, in);
}

}  // namespace weft::core_pack
