// The audit trail over REST (docs/api.md "Audit trail"): GET /api/audit, /api/audit/workflow/:id,
// /api/audit/export (CSV or JSON, streamed page by page) and /api/audit/verify (admins: the hash
// chain). Visibility and the filters are AuditLog's (host/service/audit.hpp); this file parses
// the query and shapes the answers.
#include <algorithm>
#include <limits>

#include "host/api/handler_util.hpp"
#include "host/api/routes.hpp"
#include "host/core/call.hpp"
#include "host/http/server.hpp"
#include "host/service/audit.hpp"

namespace weft::api {

using http::Access;
using http::Request;
using http::Responder;
using namespace util;  // NOLINT: the shared handler helpers

namespace {

constexpr int64_t kDefaultLimit = 100;
constexpr int64_t kExportPage = 500;          // store rows per read (and per chunk) of an export
constexpr int64_t kExportsPerAccount = 2;     // concurrent exports of one account
constexpr int64_t kVerifyPage = 1000;

service::AuditCaller caller_of(const Request& req) {
  service::AuditCaller c;
  c.user_id = uid(req);
  // The admin view needs the role AND the admin scope: an admin's narrower key reads like a user.
  c.admin = req.principal->has_scope(auth::scope::kAdmin);
  return c;
}

// The query parameters into an AuditQuery; answers the 400 itself (nullopt then).
// with_limit: list routes take limit (1..500); the export takes none.
std::optional<service::AuditQuery> parse_query(const Request& req, Responder& res, bool with_limit) {
  service::AuditQuery q;
  q.limit = kDefaultLimit;
  for (const char* name : {"from", "to"}) {
    auto v = req.query_param(name);
    if (!v) continue;
    auto ms = service::AuditLog::parse_time(*v);
    if (!ms) {
      Json d = Json::object();
      d.set("parameter", name);
      res.error(400, "invalid_argument",
                std::string(name) + " must be unix milliseconds or an ISO-8601 time such as 2025-01-31T12:00:00Z", d);
      return std::nullopt;
    }
    (std::string(name) == "from" ? q.from_ms : q.to_ms) = *ms;
  }
  if (auto v = req.query_param("type")) q.type = *v;
  if (auto v = req.query_param("workflow_id")) q.workflow_id = *v;
  if (auto v = req.query_param("user_id")) q.user_id = *v;
  if (auto v = req.query_param("cursor")) {
    auto n = int_param(*v, "cursor", 0, std::numeric_limits<int64_t>::max());
    if (!n.ok()) {
      res.error(n.error());
      return std::nullopt;
    }
    q.after_seq = *n;
  }
  if (auto v = req.query_param("limit")) {
    if (!with_limit) {
      res.error(400, "invalid_argument", "the export has no limit: it streams every matching entry (narrow it with from/to)");
      return std::nullopt;
    }
    auto n = int_param(*v, "limit", 1, service::AuditLog::kMaxPage);
    if (!n.ok()) {
      res.error(n.error());
      return std::nullopt;
    }
    q.limit = *n;
  }
  if (Status st = service::AuditLog::check(q); !st.ok()) {
    res.error(st.error());
    return std::nullopt;
  }
  return q;
}

void answer_page(Responder& res, const Result<service::AuditPage>& page) {
  if (!page.ok()) return res.error(page.error());
  Json items = Json::array();
  for (const Json& e : page->entries) items.push_back(e);
  res.json(200, list_body("entries", items, page->next_cursor > 0 ? std::to_string(page->next_cursor) : ""));
}

// GET /api/audit/export: the matching entries as one streamed CSV or JSON document.
void export_trail(ApiContext* c, Request& req, Responder res) {
  if (!util::available(c->audit, "the audit trail is", res)) return;
  const std::string format = req.query_param("format").value_or("json");
  if (format != "csv" && format != "json") {
    Json d = Json::object();
    d.set("parameter", "format");
    return res.error(400, "invalid_argument", "format must be csv or json", d);
  }
  auto q = parse_query(req, res, false);
  if (!q) return;
  // An export holds a blocking-pool thread while the client reads: at most a few per account and
  // at most half the pool over all accounts, so they cannot starve synchronous runs.
  http::RateLimitSlot mine, overall;
  if (c->limiter) {
    mine = c->limiter->try_acquire("user:" + uid(req), "audit_export", kExportsPerAccount);
    if (!mine) {
      res.add_header("Retry-After", "5");
      return res.error(429, "rate_limited",
                       "at most " + std::to_string(kExportsPerAccount) + " audit exports run at once per account");
    }
    const int64_t pool = c->server ? static_cast<int64_t>(c->server->options().blocking_threads) : 4;
    overall = c->limiter->try_acquire("server", "audit_export", std::max<int64_t>(1, pool / 2));
    if (!overall) {
      res.add_header("Retry-After", "5");
      return res.error(503, "unavailable", "the server is busy with other audit exports; retry shortly");
    }
  }

  const bool csv = format == "csv";
  const std::string filename = "weft-audit-" + std::to_string(wall_ms()) + (csv ? ".csv" : ".json");
  std::unique_ptr<http::BodyStream> out;
  bool started = false, any = false, gone = false;
  std::string chunk;
  // The head goes out with the first page, so an error reading it is still an ordinary answer.
  auto start = [&]() -> bool {
    started = true;
    res.add_header("Content-Disposition", "attachment; filename=\"" + filename + "\"");
    out = res.start_body_stream(csv ? "text/csv; charset=utf-8" : "application/json");
    if (!out) return false;
    if (csv) return out->write(service::AuditLog::csv_header());
    return true;
  };
  Status st = c->audit->scan(caller_of(req), *q, kExportPage, [&](const std::vector<Json>& views) {
    if (!started && !start()) {
      gone = true;
      return false;
    }
    if (c->server && c->server->draining()) {
      gone = true;  // shutting down: end the response truncated, the client retries elsewhere
      return false;
    }
    chunk.clear();
    for (const Json& v : views) {
      if (csv) {
        service::AuditLog::append_csv_row(chunk, v);
      } else {
        chunk.append(any ? ",\n" : "[\n");
        v.dump_to(chunk);
      }
      any = true;
    }
    if (!out->write(chunk)) {
      gone = true;
      return false;
    }
    return true;
  });
  if (!started) {
    if (!st.ok()) return res.error(st.error());
    if (!start()) return;
  }
  // The places are given back before the last bytes go out: a client that has the whole export
  // may start the next one at once, and must not find its own finished export still counted.
  mine.reset();
  overall.reset();
  if (!st.ok() || gone) {
    if (!st.ok()) std::fprintf(stderr, "weft: audit export ended early: %s\n", st.error().code.c_str());
    if (out) out->abort();  // truncated, never a short body that looks complete
    return;
  }
  if (!csv && !out->write(any ? "\n]\n" : "[]\n")) return;
  out->end();
}

}  // namespace

void register_audit_routes(http::Router& router, std::shared_ptr<ApiContext> ctx) {
  ApiContext* c = ctx.get();
  const std::string ar(auth::scope::kAuditRead), adm(auth::scope::kAdmin);

  router.add({"GET", "/api/audit", Access::User, ar, "", false, false,
              "Audit entries the caller may see, oldest first (filters; cursor pagination)",
              [c](Request& req, Responder res) {
                if (!util::available(c->audit, "the audit trail is", res)) return;
                auto q = parse_query(req, res, true);
                if (!q) return;
                answer_page(res, c->audit->list(caller_of(req), *q));
              }});
  router.add({"GET", "/api/audit/workflow/:id", Access::User, ar, "", false, false,
              "The audit trail of one of the caller's workflows, whoever acted (filters; cursor pagination)",
              [c](Request& req, Responder res) {
                if (!util::available(c->audit, "the audit trail is", res)) return;
                auto q = parse_query(req, res, true);
                if (!q) return;
                answer_page(res, c->audit->list_workflow(caller_of(req), req.param("id"), *q));
              }});
  router.add({"GET", "/api/audit/export", Access::User, ar, "export", true, false,
              "Export the audit entries the caller may see as CSV or JSON (streamed)",
              [c](Request& req, Responder res) { export_trail(c, req, std::move(res)); }});
  router.add({"GET", "/api/audit/verify", Access::Admin, adm, "export", true, false,
              "Check the audit trail's hash chain from the first entry to the last",
              [c](Request&, Responder res) {
                if (!util::available(c->audit, "the audit trail is", res)) return;
                auto v = c->audit->verify(kVerifyPage);
                if (!v.ok()) return res.error(v.error());
                Json j = Json::object();
                j.set("ok", v->ok);
                j.set("entries", v->entries);
                j.set("broken_at", v->ok ? Json() : Json(v->broken_at));
                if (!v->ok) j.set("reason", v->reason);
                j.set("last_seq", v->ok ? Json(v->last_seq) : Json());
                j.set("last_hash", v->ok && !v->last_hash.empty() ? Json(v->last_hash) : Json());
                res.json(200, j);
              }});
}

OpenApiPart openapi_audit() {
  // The filters every audit route shares, written once and substituted into the table.
  static const std::string operations = [] {
    std::string text = R"json({
"GET /api/audit": {"tag": "audit", "operationId": "listAuditEntries",
  "description": "Administrators (role admin with the admin scope) see every entry and may filter by user_id; everyone else sees the entries they acted in (their own credential accesses, changes, approvals...). Oldest first; pass next_cursor as cursor for the next page.",
  "parameters": [@FROM@, @TO@,
    @TYPE@, @WORKFLOW@,
    @USER@, @LIMIT@,
    @CURSOR@],
  "responses": {
    "200": {"description": "One page of entries.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditPage"}}}},
    "400": "invalid_argument: a filter is malformed (details.parameter names it).",
    "403": "forbidden: user_id is set by someone who is not an administrator, or the API key lacks audit:read."}},
"GET /api/audit/workflow/:id": {"tag": "audit", "operationId": "listWorkflowAuditEntries",
  "description": "Every entry about one workflow, whoever acted: the owner sees the approvals other users gave on it. Administrators may ask for any workflow.",
  "path_description": "The workflow id.",
  "parameters": [@FROM@, @TO@,
    @TYPE@, @USER@,
    @LIMIT@, @CURSOR@],
  "responses": {
    "200": {"description": "One page of entries.",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditPage"}}}},
    "400": "invalid_argument: a filter is malformed (details.parameter names it).",
    "403": "forbidden: user_id is set by someone who is not an administrator, or the API key lacks audit:read.",
    "404": {"$ref": "#/components/responses/NotFound"}}},
"GET /api/audit/export": {"tag": "audit", "operationId": "exportAuditEntries",
  "description": "The entries GET /api/audit would list over all its pages, as one attachment streamed in chunks while it is read from the store (Transfer-Encoding: chunked; the connection closes after it). CSV: a header row, RFC 4180 quoting, JSON values as JSON text, and a leading ' before any cell starting with = + - @ tab or CR (no spreadsheet formulas). JSON: one array of entries. A body that ends without its last chunk was cut short (server error or shutdown): retry. At most 2 exports per account at once.",
  "parameters": [{"name": "format", "in": "query", "required": false, "description": "csv or json (anything else is 400).",
      "schema": {"type": "string", "enum": ["csv", "json"], "default": "json"}},
    @FROM@, @TO@,
    @TYPE@, @WORKFLOW@,
    @USER@, @CURSOR@],
  "responses": {
    "200": {"description": "The export.",
      "headers": {"Content-Disposition": {"description": "attachment; filename=\"weft-audit-<unix ms>.csv\" (or .json)", "schema": {"type": "string"}}},
      "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}}}}},
    "400": "invalid_argument: format is not csv or json, a filter is malformed, or limit was given (exports have none).",
    "403": "forbidden: user_id is set by someone who is not an administrator, or the API key lacks audit:read."}},
"GET /api/audit/verify": {"tag": "audit", "operationId": "verifyAuditChain",
  "description": "Walks the whole trail in seq order: each entry's hash must be sha256(prev_hash + \"\\n\" + entry) with prev_hash the previous entry's hash, seqs without gaps, and the filter columns equal to the hashed entry. Reports the first entry that breaks it (edited, or a predecessor removed). Removing the newest entries cannot be seen from inside the chain: keep last_seq/last_hash elsewhere and compare.",
  "responses": {
    "200": {"description": "The result (also when the chain is broken).",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditVerification"}}}}}}
})json";
    const std::pair<const char*, const char*> params[] = {
        {"@FROM@", R"json({"name": "from", "in": "query", "required": false,
          "description": "Entries at or after this time: unix milliseconds or ISO-8601 (2025-01-31, 2025-01-31T12:00:00Z, with an offset or fractions).",
          "schema": {"type": "string"}})json"},
        {"@TO@", R"json({"name": "to", "in": "query", "required": false,
          "description": "Entries before this time (exclusive); same forms as from.", "schema": {"type": "string"}})json"},
        {"@TYPE@", R"json({"name": "type", "in": "query", "required": false,
          "description": "An action type (credential.access), or a prefix ending in '.' (human.).",
          "schema": {"type": "string", "pattern": "^[a-z0-9_.]{1,64}$"}})json"},
        {"@WORKFLOW@", R"json({"name": "workflow_id", "in": "query", "required": false,
          "description": "Only entries about this workflow.", "schema": {"type": "string", "maxLength": 200}})json"},
        {"@USER@", R"json({"name": "user_id", "in": "query", "required": false,
          "description": "Administrators only (403 forbidden for anyone else): only entries of this user.",
          "schema": {"type": "string", "maxLength": 200}})json"},
        {"@LIMIT@", R"json({"name": "limit", "in": "query", "required": false,
          "description": "Page size (400 invalid_argument outside 1..500).",
          "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}})json"},
        {"@CURSOR@", R"json({"name": "cursor", "in": "query", "required": false,
          "description": "The next_cursor of the previous page (an entry's seq): entries after it.",
          "schema": {"type": "string", "pattern": "^[0-9]+$"}})json"},
    };
    for (const auto& [marker, param] : params)
      for (size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1))
        text.replace(at, std::string_view(marker).size(), param);
    return text;
  }();
  OpenApiPart part;
  part.operations = operations;
  part.components = R"json({
"AuditEntry": {"type": "object",
  "required": ["seq", "timestamp", "ts_ms", "user_id", "action_type", "workflow_id", "execution_id", "node_id",
               "request_details", "response", "response_time_ms", "details", "hash", "prev_hash"],
  "properties": {
    "seq": {"type": "integer", "minimum": 1, "description": "Position in the trail (1, 2, ...); the cursor."},
    "timestamp": {"type": ["string", "null"], "description": "ISO-8601 UTC with milliseconds."},
    "ts_ms": {"type": "integer", "description": "The same instant in unix milliseconds."},
    "user_id": {"type": "string", "description": "Who acted, or on whose behalf the execution ran; empty for the system."},
    "action_type": {"type": "string", "description": "credential.*, human.*, admin.*, custom_node.*, api_key.*, vault.rotate (docs/api.md lists them)."},
    "workflow_id": {"type": "string", "description": "Empty when the entry is not about a workflow."},
    "execution_id": {"type": "string"},
    "node_id": {"type": "string"},
    "request_details": {"description": "human.* entries: what was asked; null otherwise."},
    "response": {"description": "human.* entries: the answer (or the vote); null otherwise."},
    "response_time_ms": {"type": ["integer", "null"], "description": "human.* entries: from the question to the answer; null otherwise."},
    "details": {"type": "object", "description": "Everything the entry records (secrets redacted)."},
    "hash": {"type": "string", "description": "Lower-case hex sha256(prev_hash + \"\\n\" + entry text)."},
    "prev_hash": {"type": "string", "description": "The previous entry's hash (64 zeros before the first)."}}},
"AuditPage": {"type": "object", "required": ["entries"],
  "properties": {
    "entries": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
    "next_cursor": {"type": "string", "description": "Present when there is a next page: pass it as cursor."}}},
"AuditVerification": {"type": "object", "required": ["ok", "entries", "broken_at", "last_seq", "last_hash"],
  "properties": {
    "ok": {"type": "boolean"},
    "entries": {"type": "integer", "description": "Entries checked (up to and including the broken one)."},
    "broken_at": {"type": ["integer", "null"], "description": "seq of the first entry that breaks the chain; null when ok."},
    "reason": {"type": "string", "description": "Why it breaks (absent when ok)."},
    "last_seq": {"type": ["integer", "null"], "description": "The chain head when ok (0 for an empty trail)."},
    "last_hash": {"type": ["string", "null"], "description": "The head's hash when ok and not empty."}}}
})json";
  part.tags = R"json([
{"name": "audit", "description": "The audit trail: credential accesses, human decisions, administrative changes; hash-chained, exportable."}
])json";
  return part;
}

}  // namespace weft::api
