// The OpenAPI document, generated from the route table so that it cannot miss a route.
#include <algorithm>

#include "host/api/api.hpp"

namespace weft::api {

namespace {

// "/api/workflows/:id" → "/api/workflows/{id}"; "/webhook/*path" → "/webhook/{path}".
std::string openapi_path(const std::string& pattern, std::vector<std::string>& params) {
  std::string out;
  for (const std::string& seg : http::split_path(pattern)) {
    out.push_back('/');
    if (seg[0] == ':' || seg[0] == '*') {
      params.push_back(seg.substr(1));
      out += "{" + seg.substr(1) + "}";
    } else {
      out += seg;
    }
  }
  return out.empty() ? "/" : out;
}

std::string operation_id(const http::Route& r) {
  std::string id;
  std::string m = r.method;
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::tolower(c); });
  id = m;
  bool upper = true;
  for (char ch : r.pattern) {
    if (ch == '/' || ch == ':' || ch == '*' || ch == '.' || ch == '-' || ch == '_') {
      upper = true;
      continue;
    }
    id.push_back(upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch);
    upper = false;
  }
  return id;
}

Json ref(const std::string& name) {
  Json j = Json::object();
  j.set("$ref", "#/components/schemas/" + name);
  return j;
}

Json json_content(Json schema) {
  Json media = Json::object();
  media.set("schema", std::move(schema));
  Json content = Json::object();
  content.set("application/json", std::move(media));
  return content;
}

Json error_response(const char* description) {
  Json r = Json::object();
  r.set("description", description);
  r.set("content", json_content(ref("Error")));
  return r;
}

Json components() {
  auto obj = [](std::initializer_list<std::pair<const char*, Json>> props, std::vector<std::string> required) {
    Json p = Json::object();
    for (const auto& [k, v] : props) p.set(k, v);
    Json s = Json::object();
    s.set("type", "object");
    s.set("properties", p);
    if (!required.empty()) {
      Json req = Json::array();
      for (auto& r : required) req.push_back(r);
      s.set("required", req);
    }
    return s;
  };
  auto type = [](const char* t) {
    Json j = Json::object();
    j.set("type", t);
    return j;
  };
  Json schemas = Json::object();
  schemas.set("Error",
              obj({{"error", obj({{"code", type("string")}, {"message", type("string")}, {"details", Json::object()}},
                                 {"code", "message"})}},
                  {"error"}));
  schemas.set("Object", type("object"));
  Json security = Json::object();
  Json bearer = Json::object();
  bearer.set("type", "http");
  bearer.set("scheme", "bearer");
  bearer.set("description", "A JWT access token from /api/auth/login, or an API key (wk_...)");
  security.set("bearer", bearer);
  Json c = Json::object();
  c.set("schemas", schemas);
  c.set("securitySchemes", security);
  return c;
}

}  // namespace

Json openapi_document(const http::Router& router, const std::string& version) {
  Json doc = Json::object();
  doc.set("openapi", "3.1.0");
  Json info = Json::object();
  info.set("title", "Weft API");
  info.set("version", version);
  info.set("description",
           "Workflow automation: workflows, executions, live events, accounts and administration. "
           "Every error has the shape {\"error\":{\"code\",\"message\",\"details\"}}.");
  doc.set("info", info);
  Json paths = Json::object();
  for (const http::Route& r : router.routes()) {
    std::vector<std::string> params;
    const std::string path = openapi_path(r.pattern, params);
    Json op = Json::object();
    op.set("operationId", operation_id(r));
    op.set("summary", r.summary);
    Json tags = Json::array();
    auto segs = http::split_path(r.pattern);
    tags.push_back(segs.size() >= 2 && segs[0] == "api" ? segs[1] : segs.empty() ? "root" : segs[0]);
    op.set("tags", tags);
    if (!params.empty()) {
      Json ps = Json::array();
      for (const auto& p : params) {
        Json pj = Json::object();
        pj.set("name", p);
        pj.set("in", "path");
        pj.set("required", true);
        Json s = Json::object();
        s.set("type", "string");
        pj.set("schema", s);
        ps.push_back(pj);
      }
      op.set("parameters", ps);
    }
    if (r.access == http::Access::Public) {
      op.set("security", Json::array());
    } else {
      Json sec = Json::object();
      sec.set("bearer", Json::array());
      Json arr = Json::array();
      arr.push_back(sec);
      op.set("security", arr);
    }
    if (r.json_body) {
      Json body = Json::object();
      body.set("required", true);
      body.set("content", json_content(ref("Object")));
      op.set("requestBody", body);
    }
    Json responses = Json::object();
    Json ok = Json::object();
    ok.set("description", "Success");
    responses.set("200", ok);
    if (r.access != http::Access::Public) responses.set("401", error_response("Missing or invalid credentials"));
    responses.set("default", error_response("Error"));
    op.set("responses", responses);
    std::string m = r.method;
    std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::tolower(c); });
    Json item = paths[path].is_object() ? paths[path] : Json::object();
    item.set(m, op);
    paths.set(path, item);
  }
  doc.set("paths", paths);
  doc.set("components", components());
  return doc;
}

}  // namespace weft::api
