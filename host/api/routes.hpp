// Route areas that live in their own files. Each registers its routes and contributes its part of
// the OpenAPI document (operations keyed "METHOD /pattern", component schemas, tags), merged by
// openapi_document (host/api/openapi.cpp) with the main tables.
#pragma once

#include <memory>
#include <string_view>

#include "host/api/api.hpp"
#include "host/http/router.hpp"

namespace weft::api {

struct OpenApiPart {
  std::string_view operations = "{}";  // JSON object: "METHOD /pattern" -> operation entry
  std::string_view components = "{}";  // JSON object: schema name -> schema (merged into schemas)
  std::string_view tags = "[]";        // JSON array of {"name","description"}
};

// host/api/routes_human.cpp: /api/orchestrator/* (pending, respond, history).
void register_human_routes(http::Router& router, std::shared_ptr<ApiContext> ctx);
OpenApiPart openapi_human();
// host/api/routes_audit.cpp: /api/audit, /api/audit/workflow/:id, /api/audit/export.
void register_audit_routes(http::Router& router, std::shared_ptr<ApiContext> ctx);
OpenApiPart openapi_audit();
// host/api/routes_schedules.cpp: /api/schedules CRUD.
void register_schedule_routes(http::Router& router, std::shared_ptr<ApiContext> ctx);
OpenApiPart openapi_schedules();

}  // namespace weft::api
