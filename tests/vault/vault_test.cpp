// Vault: credential fields sealed and opened with their owner, id, field name and key version as
// associated data, and the start-up checks against the database — on both storage backends.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "host/core/call.hpp"
#include "host/store/records.hpp"
#include "host/vault/vault.hpp"
#include "tests/store/store_env.hpp"
#include "tests/vault/vault_env.hpp"

namespace weft::vault {
namespace {

using testing::key_line;
using testing::random_key_text;
using testing::TempDir;
using testing::write_file;

const char* const kCanary = "canary-5ecret-value-7f3a";

class VaultTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgresql" && store::testing::pg_url().empty()) {
      GTEST_SKIP() << "WEFT_TEST_PG_URL is not set (scripts/test.sh starts a throwaway PostgreSQL)";
    }
    db_ = std::make_unique<store::testing::TestDb>(GetParam());
    auto opened = db_->open();
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(opened).value();
    key_path_ = tmp_ / "keys/master.key";
    ASSERT_OK(MasterKeyring::create(key_path_));
    vault_ = make_vault(key_path_);
    ASSERT_TRUE(vault_);
  }

  std::shared_ptr<Vault> make_vault(const std::string& path) {
    auto ring = MasterKeyring::load(path);
    EXPECT_TRUE(ring.ok()) << ring.error().message;
    if (!ring.ok()) return nullptr;
    return std::make_shared<Vault>(std::shared_ptr<MasterKeyring>(std::move(ring).value()), store_);
  }

  // The sealed bytes of one field, and the field with other bytes.
  static std::string raw(const Json& sealed, const std::string& field) {
    return testing::unb64url(sealed[field]["c"].as_string());
  }
  static Json with_raw(const Json& sealed, const std::string& field, const std::string& bytes) {
    Json value = sealed[field];
    value.set("c", testing::b64url(bytes));
    return testing::with_field(sealed, field, value);
  }

  TempDir tmp_;
  std::string key_path_;
  std::unique_ptr<store::testing::TestDb> db_;
  std::shared_ptr<store::Store> store_;
  std::shared_ptr<Vault> vault_;
};

Json secrets() {
  return Json::object({{"token", kCanary}, {"password", "p@ss w\xC3\xB6rd"}, {"empty", ""}});
}

TEST_P(VaultTest, FieldsRoundTripSealedUnderTheCurrentVersion) {
  auto sealed = vault_->seal_fields("alice", "cred1", secrets());
  ASSERT_OK(sealed);
  ASSERT_EQ(sealed->size(), 3u);
  for (const auto& [field, value] : sealed->as_object()) {
    EXPECT_EQ(value.size(), 2u) << field;
    EXPECT_EQ(value["v"], Json(1)) << field;
    const std::string& c = value["c"].as_string();
    EXPECT_EQ(c.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos)
        << "base64url without padding: " << c;
  }
  EXPECT_EQ(raw(*sealed, "token").size(), 24u + std::strlen(kCanary) + 16u);
  EXPECT_EQ(sealed->dump().find(kCanary), std::string::npos);
  EXPECT_EQ(Vault::lowest_version(*sealed), 1);
  EXPECT_EQ(Vault::lowest_version(Json::object()), 0);
  auto opened = vault_->open_fields("alice", "cred1", *sealed);
  ASSERT_OK(opened);
  EXPECT_EQ(*opened, secrets());
  // Sealing twice gives different ciphertexts (random nonces).
  EXPECT_NE(vault_->seal_fields("alice", "cred1", secrets())->dump(), sealed->dump());
  EXPECT_EQ(*vault_->seal_fields("alice", "cred1", Json::object()), Json::object());

  // What the store accepts as sealed, and the key_version it derives.
  store::CredentialRecord rec;
  rec.owner_id = "alice";
  rec.id = "cred1";
  rec.name = "c";
  rec.type = "t";
  rec.secrets = *sealed;
  auto stored = store_->create_credential(rec);
  ASSERT_OK(stored);
  EXPECT_EQ(stored->key_version, 1);
  EXPECT_EQ(*vault_->open_fields("alice", "cred1", store_->get_credential("alice", "cred1")->secrets),
            secrets());

  // Bad input.
  EXPECT_CODE(vault_->seal_fields("alice", "cred1", Json::object({{"n", 5}})), "invalid_argument");
  EXPECT_CODE(vault_->seal_fields("alice", "cred1", Json("x")), "invalid_argument");
  EXPECT_CODE(vault_->seal_fields("alice", "", secrets()), "invalid_argument");
  EXPECT_CODE(vault_->seal_fields(std::string("al\0ice", 6), "cred1", secrets()), "invalid_argument");
  EXPECT_CODE(vault_->seal_fields("alice", "cred1", Json::object({{std::string("a\0b", 3), "x"}})),
              "invalid_argument");
}

TEST_P(VaultTest, OneFlippedByteAnywhereFailsClosed) {
  auto sealed = vault_->seal_fields("alice", "cred1", Json::object({{"token", kCanary}}));
  ASSERT_OK(sealed);
  const std::string bytes = raw(*sealed, "token");
  for (size_t i = 0; i < bytes.size(); ++i) {  // nonce, ciphertext and tag
    for (unsigned char bit : {0x01, 0x80}) {
      std::string flipped = bytes;
      flipped[i] = static_cast<char>(flipped[i] ^ bit);
      auto r = vault_->open_fields("alice", "cred1", with_raw(*sealed, "token", flipped));
      ASSERT_FALSE(r.ok()) << "byte " << i;
      EXPECT_EQ(r.error().code, "vault_decrypt_failed") << "byte " << i;
      EXPECT_EQ(r.error().message.find(kCanary), std::string::npos);
    }
  }
  // Truncated, extended, emptied, not base64url, not a sealed value at all.
  EXPECT_CODE(
      vault_->open_fields("alice", "cred1", with_raw(*sealed, "token", bytes.substr(0, bytes.size() - 1))),
      "vault_decrypt_failed");
  EXPECT_CODE(vault_->open_fields("alice", "cred1", with_raw(*sealed, "token", bytes + "x")),
              "vault_decrypt_failed");
  EXPECT_CODE(vault_->open_fields("alice", "cred1", with_raw(*sealed, "token", "")), "vault_decrypt_failed");
  Json not_b64 = (*sealed)["token"];
  not_b64.set("c", "###");
  EXPECT_CODE(vault_->open_fields("alice", "cred1", testing::with_field(*sealed, "token", not_b64)),
              "vault_decrypt_failed");
  for (const Json& bad : {Json(kCanary), Json::object({{"v", 1}}), Json::object({{"c", "abc"}}),
                          Json::object({{"v", "1"}, {"c", "abc"}}), Json::object({{"v", 0}, {"c", "abc"}})}) {
    auto r = vault_->open_fields("alice", "cred1", Json::object({{"token", bad}}));
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_EQ(r.error().code, "vault_decrypt_failed") << bad.dump();
    EXPECT_EQ(r.error().message.find(kCanary), std::string::npos) << r.error().message;
  }
  EXPECT_CODE(vault_->open_fields("alice", "cred1", Json::array()), "vault_decrypt_failed");
  EXPECT_EQ((*vault_->open_fields("alice", "cred1", *sealed))["token"], Json(kCanary));
}

TEST_P(VaultTest, ASealedFieldOpensOnlyForItsOwnerCredentialFieldAndVersion) {
  auto sealed = vault_->seal_fields("alice", "cred1", Json::object({{"token", kCanary}, {"other", "x"}}));
  ASSERT_OK(sealed);
  const Json token = (*sealed)["token"];
  auto expect_refused = [&](const std::string& owner, const std::string& id, const Json& map) {
    auto r = vault_->open_fields(owner, id, map);
    ASSERT_FALSE(r.ok()) << owner << "/" << id << " " << map.dump();
    EXPECT_EQ(r.error().code, "vault_decrypt_failed");
    EXPECT_EQ(r.error().message.find(kCanary), std::string::npos) << r.error().message;
  };
  expect_refused("alice", "cred2", *sealed);  // another credential
  expect_refused("bob", "cred1", *sealed);    // another owner
  expect_refused("", "cred1", *sealed);
  expect_refused("alice", "cred1", Json::object({{"other", token}}));  // another field
  expect_refused("alice", "cred1", Json::object({{"token2", token}}));
  // Separator games: the same bytes split differently between owner and id.
  auto joined = vault_->seal_fields("ab", "c", Json::object({{"f", kCanary}}));
  ASSERT_OK(joined);
  expect_refused("a", "bc", *joined);
  expect_refused(std::string("a\0b", 3), "c", *joined);

  // The key version is bound too: relabelling a v1 ciphertext as v2 fails even though v2 exists.
  ASSERT_OK(MasterKeyring::add_version(key_path_));
  ASSERT_OK(vault_->keys().reload());
  Json relabelled = token;
  relabelled.set("v", 2);
  expect_refused("alice", "cred1", Json::object({{"token", relabelled}}));
  // ...while the genuine v1 value still opens next to a v2 one.
  auto v2 = vault_->seal_fields("alice", "cred1", Json::object({{"other", "y"}}));
  ASSERT_OK(v2);
  EXPECT_EQ((*v2)["other"]["v"], Json(2));
  Json mixed = Json::object({{"token", token}, {"other", (*v2)["other"]}});
  EXPECT_EQ(Vault::lowest_version(mixed), 1);
  auto opened = vault_->open_fields("alice", "cred1", mixed);
  ASSERT_OK(opened);
  EXPECT_EQ(*opened, Json::object({{"token", kCanary}, {"other", "y"}}));
}

TEST_P(VaultTest, VerifyWritesOneCheckPerVersionAndRefusesAWrongKeyFile) {
  ASSERT_OK(vault_->verify());
  auto checks = store_->vault_key_checks();
  ASSERT_OK(checks);
  ASSERT_EQ(checks->size(), 1u);
  EXPECT_EQ((*checks)[0].version, 1);
  EXPECT_EQ(testing::unb64url((*checks)[0].check).size(), 24u + 19u + 16u);
  ASSERT_OK(vault_->verify());  // idempotent
  EXPECT_EQ(store_->vault_key_checks()->size(), 1u);

  // Another key file with a version 1 of its own: refused before it can write anything.
  const std::string wrong_path = tmp_ / "wrong.key";
  const std::string wrong_key = random_key_text();
  write_file(wrong_path, key_line(1, wrong_key));
  auto wrong = make_vault(wrong_path);
  auto r = wrong->verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "vault_key_wrong");
  EXPECT_NE(r.error().message.find("version 1"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find(wrong_key), std::string::npos) << r.error().message;

  // A new version gets its check; the old check still has to match.
  ASSERT_OK(MasterKeyring::add_version(key_path_));
  ASSERT_OK(vault_->keys().reload());
  ASSERT_OK(vault_->verify());
  EXPECT_EQ(store_->vault_key_checks()->size(), 2u);
  // A key file that kept version 2 but had version 1 replaced is caught on version 1.
  const std::string text = testing::read_file(key_path_);
  const size_t v2_line = text.find("weft-master-key v2");
  write_file(wrong_path, key_line(1, wrong_key) + text.substr(v2_line));
  EXPECT_CODE(make_vault(wrong_path)->verify(), "vault_key_wrong");
  // A file that lost version 1 (no rows use it) still verifies: checks without a key are skipped.
  write_file(wrong_path, text.substr(v2_line));
  ASSERT_OK(make_vault(wrong_path)->verify());

  // Two servers verifying a new version at once: both end up checking against the one stored.
  ASSERT_OK(MasterKeyring::add_version(key_path_));
  auto a = make_vault(key_path_);
  auto b = make_vault(key_path_);
  Status sa, sb;
  std::thread ta([&] { sa = a->verify(); });
  std::thread tb([&] { sb = b->verify(); });
  ta.join();
  tb.join();
  ASSERT_OK(sa);
  ASSERT_OK(sb);
  EXPECT_EQ(store_->vault_key_checks()->size(), 3u);
}

TEST_P(VaultTest, AVersionRowsUseButTheFileLacksIsRefused) {
  ASSERT_OK(vault_->verify());
  // A credential sealed by another server under version 2, which this key file does not have.
  const std::string other_path = tmp_ / "other/master.key";
  write_file(other_path, testing::read_file(key_path_));
  ASSERT_OK(MasterKeyring::add_version(other_path));
  auto other = make_vault(other_path);
  ASSERT_OK(other->verify());
  auto sealed = other->seal_fields("alice", "c2", Json::object({{"token", kCanary}}));
  ASSERT_OK(sealed);
  store::CredentialRecord rec;
  rec.id = "c2";
  rec.owner_id = "alice";
  rec.name = "n";
  rec.type = "t";
  rec.secrets = *sealed;
  ASSERT_OK(store_->create_credential(rec));

  auto r = vault_->verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "vault_key_unknown");
  EXPECT_NE(r.error().message.find("version 2"), std::string::npos) << r.error().message;
  auto opened = vault_->open_fields("alice", "c2", *sealed);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, "vault_key_unknown");
  EXPECT_EQ(opened.error().message.find(kCanary), std::string::npos);

  // A gap inside the range of versions rows use is refused too: a row at version 1 may hold fields
  // sealed with any version up to the newest in use. Rows at 1 and 3, a file with 1 and 3.
  ASSERT_OK(store_->delete_credential("alice", "c2"));
  ASSERT_OK(MasterKeyring::add_version(other_path));  // v3
  ASSERT_OK(other->keys().reload());
  rec.id = "c3";
  rec.secrets = *other->seal_fields("alice", "c3", Json::object({{"token", "x"}}));
  ASSERT_OK(store_->create_credential(rec));
  rec.id = "c1";
  rec.name = "n1";
  rec.secrets = *vault_->seal_fields("alice", "c1", Json::object({{"token", "x"}}));
  ASSERT_OK(store_->create_credential(rec));
  EXPECT_EQ(*store_->credential_key_version_range(), (std::pair<int64_t, int64_t>{3, 1}));
  const std::string text = testing::read_file(other_path);
  const size_t v1 = text.find("weft-master-key v1"), v2 = text.find("weft-master-key v2");
  const std::string gap_path = tmp_ / "gap.key";
  write_file(gap_path, text.substr(v1, v2 - v1) + text.substr(text.find("weft-master-key v3")));
  auto gap = make_vault(gap_path);
  ASSERT_EQ(gap->keys().versions(), (std::vector<int64_t>{1, 3}));
  auto gap_check = gap->verify();
  ASSERT_FALSE(gap_check.ok());
  EXPECT_EQ(gap_check.error().code, "vault_key_unknown");
  EXPECT_NE(gap_check.error().message.find("version 2"), std::string::npos) << gap_check.error().message;
  ASSERT_OK(other->verify());  // the complete file passes
}

TEST_P(VaultTest, AnUnknownVersionMakesTheVaultReloadItsKeyFile) {
  ASSERT_OK(vault_->verify());
  EXPECT_EQ(vault_->keys().current_version(), 1);
  // Another process (its own view of the same file) adds version 2 and seals with it.
  ASSERT_OK(MasterKeyring::add_version(key_path_));
  auto other = make_vault(key_path_);
  ASSERT_EQ(other->keys().current_version(), 2);
  auto sealed = other->seal_fields("alice", "cred1", Json::object({{"token", kCanary}}));
  ASSERT_OK(sealed);
  ASSERT_EQ((*sealed)["token"]["v"], Json(2));
  // This vault has never seen version 2: it reloads, then opens.
  auto opened = vault_->open_fields("alice", "cred1", *sealed);
  ASSERT_OK(opened);
  EXPECT_EQ((*opened)["token"], Json(kCanary));
  EXPECT_EQ(vault_->keys().current_version(), 2);
  // A version nobody has stays unknown (and the reload is rate-limited, not repeated per call).
  Json v9 = (*sealed)["token"];
  v9.set("v", 9);
  EXPECT_CODE(vault_->open_fields("alice", "cred1", Json::object({{"token", v9}})), "vault_key_unknown");
  EXPECT_CODE(vault_->open_fields("alice", "cred1", Json::object({{"token", v9}})), "vault_key_unknown");
}

TEST_P(VaultTest, LostCheckValuesDoNotLetAWrongKeyIn) {
  ASSERT_OK(vault_->verify());
  auto create = [&](const std::string& id, const Json& plain) {
    auto sealed = vault_->seal_fields("alice", id, plain);
    ASSERT_OK(sealed);
    store::CredentialRecord rec;
    rec.id = id;
    rec.owner_id = "alice";
    rec.name = "cred " + id;
    rec.type = "t";
    rec.secrets = *sealed;
    ASSERT_OK(store_->create_credential(rec));
  };
  auto drop_checks = [&](const std::string& where) {
    auto s = db_->inspect();
    *s << ("DELETE FROM vault_key_checks" + where);
  };
  create("c1", Json::object({{"token", kCanary}}));
  // The check rows are lost (a database restored without them, or edited by hand).
  drop_checks("");
  ASSERT_TRUE(store_->vault_key_checks()->empty());

  // Another key file's version 1 does not become the reference: it does not open c1.
  const std::string wrong_path = tmp_ / "wrong.key";
  const std::string wrong_key = random_key_text();
  write_file(wrong_path, key_line(1, wrong_key));
  auto r = make_vault(wrong_path)->verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "vault_key_wrong");
  EXPECT_NE(r.error().message.find("version 1"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find(wrong_key), std::string::npos) << r.error().message;
  EXPECT_TRUE(store_->vault_key_checks()->empty()) << "a check value was written for the wrong key";
  // The right key still starts, and writes the check again; the wrong one stays refused.
  ASSERT_OK(make_vault(key_path_)->verify());
  EXPECT_EQ(store_->vault_key_checks()->size(), 1u);
  EXPECT_CODE(make_vault(wrong_path)->verify(), "vault_key_wrong");

  // The same for a later version: rows sealed with version 2, its check lost, a file whose
  // version 1 is right but whose version 2 is not.
  ASSERT_OK(MasterKeyring::add_version(key_path_));
  ASSERT_OK(vault_->keys().reload());
  ASSERT_OK(vault_->verify());
  create("c2", Json::object({{"token", "second-" + std::string(kCanary)}}));
  ASSERT_EQ(store_->get_credential("alice", "c2")->key_version, 2);
  drop_checks(" WHERE version = 2");
  const std::string text = testing::read_file(key_path_);
  write_file(wrong_path, text.substr(0, text.find("weft-master-key v2")) + key_line(2, wrong_key));
  auto r2 = make_vault(wrong_path)->verify();
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, "vault_key_wrong");
  EXPECT_NE(r2.error().message.find("version 2"), std::string::npos) << r2.error().message;
  EXPECT_EQ(store_->vault_key_checks()->size(), 1u);
  ASSERT_OK(make_vault(key_path_)->verify());
  EXPECT_EQ(store_->vault_key_checks()->size(), 2u);

  // Once no row uses version 2 any more, a lost check value is simply written again.
  drop_checks(" WHERE version = 2");
  ASSERT_OK(store_->delete_credential("alice", "c2"));
  ASSERT_OK(make_vault(key_path_)->verify());
}

INSTANTIATE_TEST_SUITE_P(Backends, VaultTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace weft::vault
