// Test support for the vault suite: temp directories, key files written by hand, and small
// helpers around sealed values.
#pragma once

#include <gtest/gtest.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "host/core/json.hpp"

namespace weft::vault::testing {

#define ASSERT_OK(expr)                                                                     \
  do {                                                                                      \
    auto&& _r = (expr);                                                                     \
    ASSERT_TRUE(_r.ok()) << #expr << ": " << _r.error().code << ": " << _r.error().message; \
  } while (0)

#define EXPECT_CODE(expr, code_)                                                \
  do {                                                                          \
    auto&& _r = (expr);                                                         \
    EXPECT_FALSE(_r.ok()) << #expr << " succeeded";                             \
    if (!_r.ok()) {                                                             \
      EXPECT_EQ(_r.error().code, code_) << #expr << ": " << _r.error().message; \
    }                                                                           \
  } while (0)

// A fresh directory under the system temp dir, removed (with everything in it) at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "weft-vault-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  if (std::filesystem::exists(path)) ::chmod(path.c_str(), 0600);  // writable again (e.g. after 0400)
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ::chmod(path.c_str(), mode);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline mode_t file_mode(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

inline std::string b64url(const std::string& bytes) {
  const size_t len = sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  std::string out(len, '\0');
  sodium_bin2base64(out.data(), len, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(len - 1);
  return out;
}

inline std::string unb64url(const std::string& text) {
  std::string out(text.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(),
                        nullptr, &len, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    throw std::runtime_error("bad base64url in a test");
  }
  out.resize(len);
  return out;
}

inline std::string random_bytes(size_t n) {
  std::string s(n, '\0');
  randombytes_buf(s.data(), n);
  return s;
}

// The base64url text of a random 32-byte key, and a key file line for it.
inline std::string random_key_text() {
  return b64url(random_bytes(32));
}
inline std::string key_line(int version, const std::string& key_text = random_key_text()) {
  return "weft-master-key v" + std::to_string(version) + " " + key_text + "\n";
}

// Replaces one field's sealed value.
inline Json with_field(Json sealed, const std::string& field, Json value) {
  sealed.set(field, std::move(value));
  return sealed;
}

}  // namespace weft::vault::testing
