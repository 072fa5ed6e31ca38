// load_or_create_secret: the server secret as a hex text file that only its owner may read.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "host/auth/auth.hpp"
#include "host/auth/crypto.hpp"

namespace weft::auth {
namespace {

constexpr size_t kMinSecretBytes = 32;
constexpr size_t kMaxFileBytes = 4096;

Error io_error(const std::string& path, const std::string& what) {
  return Error("io_error", "secret file " + path + ": " + what + ": " + std::strerror(errno));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Result<std::string> read_secret(const std::string& path) {
  // Open first, then check what was opened (fstat), so the checks and the read see one file.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Error("not_found", "secret file " + path + " does not exist");
    return io_error(path, "cannot open");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error(path, "cannot stat");
  if (!S_ISREG(st.st_mode))
    return Error("invalid_argument", "secret file " + path + " is not a regular file");
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Error("invalid_argument",
                 "secret file " + path + " has mode " + mode + ": group/others may access it (chmod 600)");
  }
  std::string text;
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error(path, "cannot read");
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes)
      return Error("invalid_argument", "secret file " + path + " is too large");
  }
  // Editors and `echo` add a trailing newline.
  while (!text.empty() &&
         (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
    text.pop_back();
  }
  auto bytes = from_hex(text);
  if (!bytes) return Error("invalid_argument", "secret file " + path + " is not hex text");
  if (bytes->size() < kMinSecretBytes) {
    return Error("invalid_argument", "secret file " + path + " holds fewer than 32 bytes (64 hex digits)");
  }
  return std::move(*bytes);
}

bool write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

// Creates the file atomically: written in full to a private temporary name, then linked to the
// final name. link() fails when the name exists, so two processes starting together agree on
// one secret (the loser reads the winner's), and nobody ever reads a half-written file.
Status create_secret(const std::string& path) {
  std::filesystem::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec)
      return Error("io_error", "secret file " + path + ": cannot create its directory: " + ec.message());
  }
  std::string tmp = path + ".tmp-" + to_hex(random_bytes(6));
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) return io_error(path, "cannot create");
  std::string text = to_hex(random_bytes(kMinSecretBytes)) + "\n";
  Status st;
  if (!write_all(fd.get(), text)) st = io_error(path, "cannot write");
  if (st.ok() && ::fchmod(fd.get(), 0600) != 0) st = io_error(path, "cannot chmod");
  if (st.ok() && ::fsync(fd.get()) != 0) st = io_error(path, "cannot sync");
  if (st.ok() && ::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST)
    st = io_error(path, "cannot create");
  ::unlink(tmp.c_str());
  return st;
}

}  // namespace

Result<std::string> load_or_create_secret(const std::string& path, bool create) {
  if (path.empty()) return Error("invalid_argument", "secret file path is empty");
  auto r = read_secret(path);
  if (r.ok() || r.error().code != "not_found" || !create) return r;
  if (Status st = create_secret(path); !st.ok()) return st.take_error();
  return read_secret(path);
}

}  // namespace weft::auth
