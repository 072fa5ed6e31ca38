// load_or_create_secret: creation, permissions, contents.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "host/auth/auth.hpp"
#include "tests/auth/auth_env.hpp"

namespace weft::auth {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

void write_file(const std::string& path, const std::string& text, mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

TEST(SecretFile, CreatesPrivateHexFileAndReadsItBack) {
  TempDir dir("auth-secret");
  std::string path = dir.path() + "/nested/deeper/secret.key";
  auto created = load_or_create_secret(path, true);
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(created->size(), 32u);

  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.size(), 65u);  // 64 hex digits + newline
  EXPECT_EQ(text.find_first_not_of("0123456789abcdef\n"), std::string::npos);
  // No temporary file left behind.
  size_t entries = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(fs::path(path).parent_path())) ++entries;
  EXPECT_EQ(entries, 1u);

  auto again = load_or_create_secret(path, true);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *created);
  auto read_only = load_or_create_secret(path, false);
  ASSERT_TRUE(read_only.ok());
  EXPECT_EQ(*read_only, *created);
}

TEST(SecretFile, MissingWithoutCreate) {
  TempDir dir("auth-secret");
  auto r = load_or_create_secret(dir.path() + "/none.key", false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "not_found");
  EXPECT_FALSE(fs::exists(dir.path() + "/none.key"));
}

TEST(SecretFile, RefusesGroupOrOtherAccess) {
  TempDir dir("auth-secret");
  std::string path = dir.path() + "/secret.key";
  std::string hex(64, 'a');
  for (mode_t mode : {0640, 0604, 0644, 0660, 0606, 0610}) {
    write_file(path, hex + "\n", mode);
    auto r = load_or_create_secret(path, true);
    ASSERT_FALSE(r.ok()) << std::oct << mode;
    EXPECT_EQ(r.error().code, "invalid_argument");
    EXPECT_NE(r.error().message.find("chmod 600"), std::string::npos);
    // The secret never appears in the error.
    EXPECT_EQ(r.error().message.find(hex), std::string::npos);
  }
  write_file(path, hex + "\n", 0600);
  auto ok = load_or_create_secret(path, false);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(*ok, std::string(32, '\xaa'));
  write_file(path, hex, 0400);
  EXPECT_TRUE(load_or_create_secret(path, false).ok());
}

TEST(SecretFile, RefusesBadContents) {
  TempDir dir("auth-secret");
  std::string path = dir.path() + "/secret.key";
  write_file(path, std::string(62, 'a') + "\n", 0600);  // 31 bytes
  auto short_r = load_or_create_secret(path, true);
  ASSERT_FALSE(short_r.ok());
  EXPECT_NE(short_r.error().message.find("32 bytes"), std::string::npos);
  // create=true never overwrites an existing bad file.
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, std::string(62, 'a') + "\n");

  write_file(path, "this is not hex but it is long enough to be 32 bytes!!", 0600);
  EXPECT_FALSE(load_or_create_secret(path, false).ok());
  write_file(path, "", 0600);
  EXPECT_FALSE(load_or_create_secret(path, false).ok());
  // Longer secrets are fine.
  write_file(path, std::string(128, 'F') + "\r\n", 0600);
  auto long_r = load_or_create_secret(path, false);
  ASSERT_TRUE(long_r.ok()) << long_r.error().message;
  EXPECT_EQ(long_r->size(), 64u);
}

TEST(SecretFile, RefusesADirectory) {
  TempDir dir("auth-secret");
  std::string path = dir.path() + "/adir";
  fs::create_directory(path);
  ::chmod(path.c_str(), 0700);
  EXPECT_FALSE(load_or_create_secret(path, true).ok());
  EXPECT_FALSE(load_or_create_secret("", true).ok());
}

}  // namespace
}  // namespace weft::auth
