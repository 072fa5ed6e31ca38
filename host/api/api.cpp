#include "host/api/api.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <mutex>

#include "host/codecheck/codecheck.hpp"
#include "host/core/call.hpp"
#include "host/api/handler_util.hpp"
#include "host/api/routes.hpp"
#include "host/api/serve.hpp"
#include "host/http/server.hpp"
#include "host/service/audit.hpp"

namespace weft::api {

using http::Access;
using http::Request;
using http::Responder;
using http::Route;

namespace {

using namespace util;  // NOLINT: the shared handler helpers

Json user_json(const store::UserRecord& u) {
  Json j = Json::object();
  j.set("id", u.id);
  j.set("email", u.email);
  j.set("role", u.role);
  j.set("tier", u.tier);
  j.set("disabled", u.disabled);
  j.set("created_at", u.created_at_ms);
  return j;
}

// An account or administrative change for the audit trail (docs/api.md "Audit trail"), by the
// caller. The change is already made when this runs: an entry that cannot be written is reported
// on standard error, the answer stands.
void audit_change(ApiContext* c, const Request& req, const std::string& action, Json details) {
  if (!c->audit) return;
  service::AuditEntry e;
  e.user_id = req.principal ? req.principal->user_id : "";
  e.action_type = action;
  e.details = std::move(details);
  if (Status st = c->audit->record(e); !st.ok())
    std::fprintf(stderr, "weft: audit entry %s not written: %s\n", action.c_str(), st.error().code.c_str());
}

// admin.* entries: {target, before, after} (null before/after: there was none).
void audit_admin(ApiContext* c, const Request& req, const std::string& action, const std::string& target,
                 Json before, Json after) {
  Json d = Json::object();
  d.set("target", target);
  d.set("before", std::move(before));
  d.set("after", std::move(after));
  audit_change(c, req, action, std::move(d));
}

// api_key.* entries: the key's public identity, never the key.
Json key_audit(const store::ApiKeyRecord& k) {
  Json d = Json::object();
  d.set("key_id", k.id);
  d.set("name", k.name);
  d.set("prefix", k.prefix);
  Json scopes = Json::array();
  for (const auto& sc : k.scopes) scopes.push_back(sc);
  d.set("scopes", scopes);
  return d;
}

Json token_json(const auth::TokenPair& t) {
  Json j = Json::object();
  j.set("token_type", "Bearer");
  j.set("access_token", t.access_token);
  j.set("access_expires_at", t.access_expires_at_ms);
  j.set("refresh_token", t.refresh_token);
  j.set("refresh_expires_at", t.refresh_expires_at_ms);
  return j;
}

Json key_json(const store::ApiKeyRecord& k) {
  Json j = Json::object();
  j.set("id", k.id);
  j.set("name", k.name);
  j.set("prefix", k.prefix);
  Json scopes = Json::array();
  for (const auto& s : k.scopes) scopes.push_back(s);
  j.set("scopes", scopes);
  j.set("created_at", k.created_at_ms);
  j.set("expires_at", k.expires_at_ms);
  j.set("revoked", k.revoked_at_ms != 0);
  j.set("last_used_at", k.last_used_at_ms);
  if (!k.replaced_by.empty()) j.set("replaced_by", k.replaced_by);
  return j;
}

Json workflow_json(const store::WorkflowRecord& w, bool with_definition) {
  Json j = Json::object();
  j.set("id", w.id);
  j.set("version", w.version);
  j.set("name", w.name);
  j.set("created_at", w.created_at_ms);
  if (with_definition) j.set("definition", w.definition);
  return j;
}

Json diagnostics_json(const compiler::CompileResult& r) {
  Json j = Json::object();
  j.set("ok", r.ok());
  j.set("errors", r.errors_json());
  Json warnings = Json::array();
  for (const auto& d : r.warnings) warnings.push_back(d.to_json());
  j.set("warnings", warnings);
  return j;
}

using Formatter = std::function<void(Responder&, const Result<service::StartResult>&)>;

// Starts an execution and answers through `format`. A synchronous run answers when it ends or
// parks — or, once wait_ms is over, at once with the execution as it stands (202) while the run
// goes on on this thread.
void start_and_answer(ApiContext* c, Responder res, const service::StartRequest& sr, int64_t wait_ms,
                      Formatter format) {
  // A user may hold only a few blocking threads with synchronous runs at once; past that, runs
  // are queued (202) instead, so one account cannot occupy the pool other callers need.
  service::StartRequest req = sr;
  const std::string slot_key = "user:" + sr.owner;
  bool slot = false;
  if (req.mode != "async" && c->max_sync_runs_per_user > 0) {
    slot = c->limiter->acquire(slot_key, "sync", c->max_sync_runs_per_user);
    if (!slot) req.mode = "async";
  }
  // Released before the answer goes out: a client that sends its next request the moment it has
  // the answer must find the slot free again.
  struct SlotGuard {
    ApiContext* c;
    const std::string& key;
    bool& held;
    void release() {
      if (held) c->limiter->release(key, "sync");
      held = false;
    }
    ~SlotGuard() { release(); }
  } guard{c, slot_key, slot};
  auto p = c->executions->prepare(req);
  if (!p.ok()) {
    guard.release();
    return res.error(p.error());
  }
  if (!p->sync) {
    guard.release();
    format(res, c->executions->run(*p));
    return;
  }
  struct Once {
    std::mutex mu;
    Responder res;
    bool done = false;
  };
  auto once = std::make_shared<Once>();
  once->res = std::move(res);
  const store::ExecutionRecord created = p->execution;
  const uint64_t timer = c->timer->schedule(wait_ms, [once, created, format] {
    std::lock_guard<std::mutex> lk(once->mu);
    if (once->done) return;
    once->done = true;
    service::StartResult still_running;
    still_running.execution = created;
    still_running.execution.status = store::ExecStatus::Running;
    format(once->res, still_running);
  });
  auto r = c->executions->run(*p);
  c->timer->cancel(timer);
  guard.release();
  std::lock_guard<std::mutex> lk(once->mu);
  if (once->done) return;
  once->done = true;
  format(once->res, r);
}

void respond_start(Responder& res, const Result<service::StartResult>& r) {
  if (!r.ok()) {
    res.error(r.error());
    return;
  }
  Json body = Json::object();
  body.set("execution", service::execution_json(r->execution));
  Json links = Json::object();
  links.set("self", "/api/executions/" + r->execution.id);
  links.set("events", "/api/executions/" + r->execution.id + "/events");
  body.set("links", links);
  if (r->existed) body.set("existed", true);
  const bool finished = store::is_final(r->execution.status);
  res.json(finished ? 200 : 202, body);
}

}  // namespace

void register_routes(http::Router& router, std::shared_ptr<ApiContext> ctx) {
  ApiContext* c = ctx.get();
  auto add = [&router, ctx](Route r) { router.add(std::move(r)); };
  // Routes that hash a password run on their own small pool: long workflow runs on the blocking
  // pool can never hold logins up.
  auto password_route = [](Route r) {
    r.hashes_password = true;
    return r;
  };

  // ---- health and documents ----------------------------------------------------------------------
  add({"GET", "/healthz", Access::Public, "", "health", false, false, "Liveness: the process answers",
       [](Request&, Responder res) {
         Json j = Json::object();
         j.set("status", "ok");
         res.json(200, j);
       }});
  add({"GET", "/readyz", Access::Public, "", "health", false, false,
       "Readiness: the store answers and the server is not draining", [c](Request&, Responder res) {
         Json j = Json::object();
         if (c->server && c->server->draining()) {
           j.set("status", "draining");
           res.json(503, j);
           return;
         }
         std::string problem;
         {
           std::lock_guard<std::mutex> lk(c->ready_mu);
           const int64_t now = monotonic_ms();
           if (c->ready_checked_ms < 0 || now - c->ready_checked_ms >= 1000) {
             auto users = c->host->store()->count_users();  // a small table: a cheap round trip
             c->ready_error = users.ok() ? "" : users.error().code;
             c->ready_checked_ms = now;
           }
           problem = c->ready_error;
         }
         if (!problem.empty()) {
           j.set("status", "unavailable");
           j.set("reason", problem);
           res.json(503, j);
           return;
         }
         j.set("status", "ready");
         res.json(200, j);
       }});
  add({"GET", "/metrics", Access::Public, "", "health", false, false, "Prometheus metrics (text format 0.0.4)",
       [c](Request&, Responder res) {
         res.text(200, c->metrics->render(), "text/plain; version=0.0.4");
       }});
  add({"GET", "/api/openapi.json", Access::Public, "", "", false, false, "This API's OpenAPI document",
       [c, &router](Request&, Responder res) { res.json(200, openapi_document(router, c->version)); }});

  // ---- auth --------------------------------------------------------------------------------------
  add(password_route({"POST", "/api/auth/login", Access::Public, "", "login", true, true,
       "Log in with email and password; returns an access and a refresh token", [c](Request& req, Responder res) {
         auto body = body_or_error(req, res);
         if (!body || !only_fields(*body, {"email", "password"}, res)) return;
         if (!typed_fields(*body, {{"email", "string"}, {"password", "string"}}, res)) return;
         std::string email = (*body)["email"].as_string();
         std::transform(email.begin(), email.end(), email.begin(), [](unsigned char ch) { return std::tolower(ch); });
         // Per account, whether or not it exists: the answer must not reveal that.
         if (c->rate_limits) {
           const auto pl = http::public_limits(c->rate_overrides);
           auto d = c->limiter->check("acct:" + email, "login", pl.login_per_account, wall_ms());
           if (!d.allowed) {
             res.add_header("Retry-After", std::to_string(d.retry_after_s));
             res.error(429, "rate_limited", "too many login attempts for this account; retry in " +
                                                std::to_string(d.retry_after_s) + " s");
             return;
           }
         }
         auto t = c->auth->login(email, (*body)["password"].as_string());
         if (!t.ok()) return res.error(t.error());
         res.json(200, token_json(*t));
       }}));
  add({"POST", "/api/auth/refresh", Access::Public, "", "login", false, true,
       "Exchange a refresh token for a new token pair (the old refresh token stops working)",
       [c](Request& req, Responder res) {
         auto body = body_or_error(req, res);
         if (!body || !only_fields(*body, {"refresh_token"}, res)) return;
         if (!typed_fields(*body, {{"refresh_token", "string"}}, res)) return;
         auto t = c->auth->refresh((*body)["refresh_token"].as_string());
         if (!t.ok()) return res.error(t.error());
         res.json(200, token_json(*t));
       }});
  add({"POST", "/api/auth/logout", Access::User, "", "", false, false,
       "Revoke the current session (its access and refresh tokens)", [c](Request& req, Responder res) {
         if (req.principal->via != "jwt")
           return res.error(400, "invalid_argument", "logout ends a login session; revoke API keys with DELETE /api/keys/{id}");
         if (Status st = c->auth->logout(*req.principal); !st.ok()) return res.error(st.error());
         res.no_content();
       }});
  add({"GET", "/api/auth/me", Access::User, "", "", false, false, "The caller's account",
       [](Request& req, Responder res) {
         const auto& p = *req.principal;
         Json j = Json::object();
         j.set("id", p.user_id);
         j.set("email", p.email);
         j.set("role", p.role);
         j.set("tier", p.tier);
         j.set("via", p.via);
         Json scopes = Json::array();
         for (const auto& s : p.scopes) scopes.push_back(s);
         j.set("scopes", scopes);
         res.json(200, j);
       }});
  add(password_route({"POST", "/api/auth/password", Access::User, "", "password", true, true,
       "Change the password; every session of the account is revoked", [c](Request& req, Responder res) {
         auto body = body_or_error(req, res);
         if (!body || !only_fields(*body, {"old_password", "new_password"}, res)) return;
         if (!typed_fields(*body, {{"old_password", "string"}, {"new_password", "string"}}, res)) return;
         if (req.principal->via != "jwt")
           return res.error(403, "forbidden", "the password can only be changed from a login session");
         Status st = c->auth->change_password(*req.principal, (*body)["old_password"].as_string(),
                                              (*body)["new_password"].as_string());
         if (!st.ok()) return res.error(st.error());
         res.no_content();
       }}));

  // ---- API keys ----------------------------------------------------------------------------------
  add({"GET", "/api/keys", Access::User, std::string(auth::scope::kKeysManage), "", false, false,
       "List the account's API keys (never the keys themselves)", [c](Request& req, Responder res) {
         auto keys = c->auth->list_api_keys(*req.principal);
         if (!keys.ok()) return res.error(keys.error());
         Json items = Json::array();
         for (const auto& k : *keys) items.push_back(key_json(k));
         res.json(200, list_body("keys", items, ""));
       }});
  add({"POST", "/api/keys", Access::User, std::string(auth::scope::kKeysManage), "", false, true,
       "Create an API key; the key is in this response only", [c](Request& req, Responder res) {
         auto body = body_or_error(req, res);
         if (!body || !only_fields(*body, {"name", "scopes", "expires_in_seconds"}, res)) return;
         if (!typed_fields(*body, {{"name", "string"}, {"scopes", "array"}, {"expires_in_seconds", "int"}}, res)) return;
         const Json& b = *body;
         for (const Json& sc : b["scopes"].as_array())
           if (!sc.is_string()) return res.error(400, "invalid_argument", "scopes must be an array of strings");
         auto k = c->auth->create_api_key(*req.principal, b["name"].as_string(), string_list(b["scopes"]),
                                          b["expires_in_seconds"].as_int(0));
         if (!k.ok()) return res.error(k.error());
         audit_change(c, req, "api_key.create", key_audit(k->record));
         Json j = key_json(k->record);
         j.set("key", k->key);
         res.json(201, j);
       }});
  add({"POST", "/api/keys/:id/rotate", Access::User, std::string(auth::scope::kKeysManage), "", false, false,
       "Rotate an API key: a new key now, the old one keeps working for the overlap window",
       [c](Request& req, Responder res) {
         int64_t overlap = -1;
         if (auto o = req.query_param("overlap_seconds")) {
           auto v = int_param(*o, "overlap_seconds", 0, 30 * 86400);
           if (!v.ok()) return res.error(v.error());
           overlap = *v;
         }
         auto k = c->auth->rotate_api_key(*req.principal, req.param("id"), overlap);
         if (!k.ok()) return res.error(k.error());
         Json audited = key_audit(k->record);
         audited.set("replaces", req.param("id"));
         audited.set("overlap_seconds", overlap >= 0 ? Json(overlap) : Json());  // null: the default
         audit_change(c, req, "api_key.rotate", audited);
         Json j = key_json(k->record);
         j.set("key", k->key);
         res.json(201, j);
       }});
  add({"DELETE", "/api/keys/:id", Access::User, std::string(auth::scope::kKeysManage), "", false, false,
       "Revoke an API key", [c](Request& req, Responder res) {
         if (Status st = c->auth->revoke_api_key(*req.principal, req.param("id")); !st.ok())
           return res.error(st.error());
         Json audited = Json::object();
         audited.set("key_id", req.param("id"));
         audit_change(c, req, "api_key.revoke", audited);
         res.no_content();
       }});

  // ---- workflows ---------------------------------------------------------------------------------
  const std::string wr(auth::scope::kWorkflowsRead), ww(auth::scope::kWorkflowsWrite);
  const std::string er(auth::scope::kExecutionsRead), ew(auth::scope::kExecutionsWrite);
  add({"GET", "/api/workflows", Access::User, wr, "", false, false, "List workflows (latest versions)",
       [c](Request& req, Responder res) {
         auto limit = page_limit(req);
         if (!limit.ok()) return res.error(limit.error());
         store::WorkflowFilter f;
         f.owner_id = uid(req);
         f.limit = *limit + 1;
         f.after_id = req.query_param("cursor").value_or("");
         auto list = c->workflows->list(f);
         if (!list.ok()) return res.error(list.error());
         const std::string next = trim_page(*list, *limit);
         Json items = Json::array();
         for (const auto& w : *list) {
           Json j = Json::object();
           j.set("id", w.id);
           j.set("name", w.name);
           j.set("version", w.latest_version);
           j.set("created_at", w.created_at_ms);
           j.set("updated_at", w.updated_at_ms);
           items.push_back(j);
         }
         res.json(200, list_body("workflows", items, next));
       }});
  auto saved_json = [](const service::SavedWorkflow& s) {
    Json j = workflow_json(s.record, true);
    j.set("compile", diagnostics_json(s.compiled));
    if (!s.credential_placeholders.as_array().empty()) j.set("credential_placeholders", s.credential_placeholders);
    return j;
  };
  add({"POST", "/api/workflows", Access::User, ww, "", true, true,
       "Create a workflow (version 1); the response carries its compile diagnostics",
       [c, saved_json](Request& req, Responder res) {
         auto body = body_or_error(req, res);
         if (!body) return;
         auto s = c->workflows->create(uid(req), *body);
         if (!s.ok()) return res.error(s.error());
         res.json(201, saved_json(*s));
       }});
  add({"GET", "/api/workflows/:id", Access::User, wr, "", false, false, "Get the latest version of a workflow",
       [c](Request& req, Responder res) {
         auto w = c->workflows->get(uid(req), req.param("id"), 0);
         if (!w.ok()) return res.error(w.error());
         res.json(200, workflow_json(*w, true));
       }});
  add({"PUT", "/api/workflows/:id", Access::User, ww, "", true, true,
       "Save a new version of a workflow (earlier versions stay unchanged)",
       [c, saved_json](Request& req, Responder res) {
         auto body = body_or_error(req, res);
         if (!body) return;
         auto s = c->workflows->update(uid(req), req.param("id"), *body);
         if (!s.ok()) return res.error(s.error());
         res.json(200, saved_json(*s));
       }});
  add({"DELETE", "/api/workflows/:id", Access::User, ww, "", false, false,
       "Delete a workflow (its executions stay readable)", [c](Request& req, Responder res) {
         if (Status st = c->workflows->remove(uid(req), req.param("id")); !st.ok()) return res.error(st.error());
         res.no_content();
       }});
  add({"GET", "/api/workflows/:id/versions", Access::User, wr, "", false, false, "List every version of a workflow",
       [c](Request& req, Responder res) {
         auto v = c->workflows->versions(uid(req), req.param("id"));
         if (!v.ok()) return res.error(v.error());
         Json items = Json::array();
         for (const auto& w : *v) items.push_back(workflow_json(w, false));
         res.json(200, list_body("versions", items, ""));
       }});
  add({"GET", "/api/workflows/:id/versions/:version", Access::User, wr, "", false, false,
       "Get one version of a workflow", [c](Request& req, Responder res) {
         auto v = int_param(req.param("version"), "version", 1, INT64_MAX / 2);
         if (!v.ok()) return res.error(v.error());
         auto w = c->workflows->get(uid(req), req.param("id"), *v);
         if (!w.ok()) return res.error(w.error());
         res.json(200, workflow_json(*w, true));
       }});
  add({"POST", "/api/workflows/compile", Access::User, wr, "compile", true, true,
       "Compile an unsaved workflow body: every problem at once", [c](Request& req, Responder res) {
         auto body = body_or_error(req, res);
         if (!body) return;
         auto r = c->workflows->compile(uid(req), *body);
         res.json(r.ok() ? 200 : 422, diagnostics_json(r));
       }});
  add({"POST", "/api/workflows/:id/compile", Access::User, wr, "compile", true, false,
       "Compile a saved workflow (latest or ?version=N)", [c](Request& req, Responder res) {
         int64_t version = 0;
         if (auto v = req.query_param("version")) {
           auto n = int_param(*v, "version", 1, INT64_MAX / 2);
           if (!n.ok()) return res.error(n.error());
           version = *n;
         }
         auto w = c->workflows->get(uid(req), req.param("id"), version);
         if (!w.ok()) return res.error(w.error());
         auto r = c->workflows->compile(uid(req), w->definition, w->id, w->version);
         res.json(r.ok() ? 200 : 422, diagnostics_json(r));
       }});
  add({"POST", "/api/workflows/:id/execute", Access::User, ew, "execute", true, false,
       "Run a workflow: quick ones answer 200 with the result, others 202 with the execution id "
       "(?mode=async forces 202, ?mode=sync waits)",
       [c](Request& req, Responder res) {
         service::StartRequest sr;
         sr.owner = uid(req);
         sr.workflow_id = req.param("id");
         sr.mode = req.query_param("mode").value_or("auto");
         if (auto v = req.query_param("version")) {
           auto n = int_param(*v, "version", 1, INT64_MAX / 2);
           if (!n.ok()) return res.error(n.error());
           sr.version = *n;
         }
         sr.idempotency_key = req.header("idempotency-key").value_or("");
         if (!req.body.empty()) {
           auto body = req.json_object();
           if (!body.ok()) return res.error(body.error());
           if (!only_fields(*body, {"input"}, res)) return;
           if (body->contains("input")) sr.input = (*body)["input"];
         }
         start_and_answer(c, std::move(res), sr, c->sync_wait_ms, respond_start);
       }});
  // The URLs and HMAC secrets are enough to trigger runs: a read-only key does not get them.
  add({"GET", "/api/workflows/:id/webhooks", Access::User, ww, "", false, false,
       "The webhook entry points of a workflow (with HMAC secrets, owner only)",
       [c](Request& req, Responder res) {
         auto hooks = c->workflows->webhooks(uid(req), req.param("id"));
         if (!hooks.ok()) return res.error(hooks.error());
         Json items = Json::array();
         for (const auto& h : *hooks) {
           Json j = Json::object();
           j.set("node_id", h.node_id);
           j.set("url", "/webhook/" + h.path);
           j.set("method", h.method);
           j.set("auth", h.auth);
           j.set("response", h.response);
           if (!h.hmac_secret.empty()) j.set("hmac_secret", h.hmac_secret);
           items.push_back(j);
         }
         res.json(200, list_body("webhooks", items, ""));
       }});

  // ---- executions --------------------------------------------------------------------------------
  add({"GET", "/api/executions", Access::User, er, "", false, false,
       "List executions (newest first; filters: workflow_id, status; cursor pagination)",
       [c](Request& req, Responder res) {
         auto limit = page_limit(req);
         if (!limit.ok()) return res.error(limit.error());
         store::ExecutionFilter f;
         f.owner_id = uid(req);
         f.limit = *limit + 1;
         f.workflow_id = req.query_param("workflow_id").value_or("");
         f.before_id = req.query_param("cursor").value_or("");
         if (auto s = req.query_param("status")) {
           f.status = store::exec_status_from(*s);
           if (!f.status) return res.error(400, "invalid_argument", "unknown status '" + s->substr(0, 40) + "'");
         }
         auto list = c->executions->list(f);
         if (!list.ok()) return res.error(list.error());
         const std::string next = trim_page(*list, *limit);
         Json items = Json::array();
         for (const auto& e : *list) items.push_back(service::execution_json(e, false, /*summary=*/true));
         res.json(200, list_body("executions", items, next));
       }});
  add({"GET", "/api/executions/:id", Access::User, er, "", false, false, "Get an execution",
       [c](Request& req, Responder res) {
         auto e = c->executions->get(uid(req), req.param("id"));
         if (!e.ok()) return res.error(e.error());
         res.json(200, service::execution_json(*e));
       }});
  add({"GET", "/api/executions/:id/logs", Access::User, er, "", false, false,
       "Per node attempt logs of an execution", [c](Request& req, Responder res) {
         auto logs = c->executions->logs(uid(req), req.param("id"));
         if (!logs.ok()) return res.error(logs.error());
         Json items = Json::array();
         for (const auto& l : *logs) items.push_back(service::node_log_json(l));
         res.json(200, list_body("logs", items, ""));
       }});
  add({"GET", "/api/executions/:id/events", Access::User, er, "stream", false, false,
       "Execution events as Server-Sent Events (persisted first, then live; Last-Event-ID resumes). "
       "With Accept: application/json, one JSON page instead",
       [c](Request& req, Responder res) {
         auto e = c->executions->get(uid(req), req.param("id"));
         if (!e.ok()) return res.error(e.error());
         int64_t after = 0;
         auto cursor = req.header("last-event-id");
         if (!cursor) cursor = req.query_param("after");
         if (cursor) {
           auto n = int_param(*cursor, "Last-Event-ID", 0, INT64_MAX / 2);
           if (!n.ok()) return res.error(n.error());
           after = *n;
         }
         const std::string accept = req.header("accept").value_or("");
         if (accept.find("application/json") != std::string::npos &&
             accept.find("text/event-stream") == std::string::npos) {
           auto limit = page_limit(req);
           if (!limit.ok()) return res.error(limit.error());
           auto events = c->executions->events(uid(req), e->id, after, *limit);
           if (!events.ok()) return res.error(events.error());
           Json items = Json::array();
           for (const auto& ev : *events) items.push_back(service::event_json(ev));
           return res.json(200, list_body("events", items, ""));
         }
         const auto tier = http::limits_for_tier(req.principal->tier, c->rate_overrides);
         const std::string key = "user:" + uid(req);
         if (c->rate_limits && tier.streams > 0 && !c->limiter->acquire(key, "stream", tier.streams)) {
           res.add_header("Retry-After", "5");
           Json d = Json::object();
           d.set("max_concurrent_streams", tier.streams);
           return res.error(429, "rate_limited",
                            "too many open event streams for this account (" + std::to_string(tier.streams) + ")", d);
         }
         const bool counted = c->rate_limits && tier.streams > 0;
         auto release = [c, key, counted] {
           if (counted) c->limiter->release(key, "stream");
         };
         auto stream = res.start_event_stream();
         if (!stream || !stream->write(": connected\n\n")) {
           release();
           return;
         }
         c->sse->add(e->id, after, std::move(stream), release);
       }});
  auto control = [c](const char* action) {
    return [c, action](Request& req, Responder res) {
      Result<store::ExecutionRecord> r = Error("internal", "unknown action");
      const std::string a = action;
      if (a == "cancel") r = c->executions->cancel(uid(req), req.param("id"));
      if (a == "pause") r = c->executions->pause(uid(req), req.param("id"));
      if (a == "resume") r = c->executions->resume(uid(req), req.param("id"));
      if (!r.ok()) return res.error(r.error());
      res.json(200, service::execution_json(*r));
    };
  };
  add({"POST", "/api/executions/:id/cancel", Access::User, ew, "", false, false, "Cancel an execution", control("cancel")});
  add({"POST", "/api/executions/:id/pause", Access::User, ew, "", false, false,
       "Pause an execution (at the next node boundary)", control("pause")});
  add({"POST", "/api/executions/:id/resume", Access::User, ew, "", false, false, "Resume a paused execution",
       control("resume")});

  // ---- credentials -------------------------------------------------------------------------------
  // Secret values are write-only: no response below ever contains one (docs/api.md "Credentials").
  const std::string cr(auth::scope::kCredentialsRead), cw(auth::scope::kCredentialsWrite);
  add({"GET", "/api/credentials/types", Access::User, cr, "", false, false,
       "The credential types the enabled plugins declare (fields, which are secret, how they are applied), "
       "then those of the caller's custom nodes",
       [c](Request& req, Responder res) {
         Json j = Json::object();
         j.set("types", c->credentials->types(uid(req)));
         res.json(200, j);
       }});
  add({"GET", "/api/credentials", Access::User, cr, "", false, false,
       "List the account's credentials (?type=); secret fields are only named, never shown",
       [c](Request& req, Responder res) {
         auto items = c->credentials->list(uid(req), req.query_param("type").value_or(""));
         if (!items.ok()) return res.error(items.error());
         res.json(200, list_body("credentials", *items, ""));
       }});
  add({"POST", "/api/credentials", Access::User, cw, "", false, true,
       "Create a credential {name, type, fields}; secrets are encrypted at rest and never returned",
       [c](Request& req, Responder res) {
         auto body = body_or_error(req, res);
         if (!body) return;
         auto cred = c->credentials->create(uid(req), *body);
         if (!cred.ok()) return res.error(cred.error());
         res.json(201, *cred);
       }});
  add({"GET", "/api/credentials/:id", Access::User, cr, "", false, false, "Get a credential (without its secrets)",
       [c](Request& req, Responder res) {
         auto cred = c->credentials->get(uid(req), req.param("id"));
         if (!cred.ok()) return res.error(cred.error());
         res.json(200, *cred);
       }});
  add({"PUT", "/api/credentials/:id", Access::User, cw, "", false, true,
       "Update a credential {name?, fields?}: given fields replace, secret fields not given are kept",
       [c](Request& req, Responder res) {
         auto body = body_or_error(req, res);
         if (!body) return;
         auto cred = c->credentials->update(uid(req), req.param("id"), *body);
         if (!cred.ok()) return res.error(cred.error());
         res.json(200, *cred);
       }});
  add({"DELETE", "/api/credentials/:id", Access::User, cw, "", false, false,
       "Delete a credential (workflows that use it then fail to compile and to run)",
       [c](Request& req, Responder res) {
         if (Status st = c->credentials->remove(uid(req), req.param("id")); !st.ok()) return res.error(st.error());
         res.no_content();
       }});
  add({"POST", "/api/credentials/resolve", Access::User, cr, "", false, true,
       "Resolve credential placeholders ({{credential:slack}}) in a workflow body to the account's credentials",
       [c](Request& req, Responder res) {
         auto body = body_or_error(req, res);
         if (!body) return;
         auto r = c->credentials->resolve_placeholders(uid(req), *body);
         if (!r.ok()) return res.error(r.error());
         Json j = Json::object();
         j.set("workflow", r->workflow);
         j.set("resolved", r->resolved);
         Json problems = Json::array();
         for (const auto& d : r->problems) problems.push_back(d.to_json());
         j.set("problems", std::move(problems));
         res.json(200, j);
       }});

  // ---- code --------------------------------------------------------------------------------------
  // Parses only: validating never runs the code (a validate route that executes is an RCE,
  // SECURITY.md). Authenticated and rate limited like compiling.
  add({"POST", "/api/code/validate", Access::User, wr, "compile", false, true,
       "Check JavaScript or Python code for syntax errors (line and column) without running it",
       [](Request& req, Responder res) {
         auto body = body_or_error(req, res);
         if (!body) return;
         for (const auto& [k, v] : body->as_object())
           if (k != "language" && k != "code" && k != "mode")
             return res.error(Error("invalid_argument", "unknown member \"" + k + "\" (expected language, code, mode)"));
         const Json& lang = (*body)["language"];
         const Json& code = (*body)["code"];
         const Json& mode = (*body)["mode"];
         if (!lang.is_string() || !(lang.as_string() == "javascript" || lang.as_string() == "js" ||
                                    lang.as_string() == "python" || lang.as_string() == "py"))
           return res.error(Error("invalid_argument", "\"language\" must be \"javascript\" or \"python\""));
         if (!code.is_string()) return res.error(Error("invalid_argument", "\"code\" must be a string"));
         if (!mode.is_null() && !(mode.is_string() && (mode.as_string() == "body" || mode.as_string() == "module")))
           return res.error(Error("invalid_argument", "\"mode\" must be \"body\" or \"module\""));
         CodeCheckOptions opts;
         if (mode.is_string()) opts.mode = mode.as_string();
         CodeCheckResult r = check_code(lang.as_string(), code.as_string(), opts);
         auto j = Json::parse(to_json(r));
         if (!j.ok()) return res.error(Error("internal", "could not render the result"));
         res.json(200, *j);
       }});

  // ---- custom nodes ------------------------------------------------------------------------------
  // Node types users upload as JavaScript/Python files (host/service/custom_nodes.hpp): validated,
  // versioned, run only in the sandbox, visible to their owner only (another user's is not_found).
  auto custom_error = [](Responder& res, const Error& e) {
    Json details;
    if (!e.details.empty()) {
      auto d = Json::parse(e.details);
      if (d.ok()) details = *d;
    }
    if (e.code == "invalid_custom_node") return res.error(400, e.code, e.message, details);
    if (e.code == "sandbox_unavailable") return res.error(503, e.code, e.message, details);
    res.error(e);
  };
  auto custom_nodes_ready = [c](Responder& res) {
    if (c->custom_nodes) return true;
    res.error(503, "unavailable", "custom nodes are not available on this server");
    return false;
  };
  add({"POST", "/api/nodes/custom", Access::User, ww, "compile", true, true,
       "Upload a custom node {language, source}: checked, loaded in the sandbox to read its declaration, stored as version 1",
       [c, custom_error, custom_nodes_ready](Request& req, Responder res) {
         if (!custom_nodes_ready(res)) return;
         auto body = body_or_error(req, res);
         if (!body) return;
         auto n = c->custom_nodes->create(uid(req), *body);
         if (!n.ok()) return custom_error(res, n.error());
         res.json(201, *n);
       }});
  add({"GET", "/api/nodes/custom", Access::User, wr, "", false, false,
       "List the account's custom nodes (latest versions, without sources)",
       [c, custom_error, custom_nodes_ready](Request& req, Responder res) {
         if (!custom_nodes_ready(res)) return;
         auto items = c->custom_nodes->list(uid(req));
         if (!items.ok()) return custom_error(res, items.error());
         res.json(200, list_body("nodes", *items, ""));
       }});
  add({"GET", "/api/nodes/custom/:name", Access::User, wr, "", false, false,
       "Get a custom node (latest version, or ?version=N) with its source and its versions",
       [c, custom_error, custom_nodes_ready](Request& req, Responder res) {
         if (!custom_nodes_ready(res)) return;
         int64_t version = 0;
         if (auto v = req.query_param("version")) {
           auto n = int_param(*v, "version", 1, 1'000'000'000);
           if (!n.ok()) return res.error(n.error());
           version = *n;
         }
         auto n = c->custom_nodes->get(uid(req), req.param("name"), version);
         if (!n.ok()) return custom_error(res, n.error());
         res.json(200, *n);
       }});
  add({"PUT", "/api/nodes/custom/:name", Access::User, ww, "compile", true, true,
       "Upload a new version of a custom node {language, source} (the declared name must stay the same)",
       [c, custom_error, custom_nodes_ready](Request& req, Responder res) {
         if (!custom_nodes_ready(res)) return;
         auto body = body_or_error(req, res);
         if (!body) return;
         auto n = c->custom_nodes->update(uid(req), req.param("name"), *body);
         if (!n.ok()) return custom_error(res, n.error());
         res.json(200, *n);
       }});
  add({"DELETE", "/api/nodes/custom/:name", Access::User, ww, "", false, false,
       "Delete a custom node, every version (workflows that use it then fail to compile)",
       [c, custom_error, custom_nodes_ready](Request& req, Responder res) {
         if (!custom_nodes_ready(res)) return;
         if (Status st = c->custom_nodes->remove(uid(req), req.param("name")); !st.ok())
           return custom_error(res, st.error());
         res.no_content();
       }});

  // ---- palette -----------------------------------------------------------------------------------
  add({"GET", "/api/nodes", Access::User, wr, "", false, false,
       "The node palette: every enabled node type, and the caller's custom nodes",
       [c](Request& req, Responder res) {
         Json nodes = c->host->registry().palette();
         if (c->custom_nodes) {
           auto custom = c->custom_nodes->palette(uid(req));
           if (!custom.ok()) return res.error(custom.error());
           for (const Json& n : custom->as_array()) nodes.push_back(n);
         }
         Json j = Json::object();
         j.set("nodes", nodes);
         res.json(200, j);
       }});

  // ---- admin -------------------------------------------------------------------------------------
  const std::string adm(auth::scope::kAdmin);
  add({"GET", "/api/admin/plugins", Access::Admin, adm, "", false, false, "List plugins and their states",
       [c](Request&, Responder res) {
         Json items = Json::array();
         for (const auto& p : c->host->registry().plugins()) {
           Json j = Json::object();
           j.set("name", p.name);
           j.set("version", p.version);
           j.set("description", p.description);
           j.set("state", registry::to_string(p.state));
           if (!p.reason.empty()) j.set("reason", p.reason);
           Json types = Json::array();
           for (const auto& t : p.node_types) types.push_back(t);
           j.set("node_types", types);
           items.push_back(j);
         }
         res.json(200, list_body("plugins", items, ""));
       }});
  auto plugin_switch = [c](bool enable) {
    return [c, enable](Request& req, Responder res) {
      Json before;
      for (const auto& p : c->host->registry().plugins()) {
        if (p.name != req.param("name")) continue;
        before = Json::object();
        before.set("state", registry::to_string(p.state));
      }
      if (Status st = c->host->set_plugin_enabled(req.param("name"), enable); !st.ok()) return res.error(st.error());
      for (const auto& p : c->host->registry().plugins()) {
        if (p.name != req.param("name")) continue;
        Json j = Json::object();
        j.set("name", p.name);
        j.set("state", registry::to_string(p.state));
        Json after = Json::object();
        after.set("state", j["state"]);
        audit_admin(c, req, enable ? "admin.plugin_enable" : "admin.plugin_disable", p.name, before, after);
        return res.json(200, j);
      }
      res.error(404, "not_found", "plugin not found");
    };
  };
  add({"POST", "/api/admin/plugins/:name/enable", Access::Admin, adm, "", false, false, "Enable a plugin",
       plugin_switch(true)});
  add({"POST", "/api/admin/plugins/:name/disable", Access::Admin, adm, "", false, false, "Disable a plugin",
       plugin_switch(false)});
  add({"GET", "/api/admin/users", Access::Admin, adm, "", false, false, "List users", [c](Request& req, Responder res) {
         auto limit = page_limit(req);
         if (!limit.ok()) return res.error(limit.error());
         auto users = c->auth->list_users(*limit + 1, req.query_param("cursor").value_or(""));
         if (!users.ok()) return res.error(users.error());
         const std::string next = trim_page(*users, *limit);
         Json items = Json::array();
         for (const auto& u : *users) items.push_back(user_json(u));
         res.json(200, list_body("users", items, next));
       }});
  add(password_route({"POST", "/api/admin/users", Access::Admin, adm, "", true, true, "Create a user",
       [c](Request& req, Responder res) {
         auto body = body_or_error(req, res);
         if (!body || !only_fields(*body, {"email", "password", "role", "tier"}, res)) return;
         if (!typed_fields(*body, {{"email", "string"}, {"password", "string"}, {"role", "string"}, {"tier", "string"}}, res))
           return;
         const Json& b = *body;
         auto u = c->auth->create_user(b["email"].as_string(), b["password"].as_string(),
                                       b.contains("role") ? b["role"].as_string() : "user",
                                       b.contains("tier") ? b["tier"].as_string() : "free");
         if (!u.ok()) return res.error(u.error());
         audit_admin(c, req, "admin.user_create", u->id, Json(), user_json(*u));
         res.json(201, user_json(*u));
       }}));
  add({"PUT", "/api/admin/users/:id/tier", Access::Admin, adm, "", false, true, "Set a user's tier",
       [c](Request& req, Responder res) {
         auto body = body_or_error(req, res);
         if (!body || !only_fields(*body, {"tier"}, res)) return;
         if (!typed_fields(*body, {{"tier", "string"}}, res)) return;
         auto old = c->host->store()->get_user(req.param("id"));
         auto u = c->auth->set_tier(req.param("id"), (*body)["tier"].as_string());
         if (!u.ok()) return res.error(u.error());
         Json before, after = Json::object();
         if (old.ok()) {
           before = Json::object();
           before.set("tier", old->tier);
         }
         after.set("tier", u->tier);
         audit_admin(c, req, "admin.user_tier", u->id, before, after);
         res.json(200, user_json(*u));
       }});
  // ---- webhooks (public: the path is the secret, or the body is signed) ---------------------------
  auto webhook = [c](Request& req, Responder res) {
    const std::string path = req.param("path");
    auto route = c->host->store()->find_webhook_route(path);
    if (!route.ok()) {
      if (route.error().code == "not_found") return res.error(404, "not_found", "no webhook at this path");
      return res.error(route.error());
    }
    if (route->method != "ANY" && route->method != req.method) {
      res.add_header("Allow", route->method);
      return res.error(405, "method_not_allowed", "this webhook accepts " + route->method);
    }
    if (route->auth == "hmac") {
      // Signature over "<timestamp>.<body>" so a captured request cannot be replayed later.
      const std::string ts = req.header("x-weft-timestamp").value_or("");
      const std::string sig = req.header("x-weft-signature").value_or("");
      char* end = nullptr;
      const long long t = std::strtoll(ts.c_str(), &end, 10);
      const long long now_s = wall_ms() / 1000;
      if (ts.empty() || *end != '\0' || t < now_s - 300 || t > now_s + 300)
        return res.error(401, "invalid_signature", "X-Weft-Timestamp is missing or more than 5 minutes off");
      const std::string expected =
          "sha256=" + auth::hmac_sha256_hex(c->workflows->webhook_hmac_secret(route->workflow_id, route->node_id),
                                            ts + "." + req.body);
      if (!auth::constant_time_equal(sig, expected))
        return res.error(401, "invalid_signature", "the X-Weft-Signature does not match the body");
    }
    // The trigger input: body (JSON when it parses as JSON, else text), query, headers (minus
    // credentials), method.
    Json input = Json::object();
    if (req.body.empty()) {
      input.set("body", Json());
    } else {
      const std::string ct = req.header("content-type").value_or("");
      if (ct.find("json") != std::string::npos) {
        JsonParseLimits limits;
        limits.max_depth = 128;
        auto parsed = Json::parse(req.body, limits);
        if (!parsed.ok()) return res.error(400, "invalid_json", "webhook body: " + parsed.error().message);
        input.set("body", *parsed);
      } else {
        input.set("body", req.body);
      }
    }
    Json query = Json::object();
    for (const auto& [k, v] : req.query) query.set(k, v);
    input.set("query", query);
    Json headers = Json::object();
    for (const auto& [k, v] : req.headers) {
      if (k == "authorization" || k == "cookie" || k == "x-weft-signature" || k == "x-api-key") continue;
      headers.set(k, v);
    }
    input.set("headers", headers);
    input.set("method", req.method);

    auto wf = c->host->store()->get_workflow(route->owner_id, route->workflow_id, 0);
    if (!wf.ok()) return res.error(404, "not_found", "no webhook at this path");
    // A webhook run is an execution of its owner: it counts against the owner's tier like
    // POST /api/workflows/{id}/execute (whoever holds the URL cannot exceed the owner's plan).
    if (c->rate_limits) {
      auto owner = c->host->store()->get_user(route->owner_id);
      const std::string tier = owner.ok() ? owner->tier : "free";
      const int64_t limit = http::limits_for_tier(tier, c->rate_overrides).execute;
      if (limit > 0) {
        auto d = c->limiter->check("user:" + route->owner_id, "execute", limit, wall_ms());
        if (!d.allowed) {
          res.add_header("Retry-After", std::to_string(d.retry_after_s));
          return res.error(429, "rate_limited", "the workflow owner's execution limit is reached; retry in " +
                                                    std::to_string(d.retry_after_s) + " s");
        }
      }
    }
    std::string response = "auto";
    int64_t wait_ms = c->sync_wait_ms;
    for (const auto& w : c->workflows->webhook_infos(wf->id, wf->definition, route->node_id)) {
      response = w.response;
      if (response == "wait") wait_ms = w.wait_timeout_s * 1000;
    }
    service::StartRequest sr;
    sr.owner = route->owner_id;
    sr.workflow_id = route->workflow_id;
    sr.version = wf->version;
    sr.prefetched = *wf;
    sr.full_record = false;  // the answer needs only the status and the output
    sr.input = input;
    sr.mode = response == "wait" ? "sync" : response == "immediate" ? "async" : "auto";
    // Duplicate deliveries (senders retry) run once.
    if (auto k = req.header("idempotency-key")) sr.idempotency_key = "webhook:" + *k;
    start_and_answer(c, std::move(res), sr, wait_ms, [](Responder& res, const Result<service::StartResult>& r) {
      if (!r.ok()) return res.error(r.error());
      const auto& e = r->execution;
      res.add_header("X-Weft-Execution-Id", e.id);
      if (e.status == store::ExecStatus::Succeeded) return res.json(200, e.output);
      if (e.status == store::ExecStatus::Failed) {
        Json body = Json::object();
        body.set("execution_id", e.id);
        body.set("status", "failed");
        body.set("error", e.error);
        return res.json(500, body);
      }
      Json body = Json::object();
      body.set("execution_id", e.id);
      body.set("status", store::to_string(e.status));
      res.json(202, body);
    });
  };
  add({"POST", "/webhook/*path", Access::Public, "", "webhook", true, false,
       "Webhook entry point: runs the workflow whose webhook trigger owns the path", webhook});
  add({"GET", "/webhook/*path", Access::Public, "", "webhook", true, false,
       "Webhook entry point (GET)", webhook});

  // The execution WebSocket has its own listener (host/http/websocket.hpp): here, its port.
  add({"GET", "/ws/orchestrator/:executionId", Access::User, std::string(auth::scope::kExecutionsRead), "", false, false,
       "Where the execution WebSocket listens: 426 with its port", [c](Request&, Responder res) {
         const uint16_t port = websocket_port_of(c);
         Json d = Json::object();
         d.set("port", static_cast<int64_t>(port));
         res.add_header("Upgrade", "websocket");
         res.error(426, "websocket_port",
                   port ? "the WebSocket endpoint listens on port " + std::to_string(port) + " of this host"
                        : std::string("the WebSocket endpoint is disabled on this server"),
                   d);
       }});

  // ---- areas with their own files (host/api/routes_*.cpp) -----------------------------------------
  register_human_routes(router, ctx);
  register_audit_routes(router, ctx);
  register_schedule_routes(router, ctx);
}

}  // namespace weft::api
