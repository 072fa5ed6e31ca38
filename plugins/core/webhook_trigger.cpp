// core.webhook_trigger — the entry point of workflows started by an HTTP request. The server owns
// the endpoint (routing, authentication, rate limits, the response); this node only declares the
// settings the server reads and hands the request it built to the rest of the workflow.
#include <string>

#include "nodes.hpp"

namespace weft::core_pack {

const std::string_view WebhookTriggerNode::schema = R"json({
  "display_name": "Webhook trigger",
  "description": "Starts the workflow when an HTTP request arrives at the workflow's webhook URL. Outputs the request on 'main' as {\"body\": <parsed JSON, or the raw text>, \"query\": {...}, \"headers\": {...}, \"method\": \"POST\"}. 'path' names the last segment of the URL (1-64 characters of A-Z a-z 0-9 _ -; with auth secret_path the server appends a random token to it so that the URL stays unguessable); leave it empty and the server generates a random, secret one. 'auth': secret_path = whoever knows the URL may call it; hmac = the request must also be signed with the webhook's signing secret. 'response': auto = a quick workflow answers with its result, anything else with 202 and the execution id; wait = wait for the result up to 'wait_timeout_seconds', then 202; immediate = always 202 at once.",
  "category": "trigger",
  "fields": [
    {"name": "path", "type": "string", "required": false, "default": "", "max_length": 64,
     "pattern": "^[A-Za-z0-9_-]{0,64}$",
     "description": "The URL path segment (A-Z a-z 0-9 _ -, at most 64). Empty: a random secret path is generated."},
    {"name": "method", "type": "select", "options": ["POST", "GET", "ANY"], "default": "POST", "required": false,
     "description": "The HTTP method that triggers the workflow."},
    {"name": "auth", "type": "select", "options": ["secret_path", "hmac"], "default": "secret_path", "required": false,
     "description": "secret_path: knowing the URL is enough; hmac: requests must carry a valid signature."},
    {"name": "response", "type": "select", "options": ["auto", "wait", "immediate"], "default": "auto",
     "required": false,
     "description": "auto: quick workflows answer with their result, others with 202; wait: wait for the result (up to wait_timeout_seconds), then 202; immediate: always 202."},
    {"name": "wait_timeout_seconds", "type": "number", "default": 30, "min": 1, "max": 300, "required": false,
     "description": "With response 'wait': how long the caller waits for the result before getting 202."}
  ],
  "inputs": [],
  "outputs": [{"name": "main", "type": "json"}],
  "flags": ["trigger"]
})json";

namespace {

bool valid_path_segment(std::string_view s) {
  if (s.size() > 64) return false;
  for (char c : s) {
    bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

void WebhookTriggerNode::execute(Context& ctx) const {
  // The settings matter to the server, not here, but a workflow that got past the compiler with
  // bad ones (an expression, an older host) should fail loudly rather than look like it works.
  auto path = ctx.string_param("path", "");
  if (!path) return;
  if (!valid_path_segment(*path))
    return ctx.invalid_parameter("path",
                                 "must be at most 64 characters of A-Z a-z 0-9 _ - (or empty for a "
                                 "generated secret path)");
  if (!ctx.select_param("method", {"POST", "GET", "ANY"}, "POST")) return;
  if (!ctx.select_param("auth", {"secret_path", "hmac"}, "secret_path")) return;
  if (!ctx.select_param("response", {"auto", "wait", "immediate"}, "auto")) return;
  if (!ctx.number_param("wait_timeout_seconds", 30, 1, 300)) return;
  // The host hands a trigger the execution input as {"main": input}; for a webhook that is the
  // request object the server built.
  ctx.output("main", ctx.input_or_null("main"));
}

}  // namespace weft::core_pack
