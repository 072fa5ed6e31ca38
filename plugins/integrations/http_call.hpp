// Calling the host's guarded HTTP client from a node, and turning what comes back into node
// results. Shared by every node of the pack so that transport errors, HTTP error statuses and
// Retry-After are mapped the same way everywhere (docs/nodes-integrations.md "Errors").
//
// The request travels as the host's JSON form (host/net/outbound.hpp, request_from_json) plus
// "credential": "<name under data.credentials>", which the host resolves and applies itself: the
// plugin never sees a secret.
//
// Thread-safety: stateless; everything works on the caller's Context.
#pragma once

#include <weft/sdk.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::integrations {

using sdk::Context;
using sdk::Value;

// The name under a node's data.credentials that every node of this pack uses.
inline constexpr std::string_view kCredentialRef = "auth";

// Longest excerpt of a response body put into an error's details.
inline constexpr size_t kBodyPreviewBytes = 512;

struct HttpResponse {
  int64_t status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case, as the host sends them
  std::string body;             // the body as text, or base64 when body_is_base64
  bool body_is_base64 = false;  // the host sends bodies that are not UTF-8 as base64
  std::string url;              // the final URL, after redirects

  // The value of header `lower_name`, "" when absent.
  std::string header(std::string_view lower_name) const;
  bool has_header(std::string_view lower_name) const;
  // A short excerpt of the body for error details (never the whole body).
  std::string body_preview() const;
};

// "node '<id>' (<type>): " — the prefix of every message a node of this pack writes.
std::string who(const Context& ctx);

// The per-request timeout to send: `requested`, shortened to the attempt's remaining time when the
// host set a deadline. nullopt (and a WEFT_ERR_TIMEOUT recorded on ctx) when the deadline passed.
std::optional<int64_t> effective_timeout_ms(Context& ctx, int64_t requested);

// Sends `request` through ctx.http_request. `target` names the call in messages ("POST
// https://api.example.com/things", never a query string or a secret URL). On a transport error it
// records the mapped error on ctx and returns nullopt:
//   timeout                                 -> WEFT_ERR_TIMEOUT
//   address_blocked, scheme_not_allowed     -> WEFT_ERR_DENIED
//   invalid_url, invalid_request            -> WEFT_ERR_INVALID_INPUT
//   credential_not_found                    -> WEFT_ERR_NOT_FOUND
//   cancelled                               -> WEFT_ERR_CANCELLED
//   unsupported (no HTTP service)           -> WEFT_ERR_UNSUPPORTED
//   anything else                           -> the host's status, WEFT_ERR_FAILED by default
// The error keeps the host's code; its details are the host's plus {"url": display_url} unless
// display_url is empty (a URL that is itself a secret, such as a Slack webhook).
std::optional<HttpResponse> send_request(Context& ctx, const Value& request, std::string_view target,
                                         std::string_view display_url);

// Whether an HTTP error status is worth retrying: 408, 429 and every 5xx. Other 4xx are
// permanent (the same request would fail the same way).
bool retryable_status(int64_t status);

// The wait the response asks for before a retry (Retry-After: seconds or HTTP-date), in ms.
std::optional<int64_t> retry_after_of(const HttpResponse& r);

// Records the failure of a call that got an HTTP answer: WEFT_ERR_FAILED when `retryable`, else
// WEFT_ERR_INVALID_INPUT, with details {"status", "retry_after_ms" (when known), "body_preview",
// ...extra's members}.
void fail_with_response(Context& ctx, const HttpResponse& r, std::string_view code, std::string_view message,
                        bool retryable, std::optional<int64_t> retry_after_ms, const Value* extra = nullptr);

// The standard treatment of a status >= 400: retryable per retryable_status(), retry_after_ms from
// Retry-After, code `code`, message "<who><target> answered <status>[: <detail>]".
void fail_for_status(Context& ctx, const HttpResponse& r, std::string_view code, std::string_view target,
                     std::string_view detail = {});

// Wall-clock Unix milliseconds (for HTTP dates and rate-limit resets).
int64_t unix_now_ms();

}  // namespace weft::integrations
