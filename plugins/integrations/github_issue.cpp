// github.issue — creates, reads, lists, comments on and updates GitHub issues through the REST API
// (api.github.com or a GitHub Enterprise Server), with a github_token credential applied by the host.
#include <string>
#include <utility>
#include <vector>

#include "http_call.hpp"
#include "nodes.hpp"
#include "text_util.hpp"

namespace weft::integrations {

const std::string_view GithubIssueNode::schema = R"json({
  "display_name": "GitHub issue",
  "description": "Works with the issues of a GitHub repository. operation create: opens an issue (title required; body, labels optional). get: reads issue issue_number. list: lists issues (state open/closed/all, labels, per_page, page; pull requests appear too, as in GitHub's API) and outputs {items: [...]}. comment: adds a comment (body) to issue issue_number. update: changes title, body, state (open/closed) and/or labels (which replace the current ones). Outputs GitHub's JSON as is. Uses the node's credential 'auth' (github_token). GitHub's error message is part of the node's error; 4xx answers are not retried, except rate limiting (403/429 with x-ratelimit-remaining 0 or Retry-After), which is retried after the reset time GitHub names.",
  "category": "integration",
  "fields": [
    {"name": "operation", "type": "select", "options": ["create", "get", "list", "comment", "update"], "required": true,
     "description": "What to do."},
    {"name": "owner", "type": "string", "required": true, "max_length": 100,
     "description": "The account that owns the repository (user or organisation)."},
    {"name": "repo", "type": "string", "required": true, "max_length": 100,
     "description": "The repository name."},
    {"name": "issue_number", "type": "integer", "required": false, "min": 1,
     "description": "The issue number (get, comment, update)."},
    {"name": "title", "type": "string", "required": false, "max_length": 1024,
     "description": "The issue title (required for create; update changes it when set)."},
    {"name": "body", "type": "string", "required": false, "max_length": 65536,
     "description": "Issue text (create, update) or the comment (comment, required), in Markdown."},
    {"name": "labels", "type": "json", "required": false,
     "description": "An array of label names. create/update: the issue's labels (update replaces them). list: only issues with all of these labels."},
    {"name": "state", "type": "select", "options": ["open", "closed", "all"], "required": false,
     "description": "update: open or closed. list: which issues (default open)."},
    {"name": "per_page", "type": "integer", "required": false, "default": 30, "min": 1, "max": 100,
     "description": "list: issues per page."},
    {"name": "page", "type": "integer", "required": false, "default": 1, "min": 1, "max": 100000,
     "description": "list: the page to read, from 1."},
    {"name": "api_url", "type": "string", "required": false, "default": "https://api.github.com", "max_length": 2048,
     "description": "Base URL of the REST API: https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise Server."},
    {"name": "timeout_ms", "type": "integer", "required": false, "default": 30000, "min": 1, "max": 300000,
     "description": "Time allowed for the request, in milliseconds."}
  ],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [{"name": "main", "type": "json"}],
  "credential_types": ["github_token"],
  "flags": ["side_effects"]
})json";

namespace {

// Owner and repository names end up in the URL path: only GitHub's own character set, and never
// a "." or ".." segment.
bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 100 || n == "." || n == "..") return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.'))
      return false;
  return true;
}

// labels: an array of non-empty strings without commas (GitHub's list filter joins them with ',').
std::optional<std::vector<std::string>> read_labels(Context& ctx) {
  std::vector<std::string> out;
  const Value* v = ctx.param("labels");
  if (!v || v->IsNull()) return out;
  if (!v->IsArray()) {
    ctx.invalid_parameter("labels",
                          std::string("must be an array of label names, not ") + sdk::json_type_name(*v));
    return std::nullopt;
  }
  for (const auto& l : v->GetArray()) {
    if (!l.IsString() || l.GetStringLength() == 0 || l.GetStringLength() > 100 ||
        sdk::str_of(l).find(',') != std::string_view::npos) {
      ctx.invalid_parameter("labels",
                            "must hold label names: non-empty strings of at most 100 characters without ','");
      return std::nullopt;
    }
    out.emplace_back(sdk::str_of(l));
  }
  return out;
}

// The rate-limit wait GitHub asks for, when the answer is a rate limit at all: primary limits
// (x-ratelimit-remaining: 0, wait until x-ratelimit-reset, Unix seconds) and secondary limits
// (Retry-After).
std::optional<int64_t> rate_limit_wait(const HttpResponse& r) {
  if (r.status != 403 && r.status != 429) return std::nullopt;
  if (r.has_header("retry-after"))
    if (auto wait = retry_after_of(r)) return wait;
  if (r.header("x-ratelimit-remaining") == "0") {
    const std::string reset = r.header("x-ratelimit-reset");
    int64_t seconds = 0;
    bool digits = !reset.empty() && reset.size() <= 12;
    for (char c : reset) {
      if (c < '0' || c > '9') digits = false;
      if (digits) seconds = seconds * 10 + (c - '0');
    }
    if (!digits)
      return int64_t{60000};  // a limit without a usable reset: GitHub's windows are minutes to an hour
    const int64_t wait = seconds * 1000 - unix_now_ms();
    return wait > 0 ? wait : 0;
  }
  return std::nullopt;
}

}  // namespace

void GithubIssueNode::execute(Context& ctx) const {
  auto& alloc = ctx.allocator();

  auto op = ctx.select_param("operation", {"create", "get", "list", "comment", "update"});
  if (!op) return;
  auto owner = ctx.string_param("owner", std::nullopt, 100);
  if (!owner) return;
  if (!valid_name(*owner))
    return ctx.invalid_parameter("owner", "must be a GitHub account name ([A-Za-z0-9_.-])");
  auto repo = ctx.string_param("repo", std::nullopt, 100);
  if (!repo) return;
  if (!valid_name(*repo)) return ctx.invalid_parameter("repo", "must be a repository name ([A-Za-z0-9_.-])");
  auto api_url = ctx.string_param("api_url", "https://api.github.com", 2048);
  if (!api_url) return;
  std::string base(*api_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (!looks_like_http_url(base))
    return ctx.invalid_parameter("api_url", "must be an http:// or https:// URL");
  auto timeout = ctx.integer_param("timeout_ms", 30000, 1, 300000);
  if (!timeout) return;
  auto labels = read_labels(ctx);
  if (!labels) return;
  const bool labels_set = ctx.param("labels") && !ctx.param("labels")->IsNull();

  const bool needs_number = *op == "get" || *op == "comment" || *op == "update";
  int64_t number = 0;
  if (needs_number) {
    auto n = ctx.integer_param("issue_number", std::nullopt, 1, 1000000000000LL);
    if (!n) return;
    number = *n;
  }

  std::string method = "GET";
  std::string path = "/repos/" + std::string(*owner) + "/" + std::string(*repo) + "/issues";
  if (needs_number) path += "/" + std::to_string(number);
  Value payload(rapidjson::kObjectType);
  bool send_payload = false;
  std::vector<std::pair<std::string, std::string>> query;

  if (*op == "create" || *op == "update") {
    auto title = ctx.string_param("title", "", 1024);
    if (!title) return;
    auto body = ctx.string_param("body", "", 65536);
    if (!body) return;
    const Value* body_v = ctx.param("body");
    const bool body_set = body_v && !body_v->IsNull();
    if (*op == "create" && title->empty())
      return ctx.invalid_input("missing_parameter", who(ctx) + "operation create needs a 'title'");
    if (!title->empty()) payload.AddMember("title", sdk::make_string(*title, alloc), alloc);
    if (body_set) payload.AddMember("body", sdk::make_string(*body, alloc), alloc);
    if (labels_set) {
      Value arr(rapidjson::kArrayType);
      for (const auto& l : *labels) arr.PushBack(sdk::make_string(l, alloc), alloc);
      payload.AddMember("labels", std::move(arr), alloc);
    }
    if (*op == "update") {
      auto state = ctx.string_param("state", "", 16);
      if (!state) return;
      if (!state->empty()) {
        if (*state != "open" && *state != "closed")
          return ctx.invalid_parameter("state", "must be \"open\" or \"closed\" for operation update");
        payload.AddMember("state", sdk::make_string(*state, alloc), alloc);
      }
      if (payload.MemberCount() == 0)
        return ctx.invalid_input(
            "missing_parameter",
            who(ctx) + "operation update needs at least one of title, body, state, labels");
      method = "PATCH";
    } else {
      method = "POST";
    }
    send_payload = true;
  } else if (*op == "comment") {
    auto body = ctx.string_param("body", std::nullopt, 65536);
    if (!body) return;
    if (body->empty()) return ctx.invalid_parameter("body", "must not be empty for operation comment");
    payload.AddMember("body", sdk::make_string(*body, alloc), alloc);
    path += "/comments";
    method = "POST";
    send_payload = true;
  } else if (*op == "list") {
    auto state = ctx.select_param("state", {"open", "closed", "all"}, "open");
    if (!state) return;
    auto per_page = ctx.integer_param("per_page", 30, 1, 100);
    if (!per_page) return;
    auto page = ctx.integer_param("page", 1, 1, 100000);
    if (!page) return;
    query.emplace_back("state", std::string(*state));
    query.emplace_back("per_page", std::to_string(*per_page));
    query.emplace_back("page", std::to_string(*page));
    if (!labels->empty()) {
      std::string joined;
      for (const auto& l : *labels) joined += (joined.empty() ? "" : ",") + l;
      query.emplace_back("labels", joined);
    }
  }

  // ---- the request ---------------------------------------------------------------------------
  auto effective_timeout = effective_timeout_ms(ctx, *timeout);
  if (!effective_timeout) return;
  const std::string url = append_query(base + path, encode_pairs(query));
  Value req(rapidjson::kObjectType);
  req.AddMember("method", sdk::make_string(method, alloc), alloc);
  req.AddMember("url", sdk::make_string(url, alloc), alloc);
  Value headers(rapidjson::kObjectType);
  headers.AddMember("Accept", "application/vnd.github+json", alloc);
  headers.AddMember("X-GitHub-Api-Version", "2022-11-28", alloc);
  req.AddMember("headers", std::move(headers), alloc);
  if (send_payload) req.AddMember("json", std::move(payload), alloc);
  req.AddMember("timeout_ms", Value(*effective_timeout), alloc);
  req.AddMember("credential", sdk::make_string(kCredentialRef, alloc), alloc);

  const std::string display_url = url_for_display(url);
  const std::string target = method + " " + display_url;
  auto resp = send_request(ctx, req, target, display_url);
  if (!resp) return;

  // ---- the answer ----------------------------------------------------------------------------
  sdk::Document answer(&alloc);
  const bool is_json = !resp->body_is_base64 && sdk::parse_json(resp->body, answer).empty();
  if (resp->status >= 400) {
    std::string message;
    Value extra(rapidjson::kObjectType);
    if (is_json && answer.IsObject()) {
      if (const Value* m = sdk::find_member(answer, "message"); m && m->IsString()) {
        message = utf8_preview(sdk::str_of(*m), 300);
        extra.AddMember("github_message", sdk::make_string(message, alloc), alloc);
      }
      if (const Value* errs = sdk::find_member(answer, "errors"); errs && errs->IsArray())
        extra.AddMember("errors", Value(*errs, alloc), alloc);
    }
    auto limited = rate_limit_wait(*resp);
    const bool retryable = limited.has_value() || retryable_status(resp->status);
    std::optional<int64_t> wait = limited ? limited : (retryable ? retry_after_of(*resp) : std::nullopt);
    std::string text = who(ctx) + target + " answered " + std::to_string(resp->status);
    if (limited) text += " (rate limited)";
    if (!message.empty()) text += ": " + message;
    return fail_with_response(ctx, *resp, "github_error", text, retryable, wait, &extra);
  }
  if (!is_json || (*op == "list" ? !answer.IsArray() : !answer.IsObject())) {
    return fail_with_response(ctx, *resp, "invalid_response",
                              who(ctx) + target + " answered " + std::to_string(resp->status) +
                                  " with a body that is not " +
                                  (*op == "list" ? "a JSON array" : "a JSON object"),
                              true, std::nullopt);
  }
  if (*op == "list") {
    Value out(rapidjson::kObjectType);
    out.AddMember("items", Value(std::move(static_cast<Value&>(answer))), alloc);
    return ctx.output("main", std::move(out));
  }
  ctx.output("main", Value(std::move(static_cast<Value&>(answer))));
}

}  // namespace weft::integrations
