// The isolation layer's mechanics against the real sandbox: the probe, frames and text over the
// pipes, caps, deadlines, cancellation, slots, set-up failures naming their layer. Every test
// that runs code runs it in both modes: bubblewrap + launcher, and the launcher on its own.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>

#include <set>
#include <signal.h>
#include <sys/wait.h>

#include <thread>

#include "host/core/json.hpp"
#include "sandbox/isolation_internal.hpp"
#include "tests/sandbox/sandbox_test_util.hpp"

namespace weft::sandbox {
namespace {

using namespace weft::sandbox::testing;

class SandboxModes : public ::testing::TestWithParam<BwrapMode> {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (per-slot uids)";
    if (GetParam() != BwrapMode::Off && !bwrap_works()) GTEST_SKIP() << "bubblewrap does not work here";
    auto r = make_isolation(GetParam(), 4);
    ASSERT_TRUE(r.ok()) << r.error().message;
    iso_ = *r;
  }
  std::shared_ptr<Isolation> iso_;
};

std::string param_name(const ::testing::TestParamInfo<BwrapMode>& info) {
  return info.param == BwrapMode::Off ? "LauncherOnly" : "Bwrap";
}

// ---- probe ------------------------------------------------------------------------------------

TEST(SandboxProbe, AutoUsesBubblewrapWhenItWorksAndReportsEveryLayer) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  auto iso = make_isolation(BwrapMode::Auto, 2);
  ASSERT_TRUE(iso.ok()) << iso.error().message;
  const ProbeReport& p = (*iso)->probe();
  std::cout << "[ info ] probe: " << p.to_json() << "\n";
  EXPECT_TRUE(p.running_as_root);
  EXPECT_TRUE(p.uid_switch);
  EXPECT_TRUE(p.seccomp_available);
  EXPECT_EQ(p.slots_available, 2u);
  EXPECT_FALSE(p.launcher_path.empty());
  if (bwrap_works()) {
    EXPECT_EQ(p.mode, "bwrap+launcher");
    EXPECT_TRUE(p.bwrap_available);
    EXPECT_TRUE(p.bwrap_detail.empty()) << p.bwrap_detail;
    EXPECT_TRUE(p.tmp_size_limited);
  } else {
    EXPECT_EQ(p.mode, "launcher");
    EXPECT_FALSE(p.bwrap_detail.empty());
  }
  auto j = Json::parse(p.to_json());
  ASSERT_TRUE(j.ok()) << p.to_json();
  EXPECT_EQ((*j)["mode"].as_string(), p.mode);
  EXPECT_EQ((*j)["uid_switch"].as_bool(), true);
  EXPECT_EQ((*j)["seccomp_available"].as_bool(), true);
}

TEST(SandboxProbe, OffMeansLauncherOnlyWithTheReasonRecorded) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  auto iso = make_isolation(BwrapMode::Off, 1);
  ASSERT_TRUE(iso.ok()) << iso.error().message;
  const ProbeReport& p = (*iso)->probe();
  EXPECT_EQ(p.mode, "launcher");
  EXPECT_FALSE(p.bwrap_available);
  EXPECT_EQ(p.bwrap_detail, "disabled by configuration");
  EXPECT_TRUE(p.seccomp_available);
  EXPECT_TRUE(p.uid_switch);
}

TEST(SandboxProbe, RequiredFailsWhenBubblewrapIsMissing) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  IsolationConfig cfg;
  cfg.bwrap = BwrapMode::Required;
  cfg.bwrap_path = "/nonexistent/bwrap";
  cfg.slots = 1;
  auto iso = make_isolation_with(cfg);
  ASSERT_FALSE(iso.ok());
  EXPECT_EQ(iso.error().code, "sandbox_unavailable");
  EXPECT_NE(iso.error().message.find("bwrap"), std::string::npos) << iso.error().message;
  // Auto falls back to the launcher and says why.
  cfg.bwrap = BwrapMode::Auto;
  auto fallback = make_isolation_with(cfg);
  ASSERT_TRUE(fallback.ok()) << fallback.error().message;
  EXPECT_EQ((*fallback)->probe().mode, "launcher");
  EXPECT_NE((*fallback)->probe().bwrap_detail.find("/nonexistent/bwrap"), std::string::npos);
}

TEST(SandboxProbe, RefusesAUidRangeThatNamesAnAccountOrRoot) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  IsolationConfig cfg;
  cfg.bwrap = BwrapMode::Off;
  cfg.uid_base = 0;
  auto iso = Isolation::create(cfg);
  ASSERT_FALSE(iso.ok());
  EXPECT_EQ(iso.error().code, "sandbox_unavailable");
  cfg.uid_base = 65530;  // covers nobody (65534)
  cfg.slots = 8;
  iso = Isolation::create(cfg);
  ASSERT_FALSE(iso.ok());
  EXPECT_EQ(iso.error().code, "sandbox_unavailable");
}

TEST(SandboxProbe, MissingLauncherIsUnavailable) {
  IsolationConfig cfg;
  cfg.launcher_path = "/nonexistent/weft-sandbox-exec";
  auto iso = Isolation::create(cfg);
  ASSERT_FALSE(iso.ok());
  EXPECT_EQ(iso.error().code, "sandbox_unavailable");
  EXPECT_NE(iso.error().message.find("launcher"), std::string::npos);
}

// Not root: per-slot uids are impossible; without a working bubblewrap there is nothing to
// isolate with, so create() must fail rather than run anything. With unprivileged bubblewrap
// (user namespaces), the sandbox works under the host's own uid. Run in a forked child that
// drops to nobody.
TEST(SandboxProbe, NotRootWithoutBubblewrapIsUnavailableAndWithItWorks) {
  if (!is_root()) GTEST_SKIP() << "needs root to become nobody";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
      _exit(10);
    IsolationConfig cfg;
    cfg.bwrap_path = "/nonexistent/bwrap";
    auto none = Isolation::create(cfg);
    if (none.ok() || none.error().code != "sandbox_unavailable") _exit(11);
    if (none.error().message.find("root") == std::string::npos) _exit(12);
    cfg.bwrap_path = "/usr/bin/bwrap";
    cfg.bwrap = BwrapMode::Required;
    auto user = Isolation::create(cfg);
    if (!user.ok()) _exit(0);  // no unprivileged user namespaces here: the first half is the test
    if ((*user)->probe().uid_switch || (*user)->probe().mode != "bwrap+launcher") _exit(13);
    auto o = run(**user, python("import os; print(os.getuid(), len(os.listdir('/proc')))"));
    if (o.result.reason != EndReason::Exited || o.result.exit_code != 0 || o.frames.empty()) _exit(14);
    if (o.frames[0].rfind("65534 ", 0) != 0) _exit(15);
    _exit(1);  // 1 = the unprivileged path ran and held
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_TRUE(WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 1) << "child failed at step " << WEXITSTATUS(st);
  if (WEXITSTATUS(st) == 1) std::cout << "[ info ] unprivileged bubblewrap worked under nobody\n";
}

// ---- frames, text, exit status ----------------------------------------------------------------

TEST_P(SandboxModes, FramesInFramesOutExitStatusAndText) {
  const char* code = R"(
import sys, subprocess
sys.stderr.write("hello on stderr\n"); sys.stderr.flush()
subprocess.run(["/usr/bin/true"], check=True)
for line in sys.stdin:
    sys.stdout.write(line.strip().upper() + "\n"); sys.stdout.flush()
sys.exit(3)
)";
  auto o = run(*iso_, python(code), 10'000, "one\ntwo\nthree\n");
  EXPECT_EQ(o.result.reason, EndReason::Exited) << o.result.detail << o.text;
  EXPECT_EQ(o.result.exit_code, 3) << o.text;
  EXPECT_EQ(o.frames, (std::vector<std::string>{"ONE", "TWO", "THREE"}));
  EXPECT_NE(o.text.find("hello on stderr"), std::string::npos) << o.text;
  EXPECT_EQ(o.text.find("weft-sandbox-exec"), std::string::npos) << "the ready marker must not leak: " << o.text;
}

TEST_P(SandboxModes, NodeRunsAsTheSlotUidNotRoot) {
  auto o = run(*iso_, node("console.log(JSON.stringify({uid: process.getuid(), gid: process.getgid(), "
                           "groups: process.getgroups(), cwd: process.cwd(), tmp: require('os').tmpdir()}))"));
  ASSERT_EQ(o.result.reason, EndReason::Exited) << o.result.detail << o.text;
  ASSERT_EQ(o.result.exit_code, 0) << o.text;
  ASSERT_EQ(o.frames.size(), 1u) << o.text;
  auto j = Json::parse(o.frames[0]);
  ASSERT_TRUE(j.ok()) << o.frames[0];
  int64_t uid = (*j)["uid"].as_int();
  EXPECT_GE(uid, 300000);
  EXPECT_EQ((*j)["gid"].as_int(), uid);
  // Node always lists the effective gid; nothing else may be there.
  ASSERT_EQ((*j)["groups"].size(), 1u) << o.frames[0];
  EXPECT_EQ((*j)["groups"].at(0).as_int(), uid);
  EXPECT_EQ((*j)["cwd"].as_string(), (*j)["tmp"].as_string());
}

TEST_P(SandboxModes, SignalDeathIsReported) {
  auto o = run(*iso_, python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"));
  EXPECT_EQ(o.result.reason, EndReason::Exited);
  EXPECT_EQ(o.result.term_signal, SIGKILL);
  EXPECT_EQ(o.result.exit_code, -1);
}

TEST_P(SandboxModes, StopLeavesTheChildRunningAndKeepsBufferedFrames) {
  // Three frames in one write; the host stops after the first, answers, and carries on.
  const char* code = R"(
import sys
sys.stdout.write("a\nb\nc\n"); sys.stdout.flush()
line = sys.stdin.readline()
sys.stdout.write("got " + line); sys.stdout.flush()
)";
  auto child = iso_->spawn(python(code), small_io());
  ASSERT_TRUE(child.ok()) << child.error().message;
  auto& c = **child;
  std::vector<std::string> seen;
  auto collect_one = [&](std::string_view f) {
    seen.emplace_back(f);
    return FrameAction::Stop;
  };
  PumpResult r = c.pump(weft::monotonic_ms() + 10'000, collect_one);
  ASSERT_EQ(r.reason, EndReason::Stopped);
  EXPECT_TRUE(c.alive());
  r = c.pump(weft::monotonic_ms() + 10'000, collect_one);
  ASSERT_EQ(r.reason, EndReason::Stopped);
  r = c.pump(weft::monotonic_ms() + 10'000, [&](std::string_view f) {
    seen.emplace_back(f);
    if (f == "c") c.send("ping\n");
    return FrameAction::Continue;
  });
  EXPECT_EQ(r.reason, EndReason::Exited) << r.detail;
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c", "got ping"}));
  c.kill_tree();
  EXPECT_FALSE(c.alive());
}

TEST_P(SandboxModes, TextIsCappedWithAMarkerAndTooMuchKills) {
  IoLimits io = small_io();
  io.max_text_bytes = 1000;
  io.max_text_total_bytes = 1u << 20;
  auto o = run(*iso_, python("import sys; sys.stderr.write('e' * 200000); sys.stderr.flush()"), 10'000, {}, io);
  EXPECT_EQ(o.result.reason, EndReason::Exited) << o.result.detail;
  EXPECT_LT(o.text.size(), 1200u);
  EXPECT_NE(o.text.find("199000 bytes of output dropped"), std::string::npos) << o.text.substr(1000);

  auto flood = run(*iso_, python("import sys\nwhile True: sys.stderr.write('e' * 65536)"), 20'000, {}, io);
  EXPECT_EQ(flood.result.reason, EndReason::OutputLimit) << flood.result.detail;
}

TEST_P(SandboxModes, ProtocolTotalCapKills) {
  IoLimits io = small_io();
  io.max_protocol_bytes = 2u << 20;
  auto o = run(*iso_, python("import sys\nwhile True: sys.stdout.write('x' * 100 + '\\n')"), 20'000, {}, io);
  EXPECT_EQ(o.result.reason, EndReason::OutputLimit) << o.result.detail;
  EXPECT_GT(o.frames.size(), 1000u);
}

TEST_P(SandboxModes, DeadlineKills) {
  Heartbeat hb;
  auto o = run(*iso_, python("import time; print('up', flush=True); time.sleep(60)"), 800);
  EXPECT_EQ(o.result.reason, EndReason::Timeout);
  EXPECT_EQ(o.frames, (std::vector<std::string>{"up"}));
  EXPECT_GT(hb.ticks(), 0u);
}

TEST_P(SandboxModes, CancelKillsPromptly) {
  auto child = iso_->spawn(python("import time; print('up', flush=True); time.sleep(60)"), small_io());
  ASSERT_TRUE(child.ok()) << child.error().message;
  std::atomic<bool> cancel{false};
  bool saw_up = false;
  PumpResult r = (*child)->pump(weft::monotonic_ms() + 30'000,
                                [&](std::string_view f) {
                                  saw_up = f == "up";
                                  cancel = true;
                                  return FrameAction::Continue;
                                },
                                [&] { return cancel.load(); });
  EXPECT_TRUE(saw_up);
  EXPECT_EQ(r.reason, EndReason::Cancelled);
  EXPECT_FALSE((*child)->alive());
}

// A sandbox started from a thread that has since exited keeps running (a parent-death signal
// tied to the spawning thread would kill it).
TEST_P(SandboxModes, SurvivesTheSpawningThreadExiting) {
  Result<std::unique_ptr<Child>> child = Error("x", "not spawned");
  std::thread t([&] { child = iso_->spawn(python("import sys, time; time.sleep(0.3); print(sys.stdin.readline().strip())"), small_io()); });
  t.join();
  ASSERT_TRUE(child.ok()) << child.error().message;
  (*child)->send("still here\n");
  std::vector<std::string> frames;
  PumpResult r = (*child)->pump(weft::monotonic_ms() + 10'000, [&](std::string_view f) {
    frames.emplace_back(f);
    return FrameAction::Continue;
  });
  EXPECT_EQ(r.reason, EndReason::Exited);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(frames, (std::vector<std::string>{"still here"}));
}

// ---- slots ------------------------------------------------------------------------------------

TEST_P(SandboxModes, BusyWhenEverySlotIsTakenAndFreeAgainAfterKill) {
  auto small = make_isolation(GetParam(), 2);
  ASSERT_TRUE(small.ok()) << small.error().message;
  Isolation& iso = **small;
  auto a = iso.spawn(python("import time; time.sleep(60)"), small_io());
  auto b = iso.spawn(python("import time; time.sleep(60)"), small_io());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->slot(), (*b)->slot());
  EXPECT_EQ(iso.slots_in_use(), 2u);
  auto c = iso.spawn(python("pass"), small_io());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, "sandbox_busy");
  (*a)->kill_tree();
  EXPECT_EQ(iso.slots_in_use(), 1u);
  auto d = iso.spawn(python("print('d')"), small_io());
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ((*d)->slot(), (*a)->slot());
  b->reset();
  d->reset();
  EXPECT_EQ(iso.slots_in_use(), 0u);
}

TEST_P(SandboxModes, ManyThreadsSpawnAtOnce) {
  // Four slots, six threads, three jobs each: every job either runs to its end on a slot nobody
  // else holds at that moment, or is told the sandbox is busy.
  std::atomic<int> ran{0}, busy{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int j = 0; j < 3; ++j) {
        auto c = iso_->spawn(python("import sys; print(sys.stdin.readline().strip())"), small_io());
        if (!c.ok()) {
          (c.error().code == "sandbox_busy" ? busy : wrong)++;
          continue;
        }
        std::string token = std::to_string(t) + "-" + std::to_string(j);
        (*c)->send(token + "\n");
        std::string got;
        PumpResult r = (*c)->pump(weft::monotonic_ms() + 20'000, [&](std::string_view f) {
          got.assign(f);
          return FrameAction::Continue;
        });
        if (r.reason == EndReason::Exited && r.exit_code == 0 && got == token) {
          ++ran;
        } else {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(ran.load() + busy.load(), 18);
  EXPECT_GE(ran.load(), 4);
  EXPECT_EQ(iso_->slots_in_use(), 0u);
}

TEST(SandboxSlots, TwoIsolationsNeverShareASlotUid) {
  // Two Weft processes on one machine (a server and a worker, parallel test runs) share a uid
  // range: each slot uid is locked while a sandbox runs under it, so they split the range and
  // never run two sandboxes under one uid.
  if (!is_root()) GTEST_SKIP() << "needs root";
  IsolationConfig cfg;
  cfg.bwrap = BwrapMode::Off;
  cfg.slots = 3;
  auto first = make_isolation_with(cfg);
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = Isolation::create(cfg);
  ASSERT_TRUE(second.ok()) << second.error().message;
  const SpawnSpec sleeper = python("import time; time.sleep(30)");
  auto a = (*first)->spawn(sleeper, small_io());
  auto b = (*first)->spawn(sleeper, small_io());
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  auto c = (*second)->spawn(sleeper, small_io());
  ASSERT_TRUE(c.ok()) << c.error().message;
  std::set<uint32_t> slots = {(*a)->slot(), (*b)->slot(), (*c)->slot()};
  EXPECT_EQ(slots.size(), 3u) << "each sandbox has its own uid";
  // The range is used up across both processes.
  auto d = (*second)->spawn(sleeper, small_io());
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "sandbox_busy") << d.error().message;
  // Freed slots go back to the machine-wide pool.
  (*a)->kill_tree();
  auto e = (*second)->spawn(sleeper, small_io());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ((*e)->slot(), (*a)->slot());
  for (auto* ch : {&*b, &*c, &*e}) (*ch)->kill_tree();
}

// ---- set-up failures --------------------------------------------------------------------------

TEST_P(SandboxModes, AFailingLayerFailsTheSpawnAndNamesTheLayer) {
  for (const char* layer : {"rlimit", "fds", "uid", "no_new_privs", "env", "seccomp"}) {
    auto iso = make_isolation(GetParam(), 1, layer);
    ASSERT_TRUE(iso.ok()) << iso.error().message;
    auto c = (*iso)->spawn(python("print('must not run')"), small_io());
    ASSERT_FALSE(c.ok()) << layer;
    EXPECT_EQ(c.error().code, "sandbox_unavailable") << layer;
    EXPECT_NE(c.error().message.find(std::string("'") + layer + "'"), std::string::npos) << c.error().message;
    auto d = Json::parse(c.error().details);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ((*d)["layer"].as_string(), layer);
    EXPECT_EQ((*iso)->slots_in_use(), 0u) << "the slot must be freed";
  }
}

TEST_P(SandboxModes, RealSetUpFailuresNameTheirLayer) {
  SpawnSpec missing_cwd = python("print('no')");
  missing_cwd.cwd = "/nonexistent-dir";
  auto c = iso_->spawn(missing_cwd, small_io());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, "sandbox_unavailable");
  EXPECT_NE(c.error().message.find("'cwd'"), std::string::npos) << c.error().message;

  SpawnSpec missing_program = python("");
  missing_program.argv = {"/usr/bin/no-such-interpreter"};
  c = iso_->spawn(missing_program, small_io());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, "sandbox_unavailable");
  EXPECT_NE(c.error().message.find("'exec'"), std::string::npos) << c.error().message;

  if (GetParam() != BwrapMode::Off) {
    // A bind bubblewrap cannot make is bubblewrap's failure.
    IsolationConfig cfg;
    cfg.bwrap = BwrapMode::Required;
    cfg.slots = 1;
    cfg.ro_binds = {{"/nonexistent/runner", "/runner"}};
    auto iso = make_isolation_with(cfg);
    ASSERT_FALSE(iso.ok());
    EXPECT_EQ(iso.error().code, "sandbox_unavailable");
    EXPECT_NE(iso.error().message.find("bwrap"), std::string::npos) << iso.error().message;
  }
  EXPECT_EQ(iso_->slots_in_use(), 0u);
}

TEST_P(SandboxModes, BadSpecsAreInvalidInput) {
  SpawnSpec relative = python("pass");
  relative.argv[0] = "python3";
  auto c = iso_->spawn(relative, small_io());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, "invalid_input");

  SpawnSpec nul = python("pass");
  nul.env = {{"FOO", std::string("a\0b", 3)}};
  c = iso_->spawn(nul, small_io());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, "invalid_input");

  SpawnSpec bad_name = python("pass");
  bad_name.env = {{"A=B", "x"}};
  c = iso_->spawn(bad_name, small_io());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, "invalid_input");
  EXPECT_EQ(iso_->slots_in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, SandboxModes, ::testing::Values(BwrapMode::Required, BwrapMode::Off), param_name);

}  // namespace
}  // namespace weft::sandbox
