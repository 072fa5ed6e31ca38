// core.set — sets fields (dotted paths allowed) on a copy of the input or on a new object.
#include <string>

#include "json_util.hpp"
#include "nodes.hpp"

namespace weft::core_pack {

const std::string_view SetNode::schema = R"json({
  "display_name": "Set fields",
  "description": "Sets fields on the data. 'fields' maps keys to values (values may be expressions); a key with dots, like \"address.city\", sets a nested field and creates the objects on the way. In mode 'merge' the fields are set on a copy of the object arriving on 'main' (null counts as {}); in mode 'replace' the output holds only the given fields. Setting a path through a value that is not an object (\"a.b\" when \"a\" is a number) is an error, never a silent overwrite.",
  "category": "data",
  "fields": [
    {"name": "fields", "type": "json", "required": true, "default": {},
     "description": "An object of key (or dotted path) to value."},
    {"name": "mode", "type": "select", "options": ["merge", "replace"], "default": "merge", "required": false,
     "description": "merge: add to the input object; replace: output only these fields."}
  ],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [{"name": "main", "type": "json"}],
  "flags": []
})json";

void SetNode::execute(Context& ctx) const {
  auto& alloc = ctx.allocator();
  const std::string who = "node '" + std::string(ctx.node_id()) + "' (core.set): ";
  const sdk::Value* fields = ctx.param("fields");
  if (fields && fields->IsNull()) fields = nullptr;
  if (fields && !fields->IsObject())
    return ctx.invalid_parameter("fields", std::string("must be an object of key to value, not ") +
                                               sdk::json_type_name(*fields));
  auto mode = ctx.select_param("mode", {"merge", "replace"}, "merge");
  if (!mode) return;

  sdk::Value out(rapidjson::kObjectType);
  if (*mode == "merge") {
    const sdk::Value& in = ctx.input_or_null("main");
    if (in.IsObject()) {
      out.CopyFrom(in, alloc);
    } else if (!in.IsNull()) {
      return ctx.invalid_input("input_not_object", who + "the input on 'main' is " + sdk::json_type_name(in) +
                                                       "; mode 'merge' needs an object (use mode 'replace' to "
                                                       "build a new object)");
    }
  }

  if (fields) {
    for (auto it = fields->MemberBegin(); it != fields->MemberEnd(); ++it) {
      std::string_view key = sdk::str_of(it->name);
      auto segments = split_path(key);
      if (!segments || segments->empty())
        return ctx.invalid_parameter("fields." + std::string(key), "is not a valid key (empty path segment)");
      sdk::Value* target = &out;
      std::string walked;
      for (size_t i = 0; i + 1 < segments->size(); ++i) {
        std::string_view seg = (*segments)[i];
        if (!walked.empty()) walked += '.';
        walked += seg;
        sdk::Value* next = find_member(*target, seg);
        if (!next) {
          target->AddMember(sdk::make_string(seg, alloc), sdk::Value(rapidjson::kObjectType), alloc);
          next = &(target->MemberEnd() - 1)->value;
        } else if (!next->IsObject()) {
          sdk::Value details(rapidjson::kObjectType);
          details.AddMember("field", sdk::make_string(key, alloc), alloc);
          return ctx.invalid_input("path_conflict",
                                   who + "cannot set '" + std::string(key) + "': '" + walked + "' is " +
                                       sdk::json_type_name(*next) + ", not an object",
                                   &details);
        }
        target = next;
      }
      set_member(*target, segments->back(), sdk::Value(it->value, alloc), alloc);
    }
  }
  ctx.output("main", std::move(out));
}

}  // namespace weft::core_pack
