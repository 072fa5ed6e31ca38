#include "host/auth/formats.hpp"

#include <sodium.h>

#include <algorithm>

#include "host/auth/auth.hpp"
#include "host/auth/crypto.hpp"

namespace weft::auth {
namespace {

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool all_lower_alnum(std::string_view s) {
  return std::all_of(s.begin(), s.end(), is_lower_alnum);
}

// The secret part of a credential: exactly the base64url encoding of 32 bytes.
bool is_secret(std::string_view s) {
  if (s.size() != 43) return false;
  auto raw = base64url_decode(s);
  return raw && raw->size() == kSecretBytes;
}

}  // namespace

Result<std::string> normalize_email(std::string_view email) {
  if (email.empty()) return Error("invalid_argument", "email is empty");
  if (email.size() > 254) return Error("invalid_argument", "email is longer than 254 characters");
  std::string out;
  out.reserve(email.size());
  size_t ats = 0;
  for (char c : email) {
    auto u = static_cast<unsigned char>(c);
    // Printable ASCII only: no spaces, control characters or non-ASCII bytes (homoglyphs and
    // case-folding ambiguity are not worth supporting for a login name).
    if (u <= 0x20 || u >= 0x7f) {
      return Error("invalid_argument", "email contains spaces, control or non-ASCII characters");
    }
    if (c == '@') ++ats;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  if (ats != 1) return Error("invalid_argument", "email must contain exactly one '@'");
  size_t at = out.find('@');
  if (at == 0) return Error("invalid_argument", "email has an empty local part");
  if (at > 64) return Error("invalid_argument", "email local part is longer than 64 characters");
  if (at + 1 == out.size()) return Error("invalid_argument", "email has an empty domain");
  std::string_view domain = std::string_view(out).substr(at + 1);
  if (domain.front() == '.' || domain.back() == '.' || domain.find("..") != std::string_view::npos) {
    return Error("invalid_argument", "email domain is malformed");
  }
  return out;
}

Status check_password(std::string_view password, size_t min_len, size_t max_len) {
  if (password.size() < min_len) {
    return Error("invalid_argument", "password is shorter than " + std::to_string(min_len) + " characters");
  }
  if (password.size() > max_len) {
    return Error("invalid_argument", "password is longer than " + std::to_string(max_len) + " characters");
  }
  return {};
}

bool is_valid_role(std::string_view role) {
  return role == "user" || role == "admin";
}

bool is_valid_tier(std::string_view tier) {
  return tier == "free" || tier == "pro" || tier == "enterprise";
}

Status check_key_name(std::string_view name) {
  if (name.size() > 128) return Error("invalid_argument", "API key name is longer than 128 bytes");
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return Error("invalid_argument", "API key name contains control characters");
  }
  return {};
}

Result<std::vector<std::string>> normalize_scopes(const std::vector<std::string>& scopes) {
  const auto& known = known_scopes();
  std::vector<std::string> out;
  for (const auto& s : scopes) {
    if (std::find(known.begin(), known.end(), s) == known.end()) {
      // Scope names are short identifiers; cap what is echoed anyway.
      return Error("invalid_argument", "unknown scope '" + s.substr(0, 64) + "'");
    }
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  // "*" covers every other scope (admin included, for admins: Principal::has_scope).
  if (out.empty() || std::find(out.begin(), out.end(), scope::kAll) != out.end()) {
    out = {std::string(scope::kAll)};
  }
  return out;
}

std::string new_secret() {
  return base64url_encode(random_bytes(kSecretBytes));
}

std::string make_refresh_token(std::string_view session_id, std::string_view secret) {
  std::string t(kRefreshTokenTag);
  t += session_id;
  t += '.';
  t += secret;
  return t;
}

std::optional<RefreshParts> parse_refresh_token(std::string_view token) {
  if (token.size() > 256 || token.substr(0, kRefreshTokenTag.size()) != kRefreshTokenTag) return std::nullopt;
  token.remove_prefix(kRefreshTokenTag.size());
  size_t dot = token.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string_view sid = token.substr(0, dot);
  std::string_view secret = token.substr(dot + 1);
  if (sid.empty() || sid.size() > 64 || !all_lower_alnum(sid) || !is_secret(secret)) return std::nullopt;
  return RefreshParts{std::string(sid), std::string(secret)};
}

std::string new_api_key_prefix() {
  ensure_sodium();
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string p(kApiKeyPrefixChars, 'a');
  for (auto& c : p) c = kAlphabet[randombytes_uniform(36)];
  return p;
}

std::string make_api_key(std::string_view prefix, std::string_view secret) {
  std::string k(kApiKeyTag);
  k += prefix;
  k += '_';
  k += secret;
  return k;
}

std::optional<std::string> parse_api_key_prefix(std::string_view key) {
  if (key.size() != kApiKeyTag.size() + kApiKeyPrefixChars + 1 + 43 || !looks_like_api_key(key)) {
    return std::nullopt;
  }
  key.remove_prefix(kApiKeyTag.size());
  std::string_view prefix = key.substr(0, kApiKeyPrefixChars);
  if (!all_lower_alnum(prefix) || key[kApiKeyPrefixChars] != '_') return std::nullopt;
  if (!is_secret(key.substr(kApiKeyPrefixChars + 1))) return std::nullopt;
  return std::string(prefix);
}

}  // namespace weft::auth
