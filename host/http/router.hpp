// Routes: one table that says, for every endpoint, who may call it, which scope and rate class
// apply, whether it runs on the blocking pool, and the handler. The server enforces everything
// before calling the handler, so a handler only ever sees an authorized request.
//
// Patterns: "/api/workflows/:id/versions/:version"; literal segments match case-insensitively,
// ":name" matches one non-empty segment, a final "*name" matches the rest (one or more segments).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "host/http/http.hpp"

namespace weft::http {

enum class Access {
  Public,  // no credentials (health, login, webhooks that carry their own secret)
  User,    // any authenticated user (JWT or API key with the scope)
  Admin,   // role admin (and, for API keys, the "admin" scope)
};

using Handler = std::function<void(Request& req, Responder res)>;

struct Route {
  std::string method;         // "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  std::string pattern;
  Access access = Access::User;
  std::string scope;          // required API-key scope ("" = any)
  std::string rate_class;     // "" = "api" (general per-tier limit); "compile", "execute", "login", ...
  bool blocking = false;      // handler may block (password hashing, sync runs): runs off the reactor
  bool json_body = false;     // the route takes a JSON body (content type enforced)
  std::string summary;        // one line, for the OpenAPI document and logs
  Handler handler;
  bool hashes_password = false;  // blocking on the password-hashing pool, apart from runs
};

class Router {
 public:
  void add(Route r);
  const std::vector<Route>& routes() const { return routes_; }

  struct Match {
    const Route* route = nullptr;                 // null: no route for this path+method
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed_methods;     // path matched, method did not (405)
  };
  Match match(const std::string& method, const std::string& normalized_path) const;

 private:
  struct Compiled {
    std::vector<std::string> segments;  // lower-cased literals, ":x", "*x"
  };
  std::vector<Route> routes_;
  std::vector<Compiled> compiled_;
};

std::vector<std::string> split_path(const std::string& path);

}  // namespace weft::http
