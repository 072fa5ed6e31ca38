#include "tests/api/http_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace weft::apitest {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

int remaining(int64_t deadline_ms) {
  int64_t left = deadline_ms - now_ms();
  return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left, 1 << 30));
}

}  // namespace

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- Response ------------------------------------------------------------------------------------

std::optional<std::string> Response::header(std::string_view name) const {
  const std::string want = lower(std::string(name));
  for (const auto& [k, v] : headers)
    if (lower(k) == want) return v;
  return std::nullopt;
}

const Json& Response::json() const {
  if (!parsed) {
    auto j = Json::parse(body);
    parsed = j.ok() ? *j : Json();
  }
  return *parsed;
}

std::string Response::error_code() const {
  Json j = json();
  return j["error"]["code"].as_string();
}

std::string Response::describe() const {
  if (status == 0) return "no response (" + transport_error + ")";
  std::string b = body.size() > 600 ? body.substr(0, 600) + "..." : body;
  return std::to_string(status) + " " + b;
}

// ---- requests ------------------------------------------------------------------------------------

std::string serialize(const Request& r, uint16_t port, bool keep_alive) {
  std::string out = r.method + " " + r.target + " HTTP/1.1\r\n";
  out += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  const bool has_body_method = r.method == "POST" || r.method == "PUT" || r.method == "PATCH";
  if (r.content_length && (!r.body.empty() || has_body_method))
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += "\r\n";
  out += r.body;
  return out;
}

HeaderList auth_header(const std::string& token) {
  if (token.empty()) return {};
  return {{"Authorization", "Bearer " + token}};
}

// ---- Connection ----------------------------------------------------------------------------------

std::unique_ptr<Connection> Connection::open(uint16_t port, int timeout_ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return nullptr;
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return nullptr;
  }
  if (rc != 0) {
    pollfd p{fd, POLLOUT, 0};
    int n;
    do {
      n = ::poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    int err = 0;
    socklen_t len = sizeof err;
    if (n <= 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      ::close(fd);
      return nullptr;
    }
  }
  auto c = std::unique_ptr<Connection>(new Connection(fd));
  c->port_ = port;
  return c;
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

bool Connection::send_all(std::string_view bytes, int timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      int r = ::poll(&p, 1, remaining(deadline));
      if (r == 0) return false;  // timed out
      if (r < 0 && errno != EINTR) return false;
      continue;
    }
    return false;  // EPIPE, ECONNRESET...
  }
  return true;
}

bool Connection::fill(int64_t deadline_ms) {
  if (eof_) return false;
  for (;;) {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      eof_ = true;  // reset counts as closed
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, remaining(deadline_ms));
    if (r == 0) {
      timed_out_ = true;
      return false;
    }
    if (r < 0 && errno != EINTR) {
      eof_ = true;
      return false;
    }
  }
}

std::optional<std::string> Connection::read_line(int64_t deadline_ms) {
  for (;;) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    if (buf_.size() > (1u << 20)) return std::nullopt;  // no sane line is this long
    if (!fill(deadline_ms)) return std::nullopt;
  }
}

std::optional<std::string> Connection::read_exact(size_t n, int64_t deadline_ms) {
  while (buf_.size() < n) {
    if (!fill(deadline_ms)) return std::nullopt;
  }
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  return out;
}

Response Connection::read_response(int timeout_ms, bool head_only) {
  const int64_t deadline = now_ms() + timeout_ms;
  Response r;
  auto fail = [&](const std::string& why) {
    r.status = 0;
    r.transport_error = timed_out_ ? "timeout" : eof_ ? "closed" : "error";
    if (!why.empty()) r.transport_error += ": " + why;
    return r;
  };
  auto status_line = read_line(deadline);
  if (!status_line) return fail("");
  // "HTTP/1.1 200 OK"
  const std::string& sl = *status_line;
  if (sl.rfind("HTTP/1.", 0) != 0 || sl.size() < 12) return fail("malformed status line '" + sl.substr(0, 80) + "'");
  r.status = std::atoi(sl.substr(9, 3).c_str());
  r.reason = sl.size() > 13 ? sl.substr(13) : "";
  if (r.status < 100 || r.status > 599) return fail("malformed status '" + sl.substr(0, 80) + "'");
  for (;;) {
    auto line = read_line(deadline);
    if (!line) return fail("in headers");
    if (line->empty()) break;
    size_t colon = line->find(':');
    if (colon == std::string::npos) return fail("malformed header '" + line->substr(0, 80) + "'");
    r.headers.emplace_back(trim(line->substr(0, colon)), trim(line->substr(colon + 1)));
  }
  const std::string te = lower(r.header("transfer-encoding").value_or(""));
  chunked_ = te.find("chunked") != std::string::npos;
  remaining_ = -1;
  chunk_left_ = 0;
  body_ended_ = false;
  if (!chunked_) {
    if (auto cl = r.header("content-length")) remaining_ = std::atoll(cl->c_str());
  }
  if (r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200)) {
    remaining_ = 0;
    chunked_ = false;
  }
  if (remaining_ == 0) body_ended_ = true;
  if (head_only) return r;
  // Whole body.
  const int status = r.status;
  while (!body_ended_) {
    if (!read_body_some(r.body, remaining(deadline))) break;
  }
  if (!body_ended_ && (chunked_ || remaining_ > 0)) {
    std::string partial = std::move(r.body);
    Response bad = fail("body incomplete");
    bad.body = std::move(partial);
    bad.transport_error += " (status was " + std::to_string(status) + ")";
    return bad;
  }
  return r;
}

bool Connection::read_body_some(std::string& out, int timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  const size_t before = out.size();
  while (!body_ended_ && out.size() == before) {
    if (!chunked_) {
      if (buf_.empty() && !fill(deadline)) {
        if (eof_ && remaining_ < 0) body_ended_ = true;  // body delimited by the close
        break;
      }
      size_t take = buf_.size();
      if (remaining_ >= 0) take = std::min<size_t>(take, static_cast<size_t>(remaining_));
      out.append(buf_, 0, take);
      buf_.erase(0, take);
      if (remaining_ >= 0) {
        remaining_ -= static_cast<int64_t>(take);
        if (remaining_ == 0) body_ended_ = true;
      }
      continue;
    }
    if (chunk_left_ == 0) {
      auto size_line = read_line(deadline);
      if (!size_line) break;
      std::string hex = size_line->substr(0, size_line->find(';'));
      hex = trim(hex);
      if (hex.empty()) continue;  // the CRLF after the previous chunk's data
      char* end = nullptr;
      long long n = std::strtoll(hex.c_str(), &end, 16);
      if (*end != '\0' || n < 0) {
        eof_ = true;  // framing error: treat the stream as broken
        break;
      }
      if (n == 0) {
        // Trailers until an empty line (best effort: a server may close right after "0\r\n\r\n").
        for (;;) {
          auto t = read_line(deadline);
          if (!t || t->empty()) break;
        }
        body_ended_ = true;
        break;
      }
      chunk_left_ = n;
    }
    if (buf_.empty() && !fill(deadline)) break;
    size_t take = std::min<size_t>(buf_.size(), static_cast<size_t>(chunk_left_));
    out.append(buf_, 0, take);
    buf_.erase(0, take);
    chunk_left_ -= static_cast<int64_t>(take);
  }
  return out.size() > before;
}

Response Connection::roundtrip(const Request& r, bool keep_alive, int timeout_ms) {
  const std::string bytes = serialize(r, port_, keep_alive);
  // A server that answers early (413) and closes may make the send fail: read the answer anyway.
  (void)send_all(bytes, timeout_ms);
  return read_response(timeout_ms);
}

std::string Connection::read_raw(int timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  if (buf_.empty()) (void)fill(deadline);
  std::string out;
  out.swap(buf_);
  return out;
}

bool Connection::wait_closed(int timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  while (!eof_) {
    buf_.clear();
    timed_out_ = false;
    if (!fill(deadline) && timed_out_) return false;
  }
  return true;
}

// ---- Client --------------------------------------------------------------------------------------

Response Client::send(const Request& r, int timeout_ms) const {
  auto c = Connection::open(port_);
  if (!c) {
    Response bad;
    bad.transport_error = "connect";
    return bad;
  }
  std::string bytes = serialize(r, port_, false);
  (void)c->send_all(bytes, timeout_ms);
  return c->read_response(timeout_ms);
}

Response Client::request(const std::string& method, const std::string& target, const std::string& token,
                         const std::string& body, const HeaderList& headers, int timeout_ms) const {
  Request r;
  r.method = method;
  r.target = target;
  r.headers = auth_header(token);
  for (const auto& h : headers) r.headers.push_back(h);
  r.body = body;
  return send(r, timeout_ms);
}

Response Client::get(const std::string& target, const std::string& token, const HeaderList& headers) const {
  return request("GET", target, token, "", headers);
}

Response Client::del(const std::string& target, const std::string& token) const {
  return request("DELETE", target, token);
}

Response Client::post(const std::string& target, const Json& body, const std::string& token,
                      const HeaderList& headers) const {
  HeaderList h{{"Content-Type", "application/json"}};
  for (const auto& x : headers) h.push_back(x);
  return request("POST", target, token, body.dump(), h);
}

Response Client::put(const std::string& target, const Json& body, const std::string& token) const {
  return request("PUT", target, token, body.dump(), {{"Content-Type", "application/json"}});
}

Response Client::post_empty(const std::string& target, const std::string& token, const HeaderList& headers) const {
  return request("POST", target, token, "", headers);
}

// ---- SSE -----------------------------------------------------------------------------------------

Json SseEvent::json() const {
  auto j = Json::parse(data);
  return j.ok() ? *j : Json();
}

std::unique_ptr<SseStream> SseStream::open(uint16_t port, const std::string& target, const std::string& token,
                                           const std::string& last_event_id, int timeout_ms) {
  auto s = std::unique_ptr<SseStream>(new SseStream());
  s->conn_ = Connection::open(port, timeout_ms);
  if (!s->conn_) {
    s->head_.transport_error = "connect";
    s->ended_ = true;
    return s;
  }
  Request r;
  r.target = target;
  r.headers = auth_header(token);
  r.headers.emplace_back("Accept", "text/event-stream");
  if (!last_event_id.empty()) r.headers.emplace_back("Last-Event-ID", last_event_id);
  (void)s->conn_->send_all(serialize(r, port, true), timeout_ms);
  s->head_ = s->conn_->read_response(timeout_ms, /*head_only=*/true);
  if (s->head_.status != 200) {
    // Not a stream: read the (error) body so tests can look at it.
    while (!s->conn_->body_ended()) {
      if (!s->conn_->read_body_some(s->head_.body, timeout_ms)) break;
    }
    s->ended_ = true;
  }
  return s;
}

bool SseStream::ended() const { return ended_; }

void SseStream::parse_available() {
  size_t pos;
  // Normalize line endings (CRLF is a valid SSE line end too).
  while ((pos = text_.find("\r\n")) != std::string::npos) text_.replace(pos, 2, "\n");
  for (;;) {
    size_t end = text_.find("\n\n");
    if (end == std::string::npos) return;
    std::string block = text_.substr(0, end);
    text_.erase(0, end + 2);
    SseEvent ev;
    bool any = false;
    std::vector<std::string> data;
    size_t i = 0;
    while (i < block.size()) {
      size_t j = block.find('\n', i);
      if (j == std::string::npos) j = block.size();
      std::string line = block.substr(i, j - i);
      i = j + 1;
      if (line.empty()) continue;
      if (line[0] == ':') {
        std::string c = line.substr(1);
        if (!c.empty() && c[0] == ' ') c.erase(0, 1);
        comments_.push_back(c);
        continue;
      }
      size_t colon = line.find(':');
      std::string field = line.substr(0, colon);
      std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      if (field == "id") {
        ev.id = value;
        any = true;
      } else if (field == "event") {
        ev.event = value;
        any = true;
      } else if (field == "data") {
        data.push_back(value);
        any = true;
      }
    }
    for (size_t k = 0; k < data.size(); ++k) ev.data += (k ? "\n" : "") + data[k];
    if (any) pending_.push_back(std::move(ev));
  }
}

bool SseStream::pump(int64_t deadline) {
  if (ended_ || !conn_) return false;
  if (conn_->read_body_some(text_, remaining(deadline))) return true;
  if (conn_->body_ended() || conn_->eof()) ended_ = true;
  return false;
}

std::optional<SseEvent> SseStream::next(int timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    parse_available();
    if (!pending_.empty()) {
      SseEvent ev = std::move(pending_.front());
      pending_.pop_front();
      return ev;
    }
    if (!pump(deadline)) {
      parse_available();
      if (!pending_.empty()) continue;
      return std::nullopt;  // ended or timed out
    }
  }
}

bool SseStream::wait_comments(const std::string& prefix, size_t count, int timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    parse_available();
    size_t n = 0;
    for (const auto& c : comments_) n += c.rfind(prefix, 0) == 0 ? 1 : 0;
    if (n >= count) return true;
    if (!pump(deadline) && (ended_ || now_ms() >= deadline)) return false;
  }
}

bool SseStream::wait_end(int timeout_ms, std::vector<SseEvent>* events) {
  const int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    auto ev = next(remaining(deadline));
    if (ev) {
      if (events) events->push_back(std::move(*ev));
      continue;
    }
    if (ended_) return true;
    if (now_ms() >= deadline) return false;
  }
}

}  // namespace weft::apitest
