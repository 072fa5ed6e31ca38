#include "host/http/http.hpp"

#include "host/core/redact.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace weft::http {

namespace {

struct CodeStatus {
  std::string_view code;
  int status;
};

constexpr CodeStatus kCodes[] = {
    {"invalid_argument", 400},
    {"invalid_json", 400},
    {"validation_failed", 400},
    {"compile_failed", 400},
    {"bad_request", 400},
    {"invalid_path", 400},
    {"unknown_field", 400},
    {"invalid_credential", 400},
    {"unknown_credential_type", 400},
    {"credential_rejected", 400},
    {"invalid_custom_node", 400},
    {"invalid_cron", 400},
    {"invalid_timezone", 400},
    {"cron_never_fires", 400},
    {"schedule_too_frequent", 400},
    {"invalid_answer", 400},
    {"invalid_message", 400},
    {"unauthorized", 401},
    {"invalid_credentials", 401},
    {"invalid_signature", 401},
    {"forbidden", 403},
    {"not_an_approver", 403},
    {"cors_forbidden", 403},
    {"not_found", 404},
    {"method_not_allowed", 405},
    {"request_timeout", 408},
    {"conflict", 409},
    {"invalid_state", 409},
    {"already_answered", 409},
    {"too_many_schedules", 409},
    {"already_voted", 409},
    {"gone", 410},
    {"upgrade_required", 426},
    {"websocket_port", 426},
    {"payload_too_large", 413},
    {"uri_too_long", 414},
    {"header_too_large", 431},
    {"unsupported_media_type", 415},
    {"rate_limited", 429},
    {"internal", 500},
    {"storage_error", 500},
    {"unavailable", 503},
    {"draining", 503},
    {"vault_unavailable", 503},
    {"sandbox_unavailable", 503},
    {"timeout", 504},
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

int status_for_code(std::string_view code) {
  for (const auto& c : kCodes)
    if (c.code == code) return c.status;
  if (code.rfind("json_", 0) == 0) return 400;
  if (code.size() > 8 && code.substr(code.size() - 8) == "_invalid") return 400;
  return 500;
}

std::string percent_decode(std::string_view s, bool plus_is_space, bool* ok) {
  std::string out;
  out.reserve(s.size());
  if (ok) *ok = true;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
      if (ok) *ok = false;
      out.push_back(c);
    } else if (c == '%') {
      if (ok) *ok = false;
      out.push_back(c);
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> normalize_path(std::string_view raw) {
  if (raw.size() > 2048) return std::nullopt;
  // Decode first, so "%2e%2e" is "..", then refuse what no route may contain.
  bool ok = true;
  std::string decoded = percent_decode(raw, false, &ok);
  if (!ok) return std::nullopt;
  for (char c : decoded) {
    if (c == '\0' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
  }
  // An encoded slash would let one segment pose as two after decoding: refuse it outright.
  for (size_t i = 0; i + 2 < raw.size(); ++i) {
    if (raw[i] == '%' && raw[i + 1] == '2' && (raw[i + 2] == 'f' || raw[i + 2] == 'F')) return std::nullopt;
    if (raw[i] == '%' && raw[i + 1] == '5' && (raw[i + 2] == 'c' || raw[i + 2] == 'C')) return std::nullopt;
  }
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= decoded.size()) {
    size_t j = decoded.find('/', i);
    if (j == std::string::npos) j = decoded.size();
    std::string seg = decoded.substr(i, j - i);
    size_t semi = seg.find(';');
    if (semi != std::string::npos) seg.resize(semi);
    if (seg.empty() || seg == ".") {
      // skip
    } else if (seg == "..") {
      if (out.empty()) return std::nullopt;
      out.pop_back();
    } else {
      out.push_back(std::move(seg));
    }
    i = j + 1;
  }
  std::string path;
  for (const auto& s : out) {
    path.push_back('/');
    path += s;
  }
  if (path.empty()) path = "/";
  return path;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!q.empty() && q[0] == '?') q.remove_prefix(1);
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string k = percent_decode(part.substr(0, eq), true);
    std::string v = eq == std::string_view::npos ? std::string() : percent_decode(part.substr(eq + 1), true);
    out.emplace_back(std::move(k), std::move(v));
    if (out.size() >= 100) break;  // bounded
  }
  return out;
}

const std::string& Request::param(const std::string& name) const {
  static const std::string empty;
  auto it = params.find(name);
  return it == params.end() ? empty : it->second;
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return v;
  return std::nullopt;
}

std::optional<std::string> Request::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return std::nullopt;
}

Result<Json> Request::json_object() const {
  auto ct = header("content-type");
  if (!ct) return Error("unsupported_media_type", "a JSON body needs Content-Type: application/json");
  std::string t = *ct;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string base = t.substr(0, t.find(';'));
  while (!base.empty() && base.back() == ' ') base.pop_back();
  if (base != "application/json") {
    return Error("unsupported_media_type", "expected Content-Type application/json, got '" +
                                               std::string(ct->substr(0, 100)) + "'");
  }
  size_t cs = t.find("charset=");
  if (cs != std::string::npos) {
    std::string charset = t.substr(cs + 8);
    charset = charset.substr(0, charset.find(';'));
    if (charset != "utf-8" && charset != "\"utf-8\"")
      return Error("unsupported_media_type", "only the utf-8 charset is accepted");
  }
  JsonParseLimits limits;
  limits.max_depth = 128;
  limits.max_bytes = body.size() + 1;
  auto parsed = Json::parse(body, limits);
  if (!parsed.ok()) return Error("invalid_json", "request body: " + parsed.error().message);
  if (!parsed->is_object())
    return Error("invalid_argument", std::string("request body must be a JSON object, got ") + parsed->type_name());
  return parsed;
}

// ---- Responder -----------------------------------------------------------------------------------

std::string error_body(std::string_view code, std::string_view message, const Json& details) {
  // The last line of defence for error answers: secret-looking text in a message (a store error
  // quoting a value, a URL with a password) is masked like everywhere else.
  Json err = Json::object();
  err.set("code", std::string(code));
  err.set("message", redact_patterns(message));
  if (!details.is_null()) err.set("details", Redactor().redacted(details));
  Json body = Json::object();
  body.set("error", std::move(err));
  return body.dump();
}

Responder::Responder(std::unique_ptr<Transport> t) : t_(std::move(t)) {}
Responder::Responder(Responder&&) noexcept = default;
Responder& Responder::operator=(Responder&& o) noexcept {
  if (this != &o) {
    if (t_) error(500, "internal", "the request was dropped without an answer");
    t_ = std::move(o.t_);
    extra_ = std::move(o.extra_);
  }
  return *this;
}
Responder::~Responder() {
  if (t_) error(500, "internal", "the request was dropped without an answer");
}

void Responder::add_header(std::string name, std::string value) {
  extra_.emplace_back(std::move(name), std::move(value));
}

void Responder::json(int status, const Json& body) { json_text(status, body.dump()); }

void Responder::json_text(int status, std::string body) {
  text(status, std::move(body), "application/json");
}

void Responder::text(int status, std::string body, std::string content_type) {
  if (!t_) return;
  auto t = std::move(t_);
  t->send(status, content_type, std::move(body), extra_);
}

void Responder::no_content() { text(204, "", ""); }

void Responder::error(const Error& e) {
  Json details;
  if (!e.details.empty()) {
    auto parsed = Json::parse(e.details);
    details = parsed.ok() ? *parsed : Json(e.details);
  }
  const int status = status_for_code(e.code);
  if (status >= 500) {
    // Server-side failures name database hosts, file paths and driver messages: that goes to the
    // operator's log, the client gets the code and a generic message.
    std::fprintf(stderr, "weft: %d %s: %s\n", status, e.code.c_str(), e.message.c_str());
    const char* generic = e.code == "unavailable" ? "the database cannot be reached right now; retry shortly"
                                                  : "internal error; the server log has the details";
    error(status, e.code, generic, Json());
    return;
  }
  error(status, e.code, e.message, std::move(details));
}

void Responder::error(int status, std::string code, std::string message, Json details) {
  text(status, error_body(code, message, details), "application/json");
}

std::unique_ptr<EventStream> Responder::start_event_stream() {
  if (!t_) return nullptr;
  auto t = std::move(t_);
  return t->stream(extra_);
}

std::unique_ptr<BodyStream> Responder::start_body_stream(std::string content_type, int64_t stall_timeout_ms) {
  if (!t_) return nullptr;
  auto t = std::move(t_);
  return t->body_stream(content_type, extra_, stall_timeout_ms);
}

}  // namespace weft::http
