// The public byte helpers of auth.hpp and the internal ones of crypto.hpp, all over libsodium.
#include "host/auth/crypto.hpp"

#include <sodium.h>

#include <cstdlib>
#include <mutex>

#include "host/auth/auth.hpp"

namespace weft::auth {

void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    // sodium_init fails only when the system has no usable randomness source; nothing in this
    // module may run then (keys and salts would not be random).
    if (sodium_init() < 0) std::abort();
  });
}

std::string base64url_encode(std::string_view bytes) {
  ensure_sodium();
  const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_encoded_len(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), variant);
  out.resize(out.size() - 1);  // the encoder writes a terminating NUL
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  ensure_sodium();
  std::string out(text.size() / 4 * 3 + 3, '\0');
  size_t len = 0;
  // b64_end = nullptr makes any character outside the alphabet (padding, whitespace, '+', '/')
  // an error instead of a stop; libsodium also rejects non-zero trailing bits, so every byte
  // string has exactly one accepted encoding.
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(),
                        nullptr, &len, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  ensure_sodium();
  crypto_auth_hmacsha256_state st;
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(message.data()), message.size());
  crypto_auth_hmacsha256_final(&st, mac);
  sodium_memzero(&st, sizeof st);
  return std::string(reinterpret_cast<const char*>(mac), sizeof mac);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  return to_hex(hmac_sha256(key, message));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  ensure_sodium();
  // Only the length may leak: every value compared here has a public, fixed length.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_bytes(size_t n) {
  ensure_sodium();
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

std::string to_hex(std::string_view bytes) {
  ensure_sodium();
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  out.resize(bytes.size() * 2);
  return out;
}

std::optional<std::string> from_hex(std::string_view text) {
  ensure_sodium();
  if (text.size() % 2 != 0) return std::nullopt;
  std::string out(text.size() / 2, '\0');
  size_t len = 0;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(),
                     nullptr, &len, nullptr) != 0 ||
      len != out.size()) {
    return std::nullopt;
  }
  return out;
}

std::string derive_key(std::string_view master, std::string_view label) {
  // HMAC(master, label): a PRF keyed by the server secret, so each label yields an independent
  // 32-byte key and none of them reveals the master or another label's key.
  return hmac_sha256(master, label);
}

}  // namespace weft::auth
