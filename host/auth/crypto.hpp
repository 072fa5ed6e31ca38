// Internal byte helpers of the auth module (libsodium underneath). Not part of the public API;
// base64url / hmac_sha256_hex / constant_time_equal are declared in auth.hpp.
//
// Thread-safety: every function may be called concurrently.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace weft::auth {

// Initializes libsodium once per process (aborts if the system has no randomness source).
void ensure_sodium();

// Raw 32-byte HMAC-SHA256.
std::string hmac_sha256(std::string_view key, std::string_view message);

// n bytes from the system CSPRNG.
std::string random_bytes(size_t n);

// Lower-case hex; from_hex accepts either case and rejects odd lengths and other characters.
std::string to_hex(std::string_view bytes);
std::optional<std::string> from_hex(std::string_view text);

// An independent 32-byte key for one purpose ("label") from the server secret.
std::string derive_key(std::string_view master, std::string_view label);

// Derivation labels: one key per purpose, so a MAC made for one purpose can never pass as
// another (a refresh hash is not a JWT signature, nor an API-key hash). Changing one invalidates
// every credential of that kind.
inline constexpr std::string_view kJwtKeyLabel = "weft/auth/jwt-hs256/v1";
inline constexpr std::string_view kRefreshPepperLabel = "weft/auth/refresh-token/v1";
inline constexpr std::string_view kApiKeyPepperLabel = "weft/auth/api-key/v1";

}  // namespace weft::auth
