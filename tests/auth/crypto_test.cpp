// base64url, HMAC, constant-time comparison, hex and key derivation.
#include <gtest/gtest.h>

#include "host/auth/auth.hpp"
#include "host/auth/crypto.hpp"

namespace weft::auth {
namespace {

TEST(Base64Url, Rfc4648Vectors) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64Url, UsesTheUrlAlphabet) {
  // 0xfb 0xff 0xbf encodes to "+/+/" in standard base64.
  EXPECT_EQ(base64url_encode(std::string("\xfb\xff\xbf", 3)), "-_-_");
  EXPECT_EQ(base64url_decode("-_-_"), std::string("\xfb\xff\xbf", 3));
}

TEST(Base64Url, RoundTripsEveryLengthAndByte) {
  for (size_t n = 0; n < 70; ++n) {
    std::string bytes = random_bytes(n);
    std::string enc = base64url_encode(bytes);
    EXPECT_EQ(enc.find_first_of("=+/"), std::string::npos);
    auto dec = base64url_decode(enc);
    ASSERT_TRUE(dec.has_value()) << n;
    EXPECT_EQ(*dec, bytes);
  }
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  EXPECT_EQ(base64url_decode(base64url_encode(all)), all);
}

TEST(Base64Url, RejectsInvalidInput) {
  EXPECT_FALSE(base64url_decode("Zg==").has_value());    // padding
  EXPECT_FALSE(base64url_decode("Zm9v+/").has_value());  // standard alphabet
  EXPECT_FALSE(base64url_decode("Z").has_value());       // impossible length
  EXPECT_FALSE(base64url_decode("Zm9v!").has_value());
  EXPECT_FALSE(base64url_decode(" Zm9v").has_value());  // whitespace
  EXPECT_FALSE(base64url_decode("Zm9v\n").has_value());
  EXPECT_FALSE(base64url_decode(std::string("Zm\0v", 4)).has_value());
  // Non-zero unused bits: "Zh" would also decode to "f" if they were ignored, which would give
  // one byte string two encodings (signature malleability).
  EXPECT_FALSE(base64url_decode("Zh").has_value());
  EXPECT_FALSE(base64url_decode("Zm9").has_value());
  EXPECT_TRUE(base64url_decode("Zm8").has_value());
}

TEST(Hmac, Rfc4231TestCase2) {
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hmac, Rfc4231TestCase6LongKey) {
  // A key longer than the block size is hashed first.
  EXPECT_EQ(
      hmac_sha256_hex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First"),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(ConstantTimeEqual, ComparesWholeValues) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abcdef", "abcdef"));
  EXPECT_FALSE(constant_time_equal("abcdef", "abcdeg"));  // last byte
  EXPECT_FALSE(constant_time_equal("abcdef", "bbcdef"));  // first byte
  EXPECT_FALSE(constant_time_equal("abcdef", "abcde"));   // prefix
  EXPECT_FALSE(constant_time_equal("abc", "abcdef"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_TRUE(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(Hex, RoundTripAndRejects) {
  EXPECT_EQ(to_hex(std::string("\x00\xff\x10", 3)), "00ff10");
  EXPECT_EQ(from_hex("00FF10"), std::string("\x00\xff\x10", 3));
  EXPECT_FALSE(from_hex("0").has_value());
  EXPECT_FALSE(from_hex("zz").has_value());
  EXPECT_FALSE(from_hex("00 1").has_value());
}

TEST(DeriveKey, LabelsGiveIndependentKeys) {
  std::string master(32, 'k');
  std::string a = derive_key(master, kJwtKeyLabel);
  std::string b = derive_key(master, kRefreshPepperLabel);
  std::string c = derive_key(master, kApiKeyPepperLabel);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  EXPECT_NE(a, c);
  EXPECT_NE(a, master);
  EXPECT_EQ(a, derive_key(master, kJwtKeyLabel));
  EXPECT_NE(a, derive_key(std::string(32, 'j'), kJwtKeyLabel));
}

}  // namespace
}  // namespace weft::auth
