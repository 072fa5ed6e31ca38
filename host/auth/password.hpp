// Password hashing: argon2id (libsodium crypto_pwhash_str_alg), with a bound on how many hashes
// run at once, because each one takes pwhash_memlimit bytes and a core for a noticeable time.
// Internal to the auth module.
//
// Thread-safety: every method may be called concurrently; callers beyond max_concurrent wait.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "host/core/result.hpp"

namespace weft::auth {

class PasswordHasher {
 public:
  PasswordHasher(uint64_t opslimit, size_t memlimit, size_t max_concurrent);

  // The encoded "$argon2id$v=19$m=...,t=...,p=1$salt$hash" string. "internal" error when
  // libsodium fails (out of memory).
  Result<std::string> hash(std::string_view password);
  // True when `password` matches `encoded`; false for a mismatch or a malformed encoded hash.
  bool verify(const std::string& encoded, std::string_view password);
  // True when `encoded` was made with other parameters (or another algorithm) than ours.
  bool needs_rehash(const std::string& encoded) const;
  // Spends the same time as verify() of a real hash, for logins of unknown users.
  void verify_dummy(std::string_view password);
  // The most hashes that ever ran at once (observability; tests check the bound).
  size_t peak_concurrent() const;

 private:
  class Slot;  // RAII hold on one of the max_concurrent permits

  uint64_t opslimit_;
  size_t memlimit_;
  size_t max_concurrent_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t running_ = 0;
  size_t peak_ = 0;
  std::string dummy_;  // a hash of a random password with our parameters
};

}  // namespace weft::auth
