// The JSON faces of the outbound client: the "outbound" config section and the request/response
// form used by weft_host_api.http_request.
#include <algorithm>
#include <cmath>
#include <optional>

#include "host/net/address.hpp"
#include "host/net/outbound.hpp"

namespace weft::net {
namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Standard alphabet; padding optional; nothing else (no whitespace, no URL-safe alphabet).
std::optional<std::string> base64_decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// Well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF) without NUL bytes,
// i.e. text that survives a JSON round trip unchanged.
bool is_json_safe_text(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<uint8_t>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<size_t>(len) > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += static_cast<size_t>(len);
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Error bad(std::string_view member, std::string_view why) {
  return Error("invalid_request", "request member \"" + std::string(member) + "\": " + std::string(why));
}

// A scalar (string, number, bool) as the text it stands for in a header/query/form.
std::optional<std::string> scalar_text(const Json& v) {
  switch (v.type()) {
    case Json::Type::String:
      return v.as_string();
    case Json::Type::Int:
      return std::to_string(v.as_int());
    case Json::Type::Double: {
      double d = v.as_double();
      if (!std::isfinite(d)) return std::nullopt;
      return Json(d).dump();
    }
    case Json::Type::Bool:
      return std::string(v.as_bool() ? "true" : "false");
    default:
      return std::nullopt;
  }
}

// Percent-encoding: RFC 3986 unreserved characters stay; with `form`, space becomes '+'
// (application/x-www-form-urlencoded).
std::string url_encode(std::string_view s, bool form) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<uint8_t>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else if (form && c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// "k=v&k=v" from an object whose values are scalars or arrays of scalars (repeated keys).
Result<std::string> encode_pairs(const Json& obj, std::string_view member, bool form) {
  if (!obj.is_object()) return bad(member, "must be an object");
  std::string out;
  auto add = [&](const std::string& k, const std::string& v) {
    if (!out.empty()) out += '&';
    out += url_encode(k, form);
    out += '=';
    out += url_encode(v, form);
  };
  for (const auto& [k, v] : obj.as_object()) {
    if (v.is_array()) {
      for (const Json& item : v.as_array()) {
        auto text = scalar_text(item);
        if (!text) return bad(member, "\"" + k + "\" must hold strings, numbers or booleans");
        add(k, *text);
      }
      continue;
    }
    auto text = scalar_text(v);
    if (!text) return bad(member, "\"" + k + "\" must be a string, number, boolean or array of them");
    add(k, *text);
  }
  return out;
}

Result<int64_t> non_negative_int(const Json& v, std::string_view member) {
  if (!v.is_int() || v.as_int() < 0) return bad(member, "must be a non-negative integer");
  return v.as_int();
}

Error config_error(std::string_view key, std::string_view why) {
  return Error("invalid_config", "outbound." + std::string(key) + ": " + std::string(why));
}

Result<int64_t> config_int(const Json& v, std::string_view key, int64_t min, int64_t max) {
  if (!v.is_int() || v.as_int() < min || v.as_int() > max) {
    return config_error(key,
                        "must be an integer between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return v.as_int();
}

}  // namespace

Result<OutboundPolicy> OutboundPolicy::from_json(const Json& section) {
  OutboundPolicy p;
  if (section.is_null()) return p;
  if (!section.is_object()) return Error("invalid_config", "outbound: must be an object");
  constexpr int64_t kMaxBytes = int64_t{1} << 40;
  constexpr int64_t kDay = 24 * 3600 * 1000;
  for (const auto& [key, v] : section.as_object()) {
    if (key == "allow") {
      if (!v.is_array()) return config_error(key, "must be an array of strings");
      std::vector<std::string> entries;
      for (const Json& e : v.as_array()) {
        if (!e.is_string()) return config_error(key, "must be an array of strings");
        entries.push_back(e.as_string());
      }
      auto parsed = Allowlist::parse(entries);
      if (!parsed) return parsed.take_error();
      p.allow = std::move(entries);
    } else if (key == "max_response_bytes") {
      auto n = config_int(v, key, 1, kMaxBytes);
      if (!n) return n.take_error();
      p.max_response_bytes = static_cast<size_t>(n.value());
    } else if (key == "max_request_body_bytes") {
      auto n = config_int(v, key, 0, kMaxBytes);
      if (!n) return n.take_error();
      p.max_request_body_bytes = static_cast<size_t>(n.value());
    } else if (key == "default_timeout_ms") {
      auto n = config_int(v, key, 1, kDay);
      if (!n) return n.take_error();
      p.default_timeout_ms = n.value();
    } else if (key == "max_timeout_ms") {
      auto n = config_int(v, key, 1, kDay);
      if (!n) return n.take_error();
      p.max_timeout_ms = n.value();
    } else if (key == "connect_timeout_ms") {
      auto n = config_int(v, key, 1, kDay);
      if (!n) return n.take_error();
      p.connect_timeout_ms = n.value();
    } else if (key == "max_redirects") {
      auto n = config_int(v, key, 0, 50);
      if (!n) return n.take_error();
      p.max_redirects = static_cast<int>(n.value());
    } else if (key == "low_speed_bytes_per_s") {
      auto n = config_int(v, key, 0, kMaxBytes);
      if (!n) return n.take_error();
      p.low_speed_bytes_per_s = n.value();
    } else if (key == "low_speed_time_ms") {
      auto n = config_int(v, key, 1000, kDay);
      if (!n) return n.take_error();
      p.low_speed_time_ms = n.value();
    } else if (key == "user_agent") {
      if (!v.is_string() || !validate_header("User-Agent", v.as_string()).ok() || v.as_string().empty()) {
        return config_error(key, "must be a non-empty string without CR/LF");
      }
      p.user_agent = v.as_string();
    } else {
      return Error("invalid_config", "outbound: unknown key \"" + key + "\"");
    }
  }
  if (p.default_timeout_ms > p.max_timeout_ms) {
    return config_error("default_timeout_ms", "must not exceed max_timeout_ms");
  }
  return p;
}

Result<OutboundRequest> request_from_json(const Json& j) {
  if (!j.is_object()) return Error("invalid_request", "the request must be a JSON object");
  OutboundRequest r;
  bool have_url = false;
  std::string query;
  const Json* body_json = nullptr;
  const char* body_member = nullptr;
  auto claim_body = [&](const std::string& key) -> Status {
    if (body_member) {
      return bad(key, std::string("only one of body, body_base64, json and form may be given (") +
                          body_member + " was given too)");
    }
    body_member = key == "body"          ? "body"
                  : key == "body_base64" ? "body_base64"
                  : key == "json"        ? "json"
                                         : "form";
    return {};
  };
  for (const auto& [key, v] : j.as_object()) {
    if (key == "method") {
      if (!v.is_string() || v.as_string().empty()) return bad(key, "must be a non-empty string");
      r.method = v.as_string();
      for (char& c : r.method) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      }
    } else if (key == "url") {
      if (!v.is_string() || v.as_string().empty()) return bad(key, "must be a non-empty string");
      r.url = v.as_string();
      have_url = true;
    } else if (key == "headers") {
      if (v.is_object()) {
        for (const auto& [name, value] : v.as_object()) {
          auto text = scalar_text(value);
          if (!text) return bad(key, "the value of \"" + name + "\" must be a string");
          r.headers.emplace_back(name, *text);
        }
      } else if (v.is_array()) {
        for (const Json& pair : v.as_array()) {
          if (!pair.is_array() || pair.size() != 2 || !pair.at(0).is_string()) {
            return bad(key, "array entries must be [name, value] pairs of strings");
          }
          auto text = scalar_text(pair.at(1));
          if (!text) return bad(key, "array entries must be [name, value] pairs of strings");
          r.headers.emplace_back(pair.at(0).as_string(), *text);
        }
      } else {
        return bad(key, "must be an object or an array of [name, value] pairs");
      }
      for (const auto& [name, value] : r.headers) {
        if (Status s = validate_header(name, value); !s) return bad(key, s.error().message);
      }
    } else if (key == "query") {
      auto q = encode_pairs(v, key, false);
      if (!q) return q.take_error();
      query = std::move(q.value());
    } else if (key == "body") {
      if (Status s = claim_body(key); !s) return s.error();
      if (!v.is_string()) return bad(key, "must be a string (use body_base64 for bytes, json for values)");
      r.body = v.as_string();
    } else if (key == "body_base64") {
      if (Status s = claim_body(key); !s) return s.error();
      if (!v.is_string()) return bad(key, "must be a base64 string");
      auto bytes = base64_decode(v.as_string());
      if (!bytes) return bad(key, "is not valid base64");
      r.body = std::move(*bytes);
    } else if (key == "json") {
      if (Status s = claim_body(key); !s) return s.error();
      body_json = &v;
    } else if (key == "form") {
      if (Status s = claim_body(key); !s) return s.error();
      auto f = encode_pairs(v, key, true);
      if (!f) return f.take_error();
      r.body = std::move(f.value());
    } else if (key == "timeout_ms") {
      auto n = non_negative_int(v, key);
      if (!n) return n.take_error();
      r.timeout_ms = n.value();
    } else if (key == "follow_redirects") {
      if (!v.is_bool()) return bad(key, "must be a boolean");
      r.follow_redirects = v.as_bool();
    } else if (key == "max_response_bytes") {
      auto n = non_negative_int(v, key);
      if (!n) return n.take_error();
      r.max_response_bytes = static_cast<size_t>(n.value());
    } else if (key == "sensitive_headers") {
      if (!v.is_array()) return bad(key, "must be an array of header names");
      for (const Json& name : v.as_array()) {
        if (!name.is_string() || name.as_string().empty()) {
          return bad(key, "must be an array of header names");
        }
        r.sensitive_headers.push_back(lower(name.as_string()));
      }
    } else {
      return Error("invalid_request", "unknown request member \"" + key + "\"");
    }
  }
  if (!have_url) return bad("url", "is required");
  auto has_content_type = [&] {
    return std::any_of(r.headers.begin(), r.headers.end(),
                       [](const auto& h) { return lower(h.first) == "content-type"; });
  };
  if (body_json) {
    r.body = body_json->dump();
    if (!has_content_type()) r.headers.emplace_back("Content-Type", "application/json");
  } else if (body_member && std::string_view(body_member) == "form") {
    if (!has_content_type()) {
      r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    }
  }
  if (!query.empty()) {
    // Before any fragment; joined to an existing query with '&'.
    size_t hash = r.url.find('#');
    std::string fragment = hash == std::string::npos ? "" : r.url.substr(hash);
    std::string base = r.url.substr(0, hash);
    char sep =
        base.find('?') == std::string::npos ? '?' : (base.back() == '?' || base.back() == '&' ? '\0' : '&');
    if (sep) base += sep;
    r.url = base + query + fragment;
  }
  return r;
}

Json response_to_json(const OutboundResponse& r) {
  Json headers = Json::object();
  for (const auto& [name, value] : r.headers) {
    if (headers.contains(name)) continue;
    headers.set(name, r.header(name));
  }
  Json out = Json::object();
  out.set("status", r.status);
  out.set("headers", std::move(headers));
  if (is_json_safe_text(r.body)) {
    out.set("body", r.body);
  } else {
    out.set("body_base64", base64_encode(r.body));
  }
  out.set("url", r.url);
  out.set("redirects", r.redirects);
  out.set("elapsed_ms", r.elapsed_ms);
  return out;
}

}  // namespace weft::net
