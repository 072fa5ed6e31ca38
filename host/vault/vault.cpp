#include "host/vault/vault.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include "host/core/call.hpp"
#include "host/core/ids.hpp"

namespace weft::vault {

namespace fs = std::filesystem;

namespace {

constexpr size_t kKeyBytes = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::string_view kLinePrefix = "weft-master-key";
// A key file holds a handful of short lines; anything much larger is not one.
constexpr size_t kMaxKeyFileBytes = 64 * 1024;

constexpr std::string_view kCheckText = "weft-vault-check-v1";
constexpr int64_t kReloadIntervalMs = 1000;
constexpr int kMaxRotateRounds = 10;

bool sodium_ready() {
  // sodium_init() is thread-safe and idempotent; -1 means libsodium cannot be used at all.
  static const bool ready = sodium_init() >= 0;
  return ready;
}

Error sodium_unavailable() {
  return Error("vault_io", "libsodium failed to initialize");
}

std::string errno_text(int err) {
  return std::strerror(err);
}

// A buffer in sodium_malloc'd memory, wiped when freed: holds the key file's text (it contains
// every key) while it is parsed.
class SecretBuffer {
 public:
  explicit SecretBuffer(size_t size) : size_(size) {
    data_ = static_cast<char*>(sodium_malloc(size == 0 ? 1 : size));
  }
  ~SecretBuffer() {
    if (data_) sodium_free(data_);
  }
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  bool ok() const { return data_ != nullptr; }
  char* data() { return data_; }
  size_t size() const { return size_; }
  void set_size(size_t n) { size_ = n; }
  std::string_view view() const { return {data_, size_}; }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
};

struct FileCloser {
  int fd = -1;
  ~FileCloser() {
    if (fd >= 0) ::close(fd);
  }
};

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Whether `inner` is `outer` or lies below it (both absolute and normalized).
bool path_within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;  // a trailing separator
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

// Reads the key file into secure memory after checking what it is: a regular file (symlinks are
// followed) owned by the effective user, with no group/other permission bits, outside data_dir.
// `info` (optional) receives the file's fstat, which identifies the version of the file read.
Result<std::unique_ptr<SecretBuffer>> read_key_file(const std::string& path, const std::string& data_dir,
                                                    struct stat* info = nullptr) {
  if (path.empty()) return Error("vault_key_missing", "no master key file is configured");
  FileCloser f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Error("vault_key_missing", "master key file " + path + " does not exist");
    return Error("vault_io", "cannot open master key file " + path + ": " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    return Error("vault_io", "cannot stat master key file " + path + ": " + errno_text(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Error("vault_key_invalid", "master key file " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    return Error("vault_key_invalid", "master key file " + path + " has mode " + mode_text(st.st_mode) +
                                          ": it must be accessible by its owner only (chmod 600)");
  }
  // Another account's file (even one we may read, e.g. as root) could be swapped for a key of
  // its owner's choosing: the key file belongs to the account that runs Weft.
  if (st.st_uid != ::geteuid()) {
    return Error("vault_key_invalid", "master key file " + path + " is owned by uid " +
                                          std::to_string(st.st_uid) + ", not by the user running weft (uid " +
                                          std::to_string(::geteuid()) + "): chown it");
  }
  if (!data_dir.empty()) {
    std::error_code ec;
    const fs::path real = fs::canonical(path, ec);
    if (ec) return Error("vault_io", "cannot resolve master key file " + path + ": " + ec.message());
    const fs::path dir = fs::weakly_canonical(fs::absolute(data_dir, ec), ec);
    if (ec) return Error("vault_io", "cannot resolve data directory " + data_dir + ": " + ec.message());
    if (path_within(real, dir)) {
      return Error("vault_key_invalid", "master key file " + path + " lies inside the data directory " +
                                            data_dir +
                                            ": keep it elsewhere (a copy of the data must not "
                                            "carry the key that decrypts it)");
    }
  }
  if (st.st_size <= 0) return Error("vault_key_missing", "master key file " + path + " is empty");
  if (static_cast<size_t>(st.st_size) > kMaxKeyFileBytes) {
    return Error("vault_key_invalid", "master key file " + path + " is larger than " +
                                          std::to_string(kMaxKeyFileBytes) + " bytes");
  }
  auto buf = std::make_unique<SecretBuffer>(static_cast<size_t>(st.st_size));
  if (!buf->ok()) return Error("vault_io", "cannot allocate secure memory for the master key file");
  size_t got = 0;
  while (got < buf->size()) {
    const ssize_t n = ::read(f.fd, buf->data() + got, buf->size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error("vault_io", "cannot read master key file " + path + ": " + errno_text(errno));
    if (n == 0) break;  // shrank while being read: parse what is there
    got += static_cast<size_t>(n);
  }
  buf->set_size(got);
  if (info) *info = st;
  return buf;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// "v<N>" with N a positive decimal integer without leading zeros.
std::optional<int64_t> parse_version(std::string_view token) {
  if (token.size() < 2 || token[0] != 'v' || token[1] == '0') return std::nullopt;
  int64_t v = 0;
  const char* first = token.data() + 1;
  const char* last = token.data() + token.size();
  auto [end, ec] = std::from_chars(first, last, v);
  if (ec != std::errc() || end != last || v <= 0) return std::nullopt;
  return v;
}

std::string b64url(std::string_view bytes) {
  const size_t len = sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  std::string out(len, '\0');
  sodium_bin2base64(out.data(), len, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(len - 1);  // the encoder's terminating NUL
  return out;
}

std::optional<std::string> unb64url(std::string_view text) {
  std::string out(text.size() * 3 / 4 + 1, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(),
                        nullptr, &len, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// A new key line "weft-master-key v<N> <base64url>\n" in secure memory.
std::unique_ptr<SecretBuffer> new_key_line(int64_t version) {
  const std::string head = std::string(kLinePrefix) + " v" + std::to_string(version) + " ";
  const size_t b64_len = sodium_base64_encoded_len(kKeyBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  auto line = std::make_unique<SecretBuffer>(head.size() + b64_len);  // b64_len counts a NUL: room for '\n'
  SecretBuffer key(kKeyBytes);
  if (!line->ok() || !key.ok()) return nullptr;
  randombytes_buf(key.data(), kKeyBytes);
  std::memcpy(line->data(), head.data(), head.size());
  sodium_bin2base64(line->data() + head.size(), b64_len, reinterpret_cast<unsigned char*>(key.data()),
                    kKeyBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  line->data()[head.size() + b64_len - 1] = '\n';  // over the encoder's NUL
  return line;
}

std::string field_ad(const std::string& owner, const std::string& id, const std::string& field,
                     int64_t version) {
  std::string ad = "weft.credential.v1";
  ad.push_back('\0');
  ad += owner;
  ad.push_back('\0');
  ad += id;
  ad.push_back('\0');
  ad += field;
  ad.push_back('\0');
  ad += std::to_string(version);
  return ad;
}

std::string check_ad(int64_t version) {
  std::string ad = "weft.vault-check.v1";
  ad.push_back('\0');
  ad += std::to_string(version);
  return ad;
}

bool has_nul(const std::string& s) {
  return s.find('\0') != std::string::npos;
}

}  // namespace

// ---- MasterKeyring -----------------------------------------------------------------------------

// One key in sodium_malloc'd memory: guard pages around it, mlock'd where the system allows,
// read-only once loaded, wiped by sodium_free.
struct MasterKeyring::Key {
  unsigned char* bytes = nullptr;
  Key() : bytes(static_cast<unsigned char*>(sodium_malloc(kKeyBytes))) {}
  ~Key() {
    if (bytes) sodium_free(bytes);
  }
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
};

MasterKeyring::~MasterKeyring() = default;

Result<MasterKeyring::KeyMap> MasterKeyring::parse(const std::string& path, std::string_view text) {
  KeyMap keys;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "master key file " + path + " line " + std::to_string(line_no);
    // Exactly three fields separated by blanks.
    std::string_view fields[3];
    size_t n = 0;
    std::string_view rest = line;
    while (!rest.empty()) {
      const size_t end = rest.find_first_of(" \t");
      if (n == 3) return Error("vault_key_invalid", where + ": expected 'weft-master-key v<N> <key>'");
      fields[n++] = rest.substr(0, end);
      rest = trim(rest.substr(end == std::string_view::npos ? rest.size() : end));
    }
    if (n != 3 || fields[0] != kLinePrefix) {
      return Error("vault_key_invalid", where + ": expected 'weft-master-key v<N> <key>'");
    }
    auto version = parse_version(fields[1]);
    if (!version) return Error("vault_key_invalid", where + ": the version must be v1, v2, ...");
    if (keys.count(*version)) {
      return Error("vault_key_invalid", where + ": version " + std::to_string(*version) + " appears twice");
    }
    auto key = std::make_shared<Key>();
    if (!key->bytes) return Error("vault_io", "cannot allocate secure memory for a master key");
    size_t len = 0;
    const char* end = nullptr;
    if (sodium_base642bin(key->bytes, kKeyBytes, fields[2].data(), fields[2].size(), nullptr, &len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != fields[2].data() + fields[2].size() || len != kKeyBytes) {
      return Error("vault_key_invalid", where + ": the key must be " + std::to_string(kKeyBytes) +
                                            " bytes in base64url without padding");
    }
    sodium_mprotect_readonly(key->bytes);
    keys.emplace(*version, std::move(key));
  }
  if (keys.empty()) return Error("vault_key_missing", "master key file " + path + " holds no key");
  return keys;
}

Result<std::unique_ptr<MasterKeyring>> MasterKeyring::load(const std::string& path,
                                                           const std::string& data_dir) {
  if (!sodium_ready()) return sodium_unavailable();
  struct stat info {};
  auto text = read_key_file(path, data_dir, &info);
  if (!text.ok()) return text.take_error();
  auto keys = parse(path, (*text)->view());
  if (!keys.ok()) return keys.take_error();
  std::unique_ptr<MasterKeyring> ring(new MasterKeyring());
  ring->path_ = path;
  ring->data_dir_ = data_dir;
  ring->keys_ = std::move(keys).value();
  ring->stamp_ = stamp_of(info);
  return ring;
}

Status MasterKeyring::create(const std::string& path) {
  if (!sodium_ready()) return sodium_unavailable();
  if (path.empty()) return Error("vault_io", "no master key file path given");
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    if (!fs::exists(parent, ec)) {
      fs::create_directories(parent, ec);
      if (ec) return Error("vault_io", "cannot create directory " + parent.string() + ": " + ec.message());
      fs::permissions(parent, fs::perms::owner_all, fs::perm_options::replace, ec);
      if (ec) return Error("vault_io", "cannot restrict directory " + parent.string() + ": " + ec.message());
    }
  }
  FileCloser f;
  f.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (f.fd < 0) {
    const int err = errno;
    if (err == EEXIST) return Error("vault_io", "master key file " + path + " already exists");
    return Error("vault_io", "cannot create master key file " + path + ": " + errno_text(err));
  }
  auto line = new_key_line(1);
  if (!line) return Error("vault_io", "cannot allocate secure memory for a master key");
  static constexpr std::string_view kHeader =
      "# Weft master key file. Keep it outside the data directory, readable by its owner only.\n"
      "# Each line is one key version; the highest is used for new secrets. Never edit a key:\n"
      "# rotate with `weft keys rotate`, and remove a line only when no credential uses it.\n";
  if (::fchmod(f.fd, 0600) != 0 || !write_all(f.fd, kHeader.data(), kHeader.size()) ||
      !write_all(f.fd, line->data(), line->size()) || ::fsync(f.fd) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return Error("vault_io", "cannot write master key file " + path + ": " + errno_text(err));
  }
  return {};
}

Result<int64_t> MasterKeyring::add_version(const std::string& path) {
  if (!sodium_ready()) return sodium_unavailable();
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  FileCloser dir_fd;
  dir_fd.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd.fd < 0)
    return Error("vault_io", "cannot open directory " + dir.string() + ": " + errno_text(errno));
  // Serializes rotations of key files in this directory (released when dir_fd closes).
  while (::flock(dir_fd.fd, LOCK_EX) != 0) {
    if (errno != EINTR)
      return Error("vault_io", "cannot lock directory " + dir.string() + ": " + errno_text(errno));
  }
  auto text = read_key_file(path, "");
  if (!text.ok()) return text.take_error();
  auto keys = parse(path, (*text)->view());
  if (!keys.ok()) return keys.take_error();
  const int64_t version = keys->rbegin()->first + 1;
  auto line = new_key_line(version);
  if (!line) return Error("vault_io", "cannot allocate secure memory for a master key");

  const std::string tmp = path + ".tmp-" + random_hex(6);
  FileCloser f;
  f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (f.fd < 0) return Error("vault_io", "cannot create " + tmp + ": " + errno_text(errno));
  const std::string_view old = (*text)->view();
  const bool ok = ::fchmod(f.fd, 0600) == 0 && write_all(f.fd, old.data(), old.size()) &&
                  (old.empty() || old.back() == '\n' || write_all(f.fd, "\n", 1)) &&
                  write_all(f.fd, line->data(), line->size()) && ::fsync(f.fd) == 0;
  const int err = errno;
  ::close(f.fd);
  f.fd = -1;
  if (!ok) {
    ::unlink(tmp.c_str());
    return Error("vault_io", "cannot write " + tmp + ": " + errno_text(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int rerr = errno;
    ::unlink(tmp.c_str());
    return Error("vault_io", "cannot replace master key file " + path + ": " + errno_text(rerr));
  }
  ::fsync(dir_fd.fd);  // the rename itself
  return version;
}

MasterKeyring::FileStamp MasterKeyring::stamp_of(const struct stat& st) {
  FileStamp f;
  f.dev = static_cast<uint64_t>(st.st_dev);
  f.ino = static_cast<uint64_t>(st.st_ino);
  f.size = static_cast<int64_t>(st.st_size);
  f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  f.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  return f;
}

Status MasterKeyring::reload() {
  struct stat info {};
  auto text = read_key_file(path_, data_dir_, &info);
  if (!text.ok()) return text.take_error();
  auto fresh = parse(path_, (*text)->view());
  if (!fresh.ok()) return fresh.take_error();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [version, key] : *fresh) {
    auto it = keys_.find(version);
    if (it != keys_.end() && sodium_memcmp(it->second->bytes, key->bytes, kKeyBytes) != 0) {
      return Error("vault_key_invalid", "master key file " + path_ + ": the key of version " +
                                            std::to_string(version) +
                                            " differs from the one loaded; keys must never change");
    }
  }
  for (auto& [version, key] : *fresh) keys_.emplace(version, std::move(key));  // keeps loaded ones
  stamp_ = stamp_of(info);
  return {};
}

Status MasterKeyring::reload_if_changed() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return Error("vault_key_missing", "master key file " + path_ + " does not exist");
    return Error("vault_io", "cannot stat master key file " + path_ + ": " + errno_text(err));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stamp_of(st) == stamp_) return {};
  }
  return reload();
}

int64_t MasterKeyring::current_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.empty() ? 0 : keys_.rbegin()->first;
}

std::vector<int64_t> MasterKeyring::versions() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> out;
  out.reserve(keys_.size());
  for (const auto& [version, key] : keys_) out.push_back(version);
  return out;
}

bool MasterKeyring::has(int64_t version) const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.count(version) != 0;
}

Result<std::string> MasterKeyring::seal(int64_t version, std::string_view plaintext,
                                        std::string_view ad) const {
  std::shared_ptr<Key> key;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = keys_.find(version);
    if (it != keys_.end()) key = it->second;
  }
  if (!key) {
    return Error("vault_key_unknown",
                 "master key version " + std::to_string(version) + " is not in " + path_);
  }
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, kNonceBytes);
  unsigned long long ct_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + kNonceBytes, &ct_len, reinterpret_cast<const unsigned char*>(plaintext.data()),
      plaintext.size(), reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, nonce,
      key->bytes);
  out.resize(kNonceBytes + static_cast<size_t>(ct_len));
  return out;
}

Result<std::string> MasterKeyring::open(int64_t version, std::string_view sealed, std::string_view ad) const {
  std::shared_ptr<Key> key;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = keys_.find(version);
    if (it != keys_.end()) key = it->second;
  }
  if (!key) {
    return Error("vault_key_unknown",
                 "master key version " + std::to_string(version) + " is not in " + path_);
  }
  if (sealed.size() < kNonceBytes + kTagBytes) {
    return Error("vault_decrypt_failed", "sealed value is too short");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  std::string out(sealed.size() - kNonceBytes - kTagBytes, '\0');
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(out.data()), &len, nullptr,
                                                 nonce + kNonceBytes, sealed.size() - kNonceBytes,
                                                 reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
                                                 nonce, key->bytes) != 0) {
    return Error("vault_decrypt_failed",
                 "sealed value failed authentication under key version " + std::to_string(version));
  }
  out.resize(static_cast<size_t>(len));
  return out;
}

// ---- Vault -------------------------------------------------------------------------------------

Vault::Vault(std::shared_ptr<MasterKeyring> keys, std::shared_ptr<store::Store> store)
    : keys_(std::move(keys)), store_(std::move(store)) {}

Status Vault::verify() {
  auto checks = store_->vault_key_checks();
  if (!checks.ok()) return checks.take_error();
  std::map<int64_t, std::string> stored;
  for (const auto& c : *checks) stored[c.version] = c.check;

  for (int64_t version : keys_->versions()) {
    auto it = stored.find(version);
    if (it == stored.end()) {
      // No check value yet. If credentials already use this version (check rows lost, a restored
      // database), the loaded key must open one of them before it becomes the reference.
      if (Status used = key_opens_credentials(version); !used.ok()) return used;
      auto sealed = keys_->seal(version, kCheckText, check_ad(version));
      if (!sealed.ok()) return sealed.take_error();
      store::VaultKeyCheck check;
      check.version = version;
      check.check = b64url(*sealed);
      check.created_at_ms = wall_ms();
      Status put = store_->put_vault_key_check(check);
      if (put.ok()) continue;
      if (put.error().code != "conflict") return put;
      // Another server wrote this version's check first: verify against that one.
      auto again = store_->vault_key_checks();
      if (!again.ok()) return again.take_error();
      for (const auto& c : *again) stored[c.version] = c.check;
      it = stored.find(version);
      if (it == stored.end()) return put;
    }
    auto raw = unb64url(it->second);
    bool matches = false;
    if (raw) {
      auto opened = keys_->open(version, *raw, check_ad(version));
      matches = opened.ok() && *opened == kCheckText;
    }
    if (!matches) {
      return Error("vault_key_wrong", "master key version " + std::to_string(version) + " in " +
                                          keys_->path() +
                                          " does not match the database (its check value does not decrypt): "
                                          "wrong or edited key file?");
    }
  }

  auto range = store_->credential_key_version_range();
  if (!range.ok()) return range.take_error();
  const auto [highest, lowest] = *range;
  // A credential's fields are sealed with versions from its key_version up to the newest any row
  // uses: every version in that range must be in the file.
  if (highest > 0) {
    const auto versions = keys_->versions();  // ascending
    const int64_t first = std::max<int64_t>(lowest, 1);
    auto it = std::lower_bound(versions.begin(), versions.end(), first);
    // Stops at the first gap, so this never counts far past the file's versions.
    for (int64_t v = first; v <= highest; ++v, ++it) {
      if (it == versions.end() || *it != v) {
        return Error("vault_key_unknown", "credentials use master key version " + std::to_string(v) +
                                              ", which " + keys_->path() + " lacks");
      }
    }
  }
  return {};
}

Status Vault::key_opens_credentials(int64_t version) {
  auto range = store_->credential_key_version_range();
  if (!range.ok()) return range.take_error();
  const auto [highest, lowest] = *range;
  // Fields sealed with `version` can only be in rows whose key_version (their lowest field
  // version) is at most `version`, and only when some row reaches it.
  if (highest < version || lowest > version) return {};
  constexpr int kMaxTried = 5;  // credentials tried (one field each); one that opens settles it
  int tried = 0;
  std::string after;
  while (tried < kMaxTried) {
    auto page = store_->list_credentials_to_rekey(version + 1, after, 200);
    if (!page.ok()) return page.take_error();
    if (page->empty()) break;
    for (const auto& c : *page) {
      after = c.id;
      if (tried >= kMaxTried) break;
      if (has_nul(c.owner_id) || has_nul(c.id)) continue;
      for (const auto& [field, value] : c.secrets.as_object()) {
        const Json* v = value.find("v");
        const Json* text = value.find("c");
        if (!v || !v->is_int() || v->as_int() != version || !text || !text->is_string() || has_nul(field))
          continue;
        auto raw = unb64url(text->as_string());
        if (raw && keys_->open(version, *raw, field_ad(c.owner_id, c.id, field, version)).ok()) return {};
        ++tried;  // one field per credential: a single damaged row does not decide alone
        break;
      }
    }
  }
  if (tried == 0) return {};  // no field actually sealed with this version
  return Error("vault_key_wrong", "master key version " + std::to_string(version) + " in " + keys_->path() +
                                      " does not open the credentials sealed with that version (and the "
                                      "database has no check value for it): wrong or edited key file?");
}

int64_t Vault::lowest_version(const Json& sealed) {
  int64_t lowest = 0;
  for (const auto& [field, value] : sealed.as_object()) {
    const int64_t v = value["v"].as_int();
    if (v > 0 && (lowest == 0 || v < lowest)) lowest = v;
  }
  return lowest;
}

Result<Json> Vault::seal_fields(const std::string& owner_id, const std::string& credential_id,
                                const Json& secrets) {
  if (!secrets.is_object()) {
    return Error("invalid_argument",
                 std::string("credential secrets must be an object, got ") + secrets.type_name());
  }
  if (credential_id.empty() || has_nul(owner_id) || has_nul(credential_id)) {
    return Error("invalid_argument", "a credential to seal needs an id, and ids may not contain NUL");
  }
  // `weft keys rotate` may have added a version since: seal with the newest one in the file, never
  // with one the rotation is moving rows away from. A failed reload keeps the loaded keys.
  (void)keys_->reload_if_changed();
  const int64_t version = keys_->current_version();
  Json out = Json::object();
  for (const auto& [field, value] : secrets.as_object()) {
    if (!value.is_string()) {
      return Error("invalid_argument",
                   "credential secret field '" + field + "' must be a string, got " + value.type_name());
    }
    if (has_nul(field)) return Error("invalid_argument", "a credential secret field name contains NUL");
    auto sealed = keys_->seal(version, value.as_string(), field_ad(owner_id, credential_id, field, version));
    if (!sealed.ok()) return sealed.take_error();
    out.set(field, Json::object({{"v", version}, {"c", b64url(*sealed)}}));
  }
  return out;
}

Result<Json> Vault::open_fields(const std::string& owner_id, const std::string& credential_id,
                                const Json& sealed) {
  if (!sealed.is_object()) {
    return Error("vault_decrypt_failed",
                 "credential '" + credential_id + "': its secrets are not a sealed map");
  }
  Json out = Json::object();
  for (const auto& [field, value] : sealed.as_object()) {
    const std::string what = "credential '" + credential_id + "' field '" + field + "'";
    const Json* v = value.find("v");
    const Json* c = value.find("c");
    if (!v || !v->is_int() || v->as_int() < 1 || !c || !c->is_string()) {
      return Error("vault_decrypt_failed", what + " is not a sealed value");
    }
    if (has_nul(owner_id) || has_nul(credential_id) || has_nul(field)) {
      return Error("vault_decrypt_failed", what + " does not open");  // nothing is sealed for such names
    }
    const int64_t version = v->as_int();
    if (!keys_->has(version)) {
      // Another process may have added the version (rotation): look once, at most every second.
      bool reload = false;
      {
        std::lock_guard<std::mutex> lock(reload_mu_);
        const int64_t now = monotonic_ms();
        if (last_reload_ms_ == 0 || now - last_reload_ms_ >= kReloadIntervalMs) {
          last_reload_ms_ = now == 0 ? 1 : now;
          reload = true;
        }
      }
      if (reload) (void)keys_->reload();  // a failed reload keeps the keys there are
      if (!keys_->has(version)) {
        return Error("vault_key_unknown", what + " is sealed with master key version " +
                                              std::to_string(version) + ", which " + keys_->path() +
                                              " lacks");
      }
    }
    auto raw = unb64url(c->as_string());
    if (!raw) return Error("vault_decrypt_failed", what + " is not valid base64url");
    auto opened = keys_->open(version, *raw, field_ad(owner_id, credential_id, field, version));
    if (!opened.ok()) {
      return Error(opened.error().code, what +
                                            " does not open (tampered, or copied from another credential, "
                                            "owner or field)");
    }
    out.set(field, std::move(opened).value());
  }
  return out;
}

// ---- rotation ----------------------------------------------------------------------------------

namespace {

// Credentials still below `target`, counted by paging (normally none are left).
Result<int64_t> count_below(store::Store& store, int64_t target) {
  auto range = store.credential_key_version_range();
  if (!range.ok()) return range.take_error();
  if (range->second >= target) return int64_t{0};
  int64_t n = 0;
  std::string after;
  for (;;) {
    auto page = store.list_credentials_to_rekey(target, after, 1000);
    if (!page.ok()) return page.take_error();
    if (page->empty()) return n;
    n += static_cast<int64_t>(page->size());
    after = page->back().id;
  }
}

}  // namespace

Result<RotateProgress> rotate_credentials(Vault& vault, store::Store& store, int64_t batch,
                                          const std::function<void(const RotateProgress&)>& progress,
                                          const std::atomic<bool>* stop) {
  if (batch < 1 || batch > 1000) {
    return Error("invalid_argument",
                 "rotation batch size must be from 1 to 1000, got " + std::to_string(batch));
  }
  RotateProgress p;
  (void)vault.keys().reload_if_changed();  // a failed reload keeps the loaded keys
  p.target_version = vault.keys().current_version();
  if (p.target_version < 1) return Error("vault_key_missing", "the keyring holds no key");
  while (p.rounds < kMaxRotateRounds && !p.stopped) {
    ++p.rounds;
    int64_t round_conflicts = 0;
    std::string after;
    for (;;) {
      auto page = store.list_credentials_to_rekey(p.target_version, after, batch);
      if (!page.ok()) return page.take_error();
      if (page->empty()) break;
      for (const auto& c : *page) {
        after = c.id;
        auto plain = vault.open_fields(c.owner_id, c.id, c.secrets);
        if (!plain.ok()) {
          Error e = plain.take_error();
          e.message = "rotation stopped: " + e.message;
          return e;
        }
        auto resealed = vault.seal_fields(c.owner_id, c.id, *plain);
        if (!resealed.ok()) return resealed.take_error();
        Status st = store.rekey_credential(c.id, c.updated_at_ms, *resealed, p.target_version, wall_ms());
        if (st.ok()) {
          ++p.rekeyed;
        } else if (st.error().code == "conflict") {
          ++p.conflicts;  // edited since it was read: the edit stands, the next round retries
          ++round_conflicts;
        } else if (st.error().code != "not_found") {  // not_found: deleted meanwhile, nothing to do
          return st.error();
        }
      }
      if (progress) {
        RotateProgress now = p;
        now.remaining = -1;
        progress(now);
      }
      if (stop && stop->load()) {
        p.stopped = true;
        break;
      }
    }
    if (p.stopped || round_conflicts > 0) continue;
    // A clean pass; rows can still be below the target when they were written under an older
    // version meanwhile (behind this pass's cursor). Count them, and go round again if any.
    auto left = count_below(store, p.target_version);
    if (!left.ok()) return left.take_error();
    if (*left == 0) break;
  }
  auto remaining = count_below(store, p.target_version);
  if (!remaining.ok()) return remaining.take_error();
  p.remaining = *remaining;
  return p;
}

}  // namespace weft::vault
