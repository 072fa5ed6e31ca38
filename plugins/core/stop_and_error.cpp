// core.stop_and_error — fails the node on purpose, with the workflow author's code and message.
#include <string>

#include "nodes.hpp"

namespace weft::core_pack {

const std::string_view StopAndErrorNode::schema = R"json({
  "display_name": "Stop and error",
  "description": "Stops the branch with an error carrying 'code' and 'message' (and optional 'details'). The error is not retried; the node's on_error setting decides what happens next (stop the execution, continue, or route to the error output).",
  "category": "flow",
  "fields": [
    {"name": "message", "type": "string", "required": true, "max_length": 10000,
     "description": "The error message."},
    {"name": "code", "type": "string", "required": false, "default": "stopped_by_workflow", "max_length": 100,
     "description": "A machine-readable error code: letters, digits, '_', '.', '-'."},
    {"name": "details", "type": "json", "required": false,
     "description": "Optional data attached to the error."}
  ],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [],
  "flags": []
})json";

namespace {
bool valid_code(std::string_view c) {
  if (c.empty()) return false;
  for (char ch : c)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
          ch == '-'))
      return false;
  return true;
}
}  // namespace

void StopAndErrorNode::execute(Context& ctx) const {
  auto message = ctx.string_param("message", std::nullopt, 10000);
  if (!message) return;
  if (message->empty()) return ctx.invalid_parameter("message", "must not be empty");
  auto code = ctx.string_param("code", "stopped_by_workflow", 100);
  if (!code) return;
  if (!valid_code(*code)) return ctx.invalid_parameter("code", "must be letters, digits, '_', '.' or '-'");
  const sdk::Value* details = ctx.param("details");
  if (details && details->IsNull()) details = nullptr;
  // Not retryable: a deliberate stop would fail the same way on every attempt.
  ctx.invalid_input(*code, *message, details);
}

}  // namespace weft::core_pack
