// A small scripted HTTP/1.1 server on 127.0.0.1 for tests that need a real peer (library target
// `weft_test_http_server`, no Weft dependencies: link it and include "tests/net/test_server.hpp").
//
//   weft::net::testing::TestHttpServer server([](const TestRequest& r) {
//     if (r.path == "/old") return TestResponse::redirect(302, "/new");
//     return TestResponse::text(200, "hello");
//   });
//   ... request server.url("/old?x=1") ...
//   EXPECT_EQ(server.request_count(), 2u);
//   EXPECT_EQ(server.requests()[1].header("authorization"), "Bearer t");
//
// The server binds port 0 and serves each connection on its own thread (keep-alive supported).
// Every complete request is recorded BEFORE the handler runs, so a test can assert on requests
// whose answer never comes. The handler runs on connection threads, possibly concurrently: it
// must be thread-safe. Responses can be delayed, never sent, trickled or endless; all of those
// end promptly when the client hangs up or the server stops. The destructor stops the server.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace weft::net::testing {

struct TestRequest {
  std::string method;
  std::string target;                                        // path + query exactly as sent, e.g. "/a/b?x=1"
  std::string path;                                          // target before '?'
  std::string query;                                         // target after '?' (no '?'), "" when none
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;                                          // de-chunked when sent chunked

  // Value of a header (case-insensitive), "" when absent; repeated headers joined with ", ".
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

struct TestResponse {
  int status = 200;
  // Sent as given. Content-Length is added unless present (or the body is endless), and
  // "Connection: close" for endless bodies.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Wait this long before sending anything (cut short when the server stops).
  std::chrono::milliseconds delay{0};
  // Send nothing at all; the connection stays open until the client hangs up or the server stops.
  bool never_respond = false;
  // After the headers (no Content-Length), send `body` (if any) then filler bytes forever, until
  // the client hangs up or the server stops.
  bool endless_body = false;
  // > 0: send `body` (with its full Content-Length) in pieces of this many bytes, pausing
  // `trickle_interval` between pieces — a slow body.
  size_t trickle_bytes = 0;
  std::chrono::milliseconds trickle_interval{0};

  static TestResponse text(int status, std::string body,
                           std::string content_type = "text/plain; charset=utf-8");
  static TestResponse redirect(int status, std::string location);
};

using TestHandler = std::function<TestResponse(const TestRequest&)>;

class TestHttpServer {
 public:
  // A null handler answers every request with 200 "ok".
  explicit TestHttpServer(TestHandler handler = nullptr);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  uint16_t port() const { return port_; }
  std::string host_port() const;                                 // "127.0.0.1:<port>"
  std::string base_url() const;                                  // "http://127.0.0.1:<port>"
  std::string url(std::string_view path_and_query = "/") const;  // base_url() + path

  void set_handler(TestHandler handler);

  std::vector<TestRequest> requests() const;  // snapshot, in arrival order
  size_t request_count() const;
  // TCP connections accepted so far (including ones that never sent a complete request).
  size_t connection_count() const;
  // Waits until at least n requests were recorded; false on timeout.
  bool wait_for_requests(size_t n, std::chrono::milliseconds timeout) const;

  // Stops accepting, cuts open connections, joins all threads. Idempotent.
  void stop();

 private:
  void accept_loop();
  void serve(int fd);
  bool wait_or_stop(std::chrono::milliseconds d, int fd);  // false when stopping or peer closed

  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> connections_{0};

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  TestHandler handler_;
  std::vector<TestRequest> requests_;
  std::set<int> open_fds_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
  bool stopped_ = false;
};

}  // namespace weft::net::testing
