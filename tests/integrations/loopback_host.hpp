// The host side of weft_host_api.http_request for the integration-node tests: a small stand-in
// for the host's credential runtime in front of the REAL guarded client (weft::net::OutboundHttp).
//
// It does what the host does with a plugin's request JSON, reduced to what the tests need:
//   1. takes "credential": "<ref>" out of the request and looks the ref up in `credentials`;
//   2. applies it the way its type's "apply" says (bearer, basic, header X-API-Key, query api_key,
//      url) — the mapping from type name to apply rule mirrors plugins/integrations'
//      credential_types.cpp;
//   3. sends the request with OutboundHttp under a policy that allowlists only the given
//      "127.0.0.1:<port>" entries, and maps errors to statuses like the host does.
// Every request JSON the plugin sent is kept (plugin_requests) so tests can check that the plugin
// named the credential and carried no secret itself.
//
// Thread-safety: handle() may run concurrently; the recorded requests are guarded by a mutex.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "host/core/json.hpp"
#include "host/net/outbound.hpp"
#include "weft/weft_abi.h"

namespace weft::integrations_test {

struct TestCredential {
  std::string type;                           // e.g. "http_bearer"
  std::map<std::string, std::string> fields;  // decrypted fields, secrets included
};

class LoopbackHost {
 public:
  explicit LoopbackHost(std::vector<std::string> allow, int64_t default_timeout_ms = 5000)
      : http_(make_policy(std::move(allow), default_timeout_ms)) {}

  std::map<std::string, TestCredential> credentials;  // by ref ("auth")

  // weft_host_api.http_request: request JSON in, response JSON or error JSON out.
  weft_status handle(std::string_view request_json, std::string& out, std::string& err) {
    {
      std::lock_guard lock(mu_);
      plugin_requests_.emplace_back(request_json);
    }
    auto parsed = Json::parse(request_json);
    if (!parsed.ok() || !parsed->is_object())
      return error(err, WEFT_ERR_INVALID_INPUT, "invalid_request", "the request must be a JSON object");
    Json req_json = std::move(*parsed);

    const TestCredential* cred = nullptr;
    std::string kind;
    if (const Json* ref = req_json.find("credential")) {
      auto it = credentials.find(ref->as_string());
      if (it == credentials.end())
        return error(err, WEFT_ERR_NOT_FOUND, "credential_not_found",
                     "the node does not reference a credential named '" + ref->as_string() + "'");
      cred = &it->second;
      kind = apply_kind(cred->type);
      req_json.erase("credential");
      if (kind == "url") {
        if (req_json.contains("url"))
          return error(err, WEFT_ERR_INVALID_INPUT, "invalid_request",
                       "the credential supplies the URL: the request must not name one");
        req_json.set("url", field(*cred, "url"));
      }
    }
    auto req = net::request_from_json(req_json);
    if (!req.ok()) return error(err, WEFT_ERR_INVALID_INPUT, req.error().code, req.error().message);
    if (cred) {
      if (kind == "bearer") {
        req->headers.emplace_back("Authorization", "Bearer " + field(*cred, "token"));
      } else if (kind == "basic") {
        req->headers.emplace_back(
            "Authorization", "Basic " + base64(field(*cred, "username") + ":" + field(*cred, "password")));
      } else if (kind == "header") {
        req->headers.emplace_back("X-API-Key", field(*cred, "value"));
        req->sensitive_headers.push_back("x-api-key");
      } else if (kind == "query") {
        req->url += (req->url.find('?') == std::string::npos ? "?" : "&") + std::string("api_key=") +
                    field(*cred, "value");
      }
    }
    auto resp = http_.perform(*req);
    if (!resp.ok()) {
      const Error& e = resp.error();
      weft_status st = WEFT_ERR_FAILED;
      if (e.code == "timeout") st = WEFT_ERR_TIMEOUT;
      if (e.code == "cancelled") st = WEFT_ERR_CANCELLED;
      if (e.code == "address_blocked" || e.code == "scheme_not_allowed") st = WEFT_ERR_DENIED;
      if (e.code == "invalid_url" || e.code == "invalid_request") st = WEFT_ERR_INVALID_INPUT;
      Json j = Json::object();
      j.set("code", e.code);
      j.set("message", e.message);
      if (!e.details.empty())
        if (auto d = Json::parse(e.details); d.ok()) j.set("details", std::move(*d));
      err = j.dump();
      return st;
    }
    out = net::response_to_json(*resp).dump();
    return WEFT_OK;
  }

  std::vector<std::string> plugin_requests() const {
    std::lock_guard lock(mu_);
    return plugin_requests_;
  }

  // The apply kind of a credential type of the integrations pack.
  static std::string apply_kind(const std::string& type) {
    if (type == "http_bearer" || type == "slack_token" || type == "github_token") return "bearer";
    if (type == "http_basic") return "basic";
    if (type == "http_header") return "header";
    if (type == "http_query") return "query";
    if (type == "slack_webhook") return "url";
    return "none";
  }

 private:
  static net::OutboundPolicy make_policy(std::vector<std::string> allow, int64_t default_timeout_ms) {
    net::OutboundPolicy p;
    p.allow = std::move(allow);
    p.default_timeout_ms = default_timeout_ms;
    p.connect_timeout_ms = 5000;
    return p;
  }
  static weft_status error(std::string& err, weft_status st, const std::string& code,
                           const std::string& message) {
    Json j = Json::object();
    j.set("code", code);
    j.set("message", message);
    err = j.dump();
    return st;
  }
  static std::string field(const TestCredential& c, const std::string& name) {
    auto it = c.fields.find(name);
    return it == c.fields.end() ? std::string() : it->second;
  }
  static std::string base64(std::string_view in) {
    static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
      uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
      out += {k[n >> 18], k[(n >> 12) & 63], k[(n >> 6) & 63], k[n & 63]};
    }
    if (i + 1 == in.size()) {
      uint32_t n = uint8_t(in[i]) << 16;
      out += {k[n >> 18], k[(n >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
      uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
      out += {k[n >> 18], k[(n >> 12) & 63], k[(n >> 6) & 63], '='};
    }
    return out;
  }

  net::OutboundHttp http_;
  mutable std::mutex mu_;
  std::vector<std::string> plugin_requests_;
};

}  // namespace weft::integrations_test
