#include "tests/net/test_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace weft::net::testing {
namespace {

constexpr size_t kMaxHead = 1024 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

const char* reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

// Buffered reader over a connected socket.
class Reader {
 public:
  explicit Reader(int fd) : fd_(fd) {}

  // Fills until `buf_` holds `delim` (returns its position) — npos on EOF/error/over limit.
  size_t until(std::string_view delim, size_t limit) {
    for (;;) {
      size_t pos = buf_.find(delim);
      if (pos != std::string::npos) return pos;
      if (buf_.size() > limit || !fill()) return std::string::npos;
    }
  }
  bool need(size_t n) {
    while (buf_.size() < n) {
      if (!fill()) return false;
    }
    return true;
  }
  std::string take(size_t n) {
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }

 private:
  bool fill() {
    char tmp[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
  }
  int fd_;
  std::string buf_;
};

// Reads one request; false on EOF or a malformed request.
bool read_request(Reader& in, int fd, TestRequest& req) {
  size_t end = in.until("\r\n\r\n", kMaxHead);
  if (end == std::string::npos) return false;
  std::string head = in.take(end + 4);
  size_t line_end = head.find("\r\n");
  std::string_view line(head.data(), line_end);
  size_t sp1 = line.find(' ');
  size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return false;
  req.method = std::string(line.substr(0, sp1));
  req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  req.query = q == std::string::npos ? "" : req.target.substr(q + 1);
  size_t pos = line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos || e == pos) break;
    std::string_view h(head.data() + pos, e - pos);
    size_t colon = h.find(':');
    if (colon != std::string_view::npos) {
      req.headers.emplace_back(lower(trim(h.substr(0, colon))), std::string(trim(h.substr(colon + 1))));
    }
    pos = e + 2;
  }
  if (lower(req.header("expect")) == "100-continue") {
    if (!send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n")) return false;
  }
  if (lower(req.header("transfer-encoding")).find("chunked") != std::string::npos) {
    for (;;) {
      size_t le = in.until("\r\n", kMaxHead);
      if (le == std::string::npos) return false;
      std::string size_line = in.take(le + 2);
      size_t size = std::strtoul(size_line.c_str(), nullptr, 16);
      if (size == 0) {
        // Trailers (ignored) up to the empty line.
        for (;;) {
          size_t te = in.until("\r\n", kMaxHead);
          if (te == std::string::npos) return false;
          std::string t = in.take(te + 2);
          if (t == "\r\n") return true;
        }
      }
      if (!in.need(size + 2)) return false;
      req.body += in.take(size);
      in.take(2);
    }
  }
  std::string cl = req.header("content-length");
  if (!cl.empty()) {
    size_t n = std::strtoul(cl.c_str(), nullptr, 10);
    if (!in.need(n)) return false;
    req.body = in.take(n);
  }
  return true;
}

}  // namespace

std::string TestRequest::header(std::string_view name) const {
  std::string want = lower(name);
  std::string out;
  bool first = true;
  for (const auto& [n, v] : headers) {
    if (n != want) continue;
    if (!first) out += ", ";
    out += v;
    first = false;
  }
  return out;
}

bool TestRequest::has_header(std::string_view name) const {
  std::string want = lower(name);
  for (const auto& h : headers) {
    if (h.first == want) return true;
  }
  return false;
}

TestResponse TestResponse::text(int status, std::string body, std::string content_type) {
  TestResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", std::move(content_type));
  return r;
}

TestResponse TestResponse::redirect(int status, std::string location) {
  TestResponse r;
  r.status = status;
  r.headers.emplace_back("Location", std::move(location));
  return r;
}

TestHttpServer::TestHttpServer(TestHandler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("test server: socket() failed");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("test server: bind/listen on 127.0.0.1 failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("test server: pipe2 failed");
  }
  acceptor_ = std::thread([this] { accept_loop(); });
}

TestHttpServer::~TestHttpServer() {
  stop();
}

std::string TestHttpServer::host_port() const {
  return "127.0.0.1:" + std::to_string(port_);
}
std::string TestHttpServer::base_url() const {
  return "http://" + host_port();
}
std::string TestHttpServer::url(std::string_view path_and_query) const {
  return base_url() + std::string(path_and_query);
}

void TestHttpServer::set_handler(TestHandler handler) {
  std::lock_guard<std::mutex> lk(mu_);
  handler_ = std::move(handler);
}

std::vector<TestRequest> TestHttpServer::requests() const {
  std::lock_guard<std::mutex> lk(mu_);
  return requests_;
}

size_t TestHttpServer::request_count() const {
  std::lock_guard<std::mutex> lk(mu_);
  return requests_.size();
}

size_t TestHttpServer::connection_count() const {
  return connections_.load();
}

bool TestHttpServer::wait_for_requests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lk(mu_);
  return cv_.wait_for(lk, timeout, [&] { return requests_.size() >= n; });
}

void TestHttpServer::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  cv_.notify_all();
  char b = 1;
  (void)!::write(wake_pipe_[1], &b, 1);
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lk(mu_);
    // Connections accepted after the first sweep.
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
  ::close(listen_fd_);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

void TestHttpServer::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    int rc = ::poll(fds, 2, -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0 || stopping_ || (fds[1].revents & POLLIN)) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    connections_.fetch_add(1);
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    open_fds_.insert(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

bool TestHttpServer::wait_or_stop(std::chrono::milliseconds d, int fd) {
  auto until = std::chrono::steady_clock::now() + d;
  for (;;) {
    if (stopping_) return false;
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return true;
    // Wake up when the peer hangs up (readable with 0 bytes) — a pipelined request also makes
    // the socket readable, so only a zero-byte peek counts as a hang-up.
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 50)));
    if (rc > 0) {
      char c;
      ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return false;
      if (n > 0) {
        // Data is waiting; avoid spinning on it.
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(left.count(), 10)));
      }
    }
  }
}

void TestHttpServer::serve(int fd) {
  Reader in(fd);
  for (;;) {
    TestRequest req;
    if (stopping_ || !read_request(in, fd, req)) break;
    TestHandler handler;
    {
      std::lock_guard<std::mutex> lk(mu_);
      requests_.push_back(req);
      handler = handler_;
    }
    cv_.notify_all();
    TestResponse res = handler ? handler(req) : TestResponse::text(200, "ok");

    if (res.never_respond) {
      while (wait_or_stop(std::chrono::milliseconds(1000), fd)) {
      }
      break;
    }
    if (res.delay.count() > 0 && !wait_or_stop(res.delay, fd)) break;

    bool close_after = res.endless_body || lower(req.header("connection")) == "close";
    std::string head = "HTTP/1.1 " + std::to_string(res.status) + " " + reason(res.status) + "\r\n";
    bool has_length = false;
    for (const auto& [n, v] : res.headers) {
      if (lower(n) == "content-length") has_length = true;
      if (lower(n) == "connection" && lower(v) == "close") close_after = true;
      head += n + ": " + v + "\r\n";
    }
    if (!res.endless_body && !has_length)
      head += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
    if (close_after) head += "Connection: close\r\n";
    head += "\r\n";
    if (!send_all(fd, head)) break;
    bool body_allowed = req.method != "HEAD" && res.status != 204 && res.status != 304;
    if (body_allowed) {
      if (res.endless_body) {
        if (!send_all(fd, res.body)) break;
        std::string filler(16 * 1024, 'x');
        while (!stopping_ && send_all(fd, filler)) {
        }
        break;
      }
      if (res.trickle_bytes > 0) {
        bool ok = true;
        for (size_t off = 0; ok && off < res.body.size(); off += res.trickle_bytes) {
          if (off > 0 && !wait_or_stop(res.trickle_interval, fd)) ok = false;
          if (ok) ok = send_all(fd, std::string_view(res.body).substr(off, res.trickle_bytes));
        }
        if (!ok) break;
      } else if (!send_all(fd, res.body)) {
        break;
      }
    }
    if (close_after) break;
  }
  std::lock_guard<std::mutex> lk(mu_);
  open_fds_.erase(fd);
  ::close(fd);
}

}  // namespace weft::net::testing
