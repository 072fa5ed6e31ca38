// http.request — one HTTP request through the host's guarded client, with an optional credential
// that the host applies (bearer, basic, API-key header or query parameter).
#include <string>
#include <utility>
#include <vector>

#include "http_call.hpp"
#include "nodes.hpp"
#include "text_util.hpp"

namespace weft::integrations {

const std::string_view HttpRequestNode::schema = R"json({
  "display_name": "HTTP request",
  "description": "Sends one HTTP request and outputs the response as {status, headers, body, body_encoding, url}. Requests go through the host's guarded client: only http and https, private and internal addresses are blocked (also after redirects) unless the administrator allows them, and responses are capped in size and time. With authentication 'credential' the credential named 'auth' in the node's credentials (an http_bearer, http_basic, http_header or http_query credential) is applied by the host; the node never sees the secret. By default an answer with status 400 or above fails the node: 408, 429 and 5xx are retryable (the node's retry settings apply, and a Retry-After header sets the minimum wait), any other 4xx is not. Set fail_on_status to false to receive every answer as output instead.",
  "category": "integration",
  "fields": [
    {"name": "method", "type": "select", "options": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
     "default": "GET", "required": false, "description": "The HTTP method."},
    {"name": "url", "type": "string", "required": true, "max_length": 8192,
     "description": "The URL, http:// or https://. May already carry a query string; 'query' is appended to it."},
    {"name": "authentication", "type": "select", "options": ["none", "credential"], "default": "none", "required": false,
     "description": "none: send no credentials. credential: the host applies the node's credential 'auth' (data.credentials.auth)."},
    {"name": "query", "type": "json", "required": false, "default": {},
     "description": "Query parameters to append, as an object. Values may be strings, numbers or booleans; an array repeats the parameter; null leaves it out."},
    {"name": "headers", "type": "json", "required": false, "default": {},
     "description": "Request headers, as an object of name to value (strings, numbers or booleans; null leaves the header out). Host, Content-Length, Transfer-Encoding and Connection are set by the client and cannot be given."},
    {"name": "body_type", "type": "select", "options": ["none", "json", "form", "raw"], "required": false,
     "description": "How to send 'body'. none: no body. json: 'body' as JSON (Content-Type application/json unless a header says otherwise). form: 'body' (an object) URL-encoded as application/x-www-form-urlencoded. raw: 'body' (a string) as is, with 'content_type'. Unset: json when a body is given, none otherwise."},
    {"name": "body", "type": "json", "required": false,
     "description": "The request body: any JSON value for json, an object for form, a string for raw."},
    {"name": "content_type", "type": "string", "required": false, "default": "text/plain; charset=utf-8", "max_length": 256,
     "description": "The Content-Type of a raw body (a Content-Type in 'headers' takes precedence)."},
    {"name": "response_format", "type": "select", "options": ["auto", "json", "text", "binary"], "default": "auto", "required": false,
     "description": "How to read the response body. auto: parsed JSON when the Content-Type is JSON and the body parses, text when it is UTF-8, base64 otherwise. json: must be JSON (an empty body is null). text: must be UTF-8. binary: always base64. 'body_encoding' in the output says which was used (json, text or base64)."},
    {"name": "timeout_ms", "type": "integer", "required": false, "default": 30000, "min": 1, "max": 300000,
     "description": "Total time allowed for the request, in milliseconds (also bounded by the node's deadline and the administrator's maximum)."},
    {"name": "follow_redirects", "type": "boolean", "required": false, "default": true,
     "description": "Follow 301/302/303/307/308 redirects (each hop is checked again; credentials are dropped when a redirect leaves the original host). When false, a redirect is returned as the response."},
    {"name": "max_response_bytes", "type": "integer", "required": false, "default": 10485760, "min": 1, "max": 1073741824,
     "description": "Largest response body accepted; a larger one fails the node with response_too_large (the administrator's cap applies too)."},
    {"name": "fail_on_status", "type": "boolean", "required": false, "default": true,
     "description": "Fail the node when the status is 400 or above. When false every answer is output."}
  ],
  "inputs": [{"name": "main", "type": "any"}],
  "outputs": [{"name": "main", "type": "json"}],
  "credential_types": ["http_bearer", "http_basic", "http_header", "http_query"],
  "flags": ["side_effects"]
})json";

namespace {

constexpr std::string_view kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
// Framing headers the client owns; letting a workflow set them would break or smuggle requests.
constexpr std::string_view kReservedHeaders[] = {"host", "content-length", "transfer-encoding", "connection"};
// The query parameter the http_query credential type adds (credential_types.cpp).
constexpr std::string_view kQueryCredentialParam = "api_key";

// The text form of a scalar parameter value; nullopt for objects, arrays and null.
std::optional<std::string> scalar_text(const Value& v) {
  if (v.IsString()) return std::string(sdk::str_of(v));
  if (v.IsBool()) return std::string(v.GetBool() ? "true" : "false");
  if (v.IsNumber()) return sdk::to_json(v);
  return std::nullopt;
}

// Flattens {"k": scalar | [scalars] | null} into name/value pairs. Records an error on ctx and
// returns false when the object holds anything else.
bool read_pairs(Context& ctx, std::string_view field, const Value* obj,
                std::vector<std::pair<std::string, std::string>>& out) {
  if (!obj || obj->IsNull()) return true;
  if (!obj->IsObject()) {
    ctx.invalid_parameter(
        field, std::string("must be an object of name to value, not ") + sdk::json_type_name(*obj));
    return false;
  }
  for (auto it = obj->MemberBegin(); it != obj->MemberEnd(); ++it) {
    const std::string name(sdk::str_of(it->name));
    const Value& v = it->value;
    if (v.IsNull()) continue;
    if (v.IsArray()) {
      for (const auto& e : v.GetArray()) {
        auto text = scalar_text(e);
        if (!text) {
          ctx.invalid_parameter(std::string(field) + "." + name,
                                "must hold only strings, numbers or booleans");
          return false;
        }
        out.emplace_back(name, std::move(*text));
      }
      continue;
    }
    auto text = scalar_text(v);
    if (!text) {
      ctx.invalid_parameter(std::string(field) + "." + name,
                            std::string("must be a string, number, boolean or an array of them, not ") +
                                sdk::json_type_name(v));
      return false;
    }
    out.emplace_back(name, std::move(*text));
  }
  return true;
}

bool is_json_media_type(std::string_view content_type) {
  std::string mt = to_lower(content_type.substr(0, content_type.find(';')));
  while (!mt.empty() && (mt.back() == ' ' || mt.back() == '\t')) mt.pop_back();
  while (!mt.empty() && (mt.front() == ' ' || mt.front() == '\t')) mt.erase(mt.begin());
  return mt == "application/json" || mt == "text/json" ||
         (mt.size() > 5 && mt.compare(mt.size() - 5, 5, "+json") == 0);
}

}  // namespace

void HttpRequestNode::execute(Context& ctx) const {
  auto& alloc = ctx.allocator();

  // ---- parameters ----------------------------------------------------------------------------
  auto method_param = ctx.string_param("method", "GET", 16);
  if (!method_param) return;
  const std::string method = to_upper(*method_param);
  bool known_method = false;
  for (auto m : kMethods) known_method = known_method || m == method;
  if (!known_method)
    return ctx.invalid_parameter("method",
                                 "is \"" + std::string(*method_param) +
                                     "\"; expected one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS");

  auto url_param = ctx.string_param("url", std::nullopt, 8192);
  if (!url_param) return;
  if (!looks_like_http_url(*url_param))
    return ctx.invalid_parameter("url", "must be an http:// or https:// URL without spaces");

  auto auth = ctx.select_param("authentication", {"none", "credential"}, "none");
  if (!auth) return;
  const bool use_credential = *auth == "credential";

  std::vector<std::pair<std::string, std::string>> query;
  if (!read_pairs(ctx, "query", ctx.param("query"), query)) return;

  std::vector<std::pair<std::string, std::string>> headers;
  if (!read_pairs(ctx, "headers", ctx.param("headers"), headers)) return;
  bool has_content_type = false;
  for (const auto& [name, value] : headers) {
    if (!valid_header_name(name))
      return ctx.invalid_parameter("headers", "has an invalid header name \"" + name + "\"");
    if (!valid_header_value(value))
      return ctx.invalid_parameter("headers." + name, "must not contain line breaks or NUL characters");
    const std::string lower = to_lower(name);
    for (auto reserved : kReservedHeaders)
      if (lower == reserved)
        return ctx.invalid_parameter("headers." + name, "is set by the HTTP client and cannot be given");
    has_content_type = has_content_type || lower == "content-type";
  }

  const Value* body = ctx.param("body");
  if (body && body->IsNull()) body = nullptr;
  auto body_type = ctx.select_param("body_type", {"none", "json", "form", "raw"}, body ? "json" : "none");
  if (!body_type) return;
  auto content_type = ctx.string_param("content_type", "text/plain; charset=utf-8", 256);
  if (!content_type) return;
  if (!valid_header_value(*content_type))
    return ctx.invalid_parameter("content_type", "must not contain line breaks or NUL characters");

  auto format = ctx.select_param("response_format", {"auto", "json", "text", "binary"}, "auto");
  if (!format) return;
  auto timeout = ctx.integer_param("timeout_ms", 30000, 1, 300000);
  if (!timeout) return;
  auto follow = ctx.bool_param("follow_redirects", true);
  if (!follow) return;
  auto max_bytes = ctx.integer_param("max_response_bytes", 10485760, 1, 1073741824);
  if (!max_bytes) return;
  auto fail_on_status = ctx.bool_param("fail_on_status", true);
  if (!fail_on_status) return;

  // ---- the request ---------------------------------------------------------------------------
  Value req(rapidjson::kObjectType);
  const std::string url = append_query(*url_param, encode_pairs(query));
  req.AddMember("method", sdk::make_string(method, alloc), alloc);
  req.AddMember("url", sdk::make_string(url, alloc), alloc);

  if (*body_type == "none") {
    if (body)
      return ctx.invalid_parameter("body", "is set but body_type is \"none\"; choose json, form or raw");
  } else if (!body) {
    return ctx.invalid_parameter("body", "is required for body_type \"" + std::string(*body_type) + "\"");
  } else if (*body_type == "json") {
    req.AddMember("json", Value(*body, alloc), alloc);
  } else if (*body_type == "form") {
    if (!body->IsObject())
      return ctx.invalid_parameter(
          "body", std::string("must be an object for body_type \"form\", not ") + sdk::json_type_name(*body));
    std::vector<std::pair<std::string, std::string>> fields;
    if (!read_pairs(ctx, "body", body, fields)) return;
    req.AddMember("body", sdk::make_string(encode_pairs(fields), alloc), alloc);
    if (!has_content_type) headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  } else {  // raw
    if (!body->IsString())
      return ctx.invalid_parameter(
          "body", std::string("must be a string for body_type \"raw\", not ") + sdk::json_type_name(*body));
    req.AddMember("body", Value(*body, alloc), alloc);
    if (!has_content_type) headers.emplace_back("Content-Type", std::string(*content_type));
  }

  Value hdrs(rapidjson::kArrayType);
  for (const auto& [name, value] : headers) {
    Value pair(rapidjson::kArrayType);
    pair.PushBack(sdk::make_string(name, alloc), alloc);
    pair.PushBack(sdk::make_string(value, alloc), alloc);
    hdrs.PushBack(std::move(pair), alloc);
  }
  req.AddMember("headers", std::move(hdrs), alloc);

  auto effective_timeout = effective_timeout_ms(ctx, *timeout);
  if (!effective_timeout) return;
  req.AddMember("timeout_ms", Value(*effective_timeout), alloc);
  req.AddMember("follow_redirects", Value(*follow), alloc);
  req.AddMember("max_response_bytes", Value(*max_bytes), alloc);
  if (use_credential) req.AddMember("credential", sdk::make_string(kCredentialRef, alloc), alloc);

  const std::string display_url = url_for_display(url);
  const std::string target = method + " " + display_url;
  auto resp = send_request(ctx, req, target, display_url);
  if (!resp) return;

  if (*fail_on_status && resp->status >= 400) return fail_for_status(ctx, *resp, "http_error", target);

  // ---- the output ----------------------------------------------------------------------------
  Value out(rapidjson::kObjectType);
  out.AddMember("status", Value(resp->status), alloc);
  Value out_headers(rapidjson::kObjectType);
  for (const auto& [name, value] : resp->headers) {
    if (sdk::find_member(out_headers, name)) continue;  // the host already joined repeated headers
    out_headers.AddMember(sdk::make_string(name, alloc), sdk::make_string(value, alloc), alloc);
  }
  out.AddMember("headers", std::move(out_headers), alloc);

  const bool json_type = is_json_media_type(resp->header("content-type"));
  Value body_out;
  std::string_view encoding;
  if (*format == "binary" || (*format == "auto" && resp->body_is_base64)) {
    body_out = sdk::make_string(resp->body_is_base64 ? resp->body : base64_encode(resp->body), alloc);
    encoding = "base64";
  } else if (*format == "text") {
    if (resp->body_is_base64)
      return ctx.fail(
          "response_not_text",
          who(ctx) + target + " answered a body that is not UTF-8 text; use response_format \"binary\"",
          nullptr, false);
    body_out = sdk::make_string(resp->body, alloc);
    encoding = "text";
  } else {
    // json, or auto with text: parse when asked to, or when the Content-Type says JSON.
    sdk::Document parsed(&alloc);
    std::string perr;
    if (resp->body_is_base64) {
      perr = "the body is not UTF-8";
    } else if (resp->body.empty()) {
      parsed.SetNull();
    } else {
      perr = sdk::parse_json(resp->body, parsed);
    }
    if (*format == "json") {
      if (!perr.empty())
        return fail_with_response(ctx, *resp, "invalid_json_response",
                                  who(ctx) + target + " answered a body that is not JSON (" + perr + ")",
                                  false, std::nullopt);
      body_out = Value(std::move(static_cast<Value&>(parsed)));
      encoding = "json";
    } else if (json_type && perr.empty()) {
      body_out = Value(std::move(static_cast<Value&>(parsed)));
      encoding = "json";
    } else {
      body_out = sdk::make_string(resp->body, alloc);
      encoding = "text";
    }
  }
  out.AddMember("body", std::move(body_out), alloc);
  out.AddMember("body_encoding", sdk::make_string(encoding, alloc), alloc);
  // The final URL, without the API key the host may have added from an http_query credential:
  // downstream nodes (and their logs) have no business seeing it.
  std::string final_url = resp->url.empty() ? url : resp->url;
  if (use_credential) final_url = remove_query_param(final_url, kQueryCredentialParam);
  out.AddMember("url", sdk::make_string(final_url, alloc), alloc);
  ctx.output("main", std::move(out));
}

}  // namespace weft::integrations
