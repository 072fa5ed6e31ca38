#include "host/auth/jwt.hpp"

#include "host/auth/auth.hpp"
#include "host/auth/crypto.hpp"
#include "host/core/json.hpp"

namespace weft::auth::jwt {
namespace {

// The only header we ever issue; its encoding is computed once.
constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";
// Far larger than any token we issue (~350 bytes); bounds the work done on garbage.
constexpr size_t kMaxTokenBytes = 4096;

Error unauthorized(std::string reason) {
  return Error("unauthorized", "access token: " + reason);
}

// A NumericDate claim: absent (nullptr), or an integer; anything else is malformed.
bool read_time(const Json& payload, std::string_view name, bool* present, int64_t* out) {
  const Json* v = payload.find(name);
  *present = v != nullptr;
  if (!v) return true;
  if (!v->is_int()) return false;
  *out = v->as_int();
  return true;
}

}  // namespace

std::string sign_raw(std::string_view key, std::string_view header_json, std::string_view payload_json) {
  std::string out = base64url_encode(header_json);
  out += '.';
  out += base64url_encode(payload_json);
  std::string sig = base64url_encode(hmac_sha256(key, out));
  out += '.';
  out += sig;
  return out;
}

std::string sign(std::string_view key, const AccessClaims& c) {
  Json p = Json::object();
  p.set("iss", c.iss);
  p.set("sub", c.sub);
  p.set("sid", c.sid);
  p.set("typ", c.typ);
  p.set("iat", c.iat);
  if (c.nbf != 0) p.set("nbf", c.nbf);
  if (c.exp != 0) p.set("exp", c.exp);
  if (!c.jti.empty()) p.set("jti", c.jti);
  return sign_raw(key, kHeader, p.dump());
}

Result<AccessClaims> verify(std::string_view key, std::string_view token, const VerifyOptions& o) {
  if (token.empty() || token.size() > kMaxTokenBytes) return unauthorized("malformed");
  size_t d1 = token.find('.');
  if (d1 == std::string_view::npos) return unauthorized("malformed");
  size_t d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return unauthorized("malformed");
  }
  std::string_view header_b64 = token.substr(0, d1);
  std::string_view payload_b64 = token.substr(d1 + 1, d2 - d1 - 1);
  std::string_view sig_b64 = token.substr(d2 + 1);
  if (header_b64.empty() || payload_b64.empty() || sig_b64.empty()) return unauthorized("malformed");

  // The signature covers the exact bytes received. Comparing encodings is equivalent to comparing
  // MACs because the decoder accepts only the canonical encoding (checked just below).
  auto sig = base64url_decode(sig_b64);
  if (!sig) return unauthorized("malformed");
  std::string expected = hmac_sha256(key, token.substr(0, d2));
  if (!constant_time_equal(*sig, expected)) return unauthorized("bad signature");

  // The algorithm is pinned: whatever the header claims must be exactly HS256. A valid MAC does
  // not excuse a different alg (the header is part of what is signed, but we never issue others).
  auto header_text = base64url_decode(header_b64);
  if (!header_text) return unauthorized("malformed");
  auto header = Json::parse(*header_text);
  if (!header.ok() || !header->is_object()) return unauthorized("malformed header");
  const Json* alg = header->find("alg");
  if (!alg || !alg->is_string() || alg->as_string() != "HS256") {
    return unauthorized("algorithm not allowed");
  }
  if (const Json* typ = header->find("typ"); typ && (!typ->is_string() || typ->as_string() != "JWT")) {
    return unauthorized("malformed header");
  }
  // RFC 7515 4.1.11: extensions marked critical that we do not understand make the token invalid.
  if (header->contains("crit")) return unauthorized("unsupported critical header");

  auto payload_text = base64url_decode(payload_b64);
  if (!payload_text) return unauthorized("malformed");
  auto payload = Json::parse(*payload_text);
  if (!payload.ok() || !payload->is_object()) return unauthorized("malformed claims");
  const Json& p = *payload;

  AccessClaims c;
  auto str = [&](std::string_view name, std::string* out) {
    const Json* v = p.find(name);
    if (!v || !v->is_string()) return false;
    *out = v->as_string();
    return true;
  };
  if (!str("typ", &c.typ) || c.typ != "access") return unauthorized("not an access token");
  bool has_exp = false, has_nbf = false, has_iat = false;
  if (!read_time(p, "exp", &has_exp, &c.exp) || !read_time(p, "nbf", &has_nbf, &c.nbf) ||
      !read_time(p, "iat", &has_iat, &c.iat)) {
    return unauthorized("malformed time claim");
  }
  if (!has_exp) return unauthorized("no expiry");
  if (c.exp <= o.now_s - o.skew_s) return unauthorized("expired");
  if (has_nbf && c.nbf > o.now_s + o.skew_s) return unauthorized("not valid yet");
  if (has_iat && c.iat > o.now_s + o.skew_s) return unauthorized("issued in the future");
  if (!str("iss", &c.iss) || c.iss != o.issuer) return unauthorized("wrong issuer");
  if (!str("sub", &c.sub) || c.sub.empty() || !str("sid", &c.sid) || c.sid.empty()) {
    return unauthorized("malformed claims");
  }
  if (const Json* jti = p.find("jti"); jti && jti->is_string()) c.jti = jti->as_string();
  return c;
}

}  // namespace weft::auth::jwt
