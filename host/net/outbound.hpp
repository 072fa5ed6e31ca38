// The guarded outbound HTTP client (PRODUCT.md §6, SECURITY.md "SSRF"): the only way node code
// reaches the network. libcurl underneath, with every decision made here:
//   - http and https only (libcurl's protocol set is restricted too, redirects included);
//   - the host name is resolved here, EVERY address is validated, and libcurl is pinned to the
//     validated addresses (CURLOPT_RESOLVE) and re-checks the address of each socket it opens
//     (CURLOPT_OPENSOCKETFUNCTION), so DNS rebinding between check and connect cannot succeed;
//   - blocked unless allowlisted: loopback, private (RFC 1918), unspecified (0.0.0.0/8, ::),
//     link-local (169.254/16, fe80::/10) incl. cloud metadata, CGNAT (100.64/10), multicast,
//     broadcast, reserved (240/4), benchmarking (198.18/15), documentation nets, unique local
//     (fc00::/7), IPv4-mapped/compatible IPv6 and NAT64 / 6to4 forms of any blocked IPv4
//     address, whatever the spelling (decimal, octal, hex, shortened forms);
//   - redirects are followed by hand (301/302/303/307/308), each hop re-validated; Authorization,
//     Cookie and Proxy-Authorization headers (and any header named in
//     OutboundRequest::sensitive_headers) are dropped when a hop changes origin; 303 (and
//     301/302 after POST) turn into GET without a body;
//   - caps: response size (aborts the transfer), total time, connect time, a minimum transfer
//     speed (slow bodies), header count/size; proxies from the environment are ignored.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/core/json.hpp"
#include "host/core/result.hpp"

namespace weft::net {

class Allowlist;  // host/net/address.hpp

// Admin policy (config section "outbound").
struct OutboundPolicy {
  // Allowlist entries that lift the address block, each one of:
  //   "127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"       an address or CIDR, any port
  //   "127.0.0.1:8080", "[::1]:8080"                      an address on one port
  //   "10.0.0.0/8:443"                                    a CIDR on one port
  //   "internal.example.com", "internal.example.com:8443" a host name (as written in the URL,
  //                                                       case-insensitive), any or one port
  std::vector<std::string> allow;
  size_t max_response_bytes = 10u * 1024u * 1024u;
  size_t max_request_body_bytes = 10u * 1024u * 1024u;
  int64_t default_timeout_ms = 30000;
  int64_t max_timeout_ms = 300000;
  int64_t connect_timeout_ms = 10000;
  int max_redirects = 5;
  // A transfer slower than this many bytes/s for low_speed_time_ms is aborted ("timeout").
  int64_t low_speed_bytes_per_s = 1;
  int64_t low_speed_time_ms = 30000;
  std::string user_agent = "weft/0.1";

  // Parses the "outbound" config section; unknown keys and malformed entries are errors
  // ("invalid_config").
  static Result<OutboundPolicy> from_json(const Json& section);
};

struct OutboundRequest {
  // Any HTTP token except CONNECT (GET HEAD POST PUT PATCH DELETE OPTIONS...); upper-cased.
  std::string method = "GET";
  std::string url;  // http(s) only; the fragment is not sent
  // Sent as given (see validate_header: no CR/LF/NUL, no framing/hop-by-hop headers). User-Agent
  // defaults to the policy's; curl adds "Accept: */*" unless given; no Content-Type is invented.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;        // sent for any method but HEAD when non-empty (POST/PUT/PATCH always)
  int64_t timeout_ms = 0;  // 0 = policy default; capped by policy max
  bool follow_redirects = true;
  size_t max_response_bytes = 0;  // 0 = policy cap; never above it
  // Extra headers (lower-case names) dropped on a cross-origin redirect, e.g. a custom API-key
  // header applied from a credential.
  std::vector<std::string> sensitive_headers;
};

struct OutboundResponse {
  int64_t status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;
  std::string url;  // the final URL (after redirects)
  int64_t redirects = 0;
  int64_t elapsed_ms = 0;
  // The value of a header (case-insensitive name), "" when absent; multiple values joined ", ".
  std::string header(std::string_view name) const;
};

// Error codes (Error::code) of perform():
//   "invalid_url"          not a URL, userinfo (user@host), whitespace/control characters,
//                          IPv6 zone ids, port 0, non-ASCII host names (give them as xn--...)
//   "scheme_not_allowed"   anything but http/https (file:, gopher:, ftp:, dict:, ...)
//   "address_blocked"      a resolved address (or a redirect target's) is blocked by policy;
//                          details {"host", "address"}
//   "dns_failed"           the name does not resolve
//   "connect_failed"       nothing accepted the connection
//   "timeout"              total, connect or low-speed time cap reached
//   "response_too_large"   the body exceeded the cap (transfer aborted), or the response headers
//                          exceeded 64 KiB / 256 lines
//   "too_many_redirects"
//   "invalid_request"      bad method/header (CR/LF), body over the request cap, headers over
//                          64 KiB
//   "tls_failed"           certificate / handshake failure
//   "cancelled"            the cancel callback said so
//   "http_failed"          any other transport failure
// Messages never contain the request's headers or body.
class OutboundHttp {
 public:
  explicit OutboundHttp(OutboundPolicy policy);
  ~OutboundHttp();
  OutboundHttp(const OutboundHttp&) = delete;
  OutboundHttp& operator=(const OutboundHttp&) = delete;

  // Thread-safe; each call uses its own easy handles (one per hop: no connection or DNS cache is
  // shared between hops or calls). The timeout covers the whole call, redirects included.
  // `cancelled` (optional) is polled while resolving and during the transfer (curl calls it at
  // least about once a second); returning true aborts with "cancelled". Name resolution runs on
  // a helper thread so the deadline and cancellation apply to it too.
  Result<OutboundResponse> perform(const OutboundRequest& req,
                                   const std::function<bool()>& cancelled = {}) const;

  const OutboundPolicy& policy() const { return policy_; }

 private:
  OutboundPolicy policy_;
  std::shared_ptr<const Allowlist> allow_;  // policy_.allow, parsed once
};

// Address checks, exposed for tests and for the policy report.
// True when `address` (a numeric IPv4/IPv6 literal as produced by inet_ntop) is in a blocked range.
bool is_blocked_address(std::string_view address);

// The check perform() applies to each request header: the name is an HTTP token, the value has
// no CR/LF/NUL, and the header is not one the client manages itself (Host, Content-Length,
// Transfer-Encoding, TE, Trailer, Upgrade, Connection, Keep-Alive, Expect, Proxy-Connection).
// Error "invalid_request" naming the header (never its value).
Status validate_header(std::string_view name, std::string_view value);

// The JSON form used by weft_host_api.http_request (docs/plugin-abi.md "Outbound HTTP"):
// request  {"method", "url", "headers": {"name": "value"} | [[name, value]...],
//           "query": {"name": "value"} (appended, URL-encoded), "body": "<text>" |
//           "body_base64": "..." | "json": <value> (sets content-type if absent),
//           "form": {"k": "v"} (urlencoded), "timeout_ms", "follow_redirects",
//           "max_response_bytes", "sensitive_headers": ["x-api-key"]}
//          At most one of body/body_base64/json/form. Header/query/form values may be strings,
//          numbers or booleans; query/form values may also be arrays (repeated keys). Unknown
//          members are errors. The method is upper-cased.
// response {"status", "headers": {"name": "value"} (repeated headers joined with ", "),
//           "body": "<text>" (valid UTF-8 without NUL) or "body_base64": "..." (otherwise),
//           "url", "redirects", "elapsed_ms"}
// Errors: "invalid_request" with a message naming the bad member.
Result<OutboundRequest> request_from_json(const Json& j);
Json response_to_json(const OutboundResponse& r);

}  // namespace weft::net
