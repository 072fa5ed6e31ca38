// A small HTTP/1.1 client for the API tests, over raw POSIX sockets so that the tests control
// every byte (malformed requests, slow clients, huge headers) and never depend on the server's
// own HTTP library. Every read has a deadline: a server that stops answering fails the test
// instead of hanging it.
//
// Not thread-safe: one Connection / SseStream per thread. Separate objects may be used from
// separate threads.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/core/json.hpp"

namespace weft::apitest {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

inline constexpr int kDefaultTimeoutMs = 20000;

struct Response {
  // 0 when no response arrived; then `transport_error` says why ("connect", "timeout", "closed",
  // "malformed: ...").
  int status = 0;
  std::string transport_error;
  std::string reason;
  HeaderList headers;  // names as received
  std::string body;
  mutable std::optional<Json> parsed;  // cache of json()

  bool ok() const { return status != 0; }
  // Case-insensitive lookup; the first header with that name.
  std::optional<std::string> header(std::string_view name) const;
  // The body parsed as JSON (null when it is not JSON); parsed once, owned by the Response.
  const Json& json() const;
  // error.code of the one error shape, "" when the body is not an error.
  std::string error_code() const;
  // For assertion messages.
  std::string describe() const;
};

struct Request {
  std::string method = "GET";
  std::string target = "/";  // path + query, sent as is
  HeaderList headers;
  std::string body;
  bool content_length = true;  // add Content-Length when there is a body (or for POST/PUT)
};

// Serializes a request: request line, Host, the given headers, Content-Length, body.
std::string serialize(const Request& r, uint16_t port, bool keep_alive);

// One TCP connection to 127.0.0.1:port.
class Connection {
 public:
  // nullptr when the connection is refused or times out.
  static std::unique_ptr<Connection> open(uint16_t port, int timeout_ms = 5000);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Writes everything (bounded by timeout_ms); false when the peer is gone or it timed out.
  bool send_all(std::string_view bytes, int timeout_ms = kDefaultTimeoutMs);
  // Sends a request and reads its response (keep_alive: the connection stays usable).
  Response roundtrip(const Request& r, bool keep_alive = false, int timeout_ms = kDefaultTimeoutMs);
  // Reads one response: status line, headers, then a body framed by Content-Length, chunked
  // encoding, or the end of the connection. head_only: stop after the headers (streaming).
  Response read_response(int timeout_ms = kDefaultTimeoutMs, bool head_only = false);

  // Streaming reads after read_response(head_only=true). Bytes already buffered count.
  // Decoded body bytes (chunked framing removed when the response is chunked): appends what is
  // available before the deadline; false on end of stream / error / timeout with nothing read.
  bool read_body_some(std::string& out, int timeout_ms);
  bool body_ended() const { return body_ended_; }

  // Raw bytes: whatever arrives before the deadline (empty + eof()/failed() set otherwise).
  std::string read_raw(int timeout_ms);
  // True when the peer closed (or reset) the connection within timeout_ms; data that arrives
  // meanwhile is discarded.
  bool wait_closed(int timeout_ms);
  bool eof() const { return eof_; }
  int fd() const { return fd_; }

 private:
  explicit Connection(int fd) : fd_(fd) {}
  // Fills buf_ with at least one more byte before deadline_ms (monotonic); false on EOF/error/timeout.
  bool fill(int64_t deadline_ms);
  std::optional<std::string> read_line(int64_t deadline_ms);
  std::optional<std::string> read_exact(size_t n, int64_t deadline_ms);

  int fd_ = -1;
  uint16_t port_ = 0;
  std::string buf_;
  bool eof_ = false;
  bool timed_out_ = false;
  // Streaming body state.
  bool chunked_ = false;
  int64_t remaining_ = -1;    // Content-Length left; -1 = until close
  int64_t chunk_left_ = 0;    // bytes left in the current chunk
  bool body_ended_ = false;
};

// Convenience client: one connection per request (Connection: close).
class Client {
 public:
  explicit Client(uint16_t port) : port_(port) {}
  uint16_t port() const { return port_; }

  Response send(const Request& r, int timeout_ms = kDefaultTimeoutMs) const;
  Response request(const std::string& method, const std::string& target, const std::string& token = "",
                   const std::string& body = "", const HeaderList& headers = {},
                   int timeout_ms = kDefaultTimeoutMs) const;
  Response get(const std::string& target, const std::string& token = "", const HeaderList& headers = {}) const;
  Response del(const std::string& target, const std::string& token = "") const;
  // JSON body with Content-Type: application/json.
  Response post(const std::string& target, const Json& body, const std::string& token = "",
                const HeaderList& headers = {}) const;
  Response put(const std::string& target, const Json& body, const std::string& token = "") const;
  Response post_empty(const std::string& target, const std::string& token = "", const HeaderList& headers = {}) const;

 private:
  uint16_t port_;
};

// "Authorization: Bearer <token>" (token "" = no header).
HeaderList auth_header(const std::string& token);

struct SseEvent {
  std::string id;
  std::string event;
  std::string data;  // data lines joined with '\n'
  Json json() const;
};

// A Server-Sent Events subscription: GET with Accept: text/event-stream, then events read
// incrementally. Comments (": heartbeat") are counted, not returned.
class SseStream {
 public:
  // Connects and reads the response head. Check status() (200 = streaming).
  static std::unique_ptr<SseStream> open(uint16_t port, const std::string& target, const std::string& token,
                                         const std::string& last_event_id = "", int timeout_ms = 10000);
  int status() const { return head_.status; }
  const Response& head() const { return head_; }  // for non-200: includes the body

  // The next event; nullopt when none arrived before the deadline or the stream ended.
  std::optional<SseEvent> next(int timeout_ms = 10000);
  // Reads until a comment starting with `prefix` arrives (true) or the deadline passes / the
  // stream ends (false). wait_comments: until `count` of them have arrived since the stream began.
  bool wait_comment(const std::string& prefix, int timeout_ms) { return wait_comments(prefix, 1, timeout_ms); }
  bool wait_comments(const std::string& prefix, size_t count, int timeout_ms);
  // True once the server ended the response (final chunk or closed connection).
  bool ended() const;
  // Reads until the stream ends (true) or the deadline; events read meanwhile are appended to *events.
  bool wait_end(int timeout_ms, std::vector<SseEvent>* events = nullptr);
  const std::vector<std::string>& comments() const { return comments_; }
  void close() { conn_.reset(); }

 private:
  // Moves every complete block of text_ into pending_ (events) and comments_.
  void parse_available();
  // Reads more body text before the deadline; false when nothing came (ended_ set at the end).
  bool pump(int64_t deadline);
  std::unique_ptr<Connection> conn_;
  std::deque<SseEvent> pending_;
  Response head_;
  std::string text_;
  std::vector<std::string> comments_;
  bool ended_ = false;
};

// Milliseconds on the monotonic clock.
int64_t now_ms();

// Polls `pred` every `step_ms` until it is true or `timeout_ms` passed; returns its last value.
template <typename F>
bool eventually(F&& pred, int timeout_ms = 10000, int step_ms = 20);

}  // namespace weft::apitest

#include <chrono>
#include <thread>

template <typename F>
bool weft::apitest::eventually(F&& pred, int timeout_ms, int step_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    if (pred()) return true;
    if (now_ms() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
  }
}
