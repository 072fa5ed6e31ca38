// Kernel-facing helpers of the isolation layer: /proc scans, per-uid sweeps, slot locks, temp dirs.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <filesystem>
#include <string_view>
#include <vector>

#include "host/core/call.hpp"
#include "sandbox/isolation_internal.hpp"

namespace weft::sandbox::detail {
namespace {

std::string errno_text(const std::string& what) { return what + ": " + strerror(errno); }

void sleep_ms(int ms) {
  struct timespec ts{ms / 1000, (ms % 1000) * 1'000'000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// Reads /proc/<pid>/status into buf (NUL-terminated); false when the process is gone.
bool read_status(const char* pid, char* buf, size_t cap) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/status", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t used = 0;
  while (used + 1 < cap) {
    ssize_t n = read(fd, buf + used, cap - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += static_cast<size_t>(n);
  }
  close(fd);
  buf[used] = '\0';
  return used > 0;
}

const char* field(const char* status, const char* name) {
  const char* p = strstr(status, name);
  return p == nullptr ? nullptr : p + strlen(name);
}

}  // namespace

std::map<uid_t, UidPresence> scan_uids(uid_t lo, uid_t hi) {
  std::map<uid_t, UidPresence> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  char buf[4096];
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    if (!read_status(e->d_name, buf, sizeof buf)) continue;
    const char* uids = field(buf, "\nUid:");
    const char* state = field(buf, "\nState:");
    if (uids == nullptr || state == nullptr) continue;
    char* end = nullptr;
    unsigned long r = strtoul(uids, &end, 10);
    unsigned long ef = strtoul(end, &end, 10);
    unsigned long sv = strtoul(end, &end, 10);
    uid_t hit = 0;
    bool found = false;
    for (unsigned long u : {r, ef, sv}) {
      if (u >= lo && u <= hi) {
        hit = static_cast<uid_t>(u);
        found = true;
        break;
      }
    }
    if (!found) continue;
    while (*state == ' ' || *state == '\t') ++state;
    bool zombie = *state == 'Z' || *state == 'X';
    if (zombie) {
      // A leader that called pthread_exit shows as a zombie while its other threads run.
      const char* threads = field(buf, "\nThreads:");
      if (threads != nullptr && strtol(threads, nullptr, 10) > 1) zombie = false;
    }
    UidPresence& p = out[hit];
    if (zombie) {
      ++p.zombies;
    } else {
      ++p.live;
    }
  }
  closedir(d);
  return out;
}

UidPresence sweep_uid(uid_t uid, gid_t gid, int64_t budget_ms) {
  const int64_t until = weft::monotonic_ms() + budget_ms;
  int pause_ms = 1;
  for (;;) {
    // The helper: after fork only raw system calls (the host is multithreaded). It drops to the
    // uid with nothing else, so kill(-1) can reach that uid's processes and no one else's.
    pid_t helper = fork();
    if (helper == 0) {
      if (syscall(SYS_setgroups, 0, nullptr) != 0) _exit(2);
      if (syscall(SYS_setresgid, gid, gid, gid) != 0) _exit(2);
      if (syscall(SYS_setresuid, uid, uid, uid) != 0) _exit(2);
      for (int i = 0; i < 4; ++i) syscall(SYS_kill, -1, SIGKILL);
      _exit(0);
    }
    if (helper > 0) {
      int st = 0;
      while (waitpid(helper, &st, 0) < 0 && errno == EINTR) {
      }
    }
    UidPresence left;
    auto all = scan_uids(uid, uid);
    if (auto it = all.find(uid); it != all.end()) left = it->second;
    if (left.live == 0 || weft::monotonic_ms() >= until) return left;
    // SIGKILL is delivered when the process next leaves the kernel; one in uninterruptible sleep
    // (a large write) takes a moment.
    sleep_ms(pause_ms);
    pause_ms = pause_ms < 20 ? pause_ms * 2 : 20;
  }
}

int lock_uid(const std::string& dir, uid_t uid, std::string& error) {
  std::string path = dir + "/uid-" + std::to_string(uid) + ".lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    error = errno_text(path);
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    error = errno == EWOULDBLOCK ? path + ": held by another Weft process" : errno_text(path);
    close(fd);
    return -1;
  }
  return fd;
}

bool ensure_root_dir(const std::string& path, mode_t mode, std::string& error) {
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    error = errno_text(path);
    return false;
  }
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    error = errno_text(path);
    return false;
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
    error = path + ": not a directory owned by the host's uid";
    return false;
  }
  if ((st.st_mode & 07777) != mode && chmod(path.c_str(), mode) != 0) {
    error = errno_text(path);
    return false;
  }
  return true;
}

bool make_private_tmp(const std::string& path, uid_t uid, gid_t gid, int64_t size_bytes, bool try_mount,
                      bool& mounted, std::string& error) {
  mounted = false;
  if (mkdir(path.c_str(), 0700) != 0) {
    error = errno_text(path);
    return false;
  }
  if (try_mount) {
    std::string opts = "size=" + std::to_string(size_bytes > 0 ? size_bytes : 1) +
                       ",nr_inodes=4096,mode=0700,uid=" + std::to_string(uid) + ",gid=" + std::to_string(gid);
    if (mount("tmpfs", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) == 0) {
      mounted = true;
      return true;
    }
    // The probe said mounting works; fall through to a plain directory rather than failing a
    // job (the file-size limit still bounds each file).
  }
  if (chown(path.c_str(), uid, gid) != 0) {
    error = errno_text(path);
    rmdir(path.c_str());
    return false;
  }
  return true;
}

void remove_private_tmp(const std::string& path, bool mounted) {
  if (path.empty()) return;
  if (mounted) umount2(path.c_str(), MNT_DETACH);
  std::error_code ec;
  std::filesystem::remove_all(path, ec);  // never follows symlinks
}

namespace {

// Every world-writable directory a launcher-only sandbox could leave something in (/tmp,
// /var/tmp, /dev/shm, /run/lock, /dev/mqueue, a 1777 dir below them...): found once per process
// by a shallow scan of /tmp, /var, /run and /dev, not taken from a fixed list.
const std::vector<std::string>& world_writable_dirs() {
  static const std::vector<std::string> dirs = [] {
    std::vector<std::string> out;
    std::vector<std::pair<std::string, int>> todo = {{"/tmp", 0}, {"/var", 0}, {"/run", 0}, {"/dev", 0}};
    while (!todo.empty()) {
      auto [dir, depth] = todo.back();
      todo.pop_back();
      struct stat st;
      if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      if (st.st_mode & S_IWOTH) out.push_back(dir);
      if (depth >= 3 || out.size() > 256) continue;
      DIR* d = opendir(dir.c_str());
      if (d == nullptr) continue;
      while (struct dirent* e = readdir(d)) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
        todo.emplace_back(dir + "/" + e->d_name, depth + 1);
      }
      closedir(d);
    }
    return out;
  }();
  return dirs;
}

}  // namespace

void remove_files_of_uid(uid_t uid) {
  for (const std::string& dir_name : world_writable_dirs()) {
    const char* dir = dir_name.c_str();
    DIR* d = opendir(dir);
    if (d == nullptr) continue;
    std::vector<std::string> doomed;
    while (struct dirent* e = readdir(d)) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (st.st_uid == uid) doomed.push_back(std::string(dir) + "/" + e->d_name);
    }
    closedir(d);
    for (auto& p : doomed) {
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    }
  }
}

std::string self_exe_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string p(buf, static_cast<size_t>(n));
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? std::string() : p.substr(0, slash);
}

}  // namespace weft::sandbox::detail
