#include "host/http/server.hpp"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/net.h>
#include <pistache/peer.h>

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

#include "host/core/call.hpp"
#include "host/core/ids.hpp"

namespace weft::http {

namespace P = Pistache;

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

// Pistache's ResponseStream::flush() drains the transport's write queue on the calling thread
// (Transport::flush), racing the reactor thread that owns the socket: when the reactor then sees
// the fd writable with its queue already drained it throws "could not find write data" and the
// process terminates. The hub writes from its own thread, so the stream frames the chunks itself
// and only enqueues them (Peer::send → Transport::asyncWrite), which the reactor drains — the same
// path ResponseWriter::send uses from the blocking pool.
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
  PistacheTransport(P::Http::ResponseWriter w, RequestMeter meter, bool keep_alive)
      : w_(std::move(w)), meter_(std::move(meter)) {
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
    try {
      w_.send(static_cast<P::Http::Code>(status), body, mime);
    } catch (const std::exception&) {
      // The client went away: nothing to answer to.
    }
    meter_.done(status);
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
    for (const auto& [k, v] : headers) add_header(w_, k, v);
  }
  P::Http::ResponseWriter w_;
  RequestMeter meter_;
};

struct Server::Impl {
  Server* owner = nullptr;
  std::unique_ptr<P::Http::Endpoint> endpoint;
  std::unique_ptr<executor::ThreadPool> blocking;
  std::mutex mu;
  std::condition_variable cv;
  int64_t in_flight = 0;
  bool started = false;
  RequestMetrics metrics;

  void handle(const P::Http::Request& preq, P::Http::ResponseWriter writer);
};

namespace {

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
  for (const auto& [name, raw] : preq.headers().rawList()) req.headers.emplace_back(lower(name), raw.value());
  req.body = preq.body();
  req.client_ip = preq.address().host();

  RequestMeter meter{&metrics, "unmatched", req.method, RequestMeter::monotonic_us()};
  auto normalized = normalize_path(req.raw_path);
  Router::Match m;
  if (normalized) {
    req.path = *normalized;
    m = s.router_->match(req.method == "HEAD" ? "GET" : req.method, req.path);
    if (m.route) meter.route = m.route->pattern;
  }
  bool keep_alive = preq.version() == P::Http::Version::Http11;
  if (auto conn = req.header("connection")) keep_alive = lower(*conn).find("close") == std::string::npos;
  Responder res(std::make_unique<PistacheTransport>(std::move(writer), meter, keep_alive));

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
    } else if (klass == "stream") {
      limit = -1;  // concurrent streams are capped by the SSE handler
    } else {
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
    ++in_flight;
  }
  // std::function needs a copyable target: the move-only pair travels in a shared_ptr.
  auto job = std::make_shared<std::pair<Request, Responder>>(std::move(req), std::move(res));
  blocking->submit([this, run, job]() {
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
    impl_->endpoint->setHandler(std::make_shared<PistacheHandler>(impl_.get()));
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
  impl_->blocking.reset();
  impl_->endpoint.reset();
  impl_->started = false;
}

}  // namespace weft::http
