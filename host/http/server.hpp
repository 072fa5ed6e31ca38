// The HTTP server (Pistache underneath): accepts requests on a few reactor threads, normalizes
// the path, matches a Route, and enforces — in this order — draining, size and content-type,
// CORS, authentication, authorization (role, scope), rate limits; then runs the handler inline
// (quick handlers) or on the blocking pool (Route::blocking). Every response carries the one
// error shape and is counted in the metrics.
//
// Thread-safety: start/begin_drain/stop from one controlling thread; everything else is internal.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "host/auth/auth.hpp"
#include "host/core/result.hpp"
#include "host/executor/thread_pool.hpp"
#include "host/http/metrics.hpp"
#include "host/http/rate_limit.hpp"
#include "host/http/router.hpp"

namespace weft::http {

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;                     // 0 = any free port (tests)
  size_t reactor_threads = 2;
  size_t blocking_threads = 4;
  size_t password_threads = 2;              // login, password change, user creation (argon2id)
  size_t max_request_bytes = 4u << 20;      // whole request (headers + body): 413 beyond
  int64_t header_timeout_ms = 10000;        // slow clients: headers must arrive within this
  int64_t body_timeout_ms = 30000;          // ... and the body within this
  std::vector<std::string> cors_origins;    // exact origins allowed ("*" not accepted)
  Json rate_overrides = Json::object();     // per-tier overrides (rate_limit.hpp)
  bool rate_limits = true;
  int64_t webhook_per_minute = 600;         // per webhook path (<= 0 = unlimited); runs also count
                                            // against the owner's tier execute limit
  size_t max_blocking_queue = 256;          // blocking jobs waiting or running; beyond: 503
};

struct ServerDeps {
  std::shared_ptr<auth::AuthService> auth;
  std::shared_ptr<RateLimiter> limiter;
  std::shared_ptr<MetricsRegistry> metrics;
};

class Server {
 public:
  Server(ServerOptions options, ServerDeps deps, std::shared_ptr<Router> router);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving; returns the bound port.
  Result<uint16_t> start();
  // New requests get 503 "draining" (health endpoints keep answering); running handlers finish.
  void begin_drain();
  bool draining() const { return draining_.load(); }
  // Waits for in-flight blocking handlers, then shuts the listener and reactors down.
  void stop();

  const Router& router() const { return *router_; }
  const ServerOptions& options() const { return options_; }
  uint16_t port() const { return port_; }

  // Runs a task on the blocking pool (used by handlers that finish asynchronously).
  void submit_blocking(std::function<void()> task);

  struct Impl;  // the Pistache side (server.cpp)

 private:
  friend struct Impl;
  ServerOptions options_;
  ServerDeps deps_;
  std::shared_ptr<Router> router_;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> draining_{false};
  uint16_t port_ = 0;
};

}  // namespace weft::http
