// The credential types of the integrations pack. The host stores their secret fields encrypted
// and applies them to outgoing requests itself according to "apply"; nodes only name the
// credential ("credential": "auth" in the request), they never read a secret.
#include "nodes.hpp"

namespace weft::integrations {

const std::string_view kCredentialTypes[7] = {
    R"json({
  "name": "http_bearer",
  "display_name": "HTTP bearer token",
  "description": "A token sent as 'Authorization: Bearer <token>' (OAuth access tokens, most REST APIs).",
  "fields": [
    {"name": "token", "display_name": "Token", "type": "string", "secret": true, "required": true,
     "description": "The bearer token.", "placeholder": "eyJhbGciOi..."}
  ],
  "apply": {"kind": "bearer", "field": "token"}
})json",

    R"json({
  "name": "http_basic",
  "display_name": "HTTP basic auth",
  "description": "A user name and password sent as 'Authorization: Basic base64(username:password)'.",
  "fields": [
    {"name": "username", "display_name": "User name", "type": "string", "secret": false, "required": true,
     "description": "The user name (may not contain ':')."},
    {"name": "password", "display_name": "Password", "type": "string", "secret": true, "required": true,
     "description": "The password."}
  ],
  "apply": {"kind": "basic", "username_field": "username", "password_field": "password"}
})json",

    R"json({
  "name": "http_header",
  "display_name": "API key header (X-API-Key)",
  "description": "An API key sent in the request header 'X-API-Key'. The header is dropped when a redirect leaves the original host.",
  "fields": [
    {"name": "value", "display_name": "API key", "type": "string", "secret": true, "required": true,
     "description": "The value of the X-API-Key header."}
  ],
  "apply": {"kind": "header", "name": "X-API-Key", "field": "value", "prefix": ""}
})json",

    R"json({
  "name": "http_query",
  "display_name": "API key query parameter (api_key)",
  "description": "An API key appended to the URL as the query parameter 'api_key'. Prefer a header or bearer token where the API allows: URLs end up in server logs.",
  "fields": [
    {"name": "value", "display_name": "API key", "type": "string", "secret": true, "required": true,
     "description": "The value of the api_key query parameter."}
  ],
  "apply": {"kind": "query", "name": "api_key", "field": "value"}
})json",

    R"json({
  "name": "slack_webhook",
  "display_name": "Slack incoming webhook",
  "description": "The URL of a Slack incoming webhook. The URL itself is the secret: whoever has it can post to its channel.",
  "fields": [
    {"name": "url", "display_name": "Webhook URL", "type": "url", "secret": true, "required": true,
     "description": "From the Slack app's 'Incoming Webhooks' page.",
     "placeholder": "https://hooks.slack.com/services/T000/B000/XXXX"}
  ],
  "apply": {"kind": "url", "field": "url"}
})json",

    R"json({
  "name": "slack_token",
  "display_name": "Slack bot token",
  "description": "A Slack bot (or user) token, sent as a bearer token to the Slack Web API. The bot must be a member of the channels it posts to and have the chat:write scope.",
  "fields": [
    {"name": "token", "display_name": "Bot token", "type": "string", "secret": true, "required": true,
     "description": "The OAuth token of the Slack app.", "placeholder": "xoxb-..."}
  ],
  "apply": {"kind": "bearer", "field": "token"}
})json",

    R"json({
  "name": "github_token",
  "display_name": "GitHub token",
  "description": "A GitHub personal access token (fine-grained or classic) or an app installation token, sent as a bearer token to the GitHub REST API. Issues need the 'Issues' read (and write, to change them) permission.",
  "fields": [
    {"name": "token", "display_name": "Token", "type": "string", "secret": true, "required": true,
     "description": "The token.", "placeholder": "github_pat_..."}
  ],
  "apply": {"kind": "bearer", "field": "token"}
})json",
};

}  // namespace weft::integrations
