// Text helpers of the integrations pack that need no JSON: encodings, HTTP header values, URL
// pieces. Deliberately free of RapidJSON so that tests can compile this file directly into a test
// binary (see weft/sdk.hpp on mixing RapidJSON configurations).
//
// Thread-safety: every function is pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::integrations {

// Standard base64 (RFC 4648 §4) with padding.
std::string base64_encode(std::string_view bytes);

// Percent-encodes everything but the RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~); a
// space becomes %20. Used for query strings and form bodies alike.
std::string url_encode(std::string_view text);

// "k1=v1&k2=v2" from pairs, each side url_encode()d, in the given order.
std::string encode_pairs(const std::vector<std::pair<std::string, std::string>>& pairs);

// `url` with `query` appended: "?query" when the URL has no query yet, "&query" otherwise
// (inserted before a '#fragment' if there is one). An empty query leaves the URL unchanged.
std::string append_query(std::string_view url, std::string_view query);

// `url` without its query string, fragment and user:password@: safe to show in messages (query
// strings often carry keys and tokens).
std::string url_for_display(std::string_view url);

// `url` with every query parameter called `name` removed (used to drop an API key that the host
// added from a credential before the URL is shown to the workflow).
std::string remove_query_param(std::string_view url, std::string_view name);

// Unix milliseconds of an HTTP-date (RFC 9110 §5.6.7): IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT",
// the obsolete RFC 850 form "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994".
// nullopt when `text` is none of them or names an impossible date.
std::optional<int64_t> parse_http_date_ms(std::string_view text);

// The wait a Retry-After header value asks for, in milliseconds from `now_unix_ms`: delay-seconds
// (a non-negative integer; a fraction is tolerated) or an HTTP-date (a date in the past means 0).
// nullopt when the value is neither. Capped at 30 days.
std::optional<int64_t> retry_after_ms(std::string_view value, int64_t now_unix_ms);

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or values past U+10FFFF).
bool valid_utf8(std::string_view text);

// The longest prefix of `text` of at most `max_bytes` bytes that does not cut a UTF-8 sequence,
// followed by "..." when something was cut off.
std::string utf8_preview(std::string_view text, size_t max_bytes);

std::string to_lower(std::string_view text);
std::string to_upper(std::string_view text);

// An HTTP header field name: a non-empty RFC 9110 token.
bool valid_header_name(std::string_view name);
// A header value the client can send as is: no CR, LF or NUL.
bool valid_header_value(std::string_view value);

// True when `url` starts with "http://" or "https://" (case-insensitive) and holds no whitespace
// or control characters. The host's guarded client does the real parsing and policy checks.
bool looks_like_http_url(std::string_view url);

}  // namespace weft::integrations
