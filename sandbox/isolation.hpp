// The sandbox's lower layer: start one untrusted child process with every isolation layer on,
// talk to it over pipes with caps, and kill it with its whole process tree.
//
// Layers (docs/sandbox.md is the long form; PRODUCT.md §6, SECURITY.md Checklist A):
//   outer (when the start-up probe shows it works): bubblewrap — new namespaces (mount, pid, ipc,
//     uts, net unless granted, cgroup), read-only system directories only (never the host's
//     /etc/shadow, data dir, key file, /home, /root, /var), a private size-limited tmpfs at /tmp,
//     a fresh /proc and minimal /dev, --die-with-parent, --new-session, --clearenv; its options
//     (including the program's environment) go through a memfd (`--args`), not its command line;
//   inner (always, inside bwrap or on its own): the `weft-sandbox-exec` launcher applies
//     setsid, resource limits (CPU, data size, processes, file size, open files, core 0),
//     closes every inherited descriptor above 2, drops to the slot's non-root uid/gid with no
//     supplementary groups (checked: no way back, no capabilities), PR_SET_NO_NEW_PRIVS, a seccomp
//     filter (libseccomp) denying ptrace, mount, unshare/setns/namespace clone flags, bpf, keyctl,
//     perf_event_open, kexec, module loading, process_vm_*, io_uring, userfaultfd, and, without a
//     granted network, socket() of every family; then execs the program with an allowlisted
//     environment. Without bubblewrap the private temp dir is a fresh directory (a size-limited
//     tmpfs when the host may mount one) below cfg.scratch_root, owned by the slot uid, mode 0700.
//   Slot uids: slot i runs as uid/gid uid_base + i. A slot is handed out again only after every
//   process of its uid is gone (a sweep by the uid itself: kill(-1, SIGKILL)), so double-forked
//   daemons die with the job. Each slot uid is flock()ed in cfg.lock_dir, so two Weft processes
//   on one machine never share one. The uid range must be reserved for Weft (create() refuses
//   uids that name an account).
//   If any layer cannot be set up the spawn fails (Error code "sandbox_unavailable", details
//   {"layer": ...}); nothing ever runs unsandboxed.
//
// Processes: the host does not become a child subreaper (it is multithreaded and other code may
// wait for its own children). Orphans of a sandbox are reaped by bubblewrap's pid-namespace init,
// or, launcher-only, by the machine's init; a slot whose uid still has zombies is not reused
// until they are reaped. Child::pump() reaps the sandbox's main process itself; a host that sets
// SIGCHLD to SIG_IGN breaks exit statuses.
//
// Thread-safety: Isolation is shared and thread-safe; a Child is used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/core/result.hpp"

namespace weft::sandbox {

// Resource limits applied by the launcher (setrlimit) and, for memory, by the interpreter flags
// the caller adds (Node needs --max-old-space-size besides RLIMIT_DATA; RLIMIT_AS breaks it).
struct ResourceLimits {
  int64_t cpu_ms = 10'000;                  // RLIMIT_CPU (rounded up to whole seconds) + watchdog
  int64_t memory_bytes = 512ll << 20;       // RLIMIT_DATA
  int64_t max_processes = 32;               // RLIMIT_NPROC for the slot uid (threads count too)
  int64_t max_file_bytes = 16ll << 20;      // RLIMIT_FSIZE
  int64_t max_open_files = 64;              // RLIMIT_NOFILE
  int64_t tmp_bytes = 64ll << 20;           // size of the private temp dir (tmpfs size under bwrap)
};

// Caps on what the child sends back; crossing a hard cap kills the child.
struct IoLimits {
  size_t max_frame_bytes = 8u << 20;        // one protocol line (newline-terminated) on fd 1
  size_t max_protocol_bytes = 64u << 20;    // all protocol bytes of one job
  size_t max_text_bytes = 256u << 10;       // captured stderr text kept (the rest is counted, dropped)
  size_t max_text_total_bytes = 64u << 20;  // stderr bytes read before the child is killed
};

enum class BwrapMode { Auto, Required, Off };

struct IsolationConfig {
  std::string bwrap_path = "/usr/bin/bwrap";
  BwrapMode bwrap = BwrapMode::Auto;
  std::string launcher_path;                // weft-sandbox-exec; empty = next to the running binary
  uint32_t uid_base = 61000;                // slot i runs as uid/gid uid_base + i
  uint32_t slots = 32;                      // concurrent sandboxes (warm + busy)
  std::string scratch_root;                 // launcher-only temp dirs go below it (0711 root);
                                            // empty = /tmp/weft-sandbox
  std::string lock_dir = "/run/weft-sandbox";  // per-uid slot locks (0700 root)
  // A memory and pids cgroup per slot bounds the WHOLE sandbox (every process, shared memory
  // included), which rlimits cannot: Auto uses it when the probe can set it up, Required fails
  // create() otherwise, Off never. The sandbox may use limits.memory_bytes + cgroup_slack_bytes.
  BwrapMode cgroups = BwrapMode::Auto;
  int64_t cgroup_slack_bytes = 128ll << 20;
  // Extra read-only binds (host path, path inside the sandbox): interpreter runners, etc.
  std::vector<std::pair<std::string, std::string>> ro_binds;
  // Tests only: the launcher fails at this layer ("rlimit", "uid", "seccomp", ...) on every spawn
  // after the start-up probe.
  std::string inject_failure;
};

// What the start-up probe found. `mode` is "bwrap+launcher" or "launcher" (never "none": if the
// launcher layer itself cannot work, Isolation::create fails).
struct ProbeReport {
  bool running_as_root = false;
  bool bwrap_available = false;
  std::string bwrap_detail;                 // why bwrap is not used, when it is not
  bool seccomp_available = false;
  bool uid_switch = false;                  // per-slot uids in use
  bool tmp_size_limited = false;            // the temp dir's total size is bounded (a tmpfs)
  std::string launcher_path;
  uint32_t slots_available = 0;             // slot uids this process may use
  std::string cgroup;                       // "v1" (memory+pids hierarchies), "v2", or "" (not used)
  std::string cgroup_detail;                // why cgroups are not used, when they are not
  std::string mode;
  std::string to_json() const;
};

struct SpawnSpec {
  std::vector<std::string> argv;            // argv[0] must be an absolute path visible in the sandbox
  // Environment: exactly these variables (PATH, HOME and TMPDIR = the private temp dir,
  // LANG=C.UTF-8 are set by the launcher and replace any given value; PWD is dropped). Names matching LD_*,
  // NODE_*, PYTHON*, MALLOC_*, OPENSSL_*, UV_*, BASH_ENV, ENV, IFS, GLIBC_TUNABLES, GCONV_PATH,
  // ... (sandbox/launcher/env_policy.hpp) and names or values with NUL are rejected with
  // "invalid_input". The host's own environment never reaches the sandbox.
  std::vector<std::pair<std::string, std::string>> env;
  ResourceLimits limits;
  bool network = false;                     // false: no socket() at all (socketpair() works), no
                                            // network namespace
  std::string cwd = "/tmp";                 // inside the sandbox; "/tmp" = the private temp dir
};

enum class FrameAction { Continue, Stop };

enum class EndReason {
  Stopped,        // on_frame returned Stop (child still alive, e.g. waiting for the next job)
  Exited,         // the child exited (exit_code / term_signal say how)
  Timeout,        // the deadline passed: child killed
  Cancelled,      // cancelled(): child killed
  OutputLimit,    // an IoLimits cap was crossed: child killed
  Error,          // an I/O error on the host side: child killed
};
const char* to_string(EndReason r);

struct PumpResult {
  EndReason reason = EndReason::Exited;
  int exit_code = -1;       // when Exited normally
  int term_signal = 0;      // when killed by a signal (SIGKILL from RLIMIT_CPU shows as SIGKILL/SIGXCPU);
                            // under bubblewrap an exit status 129..192 is read as signal status-128
  std::string detail;       // human text for Error/OutputLimit
};

class Child {
 public:
  virtual ~Child() = default;  // kills the tree and removes the temp dir if still alive
  virtual int pid() const = 0;
  virtual uint32_t slot() const = 0;
  // Queues bytes for the child's stdin; written by pump() without ever blocking on a child that
  // does not read (a full pipe just waits, the deadline still applies).
  virtual void send(std::string bytes) = 0;
  // Closes the child's stdin once the queued bytes are written (the child then reads EOF).
  virtual void close_stdin() = 0;
  // Runs the I/O loop: writes queued stdin bytes, splits fd 1 into newline-terminated frames for
  // on_frame (which may call send()), captures fd 2 as text. Returns when on_frame says Stop
  // (frames already read stay buffered for the next pump), the child exits (after one bounded
  // pass over what it left in its pipes: a daemon holding them open cannot keep pump() waiting),
  // the deadline (host monotonic ms; 0 = none) passes, cancelled() turns true (polled at least
  // every 50 ms), or a cap trips. A line longer than max_frame_bytes trips as soon as that many
  // bytes without a newline have arrived. Timeout/Cancelled/OutputLimit/Error kill the tree.
  virtual PumpResult pump(int64_t deadline_monotonic_ms, const std::function<FrameAction(std::string_view)>& on_frame,
                          const std::function<bool()>& cancelled = {}) = 0;
  // Captured stderr text since the last call (capped; a marker says how many bytes were dropped).
  virtual std::string take_text() = 0;
  // SIGKILLs every process of the sandbox (namespace init and a sweep of the slot uid, so double-
  // forked daemons die too), reaps, removes the private temp dir and frees the slot. Idempotent.
  virtual void kill_tree() = 0;
  virtual bool alive() = 0;
  // Where the private temp dir is on the host (launcher-only mode; "" under bubblewrap, whose
  // tmpfs exists only inside the sandbox).
  virtual std::string host_tmp_dir() const = 0;
};

class Isolation {
 public:
  virtual ~Isolation() = default;
  // Probes the machine and prepares the scratch root: locks the slot uids (those held by another
  // Weft process are left out), kills leftovers of a crashed predecessor under them, then runs
  // the launcher's self-test (`weft-sandbox-exec --self-test`: not root, no capabilities,
  // no_new_privs, seccomp mode 2, ptrace/unshare/socket denied, no inherited descriptors) inside
  // the full stack — with bubblewrap unless Off, else (or when that fails in Auto) without.
  // Fails ("sandbox_unavailable") when the launcher layer cannot work (e.g. not root and no
  // bwrap, seccomp missing, launcher not found, every slot uid held elsewhere), or when
  // cfg.bwrap == Required and bwrap does not work. Takes a few tens of milliseconds.
  static Result<std::shared_ptr<Isolation>> create(const IsolationConfig& cfg);
  virtual const ProbeReport& probe() const = 0;
  // Starts one sandboxed child and returns once every layer is in place (the launcher said
  // "ready"). Fails with "sandbox_busy" when all slots are taken, with "sandbox_unavailable"
  // (details {"layer"}) when a layer cannot be set up, "invalid_input" for a bad spec. Any thread
  // may call it: the fork itself happens on the Isolation's own long-lived thread (a parent-death
  // signal is tied to the forking thread, so a sandbox must not die with a short-lived caller).
  virtual Result<std::unique_ptr<Child>> spawn(const SpawnSpec& spec, const IoLimits& io = {}) = 0;
  virtual uint32_t slots_in_use() const = 0;
};

}  // namespace weft::sandbox
