// The credentials vault (PRODUCT.md §6, issue 4): authenticated encryption of credential secrets
// with libsodium's XChaCha20-Poly1305 (IETF), each field bound by associated data to its owner,
// credential id, field name and key version, under a master key read from a file that lives
// outside the data directory.
//
// Key file format (text, owner-only permissions, one key per line, '#' comments allowed):
//     weft-master-key v<N> <base64url of 32 random bytes>
// Versions are positive integers; the highest is the CURRENT version (new ciphertexts use it).
// Rotation appends a line (MasterKeyring::add_version) and re-encrypts rows in batches
// (rotate_credentials); running vaults notice the changed file before their next seal. Old lines
// may be removed once no row uses them (a rotation run that reports 0 remaining).
//
// Keys live in sodium_malloc'd memory (guard pages, mlock'd, wiped and freed on destruction,
// read-only except while being loaded).
//
// Thread-safety: MasterKeyring and Vault may be used from many threads at once (reload() included).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "host/core/json.hpp"
#include "host/core/result.hpp"
#include "host/store/store.hpp"

struct stat;

namespace weft::vault {

// Error codes:
//   "vault_key_missing"     the key file does not exist / is empty
//   "vault_key_invalid"     a malformed line, duplicate version, wrong length, unsafe permissions
//                           (group/other readable), a file not owned by the effective user, or
//                           the file lies inside the data directory
//   "vault_key_wrong"       a key does not decrypt its version's check value in the database
//   "vault_key_unknown"     a ciphertext (or a row) uses a key version the key file lacks
//   "vault_decrypt_failed"  authentication failed: tampered, copied to another row/field/owner
//   "vault_io"              reading/writing the key file failed

class MasterKeyring {
 public:
  ~MasterKeyring();
  MasterKeyring(const MasterKeyring&) = delete;
  MasterKeyring& operator=(const MasterKeyring&) = delete;

  // Loads `path`. Refuses files with any group/other permission bit, files owned by another user
  // than the effective one, and (when data_dir is not empty) files inside data_dir, compared
  // after resolving symlinks (realpath).
  static Result<std::unique_ptr<MasterKeyring>> load(const std::string& path,
                                                     const std::string& data_dir = "");
  // Creates a new key file with version 1 (mode 0600; a missing parent directory is created with
  // mode 0700). Fails with "vault_io" when the file exists.
  static Status create(const std::string& path);
  // Appends version current+1 to the key file (atomically: temp file + rename, 0600), holding an
  // exclusive flock on the file's directory so that two concurrent rotations do not both add the
  // same version. The file must be valid (as load() checks it). Returns the new version. The
  // running keyring is not changed: call reload().
  static Result<int64_t> add_version(const std::string& path);

  // Re-reads the file (e.g. after another process added a version). Versions only ever get
  // added to a running keyring: versions new in the file are added, versions no longer in the
  // file stay loaded, and a version whose key differs from the loaded one makes the reload fail
  // ("vault_key_invalid") without changing anything.
  Status reload();
  // reload() when the file is not the one last read (device, inode, size, mtime or ctime differ:
  // `weft keys rotate` replaces it by rename); otherwise only a stat(). Returns the reload's or
  // the stat's error, keeping the loaded keys.
  Status reload_if_changed();

  int64_t current_version() const;
  std::vector<int64_t> versions() const;
  bool has(int64_t version) const;
  const std::string& path() const { return path_; }

  // AEAD with the key of `version`. Output/input: nonce (24 bytes) || ciphertext+tag.
  Result<std::string> seal(int64_t version, std::string_view plaintext, std::string_view ad) const;
  Result<std::string> open(int64_t version, std::string_view sealed, std::string_view ad) const;

 private:
  MasterKeyring() = default;
  struct Key;
  using KeyMap = std::map<int64_t, std::shared_ptr<Key>>;
  // Parses the key file's text; messages name the file and line, never a key.
  static Result<KeyMap> parse(const std::string& path, std::string_view text);

  // Identifies the version of the key file last read.
  struct FileStamp {
    uint64_t dev = 0;
    uint64_t ino = 0;
    int64_t size = -1;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  static FileStamp stamp_of(const struct stat& st);

  std::string path_;
  std::string data_dir_;
  mutable std::mutex mu_;
  KeyMap keys_;
  FileStamp stamp_;  // guarded by mu_
};

// Credential secrets sealed and opened field by field, and the start-up checks.
class Vault {
 public:
  Vault(std::shared_ptr<MasterKeyring> keys, std::shared_ptr<store::Store> store);

  // Start-up: makes sure every key version in the file has a check value in the database
  // (creating missing ones), every check the file has a key for decrypts ("vault_key_wrong"
  // otherwise), and every key version used by credential rows is in the file
  // ("vault_key_unknown" otherwise). A check value is only created for a version whose key opens
  // a credential field sealed with that version, when any exists ("vault_key_wrong" otherwise):
  // a database whose check rows are missing does not adopt whatever key is loaded.
  Status verify();

  // Seals every field of `secrets` (a JSON object of strings) for (owner, credential id) under the
  // newest key version in the key file: {"<field>": {"v": N, "c": "..."}}. Before sealing, the
  // keyring is reloaded when the key file changed (MasterKeyring::reload_if_changed, a stat() per
  // call), so a server keeps sealing with the newest version while `weft keys rotate` runs; when
  // that reload fails the loaded keys are used. AD = "weft.credential.v1\0" owner "\0"
  // id "\0" field "\0" version (decimal). owner, id and field names must not contain NUL (the
  // separator), and the credential id must not be empty ("invalid_argument").
  Result<Json> seal_fields(const std::string& owner_id, const std::string& credential_id,
                           const Json& secrets);
  // Opens a sealed map back into {"<field>": "<plaintext>"}. An unknown version triggers one
  // keyring reload (at most one per second per Vault) before failing with "vault_key_unknown". A
  // malformed sealed value fails with "vault_decrypt_failed" like a tampered one.
  Result<Json> open_fields(const std::string& owner_id, const std::string& credential_id, const Json& sealed);

  // The lowest key version in a sealed map (0 when it is empty): CredentialRecord::key_version.
  static int64_t lowest_version(const Json& sealed);

  MasterKeyring& keys() { return *keys_; }

 private:
  // verify(): "vault_key_wrong" when credentials use `version` and its key opens none of (up to
  // five of) their fields sealed with it.
  Status key_opens_credentials(int64_t version);

  std::shared_ptr<MasterKeyring> keys_;
  std::shared_ptr<store::Store> store_;
  std::mutex reload_mu_;
  int64_t last_reload_ms_ = 0;
};

struct RotateProgress {
  int64_t target_version = 0;
  int64_t rekeyed = 0;    // credentials re-encrypted by this call
  int64_t conflicts = 0;  // edited concurrently: skipped this round, picked up next round
  int64_t remaining = 0;  // credentials still below target_version afterwards; -1 (not known
                          // yet) in the progress callbacks
  int64_t rounds = 0;     // passes over the credentials (a pass with conflicts is followed by
                          // another, at most 10)
  bool stopped = false;   // `stop` was set: the run ended early (run again to resume)
};

// Re-encrypts every credential whose key_version < vault.keys().current_version() (after
// reload_if_changed), in batches of `batch` (1..1000; one store transaction per credential,
// optimistic: a concurrent edit wins and the row is retried in the next round). After a round the
// rows still below the target are counted again: rows written meanwhile under an older version
// (a server that had not seen the new key yet) start another round, so `remaining` is what the
// database holds when the run ends. Resumable: running it again continues where it stopped
// (rows already re-encrypted are no longer below the target). `progress` (optional) is called
// after each batch; `stop` (optional) is checked after each batch and ends the run when set.
// A credential that does not open (vault_key_unknown / vault_decrypt_failed) stops the run with
// that error, naming the credential: its old key must not be retired.
Result<RotateProgress> rotate_credentials(Vault& vault, store::Store& store, int64_t batch = 100,
                                          const std::function<void(const RotateProgress&)>& progress = {},
                                          const std::atomic<bool>* stop = nullptr);

}  // namespace weft::vault
