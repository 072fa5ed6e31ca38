// Cron schedules over REST (/api/schedules): CRUD scoped to the caller, and a preview of an
// expression's next runs. The service (host/service/schedules.hpp) does the checks; the scheduler
// thread that fires them is started by ApiServer (host/api/serve.cpp).
#include "host/api/handler_util.hpp"
#include "host/api/routes.hpp"
#include "host/service/schedules.hpp"

namespace weft::api {

using http::Access;
using http::Request;
using http::Responder;
using namespace util;  // NOLINT: the shared handler helpers

void register_schedule_routes(http::Router& router, std::shared_ptr<ApiContext> ctx) {
  ApiContext* c = ctx.get();
  const std::string wr(auth::scope::kWorkflowsRead), ww(auth::scope::kWorkflowsWrite);

  router.add({"GET", "/api/schedules", Access::User, wr, "", false, false,
              "List the caller's schedules (?workflow_id= for one workflow's), with their next runs",
              [c](Request& req, Responder res) {
                if (!util::available(c->schedules, "schedules are", res)) return;
                auto items = c->schedules->list(uid(req), req.query_param("workflow_id").value_or(""));
                if (!items.ok()) return res.error(items.error());
                res.json(200, list_body("schedules", *items, ""));
              }});
  router.add({"POST", "/api/schedules", Access::User, ww, "", false, true,
              "Create a cron schedule for one of the caller's workflows", [c](Request& req, Responder res) {
                if (!util::available(c->schedules, "schedules are", res)) return;
                auto body = body_or_error(req, res);
                if (!body) return;
                auto s = c->schedules->create(uid(req), req.principal->tier, *body);
                if (!s.ok()) return res.error(s.error());
                res.json(201, *s);
              }});
  router.add({"POST", "/api/schedules/preview", Access::User, wr, "", false, true,
              "The next runs of a cron expression in a time zone, without saving anything",
              [c](Request& req, Responder res) {
                if (!util::available(c->schedules, "schedules are", res)) return;
                auto body = body_or_error(req, res);
                if (!body) return;
                auto p = c->schedules->preview(req.principal->tier, *body);
                if (!p.ok()) return res.error(p.error());
                res.json(200, *p);
              }});
  router.add({"GET", "/api/schedules/:id", Access::User, wr, "", false, false,
              "Get a schedule with its next runs", [c](Request& req, Responder res) {
                if (!util::available(c->schedules, "schedules are", res)) return;
                auto s = c->schedules->get(uid(req), req.param("id"));
                if (!s.ok()) return res.error(s.error());
                res.json(200, *s);
              }});
  router.add({"PUT", "/api/schedules/:id", Access::User, ww, "", false, true,
              "Change a schedule: the members given replace the stored ones",
              [c](Request& req, Responder res) {
                if (!util::available(c->schedules, "schedules are", res)) return;
                auto body = body_or_error(req, res);
                if (!body) return;
                auto s = c->schedules->update(uid(req), req.principal->tier, req.param("id"), *body);
                if (!s.ok()) return res.error(s.error());
                res.json(200, *s);
              }});
  router.add({"DELETE", "/api/schedules/:id", Access::User, ww, "", false, false,
              "Delete a schedule (executions it started stay)", [c](Request& req, Responder res) {
                if (!util::available(c->schedules, "schedules are", res)) return;
                if (Status st = c->schedules->remove(uid(req), req.param("id")); !st.ok())
                  return res.error(st.error());
                res.no_content();
              }});
}

OpenApiPart openapi_schedules() {
  OpenApiPart part;
  part.operations = R"json({
"GET /api/schedules": {"tag": "schedules", "operationId": "listSchedules",
  "description": "The caller's schedules ordered by id, each with its next run and the 5 after it (docs/schedules.md).",
  "parameters": [{"name": "workflow_id", "in": "query", "required": false,
    "description": "Only the schedules of this workflow.", "schema": {"type": "string"}}],
  "responses": {
    "200": {"description": "Every schedule of the account (at most schedules.max_per_user, so no paging).",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScheduleList"}}}}}},
"POST /api/schedules": {"tag": "schedules", "operationId": "createSchedule",
  "description": "Five cron fields (minute hour day-of-month month day-of-week) or a macro (@hourly ... @yearly) in an IANA time zone. Each occurrence queues one execution of the workflow's latest version with the input {\"scheduled_at\", \"schedule_id\", ...the schedule's input}, idempotency key schedule:<id>:<occurrence ms>.",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"allOf": [
    {"$ref": "#/components/schemas/ScheduleBody"}, {"required": ["workflow_id", "cron"]}]}}}},
  "responses": {
    "201": {"description": "Created, with its next runs.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Schedule"}}}},
    "400": "invalid_cron (message and details name the field and the token), invalid_timezone, cron_never_fires (no occurrence within 5 years), schedule_too_frequent (closer runs than the caller's tier allows; details.min_interval_seconds, limit_seconds, tier), invalid_argument (details.field), unknown_field.",
    "404": {"$ref": "#/components/responses/NotFound"},
    "409": "too_many_schedules: the account has schedules.max_per_user schedules already (details.limit)."}},
"POST /api/schedules/preview": {"tag": "schedules", "operationId": "previewSchedule",
  "description": "Checks an expression and lists its next runs without saving anything; also says whether the caller's tier allows it.",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SchedulePreviewRequest"}}}},
  "responses": {
    "200": {"description": "The next runs.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SchedulePreview"}}}},
    "400": "invalid_cron, invalid_timezone, cron_never_fires, invalid_argument (count out of 1..50), unknown_field."}},
"GET /api/schedules/:id": {"tag": "schedules", "operationId": "getSchedule",
  "responses": {
    "200": {"description": "The schedule with its next runs, its last run and why the last occurrence did not run (last_error).",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Schedule"}}}},
    "404": {"$ref": "#/components/responses/NotFound"}}},
"PUT /api/schedules/:id": {"tag": "schedules", "operationId": "updateSchedule",
  "description": "The members given replace the stored ones (workflow_id cannot change). A new cron, time zone or enabled state computes the next run from now; a re-enabled schedule does not catch up on the time it was off.",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScheduleBody"}}}},
  "responses": {
    "200": {"description": "Updated.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Schedule"}}}},
    "400": "invalid_cron, invalid_timezone, cron_never_fires, schedule_too_frequent, invalid_argument (including a workflow_id change), unknown_field.",
    "404": {"$ref": "#/components/responses/NotFound"},
    "409": "conflict: the schedule kept changing under concurrent edits (retry)."}},
"DELETE /api/schedules/:id": {"tag": "schedules", "operationId": "deleteSchedule",
  "responses": {
    "204": {"description": "Deleted; executions it started stay."},
    "404": {"$ref": "#/components/responses/NotFound"}}}
})json";
  part.components = R"json({
"ScheduleRun": {"type": "object", "required": ["at", "at_ms", "local"], "properties": {
  "at": {"type": "string", "description": "UTC."},
  "at_ms": {"type": "integer", "description": "Milliseconds since the Unix epoch."},
  "local": {"type": "string", "description": "The same instant in the schedule's time zone, with its UTC offset (2025-03-09T03:00:00-04:00)."}}},
"Schedule": {"type": "object",
  "required": ["id", "workflow_id", "name", "cron", "timezone", "enabled", "missed_policy", "input", "next_run_at",
               "next_run_at_ms", "next_runs", "last_run_at", "last_run_at_ms", "last_execution_id", "last_error",
               "version", "created_at", "updated_at"],
  "properties": {
    "id": {"type": "string"},
    "workflow_id": {"type": "string"},
    "name": {"type": "string"},
    "cron": {"type": "string"},
    "timezone": {"type": "string", "description": "IANA time zone name."},
    "enabled": {"type": "boolean"},
    "missed_policy": {"type": "string", "enum": ["run_once", "skip"],
      "description": "Occurrences missed while no scheduler ran: run_once = one run for the most recent (input.missed = how many), skip = none."},
    "input": {"description": "Added to every run's input.", "oneOf": [{"type": "null"}, {"type": "object"}]},
    "next_run_at": {"type": ["string", "null"], "description": "The pending occurrence (null when disabled); in the past while it is due or was missed."},
    "next_run_at_ms": {"type": ["integer", "null"]},
    "next_runs": {"type": "array", "items": {"$ref": "#/components/schemas/ScheduleRun"},
      "description": "next_run_at and the 4 occurrences after it (empty when disabled)."},
    "last_run_at": {"type": ["string", "null"], "description": "The scheduled time of the last run started."},
    "last_run_at_ms": {"type": ["integer", "null"]},
    "last_execution_id": {"type": ["string", "null"]},
    "last_error": {"type": ["string", "null"], "description": "Why the last occurrence started no run (the workflow was deleted or no longer compiles); null when it ran."},
    "version": {"type": "integer"},
    "created_at": {"$ref": "#/components/schemas/Timestamp"},
    "updated_at": {"$ref": "#/components/schemas/Timestamp"}}},
"ScheduleList": {"type": "object", "required": ["schedules"], "properties": {
  "schedules": {"type": "array", "items": {"$ref": "#/components/schemas/Schedule"}}}},
"ScheduleBody": {"type": "object", "additionalProperties": false, "properties": {
  "workflow_id": {"type": "string", "description": "One of the caller's workflows (fixed once created)."},
  "name": {"type": "string", "maxLength": 200},
  "cron": {"type": "string", "maxLength": 256, "examples": ["*/15 * * * *", "0 9 * * MON-FRI", "@daily"]},
  "timezone": {"type": "string", "default": "UTC", "examples": ["Europe/Berlin", "America/New_York"]},
  "enabled": {"type": "boolean", "default": true},
  "missed_policy": {"type": "string", "enum": ["run_once", "skip"], "default": "run_once"},
  "input": {"oneOf": [{"type": "null"}, {"type": "object"}], "default": null}}},
"SchedulePreviewRequest": {"type": "object", "additionalProperties": false, "required": ["cron"], "properties": {
  "cron": {"type": "string"},
  "timezone": {"type": "string", "default": "UTC"},
  "count": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5}}},
"SchedulePreview": {"type": "object",
  "required": ["cron", "timezone", "next_runs", "min_interval_seconds", "tier", "tier_min_interval_seconds", "allowed"],
  "properties": {
    "cron": {"type": "string"},
    "timezone": {"type": "string"},
    "next_runs": {"type": "array", "items": {"$ref": "#/components/schemas/ScheduleRun"}},
    "min_interval_seconds": {"type": ["integer", "null"], "description": "The closest two of the next 500 runs."},
    "tier": {"type": "string"},
    "tier_min_interval_seconds": {"type": "integer"},
    "allowed": {"type": "boolean", "description": "Whether the caller's tier may save this expression."}}}
})json";
  part.tags = R"json([
  {"name": "schedules", "description": "Cron triggers of workflows: time zones, missed-run policy, at most one run per occurrence across servers."}
])json";
  return part;
}

}  // namespace weft::api
