// slack.message — posts a message to Slack, through an incoming webhook or the Web API
// (chat.postMessage with a bot token). The host applies the credential: a webhook URL or a token.
#include <string>

#include "http_call.hpp"
#include "nodes.hpp"
#include "text_util.hpp"

namespace weft::integrations {

const std::string_view SlackMessageNode::schema = R"json({
  "display_name": "Slack message",
  "description": "Posts a message to Slack and outputs {ok, channel, ts} ({ok: true} for a webhook, which tells nothing more). mode 'webhook' posts to the incoming webhook of a slack_webhook credential (its channel is fixed by the webhook). mode 'token' calls chat.postMessage with a slack_token credential and needs 'channel'. Either way the credential is the node's credential 'auth'. Give 'text', 'blocks' or both (text is then the notification fallback). Slack answering {ok: false} fails the node with code slack_error and Slack's error in the details; rate limiting (HTTP 429, or errors such as ratelimited and internal_error) is retryable and the node's retry waits at least as long as Slack's Retry-After.",
  "category": "integration",
  "fields": [
    {"name": "mode", "type": "select", "options": ["webhook", "token"], "default": "webhook", "required": false,
     "description": "webhook: post to a slack_webhook credential's URL. token: chat.postMessage with a slack_token credential."},
    {"name": "channel", "type": "string", "required": false, "max_length": 200,
     "description": "Channel id (C0123...) or name (#general), or a user id for a direct message. Required in mode 'token'; ignored by webhooks."},
    {"name": "text", "type": "string", "required": false, "max_length": 40000,
     "description": "The message text (Slack mrkdwn)."},
    {"name": "blocks", "type": "json", "required": false,
     "description": "Block Kit blocks: an array of block objects (at most 50)."},
    {"name": "thread_ts", "type": "string", "required": false, "max_length": 64,
     "description": "The ts of a parent message, to reply in its thread."},
    {"name": "unfurl_links", "type": "boolean", "required": false,
     "description": "Whether Slack expands links into previews (Slack's default when unset)."},
    {"name": "api_url", "type": "string", "required": false, "default": "https://slack.com/api", "max_length": 2048,
     "description": "Base URL of the Slack Web API (mode 'token'), for proxies and tests."},
    {"name": "timeout_ms", "type": "integer", "required": false, "default": 30000, "min": 1, "max": 300000,
     "description": "Time allowed for the request, in milliseconds."}
  ],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [{"name": "main", "type": "json"}],
  "credential_types": ["slack_webhook", "slack_token"],
  "flags": ["side_effects"]
})json";

namespace {

// Slack Web API errors worth retrying: Slack's own trouble or rate limiting. Every other error
// (channel_not_found, not_in_channel, invalid_auth, ...) fails the same way on every attempt.
bool retryable_slack_error(std::string_view e) {
  return e == "ratelimited" || e == "rate_limited" || e == "internal_error" || e == "fatal_error" ||
         e == "service_unavailable" || e == "request_timeout";
}

bool valid_ts(std::string_view ts) {
  if (ts.empty()) return false;
  for (char c : ts)
    if (!((c >= '0' && c <= '9') || c == '.')) return false;
  return true;
}

}  // namespace

void SlackMessageNode::execute(Context& ctx) const {
  auto& alloc = ctx.allocator();

  auto mode = ctx.select_param("mode", {"webhook", "token"}, "webhook");
  if (!mode) return;
  const bool token_mode = *mode == "token";
  auto channel = ctx.string_param("channel", "", 200);
  if (!channel) return;
  if (token_mode && channel->empty())
    return ctx.invalid_input("missing_parameter",
                             who(ctx) + "parameter 'channel' is required in mode \"token\"");
  auto text = ctx.string_param("text", "", 40000);
  if (!text) return;
  const Value* blocks = ctx.param("blocks");
  if (blocks && blocks->IsNull()) blocks = nullptr;
  if (blocks) {
    if (!blocks->IsArray())
      return ctx.invalid_parameter(
          "blocks", std::string("must be an array of blocks, not ") + sdk::json_type_name(*blocks));
    if (blocks->Size() > 50)
      return ctx.invalid_parameter("blocks", "has more than 50 blocks (Slack's limit)");
    for (const auto& b : blocks->GetArray())
      if (!b.IsObject()) return ctx.invalid_parameter("blocks", "must hold only block objects");
  }
  if (text->empty() && (!blocks || blocks->Empty()))
    return ctx.invalid_input("missing_parameter", who(ctx) + "set 'text', 'blocks' or both");
  auto thread_ts = ctx.string_param("thread_ts", "", 64);
  if (!thread_ts) return;
  if (!thread_ts->empty() && !valid_ts(*thread_ts))
    return ctx.invalid_parameter("thread_ts", "must be a Slack message ts such as \"1712345678.000100\"");
  const Value* unfurl = ctx.param("unfurl_links");
  if (unfurl && !unfurl->IsNull() && !unfurl->IsBool())
    return ctx.invalid_parameter("unfurl_links",
                                 std::string("must be a boolean, not ") + sdk::json_type_name(*unfurl));
  auto api_url = ctx.string_param("api_url", "https://slack.com/api", 2048);
  if (!api_url) return;
  std::string base(*api_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (token_mode && !looks_like_http_url(base))
    return ctx.invalid_parameter("api_url", "must be an http:// or https:// URL");
  auto timeout = ctx.integer_param("timeout_ms", 30000, 1, 300000);
  if (!timeout) return;

  // ---- the request ---------------------------------------------------------------------------
  Value payload(rapidjson::kObjectType);
  if (token_mode) payload.AddMember("channel", sdk::make_string(*channel, alloc), alloc);
  if (!text->empty()) payload.AddMember("text", sdk::make_string(*text, alloc), alloc);
  if (blocks) payload.AddMember("blocks", Value(*blocks, alloc), alloc);
  if (!thread_ts->empty()) payload.AddMember("thread_ts", sdk::make_string(*thread_ts, alloc), alloc);
  if (unfurl && unfurl->IsBool()) payload.AddMember("unfurl_links", Value(unfurl->GetBool()), alloc);

  auto effective_timeout = effective_timeout_ms(ctx, *timeout);
  if (!effective_timeout) return;
  Value req(rapidjson::kObjectType);
  req.AddMember("method", "POST", alloc);
  std::string target, display_url;
  if (token_mode) {
    const std::string url = base + "/chat.postMessage";
    req.AddMember("url", sdk::make_string(url, alloc), alloc);
    display_url = url_for_display(url);
    target = "POST " + display_url;
  } else {
    // The webhook URL is the secret: the host fills it in, and no message names it.
    target = "POST to the Slack webhook";
  }
  Value headers(rapidjson::kObjectType);
  headers.AddMember("Content-Type", "application/json; charset=utf-8", alloc);
  req.AddMember("headers", std::move(headers), alloc);
  req.AddMember("json", std::move(payload), alloc);
  req.AddMember("timeout_ms", Value(*effective_timeout), alloc);
  req.AddMember("credential", sdk::make_string(kCredentialRef, alloc), alloc);

  auto resp = send_request(ctx, req, target, display_url);
  if (!resp) return;

  // ---- the answer ----------------------------------------------------------------------------
  if (!token_mode) {
    // Webhooks answer 200 "ok", or an error status with the error as plain text
    // ("invalid_payload", "channel_is_archived", ...).
    if (resp->status >= 400) {
      std::string error = resp->body_is_base64 ? std::string() : utf8_preview(resp->body, 200);
      Value extra(rapidjson::kObjectType);
      extra.AddMember("error", sdk::make_string(error, alloc), alloc);
      const bool retryable = retryable_status(resp->status);
      return fail_with_response(ctx, *resp, "slack_error",
                                who(ctx) + target + " answered " + std::to_string(resp->status) +
                                    (error.empty() ? std::string() : ": " + error),
                                retryable, retryable ? retry_after_of(*resp) : std::nullopt, &extra);
    }
    Value out(rapidjson::kObjectType);
    out.AddMember("ok", true, alloc);
    return ctx.output("main", std::move(out));
  }

  sdk::Document answer(&alloc);
  const bool is_json =
      !resp->body_is_base64 && sdk::parse_json(resp->body, answer).empty() && answer.IsObject();
  if (resp->status >= 400) {
    std::string error;
    if (is_json)
      if (const Value* e = sdk::find_member(answer, "error"); e && e->IsString())
        error = std::string(sdk::str_of(*e));
    Value extra(rapidjson::kObjectType);
    if (!error.empty()) extra.AddMember("error", sdk::make_string(error, alloc), alloc);
    const bool retryable = retryable_status(resp->status);
    return fail_with_response(ctx, *resp, "slack_error",
                              who(ctx) + target + " answered " + std::to_string(resp->status) +
                                  (error.empty() ? std::string() : ": " + error),
                              retryable, retryable ? retry_after_of(*resp) : std::nullopt, &extra);
  }
  if (!is_json) {
    return fail_with_response(ctx, *resp, "invalid_response",
                              who(ctx) + target + " answered " + std::to_string(resp->status) +
                                  " with a body that is not a JSON object",
                              true, std::nullopt);
  }
  const Value* ok = sdk::find_member(answer, "ok");
  if (!ok || !ok->IsBool() || !ok->GetBool()) {
    const Value* e = sdk::find_member(answer, "error");
    const std::string error =
        e && e->IsString() ? std::string(sdk::str_of(*e)) : std::string("unknown_error");
    Value extra(rapidjson::kObjectType);
    extra.AddMember("error", sdk::make_string(error, alloc), alloc);
    const bool retryable = retryable_slack_error(error);
    return fail_with_response(ctx, *resp, "slack_error", who(ctx) + "Slack refused the message: " + error,
                              retryable, retryable ? retry_after_of(*resp) : std::nullopt, &extra);
  }
  Value out(rapidjson::kObjectType);
  out.AddMember("ok", true, alloc);
  const Value* ch = sdk::find_member(answer, "channel");
  out.AddMember("channel", ch && ch->IsString() ? Value(*ch, alloc) : sdk::make_string(*channel, alloc),
                alloc);
  const Value* ts = sdk::find_member(answer, "ts");
  out.AddMember("ts", ts && ts->IsString() ? Value(*ts, alloc) : Value(), alloc);
  ctx.output("main", std::move(out));
}

}  // namespace weft::integrations
