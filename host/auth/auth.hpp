// Accounts and authentication: users (argon2id), JWT access tokens + rotating refresh tokens
// bound to a session, and per-user API keys. Knows nothing about HTTP: the REST layer turns a
// bearer token into a Principal with authenticate() and maps Error codes to statuses.
//
// Error codes (Error::code) and what the REST layer answers:
//   "invalid_argument"     400  malformed email/password/scopes/tier/role (message says which)
//   "invalid_credentials"  401  login failed: the same code and message whether or not the user exists
//   "unauthorized"         401  token/key missing, malformed, forged, expired, revoked, wrong type
//   "forbidden"            403  authenticated but not allowed (admin-only, missing scope)
//   "not_found"            404  (e.g. another user's API key)
//   "conflict"             409  email taken
// Store failures ("unavailable", "storage_error") pass through unchanged (503/500), so an outage
// never looks like a bad credential to clients.
//
// Returned UserRecords never carry password_hash (it is cleared).
// Thread-safety: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/core/result.hpp"
#include "host/store/store.hpp"

namespace weft::auth {

// API-key scopes. A JWT principal has every scope its role allows.
namespace scope {
inline constexpr std::string_view kAll = "*";
inline constexpr std::string_view kWorkflowsRead = "workflows:read";
inline constexpr std::string_view kWorkflowsWrite = "workflows:write";
inline constexpr std::string_view kExecutionsRead = "executions:read";
inline constexpr std::string_view kExecutionsWrite = "executions:write";  // execute, cancel, pause, resume
inline constexpr std::string_view kKeysManage = "keys:manage";            // API keys of the account
inline constexpr std::string_view kCredentialsRead = "credentials:read";   // list/get credentials (never secrets)
inline constexpr std::string_view kCredentialsWrite = "credentials:write"; // create/update/delete credentials
inline constexpr std::string_view kAuditRead = "audit:read";              // the audit trail the account may see
inline constexpr std::string_view kAdmin = "admin";                       // admin routes (admins only)
}  // namespace scope
// Every scope name accepted when creating a key.
const std::vector<std::string>& known_scopes();

struct Principal {
  std::string user_id;
  std::string email;
  std::string role;                 // "user" | "admin"
  std::string tier;                 // "free" | "pro" | "enterprise"
  std::string via;                  // "jwt" | "api_key"
  std::string session_id;           // via jwt
  std::string api_key_id;           // via api_key
  std::vector<std::string> scopes;  // via api_key ({"*"} = all); via jwt: {"*"}
  bool is_admin() const { return role == "admin"; }
  // Admin scope additionally requires the admin role.
  bool has_scope(std::string_view s) const;
};

struct AuthOptions {
  int64_t access_ttl_s = 900;          // access token lifetime (15 min)
  int64_t refresh_ttl_s = 30 * 86400;  // refresh token / session lifetime
  int64_t clock_skew_s = 30;           // leeway for exp/nbf/iat
  std::string issuer = "weft";
  // argon2id cost (libsodium crypto_pwhash); tests lower them.
  uint64_t pwhash_opslimit = 2;        // crypto_pwhash_OPSLIMIT_INTERACTIVE
  size_t pwhash_memlimit = 64u << 20;  // crypto_pwhash_MEMLIMIT_INTERACTIVE (64 MiB)
  size_t max_concurrent_hashes = 2;    // hashing beyond this waits (bounded memory/CPU)
  size_t min_password_length = 8;
  size_t max_password_length = 1024;
  int64_t default_rotation_overlap_s = 86400;  // old key keeps working this long after rotation
};

struct TokenPair {
  std::string access_token;  // JWT (HS256), typ "access"
  int64_t access_expires_at_ms = 0;
  std::string refresh_token;  // opaque: "wrt_<session id>.<secret>"
  int64_t refresh_expires_at_ms = 0;
  std::string session_id;
};

struct NewApiKey {
  store::ApiKeyRecord record;  // as stored (hash, never the key)
  std::string key;             // the whole key, shown once: "wk_<prefix>_<secret>"
};

class AuthService {
 public:
  // signing_key: at least 32 random bytes (shorter, or a null store: std::invalid_argument, a
  // programming error). Independent keys are derived from it for the JWT HMAC and the peppers of
  // refresh/API-key hashes. Same key on every server sharing a database. The constructor hashes
  // one dummy password (the timing decoy for logins of unknown users).
  AuthService(std::shared_ptr<store::Store> store, std::string signing_key, AuthOptions options = {});
  ~AuthService();

  const AuthOptions& options() const { return options_; }

  // Users. Email is validated and lower-cased; password length checked; argon2id hashed.
  Result<store::UserRecord> create_user(const std::string& email, const std::string& password,
                                        const std::string& role = "user", const std::string& tier = "free");
  Result<TokenPair> login(const std::string& email, const std::string& password);
  // Rotates the refresh token. Presenting an already-rotated token (replay) revokes the session.
  Result<TokenPair> refresh(const std::string& refresh_token);
  // Revokes the principal's session (its access and refresh tokens stop working).
  Status logout(const Principal& p);
  // Verifies the old password, stores the new hash and revokes every session of the user.
  Status change_password(const Principal& p, const std::string& old_password,
                         const std::string& new_password);

  // A bearer credential from the Authorization header (without "Bearer "): an API key
  // ("wk_...") or an access JWT. Checks signature (HS256 only, alg pinned), typ, exp (required),
  // nbf, iss, that the user exists and is not disabled, and that the session is live.
  Result<Principal> authenticate(std::string_view bearer);

  // API keys of the principal's account. scopes empty = {"*"}; expires_in_s 0 = never.
  // All four need the keys:manage scope, and a credential can only grant (or rotate a key with)
  // scopes it holds itself ("forbidden" otherwise).
  Result<NewApiKey> create_api_key(const Principal& p, const std::string& name,
                                   const std::vector<std::string>& scopes, int64_t expires_in_s);
  Result<std::vector<store::ApiKeyRecord>> list_api_keys(const Principal& p);
  Status revoke_api_key(const Principal& p, const std::string& id);
  // A new key with the same name and scopes; the old one keeps working for overlap_s
  // (< 0 = options().default_rotation_overlap_s, 0 = stops at once).
  Result<NewApiKey> rotate_api_key(const Principal& p, const std::string& id, int64_t overlap_s);

  // Admin. The caller checks that the principal is an admin. list_users clamps limit to 1..1000.
  Result<std::vector<store::UserRecord>> list_users(int64_t limit, const std::string& after_id);
  Result<store::UserRecord> set_tier(const std::string& user_id, const std::string& tier);
  Result<store::UserRecord> set_role(const std::string& user_id, const std::string& role);

  // First-admin bootstrap: when the store has no user at all, creates an admin with `email` and
  // a generated password (returned in *password) — or `password` when not empty. "conflict" when
  // users already exist.
  Result<store::UserRecord> bootstrap_admin(const std::string& email, std::string* password);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  AuthOptions options_;
};

// Reads the server secret from `path`; when the file does not exist and create is true, writes
// 32 fresh random bytes there (hex, mode 0600, parent directories created). Refuses a file that
// is readable by group/others or shorter than 32 bytes.
Result<std::string> load_or_create_secret(const std::string& path, bool create);

// Public helpers (tested on their own).
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);
std::string hmac_sha256_hex(std::string_view key, std::string_view message);
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace weft::auth
