// `weft serve` assembled: the Host (plugins, store, executor, in-process workers), the auth
// service, the workflow/execution services, the SSE hub, rate limiter, metrics and the HTTP
// server. The CLI and the API tests start exactly this.
#pragma once

#include <memory>
#include <string>

#include "host/api/api.hpp"
#include "host/app/config.hpp"
#include "host/app/host.hpp"
#include "host/http/server.hpp"
#include "host/http/websocket.hpp"

namespace weft::api {

// The "server" section of the configuration (config/weft.json), then environment overrides:
// WEFT_ADDRESS, WEFT_PORT, WEFT_AUTH_SECRET_FILE, WEFT_CORS_ORIGINS (comma-separated),
// WEFT_ADMIN_EMAIL, WEFT_RATE_LIMITS (0 = off), WEFT_WS_PORT (the WebSocket listener's port).
struct ServeConfig {
  http::ServerOptions http;
  std::string secret_file = "var/auth.key";         // JWT signing key + peppers (created 0600 when missing)
  bool create_secret = true;                         // false: refuse to start without the file
  auth::AuthOptions auth;
  http::SseOptions sse;
  int64_t shutdown_grace_ms = 30000;                 // running executions get this long to finish or park
  int64_t sync_wait_ms = 30000;                      // a synchronous run answers 202 after this and goes on
  int64_t max_sync_runs_per_user = 2;                // concurrent synchronous runs per owner (0 = no cap)
  std::string admin_email = "admin@localhost";       // first-admin bootstrap on an empty database
  std::string bootstrap_file = "var/initial-admin.json";  // where its generated password is written (0600)
  bool bootstrap_admin = true;
  bool start_workers = true;                         // in-process queue workers
  // "server.websocket": the WebSocket listener of /ws/orchestrator/:executionId (its own port;
  // address "" = the HTTP address, port -1 = the HTTP port + 1, 0 = ephemeral).
  http::WebSocketOptions websocket;

  static Result<ServeConfig> from(const app::Config& config);
};

class ApiServer {
 public:
  static Result<std::unique_ptr<ApiServer>> start(const app::Config& config, const ServeConfig& serve);
  ~ApiServer();  // shutdown()

  uint16_t port() const { return server_->port(); }
  // The WebSocket listener's bound port; 0 when server.websocket.enabled is false.
  uint16_t ws_port() const { return ws_ ? ws_->port() : 0; }
  app::Host& host() { return *host_; }
  auth::AuthService& auth() { return *ctx_->auth; }
  http::Server& server() { return *server_; }
  ApiContext& context() { return *ctx_; }
  // Set when this start created the first admin: its email and generated password.
  const std::string& bootstrap_email() const { return bootstrap_email_; }
  const std::string& bootstrap_password() const { return bootstrap_password_; }
  // For the operator (e.g. "created a development master key at ..."); "" when nothing to say.
  const std::string& credentials_notice() const { return credentials_.notice; }
  // User code: the sandbox behind code nodes (started at the first job or by warm_up()).
  const std::shared_ptr<service::CodeRuntime>& code_runtime() const { return credentials_.code; }
  const service::CredentialStack& credentials() const { return credentials_; }

  // Graceful: stop accepting new work (503 draining), stop claiming, let running executions
  // finish or park within the grace period (what is left is resumed by the next process via
  // lease expiry), end SSE streams, close the listener.
  void shutdown();

 private:
  ApiServer() = default;
  ServeConfig serve_;
  std::unique_ptr<app::Host> host_;
  std::shared_ptr<ApiContext> ctx_;
  std::shared_ptr<http::Router> router_;
  std::unique_ptr<http::Server> server_;
  std::shared_ptr<http::WebSocketServer> ws_;  // after ctx_ and server_: destroyed first
  std::string bootstrap_email_, bootstrap_password_;
  service::CredentialStack credentials_;
  bool stopped_ = false;
};

// The WebSocket side of human in the loop (host/api/routes_human.cpp): who may watch an
// execution (its owner or an assignee of one of its requests; the per-account stream cap shared
// with SSE) and the "respond" / "ping" messages, answered through the HumanService.
http::WebSocketHooks orchestrator_websocket_hooks(std::shared_ptr<ApiContext> ctx);

// The bound WebSocket port of the running ApiServer whose context this is (0: none or disabled).
// GET /ws/orchestrator/:executionId on the HTTP port answers it (426 websocket_port).
uint16_t websocket_port_of(const ApiContext* ctx);

}  // namespace weft::api
