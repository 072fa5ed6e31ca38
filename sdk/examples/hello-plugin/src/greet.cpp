#include "greet.hpp"

#include <cctype>
#include <string>

namespace hello {

const std::string_view Greet::schema = R"json({
  "display_name": "Greet",
  "description": "Greets someone: outputs {\"message\": \"<greeting>, <name>!\"}. The name comes from the input's 'name' field (or the input itself when it is a string), else from the 'name' parameter, else \"world\".",
  "category": "example",
  "fields": [
    {"name": "greeting", "type": "string", "required": false, "default": "Hello", "max_length": 200,
     "description": "The word(s) to greet with."},
    {"name": "name", "type": "string", "required": false, "max_length": 200,
     "description": "Who to greet when the input names nobody."},
    {"name": "shout", "type": "boolean", "required": false, "default": false,
     "description": "Upper-case the whole message."}
  ],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [{"name": "main", "type": "json"}],
  "flags": []
})json";

void Greet::execute(weft::sdk::Context& ctx) const {
  // Parameters were checked by the compiler already, but expressions are rendered at run time:
  // check again, the SDK readers fail the attempt with a clear message naming the field.
  auto greeting = ctx.string_param("greeting", "Hello", 200);
  if (!greeting) return;
  auto shout = ctx.bool_param("shout", false);
  if (!shout) return;

  std::string name = "world";
  const weft::sdk::Value& in = ctx.input_or_null("main");
  if (in.IsString()) {
    name = std::string(weft::sdk::str_of(in));
  } else if (in.IsObject() && in.HasMember("name")) {
    const weft::sdk::Value& n = in["name"];
    if (!n.IsString()) {
      ctx.invalid_input("invalid_name", "the input's 'name' must be a string, not " +
                                            std::string(weft::sdk::json_type_name(n)));
      return;
    }
    name = std::string(weft::sdk::str_of(n));
  } else {
    auto param_name = ctx.string_param("name", "world", 200);
    if (!param_name) return;
    name = std::string(*param_name);
  }

  std::string message = std::string(*greeting) + ", " + name + "!";
  if (*shout)
    for (char& c : message) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ctx.log_info("greeted " + name);

  weft::sdk::Value out(rapidjson::kObjectType);
  out.AddMember("message", weft::sdk::make_string(message, ctx.allocator()), ctx.allocator());
  ctx.output("main", std::move(out));
}

}  // namespace hello
