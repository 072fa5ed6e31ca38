// SECURITY.md Checklist A, sandbox part: each attack runs as real code in the real sandbox, in
// both modes (bubblewrap + launcher, launcher only), and must fail, be denied or be killed while
// the host (this process) keeps going.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "host/core/json.hpp"
#include "tests/sandbox/sandbox_test_util.hpp"

namespace weft::sandbox {
namespace {

using namespace weft::sandbox::testing;

class SandboxAttacks : public ::testing::TestWithParam<BwrapMode> {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (per-slot uids)";
    if (GetParam() != BwrapMode::Off && !bwrap_works()) GTEST_SKIP() << "bubblewrap does not work here";
    auto r = make_isolation(GetParam(), 2);
    ASSERT_TRUE(r.ok()) << r.error().message;
    iso_ = *r;
  }
  bool bwrap() const { return GetParam() != BwrapMode::Off; }
  std::shared_ptr<Isolation> iso_;
};

std::string param_name(const ::testing::TestParamInfo<BwrapMode>& info) {
  return info.param == BwrapMode::Off ? "LauncherOnly" : "Bwrap";
}

// A private directory like the host's data dir: 0700, root-owned, removed at the end.
struct HostDir {
  std::string path;
  HostDir() {
    char tmpl[] = "/tmp/weft-sbx-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~HostDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name, const std::string& content, mode_t mode = 0600) const {
    std::string p = path + "/" + name;
    std::ofstream(p) << content;
    chmod(p.c_str(), mode);
    return p;
  }
};

uid_t uid_from(const std::string& frame) {
  // Frames of the form "<word> <uid> ..."
  size_t sp = frame.find(' ');
  return static_cast<uid_t>(strtoul(frame.c_str() + sp + 1, nullptr, 10));
}

TEST_P(SandboxAttacks, ForkBombIsContainedAndCleanedUp) {
  Heartbeat hb;
  const char* code = R"(
import os
print("start", os.getuid(), flush=True)
while True:
    try:
        os.fork()
    except OSError:
        pass
)";
  ResourceLimits l = small_limits();
  l.max_processes = 16;
  auto o = run(*iso_, python(code, l), 1'500);
  EXPECT_EQ(o.result.reason, EndReason::Timeout) << o.result.detail;
  ASSERT_FALSE(o.frames.empty());
  uid_t uid = uid_from(o.frames[0]);
  EXPECT_GE(uid, 300000u);
  EXPECT_EQ(processes_of_uid(uid, false), 0) << "processes (or zombies) of the slot uid survived";
  EXPECT_GT(hb.ticks(), 0u);
  // The slot is usable again.
  auto again = run(*iso_, python("print('fine')"));
  EXPECT_EQ(again.frames, (std::vector<std::string>{"fine"}));
}

TEST_P(SandboxAttacks, SharedMemoryAndManyProcessesStayInsideTheMemoryBudget) {
  // RLIMIT_DATA is per process and does not count shared anonymous memory; the slot's memory
  // cgroup bounds the whole sandbox (limit + cgroup_slack_bytes, 128 MiB by default).
  if (iso_->probe().cgroup.empty()) GTEST_SKIP() << "no cgroups here: " << iso_->probe().cgroup_detail;
  ResourceLimits l = small_limits();
  l.memory_bytes = 64ll << 20;  // budget 192 MiB
  const char* shared = R"(
import mmap
n = 768 << 20
m = mmap.mmap(-1, n)
for off in range(0, n, 4096):
    m[off] = 1
print("touched", n >> 20, flush=True)
)";
  auto o = run(*iso_, python(shared, l), 30'000);
  ASSERT_NE(o.result.reason, EndReason::Timeout) << o.text;
  EXPECT_TRUE(o.frames.empty()) << "768 MiB of shared memory fitted a 192 MiB budget: " << joined(o);
  EXPECT_NE(o.result.term_signal, 0) << joined(o) << o.text;

  const char* forks = R"(
import os, time
for i in range(6):
    if os.fork() == 0:
        b = bytearray(60 << 20)
        for off in range(0, len(b), 4096):
            b[off] = 1
        time.sleep(5)
        os._exit(0)
ok = 0
for i in range(6):
    _, status = os.wait()
    ok += status == 0
print("children", ok, flush=True)
)";
  o = run(*iso_, python(forks, l), 30'000);
  ASSERT_NE(o.result.reason, EndReason::Timeout) << o.text;
  // 6 x 60 MiB cannot all live in a 192 MiB sandbox: some were killed.
  if (!o.frames.empty()) EXPECT_NE(o.frames[0], "children 6") << joined(o);
}

TEST_P(SandboxAttacks, MemoryBombFailsInsideTheSandbox) {
  ResourceLimits l = small_limits();
  l.memory_bytes = 128ll << 20;
  const char* code = R"(
chunks = []
try:
    while True:
        chunks.append(bytearray(8 << 20))
except MemoryError:
    print("MemoryError", len(chunks), flush=True)
)";
  auto o = run(*iso_, python(code, l), 20'000);
  ASSERT_NE(o.result.reason, EndReason::Timeout);
  bool contained = (!o.frames.empty() && o.frames[0].rfind("MemoryError", 0) == 0) || o.result.term_signal != 0;
  EXPECT_TRUE(contained) << joined(o) << o.text;
  if (!o.frames.empty()) {
    EXPECT_LT(atoi(o.frames[0].c_str() + 12), 17) << "more than the limit was allocated";
  }

  // Node: off-heap buffers meet RLIMIT_DATA, the heap meets --max-old-space-size.
  ResourceLimits nl = small_limits();
  nl.memory_bytes = 256ll << 20;
  auto n = run(*iso_, node("const a = []; for (;;) a.push(Buffer.alloc(32 << 20, 1));", nl), 20'000);
  EXPECT_EQ(n.result.reason, EndReason::Exited) << n.result.detail;
  EXPECT_TRUE(n.result.exit_code != 0 || n.result.term_signal != 0);
}

TEST_P(SandboxAttacks, BusyLoopIgnoringSignalsIsKilledAtTheDeadline) {
  Heartbeat hb;
  const char* code = R"(
import os, signal
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
    signal.signal(s, signal.SIG_IGN)
print("spin", os.getuid(), flush=True)
while True:
    pass
)";
  auto o = run(*iso_, python(code), 1'000);
  EXPECT_EQ(o.result.reason, EndReason::Timeout);
  ASSERT_FALSE(o.frames.empty());
  EXPECT_EQ(processes_of_uid(uid_from(o.frames[0])), 0);
  EXPECT_GT(hb.ticks(), 0u);
}

TEST_P(SandboxAttacks, CpuLimitKillsWithoutTheDeadline) {
  ResourceLimits l = small_limits();
  l.cpu_ms = 1'000;
  auto o = run(*iso_, python("while True: pass", l), 30'000);
  EXPECT_EQ(o.result.reason, EndReason::Exited) << o.result.detail;
  EXPECT_TRUE(o.result.term_signal == SIGXCPU || o.result.term_signal == SIGKILL) << o.result.term_signal;
}

TEST_P(SandboxAttacks, DoubleForkedDaemonDiesWithTheSandbox) {
  const char* code = R"(
import os, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.close(r)
        os.write(w, b"1")
        os.close(w)
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        while True:
            time.sleep(1)
    os._exit(0)
os.close(w)
os.read(r, 1)
print("daemon", os.getuid(), flush=True)
time.sleep(60)
)";
  auto child = iso_->spawn(python(code), small_io());
  ASSERT_TRUE(child.ok()) << child.error().message;
  uid_t uid = 0;
  int while_running = -1;
  PumpResult r = (*child)->pump(weft::monotonic_ms() + 10'000, [&](std::string_view f) {
    uid = uid_from(std::string(f));
    while_running = processes_of_uid(uid);
    return FrameAction::Stop;
  });
  ASSERT_EQ(r.reason, EndReason::Stopped) << r.detail;
  EXPECT_GE(while_running, 2) << "the daemon should exist next to the program";
  (*child)->kill_tree();
  EXPECT_EQ(processes_of_uid(uid, false), 0);

  // The program exiting on its own takes its daemon with it too.
  auto o = run(*iso_, python(std::string(code).replace(std::string(code).find("time.sleep(60)"), 14, "pass")));
  EXPECT_EQ(o.result.reason, EndReason::Exited) << o.result.detail;
  EXPECT_EQ(o.result.exit_code, 0);
  ASSERT_FALSE(o.frames.empty());
  EXPECT_EQ(processes_of_uid(uid_from(o.frames[0]), false), 0);
}

TEST_P(SandboxAttacks, TenGigabytesWithoutNewlineAreCutOff) {
  Heartbeat hb;
  const char* code = R"(
import sys
b = b"x" * (1 << 20)
w = sys.stdout.buffer.write
for i in range(10 * 1024):
    w(b)
)";
  auto o = run(*iso_, python(code), 30'000);
  EXPECT_EQ(o.result.reason, EndReason::OutputLimit) << o.result.detail;
  EXPECT_TRUE(o.frames.empty());
  auto n = run(*iso_, node("const fs = require('fs'); const b = Buffer.alloc(1 << 20, 120); "
                           "for (let i = 0; i < 10240; i++) fs.writeSync(1, b);"),
               30'000);
  EXPECT_EQ(n.result.reason, EndReason::OutputLimit) << n.result.detail << n.text;
  EXPECT_GT(hb.ticks(), 0u);
}

TEST_P(SandboxAttacks, ChildThatNeverReadsStdinCannotBlockTheHost) {
  auto child = iso_->spawn(python("import time; print('up', flush=True); time.sleep(60)"), small_io());
  ASSERT_TRUE(child.ok()) << child.error().message;
  (*child)->send(std::string(1u << 20, 'z'));  // far more than a pipe holds, under the cap
  std::vector<std::string> frames;
  PumpResult r = (*child)->pump(weft::monotonic_ms() + 1'000, [&](std::string_view f) {
    frames.emplace_back(f);
    return FrameAction::Continue;
  });
  EXPECT_EQ(r.reason, EndReason::Timeout);
  EXPECT_EQ(frames, (std::vector<std::string>{"up"}));

  // What the child leaves unread stays in the host's memory: past the cap (twice the frame limit)
  // the child is stopped instead of buffered for (e.g. code asking for host calls whose answers it
  // never reads).
  auto hog = iso_->spawn(python("import time; print('up', flush=True); time.sleep(60)"), small_io());
  ASSERT_TRUE(hog.ok()) << hog.error().message;
  r = (*hog)->pump(weft::monotonic_ms() + 10'000, [&](std::string_view) {
    for (int i = 0; i < 8; ++i) (*hog)->send(std::string(1u << 20, 'y'));
    return FrameAction::Continue;
  });
  EXPECT_EQ(r.reason, EndReason::OutputLimit) << r.detail;
  EXPECT_NE(r.detail.find("does not read"), std::string::npos) << r.detail;

  // Flooding stdout while not reading stdin: frames keep coming, the host stops when it likes.
  auto flood = iso_->spawn(python("import sys\nwhile True: sys.stdout.write('f' * 200 + '\\n')"), small_io());
  ASSERT_TRUE(flood.ok());
  (*flood)->send(std::string(1u << 20, 'z'));
  size_t count = 0;
  r = (*flood)->pump(weft::monotonic_ms() + 20'000, [&](std::string_view) {
    return ++count >= 20'000 ? FrameAction::Stop : FrameAction::Continue;
  });
  EXPECT_EQ(r.reason, EndReason::Stopped) << r.detail;
  (*flood)->kill_tree();
}

TEST_P(SandboxAttacks, FillingTheTempDirIsBounded) {
  const char* code = R"(
import os, errno
out = []
try:
    with open("big", "wb") as f:
        f.write(b"x" * (8 << 20))
    out.append("big:ok")
except OSError as e:
    out.append("big:" + errno.errorcode[e.errno])
os.remove("big")
written = 0
try:
    for i in range(100):
        with open("f%d" % i, "wb") as f:
            f.write(b"y" * (3 << 20))
        written += 3
    out.append("many:ok")
except OSError as e:
    out.append("many:" + errno.errorcode[e.errno])
print(" ".join(out), written, os.getcwd() == os.environ["TMPDIR"], flush=True)
)";
  ResourceLimits l = small_limits();
  l.max_file_bytes = 4ll << 20;
  l.tmp_bytes = 8ll << 20;
  auto o = run(*iso_, python(code, l), 20'000);
  ASSERT_EQ(o.result.reason, EndReason::Exited) << o.result.detail << o.text;
  ASSERT_EQ(o.frames.size(), 1u) << o.text;
  EXPECT_EQ(o.frames[0].substr(0, 10), "big:EFBIG ");
  if (iso_->probe().tmp_size_limited) {
    EXPECT_NE(o.frames[0].find("many:ENOSPC"), std::string::npos) << o.frames[0];
    EXPECT_LE(atoi(o.frames[0].c_str() + o.frames[0].find(' ', 10)), 8);
  }
  EXPECT_NE(o.frames[0].find("True"), std::string::npos) << "cwd is the private temp dir";
}

TEST_P(SandboxAttacks, WritingOutsideTheTempDirIsDenied) {
  HostDir host;
  std::vector<std::string> targets = {"/usr/weft-probe", "/etc/weft-probe", "/weft-probe", host.path + "/weft-probe",
                                      "/usr/bin/python3", "/proc/sys/kernel/hostname"};
  SpawnSpec spec = python(R"(
import sys
res = []
for p in sys.argv[1:]:
    try:
        with open(p, "a") as f:
            f.write("x")
        res.append("WRITTEN:" + p)
    except OSError as e:
        res.append(type(e).__name__)
print(" ".join(res), flush=True)
)");
  spec.argv.insert(spec.argv.end(), targets.begin(), targets.end());
  auto o = run(*iso_, spec);
  ASSERT_EQ(o.result.reason, EndReason::Exited) << o.text;
  ASSERT_EQ(o.frames.size(), 1u) << o.text;
  EXPECT_EQ(o.frames[0].find("WRITTEN"), std::string::npos) << o.frames[0];
  for (auto& t : targets) {
    if (t.rfind("/usr/bin", 0) == 0 || t.rfind("/proc", 0) == 0) continue;
    EXPECT_FALSE(std::filesystem::exists(t)) << t;
  }
}

TEST_P(SandboxAttacks, HostSecretsCannotBeRead) {
  HostDir host;
  std::string db = host.file("weft.db", "DB-SECRET-4711");
  std::string key = host.file("master.key", "KEY-SECRET-0815");
  setenv("WEFT_TEST_HOST_SECRET", "ENV-SECRET-1234", 1);
  std::string environ_path = "/proc/" + std::to_string(getpid()) + "/environ";
  std::string mem_path = "/proc/" + std::to_string(getpid()) + "/mem";
  SpawnSpec spec = python(R"(
import sys
res = []
for p in sys.argv[1:]:
    try:
        with open(p, "rb") as f:
            data = f.read(1 << 20)
        res.append("READ:%s:%d" % (p, len(data)))
        sys.stderr.write(repr(data[:4096]))
    except OSError as e:
        res.append(type(e).__name__)
print(" ".join(res), flush=True)
)");
  for (auto& p : {std::string("/etc/shadow"), db, key, environ_path, mem_path, std::string("/proc/1/environ"),
                  std::string("/root/.bash_history")})
    spec.argv.push_back(p);
  auto o = run(*iso_, spec);
  unsetenv("WEFT_TEST_HOST_SECRET");
  ASSERT_EQ(o.result.reason, EndReason::Exited) << o.text;
  ASSERT_EQ(o.frames.size(), 1u) << o.text;
  EXPECT_EQ(o.frames[0].find("READ:"), std::string::npos) << o.frames[0];
  std::string all = joined(o) + o.text;
  for (const char* secret : {"DB-SECRET", "KEY-SECRET", "ENV-SECRET", "root:"})
    EXPECT_EQ(all.find(secret), std::string::npos) << secret;
  if (bwrap()) {
    // Under bubblewrap the host's files and processes are not even there.
    auto ls = run(*iso_, python("import os; print(sorted(os.listdir('/'))); print(len([p for p in os.listdir('/proc') if p.isdigit()]))"));
    ASSERT_EQ(ls.frames.size(), 2u) << ls.text;
    for (const char* absent : {"'home'", "'root'", "'var'", "'work'"})
      EXPECT_EQ(ls.frames[0].find(absent), std::string::npos) << ls.frames[0];
    EXPECT_LE(atoi(ls.frames[1].c_str()), 3) << "sees processes outside its namespace";
  }
}

TEST_P(SandboxAttacks, InheritedDescriptorsAreClosed) {
  // Descriptors the host opened without O_CLOEXEC, as careless code elsewhere in a host might.
  int file = open("/etc/hostname", O_RDONLY);
  ASSERT_GE(file, 0);
  ASSERT_EQ(dup2(file, 77), 77);
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  auto o = run(*iso_, python("import os; print(sorted(int(x) for x in os.listdir('/proc/self/fd')))"));
  close(file);
  close(77);
  close(sock);
  ASSERT_EQ(o.frames.size(), 1u) << o.text;
  EXPECT_EQ(o.frames[0], "[0, 1, 2, 3]") << "3 is listdir's own descriptor";
}

struct Listener {
  int fd = -1;
  int port = 0;
  Listener() {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd, 16);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() { close(fd); }
};

TEST_P(SandboxAttacks, NoNetworkUnlessGranted) {
  Listener api;  // stands in for the API port and PostgreSQL
  const char* code = R"(
import socket, sys
res = []
for host, port in (("127.0.0.1", int(sys.argv[1])), ("1.1.1.1", 53)):
    try:
        s = socket.create_connection((host, port), timeout=2)
        res.append("connected")
        s.close()
    except OSError as e:
        res.append("%s:%s" % (type(e).__name__, e.errno))
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    res.append("unix:ok")
except OSError as e:
    res.append("unix:%s" % e.errno)
a, b = socket.socketpair()
res.append("pair:ok")
print(" ".join(res), flush=True)
)";
  SpawnSpec spec = python(code);
  spec.argv.push_back(std::to_string(api.port));
  auto o = run(*iso_, spec);
  ASSERT_EQ(o.frames.size(), 1u) << o.text;
  EXPECT_EQ(o.frames[0], "PermissionError:13 PermissionError:13 unix:13 pair:ok");

  auto js = node("const net = require('net'); const s = net.connect({port: " + std::to_string(api.port) +
                 ", host: '127.0.0.1'}); s.on('connect', () => { console.log('connected'); s.destroy(); }); "
                 "s.on('error', e => console.log('error ' + e.code));");
  auto n = run(*iso_, js);
  ASSERT_EQ(n.frames.size(), 1u) << n.text;
  EXPECT_EQ(n.frames[0].rfind("error ", 0), 0u) << n.frames[0];

  // The same code with network granted reaches the listener: the denial above is the sandbox's.
  spec.network = true;
  auto granted = run(*iso_, spec);
  ASSERT_EQ(granted.frames.size(), 1u) << granted.text;
  EXPECT_EQ(granted.frames[0].rfind("connected ", 0), 0u) << granted.frames[0];
}

TEST_P(SandboxAttacks, PtraceMountUnshareAndFriendsAreDenied) {
  const char* code = R"(
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(name, f):
    ctypes.set_errno(0)
    r = f()
    e = ctypes.get_errno()
    return "%s=%s" % (name, "ok" if r >= 0 else errno.errorcode.get(e, str(e)))
CLONE_NEWUSER = 0x10000000
out = [
    call("traceme", lambda: libc.ptrace(0, 0, None, None)),
    call("attach", lambda: libc.ptrace(16, os.getppid(), None, None)),
    call("mount", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
    call("unshare_user", lambda: libc.unshare(CLONE_NEWUSER)),
    call("unshare_mnt", lambda: libc.unshare(0x00020000)),
    call("setns", lambda: libc.setns(0, 0)),
    call("clone_newuser", lambda: libc.syscall(56, CLONE_NEWUSER | 17, None, None, None, None)),
    call("clone3", lambda: libc.syscall(435, None, 0)),
    call("bpf", lambda: libc.syscall(321, 0, None, 0)),
    call("perf_event_open", lambda: libc.syscall(298, None, 0, -1, -1, 0)),
    call("userfaultfd", lambda: libc.syscall(323, 0)),
    call("io_uring_setup", lambda: libc.syscall(425, 1, None)),
    call("keyctl", lambda: libc.syscall(250, 0, 0, 0, 0, 0)),
    call("shmget", lambda: libc.syscall(29, 0, 4096, 0o1600)),
]
print(" ".join(out), flush=True)
)";
  auto o = run(*iso_, python(code));
  ASSERT_EQ(o.result.reason, EndReason::Exited) << o.text;
  ASSERT_EQ(o.frames.size(), 1u) << o.text;
  EXPECT_EQ(o.frames[0],
            "traceme=EPERM attach=EPERM mount=EPERM unshare_user=EPERM unshare_mnt=EPERM setns=EPERM "
            "clone_newuser=EPERM clone3=ENOSYS bpf=EPERM perf_event_open=EPERM userfaultfd=EPERM "
            "io_uring_setup=EPERM keyctl=EPERM shmget=EPERM");
}

TEST_P(SandboxAttacks, EnvironmentInjectionIsRejectedAndTheHostEnvironmentStaysHome) {
  for (const char* name : {"LD_PRELOAD", "LD_LIBRARY_PATH", "NODE_OPTIONS", "NODE_PATH", "PYTHONSTARTUP",
                           "PYTHONPATH", "PYTHONHOME", "BASH_ENV", "ENV", "IFS", "GLIBC_TUNABLES", "GCONV_PATH"}) {
    SpawnSpec s = python("print('ran')");
    s.env = {{name, "/tmp/evil"}};
    auto c = iso_->spawn(s, small_io());
    ASSERT_FALSE(c.ok()) << name;
    EXPECT_EQ(c.error().code, "invalid_input") << name;
  }
  // The host's own environment, poisoned: none of it may reach bubblewrap, the launcher or the
  // program (if it did, the preload would warn or the require would fail).
  setenv("WEFT_TEST_HOST_SECRET", "ENV-SECRET-1234", 1);
  setenv("LD_PRELOAD", "/nonexistent/weft-preload.so", 1);
  setenv("NODE_OPTIONS", "--require /nonexistent/weft-inject.js", 1);
  setenv("PYTHONSTARTUP", "/nonexistent/weft-inject.py", 1);
  SpawnSpec s = python("import os; print(sorted(os.environ.items()))");
  s.env = {{"FOO", "bar"}, {"PATH", "/evil"}};
  auto o = run(*iso_, s);
  auto n = run(*iso_, node("console.log(Object.keys(process.env).sort().join(','))"));
  unsetenv("LD_PRELOAD");
  unsetenv("NODE_OPTIONS");
  unsetenv("PYTHONSTARTUP");
  unsetenv("WEFT_TEST_HOST_SECRET");
  ASSERT_EQ(o.result.reason, EndReason::Exited) << o.text;
  ASSERT_EQ(o.frames.size(), 1u) << o.text;
  const std::string& env = o.frames[0];
  EXPECT_NE(env.find("('FOO', 'bar')"), std::string::npos) << env;
  EXPECT_NE(env.find("('PATH', '/usr/local/bin:/usr/bin:/bin')"), std::string::npos) << env;
  EXPECT_NE(env.find("('LANG', 'C.UTF-8')"), std::string::npos) << env;
  for (const char* leaked : {"WEFT_TEST_HOST_SECRET", "LD_PRELOAD", "NODE_OPTIONS", "PYTHONSTARTUP", "/evil"})
    EXPECT_EQ(env.find(leaked), std::string::npos) << leaked << " in " << env;
  EXPECT_EQ(o.text.find("preload"), std::string::npos) << o.text;
  ASSERT_EQ(n.result.reason, EndReason::Exited) << n.text;
  ASSERT_EQ(n.result.exit_code, 0) << n.text;
  ASSERT_EQ(n.frames.size(), 1u) << n.text;
  EXPECT_EQ(n.frames[0], "HOME,LANG,PATH,TMPDIR");
}

TEST_P(SandboxAttacks, NothingOfOneJobIsLeftForTheNext) {
  auto one = make_isolation(GetParam(), 1);  // one slot: the next job gets the same uid
  ASSERT_TRUE(one.ok()) << one.error().message;
  const char* first = R"(
import os, time
tmp = os.environ["TMPDIR"]
open(os.path.join(tmp, "leftover"), "w").write("job-a")
for shared in ("/dev/shm", "/var/tmp", "/tmp", "/run/lock"):
    try:
        open(os.path.join(shared, "weft-leftover-%d" % os.getuid()), "w").write("job-a")
    except OSError:
        pass
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        while True:
            time.sleep(1)
    os._exit(0)
print("a", os.getuid(), tmp, flush=True)
)";
  auto a = run(**one, python(first));
  ASSERT_EQ(a.result.reason, EndReason::Exited) << a.text;
  ASSERT_EQ(a.frames.size(), 1u) << a.text;
  uid_t uid = uid_from(a.frames[0]);
  EXPECT_EQ(processes_of_uid(uid, false), 0);
  const char* second = R"(
import os
tmp = os.environ["TMPDIR"]
left = os.listdir(tmp)
for shared in ("/dev/shm", "/var/tmp", "/tmp", "/run/lock"):
    p = os.path.join(shared, "weft-leftover-%d" % os.getuid())
    if os.path.exists(p):
        left.append(p)
others = []
for p in os.listdir("/proc"):
    if p.isdigit() and int(p) != os.getpid():
        try:
            if os.stat("/proc/" + p).st_uid == os.getuid():
                others.append(p)
        except OSError:
            pass
print("b", os.getuid(), left, others, flush=True)
)";
  auto b = run(**one, python(second));
  ASSERT_EQ(b.frames.size(), 1u) << b.text;
  EXPECT_EQ(b.slot, a.slot);
  EXPECT_EQ(b.frames[0], "b " + std::to_string(uid) + " [] []");
}

INSTANTIATE_TEST_SUITE_P(Modes, SandboxAttacks, ::testing::Values(BwrapMode::Required, BwrapMode::Off), param_name);

}  // namespace
}  // namespace weft::sandbox
