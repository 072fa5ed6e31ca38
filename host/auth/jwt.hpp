// Access tokens: compact JWS with HS256 only, written by hand so that exactly one algorithm and
// one header shape are ever accepted. Internal to the auth module; pure (no store, explicit time).
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "host/core/result.hpp"

namespace weft::auth::jwt {

struct AccessClaims {
  std::string iss;
  std::string sub;  // user id
  std::string sid;  // session id
  std::string typ = "access";
  std::string jti;
  int64_t iat = 0;  // seconds since the epoch
  int64_t nbf = 0;  // 0 = absent
  int64_t exp = 0;  // 0 = absent (only to build invalid tokens in tests; verify requires it)
};

// header.payload.signature with the fixed header {"alg":"HS256","typ":"JWT"}.
std::string sign(std::string_view key, const AccessClaims& claims);

// Signs an arbitrary header/payload JSON text: lets tests forge tokens with other headers.
std::string sign_raw(std::string_view key, std::string_view header_json, std::string_view payload_json);

struct VerifyOptions {
  std::string issuer;
  int64_t now_s = 0;
  int64_t skew_s = 30;
};

// Checks shape, the pinned algorithm, the signature (constant time, over the received bytes),
// typ "access", exp (required, > now - skew), nbf (<= now + skew), iat (<= now + skew), iss.
// Any failure: Error("unauthorized", short reason). Never echoes the token.
Result<AccessClaims> verify(std::string_view key, std::string_view token, const VerifyOptions& o);

}  // namespace weft::auth::jwt
