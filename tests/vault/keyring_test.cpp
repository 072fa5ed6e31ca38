// The master key file: creation, permissions, location, format, new versions, reloads, and the
// AEAD primitives of MasterKeyring.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <thread>

#include "host/vault/vault.hpp"
#include "tests/vault/vault_env.hpp"

namespace weft::vault {
namespace {

using testing::key_line;
using testing::random_key_text;
using testing::TempDir;
using testing::write_file;

std::unique_ptr<MasterKeyring> load_ok(const std::string& path, const std::string& data_dir = "") {
  auto r = MasterKeyring::load(path, data_dir);
  EXPECT_TRUE(r.ok()) << r.error().code << ": " << r.error().message;
  return r.ok() ? std::move(r).value() : nullptr;
}

TEST(Keyring, CreateWritesAnOwnerOnlyFileInAnOwnerOnlyDirectory) {
  TempDir tmp;
  const std::string path = tmp / "secrets/weft/master.key";
  ASSERT_OK(MasterKeyring::create(path));
  EXPECT_EQ(testing::file_mode(path), 0600u);
  EXPECT_EQ(testing::file_mode(tmp / "secrets/weft"), 0700u);
  auto ring = load_ok(path);
  ASSERT_TRUE(ring);
  EXPECT_EQ(ring->current_version(), 1);
  EXPECT_EQ(ring->versions(), std::vector<int64_t>{1});
  EXPECT_EQ(ring->path(), path);
  // Never over an existing file.
  const std::string before = testing::read_file(path);
  EXPECT_CODE(MasterKeyring::create(path), "vault_io");
  EXPECT_EQ(testing::read_file(path), before);
  // Two files get two different keys.
  const std::string other = tmp / "other.key";
  ASSERT_OK(MasterKeyring::create(other));
  auto ring2 = load_ok(other);
  auto sealed = ring->seal(1, "x", "ad");
  ASSERT_OK(sealed);
  EXPECT_CODE(ring2->open(1, *sealed, "ad"), "vault_decrypt_failed");
}

TEST(Keyring, AFileOthersCanAccessIsRefused) {
  TempDir tmp;
  const std::string path = tmp / "master.key";
  const std::string key = random_key_text();
  for (mode_t mode : {0644, 0640, 0604, 0620, 0660, 0601}) {
    write_file(path, key_line(1, key), mode);
    auto r = MasterKeyring::load(path);
    ASSERT_FALSE(r.ok()) << std::oct << mode;
    EXPECT_EQ(r.error().code, "vault_key_invalid");
    char mode_text[8];
    std::snprintf(mode_text, sizeof mode_text, "%04o", static_cast<unsigned>(mode));
    EXPECT_NE(r.error().message.find(std::string("mode ") + mode_text), std::string::npos)
        << r.error().message;
    EXPECT_EQ(r.error().message.find(key), std::string::npos) << "the key leaked into the message";
  }
  write_file(path, key_line(1, key), 0400);
  EXPECT_TRUE(load_ok(path));
  write_file(path, key_line(1, key), 0600);
  EXPECT_TRUE(load_ok(path));
}

TEST(Keyring, AFileInsideTheDataDirectoryIsRefused) {
  TempDir tmp;
  const std::string data = tmp / "data";
  std::filesystem::create_directories(data);
  const std::string inside = data + "/keys/master.key";
  write_file(inside, key_line(1));
  EXPECT_CODE(MasterKeyring::load(inside, data), "vault_key_invalid");
  // The same, spelled with a trailing slash, "..", or a relative path.
  EXPECT_CODE(MasterKeyring::load(inside, data + "/"), "vault_key_invalid");
  EXPECT_CODE(MasterKeyring::load(inside, data + "/keys/../"), "vault_key_invalid");
  // Reached through a symlink that lives outside: realpath decides.
  const std::string link = tmp / "link.key";
  ASSERT_EQ(::symlink(inside.c_str(), link.c_str()), 0);
  auto via_link = MasterKeyring::load(link, data);
  ASSERT_FALSE(via_link.ok());
  EXPECT_EQ(via_link.error().code, "vault_key_invalid");
  EXPECT_NE(via_link.error().message.find("data directory"), std::string::npos) << via_link.error().message;
  // A data directory that is a symlink to the key's directory.
  const std::string data_link = tmp / "data-link";
  ASSERT_EQ(::symlink(data.c_str(), data_link.c_str()), 0);
  EXPECT_CODE(MasterKeyring::load(inside, data_link), "vault_key_invalid");

  // Outside the data directory — including a sibling whose name starts the same — is fine.
  const std::string outside = tmp / "data-keys/master.key";
  write_file(outside, key_line(1));
  EXPECT_TRUE(load_ok(outside, data));
  EXPECT_TRUE(load_ok(inside, ""));  // no data directory given: not checked
  // The data directory need not exist yet (first start).
  EXPECT_TRUE(load_ok(outside, tmp / "not-yet/data"));
}

TEST(Keyring, MalformedFilesAreRefusedWithoutQuotingAKey) {
  TempDir tmp;
  const std::string path = tmp / "master.key";
  const std::string key = random_key_text();
  const std::string std_b64 = [] {
    // A key whose standard base64 holds '+' or '/': not base64url.
    for (;;) {
      std::string bytes = testing::random_bytes(32);
      std::string text(64, '\0');
      sodium_bin2base64(text.data(), text.size(), reinterpret_cast<const unsigned char*>(bytes.data()), 32,
                        sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
      text.resize(std::strlen(text.c_str()));
      if (text.find_first_of("+/") != std::string::npos) return text;
    }
  }();
  const std::string short_key = testing::b64url(testing::random_bytes(31));
  const std::string long_key = testing::b64url(testing::random_bytes(33));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"weft-master-key v1 " + key + " extra\n", "line 1"},
      {"weft-master-key v1\n", "line 1"},
      {"weft-master-key " + key + "\n", "line 1"},
      {key + "\n", "line 1"},
      {"weft-master-kee v1 " + key + "\n", "line 1"},
      {"# comment\n\nweft-master-key v0 " + key + "\n", "line 3"},
      {"weft-master-key v01 " + key + "\n", "line 1"},
      {"weft-master-key 1 " + key + "\n", "line 1"},
      {"weft-master-key v-1 " + key + "\n", "line 1"},
      {"weft-master-key v1x " + key + "\n", "line 1"},
      {"weft-master-key v1 " + short_key + "\n", "line 1"},
      {"weft-master-key v1 " + long_key + "\n", "line 1"},
      {"weft-master-key v1 " + key + "=\n", "line 1"},
      {"weft-master-key v1 " + std_b64 + "\n", "line 1"},
      {key_line(1) + key_line(2, key) + key_line(1), "line 3"},  // a duplicate version
  };
  for (const auto& [text, where] : bad) {
    write_file(path, text);
    auto r = MasterKeyring::load(path);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, "vault_key_invalid") << text << r.error().message;
    EXPECT_NE(r.error().message.find(where), std::string::npos) << r.error().message;
    for (const std::string& secret : {key, short_key, long_key, std_b64}) {
      EXPECT_EQ(r.error().message.find(secret), std::string::npos) << "a key leaked: " << r.error().message;
    }
  }
  // Nothing to use: missing, empty, comments only.
  EXPECT_CODE(MasterKeyring::load(tmp / "absent.key"), "vault_key_missing");
  EXPECT_CODE(MasterKeyring::load(""), "vault_key_missing");
  write_file(path, "");
  EXPECT_CODE(MasterKeyring::load(path), "vault_key_missing");
  write_file(path, "# nothing yet\n\n");
  EXPECT_CODE(MasterKeyring::load(path), "vault_key_missing");
  // A directory is not a key file.
  std::filesystem::create_directories(tmp / "dir.key");
  ::chmod((tmp / "dir.key").c_str(), 0700);
  EXPECT_CODE(MasterKeyring::load(tmp / "dir.key"), "vault_key_invalid");
}

TEST(Keyring, CommentsBlanksAndCarriageReturnsAreAcceptedAndTheHighestVersionIsCurrent) {
  TempDir tmp;
  const std::string path = tmp / "master.key";
  write_file(path, "# weft keys\n\n   \n" + key_line(3) + "  # indented comment\r\n\tweft-master-key  v1\t" +
                       random_key_text() + " \r\n");
  auto ring = load_ok(path);
  ASSERT_TRUE(ring);
  EXPECT_EQ(ring->versions(), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(ring->current_version(), 3);
  EXPECT_TRUE(ring->has(1));
  EXPECT_FALSE(ring->has(2));
  // Without a final newline.
  write_file(path, "weft-master-key v7 " + random_key_text());
  EXPECT_EQ(load_ok(path)->current_version(), 7);
}

TEST(Keyring, SealAndOpenUseTheKeyOfTheVersionAndTheAssociatedData) {
  TempDir tmp;
  const std::string path = tmp / "master.key";
  write_file(path, key_line(1) + key_line(2));
  auto ring = load_ok(path);
  ASSERT_TRUE(ring);
  auto a = ring->seal(1, "attack at dawn", "ad-1");
  auto b = ring->seal(1, "attack at dawn", "ad-1");
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->size(), 24u + 14u + 16u) << "nonce || ciphertext || tag";
  EXPECT_NE(*a, *b) << "random nonces";
  EXPECT_EQ(a->find("attack"), std::string::npos);
  EXPECT_EQ(*ring->open(1, *a, "ad-1"), "attack at dawn");
  EXPECT_CODE(ring->open(1, *a, "ad-2"), "vault_decrypt_failed");
  EXPECT_CODE(ring->open(2, *a, "ad-1"), "vault_decrypt_failed");
  EXPECT_CODE(ring->open(3, *a, "ad-1"), "vault_key_unknown");
  EXPECT_CODE(ring->seal(3, "x", ""), "vault_key_unknown");
  EXPECT_CODE(ring->open(1, a->substr(0, 39), "ad-1"), "vault_decrypt_failed");
  EXPECT_CODE(ring->open(1, "", "ad-1"), "vault_decrypt_failed");
  auto empty = ring->seal(2, "", "");
  ASSERT_OK(empty);
  EXPECT_EQ(*ring->open(2, *empty, ""), "");
}

TEST(Keyring, AddVersionAppendsAKeyAtomicallyAndReloadPicksItUp) {
  TempDir tmp;
  const std::string path = tmp / "keys/master.key";
  ASSERT_OK(MasterKeyring::create(path));
  const std::string before = testing::read_file(path);
  auto ring = load_ok(path);
  ASSERT_TRUE(ring);
  auto sealed = ring->seal(1, "old secret", "ad");
  ASSERT_OK(sealed);

  auto v2 = MasterKeyring::add_version(path);
  ASSERT_OK(v2);
  EXPECT_EQ(*v2, 2);
  const std::string after = testing::read_file(path);
  EXPECT_EQ(after.substr(0, before.size()), before) << "existing lines are kept byte for byte";
  EXPECT_EQ(after.substr(before.size(), 19), "weft-master-key v2 ");
  EXPECT_EQ(testing::file_mode(path), 0600u);
  for (const auto& entry : std::filesystem::directory_iterator(tmp / "keys")) {
    EXPECT_EQ(entry.path().filename(), "master.key") << "a temp file was left behind";
  }
  // The running keyring changes only on reload.
  EXPECT_EQ(ring->current_version(), 1);
  ASSERT_OK(ring->reload());
  EXPECT_EQ(ring->current_version(), 2);
  EXPECT_EQ(*ring->open(1, *sealed, "ad"), "old secret");

  // Concurrent rotations each get their own version.
  std::vector<Result<int64_t>> results(4, Error("pending", ""));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = MasterKeyring::add_version(path); });
  }
  for (auto& t : threads) t.join();
  std::set<int64_t> got;
  for (auto& r : results) {
    ASSERT_OK(r);
    got.insert(*r);
  }
  EXPECT_EQ(got, (std::set<int64_t>{3, 4, 5, 6}));
  EXPECT_EQ(load_ok(path)->versions(), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));

  // A file without a trailing newline gets one before the new line.
  const std::string bare = tmp / "bare.key";
  write_file(bare, "weft-master-key v4 " + random_key_text());
  EXPECT_EQ(*MasterKeyring::add_version(bare), 5);
  EXPECT_EQ(load_ok(bare)->versions(), (std::vector<int64_t>{4, 5}));
  // Unsafe or broken files are not extended.
  write_file(bare, key_line(1), 0644);
  EXPECT_CODE(MasterKeyring::add_version(bare), "vault_key_invalid");
  write_file(bare, "garbage\n");
  EXPECT_CODE(MasterKeyring::add_version(bare), "vault_key_invalid");
  EXPECT_EQ(testing::read_file(bare), "garbage\n");
  EXPECT_CODE(MasterKeyring::add_version(tmp / "absent.key"), "vault_key_missing");
}

TEST(Keyring, ReloadNeverChangesOrDropsALoadedKey) {
  TempDir tmp;
  const std::string path = tmp / "master.key";
  const std::string k1 = random_key_text();
  write_file(path, key_line(1, k1) + key_line(2));
  auto ring = load_ok(path);
  ASSERT_TRUE(ring);
  auto sealed = ring->seal(2, "v2 secret", "");
  ASSERT_OK(sealed);
  // Version 2 removed, version 3 added: 3 comes, 2 stays.
  write_file(path, key_line(1, k1) + key_line(3));
  ASSERT_OK(ring->reload());
  EXPECT_EQ(ring->versions(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(*ring->open(2, *sealed, ""), "v2 secret");
  // A different key under a known version: refused, nothing changes.
  const std::string impostor = random_key_text();
  write_file(path, key_line(1, impostor) + key_line(4));
  auto r = ring->reload();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "vault_key_invalid");
  EXPECT_EQ(r.error().message.find(impostor), std::string::npos);
  EXPECT_EQ(ring->versions(), (std::vector<int64_t>{1, 2, 3}));
  // Permissions are checked again.
  write_file(path, key_line(1, k1) + key_line(5), 0644);
  EXPECT_CODE(ring->reload(), "vault_key_invalid");
  EXPECT_FALSE(ring->has(5));
}

TEST(Keyring, AFileOwnedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the key file to another user";
  TempDir tmp;
  const std::string path = tmp / "master.key";
  ASSERT_OK(MasterKeyring::create(path));
  auto ring = load_ok(path);
  ASSERT_TRUE(ring);
  ASSERT_EQ(::chown(path.c_str(), 12345, 12345), 0) << std::strerror(errno);
  auto r = MasterKeyring::load(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "vault_key_invalid");
  EXPECT_NE(r.error().message.find("12345"), std::string::npos) << r.error().message;
  // A running keyring does not take keys from such a file either, and keeps its own.
  EXPECT_CODE(MasterKeyring::add_version(path), "vault_key_invalid");  // nor is it rotated
  ASSERT_EQ(::chown(path.c_str(), 0, 0), 0);
  ASSERT_OK(MasterKeyring::add_version(path));  // a new file, owned by root...
  ASSERT_EQ(::chown(path.c_str(), 12345, 12345), 0);  // ...handed over once more
  EXPECT_CODE(ring->reload(), "vault_key_invalid");
  EXPECT_CODE(ring->reload_if_changed(), "vault_key_invalid");
  EXPECT_EQ(ring->versions(), std::vector<int64_t>{1});
  // Back to its owner: accepted.
  ASSERT_EQ(::chown(path.c_str(), 0, 0), 0);
  ASSERT_OK(ring->reload_if_changed());
  EXPECT_EQ(ring->current_version(), 2);
}

TEST(Keyring, ReloadIfChangedPicksUpANewVersionAndOtherwiseKeepsItsKeys) {
  TempDir tmp;
  const std::string path = tmp / "keys/master.key";
  ASSERT_OK(MasterKeyring::create(path));
  auto ring = load_ok(path);
  ASSERT_TRUE(ring);
  ASSERT_OK(ring->reload_if_changed());  // unchanged
  EXPECT_EQ(ring->versions(), std::vector<int64_t>{1});
  // Rotation replaces the file (rename): noticed.
  ASSERT_OK(MasterKeyring::add_version(path));
  ASSERT_OK(ring->reload_if_changed());
  EXPECT_EQ(ring->versions(), (std::vector<int64_t>{1, 2}));
  // An edit in place (a line appended by hand) is noticed too.
  const std::string text = testing::read_file(path);
  write_file(path, text + key_line(3));
  ASSERT_OK(ring->reload_if_changed());
  EXPECT_EQ(ring->current_version(), 3);
  // A file that turned invalid or vanished: an error, and the loaded keys stay.
  write_file(path, "not a key file\n");
  EXPECT_CODE(ring->reload_if_changed(), "vault_key_invalid");
  std::remove(path.c_str());
  EXPECT_CODE(ring->reload_if_changed(), "vault_key_missing");
  EXPECT_EQ(ring->versions(), (std::vector<int64_t>{1, 2, 3}));
}

}  // namespace
}  // namespace weft::vault
