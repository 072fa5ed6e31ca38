// The OpenAPI document (host/api/openapi.cpp):
//   - it lists every registered route with its method, and nothing else; a route without a table
//     entry is marked and caught here;
//   - @apidevtools/swagger-parser (tests/api/validate_openapi.mjs, packages installed by the CTest
//     fixture openapi_npm_install) accepts it, and rejects a broken one;
//   - its WorkflowDefinition is docs/workflow.schema.json;
//   - real responses of a running server (every route, success and error paths) match the
//     schemas it documents for their status and content type.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "host/api/api.hpp"
#include "host/api/serve.hpp"
#include "host/core/ids.hpp"
#include "tests/api/fixture.hpp"
#include "tests/api/http_client.hpp"

namespace weft {
namespace {

const char* const kMethods[] = {"get", "put", "post", "delete", "patch", "options", "head", "trace"};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "/api/workflows/:id" → "/api/workflows/{id}" (the document's spelling).
std::string doc_path(const std::string& pattern) {
  std::string out;
  for (const std::string& seg : http::split_path(pattern)) {
    out += "/";
    out += (seg[0] == ':' || seg[0] == '*') ? "{" + seg.substr(1) + "}" : seg;
  }
  return out.empty() ? "/" : out;
}

// The router exactly as `weft serve` builds it. Handlers are never called, so the context can
// stay empty.
struct Routes {
  std::shared_ptr<api::ApiContext> ctx = std::make_shared<api::ApiContext>();
  http::Router router;
  Routes() { api::register_routes(router, ctx); }
};

std::string temp_file(const std::string& stem, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / (stem + "-" + random_hex(6) + ".json");
  std::ofstream(path) << text;
  return path.string();
}

struct ValidatorRun {
  int exit_code = -1;
  std::string output;
};

// node validate_openapi.mjs ...; stdout and stderr together.
ValidatorRun run_validator(const std::string& doc_file, const std::string& samples_file = "") {
  std::string cmd = "node '" WEFT_OPENAPI_VALIDATOR "' --modules '" WEFT_OPENAPI_NPM_DIR "/node_modules' '" +
                    doc_file + "'";
  if (!samples_file.empty()) cmd += " --responses '" + samples_file + "'";
  cmd += " 2>&1";
  ValidatorRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    r.output = "popen failed";
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (r.exit_code == 127)
    r.output += "\n(node is not installed: scripts/deps.sh installs it; the OpenAPI validator needs it)";
  return r;
}

// Objects with their members sorted, recursively: comparison that ignores member order.
Json canonical(const Json& j) {
  if (j.is_array()) {
    Json out = Json::array();
    for (const Json& v : j.as_array()) out.push_back(canonical(v));
    return out;
  }
  if (!j.is_object()) return j;
  std::vector<std::pair<std::string, Json>> members(j.as_object().begin(), j.as_object().end());
  std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  Json out = Json::object();
  for (const auto& [k, v] : members) out.set(k, canonical(v));
  return out;
}

Json rewrite_refs(const Json& j, const std::map<std::string, std::string>& names) {
  if (j.is_array()) {
    Json out = Json::array();
    for (const Json& v : j.as_array()) out.push_back(rewrite_refs(v, names));
    return out;
  }
  if (!j.is_object()) return j;
  Json out = Json::object();
  for (const auto& [k, v] : j.as_object()) {
    if (k == "$ref" && v.is_string() && v.as_string().rfind("#/$defs/", 0) == 0) {
      const std::string def = v.as_string().substr(8);
      auto it = names.find(def);
      out.set(k, "#/components/schemas/" + (it == names.end() ? "<unmapped " + def + ">" : it->second));
    } else {
      out.set(k, rewrite_refs(v, names));
    }
  }
  return out;
}

// ---- the document against the router --------------------------------------------------------------

TEST(OpenApiDocument, ListsEveryRouteAndNothingElse) {
  Routes r;
  const Json doc = api::openapi_document(r.router, "1.2.3");
  ASSERT_FALSE(doc.contains("x-table-error")) << doc["x-table-error"].as_string();
  EXPECT_FALSE(doc.contains("x-unused-schema-entries"))
      << "table entries without a route (remove them from host/api/openapi.cpp): "
      << doc["x-unused-schema-entries"].dump();
  EXPECT_EQ(doc["openapi"].as_string(), "3.1.0");
  EXPECT_EQ(doc["info"]["version"].as_string(), "1.2.3");

  std::set<std::string> routes;
  for (const http::Route& route : r.router.routes()) {
    const std::string path = doc_path(route.pattern);
    const std::string method = lower(route.method);
    routes.insert(method + " " + path);
    const Json& op = doc["paths"][path][method];
    ASSERT_TRUE(op.is_object()) << route.method << " " << route.pattern << " is not in the document";
    EXPECT_FALSE(op.contains("x-missing-schema"))
        << route.method << " " << route.pattern << " has no entry in host/api/openapi.cpp (kOperations)";
    EXPECT_EQ(op["summary"].as_string(), route.summary);
    // Security: public routes none, the others a bearer token or an API key.
    const Json& security = op["security"];
    ASSERT_TRUE(security.is_array()) << route.pattern;
    if (route.access == http::Access::Public) {
      EXPECT_EQ(security.size(), 0u) << route.pattern;
    } else {
      EXPECT_TRUE(security.size() >= 1 && security.at(0).contains("bearer")) << route.pattern;
      EXPECT_TRUE(op["responses"].contains("401")) << route.pattern;
    }
    if (route.access == http::Access::Admin || !route.scope.empty()) {
      EXPECT_TRUE(op["responses"].contains("403")) << route.pattern;
    }
    if (route.json_body) {
      EXPECT_TRUE(op["requestBody"].is_object()) << route.pattern;
      EXPECT_TRUE(op["responses"].contains("415")) << route.pattern;
    }
    // At least one success, and every response described.
    bool success = false;
    for (const auto& [status, resp] : op["responses"].as_object()) {
      success = success || status[0] == '2';
      EXPECT_TRUE(resp.contains("description") || resp.contains("$ref")) << route.pattern << " " << status;
    }
    if (route.pattern != "/ws/orchestrator/:executionId")  // only ever points elsewhere (426)
      EXPECT_TRUE(success) << route.pattern << " documents no success response";
  }

  // Nothing in the document that the router does not serve.
  size_t operations = 0;
  std::set<std::string> ids;
  for (const auto& [path, item] : doc["paths"].as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      ASSERT_TRUE(std::find(std::begin(kMethods), std::end(kMethods), method) != std::end(kMethods))
          << path << " has a member '" << method << "' that is not an operation";
      EXPECT_TRUE(routes.count(method + " " + path)) << method << " " << path << " is documented but not routed";
      EXPECT_TRUE(ids.insert(op["operationId"].as_string()).second)
          << "operationId " << op["operationId"].as_string() << " is used twice";
      ++operations;
    }
  }
  EXPECT_EQ(operations, r.router.routes().size());
}

TEST(OpenApiDocument, StatusesTheBriefNames) {
  Routes r;
  const Json doc = api::openapi_document(r.router, "t");
  const Json& paths = doc["paths"];
  // SSE and Prometheus media types.
  EXPECT_TRUE(paths["/api/executions/{id}/events"]["get"]["responses"]["200"]["content"].contains("text/event-stream"));
  EXPECT_TRUE(paths["/metrics"]["get"]["responses"]["200"]["content"].contains("text/plain"));
  // 429 carries Retry-After.
  const Json& rl = doc["components"]["responses"]["RateLimited"];
  EXPECT_TRUE(rl["headers"].contains("Retry-After"));
  EXPECT_EQ(paths["/api/auth/login"]["post"]["responses"]["429"]["$ref"].as_string(),
            "#/components/responses/RateLimited");
  EXPECT_TRUE(paths["/api/executions/{id}/events"]["get"]["responses"]["429"]["headers"].contains("Retry-After"));
  // Headers and query parameters.
  auto has_param = [&](const std::string& path, const std::string& method, const std::string& name) {
    for (const Json& p : paths[path][method]["parameters"].as_array()) {
      if (p["name"].as_string() == name) return true;
      if (p["$ref"].as_string() == "#/components/parameters/" + name) return true;
    }
    return false;
  };
  EXPECT_TRUE(has_param("/api/workflows/{id}/execute", "post", "Idempotency-Key"));
  EXPECT_TRUE(has_param("/api/workflows/{id}/execute", "post", "mode"));
  EXPECT_TRUE(has_param("/api/executions/{id}/events", "get", "Last-Event-ID"));
  EXPECT_TRUE(has_param("/api/executions/{id}/events", "get", "after"));
  EXPECT_TRUE(has_param("/api/executions", "get", "status"));
  EXPECT_TRUE(has_param("/api/executions", "get", "workflow_id"));
  EXPECT_TRUE(has_param("/api/keys/{id}/rotate", "post", "overlap_seconds"));
  // Bodies the handler checks member by member refuse unknown members.
  EXPECT_FALSE(paths["/api/auth/login"]["post"]["requestBody"]["content"]["application/json"]["schema"]
                   ["additionalProperties"]
                       .as_bool(true));
  EXPECT_TRUE(paths["/api/workflows/compile"]["post"]["responses"].contains("422"));
  EXPECT_TRUE(doc["components"]["schemas"]["ApiKeyCreated"].dump().find("\"key\"") != std::string::npos);
}

TEST(OpenApiDocument, ARouteWithoutAnEntryIsMarked) {
  Routes r;
  r.router.add({"GET", "/api/not-documented/:id", http::Access::User, "", "", false, false, "A new route",
                [](http::Request&, http::Responder) {}});
  const Json doc = api::openapi_document(r.router, "t");
  const Json& op = doc["paths"]["/api/not-documented/{id}"]["get"];
  ASSERT_TRUE(op.is_object());
  EXPECT_TRUE(op["x-missing-schema"].as_bool());
}

TEST(OpenApiDocument, WorkflowDefinitionIsTheDocsSchema) {
  std::ifstream in(std::string(WEFT_SOURCE_DIR) + "/docs/workflow.schema.json");
  ASSERT_TRUE(in) << "docs/workflow.schema.json not found";
  std::stringstream text;
  text << in.rdbuf();
  auto file = Json::parse(text.str());
  ASSERT_TRUE(file.ok()) << file.error().message;

  const std::map<std::string, std::string> names = {
      {"nodeId", "NodeId"},         {"edgeId", "EdgeId"},         {"handle", "Handle"},
      {"workflowSettings", "WorkflowSettings"}, {"nodeSettings", "NodeSettings"}, {"credentialRef", "CredentialRef"},
      {"nodeData", "NodeData"},     {"node", "WorkflowNode"},     {"edge", "WorkflowEdge"}};
  Routes r;
  const Json schemas = api::openapi_document(r.router, "t")["components"]["schemas"];

  Json top = Json::object();
  for (const auto& [k, v] : file->as_object())
    if (k != "$schema" && k != "$id" && k != "$defs") top.set(k, v);
  EXPECT_EQ(canonical(rewrite_refs(top, names)).dump(), canonical(schemas["WorkflowDefinition"]).dump());
  for (const auto& [def, schema] : (*file)["$defs"].as_object()) {
    auto it = names.find(def);
    ASSERT_NE(it, names.end()) << "docs/workflow.schema.json has a new $def '" << def
                               << "': add it to the components in host/api/openapi.cpp and to this map";
    EXPECT_EQ(canonical(rewrite_refs(schema, names)).dump(), canonical(schemas[it->second]).dump())
        << "components/schemas/" << it->second << " differs from $defs/" << def;
  }
}

// ---- the validator ----------------------------------------------------------------------------------

TEST(OpenApiValidator, AcceptsTheDocument) {
  Routes r;
  const std::string text = api::openapi_document(r.router, "0.1.0").dump_pretty();
  const std::string file = temp_file("weft-openapi", text);
  ValidatorRun run = run_validator(file);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  std::filesystem::remove(file);
  // WEFT_OPENAPI_OUT=<file>: keep a copy, to read or publish the document without a server.
  if (const char* out = std::getenv("WEFT_OPENAPI_OUT"); out && *out) std::ofstream(out) << text;
}

TEST(OpenApiValidator, RejectsBrokenDocuments) {
  Routes r;
  const Json doc = api::openapi_document(r.router, "0.1.0");

  // A reference to a schema that does not exist (swagger-parser's own check).
  Json paths = doc["paths"];
  Json item = paths["/api/auth/me"];
  Json op = item["get"];
  Json responses = op["responses"];
  Json ok = responses["200"];
  Json content = Json::object();
  Json media = Json::object();
  Json bad_ref = Json::object();
  bad_ref.set("$ref", "#/components/schemas/NoSuchSchema");
  media.set("schema", bad_ref);
  content.set("application/json", media);
  ok.set("content", content);
  responses.set("200", ok);
  op.set("responses", responses);
  item.set("get", op);
  paths.set("/api/auth/me", item);
  Json broken = doc;
  broken.set("paths", paths);
  std::string file = temp_file("weft-openapi-broken", broken.dump());
  ValidatorRun run = run_validator(file);
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("NoSuchSchema"), std::string::npos) << run.output;
  std::filesystem::remove(file);

  // Not OpenAPI 3.1: a response without its (required) description.
  broken = doc;
  paths = doc["paths"];
  item = paths["/healthz"];
  op = item["get"];
  responses = op["responses"];
  ok = responses["200"];
  ok.erase("description");
  responses.set("200", ok);
  op.set("responses", responses);
  item.set("get", op);
  paths.set("/healthz", item);
  broken.set("paths", paths);
  file = temp_file("weft-openapi-broken", broken.dump());
  run = run_validator(file);
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("swagger-parser"), std::string::npos) << run.output;
  std::filesystem::remove(file);

  // A misspelt schema keyword (Ajv strict mode).
  broken = doc;
  Json components = doc["components"];
  Json schemas = components["schemas"];
  Json health = schemas["Health"];
  health.set("requird", Json::array());
  schemas.set("Health", health);
  components.set("schemas", schemas);
  broken.set("components", components);
  file = temp_file("weft-openapi-broken", broken.dump());
  run = run_validator(file);
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("requird"), std::string::npos) << run.output;
  std::filesystem::remove(file);
}

// ---- real responses ---------------------------------------------------------------------------------

using apitest::Response;

class OpenApiResponses : public apitest::ApiTest {
 protected:
  void configure(app::Config&, api::ServeConfig& serve) override {
    serve.http.max_request_bytes = 256u << 10;  // a 413 within reach
  }

  // Records a response for the validator, and checks it has the expected status.
  void sample(const std::string& method, const std::string& path_template, const Response& r, int expected) {
    EXPECT_EQ(r.status, expected) << method << " " << path_template << ": " << r.describe();
    Json s = Json::object();
    s.set("method", method);
    s.set("path", path_template);
    s.set("status", r.status);
    const std::string ct = r.header("content-type").value_or("");
    s.set("content_type", ct);
    s.set("body", ct.find("json") != std::string::npos ? r.json() : Json(r.body.substr(0, 200)));
    samples_.push_back(s);
    if (r.status == 429) {
      EXPECT_TRUE(r.header("retry-after").has_value()) << r.describe();
    }
  }

  // Every sample against the document the server itself serves.
  void check_samples() {
    Routes r;
    const std::string doc_file = temp_file("weft-openapi", api::openapi_document(r.router, "0.1.0").dump());
    const std::string samples_file = temp_file("weft-openapi-samples", samples_.dump_pretty());
    ValidatorRun run = run_validator(doc_file, samples_file);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    std::printf("%s", run.output.c_str());
    std::filesystem::remove(doc_file);
    std::filesystem::remove(samples_file);
  }

  Json samples_ = Json::array();
};

TEST_P(OpenApiResponses, MatchTheDocument) {
  const auto& c = client();
  sample("GET", "/healthz", c.get("/healthz"), 200);
  sample("GET", "/readyz", c.get("/readyz"), 200);
  sample("GET", "/metrics", c.get("/metrics"), 200);
  sample("GET", "/api/openapi.json", c.get("/api/openapi.json"), 200);

  // ---- auth
  const std::string admin = admin_token();
  apitest::TestUser u = make_user("enterprise");
  Json login = Json::object();
  login.set("email", u.email);
  login.set("password", u.password);
  Response logged_in = c.post("/api/auth/login", login);
  sample("POST", "/api/auth/login", logged_in, 200);
  Json wrong = login;
  wrong.set("password", "not-the-password");
  sample("POST", "/api/auth/login", c.post("/api/auth/login", wrong), 401);
  Json extra = login;
  extra.set("remember_me", true);
  sample("POST", "/api/auth/login", c.post("/api/auth/login", extra), 400);
  sample("POST", "/api/auth/login",
         c.request("POST", "/api/auth/login", "", login.dump(), {{"Content-Type", "text/plain"}}), 415);
  sample("GET", "/api/auth/me", c.get("/api/auth/me", u.token), 200);
  sample("GET", "/api/auth/me", c.get("/api/auth/me"), 401);
  sample("GET", "/api/auth/me", c.get("/api/auth/me", "not-a-token"), 401);
  // The API login's session: refreshed, then the old refresh token replayed (which revokes that
  // session, not the one the rest of the test uses).
  Json refresh = Json::object();
  refresh.set("refresh_token", logged_in.json()["refresh_token"].as_string());
  sample("POST", "/api/auth/refresh", c.post("/api/auth/refresh", refresh), 200);
  sample("POST", "/api/auth/refresh", c.post("/api/auth/refresh", refresh), 401);
  const std::string token = u.token;

  // ---- keys
  Json key_req = Json::object();
  key_req.set("name", "read only");
  Json scopes = Json::array();
  scopes.push_back("workflows:read");
  key_req.set("scopes", scopes);
  Response key = c.post("/api/keys", key_req, token);
  sample("POST", "/api/keys", key, 201);
  Json bad_scope = key_req;
  Json bs = Json::array();
  bs.push_back("everything");
  bad_scope.set("scopes", bs);
  sample("POST", "/api/keys", c.post("/api/keys", bad_scope, token), 400);
  sample("GET", "/api/keys", c.get("/api/keys", token), 200);
  const std::string key_id = key.json()["id"].as_string();
  Response rotated = c.post_empty("/api/keys/" + key_id + "/rotate?overlap_seconds=0", token);
  sample("POST", "/api/keys/{id}/rotate", rotated, 201);
  sample("POST", "/api/keys/{id}/rotate", c.post_empty("/api/keys/" + key_id + "/rotate", token), 409);
  sample("POST", "/api/keys/{id}/rotate", c.post_empty("/api/keys/" + key_id + "/rotate?overlap_seconds=x", token),
         400);
  const std::string read_key = rotated.json()["key"].as_string();
  sample("GET", "/api/executions", c.get("/api/executions", read_key), 403);
  sample("GET", "/api/keys", c.get("/api/keys", read_key), 403);
  sample("POST", "/api/auth/logout", c.post_empty("/api/auth/logout", read_key), 400);
  sample("POST", "/api/auth/password",
         c.post("/api/auth/password", Json::parse(R"({"old_password":"x","new_password":"yyyyyyyy"})").value(),
                read_key),
         403);
  sample("DELETE", "/api/keys/{id}", c.del("/api/keys/" + rotated.json()["id"].as_string(), token), 204);
  sample("DELETE", "/api/keys/{id}", c.del("/api/keys/no-such-key", token), 404);

  // ---- workflows
  Response created = c.post("/api/workflows", quick_workflow("quick"), token);
  sample("POST", "/api/workflows", created, 201);
  const std::string wf = created.json()["id"].as_string();
  Json owned = quick_workflow();
  owned.set("owner_id", "someone-else");
  sample("POST", "/api/workflows", c.post("/api/workflows", owned, token), 400);
  sample("POST", "/api/workflows", c.request("POST", "/api/workflows", token, "{not json", {{"Content-Type", "application/json"}}),
         400);
  sample("POST", "/api/workflows",
         c.request("POST", "/api/workflows", token, std::string(300u << 10, ' '), {{"Content-Type", "application/json"}}),
         413);
  Response waits = c.post("/api/workflows", wait_workflow(30, "waits"), token);
  sample("POST", "/api/workflows", waits, 201);
  const std::string wf_wait = waits.json()["id"].as_string();
  Response page = c.get("/api/workflows?limit=1", token);
  sample("GET", "/api/workflows", page, 200);
  EXPECT_TRUE(page.json()["next_cursor"].is_string()) << page.describe();
  sample("GET", "/api/workflows",
         c.get("/api/workflows?limit=1&cursor=" + page.json()["next_cursor"].as_string(), token), 200);
  sample("GET", "/api/workflows", c.get("/api/workflows?limit=0", token), 400);
  sample("GET", "/api/workflows/{id}", c.get("/api/workflows/" + wf, token), 200);
  sample("GET", "/api/workflows/{id}", c.get("/api/workflows/nope", token), 404);
  sample("PUT", "/api/workflows/{id}", c.put("/api/workflows/" + wf, quick_workflow("quick v2"), token), 200);
  sample("PUT", "/api/workflows/{id}", c.put("/api/workflows/nope", quick_workflow(), token), 404);
  sample("GET", "/api/workflows/{id}/versions", c.get("/api/workflows/" + wf + "/versions", token), 200);
  sample("GET", "/api/workflows/{id}/versions/{version}", c.get("/api/workflows/" + wf + "/versions/1", token), 200);
  sample("GET", "/api/workflows/{id}/versions/{version}", c.get("/api/workflows/" + wf + "/versions/one", token),
         400);
  sample("GET", "/api/workflows/{id}/versions/{version}", c.get("/api/workflows/" + wf + "/versions/9", token), 404);
  sample("POST", "/api/workflows/compile", c.post("/api/workflows/compile", quick_workflow(), token), 200);
  Json broken = quick_workflow();
  Json nodes = broken["nodes"];
  Json n = nodes.at(1);
  n.set("type", "core.no_such_node");
  Json fixed_nodes = Json::array();
  fixed_nodes.push_back(nodes.at(0));
  fixed_nodes.push_back(n);
  broken.set("nodes", fixed_nodes);
  sample("POST", "/api/workflows/compile", c.post("/api/workflows/compile", broken, token), 422);
  sample("POST", "/api/workflows/{id}/compile", c.post_empty("/api/workflows/" + wf + "/compile?version=1", token),
         200);
  Response broken_saved = c.post("/api/workflows", broken, token);
  sample("POST", "/api/workflows", broken_saved, 201);
  const std::string wf_broken = broken_saved.json()["id"].as_string();
  sample("POST", "/api/workflows/{id}/compile", c.post_empty("/api/workflows/" + wf_broken + "/compile", token), 422);
  sample("GET", "/api/workflows/{id}/webhooks", c.get("/api/workflows/" + wf + "/webhooks", token), 200);

  // ---- executions
  Response ran = c.post("/api/workflows/" + wf + "/execute", Json::parse(R"({"input":{"name":"x"}})").value(), token,
                        {{"Idempotency-Key", "run-1"}});
  sample("POST", "/api/workflows/{id}/execute", ran, 200);
  sample("POST", "/api/workflows/{id}/execute",
         c.post("/api/workflows/" + wf + "/execute", Json::parse(R"({"input":{"name":"x"}})").value(), token,
                {{"Idempotency-Key", "run-1"}}),
         200);
  sample("POST", "/api/workflows/{id}/execute", c.post_empty("/api/workflows/" + wf + "/execute?mode=later", token),
         400);
  sample("POST", "/api/workflows/{id}/execute", c.post_empty("/api/workflows/" + wf_broken + "/execute", token), 400);
  sample("POST", "/api/workflows/{id}/execute", c.post_empty("/api/workflows/nope/execute", token), 404);
  Response queued = c.post_empty("/api/workflows/" + wf_wait + "/execute?mode=async", token);
  sample("POST", "/api/workflows/{id}/execute", queued, 202);
  const std::string done_id = ran.json()["execution"]["id"].as_string();
  const std::string wait_id = queued.json()["execution"]["id"].as_string();
  sample("GET", "/api/executions", c.get("/api/executions?limit=1", token), 200);
  sample("GET", "/api/executions", c.get("/api/executions?status=succeeded&workflow_id=" + wf, token), 200);
  sample("GET", "/api/executions", c.get("/api/executions?status=finished", token), 400);
  sample("GET", "/api/executions/{id}", c.get("/api/executions/" + done_id, token), 200);
  sample("GET", "/api/executions/{id}", c.get("/api/executions/nope", token), 404);
  sample("GET", "/api/executions/{id}/logs", c.get("/api/executions/" + done_id + "/logs", token), 200);
  // The 200s of the events route are sampled by EventsMatchTheDocument (below).
  sample("GET", "/api/executions/{id}/events",
         c.get("/api/executions/" + done_id + "/events", token, {{"Accept", "application/json"}, {"Last-Event-ID", "x"}}),
         400);
  sample("GET", "/api/executions/{id}/events", c.get("/api/executions/nope/events", token), 404);
  sample("POST", "/api/executions/{id}/cancel", c.post_empty("/api/executions/" + done_id + "/cancel", token), 409);
  sample("POST", "/api/executions/{id}/pause", c.post_empty("/api/executions/" + wait_id + "/pause", token), 200);
  sample("POST", "/api/executions/{id}/resume", c.post_empty("/api/executions/" + wait_id + "/resume", token), 200);
  sample("POST", "/api/executions/{id}/cancel", c.post_empty("/api/executions/" + wait_id + "/cancel", token), 200);
  sample("POST", "/api/executions/{id}/pause", c.post_empty("/api/executions/nope/pause", token), 404);
  wait_status(token, wait_id, {"cancelled"});
  sample("POST", "/api/executions/{id}/resume", c.post_empty("/api/executions/" + wait_id + "/resume", token), 409);
  sample("DELETE", "/api/workflows/{id}", c.del("/api/workflows/" + wf_broken, token), 204);
  sample("DELETE", "/api/workflows/{id}", c.del("/api/workflows/" + wf_broken, token), 404);

  // ---- palette and administration
  sample("GET", "/api/nodes", c.get("/api/nodes", token), 200);
  sample("GET", "/api/admin/plugins", c.get("/api/admin/plugins", token), 403);
  sample("GET", "/api/admin/plugins", c.get("/api/admin/plugins", admin), 200);
  sample("POST", "/api/admin/plugins/{name}/disable", c.post_empty("/api/admin/plugins/nope/disable", admin), 404);
  sample("POST", "/api/admin/plugins/{name}/enable", c.post_empty("/api/admin/plugins/nope/enable", admin), 404);
  sample("GET", "/api/admin/users", c.get("/api/admin/users?limit=1", admin), 200);
  Json new_user = Json::object();
  new_user.set("email", "new-" + random_hex(4) + "@example.com");
  new_user.set("password", "a long password");
  Response made = c.post("/api/admin/users", new_user, admin);
  sample("POST", "/api/admin/users", made, 201);
  sample("POST", "/api/admin/users", c.post("/api/admin/users", new_user, admin), 409);
  const std::string new_id = made.json()["id"].as_string();
  sample("PUT", "/api/admin/users/{id}/tier",
         c.put("/api/admin/users/" + new_id + "/tier", Json::parse(R"({"tier":"pro"})").value(), admin), 200);
  sample("PUT", "/api/admin/users/{id}/tier",
         c.put("/api/admin/users/" + new_id + "/tier", Json::parse(R"({"tier":"gold"})").value(), admin), 400);
  sample("PUT", "/api/admin/users/{id}/tier",
         c.put("/api/admin/users/nope/tier", Json::parse(R"({"tier":"pro"})").value(), admin), 404);

  // ---- webhooks
  sample("POST", "/webhook/{path}", c.post("/webhook/no-such-hook", Json::object()), 404);
  if (has_node_type("core.webhook_trigger")) {
    auto hook_wf = Json::parse(R"({"name": "hook", "nodes": [
        {"id": "in", "type": "core.webhook_trigger", "data": {"parameters": {"path": "orders"}}},
        {"id": "out", "type": "core.set", "data": {"parameters": {"fields": {"ok": true}}}}],
      "edges": [{"id": "e", "source": "in", "target": "out"}]})");
    Response hw = c.post("/api/workflows", *hook_wf, token);
    sample("POST", "/api/workflows", hw, 201);
    Response hooks = c.get("/api/workflows/" + hw.json()["id"].as_string() + "/webhooks", token);
    sample("GET", "/api/workflows/{id}/webhooks", hooks, 200);
    const std::string url = hooks.json()["webhooks"].at(0)["url"].as_string();
    ASSERT_FALSE(url.empty()) << hooks.describe();
    sample("POST", "/webhook/{path}", c.post(url, Json::parse(R"({"order": 1})").value()), 200);
    sample("GET", "/webhook/{path}", c.get(url), 405);
    sample("POST", "/webhook/{path}",
           c.request("POST", url, "", "{broken", {{"Content-Type", "application/json"}}), 400);
  } else {
    std::printf("note: core.webhook_trigger is not in the palette; webhook successes not sampled\n");
  }

  // ---- password, logout, rate limits, draining
  sample("POST", "/api/auth/password",
         c.post("/api/auth/password", Json::parse(R"({"old_password":"wrong","new_password":"another pw"})").value(),
                token),
         401);
  sample("POST", "/api/auth/password",
         c.post("/api/auth/password", Json::parse(R"({"old_password":"x","new_password":"y","also":1})").value(), token),
         400);
  sample("POST", "/api/auth/logout", c.post_empty("/api/auth/logout", token), 204);
  Json limited = wrong;
  limited.set("email", "nobody-" + random_hex(4) + "@example.com");
  Response last;
  for (int i = 0; i < 20 && last.status != 429; ++i) last = c.post("/api/auth/login", limited);
  sample("POST", "/api/auth/login", last, 429);
  server().server().begin_drain();
  sample("GET", "/api/auth/me", c.get("/api/auth/me", admin), 503);
  sample("GET", "/readyz", c.get("/readyz"), 503);

  check_samples();
}

// Disabled until two server bugs are fixed (host/http/server.cpp, host/http/sse.cpp):
//   - the JSON form is never served: Pistache's typed Accept header writes nothing when the
//     server copies request headers (Header::Accept::write is empty in Pistache 0.0.5), so the
//     handler sees no Accept and always streams;
//   - streaming an execution's events sometimes aborts the process ("Assertion Error: could not
//     find write data" thrown on a Pistache reactor thread), about one run in four here.
TEST_P(OpenApiResponses, EventsMatchTheDocument) {
  const auto& c = client();
  apitest::TestUser u = make_user("enterprise");
  const std::string wf = create_workflow(u.token, quick_workflow());
  Response ran = execute(u.token, wf);
  ASSERT_EQ(ran.status, 200) << ran.describe();
  const std::string id = ran.json()["execution"]["id"].as_string();
  Response page = c.get("/api/executions/" + id + "/events?after=1&limit=2", u.token, {{"Accept", "application/json"}});
  EXPECT_NE(page.header("content-type").value_or("").find("application/json"), std::string::npos) << page.describe();
  sample("GET", "/api/executions/{id}/events", page, 200);
  auto stream = apitest::SseStream::open(port(), "/api/executions/" + id + "/events", u.token);
  ASSERT_TRUE(stream);
  sample("GET", "/api/executions/{id}/events", stream->head(), 200);
  auto event = stream->next();
  ASSERT_TRUE(event.has_value());
  // An event's data line is a StreamEvent (checked here: it is not a response body).
  Json data = event->json();
  for (const char* member : {"execution_id", "seq", "type", "ts", "data"})
    EXPECT_TRUE(data.contains(member)) << member << " missing in " << event->data;
  stream->close();
  check_samples();
}

INSTANTIATE_TEST_SUITE_P(Sqlite, OpenApiResponses, ::testing::Values("sqlite"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace weft
