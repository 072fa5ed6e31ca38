// The REST layer's own request/response types, independent of the HTTP library underneath.
//
// Handlers receive a Request (everything copied out of the transport: it stays valid after the
// reactor moved on) and a Responder, which they complete exactly once — inline, or later from
// another thread (a Responder is movable; a sync execution finishes on the blocking pool).
// A Responder dropped without an answer sends a 500 "internal" error, so a forgotten branch
// never leaves a client hanging.
//
// One error shape everywhere: {"error":{"code","message","details"}} with the status from
// status_for_code().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/auth/auth.hpp"
#include "host/core/json.hpp"
#include "host/core/result.hpp"

namespace weft::http {

// HTTP status for an Error code (unknown codes: 500; codes that end in "_invalid" or start with
// "json_": 400).
int status_for_code(std::string_view code);

struct Request {
  std::string method;                 // "GET", "POST", ...
  std::string raw_path;               // as received (without the query)
  std::string path;                   // normalized (see normalize_path)
  std::string route;                  // the matched route pattern, e.g. "/api/workflows/:id"
  std::map<std::string, std::string> params;           // route parameters
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string body;
  std::string client_ip;
  std::optional<auth::Principal> principal;            // set for authenticated routes
  int64_t received_ms = 0;

  const std::string& param(const std::string& name) const;
  std::optional<std::string> query_param(std::string_view name) const;
  std::optional<std::string> header(std::string_view lower_name) const;
  // The body as a JSON object (strict: content type application/json, size/depth limits).
  // Errors: "unsupported_media_type" (415), "invalid_json" (400), "invalid_argument" (400,
  // not an object).
  Result<Json> json_object() const;
};

// Extra response headers.
using Headers = std::vector<std::pair<std::string, std::string>>;

class Transport;  // the HTTP library side of one in-flight response

// A stream of Server-Sent Events owned by the SSE hub after the handler hands it over.
class EventStream {
 public:
  virtual ~EventStream() = default;
  // Writes raw text (already formatted as SSE) and flushes. false = the client is gone.
  virtual bool write(std::string_view text) = 0;
  // Ends the response (last chunk).
  virtual void end() = 0;
};

// A chunked response body written piece by piece by the thread that holds it (a large export):
// each write returns once the connection took the whole piece, so what is in memory is bounded by
// the piece being written, and a client that reads nothing for the stall timeout is dropped. The
// connection closes after the response. Not thread-safe: one writer.
class BodyStream {
 public:
  virtual ~BodyStream() = default;  // without end(): abort()
  // Sends one chunk (empty: nothing is sent). false = the client is gone or stalled: stop.
  virtual bool write(std::string_view data) = 0;
  // The last chunk: the response is complete.
  virtual void end() = 0;
  // Closes without the last chunk, so the client sees a truncated body rather than a short one
  // that looks complete (a store error in the middle of an export).
  virtual void abort() = 0;
};

class Responder {
 public:
  Responder() = default;
  explicit Responder(std::unique_ptr<Transport> t);
  Responder(Responder&&) noexcept;
  Responder& operator=(Responder&&) noexcept;
  ~Responder();  // unanswered → 500

  bool answered() const { return !t_; }
  // Headers added to whatever is sent (CORS, rate-limit, Retry-After...).
  void add_header(std::string name, std::string value);

  void json(int status, const Json& body);
  void json_text(int status, std::string body);  // already-serialized JSON
  void text(int status, std::string body, std::string content_type);
  void no_content();
  void error(const Error& e);                    // status from status_for_code
  void error(int status, std::string code, std::string message, Json details = Json());
  // Switches to a streaming text/event-stream response (status 200) and returns the stream.
  std::unique_ptr<EventStream> start_event_stream();
  // Switches to a chunked 200 response of this content type (plus the added headers) whose body
  // the caller writes through the returned stream; may be called from any thread (the head is
  // written by the stream itself, not queued behind the HTTP library). nullptr when the client
  // is gone — or for HEAD, which gets the head without a body. Answered either way.
  std::unique_ptr<BodyStream> start_body_stream(std::string content_type, int64_t stall_timeout_ms = 30000);

 private:
  std::unique_ptr<Transport> t_;
  Headers extra_;
};

// The transport interface implemented by the server (Pistache).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void send(int status, std::string_view content_type, std::string body,
                    const Headers& headers) = 0;
  virtual std::unique_ptr<EventStream> stream(const Headers& headers) = 0;
  virtual std::unique_ptr<BodyStream> body_stream(std::string_view content_type, const Headers& headers,
                                                  int64_t stall_timeout_ms) = 0;
};

// The error body {"error":{"code","message"[,"details"]}}.
std::string error_body(std::string_view code, std::string_view message, const Json& details);

// Path normalization (PRODUCT.md §6, SECURITY.md "path tricks"): percent-decodes, collapses
// repeated slashes, drops ";params" from segments, resolves "." and ".." (never above the root),
// drops a trailing slash. Literal route segments then match case-insensitively. Returns nullopt
// for paths that cannot be made sane (encoded NUL/slash/backslash, invalid escapes, ".." above
// the root, over 2048 bytes).
std::optional<std::string> normalize_path(std::string_view raw);

// Query string parsing ("a=1&b=%20x"); invalid escapes keep the raw text.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q);
std::string percent_decode(std::string_view s, bool plus_is_space, bool* ok = nullptr);

}  // namespace weft::http
