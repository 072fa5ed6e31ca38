#include "http_call.hpp"

#include <chrono>

#include "text_util.hpp"

namespace weft::integrations {

namespace {

weft_status status_for_transport_error(std::string_view code, weft_status host_status) {
  if (code == "timeout") return WEFT_ERR_TIMEOUT;
  if (code == "address_blocked" || code == "scheme_not_allowed") return WEFT_ERR_DENIED;
  if (code == "invalid_url" || code == "invalid_request") return WEFT_ERR_INVALID_INPUT;
  if (code == "credential_not_found") return WEFT_ERR_NOT_FOUND;
  if (code == "cancelled") return WEFT_ERR_CANCELLED;
  if (code == "unsupported") return WEFT_ERR_UNSUPPORTED;
  switch (host_status) {
    case WEFT_ERR_INVALID_INPUT:
    case WEFT_ERR_FAILED:
    case WEFT_ERR_TIMEOUT:
    case WEFT_ERR_CANCELLED:
    case WEFT_ERR_UNSUPPORTED:
    case WEFT_ERR_NOT_FOUND:
    case WEFT_ERR_DENIED:
      return host_status;
    default:
      return WEFT_ERR_FAILED;
  }
}

std::string string_member(const Value& obj, std::string_view key) {
  const Value* v = sdk::find_member(obj, key);
  return v && v->IsString() ? std::string(sdk::str_of(*v)) : std::string();
}

}  // namespace

std::string HttpResponse::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return {};
}

bool HttpResponse::has_header(std::string_view lower_name) const {
  for (const auto& h : headers)
    if (h.first == lower_name) return true;
  return false;
}

std::string HttpResponse::body_preview() const {
  if (body_is_base64) return "(" + std::to_string(body.size() / 4 * 3) + " bytes of binary data)";
  return utf8_preview(body, kBodyPreviewBytes);
}

std::string who(const Context& ctx) {
  return "node '" + std::string(ctx.node_id()) + "' (" + std::string(ctx.type_name()) + "): ";
}

int64_t unix_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::optional<int64_t> effective_timeout_ms(Context& ctx, int64_t requested) {
  auto remaining = ctx.remaining_ms();
  if (!remaining) return requested;
  if (*remaining <= 0) {
    ctx.fail_with_status(WEFT_ERR_TIMEOUT, "timeout",
                         who(ctx) + "the node's deadline passed before the request");
    return std::nullopt;
  }
  return *remaining < requested ? *remaining : requested;
}

std::optional<HttpResponse> send_request(Context& ctx, const Value& request, std::string_view target,
                                         std::string_view display_url) {
  std::string request_text;
  if (!sdk::write_json(request, request_text)) {
    ctx.invalid_input("invalid_request", who(ctx) + "the request cannot be written as JSON (invalid UTF-8?)");
    return std::nullopt;
  }
  std::string out, err;
  const weft_status st = ctx.http_request(request_text, out, err);
  auto& alloc = ctx.allocator();

  if (st != WEFT_OK) {
    sdk::Document e(&alloc);
    std::string code = "http_failed", message = "the HTTP request failed";
    Value details(rapidjson::kObjectType);
    if (sdk::parse_json(err, e).empty() && e.IsObject()) {
      if (auto c = string_member(e, "code"); !c.empty()) code = c;
      if (auto m = string_member(e, "message"); !m.empty()) message = m;
      if (const Value* d = sdk::find_member(e, "details"); d && d->IsObject()) details.CopyFrom(*d, alloc);
    }
    if (!display_url.empty() && !sdk::find_member(details, "url"))
      details.AddMember("url", sdk::make_string(display_url, alloc), alloc);
    ctx.fail_with_status(status_for_transport_error(code, st), code,
                         who(ctx) + std::string(target) + " failed: " + message, &details);
    return std::nullopt;
  }

  sdk::Document doc(&alloc);
  if (!sdk::parse_json(out, doc).empty() || !doc.IsObject()) {
    ctx.fail_with_status(WEFT_ERR_INTERNAL, "invalid_host_response",
                         who(ctx) + "the host's HTTP service answered something that is not a JSON object");
    return std::nullopt;
  }
  HttpResponse r;
  const Value* status = sdk::find_member(doc, "status");
  if (!status || !status->IsInt64()) {
    ctx.fail_with_status(WEFT_ERR_INTERNAL, "invalid_host_response",
                         who(ctx) + "the host's HTTP response has no integer \"status\"");
    return std::nullopt;
  }
  r.status = status->GetInt64();
  if (const Value* h = sdk::find_member(doc, "headers")) {
    if (h->IsObject()) {
      for (auto it = h->MemberBegin(); it != h->MemberEnd(); ++it)
        if (it->value.IsString())
          r.headers.emplace_back(to_lower(sdk::str_of(it->name)), std::string(sdk::str_of(it->value)));
    } else if (h->IsArray()) {  // [[name, value], ...]
      for (const auto& pair : h->GetArray())
        if (pair.IsArray() && pair.Size() == 2 && pair[0].IsString() && pair[1].IsString())
          r.headers.emplace_back(to_lower(sdk::str_of(pair[0])), std::string(sdk::str_of(pair[1])));
    }
  }
  if (const Value* b = sdk::find_member(doc, "body_base64"); b && b->IsString()) {
    r.body = std::string(sdk::str_of(*b));
    r.body_is_base64 = true;
  } else {
    r.body = string_member(doc, "body");
  }
  r.url = string_member(doc, "url");
  return r;
}

bool retryable_status(int64_t status) {
  return status == 408 || status == 429 || status >= 500;
}

std::optional<int64_t> retry_after_of(const HttpResponse& r) {
  if (!r.has_header("retry-after")) return std::nullopt;
  return retry_after_ms(r.header("retry-after"), unix_now_ms());
}

void fail_with_response(Context& ctx, const HttpResponse& r, std::string_view code, std::string_view message,
                        bool retryable, std::optional<int64_t> retry_after, const Value* extra) {
  auto& alloc = ctx.allocator();
  Value details(rapidjson::kObjectType);
  details.AddMember("status", Value(r.status), alloc);
  if (retry_after) details.AddMember("retry_after_ms", Value(*retry_after), alloc);
  details.AddMember("body_preview", sdk::make_string(r.body_preview(), alloc), alloc);
  if (extra && extra->IsObject())
    for (auto it = extra->MemberBegin(); it != extra->MemberEnd(); ++it)
      details.AddMember(Value(it->name, alloc), Value(it->value, alloc), alloc);
  ctx.fail(code, message, &details, retryable);
}

void fail_for_status(Context& ctx, const HttpResponse& r, std::string_view code, std::string_view target,
                     std::string_view detail) {
  std::string message = who(ctx) + std::string(target) + " answered " + std::to_string(r.status);
  if (!detail.empty()) message += ": " + std::string(detail);
  const bool retryable = retryable_status(r.status);
  fail_with_response(ctx, r, code, message, retryable, retryable ? retry_after_of(r) : std::nullopt);
}

}  // namespace weft::integrations
