#include "host/auth/password.hpp"

#include <cstring>

#include <sodium.h>

#include <algorithm>

#include "host/auth/crypto.hpp"

namespace weft::auth {

class PasswordHasher::Slot {
 public:
  explicit Slot(PasswordHasher& h) : h_(h) {
    std::unique_lock<std::mutex> lock(h_.mu_);
    h_.cv_.wait(lock, [&] { return h_.running_ < h_.max_concurrent_; });
    ++h_.running_;
    h_.peak_ = std::max(h_.peak_, h_.running_);
  }
  ~Slot() {
    {
      std::lock_guard<std::mutex> lock(h_.mu_);
      --h_.running_;
    }
    h_.cv_.notify_one();
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

 private:
  PasswordHasher& h_;
};

PasswordHasher::PasswordHasher(uint64_t opslimit, size_t memlimit, size_t max_concurrent)
    : opslimit_(std::max<uint64_t>(opslimit, crypto_pwhash_argon2id_OPSLIMIT_MIN)),
      memlimit_(std::max<size_t>(memlimit, crypto_pwhash_argon2id_MEMLIMIT_MIN)),
      max_concurrent_(std::max<size_t>(max_concurrent, 1)) {
  ensure_sodium();
  // The dummy carries our own parameters so that verifying against it costs what verifying a real
  // user's hash costs: verification recomputes argon2id from the parameters and salt in the
  // string. It is assembled from random salt and digest rather than computed, which would cost a
  // full hash (~100 ms) at every start; no password matches it.
  auto b64 = [](const std::string& bytes) {
    std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL_NO_PADDING), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    out.resize(std::strlen(out.c_str()));
    return out;
  };
  dummy_ = "$argon2id$v=19$m=" + std::to_string(memlimit_ / 1024) + ",t=" + std::to_string(opslimit_) +
           ",p=1$" + b64(random_bytes(crypto_pwhash_SALTBYTES)) + "$" + b64(random_bytes(32));
}

Result<std::string> PasswordHasher::hash(std::string_view password) {
  char out[crypto_pwhash_STRBYTES];
  int rc;
  {
    Slot slot(*this);
    rc = crypto_pwhash_str_alg(out, password.data(), password.size(), opslimit_, memlimit_,
                               crypto_pwhash_ALG_ARGON2ID13);
  }
  if (rc != 0) return Error("internal", "password hashing failed (out of memory?)");
  return std::string(out);
}

bool PasswordHasher::verify(const std::string& encoded, std::string_view password) {
  Slot slot(*this);
  return crypto_pwhash_str_verify(encoded.c_str(), password.data(), password.size()) == 0;
}

size_t PasswordHasher::peak_concurrent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}

bool PasswordHasher::needs_rehash(const std::string& encoded) const {
  // -1 (not an argon2id string of ours) also means "replace it".
  return crypto_pwhash_argon2id_str_needs_rehash(encoded.c_str(), opslimit_, memlimit_) != 0;
}

void PasswordHasher::verify_dummy(std::string_view password) {
  if (!dummy_.empty()) {
    (void)verify(dummy_, password);
  } else {
    (void)hash(password);
  }
}

}  // namespace weft::auth
