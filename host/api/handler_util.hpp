// Small helpers every REST handler file shares (host/api/api.cpp, host/api/routes_*.cpp): paging,
// body parsing and field checks that answer the error themselves.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/core/json.hpp"
#include "host/core/result.hpp"
#include "host/http/http.hpp"

namespace weft::api::util {

using http::Request;
using http::Responder;

inline const std::string& uid(const Request& r) { return r.principal->user_id; }

// ?limit=N (1..200, default 50).
inline Result<int64_t> int_param(const std::string& text, const char* what, int64_t min, int64_t max) {
  char* end = nullptr;
  long long n = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || n < min || n > max)
    return Error("invalid_argument", std::string(what) + " must be an integer from " + std::to_string(min) +
                                         " to " + std::to_string(max));
  return static_cast<int64_t>(n);
}

// ?limit=N (1..200, default 50).
inline Result<int64_t> page_limit(const Request& r) {
  auto v = r.query_param("limit");
  if (!v) return int64_t{50};
  return int_param(*v, "limit", 1, 200);
}

// Lists are read with limit + 1 rows: an extra row means there is a next page, whose cursor is
// the last id kept.
template <typename T>
std::string trim_page(std::vector<T>& rows, int64_t limit) {
  if (static_cast<int64_t>(rows.size()) <= limit) return "";
  rows.resize(static_cast<size_t>(limit));
  return rows.back().id;
}


inline Json list_body(const char* key, Json items, const std::string& next_cursor) {
  Json j = Json::object();
  j.set(key, std::move(items));
  if (!next_cursor.empty()) j.set("next_cursor", next_cursor);
  return j;
}

// Reads a JSON body or answers the error; nullopt when answered.
inline std::optional<Json> body_or_error(const Request& req, Responder& res) {
  auto b = req.json_object();
  if (!b.ok()) {
    res.error(b.error());
    return std::nullopt;
  }
  return std::move(*b);
}

// Only these members may appear in a body; anything else is a 400 (mass assignment, typos).
inline bool only_fields(const Json& body, std::initializer_list<std::string_view> allowed, Responder& res) {
  for (const auto& [k, v] : body.as_object()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      Json d = Json::object();
      d.set("field", k);
      res.error(400, "unknown_field", "unknown field '" + k + "'", d);
      return false;
    }
  }
  return true;
}

// Members that must have a given JSON type when present: "string", "int", "bool", "array".
inline bool typed_fields(const Json& body, std::initializer_list<std::pair<std::string_view, std::string_view>> spec,
                  Responder& res) {
  for (const auto& [name, type] : spec) {
    const Json* v = body.find(name);
    if (!v) continue;
    const bool ok = (type == "string" && v->is_string()) || (type == "int" && v->is_int()) ||
                    (type == "bool" && v->is_bool()) || (type == "array" && v->is_array());
    if (!ok) {
      Json d = Json::object();
      d.set("field", std::string(name));
      d.set("expected", std::string(type));
      res.error(400, "invalid_argument", "'" + std::string(name) + "' must be of type " + std::string(type), d);
      return false;
    }
  }
  return true;
}

inline std::vector<std::string> string_list(const Json& v) {
  std::vector<std::string> out;
  for (const Json& s : v.as_array())
    if (s.is_string()) out.push_back(s.as_string());
  return out;
}

// A service the server may run without (null pointer): answers 503 "unavailable" naming it.
template <typename Service>
bool available(const std::shared_ptr<Service>& service, const char* what, Responder& res) {
  if (service) return true;
  res.error(503, "unavailable", std::string(what) + " not available on this server");
  return false;
}

}  // namespace weft::api::util
