// weft-sandbox-exec: the inner layer of Weft's sandbox (docs/sandbox.md).
//
// Started by the host, either directly or as the command bubblewrap runs, with its settings as
// arguments and the program's environment as its own environment:
//
//   weft-sandbox-exec [--uid N --gid N] [--cpu-s N] [--data BYTES] [--nproc N] [--fsize BYTES]
//                     [--nofile N] [--no-network] --tmp DIR [--chown-tmp] [--cwd DIR]
//                     [--init] [--fail-at LAYER] -- PROGRAM [ARGS...]
//
// In order: default signal state, a new session, the private temp dir (chowned when it is
// bubblewrap's tmpfs), resource limits, every descriptor above 2 closed, the switch to the slot's
// uid/gid with no supplementary groups (verified: no way back to root, no capabilities left),
// the working directory, PR_SET_NO_NEW_PRIVS, an environment built from the allowed part of its
// own, the seccomp filter, then execve. Just before execve it writes the line
// "weft-sandbox-exec: ready" to stderr, which tells the host every layer is in place.
//
// Any failure: one line "weft-sandbox-exec: <layer>: <error>" on stderr and exit status 126.
// The host turns that into "sandbox_unavailable" naming the layer.
//
// `weft-sandbox-exec --self-test [--expect-uid N] [--expect-no-network]` is what the host's
// start-up probe runs as the PROGRAM: it checks from the inside that the layers hold and prints a
// one-line JSON report on stdout (exit 0 when all hold, 1 otherwise).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/launcher/env_policy.hpp"
#include "sandbox/launcher/seccomp_filter.hpp"

extern char** environ;

namespace {

constexpr int kExitSetupFailed = 126;

[[noreturn]] void die(std::string_view layer, const std::string& error) {
  std::string line = "weft-sandbox-exec: ";
  line.append(layer);
  line += ": ";
  line += error;
  line += '\n';
  // One write: the host reads the line whole.
  ssize_t n = write(STDERR_FILENO, line.data(), line.size());
  (void)n;
  _exit(kExitSetupFailed);
}

std::string errno_text(const char* what) { return std::string(what) + ": " + strerror(errno); }

struct Options {
  bool switch_uid = false;
  uid_t uid = 0;
  gid_t gid = 0;
  int64_t cpu_s = -1, data = -1, nproc = -1, fsize = -1, nofile = -1;
  bool network = true;
  std::string tmp;
  bool chown_tmp = false;
  std::string cwd;
  std::string fail_at;
  bool init = false;
  std::vector<char*> argv;  // PROGRAM ARGS..., null-terminated
};

bool parse_u64(const char* s, uint64_t max, uint64_t& out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || s[0] == '-' || v > max) return false;
  out = v;
  return true;
}

Options parse(int argc, char** argv) {
  Options o;
  bool have_uid = false, have_gid = false;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) die("args", std::string("missing value for ") + argv[i]);
      return argv[++i];
    };
    auto number = [&](uint64_t max) -> uint64_t {
      const char* name = argv[i];
      uint64_t v = 0;
      if (!parse_u64(value(), max, v)) die("args", std::string("bad value for ") + name);
      return v;
    };
    // Ids stop below 2^32-1: (uid_t)-1 means "leave unchanged" to setresuid.
    if (a == "--uid") {
      o.uid = static_cast<uid_t>(number(0xfffffffeull));
      have_uid = true;
    } else if (a == "--gid") {
      o.gid = static_cast<gid_t>(number(0xfffffffeull));
      have_gid = true;
    } else if (a == "--cpu-s") {
      o.cpu_s = static_cast<int64_t>(number(1ull << 40));
    } else if (a == "--data") {
      o.data = static_cast<int64_t>(number(1ull << 60));
    } else if (a == "--nproc") {
      o.nproc = static_cast<int64_t>(number(1ull << 30));
    } else if (a == "--fsize") {
      o.fsize = static_cast<int64_t>(number(1ull << 60));
    } else if (a == "--nofile") {
      o.nofile = static_cast<int64_t>(number(1ull << 20));
    } else if (a == "--no-network") {
      o.network = false;
    } else if (a == "--tmp") {
      o.tmp = value();
    } else if (a == "--chown-tmp") {
      o.chown_tmp = true;
    } else if (a == "--cwd") {
      o.cwd = value();
    } else if (a == "--fail-at") {
      o.fail_at = value();
    } else if (a == "--init") {
      o.init = true;
    } else {
      die("args", "unknown option " + std::string(a));
    }
  }
  if (have_uid != have_gid) die("args", "--uid and --gid go together");
  o.switch_uid = have_uid;
  if (o.switch_uid && (o.uid == 0 || o.gid == 0)) die("args", "the sandbox uid/gid must not be 0");
  if (o.init && !o.switch_uid) die("args", "--init needs --uid");
  if (o.tmp.empty() || o.tmp[0] != '/') die("args", "--tmp must be an absolute path");
  if (!o.cwd.empty() && o.cwd[0] != '/') die("args", "--cwd must be an absolute path");
  if (i >= argc) die("args", "no program given");
  if (argv[i][0] != '/') die("args", "the program must be an absolute path");
  for (; i < argc; ++i) o.argv.push_back(argv[i]);
  o.argv.push_back(nullptr);
  return o;
}

void check_injected(const Options& o, std::string_view layer) {
  if (o.fail_at == layer) die(layer, "failure injected for a test");
}

void reset_signals() {
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) die("signals", errno_text("sigprocmask"));
  // A host that ignores SIGPIPE (most servers) must not hand that down to user code.
  for (int s = 1; s < NSIG; ++s) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    signal(s, SIG_DFL);  // fails harmlessly for the signal numbers libc reserves
  }
}

void new_session() {
  if (setsid() < 0) {
    // bubblewrap's --new-session may already have made us a session leader.
    if (errno != EPERM || getsid(0) != getpid()) die("session", errno_text("setsid"));
  }
  // Die with whoever started us (the host's spawner thread, or bubblewrap's init). Without
  // bubblewrap this is what takes the sandbox down when the host dies.
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) die("session", errno_text("PR_SET_PDEATHSIG"));
  if (getppid() != parent) die("session", "the parent is gone");
}

void prepare_tmp(const Options& o) {
  if (!o.chown_tmp) return;
  // bubblewrap's private tmpfs: hand it to the slot uid. Before the uid switch (we are root
  // here, with CAP_CHOWN kept for exactly this).
  uid_t uid = o.switch_uid ? o.uid : getuid();
  gid_t gid = o.switch_uid ? o.gid : getgid();
  int fd = open(o.tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die("tmpdir", errno_text(o.tmp.c_str()));
  // Mode first: once the directory is the slot uid's, changing it would need CAP_FOWNER.
  if (fchmod(fd, 0700) != 0 || fchown(fd, uid, gid) != 0) {
    std::string e = errno_text("chown/chmod");
    close(fd);
    die("tmpdir", e);
  }
  close(fd);
}

void set_limit(int resource, int64_t value, const char* name) {
  if (value < 0) return;
  struct rlimit rl;
  rl.rlim_cur = static_cast<rlim_t>(value);
  rl.rlim_max = static_cast<rlim_t>(value);
  if (resource == RLIMIT_CPU) rl.rlim_max = static_cast<rlim_t>(value) + 1;  // SIGXCPU, then SIGKILL
  if (setrlimit(resource, &rl) != 0) die("rlimit", errno_text(name));
}

void apply_limits(const Options& o) {
  set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
  set_limit(RLIMIT_CPU, o.cpu_s, "RLIMIT_CPU");
  set_limit(RLIMIT_DATA, o.data, "RLIMIT_DATA");
  set_limit(RLIMIT_FSIZE, o.fsize, "RLIMIT_FSIZE");
  set_limit(RLIMIT_NOFILE, o.nofile, "RLIMIT_NOFILE");
  set_limit(RLIMIT_NPROC, o.nproc, "RLIMIT_NPROC");
  // No POSIX message queues or locked memory to speak of.
  set_limit(RLIMIT_MSGQUEUE, 0, "RLIMIT_MSGQUEUE");
  set_limit(RLIMIT_MEMLOCK, 64 << 10, "RLIMIT_MEMLOCK");
}

void close_inherited_fds() {
  if (close_range(3, ~0u, 0) == 0) return;
  // Older kernels: walk /proc/self/fd (collect first: closing while reading the directory
  // would disturb the walk).
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) die("fds", errno_text("/proc/self/fd"));
  std::vector<int> fds;
  int own = dirfd(d);
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = atoi(e->d_name);
    if (fd > 2 && fd != own) fds.push_back(fd);
  }
  closedir(d);
  for (int fd : fds) close(fd);
}

// True when the calling process holds no capability in any set.
bool no_capabilities(std::string& seen) {
  FILE* f = fopen("/proc/self/status", "re");
  if (f == nullptr) {
    seen = errno_text("/proc/self/status");
    return false;
  }
  char line[256];
  bool ok = true;
  int found = 0;
  while (fgets(line, sizeof line, f) != nullptr) {
    if (strncmp(line, "CapPrm:", 7) == 0 || strncmp(line, "CapEff:", 7) == 0 ||
        strncmp(line, "CapAmb:", 7) == 0) {
      ++found;
      unsigned long long v = strtoull(line + 7, nullptr, 16);
      if (v != 0) {
        ok = false;
        seen = std::string(line, strcspn(line, "\n"));
      }
    }
  }
  fclose(f);
  if (found != 3) {
    seen = "capability lines missing";
    return false;
  }
  return ok;
}

void switch_uid(const Options& o) {
  if (!o.switch_uid) {
    // Only unprivileged bubblewrap (a user namespace, the host's own uid) runs without a switch;
    // never run user code as root.
    if (getuid() == 0 || geteuid() == 0) die("uid", "running as root and no --uid given");
    return;
  }
  if (setgroups(0, nullptr) != 0) die("uid", errno_text("setgroups"));
  if (setresgid(o.gid, o.gid, o.gid) != 0) die("uid", errno_text("setresgid"));
  if (setresuid(o.uid, o.uid, o.uid) != 0) die("uid", errno_text("setresuid"));
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0) die("uid", errno_text("getresuid"));
  if (ru != o.uid || eu != o.uid || su != o.uid || rg != o.gid || eg != o.gid || sg != o.gid)
    die("uid", "the uid/gid did not change");
  if (getgroups(0, nullptr) != 0) die("uid", "supplementary groups remain");
  if (setuid(0) == 0 || seteuid(0) == 0) die("uid", "could switch back to root");
  std::string seen;
  if (!no_capabilities(seen)) die("uid", "capabilities remain (" + seen + ")");
}

void enter_cwd(const Options& o) {
  const std::string& dir = o.cwd.empty() ? o.tmp : o.cwd;
  if (chdir(dir.c_str()) != 0) die("cwd", errno_text(dir.c_str()));
}

void no_new_privs() {
  // Files the code creates are its own only (0600/0700): in launcher-only mode two sandboxes of
  // different users share /tmp-like directories while they run.
  umask(077);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs", errno_text("prctl"));
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) die("no_new_privs", "not set");
}

std::vector<std::string> build_env(const Options& o) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv = *e;
    size_t eq = kv.find('=');
    std::string_view name = kv.substr(0, eq == std::string_view::npos ? kv.size() : eq);
    if (eq == std::string_view::npos) die("env", "malformed entry");
    if (weft::sandbox::env_name_fixed(name)) continue;
    // The host rejects these before spawning; meeting one here means something is wrong.
    if (!weft::sandbox::env_name_allowed(name)) die("env", "variable not allowed: " + std::string(name));
    env.emplace_back(kv);
  }
  env.push_back("PATH=/usr/local/bin:/usr/bin:/bin");
  env.push_back("HOME=" + o.tmp);
  env.push_back("TMPDIR=" + o.tmp);
  env.push_back("LANG=C.UTF-8");
  return env;
}

void check_program(const Options& o) {
  // Catch the common exec failures while an error can still name the layer cleanly.
  if (access(o.argv[0], X_OK) != 0) die("exec", errno_text(o.argv[0]));
}

// ---- init (launcher-only mode) -------------------------------------------------------------------
//
// Without bubblewrap there is no pid namespace whose init reaps orphans and takes every process
// down with the program. `--init` gives the same: the launcher forks; the parent stays root, holds
// nothing (stdio on /dev/null), becomes the child subreaper of the sandbox, reaps whatever dies
// under it, and when the program exits kills every process of the slot uid, reaps them all and
// exits with the program's status (re-raising its signal). The child goes on to the uid switch
// and exec, with PR_SET_PDEATHSIG so it cannot outlive the init.

// SIGKILLs every process of the uid from a forked helper that takes the uid (kill(-1) from it
// reaches exactly those). Returns once the helper is done.
void kill_uid(uid_t uid, gid_t gid) {
  pid_t helper = fork();
  if (helper == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) _exit(2);
    for (int i = 0; i < 4; ++i) kill(-1, SIGKILL);
    _exit(0);
  }
  // The helper is reaped by the caller's wait loop.
}

[[noreturn]] void run_init(pid_t program, const Options& o) {
  prctl(PR_SET_NAME, "weft-sbx-init", 0, 0, 0);
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
    dup2(null_fd, STDOUT_FILENO);
    dup2(null_fd, STDERR_FILENO);
    if (null_fd > STDERR_FILENO) close(null_fd);
  }
  int program_status = 0;
  bool program_done = false;
  for (;;) {
    int st = 0;
    pid_t p = waitpid(-1, &st, 0);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: nothing left under us
    }
    if (p == program && !program_done) {
      program_done = true;
      program_status = st;
      kill_uid(o.uid, o.gid);
    }
  }
  if (WIFSIGNALED(program_status)) {
    int sig = WTERMSIG(program_status);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    kill(getpid(), sig);
    _exit(128 + sig);  // a signal whose default is to be ignored
  }
  _exit(WIFEXITED(program_status) ? WEXITSTATUS(program_status) : kExitSetupFailed);
}

void start_init(const Options& o) {
  if (!o.init) return;
  // Orphans of the sandbox come to us, not to the machine's init.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) die("init", errno_text("PR_SET_CHILD_SUBREAPER"));
  pid_t program = fork();
  if (program < 0) die("init", errno_text("fork"));
  if (program > 0) run_init(program, o);
  // The program side goes on; after the uid switch (which clears it) it sets the parent-death
  // signal.
}

void tie_to_init(const Options& o, pid_t init_pid) {
  if (!o.init) return;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) die("init", errno_text("PR_SET_PDEATHSIG"));
  if (getppid() != init_pid) die("init", "the init is gone");
}

// ---- self-test (run as the sandboxed program by the host's probe) ------------------------------

int self_test(int argc, char** argv) {
  long expect_uid = -1;
  bool expect_no_network = false;
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--expect-uid" && i + 1 < argc) {
      expect_uid = atol(argv[++i]);
    } else if (a == "--expect-no-network") {
      expect_no_network = true;
    }
  }
  std::string failures;
  auto fail = [&](const std::string& what) {
    if (!failures.empty()) failures += "; ";
    failures += what;
  };
  uid_t uid = getuid();
  if (uid == 0 || geteuid() == 0) fail("running as root");
  if (expect_uid >= 0 && static_cast<long>(uid) != expect_uid) fail("uid is " + std::to_string(uid));
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) fail("no_new_privs not set");
  std::string seen;
  if (!no_capabilities(seen)) fail("capabilities: " + seen);
  int seccomp_mode = -1;
  if (FILE* f = fopen("/proc/self/status", "re")) {
    char line[256];
    while (fgets(line, sizeof line, f) != nullptr)
      if (strncmp(line, "Seccomp:", 8) == 0) seccomp_mode = atoi(line + 8);
    fclose(f);
  }
  if (seccomp_mode != 2) fail("seccomp mode " + std::to_string(seccomp_mode));
  if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) == 0) fail("ptrace allowed");
  if (unshare(CLONE_NEWUSER) == 0) fail("unshare allowed");
  bool inet_denied = true;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s >= 0) {
    inet_denied = false;
    close(s);
  }
  if (expect_no_network && !inet_denied) fail("socket(AF_INET) allowed");
  struct rlimit core;
  if (getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_max != 0) fail("core dumps allowed");
  int extra_fds = 0;
  for (int fd = 3; fd < 1024; ++fd)
    if (fcntl(fd, F_GETFD) != -1) ++extra_fds;
  if (extra_fds != 0) fail(std::to_string(extra_fds) + " inherited descriptors");
  printf("{\"uid\":%u,\"seccomp\":%d,\"no_new_privs\":true,\"inet_denied\":%s,\"ok\":%s,\"failures\":\"%s\"}\n",
         uid, seccomp_mode, inet_denied ? "true" : "false", failures.empty() ? "true" : "false",
         failures.c_str());
  fflush(stdout);
  return failures.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "--self-test") return self_test(argc, argv);
  Options o = parse(argc, argv);
  check_injected(o, "args");
  reset_signals();
  check_injected(o, "signals");
  new_session();
  check_injected(o, "session");
  prepare_tmp(o);
  check_injected(o, "tmpdir");
  apply_limits(o);
  check_injected(o, "rlimit");
  close_inherited_fds();
  check_injected(o, "fds");
  pid_t init_pid = getpid();
  start_init(o);
  switch_uid(o);
  check_injected(o, "uid");
  tie_to_init(o, init_pid);
  enter_cwd(o);
  check_injected(o, "cwd");
  no_new_privs();
  check_injected(o, "no_new_privs");
  std::vector<std::string> env = build_env(o);
  check_injected(o, "env");
  check_program(o);
  check_injected(o, "exec");
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  weft::sandbox::launcher::FilterOptions fo;
  fo.network = o.network;
  std::string err = weft::sandbox::launcher::load_seccomp_filter(fo);
  if (!err.empty()) die("seccomp", err);
  check_injected(o, "seccomp");
  static const char kReady[] = "weft-sandbox-exec: ready\n";
  if (write(STDERR_FILENO, kReady, sizeof kReady - 1) != static_cast<ssize_t>(sizeof kReady - 1))
    die("exec", errno_text("stderr"));
  execve(o.argv[0], o.argv.data(), envp.data());
  die("exec", errno_text(o.argv[0]));
}
