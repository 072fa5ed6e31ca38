// Master-key rotation end to end: credentials sealed under version 1 in a real store (SQLite and
// PostgreSQL), a version added to the key file, rotate_credentials in small batches — stopped
// midway and resumed, racing with edits and with another rotation — and every credential opening
// under the new version afterwards, with nothing lost.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "host/core/call.hpp"
#include "host/vault/vault.hpp"
#include "tests/store/store_env.hpp"
#include "tests/vault/forwarding_store.hpp"
#include "tests/vault/vault_env.hpp"

namespace weft::vault {
namespace {

using testing::TempDir;

class RotationTest : public ::testing::TestWithParam<std::string> {
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
    vault_ = make_vault(store_);
    ASSERT_OK(vault_->verify());
  }

  std::shared_ptr<Vault> make_vault(std::shared_ptr<store::Store> store) {
    auto ring = MasterKeyring::load(key_path_);
    EXPECT_TRUE(ring.ok()) << ring.error().message;
    if (!ring.ok()) return nullptr;
    return std::make_shared<Vault>(std::shared_ptr<MasterKeyring>(std::move(ring).value()), std::move(store));
  }

  // Creates `n` credentials over three owners, each with two secret fields; remembers them.
  void create_credentials(int n) {
    for (int i = 0; i < n; ++i) {
      store::CredentialRecord c;
      c.id = new_id();
      c.owner_id = "owner" + std::to_string(i % 3);
      c.name = "cred " + std::to_string(i);
      c.type = "http_bearer";
      c.data = Json::object({{"i", i}});
      Json plain = Json::object({{"token", "tok-" + std::to_string(i) + "-" + random_hex(8)},
                                 {"refresh", "ref-" + std::to_string(i)}});
      auto sealed = vault_->seal_fields(c.owner_id, c.id, plain);
      ASSERT_OK(sealed);
      c.secrets = *sealed;
      c.key_version = Vault::lowest_version(*sealed);
      auto created = store_->create_credential(c);
      ASSERT_OK(created);
      plain_[c.id] = plain;
      owners_[c.id] = c.owner_id;
    }
  }

  int64_t add_version_and_reload() {
    auto v = MasterKeyring::add_version(key_path_);
    EXPECT_TRUE(v.ok()) << v.error().message;
    EXPECT_TRUE(vault_->keys().reload().ok());
    EXPECT_TRUE(vault_->verify().ok());
    return v.ok() ? *v : 0;
  }

  // Every credential opens to what it was created with (or `expected` overrides), and every
  // field is sealed with `version`.
  void expect_all_under(int64_t version, Vault& vault, const std::map<std::string, Json>& expected = {}) {
    for (const auto& [id, plain] : plain_) {
      auto c = store_->get_credential(owners_[id], id);
      ASSERT_OK(c);
      EXPECT_EQ(c->key_version, version) << id;
      for (const auto& [field, value] : c->secrets.as_object()) EXPECT_EQ(value["v"], Json(version)) << id;
      auto opened = vault.open_fields(c->owner_id, id, c->secrets);
      ASSERT_OK(opened);
      auto want = expected.find(id);
      EXPECT_EQ(*opened, want != expected.end() ? want->second : plain) << id;
    }
  }

  int64_t count_at(int64_t version) {
    int64_t n = 0;
    for (const auto& [id, plain] : plain_)
      n += store_->get_credential(owners_[id], id)->key_version == version;
    return n;
  }

  TempDir tmp_;
  std::string key_path_;
  std::unique_ptr<store::testing::TestDb> db_;
  std::shared_ptr<store::Store> store_;
  std::shared_ptr<Vault> vault_;
  std::map<std::string, Json> plain_;  // credential id -> its plaintext secrets
  std::map<std::string, std::string> owners_;
};

TEST_P(RotationTest, EverythingIsReencryptedAndAStoppedRotationResumes) {
  create_credentials(23);
  std::map<std::string, Json> v1_sealed;
  for (const auto& [id, p] : plain_) v1_sealed[id] = store_->get_credential(owners_[id], id)->secrets;
  ASSERT_EQ(add_version_and_reload(), 2);

  // Stop after the first batch.
  std::atomic<bool> stop{false};
  std::vector<RotateProgress> seen;
  auto first = rotate_credentials(
      *vault_, *store_, 5,
      [&](const RotateProgress& p) {
        seen.push_back(p);
        stop = true;
      },
      &stop);
  ASSERT_OK(first);
  EXPECT_TRUE(first->stopped);
  EXPECT_EQ(first->target_version, 2);
  EXPECT_EQ(first->rekeyed, 5);
  EXPECT_EQ(first->conflicts, 0);
  EXPECT_EQ(first->remaining, 18);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].rekeyed, 5);
  EXPECT_EQ(seen[0].remaining, -1);
  EXPECT_EQ(count_at(2), 5);
  EXPECT_EQ(count_at(1), 18);
  // Half-rotated: everything still opens (v1 and v2 side by side).
  for (const auto& [id, plain] : plain_) {
    auto c = store_->get_credential(owners_[id], id);
    EXPECT_EQ(*vault_->open_fields(owners_[id], id, c->secrets), plain) << id;
  }

  // Resume: only the rest is touched.
  seen.clear();
  auto second = rotate_credentials(*vault_, *store_, 5, [&](const RotateProgress& p) { seen.push_back(p); });
  ASSERT_OK(second);
  EXPECT_FALSE(second->stopped);
  EXPECT_EQ(second->rekeyed, 18);
  EXPECT_EQ(second->remaining, 0);
  EXPECT_EQ(second->rounds, 1);
  ASSERT_EQ(seen.size(), 4u);  // 5 + 5 + 5 + 3
  EXPECT_EQ(seen.back().rekeyed, 18);
  expect_all_under(2, *vault_);
  for (const auto& [id, sealed] : v1_sealed) {
    auto now = store_->get_credential(owners_[id], id)->secrets;
    EXPECT_NE(now["token"]["c"], sealed["token"]["c"]) << id;
  }
  // Nothing left: a third run does nothing.
  auto third = rotate_credentials(*vault_, *store_, 5);
  ASSERT_OK(third);
  EXPECT_EQ(third->rekeyed, 0);
  EXPECT_EQ(third->remaining, 0);

  // Version 1 can now be retired: a key file without it opens everything and passes verify().
  const std::string text = testing::read_file(key_path_);
  const std::string only_v2 = tmp_ / "v2-only.key";
  testing::write_file(only_v2, text.substr(text.find("weft-master-key v2")));
  auto ring = MasterKeyring::load(only_v2);
  ASSERT_OK(ring);
  Vault retired(std::shared_ptr<MasterKeyring>(std::move(ring).value()), store_);
  ASSERT_OK(retired.verify());
  expect_all_under(2, retired);
}

// Injects an edit between the rotation's read of a page and its writes: the first time a page of
// credentials to rekey is listed, `edit` runs (through the real store) for the page's first
// credential.
class EditDuringListing : public store::testing::ForwardingStore {
 public:
  EditDuringListing(std::shared_ptr<store::Store> inner,
                    std::function<void(const store::CredentialRecord&)> edit)
      : ForwardingStore(std::move(inner)), edit_(std::move(edit)) {}
  Result<std::vector<store::CredentialRecord>> list_credentials_to_rekey(int64_t below,
                                                                         const std::string& after,
                                                                         int64_t limit) override {
    auto page = inner_->list_credentials_to_rekey(below, after, limit);
    if (page.ok() && !page->empty() && !done_) {
      done_ = true;
      edit_(page->front());
    }
    return page;
  }

 private:
  std::function<void(const store::CredentialRecord&)> edit_;
  bool done_ = false;
};

TEST_P(RotationTest, AnEditDuringRotationWinsAndTheRowIsRetried) {
  create_credentials(6);
  ASSERT_EQ(add_version_and_reload(), 2);
  std::string edited_id;
  // A stale server edits only non-secret data: the row keeps its v1 ciphertexts, so the rotation
  // must come back for it.
  EditDuringListing racing(store_, [&](const store::CredentialRecord& c) {
    edited_id = c.id;
    store::CredentialUpdate u;
    u.name = "renamed during rotation";
    u.data = Json::object({{"edited", true}});
    u.updated_at_ms = c.updated_at_ms;  // even with a clock that has not moved
    auto r = store_->update_credential(c.owner_id, c.id, u);
    ASSERT_TRUE(r.ok()) << r.error().message;
  });
  auto result = rotate_credentials(*vault_, racing, 4);
  ASSERT_OK(result);
  EXPECT_EQ(result->conflicts, 1);
  EXPECT_EQ(result->rounds, 2);
  EXPECT_EQ(result->rekeyed, 6);
  EXPECT_EQ(result->remaining, 0);
  expect_all_under(2, *vault_);
  auto edited = store_->get_credential(owners_[edited_id], edited_id);
  ASSERT_OK(edited);
  EXPECT_EQ(edited->name, "renamed during rotation");
  EXPECT_EQ(edited->data, Json::object({{"edited", true}}));
}

TEST_P(RotationTest, ANewSecretWrittenDuringRotationIsNotOverwritten) {
  create_credentials(5);
  ASSERT_EQ(add_version_and_reload(), 2);
  std::map<std::string, Json> expected;
  // A user replaces a secret (sealed with the new version) between the rotation's read and write.
  EditDuringListing racing(store_, [&](const store::CredentialRecord& c) {
    Json fresh = Json::object({{"token", "brand-new-" + random_hex(4)}, {"refresh", "r2"}});
    expected[c.id] = fresh;
    auto sealed = vault_->seal_fields(c.owner_id, c.id, fresh);
    ASSERT_TRUE(sealed.ok());
    store::CredentialUpdate u;
    u.secrets = *sealed;
    u.updated_at_ms = wall_ms();
    auto r = store_->update_credential(c.owner_id, c.id, u);
    ASSERT_TRUE(r.ok()) << r.error().message;
  });
  auto result = rotate_credentials(*vault_, racing, 10);
  ASSERT_OK(result);
  EXPECT_EQ(result->conflicts, 1);
  EXPECT_EQ(result->rekeyed, 4) << "the edited row was already under version 2";
  EXPECT_EQ(result->remaining, 0);
  expect_all_under(2, *vault_, expected);
}

TEST_P(RotationTest, TwoRotationsAtOnceLoseNothing) {
  create_credentials(30);
  ASSERT_EQ(add_version_and_reload(), 2);
  auto other_vault = make_vault(store_);
  ASSERT_TRUE(other_vault);
  auto other_store = db_->open();  // its own connections, as another process would have
  ASSERT_OK(other_store);
  Result<RotateProgress> a = Error("pending", ""), b = Error("pending", "");
  std::thread ta([&] { a = rotate_credentials(*vault_, *store_, 3); });
  std::thread tb([&] { b = rotate_credentials(*other_vault, **other_store, 3); });
  ta.join();
  tb.join();
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->remaining, 0);
  EXPECT_EQ(b->remaining, 0);
  // Each row is rewritten exactly once: whichever rotation comes second to a row finds its token
  // changed (a conflict) and, in its next round, the row no longer below the target.
  EXPECT_EQ(a->rekeyed + b->rekeyed, 30);
  expect_all_under(2, *vault_);
}

TEST_P(RotationTest, ACredentialThatDoesNotOpenStopsTheRotation) {
  create_credentials(3);
  // Tamper with one row's ciphertext (through the store: a valid-looking sealed value).
  const std::string victim = plain_.begin()->first;
  auto c = store_->get_credential(owners_[victim], victim);
  ASSERT_OK(c);
  Json token = c->secrets["token"];
  std::string bytes = testing::unb64url(token["c"].as_string());
  bytes[30] = static_cast<char>(bytes[30] ^ 1);
  token.set("c", testing::b64url(bytes));
  store::CredentialUpdate u;
  u.secrets = testing::with_field(c->secrets, "token", token);
  u.updated_at_ms = wall_ms();
  ASSERT_OK(store_->update_credential(owners_[victim], victim, u));
  ASSERT_EQ(add_version_and_reload(), 2);

  auto r = rotate_credentials(*vault_, *store_, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "vault_decrypt_failed");
  EXPECT_NE(r.error().message.find(victim), std::string::npos) << r.error().message;
  for (const auto& [id, plain] : plain_) {
    EXPECT_EQ(r.error().message.find(plain["token"].as_string()), std::string::npos) << r.error().message;
  }
  EXPECT_CODE(rotate_credentials(*vault_, *store_, 0), "invalid_argument");
  EXPECT_CODE(rotate_credentials(*vault_, *store_, 1001), "invalid_argument");
}

// A server and `weft keys rotate` at once: two Vaults over the same key file and database. The
// server must seal new and edited secrets with the version the rotation added, without being
// restarted, or the old version could never be retired.
TEST_P(RotationTest, ARunningServerSealsWithTheVersionTheRotationAdded) {
  create_credentials(4);
  auto server = make_vault(store_);  // loaded before the rotation
  ASSERT_TRUE(server);
  ASSERT_OK(server->verify());
  ASSERT_EQ(server->keys().current_version(), 1);

  // The CLI (keys rotate): adds a version, reloads its own keyring, verifies, re-encrypts.
  ASSERT_EQ(add_version_and_reload(), 2);
  auto rotated = rotate_credentials(*vault_, *store_, 10);
  ASSERT_OK(rotated);
  EXPECT_EQ(rotated->remaining, 0);

  // The server creates a credential, and edits a re-encrypted one.
  store::CredentialRecord fresh;
  fresh.id = new_id();
  fresh.owner_id = "owner0";
  fresh.name = "created while rotating";
  fresh.type = "http_bearer";
  Json plain = Json::object({{"token", "new-" + random_hex(8)}});
  auto sealed = server->seal_fields(fresh.owner_id, fresh.id, plain);
  ASSERT_OK(sealed);
  EXPECT_EQ((*sealed)["token"]["v"], Json(2)) << "the server sealed with the version being retired";
  EXPECT_EQ(server->keys().current_version(), 2);
  fresh.secrets = *sealed;
  ASSERT_OK(store_->create_credential(fresh));
  plain_[fresh.id] = plain;
  owners_[fresh.id] = fresh.owner_id;

  const std::string edited = plain_.begin()->first;
  Json replaced = Json::object({{"token", "edited-" + random_hex(8)}, {"refresh", "r"}});
  auto resealed = server->seal_fields(owners_[edited], edited, replaced);
  ASSERT_OK(resealed);
  store::CredentialUpdate u;
  u.secrets = *resealed;
  u.updated_at_ms = wall_ms();
  ASSERT_OK(store_->update_credential(owners_[edited], edited, u));
  plain_[edited] = replaced;

  // A re-run finds nothing left below version 2 ...
  auto again = rotate_credentials(*vault_, *store_, 10);
  ASSERT_OK(again);
  EXPECT_EQ(again->rekeyed, 0);
  EXPECT_EQ(again->remaining, 0);
  // ... and version 1 can go: a file with version 2 only opens every credential.
  const std::string text = testing::read_file(key_path_);
  const std::string only_v2 = tmp_ / "v2-only.key";
  testing::write_file(only_v2, text.substr(text.find("weft-master-key v2")));
  auto ring = MasterKeyring::load(only_v2);
  ASSERT_OK(ring);
  Vault retired(std::shared_ptr<MasterKeyring>(std::move(ring).value()), store_);
  ASSERT_OK(retired.verify());
  expect_all_under(2, retired);
}

// Injects a write at the n-th listing of credentials to rekey.
class WriteAtListing : public store::testing::ForwardingStore {
 public:
  WriteAtListing(std::shared_ptr<store::Store> inner, int at, std::function<void()> write)
      : ForwardingStore(std::move(inner)), at_(at), write_(std::move(write)) {}
  Result<std::vector<store::CredentialRecord>> list_credentials_to_rekey(int64_t below,
                                                                         const std::string& after,
                                                                         int64_t limit) override {
    if (++calls_ == at_) write_();
    return inner_->list_credentials_to_rekey(below, after, limit);
  }

 private:
  int at_;
  std::function<void()> write_;
  int calls_ = 0;
};

// A server that has not seen the new version yet writes a row under the old one behind the
// rotation's cursor: the rotation counts again after its pass and goes round once more, so it
// never reports 0 below the target while such a row exists.
TEST_P(RotationTest, RowsWrittenUnderTheOldVersionDuringAPassAreCountedAndRotated) {
  create_credentials(6);
  // A stale server: its own copy of the key file, version 1 only.
  const std::string stale_path = tmp_ / "stale/master.key";
  testing::write_file(stale_path, testing::read_file(key_path_));
  auto ring = MasterKeyring::load(stale_path);
  ASSERT_OK(ring);
  auto stale = std::make_shared<Vault>(std::shared_ptr<MasterKeyring>(std::move(ring).value()), store_);
  ASSERT_EQ(add_version_and_reload(), 2);

  const std::string first = plain_.begin()->first;  // ids are listed in order: the first page has it
  std::map<std::string, Json> expected;
  WriteAtListing racing(store_, 2, [&] {
    // Second page: `first` was re-encrypted by the first one; the stale server rewrites it.
    Json plain = Json::object({{"token", "stale-" + random_hex(6)}, {"refresh", "s"}});
    expected[first] = plain;
    auto sealed = stale->seal_fields(owners_[first], first, plain);
    ASSERT_TRUE(sealed.ok());
    ASSERT_EQ((*sealed)["token"]["v"], Json(1));
    store::CredentialUpdate u;
    u.secrets = *sealed;
    u.updated_at_ms = wall_ms();
    ASSERT_TRUE(store_->update_credential(owners_[first], first, u).ok());
  });
  auto result = rotate_credentials(*vault_, racing, 4);
  ASSERT_OK(result);
  EXPECT_EQ(result->conflicts, 0);
  EXPECT_EQ(result->remaining, 0);
  EXPECT_EQ(result->rounds, 2);
  EXPECT_EQ(result->rekeyed, 7);  // six, and the rewritten one again
  expect_all_under(2, *vault_, expected);
}

INSTANTIATE_TEST_SUITE_P(Backends, RotationTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace weft::vault
