// AuthService: users, sessions (access JWT + rotating refresh token) and API keys over the Store.
#include <algorithm>
#include <stdexcept>

#include "host/auth/auth.hpp"
#include "host/auth/crypto.hpp"
#include "host/auth/formats.hpp"
#include "host/auth/jwt.hpp"
#include "host/auth/password.hpp"
#include "host/core/call.hpp"
#include "host/core/ids.hpp"

namespace weft::auth {
namespace {

constexpr int64_t kLastUsedResolutionMs = 60'000;          // at most one last_used write a minute
constexpr int64_t kMaxKeyLifetimeS = 100LL * 365 * 86400;  // keeps *1000 far from overflow
constexpr int kPrefixAttempts = 4;

Error unauthorized(std::string message) {
  return Error("unauthorized", std::move(message));
}
Error invalid_credentials() {
  return Error("invalid_credentials", "invalid email or password");
}
Error forbidden(std::string message) {
  return Error("forbidden", std::move(message));
}

store::UserRecord without_hash(store::UserRecord u) {
  u.password_hash.clear();
  return u;
}

bool is_not_found(const Error& e) {
  return e.code == "not_found";
}

}  // namespace

struct AuthService::Impl {
  std::shared_ptr<store::Store> store;
  std::string jwt_key;
  std::string refresh_pepper;
  std::string api_key_pepper;
  PasswordHasher hasher;

  Impl(std::shared_ptr<store::Store> s, const std::string& signing_key, const AuthOptions& o)
      : store(std::move(s)),
        jwt_key(derive_key(signing_key, kJwtKeyLabel)),
        refresh_pepper(derive_key(signing_key, kRefreshPepperLabel)),
        api_key_pepper(derive_key(signing_key, kApiKeyPepperLabel)),
        hasher(o.pwhash_opslimit, o.pwhash_memlimit, o.max_concurrent_hashes) {}
};

AuthService::AuthService(std::shared_ptr<store::Store> store, std::string signing_key, AuthOptions options)
    : options_(std::move(options)) {
  if (!store) throw std::invalid_argument("AuthService: store is null");
  if (signing_key.size() < 32) throw std::invalid_argument("AuthService: signing key shorter than 32 bytes");
  impl_ = std::make_unique<Impl>(std::move(store), signing_key, options_);
}

AuthService::~AuthService() = default;

// ---- users -------------------------------------------------------------------------------------

Result<store::UserRecord> AuthService::create_user(const std::string& email, const std::string& password,
                                                   const std::string& role, const std::string& tier) {
  auto norm = normalize_email(email);
  if (!norm.ok()) return norm.take_error();
  if (Status st = check_password(password, options_.min_password_length, options_.max_password_length);
      !st.ok()) {
    return st.take_error();
  }
  if (!is_valid_role(role)) return Error("invalid_argument", "role must be 'user' or 'admin'");
  if (!is_valid_tier(tier)) return Error("invalid_argument", "tier must be 'free', 'pro' or 'enterprise'");
  auto hash = impl_->hasher.hash(password);
  if (!hash.ok()) return hash.take_error();
  store::UserRecord u;
  u.email = std::move(norm.value());
  u.password_hash = std::move(hash.value());
  u.role = role;
  u.tier = tier;
  auto created = impl_->store->create_user(u);
  if (!created.ok()) {
    if (created.error().code == "conflict")
      return Error("conflict", "email " + u.email + " is already registered");
    return created.take_error();
  }
  return without_hash(std::move(created.value()));
}

namespace {

// A fresh session or a rotation: the access JWT bound to the session and the refresh token.
TokenPair make_pair_for(const std::string& jwt_key, const AuthOptions& o, const std::string& user_id,
                        const std::string& session_id, const std::string& refresh_secret,
                        int64_t refresh_expires_at_ms, int64_t now_ms) {
  jwt::AccessClaims c;
  c.iss = o.issuer;
  c.sub = user_id;
  c.sid = session_id;
  c.iat = now_ms / 1000;
  c.nbf = c.iat;
  c.exp = c.iat + o.access_ttl_s;
  c.jti = to_hex(random_bytes(16));
  TokenPair t;
  t.access_token = jwt::sign(jwt_key, c);
  t.access_expires_at_ms = c.exp * 1000;
  t.refresh_token = make_refresh_token(session_id, refresh_secret);
  t.refresh_expires_at_ms = refresh_expires_at_ms;
  t.session_id = session_id;
  return t;
}

}  // namespace

Result<TokenPair> AuthService::login(const std::string& email, const std::string& password) {
  auto norm = normalize_email(email);
  // A malformed email or an oversized password cannot match any account; answering without a
  // hash reveals nothing the caller does not already know.
  if (!norm.ok() || password.size() > options_.max_password_length) return invalid_credentials();
  auto user = impl_->store->find_user_by_email(norm.value());
  if (!user.ok()) {
    if (!is_not_found(user.error())) return user.take_error();
    // Same work as for an existing user, so response time does not tell whether the email exists.
    impl_->hasher.verify_dummy(password);
    return invalid_credentials();
  }
  const store::UserRecord& u = user.value();
  bool ok = impl_->hasher.verify(u.password_hash, password);
  // Disabled accounts get the same answer: only the holder of the password could tell otherwise.
  if (!ok || u.disabled) return invalid_credentials();

  if (impl_->hasher.needs_rehash(u.password_hash)) {
    // The cost parameters changed since this hash was made; upgrade it now that we know the
    // password. Best effort: the login succeeds either way.
    if (auto fresh = impl_->hasher.hash(password); fresh.ok()) {
      store::UserUpdate up;
      up.password_hash = std::move(fresh.value());
      (void)impl_->store->update_user(u.id, up);
    }
  }

  int64_t now = wall_ms();
  store::SessionRecord s;
  s.id = new_id();
  s.user_id = u.id;
  std::string secret = new_secret();
  s.refresh_hash = hmac_sha256_hex(impl_->refresh_pepper, secret);
  s.created_at_ms = now;
  s.refreshed_at_ms = now;
  s.expires_at_ms = now + options_.refresh_ttl_s * 1000;
  if (Status st = impl_->store->create_session(s); !st.ok()) return st.take_error();
  return make_pair_for(impl_->jwt_key, options_, u.id, s.id, secret, s.expires_at_ms, now);
}

Result<TokenPair> AuthService::refresh(const std::string& refresh_token) {
  auto parts = parse_refresh_token(refresh_token);
  if (!parts) return unauthorized("refresh token: malformed");
  auto session = impl_->store->get_session(parts->session_id);
  if (!session.ok()) {
    if (is_not_found(session.error())) return unauthorized("refresh token: unknown session");
    return session.take_error();
  }
  const store::SessionRecord& s = session.value();
  std::string hash = hmac_sha256_hex(impl_->refresh_pepper, parts->secret);
  if (s.revoked_at_ms != 0) return unauthorized("refresh token: session revoked");

  auto revoke_for_reuse = [&]() -> Error {
    // Someone presented a token that was already exchanged: either the client or a thief holds a
    // copy. The session cannot be trusted any more; both parties must log in again.
    (void)impl_->store->revoke_session(s.id, wall_ms());
    return unauthorized("refresh token: already used; session revoked");
  };
  if (!s.previous_hash.empty() && constant_time_equal(hash, s.previous_hash)) return revoke_for_reuse();
  if (!constant_time_equal(hash, s.refresh_hash)) return unauthorized("refresh token: invalid");
  int64_t now = wall_ms();
  if (s.expires_at_ms <= now) return unauthorized("refresh token: expired");

  auto user = impl_->store->get_user(s.user_id);
  if (!user.ok()) {
    if (is_not_found(user.error())) return unauthorized("refresh token: unknown user");
    return user.take_error();
  }
  if (user->disabled) return unauthorized("refresh token: account disabled");

  std::string secret = new_secret();
  std::string new_hash = hmac_sha256_hex(impl_->refresh_pepper, secret);
  int64_t expires = now + options_.refresh_ttl_s * 1000;
  Status st = impl_->store->rotate_session(s.id, hash, new_hash, expires, now);
  if (!st.ok()) {
    if (st.error().code != "conflict") return st.take_error();
    // Lost a race: the same token was exchanged concurrently (that is reuse too) or the session
    // was revoked/expired meanwhile.
    auto again = impl_->store->get_session(s.id);
    if (again.ok() && again->revoked_at_ms == 0 && constant_time_equal(hash, again->previous_hash)) {
      return revoke_for_reuse();
    }
    return unauthorized("refresh token: invalid");
  }
  return make_pair_for(impl_->jwt_key, options_, s.user_id, s.id, secret, expires, now);
}

Status AuthService::logout(const Principal& p) {
  if (p.via != "jwt" || p.session_id.empty()) {
    return Error("invalid_argument", "logout needs a session (access token), not an API key");
  }
  Status st = impl_->store->revoke_session(p.session_id, wall_ms());
  if (!st.ok() && !is_not_found(st.error())) return st;
  return {};
}

Status AuthService::change_password(const Principal& p, const std::string& old_password,
                                    const std::string& new_password) {
  auto user = impl_->store->get_user(p.user_id);
  if (!user.ok()) {
    if (is_not_found(user.error())) return unauthorized("account no longer exists");
    return user.take_error();
  }
  if (old_password.size() > options_.max_password_length ||
      !impl_->hasher.verify(user->password_hash, old_password)) {
    return invalid_credentials();
  }
  if (Status st = check_password(new_password, options_.min_password_length, options_.max_password_length);
      !st.ok()) {
    return st;
  }
  auto hash = impl_->hasher.hash(new_password);
  if (!hash.ok()) return hash.take_error();
  store::UserUpdate up;
  up.password_hash = std::move(hash.value());
  // Every token issued under the old password dies with it (same transaction).
  up.revoke_sessions = true;
  auto updated = impl_->store->update_user(user->id, up);
  if (!updated.ok()) return updated.take_error();
  return {};
}

// ---- bearer credentials ------------------------------------------------------------------------

Result<Principal> AuthService::authenticate(std::string_view bearer) {
  if (bearer.empty()) return unauthorized("missing credentials");
  int64_t now = wall_ms();

  if (looks_like_api_key(bearer)) {
    auto prefix = parse_api_key_prefix(bearer);
    if (!prefix) return unauthorized("API key: malformed");
    auto found = impl_->store->find_api_key(*prefix);
    if (!found.ok()) {
      if (is_not_found(found.error())) return unauthorized("API key: unknown");
      return found.take_error();
    }
    const store::ApiKeyRecord& k = found.value();
    if (!constant_time_equal(hmac_sha256_hex(impl_->api_key_pepper, bearer), k.hash)) {
      return unauthorized("API key: invalid");
    }
    if (k.revoked_at_ms != 0) return unauthorized("API key: revoked");
    // Also ends the overlap window of a rotated key.
    if (k.expires_at_ms != 0 && k.expires_at_ms <= now) return unauthorized("API key: expired");
    auto user = impl_->store->get_user(k.user_id);
    if (!user.ok()) {
      if (is_not_found(user.error())) return unauthorized("API key: unknown user");
      return user.take_error();
    }
    if (user->disabled) return unauthorized("API key: account disabled");
    if (now - k.last_used_at_ms >= kLastUsedResolutionMs) {
      // Minute resolution keeps authentication read-only for busy keys. Best effort.
      store::ApiKeyUpdate up;
      up.last_used_at_ms = now;
      (void)impl_->store->update_api_key(k.user_id, k.id, up);
    }
    Principal p;
    p.user_id = user->id;
    p.email = user->email;
    p.role = user->role;
    p.tier = user->tier;
    p.via = "api_key";
    p.api_key_id = k.id;
    p.scopes = k.scopes;
    return p;
  }

  if (bearer.substr(0, kRefreshTokenTag.size()) == kRefreshTokenTag) {
    return unauthorized("a refresh token is not an access token");
  }
  jwt::VerifyOptions vo;
  vo.issuer = options_.issuer;
  vo.now_s = now / 1000;
  vo.skew_s = options_.clock_skew_s;
  auto claims = jwt::verify(impl_->jwt_key, bearer, vo);
  if (!claims.ok()) return claims.take_error();
  auto user = impl_->store->get_user(claims->sub);
  if (!user.ok()) {
    if (is_not_found(user.error())) return unauthorized("access token: unknown user");
    return user.take_error();
  }
  if (user->disabled) return unauthorized("access token: account disabled");
  auto session = impl_->store->get_session(claims->sid);
  if (!session.ok()) {
    if (is_not_found(session.error())) return unauthorized("access token: unknown session");
    return session.take_error();
  }
  if (session->user_id != user->id) return unauthorized("access token: unknown session");
  if (session->revoked_at_ms != 0) return unauthorized("access token: session revoked");
  if (session->expires_at_ms <= now) return unauthorized("access token: session expired");
  Principal p;
  p.user_id = user->id;
  p.email = user->email;
  p.role = user->role;
  p.tier = user->tier;
  p.via = "jwt";
  p.session_id = session->id;
  p.scopes = {std::string(scope::kAll)};
  return p;
}

// ---- API keys ----------------------------------------------------------------------------------

namespace {

Status check_keys_manage(const Principal& p) {
  if (!p.has_scope(scope::kKeysManage)) return forbidden("this credential lacks the keys:manage scope");
  return {};
}

// A credential may only hand out what it holds itself: otherwise a narrow key with keys:manage
// could mint a "*" key.
Status check_grantable(const Principal& p, const std::vector<std::string>& scopes) {
  for (const auto& s : scopes) {
    if (s == scope::kAdmin && !p.is_admin()) return forbidden("the admin scope is only for admin users");
    if (!p.has_scope(s)) return forbidden("cannot grant scope '" + s + "' that this credential lacks");
  }
  return {};
}

}  // namespace

namespace {

Result<NewApiKey> insert_key(store::Store& st, const std::string& pepper, const Principal& p,
                             const std::string& name, const std::vector<std::string>& scopes, int64_t now,
                             int64_t expires_at_ms) {
  for (int attempt = 0;; ++attempt) {
    NewApiKey out;
    store::ApiKeyRecord& k = out.record;
    k.id = new_id();
    k.user_id = p.user_id;
    k.name = name;
    k.prefix = new_api_key_prefix();
    out.key = make_api_key(k.prefix, new_secret());
    k.hash = hmac_sha256_hex(pepper, out.key);
    k.scopes = scopes;
    k.created_at_ms = now;
    k.expires_at_ms = expires_at_ms;
    Status s = st.create_api_key(k);
    if (s.ok()) return out;
    // A prefix collision (36^12 space) is astronomically rare; just draw again.
    if (s.error().code != "conflict" || attempt + 1 >= kPrefixAttempts) return s.take_error();
  }
}

}  // namespace

Result<NewApiKey> AuthService::create_api_key(const Principal& p, const std::string& name,
                                              const std::vector<std::string>& scopes, int64_t expires_in_s) {
  if (Status st = check_keys_manage(p); !st.ok()) return st.take_error();
  if (Status st = check_key_name(name); !st.ok()) return st.take_error();
  if (expires_in_s < 0 || expires_in_s > kMaxKeyLifetimeS) {
    return Error("invalid_argument", "expires_in_s must be between 0 (never) and 100 years");
  }
  // Checked on the request as given: normalization folds "admin" into "*".
  if (std::find(scopes.begin(), scopes.end(), scope::kAdmin) != scopes.end() && !p.is_admin()) {
    return forbidden("the admin scope is only for admin users");
  }
  auto norm = normalize_scopes(scopes);
  if (!norm.ok()) return norm.take_error();
  if (Status st = check_grantable(p, norm.value()); !st.ok()) return st.take_error();
  int64_t now = wall_ms();
  return insert_key(*impl_->store, impl_->api_key_pepper, p, name, norm.value(), now,
                    expires_in_s == 0 ? 0 : now + expires_in_s * 1000);
}

Result<std::vector<store::ApiKeyRecord>> AuthService::list_api_keys(const Principal& p) {
  if (Status st = check_keys_manage(p); !st.ok()) return st.take_error();
  return impl_->store->list_api_keys(p.user_id);
}

Status AuthService::revoke_api_key(const Principal& p, const std::string& id) {
  if (Status st = check_keys_manage(p); !st.ok()) return st;
  // The store scopes the lookup to the owner: another user's key is not_found.
  auto k = impl_->store->get_api_key(p.user_id, id);
  if (!k.ok()) return k.take_error();
  if (k->revoked_at_ms != 0) return {};
  store::ApiKeyUpdate up;
  up.revoked_at_ms = wall_ms();
  return impl_->store->update_api_key(p.user_id, id, up);
}

Result<NewApiKey> AuthService::rotate_api_key(const Principal& p, const std::string& id, int64_t overlap_s) {
  if (Status st = check_keys_manage(p); !st.ok()) return st.take_error();
  auto found = impl_->store->get_api_key(p.user_id, id);
  if (!found.ok()) return found.take_error();
  const store::ApiKeyRecord& old = found.value();
  int64_t now = wall_ms();
  if (old.revoked_at_ms != 0) return Error("conflict", "API key " + id + " is revoked");
  if (old.expires_at_ms != 0 && old.expires_at_ms <= now)
    return Error("conflict", "API key " + id + " has expired");
  if (!old.replaced_by.empty()) {
    return Error("conflict",
                 "API key " + id + " was already rotated (rotate " + old.replaced_by + " instead)");
  }
  if (Status st = check_grantable(p, old.scopes); !st.ok()) return st.take_error();
  if (overlap_s < 0) overlap_s = options_.default_rotation_overlap_s;
  overlap_s = std::min(overlap_s, kMaxKeyLifetimeS);

  // The successor lives as long as its predecessor was meant to (from now).
  int64_t expires = 0;
  if (old.expires_at_ms != 0) expires = now + std::max<int64_t>(old.expires_at_ms - old.created_at_ms, 0);
  auto fresh = insert_key(*impl_->store, impl_->api_key_pepper, p, old.name, old.scopes, now, expires);
  if (!fresh.ok()) return fresh;

  store::ApiKeyUpdate up;
  int64_t end = now + overlap_s * 1000;
  if (old.expires_at_ms != 0) end = std::min(end, old.expires_at_ms);
  up.expires_at_ms = end;
  if (overlap_s == 0) up.revoked_at_ms = now;
  up.replaced_by = fresh->record.id;
  if (Status st = impl_->store->update_api_key(p.user_id, old.id, up); !st.ok()) {
    // Do not leave two live keys behind when the rotation did not happen.
    store::ApiKeyUpdate undo;
    undo.revoked_at_ms = now;
    (void)impl_->store->update_api_key(p.user_id, fresh->record.id, undo);
    return st.take_error();
  }
  return fresh;
}

// ---- admin -------------------------------------------------------------------------------------

Result<std::vector<store::UserRecord>> AuthService::list_users(int64_t limit, const std::string& after_id) {
  limit = std::clamp<int64_t>(limit, 1, 1000);
  auto users = impl_->store->list_users(limit, after_id);
  if (!users.ok()) return users;
  for (auto& u : users.value()) u.password_hash.clear();
  return users;
}

Result<store::UserRecord> AuthService::set_tier(const std::string& user_id, const std::string& tier) {
  if (!is_valid_tier(tier)) return Error("invalid_argument", "tier must be 'free', 'pro' or 'enterprise'");
  store::UserUpdate up;
  up.tier = tier;
  auto u = impl_->store->update_user(user_id, up);
  if (!u.ok()) return u;
  return without_hash(std::move(u.value()));
}

Result<store::UserRecord> AuthService::set_role(const std::string& user_id, const std::string& role) {
  if (!is_valid_role(role)) return Error("invalid_argument", "role must be 'user' or 'admin'");
  store::UserUpdate up;
  up.role = role;
  auto u = impl_->store->update_user(user_id, up);
  if (!u.ok()) return u;
  return without_hash(std::move(u.value()));
}

Result<store::UserRecord> AuthService::bootstrap_admin(const std::string& email, std::string* password) {
  if (!password) return Error("invalid_argument", "bootstrap_admin needs somewhere to return the password");
  auto n = impl_->store->count_users();
  if (!n.ok()) return n.take_error();
  if (n.value() > 0)
    return Error("conflict", "users already exist; the first admin can only be created on an empty store");
  // 24 random bytes -> 32 characters: well above any length policy, easy to paste.
  std::string pw = password->empty() ? base64url_encode(random_bytes(24)) : *password;
  // The operator owns the server: no rate-limit tier below the top one.
  auto u = create_user(email, pw, "admin", "enterprise");
  if (!u.ok()) return u;
  *password = std::move(pw);
  return u;
}

}  // namespace weft::auth
