// Human in the loop over REST (/api/orchestrator/*) and the WebSocket hooks of
// /ws/orchestrator/:executionId (host/http/websocket.hpp). Both answer through HumanService, so
// the same checks apply whichever way an answer arrives.
#include <algorithm>
#include <cctype>

#include "host/api/handler_util.hpp"
#include "host/api/routes.hpp"
#include "host/api/serve.hpp"
#include "host/core/call.hpp"
#include "host/service/human.hpp"

namespace weft::api {

using http::Access;
using http::Request;
using http::Responder;
using http::Route;
using namespace util;  // NOLINT: the shared handler helpers

namespace {

service::HumanCaller caller_of(const auth::Principal& p) {
  service::HumanCaller c;
  c.user_id = p.user_id;
  c.email = p.email;
  std::transform(c.email.begin(), c.email.end(), c.email.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return c;
}

Json request_list(const std::vector<store::HumanRequestRecord>& rows, const std::string& next) {
  const int64_t now = wall_ms();
  Json items = Json::array();
  for (const auto& r : rows) items.push_back(service::human_request_json(r, now));
  return list_body("requests", items, next);
}

// The error as the WebSocket sends it ({code, message, details}); server-side failures keep
// their details to the log, as REST answers do.
Json ws_error(const Error& e) {
  Json err = Json::object();
  err.set("code", e.code);
  if (http::status_for_code(e.code) >= 500) {
    std::fprintf(stderr, "weft: websocket message: %s: %s\n", e.code.c_str(), e.message.c_str());
    err.set("message", "internal error; the server log has the details");
    return err;
  }
  err.set("message", e.message);
  if (!e.details.empty()) {
    auto d = Json::parse(e.details);
    if (d.ok()) err.set("details", *d);
  }
  return err;
}

}  // namespace

void register_human_routes(http::Router& router, std::shared_ptr<ApiContext> ctx) {
  ApiContext* c = ctx.get();
  const std::string er(auth::scope::kExecutionsRead), ew(auth::scope::kExecutionsWrite);

  router.add({"GET", "/api/orchestrator/pending", Access::User, er, "", false, false,
              "Open human requests the caller may answer or owns (oldest first; cursor pagination)",
              [c](Request& req, Responder res) {
                if (!util::available(c->human, "human-in-the-loop requests are", res)) return;
                auto limit = page_limit(req);
                if (!limit.ok()) return res.error(limit.error());
                auto rows = c->human->pending(caller_of(*req.principal), *limit + 1,
                                              req.query_param("cursor").value_or(""));
                if (!rows.ok()) return res.error(rows.error());
                const std::string next = trim_page(*rows, *limit);
                res.json(200, request_list(*rows, next));
              }});
  router.add({"POST", "/api/orchestrator/respond/:id", Access::User, ew, "", false, true,
              "Answer a human request: approve/reject, a clarification, or an error-recovery action",
              [c](Request& req, Responder res) {
                if (!util::available(c->human, "human-in-the-loop requests are", res)) return;
                auto body = body_or_error(req, res);
                if (!body) return;
                auto r = c->human->respond(caller_of(*req.principal), req.param("id"), *body);
                if (!r.ok()) return res.error(r.error());
                res.json(200, service::human_request_json(*r, wall_ms()));
              }});
  router.add({"GET", "/api/orchestrator/history/:executionId", Access::User, er, "", false, false,
              "Every human request of an execution and its answer (oldest first)",
              [c](Request& req, Responder res) {
                if (!util::available(c->human, "human-in-the-loop requests are", res)) return;
                auto rows = c->human->history(caller_of(*req.principal), req.param("executionId"));
                if (!rows.ok()) return res.error(rows.error());
                res.json(200, request_list(*rows, ""));
              }});
}

http::WebSocketHooks orchestrator_websocket_hooks(std::shared_ptr<ApiContext> ctx) {
  http::WebSocketHooks hooks;
  std::weak_ptr<ApiContext> weak = ctx;
  hooks.admit = [weak](const auth::Principal& p, const std::string& execution_id) -> Result<std::function<void()>> {
    auto c = weak.lock();
    if (!c || !c->human) return Error("unavailable", "human-in-the-loop requests are not available on this server");
    if (Status st = c->human->may_watch(caller_of(p), execution_id); !st.ok()) return st.error();
    // Event streams share one cap per account, SSE and WebSocket alike.
    const auto tier = http::limits_for_tier(p.tier, c->rate_overrides);
    if (!c->rate_limits || tier.streams <= 0) return std::function<void()>([] {});
    const std::string key = "user:" + p.user_id;
    if (!c->limiter->acquire(key, "stream", tier.streams)) {
      Json d = Json::object();
      d.set("max_concurrent_streams", tier.streams);
      return Error("rate_limited",
                   "too many open event streams for this account (" + std::to_string(tier.streams) + ")", d.dump());
    }
    auto limiter = c->limiter;
    return std::function<void()>([limiter, key] { limiter->release(key, "stream"); });
  };
  hooks.message = [weak](const auth::Principal& p, const std::string& execution_id, const Json& msg) -> Json {
    const std::string type = msg["type"].as_string();
    Json reply = Json::object();
    if (type == "ping") {
      reply.set("type", "pong");
      return reply;
    }
    auto c = weak.lock();
    if (type != "respond" || !c) {
      reply.set("type", "error");
      reply.set("error", ws_error(Error("invalid_message", "unknown message type '" + type.substr(0, 40) +
                                                               "' (the server accepts \"respond\" and \"ping\")")));
      return reply;
    }
    reply.set("type", "respond_result");
    const Json& id = msg["request_id"];
    reply.set("request_id", id.is_string() ? id : Json());
    auto fail = [&reply](const Error& e) {
      reply.set("ok", false);
      reply.set("error", ws_error(e));
      return reply;
    };
    for (const auto& [k, v] : msg.as_object()) {
      if (k != "type" && k != "request_id" && k != "body") return fail(Error("invalid_message", "unknown member '" + k.substr(0, 64) + "'"));
    }
    if (!id.is_string() || id.as_string().empty()) return fail(Error("invalid_message", "'request_id' must be a string"));
    if (!msg["body"].is_object()) return fail(Error("invalid_message", "'body' must be a JSON object (the answer)"));
    if (!p.has_scope(auth::scope::kExecutionsWrite))
      return fail(Error("forbidden", "the API key lacks the scope 'executions:write'"));
    // The same per-account budget as POST /api/orchestrator/respond/:id.
    if (c->rate_limits) {
      const auto tier = http::limits_for_tier(p.tier, c->rate_overrides);
      const std::string key = p.via == "api_key" ? "key:" + p.api_key_id : "user:" + p.user_id;
      auto d = c->limiter->check(key, "api", tier.api, wall_ms());
      if (!d.allowed)
        return fail(Error("rate_limited", "too many requests; retry in " + std::to_string(d.retry_after_s) + " s"));
    }
    if (!c->human) return fail(Error("unavailable", "human-in-the-loop requests are not available on this server"));
    // This connection watches one execution: its requests only.
    auto existing = c->host->store()->get_human_request(id.as_string());
    if (!existing.ok() && existing.error().code != "not_found") return fail(existing.error());
    if (!existing.ok() || existing->execution_id != execution_id)
      return fail(Error("not_found", "human request not found in this execution"));
    auto r = c->human->respond(caller_of(p), id.as_string(), msg["body"]);
    if (!r.ok()) return fail(r.error());
    reply.set("ok", true);
    reply.set("request", service::human_request_json(*r, wall_ms()));
    return reply;
  };
  return hooks;
}

OpenApiPart openapi_human() {
  OpenApiPart part;
  part.operations = R"json({
"GET /api/orchestrator/pending": {"tag": "orchestrator", "operationId": "listPendingHumanRequests",
  "description": "Open requests (approvals, clarifications, error recoveries) the caller is an assignee of (by user id or email), or owns. A request with named approvers can only be answered by them, even by its owner.",
  "parameters": ["limit", "cursor"],
  "responses": {
    "200": {"description": "One page, oldest first.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HumanRequestList"}}}},
    "400": "invalid_argument: limit is out of range."}},
"POST /api/orchestrator/respond/:id": {"tag": "orchestrator", "operationId": "respondToHumanRequest",
  "description": "Answers a request exactly once (compare-and-swap in the store). An all-of approval (mode all, several approvers) takes one vote per approver: it is decided at the first reject or when every approver approved; until then it stays open and the execution stays parked. A decided request wakes the execution at once. Every answer and vote is an audit entry (human.approval, human.clarification, human.error_recovery, human.vote) with response_time_ms.",
  "path_description": "The request id (from pending, history, or the waiting_for_human event).",
  "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HumanAnswer"}}}},
  "responses": {
    "200": {"description": "The request after the answer (status answered, or still open after a non-deciding vote).",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HumanRequest"}}}},
    "400": "invalid_answer: the body does not fit the request's kind (details.field names the member): an unknown member, decision not approve/reject, an answer not among the options, an action the request does not offer, a comment over 4000 or an answer over 10000 characters. invalid_json for a body that is not JSON.",
    "403": "not_an_approver: the request names its approvers and the caller (its owner) is not one of them; forbidden: the API key lacks executions:write.",
    "404": {"$ref": "#/components/responses/NotFound"},
    "409": "already_answered: the request is no longer open (details.status: answered, expired or cancelled); already_voted: the caller already voted on this all-of approval; conflict: it kept changing under concurrent answers (retry)."}},
"GET /api/orchestrator/history/:executionId": {"tag": "orchestrator", "operationId": "getHumanRequestHistory",
  "description": "Every request of the execution with its answer, for its owner or an assignee of one of its requests.",
  "path_description": "The execution id.",
  "responses": {
    "200": {"description": "Oldest first.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HumanRequestList"}}}},
    "404": {"$ref": "#/components/responses/NotFound"}}},
"GET /ws/orchestrator/:executionId": {"tag": "orchestrator", "operationId": "locateExecutionWebSocket",
  "description": "The WebSocket of an execution's events is served on its own port (server.websocket.port, default the HTTP port + 1). On this port the path answers 426 with that port, so a client that tried here learns where to connect: ws://<host>:<details.port>/ws/orchestrator/<executionId>. docs/api.md describes the WebSocket protocol (authentication by header or by the subprotocols [\"weft.v1\", \"weft.bearer.<token>\"], the Origin rule, frames, respond messages, limits).",
  "path_description": "The execution id.",
  "responses": {
    "426": {"description": "websocket_port: connect to details.port instead (details.port is 0 when the WebSocket endpoint is disabled).",
      "headers": {"Upgrade": {"description": "websocket", "schema": {"type": "string"}}},
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebSocketPortError"}}}}}}
})json";
  part.components = R"json({
"HumanRequest": {"type": "object",
  "required": ["id", "execution_id", "workflow_id", "node_id", "kind", "request", "assignees", "mode", "status", "votes",
               "response", "answered_by", "created_at", "created_at_ms", "deadline_at", "deadline_at_ms", "answered_at",
               "answered_at_ms", "resumed_at", "resumed_at_ms"],
  "properties": {
    "id": {"type": "string"},
    "execution_id": {"type": "string"},
    "workflow_id": {"type": "string"},
    "node_id": {"type": "string"},
    "kind": {"type": "string", "enum": ["approval", "clarification", "error_recovery"]},
    "request": {"type": "object", "description": "What is asked, as the node put it (title, message, question, options, allow_free_text, error...), redacted."},
    "assignees": {"type": "array", "items": {"type": "string"}, "description": "Named approvers (user ids or lower-cased emails); empty: the execution's owner answers."},
    "mode": {"type": "string", "enum": ["any", "all"]},
    "status": {"type": "string", "enum": ["open", "answered", "expired", "cancelled"]},
    "votes": {"type": "array", "items": {"$ref": "#/components/schemas/HumanVote"}},
    "response": {"description": "The final answer as the node receives it (null until answered).",
      "oneOf": [{"type": "null"}, {"type": "object"}]},
    "answered_by": {"type": ["string", "null"], "description": "User id of the final answer."},
    "created_at": {"type": "string", "description": "ISO-8601 UTC, e.g. 2025-01-02T03:04:05.678Z."},
    "created_at_ms": {"type": "integer"},
    "deadline_at": {"type": ["string", "null"]},
    "deadline_at_ms": {"type": ["integer", "null"]},
    "answered_at": {"type": ["string", "null"], "description": "Answered, expired or cancelled at."},
    "answered_at_ms": {"type": ["integer", "null"]},
    "resumed_at": {"type": ["string", "null"], "description": "When the execution consumed the answer."},
    "resumed_at_ms": {"type": ["integer", "null"]},
    "waiting_ms": {"type": "integer", "description": "Open requests: how long it has been waiting."}}},
"HumanVote": {"type": "object", "required": ["user_id", "decision", "at_ms"], "properties": {
    "user_id": {"type": "string"},
    "email": {"type": "string"},
    "decision": {"type": "string", "enum": ["approve", "reject"]},
    "comment": {"type": "string"},
    "at_ms": {"type": "integer"}}},
"HumanRequestList": {"type": "object", "required": ["requests"], "properties": {
    "requests": {"type": "array", "items": {"$ref": "#/components/schemas/HumanRequest"}},
    "next_cursor": {"type": "string", "description": "Present when there may be more: pass it as ?cursor=."}}},
"HumanAnswer": {"description": "By the request's kind: approval {decision, comment?}; clarification {answer}; error_recovery {action, comment?}.",
  "oneOf": [
    {"type": "object", "title": "approval", "required": ["decision"], "additionalProperties": false, "properties": {
      "decision": {"type": "string", "enum": ["approve", "reject"]},
      "comment": {"type": "string", "maxLength": 4000}}},
    {"type": "object", "title": "clarification", "required": ["answer"], "additionalProperties": false, "properties": {
      "answer": {"type": "string", "minLength": 1, "description": "One of the request's options, or free text (at most 10000 characters) when the request allows it."}}},
    {"type": "object", "title": "error_recovery", "required": ["action"], "additionalProperties": false, "properties": {
      "action": {"type": "string", "enum": ["retry", "skip", "stop"]},
      "comment": {"type": "string", "maxLength": 4000}}}]},
"WebSocketPortError": {"allOf": [{"$ref": "#/components/schemas/Error"},
  {"type": "object", "properties": {"error": {"type": "object", "required": ["details"], "properties": {
    "code": {"const": "websocket_port"},
    "details": {"type": "object", "required": ["port"], "properties": {"port": {"type": "integer", "minimum": 0, "maximum": 65535}}}}}}}]}
})json";
  part.tags = R"json([
  {"name": "orchestrator", "description": "Human in the loop: pending approvals, clarifications and error recoveries, answers, history; the execution WebSocket's port."}
])json";
  return part;
}

}  // namespace weft::api
