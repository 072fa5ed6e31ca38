// argon2id hashing and the bound on concurrent hashes.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "host/auth/password.hpp"

namespace weft::auth {
namespace {

constexpr uint64_t kOps = 1;
constexpr size_t kMem = 8u << 20;

TEST(PasswordHasher, HashesWithArgon2idAndVerifies) {
  PasswordHasher h(kOps, kMem, 2);
  auto enc = h.hash("correct horse");
  ASSERT_TRUE(enc.ok()) << enc.error().message;
  EXPECT_EQ(enc->rfind("$argon2id$v=19$m=8192,t=1,p=1$", 0), 0u) << *enc;
  EXPECT_TRUE(h.verify(*enc, "correct horse"));
  EXPECT_FALSE(h.verify(*enc, "correct hors"));
  EXPECT_FALSE(h.verify(*enc, "correct horse "));
  EXPECT_FALSE(h.verify(*enc, ""));
  // Salted: the same password hashes differently every time.
  EXPECT_NE(*enc, *h.hash("correct horse"));
  // Malformed stored hashes never verify.
  EXPECT_FALSE(h.verify("", "correct horse"));
  EXPECT_FALSE(h.verify("$argon2id$v=19$garbage", "correct horse"));
}

TEST(PasswordHasher, NeedsRehashWhenParametersChange) {
  PasswordHasher weak(kOps, kMem, 1);
  PasswordHasher stronger(2, kMem, 1);
  auto enc = weak.hash("pw-123456");
  ASSERT_TRUE(enc.ok());
  EXPECT_FALSE(weak.needs_rehash(*enc));
  EXPECT_TRUE(stronger.needs_rehash(*enc));
  EXPECT_TRUE(weak.needs_rehash("not a hash"));
  // A stronger verifier still accepts the old hash (parameters are read from it).
  EXPECT_TRUE(stronger.verify(*enc, "pw-123456"));
}

TEST(PasswordHasher, DummyVerifyCompletes) {
  PasswordHasher h(kOps, kMem, 1);
  h.verify_dummy("anything");
  EXPECT_EQ(h.peak_concurrent(), 1u);
}

TEST(PasswordHasher, BoundsConcurrentHashes) {
  PasswordHasher h(kOps, kMem, 2);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto enc = h.hash("password-" + std::to_string(i));
      if (enc.ok() && h.verify(*enc, "password-" + std::to_string(i))) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_LE(h.peak_concurrent(), 2u);
  EXPECT_GE(h.peak_concurrent(), 1u);
}

}  // namespace
}  // namespace weft::auth
