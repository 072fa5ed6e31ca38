// The WebSocket endpoint of execution events (Boost.Beast): its own listener, because Pistache
// cannot hand a connection over. Path /ws/orchestrator/:executionId (anything else 404).
//
// Handshake, in order: connection cap (503 unavailable), draining (503 draining), path (404),
// a WebSocket upgrade GET (426 upgrade_required otherwise), Origin — when present it must be one
// of the CORS origins (403 cors_forbidden: cross-site WebSocket hijacking) —, the credential, then
// `admit` (the API layer: who may watch which execution, stream caps). The credential is the
// same as the REST API's (AuthService::authenticate: an access JWT or an API key, scope
// executions:read) from `Authorization: Bearer <token>` (or X-API-Key), or — browsers cannot set
// headers — the subprotocol list ["weft.v1", "weft.bearer.<token>"]. A client that offers
// subprotocols must offer "weft.v1", which the server then selects. Never a token in the URL.
// Rejections are HTTP answers in the REST error shape before any upgrade.
//
// Server -> client: one JSON text frame per execution event, {"id": seq, "type", "data", "ts"},
// in order and gap-free, starting after ?after=<seq> (default 0: from the start), then live,
// then a normal close (1000) after workflow_done. The stored events are replayed page by page,
// each page read from the store once the previous one is written (a slow reader slows the
// replay down, memory stays at one page); then the connection subscribes to the SSE hub (the
// same source as GET /api/executions/:id/events: live from the bus, gaps filled from the store,
// the store polled for other processes' commits). Client -> server: JSON text frames handled by
// `message` (one at a time, in order); the server re-authenticates the connection's credential
// for each of them.
//
// Limits: message size (larger: close 1009), connection cap, a ping after ping_interval_ms of
// silence and a close when the next interval passes without anything (pong) from the client,
// a handshake timeout (request head + authentication + upgrade), and a per-connection backlog of
// unsent live events: a client that reads slower than its execution produces events is dropped
// (TCP closed, no close frame) instead of buffered without bound.
//
// Thread-safety: start/stop from one controlling thread; the rest is internal.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/auth/auth.hpp"
#include "host/core/json.hpp"
#include "host/core/result.hpp"
#include "host/http/sse.hpp"

namespace weft::http {

struct WebSocketOptions {
  bool enabled = true;
  std::string address;                        // "" = the HTTP server's address
  int port = -1;                              // -1 = the HTTP port + 1 (ephemeral when that is 0); 0 = ephemeral
  size_t max_connections = 1000;              // open + handshaking; beyond: 503
  size_t max_message_bytes = 64 * 1024;       // client -> server messages
  int64_t ping_interval_ms = 30000;
  int64_t handshake_timeout_ms = 10000;
  size_t max_backlog_bytes = 4u << 20;        // unsent live-event bytes per connection; beyond: dropped
  size_t threads = 1;                         // I/O threads (handlers never block them)
  size_t worker_threads = 2;                  // authentication, admission and messages (store calls)
  std::vector<std::string> cors_origins;      // set from the HTTP server's
};

struct WebSocketHooks {
  // Decides whether the principal may watch the execution: ok with a release function (run once
  // when the connection ends: stream slots), or an Error answered in the HTTP error shape
  // (not_found 404, rate_limited 429, ...).
  std::function<Result<std::function<void()>>(const auth::Principal&, const std::string& execution_id)> admit;
  // One client message (a JSON value; the hook checks its shape) on a connection watching
  // `execution_id`, by a principal authenticated again just now. Returns the reply frame.
  std::function<Json(const auth::Principal&, const std::string& execution_id, const Json& message)> message;
};

class WebSocketServer {
 public:
  WebSocketServer(WebSocketOptions options, std::shared_ptr<store::Store> store,
                  std::shared_ptr<auth::AuthService> auth, std::shared_ptr<SseHub> events, WebSocketHooks hooks);
  ~WebSocketServer();  // stop()
  WebSocketServer(const WebSocketServer&) = delete;
  WebSocketServer& operator=(const WebSocketServer&) = delete;

  // Binds and starts the I/O threads; returns the bound port.
  Result<uint16_t> start();
  // New connections get 503 draining; open ones go on.
  void begin_drain();
  // Closes every connection (1001 going away), stops the threads. The object stays valid (the
  // event hub may still hold sinks of closed connections: they report "gone").
  void stop();

  uint16_t port() const { return port_; }
  size_t connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace weft::http
