// The REST API: binds every route to a small handler that parses, calls a service, serializes.
// Authorization (role, scope), rate limits, size and content-type checks happen in the server
// before a handler runs (see host/http/server.hpp); handlers only add ownership scoping, which the
// services do (another user's resource is a 404).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "host/app/host.hpp"
#include "host/auth/auth.hpp"
#include "host/http/metrics.hpp"
#include "host/http/rate_limit.hpp"
#include "host/http/router.hpp"
#include "host/http/sse.hpp"
#include "host/http/timer.hpp"
#include "host/service/credentials.hpp"
#include "host/service/custom_nodes.hpp"
#include "host/service/executions.hpp"
#include "host/service/workflows.hpp"

namespace weft::http {
class Server;
}
namespace weft::service {
class HumanService;
class AuditLog;
class ScheduleService;
}

namespace weft::api {

struct ApiContext {
  app::Host* host = nullptr;
  std::shared_ptr<auth::AuthService> auth;
  std::shared_ptr<service::WorkflowService> workflows;
  std::shared_ptr<service::ExecutionService> executions;
  std::shared_ptr<service::CredentialService> credentials;
  std::shared_ptr<service::CustomNodeService> custom_nodes;  // null: custom-node routes answer 503
  std::shared_ptr<service::HumanService> human;         // /api/orchestrator/* (issue 6)
  std::shared_ptr<service::AuditLog> audit;             // /api/audit/* (the same log credentials write)
  std::shared_ptr<service::ScheduleService> schedules;  // /api/schedules (null: routes answer 503)
  std::shared_ptr<http::SseHub> sse;
  std::shared_ptr<http::RateLimiter> limiter;
  std::shared_ptr<http::MetricsRegistry> metrics;
  std::shared_ptr<http::TimerThread> timer;  // wait budgets of synchronous runs
  http::Server* server = nullptr;  // set once the server exists (readiness, draining)
  int64_t sync_wait_ms = 30000;    // a synchronous run answers 202 after this (and goes on)
  int64_t max_sync_runs_per_user = 2;  // concurrent synchronous runs per owner; beyond: queued
  Json rate_overrides = Json::object();
  bool rate_limits = true;
  std::string version = "0";
  // /readyz is public: its store probe is cached for a second so probes cannot load the database.
  std::mutex ready_mu;
  int64_t ready_checked_ms = -1;
  std::string ready_error;  // "" = ready
};

// Registers every route. The context must outlive the router.
void register_routes(http::Router& router, std::shared_ptr<ApiContext> ctx);

// The OpenAPI 3.1 document describing every registered route (host/api/openapi.cpp).
Json openapi_document(const http::Router& router, const std::string& version);

}  // namespace weft::api
