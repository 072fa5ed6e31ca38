// Input validation and the textual formats of the auth module's credentials. Internal; pure.
//
//   refresh token  "wrt_<session id>.<secret>"   secret: 32 random bytes, base64url (43 chars)
//   API key        "wk_<prefix>_<secret>"        prefix: 12 chars [a-z0-9]; secret as above
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/core/result.hpp"

namespace weft::auth {

inline constexpr size_t kSecretBytes = 32;
inline constexpr size_t kApiKeyPrefixChars = 12;
inline constexpr std::string_view kRefreshTokenTag = "wrt_";
inline constexpr std::string_view kApiKeyTag = "wk_";

// Lower-cased email, or invalid_argument: exactly one '@', non-empty local part (<= 64) and
// domain, <= 254 chars, printable ASCII without spaces.
Result<std::string> normalize_email(std::string_view email);
// invalid_argument unless min <= byte length <= max.
Status check_password(std::string_view password, size_t min_len, size_t max_len);
bool is_valid_role(std::string_view role);
bool is_valid_tier(std::string_view tier);
// API key name: <= 128 bytes, no control characters (it is shown in listings).
Status check_key_name(std::string_view name);

// Scopes for a new key: each must be known; duplicates dropped; empty or containing "*" = {"*"}.
// invalid_argument for unknown scopes. (Who may grant what is decided by the service.)
Result<std::vector<std::string>> normalize_scopes(const std::vector<std::string>& scopes);

// A fresh secret: 32 random bytes, base64url.
std::string new_secret();

std::string make_refresh_token(std::string_view session_id, std::string_view secret);
struct RefreshParts {
  std::string session_id;
  std::string secret;  // the base64url text as received
};
// nullopt unless the shape is exact (tag, id charset, secret decoding to 32 bytes).
std::optional<RefreshParts> parse_refresh_token(std::string_view token);

// 12 random characters [a-z0-9].
std::string new_api_key_prefix();
std::string make_api_key(std::string_view prefix, std::string_view secret);
// The prefix of a well-formed key; nullopt unless the shape is exact.
std::optional<std::string> parse_api_key_prefix(std::string_view key);
inline bool looks_like_api_key(std::string_view s) {
  return s.substr(0, kApiKeyTag.size()) == kApiKeyTag;
}

}  // namespace weft::auth
