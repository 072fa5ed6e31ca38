#include "host/http/websocket.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "host/core/call.hpp"
#include "host/http/http.hpp"
#include "host/http/router.hpp"

namespace weft::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

namespace {

constexpr size_t kMaxHeaderBytes = 16 * 1024;
// A fixed kernel send buffer per connection (the kernel doubles it): without it Linux grows a
// socket's buffer up to tcp_wmem's maximum (often 4 MiB) for a client that does not read, which
// would hide a stuck reader from the backlog limit and cost that much memory per connection.
constexpr int kSendBufferBytes = 256 * 1024;
constexpr const char* kProtocol = "weft.v1";
constexpr std::string_view kBearerProtocol = "weft.bearer.";

std::string_view sv(beast::string_view v) { return std::string_view(v.data(), v.size()); }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// An SSE event as the hub formats it ("id: N\nevent: T\ndata: {...}\n\n") → the WebSocket frame
// {"id","type","data","ts"}. nullopt for comments (heartbeats) and anything unexpected.
std::optional<std::string> frame_from_sse(std::string_view sse) {
  if (sse.empty() || sse.front() == ':') return std::nullopt;
  const size_t at = sse.find("\ndata: ");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view data = sse.substr(at + 7);
  while (!data.empty() && data.back() == '\n') data.remove_suffix(1);
  JsonParseLimits limits;
  limits.max_bytes = data.size() + 1;
  auto parsed = Json::parse(data, limits);
  if (!parsed.ok() || !parsed->is_object()) return std::nullopt;
  Json f = Json::object();
  f.set("id", (*parsed)["seq"]);
  f.set("type", (*parsed)["type"]);
  f.set("data", (*parsed)["data"]);
  f.set("ts", (*parsed)["ts"]);
  return f.dump();
}

std::string frame_from_record(const store::EventRecord& e) {
  Json f = Json::object();
  f.set("id", e.seq);
  f.set("type", e.type);
  f.set("data", e.data);
  f.set("ts", e.ts_ms);
  return f.dump();
}

Json error_frame_body(const Error& e) {
  Json err = Json::object();
  const int status = status_for_code(e.code);
  err.set("code", e.code);
  err.set("message", status >= 500 ? std::string("internal error; the server log has the details") : e.message);
  if (!e.details.empty() && status < 500) {
    auto d = Json::parse(e.details);
    if (d.ok()) err.set("details", *d);
  }
  return err;
}

}  // namespace

class WsSession;

// State shared by the server and its sessions (sessions may outlive a stopped server briefly).
struct WsShared {
  WebSocketOptions options;
  std::shared_ptr<store::Store> store;
  std::shared_ptr<auth::AuthService> auth;
  std::shared_ptr<SseHub> events;
  WebSocketHooks hooks;
  net::thread_pool* work = nullptr;  // owned by Impl; valid while not stopped
  std::atomic<bool> draining{false};
  std::atomic<bool> stopping{false};

  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, std::weak_ptr<WsSession>> sessions;
  uint64_t next_id = 1;
};

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket&& socket, std::shared_ptr<WsShared> shared, bool over_limit)
      : ws_(std::move(socket)), shared_(std::move(shared)), over_limit_(over_limit) {
    ex_ = ws_.get_executor();
  }
  ~WsSession() {
    if (release_) release_();
    std::lock_guard<std::mutex> lk(shared_->mu);
    shared_->sessions.erase(id_);
    shared_->cv.notify_all();
  }

  void set_id(uint64_t id) { id_ = id; }
  bool gone() const { return gone_.load(); }

  void start() {
    net::dispatch(ex_, [self = shared_from_this()] { self->read_request(); });
  }

  // From any thread (the event hub): queue one frame; false when the connection is gone or its
  // backlog is over the limit (it is dropped then).
  bool push(std::string frame) {
    if (gone_.load()) return false;
    const size_t n = frame.size();
    if (backlog_.fetch_add(n) + n > shared_->options.max_backlog_bytes) {
      drop();
      return false;
    }
    auto text = std::make_shared<const std::string>(std::move(frame));
    net::post(ex_, [self = shared_from_this(), text] { self->enqueue(text); });
    return true;
  }
  // From any thread: close normally once everything queued is written.
  void finish() {
    net::post(ex_, [self = shared_from_this()] {
      self->finish_requested_ = true;
      self->maybe_close();
    });
  }
  // From any thread: server shutdown.
  void shutdown() {
    net::post(ex_, [self = shared_from_this()] {
      if (self->open_) {
        self->finish_requested_ = true;
        self->close_code_ = websocket::close_code::going_away;
        self->maybe_close();
      } else {
        self->close_tcp();
      }
    });
  }

 private:
  // ---- handshake ---------------------------------------------------------------------------------
  void read_request() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(0);
    handshake_deadline_ms_ = monotonic_ms() + shared_->options.handshake_timeout_ms;
    beast::get_lowest_layer(ws_).expires_after(std::chrono::milliseconds(shared_->options.handshake_timeout_ms));
    bhttp::async_read(beast::get_lowest_layer(ws_), buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->on_request(ec); });
  }

  void on_request(beast::error_code ec) {
    if (ec) return close_tcp();  // timeout, closed, malformed or oversized head
    req_ = parser_->release();
    parser_.reset();

    if (shared_->stopping.load() || shared_->draining.load())
      return reply(503, "draining", "the server is shutting down; retry against another instance", {{"Retry-After", "5"}});
    if (over_limit_) return reply(503, "unavailable", "too many WebSocket connections; retry later", {{"Retry-After", "5"}});

    const std::string target(sv(req_.target()));
    const size_t q = target.find('?');
    auto path = normalize_path(std::string_view(target).substr(0, q));
    if (!path) return reply(400, "invalid_path", "the request path cannot be normalized");
    const auto segs = split_path(*path);
    if (segs.size() != 3 || lower(segs[0]) != "ws" || lower(segs[1]) != "orchestrator")
      return reply(404, "not_found", "no WebSocket endpoint at " + path->substr(0, 200) +
                                         " (the endpoint is /ws/orchestrator/<executionId>)");
    execution_id_ = segs[2];
    if (req_.method() != bhttp::verb::get) return reply(405, "method_not_allowed", "use GET to open a WebSocket", {{"Allow", "GET"}});
    if (!websocket::is_upgrade(req_))
      return reply(426, "upgrade_required", "this endpoint speaks WebSocket only (Upgrade: websocket)",
                   {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}});
    // Cross-site WebSocket hijacking: a browser sends its page's origin; only configured ones.
    auto origin = req_.find(bhttp::field::origin);
    if (origin != req_.end()) {
      const auto& allowed = shared_->options.cors_origins;
      if (std::find(allowed.begin(), allowed.end(), std::string(sv(origin->value()))) == allowed.end())
        return reply(403, "cors_forbidden", "this origin is not allowed (cors_origins in the config)");
    }
    if (q != std::string::npos) {
      for (const auto& [k, v] : parse_query(std::string_view(target).substr(q + 1))) {
        if (k != "after") continue;
        char* end = nullptr;
        const long long n = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || n < 0 || n > INT64_MAX / 2)
          return reply(400, "invalid_argument", "after must be a non-negative integer");
        after_ = n;
      }
    }
    // The credential: a header, or the subprotocol list.
    bool offered_any = false, offered_v1 = false;
    std::string proto_token;
    const auto protocols = req_.equal_range(bhttp::field::sec_websocket_protocol);
    for (auto it = protocols.first; it != protocols.second; ++it) {
      std::string_view list = sv(it->value());
      while (!list.empty()) {
        const size_t comma = list.find(',');
        const std::string item = trim(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        if (item.empty()) continue;
        offered_any = true;
        if (item == kProtocol) offered_v1 = true;
        if (item.size() > kBearerProtocol.size() && item.compare(0, kBearerProtocol.size(), kBearerProtocol) == 0)
          proto_token = item.substr(kBearerProtocol.size());
      }
    }
    if (offered_any && !offered_v1)
      return reply(400, "bad_request", "offer the subprotocol \"weft.v1\" (with \"weft.bearer.<token>\" to authenticate)");
    select_protocol_ = offered_any;
    auto authz = req_.find(bhttp::field::authorization);
    if (authz != req_.end()) {
      const std::string v = trim(sv(authz->value()));
      if (v.size() > 7 && lower(v.substr(0, 7)) == "bearer ") token_ = trim(v.substr(7));
    } else if (auto key = req_.find("x-api-key"); key != req_.end()) {
      token_ = trim(sv(key->value()));
    }
    if (token_.empty()) token_ = proto_token;
    if (token_.empty())
      return reply(401, "unauthorized", "a WebSocket needs a bearer token: the Authorization header or the subprotocol \"weft.bearer.<token>\"",
                   {{"WWW-Authenticate", "Bearer"}});

    // Authentication and admission read the store: off the I/O thread.
    net::post(*shared_->work, [self = shared_from_this()] { self->authorize(); });
  }

  // On the worker pool.
  void authorize() {
    auto principal = shared_->auth->authenticate(token_);
    Error denied;
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    if (!principal.ok()) {
      denied = principal.error();
      status = status_for_code(denied.code);
      if (status == 401) headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    } else if (!principal->has_scope(auth::scope::kExecutionsRead)) {
      denied = Error("forbidden", "the API key lacks the scope 'executions:read'");
      status = 403;
    } else {
      auto admitted = shared_->hooks.admit ? shared_->hooks.admit(*principal, execution_id_)
                                           : Result<std::function<void()>>(std::function<void()>());
      if (!admitted.ok()) {
        denied = admitted.error();
        status = status_for_code(denied.code);
        if (denied.code == "rate_limited") headers.emplace_back("Retry-After", "5");
      } else {
        release_ = std::move(*admitted);  // runs in the destructor, whatever happens next
      }
    }
    net::post(ex_, [self = shared_from_this(), denied = std::move(denied), status, headers = std::move(headers)] {
      if (status != 0) {
        std::string message = denied.message;
        if (status >= 500) {
          std::fprintf(stderr, "weft: websocket %d %s: %s\n", status, denied.code.c_str(), denied.message.c_str());
          message = "internal error; the server log has the details";
        }
        Json details;
        if (!denied.details.empty() && status < 500) {
          auto d = Json::parse(denied.details);
          if (d.ok()) details = *d;
        }
        return self->reply(status, denied.code, message, headers, details);
      }
      self->accept();
    });
  }

  void reply(int status, const std::string& code, const std::string& message,
             const std::vector<std::pair<std::string, std::string>>& headers = {}, const Json& details = Json()) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(status), req_.version());
    res->set(bhttp::field::server, "weft");
    res->set(bhttp::field::content_type, "application/json");
    for (const auto& [k, v] : headers) res->set(k, v);
    res->keep_alive(false);
    res->body() = error_body(code, message, details);
    res->prepare_payload();
    beast::get_lowest_layer(ws_).expires_after(std::chrono::milliseconds(shared_->options.handshake_timeout_ms));
    bhttp::async_write(beast::get_lowest_layer(ws_), *res, [self = shared_from_this(), res](beast::error_code, size_t) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->close_tcp();
    });
  }

  void accept() {
    if (shared_->stopping.load()) return close_tcp();
    const int64_t left = handshake_deadline_ms_ - monotonic_ms();
    if (left <= 0) return close_tcp();
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout opt;
    opt.handshake_timeout = std::chrono::milliseconds(left);
    // Beast pings after half the idle timeout without incoming data, and closes after the whole.
    opt.idle_timeout = std::chrono::milliseconds(2 * shared_->options.ping_interval_ms);
    opt.keep_alive_pings = true;
    ws_.set_option(opt);
    const bool select = select_protocol_;
    ws_.set_option(websocket::stream_base::decorator([select](websocket::response_type& res) {
      res.set(bhttp::field::server, "weft");
      if (select) res.set(bhttp::field::sec_websocket_protocol, kProtocol);
    }));
    ws_.read_message_max(shared_->options.max_message_bytes);
    ws_.auto_fragment(false);
    ws_.async_accept(req_, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void on_accept(beast::error_code ec) {
    if (ec) return close_tcp();
    open_ = true;
    if (shared_->stopping.load()) return close_ws(websocket::close_code::going_away);
    // The stored events first, paced by the socket (a page is read when the previous one is
    // written), then live ones from the hub.
    cursor_ = after_;
    replaying_ = true;
    fetch_page();
    read_message();
  }

  // ---- replay (strand) ---------------------------------------------------------------------------
  static constexpr int64_t kReplayPage = 100;

  void fetch_page() {
    if (fetching_ || !replaying_ || gone_.load() || close_started_) return;
    fetching_ = true;
    net::post(*shared_->work, [self = shared_from_this()] {
      auto page = self->shared_->store->events(self->execution_id_, self->cursor_, kReplayPage);
      net::post(self->ex_, [self, page = std::move(page)] { self->on_page(page); });
    });
  }

  void on_page(const Result<std::vector<store::EventRecord>>& page) {
    fetching_ = false;
    if (gone_.load() || close_started_) return;
    if (!page.ok()) {
      std::fprintf(stderr, "weft: websocket replay of %s: %s: %s\n", execution_id_.c_str(), page.error().code.c_str(),
                   page.error().message.c_str());
      replaying_ = false;
      finish_requested_ = true;
      close_code_ = websocket::close_code::internal_error;
      maybe_close();
      return;
    }
    for (const auto& e : *page) {
      std::string text = frame_from_record(e);
      backlog_.fetch_add(text.size());
      enqueue(std::make_shared<const std::string>(std::move(text)));
      cursor_ = e.seq;
      if (e.type == "workflow_done") {
        // The whole story is stored: nothing live will follow.
        replaying_ = false;
        finish_requested_ = true;
        maybe_close();
        return;
      }
    }
    // Caught up with the store: subscribe once the replay is written, so live events start
    // with an empty backlog.
    if (static_cast<int64_t>(page->size()) < kReplayPage) replay_done_ = true;
    if (!writing_) replay_step();
  }

  // With nothing left to write: the next page, or the live subscription.
  void replay_step() {
    if (!replaying_) return;
    if (!replay_done_) return fetch_page();
    replaying_ = false;
    subscribe();
  }

  // Live events: the SSE hub's subscriber machinery (bus + gap filling + store polling), through
  // a sink that turns its text into frames. Its backlog is bounded: a client that reads slower
  // than the execution produces events is dropped.
  void subscribe() {
    struct Sink : EventStream {
      std::weak_ptr<WsSession> session;
      bool write(std::string_view text) override {
        auto s = session.lock();
        if (!s || s->gone()) return false;
        auto frame = frame_from_sse(text);
        if (!frame) return true;  // a heartbeat comment: WebSocket pings do that job
        return s->push(std::move(*frame));
      }
      void end() override {
        if (auto s = session.lock()) s->finish();
      }
    };
    auto sink = std::make_unique<Sink>();
    sink->session = weak_from_this();
    shared_->events->add(execution_id_, cursor_, std::move(sink), nullptr);
  }

  // ---- client messages ---------------------------------------------------------------------------
  void read_message() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t) { self->on_message(ec); });
  }

  void on_message(beast::error_code ec) {
    if (ec) {
      // Closed by the client (or by us), timed out (no pong), too big (Beast closed with 1009),
      // or the socket failed: the session ends when its last handler returns.
      gone_ = true;
      return;
    }
    const bool text = ws_.got_text();
    std::string data = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    if (!text) {
      send_json(error_reply("invalid_message", "send JSON text frames"));
      return read_message();
    }
    JsonParseLimits limits;
    limits.max_depth = 32;
    limits.max_bytes = shared_->options.max_message_bytes + 1;
    auto parsed = Json::parse(data, limits);
    if (!parsed.ok() || !parsed->is_object() || !(*parsed)["type"].is_string()) {
      send_json(error_reply("invalid_message", "a message is a JSON object with a string \"type\""));
      return read_message();
    }
    // One message at a time, in order: the next read starts when this one is answered.
    handling_ = true;
    net::post(*shared_->work, [self = shared_from_this(), msg = std::move(*parsed)] { self->handle(msg); });
  }

  // On the worker pool.
  void handle(const Json& msg) {
    // The credential may have been revoked or expired since the upgrade.
    auto principal = shared_->auth->authenticate(token_);
    Json reply;
    bool close_after = false;
    if (!principal.ok()) {
      Json r = Json::object();
      r.set("type", "error");
      r.set("error", error_frame_body(principal.error()));
      reply = r;
      close_after = status_for_code(principal.error().code) == 401;
    } else if (shared_->hooks.message) {
      reply = shared_->hooks.message(*principal, execution_id_, msg);
    } else {
      reply = error_reply("invalid_message", "this endpoint accepts no messages");
    }
    net::post(ex_, [self = shared_from_this(), reply = std::move(reply), close_after] {
      self->handling_ = false;
      self->send_json(reply);
      if (close_after) {
        self->finish_requested_ = true;
        self->close_code_ = websocket::close_code::policy_error;
      } else {
        self->read_message();
      }
      // A close requested meanwhile (workflow_done, shutdown) waited for this reply.
      self->maybe_close();
    });
  }

  static Json error_reply(const std::string& code, const std::string& message) {
    Json r = Json::object();
    r.set("type", "error");
    Json e = Json::object();
    e.set("code", code);
    e.set("message", message);
    r.set("error", e);
    return r;
  }

  // ---- writing (on the strand) -------------------------------------------------------------------
  void send_json(const Json& j) {
    std::string text = j.dump();
    backlog_.fetch_add(text.size());
    enqueue(std::make_shared<const std::string>(std::move(text)));
  }

  void enqueue(std::shared_ptr<const std::string> text) {
    if (gone_.load() || close_started_) {
      backlog_.fetch_sub(text->size());
      return;
    }
    queue_.push_back(std::move(text));
    if (!writing_) write_next();
  }

  void write_next() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(*queue_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->backlog_.fetch_sub(self->queue_.front()->size());
      self->queue_.pop_front();
      if (ec) {
        self->writing_ = false;
        self->gone_ = true;
        return self->close_tcp();
      }
      if (!self->queue_.empty() && !self->close_started_) return self->write_next();
      self->writing_ = false;
      if (self->finish_requested_) return self->maybe_close();
      self->replay_step();
    });
  }

  // Closes (close_code_) once a close is requested and nothing is being written or answered.
  void maybe_close() {
    if (finish_requested_ && !writing_ && !handling_) close_ws(close_code_);
  }

  void close_ws(websocket::close_code code) {
    if (close_started_ || !open_) return;
    close_started_ = true;
    ws_.async_close(websocket::close_reason(code), [self = shared_from_this()](beast::error_code) {
      self->gone_ = true;
      // The pending read completes with "closed"; make sure the socket goes in any case.
      self->close_tcp();
    });
  }

  void close_tcp() {
    gone_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  // A slow reader: drop the TCP connection (sending a close frame would queue behind the backlog).
  void drop() {
    if (gone_.exchange(true)) return;
    net::post(ex_, [self = shared_from_this()] { self->close_tcp(); });
  }

  websocket::stream<beast::tcp_stream> ws_;
  net::any_io_executor ex_;
  std::shared_ptr<WsShared> shared_;
  uint64_t id_ = 0;
  bool over_limit_ = false;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::empty_body>> parser_;
  bhttp::request<bhttp::empty_body> req_;
  int64_t handshake_deadline_ms_ = 0;
  std::string execution_id_;
  int64_t after_ = 0;
  int64_t cursor_ = 0;       // the last event seq queued (strand)
  bool replaying_ = false;   // strand
  bool fetching_ = false;    // strand
  bool replay_done_ = false; // strand: the store had no more events
  std::string token_;  // kept to re-authenticate each client message; never logged
  bool select_protocol_ = false;
  std::function<void()> release_;

  // Strand-only state.
  bool open_ = false;
  bool writing_ = false;
  bool finish_requested_ = false;
  bool handling_ = false;  // a client message is being answered on the worker pool
  bool close_started_ = false;
  websocket::close_code close_code_ = websocket::close_code::normal;
  std::deque<std::shared_ptr<const std::string>> queue_;

  std::atomic<bool> gone_{false};
  std::atomic<size_t> backlog_{0};
};

struct WebSocketServer::Impl {
  std::shared_ptr<WsShared> shared = std::make_shared<WsShared>();
  net::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::thread_pool> work;
  std::vector<std::thread> threads;
  bool started = false;
  bool stopped = false;

  void do_accept() {
    acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
      if (!ec) {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        socket.set_option(net::socket_base::send_buffer_size(kSendBufferBytes), ignored);
        std::shared_ptr<WsSession> session;
        {
          std::lock_guard<std::mutex> lk(shared->mu);
          const bool over = shared->sessions.size() >= shared->options.max_connections;
          session = std::make_shared<WsSession>(std::move(socket), shared, over);
          const uint64_t id = shared->next_id++;
          session->set_id(id);
          shared->sessions[id] = session;
        }
        session->start();
      }
      do_accept();
    });
  }
};

WebSocketServer::WebSocketServer(WebSocketOptions options, std::shared_ptr<store::Store> store,
                                 std::shared_ptr<auth::AuthService> auth, std::shared_ptr<SseHub> events,
                                 WebSocketHooks hooks)
    : impl_(std::make_unique<Impl>()) {
  impl_->shared->options = std::move(options);
  impl_->shared->store = std::move(store);
  impl_->shared->auth = std::move(auth);
  impl_->shared->events = std::move(events);
  impl_->shared->hooks = std::move(hooks);
}

WebSocketServer::~WebSocketServer() {
  stop();
  // Handlers still queued in the stopped io_context own sessions: destroy them before the rest.
  impl_->acceptor.reset();
}

Result<uint16_t> WebSocketServer::start() {
  Impl& m = *impl_;
  if (m.started) return port_;
  const auto& o = m.shared->options;
  beast::error_code ec;
  auto address = net::ip::make_address(o.address.empty() ? "127.0.0.1" : o.address, ec);
  if (ec) return Error("invalid_config", "server.websocket.address '" + o.address + "' is not an IP address");
  if (o.port < 0 || o.port > 65535) return Error("invalid_config", "server.websocket.port must be 0..65535");
  tcp::endpoint endpoint(address, static_cast<uint16_t>(o.port));
  m.acceptor.emplace(net::make_strand(m.ioc));
  m.acceptor->open(endpoint.protocol(), ec);
  if (!ec) m.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) m.acceptor->bind(endpoint, ec);
  if (!ec) m.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    m.acceptor.reset();
    return Error("unavailable", "cannot listen for WebSockets on " + endpoint.address().to_string() + ":" +
                                    std::to_string(o.port) + ": " + ec.message());
  }
  port_ = m.acceptor->local_endpoint().port();
  m.work.emplace(std::max<size_t>(1, o.worker_threads));
  m.shared->work = &*m.work;
  m.do_accept();
  for (size_t i = 0; i < std::max<size_t>(1, o.threads); ++i) m.threads.emplace_back([&m] { m.ioc.run(); });
  m.started = true;
  return port_;
}

void WebSocketServer::begin_drain() { impl_->shared->draining = true; }

size_t WebSocketServer::connections() const {
  std::lock_guard<std::mutex> lk(impl_->shared->mu);
  return impl_->shared->sessions.size();
}

void WebSocketServer::stop() {
  Impl& m = *impl_;
  if (!m.started || m.stopped) return;
  m.stopped = true;
  m.shared->stopping = true;
  net::post(m.acceptor->get_executor(), [&m] {
    beast::error_code ignored;
    m.acceptor->close(ignored);
  });
  // Close every connection (1001), give the close handshakes a moment, then stop.
  std::vector<std::shared_ptr<WsSession>> live;
  {
    std::lock_guard<std::mutex> lk(m.shared->mu);
    for (auto& [id, w] : m.shared->sessions)
      if (auto s = w.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) s->shutdown();
  live.clear();
  {
    std::unique_lock<std::mutex> lk(m.shared->mu);
    m.shared->cv.wait_for(lk, std::chrono::milliseconds(1000), [&] { return m.shared->sessions.empty(); });
  }
  // Work in flight (authentication, a message) finishes; its posts land in the stopped context.
  m.work->join();
  m.ioc.stop();
  for (auto& t : m.threads) t.join();
  m.threads.clear();
}

}  // namespace weft::http
