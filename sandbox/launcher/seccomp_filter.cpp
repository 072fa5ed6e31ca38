#include "sandbox/launcher/seccomp_filter.hpp"

#include <errno.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/socket.h>

#include <cstdint>

namespace weft::sandbox::launcher {
namespace {

// Denied with EPERM. Most of them need privileges the program no longer has; the filter is the
// second wall, and for a few (unshare/clone of a user namespace, userfaultfd, io_uring, bpf in
// some configurations) the only one.
constexpr const char* kDenied[] = {
    // debugging other processes / reading their memory
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    // mounts and namespaces
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "fsopen", "fsconfig", "fsmount",
    "fspick", "move_mount", "open_tree", "mount_setattr",
    // kernel attack surface
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key", "open_by_handle_at", "name_to_handle_at", "lookup_dcookie",
    // machine administration
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "iopl", "ioperm", "quotactl", "quotactl_fd", "acct", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "syslog", "vhangup", "uselib", "nfsservctl",
    "personality",
    // System V IPC outlives its creator and is shared by uid (launcher-only mode has no IPC
    // namespace): one job could leave segments or queues for the next. POSIX shm (files in
    // /dev/shm, i.e. the private tmpfs under bubblewrap) and pipes remain.
    "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl", "msgget", "msgsnd",
    "msgrcv", "msgctl",
};

constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                        CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWTIME};

std::string fail(const char* what, int rc) { return std::string(what) + ": " + strerror(-rc); }

}  // namespace

std::string load_seccomp_filter(const FilterOptions& opts) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return "seccomp_init failed";
  struct Guard {
    scmp_filter_ctx c;
    ~Guard() { seccomp_release(c); }
  } guard{ctx};

  // Calls from another ABI (i386 via int 0x80, x32) kill the process: the filter below only
  // knows the native syscall numbers.
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc < 0) return fail("badarch action", rc);

  const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
  for (const char* name : kDenied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture (iopl on arm64, ...)
    rc = seccomp_rule_add(ctx, deny, nr, 0);
    if (rc < 0) return fail(name, rc);
  }
  // clone(): deny any namespace flag. clone3() passes its flags in memory the filter cannot
  // read, so it fails with ENOSYS and libc falls back to clone().
  for (uint64_t flag : kNamespaceFlags) {
    rc = seccomp_rule_add(ctx, deny, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc < 0) return fail("clone", rc);
  }
  rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  if (rc < 0) return fail("clone3", rc);
  // ioctl(TIOCSTI) pushes input into a terminal; the sandbox has none, deny it anyway.
  rc = seccomp_rule_add(ctx, deny, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, 0x5412 /* TIOCSTI */));
  if (rc < 0) return fail("ioctl", rc);

  if (!opts.network) {
    // No socket of any family: AF_INET/AF_INET6 would reach the host's loopback services (API,
    // PostgreSQL) and the outside; AF_UNIX would reach host sockets by path or in the abstract
    // namespace (launcher-only mode); AF_NETLINK/AF_PACKET are kernel surface. socketpair()
    // stays allowed (asyncio and libuv use it internally) — it cannot name anything outside.
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0);
    if (rc < 0) return fail("socket", rc);
  } else {
    // With network: IP and local sockets only.
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
                          SCMP_A0(SCMP_CMP_EQ, AF_PACKET));
    if (rc < 0) return fail("socket", rc);
  }

  rc = seccomp_load(ctx);
  if (rc < 0) return fail("seccomp_load", rc);
  return {};
}

}  // namespace weft::sandbox::launcher
