#include "host/http/server.hpp"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/net.h>
#include <pistache/peer.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "host/core/call.hpp"
#include "host/core/ids.hpp"

namespace weft::http {

namespace P = Pistache;

// The request's Content-Type as the input guard passes it on (see InputGuard).
constexpr const char* kMovedContentType = "x-weft-request-content-type";

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Routes whose answer must not depend on draining or rate limits.
bool is_health(const std::string& path) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics";
}

// A response header with a name decided at run time. Pistache serializes only typed headers (raw
// ones are kept for requests), so extra headers travel as instances of this class.
class DynamicHeader final : public P::Http::Header::Header {
 public:
  DynamicHeader(std::string name, std::string value) : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void write(std::ostream& os) const override { os << value_; }
  uint64_t hash() const override { return 0; }  // never header_cast to a typed header

 private:
  std::string name_;
  std::string value_;
};

void add_header(P::Http::ResponseWriter& w, const std::string& name, const std::string& value) {
  // Header values come from our own code, but never let one smuggle a CR/LF into the response.
  if (value.find_first_of("\r\n") != std::string::npos) return;
  w.headers().add(std::make_shared<DynamicHeader>(name, value));
}

// An event stream written straight to (a duplicate of) the connection's socket.
//
// Why not Pistache's ResponseStream: writes queued into Pistache's transport from a thread other
// than the connection's reactor race with the reactor's own write handling (Pistache 0.0.5 aborts
// with "could not find write data"), and its queue is unbounded for a client that stops reading.
// Pistache sends the status line and headers (chunked transfer encoding) on the reactor thread;
// from then on only this object writes to the connection, framing each write as one chunk. The
// descriptor is a dup(), so the socket cannot be closed and its number reused for another client
// while a stream still holds it. Writes never block: what the socket does not take is kept (up
// to kMaxPending) and sent on the next write; a client that falls further behind is dropped.
class SocketEventStream final : public EventStream {
 public:
  static constexpr size_t kMaxPending = 1u << 20;
  explicit SocketEventStream(int fd) : fd_(fd) {}
  ~SocketEventStream() override { end(); }
  bool write(std::string_view text) override {
    if (fd_ < 0) return false;
    char size[32];
    const int n = std::snprintf(size, sizeof size, "%zx\r\n", text.size());
    pending_.append(size, static_cast<size_t>(n));
    pending_.append(text);
    pending_.append("\r\n");
    if (!drain() || pending_.size() > kMaxPending) {
      close_now();
      return false;
    }
    return true;
  }
  void end() override {
    if (fd_ < 0) return;
    pending_.append("0\r\n\r\n");
    (void)drain();
    close_now();
  }

 private:
  bool drain() {
    while (!pending_.empty()) {
      const ssize_t w = ::send(fd_, pending_.data(), pending_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        pending_.erase(0, static_cast<size_t>(w));
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;  // later
      return false;  // EPIPE, ECONNRESET...: the client is gone
    }
    return true;
  }
  void close_now() {
    if (fd_ < 0) return;
    // The response is over: end the connection too (Pistache then sees EOF and forgets it).
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    fd_ = -1;
  }
  int fd_;
  std::string pending_;
};

// A chunked response body written by its producer's thread straight to (a duplicate of) the
// connection's socket — head included, so nothing of this response goes through Pistache's write
// queue (which only the connection's reactor may flush) and the producer may be any thread.
// Unlike SocketEventStream, a write waits (poll) until the socket took the whole chunk: the
// producer is paced by the client and memory stays bounded by one chunk. A client that takes
// nothing for stall_ms is dropped. The connection is shut down after the response (Pistache then
// sees EOF and forgets it), so no other response can interleave with this one.
class SocketBodyStream final : public BodyStream {
 public:
  SocketBodyStream(int fd, int64_t stall_ms) : fd_(fd), stall_ms_(stall_ms > 0 ? stall_ms : 30000) {}
  ~SocketBodyStream() override { abort(); }
  bool send_head(const std::string& head) {
    if (fd_ >= 0 && send_all(head)) return true;
    abort();
    return false;
  }
  bool write(std::string_view data) override {
    if (fd_ < 0) return false;
    if (data.empty()) return true;  // a zero-length chunk would end the body
    char size[32];
    const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string chunk;
    chunk.reserve(static_cast<size_t>(n) + data.size() + 2);
    chunk.append(size, static_cast<size_t>(n));
    chunk.append(data);
    chunk.append("\r\n");
    if (send_all(chunk)) return true;
    abort();
    return false;
  }
  void end() override {
    if (fd_ < 0) return;
    (void)send_all("0\r\n\r\n");
    abort();
  }
  void abort() override {
    if (fd_ < 0) return;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    fd_ = -1;
  }

 private:
  bool send_all(std::string_view data) {
    while (!data.empty()) {
      const ssize_t w = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        data.remove_prefix(static_cast<size_t>(w));
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(stall_ms_, 1 << 30)));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;  // stalled (or poll failed): give the client up
        if ((p.revents & POLLOUT) == 0) return false;  // POLLERR / POLLHUP: gone
        continue;
      }
      return false;  // EPIPE, ECONNRESET...: the client is gone
    }
    return true;
  }
  int fd_;
  int64_t stall_ms_;
};

}  // namespace

// The request metrics, resolved once per server (families) so a request only looks up its
// series under the family's shared lock.
struct RequestMetrics {
  CounterFamily* requests = nullptr;
  HistogramFamily* latency = nullptr;
};

// Observes the answer of one request for the metrics, whichever way it is sent.
struct RequestMeter {
  const RequestMetrics* metrics = nullptr;
  std::string route;   // pattern, never the raw path (bounded label cardinality)
  std::string method;
  int64_t started_us = 0;
  void done(int status) const {
    if (!metrics || !metrics->requests) return;
    const double seconds = static_cast<double>(monotonic_us() - started_us) / 1e6;
    metrics->requests->labels({route, method, std::to_string(status)}).inc();
    metrics->latency->labels({route}).observe(seconds);
  }
  static int64_t monotonic_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

class PistacheTransport final : public Transport {
 public:
  PistacheTransport(P::Http::ResponseWriter w, RequestMeter meter, bool keep_alive, bool head_only)
      : w_(std::move(w)), meter_(std::move(meter)), head_only_(head_only) {
    // Pistache treats a request without "Connection: keep-alive" as HTTP/1.0-style and closes the
    // connection after the answer; HTTP/1.1 clients (wrk, browsers) expect persistence by default.
    if (keep_alive) {
      w_.headers().remove<P::Http::Header::Connection>();
      w_.headers().add<P::Http::Header::Connection>(P::Http::ConnectionControl::KeepAlive);
    }
  }

  void send(int status, std::string_view content_type, std::string body,
            const Headers& headers) override {
    apply(headers);
    P::Http::Mime::MediaType mime;
    if (!content_type.empty()) mime = P::Http::Mime::MediaType::fromString(std::string(content_type));
    // Counted before the bytes leave: a client that reads /metrics right after its answer (from
    // the blocking pool) must find its request there.
    meter_.done(status);
    if (head_only_) body.clear();
    try {
      w_.send(static_cast<P::Http::Code>(status), body, mime);
    } catch (const std::exception&) {
      // The client went away: nothing to answer to.
    }
  }

  std::unique_ptr<BodyStream> body_stream(std::string_view content_type, const Headers& headers,
                                          int64_t stall_timeout_ms) override {
    if (head_only_) {
      // HEAD: the head of what GET would send, without a body.
      Headers h = headers;
      h.emplace_back("Cache-Control", "no-store");
      send(200, content_type, "", h);
      return nullptr;
    }
    meter_.done(200);
    auto peer = w_.peer();
    if (!peer) return nullptr;
    const int fd = ::dup(peer->fd());
    if (fd < 0) return nullptr;
    auto clean = [](std::string_view v) { return v.find_first_of("\r\n") == std::string_view::npos; };
    std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
                       "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";
    if (clean(content_type)) head.append("Content-Type: ").append(content_type).append("\r\n");
    for (const auto& [k, v] : headers) {
      const std::string name = lower(k);
      if (name == "connection" || name == "transfer-encoding" || name == "content-length" || !clean(k) || !clean(v))
        continue;
      head.append(k).append(": ").append(v).append("\r\n");
    }
    head.append("\r\n");
    auto stream = std::make_unique<SocketBodyStream>(fd, stall_timeout_ms);
    if (!stream->send_head(head)) return nullptr;
    return stream;
  }

  std::unique_ptr<EventStream> stream(const Headers& headers) override {
    apply(headers);
    add_header(w_, "Cache-Control", "no-cache");
    add_header(w_, "X-Accel-Buffering", "no");
    w_.setMime(P::Http::Mime::MediaType::fromString("text/event-stream"));
    meter_.done(200);
    try {
      auto peer = w_.peer();
      if (!peer) return nullptr;
      const int fd = ::dup(peer->fd());
      if (fd < 0) return nullptr;
      // Status line and headers go out now, on this (the reactor's) thread; the body is ours.
      auto head = w_.stream(P::Http::Code::Ok);
      head.flush();
      return std::make_unique<SocketEventStream>(fd);
    } catch (const std::exception&) {
      return nullptr;
    }
  }

 private:
  void apply(const Headers& headers) {
    for (const auto& [k, v] : headers) {
      if (lower(k) == "connection") {
        // Pistache keeps the first header of a name: replace the typed one it serializes.
        w_.headers().remove<P::Http::Header::Connection>();
        w_.headers().add<P::Http::Header::Connection>(lower(v) == "close" ? P::Http::ConnectionControl::Close
                                                                          : P::Http::ConnectionControl::KeepAlive);
        continue;
      }
      add_header(w_, k, v);
    }
  }
  P::Http::ResponseWriter w_;
  RequestMeter meter_;
  bool head_only_ = false;
};

struct Server::Impl {
  Server* owner = nullptr;
  std::unique_ptr<P::Http::Endpoint> endpoint;
  std::unique_ptr<executor::ThreadPool> blocking;
  std::unique_ptr<executor::ThreadPool> hashing;
  std::mutex mu;
  std::condition_variable cv;
  int64_t in_flight = 0;
  bool started = false;
  RequestMetrics metrics;

  void handle(const P::Http::Request& preq, P::Http::ResponseWriter writer);
};

namespace {

// Pistache's handler; it serves the requests the InputGuard below passes on.
class PistacheHandler final : public P::Http::Handler {
 public:
  HTTP_PROTOTYPE(PistacheHandler)
  explicit PistacheHandler(Server::Impl* impl) : impl_(impl) {}
  void onRequest(const P::Http::Request& req, P::Http::ResponseWriter response) override {
    impl_->handle(req, std::move(response));
  }
  // A client too slow to send its headers or body (header_timeout_ms / body_timeout_ms): answer in
  // our error shape and drop the connection.
  void onTimeout(const P::Http::Request&, P::Http::ResponseWriter response) override {
    response.headers().add<P::Http::Header::Connection>(P::Http::ConnectionControl::Close);
    try {
      response.send(P::Http::Code::Request_Timeout,
                    error_body("request_timeout", "the request did not arrive in time", Json()),
                    P::Http::Mime::MediaType::fromString("application/json"));
    } catch (const std::exception&) {
    }
  }

 private:
  Server::Impl* impl_;
};

// Access to Tcp::Handler::transport_ (private; set by Pistache's Transport only): the guard hands
// its own transport to the handler it forwards to. This is the standard explicit-instantiation
// route to a private member; it relies on nothing but the declaration in pistache/tcp.h.
struct TransportField {
  using type = P::Tcp::Transport* P::Tcp::Handler::*;
  friend type transport_field(TransportField);
};
template <typename Tag, typename Tag::type M>
struct ExposeMember {
  friend typename Tag::type transport_field(Tag) { return M; }
};
template struct ExposeMember<TransportField, &P::Tcp::Handler::transport_>;

// The handler registered with Pistache. It sees the raw bytes of every connection before
// Pistache's parser does, and:
//   - buffers each request's header section and passes it on in one piece. Pistache re-parses an
//     incomplete header section from its start at every read, so a client trickling in megabytes
//     of headers cost quadratic time on a reactor thread and stalled every other connection on it
//     for seconds;
//   - refuses header sections over kMaxHeaderBytes (431) and bodies whose Content-Length exceeds
//     max_request_bytes (413) — in our error shape, before any of it is buffered;
//   - hands the Content-Type header to our code under another name, so that our strict parsing
//     (415 in our error shape) decides instead of Pistache's media-type parser.
// Everything else goes through unchanged to a PistacheHandler (one per reactor, like this guard).
class InputGuard final : public P::Http::Handler {
 public:
  static constexpr size_t kMaxHeaderBytes = 32 * 1024;
  static constexpr size_t kMaxRequestLine = 8 * 1024;
  static constexpr uint64_t kMaxDiscard = 64u << 20;
  HTTP_PROTOTYPE(InputGuard)
  InputGuard(Server::Impl* impl, size_t max_request_bytes) : impl_(impl), max_request_(max_request_bytes) {}
  // Clones (one per reactor thread) get their own connections and inner handler.
  InputGuard(const InputGuard& o) : P::Http::Handler(o), impl_(o.impl_), max_request_(o.max_request_) {}

  void onRequest(const P::Http::Request& req, P::Http::ResponseWriter response) override {
    impl_->handle(req, std::move(response));  // not reached: requests are parsed by the inner handler
  }

  void onDisconnection(const std::shared_ptr<P::Tcp::Peer>& peer) override { conns_.erase(peer.get()); }

  void onInput(const char* data, size_t len, const std::shared_ptr<P::Tcp::Peer>& peer) override {
    Conn& c = conns_[peer.get()];
    size_t i = 0;
    while (i < len) {
      if (c.phase == Phase::Rejected) {
        // Lingering close: keep reading (and dropping) what the client still sends so it gets to
        // read our answer instead of blocking on a full window; past a cap, cut it off.
        c.body_left += len - i;
        if (c.body_left > kMaxDiscard) ::shutdown(peer->fd(), SHUT_RDWR);
        return;
      }
      if (c.phase == Phase::Passthrough) {
        forward(data + i, len - i, peer);
        return;
      }
      if (c.phase == Phase::Body) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(len - i, c.body_left));
        forward(data + i, n, peer);
        c.body_left -= n;
        i += n;
        if (c.body_left == 0) c.phase = Phase::Head;
        continue;
      }
      const size_t scan_from = c.head.size() >= 3 ? c.head.size() - 3 : 0;
      const size_t take = len - i;
      c.head.append(data + i, take);
      // The request line goes to Pistache as it arrives, so its header/body timeouts start with
      // the first byte (a client trickling its headers is still cut off at header_timeout_ms);
      // the header lines are passed on once complete.
      const size_t line_end = c.head.find("\r\n");
      if (line_end == std::string::npos) {
        if (c.head.size() > kMaxRequestLine)
          return reject(c, peer, 414, "uri_too_long", "the request line is over 8 KiB");
        forward(c.head.data() + c.forwarded, c.head.size() - c.forwarded, peer);
        c.forwarded = c.head.size();
        i += take;
        continue;
      }
      if (c.forwarded < line_end + 2) {
        if (line_end > kMaxRequestLine) return reject(c, peer, 414, "uri_too_long", "the request line is over 8 KiB");
        forward(c.head.data() + c.forwarded, line_end + 2 - c.forwarded, peer);
        c.forwarded = line_end + 2;
      }
      const size_t end = c.head.find("\r\n\r\n", std::min(scan_from, line_end));
      if (end == std::string::npos) {
        if (c.head.size() > kMaxHeaderBytes) return reject(c, peer, 431, "header_too_large",
                                                            "the request's header section is over 32 KiB");
        i += take;
        continue;
      }
      const size_t head_len = end + 4;
      if (head_len > kMaxHeaderBytes)
        return reject(c, peer, 431, "header_too_large", "the request's header section is over 32 KiB");
      const size_t after = c.head.size() - head_len;  // bytes of this read past the header section
      std::string head = c.head.substr(0, head_len);
      c.head.clear();
      i = i + take - after;
      uint64_t body = 0;
      bool chunked = false;
      std::string rewritten;
      if (!inspect(head, body, chunked, rewritten)) {
        // Something we do not understand (bad Content-Length...): let Pistache judge it.
        forward(head.data() + c.forwarded, head.size() - c.forwarded, peer);
        c.forwarded = 0;
        c.phase = Phase::Passthrough;
        continue;
      }
      if (body > max_request_) {
        return reject(c, peer, 413, "payload_too_large",
                      "the request body is over server.max_request_bytes (" + std::to_string(max_request_) + ")");
      }
      // The request line is unchanged by the rewrite: pass on what Pistache has not seen yet.
      const size_t seen = c.forwarded;
      c.forwarded = 0;
      forward(rewritten.data() + seen, rewritten.size() - seen, peer);
      if (chunked) {
        c.phase = Phase::Passthrough;  // chunk sizes are not tracked; Pistache's size cap applies
      } else if (body > 0) {
        c.phase = Phase::Body;
        c.body_left = body;
      }
    }
  }

 private:
  enum class Phase { Head, Body, Passthrough, Rejected };
  struct Conn {
    Phase phase = Phase::Head;
    std::string head;
    size_t forwarded = 0;  // bytes of `head` already passed on (the request line)
    uint64_t body_left = 0;
  };

  // Reads Content-Length / Transfer-Encoding and moves Content-Type aside. false = malformed.
  static bool inspect(const std::string& head, uint64_t& body, bool& chunked, std::string& out) {
    out.reserve(head.size() + 16);
    size_t pos = 0;
    bool first = true;
    bool have_length = false;
    while (pos < head.size()) {
      size_t eol = head.find("\r\n", pos);
      if (eol == std::string::npos) return false;
      std::string_view line(head.data() + pos, eol - pos);
      pos = eol + 2;
      if (first || line.empty()) {
        first = false;
        out.append(line);
        out.append("\r\n");
        continue;
      }
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) return false;
      std::string name(line.substr(0, colon));
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      if (name == "content-length") {
        if (have_length || value.empty() || value.size() > 18) return false;
        uint64_t n = 0;
        for (char ch : value) {
          if (ch < '0' || ch > '9') return false;
          n = n * 10 + static_cast<uint64_t>(ch - '0');
        }
        body = n;
        have_length = true;
      } else if (name == "transfer-encoding") {
        chunked = true;
      } else if (name == kMovedContentType) {
        continue;  // only the guard may set it
      } else if (name == "content-type") {
        out.append(kMovedContentType);
        out.append(": ");
        out.append(value);
        out.append("\r\n");
        continue;
      }
      out.append(line);
      out.append("\r\n");
    }
    if (chunked && have_length) return false;  // request smuggling shape: refuse to guess
    return true;
  }

  void reject(Conn& c, const std::shared_ptr<P::Tcp::Peer>& peer, int status, const char* code,
              const std::string& message) {
    c.phase = Phase::Rejected;
    c.head.clear();
    c.head.shrink_to_fit();
    c.body_left = 0;  // now counts discarded bytes
    const std::string body = error_body(code, message, Json());
    const char* reason = status == 413   ? "Payload Too Large"
                         : status == 414 ? "URI Too Long"
                                         : "Request Header Fields Too Large";
    const std::string resp = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                             "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body;
    (void)::send(peer->fd(), resp.data(), resp.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(peer->fd(), SHUT_WR);  // our side is done; the client closes, Pistache forgets it
  }

  void forward(const char* data, size_t len, const std::shared_ptr<P::Tcp::Peer>& peer) {
    if (len == 0) return;
    if (!inner_) {
      inner_ = std::make_shared<PistacheHandler>(impl_);
      // Our own caps come first (header section, Content-Length); Pistache's is a backstop.
      inner_->setMaxRequestSize(getMaxRequestSize() + kMaxHeaderBytes);
      inner_->setMaxResponseSize(getMaxResponseSize());
      inner_->setHeaderTimeout(getHeaderTimeout());
      inner_->setBodyTimeout(getBodyTimeout());
      static_cast<P::Tcp::Handler&>(*inner_).*transport_field(TransportField{}) = transport();
    }
    // Through the public Tcp::Handler interface: Pistache's own HTTP parsing (Http::Handler).
    static_cast<P::Tcp::Handler&>(*inner_).onInput(data, len, peer);
  }

  Server::Impl* impl_;
  size_t max_request_;
  std::shared_ptr<PistacheHandler> inner_;
  std::unordered_map<P::Tcp::Peer*, Conn> conns_;
};

}  // namespace

void Server::Impl::handle(const P::Http::Request& preq, P::Http::ResponseWriter writer) {
  Server& s = *owner;
  // The request is complete. Pistache times a connection that is not "idle" against the header and
  // body timeouts from the end of its last request, so one waiting for an answer computed
  // elsewhere (blocking pool, SSE stream) would get a 408 and be closed after header_timeout_ms.
  // Mark it idle (the keep-alive timeout applies) until its next request arrives.
  if (auto peer = writer.getPeer()) peer->setIdle(true);
  Request req;
  req.received_ms = wall_ms();
  req.method = P::Http::methodString(preq.method());
  req.raw_path = preq.resource();
  req.query = parse_query(preq.query().as_str());
  for (const auto& h : preq.headers().list()) {
    std::string value;
    if (auto accept = std::dynamic_pointer_cast<const P::Http::Header::Accept>(h)) {
      // Pistache 0.0.5's Accept::write() writes nothing: rebuild the value from its media ranges.
      for (const auto& m : accept->media()) value += (value.empty() ? "" : ", ") + m.toString();
    } else {
      std::ostringstream os;
      h->write(os);
      value = os.str();
    }
    req.headers.emplace_back(lower(h->name()), std::move(value));
  }
  for (const auto& [name, raw] : preq.headers().rawList()) {
    std::string n = lower(name);
    if (n == kMovedContentType) n = "content-type";
    req.headers.emplace_back(std::move(n), raw.value());
  }
  req.body = preq.body();
  req.client_ip = preq.address().host();

  RequestMeter meter{&metrics, "unmatched", req.method, RequestMeter::monotonic_us()};
  auto normalized = normalize_path(req.raw_path);
  Router::Match m;
  if (normalized) {
    req.path = *normalized;
    m = s.router_->match(req.method == "HEAD" ? "GET" : req.method, req.path);
    // HEAD is GET without a body — but never for routes whose GET has effects or streams.
    if (req.method == "HEAD" && m.route &&
        (m.route->pattern.rfind("/webhook/", 0) == 0 || m.route->rate_class == "stream")) {
      m.allowed_methods = {m.route->method};
      m.route = nullptr;
    }
    if (m.route) meter.route = m.route->pattern;
  }
  bool keep_alive = preq.version() == P::Http::Version::Http11;
  if (auto conn = req.header("connection")) keep_alive = lower(*conn).find("close") == std::string::npos;
  Responder res(std::make_unique<PistacheTransport>(std::move(writer), meter, keep_alive, req.method == "HEAD"));

  // CORS: only exact allowlisted origins get the headers; preflights are answered here.
  const auto origin = req.header("origin");
  const bool origin_ok =
      origin && std::find(s.options_.cors_origins.begin(), s.options_.cors_origins.end(), *origin) !=
                    s.options_.cors_origins.end();
  if (origin_ok) {
    res.add_header("Access-Control-Allow-Origin", *origin);
    res.add_header("Vary", "Origin");
    res.add_header("Access-Control-Expose-Headers", "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining");
  }
  if (req.method == "OPTIONS") {
    if (!origin_ok) {
      res.error(403, "cors_forbidden", "this origin is not allowed (cors_origins in the config)");
      return;
    }
    std::string methods = "OPTIONS";
    for (const auto& meth : m.route ? std::vector<std::string>{m.route->method} : m.allowed_methods)
      methods += ", " + meth;
    res.add_header("Access-Control-Allow-Methods", methods);
    res.add_header("Access-Control-Allow-Headers",
                   "Authorization, Content-Type, Last-Event-ID, X-API-Key, Idempotency-Key");
    res.add_header("Access-Control-Max-Age", "600");
    res.no_content();
    return;
  }

  if (!normalized) {
    res.error(400, "invalid_path", "the request path cannot be normalized (bad escape, encoded slash or NUL, or '..' above the root)");
    return;
  }
  if (s.draining_.load() && !is_health(req.path)) {
    res.add_header("Retry-After", "5");
    res.add_header("Connection", "close");
    res.error(503, "draining", "the server is shutting down; retry against another instance");
    return;
  }
  if (!m.route) {
    if (!m.allowed_methods.empty()) {
      std::string allow;
      for (const auto& a : m.allowed_methods) allow += (allow.empty() ? "" : ", ") + a;
      res.add_header("Allow", allow);
      res.error(405, "method_not_allowed", req.method + " is not allowed on " + req.path);
      return;
    }
    res.error(404, "not_found", "no route for " + req.method + " " + req.path);
    return;
  }
  const Route& route = *m.route;
  req.route = route.pattern;
  req.params = std::move(m.params);

  // Authentication before anything that reveals more about the route.
  std::string rate_key;
  int64_t limit = -1;
  std::string klass = route.rate_class.empty() ? "api" : route.rate_class;
  if (route.access != Access::Public) {
    std::string bearer;
    if (auto a = req.header("authorization")) {
      std::string v = *a;
      if (v.size() > 7 && lower(v.substr(0, 7)) == "bearer ") bearer = v.substr(7);
    } else if (auto k = req.header("x-api-key")) {
      bearer = *k;
    }
    while (!bearer.empty() && bearer.back() == ' ') bearer.pop_back();
    if (bearer.empty()) {
      res.add_header("WWW-Authenticate", "Bearer");
      res.error(401, "unauthorized", "this route needs a bearer token or an API key");
      return;
    }
    auto principal = s.deps_.auth->authenticate(bearer);
    if (!principal.ok()) {
      res.add_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      res.error(principal.error());
      return;
    }
    req.principal = std::move(*principal);
    const auth::Principal& p = *req.principal;
    if (route.access == Access::Admin && !p.has_scope(auth::scope::kAdmin)) {
      res.error(403, "forbidden", "this route is for administrators");
      return;
    }
    if (!route.scope.empty() && !p.has_scope(route.scope)) {
      res.error(403, "forbidden", "the API key lacks the scope '" + route.scope + "'");
      return;
    }
    rate_key = p.via == "api_key" ? "key:" + p.api_key_id : "user:" + p.user_id;
    const TierLimits tl = limits_for_tier(p.tier, s.options_.rate_overrides);
    if (klass == "compile") {
      limit = tl.compile;
    } else if (klass == "execute") {
      limit = tl.execute;
    } else if (klass == "export") {
      limit = tl.exports;  // audit export and verify: heavy reads
    } else if (klass == "password") {
      limit = public_limits(s.options_.rate_overrides).login_per_account;  // each one is an argon2 hash
    } else {
      // Everything else, stream opens included (their concurrency is capped by the SSE handler).
      limit = tl.api;
    }
  } else {
    rate_key = "ip:" + req.client_ip;
    const PublicLimits pl = public_limits(s.options_.rate_overrides);
    if (klass == "login") {
      limit = pl.login_per_ip;
    } else if (klass == "webhook") {
      rate_key = "hook:" + req.path;  // per entry point: its own secret authenticates the caller
      limit = s.options_.webhook_per_minute;
    } else if (klass == "health") {
      limit = -1;
    } else {
      limit = pl.unauthenticated_per_ip;
    }
  }
  if (s.options_.rate_limits && limit > 0) {
    const auto d = s.deps_.limiter->check(rate_key, klass, limit, wall_ms());
    res.add_header("X-RateLimit-Limit", std::to_string(limit));
    res.add_header("X-RateLimit-Remaining", std::to_string(std::max<int64_t>(0, d.remaining)));
    if (!d.allowed) {
      res.add_header("Retry-After", std::to_string(d.retry_after_s));
      Json details = Json::object();
      details.set("limit_per_minute", limit);
      details.set("retry_after_seconds", d.retry_after_s);
      details.set("class", klass);
      res.error(429, "rate_limited", "too many '" + klass + "' requests; retry in " +
                                         std::to_string(d.retry_after_s) + " s",
                std::move(details));
      return;
    }
  }
  if (route.json_body) {
    // Strict content type up front, so handlers can rely on it.
    auto ct = req.header("content-type");
    std::string base = ct ? lower(ct->substr(0, ct->find(';'))) : "";
    while (!base.empty() && base.back() == ' ') base.pop_back();
    if (base != "application/json") {
      res.error(415, "unsupported_media_type", "this route takes Content-Type: application/json");
      return;
    }
  }

  auto run = [&route](Request& r, Responder rs) {
    try {
      route.handler(r, std::move(rs));
    } catch (const std::exception&) {
      // The responder (if still held) answers 500 when it is destroyed; never leak e.what().
    }
  };
  if (!route.blocking) {
    run(req, std::move(res));
    return;
  }
  {
    std::lock_guard<std::mutex> lk(mu);
    if (in_flight >= static_cast<int64_t>(s.options_.max_blocking_queue)) {
      res.add_header("Retry-After", "1");
      res.error(503, "unavailable", "the server is busy (too many requests waiting); retry shortly");
      return;
    }
    ++in_flight;
  }
  // std::function needs a copyable target: the move-only pair travels in a shared_ptr.
  auto job = std::make_shared<std::pair<Request, Responder>>(std::move(req), std::move(res));
  (route.hashes_password ? hashing : blocking)->submit([this, run, job]() {
    run(job->first, std::move(job->second));
    std::lock_guard<std::mutex> lk(mu);
    if (--in_flight == 0) cv.notify_all();
  });
}

Server::Server(ServerOptions options, ServerDeps deps, std::shared_ptr<Router> router)
    : options_(std::move(options)), deps_(std::move(deps)), router_(std::move(router)) {
  impl_ = std::make_unique<Impl>();
  impl_->owner = this;
  if (deps_.metrics) {
    impl_->metrics.requests = &deps_.metrics->counter_family(
        "weft_http_requests_total", "HTTP requests by route, method and status", {"route", "method", "status"});
    impl_->metrics.latency = &deps_.metrics->histogram_family("weft_http_request_duration_seconds",
                                                              "HTTP request latency by route", {"route"});
  }
}

Server::~Server() { stop(); }

Result<uint16_t> Server::start() {
  if (impl_->started) return port_;
  try {
    P::Address addr(options_.address, P::Port(options_.port));
    impl_->endpoint = std::make_unique<P::Http::Endpoint>(addr);
    auto opts = P::Http::Endpoint::options()
                    .threads(static_cast<int>(std::max<size_t>(1, options_.reactor_threads)))
                    .flags(P::Tcp::Options::ReuseAddr)
                    .maxRequestSize(options_.max_request_bytes)
                    .maxResponseSize(64u << 20)
                    .headerTimeout(std::chrono::milliseconds(options_.header_timeout_ms))
                    .bodyTimeout(std::chrono::milliseconds(options_.body_timeout_ms));
    impl_->endpoint->init(opts);
    impl_->blocking = std::make_unique<executor::ThreadPool>(std::max<size_t>(1, options_.blocking_threads));
    impl_->hashing = std::make_unique<executor::ThreadPool>(std::max<size_t>(1, options_.password_threads));
    impl_->endpoint->setHandler(std::make_shared<InputGuard>(impl_.get(), options_.max_request_bytes));
    impl_->endpoint->serveThreaded();
    port_ = static_cast<uint16_t>(impl_->endpoint->getPort());
    impl_->started = true;
    return port_;
  } catch (const std::exception& e) {
    impl_->endpoint.reset();
    return Error("unavailable", "cannot listen on " + options_.address + ":" + std::to_string(options_.port) +
                                    ": " + e.what());
  }
}

void Server::begin_drain() { draining_.store(true); }

void Server::submit_blocking(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    ++impl_->in_flight;
  }
  impl_->blocking->submit([this, task = std::move(task)]() {
    task();
    std::lock_guard<std::mutex> lk(impl_->mu);
    if (--impl_->in_flight == 0) impl_->cv.notify_all();
  });
}

void Server::stop() {
  if (!impl_ || !impl_->started) return;
  draining_.store(true);
  {
    std::unique_lock<std::mutex> lk(impl_->mu);
    impl_->cv.wait(lk, [&] { return impl_->in_flight == 0; });
  }
  try {
    impl_->endpoint->shutdown();
  } catch (const std::exception&) {
  }
  // Pistache stops its reactors without closing the connections they held: a request that arrived
  // during the stop would hang until its client gives up. End them so the client sees the close.
  try {
    for (const auto& peer : impl_->endpoint->getAllPeer())
      if (peer) (void)::shutdown(peer->fd(), SHUT_RDWR);
  } catch (const std::exception&) {
  }
  impl_->blocking.reset();
  impl_->hashing.reset();
  impl_->endpoint.reset();
  impl_->started = false;
}

}  // namespace weft::http
